"""Bootstrap intervals of the quantile metrics (median/quantile_absolute_error, d2_absolute_error,
d2_pinball) and of ece (issue 14): every replicate against a brute-force NumPy/scikit-learn
reference on the resample written out row by row with the same counter-based weights; chunk and
group invariance to the last digit; coverage of the median's interval by simulation; the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sklearn.metrics as skm
from sklearn.utils.stats import _weighted_percentile

from losscli import engine
from losscli.catalogue import lookup
from losscli.engine.intervals import IntervalRequest
from losscli.errors import UsageError
from losscli.stats import replicate_quantiles as rq
from losscli.stats.intervals import BootstrapEstimate, PoissonWeights
from losscli.stats.replicate_quantiles import (
    ReplicateQuantiles,
    RowPositions,
    Rule,
    View,
    counts_at,
)
from tests.conftest import invoke
from tests.test_intervals import reference_counts

SEED, B = 5, 48


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    rng = np.random.default_rng(23)
    n = 3000
    y = rng.normal(size=n)
    prob = rng.uniform(size=n)
    table = {
        "pred": y + rng.standard_t(3, size=n),
        "target": y,
        "base": y + 1.3 * rng.normal(size=n),
        "g": rng.integers(0, 3, size=n),
        "w": rng.uniform(0.5, 2.0, size=n),
        "prob": prob,
        "base_prob": np.clip(prob + rng.normal(0, 0.1, size=n), 0, 1),
        "label": (rng.uniform(size=n) < prob**1.3).astype(np.float64),
    }
    table["pred"][::7] = table["target"][::7] + 0.5  # ties among the absolute errors
    root = tmp_path_factory.mktemp("rq")
    path = root / "preds.parquet"
    pq.write_table(pa.table(table), path)
    pq.write_table(pa.table(table), root / "groups.parquet", row_group_size=500)  # Dask units
    counts = reference_counts(SEED, B, n).astype(np.int64)
    return {**table, "path": str(path), "units": str(root / "groups.parquet"), "counts": counts}


def _run(
    data: dict, loss: str, params: dict, *, chunk: int, base: str = "base", **kw: object
) -> engine.LossResult:
    spec = lookup(loss)
    params = {**spec.defaults(), **params}
    pred = "prob" if loss == "ece" else "pred"
    target = "label" if loss == "ece" else "target"
    requests = [
        engine.LossRequest(
            spec, params, {"pred": pred, "target": target}, IntervalRequest(B, SEED, paired=1)
        ),
        engine.LossRequest(spec, params, {"pred": base, "target": target}),
    ]
    options = engine.RunOptions([data["path"]], chunk_size=chunk, **kw)  # type: ignore[arg-type]
    return engine.run(requests, options)[0]


# -- the references (a replicate is the resample: row i repeated counts[i, b] times) ------------
def _quantile_reference(
    a: np.ndarray, counts: np.ndarray, w: np.ndarray | None, q: float, method: str
) -> np.ndarray:
    out = []
    for b in range(counts.shape[1]):
        c = counts[:, b]
        if w is None and method == "median":
            out.append(np.median(np.repeat(a, c)))
        elif w is None:
            out.append(np.quantile(np.repeat(a, c), q, method=method))
        elif method == "inverted_cdf":
            out.append(np.quantile(a, q, weights=w * c, method="inverted_cdf"))
        else:
            out.append(_weighted_percentile(a, w * c, 100 * q, average=True))
    return np.array(out, dtype=np.float64)


def _d2_reference(y, p, counts, w, alpha) -> np.ndarray:
    """1 − D² per replicate: Σ repeated losses / Σ repeated null losses, each summed once
    (math.fsum), the null model scikit-learn's weighted percentile with weights w·c."""
    ww = np.ones(y.size) if w is None else w
    out = []
    for b in range(counts.shape[1]):
        c = counts[:, b]
        q = _weighted_percentile(y, ww * c, 100 * alpha, average=True)
        u, v = y - p, y - q
        num = math.fsum(np.repeat(ww * np.maximum(alpha * u, (alpha - 1) * u), c).tolist())
        den = math.fsum(np.repeat(ww * np.maximum(alpha * v, (alpha - 1) * v), c).tolist())
        out.append(num / den)
    return np.array(out)


def _ece_reference(prob, label, counts, w) -> np.ndarray:
    edges = np.linspace(0.0, 1.0, 11)
    bins = np.searchsorted(edges[1:-1], prob)  # scikit-learn's calibration_curve binning
    ww = np.ones(prob.size) if w is None else w
    out = []
    for b in range(counts.shape[1]):
        c = counts[:, b]
        gaps = []
        for i in range(10):
            rows = bins == i
            sy = math.fsum(np.repeat((ww * label)[rows], c[rows]).tolist())
            sp = math.fsum(np.repeat((ww * prob)[rows], c[rows]).tolist())
            gaps.append(abs(sy - sp))
        out.append(math.fsum(gaps) / math.fsum(np.repeat(ww, c).tolist()))
    return np.array(out)


@pytest.mark.parametrize(
    ("loss", "params", "weighted"),
    [
        ("median_absolute_error", {}, False),
        ("median_absolute_error", {}, True),
        ("quantile_absolute_error", {"q": 0.9}, False),
        ("quantile_absolute_error", {"q": 0.95, "method": "hazen"}, False),
        ("quantile_absolute_error", {"q": 0.75, "method": "inverted_cdf"}, True),
    ],
)
def test_quantile_replicates_equal_the_resample_quantiles(data, loss, params, weighted) -> None:
    kw = {"weight": "w"} if weighted else {}
    result = _run(data, loss, params, chunk=700, group_by="g", **kw)
    w = data["w"] if weighted else None
    q = float(params.get("q", 0.5))
    method = params.get("method", "median" if loss.startswith("median") else "linear")
    if weighted and method != "inverted_cdf":
        method = "averaged_inverted_cdf"
    counts = data["counts"]
    own = np.abs(data["pred"] - data["target"])
    base = np.abs(data["base"] - data["target"])
    ref_own = _quantile_reference(own, counts, w, q, method)
    ref_base = _quantile_reference(base, counts, w, q, method)
    np.testing.assert_array_equal(result.intervals.value[0].replicates, ref_own)
    np.testing.assert_array_equal(result.intervals.difference[0].replicates, ref_own - ref_base)
    for group in result.groups:
        rows = data["g"] == group.key[0]
        expected = _quantile_reference(
            own[rows], counts[rows], None if w is None else w[rows], q, method
        )
        np.testing.assert_array_equal(group.intervals.value[0].replicates, expected)


@pytest.mark.parametrize(
    ("loss", "alpha", "weighted"), [("d2_absolute_error", 0.5, False), ("d2_pinball", 0.8, True)]
)
def test_d2_replicates_match_the_resample_scores(data, loss, alpha, weighted) -> None:
    params = {"alpha": alpha} if loss == "d2_pinball" else {}
    kw = {"weight": "w"} if weighted else {}
    result = _run(data, loss, params, chunk=1111, **kw)
    w = data["w"] if weighted else None
    y, counts = data["target"], data["counts"]
    ref = _d2_reference(y, data["pred"], counts, w, alpha)
    got = 1.0 - result.intervals.value[0].replicates
    np.testing.assert_allclose(got, ref, rtol=1e-15, atol=0)
    ref_base = _d2_reference(y, data["base"], counts, w, alpha)
    np.testing.assert_allclose(
        result.intervals.difference[0].replicates, ref_base - ref, rtol=0, atol=2e-15
    )  # a difference of two values near 1, each within 1e-15 of its reference
    # scikit-learn's own score of a replicate (its sums are rounded, ~1e-16 each)
    sk = skm.d2_pinball_score(
        y, data["pred"], sample_weight=(1 if w is None else w) * counts[:, 0], alpha=alpha
    )
    assert result.intervals.value[0].replicates[0] == pytest.approx(sk, rel=1e-13)


def test_ece_replicates_match_the_binned_resample(data) -> None:
    result = _run(data, "ece", {}, chunk=999, base="base_prob", weight="w", group_by="g")
    counts, w = data["counts"], data["w"]
    ref = _ece_reference(data["prob"], data["label"], counts, w)
    np.testing.assert_allclose(result.intervals.value[0].replicates, ref, rtol=1e-15, atol=0)
    ref_base = _ece_reference(data["base_prob"], data["label"], counts, w)
    np.testing.assert_allclose(
        result.intervals.difference[0].replicates, ref - ref_base, rtol=0, atol=2e-16
    )  # a difference of two ECEs < 0.1, each within 1e-15 of its reference
    group = result.groups[1]
    rows = data["g"] == group.key[0]
    expected = _ece_reference(data["prob"][rows], data["label"][rows], counts[rows], w[rows])
    np.testing.assert_allclose(group.intervals.value[0].replicates, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize(
    ("loss", "params"),
    [
        ("median_absolute_error", {}),
        ("quantile_absolute_error", {"q": 0.99}),
        ("d2_pinball", {"alpha": 0.3}),
        ("ece", {}),
    ],
)
def test_replicates_are_chunk_and_group_invariant(data, loss, params, monkeypatch) -> None:
    base = "base_prob" if loss == "ece" else "base"

    def replicates(chunk: int, **kw: object) -> list[np.ndarray]:
        r = _run(data, loss, params, chunk=chunk, base=base, weight="w", **kw)
        out = [r.intervals.value[0].replicates, r.intervals.difference[0].replicates]
        return out + [g.intervals.difference[0].replicates for g in r.groups or []]

    first = replicates(3000, group_by="g")
    for chunk in (997, 64):
        for one, two in zip(first, replicates(chunk, group_by="g"), strict=True):
            np.testing.assert_array_equal(one, two)
    import losscli.engine.intervals as engine_intervals

    for workers in (1, 2):  # batches of 500 kept rows drawn 37 at a time, one thread or two
        monkeypatch.setattr(rq, "BATCH_ROWS", 500)
        monkeypatch.setattr(rq, "DRAWN_COUNTS", 37 * B)
        monkeypatch.setattr(engine_intervals, "BOOTSTRAP_WORKERS", workers)
        for one, two in zip(first, replicates(1000, group_by="g"), strict=True):
            np.testing.assert_array_equal(one, two)
        monkeypatch.undo()
    ungrouped = replicates(333)
    np.testing.assert_array_equal(ungrouped[0], first[0])
    np.testing.assert_array_equal(ungrouped[1], first[1])


@pytest.mark.parametrize(
    "rule", [Rule("median", 0.5), Rule("avg_cdf", 0.5), Rule("inverted_cdf", 0.9)]
)
def test_a_window_too_narrow_grows_until_every_replicate_is_inside(monkeypatch, rule) -> None:
    """A window of a single rank (then 4, 16, …) misses most replicates' quantiles: the sweep
    runs again with wider windows, and the answer is the reference's."""
    rng = np.random.default_rng(8)
    n = 2500
    a = np.round(rng.exponential(size=n), 2)  # many ties
    w = None if rule.kind == "median" else rng.uniform(0.1, 3.0, size=n)
    counts = reference_counts(4, 30, n).astype(np.int64)
    positions = RowPositions()
    positions.add(0, 1200)
    positions.add(1200, 1300)
    expected = _quantile_reference(
        a,
        counts,
        w,
        rule.q,
        "median" if w is None else rule.kind.replace("avg_cdf", "averaged_inverted_cdf"),
    )
    monkeypatch.setattr(rq, "window_half", lambda rows, factor: factor - 1)
    narrow = ReplicateQuantiles(a[None], None, w, positions, PoissonWeights(4, 30), rule)
    np.testing.assert_array_equal(narrow.replicates(View(None, 1))[0, 0], expected)
    assert narrow.sweeps > 2


# -- coverage by simulation -------------------------------------------------------------------
#: Repetitions, rows and replicates of the median's coverage test. Measured with 2,000
#: repetitions of this set-up: 95.1% (exponential), 95.2% (normal); the first 400 asserted here
#: give 96.0%. At 151 rows the percentile interval of a median is a little narrow (94.0% over
#: 2,000): its replicates take few distinct values near the middle.
REPS, ROWS, REPLICATES = 400, 400, 200


def _positions(rows: int) -> RowPositions:
    out = RowPositions()
    out.add(0, rows)
    return out


def test_median_bootstrap_interval_coverage() -> None:
    """Exponential errors (true median log 2), 400 seeded samples of 400 rows, B = 200: the 95%
    percentile interval of the replicate medians covers log 2 in 93–97% of them."""
    truth = math.log(2.0)
    covered = 0
    for rep in range(REPS):
        a = np.random.default_rng(5000 + rep).exponential(size=ROWS)
        bootstrap = ReplicateQuantiles(
            a[None],
            None,
            None,
            _positions(ROWS),
            PoissonWeights(rep, REPLICATES),
            Rule("median", 0.5),
        )
        reps = bootstrap.replicates(View(None, 1))[0, 0]
        lo, hi = BootstrapEstimate(float(np.median(a)), reps).interval(0.95)
        covered += lo <= truth <= hi
    assert 0.93 <= covered / REPS <= 0.97


# -- the command line -------------------------------------------------------------------------
def _cli(*args: str) -> tuple[int, str, str]:
    r = invoke(list(args))
    return r.code, r.out, r.err


def test_cli_verdicts_table_and_json(data) -> None:
    path = data["path"]
    cols = ["-p", "pred", "-t", "target"]
    errors = np.abs(data["pred"] - data["target"])
    point = float(np.median(errors))
    common = ["median_absolute_error", path, *cols, "--confidence", "0.95", "--bootstrap", "100"]
    code, out, _ = _cli(*common, "-f", "json", "--max", repr(point))
    doc = json.loads(out)
    (gate,) = doc["gates"]
    assert code == 0 and gate["verdict"] == "inconclusive"
    assert gate["method"] == "bootstrap-percentile" and doc["method"] == "bootstrap-percentile"
    counts = reference_counts(0, 100, errors.size).astype(np.int64)
    reps = _quantile_reference(errors, counts, None, 0.5, "median")
    alpha = 1 - 0.95  # 0.050000000000000044, as the interval computes it
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2], method="median_unbiased")
    assert doc["interval"] == [lo, hi] and lo < point < hi
    code, out, err = _cli(*common, "--max", repr(float(lo) * 0.9))
    assert code == 1 and "fail" in out and "0.95 interval" in err
    code, out, _ = _cli(*common, "--max", repr(float(hi) * 1.1), "-f", "table", "-g", "g")
    assert code == 0 and out.count("pass") == 4 and "interval" in out


def test_kept_values_beyond_the_budget_are_a_usage_error(data, monkeypatch) -> None:
    import losscli.engine.intervals as engine_intervals

    monkeypatch.setattr(engine_intervals, "MAX_KEPT_VALUES", 1000)
    with pytest.raises(UsageError, match="keeps its values in memory, at most 1,000"):
        _run(data, "median_absolute_error", {}, chunk=400)


def test_counts_at_gapped_positions_are_the_rows_own() -> None:
    poisson = PoissonWeights(2, 20)
    positions = np.array([3, 4, 5, 9, 40, 41, 200, 1000, 1001, 1002], dtype=np.int64)
    dense = reference_counts(2, 20, 1003)
    np.testing.assert_array_equal(counts_at(poisson, positions), dense[positions])
    rows = RowPositions()  # chunks read whole, with gaps, and whole again
    rows.add(0, 3)
    rows.add(3, 2)
    rows.add(10, 4, np.array([0, 1, 5, 9]))
    rows.add(20, 2, np.array([0, 1]))  # nothing skipped: a plain run again
    rows.add(22, 3)
    expected = [0, 1, 2, 3, 4, 10, 11, 15, 19, 20, 21, 22, 23, 24]
    assert rows.take(0, 14).tolist() == expected
    assert rows.take(4, 9).tolist() == expected[4:9]
    assert rows.take(13, 14).tolist() == [24]


@pytest.mark.parametrize("loss", ["median_absolute_error", "d2_absolute_error", "ece"])
def test_nan_skip_keeps_each_row_its_input_position(tmp_path, loss) -> None:
    """Rows skipped for a missing value take their counts with them: a kept row's weights are
    those of its position in the input as read, in any chunking."""
    rng = np.random.default_rng(31)
    n = 1500
    y = rng.uniform(size=n).round(0)
    p = np.clip(y * 0.6 + rng.uniform(size=n) * 0.4, 0, 1)
    p[::9] = np.nan
    p[300:340] = np.nan
    path = tmp_path / "gaps.parquet"
    pq.write_table(pa.table({"pred": p, "target": y}), path)
    spec = lookup(loss)
    request = engine.LossRequest(spec, spec.defaults(), {}, IntervalRequest(B, SEED))
    kept = ~np.isnan(p)
    counts = reference_counts(SEED, B, n).astype(np.int64)[kept]
    if loss == "median_absolute_error":
        expected = _quantile_reference(np.abs(p - y)[kept], counts, None, 0.5, "median")
    elif loss == "d2_absolute_error":
        expected = 1 - _d2_reference(y[kept], p[kept], counts, None, 0.5)
    else:
        expected = _ece_reference(p[kept], y[kept], counts, None)
    for chunk in (1500, 77):
        options = engine.RunOptions([str(path)], chunk_size=chunk, nan="skip")
        got = engine.run([request], options)[0].intervals.value[0].replicates
        np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


@pytest.fixture(scope="module")
def cluster():
    import distributed

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as local:
        yield local.scheduler_address


@pytest.mark.parametrize(
    "args",
    [
        ["median_absolute_error", "-p", "pred", "--baseline-pred", "base", "--max-increase", "0"],
        ["quantile_absolute_error", "-p", "pred", "--q", "0.9", "-w", "w", "--max", "3"],
        ["d2_pinball", "-p", "pred", "--alpha", "0.7", "--min", "0"],
        ["ece", "-p", "prob", "-t", "label", "--baseline-pred", "base_prob", "--max-increase", "0"],
    ],
)
def test_dask_units_merge_to_the_local_digits(data, cluster, monkeypatch, args) -> None:
    """Units of 1,000 rows (row groups of 500) each send their kept rows (or per-bin sums) back; merged in input order
    with their positions and group codes, they give the local run's intervals."""
    import losscli.engine.dask as dask_engine
    from losscli.io import parquet

    monkeypatch.setattr(parquet, "PARQUET_JOB_ROWS", 500)
    planned: list[int] = []
    plan = dask_engine.plan_units

    def counted(*a: object, **kw: object) -> list:
        units = plan(*a, **kw)  # type: ignore[arg-type]
        planned.append(len(units))
        return units

    monkeypatch.setattr(dask_engine, "plan_units", counted)
    loss, *rest = args
    target = [] if "-t" in rest else ["-t", "target"]
    common = [loss, data["units"], *target, *rest, "-g", "g", "-f", "json", "--confidence", "0.9"]
    local = invoke(common)
    on_dask = invoke([*common, "--engine", "dask", "--scheduler", cluster, "--unit-rows", "1000"])
    assert local.code in (0, 1) and on_dask.code == local.code, on_dask.err
    assert on_dask.json["interval"] == local.json["interval"]
    assert on_dask.json["gates"] == local.json["gates"]
    assert all(g["interval"][0] is not None for g in local.json["gates"])
    assert planned == [3]  # 3,000 rows: three units


def test_several_outputs_per_output_and_their_mean(tmp_path) -> None:
    """Two outputs: each output's replicate medians (weighted), and with --per all the mean of
    the two per replicate, as the metric averages its outputs."""
    rng = np.random.default_rng(12)
    n = 1200
    y = rng.normal(size=(2, n))
    p = y + rng.normal(size=(2, n)) * np.array([[1.0], [2.0]])
    w = rng.uniform(0.2, 2.0, size=n)
    path = tmp_path / "two.parquet"
    pq.write_table(pa.table({"p0": p[0], "p1": p[1], "t0": y[0], "t1": y[1], "w": w}), path)
    spec = lookup("median_absolute_error")
    request = engine.LossRequest(
        spec, {}, {"pred": "p0,p1", "target": "t0,t1"}, IntervalRequest(B, SEED)
    )
    counts = reference_counts(SEED, B, n).astype(np.int64)
    refs = [
        _quantile_reference(np.abs(p[j] - y[j]), counts, w, 0.5, "averaged_inverted_cdf")
        for j in range(2)
    ]
    options = engine.RunOptions([str(path)], chunk_size=500, weight="w", per="output")
    result = engine.run([request], options)[0]
    for j in range(2):
        np.testing.assert_array_equal(result.intervals.value[j].replicates, refs[j])
    options = engine.RunOptions([str(path)], chunk_size=500, weight="w")
    result = engine.run([request], options)[0]
    np.testing.assert_array_equal(result.intervals.value[0].replicates, np.stack(refs).mean(axis=0))
