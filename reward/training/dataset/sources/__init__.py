"""The source converters, by manifest name. Each module documents the schema it relies on and where it
was read."""

from __future__ import annotations

from . import evalmuse, hpd, lift_hra, llava_critic, oip, sharegptvideo, videodpo, videofeedback
from .base import SourceDef

SOURCES: dict[str, SourceDef] = {
    d.name: d
    for d in (
        evalmuse.PAIR, hpd.SOURCE, oip.SOURCE, evalmuse.POINT,
        llava_critic.PAIR, llava_critic.POINT,
        videodpo.SOURCE, lift_hra.SOURCE, videofeedback.SOURCE,
        sharegptvideo.PAIR, sharegptvideo.POINT,
    )
}

__all__ = ["SOURCES", "SourceDef"]
