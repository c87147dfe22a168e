"""The streaming engine for mse and huber: hand-worked values, every reduction and --per,
weights, chunk invariance, dtype upcasting and accuracy against math.fsum."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from losscli import engine
from losscli.catalogue import lookup
from losscli.errors import DataError, EmptyInputError, UsageError
from tests.conftest import write_table

# Hand-worked: pred − target = [−1, 2, 0, 3]
#   squared: [1, 4, 0, 9]           sum 14, mean 3.5
#   huber δ=1.5: [0.5, 1.5·(2−0.75)=1.875, 0, 1.5·(3−0.75)=3.375]  sum 5.75, mean 1.4375
#   weights [1, 2, 3, 4] (Σw = 10): Σw·e² = 1 + 8 + 0 + 36 = 45 → mean 4.5
PRED = [1.0, 3.0, 0.5, 10.0]
TARGET = [2.0, 1.0, 0.5, 7.0]
WEIGHT = [1.0, 2.0, 3.0, 4.0]


def run_one(path: Path, loss: str = "mse", **kw: object) -> engine.LossResult:
    params = kw.pop("params", {})
    columns = kw.pop("columns", {})
    spec = lookup(loss)
    assert spec is not None
    full = {**spec.defaults(), **params}  # type: ignore[dict-item]
    request = engine.LossRequest(spec, full, columns)  # type: ignore[arg-type]
    options = engine.RunOptions(files=[str(path)], **kw)  # type: ignore[arg-type]
    return engine.run([request], options)[0]


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return write_table(
        tmp_path / "small.csv",
        {"pred": PRED, "target": TARGET, "w": WEIGHT, "seg": ["a", "b", "a", "b"]},
    )


@pytest.mark.parametrize(("reduction", "expected"), [("mean", 3.5), ("sum", 14.0)])
def test_mse_hand_worked(small: Path, reduction: str, expected: float) -> None:
    result = run_one(small, reduction=reduction)
    assert result.value == expected
    assert result.rows == 4


@pytest.mark.parametrize(("reduction", "expected"), [("mean", 1.4375), ("sum", 5.75)])
def test_huber_hand_worked(small: Path, reduction: str, expected: float) -> None:
    assert run_one(small, "huber", params={"delta": 1.5}, reduction=reduction).value == expected


def test_weighted_mean_and_sum(small: Path) -> None:
    assert run_one(small, weight="w").value == 4.5
    assert run_one(small, weight="w", reduction="sum").value == 45.0


def test_huber_boundary_is_quadratic_and_linear_agree(tmp_path: Path) -> None:
    # |e| = δ exactly: 0.5·δ² = δ·(δ − δ/2); δ = 2 → 2.0 on both branches.
    path = write_table(tmp_path / "b.csv", {"pred": [2.0, -2.0], "target": [0.0, 0.0]})
    assert run_one(path, "huber", params={"delta": 2.0}, reduction="sum").value == 4.0


def test_groups_sorted_with_total(small: Path) -> None:
    result = run_one(small, group_by="seg")
    assert [(g.key, g.rows, g.value) for g in result.groups] == [
        (("a",), 2, 0.5),  # e = −1, 0
        (("b",), 2, 6.5),  # e = 2, 3
    ]
    assert result.value == 3.5


@pytest.fixture
def multi(tmp_path: Path) -> Path:
    # two outputs: e1 = [1, −2], e2 = [3, 0]  →  squared [[1, 9], [4, 0]]
    return write_table(
        tmp_path / "multi.parquet",
        {"p1": [1.0, 0.0], "p2": [3.0, 5.0], "t1": [0.0, 2.0], "t2": [0.0, 5.0]},
    )


def test_per_modes_multi_output(multi: Path) -> None:
    cols = {"pred": "p1,p2", "target": "t1,t2"}
    assert run_one(multi, columns=cols, per="all").value == 14.0 / 4
    assert run_one(multi, columns=cols, per="row").value == (5.0 + 2.0) / 2
    assert run_one(multi, columns=cols, per="output").value == [2.5, 4.5]
    assert run_one(multi, columns=cols, per="output", reduction="sum").value == [5.0, 9.0]
    assert run_one(multi, columns=cols, per="row", reduction="sum").value == 7.0
    assert run_one(multi, columns=cols, per="all", reduction="sum").value == 14.0


def test_glob_columns_keep_list_order(multi: Path) -> None:
    result = run_one(multi, columns={"pred": "p*", "target": "t*"}, per="output")
    assert result.columns == {"pred": ["p1", "p2"], "target": ["t1", "t2"]}
    assert result.value == [2.5, 4.5]


def test_per_row_none_is_keras_mean_over_last_axis(multi: Path, tmp_path: Path) -> None:
    out = tmp_path / "rows.parquet"
    from losscli.io.writers import FileSink

    spec = lookup("mse")
    assert spec is not None
    engine.run(
        [engine.LossRequest(spec, {}, {"pred": "p1,p2", "target": "t1,t2"})],
        engine.RunOptions(files=[str(multi)], reduction="none", per="row"),
        sink=FileSink(str(out)),
    )
    import pyarrow.parquet as pq

    got = pq.read_table(out).column("mse").to_pylist()
    y_true = np.array([[0.0, 0.0], [2.0, 5.0]])
    y_pred = np.array([[1.0, 3.0], [0.0, 5.0]])
    assert got == np.mean(np.square(y_true - y_pred), axis=-1).tolist()


# -- accuracy and chunk invariance ----------------------------------------------------------
@pytest.fixture(scope="module")
def big(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    n = 1_000_000
    pred = rng.normal(size=n) * rng.choice([1e-3, 1.0, 1e3], size=n)
    target = rng.normal(size=n)
    weight = rng.uniform(0.1, 3.0, size=n)
    path = tmp_path_factory.mktemp("big") / "big.parquet"
    write_table(path, {"pred": pred, "target": target, "w": weight}, row_group_size=300_000)
    return path, pred, target, weight


def test_mse_matches_fsum_on_a_million_rows(big: tuple) -> None:
    path, pred, target, _ = big
    e = (pred - target).tolist()
    reference = math.fsum(x * x for x in e) / len(e)
    value = run_one(path).value
    assert isinstance(value, float)
    assert abs(value - reference) / reference <= 1e-14


def test_weighted_huber_matches_fsum(big: tuple) -> None:
    path, pred, target, weight = big
    a = np.abs(pred - target)
    elementwise = np.where(a <= 1.0, 0.5 * a * a, 1.0 * (a - 0.5))
    reference = math.fsum((weight * elementwise).tolist()) / math.fsum(weight.tolist())
    value = run_one(path, "huber", weight="w").value
    assert isinstance(value, float)
    assert abs(value - reference) / reference <= 1e-14


@pytest.mark.parametrize("loss", ["mse", "huber"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_chunk_invariance(tmp_path: Path, loss: str, reduction: str) -> None:
    rng = np.random.default_rng(11)
    n = 5_000
    path = write_table(
        tmp_path / "c.csv",
        {"pred": rng.normal(size=n) * 10, "target": rng.normal(size=n), "w": rng.uniform(size=n)},
    )
    values = [
        run_one(path, loss, chunk_size=size, reduction=reduction, weight="w").value
        for size in (1, 7, 1000, n)
    ]
    one_pass = values[-1]
    assert isinstance(one_pass, float)
    for v in values[:-1]:
        assert isinstance(v, float)
        assert abs(v - one_pass) <= 1e-15 * abs(one_pass)


def test_float32_and_integer_columns_give_the_float64_result(tmp_path: Path) -> None:
    pred32 = np.array([0.1, 0.7, 1.3], dtype=np.float32)
    target_int = np.array([0, 1, 2], dtype=np.int32)
    path = write_table(tmp_path / "t.parquet", {"pred": pred32, "target": target_int})
    e = pred32.astype(np.float64) - target_int.astype(np.float64)
    reference = math.fsum((e * e).tolist()) / 3
    assert run_one(path).value == reference


def test_decimal_and_nullable_columns(tmp_path: Path) -> None:
    import decimal

    table = {
        "pred": pa.array([decimal.Decimal("1.5"), decimal.Decimal("2.5")], pa.decimal128(5, 2)),
        "target": pa.array([1, 2], pa.int64()),
    }
    path = write_table(tmp_path / "d.parquet", table)
    assert run_one(path).value == 0.25


# -- bad values ---------------------------------------------------------------------------------
def test_nan_error_names_file_column_row(tmp_path: Path) -> None:
    path = write_table(tmp_path / "n.csv", {"pred": [1.0, 2.0, None], "target": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError) as info:
        run_one(path)
    assert (info.value.file, info.value.column, info.value.row) == (str(path), "pred", 3)


def test_nan_skip_counts_and_drops(tmp_path: Path) -> None:
    path = write_table(
        tmp_path / "n.csv", {"pred": [1.0, float("nan"), 4.0], "target": [0.0, 2.0, None]}
    )
    result = run_one(path, nan="skip")
    assert (result.value, result.rows, result.skipped_rows) == (1.0, 1, 2)
    only_nan = write_table(tmp_path / "x.csv", {"pred": [None, 1.0], "target": [1.0, None]})
    with pytest.raises(EmptyInputError, match="after skipping 2"):
        run_one(only_nan, nan="skip")
    path2 = write_table(tmp_path / "m.csv", {"pred": [1.0, None, 3.0], "target": [0.0, 2.0, 1.0]})
    result = run_one(path2, nan="skip")
    assert (result.value, result.rows, result.skipped_rows) == (2.5, 2, 1)


def test_nan_propagate_gives_nan(tmp_path: Path) -> None:
    path = write_table(tmp_path / "n.csv", {"pred": [1.0, None], "target": [0.0, 2.0]})
    value = run_one(path, nan="propagate").value
    assert isinstance(value, float) and math.isnan(value)


def test_infinite_input_is_an_error(tmp_path: Path) -> None:
    path = write_table(tmp_path / "i.parquet", {"pred": [1.0, np.inf], "target": [0.0, 2.0]})
    with pytest.raises(DataError) as info:
        run_one(path)
    assert (info.value.column, info.value.row) == ("pred", 2)


def test_overflowing_loss_is_an_error(tmp_path: Path) -> None:
    path = write_table(tmp_path / "o.parquet", {"pred": [1.0, 1e200], "target": [0.0, -1e200]})
    with pytest.raises(DataError) as info:
        run_one(path)
    assert info.value.row == 2


def test_zero_weights_are_an_error(tmp_path: Path) -> None:
    path = write_table(tmp_path / "z.csv", {"pred": [1.0], "target": [0.0], "w": [0.0]})
    with pytest.raises(DataError, match="weights sum to 0"):
        run_one(path, weight="w")


def test_empty_input(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("pred,target\n")
    with pytest.raises(EmptyInputError):
        run_one(path)


def test_mismatched_column_counts_are_usage_errors(multi: Path) -> None:
    with pytest.raises(UsageError, match="2 pred column"):
        run_one(multi, columns={"pred": "p1,p2", "target": "t1"})


def test_invalid_delta_is_a_usage_error(small: Path) -> None:
    with pytest.raises(UsageError, match="> 0"):
        run_one(small, "huber", params={"delta": 0.0})


def test_targets_from_second_file(tmp_path: Path) -> None:
    preds = write_table(tmp_path / "p.csv", {"pred": PRED})
    truth = write_table(tmp_path / "t.parquet", {"target": TARGET})
    assert run_one(preds, targets_from=str(truth), chunk_size=3).value == 3.5
    short = write_table(tmp_path / "s.parquet", {"target": TARGET[:3]})
    with pytest.raises(DataError, match=r"has 4 rows.*has 3"):
        run_one(preds, targets_from=str(short))
