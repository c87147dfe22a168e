"""Groups written in pieces straight from a :class:`~losscli.engine.GroupTable`'s columns: the
JSON list of groups (as ``json.dumps`` writes it, indented or compact), CSV rows and ``value``
lines, a few thousand groups at a time, so a million groups never become a million objects.

The text is built by Arrow, column by column: numbers as Python's ``repr`` writes them
(:func:`float_texts`), keys that need no escaping quoted as they are; a piece holding a key
that needs escaping (or a number-like text key, or an interval) takes the per-group Python
path, which writes the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

import numpy as np

from losscli.engine import GroupTable, output_labels
from losscli.engine.grouptable import json_key
from losscli.io.convert import arrow_of
from losscli.io.writers import csv_writer

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from losscli.engine import LossResult

#: Groups per piece: ~1–2 MiB of text.
PIECE = 16_384
#: Fewer groups are written by the standard library (no ``pyarrow.compute`` to load).
COLUMNAR_FROM = 2_048

#: Python's ``repr`` and Arrow's float → string cast give the same shortest digits; between
#: these bounds both write them in fixed notation (Arrow omits ``.0`` on whole numbers).
#: Outside them (exponent forms differ: ``1e-05`` / ``1e-5``), Python writes the few values.
_FIXED_LOW, _FIXED_HIGH = 1e-4, 1e10

#: Printable ASCII but ``"`` and ``\\``: JSON text that needs only its quotes.
_JSON_PLAIN = r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$"


def float_texts(values: NDArray[np.float64], nonfinite: str | None = None) -> Any:
    """Each value as ``repr(float)`` writes it, an Arrow string array; ``nonfinite`` replaces
    NaN and ±inf (JSON's ``null``), else they read ``nan``, ``inf``, ``-inf``."""
    import pyarrow as pa  # a run has loaded it already; `--help` must not
    import pyarrow.compute as pc

    values = np.ascontiguousarray(values, dtype=np.float64)
    texts = pc.cast(arrow_of(values), pa.string())
    finite = np.isfinite(values)
    size = np.abs(values)
    fixed = finite & (((size >= _FIXED_LOW) & (size < _FIXED_HIGH)) | (size == 0))
    with np.errstate(invalid="ignore"):
        whole = fixed & (np.trunc(values) == values)  # Arrow writes these without ".0"
    if whole.any():
        texts = pc.if_else(arrow_of(whole), _joined_array([texts, ".0"]), texts)
    if nonfinite is not None and not finite.all():
        texts = pc.if_else(arrow_of(~finite), _literal(nonfinite), texts)
    other = finite & ~fixed
    if other.any():
        replacements = [repr(v) for v in values[other].tolist()]
        texts = pc.replace_with_mask(texts, arrow_of(other), strings(replacements))
    return texts


def int_texts(values: NDArray[np.int64]) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(arrow_of(values), pa.string())


def _json_scalar(value: Any) -> str:
    """A key as ``json.dumps`` writes it in a group's ``"key"`` (through :func:`json_key`)."""
    if type(value) is str:
        return encode_basestring_ascii(value)
    return json.dumps(json_key(value), allow_nan=False)


def json_key_texts(table: GroupTable, column: int, start: int, stop: int) -> Any:
    """The JSON text of one key column's keys (groups ``start … stop``), an Arrow array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = table.key_arrow(column, start, stop)
    if keys is not None:
        typ = keys.type
        if pa.types.is_integer(typ):
            return _or_null(pc.cast(keys, pa.string()))
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            from losscli.engine.groups import may_be_number

            plain = pc.match_substring_regex(keys, _JSON_PLAIN)
            if pc.all(plain).as_py() and not may_be_number(keys):
                return _or_null(_joined_array(['"', keys, '"']).cast(pa.string()))
    return strings([_json_scalar(v) for v in table.key_values(column, start, stop)])


def _or_null(texts: Any) -> Any:
    import pyarrow.compute as pc

    return pc.coalesce(texts, _literal("null")) if texts.null_count else texts


def strings(texts: list[str]) -> Any:
    """An Arrow string array of ``texts`` (built from buffers: ``pa.array`` of a list would
    import pandas, ~0.5 s)."""
    import pyarrow as pa

    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.large_string(),
        len(encoded),
        [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
    ).cast(pa.string())


@lru_cache(maxsize=64)
def _literal(text: str) -> Any:
    """``text`` as an Arrow scalar (taken from an array: ``pa.scalar`` imports pandas)."""
    return strings([text])[0]


def _joined(parts: list[Any]) -> str:
    """Element-wise concatenation of ``parts`` (Arrow arrays and literal text), as one str."""
    return _text_of(_joined_array(parts))


def _text_of(strings: Any) -> str:
    """All strings of an Arrow string array, back to back."""
    if not len(strings):
        return ""
    bits = 64 if str(strings.type) == "large_string" else 32
    offsets = np.frombuffer(
        strings.buffers()[1], dtype=np.dtype(f"int{bits}"), count=strings.offset + len(strings) + 1
    )[strings.offset :]
    data = strings.buffers()[2]
    return str(memoryview(data)[int(offsets[0]) : int(offsets[-1])], "utf-8")  # no copy first


# -- JSON ---------------------------------------------------------------------------------------
_NONCE = os.urandom(6).hex()


def _marker(name: str) -> str:
    return f"\x00{_NONCE}{name}"


def _template(sample: dict[str, Any], indent: int | None) -> list[str]:
    """``json.dumps(sample)`` split at its markers: literal text, marker name, literal, ...
    (indented: as an element of a list whose bracket stands at ``indent`` spaces)."""
    if indent is None:
        text = json.dumps(sample)
    else:
        pad = " " * (indent + 2)
        text = pad + json.dumps(sample, indent=2).replace("\n", "\n" + pad)
    marker = re.escape(json.dumps(_marker("")).strip('"'))
    return re.split(f'"{marker}(\\w+)"', text)


def json_groups(
    result: LossResult,
    indent: int | None,
    group_dict: Callable[[LossResult, int], dict[str, Any]],
    columnar: bool = True,
) -> Iterator[str]:
    """The JSON list of ``result``'s groups, as ``json.dumps`` writes it in a document
    indented by 2 (the list's ``"groups":`` line standing at ``indent`` spaces) or compact
    (``indent`` None). Many groups of key, rows and value are written from the columns; a
    few, or groups that carry more (``columnar`` False: intervals), go through ``json.dumps``
    of ``group_dict`` (a group's whole object)."""
    table = result.groups
    if not len(table):
        yield "[]"
        return
    columnar = columnar and len(table) >= COLUMNAR_FROM
    pad = "" if indent is None else " " * indent
    sep = ", " if indent is None else ",\n"
    yield "[" if indent is None else "[\n"
    for start in range(0, len(table), PIECE):
        stop = min(start + PIECE, len(table))
        if start:
            yield sep
        if columnar:
            yield _json_piece(table, start, stop, indent, sep)
        else:
            yield _json_dumped(result, start, stop, indent, group_dict)
    yield "]" if indent is None else "\n" + pad + "]"


def _json_piece(table: GroupTable, start: int, stop: int, indent: int | None, sep: str) -> str:
    names = table.names
    sample = {
        "key": {c: _marker(f"k{j}") for j, c in enumerate(names)},
        "rows": _marker("rows"),
        "value": _marker("value"),
    }
    template = _template(sample, indent)
    columns: dict[str, Any] = {
        f"k{j}": json_key_texts(table, j, start, stop) for j in range(len(names))
    }
    columns["rows"] = int_texts(table.rows[start:stop])
    values = table.values[start:stop]
    if values.ndim == 1:
        columns["value"] = float_texts(values, "null")
    else:
        if indent is None:
            open_, between, close = "[", ", ", "]"
        else:
            inner = " " * (indent + 6)
            open_, between, close = "[\n" + inner, ",\n" + inner, "\n" + " " * (indent + 4) + "]"
        parts: list[Any] = [open_]
        for j in range(values.shape[1]):
            parts += [between] if j else []
            parts.append(float_texts(values[:, j], "null"))
        columns["value"] = _joined_array([*parts, close])
    parts = [columns[part] if i % 2 else part for i, part in enumerate(template) if part or i % 2]
    text = _joined([*parts, sep])
    return text[: len(text) - len(sep)]


def _joined_array(parts: list[Any]) -> Any:
    """Element-wise concatenation of ``parts`` (Arrow arrays and literal text)."""
    import pyarrow.compute as pc

    args = [_literal(p) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, _literal(""))


def _json_dumped(
    result: LossResult,
    start: int,
    stop: int,
    indent: int | None,
    group_dict: Callable[[LossResult, int], dict[str, Any]],
) -> str:
    """Groups ``start … stop`` through ``json.dumps`` (whatever they hold)."""
    dicts = [group_dict(result, i) for i in range(start, stop)]
    if indent is None:
        return json.dumps(dicts, allow_nan=False)[1:-1]
    pad = " " * indent
    text = json.dumps(dicts, indent=2, allow_nan=False)
    return pad + text[2:-2].replace("\n", "\n" + pad)  # inside "[\n" … "\n]", shifted


# -- CSV and value lines ------------------------------------------------------------------------
def csv_line(fields: list[Any]) -> str:
    """One CSV record as :class:`~losscli.io.writers.csv_writer` writes it (without its end)."""
    buf = io.StringIO()
    csv_writer(buf).writerow(fields)
    return buf.getvalue()[:-1]


def csv_groups(
    result: LossResult, per_output: bool, text: Callable[[Any], str], params: str
) -> Iterator[str]:
    """The CSV records of ``result``'s groups (each ending in a line break), a piece at a
    time; ``text`` writes a key or value, ``params`` is the params field (as the other
    records have them)."""
    import pyarrow as pa

    table = result.groups
    fixed = [result.loss, params, result.reduction, result.per]
    head = csv_line([*fixed, ""])  # ends with the comma before the key
    skipped = result.skipped_rows
    outputs = table.values.shape[1] if table.per_output else 1
    labels = output_labels(result, outputs) if table.per_output else [""]
    columnar = len(table) >= COLUMNAR_FROM and not any("\r" in f for f in [*fixed, *labels])
    for start in range(0, len(table), PIECE):
        stop = min(start + PIECE, len(table))
        values = table.values[start:stop]
        keys = [_csv_key_texts(table, j, start, stop) for j in range(len(table.names))]
        if not columnar or any(k is None for k in keys):
            key_texts = [
                [text(k) if k is not None else "" for k in table.key_values(j, start, stop)]
                for j in range(len(table.names))
            ]
            output = labels if per_output else None
            yield _csv_rows(table, start, stop, key_texts, output, fixed, text, skipped)
            continue
        label_fields = [csv_line([label, ""]) for label in labels]
        rows = int_texts(table.rows[start:stop])
        columns = values.reshape(len(values), -1)
        out = []
        for j in range(columns.shape[1]):
            parts: list[Any] = [head]
            for i, k in enumerate(keys):
                parts += [k] if i == 0 else [",", k]
            if keys:
                parts.append(",")
            if per_output:
                parts.append(label_fields[j])
            parts += [rows, f",{skipped},", float_texts(columns[:, j]), "\n"]
            out.append(_joined_array(parts))
        if len(out) == 1:
            yield _text_of(out[0])
        else:  # group by group, each group's outputs in turn
            order = np.arange(len(values) * len(out)).reshape(len(out), -1).T.ravel()
            yield _text_of(pa.concat_arrays(out).take(arrow_of(order)))


def _csv_key_texts(table: GroupTable, column: int, start: int, stop: int) -> Any:
    """The CSV fields of one key column's keys (groups ``start … stop``) as an Arrow array,
    for integer keys and text keys that need no quoting (no quote, comma or line end) and do
    not read as numbers; else None (written through ``csv``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = table.key_arrow(column, start, stop)
    if keys is None:
        return None
    if pa.types.is_integer(keys.type):
        texts = pc.cast(keys, pa.string())
    elif pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type):
        from losscli.engine.groups import may_be_number

        if pc.any(pc.match_substring_regex(keys, '[",\r\n]')).as_py() or may_be_number(keys):
            return None
        texts = keys.cast(pa.string())
    else:
        return None
    return pc.coalesce(texts, _literal("")) if texts.null_count else texts


def _csv_rows(
    table: GroupTable,
    start: int,
    stop: int,
    keys: list[list[str]],
    labels: list[str] | None,
    head: list[Any],
    text: Callable[[Any], str],
    skipped: int,
) -> str:
    """Groups ``start … stop`` through :class:`~losscli.io.writers.csv_writer` (keys that
    need quoting); ``labels``: the output column's, None without one."""
    buf = io.StringIO()
    writer = csv_writer(buf)
    values = table.values[start:stop].tolist()
    rows = table.rows[start:stop].tolist()
    for i, (n, value) in enumerate(zip(rows, values, strict=True)):
        key = [k[i] for k in keys]
        outputs = value if isinstance(value, list) else [value]
        for label, v in zip(labels or [""], outputs, strict=True):
            output = [] if labels is None else [label]
            writer.writerow([*head, *key, *output, n, skipped, text(v)])
    return buf.getvalue()
