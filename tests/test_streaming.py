"""The run as a stream (issue 14): requests are built as the judge asks for them, and answers found without
the adapter (cache hits) are passed on in bounded batches instead of after the last request."""

from __future__ import annotations

from harness.cache import JudgmentCache
from harness.judging import LOOKUP_WINDOW, READY_LIMIT, JudgeClient
from harness.records import Generation, Request
from reward.scripted import ScriptedAdapter


def requests(n: int, produced: list[int]):
    for i in range(n):
        produced[0] += 1
        yield Request(f"k{i}", f"s{i}", (f"prompt {i}",), Generation())


def test_a_warm_cache_passes_hits_on_before_the_last_request_is_built(tmp_path):
    n = 4 * READY_LIMIT
    cache = JudgmentCache(tmp_path / "c.sqlite")
    try:
        cold = JudgeClient(ScriptedAdapter(reply="Answer 1 is better", needs_media=False), cache)
        assert len(list(cold.judge(requests(n, [0])))) == n and cold.stats.sent == n
        produced = [0]
        warm = JudgeClient(ScriptedAdapter(reply="Answer 1 is better", needs_media=False), cache)
        stream = warm.judge(requests(n, produced))
        first = next(stream)
        assert first.request.key == "k0" and first.reply.text == "Answer 1 is better"
        # not all n requests were built before the first answer (the cache is read a window at a time)
        assert produced[0] <= READY_LIMIT + LOOKUP_WINDOW
        rest = list(stream)
        assert len(rest) == n - 1 and warm.stats.sent == 0 and warm.stats.cache_hits == n
    finally:
        cache.close()


def test_a_cold_run_asks_the_adapter_while_requests_are_still_being_built():
    produced = [0]
    client = JudgeClient(ScriptedAdapter(reply="Answer 2 is better", needs_media=False), None)
    stream = client.judge(requests(1000, produced))
    next(stream)
    assert produced[0] < 10  # the first reply came after a handful of requests, not after all 1,000
    assert len(list(stream)) == 999


# ---- the run: rows read as judged, --limit reads only its rows, finished runs resumed in O(1) ---------------

def _rows(n: int) -> list[dict]:
    from .conftest import row

    folders = ("rlaif-v", "povid", "reasoning_tasks", "wildvision-battle")
    return [row(f"r{i}", folders[i % 4], (0, 1) if i % 3 else (1, 0), query=f"What is in picture {i}?")
            for i in range(n)]


def _run(data, out, **kw):
    from harness.runner import RunOptions, run

    adapter = kw.pop("adapter", None)
    opts = RunOptions(tasks=["vlrewardbench"], model="scripted", model_args={"needs_media": "false"},
                      data_dir=data, output=out, bootstrap_resamples=20, progress="none", **kw)
    return run(opts, adapter=adapter)


def test_an_integer_limit_reads_no_row_after_its_samples(tmp_path):
    from .conftest import make_data_dir

    data = make_data_dir(tmp_path / "d", _rows(10))
    with open(data / "data.jsonl", "a", encoding="utf-8") as f:
        f.write("{this line is not JSON\n")  # row 11: a full read would count it as an error
    outcome = _run(data, tmp_path / "runs", limit=5)
    task = outcome.results["tasks"]["vlrewardbench"]
    assert task["counts"] == {"n": 5, "n_invalid": 0, "n_error": 0}
    assert task["dataset"]["n_rows"] == 5  # the rows read
    fraction = _run(data, tmp_path / "runs2", limit=0.5)  # 11 rows counted first: the first 6
    assert fraction.results["tasks"]["vlrewardbench"]["counts"]["n"] == 6


def test_a_finished_run_resumes_without_building_the_judge_or_reading_rows(tmp_path, monkeypatch):
    from harness.registry import MODELS
    from harness.task import Task

    from .conftest import make_data_dir

    data = make_data_dir(tmp_path / "d", _rows(12))
    first = _run(data, tmp_path / "runs")
    built, streamed = [], []
    real_from_args = MODELS.get("scripted").from_args.__func__
    monkeypatch.setattr(MODELS.get("scripted"), "from_args",
                        classmethod(lambda cls, *a, **k: built.append(1) or real_from_args(cls, *a, **k)))
    real_head = Task.stream

    def counting_stream(self, cfg):
        stream = real_head(self, cfg)
        original = stream.head
        stream.head = lambda limit: (streamed.append(1), original(limit))[1]
        return stream

    monkeypatch.setattr(Task, "stream", counting_stream)
    again = _run(data, tmp_path / "runs", resume=True)
    assert again.dir == first.dir and again.results == first.results
    assert built == [] and streamed == [] and again.adapter_calls == 0
    # Changed data: not the finished run's data any more, so the normal path runs (and judges the new row).
    with open(data / "data.jsonl", "a", encoding="utf-8") as f:
        import json

        f.write(json.dumps(_rows(13)[12]) + "\n")
    changed = _run(data, tmp_path / "runs", resume=True)
    assert built == [1] and changed.results["tasks"]["vlrewardbench"]["counts"]["n"] == 13
    assert changed.resumed_samples == 12


def test_resume_after_a_partial_run_judges_only_the_rest_and_scores_like_a_cold_run(tmp_path):
    from harness.store import SampleLog

    from .conftest import make_data_dir

    data = make_data_dir(tmp_path / "d", _rows(30))
    cold = _run(data, tmp_path / "cold", use_cache=False)
    partial = _run(data, tmp_path / "runs", use_cache=False)
    log = partial.dir / "vlrewardbench.samples.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    log.write_text("".join(lines[:11]) + lines[11][:20], encoding="utf-8")  # 11 whole records and a torn one
    (partial.dir / "results.json").unlink()
    assert SampleLog(log).finished(repair=False) == {f"r{i}" for i in range(11)}
    resumed = _run(data, tmp_path / "runs", resume=True, use_cache=False)
    assert resumed.dir == partial.dir and resumed.resumed_samples == 11 and resumed.adapter_calls == 19
    for key in ("metrics", "ci95", "counts", "details", "prompts_digest"):
        assert resumed.results["tasks"]["vlrewardbench"][key] == cold.results["tasks"]["vlrewardbench"][key], key


def test_the_id_pass_reads_the_ids_the_full_pass_reads(tmp_path):
    """The `hash` id rule's first pass takes a line's leading id without decoding the line; on every kind of
    line (escaped quotes, id not first, a number, a torn line, a non-object, unicode, a nested "id") it gives
    the id and the row position the full decode gives."""
    from harness.rows import IdRule, jsonl_first_key_reader, jsonl_reader

    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": "a\\"b", "x": 1}\n\n{"x": 2, "id": "c"}\n{"id": 7}\n{"id": "t", "torn\n[1, 2]\n'
                    '{"id": "\\u00e9", "y": {"id": "inner"}}\n{ "id" : "spaced" }\n', encoding="utf-8")
    rule = IdRule(fallback="row-{index}")
    full, fast = list(jsonl_reader(path)()), list(jsonl_first_key_reader(path, "id")())
    assert [rule.source_id(r) for r in fast] == [rule.source_id(r) for r in full] == \
        ["a\"b", "c", "7", "line-5", "line-6", "é", "spaced"]
    assert [(r.index, r.lineno) for r in fast] == [(r.index, r.lineno) for r in full]
