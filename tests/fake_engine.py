"""A stand-in for `vllm serve` and `python -m sglang.launch_server`, for the managed-engine tests.

It takes the real engines' command lines (`serve MODEL --host H --port P ...` or `-m sglang.launch_server
--model-path MODEL --host H --port P ...`), ignores the flags it does not know, and serves what the launcher
and the `openai` adapter use: `GET /health` (503 while "loading", then 200), `GET /v1/models`,
`POST /v1/chat/completions` (a fixed reply) and `GET /stats` (requests answered). Behaviour comes from the
environment, as the real command line must stay the engine's:

- FAKE_ENGINE_RECORD: a directory; the stand-in writes `<port>.json` there with its argv, CUDA_VISIBLE_DEVICES and pid.
- FAKE_ENGINE_MODE: `ok` (default); `exit` (print a few log lines and exit 3 while loading); `never` (never
  healthy); `stubborn` (ignore SIGTERM, so only SIGKILL stops it); `workers` (start a worker process that
  ignores SIGTERM, as an engine's workers may outlive it; its pid is recorded as `worker`).
- FAKE_ENGINE_DELAY: seconds of "loading" before /health answers 200 (default 0.3).
- FAKE_ENGINE_REPLY: the completion text (default "Final Score: 4").
Standard library only, so it starts in ~50 ms.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def option(argv: list[str], name: str, default: str | None = None) -> str | None:
    for i, token in enumerate(argv):
        if token == name and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith(name + "="):
            return token.split("=", 1)[1]
    return default


def main() -> int:
    argv = sys.argv[1:]
    mode = os.environ.get("FAKE_ENGINE_MODE", "ok")
    delay = float(os.environ.get("FAKE_ENGINE_DELAY", "0.3"))
    reply = os.environ.get("FAKE_ENGINE_REPLY", "Final Score: 4")
    port = int(option(argv, "--port", "8000") or 8000)
    host = option(argv, "--host", "127.0.0.1") or "127.0.0.1"
    model = option(argv, "--model-path") or (argv[argv.index("serve") + 1] if "serve" in argv else "model")
    served = option(argv, "--served-model-name", model) or model
    worker = None
    if mode == "workers":
        import subprocess

        worker = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                                   "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"])
    record = os.environ.get("FAKE_ENGINE_RECORD")
    if record:
        Path(record, f"{port}.json").write_text(json.dumps({
            "argv": argv, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid(),
            "worker": worker.pid if worker else None}))
    print(f"fake engine: loading {model} on port {port}", flush=True)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, lambda *_: print("fake engine: ignoring SIGTERM", flush=True))
    if mode == "exit":
        time.sleep(0.1)
        print("fake engine: CUDA out of memory while loading weights", flush=True)
        print("fake engine: giving up", flush=True)
        return 3
    started = time.monotonic()
    answered = {"chat": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            ready = mode != "never" and time.monotonic() - started >= delay
            if self.path == "/health":
                self._json(200 if ready else 503, {})
            elif self.path == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": served, "object": "model"}]})
            elif self.path == "/stats":
                with lock:
                    self._json(200, dict(answered, port=port))
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path != "/v1/chat/completions" or "messages" not in body:
                self._json(400, {"error": {"message": "bad request"}})
                return
            with lock:
                answered["chat"] += 1
            self._json(200, {"id": "fake", "object": "chat.completion", "model": body.get("model", served),
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": len(reply.split())}})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
