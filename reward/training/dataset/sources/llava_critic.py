"""LLaVA-Critic-113k -> image-understanding pairs (`llava_critic_pair`) and points (`llava_critic_point`).

Source: HF `lmms-lab/llava-critic-113k` (arXiv 2410.02712), configs `pairwise` (40,154 rows) and
`pointwise` (72,782 rows), split `train`. (The UnifiedReward paper's text says 40K pointwise and 73K
pairwise; the card has them the other way round. Either way the paper samples 25K of each.)

Schema relied on (the card's `dataset_info` for both configs):
    id: string   source: string   image: image
    conversations: [{from: "human", value: "<image>\\n<critic prompt with question and response(s)>"},
                    {from: "gpt", value: "<judgement with its reasons>"}]
A local copy may be the hub parquet shards, or JSON/JSONL rows whose `image` is a path relative to
`media_root`.

Recipe: Appendix C says image-understanding training "adopt[s] the same template used in LLaVA-Critic",
and Sec. 3.2.1 keeps evaluation justifications. Every row already carries that template, filled with its
question and responses, in its human turn, and the critic's reasoned judgement in its gpt turn, so the
record's prompt is the human turn (the `<image>` token removed: media go before the text) and its answer
is the gpt turn, unchanged. The pair order is written into the prompt and the judgement text, so it
cannot be swapped without rewriting the critic's reasoning: pair records keep the source order and carry
`order: null` (LLaVA-Critic drew its pairs from sources with mixed positions; we do not rebalance them).
"""

from __future__ import annotations

from typing import Iterator

from ..media import row_media
from ..rows import Row, conversation, strip_media_tokens
from .base import Draft, HubDefaults, SourceDef, SourceInput, guarded

HUB_ID = "lmms-lab/llava-critic-113k"


def converter(name: str, kind: str):
    def convert(inp: SourceInput) -> Iterator[Draft]:
        def one(row: Row) -> list[Draft]:
            human, gpt = conversation(row)
            prompt = strip_media_tokens(human)
            if not prompt:
                raise row.error("conversations[0].value", "no text besides the image token")
            image = row_media(row, "image", inp.media_root)
            return [Draft(id=f"{name}:{row.ident('id')}", task="image_und", kind=kind, media_field="images",
                          media=(image,), prompt=prompt, answer=gpt.strip())]

        return guarded(inp, one)

    return convert


FILES_PAIR = ("pairwise.jsonl", "pairwise.json")
FILES_POINT = ("pointwise.jsonl", "pointwise.json")
PAIR = SourceDef("llava_critic_pair", "LLaVA-Critic", "image_und", "pair", converter("llava_critic_pair", "pair"),
                 FILES_PAIR, HubDefaults(configs=("pairwise",)), HUB_ID, "25K")
POINT = SourceDef("llava_critic_point", "LLaVA-Critic", "image_und", "point",
                  converter("llava_critic_point", "point"), FILES_POINT, HubDefaults(configs=("pointwise",)),
                  HUB_ID, "25K")
