"""Benchmark tasks. One module per benchmark; each registers itself with `@task` and is declared as a
`harness.tasks` entry point in pyproject.toml, so importing this package imports no task."""
