"""`reward_points` (issue 16 item 5): a judge's pointwise scores against the reference scores of the reward-data
builder's point records, end to end through `harness.runner.run` with a scripted judge.

The records are written with the builder's own `Record` and templates (tiny PNGs as media); the metrics of a
hand-made table (ties in both columns, an invalid reply in each source, two sources, five VideoFeedback aspects) are
worked out by hand in the comments; a bigger generated table is checked against a plain re-implementation of the
definitions; and a dataset built by `build()` from the builder's own fixtures shows that every point source's answer
is read back by the one parser."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml
from PIL import Image

from harness.errors import UsageError
from harness.registry import TASKS
from harness.runner import RunOptions, run
from reward.scripted import ScriptedAdapter
from reward.training.dataset import SOURCES, Record, build
from reward.training.dataset.records import TASKS as RECORD_TASK_NAMES
from reward.training.dataset.templates import IMAGE_GEN_POINT, IMAGE_GEN_POINT_REASON, VIDEO_GEN_POINT, fill
from tasks.reward_points import FINAL_SCORE, POINT_SOURCES, RATING, RECORD_TASKS, RewardPoints, read_scores

from .conftest import install_entry_point, read_jsonl

NAME = "reward_points"
ASPECTS = ("visual quality", "temporal consistency", "dynamic degree", "text-to-video alignment",
           "factual consistency")


@pytest.fixture(autouse=True)
def installed(monkeypatch):
    install_entry_point(monkeypatch, TASKS, NAME, "tasks.reward_points:RewardPoints")


# ---- writing a built directory ---------------------------------------------------------------------------------

def write_png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)).save(path, "PNG")


def image_point(rid: str, caption: str, answer: str, elements: bool, seed: int) -> Record:
    template = IMAGE_GEN_POINT_REASON if elements else IMAGE_GEN_POINT
    return Record(rid, "evalmuse_point", "image_gen", "point", fill(template, {"caption": caption}), answer,
                  images=(f"media/evalmuse_point/{seed:04x}.png",))


def video_point(rid: str, caption: str, dims: tuple[int, ...], seed: int) -> Record:
    final = math.floor(sum(dims) / len(dims) + 0.5)  # the builder's rounded mean
    answer = "\n".join(f"{a}: {d}" for a, d in zip(ASPECTS, dims)) + f"\nFinal Score: {final}"
    return Record(rid, "videofeedback", "video_gen", "point", fill(VIDEO_GEN_POINT, {"caption": caption}), answer,
                  frames=(f"media/videofeedback/{seed:04x}a.png", f"media/videofeedback/{seed:04x}b.png"))


def write_dir(root: Path, records: list[Record], lines: tuple[str, ...] = ()) -> Path:
    """records.jsonl (plus raw `lines` appended) and a tiny PNG for every image and frame it names."""
    root.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r.to_json()) + "\n" for r in records) + "".join(line + "\n" for line in lines)
    (root / "records.jsonl").write_text(text, encoding="utf-8")
    for i, path in enumerate(p for r in records for p in (*r.images, *r.frames)):
        write_png(root / path, i)
    return root


def judged(tmp_path: Path, data: Path, fn: Callable, split: str | None = None, resamples: int = 20,
           needs_media: bool = True) -> tuple[dict, dict[str, dict]]:
    outcome = run(RunOptions(tasks=[NAME], model="scripted", data_dir=data, split=split, output=tmp_path / "runs",
                             use_cache=False, bootstrap_resamples=resamples, progress="none"),
                  adapter=ScriptedAdapter(fn=fn, needs_media=needs_media))
    records = read_jsonl(outcome.dir / f"{NAME}.samples.jsonl")
    return outcome.results["tasks"][NAME], {r["id"]: r for r in records}


# ---- the hand-made table ---------------------------------------------------------------------------------------

CUBE = "A red cube on a blue sphere"
#: EvalMuse: (id, caption, reference answer, the judge's reply). References 1.33 < 2.67 = 2.67 < 3 < 4 < 4.67 (one
#: tie), replies 2, 1, 3, 3, 3, 5 (a three-way tie); e7's reply states no score (invalid).
EVALMUSE = [
    ("evalmuse_point:SDXL/00001.png", CUBE, "cube (object): 1\nred (color): 0\nsphere (object): 1\nFinal Score: 1.33",
     "cube (object): 1\nred (color): 1\nFinal Score: 2"),  # elements: cube agrees, red does not, sphere unlabelled
    ("evalmuse_point:SDXL/00002.png", "Two cats sleeping on a sofa", "cats (animal): 1\ntwo (count): 0\n"
     "Final Score: 2.67", "- cats (animal): 1\n- two (count): 0\n\nFinal Score: 1"),  # both elements agree
    ("evalmuse_point:MJ/00001.png", CUBE, "Final Score: 2.67", "The cube sits on the sphere.\nFinal Score: 3"),
    ("evalmuse_point:MJ/00002.png", "A lighthouse at dusk", "Final Score: 3", "**Final Score:** 3"),
    ("evalmuse_point:DALLE3/00002.png", "A lighthouse at dusk", "Final Score: 4", "Final Score: 3"),
    ("evalmuse_point:DALLE3/00003.png", "A fox in the snow", "Final Score: 4.67", "Final Score: 5"),
    ("evalmuse_point:SDXL/00004.png", "A fox in the snow", "Final Score: 4.33", "The image looks fine."),
]
#: VideoFeedback: (id, the five human aspect scores, the judge's five, the judge's final score). v4's reply leaves
#: out "dynamic degree" (invalid).
VIDEOFEEDBACK = [
    ("videofeedback:1001", (4, 4, 3, 1, 2), (3, 4, 3, 2, 2), 3),  # reference final: 2.8 -> 3
    ("videofeedback:1002", (2, 2, 2, 3, 3), (2, 3, 2, 3, 3), 2),  # 2.4 -> 2
    ("videofeedback:1003", (3, 3, 4, 4, 4), (3, 3, 2, 4, 4), 3),  # 3.6 -> 4
    ("videofeedback:1004", (2, 2, 2, 2, 2), (2, 2, 2, 2, 2), 2),
]


def table_dir(root: Path) -> Path:
    records = [image_point(rid, caption, answer, "(" in answer, i) for i, (rid, caption, answer, _) in
               enumerate(EVALMUSE)]
    records += [video_point(rid, f"a hot air balloon {i}", dims, 100 + i)
                for i, (rid, dims, _, _) in enumerate(VIDEOFEEDBACK)]
    records.append(Record("evalmuse_pair:00001", "evalmuse_pair", "image_gen", "pair", "Which image is better?",
                          "Image 1 is better than Image 2.", images=("media/evalmuse_pair/a.png",
                                                                      "media/evalmuse_pair/b.png"),
                          order="chosen_first"))
    records.append(Record("llava_critic_point:wild_0003", "llava_critic_point", "image_und", "point",
                          "Rate the answer to the question about the image from 1 to 10.",
                          "The answer misses the laptop. Rating: 7", images=("media/llava_critic_point/k.png",)))
    return write_dir(root, records)


def table_replies() -> dict[str, str]:
    replies = {rid: reply for rid, _, _, reply in EVALMUSE}
    for rid, _, judge, final in VIDEOFEEDBACK:
        lines = [f"({k + 1}) {a}: {d}" for k, (a, d) in enumerate(zip(ASPECTS, judge))
                 if not (rid.endswith("1004") and a == "dynamic degree")]
        replies[rid] = "\n".join(lines) + f"\nFinal Score: {final}"
    return replies


def test_hand_computed_table_two_sources_ties_and_invalid_replies(tmp_path):
    replies, seen = table_replies(), {}

    def judge(prepared) -> str:
        seen[prepared.request.sample_id] = prepared.request.parts
        return replies[prepared.request.sample_id]

    result, records = judged(tmp_path, table_dir(tmp_path / "data"), judge)
    m = result["metrics"]
    assert result["counts"] == {"n": 11, "n_invalid": 2, "n_error": 0}
    assert records["evalmuse_point:SDXL/00004.png"]["status"] == "invalid"
    assert records["videofeedback:1004"]["reason"] == "no 'dynamic degree: N' (the reference states it) " \
                                                      "(left out of the metrics)"
    # EvalMuse, the six valid: human ranks 1, 2.5, 2.5, 4, 5, 6; judge ranks 2, 1, 4, 4, 4, 6 (both mean 3.5).
    # Deviations h: -2.5 -1 -1 .5 1.5 2.5, j: -1.5 -2.5 .5 .5 .5 2.5; sum of products 13, squares 17 and 15.5.
    rho_e = 13 / math.sqrt(17 * 15.5)  # 0.8009
    # 15 pairs: 10 concordant, 1 discordant (e1, e2), 1 tied in h only (e2, e3), 3 tied in the judge only (e3-e5).
    tau_e = (10 - 1) / math.sqrt((15 - 1) * (15 - 3))  # 0.6944
    mae_e = (0.67 + 1.67 + 0.33 + 0 + 1 + 0.33) / 6  # 4/6
    assert m["evalmuse_point/spearman"] == pytest.approx(rho_e)
    assert m["evalmuse_point/kendall_tau"] == pytest.approx(tau_e)
    assert m["evalmuse_point/mae"] == pytest.approx(mae_e)
    assert m["evalmuse_point/elements/agreement"] == pytest.approx(100 * 3 / 5)  # (1 of 3) + (2 of 2)
    # VideoFeedback final, v1-v3: human 3, 2, 4, judge 3, 2, 3: ranks 2 1 3 / 2.5 1 2.5; deviations 0 -1 1 /
    # .5 -1 .5: rho = 1.5 / sqrt(2 * 1.5); pairs: 2 concordant, 1 tied in the judge: tau = 2 / sqrt(3 * 2).
    assert m["videofeedback/spearman"] == pytest.approx(math.sqrt(3) / 2)
    assert m["videofeedback/kendall_tau"] == pytest.approx(2 / math.sqrt(6))
    assert m["videofeedback/mae"] == pytest.approx(1 / 3)
    # Aspects: visual quality 4 2 3 / 3 2 3 and temporal consistency 4 2 3 / 4 3 3 have the final's pattern;
    # dynamic degree 3 2 4 / 3 2 2: deviations 0 -1 1 / 1 -.5 -.5, products sum to 0, one concordant and one
    # discordant pair; text-to-video alignment 1 3 4 / 2 3 4 and factual consistency 2 3 4 / 2 3 4 rank alike.
    expected = {"visual_quality": (math.sqrt(3) / 2, 2 / math.sqrt(6), 1 / 3),
                "temporal_consistency": (math.sqrt(3) / 2, 2 / math.sqrt(6), 1 / 3),
                "dynamic_degree": (0.0, 0.0, 2 / 3), "text_to_video_alignment": (1.0, 1.0, 1 / 3),
                "factual_consistency": (1.0, 1.0, 0.0)}
    for dim, values in expected.items():
        got = tuple(m[f"videofeedback/{dim}/{name}"] for name in ("spearman", "kendall_tau", "mae"))
        assert got == pytest.approx(values, abs=1e-12), dim
    # Overall: the unweighted mean of the two sources.
    assert m["spearman"] == pytest.approx((rho_e + math.sqrt(3) / 2) / 2)
    assert m["kendall_tau"] == pytest.approx((tau_e + 2 / math.sqrt(6)) / 2)
    assert m["mae"] == pytest.approx((mae_e + 1 / 3) / 2)
    assert list(m)[:6] == ["spearman", "kendall_tau", "mae", "evalmuse_point/spearman", "evalmuse_point/kendall_tau",
                           "evalmuse_point/mae"]

    details = result["details"]
    assert details["per_source"]["evalmuse_point"] == {"n": 7, "valid": 6, "invalid": 1, "elements_unlabelled": 1,
                                                       "reference_range": [1.33, 4.67], "judge_range": [1.0, 5.0]}
    assert details["per_source"]["videofeedback"]["invalid"] == 1
    dataset = result["dataset"]
    assert dataset["n_rows"] == 11 and dataset["records"] == {"point": 12, "pair": 1}
    assert (dataset["judged/evalmuse_point"], dataset["judged/videofeedback"]) == (7, 4)
    assert dataset["skipped"]["pair"] == 1 and dataset["skipped"]["no_reference_score"] == 1
    assert dataset["skipped"]["no_reference_score_examples"] == ["llava_critic_point:wild_0003"]
    assert "llava_critic_point:wild_0003" not in records and "evalmuse_pair:00001" not in records
    # Bootstrap intervals, resampling records.
    for name in ("spearman", "evalmuse_point/kendall_tau", "videofeedback/mae"):
        lo, hi = result["ci95"][name]
        assert lo <= hi

    # The record's media in order (images; the frames), then its prompt: nothing else is sent.
    first = seen["evalmuse_point:SDXL/00001.png"]
    assert [p.label for p in first[:-1]] == ["media/evalmuse_point/0000.png"]
    assert first[-1] == fill(IMAGE_GEN_POINT_REASON, {"caption": CUBE})
    video = seen["videofeedback:1001"]
    assert [p.label for p in video[:-1]] == ["media/videofeedback/0064a.png", "media/videofeedback/0064b.png"]
    assert video[-1].startswith("Suppose you are an expert in judging")


def test_a_bigger_table_equals_a_plain_implementation_of_the_definitions(tmp_path):
    """60 EvalMuse-style records, scores on a coarse grid (many ties), every seventh reply invalid: the task's
    numbers equal a pair-by-pair Kendall tau-b and an average-rank Pearson written here from the definitions."""
    rng = np.random.default_rng(7)
    human = np.round(rng.integers(3, 16, 60) / 3, 2)  # means of three 1-5 ratings
    judge = np.clip(np.round(human + rng.normal(0, 1, 60)), 1, 5)
    records = [image_point(f"evalmuse_point:img/{i}.png", f"caption {i}", f"Final Score: {human[i]:g}", False, i)
               for i in range(60)]
    replies = {r.id: ("I would rather not say." if i % 7 == 3 else f"Final Score: {judge[i]:g}")
               for i, r in enumerate(records)}
    result, _ = judged(tmp_path, write_dir(tmp_path / "data", records), lambda p: replies[p.request.sample_id])
    keep = np.array([i % 7 != 3 for i in range(60)])
    h, j = human[keep], judge[keep]

    def ranks(v: np.ndarray) -> np.ndarray:
        return np.array([np.sum(v < x) + (np.sum(v == x) + 1) / 2 for x in v])

    rh, rj = ranks(h) - ranks(h).mean(), ranks(j) - ranks(j).mean()
    rho = float(rh @ rj / math.sqrt((rh @ rh) * (rj @ rj)))
    c = d = tied_h = tied_j = 0
    for a, b in itertools.combinations(range(h.size), 2):
        sh, sj = np.sign(h[a] - h[b]), np.sign(j[a] - j[b])
        tied_h += sh == 0
        tied_j += sj == 0
        c += sh * sj > 0
        d += sh * sj < 0
    n0 = h.size * (h.size - 1) // 2
    tau = (c - d) / math.sqrt((n0 - tied_h) * (n0 - tied_j))
    m = result["metrics"]
    assert result["counts"]["n_invalid"] == int((~keep).sum())
    assert m["evalmuse_point/spearman"] == pytest.approx(rho) and m["spearman"] == pytest.approx(rho)
    assert m["evalmuse_point/kendall_tau"] == pytest.approx(tau)
    assert m["evalmuse_point/mae"] == pytest.approx(float(np.mean(np.abs(h - j))))


# ---- the one parser --------------------------------------------------------------------------------------------

def test_one_parser_reads_every_point_source_answer_form():
    evalmuse, _ = read_scores("cube (object): 1\nred (color): 0\nFinal Score: 3.67")
    assert evalmuse is not None and (evalmuse.form, evalmuse.overall) == (FINAL_SCORE, 3.67)
    assert dict(evalmuse.elements) == {"cube (object)": 1, "red (color)": 0} and not evalmuse.dimensions
    feedback, _ = read_scores("visual quality: 4\ntemporal consistency: 4\ndynamic degree: 3\n"
                              "text-to-video alignment: 1\nfactual consistency: 2\nFinal Score: 3")
    assert feedback is not None and dict(feedback.dimensions) == dict(zip(ASPECTS, (4.0, 4.0, 3.0, 1.0, 2.0)))
    lift, _ = read_scores("Bad. The cat's front paws merge into the keys.")
    assert lift is not None and (lift.form, lift.overall) == (RATING, 1.0)
    assert read_scores("Normal. Some flicker.")[0].overall == 2.0  # type: ignore[union-attr]
    # A free-text critique that states its score otherwise is not guessed at.
    assert read_scores("The answer misses the laptop. Rating: 7") == (
        None, "states no score in a form read here ('Final Score: N', or a leading Good / Normal / Bad)")


def test_a_reply_is_read_in_its_records_form():
    # Markdown, bullets, enumerations and brackets around the number; the last "Final Score" counts.
    reply, _ = read_scores("**Visual Quality**: 3\n* (2) Cube  (Object) : 1\r\nFinal Score: 2\nFinal Score: [4]",
                           FINAL_SCORE)
    assert reply is not None and reply.overall == 4.0
    assert dict(reply.dimensions) == {"visual quality": 3.0} and dict(reply.elements) == {"cube (object)": 1}
    assert read_scores("Final Score: 3", RATING) == (None, "does not start with Good, Normal or Bad")
    assert read_scores("Good. Final words.", FINAL_SCORE) == (None, "no 'Final Score: N'")
    assert read_scores("   ", FINAL_SCORE) == (None, "empty text")
    with pytest.raises(ValueError, match="unknown score form"):
        read_scores("Final Score: 3", "stars")


def test_a_dataset_built_from_the_builders_fixtures_is_read_back_source_by_source(tmp_path):
    """`build()` on the builder's own fixture rows (tests/fixtures_reward): a judge that replies each record's answer
    gets MAE 0 and correlation 1 on every point source whose answer states its score; LLaVA-Critic's free-text
    critique is skipped and counted; the pair records are skipped."""
    from tests.test_reward_dataset import fixture

    sources = [("evalmuse_point", "evalmuse", "train_list.json"), ("evalmuse_pair", "evalmuse", "train_list.json"),
               ("videofeedback", "videofeedback", ""), ("sharegptvideo_point", "sharegptvideo", ""),
               ("lift_hra", "lift_hra", ""), ("llava_critic_point", "llava_critic", "")]
    folders = {folder: fixture(folder, tmp_path) for folder in dict.fromkeys(f for _, f, _ in sources)}
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"seed": 0, "order": "swap", "sources": [
        {"name": name, "path": str(folders[folder] / file if file else folders[folder])}
        for name, folder, file in sources]}))
    out = tmp_path / "built"
    build(manifest, out)
    answers = {r["id"]: r["answer"] for r in read_jsonl(out / "records.jsonl")}
    result, records = judged(tmp_path, out, lambda p: answers[p.request.sample_id], needs_media=False)
    m = result["metrics"]
    assert {r["outcome"]["source"] for r in records.values()} == {"evalmuse_point", "videofeedback",
                                                                  "sharegptvideo_point", "lift_hra"}
    assert result["counts"] == {"n": len(records), "n_invalid": 0, "n_error": 0}
    for source in ("evalmuse_point", "videofeedback", "sharegptvideo_point", "lift_hra"):
        assert (m[f"{source}/spearman"], m[f"{source}/kendall_tau"], m[f"{source}/mae"]) == (1.0, 1.0, 0.0), source
    assert m["evalmuse_point/elements/agreement"] == 100.0
    assert all(m[f"videofeedback/{d}/mae"] == 0.0 for d in ("visual_quality", "factual_consistency"))
    lift = {r["outcome"]["aspect"] for r in records.values() if r["outcome"]["source"] == "lift_hra"}
    assert lift == {"semantic consistency", "fidelity"} and m["lift_hra/fidelity/mae"] == 0.0
    skipped = result["dataset"]["skipped"]
    assert skipped["no_reference_score_by_source"] == {"llava_critic_point": 1} and skipped["pair"] >= 1


# ---- data, splits and bad input --------------------------------------------------------------------------------

def test_split_names_equal_the_builders_point_sources_and_tasks():
    assert set(POINT_SOURCES) == {name for name, d in SOURCES.items() if d.kind == "point"}
    assert RECORD_TASKS == RECORD_TASK_NAMES
    assert RewardPoints.splits == ("all", *POINT_SOURCES, *RECORD_TASKS)


def test_split_by_source_or_task(tmp_path):
    data = table_dir(tmp_path / "data")
    result, records = judged(tmp_path, data, lambda p: table_replies()[p.request.sample_id], split="video_gen")
    assert set(records) == {rid for rid, *_ in VIDEOFEEDBACK} and result["dataset"]["skipped"]["other_split"] == 8
    assert "evalmuse_point/spearman" not in result["metrics"]
    with pytest.raises(UsageError, match="--split sharegptvideo_point: .* holds no point records of "
                                         "sharegptvideo_point .*evalmuse_point 7, videofeedback 4"):
        judged(tmp_path, data, lambda p: "", split="sharegptvideo_point")


def test_nothing_to_judge_is_a_usage_error_before_any_judge_call(tmp_path):
    task = RewardPoints()
    with pytest.raises(UsageError, match="reward_points needs --data-dir: a `harness build-reward-data` output"):
        task.load(task.config(None, 0, None, None))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no records.jsonl there"):
        task.load(task.config(None, 0, None, tmp_path / "empty"))
    pairs = write_dir(tmp_path / "pairs", [Record("hpd:1", "hpd", "image_gen", "pair", "Which?", "Image 1 is better "
                                                  "than Image 2.", images=("media/hpd/a.png", "media/hpd/b.png"),
                                                  order="chosen_first")])
    calls = []
    with pytest.raises(UsageError, match=r"no point record to judge \(records: \{'pair': 1\}"):
        judged(tmp_path, pairs, lambda p: calls.append(p) or "")
    assert not calls


def test_bad_records_are_error_records_naming_line_and_field(tmp_path):
    good = image_point("evalmuse_point:a.png", CUBE, "Final Score: 2", False, 0)
    lost = image_point("evalmuse_point:b.png", CUBE, "Final Score: 3", False, 1)
    strings = dict(good.to_json(), id="evalmuse_point:c.png", images="media/evalmuse_point/0000.png")
    extra = dict(good.to_json(), id="evalmuse_point:d.png", score=3)
    data = write_dir(tmp_path / "data", [good, lost], ("{not json", json.dumps(strings), json.dumps(extra)))
    (data / lost.images[0]).unlink()
    result, records = judged(tmp_path, data, lambda p: "Final Score: 2")
    assert result["counts"] == {"n": 5, "n_invalid": 0, "n_error": 4}
    assert records["evalmuse_point:b.png"]["reason"] == (
        "records.jsonl line 2 (id evalmuse_point:b.png): media not found under the data directory: "
        "media/evalmuse_point/0001.png")
    assert records["line-3"]["reason"].startswith("records.jsonl line 3: malformed JSON")
    assert records["evalmuse_point:c.png"]["reason"] == ("records.jsonl line 4 (id evalmuse_point:c.png): field "
                                                         "'images' must be a list of paths")
    assert "record keys" in records["evalmuse_point:d.png"]["reason"]
    assert records["evalmuse_point:a.png"]["outcome"]["judge"] == 2.0
