"""The built-in suite's task families, one module each exporting ``TASKS``."""
