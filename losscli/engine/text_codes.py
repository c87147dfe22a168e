"""Short text keys to dense group codes in NumPy: each string's bytes as up to three 64-bit
words, hashed into an open-addressing table kept across chunks (``--group-by`` on text).

Arrow's ``dictionary_encode`` hashes every string of every chunk afresh and ``index_in``
then hashes the run's distinct values again per chunk (1M rows, 100,000 distinct keys:
~140 ms of CPU); here a chunk costs a few gathers and compares (~35 ms). Exactness does not
rest on the hash: every row's words and length are compared with its code's, and a chunk
where two different strings share a hash (or a string is longer than 24 bytes) is left to
Arrow, which then keeps the column for good.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from losscli.stats.grouped import grown_capacity

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    Codes = NDArray[np.int64]
    Words = NDArray[np.uint64]
else:
    Codes = np.ndarray
    Words = np.ndarray

#: Longest string (bytes) handled here: three 64-bit words.
MAX_BYTES = 24
_M0 = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


def text_words(arr: Any) -> tuple[list[Words], Codes] | None:
    """A string/binary Arrow array (no nulls) as its bytes in little-endian 64-bit words,
    zero past each string's end, and its byte lengths; None if a string is too long or the
    layout is not offsets + data."""
    import pyarrow as pa

    typ = arr.type
    if pa.types.is_string(typ) or pa.types.is_binary(typ):
        offset_type: Any = np.int32
    elif pa.types.is_large_string(typ) or pa.types.is_large_binary(typ):
        offset_type = np.int64
    else:
        return None
    n = len(arr)
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type, count=arr.offset + n + 1)
    offsets = offsets[arr.offset :].astype(np.int64)
    lengths = np.diff(offsets)
    longest = int(lengths.max()) if n else 0
    if longest > MAX_BYTES:
        return None
    width = max(1, -(-longest // 8))
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else None
    if n and int(lengths.min()) == longest:  # one length: the strings lie end to end
        if not longest:
            return [np.zeros(n, dtype=np.uint64)], lengths
        assert data is not None
        return _fixed_width_words(data, int(offsets[0]), n, longest, width), lengths
    end = int(offsets[-1]) + 8 * width
    if data is None or len(data) < end:  # room to read whole words past the last string
        padded = np.zeros(end, dtype=np.uint8)
        if data is not None:
            padded[: len(data)] = data[:end]
        data = padded
    # Every byte position as the start of an unaligned little-endian 64-bit word.
    view = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    starts = offsets[:-1]
    words = []
    for j in range(width):
        word = view[starts + 8 * j] if j else view[starts]
        keep_bytes = np.clip(lengths - 8 * j, 0, 8).astype(np.uint64)
        mask = np.left_shift(np.uint64(1), keep_bytes * np.uint64(8)) - np.uint64(1)
        mask[keep_bytes == 8] = _ALL  # a shift by 64 is undefined
        np.bitwise_and(word, mask, out=word)
        words.append(word)
    return words, lengths


def _fixed_width_words(data: Any, first: int, n: int, length: int, width: int) -> list[Words]:
    """Words of ``n`` strings of ``length`` bytes each, end to end from ``first``: word j of
    every string through one strided view (an unaligned 8-byte read every ``length`` bytes),
    masked past the string's end. The last strings, whose read would pass the buffer's end,
    are read from a padded copy of theirs."""
    words = []
    for j in range(width):
        keep = min(length - 8 * j, 8)
        mask = _ALL if keep == 8 else np.uint64((1 << (8 * keep)) - 1)
        start = first + 8 * j
        room = len(data) - start - 8  # bytes a read may start at
        fits = min(n, room // length + 1) if room >= 0 else 0
        word = np.empty(n, dtype=np.uint64)
        if fits:
            view = np.ndarray((fits,), dtype="<u8", buffer=data, offset=start, strides=(length,))
            np.bitwise_and(view, mask, out=word[:fits])
        if fits < n:
            tail = np.zeros(length * (n - fits) + 8, dtype=np.uint8)
            tail[: length * (n - fits)] = data[first + length * fits : first + length * n]
            view = np.ndarray(
                (n - fits,), dtype="<u8", buffer=tail, offset=8 * j, strides=(length,)
            )
            np.bitwise_and(view, mask, out=word[fits:])
        words.append(word)
    return words


#: An odd multiplier per word position.
_WORD_MULTIPLIERS = [
    np.uint64(0xD6E8FEB86659FD93),
    np.uint64(0xC2B2AE3D27D4EB4F),
    np.uint64(0x165667B19E3779F9),
]


def _hash(words: list[Words], lengths: Codes) -> Words:
    """A hash of each string from its length and words, the same however many words its
    batch has: a zero word (past the string's end) adds nothing. (Mixing every word into a
    running hash made a key's hash depend on its chunk's longest key, so a key seen again
    next to a longer one became a second group.)"""
    h = lengths.astype(np.uint64) * _M0
    mixed = np.empty_like(h)
    for multiplier, word in zip(_WORD_MULTIPLIERS, words, strict=False):
        np.multiply(word, multiplier, out=mixed)  # 0 stays 0 through these three
        np.bitwise_xor(mixed, mixed >> np.uint64(31), out=mixed)
        np.multiply(mixed, _M1, out=mixed)
        np.bitwise_xor(h, mixed, out=h)
    np.bitwise_xor(h, h >> np.uint64(31), out=h)
    np.multiply(h, _M2, out=h)
    np.bitwise_xor(h, h >> np.uint64(29), out=h)
    return h


class TextCodes:
    """Text → code through a linear-probing table of codes (−1: empty; 16-32 bytes a key), the
    home slot being a hash's top bits. Per code: its hash, byte length and words (33 bytes).
    The table is at most a quarter full: at half full, a million rows over 1M keys took
    ~24 ms of probing past the home slot, ~11 ms now (100,000 keys: 12 → 6 ms)."""

    def __init__(self) -> None:
        self.bits = 10
        self.table = np.full(1 << self.bits, -1, dtype=np.int32)
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.lengths = np.zeros(0, dtype=np.int8)  # −1: a code not in the table (null)
        # Only as many words a value as the longest value so far needs (13 bytes: two).
        self.words = np.zeros((0, 0), dtype=np.uint64)
        self.entries = 0

    def lookup(
        self, words: list[Words], lengths: Codes, count: int
    ) -> tuple[Codes, Codes, Words] | None:
        """(code per row, −1 for values not seen yet; the rows of the new values, one per
        value; their hashes), or None where two different strings share a hash. Nothing
        changes here: :meth:`add` records the new values under codes from ``count`` on."""
        h = _hash(words, lengths)
        codes = self._find(h)
        known = np.flatnonzero(codes >= 0) if (codes < 0).any() else None
        rows_codes = codes if known is None else codes[known]
        same = self.lengths[rows_codes] == (lengths if known is None else lengths[known])
        # Words past the stored ones are zero in every known value, and a row as long as
        # its code's value has zeros there too: the lengths compare them.
        for j, word in enumerate(words[: len(self.words)]):
            same &= self.words[j][rows_codes] == (word if known is None else word[known])
        if not same.all():
            return None
        if known is None:
            return codes, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
        fresh = np.flatnonzero(codes < 0)
        new_hashes, first, inverse = np.unique(h[fresh], return_index=True, return_inverse=True)
        representative = fresh[first][inverse]
        same = lengths[fresh] == lengths[representative]
        for word in words:
            same &= word[fresh] == word[representative]
        if not same.all():
            return None
        codes[fresh] = count + inverse
        return codes, fresh[first], new_hashes

    @classmethod
    def of(cls, values: Any, codes: Codes) -> TextCodes | None:
        """A table of known distinct ``values`` (an Arrow array, entry i holding code i) at
        ``codes`` (the entries that are not null); None if they do not fit one."""
        found = text_words(values)
        if found is None:
            return None
        words, lengths = found
        if len(codes) < len(lengths):  # (all of them: no copy)
            words, lengths = [w[codes] for w in words], lengths[codes]
        hashes = _hash(words, lengths)
        ordered = np.sort(hashes)  # (np.unique's hashing is ~10x slower here)
        if (ordered[1:] == ordered[:-1]).any():
            return None
        table = cls()
        table.add(words, lengths, hashes, codes)
        return table

    def add(self, words: list[Words], lengths: Codes, hashes: Words, codes: Codes) -> None:
        """Record new values (one row each of ``words``/``lengths``) under ``codes``; codes
        not recorded (null) stay out of the table."""
        m = len(hashes)
        size = int(codes.max()) + 1 if m else 0
        self._reserve(size, len(words))
        self.hashes[codes] = hashes
        self.lengths[codes] = lengths
        for j in range(len(self.words)):
            self.words[j, codes] = words[j] if j < len(words) else 0
        if 4 * (self.entries + m) > len(self.table):
            self._rebuild(len(self.lengths))
        else:
            self._insert(hashes, codes)
            self.entries += m

    def _reserve(self, size: int, width: int) -> None:
        have = len(self.hashes)
        width = max(width, len(self.words))
        if size <= have and width == len(self.words):
            return
        capacity = grown_capacity(have, size) if size > have else have
        if capacity > have:
            more = np.zeros(capacity - have, dtype=np.uint64)
            self.hashes = np.concatenate([self.hashes, more])
            self.lengths = np.concatenate([self.lengths, np.full(capacity - have, -1, np.int8)])
        grown = np.zeros((width, capacity), dtype=np.uint64)
        grown[: len(self.words), :have] = self.words
        self.words = grown

    def _home(self, h: Words) -> Codes:
        return (h >> np.uint64(64 - self.bits)).astype(np.int64)

    def _find(self, h: Words) -> Codes:
        if not self.entries:
            return np.full(len(h), -1, dtype=np.int64)
        slots = self._home(h)
        codes = self.table[slots].astype(np.int64)
        # A slot held by another value: probe on (few rows; the table is at most half full).
        other = np.flatnonzero((codes >= 0) & (self.hashes[np.maximum(codes, 0)] != h))
        mask = len(self.table) - 1
        while len(other):
            slots[other] = (slots[other] + 1) & mask
            found = self.table[slots[other]]
            codes[other] = found
            other = other[(found >= 0) & (self.hashes[np.maximum(found, 0)] != h[other])]
        return codes

    def _insert(self, h: Words, codes: Codes) -> None:
        slots = self._home(h)
        todo = np.arange(len(h))
        mask = len(self.table) - 1
        while len(todo):
            s = slots[todo]
            free = self.table[s] < 0
            claim = todo[free]
            self.table[s[free]] = codes[claim]  # several claims of one slot: one wins
            won = self.table[s[free]] == codes[claim]
            todo = np.concatenate([todo[~free], claim[~won]])
            slots[todo] = (slots[todo] + 1) & mask

    def _rebuild(self, size: int) -> None:
        in_table = np.flatnonzero(self.lengths[:size] >= 0)
        self.bits = max(10, int(4 * len(in_table)).bit_length())  # at most a quarter full
        self.table = np.full(1 << self.bits, -1, dtype=np.int32)
        self._insert(self.hashes[in_table], in_table)
        self.entries = len(in_table)
