"""The worked example of docs/extending.md, run for real: a pairwise image benchmark in one module
(tests/example_benchmark/image_pairs.py) judged by a scripted judge and by a score file, and the doc kept
equal to the code it shows."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.registry import TASKS
from harness.runner import RunOptions, run
from reward.scripted import ScriptedAdapter
from tests.example_benchmark.image_pairs import ImagePairs
from tasks.pairwise import seeded_swap

from .conftest import install_entry_point, read_jsonl, write_image

EXAMPLE = Path(__file__).parent / "example_benchmark"
DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


@pytest.fixture(autouse=True)
def installed(monkeypatch):
    """The doc's entry-point line, as an installed package declares it, for this test only."""
    (target,) = re.findall(r'^example_image_pairs = "([\w.:]+)"$', DOC.read_text(encoding="utf-8"), re.MULTILINE)
    install_entry_point(monkeypatch, TASKS, "example_image_pairs", target)


@pytest.fixture
def pairs_dir(tmp_path) -> Path:
    """The example's six pairs (p5 has an invalid label) with a tiny image per path."""
    root = tmp_path / "pairs"
    root.mkdir()
    shutil.copy(EXAMPLE / "pairs.jsonl", root / "pairs.jsonl")
    for i, line in enumerate((root / "pairs.jsonl").read_text().splitlines()):
        row = json.loads(line)
        write_image(root / row["image_0"], 2 * i)
        write_image(root / row["image_1"], 2 * i + 1)
    return root


def judged(tmp_path: Path, data: Path, model: str, model_args: dict | None = None,
           adapter: ScriptedAdapter | None = None) -> tuple[dict, dict[str, dict]]:
    outcome = run(RunOptions(tasks=["example_image_pairs"], model=model, model_args=model_args or {}, data_dir=data,
                             output=tmp_path / "runs", use_cache=False, bootstrap_resamples=10), adapter=adapter)
    records = read_jsonl(outcome.dir / "example_image_pairs.samples.jsonl")
    return outcome.results["tasks"]["example_image_pairs"], {r["id"]: r for r in records}


def test_strict_protocol_judged_by_a_scripted_judge(tmp_path, pairs_dir):
    """Right on p1-p3, wrong on p4, no verdict on p6 (invalid = wrong): 3 of 5 judged pairs; p5 is a row error."""
    def answer(prepared) -> str:
        gold, sid = prepared.request.meta["gold"], prepared.request.sample_id
        return {"p4": f"Image {3 - gold} is better", "p6": "Both are fine."}.get(sid, f"... so Image {gold} is better.")

    result, records = judged(tmp_path, pairs_dir, "scripted", adapter=ScriptedAdapter(fn=answer))
    assert result["metrics"]["accuracy"] == pytest.approx(60.0)
    assert result["counts"] == {"n": 6, "n_invalid": 1, "n_error": 1}
    assert "pairs.jsonl line 5: 'label' must be 0 or 1, got 2" in records["p5"]["reason"]
    assert records["p6"]["status"] == "invalid"
    for sid in ("p1", "p2", "p3", "p4"):
        assert records[sid]["outcome"]["swapped"] == seeded_swap(0, sid)
    assert result["dataset"]["n_rows"] == 6 and result["dataset"]["source"] == "local"


def test_prompt_shows_the_caption_and_the_images_in_the_swapped_order(pairs_dir):
    task = ImagePairs()
    cfg = task.config(None, 0, None, pairs_dir)
    samples = {s.id: s for s in task.load(cfg).samples}
    for sid in ("p1", "p2", "p3", "p4", "p6"):
        (request,) = task.requests(samples[sid], cfg)
        first, second, text = request.parts
        assert text.startswith("You are given two images") and samples[sid].data["caption"] in text
        expected = samples[sid].media[::-1] if seeded_swap(0, sid) else samples[sid].media
        assert (first, second) == expected
        preferred = samples[sid].media[samples[sid].data["label"]]
        assert (first, second)[request.meta["gold"] - 1] == preferred


def test_scores_protocol_from_a_score_file(tmp_path, pairs_dir):
    """Preferred image higher on p1, p2, p4; lower on p3; p6 has one score missing (an adapter error)."""
    scores = {"img/p1_0.png": 0.9, "img/p1_1.png": 0.1, "img/p2_0.png": 0.2, "img/p2_1.png": 0.3,
              "img/p3_0.png": 0.8, "img/p3_1.png": 0.4, "img/p4_0.png": 0.7, "img/p4_1.png": 0.6,
              "img/p6_0.png": 0.5}
    path = tmp_path / "scores.jsonl"
    path.write_text("".join(json.dumps({"media": m, "score": s}) + "\n" for m, s in scores.items()))
    result, records = judged(tmp_path, pairs_dir, "scores", {"path": str(path)})
    assert result["protocol"] == "scores"
    assert result["metrics"]["accuracy_without_ties"] == pytest.approx(75.0)
    assert records["p1"]["outcome"]["margin"] == pytest.approx(0.8)
    assert records["p6"]["status"] == "error" and records["p5"]["status"] == "error"


def test_without_a_data_dir_the_error_says_what_to_give():
    task = ImagePairs()
    with pytest.raises(UsageError, match="example_image_pairs needs --data-dir with pairs.jsonl and its images"):
        task.load(task.config(None, 0, None, None))


def test_the_doc_shows_the_module_and_prompt_verbatim_and_its_entry_point_line():
    doc = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```(\w*)\n(.*?)```", doc, re.DOTALL)
    assert ("python", (EXAMPLE / "image_pairs.py").read_text()) in blocks
    assert ("text", (EXAMPLE / "prompts" / "image_pairs.txt").read_text()) in blocks
    assert f'[project.entry-points."{TASKS.group}"]' in doc
    assert TASKS.get("example_image_pairs") is ImagePairs  # loaded through the doc's line (fixture `installed`)
