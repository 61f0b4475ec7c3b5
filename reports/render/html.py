"""A self-contained HTML page: inline CSS, charts embedded as base64 PNG data URIs, no external requests; the
judge reliability section after the tables when a run has reliability numbers."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Mapping

from ..build import Cell, Report, TableView
from ..reliability_table import ReliabilitySection
from . import common, reliability

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1400px;
       color: #1f2328; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2.2em; border-bottom: 1px solid #d0d7de; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border: 1px solid #d0d7de; padding: 3px 7px; white-space: nowrap; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.ours { background: #eef6ff; } td.missing { color: #8c959f; text-align: center; }
td.conflict { background: #fff1e5; } tr.onlyours td:first-child { font-style: italic; color: #57606a; }
td.pos { color: #1a7f37; } td.neg { color: #cf222e; }
.ci { color: #57606a; font-size: 0.9em; } sup { color: #0969da; }
ol.notes, ul.missing, ul.problems { font-size: 0.85em; color: #424a53; }
ul.problems li { color: #9a6700; } img.chart { max-width: 100%; border: 1px solid #d0d7de; margin: 0.5em 0; }
code { background: #f6f8fa; padding: 0 3px; }
"""


def _sup(numbers: tuple[int, ...]) -> str:
    return f"<sup>{','.join(map(str, numbers))}</sup>" if numbers else ""


def _ours(cell: Cell) -> str:
    if cell.ours is None:
        return f'<td class="missing">{common.MISSING}</td>'
    kind = "num ours conflict" if cell.conflict else "num ours"
    ci = f' <span class="ci">{escape(common.ci(cell))}</span>' if common.ci(cell) else ""
    text = escape(common.ours(cell, with_ci=False)) + ci + escape(common.markers(cell)) + _sup(cell.ours_notes)
    return f'<td class="{kind}" title="{escape(cell.ours.origin)} (run {escape(cell.ours.run.dir.name)})">{text}</td>'


def _delta(cell: Cell) -> str:
    text = common.delta(cell)
    kind = "num pos" if text.startswith("+") else "num neg" if text.startswith("-") else "num"
    return f'<td class="{kind}">{escape(text)}</td>'


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img class="chart" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def render_table(view: TableView, chart: Path | None) -> str:
    spec = view.spec
    parts = [f"<h2>{escape(common.title(view))}</h2>",
             f"<p>{escape(spec.source)}. {escape(spec.caption)}{_sup(view.table_notes)}</p>",
             '<div class="scroll"><table>', '<tr><th rowspan="2">Model</th><th rowspan="2">Our run</th>']
    parts += [f'<th colspan="3">{escape(c.title)}{_sup(view.column_notes[c.id])}</th>' for c in spec.columns]
    parts.append("</tr><tr>" + "<th>ours</th><th>paper</th><th>Δ</th>" * len(spec.columns) + "</tr>")
    for row in view.rows:
        cls = "" if row.published else ' class="onlyours"'
        cells = [f"<td>{escape(row.label or '(not in the paper)')}{_sup(row.notes)}</td>",
                 f"<td>{escape(row.model or '')}</td>"]
        for cell in row.cells:
            cells += [_ours(cell), f'<td class="num">{escape(common.paper(cell))}{_sup(cell.notes)}</td>', _delta(cell)]
        parts.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    parts.append("</table></div>")
    parts.append("<p>Our numbers: value [95% CI]; Δ = ours − paper in points; "
                 f"{common.CONFLICT} conflict, {common.CAVEAT} caveat (see Problems).</p>")
    if chart is not None and chart.is_file():
        parts.append(_image(chart, f"{common.title(view)} chart"))
    if view.footnotes:
        parts.append('<ol class="notes">' + "".join(f"<li>{escape(t)}</li>" for t in view.footnotes) + "</ol>")
    if view.missing:
        parts.append(f"<p><b>Missing</b> (no run; shown as {common.MISSING}):</p><ul class=\"missing\">")
        parts += [f"<li>{escape(m.column.title)}: {escape(', '.join(m.rows))} — fill with "
                  + " or ".join(f"<code>{escape(c)}</code> (metric <code>{escape(k)}</code>)" for c, k in m.fills)
                  + "</li>" for m in view.missing]
        parts.append("</ul>")
    if view.problems:
        parts.append('<p><b>Problems</b>:</p><ul class="problems">')
        parts += [f"<li>{escape(p)}</li>" for p in view.problems]
        parts.append("</ul>")
    return "\n".join(parts)


def _grid(grid: reliability.Grid) -> list[str]:
    def td(i: int, text: str) -> str:
        kind = "missing" if text == common.MISSING else "num" if i in grid.numbers else ""
        return f'<td class="{kind}">{escape(text)}</td>' if kind else f"<td>{escape(text)}</td>"

    return (['<div class="scroll"><table>', "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in grid.header) + "</tr>"]
            + ["<tr>" + "".join(td(i, text) for i, text in enumerate(row)) + "</tr>" for row in grid.rows]
            + ["</table></div>"])


def render_reliability(section: ReliabilitySection, charts: Mapping[str, Path]) -> str:
    parts = [f"<h2>{escape(reliability.TITLE)}</h2>", f"<p>{escape(reliability.INTRO)}</p>"]
    parts += _grid(reliability.main_grid(section)) + [f"<p>{escape(reliability.headline_note(section))}</p>"]
    parts += [_image(charts[key], f"{reliability.TITLE}: {what}") for key, what in reliability.CHARTS.items()
              if key in charts and charts[key].is_file()]
    for breakdown in section.breakdowns:
        parts.append(f"<h3>{escape(reliability.breakdown_title(breakdown))}</h3>")
        parts += _grid(reliability.breakdown_grid(breakdown))
    if section.problems:
        parts += ['<p><b>Problems</b>:</p><ul class="problems">'] + [f"<li>{escape(p)}</li>" for p in section.problems]
        parts.append("</ul>")
    return "\n".join(parts)


def render(report: Report, charts: Mapping[str, Path]) -> str:
    body = [render_table(view, charts.get(view.spec.id)) for view in report.tables]
    section = report.reliability
    if section is not None:
        body.append(render_reliability(section, charts))
    used = report.runs_shown()
    if used:
        body.append("<h2>Runs</h2><ul>")
        body += [f"<li><code>{escape(r.dir.name)}</code>: {escape(r.model)}; "
                 + escape(", ".join(f"{t} [{res.get('protocol')}, {res.get('split')}]" for t, res in r.tasks.items()))
                 + "</li>" for r in used]
        body.append("</ul>")
    if report.read_problems:
        body.append('<h2>Runs that could not be read</h2><ul class="problems">')
        body += [f"<li>{escape(p)}</li>" for p in report.read_problems]
        body.append("</ul>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>UnifiedReward reproduction report</title>"
            f"<style>{CSS}</style></head><body>\n<h1>UnifiedReward reproduction report</h1>\n"
            + "\n".join(body) + "\n</body></html>\n")
