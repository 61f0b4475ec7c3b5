"""Open-ended video QA judged by GPT (paper Table 6): `msrvtt_qa`, `msvd_qa`, `tgif_qa`.

Two stages. The run's `--model` is the *policy* (e.g. `hf` with LLaVA-Video-7B or its DPO'd variant): it
answers each question from 32 evenly spaced frames at 512x512, greedy, the frames before the question
(the paper's `DPO_eval/*_infer.py` send `'<image>\\n' * 32 + question`). The *judge* then grades the answer
against the reference with the paper's Fig. 6 prompt. The judge defaults to `openai` with
`model=gpt-3.5-turbo-1106`, the snapshot the paper names (appendix B.2); pin it: other snapshots move
TGIF/MSVD by about 8 points. `--judge`/`--judge-args` choose another, and results.json records the judge
that ran (`tasks.<task>.judge`).

Data (`--data-dir DIR`; nothing is downloaded):
- questions: `DIR/test_qa.json`, a list of `{"id", "question", "answer", "video_id" | "video_name"}` (the
  MSRVTT-QA and MSVD-QA files of the paper's scripts), or `DIR/test_q.json` + `DIR/test_a.json` (the
  Video-ChatGPT zero-shot layout that TGIF-QA ships in: `{"question_id", "video_name", "question"}` and
  `{"question_id", "answer"}`, joined by question_id, else by position as the paper's TGIF script does).
- videos under `DIR/videos/`, any of .mp4 .avi .webm .gif .mkv .mov, found by stem:
  - `msrvtt_qa`: `video<video_id>` (MSR-VTT's `video7010.mp4`), else `<video_id>`;
  - `msvd_qa`: through `DIR/youtube_mapping.txt` (lines `<clip name> vid<video_id>`, shipped with MSVD-QA)
    to the YouTube clip name (`-4wsuPCjDBc_5_15.avi`; the name without its leading dashes is tried too,
    as the paper's script strips them), else `vid<video_id>`, else `<video_id>`;
  - `tgif_qa`: `<video_name>` (`.gif` as TGIF ships, or the `.mp4` conversions the paper's script reads).
  A question whose video is not found keeps the expected path and fails at media loading as a counted
  error (a replayed policy never opens media, so it still works).

Judge replies are Python-dict strings read with `ast.literal_eval` (never `eval`). The rules
(`parse_judge_reply`): the reply must be a dict with `pred` (a string) and `score`; `score` may be an int, a
float (truncated by `int()`, as the reference does with its own example `4.8`) or a string holding an
integer (`'2'`, and whatever else Python's `int()` reads as one, `'0_3'` or `' 4 '`: the reference calls
`int()`, so we do); bools, other strings, NaN and values outside 0-5 are rejected. The reply goes to
`ast.literal_eval` as it came, as in the reference (which skips leading spaces and tabs only). A rejected
reply is `invalid`: counted (`n_invalid`, and by kind in `details.invalid_by_kind`), its reason in the
record, and dropped from both metrics. The verdict is "yes" when `"yes" in pred.lower()`, else "no" when
`"no" in pred.lower()`, else neither: a neither reply counts in Score but not in Acc, exactly as
Video-ChatGPT's `evaluate_activitynet_qa.py`.

Metrics: `accuracy` = 100 * #yes / (#yes + #no), `score` = mean of the integer scores (0-5).
"""

from __future__ import annotations

import ast
import math
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Iterator, Mapping, Sequence

from harness.errors import UsageError
from harness.records import Generation, Judgment, MediaRef, Reply, Request, Sample
from harness.registry import task
from harness.rows import RawRow, RowSource, file_sha256, local_info, read_json_list, records_reader
from harness.task import IdRule, Parsed, ProtocolSpec, Row, Scoring, Tally, Task, TaskConfig

from .templates import load_template

JUDGE_MODEL = "gpt-3.5-turbo-1106"
VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".gif", ".mkv", ".mov")
FRAMES = 32
FRAME_SIZE = (512, 512)
POLICY_GENERATION = Generation(max_new_tokens=4096)  # greedy, as the paper's *_infer.py
# Greedy for a reproducible, cacheable judgment (the reference calls the API at its default temperature);
# a dict reply is ~15 tokens, so the cap never cuts a well-formed one.
JUDGE_GENERATION = Generation(max_new_tokens=512, temperature=0.0)
MAX_JUDGE_REPLY = 10_000  # longer replies are not the asked-for dict; never hand them to the parser
PLACEHOLDER = re.compile(r"\{(question|answer|pred)\}")
#: What `VideoQA.rows` adds to a question: its video's label (relative to --data-dir) and whether it is on disk.
VIDEO, VIDEO_ON_DISK = "harness:video", "harness:video_on_disk"


# ---- the judge's reply -------------------------------------------------------------------------------
@dataclass(frozen=True)
class JudgeVerdict:
    """A judge reply that parsed: `verdict` is "yes", "no" or "neither"; `score` is the int the reference
    computes; `pred` is the judge's raw `pred` string."""

    verdict: str
    score: int
    pred: str
    score_was_string: bool = False


@dataclass(frozen=True)
class Rejection:
    """Why a judge reply cannot be used: `kind` groups the counts, `reason` goes in the record."""

    kind: str
    reason: str


def parse_judge_reply(text: str | None) -> JudgeVerdict | Rejection:
    """Read one judge reply with `ast.literal_eval` (which evaluates literals only, so a reply such as
    `__import__('os').system(...)` is rejected, never run)."""
    if text is None or not text.strip():
        return Rejection("empty", "empty judge reply")
    if len(text) > MAX_JUDGE_REPLY:
        return Rejection("not_a_literal", f"judge reply of {len(text)} characters is not a dict string")
    try:
        # As the reference: the reply as it came (literal_eval itself skips leading spaces and tabs only).
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        return Rejection("not_a_literal", f"judge reply is not a Python literal ({type(exc).__name__})")
    if not isinstance(value, dict):
        return Rejection("not_a_dict", f"judge reply is a {type(value).__name__}, not a dict")
    missing = [k for k in ("pred", "score") if k not in value]
    if missing:
        return Rejection("missing_keys", f"judge reply lacks {', '.join(map(repr, missing))}")
    pred = value["pred"]
    if not isinstance(pred, str):
        return Rejection("bad_pred", f"'pred' is {pred!r}, not a string")
    score = _judge_score(value["score"])
    if isinstance(score, Rejection):
        return score
    lowered = pred.lower()
    verdict = "yes" if "yes" in lowered else "no" if "no" in lowered else "neither"
    return JudgeVerdict(verdict, score, pred, score_was_string=isinstance(value["score"], str))


def _judge_score(raw: Any) -> int | Rejection:
    """The reference's `int(score)`, limited to what it can mean: a number or integer string in 0-5."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        return Rejection("bad_score", f"'score' is {raw!r}, not a number")
    if isinstance(raw, str):
        try:  # Python's int() as the reference calls it: '0_3', ' 4 ' and '+2' are integers to it
            number: float = int(raw)
        except ValueError:
            return Rejection("bad_score", f"'score' is the string {raw!r}, not an integer")
    else:
        number = raw
    if isinstance(number, float) and not math.isfinite(number):
        return Rejection("bad_score", f"'score' is {raw!r}, not a finite number")
    if not 0 <= number <= 5:
        return Rejection("score_out_of_range", f"'score' {raw!r} is outside 0-5")
    return int(number)


def judge_prompt(question: str, answer: str, prediction: str) -> str:
    """Fig. 6 as one user message: the system text, a blank line, then the user text with the three
    fields filled in one pass (so a prediction containing "{answer}" stays literal, and the template's own
    `{'pred': 'yes', ...}` example is left alone)."""
    values = {"question": question, "answer": answer, "pred": prediction}
    user = PLACEHOLDER.sub(lambda m: values[m.group(1)], load_template("video_qa_judge.txt"))
    return load_template("video_qa_judge_system.txt") + "\n\n" + user


# ---- data --------------------------------------------------------------------------------------------
def read_questions(data_dir: Path) -> tuple[list[Any], str]:
    """The question rows and a hash of the files they came from (see the module doc for the layouts)."""
    single = data_dir / "test_qa.json"
    if single.is_file():
        return read_json_list(single, "questions"), file_sha256(single)
    questions, answers = data_dir / "test_q.json", data_dir / "test_a.json"
    if questions.is_file() and answers.is_file():
        rows = _join_answers(read_json_list(questions, "questions"), read_json_list(answers, "questions"))
        return rows, file_sha256(questions, answers)
    raise UsageError(f"--data-dir {data_dir}: needs test_qa.json, or test_q.json and test_a.json (docs/downstream.md)")


def _join_answers(questions: list[Any], answers: list[Any]) -> list[Any]:
    """test_q + test_a: by question_id when every row has one, else by position (the paper's TGIF script)."""
    if len(questions) != len(answers):
        raise UsageError(f"test_q.json has {len(questions)} rows but test_a.json {len(answers)}")
    keyed = all(isinstance(r, dict) and "question_id" in r for r in questions + answers)
    by_id = {str(a["question_id"]): a for a in answers} if keyed else {}
    joined = []
    for pos, q in enumerate(questions):
        a = by_id.get(str(q["question_id"])) if keyed else answers[pos]
        if isinstance(q, dict) and isinstance(a, dict):
            joined.append({**q, "answer": a.get("answer")})
        else:
            joined.append(q)  # reported as malformed by the loader
    return joined


def video_index(videos: Path) -> dict[str, str]:
    """stem -> file name of every video under `videos/` (one listing instead of a stat per question)."""
    if not videos.is_dir():
        return {}
    found: dict[str, str] = {}
    for entry in sorted(videos.iterdir()):
        if entry.suffix.lower() in VIDEO_EXTENSIONS:
            found.setdefault(entry.stem, entry.name)
    return found


def read_youtube_mapping(path: Path) -> dict[str, str]:
    """MSVD's `youtube_mapping.txt`: `<clip name> vid<id>` per line -> {id: clip name}."""
    mapping: dict[str, str] = {}
    if not path.is_file():
        return mapping
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("vid"):
            mapping[parts[1][3:]] = parts[0]
    return mapping


# ---- the tasks ---------------------------------------------------------------------------------------
STRICT = ProtocolSpec(
    "strict", "1", "policy: 32 frames at 512x512, greedy; judge: the paper's Fig. 6 prompt, gpt-3.5-turbo-1106 by "
    "default; unparseable judge replies dropped and counted",
    deviations=(
        ("the judge's system message is sent as the first paragraph of its single user message (the harness "
         "sends one user turn)"),
        "the judge decodes greedily (temperature 0); the reference scripts call the API at its default temperature",
        "an unparseable judge reply is dropped and counted; the reference asks again until one parses",
        "judge scores outside 0-5 are rejected; the reference applies int() only",
        "an unreadable video is a counted media error; the paper's scripts substitute black frames",
        ("frames: np.linspace over the whole video (both ends); the paper's scripts use LLaVA's "
         "opencv_extract_frames"),
    ))


class VideoQA(Task):
    """Shared loading, prompts, parsing and metrics of the three video-QA tasks (registered below)."""

    version = "1"
    splits = ("test",)
    default_protocol = "strict"
    protocols = {"strict": STRICT}
    needs_judge = True
    default_judge = ("openai", {"model": JUDGE_MODEL})
    #: The extension assumed for a video that is not on disk (what the paper's script opens).
    default_extension: ClassVar[str] = ".mp4"

    def video_stems(self, row: Mapping[str, Any], mapping: Mapping[str, str]) -> list[str]:
        """Candidate file stems of a row's video, most specific first."""
        if isinstance(row.get("video_name"), str):
            return [Path(row["video_name"]).stem if Path(row["video_name"]).suffix.lower() in VIDEO_EXTENSIONS
                    else row["video_name"]]
        return [str(row["video_id"])]

    # ---- rows -> samples --------------------------------------------------------------------------
    def rows(self, cfg: TaskConfig) -> RowSource:
        """The questions (a JSON list, read whole), each with the video found for it under videos/ (`VIDEO`:
        its label, `VIDEO_ON_DISK`: whether the file is there); a repeated id gets `#2`, `#3`."""
        if cfg.data_dir is None:
            raise UsageError(f"{self.name} needs --data-dir with test_qa.json (or test_q.json + test_a.json) and "
                             f"videos/ (see docs/downstream.md); nothing is downloaded")
        root = cfg.data_dir
        questions, digest = read_questions(root)
        index = video_index(root / "videos")
        mapping = read_youtube_mapping(root / "youtube_mapping.txt")

        def read() -> Iterator[RawRow]:
            for raw in records_reader(questions, "question")():
                q = raw.fields
                if q is not None and (isinstance(q.get("video_name"), str) or q.get("video_id") is not None):
                    stems = self.video_stems(q, mapping)
                    name = next((index[s] for s in stems if s in index), None)
                    label = f"videos/{name or stems[0] + self.default_extension}"
                    raw = replace(raw, fields={**q, VIDEO: label, VIDEO_ON_DISK: name is not None})
                yield raw

        def media(raw: RawRow, uid: str) -> dict[str, MediaRef]:
            label = (raw.fields or {}).get(VIDEO)
            return {"video": MediaRef("video", label, path=root / label, frames=FRAMES, sampling="linspace",
                                      resize=FRAME_SIZE)} if label else {}

        ids = IdRule(("id", "question_id"), fallback="row-{index}", repeated="count")
        return RowSource(local_info(root, digest, cfg.split), read, ids, media, str(root)).with_facts(
            n_videos_on_disk=len(index))

    def sample(self, row: Row) -> Sample:
        question, answer = row.fields.get("question"), row.fields.get("answer")
        if isinstance(answer, (int, float)) and not isinstance(answer, bool):
            answer = str(answer)
        if not isinstance(question, str) or not isinstance(answer, str):
            return Sample(row.id, row.index, {}, problem=f"{row.where}: needs string 'question' and 'answer'")
        if not row.media:
            return Sample(row.id, row.index, {}, problem=f"{row.where}: needs 'video_id' or 'video_name'")
        data = {"question": question, "answer": answer, "video": row.fields[VIDEO],
                "video_missing": not row.fields[VIDEO_ON_DISK]}
        return Sample(row.id, row.index, data, (row.media["video"],))

    def observe(self, tally: Tally, row: Row, sample: Sample) -> None:
        tally.count("n_questions_without_video", bool(sample.data.get("video_missing")))
        tally.count("n_repeated_ids", row.id != row.source_id)

    # ---- requests ---------------------------------------------------------------------------------
    def requests(self, sample: Sample, cfg: TaskConfig) -> list[Request]:
        parts = (*sample.media, sample.data["question"])  # frames first, as the paper's scripts
        return [Request(sample.id, sample.id, parts, POLICY_GENERATION, meta={"stage": "policy"})]

    def judge_requests(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]],
                       cfg: TaskConfig) -> list[Request]:
        prediction = exchanges[0][1].text or ""
        text = judge_prompt(sample.data["question"], sample.data["answer"], prediction)
        return [Request(f"{sample.id}::judge", sample.id, (text,), JUDGE_GENERATION, meta={"stage": "judge"})]

    # ---- parse and score --------------------------------------------------------------------------
    def parse(self, sample: Sample, exchanges: Sequence[tuple[Request, Reply]], cfg: TaskConfig) -> Parsed:
        policy = [reply for req, reply in exchanges if req.meta.get("stage") != "judge"]
        judge = [reply for req, reply in exchanges if req.meta.get("stage") == "judge"]
        outcome: dict[str, Any] = {"prediction": policy[0].text if policy else None}
        if not judge:
            return Parsed("invalid", {**outcome, "invalid_kind": "no_judge"}, "no judge reply")
        parsed = parse_judge_reply(judge[0].text)
        if isinstance(parsed, Rejection):
            return Parsed("invalid", {**outcome, "invalid_kind": parsed.kind}, parsed.reason)
        outcome.update(verdict=parsed.verdict, score=parsed.score, judge_pred=parsed.pred)
        if parsed.score_was_string:
            outcome["score_was_string"] = True
        return Parsed("ok", outcome)

    def score(self, judgments: Sequence[Judgment], cfg: TaskConfig) -> Scoring:
        import numpy as np  # numpy: only when scoring (`harness list` imports this module, never scores)

        from harness.metrics import ratio_pct

        rows = [j for j in judgments if j.status == "ok"]
        verdicts = np.array([j.outcome["verdict"] for j in rows], dtype=object)
        yes = verdicts == "yes"
        decided = verdicts != "neither"
        scores = np.array([j.outcome["score"] for j in rows], dtype=float)

        def compute(idx: np.ndarray) -> dict[str, float]:
            return {"accuracy": ratio_pct(float(yes[idx].sum()), float(decided[idx].sum())),
                    "score": float(scores[idx].mean()) if idx.size else math.nan}

        invalid = Counter(str(j.outcome.get("invalid_kind", "other")) for j in judgments if j.status == "invalid")
        details = {"n_yes": int(yes.sum()), "n_no": int((decided & ~yes).sum()), "n_neither": int((~decided).sum()),
                   "invalid_by_kind": dict(sorted(invalid.items())), "default_judge": JUDGE_MODEL,
                   "rule": "accuracy = #yes/(#yes+#no); score = mean int score; invalid judge replies dropped"}
        return Scoring(compute, [j.sample_id for j in rows], details=details, correct=yes,
                       accuracy_rows={"accuracy": decided})


@task("msrvtt_qa")
class MSRVTTQA(VideoQA):
    """MSRVTT-QA: `videos/video<video_id>.mp4`."""

    def video_stems(self, row: Mapping[str, Any], mapping: Mapping[str, str]) -> list[str]:
        if isinstance(row.get("video_name"), str):
            return super().video_stems(row, mapping)
        return [f"video{row['video_id']}", str(row["video_id"])]


@task("msvd_qa")
class MSVDQA(VideoQA):
    """MSVD-QA: `videos/<YouTube clip>.avi` through `youtube_mapping.txt`."""

    default_extension = ".avi"

    def video_stems(self, row: Mapping[str, Any], mapping: Mapping[str, str]) -> list[str]:
        if isinstance(row.get("video_name"), str):
            return super().video_stems(row, mapping)
        vid = str(row["video_id"])
        clip = mapping.get(vid)
        stems = [clip, clip.lstrip("-")] if clip else []
        return [s for s in stems if s] + [f"vid{vid}", vid]


@task("tgif_qa")
class TGIFQA(VideoQA):
    """TGIF-QA (the Video-ChatGPT zero-shot files the paper's script reads): `videos/<video_name>.gif|.mp4`."""
