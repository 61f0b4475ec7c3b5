"""The row -> Sample seam (harness.rows, harness.task): lazy readers, unique ids, the dataset-info record,
the hub reader on a local stand-in, the shared order primitives, and the layering of the task modules."""

from __future__ import annotations

import ast
import hashlib
import io
import itertools
import json
import random
import tomllib
from pathlib import Path
from typing import Any, Iterator

import pytest
from PIL import Image

from harness.errors import UsageError
from harness.records import Generation, Judgment, Request, Sample
from harness.rows import DatasetInfo, IdRule, RawRow, RowSource, jsonl_reader, records_reader
from harness.task import Parsed, ProtocolSpec, Row, Scoring, Task, TaskConfig
from tasks.genai_bench import GenAIBenchImage
from tasks.pairwise import choices_draw, half_draw, seeded_swap
from tasks.vlrewardbench import VLRewardBench

from .conftest import make_data_dir, row

ROOT = Path(__file__).resolve().parents[1]


# ---- layering ------------------------------------------------------------------------------------------

def _imported_modules(path: Path, package: str) -> set[str]:
    """Every module a file imports, relative imports resolved against `package`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _benchmark_modules() -> set[str]:
    """Modules under tasks/ that define a task (a class deriving from a Task), plus every `tasks.*` module an
    entry point names."""
    modules = set()
    for path in (ROOT / "tasks").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id == "Task" for b in n.bases)
               for n in ast.walk(tree)):
            modules.add(f"tasks.{path.stem}")
    group = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["harness.tasks"]
    modules.update(v.split(":")[0] for v in group.values() if v.startswith("tasks."))
    return modules


def test_no_benchmark_module_imports_another():
    benchmarks = _benchmark_modules()
    assert {"tasks.vlrewardbench", "tasks.genai_bench", "tasks.sharegptvideo", "tasks.vbench"} <= benchmarks
    files = [(f"tasks.{p.stem}", p) for p in (ROOT / "tasks").glob("*.py")]
    files.append(("tests.example_benchmark.image_pairs", ROOT / "tests" / "example_benchmark" / "image_pairs.py"))
    offending = {}
    for module, path in files:
        others = (_imported_modules(path, module.rsplit(".", 1)[0]) & benchmarks) - {module}
        if others:
            offending[module] = sorted(others)
    assert offending == {}


def test_the_core_and_the_reward_dataset_share_the_order_primitive():
    from reward.training.dataset import chosen_second

    assert chosen_second is seeded_swap
    assert "vbench" not in " ".join(dir(__import__("harness.metrics", fromlist=["x"]))).lower()


# ---- order primitives ------------------------------------------------------------------------------------

def test_script_streams_are_the_scripts_draws_past_the_first_chunk():
    """One draw per item after random.seed(seed), whatever index is asked first (the chunked cache is exact)."""
    rng = random.Random(7)
    expected = [rng.choices([True, False])[0] for _ in range(5000)]
    assert [choices_draw(7, i) for i in (4999, 0, 2048, 2047)] == [expected[i] for i in (4999, 0, 2048, 2047)]
    assert [choices_draw(7, i) for i in range(5000)] == expected
    rng = random.Random(0)
    assert [half_draw(0, i) for i in range(3000)] == [rng.random() < 0.5 for _ in range(3000)]
    assert seeded_swap(0, "x") == (hashlib.sha256(b"0\x00x").digest()[0] & 1 == 1)


# ---- unique ids -------------------------------------------------------------------------------------------

def _raws(rows: list[dict | None]) -> Iterator[RawRow]:
    for i, r in enumerate(rows):
        yield RawRow(i, f"f line {i + 1}", r, None if r is not None else f"f line {i + 1}: malformed", i + 1)


def _ids(rule: IdRule, rows: list[dict | None]) -> list[tuple[str, str]]:
    source = RowSource(DatasetInfo(source="local"), lambda: _raws(rows), rule, name="f")
    return [(r.source_id, r.id) for r in source]


def test_hash_rule_suffixes_every_member_of_a_repeated_group_independently_of_order():
    rows = [{"id": "a", "q": 1}, {"id": "b", "q": 2}, {"id": "a", "q": 3}, None, {"q": 4}]
    rule = IdRule(repeated="hash", content=lambda f: f["q"])
    ids = _ids(rule, rows)
    digest = {q: "#" + hashlib.sha256(json.dumps(q).encode()).hexdigest()[:8] for q in (1, 3)}
    assert ids == [("a", "a" + digest[1]), ("b", "b"), ("a", "a" + digest[3]), ("line-4", "line-4"),
                   ("line-5", "line-5")]
    named = [pair for pair in ids if not pair[0].startswith("line-")]
    assert sorted(p for p in _ids(rule, rows[::-1]) if not p[0].startswith("line-")) == sorted(named)  # any order
    with pytest.raises(UsageError, match="rows repeat both an id and its content"):
        _ids(rule, [{"id": "a", "q": 1}, {"id": "a", "q": 1}])


def test_count_and_error_rules():
    rows = [{"id": "a"}, {"id": "a"}, {"other": 1}, {"id": "a"}]
    assert _ids(IdRule(repeated="count", fallback="row-{index}"), rows) == [
        ("a", "a"), ("a", "a#2"), ("row-2", "row-2"), ("a", "a#3")]
    with pytest.raises(UsageError, match=r"f: id 'a' repeats \(f line 2\)"):
        _ids(IdRule(), rows)
    assert _ids(IdRule(("idx", "id")), [{"idx": 0, "id": "z"}, {"id": "y"}]) == [("0", "0"), ("y", "y")]
    assert _ids(IdRule(derive=lambda f: f.get("path", "").upper() or None), [{"path": "p"}, {}]) == [
        ("P", "P"), ("line-2", "line-2")]


# ---- readers and the composition ---------------------------------------------------------------------------

def test_jsonl_rows_are_read_line_by_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"id": "a"}\n\n{"id": \n\xff\xfe\n[1]\n')
    read = jsonl_reader(path)
    rows = list(read())
    assert [(r.index, r.lineno, r.fields) for r in rows] == [(0, 1, {"id": "a"}), (1, 3, None), (2, 4, None),
                                                            (3, 5, None)]
    assert "data.jsonl line 3: malformed JSON" in rows[1].problem
    assert rows[2].problem.startswith("data.jsonl line 4: not UTF-8 text")
    assert rows[3].problem == "data.jsonl line 5: expected a JSON object"
    # Lazy: a line appended after the first row was read is still seen by the same pass.
    lazy = read()
    first = next(lazy)
    with open(path, "ab") as f:
        f.write(b'{"id": "late"}\n')
    assert first.fields == {"id": "a"} and list(lazy)[-1].fields == {"id": "late"}


class Endless(Task):
    """A task over an endless row stream: only a lazy seam can hand out its first samples."""

    name, version = "endless", "1"
    protocols = {"strict": ProtocolSpec("strict", "1", "test")}

    def rows(self, cfg: TaskConfig) -> RowSource:
        return RowSource(DatasetInfo(source="generated"), records_reader(_Forever(), "gen"),
                         IdRule(("n",), repeated="count"))

    def sample(self, row: Row) -> Sample:
        return Sample(row.id, row.index, {"n": row.fields["n"]})

    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        return [Request(sample.id, sample.id, ("x",), Generation())]

    def parse(self, sample: Sample, exchanges: Any, cfg: TaskConfig) -> Parsed:
        return Parsed("ok", {})

    def score(self, judgments: list[Judgment], cfg: TaskConfig) -> Scoring:
        raise NotImplementedError


class _Forever:
    def __iter__(self) -> Iterator[dict]:
        return ({"n": n % 3} for n in itertools.count())


def test_samples_stream_one_row_at_a_time_and_the_stream_is_single_pass():
    task = Endless()
    stream = task.stream(task.config(None, 0, None, None))
    assert [s.id for s in itertools.islice(stream, 5)] == ["0", "1", "2", "0#2", "1#2"]
    with pytest.raises(RuntimeError, match="once every sample"):
        stream.info()
    with pytest.raises(RuntimeError, match="read once"):
        iter(stream).__next__()


def test_load_is_the_composition_and_records_the_typed_info(tmp_path):
    data = make_data_dir(tmp_path / "d", [row("RLAIF-V-1", "rlaif-v"), row("mmmu-2", "reasoning_tasks")])
    task = VLRewardBench()
    cfg = task.config("strict", 0, None, data)
    stream = task.stream(cfg)
    streamed = list(stream)
    loaded = task.load(cfg)
    assert [s.id for s in loaded.samples] == [s.id for s in streamed] == ["RLAIF-V-1", "mmmu-2"]
    assert [s.data["category"] for s in loaded.samples] == ["hallucination", "reasoning"]
    info = loaded.dataset_info
    assert info == stream.info()
    sha = hashlib.sha256((data / "data.jsonl").read_bytes()).hexdigest()
    assert loaded.info == {"id": "MMInstruction/VL-RewardBench", "source": "local", "path": str(data.resolve()),
                           "split": "test", "data_sha256": sha, "n_rows": 2}
    assert info.identity() == {"id": "MMInstruction/VL-RewardBench", "config": None, "revision": None,
                               "data_sha256": sha}
    (data / "data.jsonl").write_text("")
    with pytest.raises(UsageError, match="data.jsonl holds no rows"):
        task.load(cfg)


def test_dataset_info_round_trips_and_keeps_unknown_fields():
    info = DatasetInfo(source="hub", id="x/y", revision="abc", split="test", n_rows=3, extra={"note": "n"})
    assert info.as_dict() == {"source": "hub", "id": "x/y", "revision": "abc", "split": "test", "n_rows": 3,
                              "note": "n"}
    assert DatasetInfo.from_dict(info.as_dict()) == info
    lmms = DatasetInfo.from_dict({"lmms_task": "videomme"})
    assert lmms.source is None and lmms.extra == {"lmms_task": "videomme"}
    assert DatasetInfo.IDENTITY == ("id", "config", "revision", "data_sha256")


# ---- the hub reader, on a local stand-in --------------------------------------------------------------------

def _png(color: str) -> Image.Image:
    return Image.new("RGB", (4, 4), color)


def _png_bytes(color: str) -> bytes:
    out = io.BytesIO()
    _png(color).save(out, "PNG")
    return out.getvalue()


def test_hub_rows_at_the_pinned_revision_with_undecoded_images(stand_in_hub):
    calls, tables = stand_in_hub
    tables[("MMInstruction/VL-RewardBench", None)] = [
        {"id": "mmmu-9", "query": "q1", "response": ["a", "b"], "human_ranking": [0, 1], "image": _png("red")},
        {"id": "mmmu-9", "query": "q2", "response": ["c", "d"], "human_ranking": [1, 0], "image": _png("blue")},
        {"id": "hallucination_pair-3", "query": "q3", "response": ["e"], "human_ranking": [0, 1],
         "image": _png("red")}]
    task = VLRewardBench()
    for revision, recorded in ((None, "60630ac36ca93c0ca30249bd1ab3706170836cea"), ("0e6e627", "0e6e627")):
        loaded = task.load(task.config("strict", 0, None, None, revision=revision))
        assert calls[-1][:4] == ("MMInstruction/VL-RewardBench", None, "test", recorded)
        assert loaded.info == {"id": "MMInstruction/VL-RewardBench", "source": "hub", "revision": recorded,
                               "split": "test", "n_rows": 3}
    first, second, bad = loaded.samples
    assert first.id.startswith("mmmu-9#") and second.id.startswith("mmmu-9#") and first.id != second.id
    assert first.data["source_id"] == "mmmu-9" and first.data["category"] == "reasoning"
    assert "row 2 (id hallucination_pair-3): field 'response' must be a list of 2 strings" in bad.problem
    (image,) = first.media
    assert image.label == f"MMInstruction/VL-RewardBench:{first.id}:image"
    assert image.loader() == _png_bytes("red")  # the embedded PNG bytes, not a decoded image
    # Rows read elsewhere (lmms-eval's copy) become the same samples under the same id rule.
    again = [task.to_sample(r) for r in task.rows_from(tables[("MMInstruction/VL-RewardBench", None)])]
    assert [(s.id, s.data, s.problem) for s in again] == [(s.id, s.data, s.problem) for s in loaded.samples]


def test_hub_branch_head_is_resolved_and_recorded_and_urls_are_fetched_lazily(stand_in_hub, monkeypatch):
    calls, tables = stand_in_hub
    tables[("TIGER-Lab/GenAI-Bench", "image_generation")] = [
        {"prompt": "a cat", "vote_type": "leftvote", "left_image": _png("red"), "right_image": _png("blue")}]
    task = GenAIBenchImage()
    loaded = task.load(task.config("strict", 0, None, None))
    assert [c[:4] for c in calls] == [("TIGER-Lab/GenAI-Bench", "image_generation", "test_v1", "f" * 40)]
    assert loaded.info["revision"] == "f" * 40 and loaded.info["config"] == "image_generation"
    (sample,) = loaded.samples
    assert sample.id == "0" and [m.label for m in sample.media] == [
        "TIGER-Lab/GenAI-Bench:image_generation:0:left_image", "TIGER-Lab/GenAI-Bench:image_generation:0:right_image"]
    assert sample.media[1].loader() == _png_bytes("blue")

    from tasks.genai_bench import GenAIBenchVideo

    fetched = []
    monkeypatch.setattr("harness.rows.fetch_url", lambda url: fetched.append(url) or b"video")
    tables[("TIGER-Lab/GenAI-Bench", "video_generation")] = [
        {"prompt": "a ball", "vote_type": "tievote", "left_video": "https://x/l.mp4", "right_video": "https://x/r.mp4"}]
    video = GenAIBenchVideo().load(GenAIBenchVideo().config("strict", 0, None, None)).samples[0]
    assert fetched == [] and video.media[0].kind == "video"
    assert video.media[0].loader() == b"video" and fetched == ["https://x/l.mp4"]
