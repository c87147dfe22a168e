"""A bounded slice of rows as float64 column views, with where each row came from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
else:
    Array = np.ndarray


class Chunk:
    """A bounded slice of rows: float64 numeric columns plus raw key/kept columns.

    ``origin`` maps a column to (file label, 0-based row of this chunk's start); after
    ``--nan skip``, ``positions`` holds each row's offset in the chunk as read."""

    __slots__ = ("n", "numeric", "origin", "other", "positions")

    def __init__(
        self,
        n: int,
        numeric: dict[str, Array],
        other: dict[str, Any],
        origin: dict[str, tuple[str, int]],
        positions: NDArray[np.intp] | None = None,
    ) -> None:
        self.n = n
        self.numeric = numeric
        self.other = other
        self.origin = origin
        self.positions = positions

    def where(self, column: str, index: int) -> tuple[str, int]:
        """(file, 1-based row in that file) of the chunk's ``index``-th row."""
        label, first = self.origin[column]
        offset = index if self.positions is None else int(self.positions[index])
        return label, first + offset + 1

    def head(self, n: int) -> Chunk:
        return Chunk(
            n,
            {k: v[:n] for k, v in self.numeric.items()},
            {k: v.slice(0, n) for k, v in self.other.items()},
            self.origin,
        )

    def tail(self, n: int) -> Chunk:
        return Chunk(
            self.n - n,
            {k: v[n:] for k, v in self.numeric.items()},
            {k: v.slice(n) for k, v in self.other.items()},
            {k: (label, first + n) for k, (label, first) in self.origin.items()},
        )

    def take(self, mask: NDArray[np.bool_]) -> Chunk:
        """The rows where ``mask`` holds; they keep their file row numbers."""
        kept = np.flatnonzero(mask)
        other = {}
        if self.other:
            import pyarrow as pa

            indices = pa.Array.from_buffers(pa.int64(), len(kept), [None, pa.py_buffer(kept)])
            other = {k: v.take(indices) for k, v in self.other.items()}
        return Chunk(
            len(kept),
            {k: v[kept] for k, v in self.numeric.items()},
            other,
            self.origin,
            kept if self.positions is None else self.positions[kept],
        )
