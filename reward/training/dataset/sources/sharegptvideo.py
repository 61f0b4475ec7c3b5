"""ShareGPTVideo DPO -> video-understanding pairs (`sharegptvideo_pair`) and points (`sharegptvideo_point`).

Source: HF `ShareGPTVideo/train_video_and_instruction` (LLaVA-Hound-DPO, arXiv 2404.01258):
`video_instruction/train/dpo/sft_dpo_17k.jsonl` (17K pairs) and the frames of `train_300k/*.tar.gz`
(each video a folder of JPEG frames sampled at 1 fps; unpack and point `media_root` there). Raw files,
not a `datasets` table: use `path:`.

Schema relied on (one JSON object per line; the keys LLaVA-NeXT's `train_dpo.py` and LLaVA-Hound's
`run_dpo.py` read, plus the per-response scores the paper uses):
    id: str   video: str (frame folder -> `frames`, or a video file -> `video`, relative to media_root)
    prompt: str (the question; may carry a "<video>" token)   answer: str (reference answer; not used)
    chosen: str   rejected: str   chosen_score: number   rejected_score: number

Recipe (Sec. 3.2.1): "We directly use the pair data for pairwise ranking learning, while the individual
response scores are extracted for pointwise scoring learning."
- pair: Fig. 11 pair prompt (question, Response 1, Response 2), answer "Response X is better than
  Response Y."; the scores are not needed and not checked.
- point: two records per pair, one per response, Fig. 11 point prompt, answer "Final Score: <score>"
  (integers without a decimal point, others to 2 decimals). A missing score is an error for that row.
"""

from __future__ import annotations

from typing import Iterator

from ..rows import Row, strip_media_tokens
from ..templates import VIDEO_UND_PAIR, VIDEO_UND_POINT, fill
from .base import Draft, PairSpec, Side, SourceDef, SourceInput, format_score, guarded

HUB_ID = "ShareGPTVideo/train_video_and_instruction"
FILES = ("sft_dpo_17k.jsonl",)


def question(row: Row) -> str:
    text = strip_media_tokens(row.text("prompt"))
    if not text:
        raise row.error("prompt", "no question besides the video token")
    return text


def convert_pair(inp: SourceInput) -> Iterator[Draft]:
    def one(row: Row) -> list[Draft]:
        values = {"question": question(row)}
        chosen, rejected = row.text("chosen"), row.text("rejected")
        media_field, media = inp.video_or_frames(row, "video")
        return [Draft(id=f"sharegptvideo_pair:{row.ident('id')}", task="video_und", kind="pair",
                      media_field=media_field, media=media,
                      pair=PairSpec("Response", VIDEO_UND_PAIR, values, Side(text=chosen), Side(text=rejected)))]

    return guarded(inp, one)


def convert_point(inp: SourceInput) -> Iterator[Draft]:
    def one(row: Row) -> list[Draft]:
        q = question(row)
        responses = [(side, row.text(side), row.number(f"{side}_score")) for side in ("chosen", "rejected")]
        media_field, media = inp.video_or_frames(row, "video")
        return [Draft(id=f"sharegptvideo_point:{row.ident('id')}:{side}", task="video_und", kind="point",
                      media_field=media_field, media=media,
                      prompt=fill(VIDEO_UND_POINT, {"question": q, "response": text}),
                      answer=f"Final Score: {format_score(score)}")
                for side, text, score in responses]

    return guarded(inp, one)


PAIR = SourceDef("sharegptvideo_pair", "ShareGPTVideo", "video_und", "pair", convert_pair, FILES, None, HUB_ID, "17K")
POINT = SourceDef("sharegptvideo_point", "ShareGPTVideo", "video_und", "point", convert_point, FILES, None, HUB_ID,
                  "34K")
