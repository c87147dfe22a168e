"""Streaming states: exact sums, and merge/compute agreeing with one-pass references for any
split of the data (property tests)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from losscli.stats import (
    CompensatedSum,
    ExplainedVarianceState,
    MeanState,
    MomentState,
    R2State,
    accurate_row_sums,
    blocked_loss_sums,
)
from losscli.stats.states import ChanMoments

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, max_size=200), st.integers(min_value=1, max_value=17))
def test_compensated_sum_is_exactly_rounded_for_any_split(values: list[float], parts: int) -> None:
    total = CompensatedSum(1)
    pieces = np.array_split(np.array(values, dtype=float), parts)
    states = []
    for piece in pieces:
        state = CompensatedSum(1)
        for x in piece.tolist():
            state.add(x)
        states.append(state)
    for state in reversed(states):  # merge order does not matter
        total.merge(state)
    assert total.value[0] == math.fsum(values)


def test_cancellation_that_defeats_a_plain_sum() -> None:
    s = CompensatedSum(1)
    for x in (1e16, 1.0, -1e16, 1.0):
        s.add(x)
    assert s.value[0] == 2.0  # a float64 running sum gives 0.0 or 1.0


def test_non_finite_values_win() -> None:
    s = CompensatedSum(2)
    s.add(np.array([1.0, np.inf]))
    s.add(np.array([np.nan, 1.0]))
    assert math.isnan(s.value[0]) and s.value[1] == math.inf


@given(
    st.lists(finite, min_size=1, max_size=3000),
    st.sampled_from([1, 5, 1023, 1024, 1025, 4096]),
)
@settings(max_examples=40, deadline=None)
def test_row_sums_match_fsum_closely(values: list[float], width: int) -> None:
    """The parts add up to the exact sum but for the rounded sum of the remainders (≤ ulp(σ)/2
    each, σ ≈ 2·n·max|x|): ~2⁻¹⁰⁰ of the largest magnitude, which can flip the final rounding
    only when the exact sum lies within that of a rounding tie (one ulp)."""
    x = np.array(values[: width * (len(values) // width) or len(values)]).reshape(1, -1)
    exact = math.fsum(x[0].tolist())
    got = math.fsum(accurate_row_sums(x)[0].tolist())
    n, largest = x.shape[1], float(np.max(np.abs(x)))
    assert abs(got - exact) <= math.ulp(exact) + 2.0**-95 * n * n * largest


def test_blocked_sums_equal_row_sums() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 200_001)) * rng.choice([1e-3, 1.0, 1e3], size=(3, 200_001))
    got = blocked_loss_sums(lambda lo, hi: x[:, lo:hi], x.shape[1], 3)
    for j in range(3):
        exact = math.fsum(x[j].tolist())
        assert abs(math.fsum(got[j].tolist()) - exact) <= 1e-28 * math.fsum(np.abs(x[j]).tolist())
    squares = np.square(x)
    parts = blocked_loss_sums(lambda lo, hi: squares[:, lo:hi], x.shape[1], 3)
    assert [math.fsum(row) for row in parts.tolist()] == [math.fsum(r) for r in squares.tolist()]


@given(
    st.lists(st.tuples(finite, st.floats(min_value=0.01, max_value=100)), min_size=1, max_size=300),
    st.integers(min_value=1, max_value=9),
)
@settings(max_examples=60, deadline=None)
def test_weighted_mean_state_merges_like_one_pass(
    rows: list[tuple[float, float]], parts: int
) -> None:
    losses = np.array([[r[0] for r in rows]])
    weights = np.array([r[1] for r in rows])
    merged = MeanState(1)
    for chunk in np.array_split(np.arange(len(rows)), parts):
        part = MeanState(1)
        part.add_chunk(losses[:, chunk].copy(), weights[chunk])
        merged.merge(part)
    numerator = math.fsum((losses[0] * weights).tolist())
    denominator = math.fsum(weights.tolist())
    expected = numerator / denominator
    value = merged.compute("mean", "all")
    assert isinstance(value, float)
    # the error bound of a (nearly) exact sum: a few ulps of Σ|w·l|, over Σw, plus the final
    # division's own rounding (one ulp of the result; hypothesis found cases needing it)
    bound = 4e-16 * math.fsum(np.abs(losses[0] * weights).tolist()) / denominator
    bound += 2.3e-16 * abs(expected)
    assert abs(value - expected) <= bound + 1e-300
    assert merged.rows == len(rows)


@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=2, max_size=300),
    st.integers(min_value=1, max_value=9),
)
@settings(max_examples=60, deadline=None)
def test_chan_moments_merge_matches_numpy(values: list[float], parts: int) -> None:
    x = np.array(values)
    merged = ChanMoments(1)
    for chunk in np.array_split(x, parts):
        if chunk.size:
            part = ChanMoments(1)
            part.add(chunk.reshape(1, -1), None)
            merged.merge(part)
    assert merged.weight == len(values)
    assert merged.mean[0] == pytest.approx(np.mean(x), rel=1e-12, abs=1e-9)
    m2 = float(np.sum((x - np.mean(x)) ** 2))
    assert merged.m2[0] == pytest.approx(m2, rel=1e-9, abs=1e-6)


def exact_m2(x: np.ndarray, w: np.ndarray) -> float:
    """Σw·(x − x̄_w)² in rational arithmetic, rounded once."""
    wf = [Fraction(float(v)) for v in w]
    xf = [Fraction(float(v)) for v in x]
    total = sum(wf, Fraction(0))
    s1 = sum((a * b for a, b in zip(wf, xf, strict=True)), Fraction(0))
    s2 = sum((a * b * b for a, b in zip(wf, xf, strict=True)), Fraction(0))
    return float(s2 - s1 * s1 / total)


@given(
    st.lists(
        st.one_of(
            st.floats(min_value=-1e6, max_value=1e6).map(lambda v: v if abs(v) > 1e-100 else 0.0),
            st.just(1e6 + 0.5),
        ),
        min_size=2,
        max_size=200,
    ),
    st.integers(min_value=1, max_value=9),
    st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_moment_state_is_the_exact_moment_for_any_split(
    values: list[float], parts: int, weighted: bool
) -> None:
    """M2 is the correctly rounded rational value, bit for bit, however the rows are cut."""
    x = np.array(values)
    w = np.linspace(0.25, 3.0, len(x)) if weighted else np.ones(len(x))
    merged = MomentState(1)
    for idx in np.array_split(np.arange(len(x)), parts):
        if idx.size:
            part = MomentState(1)
            part.add(x[idx].reshape(1, -1), w[idx] if weighted else None)
            merged.merge(part)
    assert merged.exact
    assert merged.m2[0] == exact_m2(x, w)


def test_moment_state_without_cancellation_far_from_zero() -> None:
    """A mean 10⁸ standard deviations from zero: the exact moment against Chan's rounding."""
    rng = np.random.default_rng(3)
    x = 1e8 + rng.normal(size=(1, 5000))
    want = exact_m2(x[0], np.ones(5000))
    for chunk in (1, 3, 5000):
        state = MomentState(1)
        for a in range(0, 5000, chunk):
            state.add(x[:, a : a + chunk], None)
        assert state.m2[0] == want


def test_moment_state_falls_back_to_chan_outside_its_range() -> None:
    x = np.array([[1e70, 2e70, 4e70]])
    state = MomentState(1)
    state.add(x, None)
    assert not state.exact
    assert state.m2[0] == pytest.approx(float(np.sum((x - x.mean()) ** 2)), rel=1e-15)
    tiny = MomentState(1)  # underflowing squares: inexact low bits, but still exact sums
    tiny.add(np.array([[0.0, 1e-150, 3e-150]]), None)
    assert tiny.exact and tiny.m2[0] == pytest.approx(
        exact_m2(np.array([0, 1e-150, 3e-150]), np.ones(3)), rel=1e-15
    )
    fine = MomentState(1)
    fine.add(np.array([[0.0, 1.0]]), np.array([1.0, 1e70]))  # a weight out of range
    assert not fine.exact


@pytest.mark.parametrize("state_type", [R2State, ExplainedVarianceState])
def test_score_states_merge_like_one_pass(state_type: type) -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=(2, 1000)) * 5
    p = y + rng.normal(size=(2, 1000))
    w = rng.uniform(0.5, 2.0, size=1000)
    one = state_type(2)
    one.update({"pred": p, "target": y}, w)
    merged = state_type(2)
    for chunk in np.array_split(np.arange(1000), 7):
        part = state_type(2)
        part.update({"pred": p[:, chunk].copy(), "target": y[:, chunk].copy()}, w[chunk])
        merged.merge(part)
    a, b = one.compute("mean", "output"), merged.compute("mean", "output")
    assert a == b  # exact moments: the same digits however the rows are cut


def test_sums_do_not_depend_on_the_chunk_size_to_the_last_bit(tmp_path) -> None:
    """Random data over six decades: every chunk size gives math.fsum's mean bit for bit (the
    old per-chunk rounding differed by an ulp on 2 of 5 such files)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.conftest import invoke

    rng = np.random.default_rng(7)
    for i in range(5):
        n = 30_000 if i < 4 else 2_000  # chunk size 1 on the last, smaller file only
        pred = rng.normal(size=n) * 10 ** rng.uniform(-3, 3, size=n)
        target = rng.normal(size=n)
        path = tmp_path / f"r{i}.parquet"
        pq.write_table(pa.table({"pred": pred, "target": target}), path)
        squares = ((pred - target) ** 2).tolist()
        exact = math.fsum(squares) / n
        exact_sum = math.fsum(squares)
        for chunk in ("1",) if i == 4 else ("7", "1000", "4096", "65536"):
            for reduction, want in (("mean", exact), ("sum", exact_sum)):
                result = invoke(
                    ["mse", str(path), "-r", reduction, "--chunk-size", chunk, "-f", "value"]
                )
                assert float(result.out) == want, (i, chunk, reduction)


def test_moment_state_merges_an_exact_part_with_a_chan_part() -> None:
    x = np.array([[1.0, 2.0, 4.0, 1e70, -1e70, 3e70]])
    a, b = MomentState(1), MomentState(1)
    a.add(x[:, :3], None)
    b.add(x[:, 3:], None)
    assert a.exact and not b.exact
    a.merge(b)
    assert not a.exact
    assert a.m2[0] == pytest.approx(float(np.sum((x - x.mean()) ** 2)), rel=1e-15)
