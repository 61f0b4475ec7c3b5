"""GitHub Markdown: one table per paper table, notes as footnotes, then Missing and Problems; then the judge
reliability section when a run has reliability numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ..build import Report, TableView
from ..reliability_table import ReliabilitySection
from . import common, reliability


def _esc(text: str) -> str:
    return text.replace("|", "\\|")


def _refs(view: TableView, numbers: tuple[int, ...]) -> str:
    return "".join(f"[^{view.spec.slug}-{n}]" for n in numbers)


def _header(view: TableView) -> list[str]:
    head = ["Model", "Our run"]
    align = ["---", "---"]
    for column in view.spec.columns:
        head += [_esc(column.title) + _refs(view, view.column_notes[column.id]) + " ours", "paper", "Δ"]
        align += ["---:", "---:", "---:"]
    return ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]


def _body(view: TableView) -> list[str]:
    lines = []
    for row in view.rows:
        cells = [_esc(row.label) + _refs(view, row.notes), _esc(row.model or "")]
        for cell in row.cells:
            cells += [common.ours(cell) + common.markers(cell) + _refs(view, cell.ours_notes),
                      common.paper(cell) + _refs(view, cell.notes), common.delta(cell)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _sections(view: TableView) -> list[str]:
    lines: list[str] = []
    if view.missing:
        lines += ["", f"**Missing** (no run; shown as {common.MISSING}):", ""]
        for item in view.missing:
            fill = " or ".join(f"`{command}` (metric `{metric}`)" for command, metric in item.fills)
            lines.append(f"- {_esc(item.column.title)}: {', '.join(map(_esc, item.rows))} — fill with {fill}")
    if view.problems:
        lines += ["", f"**Problems** ({common.CONFLICT} conflict, {common.CAVEAT} caveat):", ""]
        lines += [f"- {p}" for p in view.problems]
    if view.footnotes:
        lines.append("")
        lines += [f"[^{view.spec.slug}-{n}]: {text}" for n, text in enumerate(view.footnotes, start=1)]
    return lines


def render_table(view: TableView, chart: Path | None) -> str:
    spec = view.spec
    lines = [f"## {common.title(view)}", "", f"{spec.source}. {spec.caption}".strip() + _refs(view, view.table_notes),
             "", "Our numbers are shown as value [95% CI] beside the paper's; Δ = ours − paper in points.", ""]
    lines += _header(view) + _body(view)
    if chart is not None:
        lines += ["", f"![{common.title(view)}: our numbers against the paper's]({chart.name})"]
    lines += _sections(view)
    return "\n".join(lines)


def _grid(grid: reliability.Grid) -> list[str]:
    align = ["---:" if i in grid.numbers else "---" for i in range(len(grid.header))]
    return ["| " + " | ".join(map(_esc, grid.header)) + " |", "|" + "|".join(align) + "|"] + [
        "| " + " | ".join(map(_esc, row)) + " |" for row in grid.rows]


def render_reliability(section: ReliabilitySection, charts: Mapping[str, Path]) -> str:
    lines = [f"## {reliability.TITLE}", "", reliability.INTRO, ""]
    lines += _grid(reliability.main_grid(section)) + ["", reliability.headline_note(section)]
    for key, what in reliability.CHARTS.items():
        if key in charts:
            lines += ["", f"![{reliability.TITLE}: {what}]({charts[key].name})"]
    for breakdown in section.breakdowns:
        lines += ["", f"### {_esc(reliability.breakdown_title(breakdown))}", ""]
        lines += _grid(reliability.breakdown_grid(breakdown))
    if section.problems:
        lines += ["", "**Problems**:", ""] + [f"- {p}" for p in section.problems]
    return "\n".join(lines)


def render(report: Report, charts: Mapping[str, Path]) -> str:
    parts = ["# UnifiedReward reproduction report", ""]
    parts += [render_table(view, charts.get(view.spec.id)) + "\n" for view in report.tables]
    section = report.reliability
    if section is not None:
        parts += [render_reliability(section, charts) + "\n"]
    used = report.runs_shown()
    if used:
        parts += ["## Runs", ""]
        parts += [f"- `{r.dir.name}`: {_esc(r.model)}; " + ", ".join(
            f"{task} [{res.get('protocol')}, {res.get('split')}]" for task, res in r.tasks.items()) + f" ({r.dir})"
                  for r in used]
        parts.append("")
    if report.read_problems:
        parts += ["## Runs that could not be read", ""] + [f"- {p}" for p in report.read_problems] + [""]
    return "\n".join(parts).rstrip("\n") + "\n"
