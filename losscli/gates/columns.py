"""Gates over many groups as columns: one NumPy comparison per gate for every group at once.

A grouped result's gates are a :class:`Gates` sequence: the total's (and each output's) as
:class:`~losscli.gates.rules.GateResult` objects, every group's as :class:`GroupGates`
columns (value, bound, baseline, passed). A ``GateResult`` is made only for a gate someone
reads one at a time — the failures a report lists (worst first), a table's shown groups; the
JSON, JUnit and summaries write the rest from the columns (:mod:`losscli.report.gated`).

The order is :func:`~losscli.gates.rules.evaluate`'s: the total, then group by group (each
output in turn with ``--per output``), each value's gates in the order max, min, then the
baseline gate (only for groups the baseline has).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from losscli.engine import GroupTable, LossResult
    from losscli.gates.rules import Baseline, Change, GateResult, GateSpec

#: Gates made into objects at a time while iterating.
PIECE = 16_384
#: Groups from which keys are read through Arrow (fewer: Python, no ``pyarrow.compute``).
ARROW_FROM = 2_048


@dataclass(frozen=True)
class GateKind:
    """One gate as applied to every group: a bound (``max``/``min``: ``limit``) or a baseline
    gate (``max_increase``/``min_decrease``: ``change``)."""

    name: str
    limit: float | None = None
    change: Change | None = None

    @property
    def upper(self) -> bool:
        return self.name.startswith("max")

    @property
    def relative(self) -> bool:
        return self.change is not None


class GroupGates:
    """Every group's gates as columns. Values are flattened group by group, each group's
    outputs in turn (``items`` = groups × outputs); each kind holds its bound, its baseline
    (NaN-filled, with ``present`` false where the baseline lacks the group) and ``passed``."""

    def __init__(
        self,
        result: LossResult,
        kinds: Sequence[GateKind],
        baselines: NDArray[np.float64] | None,
        present: NDArray[np.bool_] | None,
    ) -> None:
        from losscli.engine import output_labels

        table = result.groups
        self.loss = result.loss
        self.names = list(result.group_by)
        self.table: GroupTable = table
        self.outputs = table.values.shape[1] if table.per_output else 1
        self.labels = output_labels(result, self.outputs) if table.per_output else None
        self.kinds = list(kinds)
        self.values = np.ascontiguousarray(table.values, dtype=np.float64).reshape(-1)
        self.baselines = baselines  # (items,) NaN where absent; None without a baseline gate
        self.thresholds: list[NDArray[np.float64] | float] = []
        self.passed: list[NDArray[np.bool_]] = []
        self.present: list[NDArray[np.bool_] | None] = []
        values = self.values
        with np.errstate(invalid="ignore", over="ignore"):
            for kind in self.kinds:
                if kind.change is None:
                    assert kind.limit is not None
                    limit: Any = kind.limit
                    passed = values <= limit if kind.upper else values >= limit
                    self.present.append(None)
                else:
                    assert baselines is not None
                    base = baselines
                    change = kind.change
                    allowed = change.amount * np.abs(base) if change.relative else change.amount
                    limit = base + allowed if kind.upper else base - allowed
                    passed = values <= limit if kind.upper else values >= limit
                    self.present.append(present)
                self.thresholds.append(limit)
                # a NaN value or limit compares false: it fails, as rules.evaluate has it
                if self.present[-1] is not None:
                    passed = passed | ~self.present[-1]  # an absent gate never fails
                self.passed.append(np.asarray(passed, dtype=bool))
        self._rows: tuple[NDArray[np.intp], NDArray[np.intp]] | None = None

    # -- shape --------------------------------------------------------------------------------
    def mask(self) -> NDArray[np.bool_]:
        """Which (item, kind) gates exist, ``(items, kinds)``."""
        out = np.ones((len(self.values), len(self.kinds)), dtype=bool)
        for k, present in enumerate(self.present):
            if present is not None:
                out[:, k] = present
        return out

    def rows(self) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """(item, kind) of every gate, in order."""
        if self._rows is None:
            items, kinds = np.nonzero(self.mask())
            self._rows = (items, kinds)
        return self._rows

    def __len__(self) -> int:
        return (
            int(self.mask().sum())
            if any(p is not None for p in self.present)
            else (len(self.values) * len(self.kinds))
        )

    def failed(self) -> NDArray[np.bool_]:
        """``(items, kinds)``: which gates failed."""
        out = np.zeros((len(self.values), len(self.kinds)), dtype=bool)
        for k, passed in enumerate(self.passed):
            out[:, k] = ~passed
        return out

    def failed_count(self) -> int:
        return int(sum(int(np.count_nonzero(~p)) for p in self.passed))

    def threshold(self, kind: int) -> NDArray[np.float64]:
        limit = self.thresholds[kind]
        if isinstance(limit, np.ndarray):
            return limit
        return np.full(len(self.values), float(limit))

    # -- objects, for the few gates read one at a time -------------------------------------------
    def group_of(self, item: int) -> dict[str, Any]:
        group = self.table[item // self.outputs].key_dict(self.names)
        if self.labels is not None:
            group["output"] = self.labels[item % self.outputs]
        return group

    def gate(self, item: int, kind: int, group: dict[str, Any] | None = None) -> GateResult:
        """The :class:`GateResult` of one group's gate, as :func:`rules.evaluate` makes it."""
        from losscli.gates.results import _bound, _Gated, _relative

        spec = self.kinds[kind]
        where = self.group_of(item) if group is None else group
        base = None if self.baselines is None else float(self.baselines[item])
        gated = _Gated(float(self.values[item]), where, base)
        if spec.change is None:
            assert spec.limit is not None
            return _bound(self.loss, gated, spec.name, spec.limit)
        assert base is not None
        return _relative(self.loss, gated, spec.name, spec.change, base)

    def gates(self, start: int = 0, stop: int | None = None) -> list[GateResult]:
        """The gates ``start … stop`` (in order) as objects."""
        items, kinds = self.rows()
        stop = len(items) if stop is None else stop
        out: list[GateResult] = []
        if stop <= start:
            return out
        first = int(items[start]) // self.outputs  # the groups' keys, read at once
        shown = self.table[first : int(items[stop - 1]) // self.outputs + 1]
        groups: dict[int, dict[str, Any]] = {}
        for item, kind in zip(items[start:stop].tolist(), kinds[start:stop].tolist(), strict=True):
            if item not in groups:
                group = shown[item // self.outputs - first].key_dict(self.names)
                if self.labels is not None:
                    group["output"] = self.labels[item % self.outputs]
                groups[item] = group
            out.append(self.gate(item, kind, groups[item]))
        return out

    def for_items(self, items: Sequence[int]) -> list[list[GateResult]]:
        """The gates of each of ``items`` (a group's value, or one output's)."""
        mask = self.mask()
        out = []
        for item in items:
            group = self.group_of(item)
            out.append([self.gate(item, k, group) for k in np.flatnonzero(mask[item]).tolist()])
        return out

    def verdict_cells(self, groups: NDArray[np.intp] | None = None) -> list[str]:
        """:func:`losscli.gates.rules.verdict_text` of each group's gates (all outputs):
        ``pass``, ``FAIL max, min`` (the failed gates' names in gate order) or ``-``."""
        n = len(self.table)
        chosen = np.arange(n) if groups is None else np.asarray(groups, dtype=np.intp)
        kinds = len(self.kinds)
        mask = self.mask().reshape(n, self.outputs, kinds)[chosen]
        failed = (self.failed().reshape(n, self.outputs, kinds)[chosen]) & mask
        gated = np.asarray(mask.any(axis=(1, 2)), dtype=bool)
        # each kind's first failure, in gate order (output by output, kinds in turn)
        position = np.arange(self.outputs * kinds).reshape(self.outputs, kinds)
        first = np.where(failed, position[None], self.outputs * kinds).min(axis=1)  # (m, kinds)
        order = np.argsort(first, axis=1, kind="stable")
        code = np.zeros(len(chosen), dtype=np.int64)
        for k in range(kinds):  # the failed kinds in order, as digits base kinds + 1
            kind = np.take_along_axis(order, np.full((len(chosen), 1), k), axis=1)[:, 0]
            hit = np.take_along_axis(first, kind[:, None], axis=1)[:, 0] < self.outputs * kinds
            code = code * (kinds + 1) + np.where(hit, kind + 1, 0)
        texts: dict[int, str] = {}
        out = []
        flags: list[bool] = gated.tolist()
        for c, has in zip(code.tolist(), flags, strict=True):
            if not has:
                out.append("-")
                continue
            text = texts.get(c)
            if text is None:
                names, rest = [], c
                for _ in range(kinds):
                    rest, digit = divmod(rest, kinds + 1)
                    if digit:
                        names.append(self.kinds[digit - 1].name)
                text = "FAIL " + ", ".join(reversed(names)) if names else "pass"
                texts[c] = text
            out.append(text)
        return out

    def excess(self) -> NDArray[np.float64]:
        """``(items, kinds)``: how far each gate's value lies beyond its bound, relative to
        the bound (NaN: +inf), as :func:`losscli.report.ci.worst_first` ranks failures."""
        out = np.empty((len(self.values), len(self.kinds)))
        value = self.values
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            for k, kind in enumerate(self.kinds):
                bound = self.threshold(k)
                over = value - bound if kind.upper else bound - value
                scaled = np.where(bound != 0, over / np.where(bound != 0, np.abs(bound), 1), over)
                scaled[np.isnan(scaled)] = np.inf  # a NaN value or bound, or inf / inf
                out[:, k] = scaled
        return out

    def worst(self, top: int, failed_only: bool = True) -> tuple[NDArray[np.intp], int]:
        """The (item · kinds + kind) of the ``top`` failed gates (or gates) furthest beyond
        their bounds (ties in gate order), and the number of them."""
        chosen = self.failed() & self.mask() if failed_only else self.mask()
        flat = np.flatnonzero(chosen.ravel())
        if not len(flat):
            return flat, 0
        excess = self.excess().ravel()[flat]
        order = np.argsort(-excess, kind="stable")[:top]
        return flat[order], len(flat)

    def worst_failures(self, top: int, failed_only: bool = True) -> tuple[list[GateResult], int]:
        """The ``top`` failed gates (or gates) furthest beyond their bounds (ties in gate
        order) and the number of them."""
        chosen, count = self.worst(top, failed_only)
        kinds = len(self.kinds)
        return [self.gate(int(i // kinds), int(i % kinds)) for i in chosen.tolist()], count

    def rows_of_worst(self, top: int, failed_only: bool = True) -> dict[str, int]:
        """The rows of the groups of the ``top`` worst gates, by subject (``mse [k=v]``)."""
        from losscli.gates.results import subject

        chosen, _ = self.worst(top, failed_only)
        out = {}
        for item in (chosen // len(self.kinds)).tolist():
            group = item // self.outputs
            key = self.table[group].key_dict(self.names)
            out[subject(self.loss, key)] = int(self.table.rows[group])
        return out

    def failed_in_order(self) -> list[GateResult]:
        """Every failed gate, in gate order."""
        failed = self.failed() & self.mask()
        flat = np.flatnonzero(failed.ravel()).tolist()
        kinds = len(self.kinds)
        return [self.gate(i // kinds, i % kinds) for i in flat]


class Gates(Sequence["GateResult"]):
    """The gates of one result: the total's as objects, every group's as columns (or, with
    ``--confidence`` or few groups, every gate as an object in ``total``)."""

    def __init__(self, total: list[GateResult], groups: GroupGates | None = None) -> None:
        self.total = total
        self.groups = groups

    def __len__(self) -> int:
        return len(self.total) + (len(self.groups) if self.groups is not None else 0)

    def __eq__(self, other: object) -> bool:
        """Equal to a list (or Gates) of the same gates in the same order."""
        if isinstance(other, Gates | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        grouped = f", {len(self.groups)} group gates as columns" if self.groups else ""
        return f"<Gates: {len(self.total)} as objects{grouped}>"

    @overload
    def __getitem__(self, index: int) -> GateResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[GateResult]: ...

    def __getitem__(self, index: int | slice) -> GateResult | list[GateResult]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("gate index out of range")
        if index < len(self.total):
            return self.total[index]
        assert self.groups is not None
        at = index - len(self.total)
        return self.groups.gates(at, at + 1)[0]

    def __iter__(self) -> Iterator[GateResult]:
        yield from self.total
        if self.groups is not None:
            count = len(self.groups)
            for start in range(0, count, PIECE):
                yield from self.groups.gates(start, min(start + PIECE, count))

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.total) and (
            self.groups is None or self.groups.failed_count() == 0
        )

    def failed_count(self) -> int:
        own = sum(1 for g in self.total if not g.passed)
        return own + (self.groups.failed_count() if self.groups is not None else 0)

    def inconclusive_count(self) -> int:
        """Passed gates whose ``--confidence`` verdict is inconclusive (none among columns)."""
        return sum(1 for g in self.total if g.passed and g.verdict == "inconclusive")

    def compared(self) -> list[GateResult]:
        """The gates with a ``--confidence`` comparison (columns carry none)."""
        return [g for g in self.total if g.confidence is not None]

    @property
    def confidence(self) -> float | None:
        return next((g.confidence for g in self.total if g.confidence is not None), None)


def as_gates(gates: Sequence[GateResult]) -> Gates:
    """Any sequence of gates as :class:`Gates` (a plain list: all as objects)."""
    return gates if isinstance(gates, Gates) else Gates(list(gates))


def group_gates(result: LossResult, spec: GateSpec, baseline: Baseline | None) -> GroupGates | None:
    """The columns of every group's gates (``spec`` already narrowed to the metric's
    direction), or None without groups."""
    if not len(result.groups):
        return None
    kinds: list[GateKind] = []
    if spec.max is not None:
        kinds.append(GateKind("max", limit=spec.max))
    if spec.min is not None:
        kinds.append(GateKind("min", limit=spec.min))
    baselines = present = None
    for name, change in (("max_increase", spec.max_increase), ("min_decrease", spec.min_decrease)):
        if change is not None and baseline is not None:
            kinds.append(GateKind(name, change=change))
            baselines, present = baseline_columns(result, baseline)
    if not kinds:
        return None
    return GroupGates(result, kinds, baselines, present)


def baseline_columns(
    result: LossResult, baseline: Baseline
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Each group's (and output's) baseline value, NaN-filled, and whether the baseline has
    it: a group the baseline lacks (or with another number of outputs) has no baseline gate."""
    table = result.groups
    outputs = table.values.shape[1] if table.per_output else 1
    n = len(table)
    values = np.full((n, outputs), math.nan)
    present = np.zeros((n, outputs), dtype=bool)
    lookup = baseline.groups
    for start in range(0, n, PIECE):
        stop = min(start + PIECE, n)
        bases = [lookup.get(key) for key in plain_keys(table, start, stop)]
        if not table.per_output:  # one number a group (a list: another shape, no gate)
            found = np.fromiter((type(b) is float for b in bases), bool, len(bases))
            found |= np.fromiter((type(b) is int for b in bases), bool, len(bases))
            numbers = (b if type(b) in (float, int) else math.nan for b in bases)
            values[start:stop, 0] = np.fromiter(numbers, np.float64, len(bases))
            present[start:stop, 0] = found
            continue
        for i, base in enumerate(bases, start):
            if base is None:
                continue
            if table.per_output:
                if isinstance(base, list) and len(base) == outputs:
                    values[i] = base
                    present[i] = True
            elif not isinstance(base, list):
                values[i, 0] = base
                present[i, 0] = True
    return values.reshape(-1), present.reshape(-1)


def plain_keys(table: GroupTable, start: int = 0, stop: int | None = None) -> list[Any]:
    """The keys of groups ``start … stop`` as :func:`losscli.gates.results._plain_key`
    writes them (how baselines are matched), through Arrow where it can."""
    from losscli.gates.results import _plain_key

    stop = len(table) if stop is None else stop
    plain: list[list[Any] | None] = [None]  # a few keys: no pyarrow.compute to load
    if len(table) >= ARROW_FROM:
        plain = [_plain_texts(table, j, start, stop) for j in range(len(table.names))]
    if all(p is not None for p in plain):
        return list(zip(*plain, strict=True))
    columns = [table.key_values(j, start, stop) for j in range(len(table.names))]
    return [_plain_key(key) for key in zip(*columns, strict=True)]


def _plain_texts(table: GroupTable, column: int, start: int, stop: int) -> list[Any] | None:
    """One key column's keys as :func:`losscli.gates.results._plain_key` writes them, when
    Arrow can: integers and text that does not read as a number (else None)."""
    import pyarrow as pa

    keys = table.key_arrow(column, start, stop)
    if keys is None:
        return None
    typ = keys.type
    if pa.types.is_integer(typ):
        return keys.cast(pa.string()).to_pylist()
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        from losscli.engine.groups import may_be_number

        if not may_be_number(keys):
            return keys.to_pylist()
    return None
