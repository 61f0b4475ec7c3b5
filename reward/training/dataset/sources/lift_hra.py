"""LiFT-HRA -> video-generation points with human reasons (`lift_hra`).

Source: HF `Fudan-FUXI/LiFT-HRA-20K` (arXiv 2412.04814; GitHub `CodeGoat24/LiFT`): `LiFT-HRA-data.json`
plus `videos/HRA_part*.zip` (unzip beside it). Raw files, not a `datasets` table: use `path:`.

Schema relied on: LLaVA/VILA supervised format, which LiFT's training code registers as dataset
`LiFT-HRA` (`llava/data/datasets_mixture.py`, `dataset_type="torch"`, loaded by `LazySupervisedDataset`):
    [{"video": "videos/<name>.mp4",
      "conversations": [{"from": "human", "value": "<video>\\n<caption> Please identify the <aspect>
                                                     issues in this video, ..."},
                        {"from": "gpt", "value": "<Good|Normal|Bad>. <the annotator's reason>"}]}, ...]
The aspects are semantic consistency, fidelity and motion (LiFT-Critic's `run_critic_*.py` question list);
the answer's first word is the human rating (LiFT's demo outputs and its sibling `vidgen-data.json` have
this form). The 20K file itself is over the size our search index stores, so individual rows were not
inspected: the rating check below is our reading of that format.

Recipe: LiFT-HRA "provide[s] extensive human feedback for pointwise scoring ... which we directly
incorporate" and justifications are retained (Sec. 3.2.1); the paper prints no LiFT template. So the
prompt is the row's own human turn (`<video>` removed) and the answer its gpt turn, unchanged. A gpt turn
that does not start with Good, Normal or Bad is an unknown label (error, or skipped under skip_bad_rows).
"""

from __future__ import annotations

import re
from typing import Iterator

from ..rows import Row, conversation, strip_media_tokens
from .base import Draft, SourceDef, SourceInput, guarded

HUB_ID = "Fudan-FUXI/LiFT-HRA-20K"
RATING = re.compile(r"^\s*(good|normal|bad)\b", re.IGNORECASE)


def convert(inp: SourceInput) -> Iterator[Draft]:
    def one(row: Row) -> list[Draft]:
        human, gpt = conversation(row)
        if not RATING.match(gpt):
            raise row.error("conversations[1].value", f"unknown label: {gpt.split('.')[0][:40]!r} "
                                                      "(expected the answer to start with Good, Normal or Bad)")
        video = inp.file(row, "video", row.text("video"))
        return [Draft(id=f"lift_hra:{row.index}", task="video_gen", kind="point", media_field="video",
                      media=(video,), prompt=strip_media_tokens(human), answer=gpt.strip())]

    return guarded(inp, one)


SOURCE = SourceDef("lift_hra", "LiFT-HRA", "video_gen", "point", convert, ("LiFT-HRA-data.json",), None,
                   HUB_ID, "20K")
