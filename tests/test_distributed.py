"""Data-parallel sharding under `accelerate launch`: two processes, one merged run directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import only_run_dir, read_jsonl

ROOT = Path(__file__).resolve().parents[1]


def harness_args(data: Path, output: Path) -> list[str]:
    return ["run", "--tasks", "vlrewardbench", "--model", "scripted", "--data-dir", str(data), "--output",
            str(output), "--limit", "300", "--no-cache"]


@pytest.mark.slow
def test_two_processes_write_one_run_with_the_single_process_results(vlrb_dir, tmp_path):
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    if accelerate is None:
        pytest.skip("accelerate is not installed (extra `hf`)")
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "-m", "harness", *harness_args(vlrb_dir, tmp_path / "single")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert single.returncode == 0, single.stderr
    # --multi_gpu is accelerate's multi-process launcher; without a GPU the processes use gloo on the CPU.
    launched = subprocess.run([accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
                               "-m", "harness", *harness_args(vlrb_dir, tmp_path / "parallel")],
                              env=env, capture_output=True, text=True, timeout=180)
    assert launched.returncode == 0, launched.stderr[-3000:]
    run_dir = only_run_dir(tmp_path / "parallel")
    assert launched.stdout.strip().splitlines()[-1] == str(run_dir)  # printed by rank 0 only
    assert "judged by the model: 150," in launched.stdout  # rank 0 judged its half of the 300
    assert sorted(p.name for p in run_dir.iterdir()) == [".lock", "results.json", "run.json",
                                                          "vlrewardbench.samples.jsonl"]
    records = read_jsonl(run_dir / "vlrewardbench.samples.jsonl")
    assert len(records) == len({r["id"] for r in records}) == 300

    def task(d):
        return json.loads((d / "results.json").read_text())["tasks"]["vlrewardbench"]

    parallel, reference = task(run_dir), task(only_run_dir(tmp_path / "single"))
    for key in ("metrics", "ci95", "counts", "details", "prompts_digest"):
        assert parallel[key] == reference[key], key
