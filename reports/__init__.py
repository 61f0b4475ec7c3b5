"""Rendering of run results: paper tables, plots, and the two-run comparison used as a CI gate.
Empty until the reports issue lands; results.json (see README) is the contract it will read."""
