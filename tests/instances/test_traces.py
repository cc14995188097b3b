"""Bundled traces: reading, resampling, shapes and demand series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from edgebound.instances import dumps, load, traces
from edgebound.instances.schema import GeneratorProfile, TraceProfile

EXPECTED = {
    "Twitter_volume_AAPL": 15902,
    "Twitter_volume_AMZN": 15831,
    "Twitter_volume_CRM": 15902,
    "Twitter_volume_FB": 15833,
    "Twitter_volume_GOOG": 15842,
    "Twitter_volume_IBM": 15893,
    "Twitter_volume_KO": 15851,
    "elb_request_count_8c0756": 4032,
    "nyc_taxi": 10320,
}


def test_all_traces_bundled_with_license() -> None:
    assert traces.names() == sorted(EXPECTED)
    here = Path(traces.__file__).resolve().parents[1] / "data" / "traces"
    assert (here / "LICENSE-NAB.txt").is_file()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_trace_lengths_and_values(name: str) -> None:
    t, v = traces.load_trace(name)
    assert len(t) == len(v) == EXPECTED[name]
    assert t[0] == 0.0 and np.all(np.diff(t) > 0)
    assert np.all(v >= 0)


def test_resample_preserves_time_weighted_mean() -> None:
    t, v = traces.load_trace("Twitter_volume_AMZN")  # 5-min steps, no gaps
    hourly = traces.resample(t, v, 3600.0)
    n = len(hourly) * 12
    assert hourly.mean() == pytest.approx(v[:n].mean(), rel=1e-12)
    assert hourly[0] == pytest.approx(v[:12].mean())


def test_resample_finer_than_trace_repeats_values() -> None:
    t = np.array([0.0, 60.0, 120.0])
    v = np.array([1.0, 2.0, 4.0])
    assert traces.resample(t, v, 30.0).tolist() == [1.0, 1.0, 2.0, 2.0, 4.0, 4.0]


def test_resample_weights_gaps_by_time() -> None:
    # The ELB trace has 10-minute gaps: a sample before a gap holds twice as long.
    t = np.array([0.0, 300.0, 900.0])
    v = np.array([1.0, 4.0, 1.0])
    assert traces.resample(t, v, 1200.0).tolist() == [pytest.approx((300 + 2400 + 300) / 1200)]


def test_trace_shape_has_mean_one_over_the_trace_and_wraps() -> None:
    prof = TraceProfile(kind="trace", trace="nyc_taxi")
    full = traces.length("nyc_taxi", step_s=1800.0)
    s = traces.shape(prof, 1800.0, full)
    assert s.mean() == pytest.approx(1.0)
    wrapped = traces.shape(TraceProfile(kind="trace", trace="nyc_taxi", start=full - 2), 1800.0, 4)
    assert wrapped[2:].tolist() == pytest.approx(s[:2].tolist())


def test_generator_shape_is_seeded() -> None:
    a = traces.shape(
        GeneratorProfile(kind="generator", seed=3, noise=0.3, burst_prob=0.1), 300.0, 500
    )
    b = traces.shape(
        GeneratorProfile(kind="generator", seed=3, noise=0.3, burst_prob=0.1), 300.0, 500
    )
    c = traces.shape(
        GeneratorProfile(kind="generator", seed=4, noise=0.3, burst_prob=0.1), 300.0, 500
    )
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.all(a > 0)


def test_demand_series_scales_trace_to_rate() -> None:
    data = yaml.safe_load(dumps(load("gentzen-star4")))
    data["workload"]["demands"][0]["profile"] = {"kind": "trace", "trace": "Twitter_volume_KO"}
    data["workload"]["step_s"] = 300.0
    inst = load(data)
    steps = traces.length("Twitter_volume_KO", step_s=300.0)
    series = traces.demand_series(inst, steps)
    assert series.shape == (5, steps)
    assert series[0].mean() == pytest.approx(60.0)
    assert np.all(series[1] == 60.0)


def test_user_csv_trace(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,3\n")
    t, v = traces.load_trace(str(path))
    assert t.tolist() == [0.0, 300.0] and v.tolist() == [1.0, 3.0]
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n2020-01-01 00:00:00,1\nyesterday,3\n")
    with pytest.raises(ValueError, match="line 3"):
        traces.load_trace(str(bad))
