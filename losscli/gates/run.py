"""Run losses with their gates: one engine pass for the candidate (plus ``--baseline-pred``
columns of the same input), one pass per baseline predictions file, then the verdicts.

Shared by the loss commands (``--max``, ``--baseline``, ...) and ``losscli check``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from losscli.engine import LossRequest, LossResult, Progress, RunOptions
from losscli.errors import UsageError
from losscli.gates.columns import Gates, as_gates
from losscli.gates.rules import (
    Baseline,
    GateResult,
    GateSpec,
    baseline_from_json,
    baseline_from_result,
    evaluate,
    is_result_json,
)

if TYPE_CHECKING:
    from losscli.engine.intervals import IntervalRequest


@dataclass(frozen=True)
class BaselineSource:
    """Where the baseline comes from: a file (a baseline model's predictions, or a JSON result
    written by losscli) and/or a prediction column (``--baseline-pred``); a column without a
    file is read from the candidate's own input, in the same pass."""

    path: str | None = None
    pred: str | None = None

    def describe(self) -> str:
        path = self.path
        if path and "://" in path:
            from losscli.io.remote import redact  # a URI may carry a signature: never shown

            path = redact(path)
        if path and self.pred:
            return f"{path} column {self.pred}"
        return path or f"column {self.pred}"


@dataclass(frozen=True)
class GatedRequest:
    request: LossRequest
    gates: GateSpec = field(default_factory=GateSpec)
    baseline: BaselineSource | None = None


@dataclass
class Outcome:
    """A result with its gate verdicts (empty when ungated) and the baseline it was held to."""

    result: LossResult
    gates: Sequence[GateResult]  # a Gates: every group's as columns
    baseline: Baseline | None = None

    @property
    def verdicts(self) -> Gates:
        return as_gates(self.gates)

    @property
    def passed(self) -> bool:
        return self.verdicts.passed


def validate(item: GatedRequest, *, json_baseline: bool) -> None:
    """A baseline needs a relative gate and vice versa, and a JSON result has no prediction
    column (usage errors, before any reading)."""
    if item.gates.needs_baseline and item.baseline is None:
        raise UsageError(
            "--max-increase/--min-decrease compare with a baseline: "
            "add --baseline FILE or --baseline-pred COL"
        )
    if item.baseline is not None and not item.gates.needs_baseline:
        raise UsageError(
            "a baseline needs a gate to compare with it: add --max-increase X (or X%) for a "
            "loss, --min-decrease X for a higher-is-better metric"
        )
    if json_baseline and item.baseline and item.baseline.pred:
        raise UsageError(
            "--baseline-pred names a column of a predictions file, but the baseline is a "
            "JSON result",
            file=item.baseline.path,
        )


def _with_pred(
    request: LossRequest, pred: str | None, interval: IntervalRequest | None = None
) -> LossRequest:
    if pred is None and interval is None:
        return request
    columns = request.columns
    if pred is not None:
        columns = {**columns, request.spec.roles[0].name: pred}
    return LossRequest(request.spec, request.params, columns, interval)


def _interval(item: GatedRequest, paired: int | None = None) -> IntervalRequest | None:
    """The interval request of a gated loss (None without ``--confidence``)."""
    spec = item.gates.confidence
    if spec is None:
        return None
    from losscli.engine.intervals import IntervalRequest

    return IntervalRequest(spec.bootstrap, spec.seed, paired)


def run_gated(
    items: Sequence[GatedRequest],
    options: RunOptions,
    *,
    stdin: Any = None,
    progress: Progress | None = None,
) -> list[Outcome]:
    """Compute every request (one pass over ``options.files``), their baselines and verdicts."""
    from losscli import engine

    paths = {item.baseline.path for item in items if item.baseline and item.baseline.path}
    json_paths = {path for path in paths if path != "-" and is_result_json(path)}
    for item in items:
        validate(item, json_baseline=item.baseline is not None and item.baseline.path in json_paths)
    requests = [_with_pred(item.request, None, _interval(item)) for item in items]
    same_input: dict[int, int] = {}  # item index → index of its baseline request in this pass
    for i, item in enumerate(items):
        if item.baseline and item.baseline.pred and not item.baseline.path:
            same_input[i] = len(requests)
            requests.append(_with_pred(item.request, item.baseline.pred))
            # --confidence: the interval is on the per-row difference with this request
            requests[i] = _with_pred(item.request, None, _interval(item, same_input[i]))
    paired_file = _paired_file(items, json_paths)
    paired: list[int] = []
    for i, item in enumerate(items):
        if paired_file is not None and item.baseline and item.baseline.path == paired_file:
            # --confidence against a predictions file: read it row-aligned in this pass, so
            # the interval is on the per-row difference
            same_input[i] = len(requests)
            paired.append(len(requests))
            requests.append(_with_pred(item.request, item.baseline.pred))
            requests[i] = _with_pred(item.request, None, _interval(item, same_input[i]))
    if paired:
        options = options._replace(paired_file=paired_file, paired_requests=tuple(paired))
    results = engine.run(requests, options, stdin=stdin, progress=progress)
    options = options._replace(paired_file=None, paired_requests=())

    baselines: dict[int, Baseline] = {}
    for i, j in same_input.items():
        baselines[i] = baseline_from_result(results[j], _source(items[i]))
    by_file: dict[str, dict[int, LossRequest]] = {}  # baseline predictions file → its requests
    for i, item in enumerate(items):
        if item.baseline is None or item.baseline.path is None or i in baselines:
            continue
        path = item.baseline.path
        if path in json_paths:
            r = results[i]
            baselines[i] = baseline_from_json(
                path, r.loss, r.params, r.reduction, r.per, r.group_by
            )
        else:
            by_file.setdefault(path, {})[i] = _with_pred(
                item.request, item.baseline.pred, _interval(item)
            )
    for path, pending in by_file.items():
        baseline_options = options._replace(files=[path])
        try:
            baseline_results = engine.run(list(pending.values()), baseline_options, stdin=stdin)
        except UsageError as exc:
            hint = ""
            if "column" in exc.message:
                hint = " (name the baseline's prediction column with --baseline-pred COL)"
            raise UsageError(f"baseline: {exc.message}{hint}", file=exc.file) from None
        for i, r in zip(pending, baseline_results, strict=True):
            baselines[i] = baseline_from_result(r, _source(items[i]))

    return [
        Outcome(results[i], evaluate(results[i], item.gates, baselines.get(i)), baselines.get(i))
        for i, item in enumerate(items)
    ]


def _paired_file(items: Sequence[GatedRequest], json_paths: set[str]) -> str | None:
    """The baseline predictions file to read row-aligned with the input (the first one of an
    item with ``--confidence``; stdin cannot be read twice)."""
    for item in items:
        path = item.baseline.path if item.baseline else None
        if item.gates.confidence and path and path != "-" and path not in json_paths:
            return path
    return None


def _source(item: GatedRequest) -> str:
    return item.baseline.describe() if item.baseline else "baseline"


@dataclass
class Check:
    """A named set of gated results, or the error that stopped them."""

    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None
    error_code: int = 3  # the exit code of the error (2 usage, 3 input or data)
    seconds: float = 0.0
    named: bool = True  # a gate file's check: its name prefixes failure lines

    @property
    def prefix(self) -> str:
        return f"{self.name}: " if self.named else ""

    @property
    def gates(self) -> list[GateResult]:
        """Every gate as an object (a gate per group: for small results and tests)."""
        return [g for o in self.outcomes for g in o.gates]

    @property
    def failures(self) -> list[GateResult]:
        """Every failed gate, in order (the groups' made from their columns)."""
        out: list[GateResult] = []
        for o in self.outcomes:
            verdicts = o.verdicts
            out += [g for g in verdicts.total if not g.passed]
            if verdicts.groups is not None:
                out += verdicts.groups.failed_in_order()
        return out

    @property
    def gate_count(self) -> int:
        return sum(len(o.gates) for o in self.outcomes)

    @property
    def failed_count(self) -> int:
        return sum(o.verdicts.failed_count() for o in self.outcomes)

    @property
    def passed(self) -> bool:
        return self.error is None and all(o.passed for o in self.outcomes)
