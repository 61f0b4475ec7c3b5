"""Conformance suite (lm-eval's tests/test_tasks.py idea): every registered task and every registered model
passes the same checks, so a new one cannot skip them.

Tasks (`TASKS.names()`, one case each): the task loads a small generated `--data-dir` in its real layout
(tests/fixtures_conformance/data.py), builds requests for every protocol (scalar-scorer protocols with
`scorer=True`), parses a right, a wrong and an unparseable canned reply written in that task's verdict
grammar (status ok / ok / invalid, the outcome right / wrong), builds the judge's requests from a canned
policy answer when it is two-stage, scores the judgments under the metric names `harness list TASK --json`
reports, and writes its records to a samples.jsonl and reads them back equal.
Special paths: `vbench` has no data directory and its scores come from the `vbench-results` adapter over a
generated results directory; the lmms-eval plugin aliases (`ur_*`) read their base task's layout.

Models (`MODELS.names()`, one case each): the adapter builds from its documented `--model-args` (through
`from_args`, the CLI's path) on a local stand-in, `describe()` is JSON with no secret in clear, `close()`
can be called twice; and a documented misuse fails with its one-line `UsageError`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pytest

from harness.adapters import SECRET_NAMES, Adapter
from harness.api import describe_task
from harness.errors import UsageError
from harness.records import Judgment, PreparedRequest, Reply, Request, Sample, prompt_fingerprint
from harness.registry import MODELS, TASKS
from harness.store import SampleLog, json_safe, read_samples
from harness.task import Task, TaskConfig
from tests.fixtures_conformance.data import BUILDERS

UNPARSEABLE = "I cannot tell."
POLICY_ANSWER = "A dog runs across the grass."
#: Tasks whose every protocol is for scalar scorers (a generative judge is refused with a UsageError).
SCORER_ONLY = {"partiprompts_gen", "hpsv2_prompts_gen", "vbench"}


# ---- verdict grammars: a right and a wrong reply, and how to tell them apart in the outcome --------------

@dataclass(frozen=True)
class Grammar:
    """`reply(task, sample, request, cfg, right)` writes a reply in the task's verdict grammar;
    `judged_right(outcome)` reads whether the parsed outcome agrees with the label (None: no such notion)."""

    reply: Callable[[Task, Sample, Request, TaskConfig, bool], str]
    judged_right: Callable[[Mapping[str, Any]], bool | None]


def _correct(outcome: Mapping[str, Any]) -> bool | None:
    return bool(outcome["correct"]) if "correct" in outcome else None


def answer_n(task: Task, sample: Sample, request: Request, cfg: TaskConfig, right: bool) -> str:
    """"Answer N is better" tasks: `meta["gold"]` is where the better response is shown."""
    gold = request.meta["gold"]
    return f"Overall Judgment: Answer {gold if right else 3 - gold} is better."


ARENA = {"leftvote": "[[A>B]]", "rightvote": "[[B>A]]", "tievote": "[[A=B=Good]]", "bothbad_vote": "[[A=B=Bad]]"}


def three_way(task: Task, sample: Sample, request: Request, cfg: TaskConfig, right: bool) -> str:
    """GenAI-Bench / VideoGen-RewardBench: the label as shown (h, or -h when swapped), written in the
    protocol's phrases: `[[A>B]]` votes for genai-arena, else the paper's conclusion sentences."""
    if cfg.protocol == "genai-arena":
        vote = sample.data["vote_type"]
        return ARENA[vote] if right else ARENA["rightvote" if vote == "leftvote" else "leftvote"]
    spec = getattr(task, "spec", None)
    noun = spec.noun if spec is not None else "video"
    h = sample.data["h"]
    shown = -h if request.meta["swapped"] else h
    verdict = shown if right else (-shown if shown else 1)
    title = noun.title()
    return {1: f"{title} 1 is better than {title} 2.", -1: f"{title} 2 is better than {title} 1.",
            0: f"Both {noun}s are equally good."}[verdict]


def mmhal_rating(task: Task, sample: Sample, request: Request, cfg: TaskConfig, right: bool) -> str:
    return "The answer is accurate. Rating: 6" if right else "The answer hallucinates. Rating: 1"


def video_qa_judge(task: Task, sample: Sample, request: Request, cfg: TaskConfig, right: bool) -> str:
    return "{'pred': 'yes', 'score': 5}" if right else "{'pred': 'no', 'score': 1}"


def _not_hallucinated(outcome: Mapping[str, Any]) -> bool:
    return not outcome["hallucination"]


def mmrb_verdict(task: Task, sample: Sample, request: Request, cfg: TaskConfig, right: bool) -> str:
    """Multimodal RewardBench: `meta["gold"]` is the letter the better response is shown as; the final-verdict
    token its judge prompt asks for."""
    gold = request.meta["gold"]
    letter = gold if right else {"A": "B", "B": "A"}[gold]
    return f"Assistant {letter} follows the question better.\n\nFinal verdict: [[{letter}]]"


def mmrb2_verdict(task: Task, sample: Sample, request: Request, cfg: TaskConfig, right: bool) -> str:
    """MMRB2's JSON verdict: `meta["gold"]` is the letter the preferred response is shown as in this request's
    order (forward or reverse)."""
    gold = request.meta["gold"]
    return json.dumps({"reasoning": "Compared both responses.",
                       "better_response": gold if right else {"A": "B", "B": "A"}[gold]})


def _mmrb2_right(outcome: Mapping[str, Any]) -> bool:
    """Right when both orders named the preferred response (a canned reply is right or wrong in both)."""
    return bool(outcome["forward"]["correct"] and outcome["reverse"]["correct"])


def multi_crit_reply(task: Task, sample: Sample, request: Request, cfg: TaskConfig, right: bool) -> str:
    """The reference's final line, "Response N is better.", naming where the preferred response (or the other)
    is shown; `meta["swapped"]`: pred_b shown first (protocol strict)."""
    prefers_a = (sample.data["preference"].strip().lower() == "model_a") == right
    shown = 1 if prefers_a != request.meta["swapped"] else 2
    return f"The first response grounds its claims.\nResponse {shown} is better."


def _edited_image(request: Request, right: bool) -> str:
    """UnifiedReward-Edit's pairwise rank: meta["gold"] is where the better edit is shown (0: a human tie)."""
    gold = request.meta["gold"]
    if gold == 0:
        return "Both images are equally good." if right else "Edited image 1 is better."
    return f"Edited image {gold if right else 3 - gold} is better."


def editreward_tiger_reply(task: Task, sample: Sample, request: Request, cfg: TaskConfig, right: bool) -> str:
    """`official`: K=2 the [[A>B]] / [[B>A]] / [[A=B]] label; K=3/4 [[Left>Right]] when candidate_1 (left) is
    the better one (h = 1). `unifiedreward`: "Edited image N is better" / "equally good"."""
    if cfg.protocol == "unifiedreward":
        return _edited_image(request, right)
    d = sample.data
    if d["k"] == 2:
        ranking = d["ranking"]
        return f"[[{ranking}]]" if right else ("[[A>B]]" if ranking != "A>B" else "[[B>A]]")
    left = (d["h"] == 1) == right
    return "Final verdict: [[Left>Right]]" if left else "Final verdict: [[Right>Left]]"


def editreward_editscore_reply(task: Task, sample: Sample, request: Request, cfg: TaskConfig, right: bool) -> str:
    """`editscore`: EditScore's JSON, the first candidate (A, the human-preferred one) scored high when right
    (every dimension follows); `unifiedreward`: as for TIGER."""
    if cfg.protocol == "unifiedreward":
        return _edited_image(request, right)
    high = (request.meta["candidate"] == "A") == right
    return '{"reasoning": "...", "score": [%d, %d]}' % ((20, 20) if high else (5, 5))


RATING_WORDS = {1.0: "Bad", 2.0: "Normal", 3.0: "Good"}


def reward_points_reply(task: Any, sample: Any, request: Any, cfg: Any, right: bool) -> str:
    """The record's own answer form (`sample.data["reference"]`, the parsed reference): right restates the reference
    scores, wrong moves the overall score (another rating word for LiFT-HRA)."""
    ref = sample.data["reference"]
    if ref.form == "rating":
        value = ref.overall if right else (3.0 if ref.overall == 1.0 else 1.0)
        return f"{RATING_WORDS[value]}. The paws look natural."
    lines = [f"{name}: {value}" for name, value in ref.elements.items()]
    lines += [f"{name}: {value:g}" for name, value in ref.dimensions.items()]
    return "\n".join([*lines, f"Final Score: {ref.overall if right else ref.overall + 1:g}"])


def reward_points_right(outcome: Mapping[str, Any]) -> bool:
    return outcome["judge"] == outcome["reference"] and outcome.get("judge_dims") == outcome.get("reference_dims")


ANSWER_N = Grammar(answer_n, _correct)
THREE_WAY = Grammar(three_way, _correct)
GRAMMARS: dict[str, Grammar] = {
    "vlrewardbench": ANSWER_N, "ur_vlrewardbench": ANSWER_N, "sharegptvideo_pairs": ANSWER_N,
    "genai_bench_image": THREE_WAY, "ur_genai_bench_image": THREE_WAY, "genai_bench_video": THREE_WAY,
    "genai_bench_edit": THREE_WAY, "videogen_rewardbench": THREE_WAY,
    "mmhal_bench": Grammar(mmhal_rating, _not_hallucinated),
    **{name: Grammar(video_qa_judge, lambda o: o["verdict"] == "yes") for name in ("msrvtt_qa", "msvd_qa", "tgif_qa")},
    "multimodal_rewardbench": Grammar(mmrb_verdict, _correct), "mmrb2": Grammar(mmrb2_verdict, _mmrb2_right),
    "videorewardbench": ANSWER_N, "multi_crit": Grammar(multi_crit_reply, _correct),
    "editreward_bench_tiger": Grammar(editreward_tiger_reply, _correct),
    "editreward_bench_editscore": Grammar(editreward_editscore_reply, _correct),
    "reward_points": Grammar(reward_points_reply, reward_points_right),
}


def scorer_score(sample: Sample, request: Request, right: bool) -> float:
    """A pair's candidate scores that agree (or not) with the human label h; a single candidate (generated
    images) gets a plausible cosine."""
    h = sample.data.get("h")
    if h is None:
        return 0.3 if right else 0.1
    high = request.meta["candidate"] == ("A" if h >= 0 else "B")
    return 0.5 if h == 0 else (0.9 if high == right else 0.1)


def _margin_right(outcome: Mapping[str, Any]) -> bool | None:
    if "margin" not in outcome or outcome["h"] == 0:
        return None
    return (outcome["margin"] > 0) == (outcome["h"] > 0)


# ---- one task, end to end without a runner ---------------------------------------------------------------

def vbench_results(directory: Path) -> Path:
    """VBench's evaluation_results/ for all 16 dimensions (`{dimension: [score, per-video]}`)."""
    from tasks.vbench import VBENCH_DIMENSIONS

    directory.mkdir(parents=True)
    scores = {d: [round(0.4 + 0.03 * i, 4), [{"video_path": "v.mp4", "video_results": 0.5}]]
              for i, d in enumerate(VBENCH_DIMENSIONS)}
    (directory / "t2v_eval_results.json").write_text(json.dumps(scores), encoding="utf-8")
    return directory


class Replier:
    """Canned replies for one task: text for generative protocols (from its grammar), scores for scorer
    protocols (vbench's from the real `vbench-results` adapter)."""

    def __init__(self, name: str, task: Task, tmp: Path):
        self.name, self.task = name, task
        self.grammar = GRAMMARS.get(name)
        self.vbench: Adapter | None = None
        if name == "vbench":
            self.vbench = MODELS.get("vbench-results").from_args({"path": str(vbench_results(tmp / "vbench"))})

    def reply(self, sample: Sample, request: Request, cfg: TaskConfig, kind: str) -> Reply:
        if cfg.scorer:
            if kind == "invalid":
                return Reply(request.key, score=math.nan)
            if self.vbench is not None:
                return next(iter(self.vbench.generate([PreparedRequest(request, (), "conformance")])))
            return Reply(request.key, score=scorer_score(sample, request, kind == "right"))
        if kind == "invalid":
            return Reply(request.key, text=UNPARSEABLE)
        assert self.grammar is not None
        return Reply(request.key, text=self.grammar.reply(self.task, sample, request, cfg, kind == "right"))

    def judged_right(self, outcome: Mapping[str, Any], cfg: TaskConfig) -> bool | None:
        if cfg.scorer:
            return _margin_right(outcome)
        assert self.grammar is not None
        return self.grammar.judged_right(outcome)


def config_for(name: str, task: Task, protocol: str, data_dir: Path | None) -> TaskConfig:
    scorer = name in SCORER_ONLY or protocol == task.scorer_protocol
    return task.config(protocol, seed=0, split=None, data_dir=data_dir, scorer=scorer)


def exchanges_for(task: Task, sample: Sample, requests: Sequence[Request], cfg: TaskConfig, replier: Replier,
                  kind: str) -> list[tuple[Request, Reply]]:
    """What `parse` receives: the model's exchanges, then (two-stage tasks) the judge's on a canned answer."""
    if not task.needs_judge:
        return [(r, replier.reply(sample, r, cfg, kind)) for r in requests]
    policy = [(r, Reply(r.key, text=POLICY_ANSWER)) for r in requests]
    judge_requests = task.judge_requests(sample, policy, cfg)
    assert judge_requests, f"{task.name}: no judge request for sample {sample.id}"
    keys = {r.key for r in requests}
    for jr in judge_requests:
        assert jr.meta.get("stage") == "judge" and jr.sample_id == sample.id and jr.key not in keys, jr
        assert POLICY_ANSWER in jr.text, f"{task.name}: the judge prompt does not hold the policy's answer"
    return policy + [(r, replier.reply(sample, r, cfg, kind)) for r in judge_requests]


def judgment(sample: Sample, exchanges: Sequence[tuple[Request, Reply]], status: str,
             outcome: Mapping[str, Any], reason: str | None) -> Judgment:
    """The record the runner writes for a parsed sample (harness.runner._finish)."""
    replies = tuple({"key": req.key, **reply.as_dict()} for req, reply in exchanges)
    prompt_hash = prompt_fingerprint(exchanges[0][0].parts, None) if exchanges else None
    return Judgment(sample.id, status, outcome=outcome, reason=reason,  # type: ignore[arg-type]
                    stage="parse" if status != "ok" else None, prompt_hash=prompt_hash, replies=replies)


def described_metrics_match(name: str, protocol: str, reported: Sequence[str]) -> None:
    """The metrics scored equal those `harness list NAME --json` reports; names that depend on the data (a data
    card's `metrics_note`, e.g. `score/<type>`) may be added, only under the prefixes the note names."""
    info = describe_task(name)
    described = info["protocols"][protocol]["metrics"]
    assert described is not None, f"{name}/{protocol}: `harness list` cannot name the metrics"
    extra = [m for m in reported if m not in described]
    assert [m for m in reported if m in described] == described, (name, protocol, reported, described)
    prefixes = re.findall(r"(\w+/)<\w+>", info["metrics_note"] or "")
    undocumented = [m for m in extra if not m.startswith(tuple(prefixes))] if prefixes else extra
    assert not undocumented, f"{name}/{protocol}: metrics {undocumented} not reported by `harness list`"


def round_trip(path: Path, judgments: Sequence[Judgment]) -> None:
    """Judgment -> samples.jsonl line -> read back equal (NaN is written as null: strict JSON)."""
    log = SampleLog(path)
    for j in judgments:
        log.append(j)
    log.close()
    read = list(read_samples(path))
    assert [r.as_dict() for r in read] == [json_safe(j.as_dict()) for j in judgments]
    # Records already plain JSON come back as the very same Judgment; a resume reads the same records.
    assert [r for r, j in zip(read, judgments) if json_safe(j.as_dict()) == j.as_dict()] == \
        [j for j in judgments if json_safe(j.as_dict()) == j.as_dict()]
    assert list(SampleLog(path).load(retry_errors=False, repair=False).values()) == read


def test_every_task_has_a_fixture_builder_and_a_verdict_grammar():
    names = TASKS.names()
    missing = [n for n in names if n not in BUILDERS]
    assert not missing, f"tasks without a conformance fixture builder (tests/fixtures_conformance/data.py): {missing}"
    generative = [n for n in names if n not in SCORER_ONLY and n not in GRAMMARS]
    assert not generative, f"tasks without a verdict grammar (tests/test_conformance.py GRAMMARS): {generative}"
    assert not set(BUILDERS) - set(names), f"builders for unregistered tasks: {set(BUILDERS) - set(names)}"


@pytest.mark.parametrize("name", TASKS.names())
def test_task_conforms(name, tmp_path):
    task: Task = TASKS.get(name)()
    build = BUILDERS.get(name)
    if build is None:
        pytest.fail(f"task {name!r} has no conformance fixture builder")
    data_dir = build(tmp_path / "data")
    replier = Replier(name, task, tmp_path)
    if name in SCORER_ONLY:  # a generative judge is refused before any data is read
        with pytest.raises(UsageError):
            task.config(None, seed=0, split=None, data_dir=data_dir, scorer=False)
    for protocol in task.protocols:
        cfg = config_for(name, task, protocol, data_dir)
        assert cfg.protocol == protocol
        dataset = task.load(cfg)
        problems = [s.problem for s in dataset.samples if s.problem]
        assert dataset.samples and not problems, (name, problems)
        assert dataset.dataset_info.n_rows == len(dataset.samples)
        assert len({s.id for s in dataset.samples}) == len(dataset.samples)
        json.dumps(dataset.info)  # results.json `dataset` is JSON

        records: dict[str, list[Judgment]] = {"right": [], "wrong": [], "invalid": []}
        for sample in dataset.samples:
            requests = task.requests(sample, cfg)
            assert all(r.sample_id == sample.id for r in requests)
            assert len({r.key for r in requests}) == len(requests)
            if cfg.scorer:  # one number per candidate: prompt text and one medium at most
                assert all(len(r.media) <= 1 for r in requests), (name, protocol)
            if not requests:  # a protocol that does not ask about this sample (the Qwen scripts skip human ties)
                parsed = task.parse(sample, [], cfg)
                assert parsed.status == "ok" and replier.judged_right(parsed.outcome, cfg) is False, parsed
                for kind in records:
                    records[kind].append(judgment(sample, [], parsed.status, parsed.outcome, parsed.reason))
                continue
            for kind, status in (("right", "ok"), ("wrong", "ok"), ("invalid", "invalid")):
                exchanges = exchanges_for(task, sample, requests, cfg, replier, kind)
                parsed = task.parse(sample, exchanges, cfg)
                assert parsed.status == status, (name, protocol, sample.id, kind, exchanges[-1][1], parsed)
                assert (parsed.reason is None) == (status == "ok"), parsed
                verdict = replier.judged_right(parsed.outcome, cfg) if kind != "invalid" else None
                if verdict is not None:
                    assert verdict == (kind == "right"), (name, protocol, sample.id, kind, parsed.outcome)
                records[kind].append(judgment(sample, exchanges, parsed.status, parsed.outcome, parsed.reason))

        for kind, judgments in records.items():
            scoring = task.score(judgments, cfg)
            point = scoring.point()
            described_metrics_match(name, protocol, list(point))
            assert all(isinstance(v, float) for v in point.values()), point
            if kind == "right":
                assert any(math.isfinite(v) for v in point.values()), (name, protocol, point)
            json.dumps(json_safe(dict(scoring.details)), allow_nan=False)
            round_trip(tmp_path / f"{protocol}.{kind}.samples.jsonl", judgments)


# ---- models ----------------------------------------------------------------------------------------------

SECRET = "sk-conformance-0123456789abcdefXYZ"


@dataclass(frozen=True)
class Stand:
    """What a model case may use to set up its local stand-in: a directory, the environment, and `later`
    to register a clean-up (a server to stop) that runs after the test."""

    tmp: Path
    env: pytest.MonkeyPatch
    later: Callable[[Callable[[], None]], None]


@dataclass(frozen=True)
class ModelCase:
    """`args(stand)` -> the `--model-args` strings of a documented build on a local stand-in;
    `misuse` -> (args, text its documented one-line UsageError must hold)."""

    args: Callable[[Stand], dict[str, str]]
    misuse: tuple[dict[str, str], str]


def _replay_args(stand: Stand) -> dict[str, str]:
    path = stand.tmp / "judge.jsonl"
    path.write_text(json.dumps({"id": "RLAIF-V_0", "response": "Answer 1 is better"}) + "\n", encoding="utf-8")
    return {"path": str(path), "name": "recorded-judge"}


def _scores_args(stand: Stand) -> dict[str, str]:
    path = stand.tmp / "hpsv2.jsonl"
    path.write_text(json.dumps({"media": "images/0000_s0.png", "score": 0.27}) + "\n"
                    + json.dumps({"id": "3", "candidate": "A", "score": 0.31}) + "\n", encoding="utf-8")
    return {"path": str(path)}


def _vbench_args(stand: Stand) -> dict[str, str]:
    return {"path": str(vbench_results(stand.tmp / "evaluation_results")), "name": "t2v-turbo"}


def _openai_args(stand: Stand) -> dict[str, str]:
    """The in-process fake endpoint, requiring the key that the adapter reads from the environment only."""
    from reward.testing.testserver import FakeOpenAIServer

    stand.env.setenv("CONFORMANCE_KEY", SECRET)
    server = FakeOpenAIServer(model="served-judge", api_key=SECRET).start()
    stand.later(server.stop)
    return {"base_url": server.base_url, "api_key_env": "CONFORMANCE_KEY", "concurrency": "4", "max_new_tokens": "64"}


def _hf_args(stand: Stand) -> dict[str, str]:
    pytest.importorskip("transformers")
    from reward.testing.tiny_models import save_tiny

    return {"pretrained": str(save_tiny("llava_onevision", stand.tmp / "tiny-llava")), "batch_size": "2",
            "max_new_tokens": "4", "device": "cpu"}


def _pickscore_args(stand: Stand) -> dict[str, str]:
    pytest.importorskip("transformers")
    from reward.testing.tiny_models import save_tiny_clip

    model_dir, processor_dir = save_tiny_clip(stand.tmp / "tiny-clip")
    return {"pretrained": str(model_dir), "processor": str(processor_dir), "device": "cpu", "batch_size": "4"}


MODEL_CASES: dict[str, ModelCase] = {
    "scripted": ModelCase(lambda stand: {"reply": "Answer 1 is better", "model_id": "fixed-judge"},
                          ({"fail_rate": "often"}, "fail_rate")),
    "replay": ModelCase(_replay_args, ({"path": "/nonexistent/judge.jsonl"}, "does not exist")),
    "scores": ModelCase(_scores_args, ({}, "give exactly one of path=")),
    "vbench-results": ModelCase(_vbench_args, ({"path": "/nonexistent/results"}, "no VBench results")),
    "openai": ModelCase(_openai_args, ({"base_url": "http://127.0.0.1:9/v1", "model": "m", "max_retries": "0"},
                                       "cannot reach")),
    "hf": ModelCase(_hf_args, ({"pretrained": "/nonexistent/checkpoint"}, "no such directory")),
    "pickscore": ModelCase(_pickscore_args, ({"pretrained": "/nonexistent/pickscore"}, "no such directory")),
}


def test_every_model_has_a_case():
    missing = [n for n in MODELS.names() if n not in MODEL_CASES]
    assert not missing, f"models without a conformance case (tests/test_conformance.py MODEL_CASES): {missing}"
    assert not set(MODEL_CASES) - set(MODELS.names())


def _no_secret_in_clear(described: Mapping[str, Any], secrets: Sequence[str]) -> None:
    text = json.dumps(described, allow_nan=False)  # JSON-serialisable, strictly
    for secret in secrets:
        assert secret not in text
    for key, value in described["args"].items():
        if key.lower() in SECRET_NAMES:
            assert value == "***", key


@pytest.mark.parametrize("name", MODELS.names())
def test_model_builds_from_documented_arguments(name, tmp_path, monkeypatch, request):
    case = MODEL_CASES.get(name)
    if case is None:
        pytest.fail(f"model {name!r} has no conformance case")
    cls = MODELS.get(name)
    args = case.args(Stand(tmp_path, monkeypatch, request.addfinalizer))
    adapter = cls.from_args(args)
    try:
        assert isinstance(adapter, Adapter) and adapter.kind in ("judge", "scorer")
        described = adapter.describe()
        assert described["adapter"] == name
        assert {k: v for k, v in described["args"].items() if k in args} == \
            {k: v for k, v in cls.check_args(args).items()}, "describe() must record the arguments given"
        _no_secret_in_clear(described, [SECRET])
        json.dumps(adapter.identity(), allow_nan=False)
    finally:
        adapter.close()
        adapter.close()  # closing twice is harmless (the runner's finally and a caller's may both close)


@pytest.mark.parametrize("name", MODELS.names())
def test_model_misuse_is_its_documented_one_line_error(name):
    case = MODEL_CASES.get(name)
    if case is None:
        pytest.fail(f"model {name!r} has no conformance case")
    raw, expected = case.misuse
    with pytest.raises(UsageError) as info:
        MODELS.get(name).from_args(raw)
    message = str(info.value)
    assert expected in message and "\n" not in message, message
