"""The run, top to bottom:

    validate names -> build the adapter -> open (or resume) the run directory
    for each task:  rows -> samples -> requests -> [media, cache, adapter] -> parse -> append to samples.jsonl,
                    one sample at a time (a bounded look-ahead for batching, nothing held per finished sample)
                    -> score the task's records as columns -> metrics + bootstrap CIs
    -> results.json (atomic)

`--resume` of a finished run (same invocation, same data) returns its results without building the judge
or reading a row; of an unfinished one, it skips recorded samples before building their requests.

Every failure of one sample becomes that sample's record (status `error` or `invalid`, with the stage
and reason) and the run goes on; `--strict` turns the first such record into `StrictFailure`.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Container, Iterator, Mapping, Sequence

from .adapters import Adapter
from .cache import JudgmentCache
from .distributed import Group, Shard, current_shard
from .errors import Interrupted, SampleError, StrictFailure, UsageError
from .finished import find_finished, finished_results, invocation_hash
from .judging import Exchange, JudgeClient
from .metrics import bootstrap_ci
from .progress import Progress, resolve_mode
from .records import Generation, Judgment, Request, Sample, canonical_json, sha256_text
from .registry import MODELS, TASKS
from .run_record import SCHEMA_VERSION, RunRecord, TaskRecord
from .store import RunStore, SampleLog
from .judgment_table import IdList, JudgmentTable
from .judged import MAX_SAMPLES, Judged, judged_scorings
from .task import SampleStream, Task, TaskConfig



@dataclass
class RunOptions:
    tasks: Sequence[str]
    model: str
    model_args: Mapping[str, str] = field(default_factory=dict)
    protocol: str | None = None
    data_dir: Path | None = None
    split: str | None = None
    #: the first N samples of each task, or (0 < limit < 1) that fraction of each, rounded up
    limit: int | float | None = None
    seed: int = 0
    output: Path = Path("runs")
    resume: bool = False
    use_cache: bool = True
    strict: bool = False
    cache_path: Path | None = None
    bootstrap_resamples: int = 1000
    #: "auto" (a bar on a terminal, log lines elsewhere), "bar", "log" or "none" (see harness.progress)
    progress: str | bool | None = "auto"
    #: print each failed or invalid sample as it is recorded
    verbose: bool = False
    #: The second model of two-stage tasks (e.g. a GPT judge grading a policy's video-QA answers);
    #: None: the task's own default judge.
    judge: str | None = None
    judge_args: Mapping[str, str] = field(default_factory=dict)
    #: Hub dataset revision for every task instead of its pinned one (None: the pin, or the branch head).
    dataset_revision: str | None = None
    #: "one": each pairwise item in the order its protocol decides; "both": also in the other order (each its own
    #: record `<id>::swapped`), with swap consistency and position bias reported (harness.reliability).
    orders: str = "one"
    #: judgments per item and order (`--samples K`): K > 1 samples the judge (a `temperature` above 0 in its
    #: arguments), each sample cached apart (its index is the request's `seed`), records `<id>::s<k>`.
    samples: int = 1

    @property
    def judged(self) -> Judged:
        return Judged(orders=2 if self.orders == "both" else 1, samples=self.samples)


@dataclass
class RunOutcome:
    dir: Path
    results: dict[str, Any]  # results.json as written ({} on data-parallel ranks other than 0)
    adapter_calls: int
    cache_hits: int
    resumed_samples: int
    record: RunRecord | None = None  # the same, typed


def resolve_tasks(opts: RunOptions, adapter_kind: str = "judge") -> list[tuple[Task, TaskConfig]]:
    if not opts.tasks:
        raise UsageError("--tasks is empty")
    if len(set(opts.tasks)) != len(opts.tasks):
        raise UsageError("--tasks names a task twice")
    if opts.limit is not None and not (opts.limit >= 1 and float(opts.limit).is_integer() or 0 < opts.limit < 1):
        raise UsageError(f"--limit {opts.limit}: a positive number of samples, or a fraction in (0, 1)")
    if not 0 <= opts.seed < 2 ** 32:
        raise UsageError(f"--seed {opts.seed}: must be an integer in 0 .. 2**32 - 1 (it seeds numpy's bootstrap)")
    data_dir = Path(opts.data_dir) if opts.data_dir else None
    if data_dir is not None and not data_dir.is_dir():
        raise UsageError(f"--data-dir {data_dir} does not exist or is not a directory")
    if opts.orders not in ("one", "both"):
        raise UsageError(f"--orders {opts.orders!r}: one or both")
    resolved = []
    for name in opts.tasks:
        task = TASKS.get(name)()
        resolved.append((task, task.config(opts.protocol, opts.seed, opts.split, data_dir,
                                           scorer=adapter_kind == "scorer", revision=opts.dataset_revision)))
    if not (isinstance(opts.samples, int) and 1 <= opts.samples <= MAX_SAMPLES):
        raise UsageError(f"--samples {opts.samples}: a whole number of judgments per item, 1 to {MAX_SAMPLES}")
    if opts.orders == "both" or opts.samples > 1:
        what = "--orders both" if opts.orders == "both" else f"--samples {opts.samples}"
        unable = [t.name for t, c in resolved if not t.both_orders or c.scorer]
        if unable:
            raise UsageError(f"{what}: {', '.join(unable)} cannot be judged in both orders or sampled (a scalar "
                             f"scorer has neither; a pointwise task has no verdict to vote on); the tasks that can: "
                             f"{', '.join(n for n in TASKS.names() if TASKS.get(n).both_orders)}")
        refused = [f"{t.name} ({why})" for t, c in resolved if (why := t.both_orders_refusal(c)) is not None]
        if refused:
            raise UsageError(f"{what}: {'; '.join(refused)}")
    return resolved


def check_sampling(opts: RunOptions, adapter: Adapter | None) -> None:
    """--samples K > 1 asks a judge K times: pointless (K identical answers, K times the cost) when it decodes
    greedily, which every protocol does; refused before the work, from the model arguments or the adapter."""
    if opts.samples == 1:
        return
    if adapter is None:
        raw = dict(opts.model_args).get("temperature")
        try:
            sampled = raw is not None and float(raw) > 0
        except ValueError:
            sampled = False
    else:
        sampled = adapter.generation_for(Generation()).temperature > 0
    if not sampled:
        raise UsageError(f"--samples {opts.samples}: the judge decodes greedily (the protocols' temperature is 0), so "
                         f"its {opts.samples} samples would be one answer repeated; give it a temperature, e.g. "
                         f"--model-args ...,temperature=0.7")


def check_locations(opts: RunOptions) -> None:
    """--output and the cache must be directories this process can write, checked before any work."""
    from .cache import default_cache_path

    places = [(Path(opts.output), "--output")]
    if opts.use_cache:
        places.append((Path(opts.cache_path or default_cache_path()).parent, "the cache directory (--cache-path, "
                                                                             "$HARNESS_CACHE_DIR)"))
    for path, what in places:
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise UsageError(f"{what} {path}: {existing} is a file, not a directory")
        if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
            raise UsageError(f"{what} {path}: {existing} is not writable by this user; choose another location")


@dataclass
class TaskInput:
    """One task's samples for this run, read as they are judged: opened (a missing file or unreachable hub
    reported) before any model is loaded, read once."""

    stream: SampleStream
    #: how many samples to read (None: all)
    limit: int | None
    #: how many rows will be read, when known before reading them (for progress)
    expected: int | None

    def entries(self, skip: Container[str] = ()) -> Iterator[tuple[str, Sample | None]]:
        """(id, sample) in dataset order; (id, None) for an id in `skip` (see `SampleStream.entries`)."""
        return self.stream.entries(self.limit, skip)


def open_inputs(resolved: Sequence[tuple[Task, TaskConfig]], limit: int | float | None) -> list[TaskInput]:
    """Every task's data opened before any model is loaded or judged, so a missing file of the last task
    fails the run before the first task costs a judge call. An integer `--limit` reads only the rows it
    takes; a fraction counts the rows first (the line count of a JSONL file, else a pass over them)."""
    out = []
    for task, cfg in resolved:
        stream = task.stream(cfg)
        hint = stream.rows.count_hint()
        n: int | None = None
        if limit is not None:
            n = math.ceil(stream.rows.count() * limit) if limit < 1 else int(limit)
        expected = n if hint is None else hint if n is None else min(n, hint)
        out.append(TaskInput(stream, n, expected))
    return out


def build_adapter(opts: RunOptions, adapter: Adapter | None = None) -> Adapter:
    if adapter is not None:
        return adapter
    return MODELS.get(opts.model).from_args(dict(opts.model_args))


class _StopOnInterrupt:
    """Ctrl-C during a run: the first asks the run to stop after the record in progress (records are whole
    lines, the adapter is closed, the run can be resumed); a second exits at once. Only in the main thread
    (signal handlers cannot be installed elsewhere); the previous handler is restored afterwards."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> "_StopOnInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            os._exit(130)  # the second Ctrl-C: now
        self.requested = True
        print("\nharness: Ctrl-C: stopping after the record in progress (press it again to quit at once)",
              file=sys.stderr, flush=True)

    def check(self, run_dir: Path) -> None:
        if self.requested:
            raise Interrupted(run_dir)

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def run(opts: RunOptions, adapter: Adapter | None = None) -> RunOutcome:
    """Run `opts`. `adapter` may be passed in-process (tests, notebooks) instead of built by name."""
    with _StopOnInterrupt() as stop:
        return _run(opts, adapter, stop)


def _run(opts: RunOptions, adapter: Adapter | None, stop: _StopOnInterrupt) -> RunOutcome:
    # Names and protocols are checked before the (possibly heavy) adapter is built.
    resolved = resolve_tasks(opts, adapter.kind if adapter is not None else MODELS.get(opts.model).kind)
    if adapter is None:
        MODELS.get(opts.model).check_args(dict(opts.model_args))
    check_sampling(opts, adapter)
    judge_spec = _judge_spec(opts, resolved)
    if judge_spec is not None:
        MODELS.get(judge_spec[0]).check_args(judge_spec[1], "--judge-args")
    check_locations(opts)
    inputs = open_inputs(resolved, opts.limit)  # the data before the weights
    invoked = invocation_hash(opts, resolved)
    if opts.resume and adapter is None:  # a finished run of this command: its results, the judge never built
        finished = find_finished(Path(opts.output), invoked, resolved, inputs)
        if finished is not None:
            return _already_finished(*finished)
    if adapter is None:  # checked from its arguments above; now from what was built of them
        adapter = build_adapter(opts)
        check_sampling(opts, adapter)
    resolved = [(t, t.for_family(c, adapter.family())) for t, c in resolved]
    config = {
        "tasks": {t.name: {"protocol": c.protocol, "split": c.split, **({"revision": c.revision} if c.revision else {})}
                  for t, c in resolved},
        "model": {"name": adapter.name, "args": adapter.describe()["args"]},
        "data_dir": str(Path(opts.data_dir).resolve()) if opts.data_dir else None,
        "limit": opts.limit,
        "seed": opts.seed,
        **({"orders": "both"} if opts.orders == "both" else {}),  # one order: the hash of runs before --orders
        **({"samples": opts.samples} if opts.samples != 1 else {}),
    }
    judge = _build_judge(opts, resolved)
    if judge is not None:
        config["judge"] = {"name": judge.name, "args": judge.describe()["args"]}
    config_hash = sha256_text(canonical_json(config))
    shard = current_shard()
    group = Group(shard)
    store = _open_store(opts, config, config_hash, invoked, adapter.name, shard, group)
    cache: JudgmentCache | None = None
    try:
        header = store.header()
        results = finished_results(store.dir, resolved, inputs) if opts.resume else None
        if results is not None:  # the same run, finished: nothing to judge or score again
            return _already_finished(store.dir, results if shard.is_main else {})
        cache = JudgmentCache(opts.cache_path) if opts.use_cache else None
        client = JudgeClient(adapter, cache)
        judge_client = JudgeClient(judge, cache) if judge is not None else None
        task_results: dict[str, TaskRecord] = {}
        resumed = 0
        for (task, cfg), data in zip(resolved, inputs):
            log = store.sample_log(task.name, shard.rank)
            try:
                done = log.finished()
                for other in [store.sample_log(task.name)] + store.shard_logs(task.name):
                    if other.path != log.path:  # finished by another process of an earlier launch
                        done |= other.finished(repair=False)
                resumed += len(done)
                wanted = _judge_task(task, cfg, data, done, log, client, opts, shard,
                                     judge_client if getattr(task, "needs_judge", False) else None,
                                     lambda: stop.check(store.dir))
            finally:
                log.close()
            del done
            group.barrier()
            if shard.is_main:
                store.merge_shards(task.name)
                task_results[task.name] = score_task(task, cfg, data.stream.info().as_dict(), wanted, store, opts)
                if judge is not None and getattr(task, "needs_judge", False):
                    task_results[task.name] = replace(task_results[task.name], judge=judge.describe())
        if not shard.is_main:  # rank 0 scores and writes results.json for the whole run
            return RunOutcome(store.dir, {}, client.stats.sent, client.stats.cache_hits, resumed)

        record = RunRecord.new(run_id=store.run_id, started=header.get("started"), model=adapter.describe(),
                               seed=opts.seed, limit=opts.limit, config_hash=config_hash, tasks=task_results)
        results = store.write_results(record)
    finally:
        adapter.close()
        if judge is not None:
            judge.close()
        if cache is not None:
            cache.close()
        if shard.is_main:
            store.unlock()
    return RunOutcome(store.dir, results, client.stats.sent, client.stats.cache_hits, resumed, record)


def _judge_spec(opts: RunOptions, resolved: Sequence[tuple[Task, TaskConfig]]) -> tuple[str, dict[str, str]] | None:
    """(name, args) of the second-stage judge of two-stage tasks: --judge/--judge-args, else the task's pinned
    default; None when no task needs one."""
    needing = [t for t, _ in resolved if getattr(t, "needs_judge", False)]
    if not needing:
        if opts.judge:
            raise UsageError(f"--judge is only for two-stage tasks; {', '.join(t.name for t, _ in resolved)} "
                             f"take none")
        return None
    if opts.judge:
        return opts.judge, dict(opts.judge_args)
    name, args = needing[0].default_judge
    return name, {**args, **dict(opts.judge_args)}


def _build_judge(opts: RunOptions, resolved: Sequence[tuple[Task, TaskConfig]]) -> Adapter | None:
    spec = _judge_spec(opts, resolved)
    return MODELS.get(spec[0]).from_args(spec[1], "--judge-args") if spec else None


def _already_finished(run_dir: Path, results: dict[str, Any]) -> RunOutcome:
    print(f"harness: --resume: {run_dir.name} has finished; its results stand (nothing judged)", file=sys.stderr)
    record = RunRecord.from_json(results, str(run_dir / "results.json")) if results else None
    resumed = sum(int(t.get("counts", {}).get("n", 0)) for t in results.get("tasks", {}).values()) if results else 0
    return RunOutcome(run_dir, results, 0, 0, resumed, record)


def _open_store(opts: RunOptions, config: Mapping[str, Any], config_hash: str, invoked: str, model_name: str,
                shard: Shard, group: Group) -> RunStore:
    """Rank 0 finds (--resume) or creates the run directory and locks it; other ranks are told where."""
    found: str | Exception
    if shard.is_main:
        try:
            store = _resumed_or_new_store(opts, config, config_hash, invoked, model_name)
            store.lock()
            found = str(store.dir)
        except Exception as exc:  # tell the other ranks instead of leaving them waiting
            found = exc
        group.broadcast(found)
        if isinstance(found, Exception):
            raise found
        return store
    found = group.broadcast(None)
    if isinstance(found, Exception):
        raise found
    return RunStore(Path(found))


def _resumed_or_new_store(opts: RunOptions, config: Mapping[str, Any], config_hash: str, invoked: str,
                          model_name: str) -> RunStore:
    """The run of this configuration to resume (--resume), else a new run directory."""
    store = RunStore.find_resumable(Path(opts.output), config_hash) if opts.resume else None
    if store is not None:
        return store
    if opts.resume:
        _no_run_to_resume(Path(opts.output), config)
    header = {"schema_version": SCHEMA_VERSION, "config": config, "config_hash": config_hash,
              "invocation_hash": invoked, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return RunStore.create(Path(opts.output), header, model_name)


def _no_run_to_resume(output: Path, config: Mapping[str, Any]) -> None:
    """`--resume` found no run of this configuration: a usage error naming the closest run and what differs,
    so a changed setting never silently starts over under the impression of resuming. An output directory
    that holds no run at all starts one (nothing to mistake), said on stderr."""
    closest = RunStore.closest(output, config)
    if closest is None:
        print(f"harness: --resume: no run in {output} yet; starting a new one", file=sys.stderr)
        return
    directory, diffs = closest
    raise UsageError(f"--resume: no run in {output} has this configuration; the closest, {directory.name}, differs "
                     f"in {len(diffs)} field(s): " + "; ".join(diffs[:8]) + (" ..." if len(diffs) > 8 else "")
                     + ". Use the same settings to resume it, or drop --resume to start a new run.")


def _judge_task(task: Task, cfg: TaskConfig, data: TaskInput, done: set[str], log: SampleLog,
                client: JudgeClient, opts: RunOptions, shard: Shard, judge: JudgeClient | None = None,
                checkpoint: Callable[[], None] = lambda: None) -> IdList:
    """Judge every unfinished sample of `data` as it is read, and return the ids of every sample read, in
    dataset order (what is scored). A sample is held from its first request until its record is written;
    recorded ones (`done`) and other processes' shares are passed over without building requests.
    Two-stage tasks (`task.needs_judge`) then send the model's replies to `judge` through
    `task.judge_requests`, and a sample is finished when its judge replies are in."""
    wanted = IdList()  # every id read, packed (a task's ids are kept until it is scored)
    pending: dict[str, tuple[Sample, TaskConfig]] = {}  # sample id -> sample and config, until its record is written
    # Each item's judgments: (swapped, sample index) for every order and sample asked; (False, 0) is today's one.
    judged = opts.judged
    variants = judged.variants()
    expected: dict[str, int] = {}  # sample id -> requests still to come back
    position: dict[str, int] = {}  # request key -> its place among its sample's requests
    total = None if data.expected is None else max(0, len(variants) * data.expected - len(done))
    bar = Progress(resolve_mode(opts.progress) if shard.is_main else "none", total,
                   f"{task.name} [{cfg.protocol}]", verbose=opts.verbose and shard.is_main)

    def record(judgment: Judgment) -> None:
        _record(log, judgment, opts)
        bar.update(judgment)
        checkpoint()  # Ctrl-C: stop here, after a whole record

    def add(sample_id: str, reqs: Sequence[Request], out: list[Request] | None = None) -> None:
        expected[sample_id] = expected.get(sample_id, 0) + len(reqs)
        for r in reqs:
            position[r.key] = len(position)
        if out is not None:
            out.extend(reqs)

    def finish(sample_id: str, exchanges: list[Exchange]) -> None:
        sample, sample_cfg = pending.pop(sample_id)
        del expected[sample_id]
        order = {e.request.key: position.pop(e.request.key) for e in exchanges}
        record(_finish(task, sample_cfg, sample, exchanges, order))

    def model_requests() -> Iterator[Request]:
        """Built as the judge asks for them, so the first judgment starts at once and no list of every
        request is held; a sample that cannot be asked is recorded on the way."""
        skip = judged.finished_items(done)
        for pos, (row_id, item) in enumerate(data.entries(skip)):
            for (flip, k), rid in zip(variants, judged.record_ids(row_id if item is None else item.id)):
                wanted.append(rid)
                if item is None or rid in done or not shard.owns(pos):
                    continue
                sample = item if rid == item.id else replace(item, id=rid)
                sample_cfg = replace(cfg, flip_order=True) if flip else cfg
                try:
                    if sample.problem is not None:
                        raise SampleError(sample.problem, stage="load")
                    # The other order is the same item asked with its order decision inverted (decided from the
                    # item's own id), a later sample the same requests seeded with their index: both renamed
                    # into their own record.
                    asked = task.requests(item, sample_cfg)
                    if not judged.single:
                        asked = [_variant(r, rid[len(item.id):], sample.id, k, opts.samples) for r in asked]
                except SampleError as exc:
                    record(Judgment(sample.id, "error", reason=exc.reason, stage=exc.stage))
                    continue
                if not asked:  # the protocol does not ask the judge about this sample (e.g. a skipped tie)
                    record(_finish(task, sample_cfg, sample, [], {}))
                    continue
                pending[sample.id] = (sample, sample_cfg)
                add(sample.id, asked)
                yield from asked

    try:
        collected: dict[str, list[Exchange]] = {}
        judge_requests: list[Request] = []
        for exchange in client.judge(model_requests()):
            sid = exchange.request.sample_id
            collected.setdefault(sid, []).append(exchange)
            if len(collected[sid]) < expected[sid]:
                continue
            if judge is None or any(not e.reply.ok for e in collected[sid]):
                finish(sid, collected.pop(sid))
                continue
            try:
                add(sid, task.judge_requests(pending[sid][0], [(e.request, e.reply) for e in collected[sid]],
                                             pending[sid][1]), judge_requests)
            except SampleError as exc:
                exchanges = collected.pop(sid)
                pending.pop(sid)
                del expected[sid]
                for e in exchanges:
                    position.pop(e.request.key, None)
                record(Judgment(sid, "error", reason=exc.reason, stage="judge"))
        for exchange in judge.judge(judge_requests) if judge is not None and judge_requests else ():
            sid = exchange.request.sample_id
            collected[sid].append(exchange)
            if len(collected[sid]) == expected[sid]:
                finish(sid, collected.pop(sid))
    finally:
        bar.close()
    return wanted


def _variant(request: Request, suffix: str, record: str, k: int, samples: int) -> Request:
    """`request` as asked for another order or sample of its item: its own key and record, and with K samples
    its sample index as the generation seed (so each sample is cached apart)."""
    generation = replace(request.generation, seed=k) if samples > 1 else request.generation
    return replace(request, key=request.key + suffix, sample_id=record, generation=generation)


def _finish(task: Task, cfg: TaskConfig, sample: Sample, exchanges: list[Exchange],
            position: Mapping[str, int]) -> Judgment:
    exchanges.sort(key=lambda e: position[e.request.key])  # replies may arrive in any order: request order
    replies = tuple({"key": e.request.key, **e.reply.as_dict()} for e in exchanges)
    prompt_hash = None if not exchanges else exchanges[0].prompt_hash if len(exchanges) == 1 else (
        sha256_text("".join(e.prompt_hash or "" for e in exchanges)))
    failed = next((e for e in exchanges if not e.reply.ok), None)
    if failed is not None:
        stage = "media" if failed.prompt_hash is None else failed.request.meta.get("stage", "adapter")
        return Judgment(sample.id, "error", reason=failed.reply.error, stage=stage, prompt_hash=prompt_hash,
                        replies=replies)
    try:
        parsed = task.parse(sample, [(e.request, e.reply) for e in exchanges], cfg)
    except SampleError as exc:
        return Judgment(sample.id, "error", reason=exc.reason, stage="parse", prompt_hash=prompt_hash,
                        replies=replies)
    return Judgment(sample.id, parsed.status, outcome=parsed.outcome, reason=parsed.reason,
                    stage="parse" if parsed.status != "ok" else None, prompt_hash=prompt_hash, replies=replies)


def _record(log: SampleLog, judgment: Judgment, opts: RunOptions) -> None:
    log.append(judgment)
    if opts.strict and judgment.status != "ok":
        raise StrictFailure(f"sample {judgment.sample_id!r} failed at {judgment.stage or 'parse'}: "
                            f"{judgment.reason} (--strict)")


def score_task(task: Task, cfg: TaskConfig, info: Mapping[str, Any], wanted: Sequence[str], store: RunStore,
               opts: RunOptions) -> TaskRecord:
    """Score the records of `wanted` (dataset order), read from the task's samples file as columns: the task's
    results.json entry (also how `harness ensemble` scores the run it writes)."""
    judgments = JudgmentTable.read(store.dir / f"{task.name}.samples.jsonl", wanted)
    # More than one judgment per item: every judgment scored, the bootstrap resampling items, not judgments.
    scoring, reliability = judged_scorings(task, cfg, judgments, opts.judged)
    details = dict(scoring.details)
    metrics = scoring.point()
    ci = bootstrap_ci(scoring.compute, scoring.n, resamples=opts.bootstrap_resamples, seed=opts.seed,
                      compute_many=scoring.compute_many)
    deviations = tuple(task.protocols[cfg.protocol].deviations)
    if reliability is not None:
        metrics.update(reliability.point())
        ci.update(bootstrap_ci(reliability.compute, reliability.n, resamples=opts.bootstrap_resamples,
                               seed=opts.seed, compute_many=reliability.compute_many))
        details["reliability"] = dict(reliability.details)
        extra = task.both_orders_deviation(cfg) if opts.orders == "both" else None
        deviations += (extra,) if extra else ()
    spec = task.protocols[cfg.protocol]
    return TaskRecord(
        protocol=cfg.protocol, protocol_version=spec.version, protocol_deviations=deviations,
        task_version=task.version, split=cfg.split, dataset=dict(info),
        metrics={k: _finite_or_none(v) for k, v in metrics.items()},
        ci95={k: [lo, hi] for k, (lo, hi) in ci.items()},
        counts=judgments.counts(), errors=judgments.error_summary(), error_examples=judgments.error_examples(),
        details=details, prompts_digest=judgments.prompts_digest(), judged=opts.judged.as_json(),
        protocol_requested=cfg.requested_protocol or None,
        protocol_chosen_for=f"{cfg.family} judge family" if cfg.requested_protocol else None)


def _finite_or_none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
