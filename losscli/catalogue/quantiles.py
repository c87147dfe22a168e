"""Quantiles of the absolute error: scikit-learn's ``median_absolute_error`` and the tail metric
``quantile_absolute_error``, exact (NumPy's / scikit-learn's value to the last bit) in memory
bounded by the chunk size, through the multi-pass selection of :mod:`losscli.stats.quantiles`.

Methods, as NumPy names them: the median is ``np.median`` (the mean of the two middle values)
unweighted and scikit-learn's weighted median (``averaged_inverted_cdf``) with weights; other
quantiles are ``np.quantile(..., method='linear')`` unweighted and scikit-learn's
``_weighted_percentile(..., average=True)`` (``averaged_inverted_cdf``) with weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from losscli.catalogue.api import check_reg_targets, combine
from losscli.catalogue.regression import absolute_error
from losscli.catalogue.spec import (
    LossSpec,
    Param,
    Params,
    float_in,
    metric,
    module_on_first_use,
    np,
    pair,
)
from losscli.defaults import NUMPY_QUANTILE_METHODS, WEIGHTED_QUANTILE_METHODS

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from losscli.catalogue.api import Multioutput, Result
    from losscli.stats import LossState, quantiles

#: The Python API functions of this family (re-exported by :mod:`losscli.losses`).
__all__ = ["median_absolute_error", "quantile_absolute_error"]

#: The methods used, unweighted and weighted (NumPy's names; ``median`` is ``np.median``).
MEDIAN_METHODS = ("median", "averaged_inverted_cdf")
QUANTILE_METHODS = ("linear", "averaged_inverted_cdf")

MEMORY_NOTE = (
    "exact in bounded memory: two passes over a file (a histogram of the errors' bit patterns, "
    "then a selection in the bucket holding the rank; a bucket of more than 4M near-equal "
    "errors takes one more pass); stdin or a pipe keeps the errors in memory up to "
    "--memory-limit (512 MiB), then spools them to a temporary file; holds the chunk, "
    "512 KiB per output and at most 4M selected errors"
)

#: ``--method``: NumPy's ``np.quantile`` methods (unweighted); with weights only the two that
#: have a weighted definition.
NUMPY_METHODS = NUMPY_QUANTILE_METHODS
WEIGHTED_METHODS = WEIGHTED_QUANTILE_METHODS

METHOD_PARAM = Param(
    "method",
    "auto",
    "interpolation, as np.quantile's method=; auto: linear, or with --weight "
    "averaged_inverted_cdf (scikit-learn's weighted percentile); with --weight also "
    "inverted_cdf (NumPy's weighted quantile)",
    type=str,
    valid=lambda m: m == "auto" or m in NUMPY_METHODS,
    valid_text="auto or one of " + ", ".join(NUMPY_METHODS),
)


def _weighted_method(params: Params, weighted: bool) -> str | None:
    method = params.get("method", "auto")
    if weighted and method not in ("auto", *WEIGHTED_METHODS):
        return (
            f"--method {method} has no weighted definition: with --weight use "
            "averaged_inverted_cdf (scikit-learn, the default) or inverted_cdf (NumPy)"
        )
    return None


Q_PARAM = Param(
    "q",
    0.9,
    "quantile of the absolute error, in [0, 1]; repeat for several (--q 0.9 --q 0.99)",
    valid=float_in(0.0, 1.0, low_open=False, high_open=False),
    valid_text="in [0, 1]",
    multiple=True,
)


def quantile_state(q: float | None, methods: tuple[str, str]) -> Callable[[int, Params], LossState]:
    """A factory of :class:`~losscli.stats.quantiles.QuantileState` for the quantile ``q`` (or
    the parameter ``q`` when None), with the (unweighted, weighted) methods."""

    def make(outputs: int, params: Params) -> LossState:
        from losscli.stats.quantiles import QuantileState  # NumPy-backed: loaded by a run

        level = float(params["q"]) if q is None else q
        chosen = params.get("method", "auto")
        used = methods if chosen == "auto" else (chosen, chosen)
        state: LossState = QuantileState(outputs, level, *used)  # type: ignore[assignment]
        return state

    return make


# -- registry entries -------------------------------------------------------------------------


LOSSES: tuple[LossSpec, ...] = (
    metric(
        name="median_absolute_error",
        summary="median absolute error",
        formula="median a per output (weighted: scikit-learn's weighted median), then the "
        "mean over outputs",
        api="median_absolute_error",
        elementwise=pair(absolute_error, scratch=0),
        make_state=quantile_state(0.5, MEDIAN_METHODS),
        multi_pass=True,
        memory_note=MEMORY_NOTE,
        aliases=("medae",),
        reference="sklearn median_absolute_error (with sample_weight)",
    ),
    metric(
        name="quantile_absolute_error",
        summary="q-quantile of the absolute error (tail error)",
        formula="np.quantile(a, q, method='linear' or --method) per output (weighted: "
        "scikit-learn's weighted percentile, averaged_inverted_cdf), then the mean over outputs",
        api="quantile_absolute_error",
        params=(Q_PARAM, METHOD_PARAM),
        elementwise=pair(absolute_error, scratch=0),
        make_state=quantile_state(None, QUANTILE_METHODS),
        weighted_check=_weighted_method,
        multi_pass=True,
        memory_note=MEMORY_NOTE,
        aliases=("qae",),
        follows="NumPy (weighted: scikit-learn)",
        reference="np.quantile(a, q, method='linear'); weighted: sklearn "
        "_weighted_percentile(average=True)",
    ),
)


# -- Python API -------------------------------------------------------------------------------


def _errors_quantile(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    q: float,
    method: str,
    sample_weight: ArrayLike | None,
    multioutput: Multioutput,
) -> Result:
    y, p, w = check_reg_targets(y_true, y_pred, sample_weight, multioutput)
    errors = np.ascontiguousarray(absolute_error(p, y).T)
    try:
        cols = quantiles.exact_quantiles(errors, [q], method, weights=w)[:, 0]
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    return combine(cols, multioutput)


def median_absolute_error(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    multioutput: Multioutput = "uniform_average",
    sample_weight: ArrayLike | None = None,
) -> Result:
    """Median of ``|p − y|`` per output, then averaged (scikit-learn).

    Unweighted it is ``np.median``; weighted, scikit-learn's weighted median
    (``_weighted_percentile(..., average=True)``: where half the weight falls exactly on a
    value, the mean of it and the next value with positive weight).

    >>> float(median_absolute_error([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0]))
    0.5
    >>> float(median_absolute_error([0.0] * 4, [1.0, 2.0, 3.0, 4.0], sample_weight=[1, 1, 0, 1]))
    2.0
    """
    method = MEDIAN_METHODS[sample_weight is not None]
    return _errors_quantile(y_true, y_pred, 0.5, method, sample_weight, multioutput)


def quantile_absolute_error(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    q: float = 0.9,
    sample_weight: ArrayLike | None = None,
    multioutput: Multioutput = "uniform_average",
    method: str | None = None,
) -> Result:
    """The ``q``-quantile of ``|p − y|`` per output, then averaged.

    ``method`` is NumPy's ``np.quantile`` method (default ``'linear'``) unweighted; with
    ``sample_weight`` it is ``'averaged_inverted_cdf'`` (default: scikit-learn's
    ``_weighted_percentile(a, w, 100·q, average=True)``) or ``'inverted_cdf'`` (NumPy's
    ``np.quantile(a, q, weights=w, method='inverted_cdf')``).

    >>> float(quantile_absolute_error([0.0] * 5, [1.0, 2.0, 3.0, 4.0, 5.0], q=0.9))
    4.6
    """
    if method is None:
        method = QUANTILE_METHODS[sample_weight is not None]
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q!r}")
    return _errors_quantile(y_true, y_pred, q, method, sample_weight, multioutput)


if not TYPE_CHECKING:
    quantiles = module_on_first_use("losscli.stats.quantiles")  # loaded by a call, not --help
