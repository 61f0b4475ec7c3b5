"""A judge prompt as chat messages, and the cap on its generation length, written once for every judge that
generates text: an endpoint (`openai`), a local transformers model (`hf`), and any future local engine
(vLLM's and SGLang's offline `chat()` take the same OpenAI-format messages).

- `ChatJudge`: the base class of those judges. Its `max_new_tokens=` argument caps the protocol's length
  and `temperature=` replaces the protocol's (greedy) decoding, in `generation_for`, which the judgment cache
  keys on, so a capped or sampled run never reuses other answers.
- `chat_content` / `chat_messages`: a prepared request's parts as one user turn in OpenAI's format: runs
  of text merged into one text part, each image (a video as its sampled frames) a base64 data URL, in the
  prompt's own order or with every image first.
- `prepared_from_chat`: the inverse, for a local model answering an OpenAI chat body (the test server
  backed by a real tiny model stands in for a vLLM judge that way).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from typing import Any, Mapping

from .adapters import Adapter
from .errors import UsageError
from .records import Generation, LoadedMedia, MediaRef, Part, PreparedRequest, Request

#: The completion length assumed for a chat body that names none (OpenAI's API has no fixed default).
DEFAULT_CHAT_MAX_TOKENS = 256


def cap_generation(requested: Generation, cap: int | None) -> Generation:
    """`requested` with at most `cap` new tokens (None: no cap)."""
    if cap is not None and requested.max_new_tokens > cap:
        return replace(requested, max_new_tokens=cap)
    return requested


def sampled_generation(requested: Generation, temperature: float | None) -> Generation:
    """`requested` decoded at `temperature` (None: the protocol's own, greedy for every protocol today)."""
    if temperature is None or temperature == requested.temperature:
        return requested
    return replace(requested, temperature=temperature)


def check_temperature(adapter: str, temperature: float | None) -> float | None:
    if temperature is not None and not (0 <= temperature <= 10):
        raise UsageError(f"{adapter}: temperature={temperature}: a number in [0, 10]")
    return temperature


class ChatJudge(Adapter):
    """Base of the judges that generate text from a chat prompt. A subclass sets `self.max_new_tokens` from
    its `max_new_tokens=` argument and `self.temperature` from `temperature=` (repeated sampling, `--samples
    K`); what it generates with is `generation_for(request.generation)`."""

    max_new_tokens: int | None = None
    temperature: float | None = None

    def generation_for(self, requested: Generation) -> Generation:
        return sampled_generation(cap_generation(requested, self.max_new_tokens), self.temperature)


def data_url(image: LoadedMedia) -> str:
    return f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"


def chat_content(prepared: PreparedRequest, media_first: bool = False,
                 image_fields: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The content of one user turn. `media_first` moves every image before the text (keeping both orders
    among themselves); `image_fields` are added to each image part (SGLang's `"modalities": "multi-images"`)."""
    parts = list(prepared.parts())  # a video travels as its frames (portable across servers)
    if media_first:
        parts = [p for p in parts if not isinstance(p, str)] + [p for p in parts if isinstance(p, str)]
    content: list[dict[str, Any]] = []
    for part in parts:
        if not isinstance(part, str):
            content.append({"type": "image_url", "image_url": {"url": data_url(part)}, **(image_fields or {})})
        elif content and content[-1]["type"] == "text":
            content[-1]["text"] += part
        else:
            content.append({"type": "text", "text": part})
    return content


def chat_messages(prepared: PreparedRequest, media_first: bool = False,
                  image_fields: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The request as OpenAI chat messages: one user turn (`chat_content`)."""
    return [{"role": "user", "content": chat_content(prepared, media_first, image_fields)}]


def prepared_from_chat(body: Mapping[str, Any]) -> PreparedRequest:
    """An OpenAI chat-completions body as a prepared request: the text and base64 image parts of every message,
    in order, as one prompt; `max_completion_tokens` (or `max_tokens`) and `temperature` as its generation.
    The body is expected to be valid (the test server checks it before any responder sees it)."""
    parts: list[Part] = []
    media: list[LoadedMedia] = []
    for message in body["messages"]:
        content = message["content"]
        items: list[Mapping[str, Any]] = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for item in items:
            if item["type"] == "text":
                parts.append(item["text"])
            elif item["type"] == "image_url":
                header, encoded = item["image_url"]["url"].split(",", 1)
                data = base64.b64decode(encoded)
                ref = MediaRef("image", f"image {len(media) + 1}")
                parts.append(ref)
                media.append(LoadedMedia("image", ref.label, hashlib.sha256(data).hexdigest(), data,
                                         header.removeprefix("data:").split(";")[0]))
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_CHAT_MAX_TOKENS
    generation = Generation(max_new_tokens=int(max_tokens), temperature=float(body.get("temperature") or 0.0))
    return PreparedRequest(Request("served", "served", tuple(parts), generation), tuple(media), "")
