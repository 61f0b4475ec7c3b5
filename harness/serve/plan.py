"""A request's items as judge calls (`Ask`s), and the judges' replies combined into the items the service answers.

Pointwise: one call per item. Its value is the template's score (the mean of the dimensions the template asks
for) or a scalar scorer's number.

Pairwise: one call per order. With `orders: "one"` the judge sees A first; with `"both"` it also sees B first.
Each order's verdict is mapped back to the underlying candidate (`verdicts`: "a", "b", "tie" or null when the
reply could not be read), `preference` is P(A better) = the mean over the readable verdicts of 1 / 0 / 0.5, and
`consistent` says whether both orders chose the same candidate. A judge that always prefers the first shown gets
preference 0.5 and consistent false: its position bias is visible, not averaged away unnoticed. A scalar scorer
scores A and B (order cannot matter to it) and prefers the higher score.

Group: `pointwise` scores every candidate; `pairwise` judges every pair i < j (in one or both orders) and a
candidate's reward is its win rate: the mean of P(it is better) over its pairs (a scorer's candidates are
scored once each and compared). Rewards come from the items' values: under `report` a candidate any of whose
items failed gets null, under `skip` failed items are left out of its mean (null when none is left), under
`value:X` a failed item counts as X (for a failed pair: P(first candidate better) = X).

Nothing failed is ever given 0, 0.5 or a mean: a failed item is `ok: false` with its reason, and its value is
null unless the caller asked for `value:X`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from itertools import combinations
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..judging import Exchange
from ..records import Generation, MediaRef, Part, Request
from .schema import Candidate, FailurePolicy, GroupBody, Image, Modality, Options, PairwiseBody, PointwiseBody
from .templates import Endpoint, Template, TemplateSet

#: P(A better) of an underlying verdict.
PREFERENCE = {"a": 1.0, "b": 0.0, "tie": 0.5}


@dataclass(frozen=True)
class Ask:
    """One judge call: the request, and the template its reply is read with (None: a scalar scorer's number)."""

    request: Request
    template: Template | None


@dataclass(frozen=True)
class Outcome:
    """What one call gave. `failure`: "media" (unreadable input), "judge" (the adapter failed) or "parse" (the
    reply holds no score or verdict); None when ok. `choice`: a pairwise reply's verdict in the order shown
    (1, 2, or 0 for a tie); `value`: a pointwise score."""

    ok: bool
    raw: str | None = None
    value: float | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    choice: int | None = None
    reason: str | None = None
    failure: str | None = None
    finished: float = 0.0


def outcome_of(exchange: Exchange, template: Template | None) -> Outcome:
    """Read one exchange: a failed call, a scorer's number, or the template's parse of the reply."""
    reply, now = exchange.reply, time.perf_counter()
    if not reply.ok:
        failure = "media" if exchange.prompt_hash is None else "judge"
        return Outcome(False, reason=reply.error, failure=failure, finished=now)
    if template is None:
        score = reply.score
        if score is None or not math.isfinite(score):
            return Outcome(False, raw=reply.text, reason=f"the scorer returned no finite score ({score!r})",
                           failure="parse", finished=now)
        return Outcome(True, raw=repr(score), value=float(score), finished=now)
    verdict = template.read(reply.text)
    if not verdict.ok:
        return Outcome(False, raw=reply.text, reason=verdict.reason, failure="parse", finished=now)
    if template.slot[0] == "pairwise":
        if verdict.choice is None:
            return Outcome(False, raw=reply.text, reason="the reply names no better candidate", failure="parse",
                           finished=now)
        return Outcome(True, raw=reply.text, choice=verdict.choice, finished=now)
    if not verdict.scores:
        return Outcome(False, raw=reply.text, reason="the reply holds no score", failure="parse", finished=now)
    scores = dict(verdict.scores)
    return Outcome(True, raw=reply.text, value=sum(scores.values()) / len(scores), scores=scores, finished=now)


@dataclass(frozen=True)
class Answer:
    """The combined answer of one request: its items, and for a group the per-candidate rewards."""

    items: list[dict[str, Any]]
    rewards: list[float | None] | None = None
    #: Per candidate of a group: whether every item its reward reads succeeded (the success mask).
    rewards_ok: list[bool] | None = None

    @property
    def failed(self) -> list[int]:
        return [item["index"] for item in self.items if not item["ok"]]


@dataclass(frozen=True)
class Plan:
    """The calls a request needs, and how their outcomes (in the same order) become its answer."""

    asks: list[Ask]
    combine: Callable[[Sequence[Outcome], float], Answer]
    template: Template | None  # None: a scalar scorer's numbers, read with no template
    policy: FailurePolicy = FailurePolicy()


# ---- building the calls ---------------------------------------------------------------------------------------

class Planner:
    """Builds a request's calls: `templates` for a generative judge, numbers for a scalar scorer (`scorer`)."""

    def __init__(self, templates: TemplateSet, scorer: bool, new_key: Callable[[], str]):
        self.templates = templates
        self.scorer = scorer
        self.new_key = new_key

    def template(self, endpoint: Endpoint, modality: Modality) -> Template | None:
        """The template of a slot; a scalar scorer reads none (it is sent the caption and the media)."""
        return None if self.scorer else self.templates.get(endpoint, modality)

    def pointwise(self, body: PointwiseBody) -> Plan:
        template = self.template("pointwise", body.modality)
        asks = [self._score(item.prompt, item.candidate, template, body.options) for item in body.items]

        def combine(outcomes: Sequence[Outcome], started: float) -> Answer:
            return Answer([point_item(i, o, body.options, started) for i, o in enumerate(outcomes)])

        return Plan(asks, combine, template, body.options.on_failure)

    def pairwise(self, body: PairwiseBody) -> Plan:
        template = self.template("pairwise", body.modality)
        calls = [self._compare(item.prompt, item.a, item.b, template, body.options, f"items[{i}]")
                 for i, item in enumerate(body.items)]
        per_item = len(calls[0])

        def combine(outcomes: Sequence[Outcome], started: float) -> Answer:
            return Answer([self._pair_item(i, outcomes[i * per_item:(i + 1) * per_item], body.options, started)
                           for i in range(len(calls))])

        return Plan([ask for asks in calls for ask in asks], combine, template, body.options.on_failure)

    def group(self, body: GroupBody) -> Plan:
        options = body.options
        template = self.template(body.mode, body.modality)
        n = len(body.candidates)
        pairs = list(combinations(range(n), 2))
        if body.mode == "pointwise" or self.scorer:
            asks = [self._score(body.prompt, c, template, options) for c in body.candidates]
        else:
            asks = [ask for i, j in pairs for ask in self._compare(
                body.prompt, body.candidates[i], body.candidates[j], template, options, f"candidates[{i}],[{j}]")]

        def combine(outcomes: Sequence[Outcome], started: float) -> Answer:
            if body.mode == "pointwise":
                items = [point_item(i, o, options, started) for i, o in enumerate(outcomes)]
                return Answer(items, [item["value"] for item in items], [item["ok"] for item in items])
            if self.scorer:  # each candidate scored once; every pair compares two of those scores
                items = [pair_item(k, [(outcomes[i], outcomes[j])], options, started, scorer=True)
                         for k, (i, j) in enumerate(pairs)]
            else:
                per_pair = len(outcomes) // len(pairs)
                items = [self._pair_item(k, outcomes[k * per_pair:(k + 1) * per_pair], options, started)
                         for k in range(len(pairs))]
            for item, (i, j) in zip(items, pairs):
                item.update(a=i, b=j)
            complete = [True] * n
            for item in items:
                if not item["ok"]:
                    complete[item["a"]] = complete[item["b"]] = False
            return Answer(items, win_rates(items, n, options.on_failure), complete)

        return Plan(asks, combine, template, body.options.on_failure)

    def _pair_item(self, index: int, outcomes: Sequence[Outcome], options: Options, started: float) -> dict[str, Any]:
        """A pairwise item from its calls: a scorer's (A, B) scores, or a judge's one or two orders."""
        if self.scorer:
            return pair_item(index, [(outcomes[0], outcomes[1])], options, started, scorer=True)
        return pair_item(index, [(o,) for o in outcomes], options, started)

    def _score(self, prompt: str, candidate: Candidate, template: Template | None, options: Options) -> Ask:
        media = media_refs(candidate)
        if template is None:
            return Ask(self._request((prompt, *media), None, options), None)
        return Ask(self._request(template.render(prompt, media, candidate.label), template, options), template)

    def _compare(self, prompt: str, a: Candidate, b: Candidate, template: Template | None, options: Options,
                 where: str) -> list[Ask]:
        """The calls of one comparison: A first (and B first, for both orders); a scorer's two scores."""
        if template is None:
            return [self._score(prompt, a, template, options), self._score(prompt, b, template, options)]
        first, second = media_refs(a), media_refs(b)
        orders = [(first, second)] + ([(second, first)] if options.orders == "both" else [])
        return [Ask(self._request(template.render(prompt, [*x, *y], where), template, options), template)
                for x, y in orders]

    def _request(self, parts: tuple[Part, ...], template: Template | None, options: Options) -> Request:
        key = self.new_key()
        generation = template.generation(options.generation) if template is not None else Generation()
        return Request(key=key, sample_id=key, parts=parts, generation=generation)


def media_refs(candidate: Candidate) -> list[MediaRef]:
    """How the judge client reads a candidate: image bytes in memory (the cache keys on their hash either way),
    a path, a video's frames as images, or a video file sampled to its frames and size."""
    if isinstance(candidate, Image):
        return [_image_ref(candidate)]
    if candidate.frames:
        return [replace(_image_ref(frame), video_frame=True) for frame in candidate.frames]
    return [MediaRef("video", candidate.label, path=Path(str(candidate.path)), frames=candidate.n_frames,
                     sampling="linspace", resize=candidate.size)]


def _image_ref(image: Image) -> MediaRef:
    if image.path is not None:
        return MediaRef("image", image.label, path=Path(image.path))
    data = image.data or b""
    return MediaRef("image", image.label, loader=lambda: data)


# ---- combining ------------------------------------------------------------------------------------------------

def _finish(item: dict[str, Any], policy: FailurePolicy) -> dict[str, Any]:
    """A failed item's value under the caller's policy: null, or the X of `value:X` (the reason stays)."""
    if not item["ok"]:
        item["value"] = policy.value if policy.mode == "value" else None
    return item


def point_item(index: int, outcome: Outcome, options: Options, started: float) -> dict[str, Any]:
    item: dict[str, Any] = {"index": index, "ok": outcome.ok, "value": outcome.value if outcome.ok else None,
                            "reason": outcome.reason, "failure": outcome.failure,
                            "latency_s": round(max(0.0, outcome.finished - started), 6)}
    if outcome.scores:
        item["scores"] = dict(outcome.scores)
    if options.return_raw:
        item["raw"] = outcome.raw
    return _finish(item, options.on_failure)


def pair_item(index: int, calls: Sequence[tuple[Outcome, ...]], options: Options, started: float,
              scorer: bool = False) -> dict[str, Any]:
    """A pairwise item. `calls`: one `(outcome,)` per order for a judge (A first, then B first), or one
    `(score of A, score of B)` for a scorer."""
    verdicts: list[str | None] = []
    reasons: list[str] = []
    for k, call in enumerate(calls):
        if scorer:
            verdict, reason = _score_verdict(call[0], call[1])
        else:
            verdict, reason = _judge_verdict(call[0], swapped=k == 1)
        verdicts.append(verdict)
        if reason is not None:
            reasons.append(reason if len(calls) == 1 else f"order {k + 1} ({'B' if k else 'A'} first): {reason}")
    readable = [v for v in verdicts if v is not None]
    preference = sum(PREFERENCE[v] for v in readable) / len(readable) if readable else None
    consistent = verdicts[0] == verdicts[1] if len(verdicts) == 2 and len(readable) == 2 else None
    outcomes = [o for call in calls for o in call]
    failure = None if readable else next((o.failure for o in outcomes if not o.ok), "parse")
    item: dict[str, Any] = {"index": index, "ok": bool(readable), "value": preference,
                            "reason": "; ".join(reasons) or None, "failure": failure,
                            "latency_s": round(max(0.0, max(o.finished for o in outcomes) - started), 6),
                            "preference": preference, "verdicts": verdicts, "consistent": consistent}
    if options.return_raw:
        item["raw"] = outcomes[0].raw
        if len(outcomes) > 1:
            item["raws"] = [o.raw for o in outcomes]
    return _finish(item, options.on_failure)


def _judge_verdict(outcome: Outcome, swapped: bool) -> tuple[str | None, str | None]:
    """The underlying candidate a judge's verdict names: with B shown first, "1 is better" means B."""
    if not outcome.ok:
        return None, outcome.reason
    if outcome.choice == 0:
        return "tie", None
    first, second = ("b", "a") if swapped else ("a", "b")
    return (first if outcome.choice == 1 else second), None


def _score_verdict(a: Outcome, b: Outcome) -> tuple[str | None, str | None]:
    failed = [f"{name}: {o.reason}" for name, o in (("A", a), ("B", b)) if not o.ok]
    if failed:
        return None, "; ".join(failed)
    assert a.value is not None and b.value is not None
    return ("a" if a.value > b.value else "b" if b.value > a.value else "tie"), None


def win_rates(items: Sequence[Mapping[str, Any]], n: int, policy: FailurePolicy) -> list[float | None]:
    """Each candidate's mean P(better) over its pairs, from the pair items' values (see the module docstring
    for what a failed pair does under each policy)."""
    shares: list[list[float | None]] = [[] for _ in range(n)]
    for item in items:
        value = item["value"]
        shares[item["a"]].append(value)
        shares[item["b"]].append(None if value is None else 1.0 - value)
    rewards: list[float | None] = []
    for values in shares:
        known = [v for v in values if v is not None]
        incomplete = len(known) < len(values) and policy.mode != "skip"
        rewards.append(None if incomplete or not known else sum(known) / len(known))
    return rewards
