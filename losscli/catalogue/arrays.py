"""Array helpers the kernels share: scratch buffers and sums over a short vector axis."""

from __future__ import annotations

from typing import TYPE_CHECKING

from losscli.catalogue.spec import np

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.float64]


def scratch_buffer(buf: Array | None, *arrays: Array) -> Array:
    """``buf``, or a new float64 buffer of the inputs' broadcast shape."""
    if buf is not None:
        return buf
    return np.empty(np.broadcast_shapes(*(np.shape(x) for x in arrays)), dtype=np.float64)


def vsum(x: Array, axis: int) -> Array:
    """Sum over ``axis``; einsum is 2-3× faster than ``x.sum(axis)`` for a short last axis."""
    return np.asarray(np.einsum("i...->...", np.moveaxis(x, axis, 0)), dtype=np.float64)


def vdot(x: Array, y: Array, axis: int) -> Array:
    """``sum(x·y)`` over ``axis`` without materialising the product."""
    return np.asarray(
        np.einsum("i...,i...->...", np.moveaxis(x, axis, 0), np.moveaxis(y, axis, 0)),
        dtype=np.float64,
    )
