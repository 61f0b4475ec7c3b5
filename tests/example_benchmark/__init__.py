"""A worked example of a benchmark written against the task seam (docs/extending.md); its test is
tests/test_example_benchmark.py."""
