"""The `openai` adapter against the local OpenAI-compatible server (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import socket

import pytest

from harness.cli import main
from harness.errors import UsageError
from harness.judging import JudgeClient
from harness.records import Generation, LoadedMedia, MediaRef, PreparedRequest, Request
from harness.runner import RunOptions, run
from reward.openai_api import OpenAIAdapter, _retry_after
from reward.testing.testserver import FakeOpenAIServer

from .conftest import make_data_dir, only_run_dir, read_jsonl, row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_endpoint_refusing_connections_fails_before_any_work(tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}/v1"
    data = make_data_dir(tmp_path / "data", [row("wildvision_a", "wildvision-battle")])
    code = main(["run", "--tasks", "vlrewardbench", "--model", "openai", "--model-args", f"base_url={url},model=m",
                 "--data-dir", str(data), "--output", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"openai: cannot reach {url}" in err and "Connection refused" in err
    assert not (tmp_path / "runs").exists()


def test_run_through_the_server_records_usage_cost_and_no_secret(vlrb_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sk-test-secret")
    with FakeOpenAIServer(model="gpt-4o-mini", api_key="sk-test-secret") as server:
        code = main(["run", "--tasks", "vlrewardbench", "--model", "openai", "--model-args",
                     f"base_url={server.base_url},api_key_env=JUDGE_KEY,concurrency=8", "--data-dir", str(vlrb_dir),
                     "--limit", "60", "--output", str(tmp_path / "runs")])
        assert code == 0, capsys.readouterr().err
        assert server.stats()["requests"] == 60  # chat requests (the /models check is not counted)
    run_dir = only_run_dir(tmp_path / "runs")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["model"]["model"] == "gpt-4o-mini"  # taken from GET /models
    task = results["tasks"]["vlrewardbench"]
    assert task["counts"] == {"n": 60, "n_invalid": 0, "n_error": 0}
    reply = read_jsonl(run_dir / "vlrewardbench.samples.jsonl")[0]["replies"][0]
    assert reply["attempts"] == 1 and reply["usage"]["prompt_tokens"] > 256
    expected_cost = (reply["usage"]["prompt_tokens"] * 0.15 + reply["usage"]["completion_tokens"] * 0.60) / 1e6
    assert reply["cost_usd"] == pytest.approx(expected_cost)
    for path in run_dir.iterdir():
        assert "sk-test-secret" not in path.read_text(), path.name


def test_wrong_key_is_a_clear_start_error(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    with FakeOpenAIServer(api_key="right") as server:
        with pytest.raises(UsageError, match=r"refused the credentials \(HTTP 401\); set the key in \$OPENAI_API_KEY"):
            OpenAIAdapter(base_url=server.base_url)


@pytest.mark.slow
def test_twenty_percent_faults_over_500_requests(vlrb_dir, tmp_path):
    max_retries = 6
    with FakeOpenAIServer(fault_rate=0.2, retry_after="0.01", hang_seconds=5, seed=7) as server:
        adapter = OpenAIAdapter(base_url=server.base_url, concurrency=32, timeout=0.5, max_retries=max_retries,
                                backoff=0.01, max_backoff=0.05)
        outcome = run(RunOptions(tasks=["vlrewardbench"], model="openai", data_dir=vlrb_dir, limit=500,
                                 output=tmp_path / "runs", use_cache=False, bootstrap_resamples=10), adapter=adapter)
        stats = server.stats()
    assert set(stats["faults"]) == {"429", "500", "hang", "malformed", "empty"}
    assert sum(stats["faults"].values()) > 60  # about 20% of ~600 attempts
    assert stats["max_attempts"] <= max_retries + 1
    records = read_jsonl(outcome.dir / "vlrewardbench.samples.jsonl")
    assert len(records) == len({r["id"] for r in records}) == 500
    assert all(r["status"] == "ok" or (r["status"] == "error" and r["stage"] == "adapter") for r in records)
    attempts = [r["replies"][0]["attempts"] for r in records]
    assert max(attempts) <= max_retries + 1 and sum(a > 1 for a in attempts) > 50
    n_error = outcome.results["tasks"]["vlrewardbench"]["counts"]["n_error"]
    assert n_error == sum(r["status"] == "error" for r in records)


def test_unretryable_status_fails_at_once_and_retries_are_bounded(tmp_path):
    data = make_data_dir(tmp_path / "data", [row(f"wildvision_{i}", "wildvision-battle", query=f"q{i}")
                                            for i in range(4)])
    with FakeOpenAIServer(rate_500=1.0) as server:
        adapter = OpenAIAdapter(base_url=server.base_url, max_retries=2, backoff=0.001)
        outcome = run(RunOptions(tasks=["vlrewardbench"], model="openai", data_dir=data, output=tmp_path / "runs",
                                 use_cache=False), adapter=adapter)
        assert server.stats()["max_attempts"] == 3
    records = read_jsonl(outcome.dir / "vlrewardbench.samples.jsonl")
    assert all(r["status"] == "error" and "gave up after 3 attempts" in r["reason"] for r in records)
    assert all("HTTP 500" in r["reason"] for r in records)
    with FakeOpenAIServer() as server:
        adapter = OpenAIAdapter(base_url=server.base_url, model="m", max_retries=3)
        prepared = PreparedRequest(Request("k", "k", ("hi",), Generation(max_new_tokens=0)), (), "h")
        reply = next(adapter.generate([prepared]))  # max_tokens=0 is refused with a 400: no retry
        adapter.close()
    assert reply.attempts == 1 and reply.error.startswith("HTTP 400")


def test_replicas_are_used_round_robin():
    with FakeOpenAIServer() as a, FakeOpenAIServer() as b:
        adapter = OpenAIAdapter(base_url=f"{a.base_url}|{b.base_url}", concurrency=4)
        requests = [Request(f"k{i}", f"k{i}", (f"question {i}",)) for i in range(20)]
        replies = list(JudgeClient(adapter, None).judge(requests))
        adapter.close()
        assert len(replies) == 20 and all(e.reply.ok for e in replies)
        assert a.stats()["requests"] == b.stats()["requests"] == 10


def test_retry_after_is_honoured():
    assert _retry_after("2") == 2.0 and _retry_after("0.25") == 0.25 and _retry_after(None) is None
    assert 0 <= _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") < 1e-9
    with FakeOpenAIServer(rate_429=0.5, retry_after="0.3", seed=1) as server:
        adapter = OpenAIAdapter(base_url=server.base_url, concurrency=8, max_retries=8, backoff=0.001)
        requests = [Request(f"k{i}", f"k{i}", (f"question {i}",)) for i in range(16)]
        replies = [e.reply for e in JudgeClient(adapter, None).judge(requests)]
        adapter.close()
    retried = [r for r in replies if r.attempts > 1]
    assert retried and all(r.ok for r in replies)
    assert all(r.latency_s >= 0.3 * (r.attempts - 1) for r in retried)


def test_request_body_images_order_and_sglang_flag():
    image = LoadedMedia("image", "a.png", "0" * 64, b"\x89PNG fake", "image/png")
    ref = MediaRef("image", "a.png")
    prepared = PreparedRequest(Request("k", "k", (ref, "\nJudge ", "this."), Generation(max_new_tokens=7)),
                               (image,), "h")
    adapter = OpenAIAdapter(base_url="http://127.0.0.1:9/v1", model="m", check=False, sglang_multi_image=True)
    body = adapter.body(prepared)
    content = body["messages"][0]["content"]
    assert [p["type"] for p in content] == ["image_url", "text"]
    assert content[0]["image_url"]["url"] == "data:image/png;base64,iVBORyBmYWtl"
    assert content[0]["modalities"] == "multi-images"
    assert content[1]["text"] == "\nJudge this."
    assert (body["max_tokens"], body["temperature"], body["model"]) == (7, 0.0, "m")
    text_first = PreparedRequest(Request("k", "k", ("Judge this.", ref)), (image,), "h")
    assert [p["type"] for p in adapter.body(text_first)["messages"][0]["content"]] == ["text", "image_url"]
    first = OpenAIAdapter(base_url="http://127.0.0.1:9/v1", model="m", check=False, media_first=True)
    assert [p["type"] for p in first.body(text_first)["messages"][0]["content"]] == ["image_url", "text"]
    assert "media_first" in first.identity() and first.identity() != adapter.identity()
