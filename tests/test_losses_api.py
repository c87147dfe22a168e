"""The Python API against its references: every MLX loss against MLX itself in float64 (CPU
stream) for every reduction, the regression metrics against scikit-learn, signatures, input
types, error messages and the Keras per-row rule."""

from __future__ import annotations

import doctest
import importlib
import inspect
import math
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from losscli import losses
from losscli.catalogue import FAMILIES
from losscli.catalogue.api import reduce as reduce_loss

mx = importlib.import_module("mlx.core")
mlx_losses = importlib.import_module("mlx.nn.losses")
skm = importlib.import_module("sklearn.metrics")

REDUCTIONS = ("none", "mean", "sum")
RTOL = 1e-12

MLX_NAMES = (
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "smooth_l1_loss",
    "log_cosh_loss",
    "binary_cross_entropy",
    "cross_entropy",
    "nll_loss",
    "kl_div_loss",
    "gaussian_nll_loss",
    "hinge_loss",
    "margin_ranking_loss",
    "cosine_similarity_loss",
    "triplet_loss",
)


# --- MLX in float64 ---------------------------------------------------------------------------


def _to_mx(a: Any) -> Any:
    a = np.asarray(a)
    return mx.array(a, dtype=mx.float64) if a.dtype.kind == "f" else mx.array(a)


def run_mlx(name: str, *args: Any, **kwargs: Any) -> np.ndarray:
    """Call ``mlx.nn.losses.<name>`` on float64 arrays on the CPU stream (MLX supports float64
    only on the CPU), returning a float64 NumPy array."""
    fn = getattr(mlx_losses, name)
    with mx.stream(mx.cpu):
        margs = [_to_mx(a) for a in args]
        mkw = {k: _to_mx(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        result = fn(*margs, **mkw)
        mx.eval(result)
        assert result.dtype == mx.float64
    return np.array(result, dtype=np.float64)


def test_mlx_computes_in_float64_on_cpu() -> None:
    # 1 + 1e-12 is not representable in float32: MLX really keeps float64 here
    got = run_mlx("mse_loss", np.array([1.0 + 1e-12]), np.array([1.0]), reduction="sum")
    assert got == pytest.approx(1e-24, rel=1e-3)


def _regression_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Awkward (n, 3) pairs: normals of very different scales, exact zeros, errors exactly ±1
    and ±2 (ties at the Huber/smooth-L1 boundaries for δ, β ∈ {1, 2}), large errors."""
    y = np.concatenate(
        [
            rng.normal(scale=1e-3, size=(20, 3)),
            rng.normal(size=(20, 3)),
            rng.normal(scale=1e3, size=(20, 3)),
            np.zeros((4, 3)),
            np.arange(24.0).reshape(8, 3) * 0.25,
        ]
    )
    p = y + np.concatenate(
        [
            rng.normal(scale=1e-3, size=(20, 3)),
            rng.normal(scale=2.0, size=(20, 3)),
            rng.normal(scale=50.0, size=(20, 3)),
            np.zeros((4, 3)),
            np.array([[1.0, -1.0, 2.0], [-2.0, 1.0, 2.0]] * 4),
        ]
    )
    # the tie rows are exact: y is a multiple of 0.25 below 6, so y ± 1, ± 2 is exact
    assert np.all(np.abs(p[-8:] - y[-8:]) == np.abs(np.array([[1.0, 1, 2], [2, 1, 2]] * 4)))
    return p, y


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    rng = np.random.default_rng(20261124)
    p, y = _regression_data(rng)
    n = 60
    logits = np.concatenate(
        [rng.normal(scale=3.0, size=(n, 3)), np.array([[1000.0, -1000.0, 0.0], [-50, 50, 49.5]])]
    )
    labels = np.concatenate([rng.integers(0, 3, n), np.array([0, 2])])
    probs = rng.dirichlet(np.ones(3), len(labels))
    bce_logits = np.concatenate([rng.normal(scale=4.0, size=40), [1000.0, -1000.0, 50.0, -50.0]])
    bce_targets = np.concatenate([(rng.uniform(size=40) > 0.5) * 1.0, [1.0, 0.0, 0.0, 1.0]])
    bce_probs = np.concatenate([rng.uniform(0.01, 0.99, 40), [0.0, 1.0, 0.0, 1.0]])
    bce_prob_targets = np.concatenate([rng.uniform(size=40) > 0.5, [1.0, 0.0, 0.0, 1.0]]) * 1.0
    log_q = logits[:n] - np.log(np.exp(logits[:n]).sum(-1, keepdims=True))
    log_p = np.log(probs[:n])
    return {
        "p": p,
        "y": y,
        "vars": np.concatenate(
            [rng.uniform(0.01, 4.0, (len(p) - 4, 3)), np.zeros((2, 3)), np.full((2, 3), 1e-9)]
        ),
        "pm1": np.where(rng.uniform(size=p.shape) > 0.5, 1.0, -1.0),
        "logits": logits,
        "labels": labels,
        "probs": probs,
        "class_weights": rng.uniform(0.1, 2.0, len(labels)),
        "bce_logits": bce_logits,
        "bce_targets": bce_targets,
        "bce_probs": bce_probs,
        "bce_prob_targets": bce_prob_targets,
        "bce_weights": rng.uniform(0.0, 3.0, len(bce_logits)),
        "log_q": log_q,
        "log_p": log_p,
        "emb": [rng.normal(size=(30, 5)) for _ in range(3)],
    }


# Each case: (label, API function name, positional args from `data`, keyword args, atol).
# rtol is 1e-12 throughout; an atol is only given where MLX's own formula loses absolute
# precision that ours keeps (explained per case).
Case = tuple[str, str, tuple[str, ...], dict[str, Any], float]
CASES: list[Case] = [
    ("mse", "mse_loss", ("p", "y"), {}, 0.0),
    ("l1", "l1_loss", ("p", "y"), {}, 0.0),
    ("huber_1", "huber_loss", ("p", "y"), {"delta": 1.0}, 0.0),
    ("huber_2", "huber_loss", ("p", "y"), {"delta": 2.0}, 0.0),
    ("smooth_l1_1", "smooth_l1_loss", ("p", "y"), {"beta": 1.0}, 0.0),
    ("smooth_l1_2", "smooth_l1_loss", ("p", "y"), {"beta": 2.0}, 0.0),
    ("smooth_l1_0", "smooth_l1_loss", ("p", "y"), {"beta": 0.0}, 0.0),
    # MLX evaluates logaddexp(e, −e) − log 2, whose absolute error is ~ulp(log 2) ≈ 1e-16
    # for tiny e (our log1p form is exact there), hence atol.
    ("log_cosh", "log_cosh_loss", ("p", "y"), {}, 4e-16),
    # MLX: logaddexp(0, x) − x·y cancels for large |x| (absolute error ≈ ulp(|x|), 7e-15 at
    # |x| = 50); ours is max(x, 0) − x·y + log1p(e^−|x|) with no cancellation.
    ("bce_logits", "binary_cross_entropy", ("bce_logits", "bce_targets"), {}, 1e-14),
    (
        "bce_logits_w",
        "binary_cross_entropy",
        ("bce_logits", "bce_targets"),
        {"weights": "bce_weights"},
        3e-14,
    ),
    # MLX takes log(1 − p) where we take log1p(−p): they differ by up to ~1e-16 absolutely.
    (
        "bce_probs",
        "binary_cross_entropy",
        ("bce_probs", "bce_prob_targets"),
        {"with_logits": False},
        1e-15,
    ),
    (
        "bce_probs_w",
        "binary_cross_entropy",
        ("bce_probs", "bce_prob_targets"),
        {"with_logits": False, "weights": "bce_weights"},
        3e-15,
    ),
    # MLX: log(Σ e^z) loses ~ulp(1) absolutely when one class dominates; ours: log1p(Σ' e^z).
    ("ce_idx", "cross_entropy", ("logits", "labels"), {}, 1e-15),
    ("ce_idx_ls", "cross_entropy", ("logits", "labels"), {"label_smoothing": 0.1}, 1e-15),
    (
        "ce_idx_ls_w",
        "cross_entropy",
        ("logits", "labels"),
        {"label_smoothing": 0.25, "weights": "class_weights"},
        2e-15,
    ),
    ("ce_probs", "cross_entropy", ("logits", "probs"), {}, 1e-15),
    ("ce_probs_ls", "cross_entropy", ("logits", "probs"), {"label_smoothing": 0.3}, 1e-15),
    ("nll", "nll_loss", ("log_q", "labels60"), {}, 0.0),
    ("kl", "kl_div_loss", ("log_q", "log_p"), {}, 1e-15),
    ("gnll", "gaussian_nll_loss", ("p", "y", "vars"), {}, 0.0),
    ("gnll_full", "gaussian_nll_loss", ("p", "y", "vars"), {"full": True, "eps": 1e-3}, 0.0),
    ("hinge", "hinge_loss", ("p", "pm1"), {}, 0.0),
    ("margin_ranking", "margin_ranking_loss", ("p", "y", "pm1"), {}, 0.0),
    ("margin_ranking_m", "margin_ranking_loss", ("p", "y", "pm1"), {"margin": 0.5}, 0.0),
    ("cosine", "cosine_similarity_loss", ("emb0", "emb1"), {}, 1e-15),
    ("cosine_axis0", "cosine_similarity_loss", ("emb0", "emb1"), {"axis": 0}, 1e-15),
    ("triplet", "triplet_loss", ("emb0", "emb1", "emb2"), {}, 1e-14),
    ("triplet_p1", "triplet_loss", ("emb0", "emb1", "emb2"), {"p": 1, "margin": 2.0}, 1e-14),
    ("triplet_p3", "triplet_loss", ("emb0", "emb1", "emb2"), {"p": 3, "axis": 0}, 1e-14),
]


def _resolve(data: dict[str, Any], key: Any) -> Any:
    if not isinstance(key, str):
        return key
    if key.startswith("emb"):
        return data["emb"][int(key[3:])]
    if key == "labels60":
        return data["labels"][:60]
    return data.get(key, key)


# MLX 0.32's CPU kernels for exp (and so logaddexp, logsumexp, sigmoid) use a float32
# polynomial even for float64 arrays: measured max relative error 2.6e-6 over [−30, 30]
# (ml-explore/mlx#3047, open; #4158). Losses built on exp are therefore compared with MLX at a
# float32-class tolerance — enough to catch any semantic slip, which moves values by O(0.1) —
# and at 1e-12 with MLX's own formulas ported op for op to NumPy (MLX_FORMULAS below).
EXP_RTOL, EXP_ATOL = 1e-5, 1e-6


def _mlx_log_cosh(inputs: Any, targets: Any, reduction: str = "none") -> Any:
    e = inputs - targets
    return reduce_loss(np.logaddexp(e, -e) - math.log(2), reduction)  # type: ignore[arg-type]


def _mlx_bce(inputs: Any, targets: Any, weights: Any = None, reduction: str = "mean") -> Any:
    loss = np.logaddexp(0.0, inputs) - inputs * targets
    loss = loss if weights is None else loss * weights
    return reduce_loss(loss, reduction)  # type: ignore[arg-type]


def _mlx_cross_entropy(
    logits: Any,
    targets: Any,
    weights: Any = None,
    axis: int = -1,
    label_smoothing: float = 0.0,
    reduction: str = "none",
) -> Any:
    logits = logits - np.max(logits, axis=axis, keepdims=True)
    if targets.ndim == logits.ndim:
        score = np.sum(logits * targets, axis=axis)
    else:
        idx = np.expand_dims(targets, axis)
        score = np.take_along_axis(logits, idx, axis).squeeze(axis)
    lse = np.log(np.sum(np.exp(logits), axis=axis))
    if label_smoothing > 0:
        loss = lse - (1 - label_smoothing) * score + (-np.mean(logits, axis=axis) * label_smoothing)
    else:
        loss = lse - score
    loss = loss if weights is None else loss * weights
    return reduce_loss(loss, reduction)  # type: ignore[arg-type]


def _mlx_kl_div(inputs: Any, targets: Any, axis: int = -1, reduction: str = "none") -> Any:
    loss = np.sum(np.exp(targets) * (targets - inputs), axis=axis)
    return reduce_loss(loss, reduction)  # type: ignore[arg-type]


MLX_FORMULAS: dict[str, Callable[..., Any]] = {
    "log_cosh_loss": _mlx_log_cosh,
    "binary_cross_entropy": _mlx_bce,
    "cross_entropy": _mlx_cross_entropy,
    "kl_div_loss": _mlx_kl_div,
}


def _uses_exp(name: str, kwargs: dict[str, Any]) -> bool:
    return name in MLX_FORMULAS and kwargs.get("with_logits", True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_mlx_losses_match_mlx_float64(data: dict[str, Any], case: Case, reduction: str) -> None:
    _, name, arg_keys, kw, atol = case
    args = [_resolve(data, k) for k in arg_keys]
    kwargs = {k: _resolve(data, v) for k, v in kw.items()}
    want = run_mlx(name, *args, **kwargs, reduction=reduction)
    got = getattr(losses, name)(*args, **kwargs, reduction=reduction)
    assert isinstance(got, np.ndarray if reduction == "none" else np.float64)
    assert np.asarray(got).dtype == np.float64
    assert np.shape(got) == want.shape
    # a sum adds n elementwise differences: scale the absolute slack accordingly
    n = run_mlx(name, *args, **kwargs, reduction="none").size
    scale = n if reduction == "sum" else 1
    if _uses_exp(name, kwargs):
        np.testing.assert_allclose(got, want, rtol=EXP_RTOL, atol=EXP_ATOL * scale)
        want = MLX_FORMULAS[name](*args, **kwargs, reduction=reduction)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=atol * scale)


def test_cross_entropy_on_axis_0_matches_mlx(data: dict[str, Any]) -> None:
    logits_t = np.ascontiguousarray(data["logits"].T)
    for targets in (data["labels"], np.ascontiguousarray(data["probs"].T)):
        kw: dict[str, Any] = {"axis": 0, "label_smoothing": 0.2}
        got = losses.cross_entropy(logits_t, targets, **kw)
        mlx_value = run_mlx("cross_entropy", logits_t, targets, **kw)
        np.testing.assert_allclose(got, mlx_value, rtol=EXP_RTOL, atol=EXP_ATOL)
        want = _mlx_cross_entropy(logits_t, targets, **kw)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-15)


def test_mlx_float64_exp_is_only_float32_accurate() -> None:
    # Documents why the exp-based cases above need the NumPy port of MLX's formulas; if MLX
    # fixes its float64 exp this fails and the looser comparison can be dropped.
    x = np.linspace(-30.0, 30.0, 2001)
    with mx.stream(mx.cpu):
        y = mx.exp(mx.array(x, dtype=mx.float64))
        mx.eval(y)
    rel = np.max(np.abs(np.array(y) - np.exp(x)) / np.exp(x))
    assert 1e-9 < rel < 1e-5


def test_default_reductions_follow_mlx(data: dict[str, Any]) -> None:
    p, y = data["p"], data["y"]
    # huber_loss defaults to 'none' (an array), mse_loss to 'mean' (a scalar)
    assert losses.huber_loss(p, y).shape == p.shape
    assert isinstance(losses.mse_loss(p, y), np.float64)
    for name in MLX_NAMES:
        default = inspect.signature(getattr(losses, name)).parameters["reduction"].default
        assert (
            default == inspect.signature(getattr(mlx_losses, name)).parameters["reduction"].default
        )


def _assert_same_signature(name: str, reference: object) -> None:
    ours = inspect.signature(getattr(losses, name)).parameters
    theirs = inspect.signature(getattr(reference, name)).parameters
    assert list(ours) == list(theirs)
    for param_name, param in theirs.items():
        assert ours[param_name].default == param.default, param_name
        assert ours[param_name].kind == param.kind, param_name


@pytest.mark.parametrize("name", MLX_NAMES)
def test_signatures_match_mlx(name: str) -> None:
    _assert_same_signature(name, mlx_losses)


SKLEARN_NAMES = (
    "root_mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_log_error",
    "root_mean_squared_log_error",
    "r2_score",
    "explained_variance_score",
    "max_error",
    "mean_pinball_loss",
    "mean_poisson_deviance",
    "mean_gamma_deviance",
    "mean_tweedie_deviance",
    "median_absolute_error",
)


@pytest.mark.parametrize("name", SKLEARN_NAMES)
def test_signatures_match_sklearn(name: str) -> None:
    _assert_same_signature(name, skm)


# --- MLX error behaviour ----------------------------------------------------------------------


def test_invalid_reduction_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"Must be one of \('none', 'mean', 'sum'\)"):
        losses.mse_loss([1.0], [2.0], reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Invalid reduction"):
        losses.huber_loss([1.0], [2.0], reduction="total")  # type: ignore[arg-type]


def test_shape_errors_name_both_shapes() -> None:
    with pytest.raises(
        ValueError, match=r"Predictions shape \(3,\) does not match targets shape \(2,\)"
    ):
        losses.mse_loss([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"Inputs shape \(2,\) does not match vars shape \(1,\)"):
        losses.gaussian_nll_loss([1.0, 2.0], [1.0, 2.0], [1.0])
    with pytest.raises(
        ValueError, match=r"Targets shape \(3,\) does not match logits shape \(2, 3\)"
    ):
        losses.cross_entropy(np.zeros((2, 3)), [0, 1, 2])
    with pytest.raises(ValueError, match=r"Weights with shape \(3,\) is not the same as output"):
        losses.cross_entropy(np.zeros((2, 3)), [0, 1], weights=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"inputs1.shape=\(2,\), inputs2.shape=\(2,\)"):
        losses.margin_ranking_loss([1.0, 2.0], [1.0, 2.0], [1.0])


def test_cross_entropy_rejects_bad_smoothing_and_labels() -> None:
    with pytest.raises(ValueError, match=r"Label smoothing must be in \[0, 1\), got 1.0"):
        losses.cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing=1.0)
    with pytest.raises(ValueError, match=r"integers in \[0, 3\)"):
        losses.cross_entropy(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match=r"integers in \[0, 3\)"):
        losses.nll_loss(np.zeros((2, 3)), [0.5, 1])


# --- inputs of every kind ---------------------------------------------------------------------


def test_accepts_lists_pandas_and_pyarrow() -> None:
    pd = importlib.import_module("pandas")
    pa = importlib.import_module("pyarrow")
    p = [0.5, 2.0, -1.0, 4.0]
    y = [1.0, 2.0, 1.0, 1.5]
    want = losses.mse_loss(np.array(p), np.array(y))
    variants = [
        (p, y),
        (pd.Series(p), pd.Series(y)),
        (pa.array(p), pa.array(y, type=pa.float32())),
        (pa.chunked_array([p[:1], p[1:]]), pa.chunked_array([[], y], type=pa.float64())),
        (pa.array(p), pa.array([0.0, *y]).slice(1)),  # a non-zero buffer offset
    ]
    for a, b in variants:
        assert losses.mse_loss(a, b) == want
    ints = (pd.Series([1, 2, 3, 4], dtype="Int64"), pd.Series([1, 2, 3, 5], dtype="Int32"))
    assert losses.mse_loss(*ints) == 0.25  # (4 − 5)² / 4
    df = pd.DataFrame({"a": p, "b": y})
    assert losses.mse_loss(df, df[["b", "a"]]) == losses.mse_loss(np.c_[p, y], np.c_[y, p])
    table = pa.table({"a": p, "b": y})
    assert losses.l1_loss(table, np.c_[p, y]) == 0.0


def test_nulls_become_nan() -> None:
    pd = importlib.import_module("pandas")
    pa = importlib.import_module("pyarrow")
    out = losses.l1_loss(pa.chunked_array([[1.0, None], [3.0]]), [1.0, 1.0, 1.0], reduction="none")
    assert np.isnan(out[1]) and out[[0, 2]].tolist() == [0.0, 2.0]
    s = pd.Series([1, None, 3], dtype="Int64")
    assert np.isnan(losses.l1_loss(s, [0.0, 0.0, 0.0], reduction="none")[1])


def test_importing_the_api_loads_neither_pandas_nor_pyarrow() -> None:
    code = (
        "import sys, losscli.losses, losscli.catalogue.kernels; "
        "bad = [m for m in ('pandas', 'pyarrow') if m in sys.modules]; "
        "assert not bad, bad"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_docstring_examples_run() -> None:
    results = [
        doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        for module in (losses, *FAMILIES)
    ]
    assert sum(r.attempted for r in results) >= 25 and sum(r.failed for r in results) == 0


def test_keras_per_row_mse_rule(data: dict[str, Any]) -> None:
    # Keras mean_squared_error: np.mean(np.square(y_true − y_pred), axis=−1), one value per row
    y_true, y_pred = data["y"], data["p"]
    keras = np.mean(np.square(y_true - y_pred), axis=-1)
    per_row = losses.mse_loss(y_pred, y_true, reduction="none").mean(axis=-1)
    np.testing.assert_array_equal(per_row, keras)


# --- scikit-learn regression metrics ----------------------------------------------------------


@pytest.fixture(scope="module")
def reg() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 200
    y = rng.normal(scale=[1.0, 50.0, 1e-3], size=(n, 3))
    p = y + rng.normal(scale=[0.5, 20.0, 1e-3], size=(n, 3))
    y[:5, 0] = 0.0  # MAPE's eps floor
    y_pos = rng.gamma(2.0, 1.5, size=(n, 3)) + 0.01
    p_pos = y_pos * rng.lognormal(0.0, 0.3, size=(n, 3))
    y_count = rng.poisson(2.0, size=(n, 1)).astype(np.float64)  # zeros included
    return {
        "y": y,
        "p": p,
        "y_pos": y_pos,
        "p_pos": p_pos,
        "y_count": y_count,
        "w": rng.uniform(0.1, 3.0, n),
        "w_int": rng.integers(0, 4, n).astype(np.float64),
    }


MULTI = [
    ("root_mean_squared_error", "y", "p", {}),
    ("mean_absolute_error", "y", "p", {}),
    ("mean_absolute_percentage_error", "y", "p", {}),
    ("mean_squared_log_error", "y_pos", "p_pos", {}),
    ("root_mean_squared_log_error", "y_pos", "p_pos", {}),
    ("r2_score", "y", "p", {}),
    ("explained_variance_score", "y", "p", {}),
    ("mean_pinball_loss", "y", "p", {"alpha": 0.1}),
    ("mean_pinball_loss", "y", "p", {"alpha": 0.9}),
    ("median_absolute_error", "y", "p", {}),
]


def _check_metric(name: str, *args: Any, **kwargs: Any) -> None:
    want = getattr(skm, name)(*args, **kwargs)
    got = getattr(losses, name)(*args, **kwargs)
    assert np.shape(got) == np.shape(want)
    assert np.asarray(got).dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)


@pytest.mark.parametrize("multioutput", ["uniform_average", "raw_values", [0.2, 0.3, 0.5]])
@pytest.mark.parametrize("weight", [None, "w", "w_int"])
@pytest.mark.parametrize(("name", "yk", "pk", "kw"), MULTI, ids=[f"{m[0]}{m[3]}" for m in MULTI])
def test_multioutput_metrics_match_sklearn(
    reg: dict[str, np.ndarray],
    name: str,
    yk: str,
    pk: str,
    kw: dict[str, Any],
    weight: str | None,
    multioutput: Any,
) -> None:
    sw = None if weight is None else reg[weight]
    y, p = reg[yk], reg[pk]
    _check_metric(name, y, p, sample_weight=sw, multioutput=multioutput, **kw)
    # and each single column as a 1-D problem
    _check_metric(name, y[:, 1], p[:, 1], sample_weight=sw, **kw)


@pytest.mark.parametrize("name", ["r2_score", "explained_variance_score"])
def test_variance_weighted(reg: dict[str, np.ndarray], name: str) -> None:
    _check_metric(name, reg["y"], reg["p"], multioutput="variance_weighted")
    _check_metric(name, reg["y"], reg["p"], sample_weight=reg["w"], multioutput="variance_weighted")


@pytest.mark.parametrize("power", [-1.0, -0.5, 0.0, 1.0, 1.5, 2.0, 3.0, 4.5])
@pytest.mark.parametrize("weight", [None, "w"])
def test_tweedie_matches_sklearn(
    reg: dict[str, np.ndarray], power: float, weight: str | None
) -> None:
    sw = None if weight is None else reg[weight]
    y = reg["y_count"][:, 0] if 1 <= power < 2 else reg["y_pos"][:, 0]
    if power < 0:
        y = reg["y"][:, 0]  # any real target
    _check_metric("mean_tweedie_deviance", y, reg["p_pos"][:, 0], sample_weight=sw, power=power)


@pytest.mark.parametrize("weight", [None, "w"])
def test_poisson_and_gamma_deviance(reg: dict[str, np.ndarray], weight: str | None) -> None:
    sw = None if weight is None else reg[weight]
    _check_metric(
        "mean_poisson_deviance", reg["y_count"][:, 0], reg["p_pos"][:, 0], sample_weight=sw
    )
    _check_metric("mean_gamma_deviance", reg["y_pos"][:, 2], reg["p_pos"][:, 2], sample_weight=sw)


def test_max_error(reg: dict[str, np.ndarray]) -> None:
    _check_metric("max_error", reg["y"][:, 1], reg["p"][:, 1])
    with pytest.raises(ValueError, match="Multioutput not supported"):
        losses.max_error(reg["y"], reg["p"])


def test_r2_constant_targets_force_finite() -> None:
    y = np.array([[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]])
    perfect = y.copy()
    imperfect = np.array([[2.0, 1.0], [2.0, 3.0], [2.0, 2.0]])
    for pred in (perfect, imperfect):
        for name in ("r2_score", "explained_variance_score"):
            for mo in ("raw_values", "uniform_average", "variance_weighted"):
                _check_metric(name, y, pred, multioutput=mo)
    # perfect → 1.0, imperfect on a constant target → 0.0 (not −inf/NaN)
    assert losses.r2_score(y, imperfect, multioutput="raw_values").tolist() == [1.0, 0.0]
    with np.errstate(all="ignore"):
        raw = losses.r2_score(y, imperfect, multioutput="raw_values", force_finite=False)
    assert np.isnan(raw[0]) and raw[1] == -np.inf


def test_r2_with_one_sample_is_nan_with_warning() -> None:
    with pytest.warns(UserWarning, match="less than two samples"):
        assert np.isnan(losses.r2_score([1.0], [2.0]))


def test_weighted_median_edge_cases() -> None:
    # the half weight lands exactly on a point → average with the next positively weighted one
    e = np.array([1.0, 2.0, 3.0, 4.0])
    cases = [
        np.array([1.0, 1.0, 1.0, 1.0]),
        np.array([1.0, 1.0, 0.0, 2.0]),  # next point has weight 0: skip it
        np.array([2.0, 1.0, 1.0, 0.0]),
        np.array([0.0, 0.0, 1.0, 1.0]),
        np.array([3.0, 1.0, 1.0, 1.0]),
    ]
    for w in cases:
        _check_metric("median_absolute_error", np.zeros(4), e, sample_weight=w)
        _check_metric("median_absolute_error", np.zeros(4), e[::-1], sample_weight=w)


def test_domain_errors_raise() -> None:
    with pytest.raises(ValueError, match="less than or equal to -1"):
        losses.mean_squared_log_error([0.0, -1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="less than or equal to -1"):
        losses.root_mean_squared_log_error([0.0, 1.0], [1.0, -2.0])
    with pytest.raises(ValueError, match="strictly positive y_pred"):
        losses.mean_tweedie_deviance([1.0], [0.0], power=-1)
    with pytest.raises(ValueError, match="non-negative y and strictly positive y_pred"):
        losses.mean_poisson_deviance([-1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="strictly positive y and y_pred"):
        losses.mean_gamma_deviance([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="power"):
        losses.mean_tweedie_deviance([1.0], [1.0], power=0.5)
    with pytest.raises(ValueError, match="Multioutput not supported"):
        losses.mean_tweedie_deviance(np.ones((3, 2)), np.ones((3, 2)), power=1)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        losses.mean_absolute_error([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match=r"different number of output \(2!=3\)"):
        losses.mean_absolute_error(np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="Allowed 'multioutput'"):
        losses.mean_absolute_error([1.0], [1.0], multioutput="mean")  # type: ignore[arg-type]


def test_poisson_loss_is_keras_poisson() -> None:
    rng = np.random.default_rng(9)
    y_true = rng.poisson(3.0, size=(10, 4)).astype(np.float64)
    y_pred = rng.uniform(0.0, 6.0, size=(10, 4))
    y_pred[0, 0] = 0.0  # log(0 + 1e-7), finite
    keras = np.mean(y_pred - y_true * np.log(y_pred + 1e-7), axis=-1)
    got = losses.poisson_loss(y_true, y_pred)
    assert isinstance(got, np.ndarray) and got.shape == (10,)
    np.testing.assert_allclose(got, keras, rtol=1e-15)
    one = losses.poisson_loss(y_true[0], y_pred[0])
    assert isinstance(one, np.float64) and one == pytest.approx(keras[0], rel=1e-15)


def test_every_public_name_is_documented() -> None:
    for name in losses.__all__:
        doc = getattr(losses, name).__doc__
        assert doc and ">>>" in doc, name
