"""Text of the cells, shared by every format so that Markdown, LaTeX, CSV and HTML print the same numbers.

Numbers are printed with the decimals of the column's published numbers (the paper's precision), the
95% CI in brackets after our number, and the difference to the paper with its sign. Markers are plain
characters; each format maps them to its own typography.
"""

from __future__ import annotations

from ..build import Cell, TableView

MISSING = "—"  # no run for this cell
CONFLICT = "‡"  # several runs fill this cell (see Problems)
CAVEAT = "†"  # the number comes with a caveat (see Problems)


def number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # never print -0.0


def ours(cell: Cell, with_ci: bool = True) -> str:
    """Our number with its CI ("66.1 [63.4, 68.7]"), "—" when no run fills the cell."""
    if cell.ours is None:
        return MISSING
    text = number(cell.ours.value, cell.column.decimals)
    return f"{text} {ci(cell)}" if with_ci and ci(cell) else text


def ci(cell: Cell) -> str:
    """Our number's 95% CI as "[lo, hi]", "" when the run has none."""
    if cell.ours is None or cell.ours.ci is None:
        return ""
    d = cell.column.decimals
    return f"[{number(cell.ours.ci[0], d)}, {number(cell.ours.ci[1], d)}]"


def markers(cell: Cell) -> str:
    return (CONFLICT if cell.conflict else "") + (CAVEAT if cell.ours is not None and cell.ours.caveats else "")


def paper(cell: Cell) -> str:
    return cell.paper if cell.paper is not None else ""


def delta(cell: Cell) -> str:
    """Signed difference in points at the column's precision; "0.00" (no sign) when it rounds to zero."""
    if cell.delta is None:
        return ""
    text = number(cell.delta, cell.column.decimals)
    return text if float(text) == 0 or text.startswith("-") else "+" + text


def title(view: TableView) -> str:
    """"Table 5: <title>" for the paper's tables, the title alone for the others."""
    spec = view.spec
    return f"Table {spec.id}: {spec.title}" if spec.id.isdigit() else spec.title
