"""Exact quantile errors at scale: time and peak memory of whole processes, values checked.

    python bench/quantiles.py            # 1M and 50M rows (generated once, ~870 MB)
    python bench/quantiles.py --rows 10000000

For each size: ``losscli median_absolute_error`` (unweighted, ``--weight``, ``--group-by``),
``quantile_absolute_error --q 0.9 --q 0.99``, ``mse`` (the one-pass baseline), and — when
installed — DuckDB's and Polars' exact median of the same column. Every value is compared with
NumPy / scikit-learn on the whole column (read once here, outside the timings). Peak memory
that does not grow from 1M to 50M rows is the claim under test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("LOSSCLI_BENCH_DIR", Path.home() / ".cache" / "losscli-bench"))
CHUNK = 1 << 20

DUCKDB = """
import sys, duckdb
src = "read_parquet('" + sys.argv[1].replace("'", "''") + "')"
print(repr(duckdb.connect().execute(f"SELECT median(abs(pred - target)) FROM {src}").fetchone()[0]))
"""
POLARS = """
import sys, polars as pl
e = (pl.col("pred") - pl.col("target")).abs().median()
print(repr(pl.scan_parquet(sys.argv[1]).select(e).collect(engine="streaming").item()))
"""


def generate(rows: int) -> Path:
    """pred, target, w (0–3), g (20 groups): written row group by row group."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = CACHE / f"quantiles{rows}.parquet"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261129)
    schema = pa.schema(
        [("pred", pa.float64()), ("target", pa.float64()), ("w", pa.float64()), ("g", pa.int64())]
    )
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, rows, CHUNK):
            m = min(CHUNK, rows - start)
            t = rng.normal(size=m)
            p = np.round(t + rng.normal(size=m), 3)  # many equal errors
            w = rng.integers(0, 4, m).astype(float)
            g = rng.integers(0, 20, m)
            writer.write_table(pa.table({"pred": p, "target": t, "w": w, "g": g}, schema=schema))
    tmp.rename(path)
    return path


def references(path: Path) -> dict[str, object]:
    """The values NumPy and scikit-learn give on the whole columns."""
    import pyarrow.parquet as pq
    from sklearn.metrics import median_absolute_error

    table = pq.read_table(path, columns=["pred", "target", "w", "g"])
    p, y = table.column("pred").to_numpy(), table.column("target").to_numpy()
    w, g = table.column("w").to_numpy(), table.column("g").to_numpy()
    a = np.abs(p - y)
    rows = g == 0
    return {
        "median": float(np.median(a)),
        "median_w": float(median_absolute_error(y, p, sample_weight=w)),
        "median_w_g0": float(median_absolute_error(y[rows], p[rows], sample_weight=w[rows])),
        "q": [float(np.quantile(a, 0.9)), float(np.quantile(a, 0.99))],
    }


def timed(command: list[str]) -> tuple[float, int, str]:
    """(seconds, peak RSS in MiB, stdout) of one process, measured by ``/usr/bin/time``: a
    child forked from this (large) process would inherit its high-water mark across exec."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *command],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(command)}\n{proc.stderr}")
        peak_kib = int(rss.read().split()[-1])
    return wall, peak_kib // 1024, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="rows (repeatable)")
    args = parser.parse_args()
    losscli = [sys.executable, "-m", "losscli"]
    print("| rows | run | value = reference | time | peak RSS |")
    print("|--:|---|---|--:|--:|")
    for rows in args.rows or [1_000_000, 50_000_000]:
        path = generate(rows)
        cols = ["-p", "pred", "-t", "target", "-f", "json"]
        runs: list[tuple[str, list[str], str | None]] = [
            ("mse (one pass, baseline)", [*losscli, "mse", str(path), *cols], None),
            ("median_absolute_error", [*losscli, "medae", str(path), *cols], "median"),
            (
                "median_absolute_error -w w",
                [*losscli, "medae", str(path), "-w", "w", *cols],
                "median_w",
            ),
            (
                "median_absolute_error -w w -g g",
                [*losscli, "medae", str(path), "-w", "w", "-g", "g", *cols],
                "median_w_g0",
            ),
            (
                "quantile_absolute_error --q 0.9 --q 0.99",
                [*losscli, "qae", str(path), "--q", "0.9", "--q", "0.99", *cols],
                "q",
            ),
        ]
        for tool, script in (("duckdb", DUCKDB), ("polars", POLARS)):
            try:
                __import__(tool)
            except ImportError:
                continue
            runs.append((f"{tool} median", [sys.executable, "-c", script, str(path)], "median"))
        # Every process first, the references after: a child's peak RSS counts the parent's
        # memory at fork time (Linux keeps the high-water mark across exec).
        timings = [(name, key, *timed(command)) for name, command, key in runs]
        ref = references(path)
        for name, key, wall, peak, out in timings:
            if key is None:
                ok = "-"
            elif name.endswith(" median"):
                ok = "yes" if float(out) == ref[key] else f"NO ({out.strip()})"
            else:
                doc = json.loads(out)
                if "results" in doc:
                    got: object = [r["value"] for r in doc["results"]]
                elif doc.get("groups"):
                    got = doc["groups"][0]["value"]
                else:
                    got = doc["value"]
                ok = "yes" if got == ref[key] else f"NO ({got} vs {ref[key]})"
            print(f"| {rows:,} | {name} | {ok} | {wall:.2f} s | {peak} MiB |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
