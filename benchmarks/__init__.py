"""Benchmarks: scripts that compare thinkwire with a baseline in one run (ratios), run by hand or in CI."""
