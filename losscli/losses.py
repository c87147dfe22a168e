"""The Python API: ``mlx.nn.losses``, and the PyTorch, Keras and scikit-learn losses under their
own names, on NumPy float64.

The fourteen MLX losses keep MLX 0.32's names, argument names, order and defaults (so
``huber_loss`` defaults to ``reduction='none'`` and ``mse_loss`` to ``'mean'``); PyTorch's
functional losses (``poisson_nll_loss``, ``soft_margin_loss``, ``multi_margin_loss``, ...),
Keras's (``binary_crossentropy``, ``squared_hinge``, ...) and scikit-learn's metrics
(``r2_score``, ``d2_pinball_score``, ``log_loss``, ``accuracy_score``, ...) keep their library's
signatures, defaults and results. Inputs may be NumPy arrays, sequences, pandas
Series/DataFrames or pyarrow Arrays/ChunkedArrays/Tables; everything is computed in float64 by
the kernels of :mod:`losscli.catalogue`. ``mean``/``sum`` results are ``np.float64`` scalars,
``none`` gives an array.

>>> float(mse_loss([1.0, 2.0], [0.0, 0.0]))
2.5
"""

from __future__ import annotations

from losscli.catalogue import FAMILIES
from losscli.catalogue.api import UndefinedMetricWarning

# Each family module lists its API functions in ``__all__``: a loss added there appears here.
from losscli.catalogue.classification import *  # noqa: F403
from losscli.catalogue.d2 import *  # noqa: F403
from losscli.catalogue.distributions import *  # noqa: F403
from losscli.catalogue.embeddings import *  # noqa: F403
from losscli.catalogue.labels import *  # noqa: F403
from losscli.catalogue.margins import *  # noqa: F403
from losscli.catalogue.probabilities import *  # noqa: F403
from losscli.catalogue.quantiles import *  # noqa: F403
from losscli.catalogue.regression import *  # noqa: F403
from losscli.catalogue.scores import *  # noqa: F403

__all__ = sorted(name for family in FAMILIES for name in family.__all__)
__all__ += ["UndefinedMetricWarning"]
