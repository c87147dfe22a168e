"""``losscli check losscli.toml``: a gate file of several checks with one verdict.

A check names a loss, its input (file, columns, parameters, groups) and its gates. Checks that
read the same input the same way share one engine pass. The file is validated completely
before anything is read: invalid TOML, an unknown key, a wrong type, an unknown loss or a
parameter out of range is a usage error (exit 2) naming the check and the key.
"""

from __future__ import annotations

import difflib
import math
import os
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from losscli.catalogue import LOSSES, lookup
from losscli.catalogue.spec import LossSpec
from losscli.errors import LossCliError, UsageError
from losscli.gates.rules import Change, GateSpec

if TYPE_CHECKING:
    from losscli.engine import RunOptions
    from losscli.engine.request import ChartRequest
    from losscli.gates.run import Check, GatedRequest

# Keys of a [[check]] (and of [defaults]) with what each holds; role keys (pred, target, ...)
# come from the registry.
_KEYS: dict[str, str] = {
    "name": "string",
    "file": "string or list of strings",
    "loss": "string",
    "params": "table",
    "weight": "string",
    "group_by": "string or list of strings",
    "reduction": "string",
    "per": "string",
    "nan": "string",
    "targets_from": "string",
    "input_format": "string",
    "delimiter": "string",
    "decimal_comma": "boolean",
    "chunk_size": "integer",
    "anon": "boolean",
    "engine": "string",
    "scheduler": "string",
    "max": "number",
    "min": "number",
    "baseline": "string",
    "baseline_pred": "string",
    "max_increase": "number or percentage string",
    "min_decrease": "number or percentage string",
    "confidence": "number in [0.5, 1)",
    "inconclusive": "string",
    "bootstrap": "integer",
    "seed": "integer",
    "adjust": "string",
}
_CHOICES = {
    "reduction": ("mean", "sum"),
    "per": ("all", "row", "output"),
    "nan": ("error", "skip", "propagate"),
    "input_format": ("csv", "tsv", "parquet", "ipc", "ndjson"),
    "engine": ("local", "dask"),
    "inconclusive": ("pass", "fail"),
    "adjust": ("none", "bonferroni", "holm"),
}
_TOP_LEVEL = ("defaults", "check")


@dataclass(frozen=True)
class CheckSpec:
    """One validated check: what to compute, how to read it, and its gates."""

    name: str
    spec: LossSpec
    params: dict[str, Any]
    columns: dict[str, str | None]
    files: tuple[str, ...]
    weight: str | None
    group_by: str | None
    reduction: str
    per: str
    nan: str
    targets_from: str | None
    input_format: str | None
    delimiter: str | None
    decimal_comma: bool
    chunk_size: int
    anon: bool
    engine: str
    scheduler: str | None
    gates: GateSpec
    baseline: str | None
    baseline_pred: str | None

    def pass_key(self) -> tuple[Any, ...]:
        """Checks with equal keys read the same rows the same way: one pass serves them all."""
        return (
            self.files, self.weight, self.group_by, self.reduction, self.per, self.nan,
            self.targets_from, self.input_format, self.delimiter, self.decimal_comma,
            self.chunk_size, self.anon,
            self.engine, self.scheduler,
        )  # fmt: skip

    def run_options(self) -> RunOptions:
        from losscli.engine import RunOptions

        return RunOptions(
            files=list(self.files),
            reduction=self.reduction,  # type: ignore[arg-type]
            per=self.per,  # type: ignore[arg-type]
            nan=self.nan,
            weight=self.weight,
            group_by=self.group_by,
            chunk_size=self.chunk_size,
            input_format=self.input_format,
            delimiter=self.delimiter,
            decimal_comma=self.decimal_comma,
            targets_from=self.targets_from,
            anon=self.anon,
            engine=self.engine,
            scheduler=self.scheduler,
        )

    def gated_request(self) -> GatedRequest:
        from losscli.engine import LossRequest
        from losscli.gates.run import BaselineSource, GatedRequest

        baseline = None
        if self.baseline is not None or self.baseline_pred is not None:
            baseline = BaselineSource(self.baseline, self.baseline_pred)
        return GatedRequest(LossRequest(self.spec, self.params, self.columns), self.gates, baseline)


# -- parsing and validation -----------------------------------------------------------------
class CheckFileError(UsageError):
    """A problem in the gate file (exit 2): names the file, the check and the key."""


def load(path: str) -> list[CheckSpec]:
    """Read and validate a gate file; every problem is a :class:`CheckFileError`."""
    try:
        doc = tomllib.loads(_read_text(path))
    except UnicodeDecodeError as exc:
        raise CheckFileError(f"invalid TOML: {exc}", file=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise CheckFileError(f"invalid TOML: {exc}", file=path) from None
    except OSError as exc:
        raise CheckFileError(f"cannot read: {exc.strerror or exc}", file=path) from None
    return parse(doc, path)


def _read_text(path: str) -> str:
    """The gate file's text, from disk or from object storage / HTTP(S)."""
    from losscli.io.sources import is_remote

    if is_remote(path):
        from losscli.io import remote  # object-storage clients load only for a URI

        return remote.read_all(path).decode("utf-8-sig")
    with open(path, "rb") as fh:  # utf-8-sig: a byte-order mark (Windows editors) is not TOML
        return fh.read().decode("utf-8-sig")


def parse(doc: Mapping[str, Any], path: str) -> list[CheckSpec]:
    """Validate a loaded gate file (paths inside it are relative to ``path``'s directory)."""
    for key in doc:
        if key not in _TOP_LEVEL:
            raise CheckFileError(
                f"unknown top-level key {key!r}{_suggest(key, _TOP_LEVEL)}; "
                "expected [defaults] and [[check]] tables",
                file=path,
            )
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise CheckFileError("'defaults' must be a table: [defaults]", file=path)
    checks = doc.get("check")
    if not isinstance(checks, list) or not checks or not all(isinstance(c, dict) for c in checks):
        raise CheckFileError(
            "no checks: add at least one [[check]] table with a loss and a gate", file=path
        )
    base_dir = os.path.dirname(path)
    _check_keys(defaults, "[defaults]", path, allow_any_role=True)
    if "name" in defaults:
        raise CheckFileError("[defaults]: 'name' belongs to each [[check]]", file=path)
    specs = [
        _parse_check(index, check, defaults, base_dir, path)
        for index, check in enumerate(checks, start=1)
    ]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise CheckFileError(
                f"two checks are named {spec.name!r}: names must differ", file=path
            )
        seen.add(spec.name)
    return specs


def _role_names(spec: LossSpec | None) -> set[str]:
    if spec is None:
        return {role.name for s in LOSSES for role in s.roles}
    return {role.name for role in spec.roles}


def _check_keys(
    table: Mapping[str, Any],
    where: str,
    path: str,
    *,
    allow_any_role: bool,
    spec: LossSpec | None = None,
) -> None:
    valid = list(_KEYS) + sorted(_role_names(None if allow_any_role else spec))
    for key in table:
        if key not in valid:
            raise CheckFileError(
                f"{where}: unknown key {key!r}{_suggest(key, valid)}; valid keys: {', '.join(valid)}",
                file=path,
            )


def _suggest(key: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _article(kind: str) -> str:
    """``a string``, ``an integer``, ``a number in [0.5, 1)``."""
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _parse_check(
    index: int, check: Mapping[str, Any], defaults: Mapping[str, Any], base_dir: str, path: str
) -> CheckSpec:
    from losscli.defaults import DEFAULT_CHUNK_SIZE

    label = f"check {index}" + (
        f" ({check['name']!r})" if isinstance(check.get("name"), str) else ""
    )
    loss_name = check.get("loss", defaults.get("loss"))
    if not isinstance(loss_name, str):
        raise CheckFileError(f"{label}: 'loss' is required (a loss name, e.g. \"mse\")", file=path)
    spec = lookup(loss_name)
    if spec is None:
        known = ", ".join(s.name for s in LOSSES)
        raise CheckFileError(
            f"{label}: unknown loss {loss_name!r}; known losses: {known}", file=path
        )
    _check_keys(check, label, path, allow_any_role=False, spec=spec)
    roles = _role_names(spec)
    merged = {k: v for k, v in defaults.items() if k in _KEYS or k in roles}
    merged.update(check)

    def get(key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = merged.get(key, default)
        if value is None or value is default:
            return value
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            value = object()  # true/false is not a number
        if not isinstance(value, kind):
            raise CheckFileError(
                f"{label}: {key!r} must be {_article(_KEYS.get(key, 'string'))} "
                f"(got {merged[key]!r})",
                file=path,
            )
        if key in _CHOICES and value not in _CHOICES[key]:
            raise CheckFileError(
                f"{label}: {key!r} must be one of {', '.join(_CHOICES[key])} (got {value!r})",
                file=path,
            )
        return value

    files = get("file", (str, list))
    if files is None:
        raise CheckFileError(f"{label}: 'file' is required (the predictions file)", file=path)
    files_list = [files] if isinstance(files, str) else files
    if not files_list or not all(isinstance(f, str) for f in files_list):
        raise CheckFileError(f"{label}: 'file' must be a string or a list of strings", file=path)
    group_by = get("group_by", (str, list))
    if isinstance(group_by, list):
        if not all(isinstance(g, str) for g in group_by):
            raise CheckFileError(
                f"{label}: 'group_by' must be a string or list of strings", file=path
            )
        group_by = ",".join(group_by)
    columns: dict[str, str | None] = {}
    for role in spec.roles:
        value = get(role.name, (str, list))
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        columns[role.name] = value
    chunk_size = get("chunk_size", int, DEFAULT_CHUNK_SIZE)
    if not 1 <= chunk_size <= 2**62:
        raise CheckFileError(
            f"{label}: 'chunk_size' must be in 1 … 2**62 (got {chunk_size})", file=path
        )
    gates = _gates(label, path, get)
    reduction = get("reduction", str, "mean")
    if reduction not in spec.reductions:
        raise CheckFileError(
            f"{label}: {spec.name} does not support reduction {reduction!r}", file=path
        )
    return CheckSpec(
        name=get("name", str) or f"{spec.name} #{index}",
        spec=spec,
        params=_params(label, path, spec, get("params", dict, {})),
        columns=columns,
        files=tuple(_relative(f, base_dir) or f for f in files_list),
        weight=get("weight", str),
        group_by=group_by,
        reduction=reduction,
        per=get("per", str, "all"),
        nan=get("nan", str, "error"),
        targets_from=_relative(get("targets_from", str), base_dir),
        input_format=get("input_format", str),
        delimiter=_delimiter(label, path, get("delimiter", str)),
        decimal_comma=get("decimal_comma", bool, False),
        chunk_size=chunk_size,
        anon=get("anon", bool, False),
        engine=get("engine", str, "local"),
        scheduler=get("scheduler", str),
        gates=gates,
        baseline=_relative(get("baseline", str), base_dir),
        baseline_pred=get("baseline_pred", str),
    )


def _delimiter(label: str, path: str, text: str | None) -> str | None:
    if text is None:
        return None
    from losscli.errors import UsageError
    from losscli.io.csv import parse_delimiter

    try:
        return parse_delimiter(text)
    except UsageError as exc:
        raise CheckFileError(f"{label}: 'delimiter': {exc.message}", file=path) from None


def _gates(label: str, path: str, get: Any) -> GateSpec:
    bounds = {}
    for key in ("max", "min"):
        value = get(key, (int, float))
        if value is not None and not math.isfinite(value):
            raise CheckFileError(f"{label}: {key!r} must be a finite number", file=path)
        bounds[key] = None if value is None else float(value)
    changes = {}
    for key in ("max_increase", "min_decrease"):
        value = get(key, (int, float, str))
        try:
            changes[key] = None if value is None else Change.parse(value, key)
        except UsageError as exc:
            raise CheckFileError(f"{label}: {exc.message}", file=path) from None
    spec = GateSpec(
        bounds["max"],
        bounds["min"],
        changes["max_increase"],
        changes["min_decrease"],
        _confidence(label, path, get),
    )
    if spec.confidence is not None and not (
        spec.max is not None or spec.min is not None or spec.needs_baseline
    ):
        raise CheckFileError(
            f"{label}: 'confidence' qualifies a gate: add max/min or max_increase/min_decrease",
            file=path,
        )
    has_baseline = get("baseline", str) is not None or get("baseline_pred", str) is not None
    if spec.needs_baseline and not has_baseline:
        raise CheckFileError(
            f"{label}: max_increase/min_decrease need 'baseline' or 'baseline_pred'", file=path
        )
    if has_baseline and not spec.needs_baseline:
        raise CheckFileError(
            f"{label}: a baseline needs 'max_increase' (losses) or 'min_decrease' "
            "(higher-is-better metrics) to compare with it",
            file=path,
        )
    return spec


def _confidence(label: str, path: str, get: Any) -> Any:
    """``confidence`` (with ``inconclusive``, ``bootstrap``, ``seed``, ``adjust``): a
    ConfidenceSpec, or None when ``confidence`` is absent."""
    from losscli.gates.confidence import ConfidenceSpec

    level = get("confidence", (int, float))
    extras = {k: get(k, int if k in ("bootstrap", "seed") else str) for k in _CONFIDENCE_EXTRAS}
    given = {k: v for k, v in extras.items() if v is not None}
    if level is None:
        if given:
            raise CheckFileError(f"{label}: {next(iter(given))!r} needs 'confidence'", file=path)
        return None
    try:
        return ConfidenceSpec(float(level), **given)
    except UsageError as exc:
        raise CheckFileError(f"{label}: {exc.message}", file=path) from None


_CONFIDENCE_EXTRAS = ("inconclusive", "bootstrap", "seed", "adjust")


def _params(label: str, path: str, spec: LossSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    params = spec.defaults()
    by_name = {p.name: p for p in spec.params}
    for key, value in given.items():
        param = by_name.get(key)
        if param is None:
            valid = ", ".join(by_name) or "none"
            raise CheckFileError(
                f"{label}: unknown key 'params.{key}'{_suggest(key, list(by_name))}; "
                f"{spec.name} parameters: {valid}",
                file=path,
            )
        if param.item_type is not None:
            ok = isinstance(value, list) and all(
                isinstance(v, param.item_type)
                or (param.item_type is float and isinstance(v, int) and not isinstance(v, bool))
                for v in value
            )
            if ok:
                value = [param.item_type(v) for v in value]
        elif param.type is bool:
            ok = isinstance(value, bool)
        elif param.type is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif param.type is str:
            ok = isinstance(value, str | int | float) and not isinstance(value, bool)
            value = str(value)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise CheckFileError(
                f"{label}: 'params.{key}' must be {param.type.__name__} (got {value!r})", file=path
            )
        params[key] = value if param.item_type is not None else param.type(value)
        problem = param.check(params[key])
        if problem:
            raise CheckFileError(f"{label}: params.{key}: {problem}", file=path)
    return params


def _relative(value: str | None, base_dir: str) -> str | None:
    """A path of the gate file, relative to the gate file's own directory (or URI prefix);
    absolute paths, URIs and ``-`` as given."""
    from losscli.io.sources import is_remote

    if value is None or value == "-" or os.path.isabs(value) or is_remote(value):
        return value
    if is_remote(base_dir):
        import posixpath

        scheme, rest = base_dir.split("://", 1)
        return f"{scheme}://{posixpath.normpath(posixpath.join(rest, value))}"
    return os.path.normpath(os.path.join(base_dir, value))


# -- running --------------------------------------------------------------------------------
ProgressFactory = Callable[[Sequence[str]], AbstractContextManager[Any]]


def run_checks(
    specs: Sequence[CheckSpec],
    *,
    stdin: Any = None,
    progress: ProgressFactory | None = None,
    charts: ChartRequest | None = None,
) -> list[Check]:
    """Run the checks, one engine pass per distinct input; a check that cannot run becomes a
    :class:`~losscli.reports.Check` carrying the error (the others still run).

    ``progress(files)`` gives a context manager yielding the engine's progress (or None);
    ``charts`` the histograms every pass collects (``check --show``)."""
    from losscli.gates.rules import check_direction
    from losscli.gates.run import Check, run_gated

    for spec in specs:
        if spec.gates.needs_baseline:
            try:
                check_direction(spec.gates, [(spec.spec.name, spec.spec.higher_is_better)])
            except UsageError as exc:
                raise CheckFileError(f"check {spec.name!r}: {exc.message}") from None
    passes: dict[tuple[Any, ...], list[int]] = {}
    for i, spec in enumerate(specs):
        passes.setdefault(spec.pass_key(), []).append(i)
    checks: list[Check | None] = [None] * len(specs)

    def run(indices: list[int]) -> None:
        first = specs[indices[0]]
        started = time.monotonic()
        try:
            with progress(first.files) if progress else nullcontext(None) as bar:
                outcomes = run_gated(
                    [specs[i].gated_request() for i in indices],
                    first.run_options()._replace(charts=charts),
                    stdin=stdin,
                    progress=bar,
                )
        except LossCliError as exc:
            if len(indices) > 1:  # find which check it was: run them one by one
                for i in indices:
                    run([i])
                return
            checks[indices[0]] = Check(
                first.name, error=str(exc), error_code=int(exc.exit_code),
                seconds=time.monotonic() - started,
            )  # fmt: skip
            return
        seconds = (time.monotonic() - started) / len(indices)
        for i, outcome in zip(indices, outcomes, strict=True):
            checks[i] = Check(specs[i].name, [outcome], seconds=seconds)

    for indices in passes.values():
        run(indices)
    return [c for c in checks if c is not None]
