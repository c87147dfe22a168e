"""Exact sums and mergeable statistics: the arithmetic every engine shares (NumPy only)."""

from losscli.stats.states import (
    ExplainedVarianceState,
    LossState,
    MaxState,
    MeanState,
    MomentState,
    Per,
    R2State,
    Reduction,
    RootMeanState,
    Value,
    explained_scores,
)
from losscli.stats.sums import (
    KERNEL_BLOCK,
    SUM_BLOCK,
    CompensatedSum,
    accurate_row_sums,
    blocked_loss_sums,
)

__all__ = [
    "KERNEL_BLOCK",
    "SUM_BLOCK",
    "CompensatedSum",
    "ExplainedVarianceState",
    "LossState",
    "MaxState",
    "MeanState",
    "MomentState",
    "Per",
    "R2State",
    "Reduction",
    "RootMeanState",
    "Value",
    "accurate_row_sums",
    "blocked_loss_sums",
    "explained_scores",
]
