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
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence


from harness.errors import UsageError
from harness.jsonl import parse_jsonl
from harness.records import Generation, Judgment, MediaRef, Reply, Request, Sample
from harness.registry import task
from harness.task import Dataset, Parsed, ProtocolSpec, Scoring, Task, TaskConfig

from .pairwise import score_accuracy
from .templates import load_template, render
from .verdicts import robust_pairwise_choice
from .vlrewardbench import seeded_swap

FILE_NAME = "pairs.jsonl"


@task("sharegptvideo_pairs")
class ShareGPTVideoPairs(Task):
    version = "1"
    splits = ("test",)
    default_protocol = "strict"
    protocols = {
        "strict": ProtocolSpec(
            "strict", "1", "the paper's video-understanding pair prompt, 8 frames, seeded swap, robust parser",
            deviations=("the paper's 1k held-out ids were never published: the user's file is judged",
                        "the paper script's parser cannot match its gold strings; a robust parser reads the verdict",
                        "answer order from (seed, id)")),
    }

    def load(self, cfg: TaskConfig) -> Dataset:
        if cfg.data_dir is None:
            raise UsageError("sharegptvideo_pairs needs --data-dir with pairs.jsonl: the paper's held-out pairs were "
                             "never published, so there is nothing to load from the hub")
        path = cfg.data_dir / FILE_NAME
        if not path.is_file():
            raise UsageError(f"--data-dir {cfg.data_dir}: no {FILE_NAME} there")
        raw = path.read_bytes()
        samples: list[Sample] = []
        seen: set[str] = set()
        for lineno, where, row, problem in parse_jsonl(raw.decode("utf-8").splitlines(), FILE_NAME):
            if row is None:
                samples.append(Sample(f"line-{lineno}", len(samples), {}, problem=problem))
                continue
            sample_id = str(row.get("id") or f"line-{lineno}")
            if sample_id in seen:
                raise UsageError(f"{path}: id {sample_id!r} repeats (line {lineno})")
            seen.add(sample_id)
            samples.append(self._sample(sample_id, len(samples), row, cfg, where))
        info = {"source": "local", "path": str(cfg.data_dir.resolve()), "data_sha256": hashlib.sha256(raw).hexdigest(),
                "n_rows": len(samples), "note": "user-chosen held-out pairs (the paper's 1k ids are unpublished)"}
        return Dataset(samples, info)

    def _sample(self, sample_id: str, index: int, row: dict, cfg: TaskConfig, where: str) -> Sample:
        responses, gold = row.get("responses"), row.get("gold")
        if not (isinstance(responses, list) and len(responses) == 2 and all(isinstance(r, str) for r in responses)):
            return Sample(sample_id, index, {}, problem=f"{where}: 'responses' must be a list of 2 strings")
        if gold not in (0, 1):
            return Sample(sample_id, index, {}, problem=f"{where}: 'gold' must be 0 or 1, got {gold!r}")
        if not isinstance(row.get("prompt"), str):
            return Sample(sample_id, index, {}, problem=f"{where}: 'prompt' must be a string")
        root = Path(cfg.data_dir or ".")
        frames = row.get("frames")
        if isinstance(row.get("video"), str):
            media = (MediaRef("video", row["video"], path=root / row["video"], frames=8, sampling="linspace",
                              resize=(512, 512)),)
        elif isinstance(frames, list) and frames and all(isinstance(f, str) for f in frames):
            media = tuple(MediaRef("image", f, path=root / f, resize=(512, 512), video_frame=True) for f in frames)
        else:
            return Sample(sample_id, index, {}, problem=f"{where}: needs 'video' (a path) or 'frames' (paths)")
        return Sample(sample_id, index, {"prompt": row["prompt"], "responses": responses, "gold": gold}, media)

    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        d = sample.data
        swapped = seeded_swap(cfg.seed, sample.id)
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
