"""scikit-learn's D² scores through the engine against scikit-learn itself: every output,
weights (with zeros and ties), groups, chunk sizes, and the Python API."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from losscli import engine, losses
from losscli.catalogue import lookup
from tests.conftest import invoke, write_table

skm = importlib.import_module("sklearn.metrics")

N, K = 240, 3
REL = 1e-12


def _data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    cols: dict[str, np.ndarray] = {}
    for j in range(K):
        y = rng.gamma(2.0, 2.0, size=N)
        y[:40] = np.maximum(np.round(y[:40]), 1.0)  # ties
        y[40:50] = 3.0  # a block of equal targets
        cols[f"y{j}"] = y
        cols[f"p{j}"] = np.maximum(y + rng.normal(0, 1.5, size=N), 0.05)
    w = rng.uniform(0.0, 3.0, size=N)
    w[:10] = 0.0  # zero weights
    w[10:30] = 1.0  # ties of weights
    cols["w"] = w
    cols["g"] = np.array(["a", "b"])[rng.integers(0, 2, size=N)]
    return cols


DATA = _data()
Y = np.stack([DATA[f"y{j}"] for j in range(K)], axis=1)
P = np.stack([DATA[f"p{j}"] for j in range(K)], axis=1)
COLUMNS = {
    "pred": ",".join(f"p{j}" for j in range(K)),
    "target": ",".join(f"y{j}" for j in range(K)),
}


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_table(tmp_path_factory.mktemp("d2") / "d2.parquet", DATA, row_group_size=50)


def _run(path: Path, name: str, params: dict[str, Any], **options: Any) -> Any:
    spec = lookup(name)
    assert spec is not None
    request = engine.LossRequest(spec, {**spec.defaults(), **params}, dict(COLUMNS))
    return engine.run([request], engine.RunOptions(files=[str(path)], **options))[0]


def _sklearn(name: str, params: dict[str, Any], rows: Any, weights: bool, raw: bool) -> Any:
    w = DATA["w"][rows] if weights else None
    y, p = Y[rows], P[rows]
    if name == "d2_tweedie":  # single output in scikit-learn: per output, then the mean
        values = [
            skm.d2_tweedie_score(y[:, j], p[:, j], sample_weight=w, **params) for j in range(K)
        ]
        return values if raw else float(np.mean(values))
    fn = skm.d2_pinball_score if name == "d2_pinball" else skm.d2_absolute_error_score
    return fn(
        y, p, sample_weight=w, multioutput="raw_values" if raw else "uniform_average", **params
    )


CASES = [
    ("d2_absolute_error", {}),
    ("d2_pinball", {"alpha": 0.5}),
    ("d2_pinball", {"alpha": 0.1}),
    ("d2_pinball", {"alpha": 0.9}),
    ("d2_pinball", {"alpha": 0.0}),
    ("d2_tweedie", {"power": 0.0}),
    ("d2_tweedie", {"power": 1.0}),
    ("d2_tweedie", {"power": 1.5}),
    ("d2_tweedie", {"power": 2.0}),
    ("d2_tweedie", {"power": 3.0}),
]


def _close(a: Any, e: Any) -> None:
    a, e = np.asarray(a, dtype=float), np.asarray(e, dtype=float)
    assert a.shape == e.shape
    assert np.all(np.abs(a - e) <= REL * np.abs(e)), (a, e)


@pytest.mark.parametrize(("name", "params"), CASES, ids=lambda c: str(c))
def test_d2_scores_equal_scikit_learn(path: Path, name: str, params: dict[str, Any]) -> None:
    everything = slice(None)
    for weights in (False, True):
        w = "w" if weights else None
        _close(
            _run(path, name, params, weight=w).value,
            _sklearn(name, params, everything, weights, False),
        )
        _close(
            _run(path, name, params, weight=w, per="output").value,
            _sklearn(name, params, everything, weights, True),
        )
    one = _run(path, name, params, weight="w").value
    for size in (1, 17):
        assert _run(path, name, params, weight="w", chunk_size=size).value == one
    grouped = _run(path, name, params, weight="w", group_by="g", chunk_size=33)
    for g in grouped.groups:
        rows = DATA["g"] == g.key[0]
        _close(g.value, _sklearn(name, params, rows, True, False))


def test_python_api_equals_scikit_learn() -> None:
    w = DATA["w"]
    _close(
        losses.d2_pinball_score(Y, P, alpha=0.3, sample_weight=w),
        skm.d2_pinball_score(Y, P, alpha=0.3, sample_weight=w),
    )
    _close(
        losses.d2_absolute_error_score(Y, P, multioutput="raw_values"),
        skm.d2_absolute_error_score(Y, P, multioutput="raw_values"),
    )
    _close(
        losses.d2_tweedie_score(Y[:, 0], P[:, 0], power=1.5, sample_weight=w),
        skm.d2_tweedie_score(Y[:, 0], P[:, 0], power=1.5, sample_weight=w),
    )
    with pytest.raises(ValueError, match="Multioutput not supported"):
        losses.d2_tweedie_score(Y, P)


def test_one_row_is_nan_and_memory_is_stated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = write_table(tmp_path / "one.csv", {"pred": [1.0], "target": [2.0]})
    out = invoke(["d2_absolute_error", str(one), "-f", "json"])
    assert out.code == 0 and out.json["value"] is None
    invoke(["d2_pinball", "--help"])
    assert "keeps the targets: 8 bytes per row and output" in capsys.readouterr().out
    bad = write_table(tmp_path / "bad.csv", {"pred": [1.0, 0.0], "target": [1.0, 2.0]})
    out = invoke(["d2_tweedie", str(bad), "--power", "1"])
    assert out.code == 3 and "column 'pred', row 2" in out.err
