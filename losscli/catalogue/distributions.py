"""Likelihood and deviance losses: Gaussian NLL, Poisson, and the Tweedie family of deviances.

Kernels, domain checks, registry entries and the Python API side by side."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from losscli.catalogue.api import (
    as_float64,
    check_reg_targets,
    check_same_shape,
    reduce,
    single_output,
)
from losscli.catalogue.arrays import scratch_buffer
from losscli.catalogue.regression import squared_error
from losscli.catalogue.spec import (
    EPS_PARAM,
    PRED,
    TARGET,
    DomainCheck,
    LossSpec,
    Param,
    Params,
    Role,
    check,
    non_negative,
    np,
    pair,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from losscli.catalogue.api import Reduction, Result
    from losscli.catalogue.spec import Inputs
    from losscli.catalogue.workspace import Workspace

    Array = NDArray[np.float64]
    Mask = NDArray[np.bool_]

#: The Python API functions of this family (re-exported by :mod:`losscli.losses`).
__all__ = [
    "gaussian_nll_loss",
    "mean_gamma_deviance",
    "mean_poisson_deviance",
    "mean_tweedie_deviance",
    "poisson_loss",
    "poisson_nll_loss",
]


# -- kernels ----------------------------------------------------------------------------------


#: Keras ``backend.epsilon()``, added to the predicted rate inside the Poisson log.
POISSON_EPS = 1e-7


_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def gaussian_nll(
    inputs: Array,
    targets: Array,
    vars: Array,
    *,
    full: bool = False,
    eps: float = 1e-6,
    out: Array | None = None,
    scratch: Array | None = None,
) -> Array:
    """Gaussian NLL (MLX): ``0.5·(log v + e²/v) [+ 0.5·log 2π]`` with ``v = max(vars, eps)``."""
    v = np.maximum(vars, eps, out=scratch_buffer(scratch, inputs, targets, vars))
    out = squared_error(targets, inputs, out=scratch_buffer(out, inputs, targets, vars))
    np.divide(out, v, out=out)
    np.log(v, out=v)
    np.add(v, out, out=out)
    np.multiply(out, 0.5, out=out)
    if full:
        np.add(out, _HALF_LOG_2PI, out=out)
    return out


def poisson(
    pred: Array,
    target: Array,
    eps: float = POISSON_EPS,
    *,
    out: Array | None = None,
) -> Array:
    """Keras ``poisson`` term: ``p − y·log(p + eps)``, eps 1e-7 (Keras ``backend.epsilon()``);
    PyTorch's ``poisson_nll_loss(log_input=False)`` adds 1e-8."""
    out = np.add(pred, eps, out=scratch_buffer(out, pred, target))
    np.log(out, out=out)
    np.multiply(out, target, out=out)
    return np.subtract(pred, out, out=out)


def tweedie_deviance(
    pred: Array,
    target: Array,
    power: float = 0.0,
    *,
    out: Array | None = None,
    scratch: Array | None = None,
) -> Array:
    """Unit Tweedie deviance (scikit-learn ``_mean_tweedie_deviance``, same evaluation order):

    - ``power = 0``: ``(y − p)²``
    - ``power = 1``: ``2·(y·log(y/p) − y + p)`` with ``0·log 0 = 0`` (Poisson)
    - ``power = 2``: ``2·(log(p/y) + y/p − 1)`` (gamma)
    - otherwise: ``2·(y₊^(2−q)/((1−q)(2−q)) − y·p^(1−q)/(1−q) + p^(2−q)/(2−q))`` with
      ``y₊ = max(y, 0)`` for ``q < 0`` (else ``y``). Powers in (0, 1) are undefined.
    """
    q = float(power)
    if 0 < q < 1:
        raise ValueError(f"Tweedie power must be <= 0 or >= 1, got {power}.")
    if q == 0:
        return squared_error(pred, target, out=out)
    if q == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.divide(target, pred, out=out)
            np.log(out, out=out)
            np.multiply(out, target, out=out)
        np.copyto(out, 0.0, where=np.equal(target, 0.0))  # xlogy: 0·log 0 = 0
        np.subtract(out, target, out=out)
        np.add(out, pred, out=out)
        return np.multiply(out, 2.0, out=out)
    s = scratch_buffer(scratch, pred, target)
    if q == 2:
        out = np.divide(pred, target, out=out)
        np.log(out, out=out)
        np.divide(target, pred, out=s)
        np.add(out, s, out=out)
        np.subtract(out, 1.0, out=out)
        return np.multiply(out, 2.0, out=out)
    out = scratch_buffer(out, pred, target)
    np.power(np.maximum(target, 0.0, out=out) if q < 0 else target, 2.0 - q, out=out)
    np.divide(out, (1.0 - q) * (2.0 - q), out=out)
    np.power(pred, 1.0 - q, out=s)
    np.multiply(target, s, out=s)
    np.divide(s, 1.0 - q, out=s)
    np.subtract(out, s, out=out)
    np.power(pred, 2.0 - q, out=s)
    np.divide(s, 2.0 - q, out=s)
    np.add(out, s, out=out)
    return np.multiply(out, 2.0, out=out)


def poisson_deviance(
    pred: Array, target: Array, *, out: Array | None = None, scratch: Array | None = None
) -> Array:
    """Unit Poisson deviance: ``2·(y·log(y/p) − y + p)`` (Tweedie power 1)."""
    return tweedie_deviance(pred, target, 1.0, out=out, scratch=scratch)


def gamma_deviance(
    pred: Array, target: Array, *, out: Array | None = None, scratch: Array | None = None
) -> Array:
    """Unit gamma deviance: ``2·(log(p/y) + y/p − 1)`` (Tweedie power 2)."""
    return tweedie_deviance(pred, target, 2.0, out=out, scratch=scratch)


def tweedie_pred_violations(pred: Array, power: float = 0.0) -> Mask:
    """Tweedie deviance predictions (scikit-learn): any real for power 0, else must be > 0."""
    if power == 0:
        return np.zeros(np.shape(pred), dtype=np.bool_)
    return np.less_equal(pred, 0.0)


def tweedie_target_violations(target: Array, power: float = 0.0) -> Mask:
    """Tweedie deviance targets (scikit-learn): any real for power ≤ 0, ``≥ 0`` for
    1 ≤ power < 2 (Poisson, compound Poisson), ``> 0`` for power ≥ 2 (gamma, inverse Gaussian)."""
    if power <= 0:
        return np.zeros(np.shape(target), dtype=np.bool_)
    if power < 2:
        return np.less(target, 0.0)
    return np.less_equal(target, 0.0)


def variance_violations(vars: Array) -> Mask:
    """Gaussian NLL variances must be ≥ 0 (MLX clamps small ones to ``eps``, not negative ones)."""
    return np.less(vars, 0.0)


def poisson_pred_violations(pred: Array, eps: float = POISSON_EPS) -> Mask:
    """Keras Poisson needs ``p + eps > 0`` for its logarithm to be finite."""
    return np.less_equal(np.add(pred, eps), 0.0)


def poisson_nll(
    inputs: Array,
    targets: Array,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    out: Array | None = None,
    scratch: Array | None = None,
) -> Array:
    """PyTorch ``poisson_nll_loss``: ``exp(x) − y·x`` (``log_input``, x a log rate) or
    ``x − y·log(x + eps)`` (x a rate); ``full`` adds Stirling's approximation of ``log y!``,
    ``y·log y − y + 0.5·log(2π·y)``, where ``y > 1`` (PyTorch masks ``y ≤ 1`` to 0)."""
    s = scratch_buffer(scratch, inputs, targets)
    if log_input:
        out = np.exp(inputs, out=scratch_buffer(out, inputs, targets))
        np.multiply(targets, inputs, out=s)
        np.subtract(out, s, out=out)
    else:
        out = poisson(inputs, targets, eps, out=out)
    if full:
        y = np.maximum(targets, 1.0, out=s)  # log 1 stays finite; masked below
        stirling = np.multiply(y, np.log(y), out=np.empty_like(y))
        np.subtract(stirling, y, out=stirling)
        np.multiply(y, 2 * math.pi, out=y)
        np.log(y, out=y)
        np.multiply(y, 0.5, out=y)
        np.add(stirling, y, out=stirling)
        np.copyto(stirling, 0.0, where=np.less_equal(targets, 1.0))
        np.add(out, stirling, out=out)
    return out


def poisson_nll_rate_violations(inputs: Array, log_input: bool, eps: float) -> Mask:
    """With rates (``log_input`` False) PyTorch needs ``x + eps > 0`` for ``log``."""
    if log_input:
        return np.zeros(np.shape(inputs), dtype=np.bool_)
    return np.less_equal(np.add(inputs, eps), 0.0)


# -- registry entries -------------------------------------------------------------------------


def _gaussian_nll(inputs: Inputs, params: Params, ws: Workspace) -> Array:

    pred = inputs["pred"]
    return gaussian_nll(
        pred,
        inputs["target"],
        inputs["var"],
        full=params["full"],
        eps=params["eps"],
        out=ws.get("out", pred.shape),
        scratch=ws.get("scratch", pred.shape),
    )


def _tweedie_checks(power_param: str | None, power: float = 0.0) -> tuple[DomainCheck, ...]:
    def pred_check(inputs: Inputs, params: Params) -> NDArray[np.bool_]:

        p = params[power_param] if power_param else power
        mask: NDArray[np.bool_] = tweedie_pred_violations(inputs["pred"], p)
        return mask

    def target_check(inputs: Inputs, params: Params) -> NDArray[np.bool_]:

        p = params[power_param] if power_param else power
        mask: NDArray[np.bool_] = tweedie_target_violations(inputs["target"], p)
        return mask

    return (
        DomainCheck("pred", pred_check, "this deviance needs predictions > 0"),
        DomainCheck(
            "target", target_check, "this deviance needs targets ≥ 0 (power < 2) or > 0 (power ≥ 2)"
        ),
    )


def _poisson_nll(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    pred = inputs["pred"]
    return poisson_nll(
        pred,
        inputs["target"],
        log_input=params["log_input"],
        full=params["full"],
        eps=params["eps"],
        out=ws.get("out", pred.shape),
        scratch=ws.get("scratch", pred.shape),
    )


def _tweedie_power(x: float) -> bool:
    return math.isfinite(x) and (x <= 0 or x >= 1)


VAR = Role(
    "var",
    "--var",
    "variance column(s), one per prediction column",
    auto_names=("var", "vars", "variance"),
)


LOSSES: tuple[LossSpec, ...] = (
    LossSpec(
        name="gaussian_nll",
        summary="Gaussian negative log-likelihood with predicted variances",
        formula="0.5·(log(max(v, eps)) + e²/max(v, eps)) [+ 0.5·log 2π with --full]",
        api="gaussian_nll_loss",
        roles=(PRED, TARGET, VAR),
        params=(
            Param("full", False, "add the constant 0.5·log(2π)", type=bool),
            EPS_PARAM,
        ),
        elementwise=_gaussian_nll,
        checks=(check(variance_violations, "var", "variances must be ≥ 0"),),
        aliases=("gaussian_nll_loss",),
        reference="mlx.nn.losses.gaussian_nll_loss, torch.nn.GaussianNLLLoss",
    ),
    LossSpec(
        name="poisson",
        summary="Poisson loss on a predicted rate (Keras)",
        formula="p − y·log(p + 1e-7)",
        api="poisson_loss",
        params=(
            Param(
                "eps",
                POISSON_EPS,
                "added to the rate inside the log (Keras 1e-7; PyTorch uses 1e-8)",
                valid=non_negative,
                valid_text="≥ 0",
            ),
        ),
        elementwise=pair(poisson, "eps", scratch=0),
        checks=(check(poisson_pred_violations, "pred", "Poisson loss needs rates > -eps", "eps"),),
        aliases=("poisson_loss",),
        reference="keras poisson",
    ),
    LossSpec(
        name="poisson_nll",
        summary="Poisson negative log-likelihood on log rates (default) or rates (PyTorch)",
        formula="exp(x) − y·x; --rate-input: x − y·log(x + eps); --full adds y·log y − y + 0.5·log(2πy) where y > 1",
        api="poisson_nll_loss",
        params=(
            Param(
                "log_input",
                True,
                "predictions are log rates (--log-input) or rates (--rate-input)",
                type=bool,
                cli_flags=("--log-input", "--rate-input"),
            ),
            Param("full", False, "add Stirling's approximation of log(y!)", type=bool),
            Param(
                "eps",
                1e-8,
                "added to the rate inside the log with --rate-input",
                valid=non_negative,
                valid_text="≥ 0",
            ),
        ),
        elementwise=_poisson_nll,
        checks=(
            check(
                poisson_nll_rate_violations,
                "pred",
                "rates must be > -eps",
                "log_input",
                "eps",
            ),
        ),
        aliases=("poisson_nll_loss",),
        reference="torch.nn.PoissonNLLLoss",
    ),
    LossSpec(
        name="poisson_deviance",
        summary="mean Poisson deviance",
        formula="2·(y·log(y/p) − y + p)",
        api="mean_poisson_deviance",
        elementwise=pair(poisson_deviance),
        checks=_tweedie_checks(None, 1.0),
        aliases=("mean_poisson_deviance",),
        reference="sklearn mean_poisson_deviance",
    ),
    LossSpec(
        name="gamma_deviance",
        summary="mean Gamma deviance",
        formula="2·(log(p/y) + y/p − 1)",
        api="mean_gamma_deviance",
        elementwise=pair(gamma_deviance),
        checks=_tweedie_checks(None, 2.0),
        aliases=("mean_gamma_deviance",),
        reference="sklearn mean_gamma_deviance",
    ),
    LossSpec(
        name="tweedie_deviance",
        summary="mean Tweedie deviance with power p",
        formula="scikit-learn's unit deviance for power p (0: squared error, 1: Poisson, 2: Gamma)",
        api="mean_tweedie_deviance",
        params=(
            Param("power", 0.0, "Tweedie power", valid=_tweedie_power, valid_text="≤ 0 or ≥ 1"),
        ),
        elementwise=pair(tweedie_deviance, "power"),
        checks=_tweedie_checks("power"),
        aliases=("mean_tweedie_deviance",),
        reference="sklearn mean_tweedie_deviance",
    ),
)


# -- Python API -------------------------------------------------------------------------------


def gaussian_nll_loss(
    inputs: ArrayLike,
    targets: ArrayLike,
    vars: ArrayLike,
    full: bool = False,
    eps: float = 1e-6,
    reduction: Reduction = "mean",
) -> Result:
    """Gaussian NLL: ``0.5·(log v + (x − y)²/v)`` with ``v = max(vars, eps)``, plus
    ``0.5·log 2π`` if ``full``.

    >>> float(gaussian_nll_loss([1.0], [3.0], [1.0]))
    2.0
    """
    x, y, v = as_float64(inputs), as_float64(targets), as_float64(vars)
    check_same_shape(x, y, "inputs", "targets")
    check_same_shape(x, v, "inputs", "vars")
    return reduce(gaussian_nll(x, y, v, full=full, eps=eps), reduction)


def poisson_loss(y_true: ArrayLike, y_pred: ArrayLike) -> Result:
    """Keras ``poisson``: mean over the last axis of ``p − y·log(p + 1e-7)``.

    >>> round(float(poisson_loss([1.0, 0.0], [1.0, 2.0])), 6)
    1.5
    """
    y, p = as_float64(y_true), as_float64(y_pred)
    loss = np.mean(poisson(p, y), axis=-1)
    return np.float64(loss) if np.ndim(loss) == 0 else np.asarray(loss, dtype=np.float64)


def mean_tweedie_deviance(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    power: float = 0,
) -> np.float64:
    """Mean Tweedie deviance with ``power`` ≤ 0 or ≥ 1 (0 normal, 1 Poisson, 2 gamma).

    Domains (scikit-learn): power < 0 needs p > 0; 1 ≤ power < 2 needs y ≥ 0, p > 0;
    power ≥ 2 needs y > 0, p > 0. Violations raise ``ValueError``.

    >>> round(float(mean_tweedie_deviance([2, 0, 1, 4], [0.5, 0.5, 2.0, 2.0], power=1)), 4)
    1.426
    """
    if 0 < power < 1:
        raise ValueError(f"power must be <= 0 or >= 1, got {power}.")
    y, p, w = check_reg_targets(y_true, y_pred, sample_weight, None)
    single_output(y, "mean_tweedie_deviance")
    message = f"Mean Tweedie deviance error with power={power} can only be used on "
    if tweedie_pred_violations(p, power).any() or tweedie_target_violations(y, power).any():
        if power < 0:
            raise ValueError(message + "strictly positive y_pred.")
        if power < 2:
            raise ValueError(message + "non-negative y and strictly positive y_pred.")
        raise ValueError(message + "strictly positive y and y_pred.")
    dev = tweedie_deviance(p, y, power)
    return np.float64(np.average(dev, weights=None if w is None else w[:, None]))


def mean_poisson_deviance(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> np.float64:
    """Mean Poisson deviance ``2·(y·log(y/p) − y + p)`` (Tweedie power 1).

    >>> round(float(mean_poisson_deviance([2, 0, 1, 4], [0.5, 0.5, 2.0, 2.0])), 4)
    1.426
    """
    return mean_tweedie_deviance(y_true, y_pred, sample_weight=sample_weight, power=1)


def mean_gamma_deviance(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> np.float64:
    """Mean gamma deviance ``2·(log(p/y) + y/p − 1)`` (Tweedie power 2).

    >>> round(float(mean_gamma_deviance([2, 0.5, 1, 4], [0.5, 0.5, 2.0, 2.0])), 4)
    1.0569
    """
    return mean_tweedie_deviance(y_true, y_pred, sample_weight=sample_weight, power=2)


def poisson_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: Reduction = "mean",
) -> Result:
    """PyTorch ``poisson_nll_loss``: ``exp(x) − y·x`` (log rates) or ``x − y·log(x + eps)``
    (rates), plus Stirling's ``y·log y − y + 0.5·log(2πy)`` where ``y > 1`` with ``full``.

    >>> round(float(poisson_nll_loss([0.0, 1.0], [1.0, 2.0])), 6)
    0.859141
    """
    x, y = as_float64(input), as_float64(target)
    check_same_shape(x, y, "input", "target")
    return reduce(poisson_nll(x, y, log_input=log_input, full=full, eps=eps), reduction)
