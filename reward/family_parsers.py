"""Reply parsers of the UnifiedReward judge families (`reward.families`): raw reply text -> `Verdict`.

One small function per output format the authors' scripts ask for:
- `pair_rank`: "Answer 1 is better", "Image 2 is better than Image 1", "Both videos are equally good"
  (UnifiedReward 1.0, -qwen and 2.0 pairwise rank);
- `think_answer`: a `<think>...</think>` rationale, then `<answer>Image 1 is better</answer>` (UnifiedReward-Think);
- `dimension_scores`: "Alignment Score (1-5): 3.2" per dimension (2.0 pointwise);
- `dimension_pair_scores`: "Alignment Score:\\n Image 1: 0.4\\n Image 2: 0.6" per dimension (2.0 pairwise score);
- `final_score`: the number after "Final Score:" (1.0 pointwise);
- `edit_pair_rank`, `edit_pair_scores`, `score_list`: UnifiedReward-Edit's pairwise rank, pairwise score and the
  `"score" : [a, b]` list of its two pointwise prompts.

A reply these parsers cannot read is `invalid` with a reason naming what was missing; nothing is ever filled in
with a default (a missing dimension is not its mean, an unreadable rank is not a tie). Regexes only; nothing a
model writes is evaluated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal, Mapping

_MARKDOWN = re.compile(r"[*_`#]+")
_NUMBER = r"[-+]?\d+(?:\.\d+)?"


@dataclass(frozen=True)
class Verdict:
    """What one reply says. `choice`: for a pairwise reply, 1 or 2 (that candidate is better) or 0 (equally
    good). `scores`: pointwise scores by dimension; `pair_scores`: (candidate 1, candidate 2) by dimension.
    `rationale`: a Think reply's `<think>` text."""

    status: Literal["ok", "invalid"]
    choice: int | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    pair_scores: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    reason: str | None = None
    rationale: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def invalid(reason: str, rationale: str | None = None) -> Verdict:
    return Verdict("invalid", reason=reason, rationale=rationale)


def _clean(text: str) -> str:
    """Markdown emphasis and heading marks dropped, runs of spaces and tabs collapsed (line breaks kept)."""
    return re.sub(r"[ \t]+", " ", _MARKDOWN.sub("", text))


def _empty(text: str | None) -> bool:
    return text is None or not text.strip()


def pair_rank(text: str | None, noun: str) -> Verdict:
    """"<Noun> N is better" (optionally "... than <Noun> M") or "Both <noun>s are equally good": exactly one of
    the three outcomes must be stated; none, or more than one, is invalid."""
    if _empty(text):
        return invalid("empty reply")
    clean = _clean(text or "")
    better = {int(n) for n in re.findall(rf"\b{noun}\s*([12])\s+is\s+(?:the\s+)?better\b", clean, re.IGNORECASE)}
    tie = re.search(rf"\bboth\s+{noun}s?\s+are\s+equally\s+good\b", clean, re.IGNORECASE) is not None
    outcomes = better | ({0} if tie else set())
    if len(outcomes) == 1:
        return Verdict("ok", choice=outcomes.pop())
    if not outcomes:
        return invalid(f"no '{noun} 1 is better', '{noun} 2 is better' or 'Both {noun.lower()}s are equally good'")
    return invalid("the reply states more than one verdict")


_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)


def think_answer(text: str | None, noun: str) -> Verdict:
    """A Think reply: its `<answer>` tag (every one, if several, must agree) must hold exactly "<Noun> 1 is better"
    or "<Noun> 2 is better" (case, surrounding quotes and a final period aside). The `<think>` text is kept as the
    rationale; its "Total score" lines, when present, become `pair_scores["total"]`. The verdict is read from the
    tag only: a rationale that mentions "Image 1 is better" decides nothing."""
    if _empty(text):
        return invalid("empty reply")
    body = text or ""
    think = _THINK.search(body)
    rationale = think.group(1).strip() if think else None
    answers = [a.strip().strip("'\"").rstrip(".").strip() for a in _ANSWER.findall(body)]
    if not answers:
        if re.search(r"<think>", body, re.IGNORECASE) and not think:
            return invalid("the reply ends inside <think> (no </think>, no <answer>): cut off by max_new_tokens?",
                           re.split(r"<think>", body, maxsplit=1, flags=re.IGNORECASE)[-1].strip())
        return invalid("no <answer>...</answer> tag", rationale)
    choices = set()
    for answer in answers:
        match = re.fullmatch(rf"{noun}\s*([12])\s+is\s+better", answer, re.IGNORECASE)
        if match is None:
            return invalid(f"<answer> holds {answer[:80]!r}, not '{noun} 1 is better' or '{noun} 2 is better'",
                           rationale)
        choices.add(int(match.group(1)))
    if len(choices) > 1:
        return invalid("the <answer> tags disagree", rationale)
    totals = _totals(rationale or "", noun)
    return Verdict("ok", choice=choices.pop(), pair_scores={"total": totals} if totals else {}, rationale=rationale)


def _totals(rationale: str, noun: str) -> tuple[float, float] | None:
    """The rationale's "Total score: / <Noun> 1: 9+8+7=24 / <Noun> 2: ..." sums, when both are there."""
    found = {}
    for n in (1, 2):
        match = re.search(rf"{noun}\s*{n}\s*:\s*[\d.+\s]*=\s*({_NUMBER})", rationale.split("Total score", 1)[-1],
                          re.IGNORECASE)
        if match:
            found[n] = float(match.group(1))
    return (found[1], found[2]) if len(found) == 2 and "Total score" in rationale else None


def _dimension_value(clean: str, label: str) -> tuple[float | None, str | None]:
    values = {float(v) for v in re.findall(label, clean, re.IGNORECASE)}
    if not values:
        return None, None
    if len(values) > 1:
        return None, f"{len(values)} different values"
    return values.pop(), None


def dimension_scores(text: str | None, dimensions: tuple[str, ...], low: float, high: float) -> Verdict:
    """UnifiedReward-2.0 pointwise: "<Dimension> Score (1-5): X" for every one of `dimensions` (the authors' reward
    code reads `(\\w+) Score \\(1-5\\):\\s*([0-5](?:\\.\\d+)?)`, Pref-GRPO `fastvideo/rewards/unifiedreward.py`); each
    value within [low, high]. Scores are keyed by the lower-cased dimension name."""
    if _empty(text):
        return invalid("empty reply")
    clean = _clean(text or "")
    scores: dict[str, float] = {}
    for dim in dimensions:
        value, problem = _dimension_value(clean, rf"\b{dim}\s+Score\s*\(1-5\)\s*:\s*({_NUMBER})")
        if problem:
            return invalid(f"'{dim} Score (1-5)' has {problem}")
        if value is None:
            return invalid(f"no '{dim} Score (1-5): N' in the reply")
        if not low <= value <= high:
            return invalid(f"{dim} score {value:g} outside [{low:g}, {high:g}]")
        scores[dim.lower()] = value
    return Verdict("ok", scores=scores)


def dimension_pair_scores(text: str | None, dimensions: tuple[str, ...], noun: str) -> Verdict:
    """UnifiedReward-2.0 pairwise score: per dimension a "<Dimension> Score:" block with "<Noun> 1: X" and
    "<Noun> 2: Y", each in [0, 1] (the prompt asks that the two sum to 1; that is not enforced). `choice` is the
    candidate with the larger sum over the dimensions (0 when equal): our reading, the scripts print the scores."""
    if _empty(text):
        return invalid("empty reply")
    clean = _clean(text or "")
    pairs: dict[str, tuple[float, float]] = {}
    for dim in dimensions:
        match = re.search(rf"\b{dim}\s+Score\s*:\s*{noun}\s*1\s*:\s*({_NUMBER})\s*{noun}\s*2\s*:\s*({_NUMBER})",
                          clean, re.IGNORECASE)
        if match is None:
            return invalid(f"no '{dim} Score:' block with {noun} 1 and {noun} 2 scores")
        first, second = float(match.group(1)), float(match.group(2))
        if not (0 <= first <= 1 and 0 <= second <= 1):
            return invalid(f"{dim} scores {first:g}, {second:g} outside [0, 1]")
        pairs[dim.lower()] = (first, second)
    return Verdict("ok", choice=_larger(sum(p[0] for p in pairs.values()), sum(p[1] for p in pairs.values())),
                   pair_scores=pairs)


def _larger(first: float, second: float) -> int:
    return 1 if first > second else 2 if second > first else 0


def final_score(text: str | None, low: float, high: float) -> Verdict:
    """UnifiedReward 1.0 pointwise: the number after the last "Final Score:", within [low, high]."""
    if _empty(text):
        return invalid("empty reply")
    found = re.findall(rf"Final Score\s*:\s*({_NUMBER})", _clean(text or ""), re.IGNORECASE)
    if not found:
        return invalid("no 'Final Score: N' in the reply")
    value = float(found[-1])
    if not low <= value <= high:
        return invalid(f"final score {value:g} outside [{low:g}, {high:g}]")
    return Verdict("ok", scores={"final": value})


def edit_pair_rank(text: str | None) -> Verdict:
    """UnifiedReward-Edit pairwise rank, read as the authors' reward code reads it (Pref-GRPO
    `fastvideo/rewards/unifiedreward_edit_pairwise.py`): the `<answer>` tag's text when there is one, else the
    whole reply, must say "Edited image 1 is better" or "Edited image 2 is better" (case-insensitive; "Image N is
    better" also counts), or state a tie ("Both (edited) images are equally good", choice 0). Where their code
    splits the win 0.5 / 0.5 for a reply naming neither, this is invalid: a tie is read only when it is said."""
    if _empty(text):
        return invalid("empty reply")
    body = text or ""
    answers = _ANSWER.findall(body)
    where = _clean(answers[-1] if answers else body)
    named = {int(n) for n in re.findall(r"\b(?:edited\s+)?image\s*([12])\s+is\s+better\b", where, re.IGNORECASE)}
    if re.search(r"\bboth\s+(?:edited\s+)?images?\s+are\s+equally\s+good\b", where, re.IGNORECASE):
        named.add(0)
    if len(named) == 1:
        return Verdict("ok", choice=named.pop())
    if not named:
        return invalid("no 'Edited image 1 is better', 'Edited image 2 is better' or 'Both images are equally good'")
    return invalid("the reply states more than one verdict")


def edit_pair_scores(text: str | None) -> Verdict:
    """UnifiedReward-Edit pairwise score: the first two decimal numbers of the reply are Image 1's and Image 2's
    scores, the rule of the authors' `edit_paiwise_score.py` (`re.findall(r"([0-9]+\\.[0-9]+)", ...)`), except that
    a minus sign is kept: the prompt allows negative scores and their pattern would drop the sign."""
    if _empty(text):
        return invalid("empty reply")
    found = re.findall(r"[-+]?\d+\.\d+", text or "")
    if len(found) < 2:
        return invalid(f"{len(found)} decimal score(s) in the reply; two are needed (Image 1, Image 2)")
    first, second = float(found[0]), float(found[1])
    return Verdict("ok", choice=_larger(first, second), pair_scores={"overall": (first, second)})


def score_list(text: str | None, dimensions: tuple[str, str], low: float, high: float) -> Verdict:
    """UnifiedReward-Edit pointwise: the list after `"score" :` (the prompt's `"score" : [...]`, JSON-like but with a
    trailing comma, so it is read with a regex as the authors' reward code falls back to), one number per
    dimension, each within [low, high]."""
    if _empty(text):
        return invalid("empty reply")
    match = re.search(r"[\"']?score[\"']?\s*:\s*\[([^\]]*)\]", text or "", re.IGNORECASE)
    if match is None:
        return invalid("no '\"score\" : [...]' list in the reply")
    values = [float(v) for v in re.findall(_NUMBER, match.group(1))]
    if len(values) != len(dimensions):
        return invalid(f"the score list has {len(values)} number(s); {len(dimensions)} expected "
                       f"({', '.join(dimensions)})")
    bad = [v for v in values if not (math.isfinite(v) and low <= v <= high)]
    if bad:
        return invalid(f"score {bad[0]:g} outside [{low:g}, {high:g}]")
    return Verdict("ok", scores=dict(zip(dimensions, values)))
