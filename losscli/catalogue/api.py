"""What the Python API functions share: input conversion, shape checks and the reduction.

Inputs may be NumPy arrays, sequences, pandas Series/DataFrames or pyarrow arrays/tables; all are
computed in float64. ``mean``/``sum`` give ``np.float64`` scalars, ``none`` an array.

Two families validate differently, as the libraries they follow do: the MLX-named losses
(``mse_loss``, ``huber_loss``, ...) let NaN and ±inf propagate into the result, while the
scikit-learn-named metrics (``mean_squared_error``, ``r2_score``, ...) check their inputs in
:func:`check_reg_targets` and raise ``ValueError`` naming the argument ("Input y_true contains
NaN."), also for sample weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

from losscli.catalogue.spec import np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    Array = NDArray[np.float64]
    Multioutput = Literal["raw_values", "uniform_average"] | ArrayLike
    Result = Array | np.float64

Reduction = Literal["none", "mean", "sum"]


def arrow_to_numpy(x: Any) -> Array:
    """pyarrow Array/ChunkedArray/Table/RecordBatch → float64 (nulls become NaN).

    Reads the value buffer directly: ``Array.to_numpy()`` would import pandas (+0.45 s).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(x, pa.Table | pa.RecordBatch):
        cols = [arrow_to_numpy(c) for c in x.columns]
        return np.column_stack(cols) if cols else np.empty((x.num_rows, 0))
    if isinstance(x, pa.ChunkedArray):
        parts = [arrow_to_numpy(c) for c in x.chunks]
        return np.concatenate(parts) if parts else np.empty(0)
    arr = x.cast(pa.float64())
    if arr.null_count:
        arr = pc.fill_null(arr, float("nan"))
    values = arr.buffers()[1]
    if values is None:
        return np.full(len(arr), np.nan)
    return np.frombuffer(values, dtype=np.float64, count=len(arr), offset=arr.offset * 8)


def as_float64(x: Any) -> Array:
    """Any supported array-like as a float64 NumPy array (pandas/pyarrow imported lazily)."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float64, copy=False)
    module = type(x).__module__
    if module.startswith("pyarrow"):
        return arrow_to_numpy(x)
    if module.startswith("pandas"):
        return np.asarray(x.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    return np.asarray(x, dtype=np.float64)


def reduce(loss: Array, reduction: Reduction = "none") -> Result:
    """Apply ``reduction`` (``'none'`` | ``'mean'`` | ``'sum'``) like MLX's ``reduce``."""
    if reduction not in get_args(Reduction):
        raise ValueError(f"Invalid reduction. Must be one of {get_args(Reduction)}.")
    if reduction == "mean":
        return np.float64(np.mean(loss))
    if reduction == "sum":
        return np.float64(np.sum(loss))
    return loss


def check_same_shape(a: Array, b: Array, a_name: str, b_name: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{a_name.capitalize()} shape {a.shape} does not match {b_name} shape {b.shape}."
        )


def apply_weights(loss: Array, weights: ArrayLike | None) -> Array:
    if weights is None:
        return loss
    w = as_float64(weights)
    if w.shape != loss.shape:
        raise ValueError(
            f"Weights with shape {w.shape} is not the same as output loss with shape {loss.shape}."
        )
    return np.multiply(loss, w, out=loss)


class UndefinedMetricWarning(UserWarning):
    """A metric's value is not defined for this input (e.g. R² of a single sample); the result
    is NaN. The counterpart of ``sklearn.exceptions.UndefinedMetricWarning``, so it can be
    filtered on its own: ``warnings.simplefilter("error", UndefinedMetricWarning)``.

    >>> issubclass(UndefinedMetricWarning, UserWarning)
    True
    """


def assert_all_finite(x: Array, name: str) -> None:
    """scikit-learn's check: ``ValueError("Input y_true contains NaN.")``, or ``... contains
    infinity or a value too large for dtype('float64').`` (NaN is named first when both)."""
    if x.size == 0 or bool(np.isfinite(x).all()):
        return
    if bool(np.isnan(x).any()):
        raise ValueError(f"Input {name} contains NaN.")
    raise ValueError(f"Input {name} contains infinity or a value too large for {x.dtype!r}.")


def check_reg_targets(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    sample_weight: ArrayLike | None,
    multioutput: Multioutput | None = "uniform_average",
) -> tuple[Array, Array, Array | None]:
    """As scikit-learn's: 1-D targets become one column; lengths, outputs and weights agree;
    targets, predictions and weights are finite, and weights not all zero (``ValueError``)."""
    y, p = as_float64(y_true), as_float64(y_pred)
    assert_all_finite(y, "y_true")
    assert_all_finite(p, "y_pred")
    if y.ndim > 2 or p.ndim > 2:
        raise ValueError(f"Expected 1-D or 2-D targets, got shapes {y.shape} and {p.shape}.")
    y = y.reshape(-1, 1) if y.ndim < 2 else y
    p = p.reshape(-1, 1) if p.ndim < 2 else p
    if y.shape[0] != p.shape[0]:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{y.shape[0]}, {p.shape[0]}]"
        )
    if y.shape[1] != p.shape[1]:
        raise ValueError(
            f"y_true and y_pred have different number of output ({y.shape[1]}!={p.shape[1]})"
        )
    w = None
    if sample_weight is not None:
        w = as_float64(sample_weight)
        if w.ndim == 0:
            w = np.full(y.shape[0], float(w))
        if w.shape != (y.shape[0],):
            raise ValueError(f"sample_weight.shape == {w.shape}, expected {(y.shape[0],)}!")
        assert_all_finite(w, "sample_weight")
        if w.size and not bool(np.any(w != 0)):
            raise ValueError("Sample weights must contain at least one non-zero number.")
    if isinstance(multioutput, str):
        allowed = ("raw_values", "uniform_average", "variance_weighted")
        if multioutput not in allowed:
            raise ValueError(
                f"Allowed 'multioutput' string values are {allowed}. "
                f"You provided multioutput={multioutput!r}"
            )
    elif multioutput is not None:
        mw = as_float64(multioutput)
        if y.shape[1] == 1:
            raise ValueError("Custom weights are useful only in multi-output cases.")
        if mw.shape != (y.shape[1],):
            raise ValueError(
                f"There must be equally many custom weights ({mw.shape[0]}) "
                f"as outputs ({y.shape[1]})."
            )
    return y, p, w


def column_mean(loss: Array, w: Array | None) -> Array:
    """Per-output weighted mean ``Σ w·l / Σ w`` (``np.average``, as scikit-learn)."""
    return np.asarray(np.average(loss, axis=0, weights=w), dtype=np.float64)


def combine(output_errors: Array, multioutput: Multioutput) -> Result:
    """Per-output values → ``raw_values`` array or their (weighted) average."""
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return output_errors
        return np.float64(np.average(output_errors))
    return np.float64(np.average(output_errors, weights=as_float64(multioutput)))


def single_output(y: Array, name: str) -> None:
    if y.shape[1] != 1:
        raise ValueError(f"Multioutput not supported in {name}")
