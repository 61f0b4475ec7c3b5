"""`harness demo` (harness/demo.py): the whole flow offline, from shipped rows and a tiny real-config judge.

One demo run (module fixture, about 15 s on two cores) is shared by the end-to-end assertions; it runs with
every socket connection and name lookup made to fail, so a demo that touched the network would fail here.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from harness import demo  # noqa: E402
from harness.cli import main as cli_main  # noqa: E402
from harness.errors import UsageError  # noqa: E402

from .conftest import SHARED  # noqa: E402

LIMIT = 4


def parse(*argv: str) -> argparse.Namespace:
    return demo.add_arguments(argparse.ArgumentParser(prog="harness demo")).parse_args(list(argv))


@dataclass
class DemoRun:
    out: Path
    code: int
    stdout: str
    stderr: str
    connections: list[Any] = field(default_factory=list)
    env_during: dict[str, str | None] = field(default_factory=dict)
    env_before: str | None = None
    env_after: str | None = None


def run_demo_cli(out: Path, *extra: str) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):  # `harness demo` itself
        code = cli_main(["demo", "--out", str(out), "--limit", str(LIMIT), *extra])
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    root = tmp_path_factory.mktemp("demo")
    result = DemoRun(out=root / "demo", code=-1, stdout="", stderr="")

    def refuse(*args: Any, **kwargs: Any) -> Any:
        result.connections.append(args)
        raise OSError("network use in the demo test")

    import harness.api as api

    original_evaluate = api.evaluate

    def evaluate_seeing_env(*args: Any, **kwargs: Any) -> Any:
        result.env_during.update({k: os.environ.get(k) for k in demo.OFFLINE_ENV})
        return original_evaluate(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HF_HUB_OFFLINE", raising=False)
        # Anything that falls back to the user's cache would land here, and is checked to stay empty.
        mp.setenv("HARNESS_CACHE_DIR", str(root / "user-cache"))
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        mp.setattr(api, "evaluate", evaluate_seeing_env)
        result.env_before = os.environ.get("HF_HUB_OFFLINE")
        result.code, result.stdout, result.stderr = run_demo_cli(result.out)
        result.env_after = os.environ.get("HF_HUB_OFFLINE")
    return result


def run_dir_of(stdout: str) -> Path:
    line = next(line for line in stdout.splitlines() if line.startswith("run directory:"))
    return Path(line.split(":", 1)[1].strip())


def test_demo_runs_both_tasks_end_to_end_and_names_its_outputs(demo_run: DemoRun) -> None:
    assert demo_run.code == 0, demo_run.stderr
    run_dir = run_dir_of(demo_run.stdout)
    assert run_dir.is_dir() and run_dir.parent == (demo_run.out / "runs").resolve()
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results["tasks"]) == {"vlrewardbench", "genai_bench_image"}
    for name, task in results["tasks"].items():
        assert task["counts"]["n"] == LIMIT, name
        assert task["counts"]["n_error"] == 0, (name, task["errors"], task["error_examples"])
        assert task["protocol"] == "strict"  # each task's default; a Qwen judge changes only `unifiedreward`
    assert results["model"]["args"]["pretrained"] == str((demo_run.out / "judge-qwen2.5-vl-7b").resolve())

    report = demo_run.out / "report.md"
    text = report.read_text(encoding="utf-8")
    assert "vlrewardbench" in text and "genai_bench_image" in text and run_dir.name in text

    for path in (run_dir, run_dir / "results.json", report.resolve()):
        assert str(path) in demo_run.stdout
    assert "random weights" in demo_run.stdout and "mean nothing" in demo_run.stdout
    assert "vlrewardbench [strict] n=4" in demo_run.stdout  # the console summary of harness run
    for number in range(1, 5):  # every step reports its result and duration
        assert f"[{number}/4]" in demo_run.stderr
    assert "built " in demo_run.stderr and "judged by the model: 8, from cache: 0" in demo_run.stderr


def test_demo_uses_no_network_and_a_private_cache(demo_run: DemoRun) -> None:
    assert demo_run.code == 0, demo_run.stderr
    assert demo_run.connections == []
    assert demo_run.env_during == {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    assert demo_run.env_before is None and demo_run.env_after is None  # restored for the caller
    assert (demo_run.out / "cache" / "judgments.sqlite").is_file()
    assert not (demo_run.out.parent / "user-cache").exists()


def test_second_demo_reuses_the_judge_and_the_cache(demo_run: DemoRun) -> None:
    assert demo_run.code == 0, demo_run.stderr
    config = demo_run.out / "judge-qwen2.5-vl-7b" / "config.json"
    built_at = config.stat().st_mtime_ns
    code, stdout, stderr = run_demo_cli(demo_run.out)
    assert code == 0, stderr
    assert "reused " in stderr and config.stat().st_mtime_ns == built_at
    assert f"judged by the model: 0, from cache: {2 * LIMIT}" in stderr
    second = run_dir_of(stdout)
    assert second != run_dir_of(demo_run.stdout)  # a new run directory; the first stays
    results = json.loads((second / "results.json").read_text())
    assert {t["counts"]["n"] for t in results["tasks"].values()} == {LIMIT}


def test_shipped_rows_are_verbatim_rows_of_the_benchmarks() -> None:
    vlrb_source = SHARED / "fixtures" / "vlrewardbench" / "data.jsonl"
    genai_source = SHARED / "fixtures" / "genai-bench" / "test_v1" / "image_generation.jsonl"
    if not vlrb_source.exists() or not genai_source.exists():
        pytest.skip("../shared/fixtures missing")
    vlrb = demo.shipped_lines(demo.VLRB_ROWS)
    genai = demo.shipped_lines(demo.GENAI_ROWS)
    assert set(vlrb) <= set(vlrb_source.read_text(encoding="utf-8").splitlines())
    assert set(genai) <= set(genai_source.read_text(encoding="utf-8").splitlines())
    assert len(set(vlrb)) == len(vlrb) == 36 and len(set(genai)) == len(genai) == 36

    from tasks.vlrewardbench import FOLDER_CATEGORY

    categories = [FOLDER_CATEGORY[json.loads(line)["image_path"].split("/")[1]] for line in vlrb]
    assert collections.Counter(categories) == {"general": 12, "hallucination": 12, "reasoning": 12}
    assert categories[:3] == ["general", "hallucination", "reasoning"]  # interleaved: --limit keeps a mix
    votes = collections.Counter(json.loads(line)["vote_type"] for line in genai)
    assert votes == {"leftvote": 9, "rightvote": 9, "tievote": 9, "bothbad_vote": 9}
    package = Path(demo.__file__).parent / "demo_data"
    assert sum(p.stat().st_size for p in package.iterdir()) < 100_000


def test_data_dir_is_deterministic_and_loads_without_problems(tmp_path: Path) -> None:
    from harness.registry import TASKS

    first, second = tmp_path / "a", tmp_path / "b"
    demo.write_data(first)
    demo.write_data(second)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) == 2 + 36 + 2 * 36  # two annotation files, one image per VL-RewardBench row, two per pair
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    for name in demo.TASKS:
        task = TASKS.get(name)()
        dataset = task.load(task.config(None, 0, None, first))
        assert len(dataset.samples) == 36
        assert [s.problem for s in dataset.samples if s.problem] == []
        assert all(m.path is not None and m.path.is_file() for s in dataset.samples for m in s.media)


def test_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not made by `harness demo`"):
        demo.main(parse("--out", str(theirs)))
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.txt"]
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        demo.main(parse("--out", str(tmp_path / "a-file")))
    with pytest.raises(SystemExit):
        parse("--limit", "0")
    with pytest.raises(SystemExit):
        parse("--judge", "gpt-4o")


def test_missing_hf_extra_is_one_line_naming_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = demo.importlib.util.find_spec
    monkeypatch.setattr(demo.importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real_find_spec(name, *a))
    with pytest.raises(UsageError) as info:
        demo.main(parse("--out", str(tmp_path / "demo")))
    message = str(info.value)
    assert "\n" not in message and 'pip install "torch==2.13.0" -e ".[hf]"' in message and "torch" in message
    assert not (tmp_path / "demo").exists()  # refused before any work
