"""reward.training.dataset: converters on hand-written rows in each source's real schema, order balance, manifest
validation, bad rows, sampling and statistics. Fixtures: tests/fixtures_reward/ (rows; media synthesised)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image

from harness.errors import UsageError
from reward.training.dataset import (
    SOURCES,
    Record,
    RowError,
    build,
    chosen_second,
    load_manifest,
    read_records,
    stats,
    write_records,
)
from reward.training.dataset.templates import (
    IMAGE_GEN_PAIR,
    IMAGE_GEN_POINT,
    IMAGE_GEN_POINT_REASON,
    VIDEO_GEN_PAIR,
    VIDEO_GEN_POINT,
    VIDEO_UND_PAIR,
    VIDEO_UND_POINT,
    fill,
    template,
)

FIXTURES = Path(__file__).parent / "fixtures_reward"
PAPER = Path(__file__).resolve().parents[2] / "shared" / "paper" / "unifiedreward.md"
EXAMPLE_MANIFEST = (Path(__file__).resolve().parents[1] / "reward" / "training" / "dataset" / "manifests"
                    / "unifiedreward_236k.yaml")


# -- helpers --------------------------------------------------------------------------------------------


def write_image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shade = hashlib.sha256(str(path.name + path.parent.name).encode()).digest()
    Image.new("RGB", (6, 6), tuple(shade[:3])).save(path)


def write_video(path: Path) -> None:
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    base = hashlib.sha256(str(path.name + path.parent.name).encode()).digest()[0] % 100
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=4)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), base + 60 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def fixture(name: str, tmp_path: Path) -> Path:
    """Copy a fixture folder and synthesise the media its media.txt lists."""
    dest = tmp_path / "src" / name
    shutil.copytree(FIXTURES / name, dest)
    for line in (dest / "media.txt").read_text().splitlines():
        first, *frames = line.split()
        if first.endswith("/"):
            for frame in frames:
                write_image(dest / first / frame)
        elif first.endswith(".mp4"):
            write_video(dest / first)
        else:
            write_image(dest / first)
    return dest


def run(tmp_path: Path, sources: list[dict], **top) -> tuple[list[Record], object, Path]:
    manifest = {"seed": 0, "order": "chosen_first", **top, "sources": sources}
    path = tmp_path / f"manifest-{len(list(tmp_path.glob('manifest-*')))}.yaml"
    path.write_text(yaml.safe_dump(manifest))
    out = tmp_path / f"out-{path.stem}"
    report = build(path, out)
    return list(read_records(out / "records.jsonl")), report, out


def same_bytes(out: Path, written: tuple[str, ...], originals: list[Path]) -> bool:
    return [(out / p).read_bytes() for p in written] == [p.read_bytes() for p in originals]


def fields(record: Record) -> dict:
    """Everything but the media paths (hashed names, checked through same_bytes): their count instead."""
    d = record.to_json()
    for key in ("images", "frames"):
        d[key] = len(d[key])
    d["video"] = int(d["video"] is not None)
    return d


def by_id(records: list[Record]) -> dict[str, Record]:
    return {r.id: r for r in records}


# -- records and templates ------------------------------------------------------------------------------


def test_record_jsonl_roundtrip(tmp_path):
    records = [Record("a", "hpd", "image_gen", "pair", "p", "Image 1 is better than Image 2.",
                      images=("media/hpd/x.png", "media/hpd/y.png"), order="chosen_first"),
               Record("b", "lift_hra", "video_gen", "point", "q", "Good.", video="media/lift_hra/v.mp4")]
    write_records(tmp_path / "r.jsonl", records)
    assert list(read_records(tmp_path / "r.jsonl")) == records
    with pytest.raises(ValueError):
        Record("c", "x", "image_gen", "point", "p", "a", order="chosen_first")  # points have no order
    with pytest.raises(ValueError):
        Record.from_json({**records[0].to_json(), "extra": 1})


def test_templates_are_the_paper_figures_word_for_word():
    if not PAPER.exists():
        pytest.skip("shared/paper not available")
    paper = PAPER.read_text(encoding="utf-8")

    def figure(title: str) -> str:
        body = paper[paper.index("## " + title):].split("### User:", 1)[1]
        return re.split(r"\n## |\nFigure \d+\.", body, maxsplit=1)[0]

    def words(text: str) -> list[str]:
        text = text.replace("**", "").replace("[{", "{").replace("}]", "}")
        return re.sub(r"\{\s*caption\s*\}", "{caption}", text).split()

    for name, title in [(IMAGE_GEN_PAIR, "Image Generation Pair Ranking Prompt"),
                        (IMAGE_GEN_POINT, "Image Generation Point Scoring Prompt"),
                        (IMAGE_GEN_POINT_REASON, "Image Generation Point Scoring with Reason Prompt"),
                        (VIDEO_GEN_PAIR, "Video Generation Pair Ranking Prompt"),
                        (VIDEO_GEN_POINT, "Video Generation Point Scoring Prompt"),
                        (VIDEO_UND_PAIR, "Video Understanding Pair Ranking Prompt"),
                        (VIDEO_UND_POINT, "Video Understanding Point Scoring Prompt")]:
        assert words(template(name)) == words(figure(title)), name
        assert "<image>" not in template(name) and "\n\n" not in template(name)


# -- one test per source --------------------------------------------------------------------------------


def test_evalmuse_mean_scores_two_of_three_elements_and_highest_vs_lowest(tmp_path):
    src = fixture("evalmuse", tmp_path)
    records, report, out = run(tmp_path, [{"name": "evalmuse_pair", "path": str(src)},
                                          {"name": "evalmuse_point", "path": str(src / "train_list.json")}])
    caption = "A red cube on a blue sphere"
    reason = fill(IMAGE_GEN_POINT_REASON, {"caption": caption})
    assert reason.endswith("Text Caption: [A red cube on a blue sphere]")
    expected_points = {
        # [5,4,3] -> 4; cube [1,1,0] -> 1 (two agree), red [1,0,0] -> 0, sphere [1,1,1] -> 1
        "evalmuse_point:SDXL/00001.png": (reason, "cube (object): 1\nred (color): 0\nsphere (object): 1\n"
                                                  "Final Score: 4"),
        "evalmuse_point:DALLE3/00001.png": (reason, "cube (object): 0\nred (color): 1\nsphere (object): 1\n"
                                                    "Final Score: 2.33"),
        "evalmuse_point:MJ/00001.png": (fill(IMAGE_GEN_POINT, {"caption": caption}), "Final Score: 4"),
        "evalmuse_point:SDXL/00002.png": (fill(IMAGE_GEN_POINT_REASON, {"caption": "Two cats sleeping on a sofa"}),
                                          "cats (animal): 1\ntwo (count): 0\nFinal Score: 3"),
        "evalmuse_point:DALLE3/00002.png": (fill(IMAGE_GEN_POINT_REASON, {"caption": "Two cats sleeping on a sofa"}),
                                            "cats (animal): 1\ntwo (count): 1\nFinal Score: 3"),
        "evalmuse_point:SDXL/00003.png": (fill(IMAGE_GEN_POINT_REASON, {"caption": "A lighthouse at dusk"}),
                                          "lighthouse (object): 0\nFinal Score: 1.33"),
    }
    points = [r for r in records if r.kind == "point"]
    assert [r.id for r in points] == list(expected_points)
    for r in points:
        assert fields(r) == {"id": r.id, "source": "evalmuse_point", "task": "image_gen", "kind": "point",
                             "images": 1, "frames": 0, "video": 0, "prompt": expected_points[r.id][0],
                             "answer": expected_points[r.id][1], "order": None}
        assert same_bytes(out, r.images, [src / r.id.split(":", 1)[1]])
    # Pair: one per prompt; 00001: SDXL (4.0, first of the tied highest, before MJ's 4.0) vs DALLE3 (2.33).
    # 00002: both means 3 -> no pair; 00003: one image -> no pair.
    (pair,) = [r for r in records if r.kind == "pair"]
    assert fields(pair) == {"id": "evalmuse_pair:00001", "source": "evalmuse_pair", "task": "image_gen",
                            "kind": "pair", "images": 2, "frames": 0, "video": 0,
                            "prompt": fill(IMAGE_GEN_PAIR, {"caption": caption}),
                            "answer": "Image 1 is better than Image 2.", "order": "chosen_first"}
    assert same_bytes(out, pair.images, [src / "SDXL/00001.png", src / "DALLE3/00001.png"])
    pair_report = report.sources[0]
    assert (pair_report.rows, pair_report.converted, pair_report.records) == (6, 1, 1)
    assert pair_report.dropped == {"equal_scores": 1, "single_image": 1}


def test_hpd_more_votes_wins_and_a_tie_is_dropped_and_counted(tmp_path):
    src = fixture("hpd", tmp_path)
    records, report, out = run(tmp_path, [{"name": "hpd", "path": str(src)}])
    assert [r.id for r in records] == ["hpd:0", "hpd:1"]
    assert all(r.answer == "Image 1 is better than Image 2." and r.order == "chosen_first" for r in records)
    assert records[0].prompt == fill(IMAGE_GEN_PAIR, {"caption": "a cozy wooden cabin in deep snow at night"})
    assert same_bytes(out, records[0].images, [src / "images/0_flux.png", src / "images/0_dalle.png"])  # 10 > 3
    assert same_bytes(out, records[1].images, [src / "images/1_mj.png", src / "images/1_sd3.png"])  # 2 < 7
    (hpd,) = report.sources
    assert (hpd.rows, hpd.converted, hpd.records, hpd.dropped) == (3, 2, 2, {"vote_tie": 1})
    saved = json.loads((out / "build.json").read_text())
    assert saved["sources"]["hpd"]["dropped"] == {"vote_tie": 1} and saved["total_records"] == 2


def test_hpd_embedded_images_from_parquet_and_a_null_image_names_row_and_field(tmp_path):
    import datasets

    src = fixture("hpd", tmp_path)
    rows = [json.loads(line) for line in (src / "data.jsonl").read_text().splitlines()]
    for row in rows:
        for key in ("image1", "image2"):
            row[key] = {"bytes": (src / row[key]).read_bytes(), "path": None}
    features = datasets.Features({"prompt": datasets.Value("string"), "image1": datasets.Image(),
                                  "image2": datasets.Image(), "votes_image1": datasets.Value("int64"),
                                  "votes_image2": datasets.Value("int64")})
    columns = {k: [r[k] for r in rows] for k in features}
    datasets.Dataset.from_dict(columns, features=features).to_parquet(str(tmp_path / "train_0001.parquet"))
    records, _, out = run(tmp_path, [{"name": "hpd", "path": str(tmp_path / "train_0001.parquet")}])
    assert [r.id for r in records] == ["hpd:0", "hpd:1"]
    assert same_bytes(out, records[1].images, [src / "images/1_mj.png", src / "images/1_sd3.png"])
    assert all(p.startswith("media/hpd/") and p.endswith(".png") for p in records[0].images)

    columns["image1"][1] = None
    datasets.Dataset.from_dict(columns, features=features).to_parquet(str(tmp_path / "bad.parquet"))
    with pytest.raises(RowError, match=r"hpd: row 1 \(bad.parquet\[1\]\): field 'image1': missing"):
        run(tmp_path, [{"name": "hpd", "path": str(tmp_path / "bad.parquet")}])


def test_oip_pairs_as_released(tmp_path):
    src = fixture("oip", tmp_path)
    records, _, out = run(tmp_path, [{"name": "oip", "path": str(src / "data.jsonl")}])
    assert [r.id for r in records] == ["oip:1258", "oip:77"]
    assert records[1].prompt == fill(IMAGE_GEN_PAIR, {"caption": "A macro photograph of dew on a spider web"})
    assert same_bytes(out, records[0].images, [src / "images/1258_dev.jpg", src / "images/1258_sd.jpg"])
    assert same_bytes(out, records[1].images, [src / "images/77_sd.jpg", src / "images/77_dev.jpg"])


def test_llava_critic_keeps_its_template_and_reasons_and_its_own_order(tmp_path):
    src = fixture("llava_critic", tmp_path)
    records, _, out = run(tmp_path, [{"name": "llava_critic_pair", "path": str(src)},
                                     {"name": "llava_critic_point", "path": str(src)}], order="swap")
    pair = by_id(records)["llava_critic_pair:vlfeedback_0001"]
    assert pair.prompt.startswith("You are a careful judge") and "<image>" not in pair.prompt
    assert pair.prompt.endswith("The second response: [There are two chairs.]\nASSISTANT:")
    assert pair.answer.endswith("Therefore, Response 1 is better than Response 2.")
    assert pair.order is None and pair.task == "image_und"  # the order is in the text: never swapped
    point = by_id(records)["llava_critic_point:llava_in_the_wild_0003"]
    assert point.answer.endswith("Rating: 7") and point.kind == "point"
    assert same_bytes(out, point.images, [src / "images/kitchen.jpg"])
    assert same_bytes(out, pair.images, [src / "images/kitchen.jpg"])
    assert pair.images[0].startswith("media/llava_critic_pair/")
    assert point.images[0].startswith("media/llava_critic_point/")


def test_videodpo_label_picks_the_winner_and_each_video_becomes_sampled_frames(tmp_path):
    from harness.media import load_media
    from harness.records import MediaRef

    src = fixture("videodpo", tmp_path)
    records, _, out = run(tmp_path, [{"name": "videodpo", "path": str(src)}], frames_per_video=2)
    assert [fields(r) for r in records] == [
        {"id": "videodpo:0", "source": "videodpo", "task": "video_gen", "kind": "pair", "images": 0,
         "frames": 4, "video": 0,
         "prompt": fill(VIDEO_GEN_PAIR, {"caption": "a golden retriever running on a beach at sunset"}),
         "answer": "Video 1 is better than Video 2.", "order": "chosen_first"},
        {"id": "videodpo:1", "source": "videodpo", "task": "video_gen", "kind": "pair", "images": 0,
         "frames": 4, "video": 0,
         "prompt": fill(VIDEO_GEN_PAIR, {"caption": "a paper boat floating down a rainy street"}),
         "answer": "Video 1 is better than Video 2.", "order": "chosen_first"}]

    def sampled(video: str) -> list[bytes]:  # linspace(0, total - 1, 2): the first and the last frame
        ref = MediaRef("video", video, path=src / video, frames=2, sampling="linspace")
        return [f.data for f in load_media(ref).frames]

    def stored(record: Record) -> list[bytes]:
        return [(out / p).read_bytes() for p in record.frames]

    # metadata clip paths are the authors' absolute paths: found by their last two parts (winvideos/000001.mp4)
    assert stored(records[0]) == sampled("winvideos/000001.mp4") + sampled("losevideos/000001.mp4")
    # pair 1: video1 = losevideos, video2 = winvideos, label 1 -> video2 preferred, shown first
    assert stored(records[1]) == sampled("winvideos/000002.mp4") + sampled("losevideos/000002.mp4")
    (src / "losevideos/000002.mp4").write_bytes(b"not a video")
    with pytest.raises(RowError, match=r"videodpo: row 1 .*field 'video1': unreadable video"):
        run(tmp_path, [{"name": "videodpo", "path": str(src)}], frames_per_video=2)


def test_lift_hra_keeps_question_and_reason_and_rejects_unknown_ratings(tmp_path):
    src = fixture("lift_hra", tmp_path)
    records, _, out = run(tmp_path, [{"name": "lift_hra", "path": str(src)}])
    assert [(r.id, r.answer) for r in records] == [("lift_hra:0", "Good. The cat and the piano match the caption."),
                                                   ("lift_hra:1", "Bad. The cat's front paws merge into the keys.")]
    assert records[1].prompt == ("A cat plays a grand piano on a stage. Please identify the fidelity issues in "
                                 "this video, assessing the realism of the content.")
    assert records[0].video and (out / records[0].video).read_bytes() == (src / "videos/cat_piano.mp4").read_bytes()
    rows = json.loads((src / "LiFT-HRA-data.json").read_text())
    rows[1]["conversations"][1]["value"] = "Excellent. Flawless."
    (src / "LiFT-HRA-data.json").write_text(json.dumps(rows))
    with pytest.raises(RowError, match=r"lift_hra: row 1 .*field 'conversations\[1\]\.value': unknown label"):
        run(tmp_path, [{"name": "lift_hra", "path": str(src)}])


def test_videofeedback_five_aspects_and_rounded_final_score(tmp_path):
    src = fixture("videofeedback", tmp_path)
    records, _, out = run(tmp_path, [{"name": "videofeedback", "path": str(src)}])
    assert [fields(r) for r in records] == [
        {"id": "videofeedback:1001", "source": "videofeedback", "task": "video_gen", "kind": "point", "images": 0,
         "frames": 2, "video": 0,
         "prompt": fill(VIDEO_GEN_POINT, {"caption": "a hot air balloon over snowy mountains"}),
         "answer": "visual quality: 4\ntemporal consistency: 4\ndynamic degree: 3\ntext-to-video alignment: 1\n"
                   "factual consistency: 2\nFinal Score: 3", "order": None},  # Fig. 10's own example: 2.8 -> 3
        {"id": "videofeedback:1002", "source": "videofeedback", "task": "video_gen", "kind": "point", "images": 0,
         "frames": 1, "video": 0, "prompt": fill(VIDEO_GEN_POINT, {"caption": "a robot watering plants"}),
         "answer": "visual quality: 2\ntemporal consistency: 2\ndynamic degree: 2\ntext-to-video alignment: 3\n"
                   "factual consistency: 3\nFinal Score: 2", "order": None}]  # 2.4 -> 2
    assert same_bytes(out, records[0].frames, [src / "frames_annotated/1001/1001_00.jpg",
                                               src / "frames_annotated/1001/1001_01.jpg"])


def test_sharegptvideo_pairs_and_per_response_points(tmp_path):
    src = fixture("sharegptvideo", tmp_path)
    records, _, out = run(tmp_path, [{"name": "sharegptvideo_pair", "path": str(src)},
                                     {"name": "sharegptvideo_point", "path": str(src)}])
    pair = by_id(records)["sharegptvideo_pair:v_kitchen_0"]
    assert pair.prompt == fill(VIDEO_UND_PAIR, {"question": "What is the man doing at the counter?",
                                                "R1": "The man is chopping onions on a cutting board.",
                                                "R2": "The man is washing dishes in the sink."})
    assert pair.answer == "Response 1 is better than Response 2." and pair.order == "chosen_first"
    frames = [src / "v_kitchen" / f for f in ("frame_1.jpg", "frame_2.jpg", "frame_10.jpg")]  # natural order
    assert same_bytes(out, pair.frames, frames)
    points = [(r.id, r.answer) for r in records if r.kind == "point"]
    assert points == [("sharegptvideo_point:v_kitchen_0:chosen", "Final Score: 5"),
                      ("sharegptvideo_point:v_kitchen_0:rejected", "Final Score: 2"),
                      ("sharegptvideo_point:v_park_1:chosen", "Final Score: 4"),
                      ("sharegptvideo_point:v_park_1:rejected", "Final Score: 1.5")]
    rejected = by_id(records)["sharegptvideo_point:v_park_1:rejected"]
    assert rejected.prompt == fill(VIDEO_UND_POINT, {"question": "How many dogs appear in the video?",
                                                     "response": "There are three dogs."})
    assert len(records) == 2 + 4


# -- order balance --------------------------------------------------------------------------------------


def many_oip_rows(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / "oip_many"
    write_image(folder / "a.png")
    write_image(folder / "b.png")
    with open(folder / "data.jsonl", "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"r{i}", "prompt": f"prompt {i}", "chosen": "a.png", "rejected": "b.png"}) + "\n")
    return folder


def test_order_swap_is_seeded_and_about_half_both_doubles_chosen_first_keeps(tmp_path):
    folder = many_oip_rows(tmp_path, 400)
    swap, report, out = run(tmp_path, [{"name": "oip", "path": str(folder)}], order="swap")
    swapped = [r for r in swap if r.order == "chosen_second"]
    assert 160 <= len(swapped) <= 240 and report.sources[0].chosen_second == len(swapped)
    assert {r.id for r in swapped} == {f"oip:r{i}" for i in range(400) if chosen_second(0, f"oip:r{i}")}
    for r in swap:
        first, second = ("a", "b") if r.order == "chosen_first" else ("b", "a")
        assert r.answer == ("Image 1 is better than Image 2." if r.order == "chosen_first"
                            else "Image 2 is better than Image 1.")
        assert same_bytes(out, r.images, [folder / f"{first}.png", folder / f"{second}.png"])
    again, _, out2 = run(tmp_path, [{"name": "oip", "path": str(folder)}], order="swap")
    assert (out / "records.jsonl").read_bytes() == (out2 / "records.jsonl").read_bytes()
    other_seed, _, _ = run(tmp_path, [{"name": "oip", "path": str(folder)}], order="swap", seed=1)
    assert [r.order for r in other_seed] != [r.order for r in swap]

    both, report, _ = run(tmp_path, [{"name": "oip", "path": str(folder)}], order="both")
    assert len(both) == 800 and report.sources[0].sampled == 400 and report.sources[0].chosen_second == 400
    assert [r.id for r in both[:2]] == ["oip:r0:chosen_first", "oip:r0:chosen_second"]
    assert [r.answer for r in both[:2]] == ["Image 1 is better than Image 2.", "Image 2 is better than Image 1."]
    assert both[0].images == both[1].images[::-1]

    kept, _, _ = run(tmp_path, [{"name": "oip", "path": str(folder)}], order="chosen_first")
    assert {r.order for r in kept} == {"chosen_first"}


def test_random_sampling_is_seeded_and_swaps_do_not_depend_on_it(tmp_path):
    folder = many_oip_rows(tmp_path, 50)
    src = [{"name": "oip", "path": str(folder), "sampling": "random:10"}]
    first, report, _ = run(tmp_path, src, order="swap")
    second, _, _ = run(tmp_path, src, order="swap")
    other, _, _ = run(tmp_path, src, order="swap", seed=7)
    assert len(first) == 10 and report.sources[0].converted == 50 and report.sources[0].sampled == 10
    assert [r.id for r in first] == [r.id for r in second] != [r.id for r in other]
    assert [r.id for r in first] == sorted((r.id for r in first), key=lambda i: int(i.split(":r")[1]))
    full = by_id(run(tmp_path, [{"name": "oip", "path": str(folder)}], order="swap")[0])
    assert all(full[r.id].order == r.order for r in first)
    head, _, _ = run(tmp_path, [{"name": "oip", "path": str(folder), "sampling": "first:3"}])
    assert [r.id for r in head] == ["oip:r0", "oip:r1", "oip:r2"]
    share, _, _ = run(tmp_path, [{"name": "oip", "path": str(folder), "sampling": "random:20%"}])
    assert len(share) == 10
    big, _, _ = run(tmp_path, [{"name": "oip", "path": str(folder), "sampling": "random:500"}])
    assert len(big) == 50


# -- manifest validation --------------------------------------------------------------------------------


def write_manifest(tmp_path: Path, data) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("data, message", [
    ({"sede": 0, "sources": [{"name": "hpd", "hub": "x/y"}]}, r"bad.yaml: unknown key 'sede'"),
    ({"sources": []}, r"bad.yaml: 'sources' must be a non-empty list"),
    ({"seed": 0}, r"bad.yaml: 'sources' must be a non-empty list"),
    ({"sources": [{"name": "hpdv2", "hub": "x/y"}]},
     r"sources\[0\] \(hpdv2\): name: unknown source 'hpdv2'; valid names: "),
    ({"sources": [{"name": "hpd", "hub": "x/y", "sampling_strategy": "all"}]},
     r"sources\[0\] \(hpd\): unknown key 'sampling_strategy'"),
    ({"sources": [{"name": "hpd"}]}, r"give exactly one of 'path'"),
    ({"sources": [{"name": "hpd", "hub": "x/y", "path": "z"}]}, r"give exactly one of 'path'"),
    ({"sources": [{"name": "evalmuse_pair", "hub": "DY-Evalab/EvalMuse"}]}, r"cannot be loaded with datasets"),
    ({"sources": [{"name": "hpd", "path": "z", "revision": "abc"}]}, r"'revision' only applies to 'hub'"),
    ({"sources": [{"name": "hpd", "hub": "x/y", "sampling": "random:ten"}]}, r"sampling 'random:ten'"),
    ({"order": "random", "sources": [{"name": "hpd", "hub": "x/y"}]}, r"order 'random' is not one of"),
    ({"sources": [{"name": "hpd", "hub": "x/y"}, {"name": "hpd", "hub": "x/z"}]}, r"'hpd' is listed 2 times"),
])
def test_manifest_errors_name_the_file_and_the_key(tmp_path, data, message):
    with pytest.raises(UsageError, match=message):
        load_manifest(write_manifest(tmp_path, data))


def test_example_manifest_reproduces_the_paper_mixture():
    manifest = load_manifest(EXAMPLE_MANIFEST)
    assert [s.name for s in manifest.sources] == list(SOURCES)
    assert manifest.order == "swap"
    counts = {s.name: str(s.sampling) for s in manifest.sources}
    assert counts["llava_critic_pair"] == counts["llava_critic_point"] == "random:25000"
    paper = sum(float(SOURCES[n].paper_count.rstrip("K")) for n in SOURCES)
    assert round(paper, 1) == 236.3


def test_build_refuses_a_built_directory_and_a_missing_path(tmp_path):
    src = fixture("oip", tmp_path)
    _, _, out = run(tmp_path, [{"name": "oip", "path": str(src)}])
    manifest = write_manifest(tmp_path, {"sources": [{"name": "oip", "path": str(src)}]})
    with pytest.raises(UsageError, match="already holds a built dataset"):
        build(manifest, out)
    missing = write_manifest(tmp_path, {"sources": [{"name": "oip", "path": "nowhere"}]})
    with pytest.raises(UsageError, match="oip: path .*nowhere does not exist"):
        build(missing, tmp_path / "fresh")


# -- bad rows -------------------------------------------------------------------------------------------


def test_bad_rows_name_source_row_and_field_or_are_counted_under_skip_bad_rows(tmp_path):
    hpd = fixture("hpd", tmp_path)
    (hpd / "images/1_sd3.png").unlink()  # row 1's image1 is gone
    evalmuse = fixture("evalmuse", tmp_path)
    rows = json.loads((evalmuse / "train_list.json").read_text())
    del rows[1]["total_score"]  # DALLE3/00001.png has no score
    rows[3]["element_score"]["two (count)"] = [0, 2, 0]  # an unknown label
    (evalmuse / "train_list.json").write_text(json.dumps(rows))

    with pytest.raises(RowError) as err:
        run(tmp_path, [{"name": "hpd", "path": str(hpd)}])
    assert isinstance(err.value, UsageError)
    assert str(err.value).startswith("hpd: row 1 (data.jsonl line 2): field 'image1': file not found")
    with pytest.raises(RowError, match=r"evalmuse_point: row 1 \(train_list.json \[1\]\): field 'total_score': "
                                       r"missing"):
        run(tmp_path, [{"name": "evalmuse_point", "path": str(evalmuse)}])

    records, report, out = run(tmp_path, [{"name": "hpd", "path": str(hpd)},
                                          {"name": "evalmuse_point", "path": str(evalmuse)},
                                          {"name": "evalmuse_pair", "path": str(evalmuse)}], skip_bad_rows=True)
    reports = {s.name: s for s in report.sources}
    assert (reports["hpd"].skipped, reports["hpd"].records, reports["hpd"].dropped) == (1, 1, {"vote_tie": 1})
    assert reports["evalmuse_point"].skipped == 2 and reports["evalmuse_point"].records == 4
    assert reports["evalmuse_point"].skipped_by_field == {"total_score": 1, "element_score['two (count)']": 1}
    # Left for pairs: 00001 SDXL 4.0 and MJ 4.0 (equal, no pair); 00002 DALLE3 alone; 00003 alone.
    assert reports["evalmuse_pair"].records == 0
    assert reports["evalmuse_pair"].dropped == {"equal_scores": 1, "single_image": 2}
    saved = json.loads((out / "build.json").read_text())["sources"]["evalmuse_point"]
    assert saved["skipped"] == 2 and "unknown label 2" in saved["skipped_examples"][1]
    assert "2 bad rows skipped" in report.summary()


# -- statistics -----------------------------------------------------------------------------------------


def test_stats_renders_the_table_2_mixture(tmp_path):
    evalmuse, hpd = fixture("evalmuse", tmp_path), fixture("hpd", tmp_path)
    _, _, out = run(tmp_path, [{"name": "evalmuse_pair", "path": str(evalmuse)},
                               {"name": "hpd", "path": str(hpd)},
                               {"name": "evalmuse_point", "path": str(evalmuse)}])
    assert stats(out) == (
        "| Task | Method | Dataset | Source | Size | Share |\n"
        "|---|---|---|---|---:|---:|\n"
        "| Image Generation | Pair | EvalMuse | `evalmuse_pair` | 1 | 11.1% |\n"
        "| Image Generation | Pair | HPD | `hpd` | 2 | 22.2% |\n"
        "| Image Generation | Point | EvalMuse | `evalmuse_point` | 6 | 66.7% |\n"
        "| **Total** | | | | **9** | 100.0% |\n"
        "\n"
        "| Task | Pair | Point | Total | Share |\n"
        "|---|---:|---:|---:|---:|\n"
        "| Image Generation | 3 | 6 | 9 | 100.0% |\n")
    with pytest.raises(UsageError, match="no records.jsonl"):
        stats(tmp_path / "empty")


# -- hub loading (datasets.load_dataset replaced by a local stand-in: no network here) --------------------


def test_hub_sources_call_load_dataset_with_revision_config_and_every_split(tmp_path, monkeypatch):
    import datasets

    src = fixture("hpd", tmp_path)
    rows = [json.loads(line) for line in (src / "data.jsonl").read_text().splitlines()]
    features = datasets.Features({"prompt": datasets.Value("string"), "image1": datasets.Image(),
                                  "image2": datasets.Image(), "votes_image1": datasets.Value("int64"),
                                  "votes_image2": datasets.Value("int64")})

    def as_split(part: list[dict]) -> datasets.Dataset:
        columns = {k: [({"bytes": (src / r[k]).read_bytes(), "path": None} if k.startswith("image") else r[k])
                       for r in part] for k in features}
        return datasets.Dataset.from_dict(columns, features=features)

    calls = []

    def fake_load_dataset(path, name=None, revision=None, split=None, **kwargs):
        calls.append((path, name, revision, split))
        # HPD keeps its rows in splits train_0001 ... ; given out of order to check they are sorted
        return datasets.DatasetDict({"train_0002": split_two, "train_0001": split_one})

    split_one, split_two = as_split(rows[:1]), as_split(rows[1:])
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    hub = "Rapidata/700k_Human_Preference_Dataset_FLUX_SD3_MJ_DALLE3"
    records, report, out = run(tmp_path, [{"name": "hpd", "hub": hub, "revision": "0123abc"}])
    assert calls == [(hub, None, "0123abc", None)]
    assert [r.id for r in records] == ["hpd:0", "hpd:1"]  # train_0001 first; the tie (train_0002[1]) dropped
    assert same_bytes(out, records[1].images, [src / "images/1_mj.png", src / "images/1_sd3.png"])
    assert report.sources[0].origin == f"{hub}@0123abc" and report.sources[0].dropped == {"vote_tie": 1}

    critic = fixture("llava_critic", tmp_path)
    row = json.loads((critic / "pointwise.jsonl").read_text().splitlines()[0])
    row["image"] = {"bytes": (critic / row["image"]).read_bytes(), "path": None}
    point = datasets.Dataset.from_list([row]).cast_column("image", datasets.Image())
    calls.clear()
    monkeypatch.setattr(datasets, "load_dataset", lambda path, name=None, revision=None, split=None:
                        calls.append((path, name, revision, split)) or point)
    records, _, _ = run(tmp_path, [{"name": "llava_critic_point", "hub": "lmms-lab/llava-critic-113k"}])
    assert calls == [("lmms-lab/llava-critic-113k", "pointwise", None, "train")]
    assert [r.id for r in records] == ["llava_critic_point:llava_in_the_wild_0003"]


def test_a_downloaded_hub_snapshot_folder_reads_the_config_and_split_shards(tmp_path):
    import datasets

    critic = fixture("llava_critic", tmp_path)
    snapshot = tmp_path / "llava-critic-113k"
    for config in ("pairwise", "pointwise"):
        rows = [json.loads(line) for line in (critic / f"{config}.jsonl").read_text().splitlines()]
        for row in rows:
            row["image"] = {"bytes": (critic / row["image"]).read_bytes(), "path": None}
        ds = datasets.Dataset.from_list(rows).cast_column("image", datasets.Image())
        (snapshot / config).mkdir(parents=True)
        ds.to_parquet(str(snapshot / config / "train-00000-of-00001.parquet"))
        ds.select([0]).to_parquet(str(snapshot / config / "test-00000-of-00001.parquet"))  # not read
    records, _, out = run(tmp_path, [{"name": "llava_critic_pair", "path": str(snapshot)}])
    assert [r.id for r in records] == ["llava_critic_pair:vlfeedback_0001", "llava_critic_pair:rlaif_0002"]
    assert same_bytes(out, records[1].images, [critic / "images/street.jpg"])
