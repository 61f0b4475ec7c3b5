"""A tiny HTTP service around any `score(prompt, images) -> float`: the bridge to baselines that cannot
share the harness's environment.

HPSv2, ImageReward, VideoScore, VideoReward and VisionReward each pin old transformers or torchvision.
Copy this one file into the baseline's own environment, point it at the baseline's scoring call, and
judge with `--model scores --model-args url=http://127.0.0.1:PORT,name=...` (docs/scorers.md has a
recipe per baseline). The file depends on the standard library and Pillow only, and imports nothing
from the harness, so it runs wherever the baseline runs.

Protocol (what `reward/scores.py` sends):
- `POST /` (or `/score`) with JSON `{"prompt": str, "kind": "image"|"video",
  "media": [{"label": str, "mime": str, "data_b64": str}, ...]}`: one image, or a video's sampled frames
  in order. Answer: `{"score": float}`. A request that cannot be read (bad JSON, bad base64, an
  undecodable image) answers 400, which the client does not retry; an exception raised by the scorer
  answers 500, which the client retries (a CUDA out-of-memory error may pass).
- `GET /info`: `{"name": ..., ...}`, whatever `--name` and `--info` say about the scorer (checkpoint,
  package versions). The client records it in the run's model identity and cache key, so say there
  everything that changes the scores.

Calls to the scorer are serialised by a lock: a GPU model is rarely thread-safe, and the client's
concurrency still overlaps the network, base64 and image decoding with scoring.

Use:

    python -m reward.scoring_service --dummy --port 8000            # a stand-in scorer, for tests
    python scoring_service.py --callable my_hps:score --name hpsv2.1 --info '{"checkpoint": "v2.1"}'

or from Python: `ScoringService(score_fn, name="hpsv2.1", port=8000).serve_forever()`. It binds
127.0.0.1 unless `--host` says otherwise; it has no authentication, so keep it on a trusted network.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import importlib
import io
import json
import math
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Sequence

ScoreFn = Callable[[str, list], float]  # (prompt, list of PIL images) -> score


def dummy_score(prompt: str, images: Sequence[Any]) -> float:
    """A deterministic stand-in for a reward model: mean brightness of the images in [0, 1] plus a
    small term from the prompt's length, so both the pixels and the text change the score."""
    from PIL import ImageStat

    brightness = [sum(ImageStat.Stat(im.convert("L")).mean) / 255.0 for im in images]
    return sum(brightness) / max(1, len(brightness)) + 0.001 * len(prompt)


class _BadRequest(Exception):
    """The request itself is wrong: answered 400, never retried."""


def decode_request(body: bytes) -> tuple[str, list]:
    """(prompt, PIL images) from a request body; `_BadRequest` says what is wrong with it."""
    from PIL import Image

    try:
        data = json.loads(body)
        prompt, media = data["prompt"], data["media"]
    except (ValueError, KeyError, TypeError):
        raise _BadRequest("body must be JSON with 'prompt' and 'media'") from None
    if not isinstance(prompt, str) or not isinstance(media, list) or not media:
        raise _BadRequest("'prompt' must be a string and 'media' a non-empty list")
    images = []
    for i, item in enumerate(media):
        label = item.get("label", f"media {i}") if isinstance(item, dict) else f"media {i}"
        try:
            raw = base64.b64decode(item["data_b64"], validate=True)
            image = Image.open(io.BytesIO(raw))
            image.load()
        except (KeyError, TypeError, binascii.Error):
            raise _BadRequest(f"{label}: no valid base64 'data_b64'") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise _BadRequest(f"{label}: cannot decode the image ({exc})") from None
        images.append(image.convert("RGB"))
    return prompt, images


class ScoringService:
    """The service: `score_fn` behind HTTP on `host:port` (port 0: any free port; see `.url`).

    `fail_first` is for tests of clients: the first N score requests answer HTTP 500 without scoring.
    """

    def __init__(self, score_fn: ScoreFn, name: str, info: dict[str, Any] | None = None,
                 host: str = "127.0.0.1", port: int = 0, fail_first: int = 0):
        self.score_fn = score_fn
        self.info = {"name": name, **(info or {})}
        self.fail_first = fail_first
        self.counts = {"requests": 0, "scored": 0, "faults": 0, "bad": 0, "errors": 0}
        self._score_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stats(self) -> dict[str, int]:
        with self._count_lock:
            return dict(self.counts)

    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one score request."""
        with self._count_lock:
            self.counts["requests"] += 1
            if self.counts["requests"] <= self.fail_first:
                self.counts["faults"] += 1
                return 500, {"error": "injected fault"}
        try:
            prompt, images = decode_request(body)
        except _BadRequest as exc:
            self._count("bad")
            return 400, {"error": str(exc)}
        try:
            with self._score_lock:
                score = float(self.score_fn(prompt, images))
        except Exception as exc:  # noqa: BLE001 - the scorer's failure goes back to the client
            self._count("errors")
            return 500, {"error": f"scorer failed: {type(exc).__name__}: {exc}"[:500]}
        if not math.isfinite(score):
            self._count("errors")
            return 500, {"error": f"scorer returned {score}"}
        self._count("scored")
        return 200, {"score": score}

    def _count(self, what: str) -> None:
        with self._count_lock:
            self.counts[what] += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the client reuses its connections

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.rstrip("/") == "/info":
                    self._send(200, service.info)
                else:
                    self._send(404, {"error": f"no such path {self.path}"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.rstrip("/") not in ("", "/score"):
                    self._send(404, {"error": f"no such path {self.path}"})
                    return
                self._send(*service.answer(body))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per request is noise
                pass

        return Handler

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def start(self) -> "ScoringService":
        """Serve in a background thread (tests, notebooks)."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="scoring-service", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:  # serving in the background: stop the loop first
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "ScoringService":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_callable(spec: str) -> ScoreFn:
    """`module:function` (the module importable from the current directory or sys.path)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"--callable {spec!r}: expected module:function")
    sys.path.insert(0, "")
    fn = importlib.import_module(module_name)
    for part in attr.split("."):
        fn = getattr(fn, part)
    return fn  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--dummy", action="store_true", help="serve the deterministic stand-in scorer")
    what.add_argument("--callable", metavar="MODULE:FUNCTION", help="serve score(prompt, images) -> float")
    parser.add_argument("--name", help="the scorer's name, answered at GET /info (e.g. hpsv2.1)")
    parser.add_argument("--info", default="{}", help="JSON object added to GET /info (checkpoint, versions)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--fail-first", type=int, default=0, help=argparse.SUPPRESS)  # tests only
    args = parser.parse_args(argv)
    score_fn = dummy_score if args.dummy else load_callable(args.callable)
    name = args.name or ("dummy" if args.dummy else args.callable)
    info = json.loads(args.info)
    if not isinstance(info, dict):
        raise SystemExit("--info must be a JSON object")
    service = ScoringService(score_fn, name=name, info=info, host=args.host, port=args.port,
                             fail_first=args.fail_first)
    print(f"scoring service {name!r} on {service.url}", flush=True)
    try:
        service.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        service.close()


if __name__ == "__main__":
    main()
