"""thinkwire: interleaved thinking, end to end."""
