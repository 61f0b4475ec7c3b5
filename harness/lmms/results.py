"""lmms-eval output -> a harness run directory that `harness report` / `compare` read.

lmms-eval 0.7 writes `<output_path>/<model>/<date>_results.json` (`results`, `configs`, `versions`,
`n-samples`, `config`, `lmms_eval_version`, ...) and, with `--log_samples`, one
`<date>_samples_<task>.jsonl` per task (`doc_id`, `doc_hash`, `target`, `filtered_resps`, and each metric's
per-sample value as `process_results` returned it).

The run directory has our layout: `run.json`, `results.json` (schema of harness.runner) and one
`<task>.samples.jsonl` per lmms-eval task (leaf tasks; a group's own numbers go to `lmms.groups`), `<task>`
being our name for the tasks the paper tables read (below) and lmms-eval's for the others:

- a task entry per lmms task: metrics named as lmms-eval reports them (`name` for the `none` filter, else
  `name,filter`; but see the paper-table tasks below), `counts` from the sample records (or
  `n-samples`), lmms-eval's task version as `task_version`/`protocol_version` (our task's and protocol's
  versions for plugin tasks), its stderr values in `details.stderr`, the judge a judged task ran with
  (`judge`: the model, the environment it came from, the snapshot protocols.md pins);
- our plugin tasks (`ur_*`) keep our protocol (`strict`), our dataset identity, our per-sample records
  (same ids and outcomes as `harness run`) and get our bootstrap CIs, so `compare` pairs them exactly
  against each other and against `harness run --tasks ur_vlrewardbench`;
- the lmms tasks paper Tables 6 and 7 read (harness.lmms.names) are filed under OUR task name with OUR
  metric names, in the paper's units (`longvideobench_val_v` -> `longvideobench`/`accuracy` %,
  `videomme` -> `videomme`/`short`..`avg`, `llava_in_the_wild` -> `llava_bench_wild`/`relative_score`, ...),
  so `harness report` fills those cells; lmms-eval's own numbers stay in `details.lmms_metrics`, how each
  of ours was formed in `details.derivation`, the lmms task in `dataset.lmms_task`;
- every lmms task that is not ours (mapped or not): protocol `lmms-eval`; one record per lmms sample, id
  `doc-<doc_id>` (lmms-eval 0.7.3's `doc_hash` is the same for every sample, see `lmms_records`),
  outcome = `doc_id`, `doc_hash`, `target` and `scores` (each metric's per-sample number where one can be
  read: a plain number, a dict's `score`, `pred_answer == answer` for multiple choice, the model's score of
  a `scores` pair). `compare` cannot rebuild these tasks' metrics (they are not harness tasks), so it
  refuses them; the records still pair two runs of the same task item by item for any other analysis.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from harness.adapters import redact
from harness.metrics import bootstrap_ci
from harness.records import Judgment, SampleStatus, canonical_json, sha256_text
from harness.run_record import SCHEMA_VERSION, RunRecord, TaskRecord
from harness.store import RunStore, SampleLog

from .names import Converted, mapping_for, our_task_names

LMMS_PROTOCOL = "lmms-eval"
#: What lmms-eval 0.7.3 logs as every sample's doc_hash (it hashes an unset `Instance.doc`).
NULL_DOC_HASH = "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b"
STDERR_SUFFIXES = ("_stderr", "_stderr_clt", "_stderr_clustered")


@dataclass(frozen=True)
class JudgeSpec:
    """How an lmms-eval task picks its judge: an environment variable (or a fixed name in the task), the
    default lmms-eval 0.7.3 uses, and the snapshot protocols.md pins for the paper's numbers."""

    env: str | None
    default: str
    pinned: str | None
    note: str = ""


#: Judged downstream tasks (protocols.md, "Downstream benchmarks"); the others are exact match.
JUDGES: dict[str, JudgeSpec] = {
    "llava_in_the_wild": JudgeSpec("MODEL_VERSION", "gpt-4o-2024-11-20", "gpt-4-0613",
                                   "the paper era's lmms-eval judged with gpt-4-0613; 0.7.3 defaults to gpt-4o"),
    "llava_wilder_small": JudgeSpec("MODEL_VERSION", "gpt-4o-2024-11-20", None, "the judge sees the image"),
    "wildvision_0630": JudgeSpec(None, "gpt-4o", "gpt-4o", "judge from the task's metadata.judge_model; "
                                 "answers compared with claude-3-sonnet-20240229"),
    "live_bench": JudgeSpec(None, "gpt-4o", "gpt-4o", "the judge name is fixed in the task code"),
}
#: Environment variables that steer lmms-eval's judges; recorded (secrets redacted) with every run.
JUDGE_ENV = ("MODEL_VERSION", "API_TYPE", "OPENAI_API_URL", "OPENAI_API_BASE", "OPENAI_API_KEY",
             "AZURE_ENDPOINT", "AZURE_OPENAI_ENDPOINT", "AZURE_API_KEY")


class LmmsOutputError(RuntimeError):
    """lmms-eval left no usable results (it exits 0 when a run fails)."""


@dataclass(frozen=True)
class LmmsOutput:
    """One lmms-eval results file and the sample files written beside it."""

    path: Path
    results: Mapping[str, Any]
    samples: Mapping[str, list[dict[str, Any]]]


def find_results(output_dir: Path) -> Path | None:
    """The newest `*_results.json` lmms-eval wrote under `output_dir`, or None."""
    found = sorted(Path(output_dir).rglob("*_results.json"), key=lambda p: (p.stat().st_mtime, p.name))
    return found[-1] if found else None


def read_output(path: Path) -> LmmsOutput:
    """Parse a results file (lmms-eval writes NaN as a bare token, which json accepts) and its samples."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LmmsOutputError(f"{path}: not a readable lmms-eval results file ({exc})") from None
    if not isinstance(results, dict) or not isinstance(results.get("results"), dict):
        raise LmmsOutputError(f"{path}: no `results` table; not an lmms-eval results file")
    stem = path.name[: -len("_results.json")]
    samples = {}
    for task in leaf_tasks(results):
        sample_path = path.with_name(f"{stem}_samples_{task}.jsonl")
        if sample_path.is_file():
            samples[task] = [json.loads(line) for line in sample_path.read_text(encoding="utf-8").splitlines()
                             if line.strip()]
    return LmmsOutput(path, results, samples)


def leaf_tasks(results: Mapping[str, Any]) -> list[str]:
    """Tasks that judged samples (those with `n-samples`); groups only aggregate them."""
    counted = results.get("n-samples") or {}
    return [t for t in results["results"] if t in counted] or list(counted)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    """A table of lmms-eval's config (`metadata`, `dataset_kwargs`), or an empty one where it has none."""
    return value if isinstance(value, Mapping) else {}


def task_metrics(entry: Mapping[str, Any]) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """(metrics, stderr) of one `results[task]` entry, keyed `name` (filter `none`) or `name,filter`."""
    metrics: dict[str, float | None] = {}
    stderr: dict[str, float | None] = {}
    for key, value in entry.items():
        if "," not in key:
            continue  # alias, group headers
        name, filt = key.split(",", 1)
        label = name if filt == "none" else key
        base = next((name[: -len(s)] for s in STDERR_SUFFIXES if name.endswith(s)), None)
        if base is not None:
            stderr[label] = _number(value)
        else:
            metrics[label] = _number(value)
    return metrics, stderr


def sample_score(value: Any) -> float | None:
    """One per-sample metric value as a number, where lmms-eval's shape allows it (see the module doc)."""
    number = _number(value)
    if number is not None or not isinstance(value, Mapping):
        return number
    if "score" in value:
        return _number(value["score"])
    if "pred_answer" in value and "answer" in value:
        return 1.0 if str(value["pred_answer"]).strip() == str(value["answer"]).strip() else 0.0
    scores = value.get("scores")
    if isinstance(scores, list) and len(scores) == 2 and -999 not in scores:
        return _number(scores[1])
    return None


def _response(sample: Mapping[str, Any]) -> str | None:
    resp = sample.get("filtered_resps")
    while isinstance(resp, list) and resp:
        resp = resp[0]
    return resp if isinstance(resp, str) else None


def plugin_records(task: str, samples: Sequence[Mapping[str, Any]], metrics: Iterable[str]) -> list[Judgment]:
    """Our own records, as our plugin's process_results produced them (the same record under every metric)."""
    names = list(metrics)
    out = []
    for sample in samples:
        record = next((sample[m] for m in names if isinstance(sample.get(m), Mapping) and "id" in sample[m]), None)
        if record is None:
            raise LmmsOutputError(f"{task}: a sample of doc {sample.get('doc_id')} has no plugin record")
        out.append(Judgment(str(record["id"]), record["status"], outcome=record.get("outcome") or {},
                            reason=record.get("reason"), stage="parse" if record["status"] != "ok" else None,
                            replies=({"text": _response(sample)},)))
    return out


def lmms_records(samples: Sequence[Mapping[str, Any]], metrics: Iterable[str]) -> list[Judgment]:
    """One record per lmms-eval sample, id `doc-<doc_id>` (the doc's position in the task's eval docs).

    Not the `doc_hash`: lmms-eval 0.7.3 hashes `Instance.doc`, which its tasks leave unset, so every sample
    of every task gets sha256("null") (`NULL_DOC_HASH`). The hash is still kept in the outcome, so a later
    lmms-eval that fixes it can be checked against.
    """
    names = [m.split(",", 1)[0] for m in metrics]
    out = []
    for sample in sorted(samples, key=lambda s: int(s.get("doc_id", 0))):
        scores = {m: sample_score(sample[m]) for m in names if m in sample}
        status: SampleStatus = "ok" if any(v is not None for v in scores.values()) else "invalid"
        out.append(Judgment(f"doc-{sample.get('doc_id')}", status,
                            outcome={"doc_id": sample.get("doc_id"), "doc_hash": sample.get("doc_hash"),
                                     "target": sample.get("target"), "scores": scores},
                            reason=None if status == "ok" else "no per-sample score could be read",
                            stage=None if status == "ok" else "parse", replies=({"text": _response(sample)},)))
    return out


def judge_for(task: str, config: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any] | None:
    """The judge a task ran with: from the environment it read, its YAML metadata, or lmms-eval's default."""
    spec = next((s for name, s in JUDGES.items() if task == name or task.startswith(name + "_")), None)
    if spec is None:
        return None
    meta = _mapping(config.get("metadata"))
    model = (env.get(spec.env) if spec.env else None) or meta.get("judge_model") or spec.default
    return {"model": model, "env": spec.env, "from": "environment" if spec.env and env.get(spec.env) else "default",
            "pinned": spec.pinned, "matches_pinned": spec.pinned is None or model == spec.pinned, "note": spec.note}


def _dataset(config: Mapping[str, Any]) -> dict[str, Any]:
    meta = _mapping(config.get("metadata"))
    if isinstance(meta.get("ur_dataset"), Mapping):
        return dict(meta["ur_dataset"])
    kwargs = _mapping(config.get("dataset_kwargs"))
    return {"id": config.get("dataset_path"), "config": config.get("dataset_name"),
            "revision": kwargs.get("revision"), "source": LMMS_PROTOCOL}


def task_entry(task: str, output: LmmsOutput, records: Sequence[Judgment], env: Mapping[str, str],
               seed: int = 0, rename: bool = True) -> TaskRecord:
    """Our results.json entry for one lmms-eval task. A task a paper column reads gets our metric names
    (`apply_mapping`) unless `rename` is false (another task of the run claims the same name of ours)."""
    results = output.results
    config = (results.get("configs") or {}).get(task) or {}
    meta = _mapping(config.get("metadata"))
    metrics, stderr = task_metrics(results["results"].get(task) or {})
    n_samples = (results.get("n-samples") or {}).get(task) or {}
    version = str((results.get("versions") or {}).get(task))
    entry: dict[str, Any] = {
        "protocol": meta.get("ur_protocol") or LMMS_PROTOCOL,
        "protocol_version": str(meta.get("ur_protocol_version") or version),
        "protocol_deviations": [],
        "task_version": str(meta.get("ur_task_version") or version),
        "split": config.get("test_split") or config.get("validation_split"),
        "dataset": _dataset(config),
        "metrics": metrics,
        "ci95": _plugin_ci(task, meta, records, seed) if meta.get("ur_task") else {},
        "counts": {"n": len(records) if records else int(n_samples.get("effective") or 0),
                   "n_invalid": sum(r.status == "invalid" for r in records),
                   "n_error": sum(r.status == "error" for r in records)},
        "errors": {},
        "details": {"lmms_task": task, "lmms_task_version": version, "n_samples": dict(n_samples), "stderr": stderr,
                    "higher_is_better": (results.get("higher_is_better") or {}).get(task),
                    "samples_logged": bool(records)},
    }
    if not meta.get("ur_task"):
        entry["dataset"]["lmms_task"] = task
        mapped = mapping_for(task) if rename else None
        if mapped is not None:
            apply_mapping(entry, mapped.convert(metrics, output.samples.get(task) or []), mapped.lmms_metrics)
    judge = judge_for(task, config, env)
    if judge is not None:
        entry["judge"] = judge
    return TaskRecord.from_json(entry, f"lmms-eval task {task!r}")


def apply_mapping(entry: dict[str, Any], converted: Converted, sources: Sequence[str]) -> None:
    """Put our metrics in place of lmms-eval's in a task entry, keeping lmms-eval's under `details`.

    `metrics` then holds only the names a paper table reads (one number per cell, nothing to confuse with
    lmms-eval's differently scaled ones); `details.lmms_metrics` keeps every number lmms-eval reported,
    `details.lmms_sources` the ones ours came from, `details.derivation` how each of ours was formed,
    `details.checks` any disagreement between lmms-eval's aggregate and our recomputation from its samples,
    and `details.breakdown` what the samples say beyond the paper's numbers (per duration, type, verdict).
    """
    details = entry["details"]
    details["lmms_metrics"] = entry["metrics"]
    details["lmms_sources"] = list(sources)
    details["derivation"] = converted.derivation
    details["checks"] = converted.checks
    details["breakdown"] = converted.details
    entry["metrics"] = converted.metrics


def _plugin_ci(task: str, meta: Mapping[str, Any], records: Sequence[Judgment], seed: int) -> dict[str, list[float]]:
    """Our seeded bootstrap CIs for a plugin task, rebuilt from its records as `harness run` computes them."""
    if not records:
        return {}
    from .bridge import harness_task, specs, task_config

    spec = specs()[task]
    scoring = harness_task(spec).score(records, task_config(spec, int(meta.get("ur_seed", 0))))
    return {k: [lo, hi] for k, (lo, hi) in bootstrap_ci(scoring.compute, scoring.n, seed=seed).items()}


def records_for(task: str, output: LmmsOutput) -> list[Judgment]:
    config = (output.results.get("configs") or {}).get(task) or {}
    meta = _mapping(config.get("metadata"))
    samples = output.samples.get(task) or []
    metrics, _ = task_metrics(output.results["results"].get(task) or {})
    if meta.get("ur_task"):
        return plugin_records(task, samples, [m.split(",", 1)[0] for m in metrics])
    return lmms_records(samples, metrics)


def model_info(model: str, model_args: Mapping[str, Any]) -> dict[str, Any]:
    """What results.json says about the model: `model` is its id (served name, checkpoint) when given."""
    name = model_args.get("model") or model_args.get("pretrained") or model
    return {"adapter": f"lmms-eval/{model}", "model": str(name), "args": redact(dict(model_args))}


def convert(output: LmmsOutput, run_output: Path, *, model: str, model_args: Mapping[str, Any],
            env: Mapping[str, str] | None = None, command: Sequence[str] = (), limit: int | None = None,
            seed: int = 0, started: str | None = None, results_label: str | None = None) -> Path:
    """Write a run directory under `run_output` for `output`; returns its path. `results_label` is how
    results.json names lmms-eval's results file (default: its path)."""
    env = {k: v for k, v in (env or {}).items() if k in JUDGE_ENV}
    tasks = leaf_tasks(output.results)
    if not tasks:
        raise LmmsOutputError(f"{output.path}: lmms-eval reports no task")
    lmms_version = output.results.get("lmms_eval_version")
    config = {"lmms_tasks": tasks, "model": model, "model_args": redact(dict(model_args)), "limit": limit,
              "seed": seed, "lmms_eval_version": lmms_version, "judge_env": redact(env)}
    config_hash = sha256_text(canonical_json(config))
    started = started or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    header = {"schema_version": SCHEMA_VERSION, "config": config, "config_hash": config_hash, "started": started,
              "source": "lmms-eval"}
    store = RunStore.create(Path(run_output), header, f"lmms-{model}")
    names, kept = our_task_names(tasks)
    entries = {}
    for task in tasks:
        records = records_for(task, output)
        log = SampleLog(store.dir / f"{names[task]}.samples.jsonl")
        try:
            log.path.touch()
            for judgment in records:
                log.append(judgment)
        finally:
            log.close()
        entries[names[task]] = task_entry(task, output, records, env, seed, rename=task not in kept)
    lmms = {"version": lmms_version, "git_hash": output.results.get("git_hash"), "date": output.results.get("date"),
            "results_file": results_label or str(output.path), "command": [str(c) for c in command],
            "judge_env": redact(env), "task_names": {t: n for t, n in names.items() if t != n}, "unmapped": kept,
            "task_versions": output.results.get("versions") or {}, "n_samples": output.results.get("n-samples") or {},
            "groups": output.results.get("groups") or {}, "config": output.results.get("config") or {}}
    record = RunRecord.new(run_id=store.run_id, started=started, model=model_info(model, model_args), seed=seed,
                           limit=limit, config_hash=config_hash, tasks=entries, lmms=lmms)
    store.write_results(record)
    return store.dir

