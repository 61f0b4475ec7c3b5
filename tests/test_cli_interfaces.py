"""The interfaces lm-eval users reach for: `harness list TASK`, task groups in --tasks, `run --config`, and a
README command summary that lists every option of every subcommand (a drift test)."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import harness
from harness import api
from harness.cli import build_parser, main, subcommands
from harness.describe import load_data_cards
from harness.errors import UsageError
from harness.groups import TaskGroup, expand_tasks, load_groups
from harness.registry import TASKS
from harness.run_config import file_options, read_run_config
from reports.spec import load_specs

from .conftest import make_data_dir, only_run_dir, row

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_vlrb(tmp_path) -> Path:
    rows = [row("wildvision-1", "wildvision-battle"), row("RLAIF-2", "rlaif-v", ranking=(1, 0)),
            row("mathverse-3", "reasoning_tasks"), row("vlfeedback-4", "vlfeedback")]
    return make_data_dir(tmp_path / "vlrb", rows)


def scripted_run(data_dir: Path, output: Path, *extra: str, tasks: str = "vlrewardbench") -> list[str]:
    return ["run", "--tasks", tasks, "--model", "scripted", "--model-args", "model_id=smoke",
            "--data-dir", str(data_dir), "--output", str(output), "--progress", "none", *extra]


# ---- task groups ---------------------------------------------------------------------------------------

def test_every_shipped_group_names_registered_tasks_only():
    registered = set(TASKS.names())
    for group in load_groups().values():
        unknown = [t for t in group.tasks if t not in registered]
        assert not unknown, f"group {group.name} names unknown task(s) {unknown}"


def test_no_group_name_is_a_task_name():
    assert not set(load_groups()) & set(TASKS.names())


def _table_tasks(table_id: str) -> set[str]:
    spec = load_specs()[table_id]
    return {s.task for c in spec.columns for s in c.sources if s.task in TASKS.names()}


@pytest.mark.parametrize("table_id", ["3", "4", "5", "6", "7", "8", "9"])
def test_paper_table_groups_hold_the_harness_tasks_of_their_report_table(table_id):
    """The group a user runs for a table is the set of harness tasks that table's report reads."""
    assert set(load_groups()[f"paper-table{table_id}"].tasks) == _table_tasks(table_id)


def test_all_reward_is_every_reward_benchmark_task():
    reward = set().union(*(_table_tasks(t) for t in ("3", "4", "5", "genai-leaderboard")))
    assert set(load_groups()["all-reward"].tasks) == reward
    assert {"vlrewardbench", "genai_bench_edit", "sharegptvideo_pairs"} <= reward


def test_groups_expand_in_order_and_each_task_once():
    names = expand_tasks(["genai_bench_video", "paper-table5", "vlrewardbench", "genai_bench_video", ""])
    assert names == ["genai_bench_video", "genai_bench_image", "videogen_rewardbench", "vlrewardbench"]
    assert expand_tasks(["paper-table3", "all-reward"])[:2] == ["vlrewardbench", "genai_bench_image"]


def test_a_name_that_is_both_a_group_and_a_task_is_refused():
    groups = {"vlrewardbench": TaskGroup("vlrewardbench", "clash", ("genai_bench_image",))}
    with pytest.raises(UsageError, match="both a task and a task group"):
        expand_tasks(["vlrewardbench"], groups)


@pytest.mark.parametrize("body, message", [
    ("g: {description: d, tasks: []}\n", "'tasks' must be a non-empty list"),
    ("g: {description: d, tasks: [a], extra: 1}\n", "unknown key"),
    ("g: [a, b]\n", "must be a mapping"),
])
def test_a_malformed_groups_file_names_the_file_and_group(tmp_path, body, message):
    path = tmp_path / "groups.yaml"
    path.write_text(body)
    with pytest.raises(UsageError, match=message) as err:
        load_groups(path)
    assert str(path) in str(err.value) and "'g'" in str(err.value)


def test_run_accepts_groups_mixed_with_tasks(small_vlrb, tmp_path, capsys):
    assert main(scripted_run(small_vlrb, tmp_path / "runs", tasks="paper-table3,vlrewardbench")) == 0
    results = json.loads((only_run_dir(tmp_path / "runs") / "results.json").read_text())
    assert list(results["tasks"]) == ["vlrewardbench"] and results["tasks"]["vlrewardbench"]["counts"]["n"] == 4


def test_inspect_accepts_a_group(small_vlrb, capsys):
    rc = main(["inspect", "--tasks", "paper-table3", "--model", "scripted", "--data-dir", str(small_vlrb),
               "--limit", "1", "--json"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 0 and [r["task"] for r in records] == ["vlrewardbench"]


def test_evaluate_accepts_a_group(small_vlrb, tmp_path):
    outcome = harness.evaluate("paper-table3", "scripted", {"model_id": "smoke"}, data_dir=small_vlrb,
                               output=tmp_path / "runs", progress="none")
    assert list(outcome.results["tasks"]) == ["vlrewardbench"]


# ---- harness list ----------------------------------------------------------------------------------------

def test_list_keeps_tasks_and_models_and_adds_groups(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "vlrewardbench" in out and "strict (default), official, unifiedreward" in out and "scripted" in out
    groups_part = out.split("groups")[1]
    for name, group in load_groups().items():
        assert re.search(rf"^  {re.escape(name)} +{re.escape(', '.join(group.tasks))}:", groups_part, re.M)


def test_list_task_prints_protocols_deviations_metrics_and_data(capsys):
    from tasks import vlrewardbench as module

    assert main(["list", "vlrewardbench"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("vlrewardbench (version 1)\n  VL-RewardBench (image understanding")
    for name, spec in module.PROTOCOLS.items():
        assert f"    {name}" in out and spec.summary in out
        for deviation in spec.deviations:
            assert f"deviation: {deviation}" in out
    assert "a qwen-family judge asked for unifiedreward runs unifiedreward-qwen" in out
    assert f"hub: {module.HF_DATASET}, pinned revision {module.HF_REVISION}" in out
    assert "--data-dir: data.jsonl + images/<folder>/<id>.jpg" in out and "rows: test 1,250" in out
    assert "metrics: accuracy/general, accuracy/hallucination, accuracy/reasoning, overall_accuracy" in out


def test_list_task_says_what_is_only_known_after_loading(capsys):
    assert main(["list", "msvd_qa", "genai_bench_image"]) == 0
    out = capsys.readouterr().out
    assert "hub: none (nothing is downloaded)" in out and "rows: test known after loading" in out
    assert "default --judge openai --judge-args model=gpt-3.5-turbo-1106" in out
    assert "rows: test_v1 1,735; test known after loading" in out
    assert "TIGER-Lab/GenAI-Bench (config image_generation), no pinned revision" in out


def test_list_of_a_group_describes_its_tasks(capsys):
    assert main(["list", "paper-table5", "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)) == list(load_groups()["paper-table5"].tasks)


def test_list_unknown_name_is_the_registry_error(capsys):
    assert main(["list", "vlrewardbench", "no_such_task"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("harness: error: unknown task 'no_such_task'; valid names:")


def test_list_json_without_names(capsys):
    assert main(["list", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"tasks": api.list_tasks(), "models": api.list_models(), "groups": api.list_groups()}
    assert out["groups"]["paper-table3"]["tasks"] == ["vlrewardbench"]


def test_describe_task_json_matches_the_task_class():
    from tasks.video_qa import JUDGE_MODEL, MSVDQA

    info = api.describe_task("msvd_qa")
    assert info["protocols"]["strict"]["deviations"] == list(MSVDQA.protocols["strict"].deviations)
    assert info["two_stage"] and info["default_judge"] == {"name": "openai", "args": {"model": JUDGE_MODEL}}
    assert info["data"]["hub"] is None and info["data"]["rows"] == {"test": None}
    assert info["groups"] == ["paper-table6"]
    edit = api.describe_task("genai_bench_edit")  # the base class's family choice needs unifiedreward: absent
    assert edit["family_protocols"] == {} and "unifiedreward" not in edit["protocols"]
    with pytest.raises(UsageError, match="unknown task"):
        api.describe_task("nope")


def test_described_metrics_are_the_metrics_a_run_reports(small_vlrb, tmp_path, capsys):
    assert main(scripted_run(small_vlrb, tmp_path / "runs", "--protocol", "official")) == 0
    results = json.loads((only_run_dir(tmp_path / "runs") / "results.json").read_text())
    described = api.describe_task("vlrewardbench")["protocols"]["official"]["metrics"]
    assert set(results["tasks"]["vlrewardbench"]["metrics"]) == set(described)
    assert results["tasks"]["vlrewardbench"]["protocol_deviations"] == \
        api.describe_task("vlrewardbench")["protocols"]["official"]["deviations"]


def test_describing_a_task_loads_no_data(monkeypatch):
    from tasks.vlrewardbench import VLRewardBench

    def refuse(self, cfg):
        raise AssertionError("describe_task loaded data")

    monkeypatch.setattr(VLRewardBench, "load", refuse)
    assert api.describe_task("vlrewardbench")["data"]["rows"] == {"test": 1250}


def test_every_registered_task_has_a_data_card_within_its_splits():
    cards = load_data_cards()
    assert set(cards) == set(TASKS.names())
    for name, card in cards.items():
        assert set(card.get("rows") or {}) <= set(TASKS.get(name).splits), name


def test_a_data_card_with_an_unknown_key_is_refused(tmp_path):
    path = tmp_path / "cards.yaml"
    path.write_text("vlrewardbench: {data_dri: x}\n")
    with pytest.raises(UsageError, match="unknown key.*data_dri"):
        load_data_cards(path)


# ---- run --config -----------------------------------------------------------------------------------------

def write_yaml(path: Path, content: dict) -> Path:
    path.write_text(yaml.safe_dump(content))
    return path


def test_config_file_runs_as_the_same_flags(small_vlrb, tmp_path, capsys):
    """A run from the file and the same run from flags record the same configuration (run.json)."""
    config = write_yaml(tmp_path / "run.yaml", {
        "tasks": ["paper-table3"], "model": "scripted", "model_args": {"model_id": "smoke", "delay": 0},
        "data_dir": str(small_vlrb), "limit": 3, "seed": 5, "output": str(tmp_path / "a"), "no_cache": True,
        "progress": "none"})
    assert main(["run", "--config", str(config)]) == 0
    assert main(["run", "--tasks", "vlrewardbench", "--model", "scripted", "--model-args", "model_id=smoke,delay=0",
                 "--data-dir", str(small_vlrb), "--limit", "3", "--seed", "5", "--output", str(tmp_path / "b"),
                 "--no-cache", "--progress", "none"]) == 0
    from_file = json.loads((only_run_dir(tmp_path / "a") / "run.json").read_text())
    from_flags = json.loads((only_run_dir(tmp_path / "b") / "run.json").read_text())
    assert from_file["config"] == from_flags["config"] and from_file["config_hash"] == from_flags["config_hash"]
    assert from_file["config"]["seed"] == 5 and from_file["config"]["limit"] == 3
    assert set(from_file) == set(from_flags)  # nothing about the file itself is recorded


def test_command_line_flags_override_the_file(small_vlrb, tmp_path, capsys):
    config = write_yaml(tmp_path / "run.yaml", {"tasks": "vlrewardbench", "model": "scripted",
                                                "model_args": "model_id=from-file", "data_dir": str(small_vlrb),
                                                "limit": 4, "seed": 3, "output": str(tmp_path / "runs")})
    assert main(["run", "--config", str(config), "--limit", "2", "--model-args", "model_id=from-cli",
                 "--progress", "none"]) == 0
    results = json.loads((only_run_dir(tmp_path / "runs") / "results.json").read_text())
    assert results["tasks"]["vlrewardbench"]["counts"]["n"] == 2 and results["seed"] == 3
    assert results["model"]["model"] == "from-cli"


def test_unknown_config_key_names_the_file_and_key_and_the_valid_ones(tmp_path, capsys):
    config = write_yaml(tmp_path / "run.yaml", {"tasks": "vlrewardbench", "model": "scripted", "lmit": 3})
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"harness: error: {config}: unknown key 'lmit'; valid keys: tasks, model, model_args")
    assert "no_cache" in err and "judge_args" in err and "\n" not in err


@pytest.mark.parametrize("content, message", [
    ({"limit": -1}, "key 'limit': -1 is not valid for --limit"),
    ({"seed": "one"}, "key 'seed': 'one' is not valid for --seed"),
    ({"resume": "yes"}, "key 'resume' must be true or false"),
    ({"progress": "fancy"}, "key 'progress': 'fancy' is not one of auto, bar, log, none"),
    ({"model_args": ["a", "b"]}, "key 'model_args' must be a mapping of arguments or a k=v,k=v string"),
    ({"tasks": []}, "key 'tasks' must be a non-empty list"),
    ({"model_args": "x=1", "model-args": "x=2"}, "given twice"),
])
def test_bad_config_values_name_the_file_and_key(tmp_path, capsys, content, message):
    config = write_yaml(tmp_path / "run.yaml", {"tasks": "vlrewardbench", "model": "scripted", **content})
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and message in err


def test_tasks_and_model_are_required_from_one_place_or_the_other(tmp_path, capsys):
    config = write_yaml(tmp_path / "run.yaml", {"model": "scripted"})
    assert main(["run", "--config", str(config)]) == 2
    assert "`harness run` needs --tasks (on the command line or in the --config file)" in capsys.readouterr().err
    assert main(["run"]) == 2
    assert "needs --tasks and --model" in capsys.readouterr().err
    assert main(["inspect", "--tasks", "vlrewardbench"]) == 2
    assert "`harness inspect` needs --model (on the command line)" in capsys.readouterr().err
    assert main(["run", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "--config" in capsys.readouterr().err


def sample_value(action: argparse.Action) -> tuple[object, list[str]]:
    """A valid non-default value of a run flag: (as YAML, as command-line words)."""
    flag = action.option_strings[-1]
    if action.nargs == 0:
        return True, [flag]
    if action.choices:
        choice = list(action.choices)[-1]
        return choice, [flag, choice]
    if action.dest in ("model_args", "judge_args"):
        return {"name": "x", "n": 2}, [flag, "name=x,n=2"]
    if action.type is int:
        return 7, [flag, "7"]
    if action.type is float:
        return 2.5, [flag, "2.5"]
    if getattr(action.type, "__name__", "") == "limit_value":
        return 0.5, [flag, "0.5"]
    return f"value-of-{action.dest}", [flag, f"value-of-{action.dest}"]


def test_every_run_flag_can_come_from_the_file_with_the_same_meaning(tmp_path):
    """Each flag of `run` (new ones included) read from a file gives the namespace the flag itself gives."""
    parser = build_parser()
    run = subcommands(parser)["run"]
    content, words = {}, []
    for dest, action in file_options(run).items():
        content[dest], flag_words = sample_value(action)
        words += flag_words
    assert {"tasks", "model", "model_args", "limit", "seed", "output", "resume", "no_cache", "strict"} <= set(content)
    config = write_yaml(tmp_path / "run.yaml", content)
    from_flags = vars(build_parser().parse_args(["run", *words]))
    run.set_defaults(**read_run_config(config, run))
    from_file = vars(parser.parse_args(["run", "--config", str(config)]))
    for key in ("model_args", "judge_args"):  # a mapping in the file, a string on the command line
        assert from_file[key] == {"name": "x", "n": "2"} and from_flags[key] == "name=x,n=2"
        from_file[key] = from_flags[key]
    assert {**from_file, "config": None} == from_flags


def test_a_usage_error_exits_2_from_the_shell(tmp_path):
    config = write_yaml(tmp_path / "run.yaml", {"tasks": "paper-table3", "model": "scripted", "bogus": 1})
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--config", str(config)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"harness: error: {config}: unknown key 'bogus'; valid keys: " + ", ".join(file_options(
            subcommands(build_parser())["run"]))]


# ---- README drift -----------------------------------------------------------------------------------------

def readme_summaries() -> dict[str, str]:
    """subcommand -> its summary text in the README's command block (continuation lines joined, comments cut)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Command line\n", 1)[1]
    block = section.split("```", 2)[1]
    entries: list[str] = []
    for line in block.splitlines()[1:]:
        code = re.sub(r"\s+#.*$", "", line)
        if code.startswith("python -m harness "):
            entries.append(code)
        elif code.startswith(" ") and entries:
            entries[-1] += " " + code.strip()
    out: dict[str, str] = {}
    for entry in entries:
        for command in entry.split("python -m harness ")[1:]:
            name, _, rest = command.strip().partition(" ")
            out[name] = (out.get(name, "") + " " + rest).strip()
    return out


def long_options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"}


def test_readme_lists_every_option_of_every_subcommand():
    summaries = readme_summaries()
    for name, parser in subcommands(build_parser()).items():
        assert name in summaries, f"README's command block has no `python -m harness {name}` line"
        shown = set(re.findall(r"--[a-z][a-z0-9-]*", summaries[name]))
        missing = long_options(parser) - shown
        assert not missing, f"README's `{name}` summary lacks {sorted(missing)}"
        stale = shown - long_options(parser)
        assert not stale, f"README's `{name}` summary lists options `{name}` does not have: {sorted(stale)}"


def test_readme_summary_parser_reads_continuation_lines():
    summaries = readme_summaries()
    assert "--cache-path" in summaries["run"] and "--config" in summaries["run"]  # on continuation lines
    assert summaries["reward-data-stats"].startswith("DIR") and "--overwrite" in summaries["build-reward-data"]
