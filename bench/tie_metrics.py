"""Tie-calibrated accuracy on 26,500 random pairs (VideoGen-RewardBench's size).

    python bench/tie_metrics.py [--pairs 26500] [--repeats 5]

Times `harness.metrics.accuracy_with_ties` (both variants) and `accuracy_without_ties` against a plain
Python loop of the reference algorithm (the test suite's transcription), in the same process, and
checks they agree. Margins are rounded to 2 decimals so many pairs share one |m|, as real scores do.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.metrics import accuracy_with_ties, accuracy_without_ties  # noqa: E402
from tests.test_tie_metrics import reference_with_ties  # noqa: E402


def timed(fn, repeats):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=26500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    h = rng.choice([1, -1, 0], size=args.pairs, p=[0.4, 0.4, 0.2])
    m = np.round(rng.normal(size=args.pairs) + 0.3 * h, 2)
    h_list, m_list = h.tolist(), m.tolist()
    rows = [
        ("reference loop (pure Python)", lambda: reference_with_ties(h_list, m_list)),
        ("accuracy_with_ties, videoalign", lambda: accuracy_with_ties(h, m, "videoalign")),
        ("accuracy_with_ties, calibrated", lambda: accuracy_with_ties(h, m, "calibrated")),
        ("accuracy_without_ties", lambda: accuracy_without_ties(h, m)),
    ]
    results = [(name, *timed(fn, args.repeats)) for name, fn in rows]
    base = results[0][1]
    assert abs(results[0][2] - results[1][2]) < 1e-12, "videoalign variant disagrees with the reference loop"
    print(f"{args.pairs} pairs, median of {args.repeats}\n")
    print("| computation | ms | value | × faster than the loop |")
    print("|---|---:|---:|---:|")
    for name, seconds, value in results:
        print(f"| {name} | {1000 * seconds:.1f} | {value:.4f} | {base / seconds:.1f} |")


if __name__ == "__main__":
    main()
