"""MMRB2 test fixtures (SOURCES.md) and the builder of their data directories (build.py)."""
