"""Index sets and coefficients of an instance shared by the MPC problem and its shield.

A *route* is a triple (s, i, n) along which service s's requests from origin i may be sent to
node n: the pair has demand, residency allows s on n, n is reachable from i, one replica of s
fits on n, n can be on without breaking its power caps, and an idle replica on n would meet
the SLO (with the guard margin when possible). A *pair* (s, n) is a queue that some route
feeds. Everything here is computed once per instance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgebound.errors import EdgeboundError
from edgebound.evaluate.placement import _Data, _data
from edgebound.instances import Instance
from edgebound.models.placement import rate_limits
from edgebound.sim.continuum import migration_caps

_RESOURCES = ("cpu", "ram_gb", "disk_gb", "gpus")


class MPCError(EdgeboundError, ValueError):
    """The MPC, its shield or its closed loop was given an option or input it cannot use.

    Examples
    --------
    >>> issubclass(MPCError, ValueError)
    True
    """


MPCError.__module__ = "edgebound.mpc"  # where users import it from


@dataclass(frozen=True, eq=False)
class _Layout:
    data: _Data
    eff_cap: dict[str, np.ndarray]  # resource -> (N,) capacity within the power caps
    quantile: float
    rho: float
    slo_margin: float
    demands: np.ndarray  # (D, 2) s, i
    routes: np.ndarray  # (K, 3) s, i, n
    route_demand: np.ndarray  # (K,) index into demands
    route_pair: np.ndarray  # (K,) index into pairs
    lat_ms: np.ndarray  # (K,) network + mean service time, ms
    pairs: np.ndarray  # (P, 2) s, n
    pair_budget_ms: np.ndarray  # (P,) smallest route budget into the pair (inf: no SLO)
    cmax: np.ndarray  # (P,) most replicas of s that fit on n
    limits: tuple[np.ndarray, ...]  # per pair: exact rate limit at 0..cmax replicas
    nodes: np.ndarray  # (U,) nodes some pair uses
    pair_node: np.ndarray  # (P,) index into nodes
    can_on: np.ndarray  # (N,) bool
    mig_cap: np.ndarray  # (S,) starts per service and period
    mig_budget: float  # starts per period, all services (inf: none)
    mean_demand_rps: float


def _effective_caps(d: _Data) -> dict[str, np.ndarray]:
    """Capacities under which a node stays within its power caps even with every replica busy.

    CPU-side power is ``idle + dyn u`` with ``u`` at most the hosted replicas' vCPU over the
    node's, so hosting at most ``cpu (cap - idle) / dyn`` vCPU keeps the cap whatever the
    load; likewise each GPU, with whole GPUs.
    """
    out = {r: d.cap[r].copy() for r in _RESOURCES}
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(d.dyn_w > 0, (d.power_cap_w - d.idle_w) / d.dyn_w, np.inf)
        gfrac = np.where(d.gpu_dyn_w > 0, (d.gpu_power_cap_w - d.gpu_idle_w) / d.gpu_dyn_w, np.inf)
    frac = np.where(np.isnan(frac), np.inf, frac)
    gfrac = np.where(np.isnan(gfrac), np.inf, gfrac)
    out["cpu"] = np.where(frac < 1.0, d.cap["cpu"] * np.maximum(frac, 0.0), d.cap["cpu"])
    gpu = np.floor(d.cap["gpus"] * np.clip(gfrac, 0.0, 1.0) + 1e-9)
    out["gpus"] = np.where(gfrac < 1.0, gpu, d.cap["gpus"])
    return out


def _per_node_max(need: dict[str, np.ndarray], cap: dict[str, np.ndarray], s: int, n: int) -> int:
    caps = [math.floor(cap[r][n] / need[r][s] + 1e-9) for r in _RESOURCES if need[r][s] > 0]
    return max(0, min(caps)) if caps else 1000


def _layout(
    inst: Instance,
    *,
    slo_margin: float = 0.1,
    migration_cap_per_min: float | None = None,
    demand: np.ndarray | None = None,
) -> _Layout:
    """Routes, pairs and exact rate-limit tables of an instance.

    ``demand`` (S, I) marks which (service, origin) pairs ever have demand (the instance's
    demands by default); ``slo_margin`` shrinks every SLO by that share for the guard.
    """
    if not 0.0 <= slo_margin < 1.0:
        raise MPCError(f"slo_margin: {slo_margin!r} must be in [0, 1), e.g. 0.1 for 10 %")
    d = _data(inst)
    pol = inst.policy
    q, rho = pol.slo_quantile, pol.max_utilization
    has = d.has_demand if demand is None else np.asarray(demand) > 0
    pcap = np.nan_to_num(d.power_cap_w, nan=np.inf)
    gcap = np.nan_to_num(d.gpu_power_cap_w, nan=np.inf)
    can_on = (d.idle_w <= pcap) & ~((d.cap["gpus"] > 0) & (d.gpu_idle_w > gcap))
    eff = _effective_caps(d)
    dem = np.argwhere(has)
    dem_index = {(int(s), int(i)): k for k, (s, i) in enumerate(dem)}
    routes, budgets = [], []
    cmax_of: dict[tuple[int, int], int] = {}
    idle_ms = -math.log(1.0 - q) * 1000.0 / d.mu  # an idle queue's quantile
    for s, i in dem.tolist():
        slo = d.slo_ms[s]
        for n in np.flatnonzero(d.allowed[s] & can_on & np.isfinite(d.net_ms[i])).tolist():
            if (s, n) not in cmax_of:
                cmax_of[s, n] = _per_node_max(d.need, eff, s, n)
            if cmax_of[s, n] < 1:
                continue
            if math.isnan(slo):
                budget = math.inf
            else:
                budget = slo * (1.0 - slo_margin) - d.net_ms[i, n]
                if budget <= idle_ms[s]:
                    budget = slo - d.net_ms[i, n]  # no room for the margin: the SLO itself
                if budget <= idle_ms[s]:
                    continue
            routes.append((s, i, n))
            budgets.append(budget)
    if not routes:
        raise MPCError(
            "instance: no service can be routed anywhere (no demand, or no node meets "
            "residency, capacity, power caps and SLO for any demand)"
        )
    r_arr = np.array(routes, dtype=np.int64)
    b_arr = np.array(budgets)
    pair_keys = sorted({(s, n) for s, _, n in routes})
    pair_index = {p: k for k, p in enumerate(pair_keys)}
    route_pair = np.array([pair_index[s, n] for s, _, n in routes], dtype=np.int64)
    pair_budget = np.full(len(pair_keys), np.inf)
    np.minimum.at(pair_budget, route_pair, b_arr)
    limits = []
    cmax = np.array([cmax_of[p] for p in pair_keys], dtype=np.int64)
    for k, (s, _n) in enumerate(pair_keys):
        counts = np.arange(0, cmax[k] + 1, dtype=float)
        if math.isinf(pair_budget[k]):
            lim = rho * d.mu[s] * counts
        else:
            lim = np.zeros(counts.shape)
            lim[1:] = rate_limits(
                counts[1:], float(d.mu[s]), pair_budget[k], quantile=q, max_utilization=rho
            )
        # a hair below the exact limit, so rounding never tips a queue over its SLO
        limits.append(np.maximum(lim * (1.0 - 1e-9) - 1e-9, 0.0))
    pairs = np.array(pair_keys, dtype=np.int64)
    used = np.unique(pairs[:, 1])
    mig_budget = inst.policy.migration_budget
    return _Layout(
        data=d,
        eff_cap=eff,
        quantile=q,
        rho=rho,
        slo_margin=slo_margin,
        demands=dem.astype(np.int64),
        routes=r_arr,
        route_demand=np.array([dem_index[s, i] for s, i, _ in routes], dtype=np.int64),
        route_pair=route_pair,
        lat_ms=d.net_ms[r_arr[:, 1], r_arr[:, 2]] + 1000.0 / d.mu[r_arr[:, 0]],
        pairs=pairs,
        pair_budget_ms=pair_budget,
        cmax=cmax,
        limits=tuple(limits),
        nodes=used,
        pair_node=np.searchsorted(used, pairs[:, 1]),
        can_on=can_on,
        mig_cap=migration_caps(inst, migration_cap_per_min),
        mig_budget=math.inf if mig_budget is None else float(mig_budget),
        mean_demand_rps=max(float(d.lam.sum()), 1e-9),
    )


@dataclass(frozen=True, eq=False)
class _Pools:
    """The layout aggregated over pools of nodes (see :func:`_pools`)."""

    members: tuple[np.ndarray, ...]  # (G,) node indices of each pool
    names: tuple[str, ...]
    routes: np.ndarray  # (Kg, 3) s, i, g
    route_demand: np.ndarray  # (Kg,)
    route_pair: np.ndarray  # (Kg,)
    lat_ms: np.ndarray  # (Kg,) mean over the pool's nodes
    pairs: np.ndarray  # (Pg, 2) s, g
    pair_nodes: tuple[np.ndarray, ...]  # node-level pair indices of each pool pair
    kappa: np.ndarray  # (Pg,) effective rate per replica, req/s
    c_ref: np.ndarray  # (Pg,) reference count per node
    cap: dict[str, np.ndarray]  # resource -> (G,) capacity within power caps
    idle_w: np.ndarray  # (G,) idle power of all nodes (CPU side and GPUs)
    w_per_cpu: np.ndarray  # (G,) dynamic W per busy vCPU
    w_per_gpu: np.ndarray  # (G,) dynamic W per busy GPU
    unit_cost: np.ndarray  # (Pg,) USD/h per replica


def _pools(lay: _Layout, inst: Instance, mode: str = "cluster") -> _Pools:
    """Aggregate nodes into pools: each edge cluster one pool (``"cluster"``), or each node
    its own (``"node"``); cloud nodes and edge nodes without a cluster are always alone."""
    if mode not in ("cluster", "node"):
        raise MPCError(f"pools: {mode!r} must be 'cluster' or 'node'")
    d = lay.data
    nodes = inst.topology.nodes
    key_of: dict[str, list[int]] = {}
    for n in lay.nodes:
        node = nodes[n]
        key = node.cluster if mode == "cluster" and node.tier == "edge" and node.cluster else None
        key_of.setdefault(key or node.name, []).append(int(n))
    names = tuple(key_of)
    members = tuple(np.array(v, dtype=np.int64) for v in key_of.values())
    pool_of = np.full(len(d.nodes), -1, dtype=np.int64)
    for g, mem in enumerate(members):
        pool_of[mem] = g
    # pool pairs and their node-level pairs
    pg_keys = sorted({(int(s), int(pool_of[n])) for s, n in lay.pairs})
    pg_index = {k: j for j, k in enumerate(pg_keys)}
    pair_pg = np.array([pg_index[int(s), int(pool_of[n])] for s, n in lay.pairs])
    pair_nodes = tuple(np.flatnonzero(pair_pg == j) for j in range(len(pg_keys)))
    # pool routes: mean latency over the pool's nodes on that route
    rk: dict[tuple[int, int, int], list[int]] = {}
    for k, (s, i, n) in enumerate(lay.routes):
        rk.setdefault((int(s), int(i), int(pool_of[n])), []).append(k)
    r_keys = sorted(rk)
    kappa_node, cref_node = _kappa(lay)
    cmax = lay.cmax.astype(float)
    kappa = np.array([np.average(kappa_node[m], weights=cmax[m]) for m in pair_nodes])
    c_ref = np.array([int(np.median(cref_node[m])) for m in pair_nodes], dtype=np.int64)
    ps = np.array([k[0] for k in pg_keys], dtype=np.int64)
    unit = d.need["cpu"][lay.pairs[:, 0]] * np.nan_to_num(d.cost_vcpu[lay.pairs[:, 1]]) + d.need[
        "gpus"
    ][lay.pairs[:, 0]] * np.nan_to_num(d.cost_gpu[lay.pairs[:, 1]])
    cpu, gpus = d.cap["cpu"], d.cap["gpus"]
    idle = d.idle_w + gpus * np.where(gpus > 0, d.gpu_idle_w, 0.0)
    return _Pools(
        members=members,
        names=names,
        routes=np.array(r_keys, dtype=np.int64).reshape(-1, 3),
        route_demand=np.array([lay.route_demand[rk[k][0]] for k in r_keys], dtype=np.int64),
        route_pair=np.array([pg_index[k[0], k[2]] for k in r_keys], dtype=np.int64),
        lat_ms=np.array([lay.lat_ms[rk[k]].mean() for k in r_keys]),
        pairs=np.array(pg_keys, dtype=np.int64).reshape(-1, 2),
        pair_nodes=pair_nodes,
        kappa=kappa,
        c_ref=np.maximum(c_ref, 1),
        cap={r: np.array([lay.eff_cap[r][m].sum() for m in members]) for r in _RESOURCES},
        idle_w=np.array([idle[m].sum() for m in members]),
        w_per_cpu=np.array([d.dyn_w[m].sum() / max(cpu[m].sum(), 1e-9) for m in members]),
        w_per_gpu=np.array(
            [
                (gpus[m] * d.gpu_dyn_w[m]).sum() / gpus[m].sum() if gpus[m].sum() > 0 else 0.0
                for m in members
            ]
        ),
        unit_cost=np.array([unit[m].mean() for m in pair_nodes]) if len(ps) else np.zeros(0),
    )


def _kappa(lay: _Layout) -> tuple[np.ndarray, np.ndarray]:
    """The effective rate per replica ``kappa`` of each node queue, and its reference count.

    The exact limit ``Lambda(c)`` of a queue is neither convex nor concave in c (pooling
    makes larger pools relatively better until stability binds), and the concave functions
    below it through the origin are far too conservative for large pools, so the problem uses
    the linear limit ``L <= kappa x`` with ``kappa = Lambda(c_ref) / c_ref``: exact at the
    reference count (half the count that would carry all the demand that can reach the
    queue), conservative above it and optimistic below it. The shield replaces the relaxed
    count by the exact integer count the routed load needs.
    """
    d = lay.data
    reach = np.zeros(len(lay.pairs))
    np.add.at(reach, lay.route_pair, d.lam[lay.routes[:, 0], lay.routes[:, 1]])
    kappa = np.zeros(len(lay.pairs))
    c_ref = np.ones(len(lay.pairs), dtype=np.int64)
    for p, lim in enumerate(lay.limits):
        cmax = len(lim) - 1
        cover = np.flatnonzero(lim >= reach[p])
        c_cov = int(cover[0]) if cover.size else cmax
        c = int(min(max(1, math.ceil(c_cov / 2)), cmax))
        kappa[p], c_ref[p] = lim[c] / c, c
    return kappa, c_ref
