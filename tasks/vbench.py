"""VBench (paper Table 8): `vbench`, read from the per-dimension results the `vbench` package writes.

VBench itself cannot run here: it pins transformers 4.33 and builds detectron2 from git. It runs in its own
environment on the generated videos (docs/downstream.md has the recipe; `harness generate --naming vbench`
writes the videos under the names it expects) and writes `evaluation_results/<name>_eval_results.json`,
one JSON object `{dimension: [score, [per-video results]]}` per evaluated dimension set. This task turns
those numbers into VBench's Total / Quality / Semantic (`vbench_scores`, below).

Design: each of the 16 dimensions is a sample, and the run's model is the `vbench-results` adapter
(`--model vbench-results --model-args path=DIR_OR_FILE,name=t2v-turbo`), which answers a dimension with the
score VBench wrote for it, read from every `*.json` object in DIR (VBench's `*_full_info.json` lists are
skipped). So a run is an ordinary run: the results files' hash is the model identity, `name=` is the row
label the report matches (the video generator, e.g. `t2v-turbo`), resume and records work as everywhere.
A dimension absent from the files gets an adapter error: its record is a counted error (`n_error`), it is
named in `details.missing_dimensions`, and it counts as raw 0 in the totals, exactly as VBench's
`cal_final_score.py` does, so a partial evaluation is visible rather than silently renormalised.

Metrics: `total`, `quality`, `semantic` (%, as VBench prints them) and each dimension's raw score
(`subject_consistency`, ... in VBench's 0-1 scale; null when missing). The sampling unit (videos) is not
visible at this level, so no bootstrap interval is given (resampled dimensions would mean nothing).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from harness.adapters import Adapter
from harness.errors import UsageError
from harness.records import Generation, Judgment, PreparedRequest, Reply, Request, Sample
from harness.registry import model, task
from harness.rows import DatasetInfo, RowSource, records_reader
from harness.task import IdRule, Parsed, ProtocolSpec, Row, Scoring, Task, TaskConfig

ADAPTER = "vbench-results"

# ---- VBench's final scores (paper Table 8) -------------------------------------------------------------
#
# VBench's own final-score rule (its scripts/constant.py and cal_final_score.py): each dimension's raw score
# s (0-1, as the `vbench` package writes it) becomes n = (s - min) / (max - min) * w, with no clipping;
# Quality is the weighted mean of the first 7 dimensions (sum of n over the sum of their weights, 6.5),
# Semantic that of the last 9 (sum 9), Total = (4 * Quality + 1 * Semantic) / 5. The constants are
# VBench's (the min/max are the range it observed over its own sampled videos).

#: dimension -> (min, max, weight), in VBench's order: 7 quality dimensions, then 9 semantic ones.
VBENCH_DIMENSIONS: dict[str, tuple[float, float, float]] = {
    "subject_consistency": (0.1462, 1.0, 1.0),
    "background_consistency": (0.2615, 1.0, 1.0),
    "temporal_flickering": (0.6293, 1.0, 1.0),
    "motion_smoothness": (0.706, 0.9975, 1.0),
    "dynamic_degree": (0.0, 1.0, 0.5),
    "aesthetic_quality": (0.0, 1.0, 1.0),
    "imaging_quality": (0.0, 1.0, 1.0),
    "object_class": (0.0, 1.0, 1.0),
    "multiple_objects": (0.0, 1.0, 1.0),
    "human_action": (0.0, 1.0, 1.0),
    "color": (0.0, 1.0, 1.0),
    "spatial_relationship": (0.0, 1.0, 1.0),
    "scene": (0.0, 0.8222, 1.0),
    "appearance_style": (0.0009, 0.2855, 1.0),
    "temporal_style": (0.0, 0.364, 1.0),
    "overall_consistency": (0.0, 0.364, 1.0),
}
VBENCH_QUALITY = tuple(VBENCH_DIMENSIONS)[:7]
VBENCH_SEMANTIC = tuple(VBENCH_DIMENSIONS)[7:]


def vbench_scores(dimension_scores: Mapping[str, float]) -> dict[str, float]:
    """VBench's Quality, Semantic and Total scores in % (as its leaderboard prints them) from raw
    per-dimension scores in [0, 1].

    Keys are VBench's dimension names as its JSON writes them (`subject_consistency`); the spaced form
    of its scripts (`subject consistency`) is accepted too. A dimension that is absent counts as raw 0,
    exactly as VBench's `cal_final_score.py` does (so a partial evaluation is visibly penalised, never
    silently renormalised); callers name the absent ones as `set(VBENCH_DIMENSIONS) - given` (the
    `vbench` task reports them). An unknown name or a non-finite score raises ValueError: a typo
    would otherwise turn a real dimension into a silent 0.
    """
    raw: dict[str, float] = {}
    for key, value in dimension_scores.items():
        name = str(key).strip().replace(" ", "_")
        if name not in VBENCH_DIMENSIONS:
            raise ValueError(f"unknown VBench dimension {key!r}; known: {', '.join(VBENCH_DIMENSIONS)}")
        if name in raw:
            raise ValueError(f"VBench dimension {name!r} is given twice")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"VBench dimension {name!r} has a non-finite score {value!r}")
        raw[name] = value

    def normalised(name: str) -> float:
        low, high, weight = VBENCH_DIMENSIONS[name]
        return (raw.get(name, 0.0) - low) / (high - low) * weight

    quality = sum(normalised(d) for d in VBENCH_QUALITY) / sum(VBENCH_DIMENSIONS[d][2] for d in VBENCH_QUALITY)
    semantic = sum(normalised(d) for d in VBENCH_SEMANTIC) / sum(VBENCH_DIMENSIONS[d][2] for d in VBENCH_SEMANTIC)
    total = (4.0 * quality + 1.0 * semantic) / 5.0
    return {"quality": 100.0 * quality, "semantic": 100.0 * semantic, "total": 100.0 * total}


# ---- the results reader ------------------------------------------------------------------------------
def dimension_score(value: Any) -> float:
    """VBench writes `[score, per_video]`; a bare number is accepted for hand-made files."""
    score = value[0] if isinstance(value, (list, tuple)) and value else value
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise ValueError(f"score {score!r} is not a finite number")
    return float(score)


def read_vbench_results(path: Path) -> tuple[dict[str, float | str], dict[str, str]]:
    """({dimension: raw score, or the problem with its value}, {file name: sha256}) from a results file or
    every `*.json` in a directory. Keys are normalised to VBench's `snake_case`; keys that are not one of
    the 16 dimensions are ignored. One dimension given two different scores is a usage error."""
    files = sorted(p for p in path.iterdir() if p.suffix == ".json") if path.is_dir() else [path]
    if not path.exists() or not files:
        raise UsageError(f"{ADAPTER}: no VBench results at {path} (expected evaluation_results/*_eval_results.json)")
    scores: dict[str, float | str] = {}
    origin: dict[str, str] = {}
    hashes: dict[str, str] = {}
    for file in files:
        raw = file.read_bytes()
        hashes[file.name] = hashlib.sha256(raw).hexdigest()
        try:
            content = json.loads(raw.decode("utf-8"))
        except ValueError as exc:
            raise UsageError(f"{ADAPTER}: {file}: malformed JSON ({exc})") from None
        if not isinstance(content, dict):
            continue  # VBench's *_full_info.json (the prompt list) sits beside the results
        for key, value in content.items():
            name = str(key).strip().replace(" ", "_")
            if name not in VBENCH_DIMENSIONS:
                continue
            try:
                entry: float | str = dimension_score(value)
            except ValueError as exc:
                entry = f"{file.name}: dimension {name}: {exc}"
            if name in scores and scores[name] != entry:
                raise UsageError(f"{ADAPTER}: dimension {name} has different results in {origin[name]} and {file.name}")
            scores[name], origin[name] = entry, file.name
    return scores, hashes


@model(ADAPTER)
class VBenchResultsAdapter(Adapter):
    """VBench's per-dimension results as scores: path=evaluation_results DIR or a JSON file, name=GENERATOR."""

    kind = "scorer"
    needs_media = False
    cacheable = False  # a dictionary lookup

    def __init__(self, path: str, name: str = ""):
        """path: VBench's output directory (or one results JSON); name: the video generator evaluated (the
        model label in results and reports; default: the directory's name)."""
        super().__init__(path=path, name=name)
        self.path = Path(path)
        self.label = name or self.path.resolve().name
        self.scores, self.hashes = read_vbench_results(self.path)

    def identity(self) -> dict[str, Any]:
        digest = hashlib.sha256(json.dumps(sorted(self.hashes.items())).encode()).hexdigest()
        return {"model": self.label, "results_sha256": digest, "files": sorted(self.hashes)}

    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        for prepared in requests:
            dim = prepared.request.meta["dimension"]
            entry = self.scores.get(dim)
            if entry is None:
                yield Reply(prepared.key, error=f"no VBench result for dimension {dim} in {self.path}", attempts=0)
            elif isinstance(entry, str):
                yield Reply(prepared.key, error=entry, attempts=0)
            else:
                yield Reply(prepared.key, score=entry)


# ---- the task ----------------------------------------------------------------------------------------
@task("vbench")
class VBench(Task):
    version = "1"
    splits = ("test",)
    default_protocol = "vbench"
    scorer_protocol = "vbench"
    protocols = {"vbench": ProtocolSpec(
        "vbench", "1", "VBench's normalisation (min/max/weight per dimension, no clipping), Quality = weighted "
        "mean of 7, Semantic = mean of 9, Total = (4 Quality + Semantic) / 5; a missing dimension counts as 0")}

    def config(self, protocol: str | None, seed: int, split: str | None, data_dir: Path | None,
               scorer: bool = False, revision: str | None = None) -> TaskConfig:
        if not scorer:
            raise UsageError(f"vbench reads VBench's own results: --model {ADAPTER} --model-args "
                             f"path=evaluation_results/,name=GENERATOR (docs/downstream.md)")
        return super().config(protocol, seed, split, data_dir, scorer, revision)

    def rows(self, cfg: TaskConfig) -> RowSource:
        """The 16 dimensions, one row each (the scores themselves come from the adapter)."""
        info = DatasetInfo(source="VBench per-dimension results (read by the vbench-results adapter)")
        return RowSource(info, records_reader([{"dimension": d} for d in VBENCH_DIMENSIONS], "dimension"),
                         IdRule(("dimension",)), name="VBench's dimensions")

    def sample(self, row: Row) -> Sample:
        dim = row.fields["dimension"]
        group = "quality" if dim in VBENCH_QUALITY else "semantic"
        return Sample(row.id, row.index, {"dimension": dim, "group": group})

    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        dim = sample.data["dimension"]
        return [Request(dim, sample.id, (dim,), Generation(), meta={"stage": "results", "dimension": dim})]

    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        score = exchanges[0][1].score
        if score is None or not math.isfinite(score):
            return Parsed("invalid", {"group": sample.data["group"]}, f"no finite score for {sample.id}")
        return Parsed("ok", {"raw": float(score), "group": sample.data["group"]})

    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        import numpy as np  # numpy: only when scoring (`harness list` imports this module, never scores)

        raw = {j.sample_id: float(j.outcome["raw"]) for j in judgments if j.status == "ok"}
        missing = [d for d in VBENCH_DIMENSIONS if d not in raw]
        point = {**vbench_scores(raw), **{d: raw.get(d, math.nan) for d in VBENCH_DIMENSIONS}}
        ids = [j.sample_id for j in judgments]
        identity = np.arange(len(ids))

        def compute(idx: np.ndarray) -> dict[str, float]:
            # Only the full set of dimensions means anything; a bootstrap replicate gets NaN (no interval).
            if idx.size == identity.size and np.array_equal(idx, identity):
                return dict(point)
            return {k: math.nan for k in point}

        normalised = {d: (raw.get(d, 0.0) - lo) / (hi - lo) * w for d, (lo, hi, w) in VBENCH_DIMENSIONS.items()}
        details = {"missing_dimensions": missing, "n_missing": len(missing), "normalised": normalised,
                   "rule": "missing dimensions count as raw 0 (VBench cal_final_score.py)"}
        return Scoring(compute, ids, details=details)
