"""Run lmms-eval in its own environment and file its results as a harness run.

    harness lmms-eval --tasks llava_in_the_wild,videomme --model ur_hf --model-args pretrained=DIR \\
        --lmms-python /opt/lmms-venv/bin/python --judge-env MODEL_VERSION=gpt-4-0613 --output runs/

lmms-eval cannot share our environment (it pulls torchvision), so it runs as a subprocess of the Python
named by `--lmms-python` (a venv's python, or the venv folder; default `$HARNESS_LMMS_PYTHON`). Its
output goes to a staging folder under `--output`; the run directory (harness.lmms.results) keeps it as
`lmms-eval/` beside our results.json.

lmms-eval exits 0 when a run fails (a task that does not load, an exception in the loop, a results file
it could not write), so success is decided by the results file alone: no results file is a failure
whatever the exit status, reported with the tail of lmms-eval's log. `--log_samples` is always passed,
since the per-sample records are what `compare` pairs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.adapters import parse_model_args, redact
from harness.errors import HarnessError, UsageError


#: Names this project's protocols use for lmms-eval tasks that 0.7.3 registers under a split-specific name.
TASK_ALIASES = {"longvideobench": "longvideobench_val_v", "mlvu": "mlvu_dev"}
#: The downstream tasks of paper Tables 6, 7 and 9's VLM rows (protocols.md), as lmms-eval 0.7.3 names them.
DOWNSTREAM = ("llava_in_the_wild", "llava_wilder_small", "wildvision_0630", "live_bench", "longvideobench_val_v",
              "mlvu_dev", "videomme")
LOG_TAIL_LINES = 40


class LmmsEvalFailed(HarnessError):
    """lmms-eval did not produce a results file (or it could not be read)."""


@dataclass(frozen=True)
class LmmsRun:
    run_dir: Path
    results_file: Path
    command: list[str]
    returncode: int


def resolve_python(path: str | Path | None) -> Path:
    """The interpreter of lmms-eval's environment: a python executable, or a venv folder holding bin/python."""
    raw = path or os.environ.get("HARNESS_LMMS_PYTHON")
    if not raw:
        raise UsageError("--lmms-python is required (or $HARNESS_LMMS_PYTHON): lmms-eval must run in its own "
                         "environment, see docs/lmms_eval.md")
    candidate = Path(raw).expanduser()
    if candidate.is_dir():
        candidate = candidate / "bin" / "python"
    if not candidate.is_file():
        raise UsageError(f"--lmms-python {raw}: no python interpreter there")
    return candidate


def resolve_tasks(tasks: Sequence[str]) -> list[str]:
    """Task names with this project's aliases resolved (`mlvu` -> `mlvu_dev`)."""
    names = [TASK_ALIASES.get(t.strip(), t.strip()) for t in tasks if t.strip()]
    if not names:
        raise UsageError("--tasks is empty")
    return names


def format_model_args(model_args: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in model_args.items())


def lmms_command(python: Path, tasks: Sequence[str], model: str, model_args: Mapping[str, Any], output_path: Path,
                 *, include_path: Path | None = None, limit: int | None = None, batch_size: int | None = None,
                 extra: Sequence[str] = ()) -> list[str]:
    """The lmms-eval command line (always with --log_samples and a private --output_path)."""
    cmd = [str(python), "-m", "lmms_eval", "--model", model, "--tasks", ",".join(tasks),
           "--output_path", str(output_path), "--log_samples"]
    if model_args:
        cmd += ["--model_args", format_model_args(model_args)]
    if include_path is not None:
        cmd += ["--include_path", str(include_path)]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    if batch_size is not None:
        cmd += ["--batch_size", str(batch_size)]
    return cmd + list(extra)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def judge_environment(judge_env: Mapping[str, str] | None) -> dict[str, str]:
    """The judge settings the child sees: ours from `judge_env`, else what this process's environment holds."""
    from .results import JUDGE_ENV

    env = {k: os.environ[k] for k in JUDGE_ENV if os.environ.get(k)}
    env.update({k: str(v) for k, v in (judge_env or {}).items()})
    return env


def run_lmms_eval(tasks: Sequence[str], model: str, model_args: Mapping[str, Any] | None = None, *,
                  lmms_python: str | Path | None = None, output: Path = Path("runs"),
                  judge_env: Mapping[str, str] | None = None, limit: int | None = None,
                  include_path: Path | None = None, batch_size: int | None = None, extra: Sequence[str] = (),
                  timeout: float | None = None) -> LmmsRun:
    """Run lmms-eval on `tasks` with `model` and write a harness run directory under `output`.

    `judge_env` (e.g. {"MODEL_VERSION": "gpt-4-0613"}) is added to the child's environment and recorded
    (secrets redacted). `include_path` defaults to our plugin tasks when a `ur_*` task is asked for.
    Raises LmmsEvalFailed, with the tail of lmms-eval's log, when no results file appears.
    """
    # The bridge and the results converter import the runner and the tasks: only when lmms-eval is run, so the
    # CLI's argument parser (which mounts add_arguments) stays light.
    from .include_path import include_dir
    from .results import LmmsOutputError, convert, find_results, read_output

    python = resolve_python(lmms_python)
    tasks = resolve_tasks(tasks)
    model_args = dict(model_args or {})
    if include_path is None and any(t.startswith("ur_") for t in tasks):
        include_path = include_dir()
    output = Path(output)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    staging = output / f".lmms-staging-{stamp}-{os.getpid()}"
    staging.mkdir(parents=True, exist_ok=False)
    log_path = staging / "lmms-eval.log"
    cmd = lmms_command(python, tasks, model, model_args, staging / "out", include_path=include_path, limit=limit,
                       batch_size=batch_size, extra=extra)
    env = {**os.environ, **judge_environment(judge_env), "PYTHONUNBUFFERED": "1"}
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise LmmsEvalFailed(f"lmms-eval ran past {timeout} s; its output is in {staging}; last lines of "
                                 f"its log:\n{log_tail(log_path)}") from None
    results_file = find_results(staging / "out")
    if results_file is None:
        raise LmmsEvalFailed(f"lmms-eval exited {proc.returncode} but wrote no results file (it exits 0 when a "
                             f"run fails); its output is in {staging}; last lines of its log:\n{log_tail(log_path)}")
    try:
        lmms_output = read_output(results_file)
        label = str(Path("lmms-eval") / results_file.relative_to(staging))
        run_dir = convert(lmms_output, output, model=model, model_args=model_args, env=judge_environment(judge_env),
                          command=_shown(cmd), limit=limit, started=started, results_label=label)
    except LmmsOutputError as exc:
        raise LmmsEvalFailed(f"{exc}; lmms-eval's output is in {staging}") from None
    final = run_dir / "lmms-eval"
    shutil.move(str(staging), str(final))
    return LmmsRun(run_dir, final / results_file.relative_to(staging), cmd, proc.returncode)


def _shown(cmd: Sequence[str]) -> list[str]:
    """The command as recorded: secret-looking model arguments redacted."""
    shown = list(cmd)
    if "--model_args" in shown:
        i = shown.index("--model_args") + 1
        shown[i] = format_model_args(redact(parse_model_args(shown[i])))
    return shown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `harness lmms-eval` options (for the CLI to wire: `sub.add_parser("lmms-eval")`)."""
    parser.add_argument("--tasks", required=True,
                        help=f"comma-separated lmms-eval tasks, e.g. {','.join(DOWNSTREAM[:3])} or ur_vlrewardbench")
    parser.add_argument("--model", required=True, help="lmms-eval model name (ur_openai, ur_hf, or lmms-eval's own)")
    parser.add_argument("--model-args", default="", help="model arguments as k=v,k=v")
    parser.add_argument("--lmms-python", default=None,
                        help="python of lmms-eval's environment, or its venv folder (default $HARNESS_LMMS_PYTHON)")
    parser.add_argument("--output", type=Path, default=Path("runs"), help="where run directories go (default runs/)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N docs of each task (testing)")
    parser.add_argument("--batch-size", type=int, default=None, help="lmms-eval's --batch_size")
    parser.add_argument("--include-path", type=Path, default=None,
                        help="task folder for lmms-eval (default: our plugin tasks when a ur_* task is asked for)")
    parser.add_argument("--judge-env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment for lmms-eval's judges, e.g. MODEL_VERSION=gpt-4-0613; repeatable")
    parser.add_argument("--timeout", type=float, default=None, help="seconds before lmms-eval is stopped")


def main(args: argparse.Namespace) -> int:
    """The `harness lmms-eval` subcommand: prints the run directory last. UsageError -> exit 2 and
    LmmsEvalFailed -> exit 1 in the CLI's usual way."""
    judge_env = {}
    for item in args.judge_env or []:
        if "=" not in item:
            raise UsageError(f"--judge-env {item!r} is not NAME=VALUE")
        key, value = item.split("=", 1)
        judge_env[key.strip()] = value
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be a positive number of docs")
    outcome = run_lmms_eval(args.tasks.split(","), args.model, parse_model_args(args.model_args),
                            lmms_python=args.lmms_python, output=args.output, judge_env=judge_env, limit=args.limit,
                            include_path=args.include_path, batch_size=args.batch_size, timeout=args.timeout)
    from harness.summary import format_summary
    from reports.runs import load_run

    print(format_summary(load_run(outcome.run_dir).record))
    print(outcome.run_dir)
    return 0
