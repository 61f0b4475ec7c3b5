"""CSV: one row per table x row x column, for spreadsheets and scripts.

Full precision and no markers: `ours`, `ci_lo`, `ci_hi` as in results.json, `delta` = ours - paper unrounded,
`status` ok / caveat / conflict / missing, and the notes, caveats and conflicting values in `note`.

The judge reliability section, when a run has one, follows in the same columns: table `reliability` (the main
table: `row` is "<task> [<protocol>, <orders> × <samples>]", `model` the judge, one line per column including
`Orders`, `Samples` and `n items`) and `reliability <family>` (accuracy per bucket and the other `<family>/<part>`
metrics, `column` the part); a number the run does not have is empty with status `missing`, never 0.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Mapping

from ..build import Cell, Report, TableView, ViewRow
from ..reliability_table import ACCURACY, Number, ReliabilitySection, Row

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


def _reliability_record(table: str, row: Row, column: str, value: Number, metric: str | None = None) -> dict[str, str]:
    missing = value.value is None
    return {"table": table, "row": f"{row.task} [{row.protocol}, {row.judged}]", "model": row.model,
            "column": column, "ours": "" if missing else repr(value.value),
            "ci_lo": "" if missing or value.ci is None else repr(value.ci[0]),
            "ci_hi": "" if missing or value.ci is None else repr(value.ci[1]), "paper": "", "delta": "",
            "status": "missing" if missing else "ok",
            "source": f"{row.task}/{row.protocol}/{metric}" if metric else "", "run": str(row.run.dir), "note": ""}


def _count_record(row: Row, column: str, count: int | None) -> dict[str, str]:
    """A count (orders, samples, items) of the main table, printed as the integer it is."""
    record = _reliability_record("reliability", row, column, Number(None if count is None else float(count)))
    return {**record, "ours": "" if count is None else str(count)}


def reliability_records(section: ReliabilitySection) -> list[dict[str, str]]:
    records = []
    for row in section.rows:
        records += [_count_record(row, "Orders", row.orders), _count_record(row, "Samples", row.samples)]
        records += [_reliability_record("reliability", row, c.title, row.number(c.key),
                                        row.headline if c.key == ACCURACY else c.key) for c in section.columns]
        records.append(_count_record(row, "n items", row.n_items))
    for breakdown in section.breakdowns:
        table = f"reliability {breakdown.family.prefix}"
        records += [_reliability_record(table, row, part, value, breakdown.metric(part))
                    for row, values in breakdown.rows for part, value in zip(breakdown.parts, values)]
    return records


def render(report: Report, charts: Mapping[str, Path]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for view in report.tables:
        for row in view.rows:
            for cell in row.cells:
                if cell.ours is not None or cell.paper is not None:
                    writer.writerow(_record(view, row, cell))
    section = report.reliability
    if section is not None:
        writer.writerows(reliability_records(section))
    return out.getvalue()
