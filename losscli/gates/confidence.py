"""Gate verdicts with confidence intervals (``--confidence``): pass, fail or inconclusive.

Every gated value carries an interval in the value's own units:

* a threshold gate (``max``/``min``) uses the value's own interval;
* a baseline gate paired row by row (``--baseline-pred``) uses ``baseline + [lo, hi]`` of the
  per-row difference candidate − baseline (far tighter than two separate intervals);
* a baseline without rows (a JSON result, or another predictions file) is a fixed number
  unless its interval is known: then the two independent intervals are combined with
  Newcombe's MOVER (``d ± sqrt(side_c² + side_b²)``, one side at a time).

Decision against a limit: ``fail`` if the interval lies wholly beyond it (a significant breach),
``pass`` if wholly within, else ``inconclusive`` (``--inconclusive pass|fail`` decides the exit
status). Each comparison is one-sided at error ``(1 − C)/2``. ``--adjust bonferroni`` widens every
interval to ``1 − (1 − C)/m`` for the ``m`` comparisons of a loss (total, groups, outputs,
gates); ``--adjust holm`` runs Holm's step-down on the one-sided breach p-values, and reports
each interval at the level of its step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from losscli.errors import UsageError

if TYPE_CHECKING:
    from losscli.gates.rules import GateResult
    from losscli.stats.intervals import Estimate

ADJUSTMENTS = ("none", "bonferroni", "holm")
INCONCLUSIVE = ("pass", "fail")


@dataclass(frozen=True)
class ConfidenceSpec:
    """``--confidence`` and its companions."""

    level: float
    inconclusive: str = "pass"
    bootstrap: int | None = None
    seed: int = 0
    adjust: str = "none"

    def __post_init__(self) -> None:
        if not (isinstance(self.level, float | int) and 0.5 <= self.level < 1):
            raise UsageError(f"--confidence must be in [0.5, 1), e.g. 0.95 (got {self.level!r})")
        if self.inconclusive not in INCONCLUSIVE:
            raise UsageError(f"--inconclusive must be pass or fail (got {self.inconclusive!r})")
        if self.adjust not in ADJUSTMENTS:
            raise UsageError(
                f"--adjust must be one of {', '.join(ADJUSTMENTS)} (got {self.adjust!r})"
            )
        if self.bootstrap is not None and not (1 <= self.bootstrap <= 100_000):
            raise UsageError(f"--bootstrap must be 1 … 100000 replicates (got {self.bootstrap})")
        if not 0 <= self.seed < 2**64:
            raise UsageError(f"--seed must be in 0 … 2**64 − 1 (got {self.seed})")


class StoredInterval:
    """An interval known only by its ends at some confidence (a JSON baseline): other levels
    scale each side by the ratio of normal quantiles."""

    method = "stored"

    def __init__(self, estimate: float, lo: float, hi: float, confidence: float) -> None:
        self.estimate = estimate
        self.lo = lo
        self.hi = hi
        self.confidence = confidence

    def interval(self, level: float) -> tuple[float, float]:
        from losscli.stats.intervals import normal_quantile

        scale = normal_quantile(0.5 + level / 2) / normal_quantile(0.5 + self.confidence / 2)
        v = self.estimate
        return (v - (v - self.lo) * scale, v + (self.hi - v) * scale)


class ValueInterval:
    """The interval of a gated value at any confidence level, and its method."""

    def __init__(self, interval: Callable[[float], tuple[float, float]], method: str) -> None:
        self.interval = interval
        self.method = method

    @classmethod
    def of(cls, estimate: Estimate, offset: float = 0.0, paired: bool = False) -> ValueInterval:
        def interval(level: float) -> tuple[float, float]:
            lo, hi = estimate.interval(level)
            return (lo + offset, hi + offset)

        method = estimate.method + (" paired" if paired else "")
        return cls(interval, method)

    @classmethod
    def mover(cls, candidate: Any, baseline: Any) -> ValueInterval:
        """Newcombe's MOVER for candidate − baseline (independent), in candidate units."""

        def interval(level: float) -> tuple[float, float]:
            lo_c, hi_c = candidate.interval(level)
            lo_b, hi_b = baseline.interval(level)
            v, b = candidate.estimate, baseline.estimate
            down = math.hypot(v - lo_c, hi_b - b)
            up = math.hypot(hi_c - v, b - lo_b)
            return (v - down, v + up)

        return cls(interval, f"{candidate.method}+{baseline.method} mover")

    def p_breach(self, limit: float, upper: bool) -> float:
        """The smallest one-sided error at which the interval lies wholly beyond ``limit``
        (bisection over the level; 1 if never)."""

        def beyond(alpha: float) -> bool:
            lo, hi = self.interval(1 - 2 * alpha)
            return lo > limit if upper else hi < limit

        if not beyond(0.5 - 1e-12):
            return 1.0
        low, high = 0.0, 0.5 - 1e-12
        for _ in range(50):
            mid = (low + high) / 2
            if beyond(mid):
                high = mid
            else:
                low = mid
        return high


@dataclass(frozen=True)
class Comparison:
    """A gate awaiting its confidence verdict."""

    gate: GateResult
    interval: ValueInterval | None  # None: no interval (NaN value): the plain verdict stands
    upper: bool  # the limit is an upper bound (max, max_increase)


def judge(comparisons: Sequence[Comparison], spec: ConfidenceSpec) -> list[GateResult]:
    """The gates with intervals and verdicts at the (adjusted) level."""
    m = sum(1 for c in comparisons if c.interval is not None)
    alpha = (1 - spec.level) / 2  # one-sided error of a two-sided C interval
    levels: list[float] = [spec.level] * len(comparisons)
    forced_fail: set[int] = set()
    if spec.adjust == "bonferroni" and m:
        levels = [1 - 2 * alpha / m] * len(comparisons)
    elif spec.adjust == "holm" and m:
        judged = [i for i, c in enumerate(comparisons) if c.interval is not None]
        p = {
            i: comparisons[i].interval.p_breach(  # type: ignore[union-attr]
                comparisons[i].gate.threshold, comparisons[i].upper
            )
            for i in judged
        }
        order = sorted(judged, key=lambda i: p[i])
        rejected = 0
        for i in order:
            level_here = alpha / (m - rejected)
            if p[i] > level_here:
                break
            forced_fail.add(i)
            levels[i] = 1 - 2 * level_here
            rejected += 1
        rest = 1 - 2 * alpha / (m - rejected) if rejected < m else spec.level
        for i in order:
            if i not in forced_fail:
                levels[i] = rest
    out = []
    for i, c in enumerate(comparisons):
        out.append(_verdict(c, levels[i], spec, m, i in forced_fail))
    return out


def _verdict(
    c: Comparison, level: float, spec: ConfidenceSpec, m: int, holm_fail: bool
) -> GateResult:
    gate = c.gate
    common: dict[str, Any] = {"confidence": spec.level, "comparisons": m, "adjust": spec.adjust}
    if c.interval is None or math.isnan(gate.value) or math.isnan(gate.threshold):
        # no interval, a NaN value or a NaN limit (a NaN baseline): the plain verdict stands
        # (a NaN fails every gate); an interval cannot straddle a NaN into a pass
        return replace(gate, verdict="pass" if gate.passed else "fail", **common)
    lo, hi = c.interval.interval(level)
    limit = gate.threshold
    if math.isnan(lo) or math.isnan(hi):  # e.g. a group of one row: nothing is shown
        verdict = "inconclusive"
        note = "too few rows"
    elif holm_fail or (lo > limit if c.upper else hi < limit):
        verdict = "fail"
        note = "the interval lies wholly beyond the limit: a significant breach"
    elif hi <= limit if c.upper else lo >= limit:
        verdict = "pass"
        note = "the interval lies within the limit"
    else:
        verdict = "inconclusive"
        note = "the interval straddles the limit"
    passed = verdict == "pass" or (verdict == "inconclusive" and spec.inconclusive == "pass")
    shown = f"{level:.6g}" if level != spec.level else f"{spec.level:g}"
    if math.isnan(lo) or math.isnan(hi):
        reason = f"{gate.reason}; no {shown} interval: {note}"
    else:
        reason = f"{gate.reason}; {shown} interval [{_num(lo)}, {_num(hi)}]: {note}"
    if verdict == "inconclusive":
        reason += f" (counted as {spec.inconclusive}: --inconclusive {spec.inconclusive})"
    return replace(
        gate,
        passed=passed,
        reason=reason,
        verdict=verdict,
        interval=(lo, hi),
        level=level,
        method=c.interval.method,
        **common,
    )


def _num(x: float) -> str:
    return "NaN" if math.isnan(x) else f"{x:.6g}"
