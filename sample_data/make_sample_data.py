"""Make the sample files: a regression model's predictions vs targets (1,000 rows).

Deterministic (seeded): re-running rewrites identical files. Columns: ``id``, ``segment``
(one of four customer segments), ``target`` (a delivery time in minutes), ``pred`` (the
model's prediction, a little worse on the ``rural`` segment), ``weight`` (order value).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROWS = 1_000


def make_table(rows: int = ROWS, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    segments = np.array(["city", "suburb", "rural", "express"])
    segment = segments[rng.choice(4, size=rows, p=[0.4, 0.3, 0.2, 0.1])]
    base = {"city": 28.0, "suburb": 35.0, "rural": 52.0, "express": 18.0}
    target = np.array([base[s] for s in segment]) + rng.gamma(2.0, 4.0, size=rows)
    noise_scale = np.where(segment == "rural", 9.0, 4.0)
    pred = target + rng.normal(0.5, noise_scale)
    weight = np.round(rng.lognormal(3.0, 0.6, size=rows), 2)
    return pa.table(
        {
            "id": pa.array(np.arange(1, rows + 1)),
            "segment": pa.array(segment.tolist()),
            "target": pa.array(np.round(target, 3)),
            "pred": pa.array(np.round(pred, 3)),
            "weight": pa.array(weight),
        }
    )


def main() -> None:
    table = make_table()
    pq.write_table(table, HERE / "predictions.parquet", row_group_size=250)
    pacsv.write_csv(table, HERE / "predictions.csv")
    print(f"wrote {table.num_rows} rows to {HERE}/predictions.{{csv,parquet}}")


if __name__ == "__main__":
    main()
