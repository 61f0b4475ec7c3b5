"""A finished run's numbers where people look: Weights & Biases and TensorBoard (`harness run --log-to ...`).

`log_run(run_dir, ["wandb", "tensorboard"])` reads the run directory (results.json, run.json and every
`<task>.samples.jsonl`) and sends, to each target:
- per task, every defined metric as `<task>/<metric>`, its 95% CI as `<task>/<metric>/ci95_low|high`, and
  the counts as `<task>/counts/n|n_invalid|n_error|<error kind>` (an undefined metric, null in
  results.json, is left out rather than sent as 0);
- one samples table: id, task, status, the task's per-sample outcome fields (verdict, correct, ...), the
  judge's reply (cut to REPLY_CHARS) and the error of a failed sample;
- the run's configuration (credentials redacted once more).

wandb gets a run named after the run id in `project` (`WANDB_MODE=offline` writes it under
`<log_dir>/wandb/` for a later `wandb sync`), with the samples as a `wandb.Table`. TensorBoard gets an event
file in `<log_dir>/tensorboard/<run_id>/` written by tensorboardX (protobuf only, no torch or TensorFlow),
with the samples as a Markdown table in the Text tab. Both packages are the `log` extra, imported only here;
the run directory itself is never written to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import UsageError
from .records import Judgment
from .redaction import redact_deep

#: Each target and the package that writes it (both in the `log` extra of pyproject.toml).
PACKAGES = {"tensorboard": "tensorboardX", "wandb": "wandb"}
TARGETS = tuple(sorted(PACKAGES))
DEFAULT_PROJECT = "harness"
#: A judge's reply is kept to this many characters in the samples table (the samples file holds it all).
REPLY_CHARS = 500


@dataclass(frozen=True)
class RunLog:
    """What one run sends to every target."""

    run_id: str
    tasks: tuple[str, ...]
    scalars: Mapping[str, float]
    config: Mapping[str, Any]
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def log_run(run_dir: Path, targets: Sequence[str], *, project: str | None = None,
            log_dir: Path | None = None) -> list[str]:
    """Send the finished run in `run_dir` to each of `targets` ("wandb", "tensorboard"); returns where each
    one went, in order (a wandb run URL, or the local folder written). `project` names the wandb project
    (default "harness"; TensorBoard has none); `log_dir` is where local files go (default `<output>/logs`,
    beside the run directories). Unknown targets, a missing package and an unfinished run are UsageErrors
    raised before anything is written."""
    names = require_targets(targets)
    record = read_run(Path(run_dir))
    log_dir = Path(log_dir) if log_dir is not None else Path(run_dir).parent / "logs"
    writers = {"tensorboard": _to_tensorboard, "wandb": _to_wandb}  # same signature; TensorBoard has no project
    return [writers[name](record, log_dir, project or DEFAULT_PROJECT) for name in names]


def check_targets(targets: Sequence[str]) -> list[str]:
    """The target names, in order without repeats (`"wandb,tensorboard"` is split at commas as well)."""
    names: list[str] = []
    for item in targets:
        for name in (part.strip().lower() for part in str(item).split(",")):
            if name and name not in names:
                names.append(name)
    unknown = [n for n in names if n not in PACKAGES]
    if unknown or not names:
        raise UsageError(f"--log-to {', '.join(unknown) or '(nothing)'}: valid targets are {', '.join(TARGETS)}")
    return names


def require_targets(targets: Sequence[str]) -> list[str]:
    """`check_targets`, then each target's package importable: what a `--log-to` flag can be checked for
    before the run it is to log starts (a wandb login is only known to wandb, when the run is logged)."""
    names = check_targets(targets)
    for name in names:
        require_package(name)
    return names


def require_package(target: str) -> None:
    package = PACKAGES[target]
    try:
        __import__(package)
    except ImportError:
        raise UsageError(f'--log-to {target} needs {package}, which is not installed: pip install -e ".[log]" '
                         f"(the `log` extra) or pip install {package}") from None


def read_run(run_dir: Path) -> RunLog:
    """The numbers, configuration and samples table of a finished run (RunError, a UsageError, when the
    directory is not one or a task's samples file is missing)."""
    from reports.runs import load_run  # the finished-run reader shared with report and compare

    run = load_run(run_dir)
    run_id = run.run_id
    header_path = run.dir / "run.json"
    try:
        header = json.loads(header_path.read_text(encoding="utf-8")) if header_path.is_file() else {}
    except ValueError as exc:
        raise UsageError(f"{header_path}: not readable as JSON ({exc})") from None
    # Redacted when written; once more here, as this leaves the machine.
    config = redact_deep({"run_id": run_id, "config": header.get("config") or {}, "model": dict(run.record.model),
                         "harness": dict(run.record.harness), "packages": dict(run.record.packages)})
    outcome_keys: list[str] = []
    samples: list[tuple[str, Judgment]] = []
    for task in run.tasks:
        for judgment in run.samples(task):
            samples.append((task, judgment))
            outcome_keys.extend(k for k in judgment.outcome if k not in outcome_keys)
    columns = ("id", "task", "status", *outcome_keys, "reply", "error")
    rows = tuple((j.sample_id, task, j.status, *(_cell(j.outcome.get(k)) for k in outcome_keys), _reply(j.replies),
                  f"{j.stage}: {j.reason}" if j.stage and j.reason else j.reason)
                 for task, j in samples)
    return RunLog(run_id, tuple(run.tasks), scalars(run.results), config, columns, rows)


def scalars(results: Mapping[str, Any]) -> dict[str, float]:
    """`<task>/<metric>`, `<task>/<metric>/ci95_low|high` and `<task>/counts/<name>`, numbers only."""
    out: dict[str, float] = {}
    for task, result in (results.get("tasks") or {}).items():
        for metric, value in (result.get("metrics") or {}).items():
            if _number(value):
                out[f"{task}/{metric}"] = float(value)
        for metric, bounds in (result.get("ci95") or {}).items():
            if isinstance(bounds, (list, tuple)) and len(bounds) == 2 and all(_number(b) for b in bounds):
                out[f"{task}/{metric}/ci95_low"], out[f"{task}/{metric}/ci95_high"] = map(float, bounds)
        for name, count in {**(result.get("counts") or {}), **(result.get("errors") or {})}.items():
            if _number(count):
                out[f"{task}/counts/{name}"] = float(count)
    return out


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (TensorBoard's Text tab renders it); cells on one line, pipes escaped."""
    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return " ".join(text.split()).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines.extend("| " + " | ".join(cell(v) for v in row) + " |" for row in rows)
    return "\n".join(lines)


def _to_tensorboard(record: RunLog, log_dir: Path, project: str) -> str:
    from tensorboardX import SummaryWriter

    target = log_dir / "tensorboard" / record.run_id
    writer = SummaryWriter(logdir=str(target))
    try:
        for name, value in record.scalars.items():
            writer.add_scalar(name, value, global_step=0)
        writer.add_text("samples", markdown_table(record.columns, record.rows), global_step=0)
        # Indented by four spaces: a code block in Markdown, so the JSON shows as written.
        config = json.dumps(record.config, indent=2, ensure_ascii=False, default=str)
        writer.add_text("config", "\n".join("    " + line for line in config.splitlines()), global_step=0)
    finally:
        writer.close()
    return str(target)


def _to_wandb(record: RunLog, log_dir: Path, project: str) -> str:
    import wandb

    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        # silent: the run's own output stays the harness's; console "off": nothing else of this process is captured.
        run = wandb.init(project=project, name=record.run_id, dir=str(log_dir), config=dict(record.config),
                         job_type="eval", tags=list(record.tasks)[:20],
                         settings=wandb.Settings(silent=True, console="off"))
    except wandb.errors.Error as exc:
        raise UsageError(f"--log-to wandb: {' '.join(str(exc).split())} (or set WANDB_MODE=offline to write the "
                         f"run under {log_dir / 'wandb'} and `wandb sync` it later)") from None
    try:
        table = wandb.Table(columns=list(record.columns), data=[list(r) for r in record.rows], allow_mixed_types=True)
        run.log({**record.scalars, "samples": table})
        where = run.url or str(Path(run.dir).parent)  # offline: the run's folder, for `wandb sync`
    finally:
        run.finish()
    return where


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any) -> Any:
    """Scalars as they are; lists and mappings as JSON text (a table cell holds one value)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _reply(replies: Sequence[Mapping[str, Any]]) -> str | None:
    """The judge's text (or score) of each request, joined: a pairwise scorer answers twice per sample."""
    parts = [str(r["text"]) if r.get("text") is not None else str(r["score"]) for r in replies
             if r.get("text") is not None or r.get("score") is not None]
    if not parts:
        return None
    text = " || ".join(parts)
    return text if len(text) <= REPLY_CHARS else text[: REPLY_CHARS - 1] + "…"
