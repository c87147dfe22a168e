"""Bootstrap weights keyed by a row's position in the input as read (issue 14): with
``--nan skip`` a kept row keeps the weights of its place in the input, whether or not rows
before it were skipped, so the interval does not depend on the chunking and a Dask unit can
draw its rows' weights from the rows it reads (see test_dask.py for the engines compared)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from losscli import engine
from losscli.catalogue import lookup
from losscli.engine.intervals import IntervalRequest
from tests.test_intervals import _weighted_fsum, reference_counts


@pytest.fixture(scope="module")
def gappy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray | str]:
    """3,000 rows with missing predictions (8%) and targets (4%), a few in long runs (a
    whole 64-row chunk skipped), three groups and a one-row group, weights."""
    rng = np.random.default_rng(31)
    n = 3000
    y = rng.normal(size=n)
    p = y + rng.normal(size=n)
    p[rng.random(n) < 0.08] = np.nan
    y[rng.random(n) < 0.04] = np.nan
    p[640:704] = np.nan  # chunk 10 of 64 rows: skipped whole
    y[0] = np.nan  # the input's first row is skipped too
    g = rng.integers(0, 3, size=n)
    # a one-row group heading a 64-row chunk whose next rows are skipped: a skipped row adds
    # nothing to the group of the chunk's first kept row (no error of 0 in its maxima)
    g[704], p[705:711] = 9, np.nan
    table = {"pred": p, "target": y, "g": g, "w": rng.uniform(0.5, 2, n)}
    path = tmp_path_factory.mktemp("gappy") / "gappy.parquet"
    pq.write_table(pa.table(table), path)
    return {**table, "path": str(path)}


def _run(data: dict, loss: str, chunk: int, **kw: object) -> engine.LossResult:
    request = engine.LossRequest(lookup(loss), {}, {}, IntervalRequest(48, 17))
    options = engine.RunOptions([str(data["path"])], chunk_size=chunk, nan="skip", **kw)  # type: ignore[arg-type]
    return engine.run([request], options)[0]


def _fsum_ratio(num: np.ndarray, den: np.ndarray, k: np.ndarray) -> list[float]:
    """Per replicate ``Σk·num / Σk·den``, each sum rounded once (math.fsum of the repeats)."""
    out = []
    for j in range(k.shape[1]):
        top = _weighted_fsum(num, k[:, j])
        bottom = _weighted_fsum(den, k[:, j])
        out.append(top / bottom if bottom else math.nan)
    return out


def test_skipped_rows_keep_the_input_positions_of_the_rows_after_them(gappy: dict) -> None:
    """Weighted mse, total and per group: each replicate equals the fsum reference whose
    weights are those of the kept rows' positions in the input (not their rank among kept
    rows), for every chunk size."""
    p, y, g, w = gappy["pred"], gappy["target"], gappy["g"], gappy["w"]
    kept = ~(np.isnan(p) | np.isnan(y))
    k = reference_counts(17, 48, y.size)[kept]  # positions as read, then the kept rows
    sq, ww, gk = w[kept] * (p[kept] - y[kept]) ** 2, w[kept], g[kept]
    results = [_run(gappy, "mse", chunk, group_by="g", weight="w") for chunk in (3000, 64, 777)]
    first = results[0]
    assert first.skipped_rows == int((~kept).sum())
    np.testing.assert_array_equal(first.intervals.value[0].replicates, _fsum_ratio(sq, ww, k))
    for group in first.groups:
        rows = gk == group.key[0]
        expected = _fsum_ratio(sq[rows], ww[rows], k[rows])
        np.testing.assert_array_equal(group.intervals.value[0].replicates, expected)
    # rank among kept rows (the weights a pass that forgot the skipped rows would draw) differs
    ranked = reference_counts(17, 48, int(kept.sum()))
    assert not np.array_equal(_fsum_ratio(sq, ww, ranked), _fsum_ratio(sq, ww, k))
    for other in results[1:]:  # chunk-size invariance, to the last digit
        assert other.intervals.value[0].interval(0.9) == first.intervals.value[0].interval(0.9)
        for a, b in zip(first.groups, other.groups, strict=True):
            np.testing.assert_array_equal(
                a.intervals.value[0].replicates, b.intervals.value[0].replicates
            )


def test_skipped_rows_never_count_in_a_bootstrap_maximum(gappy: dict) -> None:
    """max_error: the replicate maxima over the drawn kept rows only (a skipped row is no
    error of 0), per group too, for every chunk size."""
    p, y, g = gappy["pred"], gappy["target"], gappy["g"]
    kept = ~(np.isnan(p) | np.isnan(y))
    drawn = reference_counts(17, 48, y.size)[kept] > 0
    err, gk = np.abs(p - y)[kept], g[kept]
    for chunk in (3000, 64, 500):
        result = _run(gappy, "max_error", chunk, group_by="g")
        expected = np.where(drawn, err[:, None], -np.inf).max(axis=0)
        np.testing.assert_array_equal(result.intervals.value[0].replicates, expected)
        for group in result.groups:
            rows = gk == group.key[0]
            expected = np.where(drawn[rows], err[rows, None], -np.inf).max(axis=0)
            np.testing.assert_array_equal(group.intervals.value[0].replicates, expected)
