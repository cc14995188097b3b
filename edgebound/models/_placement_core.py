"""Shared pieces of the placement models: SLO rate limits, queue structure, one period.

:mod:`edgebound.models.placement` (one period) and :mod:`edgebound.models.placement_schedule`
(T periods) are built from the same period block, :func:`_add_period`, so the two models
share their semantics exactly; only migrations (against the previous placement or the
previous period) and the objective are added by each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyomo.environ as pyo
from scipy import special

from edgebound.errors import SolverError
from edgebound.evaluate.placement import _Data
from edgebound.instances import Instance

_RESOURCES = ("cpu", "ram_gb", "disk_gb", "gpus")
_UNIT = {"cpu": "vCPU", "ram_gb": "GB RAM", "disk_gb": "GB disk", "gpus": "GPUs"}
# HiGHS accepts MIP solutions whose rows are off by up to its mip_feasibility_tolerance
# (1e-6), and decoding rescales routes to close demand balance: margins 10x that
_RATE_MARGIN = 1e-7
_RATE_MARGIN_RPS = 1e-5
_POWER_MARGIN_W = 1e-5
_TINY_RATE = 1e-9


# --------------------------------------------------------------------------- rate limits


def _erlang_c(c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Erlang C for stable queues (``a < c``), elementwise, from the Poisson distribution.

    ``B(c, a) = P(N = c) / P(N <= c)`` for ``N ~ Poisson(a)``; vectorized without the
    recursion over servers, so pools of hundreds of replicas cost the same as one.
    """
    pos = a > 0
    a_safe = np.where(pos, a, 1.0)
    log_pmf = c * np.log(a_safe) - a_safe - special.gammaln(c + 1.0)
    cdf = special.pdtr(c, a_safe)
    b = np.where(pos, np.exp(log_pmf) / np.maximum(cdf, 1e-300), 0.0)
    out = b / (1.0 - (a_safe / c) * (1.0 - b))
    return np.where(pos, np.minimum(out, 1.0), 0.0)


def _tail(t: np.ndarray, c: np.ndarray, load: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """``P(T > t)`` of the M/M/c sojourn, elementwise (stable queues, ``t >= 0``)."""
    pw = _erlang_c(c, load / mu)
    theta = c * mu - load
    m = np.minimum(mu, theta)
    y = np.abs(mu - theta) * t
    g = np.where(y > 0, -np.expm1(-y) / np.where(y > 0, y, 1.0), 1.0)
    h = t * np.exp(-m * t) * g
    return np.minimum(np.exp(-mu * t) + pw * mu * h, 1.0)


def rate_limits(
    counts: Sequence[int] | np.ndarray,
    mu: float,
    budget_ms: float | Sequence[float] | np.ndarray,
    *,
    quantile: float = 0.95,
    max_utilization: float = 1.0,
) -> np.ndarray:
    """Largest load of an M/M/c queue whose sojourn quantile stays within a budget.

    For each count c and budget b: the largest ``L <= max_utilization * c * mu`` with
    ``P(T > b) <= 1 - quantile``, by bisection on the exact sojourn tail (to 1e-15
    relative); 0 when even an idle queue misses the budget.

    Parameters
    ----------
    counts : sequence of int
        Replica counts c >= 1.
    mu : float
        Service rate of one replica, req/s.
    budget_ms : float or sequence of float
        Latency budgets (SLO minus network latency), ms; broadcast against ``counts``.
    quantile : float
    max_utilization : float

    Returns
    -------
    numpy.ndarray
        Rate limits, req/s, of the broadcast shape of ``counts`` and ``budget_ms``.

    Examples
    --------
    One M/M/1 replica serving 100 req/s with a 95 % budget of 60 ms: its sojourn is
    Exp(100 - L), so ``L = 100 - ln 20 / 0.06``.

    >>> import math
    >>> lim = rate_limits([1], 100.0, 60.0)
    >>> bool(abs(lim[0] - (100 - math.log(20) / 0.06)) < 1e-9)
    True
    >>> rate_limits([1, 2], 100.0, 1000.0, max_utilization=0.9).tolist()  # stability binds
    [90.0, 180.0]
    """
    c_arr, b_arr = np.broadcast_arrays(
        np.asarray(counts, dtype=float), np.asarray(budget_ms, dtype=float) / 1000.0
    )
    c_arr = c_arr.astype(float)
    b_arr = np.maximum(b_arr, 0.0)
    mu_arr = np.full(c_arr.shape, float(mu))
    target = 1.0 - quantile
    hi = max_utilization * c_arr * mu_arr
    # An idle queue's sojourn is one service time: if even that misses, nothing is admissible.
    reach = np.exp(-mu_arr * b_arr) <= target
    full = reach & (_tail(b_arr, c_arr, hi, mu_arr) <= target)
    lo = np.zeros(c_arr.shape)
    top = hi.copy()
    todo = reach & ~full
    for _ in range(200):
        if not todo.any():
            break
        mid = 0.5 * (lo + top)
        ok = _tail(b_arr, c_arr, mid, mu_arr) <= target
        lo = np.where(todo & ok, mid, lo)
        top = np.where(todo & ~ok, mid, top)
        todo &= top - lo > 1e-15 * np.maximum(top, 1e-300)
    return np.where(full, hi, np.where(reach, lo, 0.0))


# --------------------------------------------------------------------------- data


def _with_rates(inst: Instance, rates: Any) -> Instance:
    arr = np.asarray(rates, dtype=float)
    n_dem = len(inst.workload.demands)
    if arr.shape != (n_dem,):
        raise SolverError(f"rates: shape {arr.shape} must be ({n_dem},), one rate per demand")
    if not np.all(np.isfinite(arr)) or (arr < 0).any():
        raise SolverError("rates: every rate must be finite and >= 0 req/s")
    data = inst.model_dump()
    for dem, value in zip(data["workload"]["demands"], arr, strict=True):
        dem["rate_rps"] = float(value)
    return Instance.model_validate(data)


def _per_node_max(d: _Data, s: int, n: int) -> int:
    caps = [math.floor(d.cap[r][n] / d.need[r][s] + 1e-9) for r in _RESOURCES if d.need[r][s] > 0]
    return max(0, min(caps)) if caps else 10**6


# --------------------------------------------------------------------------- the model


@dataclass
class _Queue:
    """Replica count structure of one (service, node) pair."""

    cmax: int
    limits: np.ndarray  # (cmax + 1,) rate limit of the nearest origin at c = 0..cmax
    origins: list[int]  # reachable origins, nearest first
    far: dict[int, np.ndarray]  # origin -> its limits, for origins with smaller limits


def _queues(
    d: _Data, inst: Instance, node_can_be_on: np.ndarray, lam: np.ndarray, latency: bool
) -> dict[tuple[int, int], _Queue]:
    """Each (service, node) queue's counts, rate limits and origins.

    Without ``latency`` a queue's counts stop at the first whose rate limit covers all the
    demand that may reach it: more replicas serve nothing more and cost more. With
    ``latency`` (mean latency in the objective or the constraints) they go up to what fits
    on the node, because every further replica shortens the M/M/c wait.
    """
    pol = inst.policy
    rho = pol.max_utilization
    q = pol.slo_quantile
    out: dict[tuple[int, int], _Queue] = {}
    for s in range(len(d.services)):
        has = np.flatnonzero(lam[s] > 0)
        if has.size == 0:
            continue
        mu = float(d.mu[s])
        slo = d.slo_ms[s]
        for n in range(len(d.nodes)):
            if not d.allowed[s, n] or not node_can_be_on[n]:
                continue
            cmax = _per_node_max(d, s, n)
            if cmax < 1:
                continue
            nets = d.net_ms[has, n]
            ok = np.isfinite(nets)
            if not math.isnan(slo):
                ok &= nets - math.log(1.0 - q) / mu < slo
            reach = has[ok]
            if reach.size == 0:
                continue
            reach = reach[np.argsort(d.net_ms[reach, n], kind="stable")]
            demand = float(lam[s, reach].sum())
            counts = np.arange(0, cmax + 1, dtype=float)
            if math.isnan(slo):
                lim = _tighten(rho * mu * counts)
                need_c = cmax if latency else _first_covering(lim, demand, cmax)
                out[s, n] = _Queue(need_c, lim[: need_c + 1], [int(i) for i in reach], {})
                continue
            budgets = np.unique(slo - d.net_ms[reach, n])[::-1]  # nearest (largest) first
            table = np.zeros((budgets.size, cmax + 1))
            table[:, 1:] = _tighten(
                rate_limits(counts[None, 1:], mu, budgets[:, None], quantile=q, max_utilization=rho)
            )
            # every reachable origin's limit must cover the demand for more replicas to be
            # useless, so the smallest budget decides
            need_c = cmax if latency else _first_covering(table[-1], demand, cmax)
            table = table[:, : need_c + 1]
            by_budget = {float(b): table[k] for k, b in enumerate(budgets)}
            near = by_budget[float(budgets[0])]
            far = {}
            for i in reach[1:]:
                lim_i = by_budget[float(slo - d.net_ms[i, n])]
                if np.any(lim_i < near - 1e-12):
                    far[int(i)] = lim_i
            out[s, n] = _Queue(need_c, near, [int(i) for i in reach], far)
    return out


def _tighten(lim: np.ndarray) -> np.ndarray:
    """Rate limits lowered so that solver tolerances stay on the evaluator's safe side."""
    return np.maximum(lim * (1.0 - _RATE_MARGIN) - _RATE_MARGIN_RPS, 0.0)


def _first_covering(lim: np.ndarray, demand: float, cmax: int) -> int:
    hits = np.flatnonzero(lim >= demand)
    hits = hits[hits >= 1]
    return int(hits[0]) if hits.size else cmax


# --------------------------------------------------------------------------- one period


@dataclass
class _Structure:
    """Index sets and coefficients of an instance, shared by every period built from it."""

    d: _Data
    queues: dict[tuple[int, int], _Queue]
    sn: list[tuple[int, int]]
    routes: list[tuple[int, int, int]]
    far: list[tuple[int, int, int]]
    unary: list[tuple[int, int, int]]
    used_nodes: list[int]
    sn_of_node: dict[int, list[int]]
    cap_rows: list[tuple[str, int]]
    pc_nodes: list[int]
    gc_nodes: list[int]
    idle: np.ndarray
    dyn: np.ndarray
    gidle: np.ndarray
    gdyn: np.ndarray
    pcap: np.ndarray
    gcap: np.ndarray
    replica_cost: dict[tuple[int, int], float]
    notes: list[str] = field(default_factory=list)


def _structure(
    inst: Instance, d: _Data, lam: np.ndarray, *, far_routes: bool, latency: bool = False
) -> _Structure:
    """Queues, routes and rows for demand up to ``lam`` (S, I) in every period.

    ``latency``: mean latency is in the objective or the constraints, so replica counts
    above the demand's need are useful (see :func:`_queues`).
    """
    nodes = inst.topology.nodes
    idle = np.array([n.idle_power_w for n in nodes], dtype=float)
    dyn = np.array([n.dynamic_power_w for n in nodes], dtype=float)
    gidle = np.array([n.gpu_idle_power_w for n in nodes], dtype=float)
    gdyn = np.array([n.gpu_dynamic_power_w for n in nodes], dtype=float)
    pcap = np.array([np.nan if n.power_cap_w is None else n.power_cap_w for n in nodes])
    gcap = np.array([np.nan if n.gpu_power_cap_w is None else n.gpu_power_cap_w for n in nodes])
    gpus_n = d.cap["gpus"]
    # A node whose idle draw already breaks its cap can never be on.
    can_on = ~(idle > np.nan_to_num(pcap, nan=np.inf) - _POWER_MARGIN_W)
    can_on &= ~((gpus_n > 0) & (gidle > np.nan_to_num(gcap, nan=np.inf) - _POWER_MARGIN_W))
    notes: list[str] = []
    off = [d.nodes[n] for n in np.flatnonzero(~can_on)]
    if off:
        notes.append(f"nodes whose idle power exceeds their cap stay off: {', '.join(off)}")
    queues = _queues(d, inst, can_on, lam, latency)
    if not far_routes:
        for q_ in queues.values():
            q_.origins = [i for i in q_.origins if i not in q_.far]
            q_.far = {}
        notes.append("routes whose SLO limit is below the nearest origin's are left out")
    sn = sorted(queues)
    sn_of_node: dict[int, list[int]] = {n: [] for n in range(len(d.nodes))}
    for s, n in sn:
        sn_of_node[n].append(s)
    used_nodes = sorted({n for (_, n) in sn})
    cap_rows: list[tuple[str, int]] = []
    for n in used_nodes:
        for res in _RESOURCES:
            terms = [s for s in sn_of_node[n] if d.need[res][s] > 0]
            if terms and sum(d.need[res][s] * queues[s, n].cmax for s in terms) > (
                d.cap[res][n] + 1e-9
            ):
                cap_rows.append((res, n))
    return _Structure(
        d=d,
        queues=queues,
        sn=sn,
        routes=[(s, i, n) for (s, n) in sn for i in queues[s, n].origins],
        far=[(s, i, n) for (s, n) in sn for i in queues[s, n].far],
        unary=[(s, n, c) for (s, n) in sn for c in range(1, queues[s, n].cmax + 1)],
        used_nodes=used_nodes,
        sn_of_node=sn_of_node,
        cap_rows=cap_rows,
        pc_nodes=[n for n in used_nodes if not math.isnan(pcap[n])],
        gc_nodes=[n for n in used_nodes if not math.isnan(gcap[n]) and gpus_n[n] > 0],
        idle=idle,
        dyn=dyn,
        gidle=gidle,
        gdyn=gdyn,
        pcap=pcap,
        gcap=gcap,
        replica_cost={
            (s, n): d.need["cpu"][s] * nodes[n].cost_per_vcpu_hour
            + d.need["gpus"][s] * nodes[n].cost_per_gpu_hour
            for (s, n) in sn
        },
        notes=notes,
    )


def replica_floors(st: _Structure, lam: np.ndarray) -> dict[int, tuple[dict[int, float], int]]:
    r"""Valid rounding inequalities on each service's replica count when all demand is served.

    No replica serves more than the best per-replica rate of its queue,
    :math:`R_{sn} = \max_c \Lambda_{sn}(c) / c`, so a service whose demand :math:`D_s` is
    all served has :math:`\sum_n R_{sn} x_{sn} \ge D_s`. Divided by the best rate
    :math:`R_s = \max_n R_{sn}` and rounded (mixed-integer rounding, :math:`f` the
    fractional part of :math:`D_s / R_s`):

    .. math:: \sum_n \min\Bigl(1, \frac{R_{sn}}{f R_s}\Bigr) x_{sn} \ge \lceil D_s / R_s \rceil

    (coefficient 1 where :math:`R_{sn} = R_s`). Every integer decision that serves all demand
    satisfies it; the LP relaxation, which may spread a replica count over many nodes in
    fractions, often does not: on ``continuum-random`` medium these rows lift the LP bound
    from 36.96 to 39.06 (optimum 40.62).

    Returns
    -------
    dict
        service -> (coefficient of ``x[s, n]`` by node, right-hand side).
    """
    out: dict[int, tuple[dict[int, float], int]] = {}
    for s in range(lam.shape[0]):
        demand = float(lam[s].sum())
        nodes = [n for (s2, n) in st.sn if s2 == s]
        if demand <= 0 or not nodes:
            continue
        rate = {}
        for n in nodes:
            lim = st.queues[s, n].limits
            c = np.arange(1, lim.size)
            rate[n] = float(np.max(lim[1:] / c)) if c.size else 0.0
        best = max(rate.values())
        if best <= 0:
            continue
        ratio = demand / best
        need = math.ceil(ratio - 1e-9)
        frac = ratio - (need - 1)
        if need < 1:
            continue
        if frac <= 1e-6 or frac >= 1.0:
            coef = {n: 1.0 for n in nodes}
        else:
            coef = {n: 1.0 if rate[n] >= best else min(1.0, rate[n] / best / frac) for n in nodes}
        out[s] = ({n: a for n, a in coef.items() if a > 0}, need)
    return out


@dataclass
class _Period:
    """What decoding one period needs: its demand and index sets."""

    lam: np.ndarray
    routes: list[tuple[int, int, int]]
    si: list[tuple[int, int]]
    serve_all: bool
    routes_to: dict[tuple[int, int], list[int]] = field(default_factory=dict)


def _add_period(b: Any, st: _Structure, lam: np.ndarray, serve_all: bool) -> _Period:
    """Add one period's variables, rows and expressions to the block ``b``.

    Variables ``u``, ``delta``, ``r``, ``y`` (and ``d`` unless ``serve_all``); expressions
    ``x[s, n]`` (replicas), ``power``, ``cost``, ``dropped`` and ``throughput``. Migrations
    and the objective are the caller's.
    """
    d = st.d
    queues = st.queues
    has = lam > 0
    routes = [(s, i, n) for (s, i, n) in st.routes if has[s, i]]
    far = [(s, i, n) for (s, i, n) in st.far if has[s, i]]
    routes_to: dict[tuple[int, int], list[int]] = {sn: [] for sn in st.sn}
    routes_from: dict[tuple[int, int], list[int]] = {}
    for s, i, n in routes:
        routes_to[s, n].append(i)
        routes_from.setdefault((s, i), []).append(n)
    si = [(int(s), int(i)) for s, i in zip(*np.nonzero(has), strict=True)]
    if serve_all:
        for s, i in si:
            if not routes_from.get((s, i)):
                raise SolverError(
                    f"service {d.services[s]} from {d.origins[i]}: no node can serve it within "
                    "its SLO, residency and capacity, so not all demand can be served"
                )

    b.u = pyo.Var(st.used_nodes, domain=pyo.Binary)
    b.delta = pyo.Var(st.unary, domain=pyo.Binary)
    b.r = pyo.Var(routes, domain=pyo.NonNegativeReals, bounds=lambda _b, s, i, n: (0, lam[s, i]))
    b.y = pyo.Var(far, domain=pyo.Binary)
    if not serve_all:
        b.d = pyo.Var(si, domain=pyo.NonNegativeReals, bounds=lambda _b, s, i: (0, lam[s, i]))
    b.x = pyo.Expression(
        st.sn,
        rule=lambda _b, s, n: sum(b.delta[s, n, c] for c in range(1, queues[s, n].cmax + 1)),
    )

    def load(s: int, n: int) -> Any:
        return sum(b.r[s, i, n] for i in routes_to[s, n])

    def balance(_b: Any, s: int, i: int) -> Any:
        served = sum(b.r[s, i, n] for n in routes_from.get((s, i), []))
        return served + (0.0 if serve_all else b.d[s, i]) == lam[s, i]

    b.balance = pyo.Constraint(si, rule=balance)

    # counts in unary, each step of the count raising the SLO rate limit
    b.order = pyo.Constraint(
        [(s, n, c) for (s, n, c) in st.unary if c >= 2],
        rule=lambda _b, s, n, c: b.delta[s, n, c] <= b.delta[s, n, c - 1],
    )
    b.switch = pyo.Constraint(st.sn, rule=lambda _b, s, n: b.delta[s, n, 1] <= b.u[n])

    def limit(lim: np.ndarray, s: int, n: int) -> Any:
        inc = np.diff(lim)
        return sum(float(inc[c - 1]) * b.delta[s, n, c] for c in range(1, queues[s, n].cmax + 1))

    b.slo = pyo.Constraint(
        st.sn, rule=lambda _b, s, n: load(s, n) <= limit(queues[s, n].limits, s, n)
    )
    if serve_all:
        floors = replica_floors(st, lam)
        b.replica_floor = pyo.Constraint(
            list(floors),
            rule=lambda _b, s: sum(a * b.x[s, n] for n, a in floors[s][0].items()) >= floors[s][1],
        )

    def far_rule(_b: Any, s: int, i: int, n: int) -> Any:
        q_ = queues[s, n]
        lim_i = q_.far[i][: q_.cmax + 1]
        relax = float(np.max(q_.limits - lim_i))
        return load(s, n) <= limit(lim_i, s, n) + relax * (1 - b.y[s, i, n])

    b.slo_far = pyo.Constraint(far, rule=far_rule)
    b.route = pyo.Constraint(far, rule=lambda _b, s, i, n: b.r[s, i, n] <= lam[s, i] * b.y[s, i, n])

    # capacity
    nidx = {name: k for k, name in enumerate(d.nodes)}
    b.capacity = pyo.Constraint(
        [(res, d.nodes[n]) for res, n in st.cap_rows],
        rule=lambda _b, res, name: (
            sum(
                d.need[res][s] * b.x[s, nidx[name]]
                for s in st.sn_of_node[nidx[name]]
                if d.need[res][s]
            )
            <= d.cap[res][nidx[name]] * b.u[nidx[name]]
        ),
    )

    # power: linear in u and the routed load (utilization = busy vCPU / node vCPU)
    cpu_n, gpus_n = d.cap["cpu"], d.cap["gpus"]

    def busy(res: str, n: int) -> Any:
        return sum(d.need[res][s] / d.mu[s] * load(s, n) for s in st.sn_of_node[n])

    def cpu_power(n: int) -> Any:
        dyn_part = st.dyn[n] / cpu_n[n] * busy("cpu", n) if cpu_n[n] > 0 and st.dyn[n] > 0 else 0.0
        return st.idle[n] * b.u[n] + dyn_part

    def gpu_power_each(n: int) -> Any:
        dyn_part = st.gdyn[n] / gpus_n[n] * busy("gpus", n) if st.gdyn[n] > 0 else 0.0
        return st.gidle[n] * b.u[n] + dyn_part

    b.power_cap = pyo.Constraint(
        [d.nodes[n] for n in st.pc_nodes],
        rule=lambda _b, name: cpu_power(nidx[name]) <= st.pcap[nidx[name]] - _POWER_MARGIN_W,
    )
    b.gpu_power_cap = pyo.Constraint(
        [d.nodes[n] for n in st.gc_nodes],
        rule=lambda _b, name: gpu_power_each(nidx[name]) <= st.gcap[nidx[name]] - _POWER_MARGIN_W,
    )
    b.power = pyo.Expression(
        expr=sum(
            (st.idle[n] + gpus_n[n] * st.gidle[n]) * b.u[n]
            + sum(
                (
                    (st.dyn[n] * d.need["cpu"][s] / cpu_n[n] if cpu_n[n] > 0 else 0.0)
                    + st.gdyn[n] * d.need["gpus"][s]
                )
                / d.mu[s]
                * load(s, n)
                for s in st.sn_of_node[n]
            )
            for n in st.used_nodes
        )
    )
    b.cost = pyo.Expression(expr=sum(st.replica_cost[sn] * b.x[sn] for sn in st.sn))
    b.dropped = pyo.Expression(expr=0.0 if serve_all else sum(b.d[p] for p in si))
    b.throughput = pyo.Expression(expr=sum(b.r[p] for p in routes))
    return _Period(lam=lam, routes=routes, si=si, serve_all=serve_all, routes_to=routes_to)


def _add_migrations(
    b: Any, st: _Structure, x_prev: Any, budget: int | None, *, constant_prev: bool
) -> None:
    """Replicas started in ``b`` over ``x_prev``: ``mig[s, n] >= x[s, n] - x_prev[s, n]``.

    ``x_prev`` is an (S, N) array when ``constant_prev``, else a Pyomo expression indexed by
    (s, n) (the previous period's ``x``; pairs outside it count as 0).
    """
    if constant_prev:
        pairs = [(s, n) for (s, n) in st.sn if st.queues[s, n].cmax > x_prev[s, n]]
    else:
        pairs = list(st.sn)
    b.mig = pyo.Var(pairs, domain=pyo.NonNegativeReals)

    def prev(s: int, n: int) -> Any:
        return float(x_prev[s, n]) if constant_prev else x_prev[s, n]

    b.migration = pyo.Constraint(pairs, rule=lambda _b, s, n: b.mig[s, n] >= b.x[s, n] - prev(s, n))
    if budget is not None and pairs:
        b.migration_budget = pyo.Constraint(expr=sum(b.mig[p] for p in pairs) <= budget)
    b.migrations = pyo.Expression(expr=sum(b.mig[p] for p in pairs))


def _decode_period(b: Any, st: _Structure, per: _Period) -> dict[str, Any]:
    """The plain placement decision of one period block."""
    d, queues, lam = st.d, st.queues, per.lam
    S, n_orig, N = lam.shape[0], lam.shape[1], len(d.nodes)
    x = np.zeros((S, N), dtype=np.int64)
    for s, n in st.sn:
        x[s, n] = sum(round(pyo.value(b.delta[s, n, c])) for c in range(1, queues[s, n].cmax + 1))
    r = np.zeros((S, n_orig, N))
    for s, i, n in per.routes:
        r[s, i, n] = max(0.0, float(pyo.value(b.r[s, i, n])))
    # Solver noise: tiny flows to nodes without replicas would be routing violations, and
    # a far route whose switch y is off (within the integrality tolerance) has its SLO row
    # relaxed, so the little it carries must not count as a stream.
    r[(r < _TINY_RATE) | (x[:, None, :] == 0)] = 0.0
    for s, i, n in b.y:
        if round(pyo.value(b.y[s, i, n])) == 0:
            r[s, i, n] = 0.0
    drop = np.zeros((S, n_orig))
    for s, i in per.si:
        if not per.serve_all:
            drop[s, i] = min(max(0.0, float(pyo.value(b.d[s, i]))), lam[s, i])
        if drop[s, i] < _TINY_RATE:
            drop[s, i] = 0.0
        routed = r[s, i].sum()
        want = lam[s, i] - drop[s, i]
        if routed > 0:
            r[s, i] *= want / routed
        else:
            drop[s, i] = lam[s, i]
    on = np.zeros(N, dtype=bool)
    for n in st.used_nodes:
        on[n] = round(pyo.value(b.u[n])) == 1
    replicas: dict[str, dict[str, int]] = {}
    for s, n in zip(*np.nonzero(x), strict=True):
        replicas.setdefault(d.services[s], {})[d.nodes[n]] = int(x[s, n])
    routing: dict[str, dict[str, dict[str, float]]] = {}
    for s, i, n in zip(*np.nonzero(r), strict=True):
        routing.setdefault(d.services[s], {}).setdefault(d.origins[i], {})[d.nodes[n]] = float(
            r[s, i, n]
        )
    dropped: dict[str, dict[str, float]] = {}
    for s, i in zip(*np.nonzero(drop), strict=True):
        dropped.setdefault(d.services[s], {})[d.origins[i]] = float(drop[s, i])
    return {
        "model": "placement",
        "replicas": replicas,
        "routing": routing,
        "dropped": dropped,
        "nodes_on": {name: bool(on[k]) for k, name in enumerate(d.nodes)},
    }


def _parts(name: str) -> tuple[str, list[str]]:
    head, _, idx = name.partition("[")
    idx = idx.rstrip("]")
    return head, [p.strip().strip("'\"") for p in idx.split(",")] if idx else []


def _describe(inst: Instance, d: _Data, name: str) -> str:
    """A constraint row's meaning in the instance's terms."""
    head, parts = _parts(name)
    if head == "capacity" and len(parts) == 2:
        res, node = parts
        return f"node {node}: {getattr(inst.node(node), res):g} {_UNIT.get(res, res)}"
    if head == "power_cap" and parts:
        nd = inst.node(parts[0])
        return (
            f"node {nd.name}: power cap {nd.power_cap_w:g} W (CPU side: idle "
            f"{nd.idle_power_w:g} W + up to {nd.dynamic_power_w:g} W at full load)"
        )
    if head == "gpu_power_cap" and parts:
        nd = inst.node(parts[0])
        return (
            f"node {nd.name}: GPU power cap {nd.gpu_power_cap_w:g} W per GPU (idle "
            f"{nd.gpu_idle_power_w:g} W + up to {nd.gpu_dynamic_power_w:g} W at full load)"
        )
    if head == "replica_floor" and parts:
        svc = d.services[int(parts[0])] if parts[0].isdigit() else parts[0]
        return f"service {svc}: the fewest replicas that can serve all its demand"
    if head == "migration_budget":
        return f"migration budget: at most {inst.policy.migration_budget} replicas started"
    if head == "epsilon" and parts:
        return f"epsilon-constraint on {parts[0]}"
    return name


def _context(inst: Instance, d: _Data, rows: tuple[str, ...], serve_all: bool) -> list[str]:
    """What the demand asks of the nodes whose power caps conflict."""
    capped = [_parts(r)[1][0] for r in rows if _parts(r)[0] in ("power_cap", "gpu_power_cap")]
    if not capped:
        return []
    out = []
    capped_set = set(capped)
    for s, svc in enumerate(inst.services):
        if svc.allowed_regions is None or d.lam[s].sum() <= 0:
            continue
        allowed = [d.nodes[n] for n in np.flatnonzero(d.allowed[s])]
        uncapped = [n for n in allowed if n not in capped_set]
        busy = d.lam[s].sum() / d.mu[s] * d.need["cpu"][s]
        where = (
            f"; its other allowed nodes ({', '.join(uncapped)}) cannot take it all"
            if (uncapped)
            else ""
        )
        out.append(
            f"service {svc.name} may run only in region(s) {', '.join(svc.allowed_regions)} "
            f"and keeps {busy:g} vCPU busy serving {d.lam[s].sum():g} req/s{where}"
        )
    if serve_all:
        out.append("all demand must be served (energy per request is weighted)")
    return out


# --------------------------------------------------------------------------- mean latency


def _wait_area(c: Any, load: Any, mu: float) -> np.ndarray:
    """``1000 L Wq(c, L)``: the M/M/c waiting time summed over a queue's requests (ms req/s).

    Convex and increasing in the load L for a fixed count c (the M/M/c mean wait is convex
    in the arrival rate), and decreasing in c for a fixed load; stable queues only.
    """
    c_arr = np.asarray(c, dtype=float)
    l_arr = np.asarray(load, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pw = _erlang_c(c_arr, l_arr / mu)
        theta = np.maximum(c_arr * mu - l_arr, 1e-300)
        return np.where(l_arr > 0, 1000.0 * l_arr * pw / theta, 0.0)


def wait_cut(c: int, load: float, mu: float) -> tuple[float, float]:
    """The tangent ``a + g L`` of ``_wait_area(c, .)`` at ``load``: below it everywhere.

    With ``a = L / mu``, Erlang B ``B``, ``D = c - a + a B`` and Erlang C ``C = c B / D``:
    ``dB/da = B (c / a - 1 + B)``, ``dC/da = c (B' D - B D') / D^2`` with ``D' = -1 + B + a
    B'``, and ``F = 1000 L C / (c mu - L)`` has ``F' = 1000 (C / (c mu - L) + L C' / mu /
    (c mu - L) + L C / (c mu - L)^2)``. ``F`` is convex, so the tangent is a global
    under-estimator; it is lowered by a relative 1e-12 against rounding.

    Examples
    --------
    >>> a, g = wait_cut(2, 1.0, 1.0)  # two servers at rate 1, 1 req/s
    >>> bool(abs(a + g * 1.0 - float(_wait_area(2, 1.0, 1.0))) < 1e-6)
    True
    >>> bool(a + g * 1.5 <= float(_wait_area(2, 1.5, 1.0)))
    True
    """
    a = load / mu
    theta = c * mu - load
    log_pmf = c * np.log(a) - a - special.gammaln(c + 1.0)
    erl_b = float(np.exp(log_pmf) / max(float(special.pdtr(c, a)), 1e-300))
    d_b = erl_b * (c / a - 1.0 + erl_b)
    den = c - a + a * erl_b
    erl_c = c * erl_b / den
    d_den = -1.0 + erl_b + a * d_b
    d_c = c * (d_b * den - erl_b * d_den) / den**2 / mu
    f = 1000.0 * load * erl_c / theta
    g = 1000.0 * (erl_c / theta + load * d_c / theta + load * erl_c / theta**2)
    return float(f - g * load - 1e-12 * max(1.0, f)), float(g)


_NEAR = (0.97, 0.99, 1.0, 1.01, 1.03)
_CUT_SHARES = (0.2, 0.4, 0.55, 0.7, 0.8, 0.87, 0.92, 0.95, 0.975, 0.99, 1.0)


def _add_latency(b: Any, st: _Structure, per: _Period) -> Callable[[float], int]:
    """Mean-latency terms of one period: ``b.latency_sum`` (ms req/s) and its refinement.

    ``b.latency_sum = sum r (net + 1000 / mu) + sum phi``, where the waiting time summed over
    a queue's requests, ``1000 L Wq(c, L)``, is kept below ``phi`` in perspective form over
    the count: ``z[s, n, c] = delta[c] - delta[c + 1]`` says the queue has exactly c
    replicas, its load is split as ``L = sum_c l[c]`` with ``l[c] <= Lambda(c) z[c]``, and
    each cut ``a + g L`` of the convex ``1000 L Wq(c, L)`` becomes ``phi[c] >= a z[c] + g
    l[c]`` — exact at integer points and the tightest linear form of the cuts. Initial cuts
    at a few loads of every count; the returned function adds cuts at the loaded solution
    around the loaded solution's load of every queue where ``phi`` is below the true value
    (and at that load one replica up and down) unless the shortfalls sum to at most ``tol``
    (ms req/s); it returns how many queues needed cuts, 0 when the model is exact to ``tol``.
    """
    d, queues = st.d, st.queues
    b.lw = pyo.Var(st.unary, domain=pyo.NonNegativeReals)
    b.phi = pyo.Var(st.unary, domain=pyo.NonNegativeReals)

    def one_hot(s: int, n: int, c: int) -> Any:
        top = queues[s, n].cmax
        return b.delta[s, n, c] - (b.delta[s, n, c + 1] if c < top else 0.0)

    b.latency_split = pyo.Constraint(
        st.sn,
        rule=lambda _b, s, n: (
            _load(b, per, s, n) == sum(b.lw[s, n, c] for c in range(1, queues[s, n].cmax + 1))
        ),
    )
    b.latency_count = pyo.Constraint(
        st.unary,
        rule=lambda _b, s, n, c: b.lw[s, n, c] <= float(queues[s, n].limits[c]) * one_hot(s, n, c),
    )
    b.latency_cuts = pyo.ConstraintList()

    def add(s: int, n: int, c: int, load: float) -> None:
        a, g = wait_cut(c, load, float(d.mu[s]))
        b.latency_cuts.add(b.phi[s, n, c] >= a * one_hot(s, n, c) + g * b.lw[s, n, c])

    for s, n, c in st.unary:
        lim = float(queues[s, n].limits[c])
        if lim > 0:
            for share in _CUT_SHARES:
                add(s, n, c, share * lim)
    b.latency_sum = pyo.Expression(
        expr=sum(
            b.r[s, i, n] * float(d.net_ms[i, n] + 1000.0 / d.mu[s]) for (s, i, n) in per.routes
        )
        + sum(b.phi[k] for k in st.unary)
    )

    def refine(tol: float) -> int:
        short: list[tuple[int, int, int, float, float]] = []
        for s, n in st.sn:
            top = queues[s, n].cmax
            c = sum(round(pyo.value(b.delta[s, n, k])) for k in range(1, top + 1))
            load = float(pyo.value(_load(b, per, s, n)))
            if c < 1 or load <= 0:
                continue
            gap = float(_wait_area(c, load, float(d.mu[s]))) - float(pyo.value(b.phi[s, n, c]))
            if gap > 0:
                short.append((s, n, c, load, gap))
        if sum(g for *_, g in short) <= tol:
            return 0
        for s, n, c, load, gap in short:
            if gap <= 1e-3 * tol:
                continue
            lim = queues[s, n].limits
            # the next solution tends to stay near: cut around the load, one replica up and down
            for k, share in [(c, f) for f in _NEAR] + [(c - 1, 1.0), (c + 1, 1.0)]:
                at = share * load
                if 1 <= k <= queues[s, n].cmax and 0 < at <= lim[k]:
                    add(s, n, k, at)
        return len(short)

    return refine


def _load(b: Any, per: _Period, s: int, n: int) -> Any:
    return sum(b.r[s, i, n] for i in per.routes_to[s, n])
