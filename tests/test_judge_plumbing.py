"""The judges' shared plumbing: arguments recorded from the constructor (harness.adapters), the endpoint client
(harness.http_client) and the chat conversion with its token cap (harness.chat)."""

from __future__ import annotations

import inspect
import json
import random
import socket
from typing import Any, Callable, Iterable, Iterator

import pytest

from harness.adapters import Adapter
from harness.chat import ChatJudge, cap_generation, chat_content, chat_messages, prepared_from_chat
from harness.errors import UsageError
from harness.http_client import (Answer, EndpointClient, RetryPolicy, UnsendableRequest, get_json,
                                 retry_after_seconds)
from harness.records import Generation, LoadedMedia, MediaRef, PreparedRequest, Reply, Request
from reward.openai_api import OpenAIAdapter
from reward.replay import ReplayAdapter
from reward.scores import ScoresAdapter
from reward.scripted import ScriptedAdapter
from reward.testing.testserver import FakeOpenAIServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Echo(Adapter):
    """A judge whose constructor never calls `super().__init__`: its arguments are recorded all the same."""

    name = "echo"

    def __init__(self, word: str, times: int = 2, api_key: str = "", hook: Callable[[str], str] | None = None,
                 table: dict[str, float] | None = None, ratio: float | None = None, **extra: Any):
        self.word, self.times = word, times
        self.seen_args_in_body = dict(self.args)  # recorded before the body runs

    def identity(self) -> dict[str, Any]:
        return {"model": self.word}

    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        for p in requests:
            yield Reply(p.key, text=self.word * self.times)


class LoudEcho(Echo):
    """A subclass with its own signature: the record is of the class that was built, not of its parent."""

    name = "loud-echo"
    resolved_args = ("word",)

    def __init__(self, volume: int = 3):
        super().__init__(word="hey", times=volume)
        self.word = "HEY"  # resolved while starting, like openai's served model


class QuietEcho(Echo):
    """A subclass without a constructor records the parent constructor's arguments."""


def test_constructor_settings_are_recorded_with_defaults_extras_and_redaction():
    echo = Echo("hi", api_key="sk-abcdefghijklmnopqrstuvwx", hook=str.upper, table={"a": float("nan")}, colour="red")
    settings = {"word": "hi", "times": 2, "api_key": "sk-abcdefghijklmnopqrstuvwx", "ratio": None, "colour": "red"}
    assert echo.args == settings  # the hook and the table are Python objects, not settings
    assert echo.seen_args_in_body == echo.args
    assert echo.describe() == {"adapter": "echo", "model": "hi", "args": {**settings, "api_key": "***"}}
    loud = LoudEcho(volume=5)
    assert loud.args == {"volume": 5, "word": "HEY"}  # its own arguments, plus the one it resolved
    assert QuietEcho("x").args == {"word": "x", "times": 2, "api_key": "", "ratio": None}


def test_recording_keeps_the_signature_that_model_args_are_checked_and_coerced_against():
    assert list(inspect.signature(Echo.__init__).parameters) == ["self", "word", "times", "api_key", "hook", "table",
                                                                 "ratio", "extra"]
    assert Echo.from_args({"word": "w", "times": "4"}).args["times"] == 4  # coerced through the wrapper's hints
    with pytest.raises(UsageError, match="has no argument 'volume'"):
        Echo.check_args({"word": "w", "volume": "1"})
    assert LoudEcho.check_args({"volume": "1"}) == {"volume": 1}
    with pytest.raises(UsageError, match=r"needs word=\.\.\."):
        Echo.check_args({})


def built_ins() -> list[Adapter]:
    return [OpenAIAdapter(base_url="http://127.0.0.1:9/v1", model="m", check=False),
            ScoresAdapter(url="http://127.0.0.1:9", name="s", check=False),
            ScriptedAdapter(fn=lambda p: "x")]


@pytest.mark.parametrize("adapter", built_ins(), ids=lambda a: a.name)
def test_built_in_adapters_record_every_setting(adapter):
    params = {n for n in inspect.signature(type(adapter).__init__).parameters if n != "self"}
    python_only = {"fn"} if isinstance(adapter, ScriptedAdapter) else set()  # a callable hook
    assert set(adapter.args) == params - python_only
    json.dumps(adapter.describe(), allow_nan=False)  # what results.json holds is JSON


def test_replay_and_openai_record_what_rebuilds_them(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a", "response": "x"}\n')
    assert ReplayAdapter(str(path)).args == {"path": str(path), "field": "response", "name": ""}
    with FakeOpenAIServer(model="served-judge") as server:
        adapter = OpenAIAdapter(base_url=server.base_url, price_in=1.0, price_out=2.0)
        assert adapter.args["model"] == "served-judge"  # an empty model= is recorded as what is served
        assert (adapter.args["price_in"], adapter.args["price_out"]) == (1.0, 2.0)  # once left out
        rebuilt = OpenAIAdapter(**adapter.args)
        assert rebuilt.identity() == adapter.identity() and rebuilt.args == adapter.args


# ---- harness.http_client ----------------------------------------------------------------------------
def test_retry_policy_delay_is_capped_jittered_backoff_or_the_servers_retry_after():
    policy = RetryPolicy(max_retries=5, backoff=0.5, max_backoff=3.0, max_retry_after=10.0)
    rng = random.Random(0)
    for attempt in range(6):
        delay = policy.delay(attempt, None, rng)
        assert min(0.25 * 2 ** attempt, 3.0) <= delay <= min(0.75 * 2 ** attempt, 3.0)
    assert policy.delay(0, 7.5, rng) == 7.5 and policy.delay(0, 60.0, rng) == 10.0 and policy.delay(0, -1, rng) == 0
    assert retry_after_seconds("1.5") == 1.5 and retry_after_seconds("soon") is None


class Upper:
    """A provider for EndpointClient tests: posts {"text"} to the fake OpenAI server, reads the reply upper-cased."""

    def payload(self, prepared: PreparedRequest) -> str:
        if prepared.request.text == "unsendable":
            raise UnsendableRequest("nothing to send for this one")
        if prepared.request.text == "broken":
            raise ValueError("no body for that")
        return json.dumps({"messages": [{"role": "user", "content": prepared.request.text}], "max_tokens": 8})

    def answer(self, raw: bytes, where: str) -> Answer:
        return Answer(text=json.loads(raw)["choices"][0]["message"]["content"].upper())


def prepared(key: str, text: str) -> PreparedRequest:
    return PreparedRequest(Request(key, key, (text,)), (), key)


def test_a_retry_moves_to_the_next_replica():
    with FakeOpenAIServer(rate_500=1.0) as bad, FakeOpenAIServer(replies=["fine"]) as good:
        client = EndpointClient(Upper(), [bad.base_url, good.base_url], path="/chat/completions", concurrency=3,
                                retry=RetryPolicy(max_retries=1, backoff=0.001))
        replies = {r.key: r for r in client.generate(prepared(f"k{i}", f"q{i}") for i in range(10))}
        client.close()
        assert bad.stats()["requests"] == 5 and good.stats()["requests"] == 10
    assert all(r.ok and r.text == "FINE" for r in replies.values())
    assert [replies[f"k{i}"].attempts for i in range(10)] == [2, 1] * 5  # even ones start at the bad replica


def test_unsendable_requests_fail_without_an_attempt_and_a_closed_client_serves_again():
    with FakeOpenAIServer(replies=["ok"]) as server:
        client = EndpointClient(Upper(), [server.base_url], path="/chat/completions")
        first = {r.key: r for r in client.generate([prepared("a", "unsendable"), prepared("b", "broken"),
                                                     prepared("c", "fine")])}
        client.close()
        again = list(client.generate([prepared("d", "again")]))  # lmms-eval closes after every call
        client.close()
        assert server.stats()["requests"] == 2
    assert (first["a"].error, first["a"].attempts) == ("nothing to send for this one", 0)
    assert first["b"].error == "cannot build the request: no body for that" and first["b"].attempts == 0
    assert first["c"].text == "OK" and again[0].text == "OK"


def test_start_up_probe_names_an_unreachable_server_or_a_url_that_is_none():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UsageError, match=f"judge: cannot reach {url} .*; is the server running"):
        get_json(url, "/models", who="judge", server="server")
    for not_a_url in ("127.0.0.1:8000/v1", "localhost/v1", "ftp://host/v1"):
        with pytest.raises(UsageError, match=f"judge: '{not_a_url}' is not an http"):
            get_json(not_a_url, "/models", who="judge", server="server")
    with pytest.raises(UsageError, match="openai: 'localhost:8000/v1' is not an http"):
        OpenAIAdapter(base_url="localhost:8000/v1", model="m", check=False)  # caught without a probe too
    with FakeOpenAIServer(model="m") as server:
        assert get_json(server.base_url, "/models", who="judge", server="server")[1]["data"][0]["id"] == "m"
        assert get_json(server.base_url, "/nothing", who="judge", server="server") == (404, None)


# ---- harness.chat -----------------------------------------------------------------------------------
def image(label: str, data: bytes) -> LoadedMedia:
    return LoadedMedia("image", label, label * 8, data, "image/png")


def test_chat_content_merges_text_expands_video_frames_and_can_put_media_first():
    frames = (image("f1", b"frame one"), image("f2", b"frame two"))
    video = LoadedMedia("video", "v.mp4", "v" * 64, b"", "video/mp4", frames=frames)
    request = Request("k", "k", ("Look: ", MediaRef("image", "a.png"), "then ", "this ", MediaRef("video", "v.mp4")))
    p = PreparedRequest(request, (image("a", b"pixels"), video), "h")
    content = chat_content(p)
    assert [c["type"] for c in content] == ["text", "image_url", "text", "image_url", "image_url"]
    assert content[2]["text"] == "then this "
    first = chat_content(p, media_first=True, image_fields={"modalities": "multi-images"})
    assert [c["type"] for c in first] == ["image_url"] * 3 + ["text"] and first[3]["text"] == "Look: then this "
    assert all(c["modalities"] == "multi-images" for c in first[:3])


def test_chat_messages_round_trip_through_prepared_from_chat():
    request = Request("k", "k", (MediaRef("image", "a.png"), "Which is better? ", MediaRef("image", "b.png"), "Say."),
                      Generation(max_new_tokens=9, temperature=0.3))
    original = PreparedRequest(request, (image("a", b"AAAA"), image("b", b"BBBB")), "h")
    body = {"messages": chat_messages(original), "max_tokens": 9, "temperature": 0.3}
    back = prepared_from_chat(body)
    assert back.request.text == original.request.text
    assert [m.data for m in back.media] == [b"AAAA", b"BBBB"] and [m.mime for m in back.media] == ["image/png"] * 2
    assert [type(p).__name__ for p in back.request.parts] == ["MediaRef", "str", "MediaRef", "str"]
    assert back.request.generation == Generation(max_new_tokens=9, temperature=0.3)
    plain = prepared_from_chat({"messages": [{"role": "user", "content": "hi"}]})
    assert plain.request.parts == ("hi",) and plain.request.generation.max_new_tokens == 256


def test_the_token_cap_is_one_rule_for_every_chat_judge():
    assert cap_generation(Generation(max_new_tokens=512, seed=3), 64) == Generation(max_new_tokens=64, seed=3)
    assert cap_generation(Generation(max_new_tokens=16), 64) == Generation(max_new_tokens=16)
    assert cap_generation(Generation(max_new_tokens=16), None) == Generation(max_new_tokens=16)
    capped = OpenAIAdapter(base_url="http://127.0.0.1:9/v1", model="m", check=False, max_new_tokens=32)
    assert isinstance(capped, ChatJudge)
    body = capped.body(PreparedRequest(Request("k", "k", ("hi",), Generation(max_new_tokens=4096)), (), "h"))
    assert body["max_tokens"] == 32
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
