"""Reusable scratch buffers so kernels allocate once per run, not once per chunk."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
else:
    Array = np.ndarray


class Workspace:
    """Float64 buffers keyed by (name, leading dimension), grown when a longer chunk arrives."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, int], Array] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> Array:
        """A float64 buffer of ``shape`` (1-D or 2-D): a view of a reused allocation."""
        rows = shape[0] if len(shape) == 2 else 1
        n = shape[-1]
        key = (name, rows)
        buf = self._buffers.get(key)
        if buf is None or buf.shape[-1] < n:
            buf = np.empty((rows, n), dtype=np.float64)
            self._buffers[key] = buf
        view = buf[:, :n]
        return view if len(shape) == 2 else view[0]
