"""One small generated `--data-dir` per registered task, in each task's real local layout (its module
docstring, `data = DataSpec(...)` and `tasks/data_cards.yaml`), for tests/test_conformance.py.

Each builder writes a few valid rows covering the task's label values (left / right / tie, the
categories, both media layouts) and returns the directory; `vbench` takes no data directory (its rows are
VBench's 16 dimensions, its scores come from the `vbench-results` adapter), so its builder returns None.
Images are real 8x8 JPEGs; videos are never opened by the suite (requests only reference them), so a
few placeholder bytes stand in for them where a task looks for the file on disk.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Callable, Iterable

from tests.conftest import make_data_dir, row, write_image

Builder = Callable[[Path], "Path | None"]
VOTES = ("leftvote", "rightvote", "tievote", "bothbad_vote")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_placeholder(path: Path) -> None:
    """A file standing in for a video the suite never decodes (a task may check that it is on disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not decoded by the conformance suite")


def vlrewardbench(root: Path) -> Path:
    """The GitHub layout: data.jsonl + images/<folder>/<id>.jpg; one row per category, a POVID query."""
    rows = [row("RLAIF-V_0", "rlaif-v", (0, 1)), row("mathverse_1", "reasoning_tasks", (1, 0)),
            row("wildvision_2", "wildvision-battle", (0, 1)),
            row("hallucination_pair-3", "povid", (1, 0), query="<image>\nWhat is on the table?")]
    return make_data_dir(root, rows)


def _genai(config: str, media: dict[str, str], texts: dict[str, str]) -> Builder:
    """`<config>.jsonl` with one row per vote type, media paths relative to the directory."""

    def build(root: Path) -> Path:
        rows = []
        for i, vote in enumerate(VOTES):
            paths = {column: f"{column}/{i}.{ext}" for column, ext in media.items()}
            for column, path in paths.items():
                (write_image(root / path, i) if media[column] == "jpg" else write_placeholder(root / path))
            rows.append({"idx": i, "vote_type": vote, **{k: f"{v} {i}" for k, v in texts.items()}, **paths})
        write_jsonl(root / f"{config}.jsonl", rows)
        return root

    return build


genai_bench_image = _genai("image_generation", {"left_image": "jpg", "right_image": "jpg"},
                           {"prompt": "a red cube on a table"})
genai_bench_video = _genai("video_generation", {"left_video": "mp4", "right_video": "mp4"},
                           {"prompt": "a dog running on a beach"})
genai_bench_edit = _genai("image_edition", {"source_image": "jpg", "left_output_image": "jpg",
                                            "right_output_image": "jpg"},
                          {"source_prompt": "a cat", "target_prompt": "a cat in a hat",
                           "instruct_prompt": "give the cat a hat"})


def videogen_rewardbench(root: Path) -> Path:
    """videogen-rewardbench.csv (the hub CSV's columns) with the videos at path_A / path_B."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "videogen-rewardbench.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, ["path_A", "path_B", "A_model", "B_model", "prompt", "VQ", "MQ", "TA", "Overall"])
        writer.writeheader()
        for i, label in enumerate(("A", "B", "same")):
            paths = {"path_A": f"videos/{i}_a.mp4", "path_B": f"videos/{i}_b.mp4"}
            for path in paths.values():
                write_placeholder(root / path)
            writer.writerow({**paths, "A_model": "gen-a", "B_model": "gen-b", "prompt": f"a boat at sea {i}",
                             "VQ": label, "MQ": label, "TA": label, "Overall": label})
    return root


def sharegptvideo_pairs(root: Path) -> Path:
    """pairs.jsonl: one pair with a video path, one with a list of frame images; gold 0 and 1."""
    frames = [f"frames/p1_{k}.jpg" for k in range(3)]
    for k, frame in enumerate(frames):
        write_image(root / frame, k)
    write_placeholder(root / "videos/p0.mp4")
    write_jsonl(root / "pairs.jsonl", [
        {"id": "p0", "video": "videos/p0.mp4", "prompt": "What happens?", "responses": ["A man runs.", "A cat."],
         "gold": 0},
        {"id": "p1", "frames": frames, "prompt": "Describe the clip.", "responses": ["Snow.", "Rain falls."],
         "gold": 1}])
    return root


def _qa_rows(video_key: str, values: list[Any]) -> list[dict[str, Any]]:
    return [{"id": f"q{i}", "question": f"What is in video {i}?", "answer": "a dog", video_key: v}
            for i, v in enumerate(values)]


def msrvtt_qa(root: Path) -> Path:
    """test_qa.json with video_id; videos/video<id>.mp4 (the second video is absent: kept, counted)."""
    (root / "test_qa.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "test_qa.json").write_text(json.dumps(_qa_rows("video_id", [7010, 7011])), encoding="utf-8")
    write_placeholder(root / "videos/video7010.mp4")
    return root


def msvd_qa(root: Path) -> Path:
    """test_qa.json with video_id, youtube_mapping.txt to the clip name, videos/<clip>.avi."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "test_qa.json").write_text(json.dumps(_qa_rows("video_id", [1, 2])), encoding="utf-8")
    (root / "youtube_mapping.txt").write_text("-4wsuPCjDBc_5_15 vid1\nabcDEF_0_9 vid2\n", encoding="utf-8")
    write_placeholder(root / "videos/-4wsuPCjDBc_5_15.avi")
    write_placeholder(root / "videos/abcDEF_0_9.avi")
    return root


def tgif_qa(root: Path) -> Path:
    """The Video-ChatGPT layout: test_q.json + test_a.json joined by question_id; videos/<name>.gif."""
    root.mkdir(parents=True, exist_ok=True)
    names = ["tumblr_a1", "tumblr_b2"]
    (root / "test_q.json").write_text(json.dumps(
        [{"question_id": f"t{i}", "video_name": n, "question": f"What moves in {n}?"} for i, n in enumerate(names)]))
    (root / "test_a.json").write_text(json.dumps([{"question_id": "t1", "answer": "a bird"},
                                                  {"question_id": "t0", "answer": "a car"}]))
    for n in names:
        write_placeholder(root / f"videos/{n}.gif")
    return root


def mmhal_bench(root: Path) -> Path:
    """response_template.json (a JSON list) + images/ named like the end of image_src; one row without a type."""
    rows = []
    for i, qtype in enumerate(("attribute", "counting", None)):
        write_image(root / f"images/img{i}.jpg", i)
        r = {"question_topic": "animal", "image_id": f"img{i}", "image_src": f"https://example.org/x/img{i}.jpg",
             "image_content": ["cat", "mat"], "question": f"How many cats are there ({i})?", "gt_answer": "one cat"}
        rows.append({**r, "question_type": qtype} if qtype else r)
    (root / "response_template.json").write_text(json.dumps(rows), encoding="utf-8")
    return root


def image_gen(root: Path) -> Path:
    """`harness generate`'s output: manifest.jsonl (id, prompt, path, seed, index) + images + generation.json."""
    rows = []
    for i in range(3):
        path = f"images/{i:04d}_s0.png"
        write_image(root / path, i)
        rows.append({"id": i // 2, "prompt": f"prompt {i // 2}", "path": path, "seed": i, "index": i})
    write_jsonl(root / "manifest.jsonl", rows)
    (root / "generation.json").write_text(json.dumps({"policy": "tiny", "steps": 1}), encoding="utf-8")
    return root


def no_data_dir(root: Path) -> None:
    """vbench: the rows are VBench's 16 dimensions; nothing to write."""
    return None


def multimodal_rewardbench(root: Path) -> Path:
    """The benchmark's data/ layout: all_data.json (a JSON list) + images/<source>/<file>; one row per
    Category, both values of Better, and the ID prefixes that split safety and reasoning into their buckets."""
    rows = [
        ("nocaps_1", "open_generation/correctness_task", "Output2", "images/nocaps/1.jpg"),
        ("visitbench_2", "open_generation/preference_task", "Output1", "images/visitbench/2.jpg"),
        ("mmmu-s_3", "knowledge", "Output2", "images/mmmu-s/3.jpg"),
        ("mathvista_4", "reasoning", "Output1", "images/mathvista/4.jpg"),
        ("EMMA-Coding_5", "reasoning", "Output2", "images/EMMA-Coding/5_0.png"),
        ("pairs_6", "safety", "Output1", "images/pairs/6.png"),
        ("RealworldQA_7", "vqa", "Output2", "images/RealworldQA/7.jpg"),
    ]
    data = []
    for i, (rid, category, better, image) in enumerate(rows):
        write_image(root / image, i)
        data.append({"ID": rid, "Text": f"What is shown in picture {i}?", "Image": image,
                     "Output1": f"A cat ({i}).", "Output2": f"A dog ({i}).", "Better": better, "Category": category})
    (root / "all_data.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return root


def mmrb2(root: Path) -> Path:
    """The built-benchmark layout (t2i.json, edit.json, interleaved.json, reasoning.json + images/ and
    input_images/): 10 real pairs of facebookresearch/MMRB2 (both labels, every task, text-only, image-only
    and interleaved responses) with stand-in prompts and 8x8 JPEGs."""
    from tests.fixtures_mmrb2.build import real_data_dir

    return real_data_dir(root)


def videorewardbench(root: Path) -> Path:
    """videorewardbench.jsonl: one triplet per dimension (one labelled with the paper's name), placeholder videos."""
    rows = []
    for i, dimension in enumerate(("long_perception", "Short-form Perception", "knowledge", "reasoning", "safety")):
        video = f"videos/{i}.mp4"
        write_placeholder(root / video)
        rows.append({"id": f"vrb-{i}", "video": video, "prompt": f"What happens in clip {i}?",
                     "chosen": f"A ball rolls left ({i}).", "rejected": f"A dog barks ({i}).", "dimension": dimension})
    write_jsonl(root / "videorewardbench.jsonl", rows)
    return root


MULTI_CRIT_FILES = {"open_ended": "multi-crit-openEnded-flatten.jsonl",
                    "reasoning": "multi-crit-reasoning-flatten.jsonl"}
MULTI_CRIT_CRITERIA = {"open_ended": ("completeness", "visual-grounding", "hallucination", "expressiveness", "clarity"),
                       "reasoning": ("grounding", "logic", "hallucination", "exploration", "efficiency")}


def multi_crit(root: Path) -> Path:
    """Both split files: two prompts each, every criterion of the split, both preferences, conflicting criteria."""
    for split, name in MULTI_CRIT_FILES.items():
        rows = []
        for p in range(2):
            image = f"{split}/images/p{p}.png"
            write_image(root / "images" / image, p)
            for k, criterion in enumerate(MULTI_CRIT_CRITERIA[split]):
                rows.append({"question_id": f"{split}-p{p}__{criterion}", "prompt_id": f"{split}-p{p}",
                             "image_path": image, "split": split.replace("_", "-"), "criterion": criterion,
                             "preference": ("model_a", "model_b")[(p + k) % 2], "question": f"What is shown? ({p})",
                             "pred_a": "A cat on a mat.", "pred_b": "A dog on a rug."})
        write_jsonl(root / name, rows)
    return root


def editreward_bench_tiger(root: Path) -> Path:
    """The hub layout: 2pair/, 3pair/, 4pair/ Parquet files with embedded images; K=2 rows for A>B, B>A and a
    tie, one K=3 group (3 comparisons) and one K=4 group (6 comparisons, ranking D>A>B>C)."""

    def row(subset: str, rid: str, comparison: str, ranking: str) -> dict:
        a, b = comparison[0], comparison[-1]
        return {"dataset": subset, "id": rid, "instruction": f"turn the car in {rid} red", "source_image": f"{rid}.png",
                "candidate_1": f"{rid}_{a}.png", "candidate_2": f"{rid}_{b}.png", "ranking": ranking,
                "comparison_type": comparison, "score_1": None, "score_2": None, "model_1": "m1", "model_2": "m2"}

    order = "DABC"
    four = [row("4pair", "q4", f"{a}vs{b}", f"{a}>{b}" if order.index(a) < order.index(b) else f"{b}>{a}")
            for a, b in (("A", "B"), ("A", "C"), ("A", "D"), ("B", "C"), ("B", "D"), ("C", "D"))]
    two = [row("2pair", f"c{i}", "AvsB", ranking) for i, ranking in enumerate(("A>B", "B>A", "A=B"))]
    three = [row("3pair", "t1", comparison, ranking) for comparison, ranking in
             (("AvsB", "B>A"), ("AvsC", "A>C"), ("BvsC", "B>C"))]
    from tests.fixtures_editreward.build import write_tiger

    return write_tiger(root, {"2pair": two, "3pair": three, "4pair": four})


def editreward_bench_editscore(root: Path) -> Path:
    """data-00000-of-00001.arrow (an Arrow stream, as the hub's files): one row per dimension, three subtasks."""

    def row(k1: str, k2: str, task_type: str, dimension: str) -> dict:
        return {"key": [k1, k2], "instruction": f"edit {k1}", "input_image": f"{k1}_input.png",
                "output_images": [f"{k1}.png", f"{k2}.png"], "task_type": task_type, "dimension": dimension}

    from tests.fixtures_editreward.build import write_editscore

    return write_editscore(root, [row("a1", "a2", "background_change", "prompt_following"),
                                  row("b1", "b2", "subject-add", "consistency"),
                                  row("c1", "c2", "text_change", "overall")])


def reward_points(root: Path) -> Path:
    """One point record per source form: EvalMuse with and without element labels, VideoFeedback's five aspects
    (frames), ShareGPTVideo (frames), LiFT-HRA (a video the suite never decodes), plus a pair record (skipped)."""
    from reward.training.dataset.records import Record
    from reward.training.dataset.templates import (IMAGE_GEN_POINT, IMAGE_GEN_POINT_REASON, VIDEO_GEN_POINT,
                                                   VIDEO_UND_POINT, fill)

    cube = {"caption": "A red cube on a blue sphere"}
    records = [
        Record("evalmuse_point:SDXL/00001.png", "evalmuse_point", "image_gen", "point",
               fill(IMAGE_GEN_POINT_REASON, cube), "cube (object): 1\nred (color): 0\nFinal Score: 3.67",
               images=("media/evalmuse_point/a.jpg",)),
        Record("evalmuse_point:MJ/00001.png", "evalmuse_point", "image_gen", "point", fill(IMAGE_GEN_POINT, cube),
               "Final Score: 2", images=("media/evalmuse_point/b.jpg",)),
        Record("videofeedback:1001", "videofeedback", "video_gen", "point",
               fill(VIDEO_GEN_POINT, {"caption": "a hot air balloon over snowy mountains"}),
               "visual quality: 4\ntemporal consistency: 4\ndynamic degree: 3\ntext-to-video alignment: 1\n"
               "factual consistency: 2\nFinal Score: 3",
               frames=("media/videofeedback/f0.jpg", "media/videofeedback/f1.jpg")),
        Record("sharegptvideo_point:v_park_1:chosen", "sharegptvideo_point", "video_und", "point",
               fill(VIDEO_UND_POINT, {"question": "How many dogs appear in the video?",
                                      "response": "Two dogs appear, playing with a ball."}),
               "Final Score: 4", frames=("media/sharegptvideo_point/g0.jpg",)),
        Record("lift_hra:0", "lift_hra", "video_gen", "point",
               "A cat plays a grand piano on a stage. Please identify the fidelity issues in this video, assessing "
               "the realism of the content.", "Bad. The cat's front paws merge into the keys.",
               video="media/lift_hra/v.mp4"),
        Record("hpd:1", "hpd", "image_gen", "pair", "Which image is better?", "Image 1 is better than Image 2.",
               images=("media/hpd/p.jpg", "media/hpd/q.jpg"), order="chosen_first"),
    ]
    root.mkdir(parents=True, exist_ok=True)
    (root / "records.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in records), encoding="utf-8")
    for i, path in enumerate(p for r in records for p in (*r.images, *r.frames)):
        write_image(root / path, i)
    write_placeholder(root / "media/lift_hra/v.mp4")
    return root


#: task name -> builder. The lmms-eval plugin aliases (ur_*) read their base task's layout.
BUILDERS: dict[str, Builder] = {
    "vlrewardbench": vlrewardbench, "ur_vlrewardbench": vlrewardbench,
    "genai_bench_image": genai_bench_image, "ur_genai_bench_image": genai_bench_image,
    "genai_bench_video": genai_bench_video, "genai_bench_edit": genai_bench_edit,
    "videogen_rewardbench": videogen_rewardbench, "sharegptvideo_pairs": sharegptvideo_pairs,
    "msrvtt_qa": msrvtt_qa, "msvd_qa": msvd_qa, "tgif_qa": tgif_qa, "mmhal_bench": mmhal_bench,
    "partiprompts_gen": image_gen, "hpsv2_prompts_gen": image_gen, "vbench": no_data_dir,
    "multimodal_rewardbench": multimodal_rewardbench, "mmrb2": mmrb2, "videorewardbench": videorewardbench,
    "multi_crit": multi_crit, "editreward_bench_tiger": editreward_bench_tiger,
    "editreward_bench_editscore": editreward_bench_editscore, "reward_points": reward_points,
}
