"""`harness serve`: its arguments (`add_serve_parser`) and its entry point (`main_serve`).

    python -m harness serve --model hf --model-args pretrained=CodeGoat24/UnifiedReward-2.0-qwen-7b
    python -m harness serve --model openai --model-args base_url=http://127.0.0.1:8000/v1 --family qwen
    python -m harness serve --engine vllm --model-path CodeGoat24/UnifiedReward-2.0-qwen-7b --gpus 4

Building the parser imports argument definitions only (the managed engine's flags come from
`harness.serve.engine`, which imports no engine); the service, aiohttp and the judge are imported when the
command runs. Everything that can be checked before the judge loads is checked first: the numbers, the
family's templates (with `--family`), the adapter's arguments.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Mapping

from ..adapters import parse_model_args
from ..errors import UsageError
from .engine import ManagedEngine, add_engine_arguments, engine_config, merged_model_args


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `serve` to a CLI's subparsers (`argparse._SubParsersAction`) and return its parser."""
    serve = subparsers.add_parser("serve", help="serve a judge as an HTTP reward service for online RL "
                                                "(pointwise, pairwise and group rewards; docs/serve.md)")
    serve.add_argument("--model", default=None, help="judge adapter (see `harness list`); with --engine: openai")
    serve.add_argument("--model-args", default="", help="adapter arguments as k=v,k=v")
    serve.add_argument("--family", default=None,
                       help="judge family whose prompt templates are sent (default: the judge's own, else "
                            "unifiedreward-2.0), e.g. qwen, unifiedreward-2.0, unifiedreward-think/answer")
    serve.add_argument("--template", action="append", default=[], metavar="NAME",
                       help="one of the family's templates (file stem or task kind) in place of the default of its "
                            "endpoint; repeatable or comma-separated")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; the service "
                                                           "has no authentication)")
    serve.add_argument("--port", type=int, default=8700, help="port (default 8700; 0: a free one)")
    serve.add_argument("--max-batch", type=int, default=16, help="judge calls per batch (default 16)")
    serve.add_argument("--max-wait-ms", type=float, default=10.0,
                       help="how long a batch waits for more calls to join (default 10)")
    serve.add_argument("--max-queue", type=int, default=1024,
                       help="judge calls queued or in progress at most; beyond, requests get 429 (default 1024)")
    serve.add_argument("--concurrency", type=int, default=16,
                       help="calls in flight to a judge behind an endpoint (openai, scores; default 16)")
    serve.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                       help="answer repeated calls from the judgment cache (default on)")
    serve.add_argument("--cache-path", type=Path, default=None,
                       help="SQLite cache file (default $HARNESS_CACHE_DIR or ~/.cache/unified-reward-harness)")
    serve.add_argument("--shutdown-timeout", type=float, default=60.0,
                       help="seconds a stop waits for admitted items to be answered (default 60)")
    serve.add_argument("--max-body-mb", type=float, default=256.0, help="largest request body (default 256 MB)")
    add_engine_arguments(serve)
    return serve


def check_numbers(args: argparse.Namespace) -> None:
    problems = [f"{flag} must be {rule}" for flag, ok, rule in (
        ("--max-batch", args.max_batch >= 1, ">= 1"), ("--max-queue", args.max_queue >= 1, ">= 1"),
        ("--concurrency", args.concurrency >= 1, ">= 1"), ("--max-wait-ms", args.max_wait_ms >= 0, ">= 0"),
        ("--port", 0 <= args.port <= 65535, "a port number (0-65535)"),
        ("--shutdown-timeout", args.shutdown_timeout > 0, "> 0"), ("--max-body-mb", args.max_body_mb > 0, "> 0"))
        if not ok]
    if problems:
        raise UsageError("; ".join(problems))
    if args.max_queue < args.max_batch:
        raise UsageError(f"--max-queue {args.max_queue} is smaller than --max-batch {args.max_batch}")


def template_names(values: list[str]) -> list[str]:
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def with_concurrency(adapter_class: type, model_args: Mapping[str, str], concurrency: int) -> dict[str, str]:
    """`--concurrency` as the adapter's own `concurrency=` (its HTTP client's bound) unless --model-args set it."""
    args = dict(model_args)
    if "concurrency" in inspect.signature(adapter_class).parameters and "concurrency" not in args:
        args["concurrency"] = str(concurrency)
    return args


def main_serve(args: argparse.Namespace) -> int:
    """Run the service until SIGTERM or SIGINT; 0 when it stopped with every admitted item answered."""
    from ..registry import MODELS
    from .templates import DEFAULT_FAMILY, resolve_templates

    check_numbers(args)
    names = template_names(args.template)
    if args.family:
        resolve_templates(args.family, names)  # a wrong family or template fails before the judge loads
    engine = engine_config(args, args.family)
    model = args.model or ("openai" if engine is not None else None)
    if model is None:
        raise UsageError("`harness serve` needs --model NAME (or --engine vllm|sglang --model-path P)")
    adapter_class = MODELS.get(model)
    given = parse_model_args(args.model_args)
    if engine is None:
        adapter_class.check_args(with_concurrency(adapter_class, given, args.concurrency))
    with ExitStack() as stack:
        if engine is not None:
            managed = stack.enter_context(ManagedEngine(engine))
            given = merged_model_args(managed, model, given)
        adapter = adapter_class.from_args(with_concurrency(adapter_class, given, args.concurrency))
        stack.callback(adapter.close)
        family = args.family or adapter.family() or DEFAULT_FAMILY
        source = "--family" if args.family else "the judge" if adapter.family() else "default: the judge names none"
        templates = resolve_templates(family, names)
        cache = None
        if args.cache:
            from ..cache import JudgmentCache

            cache = JudgmentCache(args.cache_path)
            stack.callback(cache.close)
        code = _serve(args, adapter, templates, cache, f"{family} ({source})")
    return code


def _serve(args: argparse.Namespace, adapter: Any, templates: Any, cache: Any, family: str) -> int:
    import asyncio

    from .app import RewardService, serve

    service = RewardService(adapter, templates, cache=cache, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                            max_queue=args.max_queue, concurrency=args.concurrency,
                            shutdown_timeout_s=args.shutdown_timeout, max_body_mb=args.max_body_mb)

    def ready(url: str) -> None:
        if adapter.kind == "scorer":
            prompts = "a scalar scorer: the caption and the media, no template"
        else:
            slots = ", ".join(f"{slot} {t['name']} ({t['version']})" for slot, t in templates.describe().items())
            prompts = f"family {family}; templates: {slots or '(none)'}"
        print(f"reward service on {url}: judge {adapter.name}, {prompts}; {service.settings.workers} worker(s), "
              f"batches of {args.max_batch}; SIGTERM or Ctrl-C stops it", flush=True)

    try:
        drained = asyncio.run(serve(service, args.host, args.port, ready))
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    if not drained:
        print(f"harness serve: stopped after {args.shutdown_timeout:g} s with items still being judged",
              file=sys.stderr)
        return 1
    return 0
