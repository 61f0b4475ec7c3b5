"""The reward service (`harness serve`, issue 17) over real HTTP on 127.0.0.1: pointwise, pairwise and group
answers through scripted judges and the `openai` adapter behind the local test server, every failure policy,
malformed bodies, backpressure (429 honoured by the client), coalesced batches, the cache, /health and /metrics,
graceful shutdown, scalar scorers, and video input. Clients, templates and the command line: test_serve_cli.py.

Judges that must hold work in progress wait on a `threading.Event`; the tests wait for the state they need
(`wait_until`) instead of sleeping, and assert nothing about time."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np
import pytest
from PIL import Image

from harness.cache import JudgmentCache
from harness.records import PreparedRequest
from harness.serve.app import RewardService, ServiceThread
from harness.serve.client import ItemsFailed, RewardClient, RewardServiceError, VideoFile
from harness.serve.templates import resolve_templates
from reward.scripted import ScriptedAdapter

SCORES = "Alignment Score (1-5): {a}\nCoherence Score (1-5): {c}\nStyle Score (1-5): {s}"
PAIR_TEMPLATE_MARK = "two generated images"  # in the 2.0 pairwise image template, not in the pointwise one


def png(level: int, size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (level, level, level)).save(buffer, "PNG")
    return buffer.getvalue()


def levels(prepared: PreparedRequest) -> list[int]:
    """The grey level of each image the judge was shown, in order."""
    return [Image.open(io.BytesIO(m.data)).getpixel((0, 0))[0] for m in prepared.media for m in m.images()]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def image_item(data: bytes, prompt: str = "p") -> dict[str, Any]:
    """A pointwise body item with the image inline."""
    return {"prompt": prompt, "image": {"b64": b64(data)}}


def http(url: str, body: Any = None) -> tuple[int, dict[str, str], dict]:
    """(status, headers, JSON) of a GET (body None) or a POST (a dict as JSON, bytes as they are)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def wait_until(condition: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    """Wait for a state the test needs (not an assertion about time: the limit only stops a hung test)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


@contextmanager
def service(adapter: Any, family: str = "unifiedreward-2.0", gate: "Gate | None" = None,
            **settings: Any) -> Iterator[tuple[ServiceThread, RewardClient]]:
    """The service over `adapter` in this process, and a client of it; `gate` is opened before the service
    stops, so a failing test does not wait for a judge it never released."""
    served = ServiceThread(RewardService(adapter, resolve_templates(family), **settings)).start()
    client = RewardClient(served.url, backoff=0.01)
    try:
        yield served, client
    finally:
        if gate is not None:
            gate.release()
        client.close()
        served.stop()
        adapter.close()


def brighter_wins(prepared: PreparedRequest) -> str:
    """A judge with a real preference: the brighter image is better, whichever is shown first; pointwise it
    scores the grey level."""
    shown = levels(prepared)
    if PAIR_TEMPLATE_MARK in prepared.request.text:
        if shown[0] == shown[1]:
            return "Both images are equally good."
        return "Image 1 is better." if shown[0] > shown[1] else "Image 2 is better."
    value = 1 + 4 * shown[0] / 255
    return SCORES.format(a=value, c=value, s=value)


class Gate:
    """A judge that holds every call until `release()` (to observe queued and in-flight work)."""

    def __init__(self, reply: Callable[[PreparedRequest], str] = brighter_wins):
        self.open = threading.Event()
        self.calls = 0
        self.reply = reply

    def __call__(self, prepared: PreparedRequest) -> str:
        self.calls += 1
        if not self.open.wait(60):
            raise RuntimeError("the test never released the judge")
        return self.reply(prepared)

    def release(self) -> None:
        self.open.set()


# ---- answers --------------------------------------------------------------------------------------------------

def test_pointwise_scores_are_the_mean_of_the_templates_dimensions_with_judge_and_template_echoed():
    with service(ScriptedAdapter(fn=lambda p: SCORES.format(a=4, c=3, s=5), model_id="judge-x")) as (_, client):
        result = client.pointwise([("a cat", png(10)), ("a dog", png(20))], return_raw=True)
    assert result.schema_version == 1 and result.n_ok == 2 and result.n_failed == 0
    assert result.rewards() == [4.0, 4.0] and result.mask() == [True, True]
    first = result.items[0]
    assert first.scores == {"alignment": 4.0, "coherence": 3.0, "style": 5.0}
    assert first.raw == SCORES.format(a=4, c=3, s=5) and first.reason is None and first.latency_s >= 0
    assert result.judge["adapter"] == "scripted" and result.judge["model"] == "judge-x"
    assert result.template["name"] == "ur2_point_score_image_generation"
    assert result.template["family"] == "unifiedreward-2.0" and len(result.template["version"]) == 12


def test_the_prompt_reaches_the_judge_in_the_familys_template():
    seen: list[str] = []

    def judge(prepared: PreparedRequest) -> str:
        seen.append(prepared.request.text)
        return SCORES.format(a=1, c=1, s=1)

    with service(ScriptedAdapter(fn=judge)) as (_, client):
        client.pointwise([("a red bicycle", png(1))])
    assert seen[0].rstrip().endswith("Text Caption: [a red bicycle]")
    assert "Alignment Score (1-5): X" in seen[0]


def test_pairwise_one_order_reads_a_b_and_ties():
    replies = {10: "Image 1 is better.", 20: "Image 2 is better.", 30: "Both images are equally good."}
    judge = ScriptedAdapter(fn=lambda p: replies[levels(p)[0]])
    with service(judge) as (_, client):
        result = client.pairwise([("p", png(10), png(1)), ("p", png(20), png(1)), ("p", png(30), png(1))])
    assert [it.preference for it in result.items] == [1.0, 0.0, 0.5]
    assert [it.verdicts for it in result.items] == [("a",), ("b",), ("tie",)]
    assert all(it.consistent is None for it in result.items) and result.rewards() == [1.0, 0.0, 0.5]


def test_both_orders_a_judge_that_always_prefers_the_first_shown_gets_half_and_inconsistent():
    with service(ScriptedAdapter(reply="Image 1 is better.")) as (_, client):
        result = client.pairwise([("p", png(10), png(200))], orders="both")
    (item,) = result.items
    assert item.ok and item.preference == 0.5 and item.value == 0.5
    assert item.verdicts == ("a", "b") and item.consistent is False


def test_both_orders_a_judge_with_a_real_preference_is_consistent():
    with service(ScriptedAdapter(fn=brighter_wins)) as (_, client):
        result = client.pairwise([("p", png(10), png(200)), ("p", png(200), png(10))], orders="both")
    assert [it.preference for it in result.items] == [0.0, 1.0]
    assert [it.verdicts for it in result.items] == [("b", "b"), ("a", "a")]
    assert [it.consistent for it in result.items] == [True, True]


def test_group_rewards_are_win_rates_over_all_pairs_or_pointwise_scores():
    candidates = [png(200), png(10), png(100), png(50)]
    with service(ScriptedAdapter(fn=brighter_wins)) as (_, client):
        pairwise = client.group("p", candidates, mode="pairwise")
        pointwise = client.group("p", candidates, mode="pointwise")
    assert pairwise.rewards() == [1.0, 0.0, 2 / 3, 1 / 3] and pairwise.mask() == [True] * 4
    assert len(pairwise.items) == 6 and {(it.a, it.b) for it in pairwise.items} == \
        {(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)}
    assert pointwise.rewards() == pytest.approx([1 + 4 * v / 255 for v in (200, 10, 100, 50)])


def test_decoding_is_greedy_unless_the_request_asks_and_credentials_never_reach_the_answer():
    settings: list[tuple[float, int | None]] = []

    def judge(prepared: PreparedRequest) -> str:
        settings.append((prepared.request.generation.temperature, prepared.request.generation.seed))
        return SCORES.format(a=2, c=2, s=2)

    key_like = "sk-" + "a1b2c3d4" * 4  # a model id that looks like an API key is masked wherever it appears
    with service(ScriptedAdapter(fn=judge, model_id=key_like)) as (served, client):
        result = client.pointwise([("p", png(1))])
        client.pointwise([("p", png(1))], generation={"temperature": 0.7, "seed": 3})
        health = client.health()
    assert settings == [(0.0, None), (0.7, 3)]
    assert key_like not in json.dumps(result.judge) and key_like not in json.dumps(health)


# ---- failures -------------------------------------------------------------------------------------------------

def unreadable_for(level: int) -> ScriptedAdapter:
    """The brighter-wins judge, except that it answers nonsense whenever the image of `level` is shown."""
    return ScriptedAdapter(fn=lambda p: "I cannot judge this." if level in levels(p) else brighter_wins(p))


@pytest.mark.parametrize("policy, value", [("report", None), ("skip", None), ("value:0.25", 0.25)])
def test_an_unparseable_reply_is_reported_under_every_policy_never_defaulted(policy, value):
    with service(unreadable_for(99)) as (_, client):
        result = client.pointwise([("p", png(10)), ("p", png(99))], on_failure=policy)
    good, bad = result.items
    assert good.ok and good.value == pytest.approx(1 + 40 / 255)
    assert not bad.ok and bad.value == value and bad.failure == "parse"
    assert "Alignment Score" in bad.reason and result.mask() == [True, False]
    assert (result.n_ok, result.n_failed) == (1, 1)


def test_on_failure_error_answers_422_naming_the_failed_items():
    with service(unreadable_for(99)) as (served, client):
        with pytest.raises(ItemsFailed) as caught:
            client.pointwise([("p", png(10)), ("p", png(99)), ("p", png(99))], on_failure="error")
        status, _, body = http(served.url + "/v1/pointwise", {"items": [image_item(png(99))], "on_failure": "error"})
    assert caught.value.status == 422 and caught.value.failed == [1, 2]
    assert "Alignment Score" in str(caught.value) and caught.value.body["items"][0]["ok"] is True
    assert status == 422 and body["failed"] == [0] and body["items"][0]["ok"] is False


def test_group_report_nulls_every_candidate_a_failed_pair_touches_skip_leaves_the_pair_out():
    candidates = [png(200), png(10), png(99), png(50)]  # every pair with candidate 2 is unreadable
    with service(unreadable_for(99)) as (_, client):
        report = client.group("p", candidates, mode="pairwise")
        skip = client.group("p", candidates, mode="pairwise", on_failure="skip")
        fixed = client.group("p", candidates, mode="pairwise", on_failure="value:0.5")
    assert report.rewards() == [None] * 4 and report.mask() == [False] * 4
    assert skip.rewards() == [1.0, 0.0, None, 0.5] and skip.mask() == [False] * 4
    # value:0.5: each failed pair counts as a tie, as the caller asked; the mask still says which were defaulted.
    assert fixed.rewards() == pytest.approx([(1 + 1 + 0.5) / 3, (0 + 0 + 0.5) / 3, 0.5, (0 + 1 + 0.5) / 3])
    assert fixed.mask() == [False] * 4
    assert sum(not it.ok for it in report.items) == 3 and all(it.failure == "parse" for it in report.items
                                                              if not it.ok)


def test_both_orders_with_one_unreadable_order_keeps_the_readable_verdict_and_flags_it():
    judge = ScriptedAdapter(fn=lambda p: "Image 1 is better." if levels(p)[0] == 10 else "no idea")
    with service(judge) as (_, client):
        (item,) = client.pairwise([("p", png(10), png(200))], orders="both").items
    assert item.ok and item.verdicts == ("a", None) and item.preference == 1.0 and item.consistent is None
    assert item.reason.startswith("order 2 (B first):")


def test_unreadable_media_and_judge_errors_fail_their_item_only(tmp_path):
    not_an_image = b64(b"definitely not a PNG")
    with service(ScriptedAdapter(fn=brighter_wins)) as (served, _):
        status, _, body = http(served.url + "/v1/pointwise", {"items": [
            {"prompt": "p", "image": {"b64": b64(png(10))}},
            {"prompt": "p", "image": {"b64": not_an_image}},
            {"prompt": "p", "image": {"path": str(tmp_path / "missing.png")}}]})
    assert status == 200 and [it["ok"] for it in body["items"]] == [True, False, False]
    assert [it["failure"] for it in body["items"]] == [None, "media", "media"]
    assert "items[1].image" in body["items"][1]["reason"] and "not found" in body["items"][2]["reason"]
    with service(ScriptedAdapter(fn=brighter_wins, fail_rate=1.0)) as (_, client):
        result = client.pointwise([("p", png(10))])
    assert result.items[0].failure == "judge" and "fail_rate" in result.items[0].reason


@pytest.mark.parametrize("path, body, field", [
    ("/v1/pointwise", b"{not json", ""),
    ("/v1/pointwise", {"items": []}, "items"),
    ("/v1/pointwise", {"items": [{"prompt": "p", "image": {"b64": "AAAA"}},
                                 {"prompt": "p", "image": {"b64": "not*base64"}}]}, "items[1].image.b64"),
    ("/v1/pointwise", {"items": [{"prompt": "p", "video": {"path": "clip.mp4", "size": [8, 8]}}]},
     "items[0].video.frames"),
    ("/v1/pointwise", {"items": [{"prompt": "p", "video": {"path": "clip.mp4", "frames": 4}}]},
     "items[0].video.size"),
    ("/v1/pointwise", {"items": [{"prompt": 3, "image": {"b64": "AAAA"}}]}, "items[0].prompt"),
    ("/v1/pointwise", {"items": [{"prompt": "p", "image": {"b64": "AAAA"}}], "on_faliure": "skip"}, ""),
    ("/v1/pointwise", {"items": [{"prompt": "p", "image": {"b64": "AAAA"}}], "on_failure": "zero"}, "on_failure"),
    ("/v1/pairwise", {"items": [{"prompt": "p", "a": {"b64": "AAAA"}}]}, "items[0].b"),
    ("/v1/pairwise", {"items": [{"prompt": "p", "a": {"b64": "AAAA"}, "b": {"b64": "AAAA"}}], "orders": "all"},
     "orders"),
    ("/v1/group", {"prompt": "p", "candidates": [{"b64": "AAAA"}, {"frames": [{"b64": "AAAA"}]}]}, "candidates[1]"),
    ("/v1/group", {"prompt": "p", "candidates": [{"b64": "AAAA"}], "mode": "pairwise"}, "candidates"),
])
def test_a_malformed_body_is_a_400_naming_the_field(path, body, field):
    with service(ScriptedAdapter(fn=brighter_wins)) as (served, _):
        status, _, answer = http(served.url + path, body)
        metrics = http(served.url + "/metrics")[2]
    assert status == 400 and answer["field"] == field and answer["error"].startswith(field)
    assert metrics["responses_by_status"] == {"400": 1} and metrics["requests_total"] == 0


def test_the_client_raises_a_400_at_once_with_the_services_message():
    with service(ScriptedAdapter(fn=brighter_wins)) as (_, client):
        with pytest.raises(RewardServiceError) as caught:
            client.group("p", [png(1)], mode="pairwise")
        assert client.stats.attempts == 1
    assert caught.value.status == 400 and "at least two candidates" in str(caught.value)


def test_a_request_larger_than_the_queue_is_refused_with_the_limit():
    with service(ScriptedAdapter(fn=brighter_wins), max_batch=2, max_queue=4) as (_, client):
        with pytest.raises(RewardServiceError, match=r"needs 10 judge calls; the queue holds at most 4"):
            client.group("p", [png(i) for i in range(5)], mode="pairwise")


# ---- throughput machinery -------------------------------------------------------------------------------------

def test_a_full_queue_answers_429_with_retry_after_and_the_client_waits_and_completes():
    gate = Gate()
    with service(ScriptedAdapter(fn=gate), gate=gate, max_batch=1, max_queue=2) as (served, client):
        answers: list[Any] = []
        first = threading.Thread(target=lambda: answers.append(client.pointwise([("p", png(1)), ("p", png(2))])))
        first.start()
        wait_until(lambda: served.service.batcher.outstanding == 2, "the first request fills the queue")
        status, headers, body = http(served.url + "/v1/pointwise", {"items": [image_item(png(3))]})
        assert status == 429 and float(headers["Retry-After"]) >= 1 and int(headers["retry-after-ms"]) > 0
        assert "queue is full" in body["error"]
        second = threading.Thread(target=lambda: answers.append(client.pointwise([("p", png(30))])))
        second.start()
        wait_until(lambda: client.stats.throttled >= 1, "the client is told to wait")
        gate.release()
        first.join(30)
        second.join(30)
        metrics = client.metrics()
    assert len(answers) == 2 and [a.n_ok for a in answers] == [2, 1]
    later = answers[0] if answers[0].n_ok == 1 else answers[1]
    assert later.rewards() == [pytest.approx(1 + 120 / 255)]
    assert metrics["rejected_total"] >= 2 and metrics["responses_by_status"]["429"] >= 2
    assert metrics["items_total"] == 3 and metrics["requests_total"] == 2


def test_requests_from_several_clients_share_batches():
    gate = Gate()
    with service(ScriptedAdapter(fn=gate), gate=gate, max_batch=16, max_wait_ms=0) as (served, client):
        threads = [threading.Thread(target=client.pointwise, args=([("p", png(1))],))]
        threads[0].start()
        wait_until(lambda: gate.calls == 1, "the first batch is being judged")
        threads += [threading.Thread(target=client.pointwise, args=([("p", png(i)), ("p", png(i + 1))],))
                    for i in (10, 20)]
        for thread in threads[1:]:
            thread.start()
        wait_until(lambda: served.service.batcher.depth == 4, "both later requests are queued")
        gate.release()
        for thread in threads:
            thread.join(30)
        metrics = client.metrics()
    assert metrics["batches_total"] == 2 and metrics["batch_size_mean"] == 2.5  # [1 call], [2 + 2 calls]


def test_repeated_items_are_answered_from_the_cache(tmp_path):
    judge = ScriptedAdapter(fn=brighter_wins)
    cache = JudgmentCache(tmp_path / "judgments.sqlite")
    with service(judge, cache=cache) as (_, client):
        first = client.pointwise([("p", png(10)), ("p", png(20))])
        again = client.pointwise([("p", png(10)), ("p", png(20))])
        metrics = client.metrics()
    cache.close()
    assert again.rewards() == first.rewards() and judge.calls == 2
    assert metrics["cache_hits_total"] == 2 and metrics["judged_total"] == 2


def test_health_and_metrics_move_with_the_work():
    gate = Gate(lambda p: "nonsense" if levels(p)[0] == 99 else brighter_wins(p))
    with service(ScriptedAdapter(fn=gate), gate=gate, max_batch=1) as (served, client):
        before = client.metrics()
        health = client.health()
        assert before["requests_total"] == 0 and before["latency_p50_s"] is None and health["status"] == "ok"
        assert health["queue"] == 0 and health["judge"]["adapter"] == "scripted"
        assert set(health["templates"]) == {"pointwise/image", "pointwise/video", "pairwise/image", "pairwise/video"}
        worker = threading.Thread(target=client.pointwise, args=([("p", png(1)), ("p", png(99)), ("p", png(3))],))
        worker.start()
        wait_until(lambda: client.health()["queue"] == 2, "two calls wait behind the one being judged")
        gate.release()
        worker.join(30)
        after = client.metrics()
        queue_after = client.health()["queue"]
        prometheus = urllib.request.urlopen(served.url + "/metrics?format=prometheus", timeout=30).read().decode()
    assert queue_after == 0
    assert after["requests_total"] == 1 and after["items_total"] == 3
    assert after["items_failed_by_reason"] == {"parse": 1} and after["queue_depth"] == 0
    assert after["latency_p50_s"] > 0 and after["latency_p95_s"] >= after["latency_p50_s"]
    assert after["requests_per_s"] > 0 and after["batches_total"] == 3
    assert 'harness_reward_items_failed_total{reason="parse"} 1' in prometheus
    assert "harness_reward_requests_total 1" in prometheus


def test_shutdown_refuses_new_work_and_finishes_what_it_accepted():
    gate = Gate()
    adapter = ScriptedAdapter(fn=gate)
    # One call per batch: at the stop, one item is being judged and the other still queued.
    served = ServiceThread(RewardService(adapter, resolve_templates("unifiedreward-2.0"), max_batch=1)).start()
    client = RewardClient(served.url, max_retries=0)
    answers: list[Any] = []
    try:
        worker = threading.Thread(target=lambda: answers.append(client.pointwise([("p", png(1)), ("p", png(2))])))
        worker.start()
        wait_until(lambda: gate.calls == 1, "the request is being judged")
        stopper = threading.Thread(target=served.stop)
        stopper.start()
        wait_until(lambda: served.service.batcher.closing, "the service starts draining")
        status, _, body = http(served.url + "/v1/pointwise", {"items": [image_item(png(5))]})
        health_status = http(served.url + "/health")[0]
        gate.release()
        worker.join(30)
        stopper.join(30)
    finally:
        gate.release()
        client.close()
        adapter.close()
    assert status == 503 and "shutting down" in body["error"] and health_status == 503
    assert served.drained is True and answers and answers[0].mask() == [True, True]


def test_a_shutdown_that_runs_out_of_time_answers_the_unfinished_items_as_failed():
    gate = Gate()
    adapter = ScriptedAdapter(fn=gate)
    served = ServiceThread(RewardService(adapter, resolve_templates("unifiedreward-2.0"), max_batch=1,
                                         shutdown_timeout_s=0.2)).start()
    client = RewardClient(served.url, max_retries=0)
    answers: list[Any] = []
    try:
        worker = threading.Thread(target=lambda: answers.append(client.pointwise([("p", png(1)), ("p", png(2))])))
        worker.start()
        wait_until(lambda: gate.calls == 1, "the first item is being judged")
        stopper = threading.Thread(target=served.stop)
        stopper.start()
        worker.join(30)  # answered while the judge still holds the first item
        gate.release()
        stopper.join(30)
    finally:
        gate.release()
        client.close()
        adapter.close()
    (answer,) = answers
    assert answer.mask() == [False, False] and answer.rewards() == [None, None]
    assert [it.reason for it in answer.items] == ["the service stopped before this item's judgment finished",
                                                  "the service stopped before judging this item"]
    assert served.drained is False


# ---- judges behind endpoints ----------------------------------------------------------------------------------

def test_the_openai_adapter_behind_the_service_through_the_local_test_server():
    from reward.openai_api import OpenAIAdapter
    from reward.testing.testserver import FakeOpenAIServer

    with FakeOpenAIServer(replies=["Image 2 is better."], latency=0.01) as server:
        adapter = OpenAIAdapter(base_url=server.base_url, concurrency=8, max_retries=0)
        with service(adapter, max_batch=4, concurrency=8) as (served, client):
            result = client.pairwise([("p", png(i), png(i + 1)) for i in range(10)], orders="both")
            assert served.service.settings.workers == 2
        stats = server.stats()
    assert stats["requests"] == 20 and stats["max_in_flight"] <= 8
    assert all(it.verdicts == ("b", "a") and it.consistent is False and it.preference == 0.5 for it in result.items)
    assert result.judge["adapter"] == "openai" and result.judge["model"] == "testserver-judge"


def test_endpoint_failures_are_reported_not_defaulted():
    from reward.openai_api import OpenAIAdapter
    from reward.testing.testserver import FakeOpenAIServer

    with FakeOpenAIServer(replies=[SCORES.format(a=2, c=2, s=2)], rate_500=0.5, seed=3) as server:
        adapter = OpenAIAdapter(base_url=server.base_url, max_retries=0)
        with service(adapter) as (_, client):
            result = client.pointwise([("p", png(i)) for i in range(40)])
    failed = [it for it in result.items if not it.ok]
    assert 0 < len(failed) < 40 and all(it.value is None and "HTTP 500" in it.reason for it in failed)
    assert all(it.value == 2.0 for it in result.items if it.ok) and result.n_failed == len(failed)


def test_a_scalar_scorer_scores_the_caption_and_media_and_compares_scores_for_pairs():
    from reward.scores import ScoresAdapter
    from reward.scoring_service import ScoringService, dummy_score

    with ScoringService(dummy_score, name="dummy") as scoring:
        adapter = ScoresAdapter(url=scoring.url, name="dummy")
        with service(adapter) as (_, client):
            point = client.pointwise([("p", png(51)), ("p", png(102))])
            pair = client.pairwise([("p", png(51), png(102))], orders="both")
            group = client.group("p", [png(10), png(200), png(100)], mode="pairwise")
        scored = scoring.stats()["scored"]
    assert point.rewards() == pytest.approx([0.2 + 0.001, 0.4 + 0.001])  # brightness + 0.001 per prompt character
    assert point.template["name"] is None and point.judge["adapter"] == "scores"
    (item,) = pair.items
    assert item.verdicts == ("b",) and item.preference == 0.0 and item.consistent is None
    assert group.rewards() == [0.0, 1.0, 0.5] and len(group.items) == 3
    assert scored == 2 + 2 + 3  # a group's candidates are scored once each, not once per pair


# ---- media ----------------------------------------------------------------------------------------------------

def test_a_video_as_frames_reaches_the_judge_as_its_frames():
    shown: list[list[int]] = []

    def judge(prepared: PreparedRequest) -> str:
        shown.append(levels(prepared))
        return "Alignment Score (1-5): 3\nPhysics Score (1-5): 3\nStyle Score (1-5): 3"

    with service(ScriptedAdapter(fn=judge)) as (_, client):
        result = client.pointwise([("a running dog", [png(1), png(2), png(3)])])
    assert result.rewards() == [3.0] and shown == [[1, 2, 3]]
    assert result.template["name"] == "ur2_point_score_video_generation"


def test_a_video_file_is_sampled_to_the_frames_and_size_asked(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(16):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 10, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    sizes: list[list[tuple[int, int]]] = []

    def judge(prepared: PreparedRequest) -> str:
        sizes.append([Image.open(io.BytesIO(m.data)).size for medium in prepared.media for m in medium.images()])
        return "Alignment Score (1-5): 4\nPhysics Score (1-5): 4\nStyle Score (1-5): 4"

    with service(ScriptedAdapter(fn=judge)) as (_, client):
        result = client.pointwise([("p", VideoFile(path, frames=4, size=(16, 8)))])
    assert result.rewards() == [4.0] and sizes == [[(16, 8)] * 4]
