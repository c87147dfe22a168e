"""Reports CI systems read: JUnit XML, a Markdown summary, GitHub's step summary and
``::error::`` annotations (SPEC §5).

A report covers one or more *checks* (a loss command run is one check; a gate file holds
several). JUnit has one testsuite per check and one testcase per gated value (the total, each
group, each output), with a ``<failure>`` when any gate on that value failed and an
``<error>`` when the check could not run.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from losscli import __version__
from losscli.errors import OutputError, io_error_text
from losscli.gates.rules import GateResult, num, subject
from losscli.gates.run import Check
from losscli.report import sanitize
from losscli.report.render import SCHEMA_VERSION, GroupSlots, markdown_cell, result_dict
from losscli.report.terminal import Environment

#: Failed groups listed by name per check; the rest are counted (JSON and JUnit list all).
SHOWN_GROUP_FAILURES = 10
#: Failed groups a check annotates (``::error::``) one by one; past it, the worst of them
#: and one annotation counting the rest.
ANNOTATED_GROUP_FAILURES = 50


def failure_lines(checks: Sequence[Check]) -> list[str]:
    """One line per failed gate (prefixed with the name of a gate file's check); raw text:
    each channel sanitises it (:mod:`losscli.report.sanitize`). Failures of the totals come
    first, then those of groups, worst first (:func:`worst_first`), at most
    ``SHOWN_GROUP_FAILURES`` of them and a line counting the rest."""
    lines: list[str] = []
    for check in checks:
        totals, groups, count = group_failures(check, SHOWN_GROUP_FAILURES)
        lines += [check.prefix + g.reason for g in totals]
        lines += [check.prefix + g.reason for g in groups]
        hidden = count - len(groups)
        if hidden > 0:
            lines.append(check.prefix + _more_failures(hidden))
    return lines


def _more_failures(hidden: int) -> str:
    return (
        f"… and {hidden} more group failure{'s' if hidden > 1 else ''} "
        "(every group is in the JSON and JUnit reports)"
    )


def group_failures(
    check: Check, top: int, failed_only: bool = True
) -> tuple[list[GateResult], list[GateResult], int]:
    """The failed gates of a check's totals (in order), its ``top`` worst failed group gates
    (:func:`worst_first`) and how many group gates failed (``failed_only`` false: the worst
    group gates, failed or not, and how many there are); the groups' columns make objects
    only of the ``top`` worst of each result."""
    totals: list[GateResult] = []
    candidates: list[GateResult] = []
    count = 0
    for outcome in check.outcomes:
        verdicts = outcome.verdicts
        totals += [g for g in verdicts.total if not g.passed and not _grouped(g)]
        grouped = [g for g in verdicts.total if _grouped(g) and not (failed_only and g.passed)]
        candidates += worst_first(grouped)[:top]
        count += len(grouped)
        if verdicts.groups is not None:
            worst, failed = verdicts.groups.worst_failures(top, failed_only)
            candidates += worst
            count += failed
    return totals, worst_first(candidates)[:top], count


def _grouped(gate: GateResult) -> bool:
    return bool(gate.group) and set(gate.group or ()) != {"output"}


def worst_first(failures: Sequence[GateResult]) -> list[GateResult]:
    """Failed gates by how far the value lies beyond its bound, relative to the bound (NaN
    first); ties keep their order."""

    def excess(gate: GateResult) -> float:
        value, bound = gate.value, gate.threshold
        if value != value or bound != bound:
            return float("inf")
        over = value - bound if gate.name.startswith("max") else bound - value
        excess = over / abs(bound) if bound else over
        return float("inf") if excess != excess else excess  # inf / inf: as bad as NaN

    return sorted(failures, key=excess, reverse=True)


def error_lines(checks: Sequence[Check]) -> list[str]:
    """One line per check that could not run."""
    return [f"{c.name}: {c.error}" for c in checks if c.error is not None]


# -- JUnit ----------------------------------------------------------------------------------
def junit_xml(checks: Sequence[Check]) -> str:
    """JUnit XML as the Ant/Jenkins schema describes it (what GitLab, GitHub test-report
    actions, Jenkins and Azure read): ``testsuites > testsuite > testcase > failure|error``."""
    return "".join(junit_pieces(checks))


def junit_pieces(checks: Sequence[Check]) -> Iterator[str]:
    """:func:`junit_xml` in pieces: every group's testcases and gate lines written from the
    gates' columns (:mod:`losscli.report.gated`) into their places in the document
    ElementTree writes for the rest."""
    import socket
    import xml.etree.ElementTree as ET

    from losscli.report import gated

    timestamp = _dt.datetime.now().replace(microsecond=0).isoformat()

    hostname = socket.gethostname() or "localhost"
    root = ET.Element("testsuites", name="losscli")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    nonce = os.urandom(8).hex()
    slots: list[tuple[str, str, Any, str]] = []  # token, "cases" | "lines", columns, classname
    for index, check in enumerate(checks):
        classname = _x(f"losscli.{check.name}" if check.named else "losscli")
        cases: list[tuple[str, list[GateResult]] | Any] = []  # (name, gates) or columns
        tests = failures = 0
        for outcome in check.outcomes:
            verdicts = outcome.verdicts
            columns = verdicts.groups
            if columns is not None and gated.junit_ready(columns):
                own = list(_testcases_of(verdicts.total))
                cases += own
                cases.append(columns)
                count, failed = gated.junit_counts(columns)
                tests += len(own) + count
                failures += failed + sum(1 for _, g in own if not all(x.passed for x in g))
            else:
                own = list(_testcases_of(verdicts))
                cases += own
                tests += len(own)
                failures += sum(1 for _, g in own if not all(x.passed for x in g))
        errors = 1 if check.error is not None else 0
        tests += errors
        suite = ET.SubElement(
            root,
            "testsuite",
            name=_x(check.name),
            package="losscli",
            id=str(index),
            tests=str(tests),
            failures=str(failures),
            errors=str(errors),
            skipped="0",
            time=f"{check.seconds:.3f}",
            timestamp=timestamp,
            hostname=hostname,
        )
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="losscli.version", value=__version__)
        for outcome in check.outcomes[:1]:
            ET.SubElement(
                properties, "property", name="files", value=_x(", ".join(outcome.result.files))
            )
        if check.error is not None:
            case = ET.SubElement(
                suite, "testcase", classname=classname, name=_x(check.name), time="0"
            )
            message = _x(check.error)
            ET.SubElement(case, "error", message=message, type="error").text = message
        details: list[str] = []
        for entry in cases:
            if not isinstance(entry, tuple):  # every group's, from the columns
                token = f"junit-{nonce}-{len(slots)}"
                ET.SubElement(suite, "testcase", classname=classname, name=token, time="0")
                slots.append((token, "cases", entry, classname))
                token = f"junit-{nonce}-{len(slots)}"
                details.append(token)
                slots.append((token, "lines", entry, classname))
                continue
            name, gates = entry
            case = ET.SubElement(suite, "testcase", classname=classname, name=_x(name), time="0")
            failing = [g for g in gates if not g.passed]
            unsure = [g for g in gates if g.passed and g.verdict == "inconclusive"]
            if unsure:  # a passed testcase that says why it is not a clear pass
                ET.SubElement(case, "system-out").text = "\n".join(_gate_line(g) for g in unsure)
            if failing:
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=_x("; ".join(g.reason for g in failing)),
                    type=",".join(dict.fromkeys(g.name for g in failing)),
                )
                failure.text = "\n".join(_gate_line(g) for g in gates)
            details += [_gate_line(g) for g in gates]
        ET.SubElement(suite, "system-out").text = "\n".join(details) or None
        ET.SubElement(suite, "system-err")
        totals["tests"] += tests
        totals["failures"] += failures
        totals["errors"] += errors
        total_time += check.seconds
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    pos = 0
    for _, token, kind, columns, classname in sorted(
        (text.index(slot[0]), *slot) for slot in slots
    ):  # in document order: every testcase, then the suite's system-out
        at = text.index(token, pos)
        if kind == "cases":
            at = text.rindex("<testcase", pos, at)
            end = text.index("/>", at) + 2
        else:
            end = at + len(token)
        yield text[pos:at]
        attribute = gated.xml_attribute(classname)
        yield from _column_cases(columns, attribute, cases=kind == "cases")
        pos = end
    yield text[pos:] + "\n"


def _column_cases(columns: Any, classname: str, *, cases: bool) -> Iterator[str]:
    """The testcases (or gate lines) of every group, a piece at a time."""
    from losscli.report import gated

    first = True
    for start in range(0, len(columns.table), gated.PIECE):
        stop = min(start + gated.PIECE, len(columns.table))
        piece = gated.junit_piece(columns, classname, start, stop, cases_too=cases)
        assert piece is not None  # junit_ready checked every key
        text = piece[0] if cases else piece[1]
        if text:
            if not first:
                yield "\n    " if cases else "\n"
            yield text
            first = False


def _testcases_of(gates: Sequence[GateResult]) -> Iterator[tuple[str, list[GateResult]]]:
    """(testcase name, its gates): one per gated value, in order."""
    by_value: dict[str, list[GateResult]] = {}
    for gate in gates:
        by_value.setdefault(gate.subject, []).append(gate)
    yield from by_value.items()


def _gate_line(gate: GateResult) -> str:
    mark = "INCONCLUSIVE" if gate.verdict == "inconclusive" else "PASS" if gate.passed else "FAIL"
    return _x(f"[{mark}] {gate.name}: {gate.reason}")


def _x(text: str) -> str:
    """Data-derived text in the XML: XML 1.0-legal, control characters shown escaped."""
    return sanitize.xml(text)


def write_junit(path: str, checks: Sequence[Check]) -> None:
    """Write the JUnit file atomically (temporary name, then rename); a failure is an
    :class:`OutputError` and leaves no file (an earlier file at ``path`` stays as it was)."""
    try:
        _write_atomically(path, junit_pieces(checks))
    except OSError as exc:
        raise OutputError(io_error_text(exc, f"--junit {path}")) from None


def _write_atomically(path: str, content: str | Iterable[str]) -> None:
    """Write under a temporary name in the same directory, flushed to disk, then rename: a
    reader (or a second losscli writing the same path) sees the old file or the whole new one."""
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=".losscli-", suffix=".part", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as fh:
            for piece in [content] if isinstance(content, str) else content:
                fh.write(piece)
            fh.flush()
            os.fsync(fh.fileno())  # a full disk shows here at the latest, not after the rename
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp creates 0600; use the usual mode
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# -- Markdown -------------------------------------------------------------------------------
def _gate_cell(gate: GateResult) -> str:
    """``max 30`` or ``max_increase 5% (baseline 28.3, limit 29.7)``."""
    interval = ""
    if gate.interval is not None:
        lo, hi = gate.interval
        interval = f", {gate.level:.6g} interval [{num(lo)}, {num(hi)}]"
    if gate.allowed is not None:
        base = "NaN" if gate.baseline is None else num(gate.baseline)
        return (
            f"{gate.name} {gate.allowed} (baseline {base}, limit {num(gate.threshold)}{interval})"
        )
    return f"{gate.name} {num(gate.threshold)}" + (f" ({interval[2:]})" if interval else "")


@dataclass(frozen=True)
class SummaryRow:
    """One line of a summary: a gate on a value (or an ungated value, or a check's error)."""

    check: str
    subject: str
    rows: int | None
    value: str
    gate: str
    verdict: str  # pass | inconclusive | FAIL | error | -


#: Group gates a summary lists by name per result when there are more: the failures, worst
#: first; a row counts the others (every gate is in the JSON and JUnit reports).
SUMMARY_GROUP_ROWS = 100


def summary_rows(checks: Sequence[Check]) -> list[SummaryRow]:
    out: list[SummaryRow] = []
    for check in checks:
        if check.error is not None:
            out.append(SummaryRow(check.name, "", None, "", check.error, "error"))
        for outcome in check.outcomes:
            result = outcome.result
            verdicts = outcome.verdicts
            if not len(verdicts):
                out.append(
                    SummaryRow(
                        check.name, result.loss, result.rows, _value_text(result.value), "-", "-"
                    )
                )
            grouped = [g for g in verdicts.total if _grouped(g)]
            many = len(grouped) + (len(verdicts.groups) if verdicts.groups else 0)
            if many <= SUMMARY_GROUP_ROWS:
                shown = list(verdicts)
            else:  # the totals, then the worst group gates and a row for the rest
                single = Check(check.name, [outcome], named=check.named)
                _, worst, _ = group_failures(single, SUMMARY_GROUP_ROWS, failed_only=False)
                failed = group_failures(single, 0)[2]
                shown = [g for g in verdicts.total if not _grouped(g)] + worst
            if many <= SUMMARY_GROUP_ROWS or verdicts.groups is None:
                rows = _rows_of(result, shown)
            else:
                rows = {subject(result.loss, None): result.rows}  # (no grouped objects here)
                rows.update(verdicts.groups.rows_of_worst(SUMMARY_GROUP_ROWS, False))
            for gate in shown:
                group_key = {k: v for k, v in (gate.group or {}).items() if k != "output"}
                out.append(
                    SummaryRow(
                        check.name,
                        gate.subject,
                        rows.get(subject(result.loss, group_key or None)),
                        num(gate.value),
                        _gate_cell(gate),
                        "FAIL" if not gate.passed else gate.outcome,
                    )
                )
            if many > SUMMARY_GROUP_ROWS:
                hidden = many - len(worst)
                failed_hidden = failed - sum(1 for g in worst if not g.passed)
                out.append(
                    SummaryRow(
                        check.name,
                        f"… {hidden} more group gates, {failed_hidden} of them failed (every "
                        "group is in the JSON and JUnit reports)",
                        None,
                        "",
                        "",
                        "-",
                    )
                )
    return out


def _rows_of(result: Any, gates: Sequence[GateResult]) -> dict[str, int]:
    """The rows of the total and of the groups ``gates`` are on, by subject (``mse``,
    ``mse [segment=rural]``)."""
    rows: dict[str, int] = {subject(result.loss, None): result.rows}
    wanted = {
        subject(result.loss, {k: v for k, v in g.group.items() if k != "output"})
        for g in gates
        if g.group and set(g.group) != {"output"}
    }
    if not wanted:
        return rows
    for g in result.groups:
        key = subject(result.loss, g.key_dict(result.group_by))
        if key in wanted:
            rows[key] = g.rows
            wanted.discard(key)
            if not wanted:
                break
    return rows


def verdict_line(checks: Sequence[Check]) -> tuple[bool, str]:
    """(passed, ``all 5 gates passed`` / ``2 of 5 gates failed, 1 check could not run``)."""
    verdicts = [o.verdicts for c in checks for o in c.outcomes]
    gates = sum(len(v) for v in verdicts)
    failed = sum(v.failed_count() for v in verdicts)
    errors = [c for c in checks if c.error is not None]
    unsure = sum(v.inconclusive_count() for v in verdicts)
    compared = [g for v in verdicts for g in v.compared()]
    note = ""
    if compared:
        note = f" ({unsure} inconclusive)" if unsure else ""
        note += f"; {len(compared)} comparison{'s' if len(compared) != 1 else ''}"
        note += f" at {compared[0].confidence:g} confidence"
        if compared[0].adjust and compared[0].adjust != "none":
            note += f", {compared[0].adjust}-adjusted"
    if not failed and not errors:
        return True, ("the gate passed" if gates == 1 else f"all {gates} gates passed") + note
    problems = []
    if gates == 1 and failed:
        problems.append("the gate failed")
    elif failed:
        problems.append(f"{failed} of {gates} gates failed")
    if errors:
        problems.append(f"{len(errors)} check{'s' if len(errors) > 1 else ''} could not run")
    return False, ", ".join(problems) + note


_MARKS = {
    "pass": "✅ pass",
    "inconclusive": "⚠️ inconclusive",
    "FAIL": "❌ FAIL",
    "error": "❌ error",
    "-": "-",
}


def markdown_summary(checks: Sequence[Check]) -> str:
    """A heading with the verdict, one table row per gate and value, then the failures."""
    ok, verdict = verdict_line(checks)
    lines = [
        f"### {'✅' if ok else '❌'} losscli: {verdict}",
        "",
        "| check | value of | rows | value | gate | verdict |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    for row in summary_rows(checks):
        cells = [row.check, row.subject, "" if row.rows is None else row.rows, row.value, row.gate]
        lines.append(
            "| " + " | ".join(markdown_cell(c) for c in cells) + f" | {_MARKS[row.verdict]} |"
        )
    problems = error_lines(checks) + failure_lines(checks)
    if problems:
        lines += ["", "**Failures**", ""]
        lines += [f"- {markdown_cell(line)}" for line in problems]
    return "\n".join(lines) + "\n"


def print_summary_table(checks: Sequence[Check], env: Environment) -> None:
    """The summary as a rich table on stdout (a terminal), the verdict as its caption."""
    from rich.table import Table

    rich_text = sanitize.rich_text
    ok, verdict = verdict_line(checks)
    table = Table(show_header=True, header_style="bold", box=None)
    for name, justify in (
        ("check", "left"), ("value of", "left"), ("rows", "right"), ("value", "right"),
        ("gate", "left"), ("verdict", "left"),
    ):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    styles = {
        "pass": "green",
        "inconclusive": "yellow",
        "FAIL": "bold red",
        "error": "bold red",
        "-": "",
    }
    for row in summary_rows(checks):
        style = styles[row.verdict]
        verdict_cell = f"[{style}]{row.verdict}[/{style}]" if style else row.verdict
        table.add_row(
            rich_text(row.check), rich_text(row.subject), "" if row.rows is None else str(row.rows),
            row.value, rich_text(row.gate), verdict_cell,
        )  # fmt: skip
    table.caption = f"[green]{verdict}[/green]" if ok else f"[bold red]{verdict}[/bold red]"
    env.print_table(table)


def checks_json(checks: Sequence[Check]) -> str:
    """``{"schema_version": 1, "checks": [...], "passed": bool}``: each check is a result
    object (as ``losscli LOSS`` writes it, with ``gates``/``passed``) plus its ``name``, or
    ``{"name", "error", "passed": false}``. Such a file also serves as a ``baseline``."""
    return "".join(checks_json_pieces(checks))


def checks_json_pieces(checks: Sequence[Check]) -> Iterator[str]:
    """:func:`checks_json` in pieces (every group and gate streamed from its columns)."""
    import json

    slots = GroupSlots()  # the groups are written from their columns, not one object each
    entries: list[dict[str, Any]] = []
    for check in checks:
        if check.error is not None:
            entries.append({"name": check.name, "error": check.error, "passed": False})
        for outcome in check.outcomes:
            result = result_dict(outcome.result, outcome.gates, slots)
            entries.append({"name": check.name, **result})
    doc = {
        "schema_version": SCHEMA_VERSION,
        "checks": entries,
        "passed": all(c.passed for c in checks),
    }
    yield from slots.splice(json.dumps(doc, indent=2, allow_nan=False), indented=True)


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(num(v) for v in value) + "]"
    return num(float(value))


# -- GitHub Actions -------------------------------------------------------------------------
_escape_data = sanitize.workflow_data
_escape_property = sanitize.workflow_property


def github_error_lines(checks: Sequence[Check]) -> list[str]:
    """``::error title=...::message`` workflow commands, one per failure; with more than
    ``ANNOTATED_GROUP_FAILURES`` failed group gates in a check (GitHub shows ten annotations
    a step, fifty a job), its totals' failures, the worst group failures and one counting
    the rest."""
    out: list[str] = []
    title = _escape_property("losscli gate failed")
    for check in checks:
        prefix = check.prefix
        if check.error is not None:
            could_not = _escape_property("losscli check could not run")
            out.append(f"::error title={could_not}::{_escape_data(prefix + check.error)}")
        totals, groups, count = group_failures(check, ANNOTATED_GROUP_FAILURES)
        if count <= ANNOTATED_GROUP_FAILURES:
            failures = check.failures  # every one, in order
            messages = [prefix + gate.reason for gate in failures]
        else:
            messages = [prefix + g.reason for g in [*totals, *groups]]
            messages.append(prefix + _more_failures(count - len(groups)))
        out += [f"::error title={title}::{_escape_data(m)}" for m in messages]
    return out


def ci_report(env: Environment, checks: Sequence[Check]) -> None:
    """Under GitHub Actions (``GITHUB_STEP_SUMMARY`` set): append the Markdown summary to the
    step summary and print ``::error::`` lines on stderr (the runner reads both streams)."""
    summary_path = env.env.get("GITHUB_STEP_SUMMARY")
    if not summary_path:
        return
    failed: OutputError | None = None
    try:
        append_whole(summary_path, markdown_summary(checks) + "\n")
    except OSError as exc:
        failed = OutputError(io_error_text(exc, f"GITHUB_STEP_SUMMARY {summary_path}"))
    for line in github_error_lines(checks):
        env.stderr.write(line + "\n")
    env.stderr.flush()
    if failed is not None:
        raise failed


def append_whole(path: str, text: str) -> None:
    """Append ``text`` to ``path`` completely or not at all: after a failed write (a full
    disk) the file is cut back to its old length, so no half summary is left."""
    data = text.encode("utf-8")
    existed = os.path.exists(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            try:
                if existed:
                    os.ftruncate(fd, size)
                else:
                    os.unlink(path)
            except OSError:
                pass
            raise
    finally:
        os.close(fd)
