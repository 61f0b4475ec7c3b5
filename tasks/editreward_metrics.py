"""The metrics of TIGER-Lab's EditReward-Bench (`tasks/editreward_bench.py`), as its evaluation code defines them.
A shared piece, not a benchmark: plain functions over numpy arrays, each citing the code it follows
(TIGER-AI-Lab/EditReward @ edb027e, `EditReward/evaluate/`).

Groups (`inference_3pair_hf.py` / `inference_4pair_hf.py`): a row belongs to the group
`id.split('_')[0] if '_' in id else id[:10]`; a group is right when it has exactly the expected number of
answered comparisons (3 for K=3, 6 for K=4) and every one is right. A group whose comparisons all failed is
not a group at all (it never reaches the script's results); one with some failed is counted, and wrong.

Scalar scorers (`eval_bench.py`, `evaluate_edit_reward_bench`): pairwise accuracy with ties for K=2 and
overall (`calc_accuracy_with_ties_for_edit_reward_bench`: every threshold in {0} and the distinct |margins|,
the first best (C + Thm) / N), without ties for K=3/4 (`calc_accuracy_without_ties`, epsilon -1); the strict
ranking accuracy compares `tuple(np.argsort(scores)[::-1])` with the human ranking, and a K=2 human tie is
right when |s1 - s2| <= the K=2 optimal epsilon.

Bootstrap: metrics are computed over resampled comparison rows; a group weighs by the share of its answered
comparisons drawn (count / present), so the full set (each row once) gives every group weight exactly 1.

`--orders both` (records `<id>` and `<id>::swapped`): every judgment is a comparison row, and each order's rows
of a group form a group of their own (`order_groups`), so a group is right in an order when every comparison of
it is right in that order. Rows with human scores add `tasks/editreward_human_scores.py`'s metrics.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING, Any, Sequence

from harness.records import Judgment
from harness.reliability import split_record_id
from harness.task import Scoring

from .editreward_human_scores import CandidateScores, HumanGap
from .pairwise import MarginReliability

if TYPE_CHECKING:
    import numpy as np

#: Comparisons per group, by the number of candidates K.
PAIRS_PER_GROUP = {2: 1, 3: 3, 4: 6}


def script_group(source_id: str) -> str:
    """The evaluation scripts' group of a row, from its `id`."""
    return source_id.split("_")[0] if "_" in source_id else source_id[:10]


def complete_and_right(group: np.ndarray, correct: np.ndarray, expected: np.ndarray,
                       n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group: (answered comparisons, right as the scripts define it). `group` and `correct` are per row
    (answered rows only), `expected` per group."""
    import numpy as np

    present = np.bincount(group, minlength=n_groups)
    right = np.bincount(group, weights=correct.astype(float), minlength=n_groups)
    return present, (present == expected) & (right == present)


def group_sums(idx: np.ndarray, group: np.ndarray, value: np.ndarray, present: np.ndarray,
               rows: np.ndarray) -> tuple[float, float]:
    """(weighted sum of a per-group `value`, total weight) over the groups of the rows `idx` that are in `rows`,
    each group weighted by the share of its answered comparisons drawn."""
    import numpy as np

    drawn = np.bincount(group[idx[rows[idx]]], minlength=present.size)
    weight = np.divide(drawn, present, out=np.zeros(present.size), where=present > 0)
    return float((weight * value).sum()), float(weight.sum())


def group_mean(idx: np.ndarray, group: np.ndarray, value: np.ndarray, present: np.ndarray,
               rows: np.ndarray) -> float:
    """100 x the weighted mean of `group_sums`; NaN when no group is drawn."""
    num, den = group_sums(idx, group, value, present, rows)
    return 100.0 * num / den if den else float("nan")


def accuracy_with_ties(h: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    """(accuracy, optimal epsilon) of `calc_accuracy_with_ties_for_edit_reward_bench`: for each threshold in
    [0] + sorted distinct |m|, (C + Thm) / N with |m| <= epsilon a model tie; the first threshold reaching
    the best accuracy is the epsilon. (nan, 0.0) for no pairs (the script returns 0.0, 0.0)."""
    import numpy as np

    n = h.size
    if n == 0:
        return float("nan"), 0.0
    thresholds = np.concatenate([[0.0], np.unique(np.abs(m))])
    magnitude = np.abs(m)
    concordant = (h != 0) & (h * m > 0)
    order = np.sort(magnitude[concordant])
    human_ties = np.sort(magnitude[h == 0])
    # C(eps): concordant pairs with |m| > eps; Thm(eps): human ties with |m| <= eps.
    c = order.size - np.searchsorted(order, thresholds, side="right")
    thm = np.searchsorted(human_ties, thresholds, side="right")
    acc = (c + thm) / n
    best = int(np.argmax(acc))  # the first maximum, as the script's strict `>` keeps it
    return float(acc[best]), float(thresholds[best])


def script_ranking(scores: Sequence[float]) -> tuple[int, ...]:
    """`tuple(np.argsort(scores)[::-1])` for a handful of scores: numpy sorts arrays this small stably, so
    equal scores keep index order ascending and come out in reverse index order."""
    ascending = sorted(range(len(scores)), key=lambda i: scores[i])
    return tuple(reversed(ascending))


def ranking_from_pairs(k: int, pairs: Sequence[tuple[str, str, int]]) -> tuple[int, ...] | None:
    """The human ranking (candidate indices, best first) that the group's pairwise labels (x, y, h: h = 1 when
    x is better, -1 when y is) spell out, or None when they are not every comparison of a strict total order
    (a tie, a missing or repeated comparison, a cycle): the script's `get_gt_ranking` gives None for a ranking
    string with '=', and such a group is counted and never right."""
    letters = "ABCD"[:k]
    wanted = {frozenset(p) for p in combinations(letters, 2)}
    seen = [frozenset((x, y)) for x, y, _ in pairs]
    if len(seen) != len(wanted) or set(seen) != wanted or any(h == 0 for _, _, h in pairs):
        return None
    wins = {letter: 0 for letter in letters}
    for x, y, h in pairs:
        wins[x if h > 0 else y] += 1
    order = sorted(letters, key=lambda letter: -wins[letter])
    if sorted(wins.values()) != list(range(k)):  # a cycle: no strict order has these wins
        return None
    return tuple(letters.index(letter) for letter in order)


# ---- Scoring ----------------------------------------------------------------------------------------
# numpy is imported when scoring, never at import (`harness list` imports every task module).

def _pct(values: np.ndarray) -> float:
    return 100.0 * float(values.mean()) if values.size else float("nan")


def _codes(names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    import numpy as np

    table: dict[str, int] = {}
    codes = np.array([table.setdefault(name, len(table)) for name in names], dtype=np.int64)
    return codes, list(table)


def order_groups(rows: Sequence[Judgment]) -> list[str]:
    """Each row's group, the swapped order's (`--orders both`) named apart: `<group>::swapped`."""
    return [str(j.outcome["group"]) + ("::swapped" if split_record_id(j.sample_id)[1] else "") for j in rows]


def score_votes(judgments: Sequence[Judgment]) -> Scoring:
    """A judge's verdicts: `accuracy/k2`, `group_accuracy/k3|k4` (the README's K=2/3/4 columns) and
    `pairwise_accuracy/k3|k4` (the scripts' individual accuracy). An invalid reply is a wrong comparison;
    a failed one is absent (its group, if it has answered comparisons, is then incomplete and wrong).
    With human scores, also `accuracy/human_score_gap/<bucket>` over every scored row."""
    import numpy as np

    scored = [j for j in judgments if j.status != "error"]
    k = np.array([j.outcome["k"] for j in scored], dtype=np.int64)
    correct = np.array([bool(j.outcome.get("correct")) for j in scored], dtype=bool)
    group, names = _codes(order_groups(scored))
    gap = HumanGap.of(scored)
    every = np.ones(correct.size, dtype=bool)
    group_k = np.zeros(len(names), dtype=np.int64)
    group_k[group] = k
    expected = np.array([PAIRS_PER_GROUP[int(g)] for g in group_k], dtype=np.int64)
    present, right = complete_and_right(group, correct, expected, len(names))

    def compute(idx: np.ndarray) -> dict[str, float]:
        out = {"accuracy/k2": _pct(correct[idx[k[idx] == 2]])}
        for size in (3, 4):
            out[f"group_accuracy/k{size}"] = group_mean(idx, group, right.astype(float), present, k == size)
        for size in (3, 4):
            out[f"pairwise_accuracy/k{size}"] = _pct(correct[idx[k[idx] == size]])
        if gap is not None:
            out.update(gap.accuracy(correct, every, idx))
        return out

    details: dict[str, Any] = {
        f"k{size}": {"rows": int((k == size).sum()), "groups": int((group_k == size).sum()),
                     "complete_groups": int(((group_k == size) & (present == expected)).sum())}
        for size in (2, 3, 4)}
    if gap is not None:
        details["human_score_gap"] = gap.details(every)
    rows = {"accuracy/k2": k == 2, "pairwise_accuracy/k3": k == 3, "pairwise_accuracy/k4": k == 4}
    return Scoring(compute, [j.sample_id for j in scored], details=details, correct=correct, accuracy_rows=rows)


def _strict_groups(rows: Sequence[Judgment], group: np.ndarray, group_k: np.ndarray,
                   expected: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Per group: (counted for the strict ranking accuracy: every comparison scored, right: the scores' ranking
    is the human one), and how many candidates got different scores in two rows."""
    import numpy as np

    n_groups = group_k.size
    pairs: list[list[tuple[str, str, int]]] = [[] for _ in range(n_groups)]
    scores: list[dict[str, list[float]]] = [{} for _ in range(n_groups)]
    for g, j in zip(group, rows):
        x, y = j.outcome["pair"]
        pairs[g].append((x, y, int(j.outcome["h"])))
        for letter, side in ((x, "A"), (y, "B")):
            scores[g].setdefault(letter, []).append(float(j.outcome["scores"][side]))
    counted = np.array([len(p) == e for p, e in zip(pairs, expected)], dtype=bool)
    right = np.zeros(n_groups, dtype=bool)
    differing = 0
    for g in np.flatnonzero(counted):
        size = int(group_k[g])
        differing += sum(len(set(v)) > 1 for v in scores[g].values())
        human = ranking_from_pairs(size, pairs[g])  # not None: every letter of the group has its scores
        mean = [float(np.mean(scores[g][letter])) for letter in "ABCD"[:size]] if human is not None else []
        right[g] = human is not None and script_ranking(mean) == human
    return counted, right, differing


def score_scalar(judgments: Sequence[Judgment]) -> Scoring:
    """A scalar scorer's margins (candidate_1 - candidate_2), scored as `eval_bench.py`
    `evaluate_edit_reward_bench`; rows without two finite scores are left out (n_invalid). With human scores,
    also `accuracy/human_score_gap/<bucket>` (h·m > 0 over the rows humans did not tie) and the rank
    correlation of the candidates' scores with the human scores. Every row: accuracy per quartile of |margin|
    and the ECE of P(candidate_1 preferred) (`tasks.pairwise.MarginReliability`)."""
    import numpy as np

    from harness.calibration import margin_correct
    from harness.metrics import accuracy_without_ties  # `calc_accuracy_without_ties` (epsilon -1)

    scored = [j for j in judgments if j.status == "ok"]
    k = np.array([j.outcome["k"] for j in scored], dtype=np.int64)
    h = np.array([j.outcome["h"] for j in scored], dtype=float)
    m = np.array([j.outcome["margin"] for j in scored], dtype=float)
    group, names = _codes([j.outcome["group"] for j in scored])
    group_k = np.zeros(len(names), dtype=np.int64)
    group_k[group] = k
    expected = np.array([PAIRS_PER_GROUP[int(g)] for g in group_k], dtype=np.int64)
    present = np.bincount(group, minlength=len(names))
    many = k > 2
    counted, right, differing = _strict_groups([j for j, big in zip(scored, many) if big], group[many],
                                               group_k, expected)
    counted_row = counted[group] & many
    gap, candidates = HumanGap.of(scored), CandidateScores.of(scored)
    row_right, not_tied = margin_correct(h, m)
    difficulty = MarginReliability.of(h, m)  # |margin| quartiles and the ECE, as for every scalar scorer

    def compute(idx: np.ndarray) -> dict[str, float]:
        two = idx[k[idx] == 2]
        with_ties, epsilon = accuracy_with_ties(h[two], m[two])
        strict_two = np.where(h[two] == 0, np.abs(m[two]) <= epsilon, np.where(h[two] > 0, m[two] > 0, m[two] <= 0))
        out: dict[str, Any] = {"strict_accuracy/k2": _pct(strict_two)}
        num, den = float(strict_two.sum()), float(strict_two.size)
        for size in (3, 4):
            g_num, g_den = group_sums(idx, group, right.astype(float), present, counted_row & (k == size))
            out[f"strict_accuracy/k{size}"] = 100.0 * g_num / g_den if g_den else float("nan")
            num, den = num + g_num, den + g_den
        out["strict_accuracy"] = 100.0 * num / den if den else float("nan")
        out["pairwise_accuracy/k2"] = 100.0 * with_ties
        for size in (3, 4):
            rows = idx[k[idx] == size]
            out[f"pairwise_accuracy/k{size}"] = 100.0 * accuracy_without_ties(h[rows], m[rows])
        out["pairwise_accuracy"] = 100.0 * accuracy_with_ties(h[idx], m[idx])[0]
        out.update(difficulty.metrics(idx))
        if gap is not None:
            out.update(gap.accuracy(row_right, not_tied, idx))
        if candidates is not None:
            out.update(candidates.correlations(idx))
        return out

    details = {"groups_ranked": {f"k{size}": int((counted & (group_k == size)).sum()) for size in (3, 4)},
               "groups_left_out": {f"k{size}": int((~counted & (group_k == size)).sum()) for size in (3, 4)},
               "candidates_scored_differently": differing, "n_human_ties": int((h == 0).sum()),
               **difficulty.details()}
    if gap is not None:
        details["human_score_gap"] = gap.details(not_tied)
    if candidates is not None:
        details["human_score_correlation"] = candidates.details()
    return Scoring(compute, [j.sample_id for j in scored], details=details)
