"""Scalar scorers: scores from files and from an HTTP scoring service (`scores`), and PickScore on a tiny CLIP."""

from __future__ import annotations

import hashlib
import io
import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.errors import UsageError
from harness.judging import JudgeClient
from harness.records import LoadedMedia, MediaRef, PreparedRequest, Reply, Request
from reward.scores import ScoresAdapter
from reward.scoring_service import ScoringService, dummy_score

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def candidate(item: str, cand: str, label: str, prompt: str, path: Path | None = None) -> Request:
    """A request as the scorer convention has it: the caption, then one medium."""
    return Request(f"{item}:{cand}", item, (prompt, MediaRef("image", label, path=path)),
                   meta={"candidate": cand, "prompt": prompt, "media_label": label, "item_id": item})


def replies(adapter, requests) -> dict[str, Reply]:
    return {e.request.key: e.reply for e in JudgeClient(adapter, None).judge(requests)}


def noise_image(seed: int, size: tuple[int, int] = (24, 20)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def loaded(image: Image.Image, label: str) -> LoadedMedia:
    data = png_bytes(image)
    return LoadedMedia("image", label, hashlib.sha256(data).hexdigest(), data, "image/png")


def prepared(key: str, prompt: str, medium: LoadedMedia) -> PreparedRequest:
    ref = MediaRef(medium.kind, medium.label)
    return PreparedRequest(Request(key, key, (prompt, ref), meta={"candidate": "A", "item_id": key}), (medium,), key)


def video(frames: list[Image.Image], label: str) -> LoadedMedia:
    loaded_frames = tuple(loaded(f, f"{label}#{i}") for i, f in enumerate(frames))
    return LoadedMedia("video", label, "v" * 64, b"", "video/mp4", frames=loaded_frames)


# ---- score files ------------------------------------------------------------------------------------
FILE_REQUESTS = [candidate("s1", "A", "images/s1_a.png", "a red cube"),     # by (id, candidate)
                 candidate("s1", "B", "images/s1_b.png", "a red cube"),     # by media label (./ and \)
                 candidate("s2", "A", "images/shared.png", "a cat"),        # by media + prompt
                 candidate("s2", "B", "images/shared.png", "a dog"),        # by media alone
                 candidate("s3", "A", "images/s3_a.png", "nothing here")]   # no row
EXPECTED = {"s1:A": 0.25, "s1:B": -1.5, "s2:A": 3.0, "s2:B": 7.0}


def check_file_replies(adapter: ScoresAdapter) -> None:
    got = replies(adapter, FILE_REQUESTS)
    assert {k: r.score for k, r in got.items() if r.ok} == EXPECTED
    assert all(r.text is None for r in got.values())
    assert got["s3:A"].error == ("no score for item 's3' candidate 'A' or media 'images/s3_a.png' in "
                                 f"{Path(adapter.args['path']).name}")


def test_jsonl_scores_keyed_by_item_and_by_media(tmp_path):
    rows = [{"id": "s1", "candidate": "a", "score": 0.25}, {"media": "./images/s1_b.png", "score": -1.5},
            {"media": "images\\shared.png", "prompt": "a cat", "score": 3},
            {"media": "images/shared.png", "score": "7.0"}, {"id": "s9", "candidate": "B", "score": 1.0}]
    path = tmp_path / "hpsv2.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    adapter = ScoresAdapter.from_args({"path": str(path), "name": "hpsv2.1"})
    assert adapter.kind == "scorer" and not adapter.needs_media and not adapter.cacheable
    assert adapter.identity() == {"model": "hpsv2.1", "scores_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                  "name": "hpsv2.1"}
    check_file_replies(adapter)


def test_csv_scores_with_both_keyings(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("id,candidate,media,prompt,score\n"
                    "s1,A,,,0.25\n"
                    ",,images/s1_b.png,,-1.5\n"
                    ",,images/shared.png,a cat,3\n"
                    ",,images/shared.png,,7\n")
    check_file_replies(ScoresAdapter(path=str(path)))


def test_bad_scores_are_errors_of_the_requests_they_match(tmp_path):
    path = tmp_path / "scores.jsonl"
    path.write_text('{"id": "s1", "candidate": "A", "score": NaN}\n'
                    '{"id": "s1", "candidate": "B", "score": "Infinity"}\n'
                    '{"media": "images/shared.png", "score": "high"}\n'
                    '{"id": "s3", "candidate": "A"}\n')
    got = replies(ScoresAdapter(path=str(path)), FILE_REQUESTS)
    assert got["s1:A"].error == "scores.jsonl line 1: score nan is not a finite number"
    assert got["s1:B"].error == "scores.jsonl line 2: score 'Infinity' is not a finite number"
    assert got["s2:A"].error == got["s2:B"].error == "scores.jsonl line 3: score 'high' is not a number"
    assert got["s3:A"].error == "scores.jsonl line 4: has no score"
    assert all(r.score is None for r in got.values())
    csv_path = tmp_path / "scores.csv"
    csv_path.write_text("id,candidate,score\ns1,A,nan\ns1,B,abc\n")
    got = replies(ScoresAdapter(path=str(csv_path)), FILE_REQUESTS[:2])
    assert got["s1:A"].error == "scores.csv line 2: score 'nan' is not a finite number"
    assert got["s1:B"].error == "scores.csv line 3: score 'abc' is not a number"


@pytest.mark.parametrize("content, message", [
    ('{"id": "s1", "candidate": "A", "score": 1}\n{"id": "s1", "candidate": "A", "score": 2}\n',
     r"line 2: \('s1', 'A'\) already has a score at scores.jsonl line 1"),
    ('{"id": "s1", "score": 1}\n', "also needs 'candidate'"),
    ('{"score": 1}\n', "needs 'media', or 'id' and 'candidate'"),
    ('{"media": "a.png", "score": 1\n', "line 1: malformed JSON"),
    ("\n", "has no rows"),
])
def test_malformed_score_files_stop_before_any_work(tmp_path, content, message):
    path = tmp_path / "scores.jsonl"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        ScoresAdapter(path=str(path))


def test_argument_errors():
    with pytest.raises(UsageError, match="exactly one of path="):
        ScoresAdapter()
    with pytest.raises(UsageError, match="exactly one of path="):
        ScoresAdapter(path="x.jsonl", url="http://127.0.0.1:9")
    with pytest.raises(UsageError, match="does not exist"):
        ScoresAdapter(path="/nonexistent/scores.jsonl")
    with pytest.raises(UsageError, match="url= needs name="):
        ScoresAdapter(url="http://127.0.0.1:9")


# ---- the scoring service --------------------------------------------------------------------------
def image_requests(tmp_path: Path, n: int) -> tuple[list[Request], dict[str, float]]:
    """n candidates with PNG files on disk, and the dummy scorer's expected score of each."""
    requests, expected = [], {}
    for i in range(n):
        path = tmp_path / f"img{i}.png"
        noise_image(i).save(path)
        request = candidate(f"s{i}", "AB"[i % 2], path.name, f"prompt number {i}" + "!" * i, path=path)
        requests.append(request)
        expected[request.key] = dummy_score(request.text, [Image.open(path).convert("RGB")])
    return requests, expected


def test_service_round_trip_images_and_video(tmp_path):
    requests, expected = image_requests(tmp_path, 6)
    with ScoringService(dummy_score, name="dummy", info={"checkpoint": "none"}) as service:
        adapter = ScoresAdapter.from_args({"url": service.url, "name": "dummy", "concurrency": "3"})
        assert adapter.needs_media and adapter.cacheable and adapter.kind == "scorer"
        assert adapter.identity() == {"model": "dummy", "scorer": "dummy",
                                      "service_info": {"name": "dummy", "checkpoint": "none"}}
        got = replies(adapter, requests)
        frames = [noise_image(10 + i) for i in range(3)]
        clip = prepared("v", "a moving cube", video(frames, "videos/v.mp4"))
        assert adapter.body(clip)["kind"] == "video" and len(adapter.body(clip)["media"]) == 3
        video_reply = next(adapter.generate([clip]))
        adapter.close()
        assert service.stats() == {"requests": 7, "scored": 7, "faults": 0, "bad": 0, "errors": 0}
    assert {k: r.score for k, r in got.items()} == pytest.approx(expected, abs=1e-12)
    assert all(r.ok and r.attempts == 1 for r in got.values())
    assert video_reply.score == pytest.approx(dummy_score("a moving cube", frames), abs=1e-12)


def test_service_faults_are_retried_and_bounded(tmp_path):
    requests, expected = image_requests(tmp_path, 4)
    with ScoringService(dummy_score, name="dummy", fail_first=5) as service:
        adapter = ScoresAdapter(url=service.url, name="dummy", concurrency=2, max_retries=5, backoff=0.001)
        got = replies(adapter, requests)
        adapter.close()
        assert service.stats()["faults"] == 5 and service.stats()["scored"] == 4
    assert {k: r.score for k, r in got.items()} == pytest.approx(expected, abs=1e-12)
    assert sum(r.attempts for r in got.values()) == 9
    with ScoringService(dummy_score, name="dummy", fail_first=1000) as service:
        adapter = ScoresAdapter(url=service.url, name="dummy", max_retries=2, backoff=0.001)
        got = replies(adapter, requests[:2])
        bad = PreparedRequest(Request("bad", "bad", ("p", MediaRef("image", "x.png"))),
                              (LoadedMedia("image", "x.png", "0" * 64, b"not an image", "image/png"),), "h")
        service.fail_first = 0
        refused = next(adapter.generate([bad]))  # an undecodable image: HTTP 400, not retried
        adapter.close()
    assert all(r.attempts == 3 and "HTTP 500" in r.error and r.error.endswith("(gave up after 3 attempts)")
               for r in got.values())
    assert refused.attempts == 1 and refused.error.startswith("HTTP 400") and "cannot decode the image" in refused.error


def test_service_refusing_connections_or_serving_another_scorer_fails_at_start():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UsageError, match=f"scores: cannot reach {url} .*Connection refused"):
        ScoresAdapter.from_args({"url": url, "name": "hpsv2.1"})
    with ScoringService(dummy_score, name="hpsv2.0") as service:
        with pytest.raises(UsageError, match="serves scorer 'hpsv2.0', not name='hpsv2.1'"):
            ScoresAdapter(url=service.url, name="hpsv2.1")


def test_service_module_runs_standalone_without_heavy_imports(tmp_path):
    heavy = "torch transformers aiohttp numpy harness".split()
    probe = subprocess.run([sys.executable, "-c", "import sys, reward.scoring_service; "
                            f"print([m for m in {heavy!r} if m in sys.modules])"],
                           cwd=ROOT, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"
    proc = subprocess.Popen([sys.executable, "-m", "reward.scoring_service", "--dummy", "--port", "0",
                             "--name", "dummy-cli"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = line.rsplit(" on ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")
        requests, expected = image_requests(tmp_path, 2)
        adapter = ScoresAdapter(url=url, name="dummy-cli")
        got = replies(adapter, requests)
        adapter.close()
        assert {k: r.score for k, r in got.items()} == pytest.approx(expected, abs=1e-12)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---- PickScore on a tiny CLIP -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> tuple[Path, Path]:
    """(checkpoint dir, processor dir) of a random 2-layer CLIP (reward.testing.tiny_models.save_tiny_clip)."""
    pytest.importorskip("transformers")
    from reward.testing.tiny_models import save_tiny_clip

    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


def hand_scores(model_dir: Path, processor_dir: Path, pairs: list[tuple[str, Image.Image]]) -> list[float]:
    """PickScore computed by hand from the towers and projections, one pair at a time."""
    import torch
    from transformers import AutoTokenizer, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    model = CLIPModel.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(processor_dir)
    image_processor = CLIPImageProcessorPil.from_pretrained(processor_dir)
    out = []
    with torch.no_grad():
        for prompt, image in pairs:
            ids = tokenizer([prompt], return_tensors="pt")
            pixels = image_processor(images=[image], return_tensors="pt")["pixel_values"]
            text = model.text_projection(model.text_model(input_ids=ids["input_ids"]).pooler_output)[0]
            vision = model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)[0]
            score = model.logit_scale.exp() * torch.dot(text / text.norm(), vision / vision.norm())
            forward = model(input_ids=ids["input_ids"], pixel_values=pixels).logits_per_image[0, 0]
            assert abs(score.item() - forward.item()) < 1e-5  # the same quantity as CLIP's own logits
            out.append(score.item())
    return out


PAIRS = [("a red cube on a table", 0), ("cat", 1), ("a photo of a cat on a mat and a dog beside it", 2),
         ("cat", 3), ("the image shows a dog", 4)]


def test_pickscore_equals_the_hand_computation_and_batching_changes_nothing(tiny_clip):
    from reward.pickscore import PickScoreAdapter

    model_dir, processor_dir = tiny_clip
    images = {seed: noise_image(seed, (20 + seed * 7, 18 + seed * 3)) for _, seed in PAIRS}
    requests = [prepared(f"k{i}", prompt, loaded(images[seed], f"img{seed}.png")) for i, (prompt, seed) in
                enumerate(PAIRS)]
    expected = hand_scores(model_dir, processor_dir, [(p, images[s]) for p, s in PAIRS])
    got = {}
    for batch_size in (1, 4):
        adapter = PickScoreAdapter.from_args({"pretrained": str(model_dir), "processor": str(processor_dir),
                                              "batch_size": str(batch_size)})
        got[batch_size] = {r.key: r.score for r in adapter.generate(requests)}
    assert "torchvision" not in sys.modules
    assert type(adapter.image_processor).__name__ == "CLIPImageProcessorPil"
    for i, score in enumerate(expected):
        assert abs(got[1][f"k{i}"] - score) < 1e-5 and abs(got[4][f"k{i}"] - score) < 1e-5
    assert len({round(s, 4) for s in expected}) == len(expected)  # distinct scores: the check has teeth
    identity = adapter.identity()
    assert identity["revision"].startswith("local:") and identity["dtype"] == "torch.float32"


def test_pickscore_video_is_the_mean_of_its_frames(tiny_clip):
    from reward.pickscore import PickScoreAdapter

    model_dir, processor_dir = tiny_clip
    frames = [noise_image(20 + i) for i in range(3)]
    adapter = PickScoreAdapter(str(model_dir), processor=str(processor_dir), batch_size=2)
    one_by_one = [r.score for r in adapter.generate(
        [prepared(f"f{i}", "a moving cube", loaded(f, f"f{i}.png")) for i, f in enumerate(frames)])]
    clip = prepared("v", "a moving cube", video(frames, "videos/v.mp4"))
    image = prepared("i", "a still cube", loaded(noise_image(30), "i.png"))
    got = {r.key: r for r in adapter.generate([image, clip])}  # a 3-frame video in a batch of 2 images
    assert got["v"].score == pytest.approx(sum(one_by_one) / 3, abs=1e-5)
    assert got["i"].ok and math.isfinite(got["i"].score)


def test_pickscore_in_bfloat16_stays_close_to_float32(tiny_clip):
    from reward.pickscore import PickScoreAdapter

    model_dir, processor_dir = tiny_clip
    requests = [prepared(f"k{i}", prompt, loaded(noise_image(seed), "x.png")) for i, (prompt, seed) in enumerate(PAIRS)]
    scores = {}
    for dtype in ("float32", "bfloat16"):
        adapter = PickScoreAdapter(str(model_dir), processor=str(processor_dir), dtype=dtype)
        assert adapter.identity()["dtype"] == f"torch.{dtype}"
        scores[dtype] = [r.score for r in adapter.generate(requests)]
    scale = max(abs(s) for s in scores["float32"])
    assert all(abs(a - b) < 0.05 * scale for a, b in zip(scores["float32"], scores["bfloat16"]))


def test_pickscore_refuses_other_checkpoints(tmp_path, tiny_clip):
    from reward.pickscore import PickScoreAdapter

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    with pytest.raises(UsageError, match="is a 'qwen2_vl' checkpoint; PickScore is a 'clip' one"):
        PickScoreAdapter(str(tmp_path))
    with pytest.raises(UsageError, match="processor=.*cannot load"):
        PickScoreAdapter(str(tiny_clip[0]), processor=str(tmp_path / "missing"))


# ---- end to end: a pairwise task judged by scores ------------------------------------------------------
def genai_images(root: Path, votes: list[str]) -> Path:
    """A GenAI-Bench image-generation directory: one caption and two PNG candidates per vote."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "image_generation.jsonl", "w") as f:
        for i, vote in enumerate(votes):
            for j, side in enumerate(("left", "right")):
                (root / "img").mkdir(exist_ok=True)
                noise_image(2 * i + j).save(root / f"img/{i}_{side}.png")
            f.write(json.dumps({"idx": i, "prompt": f"a cat number {i}", "vote_type": vote,
                                "left_image": f"img/{i}_left.png", "right_image": f"img/{i}_right.png"}) + "\n")
    return root


def run_cli(tmp_path: Path, data: Path, model_args: str, out: str) -> tuple[int, dict, dict]:
    from harness.cli import main

    from .conftest import only_run_dir, read_jsonl

    code = main(["run", "--tasks", "genai_bench_image", "--model", "scores", "--model-args", model_args,
                 "--data-dir", str(data), "--output", str(tmp_path / out)])
    if code != 0:
        return code, {}, {}
    run_dir = only_run_dir(tmp_path / out)
    results = json.loads((run_dir / "results.json").read_text())
    return code, results, {r["id"]: r for r in read_jsonl(run_dir / "genai_bench_image.samples.jsonl")}


def test_cli_genai_bench_from_a_score_file_and_from_the_service(tmp_path):
    data = genai_images(tmp_path / "d", ["leftvote", "rightvote", "tievote"])
    scores = tmp_path / "scores.jsonl"
    scores.write_text("\n".join(json.dumps(r) for r in [
        {"id": "0", "candidate": "A", "score": 2.0}, {"id": "0", "candidate": "B", "score": 1.0},
        {"media": "img/1_left.png", "score": 0.5}, {"media": "img/1_right.png", "score": 0.9},
        {"media": "img/2_left.png", "score": float("nan")}, {"media": "img/2_right.png", "score": 0.1}]) + "\n")
    code, results, records = run_cli(tmp_path, data, f"path={scores}", "file-runs")
    assert code == 0
    assert results["tasks"]["genai_bench_image"]["metrics"]["accuracy_without_ties"] == 100.0
    assert records["0"]["outcome"]["margin"] == 1.0 and records["1"]["outcome"]["margin"] == pytest.approx(-0.4)
    assert records["2"]["status"] == "error" and "scores.jsonl line 5: score nan is not a finite number" in \
        records["2"]["reason"]
    assert results["model"]["scores_sha256"] == hashlib.sha256(scores.read_bytes()).hexdigest()

    with ScoringService(dummy_score, name="dummy") as service:
        args = f"url={service.url},name=dummy"
        code, results, records = run_cli(tmp_path, data, args, "service-runs")
        assert code == 0 and service.stats()["scored"] == 6
        code, again, _ = run_cli(tmp_path, data, args, "service-runs-2")  # every answer from the cache
        assert code == 0 and service.stats()["requests"] == 6
    assert results["tasks"]["genai_bench_image"]["counts"] == {"n": 3, "n_invalid": 0, "n_error": 0}
    for i in range(3):
        left, right = (Image.open(data / f"img/{i}_{s}.png").convert("RGB") for s in ("left", "right"))
        assert records[str(i)]["outcome"]["scores"] == pytest.approx(
            {"A": dummy_score(f"a cat number {i}", [left]), "B": dummy_score(f"a cat number {i}", [right])})
    assert again["tasks"] == results["tasks"]
