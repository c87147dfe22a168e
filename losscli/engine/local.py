"""The driver: one pass over the sources, feeding every requested loss's streaming state.

Readers yield bounded Arrow batches; each becomes float64 column views; each loss plan runs its
kernel into reused buffers and adds the partials to its state (and, with ``--group-by``, to
its grouped state: arrays indexed by group code, see :mod:`losscli.stats.grouped`).
A multi-pass state (exact quantiles) then gets more passes: a file is read again, a stream's
values are replayed from a :class:`~losscli.engine.spool.Spool`.
Nothing here prints: results are returned, per-row output goes to a sink."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from losscli.catalogue.workspace import Workspace
from losscli.defaults import NAN_POLICIES
from losscli.engine.chunk import Chunk
from losscli.engine.columns import Selection, select
from losscli.engine.groups import GroupKeys, PerGroupStates
from losscli.engine.intervals import Features, IntervalTracker
from losscli.engine.spool import Spool
from losscli.errors import DataError, EmptyInputError, LossCliError, UsageError
from losscli.io.convert import to_float64, to_labels
from losscli.io.source import Source
from losscli.io.sources import check_same_columns, open_sources
from losscli.stats import (
    SUM_BLOCK,
    LossState,
    MeanState,
    Per,
    Reduction,
    RootMeanState,
    Value,
    accurate_row_sums,
    blocked_loss_sums,
)
from losscli.stats.grouped import (
    BLOCKED_GROUPS,
    GROUPED_STATES,
    GroupedMeanState,
    GroupedR2State,
    GroupedRootMeanState,
)
from losscli.stats.labels import LabelCodes, LabelContext

if TYPE_CHECKING:  # numpy.typing costs ~15 ms of start-up; annotations only
    from numpy.typing import NDArray

    from losscli.engine.charts import ChartStates

    Array = NDArray[np.float64]
else:
    Array = np.ndarray


from losscli.engine.grouptable import GroupTable
from losscli.engine.request import (
    LossRequest,
    LossResult,
    Progress,
    RowSink,
    RunOptions,
)


def _chunks(
    sources: Sequence[Source],
    numeric: Sequence[str],
    other: Sequence[str],
    chunk_size: int,
    progress: Progress | None,
    codes: LabelCodes | None = None,
    as_dictionary: Sequence[str] = (),
) -> Iterator[Chunk]:
    """Chunks of float64 columns; class-label columns (``codes.columns``) are read as they
    are and turned into numbers, text labels into run-wide codes. ``as_dictionary``: group-key
    columns, read dictionary-encoded where the file stores them so."""
    columns = list(dict.fromkeys([*numeric, *other]))
    labels = set() if codes is None else codes.columns
    typed = [c for c in numeric if c not in labels]
    for source in sources:
        first = source.first_row
        size = source.size_bytes or 0
        for batch in source.batches(columns, typed, chunk_size, as_dictionary):
            n = batch.num_rows
            names = batch.schema.names
            numeric_cols = {}
            for c in numeric:
                column = batch.column(names.index(c))
                if c in labels:
                    assert codes is not None
                    values, dictionary = to_labels(column, file=source.label, column=c)
                    numeric_cols[c] = codes.encode(
                        c, values, dictionary, file=source.label, row=first + 1
                    )
                else:
                    numeric_cols[c] = to_float64(column, file=source.label, column=c)
            other_cols = {c: batch.column(names.index(c)) for c in other}
            for c in labels.intersection(numeric):
                # a label column as written, for group keys and --keep (its codes are numeric)
                other_cols[c] = batch.column(names.index(c))
            origin = dict.fromkeys(columns, (source.label, first))
            yield Chunk(n, numeric_cols, other_cols, origin)
            # Drop this batch before the reader is asked for the next one (decoded ahead).
            del batch, numeric_cols, other_cols
            first += n
            if progress is not None:
                progress.advance(n, 0)
        if progress is not None and size:
            progress.advance(0, size)


def _aligned(
    left: Iterator[Chunk],
    right: Iterator[Chunk],
    labels: tuple[str, str],
    option: str = "--targets-from",
) -> Iterator[Chunk]:
    """Zip two row-aligned chunk streams (``--targets-from``), re-slicing to common lengths."""
    a = next(left, None)
    b = next(right, None)
    rows = 0
    while a is not None and b is not None:
        n = min(a.n, b.n)
        a_head, b_head = (a, b) if a.n == b.n else (a.head(n), b.head(n))
        yield Chunk(
            n,
            {**a_head.numeric, **b_head.numeric},
            {**a_head.other, **b_head.other},
            {**a_head.origin, **b_head.origin},
        )
        rows += n
        a = a.tail(n) if a.n > n else next(left, None)
        b = b.tail(n) if b.n > n else next(right, None)
    if a is not None or b is not None:
        left_rows = rows + (sum(c.n for c in _rest(a, left)) if a is not None else 0)
        right_rows = rows + (sum(c.n for c in _rest(b, right)) if b is not None else 0)
        raise DataError(
            f"row counts differ: {labels[0]} has {left_rows} rows, "
            f"{option} {labels[1]} has {right_rows}"
            + ("; --confidence pairs them row by row" if option == "--baseline" else "")
        )


def _window(chunks: Iterator[Chunk], skip: int, take: int) -> Iterator[Chunk]:
    """The rows ``skip … skip + take − 1`` of a chunk stream (a Dask unit's rows of a
    row-aligned baseline file); reading stops there."""
    for chunk in chunks:
        if skip >= chunk.n:
            skip -= chunk.n
            continue
        if skip:
            chunk, skip = chunk.tail(skip), 0
        if chunk.n >= take:
            if take:
                yield chunk.head(take) if chunk.n > take else chunk
            return
        take -= chunk.n
        yield chunk


def _rest(current: Chunk, stream: Iterator[Chunk]) -> Iterator[Chunk]:
    yield current
    yield from stream


class _Plan:
    """A loss with its resolved columns, its reusable buffers and its states."""

    def __init__(
        self,
        request: LossRequest,
        selection: Selection,
        options: RunOptions,
        codes: LabelCodes | None = None,
    ) -> None:
        self.spec = request.spec
        self.params = request.params
        label_roles = [r.name for r in self.spec.roles if r.labels]
        if label_roles:
            # Class-label columns are read as labels (numbers or text codes); the loss's
            # kernels, checks and states see the run's codes through its parameters.
            codes = LabelCodes() if codes is None else codes
            for role in label_roles:
                codes.columns.update(selection.roles[role])
            targets, pred = selection.roles["target"], selection.roles["pred"]
            hard = self.spec.roles[0].labels and len(pred) == len(targets)
            context = LabelContext(codes, targets, pred, hard)
            self.params = {**request.params, "label_context": context}
        self.selection = selection
        self.options = options
        self.workspace = Workspace()
        self.block_workspace = Workspace()  # cache-sized buffers for the blocked fast path
        first_role = self.spec.roles[0].name
        self.outputs = 1 if self.spec.reduces_axis else len(selection.roles[first_role])
        self.state = self.spec.new_state(self.outputs, self.params)
        # exact quantiles: more passes over the values (see Pass.later_passes)
        self.multi_pass: bool = getattr(self.state, "multi_pass", False)
        self.spool: Spool | None = None  # a stream's values, kept for the later passes
        self.grouped: Any = None  # the grouped counterpart of ``state``, with --group-by
        # R² by group: its residual sums are those of a mean-squared-error plan of the run
        self.residual_elsewhere = False
        if options.group_by:
            self.grouped = self.new_grouped()
        self.charts: ChartStates | None = None  # --show / --report: see _chart_states
        self.input_columns = [c for cols in selection.roles.values() for c in cols]
        # --confidence: per-row features for interval states (this plan's or a paired one's)
        self.features: Features | None = None
        self.tracker: IntervalTracker | None = None

    def feature_rows(self, chunk: Chunk, weighted: bool) -> tuple[Array, Array | None]:
        """(features, elementwise losses or None) of a chunk for the interval states; the
        losses are handed to :meth:`consume` so the kernel runs once."""
        assert self.features is not None
        if self.spec.elementwise is None:
            return self.features.rows(None, self.inputs(chunk)), None
        losses = self.elementwise(chunk)
        inputs = self.inputs(chunk) if self.features.needs_inputs else None
        rows = self.features.rows(losses, inputs)
        if weighted and np.shares_memory(rows, losses):  # consume scales losses in place
            rows = rows.copy()
        return rows, losses

    def raise_non_finite(self, chunk: Chunk, losses: Array | None) -> None:
        """A non-finite value turned up in this loss's chunk: say where and why (the losses
        are computed again, unweighted: the ones at hand may have been weighted in place)."""
        if losses is not None:
            losses = np.array(self.elementwise(chunk), copy=True)
        _raise_non_finite(
            chunk,
            self.input_columns,
            losses,
            weight=self.selection.weight,
            roles=self.selection.roles,
        )

    def sum_overflow(self, file: str) -> DataError:
        """The exact sum of finite losses left float64's range (``math.fsum`` overflows)."""
        return DataError(
            f"the sum of the {self.spec.name} losses overflows float64",
            file=file,
            column=self.input_columns[0],
        )

    def inputs(self, chunk: Chunk) -> dict[str, Array]:
        """Role → (k, n) float64 array: a zero-copy view for one column, stacked otherwise."""
        out: dict[str, Array] = {}
        for role, cols in self.selection.roles.items():
            if len(cols) == 1:
                out[role] = chunk.numeric[cols[0]].reshape(1, chunk.n)
            else:
                buf = self.workspace.get("in:" + role, (len(cols), chunk.n))
                for j, c in enumerate(cols):
                    buf[j] = chunk.numeric[c]
                out[role] = buf
        return out

    def elementwise(self, chunk: Chunk) -> Array:
        assert self.spec.elementwise is not None
        return self.spec.elementwise(self.inputs(chunk), self.params, self.workspace)

    def new_grouped(self) -> Any:
        """An empty grouped state: arrays by group code, or one state per group for a
        statistic without an array form."""
        if self.multi_pass:  # exact quantiles: one histogram slot per group and output
            return self.state.grouped()  # type: ignore[attr-defined]
        kind = GROUPED_STATES.get(type(self.state).__name__)
        if kind is not None:
            grouped = kind(self.outputs)
            if self.residual_elsewhere:
                grouped.residual_elsewhere = True
            return grouped
        return PerGroupStates(lambda: self.spec.new_state(self.outputs, self.params))

    def consume(
        self,
        chunk: Chunk,
        weights: Array | None,
        groups: tuple[NDArray[np.intp], int] | None,
        strict: bool,
        losses: Array | None = None,
    ) -> None:
        """Add the chunk to the state (and, with ``groups`` = (code per row, number of
        groups), to the grouped state); with ``strict``, a non-finite partial is located.
        ``losses``: the chunk's elementwise losses when already computed."""
        spec = self.spec
        if spec.checks:
            self.check_domain(chunk)
        if self.multi_pass:
            self._consume_first_pass(chunk, weights, groups, strict, losses)
            return
        if spec.elementwise is None:
            inputs = self.inputs(chunk)
            _update_statistic(self.state, inputs, weights)
            if groups is not None:
                self.grouped.update(inputs, weights, *groups)
            return
        if spec.denominator is not None:
            self.consume_with_denominator(chunk, weights, groups, strict)
            return
        if losses is None:
            if self.consume_blocked(chunk, weights, strict, groups):
                return
            losses = self.elementwise(chunk)
        if groups is not None:
            if strict and not np.isfinite(np.sum(losses)) and not np.isfinite(losses).all():
                self.raise_non_finite(chunk, losses)
            if isinstance(self.grouped, GroupedMeanState):
                assert isinstance(self.state, MeanState)
                self.grouped.add_chunk(losses, weights, *groups)  # weighs ``losses`` in place
                self.state.add_sums(accurate_row_sums(losses), weights, chunk.n)
            else:
                _add_losses(self.state, losses, weights)
                self.grouped.add_chunk(losses, weights, *groups)
            return
        partial = _add_losses(self.state, losses, weights)
        if strict and not (np.isfinite(partial).all()):
            self.raise_non_finite(chunk, losses)

    def consume_with_denominator(
        self,
        chunk: Chunk,
        weights: Array | None,
        groups: tuple[NDArray[np.intp], int] | None,
        strict: bool,
    ) -> None:
        """A loss with its own per-row weight in the mean's denominator (PyTorch's class-weighted
        cross entropy): ``Σ s·l / Σ s·d`` with sample weights ``s``."""
        assert self.spec.denominator is not None
        denominator = self.spec.denominator(self.inputs(chunk), self.params)
        losses = self.elementwise(chunk)
        if strict and not np.isfinite(losses).all():
            self.raise_non_finite(chunk, losses)
        if weights is not None:
            np.multiply(losses, weights, out=losses)
            denominator = np.multiply(denominator, weights)
        if groups is not None:
            assert isinstance(self.grouped, GroupedMeanState)
            self.grouped.add_sums(losses, denominator, *groups)
        assert isinstance(self.state, MeanState)
        self.state.add_sums(accurate_row_sums(losses), denominator, chunk.n)

    def _consume_first_pass(
        self,
        chunk: Chunk,
        weights: Array | None,
        groups: tuple[NDArray[np.intp], int] | None,
        strict: bool,
        losses: Array | None = None,
    ) -> None:
        if losses is None:
            losses = self.elementwise(chunk)
        partial = _add_losses(self.state, losses, weights)
        if strict and not np.isfinite(partial).all():
            self.raise_non_finite(chunk, losses)
        codes = None
        if groups is not None:
            codes = groups[0]
            self.grouped.add_chunk(losses, weights, *groups)
        if self.spool is not None:
            self.spool.append(losses, weights, codes)

    # -- the passes after the first (multi-pass states) --------------------------------------

    def _pass_states(self) -> list[Any]:
        return [s for s in (self.state, self.grouped) if s is not None]

    def start_pass(self) -> bool:
        """Start the next pass of every state that needs one; False when all are done."""
        started = False
        for state in self._pass_states():
            if state.needs_pass():
                state.start_pass()
                started = True
        return started

    def feed_pass(self, losses: Array, weights: Array | None, group_ids: Any) -> None:
        for state in self._pass_states():
            if state.current is not None:
                state.add_chunk(losses, weights, None if state is self.state else group_ids)

    def finish_pass(self) -> None:
        for state in self._pass_states():
            if state.current is not None:
                state.finish_pass()

    def consume_blocked(
        self,
        chunk: Chunk,
        weights: Array | None,
        strict: bool,
        groups: tuple[NDArray[np.intp], int] | None = None,
    ) -> bool:
        """The fast path for a (weighted) mean, ungrouped or over few groups: kernel and sums
        run block by block in cache (:func:`losscli.stats.blocked_loss_sums`,
        :meth:`GroupedMeanState.add_blocks`). False if it does not apply."""
        state = self.state
        if not isinstance(state, MeanState) or chunk.n <= SUM_BLOCK:
            return False
        grouped = self.grouped
        if groups is not None and not (
            isinstance(grouped, GroupedMeanState) and groups[1] <= BLOCKED_GROUPS
        ):
            return False
        inputs = self.inputs(chunk)
        elementwise = self.spec.elementwise
        assert elementwise is not None

        def block_losses(start: int, stop: int) -> Array:
            part = {role: values[:, start:stop] for role, values in inputs.items()}
            losses = elementwise(part, self.params, self.block_workspace)
            if weights is not None:
                np.multiply(losses, weights[start:stop], out=losses)
            return losses

        if groups is None:
            partial = blocked_loss_sums(block_losses, chunk.n, self.outputs)
        else:
            partial = grouped.add_blocks(block_losses, weights, *groups)
        if strict and not np.isfinite(partial).all():
            self.raise_non_finite(chunk, self.elementwise(chunk))
        state.add_sums(partial, weights, chunk.n)
        return True

    def check_domain(self, chunk: Chunk) -> None:
        """Raise a DataError at the first value outside the loss's domain (NaN is not judged
        here: the NaN policy is)."""
        inputs = self.inputs(chunk)
        for check in self.spec.checks:
            with np.errstate(invalid="ignore"):
                mask = check.violations(inputs, self.params)
            if not mask.any():
                continue
            mask2d = mask.reshape(-1, chunk.n)
            rows_bad = mask2d.any(axis=0)
            index = int(np.argmax(rows_bad))
            j = int(np.argmax(mask2d[:, index]))
            column = self.selection.roles[check.role][j]
            value: Any = float(chunk.numeric[column][index])
            context = self.params.get("label_context")
            if context is not None and column in context.codes.columns:
                value = context.codes.label(column, value)  # the label as written
            label, row = chunk.where(column, index)
            raise DataError(
                f"{check.message} (got {value!r})", file=label, column=_shown(column), row=row
            )

    def row_values(self, chunk: Chunk, weights: Array | None, strict: bool) -> dict[str, Array]:
        """Per-row output for ``--reduction none`` (one column per output) or ``--per row``;
        with ``strict``, domain errors and non-finite losses are reported as when reducing."""
        # The sink writes each chunk before the next is computed, so the plan's reused buffers
        # are handed over without copying.
        if self.spec.checks:
            self.check_domain(chunk)
        losses = self.elementwise(chunk)
        if strict and not np.isfinite(losses).all():
            self.raise_non_finite(chunk, losses)
        if weights is not None:
            np.multiply(losses, weights, out=losses)
        name = self.spec.name
        if self.options.per == "row" or losses.shape[0] == 1:
            values = losses.mean(axis=0) if losses.shape[0] > 1 else losses[0]
            return {name: values}
        preds = self.selection.roles[self.spec.roles[0].name]
        return {f"{name}_{col}": losses[j] for j, col in enumerate(preds)}


def _add_losses(state: LossState, losses: Array, weights: Array | None) -> Array:
    add: Callable[[Array, Array | None], Array] = state.add_chunk  # type: ignore[attr-defined]
    return add(losses, weights)


def _update_statistic(state: LossState, inputs: dict[str, Array], weights: Array | None) -> None:
    update: Callable[..., None] = state.update  # type: ignore[attr-defined]
    update(inputs, weights)


def _check_weights(chunk: Chunk, column: str, weights: Array, strict: bool) -> None:
    """Weights must be finite (unless ``--nan propagate``) and not negative (a weighted mean
    with negative weights is no mean). Checked here for every statistic, so that none (a
    weighted median, say) can turn a NaN weight into a quiet wrong number."""
    if strict and not np.isfinite(np.sum(weights)):
        _raise_non_finite(chunk, [], None, weight=column)
    negative = weights < 0
    if negative.any():  # -inf is reported as infinite, where NaN and inf are
        negative &= np.isfinite(weights)
    if negative.any():
        index = int(np.argmax(negative))
        label, row = chunk.where(column, index)
        raise DataError(
            f"negative weight ({float(weights[index])!r}): weights must be ≥ 0",
            file=label,
            column=column,
            row=row,
        )


def _first_non_finite(chunk: Chunk, columns: Sequence[str]) -> tuple[str, int] | None:
    """(column, index) of the earliest row holding NaN/inf in any of ``columns``."""
    best: tuple[str, int] | None = None
    for col in dict.fromkeys(columns):
        bad = np.flatnonzero(~np.isfinite(chunk.numeric[col]))
        if bad.size and (best is None or bad[0] < best[1]):
            best = (col, int(bad[0]))
    return best


def _raise_non_finite(
    chunk: Chunk,
    columns: Sequence[str],
    losses: Array | None,
    *,
    weight: str | None = None,
    roles: Mapping[str, list[str]] | None = None,
) -> None:
    """Locate why a chunk gave a non-finite value and raise a DataError naming the file, the
    column, the row and the value: a missing or infinite input, a missing or infinite weight,
    a loss that overflows float64 for finite inputs, or a loss × weight that does."""
    checked = [*columns, weight] if weight is not None else list(columns)
    hit = _first_non_finite(chunk, checked)
    if hit is not None:
        col, index = hit
        value = chunk.numeric[col][index]
        label, row = chunk.where(col, index)
        what = "weight" if col == weight else "value"
        if math.isnan(value):
            message = f"missing {what} (empty cell or NaN); use --nan skip to drop such rows"
        else:
            message = f"infinite {what} ({value})"
        raise DataError(message, file=label, column=_shown(col), row=row)
    if losses is None:
        return
    finite = np.isfinite(losses)
    bad_rows = np.flatnonzero(~finite.all(axis=0))
    first = columns[0]
    if bad_rows.size:
        index = int(bad_rows[0])
        output = int(np.argmin(finite[:, index]))
        inputs = roles or {"": [first]}
        column = next(iter(inputs.values()))[min(output, len(next(iter(inputs.values()))) - 1)]
        shown = ", ".join(
            f"{role or col}={float(chunk.numeric[col][index])!r}"
            for role, cols in inputs.items()
            for col in [cols[min(output, len(cols) - 1)]]
        )
        label, row = chunk.where(column, index)
        raise DataError(
            f"the loss overflows float64 for finite inputs ({shown})",
            file=label,
            column=_shown(column),
            row=row,
        )
    if weight is not None:
        weighted = losses * chunk.numeric[weight]
        bad = np.flatnonzero(~np.isfinite(weighted).all(axis=0))
        if bad.size:
            index = int(bad[0])
            label, row = chunk.where(weight, index)
            raise DataError(
                f"loss × weight overflows float64 (loss {float(np.max(np.abs(losses[:, index])))!r}"
                f", weight {float(chunk.numeric[weight][index])!r})",
                file=label,
                column=weight,
                row=row,
            )
    label, row = chunk.where(first, 0)
    raise DataError(
        f"the sum of the losses overflows float64 (in the chunk from row {row})",
        file=label,
        column=first,
    )


def _resolve(
    requests: Sequence[LossRequest],
    options: RunOptions,
    sources: Sequence[Source],
    target_sources: Sequence[Source] | None,
) -> list[Selection]:
    names = sources[0].column_names()
    label = sources[0].label
    if target_sources:
        names = names + [n for n in target_sources[0].column_names() if n not in names]
        label = f"{label} + {target_sources[0].label}"
    selections = []
    for request in requests:
        selection = select(
            request.spec.roles,
            request.columns,
            names,
            file=label,
            weight=options.weight,
            group_by=options.group_by,
            keep=options.keep,
            paired=request.spec.paired,
        )
        selections.append(selection)
    return selections


#: Prefix of the columns read from ``RunOptions.paired_file`` (a baseline's predictions read
#: row-aligned with the input, for paired confidence intervals): they never clash with the
#: input's own columns.
PAIRED = "\x00baseline:"


def _resolve_paired(
    requests: Sequence[LossRequest],
    options: RunOptions,
    selections: list[Selection],
    paired_sources: Sequence[Source],
) -> None:
    """Re-select the ``options.paired_requests`` against the paired file (their roles only;
    weights and groups come from the input), under the :data:`PAIRED` prefix."""
    names = paired_sources[0].column_names()
    for i in options.paired_requests:
        request = requests[i]
        own = select(
            request.spec.roles,
            request.columns,
            names,
            file=paired_sources[0].label,
            paired=request.spec.paired,
        )
        roles = {role: [PAIRED + c for c in cols] for role, cols in own.roles.items()}
        main = selections[i]
        selections[i] = Selection(roles, main.weight, main.group_by, main.keep)


def _shown(column: str) -> str:
    """A column's name as the user wrote it (without the :data:`PAIRED` prefix)."""
    return column.removeprefix(PAIRED)


def _unpaired(union: Selection) -> Selection:
    roles = {k: [c for c in v if not c.startswith(PAIRED)] for k, v in union.roles.items()}
    return Selection(roles, union.weight, union.group_by, union.keep)


def _paired_columns(union: Selection) -> list[str]:
    return [c[len(PAIRED) :] for c in union.numeric if c.startswith(PAIRED)]


def _prefixed(chunk: Chunk) -> Chunk:
    return Chunk(
        chunk.n,
        {PAIRED + k: v for k, v in chunk.numeric.items()},
        {},
        {PAIRED + k: v for k, v in chunk.origin.items()},
    )


def _validate(requests: Sequence[LossRequest], options: RunOptions) -> None:
    if options.nan not in NAN_POLICIES:
        raise UsageError(f"--nan must be one of {', '.join(NAN_POLICIES)}")
    if options.chunk_size < 1:
        raise UsageError("--chunk-size must be a positive number of rows")
    for request in requests:
        spec = request.spec
        if options.reduction not in spec.reductions:
            raise UsageError(
                f"{spec.name} does not support --reduction {options.reduction} "
                f"(supported: {', '.join(spec.reductions)})"
            )
        if options.per not in spec.pers:
            raise UsageError(
                f"{spec.name} does not support --per {options.per} "
                f"(supported: {', '.join(spec.pers)})"
            )
        if options.weight and not spec.weighted:
            raise UsageError(f"{spec.name} does not take sample weights (--weight)")
        for param in spec.params:
            problem = param.check(request.params.get(param.name, param.default))
            if problem:
                raise UsageError(problem)
        if spec.weighted_check is not None:
            problem = spec.weighted_check(
                {**spec.defaults(), **request.params}, bool(options.weight)
            )
            if problem:
                raise UsageError(problem)


def _split_sources(
    sources: Sequence[Source], selection: Selection, target_sources: Sequence[Source] | None
) -> tuple[list[str], list[str], list[str], list[str]]:
    """Which numeric/other columns come from the main input and which from --targets-from."""
    if not target_sources:
        return selection.numeric, selection.other, [], []
    main_names = set(sources[0].column_names())
    tnames = set(target_sources[0].column_names())
    first_role = next(iter(selection.roles))
    main_numeric = [
        c
        for c in selection.numeric
        if c in main_names and (c in selection.roles[first_role] or c not in tnames)
    ]
    target_numeric = [c for c in selection.numeric if c not in main_numeric]
    main_other = [c for c in selection.other if c in main_names]
    target_other = [c for c in selection.other if c not in main_names]
    return main_numeric, main_other, target_numeric, target_other


def run(
    requests: Sequence[LossRequest],
    options: RunOptions,
    *,
    stdin: Any = None,
    progress: Progress | None = None,
    sink: RowSink | None = None,
) -> list[LossResult]:
    """Stream the input once through every requested loss and return one result each.

    With a ``sink`` (``--reduction none`` or ``--per row`` with ``none``), per-row values are
    written in input order instead of being reduced; the results then carry only counts.
    """
    _validate(requests, options)
    with np.errstate(all="ignore"):  # non-finite values are reported as data errors instead
        return _run(requests, options, stdin, progress, sink)


def _run(
    requests: Sequence[LossRequest],
    options: RunOptions,
    stdin: Any,
    progress: Progress | None,
    sink: RowSink | None,
) -> list[LossResult]:
    sources, target_sources = open_inputs(options, stdin)
    paired_sources = None
    if options.paired_file:
        paired_sources = open_sources([options.paired_file], input_format=None, stdin=stdin)
    one = Pass(requests, options, sources, target_sources, paired_sources=paired_sources)
    if sink is None:
        one.spool_streams()
    try:
        one.feed(one.chunks(progress), sink)
        return one.results()
    finally:
        one.close()


def open_inputs(options: RunOptions, stdin: Any = None) -> tuple[list[Source], list[Source] | None]:
    """The run's sources and, with ``--targets-from``, the targets' sources."""
    sources = open_sources(
        options.files, input_format=options.input_format, stdin=stdin, anonymous=options.anon
    )
    target_sources = (
        open_sources([options.targets_from], input_format=None, stdin=stdin, anonymous=options.anon)
        if options.targets_from
        else None
    )
    for source in [*sources, *(target_sources or [])]:
        source.set_dialect(options.delimiter, options.decimal_comma)
    return sources, target_sources


class Pass:
    r"""One pass over sources: the resolved columns, each loss's plan and states, the group keys
    and the row counts. The local engine runs one pass over every source; the Dask engine runs
    one per unit of work on a worker (with the client's ``selections``) and :meth:`absorb`\ s
    their states, in plan order, into the client's pass."""

    def __init__(
        self,
        requests: Sequence[LossRequest],
        options: RunOptions,
        sources: list[Source],
        target_sources: list[Source] | None,
        selections: list[Selection] | None = None,
        *,
        check_columns: bool = True,
        paired_sources: list[Source] | None = None,
    ) -> None:
        self.options = options
        self.sources = sources
        self.target_sources = target_sources
        self.paired_sources = paired_sources
        if selections is None:
            selections = _resolve(requests, options, sources, target_sources)
            if paired_sources:
                _resolve_paired(requests, options, selections, paired_sources)
        self.selections = selections
        self.union = union = Selection(
            roles={
                f"{i}:{role}": cols
                for i, s in enumerate(selections)
                for role, cols in s.roles.items()
            },
            weight=options.weight and selections[0].weight,
            group_by=selections[0].group_by,
            keep=selections[0].keep,
        )
        self.columns = _split_sources(sources, _unpaired(union), target_sources)
        if check_columns and paired_sources:
            check_same_columns(paired_sources, _paired_columns(union))
        if check_columns:
            numeric, other, t_numeric, t_other = self.columns
            check_same_columns(sources, numeric + other)
            if target_sources:
                check_same_columns(target_sources, t_numeric + t_other)
        self.codes = codes = LabelCodes()  # text class labels → run-wide codes
        self.plans = [
            _Plan(r, s, options, codes) for r, s in zip(requests, selections, strict=True)
        ]
        self.requests = requests
        self.featured = _attach_trackers(requests, self.plans, options)
        self.charted = (  # the plans feeding chart states (--show, --report)
            _chart_states(self.plans, options)
            if options.charts is not None and options.reduction != "none"
            else []
        )
        self.keys = GroupKeys(union.group_by) if union.group_by else None
        # plans whose statistics another plan gathers already (mse and rmse): index → theirs
        self.twins = {} if self.featured else _twins(self.plans)
        # grouped R² plans whose residual sums a mean-squared-error plan gathers: index → its
        self.residual_twins = {} if self.featured else _residual_twins(self.plans, self.twins)
        for i in self.residual_twins:
            self.plans[i].residual_elsewhere = self.plans[i].grouped.residual_elsewhere = True
        self.rows = self.skipped = 0
        # --engine dask: the input's rows before this pass's first (the bootstrap's positions)
        self.row_offset = 0
        # --engine dask: the rows of the paired baseline stream to skip, then to take
        self.paired_window: tuple[int, int] | None = None
        self.notes: list[str] = []  # said on stderr by the command line (e.g. spooled values)

    # -- multi-pass states (exact quantiles) ------------------------------------------------

    def spool_streams(self) -> None:
        """When an input cannot be read twice (stdin, a pipe), keep each multi-pass plan's
        values for its later passes: in memory up to ``--memory-limit``, then on disk."""
        multi = [plan for plan in self.plans if plan.multi_pass]
        inputs = [*self.sources, *(self.target_sources or []), *(self.paired_sources or [])]
        if not multi or all(source.path is not None for source in inputs):
            return
        share = max(self.options.memory_limit // len(multi), 1)
        for plan in multi:
            plan.spool = Spool(share, on_spill=self._spill_note(plan))

    def _spill_note(self, plan: _Plan) -> Callable[[int], None]:
        def note(limit: int) -> None:
            self.notes.append(
                f"{plan.spec.name}: the values from {_label(self.sources)} exceed "
                f"--memory-limit ({_size_text(limit)}); spooling them to a temporary file "
                "for the next pass"
            )

        return note

    def later_passes(self) -> None:
        """Run passes until every multi-pass state has its answer: a plan with a spool replays
        it, the others share one fresh read of the sources per pass (the same chunks as the
        first pass, minus the rows ``--nan skip`` dropped, with the same group codes)."""
        multi = [plan for plan in self.plans if plan.multi_pass]
        while True:
            pending = [plan for plan in multi if plan.start_pass()]
            if not pending:
                break
            reading = [plan for plan in pending if plan.spool is None]
            for plan in pending:
                if plan.spool is not None:
                    for losses, weights, group_ids in plan.spool.replay():
                        plan.feed_pass(losses, weights, group_ids)
            if reading:
                for chunk, weights, group_ids in self._read_again():
                    for plan in reading:
                        plan.feed_pass(plan.elementwise(chunk), weights, group_ids)
            for plan in pending:
                plan.finish_pass()

    def _read_again(self) -> Iterator[tuple[Chunk, Array | None, Any]]:
        weight_col, keys = self.union.weight, self.keys
        for chunk in self.chunks():
            if self.options.nan == "skip":
                chunk, _ = _drop_missing(chunk, self.union.numeric)
                if chunk.n == 0:
                    continue
            weights = chunk.numeric[weight_col] if weight_col else None
            yield chunk, weights, keys.chunk_codes(chunk) if keys is not None else None

    def close(self) -> None:
        for plan in self.plans:
            if plan.spool is not None:
                plan.spool.close()
                plan.spool = None

    def chunks(self, progress: Progress | None = None) -> Iterator[Chunk]:
        numeric, other, t_numeric, t_other = self.columns
        size = self.options.chunk_size
        keys = [] if self.keys is None else self.keys.columns
        plain = self.codes.columns | set(self.union.keep)  # these stay as written
        as_dictionary = [c for c in keys if c in other and c not in plain]
        chunks = _chunks(self.sources, numeric, other, size, progress, self.codes, as_dictionary)
        if self.target_sources:
            chunks = _aligned(
                chunks,
                _chunks(self.target_sources, t_numeric, t_other, size, None, self.codes),
                (self.sources[0].label, self.target_sources[0].label),
            )
        if self.paired_sources:
            paired = _chunks(
                self.paired_sources, _paired_columns(self.union), [], size, None, self.codes
            )
            if self.paired_window is not None:
                paired = _window(paired, *self.paired_window)
            labels = (self.sources[0].label, self.paired_sources[0].label)
            chunks = _aligned(chunks, map(_prefixed, paired), labels, "--baseline")
        return chunks

    def feed(self, chunks: Iterator[Chunk], sink: RowSink | None = None) -> None:
        """Run every chunk through every plan (or, with a ``sink``, write per-row values)."""
        options, union, plans, keys = self.options, self.union, self.plans, self.keys
        weight_col = union.weight
        strict = options.nan != "propagate"
        all_numeric = union.numeric
        # Elementwise means find NaN/inf through their (free) partial sums, grouped or not;
        # everything else checks each input column's sum first (one cheap pass) and locates
        # on failure.
        needs_input_check = strict and (
            sink is not None
            or (
                keys is not None and not all(isinstance(p.grouped, GroupedMeanState) for p in plans)
            )
            or any(p.spec.elementwise is None or p.spec.checks for p in plans)
        )
        if sink is not None:
            sink.open(list(union.keep) + [name for p in plans for name in _row_names(p)])
        pending = iter(chunks)
        while True:
            # Unbind the previous chunk before the next is read: the reader decodes ahead, and
            # a chunk kept alive meanwhile is one more row group in memory (~16 MiB at 1M rows).
            # Its group codes too: 8 MiB more while the next chunk's are made.
            chunk = weights = groups = codes = None
            chunk = next(pending, None)
            if chunk is None:
                break
            read = self.rows + self.skipped  # rows of this pass before the chunk, as read
            if options.nan == "skip":
                chunk, dropped = _drop_missing(chunk, all_numeric)
                self.skipped += dropped
                if chunk.n == 0:
                    continue
            if needs_input_check and not all(
                np.isfinite(np.sum(chunk.numeric[c])) for c in all_numeric
            ):
                _raise_non_finite(chunk, all_numeric, None, weight=weight_col)
            weights = chunk.numeric[weight_col] if weight_col else None
            if weight_col and weights is not None:
                _check_weights(chunk, weight_col, weights, strict)
            self.rows += chunk.n
            if sink is not None:
                values: dict[str, Array] = {}
                for plan in plans:
                    values.update(plan.row_values(chunk, weights, strict))
                kept = {c: chunk.other.get(c, chunk.numeric.get(c)) for c in union.keep}
                sink.write(kept, values)
                continue
            groups = None if keys is None else (keys.chunk_codes(chunk), keys.size)
            codes = None if groups is None else groups[0]
            for plan in self.charted:  # the histograms, from the same chunk (no second read)
                assert plan.charts is not None
                plan.charts.update(chunk, plan.inputs(chunk), weights, codes)
            if self.featured:  # --confidence: the chunk as read starts at row `start` of the input
                start = self.row_offset + read
                _consume_with_intervals(plans, self.featured, chunk, weights, groups, strict, start)
                continue
            for i, plan in enumerate(plans):
                if i in self.twins:
                    continue  # its twin's statistics become its own (see results)
                try:
                    plan.consume(chunk, weights, groups, strict)
                except OverflowError:
                    raise plan.sum_overflow(chunk.where(plan.input_columns[0], 0)[0]) from None
                except LossCliError as exc:
                    raise _with_file(exc, chunk.where(plan.input_columns[0], 0)[0]) from None
        if sink is not None:
            sink.close()

    def restart(self) -> None:
        """Fresh, empty states (the group keys seen so far are kept)."""
        for plan in self.plans:
            plan.state = plan.spec.new_state(plan.outputs, plan.params)
            if plan.grouped is not None:
                plan.grouped = plan.new_grouped()
            if plan.tracker is not None:
                plan.tracker.reset()
        for plan in self.charted:
            assert plan.charts is not None
            plan.charts.reset()
        self.rows = self.skipped = 0

    def states(
        self,
    ) -> tuple[int, int, list[LossState], tuple[GroupKeys, list[Any]] | None, list[Any], list[Any]]:
        """(rows, skipped rows, each plan's state, the group keys with each plan's grouped
        state, the chart states as plain values, each plan's interval states or None): what a
        Dask unit sends back."""
        grouped = None
        if self.keys is not None:
            grouped = (self.keys, [plan.grouped for plan in self.plans])
        keys = self.keys.raw_keys() if self.keys is not None else []
        charts = [plan.charts.payload(keys) for plan in self.charted if plan.charts is not None]
        intervals = [None if p.tracker is None else p.tracker.payload() for p in self.plans]
        return (
            self.rows,
            self.skipped,
            [plan.state for plan in self.plans],
            grouped,
            charts,
            intervals,
        )

    def absorb(
        self,
        rows: int,
        skipped: int,
        states: Sequence[LossState],
        grouped: tuple[GroupKeys, list[Any]] | None,
        charts: Sequence[tuple[Any, ...]] = (),
        intervals: Sequence[Any] = (),
    ) -> None:
        """Merge another pass's :meth:`states` into this one (exact sums: the digits do not
        depend on how the rows were split). Group codes differ between passes: theirs are
        mapped onto ours through the keys."""
        self.rows += rows
        self.skipped += skipped
        if rows == 0:
            return
        for plan, payload in zip(self.charted, charts, strict=True):
            assert plan.charts is not None
            plan.charts.absorb(payload, self._gid)
        for plan, state in zip(self.plans, states, strict=True):
            plan.state.merge(state)
        remap = None
        if grouped is not None:
            assert self.keys is not None
            keys, theirs = grouped
            remap = self.keys.merge(keys)
            for plan, other in zip(self.plans, theirs, strict=True):
                plan.grouped.merge(other, remap, self.keys.size)
        for plan, payload in zip(self.plans, intervals, strict=True):
            if payload is not None and plan.tracker is not None:
                plan.tracker.absorb(payload, remap)

    def _gid(self, key: tuple[Any, ...]) -> int:
        """The group code of ``key`` here (a new one for a key not seen yet)."""
        assert self.keys is not None
        return self.keys.code_of(key)

    def _take_from_twins(self) -> None:
        """Each twin plan merges the statistics its twin gathered (once; exact: merging is
        adding)."""
        for mine, theirs in self.twins.items():
            plan, twin = self.plans[mine], self.plans[theirs]
            plan.state.merge(twin.state)
            if plan.grouped is not None:
                size = twin.grouped.counts.size
                plan.grouped.merge(twin.grouped, np.arange(size, dtype=np.intp), size)
        for mine, theirs in self.residual_twins.items():
            grouped, twin = self.plans[mine].grouped, self.plans[theirs].grouped
            size = twin.counts.size
            grouped.residual.merge(twin, np.arange(size, dtype=np.intp), size)
        self.twins = {}
        self.residual_twins = {}

    def results(self) -> list[LossResult]:
        """Every plan's result (after the later passes its multi-pass states need)."""
        if self.rows == 0:
            if self.skipped:
                raise EmptyInputError(
                    f"no rows left after skipping {self.skipped} row(s) with missing values",
                    file=_label(self.sources),
                )
            raise EmptyInputError("no rows", file=_label(self.sources))
        if self.options.reduction != "none":
            self.later_passes()
        self._take_from_twins()
        keys = None if self.keys is None else SharedKeys(self.keys)
        results = [
            _result(plan, self.options, self.sources, self.rows, self.skipped, keys, self.notes)
            for plan in self.plans
        ]
        for i, plan in enumerate(self.plans):
            interval = self.requests[i].interval
            if plan.tracker is not None and interval is not None:
                partner = None if interval.paired is None else results[interval.paired]
                _attach_intervals(plan, results[i], partner, keys)
        return results


def _attach_trackers(
    requests: Sequence[LossRequest], plans: Sequence[_Plan], options: RunOptions
) -> list[int]:
    """Give plans with ``--confidence`` their interval trackers (and their paired baselines
    per-row features); returns the indices of the plans whose features are needed."""
    featured: set[int] = set()
    for i, request in enumerate(requests):
        if request.interval is None:
            continue
        for j in (i, request.interval.paired):
            if j is not None and plans[j].features is None:
                plans[j].features = Features(
                    plans[j].spec, options.reduction, options.per, plans[j].outputs, plans[j].params
                )
            if j is not None:
                featured.add(j)
        paired = request.interval.paired
        partner = None if paired is None else plans[paired].features
        features = plans[i].features
        assert features is not None
        plans[i].tracker = IntervalTracker(request.interval, features, partner)
    return sorted(featured)


def _consume_with_intervals(
    plans: Sequence[_Plan],
    featured: Sequence[int],
    chunk: Chunk,
    weights: Array | None,
    groups: tuple[NDArray[np.intp], int] | None,
    strict: bool,
    start: int,
) -> None:
    """Feed the states and the interval trackers: the chunk as read began at row ``start`` of
    the input (after ``--nan skip``, ``chunk.positions`` are its kept rows' offsets in it)."""
    rows: dict[int, Array] = {}
    for i, plan in enumerate(plans):
        losses = None
        if i in featured:
            rows[i], losses = plan.feature_rows(chunk, weights is not None)
        try:
            plan.consume(chunk, weights, groups, strict, losses)
        except OverflowError:
            raise plan.sum_overflow(chunk.where(plan.input_columns[0], 0)[0]) from None
        except LossCliError as exc:
            raise _with_file(exc, chunk.where(plan.input_columns[0], 0)[0]) from None
    codes = groups[0] if groups is not None else None
    for i, plan in enumerate(plans):
        tracker = plan.tracker
        if tracker is None:
            continue
        paired = tracker.request.paired
        other = None if paired is None else rows[paired]
        tracker.add(rows[i], other, weights, start, codes, chunk.positions)


def _attach_intervals(
    plan: _Plan, result: LossResult, partner: LossResult | None, keys: SharedKeys | None
) -> None:
    tracker = plan.tracker
    assert tracker is not None
    result.intervals = tracker.intervals(None, result.value, partner and partner.value)
    if keys is None or not result.groups:
        return
    gids = _present_groups(plan, keys).tolist()
    partner_values = (
        [g.value for g in partner.groups] if partner is not None else [None] * len(gids)
    )
    result.groups.intervals = [
        tracker.intervals(gid, group.value, other)
        for gid, group, other in zip(gids, result.groups, partner_values, strict=True)
    ]


#: States that hold the same statistics and differ only in what they compute from them.
_MEAN_FAMILY = (MeanState, RootMeanState)
_GROUPED_MEAN_FAMILY = (GroupedMeanState, GroupedRootMeanState)


def _twins(plans: Sequence[_Plan]) -> dict[int, int]:
    """Plans that gather the same sums as an earlier plan — the same kernel, parameters,
    columns and weights into a mean or root-mean state (``eval -m mse -m rmse``): index →
    the earlier plan's. A twin is not fed; it merges its twin's statistics at the end."""
    twins: dict[int, int] = {}
    seen: dict[tuple[Any, ...], int] = {}
    for i, plan in enumerate(plans):
        spec = plan.spec
        if (
            spec.elementwise is None
            or spec.denominator is not None
            or plan.multi_pass
            or type(plan.state) not in _MEAN_FAMILY
            or (plan.grouped is not None and type(plan.grouped) not in _GROUPED_MEAN_FAMILY)
        ):
            continue
        params = {k: v for k, v in plan.params.items() if k != "label_context"}
        if len(params) != len(plan.params):
            continue  # label metrics: their contexts are their own
        key = (
            _kernel_identity(spec.elementwise),
            tuple(map(_kernel_identity, (c.violations for c in spec.checks))),
            repr(sorted(params.items())),
            tuple((r, tuple(c)) for r, c in plan.selection.roles.items()),
            plan.selection.weight,
            plan.outputs,
        )
        first = seen.setdefault(key, i)
        if first != i:
            twins[i] = first
    return twins


def _residual_twins(plans: Sequence[_Plan], twins: dict[int, int]) -> dict[int, int]:
    """Grouped R² plans whose residual sums ``Σw·(p − y)²`` per group a mean-squared-error
    plan of the run gathers from the same columns and weights (``eval -m mse -m r2``): index →
    that plan's. Exact per-group sums do not depend on who adds them."""
    from losscli.catalogue.regression import squared_error
    from losscli.catalogue.spec import pair

    squares = _kernel_identity(pair(squared_error, scratch=0))
    fed: dict[tuple[Any, ...], int] = {}
    for i, plan in enumerate(plans):
        if (
            i not in twins
            and type(plan.grouped) in _GROUPED_MEAN_FAMILY
            and plan.spec.elementwise is not None
            and _kernel_identity(plan.spec.elementwise) == squares
            and not plan.spec.checks
            and not plan.params
        ):
            key = (tuple(tuple(plan.selection.roles.get(r, ())) for r in ("pred", "target")),)
            fed.setdefault((*key, plan.selection.weight, plan.outputs), i)
    out: dict[int, int] = {}
    for i, plan in enumerate(plans):
        if type(plan.grouped) is GroupedR2State and not plan.multi_pass:
            key = (tuple(tuple(plan.selection.roles.get(r, ())) for r in ("pred", "target")),)
            theirs = fed.get((*key, plan.selection.weight, plan.outputs))
            if theirs is not None:
                out[i] = theirs
    return out


def _kernel_identity(fn: Callable[..., Any]) -> Any:
    """What a kernel computes: its code and the values it closes over (each entry's adapter,
    e.g. ``pair(squared_error)``, is a function of its own); the function itself when a
    closed-over value cannot be compared."""
    cells = tuple(c.cell_contents for c in getattr(fn, "__closure__", None) or ())
    try:
        hash(cells)
    except TypeError:
        return fn
    return (getattr(fn, "__code__", fn), cells)


def _chart_states(plans: Sequence[_Plan], options: RunOptions) -> list[_Plan]:
    """Give each plan its chart states; plans reading the same inputs the same way share one
    (``eval -m mse -m mae`` counts the errors once). Returns the plans that feed them."""
    from losscli.engine.charts import ChartStates, subject_of  # only runs that draw pay for it

    assert options.charts is not None
    shared: dict[tuple[Any, ...], ChartStates] = {}
    feeding = []
    for plan in plans:
        spec = plan.spec
        roles = tuple((r, tuple(c)) for r, c in plan.selection.roles.items())
        params = repr(sorted(plan.params.items()))  # values may be lists (labels=...)
        key: tuple[Any, ...] = (roles, spec.calibration, params if spec.calibration else ())
        if subject_of(spec) == "loss":
            key = (spec.name, roles, params)  # loss values: one per loss and parameters
        states = shared.get(key)
        if states is None:
            states = shared[key] = ChartStates(
                spec, plan.params, options.charts, options.weight is not None, plan.elementwise
            )
            if states.active:
                feeding.append(plan)
        if states.active:
            plan.charts = states
    return feeding


def _size_text(nbytes: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes / size:g} {unit}"
    return f"{nbytes} B"


def _row_names(plan: _Plan) -> list[str]:
    name = plan.spec.name
    if plan.options.per == "row" or plan.outputs == 1:
        return [name]
    return [f"{name}_{col}" for col in plan.selection.roles[plan.spec.roles[0].name]]


def _drop_missing(chunk: Chunk, columns: Sequence[str]) -> tuple[Chunk, int]:
    """``--nan skip``: drop rows with NaN (or an empty cell) in any used numeric column."""
    missing: NDArray[np.bool_] | None = None
    for col in columns:
        values = chunk.numeric[col]
        if math.isnan(float(np.sum(values))):
            col_missing = np.isnan(values)
            missing = col_missing if missing is None else (missing | col_missing)
    if missing is None or not missing.any():
        return chunk, 0
    return chunk.take(~missing), int(missing.sum())


def _label(sources: Sequence[Source]) -> str:
    return (
        sources[0].label if len(sources) == 1 else f"{sources[0].label} (+{len(sources) - 1} more)"
    )


def _result(
    plan: _Plan,
    options: RunOptions,
    sources: Sequence[Source],
    rows: int,
    skipped: int,
    keys: SharedKeys | None,
    notes: list[str] | None = None,
) -> LossResult:
    try:
        return _result_of(plan, options, sources, rows, skipped, keys, notes)
    except OverflowError:
        raise plan.sum_overflow(_label(sources)) from None
    except LossCliError as exc:
        raise _with_file(exc, _label(sources)) from None


def _with_file(exc: LossCliError, file: str) -> LossCliError:
    """A data error that a state raised knowing only its column (``column 'label': 4 classes
    for 3 columns``) also names the file (SPEC §3: file, column, row)."""
    if exc.file is None and exc.column is not None:
        exc.file = file
    return exc


def _result_of(
    plan: _Plan,
    options: RunOptions,
    sources: Sequence[Source],
    rows: int,
    skipped: int,
    keys: SharedKeys | None,
    notes: list[str] | None = None,
) -> LossResult:
    reduction, per = options.reduction, options.per
    value: Value = float("nan")
    groups: GroupTable | None = None
    shown: list[int] = []  # the group ids of ``groups``, in order
    if reduction != "none":
        weight = plan.selection.weight
        value = _compute(plan.state, reduction, per, sources, weight)
        if weight is not None:
            _check_total_weight(plan.state, value, options, sources, weight)
        if keys is not None:
            # A class-label metric's columns mean the same classes in every group: its groups
            # use the classes of all rows (a group need not hold every class).
            classes = getattr(plan.state, "classes", None)
            if classes is not None and isinstance(plan.grouped, PerGroupStates):
                for state in plan.grouped.states.values():
                    state.overall_classes = classes()
            shown_codes = _present_groups(plan, keys)
            groups = _group_results(plan, keys, shown_codes, reduction, per, sources, weight)
            shown = shown_codes.tolist() if plan.charts is not None else []
    return LossResult(
        loss=plan.spec.name,
        params={k: v for k, v in plan.params.items() if k != "label_context"},
        reduction=reduction,
        per=per,
        columns=plan.selection.roles,
        weight=plan.selection.weight,
        rows=rows,
        skipped_rows=skipped,
        value=value,
        files=[s.label for s in sources],
        group_by=plan.selection.group_by,
        groups=groups,
        higher_is_better=plan.spec.higher_is_better,
        charts=None if plan.charts is None else plan.charts.compute(shown),
        notes=[n for n in notes or [] if n.startswith(plan.spec.name + ":")],
    )


class SharedKeys:
    """A pass's group keys as its results read them: the key order and the key columns,
    computed once for all its losses (``eval -m mse -m mae …`` shows the same groups)."""

    def __init__(self, keys: GroupKeys) -> None:
        self.keys = keys
        self._order: NDArray[np.intp] | None = None
        self._arrays: tuple[NDArray[np.intp], list[Any]] | None = None

    def order(self) -> NDArray[np.intp]:
        """Every group code, sorted by key (:meth:`GroupKeys.order`)."""
        if self._order is None:
            self._order = self.keys.order()
        return self._order

    def key_arrays(self, groups: NDArray[np.intp]) -> list[Any]:
        """:meth:`GroupKeys.key_arrays` of ``groups`` (the last answer, when asked again)."""
        if self._arrays is None or not np.array_equal(self._arrays[0], groups):
            self._arrays = (groups, self.keys.key_arrays(groups))
        return self._arrays[1]


def _present_groups(plan: _Plan, keys: SharedKeys) -> NDArray[np.intp]:
    """The codes of the groups that have rows, in key order (see :meth:`GroupKeys.order`)."""
    rows = plan.grouped.rows
    order = keys.order()
    order = order[order < len(rows)]
    return order[rows[order] > 0]


def _group_results(
    plan: _Plan,
    keys: SharedKeys,
    order: NDArray[np.intp],
    reduction: Reduction,
    per: Per,
    sources: Sequence[Source],
    weight_column: str | None,
) -> GroupTable:
    """The rows and value of each group of ``order``, as columns."""
    state = plan.grouped
    rows = state.rows
    if isinstance(state, GroupedMeanState) and reduction == "mean":
        empty = np.flatnonzero(state.weights()[order] == 0)
        if len(empty):
            key = keys.keys.key_tuples(order[empty[:1]])[0]
            where = ", ".join(f"{c}={k}" for c, k in zip(plan.selection.group_by, key, strict=True))
            raise DataError(
                f"the weights sum to 0 in group {where}: the weighted mean is undefined",
                file=_label(sources),
                column=weight_column,
            )
    values = state.compute(reduction, per)
    chosen = np.ascontiguousarray(values[:, order].T if values.ndim == 2 else values[order])
    return GroupTable(plan.selection.group_by, keys.key_arrays(order), rows[order], chosen)


def _check_total_weight(
    state: LossState, value: Value, options: RunOptions, sources: Sequence[Source], column: str
) -> None:
    """All weights 0 leave every weighted statistic undefined: R² and explained variance (whose
    target moments know their weight) and the statistics that answer NaN for it (a weighted
    median) are errors too, not 1.0 or a quiet NaN."""
    target = getattr(state, "target", None)
    total = getattr(target, "weight", None)
    if isinstance(total, float):
        empty = total == 0
    else:
        values = value if isinstance(value, list) else [value]
        empty = options.nan != "propagate" and any(
            isinstance(v, float) and math.isnan(v) for v in values
        )
    if empty:
        raise DataError(
            "the weights sum to 0: the weighted statistic is undefined",
            file=_label(sources),
            column=column,
        )


def _compute(
    state: LossState,
    reduction: Reduction,
    per: Per,
    sources: Sequence[Source],
    weight_column: str | None = None,
    group: str | None = None,
) -> Value:
    if isinstance(state, MeanState) and reduction == "mean":
        weight = float(state.weight_sum.value[0])
        if weight == 0:
            scope = f" in group {group}" if group else ""
            raise DataError(
                f"the weights sum to 0{scope}: the weighted mean is undefined",
                file=_label(sources),
                column=weight_column,
            )
    return state.compute(reduction, per)
