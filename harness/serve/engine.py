"""The managed serving engine: `harness serve --engine vllm|sglang --model-path P [--gpus N]` starts the engine,
waits until it is healthy, points the `openai` adapter at it and stops it at exit.

One command instead of three (start vLLM or SGLang by hand with the right flags, wait, then start the judge):

- `plan` turns an `EngineConfig` into one `Replica` per GPU: the engine's command line with the judge family's
  recommended flags, its own port on 127.0.0.1 and `CUDA_VISIBLE_DEVICES` naming one GPU. A 7B judge fits one
  GPU, so the engine scales out with data-parallel replicas, not tensor parallelism (docs/rl/README.md).
- `ManagedEngine` launches the replicas (each in its own process group, its output in a log file), polls each
  one's `GET /health` until it answers 200 (bounded by `startup_timeout`; an engine that exits or never becomes
  healthy is a UsageError quoting the last lines of its log), gives `model_args()` for the `openai` adapter
  (`base_url` = the replicas joined by `|`, which the adapter rotates over), and stops every replica at exit:
  SIGTERM to its process group (vLLM and SGLang spawn worker processes), then SIGKILL after `stop_timeout`.

Recommended flags, with where they come from:
- vLLM (`vllm serve MODEL`): `--limit-mm-per-prompt '{"image": 32}'` (a pairwise video judged as 2 x 8 frames
  needs 16 images; the JSON form is the one vLLM's engine-argument docs give), `--enable-prefix-caching`,
  `--trust-remote-code` and `--gpu-memory-utilization 0.9`, as the authors serve their Qwen checkpoints
  (CodeGoat24/UnifiedReward `vllm_qwen/vllm_server.sh`, which writes the limit as `--limit-mm-per-prompt.image
  32`); for the Qwen3.5 checkpoints also `--default-chat-template-kwargs '{"enable_thinking": false}'` (same file).
- SGLang (`python -m sglang.launch_server --model-path MODEL`): `--chat-template chatml-llava` for the LLaVA
  family and `--mem-fraction-static 0.85`, as Flow-GRPO's README launches UnifiedReward-7b-v1.5; the Qwen
  families use the tokenizer's own chat template (SGLang's default). The adapter then marks images
  `"modalities": "multi-images"` (SGLang's multi-image mode).
- Both: `--host 127.0.0.1 --port P --served-model-name NAME`.
`--engine-args` are appended last; a flag they name replaces the recommended one (never both on one command line).

The engine lives in its own environment (it pins its own torch): `executable` is that environment's `vllm`
executable, or for SGLang its `python`. Tests use a stand-in executable (tests/fake_engine.py); nothing here
imports vLLM or SGLang.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Mapping, Sequence

from ..adapters import SECRET_VALUE, is_secret
from ..errors import UsageError

ENGINES = ("vllm", "sglang")
HOST = "127.0.0.1"  # the engine is the service's backend, never reachable from elsewhere
LOG_TAIL_LINES = 20
#: How often a starting replica's /health is polled (seconds).
POLL_INTERVAL = 0.5

#: The image limit per prompt: UnifiedReward's prompts carry at most two videos of 8 frames or a few images.
VLLM_IMAGE_LIMIT = 32
VLLM_FLAGS: tuple[tuple[str, str | None], ...] = (
    ("--limit-mm-per-prompt", json.dumps({"image": VLLM_IMAGE_LIMIT})),
    ("--enable-prefix-caching", None),
    ("--trust-remote-code", None),
    ("--gpu-memory-utilization", "0.9"),
)
#: Qwen3.5 checkpoints think by default; the authors serve them with thinking off.
VLLM_QWEN35_FLAGS: tuple[tuple[str, str | None], ...] = (
    ("--default-chat-template-kwargs", json.dumps({"enable_thinking": False})),
)
SGLANG_FLAGS: tuple[tuple[str, str | None], ...] = (
    ("--trust-remote-code", None),
    ("--mem-fraction-static", "0.85"),
)
SGLANG_LLAVA_FLAGS: tuple[tuple[str, str | None], ...] = (("--chat-template", "chatml-llava"),)


@dataclass(frozen=True)
class EngineConfig:
    """What to serve and how; `plan` checks it."""

    engine: str
    model_path: str
    gpus: int = 1
    #: Extra engine flags as one shell-quoted string (`--engine-args "--max-model-len 8192"`).
    engine_args: str = ""
    #: The judge family (`reward.families` name); None: detected from the model path or its config.json.
    family: str | None = None
    #: The name the engine serves the model under (default: the model path, vLLM's own default).
    served_name: str | None = None
    #: The engine environment's `vllm` executable, or for SGLang its `python` (default: found on PATH /
    #: this interpreter). A shell-quoted string, so a wrapper with arguments works too.
    executable: str | None = None
    #: First replica's port (replica i gets base_port + i); 0: free ports chosen at start.
    base_port: int = 0
    startup_timeout: float = 1200.0
    stop_timeout: float = 30.0
    #: Where each replica's output goes (default: a new temporary directory, named in errors).
    log_dir: str | None = None


@dataclass(frozen=True)
class Replica:
    """One engine process: its command line, port, GPU and log file."""

    index: int
    port: int
    gpu: str
    argv: tuple[str, ...]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def shown(self) -> str:
        """The command line for logs and errors, credentials masked."""
        return shlex.join(redacted_argv(self.argv))


def redacted_argv(argv: Sequence[str]) -> list[str]:
    """`argv` with the value of any credential flag (`--api-key X`, `--api-key=X`) and any key-like token masked."""
    out: list[str] = []
    mask_next = False
    for token in argv:
        if mask_next:
            out.append("***")
            mask_next = False
            continue
        if token.startswith("--"):
            name, eq, _ = token[2:].partition("=")
            if is_secret(name.replace("-", "_"), None):
                if eq:
                    out.append(f"--{name}=***")
                else:
                    out.append(token)
                    mask_next = True
                continue
        out.append(SECRET_VALUE.sub("***", token))
    return out


# ---- the plan (pure: no process started) --------------------------------------------------------------------

@dataclass(frozen=True)
class Judge:
    """What the engine serves, as far as the flags care: the family and the checkpoint's architecture."""

    family: str | None
    script_family: str | None
    model_type: str | None


def judge_of(config: EngineConfig) -> Judge:
    """The family (given, or detected from the model path's name or its config.json) and its script family."""
    from reward.families import detect, resolve  # data only; imported when an engine is planned

    model_type = _model_type(config.model_path)
    try:
        detection = detect(config.model_path, model_type, family=config.family)
    except UsageError as exc:
        raise UsageError(f"--model-path {config.model_path}: {exc}") from None
    if detection.family is None:
        return Judge(None, None, model_type)
    return Judge(detection.family, resolve(detection.family).family.script_family, model_type)


def _model_type(model_path: str) -> str | None:
    """`model_type` of a local checkpoint's config.json; None for a hub id (the engine downloads it)."""
    config = Path(model_path) / "config.json"
    if not config.is_file():
        return None
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError) as exc:
        raise UsageError(f"--model-path {model_path}: cannot read config.json ({exc})") from None
    return value if isinstance(value, str) else None


def recommended_flags(engine: str, judge: Judge, model_path: str) -> list[tuple[str, str | None]]:
    """The family's recommended engine flags as (flag, value or None for a switch), sources in the module doc."""
    if engine == "vllm":
        flags = list(VLLM_FLAGS)
        if judge.model_type == "qwen3_5" or re.search(r"qwen35", model_path, re.IGNORECASE):
            flags += VLLM_QWEN35_FLAGS
        return flags
    flags = list(SGLANG_FLAGS)
    if judge.script_family == "llava":
        flags += SGLANG_LLAVA_FLAGS
    return flags


def _flag_names(tokens: Sequence[str]) -> set[str]:
    """The flags a user's `--engine-args` set, normalised (`--a_b=1` and `--a-b 1` both name `--a-b`; vLLM's dotted
    `--limit-mm-per-prompt.image 8` names `--limit-mm-per-prompt`)."""
    names = set()
    for token in tokens:
        if token.startswith("--"):
            names.add("--" + token[2:].split("=", 1)[0].split(".", 1)[0].replace("_", "-"))
    return names


def engine_argv(config: EngineConfig, judge: Judge, port: int) -> list[str]:
    """The full command line of one replica."""
    try:
        extra = shlex.split(config.engine_args)
    except ValueError as exc:
        raise UsageError(f"--engine-args {config.engine_args!r}: {exc}") from None
    launcher = _launcher(config)
    served = config.served_name or config.model_path
    if config.engine == "vllm":
        base = [*launcher, "serve", config.model_path]
    else:
        base = [*launcher, "-m", "sglang.launch_server", "--model-path", config.model_path]
    own: list[tuple[str, str | None]] = [("--host", HOST), ("--port", str(port)), ("--served-model-name", served)]
    overridden = _flag_names(extra)
    for flag in ("--host", "--port"):
        if flag in overridden:
            raise UsageError(f"--engine-args: {flag} is set by the launcher (each replica gets its own port on {HOST})")
    argv = list(base)
    for flag, value in own + recommended_flags(config.engine, judge, config.model_path):
        if flag in overridden:
            continue  # the user's value replaces ours
        argv += [flag] if value is None else [flag, value]
    return argv + extra


def _launcher(config: EngineConfig) -> list[str]:
    """The engine environment's executable: `vllm`, or for SGLang a Python that has `sglang`."""
    if config.executable:
        parts = shlex.split(config.executable)
        if not parts or shutil.which(parts[0]) is None:
            raise UsageError(f"--engine-exe {config.executable!r}: not an executable file")
        return parts
    if config.engine == "vllm":
        found = shutil.which("vllm")
        if found is None:
            raise UsageError("--engine vllm: no `vllm` executable on PATH; install vLLM in its own environment "
                             "(pip install vllm) and pass --engine-exe /path/to/that/env/bin/vllm")
        return [found]
    return [sys.executable]


def _visible_gpus(gpus: int) -> list[str]:
    """The GPU each replica gets: the i-th of the parent's CUDA_VISIBLE_DEVICES when set, else i."""
    if gpus < 1:
        raise UsageError(f"--gpus {gpus}: at least 1 (one engine replica per GPU)")
    parent = os.environ.get("CUDA_VISIBLE_DEVICES")
    if parent is None or not parent.strip():
        return [str(i) for i in range(gpus)]
    visible = [d.strip() for d in parent.split(",") if d.strip()]
    if gpus > len(visible):
        raise UsageError(f"--gpus {gpus}: CUDA_VISIBLE_DEVICES={parent} makes only {len(visible)} GPU(s) visible")
    return visible[:gpus]


def _free_ports(n: int) -> list[int]:
    """`n` distinct free ports on 127.0.0.1 (held open together while chosen, so none repeats)."""
    sockets = []
    try:
        for _ in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def plan(config: EngineConfig, log_dir: Path, judge: Judge | None = None) -> list[Replica]:
    """One Replica per GPU, every check that can fail before a process starts already done."""
    if config.engine not in ENGINES:
        raise UsageError(f"--engine {config.engine!r}: one of {', '.join(ENGINES)}")
    if not config.model_path:
        raise UsageError(f"--engine {config.engine} needs --model-path (a hub id or a local checkpoint directory)")
    if config.startup_timeout <= 0 or config.stop_timeout < 0:
        raise UsageError("engine startup timeout must be > 0 and stop timeout >= 0")
    gpus = _visible_gpus(config.gpus)
    ports = ([config.base_port + i for i in range(len(gpus))] if config.base_port else _free_ports(len(gpus)))
    judge = judge if judge is not None else judge_of(config)
    return [Replica(i, port, gpu, tuple(engine_argv(config, judge, port)), log_dir / f"replica-{i}.log")
            for i, (gpu, port) in enumerate(zip(gpus, ports))]


# ---- running it ---------------------------------------------------------------------------------------------

@dataclass
class _Running:
    replica: Replica
    process: subprocess.Popen
    log: IO[bytes]
    healthy: bool = False


@dataclass
class ManagedEngine:
    """The engine's replicas, started by `start()` (or `with`), stopped by `stop()` (also at interpreter exit)."""

    config: EngineConfig
    replicas: list[Replica] = field(default_factory=list)
    judge: Judge | None = None
    _running: list[_Running] = field(default_factory=list)
    _log_dir: Path | None = None

    def __enter__(self) -> "ManagedEngine":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "ManagedEngine":
        """Launch every replica and wait until all are healthy; on any failure stop them all and raise UsageError."""
        self._log_dir = Path(self.config.log_dir) if self.config.log_dir else Path(
            tempfile.mkdtemp(prefix="harness-engine-"))
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self.judge = judge_of(self.config)
        self.replicas = plan(self.config, self._log_dir, self.judge)
        atexit.register(self.stop)
        try:
            for replica in self.replicas:
                self._running.append(self._launch(replica))
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, replica: Replica) -> _Running:
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=replica.gpu)
        log = open(replica.log_path, "ab")
        log.write(f"# harness: {replica.shown()}\n# CUDA_VISIBLE_DEVICES={replica.gpu}\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(replica.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       env=env, start_new_session=True, preexec_fn=_parent_death_signal())
        except OSError as exc:
            log.close()
            raise UsageError(f"--engine {self.config.engine}: cannot start {replica.shown()}: {exc}") from None
        return _Running(replica, process, log)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout
        while True:
            for run in self._running:
                if run.healthy:
                    continue
                code = _exit_code(run.process)
                if code is not None:
                    raise UsageError(self._failure(run, f"exited with code {code} before it was healthy"))
                run.healthy = _healthy(run.replica.url)
            if all(run.healthy for run in self._running):
                return
            if time.monotonic() >= deadline:
                late = next(run for run in self._running if not run.healthy)
                raise UsageError(self._failure(
                    late, f"did not answer GET /health within {self.config.startup_timeout:g} s"))
            time.sleep(POLL_INTERVAL)

    def _failure(self, run: _Running, what: str) -> str:
        run.log.flush()
        tail = log_tail(run.replica.log_path)
        replica = run.replica
        return (f"--engine {self.config.engine}: replica {replica.index} ({replica.url}, GPU {replica.gpu}) "
                f"{what}; command: {run.replica.shown()}; log {run.replica.log_path}, last lines:\n{tail}")

    def model_args(self) -> dict[str, str]:
        """`--model-args` for the `openai` adapter: every replica, the served name, the family when known."""
        if not self.replicas:
            raise RuntimeError("engine not started")
        args = {"base_url": "|".join(f"{r.url}/v1" for r in self.replicas),
                "model": self.config.served_name or self.config.model_path}
        if self.judge is not None and self.judge.family is not None:
            args["family"] = self.judge.family
        if self.config.engine == "sglang":
            args["sglang_multi_image"] = "true"
        return args

    def alive(self) -> list[bool]:
        return [_exit_code(run.process) is None for run in self._running]

    def stop(self) -> None:
        """SIGTERM every replica's process group, SIGKILL what is left after `stop_timeout`. Idempotent."""
        running, self._running = self._running, []
        atexit.unregister(self.stop)
        for run in running:
            _signal_group(run.process, signal.SIGTERM)
        deadline = time.monotonic() + self.config.stop_timeout
        for run in running:
            while _exit_code(run.process) is None and time.monotonic() < deadline:
                time.sleep(0.05)
        for run in running:
            # Whatever is left of the group: a leader that ignored SIGTERM, or workers that outlived it. The leader
            # is not reaped yet, so the group id cannot have been given to another process meanwhile.
            _signal_group(run.process, signal.SIGKILL)
            run.process.wait()
            run.log.close()


def _exit_code(process: subprocess.Popen) -> int | None:
    """A process's exit status if it has finished, without reaping it (its pid, and with it its process group id,
    stay reserved until `stop` has signalled the group)."""
    if process.returncode is not None or not hasattr(os, "waitid"):
        return process.poll()
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return process.poll()
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # start_new_session: the group id is the leader's pid
    except (ProcessLookupError, PermissionError):
        pass


def _parent_death_signal() -> Callable[[], None] | None:
    """Linux: a function that makes the calling process get SIGTERM when its parent dies, so an engine never
    outlives a harness killed without its cleanup (SIGKILL, a crash). Resolved here, in the parent: the child
    between fork and exec must not import anything (another thread may hold the import lock)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_death_signal() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    return set_death_signal


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2.0) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file (read from its last 64 KB), credentials masked."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 65536))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read the log: {exc})"
    return "\n".join(SECRET_VALUE.sub("***", line) for line in text.splitlines()[-lines:])


# ---- the CLI's half -----------------------------------------------------------------------------------------

def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """The managed-engine flags of `harness serve` (and `harness run`)."""
    group = parser.add_argument_group("managed engine (starts vLLM or SGLang, stops it at exit)")
    group.add_argument("--engine", choices=ENGINES, default=None,
                       help="start this engine and judge with the `openai` adapter pointed at its replicas")
    group.add_argument("--model-path", default=None, help="checkpoint the engine serves (hub id or directory)")
    group.add_argument("--gpus", type=int, default=1, help="data-parallel replicas, one per GPU (default 1)")
    group.add_argument("--engine-args", default="", help="extra engine flags, one quoted string; they replace the "
                                                         "recommended flag of the same name")
    group.add_argument("--engine-exe", default=None, help="the engine environment's `vllm` (or, for sglang, its "
                                                          "`python`) executable")
    group.add_argument("--engine-port", type=int, default=0, help="first replica's port (default: free ports)")
    group.add_argument("--engine-timeout", type=float, default=1200.0,
                       help="seconds to wait for every replica's /health (default 1200)")
    group.add_argument("--served-model-name", default=None, help="name the engine serves (default: the model path)")


def engine_config(args: argparse.Namespace, family: str | None = None) -> EngineConfig | None:
    """The EngineConfig the parsed flags ask for; None without `--engine` (then `--model-path` is an error)."""
    if args.engine is None:
        if args.model_path:
            raise UsageError("--model-path is the managed engine's checkpoint: give --engine vllm|sglang with it")
        return None
    return EngineConfig(engine=args.engine, model_path=args.model_path or "", gpus=args.gpus,
                        engine_args=args.engine_args, family=family, served_name=args.served_model_name,
                        executable=args.engine_exe, base_port=args.engine_port, startup_timeout=args.engine_timeout)


def merged_model_args(engine: ManagedEngine, model: str, given: Mapping[str, str]) -> dict[str, str]:
    """The `openai` adapter's arguments: the engine's, then the user's `--model-args` (which win, except the URL)."""
    if model != "openai":
        raise UsageError(f"--engine serves through the `openai` adapter; drop --model {model} (or use --model openai)")
    if "base_url" in given:
        raise UsageError("--model-args base_url=... and --engine both say where the judge is; give one")
    return {**engine.model_args(), **given}
