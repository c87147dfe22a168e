"""The histogram states against NumPy: counts equal np.histogram / np.histogram2d on the same
bins for every chunk size, grouped and not; calibration and ECE against references."""

import importlib
import math

import numpy as np
import pytest

from losscli.stats import histograms as h

CHUNKS = [1, 7, 1000, 65536 + 3, 10**7]


def _chunks(n: int, size: int):
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))


def _edge_heavy_errors(rng: np.random.Generator, n: int) -> np.ndarray:
    """Errors with many values exactly on edges (integers, quarter steps, ±0, tiny, huge)."""
    e = rng.normal(scale=4.0, size=n)
    e[::5] = np.round(e[::5] * 4) / 4  # quarter-step values: on default edges
    e[1::11] = rng.choice(
        [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 1.25, -1.75, 0.5, -0.5], size=e[1::11].size
    )
    e[2::13] = rng.normal(scale=1e-12, size=e[2::13].size)  # in the zero bin
    e[3::17] = np.ldexp(1.0, -30) * rng.choice([1.0, -1.0], size=e[3::17].size)  # zero-bin edges
    e[4::19] = rng.choice([1e16, -1e16, 2.0**50, -(2.0**50), 1e300], size=e[4::19].size)
    return e


def _feed(state: h.ErrorHistogram, e: np.ndarray, size: int, w: np.ndarray | None = None) -> None:
    for s in _chunks(e.size, size):
        state.update(e[s], None if w is None else w[s])


@pytest.mark.parametrize("size", CHUNKS)
def test_default_bins_equal_numpy(size: int) -> None:
    rng = np.random.default_rng(1)
    e = _edge_heavy_errors(rng, 2_000 if size < 10 else 20_000)
    state = h.ErrorHistogram()
    _feed(state, e, size)
    r = state.compute()
    want, _ = np.histogram(e, bins=r.edges)
    np.testing.assert_array_equal(r.counts, want)
    assert r.underflow == int((e < r.edges[0]).sum())
    assert r.overflow == int((e > r.edges[-1]).sum())
    assert r.total == e.size


def test_default_edges_are_documented_grid() -> None:
    edges = h.default_edges()
    assert edges.size == 8 * (h.HIGH_OCTAVE - h.LOW_OCTAVE) + 2
    assert edges[0] == -(2.0**50) and edges[-1] == 2.0**50
    zero = np.flatnonzero(edges == -(2.0**-30))[0]
    assert edges[zero + 1] == 2.0**-30  # the linear part: one bin [−2^−30, 2^−30)
    assert list(edges[zero + 1 : zero + 6]) == [2.0**-30 * f for f in (1, 1.25, 1.5, 1.75, 2)]
    assert (np.diff(edges) > 0).all()


def test_non_finite_and_negative_zero() -> None:
    e = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 2.0**50, -(2.0**50), 3.0, -np.nan])
    state = h.ErrorHistogram()
    state.update(e)
    r = state.compute()
    assert r.nan == 2 and r.overflow == 1 and r.underflow == 1
    want, _ = np.histogram(e[np.isfinite(e)], bins=r.edges)
    np.testing.assert_array_equal(r.counts, want)


@pytest.mark.parametrize("size", [1, 13, 4096, 10**7])
def test_user_bins_weighted_exact(size: int) -> None:
    rng = np.random.default_rng(2)
    e = np.round(rng.normal(scale=3, size=5000), 1)
    w = rng.uniform(0, 1e3, size=e.size) * rng.choice([1.0, 1e-9], size=e.size)
    edges = h.parse_bins("-5:5:20")
    state = h.ErrorHistogram(edges, weighted=True)
    _feed(state, e, size, w)
    r = state.compute()
    want, _ = np.histogram(e, bins=edges)
    np.testing.assert_array_equal(r.counts, want)
    idx = np.searchsorted(edges, e, side="right") - 1
    idx[e == edges[-1]] = edges.size - 2
    for b in range(edges.size - 1):
        exact = math.fsum(w[idx == b].tolist())
        assert r.weights is not None
        assert r.weights[b] == pytest.approx(exact, rel=1e-15, abs=0)
    assert r.weight_underflow == pytest.approx(math.fsum(w[e < -5].tolist()), rel=1e-15)
    assert r.weight_overflow == pytest.approx(math.fsum(w[e > 5].tolist()), rel=1e-15)


def test_weighted_default_bins_equal_numpy_weights() -> None:
    rng = np.random.default_rng(3)
    e = _edge_heavy_errors(rng, 3000)
    w = rng.integers(1, 5, size=e.size).astype(float)  # integer weights: every sum is exact
    a = h.ErrorHistogram(weighted=True)
    _feed(a, e, 100, w)
    r = a.compute()
    want, _ = np.histogram(e, bins=r.edges, weights=w)
    np.testing.assert_array_equal(r.weights, want)


@pytest.mark.parametrize("size", [1, 37, 5000])
def test_grouped_equals_numpy_per_group(size: int) -> None:
    rng = np.random.default_rng(4)
    e = _edge_heavy_errors(rng, 5000)
    g = rng.integers(0, 5, size=e.size)
    tmpl = h.ErrorHistogram()
    states: dict[int, h.ErrorHistogram] = {}
    for s in _chunks(e.size, size):
        h.update_groups(states, tmpl, e[s], g[s])
    for gid in range(5):
        r = states[gid].compute()
        want, _ = np.histogram(e[g == gid], bins=r.edges)
        np.testing.assert_array_equal(r.counts, want)
        assert r.total == int((g == gid).sum())


def test_merge_equals_one_pass() -> None:
    rng = np.random.default_rng(5)
    e = _edge_heavy_errors(rng, 4000)
    whole = h.ErrorHistogram()
    whole.update(e)
    a, b = h.ErrorHistogram(), h.ErrorHistogram()
    a.update(e[:1234])
    b.update(e[1234:])
    a.merge(b)
    np.testing.assert_array_equal(a.counts, whole.counts)


def test_multi_output_counts_every_value() -> None:
    e = np.array([[0.5, -3.0], [1.0, 2.0]])
    state = h.ErrorHistogram(h.parse_bins("-4,0,4"), weighted=True)
    state.update(e, np.array([2.0, 5.0]))
    r = state.compute()
    assert list(r.counts) == [1, 3]
    assert list(r.weights) == [5.0, 2.0 + 2.0 + 5.0]


@pytest.mark.parametrize(
    "text, message",
    [
        ("1", "at least two"),
        ("1,1", "increasing"),
        ("a,b", "numbers"),
        ("0:1:x", "whole"),
        ("1:0:3", "LO < HI"),
        ("0:1", "LO:HI:N"),
    ],
)
def test_parse_bins_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        h.parse_bins(text)


def test_coarsen_keeps_counts() -> None:
    rng = np.random.default_rng(6)
    e = rng.normal(size=3000)
    s = h.ErrorHistogram()
    s.update(e)
    r = s.compute()
    c = h.coarsen(r, 20)
    assert c.counts.size <= 20 and c.counts.sum() == r.counts.sum()
    want, _ = np.histogram(e, bins=c.edges)
    np.testing.assert_array_equal(c.counts, want)


# -- 2-D ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 10, 333, 10**6])
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e9])
def test_density_equals_histogram2d(size: int, scale: float) -> None:
    rng = np.random.default_rng(7)
    t = rng.normal(size=2000) * scale + 3 * scale
    p = t + rng.normal(size=t.size) * scale * 0.3
    p[::50] = np.round(p[::50])  # some integer values (cell edges)
    d = h.Density2D()
    for s in _chunks(t.size, size):
        d.update(p[s], t[s])
    edges, counts = d.compute()
    want, _, _ = np.histogram2d(t, p, bins=[edges, edges])
    np.testing.assert_array_equal(counts, want.astype(np.int64))
    assert counts.sum() == t.size
    assert 16 < edges.size - 1 <= h.GRID  # the data span more than a quarter of the grid
    # chunk-invariant grid: the same edges as one pass
    one = h.Density2D()
    one.update(p, t)
    np.testing.assert_array_equal(one.compute()[0], edges)


def test_density_merge_and_growth() -> None:
    rng = np.random.default_rng(8)
    t = np.concatenate([rng.uniform(0, 1e-3, 500), rng.uniform(-50, 80, 500)])
    p = t * 1.1
    a, b = h.Density2D(), h.Density2D()
    a.update(p[:500], t[:500])
    b.update(p[500:], t[500:])
    a.merge(b)
    one = h.Density2D()
    one.update(p, t)
    ea, ca = a.compute()
    eo, co = one.compute()
    np.testing.assert_array_equal(ea, eo)
    np.testing.assert_array_equal(ca, co)
    want, _, _ = np.histogram2d(t, p, bins=[ea, ea])
    np.testing.assert_array_equal(ca, want)


def test_density_constant_and_non_finite() -> None:
    d = h.Density2D()
    d.update(np.array([2.0, 2.0, np.nan]), np.array([2.0, 2.0, 1.0]))
    edges, counts = d.compute()
    assert counts.sum() == 2 and d.dropped == 1
    assert edges[0] <= 2.0 < edges[-1]


@pytest.mark.parametrize("chunk", [1000, 70_000, 300_000])
def test_density_blocks_with_non_finite_pairs_and_a_growing_range(chunk: int) -> None:
    # NaN/inf pairs in some blocks (not others), and a range that widens block after block
    # (the window rescales while cells of earlier blocks wait to be counted)
    rng = np.random.default_rng(21)
    n = 300_000
    t = rng.normal(0, 1, n) * np.linspace(1, 400, n)  # spread grows along the input
    p = t + rng.normal(0, 2, n)
    p[rng.integers(0, n, 40)] = np.nan
    t[rng.integers(0, n, 40)] = np.inf
    p[150_000:150_010] = -np.inf
    d = h.Density2D()
    for s in range(0, n, chunk):
        d.update(p[s : s + chunk], t[s : s + chunk])
    ok = np.isfinite(p) & np.isfinite(t)
    edges, counts = d.compute()
    want, _, _ = np.histogram2d(t[ok], p[ok], bins=[edges, edges])
    np.testing.assert_array_equal(counts, want.astype(np.int64))
    assert counts.sum() == ok.sum() and d.dropped == n - ok.sum()
    assert 16 < edges.size - 1 <= 64


# -- calibration --------------------------------------------------------------------------------
def _reference_calibration(p, y, w, n_bins):
    """Per bin Σw, Σw·p, Σw·y with math.fsum, bins as scikit-learn's calibration_curve."""
    bins = np.linspace(0, 1, n_bins + 1)
    ids = np.searchsorted(bins[1:-1], p)
    W, mp, my = (
        np.array([math.fsum(v[ids == b].tolist()) for b in range(n_bins)])
        for v in (w, w * p, w * y)
    )
    return W, mp, my


@pytest.mark.parametrize("size", [1, 17, 10**6])
@pytest.mark.parametrize("weighted", [False, True])
def test_calibration_against_numpy(size: int, weighted: bool) -> None:
    rng = np.random.default_rng(9)
    p = rng.uniform(size=3000)
    p[::7] = rng.choice([0.0, 0.1, 0.2, 0.30000000000000004, 0.5, 1.0], size=p[::7].size)
    y = (rng.uniform(size=p.size) < p**1.3).astype(float)
    w = rng.integers(1, 4, size=p.size).astype(float) if weighted else np.ones(p.size)
    c = h.Calibration(10)
    for s in _chunks(p.size, size):
        c.update(p[s], y[s], w[s] if weighted else None)
    r = c.compute()
    W, mp, my = _reference_calibration(p, y, w, 10)
    np.testing.assert_array_equal(r.weight, W)
    np.testing.assert_allclose(r.mean_predicted, mp / W, rtol=1e-15)
    np.testing.assert_allclose(r.observed, my / W, rtol=1e-15)
    ece = math.fsum((W * np.abs(my / W - mp / W)).tolist()) / W.sum()
    assert r.ece == pytest.approx(ece, rel=1e-14)


def test_calibration_matches_sklearn_curve() -> None:
    sk = importlib.import_module("sklearn.calibration")
    rng = np.random.default_rng(10)
    p = rng.uniform(size=2000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    c = h.Calibration(10)
    c.update(p, y)
    r = c.compute()
    prob_true, prob_pred = sk.calibration_curve(y, p, n_bins=10, strategy="uniform")
    used = r.weight > 0
    np.testing.assert_allclose(r.observed[used], prob_true, rtol=1e-14)
    np.testing.assert_allclose(r.mean_predicted[used], prob_pred, rtol=1e-14)


def test_ece_hand_worked() -> None:
    # bins of width 0.5 (n_bins=2): [0, 0.5] holds 0.2, 0.4, 0.5 with labels 0, 1, 0:
    #   mean p = 1.1/3, frequency 1/3, gap 0.1/3; (0.5, 1] holds 0.6, 0.9 with labels 1, 1:
    #   mean p = 0.75, frequency 1, gap 0.25.  ECE = 3/5·0.1/3 + 2/5·0.25 = 0.02 + 0.1 = 0.12
    c = h.Calibration(2)
    c.update(np.array([0.2, 0.4, 0.5, 0.6, 0.9]), np.array([0, 1, 0, 1, 1]))
    r = c.compute()
    assert list(r.counts) == [3, 2]
    assert r.ece == pytest.approx(0.12, rel=1e-15)
    # ten bins: 0.2 → bin 1 (0.1, 0.2], 0.4 → bin 3, 0.5 → bin 4, 0.6 → bin 5, 0.9 → bin 8;
    # each bin holds one value: ECE = mean |y − p| = (0.2 + 0.6 + 0.5 + 0.4 + 0.1) / 5 = 0.36
    c10 = h.Calibration()
    c10.update(np.array([0.2, 0.4, 0.5, 0.6, 0.9]), np.array([0, 1, 0, 1, 1]))
    r10 = c10.compute()
    assert list(np.flatnonzero(r10.counts)) == [1, 3, 4, 5, 8]
    assert r10.ece == pytest.approx(0.36, rel=1e-15)


def test_calibration_bin_index_equals_searchsorted() -> None:
    rng = np.random.default_rng(11)
    for n_bins in (1, 3, 10, 15, 100):
        c = h.Calibration(n_bins)
        p = np.concatenate(
            [rng.uniform(size=2000), c.edges, np.nextafter(c.edges, 2), np.nextafter(c.edges, -1)]
        )
        p = p[(p >= 0) & (p <= 1)]
        np.testing.assert_array_equal(c.bin_index(p), np.searchsorted(c.edges[1:-1], p))


def test_calibration_nan_makes_ece_nan() -> None:
    c = h.Calibration()
    c.update(np.array([0.2, np.nan]), np.array([0.0, 1.0]))
    r = c.compute()
    assert c.nan == 1 and r.counts.sum() == 1 and math.isnan(r.ece)


def test_binned_sums_exact_for_wide_magnitudes() -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(size=100_000) * np.exp(rng.uniform(-30, 30, size=100_000))
    idx = rng.integers(0, 3, size=x.size)
    hi, lo = h.binned_sums(idx, x, 3)
    for b in range(3):
        assert math.fsum([hi[b], lo[b]]) == pytest.approx(
            math.fsum(x[idx == b].tolist()), rel=1e-15
        )


@pytest.mark.parametrize("spec", ["-5:5:20", "0.1:0.7:3", "-1e-9:3e-9:7", "-3:3:1"])
def test_uniform_bins_on_edges_equal_numpy(spec: str) -> None:
    rng = np.random.default_rng(13)
    edges = h.parse_bins(spec)
    e = np.concatenate(
        [
            rng.uniform(edges[0] * 1.5 - 1e-9, edges[-1] * 1.5 + 1e-9, 3000),
            edges,
            np.nextafter(edges, np.inf),
            np.nextafter(edges, -np.inf),
            [np.nan, np.inf, -np.inf],
        ]
    )
    s = h.ErrorHistogram(edges)
    s.update(e)
    r = s.compute()
    want, _ = np.histogram(e[np.isfinite(e)], bins=edges)
    np.testing.assert_array_equal(r.counts, want)
    assert r.underflow == int((e < edges[0]).sum()) and r.overflow == int((e > edges[-1]).sum())
    assert r.nan == 1


def test_update_pairs_equals_update_of_differences() -> None:
    rng = np.random.default_rng(14)
    t = rng.normal(size=200_000)
    p = t + _edge_heavy_errors(rng, t.size)
    a, b = h.ErrorHistogram(), h.ErrorHistogram()
    a.update_pairs(p.reshape(1, -1), t.reshape(1, -1))
    b.update(p - t)
    np.testing.assert_array_equal(a.counts, b.counts)
    assert a.nan == b.nan


def test_ece_state_merges_and_weights() -> None:
    rng = np.random.default_rng(15)
    p = rng.uniform(size=(1, 900))
    y = (rng.uniform(size=p.shape) < p).astype(float)
    w = rng.integers(1, 3, size=900).astype(float)
    a, b = h.CalibrationErrorState(1), h.CalibrationErrorState(1)
    a.update({"pred": p[:, :400], "target": y[:, :400]}, w[:400])
    b.update({"pred": p[:, 400:], "target": y[:, 400:]}, w[400:])
    a.merge(b)
    one = h.Calibration()
    one.update(p, y, w)
    assert a.rows == 900
    assert a.compute("mean", "all") == one.compute().ece


# -- the ece metric -----------------------------------------------------------------------------
ECE_CSV = "pred,target,w\n0.2,0,1\n0.4,1,1\n0.5,0,2\n0.6,1,1\n0.9,1,1\n"


@pytest.mark.parametrize("chunk", ["1", "2", "1000"])
def test_ece_cli_hand_worked(tmp_path, chunk: str) -> None:
    from tests.conftest import invoke

    path = tmp_path / "p.csv"
    path.write_text(ECE_CSV)
    out = invoke(["ece", str(path), "--chunk-size", chunk, "-f", "json"])
    assert out.code == 0, out.err
    # one value per bin of ten: mean |y − p| = (0.2 + 0.6 + 0.5 + 0.4 + 0.1) / 5
    assert out.json["value"] == pytest.approx(0.36, rel=1e-15)
    assert out.json["params"] == {"n_bins": 10}
    # weighted, two bins: [0, 0.5] holds 0.2, 0.4, 0.5 (w 1, 1, 2): Σw·y = 1, Σw·p = 1.6;
    # (0.5, 1] holds 0.6, 0.9: Σy = 2, Σp = 1.5.  ECE = (0.6 + 0.5) / 6
    out = invoke(
        ["ece", str(path), "--n-bins", "2", "-w", "w", "--chunk-size", chunk, "-f", "json"]
    )
    assert out.json["value"] == pytest.approx(1.1 / 6, rel=1e-15)


def test_ece_cli_domain_and_params(tmp_path) -> None:
    from tests.conftest import invoke

    path = tmp_path / "p.csv"
    path.write_text("pred,target\n0.5,1\n1.5,0\n")
    out = invoke(["ece", str(path)])
    assert out.code == 3 and "row 2" in out.err and "[0, 1]" in out.err
    path.write_text("pred,target\n0.5,1\n")
    assert invoke(["ece", str(path), "--n-bins", "0"]).code == 2


def test_ece_python_api_matches_state() -> None:
    from losscli.losses import expected_calibration_error

    p = np.array([0.2, 0.4, 0.5, 0.6, 0.9])
    y = np.array([0, 1, 0, 1, 1])
    assert float(expected_calibration_error(p, y)) == pytest.approx(0.36, rel=1e-15)
    assert float(expected_calibration_error(p, y, n_bins=2)) == pytest.approx(0.12, rel=1e-15)


@pytest.mark.parametrize("slice_rows", [37, 4096])
@pytest.mark.parametrize("chunk", [333, 1000, 20_000])
def test_pairs_in_slices_feed_both_states_exactly(monkeypatch, slice_rows, chunk) -> None:
    # the fused pass (errors and grid from the same slices, buffers reused chunk after
    # chunk): slices with NaN/inf/−0.0, values on edges, a range widening slice after slice
    monkeypatch.setattr(h, "SLICE", slice_rows)
    rng = np.random.default_rng(22)
    n = 20_000
    t = rng.normal(size=n) * np.linspace(1, 300, n)
    p = t + _edge_heavy_errors(rng, n)
    p[rng.integers(0, n, 9)] = np.nan
    t[rng.integers(0, n, 9)] = -np.inf
    p[5000] = t[5000]  # an error of exactly 0
    hist, grid, work = h.ErrorHistogram(), h.Density2D(), h.Workspace()
    for s in _chunks(n, chunk):
        h.update_pairs(p[s].reshape(1, -1), t[s].reshape(1, -1), hist, grid, None, work)
    e = p - t
    r = hist.compute()
    want, _ = np.histogram(e[np.isfinite(e)], bins=r.edges)
    np.testing.assert_array_equal(r.counts, want)
    assert r.nan == int(np.isnan(e).sum()) and r.total == n
    assert r.overflow == int((e > r.edges[-1]).sum())
    ok = np.isfinite(p) & np.isfinite(t)
    edges, counts = grid.compute()
    want2, _, _ = np.histogram2d(t[ok], p[ok], bins=[edges, edges])
    np.testing.assert_array_equal(counts, want2.astype(np.int64))
    assert counts.sum() == ok.sum() and grid.dropped == n - ok.sum()
    one = h.Density2D()
    one.update(p[ok], t[ok])  # the grid depends on the data's range only
    np.testing.assert_array_equal(one.compute()[0], edges)


@pytest.mark.parametrize("centre", [3e15, -(2.0**40), 2.0**52 - 1, -1e-300, 0.0])
def test_density_at_the_finest_cells_of_a_magnitude(centre) -> None:
    # a spread tiny against the magnitude: the cell size floor (cell indices within ±2^46,
    # so the flat index stays exact; cells no finer than 2^-1023, whose inverse is finite:
    # subnormal spreads) decides the grid; counts still equal np.histogram2d
    rng = np.random.default_rng(23)
    spread = max(abs(centre) * 2.0**-44, 1e-310)
    t = centre + rng.integers(-40, 40, 5000) * spread / 8
    p = t + rng.integers(-3, 4, t.size) * spread / 8
    d = h.Density2D()
    for s in _chunks(t.size, 700):
        d.update(p[s], t[s])
    edges, counts = d.compute()
    want, _, _ = np.histogram2d(t, p, bins=[edges, edges])
    np.testing.assert_array_equal(counts, want.astype(np.int64))
    assert counts.sum() == t.size
    assert np.all(np.abs(edges / np.diff(edges)[0]) <= 2.0**46 + 1)
