"""VideoRewardBench (Zhang et al., arXiv 2509.00484): reward models judging answers about a video. `videorewardbench`.

Not `videogen_rewardbench`: that is VideoGen-RewardBench (VideoAlign), pairs of *generated videos* for one text
prompt. Here the video is given and the two candidates are *text answers* to a question about it (a video-text
prompt, a chosen and a rejected response): 1,563 triplets in five dimensions of four aspects - long-form
perception 283, short-form perception 413, knowledge 238, reasoning 278, safety 351 (as the alphaXiv benchmark
page lists them).

What could and could not be read from here. The paper's abstract, its project page (videorewardbench.github.io)
and a third-party transcription of its results table (reports/tables/videorewardbench.yaml) were readable; the
benchmark's evaluation code, judge prompt, verdict parser and data files were not (no public repository of them
was found, and the hub dataset, HF `Dragonriser/VideoRewardBench`, cannot be opened here). So:
- the metrics are the paper's: accuracy per dimension and `overall_accuracy` over all triplets (micro: the
  published overall numbers are the size-weighted means of the five dimensions, checked in
  tests/test_videorewardbench.py); `accuracy/perception` pools the two perception dimensions (the aspect; the
  paper prints only its two parts);
- the layout is ours, documented here: `--data-dir DIR` with `videorewardbench.jsonl`, one row per triplet,

      {"id": str, "video": "videos/x.mp4", "prompt": str, "chosen": str, "rejected": str,
       "dimension": "long_perception" | "short_perception" | "knowledge" | "reasoning" | "safety"}

  video paths relative to DIR (`dimension` may also be the paper's name, e.g. "Long-form Perception"); the hub
  path reads the same fields from `Dragonriser/VideoRewardBench` and needs `--dataset-revision <commit>` (no commit
  could be verified here: `HF_REVISION = None`); hub rows carry no video file, so only replayed replies judge them;
- the judge prompt is the UnifiedReward video-understanding pair prompt (prompts/video_und_pair_unifiedreward.txt,
  CodeGoat24/UnifiedReward `pair_rank_video_understanding.py`), every frame before the text, the one verbatim and
  sourced prompt for this kind of pair available here; the verdict is read by the robust pairwise parser
  ("Response 2 is better", "Answer 1 is better"); a reply naming both or neither is `invalid`, counted in
  `n_invalid` and wrong. All of this is named in each protocol's deviations.

Protocols (greedy; chosen/rejected shown in an order decided per triplet from (seed, id), about half swapped):
- `strict` (default): 64 frames evenly spaced over the whole video (linspace, both ends), native size: the
  paper's main setting as its frame-count study reports it (LLaVA-Critic-72B rises from 52.0% at 1 frame to
  63.0% at 64 frames, its main-table number);
- `unifiedreward`: 8 frames evenly spaced at 512x512, as the UnifiedReward video-understanding script feeds
  its judge.

`--orders both` (docs/reliability.md, "Understanding, edit and video tasks"): each triplet also judged with the
seeded order inverted (`order_verdict`: `harness.reliability.positional_view`). Both protocols already randomise
the order, so it is no deviation of theirs; the benchmark's own order could not be read. A triplet carries no human
margin (one chosen, one rejected) and no human scores: no accuracy-by-margin or calibration metrics.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping, Sequence

from harness.records import Generation, Judgment, MediaRef, Reply, Request, Sample
from harness.registry import task
from harness.reliability import OrderVerdict, positional_view
from harness.task import DataSpec, HubLayout, IdRule, LocalLayout, Parsed, ProtocolSpec, Row, Scoring, \
    Task, TaskConfig

from .pairwise import seeded_swap
from .templates import load_template, render
from .verdicts import robust_pairwise_choice

HF_DATASET = "Dragonriser/VideoRewardBench"
#: No commit of the hub dataset could be verified from here; the hub path needs --dataset-revision.
HF_REVISION: str | None = None
FILE_NAME = "videorewardbench.jsonl"
DIMENSIONS = ("long_perception", "short_perception", "knowledge", "reasoning", "safety")
ASPECTS = ("perception", "knowledge", "reasoning", "safety")
ASPECT_OF = {"long_perception": "perception", "short_perception": "perception", "knowledge": "knowledge",
             "reasoning": "reasoning", "safety": "safety"}
#: Triplets per dimension in the benchmark (1,563 in all).
DIMENSION_SIZES = {"long_perception": 283, "short_perception": 413, "knowledge": 238, "reasoning": 278, "safety": 351}
#: The paper's dimension names, lowercased with '-' and '_' read as spaces -> our keys.
DIMENSION_NAMES = {"long perception": "long_perception", "long form perception": "long_perception",
                   "short perception": "short_perception", "short form perception": "short_perception",
                   "knowledge": "knowledge", "reasoning": "reasoning", "safety": "safety"}
PROMPT = "video_und_pair_unifiedreward.txt"
GENERATION = Generation(max_new_tokens=4096)


@dataclasses.dataclass(frozen=True)
class Frames:
    """How a protocol samples each video (MediaRef.frames / sampling / resize)."""

    count: int
    resize: tuple[int, int] | None = None


FRAMES = {"strict": Frames(64), "unifiedreward": Frames(8, (512, 512))}
UNREAD = ("the benchmark's judge prompt and verdict parser could not be read (no public evaluation code found): the "
          "UnifiedReward video-understanding pair prompt and the robust pairwise parser are used",
          "answer order from (seed, id); the benchmark's presentation order could not be read",
          "our --data-dir layout (videorewardbench.jsonl); the benchmark's files could not be read")
PROTOCOLS = {
    "strict": ProtocolSpec(
        "strict", "1", "UnifiedReward video-understanding pair prompt, 64 evenly spaced frames, seeded order swap, "
        "robust parser; invalid replies count as wrong",
        deviations=(*UNREAD, "64 frames evenly spaced (linspace) from the paper's frame-count study; the benchmark's "
                    "frame sampler could not be read")),
    "unifiedreward": ProtocolSpec(
        "unifiedreward", "1", "the same prompt and parser with 8 evenly spaced frames at 512x512, as the UnifiedReward "
        "video-understanding script feeds its judge",
        deviations=(*UNREAD, "8 frames at 512x512 (the UnifiedReward script's input), not the benchmark's")),
}


def dimension_key(value: Any) -> str | None:
    """Our key for a dimension label (`long_perception`, "Long-form Perception", ...), or None."""
    if not isinstance(value, str):
        return None
    return DIMENSION_NAMES.get(re.sub(r"\s+", " ", re.sub(r"[-_]", " ", value)).strip().lower())


@task("videorewardbench")
class VideoRewardBench(Task):
    version = "1"
    protocols = PROTOCOLS
    default_protocol = "strict"
    splits = ("test",)
    generation = {"strict": GENERATION, "unifiedreward": GENERATION}
    both_orders = True
    data = DataSpec(
        hub=HubLayout(HF_DATASET, HF_REVISION, ids=IdRule(("id",), fallback="row-{index}"), needs_revision=True),
        local=LocalLayout(FILE_NAME, {"video": "video"},
                          layout="one row per triplet: id, video, prompt, chosen, rejected, dimension"))

    # ---- rows -> samples -----------------------------------------------------------------------------
    def sample(self, row: Row) -> Sample:
        fields = row.fields
        problem = None
        for name in ("prompt", "chosen", "rejected"):
            if not isinstance(fields.get(name), str):
                problem = f"field {name!r} must be a string"
                break
        dimension = dimension_key(fields.get("dimension"))
        if problem is None and dimension is None:
            problem = (f"field 'dimension' must be one of {', '.join(DIMENSIONS)} (or the paper's names), "
                       f"got {fields.get('dimension')!r}")
        if problem is None and row.source == "local" and not isinstance(fields.get("video"), str):
            problem = "field 'video' must be a path relative to the data directory"
        if problem is not None:
            return Sample(row.id, row.index, {}, problem=f"{row.where} (id {row.id}): {problem}")
        # A hub row names its video but carries no file: a reference that only replay can do without.
        video = row.media.get("video") or MediaRef("video", f"{HF_DATASET}:{row.id}:video")
        data = {"prompt": fields["prompt"], "chosen": fields["chosen"], "rejected": fields["rejected"],
                "dimension": dimension}
        return Sample(row.id, row.index, data, (video,))

    # ---- requests ------------------------------------------------------------------------------------
    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        d = sample.data
        swapped = seeded_swap(cfg.seed, sample.id) != cfg.flip_order  # --orders both: the other order
        first, second = (d["rejected"], d["chosen"]) if swapped else (d["chosen"], d["rejected"])
        frames = FRAMES[cfg.protocol]
        video = dataclasses.replace(sample.media[0], frames=frames.count, sampling="linspace", resize=frames.resize)
        text = render(load_template(PROMPT), {"Query": d["prompt"], "R1": first, "R2": second}, ())
        return [Request(sample.id, sample.id, (video, *text), GENERATION,
                        meta={"gold": 2 if swapped else 1, "swapped": swapped})]

    # ---- parse ---------------------------------------------------------------------------------------
    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        request, reply = exchanges[0]
        choice, reason = robust_pairwise_choice(reply.text)
        gold = request.meta["gold"]
        outcome = {"dimension": sample.data["dimension"], "gold": gold, "swapped": request.meta["swapped"],
                   "verdict": choice, "correct": choice == gold}
        return Parsed("ok" if choice is not None else "invalid", outcome, reason)

    # ---- score ---------------------------------------------------------------------------------------
    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        return score_dimensions(judgments)

    # ---- both orders ---------------------------------------------------------------------------------
    def order_verdict(self, outcome: Mapping[str, Any]) -> OrderVerdict:
        """`verdict` the answer named (1, 2), `gold` where the chosen one is shown, `swapped`: rejected shown first."""
        return positional_view(outcome)



def score_dimensions(judgments: Sequence[Judgment]) -> Scoring:
    """Accuracy (%) per dimension, per aspect (perception pooled) and over all triplets; an invalid reply is a
    judged triplet that is wrong, an error (no reply) is left out."""
    import numpy as np

    from harness.metrics import grouped_accuracy, grouped_accuracy_many

    scored = [j for j in judgments if j.status != "error"]
    dims = np.array([DIMENSIONS.index(j.outcome["dimension"]) for j in scored], dtype=np.int64)
    aspects = np.array([ASPECTS.index(ASPECT_OF[d]) for d in (DIMENSIONS[k] for k in dims)], dtype=np.int64)
    correct = np.array([bool(j.outcome.get("correct")) for j in scored], dtype=bool)
    counted = np.ones(correct.size, dtype=bool)

    def compute(idx: np.ndarray) -> dict[str, float]:
        per_dim, overall = grouped_accuracy(correct, counted, dims, idx, len(DIMENSIONS))
        per_aspect, _ = grouped_accuracy(correct, counted, aspects, idx, len(ASPECTS))
        out = {f"accuracy/{name}": float(per_dim[k]) for k, name in enumerate(DIMENSIONS)}
        out["accuracy/perception"] = float(per_aspect[0])
        out["overall_accuracy"] = overall
        return out

    def compute_many(idx2d: np.ndarray) -> dict[str, np.ndarray]:
        per_dim, overall = grouped_accuracy_many(correct, counted, dims, idx2d, len(DIMENSIONS))
        per_aspect, _ = grouped_accuracy_many(correct, counted, aspects, idx2d, len(ASPECTS))
        out = {f"accuracy/{name}": per_dim[:, k] for k, name in enumerate(DIMENSIONS)}
        out["accuracy/perception"] = per_aspect[:, 0]
        out["overall_accuracy"] = overall
        return out

    rows: dict[str, np.ndarray] = {"overall_accuracy": counted, "accuracy/perception": aspects == 0}
    rows.update({f"accuracy/{name}": dims == k for k, name in enumerate(DIMENSIONS)})
    sizes = {name: int(np.sum(dims == k)) for k, name in enumerate(DIMENSIONS)}
    return Scoring(compute, [j.sample_id for j in scored], details={
        "dimension_sizes": sizes, "swapped": int(sum(bool(j.outcome.get("swapped")) for j in scored))},
        correct=correct, accuracy_rows=rows, compute_many=compute_many)
