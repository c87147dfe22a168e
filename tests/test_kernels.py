"""Elementwise kernels: hand-worked vectors, edge cases (Huber boundary, tiny and huge log-cosh
errors, extreme logits, clamped probabilities), buffer reuse, axis handling, domain checks."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from decimal import Decimal, getcontext

import numpy as np
import pytest

from losscli.catalogue import kernels as K

LN2 = math.log(2.0)
EPS = float(np.finfo(np.float64).eps)


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def assert_close(got: np.ndarray, want: object, rtol: float = 1e-15, atol: float = 0.0) -> None:
    np.testing.assert_allclose(got, np.asarray(want, dtype=np.float64), rtol=rtol, atol=atol)


# Shared hand-worked vector: e = pred − target = [−1, 2, 0, 3]
PRED = arr(1.0, 3.0, 0.5, 10.0)
TARGET = arr(2.0, 1.0, 0.5, 7.0)


# --- regression losses -----------------------------------------------------------------------


def test_squared_and_absolute_error() -> None:
    # e = [−1, 2, 0, 3] → e² = [1, 4, 0, 9], |e| = [1, 2, 0, 3]
    assert K.squared_error(PRED, TARGET).tolist() == [1.0, 4.0, 0.0, 9.0]
    assert K.absolute_error(PRED, TARGET).tolist() == [1.0, 2.0, 0.0, 3.0]
    assert K.l1(PRED, TARGET).tolist() == [1.0, 2.0, 0.0, 3.0]


def test_huber_hand_worked() -> None:
    # δ = 1.5, a = [1, 2, 0, 3]:
    #   a=1 ≤ δ → 0.5·1 = 0.5;  a=2 > δ → 1.5·(2 − 0.75) = 1.875
    #   a=0 → 0;                a=3 > δ → 1.5·(3 − 0.75) = 3.375
    assert K.huber(PRED, TARGET, 1.5).tolist() == [0.5, 1.875, 0.0, 3.375]


@pytest.mark.parametrize("delta", [0.1, 1.0, 1.5, 3.0, 1e-3, 7.25])
def test_huber_boundary_exact(delta: float) -> None:
    # At |e| = δ both branches give 0.5·δ² = δ·(δ − δ/2); MLX takes the quadratic one (≤).
    e = arr(delta, -delta)
    got = K.huber(e, np.zeros(2), delta)
    assert got.tolist() == [0.5 * delta * delta] * 2
    assert got.tolist() == [delta * (delta - delta / 2)] * 2
    # One ulp either side stays continuous and matches the two-branch formula exactly.
    around = arr(np.nextafter(delta, 0), np.nextafter(delta, np.inf))
    a = np.abs(around)
    want = np.where(a <= delta, 0.5 * a * a, delta * (a - delta / 2))
    assert K.huber(around, np.zeros(2), delta).tolist() == want.tolist()


def test_huber_matches_two_branch_formula_bitwise() -> None:
    rng = np.random.default_rng(1)
    e = rng.normal(scale=3.0, size=10_000)
    for delta in (0.5, 1.0, 2.0):
        a = np.abs(e)
        want = np.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta))
        np.testing.assert_array_equal(K.huber(e, np.zeros_like(e), delta), want)


def test_smooth_l1_hand_worked() -> None:
    # β = 2, a = [1, 2, 0, 3, 5]: a=1 < β → 0.5·1/2 = 0.25; a=2 = β → 2 − 1 = 1
    # (the quadratic side gives 0.5·4/2 = 1 too); 0; 3 − 1 = 2; 5 − 1 = 4
    e = arr(-1.0, 2.0, 0.0, 3.0, -5.0)
    assert K.smooth_l1(e, np.zeros(5), 2.0).tolist() == [0.25, 1.0, 0.0, 2.0, 4.0]
    # β = 0 is plain L1 (PyTorch), not a division by zero
    assert K.smooth_l1(e, np.zeros(5), 0.0).tolist() == [1.0, 2.0, 0.0, 3.0, 5.0]


def test_smooth_l1_is_huber_over_beta() -> None:
    rng = np.random.default_rng(2)
    e = rng.normal(scale=2.0, size=5000)
    z = np.zeros_like(e)
    for beta in (0.3, 1.0, 2.5):
        a = np.abs(e)
        want = np.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta)  # MLX's own form
        assert_close(K.smooth_l1(e, z, beta), want, rtol=2 * EPS)
        assert_close(K.smooth_l1(e, z, beta), K.huber(e, z, beta) / beta, rtol=2 * EPS)


def test_log_cosh_hand_worked() -> None:
    # log cosh 0 = 0; log cosh ±1 = log((e + 1/e)/2) = 0.43378083048302721… (to 60 digits:
    # Decimal); symmetric in e. (math.log(math.cosh(1)) is itself 1 ulp low.)
    got = K.log_cosh(arr(0.0, 1.0, -1.0), np.zeros(3))
    assert got[0] == 0.0
    assert got[1] == got[2]
    assert abs(got[1] - 0.4337808304830272) <= 2 * np.spacing(0.4337808304830272)


def test_log_cosh_tiny_errors_no_cancellation() -> None:
    # log cosh e = e²/2 − e⁴/12 + …: for e = 1e-10 that is 5e-21 (the e⁴ term is 1e-41 smaller)
    for e in (1e-10, 1e-8, 1e-5, 1e-150):
        want = e * e / 2 - e**4 / 12
        got = K.log_cosh(arr(e), arr(0.0))[0]
        assert got == pytest.approx(want, rel=1e-15)
    # the naive log(cosh e) is 0 there
    assert math.log(math.cosh(1e-10)) == 0.0


def test_log_cosh_huge_errors_no_overflow() -> None:
    # For a ≥ 20, log cosh a = a − log 2 + log1p(e^{−2a}) and e^{−2a} < 5e-18.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = K.log_cosh(arr(1e4, -1e4, 800.0, 1e300), np.zeros(4))
    assert np.all(np.isfinite(got))
    for g, a in zip(got, (1e4, 1e4, 800.0, 1e300), strict=True):
        assert g == pytest.approx(a - LN2, rel=1e-15)
    assert K.log_cosh(arr(np.inf), arr(0.0))[0] == np.inf


def _log_cosh_reference(x: float) -> float:
    getcontext().prec = 60
    d = Decimal(x)
    if x < 1e-4:  # series, as exp(±x) would round to 1 at this precision
        return float(d * d / 2 - d**4 / 12 + d**6 / 45)
    return float(((d.exp() + (-d).exp()) / 2).ln())


def test_log_cosh_accuracy_within_2_ulp_over_the_range() -> None:
    xs = np.concatenate([np.logspace(-150, -1, 60), np.linspace(0.05, 45.0, 400)])
    got = K.log_cosh(xs, np.zeros_like(xs))
    ref = np.array([_log_cosh_reference(float(x)) for x in xs])
    ulps = np.abs(got - ref) / np.spacing(ref)
    assert ulps.max() <= 2.0


def test_gaussian_nll_hand_worked() -> None:
    # e = 2 (x=1, y=3): v=1 → 0.5·(0 + 4) = 2;  v=4 → 0.5·(log 4 + 1)
    # v=0 and v=1e-9 clamp to eps=1e-6 → 0.5·(log 1e-6 + 4e6)
    x, y = arr(1.0, 1.0, 1.0, 1.0), arr(3.0, 3.0, 3.0, 3.0)
    v = arr(1.0, 4.0, 0.0, 1e-9)
    clamped = 0.5 * (math.log(1e-6) + 4 / 1e-6)
    want = [2.0, 0.5 * (math.log(4.0) + 1.0), clamped, clamped]
    assert_close(K.gaussian_nll(x, y, v), want)
    # full adds 0.5·log(2π) = 0.9189385332046727
    assert_close(K.gaussian_nll(x, y, v, full=True), np.add(want, 0.5 * math.log(2 * math.pi)))
    assert_close(K.gaussian_nll(x, y, v, eps=0.5)[2], 0.5 * (math.log(0.5) + 8.0))


# --- classification and ranking --------------------------------------------------------------


def test_bce_logits_hand_worked() -> None:
    # sigmoid(0) = 1/2 → log 2 for either label
    # x = log 3: sigmoid = 3/4 → y=1: −log(3/4) = log(4/3); y=0: −log(1/4) = log 4
    # soft y=0.5, x=2: max(2,0) − 1 + log1p(e^-2)
    x = arr(0.0, 0.0, math.log(3.0), math.log(3.0), 2.0)
    y = arr(0.0, 1.0, 1.0, 0.0, 0.5)
    want = [LN2, LN2, math.log(4 / 3), math.log(4.0), 1.0 + math.log1p(math.exp(-2.0))]
    assert_close(K.binary_cross_entropy(x, y), want, rtol=2 * EPS)


def test_bce_extreme_logits() -> None:
    # ±1000: a confident right answer is exactly 0, a confident wrong one is |x|; never inf/nan
    x = arr(1000.0, 1000.0, -1000.0, -1000.0, 40.0)
    y = arr(1.0, 0.0, 1.0, 0.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = K.binary_cross_entropy(x, y)
    assert got[:4].tolist() == [0.0, 1000.0, 1000.0, 0.0]
    # log1p(e^-40) = 4.248354255291589e-18, kept (not cancelled against 40 − 40)
    assert got[4] == pytest.approx(math.exp(-40.0), rel=1e-15)


def test_bce_probabilities_hand_worked_and_clamped() -> None:
    # p=0.25: y=1 → −log 0.25 = log 4; y=0 → −log 0.75
    # p=0, y=1 and p=1, y=0: log 0 = −inf clamped to −100 → 100; the other label → 0
    p = arr(0.25, 0.25, 0.0, 1.0, 0.0, 1.0)
    y = arr(1.0, 0.0, 1.0, 0.0, 0.0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = K.binary_cross_entropy(p, y, with_logits=False)
    assert_close(got, [math.log(4.0), -math.log(0.75), 100.0, 100.0, 0.0, 0.0], rtol=EPS)
    # soft label y = 0.3, p = 0.6: −(0.3·log 0.6 + 0.7·log 0.4)
    soft = K.binary_cross_entropy(arr(0.6), arr(0.3), with_logits=False)[0]
    assert soft == pytest.approx(-(0.3 * math.log(0.6) + 0.7 * math.log(0.4)), rel=4 * EPS)


LOGITS = np.array([[2.0, -1.0], [-1.0, 2.0]])


def test_cross_entropy_class_indices() -> None:
    # z = logits − max = [0, −3] / [−3, 0]; logsumexp = log(1 + e^-3); score = 0
    want = math.log1p(math.exp(-3.0))  # 0.04858735157374206
    assert_close(K.cross_entropy(LOGITS, arr(0, 1)), [want, want], rtol=EPS)
    # wrong class: log(1 + e^-3) + 3
    assert_close(K.cross_entropy(LOGITS, arr(1, 0)), [want + 3, want + 3], rtol=EPS)
    # three classes, logits [1, 2, 3], target 2: z = [−2, −1, 0] → log(1 + e^-1 + e^-2)
    # = 0.40760596444438030448… (Decimal); the naive math.log(1 + …) is 1 ulp high
    three = K.cross_entropy(arr(1.0, 2.0, 3.0)[None], arr(2.0))
    assert three.tolist() == [0.4076059644443803]
    # a confident right answer keeps its relative accuracy: log1p(e^-40) = 4.248354255291589e-18
    sure = K.cross_entropy(arr(40.0, 0.0)[None], arr(0.0))
    assert sure[0] == pytest.approx(math.exp(-40.0), rel=1e-15)


def test_cross_entropy_probability_targets_and_smoothing() -> None:
    lse = math.log1p(math.exp(-3.0))
    # targets [0.9, 0.1]: Σ z·t = −0.3 → lse + 0.3
    probs = np.array([[0.9, 0.1], [0.1, 0.9]])
    assert_close(K.cross_entropy(LOGITS, probs), [lse + 0.3, lse + 0.3], rtol=2 * EPS)
    # label smoothing 0.1 with index targets: lse − 0.9·0 − 0.1·mean([0, −3]) = lse + 0.15
    smooth = K.cross_entropy(LOGITS, arr(0, 1), label_smoothing=0.1)
    assert_close(smooth, [lse + 0.15, lse + 0.15], rtol=2 * EPS)


def test_cross_entropy_axis0_matches_last_axis() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=4.0, size=(50, 3))
    idx = rng.integers(0, 3, 50).astype(np.float64)
    probs = rng.dirichlet(np.ones(3), 50)
    for t, tt in ((idx, idx), (probs, probs.T)):
        for ls in (0.0, 0.2):
            last = K.cross_entropy(logits, t, axis=-1, label_smoothing=ls)
            first = K.cross_entropy(logits.T.copy(), tt, axis=0, label_smoothing=ls)
            # only summation order differs; atol covers cancellation in lse − score
            assert_close(first, last, rtol=1e-14, atol=1e-15)


def test_nll_hand_worked() -> None:
    # −inputs[target]: row 0 picks −0.1, row 1 picks −0.4
    x = np.array([[-0.1, -2.3], [-1.2, -0.4]])
    assert K.nll(x, arr(0, 1)).tolist() == [0.1, 0.4]
    assert K.nll(x.T.copy(), arr(0, 1), axis=0).tolist() == [0.1, 0.4]


def test_kl_div_hand_worked() -> None:
    # p = [1/2, 1/2], q = [1/4, 3/4]: Σ p·log(p/q) = ½·log 2 + ½·log(2/3) = ½·log(4/3)
    t = np.log([[0.5, 0.5]])
    x = np.log([[0.25, 0.75]])
    assert_close(K.kl_div(x, t), [0.5 * math.log(4 / 3)], rtol=4 * EPS)
    assert_close(K.kl_div(x.T.copy(), t.T.copy(), axis=0), [0.5 * math.log(4 / 3)], rtol=4 * EPS)
    assert K.kl_div(t, t).tolist() == [0.0]


def test_hinge_hand_worked() -> None:
    # max(0, 1 − x·y): 1 − 0.5 = 0.5; 1 + 2 = 3; 1 + 0.5 = 1.5; 1 − 1.5 < 0 → 0 (labels as given)
    got = K.hinge(arr(0.5, 2.0, -0.5, 3.0), arr(1.0, -1.0, 1.0, 0.5))
    assert got.tolist() == [0.5, 3.0, 1.5, 0.0]


def test_margin_ranking_hand_worked() -> None:
    # max(0, −y·(x1 − x2) + m), m = 0.5: −1 + 0.5 < 0 → 0; 1 + 0.5 = 1.5; −(−2) + 0.5 = 2.5
    got = K.margin_ranking(arr(1.0, 1.0, 0.0), arr(0.0, 0.0, 2.0), arr(1.0, -1.0, 1.0), 0.5)
    assert got.tolist() == [0.0, 1.5, 2.5]


def test_cosine_similarity_hand_worked() -> None:
    # [3,4]·[4,3] = 24, norms 5·5 → 0.96; parallel → 1; opposite → −1; zero vector → 0/eps = 0
    x1 = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    x2 = np.array([[4.0, 3.0], [2.0, 0.0], [0.0, -3.0], [1.0, 1.0]])
    assert_close(K.cosine_similarity(x1, x2), [0.96, 1.0, -1.0, 0.0], rtol=EPS)
    assert_close(K.cosine_similarity(x1.T.copy(), x2.T.copy(), axis=0), [0.96, 1.0, -1.0, 0.0])
    # eps floors the denominator: ‖x1‖·‖x2‖ = 1e-10 < eps = 1e-8 → 1e-10 / 1e-8 = 0.01
    tiny = K.cosine_similarity(arr(1e-5, 0.0)[None], arr(1e-5, 0.0)[None])
    assert_close(tiny, [0.01], rtol=4 * EPS)


def test_triplet_hand_worked() -> None:
    a, p, n = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([[0.0, 0.0]])
    # eps=0, p=2: d(a,p) = 5, d(a,n) = 0 → 5 − 0 + 1 = 6
    assert K.triplet(a, p, n, eps=0.0).tolist() == [6.0]
    # MLX adds eps inside the root: sqrt(25 + 1e-6) − sqrt(1e-6) + 1
    want = math.sqrt(25 + 1e-6) - math.sqrt(1e-6) + 1
    assert_close(K.triplet(a, p, n), [want], rtol=EPS)
    # p=1: 3 + 4 = 7 → 7 + 1 = 8; p=3: 91^(1/3) + 1
    assert K.triplet(a, p, n, p=1, eps=0.0).tolist() == [8.0]
    assert_close(K.triplet(a, p, n, p=3, eps=0.0), [91 ** (1 / 3) + 1], rtol=2 * EPS)
    # the hinge at 0: positive far, negative near
    assert K.triplet(a, n, p, eps=0.0).tolist() == [0.0]
    assert K.triplet(a.T.copy(), p.T.copy(), n.T.copy(), axis=0, eps=0.0).tolist() == [6.0]


# --- regression-metric terms ------------------------------------------------------------------


def test_absolute_percentage_error_hand_worked() -> None:
    # |p − y| / max(|y|, eps): 0.5/1; 1/2; 1/eps (y = 0) = 4503599627370496; 0/eps = 0
    got = K.absolute_percentage_error(arr(1.5, 1.0, 1.0, 0.0), arr(1.0, 2.0, 0.0, 0.0))
    assert got.tolist() == [0.5, 0.5, 1 / EPS, 0.0]
    assert 1 / EPS == 4503599627370496.0


def test_squared_log_error_hand_worked() -> None:
    # (log1p(p) − log1p(y))²: p=3, y=0 → (log 4)²; p=y → 0; p=0, y=e−1 → ≈ 1
    got = K.squared_log_error(arr(3.0, 2.0, 0.0), arr(0.0, 2.0, math.e - 1))
    assert_close(got, [math.log(4.0) ** 2, 0.0, 1.0], rtol=4 * EPS)


def test_pinball_hand_worked() -> None:
    # α = 0.1, d = y − p = [1, 0, −1]: 0.1·1; 0; 0.9·1
    got = K.pinball(arr(0.0, 2.0, 4.0), arr(1.0, 2.0, 3.0), 0.1)
    assert_close(got, [0.1, 0.0, 0.9], rtol=EPS)
    assert K.pinball(arr(0.0, 4.0), arr(1.0, 3.0), 0.5).tolist() == [0.5, 0.5]


def test_pinball_matches_sklearn_formula_bitwise() -> None:
    rng = np.random.default_rng(4)
    y, p = rng.normal(size=2000), rng.normal(size=2000)
    for alpha in (0.0, 0.1, 0.5, 0.9, 1.0):
        diff = y - p
        sign = (diff >= 0).astype(np.float64)
        want = alpha * sign * diff - (1 - alpha) * (1 - sign) * diff
        np.testing.assert_array_equal(K.pinball(p, y, alpha), want)


def test_poisson_hand_worked() -> None:
    # p − y·log(p + 1e-7): p=1, y=1 → 1 − log(1 + 1e-7); p=2, y=0 → 2; p=e, y=2 → e − 2·log(e + 1e-7)
    got = K.poisson(arr(1.0, 2.0, math.e), arr(1.0, 0.0, 2.0))
    want = [1 - math.log(1 + 1e-7), 2.0, math.e - 2 * math.log(math.e + 1e-7)]
    assert_close(got, want, rtol=EPS)


def test_tweedie_hand_worked() -> None:
    y = arr(2.0, 0.0, 1.0, 4.0)
    p = arr(0.5, 0.5, 2.0, 2.0)
    # power 0: (y − p)² = [2.25, 0.25, 1, 4]
    assert K.tweedie_deviance(p, y, 0).tolist() == [2.25, 0.25, 1.0, 4.0]
    # power 1: 2·(y·log(y/p) − y + p): 2·(2·log 4 − 1.5); y=0 → 2·0.5 = 1;
    #          2·(log ½ + 1) = 2 − 2·log 2; 2·(4·log 2 − 2) = 8·log 2 − 4
    want1 = [4 * math.log(4.0) - 3, 1.0, 2 - 2 * LN2, 8 * LN2 - 4]
    assert_close(K.tweedie_deviance(p, y, 1), want1, rtol=4 * EPS)
    assert_close(K.poisson_deviance(p, y), want1, rtol=4 * EPS)
    # power 2 (y > 0): 2·(log(p/y) + y/p − 1): y=2, p=1 → 2·(1 − log 2); y=p → 0
    assert_close(K.gamma_deviance(arr(1.0, 3.0), arr(2.0, 3.0)), [2 - 2 * LN2, 0.0], rtol=4 * EPS)
    # power 3 (inverse Gaussian) = (y − p)²/(y·p²): y=2, p=1 → 1/2; y=1, p=2 → 1/4
    assert_close(K.tweedie_deviance(arr(1.0, 2.0), arr(2.0, 1.0), 3), [0.5, 0.25], rtol=8 * EPS)
    # power −1, y ≤ 0 uses y₊ = 0: 2·(0 − y·p²/2 + p³/3); y=−1, p=1 → 2·(1/2 + 1/3) = 5/3
    assert_close(K.tweedie_deviance(arr(1.0), arr(-1.0), -1), [5 / 3], rtol=4 * EPS)


def test_tweedie_general_power_matches_closed_form() -> None:
    rng = np.random.default_rng(5)
    y, p = rng.uniform(0.1, 5, 1000), rng.uniform(0.1, 5, 1000)
    q = 1.5
    want = 2 * (
        y ** (2 - q) / ((1 - q) * (2 - q)) - y * p ** (1 - q) / (1 - q) + p ** (2 - q) / (2 - q)
    )
    assert_close(K.tweedie_deviance(p, y, q), want, rtol=1e-15)


def test_tweedie_rejects_powers_between_0_and_1() -> None:
    with pytest.raises(ValueError, match="<= 0 or >= 1"):
        K.tweedie_deviance(arr(1.0), arr(1.0), 0.5)


# --- buffers, shapes and axes -----------------------------------------------------------------

Elementwise = Callable[..., np.ndarray]
ELEMENTWISE: dict[str, tuple[Elementwise, int, dict[str, object]]] = {
    "squared_error": (K.squared_error, 2, {}),
    "absolute_error": (K.absolute_error, 2, {}),
    "huber": (K.huber, 2, {"delta": 0.7}),
    "smooth_l1": (K.smooth_l1, 2, {"beta": 0.7}),
    "log_cosh": (K.log_cosh, 2, {}),
    "gaussian_nll": (K.gaussian_nll, 3, {"full": True}),
    "bce_logits": (K.binary_cross_entropy, 2, {}),
    "bce_probs": (K.binary_cross_entropy, 2, {"with_logits": False}),
    "hinge": (K.hinge, 2, {}),
    "margin_ranking": (K.margin_ranking, 3, {"margin": 0.2}),
    "ape": (K.absolute_percentage_error, 2, {}),
    "sle": (K.squared_log_error, 2, {}),
    "pinball": (K.pinball, 2, {"alpha": 0.3}),
    "poisson": (K.poisson, 2, {}),
    "tweedie_0": (K.tweedie_deviance, 2, {"power": 0.0}),
    "tweedie_1": (K.tweedie_deviance, 2, {"power": 1.0}),
    "tweedie_1.5": (K.tweedie_deviance, 2, {"power": 1.5}),
    "tweedie_2": (K.tweedie_deviance, 2, {"power": 2.0}),
    "tweedie_-0.5": (K.tweedie_deviance, 2, {"power": -0.5}),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_out_and_scratch_buffers_are_reused(name: str) -> None:
    fn, n_inputs, params = ELEMENTWISE[name]
    rng = np.random.default_rng(6)
    inputs = [rng.uniform(0.05, 0.95, size=(4, 25)) for _ in range(n_inputs)]
    fresh = fn(*inputs, **params)
    assert fresh.shape == (4, 25) and fresh.dtype == np.float64
    out = np.full((4, 25), np.nan)
    kwargs: dict[str, object] = {"out": out}
    if "scratch" in fn.__code__.co_varnames:
        kwargs["scratch"] = np.full((4, 25), -7.0)
    got = fn(*inputs, **params, **kwargs)
    assert got is out
    np.testing.assert_array_equal(got, fresh)
    # inputs are never written to
    assert all(np.all((x >= 0.05) & (x <= 0.95)) for x in inputs)


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_kernels_broadcast_and_keep_shape(name: str) -> None:
    fn, n_inputs, params = ELEMENTWISE[name]
    rng = np.random.default_rng(7)
    full = [rng.uniform(0.05, 0.95, size=(3, 4, 5)) for _ in range(n_inputs)]
    got = fn(*full, **params)
    assert got.shape == (3, 4, 5)
    flat = fn(*(x.ravel() for x in full), **params)
    np.testing.assert_array_equal(got.ravel(), flat)
    # a scalar-like last input broadcasts against the first
    narrow = [*full[:-1], full[-1][:1, :1, :1]]
    wide = [*full[:-1], np.broadcast_to(full[-1][:1, :1, :1], (3, 4, 5)).copy()]
    np.testing.assert_array_equal(fn(*narrow, **params), fn(*wide, **params))


def test_vector_kernels_on_3d_inputs_reduce_only_the_axis() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 3, 4))
    y = rng.normal(size=(2, 3, 4))
    z = rng.normal(size=(2, 3, 4))
    for axis in (0, 1, 2, -1):
        shape = np.delete(np.array(x.shape), axis).tolist()
        assert list(K.cosine_similarity(x, y, axis=axis).shape) == shape
        assert list(K.kl_div(x, y, axis=axis).shape) == shape
        assert list(K.triplet(x, y, z, axis=axis).shape) == shape
        assert list(K.cross_entropy(x, np.abs(y), axis=axis).shape) == shape
        cos = np.sum(x * y, axis=axis) / np.maximum(
            np.linalg.norm(x, axis=axis) * np.linalg.norm(y, axis=axis), 1e-8
        )
        assert_close(K.cosine_similarity(x, y, axis=axis), cos, rtol=1e-14)


# --- domain checks ----------------------------------------------------------------------------


def test_domain_checks() -> None:
    nan = np.nan
    assert K.msle_violations(arr(-1.0, -0.5, nan, -2.0, 0.0)).tolist() == [
        True,
        False,
        False,
        True,
        False,
    ]
    assert K.variance_violations(arr(-1.0, 0.0, 1.0, nan)).tolist() == [True, False, False, False]
    assert K.probability_violations(arr(-0.1, 0.0, 1.0, 1.1, nan)).tolist() == [
        True,
        False,
        False,
        True,
        False,
    ]
    assert K.class_index_violations(arr(0, 1, 2, 2.5, -1, 3, nan), 3).tolist() == [
        False,
        False,
        False,
        True,
        True,
        True,
        False,
    ]
    assert K.poisson_pred_violations(arr(-1e-7, 0.0, -1.0, -5e-8)).tolist() == [
        True,
        False,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("power", "bad_pred", "bad_target"),
    [
        # values tested: pred/target = [−1, 0, 1]
        (-1.0, [True, True, False], [False, False, False]),  # y any, p > 0
        (0.0, [False, False, False], [False, False, False]),  # anything
        (1.0, [True, True, False], [True, False, False]),  # y ≥ 0, p > 0
        (1.5, [True, True, False], [True, False, False]),
        (2.0, [True, True, False], [True, True, False]),  # y > 0, p > 0
        (3.0, [True, True, False], [True, True, False]),
    ],
)
def test_tweedie_domain(power: float, bad_pred: list[bool], bad_target: list[bool]) -> None:
    v = arr(-1.0, 0.0, 1.0)
    assert K.tweedie_pred_violations(v, power).tolist() == bad_pred
    assert K.tweedie_target_violations(v, power).tolist() == bad_target
