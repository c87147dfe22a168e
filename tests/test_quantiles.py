"""Exact quantiles (stats.quantiles) and the quantile errors against NumPy and scikit-learn,
bit for bit, on awkward data: in memory, chunked, grouped, re-read from files and spooled from
stdin."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import median_absolute_error
from sklearn.utils.stats import _weighted_percentile

from losscli.engine.spool import Spool
from losscli.stats import quantiles as Q

QS = [0.0, 1e-9, 0.01, 0.1, 0.25, 1 / 3, 0.5, 0.6, 0.75, 0.9, 0.99, 0.999, 1.0]


def datasets(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = 1001
    return {
        "one": np.array([2.5]),
        "two": np.array([3.0, -1.0]),
        "normal": rng.normal(size=n),
        "abs_errors": np.abs(rng.normal(size=n)),
        "ties": rng.integers(0, 5, size=n).astype(float),
        "signed_zeros": rng.choice([-0.0, 0.0, 1.0, -1.0], size=n),
        "all_equal": np.full(n, 7.25),
        "near_equal": 1.0 + rng.integers(0, 3, size=n) * np.finfo(float).eps,
        "wide": rng.choice([-1, 1], size=n) * 10.0 ** rng.uniform(-300, 300, size=n),
        "with_inf": np.concatenate([rng.normal(size=50), [np.inf, -np.inf, np.inf]]),
        "subnormal": rng.integers(0, 4, size=200) * 5e-324,
        "mostly_one_value": np.where(rng.random(n) < 0.95, 3.0, rng.normal(size=n)),
    }


def chunked(x: np.ndarray, size: int, w: np.ndarray | None = None, codes=None):
    def source():
        for i in range(0, x.shape[-1], size):
            yield (
                np.atleast_2d(x)[:, i : i + size],
                None if codes is None else codes[i : i + size],
                None if w is None else w[i : i + size],
            )

    return source


def same(a, b, *context: object) -> None:
    np.testing.assert_array_equal(
        np.asarray(a, dtype=float), np.asarray(b, dtype=float), err_msg=repr(context)
    )


def test_keys_preserve_order_and_invert() -> None:
    x = np.array([-np.inf, -1e300, -1.0, -5e-324, -0.0, 0.0, 5e-324, 1.0, 1e300, np.inf])
    k = Q.float_keys(x)
    assert (np.diff(k.astype(object)) > 0).all()
    same(Q.key_floats(k).view(np.uint64), x.view(np.uint64))


@pytest.mark.parametrize("method", [m for m in Q.UNWEIGHTED_METHODS if m != "median"])
def test_unweighted_equals_numpy_quantile(method: str) -> None:
    rng = np.random.default_rng(1)
    for name, x in datasets(rng).items():
        with np.errstate(invalid="ignore"):
            ref = np.quantile(x, QS, method=method)
        for size, budget in [(len(x), Q.DEFAULT_SELECT_BUDGET), (397, 5)]:
            got, _ = Q.select_quantiles(chunked(x, size), QS, method, budget=budget)
            same(got[0], ref, name, size, budget)


def test_median_equals_numpy_median_and_sklearn() -> None:
    rng = np.random.default_rng(2)
    for name, x in datasets(rng).items():
        if name == "with_inf":
            continue
        for size, budget in [(len(x), Q.DEFAULT_SELECT_BUDGET), (64, 3)]:
            got, _ = Q.select_quantiles(chunked(x, size), [0.5], "median", budget=budget)
            assert got[0, 0] == np.median(x), name
            y = np.zeros_like(x)
            assert got[0, 0] == median_absolute_error(y, x) or name not in ("abs_errors",)
    e = np.abs(rng.normal(size=(2000, 3)))
    got, _ = Q.select_quantiles(chunked(e.T.copy(), 300), [0.5], "median")
    same(got[:, 0], median_absolute_error(np.zeros_like(e), e, multioutput="raw_values"))


def weight_sets(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "ones": np.ones(n),
        "integers": rng.integers(0, 4, size=n).astype(float),
        "uniform": rng.random(n),
        "zeros_mixed": np.where(rng.random(n) < 0.5, 0.0, rng.random(n)),
        "leading_zero_heavy": np.where(np.arange(n) % 7 == 0, 5.0, 0.0),
        "dyadic": rng.integers(1, 9, size=n) / 8.0,
    }


@pytest.mark.parametrize("qs", [[0.5], [0.0, 0.1, 0.5, 0.9, 1.0]])
def test_weighted_averaged_equals_sklearn(qs: list[float]) -> None:
    rng = np.random.default_rng(3)
    for name, x in datasets(rng).items():
        if name == "with_inf":
            continue
        for wname, w in weight_sets(rng, len(x)).items():
            if not w.any():
                continue
            ref = [_weighted_percentile(x, w, 100 * q, average=True) for q in qs]
            for size, budget in [(len(x), Q.DEFAULT_SELECT_BUDGET), (301, 200)]:
                got, _ = Q.select_quantiles(
                    chunked(x, size, w), qs, "averaged_inverted_cdf", weighted=True, budget=budget
                )
                same(got[0], ref, name, wname, size, budget)


def test_weighted_median_absolute_error_equals_sklearn_small_cases() -> None:
    cases = [
        ([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]),
        ([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 0.0, 1.0]),
        ([1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 1.0, 0.0]),
        ([4.0, 3.0, 2.0, 1.0], [1.0, 0.0, 0.0, 1.0]),
        ([5.0], [2.0]),
        ([0.0, 0.0, 1.0], [0.5, 0.5, 1.0]),
        ([1.0, 2.0], [0.1, 0.1]),
    ]
    for values, weights in cases:
        x, w = np.array(values), np.array(weights)
        ref = median_absolute_error(np.zeros_like(x), x, sample_weight=w)
        got, _ = Q.select_quantiles(chunked(x, 1, w), [0.5], "averaged_inverted_cdf", weighted=True)
        assert got[0, 0] == ref, (values, weights)


def test_weighted_inverted_cdf_equals_numpy() -> None:
    rng = np.random.default_rng(4)
    for name, x in datasets(rng).items():
        if name == "with_inf":
            continue
        for wname, w in weight_sets(rng, len(x)).items():
            if not w.any():
                continue
            qs = QS[::2]
            ref = np.quantile(x, qs, weights=w, method="inverted_cdf")
            got, _ = Q.select_quantiles(
                chunked(x, 256, w), qs, "inverted_cdf", weighted=True, budget=200
            )
            same(got[0], ref, name, wname)


def test_grouped_equals_each_group_alone() -> None:
    rng = np.random.default_rng(5)
    n, k, groups = 5000, 2, 40  # 80 slots: 12-bit histograms
    x = np.abs(rng.normal(size=(k, n))) * rng.choice([1.0, 1e-3], size=(k, n))
    x[:, rng.random(n) < 0.3] = 0.5  # heavy ties
    codes = rng.integers(0, groups, size=n)
    w = rng.integers(0, 3, size=n).astype(float)
    got, _ = Q.select_quantiles(chunked(x, 333, None, codes), [0.5, 0.9], "linear", budget=50)
    gotw, _ = Q.select_quantiles(
        chunked(x, 333, w, codes), [0.5], "averaged_inverted_cdf", weighted=True, budget=50
    )
    for g in range(groups):
        rows = codes == g
        for j in range(k):
            same(got[g * k + j], np.quantile(x[j, rows], [0.5, 0.9]))
            assert gotw[g * k + j, 0] == _weighted_percentile(x[j, rows], w[rows], 50, average=True)


def test_many_groups_coarsen_to_eight_bits() -> None:
    rng = np.random.default_rng(6)
    n, groups = 20000, 1500
    x = rng.normal(size=n)
    codes = rng.integers(0, groups, size=n)
    h = Q.KeyHistogram()
    h.update(x[None, :], codes)
    assert h.bits == 8
    got, _ = Q.select_quantiles(chunked(x, 4096, None, codes), [0.25, 0.5], "linear")
    for g in range(0, groups, 97):
        same(got[g], np.quantile(x[codes == g], [0.25, 0.5]))


def test_histograms_and_passes_merge_like_one_stream() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1, 4000))
    w = rng.random(4000)
    halves = [(x[:, :1500], w[:1500]), (x[:, 1500:], w[1500:])]
    parts = []
    for values, weights in halves:
        h = Q.KeyHistogram(weighted=True)
        h.update(values, None, weights)
        parts.append(h)
    whole = Q.KeyHistogram(weighted=True)
    whole.update(x, None, w)
    parts[0].merge(parts[1])
    same(parts[0].counts, whole.counts)
    sel = Q.Selection(parts[0], [0.5, 0.95], "averaged_inverted_cdf", budget=20)
    while sel.pending:
        states = [sel.new_pass() for _ in halves]
        sel.passes -= len(halves) - 1
        for state, (values, weights) in zip(states, halves, strict=True):
            state.update(values, None, weights)
        states[0].merge(states[1])
        sel.finish_pass(states[0])
    same(sel.result()[0], [_weighted_percentile(x[0], w, p, average=True) for p in (50, 95)])


def test_nan_slot_is_nan_and_other_slots_exact() -> None:
    x = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 4.0]])
    got, _ = Q.select_quantiles(chunked(x, 2), [0.5], "linear")
    assert np.isnan(got[0, 0]) and got[1, 0] == 2.0


def test_all_zero_weights_is_nan() -> None:
    got, _ = Q.select_quantiles(
        chunked(np.array([1.0, 2.0]), 1, np.zeros(2)), [0.5], "averaged_inverted_cdf", weighted=True
    )
    assert np.isnan(got[0, 0])


def test_refinement_resolves_huge_ties_without_keeping_them() -> None:
    x = np.full(100_000, 0.125)
    x[::1000] = 3.0
    got, passes = Q.select_quantiles(chunked(x, 10_000), [0.5, 0.999], "linear", budget=1000)
    same(got[0], np.quantile(x, [0.5, 0.999]))
    assert passes <= 4


def test_methods_are_checked() -> None:
    h = Q.KeyHistogram(weighted=True)
    with pytest.raises(ValueError, match="not defined for weighted"):
        Q.Selection(h, [0.5], "linear")
    with pytest.raises(ValueError, match="outside"):
        Q.Selection(Q.KeyHistogram(), [1.5], "linear")


def test_spool_spills_past_the_budget_and_replays(tmp_path) -> None:
    told = []
    spool = Spool(1000, on_spill=told.append, directory=str(tmp_path))
    rng = np.random.default_rng(8)
    chunks = [(rng.normal(size=(2, 30)), None, rng.random(30)) for _ in range(5)]
    for c in chunks:
        spool.append(*c)
    assert spool.spilled and told == [1000]
    for _ in range(2):
        replayed = list(spool.replay())
        assert len(replayed) == 5
        for a, b in zip(replayed, chunks, strict=True):
            same(a[0], b[0])
            assert a[1] is None
            same(a[2], b[2])
    spool.close()
    small = Spool(10**6)
    small.append(np.ones(3))
    assert not small.spilled and len(list(small.replay())) == 1


# -- the Python API -----------------------------------------------------------------------------


def test_api_median_absolute_error_equals_sklearn_weighted_and_multioutput() -> None:
    from sklearn import metrics as sk

    from losscli import losses

    rng = np.random.default_rng(10)
    for n in (1, 2, 5, 64, 501):
        y, p = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
        p[: n // 3] = y[: n // 3]  # ties at zero error
        for w in (None, rng.integers(0, 3, size=n).astype(float), rng.random(n)):
            if w is not None and not w.any():
                continue
            for mo in ("raw_values", "uniform_average"):
                got = losses.median_absolute_error(y, p, sample_weight=w, multioutput=mo)
                same(got, sk.median_absolute_error(y, p, sample_weight=w, multioutput=mo), n, mo)


def test_api_quantile_absolute_error_equals_numpy_and_sklearn() -> None:
    from losscli import losses

    rng = np.random.default_rng(11)
    y, p = rng.normal(size=(300, 2)), np.round(rng.normal(size=(300, 2)), 1)
    a = np.abs(p - y)
    w = rng.integers(0, 4, size=300).astype(float)
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        got = losses.quantile_absolute_error(y, p, q=q, multioutput="raw_values")
        same(got, np.quantile(a, q, axis=0, method="linear"), q)
        got = losses.quantile_absolute_error(y, p, q=q, method="hazen", multioutput="raw_values")
        same(got, np.quantile(a, q, axis=0, method="hazen"), q)
        got = losses.quantile_absolute_error(y, p, q=q, sample_weight=w, multioutput="raw_values")
        same(got, _weighted_percentile(a, w, 100 * q, average=True), q)
        got = losses.quantile_absolute_error(
            y, p, q=q, sample_weight=w, method="inverted_cdf", multioutput="raw_values"
        )
        same(got, np.quantile(a, q, axis=0, weights=np.c_[w, w], method="inverted_cdf"), q)
    with pytest.raises(ValueError, match="not defined for weighted"):
        losses.quantile_absolute_error(y, p, sample_weight=w, method="linear")


# -- the command line: re-read files, spooled stdin, groups, eval ---------------------------------


@pytest.fixture(scope="module")
def error_data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(12)
    n = 3000
    y = rng.normal(size=(n, 2))
    p = y + np.round(rng.normal(size=(n, 2)), 2)  # many equal errors
    return {
        "p0": p[:, 0],
        "p1": p[:, 1],
        "t0": y[:, 0],
        "t1": y[:, 1],
        "w": np.where(rng.random(n) < 0.2, 0.0, rng.integers(1, 4, size=n).astype(float)),
        "g": rng.choice(["a", "b", "c"], size=n),
    }


def _cli_values(args: list[str], stdin: bytes | None = None) -> tuple[list, str]:
    from tests.conftest import invoke

    result = invoke([*args, "-p", "p0,p1", "-t", "t0,t1", "-f", "json"], stdin=stdin)
    assert result.code == 0, result.err
    doc = result.json
    docs = doc.get("results", [doc])
    return docs, result.err


def _errors(data: dict[str, np.ndarray], rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    return np.abs(np.c_[data["p0"], data["p1"]] - np.c_[data["t0"], data["t1"]])[rows]


def test_cli_median_absolute_error_weighted_equals_sklearn(tmp_path, error_data) -> None:
    from sklearn import metrics as sk

    from tests.conftest import write_table

    path = write_table(tmp_path / "e.parquet", error_data)
    y, p, w = (
        np.c_[error_data["t0"], error_data["t1"]],
        np.c_[error_data["p0"], error_data["p1"]],
        error_data["w"],
    )
    for weight, sw in (([], None), (["-w", "w"], w)):
        for chunk in ("7", "1000", "100000"):
            docs, _ = _cli_values(
                ["median_absolute_error", str(path), *weight, "--chunk-size", chunk]
            )
            assert docs[0]["value"] == sk.median_absolute_error(y, p, sample_weight=sw), chunk
        docs, _ = _cli_values(["median_absolute_error", str(path), *weight, "--per", "output"])
        same(
            docs[0]["value"],
            sk.median_absolute_error(y, p, sample_weight=sw, multioutput="raw_values"),
        )
        docs, _ = _cli_values(
            ["median_absolute_error", str(path), *weight, "-g", "g", "--chunk-size", "500"]
        )
        for group in docs[0]["groups"]:
            rows = error_data["g"] == group["key"]["g"]
            expected = sk.median_absolute_error(
                y[rows], p[rows], sample_weight=None if sw is None else sw[rows]
            )
            assert group["value"] == expected and group["rows"] == int(rows.sum())


def test_cli_quantiles_equal_numpy_for_several_q(tmp_path, error_data) -> None:
    from tests.conftest import write_table

    path = write_table(tmp_path / "e.csv", error_data)
    a = _errors(error_data)
    docs, _ = _cli_values(["quantile_absolute_error", str(path), "--q", "0.9", "--q", "0.99"])
    assert [d["params"] for d in docs] == [
        {"q": 0.9, "method": "auto"},
        {"q": 0.99, "method": "auto"},
    ]
    for d in docs:
        assert d["value"] == np.mean(np.quantile(a, d["params"]["q"], axis=0, method="linear"))
    docs, _ = _cli_values(
        ["quantile_absolute_error", str(path), "--q", "0.75", "-w", "w", "-g", "g"]
    )
    for group in docs[0]["groups"]:
        rows = error_data["g"] == group["key"]["g"]
        ref = _weighted_percentile(a[rows], error_data["w"][rows], 75.0, average=True)
        assert group["value"] == np.mean(ref)


def test_cli_eval_takes_q_per_metric(tmp_path, error_data) -> None:
    from tests.conftest import write_table

    path = write_table(tmp_path / "e.parquet", error_data)
    a = _errors(error_data)
    docs, _ = _cli_values(
        ["eval", str(path), "-m", "quantile_absolute_error:q=0.99", "-m", "medae", "-m", "mse"]
    )
    assert docs[0]["value"] == np.mean(np.quantile(a, 0.99, axis=0))
    assert docs[1]["value"] == np.mean(np.median(a, axis=0))


def test_stdin_spools_past_the_memory_limit_and_says_so(tmp_path, error_data) -> None:
    from tests.conftest import write_table

    path = write_table(tmp_path / "e.csv", error_data)
    data = path.read_bytes()
    a = _errors(error_data)
    expected = np.mean(np.quantile(a, 0.9, axis=0))
    docs, err = _cli_values(["quantile_absolute_error", "-", "--chunk-size", "100"], stdin=data)
    assert docs[0]["value"] == expected and "spooling" not in err
    for limit in ("1KiB", "1000"):
        docs, err = _cli_values(
            ["quantile_absolute_error", "-", "--chunk-size", "100", "--memory-limit", limit],
            stdin=data,
        )
        assert docs[0]["value"] == expected
        assert "exceed --memory-limit" in err and "temporary file" in err
    docs, err = _cli_values(
        ["median_absolute_error", "-", "-w", "w", "-g", "g", "--memory-limit", "2k"], stdin=data
    )
    rows = error_data["g"] == docs[0]["groups"][0]["key"]["g"]
    ref = _weighted_percentile(a[rows], error_data["w"][rows], 50, average=True)
    assert docs[0]["groups"][0]["value"] == np.mean(ref)


def test_nan_skip_and_targets_from_are_read_again_the_same_way(tmp_path) -> None:
    from tests.conftest import invoke, write_table

    pred = np.array([1.0, np.nan, 3.0, 7.0, 2.0, 9.0])
    target = np.array([0.0, 0.0, 0.5, np.nan, 0.0, 1.0])
    p_path = write_table(tmp_path / "p.parquet", {"pred": pred})
    t_path = write_table(tmp_path / "t.parquet", {"target": target})
    result = invoke(
        [
            "median_absolute_error",
            str(p_path),
            "--targets-from",
            str(t_path),
            "--nan",
            "skip",
            "-f",
            "json",
            "--chunk-size",
            "2",
        ]
    )
    keep = ~np.isnan(pred) & ~np.isnan(target)
    assert result.json["value"] == np.median(np.abs(pred - target)[keep])
    assert result.json["skipped_rows"] == 2


def test_bad_q_and_memory_limit_are_usage_errors(tmp_path) -> None:
    from tests.conftest import invoke, write_table

    path = write_table(tmp_path / "e.csv", {"pred": [1.0], "target": [0.0]})
    assert invoke(["quantile_absolute_error", str(path), "--q", "1.5"]).code == 2
    assert invoke(["eval", str(path), "-m", "quantile_absolute_error:q=-1"]).code == 2
    bad = invoke(["median_absolute_error", str(path), "--memory-limit", "lots"])
    assert bad.code == 2 and "size" in bad.err


def test_grouped_states_merge_with_remapped_codes() -> None:
    rng = np.random.default_rng(13)
    n, k = 2000, 2
    x = rng.normal(size=(k, n))
    codes = rng.integers(0, 4, size=n)
    w = rng.random(n)
    first, second = slice(0, 900), slice(900, n)
    # the second partition numbered its groups in reverse: its code c is global code 3 - c
    remap = np.array([3, 2, 1, 0])
    a = Q.QuantileState(k, 0.9, "linear").grouped()
    b = Q.QuantileState(k, 0.9, "linear").grouped()
    a.add_chunk(x[:, first], w[first], codes[first], 4)
    b.add_chunk(x[:, second], w[second], 3 - codes[second], 4)
    a.merge(b, remap, 4)
    while a.needs_pass():
        a.start_pass()
        a.add_chunk(x, w, codes)
        a.finish_pass()
    assert list(a.rows) == [int((codes == g).sum()) for g in range(4)]
    values = a.compute("mean", "output")
    for g in range(4):
        rows = codes == g
        same(
            values[:, g],
            [_weighted_percentile(x[j, rows], w[rows], 90, average=True) for j in range(k)],
        )


def test_cli_method_option_follows_numpy_and_refuses_unweighted_methods_with_weights(
    tmp_path, error_data
) -> None:
    from tests.conftest import invoke, write_table

    path = write_table(tmp_path / "e.parquet", error_data)
    a = _errors(error_data)
    w = error_data["w"]
    for method in ("hazen", "lower", "closest_observation"):
        docs, _ = _cli_values(["qae", str(path), "--q", "0.95", "--method", method])
        assert docs[0]["value"] == np.mean(np.quantile(a, 0.95, axis=0, method=method))
    docs, _ = _cli_values(["qae", str(path), "--q", "0.95", "--method", "inverted_cdf", "-w", "w"])
    ref = np.quantile(a, 0.95, axis=0, weights=np.c_[w, w], method="inverted_cdf")
    assert docs[0]["value"] == np.mean(ref)
    docs, _ = _cli_values(["eval", str(path), "-m", "qae:q=0.5,method=midpoint"])
    assert docs[0]["value"] == np.mean(np.quantile(a, 0.5, axis=0, method="midpoint"))
    bad = invoke(["qae", str(path), "-p", "p0", "-t", "t0", "-w", "w", "--method", "linear"])
    assert bad.code == 2 and "no weighted definition" in bad.err
    assert invoke(["qae", str(path), "-p", "p0", "-t", "t0", "--method", "cubic"]).code == 2


def test_merging_many_groups_into_an_empty_grouped_state() -> None:
    """The Dask client's case: a fresh grouped state absorbs partitions whose 40 groups (more
    than 16 slots: coarser histograms) arrive under their own codes."""
    rng = np.random.default_rng(14)
    n, groups = 4000, 40
    x = np.abs(rng.normal(size=(1, n)))
    codes = rng.integers(0, groups, size=n)
    merged = Q.QuantileState(1, 0.5, "median").grouped()
    for part in (slice(0, 1500), slice(1500, n)):
        their = Q.QuantileState(1, 0.5, "median").grouped()
        local_codes, mine = np.unique(codes[part], return_inverse=True)
        their.add_chunk(x[:, part], None, mine, len(local_codes))
        merged.merge(their, local_codes, groups)
    while merged.needs_pass():
        merged.start_pass()
        merged.add_chunk(x, None, codes)
        merged.finish_pass()
    values = merged.compute("mean", "all")
    same(values, [np.median(x[0, codes == g]) for g in range(groups)])


def test_equal_inexact_weights_follow_sklearns_sequential_sums() -> None:
    """With every weight 0.1, n·0.1 is inexact: scikit-learn's cumulative sums decide whether
    half the weight falls on a value; equal weights reproduce them exactly."""
    from sklearn import metrics as sk

    from losscli import losses

    rng = np.random.default_rng(15)
    for n in (2, 10, 100, 1000, 4000):
        for value in (0.1, 0.3, 1.1, 1 / 3):
            y, p = np.zeros(n), rng.normal(size=n)
            w = np.full(n, value)
            assert losses.median_absolute_error(y, p, sample_weight=w) == (
                sk.median_absolute_error(y, p, sample_weight=w)
            ), (n, value)
            for q in (0.1, 0.9):
                got = losses.quantile_absolute_error(y, p, q=q, sample_weight=w)
                assert got == _weighted_percentile(np.abs(p), w, 100 * q, average=True)
                got = losses.quantile_absolute_error(
                    y, p, q=q, sample_weight=w, method="inverted_cdf"
                )
                assert got == np.quantile(np.abs(p), q, weights=w, method="inverted_cdf")


def test_decimal_weights_on_small_inputs_equal_sklearn() -> None:
    """Weights such as 0.9, 0.6, 0.3: a slot within the selection budget is kept whole and its
    weights summed in sorted order, as scikit-learn and NumPy sum them."""
    from sklearn import metrics as sk

    from losscli import losses

    rng = np.random.default_rng(16)
    for n in (2, 3, 4, 5, 8, 50):
        for _ in range(60):
            y, p = np.zeros(n), rng.normal(size=n)
            w = rng.integers(0, 10, size=n) / 10
            if not w.any():
                continue
            got = losses.median_absolute_error(y, p, sample_weight=w)
            assert got == sk.median_absolute_error(y, p, sample_weight=w), (n, w)
            got = losses.quantile_absolute_error(
                y, p, q=0.9, sample_weight=w, method="inverted_cdf"
            )
            assert got == np.quantile(np.abs(p), 0.9, weights=w, method="inverted_cdf")
