"""MASE, sMAPE, coverage and rolling-origin evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from edgebound.forecast import (
    ForecastError,
    MovingAverage,
    Oracle,
    SeasonalNaive,
    coverage,
    mase,
    mase_scale,
    rolling_origin,
    smape,
)


def test_mase_scale_is_the_in_sample_seasonal_naive_error() -> None:
    y = np.array([1.0, 3.0, 2.0, 5.0, 3.0, 7.0])
    assert mase_scale(y, 2) == pytest.approx(np.mean([1.0, 2.0, 1.0, 2.0]))
    assert mase(np.array([1.0]), np.array([2.5]), y, season=2) == pytest.approx(1.0)
    with pytest.raises(ForecastError, match="constant"):
        mase_scale(np.ones(10), 1)
    with pytest.raises(ForecastError, match="shape"):
        mase(np.ones(3), np.ones(2), scale=1.0)


def test_smape_counts_double_zero_as_perfect_and_is_bounded() -> None:
    assert smape(np.zeros(3), np.zeros(3)) == 0.0
    assert smape(np.array([0.0]), np.array([5.0])) == pytest.approx(200.0)
    assert smape(np.array([10.0]), np.array([10.0])) == 0.0


def test_coverage_counts_bounds_as_inside() -> None:
    assert coverage(np.array([1.0, 2.0]), np.array([1.0, 3.0]), np.array([1.0, 4.0])) == 0.5


def test_rolling_origin_oracle_scores_zero_and_full_coverage() -> None:
    rng = np.random.default_rng(0)
    y = 10 + rng.random(300)
    ev = rolling_origin(Oracle(y), y, start=200, horizon=5, stride=3, season=24)
    assert ev.mase == 0.0
    assert ev.smape == 0.0
    assert ev.coverage == 1.0
    assert ev.origins == len(range(200, 296, 3))
    assert ev.forecast.shape == (ev.origins, 5)


def test_rolling_origin_seasonal_naive_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(1)
    y = np.tile(np.arange(24.0), 12) + rng.random(288)
    f = SeasonalNaive(step_s=3600.0)
    ev = rolling_origin(f, y, start=240, horizon=6)
    errs = [np.abs(y[t : t + 6] - y[t - 24 : t - 18]) for t in range(240, 283)]
    scale = np.mean(np.abs(y[24:240] - y[:216]))
    assert ev.mase == pytest.approx(np.mean(errs) / scale)
    assert ev.mase_by_lead.shape == (6,)
    assert ev.coverage is not None and 0 <= ev.coverage <= 1


def test_refitting_changes_nothing_for_a_stateless_point_forecast() -> None:
    rng = np.random.default_rng(2)
    y = 5 + rng.random(400)
    a = rolling_origin(MovingAverage(6), y, 300, 4, season=24)
    b = rolling_origin(MovingAverage(6), y, 300, 4, season=24, refit_every=24)
    assert a.mase == pytest.approx(b.mase)


def test_rolling_origin_rejects_a_split_without_room() -> None:
    with pytest.raises(ForecastError, match="start"):
        rolling_origin(MovingAverage(2), np.arange(10.0), start=8, horizon=5)
