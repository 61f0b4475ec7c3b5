"""Unified preference dataset construction (paper Sec. 3.2.1, Table 2): source converters, a manifest,
`build` and `stats`. See docs/reward_data.md."""

from __future__ import annotations

from .build import BuildReport, SourceReport, build, chosen_second, stats
from .manifest import Manifest, Sampling, SourceSpec, load_manifest
from .records import KINDS, ORDERS, TASKS, Record, read_records, write_records
from .rows import RowError
from .sources import SOURCES

__all__ = [
    "BuildReport", "KINDS", "Manifest", "ORDERS", "Record", "RowError", "SOURCES", "Sampling", "SourceReport",
    "SourceSpec", "TASKS", "build", "chosen_second", "load_manifest", "read_records", "stats", "write_records",
]
