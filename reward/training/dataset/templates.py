"""The paper's training templates (Appendix C, Figs. 9-11), stored verbatim in `prompts/` (see SOURCES.md)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Mapping

IMAGE_GEN_PAIR = "image_gen_pair.txt"
IMAGE_GEN_POINT = "image_gen_point.txt"
IMAGE_GEN_POINT_REASON = "image_gen_point_reason.txt"
VIDEO_GEN_PAIR = "video_gen_pair.txt"
VIDEO_GEN_POINT = "video_gen_point.txt"
VIDEO_UND_PAIR = "video_und_pair.txt"
VIDEO_UND_POINT = "video_und_point.txt"


@lru_cache(maxsize=None)
def template(filename: str) -> str:
    """The template text; a final newline an editor may add is not part of it."""
    text = resources.files("reward.training.dataset").joinpath("prompts", filename).read_text(encoding="utf-8")
    return text[:-1] if text.endswith("\n") else text


def fill(filename: str, values: Mapping[str, str]) -> str:
    """Fill `{placeholders}`. Values are inserted as they are: braces inside a caption stay text."""
    return template(filename).format_map(dict(values))
