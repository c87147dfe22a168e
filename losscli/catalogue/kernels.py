"""Every family's elementwise kernels under one roof, for benchmarks, tests and direct use.

Kernels are pure functions of NumPy float64 arrays returning the unreduced loss; each accepts an
optional preallocated ``out`` buffer (and, where a second buffer saves a temporary, ``scratch``).
Kernels over a vector axis (cross entropy, NLL, KL, cosine similarity, triplet) take ``axis`` and
drop it. They are defined in their family's module; this is an index, not a second home.
"""

from losscli.catalogue.classification import binary_cross_entropy_kernel as binary_cross_entropy
from losscli.catalogue.classification import (
    class_index_violations,
    hinge,
    kl_div,
    nll,
    probability_violations,
)
from losscli.catalogue.classification import cross_entropy_kernel as cross_entropy
from losscli.catalogue.distributions import (
    POISSON_EPS,
    gamma_deviance,
    gaussian_nll,
    poisson,
    poisson_deviance,
    poisson_pred_violations,
    tweedie_deviance,
    tweedie_pred_violations,
    tweedie_target_violations,
    variance_violations,
)
from losscli.catalogue.embeddings import cosine_similarity, margin_ranking, triplet
from losscli.catalogue.regression import (
    MAPE_EPS,
    absolute_error,
    absolute_percentage_error,
    huber,
    l1,
    log_cosh,
    msle_violations,
    pinball,
    smooth_l1,
    squared_error,
    squared_log_error,
)

__all__ = [
    "MAPE_EPS",
    "POISSON_EPS",
    "absolute_error",
    "absolute_percentage_error",
    "binary_cross_entropy",
    "class_index_violations",
    "cosine_similarity",
    "cross_entropy",
    "gamma_deviance",
    "gaussian_nll",
    "hinge",
    "huber",
    "kl_div",
    "l1",
    "log_cosh",
    "margin_ranking",
    "msle_violations",
    "nll",
    "pinball",
    "poisson",
    "poisson_deviance",
    "poisson_pred_violations",
    "probability_violations",
    "smooth_l1",
    "squared_error",
    "squared_log_error",
    "triplet",
    "tweedie_deviance",
    "tweedie_pred_violations",
    "tweedie_target_violations",
    "variance_violations",
]
