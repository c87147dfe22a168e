"""Hostile and careless input found by fuzzing the features added since issue 10: each test
stands for a class of failure (a traceback, an exit code outside the documented set, a
multi-line error, data acting on a CI channel, a silent merge of groups)."""

from __future__ import annotations

import csv
import http.server
import importlib
import io
import json
import math
import os
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losscli.report import sanitize
from tests.conftest import invoke

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "predictions.csv"


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("losscli: error: ") and lines[0].isprintable(), err
    assert "unexpected" not in err and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--bogus"], "No such option '--bogus'"),
        (["--delta", "2"], "No such option '--delta'"),
        (["--reduction", "avg"], "'avg' is not one of"),
        (["--chunk-size", "0"], "--chunk-size"),
        (["--chunk-size", str(2**63)], "--chunk-size"),  # was an OverflowError
        (["--top", "1e3"], "--top"),
        (["--memory-limit", "1e999"], "--memory-limit"),  # was an OverflowError
        (["--memory-limit", "nan"], "--memory-limit"),
        (["--max", "nan"], "--max must be a finite number"),  # was a gate that always failed
        (["--min", "-inf"], "--min must be a finite number"),
        (["--max", "1e400"], "--max must be a finite number"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], says: str) -> None:
    result = invoke(["mse", str(SAMPLE), *args])
    assert result.code == 2
    assert says in _one_error_line(result.err)


def test_click_errors_name_the_help_and_escape_data() -> None:
    result = invoke(["eval", str(SAMPLE)])
    assert result.code == 2
    assert _one_error_line(result.err) == (
        "losscli: error: Missing option '-m' / '--metric'. Try 'losscli eval --help'."
    )
    result = invoke(["nosuch\x1b[2J"])
    assert result.code == 2
    assert "'nosuch\\x1b[2J'" in _one_error_line(result.err)


def test_a_parameter_given_twice_in_eval_is_an_error() -> None:
    result = invoke(["eval", str(SAMPLE), "-m", "huber:delta=1,delta=2"])
    assert result.code == 2
    assert "'delta' is given twice" in _one_error_line(result.err)


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("http://[::1", "not a valid URI"),  # was a ValueError from urllib
        ("https://host:port/x.csv", "not a valid URI"),
        ("s3://a/x.csv", "not a valid bucket name"),  # was six seconds of DNS retries
        ("gs://b%20x/k.parquet", "not a valid bucket name"),
    ],
)
def test_malformed_uris_are_one_line_without_network(uri: str, says: str) -> None:
    result = invoke(["mse", uri])
    assert result.code == 3
    assert says in _one_error_line(result.err)


# -- data never becomes a CI workflow command ---------------------------------------------------
COMMANDS = [
    "::error::forged",
    "  ::add-mask::x",
    "##vso[task.setvariable variable=x]y",
    "a ##[error]b",
    "##VSO[task.complete result=Failed]",
]


def test_sanitiser_defuses_workflow_command_markers() -> None:
    assert sanitize.visible("::error::x") == "\\x3a:error::x"
    assert sanitize.visible("  ::e") == "  \\x3a:e"
    assert sanitize.visible("a::b") == "a::b"  # only a leading `::` can start a command
    assert sanitize.visible("x ##vso[t]") == "x ##vso\\x5bt]"
    assert sanitize.visible("##[group]") == "##\\x5bgroup]"
    for text in COMMANDS:
        for escape in (sanitize.visible, sanitize.markdown, sanitize.rich_text, sanitize.xml):
            shown = escape(text)
            assert not shown.lstrip().startswith("::") and "##vso[" not in shown.lower()
            assert "##[" not in shown


def _acts(line: str) -> bool:
    """Would a CI runner read this line as a workflow command? GitHub: `::` after leading
    blanks, `##[` anywhere; Azure Pipelines: `##vso[` or `##[` anywhere."""
    lowered = line.lower()
    return line.lstrip().startswith("::") or "##vso[" in lowered or "##[" in lowered


@pytest.mark.parametrize("fmt", ["table", "value", "markdown"])
def test_group_keys_cannot_issue_workflow_commands(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "k.csv"
    rows = ["pred,target,seg"] + [f"{i + 5},0,{key}" for i, key in enumerate(COMMANDS)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = invoke(["mse", str(path), "-g", "seg", "--max", "1", "-f", fmt])
    assert result.code == 1
    own = "::error title=losscli gate failed::"
    for line in result.out.splitlines() + result.err.splitlines():
        assert not _acts(line) or line.startswith(own), repr(line)
        if line.startswith(own):
            assert not _acts(line[len(own) :].replace("::", "", 1)), repr(line)
    # the data are still there, exactly, in JSON
    exact = invoke(["mse", str(path), "-g", "seg", "-f", "json"]).json
    assert [g["key"]["seg"] for g in exact["groups"]] == sorted(COMMANDS)


def test_cell_text_quoted_in_an_error_cannot_issue_a_command(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("pred,target\n1,2\n##vso[task.setvariable variable=x]1,3\n")
    result = invoke(["mse", str(path)])
    assert result.code == 3
    line = _one_error_line(result.err)
    assert "row 2" in line and "column 'pred'" in line and not _acts(line)


# -- group keys of every Arrow type -------------------------------------------------------------
KEY_TYPES = {
    "date32": (pa.array([0, 1, 0, 1], pa.int32()).cast(pa.date32()), ["1970-01-01", "1970-01-02"]),
    "timestamp": (
        pa.array([0, 10**9, 0, 10**9], pa.timestamp("ns", tz="UTC")),
        ["1970-01-01T00:00:00+00:00", "1970-01-01T00:00:01+00:00"],
    ),
    "decimal": (pa.array([1, 2, 1, 2], pa.decimal128(10, 2)), ["1.00", "2.00"]),
    "duration": (pa.array([1, 2, 1, 2], pa.duration("s")), ["0:00:01", "0:00:02"]),
    "binary": (pa.array([b"a\xff", b"b", b"a\xff", b"b"]), ["a\\xff", "b"]),
    "float16": (pa.array(np.array([1, 2.5, 1, 2.5], dtype=np.float16)), [1, 2.5]),
    "uint64": (pa.array([2**64 - 1, 0, 2**64 - 1, 0], pa.uint64()), [0, 2**64 - 1]),
    # -0.0 is 0.0 and every NaN is one NaN (Arrow hashes the bits); NaN sorts after numbers
    "float": (pa.array([-0.0, math.nan, 0.0, -math.nan]), [0, "nan"]),
}


@pytest.mark.parametrize("kind", sorted(KEY_TYPES))
def test_group_keys_of_any_arrow_type(tmp_path: Path, kind: str) -> None:
    keys, expected = KEY_TYPES[kind]
    path = tmp_path / "k.parquet"
    table = pa.table({"pred": [1.0, 2.0, 4.0, 8.0], "target": [0.0] * 4, "g": keys})
    pq.write_table(table, path)
    for args in (["mse"], ["eval", "-m", "mse", "-m", "medae"]):
        result = invoke([*args, str(path), "-g", "g", "-f", "json", "--max", "100"])
        assert result.code == 0, result.err
        doc = result.json if args == ["mse"] else result.json["results"][0]
        assert [g["key"]["g"] for g in doc["groups"]] == expected
        # each group holds rows 1,3 or 2,4: mse (1+16)/2 and (4+64)/2
        assert sorted(g["value"] for g in doc["groups"]) == [8.5, 34.0]
        assert all(gate["passed"] for gate in doc["gates"])


@pytest.mark.parametrize(
    "keys", [pa.array([[1], [2], [1], [2]]), pa.array([{"x": 1}, {"x": 2}, {"x": 1}, {"x": 2}])]
)
def test_nested_group_keys_are_a_usage_error(tmp_path: Path, keys: pa.Array) -> None:
    path = tmp_path / "k.parquet"
    pq.write_table(pa.table({"pred": [1.0] * 4, "target": [0.0] * 4, "g": keys}), path)
    result = invoke(["mse", str(path), "-g", "g"])
    assert result.code == 2
    assert "cannot group by column 'g' of type" in _one_error_line(result.err)


def test_csv_text_keys_keep_null_words_as_text(tmp_path: Path) -> None:
    """Text "NA" (Namibia), "null", "nan" in a text column are text, as in Parquet; only an empty
    cell is a missing key. Numbers still read those words as missing values."""
    words = ["NA", "null", "nan", "N/A", "", "US"]
    csv_path = tmp_path / "k.csv"
    lines = ["pred,target,g"] + [f"{i + 1},0,{w}" for i, w in enumerate(words)]
    csv_path.write_text("\n".join(lines) + "\n")
    parquet_path = tmp_path / "k.parquet"
    table = pa.table(
        {
            "pred": [float(i + 1) for i in range(len(words))],
            "target": [0.0] * len(words),
            "g": [w or None for w in words],
        }
    )
    pq.write_table(table, parquet_path)
    docs = [invoke(["mse", str(p), "-g", "g", "-f", "json"]).json for p in (csv_path, parquet_path)]
    groups = [{json.dumps(g["key"]): (g["rows"], g["value"]) for g in d["groups"]} for d in docs]
    assert groups[0] == groups[1]
    assert len(groups[0]) == len(words)
    assert groups[0][json.dumps({"g": "NA"})] == (1, 1.0)
    assert groups[0][json.dumps({"g": None})] == (1, 25.0)
    # a numeric "NA" (R's missing value) is still a missing value, not text
    mixed = tmp_path / "m.csv"
    mixed.write_text("pred,target,g\n1,0,NA\n2,NA,NA\n3,0,x\n")
    result = invoke(["mse", str(mixed), "-g", "g", "--nan", "skip", "-f", "json"])
    assert result.code == 0, result.err
    assert result.json["skipped_rows"] == 1 and result.json["value"] == 5.0
    assert [(g["key"]["g"], g["rows"]) for g in result.json["groups"]] == [("NA", 1), ("x", 1)]


# -- confidence intervals on extreme weights ---------------------------------------------------
@pytest.mark.parametrize(("weight", "code"), [(5e-324, 0), (1e308, 3)])
def test_confidence_on_extreme_weights(tmp_path: Path, weight: float, code: int) -> None:
    """Subnormal weights (Σw² underflows to 0: no interval, was a ZeroDivisionError) and huge
    ones (the weighted sum overflows: a data error, was an OverflowError from math.fsum)."""
    path = tmp_path / "w.csv"
    path.write_text("pred,target,w\n" + "".join(f"{i},0,{weight!r}\n" for i in range(8)))
    result = invoke(["mse", str(path), "-w", "w", "--max", "100", "--confidence", "0.9"])
    assert result.code == code, result.err
    if code == 3:
        assert "overflows float64" in _one_error_line(result.err)
    else:
        assert result.json["value"] == 17.5  # Σi²/8 for i < 8, whatever the (equal) weights


def test_t_quantile_with_tiny_degrees_of_freedom() -> None:
    """A weighted effective sample size just above 1 gives df ≪ 1, where the t density
    underflows (was a ZeroDivisionError): the quantile is huge or infinite, never an error."""
    from scipy import stats

    from losscli.stats.intervals import t_quantile

    for df in (0.01, 0.05, 0.3, 3.0):
        assert t_quantile(0.95, df) == pytest.approx(stats.t.ppf(0.95, df), rel=1e-9)
    for df in (1e-9, 1e-6, 1e-3):
        assert t_quantile(0.95, df) > 1e150


def test_a_key_column_that_starts_all_null(tmp_path: Path) -> None:
    """Only the null key seen in the first pass, then text: a two-pass metric in eval (was an
    ArrowTypeError: string vs null)."""
    path = tmp_path / "k.csv"
    path.write_text("pred,target,g\n1,0,\n3,0,\n4,0,\n")
    result = invoke(["eval", str(path), "-m", "medae", "-m", "mse", "-g", "g", "-f", "json"])
    assert result.code == 0, result.err
    medae = result.json["results"][0]
    assert medae["value"] == 3.0 and medae["groups"] == [
        {"key": {"g": None}, "rows": 3, "value": 3.0}
    ]


def test_label_errors_found_after_the_last_row_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("p_a,p_b,y\n0.5,0.5,x\n0.2,0.8,y\n0.1,0.9,z\n")
    result = invoke(["log_loss", str(path), "-p", "p_*", "-t", "y"])
    assert result.code == 3
    assert _one_error_line(result.err).startswith(f"losscli: error: {path}, column 'y': 3 classes")


def test_per_row_output_of_kept_columns_of_any_type(tmp_path: Path) -> None:
    path = tmp_path / "k.parquet"
    kept = {
        "d": pa.array([0, 1], pa.int32()).cast(pa.date32()),
        "m": pa.array([1, 2], pa.decimal128(10, 2)),
        "b": pa.array([b"a\xff", b"b"]),
        "t": pa.array(["::error::x", "a\nb\x1b[31m"]),
    }
    pq.write_table(pa.table({"pred": [1.0, 3.0], "target": [0.0, 0.0], **kept}), path)
    result = invoke(["mse", str(path), "-r", "none", "-f", "ndjson", "--keep", "d,m,b,t"])
    assert result.code == 0, result.err  # was a TypeError: date/Decimal/bytes not serializable
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert rows == [
        {"d": "1970-01-01", "m": "1.00", "b": "a\\xff", "t": "::error::x", "mse": 1.0},
        {"d": "1970-01-02", "m": "2.00", "b": "b", "t": "a\nb\x1b[31m", "mse": 9.0},
    ]
    # `value` is line-based: kept text is escaped like the human channels
    result = invoke(["mse", str(path), "-r", "none", "-f", "value", "--keep", "t"])
    assert result.out.splitlines() == ["\\x3a:error::x\t1.0", "a\\nb\\x1b[31m\t9.0"]


@pytest.mark.parametrize("option", ["-o", "--junit"])
def test_an_empty_output_name_is_a_usage_error(option: str) -> None:
    args = ["-r", "none"] if option == "-o" else ["--max", "1"]
    result = invoke(["mse", str(SAMPLE), *args, option, ""])
    assert result.code == 2
    assert "(got '')" in _one_error_line(result.err)


def test_gate_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    gate = tmp_path / "losscli.toml"
    text = f"[[check]]\nloss = 'mse'\nfile = '{SAMPLE}'\nmax = 100\n"
    gate.write_bytes(b"\xef\xbb\xbf" + text.encode())  # as Windows editors save it
    assert invoke(["check", str(gate)]).code == 0
    gate.write_text(text.replace("max = 100", "max = 100\nchunk_size = 1.5"))
    result = invoke(["check", str(gate)])
    assert result.code == 2
    assert "'chunk_size' must be an integer (got 1.5)" in _one_error_line(result.err)


# -- HTTP(S) servers that misbehave -------------------------------------------------------------
class _HostileHTTP(http.server.BaseHTTPRequestHandler):
    """Statuses fsspec reports as "not found", a server without range requests, a slow one."""

    protocol_version = "HTTP/1.1"
    parquet = b""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except OSError:  # the client gave up (a timeout): nothing to answer
                pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/slow.csv":
            time.sleep(1.5)
            self._send(200, b"pred,target\n1,2\n")
        elif path == "/norange.parquet":  # 200 and the whole body, whatever the Range
            self._send(200, self.parquet)
        elif path == "/loop.csv":
            self._send(302, headers={"Location": "/loop.csv"})
        else:
            self._send({"/403.csv": 403, "/500.csv": 500}.get(path, 404), b"no")


@pytest.fixture(scope="module")
def hostile_http() -> Iterator[str]:
    sink = io.BytesIO()
    pq.write_table(pa.table({"pred": [1.0, 2.0], "target": [0.0, 0.0]}), sink)
    _HostileHTTP.parquet = sink.getvalue()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostileHTTP)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("403.csv", "access denied (HTTP 403)"),  # all three were "no such object (HTTP 404)"
        ("500.csv", "server error (HTTP 500)"),
        ("loop.csv", "too many redirects"),
        ("nope.csv?sig=secret", "no such object (HTTP 404)"),
        # was a ValueError from fsspec
        ("norange.parquet", "does not answer HTTP range requests"),
        # LOSSCLI_REMOTE_TIMEOUT was not applied to HTTP: it waited for the server
        ("slow.csv", "timed out"),
    ],
)
def test_http_failures_are_named(
    hostile_http: str, monkeypatch: pytest.MonkeyPatch, path: str, says: str
) -> None:
    importlib.import_module("fsspec")
    monkeypatch.setenv("LOSSCLI_REMOTE_TIMEOUT", "0.5")
    monkeypatch.setenv("LOSSCLI_REMOTE_ATTEMPTS", "1")
    result = invoke(["mse", f"{hostile_http}/{path}"])
    assert result.code == 3
    line = _one_error_line(result.err)
    assert says in line and "secret" not in line


# -- fuzz: every newer feature over hostile tables ------------------------------------------------
COMMAND_TEMPLATES = [
    ["eval", "{F}", "-m", "mse", "-m", "r2", "-m", "medae", "-g", "g", "-f", "json"],
    ["quantile_absolute_error", "{F}", "--q", "0.9", "--q", "0.1", "-w", "w", "-g", "g"],
    ["rmse", "{F}", "--max", "0.5", "--confidence", "0.9", "--bootstrap", "20", "-g", "g"],
    ["mse", "{F}", "--max", "1", "--confidence", "0.9", "-w", "w", "-f", "markdown"],
    ["mse", "{F}", "--show", "hist", "--show", "groups", "-g", "g", "-f", "markdown", "--max", "1"],
    ["log_loss", "{F}", "-p", "p,q", "-t", "label", "-g", "g", "-f", "table"],
    ["accuracy", "{F}", "-p", "p,q", "-t", "label", "-f", "value"],
    ["binary_crossentropy", "{F}", "-p", "p", "-t", "y", "--max", "1", "-f", "table"],
    ["ece", "{F}", "-p", "p", "-t", "y", "--show", "calibration", "-f", "json"],
    ["mse", "{F}", "-r", "none", "-f", "value", "--keep", "g"],
    ["d2_absolute_error", "{F}", "-w", "w", "-g", "g", "-f", "csv"],
    ["check", "{GATE}", "-f", "markdown"],
]
hostile_text = st.one_of(
    st.sampled_from(["", "NA", "null", "nan", "a", "b", "::error::x", "##vso[x]", "<b>", "1,5"]),
    st.text(alphabet=st.sampled_from(list("ab:#[]|<>\n\r\x1b\x00\u202e é,\"'")), max_size=6),
)
hostile_cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 5e-324, 1e308, -1e308, 2.0, -1.0]),
    hostile_text,
)


@settings(
    max_examples=int(os.environ.get("LOSSCLI_FUZZ_EXAMPLES", "60")),
    deadline=None,
    derandomize=not os.environ.get("LOSSCLI_FUZZ_EXAMPLES"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(st.lists(hostile_cell, min_size=7, max_size=7), min_size=0, max_size=7),
    template=st.sampled_from(COMMAND_TEMPLATES),
    parquet=st.booleans(),
)
def test_fuzz_newer_features(rows: list[list[object]], template: list[str], parquet: bool) -> None:
    names = ["pred", "target", "w", "g", "p", "q", "y"]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        columns = {name: [r[i] for r in rows] for i, name in enumerate(names)}
        columns["label"] = [str(r[6]) for r in rows]
        if parquet:
            path = directory / "t.parquet"
            table = {
                name: pa.array([v if isinstance(v, float) else None for v in values], pa.float64())
                if name != "g"
                else pa.array([v if isinstance(v, str) else repr(v) for v in values])
                for name, values in columns.items()
            }
            pq.write_table(pa.table(table), path)
        else:
            path = directory / "t.csv"
            with path.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(list(columns))
                writer.writerows(zip(*columns.values(), strict=True))
        gate = directory / "gate.toml"
        gate.write_text(
            "[defaults]\npred = 'pred'\ntarget = 'target'\n"
            f"[[check]]\nloss = 'mse'\nfile = {str(path)!r}\ngroup_by = 'g'\nmax = 1.0\n"
            "[[check]]\nloss = 'rmse'\nfile = " + repr(str(path)) + "\nconfidence = 0.9\n"
            "max = 1.0\n",
            encoding="utf-8",
        )
        junit, summary = directory / "j.xml", directory / "s.md"
        args = [a.replace("{F}", str(path)).replace("{GATE}", str(gate)) for a in template]
        result = invoke([*args, "--junit", str(junit)] if "--max" in args else args,
                        env={"GITHUB_STEP_SUMMARY": str(summary)})  # fmt: skip
        assert result.code in (0, 1, 2, 3), result.err
        assert "unexpected" not in result.err and "Traceback" not in result.err, result.err
        err_lines = result.err.splitlines()
        for line in err_lines:
            assert line.startswith(("losscli: ", "::error title=losscli")), repr(line)
            assert line.isprintable() and not (_acts(line) and line.startswith("losscli")), line
        if result.code in (2, 3):  # one error line (in `check`, one per check that failed)
            errors = sum(line.startswith("losscli: error:") for line in err_lines)
            assert errors == 1 or (args[0] == "check" and errors == 2), err_lines
        fmt = args[args.index("-f") + 1] if "-f" in args else "json"
        if result.code in (0, 1) and fmt == "json":
            json.loads(result.out, parse_constant=lambda name: pytest.fail(f"bare {name}"))
        if fmt in ("table", "markdown", "value"):
            for line in result.out.splitlines():
                assert line.replace("\t", " ").isprintable() and not _acts(line), repr(line)
        if junit.exists():
            ET.parse(junit)
        if summary.exists():
            for line in summary.read_text(encoding="utf-8").splitlines():
                assert line.isprintable() and not _acts(line), repr(line)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    values=st.lists(
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False, min_value=-1e150, max_value=1e150)
            | st.sampled_from([5e-324, -0.0, 2.2250738585072014e-308]),
            st.floats(allow_nan=False, allow_infinity=False, min_value=-1e150, max_value=1e150),
        ),
        min_size=1,
        max_size=40,
    ),
    chunk=st.integers(1, 7),
)
def test_fuzz_values_survive_the_csv_round_trip_exactly(
    values: list[tuple[float, float]], chunk: int
) -> None:
    """Any finite float written with repr() reads back as the same float: mse is math.fsum of
    the squared errors (to an ulp per chunk, any chunk size), medae exactly np.median's value."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.csv"
        path.write_text("pred,target\n" + "".join(f"{p!r},{t!r}\n" for p, t in values))
        result = invoke(["eval", str(path), "-m", "mse", "-m", "medae", "--chunk-size", str(chunk)])
        assert result.code == 0, result.err
        mse, medae = (r["value"] for r in result.json["results"])
        squares = [(p - t) ** 2 for p, t in values]
        # chunks add exact parts: math.fsum's value, bar a rounding tie broken by a remainder
        # below 2^-100 of the largest square (one ulp)
        exact = math.fsum(squares) / len(values)
        assert abs(mse - exact) <= 2 * math.ulp(exact)
        assert medae == float(np.median(np.abs(np.subtract(*zip(*values, strict=True)))))


def test_an_ndjson_array_line_is_not_a_record(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson"
    path.write_text("[1, 2]\n")
    result = invoke(["mse", str(path)])
    assert result.code == 3  # was "cannot read: cannot unpack non-iterable int object"
    assert _one_error_line(result.err).endswith("a.ndjson: NDJSON lines must be objects")


# -- a baseline JSON written (or edited) badly ----------------------------------------------------
BASE = '{"schema_version": 1, "loss": "mse", "params": {}, "reduction": "mean", "per": "all"'


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (BASE + ', "value": "x"}', 'must be a finite number (got "x")'),  # was a ValueError
        (BASE + ', "value": true}', "must be a finite number (got true)"),  # was 1.0
        (BASE + ', "value": 1e999}', "must be a finite number (got Infinity)"),  # a gate of inf
        (BASE + ', "value": [1, 2]}', "must be a finite number (got [1, 2])"),  # was a pass
        (BASE + ', "value": 1, "groups": 3}', "'groups' is not a list"),  # was a TypeError
        (BASE + ', "value": 1, "groups": [1]}', "'groups' is not a list"),  # AttributeError
        ('{"schema_version": 1, "results": 3}', "'results'/'checks' is not a list"),
        ("[" * 100_000 + "]" * 100_000, "cannot read"),
    ],
)
def test_malformed_baseline_json(tmp_path: Path, body: str, says: str) -> None:
    baseline = tmp_path / "base.json"
    baseline.write_text(body)
    result = invoke(["mse", str(SAMPLE), "--baseline", str(baseline), "--max-increase", "1"])
    assert result.code in (2, 3)
    assert says in _one_error_line(result.err)


def test_baseline_json_with_a_byte_order_mark(tmp_path: Path) -> None:
    baseline = tmp_path / "base.json"
    baseline.write_bytes(b"\xef\xbb\xbf" + (BASE + ', "value": 30.0}').encode())
    result = invoke(["mse", str(SAMPLE), "--baseline", str(baseline), "--max-increase", "0"])
    assert result.code == 0, result.err  # 28.32 <= 30 (was read as a predictions file)


@pytest.mark.parametrize("confidence", [[], ["--confidence", "0.9"]])
def test_a_nan_baseline_fails_with_and_without_confidence(
    tmp_path: Path, confidence: list[str]
) -> None:
    """A NaN limit cannot be straddled into an inconclusive pass (it was, with --confidence)."""
    baseline = tmp_path / "base.json"
    baseline.write_text(BASE + ', "value": null}')
    args = ["mse", str(SAMPLE), "--baseline", str(baseline), "--max-increase", "1", *confidence]
    result = invoke([*args, "-f", "json"])
    assert result.code == 1
    assert [g["passed"] for g in result.json["gates"]] == [False]


@pytest.mark.parametrize(("gate", "code"), [([], 3), (["--max", "100"], 3), (["--max", "1"], 1)])
def test_a_report_that_cannot_be_written(tmp_path: Path, gate: list[str], code: int) -> None:
    """One line naming --report (was "I/O error: ... (.r.svg.tmp)"); a failed gate still
    exits 1 (README: a failed gate outranks a write fault)."""
    target = tmp_path / "missing" / "r.svg"
    result = invoke(["mse", str(SAMPLE), "--report", str(target), *gate])
    assert result.code == code
    errors = [line for line in result.err.splitlines() if line.startswith("losscli: error")]
    assert errors == [f"losscli: error: cannot write --report {target}: No such file or directory"]
    assert json.loads(result.out)["value"] == pytest.approx(28.322682499, rel=1e-15)


def test_a_directory_that_mixes_formats_is_an_error(tmp_path: Path) -> None:
    """A directory is one Parquet dataset: a CSV beside the Parquet files was left out."""
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"pred": [1.0], "target": [0.0]}), data / "a.parquet")
    (data / "b.csv").write_text("pred,target\n5,0\n")
    (data / "_SUCCESS").write_text("")  # what Spark writes: not data
    (data / "notes.txt").write_text("read me")
    result = invoke(["mse", str(data)])
    assert result.code == 3
    assert "mixes Parquet files with b.csv" in _one_error_line(result.err)
    (data / "b.csv").unlink()
    assert invoke(["mse", str(data), "-f", "value"]).out == "1.0\n"


def test_utf16_csv_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes("pred,target\n1,2\n".encode("utf-16"))  # Excel's "Unicode text"
    for args in (["mse", str(path)], ["mse", "-"]):
        stdin = path.read_bytes() if args[1] == "-" else None
        result = invoke(args, stdin=stdin)
        assert result.code == 3  # was "pred column not found; columns: ��p\x00r\x00e\x00d\x00"
        assert "UTF-16 text" in _one_error_line(result.err)


def test_a_corrupt_parquet_page_is_one_clean_line(tmp_path: Path) -> None:
    good = tmp_path / "g.parquet"
    pq.write_table(pa.table({"pred": [1.0, 2.0], "target": [0.0, 0.0]}), good)
    broken = tmp_path / "b.parquet"
    broken.write_bytes(good.read_bytes()[4:])  # the leading magic gone: pages misread
    result = invoke(["mse", str(broken)])
    assert result.code == 3
    line = _one_error_line(result.err)
    assert "\\n" not in line and str(broken) in line  # Arrow's own line breaks were shown as \n
