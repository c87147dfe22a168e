"""Engines: a run's requests and plan, column selection, and the local one-pass driver.

``from losscli import engine`` gives the run API (:func:`run` and the request/result types);
other engines (e.g. Dask) live beside :mod:`~losscli.engine.local` and reuse its plan.
"""

from losscli.engine.local import run
from losscli.engine.request import (
    GroupResult,
    LossRequest,
    LossResult,
    Progress,
    RowSink,
    RunOptions,
    output_labels,
)

__all__ = [
    "GroupResult",
    "LossRequest",
    "LossResult",
    "Progress",
    "RowSink",
    "RunOptions",
    "output_labels",
    "run",
]
