"""Judge reliability: how a pairwise judge's verdicts hold up when the answers are swapped or sampled again.

Everything here works on *underlying choices*: which of the two responses a verdict picks, whatever order it
was shown in. Codes (int8 arrays): `RESPONSE_0` (the dataset's first response, "A"), `RESPONSE_1`, `TIE`,
`INVALID` (no verdict could be read). A task's outcome names positions ("Answer 2 is better" with the pair
swapped); a *view* (`positional_view`, `signed_view`) turns one outcome into an `OrderVerdict` (the
underlying choice, the underlying gold, and which response was shown first), and `OrderedVerdicts` holds an
item's verdicts in both orders: `forward` (response 0 shown first) and `reverse` (response 1 shown first),
one per sample.

Metrics follow `harness.metrics`: functions of an index array over ITEMS, so a bootstrap replicate resamples
items (both orders and every sample of an item travel together), never single judgments; each has a
vectorised `_many` form equal row by row, bit for bit. Definitions (docs/reliability.md, "Reliability metrics"):

- `swap_consistency`: % of items whose two orders pick the same underlying response (both `TIE` counts as the
  same). An item with an invalid verdict in either order is inconsistent (it stays in the denominator), so a
  judge cannot look consistent by failing to answer.
- `first_position_rate`: % of the verdicts that pick a response (ties and invalid replies excluded: they pick
  no position) that pick the one shown first; 50 is unbiased, NaN when no verdict picks a response.
- `accuracy/both_orders` / `accuracy/either_order`: % of items whose verdict equals the gold choice in both /
  at least one order (an invalid verdict is wrong; a `TIE` verdict is right only on a human tie).
- With K samples per order, an order's verdict for consistency and accuracy is its samples' plurality
  (`plurality`, `INVALID` when there is none); `first_position_rate` counts every sample.
- Repeated sampling (`Votes`): `accuracy/majority_vote` (% of items whose plurality verdict over all their
  samples is the gold; an item without a unique plurality is wrong), `vote_tie_rate` (% of items whose valid
  verdicts tie for the most votes), `vote_agreement` (mean over items of the share of samples giving the
  plurality verdict, invalid replies counted in the share's denominator and never the plurality, in %), and
  the per-item entropy of the samples' outcomes in bits (`INVALID` an outcome of its own: at most log2(4) = 2),
  summarised as `vote_entropy/mean` and `vote_entropy/p<q>`.

Record ids when a run judges an item more than once: `record_id(item, swapped, sample)` (`<id>`,
`<id>::swapped`, `<id>::s<k>`, `<id>::swapped::s<k>`); `items_from_records` groups a task's records back into
`OrderedVerdicts`. numpy is imported inside the functions, as in harness.metrics.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from .metrics import ratio_pct

if TYPE_CHECKING:
    import numpy as np

    from .metrics import Compute, ComputeMany
    from .records import Judgment
    from .task import Scoring

RESPONSE_0, RESPONSE_1, TIE, INVALID = 0, 1, 2, -1
CHOICES = (RESPONSE_0, RESPONSE_1, TIE, INVALID)

SWAP_CONSISTENCY = "swap_consistency"
FIRST_POSITION_RATE = "first_position_rate"
ACCURACY_BOTH_ORDERS = "accuracy/both_orders"
ACCURACY_EITHER_ORDER = "accuracy/either_order"
ACCURACY_MAJORITY_VOTE = "accuracy/majority_vote"
VOTE_AGREEMENT = "vote_agreement"
VOTE_TIE_RATE = "vote_tie_rate"
ENTROPY_QUANTILES = (0.5, 0.9)


# ---- one outcome -> its underlying choice -----------------------------------------------------------------

@dataclass(frozen=True)
class OrderVerdict:
    """One judgment in underlying terms: `choice` and `gold` are choice codes, `first` the response shown first."""

    choice: int
    gold: int
    first: int


def position_choice(position: Any, swapped: bool, names: tuple[Any, Any] = (1, 2), tie: Any = None) -> int:
    """The underlying choice of a verdict naming a shown position (`names[0]` first, `names[1]` second; `tie`
    for "equally good"). Shown first is response 0 unless `swapped`. Anything else (None, a third number) is
    `INVALID`. Booleans are never positions (True == 1 in Python)."""
    if isinstance(position, bool) or position is None:
        return INVALID
    if tie is not None and position == tie:
        return TIE
    if position == names[0] or position == names[1]:
        return (0 if position == names[0] else 1) ^ int(swapped)
    return INVALID


def positional_view(outcome: Mapping[str, Any], names: tuple[Any, Any] = (1, 2), tie: Any = None) -> OrderVerdict:
    """An outcome with `verdict` (the position named), `gold` (the position the better response is shown at, or
    `tie` for a human tie) and `swapped` (response 1 shown first): VL-RewardBench (1/2), EditReward-Bench (1/2,
    tie 0), Multimodal RewardBench ("A"/"B")."""
    swapped = _swapped(outcome)
    gold = position_choice(outcome.get("gold"), swapped, names, tie)
    if gold == INVALID:
        raise ValueError(f"outcome field 'gold' {outcome.get('gold')!r} is not one of {names}"
                         + (f" or {tie!r}" if tie is not None else ""))
    return OrderVerdict(position_choice(outcome.get("verdict"), swapped, names, tie), gold, int(swapped))


def signed_view(outcome: Mapping[str, Any]) -> OrderVerdict:
    """An outcome in the pairwise generation tasks' signed form: `verdict` +1 (the first shown is better), -1
    (the second), 0 (a tie) or None; `h` the human label of the dataset's order (+1 A, -1 B, 0 tie); `swapped`
    (B shown first): GenAI-Bench, VideoGen-RewardBench."""
    swapped = _swapped(outcome)
    h = outcome.get("h")
    if isinstance(h, bool) or h not in (1, -1, 0):
        raise ValueError(f"outcome field 'h' {h!r} is not 1, -1 or 0")
    gold = {1: RESPONSE_0, -1: RESPONSE_1, 0: TIE}[h]
    verdict = outcome.get("verdict")
    return OrderVerdict(position_choice(verdict, swapped, names=(1, -1), tie=0), gold, int(swapped))


def _swapped(outcome: Mapping[str, Any]) -> bool:
    swapped = outcome.get("swapped")
    if not isinstance(swapped, bool):
        raise ValueError(f"outcome field 'swapped' must be true or false, not {swapped!r}")
    return swapped


OutcomeView = Callable[[Mapping[str, Any]], OrderVerdict]


# ---- an item's verdicts in both orders --------------------------------------------------------------------

@dataclass(frozen=True)
class OrderedVerdicts:
    """One item's verdicts as underlying choices: `forward` with response 0 shown first, `reverse` with response
    1 shown first, one entry per sample (an order not judged is empty)."""

    item_id: str
    gold: int
    forward: tuple[int, ...] = ()
    reverse: tuple[int, ...] = ()

    @classmethod
    def of(cls, item_id: str, verdicts: Sequence[OrderVerdict]) -> "OrderedVerdicts":
        """The item's judgments (any orders, in sample order); they must agree on the gold choice."""
        if not verdicts:
            raise ValueError(f"item {item_id!r}: no verdicts")
        golds = {v.gold for v in verdicts}
        if len(golds) != 1:
            raise ValueError(f"item {item_id!r}: its judgments disagree on the gold choice ({sorted(golds)})")
        return cls(item_id, golds.pop(), tuple(v.choice for v in verdicts if v.first == RESPONSE_0),
                   tuple(v.choice for v in verdicts if v.first == RESPONSE_1))


def pair_from_outcomes(item_id: str, shown: Mapping[str, Any], swapped: Mapping[str, Any],
                       view: OutcomeView = positional_view) -> OrderedVerdicts:
    """Two outcomes of one item, as shown and swapped, as an `OrderedVerdicts` (checked: they must show
    different responses first)."""
    a, b = view(shown), view(swapped)
    if a.first == b.first:
        raise ValueError(f"item {item_id!r}: both outcomes show response {a.first} first; one must be swapped")
    return OrderedVerdicts.of(item_id, [a, b])


_SUFFIXED = re.compile(r"(?P<item>.*?)(?P<swapped>::swapped)?(?:::s(?P<sample>[1-9][0-9]*))?\Z", re.DOTALL)


def record_id(item_id: str, swapped: bool, sample: int) -> str:
    """The id of an item's record in the swapped order and/or for a sample after the first; the first sample
    in the shown order keeps the item's id, so a one-order, one-sample run is today's run."""
    if split_record_id(item_id) != (item_id, False, 0):
        raise ValueError(f"sample id {item_id!r} ends like a repeated judgment's id ('::swapped' or '::s<k>')")
    if sample < 0:
        raise ValueError(f"sample index {sample} is negative")
    return item_id + ("::swapped" if swapped else "") + (f"::s{sample}" if sample else "")


def split_record_id(rid: str) -> tuple[str, bool, int]:
    """(item id, swapped, sample index) of a `record_id`."""
    match = _SUFFIXED.match(rid)
    assert match is not None  # every string matches (the item part may be all of it)
    return match["item"], match["swapped"] is not None, int(match["sample"] or 0)


@dataclass(frozen=True)
class ItemSet:
    """`items_from_records`: the items every requested judgment of which was scored, and how many were not."""

    items: list[OrderedVerdicts]
    #: items left out because a judgment is missing or failed (status `error`: no verdict to read)
    incomplete: int
    #: the orders (1 or 2) and samples per order every item in `items` has
    orders: int = 1
    samples: int = 1


def items_from_records(judgments: Sequence[Judgment], view: OutcomeView, orders: int, samples: int) -> ItemSet:
    """Group a task's records (ids from `record_id`) into items, each with `samples` verdicts in each of
    `orders` (1 or 2) orders. `invalid` records are `INVALID` verdicts; an item with an `error` record or a
    missing judgment is left out of the reliability metrics and counted in `incomplete`."""
    if orders not in (1, 2) or samples < 1:
        raise ValueError(f"orders must be 1 or 2 and samples at least 1, not {orders} and {samples}")
    grouped: dict[str, list[tuple[bool, int, Judgment]]] = {}
    for judgment in judgments:
        item, swapped, k = split_record_id(judgment.sample_id)
        grouped.setdefault(item, []).append((swapped, k, judgment))
    items, incomplete = [], 0
    for item, records in grouped.items():
        keys = {(swapped, k) for swapped, k, _ in records}
        wanted = {(swapped, k) for swapped in (False, True)[:orders] for k in range(samples)}
        if keys != wanted or len(records) != len(wanted) or any(j.status == "error" for _, _, j in records):
            incomplete += 1
            continue
        records.sort(key=lambda r: (r[0], r[1]))
        items.append(OrderedVerdicts.of(item, [_viewed(view, j) for _, _, j in records]))
    return ItemSet(items, incomplete, orders, samples)


def _viewed(view: OutcomeView, judgment: Judgment) -> OrderVerdict:
    try:
        return view(judgment.outcome)
    except ValueError as exc:
        raise ValueError(f"record {judgment.sample_id!r}: {exc}") from None


# ---- arrays -----------------------------------------------------------------------------------------------

def choice_array(values: Any, name: str, allowed: Sequence[int] = CHOICES, ndim: int = 1) -> np.ndarray:
    """`values` as an int8 array of choice codes, checked (a clear error naming the array otherwise)."""
    import numpy as np

    arr = np.asarray(values)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array of choice codes, got shape {arr.shape}")
    if arr.size and (arr.dtype.kind not in "iu" or not np.isin(arr, allowed).all()):
        raise ValueError(f"{name} holds values other than the choice codes {sorted(allowed)}")
    return arr.astype(np.int8)


def plurality(votes: np.ndarray) -> np.ndarray:
    """Per row of an (n, K) array of choice codes: the most frequent valid verdict (0, 1 or TIE), or INVALID
    when valid verdicts tie for the most or there is none."""
    import numpy as np

    counts = _counts(votes)[:, :3]
    top = counts.max(axis=1)
    unique = (counts == top[:, None]).sum(axis=1) == 1
    return np.where((top > 0) & unique, counts.argmax(axis=1), INVALID).astype(np.int8)


def _counts(votes: np.ndarray) -> np.ndarray:
    """(n, 4) counts per row of RESPONSE_0, RESPONSE_1, TIE, INVALID (INVALID is -1: column 3)."""
    import numpy as np

    return np.stack([(votes == c).sum(axis=1) for c in (RESPONSE_0, RESPONSE_1, TIE, INVALID)], axis=1)


def order_arrays(items: Sequence[OrderedVerdicts]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forward (n, K), reverse (n, K), gold (n,)) of items judged K times in both orders."""
    import numpy as np

    widths = {(len(i.forward), len(i.reverse)) for i in items}
    if len(widths) > 1 or any(f != r or f == 0 for f, r in widths):
        raise ValueError("every item needs the same number (at least 1) of verdicts in each of both orders")
    k = widths.pop()[0] if widths else 1
    forward = np.array([i.forward for i in items], dtype=np.int8).reshape(len(items), k)
    reverse = np.array([i.reverse for i in items], dtype=np.int8).reshape(len(items), k)
    return forward, reverse, np.array([i.gold for i in items], dtype=np.int8)


def vote_arrays(items: Sequence[OrderedVerdicts]) -> tuple[np.ndarray, np.ndarray]:
    """(votes (n, M), gold (n,)): every verdict of each item (forward then reverse), M the same for all."""
    import numpy as np

    widths = {len(i.forward) + len(i.reverse) for i in items}
    if len(widths) > 1:
        raise ValueError(f"items have different numbers of verdicts ({sorted(widths)}); votes need the same")
    m = widths.pop() if widths else 1
    votes = np.array([i.forward + i.reverse for i in items], dtype=np.int8).reshape(len(items), m)
    return votes, np.array([i.gold for i in items], dtype=np.int8)


# ---- both orders ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BothOrders:
    """Per-item facts of the both-orders metrics, computed once; `metrics(idx)` sums them over resampled items."""

    consistent: np.ndarray  # bool: both orders' verdicts pick the same response (or both tie)
    both_right: np.ndarray  # bool
    either_right: np.ndarray  # bool
    first_hits: np.ndarray  # int: verdicts picking the response shown first
    decided: np.ndarray  # int: verdicts picking a response (not a tie, not invalid)

    @classmethod
    def of(cls, forward: Any, reverse: Any, gold: Any) -> "BothOrders":
        """forward / reverse: choice codes with response 0 / response 1 shown first, shape (n,) or (n, K) for
        K samples per order; gold: (n,) codes 0, 1 or TIE."""
        import numpy as np

        fwd, rev = (np.asarray(a) for a in (forward, reverse))
        fwd = choice_array(fwd[:, None] if fwd.ndim == 1 else fwd, "forward", ndim=2)
        rev = choice_array(rev[:, None] if rev.ndim == 1 else rev, "reverse", ndim=2)
        g = choice_array(gold, "gold", allowed=(RESPONSE_0, RESPONSE_1, TIE))
        if fwd.shape != rev.shape or fwd.shape[0] != g.shape[0]:
            raise ValueError(f"forward {fwd.shape}, reverse {rev.shape} and gold {g.shape} do not match")
        f, r = plurality(fwd), plurality(rev)
        f_right, r_right = f == g, r == g
        decided_f, decided_r = (fwd == 0) | (fwd == 1), (rev == 0) | (rev == 1)
        return cls(consistent=(f == r) & (f != INVALID), both_right=f_right & r_right,
                   either_right=f_right | r_right,
                   first_hits=(fwd == RESPONSE_0).sum(axis=1) + (rev == RESPONSE_1).sum(axis=1),
                   decided=decided_f.sum(axis=1) + decided_r.sum(axis=1))

    @property
    def n(self) -> int:
        return int(self.consistent.shape[0])

    def metrics(self, idx: np.ndarray) -> dict[str, float]:
        import numpy as np

        k = float(idx.size)
        return {
            SWAP_CONSISTENCY: ratio_pct(float(np.count_nonzero(self.consistent[idx])), k),
            FIRST_POSITION_RATE: ratio_pct(float(self.first_hits[idx].sum()), float(self.decided[idx].sum())),
            ACCURACY_BOTH_ORDERS: ratio_pct(float(np.count_nonzero(self.both_right[idx])), k),
            ACCURACY_EITHER_ORDER: ratio_pct(float(np.count_nonzero(self.either_right[idx])), k),
        }

    def metrics_many(self, idx2d: np.ndarray) -> dict[str, np.ndarray]:
        """`metrics` for every row of idx2d (R, k): the same integer counts, the same division, bit for bit."""
        import numpy as np

        from .metrics import ratio_pct_many

        k = np.full(idx2d.shape[0], float(idx2d.shape[1]))

        def share(flags: np.ndarray) -> np.ndarray:
            return ratio_pct_many(np.count_nonzero(flags[idx2d], axis=1).astype(float), k)

        return {
            SWAP_CONSISTENCY: share(self.consistent),
            FIRST_POSITION_RATE: ratio_pct_many(self.first_hits[idx2d].sum(axis=1).astype(float),
                                                self.decided[idx2d].sum(axis=1).astype(float)),
            ACCURACY_BOTH_ORDERS: share(self.both_right),
            ACCURACY_EITHER_ORDER: share(self.either_right),
        }

    def details(self) -> dict[str, int]:
        """Counts for results.json `details`."""
        return {"items": self.n, "consistent": int(self.consistent.sum()), "right_both_orders":
                int(self.both_right.sum()), "first_position_verdicts": int(self.first_hits.sum()),
                "deciding_verdicts": int(self.decided.sum())}


def both_orders_metrics(forward: Any, reverse: Any, gold: Any, idx: np.ndarray) -> dict[str, float]:
    """swap_consistency, first_position_rate, accuracy/both_orders, accuracy/either_order (%) over items `idx`."""
    return BothOrders.of(forward, reverse, gold).metrics(idx)


def both_orders_metrics_many(forward: Any, reverse: Any, gold: Any, idx2d: np.ndarray) -> dict[str, np.ndarray]:
    """`both_orders_metrics` for every row of a 2-D idx, equal row by row."""
    return BothOrders.of(forward, reverse, gold).metrics_many(idx2d)


def first_position_rate(choices: Any, first: Any) -> float:
    """% of the verdicts picking a response that pick the one shown first (`first`: the response shown first
    per verdict); one order is enough, e.g. today's one-order runs. NaN when no verdict picks a response."""
    import numpy as np

    c = choice_array(choices, "choices")
    f = choice_array(first, "first", allowed=(RESPONSE_0, RESPONSE_1))
    if c.shape != f.shape:
        raise ValueError(f"choices {c.shape} and first {f.shape} do not match")
    decided = (c == RESPONSE_0) | (c == RESPONSE_1)
    return ratio_pct(float(np.count_nonzero(decided & (c == f))), float(np.count_nonzero(decided)))


# ---- repeated sampling ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Votes:
    """Per-item facts of K verdicts per item (`of(votes (n, K), gold (n,))`), computed once."""

    majority_right: np.ndarray  # bool: the unique plurality verdict is the gold
    vote_tie: np.ndarray  # bool: valid verdicts tie for the most votes
    no_valid: np.ndarray  # bool: every sample invalid
    share: np.ndarray  # float: samples giving the plurality verdict / K
    entropy: np.ndarray  # float: bits, over the outcomes 0, 1, TIE, INVALID

    @classmethod
    def of(cls, votes: Any, gold: Any) -> "Votes":
        import numpy as np

        v = choice_array(votes, "votes", ndim=2)
        g = choice_array(gold, "gold", allowed=(RESPONSE_0, RESPONSE_1, TIE))
        if v.shape[0] != g.shape[0] or v.shape[1] == 0:
            raise ValueError(f"votes {v.shape} need one row per gold label {g.shape} and at least one column")
        counts = _counts(v)
        top = counts[:, :3].max(axis=1)
        majority = plurality(v)
        p = counts / float(v.shape[1])
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0).sum(axis=1)
        return cls(majority_right=majority == g, vote_tie=(top > 0) & (majority == INVALID), no_valid=top == 0,
                   share=top / float(v.shape[1]), entropy=entropy + 0.0)  # + 0.0: -0.0 becomes 0.0

    def metrics(self, idx: np.ndarray, quantiles: Sequence[float] = ENTROPY_QUANTILES) -> dict[str, float]:
        import numpy as np

        if idx.size == 0:
            return dict.fromkeys(_vote_names(quantiles), math.nan)
        entropy = self.entropy[idx]
        out = {ACCURACY_MAJORITY_VOTE: 100.0 * float(self.majority_right[idx].mean()),
               VOTE_TIE_RATE: 100.0 * float(self.vote_tie[idx].mean()),
               VOTE_AGREEMENT: 100.0 * float(np.mean(self.share[idx])),
               "vote_entropy/mean": float(np.mean(entropy))}
        for q, value in zip(quantiles, np.quantile(entropy, list(quantiles))):
            out[_quantile_name(q)] = float(value)
        return out

    def metrics_many(self, idx2d: np.ndarray, quantiles: Sequence[float] = ENTROPY_QUANTILES) -> dict[str, np.ndarray]:
        """`metrics` for every row of idx2d: the same reductions along each row (pairwise sums, one sort)."""
        import numpy as np

        from .metrics import accuracy_pct_many

        if idx2d.shape[1] == 0:
            return {name: np.full(idx2d.shape[0], math.nan) for name in _vote_names(quantiles)}
        entropy = self.entropy[idx2d]
        out = {ACCURACY_MAJORITY_VOTE: accuracy_pct_many(self.majority_right, idx2d),
               VOTE_TIE_RATE: accuracy_pct_many(self.vote_tie, idx2d),
               VOTE_AGREEMENT: 100.0 * np.mean(self.share[idx2d], axis=1),
               "vote_entropy/mean": np.mean(entropy, axis=1)}
        for q, values in zip(quantiles, np.quantile(entropy, list(quantiles), axis=1)):
            out[_quantile_name(q)] = values
        return out

    def details(self) -> dict[str, int]:
        return {"items": int(self.share.shape[0]), "vote_ties": int(self.vote_tie.sum()),
                "no_valid_verdict": int(self.no_valid.sum())}


def _quantile_name(q: float) -> str:
    return f"vote_entropy/p{100 * q:g}"


def _vote_names(quantiles: Sequence[float]) -> list[str]:
    return [ACCURACY_MAJORITY_VOTE, VOTE_TIE_RATE, VOTE_AGREEMENT, "vote_entropy/mean",
            *map(_quantile_name, quantiles)]


# ---- the hook a runner calls ------------------------------------------------------------------------------

def reliability_scoring(found: ItemSet) -> Scoring:
    """The reliability metrics of a task's items, as a `Scoring` over items (its own bootstrap resamples
    items): the both-orders metrics when the items were judged in both orders, the vote metrics when they were
    sampled more than once per order. Details: the counts behind them and the items left out."""
    from .task import Scoring

    items = found.items
    parts: list[tuple[Compute, ComputeMany]] = []
    details: dict[str, Any] = {"incomplete_items": found.incomplete}
    if found.orders == 2:
        both = BothOrders.of(*order_arrays(items))
        parts.append((both.metrics, both.metrics_many))
        details["both_orders"] = both.details()
    if found.samples > 1:  # votes over every verdict of the item (both orders' samples with --orders both)
        votes = Votes.of(*vote_arrays(items))
        parts.append((votes.metrics, votes.metrics_many))
        details["votes"] = votes.details()

    def compute(idx: np.ndarray) -> dict[str, float]:
        return {name: value for one, _ in parts for name, value in one(idx).items()}

    def compute_many(idx2d: np.ndarray) -> dict[str, np.ndarray]:
        return {name: values for _, many in parts for name, values in many(idx2d).items()}

    return Scoring(compute, [i.item_id for i in items], details=details, compute_many=compute_many)


@dataclass(frozen=True)
class ItemRows:
    """Which scored rows (judgments) belong to which item, so a task's own metrics over all judgments can be
    bootstrapped by resampling items: `expand(idx)` gives the rows of the items `idx`, in that order."""

    item_ids: list[str]
    starts: np.ndarray  # first position of each item's rows in `order`
    lengths: np.ndarray
    order: np.ndarray  # row indices grouped by item

    @classmethod
    def of(cls, row_ids: Sequence[str]) -> "ItemRows":
        """From the scored rows' record ids (`Scoring.ids`), items in order of first appearance."""
        import numpy as np

        position: dict[str, int] = {}
        item_of = np.array([position.setdefault(split_record_id(r)[0], len(position)) for r in row_ids],
                           dtype=np.intp)
        order = np.argsort(item_of, kind="stable")
        lengths = np.bincount(item_of, minlength=len(position))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp)
        return cls(list(position), starts, lengths, order)

    def expand(self, idx: np.ndarray) -> np.ndarray:
        import numpy as np

        lengths = self.lengths[idx]
        # Item j's rows sit at order[starts[j] : starts[j] + lengths[j]]: each drawn item's start repeated once
        # per row, plus the row's offset within its item (a running count restarted at every item).
        heads = np.cumsum(lengths) - lengths
        offsets = np.arange(int(lengths.sum()), dtype=np.intp) - np.repeat(heads, lengths)
        return self.order[np.repeat(self.starts[idx], lengths) + offsets]

    def regular(self) -> np.ndarray | None:
        """(items, m) row indices when every item has the same number m of rows, else None."""
        if self.lengths.size == 0 or (self.lengths != self.lengths[0]).any():
            return None
        return self.order.reshape(self.lengths.size, int(self.lengths[0]))


def item_resampled(scoring: Scoring) -> Scoring:
    """A task's `Scoring` over judgments (several per item) as one over items: the same metrics, computed on
    every judgment of the items drawn, so the bootstrap resamples items. `compute_many` is kept when every
    item has the same number of judgments (the replicates are then rectangular). Per-row McNemar inputs
    (`correct`, `accuracy_rows`) do not carry over: they pair judgments, not items."""
    from .task import Scoring

    rows = ItemRows.of(scoring.ids)
    grid = rows.regular()
    many = scoring.compute_many

    def compute(idx: np.ndarray) -> Mapping[str, float]:
        return scoring.compute(rows.expand(idx))

    compute_many = None
    if many is not None and grid is not None:
        def compute_many(idx2d: np.ndarray) -> Mapping[str, np.ndarray]:
            return many(grid[idx2d].reshape(idx2d.shape[0], -1))

    return Scoring(compute, rows.item_ids, details=scoring.details, compute_many=compute_many)
