"""The loss registry: the one place that describes each loss.

An entry names the loss and its aliases, its input roles (which columns it reads), its
parameters with defaults and valid ranges, its elementwise kernel (or the streaming statistic
it reduces through) and which reductions it supports. The CLI commands and options,
``losscli list``, the Python API's documentation and the README's loss table come from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # numpy stays out of `losscli --help`: kernels are imported when first run
    import numpy as np
    from numpy.typing import NDArray

    from losscli.stats import LossState
    from losscli.workspace import Workspace

    Array = NDArray[np.float64]
    Inputs = Mapping[str, Array]
Params = Mapping[str, Any]


# -- input roles ------------------------------------------------------------------------------
class Role(NamedTuple):
    """A kind of input column a loss reads (predictions, targets, variances, ...)."""

    name: str
    flag: str
    help: str
    short: str | None = None
    auto_names: tuple[str, ...] = ()
    multi: bool = True  # several columns allowed (outputs / classes, the last axis)


PRED = Role(
    "pred",
    "--pred",
    "prediction column(s): a name, a comma list or a glob such as 'p*'",
    short="-p",
    auto_names=("pred", "preds", "prediction", "predictions", "y_pred", "yhat", "y_hat", "output"),
)
TARGET = Role(
    "target",
    "--target",
    "target column(s), as many as the prediction columns",
    short="-t",
    auto_names=("target", "targets", "y_true", "label", "labels", "y", "actual", "truth"),
)


# -- parameters -------------------------------------------------------------------------------
class Param(NamedTuple):
    """A numeric or boolean loss parameter with its default and valid range."""

    name: str
    default: Any
    help: str
    type: type = float
    valid: Callable[[Any], bool] | None = None
    valid_text: str = ""
    cli_flags: tuple[str, str] | None = None  # on/off flag names of a boolean parameter

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> str | None:
        """None if ``value`` is allowed, else the sentence stating the valid range."""
        if self.valid is None or self.valid(value):
            return None
        return f"{self.flag} must be {self.valid_text} (got {value!r})"


def positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


# -- loss specs -------------------------------------------------------------------------------
ElementwiseKernel = Callable[["Inputs", Params, "Workspace"], "Array"]
MaskFunction = Callable[["Inputs", Params], "NDArray[np.bool_]"]


class DomainCheck(NamedTuple):
    """A rule on one role's values: ``violations`` marks bad elements; ``message`` says why."""

    role: str
    violations: MaskFunction
    message: str


class LossSpec(NamedTuple):
    """Everything losscli knows about one loss."""

    name: str
    summary: str
    formula: str
    api: str
    roles: tuple[Role, ...] = (PRED, TARGET)
    params: tuple[Param, ...] = ()
    elementwise: ElementwiseKernel | None = None
    make_state: Callable[[int, Params], LossState] | None = None
    aliases: tuple[str, ...] = ()
    reductions: tuple[str, ...] = ("none", "mean", "sum")
    pers: tuple[str, ...] = ("all", "row", "output")
    reduces_axis: bool = False  # the column list is a class/vector axis reduced per row
    paired: bool = True  # every role lists as many columns as the first
    weighted: bool = True
    checks: tuple[DomainCheck, ...] = ()
    higher_is_better: bool = False
    streams_exactly: bool = True
    memory_note: str = "bounded by the chunk size"
    reference: str = ""
    notes: str = ""

    def new_state(self, outputs: int, params: Params) -> LossState:
        if self.make_state is not None:
            return self.make_state(outputs, params)
        from losscli.stats import MeanState

        return MeanState(outputs)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


# -- kernel adapters: role arrays of shape (k, n) in, (k, n) or (1, n) losses out ---------------
def _pair(kernel_name: str, *param_names: str, scratch: int = 1) -> ElementwiseKernel:
    """Adapter for ``kernel(pred, target, **params, out=, scratch=, scratch2=)`` with
    ``scratch`` extra buffers (0, 1 or 2)."""

    def run(inputs: Inputs, params: Params, ws: Workspace) -> Array:
        from losscli import kernels

        kernel = getattr(kernels, kernel_name)
        pred = inputs["pred"]
        kwargs: dict[str, Any] = {name: params[name] for name in param_names}
        for buffer in ("scratch", "scratch2")[:scratch]:
            kwargs[buffer] = ws.get(buffer, pred.shape)
        result: Array = kernel(pred, inputs["target"], **kwargs, out=ws.get("out", pred.shape))
        return result

    run.__name__ = kernel_name
    return run


def _row(values: Array) -> Array:
    return values.reshape(1, -1)


def _class_targets(logits: Array, targets: Array) -> tuple[Array, Array | None]:
    """Class-index targets as a 1-D array (NaN rows replaced by 0 and returned as a mask), or
    probability targets unchanged."""
    import numpy as np

    if targets.shape[0] == 1 and logits.shape[0] > 1:
        index = targets[0]
        missing = np.isnan(index)
        if missing.any():
            return np.where(missing, 0.0, index), missing
        return index, None
    return targets, None


def _with_missing(loss: Array, missing: Array | None) -> Array:
    if missing is not None:
        loss = loss.copy()
        loss[missing] = float("nan")
    return _row(loss)


def _cross_entropy(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    from losscli import kernels

    targets, missing = _class_targets(inputs["pred"], inputs["target"])
    loss = kernels.cross_entropy(
        inputs["pred"], targets, axis=0, label_smoothing=params["label_smoothing"]
    )
    return _with_missing(loss, missing)


def _nll(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    from losscli import kernels

    targets, missing = _class_targets(inputs["pred"], inputs["target"])
    return _with_missing(kernels.nll(inputs["pred"], targets, axis=0), missing)


def _kl_div(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    from losscli import kernels

    return _row(kernels.kl_div(inputs["pred"], inputs["target"], axis=0))


def _bce(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    from losscli import kernels

    pred = inputs["pred"]
    return kernels.binary_cross_entropy(
        pred,
        inputs["target"],
        with_logits=params["with_logits"],
        out=ws.get("out", pred.shape),
        scratch=ws.get("scratch", pred.shape),
    )


def _gaussian_nll(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    from losscli import kernels

    pred = inputs["pred"]
    return kernels.gaussian_nll(
        pred,
        inputs["target"],
        inputs["var"],
        full=params["full"],
        eps=params["eps"],
        out=ws.get("out", pred.shape),
        scratch=ws.get("scratch", pred.shape),
    )


def _margin_ranking(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    from losscli import kernels

    x1 = inputs["input1"]
    return kernels.margin_ranking(
        x1, inputs["input2"], inputs["target"], params["margin"], out=ws.get("out", x1.shape)
    )


def _cosine(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    from losscli import kernels

    return _row(
        kernels.cosine_similarity(inputs["pred"], inputs["target"], axis=0, eps=params["eps"])
    )


def _triplet(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    from losscli import kernels

    return _row(
        kernels.triplet(
            inputs["anchor"],
            inputs["positive"],
            inputs["negative"],
            axis=0,
            p=params["p"],
            margin=params["margin"],
            eps=params["eps"],
        )
    )


# -- domain checks -------------------------------------------------------------------------------
def _check(kernel_check: str, role: str, message: str, *param_names: str) -> DomainCheck:
    def violations(inputs: Inputs, params: Params) -> NDArray[np.bool_]:
        from losscli import kernels

        fn = getattr(kernels, kernel_check)
        mask: NDArray[np.bool_] = fn(inputs[role], *(params[name] for name in param_names))
        return mask

    return DomainCheck(role, violations, message)


def _class_index_check(inputs: Inputs, params: Params) -> NDArray[np.bool_]:
    import numpy as np

    from losscli import kernels

    logits, targets = inputs["pred"], inputs["target"]
    if targets.shape[0] == 1 and logits.shape[0] > 1:
        mask: NDArray[np.bool_] = kernels.class_index_violations(targets, logits.shape[0])
        return mask
    return np.zeros(targets.shape, dtype=bool)


def _probability_check(inputs: Inputs, params: Params) -> NDArray[np.bool_]:
    import numpy as np

    from losscli import kernels

    if params["with_logits"]:
        return np.zeros(inputs["pred"].shape, dtype=bool)
    mask: NDArray[np.bool_] = kernels.probability_violations(inputs["pred"])
    return mask


CLASS_INDEX = DomainCheck(
    "target", _class_index_check, "a class index must be a whole number in [0, number of classes)"
)
MSLE_CHECKS = (
    _check("msle_violations", "pred", "mean squared log error needs values > -1"),
    _check("msle_violations", "target", "mean squared log error needs values > -1"),
)


def _tweedie_checks(power_param: str | None, power: float = 0.0) -> tuple[DomainCheck, ...]:
    def pred_check(inputs: Inputs, params: Params) -> NDArray[np.bool_]:
        from losscli import kernels

        p = params[power_param] if power_param else power
        mask: NDArray[np.bool_] = kernels.tweedie_pred_violations(inputs["pred"], p)
        return mask

    def target_check(inputs: Inputs, params: Params) -> NDArray[np.bool_]:
        from losscli import kernels

        p = params[power_param] if power_param else power
        mask: NDArray[np.bool_] = kernels.tweedie_target_violations(inputs["target"], p)
        return mask

    return (
        DomainCheck("pred", pred_check, "this deviance needs predictions > 0"),
        DomainCheck(
            "target", target_check, "this deviance needs targets ≥ 0 (power < 2) or > 0 (power ≥ 2)"
        ),
    )


# -- roles of the catalogue ----------------------------------------------------------------------
VAR = Role(
    "var",
    "--var",
    "variance column(s), one per prediction column",
    auto_names=("var", "vars", "variance"),
)
LOGITS = Role(
    "pred",
    "--pred",
    "logit / log-probability columns, one per class (a comma list or a glob such as 'logit_*')",
    short="-p",
    auto_names=PRED.auto_names,
)
LABELS = Role(
    "target",
    "--target",
    "the class-index column, or one probability column per class",
    short="-t",
    auto_names=TARGET.auto_names,
)
INPUT1 = Role("input1", "--input1", "first score column(s)", auto_names=("input1", "x1", "score1"))
INPUT2 = Role("input2", "--input2", "second score column(s)", auto_names=("input2", "x2", "score2"))
RANK_TARGET = Role(
    "target",
    "--target",
    "±1 column(s): 1 if input1 should rank higher",
    short="-t",
    auto_names=TARGET.auto_names,
)
ANCHOR = Role("anchor", "--anchor", "anchor vector columns", auto_names=("anchor", "anchors"))
POSITIVE = Role(
    "positive", "--positive", "positive vector columns", auto_names=("positive", "positives")
)
NEGATIVE = Role(
    "negative", "--negative", "negative vector columns", auto_names=("negative", "negatives")
)


def _float_in(low: float, high: float, *, low_open: bool, high_open: bool) -> Callable[[Any], bool]:
    def ok(x: float) -> bool:
        if not math.isfinite(x):
            return False
        above = x > low if low_open else x >= low
        below = x < high if high_open else x <= high
        return above and below

    return ok


def _finite(x: float) -> bool:
    return math.isfinite(x)


def _non_negative(x: float) -> bool:
    return math.isfinite(x) and x >= 0


def _tweedie_power(x: float) -> bool:
    return math.isfinite(x) and (x <= 0 or x >= 1)


def _states(kind: str) -> Callable[[int, Params], LossState]:
    def make(outputs: int, params: Params) -> LossState:
        from losscli import stats

        state: LossState = getattr(stats, kind)(outputs)
        return state

    return make


EPS_PARAM = Param(
    "eps", 1e-6, "small constant for numerical stability", valid=positive, valid_text="> 0"
)
METRIC = ("mean",)
METRIC_PERS = ("all", "output")


LOSSES: tuple[LossSpec, ...] = (
    LossSpec(
        name="mse",
        summary="mean squared error",
        formula="e²",
        api="mse_loss",
        elementwise=_pair("squared_error", scratch=0),
        aliases=("mse_loss", "mean_squared_error", "l2"),
        reference="mlx.nn.losses.mse_loss, torch.nn.MSELoss, keras mean_squared_error",
    ),
    LossSpec(
        name="l1",
        summary="mean absolute error (L1)",
        formula="a",
        api="l1_loss",
        elementwise=_pair("absolute_error", scratch=0),
        aliases=("mae", "l1_loss", "mean_absolute_error"),
        reference="mlx.nn.losses.l1_loss, torch.nn.L1Loss, sklearn mean_absolute_error",
    ),
    LossSpec(
        name="huber",
        summary="Huber loss: quadratic below δ, linear above",
        formula="0.5·a² if a ≤ δ else δ·(a − δ/2)",
        api="huber_loss",
        params=(
            Param(
                "delta",
                1.0,
                "threshold δ between the quadratic and the linear part",
                valid=positive,
                valid_text="a finite number > 0",
            ),
        ),
        elementwise=_pair("huber", "delta", scratch=2),
        aliases=("huber_loss",),
        reference="mlx.nn.losses.huber_loss, torch.nn.HuberLoss, keras Huber",
    ),
    LossSpec(
        name="smooth_l1",
        summary="smooth L1 loss (Huber(β)/β)",
        formula="0.5·a²/β if a < β else a − β/2",
        api="smooth_l1_loss",
        params=(
            Param(
                "beta", 1.0, "threshold β; 0 means plain L1", valid=_non_negative, valid_text="≥ 0"
            ),
        ),
        elementwise=_pair("smooth_l1", "beta", scratch=2),
        aliases=("smooth_l1_loss",),
        reference="mlx.nn.losses.smooth_l1_loss, torch.nn.SmoothL1Loss",
    ),
    LossSpec(
        name="log_cosh",
        summary="log-cosh loss",
        formula="log(cosh(e)), computed without cancellation for tiny e",
        api="log_cosh_loss",
        elementwise=_pair("log_cosh"),
        aliases=("log_cosh_loss", "logcosh"),
        reference="mlx.nn.losses.log_cosh_loss, keras log_cosh",
    ),
    LossSpec(
        name="binary_cross_entropy",
        summary="binary cross-entropy on logits (default) or probabilities",
        formula="logits: max(x,0) − x·y + log1p(exp(−|x|)); probs: −(y·log p + (1−y)·log(1−p)), logs clamped at −100",
        api="binary_cross_entropy",
        params=(
            Param(
                "with_logits",
                True,
                "inputs are logits (--logits) or probabilities (--probs)",
                type=bool,
                cli_flags=("--logits", "--probs"),
            ),
        ),
        elementwise=_bce,
        checks=(DomainCheck("pred", _probability_check, "probabilities must lie in [0, 1]"),),
        # Not "binary_crossentropy"/"log_loss": Keras and scikit-learn take probabilities there.
        aliases=("bce",),
        reference="mlx.nn.losses.binary_cross_entropy, torch BCEWithLogitsLoss / BCELoss",
    ),
    LossSpec(
        name="cross_entropy",
        summary="softmax cross-entropy over class-logit columns",
        formula="logsumexp(z) − (1−ls)·z[y] − ls·mean(z)",
        api="cross_entropy",
        roles=(LOGITS, LABELS),
        params=(
            Param(
                "label_smoothing",
                0.0,
                "label smoothing ls",
                valid=_float_in(0.0, 1.0, low_open=False, high_open=True),
                valid_text="in [0, 1)",
            ),
        ),
        elementwise=_cross_entropy,
        reduces_axis=True,
        paired=False,
        checks=(CLASS_INDEX,),
        # Not Keras' "categorical_crossentropy": it takes probabilities by default, this logits.
        aliases=("ce",),
        reference="mlx.nn.losses.cross_entropy, torch.nn.CrossEntropyLoss",
    ),
    LossSpec(
        name="nll",
        summary="negative log-likelihood over log-probability columns",
        formula="−logp[y]",
        api="nll_loss",
        roles=(LOGITS, LABELS),
        elementwise=_nll,
        reduces_axis=True,
        paired=False,
        checks=(CLASS_INDEX,),
        aliases=("nll_loss",),
        reference="mlx.nn.losses.nll_loss, torch.nn.NLLLoss",
    ),
    LossSpec(
        name="kl_div",
        summary="Kullback-Leibler divergence between log-probability columns",
        formula="Σ_c exp(t_c)·(t_c − x_c)  (both inputs are log probabilities, as in MLX)",
        api="kl_div_loss",
        roles=(
            LOGITS,
            Role(
                "target",
                "--target",
                "target log-probability columns, one per class",
                short="-t",
                auto_names=TARGET.auto_names,
            ),
        ),
        elementwise=_kl_div,
        reduces_axis=True,
        # Not Keras' "kld": it takes probabilities; MLX (and this) log probabilities.
        aliases=("kl_div_loss",),
        reference="mlx.nn.losses.kl_div_loss",
    ),
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
        checks=(_check("variance_violations", "var", "variances must be ≥ 0"),),
        aliases=("gaussian_nll_loss",),
        reference="mlx.nn.losses.gaussian_nll_loss, torch.nn.GaussianNLLLoss",
    ),
    LossSpec(
        name="hinge",
        summary="hinge loss with ±1 labels (used as given)",
        formula="max(0, 1 − y·x)",
        api="hinge_loss",
        elementwise=_pair("hinge", scratch=0),
        aliases=("hinge_loss",),
        reference="mlx.nn.losses.hinge_loss, keras hinge",
    ),
    LossSpec(
        name="margin_ranking",
        summary="margin ranking loss between two score columns",
        formula="max(0, −y·(x1 − x2) + margin)",
        api="margin_ranking_loss",
        roles=(INPUT1, INPUT2, RANK_TARGET),
        params=(Param("margin", 0.0, "margin", valid=_finite, valid_text="a finite number"),),
        elementwise=_margin_ranking,
        aliases=("margin_ranking_loss",),
        reference="mlx.nn.losses.margin_ranking_loss, torch.nn.MarginRankingLoss",
    ),
    LossSpec(
        name="cosine_similarity",
        summary="cosine similarity between prediction and target vectors (+cos, as MLX)",
        formula="x1·x2 / max(‖x1‖·‖x2‖, eps)",
        api="cosine_similarity_loss",
        params=(
            Param("eps", 1e-8, "lower bound of the norm product", valid=positive, valid_text="> 0"),
        ),
        elementwise=_cosine,
        reduces_axis=True,
        aliases=("cosine_similarity_loss", "cosine"),
        higher_is_better=True,
        reference="mlx.nn.losses.cosine_similarity_loss",
    ),
    LossSpec(
        name="triplet",
        summary="triplet margin loss between anchor, positive and negative vectors",
        formula="max(d(a,p) − d(a,n) + margin, 0), d(x,y) = (Σ|x−y|^p + eps)^(1/p)",
        api="triplet_loss",
        roles=(ANCHOR, POSITIVE, NEGATIVE),
        params=(
            Param(
                "p", 2, "norm degree", type=int, valid=lambda x: x >= 1, valid_text="an integer ≥ 1"
            ),
            Param("margin", 1.0, "margin", valid=_finite, valid_text="a finite number"),
            EPS_PARAM,
        ),
        elementwise=_triplet,
        reduces_axis=True,
        aliases=("triplet_loss",),
        reference="mlx.nn.losses.triplet_loss, torch.nn.TripletMarginLoss",
    ),
    LossSpec(
        name="rmse",
        summary="root mean squared error",
        formula="√(Σw·e²/Σw) per output, then the mean over outputs",
        api="root_mean_squared_error",
        elementwise=_pair("squared_error", scratch=0),
        make_state=_states("RootMeanState"),
        reductions=METRIC,
        pers=METRIC_PERS,
        aliases=("root_mean_squared_error",),
        reference="sklearn root_mean_squared_error, keras RootMeanSquaredError",
    ),
    LossSpec(
        name="mape",
        summary="mean absolute percentage error (a fraction, not %)",
        formula="a / max(|y|, 2.2e-16)",
        api="mean_absolute_percentage_error",
        elementwise=_pair("absolute_percentage_error"),
        aliases=("mean_absolute_percentage_error",),
        reference="sklearn mean_absolute_percentage_error",
    ),
    LossSpec(
        name="msle",
        summary="mean squared logarithmic error",
        formula="(log1p(p) − log1p(y))²; values ≤ −1 are an error",
        api="mean_squared_log_error",
        elementwise=_pair("squared_log_error"),
        checks=MSLE_CHECKS,
        aliases=("mean_squared_log_error",),
        reference="sklearn mean_squared_log_error, keras MSLE",
    ),
    LossSpec(
        name="rmsle",
        summary="root mean squared logarithmic error",
        formula="√mean((log1p(p) − log1p(y))²) per output, then the mean over outputs",
        api="root_mean_squared_log_error",
        elementwise=_pair("squared_log_error"),
        make_state=_states("RootMeanState"),
        checks=MSLE_CHECKS,
        reductions=METRIC,
        pers=METRIC_PERS,
        aliases=("root_mean_squared_log_error",),
        reference="sklearn root_mean_squared_log_error",
    ),
    LossSpec(
        name="r2",
        summary="coefficient of determination R² (higher is better)",
        formula="1 − Σw·e² / Σw·(y − ȳ)² per output, then the mean over outputs",
        api="r2_score",
        make_state=_states("R2State"),
        reductions=METRIC,
        pers=METRIC_PERS,
        higher_is_better=True,
        aliases=("r2_score", "r_squared"),
        reference="sklearn r2_score (force_finite=True)",
        notes="streamed exactly with Chan's merge of weighted moments",
    ),
    LossSpec(
        name="explained_variance",
        summary="explained variance score (higher is better)",
        formula="1 − Var(y − p) / Var(y) per output, then the mean over outputs",
        api="explained_variance_score",
        make_state=_states("ExplainedVarianceState"),
        reductions=METRIC,
        pers=METRIC_PERS,
        higher_is_better=True,
        aliases=("explained_variance_score", "ev"),
        reference="sklearn explained_variance_score (force_finite=True)",
    ),
    LossSpec(
        name="max_error",
        summary="largest absolute error",
        formula="max a",
        api="max_error",
        elementwise=_pair("absolute_error", scratch=0),
        make_state=_states("MaxState"),
        reductions=METRIC,
        pers=METRIC_PERS,
        weighted=False,
        aliases=("max_abs_error",),
        reference="sklearn max_error",
    ),
    LossSpec(
        name="pinball",
        summary="pinball (quantile) loss at quantile α",
        formula="α·max(y − p, 0) + (1 − α)·max(p − y, 0)",
        api="mean_pinball_loss",
        params=(
            Param(
                "alpha",
                0.5,
                "the quantile α",
                valid=_float_in(0.0, 1.0, low_open=True, high_open=True),
                valid_text="in (0, 1)",
            ),
        ),
        elementwise=_pair("pinball", "alpha"),
        aliases=("mean_pinball_loss", "quantile"),
        reference="sklearn mean_pinball_loss",
    ),
    LossSpec(
        name="poisson",
        summary="Poisson loss on a predicted rate (Keras)",
        formula="p − y·log(p + 1e-7)",
        api="poisson_loss",
        elementwise=_pair("poisson", scratch=0),
        checks=(_check("poisson_pred_violations", "pred", "Poisson loss needs rates > -1e-7"),),
        aliases=("poisson_loss",),
        reference="keras poisson",
    ),
    LossSpec(
        name="poisson_deviance",
        summary="mean Poisson deviance",
        formula="2·(y·log(y/p) − y + p)",
        api="mean_poisson_deviance",
        elementwise=_pair("poisson_deviance"),
        checks=_tweedie_checks(None, 1.0),
        aliases=("mean_poisson_deviance",),
        reference="sklearn mean_poisson_deviance",
    ),
    LossSpec(
        name="gamma_deviance",
        summary="mean Gamma deviance",
        formula="2·(log(p/y) + y/p − 1)",
        api="mean_gamma_deviance",
        elementwise=_pair("gamma_deviance"),
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
        elementwise=_pair("tweedie_deviance", "power"),
        checks=_tweedie_checks("power"),
        aliases=("mean_tweedie_deviance",),
        reference="sklearn mean_tweedie_deviance",
    ),
    LossSpec(
        name="median_absolute_error",
        summary="median absolute error",
        formula="median a per output, then the mean over outputs",
        api="median_absolute_error",
        elementwise=_pair("absolute_error", scratch=0),
        make_state=_states("MedianState"),
        reductions=METRIC,
        pers=METRIC_PERS,
        weighted=False,
        streams_exactly=False,
        memory_note="not streamable: keeps every absolute error, 8 bytes per row and output",
        aliases=("medae",),
        reference="sklearn median_absolute_error",
    ),
)


def by_name() -> dict[str, LossSpec]:
    """Every canonical name and alias → its spec."""
    table: dict[str, LossSpec] = {}
    for spec in LOSSES:
        table[spec.name] = spec
        for alias in spec.aliases:
            table[alias] = spec
    return table


def lookup(name: str) -> LossSpec | None:
    return by_name().get(name.lower().replace("-", "_")) or by_name().get(name.lower())
