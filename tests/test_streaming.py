"""The run as a stream (issue 14): requests are built as the judge asks for them, and answers found without
the adapter (cache hits) are passed on in bounded batches instead of after the last request."""

from __future__ import annotations

from harness.cache import JudgmentCache
from harness.judging import READY_LIMIT, JudgeClient
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
        assert produced[0] <= READY_LIMIT + 1  # not all n requests were built before the first answer
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
