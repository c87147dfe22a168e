"""What a catalogue entry is: input roles, parameters, domain checks and the loss spec.

An entry names the loss and its aliases, its input roles (which columns it reads), its
parameters with defaults and valid ranges, its elementwise kernel (or the streaming statistic
it reduces through) and which reductions it supports. The CLI commands and options,
``losscli list``, the Python API's documentation and the README's loss table come from it.

NumPy is bound lazily (:data:`np`): the catalogue is read by ``losscli --help``, which must not
pay NumPy's import; the first kernel call loads it.
"""

from __future__ import annotations

import builtins
import importlib
import math
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from losscli.catalogue.workspace import Workspace
    from losscli.stats import LossState

    Array = NDArray[np.float64]
    Inputs = Mapping[str, Array]
Params = Mapping[str, Any]


class _ModuleOnFirstUse(ModuleType):
    """A module imported at its first attribute access; afterwards its attributes are copied
    onto this object, so later look-ups cost what a plain module's do."""

    def __init__(self, name: str) -> None:
        super().__init__(name)

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


def module_on_first_use(name: str) -> Any:
    """The module ``name``, imported when one of its attributes is first used."""
    return _ModuleOnFirstUse(name)


if not TYPE_CHECKING:
    np = module_on_first_use("numpy")  # `losscli --help` reads the catalogue without NumPy


# -- input roles -------------------------------------------------------------------------------


# -- input roles ------------------------------------------------------------------------------
class Role(NamedTuple):
    """A kind of input column a loss reads (predictions, targets, variances, ...)."""

    name: str
    flag: str
    help: str
    short: str | None = None
    auto_names: tuple[str, ...] = ()
    multi: bool = True  # several columns allowed (outputs / classes, the last axis)
    #: Class labels (numbers or text, read through Arrow as they are): text becomes run-wide
    #: codes, so the kernels still see float64.
    labels: bool = False


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


# -- parameters --------------------------------------------------------------------------------


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
    #: A list parameter (class weights, labels): the type of its items. Its value is a list, or
    #: None when not given; the command line takes the items comma-separated.
    item_type: builtins.type | None = None
    multiple: bool = False  # the command line takes several values: one result each

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, raw: str) -> Any:
        """A command-line text as this parameter's value (a list parameter splits its items on
        commas, semicolons or spaces). Raises ValueError on a malformed value."""
        if self.item_type is None:
            return self.type(raw)
        items = [part for part in raw.replace(";", ",").replace(" ", ",").split(",") if part]
        if not items:
            raise ValueError(raw)
        return [self.item_type(item) for item in items]

    def check(self, value: Any) -> str | None:
        """None if ``value`` is allowed, else the sentence stating the valid range."""
        if self.valid is None or self.valid(value):
            return None
        return f"{self.flag} must be {self.valid_text} (got {value!r})"


def positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def float_in(low: float, high: float, *, low_open: bool, high_open: bool) -> Callable[[Any], bool]:
    def ok(x: float) -> bool:
        if not math.isfinite(x):
            return False
        above = x > low if low_open else x >= low
        below = x < high if high_open else x <= high
        return above and below

    return ok


def finite(x: float) -> bool:
    return math.isfinite(x)


def non_negative(x: float) -> bool:
    return math.isfinite(x) and x >= 0


def all_non_negative(values: list[float] | None) -> bool:
    """A list parameter of finite values ≥ 0 (or not given)."""
    return values is None or all(math.isfinite(v) and v >= 0 for v in values)


EPS_PARAM = Param(
    "eps", 1e-6, "small constant for numerical stability", valid=positive, valid_text="> 0"
)


# -- loss specs --------------------------------------------------------------------------------


# -- loss specs -------------------------------------------------------------------------------
ElementwiseKernel = Callable[["Inputs", Params, "Workspace"], "Array"]


MaskFunction = Callable[["Inputs", Params], "NDArray[np.bool_]"]


class DomainCheck(NamedTuple):
    """A rule on one role's values: ``violations`` marks bad elements; ``message`` says why."""

    role: str
    violations: MaskFunction
    message: str


#: Reference prefixes → the library whose semantics an entry follows.
LIBRARIES = (("mlx", "MLX"), ("torch", "PyTorch"), ("keras", "Keras"), ("sklearn", "scikit-learn"))


METRIC = ("mean",)


METRIC_PERS = ("all", "output")


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
    multi_pass: bool = False  # exact in bounded memory by reading its values more than once
    #: A rule on the parameters that depends on whether sample weights are given: None if
    #: allowed, else the sentence saying why not (a usage error).
    weighted_check: Callable[[Params, bool], str | None] | None = None
    # Predicted probabilities of the positive class, for the calibration chart (--show
    # calibration, --report); None: not a probability loss.
    calibration: Callable[[Inputs, Params], Array] | None = None
    #: Whose semantics the name follows (MLX, PyTorch, Keras, scikit-learn); by default the
    #: library named first in ``reference``.
    follows: str = ""
    #: The loss's own per-row weight in the mean's denominator, as PyTorch's class-weighted
    #: mean ``Σ w[y]·l / Σ w[y]`` (the kernel's losses already carry the weight): ``mean`` is
    #: ``Σ s·l / Σ s·d`` with sample weights ``s``. None: the denominator is ``Σ s``.
    denominator: Callable[[Inputs, Params], Array] | None = None

    @property
    def semantics(self) -> str:
        """The library whose meaning of this name losscli follows."""
        if self.follows:
            return self.follows
        first = self.reference.split(maxsplit=1)[0].lower() if self.reference else ""
        for prefix, library in LIBRARIES:
            if first.startswith(prefix):
                return library
        return "losscli"

    def new_state(self, outputs: int, params: Params) -> LossState:
        if self.make_state is not None:
            return self.make_state(outputs, params)
        from losscli.stats import MeanState  # NumPy-backed: loaded by a run, not by --help

        return MeanState(outputs)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


# -- building blocks of entries ----------------------------------------------------------------


def pair(kernel: Callable[..., Array], *param_names: str, scratch: int = 1) -> ElementwiseKernel:
    """Adapter for ``kernel(pred, target, **params, out=, scratch=, scratch2=)`` with
    ``scratch`` extra buffers (0, 1 or 2): role arrays of shape (k, n) in, (k, n) losses out."""

    def run(inputs: Inputs, params: Params, ws: Workspace) -> Array:
        pred = inputs["pred"]
        kwargs: dict[str, Any] = {name: params[name] for name in param_names}
        for buffer in ("scratch", "scratch2")[:scratch]:
            kwargs[buffer] = ws.get(buffer, pred.shape)
        return kernel(pred, inputs["target"], **kwargs, out=ws.get("out", pred.shape))

    run.__name__ = kernel.__name__
    return run


def row(values: Array) -> Array:
    """Per-row losses of a kernel over the column axis, as one (1, n) row."""
    return values.reshape(1, -1)


def check(
    violations: Callable[..., NDArray[np.bool_]], role: str, message: str, *param_names: str
) -> DomainCheck:
    """A domain check on ``role``'s values by the mask function ``violations``."""

    def run(inputs: Inputs, params: Params) -> NDArray[np.bool_]:
        return violations(inputs[role], *(params[name] for name in param_names))

    return DomainCheck(role, run, message)


def metric(**fields: Any) -> LossSpec:
    """An entry for a scikit-learn-style metric: reduced only as a mean, over all values or per
    output (``--per row`` and ``--reduction none|sum`` have no meaning for it)."""
    return LossSpec(**{"reductions": METRIC, "pers": METRIC_PERS, **fields})


def state_of(kind: str) -> Callable[[int, Params], LossState]:
    """A factory of the streaming statistic ``losscli.stats.<kind>`` (imported when first run)."""

    def make(outputs: int, params: Params) -> LossState:
        from losscli import stats  # NumPy-backed: loaded by a run, not by --help

        state: LossState = getattr(stats, kind)(outputs)
        return state

    return make
