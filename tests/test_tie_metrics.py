"""Accuracy with and without ties (VideoAlign), and the three-way tau/diff, on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.metrics import accuracy_with_ties, accuracy_without_ties, three_way


def reference_with_ties(h, m):
    """VideoAlign's algorithm written out as a plain loop, from its description: start with no model
    ties; stable-sort by |m|; move pairs one at a time into the model-tie class; score after each move."""
    stats = {"C": 0, "D": 0, "Th": 0, "Tm": 0, "Thm": 0}
    for hi, mi in zip(h, m):
        stats["Th" if hi == 0 else "C" if hi * mi > 0 else "D"] += 1
    best = -math.inf
    for hi, mi in sorted(zip(h, m), key=lambda pair: abs(pair[1])):
        stats["Th" if hi == 0 else "C" if hi * mi > 0 else "D"] -= 1
        stats["Thm" if hi == 0 else "Tm"] += 1
        best = max(best, (stats["C"] + stats["Thm"]) / len(h))
    return best


def test_the_reference_example():
    h = [1, -1, 0, 1, -1, 0, 1, -1, 0]
    a = [.9, -.7, .1, .8, -.6, .2, .7, -.5, .3]
    b = [.1, -.8, .5, .5, -.3, .3, .4, -.4, .4]
    m = [x - y for x, y in zip(a, b)]
    assert accuracy_with_ties(h, m) == pytest.approx(0.6667, abs=5e-5)
    assert accuracy_without_ties(h, m) == pytest.approx(0.8333, abs=5e-5)


def test_the_quirks_of_the_reference_and_the_calibrated_variant():
    # The no-tie state (all three right) is never scored by the reference.
    assert accuracy_with_ties([1, 1, 1], [1, 2, 3], "videoalign") == pytest.approx(2 / 3)
    assert accuracy_with_ties([1, 1, 1], [1, 2, 3], "calibrated") == 1.0
    # Equal |m| move one at a time, so row order decides.
    assert accuracy_with_ties([0, 1, 1], [.5, .5, .5], "videoalign") == 1.0
    assert accuracy_with_ties([1, 1, 0], [.5, .5, .5], "videoalign") == pytest.approx(1 / 3)
    # The calibrated variant moves all three together: no-tie 2/3 beats all-tie 1/3, whatever the order.
    assert accuracy_with_ties([0, 1, 1], [.5, .5, .5], "calibrated") == pytest.approx(2 / 3)
    assert accuracy_with_ties([1, 1, 0], [.5, .5, .5], "calibrated") == pytest.approx(2 / 3)


def test_zero_margin_on_a_preferred_pair_is_discordant():
    assert accuracy_without_ties([1, -1, 1], [0.0, -2.0, 1.0]) == pytest.approx(2 / 3)
    assert math.isnan(accuracy_without_ties([0, 0], [1.0, -1.0]))


def test_matches_the_reference_loop_on_random_data_with_repeated_margins():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        h = rng.choice([1, -1, 0], size=n).tolist()
        m = (rng.integers(-4, 5, size=n) / 2).tolist()  # many equal |m|, zeros included
        assert accuracy_with_ties(h, m) == pytest.approx(reference_with_ties(h, m), abs=1e-12)
        calibrated = accuracy_with_ties(h, m, "calibrated")
        # The calibrated value is the best over real thresholds: check against brute force.
        thresholds = [-1.0] + sorted({abs(x) for x in m})
        brute = max(sum((hi == 0) == (abs(mi) <= e) and (hi == 0 or hi * mi > 0) for hi, mi in zip(h, m)) / n
                    for e in thresholds)
        assert calibrated == pytest.approx(brute, abs=1e-12)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="only 1, -1 and 0"):
        accuracy_with_ties([2], [0.1])
    with pytest.raises(ValueError, match="finite"):
        accuracy_with_ties([1], [float("nan")])
    with pytest.raises(ValueError, match="variant"):
        accuracy_with_ties([1], [0.1], "exact")
    assert math.isnan(accuracy_with_ties([], []))


def test_three_way_tau_and_diff_by_hand():
    # 5 pairs, 2 human ties; correct on pairs 0, 1 (non-ties) and 3 (a tie).
    correct = [True, True, False, True, False]
    tie = [False, False, False, True, True]
    tau, diff = three_way(correct, tie)
    assert tau == pytest.approx(100 * 3 / 5) and diff == pytest.approx(100 * 2 / 3)
