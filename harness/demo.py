"""`harness demo`: the whole flow offline, with no data and no weights, in about 20 s on two CPU cores.

    python -m harness demo [--out demo/] [--limit N] [--judge qwen2.5-vl-7b|unifiedreward-7b] [--rebuild]

Four steps, each timed:

1. a tiny judge with the real checkpoint's tokenizer, chat template and image processor and random weights
   (`reward.testing.tiny_checkpoints`), built once into `<out>/judge-<name>/` and reused by later demos;
2. real benchmark rows shipped in `harness/demo_data/` (36 VL-RewardBench items, 12 per category, and 36
   GenAI-Bench image-generation items, 9 per human vote; SOURCES.md there), written to `<out>/data/`, one
   directory holding both tasks' `--data-dir` layouts (`data.jsonl` + `images/`, `image_generation.jsonl` +
   `genai_bench/`), with a synthesised image for every image path (the benchmarks' images are not shipped);
3. `vlrewardbench` and `genai_bench_image` (each task's default protocol) through `harness.api.evaluate`, the
   code path of `harness run`, into a new run directory under `<out>/runs/`, with the judgment cache at
   `<out>/cache/` (a second demo answers from it; `--rebuild` empties it and builds the judge again);
4. `<out>/report.md` from that run, as `harness report` writes it.

`HF_HUB_OFFLINE=1` is set for the duration (and restored after), so nothing asks the hub for anything. The
judge's weights are random: its replies are counted as invalid and the numbers mean nothing; the demo shows
the flow, not a result.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from .errors import UsageError
from .run_record import RunRecord

JUDGES = ("qwen2.5-vl-7b", "unifiedreward-7b")
TASKS = ("vlrewardbench", "genai_bench_image")
#: Shipped rows (package data): verbatim lines of the benchmarks' annotation files.
VLRB_ROWS = "vlrewardbench.jsonl"
GENAI_ROWS = "genai_bench_image_generation.jsonl"
#: Written into a demo directory, so a later demo (and --rebuild) only ever touches a directory a demo made.
MARKER = ".harness-demo"
#: Enough new tokens to show a reply; a random-weight judge writes noise however long it is allowed to go.
MAX_NEW_TOKENS = 8
BATCH_SIZE = 8
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
VLRB_IMAGE_SIZE = (256, 192)  # any size: a Qwen judge sees 63 image tokens, LLaVA-OV its 384 px tiles
GENAI_IMAGE_SIZE = (512, 512)  # the size the UnifiedReward GenAI-Bench prompt resizes every image to


@dataclass(frozen=True)
class DemoPaths:
    """Where one demo directory keeps each thing."""

    root: Path
    judge: Path
    data: Path
    runs: Path
    cache: Path
    report: Path

    @classmethod
    def under(cls, root: Path, judge: str) -> "DemoPaths":
        return cls(root=root, judge=root / f"judge-{judge}", data=root / "data", runs=root / "runs",
                   cache=root / "cache" / "judgments.sqlite", report=root / "report.md")


@dataclass(frozen=True)
class DemoOutcome:
    """What a demo made: the run directory with its results.json, the report, and how long each step took."""

    paths: DemoPaths
    run_dir: Path
    record: RunRecord
    timings: dict[str, float]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The `harness demo` options (for harness/cli.py to mount as a subcommand)."""
    parser.add_argument("--out", type=Path, default=Path("demo"),
                        help="demo directory: judge, data, runs, cache and report (default demo/)")
    parser.add_argument("--limit", type=_positive_int, default=None,
                        help="judge only the first N shipped rows of each task (default: all 36)")
    parser.add_argument("--judge", default=JUDGES[0], choices=JUDGES,
                        help="which real checkpoint configuration the tiny judge copies: qwen2.5-vl-7b (default) or "
                             "unifiedreward-7b (LLaVA-OneVision: many more image tokens, about a minute on 2 cores)")
    parser.add_argument("--rebuild", action="store_true",
                        help="build the tiny judge again and empty the demo's judgment cache, instead of reusing "
                             "what an earlier demo left")
    return parser


def main(args: argparse.Namespace) -> int:
    """Run the demo (`add_arguments`' options) and print where its results and report are; 0 on success.
    Raises `UsageError` for a missing `hf` extra or an --out that is not a demo directory, before any work."""
    outcome = run_demo(Path(args.out), limit=args.limit, judge=args.judge, rebuild=args.rebuild)
    print(explain(outcome))
    return 0


def run_demo(out: Path, limit: int | None = None, judge: str = JUDGES[0], rebuild: bool = False) -> DemoOutcome:
    """The four steps (module docstring); progress goes to stderr."""
    if judge not in JUDGES:
        raise UsageError(f"--judge {judge!r}: one of {', '.join(JUDGES)}")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit {limit}: a positive number of rows")
    _require_hf_extra()
    _claim(out)
    paths = DemoPaths.under(out.resolve(), judge)  # absolute: results.json and the report name the judge by it
    timings: dict[str, float] = {}
    with _offline():
        with _step(1, f"tiny judge {judge} (real tokenizer, template and processor; random weights)", timings,
                   "judge") as note:
            note(build_judge(judge, paths.judge, rebuild))
        with _step(2, "data: shipped benchmark rows with synthesised images", timings, "data") as note:
            note(write_data(paths.data))
        if rebuild and paths.cache.parent.exists():
            shutil.rmtree(paths.cache.parent)
        with _step(3, f"run {', '.join(TASKS)} through harness.api.evaluate", timings, "run") as note:
            from .api import evaluate

            run = evaluate(list(TASKS), "hf", {"pretrained": str(paths.judge), "max_new_tokens": MAX_NEW_TOKENS,
                                               "batch_size": BATCH_SIZE},
                           data_dir=paths.data, limit=limit, output=paths.runs, cache_path=paths.cache)
            note(f"judged by the model: {run.adapter_calls}, from cache: {run.cache_hits}")
        with _step(4, "report", timings, "report") as note:
            note(write_report(run.dir, paths.report))
    return DemoOutcome(paths, Path(run.dir), run.record, timings)


def explain(outcome: DemoOutcome) -> str:
    """The console summary of the run, then where everything is and what the numbers are not."""
    from .summary import format_summary

    total = sum(outcome.timings.values())
    return "\n".join([
        format_summary(outcome.record),
        "",
        f"demo steps took {total:.1f} s",
        f"run directory: {outcome.run_dir}",
        f"results:       {outcome.run_dir / 'results.json'}",
        f"report:        {outcome.paths.report}",
        f"judge:         {outcome.paths.judge}",
        f"data:          {outcome.paths.data}",
        "The judge has random weights, so its replies are invalid and these numbers mean nothing: the demo shows "
        "the flow (data -> judge -> parse -> metrics -> results.json -> report); real judges: docs/judges.md.",
    ])


# ---- the steps ------------------------------------------------------------------------------------------

def build_judge(name: str, directory: Path, rebuild: bool = False) -> str:
    """`reward.testing.tiny_checkpoints.save(name, directory)` unless an earlier demo finished building it there.
    The build goes to a sibling folder first, so an interrupted build is never mistaken for a judge."""
    if directory.is_dir() and not rebuild:
        return f"reused {directory}"
    from reward.testing import tiny_checkpoints  # torch and transformers: only here

    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    tiny_checkpoints.save(name, partial)
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)
    return f"built {directory}"


def write_data(data_dir: Path) -> str:
    """Both tasks' `--data-dir` layouts in one directory: VL-RewardBench's `data.jsonl` + `images/<folder>/<id>`
    and GenAI-Bench's `image_generation.jsonl` + `genai_bench/<idx>_{left,right}.jpg`. Rewritten every time
    (cheap, and deterministic: the same bytes for the same rows)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    vlrb = shipped_lines(VLRB_ROWS)
    (data_dir / "data.jsonl").write_text("".join(line + "\n" for line in vlrb), encoding="utf-8")
    for line in vlrb:
        image_path = json.loads(line)["image_path"]
        write_image(data_dir / image_path, image_path, VLRB_IMAGE_SIZE)
    genai = []
    for line in shipped_lines(GENAI_ROWS):
        row = json.loads(line)
        for side in ("left", "right"):
            row[f"{side}_image"] = f"genai_bench/{row['idx']}_{side}.jpg"
            write_image(data_dir / row[f"{side}_image"], row[f"{side}_image"], GENAI_IMAGE_SIZE)
        genai.append(json.dumps(row, ensure_ascii=False))
    (data_dir / "image_generation.jsonl").write_text("".join(line + "\n" for line in genai), encoding="utf-8")
    return f"{len(vlrb)} VL-RewardBench + {len(genai)} GenAI-Bench rows, {len(vlrb) + 2 * len(genai)} images " \
           f"in {data_dir}"


def write_report(run_dir: Path, out: Path) -> str:
    """`harness report --runs RUN --out OUT`, in process (the same functions, minus its printing)."""
    from reports.report import draw_charts, make_report, renderer, summary

    report = make_report([run_dir])
    out.parent.mkdir(parents=True, exist_ok=True)
    charts = draw_charts(report, out)
    out.write_text(renderer("md")(report, charts), encoding="utf-8")
    return f"{out} ({summary(report)})"


# ---- helpers --------------------------------------------------------------------------------------------

def shipped_lines(name: str) -> list[str]:
    """The lines of one shipped rows file (harness/demo_data/)."""
    text = resources.files("harness").joinpath("demo_data", name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def write_image(path: Path, label: str, size: tuple[int, int]) -> None:
    """A deterministic picture for `label`: a diagonal gradient between two colours taken from its hash, so
    every image differs from the others (a judge that ignored images would not notice; ours reads them)."""
    import numpy as np
    from PIL import Image

    digest = hashlib.sha256(label.encode()).digest()
    start, end = np.array(list(digest[:3]), float), np.array(list(digest[3:6]), float)
    width, height = size
    t = (np.add.outer(np.arange(height), np.arange(width)) / max(1, width + height - 2))[..., None]
    pixels = (start * (1 - t) + end * t).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").save(path, "PNG" if path.suffix.lower() == ".png" else "JPEG", quality=90)


def _require_hf_extra() -> None:
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"`harness demo` needs the `hf` extra ({', '.join(missing)} not installed): "
                         f'pip install "torch==2.13.0" -e ".[hf]" (docs/install.md)')


def _claim(out: Path) -> None:
    """Make `out` a demo directory, refusing one that holds anything else (a demo never writes among a user's
    files, and --rebuild deletes only inside a demo directory)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UsageError(f"--out {out} is not empty and was not made by `harness demo`; choose a new or empty "
                         f"directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text("made by `harness demo`; safe to delete\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write there ({exc.strerror})") from None


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """The hub clients' offline switches for the demo's duration, restored after (a notebook keeps its own)."""
    before = {name: os.environ.get(name) for name in OFFLINE_ENV}
    os.environ.update(OFFLINE_ENV)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _step(number: int, what: str, timings: dict[str, float], key: str) -> Iterator[Any]:
    """`[n/4] what` before a step and its result and duration after, on stderr (stdout keeps the summary)."""
    notes: list[str] = []
    print(f"[{number}/4] {what} ...", file=sys.stderr, flush=True)
    start = time.monotonic()
    yield notes.append
    timings[key] = time.monotonic() - start
    print(f"[{number}/4] {'; '.join(notes) or 'done'} ({timings[key]:.1f} s)", file=sys.stderr, flush=True)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a positive number of rows")
    return value
