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
with exponential backoff and full jitter, honouring `Retry-After` (`harness.http_client`, the same client
as the `openai` judge's); other 4xx and a non-finite score fail at once. The service's batch endpoint is
not used: one request is one candidate.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from harness.adapters import Adapter
from harness.errors import UsageError
from harness.http_client import (Answer, EndpointClient, FatalError, RetryableError, RetryPolicy, UnsendableRequest,
                                 check_limits, get_json)
from harness.jsonl import parse_jsonl
from harness.records import PreparedRequest, Reply, Request
from harness.registry import model


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


# ---- the adapter ------------------------------------------------------------------------------------
@model("scores")
class ScoresAdapter(Adapter):
    """Scores from a file (path=JSONL|CSV) or an HTTP scoring service (url=URL,name=NAME)."""

    kind = "scorer"

    def __init__(self, path: str | None = None, url: str | None = None, name: str = "", concurrency: int = 8,
                 timeout: float = 60.0, max_retries: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 max_retry_after: float = 60.0, check: bool = True):
        if bool(path) == bool(url):
            raise UsageError("scores: give exactly one of path= (a score file) or url= (a scoring service)")
        check_limits("scores", concurrency, max_retries, timeout)
        self.name_arg = name
        self.table: ScoreTable | None = None
        self.url: str | None = None
        self.info: dict[str, Any] | None = None
        self.endpoint: EndpointClient | None = None
        if path:
            self.table = ScoreTable(Path(path))
            self.needs_media = False  # rows are found by item, candidate and media label: no pixels needed
            self.cacheable = False  # a dictionary lookup is cheaper than the cache
            return
        if not name:
            raise UsageError("scores: url= needs name= (e.g. name=hpsv2.1): it names the scorer in the results "
                             "and the cache")
        self.url = str(url).rstrip("/")
        if check:
            self.info = self._read_info(timeout)
            served = (self.info or {}).get("name")
            if served is not None and str(served) != name:
                raise UsageError(f"scores: {self.url} serves scorer {served!r}, not name={name!r}")
        self.endpoint = EndpointClient(self, [self.url], concurrency=concurrency, timeout=timeout,
                                       retry=RetryPolicy(max_retries, backoff, max_backoff, max_retry_after),
                                       thread_name="scores-adapter", who="scores")

    def identity(self) -> dict[str, Any]:
        if self.table is not None:
            return {"model": self.name_arg or Path(self.args["path"]).stem, "scores_sha256": self.table.sha256,
                    "name": self.name_arg or None}
        return {"model": self.name_arg, "scorer": self.name_arg, "service_info": self.info}

    def generate(self, requests: Iterable[PreparedRequest]) -> Iterator[Reply]:
        if self.endpoint is not None:
            return self.endpoint.generate(requests)
        return (self._look_up(p) for p in requests)

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()

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

    # ---- service: the endpoint's provider half (harness.http_client) ----------------------------
    def _read_info(self, timeout: float) -> dict[str, Any] | None:
        """`GET {url}/info` as a dict; None when the service has none. Unreachable: UsageError."""
        assert self.url is not None
        _, info = get_json(self.url, "/info", who="scores", server="scoring service", timeout=min(timeout, 15))
        return info if isinstance(info, dict) else None  # an HTTP error means reachable, without an /info

    def body(self, prepared: PreparedRequest) -> dict[str, Any]:
        """The request: the prompt (the request's text) and every image, a video as its frames."""
        media = [{"label": image.label, "mime": image.mime, "data_b64": base64.b64encode(image.data).decode("ascii")}
                 for medium in prepared.media for image in medium.images()]
        kind = "video" if any(m.kind == "video" for m in prepared.media) else "image"
        return {"prompt": prepared.request.text, "kind": kind, "media": media}

    def payload(self, prepared: PreparedRequest) -> str:
        body = self.body(prepared)
        if not body["media"]:
            raise UnsendableRequest("the request has no image or video to score")
        return json.dumps(body)

    def answer(self, raw: bytes, where: str) -> Answer:
        """`{"score": float}`; an unreadable answer is retried, a non-finite score is not."""
        try:
            value = json.loads(raw)["score"]
        except (ValueError, KeyError, TypeError):
            raise RetryableError(f"malformed answer from {where}: {raw[:120]!r}") from None
        parsed = parse_score(value, f"the answer of {where}")
        if parsed.problem is not None:
            raise FatalError(parsed.problem)
        return Answer(score=parsed.score)
