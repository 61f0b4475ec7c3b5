"""End to end: every generation/video task on tiny synthetic media, judged by the tiny `hf` judge and by
scalar scorers, through `python -m harness run` as a user would call it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")

from harness.cli import main  # noqa: E402
from reward.testing.tiny_models import save_tiny  # noqa: E402

from .conftest import only_run_dir, read_jsonl, write_image  # noqa: E402
from .test_media import write_video as _write_video  # noqa: E402


def write_video(path: Path, n: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_video(path, n)

VOTES = ["leftvote", "rightvote", "tievote", "bothbad_vote"]


@pytest.fixture(scope="module")
def judge(tmp_path_factory) -> Path:
    return save_tiny("llava_onevision", tmp_path_factory.mktemp("judge") / "tiny")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    dirs = {}
    # GenAI-Bench image / video / edit, one <config>.jsonl each.
    image = root / "genai"
    rows = {"image_generation": [], "video_generation": [], "image_edition": []}
    for i, vote in enumerate(VOTES):
        write_image(image / f"img/{i}_l.png", 2 * i)
        write_image(image / f"img/{i}_r.png", 2 * i + 1)
        write_video(image / f"vid/{i}_l.mp4", 12)
        write_video(image / f"vid/{i}_r.mp4", 20)
        rows["image_generation"].append({"idx": i, "prompt": f"a red cube {i}", "vote_type": vote,
                                         "left_image": f"img/{i}_l.png", "right_image": f"img/{i}_r.png"})
        rows["video_generation"].append({"idx": i, "prompt": f"a ball bouncing {i}", "vote_type": vote,
                                         "left_video": f"vid/{i}_l.mp4", "right_video": f"vid/{i}_r.mp4"})
        rows["image_edition"].append({"idx": i, "source_prompt": "a cube", "target_prompt": "a red cube",
                                      "instruct_prompt": "make it red", "vote_type": vote,
                                      "source_image": f"img/{i}_l.png", "left_output_image": f"img/{i}_r.png",
                                      "right_output_image": f"img/{(i + 1) % 4}_r.png"})
    for config, config_rows in rows.items():
        (image / f"{config}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in config_rows))
    dirs["genai"] = image
    # VideoGen-RewardBench: CSV + videos.
    videogen = root / "videogen"
    with open(_mkdir(videogen) / "videogen-rewardbench.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["path_A", "path_B", "A_model", "B_model", "prompt", "Overall"])
        writer.writeheader()
        for i, label in enumerate(["A", "B", "same", "A"]):
            write_video(videogen / f"videos/{i}_a.mp4", 10)
            write_video(videogen / f"videos/{i}_b.mp4", 16)
            writer.writerow({"path_A": f"videos/{i}_a.mp4", "path_B": f"videos/{i}_b.mp4", "A_model": "x",
                             "B_model": "y", "prompt": f"a dog running {i}", "Overall": label})
    dirs["videogen"] = videogen
    # ShareGPTVideo held-out pairs.
    sgv = root / "sgv"
    pairs = []
    for i in range(3):
        write_video(sgv / f"v/{i}.mp4", 9)
        pairs.append({"id": f"q{i}", "video": f"v/{i}.mp4", "prompt": "What does the ball do?",
                      "responses": ["It bounces.", "It flies away."], "gold": i % 2})
    (sgv / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    dirs["sgv"] = sgv
    return dirs


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


CASES = [("genai_bench_image", "genai", 4), ("genai_bench_video", "genai", 4), ("genai_bench_edit", "genai", 4),
         ("videogen_rewardbench", "videogen", 4), ("sharegptvideo_pairs", "sgv", 3)]


@pytest.mark.parametrize("task, source, n", CASES)
def test_tiny_hf_judge_runs_every_task(task, source, n, judge, data, tmp_path, capsys):
    code = main(["run", "--tasks", task, "--model", "hf", "--model-args",
                 f"pretrained={judge},max_new_tokens=4,batch_size=4", "--data-dir", str(data[source]),
                 "--output", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
    run_dir = only_run_dir(tmp_path / "runs")
    result = json.loads((run_dir / "results.json").read_text())["tasks"][task]
    assert result["counts"]["n"] == n and result["counts"]["n_error"] == 0
    records = read_jsonl(run_dir / f"{task}.samples.jsonl")
    assert len(records) == n and all(r["replies"][0]["usage"]["completion_tokens"] <= 4 for r in records)
    if task in ("genai_bench_video", "videogen_rewardbench", "sharegptvideo_pairs"):
        # every frame of every video reached the model: prompts hold 8 frames per video
        assert records[0]["replies"][0]["usage"]["prompt_tokens"] > 8 * (2 if task != "sharegptvideo_pairs" else 1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    from reward.testing.tiny_models import save_tiny_clip

    return save_tiny_clip(tmp_path_factory.mktemp("clip"))


SCORED = [("genai_bench_image", "genai", 4), ("genai_bench_video", "genai", 4), ("genai_bench_edit", "genai", 4),
          ("videogen_rewardbench", "videogen", 4)]


@pytest.mark.parametrize("task, source, n", SCORED)
def test_pickscore_scorer_runs_every_pairwise_task(task, source, n, clip, data, tmp_path, capsys):
    model, processor = clip
    code = main(["run", "--tasks", task, "--model", "pickscore", "--model-args",
                 f"pretrained={model},processor={processor},batch_size=8", "--data-dir", str(data[source]),
                 "--output", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
    run_dir = only_run_dir(tmp_path / "runs")
    result = json.loads((run_dir / "results.json").read_text())["tasks"][task]
    assert result["protocol"] == "scores" and result["counts"] == {"n": n, "n_invalid": 0, "n_error": 0}
    base = {"accuracy_with_ties", "accuracy_with_ties/calibrated", "accuracy_without_ties", "ece"}
    quartiles = set(result["metrics"]) - base
    assert base <= set(result["metrics"]) and quartiles
    assert all(k.startswith("accuracy/abs_margin/q") for k in quartiles)
    records = read_jsonl(run_dir / f"{task}.samples.jsonl")
    for r in records:  # the margin is the difference of the two candidates' scores
        scores = r["outcome"]["scores"]
        assert r["outcome"]["margin"] == pytest.approx(scores["A"] - scores["B"])


def test_scores_file_scorer_on_videos_without_opening_them(data, tmp_path, capsys):
    scores = tmp_path / "scores.jsonl"
    scores.write_text("".join(json.dumps({"media": f"videos/{i}_{s}.mp4", "score": float(i + (s == "a"))}) + "\n"
                              for i in range(4) for s in "ab"))
    code = main(["run", "--tasks", "videogen_rewardbench", "--model", "scores", "--model-args", f"path={scores}",
                 "--data-dir", str(data["videogen"]), "--output", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
    result = json.loads((only_run_dir(tmp_path / "runs") / "results.json").read_text())["tasks"]["videogen_rewardbench"]
    # every pair has m = +1: right on the two A pairs, wrong on the B pair; the human tie is never a model tie
    assert result["metrics"]["accuracy_without_ties"] == pytest.approx(200 / 3)


def test_missing_and_empty_videos_are_counted_and_fatal_under_strict(data, tmp_path, capsys):
    import shutil

    broken = tmp_path / "videogen"
    shutil.copytree(data["videogen"], broken)
    (broken / "videos/1_b.mp4").unlink()
    (broken / "videos/2_a.mp4").write_bytes(b"")
    args = ["run", "--tasks", "videogen_rewardbench", "--model", "scripted", "--model-args",
            "reply=Video 1 is better than Video 2.", "--data-dir", str(broken)]
    assert main([*args, "--output", str(tmp_path / "runs")]) == 0
    run_dir = only_run_dir(tmp_path / "runs")
    records = {r["id"]: r for r in read_jsonl(run_dir / "videogen_rewardbench.samples.jsonl")}
    assert (records["1"]["status"], records["1"]["stage"]) == ("error", "media")
    assert "videos/1_b.mp4" in records["1"]["reason"] and "not found" in records["1"]["reason"]
    assert records["2"]["status"] == "error" and "videos/2_a.mp4" in records["2"]["reason"]
    assert json.loads((run_dir / "results.json").read_text())["tasks"]["videogen_rewardbench"]["counts"] == {
        "n": 4, "n_invalid": 0, "n_error": 2}
    capsys.readouterr()
    assert main([*args, "--output", str(tmp_path / "strict"), "--strict"]) == 1
    assert "failed at media" in capsys.readouterr().err
