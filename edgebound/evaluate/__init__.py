"""Objective evaluators independent of any solver: the referee of every model."""

from edgebound.evaluate.common import Evaluation, Violation
from edgebound.evaluate.dispatch import evaluate
from edgebound.evaluate.queueing import (
    erlang_b,
    erlang_c,
    erlang_c_table,
    mmc_mean_response,
    mmc_mean_wait,
    mmc_response_quantile,
    mmc_response_tail,
)

__all__ = [
    "Evaluation",
    "Violation",
    "erlang_b",
    "erlang_c",
    "erlang_c_table",
    "evaluate",
    "mmc_mean_response",
    "mmc_mean_wait",
    "mmc_response_quantile",
    "mmc_response_tail",
]
