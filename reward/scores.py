"""Scores computed elsewhere: a file of per-candidate scores, or a small HTTP scoring service (core, no torch).

The usual baselines of reward-model papers (HPSv2, ImageReward, VideoScore, VideoReward, VisionReward)
each pin an old transformers or torchvision that cannot live beside ours. They run in their own
environments, and this adapter brings their numbers in (recipes in docs/scorers.md):

    --model scores --model-args path=hpsv2.jsonl                     # scores written beforehand
    --model scores --model-args url=http://127.0.0.1:8000,name=hpsv2.1  # reward/scoring_service.py

A scorer answers one request per candidate: the candidate's prompt (its generation caption) and one
image or video; `request.meta` carries `item_id`, `candidate` ("A"/"B"), `prompt` and `media_label`.

**Files** (`path=`): JSONL (one object a line), or CSV with a header row when the name ends in `.csv`.
A row is keyed in one of two ways (a file may mix them):
- by item and candidate: `{"id": <sample id>, "candidate": "A", "score": 0.27}`;
- by medium: `{"media": "images/0001_a.png", "score": 0.27}`, with the label as the task gives it (a
  path relative to the data directory); an optional `"prompt"` restricts the row to requests with that
  exact prompt, for a medium scored against several captions.
A request is matched by (item, candidate) first, then by (media, its prompt), then by media alone. A
request with no row gets the error "no score for ...", and a row whose score is missing, NaN, infinite
or not a number gives the requests it matches an error naming that row: the run counts both per
sample. Two rows giving one key different scores, malformed JSON, or a row with no key stop the run
before any work. The file's sha256 is the scorer's identity; answers are not cached (a lookup is cheaper).

**Service** (`url=`, `name=`): `POST {url}` with JSON `{"prompt": str, "kind": "image"|"video",
"media": [{"label", "mime", "data_b64"}, ...]}` (a video as its sampled frames, in order) answers
`{"score": float}`. `name=` is required: it names the scorer in results and in the cache key (e.g.
`hpsv2.1`). At start the adapter reads `GET {url}/info`; a refused connection stops the run before any
work, and the JSON answer, if any, joins the identity (a `"name"` in it must equal `name=`). A 404 there
is fine: the identity is then the name alone, so give each checkpoint its own name.
At most `concurrency` (8) requests are in flight; each attempt has `timeout` seconds (60); 408/409/425/
429/5xx, timeouts, connection errors and unreadable answers are retried up to `max_retries` (5) times
with exponential backoff and full jitter, honouring `Retry-After`; other 4xx and a non-finite score fail
at once. The service's batch endpoint is not used: one request is one candidate.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import json
import math
import queue
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Iterator, Mapping, TypeVar

import aiohttp

from harness.adapters import Adapter
from harness.errors import UsageError
from harness.jsonl import parse_jsonl
from harness.records import PreparedRequest, Reply, Request
from harness.registry import model

from .openai_api import RETRY_STATUS, _error_message, _FatalError, _RetryableError, _retry_after

T = TypeVar("T")
R = TypeVar("R")


# ---- score files --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreRow:
    """One row's score, or why it has none (`problem`); `where` names the row in messages."""

    where: str
    score: float | None
    problem: str | None = None


def normalise_label(label: str) -> str:
    """Media labels compare as relative POSIX paths: `./a\\b.png` and `a/b.png` are the same medium."""
    label = label.strip().replace("\\", "/")
    while label.startswith("./"):
        label = label[2:]
    return label


def parse_score(value: Any, where: str) -> ScoreRow:
    """A finite float, or the row's problem (kept for the requests it matches, not raised)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return ScoreRow(where, None, f"{where}: has no score")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return ScoreRow(where, None, f"{where}: score {value!r} is not a number")
    try:
        score = float(value)
    except ValueError:
        return ScoreRow(where, None, f"{where}: score {value!r} is not a number")
    if not math.isfinite(score):
        return ScoreRow(where, None, f"{where}: score {value!r} is not a finite number")
    return ScoreRow(where, score)


def read_rows(path: Path, raw: bytes) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for every row of a JSONL or CSV file; empty CSV cells are absent keys."""
    text = raw.decode("utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        for row in reader:
            yield f"{path.name} line {reader.line_num}", {k.strip(): v for k, v in row.items()
                                                          if k is not None and v not in (None, "")}
        return
    for _, where, row, problem in parse_jsonl(text.splitlines(), path.name):
        if row is None:
            raise UsageError(problem)
        yield where, row


class ScoreTable:
    """The rows of a score file, indexed by (item, candidate) and by (media label, prompt or None)."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise UsageError(f"scores: file {path} does not exist")
        raw = path.read_bytes()
        self.path = path
        self.sha256 = hashlib.sha256(raw).hexdigest()
        self.by_item: dict[tuple[str, str], ScoreRow] = {}
        self.by_media: dict[tuple[str, str | None], ScoreRow] = {}
        for where, row in read_rows(path, raw):
            self._add(where, row)
        if not self.by_item and not self.by_media:
            raise UsageError(f"scores: {path} has no rows")

    def _add(self, where: str, row: Mapping[str, Any]) -> None:
        entry = parse_score(row.get("score"), where)
        item, candidate, media = row.get("id"), row.get("candidate"), row.get("media")
        if item is not None and candidate is None:
            raise UsageError(f"{where}: a row keyed by 'id' also needs 'candidate' (A or B)")
        if item is None and not media:
            raise UsageError(f"{where}: needs 'media', or 'id' and 'candidate'")
        if item is not None:
            _put(self.by_item, (str(item), str(candidate).strip().upper()), entry)
        if media:
            prompt = row.get("prompt")
            _put(self.by_media, (normalise_label(str(media)), None if prompt is None else str(prompt).strip()), entry)

    def lookup(self, request: Request) -> ScoreRow | None:
        meta = request.meta
        item = str(meta.get("item_id", request.sample_id))
        candidate = meta.get("candidate")
        if candidate is not None:
            found = self.by_item.get((item, str(candidate).strip().upper()))
            if found is not None:
                return found
        label = media_label(request)
        if label is None:
            return None
        prompt = str(meta.get("prompt", request.text)).strip()
        return self.by_media.get((label, prompt)) or self.by_media.get((label, None))


def _put(index: dict, key: tuple, entry: ScoreRow) -> None:
    known = index.get(key)
    if known is not None and (known.score, known.problem is None) != (entry.score, entry.problem is None):
        raise UsageError(f"{entry.where}: {key!r} already has a score at {known.where}")
    index.setdefault(key, entry)


def media_label(request: Request) -> str | None:
    label = request.meta.get("media_label")
    if label is None and request.media:
        label = request.media[0].label
    return None if label is None else normalise_label(str(label))


# ---- the background event loop --------------------------------------------------------------------
class _LoopThread:
    """An asyncio loop in a daemon thread, so the runner's synchronous stream of requests can keep
    `limit` coroutines in flight and receive their results as they complete."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=timeout)  # type: ignore[arg-type]

    def unordered(self, items: Iterable[T], call: Callable[[T], Awaitable[R]], limit: int) -> Iterator[R]:
        done: queue.Queue = queue.Queue()
        in_flight = 0
        pending = iter(items)
        exhausted = False
        while True:
            while not exhausted and in_flight < limit:
                item = next(pending, _END)
                if item is _END:
                    exhausted = True
                    break
                asyncio.run_coroutine_threadsafe(call(item), self.loop).add_done_callback(done.put)  # type: ignore
                in_flight += 1
            if in_flight == 0:
                return
            in_flight -= 1
            yield done.get().result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


_END = object()


# ---- the adapter ------------------------------------------------------------------------------------
@model("scores")
class ScoresAdapter(Adapter):
    """Scores from a file (path=JSONL|CSV) or an HTTP scoring service (url=URL,name=NAME)."""

    kind = "scorer"

    def __init__(self, path: str | None = None, url: str | None = None, name: str = "", concurrency: int = 8,
                 timeout: float = 60.0, max_retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 max_retry_after: float = 60.0, check: bool = True):
        super().__init__(path=path, url=url, name=name, concurrency=concurrency, timeout=timeout,
                         max_retries=max_retries)
        if bool(path) == bool(url):
            raise UsageError("scores: give exactly one of path= (a score file) or url= (a scoring service)")
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise UsageError("scores: concurrency must be >= 1, max_retries >= 0 and timeout > 0")
        self.name_arg = name
        self.table: ScoreTable | None = None
        self.url: str | None = None
        self.info: dict[str, Any] | None = None
        self._loop: _LoopThread | None = None
        self._session: aiohttp.ClientSession | None = None
        self._rng = random.Random()
        if path:
            self.table = ScoreTable(Path(path))
            self.needs_media = False  # rows are found by item, candidate and media label: no pixels needed
            self.cacheable = False  # a dictionary lookup is cheaper than the cache
            return
        if not name:
            raise UsageError("scores: url= needs name= (e.g. name=hpsv2.1): it names the scorer in the results "
                             "and the cache")
        self.url = str(url).rstrip("/")
        self.concurrency, self.timeout, self.max_retries = concurrency, timeout, max_retries
        self.backoff, self.max_backoff, self.max_retry_after = backoff, max_backoff, max_retry_after
        if check:
            self.info = self._read_info()
            served = (self.info or {}).get("name")
            if served is not None and str(served) != name:
                raise UsageError(f"scores: {self.url} serves scorer {served!r}, not name={name!r}")

    def identity(self) -> dict[str, Any]:
        if self.table is not None:
            return {"model": self.name_arg or Path(self.args["path"]).stem, "scores_sha256": self.table.sha256,
                    "name": self.name_arg or None}
        return {"model": self.name_arg, "scorer": self.name_arg, "service_info": self.info}

    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        if self.table is not None:
            yield from (self._look_up(p) for p in requests)
            return
        if self._loop is None:
            self._loop = _LoopThread("scores-adapter")
        yield from self._loop.unordered(requests, self._call, self.concurrency)

    def close(self) -> None:
        if self._loop is None:
            return
        if self._session is not None:
            self._loop.run(self._session.close())
            self._session = None
        self._loop.stop()
        self._loop = None

    # ---- file ---------------------------------------------------------------------------------
    def _look_up(self, prepared: PreparedRequest) -> Reply:
        assert self.table is not None
        request = prepared.request
        found = self.table.lookup(request)
        if found is None:
            item = request.meta.get("item_id", request.sample_id)
            return Reply(prepared.key, attempts=0,
                         error=f"no score for item {item!r} candidate {request.meta.get('candidate')!r} "
                               f"or media {media_label(request)!r} in {self.table.path.name}")
        if found.problem is not None:
            return Reply(prepared.key, error=found.problem, attempts=0)
        return Reply(prepared.key, score=found.score)

    # ---- service ------------------------------------------------------------------------------
    def _read_info(self) -> dict[str, Any] | None:
        """`GET {url}/info` as a dict; None when the service has none. Unreachable: UsageError."""
        try:
            with urllib.request.urlopen(f"{self.url}/info", timeout=min(self.timeout, 15)) as resp:
                info = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError:
            return None  # reachable, without an /info
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UsageError(f"scores: cannot reach {self.url} ({reason}); is the scoring service running?") from None
        except ValueError:
            return None
        return info if isinstance(info, dict) else None

    def body(self, prepared: PreparedRequest) -> dict[str, Any]:
        """The request: the prompt (the request's text) and every image, a video as its frames."""
        media = [{"label": image.label, "mime": image.mime, "data_b64": base64.b64encode(image.data).decode("ascii")}
                 for medium in prepared.media for image in medium.images()]
        kind = "video" if any(m.kind == "video" for m in prepared.media) else "image"
        return {"prompt": prepared.request.text, "kind": kind, "media": media}

    async def _call(self, prepared: PreparedRequest) -> Reply:
        """One request with its retries. Never raises: failures become `Reply.error`."""
        try:
            body = self.body(prepared)
            if not body["media"]:
                return Reply(prepared.key, error="the request has no image or video to score", attempts=0)
            payload = json.dumps(body)
        except Exception as exc:  # noqa: BLE001 - a bad request is that sample's error
            return Reply(prepared.key, error=f"cannot build the request: {exc}", attempts=0)
        start = time.perf_counter()
        error = "no attempt made"
        for attempt in range(self.max_retries + 1):
            try:
                score = await self._post(payload)
                return Reply(prepared.key, score=score, latency_s=time.perf_counter() - start, attempts=attempt + 1)
            except _RetryableError as exc:
                error = str(exc)
                if attempt < self.max_retries:
                    await asyncio.sleep(self._delay(attempt, exc.retry_after))
            except _FatalError as exc:
                return Reply(prepared.key, error=str(exc), latency_s=time.perf_counter() - start, attempts=attempt + 1)
        return Reply(prepared.key, error=f"{error} (gave up after {self.max_retries + 1} attempts)",
                     latency_s=time.perf_counter() - start, attempts=self.max_retries + 1)

    async def _post(self, payload: str) -> float:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=self.concurrency)
            self._session = aiohttp.ClientSession(connector=connector, headers={"Content-Type": "application/json"})
        try:
            async with self._session.post(self.url, data=payload,  # type: ignore[arg-type]
                                          timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    message = f"HTTP {resp.status} from {self.url}: {_error_message(raw)}"
                    if resp.status in RETRY_STATUS or resp.status >= 500:
                        raise _RetryableError(message, _retry_after(resp.headers.get("Retry-After")))
                    raise _FatalError(message)
        except asyncio.TimeoutError:
            raise _RetryableError(f"timeout after {self.timeout:g} s from {self.url}") from None
        except aiohttp.ClientError as exc:
            raise _RetryableError(f"connection error with {self.url}: {type(exc).__name__}: {exc}") from None
        try:
            value = json.loads(raw)["score"]
        except (ValueError, KeyError, TypeError):
            raise _RetryableError(f"malformed answer from {self.url}: {raw[:120]!r}") from None
        parsed = parse_score(value, f"the answer of {self.url}")
        if parsed.problem is not None:
            raise _FatalError(parsed.problem)
        return parsed.score  # type: ignore[return-value]

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return min(self.backoff * (2 ** attempt) * self._rng.uniform(0.5, 1.5), self.max_backoff)
