"""Arrow → NumPy conversion without pandas.

``pyarrow.Array.to_numpy()`` and ``np.asarray(arrow_array)`` import pandas when it is installed
(+0.45 s of start-up), so numeric columns are viewed straight from their Arrow buffers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from losscli.errors import DataError

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
else:
    Array = np.ndarray

if TYPE_CHECKING:
    import pyarrow as pa


_NUMPY_DTYPES = {
    "double": np.float64,
    "float": np.float32,
    "halffloat": np.float16,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "uint64": np.uint64,
}


def valid_mask(arr: pa.Array) -> NDArray[np.bool_]:
    """True where the Arrow array holds a value (its validity bitmap, LSB first)."""
    bitmap = arr.buffers()[0]
    n, offset = len(arr), arr.offset
    if bitmap is None:
        return np.ones(n, dtype=bool)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[offset : offset + n].astype(bool)


def to_float64(arr: Any, *, file: str, column: str) -> Array:
    """A float64 NumPy view (or upcast copy) of a numeric Arrow array; nulls become NaN.

    float64 without nulls is zero-copy (read-only). Integers, float32/16, decimals and booleans
    are upcast. Text and other types raise :class:`DataError` naming the column.
    """
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    typ = arr.type
    if pa.types.is_dictionary(typ):
        arr = arr.dictionary_decode()
        typ = arr.type
    dtype = _NUMPY_DTYPES.get(str(typ))
    if dtype is None:
        if pa.types.is_decimal(typ) or pa.types.is_boolean(typ) or pa.types.is_null(typ):
            arr = arr.cast(pa.float64())
            dtype = np.float64
        else:
            raise DataError(f"has type {typ}, expected numbers", file=file, column=column)
    n, offset = len(arr), arr.offset
    values = np.frombuffer(arr.buffers()[1], dtype=dtype, count=offset + n)[offset:]
    if dtype is not np.float64:
        values = values.astype(np.float64)
    if arr.null_count:
        values = np.array(values, dtype=np.float64, copy=True)
        values[~valid_mask(arr)] = np.nan
    return values


def _finite_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def to_labels(arr: Any, *, file: str, column: str) -> tuple[Array, list[str] | None]:
    """A class-label column: ``(values, None)`` for numbers (float64, nulls NaN) — text whose
    every distinct value reads as a finite number counts as numbers, as a CSV's "0"/"1" do —
    or ``(indices, dictionary)`` for text: float64 indices into the distinct strings."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    typ = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
    if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
        return to_float64(arr, file=file, column=column), None
    encoded = arr if pa.types.is_dictionary(arr.type) else arr.dictionary_encode()
    dictionary = [str(v) for v in encoded.dictionary.to_pylist()]
    indices = to_float64(encoded.indices, file=file, column=column)
    numbers = [_finite_number(text) for text in dictionary]
    if all(v is not None for v in numbers):
        table = np.array([*numbers, np.nan], dtype=np.float64)
        index = np.where(np.isnan(indices), len(dictionary), indices).astype(np.intp)
        values: Array = table[index]
        return values, None
    return indices, dictionary


def arrow_of(values: Any) -> Any:
    """A NumPy array as an Arrow array, zero-copy where the layout allows (``pa.array(ndarray)``
    would import pandas, ~0.5 s). Booleans are bit-packed."""
    import pyarrow as pa

    array = np.ascontiguousarray(values)
    if array.dtype == np.bool_:
        bits = np.packbits(array, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(array), [None, pa.py_buffer(bits)])
    if array.dtype.kind not in "iuf":
        return pa.array(array.tolist())
    arrow_type = pa.from_numpy_dtype(array.dtype)
    return pa.Array.from_buffers(arrow_type, len(array), [None, pa.py_buffer(array)])


def true_mask(arr: Any) -> NDArray[np.bool_]:
    """An Arrow boolean array as NumPy booleans, null as False (read from its bitmaps: the
    Arrow conversions would import pandas)."""
    n, offset = len(arr), arr.offset
    data = arr.buffers()[1]
    if data is None:
        return np.zeros(n, dtype=bool)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    values = bits[offset : offset + n].astype(bool)
    return values & valid_mask(arr) if arr.null_count else values


def index_values(arr: Any) -> NDArray[np.intp]:
    """A null-free Arrow integer array (e.g. sort indices) as NumPy indices, from its buffer."""
    import pyarrow as pa

    kind = "u" if pa.types.is_unsigned_integer(arr.type) else "i"
    dtype = np.dtype(f"{kind}{arr.type.bit_width // 8}")
    data = np.frombuffer(
        arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize
    )
    return data.astype(np.intp)
