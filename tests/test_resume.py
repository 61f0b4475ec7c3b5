"""Kill a real run with SIGKILL at random moments, resume it, and get exactly the uninterrupted result."""

from __future__ import annotations

import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.store import SampleLog

from .conftest import only_run_dir, read_jsonl

ROOT = Path(__file__).resolve().parents[1]


def command(data: Path, output: Path, *extra: str) -> list[str]:
    # 5 ms per call: a full run takes ~6 s, so five kills within 0.4-1.2 s of each start all land mid-run.
    return [sys.executable, "-m", "harness", "run", "--tasks", "vlrewardbench", "--model", "scripted",
            "--model-args", "delay=0.005", "--data-dir", str(data), "--output", str(output), "--no-cache", *extra]


def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}


def metrics(run_dir: Path) -> dict:
    task = json.loads((run_dir / "results.json").read_text())["tasks"]["vlrewardbench"]
    return {k: task[k] for k in ("metrics", "ci95", "counts", "details", "prompts_digest")}


@pytest.mark.slow
def test_sigkill_five_times_then_resume_matches_uninterrupted(vlrb_dir, tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(command(vlrb_dir, reference), check=True, env=env(tmp_path), capture_output=True, timeout=120)
    expected = metrics(only_run_dir(reference))

    output = tmp_path / "killed"
    rng = random.Random(20261126)
    progress = []
    for attempt in range(5):
        proc = subprocess.Popen(command(vlrb_dir, output, "--resume"), env=env(tmp_path),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.monotonic()  # kill during the judging, not during start-up (slow on a loaded machine)
        while not list(output.glob("*/run.json")) and proc.poll() is None and time.monotonic() - started < 60:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.4, 1.2))
        assert proc.poll() is None, f"attempt {attempt}: the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log = only_run_dir(output) / "vlrewardbench.samples.jsonl"
        progress.append(len(SampleLog(log).load()) if log.exists() else 0)
    assert progress == sorted(progress) and progress[-1] < 1250, progress

    finished = subprocess.run(command(vlrb_dir, output, "--resume"), env=env(tmp_path), capture_output=True,
                              text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    run_dir = only_run_dir(output)  # every attempt continued the same run directory
    assert finished.stdout.strip().splitlines()[-1] == str(run_dir)
    records = read_jsonl(run_dir / "vlrewardbench.samples.jsonl")
    assert len(records) == len({r["id"] for r in records}) == 1250
    assert metrics(run_dir) == expected


def test_torn_last_line_is_dropped_and_errors_are_retried(tmp_path):
    log_path = tmp_path / "t.samples.jsonl"
    good = json.dumps({"id": "a", "status": "ok", "outcome": {}, "replies": []})
    failed = json.dumps({"id": "b", "status": "error", "reason": "endpoint down", "stage": "adapter"})
    duplicate = json.dumps({"id": "a", "status": "ok", "outcome": {"x": 1}, "replies": []})
    log_path.write_text(good + "\n" + failed + "\n" + duplicate + "\n" + '{"id": "c", "sta')
    done = SampleLog(log_path).load()
    assert list(done) == ["a"] and done["a"].outcome == {}
    assert log_path.read_text() == good + "\n"


def test_a_run_in_use_cannot_be_resumed_by_a_second_process(tmp_path):
    from harness.errors import UsageError
    from harness.runner import RunOptions, run
    from reward.scripted import ScriptedAdapter

    from .conftest import make_data_dir, row

    data = make_data_dir(tmp_path / "data", [row("wildvision_a", "wildvision-battle")])
    opts = RunOptions(tasks=["vlrewardbench"], model="scripted", data_dir=data, output=tmp_path / "runs", resume=True)
    first = run(opts, adapter=ScriptedAdapter())
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('locked', flush=True); time.sleep(30)"), str(first.dir / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError, match="is being written by another process"):
            run(opts, adapter=ScriptedAdapter())
    finally:
        holder.kill()
        holder.wait()
    assert run(opts, adapter=ScriptedAdapter()).dir == first.dir  # the lock died with its holder


def wait_for_records(output: Path, timeout: float = 60.0) -> None:
    """Until the run has written a record (it is judging, so its Ctrl-C handler is in place)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = list(output.glob("*/vlrewardbench.samples.jsonl"))
        if logs and logs[0].stat().st_size > 0:
            return
        time.sleep(0.05)
    raise AssertionError("the run wrote no record in time")


def test_ctrl_c_finishes_the_record_prints_the_resume_command_and_exits_130(vlrb_dir, tmp_path):
    output = tmp_path / "runs"
    args = command(vlrb_dir, output)[3:]  # the harness arguments after `python -m harness`
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args, "--model-args", "delay=0.01"],
                            env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_records(output)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and "continue with: python -m harness run" in last and last.endswith("--resume")
    records = read_jsonl(only_run_dir(output) / "vlrewardbench.samples.jsonl")  # whole lines only
    assert 0 < len(records) < 1250
    resumed = subprocess.run(shlex.split(last.split("continue with: ", 1)[1].replace("python", sys.executable, 1)),
                             env=env(tmp_path), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert len(read_jsonl(only_run_dir(output) / "vlrewardbench.samples.jsonl")) == 1250


def test_a_second_ctrl_c_exits_at_once(vlrb_dir, tmp_path):
    args = command(vlrb_dir, tmp_path / "runs")[3:]
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args, "--model-args", "delay=0.2"], env=env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_records(tmp_path / "runs")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == 130 and "Traceback" not in err


def test_ctrl_c_on_an_api_judge_closes_it_cleanly(vlrb_dir, tmp_path):
    """The openai adapter's event loop and in-flight requests are closed, not destroyed pending."""
    from reward.testing.serve import start_server_process, stop_server_process

    server, url = start_server_process(latency=0.3, max_lifetime=120)
    try:
        output = tmp_path / "runs"
        proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--tasks", "vlrewardbench", "--model",
                                 "openai", "--model-args", f"base_url={url},concurrency=4", "--data-dir",
                                 str(vlrb_dir), "--output", str(output), "--no-cache"], env=env(tmp_path),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for_records(output)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        stop_server_process(server)
    assert proc.returncode == 130
    assert "Traceback" not in err and "Task was destroyed" not in err and "continue with:" in err
