"""Grouped states (losscli.stats.grouped) and group keys (losscli.engine.groups): every group's
sum against math.fsum on adversarial data, whatever the chunking, order or merge; each grouped
state against its ungrouped state fed only that group's rows; keys of every Arrow type, null
keys, several key columns, and a million groups through the engine."""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from losscli import engine
from losscli.catalogue import lookup
from losscli.engine.chunk import Chunk
from losscli.engine.groups import GroupKeys, take
from losscli.stats import states
from losscli.stats.grouped import BLOCKED_GROUPS, GROUPED_STATES, GroupedSums
from losscli.stats.sums import KERNEL_BLOCK, split_sums
from tests.conftest import write_table


def fsum_per_group(x: np.ndarray, codes: np.ndarray, size: int) -> np.ndarray:
    return np.array([math.fsum(x[codes == g].tolist()) for g in range(size)])


def within_an_ulp(got: np.ndarray, exact: np.ndarray) -> None:
    """At most one unit in the last place (a ratio of two correctly rounded sums)."""
    assert got.shape == exact.shape
    bad = np.abs(got - exact) > np.spacing(np.abs(exact))
    assert not bad.any(), (got[bad][:5], exact[bad][:5])


def is_fsum(got: np.ndarray, exact: np.ndarray) -> None:
    """Correctly rounded, as math.fsum: the same double in every group."""
    assert got.shape == exact.shape
    bad = (got != exact) & ~(np.isnan(got) & np.isnan(exact))
    assert not bad.any(), (got[bad][:5], exact[bad][:5])


def grouped_sums(x: np.ndarray, codes: np.ndarray, size: int, chunk: int) -> np.ndarray:
    sums = GroupedSums(1)
    for start in range(0, len(x), chunk):
        part = codes[start : start + chunk]
        seen = int(part.max()) + 1 if len(part) else 0
        sums.add(x[None, start : start + chunk], part, max(seen, sums.size))
    sums.resize(size)
    return sums.totals()[0]


def _adversarial() -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    rng = np.random.default_rng(7)
    out: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    n = 6000
    # 1e±300 magnitudes mixed in every group
    wide = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 301, n)
    out["magnitudes 1e±300"] = (wide, rng.integers(0, 40, n), 40)
    # huge cancellations: each group holds ±big pairs that cancel, plus small leftovers
    big = rng.standard_normal(n // 2) * 1e16
    small = rng.standard_normal(n // 2)
    x = np.concatenate([big, -big + small])
    codes = np.concatenate([np.arange(n // 2) % 30, np.arange(n // 2) % 30])
    out["cancellation 1e16"] = (x, codes, 30)
    # the classic: [1e300, 1, 1e-300, -1e300, -1] sums to 1e-300
    x = np.array([1e300, 1.0, 1e-300, -1e300, -1.0, 2.0**-1074, 1e308, -1e308, 3.5])
    out["cancellation across 1e±300"] = (x, np.array([0, 0, 0, 0, 0, 1, 1, 1, 1]), 2)
    # many tiny groups (one or two rows each) and one giant group
    codes = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 4000, n))
    out["tiny groups and a giant one"] = (rng.standard_normal(n) ** 3 * 1e5, codes, 4000)
    # subnormals and near-overflow values
    x = np.concatenate([rng.random(100) * 1e-310, rng.random(100) * 1.7e308 / 200])
    out["subnormal and near overflow"] = (x, rng.integers(0, 3, 200), 3)
    # squared errors: a wide spread below the largest value
    out["squared errors"] = (rng.standard_normal(n) ** 2, rng.integers(0, 7, n), 7)
    return out


ADVERSARIAL = _adversarial()


@pytest.mark.parametrize("name", list(ADVERSARIAL))
@pytest.mark.parametrize("chunk", [1, 7, 1000, 10**6])
def test_every_group_sum_is_fsum(name: str, chunk: int) -> None:
    x, codes, size = ADVERSARIAL[name]
    if chunk == 1 and len(x) > 1000:
        x, codes = x[:1000], codes[:1000]
    is_fsum(grouped_sums(x, codes, size, chunk), fsum_per_group(x, codes, size))


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_update_blocks_do_not_matter(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk added block by block (blocks of 1,000 rows here) gives the same sums."""
    from losscli.stats import grouped

    x, codes, size = ADVERSARIAL[name]
    whole = grouped_sums(x, codes, size, 10**6)
    monkeypatch.setattr(grouped, "SMALL_BLOCK", 1000)
    blocked = grouped_sums(x, codes, size, 10**6)
    assert np.array_equal(blocked, whole)
    is_fsum(blocked, fsum_per_group(x, codes, size))


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_row_order_and_merges_do_not_matter(name: str) -> None:
    """Two partitions with their own group codes, merged through a remap, give the one-pass
    sums bit for bit; so does any row order."""
    x, codes, size = ADVERSARIAL[name]
    rng = np.random.default_rng(1)
    one_pass = grouped_sums(x, codes, size, 10**6)
    shuffled = rng.permutation(len(x))
    assert np.array_equal(grouped_sums(x[shuffled], codes[shuffled], size, 333), one_pass)
    half = len(x) // 2
    relabel = rng.permutation(size)  # the second partition numbers groups its own way
    first = GroupedSums(1)
    first.add(x[None, :half], codes[:half], size)
    second = GroupedSums(1)
    second.add(x[None, half:], relabel[codes[half:]], size)
    back = np.argsort(relabel)  # its code c is group back[c]
    first.merge(second, back, size)
    assert np.array_equal(first.totals()[0], one_pass)


@pytest.mark.parametrize("name", list(ADVERSARIAL))
@pytest.mark.parametrize("block", [1, 1000, KERNEL_BLOCK])
def test_cache_sized_blocks_give_the_sums_and_the_ungrouped_split(name: str, block: int) -> None:
    """``add_split`` (the blocked path of a mean over few groups): every group's sum is fsum's,
    bit for bit what ``add`` gives, and each block's returned parts are exactly the ungrouped
    ``split_sums`` of that block, so the total is the ungrouped run's."""
    x, codes, size = ADVERSARIAL[name]
    if block == 1:
        x, codes = x[:500], codes[:500]
    sums = GroupedSums(1)
    for start in range(0, len(x), block):
        part = x[None, start : start + block]
        got = sums.add_split(part, codes[start : start + block], size)
        assert np.array_equal(got, split_sums(part.copy()))
    sums.resize(size)
    totals = sums.totals()[0]
    assert np.array_equal(totals, grouped_sums(x, codes, size, 10**6))
    is_fsum(totals, fsum_per_group(x, codes, size))


def test_cache_sized_blocks_with_non_finite_values() -> None:
    x = np.array([[1.0, np.inf, 2.0, np.nan, 3.0, 1e300, -np.inf, 4.0]])
    codes = np.array([0, 0, 1, 1, 2, 2, 3, 4])
    sums = GroupedSums(1)
    got = sums.add_split(x, codes, 5)
    assert np.array_equal(got, split_sums(x.copy()), equal_nan=True)
    total = sums.totals()[0]
    assert total[0] == np.inf and np.isnan(total[1]) and total[2] == 1e300 + 3.0
    assert total[3] == -np.inf and total[4] == 4.0


def test_non_finite_values_win_in_their_group_only() -> None:
    x = np.array([1.0, np.inf, 2.0, np.nan, 3.0, np.inf, -np.inf, 4.0])
    codes = np.array([0, 0, 1, 1, 2, 3, 3, 4])
    got = grouped_sums(x, codes, 5, 3)
    assert got[0] == np.inf and np.isnan(got[1]) and got[2] == 3.0 and np.isnan(got[3])
    assert got[4] == 4.0


def test_near_halfway_sums_round_as_fsum() -> None:
    """A sum halfway between two doubles but for a value hundreds of binades lower (bins in
    between empty) rounds the way that value pushes it, in every group and row total."""
    tiny = [2.0**-600, -(2.0**-600), 2.0**-1074, -(2.0**-1074), 0.0]
    x, codes = [], []
    for g, t in enumerate(tiny):
        for base in (1.0, 3.0, -5.0, 2.0**900, 1e-300):
            x += [base, base * 2.0**-53, t * (1 if base > 1e-200 else 2.0**-200)]
            codes += [g] * 3
        x += [2.0**52 + 1, 0.5, t]  # an odd last bit: half rounds away
        codes += [g] * 3
    values, keys = np.array(x), np.array(codes)
    for chunk in (len(values), 4):
        is_fsum(grouped_sums(values, keys, len(tiny), chunk), fsum_per_group(values, keys, 5))
    sums = GroupedSums(3)
    rows = np.stack([values, values[::-1].copy(), values * 3])
    sums.add(rows, keys, 5)
    is_fsum(sums.row_totals(), fsum_per_group(rows.reshape(-1), np.tile(keys, 3), 5))


def test_several_columns_and_their_row_total() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 5000)) * np.array([[1e-8], [1.0], [1e8]])
    codes = rng.integers(0, 11, 5000)
    sums = GroupedSums(3)
    for start in range(0, 5000, 999):
        sums.add(x[:, start : start + 999], codes[start : start + 999], 11)
    for j in range(3):
        is_fsum(sums.totals()[j], fsum_per_group(x[j], codes, 11))
    is_fsum(sums.row_totals(), fsum_per_group(x.reshape(-1), np.tile(codes, 3), 11))


# -- grouped states against the ungrouped state of each group -----------------------------------
def _inputs(rng: np.random.Generator, n: int, k: int) -> dict[str, np.ndarray]:
    target = rng.normal(size=(k, n)) * np.array([[0.01], [1.0], [30.0]])[:k]
    return {"pred": target + rng.normal(size=(k, n)), "target": target}


@pytest.mark.parametrize("kind", sorted(GROUPED_STATES))
@pytest.mark.parametrize("weighted", [False, True])
def test_grouped_state_equals_the_state_of_each_group(kind: str, weighted: bool) -> None:
    rng = np.random.default_rng(11)
    n, k, size = 3000, 3, 9
    inputs = _inputs(rng, n, k)
    codes = rng.integers(0, size, n)
    codes[:2] = [7, 8]  # group 8 has a single row: R² is NaN there
    codes[codes == 8] = 7
    codes[1] = 8
    weights = rng.random(n) * 2 if weighted else None
    losses = np.abs(inputs["pred"] - inputs["target"])
    grouped = GROUPED_STATES[kind](k)
    for start in range(0, n, 700):
        stop = min(n, start + 700)
        part = codes[start:stop]
        w = None if weights is None else weights[start:stop]
        if hasattr(grouped, "update"):
            grouped.update({r: v[:, start:stop] for r, v in inputs.items()}, w, part, size)
        else:
            grouped.add_chunk(losses[:, start:stop].copy(), w, part, size)
    for reduction, per in [("mean", "all"), ("mean", "output"), ("sum", "all"), ("sum", "row")]:
        if kind not in ("MeanState",) and reduction == "sum":
            continue
        got = grouped.compute(reduction, per)
        for g in range(size):
            rows = codes == g
            alone: Any = getattr(states, kind)(k)
            w = None if weights is None else weights[rows]
            if hasattr(alone, "update"):
                alone.update({r: v[:, rows] for r, v in inputs.items()}, w)
            else:
                alone.add_chunk(np.ascontiguousarray(losses[:, rows]), w)
            expected = np.asarray(alone.compute(reduction, per), dtype=float)
            value = got[:, g] if per == "output" else got[g]
            # R² and explained variance are 1 − ratio: the ratio's rounding is absolute there
            atol = 1e-14 if kind in ("R2State", "ExplainedVarianceState") else 0.0
            np.testing.assert_allclose(value, expected, rtol=1e-13, atol=atol, equal_nan=True)
        assert grouped.rows.tolist() == np.bincount(codes, minlength=size).tolist()


@pytest.mark.parametrize("kind", sorted(GROUPED_STATES))
def test_grouped_states_merge_across_partitions(kind: str) -> None:
    """Two partitions numbering groups differently merge to the one-pass values."""
    rng = np.random.default_rng(5)
    n, k, size = 2000, 2, 6
    inputs = _inputs(rng, n, k)
    losses = np.square(inputs["pred"] - inputs["target"])
    codes = rng.integers(0, size, n)
    relabel = np.array([3, 5, 0, 1, 4, 2])

    def feed(state: Any, rows: slice, mapping: np.ndarray) -> Any:
        part = mapping[codes[rows]]
        if hasattr(state, "update"):
            state.update({r: v[:, rows] for r, v in inputs.items()}, None, part, size)
        else:
            state.add_chunk(losses[:, rows].copy(), None, part, size)
        return state

    identity = np.arange(size)
    whole = feed(GROUPED_STATES[kind](k), slice(0, n), identity)
    first = feed(GROUPED_STATES[kind](k), slice(0, 900), identity)
    second = feed(GROUPED_STATES[kind](k), slice(900, n), relabel)
    first.merge(second, np.argsort(relabel), size)
    atol = 1e-14 if kind in ("R2State", "ExplainedVarianceState") else 0.0  # 1 − ratio
    np.testing.assert_allclose(
        first.compute("mean", "output"), whole.compute("mean", "output"), rtol=1e-13, atol=atol
    )
    assert first.rows.tolist() == whole.rows.tolist()


# -- keys ------------------------------------------------------------------------------------------
def _chunk(**columns: Any) -> Chunk:
    n = len(next(iter(columns.values())))
    return Chunk(n, {}, columns, {})


KEY_COLUMNS = {
    "int": pa.array([5, 3, None, 5, -2], pa.int64()),
    "uint8": pa.array([1, 2, 1, None, 200], pa.uint8()),
    "string": pa.array(["b", "a", None, "b", "10"]),
    "large_string": pa.array(["b", "a", None, "b", "2"], pa.large_string()),
    "dictionary": pa.array(["x", None, "y", "x", "y"]).dictionary_encode(),
    "bool": pa.array([True, False, None, True, False]),
    "date": pa.array([datetime.date(2024, 1, d) for d in (3, 1, 3, 2, 1)]),
    "timestamp": pa.array([datetime.datetime(2024, 5, 1, h) for h in (1, 2, 1, 0, 2)]),
    "float": pa.array([0.5, 2.0, None, 0.5, -1.0]),
}


@pytest.mark.parametrize("name", list(KEY_COLUMNS))
def test_key_types_group_like_python_values(name: str) -> None:
    column = KEY_COLUMNS[name]
    keys = GroupKeys(["k"])
    first = keys.chunk_codes(_chunk(k=column.slice(0, 3)))
    second = keys.chunk_codes(_chunk(k=column.slice(3)))
    codes = np.concatenate([first, second])
    values = column.to_pylist()
    for i in range(len(values)):
        for j in range(len(values)):
            assert (codes[i] == codes[j]) == (values[i] == values[j]), (values[i], values[j])
    ordered = [key[0] for key in keys.key_tuples(keys.order())]
    assert len(ordered) == len(set(map(repr, values))) == keys.size
    assert ordered[-1] is None or None not in values  # null sorts last


@pytest.mark.parametrize("name", list(KEY_COLUMNS))
def test_take_gives_arrows_take(name: str) -> None:
    """Key values gathered in NumPy (fixed-width types) or by Arrow: the same array, from a
    sliced column too, nulls included."""
    column = KEY_COLUMNS[name]
    for part in (column, column.slice(1, 3)):
        for rows in ([], [0], [len(part) - 1, 0, 1, 1]):
            indices = np.array(rows, dtype=np.int64)
            got = take(part, indices)
            assert got.type == part.type
            assert got.to_pylist() == part.take(pa.array(indices, pa.int64())).to_pylist()


def test_text_keys_sort_numbers_first_and_print_them_as_numbers() -> None:
    keys = GroupKeys(["k"])
    keys.chunk_codes(_chunk(k=pa.array(["b", "10", None, "2", "a", "1.5"])))
    assert keys.key_tuples(keys.order()) == [(1.5,), (2,), (10,), ("a",), ("b",), (None,)]


@pytest.mark.parametrize(
    "texts",
    [
        ["b", "a", "", "ab", "ab\x00", "a\x00", "é", "e\u0301", "z" * 24, "z" * 23, "zz" * 8],
        [f"store_{i:07d}" for i in (42, 7, 1_000_000, 999_999, 0)],  # one word varies
        ["same-prefix-123", "same-prefix-12", "same-prefix-1234"],  # only the length varies
        ["ü" * 12, "ü" * 11 + "u", "\U0001f600" * 6, "x" * 25],  # 25 bytes: Arrow sorts
    ],
)
def test_text_keys_sort_by_bytes_as_arrow_does(texts: list[str]) -> None:
    from losscli.engine.groups import _text_order

    values = pa.array(texts)
    got = _text_order(values, np.zeros(len(texts), dtype=bool))
    assert [texts[i] for i in got] == sorted(texts, key=lambda t: t.encode())
    for typ in (pa.large_string(), pa.binary()):
        again = _text_order(values.cast(typ), np.zeros(len(texts), dtype=bool))
        assert again.tolist() == got.tolist()


def test_several_key_columns_of_mixed_types() -> None:
    keys = GroupKeys(["s", "d", "b"])
    rows = [("x", datetime.date(2024, 1, 2), True), ("x", None, True), (None, None, None)]
    rows += [("y", datetime.date(2024, 1, 1), False), ("x", datetime.date(2024, 1, 2), True)]
    columns = list(zip(*rows, strict=True))
    chunk = _chunk(s=pa.array(columns[0]), d=pa.array(columns[1]), b=pa.array(columns[2]))
    codes = keys.chunk_codes(chunk)
    assert codes[0] == codes[4] and len(set(codes.tolist())) == 4
    assert keys.key_tuples(keys.order()) == [
        ("x", datetime.date(2024, 1, 2), True),
        ("x", None, True),
        ("y", datetime.date(2024, 1, 1), False),
        (None, None, None),
    ]


def test_sparse_integer_keys_use_a_sorted_search() -> None:
    keys = GroupKeys(["k"])
    big = np.array([10**15, -(10**14), 7, 10**15, 42])
    a = keys.chunk_codes(_chunk(k=pa.array(big)))
    b = keys.chunk_codes(_chunk(k=pa.array(big[::-1].copy())))
    assert a.tolist() == b[::-1].tolist() and keys.size == 4
    assert keys.key_tuples(keys.order()) == [(-(10**14),), (7,), (42,), (10**15,)]


@pytest.mark.parametrize("consecutive", [False, True])
def test_integer_keys_known_holes_and_new_ranges(consecutive: bool) -> None:
    """Chunks of known keys take the two-pass lookup; a key in a hole of the table, below or
    above its range, or at the ends of int64 goes the general way: codes match values."""
    keys = GroupKeys(["k"])
    top, bottom = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    chunks = [
        [3, 9, 3, 5],  # a table over 3..9 with holes
        [9, 5, 3, 3],  # known keys only
        [4, 9, 5],  # a hole
        [9, -7, 3],  # below the range
        [4, 12, 4],  # above it
        [top, bottom, 3, top - 1, bottom + 1],  # beyond any table: a sorted search
        [bottom, 4, top],
    ]
    if consecutive:  # keys lo, lo + 1, ... numbered in order: their offsets are the codes
        chunks = [[12, 10, 11, 14, 13], [14, 10, 10], [15, 12], [11, 15], [8, 10], [9, 9, 14]]
    codes: list[int] = []
    values: list[int] = []
    for part in chunks:
        codes += keys.chunk_codes(_chunk(k=pa.array(part, pa.int64()))).tolist()
        values += part
    seen: dict[int, int] = {}
    for value, code in zip(values, codes, strict=True):
        assert seen.setdefault(value, code) == code
    assert len(set(seen.values())) == len(seen) == keys.size
    ordered = [key[0] for key in keys.key_tuples(keys.order())]
    assert ordered == sorted(seen)


def test_key_tables_merge_by_value() -> None:
    left, right = GroupKeys(["k"]), GroupKeys(["k"])
    left.chunk_codes(_chunk(k=pa.array(["a", "b", None])))
    right.chunk_codes(_chunk(k=pa.array([None, "c", "a"])))
    remap = left.merge(right)
    assert left.key_tuples(remap) == right.key_tuples(np.arange(3))
    assert left.size == 4 and sorted(remap.tolist())[2] == 3  # "a" and null are known


# -- through the engine ---------------------------------------------------------------------------
def run(path: Path, loss: str = "mse", **kw: Any) -> engine.LossResult:
    spec = lookup(loss)
    assert spec is not None
    options = engine.RunOptions(files=[str(path)], **kw)
    return engine.run([engine.LossRequest(spec, spec.defaults(), {})], options)[0]


def test_null_keys_are_one_group_and_chunking_changes_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 500
    pred, target = rng.normal(size=n) * 1e8, rng.normal(size=n)
    city = np.array(["oslo", "rome", None, "lima"], dtype=object)[rng.integers(0, 4, n)]
    store = rng.integers(0, 3, n).astype(float)
    store[rng.random(n) < 0.2] = np.nan
    path = write_table(
        tmp_path / "k.parquet",
        {
            "pred": pred,
            "target": target,
            "city": list(city),
            "store": pa.array(store, from_pandas=True),
        },
    )
    results = [run(path, group_by="city,store", chunk_size=size) for size in (n, 64, 7)]
    for result in results[1:]:
        assert [(g.key, g.rows, g.value) for g in result.groups] == [
            (g.key, g.rows, g.value) for g in results[0].groups
        ]
    valid = ~np.isnan(store)
    for g in results[0].groups:
        c, s = g.key
        mask = np.array([x == c for x in city]) & (~valid if s is None else valid & (store == s))
        errors = (pred[mask] - target[mask]) ** 2
        assert g.rows == int(mask.sum())
        assert g.value == math.fsum(errors.tolist()) / mask.sum()
    assert results[0].groups[-1].key == (None, None)


def test_text_keys_stored_as_a_dictionary_group_as_plain_text(tmp_path: Path) -> None:
    """Parquet text keys the file stores dictionary-encoded are decoded as dictionaries (row
    groups with their own dictionaries, joined into runs): the groups are those of the same
    data read from CSV; values met only on skipped rows, or only in a dictionary (a
    categorical's unused category), make no group."""
    import pyarrow.parquet as pq

    from losscli.io.parquet import _dictionary_leaves

    rng = np.random.default_rng(5)
    n = 3000
    names = np.array(["oslo", "rome", "lima", "kyiv", "ghost", None], dtype=object)
    city = names[rng.integers(0, 6, n)]
    pred, target = rng.normal(size=n) * 1e6, rng.normal(size=n)
    pred[city == "ghost"] = np.nan  # "ghost" rows are all skipped
    pred[rng.random(n) < 0.05] = np.nan
    categories = pa.array(["b", "unused", "a"])
    cat = pa.DictionaryArray.from_arrays(pa.array(rng.choice([0, 2], n), pa.int32()), categories)
    columns = {"pred": pred, "target": target, "city": list(city)}
    plain = write_table(tmp_path / "k.csv", columns)
    path = write_table(tmp_path / "k.parquet", {**columns, "cat": cat}, row_group_size=700)
    metadata = pq.ParquetFile(path).metadata
    city_leaf = metadata.schema.names.index("city")
    assert _dictionary_leaves(metadata, [[city_leaf], [0]], range(5)) == [city_leaf]

    def groups(result: engine.LossResult) -> list[tuple[Any, int, float]]:
        return [(g.key, g.rows, g.value) for g in result.groups]

    for size in (3000, 256):
        got = run(path, group_by="city", nan="skip", chunk_size=size)
        assert groups(got) == groups(run(plain, group_by="city", nan="skip", chunk_size=size))
        assert [g.key[0] for g in got.groups] == ["kyiv", "lima", "oslo", "rome", None]
    by_cat = run(path, group_by="cat", nan="skip")
    keep = ~np.isnan(pred)
    codes = np.asarray(cat.indices)
    assert [g.key[0] for g in by_cat.groups] == ["a", "b"]
    for g, code in zip(by_cat.groups, (2, 0), strict=True):
        mask = keep & (codes == code)
        assert g.rows == int(mask.sum())
        assert g.value == math.fsum(((pred[mask] - target[mask]) ** 2).tolist()) / mask.sum()


@pytest.mark.parametrize("weighted", [False, True])
def test_few_groups_in_cache_sized_blocks(tmp_path: Path, weighted: bool) -> None:
    """A mean over at most BLOCKED_GROUPS groups with chunks above a block (the kernel and
    the peel run block by block): losses spanning 1e±300, one giant group and many tiny ones;
    each group's value is fsum's, any chunk size gives the same digits, and the overall value
    is the ungrouped run's."""
    rng = np.random.default_rng(12)
    n = 20_000
    target = rng.standard_normal(n)
    pred = target + rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    key = np.where(rng.random(n) < 0.5, 0, rng.integers(1, BLOCKED_GROUPS, n))
    columns: dict[str, Any] = {"pred": pred, "target": target, "key": key}
    weight = rng.random(n) * 3 if weighted else None
    if weight is not None:
        columns["w"] = weight
    path = write_table(tmp_path / "few.parquet", columns)
    kw: dict[str, Any] = {"weight": "w"} if weighted else {}
    results = [run(path, "l1", group_by="key", chunk_size=s, **kw) for s in (n, 3000, 1500)]
    for result in results[1:]:
        assert [(g.key, g.rows, g.value) for g in result.groups] == [
            (g.key, g.rows, g.value) for g in results[0].groups
        ]
    losses = np.abs(pred - target) if weight is None else np.abs(pred - target) * weight
    w = np.ones(n) if weight is None else weight
    got, exact = [], []
    for g in results[0].groups:
        mask = key == g.key[0]
        assert g.rows == int(mask.sum())
        got.append(g.value)
        exact.append(math.fsum(losses[mask].tolist()) / math.fsum(w[mask].tolist()))
    is_fsum(np.array(got), np.array(exact))
    for size in (n, 3000):
        assert run(path, "l1", chunk_size=size, **kw).value == results[0].value


def test_a_million_groups(tmp_path: Path) -> None:
    """One row per group for a million groups, keys shuffled: each group's MSE is its own
    squared error, exactly."""
    n = 1_000_000
    rng = np.random.default_rng(4)
    key = rng.permutation(n)
    pred, target = rng.normal(size=n), rng.normal(size=n)
    path = write_table(tmp_path / "m.parquet", {"pred": pred, "target": target, "user": key})
    result = run(path, group_by="user", chunk_size=300_000)
    assert len(result.groups) == n
    order = np.argsort(key)
    assert [g.key[0] for g in result.groups[:3]] == [0, 1, 2]
    values = np.array([g.value for g in result.groups])
    assert np.array_equal(values, ((pred - target) ** 2)[order])


# -- the terminal table with many groups ----------------------------------------------------------
def _table_groups(out: str) -> list[str]:
    """The group cells of a table's rows (the column after the reduction)."""
    rows = [line.split() for line in out.splitlines()[2:]]
    return [r[0] for r in rows if r and not r[0].startswith("/")]


def test_table_shows_the_worst_groups_and_counts_the_hidden(tmp_path: Path) -> None:
    from tests.conftest import invoke

    n_groups = 60
    rng = np.random.default_rng(8)
    order = rng.permutation(n_groups)
    error = np.sqrt(order + 1.0)  # group g's MSE is order[g] + 1: all different
    path = write_table(
        tmp_path / "t.csv",
        {"pred": error, "target": np.zeros(n_groups), "seg": [f"g{g:02d}" for g in range(60)]},
    )
    worst = [f"g{g:02d}" for g in np.argsort(-order)]
    shown = invoke(["mse", str(path), "-g", "seg", "-f", "table"])
    assert shown.code == 0
    assert _table_groups(shown.out)[:50] == worst[:50]
    assert "… 10 more not shown" in shown.out
    top = invoke(["mse", str(path), "-g", "seg", "-f", "table", "--top", "3", "--sort", "key"])
    assert _table_groups(top.out)[:3] == ["g00", "g01", "g02"]
    assert "… 57 more not shown" in top.out
    every = invoke(["mse", str(path), "-g", "seg", "-f", "table", "--top", "60"])
    assert _table_groups(every.out) == sorted(worst) and "more not shown" not in every.out
    csv_out = invoke(["mse", str(path), "-g", "seg", "-f", "csv"])
    assert len(csv_out.out.strip().splitlines()) == 1 + 1 + n_groups  # header, total, groups


def test_table_sorts_higher_is_better_metrics_lowest_first(tmp_path: Path) -> None:
    from tests.conftest import invoke

    target = np.tile([0.0, 1.0, 2.0, 3.0], 3)
    noise = np.repeat([0.1, 1.0, 0.5], 4)  # group b fits worst, then c, then a
    path = write_table(
        tmp_path / "r.csv",
        {
            "pred": target + noise * np.tile([1, -1, 1, -1], 3),
            "target": target,
            "seg": list(np.repeat(["a", "b", "c"], 4)),
        },
    )
    result = invoke(["r2", str(path), "-g", "seg", "-f", "table", "--sort", "value"])
    assert _table_groups(result.out) == ["b", "c", "a"]
