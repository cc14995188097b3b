"""M/M/c formulas: closed forms, exact rational values, extremes, monotonicity, simulation."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgebound.evaluate.queueing import (
    erlang_b,
    erlang_c,
    erlang_c_table,
    mmc_mean_response,
    mmc_mean_wait,
    mmc_response_quantile,
    mmc_response_tail,
)


def exact_erlang_c(c: int, a: Fraction | int) -> Fraction:
    """Textbook Erlang C in exact rationals.

    C = (a^c/c!)(c/(c-a)) / (sum_{k<c} a^k/k! + (a^c/c!)(c/(c-a))). Every term is scaled
    by c!, so the sum is over integers times powers of ``a`` and stays fast for c ~ 1000.
    """
    a = Fraction(a)
    top = a**c * Fraction(c) / (c - a)
    ratio = 1  # c! / k!, from k = c down to 0
    total = Fraction(0)
    for k in range(c - 1, -1, -1):
        ratio *= k + 1
        total += a**k * ratio
    return top / (total + top)


# --------------------------------------------------------------------------- M/M/1


@given(
    mu=st.floats(0.1, 1e4),
    rho=st.floats(0.0, 0.999),
    t=st.floats(0.0, 50.0),
    q=st.floats(0.01, 0.99),
)
def test_single_server_is_mm1(mu: float, rho: float, t: float, q: float) -> None:
    lam = rho * mu
    assert erlang_c(1, rho) == pytest.approx(rho, abs=1e-15)
    if lam > 0:
        assert mmc_mean_wait(1, lam, mu) == pytest.approx(rho / (mu - lam), rel=1e-12)
    assert mmc_mean_response(1, lam, mu) == pytest.approx(1 / (mu - lam), rel=1e-12)
    t_scaled = t / mu
    expected_tail = math.exp(-(mu - lam) * t_scaled)
    assert mmc_response_tail(t_scaled, 1, lam, mu) == pytest.approx(
        expected_tail, rel=1e-9, abs=1e-300
    )
    assert mmc_response_quantile(q, 1, lam, mu) == pytest.approx(
        -math.log(1 - q) / (mu - lam), rel=1e-9
    )


# --------------------------------------------------------------------------- exact values


@pytest.mark.parametrize(
    ("c", "a", "published"),
    [
        (10, 8, 0.4092),  # standard call-centre table entry
        (2, 1, 1 / 3),
        (3, 1, 1 / 11),
        (3, 2, 4 / 9),
        (4, 2, 4 / 23),
        (5, 4, 128 / 231),
    ],
)
def test_published_erlang_c_values(c: int, a: int, published: float) -> None:
    exact = exact_erlang_c(c, a)
    assert float(exact) == pytest.approx(published, abs=5e-5)
    assert erlang_c(c, float(a)) == pytest.approx(float(exact), rel=1e-12)


@pytest.mark.parametrize(
    ("c", "a"),
    [(20, Fraction(15)), (50, Fraction(95, 2)), (100, Fraction(90)), (7, Fraction(1, 3))],
)
def test_erlang_c_matches_exact_rationals(c: int, a: Fraction) -> None:
    assert erlang_c(c, float(a)) == pytest.approx(float(exact_erlang_c(c, a)), rel=1e-11)


def test_erlang_b_small_cases() -> None:
    assert erlang_b(0, 3.0) == 1.0
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    # B(2, 1) = (1/2) / (1 + 1 + 1/2)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)


# --------------------------------------------------------------------------- extremes


@pytest.mark.parametrize("c", [500, 1000, 5000])
@pytest.mark.parametrize("gap", [1e-6, 1e-3, 0.5, 10.0])
def test_many_servers_near_saturation_stay_finite(c: int, gap: float) -> None:
    a = c - gap
    pw = erlang_c(c, a)
    assert 0.0 < pw <= 1.0
    wait = mmc_mean_wait(c, a * 2.0, 2.0)
    assert math.isfinite(wait)
    assert wait > 0.0
    table = erlang_c_table(c, a)
    assert np.isfinite(table).all()
    assert table[c] == pytest.approx(pw, rel=1e-12)


def test_near_saturation_matches_exact_rationals() -> None:
    c, a = 1000, Fraction(990)
    assert erlang_c(c, float(a)) == pytest.approx(float(exact_erlang_c(c, a)), rel=1e-10)


def test_huge_server_counts_stop_once_blocking_underflows() -> None:
    assert erlang_b(10**12, 50.0) == 0.0
    assert erlang_c(10**12, 50.0) == 0.0
    assert mmc_mean_wait(10**12, 60.0, 100.0) == 0.0


def test_unstable_and_empty_queues() -> None:
    assert erlang_c(0, 0.0) == 1.0
    assert erlang_c(3, 3.0) == 1.0
    assert erlang_c(3, 5.0) == 1.0
    assert erlang_c(3, 0.0) == 0.0
    assert mmc_mean_wait(2, 200.0, 100.0) == math.inf
    assert mmc_mean_wait(0, 1.0, 100.0) == math.inf
    assert mmc_mean_wait(2, 0.0, 100.0) == 0.0
    assert mmc_response_quantile(0.9, 1, 100.0, 100.0) == math.inf
    assert mmc_response_tail(1.0, 1, 100.0, 100.0) == 1.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: erlang_c(-1, 1.0), "c:"),
        (lambda: erlang_c(1.5, 1.0), "c:"),  # type: ignore[arg-type]
        (lambda: erlang_b(2, -1.0), "offered load"),
        (lambda: erlang_b(2, math.inf), "offered load"),
        (lambda: mmc_mean_wait(1, 1.0, 0.0), "mu"),
        (lambda: mmc_mean_wait(1, -1.0, 1.0), "lam"),
        (lambda: mmc_response_quantile(1.0, 1, 1.0, 2.0), "q"),
    ],
)
def test_bad_arguments_raise_value_error(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- table, monotonicity


@pytest.mark.parametrize("a", [0.0, 0.3, 1.0, 2.0, 7.5, 40.0])
def test_table_agrees_with_erlang_c(a: float) -> None:
    table = erlang_c_table(60, a)
    assert table.shape == (61,)
    for c in range(61):
        assert table[c] == pytest.approx(erlang_c(c, a), rel=1e-13, abs=1e-300)


@given(c=st.integers(1, 300), frac=st.floats(0.001, 0.999), step=st.floats(0.0, 1.0))
def test_erlang_c_decreasing_in_c_and_increasing_in_a(c: int, frac: float, step: float) -> None:
    a = frac * c
    assert erlang_c(c + 1, a) <= erlang_c(c, a) * (1 + 1e-12)
    a2 = a + step * (c - a)
    assert erlang_c(c, a2) >= erlang_c(c, a) * (1 - 1e-12)


@given(a=st.floats(0.01, 200.0), mu=st.floats(0.1, 1000.0))
@settings(max_examples=200)
def test_mean_wait_convex_decreasing_in_servers(a: float, mu: float) -> None:
    lam = a * mu
    c0 = math.floor(a) + 1
    waits = [mmc_mean_wait(c, lam, mu) for c in range(c0, c0 + 30)]
    scale = waits[0]
    for w0, w1, w2 in zip(waits, waits[1:], waits[2:], strict=False):
        assert w1 <= w0 * (1 + 1e-12)
        # second difference >= 0, up to rounding relative to the largest wait
        assert (w0 - w1) - (w1 - w2) >= -1e-12 * scale


# --------------------------------------------------------------------------- sojourn time


def _simulate_fcfs_mmc(c: int, lam: float, mu: float, n: int, seed: int) -> np.ndarray:
    """Sojourn times of a FCFS M/M/c queue: each arrival takes the server free first."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / lam, n)).tolist()
    services = rng.exponential(1 / mu, n).tolist()
    free = [0.0] * c
    out = []
    for arrival, service in zip(arrivals, services, strict=True):
        start = max(arrival, heapq.heappop(free))
        heapq.heappush(free, start + service)
        out.append(start + service - arrival)
    return np.asarray(out)


def test_sojourn_tail_matches_simulation() -> None:
    c, lam, mu = 3, 2.1, 1.0
    sojourn = _simulate_fcfs_mmc(c, lam, mu, 300_000, seed=7)[20_000:]  # drop the warm-up
    ts = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
    empirical = (sojourn[:, None] > ts).mean(axis=0)
    np.testing.assert_allclose(empirical, mmc_response_tail(ts, c, lam, mu), atol=0.01)
    assert sojourn.mean() == pytest.approx(mmc_mean_response(c, lam, mu), rel=0.03)


@pytest.mark.parametrize(("c", "lam", "mu"), [(1, 5.0, 10.0), (4, 30.0, 10.0), (50, 480.0, 10.0)])
@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.999])
def test_quantile_inverts_tail(c: int, lam: float, mu: float, q: float) -> None:
    x = mmc_response_quantile(q, c, lam, mu)
    assert mmc_response_tail(x, c, lam, mu) == pytest.approx(1 - q, rel=1e-9)


def test_tail_is_one_before_zero_and_handles_equal_rates() -> None:
    assert mmc_response_tail(-1.0, 2, 1.0, 1.0) == 1.0
    # theta = c mu - lam equals mu: the hypoexponential limit (1 + mu t) e^{-mu t}
    c, mu = 2, 1.0
    lam = c * mu - mu
    t = 1.3
    pw = erlang_c(c, lam / mu)
    expected = (1 - pw) * math.exp(-mu * t) + pw * (1 + mu * t) * math.exp(-mu * t)
    assert mmc_response_tail(t, c, lam, mu) == pytest.approx(expected, rel=1e-12)
    # a hair away from equal rates, the general formula must agree with the limit
    assert mmc_response_tail(t, c, lam * (1 + 1e-7), mu) == pytest.approx(expected, rel=1e-5)


def test_tail_accepts_arrays() -> None:
    ts = np.linspace(0.0, 1.0, 5)
    out = mmc_response_tail(ts, 2, 10.0, 8.0)
    assert isinstance(out, np.ndarray)
    assert out.shape == (5,)
    assert out[0] == pytest.approx(1.0)
    assert np.all(np.diff(out) < 0)
