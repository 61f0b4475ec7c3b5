"""`harness compare`: the paired regression gate, on runs built from the published GenAI-Bench judge replies
(each judge stands for a checkpoint) and on VL-RewardBench runs of scripted judges (for the bootstrap-only
macro accuracy)."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest

from harness import cli
from harness.runner import RunOptions, run
from reports.compare import GateOptions, compare_runs, mcnemar_exact
from reports.runs import load_run
from reward.replay import ReplayAdapter
from reward.scripted import ScriptedAdapter

from .conftest import SHARED, read_jsonl

FIXTURES = SHARED / "fixtures" / "genai-bench"
RESPONSES = FIXTURES / "responses"
TASK = "genai_bench_image"
N_IMAGE = 1735

pytestmark = pytest.mark.skipif(not FIXTURES.exists(), reason="../shared/fixtures/genai-bench missing")


# ---- building runs ----------------------------------------------------------------------------------------

def replay_run(output: Path, replies: Path, judge: str, task: str = TASK, protocol: str = "genai-arena",
               limit: int | None = None, seed: int = 0) -> Path:
    outcome = run(RunOptions(tasks=[task], model="replay", protocol=protocol, data_dir=FIXTURES / "test_v1",
                             split="test_v1", output=output, limit=limit, seed=seed, bootstrap_resamples=10,
                             use_cache=False, progress=False),
                  adapter=ReplayAdapter(str(replies), name=judge))
    return outcome.dir


def records(run_dir: Path, task: str = TASK) -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl(run_dir / f"{task}.samples.jsonl")}


def wrong_vote(vote_type: str) -> str:
    """A genai-arena verdict that is wrong for this human vote."""
    return "[[B>A]]" if vote_type == "leftvote" else "[[A>B]]"


def degraded_replies(path: Path, base_run: Path, k: int, drop: int = 0) -> Path:
    """gpt4o's replies with its first `k` correct verdicts made wrong, and its last `drop` replies removed
    (those samples become errors in the run)."""
    recs = records(base_run)
    flip = {sid: wrong_vote(r["outcome"]["vote_type"]) for sid, r in recs.items() if r["outcome"].get("correct")}
    flip = dict(list(flip.items())[:k])
    rows = read_jsonl(RESPONSES / "image_generation__gpt4o.jsonl")
    if drop:
        rows = rows[:-drop]
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            if str(row["idx"]) in flip:
                row = {**row, "response": f"After comparing both images: {flip[str(row['idx'])]}"}
            f.write(json.dumps(row) + "\n")
    return path


def vlrb_judge(wrong_every: int):
    """A scripted VL-RewardBench judge that names the gold answer except on ids whose hash is 0 mod
    `wrong_every` (0: never wrong)."""

    def reply(prepared) -> str:
        gold = prepared.request.meta["gold"]
        digest = int(hashlib.sha256(prepared.request.sample_id.encode()).hexdigest(), 16)
        wrong = wrong_every and digest % wrong_every == 0
        return f"Overall Judgment: Answer {3 - gold if wrong else gold} is better."

    return reply


@pytest.fixture(scope="module")
def runs(tmp_path_factory, vlrb_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare-runs")
    gpt4o = replay_run(root / "gpt4o", RESPONSES / "image_generation__gpt4o.jsonl", "gpt4o")
    out = {"gpt4o": gpt4o,
           "llava": replay_run(root / "llava", RESPONSES / "image_generation__llava.jsonl", "llava"),
           "gpt4o_limit": replay_run(root / "limit", RESPONSES / "image_generation__gpt4o.jsonl", "gpt4o", limit=100),
           "gpt4o_strict": replay_run(root / "strict", RESPONSES / "image_generation__gpt4o.jsonl", "gpt4o",
                                      protocol="strict"),
           "gpt4o_video": replay_run(root / "video", RESPONSES / "video_generation__gpt4o.jsonl", "gpt4o",
                                     task="genai_bench_video")}
    for name, k, drop in (("minus3", 3, 0), ("minus10", 10, 0), ("missing5", 0, 5)):
        replies = degraded_replies(root / f"{name}.jsonl", gpt4o, k, drop)
        out[name] = replay_run(root / name, replies, f"gpt4o-{name}")
    for name, every in (("vlrb_right", 0), ("vlrb_worse", 12)):
        outcome = run(RunOptions(tasks=["vlrewardbench"], model="scripted", data_dir=vlrb_dir, output=root / name,
                                 bootstrap_resamples=10, use_cache=False, progress=False),
                      adapter=ScriptedAdapter(fn=vlrb_judge(every), model_id=name, needs_media=False))
        out[name] = outcome.dir
    return out


def compare(capsys, baseline: Path, candidate: Path, *extra: str) -> tuple[int, str, str]:
    code = cli.main(["compare", str(baseline), str(candidate), "--resamples", "500", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def compare_json(capsys, tmp_path: Path, baseline: Path, candidate: Path, *extra: str) -> tuple[int, dict, str]:
    path = tmp_path / "gate.json"
    code, out, err = compare(capsys, baseline, candidate, "--json", str(path), *extra)
    assert code in (0, 1), err
    return code, json.loads(path.read_text()), out


def table(markdown: str) -> list[dict[str, str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in row.strip("|").split("|")))) for row in rows[2:]]


def direct_discordance(base: Path, cand: Path) -> tuple[int, int]:
    """(b, c) counted straight from the two samples files: items scored in both runs."""
    b_recs, c_recs = records(base), records(cand)
    b = c = 0
    for sid, rb in b_recs.items():
        rc = c_recs[sid]
        if rb["status"] == "error" or rc["status"] == "error":
            continue
        right_b, right_c = bool(rb["outcome"]["correct"]), bool(rc["outcome"]["correct"])
        b += right_b and not right_c
        c += right_c and not right_b
    return b, c


# ---- the exact McNemar test --------------------------------------------------------------------------------

def test_mcnemar_exact_on_hand_cases():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(10, 0) == mcnemar_exact(0, 10) == 2 * 0.5 ** 10
    # b=3, c=7: 2·(C(10,0)+C(10,1)+C(10,2)+C(10,3))/2^10 = 2·176/1024
    assert mcnemar_exact(3, 7) == mcnemar_exact(7, 3) == 352 / 1024
    assert mcnemar_exact(5, 5) == 1.0  # the doubled tail exceeds 1
    assert mcnemar_exact(1, 0) == 1.0


def test_mcnemar_exact_matches_a_log_space_sum_for_many_discordant_items():
    b, c = 395, 246
    n = b + c
    logs = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2) for k in range(c + 1)]
    top = max(logs)
    expected = 2 * math.exp(top) * sum(math.exp(x - top) for x in logs)
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9)
    assert 0 < mcnemar_exact(5000, 3000) < 1e-100  # exact integers: no underflow to 0 or overflow


# ---- the gate --------------------------------------------------------------------------------------------

def test_a_large_significant_drop_fails(runs, capsys, tmp_path):
    code, report, markdown = compare_json(capsys, tmp_path, runs["gpt4o"], runs["llava"])
    assert code == 1
    acc = report["tasks"][TASK]["metrics"]["accuracy"]
    assert round(acc["baseline"], 2) == 45.59 and round(acc["candidate"], 2) == 37.00
    b, c = direct_discordance(runs["gpt4o"], runs["llava"])
    assert (acc["b"], acc["c"]) == (b, c) and b > c
    assert acc["delta"] == pytest.approx(100 * (c - b) / N_IMAGE)
    assert acc["test"] == "mcnemar" and acc["p_value"] == mcnemar_exact(b, c) < 0.05
    assert acc["ci"][0] < acc["delta"] < acc["ci"][1] < 0
    assert acc["failed"] and acc["verdict"] == "FAIL" and report["passed"] is False
    assert report["tasks"][TASK]["n_common"] == N_IMAGE and report["tasks"][TASK]["n_dropped"] == 0
    assert markdown.strip().splitlines()[-1].startswith("**FAIL**")


def test_the_reverse_comparison_is_an_improvement_and_passes(runs, capsys):
    code, out, _ = compare(capsys, runs["llava"], runs["gpt4o"], "--max-drop", "0")
    assert code == 0
    assert table(out)[0]["verdict"] == "ok" and out.strip().splitlines()[-1].startswith("**PASS**")


def test_a_run_compared_with_itself_passes(runs, capsys, tmp_path):
    code, report, _ = compare_json(capsys, tmp_path, runs["gpt4o"], runs["gpt4o"], "--max-drop", "0")
    assert code == 0 and report["passed"] is True
    acc = report["tasks"][TASK]["metrics"]["accuracy"]
    assert acc["delta"] == 0 and acc["ci"] == [0, 0]
    assert acc["p_value"] == 1 and (acc["b"], acc["c"]) == (0, 0) and acc["verdict"] == "ok"


def test_a_tiny_drop_is_a_drop_but_not_significant(runs, capsys, tmp_path):
    code, report, _ = compare_json(capsys, tmp_path, runs["gpt4o"], runs["minus3"], "--max-drop", "0")
    acc = report["tasks"][TASK]["metrics"]["accuracy"]
    assert (acc["b"], acc["c"]) == (3, 0) == direct_discordance(runs["gpt4o"], runs["minus3"])
    assert acc["delta"] == pytest.approx(-300 / N_IMAGE)  # -0.17 points
    assert acc["p_value"] == 0.25
    assert code == 0 and acc["verdict"] == "drop" and not acc["failed"]


def test_a_ten_item_drop_fails_exactly_when_the_p_value_rule_says(runs, capsys, tmp_path):
    code, report, _ = compare_json(capsys, tmp_path, runs["gpt4o"], runs["minus10"], "--max-drop", "0")
    acc = report["tasks"][TASK]["metrics"]["accuracy"]
    assert (acc["b"], acc["c"]) == (10, 0)
    assert acc["p_value"] == mcnemar_exact(10, 0) == 2 * 0.5 ** 10
    assert code == (1 if acc["p_value"] < 0.05 and -acc["delta"] > 0 else 0) == 1  # 10 vs 0 discordant
    # The same drop (0.58 points) within the default allowance of 1 point, or above a stricter alpha, passes.
    assert compare(capsys, runs["gpt4o"], runs["minus10"])[0] == 0
    assert compare(capsys, runs["gpt4o"], runs["minus10"], "--max-drop", "0", "--alpha", "0.001")[0] == 0


def test_samples_scored_in_only_one_run_leave_the_pairing(runs, capsys, tmp_path):
    _, report, markdown = compare_json(capsys, tmp_path, runs["gpt4o"], runs["missing5"])
    entry = report["tasks"][TASK]
    assert entry["n_common"] == N_IMAGE - 5 and entry["n_dropped"] == 5
    acc = entry["metrics"]["accuracy"]
    assert (acc["b"], acc["c"]) == direct_discordance(runs["gpt4o"], runs["missing5"])
    assert f"{N_IMAGE - 5} paired samples, 5 dropped" in markdown


def test_runs_with_different_seeds_compare_with_a_note(runs, capsys, tmp_path):
    seeded = replay_run(tmp_path / "seed1", RESPONSES / "image_generation__gpt4o.jsonl", "gpt4o", seed=1)
    code, report, markdown = compare_json(capsys, tmp_path, runs["gpt4o"], seeded)
    assert code == 0 and report["tasks"][TASK]["metrics"]["accuracy"]["delta"] == 0
    assert len(report["notes"]) == 1 and "different seeds (0 vs 1)" in report["notes"][0]
    assert f"- note: {report['notes'][0]}" in markdown


def test_the_paired_bootstrap_is_seeded(runs):
    base, cand = load_run(runs["gpt4o"]), load_run(runs["llava"])

    def ci(seed: int) -> list[float]:
        result = compare_runs(base, cand, GateOptions(resamples=300, seed=seed))
        return list(result.tasks[0].metrics[0].ci)

    assert ci(7) == ci(7)
    assert ci(7) != ci(8)


def test_bootstrap_gates_metrics_that_are_not_accuracies(runs, capsys, tmp_path):
    code, report, _ = compare_json(capsys, tmp_path, runs["vlrb_right"], runs["vlrb_worse"],
                                   "--metrics", "macro_accuracy")
    metrics = report["tasks"]["vlrewardbench"]["metrics"]
    macro = metrics["macro_accuracy"]
    assert macro["test"] == "bootstrap" and macro["p_value"] is None and macro["b"] is None
    assert macro["gated"] and macro["ci"][1] < 0 and -macro["delta"] > 1 and macro["failed"]
    overall = metrics["overall_accuracy"]
    assert overall["test"] == "mcnemar" and not overall["gated"] and not overall["failed"]
    assert overall["verdict"] == "drop" and overall["c"] == 0
    assert code == 1
    for m in metrics.values():  # the rule, metric by metric
        significant = m["p_value"] < 0.05 if m["test"] == "mcnemar" else m["ci"][1] < 0
        assert m["failed"] == (m["gated"] and -m["delta"] > 1 and significant)
    # Task-qualified names gate one task's metric.
    assert compare(capsys, runs["vlrb_right"], runs["vlrb_worse"], "--metrics", "vlrewardbench:macro_accuracy")[0] == 1


def test_json_agrees_with_the_markdown(runs, capsys, tmp_path):
    for base, cand in (("gpt4o", "llava"), ("vlrb_right", "vlrb_worse"), ("gpt4o", "minus3")):
        code, report, markdown = compare_json(capsys, tmp_path, runs[base], runs[cand])
        assert report["baseline"] == runs[base].name and report["candidate"] == runs[cand].name
        assert f"`{runs[cand].name}` vs baseline `{runs[base].name}`" in markdown
        rows = table(markdown)
        flat = [(task, name, m) for task, entry in report["tasks"].items() for name, m in entry["metrics"].items()]
        assert len(rows) == len(flat)
        for row, (task, name, m) in zip(rows, flat):
            assert (row["task"], row["metric"]) == (task, name)
            assert row["baseline"] == f"{m['baseline']:.2f}" and row["candidate"] == f"{m['candidate']:.2f}"
            assert row["Δ (points)"] == f"{m['delta']:+.2f}"
            assert row["95% CI of Δ"] == f"[{m['ci'][0]:+.2f}, {m['ci'][1]:+.2f}]"
            assert row["gated"] == ("yes" if m["gated"] else "no") and row["verdict"] == m["verdict"]
            if m["test"] == "mcnemar":
                assert row["test"] == f"McNemar (b={m['b']}, c={m['c']})" and row["p"] == f"{m['p_value']:.3g}"
            else:
                assert row["test"] == row["p"] == "bootstrap"
        assert markdown.strip().splitlines()[-1].startswith("**PASS**" if report["passed"] else "**FAIL**")
        assert code == (0 if report["passed"] else 1)


# ---- runs that cannot be compared (exit 2) ---------------------------------------------------------------

def test_a_limited_run_against_the_full_run_exits_2(runs, capsys):
    code, out, err = compare(capsys, runs["gpt4o"], runs["gpt4o_limit"])
    assert code == 2 and out == ""
    assert f"{TASK}: the sample sets differ: {N_IMAGE - 100} id(s) only in the baseline (e.g. '100', '101', '102'), " \
           f"0 only in the candidate" in err


def test_different_task_sets_exit_2(runs, capsys):
    code, _, err = compare(capsys, runs["gpt4o"], runs["gpt4o_video"])
    assert code == 2
    assert "task(s) only in the baseline: genai_bench_image" in err
    assert "task(s) only in the candidate: genai_bench_video" in err


def test_different_protocols_exit_2(runs, capsys):
    code, _, err = compare(capsys, runs["gpt4o"], runs["gpt4o_strict"])
    assert code == 2
    assert f"{TASK}: protocol differs (baseline genai-arena, candidate strict)" in err


def test_different_data_exits_2(runs, capsys, tmp_path):
    other = tmp_path / "other-data"
    shutil.copytree(runs["gpt4o"], other)
    results = json.loads((other / "results.json").read_text())
    results["tasks"][TASK]["dataset"]["data_sha256"] = "0" * 64
    results["tasks"][TASK]["split"] = "test"
    (other / "results.json").write_text(json.dumps(results))
    code, _, err = compare(capsys, runs["gpt4o"], other)
    assert code == 2
    assert f"{TASK}: dataset.data_sha256 differs" in err and f"{TASK}: split differs" in err
    assert len([line for line in err.splitlines() if line.startswith("  - ")]) == 2  # one line per problem


def test_a_run_without_results_json_exits_2_naming_it(runs, capsys, tmp_path):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(runs["gpt4o"], unfinished)
    (unfinished / "results.json").unlink()
    code, out, err = compare(capsys, runs["gpt4o"], unfinished)
    assert code == 2 and out == ""
    assert f"{unfinished}: no results.json" in err and "--resume" in err
    code, _, err = compare(capsys, tmp_path / "absent", unfinished)
    assert code == 2 and f"{tmp_path / 'absent'}: no such run directory" in err and f"{unfinished}:" in err


def test_bad_options_exit_2(runs, capsys):
    assert compare(capsys, runs["gpt4o"], runs["llava"], "--max-drop", "-1")[0] == 2
    assert compare(capsys, runs["gpt4o"], runs["llava"], "--alpha", "1.5")[0] == 2
    code, _, err = compare(capsys, runs["gpt4o"], runs["llava"], "--metrics", "acuracy")
    assert code == 2 and "'acuracy'" in err and "accuracy" in err
