"""The groups of one result as columns (``--group-by``): no Python object per group.

A :class:`GroupTable` holds each key column's values (an Arrow array in the order the groups
are shown, or a list of Python values), the rows and the values as NumPy arrays. Renderers
read it in pieces (:meth:`GroupTable.pieces`), so a million groups are written without a
million objects at once; the table view picks its worst groups with one sort
(:meth:`GroupTable.badness`). Indexing and iterating still give :class:`GroupResult`
objects, made on demand, for the code that wants one group at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, overload

import numpy as np

from losscli.io.writers import plain_value
from losscli.stats import Value

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    from losscli.engine.intervals import Intervals

#: Groups per piece when rendering: a few MiB of text at a time.
PIECE = 16_384


class GroupResult:
    """One group's rows and value (``--group-by``)."""

    __slots__ = ("intervals", "key", "rows", "value")

    def __init__(
        self,
        key: tuple[Any, ...],
        rows: int,
        value: Value,
        intervals: Intervals | None = None,
    ) -> None:
        self.key = key
        self.rows = rows
        self.value = value
        self.intervals = intervals

    def key_dict(self, group_by: Sequence[str]) -> dict[str, Any]:
        """The key as ``{column: value}``, each value one JSON can hold (see :func:`json_key`)."""
        return {column: json_key(value) for column, value in zip(group_by, self.key, strict=True)}


def json_key(value: Any) -> Any:
    """A key value as JSON writes it: text, integers, finite floats, booleans and null as they
    are; NaN and ±inf as ``'nan'``/``'inf'`` (as the table shows them); dates and times in ISO
    8601; bytes as UTF-8 (invalid bytes as ``\\xNN``); anything else (decimals, durations) as
    its text. Every renderer and gate matches groups by this form."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return plain_value(value)


class GroupPiece(NamedTuple):
    """Groups ``start … start + len(rows)`` of a table as Python values."""

    start: int
    keys: list[list[Any]]  # per key column, the key of each group
    rows: list[int]
    values: NDArray[np.float64]  # (groups,) or (groups, outputs)


class GroupTable(Sequence[GroupResult]):
    """Every group's key, rows and value (``values``: one per group, or ``(groups, outputs)``
    with ``--per output``), in the order results show them (by key)."""

    __slots__ = ("_keys", "intervals", "names", "rows", "values")

    def __init__(
        self,
        names: Sequence[str],
        keys: Sequence[Any],
        rows: NDArray[np.int64],
        values: NDArray[np.float64],
        intervals: list[Intervals | None] | None = None,
    ) -> None:
        self.names = list(names)
        self._keys = list(keys)  # per column: an Arrow array (as read) or a list (shown values)
        self.rows = rows
        self.values = values
        self.intervals = intervals  # --confidence: one per group

    @classmethod
    def of(cls, names: Sequence[str], groups: Sequence[GroupResult]) -> GroupTable:
        """A table of :class:`GroupResult` objects (tests, and results built by hand)."""
        if isinstance(groups, GroupTable):
            return groups
        keys = [[g.key[j] for g in groups] for j in range(len(names))]
        values = np.array([g.value for g in groups], dtype=np.float64)
        rows = np.array([g.rows for g in groups], dtype=np.int64)
        intervals = [g.intervals for g in groups]
        return cls(names, keys, rows, values, intervals if any(intervals) else None)

    @property
    def per_output(self) -> bool:
        return self.values.ndim == 2

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, index: int) -> GroupResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[GroupResult]: ...

    def __getitem__(self, index: int | slice) -> GroupResult | list[GroupResult]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return self._results(start, stop)
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("group index out of range")
        return self._results(index, index + 1)[0]

    def __iter__(self) -> Iterator[GroupResult]:
        for start in range(0, len(self), PIECE):
            yield from self._results(start, min(start + PIECE, len(self)))

    def _results(self, start: int, stop: int) -> list[GroupResult]:
        piece = self.piece(start, stop)
        keys = list(zip(*piece.keys, strict=True)) if piece.keys else [()] * len(piece.rows)
        values = piece.values.tolist()
        intervals = self.intervals[start:stop] if self.intervals is not None else None
        return [
            GroupResult(key, n, value, None if intervals is None else intervals[i])
            for i, (key, n, value) in enumerate(zip(keys, piece.rows, values, strict=True))
        ]

    def key_values(self, column: int, start: int, stop: int) -> list[Any]:
        """The shown keys of one column for groups ``start … stop``."""
        keys = self._keys[column]
        if isinstance(keys, list):
            return keys[start:stop]
        from losscli.engine.groups import plain_values

        return plain_values(keys.slice(start, stop - start))

    def key_arrow(self, column: int, start: int, stop: int) -> Any:
        """The keys of one column for groups ``start … stop`` as read (an Arrow array), or
        None for a table of Python keys."""
        keys = self._keys[column]
        return None if isinstance(keys, list) else keys.slice(start, stop - start)

    def piece(self, start: int, stop: int) -> GroupPiece:
        keys = [self.key_values(j, start, stop) for j in range(len(self._keys))]
        return GroupPiece(start, keys, self.rows[start:stop].tolist(), self.values[start:stop])

    def pieces(self, size: int = PIECE) -> Iterator[GroupPiece]:
        """The groups in order, ``size`` at a time."""
        for start in range(0, len(self), size):
            yield self.piece(start, min(start + size, len(self)))

    def take(self, indices: NDArray[np.intp]) -> GroupTable:
        """The groups at ``indices``, in that order."""
        from losscli.io.convert import arrow_of

        keys = [
            [k[i] for i in indices.tolist()] if isinstance(k, list) else k.take(arrow_of(indices))
            for k in self._keys
        ]
        intervals = None
        if self.intervals is not None:
            intervals = [self.intervals[i] for i in indices.tolist()]
        return GroupTable(self.names, keys, self.rows[indices], self.values[indices], intervals)

    def badness(self, higher_is_better: bool) -> NDArray[np.float64]:
        """How bad each group's value is (higher is worse): the value, negated for a
        higher-is-better metric, the worst output's with ``--per output``; NaN is the worst."""
        bad = -self.values if higher_is_better else self.values.copy()
        if bad.ndim == 2:
            nan = np.isnan(bad).any(axis=1)
            bad = bad.max(axis=1) if bad.shape[1] else np.full(len(bad), -np.inf)
        else:
            nan = np.isnan(bad)
        bad[nan] = np.inf
        return bad

    def worst(self, higher_is_better: bool, top: int | None = None) -> NDArray[np.intp]:
        """The indices of the ``top`` worst groups (all without ``top``), worst first; ties
        keep key order."""
        order = np.argsort(-self.badness(higher_is_better), kind="stable")
        return order if top is None else order[:top]
