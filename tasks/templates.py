"""Prompt templates stored verbatim beside the tasks (see prompts/SOURCES.md), and their rendering into
the ordered text/media parts of a Request."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Mapping, Sequence

from harness.records import MediaRef, Part

IMAGE_SLOT = "<image>"


@lru_cache(maxsize=None)
def load_template(filename: str, package: str = "tasks") -> str:
    """`prompts/<filename>` of `package` (a benchmark in another package passes its own `__package__`)."""
    return resources.files(package).joinpath("prompts", filename).read_text(encoding="utf-8")


def render(template: str, values: Mapping[str, str], media: Sequence[MediaRef]) -> tuple[Part, ...]:
    """Fill `{placeholders}` and place media.

    Each `<image>` in the template becomes the next medium, in order, and the text around it is kept
    byte for byte, except the one line break that ends a slot's line: that belongs to the slot. The
    LLaVA scripts build `"<image>\n" + text` and their chat template writes `<image>\n` per image, so the
    text part must start after that newline (else the model gets `<image>\n\nYou...`); the Qwen scripts
    send an image item and a text item that does not start with a newline (`<|vision_end|>You...`).
    A template with no slot gets all media after its text (how the VL-RewardBench and GenAI-Bench
    reference scripts send them to chat APIs).
    """
    # Split before filling, so an "<image>" inside a response is text, not a slot.
    pieces = template.split(IMAGE_SLOT)
    pieces = [piece.format_map(dict(values)) for piece in
              pieces[:1] + [p[1:] if p.startswith("\n") else p for p in pieces[1:]]]
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
