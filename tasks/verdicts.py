"""Verdict parsers: raw judge text -> which of two candidates it prefers.

A named stage of its own (the lm-eval `filter_list` idea), shared by every pairwise task. Each parser
returns `(choice, reason)`: choice is 1 or 2, or None with a reason saying why no verdict was read.
All of them use regexes only; nothing a model writes is ever evaluated.
"""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"[*_`#>]+")
_SPACE = re.compile(r"\s+")

# "Answer 2 is better", "**Answer 2** is clearly better", "Response (1) was the better one".
_IS_BETTER = re.compile(
    r"\b(?:answer|response)\s*\(?\s*([12])\s*\)?\s*(?:is|was)\s+"
    r"(?:(?:the|clearly|slightly|much|significantly|definitely|overall|somewhat|far)\s+)*better\b",
    re.IGNORECASE,
)
# "Overall Judgment: Answer 2", "Final verdict - Response 1", "Better answer: Answer 2".
_DECLARED = re.compile(
    r"\b(?:overall\s+judge?ment|final\s+(?:judge?ment|verdict|decision|answer|choice)|verdict|conclusion|"
    r"decision|better\s+(?:answer|response))\s*(?:is)?\s*[:\-\u2013\u2014]?\s*"
    r"(?:answer|response)\s*\(?\s*([12])\s*\)?(?![\d])",
    re.IGNORECASE,
)


def normalise(text: str) -> str:
    """Drop markdown emphasis/heading/quote marks and collapse whitespace."""
    return _SPACE.sub(" ", _MARKDOWN.sub("", text)).strip()


def robust_pairwise_choice(text: str | None) -> tuple[int | None, str | None]:
    """The `strict` parser for "Answer N is better" judges.

    1. An explicit final statement ("Overall Judgment: Answer 2 ...") decides when it names exactly one
       answer; naming both there is invalid.
    2. Otherwise every "Answer N is better" statement must name the same answer; a reply that calls
       both better, or neither, is invalid.
    """
    if text is None or not text.strip():
        return None, "empty reply"
    clean = normalise(text)
    declared = {int(m) for m in _DECLARED.findall(clean)}
    if len(declared) == 1:
        return declared.pop(), None
    if len(declared) > 1:
        return None, "the final judgment names both answers"
    stated = {int(m) for m in _IS_BETTER.findall(clean)}
    if len(stated) == 1:
        return stated.pop(), None
    if len(stated) > 1:
        return None, "the reply calls both answers better"
    return None, "no verdict naming Answer 1 or Answer 2"


# VL-RewardBench cal.py / inference_hf.py, verbatim.
VLREWARDBENCH_OFFICIAL = re.compile(
    r"(?:Overall Judgment|Therefore)\s*.*\s*-*\s*Answer\s*(\d+)\s*is\s*(?:the\s*)?(?:slightly\s*)?better",
    re.IGNORECASE,
)


def vlrewardbench_official_choice(text: str | None) -> tuple[int | None, str | None]:
    """The benchmark's own rule: search the regex on the reply with newlines and '*' removed.

    Faithful to `cal.py`, including that the captured number is any integer (a reply naming
    "Answer 3" is later scored as agreeing, since only the rejected answer's number disagrees).
    """
    if text is None or not text.strip():
        return None, "empty reply"
    match = VLREWARDBENCH_OFFICIAL.search(text.replace("\n", "").replace("*", ""))
    if not match:
        return None, "the official regex found no 'Overall Judgment ... Answer N is better'"
    return int(match.group(1)), None
