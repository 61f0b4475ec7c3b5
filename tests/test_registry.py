"""Registry: decorators, entry points, duplicate names rejected, unknown names listed."""

from __future__ import annotations

from importlib import metadata

import pytest

from harness.errors import UsageError
from harness.registry import MODELS, TASKS, DuplicateNameError, Registry


def test_builtins_come_from_entry_points():
    assert {"vlrewardbench"} <= set(TASKS.names())
    assert {"replay", "scripted"} <= set(MODELS.names())
    from tasks.vlrewardbench import VLRewardBench

    assert TASKS.get("vlrewardbench") is VLRewardBench
    assert VLRewardBench.name == "vlrewardbench"


def test_decorator_registration_and_duplicates():
    reg = Registry("widget", "harness.test-widgets-none")

    class A:
        pass

    class B:
        pass

    reg.register("a", A, source="test A")
    reg.register("a", A, source="test A again")  # the same object twice is harmless
    with pytest.raises(DuplicateNameError, match="widget name 'a' is registered twice: by test A and by test B"):
        reg.register("a", B, source="test B")
    with pytest.raises(UsageError, match="unknown widget 'b'; valid names: a"):
        reg.get("b")


def test_two_entry_points_claiming_one_name_are_rejected(monkeypatch):
    eps = [metadata.EntryPoint("dup", "pkg_one.tasks:One", "harness.tasks"),
           metadata.EntryPoint("dup", "pkg_two.tasks:Two", "harness.tasks")]
    monkeypatch.setattr(metadata, "entry_points", lambda group: eps)
    reg = Registry("task", "harness.tasks")
    with pytest.raises(DuplicateNameError, match="pkg_one.tasks:One and pkg_two.tasks:Two"):
        reg.names()


def test_entry_point_of_a_third_party_is_loaded_on_first_lookup(monkeypatch):
    ep = metadata.EntryPoint("third", "collections:OrderedDict", "harness.models")
    monkeypatch.setattr(metadata, "entry_points", lambda group: [ep])
    reg = Registry("model", "harness.models")
    assert reg.names() == ["third"]
    from collections import OrderedDict

    assert reg.get("third") is OrderedDict


def test_summary_reads_an_unloaded_entry_point_from_source(tmp_path, monkeypatch):
    (tmp_path / "third_judge.py").write_text(
        'raise RuntimeError("importing this module is what summary must avoid")\n'
        'class Judge:\n    """A third-party judge: url=URL.\n\n    More detail."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = metadata.EntryPoint("third", "third_judge:Judge", "harness.models")
    monkeypatch.setattr(metadata, "entry_points", lambda group: [ep])
    reg = Registry("model", "harness.models")
    assert reg.summary("third") == "A third-party judge: url=URL."
    with pytest.raises(UsageError, match="unknown model 'nope'"):
        reg.summary("nope")


def test_summary_falls_back_to_loading_when_the_source_does_not_define_the_name(tmp_path, monkeypatch):
    (tmp_path / "judge_impl.py").write_text('class Real:\n    """Defined elsewhere."""\n')
    (tmp_path / "judge_api.py").write_text("from judge_impl import Real as Judge\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = metadata.EntryPoint("reexported", "judge_api:Judge", "harness.models")
    monkeypatch.setattr(metadata, "entry_points", lambda group: [ep])
    assert Registry("model", "harness.models").summary("reexported") == "Defined elsewhere."


def test_harness_list_imports_no_model_dependencies():
    import subprocess
    import sys

    code = ("import sys, contextlib, io\nfrom harness.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out: rc = main(['list'])\n"
            "assert rc == 0 and 'pickscore' in out.getvalue(), out.getvalue()\n"
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
