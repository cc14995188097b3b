"""The placement MILP's rate limits checked against a request-by-request M/M/c simulation.

:func:`edgebound.models.placement.rate_limits` gives the largest load at which the 95th
percentile of the FCFS M/M/c sojourn time is within a budget. Here FCFS M/M/c queues are
simulated customer by customer with the Kiefer-Wolfowitz workload vector (the sorted
remaining work of the c servers; an arrival waits for the smallest entry), many independent
replications at once. At the limit the share of sojourns over the budget must be 5 % within
sampling error, and at a load 10 % higher it must be clearly above 5 %.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgebound.models.placement import rate_limits


def sojourns(
    c: int, lam: float, mu: float, *, reps: int, customers: int, warmup: int, seed: int
) -> np.ndarray:
    """Sojourn times (s) of ``customers - warmup`` customers in each of ``reps`` queues."""
    rng = np.random.default_rng(seed)
    work = np.zeros((reps, c))  # sorted ascending: the server that frees up first is column 0
    service = rng.exponential(1.0 / mu, (customers, reps))
    gaps = rng.exponential(1.0 / lam, (customers, reps))
    out = np.empty((customers - warmup, reps))
    for n in range(customers):
        wait = work[:, 0].copy()
        work[:, 0] += service[n]
        work = np.sort(np.maximum(work - gaps[n][:, None], 0.0), axis=1)
        if n >= warmup:
            out[n - warmup] = wait + service[n]
    return out


def over_budget(c: int, lam: float, mu: float, budget_s: float, seed: int) -> tuple[float, float]:
    """Share of sojourns over the budget and its standard error across replications."""
    t = sojourns(c, lam, mu, reps=300, customers=6000, warmup=1000, seed=seed)
    per_rep = (t > budget_s).mean(axis=0)
    return float(per_rep.mean()), float(per_rep.std(ddof=1) / np.sqrt(per_rep.size))


@pytest.mark.parametrize(
    ("c", "mu", "budget_ms"),
    [(1, 100.0, 60.0), (4, 50.0, 80.0), (10, 10.0, 400.0)],
)
def test_rate_limit_meets_the_budget_at_the_95th_percentile(
    c: int, mu: float, budget_ms: float
) -> None:
    lam = float(rate_limits([c], mu, budget_ms)[0])
    assert 0 < lam < c * mu  # the SLO binds, not stability
    share, se = over_budget(c, lam, mu, budget_ms / 1000.0, seed=c)
    assert abs(share - 0.05) < 4 * se + 1e-3, (share, se)
    # the empirical 95th percentile sits on the budget
    t = sojourns(c, lam, mu, reps=300, customers=6000, warmup=1000, seed=100 + c)
    assert np.quantile(t, 0.95) == pytest.approx(budget_ms / 1000.0, rel=0.03)
    higher, se_h = over_budget(c, 1.1 * lam, mu, budget_ms / 1000.0, seed=200 + c)
    assert higher - 4 * se_h > 0.05, (higher, se_h)
