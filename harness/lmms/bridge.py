"""Our reward tasks as lmms-eval plugin tasks (`ur_vlrewardbench`, `ur_genai_bench_image`).

lmms-eval drives a task through YAML hooks (`process_docs`, `doc_to_visual`, `doc_to_text`,
`process_results`, one aggregation per metric). Each hook here delegates to this project's task code, so
the prompt, the seeded answer order, the parser and the metrics are the ones `harness run` uses:

- `process_docs` turns each benchmark row into our `Sample` (our validation, sample ids and categories)
  and stores on the doc our exact `Request` for the `strict` protocol (`ur_request`: text and media parts
  in prompt order, generation settings, the gold position). Rows our loader rejects are dropped: a harness
  run records them as errors and leaves them out of every metric, so the numbers stay equal.
- `doc_to_visual` / `doc_to_text` give any lmms-eval model the same prompt (images in prompt order, the
  text parts joined). Our own `ur_openai` / `ur_hf` models read `ur_request` instead and rebuild the prompt
  part for part, media processed by our media loader (e.g. GenAI-Bench's 512x512 resize).
- `process_results` parses a reply with our task's `parse` and returns one record per metric; each
  aggregation rebuilds our `Judgment`s and calls our task's `score`.

The names are distinct (`ur_*`) on purpose: lmms-eval silently prefers a built-in task of the same name over
an `--include_path` task, and its built-in `vl_rewardbench` is a different protocol (sampling, a GPT parser
fallback, macro accuracy only).
"""

from __future__ import annotations

import functools
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

from harness.records import Generation, Judgment, MediaRef, Reply, Request, Sample
from harness.task import Task, TaskConfig

from .harness_tasks import PREFIX, PROTOCOL

#: The doc fields this bridge adds; lmms-eval logs them with each sample.
DOC_FIELDS = ("ur_id", "ur_index", "ur_data", "ur_request")


@dataclass(frozen=True)
class PluginSpec:
    """One plugin task: its lmms-eval name, the harness task behind it and where lmms-eval loads the data."""

    name: str
    harness_task: str
    hub_path: str
    hub_name: str | None
    hub_revision: str | None
    split: str
    media_fields: tuple[str, ...]
    metrics: tuple[str, ...]
    #: The protocol's generation settings (also written to the YAML's generation_kwargs).
    generation: Generation
    version: str = "1"


def plugin_spec(name: str) -> PluginSpec | None:
    """The plugin task of registered task `name`, built from the task's public seam, or None when the task
    cannot be one: it needs a `strict` protocol with fixed generation settings (`Task.generation`) and a hub
    dataset whose media are embedded images (lmms-eval hands the plugin the rows; URLs and videos are not
    bridged) and which can be read without naming a commit (`HubLayout.needs_revision`)."""
    from harness.registry import TASKS

    task = TASKS.get(name)()
    hub = task.data.hub if task.data is not None else None
    if (name.startswith(PREFIX) or PROTOCOL not in task.protocols or PROTOCOL not in task.generation
            or hub is None or not hub.image_columns or hub.url_columns or hub.needs_revision):
        return None  # (a hub dataset with no verified commit: lmms-eval would read whatever its head holds)
    split = task.splits[0]
    metrics = tuple(task.score([], task.config(PROTOCOL, 0, split, None)).point())
    return PluginSpec(PREFIX + name, name, hub.dataset, hub.config, hub.revision, split, tuple(hub.image_columns),
                      metrics, task.generation[PROTOCOL], version=str(task.version))


@functools.lru_cache(maxsize=1)
def specs() -> Mapping[str, PluginSpec]:
    """Every plugin task by its lmms-eval name: one per registered task that can be one (`plugin_spec`). Built
    once per process: it instantiates every task, and each hook of every doc asks for it."""
    from harness.registry import TASKS

    found = (plugin_spec(name) for name in TASKS.names() if not name.startswith(PREFIX))
    return MappingProxyType({spec.name: spec for spec in found if spec is not None})


def harness_task(spec: PluginSpec) -> Task:
    """A fresh instance of the harness task behind `spec`."""
    from harness.registry import TASKS

    return TASKS.get(spec.harness_task)()


def task_config(spec: PluginSpec, seed: int) -> TaskConfig:
    return harness_task(spec).config(PROTOCOL, seed, spec.split, None)


# ---- rows -> our samples ------------------------------------------------------------------------------

def hub_samples(spec: PluginSpec, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
    """Our samples for hub rows as lmms-eval loaded them, built by the task's own row code (the hub's id
    rule, validation, categories). Media are references by column name; the pixels stay in lmms-eval's
    dataset."""
    task = harness_task(spec)

    def by_column(raw: Any, uid: str) -> dict[str, MediaRef]:
        return {column: MediaRef("image", column) for column in spec.media_fields}

    return [task.to_sample(row) for row in task.rows_from(rows, media=by_column)]


def _media_part(ref: MediaRef, field: str | None) -> dict[str, Any]:
    return {"media": ref.label, "kind": ref.kind, "field": field,
            "path": str(ref.path) if ref.path is not None else None,
            "resize": list(ref.resize) if ref.resize else None, "frames": ref.frames, "sampling": ref.sampling}


def to_doc(spec: PluginSpec, sample: Sample, cfg: TaskConfig) -> dict[str, Any]:
    """The doc fields for one sample: id, dataset position, its data, and our exact request (JSON strings,
    so any datasets backend stores them)."""
    (request,) = harness_task(spec).requests(sample, cfg)
    parts = []
    for part in request.parts:
        if isinstance(part, str):
            parts.append({"text": part})
        else:
            parts.append(_media_part(part, part.label if part.label in spec.media_fields else None))
    data = {k: v for k, v in sample.data.items() if k != "media"}
    payload = {"key": request.key, "parts": parts, "generation": request.generation.as_dict(),
               "meta": dict(request.meta)}
    return {"ur_id": sample.id, "ur_index": sample.index, "ur_data": json.dumps(data, ensure_ascii=False),
            "ur_request": json.dumps(payload, ensure_ascii=False)}


# ---- docs -> prompt ------------------------------------------------------------------------------------

def doc_request(doc: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(doc["ur_request"])


def media_parts(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [p for p in doc_request(doc)["parts"] if "media" in p]


def prompt_text(doc: Mapping[str, Any]) -> str:
    """The text of our prompt for models that take images separately (all of ours put the images first)."""
    return "".join(p["text"] for p in doc_request(doc)["parts"] if "text" in p)


def visuals(doc: Mapping[str, Any]) -> list[Any]:
    """The prompt's images in prompt order as RGB PIL images, resized as the protocol asks (GenAI-Bench:
    512x512), for models other than ours."""
    from PIL import Image

    out = []
    for part in media_parts(doc):
        image = Image.open(part["path"]) if part["path"] else doc[part["field"]]
        if not isinstance(image, Image.Image):  # a {"bytes", "path"} struct when images are not decoded
            image = Image.open(io.BytesIO(image["bytes"]))
        image = image.convert("RGB")
        if part["resize"]:
            image = image.resize(tuple(part["resize"]), Image.Resampling.BICUBIC)
        out.append(image)
    return out


def generation(doc: Mapping[str, Any]) -> Generation:
    return Generation(**doc_request(doc)["generation"])


# ---- replies -> records -> metrics ----------------------------------------------------------------------

def sample_from_doc(doc: Mapping[str, Any]) -> Sample:
    return Sample(str(doc["ur_id"]), int(doc["ur_index"]), json.loads(doc["ur_data"]))


def judge_record(spec: PluginSpec, doc: Mapping[str, Any], text: str | None, seed: int) -> dict[str, Any]:
    """Our parse of one reply, as a JSON-able record: id, status, outcome, reason, and `score` (1.0 when the
    reply is right), which lmms-eval's CLT standard error reads."""
    payload = doc_request(doc)
    request = Request(payload["key"], str(doc["ur_id"]), (), Generation(**payload["generation"]), payload["meta"])
    sample = sample_from_doc(doc)
    parsed = harness_task(spec).parse(sample, [(request, Reply(request.key, text=text or ""))],
                                      task_config(spec, seed))
    outcome = dict(parsed.outcome)
    right = bool(outcome.get("correct")) and outcome.get("counted", True)
    return {"id": sample.id, "status": parsed.status, "reason": parsed.reason, "outcome": outcome,
            "score": 1.0 if right else 0.0}


def judgments(records: Iterable[Mapping[str, Any]]) -> list[Judgment]:
    return [Judgment(str(r["id"]), r["status"], outcome=r.get("outcome") or {}, reason=r.get("reason"))
            for r in records]


def aggregate(spec: PluginSpec, metric: str, records: Sequence[Mapping[str, Any]], seed: int) -> float:
    """One metric over the records with our task's own scoring (invalid replies count as wrong, empty
    categories give NaN, exactly as in results.json of a harness run)."""
    value = harness_task(spec).score(judgments(records), task_config(spec, seed)).point()[metric]
    return float(value) if value is not None else math.nan


# ---- the hooks, bound to one task and seed ---------------------------------------------------------------

class PluginTask:
    """The lmms-eval hooks of one plugin task. A generated `utils.py` holds one instance and exposes its
    methods as module functions (lmms-eval's `!function utils.NAME`)."""

    def __init__(self, name: str, seed: int = 0):
        self.spec = specs()[name]
        self.seed = seed

    def process_docs(self, dataset: Any) -> Any:
        """Hub rows -> rows with our fields; rows already carrying them (a generated local copy) pass as is."""
        if "ur_request" in dataset.column_names:
            return dataset
        plain = dataset.remove_columns([c for c in self.spec.media_fields if c in dataset.column_names])
        samples = hub_samples(self.spec, plain.to_list())
        cfg = task_config(self.spec, self.seed)
        keep = [i for i, s in enumerate(samples) if s.problem is None]
        docs = [to_doc(self.spec, samples[i], cfg) for i in keep]
        dataset = dataset.select(keep)
        for field in DOC_FIELDS:
            dataset = dataset.add_column(field, [d[field] for d in docs])
        return dataset

    def doc_to_visual(self, doc: Mapping[str, Any]) -> list[Any]:
        return visuals(doc)

    def doc_to_text(self, doc: Mapping[str, Any], lmms_eval_specific_kwargs: Mapping[str, Any] | None = None) -> str:
        return prompt_text(doc)

    def doc_to_target(self, doc: Mapping[str, Any]) -> str:
        return json.dumps(doc_request(doc)["meta"], sort_keys=True)

    def process_results(self, doc: Mapping[str, Any], results: Sequence[Any]) -> dict[str, Any]:
        record = judge_record(self.spec, doc, str(results[0]) if results else "", self.seed)
        return {metric: record for metric in self.spec.metrics}

    def aggregate(self, metric: str, records: Sequence[Mapping[str, Any]]) -> float:
        return aggregate(self.spec, metric, records, self.seed)


def metric_function_name(metric: str) -> str:
    """`accuracy/general` -> `agg_accuracy_general`: a Python name for the metric's aggregation."""
    return "agg_" + "".join(c if c.isalnum() else "_" for c in metric)


def local_docs(spec: PluginSpec, data_dir: Path, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """Docs for a local copy of the benchmark, loaded by our task's own loader: (docs, dataset info as a
    harness run records it, rows dropped because our loader rejected them)."""
    task = harness_task(spec)
    cfg = task.config(PROTOCOL, seed, spec.split, Path(data_dir).resolve())
    dataset = task.load(cfg)
    good = [s for s in dataset.samples if s.problem is None]
    return [to_doc(spec, s, cfg) for s in good], dict(dataset.info), len(dataset.samples) - len(good)
