"""The command line: a thin Click layer over the core.

It parses options, builds requests, calls :func:`losscli.engine.run`, hands results to a
renderer and maps outcomes to exit codes. Commands and their options come from the registry.
Heavy modules (numpy, pyarrow, rich) are imported only when a command runs.
"""

from __future__ import annotations

import math
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from losscli.catalogue import LOSSES, lookup
from losscli.catalogue.spec import LossSpec, Param
from losscli.defaults import (
    CHART_KINDS,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_UNIT_ROWS,
    INPUT_FORMATS,
    OUTPUT_FORMATS,
)
from losscli.errors import ExitCode, LossCliError, UsageError
from losscli.report.terminal import Environment

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    # Computed only when asked: importlib.metadata alone costs ~30 ms of every start-up.
    if not value or ctx.resilient_parsing:
        return
    from losscli.cli.version import version_line

    click.echo(version_line())
    ctx.exit()


class LossGroup(click.Group):
    """Resolves loss aliases (``mse_loss`` → ``mse``) and lists commands in registry order."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            spec = lookup(cmd_name)
            if spec is not None:
                command = self.commands.get(spec.name)
                if command is None:  # built on first use: start-up pays for one loss, not all
                    command = _make_loss_command(spec)
                    self.add_command(command)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        builtin = [name for name in self.commands if lookup(name) is None]
        return [*(spec.name for spec in LOSSES), *builtin]

    def invoke(self, ctx: click.Context) -> Any:
        # Click turns EPIPE into sys.exit(1) even when not standalone; run_cli handles it (exit 0).
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _StdoutClosed from exc


class _StdoutClosed(Exception):
    """Stdout was closed by the reader (``| head``)."""


class _Terminated(BaseException):
    """SIGTERM: not an Exception (nothing may swallow it), and Click does not echo it."""


@click.group(
    cls=LossGroup,
    context_settings=CONTEXT_SETTINGS,
    epilog="""\b
Examples:
  losscli mse preds.parquet
  losscli huber preds.csv --delta 2 --reduction sum
  losscli mse preds.parquet -p yhat -t y --group-by segment --format json
  cat preds.csv | losscli mse - --format value
  losscli list

Exit codes: 0 ok, 1 a gate failed, 2 usage error, 3 input or data error, 130 interrupted.""",
)
@click.option(
    "-V",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def cli() -> None:
    """Score model predictions from CSV/Parquet with streaming loss kernels.

    Reads prediction and target columns from CSV/TSV (plain or compressed), Parquet (a file,
    a directory or a glob), Arrow IPC, NDJSON or stdin, in bounded chunks, and prints the loss:
    a table on a terminal, JSON otherwise.
    """


TABLE_VIEW_KEY = "losscli.table_view"


# -- shared options -----------------------------------------------------------------------------
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


#: The largest row count or size an option takes: beyond any real input, and still a C
#: ``int64`` where Arrow and NumPy receive it (2**63 and up raised OverflowError).
MAX_COUNT = 2**62


class ByteSize(click.ParamType):
    """A size in bytes: ``1048576``, ``64KiB``, ``512MiB``, ``2G`` (K/M/G are powers of 1024)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().replace(" ", "")
        for suffix in ("ib", "b"):
            if text.endswith(suffix) and text[: -len(suffix)][-1:].isalpha():
                text = text[: -len(suffix)]
                break
        number, unit = (text[:-1], text[-1]) if text[-1:].isalpha() else (text, "")
        try:
            size = float(number) * _SIZE_UNITS[unit]
        except (KeyError, ValueError):
            self.fail(f"{value!r} is not a size such as 512MiB, 2G or 1048576", param, ctx)
        if not math.isfinite(size):
            self.fail(f"{value!r} is not a finite size such as 512MiB, 2G or 1048576", param, ctx)
        if size < 1:
            self.fail("must be at least 1 byte", param, ctx)
        return int(min(size, MAX_COUNT))  # "no limit" in practice, and still a C integer


def _table_view(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Keep ``--top``/``--sort`` for the table renderer (see :func:`table_view`)."""
    if value is not None and param.name is not None:
        ctx.meta.setdefault(TABLE_VIEW_KEY, {})[param.name] = value


def _input_options(f: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.argument("files", nargs=-1, metavar="[FILE]..."),
        click.option(
            "-w", "--weight", metavar="COL", help="Sample-weight column: mean = Σ(w·l)/Σw."
        ),
        click.option(
            "-g", "--group-by", metavar="COL[,COL]", help="One result per group (and the total)."
        ),
        click.option(
            "-r",
            "--reduction",
            type=click.Choice(["none", "mean", "sum"]),
            default="mean",
            show_default=True,
            help="none streams one value per row; mean = Σ(w·l)/Σw; sum = Σ(w·l).",
        ),
        click.option(
            "--per",
            type=click.Choice(["all", "row", "output"]),
            default="all",
            show_default=True,
            help="all: over every element (MLX/PyTorch); row: mean over the outputs of each row "
            "first (Keras); output: one value per output column (scikit-learn raw_values).",
        ),
        click.option(
            "--nan",
            "nan_policy",
            type=click.Choice(["error", "skip", "propagate"]),
            default="error",
            show_default=True,
            help="What a NaN or empty cell does: stop (exit 3), drop the row, or give NaN.",
        ),
        click.option(
            "-f",
            "--format",
            "fmt",
            type=click.Choice(OUTPUT_FORMATS),
            default=None,
            help="Output format [default: table on a terminal, else json; csv for --reduction none].",
        ),
        click.option(
            "-o",
            "--output",
            metavar="PATH",
            help="Write per-row output (--reduction none) to a .csv or .parquet file.",
        ),
        click.option("--keep", metavar="COL[,COL]", help="Copy these columns into per-row output."),
        click.option(
            "--targets-from",
            metavar="FILE",
            help="Read targets (and weights) from this second, row-aligned file.",
        ),
        click.option(
            "--delimiter",
            metavar="CHAR",
            help="CSV field delimiter (e.g. ';', '|', tab) [default: found in the header; an "
            "ambiguous header is an error].",
        ),
        click.option(
            "--decimal-comma",
            is_flag=True,
            help="CSV numbers use a decimal comma (1,5), as European spreadsheets write them; "
            "needs a delimiter other than ','.",
        ),
        click.option(
            "--input-format",
            type=click.Choice(INPUT_FORMATS),
            help="Input format when the name or bytes do not tell (e.g. stdin).",
        ),
        click.option(
            "--chunk-size",
            type=click.IntRange(min=1, max=MAX_COUNT),
            default=DEFAULT_CHUNK_SIZE,
            show_default=True,
            metavar="ROWS",
            help="Rows per chunk; memory is bounded by it.",
        ),
        click.option(
            "--anon",
            is_flag=True,
            help="Read s3:// or gs:// without credentials (public buckets).",
        ),
        click.option(
            "--engine",
            "engine_name",
            type=click.Choice(["local", "dask"]),
            default="local",
            show_default=True,
            help="Where to compute: this process, or a Dask cluster (the same digits).",
        ),
        click.option(
            "--scheduler",
            metavar="ADDR",
            help="Dask scheduler address (tcp://, tls://) for --engine dask "
            "[default: DASK_SCHEDULER_ADDRESS, else a local cluster].",
        ),
        click.option(
            "--unit-rows",
            type=click.IntRange(min=1, max=MAX_COUNT),
            default=DEFAULT_UNIT_ROWS,
            show_default=True,
            metavar="ROWS",
            help="--engine dask: rows per unit of work (Parquet row-group runs up to this).",
        ),
        click.option(
            "--memory-limit",
            type=ByteSize(),
            default=DEFAULT_MEMORY_LIMIT,
            metavar="SIZE",
            help="Values a multi-pass loss (exact quantiles) keeps in memory from stdin or a "
            "pipe before spooling them to a temporary file, e.g. 512MiB, 2G  "
            "[default: 512MiB].",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No progress or notes on stderr."),
        click.option(
            "--top",
            type=click.IntRange(min=1, max=MAX_COUNT),
            metavar="N",
            expose_value=False,
            callback=_table_view,
            help="Table: show N groups (default: all up to 50, else the 50 worst); JSON, CSV "
            "and NDJSON always hold every group.",
        ),
        click.option(
            "--sort",
            type=click.Choice(["value", "key"]),
            expose_value=False,
            callback=_table_view,
            help="Table: groups worst value first, or by key [default: key, or value when "
            "groups are hidden].",
        ),
        click.option(
            "--show",
            multiple=True,
            type=click.Choice(CHART_KINDS),
            help="Charts from the same pass: hist (error histogram), groups (worst groups "
            "against the gate), calibration (probability losses). Drawn under the table; "
            'Mermaid charts in Markdown and the GitHub step summary; "histograms" in JSON. '
            "Repeatable.",
        ),
        click.option(
            "--bins",
            metavar="EDGES|LO:HI:N",
            help="The error histogram's bins: increasing edges 'a,b,c' or N equal bins "
            "'LO:HI:N' [default: ±2^k·(1, 1.25, 1.5, 1.75), 2^-30 ≤ |e| < 2^50].",
        ),
        click.option(
            "--report",
            metavar="FILE",
            help="Write a one-page report (.png, .svg or .html): error histogram, groups "
            "against the gate, prediction vs target, calibration, the table. PNG needs "
            "the 'plot' extra (Pillow).",
        ),
    ]
    from losscli.cli.gating import gate_options

    f = gate_options(f)  # --max/--min/--baseline/... and --junit, listed after these options
    for option in reversed(options):
        f = option(f)
    return f


def _param_option(param: Param) -> Callable[..., Any]:
    if param.type is bool:
        on, off = param.cli_flags or (param.flag, "--no-" + param.flag[2:])
        return click.option(
            f"{on}/{off}",
            param.name,
            default=param.default,
            show_default=True,
            help=param.help,
        )
    suffix = f" Must be {param.valid_text}." if param.valid_text else ""
    if param.item_type is not None:
        return click.option(
            param.flag,
            param.name,
            metavar="A,B,...",
            default=None,
            callback=_parse_list_option,
            help=param.help + suffix,
        )
    return click.option(
        param.flag,
        param.name,
        type={float: click.FLOAT, int: click.INT}.get(param.type, click.STRING),
        default=(param.default,) if param.multiple else param.default,
        multiple=param.multiple,
        show_default=True,
        help=param.help + suffix,
    )


def _parse_list_option(ctx: click.Context, option: click.Parameter, value: str | None) -> Any:
    """A list parameter's comma-separated items, typed by the registry (None when absent)."""
    if value is None:
        return None
    spec = lookup(ctx.command.name or "")
    param = next(p for p in spec.params if p.name == option.name) if spec else None
    assert param is not None and param.item_type is not None
    try:
        return param.parse(value)
    except ValueError:
        kind = "numbers" if param.item_type is float else "values"
        raise click.BadParameter(f"expected comma-separated {kind}, got {value!r}") from None


def _role_option(spec: LossSpec, index: int) -> Callable[..., Any]:
    role = spec.roles[index]
    names = [role.flag] + ([role.short] if role.short else [])
    auto = (
        f" [default: detected from {', '.join(role.auto_names[:4])}, ...]"
        if role.auto_names
        else ""
    )
    return click.option(*names, "role_" + role.name, metavar="COLS", help=role.help + auto)


def _loss_help(spec: LossSpec) -> str:
    lines = [f"{spec.summary[:1].upper()}{spec.summary[1:]}: {spec.formula}."]
    if spec.reference:
        lines.append(f"\n\nSame as {spec.reference}.")
    if not spec.streams_exactly or spec.multi_pass:
        lines.append(f"\n\nMemory: {spec.memory_note}.")
    param_example = " ".join(
        f"{p.flag} {p.default}" for p in spec.params if p.type is not bool and p.default is not None
    )
    example = f"losscli {spec.name} preds.parquet {param_example}".rstrip()
    lines.append(
        "\n\n\b\nExamples:\n"
        f"  {example}\n"
        f"  losscli {spec.name} preds.csv -p yhat -t y --reduction sum --format json\n"
        f"  losscli {spec.name} preds.parquet --group-by segment\n"
        f"  cat preds.csv | losscli {spec.name} - --format value"
    )
    if spec.aliases:
        lines.append(f"\n\nAliases: {', '.join(spec.aliases)}.")
    return "".join(lines)


def _make_loss_command(spec: LossSpec) -> click.Command:
    def callback(**kwargs: Any) -> None:
        columns = {role.name: kwargs.pop("role_" + role.name) for role in spec.roles}
        params = {p.name: kwargs.pop(p.name) for p in spec.params}
        _run_single(spec, _expand_multiple(spec, params), columns, **kwargs)

    command: Callable[..., Any] = callback
    command = _input_options(command)
    for param in reversed(spec.params):
        command = _param_option(param)(command)
    for index in reversed(range(len(spec.roles))):
        command = _role_option(spec, index)(command)
    return click.command(
        spec.name,
        help=_loss_help(spec),
        short_help=spec.summary,
        context_settings=CONTEXT_SETTINGS,
    )(command)


def _expand_multiple(spec: LossSpec, params: dict[str, Any]) -> list[dict[str, Any]]:
    """One parameter set per value of a repeatable parameter (``--q 0.9 --q 0.99``)."""
    sets = [dict(params)]
    for param in spec.params:
        if param.multiple:
            values = list(dict.fromkeys(params[param.name])) or [param.default]
            sets = [{**base, param.name: value} for base in sets for value in values]
    return sets


def _run_single(
    spec: LossSpec, param_sets: list[dict[str, Any]], columns: dict[str, Any], **kw: Any
) -> None:
    from losscli.engine import LossRequest

    env: Environment = click.get_current_context().find_root().obj
    for params in param_sets:
        for param in spec.params:
            problem = param.check(params[param.name])
            if problem:
                raise UsageError(problem)
    requests = [LossRequest(spec, params, dict(columns)) for params in param_sets]
    _execute(env, requests, many=len(requests) > 1, **kw)


def _execute(
    env: Environment,
    requests: Sequence[Any],
    *,
    many: bool,
    files: tuple[str, ...],
    weight: str | None,
    group_by: str | None,
    reduction: str,
    per: str,
    nan_policy: str,
    fmt: str | None,
    output: str | None,
    keep: str | None,
    targets_from: str | None,
    input_format: str | None,
    chunk_size: int,
    anon: bool,
    engine_name: str,
    scheduler: str | None,
    unit_rows: int,
    memory_limit: int,
    quiet: bool,
    show: tuple[str, ...] = (),
    bins: str | None = None,
    report: str | None = None,
    delimiter: str | None = None,
    decimal_comma: bool = False,
) -> None:
    from losscli import engine

    if not files:
        if env.stdin_isatty or env.stdin is None:
            raise UsageError("no input: give a FILE, or '-' (or a pipe) for stdin")
        files = ("-",)
    if reduction == "none" and group_by:
        raise UsageError("--group-by needs a reducing --reduction (mean or sum)")
    if output is not None and not output.strip():
        raise UsageError("--output needs a file name ending in .csv or .parquet (got '')")
    if output and reduction != "none":
        raise UsageError("--output writes per-row values: use it with --reduction none")
    if keep and reduction != "none":
        raise UsageError("--keep copies columns into per-row output: use it with --reduction none")
    charts = _chart_request(show, bins, report, reduction)
    options = engine.RunOptions(
        files=list(files),
        reduction=reduction,  # type: ignore[arg-type]
        per=per,  # type: ignore[arg-type]
        nan=nan_policy,
        weight=weight,
        group_by=group_by,
        keep=keep,
        chunk_size=chunk_size,
        input_format=input_format,
        targets_from=targets_from,
        delimiter=_delimiter(delimiter),
        decimal_comma=decimal_comma,
        anon=anon,
        engine=engine_name,
        scheduler=scheduler,
        unit_rows=unit_rows,
        charts=charts,
        memory_limit=memory_limit,
    )
    if reduction == "none":
        _execute_rows(env, requests, options, fmt, output, quiet)
        return
    if fmt is None:
        fmt = "table" if env.stdout_isatty else "json"
    from losscli.cli.gating import run_and_render

    # engine.run with a progress bar, then gates, render and reports; exit 1 on a failed gate
    run_and_render(
        env, requests, options, fmt=fmt, many=many, quiet=quiet, show=show, report=report
    )


def _chart_request(
    show: tuple[str, ...], bins: str | None, report: str | None, reduction: str
) -> Any:
    """The histograms to collect for ``--show``/``--report`` (None: none asked, and nothing
    chart-related is imported)."""
    if not show and report is None:
        if bins is not None:
            raise UsageError("--bins sets the histogram's bins: use it with --show or --report")
        return None
    if reduction == "none":
        raise UsageError("--show and --report draw reduced results: use --reduction mean or sum")
    if report is not None:
        import importlib.util

        from losscli.defaults import REPORT_SUFFIXES, report_suffix

        if report_suffix(report) not in REPORT_SUFFIXES:
            raise UsageError(f"--report needs a .png, .svg or .html file name, got {report!r}")
        png = report_suffix(report) == ".png"
        if png and importlib.util.find_spec("PIL") is None:
            raise UsageError("--report FILE.png needs Pillow: pip install 'losscli[plot]'")
    from losscli.engine.request import ChartRequest

    edges = None
    if bins is not None:
        from losscli.stats.histograms import parse_bins

        try:
            edges = tuple(parse_bins(bins).tolist())
        except ValueError as exc:
            raise UsageError(f"--bins {bins!r}: {exc}") from None
    # --show groups draws from the results; the density grid (two values a row) only for the
    # report: --show hist costs one value a row.
    wanted = set(show)
    if not ({"hist", "calibration"} & wanted or report is not None):
        return None
    return ChartRequest(
        bins=edges,
        histogram="hist" in wanted or report is not None,
        density=report is not None,
        calibration="calibration" in wanted or report is not None,
    )


def _delimiter(text: str | None) -> str | None:
    if text is None:
        return None
    from losscli.io.csv import parse_delimiter

    return parse_delimiter(text)


def _execute_rows(
    env: Environment,
    requests: Sequence[Any],
    options: Any,
    fmt: str | None,
    output: str | None,
    quiet: bool,
) -> None:
    from losscli import engine
    from losscli.cli.progress import progress_for
    from losscli.io.writers import FileSink, StreamSink

    if options.engine == "dask":  # one Parquet part per unit of work, written by the workers
        if not output:
            raise UsageError(
                "--engine dask writes per-row values as a Parquet dataset: give -o DIR/"
            )
        with progress_for(env, options.files, quiet=quiet) as progress:
            engine.run(requests, options, progress=progress, dataset=output)
        return
    sink: Any
    if output:
        sink = FileSink(output)
    else:
        fmt = fmt or "csv"
        if fmt == "json" and (len(requests) > 1 or options.keep):
            raise UsageError(
                "per-row JSON holds one loss's values: use --format ndjson or csv for "
                "several losses or --keep"
            )
        request = requests[0]
        from losscli.report.render import SCHEMA_VERSION

        preamble = {
            "schema_version": SCHEMA_VERSION,
            "loss": request.spec.name,
            "params": request.params,
            "reduction": "none",
            "per": options.per,
            "weight": options.weight,
            "files": list(options.files),
        }
        from losscli.report.sanitize import visible

        sink = StreamSink(env.stdout, fmt, preamble, escape=visible)
    try:
        with progress_for(env, options.files, quiet=quiet) as progress:
            engine.run(requests, options, stdin=env.stdin, sink=sink, progress=progress)
    except BaseException as exc:
        if isinstance(sink, FileSink):
            sink.abort()
            if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
                from losscli.errors import OutputError, io_error_text

                raise OutputError(io_error_text(exc, f"--output {output}")) from None
        raise


def parse_metric(text: str) -> Any:
    """``huber:delta=2,pred=yhat`` → a LossRequest (parameters typed by the registry; keys
    naming an input role set that role's columns)."""
    from losscli.engine import LossRequest

    name, _, rest = text.partition(":")
    spec = lookup(name.strip())
    if spec is None:
        known = ", ".join(s.name for s in LOSSES)
        raise UsageError(f"unknown loss {name!r} in -m {text!r}; known losses: {known}")
    params = spec.defaults()
    columns: dict[str, str | None] = {}
    by_param = {p.name: p for p in spec.params}
    roles = {r.name for r in spec.roles}
    seen: set[str] = set()
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq:
            raise UsageError(f"-m {text!r}: expected key=value, got {item!r}")
        if key in seen:  # which one would win is a guess: ambiguity is an error (SPEC §9)
            raise UsageError(f"-m {text!r}: {key!r} is given twice")
        seen.add(key)
        if key in roles:
            columns[key] = raw.strip()
            continue
        param = by_param.get(key)
        if param is None:
            valid = ", ".join([*by_param, *sorted(roles)]) or "none"
            raise UsageError(f"-m {text!r}: {spec.name} has no parameter {key!r} (valid: {valid})")
        params[key] = _coerce(param, raw.strip(), text)
        problem = param.check(params[key])
        if problem:
            raise UsageError(f"-m {text!r}: {problem}")
    return LossRequest(spec, params, columns)


def _coerce(param: Param, raw: str, text: str) -> Any:
    try:
        if param.type is bool:
            lowered = raw.lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return lowered in ("1", "true", "yes")
        return param.parse(raw)
    except ValueError:
        kind = (
            param.type.__name__
            if param.item_type is None
            else f"a list of {param.item_type.__name__} separated by ';' or spaces"
        )
        raise UsageError(f"-m {text!r}: {param.name} must be {kind}, got {raw!r}") from None


@cli.command("eval", context_settings=CONTEXT_SETTINGS)
@click.option(
    "-m",
    "--metric",
    "metrics",
    multiple=True,
    required=True,
    metavar="LOSS[:k=v,...]",
    help="A loss with optional parameters and columns, e.g. huber:delta=2; repeatable.",
)
@click.option("-p", "--pred", "pred", metavar="COLS", help="Prediction column(s) for every loss.")
@click.option("-t", "--target", "target", metavar="COLS", help="Target column(s) for every loss.")
@_input_options
def eval_command(metrics: tuple[str, ...], pred: str | None, target: str | None, **kw: Any) -> None:
    """Several losses over ONE pass of the data.

    JSON output is {"schema_version": 1, "results": [...]}, one result object per -m.

    \b
    Examples:
      losscli eval preds.parquet -m mse -m huber:delta=2 -m r2
      losscli eval preds.csv -m rmse -m mae -g segment --format csv
      losscli eval preds.parquet -m gaussian_nll:var=sigma2,full=true -m mse
    """
    env: Environment = click.get_current_context().find_root().obj
    requests = []
    for text in metrics:
        request = parse_metric(text)
        for role, given in (("pred", pred), ("target", target)):
            if given is not None and role in {r.name for r in request.spec.roles}:
                request.columns.setdefault(role, given)
        requests.append(request)
    _execute(env, requests, many=True, **kw)


def _param_text(param: Param) -> str:
    if param.type is bool and param.cli_flags:
        on, off = param.cli_flags
        return f"{on}/{off} (default {on if param.default else off})"
    valid = f" ({param.valid_text})" if param.valid_text else ""
    if param.item_type is not None:
        return f"{param.flag}=A,B,... (optional{'; ' + param.valid_text if valid else ''})"
    return f"{param.flag}={param.default}{valid}"


@cli.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default=None)
def list_command(fmt: str | None) -> None:
    """List every loss: its inputs, parameters, defaults and reductions.

    \b
    Examples:
      losscli list
      losscli list --format json | jq '.[].name'
    """
    import json

    env: Environment = click.get_current_context().find_root().obj
    rows = [
        {
            "name": spec.name,
            "aliases": list(spec.aliases),
            "summary": spec.summary,
            "formula": spec.formula,
            "inputs": [{"role": r.name, "option": r.flag} for r in spec.roles],
            "params": [
                {"name": p.name, "option": p.flag, "default": p.default, "valid": p.valid_text}
                for p in spec.params
            ],
            "reductions": list(spec.reductions),
            "semantics": spec.semantics,
            "same_as": spec.reference,
            "higher_is_better": spec.higher_is_better,
            "streams_exactly": spec.streams_exactly,
            "passes": "2+" if spec.multi_pass else "1",
            "memory": spec.memory_note,
        }
        for spec in LOSSES
    ]
    if (fmt or ("table" if env.stdout_isatty else "json")) == "json":
        env.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    for name in (
        "loss",
        "aliases",
        "inputs",
        "parameters (default; valid)",
        "reductions",
        "semantics",
        "memory",
    ):
        table.add_column(name)
    for spec in LOSSES:
        params = "; ".join(_param_text(p) for p in spec.params)
        table.add_row(
            f"{spec.name}\n[dim]{spec.summary}[/dim]",
            ", ".join(spec.aliases) or "-",
            ", ".join(r.flag for r in spec.roles),
            params or "-",
            ", ".join(spec.reductions),
            spec.semantics,
            spec.memory_note,
        )
    env.print_table(table)


def _add_check_command() -> None:
    from losscli.cli.gating import check_command

    cli.add_command(check_command)


_add_check_command()


# -- the edge: errors → exit codes --------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: run the CLI and turn every outcome into an exit code."""
    env = Environment.from_system()
    code = run_cli(argv, env)
    sys.exit(code)


def run_cli(argv: Sequence[str] | None, env: Environment) -> int:
    """Run the CLI in ``env``; returns the exit code (never raises for expected failures)."""

    def on_sigterm(signum: int, frame: Any) -> None:
        raise _Terminated  # unwinds like Ctrl-C (sinks remove partial files), but quietly

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread (tests)
        pass
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="losscli",
            standalone_mode=False,
            obj=env,
        )
        if isinstance(result, int):
            return result
        env.stdout.flush()
        return int(ExitCode.OK)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        _show_click_error(env, exc)
        return int(exc.exit_code)
    except LossCliError as exc:
        _error_line(env, str(exc))
        return int(exc.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        _error_line(env, "interrupted")
        return int(ExitCode.INTERRUPTED)
    except _Terminated:
        return 128 + signal.SIGTERM
    except (BrokenPipeError, _StdoutClosed):
        _silence_stdout()
        return int(ExitCode.OK)
    except OSError as exc:  # writing output failed: a full disk, an I/O error
        where = f" ({exc.filename})" if exc.filename else ""
        _error_line(env, f"I/O error: {exc.strerror or exc}{where}")
        return int(ExitCode.DATA)
    except Exception as exc:  # a bug, never a traceback: one line (LOSSCLI_DEBUG=1 shows it)
        import os

        if os.environ.get("LOSSCLI_DEBUG"):
            raise
        _error_line(
            env, f"unexpected {type(exc).__name__}: {exc} (set LOSSCLI_DEBUG=1 for details)"
        )
        return int(ExitCode.DATA)
    finally:
        readers = sys.modules.get("losscli.io.sources")  # not imported: nothing was spooled
        if readers is not None:
            readers.cleanup_temporary_files()


def _show_click_error(env: Environment, exc: click.ClickException) -> None:
    """Click's error as one ``losscli: error: ...`` line, like every other error (naming the
    command's ``--help``); only a bare ``losscli`` still shows the help text it asks for. An
    option value quoted in the message is data too: it is shown escaped (SPEC §9)."""
    import io

    from losscli.report.sanitize import line

    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        buffer = io.StringIO()
        exc.show(file=buffer)
        try:
            for text in buffer.getvalue().splitlines():
                env.stderr.write(line(text) + "\n")
            env.stderr.flush()
        except (BrokenPipeError, ValueError):
            pass
        return
    message = exc.format_message().strip()
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        if not message.endswith((".", "?", "!")):
            message += "."
        message += f" Try '{ctx.command_path} --help'."
    _error_line(env, message)


def _error_line(env: Environment, message: str) -> None:
    """``losscli: error: MESSAGE`` on stderr; data in the message is shown escaped, so the line
    stays one line and holds no escape sequence (SPEC §9)."""
    from losscli.report.sanitize import line

    if "://" in message:  # a URI in an error may carry credentials or a signature
        from losscli.io.remote import redact

        message = redact(message)
    try:
        env.stderr.write(f"losscli: error: {line(message)}\n")
        env.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
