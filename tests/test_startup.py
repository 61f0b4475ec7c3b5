"""Start-up imports only what a command uses (issue 14): `list` and `--help` import no numpy, PIL, aiohttp,
runner or lmms-eval wing; a scripted `run` opens no HTTP client, an `openai` run does.

Each command runs in a fresh interpreter under `-X importtime`. Its log misses the modules that
`importlib.import_module` loads itself (entry points: the task and adapter modules), so the interpreter also
writes `sys.modules` at exit, and a module counts as imported when either names it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import make_data_dir, row

ROOT = Path(__file__).resolve().parents[1]

#: Runs `python -m harness ARGS` and writes the names in sys.modules to $STARTUP_MODULES at exit (after
#: SystemExit too: argparse's --help exits through it).
DRIVER = """
import atexit, json, os, runpy, sys
atexit.register(lambda: open(os.environ["STARTUP_MODULES"], "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["harness", *sys.argv[1:]]
runpy.run_module("harness", run_name="__main__", alter_sys=True)
"""

IMPORTTIME_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$")

#: What a listing or the help text has no use for.
NOT_FOR_LISTING = ("numpy", "PIL", "aiohttp", "harness.lmms.bridge", "harness.lmms.results",
                   "harness.lmms.include_path", "harness.runner")


def imported_by(tmp_path: Path, *args: str) -> set[str]:
    """Every module `python -m harness ARGS` imports (top-level packages and submodules alike)."""
    dump = tmp_path / "modules.json"
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT),
           "STARTUP_MODULES": str(dump)}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", DRIVER, *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    logged = {m.group(1) for m in map(IMPORTTIME_LINE.match, proc.stderr.splitlines()) if m}
    assert "harness.cli" in logged, "no -X importtime log in stderr"
    return logged | set(json.loads(dump.read_text(encoding="utf-8")))


def heavy(modules: set[str], names: tuple[str, ...] = NOT_FOR_LISTING) -> list[str]:
    """The modules of `names` (or their submodules) in `modules`."""
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_list_imports_no_numpy_pil_aiohttp_runner_or_lmms_wing(tmp_path):
    modules = imported_by(tmp_path, "list")
    assert "tasks.vlrewardbench" in modules  # the task classes are loaded (protocols, splits), only lightly
    assert heavy(modules) == []


def test_help_imports_neither_the_run_machinery_nor_any_task(tmp_path):
    modules = imported_by(tmp_path, "--help")
    assert heavy(modules) == []
    assert sorted(m for m in modules if m == "tasks" or m.startswith("tasks.")) == []


def test_describing_a_task_scores_it_so_numpy_is_seen(tmp_path):
    # The detector's positive control: `list NAME` runs the task's scoring on no samples, which needs numpy.
    assert "numpy" in imported_by(tmp_path, "list", "vlrewardbench")


def tiny_vlrb_dir(root: Path) -> Path:
    return make_data_dir(root, [row(f"RLAIF-V-{i}", "rlaif-v") for i in range(4)])


def test_scripted_run_opens_no_http_client(tmp_path):
    data = tiny_vlrb_dir(tmp_path / "data")
    modules = imported_by(tmp_path, "run", "--tasks", "vlrewardbench", "--model", "scripted", "--data-dir", str(data),
                          "--output", str(tmp_path / "runs"), "-q")
    assert "harness.runner" in modules and "reward.scripted" in modules  # it did run
    assert heavy(modules, ("aiohttp", "harness.http_client", "harness.lmms.bridge", "harness.lmms.results")) == []


def test_openai_run_imports_aiohttp_when_it_sends(tmp_path):
    from reward.testing.testserver import FakeOpenAIServer

    data = tiny_vlrb_dir(tmp_path / "data")
    with FakeOpenAIServer(model="m") as server:
        modules = imported_by(tmp_path, "run", "--tasks", "vlrewardbench", "--model", "openai", "--model-args",
                              f"base_url={server.base_url}", "--data-dir", str(data), "--output",
                              str(tmp_path / "runs"), "-q")
        assert server.stats()["requests"] == 4
    assert "aiohttp" in modules



@pytest.mark.parametrize("line, name", [
    ("import time:       721 |        721 |   harness.errors", "harness.errors"),
    ("import time:     10297 |      10297 | numpy", "numpy"),
])
def test_importtime_lines_are_read(line, name):
    match = IMPORTTIME_LINE.match(line)
    assert match is not None and match.group(1) == name
