"""Gate reports of many groups written from their columns (:class:`~losscli.gates.columns.
GroupGates`): the JSON ``"gates"`` list, the reasons and the JUnit testcases, a piece of groups
at a time, the same bytes as the gates written one :class:`GateResult` at a time.

The text is built by Arrow. Numbers appear in reasons as :func:`losscli.gates.rules.num`
writes them (``%.6g``): :func:`num_texts` rounds to six digits in NumPy and lets Arrow write
the shortest digits of the rounded value; the few values it cannot place exactly (near a
rounding tie, exponent notation, zeros, NaN and infinities) are written by Python. A piece
whose keys are not plain printable ASCII (or a number-like text key, a table of Python keys)
is written through the gate objects.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

import numpy as np

from losscli.gates.columns import Gates, GroupGates
from losscli.gates.rules import GateResult, num
from losscli.io.convert import arrow_of
from losscli.report.grouped import (
    COLUMNAR_FROM,
    PIECE,
    _joined_array,
    _literal,
    _marker,
    _template,
    _text_of,
    float_texts,
    json_key_texts,
    strings,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Printable ASCII but ``"``, ``\\``, ``&``, ``<``, ``>``, ``|``, ``` ` ``` and ``$``: a key
#: every channel (JSON, XML, Markdown) writes as it is.
_PLAIN = r"^[\x20\x21\x23\x25\x27-\x3b\x3d\x3f-\x5b\x5d-\x5f\x61-\x7b\x7d\x7e]*$"


# -- numbers as the reasons write them ------------------------------------------------------------
def _python(values: NDArray[np.float64], texts: Any, hard: NDArray[np.bool_], fmt: Any) -> Any:
    import pyarrow.compute as pc

    if not hard.any():
        return texts
    replacements = [fmt(v) for v in values[hard].tolist()]
    return pc.replace_with_mask(texts, arrow_of(hard), strings(replacements))


#: Exact powers of ten: 10**k for k = 0 … 22 (every one a double).
_POWERS = 10.0 ** np.arange(23)


def _shifted(a: NDArray[np.float64], k: NDArray[np.int64]) -> NDArray[np.float64]:
    """``a · 10**k`` rounded once (``k`` in −22 … 22): a product or a quotient by an exact
    power of ten."""
    power = _POWERS[np.minimum(np.abs(k), 22)]
    return np.where(k >= 0, a * power, a / power)


def _six_digits(values: NDArray[np.float64]) -> tuple[Any, NDArray[np.bool_]]:
    """``%.6g`` of each value as an Arrow string array, and which values it is not right
    for (left to Python): outside ``1e-4 ≤ |x| < 1e6`` after rounding (but zero), NaN, ±inf, or
    within rounding error of a tie. The six digits are an integer ``m`` (``|x| ≈ m·10^(e-5)``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    x = np.ascontiguousarray(values, dtype=np.float64)
    a = np.abs(x)
    ok = np.isfinite(x) & (a >= 9e-5) & (a < 1.1e6)
    a = np.where(ok, a, 1.0)
    e = np.floor(np.log10(a)).astype(np.int64)
    for _ in range(2):  # log10 may miss by one next to a power of ten
        scaled = _shifted(a, 5 - e)
        e = e - (scaled < 1e5) + (scaled >= 1e6)
    scaled = _shifted(a, 5 - e)
    ok &= (scaled >= 1e5) & (scaled < 1e6)
    frac = scaled - np.floor(scaled)
    ok &= np.abs(frac - 0.5) > 1e-6  # the product is within 1e-10 of a * 10**k
    digits = np.rint(scaled).astype(np.int64)
    carry = digits >= 1_000_000
    digits[carry] = 100_000
    e = e + carry
    ok &= (e >= -4) & (e <= 5)
    # the six digits as a double, correctly rounded (both operands exact): Arrow writes its
    # shortest digits, which are those six without trailing zeros, in fixed notation here
    shown = digits / _POWERS[np.clip(5 - e, 0, 9)]
    shown = np.where(ok, np.where(np.signbit(x), -shown, shown), 0.0)
    zero = x == 0  # Arrow writes ±0.0 as %g does: "0", "-0"
    shown[zero] = x[zero]
    return pc.cast(arrow_of(shown), pa.string()), ~(ok | zero)


def num_texts(values: NDArray[np.float64]) -> Any:
    """:func:`losscli.gates.rules.num` of each value (``%.6g``; NaN as ``NaN``)."""
    texts, hard = _six_digits(values)
    return _python(values, texts, hard, num)


def signed_texts(values: NDArray[np.float64]) -> Any:
    """``f"{x:+.6g}"`` of each value."""
    import pyarrow.compute as pc

    texts, hard = _six_digits(values)
    plus = arrow_of(~np.signbit(values))
    texts = pc.if_else(plus, _joined_array(["+", texts]), texts)
    return _python(values, texts, hard, lambda v: f"{v:+.6g}")


def percent_texts(values: NDArray[np.float64]) -> Any:
    """``f"{x:+.2%}"`` of each value (Python multiplies by 100, then writes ``%.2f``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    with np.errstate(over="ignore", invalid="ignore"):
        p = np.ascontiguousarray(values, dtype=np.float64) * 100.0
        q = np.abs(p) * 100.0
    ok = np.isfinite(q) & (q < 1e11)
    q = np.where(ok, q, 0.0)
    ok &= np.abs(q - np.floor(q) - 0.5) > 1e-4  # the product is within 1e-5 of |p| * 100
    cents = np.rint(q).astype(np.int64)
    whole = pc.cast(arrow_of(cents // 100), pa.string())
    part = pc.utf8_lpad(pc.cast(arrow_of(cents % 100), pa.string()), 2, "0")
    sign = pc.if_else(arrow_of(np.signbit(p)), _literal("-"), _literal("+"))
    texts = _joined_array([sign, whole, ".", part, "%"])
    return _python(np.asarray(values, dtype=np.float64), texts, ~ok, lambda v: f"{v:+.2%}")


# -- subjects -------------------------------------------------------------------------------------
def _plain_keys(groups: GroupGates, column: int, start: int, stop: int) -> Any:
    """One key column's keys as the reasons write them (``str`` of the shown key, null as
    ``None``) when every one is plain (:data:`_PLAIN`), else None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = groups.table.key_arrow(column, start, stop)
    if keys is None:
        return None
    typ = keys.type
    if pa.types.is_integer(typ):
        texts = pc.cast(keys, pa.string())
    elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
        from losscli.engine.groups import may_be_number

        texts = keys.cast(pa.string())
        if not pc.all(pc.match_substring_regex(texts, _PLAIN)).as_py() or may_be_number(keys):
            return None
        if pc.any(pc.match_substring(texts, "##")).as_py():
            return None  # a CI marker: the channels' sanitiser rewrites it
    else:
        return None
    return pc.coalesce(texts, _literal("None")) if texts.null_count else texts


def _columnar(groups: GroupGates) -> bool:
    """Whether the groups' gates are written from columns (else per object): many groups
    (a few are written by the standard library, without loading ``pyarrow.compute``), and
    no two keys a group dict would merge."""
    names = groups.names
    if len(set(names)) != len(names) or (groups.labels is not None and "output" in names):
        return False
    return len(groups.table) >= COLUMNAR_FROM


def subject_parts(
    groups: GroupGates, start: int, stop: int, escape: Callable[[str], str]
) -> list[Any] | None:
    """Per output, the subject (``mse [k=v]``) of groups ``start … stop`` as parts (literal
    text through ``escape`` and Arrow arrays of keys); None if a key is not plain."""
    keys = [_plain_keys(groups, j, start, stop) for j in range(len(groups.names))]
    if any(k is None for k in keys):
        return None
    out = []
    labels: list[str | None] = list(groups.labels) if groups.labels is not None else [None]
    for label in labels:
        parts: list[Any] = []
        for j, (name, key) in enumerate(zip(groups.names, keys, strict=True)):
            lead = f"{groups.loss} [" if j == 0 else ", "
            parts += [escape(f"{lead}{name}="), key]
        tail = "" if label is None else f"{', ' if keys else groups.loss + ' ['}output={label}"
        parts.append(escape(tail + "]"))
        out.append(parts)
    return out


def _merged(parts: list[Any]) -> list[Any]:
    """``parts`` with runs of literal text joined (fewer arguments to Arrow's join)."""
    out: list[Any] = []
    for part in parts:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] += part
        else:
            out.append(part)
    return out


def joined(parts: list[Any]) -> Any:
    """Element-wise concatenation of ``parts`` (Arrow arrays and literal text)."""
    return _joined_array(_merged(parts))


# -- reasons --------------------------------------------------------------------------------------
class Slot:
    """One gate kind on one output, over groups ``start … stop``: its columns."""

    def __init__(self, groups: GroupGates, kind: int, output: int, start: int, stop: int) -> None:
        outs = groups.outputs
        items = slice(start * outs + output, stop * outs, outs)
        self.kind = groups.kinds[kind]
        self.value = groups.values[items]
        limit = groups.thresholds[kind]
        self.threshold = (
            limit[items] if isinstance(limit, np.ndarray) else np.full(len(self.value), limit)
        )
        self.base = None if groups.baselines is None else groups.baselines[items]
        self.passed = groups.passed[kind][items]
        present = groups.present[kind]
        self.present = None if present is None else present[items]


def reason_texts(slot: Slot, subject: list[Any], escape: Callable[[str], str]) -> Any:
    """:func:`reason_parts`, joined."""
    return joined(reason_parts(slot, subject, escape))


def reason_parts(slot: Slot, subject: list[Any], escape: Callable[[str], str]) -> list[Any]:
    """The reason of each gate of ``slot`` (as :func:`rules._bound`/``_relative`` write
    them) as parts to join, literal text through ``escape``; ``subject`` holds the subject's
    parts (escaped)."""
    import pyarrow.compute as pc

    kind, value = slot.kind, slot.value
    passed = arrow_of(slot.passed)
    nan = np.isnan(value)
    name = kind.name
    if kind.change is None:
        limit = num(kind.limit)  # type: ignore[arg-type]
        nan_text = f" is NaN: a NaN result fails every gate ({name} {limit})"
        ok, bad = ("<=", ">") if kind.upper else (">=", "<")
        verdict = pc.if_else(
            passed,
            _literal(escape(f" {ok} {name} {limit}")),
            _literal(escape(f" {bad} {name} {limit}")),
        )
        body = [escape(" = "), num_texts(value), verdict]
        if nan.any():
            return [*subject, pc.if_else(arrow_of(nan), _literal(escape(nan_text)), joined(body))]
        return [*subject, *body]
    assert slot.base is not None
    base = slot.base
    text = kind.change.text
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        delta = value - base
        ratio = np.where(base != 0, delta / np.where(base != 0, np.abs(base), 1.0), 0.0)
    percent = joined([escape(" ("), percent_texts(ratio), escape(")")])
    percent = pc.if_else(arrow_of(base != 0), percent, _literal(""))
    moved = [signed_texts(delta), percent, escape(" vs the baseline "), num_texts(base)]
    within = _literal(escape(f": within {name} {text}"))
    went = "rose" if kind.upper else "fell"
    beyond = joined(
        [escape(f": {went} more than {name} {text} (limit "), num_texts(slot.threshold), ")"]
    )
    body = [
        *(escape(" = "), num_texts(value), escape(", "), *moved),
        pc.if_else(passed, within, beyond),
    ]
    nan_base = np.isnan(base)
    if not (nan.any() or nan_base.any()):
        return [*subject, *body]
    which_base = _literal(
        escape(f" has a NaN baseline: a NaN result fails every gate ({name} {text})")
    )
    which_value = _literal(escape(f" is NaN: a NaN result fails every gate ({name} {text})"))
    tail = pc.if_else(arrow_of(nan_base), which_base, joined(body))
    return [*subject, pc.if_else(arrow_of(nan), which_value, tail)]


def json_text(text: str) -> str:
    """``text`` inside a JSON string, as ``json.dumps`` writes it."""
    return encode_basestring_ascii(text)[1:-1]


# -- JSON -----------------------------------------------------------------------------------------
def _dumped(gates: list[GateResult], indent: int | None) -> str:
    """``gates`` through ``json.dumps``, as elements of a list at ``indent``."""
    dicts = [g.to_dict() for g in gates]
    if indent is None:
        return json.dumps(dicts, allow_nan=False)[1:-1]
    pad = " " * indent
    text = json.dumps(dicts, indent=2, allow_nan=False)
    return pad + text[2:-2].replace("\n", "\n" + pad)


def json_gates(gates: Gates, indent: int | None) -> Iterator[str]:
    """The JSON ``"gates"`` list of one result, as ``json.dumps`` writes it indented by 2
    (the list's line standing at ``indent`` spaces) or compact, in pieces."""
    if not len(gates):
        yield "[]"
        return
    pad = "" if indent is None else " " * indent
    sep = ", " if indent is None else ",\n"
    yield "[" if indent is None else "[\n"
    first = True
    if gates.total:
        yield _dumped(gates.total, indent)
        first = False
    groups = gates.groups
    if groups is not None:
        columnar = _columnar(groups)

        for start in range(0, len(groups.table), PIECE):
            stop = min(start + PIECE, len(groups.table))
            text = _json_piece(groups, start, stop, indent, sep) if columnar else None
            if text is None:
                text = _dumped(_gates_between(groups, start, stop), indent)
            if text:
                if not first:
                    yield sep
                yield text
                first = False
    yield "]" if indent is None else "\n" + pad + "]"


def _gates_between(groups: GroupGates, start: int, stop: int) -> list[GateResult]:
    """The gate objects of groups ``start … stop``."""
    items, _ = groups.rows()
    outs = groups.outputs
    lo, hi = np.searchsorted(items, [start * outs, stop * outs])
    return groups.gates(int(lo), int(hi))


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _json_piece(
    groups: GroupGates, start: int, stop: int, indent: int | None, sep: str
) -> str | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    subjects = subject_parts(groups, start, stop, json_text)
    if subjects is None:
        return None
    names = groups.names
    keys = {f"k{j}": json_key_texts(groups.table, j, start, stop) for j in range(len(names))}
    n = stop - start
    arrays = []
    present = []
    labels: list[str | None] = list(groups.labels) if groups.labels is not None else [None]
    for output, label in enumerate(labels):
        group: dict[str, Any] = {c: _marker(f"k{j}") for j, c in enumerate(names)}
        if label is not None:
            group["output"] = label
        for k, kind in enumerate(groups.kinds):
            slot = Slot(groups, k, output, start, stop)
            sample: dict[str, Any] = {
                "name": kind.name,
                "threshold": _finite(kind.limit) if kind.change is None else _marker("thr"),
                "value": _marker("value"),
                "group": group,
                "passed": _marker("passed"),
                "reason": _marker("reason"),
            }
            columns = dict(keys)
            columns["value"] = float_texts(slot.value, "null")
            columns["passed"] = pc.if_else(
                arrow_of(slot.passed), _literal("true"), _literal("false")
            )
            reason = ['"', *reason_parts(slot, subjects[output], json_text), '"']
            if kind.change is not None:
                assert slot.base is not None
                sample["baseline"] = _marker("base")
                sample["allowed"] = kind.change.text
                columns["thr"] = float_texts(slot.threshold, "null")
                columns["base"] = float_texts(slot.base, "null")
            template = _template(sample, indent)
            parts: list[Any] = []
            for i, part in enumerate(template):
                if not i % 2:
                    parts.append(part)
                elif part == "reason":
                    parts += reason
                else:
                    parts.append(columns[part])
            arrays.append(joined([*parts, sep]))
            present.append(np.ones(n, dtype=bool) if slot.present is None else slot.present)
    # group by group, each group's gates in turn; a gate the baseline lacks left out
    slots = len(arrays)
    if slots == 1 and present[0].all():
        text = _text_of(arrays[0])
    else:
        order = (np.arange(slots)[None, :] * n + np.arange(n)[:, None]).ravel()
        order = order[np.stack(present, axis=1).ravel()]
        text = _text_of(pa.concat_arrays(arrays).take(arrow_of(order)))
    return text[: len(text) - len(sep)] if text else ""


# -- JUnit ----------------------------------------------------------------------------------------
def xml_attribute(text: str) -> str:
    """``text`` (already through :func:`sanitize.xml`) as ElementTree writes an attribute."""
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        text = text.replace(raw, escaped)
    return text.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#09;")


def xml_text(text: str) -> str:
    """``text`` (already through :func:`sanitize.xml`) as ElementTree writes element text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_escape(escape: Callable[[str], str]) -> Callable[[str], str]:
    from losscli.report import sanitize

    return lambda text: escape(sanitize.xml(text))


def junit_ready(groups: GroupGates) -> bool:
    """Whether every group's testcases can be written from the columns: plain keys, and no
    two groups (or outputs) with the same name (a testcase per name, as the objects have it:
    a null key and a text key ``None`` would share one)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not _columnar(groups) or not len(groups):
        return False
    names = []
    for start in range(0, len(groups.table), PIECE):
        stop = min(start + PIECE, len(groups.table))
        subjects = subject_parts(groups, start, stop, str)
        if subjects is None:
            return False
        names += [joined(parts) for parts in subjects]
    every = pa.chunked_array(names, pa.string())
    return bool(pc.count_distinct(every).as_py() == len(every))


def junit_counts(groups: GroupGates) -> tuple[int, int]:
    """(testcases, failed testcases): one per group value with a gate."""
    mask = groups.mask()
    failed = groups.failed() & mask
    return int(mask.any(axis=1).sum()), int(failed.any(axis=1).sum())


def junit_piece(
    groups: GroupGates, classname: str, start: int, stop: int, cases_too: bool = True
) -> tuple[str, str] | None:
    """The ``<testcase>`` elements of groups ``start … stop`` (each on its line at the
    suite's indent, as ``ET.indent`` lays them out; "" without ``cases_too``) and their gate
    lines for the suite's ``system-out``; None if a key is not plain."""
    import pyarrow as pa
    import pyarrow.compute as pc

    attribute, text = _xml_escape(xml_attribute), _xml_escape(xml_text)
    # an attribute and element text differ only by a quote (no key holds one): the same
    # reasons serve both unless a column or output name has one
    literals = [groups.loss, *groups.names, *(groups.labels or [])]
    alike = all(attribute(t) == text(t) for t in literals)
    names = subject_parts(groups, start, stop, attribute)
    subject = names if alike else subject_parts(groups, start, stop, text)
    if names is None or subject is None:
        return None
    n = stop - start
    cases, lines, present = [], [], []
    empty = _literal("")
    labels: list[str | None] = list(groups.labels) if groups.labels is not None else [None]
    for output in range(len(labels)):
        messages: list[Any] = []
        types: list[Any] = []
        gate_lines: list[Any] = []
        failed_before = np.zeros(n, dtype=bool)
        lined_before = np.zeros(n, dtype=bool)
        any_present = np.zeros(n, dtype=bool)
        for k, kind in enumerate(groups.kinds):
            slot = Slot(groups, k, output, start, stop)
            here = np.ones(n, dtype=bool) if slot.present is None else slot.present
            failed = ~slot.passed & here
            own = reason_parts(slot, subject[output], text)
            reason = joined(own) if alike else reason_texts(slot, names[output], attribute)
            if failed.any() and cases_too:
                lead = pc.if_else(arrow_of(failed_before), _literal("; "), empty)
                messages.append(pc.if_else(arrow_of(failed), _joined_array([lead, reason]), empty))
                comma = pc.if_else(arrow_of(failed_before), _literal(","), empty)
                named = _joined_array([comma, kind.name])
                types.append(pc.if_else(arrow_of(failed), named, empty))
            mark = pc.if_else(
                arrow_of(slot.passed),
                _literal(text(f"[PASS] {kind.name}: ")),
                _literal(text(f"[FAIL] {kind.name}: ")),
            )
            newline = pc.if_else(arrow_of(lined_before), _literal("\n"), empty)
            line = joined([newline, mark, reason if alike else joined(own)])
            gate_lines.append(pc.if_else(arrow_of(here), line, empty))
            failed_before |= failed
            lined_before |= here
            any_present |= here
        joined_lines = _joined_array(gate_lines)
        lines.append(joined_lines)
        present.append(any_present)
        if not cases_too:
            cases.append(joined_lines)  # (not written)
            continue
        head = f'<testcase classname="{classname}" name="'
        passing = joined([head, *names[output], '" time="0" />'])
        if failed_before.any():
            failing = joined(
                [
                    *(head, *names[output], '" time="0">\n      <failure message="'),
                    *(_joined_array(messages), '" type="', _joined_array(types), '">'),
                    *(joined_lines, "</failure>\n    </testcase>"),
                ]
            )
            case = pc.if_else(arrow_of(failed_before), failing, passing)
        else:
            case = passing
        cases.append(case)
    outputs = len(cases)
    order = (np.arange(outputs)[None, :] * n + np.arange(n)[:, None]).ravel()
    order = order[np.stack(present, axis=1).ravel()]
    if not len(order):
        return "", ""
    taken = arrow_of(order)
    if not cases_too:
        return "", _text_of(_joined_array([pa.concat_arrays(lines).take(taken), "\n"]))[:-1]
    case_text = _text_of(_joined_array([pa.concat_arrays(cases).take(taken), "\n    "]))
    line_text = _text_of(_joined_array([pa.concat_arrays(lines).take(taken), "\n"]))
    return case_text[: -len("\n    ")], line_text[:-1]
