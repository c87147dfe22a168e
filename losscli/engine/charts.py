"""Chart states fed in the same pass as the losses (``--show``, ``--report``, JSON histograms).

For a loss whose inputs are a prediction and a target of the same shape the histogram is of the
errors ``prediction − target`` (per group too), with the predicted-vs-target 2-D counts; for
other elementwise losses (class axes, embeddings) it is of the per-element loss values. A loss
that names its positive-class probabilities (``LossSpec.calibration``) also gets calibration
bins. Every state merges exactly, so nothing here needs a second read of the data.

The counting runs beside the loss kernels: :meth:`ChartStates.update` hands a large chunk to
a background thread (NumPy releases the GIL in its loops) when the chunk's arrays are the
reader's own (never a buffer the engine reuses), and the next update, or any read of the
states, first waits for it. Chunks are counted one after another in input order, so the counts
are those of a synchronous run; at most one more chunk is alive meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from losscli.catalogue.spec import LossSpec, Params
from losscli.engine.request import ChartData, ChartRequest
from losscli.stats.histograms import (
    Calibration,
    Density2D,
    ErrorHistogram,
    LabelCalibration,
    Workspace,
    update_groups,
    update_pairs,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.float64]
else:
    Array = np.ndarray


def subject_of(spec: LossSpec) -> str | None:
    """What the histogram of ``spec`` counts: errors, loss values, or nothing (metrics
    without elementwise losses and without a prediction/target pair)."""
    roles = [r.name for r in spec.roles]
    labelled = any(r.labels for r in spec.roles)  # class labels: their codes have no error
    if roles[:2] == ["pred", "target"] and spec.paired and not spec.reduces_axis and not labelled:
        return "error"
    if spec.elementwise is not None:
        return "loss"
    return None


#: Chunks with fewer rows are counted on the calling thread (a thread start costs ~0.1 ms).
BACKGROUND_ROWS = 1 << 16


class _Background:
    """One call running on its own thread; :meth:`wait` joins it and raises its error.
    (A plain thread per chunk: ``concurrent.futures`` costs ~20 ms to import.)"""

    def __init__(self, call: Callable[[], None]) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(call,), name="losscli-charts")
        self.thread.start()

    def _run(self, call: Callable[[], None]) -> None:
        try:
            call()
        except BaseException as exc:  # handed to the waiting thread
            self.error = exc

    def wait(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


class ChartStates:
    """The histogram states of one loss (or of several sharing the same inputs)."""

    def __init__(
        self,
        spec: LossSpec,
        params: Params,
        request: ChartRequest,
        weighted: bool,
        losses: Callable[[Any], Array],
    ) -> None:
        self.subject = subject_of(spec)
        self.params = params
        self.losses = losses  # chunk → (k, n) elementwise losses (for subject "loss")
        edges = None if request.bins is None else np.array(request.bins, dtype=np.float64)
        self.template = ErrorHistogram(edges, weighted=weighted)
        self.histogram = self.template.empty_like() if self.subject and request.histogram else None
        self.groups: dict[int, ErrorHistogram] = {}
        self.density = Density2D() if self.subject == "error" and request.density else None
        self.probabilities = spec.calibration
        # class labels as targets (brier_score_loss): the positive class is known at the end
        self.labelled = any(r.labels for r in spec.roles if r.name == "target")
        self.calibration: Calibration | LabelCalibration | None = None
        if spec.calibration is not None and request.calibration:
            n_bins = request.calibration_bins
            self.calibration = LabelCalibration(n_bins) if self.labelled else Calibration(n_bins)
        self._pending: _Background | None = None
        self._work = Workspace()  # slice buffers, reused chunk after chunk (one update at a time)

    def update(
        self,
        chunk: Any,
        inputs: dict[str, Array],
        weights: Array | None,
        group_ids: NDArray[np.int64] | None,
    ) -> None:
        """Add one chunk: ``inputs`` are the loss's role arrays, (k, n) each. Counted in the
        background (chunks of :data:`BACKGROUND_ROWS` rows or more) when every array is a view
        of one column of the chunk (a ``(1, n)`` role;
        several columns are stacked into a buffer the engine reuses) and the histogram is of
        errors (loss values come from the plan's kernel workspace, also reused)."""
        self.settle()
        own = all(a.shape[0] == 1 for a in inputs.values())
        if self.subject == "error" and own and chunk.n >= BACKGROUND_ROWS:
            self._pending = _Background(lambda: self._update(chunk, inputs, weights, group_ids))
        else:
            self._update(chunk, inputs, weights, group_ids)

    def settle(self) -> None:
        """Wait for the chunk being counted in the background (its error raised here)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.wait()

    def _update(
        self,
        chunk: Any,
        inputs: dict[str, Array],
        weights: Array | None,
        group_ids: NDArray[np.int64] | None,
    ) -> None:
        pairs = self.histogram if self.subject == "error" and group_ids is None else None
        if self.histogram is not None and pairs is None:
            if self.subject == "error":
                values = np.subtract(inputs["pred"], inputs["target"])
            else:
                values = self.losses(chunk)
            self.histogram.update(values, weights)
            if group_ids is not None:
                update_groups(self.groups, self.template, values, group_ids, weights)
        if pairs is not None or self.density is not None:
            # errors and the prediction-vs-target grid in one pass over the chunk's slices
            update_pairs(inputs["pred"], inputs["target"], pairs, self.density, weights, self._work)
        if self.calibration is not None and self.probabilities is not None:
            probs = self.probabilities(inputs, self.params)
            self.calibration.update(probs, inputs["target"], weights)

    @property
    def active(self) -> bool:
        """Whether any state is collected."""
        return any(s is not None for s in (self.histogram, self.density, self.calibration))

    def reset(self) -> None:
        """Empty states (a Dask unit ships one set per chunk)."""
        self.settle()
        if self.histogram is not None:
            self.histogram = self.template.empty_like()
        self.groups = {}
        if self.density is not None:
            self.density = Density2D()
        if self.calibration is not None:
            self.calibration = type(self.calibration)(self.calibration.n_bins)

    def payload(self, keys: Sequence[Any]) -> tuple[Any, ...]:
        """The states as plain values, groups by key (``keys[gid]``), to merge elsewhere."""
        self.settle()
        calibration: Any = self.calibration
        if isinstance(calibration, LabelCalibration):  # by label: text codes are per run
            context = self.params["label_context"]
            calibration = (
                calibration.nan,
                {context.label(k): c for k, c in calibration.per_label.items()},
            )
        return (
            None if self.histogram is None else self.histogram.parts(),
            {keys[gid]: state.parts() for gid, state in self.groups.items()},
            self.density,
            calibration,
        )

    def absorb(self, payload: tuple[Any, ...], gid_of: Callable[[Any], int]) -> None:
        """Merge a :meth:`payload` (exact: counts add, the grid coarsens exactly)."""
        self.settle()
        histogram, groups, density, calibration = payload
        if self.histogram is not None and histogram is not None:
            self.histogram.add_parts(histogram)
        for key, parts in groups.items():
            gid = gid_of(key)
            state = self.groups.get(gid)
            if state is None:
                state = self.groups[gid] = self.template.empty_like()
            state.add_parts(parts)
        if self.density is not None and density is not None:
            self.density.merge(density)
        if isinstance(self.calibration, LabelCalibration) and calibration is not None:
            nan, per_label = calibration
            context = self.params["label_context"]
            theirs = LabelCalibration(self.calibration.n_bins)
            theirs.nan = nan
            theirs.per_label = {context.key_of(label): c for label, c in per_label.items()}
            self.calibration.merge(theirs)
        elif isinstance(self.calibration, Calibration) and calibration is not None:
            self.calibration.merge(calibration)

    def compute(self, group_order: Sequence[int]) -> ChartData:
        """The charts, with one histogram per group id of ``group_order`` (empty for a group
        never seen)."""
        self.settle()
        return ChartData(
            subject=self.subject or "",
            histogram=None if self.histogram is None else self.histogram.compute(),
            group_histograms=[self.groups.get(gid, self.template).compute() for gid in group_order]
            if self.histogram is not None
            else [],
            density=None if self.density is None else self.density.compute(),
            calibration=self._calibration(),
        )

    def _calibration(self) -> Any:
        if isinstance(self.calibration, LabelCalibration):
            from losscli.catalogue.labels import positive_key

            if not self.calibration.per_label:
                return Calibration(self.calibration.n_bins).compute()
            positive = positive_key(self.calibration.keys(), self.params)
            return self.calibration.compute(positive)
        return None if self.calibration is None else self.calibration.compute()
