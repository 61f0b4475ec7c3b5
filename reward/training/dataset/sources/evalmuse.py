"""EvalMuse-40K -> image-generation pairs (`evalmuse_pair`) and points (`evalmuse_point`).

Source: HF `DY-Evalab/EvalMuse` / GitHub `DYEvaLab/EvalMuse` (arXiv 2412.18150): `train_list.json` plus
`images.zip.part-*` (unzip beside it). The hub copy is raw files, not a `datasets` table: use `path:`.

Schema relied on (`train_list.json`, a JSON list, one object per generated image):
    prompt_id: str                 prompt: str
    img_path: str                  relative to the unzipped images (our `media_root`)
    total_score: [int 1..5, ...]   one overall score per annotator
    element_score: {"<element> (<type>)": [0 | 1, ...], ...}   one label per annotator
    (type, promt_meaningless, split_confidence, attribute_confidence, fidelity_label: not used)
Read from the EvalMuse repo (copies at github.com/g29times/EvalMuse): `dataset/DATACARD.md`,
`process/process_train.py` (averages `total_score` and each `element_score` list per image) and
`process/element2mask.py` (element keys are "<words> (<type>)", split at the last "(").

Recipe (paper Sec. 3.2.1):
- point: score = mean of all `total_score` ratings; an element is generated (1) when at least two
  annotators label it 1, else 0. Answer: one "element (type): 0|1" line per element (source key order),
  then "Final Score: <mean>" (rounded to 2 decimals, "3.67", "4"). Prompt: Fig. 9 "with reason" when the
  image has element labels, Fig. 9 plain point scoring otherwise.
- pair: per `prompt_id`, the image with the highest mean score is chosen and the one with the lowest is
  rejected; ties for highest or lowest go to the first such image in file order. A prompt with one usable
  image (`single_image`) or all means equal (`equal_scores`) gives no pair; both are counted as drops.
A bad row (missing image, missing or out-of-range score, an element label other than 0/1) is an error, or
is skipped and counted under `skip_bad_rows` (a skipped image leaves its prompt's other images in play).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ..media import Media
from ..rows import Row, RowError, as_number
from ..templates import IMAGE_GEN_PAIR, IMAGE_GEN_POINT, IMAGE_GEN_POINT_REASON, fill
from .base import Draft, PairSpec, Side, SourceDef, SourceInput, format_score, guarded

HUB_ID = "DY-Evalab/EvalMuse"
FILES = ("train_list.json",)
GENERATED_MIN_VOTES = 2  # "an element is considered generated if at least two annotators agree"


@dataclass(frozen=True)
class Rated:
    row: Row
    prompt_id: str
    caption: str
    image: Media
    mean: float
    elements: tuple[tuple[str, int], ...]


def rated(inp: SourceInput, row: Row) -> Rated:
    scores = [as_number(row, "total_score", v) for v in row.items("total_score")]
    for s in scores:
        if not 1 <= s <= 5:
            raise row.error("total_score", f"score {s:g} outside 1..5")
    elements = []
    for key, votes in row.mapping("element_score").items():
        field = f"element_score[{key!r}]"
        if not isinstance(votes, list) or not votes:
            raise row.error(field, f"expected a non-empty list of 0/1 labels, got {votes!r}")
        for vote in votes:
            if isinstance(vote, bool) or vote not in (0, 1):
                raise row.error(field, f"unknown label {vote!r} (expected 0 or 1)")
        elements.append((str(key), 1 if sum(int(v) for v in votes) >= GENERATED_MIN_VOTES else 0))
    return Rated(row, row.ident("prompt_id"), row.text("prompt"), inp.file(row, "img_path", row.text("img_path")),
                 sum(scores) / len(scores), tuple(elements))


def point_draft(item: Rated) -> Draft:
    lines = [f"{key}: {value}" for key, value in item.elements]
    lines.append(f"Final Score: {format_score(item.mean)}")
    template = IMAGE_GEN_POINT_REASON if item.elements else IMAGE_GEN_POINT
    return Draft(id=f"evalmuse_point:{item.row.text('img_path')}", task="image_gen", kind="point",
                 media_field="images", media=(item.image,), prompt=fill(template, {"caption": item.caption}),
                 answer="\n".join(lines))


def convert_point(inp: SourceInput) -> Iterator[Draft]:
    return guarded(inp, lambda row: [point_draft(rated(inp, row))])


def convert_pair(inp: SourceInput) -> Iterator[Draft]:
    groups: dict[str, list[Rated]] = {}
    for row in inp.rows():
        try:
            item = rated(inp, row)
        except RowError as err:
            inp.ctx.reject(err)
            continue
        groups.setdefault(item.prompt_id, []).append(item)
    for prompt_id, items in groups.items():
        if len(items) < 2:
            inp.ctx.drop("single_image")
            continue
        best = max(items, key=lambda x: x.mean)  # max/min return the first of equals: file order decides
        worst = min(items, key=lambda x: x.mean)
        if best.mean == worst.mean:
            inp.ctx.drop("equal_scores")
            continue
        yield Draft(id=f"evalmuse_pair:{prompt_id}", task="image_gen", kind="pair", media_field="images",
                    pair=PairSpec("Image", IMAGE_GEN_PAIR, {"caption": best.caption},
                                  Side(media=(best.image,)), Side(media=(worst.image,))))


POINT = SourceDef("evalmuse_point", "EvalMuse", "image_gen", "point", convert_point, FILES, None, HUB_ID, "32.7K")
PAIR = SourceDef("evalmuse_pair", "EvalMuse", "image_gen", "pair", convert_pair, FILES, None, HUB_ID, "3K")
