"""The codebase's own rules, checked on every test run: every module imports, ruff is clean, no source file
is over 600 lines, and the core (`harness`) imports no other package of the project at module level."""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "tasks", "reward", "alignment", "reports")
MAX_LINES = 600
#: Modules whose import needs a package outside the CI environment's extras (lmms-eval's own venv).
NEEDS_OTHER_ENVIRONMENT = {"harness.lmms.models", "harness.lmms.manifest"}


def modules() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tasks" in parts[1:] and parts[0] == "harness":  # lmms-eval task folders (YAML + utils for lmms-eval)
                continue
            if parts[-1] == "__main__":  # runs the command line when imported
                continue
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


@pytest.mark.parametrize("name", [m for m in modules() if m not in NEEDS_OTHER_ENVIRONMENT])
def test_every_module_imports(name):
    importlib.import_module(name)


def test_no_source_file_is_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for package in (*PACKAGES, "bench") for p in (ROOT / package).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_core_imports_no_other_package_of_the_project_at_module_level():
    """`harness` is the core: tasks, judges, training and reports build on it, never the other way round
    (a function may import a plugin lazily, e.g. the CLI dispatching to a command)."""
    found = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in PACKAGES[1:]]
    assert found == []


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        pytest.skip("ruff is not installed (it comes with the `test` extra)")
    done = subprocess.run([ruff, "check", "--output-format", "concise", *PACKAGES, "bench", "tests"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
