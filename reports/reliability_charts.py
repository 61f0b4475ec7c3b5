"""The judge reliability section's charts: position bias, consistency against accuracy, reliability diagrams.

Drawn like `reports.charts` (a `matplotlib.figure.Figure` on the Agg canvas, no pyplot state, no display; the
same palette, a colour per judge), one PNG each beside the report (`<stem>.<key>.png`, keys in
`reports.render.reliability.CHARTS`). A chart with nothing to show (no run measured its numbers) is not written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .charts import PALETTE, _short
from .reliability_table import ACCURACY, Diagram, ReliabilitySection, Row

Draw = Callable[[ReliabilitySection, Path], "Path | None"]
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _colors(rows: Sequence[Row]) -> dict[str, str]:
    models = sorted({r.model for r in rows})
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}


def _label(row: Row, rows: Sequence[Row]) -> str:
    """judge / task, with the protocol and orders x samples only where two rows would read the same."""
    same = [r for r in rows if (r.model, r.task) == (row.model, row.task)]
    extra = f" [{row.protocol}, {row.judged}]" if len(same) > 1 else ""
    return f"{_short(row.model)}\n{row.task}{extra}"


def _tidy(ax: Axes) -> None:
    ax.grid(color="#e5e5e5", zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def draw_position_bias(section: ReliabilitySection, path: Path) -> Path | None:
    """first_position_rate per (judge, task) as bars with 95% CI whiskers, a dashed line at 50 (unbiased)."""
    bars = [(r, rate, r.number("first_position_rate").ci) for r in section.rows
            if (rate := r.number("first_position_rate").value) is not None]
    if not bars:
        return None
    rows = [r for r, _, _ in bars]
    colors = _colors(rows)
    xs = list(range(len(bars)))
    rates = [rate for _, rate, _ in bars]
    err = [[rate - ci[0] if ci else 0.0 for _, rate, ci in bars], [ci[1] - rate if ci else 0.0 for _, rate, ci in bars]]
    labels = [_label(r, section.rows) for r in rows]
    fig = Figure(figsize=(max(6.4, 0.9 * len(rows) + 2.0), 4.8), layout="constrained")
    ax = fig.subplots()
    ax.bar(xs, rates, color=[colors[r.model] for r in rows], width=0.62, yerr=err, capsize=5,
           error_kw={"elinewidth": 1.4, "ecolor": "#222222", "capthick": 1.4}, zorder=2)
    ax.axhline(50, color="#222222", linestyle="--", linewidth=1.2, zorder=3)
    for x, (_, rate, ci) in zip(xs, bars):
        ax.annotate(f"{rate:.1f}", (x, ci[1] if ci else rate), xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", fontsize=8, color="#333333")
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, rotation=30 if len(rows) > 3 else 0, ha="right" if len(rows) > 3 else "center",
                       fontsize=8)
    ax.set_xlim(-0.75, len(rows) - 0.25)
    ax.set_ylim(0, 110)
    ax.set_ylabel("first position rate (%)")
    _tidy(ax)
    ax.grid(axis="x", visible=False)
    fig.suptitle("Position bias: verdicts that pick the response shown first\n(whiskers: 95% CI; dashed: 50, unbiased)",
                 fontsize=11)
    return _save(fig, path)


def draw_consistency(section: ReliabilitySection, path: Path) -> Path | None:
    """swap_consistency against the headline accuracy, one point per (judge, task): a colour per judge, a marker
    per task (legends, not labels, which would pile up where judges land on one place)."""
    points = [(r, x, y) for r in section.rows
              if (x := r.number(ACCURACY).value) is not None and (y := r.number("swap_consistency").value) is not None]
    if not points:
        return None
    colors = _colors([r for r, _, _ in points])
    tasks = sorted({r.task for r, _, _ in points})
    markers = {t: MARKERS[i % len(MARKERS)] for i, t in enumerate(tasks)}
    fig = Figure(figsize=(6.4, 5.4), layout="constrained")
    ax = fig.subplots()
    for row, x, y in points:
        ax.scatter([x], [y], s=70, zorder=3, color=colors[row.model], marker=markers[row.task], edgecolor="#222222",
                   linewidth=0.6, alpha=0.9)
    ax.set_xlim(-3, 103)
    ax.set_ylim(-3, 103)
    ax.set_xlabel("accuracy (%, the task's headline metric)")
    ax.set_ylabel("swap consistency (%)")
    _tidy(ax)
    handles = [Line2D([], [], marker="o", linestyle="none", color=c, markeredgecolor="#222222", label=_short(m))
               for m, c in colors.items()]
    handles += [Line2D([], [], marker=markers[t], linestyle="none", color="#bbbbbb", markeredgecolor="#222222",
                       label=t) for t in tasks]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), frameon=False, fontsize=8)
    fig.suptitle("Swap consistency against accuracy, per judge (colour) and task (marker)", fontsize=11)
    return _save(fig, path)


def _draw_diagram(ax: Axes, diagram: Diagram, title: str) -> None:
    ax.plot([0, 1], [0, 1], linestyle="--", color="#8c8c8c", linewidth=1.0, zorder=1)
    bins = [(p, o, c) for p, o, c in zip(diagram.mean_predicted, diagram.observed, diagram.count)
            if c and p is not None and o is not None]
    if bins:
        total = sum(c for _, _, c in bins)
        ax.plot([p for p, _, _ in bins], [o for _, o, _ in bins], color="#4c72b0", linewidth=1.2, zorder=2)
        ax.scatter([p for p, _, _ in bins], [o for _, o, _ in bins],
                   s=[20 + 180 * c / total for _, _, c in bins], color="#4c72b0", edgecolor="#222222",
                   linewidth=0.6, zorder=3)
    else:
        ax.text(0.5, 0.5, "no item", ha="center", va="center", fontsize=9, color="#57606a")
    ax.set_xlim(diagram.edges[0], diagram.edges[-1])
    ax.set_ylim(-0.03, 1.03)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("mean predicted probability", fontsize=8)
    ax.set_ylabel("observed frequency", fontsize=8)
    ax.set_title(title, fontsize=9)
    _tidy(ax)


def draw_calibration(section: ReliabilitySection, path: Path) -> Path | None:
    """One reliability diagram per (judge, task, diagram), the diagonal (perfect calibration) dashed."""
    diagrams = list(section.diagrams)
    if not diagrams:
        return None
    ncols = min(len(diagrams), 3)
    nrows = math.ceil(len(diagrams) / ncols)
    fig = Figure(figsize=(ncols * 3.6, nrows * 3.7 + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, diagram in zip(axes.flat, diagrams):
        row = diagram.row
        ece = row.number("ece").value
        where = diagram.where.removeprefix("details.calibration").lstrip(".")
        title = _label(row, section.rows).replace("\n", " · ") + (f" · {where}" if where else "")
        _draw_diagram(ax, diagram, title + (f"\nECE {ece:.1f}" if ece is not None else ""))
    for ax in list(axes.flat)[len(diagrams):]:
        ax.set_visible(False)
    fig.suptitle("Reliability diagrams\n(dashed: perfect calibration; marker area: items in the bin)", fontsize=11)
    return _save(fig, path)


#: chart key -> how it is drawn (the keys of `reports.render.reliability.CHARTS`)
DRAWERS: dict[str, Draw] = {"reliability-position": draw_position_bias, "reliability-consistency": draw_consistency,
                            "reliability-calibration": draw_calibration}


def draw_all(section: ReliabilitySection, path_of: Callable[[str], Path]) -> dict[str, Path]:
    """Every chart the section has something for, at `path_of(key)`; key -> the file written."""
    written = {}
    for key, draw in DRAWERS.items():
        path = draw(section, path_of(key))
        if path is not None:
            written[key] = path
    return written
