"""Gates: thresholds and baseline comparisons that turn results into a pass/fail verdict (SPEC §5).

Pure functions over :class:`~losscli.engine.LossResult` values. A gate checks the total and
every group's value (and every output's, with ``--per output``); a NaN value fails any gate.

- ``max`` / ``min``: absolute bounds on the value.
- ``max_increase``: the value may rise at most X (``0.01``) or X% (``5%`` of |baseline|) above
  the baseline: the regression guard for lower-is-better losses.
- ``min_decrease``: the value may fall at most X below the baseline: the regression guard for
  higher-is-better metrics such as r2. Which one applies comes from ``LossSpec.higher_is_better``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from losscli.errors import UsageError

if TYPE_CHECKING:
    from losscli.engine import LossResult
    from losscli.engine.intervals import Intervals
    from losscli.gates.columns import Gates
    from losscli.gates.confidence import ConfidenceSpec

from losscli.gates.results import (  # noqa: F401 (the names gates.rules has always offered)
    GateResult,
    GroupKey,
    _bound,
    _finite,
    _Gated,
    _plain_key,
    _relative,
    num,
    subject,
)


# -- gate settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """An allowed change relative to a baseline: absolute (``0.01``) or a fraction (``5%``)."""

    amount: float
    relative: bool
    text: str

    @classmethod
    def parse(cls, text: str | float, option: str) -> Change:
        """``"5%"`` → 5 % of |baseline|; ``"0.01"`` or ``0.01`` → an absolute change."""
        raw = str(text).strip()
        relative = raw.endswith("%")
        number = raw[:-1].strip() if relative else raw
        try:
            amount = float(number)
        except ValueError:
            amount = math.nan
        if not math.isfinite(amount) or amount < 0:
            raise UsageError(
                f"{option} must be a number ≥ 0 or a percentage such as 5% (got {raw!r})"
            )
        return cls(amount / 100 if relative else amount, relative, raw)

    def allowed(self, baseline: float) -> float:
        return self.amount * abs(baseline) if self.relative else self.amount


@dataclass(frozen=True)
class GateSpec:
    """The gates asked for on one loss."""

    max: float | None = None
    min: float | None = None
    max_increase: Change | None = None
    min_decrease: Change | None = None
    confidence: ConfidenceSpec | None = None  # --confidence: interval verdicts

    @property
    def needs_baseline(self) -> bool:
        return self.max_increase is not None or self.min_decrease is not None

    def applying_to(self, higher_is_better: bool) -> GateSpec:
        """Only the baseline gate that guards against regressions of this metric's direction:
        ``max_increase`` for losses, ``min_decrease`` for higher-is-better metrics."""
        if higher_is_better:
            return GateSpec(self.max, self.min, None, self.min_decrease, self.confidence)
        return GateSpec(self.max, self.min, self.max_increase, None, self.confidence)


def check_direction(spec: GateSpec, losses: Sequence[tuple[str, bool]]) -> None:
    """A baseline gate must guard the regression direction of at least one loss.

    ``losses`` holds ``(name, higher_is_better)``. ``--max-increase`` on a higher-is-better
    metric (or ``--min-decrease`` on a loss) would only cap improvements: a usage error.
    """
    if spec.max_increase is not None and all(hib for _, hib in losses):
        names = ", ".join(name for name, _ in losses)
        raise UsageError(
            f"--max-increase limits a rise, but {names} is higher-is-better (a rise is an "
            f"improvement); gate a drop against the baseline with --min-decrease"
        )
    if spec.min_decrease is not None and not any(hib for _, hib in losses):
        names = ", ".join(name for name, _ in losses)
        raise UsageError(
            f"--min-decrease limits a drop, but {names} is lower-is-better (a drop is an "
            f"improvement); gate a rise against the baseline with --max-increase"
        )


# -- baselines ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Baseline:
    """The reference values a candidate is compared with: the total and per group."""

    value: Any  # float, list of floats (--per output) or None (NaN)
    groups: Mapping[GroupKey, Any] = field(default_factory=dict)
    source: str = "baseline"
    # --confidence: per value (None: total), a list of interval sources, one per output
    intervals: Mapping[GroupKey | None, list[Any]] = field(default_factory=dict)


def baseline_from_result(result: LossResult, source: str) -> Baseline:
    """A baseline from a result computed in this run (a predictions file or column): its
    groups keyed from the table's columns (no object per group)."""
    from losscli.gates.columns import plain_keys

    intervals: dict[GroupKey | None, list[Any]] = {}
    if result.intervals is not None:
        intervals[None] = result.intervals.value
    table = result.groups
    keys = plain_keys(table) if len(table) else []
    for key, own in zip(keys, table.intervals or [], strict=False):
        if own is not None:
            intervals[key] = own.value
    return Baseline(
        value=result.value,
        groups=dict(zip(keys, table.values.tolist(), strict=True)),
        source=source,
        intervals=intervals,
    )


def is_result_json(path: str) -> bool:
    """Whether ``path`` holds a JSON result written by losscli (not a predictions file)."""
    from losscli.io.sources import is_remote

    if is_remote(path):
        from losscli.io import remote  # object-storage clients load only for a URI

        head = remote.read_head(path, 4096)
        return _looks_like_result(head)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return _looks_like_result(head)


def _looks_like_result(head: bytes) -> bool:
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()  # a byte-order mark, then blanks
    return head[:1] == b"{" and b'"schema_version"' in head


def baseline_from_json(
    path: str,
    loss: str,
    params: Mapping[str, Any],
    reduction: str,
    per: str,
    group_by: Sequence[str],
) -> Baseline:
    """The entry of a losscli JSON result (single, ``eval`` or ``check`` output) that matches
    the loss, its parameters, reduction and ``--per``; a usage error names what the file holds."""
    from losscli.io.sources import is_remote

    try:
        if is_remote(path):
            from losscli.io import remote

            doc = json.loads(remote.read_all(path).decode("utf-8-sig"))
        else:
            with open(path, encoding="utf-8-sig") as fh:  # -sig: a byte-order mark is not JSON
                doc = json.load(fh)
    except (OSError, ValueError, RecursionError) as exc:
        raise UsageError(f"cannot read the baseline JSON: {exc}", file=path) from None
    if not isinstance(doc, dict):
        raise UsageError("not a losscli JSON result", file=path)
    entries = doc.get("results") or doc.get("checks") or [doc]
    if not isinstance(entries, list):
        raise UsageError("not a losscli JSON result ('results'/'checks' is not a list)", file=path)
    entries = [e for e in entries if isinstance(e, dict) and "loss" in e]
    wanted = {k: _json_number(v) for k, v in params.items()}
    for entry in entries:
        if (
            entry.get("loss") == loss
            and {k: _json_number(v) for k, v in (entry.get("params") or {}).items()} == wanted
            and entry.get("reduction", reduction) == reduction
            and entry.get("per", per) == per
        ):
            groups: dict[GroupKey, Any] = {}
            intervals: dict[GroupKey | None, list[Any]] = {}
            stored = _stored_intervals(entry)
            if stored:
                intervals[None] = stored
            listed = entry.get("groups") or []
            if not isinstance(listed, list) or not all(isinstance(g, dict) for g in listed):
                raise UsageError(f"{loss}: 'groups' is not a list of groups", file=path)
            single = per != "output"  # a group's value is one number
            if single and len(group_by) == 1:
                groups, intervals = _single_key_groups(listed, group_by[0], loss, path, intervals)
                listed = []  # read
            for g in listed:
                key = g.get("key") or {}
                if isinstance(key, dict) and all(c in key for c in group_by):
                    plain = _plain_key([key[c] for c in group_by])
                    value = g.get("value")
                    if single and type(value) is float and value - value == 0:
                        groups[plain] = value  # a finite number: the common case, checked
                    else:
                        groups[plain] = _baseline_value(value, per, path, f"{loss} {key}")
                    if "interval" in g:
                        stored = _stored_intervals(g)
                        if stored:
                            intervals[plain] = stored
            value = _baseline_value(entry.get("value"), per, path, loss)
            return Baseline(value, groups, path, intervals)
    held = ", ".join(
        f"{e.get('loss')}({_params_text(e.get('params') or {})}) {e.get('reduction')}"
        for e in entries
    )
    raise UsageError(
        f"no baseline for {loss}({_params_text(params)}) {reduction}, --per {per}; "
        f"the file holds: {held or 'no results'}",
        file=path,
    )


def _single_key_groups(
    listed: list[dict[str, Any]],
    column: str,
    loss: str,
    path: str,
    intervals: dict[GroupKey | None, list[Any]],
) -> tuple[dict[GroupKey, Any], dict[GroupKey | None, list[Any]]]:
    """:func:`baseline_from_json`'s groups of one key column and one value each, read in a
    tight loop (a million groups): the same keys, values and checks as the general one."""
    groups: dict[GroupKey, Any] = {}
    for g in listed:
        key = g.get("key")
        if type(key) is not dict or column not in key:
            continue
        part = key[column]
        kind = type(part)
        plain = (part,) if kind is str else (str(part),) if kind is int else _plain_key((part,))
        value = g.get("value")
        if type(value) is float and value - value == 0:
            groups[plain] = value  # a finite number: the common case, checked
        else:
            groups[plain] = _baseline_value(value, "all", path, f"{loss} {key}")
        if "interval" in g:
            stored = _stored_intervals(g)
            if stored:
                intervals[plain] = stored
    return groups, intervals


def _stored_intervals(entry: Mapping[str, Any]) -> list[Any]:
    """The intervals a JSON result written with ``--confidence`` carries (``interval``:
    ``[lo, hi]``, or one pair per output, at ``confidence``); [] if none or malformed."""
    from losscli.gates.confidence import StoredInterval

    interval, level, value = entry.get("interval"), entry.get("confidence"), entry.get("value")
    if not isinstance(level, int | float) or not 0 < level < 1 or interval is None:
        return []
    values = value if isinstance(value, list) else [value]
    pairs = interval if value is not None and isinstance(value, list) else [interval]
    out = []
    for v, pair in zip(values, pairs, strict=False):
        if not (isinstance(pair, list) and len(pair) == 2):
            return []
        if not all(isinstance(x, int | float) for x in (v, *pair)):
            return []
        out.append(StoredInterval(float(v), float(pair[0]), float(pair[1]), float(level)))
    return out if len(out) == len(values) else []


def _json_number(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _baseline_value(value: Any, per: str, path: str, what: str) -> Any:
    """A stored value as the gates compare it: a number (null: NaN), a list of them with
    ``--per output``; anything else — text, a boolean, an infinity, the wrong shape — would be
    a silent wrong limit, so it is an error naming the file and the entry."""

    def number(x: Any) -> bool:
        return x is None or (
            isinstance(x, int | float) and not isinstance(x, bool) and not math.isinf(x)
        )

    wanted_list = per == "output"
    if wanted_list:
        ok = isinstance(value, list) and bool(value) and all(number(v) for v in value)
    else:
        ok = number(value)
    if not ok:
        shape = "a list of finite numbers (--per output)" if wanted_list else "a finite number"
        raise UsageError(
            f"the baseline value of {what} must be {shape} (got {json.dumps(value)[:80]})",
            file=path,
        )
    return _from_json(value)


def _from_json(value: Any) -> Any:
    if value is None:
        return math.nan
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return float(value)


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


# -- evaluation ---------------------------------------------------------------------------------
def _gated_values(
    result: LossResult, baseline: Baseline | None, groups: bool = True
) -> list[_Gated]:
    from losscli.engine import output_labels

    out: list[_Gated] = []

    def add(
        value: Any,
        base: Any,
        group: dict[str, Any] | None,
        intervals: Intervals | None,
        base_intervals: list[Any] | None,
    ) -> None:
        values = value if isinstance(value, list) else [value]
        labels = output_labels(result, len(values)) if isinstance(value, list) else [None]
        if isinstance(value, list):
            bases = (
                base if isinstance(base, list) and len(base) == len(value) else [None] * len(value)
            )
        else:
            bases = [None if base is None or isinstance(base, list) else base]
        for j, (label, v, b) in enumerate(zip(labels, values, bases, strict=True)):
            own = diff = base_iv = None
            if intervals is not None and j < len(intervals.value):
                own = intervals.value[j]
                if intervals.difference is not None:
                    diff = intervals.difference[j]
            if base_intervals is not None and j < len(base_intervals):
                base_iv = base_intervals[j]
            where = group if label is None else {**(group or {}), "output": label}
            base_value = None if b is None else float(b)
            out.append(_Gated(float(v), where, base_value, own, diff, base_iv))

    base_ivs = baseline.intervals if baseline else {}
    add(
        result.value,
        baseline.value if baseline else None,
        None,
        result.intervals,
        base_ivs.get(None),
    )
    for g in result.groups if groups else ():
        key = g.key_dict(result.group_by)
        plain = _plain_key(g.key)
        base = baseline.groups.get(plain) if baseline else None
        add(g.value, base, key, g.intervals, base_ivs.get(plain))
    return out


def evaluate(result: LossResult, spec: GateSpec, baseline: Baseline | None = None) -> Gates:
    """Apply ``spec`` to the result's total and each group's (and output's) value: every
    group's gates as columns (:mod:`losscli.gates.columns`), but with ``--confidence``."""
    from losscli.gates.columns import Gates, group_gates

    spec = spec.applying_to(result.higher_is_better)
    if spec.confidence is None and len(result.groups):
        total = evaluate_each(result, spec, baseline, groups=False)
        return Gates(total, group_gates(result, spec, baseline))
    return Gates(evaluate_each(result, spec, baseline))


def evaluate_each(
    result: LossResult, spec: GateSpec, baseline: Baseline | None = None, groups: bool = True
) -> list[GateResult]:
    """:func:`evaluate` one value at a time, a :class:`GateResult` each (the groups' too,
    unless ``groups`` is false): the reference the columns are tested against."""
    spec = spec.applying_to(result.higher_is_better)
    gates: list[GateResult] = []
    pending: list[Any] = []  # --confidence: (gate, interval, upper) per gate
    for item in _gated_values(result, baseline, groups):
        if spec.max is not None:
            gates.append(_bound(result.loss, item, "max", spec.max))
            pending.append((item, None, True))
        if spec.min is not None:
            gates.append(_bound(result.loss, item, "min", spec.min))
            pending.append((item, None, False))
        for name, change in (
            ("max_increase", spec.max_increase),
            ("min_decrease", spec.min_decrease),
        ):
            if change is not None and item.baseline is not None:
                gates.append(_relative(result.loss, item, name, change, item.baseline))
                pending.append((item, item.baseline, name == "max_increase"))
    if spec.confidence is None:
        return gates
    from losscli.gates.confidence import Comparison, ValueInterval, judge

    comparisons = []
    for gate, (item, base, upper) in zip(gates, pending, strict=True):
        interval = None
        if base is None:
            if item.own is not None:
                interval = ValueInterval.of(item.own)
        elif item.difference is not None:
            interval = ValueInterval.of(item.difference, base, paired=True)
        elif item.own is not None and item.base_interval is not None:
            interval = ValueInterval.mover(item.own, item.base_interval)
        elif item.own is not None:
            interval = ValueInterval.of(item.own)
        comparisons.append(Comparison(gate, interval, upper))
    return judge(comparisons, spec.confidence)


def verdict_text(gates: Sequence[GateResult]) -> str:
    """A table cell: ``pass``, ``FAIL max`` or ``-`` (no gate on this value)."""
    if not gates:
        return "-"
    failed = [g.name for g in gates if not g.passed]
    if failed:
        return "FAIL " + ", ".join(dict.fromkeys(failed))
    unsure = [g.name for g in gates if g.verdict == "inconclusive"]
    return "inconclusive " + ", ".join(dict.fromkeys(unsure)) if unsure else "pass"


def for_group(gates: Sequence[GateResult], group: Mapping[str, Any] | None) -> list[GateResult]:
    """The gates of the total (``group=None``) or of one group (any of its outputs)."""
    if group is None:
        return [g for g in gates if not g.group or set(g.group) == {"output"}]
    return [
        g
        for g in gates
        if g.group and {k: v for k, v in g.group.items() if k != "output"} == dict(group)
    ]


def by_group(
    gates: Sequence[GateResult],
) -> dict[tuple[tuple[str, Any], ...] | None, list[GateResult]]:
    """The gates of each gated value, as :func:`for_group` picks them, for every group at
    once: ``None`` for the total, else the group's ``(column, key)`` pairs."""
    out: dict[tuple[tuple[str, Any], ...] | None, list[GateResult]] = {}
    for g in gates:
        key = tuple((k, v) for k, v in (g.group or {}).items() if k != "output") or None
        out.setdefault(key, []).append(g)
    return out
