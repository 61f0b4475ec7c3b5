"""Rendering of run results: paper tables with charts (`harness report`, docs/reports.md) and the two-run
comparison used as a CI gate (`harness compare`). results.json (see README) is the contract both read."""
