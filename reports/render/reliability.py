"""Text of the judge reliability section, shared by Markdown, LaTeX and HTML so they print the same cells.

The section (`reports.reliability_table.ReliabilitySection`) becomes grids of strings here: a header and one
line per row, "—" where a run has no number. Each format lays the grids out in its own syntax; CSV writes
the section's numbers at full precision instead (`csvout`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..reliability_table import Breakdown, Column, Number, ReliabilitySection, Row
from .common import MISSING, number

TITLE = "Judge reliability"
INTRO = ("How far each judge's verdicts can be trusted, beside how often they are right (docs/reliability.md): one "
         "row per judge, task, protocol and orders × samples judged per item, from the newest run of each. In %, "
         "except Spearman rho and Kendall tau (-1 to 1) and vote entropy (bits). First position: the share of "
         "deciding verdicts that pick the response shown first (50 is unbiased). "
         f"{MISSING}: the run does not measure it.")
IDENTITY = ("Judge", "Task", "Protocol", "Orders × samples")
#: chart key (as in the report's charts mapping) -> what it shows; the files are `<stem>.<key>.png`
CHARTS = {"reliability-position": "position bias: first position rate per judge and task, 95% CI, 50 unbiased",
          "reliability-consistency": "swap consistency against accuracy, one point per judge and task",
          "reliability-calibration": "reliability diagrams: observed frequency against mean predicted probability"}


@dataclass(frozen=True)
class Grid:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numbers: range  # the columns that hold numbers (right-aligned)


def cell(value: Number, decimals: int, with_ci: bool = False) -> str:
    """"48.2 [41.0, 55.3]" with the CI when asked for and known, "—" without a number."""
    if value.value is None:
        return MISSING
    text = number(value.value, decimals)
    if with_ci and value.ci is not None:
        text += f" [{number(value.ci[0], decimals)}, {number(value.ci[1], decimals)}]"
    return text


def _identity(row: Row) -> tuple[str, str, str, str]:
    return row.model, row.task, row.protocol, row.judged


def _column_cell(row: Row, column: Column) -> str:
    return cell(row.number(column.key), column.decimals, column.with_ci)


def main_grid(section: ReliabilitySection) -> Grid:
    header = (*IDENTITY, *(c.heading for c in section.columns), "n items", "Run")
    rows = tuple((*_identity(r), *(_column_cell(r, c) for c in section.columns),
                  MISSING if r.n_items is None else str(r.n_items), r.run.dir.name) for r in section.rows)
    return Grid(header, rows, range(len(IDENTITY), len(header) - 1))


def breakdown_grid(breakdown: Breakdown) -> Grid:
    decimals = breakdown.family.decimals
    rows = tuple((*_identity(row), *(cell(v, decimals) for v in values)) for row, values in breakdown.rows)
    return Grid((*IDENTITY, *breakdown.parts), rows, range(len(IDENTITY), len(IDENTITY) + len(breakdown.parts)))


def breakdown_title(breakdown: Breakdown) -> str:
    return f"{breakdown.family.title}: {breakdown.family.prefix}/<part>"


def headline_note(section: ReliabilitySection) -> str:
    """Which metric each task's Accuracy is: the tasks name their overall accuracy differently."""
    named = "; ".join(f"{task}: {', '.join(metrics) or MISSING}" for task, metrics in section.headlines.items())
    return f"Accuracy is each task's headline metric over all its judgments ({named})."
