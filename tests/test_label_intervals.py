"""Confidence intervals of the label metrics: t intervals from per-label moments."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.csv as pc
import pyarrow.parquet as pq
import pytest
import scipy.stats as st

from losscli import engine
from losscli.catalogue import lookup
from losscli.engine.intervals import Features, IntervalRequest, IntervalTracker
from losscli.stats.labels import LabelCodes, LabelContext
from tests.conftest import invoke

EPS = 2.220446049250313e-16


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict:
    rng = np.random.default_rng(5)
    n = 3000
    y = rng.integers(0, 3, n)
    probs = rng.dirichlet([1.0, 1.0, 1.0], n)
    probs[np.arange(n), y] += 1.0
    probs /= probs.sum(axis=1, keepdims=True)
    table = {
        "y": y,
        "p": np.where(rng.random(n) < 0.8, y, rng.integers(0, 3, n)),
        "b": np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, n)),
        "p0": probs[:, 0],
        "p1": probs[:, 1],
        "p2": probs[:, 2],
        "yb": (y == 1).astype(np.int64) * 5 + 2,  # binary labels 2 / 7: 7 is positive
        "g": rng.integers(0, 4, n),
        "w": rng.uniform(0.5, 2.0, n),
    }
    path = tmp_path_factory.mktemp("labels") / "labels.parquet"
    pq.write_table(pa.table(table), path)
    return {**table, "path": str(path)}


def _run(
    data: dict, loss: str, cols: dict, *, chunk: int, base: str | None = None, **kw: object
) -> engine.LossResult:
    spec = lookup(loss)
    params = {p.name: p.default for p in spec.params}
    interval = IntervalRequest(paired=1 if base else None)
    requests = [engine.LossRequest(spec, params, cols, interval)]
    if base:
        requests.append(engine.LossRequest(spec, params, {**cols, "pred": base}))
    options = engine.RunOptions([data["path"]], chunk_size=chunk, **kw)  # type: ignore[arg-type]
    return engine.run(requests, options)[0]


def _t(d: np.ndarray) -> tuple[float, float]:
    return st.t.interval(0.95, d.size - 1, loc=np.mean(d), scale=st.sem(d))


def _close(got: tuple[float, float], want: tuple[float, float]) -> None:
    assert got[0] == pytest.approx(want[0], rel=1e-12, abs=0)
    assert got[1] == pytest.approx(want[1], rel=1e-12, abs=0)


def test_accuracy_and_zero_one_match_scipy_on_the_indicator_column(data: dict) -> None:
    right = (data["p"] == data["y"]).astype(float)
    base = (data["b"] == data["y"]).astype(float)
    cols = {"pred": "p", "target": "y"}
    result = _run(data, "accuracy", cols, chunk=1000, base="b")
    _close(result.intervals.value[0].interval(0.95), _t(right))
    _close(result.intervals.difference[0].interval(0.95), _t(right - base))
    zero_one = _run(data, "zero_one_loss", cols, chunk=1000, base="b")
    _close(zero_one.intervals.value[0].interval(0.95), _t(1 - right))
    _close(zero_one.intervals.difference[0].interval(0.95), _t(base - right))
    assert result.intervals.value[0].estimate == result.value


def test_log_loss_brier_hinge_match_scipy_on_the_row_losses(data: dict) -> None:
    y, probs = data["y"], np.stack([data["p0"], data["p1"], data["p2"]])
    rows = np.arange(y.size)
    losses = -np.log(np.clip(probs[y, rows], EPS, 1 - EPS))
    swapped = -np.log(np.clip(probs[[0, 2, 1]][y, rows], EPS, 1 - EPS))
    cols = {"pred": "p0,p1,p2", "target": "y"}
    result = _run(data, "log_loss", cols, chunk=1000, base="p0,p2,p1")
    _close(result.intervals.value[0].interval(0.95), _t(losses))
    _close(result.intervals.difference[0].interval(0.95), _t(losses - swapped))
    positive = (data["yb"] == 7).astype(float)
    brier = (data["p1"] - positive) ** 2
    result = _run(data, "brier_score_loss", {"pred": "p1", "target": "yb"}, chunk=1000)
    _close(result.intervals.value[0].interval(0.95), _t(brier))
    top = np.sort(probs, axis=0)
    others = np.where(probs[y, rows] == top[-1], top[-2], top[-1])
    hinge = np.maximum(1 - (probs[y, rows] - others), 0.0)
    result = _run(data, "multiclass_hinge", cols, chunk=1000)
    _close(result.intervals.value[0].interval(0.95), _t(hinge))


def test_weighted_accuracy_uses_kish_effective_size(data: dict) -> None:
    right, w = (data["p"] == data["y"]).astype(float), data["w"]
    result = _run(data, "accuracy", {"pred": "p", "target": "y"}, chunk=1000, weight="w")
    mean = np.sum(w * right) / np.sum(w)
    n_eff = np.sum(w) ** 2 / np.sum(w * w)
    var = np.sum(w * (right - mean) ** 2) / np.sum(w) * n_eff / (n_eff - 1)
    want = st.t.interval(0.95, n_eff - 1, loc=mean, scale=math.sqrt(var / n_eff))
    _close(result.intervals.value[0].interval(0.95), want)


@pytest.mark.parametrize(
    ("loss", "cols", "base"),
    [
        ("accuracy", {"pred": "p", "target": "y"}, "b"),
        ("log_loss", {"pred": "p0,p1,p2", "target": "y"}, "p0,p2,p1"),
    ],
)
def test_label_intervals_do_not_depend_on_the_chunk_size(
    data: dict, loss: str, cols: dict, base: object
) -> None:
    def intervals(chunk: int) -> list:
        result = _run(data, loss, cols, chunk=chunk, base=base, weight="w", group_by="g")
        cells = [result.intervals, *result.groups.intervals]
        return [(c.value[0].interval(0.9), c.difference[0].interval(0.9)) for c in cells]

    first = intervals(3000)
    assert len(first) == 5 and intervals(257) == first and intervals(1000) == first


def test_accuracy_interval_coverage() -> None:
    spec = lookup("accuracy")
    context = LabelContext(LabelCodes(), ["y"], ["p"], hard=True)
    params = {**spec.defaults(), "label_context": context}
    features = Features(spec, "mean", "all", 1, params)
    rng = np.random.default_rng(2024)
    covered, reps, n, truth = 0, 400, 300, 0.8
    for _ in range(reps):
        y = rng.integers(0, 4, n).astype(float)
        p = np.where(rng.random(n) < truth, y, y + 1)
        tracker = IntervalTracker(IntervalRequest(), features, None)
        tracker.add(features.rows(None, {"pred": p[None], "target": y[None]}), None, None, 0, None)
        lo, hi = tracker.intervals(None, None, None).value[0].interval(0.95)
        covered += lo <= truth <= hi
    assert 0.93 <= covered / reps <= 0.97


def _cli(*args: str) -> tuple[int, str, str]:
    r = invoke(list(args))
    return r.code, r.out, r.err


@pytest.mark.parametrize(
    ("where", "verdict", "code"),
    [(-0.001, "pass", 0), (1.001, "fail", 1), (0.5, "inconclusive", 0)],
)
def test_cli_accuracy_verdicts(data: dict, where: float, verdict: str, code: int) -> None:
    right = (data["p"] == data["y"]).astype(float)
    lo, hi = _t(right)
    gate = repr(float(lo + where * (hi - lo)))  # below, above or inside the interval
    args = ["accuracy", data["path"], "-p", "p", "-t", "y", "--min", gate, "--confidence", "0.95"]
    got, out, _ = _cli(*args, "-f", "json")
    (result,) = json.loads(out)["gates"]
    assert got == code and result["verdict"] == verdict and result["method"] == "normal"
    assert result["interval"] == pytest.approx(list(_t(right)), rel=1e-12)
    got, out, _ = _cli(*args, "-f", "table")
    assert got == code and verdict.upper().split()[0][:4] in out.upper()


def test_cli_paired_grouped_label_verdicts(data: dict) -> None:
    args = ["accuracy", data["path"], "-p", "p", "-t", "y", "--baseline-pred", "b", "-g", "g"]
    code, out, _ = _cli(*args, "--min-decrease", "0", "--confidence", "0.95", "-f", "json")
    doc = json.loads(out)
    assert code in (0, 1) and len(doc["gates"]) == 5
    assert all(g["method"] == "normal paired" for g in doc["gates"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reduction", "sum"], "accuracy --reduction sum has no interval"),
        (["--bootstrap", "50"], "accuracy gets a t interval from per-label moments"),
    ],
)
def test_cli_label_refusals(data: dict, args: list, message: str) -> None:
    code, _, err = _cli(
        "accuracy", data["path"], "-p", "p", "-t", "y", "--min", "0", "--confidence", "0.9", *args
    )
    assert code == 2 and err.count("\n") == 1 and message in err


def test_text_labels_take_their_class_order_at_the_end(tmp_path) -> None:
    """'eel' is seen first but is the last class: its column is picked after the last row."""
    rng = np.random.default_rng(8)
    n = 600
    y = rng.integers(0, 3, n)
    y[0] = 2
    probs = rng.dirichlet([1.0, 1.0, 1.0], n)
    names = np.array(["cat", "dog", "eel"])
    hard = np.where(rng.random(n) < 0.7, y, rng.integers(0, 3, n))
    path = tmp_path / "text.csv"
    cols = {f"q{j}": probs[:, j] for j in range(3)}
    pc.write_csv(pa.table({"y": names[y], "p": names[hard], **cols}), path)
    args = ["-t", "y", "--max", "9", "--confidence", "0.95", "-f", "json", "--chunk-size", "7"]
    code, out, _ = _cli("log_loss", str(path), "-p", "q0,q1,q2", *args)
    losses = -np.log(np.clip(probs[np.arange(n), y], EPS, 1 - EPS))
    assert code == 0
    _close(tuple(json.loads(out)["interval"]), _t(losses))
    code, out, _ = _cli("zero_one_loss", str(path), "-p", "p", *args)
    assert code == 0
    _close(tuple(json.loads(out)["interval"]), _t((hard != y).astype(float)))


def test_each_group_gets_the_t_interval_of_its_rows(data: dict) -> None:
    y, probs, g = data["y"], np.stack([data["p0"], data["p1"], data["p2"]]), data["g"]
    losses = -np.log(np.clip(probs[y, np.arange(y.size)], EPS, 1 - EPS))
    swapped = -np.log(np.clip(probs[[0, 2, 1]][y, np.arange(y.size)], EPS, 1 - EPS))
    cols = {"pred": "p0,p1,p2", "target": "y"}
    result = _run(data, "log_loss", cols, chunk=777, base="p0,p2,p1", group_by="g")
    for group, cell in zip(result.groups, result.groups.intervals, strict=True):
        rows = g == group.key[0]
        _close(cell.value[0].interval(0.95), _t(losses[rows]))
        _close(cell.difference[0].interval(0.95), _t(losses[rows] - swapped[rows]))
        assert cell.value[0].estimate == pytest.approx(group.value, rel=1e-15)


def test_json_baseline_and_check_file_for_a_label_metric(data: dict, tmp_path) -> None:
    """Against a JSON baseline (no rows): the candidate's own interval, or MOVER with the
    stored interval; a check file's ``confidence`` reaches label metrics; an inconclusive
    verdict fails under ``inconclusive = "fail"``."""
    right = (data["p"] == data["y"]).astype(float)
    base_right = (data["b"] == data["y"]).astype(float)
    common = [data["path"], "-t", "y", "-f", "json"]
    code, plain, _ = _cli("accuracy", *common, "-p", "b", "--min", "0")
    code2, stored, _ = _cli("accuracy", *common, "-p", "b", "--min", "0", "--confidence", "0.95")
    assert code == code2 == 0
    (tmp_path / "plain.json").write_text(plain)
    (tmp_path / "stored.json").write_text(stored)
    gate_args = ["-p", "p", "--min-decrease", "0", "--confidence", "0.95"]
    _, out, _ = _cli("accuracy", *common, *gate_args, "--baseline", str(tmp_path / "plain.json"))
    (gate,) = json.loads(out)["gates"]
    assert gate["method"] == "normal" and gate["verdict"] == "pass"
    _close(tuple(gate["interval"]), _t(right))
    _, out, _ = _cli("accuracy", *common, *gate_args, "--baseline", str(tmp_path / "stored.json"))
    (gate,) = json.loads(out)["gates"]
    assert gate["method"] == "normal+stored mover"
    (c_lo, c_hi), (b_lo, b_hi) = _t(right), _t(base_right)
    v, bv = np.mean(right), np.mean(base_right)
    assert gate["interval"][0] == pytest.approx(v - math.hypot(v - c_lo, b_hi - bv), rel=1e-12)
    assert gate["interval"][1] == pytest.approx(v + math.hypot(c_hi - v, bv - b_lo), rel=1e-12)
    lo, hi = _t(right)
    gate_file = tmp_path / "losscli.toml"
    gate_file.write_text(
        f'[defaults]\nfile = "{data["path"]}"\nconfidence = 0.95\ninconclusive = "fail"\n'
        f'[[check]]\nname = "acc"\nloss = "accuracy"\npred = "p"\ntarget = "y"\n'
        f"min = {float(lo + hi) / 2!r}\n"
    )
    r = invoke(["check", str(gate_file), "-f", "json", "--no-ci-report"])
    (gate,) = r.json["checks"][0]["gates"]
    assert r.code == 1 and gate["verdict"] == "inconclusive" and gate["method"] == "normal"
