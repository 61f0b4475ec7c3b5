"""Per-sample bookkeeping: the batched judgment cache (kill-safe, visible to its own process) and the
vectorised bootstrap (the same intervals as the one-replicate loop, bit for bit)."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from harness.cache import JudgmentCache
from harness.metrics import (ComputeMany, accuracy_pct_many, bootstrap_ci, grouped_accuracy,
                             grouped_accuracy_many)
from harness.records import Reply
from harness.task import Scoring
from reports.compare import paired_bootstrap

ROOT = Path(__file__).resolve().parents[1]


def reply(i: int) -> Reply:
    return Reply(f"r{i}", text=f"Answer {i} is better.", usage={"prompt_tokens": i})


def committed(path: Path) -> dict[str, str]:
    """What another process sees: the committed rows, read through a separate connection."""
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT key, value FROM replies").fetchall())
    finally:
        db.close()


# ---- the batched cache ------------------------------------------------------------------------------------

def test_own_writes_are_read_back_before_they_are_committed(tmp_path):
    cache = JudgmentCache(tmp_path / "c.sqlite", batch_size=100, max_delay_s=3600)
    cache.put("k1", reply(1))
    assert cache.pending == 1
    assert committed(cache.path) == {}
    hit = cache.get("k1", "request-1")
    assert hit is not None and hit.cached and hit.key == "request-1"
    assert (hit.text, dict(hit.usage)) == ("Answer 1 is better.", {"prompt_tokens": 1})
    assert cache.get("k2", "request-2") is None
    cache.close()


def test_a_full_batch_is_committed_in_one_go_and_close_flushes_the_rest(tmp_path):
    cache = JudgmentCache(tmp_path / "c.sqlite", batch_size=4, max_delay_s=3600)
    for i in range(6):
        cache.put(f"k{i}", reply(i))
    assert sorted(committed(cache.path)) == ["k0", "k1", "k2", "k3"]
    assert cache.pending == 2
    cache.flush()
    assert len(committed(cache.path)) == 6 and cache.pending == 0
    cache.put("k6", reply(6))
    cache.close()
    cache.close()  # harmless
    assert len(committed(cache.path)) == 7
    reopened = JudgmentCache(tmp_path / "c.sqlite")
    assert reopened.get("k6", "r").text == "Answer 6 is better."
    reopened.close()


def test_an_entry_never_waits_longer_than_the_delay(tmp_path):
    cache = JudgmentCache(tmp_path / "c.sqlite", batch_size=1000, max_delay_s=0.0)
    cache.put("k0", reply(0))
    assert "k0" in committed(cache.path)
    cache.close()


def test_failed_replies_are_not_buffered(tmp_path):
    cache = JudgmentCache(tmp_path / "c.sqlite", batch_size=10, max_delay_s=3600)
    cache.put("bad", Reply("r", error="timeout"))
    assert cache.pending == 0 and cache.get("bad", "r") is None
    cache.close()
    assert committed(cache.path) == {}


def test_batch_size_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="batch_size"):
        JudgmentCache(tmp_path / "c.sqlite", batch_size=0)


WRITER = textwrap.dedent("""
    import sys
    from harness.cache import JudgmentCache
    from harness.records import Reply

    cache = JudgmentCache(sys.argv[1], batch_size=int(sys.argv[2]), max_delay_s=1e9)
    i = 0
    while True:
        cache.put(f"k{i}", Reply(f"k{i}", text=f"{i}:" + "x" * 3000))
        i += 1
        if i == 5 * int(sys.argv[2]):
            print("committed", flush=True)
""")


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_a_writer_killed_mid_batch_leaves_only_whole_committed_batches(tmp_path, delay):
    path = tmp_path / "c.sqlite"
    batch = 50
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(batch)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "committed"
        time.sleep(delay)  # lands in a put, or in the middle of a batch's transaction
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert writer.returncode == -signal.SIGKILL

    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    rows = committed(path)
    assert len(rows) >= 5 * batch and len(rows) % batch == 0  # whole batches only
    assert set(rows) == {f"k{i}" for i in range(len(rows))}
    cache = JudgmentCache(path)
    for i in (0, len(rows) - 1):
        assert cache.get(f"k{i}", "r").text == f"{i}:" + "x" * 3000
    assert cache.get(f"k{len(rows)}", "r") is None  # lost with its batch: judged again, not half-stored
    cache.close()


# ---- the vectorised bootstrap -----------------------------------------------------------------------------

def same(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


def test_grouped_accuracy_many_equals_the_one_replicate_form_bit_for_bit():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n, groups_n = int(rng.integers(0, 40)), int(rng.integers(1, 5))
        groups = rng.integers(0, groups_n, n)
        correct, counted = rng.random(n) < 0.6, rng.random(n) < 0.8
        idx = rng.integers(0, n, (5, n)) if n else np.zeros((5, 0), dtype=np.int64)
        per_group, overall = grouped_accuracy_many(correct, counted, groups, idx, groups_n)
        for r in range(5):
            one_group, one_overall = grouped_accuracy(correct, counted, groups, idx[r], groups_n)
            assert np.array_equal(per_group[r], one_group, equal_nan=True)
            assert same(overall[r], one_overall)
            assert same(np.mean(per_group, axis=1)[r], float(np.mean(one_group)))


def test_grouped_accuracy_on_a_hand_case():
    correct = np.array([True, False, True, True, False])
    counted = np.array([True, True, False, True, True])
    groups = np.array([0, 0, 1, 1, 2])
    per_group, overall = grouped_accuracy(correct, counted, groups, np.arange(5), 4)
    assert np.array_equal(per_group, [50.0, 100.0, 0.0, np.nan], equal_nan=True)
    assert overall == 100.0 * 2 / 4


def test_accuracy_pct_many_matches_the_mean_then_times_100_form():
    rng = np.random.default_rng(1)
    correct = rng.random(301) < 0.37
    idx = rng.integers(0, 301, (50, 301))
    many = accuracy_pct_many(correct, idx)
    assert all(many[r] == 100.0 * float(correct[idx[r]].mean()) for r in range(50))
    assert np.isnan(accuracy_pct_many(correct, np.zeros((3, 0), dtype=np.int64))).all()


def grouped_scoring(seed: int, n: int, wrong: float) -> tuple[Scoring, Scoring]:
    """A VL-RewardBench-shaped Scoring (per-group, overall and macro accuracy), without and with
    `compute_many`."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 3, n)
    correct, counted = rng.random(n) > wrong, rng.random(n) < 0.95

    def compute(idx: np.ndarray) -> dict[str, float]:
        per_group, overall = grouped_accuracy(correct, counted, groups, idx, 3)
        out = {f"accuracy/{g}": float(per_group[g]) for g in range(3)}
        out.update(overall_accuracy=overall, macro_accuracy=float(np.mean(per_group)))
        return out

    def compute_many(idx: np.ndarray) -> dict[str, np.ndarray]:
        per_group, overall = grouped_accuracy_many(correct, counted, groups, idx, 3)
        out = {f"accuracy/{g}": per_group[:, g] for g in range(3)}
        out.update(overall_accuracy=overall, macro_accuracy=np.mean(per_group, axis=1))
        return out

    ids = [f"s{i}" for i in range(n)]
    return Scoring(compute, ids), VectorScoring(compute, ids, compute_many=compute_many)


@dataclass(frozen=True)
class VectorScoring(Scoring):
    """A Scoring whose task offers the vectorised compute (the optional field compare looks for)."""

    compute_many: ComputeMany | None = None


@pytest.mark.parametrize("n", [1, 7, 333])
def test_bootstrap_ci_vectorised_gives_the_same_interval(n):
    plain, vector = grouped_scoring(3, n, 0.3)
    for resamples in (1, 57, 400):
        loop = bootstrap_ci(plain.compute, n, resamples=resamples, seed=11)
        many = bootstrap_ci(plain.compute, n, resamples=resamples, seed=11, compute_many=vector.compute_many)
        assert list(many) == list(loop)
        assert many == loop
    assert bootstrap_ci(plain.compute, 0, compute_many=vector.compute_many) == {}


def test_the_paired_bootstrap_takes_the_vectorised_path_with_the_same_numbers():
    base_plain, base_vector = grouped_scoring(5, 500, 0.1)
    cand_plain, cand_vector = grouped_scoring(6, 500, 0.5)
    rng = np.random.default_rng(0)
    base_rows, cand_rows = np.arange(500), rng.permutation(500)
    calls = []
    counted_many = VectorScoring(base_vector.compute, base_vector.ids,
                                 compute_many=lambda idx: calls.append(idx.shape) or base_vector.compute_many(idx))
    loop = paired_bootstrap(base_plain, cand_plain, base_rows, cand_rows, resamples=300, seed=2, level=0.95)
    many = paired_bootstrap(counted_many, cand_vector, base_rows, cand_rows, resamples=300, seed=2, level=0.95)
    assert calls and all(len(shape) == 2 for shape in calls)
    assert many == loop
    assert loop["overall_accuracy"][1] < 0  # the candidate is really worse: the interval is not trivial


def test_vlrewardbench_bootstrap_with_its_compute_many_equals_the_loop():
    """The task's vectorised scoring gives the CIs a run records, to the last bit, as its per-replicate form."""
    import random

    from harness.metrics import bootstrap_ci
    from harness.records import Judgment
    from tasks.vlrewardbench import CATEGORIES, VLRewardBench

    rng = random.Random(7)
    judgments = [Judgment(f"s{i}", "ok", outcome={"category": rng.choice(CATEGORIES), "correct": rng.random() < 0.6,
                                                  "counted": rng.random() < 0.9}) for i in range(3000)]
    task = VLRewardBench()
    scoring = task.score(judgments, task.config("strict", 0, None, None))
    assert scoring.compute_many is not None
    loop = bootstrap_ci(scoring.compute, scoring.n, resamples=300, seed=3)
    vectorised = bootstrap_ci(scoring.compute, scoring.n, resamples=300, seed=3, compute_many=scoring.compute_many)
    assert vectorised == loop and set(loop) == {*(f"accuracy/{c}" for c in CATEGORIES), "overall_accuracy",
                                                "macro_accuracy"}


# ---- records as columns (harness.judgment_table) ------------------------------------------------------------

def _judgments():
    from harness.records import Judgment

    return [
        Judgment("a", "ok", {"category": "general", "correct": True, "n": 1}, prompt_hash="ab" * 32),
        Judgment("b", "invalid", {"category": "reasoning", "correct": False, "scores": [1, 2]},
                 reason="no verdict", stage="parse", prompt_hash="cd" * 32),
        Judgment("c", "error", {}, reason="image missing", stage="media"),
        Judgment("d", "ok", {"category": "general", "correct": 1, "n": 2.5}, prompt_hash="ef" * 32),
    ]


def test_a_table_gives_back_the_records_it_was_made_of():
    from harness.judgment_table import JudgmentTable

    held = _judgments()
    table = JudgmentTable.of(held)
    assert list(table) == [replace(j, replies=(), prompt_hash=None) for j in held]
    assert table[-1].outcome == held[-1].outcome and [j.sample_id for j in table[1:3]] == ["b", "c"]
    assert table[3].outcome["correct"] == 1 and type(table[3].outcome["correct"]) is int  # True and 1 kept apart
    assert table.counts() == {"n": 4, "n_invalid": 1, "n_error": 1}
    assert table.error_summary() == {"invalid/parse": 1, "error/media": 1}
    assert table.error_examples() == {"invalid/parse": "b: no verdict", "error/media": "c: image missing"}


def test_columns_widen_with_many_values_and_hold_unhashable_ones():
    from harness.judgment_table import Column

    column = Column(40000)
    for row in range(40000):
        column.set(row, f"v{row}")
    assert column.codes.typecode == "l" and column[39999] == "v39999" and column[128] == "v128"
    mixed = Column(3)
    mixed.set(0, "x")
    mixed.set(2, [1, 2])  # a list: the column switches to holding values
    assert mixed.to_list("absent") == ["x", "absent", [1, 2]]


def test_read_orders_by_the_wanted_ids_and_names_damage(tmp_path):
    from harness.judgment_table import JudgmentTable
    from harness.store import SampleLog

    path = tmp_path / "t.samples.jsonl"
    log = SampleLog(path)
    for j in reversed(_judgments()):
        log.append(j)
    log.close()
    table = JudgmentTable.read(path, ["a", "b", "c", "d"])
    assert [j.sample_id for j in table] == ["a", "b", "c", "d"] and table[0].outcome == {"category": "general",
                                                                                       "correct": True, "n": 1}
    total = sum(int(hashlib.sha256(f"{sid}\t{h}".encode()).hexdigest(), 16)
                for sid, h in (("a", "ab" * 32), ("b", "cd" * 32), ("c", "-"), ("d", "ef" * 32))) % 2 ** 256
    assert table.prompts_digest() == hashlib.sha256(total.to_bytes(32, "big")).hexdigest()
    assert JudgmentTable.of(_judgments()).prompts_digest() == table.prompts_digest()  # written in another order
    with pytest.raises(RuntimeError, match=r"1 sample\(s\) have no record, e.g. \['z'\]"):
        JudgmentTable.read(path, ["a", "z"])
    log = SampleLog(path)
    log.append(_judgments()[0])
    log.close()
    with pytest.raises(RuntimeError, match="sample 'a' has two records"):
        JudgmentTable.read(path, ["a"])


def test_vlrewardbench_scores_a_table_as_it_scores_the_list():
    from harness.judgment_table import STATUSES, JudgmentTable, outcome_array, status_codes
    from harness.records import Judgment
    from tasks.vlrewardbench import CATEGORIES, VLRewardBench

    task = VLRewardBench()
    cfg = task.config("strict", 0, None, None)
    rng = np.random.default_rng(3)
    held = [Judgment(f"s{i}", ("ok", "invalid", "error")[int(rng.integers(0, 3))],
                     {"category": CATEGORIES[int(rng.integers(0, 3))], "correct": bool(rng.integers(0, 2)),
                      "counted": bool(rng.integers(0, 2)), "swapped": bool(rng.integers(0, 2))})
            for i in range(300)]
    as_list, as_table = task.score(held, cfg), task.score(JudgmentTable.of(held), cfg)
    assert as_list.point() == as_table.point() and list(as_list.ids) == list(as_table.ids)
    assert as_list.details == as_table.details
    table = JudgmentTable.of(held)
    assert status_codes(table).tolist() == status_codes(held).tolist() == [STATUSES.index(j.status) for j in held]
    for source in (table, held):
        assert outcome_array(source, "correct", int, np.int64).tolist() == [j.outcome["correct"] for j in held]
        assert outcome_array(source, "missing", lambda v: -1 if v is None else v, np.int64).tolist() == [-1] * 300


def test_packed_ids_read_back_as_they_were_given():
    from harness.judgment_table import IdList, JudgmentTable

    given = ["a", "", "ünï#3f2a", "r" * 300, "b"]
    ids = IdList(given)
    assert list(ids) == given and len(ids) == 5 and ids[2] == "ünï#3f2a" and ids[-1] == "b" and ids[1:3] == given[1:3]
    table = JudgmentTable(ids)
    assert table.ids is ids and [table.ids[i] for i in range(5)] == given
