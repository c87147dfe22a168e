"""The scikit-learn-named API functions validate like scikit-learn (issue 10).

``test_continuous_inf_nan_input`` is ported from scikit-learn 1.9's
``sklearn/metrics/tests/test_common.py`` (its ``REGRESSION_METRICS`` × ``invalids_nan_inf``),
run against :mod:`losscli.losses`; the other tests extend it to ``y_true`` and
``sample_weight`` and compare each message with scikit-learn's own. The MLX-named losses keep
MLX's behaviour: NaN propagates.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pytest
import sklearn.metrics as skm

from losscli import losses

# scikit-learn's REGRESSION_METRICS (test_common.py), by name, with the same partials.
REGRESSION_METRICS: dict[str, Callable[..., Any]] = {
    "max_error": losses.max_error,
    "mean_absolute_error": losses.mean_absolute_error,
    "mean_squared_error": losses.mean_squared_error,
    "mean_squared_log_error": losses.mean_squared_log_error,
    "mean_pinball_loss": losses.mean_pinball_loss,
    "median_absolute_error": losses.median_absolute_error,
    "mean_absolute_percentage_error": losses.mean_absolute_percentage_error,
    "explained_variance_score": losses.explained_variance_score,
    "r2_score": partial(losses.r2_score, multioutput="variance_weighted"),
    "root_mean_squared_error": losses.root_mean_squared_error,
    "root_mean_squared_log_error": losses.root_mean_squared_log_error,
    "mean_normal_deviance": partial(losses.mean_tweedie_deviance, power=0),
    "mean_poisson_deviance": losses.mean_poisson_deviance,
    "mean_gamma_deviance": losses.mean_gamma_deviance,
    "mean_compound_poisson_deviance": partial(losses.mean_tweedie_deviance, power=1.4),
    "mean_tweedie_deviance": losses.mean_tweedie_deviance,
    "d2_tweedie_score": partial(losses.d2_tweedie_score, power=1.4),
    "d2_pinball_score": losses.d2_pinball_score,
    "d2_pinball_score_01": partial(losses.d2_pinball_score, alpha=0.1),
    "d2_pinball_score_09": partial(losses.d2_pinball_score, alpha=0.9),
    "d2_absolute_error_score": losses.d2_absolute_error_score,
}

# scikit-learn's invalids_nan_inf
INVALIDS_NAN_INF = [
    ([0, 1], [np.inf, np.inf]),
    ([0, 1], [np.nan, np.nan]),
    ([0, 1], [np.nan, np.inf]),
    ([0, 1], [np.inf, 1]),
    ([0, 1], [np.nan, 1]),
]

WEIGHTED = [
    name
    for name in REGRESSION_METRICS
    if name != "max_error"  # the one metric without sample_weight
]


@pytest.mark.parametrize("metric", REGRESSION_METRICS.values(), ids=REGRESSION_METRICS.keys())
@pytest.mark.parametrize("y_true, y_score", INVALIDS_NAN_INF)
def test_continuous_inf_nan_input(metric: Callable[..., Any], y_true: Any, y_score: Any) -> None:
    with pytest.raises(ValueError, match=r"contains (NaN|infinity)"):
        metric(y_true, y_score)


def _sklearn_message(call: Callable[[], Any]) -> str:
    with pytest.raises(ValueError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize("name", REGRESSION_METRICS.keys())
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_invalid_targets_and_predictions_name_the_argument(name: str, bad: float) -> None:
    metric = REGRESSION_METRICS[name]
    kind = "NaN" if np.isnan(bad) else "infinity or a value too large for dtype('float64')"
    for name_, args in (("y_true", ([bad, 1.0, 2.0], [1.0, 1.0, 2.0])),
                        ("y_pred", ([1.0, 1.0, 2.0], [1.0, bad, 2.0]))):  # fmt: skip
        with pytest.raises(ValueError) as info:
            metric(*args)
        assert str(info.value) == f"Input {name_} contains {kind}."


@pytest.mark.parametrize("name", WEIGHTED)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_invalid_sample_weights_as_scikit_learn(name: str, bad: float) -> None:
    """Same message as scikit-learn's for a NaN or infinite weight."""
    y, p, w = [1.0, 2.0, 3.0], [1.5, 2.0, 2.0], [1.0, bad, 1.0]
    ours = _sklearn_message(lambda: REGRESSION_METRICS[name](y, p, sample_weight=w))
    theirs = _sklearn_message(lambda: skm.mean_absolute_error(y, p, sample_weight=w))
    assert ours == theirs


@pytest.mark.parametrize("name", WEIGHTED)
def test_all_zero_weights(name: str) -> None:
    with pytest.raises(ValueError, match="at least one non-zero number"):
        REGRESSION_METRICS[name]([1.0, 2.0], [1.0, 3.0], sample_weight=[0.0, 0.0])


def test_weighted_median_with_a_nan_weight_is_an_error_not_a_number() -> None:
    """It returned 0.0214 (the unweighted value is 0.364): a silent wrong number."""
    rng = np.random.default_rng(3)
    y, p = rng.random(20), rng.random(20)
    w = np.ones(20)
    w[5] = np.nan
    with pytest.raises(ValueError, match=r"^Input sample_weight contains NaN\.$"):
        losses.median_absolute_error(y, p, sample_weight=w)
    w[5] = 1.0
    assert losses.median_absolute_error(y, p, sample_weight=w) == pytest.approx(
        skm.median_absolute_error(y, p, sample_weight=w), rel=1e-15
    )


@pytest.mark.parametrize("multioutput", ["raw_values", "uniform_average", [0.3, 0.7]])
def test_mean_squared_error_equals_scikit_learn(multioutput: Any) -> None:
    rng = np.random.default_rng(7)
    y, p, w = rng.normal(size=(50, 2)), rng.normal(size=(50, 2)), rng.random(50)
    for weights in (None, w):
        ours = losses.mean_squared_error(y, p, sample_weight=weights, multioutput=multioutput)
        theirs = skm.mean_squared_error(y, p, sample_weight=weights, multioutput=multioutput)
        np.testing.assert_allclose(ours, theirs, rtol=1e-14, atol=0)
    residuals = (p[:, 0] - y[:, 0]) ** 2
    assert losses.mean_squared_error(y[:, 0], p[:, 0]) == pytest.approx(
        np.mean(residuals), rel=1e-15
    )


def test_undefined_metric_warning_for_one_sample() -> None:
    assert issubclass(losses.UndefinedMetricWarning, UserWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert np.isnan(losses.r2_score([1.0], [2.0]))
    assert [w.category for w in caught] == [losses.UndefinedMetricWarning]
    with warnings.catch_warnings():
        warnings.simplefilter("error", losses.UndefinedMetricWarning)
        with pytest.raises(losses.UndefinedMetricWarning, match="less than two samples"):
            losses.r2_score([1.0], [2.0])


@pytest.mark.parametrize(
    "loss", [losses.mse_loss, losses.l1_loss, losses.huber_loss, losses.log_cosh_loss]
)
def test_mlx_named_losses_let_nan_propagate(loss: Callable[..., Any]) -> None:
    out = loss(np.array([np.nan, 1.0]), np.array([0.0, 0.0]), reduction="mean")
    assert np.isnan(out)
    assert np.isinf(losses.mse_loss(np.array([np.inf]), np.array([0.0])))


# scikit-learn's test_classification_inf_nan_input, for the label metrics losscli has.
CLASSIFICATION_METRICS: dict[str, Callable[..., Any]] = {
    "accuracy_score": losses.accuracy_score,
    "unnormalized_accuracy_score": partial(losses.accuracy_score, normalize=False),
    "zero_one_loss": losses.zero_one_loss,
    "unnormalized_zero_one_loss": partial(losses.zero_one_loss, normalize=False),
    "hamming_loss": losses.hamming_loss,
}


@pytest.mark.parametrize(
    "metric", CLASSIFICATION_METRICS.values(), ids=CLASSIFICATION_METRICS.keys()
)
@pytest.mark.parametrize(
    "y_true, y_score",
    [*INVALIDS_NAN_INF, ([np.nan, 1, 2], [1, 2, 3]), ([np.inf, 1, 2], [1, 2, 3])],
)
def test_classification_inf_nan_input(
    metric: Callable[..., Any], y_true: Any, y_score: Any
) -> None:
    if not np.isfinite(y_true).all():
        input_name = "y_true"
        unexpected = "NaN" if np.isnan(y_true).any() else "infinity or a value too large"
    else:
        input_name = "y_pred"
        unexpected = "NaN" if np.isnan(y_score).any() else "infinity or a value too large"
    with pytest.raises(ValueError, match=f"Input {input_name} contains {unexpected}"):
        metric(y_true, y_score)


@pytest.mark.parametrize("metric", [losses.log_loss, losses.brier_score_loss])
def test_probability_metrics_reject_non_finite_input(metric: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match=r"^Input y_proba contains NaN\.$"):
        metric([0, 1], [np.nan, 0.5])
    with pytest.raises(ValueError, match=r"^Input sample_weight contains NaN\.$"):
        metric([0, 1], [0.2, 0.5], sample_weight=[1.0, np.nan])
