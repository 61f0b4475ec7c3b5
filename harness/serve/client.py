"""Python clients of the reward service: `RewardClient` (synchronous) and `AsyncRewardClient` (coroutines).

    with RewardClient("http://127.0.0.1:8700") as client:
        result = client.pointwise([(prompt, image) for prompt, image in zip(prompts, images)])
        rewards, mask = result.rewards(), result.mask()   # a failed item: reward None, mask False

Media may be PIL images, numpy arrays (HWC or HW, uint8), encoded bytes (PNG/JPEG) or paths; the client sends
them as base64 (a PIL image or an array as PNG). A list of images is a video's frames; `VideoFile(path, frames,
size)` is a video file the server samples (it must be readable by the server). `send_paths=True` sends image
paths as paths instead of their bytes, for a service on the same machine.

Retries use the project's HTTP retry policy (`harness.http_client.RetryPolicy`): a 429 is retried after the
service's `Retry-After` (its millisecond form when given), as are 5xx answers and connection errors, with
jittered backoff, at most `max_retries` times; a 400 (malformed body) is a `RewardServiceError` at once, and a
422 (`on_failure="error"` with failed items) an `ItemsFailed` carrying the answer. The synchronous client runs
the asynchronous one on its own event loop thread (`harness.http_client.LoopThread`), so there is one transport.
"""

from __future__ import annotations

import base64
import io
import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence, TypeVar

from ..errors import UsageError
from ..http_client import FatalError, LoopThread, RetryableError, RetryPolicy, status_error

if TYPE_CHECKING:
    import aiohttp

DEFAULT_URL = "http://127.0.0.1:8700"
R = TypeVar("R", bound="RewardResult")


@dataclass(frozen=True)
class VideoFile:
    """A video file the server reads and samples to `frames` evenly spaced frames of `size` (width, height)."""

    path: str | os.PathLike[str]
    frames: int
    size: tuple[int, int]


@dataclass(frozen=True)
class ScoredItem:
    """One answered item. `value`: the score (pointwise) or P(A better) (pairwise); None when the item failed,
    unless the request's `on_failure="value:X"` gave X. `failure`: the stage that failed ("media", "judge",
    "parse")."""

    index: int
    ok: bool
    value: float | None
    reason: str | None
    latency_s: float
    failure: str | None = None
    raw: str | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    preference: float | None = None
    verdicts: tuple[str | None, ...] = ()
    consistent: bool | None = None
    a: int | None = None  # a group's pair: the candidates compared
    b: int | None = None

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> "ScoredItem":
        return cls(index=int(item["index"]), ok=bool(item["ok"]), value=item.get("value"), reason=item.get("reason"),
                   latency_s=float(item.get("latency_s", 0.0)), failure=item.get("failure"), raw=item.get("raw"),
                   scores=dict(item.get("scores") or {}), preference=item.get("preference"),
                   verdicts=tuple(item.get("verdicts") or ()), consistent=item.get("consistent"),
                   a=item.get("a"), b=item.get("b"))


@dataclass(frozen=True)
class RewardResult:
    """The answer of a pointwise or pairwise request."""

    items: tuple[ScoredItem, ...]
    judge: Mapping[str, Any]
    template: Mapping[str, Any]
    n_ok: int
    n_failed: int
    schema_version: int

    def rewards(self) -> list[float | None]:
        """Each item's value, in order (None for a failed item under `report` / `skip`)."""
        return [item.value for item in self.items]

    def mask(self) -> list[bool]:
        """Each item's success: False wherever the reward is missing or the caller's `value:X`."""
        return [item.ok for item in self.items]

    @classmethod
    def from_json(cls: type[R], body: Mapping[str, Any]) -> R:
        return cls(**_common(body))


@dataclass(frozen=True)
class GroupResult(RewardResult):
    """The answer of a group: per-candidate rewards (win rates or scores) and which of them rest on successful
    items only; `items` are the candidates (pointwise) or the pairs (pairwise, with `a` and `b`)."""

    candidate_rewards: tuple[float | None, ...] = ()
    candidate_ok: tuple[bool, ...] = ()

    def rewards(self) -> list[float | None]:
        return list(self.candidate_rewards)

    def mask(self) -> list[bool]:
        return list(self.candidate_ok)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> "GroupResult":
        return cls(**_common(body), candidate_rewards=tuple(body.get("rewards") or ()),
                   candidate_ok=tuple(bool(v) for v in body.get("rewards_ok") or ()))


def _common(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"items": tuple(ScoredItem.from_json(it) for it in body["items"]), "judge": body.get("judge") or {},
            "template": body.get("template") or {}, "n_ok": int(body["n_ok"]), "n_failed": int(body["n_failed"]),
            "schema_version": int(body["schema_version"])}


class RewardServiceError(Exception):
    """The service refused the request (HTTP `status`), or could not be reached after the retries."""

    def __init__(self, message: str, status: int | None = None, body: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.body = dict(body or {})


class ItemsFailed(RewardServiceError):
    """`on_failure="error"` and some items failed (HTTP 422): `failed` names them, `body` holds every answer."""

    def __init__(self, message: str, body: Mapping[str, Any]):
        super().__init__(message, 422, body)
        self.failed = list(body.get("failed") or [])


@dataclass
class ClientStats:
    """What a client did: requests made, HTTP attempts, and the 429s it waited out."""

    requests: int = 0
    attempts: int = 0
    throttled: int = 0
    waited_s: float = 0.0


# ---- encoding -------------------------------------------------------------------------------------------------

#: Threads encoding a request's images: Pillow's PNG and JPEG encoders release the GIL, and encoding 64 images of
#: 512x512 one by one takes ~2 s on two cores, more than the judge (bench/reward_service.py).
ENCODE_WORKERS = min(8, os.cpu_count() or 1)
IMAGE_FORMATS = ("png", "jpeg")


def encode_media(media: Sequence[Any], image_format: str = "png") -> list[Any]:
    """Every PIL image or HWC uint8 array (a video's frames too) as PNG bytes (lossless, zlib level 1, what the
    client itself would send) or JPEG bytes (quality 95, what the authors' own client sends: 20x faster to
    encode and ~6x smaller, but lossy), encoded several at a time; bytes, paths and anything else as they are."""
    if image_format not in IMAGE_FORMATS:
        raise UsageError(f"image_format={image_format!r}: one of {', '.join(IMAGE_FORMATS)}")
    flat: list[tuple[int, int | None, Any]] = [(i, None, m) for i, m in enumerate(media) if _is_pixels(m)]
    flat += [(i, k, f) for i, m in enumerate(media) if isinstance(m, (list, tuple))
             for k, f in enumerate(m) if _is_pixels(f)]
    if not flat:
        return list(media)
    with ThreadPoolExecutor(min(ENCODE_WORKERS, len(flat))) as pool:
        encoded = list(pool.map(lambda pixels: encode_pixels(pixels, image_format), [m for _, _, m in flat]))
    out: list[Any] = [list(m) if isinstance(m, (list, tuple)) else m for m in media]
    for (i, k, _), data in zip(flat, encoded):
        if k is None:
            out[i] = data
        else:
            out[i][k] = data
    return out


def encode_pixels(pixels: Any, image_format: str = "png") -> bytes:
    """A PIL image or a uint8 HW/HWC array as PNG (zlib level 1: much faster than the default and as lossless; the
    service hashes whatever bytes it gets) or JPEG (quality 95) bytes."""
    image = pixels if hasattr(pixels, "save") else _array_image(pixels)
    buffer = io.BytesIO()
    if image_format == "png":
        image.save(buffer, format="PNG", compress_level=1)
    else:
        image.convert("RGB").save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _is_pixels(value: Any) -> bool:
    """A PIL image or an array (numpy or anything exposing the array interface)."""
    return (hasattr(value, "save") and hasattr(value, "mode")) or hasattr(value, "__array_interface__")


def encode_image(image: Any, send_paths: bool = False) -> dict[str, str]:
    """MEDIA for one image: `{"b64": ...}` (or `{"path": ...}` for a path with `send_paths`)."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    elif isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if send_paths:
            return {"path": str(path.resolve())}
        data = path.read_bytes()
    elif _is_pixels(image) or hasattr(image, "__array__"):
        data = encode_pixels(image)
    else:
        raise TypeError(f"cannot send a {type(image).__name__} as an image: give a PIL image, a uint8 HWC array, "
                        f"PNG/JPEG bytes or a path")
    return {"b64": base64.b64encode(data).decode("ascii")}


def encode_candidate(candidate: Any, send_paths: bool = False) -> dict[str, Any]:
    """MEDIA for an image, VIDEO for a `VideoFile` or a list of frames."""
    if isinstance(candidate, VideoFile):
        return {"path": str(candidate.path), "frames": candidate.frames, "size": list(candidate.size)}
    if isinstance(candidate, (list, tuple)):
        return {"frames": [encode_image(frame, send_paths) for frame in candidate]}
    return encode_image(candidate, send_paths)


def _array_image(array: Any) -> Any:
    import numpy as np
    from PIL import Image

    pixels = np.asarray(array)
    if pixels.dtype != np.uint8:
        raise TypeError(f"an image array must be uint8 (HWC), not {pixels.dtype}: convert it, e.g. "
                        f"(x * 255).round().astype('uint8') for floats in [0, 1]")
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[-1] not in (3, 4)):
        raise TypeError(f"an image array must be HW or HWC with 1, 3 or 4 channels, not shape {pixels.shape}")
    return Image.fromarray(pixels)


def pointwise_body(items: Sequence[Any], send_paths: bool = False) -> list[dict[str, Any]]:
    """`(prompt, media)` pairs or `{"prompt", "image" | "video"}` mappings as the body's items (images and frames
    encoded several at a time)."""
    read = []
    for item in items:
        if isinstance(item, Mapping):
            key = "video" if "video" in item else "image"
            read.append((item["prompt"], key, item[key]))
        else:
            prompt, media = item
            read.append((prompt, "video" if isinstance(media, (VideoFile, list, tuple)) else "image", media))
    encoded = encode_media([media for _, _, media in read])
    return [{"prompt": prompt, key: encode_candidate(media, send_paths)}
            for (prompt, key, _), media in zip(read, encoded)]


def pairwise_body(items: Sequence[Any], send_paths: bool = False) -> list[dict[str, Any]]:
    """`(prompt, a, b)` triples or `{"prompt", "a", "b"}` mappings as the body's items."""
    read = [(item["prompt"], item["a"], item["b"]) if isinstance(item, Mapping) else tuple(item) for item in items]
    encoded = encode_media([side for _, a, b in read for side in (a, b)])
    return [{"prompt": prompt, "a": encode_candidate(encoded[2 * i], send_paths),
             "b": encode_candidate(encoded[2 * i + 1], send_paths)} for i, (prompt, _, _) in enumerate(read)]


def group_body(prompt: str, candidates: Sequence[Any], send_paths: bool = False, **options: Any) -> dict[str, Any]:
    """A group request: the prompt, its candidates (encoded several at a time) and the request's options."""
    return {"prompt": prompt, "candidates": [encode_candidate(c, send_paths) for c in encode_media(candidates)],
            **options}


def _options(on_failure: str, return_raw: bool, generation: Mapping[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"on_failure": on_failure, "return_raw": return_raw}
    if generation:
        body["generation"] = dict(generation)
    return body


# ---- the clients ----------------------------------------------------------------------------------------------

class AsyncRewardClient:
    """The service's client as coroutines; use it on one event loop (its HTTP session lives there)."""

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float = 600.0, max_retries: int = 10,
                 backoff: float = 0.25, max_backoff: float = 10.0, max_retry_after: float = 60.0,
                 send_paths: bool = False):
        if timeout <= 0 or max_retries < 0:
            raise ValueError("timeout must be > 0 and max_retries >= 0")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retry = RetryPolicy(max_retries, backoff, max_backoff, max_retry_after)
        self.send_paths = send_paths
        self.stats = ClientStats()
        self._session: aiohttp.ClientSession | None = None
        self._rng = random.Random()

    async def pointwise(self, items: Sequence[Any], *, on_failure: str = "report", return_raw: bool = False,
                        generation: Mapping[str, Any] | None = None) -> RewardResult:
        body = {"items": pointwise_body(items, self.send_paths), **_options(on_failure, return_raw, generation)}
        return RewardResult.from_json(await self.post("/v1/pointwise", body))

    async def pairwise(self, items: Sequence[Any], *, orders: str = "one", on_failure: str = "report",
                       return_raw: bool = False, generation: Mapping[str, Any] | None = None) -> RewardResult:
        body = {"items": pairwise_body(items, self.send_paths), "orders": orders,
                **_options(on_failure, return_raw, generation)}
        return RewardResult.from_json(await self.post("/v1/pairwise", body))

    async def group(self, prompt: str, candidates: Sequence[Any], *, mode: str = "pointwise", orders: str = "one",
                    on_failure: str = "report", return_raw: bool = False,
                    generation: Mapping[str, Any] | None = None) -> GroupResult:
        body = group_body(prompt, candidates, self.send_paths, mode=mode, orders=orders,
                          **_options(on_failure, return_raw, generation))
        return GroupResult.from_json(await self.post("/v1/group", body))

    async def health(self) -> dict[str, Any]:
        return await self._get("/health")

    async def metrics(self) -> dict[str, Any]:
        return await self._get("/metrics")

    async def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST `body`, retrying what a retry can fix; the answer's JSON, or RewardServiceError / ItemsFailed."""
        import json

        payload = json.dumps(body)
        self.stats.requests += 1
        attempts = self.retry.max_retries + 1
        last = "no attempt made"
        for attempt in range(attempts):
            self.stats.attempts += 1
            try:
                status, raw, retry_after = await self._send(path, payload)
                if status == 200:
                    return json.loads(raw)
                if status == 422:
                    answer = json.loads(raw)
                    raise ItemsFailed(str(answer.get("error", "items failed")), answer)
                error = status_error(status, self.url, raw, retry_after)
                if isinstance(error, FatalError):  # a 400: the same body would be refused again
                    raise RewardServiceError(str(error), status, _json_object(raw))
                raise error
            except RetryableError as exc:
                last = str(exc)
                if attempt + 1 < attempts:
                    wait = self.retry.delay(attempt, exc.retry_after, self._rng)
                    if exc.retry_after is not None:
                        self.stats.throttled += 1
                    self.stats.waited_s += wait
                    await _sleep(wait)
        raise RewardServiceError(f"{last} (gave up after {attempts} attempts)")

    async def _send(self, path: str, payload: str) -> tuple[int, bytes, str | None]:
        """(status, body, the Retry-After to honour in seconds); connection failures are RetryableError."""
        import asyncio

        import aiohttp

        try:
            async with self._http().post(f"{self.url}{path}", data=payload,
                                          timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                raw = await resp.read()
                milliseconds = resp.headers.get("retry-after-ms")
                retry_after = str(int(milliseconds) / 1000) if milliseconds and milliseconds.isdigit() else \
                    resp.headers.get("Retry-After")
                return resp.status, raw, retry_after
        except asyncio.TimeoutError:
            raise RetryableError(f"timeout after {self.timeout:g} s from {self.url}") from None
        except aiohttp.ClientError as exc:
            raise RetryableError(f"connection error with {self.url}: {type(exc).__name__}: {exc}") from None

    async def _get(self, path: str) -> dict[str, Any]:
        import json

        import asyncio

        import aiohttp

        try:
            async with self._http().get(f"{self.url}{path}", timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                return json.loads(await resp.read())
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise RewardServiceError(f"cannot reach {self.url}: {type(exc).__name__}: {exc}") from None

    def _http(self) -> "aiohttp.ClientSession":
        """The one session of this client, made on first use, whichever call comes first."""
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"Content-Type": "application/json"})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> "AsyncRewardClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def _json_object(raw: bytes) -> dict[str, Any]:
    import json

    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class RewardClient:
    """The synchronous client: the same methods, run on the client's own event loop thread. Safe to share
    between threads; close it (or use `with`) to stop that thread."""

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float = 600.0, max_retries: int = 10,
                 backoff: float = 0.25, max_backoff: float = 10.0, max_retry_after: float = 60.0,
                 send_paths: bool = False):
        self._client = AsyncRewardClient(url, timeout=timeout, max_retries=max_retries, backoff=backoff,
                                         max_backoff=max_backoff, max_retry_after=max_retry_after,
                                         send_paths=send_paths)
        # Long enough for every attempt and every wait; each attempt has its own timeout inside.
        self._deadline_s = (timeout + max(max_backoff, max_retry_after)) * (max_retries + 1) + 60.0
        self._loop: LoopThread | None = LoopThread("reward-client")

    @property
    def url(self) -> str:
        return self._client.url

    @property
    def stats(self) -> ClientStats:
        return self._client.stats

    def _run(self, coro: Any) -> Any:
        if self._loop is None:
            raise RewardServiceError("the client is closed")
        return self._loop.run(coro, timeout=self._deadline_s)

    def pointwise(self, items: Sequence[Any], *, on_failure: str = "report", return_raw: bool = False,
                  generation: Mapping[str, Any] | None = None) -> RewardResult:
        return self._run(self._client.pointwise(items, on_failure=on_failure, return_raw=return_raw,
                                                generation=generation))

    def pairwise(self, items: Sequence[Any], *, orders: str = "one", on_failure: str = "report",
                 return_raw: bool = False, generation: Mapping[str, Any] | None = None) -> RewardResult:
        return self._run(self._client.pairwise(items, orders=orders, on_failure=on_failure, return_raw=return_raw,
                                               generation=generation))

    def group(self, prompt: str, candidates: Sequence[Any], *, mode: str = "pointwise", orders: str = "one",
              on_failure: str = "report", return_raw: bool = False,
              generation: Mapping[str, Any] | None = None) -> GroupResult:
        return self._run(self._client.group(prompt, candidates, mode=mode, orders=orders, on_failure=on_failure,
                                            return_raw=return_raw, generation=generation))

    def health(self) -> dict[str, Any]:
        return self._run(self._client.health())

    def metrics(self) -> dict[str, Any]:
        return self._run(self._client.metrics())

    def close(self) -> None:
        if self._loop is not None:
            self._loop.stop(self._client.close)
            self._loop = None

    def __enter__(self) -> "RewardClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
