"""Class labels in a stream: text labels as codes, and per-label sums for scikit-learn's
classification metrics (NumPy only).

scikit-learn orders the classes by sorting the distinct labels of ``y_true`` (or ``labels=``):
probability column j belongs to the j-th class. That order is known only after the last row, so
a metric keeps, for every distinct label L, the weighted sums ``S[L][j]`` of the row loss *as if*
the row's class were column j (``m`` candidates per row), and picks ``S[L][index(L)]`` at the end.
Memory: ``m`` exact sums per distinct label, whatever the number of rows; sums merge by addition,
so chunks and groups compose as everywhere else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from losscli.errors import DataError, UsageError
from losscli.stats.sums import CompensatedSum, accurate_row_sums

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.float64]


Label = float | str


class LabelCodes:
    """One run's text labels: each distinct text gets a code (its first-seen index, as float64),
    so label columns travel through the engine as numbers. A column holds numbers or text, never
    both (text that reads as a finite number counts as that number)."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.codes: dict[str, int] = {}
        self.kinds: dict[str, str] = {}
        self.columns: set[str] = set()  # the run's label columns

    def code(self, text: str) -> int:
        found = self.codes.get(text)
        if found is None:
            found = self.codes[text] = len(self.texts)
            self.texts.append(text)
        return found

    def encode(
        self, column: str, values: Array, dictionary: list[str] | None, *, file: str, row: int
    ) -> Array:
        """A chunk's label values (numbers, or indices into ``dictionary`` for text) as float64:
        numbers as they are, text as run-wide codes; NaN stays NaN (a missing label)."""
        kind = "number" if dictionary is None else "text"
        previous = self.kinds.setdefault(column, kind)
        if previous != kind:
            raise DataError(
                "labels mix numbers and text (text from here on, numbers before)"
                if kind == "text"
                else "labels mix numbers and text (numbers from here on, text before)",
                file=file,
                column=column,
                row=row,
            )
        if dictionary is None:
            return values
        table = np.array([self.code(t) for t in dictionary] + [np.nan], dtype=np.float64)
        index = np.where(np.isnan(values), len(dictionary), values).astype(np.intp)
        out: Array = table[index]
        return out

    def is_text(self, column: str) -> bool:
        return self.kinds.get(column) == "text"

    def label(self, column: str, key: float) -> Label:
        """The label a column's value stands for."""
        return self.texts[int(key)] if self.is_text(column) else float(key)

    def key(self, column: str, label: str) -> float:
        """The value a ``--labels`` entry takes in ``column`` (a usage error if it cannot)."""
        if self.is_text(column):
            return float(self.code(label))
        try:
            return float(label)
        except ValueError:
            raise UsageError(
                f"--labels {label!r} is not a number, but column '{column}' holds numbers"
            ) from None


class LabelContext:
    """What a label metric's state and checks need from the run: the codes and which column
    holds the true labels (and the predicted ones, for hard predictions)."""

    def __init__(
        self, codes: LabelCodes, targets: Sequence[str], pred: Sequence[str], hard: bool
    ) -> None:
        self.codes = codes
        self.targets = list(targets)
        self.target = self.targets[0]
        self.pred = list(pred)
        self.hard = hard  # predictions are labels too (compared with the true ones)

    def label(self, key: float) -> Label:
        return self.codes.label(self.target, key)

    def key_of(self, label: Label) -> float:
        """The key of a label in this run (a text label gets this run's code)."""
        if isinstance(label, str):
            self.codes.kinds.setdefault(self.target, "text")
            return float(self.codes.code(label))
        return float(label)

    def keys(self, labels: Sequence[str]) -> Array:
        return np.array([self.codes.key(self.target, str(v)) for v in labels], dtype=np.float64)

    def check_same_kind(self) -> None:
        """Hard predictions compare with the true labels: both must be numbers or both text."""
        kinds = {self.codes.is_text(c) for c in [*self.targets, *self.pred]}
        if len(kinds) > 1:
            raise DataError(
                "predicted and true labels must both be numbers or both be text",
                column=self.target,
            )


def sorted_labels(labels: Sequence[Label]) -> list[Label]:
    """scikit-learn's class order: the sorted distinct labels (numbers numerically)."""
    return sorted(set(labels))


class LabelSums:
    """Per distinct true-label key L, the exact sums ``S[L][j] = Σ w·c_j`` of ``m`` candidate
    row losses, plus the total weight and the rows. :meth:`picked` adds ``S[L][pick(L)]``
    over the labels once the class order is known."""

    def __init__(self) -> None:
        self.sums: dict[float, CompensatedSum] = {}
        self.weight = CompensatedSum(1)
        self.rows = 0

    def add(self, labels: Array, candidates: Array, weights: Array | None) -> None:
        """``labels`` (n,) true-label keys; ``candidates`` (m, n) row losses per candidate."""
        n = labels.shape[0]
        if weights is not None:
            candidates = candidates * weights
            self.weight.add(accurate_row_sums(weights.reshape(1, -1)))
        else:
            self.weight.add(float(n))
        self.rows += n
        distinct, inverse = np.unique(labels, return_inverse=True)
        if len(distinct) == 1:
            self._sums(float(distinct[0]), candidates.shape[0]).add(accurate_row_sums(candidates))
            return
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(distinct) + 1))
        for i, key in enumerate(distinct.tolist()):
            part = np.ascontiguousarray(candidates[:, order[bounds[i] : bounds[i + 1]]])
            self._sums(float(key), part.shape[0]).add(accurate_row_sums(part))

    def _sums(self, key: float, size: int) -> CompensatedSum:
        found = self.sums.get(key)
        if found is None:
            found = self.sums[key] = CompensatedSum(size)
        return found

    def merge(self, other: LabelSums, translate: Callable[[float], float] | None = None) -> None:
        """Add ``other``'s sums; ``translate`` maps its label keys to this one's (text codes of
        another pass, e.g. a Dask worker's)."""
        for key, sums in other.sums.items():
            mine = key if translate is None else translate(key)
            self._sums(mine, len(sums.partials)).merge(sums)
        self.weight.merge(other.weight)
        self.rows += other.rows

    def label_keys(self) -> list[float]:
        return list(self.sums)

    def picked(self, pick: Callable[[float], int]) -> float:
        """``Σ_L S[L][pick(L)]``, correctly rounded."""
        return math.fsum(float(s.value[pick(k)]) for k, s in self.sums.items())

    def total_weight(self) -> float:
        return float(self.weight.value[0])


def check_class_count(
    classes: list[Label], columns: int, *, column: str, given: bool, what: str
) -> None:
    """scikit-learn's 'different number of classes' error, as a DataError."""
    if len(classes) != columns:
        shown = ", ".join(describe(c) for c in classes[:20])
        hint = "" if given else "; name them all with --labels"
        raise DataError(
            f"{len(classes)} classes ({shown}) for {columns} {what} column(s){hint}",
            column=column,
        )


def describe(value: Any) -> str:
    return repr(value) if isinstance(value, str) else f"{value:g}"
