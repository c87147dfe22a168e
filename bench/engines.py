"""Engines and object storage: local vs ``--engine dask`` vs Polars, local disk vs an S3 server.

A 50M-row, 20-file Parquet dataset (``pred``, ``target`` float64, 1M-row groups) is scored with
MSE by: the local engine; ``--engine dask`` starting its own 2-process LocalCluster; the same
against an already running 2-process cluster (``--scheduler``); Polars (streaming); and the
local engine and Dask reading the same files from a local S3-compatible server (moto). Every
run is a whole process; medians of ``--repeat`` runs; every value is checked against the
first one (the same digits are required of the Dask runs).

Then the cost of a unit of work: 200 one-row-group files of 1,000 rows through Dask against one
such file, giving the scheduling and per-task overhead per unit, the throughput per worker,
and the unit size that keeps the overhead under 5%.

Usage: ``python bench/engines.py [--rows 50000000] [--files 20] [--repeat 3] [--no-s3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PYTHON = sys.executable
HERE = Path(__file__).resolve().parent


def losscli(*args: str) -> list[str]:
    return [PYTHON, "-m", "losscli", *args]


POLARS = """
import sys, polars as pl
lf = pl.scan_parquet(sys.argv[1] + "/*.parquet")
d = pl.col("pred") - pl.col("target")
print(repr(lf.select((d * d).mean()).collect(engine="streaming").item()))
"""

MOTO = """
import logging, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
print("ready", flush=True)
sys.stdin.read()
server.stop()
"""

GENERATE = """
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
root, rows, files, group = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(2026)
per = rows // files
for i in range(files):
    pred = rng.normal(size=per) * 3
    t = pa.table({"pred": pred, "target": pred + rng.normal(size=per)})
    pq.write_table(t, f"{root}/part-{i:05d}.parquet", row_group_size=group)
"""


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{cmd}: {done.stderr.strip()[-400:]}")
    return seconds, done.stdout.strip()


def measure(name: str, cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> dict:
    times, values = [], set()
    for _ in range(repeat):
        seconds, out = timed(cmd, env)
        times.append(seconds)
        values.add(out)
    row = {"case": name, "median_s": statistics.median(times), "times": times}
    row["value"] = values.pop() if len(values) == 1 else f"VARIES: {sorted(values)}"
    print(f"{name:<48} {row['median_s']:7.2f} s   {row['value']}", flush=True)
    return row


def generate(root: Path, rows: int, files: int, group: int) -> None:
    marker = root / f".done-{rows}-{files}-{group}"
    if marker.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    subprocess.run(
        [PYTHON, "-c", GENERATE, str(root), str(rows), str(files), str(group)], check=True
    )
    marker.write_text("")


def start_cluster(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """A 2-process LocalCluster in its own process; returns (process, scheduler address)."""
    script = (
        "import sys\nfrom distributed import LocalCluster\n"
        "c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, "
        "dashboard_address=':0')\nprint(c.scheduler_address, flush=True)\nsys.stdin.read()\n"
        "c.close()\n"
    )
    proc = subprocess.Popen(
        [PYTHON, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def unit_overhead(root: Path, address: str, repeat: int) -> dict[str, Any]:
    """Per-unit cost: 200 tiny one-unit files against one, on the running 2-worker cluster."""
    tiny = root.parent / "tiny"
    generate(tiny, 200 * 1000, 200, 1000)
    one = [str(tiny / "part-00000.parquet")]
    many = [str(tiny)]
    base = measure(
        "dask, 1 tiny unit",
        losscli("mse", *one, "--engine", "dask", "--scheduler", address, "--format", "value"),
        repeat,
    )
    full = measure(
        "dask, 200 tiny units (200 files)",
        losscli("mse", *many, "--engine", "dask", "--scheduler", address, "--format", "value"),
        repeat,
    )
    local = measure("local, 200 tiny files", losscli("mse", *many, "--format", "value"), repeat)
    wall_per_unit = (full["median_s"] - base["median_s"]) / 199
    return {
        "wall_per_unit_s": wall_per_unit,
        "worker_s_per_unit": wall_per_unit * 2,
        "local_per_file_s": local["median_s"] / 200,
        "rows": [base, full, local],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-s3", action="store_true")
    parser.add_argument(
        "--root", default=os.path.join(tempfile.gettempdir(), "losscli-bench-engines")
    )
    args = parser.parse_args()
    root = Path(args.root) / "ds"
    t0 = time.perf_counter()
    generate(root, args.rows, args.files, 1 << 20)
    print(
        f"data: {args.rows:,} rows in {args.files} files ({sum(p.stat().st_size for p in root.glob('*.parquet')) / 1e6:.0f} MB), {time.perf_counter() - t0:.1f} s"
    )
    rows: list[dict] = []
    data = str(root)
    rows.append(
        measure("local engine (disk)", losscli("mse", data, "--format", "value"), args.repeat)
    )
    rows.append(measure("polars streaming (disk)", [PYTHON, "-c", POLARS, data], args.repeat))
    rows.append(
        measure(
            "dask, own 2-process LocalCluster (disk)",
            losscli("mse", data, "--engine", "dask", "--format", "value"),
            args.repeat,
        )
    )
    server, env = (None, {}) if args.no_s3 else start_s3(root)
    cluster, address = start_cluster(env)  # its workers read S3 with the same credentials
    try:
        rows.append(
            measure(
                "dask, running 2-process cluster (disk)",
                losscli(
                    "mse", data, "--engine", "dask", "--scheduler", address, "--format", "value"
                ),
                args.repeat,
            )
        )
        overhead = unit_overhead(root, address, args.repeat)
        if server is not None:
            uri = "s3://bench-bkt/ds/"
            rows.append(
                measure(
                    "local engine (S3 server)",
                    losscli("mse", uri, "--format", "value"),
                    args.repeat,
                    env,
                )
            )
            rows.append(
                measure(
                    "dask, running 2-process cluster (S3 server)",
                    losscli(
                        "mse", uri, "--engine", "dask", "--scheduler", address, "--format", "value"
                    ),
                    args.repeat,
                    env,
                )
            )
    finally:
        stop(cluster)
        if server is not None:
            stop(server)
    local_rate = args.rows / rows[0]["median_s"]
    # The running cluster's time less that of one tiny unit (client start-up, connection):
    dask_compute = rows[3]["median_s"] - overhead["rows"][0]["median_s"]
    per_worker_rate = args.rows / (dask_compute * 2)
    unit_for_5pct = overhead["worker_s_per_unit"] * per_worker_rate / 0.05
    summary = {
        "rows": rows,
        "overhead": overhead,
        "local_rows_per_s": local_rate,
        "dask_rows_per_s_per_worker": per_worker_rate,
        "unit_rows_for_5pct": unit_for_5pct,
    }
    print(
        f"\nper unit: {overhead['wall_per_unit_s'] * 1e3:.1f} ms wall on 2 workers "
        f"({overhead['worker_s_per_unit'] * 1e3:.1f} worker-ms); local per file "
        f"{overhead['local_per_file_s'] * 1e3:.1f} ms"
    )
    print(
        f"throughput: local {local_rate / 1e6:.0f} M rows/s; dask {per_worker_rate / 1e6:.0f} M rows/s per worker"
    )
    print(f"unit size for < 5% overhead: {unit_for_5pct / 1e6:.2f} M rows")
    values = {
        r["value"]
        for r in rows
        if r["case"].startswith(
            (
                "local engine",
                "dask, own",
                "dask, running",
                "local engine (S3",
                "dask, running 2-process cluster (S3",
            )
        )
    }
    print("values agree to the last digit:" if len(values) == 1 else "VALUES DIFFER:", values)
    out = Path(args.root) / f"engines-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"results: {out}")
    return 0 if len(values) == 1 else 1


def start_s3(root: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """A local moto S3 server holding the dataset (uploaded once per run of this script)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [PYTHON, "-c", MOTO, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    server.stdout.readline()
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(
        endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
        access_key="bench", secret_key="bench", allow_bucket_creation=True,
    )  # fmt: skip
    fs.create_dir("bench-bkt")
    t0 = time.perf_counter()
    for path in sorted(root.glob("*.parquet")):
        with (
            open(path, "rb") as src,
            fs.open_output_stream(f"bench-bkt/ds/{path.name}", compression=None) as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 22)
    print(f"uploaded to the S3 server in {time.perf_counter() - t0:.1f} s", flush=True)
    return server, env


if __name__ == "__main__":
    sys.exit(main())
