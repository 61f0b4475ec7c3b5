"""CSV: one row per table x row x column, for spreadsheets and scripts.

Full precision and no markers: `ours`, `ci_lo`, `ci_hi` as in results.json, `delta` = ours - paper unrounded,
`status` ok / caveat / conflict / missing, and the notes, caveats and conflicting values in `note`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Mapping

from ..build import Cell, Report, TableView, ViewRow

FIELDS = ["table", "row", "model", "column", "ours", "ci_lo", "ci_hi", "paper", "delta", "status", "source",
          "run", "note"]


def _status(cell: Cell) -> str:
    if cell.ours is None:
        return "missing" if cell.paper is not None else ""
    if cell.conflict:
        return "conflict"
    return "caveat" if cell.ours.caveats else "ok"


def _record(view: TableView, row: ViewRow, cell: Cell) -> dict[str, str]:
    value = cell.ours
    notes = [view.footnotes[n - 1] for n in (*view.column_notes[cell.column.id], *row.notes, *cell.notes,
                                            *cell.ours_notes)]
    if value is not None:
        notes += list(value.caveats)
        notes += [f"also filled by {v.origin} = {v.value!r} (run {v.run.dir.name})" for v in cell.alternatives]
    delta = None if value is None or cell.paper is None else value.value - float(cell.paper)
    return {"table": view.spec.id, "row": row.label, "model": row.model or "", "column": cell.column.title,
            "ours": "" if value is None else repr(value.value),
            "ci_lo": "" if value is None or value.ci is None else repr(value.ci[0]),
            "ci_hi": "" if value is None or value.ci is None else repr(value.ci[1]),
            "paper": cell.paper or "", "delta": "" if delta is None else repr(round(delta, 6)),
            "status": _status(cell), "source": value.origin if value else "",
            "run": str(value.run.dir) if value else "", "note": " | ".join(dict.fromkeys(notes))}


def render(report: Report, charts: Mapping[str, Path]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for view in report.tables:
        for row in view.rows:
            for cell in row.cells:
                if cell.ours is not None or cell.paper is not None:
                    writer.writerow(_record(view, row, cell))
    return out.getvalue()
