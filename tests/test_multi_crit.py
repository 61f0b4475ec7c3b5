"""Multi-Crit (`multi_crit`) end to end on fixture rows in the official flattened layout, judged by a scripted judge
through harness.runner.run; PAcc, TOS and CMR worked out by hand on three prompts whose criteria conflict; the
reference's parse (last three lines) and prompt; and the metrics against a plain re-implementation of the
reference's definitions on a larger generated table."""

from __future__ import annotations

import itertools
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.errors import UsageError
from harness.runner import RunOptions, run
from reward.scripted import ScriptedAdapter
from tasks.multi_crit import CRITERIA, LOCAL_FILES, CritTable, MultiCrit, criterion_text, direct_preference
from tasks.pairwise import seeded_swap
from tasks.templates import load_template

from .conftest import read_jsonl, write_image

FIXTURES = Path(__file__).parent / "fixtures_multi_crit"
P1, P2, P3 = "visualPuzzles__select-1", "mathverse__q-7", "mmmu__q-3"
#: What the scripted judge prefers per question id (None: a reply the direct parser cannot read).
PLAN = {f"{P1}__grounding": "model_a", f"{P1}__logic": "model_a", f"{P1}__hallucination": "model_a",
        f"{P1}__exploration": "model_b", f"{P1}__efficiency": None,
        f"{P2}__grounding": "model_b", f"{P2}__logic": "model_b", f"{P2}__hallucination": "model_b",
        f"{P3}__logic": "model_a", f"{P3}__efficiency": None,
        f"{P2}__grounding#2": "model_a"}  # the repeated question id: judged wrong, and dropped from the metrics



@pytest.fixture
def data_dir(tmp_path) -> Path:
    """The fixture's two split files with an 8x8 image per image_path under images/."""
    root = tmp_path / "datasets"
    root.mkdir()
    for i, name in enumerate(LOCAL_FILES.values()):
        shutil.copy(FIXTURES / name, root / name)
        for k, line in enumerate((root / name).read_text().splitlines()):
            write_image(root / "images" / json.loads(line)["image_path"], 10 * i + k)
    return root


def reply_for(prepared) -> str:
    """A justification, then the verdict on the final line as the prompt asks (in the order the judge was shown)."""
    want = PLAN[prepared.request.sample_id]
    if want is None:  # a verdict, but not in the last three lines: the reference's direct parse cannot read it
        return "Response 1 is better at first sight.\nBut the grounding is thin.\nThe logic holds.\nHard to say."
    shown = 1 if (want == "model_a") != prepared.request.meta["swapped"] else 2
    return f"Response 1 cites the stripes; Response 2 does not.\n\n**Response {shown}** is better."


def judged(tmp_path: Path, data: Path, protocol: str | None = None, split: str = "reasoning") -> tuple[dict, dict]:
    outcome = run(RunOptions(tasks=["multi_crit"], model="scripted", data_dir=data, protocol=protocol, split=split,
                             output=tmp_path / "runs", use_cache=False, bootstrap_resamples=50),
                  adapter=ScriptedAdapter(fn=reply_for))
    records = read_jsonl(outcome.dir / "multi_crit.samples.jsonl")
    return outcome.results["tasks"]["multi_crit"], {r["id"]: r for r in records}


# The hand-worked table (reasoning split; preference -> judge; ok = right):
#   P1 efficiency  A -> (unparseable) x    P2 grounding     B -> B ok    P3 logic       A -> A ok
#   P1 grounding   A -> A ok               P2 logic         B -> B ok    P3 efficiency  B -> (unparseable) x
#   P1 logic       A -> A ok               P2 hallucination B -> B ok
#   P1 hallucination B -> A x
#   P1 exploration B -> B ok
# accuracy: grounding 2/2, logic 3/3, hallucination 1/2, exploration 1/1, efficiency 0/2; overall 7/10;
# macro (100 + 100 + 50 + 100 + 0) / 5 = 70.
# PAcc: P1 has wrong rows, P2 is all right, P3 has a wrong row -> 1/3.
# Conflicts (human preferences differ): P1 {grounding, logic, efficiency} prefer A, {hallucination, exploration}
# prefer B -> 3 x 2 = 6 pairs; P2 none; P3 (logic A, efficiency B) -> 1 pair.
# TOS: P1 detects one (grounding A vs exploration B, both valid) -> hit; P3's predictions differ (A vs none)
# but one is not a valid preference -> miss: 1/2.
# CMR: pairs right on both sides: P1 (grounding, exploration), (logic, exploration) -> 2 of 6; P3 0 of 1 -> 2/7.
HAND = {"accuracy/grounding": 100.0, "accuracy/logic": 100.0, "accuracy/hallucination": 50.0,
        "accuracy/exploration": 100.0, "accuracy/efficiency": 0.0, "overall_accuracy": 70.0,
        "macro_accuracy": 70.0, "pluralistic_accuracy": 100.0 / 3, "tradeoff_sensitivity": 50.0,
        "conflict_matching_rate": 200.0 / 7}


@pytest.mark.parametrize("protocol", ["official", "strict"])
def test_end_to_end_with_hand_worked_pacc_tos_cmr(tmp_path, data_dir, protocol):
    result, records = judged(tmp_path, data_dir, protocol)
    assert result["protocol"] == protocol and result["split"] == "reasoning"
    assert result["metrics"] == pytest.approx(HAND)
    assert result["counts"] == {"n": 12, "n_invalid": 2, "n_error": 1}
    assert result["details"] == {"n_prompts": 3, "n_conflict_pairs": 7, "n_repeated_question_ids": 1,
                                 "n_rows_replaced": 0}
    bad = records["mmmu__q-9__logic"]
    assert bad["status"] == "error" and "field 'preference' must be model_a or model_b, got 'tie'" in bad["reason"]
    assert "multi-crit-reasoning-flatten.jsonl line 12" in bad["reason"]
    unread = records[f"{P1}__efficiency"]
    assert unread["status"] == "invalid" and "last three lines" in unread["reason"]
    assert records[f"{P2}__grounding#2"]["outcome"]["question_id"] == f"{P2}__grounding"
    swaps = {r["outcome"]["prompt_id"]: set() for r in records.values() if r["status"] != "error"}
    for r in records.values():
        if r["status"] != "error":
            swaps[r["outcome"]["prompt_id"]].add(r["outcome"]["swapped"])
    expected = {p: {protocol == "strict" and seeded_swap(0, p)} for p in swaps}
    assert swaps == expected  # one order per prompt, so criteria of a prompt are compared on the same display


def test_open_ended_split_reads_its_own_file_and_criteria(tmp_path, data_dir):
    task = MultiCrit()
    cfg = task.config(None, 0, "open_ended", data_dir)
    samples = task.load(cfg).samples
    assert [s.data["criterion"] for s in samples] == list(CRITERIA["open_ended"])
    assert not [s for s in samples if s.problem]
    names = list(task.score([], cfg).point())
    assert names == [*(f"accuracy/{c}" for c in CRITERIA["open_ended"]), "overall_accuracy", "macro_accuracy",
                     "pluralistic_accuracy", "tradeoff_sensitivity", "conflict_matching_rate"]


def test_the_prompt_is_the_reference_template_with_the_image_first(data_dir):
    task = MultiCrit()
    for protocol in ("official", "strict"):
        cfg = task.config(protocol, 0, "reasoning", data_dir)
        for sample in task.load(cfg).samples:
            if sample.problem:
                continue
            (request,) = task.requests(sample, cfg)
            image, text = request.parts
            assert image.kind == "image" and image.path == data_dir / "images" / sample.media[0].label
            d = sample.data
            first, second = (d["pred_b"], d["pred_a"]) if request.meta["swapped"] else (d["pred_a"], d["pred_b"])
            assert text == load_template("multi_crit_judge.txt").format(
                Question=d["question"], Response1=first, Response2=second,
                Criterion=criterion_text("reasoning", d["criterion"]))
    template = load_template("multi_crit_judge.txt")
    assert "a user\u2019s question about an image. The image is provided as part of the input. \n" in template
    assert template.endswith("Strictly follow this format:  \nResponse X is better.\n")
    assert criterion_text("reasoning", "logic").startswith("**Logical Coherence and Consistency**  \n")
    assert criterion_text("open_ended", "expressiveness").startswith("**Expressiveness and Expertise**\nThe")


def test_direct_parse_reads_only_the_last_three_lines():
    assert direct_preference("Reasoning...\n**Response 2** is better.", strict=False) == (2, None)
    assert direct_preference("RESPONSE 1 IS BETTER.\n\n\n", strict=False) == (1, None)
    assert direct_preference("Response 2 is better.\na\nb\nc", strict=False)[0] is None  # four lines up
    assert direct_preference("Response 3 is better.", strict=False) == (None, "the last three lines name 'Response 3'")
    assert direct_preference("Response 1 is better.  Response 2 is better.", strict=False) == (1, None)  # first wins
    both = direct_preference("Response 1 is better.\nResponse 2 is better.", strict=True)
    assert both == (None, "the last three lines name more than one response")
    assert direct_preference("Response  1 is better.", strict=False)[0] is None  # the reference wants one space
    assert direct_preference("", strict=False) == (None, "empty reply")


def test_bad_input_is_named(tmp_path, data_dir):
    task = MultiCrit()
    with pytest.raises(UsageError, match="no commit of txiong23/Multi-Crit is pinned here"):
        task.load(task.config(None, 0, None, None))
    lone = tmp_path / "only-open"
    lone.mkdir()
    shutil.copy(data_dir / LOCAL_FILES["open_ended"], lone / LOCAL_FILES["open_ended"])
    with pytest.raises(UsageError, match="no multi-crit-reasoning-flatten.jsonl there"):
        task.load(task.config(None, 0, "reasoning", lone))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    rows = [json.loads(line) for line in (FIXTURES / LOCAL_FILES["reasoning"]).read_text().splitlines()[:2]]
    rows[0]["split"], rows[1]["criterion"] = "open-ended", "completeness"
    (mixed / LOCAL_FILES["reasoning"]).write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = [s.problem for s in task.load(task.config(None, 0, "reasoning", mixed)).samples]
    assert "field 'split' is 'open-ended', but split 'reasoning' is being read" in problems[0]
    assert "field 'criterion' 'completeness' is not one of split 'reasoning'" in problems[1]


def test_last_row_of_a_prompt_criterion_wins_as_in_the_reference():
    """Two question ids for (p, logic): the later replaces the earlier everywhere, as the reference's grouping."""
    rows = [{"question_id": "q1", "prompt_id": "p", "criterion": "logic", "preference": "model_a",
             "prediction": "model_a", "index": 0},
            {"question_id": "q2", "prompt_id": "p", "criterion": "efficiency", "preference": "model_b",
             "prediction": "model_b", "index": 1},
            {"question_id": "q3", "prompt_id": "p", "criterion": "logic", "preference": "model_a",
             "prediction": "model_b", "index": 2}]
    table = CritTable.from_outcomes(rows, CRITERIA["reasoning"])
    point = table.scoring(["q1", "q2", "q3"]).point()
    # kept: q2 (right) and q3 (wrong): overall 1/2, logic 0/1, PAcc 0/1; one conflict pair (q3, q2): predictions
    # model_b and model_b -> not detected (TOS 0/1); q3 wrong -> CMR 0/1.
    assert point["overall_accuracy"] == 50.0 and point["accuracy/logic"] == 0.0
    assert (point["pluralistic_accuracy"], point["tradeoff_sensitivity"], point["conflict_matching_rate"]) == \
        (0.0, 0.0, 0.0)
    assert table.details["n_rows_replaced"] == 1
    assert np.isnan(point["accuracy/grounding"])  # a criterion with no rows is left out of the macro
    assert point["macro_accuracy"] == 50.0  # (0 + 100) / 2


# ---- a plain re-implementation of the reference's definitions, on a larger generated table -----------------------

def reference_metrics(records: list[dict], criteria: tuple[str, ...]) -> dict[str, float]:
    """The metrics as the Multi-Crit README and reference describe them, written as loops over records."""
    seen, unique = set(), []
    for r in records:  # first record of each question id
        if r["question_id"] not in seen:
            seen.add(r["question_id"])
            unique.append(r)
    grouped: dict[str, dict[str, dict]] = {}
    for r in unique:  # prompt -> criterion -> record, the last record of a criterion winning
        grouped.setdefault(r["prompt_id"], {})[r["criterion"]] = r
    rows = [r for prompt in grouped.values() for r in prompt.values()]

    def right(r: dict) -> bool:
        return r["prediction"] is not None and r["prediction"].strip().lower() == r["preference"].strip().lower()

    out, scores = {}, []
    for c in criteria:
        chosen = [right(r) for r in rows if r["criterion"] == c]
        out[f"accuracy/{c}"] = sum(chosen) / len(chosen) * 100 if chosen else float("nan")
        if chosen:
            scores.append(round(out[f"accuracy/{c}"], 2))
    out["overall_accuracy"] = sum(map(right, rows)) / len(rows) * 100
    out["macro_accuracy"] = round(sum(scores) / len(scores), 2)
    out["pluralistic_accuracy"] = sum(all(map(right, p.values())) for p in grouped.values()) / len(grouped) * 100
    detected = total = both = pairs = 0
    for prompt in grouped.values():
        conflicts = [(a, b) for a, b in itertools.combinations(prompt.values(), 2)
                     if a["preference"] != b["preference"]]
        pairs += len(conflicts)
        both += sum(a["prediction"] == a["preference"] and b["prediction"] == b["preference"] for a, b in conflicts)
        if conflicts:
            total += 1
            detected += any(a["prediction"] != b["prediction"] and a["prediction"] in ("model_a", "model_b")
                            and b["prediction"] in ("model_a", "model_b") for a, b in conflicts)
    out["tradeoff_sensitivity"] = detected / total * 100
    out["conflict_matching_rate"] = both / pairs * 100
    return out


def test_metrics_equal_a_plain_reimplementation_on_a_generated_table():
    rng = random.Random(7)
    records = []
    for p in range(60):
        for c in rng.sample(CRITERIA["reasoning"], rng.randint(1, 5)):
            records.append({"question_id": f"p{p}__{c}", "prompt_id": f"p{p}", "criterion": c,
                            "preference": rng.choice(("model_a", "model_b")),
                            "prediction": rng.choice(("model_a", "model_b", "model_a", None))})
    for r in rng.sample(records, 8):  # repeated question ids (dropped) and second rows of a criterion (replacing)
        records.append({**r, "prediction": rng.choice(("model_a", "model_b", None))})
    for r in rng.sample(records[:200], 5):
        again = {"question_id": r["question_id"] + "-again", "preference": rng.choice(("model_a", "model_b"))}
        records.append({**r, **again})
    order = list(range(len(records)))
    rng.shuffle(order)  # judgments may reach scoring in any order: `index` is the dataset order
    outcomes = [{**records[i], "index": i} for i in order]
    table = CritTable.from_outcomes(outcomes, CRITERIA["reasoning"])
    assert (table.details["n_repeated_question_ids"], table.details["n_rows_replaced"]) == (8, 5)
    point = table.scoring([str(i) for i in order]).point()
    expected = reference_metrics(records, CRITERIA["reasoning"])
    assert point == pytest.approx(expected, abs=1e-9)
    assert expected["tradeoff_sensitivity"] not in (0.0, 100.0) and expected["conflict_matching_rate"] > 0


def test_bootstrap_replicates_are_finite(tmp_path, data_dir):
    result, _ = judged(tmp_path, data_dir)
    for name in ("overall_accuracy", "pluralistic_accuracy", "tradeoff_sensitivity", "conflict_matching_rate"):
        low, high = result["ci95"][name]
        assert 0.0 <= low <= result["metrics"][name] <= high <= 100.0, name
