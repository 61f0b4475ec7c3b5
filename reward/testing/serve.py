"""The test server as its own process (benchmarks: client and server must not share a GIL), and the launcher
that starts and stops it from a parent process.

    python -m reward.testing.serve --port 0 --latency 0.1 --rate-429 0.05

prints ``listening on http://127.0.0.1:PORT/v1`` (flushed) once ready and runs until SIGTERM or
SIGINT (or ``--max-lifetime`` seconds, or EOF on stdin with ``--exit-on-stdin-eof``). Every
:class:`reward.testing.faults.ServerOptions` field is a flag (the name with dashes; ``--reply TEXT`` is
repeatable); ``--hf-model DIR`` answers with a local transformers VLM instead of the hash responder.
:func:`start_server_process` launches it that way (so an orphaned server dies with its parent)
and returns ``(Popen, base_url)``; :func:`stop_server_process` ends it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .faults import FAULT_KINDS, ServerOptions
from .testserver import ChatService, Responder

READY_PREFIX = "listening on "


def _stop_on_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Stop when stdin (a pipe from the parent) reaches EOF: the parent exited, so nobody will ever SIGTERM us.

    A loop reader on the raw descriptor rather than a thread: a daemon thread blocked in a buffered stdin read
    aborts the interpreter at exit."""
    fd = sys.stdin.fileno()

    def on_readable() -> None:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()

    try:
        loop.add_reader(fd, on_readable)
    except (OSError, ValueError, NotImplementedError) as exc:  # e.g. stdin is a regular file
        print(f"testserver: cannot watch stdin ({exc}); relying on signals", file=sys.stderr, flush=True)


async def serve(options: ServerOptions, port: int = 0, max_lifetime: float = 0.0, exit_on_stdin_eof: bool = False,
                responder: Responder | None = None) -> None:
    """Run until SIGTERM/SIGINT (or `max_lifetime` seconds, or stdin EOF), printing the ready line first."""
    service = ChatService(options, responder)
    bound = await service.start(port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if exit_on_stdin_eof:
        _stop_on_stdin_eof(loop, stop)
    print(f"{READY_PREFIX}http://127.0.0.1:{bound}/v1", flush=True)
    try:
        if max_lifetime > 0:
            try:
                await asyncio.wait_for(stop.wait(), max_lifetime)
            except asyncio.TimeoutError:
                print(f"testserver: max lifetime {max_lifetime}s reached, exiting", file=sys.stderr, flush=True)
        else:
            await stop.wait()
    finally:
        await service.stop()


def build_parser() -> argparse.ArgumentParser:
    defaults = ServerOptions()
    parser = argparse.ArgumentParser(prog="python -m reward.testing.serve",
                                     description="Local OpenAI-compatible chat-completions test server (127.0.0.1 "
                                                 "only). Options: see reward.testing.faults.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one (default)")
    parser.add_argument("--model", default=defaults.model)
    parser.add_argument("--reply", dest="replies", action="append", metavar="TEXT",
                        help="candidate reply of the default responder (repeatable)")
    parser.add_argument("--api-key", default=None)
    for name in ("latency", "jitter", *(f"rate_{kind}" for kind in FAULT_KINDS), "fault_rate", "hang_seconds",
                 "max_body_mb"):
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(defaults, name))
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--retry-after", default=defaults.retry_after, help="Retry-After seconds, e.g. 0.05 or 1")
    parser.add_argument("--image-tokens", type=int, default=defaults.image_tokens)
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--max-lifetime", type=float, default=0.0, help="exit after this many seconds (0: never)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin closes (parent gone)")
    parser.add_argument("--hf-model", default=None, metavar="DIR",
                        help="answer with this local transformers VLM (reward.hf, extra `hf`) instead of the "
                             "hash responder, e.g. a directory from `python -m reward.testing.tiny_models`")
    return parser


def options_from_args(args: argparse.Namespace) -> ServerOptions:
    fields = {f.name for f in dataclasses.fields(ServerOptions)}
    values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    return ServerOptions(**values)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = options_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    if options.access_log:
        import logging

        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    responder = None
    if args.hf_model:
        from reward.hf import HFAdapter, openai_responder  # torch only when asked for

        responder = openai_responder(HFAdapter(args.hf_model, batch_size=1))
    asyncio.run(serve(options, port=args.port, max_lifetime=args.max_lifetime,
                      exit_on_stdin_eof=args.exit_on_stdin_eof, responder=responder))
    return 0


def options_to_argv(options: dict[str, Any]) -> list[str]:
    """CLI flags for :class:`ServerOptions` keyword arguments (validated first, so errors surface in the parent)."""
    ServerOptions(**options)
    argv: list[str] = []
    for name, value in options.items():
        if name == "replies":
            for reply in value:
                argv += ["--reply", reply]
        elif name == "access_log":
            argv += ["--access-log"] if value else []
        elif value is not None:
            argv += ["--" + name.replace("_", "-"), str(value)]
    return argv


def start_server_process(*, port: int = 0, timeout: float = 20.0, max_lifetime: float = 0.0,
                         stderr: Any = None, **options: Any) -> tuple[subprocess.Popen, str]:
    """Launch ``python -m reward.testing.serve`` and wait (up to `timeout` s) for its ready line.

    Returns ``(process, base_url)``. The child exits when this process closes its stdin (i.e. dies), when
    :func:`stop_server_process` signals it, or after `max_lifetime` seconds if set. `options` are
    :class:`ServerOptions` fields except a responder (a callable cannot cross a process boundary). POSIX only
    (the ready line is awaited with `selectors` on the pipe).
    """
    if "responder" in options or "responder_workers" in options:
        raise TypeError("a responder cannot be passed to a server process; use FakeOpenAIServer in-process")
    argv = [sys.executable, "-m", "reward.testing.serve", "--port", str(port), "--exit-on-stdin-eof",
            "--max-lifetime", str(max_lifetime), *options_to_argv(options)]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # importable even when the package is not installed
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, bufsize=0)
    try:
        line = _read_ready_line(proc, timeout)
    except BaseException:
        stop_server_process(proc)
        raise
    return proc, line[len(READY_PREFIX):]


def _read_ready_line(proc: subprocess.Popen, timeout: float) -> str:
    """The first stdout line, read without a helper thread so nothing outlives the call."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"test server gave no ready line within {timeout}s (got {buffer!r})")
            if selector.select(remaining):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"test server exited before it was ready (exit code {proc.wait()}, "
                                       f"output {buffer!r})")
                buffer += chunk
    line = buffer.split(b"\n", 1)[0].decode().strip()
    if not line.startswith(READY_PREFIX):
        raise RuntimeError(f"unexpected first line from the test server: {line!r}")
    return line


def stop_server_process(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM, wait up to `timeout` s, then SIGKILL; closes the pipes. Returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
