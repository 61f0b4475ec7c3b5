"""One PNG per table: our numbers as bars with 95% CI whiskers, the paper's numbers as markers.

One panel per column that has any of our numbers, each with its own y-axis: the columns of a paper
table mix scales (accuracy in %, a 0-5 GPT score, a raw ImageReward mean), and a shared axis would
flatten the small ones to nothing. Drawn with `matplotlib.figure.Figure` directly (the Agg canvas, no
pyplot state, no display).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .build import TableView, ViewRow
from .render import common

PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974",
           "#64b5cd"]


@dataclass(frozen=True)
class Bar:
    label: str
    color: str
    value: float
    lo: float | None
    hi: float | None
    paper: float | None


def _short(model: str) -> str:
    """A model label short enough for a tick: the last path component of a checkpoint path or hub id."""
    return model.rstrip("/").rsplit("/", 1)[-1] or model


def _row_label(row: ViewRow) -> str:
    return _short(row.model) if row.model else row.label


def _panels(view: TableView) -> list[tuple[str, list[Bar]]]:
    plotted = [row for row in view.rows if any(c.ours is not None for c in row.cells)]
    colors = {id(row): PALETTE[i % len(PALETTE)] for i, row in enumerate(plotted)}
    panels = []
    for i, column in enumerate(view.spec.columns):
        bars = []
        for row in plotted:
            cell = row.cells[i]
            if cell.ours is None:
                continue
            lo, hi = cell.ours.ci if cell.ours.ci else (None, None)
            label = _row_label(row) + (f" {common.markers(cell)}" if common.markers(cell) else "")
            bars.append(Bar(label, colors[id(row)], cell.ours.value, lo, hi,
                            float(cell.paper) if cell.paper is not None else None))
        if bars:
            panels.append((column.title, bars))
    return panels


def _limits(bars: list[Bar]) -> tuple[float, float]:
    values = [v for b in bars for v in (b.value, b.lo, b.hi, b.paper) if v is not None]
    top, bottom = max(values + [0.0]), min(values + [0.0])
    span = (top - bottom) or 1.0
    return bottom - (0.08 * span if bottom < 0 else 0.0), top + 0.18 * span


def _draw_panel(ax, title: str, bars: list[Bar], decimals: int) -> None:
    xs = list(range(len(bars)))
    values = [b.value for b in bars]
    err = [[b.value - b.lo if b.lo is not None else 0.0 for b in bars],
           [b.hi - b.value if b.hi is not None else 0.0 for b in bars]]
    ax.bar(xs, values, color=[b.color for b in bars], width=0.62, yerr=err, capsize=5,
           error_kw={"elinewidth": 1.4, "ecolor": "#222222", "capthick": 1.4}, zorder=2)
    for x, bar in zip(xs, bars):
        if bar.paper is not None:
            ax.plot([x], [bar.paper], marker="D", markersize=7, color="black", markerfacecolor="white",
                    markeredgewidth=1.6, linestyle="none", zorder=3)
        top = max(v for v in (bar.value, bar.hi, bar.paper) if v is not None)
        ax.annotate(f"{bar.value:.{decimals}f}", (x, top), xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", fontsize=8, color="#333333")
    ax.set_xticks(xs)
    ax.set_xticklabels([b.label for b in bars], rotation=30 if len(bars) > 2 else 0, ha="right" if len(bars) > 2
                       else "center", fontsize=9)
    ax.set_xlim(-0.75, len(bars) - 0.25)  # a lone bar stays bar-shaped instead of filling the panel
    ax.set_ylim(*_limits(bars))
    ax.set_title(title, fontsize=11)
    ax.grid(axis="y", color="#e5e5e5", zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def draw(view: TableView, path: Path) -> Path | None:
    """Write the chart of `view` to `path`; None (nothing written) when the table has none of our numbers."""
    panels = _panels(view)
    if not panels:
        return None
    decimals = {c.title: c.decimals for c in view.spec.columns}
    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    widest = max(len(bars) for _, bars in panels)
    longest = max(len(b.label) for _, bars in panels for b in bars)
    fig = Figure(figsize=(ncols * max(3.6, 0.75 * widest + 1.6), nrows * (3.4 + 0.06 * longest) + 0.9),
                 layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, (title, bars) in zip(axes.flat, panels):
        _draw_panel(ax, title, bars, decimals.get(title, 1))
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(common.title(view), fontsize=12)
    handles = [Patch(facecolor="#9aa7b8", label="ours (whiskers: 95% CI)"),
               Line2D([], [], marker="D", color="black", markerfacecolor="white", linestyle="none",
                      label="paper (as printed)")]
    labels = " ".join(b.label for _, bars in panels for b in bars)
    for marker, meaning in ((common.CONFLICT, "several runs fill the cell"), (common.CAVEAT, "caveat")):
        if marker in labels:
            handles.append(Line2D([], [], linestyle="none", label=f"{marker} {meaning}: see Problems"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
