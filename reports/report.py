"""`harness report`: paper tables from finished runs, beside the published numbers.

    python -m harness report --runs runs/ [--table 3|...|9|genai-leaderboard|all] [--format md|latex|csv|html]
                             [--out report.md]

Without --out the rendering goes to stdout and no chart is drawn; with --out the file is written and one
PNG per table that has any of our numbers is written beside it (`<stem>.table5.png`). When any run has judge
reliability numbers (docs/reliability.md), a "Judge reliability" section follows the tables and its charts are
written beside the report too (`<stem>.reliability-position.png`, `-consistency`, `-calibration`); a report of
runs without any is as it was. Missing cells and unreadable runs are listed in the report and the exit status
stays 0; it is 2 only when no run at all could be read (a wrong path, say), because then the report would say
nothing about anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Mapping

from harness.errors import UsageError

from .build import Report, build_report
from .runs import discover
from .spec import TableSpec, load_specs, select

Renderer = Callable[[Report, Mapping[str, Path]], str]


def renderer(fmt: str) -> Renderer:
    from .render import csvout, html, latex, markdown

    renderers: dict[str, Renderer] = {"md": markdown.render, "latex": latex.render, "csv": csvout.render,
                                      "html": html.render}
    if fmt not in renderers:
        raise UsageError(f"unknown format {fmt!r}; known: {', '.join(renderers)}")
    return renderers[fmt]


def chart_path(out: Path, spec: TableSpec) -> Path:
    """`report.md` -> `report.table5.png` beside it."""
    return out.with_name(f"{out.stem}.{spec.slug}.png")


def draw_charts(report: Report, out: Path) -> dict[str, Path]:
    from .charts import draw  # matplotlib only when charts are wanted

    charts = {}
    for view in report.tables:
        if view.has_ours:
            written = draw(view, chart_path(out, view.spec))
            if written is not None:
                charts[view.spec.id] = written
    section = report.reliability
    if section is not None:
        from .reliability_charts import draw_all

        charts.update(draw_all(section, lambda key: out.with_name(f"{out.stem}.{key}.png")))
    return charts


def summary(report: Report) -> str:
    cells = [c for v in report.tables for r in v.rows for c in r.cells if c.ours is not None or c.paper is not None]
    filled = sum(c.ours is not None for c in cells)
    problems = sum(len(v.problems) for v in report.tables)
    section = report.reliability
    reliability = "" if section is None else f", {len(section.rows)} judge reliability row(s)"
    return (f"report: {len(report.tables)} table(s), {len(report.runs)} run(s) read, {filled} cell(s) with our "
            f"numbers, {len(cells) - filled} missing, {problems} problem(s), {len(report.read_problems)} "
            f"unreadable run(s){reliability}")


def make_report(run_paths: list[Path], table: str = "all") -> Report:
    """The report's content; raises UsageError when no run at all could be read."""
    specs = select(load_specs(), table)
    runs, problems = discover(run_paths)
    if not runs:
        why = "; ".join(problems) if problems else "no run directories found"
        raise UsageError(f"report: no run could be read from {', '.join(map(str, run_paths))}: {why}")
    return build_report(specs, runs, problems)


def main(args: argparse.Namespace) -> int:
    render = renderer(args.format)
    report = make_report(list(args.runs), args.table)
    out: Path | None = args.out
    if out is None:
        sys.stdout.write(render(report, {}))
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        charts = draw_charts(report, out)
        out.write_text(render(report, charts), encoding="utf-8")
        for path in [out, *charts.values()]:
            print(path)
    print(summary(report), file=sys.stderr)
    return 0
