"""`harness compare` on two large runs against a direct computation of the same statistics.

    python bench/compare_scale.py [--n 100000] [--resamples 2000] [--repeat 3]

Two VL-RewardBench runs of the same N synthetic rows by two scripted judges (different `model_id`, so their
verdicts differ item by item) are made once with the CLI. Then, each in its own subprocess (peak RSS from
`os.wait4`, wall including interpreter start-up):
- `python -m harness compare A B --json OUT --resamples R`;
- the direct computation, `python bench/compare_scale.py --direct A B OUT R`: both samples files read line
  by line into numpy arrays (correct, counted, category), paired by id, then per metric (overall and the
  three categories) the exact McNemar test from the discordant counts and the paired percentile bootstrap
  with the same draws (numpy PCG64 from seed 0, one `integers(0, n, n)` per replicate) — what a user would
  write by hand, with nothing of the harness imported.
The figures are medians over --repeat; the two outputs must agree (b, c exactly; delta, CI, p to 1e-12).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
CATEGORIES = ("general", "hallucination", "reasoning")
METRICS = ("overall_accuracy", *(f"accuracy/{c}" for c in CATEGORIES))


# ---- the direct computation (runs as `--direct A B OUT R` in a child) -------------------------------------
def _arrays(run: Path):
    import numpy as np

    ids, correct, counted, group = [], [], [], []
    code = {c: i for i, c in enumerate(CATEGORIES)}
    with open(run / "vlrewardbench.samples.jsonl", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record["status"] == "error":
                continue
            outcome = record["outcome"]
            ids.append(record["id"])
            correct.append(bool(outcome.get("correct")))
            counted.append(bool(outcome.get("counted")))
            group.append(code[outcome["category"]])
    return ids, np.array(correct), np.array(counted), np.array(group)


def _mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar: min(1, 2·P[X <= min(b, c)]), X ~ Binomial(b + c, 1/2), in exact integers (the
    binomial coefficients by their recurrence)."""
    n, k = b + c, min(b, c)
    term = tail = 1  # C(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)
        tail += term
    return min(1.0, 2 * tail / (1 << n))


def direct(base: Path, cand: Path, out: Path, resamples: int) -> None:
    import numpy as np

    b_ids, b_right, b_counted, b_group = _arrays(base)
    c_ids, c_right, c_counted, c_group = _arrays(cand)
    where = {sid: i for i, sid in enumerate(c_ids)}
    b_rows = np.arange(len(b_ids))
    c_rows = np.array([where[sid] for sid in b_ids])
    masks = {"overall_accuracy": (np.ones(len(b_ids), bool), np.ones(len(c_ids), bool))}
    masks.update({f"accuracy/{name}": (b_group == i, c_group == i) for i, name in enumerate(CATEGORIES)})

    def accuracy(right, counted, mask, idx):  # 100·hits/total over idx, NaN for an empty denominator
        keep = (counted & mask)[idx]
        total = keep.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, 100.0 * (right[idx] & keep).sum(axis=-1) / np.where(total > 0, total, 1),
                            np.nan)

    rng = np.random.default_rng(0)
    n = len(b_ids)
    reps: dict[str, list] = {name: [] for name in METRICS}
    done = 0
    while done < resamples:  # replicates in chunks of ~1M indices (one integers(0, n, n) call each, in order)
        k = min(max(1, (1 << 20) // n), resamples - done)
        idx = np.stack([rng.integers(0, n, size=n) for _ in range(k)])
        for name, (b_mask, c_mask) in masks.items():
            reps[name].append(accuracy(c_right, c_counted, c_mask, c_rows[idx])
                              - accuracy(b_right, b_counted, b_mask, b_rows[idx]))
        done += k
    result = {}
    for name, (b_mask, c_mask) in masks.items():
        both = (b_counted & b_mask)[b_rows] & (c_counted & c_mask)[c_rows]
        right_b, right_c = b_right[b_rows][both], c_right[c_rows][both]
        b, c = int(np.sum(right_b & ~right_c)), int(np.sum(~right_b & right_c))
        arr = np.concatenate(reps[name])
        arr = arr[~np.isnan(arr)]
        delta = float(accuracy(c_right, c_counted, c_mask, c_rows)) - float(accuracy(b_right, b_counted, b_mask,
                                                                                     b_rows))
        result[name] = {"delta": delta, "ci": [float(np.quantile(arr, 0.025)), float(np.quantile(arr, 0.975))],
                        "b": b, "c": c, "p_value": _mcnemar(b, c)}
    out.write_text(json.dumps(result), encoding="utf-8")


# ---- the parent -------------------------------------------------------------------------------------------
def measured(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one child."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # compare exits 1 when a gate fails: still a comparison
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({code}): {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def _same(a, b) -> bool:
    """Counts exactly; floats to 1e-12 relative (the harness sums per category with bincount, the direct code with
    boolean sums: an interval end can differ in its last binary digit)."""
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def make_runs(root: Path, n: int) -> tuple[Path, Path]:
    from scale import make_data

    data = make_data(root / "data", n, 16)
    runs = []
    for judge in ("judge-a", "judge-b"):
        out = root / judge
        subprocess.run([sys.executable, "-m", "harness", "run", "--tasks", "vlrewardbench", "--model", "scripted",
                        "--model-args", f"needs_media=false,model_id={judge}", "--data-dir", str(data),
                        "--output", str(out), "--no-cache", "-q"], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "HARNESS_CACHE_DIR": str(root / "cache")})
        runs.append(next(d for d in out.iterdir() if d.is_dir()))
    return runs[0], runs[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--direct", nargs=4, metavar=("A", "B", "OUT", "R"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct:
        a, b, out, r = args.direct
        direct(Path(a), Path(b), Path(out), int(r))
        return
    with tempfile.TemporaryDirectory(prefix="compare-bench-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        base, cand = make_runs(root, args.n)
        print(f"[two runs of {args.n:,} rows made in {time.perf_counter() - start:.0f} s]", file=sys.stderr)
        ours, plain = root / "compare.json", root / "direct.json"
        harness_cmd = [sys.executable, "-m", "harness", "compare", str(base), str(cand), "--json", str(ours),
                       "--resamples", str(args.resamples)]
        direct_cmd = [sys.executable, __file__, "--direct", str(base), str(cand), str(plain), str(args.resamples)]
        figures: dict[str, list[tuple[float, float]]] = {"harness compare": [], "direct (numpy, by hand)": []}
        for _ in range(args.repeat):
            figures["harness compare"].append(measured(harness_cmd))
            figures["direct (numpy, by hand)"].append(measured(direct_cmd))
        got = json.loads(ours.read_text())["tasks"]["vlrewardbench"]["metrics"]
        want = json.loads(plain.read_text())
        same = all(_same(got[m][k], want[m][k]) for m in METRICS for k in ("delta", "ci", "b", "c", "p_value"))
        if not same:
            for m in METRICS:
                print(m, {k: (got[m][k], want[m][k]) for k in ("delta", "ci", "b", "c", "p_value")
                          if got[m][k] != want[m][k]}, file=sys.stderr)
    print(f"`harness compare` of two {args.n:,}-row VL-RewardBench runs, {args.resamples} paired resamples, "
          f"median of {args.repeat}, {os.cpu_count()} CPU(s)\n")
    print("| what | wall | peak RSS |\n|---|---:|---:|")
    base_wall = statistics.median(w for w, _ in figures["direct (numpy, by hand)"])
    base_rss = statistics.median(r for _, r in figures["direct (numpy, by hand)"])
    for name, runs in figures.items():
        wall, rss = statistics.median(w for w, _ in runs), statistics.median(r for _, r in runs)
        print(f"| {name} | {wall:.2f} s ({wall / base_wall:.2f}×) | {rss:.0f} MB ({rss / base_rss:.2f}×) |")
    print(f"\nsame numbers (delta, CI, b, c, p for {', '.join(METRICS)}; counts exact, floats to 1e-12): "
          f"{'yes' if same else 'NO'}")
    for m in METRICS:
        print(f"  {m}: delta {got[m]['delta']:.4f}, CI [{got[m]['ci'][0]:.4f}, {got[m]['ci'][1]:.4f}], "
              f"b {got[m]['b']}, c {got[m]['c']}, p {got[m]['p_value']:.4g}")
    if not same:
        raise SystemExit("the harness and the direct computation disagree")


if __name__ == "__main__":
    main()
