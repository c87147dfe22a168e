"""Engines: a run's requests and plan, column selection, and the local one-pass driver.

``from losscli import engine`` gives the run API (:func:`run` and the request/result types);
other engines (e.g. Dask) live beside :mod:`~losscli.engine.local` and reuse its plan.
"""

from typing import Any

from losscli.engine import local
from losscli.engine.grouptable import GroupPiece, GroupTable
from losscli.engine.request import (
    GroupResult,
    LossRequest,
    LossResult,
    Progress,
    RowSink,
    RunOptions,
    output_labels,
)


def run(
    requests: Any,
    options: RunOptions,
    *,
    stdin: Any = None,
    progress: Progress | None = None,
    sink: RowSink | None = None,
    dataset: str | None = None,
) -> list[LossResult]:
    """Every requested loss over the input in one pass, on the engine ``options`` names:
    :mod:`~losscli.engine.local` (this process) or :mod:`~losscli.engine.dask` (a cluster; the
    same digits)."""
    if options.engine == "dask":
        from losscli.engine import dask  # distributed loads only for --engine dask

        return dask.run(
            requests, options, stdin=stdin, progress=progress, sink=sink, dataset=dataset
        )
    return local.run(requests, options, stdin=stdin, progress=progress, sink=sink)


__all__ = [
    "GroupPiece",
    "GroupResult",
    "GroupTable",
    "LossRequest",
    "LossResult",
    "Progress",
    "RowSink",
    "RunOptions",
    "output_labels",
    "run",
]
