"""Prompt templates stored verbatim beside the tasks (see prompts/SOURCES.md), and their rendering into
the ordered text/media parts of a Request."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Mapping, Sequence

from harness.records import MediaRef, Part

IMAGE_SLOT = "<image>"


@lru_cache(maxsize=None)
def load_template(filename: str) -> str:
    return resources.files("tasks").joinpath("prompts", filename).read_text(encoding="utf-8")


def render(template: str, values: Mapping[str, str], media: Sequence[MediaRef]) -> tuple[Part, ...]:
    """Fill `{placeholders}` and place media.

    Each `<image>` in the template becomes the next medium, in order, and the text around it is kept
    byte for byte. A template with no slot gets all media after its text (how the VL-RewardBench and
    GenAI-Bench reference scripts send them to chat APIs).
    """
    # Split before filling, so an "<image>" inside a response is text, not a slot.
    pieces = [piece.format_map(dict(values)) for piece in template.split(IMAGE_SLOT)]
    slots = len(pieces) - 1
    if slots and slots != len(media):
        raise ValueError(f"template has {slots} image slot(s) but {len(media)} media were given")
    parts: list[Part] = []
    media_iter = iter(media)
    for i, piece in enumerate(pieces):
        if i > 0:
            parts.append(next(media_iter))
        if piece:
            parts.append(piece)
    if not slots:
        parts.extend(media)
    return tuple(parts)
