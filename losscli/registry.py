"""The loss registry: the one place that describes each loss.

An entry names the loss and its aliases, its input roles (which columns it reads), its
parameters with defaults and valid ranges, its elementwise kernel (or the streaming statistic
it reduces through) and which reductions it supports. The CLI commands and options,
``losscli list``, the Python API's documentation and the README's loss table come from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy stays out of `losscli --help`: kernels are imported when first run
    import numpy as np
    from numpy.typing import NDArray

    from losscli.stats import LossState
    from losscli.workspace import Workspace

    Array = NDArray[np.float64]
    Inputs = Mapping[str, Array]
Params = Mapping[str, Any]


# -- input roles ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Role:
    """A kind of input column a loss reads (predictions, targets, variances, ...)."""

    name: str
    flag: str
    help: str
    short: str | None = None
    auto_names: tuple[str, ...] = ()
    multi: bool = True  # several columns allowed (outputs / classes, the last axis)

    @property
    def label(self) -> str:
        return self.name


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
@dataclass(frozen=True)
class Param:
    """A numeric or boolean loss parameter with its default and valid range."""

    name: str
    default: Any
    help: str
    type: type = float
    valid: Callable[[Any], bool] | None = None
    valid_text: str = ""

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


@dataclass(frozen=True)
class LossSpec:
    """Everything losscli knows about one loss."""

    name: str
    summary: str
    formula: str
    api: str
    roles: tuple[Role, ...] = (PRED, TARGET)
    params: tuple[Param, ...] = ()
    elementwise: ElementwiseKernel | None = None
    make_state: Callable[[int, Params], "LossState"] | None = None
    aliases: tuple[str, ...] = ()
    reductions: tuple[str, ...] = ("none", "mean", "sum")
    higher_is_better: bool = False
    streams_exactly: bool = True
    memory_note: str = "bounded by the chunk size"
    reference: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def new_state(self, outputs: int, params: Params) -> LossState:
        if self.make_state is not None:
            return self.make_state(outputs, params)
        from losscli.stats import MeanState

        return MeanState(outputs)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


def _mse(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    from losscli import kernels

    pred = inputs["pred"]
    return kernels.squared_error(pred, inputs["target"], out=ws.get("out", pred.shape))


def _huber(inputs: Inputs, params: Params, ws: Workspace) -> Array:
    from losscli import kernels

    pred = inputs["pred"]
    return kernels.huber(
        pred,
        inputs["target"],
        params["delta"],
        out=ws.get("out", pred.shape),
        scratch=ws.get("scratch", pred.shape),
    )


LOSSES: tuple[LossSpec, ...] = (
    LossSpec(
        name="mse",
        summary="mean squared error",
        formula="e²",
        api="mse_loss",
        elementwise=_mse,
        aliases=("mse_loss", "mean_squared_error", "l2"),
        reference="mlx.nn.losses.mse_loss, torch.nn.MSELoss, keras mean_squared_error",
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
        elementwise=_huber,
        aliases=("huber_loss",),
        reference="mlx.nn.losses.huber_loss, torch.nn.HuberLoss, keras Huber",
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
