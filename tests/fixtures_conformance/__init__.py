"""Builders of small `--data-dir` copies for the conformance suite (tests/test_conformance.py)."""
