"""Deterministic benchmark data for losscli, cached outside the repository.

Every set is a prefix of one seeded stream of rows (``id`` int64, ``pred`` and ``target``
float64), so the Parquet, CSV and CSV.gz files of equal length hold identical values. Rows are
produced and written in chunks of ``CHUNK_ROWS`` (= pyarrow's default row-group size), so memory
stays bounded whatever the row count. A ``manifest.json`` records what was written plus exact
reference values for MSE and Huber(δ=1); files whose manifest entry still matches are reused.

Usage: ``python bench/generate.py [--sets NAME ...] [--force] [--json]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

GENERATOR_VERSION = 1
SEED = 20240611
CHUNK_ROWS = 1 << 20  # pyarrow's default (maximum) row-group size
GZIP_LEVEL = 6  # gzip(1)'s default
HUBER_DELTA = 1.0
SCHEMA = pa.schema({"id": pa.int64(), "pred": pa.float64(), "target": pa.float64()})


@dataclass(frozen=True)
class DataSet:
    """One benchmark input file."""

    name: str
    fmt: str  # "parquet" | "csv" | "csv.gz"
    rows: int

    @property
    def filename(self) -> str:
        """File name inside the cache folder."""
        return f"{self.name}.{self.fmt}"


DATASETS: dict[str, DataSet] = {
    d.name: d
    for d in (
        DataSet("pq50m", "parquet", 50_000_000),
        DataSet("pq10m", "parquet", 10_000_000),
        DataSet("csv10m", "csv", 10_000_000),
        DataSet("csvgz10m", "csv.gz", 10_000_000),
        DataSet("tiny", "csv", 100),
    )
}


def cache_dir() -> Path:
    """Cache folder: ``$LOSSCLI_BENCH_CACHE`` or ``~/.cache/losscli-bench``."""
    env = os.environ.get("LOSSCLI_BENCH_CACHE")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "losscli-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def iter_chunks(rows: int, seed: int = SEED) -> Iterator[pa.Table]:
    """Yield the first ``rows`` rows of the seeded stream as tables of ≤ ``CHUNK_ROWS`` rows."""
    rng = np.random.default_rng(seed)
    start = 0
    while start < rows:
        # Always draw full chunks so any prefix of the stream is identical across sets.
        target = rng.standard_normal(CHUNK_ROWS) * 3.0
        pred = target + rng.standard_normal(CHUNK_ROWS)
        n = min(CHUNK_ROWS, rows - start)
        columns = [np.arange(start, start + n, dtype=np.int64), pred[:n], target[:n]]
        yield pa.Table.from_arrays([pa.array(c) for c in columns], schema=SCHEMA)
        start += n


class _Reference:
    """Accurate streaming MSE / Huber sums (pairwise per chunk, ``math.fsum`` across chunks)."""

    def __init__(self) -> None:
        self.sq: list[float] = []
        self.hub: list[float] = []
        self.n = 0

    def update(self, table: pa.Table) -> None:
        d = table["pred"].to_numpy() - table["target"].to_numpy()
        a = np.abs(d)
        m = np.minimum(a, HUBER_DELTA)
        self.sq.append(float(np.sum(d * d)))
        self.hub.append(float(np.sum(m * (a - 0.5 * m))))
        self.n += len(d)

    def result(self) -> dict[str, float]:
        return {"mse": math.fsum(self.sq) / self.n, "huber": math.fsum(self.hub) / self.n}


def _write(ds: DataSet, path: Path) -> dict[str, float]:
    """Write ``ds`` to ``path`` chunk by chunk; return the reference loss values."""
    ref = _Reference()
    if ds.fmt == "parquet":
        with pq.ParquetWriter(path, SCHEMA, compression="snappy") as writer:
            for table in iter_chunks(ds.rows):
                ref.update(table)
                writer.write_table(table)  # one row group per chunk
        return ref.result()
    with open(path, "wb") as raw:
        # Python's gzip at gzip(1)'s default level; mtime=0 keeps the bytes reproducible.
        sink = (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
            if ds.fmt == "csv.gz"
            else raw
        )
        with sink, pacsv.CSVWriter(sink, SCHEMA) as writer:
            for table in iter_chunks(ds.rows):
                ref.update(table)
                writer.write_table(table)
    return ref.result()


def _manifest_path(root: Path) -> Path:
    return root / "manifest.json"


def load_manifest(root: Path | None = None) -> dict[str, dict]:
    """Return the manifest (file name → entry), empty if missing or unreadable."""
    path = _manifest_path(root or cache_dir())
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _save_manifest(root: Path, manifest: dict[str, dict]) -> None:
    tmp = _manifest_path(root).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tmp.replace(_manifest_path(root))


def _is_current(entry: dict | None, ds: DataSet, path: Path) -> bool:
    if not entry or not path.exists():
        return False
    wanted = {"rows": ds.rows, "seed": SEED, "version": GENERATOR_VERSION, "fmt": ds.fmt}
    return (
        all(entry.get(k) == v for k, v in wanted.items())
        and entry.get("bytes") == path.stat().st_size
    )


def ensure(names: list[str] | None = None, *, force: bool = False, verbose: bool = True) -> dict:
    """Create missing/stale sets (all by default); return their manifest entries by set name."""
    root = cache_dir()
    manifest = load_manifest(root)
    out: dict[str, dict] = {}
    for name in names or list(DATASETS):
        ds = DATASETS[name]
        path = root / ds.filename
        entry = manifest.get(ds.filename)
        if force or not _is_current(entry, ds, path):
            if verbose:
                print(f"generating {path} ({ds.rows:,} rows) ...", file=sys.stderr, flush=True)
            tmp = path.with_name(path.name + ".tmp")
            t0 = time.perf_counter()
            reference = _write(ds, tmp)
            seconds = time.perf_counter() - t0
            tmp.replace(path)
            entry = {
                **asdict(ds),
                "seed": SEED,
                "version": GENERATOR_VERSION,
                "bytes": path.stat().st_size,
                "reference": reference,
                "generate_seconds": round(seconds, 2),
            }
            manifest[ds.filename] = entry
            _save_manifest(root, manifest)
            if verbose:
                size = entry["bytes"] / 2**20
                print(f"  {size:,.1f} MiB in {seconds:.1f} s", file=sys.stderr, flush=True)
        assert entry is not None
        out[name] = {**entry, "path": str(path)}
    return out


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=list(DATASETS), help="default: all")
    parser.add_argument("--force", action="store_true", help="regenerate even if cached")
    parser.add_argument("--json", action="store_true", help="print the entries as JSON")
    args = parser.parse_args()
    t0 = time.perf_counter()
    entries = ensure(args.sets, force=args.force)
    seconds = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"cache": str(cache_dir()), "seconds": seconds, "sets": entries}))
        return
    total = sum(e["bytes"] for e in entries.values())
    print(f"{len(entries)} sets, {total / 2**20:,.1f} MiB in {cache_dir()} ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
