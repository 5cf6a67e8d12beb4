"""The keep-vs-discard experiment: task suite, runner, paired statistics, report."""
