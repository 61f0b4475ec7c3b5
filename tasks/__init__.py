"""Benchmark tasks. One module per benchmark, registered by its `harness.tasks` entry point in pyproject.toml
(the registry; `@task` only names the class), so importing this package imports no task."""
