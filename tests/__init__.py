"""thinkwire's tests: a package, so test support imports as ``tests.support``."""
