"""One gate's verdict on one value (:class:`GateResult`) and how a bound or a baseline gate
makes it: the reasons every report shows. :mod:`losscli.gates.rules` applies the gates one
value at a time, :mod:`losscli.gates.columns` every group's at once; both make their
objects here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from losscli.gates.rules import Change

GroupKey = tuple[Any, ...]


def _plain_key(key: Sequence[Any]) -> GroupKey:
    """A group key comparable across a run and a JSON round trip (1 == 1.0 == "1")."""
    return tuple(_plain_part(part) for part in key)


def _plain_part(part: Any) -> Any:
    kind = type(part)
    if kind is str or part is None:
        return part
    if kind is int:
        return str(part)
    if isinstance(part, float) and part.is_integer():
        part = int(part)
    return str(part)


@dataclass(frozen=True)
class GateResult:
    """One gate applied to one value (the total, a group or an output)."""

    name: str  # max | min | max_increase | min_decrease
    threshold: float  # the effective bound the value is compared with
    value: float
    group: dict[str, Any] | None
    passed: bool
    reason: str
    loss: str
    baseline: float | None = None
    allowed: str | None = None  # the --max-increase/--min-decrease text, e.g. "5%"
    # --confidence: pass | fail | inconclusive, the interval at ``level`` (adjusted), ...
    verdict: str | None = None
    interval: tuple[float, float] | None = None
    level: float | None = None
    method: str | None = None
    confidence: float | None = None
    comparisons: int | None = None
    adjust: str | None = None

    @property
    def subject(self) -> str:
        """``mse`` or ``mse [segment=rural]``: what was gated, for reports."""
        return subject(self.loss, self.group)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``gates`` list): non-finite numbers become null."""
        out: dict[str, Any] = {
            "name": self.name,
            "threshold": _finite(self.threshold),
            "value": _finite(self.value),
            "group": self.group,
            "passed": self.passed,
            "reason": self.reason,
        }
        if self.baseline is not None or self.allowed is not None:
            out["baseline"] = _finite(self.baseline)
            out["allowed"] = self.allowed
        if self.confidence is not None:
            out["verdict"] = self.verdict
            out["interval"] = None if self.interval is None else [_finite(x) for x in self.interval]
            out["confidence"] = self.confidence
            out["level"] = self.level
            out["method"] = self.method
            out["comparisons"] = self.comparisons
            out["adjust"] = self.adjust
            if self.baseline is not None and self.interval is not None:
                # the same interval as a change from the baseline (candidate − baseline)
                out["change_interval"] = [_finite(x - self.baseline) for x in self.interval]
        return out

    @property
    def outcome(self) -> str:
        """``pass``, ``fail`` or ``inconclusive`` (the last only with ``--confidence``)."""
        return self.verdict or ("pass" if self.passed else "fail")


def subject(loss: str, group: Mapping[str, Any] | None) -> str:
    if not group:
        return loss
    return f"{loss} [" + ", ".join(f"{k}={v}" for k, v in group.items()) + "]"


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def num(x: float) -> str:
    """A short human form of a number for reasons (JSON carries the exact value)."""
    if math.isnan(x):
        return "NaN"
    return f"{x:.6g}"


@dataclass(frozen=True)
class _Gated:
    """One value to gate: the total, a group's value, or one output column's value."""

    value: float
    group: dict[str, Any] | None
    baseline: float | None  # None: no baseline for this value (a group the baseline lacks)
    own: Any = None  # --confidence: the value's estimate
    difference: Any = None  # the paired difference's estimate (candidate − baseline)
    base_interval: Any = None  # the baseline's own interval source, when known


def _bound(loss: str, item: _Gated, name: str, limit: float) -> GateResult:
    value, what = item.value, subject(loss, item.group)
    if math.isnan(value):
        passed = False
        reason = f"{what} is NaN: a NaN result fails every gate ({name} {num(limit)})"
    elif name == "max":
        passed = value <= limit
        reason = f"{what} = {num(value)} {'<=' if passed else '>'} max {num(limit)}"
    else:
        passed = value >= limit
        reason = f"{what} = {num(value)} {'>=' if passed else '<'} min {num(limit)}"
    return GateResult(name, limit, value, item.group, passed, reason, loss)


def _relative(loss: str, item: _Gated, name: str, change: Change, base: float) -> GateResult:
    value, what = item.value, subject(loss, item.group)
    option = name
    rising = name == "max_increase"
    limit = base + change.allowed(base) if rising else base - change.allowed(base)
    if math.isnan(value) or math.isnan(base):
        which = "is NaN" if math.isnan(value) else "has a NaN baseline"
        ok = False
        reason = f"{what} {which}: a NaN result fails every gate ({option} {change.text})"
    else:
        delta = value - base
        pct = f" ({delta / abs(base):+.2%})" if base != 0 else ""
        moved = f"{delta:+.6g}{pct} vs the baseline {num(base)}"
        ok = value <= limit if rising else value >= limit
        if ok:
            reason = f"{what} = {num(value)}, {moved}: within {option} {change.text}"
        else:
            reason = (
                f"{what} = {num(value)}, {moved}: {'rose' if rising else 'fell'} more than "
                f"{option} {change.text} (limit {num(limit)})"
            )
    return GateResult(
        name, limit, value, item.group, ok, reason, loss, baseline=base, allowed=change.text
    )
