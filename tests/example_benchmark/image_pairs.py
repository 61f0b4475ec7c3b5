"""Image pairs (an example pairwise image benchmark): which of two images generated from one caption did people
prefer? `example_image_pairs`, registered by its entry point (docs/extending.md).

Data: `--data-dir DIR` holding `pairs.jsonl`, one row per pair,

    {"id": "p1", "caption": "a red cube", "image_0": "img/p1_0.png", "image_1": "img/p1_1.png", "label": 0}

image paths relative to DIR, `label` the index of the preferred image. A copy on the hub would add
`hub=HubLayout("<org>/<name>", "<commit>", image_columns=("image_0", "image_1"))` to `data`: the default
`rows` then reads it at that commit with the images as undecoded bytes.

Protocols:
- `strict` (default, generative judges): the caption and both images (prompts/image_pairs.txt), the order
  swapped per pair from (seed, id); the reply must name exactly one of "Image 1 is better" / "Image 2 is
  better", else it is invalid and counts as wrong. Metric: `accuracy` (%).
- `scores` (scalar scorers such as PickScore): each image scored alone with the caption; a pair is right when
  the preferred image scores higher. Metrics: accuracy with and without ties (a human tie cannot occur here).
"""

from __future__ import annotations

import re
from typing import Sequence

from harness.records import Generation, Judgment, Reply, Request, Sample
from harness.task import DataSpec, LocalLayout, Parsed, ProtocolSpec, Row, Scoring, Task, TaskConfig
from tasks.pairwise import margin_outcome, score_accuracy, score_margins, scorer_requests, seeded_swap
from tasks.templates import load_template, render

VERDICT = re.compile(r"\bImage ([12]) is better\b")
GENERATION = Generation(max_new_tokens=1024)


class ImagePairs(Task):
    name = "example_image_pairs"
    version = "1"
    splits = ("test",)
    default_protocol = "strict"
    scorer_protocol = "scores"
    protocols = {
        "strict": ProtocolSpec("strict", "1", "caption and two images, seeded order swap, one 'Image N is better'"),
        "scores": ProtocolSpec("scores", "1", "scalar scorer: m = score(image 0) - score(image 1)"),
    }
    data = DataSpec(local=LocalLayout("pairs.jsonl", {"image_0": "image", "image_1": "image"},
                                      layout="one row per pair: id, caption, image_0, image_1, label"),
                    needs_data_dir="with pairs.jsonl and its images")

    def sample(self, row: Row) -> Sample:
        caption, label = row.fields.get("caption"), row.fields.get("label")
        if not isinstance(caption, str):
            return Sample(row.id, row.index, {}, problem=f"{row.where}: 'caption' must be a string")
        if label not in (0, 1):
            return Sample(row.id, row.index, {}, problem=f"{row.where}: 'label' must be 0 or 1, got {label!r}")
        return Sample(row.id, row.index, {"caption": caption, "label": label}, tuple(row.media.values()))

    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        caption = sample.data["caption"]
        if cfg.protocol == "scores":  # candidate A is image 0
            return scorer_requests(sample, caption, [("A", sample.media[0]), ("B", sample.media[1])])
        swapped = seeded_swap(cfg.seed, sample.id)
        shown = sample.media[::-1] if swapped else sample.media
        parts = render(load_template("image_pairs.txt", package=__package__), {"caption": caption}, shown)
        gold = 1 if (sample.data["label"] == 0) != swapped else 2  # where the preferred image is shown
        return [Request(sample.id, sample.id, parts, GENERATION, meta={"gold": gold, "swapped": swapped})]

    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        if cfg.protocol == "scores":
            status, outcome, reason = margin_outcome(exchanges, 1 if sample.data["label"] == 0 else -1)
            return Parsed(status, outcome, reason)
        request, reply = exchanges[0]
        named = {int(n) for n in VERDICT.findall(reply.text or "")}
        verdict = named.pop() if len(named) == 1 else None
        outcome = {"gold": request.meta["gold"], "swapped": request.meta["swapped"], "verdict": verdict,
                   "correct": verdict == request.meta["gold"]}
        if verdict is None:
            return Parsed("invalid", outcome, "the reply names neither or both of 'Image 1/2 is better'")
        return Parsed("ok", outcome)

    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        return score_margins(judgments) if cfg.protocol == "scores" else score_accuracy(judgments)
