"""Grouped runs (``--group-by``) against Polars streaming and DuckDB: 10M rows, 20 / 100,000 /
1,000,000 groups, integer and text keys, plus ``eval`` with five metrics, a gate on every one
of 1,000,000 groups (``--max``: the JSON of every gate) and the ungrouped run.

Every measurement is a whole process (start-up included): wall time around it, peak RSS from
``os.wait4``; the tools run round-robin ``--repeat`` times and medians are reported, with the
ratios the issue sets targets for. Each tool's output is discarded (the same for all: JSON of
every group for losscli, a collected frame for Polars, fetched rows for DuckDB).

Usage: ``python bench/grouped.py [--repeat N] [--cases GLOB ...] [--rows N]``.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent

GENERATE = """
import sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
path, rows = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(20261129)
step = 1 << 20
writer = None
for start in range(0, rows, step):
    n = min(step, rows - start)
    target = rng.standard_normal(n) * 3.0
    cols = {"pred": target + rng.standard_normal(n), "target": target}
    for name, groups in (("20", 20), ("100k", 100_000), ("1m", 1_000_000)):
        key = rng.integers(0, groups, n)
        cols["k" + name] = key
        cols["s" + name] = pa.array(np.char.add("store_", np.char.zfill(key.astype(str), 7)))
    table = pa.table(cols)
    if writer is None:
        writer = pq.ParquetWriter(path + ".tmp", table.schema, compression="snappy")
    writer.write_table(table)  # one row group per 2**20 rows
writer.close()
"""

POLARS = """
import sys, polars as pl
path, key = sys.argv[1:3]
d = pl.col("pred") - pl.col("target")
lf = pl.scan_parquet(path)
if key == "-":
    out = lf.select((d * d).mean()).collect(engine="streaming")
elif sys.argv[3:] == ["5"]:
    e = d.abs()
    t = pl.col("target")
    out = lf.group_by(key).agg(
        (d * d).mean().alias("mse"), e.mean().alias("mae"), (d * d).mean().sqrt().alias("rmse"),
        (1 - (d * d).sum() / ((t - t.mean()) ** 2).sum()).alias("r2"), e.max().alias("max"),
    ).collect(engine="streaming")
elif sys.argv[3:] == ["gate"]:  # the value and its verdict against --max 2.5, per group
    mse = (d * d).mean().alias("mse")
    out = lf.group_by(key).agg(mse).with_columns(passed=pl.col("mse") <= 2.5)
    out = out.collect(engine="streaming")
else:
    out = lf.group_by(key).agg((d * d).mean()).collect(engine="streaming")
print(out.height)
"""

DUCKDB = """
import sys, duckdb
path, key = sys.argv[1:3]
src = "read_parquet('" + path.replace("'", "''") + "')"
if key == "-":
    sql = f"SELECT avg((pred - target) ^ 2) FROM {src}"
elif sys.argv[3:] == ["5"]:
    sql = (f"SELECT {key}, avg((pred-target)^2), avg(abs(pred-target)), "
           f"sqrt(avg((pred-target)^2)), 1 - sum((pred-target)^2) / (var_pop(target) * count(*)), "
           f"max(abs(pred-target)) FROM {src} GROUP BY {key}")
elif sys.argv[3:] == ["gate"]:
    sql = (f"SELECT {key}, avg((pred - target) ^ 2), avg((pred - target) ^ 2) <= 2.5 "
           f"FROM {src} GROUP BY {key}")
else:
    sql = f"SELECT {key}, avg((pred - target) ^ 2) FROM {src} GROUP BY {key}"
print(len(duckdb.connect().execute(sql).fetchall()))
"""

#: (case, key column or "-", "" | "5" (five metrics) | "gate" (``--max 2.5`` on every group))
CASES = [
    ("ungrouped", "-", False),
    ("g20-int", "k20", False),
    ("g20-str", "s20", False),
    ("g100k-int", "k100k", False),
    ("g100k-str", "s100k", False),
    ("g1m-int", "k1m", False),
    ("g1m-str", "s1m", False),
    ("eval5-g100k-int", "k100k", "5"),
    ("g1m-int-gated", "k1m", "gate"),
]


def losscli_cmd(path: str, key: str, mode: str) -> list[str]:
    exe = shutil.which("losscli") or str(Path(sys.executable).parent / "losscli")
    if mode == "5":
        metrics = ["-m", "mse", "-m", "mae", "-m", "rmse", "-m", "r2", "-m", "max_error"]
        cmd = [exe, "eval", path, *metrics]
    else:
        cmd = [exe, "mse", path]
    if key != "-":
        cmd += ["--group-by", key]
    if mode == "gate":  # every group gated: JSON of every gate, the worst failures on stderr
        cmd += ["--max", "2.5"]
    return [*cmd, "--format", "json", "-q"]


def run_once(cmd: list[str], quiet: bool = False) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS MiB, exit code) of one whole process, output (and
    with ``quiet`` its stderr: a gated run's failure lines) discarded. CPU is user + system
    time of all its threads: steadier than wall time on a shared machine, the fairer measure
    between two losscli runs (a multithreaded tool's CPU is not its wall time)."""
    t0 = time.perf_counter()
    stderr = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


def median(xs: list[float]) -> float:
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def compile_bytecode() -> None:
    """Byte-compile losscli as an installation would (an editable checkout run with
    ``PYTHONDONTWRITEBYTECODE`` would pay for compiling its modules on every start)."""
    locate = "import losscli, os; print(os.path.dirname(losscli.__file__))"
    proc = subprocess.run([sys.executable, "-c", locate], capture_output=True, text=True)
    if proc.returncode == 0:
        subprocess.run([sys.executable, "-m", "compileall", "-q", proc.stdout.strip()])


def have(module: str) -> bool:
    probe = [sys.executable, "-c", f"import {module}"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--cases", nargs="*", default=["*"])
    args = parser.parse_args()
    cache = Path(os.environ.get("LOSSCLI_BENCH_CACHE", Path.home() / ".cache" / "losscli-bench"))
    cache.mkdir(parents=True, exist_ok=True)
    path = str(cache / f"grouped-{args.rows}.parquet")
    if not Path(path).exists():
        print(f"generating {path} ...", flush=True)
        subprocess.run([sys.executable, "-c", GENERATE, path, str(args.rows)], check=True)
        os.replace(path + ".tmp", path)
    cases = [c for c in CASES if any(fnmatch.fnmatch(c[0], g) for g in args.cases)]
    compile_bytecode()
    tools = {"losscli": None}
    if have("polars"):
        tools["polars"] = POLARS
    if have("duckdb"):
        tools["duckdb"] = DUCKDB
    times: dict[tuple[str, str], list[float]] = {}
    peaks: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for name, key, mode in cases:
            for tool, script in tools.items():
                cmd = (
                    losscli_cmd(path, key, mode)
                    if script is None
                    else [sys.executable, "-c", script, path, key, *([mode] if mode else [])]
                )
                wall, cpu, rss, code = run_once(cmd, quiet=mode == "gate")
                if code != 0 and not (mode == "gate" and code == 1):  # 1: a group failed
                    raise SystemExit(f"{tool} failed on {name}: exit {code}: {' '.join(cmd)}")
                times.setdefault((name, tool), []).append(wall)
                cpus.setdefault((name, tool), []).append(cpu)
                peaks.setdefault((name, tool), []).append(rss)
    print(f"\n{args.rows:,} rows, medians of {args.repeat} (wall s (CPU s) / peak MiB)\n")
    header = ["case", *(f"{t}" for t in tools), "losscli / polars"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, _, _ in cases:
        cells = [name]
        for tool in tools:
            t = median(times[(name, tool)])
            c = median(cpus[(name, tool)])
            m = median(peaks[(name, tool)])
            cells.append(f"{t:.2f} s ({c:.2f}) / {m:.0f} MiB")
        if "polars" in tools:
            ratio = median(times[(name, "losscli")]) / median(times[(name, "polars")])
            cells.append(f"{ratio:.2f}×")
        print("| " + " | ".join(cells) + " |")

    def ratio(a: str, b: str) -> str:
        """Wall-time ratio of two losscli cases (and of their CPU times)."""
        if (a, "losscli") in times and (b, "losscli") in times:
            wall = median(times[(a, "losscli")]) / median(times[(b, "losscli")])
            cpu = median(cpus[(a, "losscli")]) / median(cpus[(b, "losscli")])
            return f"{wall:.2f}× (CPU {cpu:.2f}×)"
        return "n/a"

    print()
    print("20 groups over ungrouped (target ≤ 1.25×):", ratio("g20-int", "ungrouped"))
    print(
        "eval, 5 metrics over 1, 100k groups (target ≤ 2×):", ratio("eval5-g100k-int", "g100k-int")
    )
    for groups in ("20", "100k", "1m"):
        print(
            f"text over integer keys, {groups} (target ≤ 1.3×):",
            ratio(f"g{groups}-str", f"g{groups}-int"),
        )
    print(
        "every one of 1M groups gated (--max) over ungated (target ≤ 1.5×):",
        ratio("g1m-int-gated", "g1m-int"),
    )


if __name__ == "__main__":
    main()
