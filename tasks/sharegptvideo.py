"""ShareGPTVideo pairs (video understanding, paper Table 4): `sharegptvideo_pairs`.

The paper tests on 1k pairs held out of ShareGPTVideo's 17k DPO pairs (HF
`ShareGPTVideo/train_video_and_instruction`, `video_instruction/train/dpo/sft_dpo_17k.jsonl`), but those
ids were never published, so Table 4 cannot be reproduced item for item. This task takes the held-out
file the user chose: `--data-dir DIR` with `pairs.jsonl`, one row per pair:

    {"id": str, "video": "videos/x.mp4" | "frames": ["f0.jpg", ...], "prompt": str,
     "responses": [str, str], "gold": 0 | 1}

paths relative to DIR; `gold` is the index of the better response.

Protocol `strict` (the only one): the paper's video-understanding pair prompt (appendix Fig. 11, the
released `pair_rank_video_understanding.py` text), 8 evenly spaced frames at 512x512 (a `frames` list is
used as given, each frame resized), frames before the text, answer order from (seed, id). The paper
script's own parser (cut after "Overall Judgment", stop at the first ".") cannot match its own gold
strings, so the verdict is read by the robust pairwise parser ("Response 2 is better", "Answer 1 is
better", ...); a reply naming both or neither is invalid and wrong. Metric: `accuracy`.

`--orders both` (docs/reliability.md, "Understanding, edit and video tasks"): each pair also judged with the
seeded order inverted (`order_verdict`: `harness.reliability.positional_view`). The paper's script shows the
file's order, never swapped; `strict` already swaps per (seed, id) (a deviation it names), so `both` adds none of
its own. A pair carries only `gold`: no human margin, no human scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.records import Generation, Judgment, MediaRef, Reply, Request, Sample
from harness.registry import task
from harness.reliability import OrderVerdict, positional_view
from harness.task import DataSpec, LocalLayout, Parsed, ProtocolSpec, Row, Scoring, Task, TaskConfig

from .pairwise import score_accuracy, seeded_swap
from .templates import load_template, render
from .verdicts import robust_pairwise_choice

FILE_NAME = "pairs.jsonl"


@task("sharegptvideo_pairs")
class ShareGPTVideoPairs(Task):
    version = "1"
    splits = ("test",)
    default_protocol = "strict"
    both_orders = True
    protocols = {
        "strict": ProtocolSpec(
            "strict", "1", "the paper's video-understanding pair prompt, 8 frames, seeded swap, robust parser",
            deviations=("the paper's 1k held-out ids were never published: the user's file is judged",
                        "the paper script's parser cannot match its gold strings; a robust parser reads the verdict",
                        "answer order from (seed, id)")),
    }

    data = DataSpec(local=LocalLayout(FILE_NAME), needs_data_dir=(
        "with pairs.jsonl: the paper's held-out pairs were never published, so there is nothing to load from the hub"),
        facts={"note": "user-chosen held-out pairs (the paper's 1k ids are unpublished)"})

    def local_media(self, fields: Mapping[str, Any], root: Path, where: str) -> dict[str, MediaRef]:
        """A video (8 evenly spaced frames) or its frames as images, each at 512x512."""
        frames = fields.get("frames")
        if isinstance(fields.get("video"), str):
            return {"video": MediaRef("video", fields["video"], path=root / fields["video"], frames=8,
                                      sampling="linspace", resize=(512, 512))}
        if isinstance(frames, list) and frames and all(isinstance(f, str) for f in frames):
            return {f"frame {i}": MediaRef("image", f, path=root / f, resize=(512, 512), video_frame=True)
                    for i, f in enumerate(frames)}
        return {}

    def sample(self, row: Row) -> Sample:
        responses, gold, where = row.fields.get("responses"), row.fields.get("gold"), row.where
        if not (isinstance(responses, list) and len(responses) == 2 and all(isinstance(r, str) for r in responses)):
            return Sample(row.id, row.index, {}, problem=f"{where}: 'responses' must be a list of 2 strings")
        if gold not in (0, 1):
            return Sample(row.id, row.index, {}, problem=f"{where}: 'gold' must be 0 or 1, got {gold!r}")
        if not isinstance(row.fields.get("prompt"), str):
            return Sample(row.id, row.index, {}, problem=f"{where}: 'prompt' must be a string")
        if not row.media:
            return Sample(row.id, row.index, {}, problem=f"{where}: needs 'video' (a path) or 'frames' (paths)")
        return Sample(row.id, row.index, {"prompt": row.fields["prompt"], "responses": responses, "gold": gold},
                      tuple(row.media.values()))

    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        d = sample.data
        swapped = seeded_swap(cfg.seed, sample.id) != cfg.flip_order  # --orders both: the other order
        first, second = (d["responses"][1], d["responses"][0]) if swapped else tuple(d["responses"])
        text = render(load_template("video_und_pair_unifiedreward.txt"),
                      {"Query": d["prompt"], "R1": first, "R2": second}, ())
        gold = 1 if (d["gold"] == 0) != swapped else 2
        parts = (*sample.media, *text)  # every frame before the text, as the paper's script
        return [Request(sample.id, sample.id, parts, Generation(max_new_tokens=4096),
                        meta={"gold": gold, "swapped": swapped})]

    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        request, reply = exchanges[0]
        choice, reason = robust_pairwise_choice(reply.text)
        outcome = {"gold": request.meta["gold"], "swapped": request.meta["swapped"], "verdict": choice,
                   "correct": choice == request.meta["gold"]}
        return Parsed("ok" if choice is not None else "invalid", outcome, reason)

    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        return score_accuracy(judgments)

    def order_verdict(self, outcome: Mapping[str, Any]) -> OrderVerdict:
        """`verdict` the answer named (1, 2), `gold` where the better response is shown, `swapped` the order."""
        return positional_view(outcome)

