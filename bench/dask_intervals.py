"""``--confidence`` on ``--engine dask``: what counting CSV rows first costs, and a paired
``--baseline`` Parquet file read by every unit for its own rows.

A bootstrap keys each row's weights by its position in the input, so a Dask unit must know the
rows before it; CSV files carry no row count, so the workers count them first (one more read
of every file but the last, one column). This script writes ``--files`` CSV files of
``--rows`` rows in total and times, as whole processes against an already running 2-process
LocalCluster (medians of ``--repeat``): the plain gate and the bootstrap gate (rmse, B=200)
with the local engine and on Dask, and the counting phase alone (``count_rows`` mapped over
the files on the same cluster). Then the same rows as Parquet files with a Parquet baseline
of predictions (paired rmse bootstrap): local, and on Dask with each unit reading its rows of
the baseline. Every Dask interval is checked against the local one.

Usage: ``python bench/dask_intervals.py [--rows 4000000] [--files 4] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engines import losscli, start_cluster, stop, timed

GENERATE = """
import os, sys, numpy as np, pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq
root, rows, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(2026)
per = rows // files
os.makedirs(f"{root}/base")
for i in range(files):
    pred = rng.normal(size=per) * 3
    t = pa.table({"pred": pred, "target": pred + rng.normal(size=per)})
    pacsv.write_csv(t, f"{root}/part-{i:03d}.csv")
    pq.write_table(t, f"{root}/part-{i:03d}.parquet", row_group_size=250_000)
    base = pa.table({"pred": pred + 1.1 * rng.normal(size=per), "target": t["target"]})
    pq.write_table(base, f"{root}/base/part-{i:03d}.parquet", row_group_size=300_000)
"""


def measure(name: str, cmd: list[str], repeat: int) -> dict:
    """Median seconds of ``repeat`` runs and the first gate's interval (the same in every run)."""
    times, intervals = [], set()
    for _ in range(repeat):
        seconds, out = timed(cmd)
        times.append(seconds)
        gates = json.loads(out)["gates"]
        intervals.add(json.dumps(gates[0].get("interval")))  # paired: the difference's
    row = {"case": name, "median_s": statistics.median(times), "times": times}
    row["interval"] = intervals.pop() if len(intervals) == 1 else f"VARIES: {sorted(intervals)}"
    print(f"{name:<48} {row['median_s']:7.2f} s   {row['interval']}", flush=True)
    return row


def count_phase(files: list[str], address: str, repeat: int) -> float:
    """Seconds (median) for the workers to count every file but the last, as a run does."""
    from distributed import Client

    from losscli.engine.dask import SourceSpec, count_rows
    from losscli.io.sources import open_sources

    specs = [SourceSpec.of(s) for s in open_sources(files[:-1])]
    times = []
    with Client(address) as client:
        for _ in range(repeat):
            start = time.perf_counter()
            futures = client.map(
                count_rows,
                specs,
                ["pred"] * len(specs),
                [True] * len(specs),
                [1 << 20] * len(specs),
                pure=False,
            )
            counts = client.gather(futures)
            times.append(time.perf_counter() - start)
    print(f"{'count phase alone (workers)':<48} {statistics.median(times):7.2f} s   {counts}")
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import subprocess

    with tempfile.TemporaryDirectory(prefix="losscli-dask-ci-") as tmp:
        root = Path(tmp)
        subprocess.run(
            [sys.executable, "-c", GENERATE, tmp, str(args.rows), str(args.files)], check=True
        )
        files = sorted(str(p) for p in root.glob("*.csv"))
        gate = ["rmse", *files, "--max", "9", "-f", "json"]
        boot = [*gate, "--confidence", "0.95", "--bootstrap", "200"]
        proc, address = start_cluster({})
        try:
            dask = ["--engine", "dask", "--scheduler", address]
            rows = [
                measure("local, plain gate", losscli(*gate), args.repeat),
                measure("dask, plain gate", losscli(*gate, *dask), args.repeat),
                measure("local, bootstrap B=200", losscli(*boot), args.repeat),
                measure("dask, bootstrap B=200 (count + run)", losscli(*boot, *dask), args.repeat),
            ]
            local, on_dask = (r["interval"] for r in rows[2:])
            assert local == on_dask, (local, on_dask)
            counting = count_phase(files, address, args.repeat)
            parquet = sorted(str(p) for p in root.glob("*.parquet"))
            paired = ["rmse", *parquet, "--baseline", f"{tmp}/base/", "--max-increase", "0"]
            paired += ["-f", "json", "--confidence", "0.95", "--bootstrap", "200"]
            pairs = [
                measure("local, paired baseline file, B=200", losscli(*paired), args.repeat),
                measure(
                    "dask, paired baseline file (units' own rows)",
                    losscli(*paired, *dask, "--unit-rows", str(args.rows // args.files // 2)),
                    args.repeat,
                ),
            ]
            assert pairs[0]["interval"] == pairs[1]["interval"]
        finally:
            stop(proc)
    share = counting / rows[3]["median_s"]
    print(f"counting: {share:.0%} of the Dask bootstrap run; intervals equal: {local}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
