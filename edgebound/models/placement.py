r"""The static continuum placement MILP: replicas, routing, admission and nodes on/off.

One period of the edge-cloud continuum: choose integer replicas ``x[s,n]`` of every service
on every node, the rates ``r[s,i,n]`` routed from each origin to each node, the dropped rates
``d[s,i]`` and which nodes are on (``u[n]``), so that every limit that
:mod:`edgebound.evaluate.placement` checks holds and an objective is best. The evaluator's
semantics are the model's: on every decision the model returns, its objective equals the
evaluator's objective of the same name, and the evaluator finds no violation.

Notation: ``lam[s,i]`` demand, ``mu[s]`` service rate, ``net[i,n]`` network latency,
``rho = policy.max_utilization``, ``q = policy.slo_quantile``, ``L[s,n] = sum_i r[s,i,n]``.

Constraints
    * demand balance ``sum_n r[s,i,n] + d[s,i] = lam[s,i]``;
    * capacity ``sum_s need_r[s] x[s,n] <= cap_r[n] u[n]`` for cpu, ram, disk and GPUs;
    * residency: no ``x`` on nodes outside a service's allowed regions;
    * power caps, linear in ``u`` and ``L`` because utilization is expected busy replicas
      times their vCPU over the node's vCPU: ``idle u + dyn sum_s cpu[s] L[s,n] /
      (mu[s] cpu[n]) <= cap``, and per GPU ``gpu_idle u + gpu_dyn sum_s gpus[s] L[s,n] /
      (mu[s] gpus[n]) <= gpu_cap``;
    * migrations ``m[s,n] >= x[s,n] - x_prev[s,n]``, ``sum m <= policy.migration_budget``;
    * stability and latency SLO, below.

Stability and SLO as per-count rate limits
    For service s with SLO ``S_s`` and a stream from origin i to node n, the stream meets its
    SLO iff ``net[i,n] + Q_q(c, L) <= S_s``, where ``Q_q(c, L)`` is the q-quantile of the
    M/M/c sojourn with ``c = x[s,n]`` and ``L = L[s,n]``. ``Q_q`` increases with L, so for
    each count c and latency budget ``b = S_s - net[i,n]`` there is a largest admissible load

    .. math::  \Lambda_b(c) = \max\{L \le \rho c \mu_s : P(T_{c,L} > b) \le 1 - q\},

    found by bisection on the exact tail (Erlang C from the Poisson distribution). Without an
    SLO, ``Lambda(c) = rho c mu_s`` (stability alone). A route (s, i, n) exists only when
    ``net[i,n] - ln(1 - q) / mu_s < S_s``: even an idle queue cannot do better than one service
    time. ``Lambda_b`` is not concave in c (pooling makes larger pools relatively better), so
    the count is written in unary: binaries ``delta[s,n,1] >= delta[s,n,2] >= ...``,
    ``x = sum_c delta_c`` and

    .. math::  L_{s,n} \le \sum_c (\Lambda_{b_0}(c) - \Lambda_{b_0}(c-1))\, \delta_{s,n,c}

    with ``b_0`` the budget of the nearest origin: exact at integer points (the incremental
    formulation of a function of one integer). A farther origin i with a smaller limit gets a
    binary ``y[s,i,n]`` with ``r[s,i,n] <= lam[s,i] y[s,i,n]`` and the same row for its budget,
    relaxed by ``(1 - y) max_c (Lambda_{b_0}(c) - Lambda_{b_i}(c))``, which is the least
    relaxation that is always valid. Counts beyond the first c at which every reachable
    origin's limit covers all of the service's reachable demand are never useful (every
    objective offered is nondecreasing in x once load and power are fixed), so the unary
    stops there: the pruning is exact.

Objectives (``OBJECTIVES``) and what is exact
    * ``cost``, ``dropped``, ``migrations``, ``power`` and ``throughput`` are linear in the
      decisions and equal the evaluator's values exactly.
    * ``energy`` (J/req) is power over the served rate, a ratio. The model makes it exact by
      serving all demand (``serve_all``, on by default whenever energy is the objective or
      weighted): then the served rate is the constant ``sum lam`` and ``energy = power /
      sum lam``. The optimum is then the best decision *among those that drop nothing*; a
      decision that drops some requests to save power is not considered. As an
      epsilon-constraint, ``energy <= eps`` is written ``power <= eps * sum r``, which is
      exact with or without dropping.
    * ``weighted`` is ``sum_k w_k objective_k`` over energy, cost, dropped and migrations
      and is exact (energy as above).
    * ``latency`` (a request-weighted mean of M/M/c sojourn times, nonlinear in the load for
      every count) and ``p95_latency`` (a quantile of a mixture) are **not** represented:
      asking for them as objective, weight or epsilon-constraint raises
      :class:`~edgebound.errors.SolverError`. Latency enters the model only through the SLO,
      which is exact.

Tolerances
    Rate limits are lowered by ``1e-7`` relative plus ``1e-6`` req/s and power caps by
    ``1e-6 W`` so that the
    solver's feasibility tolerance never yields a decision the evaluator rejects; the
    optimum is therefore that of limits tighter by this much. The decoded routing drops
    rates below ``1e-9`` req/s and rescales each origin's routes so that demand balance holds
    to rounding.

Congestion prices
    :func:`prices` solves the LP relaxation and returns the duals of the capacity and power
    rows per node and resource: the marginal value of one more unit of the resource.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyomo.environ as pyo
from scipy import special

from edgebound.errors import SolverError
from edgebound.evaluate.placement import _Data, _data, evaluate_placement
from edgebound.instances import Instance
from edgebound.solvers.base import BuiltModel
from edgebound.solvers.highs import lp_relaxation

__all__ = ["OBJECTIVES", "build", "prices", "rate_limits"]

OBJECTIVES: dict[str, Literal["min", "max"]] = {
    "weighted": "min",
    "energy": "min",
    "power": "min",
    "cost": "min",
    "dropped": "min",
    "migrations": "min",
    "throughput": "max",
}
"""Objectives the model represents exactly, with their sense."""

_NOT_EXACT = ("latency", "p95_latency")
_WEIGHTED = ("energy", "cost", "dropped", "migrations")
_RESOURCES = ("cpu", "ram_gb", "disk_gb", "gpus")
_UNIT = {"cpu": "vCPU", "ram_gb": "GB RAM", "disk_gb": "GB disk", "gpus": "GPUs"}
_RATE_MARGIN = 1e-7
_RATE_MARGIN_RPS = 1e-6
_POWER_MARGIN_W = 1e-6
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


def _queues(d: _Data, inst: Instance, node_can_be_on: np.ndarray) -> dict[tuple[int, int], _Queue]:
    pol = inst.policy
    rho = pol.max_utilization
    q = pol.slo_quantile
    out: dict[tuple[int, int], _Queue] = {}
    for s in range(len(d.services)):
        has = np.flatnonzero(d.lam[s] > 0)
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
            demand = float(d.lam[s, reach].sum())
            counts = np.arange(0, cmax + 1, dtype=float)
            if math.isnan(slo):
                lim = _tighten(rho * mu * counts)
                need_c = _first_covering(lim, demand, cmax)
                out[s, n] = _Queue(need_c, lim[: need_c + 1], [int(i) for i in reach], {})
                continue
            budgets = np.unique(slo - d.net_ms[reach, n])[::-1]  # nearest (largest) first
            table = np.zeros((budgets.size, cmax + 1))
            table[:, 1:] = _tighten(
                rate_limits(counts[None, 1:], mu, budgets[:, None], quantile=q, max_utilization=rho)
            )
            # every reachable origin's limit must cover the demand for more replicas to be
            # useless, so the smallest budget decides
            need_c = _first_covering(table[-1], demand, cmax)
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


def _check_names(
    objective: str, weights: Mapping[str, float], constraints: Mapping[str, float]
) -> None:
    def not_exact(what: str) -> SolverError:
        return SolverError(
            f"{what}: mean and p95 latency are nonlinear in the routed load (M/M/c sojourn "
            "times), so this MILP cannot represent them exactly; latency is enforced through "
            "each service's SLO instead. Use weights over energy, cost, dropped and "
            "migrations (e.g. weights={'energy': 20, 'cost': 1, 'dropped': 1000, "
            "'migrations': 0.5})"
        )

    if objective in _NOT_EXACT:
        raise not_exact(f"objective {objective!r}")
    if objective not in OBJECTIVES:
        raise SolverError(f"objective: {objective!r} must be one of {', '.join(OBJECTIVES)}")
    for name, w in weights.items():
        if name in _NOT_EXACT and w > 0:
            raise not_exact(f"weights.{name} = {w:g}")
        if name not in _NOT_EXACT and name not in _WEIGHTED:
            raise SolverError(
                f"weights.{name}: not a placement weight (energy, cost, dropped, migrations)"
            )
        if not (w >= 0 and math.isfinite(w)):
            raise SolverError(f"weights.{name}: {w!r} must be finite and >= 0")
    for name in constraints:
        if name in _NOT_EXACT:
            raise not_exact(f"constraints.{name}")
        if name not in OBJECTIVES or name == "weighted":
            raise SolverError(
                f"constraints.{name}: not a placement objective "
                "(energy, power, cost, dropped, migrations, throughput)"
            )


def build(
    instance: Instance,
    objective: str = "weighted",
    *,
    weights: Mapping[str, float] | None = None,
    constraints: Mapping[str, float] | None = None,
    rates: Sequence[float] | np.ndarray | None = None,
    serve_all: bool | None = None,
    far_routes: bool = True,
) -> BuiltModel:
    """Build the static placement MILP of an instance.

    Parameters
    ----------
    instance : Instance
        Its ``state.placement`` is the previous placement that migrations count against.
    objective : str
        One of :data:`OBJECTIVES`: ``"weighted"`` (the weighted sum over energy, cost,
        dropped and migrations) or one objective alone.
    weights : mapping, optional
        Overrides ``instance.policy.weights``; the returned model's ``instance`` carries
        them, so that the evaluator's ``weighted`` objective is the model's. Latency weights
        must be zero or absent.
    constraints : mapping, optional
        epsilon-constraints: ``{"cost": 25.0}`` means cost <= 25 USD/h, ``{"throughput":
        900.0}`` means at least 900 req/s served, ``{"energy": 2.0}`` at most 2 J/req.
    rates : array_like, optional
        Rate of each demand (in ``workload.demands`` order), replacing the mean rates. The
        returned model's ``instance`` carries these rates, so it evaluates against them.
    serve_all : bool, optional
        Forbid dropping. By default on exactly when energy per request is the objective or
        weighted, which makes that ratio linear (see the module documentation).
    far_routes : bool
        Allow routes from origins whose SLO leaves a queue less room than its nearest
        origin's does (each needs a binary). ``False`` leaves them out: a restriction, so
        the optimum is then an upper bound (when minimizing) of the exact one, reached
        faster; its decisions are still feasible and exactly evaluated.

    Returns
    -------
    BuiltModel
        ``objective_name`` is the evaluator objective the model's objective equals.

    Raises
    ------
    SolverError
        For latency objectives, weights or constraints, unknown names, or bad rates.

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> from edgebound.solvers import solve
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> res = solve(build(inst, "cost"))
    >>> res.optimal, res.evaluation.feasible
    (True, True)
    >>> abs(res.objective - res.evaluation.objectives["cost"]) < 1e-6
    True
    """
    t0 = time.perf_counter()
    inst = instance if rates is None else _with_rates(instance, rates)
    w = dict(inst.policy.weights if weights is None else weights)
    if weights is None:
        # MMV weight names in a policy mean nothing here
        w = {k: v for k, v in w.items() if k in _WEIGHTED or k in _NOT_EXACT}
    cons = dict(constraints or {})
    if objective == "weighted":
        _check_names(objective, w, cons)
        if w != dict(inst.policy.weights):
            # the evaluator's weighted objective reads the policy's weights
            inst = inst.model_copy(update={"policy": inst.policy.model_copy(update={"weights": w})})
    else:
        _check_names(objective, {}, cons)
    if serve_all is None:
        serve_all = objective == "energy" or (objective == "weighted" and w.get("energy", 0) > 0)
    d = _data(inst)
    total = float(d.lam.sum())
    ratio_energy = objective == "energy" or (objective == "weighted" and w.get("energy", 0) > 0)
    if ratio_energy and not serve_all:
        raise SolverError(
            "energy per request is power over the served rate; it is linear (and exact) only "
            "when all demand is served: leave serve_all on"
        )
    if ratio_energy and total <= 0:
        raise SolverError("energy per request is undefined: the workload has no demand")
    pol = inst.policy
    nodes = inst.topology.nodes
    S, n_orig, N = len(d.services), len(d.origins), len(d.nodes)
    idle = np.array([n.idle_power_w for n in nodes], dtype=float)
    dyn = np.array([n.dynamic_power_w for n in nodes], dtype=float)
    gidle = np.array([n.gpu_idle_power_w for n in nodes], dtype=float)
    gdyn = np.array([n.gpu_dynamic_power_w for n in nodes], dtype=float)
    pcap = np.array([np.nan if n.power_cap_w is None else n.power_cap_w for n in nodes])
    gcap = np.array([np.nan if n.gpu_power_cap_w is None else n.gpu_power_cap_w for n in nodes])
    gpus_n = d.cap["gpus"]
    cpu_n = d.cap["cpu"]
    # A node whose idle draw already breaks its cap can never be on.
    can_on = np.ones(N, dtype=bool)
    can_on &= ~(idle > np.nan_to_num(pcap, nan=np.inf) - _POWER_MARGIN_W)
    can_on &= ~((gpus_n > 0) & (gidle > np.nan_to_num(gcap, nan=np.inf) - _POWER_MARGIN_W))
    notes: list[str] = []
    off = [d.nodes[n] for n in np.flatnonzero(~can_on)]
    if off:
        notes.append(f"nodes whose idle power exceeds their cap stay off: {', '.join(off)}")
    if serve_all:
        notes.append(
            "all demand is served (no dropping): the optimum is over decisions that drop nothing"
        )

    queues = _queues(d, inst, can_on)
    if not far_routes:
        for q_ in queues.values():
            q_.origins = [i for i in q_.origins if i not in q_.far]
            q_.far = {}
        notes.append("routes whose SLO limit is below the nearest origin's are left out")
    SN = sorted(queues)
    routes = [(s, i, n) for (s, n) in SN for i in queues[s, n].origins]
    far = [(s, i, n) for (s, n) in SN for i in queues[s, n].far]
    unary = [(s, n, c) for (s, n) in SN for c in range(1, queues[s, n].cmax + 1)]
    sn_of_node: dict[int, list[int]] = {n: [] for n in range(N)}
    for s, n in SN:
        sn_of_node[n].append(s)
    routes_to: dict[tuple[int, int], list[int]] = {sn: [] for sn in SN}
    routes_from: dict[tuple[int, int], list[int]] = {}
    for s, i, n in routes:
        routes_to[s, n].append(i)
        routes_from.setdefault((s, i), []).append(n)
    SI = [(s, i) for s in range(S) for i in range(n_orig) if d.lam[s, i] > 0]
    used_nodes = sorted({n for (_, n) in SN})

    m = pyo.ConcreteModel(name=f"placement[{inst.name}]")
    m.u = pyo.Var(used_nodes, domain=pyo.Binary)
    m.delta = pyo.Var(unary, domain=pyo.Binary)
    m.r = pyo.Var(routes, domain=pyo.NonNegativeReals, bounds=lambda _m, s, i, n: (0, d.lam[s, i]))
    m.y = pyo.Var(far, domain=pyo.Binary)
    if not serve_all:
        m.d = pyo.Var(SI, domain=pyo.NonNegativeReals, bounds=lambda _m, s, i: (0, d.lam[s, i]))

    def x(s: int, n: int) -> Any:
        return sum(m.delta[s, n, c] for c in range(1, queues[s, n].cmax + 1))

    def load(s: int, n: int) -> Any:
        return sum(m.r[s, i, n] for i in routes_to[s, n])

    # ---------------------------------------------------------------- demand balance
    def balance(_m: Any, s: int, i: int) -> Any:
        served = sum(m.r[s, i, n] for n in routes_from.get((s, i), []))
        dropped = m.d[s, i] if not serve_all else 0.0
        return served + dropped == d.lam[s, i]

    for s, i in SI:
        if serve_all and not routes_from.get((s, i)):
            raise SolverError(
                f"service {d.services[s]} from {d.origins[i]}: no node can serve it within its "
                "SLO, residency and capacity, so not all demand can be served"
            )
    m.balance = pyo.Constraint(SI, rule=balance)

    # ---------------------------------------------------------------- counts and limits
    m.order = pyo.Constraint(
        [(s, n, c) for (s, n, c) in unary if c >= 2],
        rule=lambda _m, s, n, c: m.delta[s, n, c] <= m.delta[s, n, c - 1],
    )
    m.switch = pyo.Constraint(SN, rule=lambda _m, s, n: m.delta[s, n, 1] <= m.u[n])

    def increments(lim: np.ndarray) -> np.ndarray:
        return np.diff(lim)

    inc_near = {sn: increments(queues[sn].limits) for sn in SN}
    m.slo = pyo.Constraint(
        SN,
        rule=lambda _m, s, n: (
            load(s, n)
            <= sum(
                float(inc_near[s, n][c - 1]) * m.delta[s, n, c]
                for c in range(1, queues[s, n].cmax + 1)
            )
        ),
    )

    def far_rule(_m: Any, s: int, i: int, n: int) -> Any:
        q_ = queues[s, n]
        lim_i = q_.far[i][: q_.cmax + 1]
        relax = float(np.max(q_.limits - lim_i))
        inc = increments(lim_i)
        return load(s, n) <= sum(
            float(inc[c - 1]) * m.delta[s, n, c] for c in range(1, q_.cmax + 1)
        ) + relax * (1 - m.y[s, i, n])

    m.slo_far = pyo.Constraint(far, rule=far_rule)
    m.route = pyo.Constraint(
        far, rule=lambda _m, s, i, n: m.r[s, i, n] <= d.lam[s, i] * m.y[s, i, n]
    )

    # ---------------------------------------------------------------- capacity
    _nidx = {name: k for k, name in enumerate(d.nodes)}
    cap_rows: list[tuple[str, int]] = []
    for n in used_nodes:
        for res in _RESOURCES:
            terms = [s for s in sn_of_node[n] if d.need[res][s] > 0]
            if terms and sum(d.need[res][s] * queues[s, n].cmax for s in terms) > (
                d.cap[res][n] + 1e-9
            ):
                cap_rows.append((res, n))
    m.capacity = pyo.Constraint(
        [(res, d.nodes[n]) for res, n in cap_rows],
        rule=lambda _m, res, name: (
            sum(
                d.need[res][s] * x(s, _nidx[name])
                for s in sn_of_node[_nidx[name]]
                if d.need[res][s]
            )
            <= d.cap[res][_nidx[name]] * m.u[_nidx[name]]
        ),
    )

    # ---------------------------------------------------------------- power
    def cpu_busy(n: int) -> Any:
        return sum(d.need["cpu"][s] / d.mu[s] * load(s, n) for s in sn_of_node[n])

    def gpu_busy(n: int) -> Any:
        return sum(d.need["gpus"][s] / d.mu[s] * load(s, n) for s in sn_of_node[n])

    def cpu_power(n: int) -> Any:
        dyn_part = dyn[n] / cpu_n[n] * cpu_busy(n) if cpu_n[n] > 0 and dyn[n] > 0 else 0.0
        return idle[n] * m.u[n] + dyn_part

    def gpu_power_each(n: int) -> Any:
        return gidle[n] * m.u[n] + (gdyn[n] / gpus_n[n] * gpu_busy(n) if gdyn[n] > 0 else 0.0)

    pc_nodes = [d.nodes[n] for n in used_nodes if not math.isnan(pcap[n])]
    gc_nodes = [d.nodes[n] for n in used_nodes if not math.isnan(gcap[n]) and gpus_n[n] > 0]
    m.power_cap = pyo.Constraint(
        pc_nodes,
        rule=lambda _m, name: cpu_power(_nidx[name]) <= pcap[_nidx[name]] - _POWER_MARGIN_W,
    )
    m.gpu_power_cap = pyo.Constraint(
        gc_nodes,
        rule=lambda _m, name: gpu_power_each(_nidx[name]) <= gcap[_nidx[name]] - _POWER_MARGIN_W,
    )
    m.power = pyo.Expression(
        expr=sum(
            (idle[n] + gpus_n[n] * gidle[n]) * m.u[n]
            + sum(
                (
                    (dyn[n] * d.need["cpu"][s] / cpu_n[n] if cpu_n[n] > 0 else 0.0)
                    + gdyn[n] * d.need["gpus"][s]
                )
                / d.mu[s]
                * load(s, n)
                for s in sn_of_node[n]
            )
            for n in used_nodes
        )
    )

    # ---------------------------------------------------------------- migrations
    mig_pairs = [(s, n) for (s, n) in SN if queues[s, n].cmax > d.x_prev[s, n]]
    m.mig = pyo.Var(mig_pairs, domain=pyo.NonNegativeReals)
    m.migration = pyo.Constraint(
        mig_pairs, rule=lambda _m, s, n: m.mig[s, n] >= x(s, n) - float(d.x_prev[s, n])
    )
    if pol.migration_budget is not None and mig_pairs:
        m.migration_budget = pyo.Constraint(
            expr=sum(m.mig[p] for p in mig_pairs) <= pol.migration_budget
        )

    # ---------------------------------------------------------------- objectives
    per_replica = {
        (s, n): d.need["cpu"][s] * nodes[n].cost_per_vcpu_hour
        + d.need["gpus"][s] * nodes[n].cost_per_gpu_hour
        for (s, n) in SN
    }
    m.cost = pyo.Expression(expr=sum(per_replica[s, n] * x(s, n) for (s, n) in SN))
    m.dropped = pyo.Expression(expr=0.0 if serve_all else sum(m.d[p] for p in SI))
    m.migrations = pyo.Expression(expr=sum(m.mig[p] for p in mig_pairs))
    m.throughput = pyo.Expression(expr=sum(m.r[p] for p in routes))
    m.energy = pyo.Expression(expr=m.power / total if total > 0 else 0.0)
    exprs = {
        "energy": m.energy,
        "power": m.power,
        "cost": m.cost,
        "dropped": m.dropped,
        "migrations": m.migrations,
        "throughput": m.throughput,
    }
    if objective == "weighted":
        m.objective = pyo.Objective(
            expr=sum(w.get(k, 0.0) * exprs[k] for k in _WEIGHTED if w.get(k, 0.0) > 0),
            sense=pyo.minimize,
        )
    else:
        sense = pyo.minimize if OBJECTIVES[objective] == "min" else pyo.maximize
        m.objective = pyo.Objective(expr=exprs[objective], sense=sense)

    def epsilon(_m: Any, name: str) -> Any:
        bound = float(cons[name])
        if name == "energy":
            return m.power <= bound * m.throughput
        if OBJECTIVES[name] == "min":
            return exprs[name] <= bound
        return exprs[name] >= bound

    m.epsilon = pyo.Constraint(list(cons), rule=epsilon)

    # ---------------------------------------------------------------- read-back
    def decode(_m: pyo.ConcreteModel) -> dict[str, Any]:
        return _decode(m, d, queues, SN, routes, SI, used_nodes, serve_all)

    def describe(name: str) -> str:
        return _describe(inst, d, name)

    def context(rows: tuple[str, ...]) -> list[str]:
        return _context(inst, d, rows, serve_all)

    def evaluate(decision: dict[str, Any]) -> Any:
        return evaluate_placement(inst, decision)

    stats = {
        "variables": sum(1 for _ in m.component_data_objects(pyo.Var)),
        "integer_variables": sum(
            1 for v in m.component_data_objects(pyo.Var) if v.is_integer() or v.is_binary()
        ),
        "constraints": sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True)),
        "objective": objective,
        "routes": len(routes),
        "queues": len(SN),
        "far_routes": len(far),
        "serve_all": serve_all,
    }
    return BuiltModel(
        name="placement",
        instance=inst,
        pyomo=m,
        decode=decode,
        objective_name=objective,
        build_s=time.perf_counter() - t0,
        describe=describe,
        notes=tuple(notes),
        stats=stats,
        context=context,
        evaluate=evaluate,
    )


def _decode(
    m: pyo.ConcreteModel,
    d: _Data,
    queues: Mapping[tuple[int, int], _Queue],
    sn: list[tuple[int, int]],
    routes: list[tuple[int, int, int]],
    si: list[tuple[int, int]],
    used_nodes: list[int],
    serve_all: bool,
) -> dict[str, Any]:
    S, n_orig, N = d.lam.shape[0], d.lam.shape[1], len(d.nodes)
    x = np.zeros((S, N), dtype=np.int64)
    for s, n in sn:
        x[s, n] = sum(round(pyo.value(m.delta[s, n, c])) for c in range(1, queues[s, n].cmax + 1))
    r = np.zeros((S, n_orig, N))
    for s, i, n in routes:
        r[s, i, n] = max(0.0, float(pyo.value(m.r[s, i, n])))
    # Solver noise: tiny flows to nodes without replicas would be routing violations.
    r[(r < _TINY_RATE) | (x[:, None, :] == 0)] = 0.0
    drop = np.zeros((S, n_orig))
    for s, i in si:
        if not serve_all:
            drop[s, i] = min(max(0.0, float(pyo.value(m.d[s, i]))), d.lam[s, i])
        if drop[s, i] < _TINY_RATE:
            drop[s, i] = 0.0
        routed = r[s, i].sum()
        want = d.lam[s, i] - drop[s, i]
        if routed > 0:
            r[s, i] *= want / routed
        else:
            drop[s, i] = d.lam[s, i]
    on = np.zeros(N, dtype=bool)
    for n in used_nodes:
        on[n] = round(pyo.value(m.u[n])) == 1
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


def prices(built: BuiltModel, *, time_limit: float | None = None) -> dict[tuple[str, str], float]:
    """Congestion prices: LP-relaxation duals of the capacity and power rows.

    The price of (node, resource) is the rate at which the LP relaxation's optimal
    objective would fall per unit more of the resource, in objective units per vCPU, GB,
    GPU or W: ``-dual`` of its row (the rows are ``<=`` in a minimization; for
    ``throughput``, a maximization, the sign is flipped so that a scarce resource has a
    positive price as well). Resources are ``cpu``, ``ram_gb``, ``disk_gb``, ``gpus``,
    ``power`` (CPU-side cap) and ``gpu_power`` (per-GPU cap); rows that cannot bind are
    absent. A capacity row reads ``need x <= cap u``, so its dual prices the capacity ``cap``
    of a node that is on.

    Parameters
    ----------
    built : BuiltModel
        From :func:`build`.
    time_limit : float, optional

    Returns
    -------
    dict
        ``{(node, resource): price}``; empty when the relaxation does not solve.

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> p = prices(build(inst, "cost"))
    >>> all(v >= -1e-9 for v in p.values())
    True
    """
    lp = lp_relaxation(built, time_limit=time_limit)
    sign = -1.0 if OBJECTIVES.get(built.objective_name, "min") == "min" else 1.0
    out: dict[tuple[str, str], float] = {}
    for row, dual in lp.duals.items():
        head, parts = _parts(row)
        if head == "capacity" and len(parts) == 2:
            out[parts[1], parts[0]] = sign * dual + 0.0
        elif head == "power_cap" and parts:
            out[parts[0], "power"] = sign * dual + 0.0
        elif head == "gpu_power_cap" and parts:
            out[parts[0], "gpu_power"] = sign * dual + 0.0
    return out
