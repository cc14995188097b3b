"""Real request-rate traces bundled with edgebound, and demand series built from them.

The traces come from the Numenta Anomaly Benchmark (MIT license, shipped beside the files
as ``LICENSE-NAB.txt``): Twitter mention volumes of seven companies and AWS load-balancer
request counts at 5-minute steps, and New York taxi demand at 30-minute steps. Each plays
the *shape* of one site's load; a demand's ``rate_rps`` sets its mean.
"""

from __future__ import annotations

import csv
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from edgebound.instances.schema import Demand, GeneratorProfile, Instance, TraceProfile

__all__ = ["demand_series", "length", "load_trace", "names", "resample", "shape"]


def _dir() -> Path:
    return Path(str(resources.files("edgebound"))) / "data" / "traces"


def names() -> list[str]:
    """Names of the bundled traces.

    Examples
    --------
    >>> "nyc_taxi" in names()
    True
    """
    return sorted(p.stem for p in _dir().glob("*.csv"))


def _resolve(name: str) -> Path:
    bundled = _dir() / f"{name}.csv"
    if bundled.is_file():
        return bundled
    path = Path(name)
    if path.suffix.lower() == ".csv" and path.is_file():
        return path
    raise KeyError(name)


@cache
def load_trace(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a trace: seconds since its first sample, and values.

    Parameters
    ----------
    name : str
        A bundled trace name or a path to a CSV file with header ``timestamp,value`` and
        timestamps ``YYYY-MM-DD HH:MM:SS``.

    Returns
    -------
    t_s, value : numpy.ndarray
        Both of the trace's length.

    Raises
    ------
    KeyError
        If there is no such trace.
    ValueError
        If the file is malformed (the message names the line).

    Examples
    --------
    >>> t, v = load_trace("nyc_taxi")
    >>> float(t[1] - t[0])
    1800.0
    """
    path = _resolve(name)
    times: list[float] = []
    values: list[float] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise ValueError(f"{path.name}: line 1 must be the header 'timestamp,value'")
        for line, row in enumerate(reader, start=2):
            try:
                stamp = datetime.strptime(row[0].strip(), "%Y-%m-%d %H:%M:%S")
                value = float(row[1])
            except (ValueError, IndexError):
                raise ValueError(
                    f"{path.name}: line {line} is not 'YYYY-MM-DD HH:MM:SS,number'"
                ) from None
            if value < 0 or not np.isfinite(value):
                raise ValueError(f"{path.name}: line {line}: value {value} must be finite and >= 0")
            times.append(stamp.timestamp())
            values.append(value)
    if len(values) < 2:
        raise ValueError(f"{path.name}: needs at least 2 samples")
    t = np.asarray(times)
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{path.name}: timestamps must be strictly increasing")
    return t - t[0], np.asarray(values)


def resample(t_s: np.ndarray, value: np.ndarray, step_s: float) -> np.ndarray:
    """Average a piecewise-constant signal over consecutive windows of ``step_s`` seconds.

    Each sample holds until the next one; the last one for the median gap. Windows finer
    than the trace repeat its values; coarser ones average them (time-weighted, so gaps
    in the trace do not bias the mean).

    Examples
    --------
    >>> resample(np.array([0.0, 10.0, 20.0, 30.0]), np.array([1.0, 3.0, 5.0, 7.0]), 20.0)
    array([2., 6.])
    """
    gap = float(np.median(np.diff(t_s)))
    edges = np.append(t_s, t_s[-1] + gap)
    cum = np.concatenate([[0.0], np.cumsum(value * np.diff(edges))])
    n = int(np.floor((edges[-1] - edges[0]) / step_s + 1e-9))
    bounds = edges[0] + step_s * np.arange(n + 1)
    integral = np.interp(bounds, edges, cum)
    return np.diff(integral) / step_s


def length(name: str, step_s: float | None = None) -> int:
    """Number of samples of a trace, resampled to ``step_s`` when given."""
    t, v = load_trace(name)
    return len(v) if step_s is None else len(resample(t, v, step_s))


def shape(profile: TraceProfile | GeneratorProfile, step_s: float, steps: int) -> np.ndarray:
    """A load shape of ``steps`` periods with long-run mean 1.

    A trace shape is the trace resampled to ``step_s`` and divided by its mean over the
    whole trace, taken from sample ``start`` on and wrapped around at the end. A generator
    shape is ``(1 + amplitude sin(2 pi t / period)) * lognormal noise * bursts``.

    Examples
    --------
    >>> s = shape(GeneratorProfile(kind="generator", seed=1, noise=0.0), 3600.0, 24)
    >>> round(float(s.mean()), 6)
    1.0
    """
    if isinstance(profile, TraceProfile):
        t, v = load_trace(profile.trace)
        series = resample(t, v, step_s)
        mean = float(series.mean())
        if mean <= 0:
            raise ValueError(f"trace {profile.trace!r} has mean 0 and cannot shape a load")
        start = min(profile.start * len(series) // len(v), len(series) - 1)
        idx = (start + np.arange(steps)) % len(series)
        return series[idx] / mean
    rng = np.random.default_rng(profile.seed)
    t = step_s * np.arange(steps)
    base = 1.0 + profile.amplitude * np.sin(2.0 * np.pi * t / profile.period_s)
    sigma = profile.noise
    noise = (
        rng.lognormal(mean=-0.5 * sigma**2, sigma=sigma, size=steps)
        if sigma > 0
        else np.ones(steps)
    )
    bursts = np.where(rng.random(steps) < profile.burst_prob, profile.burst_factor, 1.0)
    return base * noise * bursts


def demand_series(inst: Instance, steps: int | None = None) -> np.ndarray:
    """Arrival rates (req/s) of every demand over time: array (demands x steps).

    A demand without a profile is constant at ``rate_rps``.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> demand_series(load("gentzen-star4")).shape
    (5, 12)
    """
    n = inst.workload.horizon_steps if steps is None else steps
    return np.vstack([_one(d, inst.workload.step_s, n) for d in inst.workload.demands]).reshape(
        -1, n
    )


def _one(d: Demand, step_s: float, steps: int) -> np.ndarray:
    if d.profile is None:
        return np.full(steps, d.rate_rps)
    return d.rate_rps * shape(d.profile, step_s, steps)
