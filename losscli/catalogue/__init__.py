"""The catalogue: every loss losscli knows, one module per family.

Each family module (:mod:`~losscli.catalogue.regression`, ``classification``, ``distributions``,
``embeddings``, ``scores``) holds its kernels, registry entries and Python API functions side by
side, so adding a loss touches one module. This package joins their entries into :data:`LOSSES`.
"""

from __future__ import annotations

from losscli.catalogue import (
    classification,
    d2,
    distributions,
    embeddings,
    labels,
    margins,
    probabilities,
    quantiles,
    regression,
    scores,
)
from losscli.catalogue.spec import LossSpec

FAMILIES = (
    regression,
    classification,
    margins,
    probabilities,
    quantiles,
    distributions,
    embeddings,
    scores,
    d2,
    labels,
)

#: The order of ``losscli list`` and the README's table: MLX's losses in MLX's order, then
#: scikit-learn's metrics. A loss not named here follows, family by family.
ORDER = [
    "mse",
    "l1",
    "huber",
    "smooth_l1",
    "log_cosh",
    "binary_cross_entropy",
    "cross_entropy",
    "nll",
    "kl_div",
    "gaussian_nll",
    "hinge",
    "margin_ranking",
    "cosine_similarity",
    "triplet",
    "rmse",
    "mape",
    "msle",
    "rmsle",
    "r2",
    "explained_variance",
    "max_error",
    "pinball",
    "poisson",
    "poisson_deviance",
    "gamma_deviance",
    "tweedie_deviance",
    "median_absolute_error",
    "quantile_absolute_error",
]


def _ordered() -> tuple[LossSpec, ...]:
    specs = [spec for family in FAMILIES for spec in family.LOSSES]
    rank = {name: i for i, name in enumerate(ORDER)}
    return tuple(sorted(specs, key=lambda spec: rank.get(spec.name, len(ORDER))))


LOSSES: tuple[LossSpec, ...] = _ordered()


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
