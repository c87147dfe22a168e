"""Coverage of losscli's confidence intervals by simulation (issue 14), larger than the test suite.

For each setting, ``--reps`` data sets with a known true value are drawn (seeded), the interval is
computed by losscli's own streamed states, and the share of intervals that contain the truth is
reported with its binomial standard error. A 95% interval should cover ~95%.

Settings: the paired mean difference of squared errors (t interval from streamed moments, and the
Poisson bootstrap), weighted and not, at several sample sizes, plus rmse (bootstrap) and the
median absolute error (the quantile bootstrap: each replicate's exact weighted median) against
their true values. Rows are heavy-tailed (t with 5 degrees of freedom) so normal theory is not a freebie.

Usage: ``python bench/coverage.py [--reps 2000] [--sizes 50,200,1000] [--replicates 200]``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from losscli.stats.intervals import (
    BootstrapEstimate,
    PoissonWeights,
    ReplicateSums,
    WeightedMoments,
)
from losscli.stats.replicate_quantiles import ReplicateQuantiles, RowPositions, Rule, View

NOISE_C, NOISE_B = 1.0, 1.15  # candidate / baseline prediction noise scales
DF = 30  # t noise: variance df/(df − 2)


def _data(rng: np.random.Generator, n: int, weighted: bool) -> tuple[np.ndarray, ...]:
    e_c = NOISE_C * rng.standard_t(DF, size=n)
    e_b = NOISE_B * rng.standard_t(DF, size=n)
    w = rng.uniform(0.2, 2.0, size=n) if weighted else np.ones(n)
    return e_c**2, e_b**2, w


def _truths() -> tuple[float, float, float]:
    import scipy.stats  # the t quantile of the true median absolute error (a bench-only need)

    var = DF / (DF - 2)  # E[t²]
    diff = (NOISE_C**2 - NOISE_B**2) * var
    rmse = NOISE_C * math.sqrt(var)
    median = NOISE_C * float(scipy.stats.t.ppf(0.75, DF))  # median of |c·t|
    return diff, rmse, median


def _median_replicates(errors: np.ndarray, w: np.ndarray | None, seed: int, b: int) -> np.ndarray:
    positions = RowPositions()
    positions.add(0, errors.size)
    rule = Rule("median", 0.5) if w is None else Rule("avg_cdf", 0.5)
    bootstrap = ReplicateQuantiles(errors[None], None, w, positions, PoissonWeights(seed, b), rule)
    out: np.ndarray = bootstrap.replicates(View(None, 1))[0, 0]
    return out


def run(reps: int, sizes: list[int], replicates: int, confidence: float) -> list[dict]:
    true_diff, true_rmse, true_median = _truths()
    out = []
    for n in sizes:
        for weighted in (False, True):
            hits = {"diff t": 0, "diff bootstrap": 0, "rmse bootstrap": 0, "median bootstrap": 0}
            started = time.perf_counter()
            for rep in range(reps):
                rng = np.random.default_rng([n, int(weighted), rep])
                sq_c, sq_b, w = _data(rng, n, weighted)
                moments = WeightedMoments(1)
                moments.add((sq_c - sq_b)[None, :], w if weighted else None)
                lo, hi = moments.estimate().interval(confidence)
                hits["diff t"] += lo <= true_diff <= hi
                sums = ReplicateSums(3, replicates)
                sums.add(np.stack([w * sq_c, w * sq_b, w]), PoissonWeights(rep, replicates), 0)
                s = sums.sums
                diff = BootstrapEstimate(0.0, s[0] / s[2] - s[1] / s[2])
                lo, hi = diff.interval(confidence)
                hits["diff bootstrap"] += lo <= true_diff <= hi
                rmse = BootstrapEstimate(0.0, np.sqrt(s[0] / s[2]))
                lo, hi = rmse.interval(confidence)
                hits["rmse bootstrap"] += lo <= true_rmse <= hi
                errors = np.sqrt(sq_c)
                reps_median = _median_replicates(errors, w if weighted else None, rep, replicates)
                lo, hi = BootstrapEstimate(0.0, reps_median).interval(confidence)
                hits["median bootstrap"] += lo <= true_median <= hi
            seconds = time.perf_counter() - started
            for name, count in hits.items():
                share = count / reps
                out.append(
                    {
                        "n": n,
                        "weighted": weighted,
                        "interval": name,
                        "coverage": share,
                        "se": math.sqrt(share * (1 - share) / reps),
                        "seconds": seconds,
                    }
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--sizes", default="50,200,1000")
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--confidence", type=float, default=0.95)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = run(args.reps, sizes, args.replicates, args.confidence)
    print(f"coverage of {args.confidence:g} intervals, {args.reps} repetitions each")
    print(f"{'n':>6}  {'weights':8}  {'interval':16}  {'coverage':>8}  {'± se':>6}")
    for r in rows:
        weights = "yes" if r["weighted"] else "no"
        print(f"{r['n']:>6}  {weights:8}  {r['interval']:16}  {r['coverage']:8.3f}  {r['se']:6.3f}")


if __name__ == "__main__":
    main()
