"""The Click side of gates: the gate options every loss command takes, and the step after the
options are parsed that runs the losses with their gates, renders the verdict, writes the CI
reports and exits 1 when a gate failed. The logic lives in :mod:`losscli.gates`,
:mod:`losscli.gated_run` and :mod:`losscli.reports`; this module only wires it to the CLI.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from losscli.defaults import CHART_KINDS
from losscli.errors import ExitCode, OutputError, UsageError
from losscli.report import sanitize
from losscli.report.terminal import Environment

if TYPE_CHECKING:
    from losscli.gates.rules import GateSpec

META_KEY = "losscli.gates"
F = TypeVar("F", bound=Callable[..., Any])


class GateOptions(NamedTuple):
    """The parsed gate options of one command line."""

    spec: GateSpec | None = None  # None: no gate asked for (gates.py is then never imported)
    baseline: str | None = None
    baseline_pred: str | None = None
    junit: str | None = None
    ci_report: bool = True

    @property
    def gated(self) -> bool:
        return self.spec is not None


def _junit_option(dest: str) -> Callable[[F], F]:
    return click.option(
        "--junit",
        dest,
        metavar="FILE",
        help="Write a JUnit XML report: one testcase per gated value.",
        callback=_file_name,
    )


def _file_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An empty file name is a mistake (an unset variable), never "no report"."""
    if value is not None and not value.strip():
        raise click.BadParameter("needs a file name (got '')", ctx, param)
    return value


def _no_ci_report_option(dest: str) -> Callable[[F], F]:
    return click.option(
        "--no-ci-report",
        dest,
        is_flag=True,
        help="Do not append to GITHUB_STEP_SUMMARY or print ::error:: lines.",
    )


_OPTIONS = [
    click.option(
        "--max",
        "gate_max",
        type=float,
        metavar="X",
        help="Gate: fail (exit 1) if the value, or any group's value, is above X.",
    ),
    click.option(
        "--min",
        "gate_min",
        type=float,
        metavar="X",
        help="Gate: fail (exit 1) if the value, or any group's value, is below X.",
    ),
    click.option(
        "--baseline",
        "gate_baseline",
        metavar="FILE",
        help="Baseline to compare with: a baseline model's predictions (same columns, or see "
        "--baseline-pred) or a JSON result saved from an earlier losscli run.",
    ),
    click.option(
        "--baseline-pred",
        "gate_baseline_pred",
        metavar="COL",
        help="Baseline prediction column(s), in --baseline FILE or else in the input itself.",
    ),
    click.option(
        "--max-increase",
        "gate_max_increase",
        metavar="X|X%",
        help="Gate for losses: fail if the value rises more than X (or X% of the baseline) "
        "above the baseline.",
    ),
    click.option(
        "--min-decrease",
        "gate_min_decrease",
        metavar="X|X%",
        help="Gate for higher-is-better metrics (r2, ...): fail if the value falls more than X "
        "(or X%) below the baseline.",
    ),
    click.option(
        "--confidence",
        "gate_confidence",
        type=float,
        metavar="C",
        help="Gate on a confidence interval (e.g. 0.95): fail only if the interval lies wholly "
        "beyond the limit; 'inconclusive' if it straddles it.",
    ),
    click.option(
        "--inconclusive",
        "gate_inconclusive",
        type=click.Choice(["pass", "fail"]),
        default=None,
        help="What an inconclusive verdict does to the exit status [default: pass].",
    ),
    click.option(
        "--bootstrap",
        "gate_bootstrap",
        type=int,
        metavar="B",
        help="Poisson-bootstrap replicates for intervals [default: a t interval for plain "
        "means, 200 replicates for other metrics].",
    ),
    click.option(
        "--seed",
        "gate_seed",
        type=int,
        metavar="N",
        help="Seed of the bootstrap's counter-based weights [default: 0].",
    ),
    click.option(
        "--adjust",
        "gate_adjust",
        type=click.Choice(["none", "bonferroni", "holm"]),
        default=None,
        help="Multiple-comparison adjustment across a loss's gated values (groups, outputs) "
        "[default: none].",
    ),
    _junit_option("gate_junit"),
    _no_ci_report_option("gate_no_ci_report"),
]


def gate_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the gate options to a command; the callback never sees them: they are parsed into a
    :class:`GateOptions` kept in the context for :func:`run_and_render`."""

    @functools.wraps(f)
    def callback(*args: Any, **kwargs: Any) -> Any:
        settings = _parse(kwargs)
        if settings.gated and kwargs.get("reduction") == "none":
            raise UsageError("gates need a reduced value: use them with --reduction mean or sum")
        click.get_current_context().meta[META_KEY] = settings
        return f(*args, **kwargs)

    command: Callable[..., Any] = callback
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def _parse(kwargs: dict[str, Any]) -> GateOptions:
    increase = kwargs.pop("gate_max_increase")
    decrease = kwargs.pop("gate_min_decrease")
    upper, lower = kwargs.pop("gate_max"), kwargs.pop("gate_min")
    for option, bound in (("--max", upper), ("--min", lower)):
        if bound is not None and not math.isfinite(bound):
            raise UsageError(f"{option} must be a finite number (got {bound})")
    confidence = _confidence(kwargs)
    spec = None
    if confidence is not None and (upper, lower, increase, decrease) == (None, None, None, None):
        raise UsageError(
            "--confidence qualifies a gate: add --max/--min, or --max-increase/--min-decrease "
            "with a baseline"
        )
    if (upper, lower, increase, decrease) != (None, None, None, None):
        from losscli.gates.rules import Change, GateSpec

        spec = GateSpec(
            confidence=confidence,
            max=upper,
            min=lower,
            max_increase=Change.parse(increase, "--max-increase") if increase is not None else None,
            min_decrease=Change.parse(decrease, "--min-decrease") if decrease is not None else None,
        )
    return GateOptions(
        spec=spec,
        baseline=kwargs.pop("gate_baseline"),
        baseline_pred=kwargs.pop("gate_baseline_pred"),
        junit=kwargs.pop("gate_junit"),
        ci_report=not kwargs.pop("gate_no_ci_report"),
    )


def _confidence(kwargs: dict[str, Any]) -> Any:
    """The ConfidenceSpec of ``--confidence`` and its companions (None without it)."""
    level = kwargs.pop("gate_confidence")
    extras = {
        "inconclusive": kwargs.pop("gate_inconclusive"),
        "bootstrap": kwargs.pop("gate_bootstrap"),
        "seed": kwargs.pop("gate_seed"),
        "adjust": kwargs.pop("gate_adjust"),
    }
    given = {k: v for k, v in extras.items() if v is not None}
    if level is None:
        if given:
            raise UsageError(f"--{next(iter(given))} needs --confidence C (e.g. 0.95)")
        return None
    from losscli.gates.confidence import ConfidenceSpec

    return ConfidenceSpec(level, **given)


def table_view() -> Any:
    """The table's ``--top``/``--sort`` of the running command (a :class:`TableView`)."""
    from losscli.report.render import TableView

    ctx = click.get_current_context(silent=True)
    given = ctx.meta.get("losscli.table_view", {}) if ctx is not None else {}
    return TableView(given.get("top"), given.get("sort"))


def current() -> GateOptions:
    """The gate options of the running command (none when it has no gate options)."""
    ctx = click.get_current_context(silent=True)
    settings = ctx.meta.get(META_KEY) if ctx is not None else None
    return settings if isinstance(settings, GateOptions) else GateOptions()


def run_and_render(
    env: Environment,
    requests: Sequence[Any],
    options: Any,
    *,
    fmt: str,
    many: bool,
    quiet: bool,
    show: Sequence[str] = (),
    report: str | None = None,
) -> None:
    """Run ``requests`` (one pass, plus baseline passes), render results with their verdicts
    and ``--show`` charts, write the reports; on a failed gate print one line per failure and
    exit 1."""
    from losscli.cli.progress import progress_for
    from losscli.report import render

    settings = current()
    plain = not (settings.gated or settings.junit or settings.baseline or settings.baseline_pred)
    preload = _preload_report(report)
    if plain:  # no gates, no reports: skip importing their machinery (start-up matters)
        from losscli import engine

        with progress_for(env, options.files, quiet=quiet) as progress:
            results = engine.run(requests, options, stdin=env.stdin, progress=progress)
        _note_skipped(env, results, quiet)
        render.render(results, fmt, env, many=many, view=table_view())
        if preload is not None:
            preload.join()
        if show or report:
            summary = _charts(env, results, fmt, show, report, None, None)
            if settings.ci_report:
                from losscli.report.charts import append_step_summary

                append_step_summary(env, summary)
        return

    from losscli.gates.rules import GateSpec, check_direction
    from losscli.gates.run import BaselineSource, Check, GatedRequest, run_gated

    gate_spec = settings.spec or GateSpec()
    baseline = None
    if settings.baseline is not None or settings.baseline_pred is not None:
        baseline = BaselineSource(settings.baseline, settings.baseline_pred)
    if gate_spec.needs_baseline:
        check_direction(gate_spec, [(r.spec.name, r.spec.higher_is_better) for r in requests])
    items = [GatedRequest(r, gate_spec, baseline) for r in requests]
    started = time.monotonic()
    with progress_for(env, options.files, quiet=quiet) as progress:
        outcomes = run_gated(items, options, stdin=env.stdin, progress=progress)
    results = [o.result for o in outcomes]
    _note_skipped(env, results, quiet)
    verdicts = [o.gates for o in outcomes] if settings.gated else None
    reports_follow = settings.gated or bool(settings.junit)
    faults = _stdout_faults(
        lambda: render.render(results, fmt, env, many=many, gates=verdicts, view=table_view()),
        keep=reports_follow,
    )
    if gate_spec.confidence is not None and verdicts and not quiet:
        _note_comparisons(env, [g for per in verdicts for g in per])
    if preload is not None:
        preload.join()
    try:
        summary = _charts(env, results, fmt, show, report, settings.spec, verdicts)
    except OutputError as exc:  # --report: a write fault, ranked after a failed gate
        if not reports_follow:
            raise
        summary, faults = "", [*faults, exc.message]
    if reports_follow:
        name = "losscli " + " ".join(dict.fromkeys(r.loss for r in results))
        check = Check(name, outcomes, seconds=time.monotonic() - started, named=False)
        finish(
            env,
            [check],
            junit=settings.junit,
            ci_report=settings.ci_report and settings.gated,
            summary_charts=summary if settings.ci_report else "",
            output_faults=faults,
        )
    elif settings.ci_report and summary:
        from losscli.report.charts import append_step_summary

        append_step_summary(env, summary)


def _stdout_faults(write: Callable[[], None], *, keep: bool) -> list[str]:
    """Run ``write`` (results to stdout); with ``keep``, a write fault (a full disk) becomes a
    line for :func:`finish`, so the reports are still written and a failed gate still exits 1."""
    try:
        write()
    except BrokenPipeError:
        raise
    except OSError as exc:
        if not keep:
            raise
        from losscli.errors import io_error_text

        return [io_error_text(exc, "stdout")]
    return []


def _preload_report(report: str | None) -> Any:
    """For ``--report``: a thread importing the drawing modules (for a PNG Pillow and its fonts
    too, ~20 ms) while the data are read, rather than after them; None without a report.
    Imported again where drawn (a no-op then), so an error there is raised where it belongs."""
    if report is None:
        return None
    import threading

    from losscli.defaults import report_suffix

    png = report_suffix(report) == ".png"

    def load() -> None:
        try:
            import losscli.report.image
            import losscli.report.panels
            import losscli.report.svg  # noqa: F401

            if png:
                from losscli.report import raster

                raster.load_fonts()
        except Exception:  # raised again where the report is drawn
            pass

    thread = threading.Thread(target=load, name="losscli-report-imports")
    thread.start()
    return thread


def _charts(
    env: Environment,
    results: Sequence[Any],
    fmt: str,
    show: Sequence[str],
    report: str | None,
    gate: GateSpec | None,
    verdicts: Any,
) -> str:
    """Draw the ``--show`` charts for ``fmt`` (under the table, or as Mermaid after the
    Markdown table), write ``--report``; returns the Mermaid charts for the step summary."""
    if not show and report is None:
        return ""
    from losscli.report import charts

    markdown = ""
    if show and (fmt == "markdown" or env.env.get("GITHUB_STEP_SUMMARY")):
        markdown = charts.markdown_charts(results, show, gate)  # only where it goes
    if show:
        if fmt == "table":
            charts.print_charts(results, show, env, gate)
        elif fmt == "markdown" and markdown:
            env.stdout.write("\n" + markdown + "\n")
            env.stdout.flush()
    if report is not None:  # last: a report that cannot be written spoils nothing else
        from losscli.report import image

        image.write_report(report, image.report_data(results, gate, verdicts))
    return markdown


def _note_comparisons(env: Environment, gates: Sequence[Any]) -> None:
    """``--confidence`` says on stderr how many comparisons were made (and how adjusted)."""
    compared = [g for g in gates if g.confidence is not None]
    if not compared:
        return
    unsure = sum(1 for g in compared if g.verdict == "inconclusive")
    adjust = compared[0].adjust
    env.stderr.write(
        f"losscli: note: {len(compared)} comparison{'s' if len(compared) != 1 else ''} at "
        f"{compared[0].confidence:g} confidence"
        + (f", {adjust}-adjusted" if adjust and adjust != "none" else "")
        + f"; {unsure} inconclusive\n"
    )


def _note_skipped(env: Environment, results: Sequence[Any], quiet: bool) -> None:
    """``--nan skip`` says on stderr how many rows it dropped; the engine's notes (e.g. values
    spooled to disk) follow."""
    if not quiet:
        for note in dict.fromkeys(n for r in results for n in getattr(r, "notes", ())):
            env.stderr.write(f"losscli: note: {sanitize.line(note)}\n")
    skipped = results[0].skipped_rows if results else 0
    if skipped and not quiet:
        env.stderr.write(
            f"losscli: note: skipped {skipped} row{'s' if skipped != 1 else ''} "
            "with missing values (--nan skip)\n"
        )


def finish(
    env: Environment,
    checks: Sequence[Any],
    *,
    junit: str | None,
    ci_report: bool,
    summary_charts: str = "",
    output_faults: Sequence[str] = (),
) -> None:
    """Write the JUnit file and the CI reports (with ``summary_charts`` after the step
    summary's table), print one line per failure on stderr, and exit with the first error's
    code (a check that could not run) or 1 (a gate failed)."""
    from losscli.errors import OutputError, io_error_text
    from losscli.report.ci import ci_report as write_ci_report
    from losscli.report.ci import error_lines, failure_lines, write_junit

    # Every report is attempted even when one cannot be written; the exit status is then, in
    # this order: a check that could not run (2 or 3), a failed gate (1), a write fault (3).
    write_faults = list(output_faults)
    try:
        env.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        write_faults.append(io_error_text(exc, "stdout"))
    if junit:
        try:
            write_junit(junit, checks)
        except OutputError as exc:
            write_faults.append(exc.message)
    if ci_report:
        try:
            write_ci_report(env, checks)
        except OutputError as exc:
            write_faults.append(exc.message)
    if summary_charts:
        from losscli.report.charts import append_step_summary

        append_step_summary(env, summary_charts)
    errors = error_lines(checks)
    failures = failure_lines(checks)
    for line in errors:
        env.stderr.write(f"losscli: error: {sanitize.line(line)}\n")
    for line in failures:
        env.stderr.write(f"losscli: gate failed: {sanitize.line(line)}\n")
    for line in write_faults:
        env.stderr.write(f"losscli: error: {sanitize.line(line)}\n")
    env.stderr.flush()
    codes = [c.error_code for c in checks if c.error is not None]
    if codes:
        raise click.exceptions.Exit(codes[0])
    if failures:
        raise click.exceptions.Exit(int(ExitCode.GATE_FAILED))
    if write_faults:
        raise click.exceptions.Exit(int(ExitCode.DATA))


# -- losscli check ------------------------------------------------------------------------------
@click.command(
    "check",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    short_help="Run a gate file (TOML) of checks: one verdict for CI.",
)
@click.argument("gate_file", default="losscli.toml", metavar="[GATE_FILE]")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "markdown"]),
    default=None,
    help="Summary format [default: table on a terminal, else json].",
)
@_junit_option("junit")
@_no_ci_report_option("no_ci_report")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar on stderr.")
@click.option(
    "--show",
    multiple=True,
    type=click.Choice(CHART_KINDS),
    help="Charts per check from the same pass: hist (error histogram), groups (worst groups "
    "against the check's gate), calibration (probability losses). Drawn under the table; "
    'Mermaid charts in Markdown and the GitHub step summary; "histograms" in JSON. '
    "Repeatable.",
)
def check_command(
    gate_file: str,
    fmt: str | None,
    junit: str | None,
    no_ci_report: bool,
    quiet: bool,
    show: tuple[str, ...],
) -> None:
    """Run every check of a gate file and exit 1 if any gate fails.

    GATE_FILE (default ./losscli.toml) holds [[check]] tables: a loss, its input (file,
    columns, params, group_by, weight), and gates (max, min, or max_increase / min_decrease
    against a baseline). Checks reading the same input share one pass. Paths are relative to
    GATE_FILE. Invalid TOML or an unknown key is a usage error (exit 2) naming the key.

    \b
    Example losscli.toml:
      [defaults]
      file = "predictions.parquet"
      [[check]]
      name = "overall"
      loss = "mse"
      max = 30
      [[check]]
      name = "per segment"
      loss = "huber"
      params = { delta = 5.0 }
      group_by = "segment"
      max = 12

    \b
    Examples:
      losscli check
      losscli check ci/losscli.toml --junit losscli-junit.xml
      losscli check --format markdown >> "$GITHUB_STEP_SUMMARY"
      losscli check --show groups --show hist

    Exit codes: 0 all gates passed, 1 a gate failed, 2 bad gate file, 3 input or data error.
    """
    from losscli.cli.progress import progress_for
    from losscli.gates import checkfile
    from losscli.report import ci as reports

    env: Environment = click.get_current_context().find_root().obj
    specs = checkfile.load(gate_file)
    charts = None
    if {"hist", "calibration"} & set(show):
        from losscli.engine.request import ChartRequest

        charts = ChartRequest(
            histogram="hist" in show, density=False, calibration="calibration" in show
        )
    checks = checkfile.run_checks(
        specs,
        stdin=env.stdin,
        progress=lambda files: progress_for(env, files, quiet=quiet),
        charts=charts,
    )
    fmt = fmt or ("table" if env.stdout_isatty else "json")
    drawn = _check_charts(specs, checks, show)

    def write() -> None:
        if fmt == "table":
            reports.print_summary_table(checks, env)
            _print_check_charts(env, specs, checks, show)
        elif fmt == "markdown":
            env.stdout.write(reports.markdown_summary(checks))
            if drawn:
                env.stdout.write("\n" + drawn + "\n")
        else:
            for piece in reports.checks_json_pieces(checks):  # every group: not one string
                env.stdout.write(piece)
            env.stdout.write("\n")
        env.stdout.flush()

    faults = _stdout_faults(write, keep=True)
    finish(
        env,
        checks,
        junit=junit,
        ci_report=not no_ci_report,
        summary_charts=drawn if not no_ci_report else "",
        output_faults=faults,
    )


def _check_kinds(
    checks: Sequence[Any], show: Sequence[str]
) -> list[tuple[int, list[Any], list[str]]]:
    """For each check with something to draw: its index, results and chart kinds. Checks
    reading the same columns share one histogram: it is drawn under the first of them only;
    a check without groups or probabilities gets no placeholder."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for i, check in enumerate(checks):
        results = [outcome.result for outcome in check.outcomes]
        kinds = []
        for kind in show:
            if (kind == "groups" and any(r.groups for r in results)) or (
                kind == "calibration"
                and any(r.charts is not None and r.charts.calibration is not None for r in results)
            ):
                kinds.append(kind)
            elif kind == "hist":
                drawn = [r.charts.histogram for r in results if r.charts is not None]
                keys = {
                    (tuple(h.edges.tolist()), tuple(h.counts.tolist()), h.underflow, h.overflow)
                    for h in drawn
                    if h is not None
                }
                if keys - seen:
                    kinds.append(kind)
                seen |= keys
        if kinds:
            out.append((i, results, kinds))
    return out


def _check_charts(specs: Sequence[Any], checks: Sequence[Any], show: Sequence[str]) -> str:
    """Mermaid charts of each check that has some (``check --show``), under its name."""
    if not show:
        return ""
    from losscli.report.charts import markdown_charts
    from losscli.report.sanitize import markdown

    blocks = [
        f"#### {markdown(checks[i].name)}\n\n{markdown_charts(results, kinds, specs[i].gates)}"
        for i, results, kinds in _check_kinds(checks, show)
    ]
    return "\n\n".join(blocks)


def _print_check_charts(
    env: Environment, specs: Sequence[Any], checks: Sequence[Any], show: Sequence[str]
) -> None:
    """The ``check --show`` charts under the summary table, each under its check's name."""
    if not show:
        return
    from losscli.report.charts import terminal_charts
    from losscli.report.sanitize import rich_text

    console = env.console()
    for i, results, kinds in _check_kinds(checks, show):
        console.print()
        console.print(f"[bold]{rich_text(checks[i].name)}[/bold]")
        for renderable in terminal_charts(results, kinds, specs[i].gates):
            console.print()
            console.print(renderable)
