"""The local OpenAI-compatible test server: protocol shape, validation, auth, every injected fault, counters,
pluggable responders, and both hosting modes. Clients are urllib (simple calls) and aiohttp (timeouts,
concurrency) -- deliberately not the harness's own OpenAI adapter, which these tests must not depend on."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from reward.testing.chat_requests import request_key
from reward.testing.faults import DEFAULT_REPLIES, MAIN_FAULT_KINDS, ServerOptions
from reward.testing.serve import start_server_process, stop_server_process
from reward.testing.testserver import FakeOpenAIServer

PNG_1X1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def chat_body(text: str = "Which answer is better?", image: bool = True, **params: Any) -> dict:
    content: list[dict] = [{"type": "text", "text": text}]
    if image:
        content.append({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1X1}"},
                        "modalities": "multi-images"})
    return {"model": "judge-under-test", "messages": [{"role": "user", "content": content}], **params}


def http(url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, raw body) for GET (body None) or POST (dict -> JSON, bytes sent as is); no raise on 4xx/5xx."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})},
                                     method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def chat(server: FakeOpenAIServer, body: Any, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    return http(server.base_url + "/chat/completions", body, **kwargs)


def assert_error(status: int, raw: bytes, expected_status: int) -> dict:
    assert status == expected_status, raw
    error = json.loads(raw)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


def test_models_endpoint():
    with FakeOpenAIServer(model="my-judge") as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        status, _, raw = http(server.base_url + "/models")
    assert status == 200
    assert json.loads(raw) == {"object": "list", "data": [{"id": "my-judge", "object": "model",
                                                            "owned_by": "testserver"}]}


def test_chat_completion_with_text_and_image_has_standard_shape_and_usage():
    with FakeOpenAIServer(image_tokens=100) as server:
        status, headers, raw = chat(server, chat_body("one two three four", temperature=0.0, top_p=1.0, seed=7,
                                                      max_tokens=512))
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    reply = json.loads(raw)
    assert reply["object"] == "chat.completion" and reply["id"].startswith("chatcmpl-")
    assert isinstance(reply["created"], int) and reply["model"] == "judge-under-test"
    (choice,) = reply["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"] in DEFAULT_REPLIES
    # 4 prompt words + one image at 100 tokens; the reply's word count as completion tokens.
    completion_words = len(choice["message"]["content"].split())
    assert reply["usage"] == {"prompt_tokens": 104, "completion_tokens": completion_words,
                              "total_tokens": 104 + completion_words}


def test_reply_is_deterministic_in_the_messages_and_configurable():
    with FakeOpenAIServer() as server:
        first = json.loads(chat(server, chat_body("same question"))[2])["choices"][0]["message"]["content"]
        # Sampling parameters and key order do not matter; only the messages pick the reply.
        again = chat_body("same question", temperature=1.3, max_completion_tokens=50)
        again = dict(reversed(list(again.items())))
        assert json.loads(chat(server, again)[2])["choices"][0]["message"]["content"] == first
        seen = {json.loads(chat(server, chat_body(f"question {i}", image=False))[2])["choices"][0]["message"]["content"]
                for i in range(16)}
    assert seen == set(DEFAULT_REPLIES)  # different conversations spread over the candidates
    with FakeOpenAIServer(replies=["only this"], model="m2") as server:
        reply = json.loads(chat(server, {"messages": [{"role": "user", "content": "hi"}]})[2])
    assert reply["choices"][0]["message"]["content"] == "only this" and reply["model"] == "m2"


def test_max_tokens_cuts_the_reply():
    with FakeOpenAIServer(replies=["a b c d e"]) as server:
        reply = json.loads(chat(server, chat_body(max_tokens=2))[2])
    assert reply["choices"][0]["message"]["content"] == "a b" and reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["completion_tokens"] == 2


def test_bad_requests_get_400_with_openai_error_json():
    bad_image = chat_body()
    bad_image["messages"][0]["content"][1]["image_url"]["url"] = "data:image/png;base64,not*base64!"
    with FakeOpenAIServer() as server:
        assert_error(*chat(server, b"{not json")[::2], 400)
        assert_error(*chat(server, {"model": "m"})[::2], 400)["param"] == "messages"
        error = assert_error(*chat(server, bad_image)[::2], 400)
        assert "base64" in error["message"] and error["param"] == "messages[0].content[1].image_url.url"
        assert_error(*chat(server, chat_body(max_tokens=0))[::2], 400)
        assert_error(*chat(server, {"messages": [{"role": "user", "content": [{"type": "audio"}]}]})[::2], 400)
        stats = server.stats()
    assert stats["statuses"] == {"400": 5} and stats["faults"] == {}
    with FakeOpenAIServer(max_body_mb=0.01) as server:  # ~10 KB
        assert_error(*chat(server, chat_body("x " * 10_000))[::2], 413)


def test_api_key_is_required_when_configured():
    with FakeOpenAIServer(api_key="sk-test") as server:
        assert_error(*chat(server, chat_body())[::2], 401)["code"] == "invalid_api_key"
        assert_error(*chat(server, chat_body(), headers={"Authorization": "Bearer wrong"})[::2], 401)
        assert http(server.base_url + "/models")[0] == 401
        assert chat(server, chat_body(), headers={"Authorization": "Bearer sk-test"})[0] == 200
        assert http(server.base_url + "/models", headers={"Authorization": "Bearer sk-test"})[0] == 200


@pytest.mark.parametrize("retry_after", ["0.05", "2"])
def test_fault_429_has_retry_after(retry_after):
    with FakeOpenAIServer(rate_429=1.0, retry_after=retry_after) as server:
        status, headers, raw = chat(server, chat_body())
    assert assert_error(status, raw, 429)["code"] == "rate_limit_exceeded"
    assert headers["Retry-After"] == retry_after
    assert headers["retry-after-ms"] == str(int(float(retry_after) * 1000))


def test_fault_500_malformed_and_empty():
    with FakeOpenAIServer(rate_500=1.0) as server:
        assert_error(*chat(server, chat_body())[::2], 500)
    with FakeOpenAIServer(rate_malformed=1.0) as server:
        status, _, raw = chat(server, chat_body())
        assert status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
    with FakeOpenAIServer(rate_empty=1.0) as server:
        status, _, raw = chat(server, chat_body())
        reply = json.loads(raw)
    assert status == 200 and reply["choices"][0]["message"]["content"] == ""
    assert reply["usage"]["completion_tokens"] == 0


async def _post_with_timeout(url: str, body: dict, timeout: float) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            await resp.read()
            return resp.status


def test_fault_hang_outlasts_client_timeout_and_stop_does_not_wait_for_it():
    server = FakeOpenAIServer(rate_hang=1.0).start()  # hang_seconds defaults to 30
    try:
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            asyncio.run(_post_with_timeout(server.base_url + "/chat/completions", chat_body(), 0.3))
        assert time.monotonic() - started < 2
        # A hang still in progress when the server stops is woken and answered 503, not waited for.
        late: list[int] = []
        pending = threading.Thread(target=lambda: late.append(chat(server, chat_body(), timeout=10)[0]))
        pending.start()
        deadline = time.monotonic() + 5
        while server.stats()["faults"].get("hang", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # until the second request is inside its hang
    finally:
        started = time.monotonic()
        server.stop()
    pending.join(5)
    assert time.monotonic() - started < 3 and not pending.is_alive() and late == [503]
    stats = server.stats()
    assert stats["faults"] == {"hang": 2} and stats["client_disconnects"] == 1  # the timed-out client


def test_hang_answers_normally_after_hang_seconds():
    with FakeOpenAIServer(rate_hang=1.0, hang_seconds=0.2) as server:
        assert asyncio.run(_post_with_timeout(server.base_url + "/chat/completions", chat_body(), 3)) == 200


def test_fault_disconnect_drops_the_connection():
    with FakeOpenAIServer(rate_disconnect=1.0) as server:
        with pytest.raises(aiohttp.ClientError):
            asyncio.run(_post_with_timeout(server.base_url + "/chat/completions", chat_body(), 3))
        stats = server.stats()
    assert stats["faults"] == {"disconnect": 1} and stats["statuses"] == {} and stats["client_disconnects"] == 0


def _outcome(status: int, raw: bytes) -> str:
    """Which fault a response shows, when every request gets one and a hang lasts 0 s."""
    if status != 200:
        return str(status)
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except ValueError:
        return "malformed"
    return "empty" if content == "" else "hang"


def test_fault_rate_is_seeded_split_and_drawn_per_request():
    def sequence(seed: int) -> list[str]:
        with FakeOpenAIServer(fault_rate=1.0, seed=seed, hang_seconds=0.0) as server:
            outcomes = [_outcome(*chat(server, chat_body(f"q{i}", image=False))[::2]) for i in range(60)]
            faults = server.stats()["faults"]
        assert faults == dict(Counter(outcomes)) and sum(faults.values()) == 60
        return outcomes

    first = sequence(3)
    assert first == sequence(3)  # same seed, same faults in the same order
    assert first != sequence(4)
    assert set(first) == set(MAIN_FAULT_KINDS)  # fault_rate covers the five main kinds (no disconnects)
    assert ServerOptions(fault_rate=0.5).fault_table()[0] == ("429", 0.1)
    with pytest.raises(ValueError, match="sum to"):
        ServerOptions(rate_500=0.6, rate_429=0.6)
    # Independent draws per request: the same body, retried, eventually succeeds.
    with FakeOpenAIServer(rate_500=0.5, seed=1) as server:
        statuses = [chat(server, chat_body("retried"))[0] for _ in range(12)]
    assert set(statuses) == {200, 500}


async def _concurrent(url: str, bodies: list[dict]) -> list[int]:
    async with aiohttp.ClientSession() as session:
        async def one(body: dict) -> int:
            async with session.post(url, json=body) as resp:
                await resp.read()
                return resp.status
        return await asyncio.gather(*(one(body) for body in bodies))


def test_stats_counters_attempts_and_reset():
    retried, other = chat_body("retried"), chat_body("other")
    with FakeOpenAIServer(latency=0.2, jitter=0.01) as server:
        statuses = asyncio.run(_concurrent(server.base_url + "/chat/completions", [retried] * 3 + [other] * 3))
        assert statuses == [200] * 6
        chat(server, b"garbage")
        stats = server.stats()
        assert stats["requests"] == 7 and stats["statuses"] == {"200": 6, "400": 1}
        assert stats["attempts"][request_key(retried)] == 3 and stats["max_attempts"] == 3
        assert stats["max_in_flight"] == 6 and stats["in_flight"] == 0
        assert json.loads(http(server.url + "/stats")[2]) == stats  # the same numbers over HTTP
        assert http(server.url + "/stats/reset", b"")[0] == 200
        assert server.stats()["requests"] == 0 and server.stats()["attempts"] == {}


def test_custom_responders_sync_async_and_failing():
    seen: list[dict] = []

    def echo(body: dict) -> str:
        seen.append(body)
        return "echo: " + body["messages"][0]["content"]

    with FakeOpenAIServer(echo) as server:
        reply = json.loads(chat(server, {"messages": [{"role": "user", "content": "hello"}], "seed": 5})[2])
    assert reply["choices"][0]["message"]["content"] == "echo: hello" and seen[0]["seed"] == 5

    async def slow_upper(body: dict) -> str:
        await asyncio.sleep(0.01)
        return body["messages"][0]["content"].upper()

    with FakeOpenAIServer(slow_upper) as server:
        reply = json.loads(chat(server, {"messages": [{"role": "user", "content": "hello"}]})[2])
    assert reply["choices"][0]["message"]["content"] == "HELLO"

    def broken(body: dict) -> str:
        raise RuntimeError("model exploded")

    with FakeOpenAIServer(broken) as server:
        error = assert_error(*chat(server, chat_body())[::2], 500)
        assert "model exploded" in error["message"] and server.stats()["responder_errors"] == 1
        assert http(server.base_url + "/models")[0] == 200  # one failure does not take the server down


def test_in_process_server_leaves_no_threads():
    before = set(threading.enumerate())
    with FakeOpenAIServer(lambda body: "ok") as server:  # a sync responder also starts a worker thread
        assert chat(server, chat_body())[0] == 200
    assert set(threading.enumerate()) == before


def test_subprocess_mode_starts_answers_and_stops():
    proc, base_url = start_server_process(latency=0.01, api_key="sk-proc", replies=["from the process"],
                                          max_lifetime=60)
    try:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        status, _, raw = http(base_url + "/chat/completions", chat_body(), headers={"Authorization": "Bearer sk-proc"})
        assert status == 200 and json.loads(raw)["choices"][0]["message"]["content"] == "from the process"
        stats = json.loads(http(base_url.removesuffix("/v1") + "/stats")[2])
        assert stats["requests"] == 1 and stats["statuses"] == {"200": 1}
    finally:
        assert stop_server_process(proc) == 0
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(base_url + "/models", timeout=2)
    # An orphaned server (its parent's end of stdin closed) exits by itself.
    proc, _ = start_server_process()
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        assert proc.wait(5) == 0
    finally:
        stop_server_process(proc)
