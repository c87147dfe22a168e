"""Regenerate the recorded PyTorch and Keras reference vectors (tests/reference/*.json).

PyTorch's Linux wheels pull CUDA, so neither library is in the test extra: this script runs in
a separate virtual environment and writes JSON files that the tests read. Run it with

    python -m venv refvenv && refvenv/bin/pip install torch keras "jax[cpu]"
    KERAS_BACKEND=jax refvenv/bin/python tests/reference/regenerate.py

Every value is computed in float64 (JAX with x64 enabled, Keras floatx float64). Each file
records the library versions and, per case, the loss, its parameters, the inputs and the
library's result for each reduction.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RNG = np.random.default_rng(20261129)


def _list(x: Any) -> Any:
    return np.asarray(x, dtype=np.float64).tolist()


# -- awkward data ------------------------------------------------------------------------------
def logits_block(n: int, c: int) -> np.ndarray:
    """Logits with ties, zeros and large magnitudes (±30, ±200) mixed with random values."""
    x = RNG.normal(0, 3, size=(n, c))
    x[0, :] = 0.0  # all tied
    x[1, :] = 30.0  # tied, large
    x[2, 0], x[2, 1:] = 200.0, -200.0  # extreme, confident
    x[3, 0], x[3, 1:] = -200.0, 200.0  # extreme, confidently wrong for class 0
    x[4, :] = np.linspace(-1e-9, 1e-9, c)  # tiny
    return x


def class_targets(n: int, c: int) -> np.ndarray:
    y = RNG.integers(0, c, size=n)
    y[:5] = [0, 1, 0, 0, c - 1]
    return y


def prob_block(n: int, c: int, zeros: bool = True) -> np.ndarray:
    p = RNG.dirichlet(np.full(c, 0.7), size=n)
    if zeros:
        p[0] = 0.0
        p[0, 0] = 1.0  # one-hot
        p[1] = 1.0 / c  # uniform
        p[2, :] = 0.0
        p[2, -1] = 1.0
        p[3, 0], p[3, 1:] = 1e-12, (1 - 1e-12) / (c - 1)  # tiny but positive
    return p


def binary_probs(shape: tuple[int, ...]) -> np.ndarray:
    p = RNG.uniform(0, 1, size=shape)
    flat = p.reshape(-1)
    flat[:8] = [0.0, 1.0, 1e-9, 1 - 1e-9, 0.5, 1e-7, 1 - 1e-7, 0.25]
    return p


def binary_labels(shape: tuple[int, ...], soft: bool = False) -> np.ndarray:
    y = RNG.integers(0, 2, size=shape).astype(np.float64)
    flat = y.reshape(-1)
    flat[:8] = [0, 1, 1, 0, 1, 0, 1, 0]
    if soft:
        flat[8:12] = [0.3, 0.5, 0.9, 0.0]
    return y


# -- PyTorch -----------------------------------------------------------------------------------
def torch_cases() -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    def t(x: Any) -> torch.Tensor:
        return torch.tensor(np.asarray(x), dtype=torch.float64)

    cases: list[dict[str, Any]] = []

    def record(
        loss: str, params: dict[str, Any], inputs: dict[str, Any], fn: Any, reductions: Any
    ) -> None:
        out = {"loss": loss, "params": params, "inputs": {k: _list(v) for k, v in inputs.items()}}
        for r in reductions:
            out[r] = _list(fn(r).detach().numpy())
        cases.append(out)

    red = ("none", "mean", "sum")
    n, k, c = 12, 2, 4

    # poisson_nll_loss
    log_rates = RNG.normal(0, 1.5, size=(n, k))
    log_rates[:3] = [[0.0, -30.0], [5.0, 1e-12], [-1.0, 2.0]]
    rates = np.exp(RNG.normal(0, 1, size=(n, k)))
    rates[:3] = [[0.0, 1e-9], [3.0, 1e-8], [50.0, 0.5]]
    counts = RNG.poisson(3, size=(n, k)).astype(np.float64)
    counts[:3] = [[0, 1], [2, 0], [1, 40]]
    for log_input, x in ((True, log_rates), (False, rates)):
        for full in (False, True):
            for eps in (1e-8, 1e-3):
                if log_input and eps != 1e-8:
                    continue
                record(
                    "poisson_nll_loss",
                    {"log_input": log_input, "full": full, "eps": eps},
                    {"input": x, "target": counts},
                    lambda r, x=x, li=log_input, f=full, e=eps: F.poisson_nll_loss(
                        t(x), t(counts), log_input=li, full=f, eps=e, reduction=r
                    ),
                    red,
                )

    # soft_margin_loss (extremes where PyTorch's log1p(exp(·)) is still exact)
    x = RNG.normal(0, 2, size=(n, k))
    x[:3] = [[0.0, 30.0], [-30.0, 700.0], [1e-12, -5.0]]
    y = np.where(RNG.integers(0, 2, size=(n, k)) == 1, 1.0, -1.0)
    y[:3] = [[1, 1], [1, 1], [-1, -1]]
    record(
        "soft_margin_loss",
        {},
        {"input": x, "target": y},
        lambda r: F.soft_margin_loss(t(x), t(y), reduction=r),
        red,
    )

    # multilabel_soft_margin_loss
    x = logits_block(n, c)
    x[2, 0], x[2, 1:] = 30.0, -30.0
    x[3, 0], x[3, 1:] = -30.0, 30.0
    y = RNG.integers(0, 2, size=(n, c)).astype(np.float64)
    y[2] = [1, 0, 0, 0]
    y[3] = [1, 0, 0, 0]
    for weight in (None, [0.5, 1.0, 2.0, 0.0]):
        record(
            "multilabel_soft_margin_loss",
            {"weight": weight},
            {"input": x, "target": y},
            lambda r, w=weight: F.multilabel_soft_margin_loss(
                t(x), t(y), weight=None if w is None else t(w), reduction=r
            ),
            red,
        )

    # multi_margin_loss
    x = logits_block(n, c)
    yi = class_targets(n, c)
    for p in (1, 2):
        for margin in (1.0, 0.5):
            for weight in (None, [0.5, 1.0, 2.0, 3.0]):
                record(
                    "multi_margin_loss",
                    {"p": p, "margin": margin, "weight": weight},
                    {"input": x, "target": yi},
                    lambda r, p=p, m=margin, w=weight: F.multi_margin_loss(
                        t(x),
                        torch.tensor(yi),
                        p=p,
                        margin=m,
                        weight=None if w is None else t(w),
                        reduction=r,
                    ),
                    red,
                )

    # binary_cross_entropy_with_logits, pos_weight
    x = RNG.normal(0, 3, size=(n, k))
    x[:4] = [[0.0, 30.0], [-30.0, 5.0], [200.0, -200.0], [1e-12, -1e-12]]
    y = binary_labels((n, k), soft=True)
    for pos_weight in (None, [3.0, 0.5]):
        record(
            "binary_cross_entropy_with_logits",
            {"pos_weight": pos_weight},
            {"input": x, "target": y},
            lambda r, pw=pos_weight: F.binary_cross_entropy_with_logits(
                t(x), t(y), pos_weight=None if pw is None else t(pw), reduction=r
            ),
            red,
        )

    # cross_entropy with class weights (and label smoothing), class-index and prob targets
    x = logits_block(n, c)
    yi = class_targets(n, c)
    yp = prob_block(n, c)
    for weight in (None, [0.5, 1.0, 2.0, 3.0]):
        for ls in (0.0, 0.1):
            record(
                "cross_entropy",
                {"weight": weight, "label_smoothing": ls, "targets": "index"},
                {"input": x, "target": yi},
                lambda r, w=weight, ls=ls: F.cross_entropy(
                    t(x),
                    torch.tensor(yi),
                    weight=None if w is None else t(w),
                    label_smoothing=ls,
                    reduction=r,
                ),
                red,
            )
        record(
            "cross_entropy",
            {"weight": weight, "label_smoothing": 0.0, "targets": "probs"},
            {"input": x, "target": yp},
            lambda r, w=weight: F.cross_entropy(
                t(x), t(yp), weight=None if w is None else t(w), reduction=r
            ),
            red,
        )

    # kl_div, log_target=False (targets are probabilities, with zeros)
    logq = F.log_softmax(t(logits_block(n, c)), dim=1).numpy()
    target = prob_block(n, c)
    record(
        "kl_div",
        {"log_target": False},
        {"input": logq, "target": target},
        lambda r: F.kl_div(t(logq), t(target), reduction=r, log_target=False),
        ("none", "sum", "batchmean", "mean"),
    )
    return {
        "library": "torch",
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
        "cases": cases,
    }


# -- Keras -------------------------------------------------------------------------------------
def keras_cases() -> dict[str, Any]:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax

    jax.config.update("jax_enable_x64", True)
    # Keras 3 forces every promoted dtype to 32 bits (`_lattice_result_type` maps float64 to
    # float32 "to be aligned with JAX's default"), so `ops.mean` - the last step of
    # binary_crossentropy, squared_hinge, poisson, ... - runs in float32 even with floatx
    # float64. Emptying that table keeps Keras's own code path in float64 throughout.
    from keras.src.backend.common import dtypes as keras_dtypes

    keras_dtypes.BIT64_TO_BIT32_DTYPE.clear()
    import keras

    keras.config.set_floatx("float64")
    L = keras.losses
    cases: list[dict[str, Any]] = []
    n, k, c = 12, 3, 4

    def record(loss: str, params: dict[str, Any], inputs: dict[str, Any], fn: Any) -> None:
        """Per-row values (Keras's function output) and the Loss object's sum / mean."""
        y_true, y_pred = inputs["y_true"], inputs["y_pred"]
        weights = RNG.uniform(0.0, 2.0, size=len(y_pred))
        weights[0] = 0.0
        out: dict[str, Any] = {
            "loss": loss,
            "params": params,
            "inputs": {k: _list(v) for k, v in inputs.items()},
            "sample_weight": _list(weights),
        }
        out["none"] = _list(fn(y_true, y_pred, None, "none"))
        out["mean"] = float(fn(y_true, y_pred, None, "sum_over_batch_size"))
        out["sum"] = float(fn(y_true, y_pred, None, "sum"))
        out["weighted_sum"] = float(fn(y_true, y_pred, weights, "sum"))
        cases.append(out)

    def via(cls: Any, **params: Any) -> Any:
        def fn(y_true: Any, y_pred: Any, w: Any, reduction: str) -> Any:
            obj = cls(reduction=reduction, dtype="float64", **params)
            return np.asarray(obj(np.asarray(y_true), np.asarray(y_pred), sample_weight=w))

        return fn

    # squared_hinge: 0/1 labels (converted to ±1) and ±1 labels
    x = RNG.normal(0, 1.5, size=(n, k))
    x[0] = [0.0, 1.0, -1.0]
    for labels in ("01", "pm1"):
        y = RNG.integers(0, 2, size=(n, k)).astype(np.float64)
        if labels == "pm1":
            y = 2 * y - 1
        record("squared_hinge", {"labels": labels}, {"y_true": y, "y_pred": x}, via(L.SquaredHinge))

    # categorical_hinge
    x = logits_block(n, c)
    y = np.eye(c)[class_targets(n, c)]
    record("categorical_hinge", {}, {"y_true": y, "y_pred": x}, via(L.CategoricalHinge))

    # binary_crossentropy: probabilities (clipped at 1e-7) and logits, label smoothing
    p = binary_probs((n, k))
    y = binary_labels((n, k), soft=True)
    z = RNG.normal(0, 3, size=(n, k))
    z[0] = [0.0, 30.0, -30.0]
    for from_logits, pred in ((False, p), (True, z)):
        for ls in (0.0, 0.2):
            record(
                "binary_crossentropy",
                {"from_logits": from_logits, "label_smoothing": ls},
                {"y_true": y, "y_pred": pred},
                via(L.BinaryCrossentropy, from_logits=from_logits, label_smoothing=ls),
            )

    # binary_focal_crossentropy
    for from_logits, pred in ((False, p), (True, z)):
        for balancing in (False, True):
            for alpha, gamma in ((0.25, 2.0), (0.6, 0.0), (0.4, 1.5)):
                record(
                    "binary_focal_crossentropy",
                    {
                        "from_logits": from_logits,
                        "apply_class_balancing": balancing,
                        "alpha": alpha,
                        "gamma": gamma,
                        "label_smoothing": 0.0,
                    },
                    {"y_true": y, "y_pred": pred},
                    via(
                        L.BinaryFocalCrossentropy,
                        from_logits=from_logits,
                        apply_class_balancing=balancing,
                        alpha=alpha,
                        gamma=gamma,
                    ),
                )
    record(
        "binary_focal_crossentropy",
        {
            "from_logits": False,
            "apply_class_balancing": True,
            "alpha": 0.25,
            "gamma": 2.0,
            "label_smoothing": 0.1,
        },
        {"y_true": y, "y_pred": p},
        via(L.BinaryFocalCrossentropy, apply_class_balancing=True, label_smoothing=0.1),
    )

    # categorical / sparse categorical crossentropy and the focal variant
    probs = prob_block(n, c)
    probs[5] *= 0.5  # a row that sums to 0.5: Keras renormalises it
    yi = class_targets(n, c)
    onehot = np.eye(c)[yi]
    soft = prob_block(n, c, zeros=False)
    logits = logits_block(n, c)
    for from_logits, pred in ((False, probs), (True, logits)):
        for ls, target in ((0.0, onehot), (0.1, onehot), (0.0, soft)):
            record(
                "categorical_crossentropy",
                {"from_logits": from_logits, "label_smoothing": ls},
                {"y_true": target, "y_pred": pred},
                via(L.CategoricalCrossentropy, from_logits=from_logits, label_smoothing=ls),
            )
        record(
            "sparse_categorical_crossentropy",
            {"from_logits": from_logits},
            {"y_true": yi, "y_pred": pred},
            via(L.SparseCategoricalCrossentropy, from_logits=from_logits),
        )
        for alpha, gamma, ls in ((0.25, 2.0, 0.0), (1.0, 0.0, 0.0), (0.5, 1.5, 0.1)):
            record(
                "categorical_focal_crossentropy",
                {"from_logits": from_logits, "alpha": alpha, "gamma": gamma, "label_smoothing": ls},
                {"y_true": onehot, "y_pred": pred},
                via(
                    L.CategoricalFocalCrossentropy,
                    from_logits=from_logits,
                    alpha=alpha,
                    gamma=gamma,
                    label_smoothing=ls,
                ),
            )

    # kl_divergence on probabilities (zeros clipped to 1e-7)
    record(
        "kl_divergence",
        {},
        {"y_true": prob_block(n, c), "y_pred": prob_block(n, c)},
        via(L.KLDivergence),
    )

    # poisson (Keras eps 1e-7)
    rate = np.exp(RNG.normal(0, 1, size=(n, k)))
    rate[0] = [0.0, 1e-9, 2.0]
    counts = RNG.poisson(2, size=(n, k)).astype(np.float64)
    record("poisson", {}, {"y_true": counts, "y_pred": rate}, via(L.Poisson))
    return {
        "library": "keras",
        "versions": {
            "keras": keras.__version__,
            "backend": keras.backend.backend(),
            "jax": jax.__version__,
            "numpy": np.__version__,
        },
        "note": "floatx float64, JAX x64, Keras's float64-to-float32 promotion table emptied",
        "cases": cases,
    }


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for name, make in (("torch_losses.json", torch_cases), ("keras_losses.json", keras_cases)):
        data = make()
        data["python"] = platform.python_version()
        (out / name).write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {out / name}: {len(data['cases'])} cases")


if __name__ == "__main__":
    main()
