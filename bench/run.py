"""Benchmark losscli against DuckDB, Polars, pandas+NumPy and pyarrow read-only floors.

Every measurement is a whole separate process (start-up included): wall time from
``time.perf_counter`` around it, peak RSS from ``os.wait4`` (``ru_maxrss``). Each tool first runs
once to check its value against the exact reference in the data manifest (this also warms the page
cache), then the tools are timed round-robin, ``--repeat`` times.

Linux charges a child's ``ru_maxrss`` with at least its parent's peak RSS (the forked address
space counts), so this harness imports only the standard library and generates the data in a
subprocess; its own peak RSS is reported as the floor below which RSS figures mean nothing.

Usage: ``python bench/run.py [--quick] [--repeat N] [--cases GLOB ...] [--tools NAME ...]
[--losscli CMD]``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REL_TOL = 1e-9
HUBER_DELTA = "1"

# Peer scripts, run as ``python -c SCRIPT PATH METRIC FORMAT``; each prints its value (repr).
DUCKDB = """
import sys, duckdb
path, metric, fmt = sys.argv[1:]
reader = "read_parquet" if fmt == "parquet" else "read_csv"
quoted = path.replace("'", "''")
src = f"{reader}('{quoted}')"
if metric == "mse":
    expr = "avg((pred - target) ^ 2)"
else:
    expr = ("avg(CASE WHEN abs(pred - target) <= 1 THEN 0.5 * (pred - target) ^ 2 "
            "ELSE abs(pred - target) - 0.5 END)")
print(repr(duckdb.connect().execute(f"SELECT {expr} FROM {src}").fetchone()[0]))
"""

POLARS = """
import sys, polars as pl
path, metric, fmt = sys.argv[1:]
lf = pl.scan_parquet(path) if fmt == "parquet" else pl.scan_csv(path)
d = pl.col("pred") - pl.col("target")
if metric == "mse":
    e = (d * d).mean()
else:
    a = d.abs()
    e = pl.when(a <= 1).then(0.5 * a * a).otherwise(a - 0.5).mean()
print(repr(lf.select(e).collect(engine="streaming").item()))
"""

PANDAS = """
import sys, numpy as np, pandas as pd
path, metric, fmt = sys.argv[1:]
cols = ["pred", "target"]
if fmt == "parquet":
    df = pd.read_parquet(path, columns=cols)
else:
    df = pd.read_csv(path, usecols=cols, dtype="float64")
d = df["pred"].to_numpy() - df["target"].to_numpy()
if metric == "mse":
    v = np.mean(d * d)
else:
    a = np.abs(d)
    v = np.mean(np.where(a <= 1, 0.5 * a * a, a - 0.5))
print(repr(float(v)))
"""

# Read the two columns and nothing else: Parquet row group by row group, CSV as a stream.
PYARROW_READ = """
import sys
path, metric, fmt = sys.argv[1:]
cols = ["pred", "target"]
n = 0
if fmt == "parquet":
    import pyarrow.parquet as pq
    f = pq.ParquetFile(path)
    for i in range(f.num_row_groups):
        n += f.read_row_group(i, columns=cols).num_rows
else:
    import pyarrow.csv as pc
    for batch in pc.open_csv(path, convert_options=pc.ConvertOptions(include_columns=cols)):
        n += batch.num_rows
print(f"rows={n}")
"""

STARTUP_FLOORS = {
    "python-pass": "pass",
    "import-numpy": "import numpy",
    "import-pyarrow.parquet": "import pyarrow.parquet",
    "import-pyarrow.csv": "import pyarrow.csv",
    "import-pandas": "import pandas",
}
TINY_FLOOR = "import numpy, pyarrow.csv"
DATA_TOOLS = ["losscli", "duckdb", "polars", "pandas", "pyarrow-read"]
ALL_TOOLS = [*DATA_TOOLS, "losscli-plain", "import-numpy+pyarrow.csv", *STARTUP_FLOORS]


@dataclass(frozen=True)
class Case:
    """One benchmark cell: a data set and a metric (``startup``: no data)."""

    name: str
    dataset: str | None
    metric: str | None
    quick: bool
    extra: tuple[str, ...] = ()  # losscli options of the case (timed against a plain run)


#: The cost of charts: every histogram state fed in the same pass (--show hist, JSON
#: "histograms": error histogram, predicted-vs-target grid), and a whole --report (HTML: the
#: SVG charts and the table, written as text; PNG: painted with Pillow).
REPORT_PATH = str(Path(tempfile.gettempdir()) / "losscli-bench-report.html")
REPORT_PNG = str(Path(tempfile.gettempdir()) / "losscli-bench-report.png")
REPORT_SVG = str(Path(tempfile.gettempdir()) / "losscli-bench-report.svg")
SHOW = ("--show", "hist")
CASES = [
    Case("startup", None, None, True),
    Case("version", None, None, True),
    Case("tiny-mse", "tiny", "mse", True),
    Case("pq10m-mse", "pq10m", "mse", True),
    Case("pq10m-huber", "pq10m", "huber", True),
    Case("csv10m-mse", "csv10m", "mse", True),
    Case("csvgz10m-mse", "csvgz10m", "mse", False),
    Case("csv10m-huber", "csv10m", "huber", False),
    Case("pq50m-mse", "pq50m", "mse", False),
    Case("pq50m-huber", "pq50m", "huber", False),
    # --confidence (issue 14): the same gated run plain, with a t interval, with a B=200 bootstrap
    Case("pq10m-mse-gate-ci", "pq10m", "mse", False),
    Case("csv10m-mse-gate-ci", "csv10m", "mse", False),
    # the quantile bootstrap (every replicate's exact median; --confidence alone bootstraps it)
    Case("pq10m-median_absolute_error-gate-ci", "pq10m", "median_absolute_error", False),
    Case("pq10m-mse-show", "pq10m", "mse", False, SHOW),
    Case("csv10m-mse-show", "csv10m", "mse", False, SHOW),
    Case("pq10m-mse-report", "pq10m", "mse", False, ("--report", REPORT_PATH)),
    Case("pq10m-mse-report-svg", "pq10m", "mse", False, ("--report", REPORT_SVG)),
    Case("pq10m-mse-report-png", "pq10m", "mse", False, ("--report", REPORT_PNG)),
]
#: Issue 15: --show / --report add at most this much to the run without them (median wall).
CHART_BUDGET = 1.15

# Extra arguments of the gated-run variants compared in the ``*-gate-ci`` cases.
GATE_CI_TOOLS = {
    "losscli": ["--max", "1e300"],
    "losscli-confidence": ["--max", "1e300", "--confidence", "0.95"],
    "losscli-bootstrap200": ["--max", "1e300", "--confidence", "0.95", "--bootstrap", "200"],
}
# Budgets of issue 14: time of each variant over the plain gated run.
GATE_CI_BUDGETS = {"losscli-confidence": 1.2, "losscli-bootstrap200": 4.0}


@dataclass
class Sample:
    """One finished child process."""

    wall: float
    maxrss_kib: int
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False

    def error(self) -> str | None:
        """Short error text, or None if the process succeeded."""
        if self.timed_out:
            return "timeout"
        if self.returncode == 0:
            return None
        lines = [ln for ln in self.stderr.strip().splitlines() if ln.strip()]
        tail = lines[-1].strip() if lines else ""
        return f"exit {self.returncode}: {tail}"[:120]


@dataclass
class Result:
    """All measurements of one tool in one case."""

    tool: str
    cmd: list[str]
    status: str = "pending"  # ok | floor | MISMATCH | error
    value: float | None = None
    rel_err: float | None = None
    error: str | None = None
    walls: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    @property
    def timed(self) -> bool:
        """Whether this tool has timing samples."""
        return bool(self.walls)

    def median(self) -> float:
        """Median wall time in seconds."""
        return median(self.walls)

    def rss_mib(self) -> float:
        """Median peak RSS in MiB (Linux ``ru_maxrss`` is in KiB)."""
        return median(self.rss_kib) / 1024


def median(xs: list[float] | list[int]) -> float:
    """Median (kept local: ``statistics`` would grow the harness's RSS)."""
    s = sorted(xs)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def run_once(cmd: list[str], timeout: float) -> Sample:
    """Run ``cmd`` to completion; measure wall time and the child's peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        except OSError as exc:
            return Sample(0.0, 0, 127, "", f"{type(exc).__name__}: {exc}")
        fired = threading.Event()

        def kill() -> None:
            fired.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen quiet
        timer.cancel()
        out.seek(0)
        err.seek(0)
        return Sample(
            wall,
            usage.ru_maxrss,
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            timed_out=fired.is_set() and proc.returncode == -signal.SIGKILL,
        )


def default_losscli() -> list[str]:
    """``losscli`` next to the running interpreter, else on PATH."""
    sibling = Path(sys.executable).parent / "losscli"
    if sibling.exists():
        return [str(sibling)]
    return [shutil.which("losscli") or str(sibling)]


def build_command(tool: str, case: Case, entry: dict | None, args: argparse.Namespace) -> list[str]:
    """Command line for ``tool`` in ``case`` (caller ensures the pair applies)."""
    py = args.python
    if case.dataset is None:  # start-up case
        if tool == "losscli":
            return [*args.losscli, "--version" if case.name == "version" else "--help"]
        return [py, "-c", STARTUP_FLOORS[tool]]
    assert entry is not None and case.metric is not None
    path, fmt = entry["path"], entry["fmt"]
    if case.name.endswith("-gate-ci"):
        return [*args.losscli, case.metric, path, "--format", "json", *GATE_CI_TOOLS[tool]]
    if tool in ("losscli", "losscli-plain"):
        extra = ["--delta", HUBER_DELTA] if case.metric == "huber" else []
        if tool == "losscli":
            extra += case.extra
        return [*args.losscli, case.metric, path, "--format", "json", *extra]
    if tool == "import-numpy+pyarrow.csv":
        return [py, "-c", TINY_FLOOR]
    script = {"duckdb": DUCKDB, "polars": POLARS, "pandas": PANDAS, "pyarrow-read": PYARROW_READ}
    return [py, "-c", script[tool], path, case.metric, fmt]


def tools_for(case: Case) -> list[str]:
    """Tools that apply to ``case``, losscli first."""
    if case.name == "version":
        return ["losscli", "python-pass"]
    if case.dataset is None:
        return ["losscli", *STARTUP_FLOORS]
    if case.name.endswith("-gate-ci"):
        return list(GATE_CI_TOOLS)
    if case.dataset == "tiny":
        return ["losscli", "duckdb", "polars", "pandas", "import-numpy+pyarrow.csv"]
    if case.extra:  # losscli with the case's options against losscli without them
        return ["losscli", "losscli-plain"]
    return DATA_TOOLS


def parse_value(tool: str, stdout: str) -> float:
    """Extract the loss value a tool printed (losscli: JSON with a top-level ``value``)."""
    if tool.startswith("losscli"):
        return float(json.loads(stdout)["value"])
    return float(stdout.strip().splitlines()[-1])


def check(res: Result, sample: Sample, case: Case, entry: dict | None) -> None:
    """Set ``res.status`` from the warm-up run: error, floor, ok or MISMATCH."""
    err = sample.error()
    if err:
        res.status, res.error = "error", err
        return
    compared = ("losscli", "losscli-plain", "duckdb", "polars", "pandas", *GATE_CI_TOOLS)
    if entry is None or res.tool not in compared:
        res.status = "ok" if res.tool == "losscli" else "floor"  # nothing to compare
        if (
            res.tool == "pyarrow-read"
            and entry
            and sample.stdout.strip() != f"rows={entry['rows']}"
        ):
            res.status, res.error = "MISMATCH", f"read {sample.stdout.strip()!r}"
        return
    try:
        res.value = parse_value(res.tool, sample.stdout)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        res.status, res.error = "error", f"unparseable output ({exc}): {sample.stdout[:80]!r}"
        return
    ref = entry["reference"][case.metric]
    res.rel_err = abs(res.value - ref) / abs(ref)
    res.status = "ok" if res.rel_err <= REL_TOL else "MISMATCH"
    if res.status == "MISMATCH":
        res.error = f"value {res.value!r} vs reference {ref!r} (rel {res.rel_err:.2e})"


def run_case(case: Case, tools: list[str], entry: dict | None, args: argparse.Namespace) -> dict:
    """Check then time every tool of one case; return its JSON-able record."""
    path = entry["path"] if entry else None
    results = [Result(t, build_command(t, case, entry, args)) for t in tools]
    print(f"\n== {case.name}" + (f"  ({path})" if path else ""), flush=True)
    for res in results:
        check(res, run_once(res.cmd, args.timeout), case, entry)
        if res.status == "MISMATCH":
            print(f"  !!!!! {res.tool}: VALUE DISAGREES — {res.error} !!!!!", flush=True)
        elif res.status == "error":
            print(f"  {res.tool}: ERROR {res.error}", flush=True)
    values = [r.value for r in results if r.value is not None]
    ref = entry["reference"][case.metric] if entry and case.metric else None
    spread = (max(values) - min(values)) / abs(ref) if ref and len(values) > 1 else 0.0
    if spread > REL_TOL:
        print(f"  !!!!! TOOLS DISAGREE: relative spread {spread:.2e} !!!!!", flush=True)
    load_before = os.getloadavg()
    active = [r for r in results if r.status != "error"]
    for rep in range(args.repeat):
        k = rep % len(active) if active else 0
        for res in active[k:] + active[:k]:  # rotate the start so no tool always runs first
            if res.status == "error":
                continue
            sample = run_once(res.cmd, args.timeout)
            if sample.error():
                res.status, res.error = "error", sample.error()
                continue
            res.walls.append(sample.wall)
            res.rss_kib.append(sample.maxrss_kib)
        line = "  ".join(f"{r.tool}={r.walls[-1]:.2f}s" for r in active if r.timed)
        print(f"  rep {rep + 1}/{args.repeat}: {line}", flush=True)
    plain = next((r for r in results if r.tool == "losscli" and r.timed), None)
    without = next((r for r in results if r.tool == "losscli-plain" and r.timed), None)
    if case.extra and plain is not None and without is not None:
        ratio = plain.median() / without.median()
        verdict = "within" if ratio <= CHART_BUDGET else "OVER"
        print(
            f"  {' '.join(case.extra)}: {ratio:.2f}x the run without it (median wall): "
            f"{verdict} the {CHART_BUDGET}x budget",
            flush=True,
        )
    for res in results:
        budget = GATE_CI_BUDGETS.get(res.tool)
        if budget is not None and plain is not None and res.timed:
            ratio = res.median() / plain.median()
            verdict = "within" if ratio <= budget else "OVER"
            print(
                f"  {res.tool}: {ratio:.2f}x the plain gated run (median), "
                f"peak RSS {res.rss_mib():.0f} vs {plain.rss_mib():.0f} MiB: {verdict} the "
                f"{budget}x budget",
                flush=True,
            )
    return {
        "case": case.name,
        "dataset": case.dataset,
        "metric": case.metric,
        "rows": entry["rows"] if entry else None,
        "path": path,
        "reference": ref,
        "value_spread": spread,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "results": [summarize(r, entry, results) for r in results],
    }


def summarize(res: Result, entry: dict | None, results: list[Result]) -> dict[str, Any]:
    """JSON record for one tool, including the losscli/tool ratio."""
    rec: dict[str, Any] = {
        "tool": res.tool,
        "cmd": res.cmd,
        "status": res.status,
        "value": res.value,
        "rel_err": res.rel_err,
        "error": res.error,
        "walls_s": res.walls,
        "maxrss_kib": res.rss_kib,
    }
    if res.timed:
        loss = next((r for r in results if r.tool == "losscli" and r.timed), None)
        rec |= {
            "median_s": res.median(),
            "min_s": min(res.walls),
            "rows_per_s": entry["rows"] / res.median() if entry else None,
            "rss_mib": res.rss_mib(),
            "losscli_over_tool": loss.median() / res.median() if loss else None,
        }
    return rec


HEADER = ["case", "tool", "status", "median s", "min s", "rows/s", "peak RSS MiB", "losscli/tool"]


def table_rows(cases: list[dict]) -> list[list[str]]:
    """Rows of the summary table as strings."""
    rows = []
    for c in cases:
        for r in c["results"]:
            if "median_s" not in r:
                rows.append([c["case"], r["tool"], r["status"], "-", "-", "-", "-", "-"])
                continue
            rps = r["rows_per_s"]
            ratio = r["losscli_over_tool"]
            rows.append(
                [
                    c["case"],
                    r["tool"],
                    r["status"],
                    f"{r['median_s']:.3f}",
                    f"{r['min_s']:.3f}",
                    fmt_rate(rps),
                    f"{r['rss_mib']:.0f}",
                    f"{ratio:.2f}" if ratio is not None and r["tool"] != "losscli" else "-",
                ]
            )
    return rows


def fmt_rate(rows_per_s: float | None) -> str:
    """``12.3M`` style rows per second; ``-`` when unknown or for tiny inputs."""
    if not rows_per_s:
        return "-"
    return f"{rows_per_s / 1e6:.1f}M" if rows_per_s >= 1e5 else f"{rows_per_s:,.0f}"


def render_text(rows: list[list[str]]) -> str:
    """Aligned plain-text table (numbers right-aligned)."""
    widths = [max(len(x) for x in col) for col in zip(HEADER, *rows, strict=True)]

    def fmt(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(x.ljust(w) if i < 3 else x.rjust(w) for i, (x, w) in enumerate(cells))

    return "\n".join([fmt(HEADER), "  ".join("-" * w for w in widths), *map(fmt, rows)])


def render_markdown(rows: list[list[str]]) -> str:
    """GitHub Markdown table."""
    align = ["---"] * 3 + ["--:"] * (len(HEADER) - 3)
    lines = [HEADER, align, *rows]
    return "\n".join("| " + " | ".join(r) + " |" for r in lines)


VERSIONS = """
import json, os, platform
from importlib import metadata
out = {"platform": platform.platform(), "python": platform.python_version(),
       "cpus": os.cpu_count()}
for pkg in ("losscli", "numpy", "pandas", "pyarrow", "polars", "duckdb"):
    try:
        out[pkg] = metadata.version(pkg)
    except metadata.PackageNotFoundError:
        out[pkg] = None
print(json.dumps(out))
"""


def host_info(python: str) -> dict[str, Any]:
    """Platform and package versions, collected in a child to keep this process small."""
    proc = subprocess.run([python, "-c", VERSIONS], capture_output=True, text=True, check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else {"error": proc.stderr[-200:]}


def prepare_data(python: str, names: list[str]) -> dict[str, Any]:
    """Generate/reuse the data sets via ``generate.py`` in a child process."""
    if not names:
        names = ["tiny"]  # still learn the cache folder
    cmd = [python, str(BENCH_DIR / "generate.py"), "--json", "--sets", *names]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(proc.stdout)


def compile_bytecode(python: str) -> None:
    """Byte-compile losscli as an installation would: an editable checkout (or a session with
    ``PYTHONDONTWRITEBYTECODE``) would otherwise pay ~50 ms of compiling on every start."""
    locate = "import losscli, os; print(os.path.dirname(losscli.__file__))"
    proc = subprocess.run([python, "-c", locate], capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        package = proc.stdout.strip()
        subprocess.run([python, "-m", "compileall", "-q", package], check=False)


def self_maxrss_mib() -> float:
    """This harness's own peak RSS (the floor of every child's ``ru_maxrss``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _split(values: list[str] | None) -> list[str]:
    """Flatten ``["a,b", "c"]`` to ``["a", "b", "c"]``."""
    return [v for value in values or [] for v in value.split(",") if v]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, help="timed runs per tool (default 5, --quick 3)")
    p.add_argument("--quick", action="store_true", help="small, fast subset (~2 min)")
    p.add_argument("--cases", nargs="+", metavar="GLOB", help="case names or globs")
    p.add_argument("--tools", nargs="+", metavar="NAME", help=f"subset of: {' '.join(ALL_TOOLS)}")
    p.add_argument("--losscli", type=shlex.split, default=None, help="losscli command to run")
    p.add_argument("--python", default=sys.executable, help="interpreter for the peer scripts")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    p.add_argument("--list", action="store_true", help="list cases and tools, then exit")
    args = p.parse_args(argv)
    args.losscli = args.losscli or default_losscli()
    args.cases, args.tools = _split(args.cases), _split(args.tools)
    if unknown := set(args.tools) - set(ALL_TOOLS):
        p.error(f"unknown tools {sorted(unknown)}; choose from {ALL_TOOLS}")
    args.repeat = args.repeat or (3 if args.quick else 5)
    if args.repeat < 1:
        p.error("--repeat must be ≥ 1")
    return args


def select_cases(args: argparse.Namespace) -> list[Case]:
    """Cases chosen by ``--quick`` and ``--cases``."""
    cases = [c for c in CASES if c.quick or not args.quick]
    if args.cases:
        cases = [c for c in cases if any(fnmatch.fnmatch(c.name, g) for g in args.cases)]
    return cases


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns 1 if any value disagreed, else 0."""
    args = parse_args(argv)
    cases = select_cases(args)
    if args.list or not cases:
        print("cases:", " ".join(c.name for c in CASES), "| quick:", end=" ")
        print(" ".join(c.name for c in CASES if c.quick))
        print("tools:", " ".join(ALL_TOOLS))
        return 0 if args.list else 2
    t0 = time.perf_counter()
    data = prepare_data(args.python, sorted({c.dataset for c in cases if c.dataset}))
    compile_bytecode(args.python)
    cache = Path(data["cache"])
    print(f"data ready in {time.perf_counter() - t0:.1f} s ({cache})")
    info: dict[str, Any] = {
        "started": datetime.now().isoformat(timespec="seconds"),
        "host": host_info(args.python),
        "argv": sys.argv[1:],
        "losscli_cmd": args.losscli,
        "repeat": args.repeat,
    }
    print(f"losscli: {shlex.join(args.losscli)}  repeat={args.repeat}  {info['host']}")
    print(f"harness peak RSS {self_maxrss_mib():.0f} MiB (children can't report less)")
    records: list[dict] = []
    try:
        for case in cases:
            tools = [t for t in tools_for(case) if not args.tools or t in args.tools]
            if tools:
                records.append(run_case(case, tools, data["sets"].get(case.dataset or ""), args))
    finally:
        info["seconds"] = round(time.perf_counter() - t0, 1)
        info["harness_maxrss_mib"] = round(self_maxrss_mib(), 1)
        out = cache / f"results-{datetime.now():%Y%m%d-%H%M%S}.json"
        out.write_text(json.dumps({**info, "cases": records}, indent=2) + "\n")
        rows = table_rows(records)
        print(f"\n{render_text(rows)}\n\n{render_markdown(rows)}\n")
        for c in records:
            for r in c["results"]:
                if r["error"]:
                    print(f"{r['status']}: {c['case']}/{r['tool']}: {r['error']}")
        print(f"results: {out}  ({info['seconds']} s total)")
    bad = [
        f"{c['case']}/{r['tool']}"
        for c in records
        for r in c["results"]
        if r["status"] == "MISMATCH"
    ]
    bad += [
        f"{c['case']} (spread {c['value_spread']:.1e})"
        for c in records
        if c["value_spread"] > REL_TOL
    ]
    if bad:
        print(f"!!!!! VALUE DISAGREEMENT: {', '.join(bad)} !!!!!", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
