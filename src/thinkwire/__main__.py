from thinkwire.cli import main

main()
