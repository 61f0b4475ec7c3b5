"""lmms-eval integration: plugin tasks compute our metrics, lmms-eval results become harness runs, the
wrapper refuses an lmms-eval that "succeeds" without a results file.

The default tests need no lmms-eval: they call the generated `utils.py` hooks the way lmms-eval does (the
file imported by path, functions looked up by name) and convert a hand-written results file in the format
of lmms-eval 0.7.3 (tests/fixtures_lmms/). The `lmms` test runs the real lmms-eval from its own venv
($HARNESS_LMMS_PYTHON) against our local OpenAI-compatible test server.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from harness.cli import main as cli
from harness.lmms import bridge, names
from harness.lmms.include_path import SHIPPED, include_dir, render_utils, render_yaml, hub_dataset_info, main
from harness.lmms.results import NULL_DOC_HASH, LmmsOutput, convert, find_results, read_output, sample_score
from harness.lmms.run import LmmsEvalFailed, run_lmms_eval
from harness.runner import RunOptions, run
from reports.compare import GateOptions, compare_runs
from reports.runs import load_run
from tasks.vlrewardbench import seeded_swap

from .conftest import make_data_dir, only_run_dir, row

FIXTURES = Path(__file__).parent / "fixtures_lmms"
ROWS = [row("wildvision-battle-1", "wildvision-battle"), row("RLAIF-V-1", "rlaif-v"),
        row("RLHF-V-2", "rlhf-v", ranking=(1, 0)), row("mathverse-3", "reasoning_tasks"),
        row("mmmu-4", "reasoning_tasks"), row("hallucination_pair-5", "povid"),
        row("vlfeedback-6", "vlfeedback", ranking=(1, 0)), row("RLAIF-V-7", "rlaif-v")]


def load_utils(folder: Path):
    """The task's utils.py as lmms-eval loads it: by file path, under the module name `utils`."""
    spec = importlib.util.spec_from_file_location("utils", folder / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hand_replies(docs: list[dict]) -> dict[str, str]:
    """Per sample id: right, wrong, unparseable and both-named replies in turn."""
    replies = {}
    for i, doc in enumerate(docs):
        gold = json.loads(doc["ur_request"])["meta"]["gold"]
        replies[doc["ur_id"]] = [f"Overall Judgment: Answer {gold} is better.",
                                 f"**Answer {3 - gold}** is clearly better",
                                 "Both answers have merits.",
                                 "Answer 1 is better. No wait, Answer 2 is better."][i % 4]
    return replies


def plugin_metrics(utils, docs: list[dict], replies: dict[str, str], metrics) -> dict[str, float]:
    records = {m: [] for m in metrics}
    for doc in docs:
        for metric, record in utils.process_results(doc, [replies[doc["ur_id"]]]).items():
            records[metric].append(record)
    return {m: getattr(utils, bridge.metric_function_name(m))(records[m]) for m in metrics}


# ---- plugin tasks compute our metrics ------------------------------------------------------------------

def test_vlrewardbench_plugin_equals_harness_run(tmp_path):
    """Same replies -> the plugin's process_results + aggregations give exactly `harness run`'s metrics."""
    data = make_data_dir(tmp_path / "vlrb", ROWS)
    folder = include_dir(0, {"vlrewardbench": data}, tmp_path / "inc") / "ur_vlrewardbench"
    docs = [json.loads(line) for line in (folder / "docs.jsonl").read_text().splitlines()]
    spec = bridge.specs()["ur_vlrewardbench"]
    replies = hand_replies(docs)
    got = plugin_metrics(load_utils(folder), docs, replies, spec.metrics)

    replay = tmp_path / "replies.jsonl"
    replay.write_text("".join(json.dumps({"id": k, "response": v}) + "\n" for k, v in replies.items()))
    outcome = run(RunOptions(tasks=["vlrewardbench"], model="replay", model_args={"path": str(replay)},
                             data_dir=data, output=tmp_path / "runs", use_cache=False, bootstrap_resamples=10))
    want = outcome.results["tasks"]["vlrewardbench"]["metrics"]
    assert set(got) == set(want)
    for metric, value in got.items():
        assert value == pytest.approx(want[metric], abs=0, rel=0), metric
    # By hand: 8 samples, replies cycle right/wrong/invalid/invalid -> 2 right of 8 (invalid counts wrong).
    assert got["overall_accuracy"] == 25.0
    assert outcome.results["tasks"]["vlrewardbench"]["counts"]["n_invalid"] == 4


def test_plugin_request_is_our_request(tmp_path):
    """The doc carries our strict request: seeded swap from (seed, id), our prompt text, the image path."""
    data = make_data_dir(tmp_path / "vlrb", ROWS)
    folder = include_dir(3, {"ur_vlrewardbench": data}, tmp_path / "inc") / "ur_vlrewardbench"
    docs = [json.loads(line) for line in (folder / "docs.jsonl").read_text().splitlines()]
    utils = load_utils(folder)
    for doc in docs:
        request = json.loads(doc["ur_request"])
        assert request["meta"]["swapped"] == seeded_swap(3, doc["ur_id"])
        sample = bridge.sample_from_doc(doc)
        responses = sample.data["responses"][::-1] if request["meta"]["swapped"] else sample.data["responses"]
        text = utils.doc_to_text(doc)
        assert text.index(responses[0]) < text.index(responses[1])
        (media,) = [p for p in request["parts"] if "media" in p]
        assert Path(media["path"]).is_file() and request["parts"][0] == media  # image first, as our prompt
        assert [im.size for im in utils.doc_to_visual(doc)] == [(8, 8)]
    assert "ur_seed: 3" in (folder / "ur_vlrewardbench.yaml").read_text()


def test_hub_rows_become_our_samples():
    """process_docs on hub-shaped rows: our ids (repeats get #hash), categories, bad rows dropped."""
    datasets = pytest.importorskip("datasets")
    image = Image.new("RGB", (6, 4), (200, 10, 10))
    rows = [{"id": "mmmu-9", "query": "q1", "response": ["a", "b"], "human_ranking": [0, 1], "image": image},
            {"id": "mmmu-9", "query": "q2", "response": ["c", "d"], "human_ranking": [1, 0], "image": image},
            {"id": "hallucination_pair-3", "query": "q3", "response": ["e"], "human_ranking": [0, 1], "image": image},
            {"id": "hallucination_pair-4", "query": "q4", "response": ["g", "h"], "human_ranking": [0, 1],
             "image": image}]
    dataset = datasets.Dataset.from_list(rows)
    utils = load_utils(SHIPPED / "ur_vlrewardbench")
    docs = utils.process_docs(dataset)
    assert len(docs) == 3  # the row with one response is dropped, as a harness run records it as an error
    ids = docs["ur_id"]
    assert ids[0].startswith("mmmu-9#") and ids[1].startswith("mmmu-9#") and ids[0] != ids[1]
    categories = [json.loads(d)["category"] for d in docs["ur_data"]]
    assert categories == ["reasoning", "reasoning", "hallucination"]  # POVID -> hallucination (fixed rule)
    doc = docs[2]
    assert [p["field"] for p in json.loads(doc["ur_request"])["parts"] if "media" in p] == ["image"]
    assert utils.doc_to_visual(doc)[0].size == (6, 4)


def test_genai_image_plugin_resizes_and_scores(tmp_path):
    """GenAI-Bench image: visuals in prompt order at 512x512; tau/diff from our three-way scoring."""
    datasets = pytest.importorskip("datasets")
    red, blue = Image.new("RGB", (10, 10), "red"), Image.new("RGB", (20, 10), "blue")
    votes = ["leftvote", "rightvote", "tievote", "bothbad_vote"]
    dataset = datasets.Dataset.from_list([{"prompt": f"p{i}", "left_image": red, "right_image": blue,
                                           "vote_type": v} for i, v in enumerate(votes)])
    utils = load_utils(SHIPPED / "ur_genai_bench_image")
    docs = list(utils.process_docs(dataset))
    records = []
    for doc in docs:
        swapped = json.loads(doc["ur_request"])["meta"]["swapped"]
        assert swapped == seeded_swap(0, doc["ur_id"])
        first, second = utils.doc_to_visual(doc)
        assert first.size == second.size == (512, 512)
        assert first.getpixel((0, 0)) == ((0, 0, 255) if swapped else (255, 0, 0))
        records.append(utils.process_results(doc, ["Both images are equally good."])["tau"])
    assert utils.agg_tau(records) == 50.0  # the two human ties are right, the two preferences wrong
    assert utils.agg_diff(records) == 0.0


def test_shipped_tasks_are_generated_output():
    """The shipped YAML/utils are exactly what the generator writes for the defaults, and every
    `!function` they name exists in utils.py."""
    for spec in bridge.specs().values():
        folder = SHIPPED / spec.name
        assert (folder / f"{spec.name}.yaml").read_text() == render_yaml(spec, 0, None, hub_dataset_info(spec))
        assert (folder / "utils.py").read_text() == render_utils(spec, 0)
        loader = type("Loader", (yaml.SafeLoader,), {})
        loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
        config = yaml.load((folder / f"{spec.name}.yaml").read_text(), Loader=loader)
        utils = load_utils(folder)
        names = [config[h] for h in ("process_docs", "doc_to_visual", "doc_to_text", "process_results")]
        names += [m["aggregation"] for m in config["metric_list"]]
        assert all(callable(getattr(utils, n.split(".", 1)[1])) for n in names)
        assert config["task"].startswith("ur_") and config["generation_kwargs"]["until"] == []


def test_include_path_cli_prints_shipped(capsys):
    assert main([]) == 0
    assert capsys.readouterr().out.strip() == str(SHIPPED)
    assert main(["--data-dir", "nosuchtask=/x"]) == 2


# ---- lmms-eval results -> a harness run -------------------------------------------------------------------

def test_convert_recorded_results(tmp_path):
    assert find_results(FIXTURES / "paper_tables").name == "20261201_090000_results.json"
    output = read_output(FIXTURES / "20261126_101500_results.json")
    run_dir = convert(output, tmp_path / "runs", model="ur_hf", model_args={"pretrained": "/models/dpo-7b"},
                      env={"MODEL_VERSION": "gpt-4-0613", "OPENAI_API_KEY": "sk-secret", "HOME": "/root"}, limit=4)
    loaded = load_run(run_dir)
    assert loaded.model == "/models/dpo-7b"
    assert set(loaded.tasks) == {"llava_bench_wild", "videomme"}  # our names (harness.lmms.names)
    llava = loaded.tasks["llava_bench_wild"]
    assert llava["details"]["lmms_metrics"] == {"gpt_eval_llava_all": 84.0, "gpt_eval_llava_conv": 87.5,
                                                "gpt_eval_llava_detail": 66.7, "gpt_eval_llava_complex": 100.0}
    assert llava["metrics"] == {"relative_score": pytest.approx(100 * 7.0 / 8.333)}
    assert llava["protocol"] == "lmms-eval" and llava["task_version"] == "0.0"
    assert llava["judge"]["model"] == "gpt-4-0613" and llava["judge"]["matches_pinned"]
    assert llava["counts"] == {"n": 3, "n_invalid": 0, "n_error": 0}
    video = loaded.tasks["videomme"]
    assert "judge" not in video and video["details"]["lmms_metrics"] == {"videomme_perception_score": 75.0}
    assert video["metrics"] == {"short": 75.0, "medium": None, "long": None, "avg": 75.0}  # all 4 docs are short
    records = loaded.samples("videomme")
    assert [r.outcome["scores"]["videomme_perception_score"] for r in records] == [1.0, 0.0, 1.0, 1.0]
    assert [r.sample_id for r in records] == ["doc-0", "doc-1", "doc-2", "doc-3"]
    assert {r.outcome["doc_hash"] for r in records} == {NULL_DOC_HASH}  # what 0.7.3 logs for every sample
    lmms = loaded.results["lmms"]
    assert lmms["version"] == "0.7.3" and lmms["judge_env"] == {"MODEL_VERSION": "gpt-4-0613", "OPENAI_API_KEY": "***"}
    assert "sk-secret" not in (run_dir / "results.json").read_text() + (run_dir / "run.json").read_text()


def test_sample_scores():
    assert sample_score(True) == 1.0 and sample_score(float("nan")) is None
    assert sample_score({"score": 0.5}) == 0.5
    assert sample_score({"pred_answer": "B", "answer": "B"}) == 1.0
    assert sample_score({"scores": [8, 6]}) == 6.0 and sample_score({"scores": [-999, -999]}) is None
    assert sample_score({"question_id": 3}) is None


# ---- lmms-eval tasks under the names paper Tables 6 and 7 read (harness.lmms.names) ----------------------

PAPER_FIXTURE = FIXTURES / "paper_tables" / "20261201_090000_results.json"
VIDEO_MODEL = "lmms-lab/LLaVA-Video-7B-Qwen2"  # Table 6's LLaVA-Video-7B row; no Table 7 row matches it


def _paper_run(tmp_path: Path) -> Path:
    return convert(read_output(PAPER_FIXTURE), tmp_path / "runs", model="llava_vid",
                   model_args={"pretrained": VIDEO_MODEL}, env={"MODEL_VERSION": "gpt-4-0613"})


def test_paper_table_tasks_get_our_names_and_metrics(tmp_path):
    """Hand-counted from the fixture's samples: the numbers the paper tables print, under their names."""
    loaded = load_run(_paper_run(tmp_path))
    assert set(loaded.tasks) == {"videomme", "mlvu", "longvideobench", "llava_bench_wild"}
    video = loaded.tasks["videomme"]
    # short 3 of 4 right, medium 2 of 3, long 1 of 3; 6 of 10 overall = lmms-eval's perception score
    assert video["metrics"] == {"short": 75.0, "medium": pytest.approx(200 / 3), "long": pytest.approx(100 / 3),
                                "avg": 60.0}
    assert video["details"]["breakdown"]["by_duration"] == {"short": {"n": 4, "correct": 3},
                                                            "medium": {"n": 3, "correct": 2},
                                                            "long": {"n": 3, "correct": 1}}
    # M-Avg = mean of the 7 task types' accuracies (count 1/2, needle 0/1, anomaly_reco 0/1, the rest 1/1),
    # not the plain 5/8 = 62.5
    assert loaded.tasks["mlvu"]["metrics"] == {"accuracy": pytest.approx((50 + 0 + 0 + 4 * 100) / 7)}
    assert loaded.tasks["mlvu"]["details"]["breakdown"]["by_task_type"]["count"] == {"n": 2, "accuracy": 50.0}
    lvb = loaded.tasks["longvideobench"]
    assert lvb["metrics"] == {"accuracy": pytest.approx(60.0)} and lvb["details"]["lmms_metrics"] == {"lvb_acc": 0.6}
    assert lvb["details"]["derivation"] == {"accuracy": "100 × lvb_acc"}
    llava = loaded.tasks["llava_bench_wild"]
    # reference 8, 9, 10, 8, -1, 9 and model 7, 6, 8, 7, -1, 10: the unparsed reply counts as -1 in both means,
    # each mean is rounded to 3 decimals before the ratio; lmms-eval printed the same ratio rounded, 86.0
    assert llava["metrics"] == {"relative_score": pytest.approx(100 * 6.167 / 7.167)}
    assert llava["metrics"]["relative_score"] != pytest.approx(100 * 37 / 43, abs=1e-4)
    assert llava["details"]["lmms_metrics"]["gpt_eval_llava_all"] == 86.0
    assert llava["details"]["breakdown"] == {"n_judged": 6, "n_judge_failed": 1}
    assert llava["judge"]["model"] == "gpt-4-0613" and llava["judge"]["matches_pinned"]
    for ours, lmms_task, source in (("videomme", "videomme", "videomme_perception_score"),
                                    ("mlvu", "mlvu_dev", "mlvu_percetion_score"),
                                    ("longvideobench", "longvideobench_val_v", "lvb_acc"),
                                    ("llava_bench_wild", "llava_in_the_wild", "gpt_eval_llava_all")):
        entry = loaded.tasks[ours]
        assert entry["protocol"] == "lmms-eval" and entry["dataset"]["lmms_task"] == lmms_task
        assert entry["details"]["lmms_sources"] == [source] and entry["details"]["checks"] == []
        assert [r.sample_id for r in loaded.samples(ours)][:2] == ["doc-0", "doc-1"]
    assert loaded.results["lmms"]["task_names"] == {"mlvu_dev": "mlvu", "longvideobench_val_v": "longvideobench",
                                                    "llava_in_the_wild": "llava_bench_wild"}


def test_report_tables_6_and_7_read_converted_lmms_runs(tmp_path, capsys):
    """The converted run fills Table 6 beside the paper's LLaVA-Video-7B row; in Table 7 the same label
    matches no row and gets one of its own."""
    _paper_run(tmp_path)
    runs = str(tmp_path / "runs")
    capsys.readouterr()
    assert cli(["report", "--runs", runs, "--table", "6", "--format", "csv"]) == 0
    cells = {(r["row"], r["column"]): r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    expected = {"LongVideoBench Acc.": 60.0, "MLVU M-Avg.": 450 / 7, "Video-MME Short": 75.0,
                "Video-MME Medium": 200 / 3, "Video-MME Long": 100 / 3, "Video-MME Avg.": 60.0}
    for column, value in expected.items():
        cell = cells[("LLaVA-Video-7B", column)]
        assert (cell["model"], cell["status"]) == (VIDEO_MODEL, "ok") and float(cell["ours"]) == pytest.approx(value)
    assert cells[("LLaVA-Video-7B", "LongVideoBench Acc.")]["source"] == "longvideobench/lmms-eval/accuracy"
    assert cells[("LLaVA-Video-7B", "MSRVTT Acc.")]["status"] == "missing"
    assert cli(["report", "--runs", runs, "--table", "6"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| LLaVA-Video-7B |"))
    assert "| 60.0 | 58.1 | +1.9 | 64.3 | 70.9 | -6.6 | 75.0 | 76.1 | -1.1 |" in row
    assert cli(["report", "--runs", runs, "--table", "7", "--format", "csv"]) == 0
    mine = [r for r in csv.DictReader(io.StringIO(capsys.readouterr().out)) if r["model"] == VIDEO_MODEL]
    assert {r["row"] for r in mine} == {""}  # a row of its own, not beside OV-7B
    llava = next(r for r in mine if r["column"] == "LLaVABench")
    assert float(llava["ours"]) == pytest.approx(100 * 6.167 / 7.167) and llava["paper"] == ""


def test_relative_score_rounds_each_mean_and_counts_parse_failures():
    # [-999, -999]: another category's sample, left out; [-1, -1]: a judge reply that did not parse, counted
    pairs = [[8.0, 7.0], [9.0, 6.0], [-1, -1], [-999, -999]]
    assert names.relative_score(pairs) == pytest.approx(100 * 4.0 / 5.333)
    assert names.relative_score([[-999, -999]]) is None and names.relative_score([]) is None


def test_videomme_without_a_duration_or_samples_and_a_disagreement():
    samples = [{"doc_id": 0, "videomme_perception_score": {"duration": "long", "pred_answer": "A", "answer": "A"}},
               {"doc_id": 1, "videomme_perception_score": {"duration": "long", "pred_answer": "B", "answer": "C"}}]
    out = names.videomme({"videomme_perception_score": 75.0}, samples)
    assert out.metrics == {"short": None, "medium": None, "long": 50.0, "avg": 75.0}  # --limit: no short docs
    assert out.checks == ["videomme avg: the logged samples give 50, lmms-eval's aggregate is 75"]
    bare = names.videomme({"videomme_perception_score": 60.0}, [])
    assert bare.metrics == {"short": None, "medium": None, "long": None, "avg": 60.0} and not bare.checks


def test_mlvu_m_avg_counts_an_empty_task_type_as_zero():
    """As lmms-eval's mlvu_aggregate_results_dev: all seven dev types in the mean (only a --limit run
    leaves one empty), recorded as such."""
    samples = [{"mlvu_percetion_score": {"task_type": "count", "pred_answer": "A", "answer": "A"}}]
    out = names.mlvu({}, samples)  # no aggregate: computed from the samples
    assert out.metrics == {"accuracy": pytest.approx(100 / 7)}
    assert "from the logged samples" in out.derivation["accuracy"]
    assert out.details["empty_task_types"] == [t for t in names.MLVU_DEV_TYPES if t != "count"]


def _lmms_output(tmp_path: Path, tasks: dict[str, tuple[dict, list[dict]]]) -> LmmsOutput:
    """A minimal lmms-eval 0.7.3 output: per task its `results` entry and its logged samples."""
    results = {"results": {t: {"alias": t, **entry} for t, (entry, _) in tasks.items()},
               "configs": {t: {"task": t, "test_split": "test"} for t in tasks},
               "versions": {t: "Yaml" for t in tasks},
               "n-samples": {t: {"original": len(s), "effective": len(s)} for t, (_, s) in tasks.items()},
               "lmms_eval_version": "0.7.3"}
    return LmmsOutput(tmp_path / "x_results.json", results, {t: s for t, (_, s) in tasks.items()})


def _livebench_sample(doc_id: int, rating: float) -> dict:
    return {"doc_id": doc_id, "filtered_resps": "an answer", "gpt4_eval_score": {
        "rating": rating, "explanation": "...", "model_name": "gpt-4o", "subtask": "Basic Understanding",
        "id": doc_id}}


def test_wildvision_and_livebench_map_one_to_one_and_ambiguous_months_keep_their_names(tmp_path):
    verdict = {"judgement": "Better"}
    wildvision = ({"elo_scores,none": 54.9, "raw_scores,none": 0.1, "win_rates,none": 40.0},
                  [{"doc_id": 0, "filtered_resps": "a", "raw_scores": {"final_score": 1},
                    "judgements_better": verdict}])
    # ratings 8 and 6 count, -1 (a failed judge call) is left out as lmms-eval leaves it out: 100 × 0.7
    livebench = ({"gpt4_eval_score,none": 70.0},
                 [_livebench_sample(0, 8), _livebench_sample(1, 6), _livebench_sample(2, -1)])
    run = load_run(convert(_lmms_output(tmp_path, {"wildvision_0630": wildvision, "wildvision_0617": wildvision,
                                                   "live_bench_2406": livebench}),
                           tmp_path / "one", model="ur_hf", model_args={"pretrained": "ov-7b"}))
    assert set(run.tasks) == {"wildvision_bench", "wildvision_0617", "livebench"}
    assert run.tasks["wildvision_bench"]["metrics"] == {"score": 54.9}
    assert run.tasks["wildvision_bench"]["details"]["breakdown"] == {"verdicts": {"Better": 1}}
    assert run.tasks["wildvision_bench"]["judge"]["model"] == "gpt-4o"
    assert run.tasks["wildvision_0617"]["metrics"]["elo_scores"] == 54.9  # the 0617 set keeps lmms-eval's names
    live = run.tasks["livebench"]
    assert live["metrics"] == {"score": 70.0} and live["details"]["checks"] == []
    assert live["details"]["breakdown"] == {"n_rated": 2, "n_judge_failed": 1}
    assert live["dataset"]["lmms_task"] == "live_bench_2406"
    # two LiveBench months in one run: neither may stand for the paper's (unnamed) month
    both = load_run(convert(_lmms_output(tmp_path, {"live_bench_2406": livebench, "live_bench_2407": livebench}),
                            tmp_path / "two", model="ur_hf", model_args={"pretrained": "ov-7b"}))
    assert set(both.tasks) == {"live_bench_2406", "live_bench_2407"}
    assert both.tasks["live_bench_2406"]["metrics"] == {"gpt4_eval_score": 70.0}
    assert "live_bench_2407" in both.results["lmms"]["unmapped"]["live_bench_2406"]


def _plugin_output(tmp_path: Path, docs: list[dict], replies: dict[str, str], name: str) -> LmmsOutput:
    """An lmms-eval output for ur_vlrewardbench as lmms-eval would assemble it from the plugin's hooks."""
    folder = SHIPPED / "ur_vlrewardbench"
    utils = load_utils(folder)
    spec = bridge.specs()["ur_vlrewardbench"]
    samples, records = [], {m: [] for m in spec.metrics}
    for i, doc in enumerate(docs):
        values = utils.process_results(doc, [replies[doc["ur_id"]]])
        for m in spec.metrics:
            records[m].append(values[m])
        samples.append({"doc_id": i, "doc_hash": f"h{i}", "filtered_resps": replies[doc["ur_id"]], **values})
    metrics = {f"{m},none": utils.__dict__[bridge.metric_function_name(m)](records[m]) for m in spec.metrics}
    config = yaml.load((folder / "ur_vlrewardbench.yaml").read_text().replace("!function ", ""), Loader=yaml.SafeLoader)
    results = {"results": {"ur_vlrewardbench": {"alias": "ur_vlrewardbench", **metrics}},
               "configs": {"ur_vlrewardbench": config}, "versions": {"ur_vlrewardbench": "1"},
               "n-samples": {"ur_vlrewardbench": {"original": len(docs), "effective": len(docs)}},
               "lmms_eval_version": "0.7.3"}
    return LmmsOutput(tmp_path / f"{name}_results.json", results, {"ur_vlrewardbench": samples})


def test_converted_plugin_runs_compare_paired(tmp_path):
    """Two converted ur_vlrewardbench runs carry our records, so `compare` pairs them item by item."""
    data = make_data_dir(tmp_path / "vlrb", ROWS)
    docs = bridge.local_docs(bridge.specs()["ur_vlrewardbench"], data, 0)[0]
    base = hand_replies(docs)
    cand = {k: "Both answers have merits." for k in base}
    runs = [load_run(convert(_plugin_output(tmp_path, docs, replies, name), tmp_path / name, model="ur_openai",
                             model_args={"model": name}))
            for name, replies in (("base", base), ("cand", cand))]
    assert runs[0].tasks["ur_vlrewardbench"]["ci95"]["overall_accuracy"][0] <= 25.0
    comparison = compare_runs(runs[0], runs[1], GateOptions(max_drop=1.0, resamples=50))
    (task,) = comparison.tasks
    assert task.n_common == len(docs)
    overall = next(m for m in task.metrics if m.metric == "overall_accuracy")
    assert overall.test == "mcnemar" and overall.delta == -25.0 and not comparison.notes


# ---- the wrapper ------------------------------------------------------------------------------------------

def _fake_python(tmp_path: Path, body: str) -> Path:
    """A stand-in for lmms-eval's interpreter: a script that receives lmms-eval's command line."""
    script = tmp_path / "fake-lmms-python"
    script.write_text(f"#!{sys.executable}\nimport sys, shutil, pathlib\nargv = sys.argv[1:]\n"
                      f"out = pathlib.Path(argv[argv.index('--output_path') + 1])\n{body}\n")
    script.chmod(0o755)
    return script


def test_exit_zero_without_results_is_a_failure(tmp_path):
    fake = _fake_python(tmp_path, "print('Error during evaluation: boom'); sys.exit(0)")
    with pytest.raises(LmmsEvalFailed) as info:
        run_lmms_eval(["videomme"], "ur_hf", {"pretrained": "x"}, lmms_python=fake, output=tmp_path / "runs")
    message = str(info.value)
    assert "exited 0 but wrote no results file" in message and "Error during evaluation: boom" in message
    assert not load_run_dirs(tmp_path / "runs")


def test_wrapper_files_a_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MODEL_VERSION", "gpt-4-0613")
    body = (f"assert '--log_samples' in argv and argv[argv.index('--tasks') + 1] == 'llava_in_the_wild,videomme'\n"
            f"out.mkdir(parents=True)\n"
            f"[shutil.copy(p, out / p.name) for p in pathlib.Path({str(FIXTURES)!r}).iterdir() if p.is_file()]")
    outcome = run_lmms_eval(["llava_in_the_wild", "videomme"], "ur_hf", {"pretrained": "m", "api_key": "s3cret"},
                            lmms_python=_fake_python(tmp_path, body), output=tmp_path / "runs", limit=4)
    loaded = load_run(outcome.run_dir)
    assert outcome.results_file.is_file() and (outcome.run_dir / "lmms-eval" / "lmms-eval.log").is_file()
    assert loaded.results["lmms"]["results_file"].startswith("lmms-eval/")
    assert loaded.tasks["llava_bench_wild"]["judge"]["model"] == "gpt-4-0613"
    assert "s3cret" not in json.dumps(loaded.results)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [outcome.run_dir.name]  # no staging left


def load_run_dirs(path: Path) -> list[Path]:
    return [p for p in path.iterdir() if (p / "results.json").exists()] if path.exists() else []


# ---- the real lmms-eval (opt-in) ---------------------------------------------------------------------------

@pytest.mark.lmms
def test_real_lmms_eval_ur_vlrewardbench(tmp_path, monkeypatch):
    """lmms-eval 0.7 from its own venv judges ur_vlrewardbench with ur_openai against our test server; the
    converted run equals `harness run` on the same data and server, sample by sample."""
    python = os.environ.get("HARNESS_LMMS_PYTHON")
    if not python:
        pytest.skip("set HARNESS_LMMS_PYTHON to the python of a venv with lmms-eval (docs/lmms_eval.md)")
    from reward.testing.serve import start_server_process, stop_server_process

    from .conftest import VLRB_ANNOTATIONS

    rows = ([json.loads(line) for line in VLRB_ANNOTATIONS.read_text().splitlines()[:20]]
            if VLRB_ANNOTATIONS.exists() else ROWS)
    data = make_data_dir(tmp_path / "vlrb", rows)
    include = include_dir(0, {"vlrewardbench": data}, tmp_path / "inc")
    server, url = start_server_process()
    try:
        monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        outcome = run_lmms_eval(["ur_vlrewardbench"], "ur_openai", {"base_url": url, "concurrency": 4},
                                lmms_python=python, output=tmp_path / "lmms-runs", limit=8, include_path=include,
                                timeout=600)
        ours = run(RunOptions(tasks=["ur_vlrewardbench"], model="openai", model_args={"base_url": url},
                              data_dir=data, limit=8, output=tmp_path / "runs", bootstrap_resamples=10))
    finally:
        stop_server_process(server)
    # Every prompt ur_openai sent under lmms-eval is byte-identical to ours (same cache key: same text,
    # same image hashes, same generation settings), so the harness run is answered from the cache.
    assert (ours.adapter_calls, ours.cache_hits) == (0, 8)
    lmms = load_run(outcome.run_dir)
    task = lmms.tasks["ur_vlrewardbench"]
    assert task["counts"]["n"] == 8 and task["protocol"] == "strict"
    assert task["metrics"] == ours.results["tasks"]["ur_vlrewardbench"]["metrics"]
    harness_records = {r["id"]: r["outcome"] for r in map(json.loads, (only_run_dir(tmp_path / "runs") /
                                                                        "ur_vlrewardbench.samples.jsonl").open())}
    assert {r.sample_id: dict(r.outcome) for r in lmms.samples("ur_vlrewardbench")} == harness_records
    comparison = compare_runs(load_run(only_run_dir(tmp_path / "runs")), lmms, GateOptions(resamples=20))
    assert comparison.passed and comparison.tasks[0].n_common == 8 and not comparison.notes
    shutil.rmtree(tmp_path / "inc")
