"""Request-rate forecasters, their accuracy metrics, and federated training.

The core forecasters (:class:`SeasonalNaive`, :class:`MovingAverage`, :class:`Oracle`,
:class:`NoisyOracle`) need only numpy. :class:`TCNForecaster` and the federated training in
:mod:`edgebound.forecast.federated` need torch, installed with
``pip install 'edgebound[forecast]'``; they are imported on first use, so this package
imports without it.

Examples
--------
>>> import numpy as np
>>> from edgebound.forecast import SeasonalNaive
>>> SeasonalNaive(step_s=43200.0).predict(np.array([1.0, 2.0, 3.0]), 2)
array([2., 3.])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgebound.forecast.base import (
    DAY_S,
    Forecaster,
    ForecastError,
    MovingAverage,
    NoisyOracle,
    Oracle,
    QuantileForecaster,
    SeasonalNaive,
    TorchMissingError,
    daily_season,
    predict_matrix,
)
from edgebound.forecast.metrics import (
    Evaluation,
    coverage,
    mase,
    mase_scale,
    rolling_origin,
    smape,
)

if TYPE_CHECKING:
    from edgebound.forecast.tcn import TCNForecaster

__all__ = [
    "DAY_S",
    "Evaluation",
    "ForecastError",
    "Forecaster",
    "MovingAverage",
    "NoisyOracle",
    "Oracle",
    "QuantileForecaster",
    "SeasonalNaive",
    "TCNForecaster",
    "TorchMissingError",
    "coverage",
    "daily_season",
    "mase",
    "mase_scale",
    "predict_matrix",
    "rolling_origin",
    "smape",
]

_LAZY = {"TCNForecaster": "edgebound.forecast.tcn"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
