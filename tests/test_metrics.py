"""Metric helpers and the seeded bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.metrics import bootstrap_ci, grouped_accuracy, ratio_pct


def test_grouped_accuracy_by_hand():
    correct = np.array([1, 0, 1, 1, 0, 0], dtype=bool)
    counted = np.array([1, 1, 1, 0, 1, 1], dtype=bool)  # row 3 leaves the denominator
    groups = np.array([0, 0, 1, 1, 2, 2])
    per_group, overall = grouped_accuracy(correct, counted, groups, np.arange(6), 3)
    assert per_group.tolist() == [50.0, 100.0, 0.0]
    assert overall == pytest.approx(100 * 2 / 5)
    # A resample that drops group 2 entirely leaves it undefined, not 0.
    per_group, _ = grouped_accuracy(correct, counted, groups, np.array([0, 1, 2, 2]), 3)
    assert math.isnan(per_group[2])


def test_ratio_of_empty_is_nan():
    assert math.isnan(ratio_pct(0, 0))


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    outcomes = np.array([1] * 70 + [0] * 30, dtype=float)

    def compute(idx):
        return {"acc": 100 * outcomes[idx].mean()}

    lo, hi = bootstrap_ci(compute, 100, seed=3)["acc"]
    # Normal approximation: 70 ± 1.96·sqrt(.7·.3/100)·100 = [61.0, 79.0]
    assert 59 < lo < 63 and 77 < hi < 81


def test_bootstrap_depends_on_the_seed_only():
    values = np.random.default_rng(0).normal(size=200)

    def compute(idx):
        return {"mean": float(values[idx].mean())}

    a, b, c = (bootstrap_ci(compute, 200, seed=s) for s in (3, 3, 4))
    assert a == b and a != c
