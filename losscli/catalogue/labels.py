"""scikit-learn's classification metrics on class labels: ``log_loss``, ``brier_score_loss``,
``zero_one_loss`` and ``accuracy``, ``hamming_loss`` and multi-class ``hinge_loss``.

Labels are numbers or text (read through Arrow as they are). As in scikit-learn, probability or
decision column j belongs to the j-th class of the *sorted* distinct true labels (or of
``--labels``); that order is known only after the last row, so each metric streams, per distinct
label, the sums of its row loss for every candidate column (:mod:`losscli.stats.labels`) and
picks each label's own at the end. Kernels, states, registry entries and the Python API side by
side."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from losscli.catalogue.api import assert_all_finite
from losscli.catalogue.classification import probability_violations
from losscli.catalogue.spec import (
    PRED,
    TARGET,
    DomainCheck,
    LossSpec,
    Param,
    Params,
    Role,
    np,
)
from losscli.errors import DataError, UsageError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from losscli.catalogue.spec import Inputs
    from losscli.stats.labels import Label, LabelContext

    Array = NDArray[np.float64]
    Mask = NDArray[np.bool_]

__all__ = [
    "accuracy_score",
    "brier_score_loss",
    "hamming_loss",
    "log_loss",
    "multiclass_hinge_loss",
    "zero_one_loss",
]

#: scikit-learn clips probabilities to ``[eps, 1 − eps]`` with eps = 2.2e-16 (float64).
EPS = 2.220446049250313e-16
#: Rows of probabilities must sum to 1 within scikit-learn's ``isclose(Σp, 1, rtol=√eps)``
#: (its default atol 1e-8): ``|Σp − 1| ≤ 1e-8 + √eps ≈ 2.5e-8``.
ROW_SUM_TOLERANCE = 1e-8 + math.sqrt(EPS)


# -- kernels: candidate row losses, one row per candidate class -----------------------------------


def log_loss_candidates(probs: Array) -> Array:
    """(C, n) probabilities → ``−log clip(p_j, eps, 1 − eps)`` for each class j; one column of
    P(the greater label) becomes the two classes ``(1 − p, p)`` first (scikit-learn)."""
    if probs.shape[0] == 1:
        probs = np.concatenate([1 - probs, probs])
    out = np.clip(probs, EPS, 1 - EPS)
    np.log(out, out=out)
    return np.negative(out, out=out)


def brier_candidates(prob: Array) -> Array:
    """(1, n) P(positive) → the binary Brier term for a negative row and for a positive one, in
    scikit-learn's order: ``(t₀ − (1 − p))² + (t₁ − p)²`` with one-hot ``t`` (halved later)."""
    p = prob[0]
    q = 1 - p
    negative = (1.0 - q) ** 2 + (0.0 - p) ** 2
    positive = (0.0 - q) ** 2 + (1.0 - p) ** 2
    return np.stack([negative, positive])


def hinge_candidates(decision: Array) -> Array:
    """scikit-learn's ``hinge_loss`` per candidate class: one decision column gives
    ``max(0, 1 + x)`` (the smaller label, −1) and ``max(0, 1 − x)`` (the greater, +1); C ≥ 3
    columns give ``max(0, 1 − (x_j − max_{c≠j} x_c))`` (Crammer-Singer)."""
    if decision.shape[0] == 1:
        x = decision[0]
        return np.maximum(np.stack([1 + x, 1 - x]), 0.0)
    top = np.argmax(decision, axis=0)
    first = np.take_along_axis(decision, top[None], 0)[0]
    masked = decision.copy()
    np.put_along_axis(masked, top[None], -np.inf, 0)
    second = np.max(masked, axis=0)
    others_max = np.where(np.arange(decision.shape[0])[:, None] == top[None], second, first)
    margin = decision - others_max
    return np.maximum(1 - margin, 0.0)


def argmax_candidates(scores: Array) -> Array:
    """1 where column j holds the row's largest score (the first on ties, as ``np.argmax``)."""
    top = np.argmax(scores, axis=0)
    return (np.arange(scores.shape[0])[:, None] == top[None]).astype(np.float64)


def row_sum_violations(probs: Array) -> Mask:
    """Rows of C ≥ 2 probabilities whose sum is not 1 within :data:`ROW_SUM_TOLERANCE` (marked
    on their first column)."""
    bad = np.zeros(probs.shape, dtype=np.bool_)
    if probs.shape[0] >= 2:
        bad[0] = np.abs(np.sum(probs, axis=0) - 1.0) > ROW_SUM_TOLERANCE
    return bad


# -- the state ------------------------------------------------------------------------------


def _positive_class(classes: list[Label], pos_label: str | None, context: LabelContext) -> Label:
    """scikit-learn's positive class: ``pos_label``; else 1 for labels within {0, 1} or
    {−1, 1}; else the greater numeric label; text labels need ``--pos-label``."""
    if len(classes) > 2:
        raise DataError(
            f"brier_score_loss is binary, but the labels hold {len(classes)} classes",
            column=context.target,
        )
    if pos_label is not None:
        return context.label(float(context.keys([pos_label])[0]))
    if any(isinstance(c, str) for c in classes):
        raise UsageError("text labels need --pos-label to name the positive class")
    if set(classes) <= {0.0, 1.0} or set(classes) <= {-1.0, 1.0}:
        return 1.0
    return classes[-1]


def positive_key(seen: Sequence[float], params: Params) -> float:
    """The key of ``brier_score_loss``'s positive class, given the true-label keys ``seen``
    (or ``--labels``): for the calibration chart, which learns the class only at the end."""
    from losscli.stats.labels import sorted_labels

    context: LabelContext = params["label_context"]
    given = params.get("labels")
    keys = context.keys(given).tolist() if given is not None else list(seen)
    classes = sorted_labels([context.label(k) for k in keys if not math.isnan(k)])
    return context.key_of(_positive_class(classes, params["pos_label"], context))


def _brier_probabilities(inputs: Inputs, params: Params) -> Array:
    """The positive class's probability column, for the calibration chart."""
    return inputs["pred"]


class LabelMetricState:
    """One scikit-learn label metric: per distinct true label, the sums of its candidate row
    losses (:class:`losscli.stats.labels.LabelSums`); ``compute`` orders the classes (sorted
    true labels, or ``--labels``), picks each label's candidate and divides by ``Σ w``."""

    def __init__(self, kind: str, params: Params) -> None:
        from losscli.stats.labels import LabelSums  # NumPy-backed: loaded by a run only

        self.kind = kind
        self.params = params
        self.context: LabelContext = params["label_context"]
        self.sums = LabelSums()
        #: a group's classes are those of all rows (set by the engine before ``compute``)
        self.overall_classes: list[Label] | None = None

    @property
    def rows(self) -> int:
        return self.sums.rows

    @property
    def pick_free(self) -> bool:
        """Whether a row's loss does not depend on the class order (hard predictions of
        accuracy, zero-one and Hamming loss: one candidate, picked for every label)."""
        return self.kind in ("accuracy", "zero_one", "hamming") and self.context.hard

    def candidates(self, inputs: Inputs) -> Array:
        pred, target = inputs["pred"], inputs["target"]
        if self.kind == "log_loss":
            return log_loss_candidates(pred)
        if self.kind == "brier":
            return brier_candidates(pred)
        if self.kind == "hinge":
            return hinge_candidates(pred)
        if self.context.hard:
            self.context.check_same_kind()
            if self.kind == "hamming":
                return np.mean(np.not_equal(pred, target), axis=0, keepdims=True)
            return np.all(np.equal(pred, target), axis=0, keepdims=True).astype(np.float64)
        if self.context.codes.is_text(self.context.pred[0]):
            raise DataError("argmax needs numeric score columns", column=self.context.pred[0])
        return argmax_candidates(pred)

    def update(self, inputs: Inputs, weights: Array | None) -> None:
        self.sums.add(inputs["target"][0], self.candidates(inputs), weights)

    def merge(self, other: Any) -> None:
        assert isinstance(other, LabelMetricState)
        if other.context.codes is self.context.codes:
            self.sums.merge(other.sums)
            return
        # another pass's text codes (a Dask worker's): match labels, not codes
        self.sums.merge(
            other.sums,
            lambda key: key if math.isnan(key) else self.context.key_of(other.context.label(key)),
        )

    def classes(self) -> list[Label]:
        from losscli.stats.labels import sorted_labels

        given = self.params.get("labels")
        if given is None and self.overall_classes is not None:
            return self.overall_classes
        keys = self.context.keys(given).tolist() if given is not None else self.sums.label_keys()
        keys = [k for k in keys if not math.isnan(k)]
        return sorted_labels([self.context.label(k) for k in keys])

    def pick(self) -> Callable[[float], int]:
        """Each true-label key → the index of its candidate."""
        from losscli.stats.labels import check_class_count

        classes = self.classes()
        context = self.context
        label = context.label
        given = self.params.get("labels") is not None
        columns = len(context.pred)

        def count(expected: int, what: str) -> None:
            check_class_count(classes, expected, column=context.target, given=given, what=what)

        if self.kind == "brier":
            positive = _positive_class(classes, self.params["pos_label"], context)
            return lambda key: int(label(key) == positive)
        if self.kind in ("accuracy", "zero_one", "hamming") and context.hard:
            return lambda key: 0
        if columns == 1 and self.kind in ("log_loss", "hinge"):
            if self.kind == "log_loss" or len(classes) > 2:
                count(
                    2,
                    "probability (P of the greater label)"
                    if self.kind == "log_loss"
                    else "decision",
                )
            # two classes: the greater is column 1 (+1); LabelBinarizer makes a lone class −1
            return lambda key: 1 if len(classes) == 2 and label(key) == classes[1] else 0
        count(columns, {"log_loss": "probability", "hinge": "decision"}.get(self.kind, "score"))
        return lambda key: classes.index(label(key))

    def compute(self, reduction: str, per: str) -> float:
        if any(math.isnan(k) for k in self.sums.label_keys()):
            return float("nan")  # a missing label under --nan propagate
        total = self.sums.picked(self.pick())
        if self.kind == "brier":
            total *= 0.5
        weight = self.sums.total_weight()
        if reduction == "sum":
            return weight - total if self.kind == "zero_one" else total
        value = total / weight if weight else float("nan")
        return 1.0 - value if self.kind == "zero_one" else value


def _state(kind: str) -> Callable[[int, Params], Any]:
    def make(outputs: int, params: Params) -> LabelMetricState:
        return LabelMetricState(kind, params)

    return make


# -- domain checks ----------------------------------------------------------------------------


def _unlisted_labels(inputs: Inputs, params: Params) -> Mask:
    given = params.get("labels")
    target = inputs["target"]
    if given is None:
        return np.zeros(target.shape, dtype=np.bool_)
    allowed = params["label_context"].keys(given)
    return ~np.isin(target, allowed) & ~np.isnan(target)


def _probability_range(inputs: Inputs, params: Params) -> Mask:
    return probability_violations(inputs["pred"])


def _row_sums(inputs: Inputs, params: Params) -> Mask:
    return row_sum_violations(inputs["pred"])


def _pred_columns(expected: Callable[[int], bool], message: str) -> DomainCheck:
    """A usage rule on the number of prediction columns, reported through the domain check
    (the first chunk raises)."""

    def violations(inputs: Inputs, params: Params) -> Mask:
        if not expected(inputs["pred"].shape[0]):
            raise UsageError(message)
        return np.zeros(inputs["pred"].shape, dtype=np.bool_)

    return DomainCheck("pred", violations, message)


UNLISTED = DomainCheck("target", _unlisted_labels, "a label missing from --labels")
PROBABILITY_RANGE = DomainCheck("pred", _probability_range, "probabilities must lie in [0, 1]")
ROW_SUMS = DomainCheck(
    "pred",
    _row_sums,
    f"a row of class probabilities must sum to 1 (|Σp − 1| ≤ {ROW_SUM_TOLERANCE:.2g})",
)

LABELS_PARAM = Param(
    "labels",
    None,
    "the classes (scikit-learn labels=): sorted, they name the probability columns in order",
    item_type=str,
)
TRUE_LABELS = Role(
    "target",
    "--target",
    "the true-label column (numbers or text)",
    short="-t",
    auto_names=TARGET.auto_names,
    labels=True,
)
TRUE_LABEL_COLUMNS = TRUE_LABELS._replace(
    help="the true-label column(s): numbers or text; several for multi-label data"
)
PROBABILITIES = Role(
    "pred",
    "--pred",
    "one probability column per class, in sorted-label order (or one: P(the greater label))",
    short="-p",
    auto_names=PRED.auto_names,
)
DECISIONS = PROBABILITIES._replace(
    help="one decision-function column per class (≥ 3), or one for two classes"
)
PREDICTED = Role(
    "pred",
    "--pred",
    "predicted label column(s) (numbers or text), or one score column per class (argmax)",
    short="-p",
    auto_names=PRED.auto_names,
    labels=True,
)

LABEL_METRIC = {
    "pers": ("all",),
    "paired": False,
    "reduces_axis": True,
}

LOSSES: tuple[LossSpec, ...] = (
    LossSpec(
        name="log_loss",
        summary="log loss (cross-entropy) of class probabilities against true labels",
        formula="−log clip(p[y], eps, 1 − eps), eps = 2.2e-16; classes are the sorted labels",
        api="log_loss",
        roles=(PROBABILITIES, TRUE_LABELS),
        params=(LABELS_PARAM,),
        make_state=_state("log_loss"),
        reductions=("mean", "sum"),
        checks=(UNLISTED, PROBABILITY_RANGE, ROW_SUMS),
        reference="sklearn log_loss (normalize=False is --reduction sum)",
        **LABEL_METRIC,  # type: ignore[arg-type]
    ),
    LossSpec(
        name="brier_score_loss",
        summary="Brier score of the positive-class probability (binary)",
        formula="(y − p)², y = 1 for the positive label (--pos-label; default 1 or the greater label)",
        api="brier_score_loss",
        roles=(PROBABILITIES._replace(help="the positive class's probability column"), TRUE_LABELS),
        params=(
            Param(
                "pos_label", None, "the positive class (default: 1, or the greater label)", type=str
            ),
        ),
        make_state=_state("brier"),
        calibration=_brier_probabilities,
        reductions=("mean",),
        checks=(
            _pred_columns(lambda c: c == 1, "brier_score_loss takes one probability column"),
            PROBABILITY_RANGE,
        ),
        aliases=("brier",),
        reference="sklearn brier_score_loss",
        **LABEL_METRIC,  # type: ignore[arg-type]
    ),
    LossSpec(
        name="accuracy",
        summary="accuracy: the (weighted) fraction of rows predicted right (higher is better)",
        formula="mean [ŷ = y]; ŷ the predicted label, or the class of the row's largest score",
        api="accuracy_score",
        roles=(PREDICTED, TRUE_LABEL_COLUMNS),
        params=(LABELS_PARAM,),
        make_state=_state("accuracy"),
        reductions=("mean", "sum"),
        checks=(UNLISTED,),
        higher_is_better=True,
        aliases=("accuracy_score",),
        reference="sklearn accuracy_score (normalize=False is --reduction sum)",
        **LABEL_METRIC,  # type: ignore[arg-type]
    ),
    LossSpec(
        name="zero_one_loss",
        summary="zero-one loss: the (weighted) fraction of rows predicted wrong",
        formula="1 − accuracy",
        api="zero_one_loss",
        roles=(PREDICTED, TRUE_LABEL_COLUMNS),
        params=(LABELS_PARAM,),
        make_state=_state("zero_one"),
        reductions=("mean", "sum"),
        checks=(UNLISTED,),
        aliases=("zero_one",),
        reference="sklearn zero_one_loss (normalize=False is --reduction sum)",
        **LABEL_METRIC,  # type: ignore[arg-type]
    ),
    LossSpec(
        name="hamming_loss",
        summary="Hamming loss: the (weighted) fraction of labels predicted wrong",
        formula="mean over rows and label columns of [ŷ ≠ y]",
        api="hamming_loss",
        roles=(
            PREDICTED._replace(help="predicted label column(s), one per true-label column"),
            TRUE_LABEL_COLUMNS,
        ),
        make_state=_state("hamming"),
        reductions=("mean",),
        aliases=("hamming",),
        reference="sklearn hamming_loss",
        **LABEL_METRIC,  # type: ignore[arg-type]
    ),
    LossSpec(
        name="multiclass_hinge",
        summary="scikit-learn's hinge loss: binary, or multi-class (Crammer-Singer)",
        formula="max(0, 1 − (x[y] − max_{c≠y} x_c)); one column: max(0, 1 − ±x)",
        api="multiclass_hinge_loss",
        roles=(DECISIONS, TRUE_LABELS),
        params=(LABELS_PARAM,),
        make_state=_state("hinge"),
        reductions=("mean",),
        checks=(
            UNLISTED,
            _pred_columns(
                lambda c: c != 2, "hinge_loss takes one decision column, or three or more"
            ),
        ),
        aliases=("multiclass_hinge_loss",),
        reference="sklearn hinge_loss (labels from sorted true labels; MLX's hinge is `hinge`)",
        **LABEL_METRIC,  # type: ignore[arg-type]
    ),
)


# -- Python API -------------------------------------------------------------------------------


def _label_keys(codes: Any, column: str, values: ArrayLike) -> Array:
    """Labels as the engine sees them: numbers as float64, text as codes."""
    array = np.asarray(values)
    if array.dtype.kind in "OUS":
        text = array.astype(str)
        distinct, inverse = np.unique(text, return_inverse=True)
        return codes.encode(
            column, inverse.astype(np.float64).reshape(array.shape), list(distinct), file="", row=1
        )
    numbers = array.astype(np.float64)
    assert_all_finite(numbers, column)  # scikit-learn: "Input y_pred contains NaN."
    return np.asarray(codes.encode(column, numbers, None, file="", row=1))


def _metric(
    kind: str,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    sample_weight: ArrayLike | None,
    *,
    pred_labels: bool,
    **params: Any,
) -> float:
    from losscli.stats.labels import LabelCodes, LabelContext

    codes = LabelCodes()
    y = _label_keys(codes, "y_true", y_true)
    y = y.reshape(len(y), -1).T  # (targets, n)
    if pred_labels:
        p = _label_keys(codes, "y_pred", y_pred)
    else:
        p = np.asarray(y_pred, dtype=np.float64)
        assert_all_finite(p, "y_proba")
    p = p.reshape(y.shape[1], -1).T
    hard = pred_labels and p.shape[0] == y.shape[0]
    context = LabelContext(codes, ["y_true"] * y.shape[0], ["y_pred"] * p.shape[0], hard)
    inputs = {"pred": p, "target": y}
    full = {"labels": None, "pos_label": None, **params, "label_context": context}
    for rule in _CHECKS.get(kind, ()):
        bad = rule.violations(inputs, full)
        if bad.any():
            raise ValueError(rule.message)
    state = LabelMetricState(kind, full)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if w is not None:
        assert_all_finite(w, "sample_weight")
        if w.size and not bool(np.any(w != 0)):
            raise ValueError("Sample weights must contain at least one non-zero number.")
    state.update(inputs, w)
    return state.compute(params.pop("reduction", "mean"), "all")


_CHECKS = {"log_loss": (UNLISTED, PROBABILITY_RANGE, ROW_SUMS), "brier": (PROBABILITY_RANGE,)}


def log_loss(
    y_true: ArrayLike,
    y_proba: ArrayLike,
    *,
    normalize: bool = True,
    sample_weight: ArrayLike | None = None,
    labels: Sequence[Any] | None = None,
) -> float:
    """scikit-learn ``log_loss``: ``−log clip(p[y], eps, 1 − eps)`` averaged (or summed), the
    probability columns in sorted-label order.

    >>> round(log_loss(["spam", "ham", "ham"], [[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]), 6)
    1.422899
    """
    return _metric(
        "log_loss",
        y_true,
        y_proba,
        sample_weight,
        pred_labels=False,
        labels=None if labels is None else [str(v) for v in labels],
        reduction="mean" if normalize else "sum",
    )


def brier_score_loss(
    y_true: ArrayLike,
    y_proba: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    pos_label: Any = None,
) -> float:
    """scikit-learn ``brier_score_loss`` (binary): ``mean (y − p)²`` with y = 1 for
    ``pos_label``.

    >>> round(brier_score_loss([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]), 6)
    0.0375
    """
    return _metric(
        "brier",
        y_true,
        y_proba,
        sample_weight,
        pred_labels=False,
        pos_label=None if pos_label is None else str(pos_label),
    )


def accuracy_score(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    normalize: bool = True,
    sample_weight: ArrayLike | None = None,
) -> float:
    """scikit-learn ``accuracy_score``: the (weighted) fraction of rows whose predicted labels
    all equal the true ones (the count with ``normalize=False``).

    >>> accuracy_score(["a", "b", "c", "a"], ["a", "b", "a", "a"])
    0.75
    """
    reduction = "mean" if normalize else "sum"
    return _metric("accuracy", y_true, y_pred, sample_weight, pred_labels=True, reduction=reduction)


def zero_one_loss(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    normalize: bool = True,
    sample_weight: ArrayLike | None = None,
) -> float:
    """scikit-learn ``zero_one_loss``: ``1 − accuracy`` (misclassified weight with
    ``normalize=False``).

    >>> zero_one_loss([1, 2, 3, 4], [2, 2, 3, 4])
    0.25
    """
    reduction = "mean" if normalize else "sum"
    return _metric("zero_one", y_true, y_pred, sample_weight, pred_labels=True, reduction=reduction)


def hamming_loss(
    y_true: ArrayLike, y_pred: ArrayLike, *, sample_weight: ArrayLike | None = None
) -> float:
    """scikit-learn ``hamming_loss``: the (weighted) fraction of wrong labels.

    >>> hamming_loss([[0, 1], [1, 1]], [[0, 0], [1, 1]])
    0.25
    """
    return _metric("hamming", y_true, y_pred, sample_weight, pred_labels=True)


def multiclass_hinge_loss(
    y_true: ArrayLike,
    pred_decision: ArrayLike,
    *,
    labels: Sequence[Any] | None = None,
    sample_weight: ArrayLike | None = None,
) -> float:
    """scikit-learn ``hinge_loss``: binary (one decision column, the greater label +1) or
    multi-class Crammer-Singer ``max(0, 1 − (x[y] − max_{c≠y} x_c))``.

    >>> multiclass_hinge_loss([-1, 1, 1], [-2.2, 1.3, 0.55])
    0.15
    """
    return _metric(
        "hinge",
        y_true,
        pred_decision,
        sample_weight,
        pred_labels=False,
        labels=None if labels is None else [str(v) for v in labels],
    )
