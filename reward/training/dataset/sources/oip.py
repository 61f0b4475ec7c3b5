"""Open-Image-Preferences -> image-generation pairs (`oip`).

Source: HF `data-is-better-together/open-image-preferences-v1-binarized` (the paper's footnote 1), split
`train`, 7.4K rows: the paper uses them "directly".

Schema relied on (dataset card and its users' loaders, e.g. `DATASET_NAME_MAPPING = {...: ("chosen",
"rejected", "prompt")}` in public Diffusion-DPO training scripts):
    id: string   prompt: string   chosen: image   rejected: image
    (chosen_model, rejected_model, evolution, category, sub_category: not used, not verified here)
A local copy may be the hub parquet shards, or JSON/JSONL rows whose `chosen`/`rejected` are paths
relative to `media_root`.
"""

from __future__ import annotations

from typing import Iterator

from ..media import row_media
from ..rows import Row
from ..templates import IMAGE_GEN_PAIR
from .base import Draft, HubDefaults, PairSpec, Side, SourceDef, SourceInput, guarded

HUB_ID = "data-is-better-together/open-image-preferences-v1-binarized"


def convert(inp: SourceInput) -> Iterator[Draft]:
    def one(row: Row) -> list[Draft]:
        caption = row.text("prompt")
        chosen, rejected = row_media(row, "chosen", inp.media_root), row_media(row, "rejected", inp.media_root)
        return [Draft(id=f"oip:{row.ident('id')}", task="image_gen", kind="pair", media_field="images",
                      pair=PairSpec("Image", IMAGE_GEN_PAIR, {"caption": caption},
                                    Side(media=(chosen,)), Side(media=(rejected,))))]

    return guarded(inp, one)


SOURCE = SourceDef("oip", "OIP", "image_gen", "pair", convert, ("data.jsonl", "data.json"),
                   HubDefaults(), HUB_ID, "7.4K")
