"""Confidence intervals on gates (issue 14): interval states, their references, coverage by
simulation, chunk/group invariance, and the CLI contract of --confidence."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.stats as st

from losscli import engine
from losscli.catalogue import lookup
from losscli.engine.intervals import IntervalRequest
from losscli.stats.intervals import (
    PoissonWeights,
    ReplicateSums,
    WeightedMoments,
    exact_row_sums,
    t_quantile,
)
from tests.conftest import invoke


# -- the arithmetic -----------------------------------------------------------------------------
@pytest.mark.parametrize("df", [1, 2.5, 9, 30, 199.5, 5000, 10_000, 2e6])
@pytest.mark.parametrize("p", [0.75, 0.9, 0.975, 0.995, 0.9995])
def test_t_quantile_matches_scipy(df: float, p: float) -> None:
    assert t_quantile(p, df) == pytest.approx(st.t.ppf(p, df), rel=1e-12, abs=0)


def test_exact_row_sums_equal_fsum_over_wide_magnitudes() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 50_000)) * 10.0 ** rng.integers(-8, 8, size=(3, 50_000))
    parts = exact_row_sums(x)
    for j in range(3):
        assert math.fsum(float(p[j]) for p in parts) == math.fsum(x[j].tolist())


def test_moments_match_scipy_t_interval_and_are_chunk_invariant() -> None:
    rng = np.random.default_rng(4)
    d = rng.normal(1e3, 2.0, size=3001)  # a large mean: Σd² − (Σd)²/n would cancel
    whole = WeightedMoments(1)
    whole.add(d[None, :], None)
    ref = st.t.interval(0.95, d.size - 1, loc=np.mean(d), scale=st.sem(d))
    lo, hi = whole.estimate().interval(0.95)
    assert lo == pytest.approx(ref[0], rel=1e-12)
    assert hi == pytest.approx(ref[1], rel=1e-12)
    for pieces in (2, 7, 3001):
        parts = [WeightedMoments(1) for _ in range(pieces)]
        for state, piece in zip(parts, np.array_split(d, pieces), strict=True):
            state.add(piece[None, :], None)
        for state in parts[1:]:
            parts[0].merge(state)
        assert parts[0].estimate().interval(0.95) == (lo, hi)


def test_weighted_moments_use_kish_effective_size() -> None:
    rng = np.random.default_rng(5)
    d, w = rng.normal(size=500), rng.uniform(0.1, 3.0, size=500)
    state = WeightedMoments(1)
    state.add(d[None, :], w)
    est = state.estimate()
    mean = np.sum(w * d) / np.sum(w)
    n_eff = np.sum(w) ** 2 / np.sum(w * w)
    s2 = np.sum(w * (d - mean) ** 2) / np.sum(w) * n_eff / (n_eff - 1)
    se = math.sqrt(s2 / n_eff)
    q = st.t.ppf(0.975, n_eff - 1)
    assert est.n_eff == pytest.approx(n_eff, rel=1e-13)
    assert est.interval(0.95)[0] == pytest.approx(mean - q * se, rel=1e-12)
    assert est.interval(0.95)[1] == pytest.approx(mean + q * se, rel=1e-12)


def reference_counts(seed: int, replicates: int, rows: int) -> np.ndarray:
    """(rows, B) Poisson(1) weights written out from the issue's definition, independently of
    losscli: one Philox4x64-10 stream keyed by ``seed`` from counter 0, ⌈B/16⌉ 256-bit blocks
    per row in row order, 16-bit little-endian uniforms, inverse CDF from scipy's Poisson."""
    steps = -(-replicates // 16)
    raw = np.random.Philox(key=seed).random_raw(rows * steps * 4)
    u16 = np.frombuffer(raw.astype("<u8").tobytes(), dtype="<u2").reshape(rows, steps * 16)
    u = (u16[:, :replicates].astype(np.float64) + 0.5) / 65536
    cdf = st.poisson.cdf(np.arange(9), 1.0)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, u, side="right").astype(np.float64)


def test_poisson_weights_are_keyed_by_row_position() -> None:
    weights = PoissonWeights(seed=7, replicates=50)
    whole = weights.counts(0, 3000).astype(np.float64)
    assert np.array_equal(whole, reference_counts(7, 50, 3000))
    cuts = [0, 1, 17, 1024, 1025, 2999, 3000]
    again = np.concatenate([weights.counts(a, b - a) for a, b in itertools.pairwise(cuts)])
    assert np.array_equal(again, whole)
    assert not np.array_equal(PoissonWeights(8, 50).counts(0, 3000), whole)
    # Poisson(1): mean 1, variance 1, P(0) = e⁻¹
    assert whole.mean() == pytest.approx(1.0, abs=0.02)
    assert whole.var() == pytest.approx(1.0, abs=0.03)
    assert np.mean(whole == 0) == pytest.approx(math.exp(-1), abs=0.01)


def _weighted_fsum(x: np.ndarray, counts: np.ndarray) -> float:
    """``Σ count·x`` rounded once: each row repeated ``count`` times (a product would round)."""
    return math.fsum(np.repeat(x, counts.astype(np.int64)).tolist())


@pytest.mark.parametrize("piece_weights", [None, 240])
def test_replicate_sums_weight_every_row_on_large_inputs(monkeypatch, piece_weights) -> None:
    """Rows beyond 65,536 (where a block bootstrap once took over) keep their own weights:
    a sorted column, whose neighbours are alike, matches the per-row dense reference (also
    in pieces of 10 rows, as a large --bootstrap draws them)."""
    import losscli.stats.intervals as stats_intervals

    if piece_weights is not None:
        monkeypatch.setattr(stats_intervals, "_PIECE_WEIGHTS", piece_weights)
    n, b = 70_000, 24
    x = np.sort(np.random.default_rng(9).exponential(size=n))
    sums = ReplicateSums(2, b)
    for a in range(0, n, 9_999):  # chunks that cut pieces
        sums.add(
            np.stack([x[a : a + 9_999], np.ones(len(x[a : a + 9_999]))]), PoissonWeights(5, b), a
        )
    k = reference_counts(5, b, n)
    expected = np.array([[_weighted_fsum(x, k[:, j]) for j in range(b)], k.sum(axis=0)])
    assert np.array_equal(sums.sums, expected)


# -- coverage by simulation (seeded: deterministic, and a test that can fail) ---------------------
REPS, N, TRUE = 400, 150, 0.3


def _draws(rep: int, weighted: bool) -> tuple[np.ndarray, np.ndarray | None]:
    rng = np.random.default_rng(1000 + rep)
    d = TRUE + rng.standard_t(6, size=N)  # heavy-ish tails: not a normal-theory freebie
    w = rng.uniform(0.2, 2.0, size=N) if weighted else None
    return d, w


@pytest.mark.parametrize("weighted", [False, True])
def test_normal_interval_coverage(weighted: bool) -> None:
    covered = 0
    for rep in range(REPS):
        d, w = _draws(rep, weighted)
        state = WeightedMoments(1)
        state.add(d[None, :], w)
        lo, hi = state.estimate().interval(0.95)
        covered += lo <= TRUE <= hi
    assert 0.93 <= covered / REPS <= 0.97


@pytest.mark.parametrize("weighted", [False, True])
def test_bootstrap_interval_coverage(weighted: bool) -> None:
    from losscli.stats.intervals import BootstrapEstimate

    covered = 0
    for rep in range(REPS):
        d, w = _draws(rep, weighted)
        ww = np.ones(N) if w is None else w
        sums = ReplicateSums(2, 200)
        sums.add(np.stack([ww * d, ww]), PoissonWeights(rep, 200), 0)
        s = sums.sums
        point = float(np.sum(ww * d) / np.sum(ww))
        lo, hi = BootstrapEstimate(point, s[0] / s[1]).interval(0.95)
        covered += lo <= TRUE <= hi
    assert 0.93 <= covered / REPS <= 0.97


# -- through the engine ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray | str]:
    rng = np.random.default_rng(11)
    n = 4000
    y = rng.normal(size=n)
    table = {
        "pred": y + rng.normal(size=n),
        "target": y,
        "base": y + 1.3 * rng.normal(size=n),
        "g": rng.integers(0, 3, size=n),
        "w": rng.uniform(0.5, 2.0, size=n),
    }
    path = tmp_path_factory.mktemp("conf") / "preds.parquet"
    pq.write_table(pa.table(table), path)
    return {**table, "path": str(path)}


def _run(data: dict, loss: str, *, chunk: int, bootstrap: int | None = None, **kw: object) -> list:
    spec = lookup(loss)
    requests = [
        engine.LossRequest(spec, {}, {}, IntervalRequest(bootstrap, 3, paired=1)),
        engine.LossRequest(spec, {}, {"pred": "base"}),
    ]
    options = engine.RunOptions([str(data["path"])], chunk_size=chunk, **kw)  # type: ignore[arg-type]
    return engine.run(requests, options)


def test_paired_interval_matches_scipy_on_the_difference_column(data: dict) -> None:
    result = _run(data, "mse", chunk=1000)[0]
    p, b, y = data["pred"], data["base"], data["target"]
    d = (p - y) ** 2 - (b - y) ** 2
    ref = st.t.interval(0.95, d.size - 1, loc=np.mean(d), scale=st.sem(d))
    lo, hi = result.intervals.difference[0].interval(0.95)
    assert lo == pytest.approx(ref[0], rel=1e-12)
    assert hi == pytest.approx(ref[1], rel=1e-12)
    own = st.t.interval(0.95, d.size - 1, loc=np.mean((p - y) ** 2), scale=st.sem((p - y) ** 2))
    assert result.intervals.value[0].interval(0.95) == pytest.approx(own, rel=1e-12)


@pytest.mark.parametrize(
    ("loss", "bootstrap"), [("mse", None), ("mse", 60), ("rmse", 60), ("r2", 60)]
)
def test_intervals_are_chunk_and_group_invariant(data: dict, loss: str, bootstrap: int) -> None:
    def intervals(chunk: int) -> list:
        r = _run(data, loss, chunk=chunk, bootstrap=bootstrap, group_by="g", weight="w")[0]
        out = [r.intervals.difference[0].interval(0.9), r.intervals.value[0].interval(0.9)]
        return out + [g.intervals.difference[0].interval(0.9) for g in r.groups]

    first = intervals(4000)
    assert intervals(997) == first
    assert intervals(64) == first
    ungrouped = _run(data, loss, chunk=333, bootstrap=bootstrap, weight="w")[0]
    assert ungrouped.intervals.difference[0].interval(0.9) == first[0]


def test_bootstrap_matches_a_dense_numpy_reference(data: dict) -> None:
    result = _run(data, "rmse", chunk=700, bootstrap=120, weight="w")[0]
    p, b, y, w = data["pred"], data["base"], data["target"], data["w"]
    n = y.size
    k = reference_counts(3, 120, n)  # (n, B) dense
    kw = k * w[:, None]
    rep_c = np.sqrt(((p - y) ** 2) @ kw / kw.sum(axis=0))
    rep_b = np.sqrt(((b - y) ** 2) @ kw / kw.sum(axis=0))
    est = result.intervals.difference[0]
    np.testing.assert_allclose(est.replicates, rep_c - rep_b, rtol=1e-12, atol=1e-15)
    ref = np.quantile(rep_c - rep_b, [0.025, 0.975], method="median_unbiased")
    assert est.interval(0.95) == pytest.approx(tuple(ref), rel=1e-10)


def test_bootstrap_groups_and_threads_match_the_per_row_reference(tmp_path, monkeypatch) -> None:
    """Many small groups (each piece sums most of them together) and a few large ones, one
    thread or two: every group's replicates are the exactly rounded per-row sums."""
    import losscli.engine.intervals as engine_intervals
    import losscli.stats.intervals as stats_intervals

    rng = np.random.default_rng(14)
    n, b = 6000, 32
    g = np.where(rng.random(n) < 0.5, rng.integers(0, 600, size=n), 600 + rng.integers(0, 3, n))
    y = rng.normal(size=n)
    p = y + rng.normal(size=n) * (1 + g % 4)
    w = rng.uniform(0.5, 2.0, size=n)
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"pred": p, "target": y, "g": g, "w": w}), path)
    request = engine.LossRequest(lookup("mse"), {}, {}, IntervalRequest(b, 21))
    runs = []
    for workers, chunk, small in ((1, 6000, False), (2, 1777, False), (2, 6000, True)):
        monkeypatch.setattr(engine_intervals, "BOOTSTRAP_WORKERS", workers)
        if small:  # what a large --bootstrap does: pieces of 10 rows, batches drawn in parts
            monkeypatch.setattr(stats_intervals, "_PIECE_WEIGHTS", 10 * b)
            monkeypatch.setattr(stats_intervals, "_GROUPED_WEIGHTS", 700 * b)
        options = engine.RunOptions([str(path)], chunk_size=chunk, group_by="g", weight="w")
        runs.append(engine.run([request], options)[0])
    k = reference_counts(21, b, n)
    wsq = w * (p - y) ** 2
    for group in runs[0].groups:
        rows = np.flatnonzero(g == group.key[0])
        sums = [
            (_weighted_fsum(wsq[rows], k[rows, j]), _weighted_fsum(w[rows], k[rows, j]))
            for j in range(b)
        ]
        expected = [num / den if den else math.nan for num, den in sums]  # none drawn: NaN
        np.testing.assert_array_equal(group.intervals.value[0].replicates, expected)
    for other in runs[1:]:
        for one, two in zip(runs[0].groups, other.groups, strict=True):
            np.testing.assert_array_equal(
                one.intervals.value[0].replicates, two.intervals.value[0].replicates
            )
        assert other.intervals.value[0].interval(0.9) == runs[0].intervals.value[0].interval(0.9)


# -- the command line -------------------------------------------------------------------------------
def _cli(*args: str) -> tuple[int, str, str]:
    r = invoke(list(args))
    return r.code, r.out, r.err


def test_cli_verdicts_and_json_fields(data: dict) -> None:
    path = str(data["path"])
    base = [path, "--baseline-pred", "base", "-f", "json", "--confidence", "0.95"]
    code, out, _ = _cli("mse", *base, "--max-increase", "0")
    doc = json.loads(out)
    (gate,) = doc["gates"]
    assert code == 0 and gate["verdict"] == "pass" and gate["method"] == "normal paired"
    p, b, y = data["pred"], data["base"], data["target"]
    d = (p - y) ** 2 - (b - y) ** 2
    ref = st.t.interval(0.95, d.size - 1, loc=np.mean(d), scale=st.sem(d))
    assert gate["interval"] == pytest.approx([gate["baseline"] + ref[0], gate["baseline"] + ref[1]])
    assert gate["confidence"] == 0.95 and gate["comparisons"] == 1
    assert gate["change_interval"] == pytest.approx(list(ref), rel=1e-9)
    assert doc["interval"] == pytest.approx(
        list(st.t.interval(0.95, d.size - 1, np.mean((p - y) ** 2), st.sem((p - y) ** 2)))
    )
    # a limit inside the interval: inconclusive, which passes unless --inconclusive fail
    limit = str(float(np.mean((p - y) ** 2)))
    code, out, _ = _cli("mse", path, "-f", "json", "--confidence", "0.95", "--max", limit)
    assert code == 0 and json.loads(out)["gates"][0]["verdict"] == "inconclusive"
    code, out, err = _cli(
        "mse", path, "-f", "json", "--confidence", "0.95", "--max", limit, "--inconclusive", "fail"
    )
    assert code == 1 and "straddles" in err
    # a significant breach fails
    code, out, _ = _cli("mse", path, "-f", "json", "--confidence", "0.95", "--max", "0.5")
    assert code == 1 and json.loads(out)["gates"][0]["verdict"] == "fail"


def test_cli_adjustments_count_comparisons(data: dict) -> None:
    path = str(data["path"])
    args = ["mse", path, "-g", "g", "-f", "json", "--confidence", "0.9", "--max", "0.9"]
    plain = json.loads(_cli(*args)[1])["gates"]
    _, out, err = _cli(*args, "--adjust", "bonferroni")
    bonf = json.loads(out)["gates"]
    unsure = sum(g["verdict"] == "inconclusive" for g in bonf)
    assert err.splitlines()[0] == (
        f"losscli: note: 4 comparisons at 0.9 confidence, bonferroni-adjusted; "
        f"{unsure} inconclusive"
    )
    holm = json.loads(_cli(*args, "--adjust", "holm")[1])["gates"]
    assert [g["comparisons"] for g in bonf] == [4] * 4
    assert all(g["level"] == pytest.approx(1 - 0.1 / 4) for g in bonf)
    for a, b in zip(plain, bonf, strict=True):
        assert b["interval"][0] < a["interval"][0] and b["interval"][1] > a["interval"][1]
    assert all(0.9 <= g["level"] <= 1 - 0.1 / 4 + 1e-12 for g in holm)


def test_cli_json_baseline_carries_its_interval(data: dict, tmp_path) -> None:
    path = str(data["path"])
    saved = tmp_path / "base.json"
    code, out, _ = _cli(
        "mse", path, "-p", "base", "-f", "json", "--confidence", "0.95", "--max", "100"
    )
    assert code == 0
    saved.write_text(out)
    code, out, _ = _cli(
        "mse", path, "--baseline", str(saved), "--max-increase", "0", "-f", "json",
        "--confidence", "0.95",
    )  # fmt: skip
    (gate,) = json.loads(out)["gates"]
    assert code == 0 and gate["method"] == "normal+stored mover"
    p, y = data["pred"], data["target"]
    c_lo, c_hi = st.t.interval(0.95, y.size - 1, np.mean((p - y) ** 2), st.sem((p - y) ** 2))
    b_lo, b_hi = json.loads(saved.read_text())["interval"]
    v, bv = np.mean((p - y) ** 2), gate["baseline"]
    assert gate["interval"][0] == pytest.approx(v - math.hypot(v - c_lo, b_hi - bv), rel=1e-12)
    assert gate["interval"][1] == pytest.approx(v + math.hypot(c_hi - v, bv - b_lo), rel=1e-12)


@pytest.mark.parametrize(
    "args",
    [
        ["--confidence", "0.95"],
        ["--max", "1", "--bootstrap", "10"],
        ["--max", "1", "--confidence", "1.5"],
        ["--max", "1", "--confidence", "0.9", "--bootstrap", "0"],
    ],
)
def test_cli_usage_errors(data: dict, args: list[str]) -> None:
    code, _, err = _cli("mse", str(data["path"]), *args)
    assert code == 2 and err.count("\n") == 1


def test_max_error_bootstrap_takes_the_largest_error_among_drawn_rows(data: dict) -> None:
    def run(chunk: int) -> list:
        return _run(data, "max_error", chunk=chunk, bootstrap=40, group_by="g")

    result = run(4000)[0]
    p, b, y, g = data["pred"], data["base"], data["target"], data["g"]
    drawn = reference_counts(3, 40, y.size) > 0  # (n, B)
    own = np.where(drawn, np.abs(p - y)[:, None], -np.inf).max(axis=0)
    base = np.where(drawn, np.abs(b - y)[:, None], -np.inf).max(axis=0)
    assert np.array_equal(result.intervals.value[0].replicates, own)
    assert np.array_equal(result.intervals.difference[0].replicates, own - base)
    assert result.intervals.value[0].interval(0.9)[1] <= result.value  # never above the sample
    for group in result.groups:
        rows = g == group.key[0]
        expected = np.where(drawn[rows], np.abs(p - y)[rows, None], -np.inf).max(axis=0)
        assert np.array_equal(group.intervals.value[0].replicates, expected)
    again = run(333)[0]
    assert again.intervals.difference[0].interval(0.9) == result.intervals.difference[0].interval(
        0.9
    )
    assert [x.intervals.value[0].interval(0.9) for x in again.groups] == [
        x.intervals.value[0].interval(0.9) for x in result.groups
    ]


def test_check_file_confidence_keys(data: dict, tmp_path) -> None:
    gate_file = tmp_path / "losscli.toml"
    gate_file.write_text(
        f'[defaults]\nfile = "{data["path"]}"\nconfidence = 0.95\ninconclusive = "fail"\n'
        '[[check]]\nname = "paired"\nloss = "mse"\nbaseline_pred = "base"\n'
        'max_increase = "1%"\ngroup_by = "g"\nadjust = "bonferroni"\n'
    )
    r = invoke(["check", str(gate_file), "-f", "json", "--no-ci-report"])
    gates = r.json["checks"][0]["gates"]
    assert [g["comparisons"] for g in gates] == [4] * 4
    assert all(g["level"] == pytest.approx(1 - 0.05 / 4) for g in gates)
    inconclusive = [g for g in gates if g["verdict"] == "inconclusive"]
    assert r.code == (1 if inconclusive else 0)
    assert all(not g["passed"] for g in inconclusive)
    gate_file.write_text(f'[[check]]\nfile = "{data["path"]}"\nloss = "mse"\nseed = 3\nmax = 1\n')
    r = invoke(["check", str(gate_file)])
    assert r.code == 2 and "'seed' needs 'confidence'" in r.err


def test_cli_baseline_predictions_file_is_paired_row_by_row(data: dict, tmp_path) -> None:
    candidate, baseline = tmp_path / "candidate.parquet", tmp_path / "baseline.parquet"
    pq.write_table(pa.table({k: data[k] for k in ("pred", "target", "g")}), candidate)
    pq.write_table(pa.table({"pred": data["base"], "target": data["target"]}), baseline)
    common = ["-g", "g", "-f", "json", "--confidence", "0.9", "--max-increase", "0"]
    from_file = invoke(["rmse", str(candidate), "--baseline", str(baseline), *common])
    from_column = invoke(["rmse", str(data["path"]), "--baseline-pred", "base", *common])
    assert from_file.code == from_column.code
    for a, b in zip(from_file.json["gates"], from_column.json["gates"], strict=True):
        assert a["method"] == "bootstrap-percentile paired"
        assert (a["interval"], a["verdict"], a["baseline"]) == (
            b["interval"],
            b["verdict"],
            b["baseline"],
        )
    short = tmp_path / "short.parquet"
    pq.write_table(pa.table({"pred": data["base"][:-1], "target": data["target"][:-1]}), short)
    r = invoke(["mse", str(candidate), "--baseline", str(short), *common])
    assert r.code == 3 and "row counts differ" in r.err and "pairs them row by row" in r.err


@pytest.mark.parametrize("power", [0.0, 1.0, 1.5, 2.0, 3.0, -0.5])
def test_d2_tweedie_bootstrap_matches_scikit_learn_per_replicate(tmp_path, power: float) -> None:
    """Each replicate's null deviance comes from streamed sums (Σw·a(y), Σw·y, Σw), never
    from the rows: it equals scikit-learn's d2_tweedie_score weighted by the replicate."""
    from sklearn.metrics import d2_tweedie_score

    rng = np.random.default_rng(31)
    n, b = 1500, 40
    y = rng.gamma(2.0, 3.0, n) + 5.0  # a mean well away from 0: the sums must not cancel
    if power < 2:
        y[:4] = 0.0
    p = y * rng.uniform(0.7, 1.3, n) + 0.1
    w = rng.uniform(0.5, 2.0, n)
    path = tmp_path / "d2.parquet"
    pq.write_table(pa.table({"pred": p, "target": y, "w": w}), path)
    request = engine.LossRequest(lookup("d2_tweedie"), {"power": power}, {}, IntervalRequest(b, 6))
    result = engine.run([request], engine.RunOptions([str(path)], weight="w", chunk_size=333))[0]
    k = reference_counts(6, b, n)
    expected = [d2_tweedie_score(y, p, sample_weight=w * k[:, j], power=power) for j in range(b)]
    np.testing.assert_allclose(result.intervals.value[0].replicates, expected, rtol=1e-12)
    whole = engine.run([request], engine.RunOptions([str(path)], weight="w"))[0]
    assert whole.intervals.value[0].interval(0.9) == result.intervals.value[0].interval(0.9)


def test_cross_entropy_interval_and_class_weights(tmp_path) -> None:
    from scipy.special import logsumexp

    rng = np.random.default_rng(21)
    z, y = rng.normal(size=(500, 3)), rng.integers(0, 3, size=500)
    path = tmp_path / "ce.parquet"
    pq.write_table(pa.table({"a": z[:, 0], "b": z[:, 1], "c": z[:, 2], "y": y * 1.0}), path)
    args = ["cross_entropy", str(path), "-p", "a,b,c", "-t", "y", "--max", "9", "-f", "json"]
    r = invoke([*args, "--confidence", "0.95"])
    ce = logsumexp(z, axis=1) - z[np.arange(500), y]
    ref = st.t.interval(0.95, 499, loc=np.mean(ce), scale=st.sem(ce))
    assert r.code == 0 and r.json["interval"] == pytest.approx(list(ref), rel=1e-12)
    # PyTorch's class-weighted mean Σw[y]·l / Σw[y]: a ratio, bootstrapped
    r = invoke([*args, "--confidence", "0.95", "--class-weight", "1,2,3", "--bootstrap", "64"])
    cw = np.array([1.0, 2.0, 3.0])[y]
    k = reference_counts(0, 64, 500)
    reps = (cw * ce) @ k / (cw @ k)
    expected = np.quantile(reps, [0.025, 0.975], method="median_unbiased")
    assert r.code == 0 and r.json["gates"][0]["method"] == "bootstrap-percentile"
    assert r.json["value"] == pytest.approx(np.sum(cw * ce) / np.sum(cw), rel=1e-13)
    assert r.json["interval"] == pytest.approx(list(expected), rel=1e-12)


def test_junit_and_summary_report_inconclusive(data: dict, tmp_path) -> None:
    path = str(data["path"])
    limit = str(float(np.mean((data["pred"] - data["target"]) ** 2)))
    junit = tmp_path / "junit.xml"
    summary = tmp_path / "summary.md"
    args = ["mse", path, "--max", limit, "--confidence", "0.95", "--junit", str(junit)]
    r = invoke([*args, "-f", "json"], env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert r.code == 0
    import xml.etree.ElementTree as ET

    (case,) = ET.parse(junit).getroot().iter("testcase")
    assert case.find("failure") is None
    assert case.find("system-out").text.startswith("[INCONCLUSIVE] max: mse = ")
    text = summary.read_text()
    assert "⚠️ inconclusive" in text and "1 comparison at 0.95 confidence" in text
    r = invoke([*args, "-f", "json", "--inconclusive", "fail"])
    (case,) = ET.parse(junit).getroot().iter("testcase")
    assert r.code == 1 and case.find("failure") is not None


def test_per_output_intervals_and_a_one_row_group(tmp_path) -> None:
    rng = np.random.default_rng(8)
    y = rng.normal(size=(300, 2))
    p = y + rng.normal(size=(300, 2))
    g = np.where(np.arange(300) == 5, "solo", "many")
    path = tmp_path / "multi.parquet"
    columns = {"p1": p[:, 0], "p2": p[:, 1], "t1": y[:, 0], "t2": y[:, 1], "g": g}
    pq.write_table(pa.table(columns), path)
    columns_args = ["-p", "p1,p2", "-t", "t1,t2", "--per", "output", "-g", "g"]
    r = invoke(
        ["mse", str(path), *columns_args, "--max", "5", "--confidence", "0.95", "-f", "json"]
    )
    assert r.code == 0
    for j, pair in enumerate(r.json["interval"]):
        sq = (p[:, j] - y[:, j]) ** 2
        assert pair == pytest.approx(list(st.t.interval(0.95, 299, np.mean(sq), st.sem(sq))))
    solo = [gate for gate in r.json["gates"] if gate["group"].get("g") == "solo"]
    assert [gate["verdict"] for gate in solo] == ["inconclusive", "inconclusive"]
    assert all(gate["interval"] == [None, None] for gate in solo)
