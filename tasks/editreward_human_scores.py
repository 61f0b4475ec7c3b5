"""What TIGER-Lab's EditReward-Bench rows' human scores add to its metrics (issue 16 items 4 and 5): accuracy by
how far apart the humans scored the two candidates, and how well a scalar scorer's scores follow the humans'.

A row may carry `score_1` / `score_2` (tasks/editreward_bench.py reads them into the outcome's `human_scores`
when both are numbers): the two candidates' human scores, by their names and because the benchmark is built from
EditReward-Data's expert scores; the evaluation scripts carry them into their results and use neither, and their
scale could not be checked on real rows here. So everything below is reported only for rows that have them, and
`details.human_scores` counts the rows whose scores order the pair differently from its `ranking` (a sign that
the scores are not the ranking's source).

- `accuracy/human_score_gap/<bucket>`: accuracy per bucket of |score_1 - score_2| (`GAP_EDGES`), through
  `harness.calibration.margin_buckets` / `bucket_accuracy`; each protocol says which rows count and which are
  right (a judge's `correct`; a scalar scorer's h·m > 0 over rows humans did not tie, as `margin_correct`).
- `spearman/human_score`, `kendall_tau_b/human_score` (the `scores` protocol): rank correlation, over distinct
  candidates, of the scorer's score with the human score. A K=2 candidate is its row's (item, letter); a K=3/4
  candidate is (the scripts' group, letter), as the strict ranking accuracy groups them, and takes the mean of
  its scores over its rows. A bootstrap replicate correlates the distinct candidates of the rows it drew (an
  approximate interval, as for the group metrics).

numpy is imported inside the functions (`harness list` imports every task module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from harness.records import Judgment
from harness.reliability import split_record_id

if TYPE_CHECKING:
    import numpy as np

    from harness.calibration import Buckets

#: Inner edges of |score_1 - score_2|: buckets "<1" (the humans scored the two the same), "[1,2)", "[2,3)",
#: ">=3". Whole points because EditReward-Data's expert scores step by whole points (instruction following and
#: visual quality 1-4 each, the overall their sum), so a gap of 1 is the smallest difference an annotator can
#: record; gaps of 3 and more are pooled as "clearly apart" (at least a 3-step difference on a 1-4 sub-score, or
#: differences on both). The edges stay in score points whatever the scale is: `details` records the gaps seen.
GAP_EDGES = (1.0, 2.0, 3.0)
GAP_PREFIX = "accuracy/human_score_gap"
SPEARMAN = "spearman/human_score"
KENDALL = "kendall_tau_b/human_score"


def human_score_pairs(rows: Sequence[Judgment]) -> tuple[np.ndarray, np.ndarray]:
    """(has, scores (n, 2)): which rows carry both human scores, and the scores (0 where they do not)."""
    import numpy as np

    has = np.array([j.outcome.get("human_scores") is not None for j in rows], dtype=bool)
    scores = np.array([j.outcome["human_scores"] if j.outcome.get("human_scores") is not None else (0.0, 0.0)
                       for j in rows], dtype=float).reshape(len(rows), 2)
    return has, scores


@dataclass(frozen=True)
class HumanGap:
    """Each row's bucket of |score_1 - score_2|; rows without human scores (`has` False) are in no bucket's
    denominator (their code is a placeholder)."""

    has: np.ndarray
    gap: np.ndarray
    buckets: Buckets
    disagreeing: int  # rows whose human scores order the pair against their ranking

    @classmethod
    def of(cls, rows: Sequence[Judgment]) -> "HumanGap | None":
        """None when no row carries human scores (the metrics are then not reported at all)."""
        import numpy as np

        from harness.calibration import margin_buckets

        has, scores = human_score_pairs(rows)
        if not has.any():
            return None
        gap = np.abs(scores[:, 0] - scores[:, 1])
        h = np.array([j.outcome["h"] for j in rows], dtype=float)
        disagreeing = int((has & (np.sign(scores[:, 0] - scores[:, 1]) != h)).sum())
        return cls(has, gap, margin_buckets(gap, GAP_EDGES), disagreeing)

    def accuracy(self, correct: np.ndarray, counted: np.ndarray, idx: np.ndarray) -> dict[str, float]:
        from harness.calibration import bucket_accuracy

        return bucket_accuracy(correct, counted & self.has, self.buckets, idx, prefix=GAP_PREFIX)

    def details(self, counted: np.ndarray) -> dict[str, Any]:
        import numpy as np

        kept = counted & self.has
        return {"buckets": list(self.buckets.names), "edges": list(self.buckets.edges),
                "counted": np.bincount(self.buckets.codes[kept], minlength=len(self.buckets.names)).tolist(),
                "rows_with_human_scores": int(self.has.sum()), "rows_without": int((~self.has).sum()),
                "max_gap": float(self.gap[self.has].max()),
                "rows_ordered_against_ranking": self.disagreeing}


@dataclass(frozen=True)
class CandidateScores:
    """Distinct candidates' (scorer's mean score, human score), and each row's two candidates (-1: the row has
    no human scores)."""

    judge: np.ndarray
    human: np.ndarray
    row_candidates: np.ndarray  # (rows, 2)
    human_differing: int  # candidates given different human scores in two rows (their mean is used)

    @classmethod
    def of(cls, rows: Sequence[Judgment]) -> "CandidateScores | None":
        """From a scalar scorer's rows (outcome `scores` {"A": candidate_1, "B": candidate_2}); None without any
        human scores."""
        import numpy as np

        has, human = human_score_pairs(rows)
        if not has.any():
            return None
        index: dict[tuple[str, str], int] = {}
        judged: list[list[float]] = []
        humans: list[list[float]] = []
        pairs = np.full((len(rows), 2), -1, dtype=np.intp)
        for r, j in enumerate(rows):
            if not has[r]:
                continue
            # K=2: one row per pair of candidates; K=3/4: a candidate is its group's letter in every row.
            owner = split_record_id(j.sample_id)[0] if j.outcome["k"] == 2 else str(j.outcome["group"])
            for side, (letter, label) in enumerate(zip(j.outcome["pair"], ("A", "B"))):
                c = index.setdefault((owner, letter), len(index))
                if c == len(judged):
                    judged.append([])
                    humans.append([])
                judged[c].append(float(j.outcome["scores"][label]))
                humans[c].append(float(human[r, side]))
                pairs[r, side] = c
        return cls(np.array([np.mean(v) for v in judged]), np.array([np.mean(v) for v in humans]), pairs,
                   sum(len(set(v)) > 1 for v in humans))

    def correlations(self, idx: np.ndarray) -> dict[str, float]:
        import numpy as np

        from harness.calibration import kendall_tau_b, spearman

        drawn = self.row_candidates[idx].ravel()
        drawn = np.unique(drawn[drawn >= 0])
        return {SPEARMAN: spearman(self.judge[drawn], self.human[drawn]),
                KENDALL: kendall_tau_b(self.judge[drawn], self.human[drawn])}

    def details(self) -> dict[str, Any]:
        return {"candidates": int(self.judge.size), "human_scores_differing_between_rows": self.human_differing,
                "over": "distinct candidates (K=2: item and letter; K=3/4: group and letter), the scorer's mean score"}
