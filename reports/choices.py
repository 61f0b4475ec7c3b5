"""Which response each recorded judgment chose, read from a finished run's records (no model is run).

`harness agreement` and `harness ensemble` compare and combine judges that may have seen the two responses
of an item in different orders (a seeded swap, another seed, another protocol). Each task records its verdict
in the order it showed the pair (`verdict` 1/2 plus `swapped`, a three-way `verdict` 1/-1/0, a `[[A>B]]` vote,
a scorer's `margin`, MMRB2's two orders); a `Family` reads it back as the *underlying* choice: the dataset's
first response, its second, or a tie. Judges are then compared on the same thing whatever order they saw.

Families (`family_for(task, protocol)`):
- `position` (VL-RewardBench, VideoRewardBench, ShareGPTVideo pairs, Multimodal RewardBench): `verdict` is the
  shown position (1/2 or A/B); shown first is the dataset's first response unless `swapped`. Human label: the
  position of the better response (`gold`), read the same way. No ties.
- `three-way` (GenAI-Bench and VideoGen-RewardBench, generative protocols but genai-arena): `verdict` 1 (shown
  first better), -1 (shown second), 0 (equally good), un-swapped with `swapped`; human label `h` (1 = the
  dataset's left/A, -1 = right/B, 0 = tie or both bad).
- `genai-arena` (GenAI-Bench's own protocol, never swapped): the `[[...]]` vote. `[[A>B]]`/`[[A>>B]]` first,
  `[[B>A]]`/`[[B>>A]]` second, `[[A=B]]`, `[[A=B=Good]]`, `[[A=B=Bad]]` three kinds of tie, kept apart for an
  ensemble's vote (the benchmark scores them differently) and one `tie` for agreement; any other vote (`[[A]]`,
  `[[A>]]`) is no verdict. Human label `h` (tievote and bothbad_vote are both a tie).
- `margin` (the `scores` protocol of scalar scorers): the sign of score(A) - score(B); 0 is a tie.
- `mmrb2` (each pair judged in both orders): two judgments per item, `forward` (A = response_a) and `reverse`
  (A = response_b); `kind` A/B/tie, anything else no verdict. Human label `chosen`.

A task without a family here is not compared (the agreement report lists it); adding one is a `Family` below.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from harness.judgment_table import JudgmentTable, outcome_array, status_codes

if TYPE_CHECKING:
    import numpy as np

#: The categories agreement is computed over: which of the dataset's two responses, or neither.
COARSE = ("first", "second", "tie")
FIRST, SECOND, TIE = 0, 1, 2
#: No verdict (a record that is not ok, or an ok record without a readable choice).
NONE = -1

Slot = str | None  # None: the outcome is one judgment; else the outcome key holding one (MMRB2's orders)


def _codes(mapping: Mapping[Any, int]) -> Callable[[Any], int]:
    """value -> code by `mapping`, NONE otherwise; a bool never matches 1 or 0 (True == 1 in a dict)."""
    return lambda value: NONE if isinstance(value, bool) else mapping.get(value, NONE)


_POSITION = _codes({1: 0, 2: 1, "A": 0, "B": 1})
_THREE_WAY = _codes({1: FIRST, -1: SECOND, 0: TIE})
_ARENA = _codes({"[[A>B]]": 0, "[[A>>B]]": 0, "[[B>A]]": 1, "[[B>>A]]": 1, "[[A=B]]": 2, "[[A=B=Good]]": 3,
                 "[[A=B=Bad]]": 4})
_LETTER = _codes({"A": FIRST, "B": SECOND})


def _unswap(shown: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """Position codes (0 first shown, 1 second shown, 2 tie) as dataset codes: first and second exchange where
    the pair was shown swapped; a tie and NONE stay."""
    import numpy as np

    return np.where(swapped & (shown >= 0) & (shown < TIE), 1 - shown, shown).astype(np.int8)


@dataclass(frozen=True)
class Family:
    """How one family of tasks records a verdict: see the module docstring.

    `categories` are the verdicts an ensemble votes over, `coarse[i]` the agreement category of
    `categories[i]`. `verdict_fields` are the outcome fields a verdict sets, with their values when there
    is none (what an ensemble writes for an item its members do not settle)."""

    name: str
    categories: tuple[str, ...]
    coarse: tuple[int, ...]
    read: Callable[[JudgmentTable, Slot], "np.ndarray"]
    human: Callable[[JudgmentTable, Slot], "np.ndarray"] | None
    verdict_fields: Mapping[str, Any]
    slots: tuple[Slot, ...] = (None,)
    #: the unit of comparison, for the report: one judgment per item, or one per item and order
    unit: str = "item"
    #: recomputes what a record derives from its slots (MMRB2's `consistent`) after an ensemble set them
    derive: Callable[[dict[str, Any]], None] | None = None

    def choices(self, table: JudgmentTable, slot: Slot = None) -> np.ndarray:
        """Each record's choice as a code into `categories` (int8), NONE where the record is not ok or says
        nothing readable."""
        import numpy as np

        ok = status_codes(table) == 0
        return np.where(ok, self.read(table, slot), NONE).astype(np.int8)

    def coarse_choices(self, table: JudgmentTable, slot: Slot = None) -> np.ndarray:
        """`choices` as `COARSE` codes."""
        import numpy as np

        lookup = np.array([*self.coarse, NONE], dtype=np.int8)  # index -1 (NONE) is the last entry
        return lookup[self.choices(table, slot)]

    def human_labels(self, table: JudgmentTable, slot: Slot = None) -> np.ndarray | None:
        """The human label of each record's item as `COARSE` codes (NONE where a record has none), or None when
        the task has no human labels. Read from every record that carries the item's fields (not only ok
        ones)."""
        return None if self.human is None else self.human(table, slot)

    def undecided(self, outcome: Mapping[str, Any], protocol: str, slot: Slot = None) -> dict[str, Any]:
        """`outcome` (one member's, for the item's own fields) with no verdict, as the task records a reply it
        cannot read: for an ensemble item whose members do not settle it."""
        out = copy.deepcopy(dict(outcome))
        target = out if slot is None else out[slot]
        target.update(copy.deepcopy(dict(self.verdict_fields)))
        if "counted" in target:
            # VL-RewardBench `official` (cal.py) leaves an unread reply out of the denominators; MMRB2 `official`
            # (compute_accuracy.py) too. Their other protocols count it wrong.
            target["counted"] = protocol != "official"
        return out


# ---- readers ------------------------------------------------------------------------------------------------

def _shown(key: str, codes: Callable[[Any], int]) -> Callable[[JudgmentTable, Slot], np.ndarray]:
    """A reader of outcome field `key` as the pair was shown (first / second / tie by `codes`), un-swapped into the
    dataset's order: a record of the other order (`swapped`) names the other response."""
    def read(table: JudgmentTable, slot: Slot) -> np.ndarray:
        import numpy as np

        return _unswap(outcome_array(table, key, codes, np.int8), outcome_array(table, "swapped", bool, bool, False))

    return read


def _h(table: JudgmentTable, slot: Slot) -> np.ndarray:
    import numpy as np

    return outcome_array(table, "h", _THREE_WAY, np.int8)


def _margin_sign(value: Any) -> int:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:  # NaN != NaN
        return NONE
    return FIRST if value > 0 else SECOND if value < 0 else TIE


def _margin(table: JudgmentTable, slot: Slot) -> np.ndarray:
    import numpy as np

    return outcome_array(table, "margin", _margin_sign, np.int8)


def _order_kind(slot: Slot) -> Callable[[Any], int]:
    """MMRB2: an order's `kind` as a dataset code; in the reverse order "A" is response_b."""
    letters = {"A": FIRST, "B": SECOND} if slot == "forward" else {"A": SECOND, "B": FIRST}
    read = _codes({**letters, "tie": TIE})
    return lambda order: read(order.get("kind")) if isinstance(order, Mapping) else NONE


def _mmrb2(table: JudgmentTable, slot: Slot) -> np.ndarray:
    import numpy as np

    assert slot is not None
    return outcome_array(table, slot, _order_kind(slot), np.int8)


def _mmrb2_human(table: JudgmentTable, slot: Slot) -> np.ndarray:
    import numpy as np

    return outcome_array(table, "chosen", _LETTER, np.int8)


def _mmrb2_consistent(outcome: dict[str, Any]) -> None:
    """tasks.mmrb2's `consistent`: both orders chose the same response (None unless both are A or B)."""
    forward, reverse = outcome["forward"].get("kind"), outcome["reverse"].get("kind")
    flipped = {"A": "B", "B": "A"}.get(reverse)
    outcome["consistent"] = forward == flipped if {forward, reverse} <= {"A", "B"} else None


# ---- the families ---------------------------------------------------------------------------------------------

POSITION = Family("position", ("first", "second"), (FIRST, SECOND), _shown("verdict", _POSITION),
                  _shown("gold", _POSITION), {"verdict": None, "correct": False})
THREE_WAY = Family("three-way", COARSE, (FIRST, SECOND, TIE), _shown("verdict", _THREE_WAY), _h,
                   {"verdict": None, "correct": False})
ARENA = Family("genai-arena", ("first", "second", "tie", "tie-good", "tie-bad"), (FIRST, SECOND, TIE, TIE, TIE),
               _shown("vote", _ARENA), _h, {"vote": None, "correct": False})
MARGIN = Family("margin", COARSE, (FIRST, SECOND, TIE), _margin, _h, {"margin": None, "scores": None})
MMRB2 = Family("mmrb2", COARSE, (FIRST, SECOND, TIE), _mmrb2, _mmrb2_human,
               {"verdict": None, "kind": None, "correct": False, "read": None}, slots=("forward", "reverse"),
               unit="item and order", derive=_mmrb2_consistent)

_POSITION_TASKS = ("vlrewardbench", "videorewardbench", "sharegptvideo_pairs", "multimodal_rewardbench")
_PAIRWISE_GENERATION_TASKS = ("genai_bench_image", "genai_bench_video", "genai_bench_edit", "videogen_rewardbench")


def family_for(task: str, protocol: str) -> Family | None:
    """The family that reads `task`'s records under `protocol`; None when no reader is written for it."""
    if task in _POSITION_TASKS:
        return POSITION
    if task == "mmrb2":
        return MMRB2
    if task in _PAIRWISE_GENERATION_TASKS:
        return {"genai-arena": ARENA, "scores": MARGIN}.get(protocol, THREE_WAY)
    return None


def supported_tasks() -> tuple[str, ...]:
    return (*_POSITION_TASKS, *_PAIRWISE_GENERATION_TASKS, "mmrb2")
