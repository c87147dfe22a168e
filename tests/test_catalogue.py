"""Every registry loss through the streaming engine, against an independent reference:
MLX itself (float64 on the CPU) for the fourteen mlx.nn.losses, scikit-learn for the regression
metrics, NumPy for Keras' poisson. Also: chunked == one pass, groups == filtering the file per
key, eval == separate runs, and every loss listed, documented and reachable from the CLI."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from losscli import engine
from losscli.catalogue import LOSSES, lookup
from losscli.errors import DataError, UsageError
from tests.conftest import invoke, write_table

mx = importlib.import_module("mlx.core")
mlx_losses = importlib.import_module("mlx.nn.losses")
sk_metrics = importlib.import_module("sklearn.metrics")

N = 400
K = 3
REL = 1e-12


def _data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    cols: dict[str, np.ndarray] = {}
    scale = np.array([0.01, 1.0, 30.0])
    pred = rng.normal(size=(N, K)) * scale
    target = pred + rng.normal(size=(N, K)) * scale * rng.choice([0.1, 1.0, 3.0], size=(N, K))
    for j in range(K):
        cols[f"p{j}"] = pred[:, j]
        cols[f"t{j}"] = target[:, j]
        cols[f"v{j}"] = rng.uniform(0.05, 4.0, size=N)  # variances
        cols[f"pp{j}"] = rng.gamma(2.0, 1.5, size=N)  # positive predictions
        cols[f"pt{j}"] = rng.gamma(2.0, 1.5, size=N)  # positive targets
        cols[f"b{j}"] = rng.uniform(0.001, 0.999, size=N)  # probabilities
        cols[f"l{j}"] = rng.integers(0, 2, size=N).astype(float)  # 0/1 labels
        cols[f"s{j}"] = rng.choice([-1.0, 1.0], size=N)  # ±1 labels
        cols[f"z{j}"] = rng.normal(size=N) * 4  # logits
        cols[f"n{j}"] = rng.normal(size=N)  # negatives (triplet)
    logp = cols["z0"], cols["z1"], cols["z2"]
    stacked = np.stack(logp, axis=1)
    log_softmax = stacked - np.log(np.exp(stacked).sum(axis=1, keepdims=True))
    for j in range(K):
        cols[f"lp{j}"] = log_softmax[:, j]
    other = rng.normal(size=(N, K)) * 2
    other_ls = other - np.log(np.exp(other).sum(axis=1, keepdims=True))
    for j in range(K):
        cols[f"lq{j}"] = other_ls[:, j]
    cols["label"] = rng.integers(0, K, size=N).astype(float)
    cols["w"] = rng.uniform(0.1, 5.0, size=N)
    cols["g"] = rng.choice(np.array(["a", "b", "c"]), size=N)
    return cols


DATA = _data()


def cols(prefix: str, k: int = K) -> np.ndarray:
    return np.stack([DATA[f"{prefix}{j}"] for j in range(k)], axis=1)


def glob(prefix: str, k: int = K) -> str:
    return ",".join(f"{prefix}{j}" for j in range(k))


def m(x: np.ndarray) -> Any:
    return mx.array(x, dtype=mx.float64)


def to_np(x: Any) -> np.ndarray:
    return np.array(x, dtype=np.float64)


@dataclass
class Case:
    """A loss, its CLI columns/params and a reference giving elementwise losses (n, k') or,
    for metrics, the value for (sample_weight, multioutput)."""

    name: str
    columns: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    elementwise: Callable[[], np.ndarray] | None = None
    metric: Callable[[np.ndarray | None, str], Any] | None = None
    # MLX's float64 exp on the CPU is a fast approximation (~2e-6 relative error, measured in
    # test_mlx_float64_exp_is_approximate): losses built on exp get an independent NumPy
    # float64 reference at 1e-12 and are compared with MLX itself at this looser tolerance.
    numpy_reference: Callable[[], np.ndarray] | None = None
    mlx_rel: float = REL


def _mlx(fn: str, *arrays: np.ndarray, **kw: Any) -> Callable[[], np.ndarray]:
    def run() -> np.ndarray:
        out = to_np(getattr(mlx_losses, fn)(*(m(a) for a in arrays), reduction="none", **kw))
        return out.reshape(N, -1)

    return run


def _sk(
    fn: str, y: np.ndarray, p: np.ndarray, **kw: Any
) -> Callable[[np.ndarray | None, str], Any]:
    def run(weights: np.ndarray | None, multioutput: str) -> Any:
        return getattr(sk_metrics, fn)(y, p, sample_weight=weights, multioutput=multioutput, **kw)

    return run


def _log_cosh_ref() -> np.ndarray:
    a = np.abs(cols("p") - cols("t"))
    small = np.log1p(2.0 * np.sinh(a / 2.0) ** 2)
    mid = np.log(np.cosh(np.minimum(a, 20.0)))
    large = a - math.log(2.0) + np.log1p(np.exp(-2.0 * a))
    return np.where(a < 0.5, small, np.where(a < 20.0, mid, large))


def _logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, 0]


def _cross_entropy_ref(targets: np.ndarray, smoothing: float) -> Callable[[], np.ndarray]:
    def run() -> np.ndarray:
        # MLX shifts logits by their row maximum before scoring; with probability targets that
        # do not sum to 1 the shift is part of the definition.
        z = cols("z") - cols("z").max(axis=1, keepdims=True)
        if targets.ndim == 1:
            score = z[np.arange(N), targets.astype(int)]
        else:
            score = (z * targets).sum(axis=1)
        loss = _logsumexp(z) - (1 - smoothing) * score - smoothing * z.mean(axis=1)
        return loss.reshape(N, 1)

    return run


EXP_TOL = 5e-6

PT = {"pred": glob("p"), "target": glob("t")}
POS = {"pred": glob("pp"), "target": glob("pt")}
LABEL_INDEX = cols("label", 1)[:, 0] if False else DATA["label"]

CASES = [
    Case("mse", PT, elementwise=_mlx("mse_loss", cols("p"), cols("t"))),
    Case("l1", PT, elementwise=_mlx("l1_loss", cols("p"), cols("t"))),
    Case("huber", PT, {"delta": 0.7}, _mlx("huber_loss", cols("p"), cols("t"), delta=0.7)),
    Case("smooth_l1", PT, {"beta": 0.5}, _mlx("smooth_l1_loss", cols("p"), cols("t"), beta=0.5)),
    Case(
        "log_cosh",
        PT,
        elementwise=_mlx("log_cosh_loss", cols("p"), cols("t")),
        numpy_reference=_log_cosh_ref,
        mlx_rel=EXP_TOL,
    ),
    Case(
        "binary_cross_entropy",
        {"pred": glob("z"), "target": glob("l")},
        {"with_logits": True},
        _mlx("binary_cross_entropy", cols("z"), cols("l"), with_logits=True),
        numpy_reference=lambda: np.logaddexp(0.0, cols("z")) - cols("z") * cols("l"),
        mlx_rel=EXP_TOL,
    ),
    Case(
        "binary_cross_entropy",
        {"pred": glob("b"), "target": glob("l")},
        {"with_logits": False},
        _mlx("binary_cross_entropy", cols("b"), cols("l"), with_logits=False),
    ),
    Case(
        "cross_entropy",
        {"pred": glob("z"), "target": "label"},
        {"label_smoothing": 0.0},
        lambda: to_np(
            mlx_losses.cross_entropy(
                m(cols("z")), mx.array(DATA["label"].astype(np.int32)), reduction="none"
            )
        ).reshape(N, 1),
        numpy_reference=_cross_entropy_ref(DATA["label"], 0.0),
        mlx_rel=EXP_TOL,
    ),
    Case(
        "cross_entropy",
        {"pred": glob("z"), "target": "label"},
        {"label_smoothing": 0.2},
        lambda: to_np(
            mlx_losses.cross_entropy(
                m(cols("z")),
                mx.array(DATA["label"].astype(np.int32)),
                label_smoothing=0.2,
                reduction="none",
            )
        ).reshape(N, 1),
        numpy_reference=_cross_entropy_ref(DATA["label"], 0.2),
        mlx_rel=EXP_TOL,
    ),
    Case(
        "cross_entropy",
        {"pred": glob("z"), "target": glob("b")},
        {"label_smoothing": 0.0},
        _mlx("cross_entropy", cols("z"), cols("b")),
        numpy_reference=_cross_entropy_ref(cols("b"), 0.0),
        mlx_rel=EXP_TOL,
    ),
    Case(
        "nll",
        {"pred": glob("lp"), "target": "label"},
        elementwise=lambda: to_np(
            mlx_losses.nll_loss(
                m(cols("lp")), mx.array(DATA["label"].astype(np.int32)), reduction="none"
            )
        ).reshape(N, 1),
    ),
    Case(
        "kl_div",
        {"pred": glob("lp"), "target": glob("lq")},
        elementwise=_mlx("kl_div_loss", cols("lp"), cols("lq")),
        numpy_reference=lambda: (
            (np.exp(cols("lq")) * (cols("lq") - cols("lp"))).sum(axis=1).reshape(N, 1)
        ),
        mlx_rel=EXP_TOL,
    ),
    Case(
        "gaussian_nll",
        {"pred": glob("p"), "target": glob("t"), "var": glob("v")},
        {"full": True, "eps": 1e-6},
        _mlx("gaussian_nll_loss", cols("p"), cols("t"), cols("v"), full=True),
    ),
    Case(
        "gaussian_nll",
        {"pred": glob("p"), "target": glob("t"), "var": glob("v")},
        {"full": False, "eps": 0.5},
        _mlx("gaussian_nll_loss", cols("p"), cols("t"), cols("v"), eps=0.5),
    ),
    Case(
        "hinge",
        {"pred": glob("p"), "target": glob("s")},
        elementwise=_mlx("hinge_loss", cols("p"), cols("s")),
    ),
    Case(
        "margin_ranking",
        {"input1": "p0", "input2": "t0", "target": "s0"},
        {"margin": 0.3},
        lambda: to_np(
            mlx_losses.margin_ranking_loss(
                m(DATA["p0"]), m(DATA["t0"]), m(DATA["s0"]), margin=0.3, reduction="none"
            )
        ).reshape(N, 1),
    ),
    Case(
        "cosine_similarity",
        {"pred": glob("p"), "target": glob("t")},
        {"eps": 1e-8},
        lambda: to_np(
            mlx_losses.cosine_similarity_loss(m(cols("p")), m(cols("t")), reduction="none")
        ).reshape(N, 1),
    ),
    Case(
        "triplet",
        {"anchor": glob("p"), "positive": glob("t"), "negative": glob("n")},
        {"p": 2, "margin": 1.0, "eps": 1e-6},
        lambda: to_np(
            mlx_losses.triplet_loss(m(cols("p")), m(cols("t")), m(cols("n")), reduction="none")
        ).reshape(N, 1),
    ),
    Case(
        "triplet",
        {"anchor": glob("p"), "positive": glob("t"), "negative": glob("n")},
        {"p": 3, "margin": 0.5, "eps": 1e-6},
        lambda: to_np(
            mlx_losses.triplet_loss(
                m(cols("p")), m(cols("t")), m(cols("n")), p=3, margin=0.5, reduction="none"
            )
        ).reshape(N, 1),
    ),
    Case(
        "mape",
        PT,
        elementwise=lambda: (
            np.abs(cols("p") - cols("t")) / np.maximum(np.abs(cols("t")), np.finfo(float).eps)
        ),
    ),
    Case("poisson", POS, elementwise=lambda: cols("pp") - cols("pt") * np.log(cols("pp") + 1e-7)),
    Case(
        "pinball",
        PT,
        {"alpha": 0.3},
        metric=_sk("mean_pinball_loss", cols("t"), cols("p"), alpha=0.3),
    ),
    Case("rmse", PT, metric=_sk("root_mean_squared_error", cols("t"), cols("p"))),
    Case("msle", POS, metric=_sk("mean_squared_log_error", cols("pt"), cols("pp"))),
    Case("rmsle", POS, metric=_sk("root_mean_squared_log_error", cols("pt"), cols("pp"))),
    Case("r2", PT, metric=_sk("r2_score", cols("t"), cols("p"))),
    Case("explained_variance", PT, metric=_sk("explained_variance_score", cols("t"), cols("p"))),
]


def _single(fn: str, **kw: Any) -> Callable[[np.ndarray | None, str], Any]:
    """scikit-learn metrics without multioutput support: per output column, then the mean."""

    def run(weights: np.ndarray | None, multioutput: str) -> Any:
        f = getattr(sk_metrics, fn)
        extra = {} if weights is None else {"sample_weight": weights}
        values = [f(DATA[f"pt{j}"], DATA[f"pp{j}"], **kw, **extra) for j in range(K)]
        return values if multioutput == "raw_values" else float(np.mean(values))

    return run


CASES += [
    Case("poisson_deviance", POS, metric=_single("mean_poisson_deviance")),
    Case("gamma_deviance", POS, metric=_single("mean_gamma_deviance")),
    Case(
        "tweedie_deviance", POS, {"power": 1.5}, metric=_single("mean_tweedie_deviance", power=1.5)
    ),
    Case(
        "tweedie_deviance", POS, {"power": 0.0}, metric=_single("mean_tweedie_deviance", power=0.0)
    ),
    Case(
        "tweedie_deviance", POS, {"power": 3.0}, metric=_single("mean_tweedie_deviance", power=3.0)
    ),
    Case(
        "max_error",
        POS,
        metric=lambda w, mo: (
            [sk_metrics.max_error(DATA[f"pt{j}"], DATA[f"pp{j}"]) for j in range(K)]
            if mo == "raw_values"
            else max(sk_metrics.max_error(DATA[f"pt{j}"], DATA[f"pp{j}"]) for j in range(K))
        ),
    ),
    Case("median_absolute_error", PT, metric=_sk("median_absolute_error", cols("t"), cols("p"))),
]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cat") / "data.parquet"
    write_table(path, {k: v for k, v in DATA.items()}, row_group_size=128)
    return path


def run_loss(path: Path, case: Case, **kw: Any) -> engine.LossResult:
    spec = lookup(case.name)
    assert spec is not None
    params = {**spec.defaults(), **case.params}
    options = engine.RunOptions(files=[str(path)], **kw)
    return engine.run([engine.LossRequest(spec, params, dict(case.columns))], options)[0]


def close(actual: Any, expected: Any, rel: float = REL) -> None:
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    e = np.atleast_1d(np.asarray(expected, dtype=float))
    assert a.shape == e.shape, (a, e)
    assert np.all(np.abs(a - e) <= rel * np.maximum(np.abs(e), 1e-300) + 1e-300), (a, e)


def case_id(case: Case) -> str:
    return case.name + (
        "-" + ",".join(f"{k}={v}" for k, v in case.params.items()) if case.params else ""
    )


ELEMENTWISE = [c for c in CASES if c.elementwise is not None]
METRICS = [c for c in CASES if c.metric is not None]


@pytest.mark.parametrize("case", ELEMENTWISE, ids=case_id)
def test_elementwise_losses_match_the_reference(data_file: Path, case: Case) -> None:
    assert case.elementwise is not None
    mlx_ref = case.elementwise()  # (n, k')
    ref = case.numpy_reference() if case.numpy_reference is not None else mlx_ref
    mlx_mean = math.fsum(mlx_ref.reshape(-1).tolist()) / mlx_ref.size
    close(run_loss(data_file, case, reduction="mean").value, mlx_mean, rel=case.mlx_rel)
    w = DATA["w"]
    flat = ref.reshape(-1).tolist()
    # unweighted mean and sum over every element (MLX/PyTorch reduction)
    close(run_loss(data_file, case, reduction="mean").value, math.fsum(flat) / len(flat))
    close(run_loss(data_file, case, reduction="sum").value, math.fsum(flat))
    # per output (scikit-learn raw_values) and per row (Keras: mean over the last axis)
    per_output = [math.fsum(ref[:, j].tolist()) / N for j in range(ref.shape[1])]
    close(run_loss(data_file, case, per="output").value, per_output)
    row_means = ref.mean(axis=1)
    close(
        run_loss(data_file, case, per="row", reduction="sum").value, math.fsum(row_means.tolist())
    )
    # weighted: Σ w·l / Σ w with w broadcast over outputs
    weighted = math.fsum((ref * w[:, None]).reshape(-1).tolist()) / (
        ref.shape[1] * math.fsum(w.tolist())
    )
    close(run_loss(data_file, case, weight="w").value, weighted)


@pytest.mark.parametrize("case", METRICS, ids=case_id)
def test_metrics_match_scikit_learn(data_file: Path, case: Case) -> None:
    assert case.metric is not None
    close(run_loss(data_file, case).value, case.metric(None, "uniform_average"))
    close(run_loss(data_file, case, per="output").value, case.metric(None, "raw_values"))
    spec = lookup(case.name)
    assert spec is not None
    if spec.weighted:
        close(
            run_loss(data_file, case, weight="w").value, case.metric(DATA["w"], "uniform_average")
        )
        close(
            run_loss(data_file, case, weight="w", per="output").value,
            case.metric(DATA["w"], "raw_values"),
        )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_chunked_equals_one_pass(data_file: Path, case: Case) -> None:
    spec = lookup(case.name)
    assert spec is not None
    weight = "w" if spec.weighted else None
    one = run_loss(data_file, case, chunk_size=N, weight=weight).value
    for size in (1, 7, 100):
        value = run_loss(data_file, case, chunk_size=size, weight=weight).value
        assert value == one, (case.name, size)  # exact sums and exact moments: bit for bit


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_groups_equal_filtering_the_file(data_file: Path, case: Case, tmp_path: Path) -> None:
    """Every loss grouped (weighted where it takes weights, per output where it has outputs,
    in chunks that split groups) equals the loss over the file filtered to each key."""
    spec = lookup(case.name)
    assert spec is not None
    kw: dict[str, Any] = {"weight": "w" if spec.weighted else None}
    if "output" in spec.pers:
        kw["per"] = "output"
    for chunk_size in (50, 7):
        grouped = run_loss(data_file, case, group_by="g", chunk_size=chunk_size, **kw)
        assert [g.key for g in grouped.groups] == [("a",), ("b",), ("c",)]
        for g in grouped.groups:
            mask = DATA["g"] == g.key[0]
            part = tmp_path / f"{g.key[0]}.parquet"
            if not part.exists():
                write_table(part, {k: v[mask] for k, v in DATA.items()})
            alone = run_loss(part, case, **kw)
            assert g.rows == alone.rows == int(mask.sum())
            close(g.value, alone.value, rel=1e-13)


def test_eval_equals_separate_runs(data_file: Path) -> None:
    result = invoke(
        [
            "eval",
            str(data_file),
            "-p",
            "p0",
            "-t",
            "t0",
            "-m",
            "mse",
            "-m",
            "huber:delta=2",
            "-m",
            "r2",
            "-m",
            "median_absolute_error",
            "-f",
            "json",
        ]
    )
    assert result.code == 0, result.err
    doc = result.json
    assert doc["schema_version"] == 1
    got = {r["loss"]: r["value"] for r in doc["results"]}
    for name, extra in (
        ("mse", []),
        ("huber", ["--delta", "2"]),
        ("r2", []),
        ("median_absolute_error", []),
    ):
        alone = invoke([name, str(data_file), "-p", "p0", "-t", "t0", *extra, "-f", "json"]).json
        assert got[name] == alone["value"]


def test_cross_entropy_from_a_user_file(tmp_path: Path) -> None:
    """Three logit columns and an integer label column, as a user would have them."""
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(50, 3)) * 3
    labels = rng.integers(0, 3, size=50)
    path = write_table(
        tmp_path / "ce.csv",
        {
            "logit_0": logits[:, 0],
            "logit_1": logits[:, 1],
            "logit_2": logits[:, 2],
            "label": labels,
        },
    )
    out = invoke(["cross_entropy", str(path), "-p", "logit_*", "-t", "label", "-f", "value"])
    expected = mlx_losses.cross_entropy(m(logits), mx.array(labels), reduction="mean")
    close(float(out.out), float(to_np(expected)), rel=EXP_TOL)
    top = logits.max(axis=1)
    lse = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    exact = math.fsum((lse - logits[np.arange(50), labels]).tolist()) / 50
    close(float(out.out), exact)


def test_mlx_float64_exp_is_approximate() -> None:
    """Why EXP_TOL exists: MLX's CPU exp in float64 is not correctly rounded."""
    x = np.linspace(-20, 20, 10001)
    error = np.max(np.abs(to_np(mx.exp(m(x))) - np.exp(x)) / np.exp(x))
    assert 1e-12 < error < EXP_TOL


def test_every_loss_is_listed_and_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    listed = {e["name"] for e in json.loads(invoke(["list", "-f", "json"]).out)}
    assert listed == {spec.name for spec in LOSSES}
    for spec in LOSSES:
        assert invoke([spec.name, "--help"]).code == 0
        text = capsys.readouterr().out
        assert "Examples:" in text and spec.formula.split()[0] in text
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for spec in LOSSES:
        assert f"`{spec.name}`" in readme, f"{spec.name} missing from README's loss table"


def test_quantile_errors_state_their_passes_and_memory(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("median_absolute_error", "quantile_absolute_error"):
        invoke([name, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "two passes over a file" in text and "--memory-limit" in text


# -- domain errors and ranges -------------------------------------------------------------------
def test_msle_domain_error_names_the_row(tmp_path: Path) -> None:
    path = write_table(tmp_path / "m.csv", {"pred": [0.5, -1.0, 2.0], "target": [1.0, 1.0, 1.0]})
    with pytest.raises(DataError) as info:
        run_loss(path, Case("msle", {}))
    assert (info.value.column, info.value.row) == ("pred", 2)


def test_deviance_needs_positive_predictions(tmp_path: Path) -> None:
    path = write_table(tmp_path / "d.csv", {"pred": [1.0, 2.0, 0.0], "target": [1.0, 1.0, 1.0]})
    result = invoke(["poisson_deviance", str(path)])
    assert result.code == 3 and "row 3" in result.err and "'pred'" in result.err


def test_class_index_out_of_range(tmp_path: Path) -> None:
    path = write_table(tmp_path / "c.csv", {"a": [1.0, 2.0], "b": [0.0, 1.0], "y": [1.0, 2.0]})
    result = invoke(["cross_entropy", str(path), "-p", "a,b", "-t", "y"])
    assert result.code == 3 and "row 2" in result.err and "class index" in result.err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["smooth_l1", "--beta", "-1"], "≥ 0"),
        (["pinball", "--alpha", "1"], "(0, 1)"),
        (["cross_entropy", "--label-smoothing", "1"], "[0, 1)"),
        (["tweedie_deviance", "--power", "0.5"], "≤ 0 or ≥ 1"),
        (["gaussian_nll", "--eps", "0"], "> 0"),
    ],
)
def test_parameter_ranges_are_usage_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    path = write_table(tmp_path / "x.csv", {"pred": [1.0], "target": [1.0]})
    result = invoke([*args, str(path)])
    assert result.code == 2 and needle in result.err


def test_metric_reductions_and_per_row_are_refused(tmp_path: Path) -> None:
    path = write_table(tmp_path / "x.csv", {"pred": [1.0, 2.0], "target": [1.0, 3.0]})
    with pytest.raises(UsageError, match="--reduction none"):
        run_loss(path, Case("r2", {}), reduction="none")
    with pytest.raises(UsageError, match="--per row"):
        run_loss(path, Case("rmse", {}), per="row")


@pytest.fixture(scope="module")
def float32_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same numbers stored as float32, and upcast to float64 by NumPy (exact)."""
    folder = tmp_path_factory.mktemp("f32")
    narrow = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in DATA.items()}
    wide = {k: (v.astype(np.float64) if v.dtype == np.float32 else v) for k, v in narrow.items()}
    return (
        write_table(folder / "narrow.parquet", narrow, row_group_size=100),
        write_table(folder / "wide.parquet", wide, row_group_size=100),
    )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float32_columns_give_the_float64_result(
    float32_files: tuple[Path, Path], case: Case
) -> None:
    narrow, wide = float32_files
    spec = lookup(case.name)
    assert spec is not None
    weight = "w" if spec.weighted else None
    assert run_loss(narrow, case, weight=weight).value == run_loss(wide, case, weight=weight).value


def test_r2_of_one_row_is_nan_like_scikit_learn(tmp_path: Path) -> None:
    path = write_table(tmp_path / "one.csv", {"pred": [1.0], "target": [2.0]})
    value = run_loss(path, Case("r2", {})).value
    assert isinstance(value, float) and math.isnan(value)
    with pytest.warns(UserWarning):
        assert math.isnan(sk_metrics.r2_score([2.0], [1.0]))


def test_per_row_output_reports_domain_errors_too(tmp_path: Path) -> None:
    path = write_table(tmp_path / "m.csv", {"pred": [0.5, -2.0], "target": [1.0, 1.0]})
    result = invoke(["msle", str(path), "-r", "none"])
    assert result.code == 3
    assert "column 'pred', row 2" in result.err and "(got -2.0)" in result.err
