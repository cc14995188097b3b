"""The forecaster protocol and the forecasters that need no training framework.

A forecaster sees one site's request-rate series at a fixed step. ``fit(series)`` learns from
a contiguous stretch of it; ``predict(history, horizon)`` forecasts the ``horizon`` steps that
follow ``history``. ``history`` always starts at the same instant as the series given to
``fit`` (sample ``i`` of both is the same time of day), so a forecaster that uses the calendar
knows where it stands from ``len(history)``. Forecasters that can give intervals also have
``predict_quantiles(history, horizon, quantiles)``.

See the "Forecasting" page of the documentation for the method and measured accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from edgebound.errors import EdgeboundError

__all__ = [
    "DAY_S",
    "ForecastError",
    "Forecaster",
    "MovingAverage",
    "NoisyOracle",
    "Oracle",
    "QuantileForecaster",
    "SeasonalNaive",
    "TorchMissingError",
    "daily_season",
    "predict_matrix",
]

DAY_S = 86_400.0


class ForecastError(EdgeboundError, ValueError):
    """A forecaster was given data or options it cannot use."""


class TorchMissingError(EdgeboundError, ImportError):
    """A forecaster that needs torch was asked for, and torch is not installed.

    Examples
    --------
    >>> issubclass(TorchMissingError, ImportError)
    True
    """

    def __init__(self, what: str = "the TCN forecaster") -> None:
        super().__init__(
            f"{what} needs torch, which is not installed; install with "
            "pip install 'edgebound[forecast]' (and torch==2.13.0 for the CPU build)"
        )


@runtime_checkable
class Forecaster(Protocol):
    """What the MPC and the evaluation need from a forecaster.

    Examples
    --------
    >>> isinstance(SeasonalNaive(step_s=3600.0), Forecaster)
    True
    """

    def fit(self, series: np.ndarray) -> Forecaster:
        """Learn from ``series`` (1-D, non-negative rates at the forecaster's step)."""
        ...

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        """Point forecast of the ``horizon`` steps after ``history``: array ``(horizon,)``."""
        ...


@runtime_checkable
class QuantileForecaster(Forecaster, Protocol):
    """A forecaster that also gives quantiles (for prediction intervals).

    Examples
    --------
    >>> isinstance(MovingAverage(window=3), QuantileForecaster)
    True
    """

    def predict_quantiles(
        self, history: np.ndarray, horizon: int, quantiles: Sequence[float]
    ) -> np.ndarray:
        """Quantile forecasts: array ``(len(quantiles), horizon)``, non-decreasing in rows."""
        ...


def daily_season(step_s: float) -> int:
    """Steps in one day at ``step_s`` seconds per step (the season of seasonal naive).

    Examples
    --------
    >>> daily_season(300.0), daily_season(1800.0)
    (288, 48)
    """
    if step_s <= 0 or step_s > DAY_S:
        raise ForecastError(f"step_s: {step_s:g} s must be in (0, 86400]")
    return max(1, round(DAY_S / step_s))


def _as_series(x: np.ndarray | Sequence[float], what: str, min_len: int = 1) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1:
        raise ForecastError(f"{what}: must be one-dimensional, got shape {arr.shape}")
    if len(arr) < min_len:
        raise ForecastError(f"{what}: {len(arr)} samples, needs at least {min_len}")
    if not np.all(np.isfinite(arr)):
        raise ForecastError(f"{what}: contains NaN or infinite values")
    return arr


def _check_horizon(horizon: int) -> int:
    if int(horizon) != horizon or horizon < 1:
        raise ForecastError(f"horizon: {horizon!r} must be an integer >= 1")
    return int(horizon)


def _check_quantiles(quantiles: Sequence[float]) -> np.ndarray:
    q = np.asarray(quantiles, dtype=float)
    if q.ndim != 1 or len(q) == 0 or np.any((q <= 0) | (q >= 1)):
        raise ForecastError(f"quantiles: {list(quantiles)} must be levels strictly in (0, 1)")
    return q


def _seasonal_repeat(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """``y[T + h - 1 - season * ceil(h / season)]`` for ``h = 1..horizon``, ``T = len(y)``."""
    h = np.arange(1, horizon + 1)
    idx = len(history) + h - 1 - season * np.ceil(h / season).astype(int)
    return history[idx]


class _ResidualQuantiles:
    """Intervals from the empirical quantiles of in-sample errors, per lead time.

    Errors are taken on the log1p scale, where the spread of bursty request rates depends
    far less on their level than on the raw scale.
    """

    _errors: np.ndarray | None = None  # (samples, horizon) on the log1p scale

    def _store_errors(self, series: np.ndarray, horizon: int, min_history: int) -> None:
        # a short series still gives intervals for the lead times it can check
        horizon = min(horizon, len(series) - min_history)
        if horizon < 1:
            self._errors = None
            return
        origins = np.arange(min_history, len(series) - horizon + 1)
        # at most ~2000 origins: the quantiles settle long before that
        origins = origins[:: max(1, len(origins) // 2000)]
        errs = np.empty((len(origins), horizon))
        for i, t in enumerate(origins):
            f = self.predict(series[:t], horizon)  # type: ignore[attr-defined]
            errs[i] = np.log1p(series[t : t + horizon]) - np.log1p(f)
        self._errors = errs

    def predict_quantiles(
        self, history: np.ndarray, horizon: int, quantiles: Sequence[float]
    ) -> np.ndarray:
        q = _check_quantiles(quantiles)
        point = self.predict(history, horizon)  # type: ignore[attr-defined]
        if self._errors is None:
            raise ForecastError("predict_quantiles: call fit() first, on a long enough series")
        errs = self._errors
        if horizon > errs.shape[1]:
            # lead times beyond those fitted reuse the longest fitted lead time's spread
            errs = np.hstack([errs, np.repeat(errs[:, -1:], horizon - errs.shape[1], axis=1)])
        offsets = np.quantile(errs[:, :horizon], q, axis=0)
        out: np.ndarray = np.maximum(np.expm1(np.log1p(point)[None, :] + offsets), 0.0)
        return np.sort(out, axis=0)


class SeasonalNaive(_ResidualQuantiles):
    """Repeat the value one season (by default one day) earlier.

    Parameters
    ----------
    step_s : float
        Seconds per step of the series.
    season : int, optional
        Steps per season; one day at ``step_s`` when omitted.
    interval_horizon : int
        Lead times for which :meth:`fit` stores in-sample errors, for intervals.

    Examples
    --------
    >>> f = SeasonalNaive(step_s=6 * 3600.0).fit(np.arange(12.0))
    >>> f.season
    4
    >>> f.predict(np.arange(12.0), 6)
    array([ 8.,  9., 10., 11.,  8.,  9.])
    """

    def __init__(self, step_s: float, season: int | None = None, interval_horizon: int = 24):
        self.step_s = float(step_s)
        self.season = daily_season(step_s) if season is None else int(season)
        if self.season < 1:
            raise ForecastError(f"season: {season} must be >= 1")
        self.interval_horizon = int(interval_horizon)

    def fit(self, series: np.ndarray) -> SeasonalNaive:
        """Store in-sample errors for intervals; the point forecast needs no fitting."""
        y = _as_series(series, "series", min_len=self.season)
        self._store_errors(y, self.interval_horizon, self.season)
        return self

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        """Point forecast; ``history`` needs at least one season of samples."""
        y = _as_series(history, "history", min_len=self.season)
        return _seasonal_repeat(y, _check_horizon(horizon), self.season)


class MovingAverage(_ResidualQuantiles):
    """The mean of the last ``window`` values, flat over the horizon.

    Examples
    --------
    >>> MovingAverage(window=2).predict(np.array([1.0, 2.0, 4.0]), 3)
    array([3., 3., 3.])
    """

    def __init__(self, window: int = 12, interval_horizon: int = 24):
        if window < 1:
            raise ForecastError(f"window: {window} must be >= 1")
        self.window = int(window)
        self.interval_horizon = int(interval_horizon)

    def fit(self, series: np.ndarray) -> MovingAverage:
        """Store in-sample errors for intervals; the point forecast needs no fitting."""
        y = _as_series(series, "series", min_len=self.window)
        self._store_errors(y, self.interval_horizon, self.window)
        return self

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        """Point forecast; ``history`` needs at least one sample."""
        y = _as_series(history, "history")
        return np.full(_check_horizon(horizon), float(y[-self.window :].mean()))


class Oracle:
    """The future itself: a clairvoyant forecaster for ablations.

    Parameters
    ----------
    series : array_like
        The whole series, of which every ``history`` handed to :meth:`predict` is a prefix.

    Examples
    --------
    >>> y = np.arange(10.0)
    >>> Oracle(y).predict(y[:4], 3)
    array([4., 5., 6.])
    """

    def __init__(self, series: np.ndarray | Sequence[float]):
        self.series = _as_series(series, "series")

    def fit(self, series: np.ndarray) -> Oracle:
        """Nothing to learn."""
        return self

    def _future(self, history: np.ndarray, horizon: int) -> np.ndarray:
        t, h = len(history), _check_horizon(horizon)
        if t + h > len(self.series):
            raise ForecastError(
                f"horizon: the oracle knows {len(self.series)} samples; "
                f"steps {t}..{t + h - 1} go beyond them"
            )
        return self.series[t : t + h].copy()

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        """The next ``horizon`` values of the series after ``len(history)`` samples."""
        return self._future(history, horizon)

    def predict_quantiles(
        self, history: np.ndarray, horizon: int, quantiles: Sequence[float]
    ) -> np.ndarray:
        """Every quantile is the future itself (a zero-width interval)."""
        q = _check_quantiles(quantiles)
        return np.tile(self._future(history, horizon), (len(q), 1))


class NoisyOracle(Oracle):
    """The future times log-normal noise whose spread grows with the lead time.

    The forecast of lead time ``h`` is ``y[t+h] * exp(sigma * sqrt(h) * z - (sigma^2 h) / 2)``
    with standard normal ``z``, so it is unbiased in the mean and its error grows like a random
    walk's. The noise depends only on ``seed`` and the forecast origin: asking twice gives
    the same forecast.

    Parameters
    ----------
    series : array_like
        The whole series.
    sigma : float
        Log-scale noise of a one-step-ahead forecast (0.1 is about 10 % error).
    seed : int
        Seed of the noise.

    Examples
    --------
    >>> y = np.full(20, 100.0)
    >>> f = NoisyOracle(y, sigma=0.1, seed=3)
    >>> a = f.predict(y[:5], 4)
    >>> bool(np.all(a == f.predict(y[:5], 4))), bool(np.all(np.abs(a / 100 - 1) < 0.8))
    (True, True)
    """

    def __init__(self, series: np.ndarray | Sequence[float], sigma: float = 0.1, seed: int = 0):
        super().__init__(series)
        if sigma < 0:
            raise ForecastError(f"sigma: {sigma} must be >= 0")
        self.sigma = float(sigma)
        self.seed = int(seed)

    def _scale(self, origin: int, horizon: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, origin])
        s2 = self.sigma**2 * np.arange(1, horizon + 1)
        return np.exp(np.sqrt(s2) * rng.standard_normal(horizon) - 0.5 * s2)

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        """The future times noise fixed by ``seed`` and ``len(history)``."""
        return self._future(history, horizon) * self._scale(len(history), horizon)

    def predict_quantiles(
        self, history: np.ndarray, horizon: int, quantiles: Sequence[float]
    ) -> np.ndarray:
        """Quantiles of the noise law around the true future (it knows its own spread)."""
        from scipy.stats import norm

        q = _check_quantiles(quantiles)
        future = self._future(history, horizon)
        s2 = self.sigma**2 * np.arange(1, horizon + 1)
        z = norm.ppf(q)[:, None]
        out: np.ndarray = future[None, :] * np.exp(np.sqrt(s2)[None, :] * z - 0.5 * s2[None, :])
        return out


def predict_matrix(
    forecasters: Sequence[Forecaster], histories: Sequence[np.ndarray], horizon: int
) -> np.ndarray:
    """Forecast several series at once: array ``(len(forecasters), horizon)``.

    This is the shape the MPC takes as its forecast parameter (one row per demand).

    Examples
    --------
    >>> fs = [MovingAverage(window=1), MovingAverage(window=2)]
    >>> predict_matrix(fs, [np.array([1.0, 3.0]), np.array([1.0, 3.0])], 2)
    array([[3., 3.],
           [2., 2.]])
    """
    if len(forecasters) != len(histories):
        raise ForecastError(
            f"histories: {len(histories)} series for {len(forecasters)} forecasters"
        )
    h = _check_horizon(horizon)
    if not forecasters:
        return np.empty((0, h))
    return np.vstack(
        [f.predict(np.asarray(y, float), h) for f, y in zip(forecasters, histories, strict=True)]
    )
