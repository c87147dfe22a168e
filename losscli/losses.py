"""The Python API: ``mlx.nn.losses`` and scikit-learn regression metrics on NumPy float64.

The fourteen MLX losses keep MLX 0.32's names, argument names, order and defaults (so
``huber_loss`` defaults to ``reduction='none'`` and ``mse_loss`` to ``'mean'``); the regression
metrics keep scikit-learn's signatures and results. Inputs may be NumPy arrays, sequences,
pandas Series/DataFrames or pyarrow Arrays/ChunkedArrays/Tables; everything is computed in
float64 by the kernels of :mod:`losscli.catalogue`. ``mean``/``sum`` results are ``np.float64``
scalars, ``none`` gives an array.

>>> float(mse_loss([1.0, 2.0], [0.0, 0.0]))
2.5
"""

from __future__ import annotations

from losscli.catalogue.classification import (
    binary_cross_entropy,
    cross_entropy,
    hinge_loss,
    kl_div_loss,
    nll_loss,
)
from losscli.catalogue.distributions import (
    gaussian_nll_loss,
    mean_gamma_deviance,
    mean_poisson_deviance,
    mean_tweedie_deviance,
    poisson_loss,
)
from losscli.catalogue.embeddings import (
    cosine_similarity_loss,
    margin_ranking_loss,
    triplet_loss,
)
from losscli.catalogue.regression import (
    huber_loss,
    l1_loss,
    log_cosh_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_pinball_loss,
    mean_squared_log_error,
    mse_loss,
    smooth_l1_loss,
)
from losscli.catalogue.scores import (
    explained_variance_score,
    max_error,
    median_absolute_error,
    r2_score,
    root_mean_squared_error,
    root_mean_squared_log_error,
)

__all__ = [
    "binary_cross_entropy",
    "cosine_similarity_loss",
    "cross_entropy",
    "explained_variance_score",
    "gaussian_nll_loss",
    "hinge_loss",
    "huber_loss",
    "kl_div_loss",
    "l1_loss",
    "log_cosh_loss",
    "margin_ranking_loss",
    "max_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_gamma_deviance",
    "mean_pinball_loss",
    "mean_poisson_deviance",
    "mean_squared_log_error",
    "mean_tweedie_deviance",
    "median_absolute_error",
    "mse_loss",
    "nll_loss",
    "poisson_loss",
    "r2_score",
    "root_mean_squared_error",
    "root_mean_squared_log_error",
    "smooth_l1_loss",
    "triplet_loss",
]
