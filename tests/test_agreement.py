"""`reports.agreement`: Cohen's kappa by hand, the published GenAI-Bench replies of five judges through `agreement`
(a kappa table, one cell recomputed from the raw reply files), judges compared on the response they chose
whatever order they were shown it in, and MMRB2's two orders as units."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter

import pytest

from harness.errors import UsageError
from harness.runner import RunOptions, run
from harness.cli import build_parser
from reports.agreement import HUMANS as HUMAN_LABELS
from reports.agreement import agreement, cohen_kappa, main, raw_agreement, render_markdown
from reports.runs import load_run
from reward.replay import ReplayAdapter
from tasks.pairwise import seeded_swap

from .conftest import SHARED, make_data_dir, row
from .replayed_runs import (HUMANS, JUDGES, MMRB2_CHOSEN, MMRB2_PLANS, genai_image_data, mmrb2_data, mmrb2_run,
                            replay_run)

FIXTURES = SHARED / "fixtures" / "genai-bench"
FIVE = ("gpt4o", "gemini-1.5-pro", "llava", "idefics2", "random")
CONFIGS = {"genai_bench_image": "image_generation", "genai_bench_video": "video_generation",
           "genai_bench_edit": "image_edition"}


# ---- Cohen's kappa by hand ------------------------------------------------------------------------------------

def test_kappa_of_hand_computed_tables():
    # n 50, p_o = 35/50 = 0.7; rows 25, 25; columns 30, 20: p_e = (25*30 + 25*20) / 2500 = 0.5 -> (0.7-0.5)/0.5
    assert cohen_kappa([[20, 5], [10, 15]]) == pytest.approx(0.4)
    assert raw_agreement([[20, 5], [10, 15]]) == pytest.approx(70.0)
    # complete disagreement on balanced margins: p_o 0, p_e 0.5 -> -1
    assert cohen_kappa([[0, 5], [5, 0]]) == pytest.approx(-1.0)
    # 3 x 3: p_o 3/5; rows 2, 1, 2; columns 2, 1, 2: p_e 9/25 -> (15 - 9) / (25 - 9) = 0.375
    assert cohen_kappa([[1, 1, 0], [1, 0, 0], [0, 0, 2]]) == pytest.approx(0.375)


def test_kappa_is_undefined_when_expected_agreement_is_one():
    # both judges gave the same single answer to every item: p_o = p_e = 1, 0/0
    assert cohen_kappa([[7, 0], [0, 0]]) is None
    assert raw_agreement([[7, 0], [0, 0]]) == 100.0
    assert cohen_kappa([[0, 0], [0, 0]]) is None and raw_agreement([[0, 0], [0, 0]]) is None


# ---- the hand-written table -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def table_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agreement")
    data = genai_image_data(tmp / "data", HUMANS)
    runs = [replay_run(tmp, name, "genai_bench_image", data, "test_v1", "genai-arena", replies)
            for name, replies in JUDGES.items()]
    constant = [replay_run(tmp, name, "genai_bench_image", data, "test_v1", "genai-arena", ["[[A>B]]"] * 8)
                for name in ("always-a", "also-a")]
    return runs, constant


def test_pairs_and_humans_on_the_hand_table(table_runs):
    runs, _ = table_runs
    task = agreement(runs, resamples=100).task("genai_bench_image")
    j1_j2 = task.pair("j1", "j2")
    # ok in both: items 0, 1, 2, 3, 7 (j1 has no verdict on 5, 6; j2 on 4, 5, 6). Choices (first/second/tie):
    # j1 F F T T S, j2 F S T T F -> agree on 0, 2, 3: 3/5; kappa 0.375 (the 3 x 3 table above)
    assert (j1_j2.n_items, j1_j2.n_both_ok, j1_j2.n_compared) == (8, 5, 5)
    assert j1_j2.agreement == pytest.approx(60.0) and j1_j2.kappa == pytest.approx(0.375)
    assert j1_j2.confusion == ((1, 1, 0), (1, 0, 0), (0, 0, 2))
    lo, hi = j1_j2.kappa_ci95
    assert lo <= 0.375 <= hi
    # j1 against the humans on its 6 ok items (0 1 2 3 4 7): j1 F F T T F S, humans F S T T F S (both-bad is a
    # tie) -> 5/6; rows 3 1 2, columns 2 2 2: (6*5 - 12) / (36 - 12) = 0.75
    human = task.pair("j1", HUMAN_LABELS)
    assert (human.n_compared, human.agreement, human.kappa) == (6, pytest.approx(100 * 5 / 6), pytest.approx(0.75))


def test_several_records_of_an_item_are_matched_by_id_and_resampled_together(table_runs, tmp_path):
    """Runs that judged each item twice (records `<id>` and `<id>::swapped`, as `--orders both` writes them; here
    the second record repeats the first): the table doubles, kappa and its item-resampled CI do not move."""
    runs, _ = table_runs
    doubled = []
    for member in runs[:2]:
        copy = tmp_path / member.dir.name
        shutil.copytree(member.dir, copy)
        path = copy / "genai_bench_image.samples.jsonl"
        lines = path.read_text().splitlines()
        twice = [json.dumps({**json.loads(line), "id": json.loads(line)["id"] + "::swapped"}) for line in lines]
        path.write_text("\n".join(lines + twice) + "\n")
        doubled.append(load_run(copy))
    once = agreement(runs[:2], resamples=100).task("genai_bench_image").pair("j1", "j2")
    twice = agreement(doubled, resamples=100).task("genai_bench_image").pair("j1", "j2")
    assert (twice.n_items, twice.n_both_ok, twice.n_compared) == (8, 10, 10)
    assert twice.confusion == tuple(tuple(2 * v for v in row) for row in once.confusion)
    assert twice.kappa == pytest.approx(once.kappa) and twice.kappa_ci95 == pytest.approx(once.kappa_ci95)


def test_undefined_kappa_is_null_in_json_and_na_in_markdown(table_runs, tmp_path):
    _, constant = table_runs
    report = agreement(constant, resamples=50)
    pair = report.task("genai_bench_image").pair("always-a", "also-a")
    assert (pair.agreement, pair.kappa, pair.kappa_ci95) == (100.0, None, None)
    text = json.dumps(report.as_json(), allow_nan=False)  # would raise on a NaN
    assert json.loads(text)["tasks"]["genai_bench_image"]["pairs"][0]["kappa"] is None
    assert "| always-a | also-a | 8 | 8 | 8 | 100.00 | n/a | n/a |" in render_markdown(report)
    parser = build_parser()  # the CLI's own parser
    args = parser.parse_args(["agreement", *(str(r.dir) for r in constant), "--json", str(tmp_path / "a.json")])
    assert args.command == "agreement" and main(args) == 0
    assert json.loads((tmp_path / "a.json").read_text())["tasks"]["genai_bench_image"]["pairs"][0]["kappa"] is None


def test_bad_requests_and_what_is_not_compared(table_runs, tmp_path):
    runs, constant = table_runs
    with pytest.raises(UsageError, match="at least two runs"):
        agreement(runs[:1])
    with pytest.raises(UsageError, match="given twice"):
        agreement([runs[0], runs[0]])
    data = make_data_dir(tmp_path / "vlrb", [row("RLAIF_0", "rlaif-v")])
    other = replay_run(tmp_path, "v", "vlrewardbench", data, "test", "strict", {"RLAIF_0": "Answer 1 is better"})
    report = agreement([runs[0], runs[1], other], resamples=0)
    assert [t.task for t in report.tasks] == ["genai_bench_image"]
    assert report.skipped == (f"vlrewardbench: only in run {other.run_id}",)
    assert report.task("genai_bench_image").pair("j1", "j2").kappa_ci95 is None  # no resamples asked


# ---- judges that saw different orders --------------------------------------------------------------------------

def test_judges_are_compared_on_the_response_not_the_position(tmp_path):
    """VL-RewardBench runs with seeds 0 and 1 show many items in different orders. Two judges that always pick
    the better response agree fully although they answered different positions; two that always answer
    "Answer 1" agree only where both saw the same response first."""
    ids = [f"RLAIF_{i}" for i in range(12)]
    rows = [row(sid, "rlaif-v", ranking=(0, 1) if i % 3 else (1, 0)) for i, sid in enumerate(ids)]
    data = make_data_dir(tmp_path / "vlrb", rows)
    better_first = {sid: (i % 3 != 0) for i, sid in enumerate(ids)}  # response 0 better, but for every third

    def gold_run(seed: int):
        replies = {sid: f"Answer {1 if better_first[sid] != seeded_swap(seed, sid) else 2} is better" for sid in ids}
        return replay_run(tmp_path, f"gold{seed}", "vlrewardbench", data, "test", "strict", replies, seed=seed)

    def first_run(seed: int):
        return replay_run(tmp_path, f"first{seed}", "vlrewardbench", data, "test", "strict",
                          {sid: "Answer 1 is better" for sid in ids}, seed=seed)

    gold = agreement([gold_run(0), gold_run(1)], resamples=0).task("vlrewardbench")
    assert gold.pair("gold0", "gold1").kappa == pytest.approx(1.0)
    assert gold.pair("gold0", HUMAN_LABELS).kappa == pytest.approx(1.0)

    # "Answer 1" chose the dataset's response 0 unless the run swapped the item; by hand from the swaps:
    a = ["second" if seeded_swap(0, sid) else "first" for sid in ids]
    b = ["second" if seeded_swap(1, sid) else "first" for sid in ids]
    assert a != b
    cells = Counter(zip(a, b))
    confusion = [[cells[(x, y)] for y in ("first", "second")] for x in ("first", "second")]
    po = (confusion[0][0] + confusion[1][1]) / 12
    pe = sum((sum(confusion[k]) / 12) * ((confusion[0][k] + confusion[1][k]) / 12) for k in range(2))
    first = agreement([first_run(0), first_run(1)], resamples=0).task("vlrewardbench").pair("first0", "first1")
    assert first.agreement == pytest.approx(100 * po)
    assert first.kappa == pytest.approx((po - pe) / (1 - pe))


def test_three_way_verdicts_are_unswapped_ties_included(tmp_path):
    """GenAI-Bench `strict` (three-way, seeded swap) at seeds 0 and 1: judges that always give the human verdict
    (a tie as "equally good") agree fully with each other and with the humans."""
    votes = ["leftvote", "rightvote", "tievote", "bothbad_vote", "leftvote", "rightvote", "rightvote", "leftvote"]
    data = genai_image_data(tmp_path / "data", votes)
    h = [{"leftvote": 1, "rightvote": -1}.get(v, 0) for v in votes]

    def human_run(seed: int):
        replies = []
        for idx, label in enumerate(h):
            shown = -label if seeded_swap(seed, str(idx)) else label  # the task's own rule for the shown order
            replies.append("Both images are equally good." if label == 0 else
                           f"Image {1 if shown == 1 else 2} is better than Image {2 if shown == 1 else 1}.")
        return replay_run(tmp_path, f"h{seed}", "genai_bench_image", data, "test_v1", "strict", replies, seed=seed)

    assert any(seeded_swap(0, str(i)) != seeded_swap(1, str(i)) for i in range(8))
    task = agreement([human_run(0), human_run(1)], resamples=0).task("genai_bench_image")
    assert task.family == "three-way"
    pair = task.pair("h0", "h1")
    assert (pair.n_compared, pair.agreement, pair.kappa) == (8, 100.0, pytest.approx(1.0))
    assert pair.confusion == ((3, 0, 0), (0, 3, 0), (0, 0, 2))
    assert task.pair("h1", HUMAN_LABELS).kappa == pytest.approx(1.0)


# ---- MMRB2: each order is a unit ------------------------------------------------------------------------------

def test_mmrb2_orders_are_compared_as_units(tmp_path):
    data = mmrb2_data(tmp_path / "data", MMRB2_CHOSEN)
    runs = [mmrb2_run(tmp_path, data, name, MMRB2_PLANS[name]) for name in ("m1", "m2")]
    task = agreement(runs, resamples=0).task("mmrb2")
    assert task.unit == "item and order"
    # p3 is invalid for m2 (no reverse verdict): units of p0-p2, as responses (reverse A is response_b):
    # m1 F F / S S / F S, m2 F F / F S / F F -> 4 of 6 agree; rows 3 3, columns 5 1: (24 - 18) / (36 - 18)
    pair = task.pair("m1", "m2")
    assert (pair.n_both_ok, pair.n_compared, pair.agreement) == (3, 6, pytest.approx(100 * 4 / 6))
    assert pair.kappa == pytest.approx(1 / 3)
    # m1 against `chosen` on all 8 units: m1 F F S S F S T F, humans F F S S F F S S -> 5/8;
    # rows 4 3 1, columns 4 4 0: (40 - 28) / (64 - 28)
    human = task.pair("m1", HUMAN_LABELS)
    assert (human.n_compared, human.agreement, human.kappa) == (8, 62.5, pytest.approx(1 / 3))


# ---- the published GenAI-Bench replies of five judges --------------------------------------------------------

@pytest.fixture(scope="module")
def five_judges(tmp_path_factory):
    if not FIXTURES.exists():
        pytest.skip("../shared/fixtures/genai-bench missing")
    tmp = tmp_path_factory.mktemp("five")
    runs = []
    for task, config in CONFIGS.items():
        for judge in FIVE:
            out = run(RunOptions(tasks=[task], model="replay", protocol="genai-arena", data_dir=FIXTURES / "test_v1",
                                 split="test_v1", output=tmp / judge, bootstrap_resamples=10, progress="none",
                                 use_cache=False),
                      adapter=ReplayAdapter(str(FIXTURES / "responses" / f"{config}__{judge}.jsonl"), name=judge))
            runs.append(load_run(out.dir))
    return agreement(runs, resamples=200)


ARENA = {"[[A>B]]": "first", "[[A>>B]]": "first", "[[B>A]]": "second", "[[B>>A]]": "second", "[[A=B]]": "tie",
         "[[A=B=Good]]": "tie", "[[A=B=Bad]]": "tie"}
VOTE = {"leftvote": "first", "rightvote": "second", "tievote": "tie", "bothbad_vote": "tie"}


def raw_choices(config: str, judge: str) -> dict[str, str | None]:
    """By hand from the published file: the first greedy [[...]] of each reply, read as the response it names."""
    out = {}
    for line in (FIXTURES / "responses" / f"{config}__{judge}.jsonl").read_text().splitlines():
        record = json.loads(line)
        found = re.search(r"\[\[.*\]\]", record["response"] or "")
        out[str(record["idx"])] = ARENA.get(found.group()) if found else None
    return out


def hand_kappa(a: dict[str, str | None], b: dict[str, str | None]) -> tuple[int, float, float]:
    both = [k for k in a if a[k] is not None and b.get(k) is not None]
    n = len(both)
    po = sum(a[k] == b[k] for k in both) / n
    pe = sum((sum(a[k] == c for k in both) / n) * (sum(b[k] == c for k in both) / n)
             for c in ("first", "second", "tie"))
    return n, 100 * po, (po - pe) / (1 - pe)


def test_five_judges_give_a_full_kappa_table(five_judges):
    assert [t.task for t in five_judges.tasks] == list(CONFIGS)
    for task in five_judges.tasks:
        assert sorted(j.label for j in task.judges) == sorted(FIVE)
        assert len(task.pairs) == 10 and len(task.humans) == 5
        assert all(p.kappa is not None and -1 <= p.kappa <= 1 for p in (*task.pairs, *task.humans) if p.a != "llava"
                   and p.b != "llava")
    text = render_markdown(five_judges)
    for task in CONFIGS:
        assert f"#### {task} (genai-arena; unit: item)" in text
    assert "| kappa | gpt4o | gemini-1.5-pro | llava | idefics2 | random | humans |" in text


@pytest.mark.skipif(not FIXTURES.exists(), reason="../shared/fixtures/genai-bench missing")
@pytest.mark.parametrize("task, a, b", [("genai_bench_image", "gpt4o", "gemini-1.5-pro"),
                                        ("genai_bench_video", "gpt4o", "idefics2")])
def test_a_cell_equals_the_hand_computation_from_the_raw_files(five_judges, task, a, b):
    n, agree, kappa = hand_kappa(raw_choices(CONFIGS[task], a), raw_choices(CONFIGS[task], b))
    pair = five_judges.task(task).pair(a, b)
    assert pair.n_compared == n and pair.agreement == pytest.approx(agree) and pair.kappa == pytest.approx(kappa)


@pytest.mark.skipif(not FIXTURES.exists(), reason="../shared/fixtures/genai-bench missing")
def test_agreement_with_the_humans_from_the_raw_files(five_judges):
    labels = {}
    for line in (FIXTURES / "test_v1" / "image_edition.jsonl").read_text().splitlines():
        record = json.loads(line)
        labels[str(record["idx"])] = VOTE[record["vote_type"]]
    n, agree, kappa = hand_kappa(raw_choices("image_edition", "gemini-1.5-pro"), labels)
    pair = five_judges.task("genai_bench_edit").pair("gemini-1.5-pro", HUMAN_LABELS)
    assert pair.n_compared == n and pair.agreement == pytest.approx(agree) and pair.kappa == pytest.approx(kappa)
    # llava answers [[A>B]] to all but a few items: its kappa with anyone is about 0, never undefined
    llava = five_judges.task("genai_bench_image").pair("llava", HUMAN_LABELS)
    assert llava.kappa == pytest.approx(0.0, abs=1e-12)
