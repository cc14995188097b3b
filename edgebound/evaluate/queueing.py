"""M/M/c queueing formulas, numerically stable for thousands of servers.

Erlang B is computed by its recursion ``B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))``, which
stays in [0, 1] at every step, so nothing overflows however large ``c`` or the offered load
``a = lambda / mu`` is. Erlang C follows as ``C = B / (1 - rho (1 - B))`` with ``rho = a / c``.

Times are in the unit of ``1 / mu``; callers pass rates in req/s and get seconds.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "erlang_b",
    "erlang_c",
    "erlang_c_table",
    "mmc_mean_response",
    "mmc_mean_wait",
    "mmc_response_quantile",
    "mmc_response_tail",
]


def _check(c: int, a: float) -> None:
    if int(c) != c or c < 0:
        raise ValueError(f"c: {c!r} must be a whole number >= 0")
    if not (a >= 0 and math.isfinite(a)):
        raise ValueError(f"offered load a: {a!r} must be finite and >= 0")


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of an M/M/c/c system with offered load ``a`` Erlang.

    Examples
    --------
    >>> round(erlang_b(1, 1.0), 12)
    0.5
    >>> erlang_b(5000, 4500.0) < 1e-6
    True
    """
    _check(c, a)
    b = 1.0
    for k in range(1, int(c) + 1):
        b = a * b / (k + a * b)
        if b == 0.0:
            # Once underflowed, b stays 0; stopping keeps huge c (say 10**12) from looping.
            break
    return b


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with offered load ``a = lambda/mu``.

    Returns 1 when the queue is not stable (``a >= c``).

    Examples
    --------
    >>> erlang_c(1, 0.7)  # M/M/1: the utilization
    0.7
    >>> round(erlang_c(2, 1.0), 12)
    0.333333333333
    """
    _check(c, a)
    if c == 0 or a >= c:
        return 1.0
    if a == 0:
        return 0.0
    b = erlang_b(c, a)
    return b / (1.0 - (a / c) * (1.0 - b))


def erlang_c_table(c_max: int, a: float) -> np.ndarray:
    """Erlang C for ``c = 0, 1, ..., c_max`` in one pass: array of length ``c_max + 1``.

    Entries with ``c <= a`` (unstable) are 1.

    Examples
    --------
    >>> erlang_c_table(3, 1.0).round(6).tolist()
    [1.0, 1.0, 0.333333, 0.090909]
    """
    _check(c_max, a)
    out = np.ones(int(c_max) + 1)
    b = 1.0
    for k in range(1, int(c_max) + 1):
        b = a * b / (k + a * b)
        if a < k:
            out[k] = 0.0 if a == 0 else b / (1.0 - (a / k) * (1.0 - b))
    return out


def mmc_mean_wait(c: int, lam: float, mu: float) -> float:
    """Mean time in queue (before service) of an M/M/c queue; ``inf`` if unstable.

    Examples
    --------
    >>> mmc_mean_wait(1, 50.0, 100.0)  # M/M/1: rho / (mu - lam)
    0.01
    """
    if mu <= 0:
        raise ValueError(f"mu: {mu!r} must be > 0")
    if lam < 0:
        raise ValueError(f"lam: {lam!r} must be >= 0")
    if lam == 0:
        return 0.0
    if c * mu <= lam:
        return math.inf
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_mean_response(c: int, lam: float, mu: float) -> float:
    """Mean sojourn time (wait + service) of an M/M/c queue; ``inf`` if unstable.

    Examples
    --------
    >>> mmc_mean_response(1, 50.0, 100.0)  # M/M/1: 1 / (mu - lam)
    0.02
    """
    return mmc_mean_wait(c, lam, mu) + 1.0 / mu


def mmc_response_tail(t: float | np.ndarray, c: int, lam: float, mu: float) -> float | np.ndarray:
    """``P(T > t)`` for the sojourn time T of a FCFS M/M/c queue.

    T is the service time (Exp(mu)) plus a wait that is 0 with probability ``1 - C`` and
    Exp(theta) with probability ``C``, ``theta = c mu - lambda``; the sum of the two
    exponentials is hypoexponential.

    Examples
    --------
    >>> import math
    >>> t = 0.01
    >>> abs(mmc_response_tail(t, 1, 50.0, 100.0) - math.exp(-50.0 * t)) < 1e-12  # M/M/1
    True
    """
    tt = np.asarray(t, dtype=float)
    if c * mu <= lam:
        out = np.ones_like(tt)
    else:
        pw = erlang_c(c, lam / mu) if lam > 0 else 0.0
        theta = c * mu - lam
        tt_pos = np.maximum(tt, 0.0)
        serv = np.exp(-mu * tt_pos)
        if abs(theta - mu) < 1e-9 * mu:
            hypo = (1.0 + mu * tt_pos) * serv
        else:
            hypo = (mu * np.exp(-theta * tt_pos) - theta * serv) / (mu - theta)
        out = (1.0 - pw) * serv + pw * hypo
        out = np.where(tt < 0, 1.0, out)
    return float(out) if np.ndim(t) == 0 else out


def mmc_response_quantile(q: float, c: int, lam: float, mu: float) -> float:
    """The ``q``-quantile of the M/M/c sojourn time; ``inf`` if unstable.

    Examples
    --------
    >>> import math
    >>> abs(mmc_response_quantile(0.95, 1, 50.0, 100.0) - math.log(20) / 50) < 1e-9
    True
    """
    if not 0 < q < 1:
        raise ValueError(f"q: {q!r} must be in (0, 1)")
    if c * mu <= lam:
        return math.inf
    target = 1.0 - q
    lo, hi = 0.0, 1.0 / mu
    while mmc_response_tail(hi, c, lam, mu) > target:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mmc_response_tail(mid, c, lam, mu) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * max(hi, 1e-300):
            break
    return 0.5 * (lo + hi)
