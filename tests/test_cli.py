"""`python -m harness` end to end, and the results.json contract a CI gate reads."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import only_run_dir

ROOT = Path(__file__).resolve().parents[1]


def harness(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_list_names_tasks_protocols_and_models(tmp_path):
    out = harness("list", cache=tmp_path).stdout
    assert "vlrewardbench" in out and "strict (default), official, unifiedreward" in out
    assert "replay" in out and "scripted" in out


def test_run_writes_the_contracted_results(vlrb_dir, tmp_path):
    proc = harness("run", "--tasks", "vlrewardbench", "--model", "scripted", "--data-dir", str(vlrb_dir),
                   "--limit", "100", "--output", str(tmp_path / "runs"), "--model-args", "model_id=smoke",
                   cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    run_dir = only_run_dir(tmp_path / "runs")
    assert proc.stdout.strip().splitlines()[-1] == str(run_dir)
    results = json.loads((run_dir / "results.json").read_text())
    assert results["schema_version"] == 1 and results["run_id"] == run_dir.name
    assert results["model"]["adapter"] == "scripted" and results["model"]["model"] == "smoke"
    task = results["tasks"]["vlrewardbench"]
    assert task["protocol"] == "strict" and task["split"] == "test"
    assert task["dataset"]["source"] == "local" and len(task["dataset"]["data_sha256"]) == 64
    assert set(task["metrics"]) == {"overall_accuracy", "macro_accuracy", "accuracy/general",
                                    "accuracy/hallucination", "accuracy/reasoning"}
    # The first 100 rows hold no reasoning item: that metric is null (undefined), never 0.
    assert task["metrics"]["accuracy/reasoning"] is None and "accuracy/reasoning" not in task["ci95"]
    for name, value in task["metrics"].items():
        if value is None:
            continue
        lo, hi = task["ci95"][name]
        assert 0 <= lo <= value <= hi <= 100
    assert task["counts"] == {"n": 100, "n_invalid": 0, "n_error": 0}
    assert results["harness"]["git"].keys() == {"commit", "dirty"}
    assert "numpy" in results["packages"]
    samples = [json.loads(line) for line in (run_dir / "vlrewardbench.samples.jsonl").read_text().splitlines()]
    assert len(samples) == 100
    # The digest: sha256 of the sum of sha256(id TAB prompt hash) over the samples, mod 2**256.
    total = sum(int(hashlib.sha256(f"{r['id']}\t{r['prompt_hash']}".encode()).hexdigest(), 16) for r in samples)
    assert task["prompts_digest"] == hashlib.sha256((total % 2 ** 256).to_bytes(32, "big")).hexdigest()


@pytest.mark.network
def test_hub_loading_at_the_pinned_revision(tmp_path):
    proc = harness("run", "--tasks", "vlrewardbench", "--model", "scripted", "--limit", "20", "--output",
                   str(tmp_path / "runs"), cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    task = json.loads((only_run_dir(tmp_path / "runs") / "results.json").read_text())["tasks"]["vlrewardbench"]
    assert task["dataset"]["source"] == "hub" and task["dataset"]["n_rows"] == 1250
    assert task["counts"]["n_error"] == 0


def test_resume_without_a_run_of_this_configuration_is_a_usage_error(vlrb_dir, tmp_path):
    """--resume never silently starts over when runs exist: it names the closest run and what differs."""
    runs = tmp_path / "runs"
    base = ["run", "--tasks", "vlrewardbench", "--model", "scripted", "--data-dir", str(vlrb_dir), "--limit", "3",
            "--output", str(runs)]
    first = harness(*base, "--resume", cache=tmp_path)  # nothing to resume yet: a new run, said on stderr
    assert first.returncode == 0 and "no run in" in first.stderr and "starting a new one" in first.stderr
    run_dir = only_run_dir(runs)
    changed = harness(*base, "--seed", "1", "--resume", cache=tmp_path)
    assert changed.returncode == 2
    message = changed.stderr.strip().splitlines()[-1]
    assert run_dir.name in message and "seed: 0 -> 1" in message and "drop --resume" in message
    assert [d.name for d in runs.iterdir() if d.is_dir()] == [run_dir.name]  # no orphan run directory
    same = harness(*base, "--resume", cache=tmp_path)
    assert same.returncode == 0 and same.stdout.strip().splitlines()[-1] == str(run_dir)


def test_version_and_python_api(vlrb_dir, tmp_path):
    import harness as package

    version = subprocess.run([sys.executable, "-m", "harness", "--version"], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"harness {package.__version__}"
    tasks = package.list_tasks()
    assert tasks["vlrewardbench"]["default_protocol"] == "strict" and "unifiedreward-qwen" in tasks["vlrewardbench"][
        "protocols"]
    assert "hf" in package.list_models() and "scripted" in package.list_models()
    # evaluate() is the CLI's code path: same results.json as `harness run` with the same settings
    outcome = package.evaluate(["vlrewardbench"], "scripted", {"reply": "Answer 1 is better"}, data_dir=vlrb_dir,
                               limit=0.01, output=tmp_path / "api", use_cache=False)
    cli = subprocess.run([sys.executable, "-m", "harness", "run", "--tasks", "vlrewardbench", "--model", "scripted",
                          "--model-args", "reply=Answer 1 is better", "--data-dir", str(vlrb_dir), "--limit", "0.01",
                          "--output", str(tmp_path / "cli"), "--no-cache"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_CACHE_DIR": str(tmp_path)}, timeout=120)
    assert cli.returncode == 0, cli.stderr
    from_cli = json.loads((Path(cli.stdout.strip().splitlines()[-1]) / "results.json").read_text())
    api_task, cli_task = outcome.results["tasks"]["vlrewardbench"], from_cli["tasks"]["vlrewardbench"]
    assert api_task["counts"]["n"] == 13  # ceil(1,250 x 0.01)
    assert api_task["metrics"] == cli_task["metrics"] and outcome.results["config_hash"] == from_cli["config_hash"]
    assert outcome.dir.parent == tmp_path / "api"


def test_argument_errors_name_the_flag_they_came_from(tmp_path):
    bad_judge = harness("run", "--tasks", "msvd_qa", "--model", "scripted", "--judge", "scripted",
                        "--judge-args", "temprature=0", "--data-dir", str(tmp_path), "--output",
                        str(tmp_path / "r"), cache=tmp_path)
    assert bad_judge.returncode == 2 and "--judge-args: model 'scripted' has no argument 'temprature'" in \
        bad_judge.stderr
    bad_limit = harness("run", "--tasks", "vlrewardbench", "--model", "scripted", "--limit", "1.5", cache=tmp_path)
    assert bad_limit.returncode == 2 and "--limit" in bad_limit.stderr


def test_progress_is_logged_off_a_terminal(vlrb_dir, tmp_path):
    """A run whose stderr is a pipe (CI, nohup) prints progress lines at a steady interval, and -v each failure."""
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT),
           "HARNESS_PROGRESS_INTERVAL": "0.3"}
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--tasks", "vlrewardbench", "--model", "scripted",
                           "--model-args", "delay=0.004,reply=no verdict here", "--data-dir", str(vlrb_dir),
                           "--limit", "400", "--output", str(tmp_path / "runs"), "--no-cache", "-v"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("harness: vlrewardbench [strict] ")]
    progress = [line for line in lines if "samples/s" in line]
    assert len(progress) >= 3 and progress[-1].startswith("harness: vlrewardbench [strict] 400/400 (100.0%)")
    assert "invalid 400" in progress[-1] and "ETA" in progress[0]
    per_sample = [line for line in lines if ": invalid at parse: " in line]
    assert len(per_sample) == 400
    quiet = subprocess.run([sys.executable, "-m", "harness", "run", "--tasks", "vlrewardbench", "--model", "scripted",
                            "--data-dir", str(vlrb_dir), "--limit", "50", "--output", str(tmp_path / "q"),
                            "--no-cache", "-q"], capture_output=True, text=True, env=env, timeout=120)
    assert quiet.returncode == 0 and "samples/s" not in quiet.stderr


def test_summary_breaks_errors_down_and_warns_about_a_short_replay_file(tmp_path):
    """An edit-benchmark reply file replayed on the image task: the missing replies are named, not hidden."""
    fixtures = ROOT.parent / "shared" / "fixtures" / "genai-bench"
    if not fixtures.exists():
        pytest.skip("../shared fixtures missing")
    proc = harness("run", "--tasks", "genai_bench_image", "--model", "replay", "--model-args",
                   f"path={fixtures}/responses/image_edition__gpt4o.jsonl,name=gpt4o", "--protocol", "genai-arena",
                   "--data-dir", str(fixtures / "test_v1"), "--split", "test_v1", "--output", str(tmp_path / "r"),
                   cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.splitlines()[0].startswith("judge: replay")
    n_error = int(out.split("error=")[1].split()[0])
    assert 0 < n_error < 1735 and f"error/adapter                {n_error}  e.g. " in out
    assert f"warning: the replay file has no reply for {n_error} of 1735 samples" in out
