"""Pair ranking in both orders for preference construction (`harness construct --orders both`, issue 16).

A judge that favours whichever candidate it is shown first writes that bias straight into the preference
data: with one order, candidate 2j of every pair is shown first, so a positional judge makes it "chosen".
With `--orders both` each pair (2j, 2j+1) is ranked as shown (2j first) and swapped (2j+1 first), and the pair
is ranked only when the two rankings pick the same underlying candidate. Everything else is counted:

- `agreed`: both rankings readable and picking the same candidate (the pair is ranked);
- `disagreed`: both readable, each picking the candidate shown first (or each the one shown second);
- `unreadable`: no 1/2 verdict in either order, or both (a tie names no candidate, so it counts here, as
  `parse_ranking` has always treated it).

`first_position_rate` is the share (%) of readable verdicts, each order counted on its own, that name the
position shown first: 50 is unbiased, 100 a judge that always prefers the first shown. It is None when no
verdict could be read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

ORDERS = ("one", "both")


@dataclass(frozen=True)
class PairOrders:
    """One pair's two rankings as the judge named the positions: 1 (the first shown is better), 2 (the second),
    None (unreadable or a tie). `shown` has candidate 2j first, `swapped` candidate 2j+1 first."""

    shown: int | None
    swapped: int | None

    @property
    def ranking(self) -> int | None:
        """The agreed ranking in the shown order's numbering (1: candidate 2j wins), None unless both agree."""
        if self.outcome != "agreed":
            return None
        return self.shown

    @property
    def outcome(self) -> str:
        if self.shown is None or self.swapped is None:
            return "unreadable"
        # the swapped prompt's position 2 is candidate 2j, the shown prompt's position 1
        return "agreed" if self.shown == 3 - self.swapped else "disagreed"

    def readable(self) -> list[int]:
        return [v for v in (self.shown, self.swapped) if v is not None]


@dataclass
class OrderCounts:
    """Both-order counts over pairs: of one input (the audit record) or of a whole construction (summed)."""

    pairs: int = 0
    agreed: int = 0
    disagreed: int = 0
    unreadable: int = 0
    readable_verdicts: int = 0
    first_shown: int = 0  # readable verdicts that named the position shown first

    @classmethod
    def of(cls, pairs: Iterable[PairOrders]) -> OrderCounts:
        counts = cls()
        for pair in pairs:
            counts.pairs += 1
            setattr(counts, pair.outcome, getattr(counts, pair.outcome) + 1)
            verdicts = pair.readable()
            counts.readable_verdicts += len(verdicts)
            counts.first_shown += sum(1 for v in verdicts if v == 1)
        return counts

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> OrderCounts:
        """The counts stored in an audit record by `as_record` (derived fields ignored)."""
        stored = record["order_counts"]
        return cls(**{name: int(stored[name]) for name in asdict(cls())})

    def add(self, other: OrderCounts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    @property
    def first_position_rate(self) -> float | None:
        if not self.readable_verdicts:
            return None
        return 100.0 * self.first_shown / self.readable_verdicts

    def as_record(self) -> dict[str, Any]:
        return {**asdict(self), "first_position_rate": self.first_position_rate}

    def summary(self) -> str:
        rate = self.first_position_rate
        shown = "n/a" if rate is None else f"{rate:.1f}%"
        return (f"pairs ranked in both orders: {self.pairs}, agreed {self.agreed}, disagreed {self.disagreed}, "
                f"unreadable {self.unreadable}; first-shown rate {shown} of {self.readable_verdicts} readable "
                f"verdicts (50% is unbiased)")
