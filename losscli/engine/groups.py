"""Group keys (``--group-by``): key columns to dense group codes, and keys in a stable order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from losscli.io.convert import to_keys

if TYPE_CHECKING:
    # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    from losscli.engine.chunk import Chunk

    Array = NDArray[np.float64]
else:
    Array = np.ndarray


def group_rows(group_ids: NDArray[np.int64]) -> Iterator[tuple[int, NDArray[np.intp]]]:
    """(group id, row indices in input order) for each group present in a chunk."""
    order = np.argsort(group_ids, kind="stable")
    sorted_ids = group_ids[order]
    bounds = np.flatnonzero(np.diff(sorted_ids)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(order)]))
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        yield int(sorted_ids[s]), order[s:e]


class GroupKeys:
    """Maps key tuples to dense global ids across chunks."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.ids: dict[tuple[Any, ...], int] = {}
        self.keys: list[tuple[Any, ...]] = []

    def chunk_ids(self, chunk: Chunk) -> NDArray[np.int64]:
        per_column = []
        dictionaries = []
        for col in self.columns:
            raw = chunk.other.get(col)
            if raw is None:  # a numeric column used as a key
                values = chunk.numeric[col]
                uniq, codes = np.unique(values, return_inverse=True)
                per_column.append(codes.astype(np.int64))
                dictionaries.append([_plain(v) for v in uniq.tolist()])
            else:
                codes, dictionary = to_keys(raw)
                codes = codes.copy()
                codes[codes < 0] = len(dictionary)
                per_column.append(codes)
                dictionaries.append([*dictionary, None])
        if len(per_column) == 1:
            local_codes, combos = per_column[0], None
        else:
            stacked = np.stack(per_column, axis=1)
            combos, local_codes = np.unique(stacked, axis=0, return_inverse=True)
            local_codes = local_codes.reshape(-1)
        present = np.unique(local_codes)
        lookup = np.empty(int(present.max()) + 1 if present.size else 0, dtype=np.int64)
        for code in present.tolist():
            if combos is None:
                key: tuple[Any, ...] = (dictionaries[0][code],)
            else:
                key = tuple(dictionaries[j][c] for j, c in enumerate(combos[code].tolist()))
            gid = self.ids.get(key)
            if gid is None:
                gid = self.ids[key] = len(self.keys)
                self.keys.append(key)
            lookup[code] = gid
        return lookup[local_codes]


def _plain(value: float) -> Any:
    return int(value) if float(value).is_integer() else value


def sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Keys sort numerically where they look like numbers (CSV keys arrive as text)."""
    out: list[tuple[int, float, str]] = []
    for part in key:
        if part is None:
            out.append((2, 0.0, ""))
            continue
        try:
            out.append((0, float(part), str(part)))
        except (TypeError, ValueError):
            out.append((1, 0.0, str(part)))
    return tuple(out)


def numeric_text(part: Any) -> Any:
    if isinstance(part, str):
        try:
            number = float(part)
        except ValueError:
            return part
        return (
            int(number)
            if number.is_integer() and "." not in part and "e" not in part.lower()
            else number
        )
    return part
