"""Forecasters without torch: seasonal naive, moving average, oracles, the protocol."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgebound.errors import EdgeboundError
from edgebound.forecast import (
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
from edgebound.instances.traces import load_trace, resample

ALL = [
    SeasonalNaive(step_s=3600.0),
    MovingAverage(window=4),
    Oracle(np.arange(200.0)),
    NoisyOracle(np.arange(200.0), sigma=0.2, seed=1),
]


def taxi() -> tuple[np.ndarray, float]:
    t, v = load_trace("nyc_taxi")
    return resample(t, v, 1800.0), 1800.0


@pytest.mark.parametrize("f", ALL, ids=lambda f: type(f).__name__)
def test_every_forecaster_satisfies_the_protocol(f: Forecaster) -> None:
    rng = np.random.default_rng(0)
    series = 50 + 10 * rng.random(200)
    assert isinstance(f, Forecaster)
    assert isinstance(f, QuantileForecaster)
    f.fit(series[:100])
    out = f.predict(series[:100], 6)
    assert out.shape == (6,)
    assert np.all(np.isfinite(out))
    qs = f.predict_quantiles(series[:100], 6, (0.1, 0.5, 0.9))  # type: ignore[attr-defined]
    assert qs.shape == (3, 6)
    assert np.all(np.diff(qs, axis=0) >= -1e-12)


def test_season_follows_the_step() -> None:
    assert daily_season(300.0) == 288
    assert SeasonalNaive(step_s=1800.0).season == 48
    with pytest.raises(ForecastError, match="step_s"):
        daily_season(0.0)


def test_seasonal_naive_repeats_the_last_day_beyond_one_season() -> None:
    y = np.arange(10.0)
    f = SeasonalNaive(step_s=8 * 3600.0)  # 3 steps per day
    assert f.predict(y, 7).tolist() == [7.0, 8.0, 9.0, 7.0, 8.0, 9.0, 7.0]


def test_seasonal_naive_is_perfect_on_a_periodic_series() -> None:
    day = np.array([1.0, 4.0, 9.0, 4.0])
    y = np.tile(day, 10)
    f = SeasonalNaive(step_s=6 * 3600.0).fit(y[:30])
    assert np.array_equal(f.predict(y[:30], 10), y[30:40])


def test_intervals_cover_about_their_level_on_a_real_trace() -> None:
    y, step = taxi()
    f = SeasonalNaive(step, interval_horizon=4).fit(y[:5000])
    hits = []
    for t in range(5000, 6000, 7):
        lo, hi = f.predict_quantiles(y[:t], 4, (0.1, 0.9))
        hits.append(np.mean((y[t : t + 4] >= lo) & (y[t : t + 4] <= hi)))
    assert 0.6 < np.mean(hits) < 0.95


def test_moving_average_is_flat_mean_of_window() -> None:
    out = MovingAverage(window=3).predict(np.array([5.0, 1.0, 2.0, 3.0]), 2)
    assert out.tolist() == [2.0, 2.0]


def test_oracle_returns_the_future_and_refuses_beyond_it() -> None:
    y = np.arange(20.0)
    assert Oracle(y).predict(y[:15], 5).tolist() == [15.0, 16.0, 17.0, 18.0, 19.0]
    with pytest.raises(ForecastError, match="oracle knows 20"):
        Oracle(y).predict(y[:18], 5)


def test_noisy_oracle_is_repeatable_unbiased_and_grows_with_lead() -> None:
    y = np.full(5000, 100.0)
    f = NoisyOracle(y, sigma=0.1, seed=7)
    assert np.array_equal(
        f.predict(y[:10], 8), NoisyOracle(y, sigma=0.1, seed=7).predict(y[:10], 8)
    )
    assert not np.array_equal(
        f.predict(y[:10], 8), NoisyOracle(y, sigma=0.1, seed=8).predict(y[:10], 8)
    )
    fc = np.array([f.predict(y[:t], 8) for t in range(1, 4000)])
    assert abs(fc.mean() / 100 - 1) < 0.01
    err = np.abs(fc / 100 - 1).mean(axis=0)
    assert err[-1] > 2 * err[0]
    assert np.array_equal(NoisyOracle(y, sigma=0.0).predict(y[:3], 4), y[3:7])


def test_predict_matrix_stacks_one_row_per_forecaster() -> None:
    y = np.arange(1.0, 50.0)
    m = predict_matrix([Oracle(y), MovingAverage(1)], [y[:10], y[:20]], 3)
    assert m.tolist() == [[11.0, 12.0, 13.0], [20.0, 20.0, 20.0]]
    with pytest.raises(ForecastError, match="2 forecasters"):
        predict_matrix([Oracle(y), Oracle(y)], [y], 3)


def test_bad_inputs_raise_package_errors() -> None:
    with pytest.raises(ForecastError, match="horizon"):
        MovingAverage().predict(np.ones(5), 0)
    with pytest.raises(ForecastError, match="NaN"):
        MovingAverage().predict(np.array([1.0, np.nan]), 2)
    with pytest.raises(ForecastError, match="at least 24"):
        SeasonalNaive(step_s=3600.0).predict(np.ones(5), 2)
    with pytest.raises(ForecastError, match="quantiles"):
        SeasonalNaive(step_s=3600.0).fit(np.arange(60.0)).predict_quantiles(
            np.arange(60.0), 2, (0.0, 0.5)
        )
    assert issubclass(ForecastError, EdgeboundError)


def test_torch_missing_error_says_how_to_install() -> None:
    err = TorchMissingError()
    assert isinstance(err, ImportError)
    assert isinstance(err, EdgeboundError)
    assert "pip install 'edgebound[forecast]'" in str(err)
    assert "torch==2.13.0" in str(err)


def test_package_imports_without_torch_and_tcn_says_how_to_install() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import edgebound.forecast as fc\n"
        "import edgebound.forecast.federated as fed\n"
        "for make in (lambda: fc.TCNForecaster(300.0), lambda: fed.train_federated([])):\n"
        "    try:\n"
        "        make()\n"
        "    except fc.TorchMissingError as e:\n"
        "        print('missing:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.count("missing:") == 2
    assert "pip install 'edgebound[forecast]'" in out.stdout
