"""scikit-learn's classification metrics on labels (numbers or text, CSV and Parquet) through the
engine and the CLI, against scikit-learn itself: weights with zeros, sums (normalize=False),
groups, chunk sizes, --labels, and the domain errors (exit 3 naming column and row)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from losscli import engine, losses
from losscli.catalogue import lookup
from tests.conftest import invoke, write_table

skm = importlib.import_module("sklearn.metrics")

N = 300
REL = 1e-12
RNG = np.random.default_rng(11)
TEXT = np.array(["emu", "cat", "dog"])[RNG.integers(0, 3, size=N)]  # sorted: cat, dog, emu
INTS = np.array([5, 2, 9])[RNG.integers(0, 3, size=N)]  # sorted: 2, 5, 9
BINARY = RNG.integers(0, 2, size=N)
PROBS = RNG.dirichlet([0.6, 0.6, 0.6], size=N)
PROBS[:3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # clipped to eps / 1 − eps
P1 = RNG.uniform(0, 1, size=N)
P1[:2] = [0.0, 1.0]
SCORES = RNG.normal(0, 2, size=(N, 3))
SCORES[3] = [1.0, 1.0, 0.0]  # a tie: argmax takes the first
PRED_TEXT = np.where(
    RNG.uniform(size=N) < 0.7, TEXT, np.array(["cat", "dog", "emu"])[RNG.integers(0, 3, size=N)]
)
MULTI_TRUE = RNG.integers(0, 2, size=(N, 3))
MULTI_PRED = np.where(RNG.uniform(size=(N, 3)) < 0.8, MULTI_TRUE, 1 - MULTI_TRUE)
W = RNG.uniform(0, 3, size=N)
W[:10] = 0.0
G = np.array(["a", "b"])[RNG.integers(0, 2, size=N)]


def _columns() -> dict[str, Any]:
    cols: dict[str, Any] = {
        "text": TEXT,
        "ints": INTS,
        "binary": BINARY,
        "pbin": P1,
        "w": W,
        "g": G,
    }
    cols["pred_text"] = PRED_TEXT
    for j in range(3):
        cols[f"p{j}"] = PROBS[:, j]
        cols[f"s{j}"] = SCORES[:, j]
        cols[f"mt{j}"] = MULTI_TRUE[:, j]
        cols[f"mp{j}"] = MULTI_PRED[:, j]
    return cols


@pytest.fixture(scope="module", params=["csv", "parquet"])
def path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("labels")
    if request.param == "csv":
        return write_table(folder / "labels.csv", _columns())
    table = pa.table(_columns())
    # text labels as Arrow dictionaries, as Parquet files often hold them
    table = table.set_column(0, "text", pa.array(TEXT).dictionary_encode())
    pq.write_table(table, folder / "labels.parquet", row_group_size=64)
    return folder / "labels.parquet"


P = "p0,p1,p2"
S = "s0,s1,s2"
CASES: list[tuple[str, str, str, dict[str, Any], Any]] = [
    ("log_loss", P, "text", {}, lambda y, w, **k: skm.log_loss(y, PROBS, sample_weight=w, **k)),
    ("log_loss", P, "ints", {}, lambda y, w, **k: skm.log_loss(y, PROBS, sample_weight=w, **k)),
    ("log_loss", "pbin", "binary", {}, lambda y, w, **k: skm.log_loss(y, P1, sample_weight=w, **k)),
    (
        "brier_score_loss",
        "pbin",
        "binary",
        {},
        lambda y, w, **k: skm.brier_score_loss(y, P1, sample_weight=w),
    ),
    (
        "brier_score_loss",
        "pbin",
        "binary",
        {"pos_label": "0"},
        lambda y, w, **k: skm.brier_score_loss(y, P1, sample_weight=w, pos_label=0),
    ),
    (
        "accuracy",
        "pred_text",
        "text",
        {},
        lambda y, w, **k: skm.accuracy_score(y, PRED_TEXT, sample_weight=w, **k),
    ),
    (
        "accuracy",
        S,
        "ints",
        {},
        lambda y, w, **k: skm.accuracy_score(
            y, np.array([2, 5, 9])[SCORES.argmax(axis=1)], sample_weight=w, **k
        ),
    ),
    (
        "zero_one_loss",
        "mp0,mp1,mp2",
        "mt0,mt1,mt2",
        {},
        lambda y, w, **k: skm.zero_one_loss(MULTI_TRUE, MULTI_PRED, sample_weight=w, **k),
    ),
    (
        "zero_one_loss",
        "pred_text",
        "text",
        {},
        lambda y, w, **k: skm.zero_one_loss(y, PRED_TEXT, sample_weight=w, **k),
    ),
    (
        "hamming_loss",
        "mp0,mp1,mp2",
        "mt0,mt1,mt2",
        {},
        lambda y, w, **k: skm.hamming_loss(MULTI_TRUE, MULTI_PRED, sample_weight=w),
    ),
    (
        "multiclass_hinge",
        S,
        "text",
        {},
        lambda y, w, **k: skm.hinge_loss(y, SCORES, sample_weight=w),
    ),
    (
        "multiclass_hinge",
        "s0",
        "binary",
        {},
        lambda y, w, **k: skm.hinge_loss(y, SCORES[:, 0], sample_weight=w),
    ),
]


def _truth(target: str) -> Any:
    return {"text": TEXT, "ints": INTS, "binary": BINARY}.get(target, MULTI_TRUE)


def _run(
    path: Path, name: str, pred: str, target: str, params: dict[str, Any], **options: Any
) -> Any:
    spec = lookup(name)
    assert spec is not None
    request = engine.LossRequest(
        spec, {**spec.defaults(), **params}, {"pred": pred, "target": target}
    )
    return engine.run([request], engine.RunOptions(files=[str(path)], **options))[0]


def _close(a: Any, e: Any) -> None:
    assert abs(a - e) <= REL * abs(e), (a, e)


@pytest.mark.parametrize(
    ("name", "pred", "target", "params", "reference"),
    CASES,
    ids=lambda v: str(v) if isinstance(v, str) else "",
)
def test_label_metrics_equal_scikit_learn(
    path: Path, name: str, pred: str, target: str, params: dict[str, Any], reference: Any
) -> None:
    y = _truth(target)
    _close(_run(path, name, pred, target, params).value, reference(y, None))
    _close(_run(path, name, pred, target, params, weight="w").value, reference(y, W))
    spec = lookup(name)
    assert spec is not None
    if "sum" in spec.reductions:
        _close(
            _run(path, name, pred, target, params, weight="w", reduction="sum").value,
            reference(y, W, normalize=False),
        )
    one = _run(path, name, pred, target, params, weight="w").value
    for size in (1, 7):
        _close(_run(path, name, pred, target, params, weight="w", chunk_size=size).value, one)
    grouped = _run(path, name, pred, target, params, weight="w", group_by="g", chunk_size=50)
    for g in grouped.groups:
        rows = g.key[0] == G
        part = _truth(target)[rows]
        expected = _group_reference(name, pred, target, params, part, rows)
        _close(g.value, expected)


def _group_reference(
    name: str, pred: str, target: str, params: dict[str, Any], y: Any, rows: Any
) -> float:
    w = W[rows]
    if name == "log_loss":
        proba = P1[rows] if pred == "pbin" else PROBS[rows]
        labels = sorted(set(_truth(target).tolist()))
        return float(skm.log_loss(y, proba, sample_weight=w, labels=labels))
    if name == "brier_score_loss":
        pos = int(params.get("pos_label", 1))
        return float(skm.brier_score_loss(y, P1[rows], sample_weight=w, pos_label=pos))
    if name == "accuracy" and pred == S:
        return float(
            skm.accuracy_score(y, np.array([2, 5, 9])[SCORES[rows].argmax(axis=1)], sample_weight=w)
        )
    if name in ("accuracy", "zero_one_loss") and pred == "pred_text":
        fn = skm.accuracy_score if name == "accuracy" else skm.zero_one_loss
        return float(fn(y, PRED_TEXT[rows], sample_weight=w))
    if name == "zero_one_loss":
        return float(skm.zero_one_loss(MULTI_TRUE[rows], MULTI_PRED[rows], sample_weight=w))
    if name == "hamming_loss":
        return float(skm.hamming_loss(MULTI_TRUE[rows], MULTI_PRED[rows], sample_weight=w))
    decision = SCORES[rows] if pred == S else SCORES[rows, 0]
    return float(skm.hinge_loss(y, decision, sample_weight=w))


def test_labels_fix_the_class_set(path: Path) -> None:
    # every class named: the same as without; a column for a class never seen works too
    _close(
        _run(path, "log_loss", P, "text", {"labels": ["emu", "dog", "cat"]}).value,
        skm.log_loss(TEXT, PROBS),
    )
    sub = TEXT != "emu"
    two = write_table(
        path.parent / "two.csv", {"text": TEXT[sub], **{f"p{j}": PROBS[sub, j] for j in range(3)}}
    )
    out = invoke(["log_loss", str(two), "-p", P, "-t", "text", "-f", "value"])
    assert out.code == 3 and "2 classes ('cat', 'dog') for 3 probability column(s)" in out.err
    assert "--labels" in out.err
    out = invoke(
        ["log_loss", str(two), "-p", P, "-t", "text", "--labels", "cat,dog,emu", "-f", "value"]
    )
    assert out.code == 0, out.err
    assert float(out.out) == pytest.approx(
        skm.log_loss(TEXT[sub], PROBS[sub], labels=["cat", "dog", "emu"]), rel=REL
    )


@pytest.mark.parametrize(
    ("args", "data", "needle"),
    [
        (
            ["log_loss", "-p", "a,b", "-t", "y", "--labels", "x,y"],
            {"a": [0.5, 0.5], "b": [0.5, 0.5], "y": ["x", "z"]},
            "column 'y', row 2: a label missing from --labels (got 'z')",
        ),
        (
            ["log_loss", "-p", "a,b", "-t", "y"],
            {"a": [0.5, 0.6], "b": [0.5, 0.5], "y": ["x", "y"]},
            "column 'a', row 2: a row of class probabilities must sum to 1 (|Σp − 1| ≤ 2.5e-08)",
        ),
        (
            ["log_loss", "-p", "a,b", "-t", "y"],
            {"a": [0.5, 1.5], "b": [0.5, -0.5], "y": ["x", "y"]},
            "column 'a', row 2: probabilities must lie in [0, 1] (got 1.5)",
        ),
        (
            ["brier_score_loss", "-p", "a", "-t", "y"],
            {"a": [0.5, 0.2, 0.1], "y": [0, 1, 2]},
            "brier_score_loss is binary, but the labels hold 3 classes",
        ),
        (
            ["accuracy", "-p", "a", "-t", "y"],
            {"a": [1, 2], "y": ["x", "y"]},
            "predicted and true labels must both be numbers or both be text",
        ),
        (
            ["multiclass_hinge", "-p", "a,b,c", "-t", "y"],
            {"a": [0.5, 1.0], "b": [0.5, 0.0], "c": [0.0, 0.0], "y": [0, 3]},
            "2 classes (0, 3) for 3 decision column(s)",
        ),
    ],
)
def test_label_domain_errors(
    tmp_path: Path, args: list[str], data: dict[str, list[Any]], needle: str
) -> None:
    path = write_table(tmp_path / "d.csv", data)
    out = invoke([args[0], str(path), *args[1:]])
    assert out.code == 3 and needle in out.err, out.err


def test_python_api_equals_scikit_learn() -> None:
    assert losses.log_loss(TEXT, PROBS, sample_weight=W) == pytest.approx(
        skm.log_loss(TEXT, PROBS, sample_weight=W), rel=REL
    )
    assert losses.log_loss(INTS, PROBS, normalize=False) == pytest.approx(
        skm.log_loss(INTS, PROBS, normalize=False), rel=REL
    )
    assert losses.brier_score_loss(BINARY, P1, pos_label=0) == pytest.approx(
        skm.brier_score_loss(BINARY, P1, pos_label=0), rel=REL
    )
    assert losses.accuracy_score(
        TEXT, PRED_TEXT, normalize=False, sample_weight=W
    ) == pytest.approx(
        skm.accuracy_score(TEXT, PRED_TEXT, normalize=False, sample_weight=W), rel=REL
    )
    assert losses.zero_one_loss(MULTI_TRUE, MULTI_PRED) == pytest.approx(
        skm.zero_one_loss(MULTI_TRUE, MULTI_PRED), rel=REL
    )
    assert losses.hamming_loss(MULTI_TRUE, MULTI_PRED, sample_weight=W) == pytest.approx(
        skm.hamming_loss(MULTI_TRUE, MULTI_PRED, sample_weight=W), rel=REL
    )
    assert losses.multiclass_hinge_loss(TEXT, SCORES) == pytest.approx(
        skm.hinge_loss(TEXT, SCORES), rel=REL
    )


def test_grouping_by_the_label_keeps_the_class_columns(path: Path) -> None:
    """Column j means the j-th class of all rows in every group (a group of one class too);
    group keys show the labels as written."""
    result = _run(path, "log_loss", P, "text", {}, group_by="text")
    assert [g.key for g in result.groups] == [("cat",), ("dog",), ("emu",)]
    for g in result.groups:
        rows = g.key[0] == TEXT
        expected = skm.log_loss(TEXT[rows], PROBS[rows], labels=["cat", "dog", "emu"])
        _close(g.value, expected)


def test_a_check_file_takes_list_and_text_parameters(tmp_path: Path) -> None:
    data = write_table(
        tmp_path / "c.csv",
        {
            "a": [0.9, 0.2, 0.6],
            "b": [0.1, 0.8, 0.4],
            "y": ["no", "yes", "yes"],
            "pb": [0.1, 0.8, 0.4],
        },
    )
    gate = tmp_path / "gate.toml"
    gate.write_text(
        f"""
[defaults]
file = "{data.name}"
target = "y"

[[check]]
loss = "log_loss"
pred = "a,b"
params = {{ labels = ["no", "yes"] }}
max = 1.0

[[check]]
loss = "brier_score_loss"
pred = "pb"
params = {{ pos_label = "yes" }}
max = 1.0

[[check]]
loss = "cross_entropy"
pred = "a,b"
target = "k"
params = {{ class_weight = [1, 2.5] }}
max = 10.0
"""
    )
    write_table(
        data,
        {
            "a": [0.9, 0.2, 0.6],
            "b": [0.1, 0.8, 0.4],
            "y": ["no", "yes", "yes"],
            "pb": [0.1, 0.8, 0.4],
            "k": [0, 1, 1],
        },
    )
    out = invoke(["check", str(gate), "-f", "json", "--no-ci-report"])
    assert out.code == 0, out.err
    values = [r["value"] for r in out.json["checks"]]
    assert values[0] == pytest.approx(
        skm.log_loss(["no", "yes", "yes"], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), rel=REL
    )
    assert values[1] == pytest.approx(
        skm.brier_score_loss(["no", "yes", "yes"], [0.1, 0.8, 0.4], pos_label="yes"), rel=REL
    )
    logp = np.log(
        np.exp([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
        / np.exp([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]).sum(1, keepdims=True)
    )
    w = np.array([1.0, 2.5, 2.5])
    assert values[2] == pytest.approx(-(w * logp[np.arange(3), [0, 1, 1]]).sum() / w.sum(), rel=REL)


@pytest.mark.parametrize("label", ["x", "1"])
def test_missing_labels_follow_the_nan_policy(tmp_path: Path, label: str) -> None:
    other = "y" if label == "x" else "0"
    path = write_table(
        tmp_path / "n.csv", {"a": [0.2, 0.6, 0.5], "b": [0.8, 0.4, 0.5], "y": [label, None, other]}
    )
    base = ["log_loss", str(path), "-p", "a,b", "-t", "y", "-f", "json"]
    out = invoke(base)
    assert out.code == 3 and "column 'y', row 2: missing value" in out.err
    assert invoke([*base, "--nan", "propagate"]).json["value"] is None
    skipped = invoke([*base, "--nan", "skip"]).json
    y = [label, other]
    assert skipped["value"] == pytest.approx(
        skm.log_loss(y, [[0.2, 0.8], [0.5, 0.5]], labels=sorted(y)), rel=REL
    )
