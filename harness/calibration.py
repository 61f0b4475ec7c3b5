"""Accuracy by difficulty, and how well a judge's scores follow human scores (rank correlation, calibration).

- Difficulty: items bucketed by a human margin (vote counts, score differences, agreement levels) with edges
  the caller chooses (`margin_buckets`), or for scalar scorers by quantiles of |score margin|
  (`quantile_buckets`); `bucket_accuracy` is per-bucket accuracy through `harness.metrics.grouped_accuracy`,
  with its `_many` form for the bootstrap.
- Rank correlation with human scores: `spearman` (Pearson's r of average ranks) and `kendall_tau_b`
  (ties corrected, O(n log² n) by counting inversions with a vectorised bottom-up merge), written with numpy;
  the test suite checks them against the definitions pair by pair.
- Calibration of a preference probability (`preference_probability` turns a score margin into one,
  Bradley-Terry): `reliability_diagram` (equal-width bins over [0, 1]: per bin the mean predicted
  probability, the observed frequency and the count) and `expected_calibration_error` (the count-weighted
  mean |mean predicted - observed| over non-empty bins).

Pure functions return fractions (correlations in [-1, 1], ECE in [0, 1]); a task's `compute` reports
accuracies and ECE in percent, as results.json does for every accuracy. NaN, never 0, where a value is
undefined (an empty bucket, a constant score). numpy is imported inside the functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import numpy as np


# ---- accuracy by difficulty -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Buckets:
    """Each item's bucket (`codes`, int), the buckets' names and the inner edges that separate them: bucket
    i holds edges[i-1] <= value < edges[i] (bucket 0 everything below edges[0], the last everything from the
    last edge up)."""

    codes: np.ndarray
    names: tuple[str, ...]
    edges: tuple[float, ...]


def margin_buckets(margin: Any, edges: Sequence[float]) -> Buckets:
    """Buckets of a human margin at the given inner edges (strictly increasing), named by their interval:
    edges (2, 4) -> "<2", "[2,4)", ">=4"."""
    import numpy as np

    values = _finite_1d(margin, "margin")
    cuts = [float(e) for e in edges]
    if not cuts or any(not math.isfinite(e) for e in cuts) or any(b <= a for a, b in zip(cuts, cuts[1:])):
        raise ValueError(f"bucket edges must be finite and strictly increasing, not {list(edges)}")
    names = (f"<{cuts[0]:g}", *(f"[{a:g},{b:g})" for a, b in zip(cuts, cuts[1:])), f">={cuts[-1]:g}")
    return Buckets(np.searchsorted(np.asarray(cuts), values, side="right").astype(np.intp), names, tuple(cuts))


def quantile_buckets(values: Any, n_buckets: int) -> Buckets:
    """`n_buckets` buckets at the quantiles k/n of `values` (e.g. |score margin|), named q1 .. qm. Tied values
    stay in one bucket, so repeated quantiles merge and m can be smaller than n_buckets (never an empty one
    below the smallest value)."""
    import numpy as np

    v = _finite_1d(values, "values")
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be at least 1, not {n_buckets}")
    if v.size == 0:
        return Buckets(np.zeros(0, dtype=np.intp), ("q1",), ())
    cuts = np.unique(np.quantile(v, np.arange(1, n_buckets) / n_buckets))
    cuts = cuts[cuts > v.min()]  # an edge at the minimum would leave the first bucket empty
    codes = np.searchsorted(cuts, v, side="right").astype(np.intp)
    return Buckets(codes, tuple(f"q{i + 1}" for i in range(cuts.size + 1)), tuple(float(c) for c in cuts))


def bucket_accuracy(correct: Any, counted: Any, buckets: Buckets, idx: np.ndarray,
                    prefix: str = "accuracy/margin") -> dict[str, float]:
    """Accuracy (%) per bucket over the items `idx` (`counted` False: the item leaves the denominators, e.g.
    a human tie for a scalar scorer); `<prefix>/<bucket name>`, NaN for a bucket without a counted item."""
    from .metrics import grouped_accuracy

    per_bucket, _ = grouped_accuracy(correct, counted, buckets.codes, idx, len(buckets.names))
    return {f"{prefix}/{name}": float(per_bucket[i]) for i, name in enumerate(buckets.names)}


def bucket_accuracy_many(correct: Any, counted: Any, buckets: Buckets, idx2d: np.ndarray,
                         prefix: str = "accuracy/margin") -> dict[str, np.ndarray]:
    """`bucket_accuracy` for every row of a 2-D idx, equal row by row (`grouped_accuracy_many`)."""
    from .metrics import grouped_accuracy_many

    per_bucket, _ = grouped_accuracy_many(correct, counted, buckets.codes, idx2d, len(buckets.names))
    return {f"{prefix}/{name}": per_bucket[:, i] for i, name in enumerate(buckets.names)}


def margin_correct(h: Any, margin: Any) -> tuple[np.ndarray, np.ndarray]:
    """(correct, counted) of a scalar scorer's pairs, as `accuracy_without_ties` counts them: a pair humans did
    not tie (h = +1 / -1) is right when h·margin > 0 (a zero margin is wrong); a human tie is not counted."""
    import numpy as np

    h_arr, m_arr = _finite_1d(h, "h"), _finite_1d(margin, "margin")
    if h_arr.shape != m_arr.shape or not np.isin(h_arr, (-1.0, 0.0, 1.0)).all():
        raise ValueError("h must hold 1, -1 or 0 for every margin")
    return h_arr * m_arr > 0, h_arr != 0


# ---- rank correlation with human scores -------------------------------------------------------------------

def average_ranks(values: Any) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of the ranks they span."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    below = np.cumsum(counts) - counts  # values strictly smaller than each distinct value
    return (below + (counts + 1) / 2.0)[inverse.reshape(-1)]


def spearman(x: Any, y: Any) -> float:
    """Spearman's rho: Pearson's r of the average ranks. NaN with fewer than two items or a constant side."""
    import numpy as np

    a, b = _paired(x, y)
    if a.size < 2:
        return math.nan
    ra, rb = average_ranks(a), average_ranks(b)
    da, db = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt(float(np.dot(da, da)) * float(np.dot(db, db)))
    return float(np.dot(da, db)) / den if den > 0 else math.nan


def kendall_tau_b(x: Any, y: Any) -> float:
    """Kendall's tau-b = (C - D) / sqrt((n0 - n1)(n0 - n2)): n0 all pairs, n1 / n2 pairs tied in x / in y,
    C / D concordant / discordant pairs (tied in neither). NaN with fewer than two items or a constant side."""
    import numpy as np

    a, b = _paired(x, y)
    n = a.size
    if n < 2:
        return math.nan
    order = np.lexsort((b, a))  # by x, then y: pairs tied in x are then never inversions in y
    sa, sb = a[order], b[order]
    ry = np.unique(b, return_inverse=True)[1].reshape(-1)[order]
    n0 = n * (n - 1) // 2
    same_x = sa[1:] == sa[:-1]
    n1, n2 = _tied_pairs(same_x), _tied_pairs(np.diff(np.sort(b)) == 0)
    n3 = _tied_pairs(same_x & (sb[1:] == sb[:-1]))  # tied in both (adjacent once sorted by x, then y)
    discordant = _inversions(ry)
    concordant = n0 - n1 - n2 + n3 - discordant
    den = math.sqrt(float(n0 - n1) * float(n0 - n2))
    return (concordant - discordant) / den if den > 0 else math.nan


def _tied_pairs(same_as_previous: np.ndarray) -> int:
    """Pairs within runs of equal sorted values, from `sorted[1:] == sorted[:-1]`: a run of t values is t - 1
    consecutive True and holds t(t - 1)/2 pairs."""
    import numpy as np

    flags = np.concatenate([[False], same_as_previous, [False]]).astype(np.int8)
    starts, ends = np.flatnonzero(np.diff(flags) == 1), np.flatnonzero(np.diff(flags) == -1)
    t = (ends - starts + 1).astype(np.int64)  # run length in values
    return int((t * (t - 1) // 2).sum())


def _inversions(values: np.ndarray) -> int:
    """Pairs i < j with values[i] > values[j] (non-negative integers), by a bottom-up merge sort done a level at
    a time over all blocks at once: each right half's elements look up, in the sorted left half, how many of
    its elements are greater (one searchsorted with the blocks kept apart by an offset per block)."""
    import numpy as np

    n = values.size
    arr = values.astype(np.int64)
    big = int(arr.max()) + 1 if n else 1
    position = np.arange(n)
    count, width = 0, 1
    while width < n:
        block = position // (2 * width)
        keys = arr + block * big  # blocks in increasing key ranges, each half sorted from the level below
        right = (position % (2 * width)) >= width
        left_keys = keys[~right]
        at_most = np.searchsorted(left_keys, keys[right], side="right")  # left elements <= it (all blocks)
        left_end = (block[right] + 1) * width  # left elements up to the end of its own block's left half
        count += int((left_end - at_most).sum())
        arr = np.sort(keys) - block * big  # each merged block sorted; it keeps its place (its key range)
        width *= 2
    return count


def _paired(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = _finite_1d(x, "x"), _finite_1d(y, "y")
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same length, not {a.size} and {b.size}")
    return a, b


def _finite_1d(values: Any, name: str) -> np.ndarray:
    import numpy as np

    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (a NaN or infinite value is a failed item, not a score)")
    return arr


# ---- calibration of a preference probability --------------------------------------------------------------

def preference_probability(margin: Any, scale: float = 1.0) -> np.ndarray:
    """P(A preferred) from a score margin score(A) - score(B) under Bradley-Terry: 1 / (1 + exp(-margin/scale))."""
    import numpy as np

    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale}")
    return 1.0 / (1.0 + np.exp(-_finite_1d(margin, "margin") / scale))


@dataclass(frozen=True)
class ReliabilityDiagram:
    """Per equal-width bin of the predicted probability: its edges (bins + 1), the mean predicted probability
    and the observed frequency of the event (NaN for an empty bin), and the count."""

    edges: tuple[float, ...]
    mean_predicted: tuple[float, ...]
    observed: tuple[float, ...]
    count: tuple[int, ...]

    @property
    def ece(self) -> float:
        """Expected calibration error: sum over non-empty bins of count/N · |mean predicted - observed|."""
        total = sum(self.count)
        if not total:
            return math.nan
        return sum(c / total * abs(p - o) for p, o, c in zip(self.mean_predicted, self.observed, self.count) if c)

    def as_dict(self) -> dict[str, Any]:
        def nulls(values: tuple[float, ...]) -> list[float | None]:  # an empty bin: null in JSON, never NaN
            return [None if math.isnan(v) else v for v in values]

        return {"edges": list(self.edges), "mean_predicted": nulls(self.mean_predicted),
                "observed": nulls(self.observed), "count": list(self.count)}


def reliability_diagram(probability: Any, outcome: Any, bins: int = 10) -> ReliabilityDiagram:
    """Bin i of `bins` holds i/bins <= p < (i+1)/bins (p = 1 in the last). `outcome`: 1 where the event
    happened (e.g. humans preferred A), 0 where not."""
    import numpy as np

    p, y = _finite_1d(probability, "probability"), _finite_1d(outcome, "outcome")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    if p.shape != y.shape:
        raise ValueError(f"probability and outcome must have the same length, not {p.size} and {y.size}")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("probability must lie in [0, 1]")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("outcome must be 0 or 1")
    which = np.minimum((p * bins).astype(np.intp), bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(which, weights=p, minlength=bins) / count
        observed = np.bincount(which, weights=y, minlength=bins) / count
    edges = tuple(float(e) for e in np.linspace(0.0, 1.0, bins + 1))
    return ReliabilityDiagram(edges, tuple(map(float, mean_p)), tuple(map(float, observed)), tuple(map(int, count)))


def expected_calibration_error(probability: Any, outcome: Any, bins: int = 10) -> float:
    """ECE (a fraction, 0 = calibrated) with equal-width bins; NaN for no items."""
    return reliability_diagram(probability, outcome, bins).ece
