"""How a task's items were judged (`--orders`, `--samples`) and the scorings that follow from it, in one place for
the runner (`score_task`) and `harness compare` (which re-scores stored records and must get the same numbers).

One order and one sample is a run as it always was: one record per item, the task's own metrics over them. More
judgments per item (both orders: `<id>::swapped`; K samples: `<id>::s<k>`) give the task's metrics over every
judgment with the bootstrap resampling items (`item_resampled`), and the reliability metrics of
`harness.reliability` over the items (swap consistency and position bias; majority vote and agreement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .errors import UsageError
from .reliability import item_resampled, items_from_records, record_id, reliability_scoring, split_record_id

if TYPE_CHECKING:
    from .records import Judgment
    from .task import Scoring, Task, TaskConfig

#: the most judgments of one item and order a run asks for
MAX_SAMPLES = 64


@dataclass(frozen=True)
class Judged:
    """`orders` (1: as the protocol shows each item; 2: also swapped) x `samples` judgments per item."""

    orders: int = 1
    samples: int = 1

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> "Judged":
        """results.json's `judged` of a task (absent in runs of one order and sample)."""
        raw = raw or {}
        return cls(orders=int(raw.get("orders", 1)), samples=int(raw.get("samples", 1)))

    def as_json(self) -> dict[str, int]:
        return {} if self.single else {"orders": self.orders, "samples": self.samples}

    @property
    def single(self) -> bool:
        return self.orders == 1 and self.samples == 1

    def variants(self) -> list[tuple[bool, int]]:
        """(swapped, sample index) of every judgment of an item, the item's own record first."""
        return [(swapped, k) for swapped in (False, True)[:self.orders] for k in range(self.samples)]

    def record_ids(self, item_id: str) -> list[str]:
        """The record ids of an item's judgments (`harness.reliability.record_id`), in `variants` order."""
        if self.single:
            return [item_id]
        try:
            return [record_id(item_id, swapped, k) for swapped, k in self.variants()]
        except ValueError as exc:
            raise UsageError(f"sample id {item_id!r} cannot be judged more than once per item: {exc}") from None


    def finished_items(self, done: set[str]) -> set[str]:
        """The items of the record ids `done` whose every judgment is recorded (a resume skips them whole)."""
        if self.single:
            return done
        return {i for i in done if split_record_id(i) == (i, False, 0) and done.issuperset(self.record_ids(i))}


def judged_scorings(task: "Task", cfg: "TaskConfig", judgments: Sequence["Judgment"],
                    judged: Judged) -> tuple["Scoring", "Scoring | None"]:
    """The task's own Scoring (over items when an item has several judgments) and, for more than one judgment per
    item, the reliability Scoring over the items whose every judgment was scored."""
    scoring = task.score(judgments, cfg)
    if judged.single:
        return scoring, None
    reliability = reliability_scoring(items_from_records(judgments, task.order_verdict, orders=judged.orders,
                                                         samples=judged.samples))
    return item_resampled(scoring), reliability
