"""Group keys (``--group-by``): key columns to dense group codes through Arrow, and keys in a
stable order.

Each key column keeps its distinct values once (an Arrow array in code order). Integer-like
columns (ints, bool, dates, times, timestamps) map values to codes through a lookup table over
their range (or a sorted search when the range is sparse); other types (strings, dictionaries,
floats, decimals) are dictionary-encoded by Arrow per chunk and only the chunk's distinct
values are looked up in the column's dictionary. Several key columns combine pairwise into
dense codes the same way. Null is a key of its own. No Python object per row or per group is
made until the result is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from losscli.engine.text_codes import TextCodes, text_words
from losscli.errors import DataError, UsageError
from losscli.io.convert import arrow_of, index_values, true_mask, valid_mask

if TYPE_CHECKING:
    # numpy.typing costs ~15 ms of start-up; annotations only
    import pyarrow as pa
    from numpy.typing import NDArray

    from losscli.engine.chunk import Chunk

    Codes = NDArray[np.int64]
else:
    Codes = np.ndarray

#: A lookup table spans at most this many values (8 bytes each) beyond 8 per known key.
_LUT_SPAN = 1 << 22
#: Up to this span (512 KiB as int64) codes are gathered from an int64 copy of the table.
_SMALL_LUT = 1 << 16

#: Text columns with this many keys go through :class:`TextCodes`; with fewer, Arrow's hash
#: table stays in cache and ``dictionary_encode`` is faster (20 keys, 1M rows: 20 against
#: 45 ms; 100,000 keys: 105 against 53 ms).
TEXT_TABLE_KEYS = 1 << 14
#: :class:`TextCodes` looks up this many rows at a time: its lookup makes ~70 bytes of
#: temporary arrays a row (hashes, codes, gathered words to compare), ~75 MiB for a
#: 1M-row chunk, which set the peak of a run over 1M text keys; a slice of 2**17 rows
#: needs an eighth of it, at the same speed.
TEXT_SLICE_ROWS = 1 << 17


class _IntCodes:
    """int64 values → dense codes (0, 1, ...), new values numbered in sorted order."""

    def __init__(self) -> None:
        self.count = 0
        self.lo = 0
        self.lut: NDArray[np.int32] | None = None  # code of value lo + i, or −1
        self.keys = np.zeros(0, dtype=np.int64)  # the value of each code
        self._sorted: tuple[Codes, Codes] | None = None  # (values, codes) once sparse
        # The table as :meth:`_encode_known` gathers from it (None: the identity) and whether
        # it has holes (values in its range without a code); None after the table changed.
        self._gather: tuple[NDArray[Any] | None, bool] | None = None

    def encode(self, values: Codes) -> tuple[Codes, Codes]:
        """(code per value, the new values in code order)."""
        if not len(values):
            return values.astype(np.int64), np.zeros(0, dtype=np.int64)
        if self.lut is not None:
            known = self._encode_known(values)
            if known is not None:
                return known, np.zeros(0, dtype=np.int64)
        if self._sorted is None and self._fits(values):
            return self._encode_lut(values)
        return self._encode_sorted(values)

    def _encode_known(self, values: Codes) -> Codes | None:
        """The codes when every value already has one in the lookup table, else None: one
        pass checks the range (offsets below zero wrap to huge unsigned ones), one gathers
        (straight into int64 from a small table; a large one stays int32, see ``_fits``),
        and only a table with holes needs a third. A chunk of known keys (every chunk after
        the first, mostly) costs these instead of the five passes of :meth:`_encode_lut`."""
        lut = self.lut
        assert lut is not None
        offsets = values.view(np.uint64)
        if self.lo:  # modulo 2**64: below ``len(lut)`` exactly for the values in range
            offsets = offsets - np.uint64(self.lo % (1 << 64))
        if int(offsets.max()) >= len(lut):
            return None
        signed: Codes = offsets.view(np.int64)
        if self._gather is None:
            identity = bool((lut == np.arange(len(lut), dtype=np.int32)).all())
            small = lut.astype(np.int64) if len(lut) <= _SMALL_LUT else lut
            self._gather = (None if identity else small, bool((lut < 0).any()))
        gather, holes = self._gather
        if gather is None:  # keys lo, lo + 1, ... numbered 0, 1, ...: the offsets are the codes
            return signed
        codes: Codes = gather.take(signed).astype(np.int64, copy=False)
        if holes and int(codes.min()) < 0:
            return None
        return codes

    def _fits(self, values: Codes) -> bool:
        vmin, vmax = int(values.min()), int(values.max())
        lo = vmin if self.lut is None else min(vmin, self.lo)
        hi = vmax if self.lut is None else max(vmax, self.lo + len(self.lut) - 1)
        if hi - lo + 1 > _LUT_SPAN + 8 * (self.count + len(values)):
            if self.lut is not None:  # from now on: sorted search
                known = np.flatnonzero(self.lut >= 0)
                self._sorted = (known + self.lo, self.lut[known].astype(np.int64))
                self.lut, self._gather = None, None
            return False
        if self.lut is None or lo < self.lo or hi >= self.lo + len(self.lut):
            # int32 codes: half the table for the random gather to miss in cache (1M keys,
            # 1M rows: 6.5 against 2.9 ms with the widening)
            lut = np.full(hi - lo + 1, -1, dtype=np.int32)
            if self.lut is not None:
                lut[self.lo - lo : self.lo - lo + len(self.lut)] = self.lut
            self.lut, self.lo = lut, lo
            self._gather = None
        return True

    def _encode_lut(self, values: Codes) -> tuple[Codes, Codes]:
        assert self.lut is not None
        offsets = values - self.lo if self.lo else values
        # The new values, in sorted order: marks in a table over the range instead of a sort
        # of the rows (the first chunk has only new values), then the known-keys gather.
        marks = np.zeros(len(self.lut), dtype=bool)
        marks[offsets] = True
        marks &= self.lut < 0
        new_offsets = np.flatnonzero(marks)
        self.lut[new_offsets] = np.arange(self.count, self.count + len(new_offsets))
        self._gather = None
        self._added(new_offsets + self.lo)
        codes = self._encode_known(values)
        assert codes is not None
        return codes, new_offsets + self.lo

    def _encode_sorted(self, values: Codes) -> tuple[Codes, Codes]:
        if self._sorted is None:
            self._sorted = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        known, known_codes = self._sorted
        pos = np.searchsorted(known, values)
        np.minimum(pos, max(len(known) - 1, 0), out=pos)
        found = known[pos] == values if len(known) else np.zeros(len(values), dtype=bool)
        codes = np.where(found, known_codes[pos] if len(known) else 0, -1)
        if found.all():
            return codes, np.zeros(0, dtype=np.int64)
        rows = np.flatnonzero(~found)
        new, inverse = np.unique(values[rows], return_inverse=True)
        new_codes = np.arange(self.count, self.count + len(new))
        codes[rows] = new_codes[inverse]
        merged = np.concatenate([known, new])
        order = np.argsort(merged, kind="stable")
        self._sorted = (merged[order], np.concatenate([known_codes, new_codes])[order])
        self._added(new)
        return codes, new

    def _added(self, new: Codes) -> None:
        self.keys = np.concatenate([self.keys, new])
        self.count += len(new)


_INTEGER_VIEW = {8: "int8", 16: "int16", 32: "int32", 64: "int64"}


def _integer_values(arr: pa.Array) -> Codes | None:
    """An integer-like Arrow array's values as int64 (nulls arbitrary), else None."""
    import pyarrow as pa

    typ = arr.type
    if pa.types.is_boolean(typ):
        arr = arr.cast(pa.int8())
        typ = arr.type
    elif not (
        pa.types.is_integer(typ)
        or pa.types.is_date(typ)
        or pa.types.is_timestamp(typ)
        or pa.types.is_time(typ)
        or pa.types.is_duration(typ)
    ):
        return None
    width = typ.bit_width
    if pa.types.is_unsigned_integer(typ):
        dtype: Any = np.dtype(f"uint{width}")
    else:
        dtype = np.dtype(_INTEGER_VIEW[width])
    buffer = arr.buffers()[1]
    values = np.frombuffer(buffer, dtype=dtype, count=arr.offset + len(arr))[arr.offset :]
    if dtype == np.uint64 and len(values) and int(values.max()) > np.iinfo(np.int64).max:
        return None  # beyond int64: hashed like text
    return np.asarray(values, dtype=np.int64)  # no copy for int64 columns


def _integer_array(values: Codes, typ: Any) -> pa.Array:
    """int64 ``values`` (as :func:`_integer_values` gave them) as an Arrow array of ``typ``."""
    import pyarrow as pa

    if pa.types.is_boolean(typ):
        return pa.array(values.astype(bool), typ)
    data = values.astype(np.dtype(_INTEGER_VIEW[typ.bit_width]))  # unsigned: the same bits
    return pa.Array.from_buffers(typ, len(data), [None, pa.py_buffer(data)])


class _ColumnCodes:
    """One key column: its distinct values (Arrow, in code order) and a value → code map."""

    def __init__(self) -> None:
        self.count = 0
        self.parts: list[pa.Array] = []  # new distinct values, in code order
        self.null_code = -1
        self.ints = _IntCodes()
        self.kind: str | None = None  # "int" or "hash", fixed by the first chunk
        self._lookup: pa.Array | None = None
        self._last_dictionary: tuple[tuple[int, ...], Codes, Any] | None = None
        self.text: TextCodes | None = None  # built once there are many keys
        self.text_ok = True  # False once a value does not fit it: Arrow keeps the column

    def encode(self, arr: Any) -> Codes:
        """A code per row (null rows share the column's null code)."""
        import pyarrow as pa

        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        if not isinstance(arr, pa.Array):  # a numeric column used as a key
            arr = arrow_of(arr)
        if self.kind is None:  # uint64 may exceed int64 in a later chunk: hashed from the start
            integers = _integer_values(arr.slice(0, 0)) is not None
            self.kind = "int" if integers and not pa.types.is_uint64(arr.type) else "hash"
        typ = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
        known = self._type()
        if known is not None and typ != known and not pa.types.is_null(typ):
            arr = _cast_like(arr, known)
        if self.kind == "hash":
            return self._encode_hashed(arr)
        values = _integer_values(arr)
        if values is None:  # beyond int64
            raise DataError(f"key values of type {arr.type} beyond the int64 range")
        if not arr.null_count:
            codes, new = self.ints.encode(values)
            if len(new):
                self._append(_integer_array(new, arr.type))
            return codes
        valid = valid_mask(arr)
        rows = np.flatnonzero(valid)
        codes = np.empty(len(arr), dtype=np.int64)
        codes[rows], new = self.ints.encode(values[rows])
        if len(new):
            self._append(_integer_array(new, arr.type))
        codes[~valid] = self._null()
        return codes

    def _encode_hashed(self, arr: Any) -> Codes:
        import pyarrow as pa

        every_entry_used = not pa.types.is_dictionary(arr.type)
        if every_entry_used:
            if self.text_ok and len(arr) > TEXT_SLICE_ROWS and _is_text(arr.type):
                # See TEXT_SLICE_ROWS. A first chunk too: once its first slice (coded by
                # Arrow) has brought enough keys, the rest go through the table, and Arrow's
                # hash table over a whole chunk of new keys is never built.
                return np.concatenate(
                    [
                        self._encode_hashed(arr.slice(start, TEXT_SLICE_ROWS))
                        for start in range(0, len(arr), TEXT_SLICE_ROWS)
                    ]
                )
            if self.text_ok and self.count >= TEXT_TABLE_KEYS:
                codes = self._encode_text(arr)
                if codes is not None:
                    return codes
            arr = arr.dictionary_encode()
        dictionary = arr.dictionary
        indices = arr.indices
        mapping = self._dictionary_codes(dictionary)
        raw = np.frombuffer(
            indices.buffers()[1],
            dtype=np.dtype(_INTEGER_VIEW[indices.type.bit_width]),
            count=indices.offset + len(indices),
        )[indices.offset :]
        valid = valid_mask(indices) if indices.null_count else None
        used = raw if valid is None else raw[valid]
        codes = mapping[used]
        if len(codes) and int(codes.min()) < 0:
            # Values not seen before: only those this chunk uses become groups (a dictionary
            # read from a file may hold more, e.g. a categorical's unused categories).
            if every_entry_used:
                entries = np.flatnonzero(mapping < 0)
            else:  # the entries the rows use: marks, not a sort of the rows
                marks = np.zeros(len(mapping), dtype=bool)
                marks[used[codes < 0]] = True
                entries = np.flatnonzero(marks)
            self._add_entries(dictionary, entries, mapping, every_entry_used)
            codes = mapping[used]
        if valid is None:
            return codes
        out = np.full(len(raw), self._null(), dtype=np.int64)
        out[valid] = codes
        return out

    def _encode_text(self, arr: Any) -> Codes | None:
        """Codes through :class:`TextCodes` (short strings), None where it does not apply."""
        if self.text is None:  # built from the values known so far
            import pyarrow as pa

            known = self._values() if self.parts else None
            if known is None or pa.types.is_null(known.type):
                self.text = TextCodes()
            else:
                valid = valid_mask(known) if known.null_count else np.ones(self.count, dtype=bool)
                self.text = TextCodes.of(known, np.flatnonzero(valid))
        found = None if self.text is None else text_words(arr)
        if self.text is None or found is None:
            self.text, self.text_ok = None, False
            return None
        words, lengths = found
        rows = None
        if arr.null_count:
            self._null()  # its code first: new values are numbered after it
            rows = np.flatnonzero(valid_mask(arr))
            words, lengths = [w[rows] for w in words], lengths[rows]
        looked_up = self.text.lookup(words, lengths, self.count)
        if looked_up is None:
            self.text, self.text_ok = None, False
            return None
        codes, new, hashes = looked_up
        if len(new):
            new_codes = np.arange(self.count, self.count + len(new))
            self.text.add([w[new] for w in words], lengths[new], hashes, new_codes)
            self._append(take(arr, new if rows is None else rows[new]))
        if rows is None:
            return codes
        out = np.full(len(arr), self.null_code, dtype=np.int64)
        out[rows] = codes
        return out

    def _dictionary_codes(self, dictionary: Any) -> Codes:
        """The column code of each entry of a chunk's dictionary, −1 for values not seen yet
        (the same dictionary as the previous chunk's, e.g. one Parquet row group read in
        slices, is looked up once; its map is completed in place)."""
        import pyarrow.compute as pc

        # Buffer addresses identify the dictionary while the previous one is held (kept
        # alive, its memory cannot be reused by another).
        ident = (
            len(dictionary),
            dictionary.offset,
            *(b.address if b else 0 for b in dictionary.buffers()),
        )
        if self._last_dictionary is not None and ident == self._last_dictionary[0]:
            return self._last_dictionary[1]
        mapping = np.full(len(dictionary), -1, dtype=np.int64)
        if self.parts:
            value_set = self._values()
            if value_set.type != dictionary.type and value_set.null_count == len(value_set):
                value_set = value_set.cast(dictionary.type)  # only the null key seen so far
            mapping = _codes_or(pc.index_in(dictionary, value_set=value_set), -1)
        if dictionary.null_count:
            mapping[~valid_mask(dictionary)] = self._null()
        self._last_dictionary = (ident, mapping, dictionary)
        return mapping

    def _add_entries(
        self, dictionary: Any, entries: Codes, mapping: Codes, unique: bool = False
    ) -> None:
        """New codes for the dictionary's ``entries`` (values not seen yet), set in ``mapping``;
        ``unique``: the dictionary holds each value once (``dictionary_encode`` made it), so
        it needs no second hashing (a million keys: ≈0.4 s)."""
        import pyarrow.compute as pc

        values = (
            dictionary if len(entries) == len(dictionary) else dictionary.take(arrow_of(entries))
        )
        if unique:
            fresh = values
            mapping[entries] = np.arange(self.count, self.count + len(entries))
        else:
            fresh = pc.unique(values)  # a file's dictionary may repeat a value
            mapping[entries] = self.count + _codes_or(pc.index_in(values, value_set=fresh), -1)
        self._append(fresh)
        self.text = None  # its table would not know these values: built again if needed

    def _type(self) -> Any:
        """The column's value type (None until a value that is not null arrived)."""
        import pyarrow as pa

        for part in self.parts:
            if not pa.types.is_null(part.type):
                return part.type
        return None

    def _values(self) -> Any:
        import pyarrow as pa

        if self._lookup is None or len(self._lookup) != self.count:
            typ = self._type()
            parts = [
                p.cast(typ) if typ is not None and pa.types.is_null(p.type) else p
                for p in self.parts
            ]
            self._lookup = pa.concat_arrays(parts) if len(parts) > 1 else parts[0]
            self.parts = [self._lookup]
        return self._lookup

    def _append(self, values: Any) -> None:
        self.parts.append(values)
        self.count += len(values)
        self._lookup = None

    def _null(self) -> int:
        import pyarrow as pa

        if self.null_code < 0:
            self.null_code = self.count
            self._append(pa.nulls(1, self._type() or pa.null()))
            if self.kind == "int":  # keep the integer map's count in step
                self.ints.count += 1
                self.ints.keys = np.concatenate([self.ints.keys, [0]])
        return self.null_code

    def values(self) -> Any:
        """All distinct values, in code order (an Arrow array)."""
        import pyarrow as pa

        if not self.parts:
            return pa.array([])
        return self._values()


def _is_text(typ: Any) -> bool:
    """Whether :func:`~losscli.engine.text_codes.text_words` reads values of ``typ``."""
    import pyarrow as pa

    return bool(
        pa.types.is_string(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_binary(typ)
        or pa.types.is_large_binary(typ)
    )


def _cast_like(arr: Any, typ: Any) -> Any:
    """A later chunk's key column in the first chunk's type (sources may differ)."""
    import pyarrow as pa

    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    try:
        return arr.cast(typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DataError(f"key column changes type between inputs ({typ} and {arr.type})") from None


def take(values: Any, indices: NDArray[Any]) -> Any:
    """``values[indices]`` as an Arrow array. Fixed-width values (ints, dates, timestamps,
    floats) are gathered in NumPy: ``Array.take`` loads ``pyarrow.compute``, ~50 ms of start-up
    that a run grouped by an integer key never needs otherwise."""
    import pyarrow as pa

    typ = values.type
    width = typ.bit_width if pa.types.is_primitive(typ) else 0
    if pa.types.is_boolean(typ) or width not in _INTEGER_VIEW:
        return values.take(arrow_of(indices))
    dtype = np.dtype(f"uint{width}")
    data = np.frombuffer(values.buffers()[1], dtype=dtype, count=values.offset + len(values))
    gathered = np.ascontiguousarray(data[values.offset :][indices])
    validity = None
    if values.null_count:
        valid = valid_mask(values)[indices]
        if not valid.all():
            validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(typ, len(gathered), [validity, pa.py_buffer(gathered)])


def _codes_or(found: Any, missing: int) -> Codes:
    """An Arrow int32 result of ``index_in`` as int64 codes, ``missing`` where null."""
    raw = np.frombuffer(found.buffers()[1], dtype=np.int32, count=found.offset + len(found))
    codes = raw[found.offset :].astype(np.int64)
    if found.null_count:
        codes[~valid_mask(found)] = missing
    return codes


def _key_array(column: str, arr: Any) -> Any:
    """A key column as :class:`_ColumnCodes` can encode it: half floats widened (Arrow has no
    hash kernel for them); nested values (lists, structs, maps) refused, naming the column."""
    import pyarrow as pa

    typ = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
    if pa.types.is_float16(typ):
        arr, typ = arr.cast(pa.float32()), pa.float32()
    if pa.types.is_floating(typ) and not pa.types.is_dictionary(arr.type):
        # Arrow hashes the bits: -0.0 and 0.0, or NaNs with other payloads, would be groups
        # of their own that print the same. One zero and one NaN, as NumPy compares them.
        dtype = np.dtype(np.float32 if pa.types.is_float32(typ) else np.float64)
        values: NDArray[np.floating[Any]] = np.frombuffer(
            arr.buffers()[1], dtype=dtype, count=arr.offset + len(arr)
        )
        canonical = np.where(np.isnan(values), np.nan, values + 0.0).astype(dtype)
        arr = pa.Array.from_buffers(
            typ, len(arr), [arr.buffers()[0], pa.py_buffer(canonical)], offset=arr.offset
        )
    if pa.types.is_nested(typ) or pa.types.is_union(typ):
        raise UsageError(
            f"cannot group by column {column!r} of type {typ}: a group key is a number, text, "
            "a boolean, a date or a time"
        )
    return arr


class GroupKeys:
    """Maps rows to dense group codes across chunks; keeps each group's key once."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.per_column = [_ColumnCodes() for _ in columns]
        self.pairs = [_IntCodes() for _ in columns[1:]]  # (codes so far, next column) → code

    @property
    def size(self) -> int:
        """The number of groups seen so far (codes are below it)."""
        return self.pairs[-1].count if self.pairs else self.per_column[0].count

    def chunk_codes(self, chunk: Chunk) -> NDArray[np.intp]:
        """The group code of each row of ``chunk``."""
        codes: Codes | None = None
        for j, col in enumerate(self.columns):
            raw = chunk.other.get(col)
            column_codes = self.per_column[j].encode(
                chunk.numeric[col] if raw is None else _key_array(col, raw)
            )
            if codes is None:
                codes = column_codes
            else:
                codes, _ = self.pairs[j - 1].encode((codes << 32) | column_codes)
        assert codes is not None
        return codes.astype(np.intp, copy=False)

    def column_codes(self) -> list[Codes]:
        """For each key column, the column code of every group (in group-code order)."""
        if not self.pairs:
            return [np.arange(self.per_column[0].count)]
        out: list[Codes] = []
        combined = np.arange(self.size)
        for pair in reversed(self.pairs):
            packed = pair.keys[combined]
            out.append(packed & 0xFFFFFFFF)
            combined = packed >> 32
        out.append(combined)
        return out[::-1]

    def key_tuples(self, groups: NDArray[np.intp], *, raw: bool = False) -> list[tuple[Any, ...]]:
        """The key tuple of each of ``groups`` (Python values; unless ``raw``, text that reads
        as a number becomes that number, as CSV keys always did)."""
        columns = [
            values.to_pylist() if raw else plain_values(values)
            for values in self.key_arrays(groups)
        ]
        return list(zip(*columns, strict=True))

    def key_arrays(self, groups: NDArray[np.intp]) -> list[Any]:
        """For each key column, the key of each of ``groups`` (an Arrow array, as read)."""
        return [
            take(column.values(), codes[groups])
            for column, codes in zip(self.per_column, self.column_codes(), strict=True)
        ]

    def raw_keys(self) -> list[tuple[Any, ...]]:
        """Every group's key as read, in code order."""
        return self.key_tuples(np.arange(self.size, dtype=np.intp), raw=True)

    def code_of(self, key: tuple[Any, ...]) -> int:
        """The code of one key (as :meth:`raw_keys` gives it), a new one if not seen yet."""
        import pyarrow as pa

        from losscli.engine.chunk import Chunk

        columns = {}
        for column, value in zip(self.columns, key, strict=True):
            typ = self.per_column[self.columns.index(column)]._type()
            columns[column] = pa.array([value], type=typ)
        return int(self.chunk_codes(Chunk(1, {}, columns, {}))[0])

    def order(self) -> NDArray[np.intp]:
        """Group codes sorted by key: numbers (and text that reads as a number) by value,
        then text, then null; the first key column first."""
        if len(self.per_column) == 1:  # group codes are the column's codes
            return _column_order(self.per_column[0].values())
        ranks = [
            _column_ranks(column.values())[codes]
            for column, codes in zip(self.per_column, self.column_codes(), strict=True)
        ]
        return np.lexsort(ranks[::-1]).astype(np.intp)

    def merge(self, other: GroupKeys) -> NDArray[np.intp]:
        """Add ``other``'s groups; returns, for each of its codes, this table's code."""

        if other.size == 0:
            return np.zeros(0, dtype=np.intp)
        names = [f"k{j}" for j in range(len(self.columns))]
        values = [
            take(column.values(), codes)
            for column, codes in zip(other.per_column, other.column_codes(), strict=True)
        ]
        from losscli.engine.chunk import Chunk

        batch = Chunk(other.size, {}, dict(zip(self.columns, values, strict=True)), {})
        del names
        return self.chunk_codes(batch)


def _column_ranks(values: Any) -> NDArray[np.intp]:
    """The rank of each distinct value under :func:`sort_key` (ties share no rank)."""
    order = _column_order(values)
    ranks = np.empty(len(order), dtype=np.intp)
    ranks[order] = np.arange(len(order))
    return ranks


def _column_order(values: Any) -> NDArray[np.intp]:
    """The distinct ``values`` (an Arrow array) in :func:`sort_key` order, as positions."""
    import pyarrow as pa

    n = len(values)
    typ = values.type
    nulls = ~valid_mask(values) if values.null_count else np.zeros(n, dtype=bool)
    ints = _integer_values(values) if n else None
    if ints is not None and not pa.types.is_boolean(typ):
        if values.null_count:
            order = np.lexsort((ints, nulls))
        else:  # distinct values: any sort gives the one order (1M keys: 40 against 120 ms)
            order = np.argsort(ints)
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        order = _text_order(values, nulls)
    else:
        plain = values.to_pylist()
        order = np.array(
            sorted(range(n), key=lambda i: sort_key((plain[i],))), dtype=np.intp
        ).reshape(-1)
    return order.astype(np.intp, copy=False)


_NUMBER_LIKE = r"(?i)^\s*[-+]?([0-9_.]+(e[-+]?[0-9_]+)?|inf(inity)?|nan)\s*$"
#: Every text ``float()`` accepts matches (a superset: Unicode digits and the spaces
#: ``str.strip`` removes included), so only these need ``float()`` tried.
_SPACE = r"[\pZ\t\n\x0b\x0c\r\x1c-\x1f\x85]"
_FLOAT_LIKE = rf"(?i)^{_SPACE}*[-+]?([\p{{Nd}}_.]+(e[-+]?[\p{{Nd}}_]+)?|inf(inity)?|nan){_SPACE}*$"


def _text_order(values: Any, nulls: NDArray[np.bool_]) -> NDArray[np.intp]:
    """Text keys: those that read as numbers first (by value), then the rest (by code point),
    then null — :func:`sort_key` without a Python call per key unless it looks numeric."""
    import pyarrow.compute as pc

    numeric_rows = np.flatnonzero(true_mask(pc.match_substring_regex(values, _NUMBER_LIKE)))
    numbers: list[int] = []
    texts = np.flatnonzero(~nulls)
    if len(numeric_rows):
        candidates = values.take(arrow_of(numeric_rows)).to_pylist()
        keyed = []
        for i, text in zip(numeric_rows.tolist(), candidates, strict=True):
            try:
                keyed.append((_sortable(float(text)), text, i))
            except ValueError:
                continue
        keyed.sort()
        numbers = [i for _, _, i in keyed]
        texts = np.setdiff1d(texts, np.array(numbers, dtype=np.intp))
    if len(texts):
        plain = values if len(texts) == len(values) else values.take(arrow_of(texts))
        order = _short_text_order(plain)
        if order is None:
            order = index_values(pc.sort_indices(plain))
        texts = texts[order]
    return np.concatenate(
        [np.array(numbers, dtype=np.intp), texts.astype(np.intp), np.flatnonzero(nulls)]
    )


def _short_text_order(values: Any) -> NDArray[np.intp] | None:
    """The byte order of distinct strings of up to 24 bytes (no nulls), sorted in NumPy as
    big-endian 64-bit words with the length last (a prefix sorts first); None for longer
    ones. Words that are the same in every string are left out, and a single word left is
    sorted alone (the strings are distinct, so it is): a million keys like ``store_0042``
    in ≈0.1 s against ≈0.45 s for Arrow's ``sort_indices``."""
    found = text_words(values)
    if found is None:
        return None
    words, lengths = found
    keys = [lengths, *(w.byteswap() for w in reversed(words))]  # the last key sorts first
    keys = [k for k in keys if len(k) and (k != k[0]).any()]
    if not keys:
        return np.arange(len(values), dtype=np.intp)
    if len(keys) == 1:
        return np.argsort(keys[0]).astype(np.intp, copy=False)
    return np.lexsort(keys).astype(np.intp, copy=False)


def group_rows(codes: NDArray[np.intp]) -> Iterator[tuple[int, NDArray[np.intp]]]:
    """(group code, row indices in input order) for each group present in a chunk."""
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    bounds = np.flatnonzero(np.diff(ordered)) + 1
    starts = np.concatenate(([0], bounds)).tolist()
    ends = np.concatenate((bounds, [len(order)])).tolist()
    for start, end in zip(starts, ends, strict=True):
        if end > start:
            yield int(ordered[start]), order[start:end]


class PerGroupStates:
    """The grouped contract over one ungrouped state object per group, for a statistic that
    has no array form in :mod:`losscli.stats.grouped` (e.g. one that keeps its values): each
    chunk's rows are sorted by group once and each present group's state gets its rows."""

    def __init__(self, new_state: Callable[[], Any]) -> None:
        self.new_state = new_state
        self.states: dict[int, Any] = {}
        self.size = 0

    @property
    def rows(self) -> NDArray[np.int64]:
        out = np.zeros(self.size, dtype=np.int64)
        for gid, state in self.states.items():
            out[gid] = state.rows
        return out

    def _split(self, codes: NDArray[np.intp], size: int) -> Iterator[tuple[Any, Any]]:
        self.size = max(self.size, size)
        for gid, rows in group_rows(codes):
            state = self.states.get(gid)
            if state is None:
                state = self.states[gid] = self.new_state()
            yield state, rows

    def update(
        self, inputs: dict[str, Any], weights: Any, codes: NDArray[np.intp], size: int
    ) -> None:
        for state, rows in self._split(codes, size):
            part = {k: np.ascontiguousarray(v[:, rows]) for k, v in inputs.items()}
            state.update(part, None if weights is None else weights[rows])

    def add_chunk(self, losses: Any, weights: Any, codes: NDArray[np.intp], size: int) -> None:
        for state, rows in self._split(codes, size):
            part = np.ascontiguousarray(losses[:, rows])
            state.add_chunk(part, None if weights is None else weights[rows])

    def merge(self, other: PerGroupStates, remap: NDArray[np.intp], size: int) -> None:
        self.size = max(self.size, size)
        for gid, state in other.states.items():
            mine = self.states.get(int(remap[gid]))
            if mine is None:
                self.states[int(remap[gid])] = state
            else:
                mine.merge(state)

    def compute(self, reduction: Any, per: Any) -> NDArray[np.float64]:
        values = {gid: state.compute(reduction, per) for gid, state in self.states.items()}
        width = max((len(v) for v in values.values() if isinstance(v, list)), default=0)
        out = np.full((width, self.size) if width else self.size, np.nan)
        for gid, value in values.items():
            if width:
                out[:, gid] = value
            else:
                out[gid] = value
        return out


def plain_values(values: Any) -> list[Any]:
    """An Arrow array of keys as the Python values results show: text that reads as a number
    becomes that number (as CSV keys always did), whole floats become ints."""
    import pyarrow as pa

    typ = values.type
    plain = values.to_pylist()
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        # Only the keys that may read as numbers need a Python call each.
        for i in np.flatnonzero(_may_be_numbers(values)).tolist():
            plain[i] = numeric_text(plain[i])
    elif pa.types.is_floating(typ):
        plain = [_plain(v) for v in plain]
    return plain


def may_be_number(values: Any) -> bool:
    """Whether any text key of ``values`` may read as a number (:func:`numeric_text`)."""
    return bool(_may_be_numbers(values).any())


def _may_be_numbers(values: Any) -> NDArray[np.bool_]:
    import pyarrow.compute as pc

    return true_mask(pc.match_substring_regex(values, _FLOAT_LIKE))


def _plain(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Keys sort numerically where they look like numbers (CSV keys arrive as text)."""
    out: list[tuple[int, float, str]] = []
    for part in key:
        if part is None:
            out.append((2, 0.0, ""))
            continue
        try:
            out.append((0, _sortable(float(part)), str(part)))
        except (TypeError, ValueError):
            out.append((1, 0.0, str(part)))
    return tuple(out)


def _sortable(number: float) -> float:
    """NaN compares false with everything, which breaks any sort: it goes after +inf."""
    return float("inf") if number != number else number


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
