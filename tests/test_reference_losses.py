"""PyTorch and Keras losses through the CLI and the engine, against vectors recorded from the
real libraries in float64 (tests/reference/regenerate.py writes them; PyTorch's Linux wheels pull
CUDA, so neither library is a test dependency).

Every recorded case runs as a file through losscli: ``--reduction none`` must give the
library's per-element (or per-row) values, ``mean``/``sum`` its reductions, at ≤ 1e-12 relative;
then sample weights, ``--per output``/``row``, groups and chunk sizes are checked against fsum
over the recorded per-row values."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

from losscli import engine
from losscli.catalogue import lookup
from tests.conftest import invoke, write_table

HERE = Path(__file__).resolve().parent / "reference"
TORCH = json.loads((HERE / "torch_losses.json").read_text())
KERAS = json.loads((HERE / "keras_losses.json").read_text())
REL = 1e-12
EPS = float(np.finfo(np.float64).eps)


class Mapped(NamedTuple):
    """A recorded case as a losscli run: loss name, parameters, columns, the data, the
    per-row (or per-element) reference values and the per-row mean denominators."""

    name: str
    params: dict[str, Any]
    columns: dict[str, str]
    data: dict[str, np.ndarray]
    rows: np.ndarray  # (n, k') reference values
    denominator: np.ndarray  # (n,) weight of each row in the library's mean
    mean: float
    total: float
    #: absolute slack per row where the recorded value cancels (kl_div's t·(log t − x) for
    #: t ≈ e^x): a few eps times the magnitudes of what cancels
    slack: np.ndarray | None = None
    per: str = "all"  # Keras's losses are per-row means over the last axis: --per row
    keras_weights: np.ndarray | None = None  # Keras's own sample weights ...
    keras_weighted_sum: float | None = None  # ... and its weighted 'sum' reduction


def _columns(prefix: str, block: np.ndarray) -> tuple[dict[str, np.ndarray], str]:
    if block.ndim == 1:
        return {prefix: block}, prefix
    data = {f"{prefix}{j}": block[:, j] for j in range(block.shape[1])}
    return data, ",".join(data)


def _torch(case: dict[str, Any]) -> Mapped:
    p = dict(case["params"])
    x = np.array(case["inputs"]["input"], dtype=np.float64)
    y = np.array(case["inputs"]["target"], dtype=np.float64)
    px, pcols = _columns("x", x)
    ty, tcols = _columns("y", y)
    none = np.array(case["none"], dtype=np.float64)
    rows = none.reshape(len(x), -1)
    denominator = np.ones(len(x))
    mean = case["mean"]
    loss = case["loss"]
    slack = None
    if loss == "poisson_nll_loss":
        name, params = "poisson_nll", p
    elif loss == "soft_margin_loss":
        name, params = "soft_margin", {}
    elif loss == "multilabel_soft_margin_loss":
        name, params = "multilabel_soft_margin", {"class_weight": p["weight"]}
    elif loss == "multi_margin_loss":
        name = "multi_margin"
        params = {"p": p["p"], "margin": p["margin"], "class_weight": p["weight"]}
    elif loss == "binary_cross_entropy_with_logits":
        name, params = "binary_cross_entropy", {"with_logits": True, "pos_weight": p["pos_weight"]}
    elif loss == "cross_entropy":
        name = "cross_entropy"
        params = {"label_smoothing": p["label_smoothing"], "class_weight": p["weight"]}
        if p["weight"] is not None and p["targets"] == "index":
            denominator = np.array(p["weight"])[y.astype(int)]
    elif loss == "kl_div":
        name, params = "kl_div", {"log_target": False}
        rows = none.sum(axis=1, keepdims=True)  # PyTorch's 'none' is elementwise
        with np.errstate(divide="ignore", invalid="ignore"):
            t_log_t = np.where(y > 0, y * np.log(y), 0.0)
        terms = np.abs(t_log_t) + np.abs(y * x)  # each of t·(log t − x) cancels inside
        slack = 8 * EPS * terms.sum(axis=1, keepdims=True)
        mean = case["batchmean"]
    else:
        raise AssertionError(loss)
    return Mapped(
        name,
        params,
        {"pred": pcols, "target": tcols},
        {**px, **ty},
        rows,
        denominator,
        mean,
        case["sum"],
        slack=slack,
    )


def _keras(case: dict[str, Any]) -> Mapped:
    p = dict(case["params"])
    y = np.array(case["inputs"]["y_true"], dtype=np.float64)
    x = np.array(case["inputs"]["y_pred"], dtype=np.float64)
    px, pcols = _columns("x", x)
    ty, tcols = _columns("y", y)
    params = {k: v for k, v in p.items() if k != "labels"}
    rows = np.array(case["none"], dtype=np.float64).reshape(len(x), 1)
    return Mapped(
        case["loss"],
        params,
        {"pred": pcols, "target": tcols},
        {**px, **ty},
        rows,
        np.ones(len(x)),
        case["mean"],
        case["sum"],
        per="row",
        keras_weights=np.array(case["sample_weight"]),
        keras_weighted_sum=case["weighted_sum"],
    )


def _id(case: dict[str, Any]) -> str:
    params = ",".join(f"{k}={v}" for k, v in case["params"].items())
    return f"{case['loss']}[{params}]"


def _close(actual: Any, expected: Any, rel: float = REL) -> None:
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, (a.shape, e.shape)
    assert np.all(np.abs(a - e) <= rel * np.abs(e)), (a, e)


def _run(path: Path, m: Mapped, **options: Any) -> engine.LossResult:
    spec = lookup(m.name)
    assert spec is not None
    params = {**spec.defaults(), **m.params}
    request = engine.LossRequest(spec, params, dict(m.columns))
    return engine.run([request], engine.RunOptions(files=[str(path)], **options))[0]


def _per_row_output(path: Path, m: Mapped) -> np.ndarray:
    """``--reduction none`` through the CLI, as an (n, k') array."""
    args = [m.name, str(path), "-p", m.columns["pred"], "-t", m.columns["target"]]
    for key, value in m.params.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        spec = lookup(m.name)
        assert spec is not None
        param = next(q for q in spec.params if q.name == key)
        if param.type is bool:
            on, off = param.cli_flags or (flag, "--no-" + flag[2:])
            args.append(on if value else off)
        elif isinstance(value, list):
            args += [flag, ",".join(repr(float(v)) for v in value)]
        else:
            args += [flag, repr(value)]
    out = invoke([*args, "-r", "none", "--per", m.per, "-f", "json"])
    assert out.code == 0, out.err
    values = np.array(out.json["value"], dtype=np.float64)
    return values.reshape(len(m.rows), -1)


def _reference_cancels(m: Mapped, got: np.ndarray) -> np.ndarray:
    """Where the library's own float64 evaluation cancels, its recorded value is only good to
    its rounding bound: PyTorch computes BCE-with-logits as ``(1 − y)·x + lw·(log1p(e^−|x|) +
    max(−x, 0))`` and cross entropy as ``logsumexp(x) − x_y``, so a loss far below the logits'
    magnitude (x = −200, y = 0 gives 0 instead of e^−200) is off by a few eps·max|x|·w. Those
    elements are checked against that bound (losscli's kernels keep full relative accuracy
    there); all others at 1e-12."""
    if m.per != "all" or m.name not in ("binary_cross_entropy", "cross_entropy"):
        return np.zeros(m.rows.shape, dtype=bool)
    x = np.stack([m.data[c] for c in m.columns["pred"].split(",")], axis=1)
    scale = np.max(np.abs(x), axis=1, keepdims=True)
    weights = m.params.get("pos_weight") or m.params.get("class_weight") or [1.0]
    cancels = np.abs(m.rows) < 1e-10 * scale
    bound = 4 * EPS * scale * max(1.0, *weights)
    assert np.all((np.abs(got - m.rows) <= bound)[cancels])
    return cancels


CASES = [_torch(c) for c in TORCH["cases"]] + [_keras(c) for c in KERAS["cases"]]
IDS = [_id(c) for c in TORCH["cases"]] + [_id(c) for c in KERAS["cases"]]
IDS = [i for i, m in zip(IDS, CASES, strict=True) if lookup(m.name) is not None]
CASES = [m for m in CASES if lookup(m.name) is not None]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reference")


def _file(folder: Path, index: int, m: Mapped) -> Path:
    path = folder / f"case{index}.parquet"
    if not path.exists():
        n = len(m.rows)
        w = np.linspace(0.25, 3.0, n)
        groups = np.array(["a", "b", "c"])[np.arange(n) % 3]
        extra = {} if m.keras_weights is None else {"kw": m.keras_weights}
        write_table(path, {**m.data, "w": w, "g": groups, **extra})
    return path


@pytest.mark.parametrize(("index", "m"), list(enumerate(CASES)), ids=IDS)
def test_recorded_values_through_the_cli_and_engine(folder: Path, index: int, m: Mapped) -> None:
    path = _file(folder, index, m)
    got = _per_row_output(path, m)
    cancels = _reference_cancels(m, got)
    if m.slack is not None:
        assert np.all(np.abs(got - m.rows) <= REL * np.abs(m.rows) + m.slack)
    else:
        _close(np.where(cancels, 1.0, got), np.where(cancels, 1.0, m.rows))
    _close(_run(path, m, reduction="sum", per=m.per).value, m.total)
    if m.keras_weighted_sum is not None:
        _close(_run(path, m, reduction="sum", per="row", weight="kw").value, m.keras_weighted_sum)
    k = m.rows.shape[1]
    # losscli's mean over every element is the library's (PyTorch: the weighted mean for class
    # weights, 'batchmean' for kl_div; Keras: sum_over_batch_size of per-row means)
    _close(_run(path, m).value, m.mean)
    flat = m.rows
    w = np.linspace(0.25, 3.0, len(flat))
    weighted_num = math.fsum((flat * w[:, None]).ravel().tolist())
    weighted_den = k * math.fsum((m.denominator * w).tolist())
    _close(_run(path, m, weight="w").value, weighted_num / weighted_den)
    if k > 1:
        per_output = [math.fsum(flat[:, j].tolist()) / len(flat) for j in range(k)]
        _close(_run(path, m, per="output").value, per_output)
    one = _run(path, m, weight="w", group_by="g").value
    for size in (1, 5):
        _close(_run(path, m, weight="w", group_by="g", chunk_size=size).value, one, rel=1e-13)
    grouped = _run(path, m, group_by="g", chunk_size=4)
    for g in grouped.groups:
        rows = np.arange(len(flat)) % 3 == "abc".index(g.key[0])
        num = math.fsum(flat[rows].ravel().tolist())
        _close(g.value, num / (k * math.fsum(m.denominator[rows].tolist())))


# -- hand-worked values ----------------------------------------------------------------------------
def test_hand_worked_pytorch_values(tmp_path: Path) -> None:
    # poisson_nll, log input: exp(0) − 2·0 = 1; exp(ln 3) − 3·ln 3 = 3 − 3 ln 3; full adds
    # Stirling's 3 ln 3 − 3 + ½ ln 6π for y = 3 > 1 (not for y = 0 ≤ 1).
    path = write_table(tmp_path / "p.csv", {"pred": [0.0, math.log(3.0)], "target": [0.0, 3.0]})
    out = invoke(["poisson_nll", str(path), "-r", "sum", "-f", "value"])
    assert float(out.out) == pytest.approx(1 + 3 - 3 * math.log(3), rel=1e-15)
    out = invoke(["poisson_nll", str(path), "--full", "-r", "sum", "-f", "value"])
    assert float(out.out) == pytest.approx(1 + 0.5 * math.log(6 * math.pi), rel=1e-15)
    # multi_margin (PyTorch's docs): x = [0.1, 0.2, 0.4, 0.8], y = 3 →
    # (max(0, 1 − 0.8 + 0.1) + max(0, 1 − 0.8 + 0.2) + max(0, 1 − 0.8 + 0.4)) / 4 = 0.325
    path = write_table(
        tmp_path / "m.csv", {"a": [0.1], "b": [0.2], "c": [0.4], "d": [0.8], "y": [3]}
    )
    out = invoke(["multi_margin", str(path), "-p", "a,b,c,d", "-t", "y", "-f", "value"])
    assert float(out.out) == pytest.approx(0.325, rel=1e-15)
    # class-weighted cross entropy: two tied rows (loss ln 2 each), classes weighted 1 and 3:
    # (1·ln 2 + 3·ln 2) / (1 + 3) = ln 2, while the sum is 4·ln 2
    path = write_table(tmp_path / "c.csv", {"a": [0.0, 0.0], "b": [0.0, 0.0], "y": [0, 1]})
    base = ["cross_entropy", str(path), "-p", "a,b", "-t", "y", "--class-weight", "1,3"]
    assert float(invoke([*base, "-f", "value"]).out) == pytest.approx(math.log(2), rel=1e-15)
    assert float(invoke([*base, "-r", "sum", "-f", "value"]).out) == pytest.approx(
        4 * math.log(2), rel=1e-15
    )
    # pos_weight 3 on a logit of 0 with y = 1: 3·ln 2
    path = write_table(tmp_path / "b.csv", {"pred": [0.0], "target": [1.0]})
    out = invoke(["binary_cross_entropy", str(path), "--pos-weight", "3", "-f", "value"])
    assert float(out.out) == pytest.approx(3 * math.log(2), rel=1e-15)


def test_list_parameters_in_eval_and_their_errors(tmp_path: Path) -> None:
    path = write_table(tmp_path / "c.csv", {"a": [0.0, 1.0], "b": [0.0, 2.0], "y": [0, 1]})
    out = invoke(
        ["eval", str(path), "-p", "a,b", "-t", "y", "-m", "ce:class_weight=1;3", "-f", "json"]
    )
    assert out.code == 0, out.err
    assert out.json["results"][0]["params"]["class_weight"] == [1.0, 3.0]
    bad = invoke(["cross_entropy", str(path), "-p", "a,b", "-t", "y", "--class-weight", "1,x"])
    assert bad.code == 2 and "comma-separated numbers" in bad.err
    bad = invoke(["cross_entropy", str(path), "-p", "a,b", "-t", "y", "--class-weight", "1,2,3"])
    assert bad.code == 2 and "--class-weight needs 1 or 2 values" in bad.err
    bad = invoke(["cross_entropy", str(path), "-p", "a,b", "-t", "y", "--class-weight", "1,-2"])
    assert bad.code == 2 and "values ≥ 0" in bad.err
    bad = invoke(
        ["binary_cross_entropy", str(path), "-p", "a", "-t", "y", "--probs", "--pos-weight", "2"]
    )
    assert bad.code == 2 and "--pos-weight needs --logits" in bad.err


@pytest.mark.parametrize(
    ("args", "data", "needle"),
    [
        (
            ["kl_div", "--prob-target", "-p", "a,b", "-t", "s,u"],
            {"a": [-0.7, -0.7], "b": [-0.7, -0.7], "s": [0.5, 1.5], "u": [0.5, -0.5]},
            "column 's', row 2: probability targets must lie in [0, 1] (got 1.5)",
        ),
        (
            ["poisson_nll", "--rate-input"],
            {"pred": [1.0, -0.5], "target": [1.0, 1.0]},
            "column 'pred', row 2: rates must be > -eps (got -0.5)",
        ),
        (
            ["binary_crossentropy"],
            {"pred": [0.2, 2.5], "target": [0.0, 1.0]},
            "column 'pred', row 2: probabilities must lie in [0, 1] (logits? pass --from-logits)",
        ),
        (
            ["categorical_crossentropy", "-p", "a,b", "-t", "s,u"],
            {"a": [0.5, 0.0], "b": [0.5, 0.0], "s": [1.0, 0.0], "u": [0.0, 1.0]},
            "column 'a', row 2: a row of probabilities must not sum to 0",
        ),
        (
            ["kl_divergence", "-p", "a,b", "-t", "s,u"],
            {"a": [0.5, 0.5], "b": [0.5, 0.5], "s": [1.0, -0.1], "u": [0.0, 1.1]},
            "column 's', row 2: probabilities must lie in [0, 1] (got -0.1)",
        ),
        (
            ["sparse_categorical_crossentropy", "-p", "a,b", "-t", "y"],
            {"a": [0.5, 0.5], "b": [0.5, 0.5], "y": [0, 2]},
            "column 'y', row 2: a class index",
        ),
        (
            ["multi_margin", "-p", "a,b", "-t", "y"],
            {"a": [0.0, 1.0], "b": [1.0, 0.0], "y": [1, 2]},
            "column 'y', row 2: a class index",
        ),
    ],
)
def test_domain_errors_name_column_and_row(
    tmp_path: Path, args: list[str], data: dict[str, list[float]], needle: str
) -> None:
    path = write_table(tmp_path / "d.csv", data)
    out = invoke([args[0], str(path), *args[1:]])
    assert out.code == 3 and needle in out.err, out.err


def test_hand_worked_keras_values(tmp_path: Path) -> None:
    # binary_crossentropy: p = 0 is clipped to 1e-7, so y = 1 costs −log(1e-7) = 7·ln 10
    path = write_table(tmp_path / "b.csv", {"pred": [0.0, 0.6], "target": [1.0, 1.0]})
    out = invoke(["binary_crossentropy", str(path), "-r", "none", "-f", "value"])
    first, second = (float(v) for v in out.out.split())
    assert first == pytest.approx(-math.log(1e-7), rel=1e-15)
    assert second == pytest.approx(-math.log(0.6), rel=1e-15)
    # the same numbers as logits are accepted only with --from-logits: log(1 + e^−0.6)
    out = invoke(["binary_crossentropy", str(path), "--from-logits", "-r", "sum", "-f", "value"])
    assert float(out.out) == pytest.approx(math.log(2) + math.log1p(math.exp(-0.6)), rel=1e-15)
    # categorical_crossentropy renormalises rows: [0.2, 0.2] → [0.5, 0.5], −log 0.5
    path = write_table(tmp_path / "c.csv", {"a": [0.2], "b": [0.2], "s": [1.0], "u": [0.0]})
    out = invoke(["categorical_crossentropy", str(path), "-p", "a,b", "-t", "s,u", "-f", "value"])
    assert float(out.out) == pytest.approx(math.log(2), rel=1e-15)
    # focal with γ = 2: (1 − 0.5)²·ln 2 per element for p = 0.5
    path = write_table(tmp_path / "f.csv", {"pred": [0.5], "target": [1.0]})
    out = invoke(["binary_focal_crossentropy", str(path), "-f", "value"])
    assert float(out.out) == pytest.approx(0.25 * math.log(2), rel=1e-15)


# -- the Python API against the same recorded values ------------------------------------------------
def _api_rows(case: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(none, mean, sum) from ``losscli.losses`` under the library's own function name."""
    from losscli import losses

    p = case["params"]
    name = case["loss"]
    if "input" in case["inputs"]:
        x = np.array(case["inputs"]["input"])
        y = np.array(case["inputs"]["target"])
        if name == "poisson_nll_loss":
            fn: Any = lambda r: losses.poisson_nll_loss(x, y, **p, reduction=r)  # noqa: E731
        elif name == "soft_margin_loss":
            fn = lambda r: losses.soft_margin_loss(x, y, reduction=r)  # noqa: E731
        elif name == "multilabel_soft_margin_loss":
            fn = lambda r: losses.multilabel_soft_margin_loss(x, y, p["weight"], reduction=r)  # noqa: E731
        elif name == "multi_margin_loss":
            fn = lambda r: losses.multi_margin_loss(  # noqa: E731
                x, y, p=p["p"], margin=p["margin"], weight=p["weight"], reduction=r
            )
        elif name == "binary_cross_entropy_with_logits":
            fn = lambda r: losses.binary_cross_entropy_with_logits(  # noqa: E731
                x, y, reduction=r, pos_weight=p["pos_weight"]
            )
        elif name == "cross_entropy":
            fn = lambda r: losses.weighted_cross_entropy(  # noqa: E731
                x, y, p["weight"], reduction=r, label_smoothing=p["label_smoothing"]
            )
        else:
            raise AssertionError(name)
        return fn("none"), fn("mean"), fn("sum")
    y = np.array(case["inputs"]["y_true"])
    x = np.array(case["inputs"]["y_pred"])
    kwargs = {k: v for k, v in p.items() if k != "labels"}
    rows = getattr(losses, name if name != "poisson" else "poisson_loss")(y, x, **kwargs)
    return rows, float(np.mean(rows)), float(np.sum(rows))


# kl_div(log_target=False) is a CLI flag (--prob-target) of MLX's kl_div / kl_div_loss
API_CASES = [c for c in TORCH["cases"] + KERAS["cases"] if c["loss"] != "kl_div"]


@pytest.mark.parametrize("case", API_CASES, ids=_id)
def test_python_api_matches_the_recorded_values(case: dict[str, Any]) -> None:
    rows, mean, total = _api_rows(case)
    want = np.array(case["none"], dtype=np.float64)
    cancels = np.zeros(want.shape, dtype=bool)
    if case["loss"] in ("binary_cross_entropy_with_logits", "cross_entropy"):
        x = np.array(case["inputs"]["input"])
        scale = np.max(np.abs(x), axis=-1, keepdims=True) if x.ndim == 2 else np.abs(x)
        if want.ndim == 1:
            scale = scale[:, 0]
        cancels = np.abs(want) < 1e-10 * scale  # PyTorch cancels there (see above)
    _close(np.where(cancels, 1.0, rows), np.where(cancels, 1.0, want))
    _close(total, case["sum"])
    _close(mean, case["mean"])


# -- an independent NumPy formula on more data ------------------------------------------------------
def _sigmoid_log(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)  # log σ(x)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    return x - np.logaddexp.reduce(x, axis=1, keepdims=True)


IND_N, IND_K = 500, 3
IND_RNG = np.random.default_rng(5)
X = IND_RNG.normal(0, 2, size=(IND_N, IND_K))
PR = IND_RNG.uniform(0.001, 0.999, size=(IND_N, IND_K))
Y01 = IND_RNG.integers(0, 2, size=(IND_N, IND_K)).astype(float)
YPM = 2 * Y01 - 1
CLS = IND_RNG.integers(0, IND_K, size=IND_N)
ONEHOT = np.eye(IND_K)[CLS]
DIST = IND_RNG.dirichlet(np.ones(IND_K), size=IND_N)
COUNTS = IND_RNG.poisson(3.0, size=(IND_N, IND_K)).astype(float)
RATES = IND_RNG.gamma(2.0, 1.5, size=(IND_N, IND_K))
CW = np.array([0.5, 2.0, 1.5])
IND_W = IND_RNG.uniform(0.1, 3.0, size=IND_N)


def _q(p: np.ndarray) -> np.ndarray:
    """Keras: rows renormalised, then clipped to [1e-7, 1 − 1e-7]."""
    return np.clip(p / p.sum(axis=1, keepdims=True), 1e-7, 1 - 1e-7)


def _kbce(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


# (name, params, pred, target, per-row reference (n,) and the per-row mean denominators)
INDEPENDENT: list[tuple[str, dict[str, Any], np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = [
    (
        "poisson_nll",
        {"full": True},
        X,
        COUNTS,
        (
            np.exp(X)
            - COUNTS * X
            + np.where(
                COUNTS > 1,
                COUNTS * np.log(np.maximum(COUNTS, 1))
                - COUNTS
                + 0.5 * np.log(2 * np.pi * np.maximum(COUNTS, 1)),
                0,
            )
        ).mean(axis=1),
        np.ones(IND_N),
    ),
    (
        "poisson_nll",
        {"log_input": False, "eps": 1e-8},
        RATES,
        COUNTS,
        (RATES - COUNTS * np.log(RATES + 1e-8)).mean(axis=1),
        np.ones(IND_N),
    ),
    ("soft_margin", {}, X, YPM, np.logaddexp(0, -YPM * X).mean(axis=1), np.ones(IND_N)),
    (
        "multilabel_soft_margin",
        {"class_weight": list(CW)},
        X,
        Y01,
        (-(Y01 * _sigmoid_log(X) + (1 - Y01) * _sigmoid_log(-X)) * CW).mean(axis=1),
        np.ones(IND_N),
    ),
    (
        "multi_margin",
        {"p": 2, "margin": 0.7, "class_weight": list(CW)},
        X,
        CLS.astype(float),
        np.array(
            [
                sum(CW[c] * max(0.0, 0.7 - X[i, c] + X[i, j]) ** 2 for j in range(IND_K) if j != c)
                / IND_K
                for i, c in enumerate(CLS)
            ]
        ),
        np.ones(IND_N),
    ),
    (
        "binary_cross_entropy",
        {"pos_weight": [2.5, 1.0, 0.5]},
        X,
        PR,
        (-(np.array([2.5, 1.0, 0.5]) * PR * _sigmoid_log(X) + (1 - PR) * _sigmoid_log(-X))).mean(
            axis=1
        ),
        np.ones(IND_N),
    ),
    (
        "cross_entropy",
        {"class_weight": list(CW), "label_smoothing": 0.2},
        X,
        CLS.astype(float),
        0.8 * CW[CLS] * -_log_softmax(X)[np.arange(IND_N), CLS]
        + 0.2 / IND_K * -(_log_softmax(X) * CW).sum(axis=1),
        CW[CLS],
    ),
    (
        "kl_div",
        {"log_target": False},
        _log_softmax(X),
        DIST,
        (DIST * (np.log(DIST) - _log_softmax(X))).sum(axis=1),
        np.ones(IND_N),
    ),
    (
        "squared_hinge",
        {},
        X,
        Y01,
        (np.maximum(1 - (2 * Y01 - 1) * X, 0) ** 2).mean(axis=1),
        np.ones(IND_N),
    ),
    (
        "categorical_hinge",
        {},
        X,
        ONEHOT,
        np.maximum(((1 - ONEHOT) * X).max(axis=1) - (ONEHOT * X).sum(axis=1) + 1, 0),
        np.ones(IND_N),
    ),
    ("binary_crossentropy", {}, PR, Y01, _kbce(Y01, PR).mean(axis=1), np.ones(IND_N)),
    (
        "binary_crossentropy",
        {"from_logits": True, "label_smoothing": 0.1},
        X,
        Y01,
        (
            -((Y01 * 0.9 + 0.05) * _sigmoid_log(X) + (1 - (Y01 * 0.9 + 0.05)) * _sigmoid_log(-X))
        ).mean(axis=1),
        np.ones(IND_N),
    ),
    (
        "binary_focal_crossentropy",
        {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5},
        PR,
        Y01,
        (
            (Y01 * 0.3 + (1 - Y01) * 0.7)
            * (1 - (Y01 * PR + (1 - Y01) * (1 - PR))) ** 1.5
            * _kbce(Y01, PR)
        ).mean(axis=1),
        np.ones(IND_N),
    ),
    (
        "categorical_crossentropy",
        {},
        PR,
        DIST,
        -(DIST * np.log(_q(PR))).sum(axis=1),
        np.ones(IND_N),
    ),
    (
        "sparse_categorical_crossentropy",
        {"from_logits": True},
        X,
        CLS.astype(float),
        -_log_softmax(X)[np.arange(IND_N), CLS],
        np.ones(IND_N),
    ),
    (
        "categorical_focal_crossentropy",
        {"alpha": 0.4, "gamma": 2.0},
        PR,
        ONEHOT,
        (0.4 * (1 - _q(PR)) ** 2 * -ONEHOT * np.log(_q(PR))).sum(axis=1),
        np.ones(IND_N),
    ),
    (
        "kl_divergence",
        {},
        PR / PR.sum(axis=1, keepdims=True),
        DIST,
        (DIST * np.log(DIST / np.clip(PR / PR.sum(axis=1, keepdims=True), 1e-7, 1))).sum(axis=1),
        np.ones(IND_N),
    ),
]


@pytest.mark.parametrize(
    ("name", "params", "pred", "target", "rows", "denominator"),
    INDEPENDENT,
    ids=[f"{c[0]}{c[1]}" for c in INDEPENDENT],
)
def test_an_independent_numpy_formula_on_more_data(
    tmp_path: Path,
    name: str,
    params: dict[str, Any],
    pred: np.ndarray,
    target: np.ndarray,
    rows: np.ndarray,
    denominator: np.ndarray,
) -> None:
    px, pcols = _columns("x", pred)
    ty, tcols = _columns("y", target)
    path = write_table(tmp_path / "ind.parquet", {**px, **ty, "w": IND_W}, row_group_size=97)
    m = Mapped(name, params, {"pred": pcols, "target": tcols}, {}, rows[:, None], denominator, 0, 0)
    _close(
        _run(path, m, per="row").value, math.fsum(rows.tolist()) / math.fsum(denominator.tolist())
    )
    weighted = math.fsum((rows * IND_W).tolist()) / math.fsum((denominator * IND_W).tolist())
    _close(_run(path, m, per="row", weight="w", chunk_size=64).value, weighted)


def test_poisson_eps_is_keras_by_default_and_settable(tmp_path: Path) -> None:
    # a zero rate with one event: 0 − 1·log(0 + eps)
    path = write_table(tmp_path / "p.csv", {"pred": [0.0], "target": [1.0]})
    out = invoke(["poisson", str(path), "-f", "value"])
    assert float(out.out) == pytest.approx(-math.log(1e-7), rel=1e-15)
    out = invoke(["poisson", str(path), "--eps", "1e-8", "-f", "value"])
    assert float(out.out) == pytest.approx(-math.log(1e-8), rel=1e-15)
    out = invoke(["eval", str(path), "-m", "poisson:eps=1e-8", "-f", "json"])
    assert out.json["results"][0]["value"] == pytest.approx(-math.log(1e-8), rel=1e-15)
