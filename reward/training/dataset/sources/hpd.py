"""Human Preference Dataset (Rapidata) -> image-generation pairs (`hpd`).

Source: HF `Rapidata/700k_Human_Preference_Dataset_FLUX_SD3_MJ_DALLE3` (paper ref. [3], "Finding the
subjective truth: collecting 2 million votes", arXiv 2409.11904): 25.6K rows in 26 splits `train_0001` ...
`train_0026`, which is exactly the paper's HPD count.

Schema relied on (the card's `dataset_info.features`):
    prompt: string        image1: image        image2: image
    votes_image1: int64   votes_image2: int64
    (model1, model2, detailed_results, image1_path, image2_path: not used)
A local copy may be the hub parquet shards, or JSON/JSONL rows whose `image1`/`image2` are paths relative
to `media_root`.

Recipe (paper Sec. 3.2.1): "we directly use the vote counts ... ranking the image with more votes as the
preferred one". A vote tie gives no preference, so the row makes no pair: it is dropped and counted as
`vote_tie` in the build report (never an error). Votes must be non-negative integers.
"""

from __future__ import annotations

from typing import Iterator

from ..media import row_media
from ..rows import Row
from ..templates import IMAGE_GEN_PAIR
from .base import Draft, HubDefaults, PairSpec, Side, SourceDef, SourceInput, guarded

HUB_ID = "Rapidata/700k_Human_Preference_Dataset_FLUX_SD3_MJ_DALLE3"


def votes(row: Row, name: str) -> int:
    value = row.number(name)
    if value < 0 or value != int(value):
        raise row.error(name, f"expected a non-negative vote count, got {row.value(name)!r}")
    return int(value)


def convert(inp: SourceInput) -> Iterator[Draft]:
    def one(row: Row) -> list[Draft]:
        caption = row.text("prompt")
        first, second = votes(row, "votes_image1"), votes(row, "votes_image2")
        image1, image2 = row_media(row, "image1", inp.media_root), row_media(row, "image2", inp.media_root)
        if first == second:
            inp.ctx.drop("vote_tie")
            return []
        chosen, rejected = (image1, image2) if first > second else (image2, image1)
        return [Draft(id=f"hpd:{row.index}", task="image_gen", kind="pair", media_field="images",
                      pair=PairSpec("Image", IMAGE_GEN_PAIR, {"caption": caption},
                                    Side(media=(chosen,)), Side(media=(rejected,))))]

    return guarded(inp, one)


SOURCE = SourceDef("hpd", "HPD", "image_gen", "pair", convert, ("data.jsonl", "data.json"),
                   HubDefaults(splits=(None,)), HUB_ID, "25.6K")
