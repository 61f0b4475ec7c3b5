"""What the test server reads from an OpenAI chat-completions body, and what it answers by default.

`inspect_chat_body` validates a body as the real API would (400 with the offending `param` otherwise) and
measures it for `usage`; `request_key` names a body, so a test can count the attempts one request took;
`HashResponder` is the default, deterministic reply.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .faults import DEFAULT_REPLIES


class BadRequest(Exception):
    """A request OpenAI would refuse with 400; `param` names the offending field."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ChatRequestInfo:
    """What the server needs from a validated body: approximate prompt size and the reply cap."""

    prompt_words: int
    images: int
    max_tokens: int | None


def canonical_json(value: Any) -> bytes:
    """Key-order- and whitespace-independent serialisation, so equal bodies hash equally whichever client sent them."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def request_key(body: Any) -> str:
    """The key of `Stats.attempts` for a parsed request body (how tests find a request's attempt count)."""
    return hashlib.sha256(canonical_json(body)).hexdigest()[:16]


def raw_key(raw: bytes) -> str:
    """Attempt key of a body that is not JSON: its bytes are all there is."""
    return "raw:" + hashlib.sha256(raw).hexdigest()[:16]


def _check_image_url(url: Any, param: str) -> None:
    if not isinstance(url, str) or not url:
        raise BadRequest("image_url.url must be a non-empty string", param)
    if url.startswith(("http://", "https://")):
        return  # accepted but never fetched: the server has no network and needs no pixels
    header, comma, payload = url.partition(",")
    if not url.startswith("data:image/") or not comma or not header.endswith(";base64"):
        raise BadRequest("image URL must be http(s) or data:image/<type>;base64,<payload>", param)
    try:
        if not base64.b64decode(payload, validate=True):
            raise BadRequest("image data URL has an empty payload", param)
    except (binascii.Error, ValueError):
        raise BadRequest("image data URL payload is not valid base64", param) from None


def _count_content(content: Any, param: str) -> tuple[int, int]:
    """(words, images) of one message's content; raises BadRequest on a shape OpenAI would refuse."""
    if content is None:
        return 0, 0  # e.g. an assistant turn that only carried tool calls
    if isinstance(content, str):
        return len(content.split()), 0
    if not isinstance(content, list):
        raise BadRequest("content must be a string or a list of parts", param)
    words = images = 0
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise BadRequest("content part must be an object", where)
        kind = part.get("type")
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise BadRequest("text part needs a string 'text'", where)
            words += len(part["text"].split())
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image  # a bare string is tolerated
            _check_image_url(url, f"{where}.image_url.url")
            images += 1
        else:
            raise BadRequest(f"unsupported content part type {kind!r}", f"{where}.type")
    return words, images


def _optional_number(body: dict, name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise BadRequest(f"{name} must be a number in [{low}, {high}]", name)


def inspect_chat_body(body: Any) -> ChatRequestInfo:
    """Validate an OpenAI chat-completions body the way the real API would, cheaply (no image decoding beyond
    base64), and measure it for `usage`."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' is required and must be a non-empty list", "messages")
    words = images = 0
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest("each message must be an object with a string 'role'", f"messages[{i}]")
        w, n = _count_content(message.get("content"), f"messages[{i}].content")
        words, images = words + w, images + n
    if body.get("stream"):
        raise BadRequest("stream=true is not supported by the test server", "stream")
    if body.get("n", 1) != 1:
        raise BadRequest("only n=1 is supported", "n")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise BadRequest("model must be a string", "model")
    _optional_number(body, "temperature", 0.0, 2.0)
    _optional_number(body, "top_p", 0.0, 1.0)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise BadRequest("seed must be an integer", "seed")
    cap = None
    for name in ("max_completion_tokens", "max_tokens"):  # the newer name wins, as in OpenAI's API
        value = body.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadRequest(f"{name} must be a positive integer", name)
            cap = value if cap is None else cap
    return ChatRequestInfo(prompt_words=words, images=images, max_tokens=cap)


# ---------------------------------------------------------------------------------------------------------------
# Responders


class HashResponder:
    """Default reply: a candidate picked by the hash of `messages`, so the same conversation always gets the same
    verdict while different conversations spread over the candidates."""

    def __init__(self, replies: tuple[str, ...] = DEFAULT_REPLIES):
        self.replies = tuple(replies)

    def __call__(self, body: dict) -> str:
        digest = hashlib.sha256(canonical_json(body.get("messages"))).digest()
        return self.replies[int.from_bytes(digest[:8], "big") % len(self.replies)]
