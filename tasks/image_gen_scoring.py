"""Generated images scored by a scalar scorer (paper Table 9): `partiprompts_gen`, `hpsv2_prompts_gen`.

The images come from `harness generate` (alignment/generate.py) run on the prompt set: PartiPrompts
(1,632 prompts, `PartiPrompts.tsv`) or the HPSv2 benchmark prompts (3,200: HF `zhwang/HPDv2`
`benchmark/{anime,concept-art,paintings,photo}.json`), e.g. SDXL-Turbo at 4 steps, guidance 0. `--data-dir`
is that output directory: `manifest.jsonl` (one row per image: `{id, prompt, path, seed, index}`, `path`
relative to the directory) and the images; `generation.json` beside it (the policy and its settings) is
copied into results.json (`dataset.generation`) so a run says which generator it scored.

The run's `--model` is a scalar scorer: `pickscore` here, or `scores` for HPSv2 / ImageReward computed in
their own environments (a score file keyed by image path, `{"media": "<path>", "score": s}`, see
docs/scorers.md). Each image is one sample, scored with its own prompt; the metric is the plain mean.

The task cannot see which scorer runs, so `--protocol` names the scale and thereby the metric:
- `pickscore`: raw PickScore, logit_scale * cos (about 20-23 for SDXL-class models);
- `hpsv2`: HPSv2 x 100 (HPSv2's scorer returns a cosine, about 0.27-0.33; the benchmark prints x100). A raw
  value above 1 cannot be an HPSv2 cosine (most likely a file already x100) and is `invalid`, not rescaled;
- `imagereward`: ImageReward's raw reward (a z-scored scale, about -2 to 2);
- `score` (the default): any other scorer, raw mean.
results.json states the scale (`details.scale`). Table 9's PickScore column (43-63) is not a raw PickScore
mean (docs/downstream.md), so `pickscore` will not match it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from harness.errors import UsageError
from harness.records import Generation, Judgment, Reply, Request, Sample
from harness.registry import task
from harness.rows import RowSource
from harness.task import (DataSpec, IdRule, LocalLayout, Parsed, ProtocolSpec, Row, Scoring, Tally, Task,
                          TaskConfig)

MANIFEST = "manifest.jsonl"
GENERATION_INFO = "generation.json"

#: protocol -> (factor applied to the raw mean, the scale as results.json states it)
SCALES: dict[str, tuple[float, str]] = {
    "pickscore": (1.0, "raw PickScore: logit_scale * cos(text, image), about 20-23 for SDXL-class models"),
    "hpsv2": (100.0, "HPSv2 x 100 (the scorer's cosine times 100, as the HPSv2 benchmark reports)"),
    "imagereward": (1.0, "raw ImageReward reward (z-scored scale, about -2 to 2)"),
    "score": (1.0, "the scorer's raw output, mean over images"),
}


def image_stem(fields: Mapping[str, Any]) -> str | None:
    """A well-formed manifest row's sample id: its image's file stem (None: no id, the row is malformed)."""
    if all(isinstance(fields.get(k), str) for k in ("prompt", "path")) and fields.get("id") is not None:
        return Path(fields["path"]).stem
    return None


class ImageGenScoring(Task):
    """Base of the two prompt sets (registered below)."""

    version = "1"
    splits = ("test",)
    default_protocol = "score"
    scorer_protocol = "score"
    protocols = {name: ProtocolSpec(name, "1", scale) for name, (_, scale) in SCALES.items()}
    prompt_set: ClassVar[str]
    expected_prompts: ClassVar[int]

    def config(self, protocol: str | None, seed: int, split: str | None, data_dir: Path | None,
               scorer: bool = False, revision: str | None = None) -> TaskConfig:
        """Every protocol here is a scalar-scorer protocol naming the scale, so the base rule (one scorer
        protocol) is replaced: any of them with a scorer, none with a generative judge."""
        if not scorer:
            raise UsageError(f"task {self.name!r} scores images with a scalar scorer (--model pickscore, or scores "
                             f"for HPSv2/ImageReward); the model given is a generative judge")
        protocol = protocol or self.scorer_protocol
        if protocol not in self.protocols:
            raise UsageError(f"task {self.name!r} has no protocol {protocol!r}; valid: {', '.join(self.protocols)} "
                             f"(the scale of the scorer)")
        return TaskConfig(protocol=protocol, seed=seed, split=self.resolve_split(split), data_dir=data_dir,
                          scorer=True, revision=revision)

    data = DataSpec(local=LocalLayout(MANIFEST, {"path": "image"}, IdRule(derive=image_stem),
                                      layout="written by `harness generate`"))

    def rows(self, cfg: TaskConfig) -> RowSource:
        if cfg.data_dir is None:
            raise UsageError(f"{self.name} needs --data-dir: the output of `harness generate` on {self.prompt_set} "
                             f"({MANIFEST} + images)")
        facts: dict[str, Any] = {"prompt_set": self.prompt_set, "expected_prompts": self.expected_prompts}
        generation = cfg.data_dir / GENERATION_INFO
        if generation.is_file():
            try:
                facts["generation"] = json.loads(generation.read_text(encoding="utf-8"))
            except ValueError:
                facts["generation"] = f"unreadable {GENERATION_INFO}"
        return super().rows(cfg).with_facts(**facts)

    def sample(self, row: Row) -> Sample:
        if image_stem(row.fields) is None:
            return Sample(row.id, row.index, {}, problem=f"{row.where}: needs 'id', 'prompt' and 'path'")
        return Sample(row.id, row.index, {"prompt": row.fields["prompt"], "prompt_id": str(row.fields["id"])},
                      (row.media["path"],))

    def observe(self, tally: Tally, row: Row, sample: Sample) -> None:
        tally.distinct("n_prompts", *([sample.data["prompt_id"]] if sample.problem is None else []))

    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        media = sample.media[0]
        meta = {"prompt": sample.data["prompt"], "media_label": media.label, "item_id": sample.id}
        return [Request(sample.id, sample.id, (sample.data["prompt"], media), Generation(), meta=meta)]

    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        score = exchanges[0][1].score
        outcome = {"prompt_id": sample.data["prompt_id"]}
        if score is None or not math.isfinite(score):
            return Parsed("invalid", outcome, "the scorer returned no finite score")
        if cfg.protocol == "hpsv2" and abs(score) > 1.0:
            return Parsed("invalid", {**outcome, "raw": score},
                          f"HPSv2 score {score} is not a cosine (|s| <= 1); already x100? Give the scorer's raw output")
        return Parsed("ok", {**outcome, "raw": float(score)})

    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        import numpy as np  # numpy: only when scoring (`harness list` imports this module, never scores)

        rows = [j for j in judgments if j.status == "ok"]
        raw = np.array([j.outcome["raw"] for j in rows], dtype=float)
        factor, scale = SCALES[cfg.protocol]

        def compute(idx: np.ndarray) -> dict[str, float]:
            return {cfg.protocol: factor * float(raw[idx].mean()) if idx.size else math.nan}

        details = {"scale": scale, "factor": factor,
                   "n_prompts_scored": len({j.outcome["prompt_id"] for j in rows})}
        return Scoring(compute, [j.sample_id for j in rows], details=details)


@task("partiprompts_gen")
class PartiPromptsGen(ImageGenScoring):
    prompt_set = "PartiPrompts"
    expected_prompts = 1632


@task("hpsv2_prompts_gen")
class HPSv2PromptsGen(ImageGenScoring):
    prompt_set = "HPSv2 benchmark prompts"
    expected_prompts = 3200
