"""Losses between score pairs and vectors: margin ranking, cosine similarity, triplet margin.

Kernels, registry entries and the Python API side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

from losscli.catalogue.api import as_float64, reduce
from losscli.catalogue.arrays import vdot, vsum
from losscli.catalogue.spec import (
    EPS_PARAM,
    TARGET,
    LossSpec,
    Param,
    Params,
    Role,
    finite,
    np,
    positive,
    row,
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
    "cosine_similarity_loss",
    "margin_ranking_loss",
    "triplet_loss",
]


# -- kernels ----------------------------------------------------------------------------------


def margin_ranking(
    inputs1: Array,
    inputs2: Array,
    targets: Array,
    margin: float = 0.0,
    *,
    out: Array | None = None,
) -> Array:
    """Margin ranking (MLX): ``max(0, −y·(x1 − x2) + margin)``."""
    out = np.subtract(inputs1, inputs2, out=out)
    np.multiply(out, targets, out=out)
    np.subtract(margin, out, out=out)
    return np.maximum(out, 0.0, out=out)


def cosine_similarity(x1: Array, x2: Array, *, axis: int = -1, eps: float = 1e-8) -> Array:
    """Cosine similarity (MLX, ``+cos``): ``Σ x1·x2 / max(‖x1‖·‖x2‖, eps)`` over ``axis``."""
    n1 = np.sqrt(vdot(x1, x1, axis))
    n2 = np.sqrt(vdot(x2, x2, axis))
    np.multiply(n1, n2, out=n1)
    np.maximum(n1, eps, out=n1)
    dot = vdot(x1, x2, axis)
    return np.divide(dot, n1, out=dot)


def _p_distance(x: Array, y: Array, axis: int, p: float, eps: float) -> Array:
    d = np.subtract(x, y)
    np.abs(d, out=d)
    if p == 2:
        np.multiply(d, d, out=d)
    elif p != 1:
        np.power(d, p, out=d)
    s = vsum(d, axis)
    np.add(s, eps, out=s)
    if p == 2:
        return np.sqrt(s, out=s)
    return s if p == 1 else np.power(s, 1.0 / p, out=s)


def triplet(
    anchors: Array,
    positives: Array,
    negatives: Array,
    *,
    axis: int = -1,
    p: float = 2,
    margin: float = 1.0,
    eps: float = 1e-6,
) -> Array:
    """Triplet (MLX): ``max(d(A, P) − d(A, N) + margin, 0)`` over ``axis``,
    with ``d(x, y) = (Σ |x − y|^p + eps)^(1/p)``."""
    loss = _p_distance(anchors, positives, axis, p, eps)
    np.subtract(loss, _p_distance(anchors, negatives, axis, p, eps), out=loss)
    np.add(loss, margin, out=loss)
    return np.maximum(loss, 0.0, out=loss)


# -- registry entries -------------------------------------------------------------------------


def _margin_ranking(inputs: Inputs, params: Params, ws: Workspace) -> Array:

    x1 = inputs["input1"]
    return margin_ranking(
        x1, inputs["input2"], inputs["target"], params["margin"], out=ws.get("out", x1.shape)
    )


def _cosine(inputs: Inputs, params: Params, ws: Workspace) -> Array:

    return row(cosine_similarity(inputs["pred"], inputs["target"], axis=0, eps=params["eps"]))


def _triplet(inputs: Inputs, params: Params, ws: Workspace) -> Array:

    return row(
        triplet(
            inputs["anchor"],
            inputs["positive"],
            inputs["negative"],
            axis=0,
            p=params["p"],
            margin=params["margin"],
            eps=params["eps"],
        )
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


LOSSES: tuple[LossSpec, ...] = (
    LossSpec(
        name="margin_ranking",
        summary="margin ranking loss between two score columns",
        formula="max(0, −y·(x1 − x2) + margin)",
        api="margin_ranking_loss",
        roles=(INPUT1, INPUT2, RANK_TARGET),
        params=(Param("margin", 0.0, "margin", valid=finite, valid_text="a finite number"),),
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
            Param("margin", 1.0, "margin", valid=finite, valid_text="a finite number"),
            EPS_PARAM,
        ),
        elementwise=_triplet,
        reduces_axis=True,
        aliases=("triplet_loss",),
        reference="mlx.nn.losses.triplet_loss, torch.nn.TripletMarginLoss",
    ),
)


# -- Python API -------------------------------------------------------------------------------


def margin_ranking_loss(
    inputs1: ArrayLike,
    inputs2: ArrayLike,
    targets: ArrayLike,
    margin: float = 0.0,
    reduction: Reduction = "none",
) -> Result:
    """Margin ranking: ``max(0, −y·(x1 − x2) + margin)``.

    >>> margin_ranking_loss([1.0, 1.0], [0.0, 0.0], [1.0, -1.0]).tolist()
    [0.0, 1.0]
    """
    x1, x2, y = as_float64(inputs1), as_float64(inputs2), as_float64(targets)
    if not (x1.shape == x2.shape == y.shape):
        raise ValueError(
            "The shapes of the arguments do not match. The provided shapes are "
            f"inputs1.shape={x1.shape}, inputs2.shape={x2.shape}, and "
            f"targets.shape={y.shape}."
        )
    return reduce(margin_ranking(x1, x2, y, margin), reduction)


def cosine_similarity_loss(
    x1: ArrayLike,
    x2: ArrayLike,
    axis: int = 1,
    eps: float = 1e-8,
    reduction: Reduction = "none",
) -> Result:
    """Cosine similarity ``Σ x1·x2 / max(‖x1‖·‖x2‖, eps)`` over ``axis`` (``+cos``, as MLX).

    >>> cosine_similarity_loss([[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, -3.0]]).tolist()
    [1.0, -1.0]
    """
    return reduce(cosine_similarity(as_float64(x1), as_float64(x2), axis=axis, eps=eps), reduction)


def triplet_loss(
    anchors: ArrayLike,
    positives: ArrayLike,
    negatives: ArrayLike,
    axis: int = -1,
    p: int = 2,
    margin: float = 1.0,
    eps: float = 1e-6,
    reduction: Reduction = "none",
) -> Result:
    """Triplet: ``max(d(A, P) − d(A, N) + margin, 0)``, ``d = (Σ |·|^p + eps)^(1/p)``.

    >>> triplet_loss([[0.0, 0.0]], [[3.0, 4.0]], [[0.0, 0.0]], eps=0.0).tolist()
    [6.0]
    """
    a, pos, neg = as_float64(anchors), as_float64(positives), as_float64(negatives)
    return reduce(triplet(a, pos, neg, axis=axis, p=p, margin=margin, eps=eps), reduction)
