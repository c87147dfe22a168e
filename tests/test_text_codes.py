"""Text group keys coded in NumPy (losscli.engine.text_codes): the groups are those of Python
string equality whatever the hash does, across chunks, slices, nulls and Arrow fallbacks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from losscli.engine import groups, text_codes
from losscli.engine.chunk import Chunk
from losscli.engine.groups import GroupKeys


def _random_texts(rng: np.random.Generator, n: int, distinct: int) -> list[Any]:
    alphabet = ["a", "b", "é", "\x00", "z", "字", "0", " "]
    pool: list[Any] = ["", "a", "a\x00", "ab", "b", "x" * 24, "é" * 12, None]
    while len(pool) < distinct:
        size = int(rng.integers(0, 25))
        text = "".join(rng.choice(alphabet, size))
        if len(text.encode()) <= 24:
            pool.append(text)
    return [pool[i] for i in rng.integers(0, len(pool), n)]


def _codes(keys: GroupKeys, arr: Any, chunk: int) -> np.ndarray:
    parts = []
    for start in range(0, len(arr), chunk):
        part = arr.slice(start, chunk)
        parts.append(keys.chunk_codes(Chunk(len(part), {}, {"k": part}, {})))
    return np.concatenate(parts)


def _check(values: list[Any], codes: np.ndarray, keys: GroupKeys) -> None:
    """Equal codes exactly for equal values; each code's key is its rows' value."""
    first: dict[Any, int] = {}
    for value, code in zip(values, codes.tolist(), strict=True):
        assert first.setdefault(value, code) == code, value
    assert len(set(first.values())) == len(first) == keys.size
    by_code = {code: value for value, code in first.items()}
    raw = keys.raw_keys()
    assert [raw[c][0] for c in sorted(by_code)] == [by_code[c] for c in sorted(by_code)]


_REAL_HASH = text_codes._hash


def _same_home(words: list[Any], lengths: Any) -> Any:
    """Distinct hashes (40 bits), one home slot (the top bits, all zero): every lookup and
    insert probes."""
    return _REAL_HASH(words, lengths) >> np.uint64(24)


def _constant(words: list[Any], lengths: Any) -> Any:
    """Every value the same hash: the compare catches it and Arrow takes over."""
    return np.zeros(len(lengths), dtype=np.uint64)


@pytest.fixture(autouse=True)
def _table_from_the_first_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(groups, "TEXT_TABLE_KEYS", 0)


@pytest.mark.parametrize("hash_kind", ["real", "same home slot", "constant"])
@pytest.mark.parametrize("typ", [pa.string(), pa.large_string(), pa.binary()])
@pytest.mark.parametrize("from_keys", [0, 50])
def test_text_keys_group_by_equality(
    monkeypatch: pytest.MonkeyPatch, hash_kind: str, typ: Any, from_keys: int
) -> None:
    """From the first key, or from the 50th (Arrow's codes until then, the table built from
    the values known, null included)."""
    monkeypatch.setattr(groups, "TEXT_TABLE_KEYS", from_keys)
    if hash_kind == "same home slot":
        monkeypatch.setattr(text_codes, "_hash", _same_home)
    elif hash_kind == "constant":
        monkeypatch.setattr(text_codes, "_hash", _constant)
    rng = np.random.default_rng(3)
    values = _random_texts(rng, 5000, 300)
    if pa.types.is_binary(typ):
        values = [None if v is None else v.encode() for v in values]
    arr = pa.array(values, typ)
    for chunk in (5000, 777, 40):
        keys = GroupKeys(["k"])
        codes = _codes(keys, arr, chunk)
        _check(values, codes, keys)
        column = keys.per_column[0]
        assert column.text_ok == (hash_kind != "constant" or (from_keys and chunk == 5000))
        if hash_kind != "constant" and chunk == 40:
            assert column.text is not None  # the table coded the later chunks


def test_a_key_next_to_a_longer_one_is_the_same_group() -> None:
    """A key's hash does not depend on the longest key of its chunk (it did: "a" beside a
    20-byte key was a second group "a")."""
    keys = GroupKeys(["k"])
    codes = [_codes(keys, pa.array(["a", "b"]), 10), _codes(keys, pa.array(["a", "x" * 20]), 10)]
    _check(["a", "b", "a", "x" * 20], np.concatenate(codes), keys)


def test_chunks_in_slices_keep_words_for_the_longest_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk is looked up a slice at a time; the table keeps one word per 8 bytes of its
    longest key (more once a longer key comes), and its arrays grow by a quarter."""
    monkeypatch.setattr(groups, "TEXT_SLICE_ROWS", 97)
    rng = np.random.default_rng(5)
    short = [f"s{i}" for i in rng.integers(0, 700, 3000)]  # at most 8 bytes: one word
    longer = [f"store_{i:07d}" for i in rng.integers(0, 900, 3000)]  # 13 bytes: two
    mixed = [*short[:1000], None, *longer[:1000], "z" * 24]
    keys = GroupKeys(["k"])
    codes = [_codes(keys, pa.array(short), 1000)]
    text = keys.per_column[0].text
    assert text is not None
    assert text.words.shape[0] == 1
    codes.append(_codes(keys, pa.array(longer), 1000))
    assert keys.per_column[0].text is text
    assert text.words.shape[0] == 2
    codes.append(_codes(keys, pa.array(mixed), 2500))
    assert keys.per_column[0].text is text
    assert text.words.shape[0] == 3
    assert keys.size <= len(text.hashes) <= keys.size * 5 // 4 + 16
    _check(short + longer + mixed, np.concatenate(codes), keys)


def test_long_strings_and_dictionaries_hand_the_column_to_arrow() -> None:
    """A chunk with a string over 24 bytes, or a dictionary chunk bringing new values, moves
    the column to Arrow's hashing for good; codes stay consistent across the switch."""
    rng = np.random.default_rng(4)
    short = _random_texts(rng, 2000, 100)
    long = ["y" * 30, *short[:500]]
    for second in (pa.array(long), pa.array(["new", *short[:300]]).dictionary_encode()):
        keys = GroupKeys(["k"])
        codes = [_codes(keys, pa.array(short), 2000)]
        assert keys.per_column[0].text is not None
        codes.append(_codes(keys, second, 10_000))
        assert keys.per_column[0].text is None
        codes.append(_codes(keys, pa.array(short[::-1]), 2000))
        _check(short + second.to_pylist() + short[::-1], np.concatenate(codes), keys)


def test_text_words_pack_bytes_and_lengths() -> None:
    arr = pa.array(["", "abc", "abcdefghi", None, "é"]).slice(1)
    found = text_codes.text_words(arr)
    assert found is not None
    words, lengths = found
    assert lengths.tolist() == [3, 9, 0, 2]
    assert words[0][0] == int.from_bytes(b"abc", "little")
    assert words[0][1] == int.from_bytes(b"abcdefgh", "little")
    assert words[1].tolist() == [0, ord("i"), 0, 0]
    assert words[0][3] == int.from_bytes("é".encode(), "little")
    assert text_codes.text_words(pa.array(["z" * 25])) is None
    for same in (["", ""], ["abcdefghij", "0123456789", "klmnopqrst"]):  # one length
        found = text_codes.text_words(pa.array(["skip", *same]).slice(1))
        assert found is not None
        words, lengths = found
        assert lengths.tolist() == [len(t) for t in same]
        for i, text in enumerate(same):
            packed = sum(int(w[i]) << (64 * j) for j, w in enumerate(words))
            assert packed == int.from_bytes(text.encode(), "little")


def test_a_first_chunk_of_only_nulls() -> None:
    for second in (pa.array(["b", None, "a"]), pa.array(["b", None, "a"]).dictionary_encode()):
        keys = GroupKeys(["k"])
        codes = [_codes(keys, pa.array([None, None], pa.string()), 10)]
        codes.append(_codes(keys, second, 10))
        _check([None, None, "b", None, "a"], np.concatenate(codes), keys)


def test_key_tables_merge_by_text() -> None:
    """Another partition's keys map to this table's codes by value."""
    rng = np.random.default_rng(6)
    values = _random_texts(rng, 3000, 200)
    left, right = GroupKeys(["k"]), GroupKeys(["k"])
    _codes(left, pa.array(values[:1500]), 500)
    theirs = _codes(right, pa.array(values[1500:]), 500)
    remap = left.merge(right)
    mine = left.raw_keys()
    assert [mine[c] for c in remap[theirs].tolist()] == [(v,) for v in values[1500:]]
    assert left.size == len(set(values))


@pytest.mark.parametrize("length", [0, 5, 8, 13, 24])
def test_keys_of_one_length(length: int) -> None:
    """Strings of one length are read side by side (no per-row gather): same groups."""
    rng = np.random.default_rng(length)
    pool = ["".join(rng.choice(list("ab0é"), length)).encode()[:length] for _ in range(400)]
    values = [pool[i] for i in rng.integers(0, len(pool), 4000)]
    keys = GroupKeys(["k"])
    _check(values, _codes(keys, pa.array(values, pa.binary()), 333), keys)
    assert keys.per_column[0].text is not None


@pytest.mark.parametrize("length", [1, 5, 8, 13, 16, 24])
def test_one_length_words_up_to_the_buffers_end(length: int) -> None:
    """Strings of one length in a data buffer that ends with the last string (no padding):
    the reads that would pass its end come from a copy; a slice starts mid-buffer."""
    rng = np.random.default_rng(length)
    n = 50
    raw = bytes(rng.integers(0, 256, n * length, dtype=np.uint8))
    offsets = np.arange(0, (n + 1) * length, length, dtype=np.int32)
    arr = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw)])
    assert arr.buffers()[2].size == n * length
    for part in (arr, arr.slice(7), arr.slice(3, 9)):
        found = text_codes.text_words(part)
        assert found is not None
        words, lengths = found
        assert lengths.tolist() == [length] * len(part)
        for i, text in enumerate(part.to_pylist()):
            packed = sum(int(w[i]) << (64 * j) for j, w in enumerate(words))
            assert packed == int.from_bytes(text, "little")
