"""Shared parts of the pairwise generation benchmarks (GenAI-Bench, VideoGen-RewardBench): human labels,
the verdict parsers of each protocol, scalar-scorer requests, and the three ways of scoring.

Human labels: h = 1 (A / left preferred), -1 (B / right preferred), 0 (tie). GenAI-Bench's four votes map
leftvote -> 1, rightvote -> -1, tievote and bothbad_vote -> 0 (a "tie" for the three-way numbers; the
genai-arena protocol still tells tie from both-bad).

Answer order, shared by every pairwise benchmark (and the reward-dataset builder):
- `seeded_swap(seed, id)`: the `strict` protocols' per-sample decision from (seed, id) alone, so a subset,
  `--limit` or a resume keeps each item's order;
- `choices_draw(seed, index)` / `half_draw(seed, index)`: the authors' scripts' global streams, one draw per
  item in dataset order after `random.seed(seed)` (`random.choices([True, False])[0]`, resp.
  `random.random() < 0.5`); what a draw means (keep or swap) is each script's own.

Judge reliability (docs/reliability.md, "Generation tasks"): `three_way_view` reads a three-way outcome as the
response it picks for `--orders both`; `score_margins` adds, for scalar scorers, accuracy per quartile of |score
margin| and the expected calibration error of the margin read as a preference probability.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Sequence

from harness.records import Generation, Judgment, MediaRef, Request, Sample
from harness.reliability import INVALID, OrderVerdict, signed_view
from harness.task import Parsed, Scoring

from .verdicts import normalise

if TYPE_CHECKING:  # numpy only for annotations: `harness list` imports this module, never scores
    import numpy as np

    from harness.calibration import Buckets, ReliabilityDiagram

VOTE_TO_H = {"leftvote": 1, "rightvote": -1, "tievote": 0, "bothbad_vote": 0}

# The authors' Qwen scripts (benchmark_evaluation/Qwen_evaluation/): max_new_tokens 512 for images, 1,024 for
# videos; qwen_vl_utils' cap on sampled frames (FPS_MAX_FRAMES).
QWEN_IMAGE_GENERATION = Generation(max_new_tokens=512)
QWEN_VIDEO_GENERATION = Generation(max_new_tokens=1024)
QWEN_MAX_FRAMES = 768

# GenAI-Bench inference.py: the first match of the greedy `\[\[.*\]\]` ('.' does not cross a newline).
ARENA_VOTE = re.compile(r"\[\[.*\]\]")
ARENA_CORRECT = {
    "leftvote": {"[[A>B]]", "[[A>>B]]"},
    "rightvote": {"[[B>A]]", "[[B>>A]]"},
    "tievote": {"[[A=B]]", "[[A=B=Good]]"},
    "bothbad_vote": {"[[A=B]]", "[[A=B=Bad]]"},
}


def seeded_swap(seed: int, sample_id: str) -> bool:
    """Per-sample order decision from (seed, id) alone: one bit of sha256 over them (about half swap)."""
    return hashlib.sha256(f"{seed}\x00{sample_id}".encode()).digest()[0] & 1 == 1


def _choices(rng: random.Random) -> bool:
    return rng.choices([True, False])[0]


def _below_half(rng: random.Random) -> bool:
    return rng.random() < 0.5


@lru_cache(maxsize=16)
def _stream(draw: Callable[[random.Random], bool], seed: int, length: int) -> tuple[bool, ...]:
    rng = random.Random(seed)
    return tuple(draw(rng) for _ in range(length))


def _nth(draw: Callable[[random.Random], bool], seed: int, index: int) -> bool:
    # The streams are prefix-stable, so a longer one holds the shorter's draws: lengths grow by doubling
    # (from 2,048) and each is computed once, however many items a dataset has.
    length = 2048
    while length <= index:
        length *= 2
    return _stream(draw, seed, length)[index]


def choices_draw(seed: int, index: int) -> bool:
    """The `index`-th `random.choices([True, False])[0]` after `random.seed(seed)` (the LLaVA scripts' stream)."""
    return _nth(_choices, seed, index)


def half_draw(seed: int, index: int) -> bool:
    """The `index`-th `random.random() < 0.5` after `random.seed(seed)` (the Qwen scripts' stream)."""
    return _nth(_below_half, seed, index)


def arena_vote(text: str | None) -> str | None:
    match = ARENA_VOTE.search(text or "")
    return match.group() if match else None


def three_way_choice(text: str | None, noun: str) -> tuple[int | None, str | None]:
    """The `strict` three-way parser: 1 or 2 (that candidate is better), 0 (equally good), or None with a
    reason. Accepts "Image 2 is better than Image 1", "**Video 1** is better", "Both videos are equally
    good", "a tie"; a reply that names more than one of the three outcomes, or none, is invalid."""
    if text is None or not text.strip():
        return None, "empty reply"
    clean = normalise(text)
    better = {int(n) for n in re.findall(
        rf"\b{noun}\s*([12])\s*(?:is|was)\s+(?:(?:the|clearly|slightly|much|significantly|somewhat)\s+)*better\b",
        clean, re.IGNORECASE)}
    tie = re.search(rf"\b(?:both|the two)\s+{noun}s?\s+(?:are\s+)?(?:equally|similarly)\s+good\b|"
                    rf"\bequally\s+good\b|\bit(?:'s| is) a tie\b|\btie\b", clean, re.IGNORECASE) is not None
    outcomes = better | ({0} if tie else set())
    if len(outcomes) == 1:
        return outcomes.pop(), None
    if not outcomes:
        return None, f"no verdict naming {noun.title()} 1, {noun.title()} 2 or a tie"
    return None, "the reply names more than one verdict"


def shown_h(h: int, swapped: bool) -> int:
    """The label as the judge sees the pair (A and B exchanged when `swapped`)."""
    return -h if swapped else h


#: Outcome field set (True) where a script protocol reads a reply stating no verdict as a default one (`verdict`
#: holds the script's reading, the record is `invalid`): for the reliability metrics it is no verdict at all, so a
#: judge cannot look consistent across the two orders by never concluding.
NO_VERDICT = "no_verdict"


def three_way_view(outcome: Mapping[str, Any]) -> OrderVerdict:
    """A three-way outcome (`verdict` +1 / -1 / 0 as shown, `h`, `swapped`) as the response it picks
    (`harness.reliability.signed_view`), `INVALID` where the reply stated no verdict (`NO_VERDICT`)."""
    seen = signed_view(outcome)
    return replace(seen, choice=INVALID) if outcome.get(NO_VERDICT) else seen


def scorer_requests(sample: Sample, prompt: str, candidates: Sequence[tuple[str, MediaRef]]) -> list[Request]:
    """One request per candidate for a scalar scorer: the caption, then the candidate's medium."""
    return [Request(key=f"{sample.id}::{name}", sample_id=sample.id, parts=(prompt, media), generation=Generation(),
                    meta={"candidate": name, "prompt": prompt, "media_label": media.label, "item_id": sample.id})
            for name, media in candidates]


# ---- scoring -----------------------------------------------------------------------------------------
# numpy (and harness.metrics, built on it) is imported by each scorer, not by this module: `harness list`
# imports every task module for its protocols and splits, and never scores.

def score_accuracy(judgments: Sequence[Judgment]) -> Scoring:
    """`accuracy`: the share of judged items whose outcome is correct (an invalid reply is wrong); GenAI-Bench's
    4-way accuracy (no vote = wrong) and ShareGPTVideo's pair accuracy."""
    import numpy as np

    scored = [j for j in judgments if j.status != "error"]
    correct = np.array([bool(j.outcome.get("correct")) for j in scored], dtype=bool)

    def compute(idx: np.ndarray) -> dict[str, float]:
        return {"accuracy": 100.0 * float(correct[idx].mean()) if idx.size else float("nan")}

    return Scoring(compute, [j.sample_id for j in scored], correct=correct,
                   accuracy_rows={"accuracy": np.ones(correct.size, dtype=bool)})


def score_script_accuracy(judgments: Sequence[Judgment]) -> Scoring:
    """The authors' Qwen scripts' two numbers: `accuracy` = correct / all items (a human tie the script skips
    counts as asked and wrong) and `accuracy_without_ties` = correct non-tie items / non-tie items."""
    import numpy as np

    scored = [j for j in judgments if j.status != "error"]
    correct = np.array([bool(j.outcome.get("correct")) for j in scored], dtype=bool)
    tie = np.array([j.outcome.get("h") == 0 for j in scored], dtype=bool)

    def compute(idx: np.ndarray) -> dict[str, float]:
        c, t = correct[idx], tie[idx]
        return {"accuracy": 100.0 * float(c.mean()) if idx.size else float("nan"),
                "accuracy_without_ties": 100.0 * float(c[~t].mean()) if (~t).any() else float("nan")}

    return Scoring(compute, [j.sample_id for j in scored], details={"n_human_ties": int(tie.sum())},
                   correct=correct, accuracy_rows={"accuracy": np.ones(correct.size, dtype=bool),
                                                   "accuracy_without_ties": ~tie})


def qwen_script_verdict(text: str, noun: str) -> int:
    """The Qwen scripts' reading: "<Noun> 1 is better" -> 1 (A), else "<Noun> 2 is better" -> -1 (B), else 0."""
    return 1 if f"{noun} 1 is better" in text else -1 if f"{noun} 2 is better" in text else 0


def score_three_way(judgments: Sequence[Judgment]) -> Scoring:
    """tau and diff (harness.metrics.three_way) over the verdicts of a generative judge."""
    import numpy as np
    from harness.metrics import three_way

    scored = [j for j in judgments if j.status != "error"]
    correct = np.array([bool(j.outcome.get("correct")) for j in scored], dtype=bool)
    tie = np.array([j.outcome.get("h") == 0 for j in scored], dtype=bool)

    def compute(idx: np.ndarray) -> dict[str, float]:
        tau, diff = three_way(correct[idx], tie[idx])
        return {"tau": tau, "diff": diff}

    return Scoring(compute, [j.sample_id for j in scored], details={"n_human_ties": int(tie.sum())},
                   correct=correct, accuracy_rows={"tau": np.ones(correct.size, dtype=bool), "diff": ~tie})


#: A scalar scorer's accuracy by difficulty: buckets at the quartiles of |score margin| (`accuracy/abs_margin/q<k>`).
MARGIN_QUANTILES = 4
#: Equal-width bins of the reliability diagram of P(A preferred).
CALIBRATION_BINS = 10
SCALE_RULE = "the median |m| over the pairs humans did not tie"


def score_margins(judgments: Sequence[Judgment]) -> Scoring:
    """A scalar scorer's margins m = score(A) - score(B) against h: accuracy with ties (VideoAlign's
    algorithm, and the calibrated variant) and without ties, in %. Pairs without two finite scores are
    `invalid` and left out (counted in n_invalid).

    Reliability (docs/reliability.md, "Generation tasks"), over the pairs humans did not tie (those
    accuracy_without_ties counts): `accuracy/abs_margin/q1..q4`, accuracy_without_ties per quartile of |m|
    (tied quartiles merge, so there can be fewer), and `ece` (x100), the expected calibration error of
    P(A preferred) = 1 / (1 + exp(-m / scale)) against "humans preferred A", scale = the median |m|. The
    quartile edges and the scale are the whole run's: a bootstrap replicate redraws the pairs, not them.
    No `compute_many`: the tie-calibrated accuracy sorts each replicate, a loop of milliseconds."""
    import numpy as np
    from harness.metrics import accuracy_with_ties, accuracy_without_ties

    scored = [j for j in judgments if j.status == "ok"]
    h = np.array([j.outcome["h"] for j in scored], dtype=float)
    m = np.array([j.outcome["margin"] for j in scored], dtype=float)
    difficulty = MarginReliability.of(h, m)

    def compute(idx: np.ndarray) -> dict[str, float]:
        return {"accuracy_with_ties": 100.0 * accuracy_with_ties(h[idx], m[idx], "videoalign"),
                "accuracy_with_ties/calibrated": 100.0 * accuracy_with_ties(h[idx], m[idx], "calibrated"),
                "accuracy_without_ties": 100.0 * accuracy_without_ties(h[idx], m[idx]),
                **difficulty.metrics(idx)}

    return Scoring(compute, [j.sample_id for j in scored],
                   details={"n_human_ties": int((h == 0).sum()), **difficulty.details()})


@dataclass(frozen=True)
class MarginReliability:
    """A scalar scorer's accuracy by difficulty and calibration from its margins m against the human labels h
    (+1 A preferred, -1 B, 0 tie), over the pairs humans did not tie: `accuracy/abs_margin/q<k>` and `ece`. The
    quartile edges and the scale are the whole run's (a bootstrap replicate redraws pairs, not them)."""

    correct: np.ndarray
    counted: np.ndarray
    buckets: Buckets
    calibration: "_Calibration"

    @classmethod
    def of(cls, h: np.ndarray, m: np.ndarray) -> "MarginReliability":
        from harness.calibration import margin_correct

        correct, counted = margin_correct(h, m)
        return cls(correct, counted, _abs_margin_buckets(m, counted), _Calibration.of(h, m, counted))

    def metrics(self, idx: np.ndarray) -> dict[str, float]:
        from harness.calibration import bucket_accuracy

        return {**bucket_accuracy(self.correct, self.counted, self.buckets, idx, prefix="accuracy/abs_margin"),
                "ece": self.calibration.ece(idx)}

    def details(self) -> dict[str, Any]:
        import numpy as np

        calibration, buckets, counted = self.calibration, self.buckets, self.counted
        return {"abs_margin": {"buckets": list(buckets.names), "edges": list(buckets.edges),
                               "over": "pairs humans did not tie",
                               "counted": np.bincount(buckets.codes[counted], minlength=len(buckets.names)).tolist()},
                "calibration": {"probability": "P(A preferred) = 1 / (1 + exp(-m / scale))",
                                "scale": calibration.scale, "scale_rule": calibration.rule,
                                "event": "humans preferred A (pairs humans tied left out)",
                                "bins": CALIBRATION_BINS, "n": int(counted.sum()),
                                "diagram": calibration.diagram(np.arange(counted.size)).as_dict()}}


def _abs_margin_buckets(m: np.ndarray, counted: np.ndarray) -> Buckets:
    """Quartile buckets of |m|, the edges taken over the counted pairs (so each quartile holds about a quarter of
    what the accuracy counts) and applied to every pair."""
    import numpy as np
    from harness.calibration import Buckets, quantile_buckets

    size = np.abs(m)
    quartiles = quantile_buckets(size[counted], MARGIN_QUANTILES)
    codes = np.searchsorted(np.asarray(quartiles.edges, dtype=float), size, side="right").astype(np.intp)
    return Buckets(codes, quartiles.names, quartiles.edges)


@dataclass(frozen=True)
class _Calibration:
    """Every pair's P(A preferred) from its margin, the scale fixed once for the run, and whether humans
    preferred A; only the `counted` pairs (humans did not tie) enter the diagram."""

    probability: np.ndarray
    preferred_a: np.ndarray
    counted: np.ndarray
    scale: float
    rule: str

    @classmethod
    def of(cls, h: np.ndarray, m: np.ndarray, counted: np.ndarray) -> "_Calibration":
        import numpy as np
        from harness.calibration import preference_probability

        median = float(np.median(np.abs(m[counted]))) if counted.any() else None
        if median is not None and median > 0:
            scale, rule = median, SCALE_RULE
        else:  # a scale must be positive: with no counted pair, or half of them at m = 0, it is 1.0 (and says so)
            scale, rule = 1.0, f"1.0, because {SCALE_RULE} is {'undefined' if median is None else '0'}"
        return cls(preference_probability(m, scale), (h == 1).astype(float), counted, scale, rule)

    def diagram(self, idx: np.ndarray) -> ReliabilityDiagram:
        from harness.calibration import reliability_diagram

        rows = idx[self.counted[idx]]
        return reliability_diagram(self.probability[rows], self.preferred_a[rows], CALIBRATION_BINS)

    def ece(self, idx: np.ndarray) -> float:
        """ECE x100 over the counted pairs among `idx`; NaN when there is none."""
        return 100.0 * self.diagram(idx).ece


def margin_outcome(exchanges: Sequence[tuple[Request, Any]],
                   h: int) -> tuple[Literal["ok", "invalid"], Mapping[str, Any], str | None]:
    """(status, outcome, reason) for a pair scored by a scalar scorer."""
    scores = {req.meta["candidate"]: reply.score for req, reply in exchanges}
    bad = [name for name, s in scores.items() if s is None or not math.isfinite(s)]
    if bad:
        return "invalid", {"h": h, "scores": scores}, f"no finite score for candidate {', '.join(bad)}"
    margin = float(scores["A"]) - float(scores["B"])
    return "ok", {"h": h, "scores": scores, "margin": margin}, None


def edit_rank_requests(sample: Sample, cfg: Any, instruction: str, source: MediaRef, first: MediaRef,
                       second: MediaRef, gold_as_given: int) -> list[Request]:
    """The UnifiedReward-Edit pair ranking (`unifiedreward` protocol of both EditReward-Benches): the source image,
    the two edits in the seeded order (the other one with `--orders both`) and the family's prompt
    (`reward.families`, `edit_pair_rank.txt`, as GenAI-Bench edit sends it). `gold_as_given`: the position (1 or 2,
    0 for a human tie) of the better edit in the order given; the request's `gold` is it as shown."""
    from reward.families import FAMILIES, IMAGE_EDIT_PAIR_RANK

    prompt = FAMILIES["unifiedreward-edit"].prompt(IMAGE_EDIT_PAIR_RANK)
    swapped = seeded_swap(cfg.seed, sample.id) != cfg.flip_order  # --orders both: the other order
    shown = (second, first) if swapped else (first, second)
    gold = 3 - gold_as_given if swapped and gold_as_given else gold_as_given
    return [Request(sample.id, sample.id, prompt.render({"instruction": instruction}, (source, *shown)),
                    prompt.generation, meta={"swapped": swapped, "gold": gold})]


def family_three_way(prompt: Any, text: str, gold: int, outcome: dict[str, Any]) -> Parsed:
    """A reply read with its judge family's parser (`reward.family_parsers`, e.g. Think's <answer> tag) as the signed
    verdict of the pairwise generation tasks: +1 the first shown is better, -1 the second, 0 a tie."""
    verdict = prompt.parse(text)
    predicted = {1: 1, 2: -1, 0: 0}.get(verdict.choice)
    outcome.update(verdict=predicted, correct=predicted == gold)
    return Parsed("ok" if verdict.ok else "invalid", outcome, verdict.reason)
