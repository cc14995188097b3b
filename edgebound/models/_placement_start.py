"""A constructive start for the placement MILP: keep the previous placement, route greedily.

:func:`greedy_start` builds a decision that satisfies every row of the one-period model of
:mod:`edgebound.models.placement` (the model's own tightened SLO rate limits, capacities,
power caps, residency, the migration budget and, when asked, serving all demand), so that it
can be handed to HiGHS as a MIP start. It is a heuristic: it returns ``None`` when it finds
no such decision, never a decision the model rejects.

The construction, per demand (service s, origin i) in decreasing rate:

1. keep the previous placement ``state.placement`` (no migrations), cut to the counts the
   model knows (``cmax``, residency, nodes that can be on);
2. route to queues that already have replicas, nearest node first, as much as the queue's
   SLO limit allows for the set of origins it then serves (a farther origin lowers the limit
   of the whole queue: the minimum over the origins served) and the node's power caps allow;
3. what is left goes where adding replicas costs least per request (replica cost, the
   energy of switching a node on, migrations, and the dynamic energy per request), within
   capacity, power caps and the migration budget;
4. finally every queue keeps only the replicas its load needs, and nodes without replicas
   are switched off.

Every step stays on the safe side of the model's rows, which are themselves on the safe side
of the evaluator's limits; the decision is checked by the evaluator by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyomo.common.collections import ComponentMap

from edgebound.models._placement_core import _POWER_MARGIN_W, _RESOURCES, _Structure

__all__ = ["GreedyStart", "greedy_start"]

_SAFE = 1e-9  # relative room kept below every limit, against rounding


@dataclass(frozen=True)
class GreedyStart:
    """A decision of the one-period model in arrays.

    Attributes
    ----------
    x : numpy.ndarray
        (S, N) replicas.
    r : numpy.ndarray
        (S, I, N) routed rates.
    on : numpy.ndarray
        (N,) nodes on.
    """

    x: np.ndarray
    r: np.ndarray
    on: np.ndarray


class _State:
    """Mutable bookkeeping of the construction."""

    def __init__(self, st: _Structure, lam: np.ndarray, budget: int | None) -> None:
        d = st.d
        self.st = st
        self.d = d
        self.lam = lam
        S, n_orig, N = lam.shape[0], lam.shape[1], len(d.nodes)
        self.x = np.zeros((S, N), dtype=np.int64)
        self.r = np.zeros((S, n_orig, N))
        self.used = {res: np.zeros(N) for res in _RESOURCES}
        self.busy_cpu = np.zeros(N)  # sum_s cpu_s / mu_s * L_sn
        self.busy_gpu = np.zeros(N)
        self.budget = math.inf if budget is None else float(budget)
        self.x_prev = d.x_prev
        self.migrations = 0.0
        # per-queue, the model's limit for every count: the minimum over the origins served
        self.lim: dict[tuple[int, int], np.ndarray] = {
            sn: q.limits.copy() for sn, q in st.queues.items()
        }

    # ---------------------------------------------------------------- limits of a node

    def load(self, s: int, n: int) -> float:
        return float(self.r[s, :, n].sum())

    def limit_with(self, s: int, i: int, n: int) -> np.ndarray:
        """The queue's limits per count if origin i is served there too."""
        q = self.st.queues[s, n]
        lim = self.lim[s, n]
        far = q.far.get(i)
        return lim if far is None else np.minimum(lim, far[: q.cmax + 1])

    def power_room(self, s: int, n: int, on: bool) -> float:
        """Rate of service s that node n's power caps still admit (inf without caps)."""
        st, d = self.st, self.d
        room = math.inf
        cpu_n, gpus_n = d.cap["cpu"][n], d.cap["gpus"][n]
        if not math.isnan(st.pcap[n]) and st.dyn[n] > 0 and cpu_n > 0:
            per = st.dyn[n] / cpu_n * d.need["cpu"][s] / d.mu[s]
            head = st.pcap[n] - _POWER_MARGIN_W - st.idle[n] - st.dyn[n] / cpu_n * self.busy_cpu[n]
            if not on and st.idle[n] > st.pcap[n] - _POWER_MARGIN_W:
                return 0.0
            if per > 0:
                room = min(room, head / per)
        if not math.isnan(st.gcap[n]) and gpus_n > 0 and st.gdyn[n] > 0:
            per = st.gdyn[n] / gpus_n * d.need["gpus"][s] / d.mu[s]
            head = (
                st.gcap[n] - _POWER_MARGIN_W - st.gidle[n] - st.gdyn[n] / gpus_n * self.busy_gpu[n]
            )
            if per > 0:
                room = min(room, head / per)
        return max(0.0, room * (1.0 - _SAFE))

    def replica_room(self, s: int, n: int) -> int:
        """More replicas of s that fit on n (capacity, the model's cmax, migrations)."""
        d = self.d
        q = self.st.queues[s, n]
        k = q.cmax - int(self.x[s, n])
        for res in _RESOURCES:
            need = d.need[res][s]
            if need > 0:
                k = min(k, math.floor((d.cap[res][n] - self.used[res][n]) / need + 1e-9))
        # migrations: replicas above the previous count are started
        free = max(0, int(self.x_prev[s, n]) - int(self.x[s, n]))
        if k > free and math.isfinite(self.budget):
            k = min(k, free + int(max(0.0, self.budget - self.migrations) + 1e-9))
        return max(0, k)

    # ---------------------------------------------------------------- changes

    def add_replicas(self, s: int, n: int, k: int) -> None:
        if k <= 0:
            return
        d = self.d
        before = max(0, int(self.x[s, n]) - int(self.x_prev[s, n]))
        self.x[s, n] += k
        after = max(0, int(self.x[s, n]) - int(self.x_prev[s, n]))
        self.migrations += after - before
        for res in _RESOURCES:
            self.used[res][n] += d.need[res][s] * k

    def route(self, s: int, i: int, n: int, rate: float) -> None:
        if rate <= 0:
            return
        d = self.d
        q = self.st.queues[s, n]
        if i in q.far:
            self.lim[s, n] = np.minimum(self.lim[s, n], q.far[i][: q.cmax + 1])
        self.r[s, i, n] += rate
        self.busy_cpu[n] += d.need["cpu"][s] / d.mu[s] * rate
        self.busy_gpu[n] += d.need["gpus"][s] / d.mu[s] * rate

    def on(self, n: int) -> bool:
        return bool(self.x[:, n].any())


def greedy_start(
    st: _Structure,
    lam: np.ndarray,
    *,
    serve_all: bool,
    budget: int | None,
    energy_weight: float = 0.0,
    cost_weight: float = 1.0,
    migration_weight: float = 0.0,
    keep_previous: bool = True,
) -> GreedyStart | None:
    """A decision feasible for the one-period placement model, or ``None``.

    Parameters
    ----------
    st : _Structure
        The model's structure (queues with their tightened limits, rows, coefficients).
    lam : numpy.ndarray
        (S, I) demand.
    serve_all : bool
        Whether all demand must be served; when not, what finds no room is dropped.
    budget : int, optional
        Migration budget.
    energy_weight, cost_weight, migration_weight : float
        Weights of power (W, as the objective weighs it), cost and migrations that rank
        where new replicas go.
    keep_previous : bool
        Start from ``state.placement`` (else from nothing).

    Returns
    -------
    GreedyStart or None
    """
    d = st.d
    g = _State(st, lam, budget)
    if keep_previous:
        for (s, n), q in st.queues.items():
            keep = min(int(d.x_prev[s, n]), q.cmax)
            fits = g.replica_room(s, n)
            g.add_replicas(s, n, min(keep, fits))
    # energy per request served at (s, n): what the dynamic power costs in the objective
    cpu_n, gpus_n = d.cap["cpu"], d.cap["gpus"]

    def per_req(s: int, n: int) -> float:
        w = st.dyn[n] * d.need["cpu"][s] / cpu_n[n] if cpu_n[n] > 0 else 0.0
        w += st.gdyn[n] * d.need["gpus"][s]
        return energy_weight * w / d.mu[s]

    queues_of: dict[tuple[int, int], list[int]] = {}
    for (s, n), q in st.queues.items():
        for i in q.origins:
            queues_of.setdefault((s, i), []).append(n)
    pairs = [(int(s), int(i)) for s, i in zip(*np.nonzero(lam > 0), strict=True)]
    pairs.sort(key=lambda p: -lam[p])
    for s, i in pairs:
        rem = float(lam[s, i])
        nodes = sorted(queues_of.get((s, i), []), key=lambda n: (d.net_ms[i, n], n))
        # 1. existing replicas, nearest first
        for n in nodes:
            if rem <= 0:
                break
            c = int(g.x[s, n])
            if c == 0:
                continue
            take = min(rem, _room(g, s, i, n, c))
            if take > 0:
                g.route(s, i, n, take)
                rem -= take
        # 2. new replicas where they cost least per request
        while rem > 1e-12:
            best: tuple[float, int, int, float] | None = None
            for n in nodes:
                k_max = g.replica_room(s, n)
                if k_max <= 0:
                    continue
                c = int(g.x[s, n])
                lim = g.limit_with(s, i, n)
                load = g.load(s, n)
                power = g.power_room(s, n, g.on(n))
                # the fewest replicas that take all that is left, else all that fit
                k = k_max
                for kk in range(1, k_max + 1):
                    if lim[c + kk] * (1.0 - _SAFE) - load >= rem:
                        k = kk
                        break
                take = min(rem, lim[c + k] * (1.0 - _SAFE) - load, power)
                if take <= 1e-12:
                    continue
                fixed = cost_weight * st.replica_cost[s, n] * k
                started = max(0, c + k - int(d.x_prev[s, n])) - max(0, c - int(d.x_prev[s, n]))
                fixed += migration_weight * started
                if not g.on(n):
                    fixed += energy_weight * (st.idle[n] + gpus_n[n] * st.gidle[n])
                score = fixed / take + per_req(s, n)
                if best is None or score < best[0]:
                    best = (score, n, k, take)
            if best is None:
                break
            _, n, k, take = best
            g.add_replicas(s, n, k)
            g.route(s, i, n, take)
            rem -= take
        if rem > 1e-9 * max(1.0, float(lam[s, i])) and serve_all:
            return None  # what is left is dropped when dropping is allowed
    # 3. trim: each queue keeps the fewest replicas its load needs
    x = g.x.copy()
    for s, n in st.queues:
        load = g.load(s, n)
        if load <= 0:
            x[s, n] = 0
            continue
        lim = g.lim[s, n]
        ok = np.flatnonzero(lim[1 : x[s, n] + 1] * (1.0 - _SAFE) >= load)
        if ok.size:
            x[s, n] = int(ok[0]) + 1
    on = x.sum(axis=0) > 0
    if serve_all:
        # the balance must hold to rounding: rescale each demand's routes to its rate
        routed = g.r.sum(axis=2)
        scale = np.where(routed > 0, lam / np.where(routed > 0, routed, 1.0), 1.0)
        r = g.r * scale[:, :, None]
    else:
        r = g.r
    return GreedyStart(x=x, r=r, on=on)


def _room(g: _State, s: int, i: int, n: int, c: int) -> float:
    lim = g.limit_with(s, i, n)
    return max(0.0, min(lim[c] * (1.0 - _SAFE) - g.load(s, n), g.power_room(s, n, True)))


def start_values(b: Any, st: _Structure, per: Any, start: GreedyStart) -> ComponentMap:
    """Values of the period block's variables (``u``, ``delta``, ``r``, ``y``, ``d``).

    Parameters
    ----------
    b : Pyomo block
        The block :func:`~edgebound.models._placement_core._add_period` filled.
    st : _Structure
    per : _Period
    start : GreedyStart

    Returns
    -------
    ComponentMap
        Pyomo variable data -> value.
    """
    out = ComponentMap()
    for n in st.used_nodes:
        out[b.u[n]] = 1.0 if start.on[n] else 0.0
    for s, n, c in st.unary:
        out[b.delta[s, n, c]] = 1.0 if start.x[s, n] >= c else 0.0
    for s, i, n in per.routes:
        out[b.r[s, i, n]] = float(start.r[s, i, n])
    for s, i, n in b.y:
        out[b.y[s, i, n]] = 1.0 if start.r[s, i, n] > 0 else 0.0
    if not per.serve_all:
        for s, i in per.si:
            out[b.d[s, i]] = max(0.0, float(per.lam[s, i] - start.r[s, i].sum()))
    return out
