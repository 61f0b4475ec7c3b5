"""LaTeX (booktabs): one `table` float per paper table; Missing and Problems as comments for the author.

Needs only `\\usepackage{booktabs}`. Every text from specs and runs is escaped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ..build import Report, TableView
from ..reliability_table import ReliabilitySection
from . import common, reliability

SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
           "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", common.MISSING: "---",
           "Δ": r"$\Delta$", common.CONFLICT: r"\ddag{}", common.CAVEAT: r"\dag{}", "−": "-", "×": r"$\times$",
           "<": r"\textless{}", ">": r"\textgreater{}"}


def escape(text: str) -> str:
    return "".join(SPECIAL.get(ch, ch) for ch in text)


def _sup(numbers: tuple[int, ...]) -> str:
    return r"\textsuperscript{" + ",".join(map(str, numbers)) + "}" if numbers else ""


def _comment(text: str) -> str:
    return "% " + text.replace("\n", " ")


def render_table(view: TableView, chart: Path | None) -> str:
    spec = view.spec
    ncols = len(spec.columns)
    lines = [_comment(common.title(view)),
             r"\begin{table}[ht]", r"\centering", r"\small",
             r"\caption{" + escape(f"{common.title(view)}. {spec.source}. {spec.caption}".strip())
             + _sup(view.table_notes) + "}",
             r"\begin{tabular}{ll" + "rrr" * ncols + "}", r"\toprule"]
    groups = " & ".join(r"\multicolumn{3}{c}{" + escape(c.title) + _sup(view.column_notes[c.id]) + "}"
                        for c in spec.columns)
    lines.append(f" & & {groups} \\\\")
    lines.append(" ".join(rf"\cmidrule(lr){{{3 + 3 * i}-{5 + 3 * i}}}" for i in range(ncols)))
    lines.append("Model & Our run & " + " & ".join([r"ours & paper & $\Delta$"] * ncols) + r" \\")
    lines.append(r"\midrule")
    for row in view.rows:
        cells = [escape(row.label) + _sup(row.notes), escape(row.model or "")]
        for cell in row.cells:
            cells += [escape(common.ours(cell) + common.markers(cell)) + _sup(cell.ours_notes),
                      escape(common.paper(cell)) + _sup(cell.notes), escape(common.delta(cell))]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if view.footnotes:
        lines.append(r"\par\smallskip\footnotesize")
        lines += [rf"\textsuperscript{{{n}}}{escape(text)}\par" for n, text in enumerate(view.footnotes, start=1)]
    lines.append(r"\end{table}")
    if chart is not None:
        lines.append(_comment(f"chart: {chart.name} (\\includegraphics with graphicx)"))
    for item in view.missing:
        lines.append(_comment(f"MISSING {item.column.title}: {', '.join(item.rows)}; fill with "
                              + " or ".join(f"{command} (metric {metric})" for command, metric in item.fills)))
    lines += [_comment(f"PROBLEM {p}") for p in view.problems]
    return "\n".join(lines)


def _float(caption: str, grid: reliability.Grid, after: list[str]) -> list[str]:
    """One `table` float of a reliability grid (small type: the main grid has up to 17 columns)."""
    lines = [r"\begin{table}[ht]", r"\centering", r"\scriptsize", r"\caption{" + escape(caption) + "}",
             r"\begin{tabular}{" + "".join("r" if i in grid.numbers else "l" for i in range(len(grid.header))) + "}",
             r"\toprule", " & ".join(map(escape, grid.header)) + r" \\", r"\midrule"]
    lines += [" & ".join(map(escape, row)) + r" \\" for row in grid.rows]
    return lines + [r"\bottomrule", r"\end{tabular}", *after, r"\end{table}"]


def render_reliability(section: ReliabilitySection, charts: Mapping[str, Path]) -> str:
    note = [r"\par\smallskip\footnotesize", escape(reliability.headline_note(section)) + r"\par"]
    lines = [_comment(reliability.TITLE)]
    lines += _float(f"{reliability.TITLE}. {reliability.INTRO}", reliability.main_grid(section), note)
    lines += [_comment(f"chart: {charts[key].name} ({what}; \\includegraphics with graphicx)")
              for key, what in reliability.CHARTS.items() if key in charts]
    for breakdown in section.breakdowns:
        lines += _float(f"{reliability.TITLE}: {reliability.breakdown_title(breakdown)}",
                        reliability.breakdown_grid(breakdown), [])
    lines += [_comment(f"PROBLEM {p}") for p in section.problems]
    return "\n".join(lines)


def render(report: Report, charts: Mapping[str, Path]) -> str:
    parts = [_comment("UnifiedReward reproduction report; needs \\usepackage{booktabs}"), ""]
    parts += [render_table(view, charts.get(view.spec.id)) + "\n" for view in report.tables]
    section = report.reliability
    if section is not None:
        parts.append(render_reliability(section, charts) + "\n")
    parts += [_comment(f"UNREADABLE RUN {p}") for p in report.read_problems]
    return "\n".join(parts) + "\n"
