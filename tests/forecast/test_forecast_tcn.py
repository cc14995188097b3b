"""The TCN forecaster: shapes, causality, determinism, held-out accuracy (slow)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from edgebound.forecast import (
    Forecaster,
    ForecastError,
    QuantileForecaster,
    SeasonalNaive,
    TCNForecaster,
    daily_season,
    rolling_origin,
)
from edgebound.forecast.tcn import TCNConfig
from edgebound.instances.traces import load_trace, resample

SMALL = {"horizon": 6, "window": 24, "channels": 8, "levels": 3, "hidden": 32, "epochs": 3}


def synthetic(n: int = 24 * 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    day = 60 + 40 * np.sin(2 * np.pi * np.arange(n) / 24)
    return day * rng.lognormal(0, 0.1, n)


@pytest.fixture(scope="module")
def fitted() -> tuple[TCNForecaster, np.ndarray]:
    y = synthetic()
    return TCNForecaster(3600.0, **SMALL).fit(y[:600]), y


def test_tcn_satisfies_the_protocol(fitted: tuple[TCNForecaster, np.ndarray]) -> None:
    f, y = fitted
    assert isinstance(f, Forecaster) and isinstance(f, QuantileForecaster)
    out = f.predict(y[:600], 6)
    assert out.shape == (6,) and np.all(out >= 0)
    qs = f.predict_quantiles(y[:600], 4, (0.1, 0.3, 0.5, 0.9))
    assert qs.shape == (4, 4)
    assert np.all(np.diff(qs, axis=0) >= 0)
    assert np.allclose(qs[2], f.predict(y[:600], 4))
    assert f.info["epochs"] >= 1 and f.fit_s > 0


def test_tcn_is_causal(fitted: tuple[TCNForecaster, np.ndarray]) -> None:
    f, y = fitted
    changed = y.copy()
    changed[650:] *= 10
    a, _ = f.predict_origins(y, [600, 650], 6)
    b, _ = f.predict_origins(changed, [600, 650], 6)
    assert np.array_equal(a, b)
    # a batch of one and a batch of two may round float32 sums differently
    assert np.allclose(a[0], f.predict(y[:600], 6), rtol=1e-5)


def test_same_seed_gives_bit_identical_forecasts() -> None:
    y = synthetic(seed=3)
    a = TCNForecaster(3600.0, **SMALL, seed=5).fit(y[:600]).predict_origins(y, [600, 700], 6)[0]
    b = TCNForecaster(3600.0, **SMALL, seed=5).fit(y[:600]).predict_origins(y, [600, 700], 6)[0]
    c = TCNForecaster(3600.0, **SMALL, seed=6).fit(y[:600]).predict_origins(y, [600, 700], 6)[0]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_global_torch_state_is_restored() -> None:
    import torch

    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    TCNForecaster(3600.0, **SMALL, threads=1).fit(synthetic()[:400])
    assert torch.rand(1) == expected
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det


def test_tcn_errors_say_what_to_do(fitted: tuple[TCNForecaster, np.ndarray]) -> None:
    f, y = fitted
    with pytest.raises(ForecastError, match="fit with a longer horizon"):
        f.predict(y[:600], 7)
    with pytest.raises(ForecastError, match="outside the trained levels"):
        f.predict_quantiles(y[:600], 2, (0.05, 0.5))
    with pytest.raises(ForecastError, match="call fit"):
        TCNForecaster(3600.0).predict(y, 2)
    with pytest.raises(ForecastError, match="needs more than"):
        TCNForecaster(3600.0, **SMALL).fit(y[:30])
    with pytest.raises(ForecastError, match="channels"):
        TCNConfig(channels=0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["nyc_taxi", "Twitter_volume_AAPL", "Twitter_volume_GOOG", "elb_request_count_8c0756"]
)
def test_tcn_beats_seasonal_naive_on_the_held_out_final_week(name: str) -> None:
    t, v = load_trace(name)
    step = float(np.median(np.diff(t)))
    y = resample(t, v, step)
    start = len(y) - round(7 * 86400 / step)
    m = daily_season(step)
    tcn = rolling_origin(TCNForecaster(step, horizon=12), y, start, 12, season=m)
    naive = rolling_origin(SeasonalNaive(step), y, start, 12, season=m)
    assert tcn.mase < naive.mase
