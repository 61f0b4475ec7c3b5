"""Command line: `python -m harness COMMAND` (also installed as `harness`).

Commands: run, inspect, list, report, compare, agreement, ensemble, construct, build-reward-data,
reward-data-stats, train-reward, dpo-vlm, dpo-diffusion, generate, lmms-eval, demo, push, serve, convert-llava (README
"Command line" lists every option; tests/test_cli_interfaces.py keeps the two in step). Building the parser
imports only argument definitions: a command's own modules (the runner, torch, the lmms-eval wing,
huggingface_hub) are imported when it runs. `list` imports the task modules, since a task's protocols and
splits are class attributes.

`--tasks` takes task groups beside task names (harness/groups.py, tasks/groups.yaml); `run --config FILE` reads
run's flags from YAML (harness/run_config.py); `list NAME...` describes tasks (harness/describe.py).

Exit status: 0 when the run completed (even with counted invalid replies or errors), 2 on a usage
error (unknown name, bad argument, missing data), 1 when `--strict` stops a run at a failed sample or
the run fails for another reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from .adapters import parse_model_args
from .errors import HarnessError, Interrupted, StrictFailure, UsageError
from .summary import format_summary
from .registry import MODELS, TASKS


def limit_value(text: str) -> int | float:
    """--limit: a count (>= 1) or a fraction (0 < F < 1) of each task's samples."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a count nor a fraction") from None
    if value >= 1 and value.is_integer():
        return int(value)
    if 0 < value < 1:
        return value
    raise argparse.ArgumentTypeError(f"{text!r}: a count is a whole number >= 1, a fraction lies in (0, 1)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="harness",
                                     description="Evaluate multimodal reward models on reward benchmarks.")
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="judge benchmark samples and write a run directory")
    # --tasks and --model are required, by the command line or --config (checked after the file is read).
    run.add_argument("--tasks", default=None,
                     help="comma-separated task and task-group names (see `harness list`)")
    run.add_argument("--model", default=None, help="adapter name (see `harness list`)")
    run.add_argument("--model-args", default="", help="adapter arguments as k=v,k=v")
    run.add_argument("--protocol", default=None, help="protocol of every task (default: each task's default)")
    run.add_argument("--data-dir", type=Path, default=None, help="local copy of the benchmark instead of the hub")
    run.add_argument("--split", default=None, help="dataset split (default: the task's first split)")
    run.add_argument("--dataset-revision", default=None,
                     help="hub dataset commit instead of the task's pinned one "
                          "(e.g. VL-RewardBench's main: 1,247 rows)")
    run.add_argument("--limit", type=limit_value, default=None,
                     help="judge only the first N samples of each task, or a fraction of each (0 < F < 1, rounded up)")
    run.add_argument("--seed", type=int, default=0, help="seed for answer-order swaps and bootstrap CIs")
    run.add_argument("--orders", default="one", choices=["one", "both"],
                     help="judge each pairwise item in its protocol's order (one, default) or in both orders, "
                          "reporting swap consistency and position bias (both)")
    run.add_argument("--samples", type=int, default=1, metavar="K",
                     help="judge each item K times per order (a judge with temperature > 0 in its arguments), "
                          "reporting majority-vote accuracy and vote agreement (default 1)")
    run.add_argument("--output", type=Path, default=Path("runs"), help="where run directories go (default runs/)")
    run.add_argument("--resume", action="store_true",
                     help="continue the newest run in --output with the same configuration")
    run.add_argument("--no-cache", action="store_true", help="neither read nor write the judgment cache")
    run.add_argument("--strict", action="store_true", help="stop at the first sample that fails or is invalid")
    run.add_argument("--judge", default=None,
                     help="second-stage judge of two-stage tasks such as msvd_qa (default: the task's pinned judge)")
    run.add_argument("--judge-args", default="", help="judge adapter arguments as k=v,k=v")
    run.add_argument("--progress", default="auto", choices=["auto", "bar", "log", "none"],
                     help="a bar on a terminal, periodic log lines elsewhere (auto, default), or force one")
    run.add_argument("-v", "--verbose", action="store_true", help="also print each failed or invalid sample")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress output (--progress none)")
    run.add_argument("--cache-path", type=Path, default=None,
                     help="SQLite cache file (default $HARNESS_CACHE_DIR or ~/.cache/unified-reward-harness)")
    run.add_argument("--log-to", default=None,
                     help="also send the finished run's metrics and samples table to wandb and/or tensorboard "
                          "(comma-separated; extra `log`; docs/sharing.md)")
    run.add_argument("--log-dir", type=Path, default=None,
                     help="where --log-to writes local files (default <output>/logs)")
    run.add_argument("--log-project", default=None, help="wandb project for --log-to wandb (default harness)")
    run.add_argument("--config", type=Path, default=None,
                     help="YAML file of run's flags by long name (tasks, model, model_args, ...); "
                          "flags on the command line override it")
    from .serve.engine import add_engine_arguments  # argparse only; the engine starts when the run does

    add_engine_arguments(run)

    listing = sub.add_parser("list", help="list tasks (with protocols and splits), models and task groups; "
                                          "with names, each task's details")
    listing.add_argument("names", nargs="*", metavar="TASK",
                         help="tasks (or groups) to describe: protocols, deviations, metrics, data source, size")
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    inspect = sub.add_parser("inspect", help="show exactly what the judge would receive for the first samples "
                                             "(rendered prompt, tokens, media), without generating")
    for action in run._actions:  # the run's selection flags, so an inspected input is the one a run sends
        if action.dest in ("tasks", "model", "model_args", "protocol", "data_dir", "split", "dataset_revision", "seed"):
            inspect._add_action(action)
    inspect.add_argument("--limit", type=int, default=3, help="samples per task (default 3)")
    inspect.add_argument("--json", action="store_true", help="one JSON record per request (token ids included)")

    report = sub.add_parser("report", help="render paper tables from finished runs, beside the published numbers")
    report.add_argument("--runs", nargs="+", type=Path, required=True,
                        help="run directories, or directories of runs (e.g. runs/)")
    report.add_argument("--table", default="all", help="3, 4, 5, 6, 7, 8, 9, genai-leaderboard or all (default)")
    report.add_argument("--format", default="md", choices=["md", "latex", "csv", "html"])
    report.add_argument("--out", type=Path, default=None,
                        help="output file (default: stdout); PNG charts are written beside it")

    compare = sub.add_parser("compare", help="compare a candidate run with a baseline run; exit 1 on a "
                                             "significant drop (a CI gate)")
    compare.add_argument("baseline", type=Path, help="baseline run directory")
    compare.add_argument("candidate", type=Path, help="candidate run directory")
    compare.add_argument("--max-drop", type=float, default=1.0,
                         help="points a gated metric may drop before the gate can fail (default 1.0)")
    compare.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    compare.add_argument("--metrics", default=None, help="comma-separated metrics to gate (default: all)")
    compare.add_argument("--resamples", type=int, default=2000, help="paired bootstrap resamples (default 2000)")
    compare.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    compare.add_argument("--json", type=Path, default=None, help="also write the comparison as JSON here")

    agreement = sub.add_parser("agreement", help="Cohen's kappa and raw agreement between judges' runs (and with "
                                                 "human labels), per task")
    agreement.add_argument("runs", nargs="+", type=Path, help="two or more run directories")
    agreement.add_argument("--json", type=Path, default=None, help="also write the agreement as JSON here")
    agreement.add_argument("--resamples", type=int, default=1000,
                           help="bootstrap resamples for the kappa CIs (default 1000; 0: none)")
    agreement.add_argument("--seed", type=int, default=0, help="bootstrap seed")

    ensemble = sub.add_parser("ensemble", help="combine judges' runs into a new run whose verdict per item is "
                                               "their majority, weighted vote or mean score")
    ensemble.add_argument("runs", nargs="+", type=Path, help="two or more run directories")
    ensemble.add_argument("--rule", required=True, choices=["majority", "weighted", "mean-score"],
                          help="majority, weighted (needs --weights) or mean-score (scalar scorers)")
    ensemble.add_argument("--weights", default=None, help="comma-separated positive weights, one per run, in order")
    ensemble.add_argument("--out", type=Path, required=True, help="the new run directory (must not exist, or be "
                                                                  "empty)")
    ensemble.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples for the CIs (default 1000)")
    ensemble.add_argument("--seed", type=int, default=0, help="bootstrap seed")

    construct = sub.add_parser("construct", help="build preference pairs: N candidates -> pair ranking -> point "
                                                 "sifting (paper Sec. 3.3)")
    construct.add_argument("--policy", required=True, help="policy name (hf, openai, diffusers-image, ...)")
    construct.add_argument("--policy-args", default="", help="policy arguments as k=v,k=v")
    construct.add_argument("--reward", required=True, help="reward adapter name (hf, openai, pickscore, ...)")
    construct.add_argument("--reward-args", default="", help="reward adapter arguments as k=v,k=v")
    construct.add_argument("--inputs", type=Path, required=True, help="JSONL of {id, prompt, images|video}")
    construct.add_argument("--n", type=int, default=10, help="candidates per input (even; default 10)")
    construct.add_argument("--out", type=Path, required=True, help="output directory (resumable)")
    construct.add_argument("--seed", type=int, default=0)
    construct.add_argument("--on-unranked", default="reask", choices=["reask", "drop", "first"],
                           help="a pair whose ranking cannot be read: ask again with the order exchanged then "
                                "drop (default), drop, or let the first win (the released code)")
    construct.add_argument("--orders", default="one", choices=["one", "both"],
                           help="rank each pair as shown (one, the paper) or also swapped, keeping it only when "
                                "both orders agree (both)")
    construct.add_argument("--require-margin", action="store_true",
                           help="drop inputs where score(chosen) <= score(rejected) (the released code)")
    construct.add_argument("--limit", type=int, default=None, help="only the first N inputs")
    construct.add_argument("--chunk", type=int, default=16, help="inputs processed together (resume granularity)")
    construct.add_argument("--no-cache", action="store_true", help="do not use the judgment cache")

    build = sub.add_parser("build-reward-data", help="build the unified preference dataset from a manifest "
                                                     "(paper Sec. 3.2.1)")
    build.add_argument("--manifest", type=Path, required=True,
                       help="manifest YAML (reward/training/dataset/manifests/)")
    build.add_argument("--out", type=Path, required=True, help="output directory (records.jsonl + media/)")
    build.add_argument("--overwrite", action="store_true", help="replace an already built directory")

    stats = sub.add_parser("reward-data-stats", help="the dataset statistics table (paper Table 2 / Fig. 3)")
    stats.add_argument("dataset", type=Path, help="a directory written by build-reward-data")

    train = sub.add_parser("train-reward", help="fine-tune a VLM judge on a unified preference dataset (extra train)")
    train.add_argument("--config", type=Path, required=True, help="train config YAML (configs/train_reward/)")
    train.add_argument("--max-steps", type=int, default=None, help="override max_steps (smoke runs)")

    dpo = sub.add_parser("dpo-vlm", help="DPO on a VLM from `construct` output (extra train)")
    dpo.add_argument("--config", type=Path, required=True, help="config YAML (configs/dpo_vlm/)")
    dpo.add_argument("--max-steps", type=int, default=None, help="override max_steps (smoke runs)")

    dpo_diffusion = sub.add_parser("dpo-diffusion", help="Diffusion-DPO on image or video UNets (extra gen)")
    dpo_diffusion.add_argument("--config", type=Path, required=True, help="config YAML (configs/dpo_diffusion/)")
    dpo_diffusion.add_argument("--max-steps", type=int, default=None, help="override max_steps (smoke runs)")

    from alignment.generate import add_arguments as generate_arguments  # argparse only

    generate_arguments(sub.add_parser("generate", help="generate images or videos for a prompt set with a "
                                                       "policy (for VBench, PartiPrompts, HPSv2 scoring)"))

    from .lmms.run import add_arguments as lmms_arguments  # argparse only; lmms-eval runs in its own venv

    lmms_arguments(sub.add_parser("lmms-eval", help="run lmms-eval's downstream tasks in its own environment "
                                                    "and collect the results as a harness run"))

    from .demo import add_arguments as demo_arguments  # argparse only; the demo needs the `hf` extra

    demo_arguments(sub.add_parser("demo", help="the whole flow offline in seconds: a tiny random-weight judge with "
                                               "real configs on shipped benchmark rows, a run and a report"))

    from .push import add_arguments as push_arguments  # argparse only; huggingface_hub when it runs

    push_arguments(sub.add_parser("push", help="upload a finished run directory to a Hugging Face dataset repo"))

    from .serve.cli import add_serve_parser  # argparse only; aiohttp and the judge when it runs

    add_serve_parser(sub)

    convert = sub.add_parser("convert-llava", help="convert an original LLaVA-NeXT (llava_qwen) checkpoint, e.g. "
                                                   "CodeGoat24/UnifiedReward-7b, to the transformers layout")
    convert.add_argument("src", help="original checkpoint: a directory or a hub id")
    convert.add_argument("dst", type=Path, help="output directory (loads with --model hf pretrained=DST)")
    convert.add_argument("--vision-num-heads", type=int, default=None,
                         help="SigLIP attention heads, needed when mm_vision_tower is not a known tower")
    convert.add_argument("--dtype", default="auto", help="auto (the source's), float32, float16 or bfloat16")
    convert.add_argument("--overwrite", action="store_true", help="write into a non-empty DST")
    return parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """name -> parser of every subcommand of `parser` (a `build_parser()`), in declaration order."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run" and args.config is not None:
            args = _with_run_config(parser, argv, args.config)
        if args.command == "list":
            return _list(args)
        if args.command == "inspect":
            return _inspect(args)
        if args.command == "report":
            from reports.report import main as report_main  # matplotlib only for this command

            return report_main(args)
        if args.command == "compare":
            from reports.compare import main as compare_main

            return compare_main(args)
        if args.command == "agreement":
            from reports.agreement import main as agreement_main

            return agreement_main(args)
        if args.command == "ensemble":
            from reports.ensemble import main as ensemble_main

            return ensemble_main(args)
        if args.command == "build-reward-data":
            from reward.training.dataset import build

            report = build(args.manifest, args.out, overwrite=args.overwrite)
            print(report.summary())
            print(args.out)
            return 0
        if args.command == "reward-data-stats":
            from reward.training.dataset import stats

            print(stats(args.dataset))
            return 0
        if args.command == "construct":
            return _construct(args)
        if args.command == "train-reward":
            from reward.training.sft import main as train_main  # imports torch and TRL: only for this command

            return train_main(args.config, {"max_steps": args.max_steps} if args.max_steps is not None else None)
        if args.command == "dpo-vlm":
            from alignment.dpo_vlm import main as dpo_main  # imports torch and TRL: only for this command

            return dpo_main(args.config, {"max_steps": args.max_steps} if args.max_steps is not None else None)
        if args.command == "dpo-diffusion":
            from alignment.diffusion_dpo import main as diffusion_main  # torch, diffusers: only for this command

            return diffusion_main(args.config, {"max_steps": args.max_steps} if args.max_steps is not None else None)
        if args.command == "generate":
            from alignment.generate import main as generate_main

            return generate_main(args)
        if args.command == "lmms-eval":
            from .lmms.run import main as lmms_main

            return lmms_main(args)
        if args.command == "demo":
            from .demo import main as demo_main

            return demo_main(args)
        if args.command == "push":
            from .push import main as push_main

            return push_main(args)
        if args.command == "serve":
            from .serve.cli import main_serve

            return main_serve(args)
        if args.command == "convert-llava":
            from reward.convert_llava import convert  # imports torch: only for this command

            print(convert(args.src, args.dst, vision_num_heads=args.vision_num_heads, dtype=args.dtype,
                          overwrite=args.overwrite))
            return 0
        return _run(args)
    except UsageError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        missing = missing_extra(args, exc)
        if missing is None:
            raise
        print(f"harness: error: {missing}", file=sys.stderr)
        return 2
    except StrictFailure as exc:
        print(f"harness: stopped: {exc}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        import shlex

        again = argv if "--resume" in argv else [*argv, "--resume"]
        print(f"harness: {exc}; continue with: python -m harness {shlex.join(again)}", file=sys.stderr)
        return 130
    except HarnessError as exc:
        print(f"harness: failed: {exc}", file=sys.stderr)
        return 1


def _with_run_config(parser: argparse.ArgumentParser, argv: Sequence[str], path: Path) -> argparse.Namespace:
    """`run --config FILE`: the file's values become the run flags' defaults, so the command line wins."""
    from .run_config import read_run_config

    run = subcommands(parser)["run"]
    run.set_defaults(**read_run_config(path, run))
    return parser.parse_args(argv)


def _require_selection(args: argparse.Namespace) -> None:
    """--tasks and --model: not argparse-required, since `run --config` may give them."""
    missing = [flag for flag, value in (("--tasks", args.tasks), ("--model", args.model)) if not value]
    if missing:
        where = "on the command line or in the --config file" if args.command == "run" else "on the command line"
        raise UsageError(f"`harness {args.command}` needs {' and '.join(missing)} ({where})")


def _run_on_engine(opts: Any, engine: Any) -> Any:
    """`run --engine`: the tasks and their data checked first (an engine takes minutes to start), then the engine
    started with the family's flags, the run judged through its replicas, and the engine stopped."""
    from dataclasses import replace

    from .runner import check_locations, open_inputs, resolve_tasks, run
    from .serve.engine import ManagedEngine, merged_model_args

    check_locations(opts)
    open_inputs(resolve_tasks(opts), opts.limit)
    with ManagedEngine(engine) as managed:
        return run(replace(opts, model_args=merged_model_args(managed, opts.model, opts.model_args)))


def adapter_args(value: str | dict[str, str], flag: str) -> dict[str, str]:
    """A `k=v,k=v` flag value, or the mapping a --config file gave (already strings)."""
    return dict(value) if isinstance(value, dict) else parse_model_args(value, flag)


def _run(args: argparse.Namespace) -> int:
    from .groups import split_task_list
    from .runner import RunOptions, run  # the runner pulls in tqdm/numpy; keep `list` light
    from .serve.engine import engine_config

    engine = engine_config(args)
    if engine is not None and not args.model:
        args.model = "openai"  # a managed engine is judged through its OpenAI-compatible endpoint
    _require_selection(args)
    log_targets = None
    if args.log_to:
        from .loggers import require_targets

        log_targets = require_targets([args.log_to])  # before the run: a missing package costs nothing
    opts = RunOptions(
        tasks=split_task_list(args.tasks),
        model=args.model,
        model_args=adapter_args(args.model_args, "--model-args"),
        protocol=args.protocol,
        data_dir=args.data_dir,
        split=args.split,
        limit=args.limit,
        seed=args.seed,
        output=args.output,
        resume=args.resume,
        use_cache=not args.no_cache,
        strict=args.strict,
        cache_path=args.cache_path,
        judge=args.judge,
        judge_args=adapter_args(args.judge_args, "--judge-args"),
        progress="none" if args.quiet else args.progress,
        verbose=args.verbose,
        dataset_revision=args.dataset_revision,
        orders=args.orders,
        samples=args.samples,
    )
    outcome = run(opts) if engine is None else _run_on_engine(opts, engine)
    if outcome.record is None:  # a data-parallel process other than rank 0: rank 0 reports the run
        return 0
    print(format_summary(outcome.record))
    print(f"judged by the model: {outcome.adapter_calls}, from cache: {outcome.cache_hits}, "
          f"already done (resume): {outcome.resumed_samples}")
    if log_targets:
        from .loggers import log_run

        for target, where in zip(log_targets, log_run(outcome.dir, log_targets, project=args.log_project,
                                                      log_dir=args.log_dir)):
            print(f"logged to {target}: {where}")
    print(outcome.dir)
    return 0


#: Optional packages and the extra that installs them (pyproject.toml).
EXTRA_OF_PACKAGE = {"torch": "hf", "transformers": "hf", "safetensors": "hf", "trl": "train", "peft": "train",
                    "accelerate": "train", "diffusers": "gen"}
EXTRA_OF_COMMAND = {"train-reward": "train", "dpo-vlm": "train", "dpo-diffusion": "gen", "generate": "gen",
                    "convert-llava": "hf", "demo": "hf"}


def missing_extra(args: argparse.Namespace, exc: ImportError) -> str | None:
    """One line naming the extra a command needs, when `exc` is a missing optional package (else None)."""
    package = (exc.name or "").split(".")[0]
    if package not in EXTRA_OF_PACKAGE:
        return None
    extra = EXTRA_OF_COMMAND.get(args.command, EXTRA_OF_PACKAGE[package])
    what = f"--model {args.model}" if args.command in ("run", "inspect") and getattr(args, "model", None) else \
        f"`harness {args.command}`"
    return (f"{what} needs the `{extra}` extra ({package} is not installed): "
            f'pip install "torch==2.13.0" -e ".[{extra}]" (docs/install.md)')


def _inspect(args: argparse.Namespace) -> int:
    import json

    from .groups import split_task_list
    from .inspect import inspect_inputs, write_text
    from .runner import RunOptions

    _require_selection(args)
    opts = RunOptions(tasks=split_task_list(args.tasks), model=args.model,
                      model_args=parse_model_args(args.model_args), protocol=args.protocol, data_dir=args.data_dir,
                      split=args.split, seed=args.seed, dataset_revision=args.dataset_revision)
    if args.limit < 1:
        raise UsageError("--limit must be a positive number of samples")
    for record in inspect_inputs(opts, limit=args.limit):
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
        else:
            write_text(record, sys.stdout)
    return 0


def _construct(args: argparse.Namespace) -> int:
    from alignment.construct import ConstructOptions, construct
    from alignment.policies import POLICIES

    from .cache import JudgmentCache
    from .registry import MODELS

    policy = POLICIES.get(args.policy).from_args(parse_model_args(args.policy_args, "--policy-args"), "--policy-args")
    reward = MODELS.get(args.reward).from_args(parse_model_args(args.reward_args, "--reward-args"), "--reward-args")
    cache = None if args.no_cache else JudgmentCache()
    try:
        report = construct(policy, reward, args.inputs, args.out,
                           ConstructOptions(n=args.n, seed=args.seed, on_unranked=args.on_unranked,
                                            orders=args.orders, require_margin=args.require_margin, chunk=args.chunk,
                                            limit=args.limit),
                           cache)
    finally:
        policy.close()
        reward.close()
        if cache is not None:
            cache.close()
    print(report.summary())
    print(report.out)
    return 0


def _list(args: argparse.Namespace) -> int:
    """`harness list`: every task, model and group; `harness list NAME...`: each task's details (a group
    stands for its tasks)."""
    import json

    from .groups import expand_tasks, load_groups

    if args.names:
        from .describe import describe_task, format_description

        infos = [describe_task(name) for name in expand_tasks(args.names)]
        if args.json:
            print(json.dumps({info["name"]: info for info in infos}, indent=2, ensure_ascii=False))
        else:
            print("\n\n".join(format_description(info) for info in infos))
        return 0
    if args.json:
        from .api import list_groups, list_models, list_tasks

        print(json.dumps({"tasks": list_tasks(), "models": list_models(), "groups": list_groups()}, indent=2,
                         ensure_ascii=False))
        return 0
    print("tasks:")
    for name in TASKS.names():
        task = TASKS.get(name)
        protocols = ", ".join(p + (" (default)" if p == task.default_protocol else "") for p in task.protocols)
        print(f"  {name:<22} protocols: {protocols}; splits: {', '.join(task.splits)}")
    print("models:")
    for name in MODELS.names():
        print(f"  {name:<22} {MODELS.summary(name)}")
    print("groups (usable in --tasks):")
    for group in load_groups().values():
        print(f"  {group.name:<22} {', '.join(group.tasks)}: {group.description}")
    return 0
