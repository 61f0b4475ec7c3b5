"""Metric building blocks and the seeded bootstrap.

Metrics are written as functions of an *index array* over the per-sample outcome arrays: the point
estimate is `compute(arange(n))`, and a bootstrap replicate is `compute(resampled indices)`. That one
convention gives every task confidence intervals without per-task statistics code, and keeps each
replicate vectorised (1,000 replicates of 1,250 samples take milliseconds).

A metric that can also be computed for many replicates at once gives `bootstrap_ci` a `compute_many`
(a 2-D index array, one replicate per row): the replicates are then evaluated in a few array operations
instead of one Python call each, with the same draws and bit-for-bit the same values (`grouped_accuracy_many`
and `accuracy_pct_many` do the same float operations as their one-replicate forms, row by row).

Accuracies are percentages (0-100), unrounded, as results.json promises. numpy is imported inside the
functions: importing this module (as `harness.task` does for its types) must not load it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Mapping

if TYPE_CHECKING:
    import numpy as np

Compute = Callable[["np.ndarray"], Mapping[str, float]]
#: `compute` for many replicates: idx of shape (R, k) -> metric -> values of shape (R,), where value r is
#: exactly (bit for bit) what `compute(idx[r])` returns for that metric, NaN included.
ComputeMany = Callable[["np.ndarray"], Mapping[str, "np.ndarray"]]
#: Index entries drawn per vectorised chunk of replicates (int64: 8 MB), which bounds bootstrap memory.
CHUNK_ENTRIES = 1 << 18  # replicate indices per chunk (2 MB of int64): the bootstrap's transient memory


def ratio_pct(num: float, den: float) -> float:
    """100·num/den, NaN when the denominator is empty (reported as null, never as 0)."""
    return 100.0 * num / den if den else math.nan


def grouped_accuracy(correct: np.ndarray, counted: np.ndarray, groups: np.ndarray, idx: np.ndarray,
                     n_groups: int) -> tuple[np.ndarray, float]:
    """Per-group and overall accuracy (%) over the rows `idx`.

    correct: bool per sample; counted: bool per sample, False for rows that leave the denominator;
    groups: int group id per sample. Returns (per-group accuracies, overall accuracy).
    """
    import numpy as np

    cells = np.bincount(_cell_codes(correct, counted, groups, n_groups)[idx], minlength=2 * n_groups + 1)
    hits, totals = _hits_totals(cells[None, :], n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_group = np.where(totals[0] > 0, 100.0 * hits[0] / np.where(totals[0] > 0, totals[0], 1), np.nan)
    overall = ratio_pct(float(hits[0].sum()), float(totals[0].sum()))
    return per_group, overall


def grouped_accuracy_many(correct: np.ndarray, counted: np.ndarray, groups: np.ndarray, idx: np.ndarray,
                          n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """`grouped_accuracy` for every row of a 2-D `idx` (R, k): per-group accuracies (R, n_groups) and the
    overall accuracy (R,), each row equal to `grouped_accuracy(..., idx[r], ...)`. The counts are integers
    held exactly in floats, and the divisions are the same IEEE operations, so the values are identical."""
    import numpy as np

    reps = idx.shape[0]
    width = 2 * n_groups + 1
    # One bincount over (replicate, cell) pairs instead of one per replicate.
    cell = _cell_codes(correct, counted, groups, n_groups)[idx]
    cell += width * np.arange(reps, dtype=cell.dtype)[:, None]
    hits, totals = _hits_totals(np.bincount(cell.ravel(), minlength=reps * width).reshape(reps, width), n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_group = np.where(totals > 0, 100.0 * hits / np.where(totals > 0, totals, 1), np.nan)
    return per_group, ratio_pct_many(hits.sum(axis=1), totals.sum(axis=1))


def _cell_codes(correct: np.ndarray, counted: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Each sample's cell: 2·group + correct for a counted sample, 2·n_groups for one outside the
    denominator; one gather and one bincount of these give every count a grouped accuracy needs."""
    import numpy as np

    return np.where(counted, 2 * groups.astype(np.intp) + (correct & counted), 2 * n_groups).astype(np.intp)


def _hits_totals(cells: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """(hits, totals) per group as floats (exact integers) from cell counts of shape (R, 2·n_groups + 1)."""
    right = cells[:, 1:2 * n_groups:2]
    return right.astype(float), (cells[:, 0:2 * n_groups:2] + right).astype(float)


def ratio_pct_many(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """`ratio_pct` elementwise: 100·num/den, NaN where den is 0."""
    import numpy as np

    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den != 0, 100.0 * num / np.where(den != 0, den, 1), np.nan)


def accuracy_pct_many(correct: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """`100.0 * float(correct[idx[r]].mean())` for every row r of a 2-D idx (NaN for empty rows), the
    operations of the one-replicate form: the mean first (count / k), then ×100."""
    import numpy as np

    k = idx.shape[1]
    if k == 0:
        return np.full(idx.shape[0], np.nan)
    return 100.0 * (np.count_nonzero(correct[idx], axis=1).astype(float) / k)


def bootstrap_ci(compute: Compute, n: int, *, resamples: int = 1000, seed: int = 0,
                 level: float = 0.95, compute_many: ComputeMany | None = None) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CI of every metric `compute` returns, resampling samples with replacement.

    Seeded (numpy PCG64 from `seed`), so the same run gives the same interval. Replicates where a
    metric is undefined (NaN, e.g. a category absent from the resample) are skipped for that metric.
    With `compute_many`, replicates are evaluated a chunk at a time; the draws are the same (one
    `integers(0, n, n)` call per replicate, in order), so the interval is identical.
    """
    import numpy as np

    if n == 0:
        return {}
    rng = np.random.default_rng(seed)
    if compute_many is None:
        reps: dict[str, list[float]] = {}
        for _ in range(resamples):
            idx = rng.integers(0, n, size=n)
            for name, value in compute(idx).items():
                reps.setdefault(name, []).append(value)
        arrays = {name: np.asarray(values, dtype=float) for name, values in reps.items()}
    else:
        chunk = max(1, min(resamples, CHUNK_ENTRIES // n))
        parts: dict[str, list[np.ndarray]] = {}
        done = 0
        while done < resamples:
            k = min(chunk, resamples - done)
            idx = np.empty((k, n), dtype=np.int64)
            for row in range(k):  # the same draws as one integers() call per replicate, in one array
                idx[row] = rng.integers(0, n, size=n)
            for name, values in compute_many(idx).items():
                parts.setdefault(name, []).append(np.asarray(values, dtype=float))
            done += k
        arrays = {name: np.concatenate(values) for name, values in parts.items()}
    alpha = (1.0 - level) / 2.0
    out: dict[str, tuple[float, float]] = {}
    for name, arr in arrays.items():
        arr = arr[~np.isnan(arr)]
        if arr.size:
            out[name] = (float(np.quantile(arr, alpha)), float(np.quantile(arr, 1.0 - alpha)))
    return out


# ---- pairwise preference metrics (VideoGen-RewardBench / VideoAlign and GenAI-Bench conventions) ----------
#
# h: human label per pair, 1 (A preferred), -1 (B preferred), 0 (tie); m: the model's margin, e.g.
# score(A) - score(B), or +1 / -1 / 0 from a generative judge's verdict. Both functions return a fraction
# in [0, 1]; results.json reports them ×100 like every accuracy.

def _pairs(h, m) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    h_arr = np.asarray(h, dtype=float)
    m_arr = np.asarray(m, dtype=float)
    if h_arr.shape != m_arr.shape or h_arr.ndim != 1:
        raise ValueError("h and m must be 1-D sequences of the same length")
    if not np.isin(h_arr, (-1.0, 0.0, 1.0)).all():
        raise ValueError("h must hold only 1, -1 and 0")
    if not np.isfinite(m_arr).all():
        raise ValueError("m must be finite (a NaN or infinite margin is a failed sample, not a score)")
    return h_arr, m_arr


def accuracy_without_ties(h, m) -> float:
    """C / (C + D) over the pairs humans did not tie (VideoAlign `calc_accuracy_without_ties`).

    C: h·m > 0. D: every other pair with h != 0, so a zero margin on a preferred pair counts against
    the model. NaN when every pair is a human tie.
    """
    import numpy as np

    h_arr, m_arr = _pairs(h, m)
    decided = h_arr != 0
    if not decided.any():
        return math.nan
    return float(np.mean(h_arr[decided] * m_arr[decided] > 0))


def accuracy_with_ties(h, m, variant: str = "videoalign") -> float:
    """Tie-calibrated accuracy (Deutsch et al. 2023): the best (C + T_hm) / N over tie thresholds ε,
    where the model calls a pair a tie when |m| <= ε.

    variant="videoalign": bit-for-bit VideoAlign's `calc_accuracy_with_ties`, quirks included:
      pairs are stable-sorted by |m| and moved into the model-tie class ONE AT A TIME, the accuracy is
      taken after every move (so pairs sharing one |m| are split across states no threshold produces,
      and the result depends on their row order), and the no-tie starting state is never scored.
    variant="calibrated": every real threshold — all pairs with equal |m| move together — plus the
      no-tie state (ε below every |m|).
    Both run in O(N log N): one sort, then cumulative counts. NaN for no pairs.
    """
    if variant not in ("videoalign", "calibrated"):
        raise ValueError(f"variant must be 'videoalign' or 'calibrated', not {variant!r}")
    import numpy as np

    h_arr, m_arr = _pairs(h, m)
    n = h_arr.size
    if n == 0:
        return math.nan
    concordant = h_arr * m_arr > 0  # C before any move (ε = -1: no model ties)
    order = np.argsort(np.abs(m_arr), kind="stable")
    # After moving the first k pairs: C_k = C_0 - (concordant among them), T_hm,k = (human ties among them).
    moved_c = np.cumsum(concordant[order])
    moved_thm = np.cumsum(h_arr[order] == 0)
    acc = (concordant.sum() - moved_c + moved_thm) / n  # acc[k-1] is the state after k moves
    if variant == "videoalign":
        return float(acc.max())
    sorted_abs = np.abs(m_arr[order])
    group_ends = np.append(sorted_abs[1:] != sorted_abs[:-1], True)  # last pair of each distinct |m|
    return float(max(concordant.sum() / n, acc[group_ends].max()))


def three_way(correct: np.ndarray, human_tie: np.ndarray) -> tuple[float, float]:
    """The UnifiedReward scripts' pair of numbers for a three-way verdict (A, B, tie), in %:
    tau = correct / N (human ties included, a tie answered "equally good" is correct);
    diff = (correct - correct_on_ties) / (N - N_ties) (accuracy on the pairs humans did not tie)."""
    import numpy as np

    correct = np.asarray(correct, dtype=bool)
    human_tie = np.asarray(human_tie, dtype=bool)
    tau = ratio_pct(float(correct.sum()), float(correct.size))
    diff = ratio_pct(float((correct & ~human_tie).sum()), float((~human_tie).sum()))
    return tau, diff
