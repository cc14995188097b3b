"""Forecast accuracy: MASE, sMAPE, interval coverage, and rolling-origin evaluation.

MASE divides the mean absolute error by the in-sample mean absolute error of the one-step
seasonal-naive forecast (Hyndman and Koehler, 2006), so MASE < 1 beats a seasonal-naive
forecaster that always knew the value one season earlier; the held-out seasonal-naive
forecast over a multi-step horizon usually scores near or above 1.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgebound.forecast.base import (
    Forecaster,
    ForecastError,
    QuantileForecaster,
    _as_series,
    _check_horizon,
)

__all__ = ["Evaluation", "coverage", "mase", "mase_scale", "rolling_origin", "smape"]


def mase_scale(insample: np.ndarray, season: int) -> float:
    """Mean absolute one-step seasonal-naive error on the training data (MASE's denominator).

    Examples
    --------
    >>> mase_scale(np.array([1.0, 2.0, 4.0, 7.0]), 1)
    2.0
    """
    y = _as_series(insample, "insample", min_len=season + 1)
    scale = float(np.mean(np.abs(y[season:] - y[:-season])))
    if scale <= 0:
        raise ForecastError(
            f"insample: constant at lag {season}, so MASE is undefined; use a longer stretch"
        )
    return scale


def mase(
    actual: np.ndarray,
    forecast: np.ndarray,
    insample: np.ndarray | None = None,
    *,
    season: int = 1,
    scale: float | None = None,
) -> float:
    """Mean absolute scaled error.

    Parameters
    ----------
    actual, forecast : array_like
        Same shape, any dimensions (e.g. origins x lead times).
    insample : array_like, optional
        Training series, to compute the scale with :func:`mase_scale`.
    season : int
        Season of the scale.
    scale : float, optional
        A precomputed scale (instead of ``insample``).

    Examples
    --------
    >>> mase(np.array([3.0, 5.0]), np.array([4.0, 5.0]), np.array([1.0, 2.0, 4.0, 7.0]))
    0.25
    """
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    if a.shape != f.shape:
        raise ForecastError(f"forecast: shape {f.shape} differs from actual {a.shape}")
    if scale is None:
        if insample is None:
            raise ForecastError("mase: give insample or scale")
        scale = mase_scale(insample, season)
    return float(np.mean(np.abs(a - f)) / scale)


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric mean absolute percentage error, in percent (0 to 200).

    A term whose actual and forecast are both zero counts as a perfect forecast.

    Examples
    --------
    >>> smape(np.array([100.0, 0.0]), np.array([50.0, 0.0]))
    33.33333333333333
    """
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    den = np.abs(a) + np.abs(f)
    terms = np.divide(2.0 * np.abs(a - f), den, out=np.zeros_like(den), where=den > 0)
    return float(100.0 * np.mean(terms))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actual values inside ``[lower, upper]``.

    Examples
    --------
    >>> coverage(np.array([1.0, 2.0, 3.0, 4.0]), np.zeros(4), np.full(4, 2.5))
    0.5
    """
    a = np.asarray(actual, float)
    return float(np.mean((a >= np.asarray(lower)) & (a <= np.asarray(upper))))


@dataclass(frozen=True)
class Evaluation:
    """Accuracy of one forecaster over the origins of a rolling-origin evaluation.

    Attributes
    ----------
    mase, smape : float
        Over every origin and lead time (sMAPE in percent).
    coverage : float or None
        Share of actuals inside the central interval, when the forecaster gives quantiles.
    interval : tuple of float
        The interval's quantile levels, e.g. ``(0.1, 0.9)`` for a nominal 80 % interval.
    mase_by_lead : numpy.ndarray
        MASE of each lead time ``1..horizon``.
    origins : int
        Number of forecast origins.
    horizon : int
        Lead times per origin.
    predict_s : float
        Wall seconds spent forecasting (and refitting, with ``refit_every``).
    actual, forecast : numpy.ndarray
        ``(origins, horizon)``; ``lower`` and ``upper`` likewise, or None.
    """

    mase: float
    smape: float
    coverage: float | None
    interval: tuple[float, float]
    mase_by_lead: np.ndarray
    origins: int
    horizon: int
    predict_s: float
    actual: np.ndarray = field(repr=False)
    forecast: np.ndarray = field(repr=False)
    lower: np.ndarray | None = field(default=None, repr=False)
    upper: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The summary numbers, JSON-ready (no per-origin arrays).

        Examples
        --------
        >>> from edgebound.forecast import SeasonalNaive
        >>> y = np.tile([1.0, 5.0, 3.0], 6) + np.arange(18.0) % 2
        >>> ev = rolling_origin(SeasonalNaive(step_s=28800.0), y, start=12, horizon=2)
        >>> sorted(ev.to_dict())[:3]
        ['coverage', 'horizon', 'interval']
        """
        return {
            "mase": self.mase,
            "smape": self.smape,
            "coverage": self.coverage,
            "interval": list(self.interval),
            "mase_by_lead": self.mase_by_lead.tolist(),
            "origins": self.origins,
            "horizon": self.horizon,
            "predict_s": self.predict_s,
        }


def rolling_origin(
    forecaster: Forecaster,
    series: np.ndarray,
    start: int,
    horizon: int,
    *,
    stride: int = 1,
    season: int | None = None,
    interval: Sequence[float] = (0.1, 0.9),
    fit: bool = True,
    refit_every: int | None = None,
) -> Evaluation:
    """Forecast from every ``stride``-th origin of the held-out part and score the forecasts.

    The forecaster is fitted on ``series[:start]`` (unless ``fit`` is False, for one fitted
    already); from each origin ``t`` in ``start, start + stride, ...`` it forecasts
    ``series[t:t + horizon]`` from ``series[:t]``. The MASE scale is the seasonal-naive
    error on ``series[:start]``, so every forecaster on the same split is divided by the
    same number.

    Parameters
    ----------
    forecaster : Forecaster
        Anything with ``fit`` and ``predict``; intervals need ``predict_quantiles``.
    series : array_like
        The whole series.
    start : int
        First held-out index (e.g. ``len(series) - one week of steps``).
    horizon : int
        Lead times per forecast.
    stride : int
        Steps between origins.
    season : int, optional
        Season of the MASE scale; the forecaster's ``season`` attribute, else 1.
    interval : pair of float
        Quantile levels of the interval whose coverage is reported.
    fit : bool
        Fit on ``series[:start]`` first.
    refit_every : int, optional
        Refit on all data before the origin every so many steps (rolling retraining).

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> from edgebound.forecast import SeasonalNaive
    >>> y = np.tile([1.0, 5.0, 3.0], 10)
    >>> ev = rolling_origin(SeasonalNaive(step_s=28800.0, season=3), y + 1e-3 * np.arange(30),
    ...                     start=24, horizon=3)
    >>> ev.origins, round(ev.mase, 6)
    (4, 1.0)
    """
    y = _as_series(series, "series")
    h = _check_horizon(horizon)
    if not 1 <= start <= len(y) - h:
        raise ForecastError(f"start: {start} must leave {h} steps after it in {len(y)} samples")
    if stride < 1:
        raise ForecastError(f"stride: {stride} must be >= 1")
    m = int(season if season is not None else getattr(forecaster, "season", 1))
    scale = mase_scale(y[:start], m)
    if fit:
        forecaster.fit(y[:start])
    origins = np.arange(start, len(y) - h + 1, stride)
    levels = (float(interval[0]), float(interval[1]))
    tic = time.perf_counter()
    point, bounds = _forecasts(forecaster, y, origins, h, levels, refit_every)
    elapsed = time.perf_counter() - tic
    actual = y[origins[:, None] + np.arange(h)[None, :]]
    lower, upper = (None, None) if bounds is None else (bounds[0], bounds[1])
    by_lead = np.mean(np.abs(actual - point), axis=0) / scale
    return Evaluation(
        mase=mase(actual, point, scale=scale),
        smape=smape(actual, point),
        coverage=None if bounds is None else coverage(actual, bounds[0], bounds[1]),
        interval=levels,
        mase_by_lead=by_lead,
        origins=len(actual),
        horizon=h,
        predict_s=elapsed,
        actual=actual,
        forecast=point,
        lower=lower,
        upper=upper,
    )


def _forecasts(
    forecaster: Forecaster,
    y: np.ndarray,
    origins: np.ndarray,
    h: int,
    levels: tuple[float, float],
    refit_every: int | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Point forecasts ``(origins, h)`` and interval bounds ``(2, origins, h)`` or None."""
    wants_interval = isinstance(forecaster, QuantileForecaster)
    batched = getattr(forecaster, "predict_origins", None)
    if batched is not None and refit_every is None:
        # one pass over every origin gives the same forecasts without a call per origin
        point, qs = batched(y, origins, h, levels if wants_interval else ())
        return point, (qs if wants_interval else None)
    point = np.empty((len(origins), h))
    bounds = np.empty((2, len(origins), h)) if wants_interval else None
    last_fit = origins[0] if len(origins) else 0
    for i, t in enumerate(origins):
        if refit_every is not None and t - last_fit >= refit_every:
            forecaster.fit(y[:t])
            last_fit = t
        point[i] = forecaster.predict(y[:t], h)
        if bounds is not None:
            bounds[:, i] = forecaster.predict_quantiles(y[:t], h, levels)  # type: ignore[attr-defined]
    return point, bounds
