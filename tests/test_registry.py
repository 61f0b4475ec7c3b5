"""Registry: entry points are the registry (the checkout's pyproject.toml over a stale editable install), the
decorators only name, duplicate names rejected, unknown names listed, and every task/model/policy class of the
project named by an entry point."""

from __future__ import annotations

import importlib
import inspect
from importlib import metadata
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.registry import MODELS, TASKS, DuplicateNameError, Registry, declared_entry_points, named, task

from .test_codebase import NEEDS_OTHER_ENVIRONMENT, PACKAGES, modules

ROOT = Path(__file__).resolve().parents[1]


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


def test_the_decorator_only_names_the_class():
    @task("decorated_only")
    class Decorated:
        pass

    assert Decorated.name == "decorated_only"
    assert "decorated_only" not in TASKS.names()


def fake_install(site: Path, dist: str, entry_points: str) -> None:
    """An installed distribution's metadata as pip writes it (an editable install records its entry points
    here when it is installed, and not again)."""
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def stale_checkout(tmp_path, monkeypatch) -> Path:
    """Our distribution installed when the group held `old_task` only, another package's `other_task`, and the
    checkout's pyproject.toml edited since: `old_task` dropped, `fresh_task` added."""
    site = tmp_path / "site"
    fake_install(site, "unified-reward-harness", "[harness.tasks]\nold_task = fresh_tasks:Old\n")
    fake_install(site, "other-benchmarks", "[harness.tasks]\nother_task = fresh_tasks:Other\n")
    (site / "fresh_tasks.py").write_text(
        "class Old:\n    name = 'old_task'\n\n\n"
        "class Fresh:\n    name = 'fresh_task'\n\n\n"
        "class Other:\n    name = 'other_task'\n")
    monkeypatch.syspath_prepend(str(site))  # found before the real installation of our distribution
    checkout = tmp_path / "checkout" / "pyproject.toml"
    checkout.parent.mkdir()
    checkout.write_text('[project]\nname = "unified_reward_harness"\n\n'
                        '[project.entry-points."harness.tasks"]\nfresh_task = "fresh_tasks:Fresh"\n')
    return checkout


def test_the_checkouts_pyproject_replaces_our_stale_installed_entry_points(stale_checkout):
    reg = Registry("task", "harness.tasks", pyproject=stale_checkout)
    assert reg.names() == ["fresh_task", "other_task"]
    assert reg.get("fresh_task").__name__ == "Fresh"
    assert reg.get("other_task").__name__ == "Other"  # another distribution's, from its metadata
    with pytest.raises(UsageError, match="unknown task 'old_task'"):
        reg.get("old_task")


def test_a_pyproject_of_another_project_is_ignored(stale_checkout):
    stale_checkout.write_text(stale_checkout.read_text().replace("unified_reward_harness", "someone-else"))
    assert Registry("task", "harness.tasks", pyproject=stale_checkout).names() == ["old_task", "other_task"]


def test_an_unreadable_checkout_pyproject_is_an_error_naming_it(stale_checkout):
    stale_checkout.write_text("[project\n")
    with pytest.raises(UsageError, match=r"pyproject.toml: cannot read its entry points"):
        Registry("task", "harness.tasks", pyproject=stale_checkout).names()


def test_imported_from_this_checkout_the_registry_reads_its_pyproject():
    for registry in (TASKS, MODELS, Registry("policy", "harness.policies")):
        assert registry.pyproject == ROOT / "pyproject.toml"
        declared = declared_entry_points(ROOT / "pyproject.toml", registry.group)
        assert declared and {ep.name: ep.value for ep in declared} == \
            {name: ep.value for name, ep in registry.entry_points().items()}


def test_a_class_naming_itself_otherwise_is_refused_and_an_unnamed_one_takes_the_entry_points_name(
        tmp_path, monkeypatch):
    (tmp_path / "misnamed.py").write_text("class Judge:\n    name = 'judge_a'\n\n\nclass Plain:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [metadata.EntryPoint("judge_b", "misnamed:Judge", "harness.models"),
           metadata.EntryPoint("plain", "misnamed:Plain", "harness.models")]
    monkeypatch.setattr(metadata, "entry_points", lambda group: eps)
    reg = Registry("model", "harness.models")
    with pytest.raises(UsageError, match=r"model 'judge_b' \(entry point misnamed:Judge\): the class names "
                                         r"itself 'judge_a'"):
        reg.get("judge_b")
    assert reg.get("plain").name == "plain"


# ------------------------------------------------- every class of the project is named by an entry point

GROUPS = {"harness.tasks": ("harness.task", "Task"), "harness.models": ("harness.adapters", "Adapter"),
          "harness.policies": ("alignment.policies", "Policy")}


def subclasses(base: type) -> set[type]:
    found = set()
    for sub in base.__subclasses__():
        found |= {sub} | subclasses(sub)
    return found


def unnamed(classes: set[type], group: str, targets: dict[type, str]) -> list[str]:
    """The concrete `classes` that are not the target of an entry point of their name. A class without a name
    of its own that another of `classes` derives from is a shared base (GenAIBench, VideoQA), not a task; one
    that nothing derives from is a task, model or policy that lacks its line."""
    missing = []
    for cls in sorted(classes, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        derived = any(issubclass(other, cls) and other is not cls for other in classes)
        if inspect.isabstract(cls) or ("name" not in vars(cls) and derived):
            continue
        name = getattr(cls, "name", None)
        if targets.get(cls) != name:
            missing.append(f"{cls.__module__}.{cls.__qualname__} (name {name!r}): add "
                           f'`{name or "NAME"} = "{cls.__module__}:{cls.__qualname__}"` to '
                           f'[project.entry-points."{group}"]')
    return missing


def test_every_task_model_and_policy_class_is_named_by_its_entry_point():
    for name in modules():
        if name not in NEEDS_OTHER_ENVIRONMENT:
            importlib.import_module(name)
    problems = []
    for group, (module, base_name) in GROUPS.items():
        targets = {}
        for ep in declared_entry_points(ROOT / "pyproject.toml", group) or []:
            target = ep.load()
            targets[target] = ep.name
            if getattr(target, "name", None) != ep.name:
                problems.append(f"{group} {ep.name} = {ep.value}: the class is named {target.name!r}")
        base = getattr(importlib.import_module(module), base_name)
        ours = {c for c in subclasses(base) if c.__module__.split(".")[0] in PACKAGES}
        problems += unnamed(ours, group, targets)
    assert problems == []


def test_the_check_finds_a_task_that_no_entry_point_names():
    from tasks.vlrewardbench import VLRewardBench

    class Base(VLRewardBench):  # no name of its own and a class derives from it: a shared base, exempt
        pass

    @named("orphan_bench")
    class Orphan(Base):  # named, but no entry point names it
        pass

    class Forgotten(Base):  # neither named nor registered (its name is the inherited 'vlrewardbench')
        pass

    found = unnamed({Base, Orphan, Forgotten}, "harness.tasks", {VLRewardBench: "vlrewardbench"})
    assert [line.split(" ")[0].rsplit(".", 1)[1] for line in found] == ["Forgotten", "Orphan"]
    assert 'orphan_bench = "tests.test_registry:' in found[1]
    assert unnamed({Base, Orphan}, "harness.tasks", {Orphan: "orphan_bench"}) == []
