"""Approximate Pareto fronts of the continuum placement model by NSGA-II and NSGA-III (pymoo).

**Encoding.** One integer per (service, node): its replicas, between 0 and the most that
fit on the empty node (0 outside the service's allowed regions and on nodes whose idle
power already breaks their cap), so residency always holds; and one more integer, the
*routing level* ``k`` in ``0..levels``, which says how the routing trades its two
components when the objectives give it two (see below; fixed at 0 otherwise).

**Repair.** On every node whose CPU, RAM, disk or GPUs are exceeded, replicas are removed
one at a time from the service with the most replicas there (the lower index on ties),
until the node fits; then, while more replicas are started than ``policy.migration_budget``
allows, one is removed where the most were started. It draws nothing.

**Routing** of each replicas and level is a linear program (HiGHS), solved in rounds:

* variables: the rate of every route (service, origin, node), the dropped rate of every
  (service, origin), and with latency a waiting-time variable per queue; demand balance
  holds;
* a queue of ``c`` replicas takes routes only from origins whose SLO rate limit
  ``Lambda_i = Lambda_b(c)`` (:func:`~edgebound.models.placement.rate_limits`, with ``b``
  the SLO minus origin i's network latency) is positive. The exact model keeps a queue's
  load within the least limit of the origins routed to it; the first round relaxes that to
  ``sum_i r_i / Lambda_i <= 1`` (which it implies). While a queue's load then exceeds the
  limit of an origin routed to it, the queue is restricted to a level ``t``, one of its
  origins' limits: only origins with ``Lambda_i >= t`` stay and its load stays within
  ``t``, and the LP is solved again from the last basis. ``t`` is chosen for all such
  queues at once, as the level that loses least of the round's flow; when the result
  drops demand, the restriction is redone one queue at a time, the most overloaded first,
  each level tried by a warm solve and the best kept. A restricted queue meets every
  limit, so the rounds end, and every stream of the final routing meets its SLO;
* CPU-side power caps and per-GPU power caps of the nodes that are on;
* components, each scaled to at most 1 per req/s: ``power`` (the dynamic CPU and GPU power
  of the routes) when power or energy is an objective; ``latency`` when it is one: network
  latency plus service time of the routes plus, per queue, the M/M/c waiting time summed
  over its requests, ``1000 L Wq(c, L)``, which is convex in the load L and enters as the
  largest of its tangents at 12 shares of the queue's limit (an outer approximation, as in
  the exact model; the objectives are then the evaluator's); ``dropped`` when dropped or
  throughput is an objective;
* objective: with two components (latency and power, or dropped and power), weights
  ``1 - k / levels`` on the first and ``k / levels`` on the second (each plus 1e-3), so
  that the routing level moves the routing along the trade-off of a fixed placement; when
  dropping is not a component it comes first (it costs 1 per req/s, the components 1e-3
  times theirs), and when latency or energy is an objective nothing may be dropped unless
  the replicas cannot serve all demand.

**Constraints** are the evaluator's: a decision it finds infeasible (a migration budget, a
power cap) has a positive violation, and so does one that drops requests when latency or
energy per request is an objective (these are exact only when all demand is served, as in
:func:`~edgebound.pareto.placement_front`), so that NSGA's constrained domination ranks it
behind every feasible one.

**Initial population.** Half of it (at most) is constructive, at routing levels spread over
``0..levels``: the previous placement; that placement with the nodes on filled (replicas
added on them while they fit and the migration budget allows, each to the service with the
least capacity per demand); the same with the nodes that draw the most power per vCPU
switched off one by one; and a greedy cover that adds, per service, the replica giving the
most rate limit per price until the limits cover the demand, alone and filled. The price of
a replica is its cost per hour when cost is an objective, else its share of its node's power
at full load. The rest is the previous placement with a few replicas added or removed at
random. With ``extremes=True`` the constructive seeds begin with the front's exact extreme
points: per objective, the replicas of the placement MILP's lexicographic optimum (the
payoff table of :func:`~edgebound.pareto.placement_front`, solved by HiGHS), routed like
any other decision, except that the MILP's own routing is kept where the routing's rounds
drop demand or do worse on those replicas. The run is then a hybrid: the local search
starts from the ends of the front, which the cheap end of a cost front needs (on
``continuum-random`` medium, (cost, energy), 500 generations and the polish alone end 1.2 %
above the least cost). ``anchors=K`` adds K points of the MILP between the ends: the second
objective minimized with the first bounded at K evenly spaced values (the
epsilon-constraint method at a coarse resolution), which hands the local search exact
decisions in the middle of the front too.

**Local search.** After every generation, the ``local_search`` archived decisions not yet
explored with the largest crowding distance (the extremes first) are explored: their
neighbours are evaluated and every nondominated one joins the archive and, through the
algorithm's survival, the population (a Pareto local search). The neighbours of a decision
are: the routing level one up and one down; its nodes on filled; the two nodes serving
least per watt of idle power switched off, each alone, with the others filled, and with its
loads carried by replicas added on the others (per service, the cheapest node with room
first, until the rate limit added for the origins routed to it covers its load), and both
together in that last way; the node of the previous placement with the least idle power per
replica switched back on as it was (no start), alone and in place of the weakest node on;
with migrations an objective, exchanges with the nodes of the previous placement that are
off (each back on as it was and the nodes on then switched off one by one while the rest
carry the demand; a node on for one of them that held all its services and draws
less idle power, as it was; each of the two weakest nodes moved onto each of the three
that draw least idle power, then the nodes sharing a service with it switched off: moves
that cost no start, or few, where single switch-offs find no feasible step);
on every node whose GPUs are all taken, each GPU replica exchanged for one of each other
service that needs a GPU and fits there (the service that lost it given a replica at its
cheapest place with room when it is no longer served in full), then trimmed: which
service holds the few edge GPUs is what the cost and energy ends of the fronts turn on;
the edge packed again, as many replicas per service (on the edge nodes on, on any edge node,
and with the cloud's replicas pulled onto the edge too): the services that fewest nodes can
serve placed first, each replica where its service has most, else on a node already used
that the services still to place need least, else on the node drawing least idle power per
vCPU, what fits nowhere at its cheapest place; then replicas added where demand is dropped
(for the origin dropped most, where one more raises its rate limit most per price, nodes on
first): which services share the scarce places of the edge (its GPU hosts, the nodes of a
residency region) is a choice no move of one replica makes;
the off node nearest to the demand switched on and filled; one replica more where
utilization is highest (two queues); one replica fewer where a replica is dearest among the
queues that one fewer still carries (two queues); every queue trimmed to the fewest
replicas that carry its load, and the queue where that saves most trimmed alone; per
service (the three with the dearest replica against their cheapest possible place), that
replica moved to the cheapest place with room, and to the two cheapest places without, made
room for by moving other services' replicas to their own cheapest places; one replica fewer
at the two least utilized queues, also moved to the most utilized; and eight random moves
drawn from the seed (one replica added, removed, moved, or swapped with another service's).

**Polish.** With ``polish`` > 0, after the last generation the local search goes on alone
(the population is no longer used), ``local_search`` explorations at a time (at least one),
the most isolated decisions first: first over the archived decisions not yet explored
(the generations explore ``local_search`` each, fewer than join the archive while the
front moves: on ``continuum-random`` medium, (cost, energy), 500 generations leave
hundreds), then in passes over the whole archive, in which each decision's targeted
neighbours are already routed (a cache hit) and its random moves are new draws, until a
pass adds no point (``stats["polish_converged"]``) or ``polish`` explorations are spent.

**Objectives** are :func:`~edgebound.evaluate.placement.evaluate_placement`'s, computed by
its code without its checks (which the routing meets by construction); the full evaluation,
checks included, runs on every decision before it joins the archive. The front returned is
the nondominated set of every feasible decision evaluated (an external archive).
The same seed gives the same front: pymoo and the local search's random moves draw from the
seed; repair, routing and the other moves draw nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import highspy
import numpy as np
from scipy import sparse

from edgebound.errors import EdgeboundError
from edgebound.evaluate.placement import (
    PLACEMENT_UNITS,
    PlacementDecision,
    _data,
    _measure,
    evaluate_placement,
    parse_placement_decision,
)
from edgebound.instances import Instance
from edgebound.models._placement_core import wait_cut
from edgebound.models.placement import rate_limits
from edgebound.pareto.front import ParetoFront, _to_min, nondominated
from edgebound.pareto.nsga import _algorithm, _run
from edgebound.pareto.placement import PLACEMENT_OBJECTIVES, _Stages, check_objectives
from edgebound.solvers._native import highs_lp, quiet_highs

__all__ = ["placement_nsga"]

_RESOURCES = ("cpu", "ram_gb", "disk_gb", "gpus")
_RATIOS = ("latency", "energy")
_MARGIN_W = 1e-6  # the model's margin below power caps
# loads, as shares of a queue's rate limit, at which the waiting time gets a tangent
_CUT_SHARES = (0.1, 0.25, 0.4, 0.55, 0.7, 0.8, 0.87, 0.92, 0.95, 0.975, 0.99, 1.0)
_FLOOR = 1e-3  # weight every routing component keeps, so that ties go to the better routing


class _Router:
    """Per-instance arrays, repair, the routing LP and the archive of evaluated decisions."""

    def __init__(self, inst: Instance, names: Sequence[str], levels: int, seed: int) -> None:
        d = _data(inst)
        self.inst, self.d, self.names = inst, d, tuple(names)
        S, N = len(d.services), len(d.nodes)
        self.S, self.N = S, N
        need = np.stack([d.need[r] for r in _RESOURCES], axis=1)  # (S, R)
        cap = np.stack([d.cap[r] for r in _RESOURCES], axis=1)  # (N, R)
        per = np.full((S, N), 10**6, dtype=np.int64)
        for r in range(len(_RESOURCES)):
            for s in range(S):
                if need[s, r] > 0:
                    per[s] = np.minimum(per[s], np.floor(cap[:, r] / need[s, r] + 1e-9))
        gpus_n = d.cap["gpus"]
        gidle = np.where(gpus_n > 0, np.nan_to_num(d.gpu_idle_w), 0.0)
        # a node whose idle draw already breaks its cap can never be on (as in the model)
        can_on = ~(d.idle_w > np.nan_to_num(d.power_cap_w, nan=np.inf) - _MARGIN_W)
        can_on &= ~(
            (gpus_n > 0) & (gidle > np.nan_to_num(d.gpu_power_cap_w, nan=np.inf) - _MARGIN_W)
        )
        self.ub = np.where(d.allowed & can_on[None, :], per, 0).astype(np.int64)
        self.need, self.cap = need, cap
        self.prev = np.minimum(np.rint(d.x_prev).astype(np.int64), self.ub)
        budget = inst.policy.migration_budget
        self.budget = None if budget is None else int(budget)
        # exact points handed in by placement_nsga(extremes=True, anchors=...): seeds first
        self.exact: list[np.ndarray] = []
        self.serve_all = any(n in _RATIOS for n in names)
        pol = inst.policy
        C = int(self.ub.max(initial=0))
        # limits[s, i, n, c]: largest load of c replicas of s on n for a stream from i
        self.limits = np.zeros((S, len(d.origins), N, C + 1))
        counts = np.arange(1, C + 1)
        for s in range(S):
            for i in range(len(d.origins)):
                if not d.has_demand[s, i]:
                    continue
                for n in range(N):
                    if C == 0 or self.ub[s, n] == 0 or not math.isfinite(d.net_ms[i, n]):
                        continue
                    if math.isnan(d.slo_ms[s]):
                        lim = pol.max_utilization * counts * d.mu[s]
                    else:
                        lim = rate_limits(
                            counts,
                            float(d.mu[s]),
                            float(d.slo_ms[s] - d.net_ms[i, n]),
                            quantile=pol.slo_quantile,
                            max_utilization=pol.max_utilization,
                        )
                    # a margin, so that the routing LP's tolerances never break a limit
                    self.limits[s, i, n, 1:] = np.maximum(lim * (1 - 1e-7) - 1e-6, 0.0)
        # every route that some replica count opens, and the (service, origin) it serves
        rs, ri, rn = np.nonzero(self.limits[..., C] > 0)
        self.rs, self.ri, self.rn = rs, ri, rn
        self.pairs = np.argwhere(d.has_demand)
        pair_of = np.full(d.has_demand.shape, -1)
        pair_of[self.pairs[:, 0], self.pairs[:, 1]] = np.arange(len(self.pairs))
        self.rp = pair_of[rs, ri]
        self.lam = d.lam[self.pairs[:, 0], self.pairs[:, 1]]
        # dynamic power per req/s of each (service, node): CPU side, and all of its GPUs
        self.dyn_cpu = (
            d.dyn_w[None, :] * d.need["cpu"][:, None] / (d.mu[:, None] * d.cap["cpu"][None, :])
        )
        gdyn = np.where(gpus_n > 0, np.nan_to_num(d.gpu_dyn_w), 0.0)
        self.dyn_gpu = gdyn[None, :] * d.need["gpus"][:, None] / d.mu[:, None]
        self.idle = d.idle_w + gpus_n * gidle
        # power per vCPU of a node at full load: the order in which seeds switch nodes off
        self.w_per_cpu = (self.idle + d.dyn_w) / np.maximum(d.cap["cpu"], 1e-9)
        self.route_ms = d.net_ms[ri, rn] + 1000.0 / d.mu[rs]
        parts = []
        if {"dropped", "throughput"} & set(names):
            parts.append("dropped")
        if {"power", "energy"} & set(names):
            parts.append("power")
        if "latency" in names:
            parts.append("latency")
        self.parts = tuple(parts)
        self.levels = levels if len(parts) == 2 else 0
        dyn = (self.dyn_cpu + self.dyn_gpu)[rs, rn]
        self.route_w = dyn / max(float(dyn.max(initial=0.0)), 1e-12)
        self.ms_scale = max(float(self.route_ms.max(initial=0.0)), 1e-12)
        # the edge nodes that can hold a replica
        tiers = np.array([node.tier for node in inst.topology.nodes])
        self.edge = [int(n) for n in np.flatnonzero((tiers == "edge") & (self.ub.sum(axis=0) > 0))]
        self.cuts: dict[tuple[int, int, float], tuple[np.ndarray, np.ndarray]] = {}
        self.reach = self.limits.max(axis=1)  # (S, N, C + 1): the best origin's limits
        # what a replica costs: its price when cost is an objective, else its share of the
        # node's power at full load
        share = d.need["cpu"][:, None] / np.maximum(d.cap["cpu"], 1e-9)[None, :]
        self.price = share * (self.idle + d.dyn_w)[None, :]
        if "cost" in names:
            self.price = np.outer(d.need["cpu"], d.cost_vcpu) + np.outer(
                d.need["gpus"], np.nan_to_num(d.cost_gpu)
            )
        usable = (self.reach[..., -1] > 0) & (self.ub > 0)
        cheapest = np.where(usable, self.price, np.inf).min(axis=1, initial=np.inf)
        self.cheapest = np.where(np.isfinite(cheapest), np.maximum(cheapest, 1e-12), 1.0)
        self.sign = np.array([1.0 if PLACEMENT_OBJECTIVES[n] == "min" else -1.0 for n in names])
        # every decision evaluated: key -> (objectives, violation, decision, loads)
        self.cache: dict[bytes, tuple[np.ndarray, float, PlacementDecision, np.ndarray]] = {}
        self.archive: list[bytes] = []  # nondominated feasible keys, in the order found
        self.explored: set[bytes] = set()
        self.rng = np.random.default_rng(seed)
        self.highs = quiet_highs()

    # ----------------------------------------------------------------- encoding and repair

    def key(self, X: np.ndarray, k: int) -> bytes:
        return np.append(np.asarray(X, dtype=np.int64).ravel(), k).tobytes()

    def migrations(self, X: np.ndarray) -> int:
        return int(np.maximum(X - self.prev, 0).sum())

    def repair(self, x: np.ndarray) -> np.ndarray:
        """Clip, then fix capacity and the migration budget; the weight level is clipped."""
        v = np.rint(np.asarray(x, dtype=float))
        X = np.clip(v[:-1].reshape(self.S, self.N), 0, self.ub).astype(np.int64)
        for n in range(self.N):
            while np.any(X[:, n] @ self.need > self.cap[n] * (1 + 1e-9)):
                X[int(np.argmax(X[:, n])), n] -= 1
        if self.budget is not None:
            excess = np.maximum(X - self.prev, 0)
            while excess.sum() > self.budget:
                j = int(np.argmax(excess))
                excess.flat[j] -= 1
                X.flat[j] -= 1
        k = int(min(max(v[-1], 0), self.levels))
        return np.append(X.ravel(), k)

    def room(self, X: np.ndarray, s: int, n: int) -> bool:
        """Whether one more replica of s fits on n (bounds, capacity, migration budget)."""
        if X[s, n] >= self.ub[s, n]:
            return False
        if np.any((X[:, n] @ self.need + self.need[s]) > self.cap[n] * (1 + 1e-9)):
            return False
        return self.budget is None or X[s, n] < self.prev[s, n] or self.migrations(X) < self.budget

    def cheapest_room(self, X: np.ndarray, s: int, avoid: int) -> int | None:
        """The cheapest node other than ``avoid`` that can serve s and has room for one
        more of its replicas (the lowest index among equals); None when there is none."""
        fits = [
            m
            for m in range(self.N)
            if m != avoid and self.reach[s, m, -1] > 0 and self.room(X, s, m)
        ]
        return min(fits, key=lambda m: (self.price[s, m], m)) if fits else None

    def fill(self, X: np.ndarray, nodes: Sequence[int]) -> np.ndarray:
        """Add replicas on ``nodes`` while they fit, to the service with the least capacity
        per demand that can serve from there (a greedy that draws nothing)."""
        X = X.copy()
        d = self.d
        demand = d.lam.sum(axis=1)
        reach = self.limits[..., -1].max(axis=1) > 0  # (S, N)
        for n in nodes:
            while True:
                cand = [
                    s for s in range(self.S) if reach[s, n] and demand[s] > 0 and self.room(X, s, n)
                ]
                if not cand:
                    break
                s = min(cand, key=lambda s: (X[s].sum() * d.mu[s] / demand[s], s))
                X[s, n] += 1
        return X

    # ----------------------------------------------------------------- routing

    def mix(self, k: int) -> dict[str, float]:
        """Weights of the routing components at weight level ``k``."""
        if not self.parts:
            return {}
        if len(self.parts) == 1 or self.parts[0] == "dropped":
            return dict.fromkeys(self.parts, 1.0)
        a = k / self.levels if self.levels else 0.5
        return {self.parts[0]: 1.0 - a + _FLOOR, self.parts[1]: a + _FLOOR}

    def wait_cuts(self, s: int, c: int, cap: float) -> tuple[np.ndarray, np.ndarray]:
        """Tangents ``a + g L`` below ``1000 L Wq(c, L)`` at shares of the queue's limit."""
        hit = self.cuts.get((s, c, cap))
        if hit is None:
            cuts = [wait_cut(c, f * cap, float(self.d.mu[s])) for f in _CUT_SHARES]
            hit = (np.array([a for a, _ in cuts]), np.array([g for _, g in cuts]))
            self.cuts[s, c, cap] = hit
        return hit

    def route(self, X: np.ndarray, k: int) -> tuple[PlacementDecision, np.ndarray]:
        """The routing LP of replicas ``X`` at weight level ``k``: decision and loads."""
        d, S, N = self.d, self.S, self.N
        lim_all = self.limits[self.rs, self.ri, self.rn, X[self.rs, self.rn]]
        act = np.flatnonzero(lim_all > 0)
        rs, ri, rn, lim = self.rs[act], self.ri[act], self.rn[act], lim_all[act]
        nA, nP = len(act), len(self.pairs)
        qs, q = np.unique(rs * N + rn, return_inverse=True)
        nQ = len(qs)
        # a queue's load stays within the least limit of the origins routed to it, which
        # implies sum_i r_i / lim_i <= 1: the queue's row until a solution breaks a routed
        # origin's limit there (see _settle)
        qcap = np.zeros(nQ)
        np.maximum.at(qcap, q, lim)
        w = self.mix(k)
        lat = "latency" in w
        nv = nA + nP + (nQ if lat else 0)
        cost = np.zeros(nv)
        cost[:nA] = w.get("power", 0.0) * self.route_w[act]
        if lat:
            cost[:nA] += w["latency"] * self.route_ms[act] / self.ms_scale
            cost[nA + nP :] = w["latency"] / self.ms_scale
        cols = np.arange(nA)
        # rows: demand balance (equalities), queue limits, power caps, waiting tangents
        rows = [self.rp[act], np.arange(nP), nP + q]
        vals = [np.ones(nA), np.ones(nP), 1.0 / lim]
        cidx = [cols, nA + np.arange(nP), cols]
        hi = [self.lam, np.ones(nQ)]
        nrow = nP + nQ
        on = X.sum(axis=0) > 0
        for cap_w, coef, idle in (
            (d.power_cap_w, self.dyn_cpu, d.idle_w),
            (
                d.gpu_power_cap_w,
                self.dyn_gpu / np.maximum(d.cap["gpus"], 1.0)[None, :],
                np.nan_to_num(d.gpu_idle_w),
            ),
        ):
            for n in (int(v) for v in np.flatnonzero(on & ~np.isnan(cap_w))):
                sel = np.flatnonzero(rn == n)
                c = coef[rs[sel], n]
                if sel.size and c.max() > 0:
                    rows.append(np.full(sel.size, nrow))
                    vals.append(c)
                    cidx.append(sel)
                    hi.append(np.array([cap_w[n] - idle[n] - _MARGIN_W]))
                    nrow += 1
        if lat:
            J = len(_CUT_SHARES)
            a_cut = np.zeros((nQ, J))
            g_cut = np.zeros((nQ, J))
            for j, key in enumerate(qs):
                s, n = divmod(int(key), N)
                a_cut[j], g_cut[j] = self.wait_cuts(s, int(X[s, n]), float(qcap[j]))
            # g L - phi <= -a for every tangent of every queue
            rows.append((nrow + q[:, None] * J + np.arange(J)[None, :]).ravel())
            vals.append(g_cut[q].ravel())
            cidx.append(np.repeat(cols, J))
            rows.append(nrow + np.arange(nQ * J))
            vals.append(-np.ones(nQ * J))
            cidx.append(np.repeat(nA + nP + np.arange(nQ), J))
            hi.append(-a_cut.ravel())
            nrow += nQ * J
        A = sparse.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cidx))),
            shape=(nrow, nv),
        )
        # dropping least comes first (the components cost at most 1e-3 per req/s); with
        # dropped and power traded, the routing level is the share of the most that can
        # be served that must be served at least
        cost *= 1e-3
        cost[nA : nA + nP] = 1.0
        upper = np.full(nv, np.inf)
        upper[:nA] = lim
        row_hi = np.concatenate(hi)
        row_lo = np.full(nrow, -np.inf)
        row_lo[:nP] = self.lam
        h = self.highs
        lp = highs_lp(cost, np.zeros(nv), upper, row_lo, row_hi, A)
        h.passModel(lp)
        x, restricted = self._settle(h, q, lim, nP)
        if x is not None and restricted and x[nA : nA + nP].sum() > 1e-9 * self.lam.sum():
            # the quick restriction drops demand: restrict one queue at a time, by trial
            h.passModel(lp)
            y, _ = self._settle(h, q, lim, nP, careful=True)
            if y is not None and cost @ y < cost @ x:
                x = y
        if "dropped" in w and x is not None and k < self.levels:
            most = float(x[:nA].sum())
            h.passModel(lp)
            h.addRow(most * k / self.levels, np.inf, nA, cols.astype(np.int32), np.ones(nA))
            h.changeColsCost(nP, (nA + np.arange(nP)).astype(np.int32), np.zeros(nP))
            low, _ = self._settle(h, q, lim, nP)
            if low is not None:
                x = low
        R = np.zeros((S, len(d.origins), N))
        if x is not None:
            r = x[:nA]
            R[rs, ri, rn] = np.where(r > 1e-9, r, 0.0)
        dec = PlacementDecision.from_arrays(self.inst, replicas=X, routing=R)
        return dec, R.sum(axis=1)

    @staticmethod
    def _settle(
        h: Any, q: np.ndarray, lim: np.ndarray, nP: int, careful: bool = False
    ) -> tuple[np.ndarray | None, bool]:
        """Solve; while a queue's load exceeds the limit of an origin routed to it, restrict
        that queue and solve again (warm).

        A queue restricted at level t keeps the origins whose limit is at least t and its
        row becomes ``sum_i r_i <= t``; it then meets every limit, so each round restricts
        new queues. t is one of the queue's origin limits: the one that loses the least of
        the solution's flow (flow of the origins cut off plus load above t), for every
        queue that breaks a limit at once; or, ``careful``, for the queue that breaks its
        limit most, the one whose LP is best (each tried, warm). The higher t on ties.
        Returns the primal solution (None when the LP has none) and whether a queue was
        restricted."""
        order = np.argsort(q, kind="stable")
        starts = np.searchsorted(q[order], np.arange(q.max(initial=-1) + 2))
        ok = highspy.HighsModelStatus.kOptimal

        def origins(j: int) -> np.ndarray:
            return order[starts[j] : starts[j + 1]]

        def restrict(j: int, t: float) -> None:
            mine = origins(j)
            for c in mine[lim[mine] >= t]:
                h.changeCoeff(nP + j, int(c), 1.0 / t)
            cut = mine[lim[mine] < t].astype(np.int32)
            if cut.size:
                h.changeColsBounds(cut.size, cut, np.zeros(cut.size), np.zeros(cut.size))

        def undo(j: int) -> None:
            mine = origins(j)
            for c in mine:
                h.changeCoeff(nP + j, int(c), 1.0 / lim[c])
            h.changeColsBounds(mine.size, mine.astype(np.int32), np.zeros(mine.size), lim[mine])

        done = np.zeros(len(starts) - 1, dtype=bool)  # queues restricted
        while True:
            h.run()
            if h.getModelStatus() != ok:
                return None, bool(done.any())
            x = np.asarray(h.getSolution().col_value)
            r = np.where(x[: len(q)] > 1e-9, x[: len(q)], 0.0)
            used = r > 0
            low = np.full(len(done), np.inf)
            np.minimum.at(low, q[used], lim[used])
            over = np.bincount(q, weights=r, minlength=len(low)) - low
            # a restricted queue is within its level up to HiGHS's feasibility tolerance,
            # which the limits' margins cover; it is not restricted again
            bad = np.flatnonzero((over > 1e-9 * np.maximum(1.0, low)) & ~done)
            if bad.size == 0:
                return x, bool(done.any())
            if careful:
                j = int(bad[np.argmax(over[bad])])
                best = (np.inf, 0.0)
                for t in np.unique(lim[origins(j)]):
                    restrict(j, float(t))
                    h.run()
                    if h.getModelStatus() == ok:
                        value = h.getInfo().objective_function_value
                        if value <= best[0]:
                            best = (value, float(t))
                    undo(j)
                if not np.isfinite(best[0]):
                    return None, True
                restrict(j, best[1])
                done[j] = True
                continue
            for j in (int(v) for v in bad):
                mine = origins(j)
                best = (np.inf, 0.0)
                for t in np.unique(lim[mine]):
                    keep = lim[mine] >= t
                    lost = r[mine][~keep].sum() + max(0.0, r[mine][keep].sum() - t)
                    if lost <= best[0]:
                        best = (lost, float(t))
                restrict(j, best[1])
                done[j] = True

    # ----------------------------------------------------------------- evaluation and archive

    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray, float, PlacementDecision, np.ndarray]:
        """Objectives (own senses), violation, decision and loads of one repaired vector.

        The objectives are the evaluator's (:func:`~edgebound.evaluate.placement._measure`,
        which the evaluator computes them with); its checks run on the decisions that would
        join the archive: the routing meets every constraint by construction, and a decision
        they reject stays out and counts as infeasible."""
        v = np.asarray(np.rint(x), dtype=np.int64)
        X, k = v[:-1].reshape(self.S, self.N), int(v[-1])
        key = self.key(X, k)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        dec, loads = self.route(X, k)
        objectives = _measure(self.inst, self.d, dec, p95=False).objectives
        g = 0.0
        if self.serve_all:
            # what rounding of the routed sums leaves unserved is not a drop
            dropped = float(objectives["dropped"])
            g += dropped if dropped > 1e-9 * max(1.0, float(self.lam.sum())) else 0.0
        F = np.array([float(objectives[n]) for n in self.names])
        if not np.all(np.isfinite(F)):
            g += 1.0
            F = np.where(np.isfinite(F), F, 1e12 * self.sign)
        if g <= 0 and not self.dominated(F):
            ev = evaluate_placement(self.inst, dec)
            if ev.feasible:
                self.admit(key, F)
            else:
                g = float(len(ev.violations))
        out = (F, g, dec, loads)
        self.cache[key] = out
        return out

    def archived(self) -> np.ndarray:
        """The archive's objective vectors, all to be minimized (one row per decision)."""
        return (
            np.array([self.cache[a][0] for a in self.archive]).reshape(-1, len(self.names))
            * self.sign
        )

    def dominated(self, F: np.ndarray) -> bool:
        """Whether an archived point dominates or equals ``F``."""
        return bool(np.any(np.all(F * self.sign >= self.archived(), axis=1)))

    def admit(self, key: bytes, F: np.ndarray) -> None:
        """Add a decision no archived one dominates; drop those it dominates."""
        if self.archive:
            worse = np.all(F * self.sign <= self.archived(), axis=1)
            self.archive = [a for a, drop in zip(self.archive, worse, strict=True) if not drop]
        self.archive.append(key)

    # ----------------------------------------------------------------- local search

    def decode(self, key: bytes) -> tuple[np.ndarray, int]:
        v = np.frombuffer(key, dtype=np.int64)
        return v[:-1].reshape(self.S, self.N).copy(), int(v[-1])

    def neighbours(self, key: bytes, extra: int) -> list[np.ndarray]:
        """Targeted moves from an archived decision (see the module documentation)."""
        X, k = self.decode(key)
        loads = self.cache[key][3]
        mu = self.d.mu[:, None]
        on = [int(n) for n in np.flatnonzero(X.sum(axis=0) > 0)]
        off = [int(n) for n in np.flatnonzero((X.sum(axis=0) == 0) & (self.ub.sum(axis=0) > 0))]
        out: list[tuple[np.ndarray, int]] = []
        for step in (-1, 1):
            if 0 <= k + step <= self.levels:
                out.append((X, k + step))
        out.append((self.fill(X, on), k))
        # switch off the node serving least per watt of idle power, alone or refilling the rest
        served = loads.sum(axis=0)
        weak = sorted(on, key=lambda n: (served[n] / max(self.idle[n], 1e-9), n))[:2]
        for n in weak:
            Y = X.copy()
            Y[:, n] = 0
            out.append((Y, k))
            out.append((self.fill(Y, [m for m in on if m != n]), k))
            Z = self.evacuate(X, self.cache[key][2], [n], [m for m in on if m != n])
            if Z is not None:
                out.append((Z, k))
        if len(weak) == 2:
            Z = self.evacuate(X, self.cache[key][2], weak, [m for m in on if m not in weak])
            if Z is not None:
                out.append((Z, k))
        # a node of the previous placement back on as it was (no start), alone and in place
        # of the weakest node on
        back = [n for n in off if self.prev[:, n].any()]
        if back:
            n = min(back, key=lambda n: (self.idle[n] / self.prev[:, n].sum(), n))
            Y = X.copy()
            Y[:, n] = self.prev[:, n]
            out.append((Y, k))
            if weak:
                Y = Y.copy()
                Y[:, weak[0]] = 0
                out.append((Y, k))
        if "migrations" in self.names:
            out += [(Y, k) for Y in self.exchanges(X, k, on, back, weak)]
        out += [(Y, k) for Y in self.swaps(X, k)]
        # the edge packed again, per service as many replicas: on the edge nodes on, on any
        # edge node, and with the cloud's replicas too; demand then dropped gets replicas
        on_edge = [n for n in self.edge if n in on]
        for bins, pull in ((on_edge, False), (self.edge, False), (self.edge, True)):
            Z = self.repacked(X, bins, pull)
            if Z is not None:
                Z = self.augmented(Z, k)
            if Z is not None:
                out.append((Z, k))
        # switch on the off node nearest to the demand it could serve, filled
        demand = self.d.lam
        if off:
            net = np.where(np.isfinite(self.d.net_ms), self.d.net_ms, 1e9)
            near = demand.sum(axis=0) @ net / max(float(demand.sum()), 1e-12)  # (N,)
            n = int(min(off, key=lambda n: (near[n], n)))
            out.append((self.fill(X, [n]), k))
        # one replica more where utilization is highest, one fewer where it is lowest
        util = np.where(X > 0, loads / np.maximum(X * mu, 1e-12), np.inf)
        busy = [
            int(j)
            for j in np.argsort(-np.where(np.isfinite(util), util, -1), axis=None, kind="stable")
        ]
        added = 0
        for j in busy:
            s, n = divmod(j, self.N)
            if added == 2 or not np.isfinite(util[s, n]):
                break
            if self.room(X, s, n):
                Y = X.copy()
                Y[s, n] += 1
                out.append((Y, k))
                added += 1
        # one replica fewer where a replica is dearest among the queues whose load one
        # replica fewer still carries; a replica moved from where it is dearest to the
        # cheapest place with room
        lower = self.reach[
            np.arange(self.S)[:, None], np.arange(self.N)[None, :], np.maximum(X - 1, 0)
        ]
        dear = np.where(X > 0, self.price, -np.inf)
        spare = np.where(loads <= lower, dear, -np.inf)
        for j in [int(j) for j in np.argsort(-spare, axis=None, kind="stable")][:2]:
            s, n = divmod(j, self.N)
            if np.isfinite(spare[s, n]):
                Y = X.copy()
                Y[s, n] -= 1
                out.append((Y, k))
        # the replicas the loads do not need, all of them, and where they cost most
        trim = self.trimmed(X, self.cache[key][2], loads)
        if np.any(trim < X):
            out.append((trim, k))
            saved = np.where(trim < X, (X - trim) * self.price, -np.inf)
            j = int(np.argmax(saved))
            Y = X.copy()
            Y.flat[j] = trim.flat[j]
            out.append((Y, k))
        # each service's dearest replica, against the cheapest place it could have
        ratio = dear / self.cheapest[:, None]
        for j in [int(j) for j in np.argsort(-ratio.max(axis=1), kind="stable")][:3]:
            s, n = j, int(np.argmax(ratio[j]))
            if np.isfinite(dear[s, n]):
                Y = X.copy()
                Y[s, n] -= 1
                cheap = [
                    m
                    for m in range(self.N)
                    if self.price[s, m] < self.price[s, n]
                    and self.reach[s, m, -1] > 0
                    and self.room(Y, s, m)
                ]
                if cheap:
                    Y[s, min(cheap, key=lambda m: (self.price[s, m], m))] += 1
                    out.append((Y, k))
                # to the cheapest places that hold other services' replicas, made room for
                # by moving those to their own cheapest places
                full = [
                    m
                    for m in range(self.N)
                    if self.price[s, m] < self.price[s, n]
                    and self.reach[s, m, -1] > 0
                    and self.ub[s, m] > X[s, m]
                    and m not in cheap
                ]
                for m in sorted(full, key=lambda m: (self.price[s, m], m))[:2]:
                    Z = self.relocate(X, s, n, m)
                    if Z is not None:
                        out.append((Z, k))
        idle_q = [int(j) for j in np.argsort(util, axis=None, kind="stable")][:2]
        for j in idle_q:
            s, n = divmod(j, self.N)
            if np.isfinite(util[s, n]):
                Y = X.copy()
                Y[s, n] -= 1
                out.append((Y, k))
                if busy and np.isfinite(util.flat[busy[0]]):
                    s2, n2 = divmod(busy[0], self.N)
                    if (s2, n2) != (s, n) and self.room(Y, s2, n2):
                        Z = Y.copy()
                        Z[s2, n2] += 1
                        out.append((Z, k))
        # and a few drawn at random: one replica added, removed, moved, or swapped with
        # another service's on a node without room (that one moved to its cheapest place)
        held = np.argwhere(X > 0)
        open_ = np.argwhere(self.reach[..., -1] > 0)
        for _ in range(extra if held.size and open_.size else 0):
            Y = X.copy()
            op = int(self.rng.integers(3))
            s, n = (int(v) for v in open_[self.rng.integers(len(open_))])
            if op == 0:
                Y[s, n] += 1
            else:
                s2, n2 = (int(v) for v in held[self.rng.integers(len(held))])
                Y[s2, n2] -= 1
                if op == 2:
                    Y[s, n] += 1
                    others = [j for j in range(self.S) if j != s and Y[j, n] > 0]
                    if not self.room(X, s, n) and others:
                        j = others[int(self.rng.integers(len(others)))]
                        Y[j, n] -= 1
                        to = self.cheapest_room(Y, j, n)
                        if to is not None:
                            Y[j, to] += 1
            out.append((Y, k))
        return [self.repair(np.append(Y.ravel(), kk)) for Y, kk in out]

    def evacuate(
        self, X: np.ndarray, dec: PlacementDecision, nodes: Sequence[int], hosts: Sequence[int]
    ) -> np.ndarray | None:
        """Switch ``nodes`` off and carry what they served elsewhere: per service and node,
        replicas are added on ``hosts`` (the cheapest with room first) until the rate limit
        they add, for the origins routed to that node, covers its load there; None when
        they cannot."""
        Y = X.copy()
        Y[:, nodes] = 0
        for n in nodes:
            for s in (int(v) for v in np.flatnonzero(dec.routing[:, :, n].sum(axis=1) > 0)):
                origins = np.flatnonzero(dec.routing[s, :, n] > 0)
                lim = self.limits[s, origins].min(axis=0)  # (N, C + 1)
                need = float(dec.routing[s, :, n].sum())
                while need > 0:
                    fits = [m for m in hosts if lim[m, -1] > 0 and self.room(Y, s, m)]
                    if not fits:
                        return None
                    m = min(fits, key=lambda m: (self.price[s, m], m))
                    need -= lim[m, Y[s, m] + 1] - lim[m, Y[s, m]]
                    Y[s, m] += 1
        return Y

    def exchanges(
        self, X: np.ndarray, k: int, on: list[int], back: list[int], weak: list[int]
    ) -> list[np.ndarray]:
        """Moves towards fewer and leaner nodes with few replica starts (``back``: the nodes
        of the previous placement that are off; ``weak``: the nodes on serving least per
        watt of idle power):

        * each node of ``back`` on again as it was (no start), then the nodes on switched
          off one by one while the rest carry the demand, and trimmed;
        * a node on exchanged for a node of ``back`` that held all its services and draws
          less idle power, as that node was;
        * each node of ``weak`` exchanged for each of the three nodes of ``back`` drawing
          least idle power: its replicas moved there (as far as they fit), the previous
          replicas of that node added back (as far as they fit), then the nodes sharing a
          service with it switched off one by one, and trimmed.
        """
        out = []
        for n in sorted(back, key=lambda n: (self.idle[n] / self.prev[:, n].sum(), n)):
            Y = X.copy()
            Y[:, n] = np.maximum(Y[:, n], self.prev[:, n])
            out.append(self.shrunk(Y, k))
        for w in on:
            held = X[:, w] > 0
            for n in back:
                if self.idle[n] < self.idle[w] and np.all(self.prev[held, n] > 0):
                    Y = X.copy()
                    Y[:, w] = 0
                    Y[:, n] = self.prev[:, n]
                    out.append(Y)
        for w in weak:
            for n in sorted(back, key=lambda n: (self.idle[n], n))[:3]:
                Y = X.copy()
                Y[:, n] = 0
                for s in (int(v) for v in np.flatnonzero(X[:, w])):
                    while Y[s, n] < min(X[s, w], self.ub[s, n]) and self.room(Y, s, n):
                        Y[s, n] += 1
                Y[:, w] = 0
                for s in (int(v) for v in np.flatnonzero(self.prev[:, n])):
                    while Y[s, n] < self.prev[s, n] and self.room(Y, s, n):
                        Y[s, n] += 1
                shared = [
                    m for m in on if m not in (w, n) and np.any((Y[:, m] > 0) & (Y[:, n] > 0))
                ]
                out.append(self.shrunk(Y, k, shared))
        return out

    def swaps(self, X: np.ndarray, k: int) -> list[np.ndarray]:
        """On each node whose GPUs are all taken, each GPU replica exchanged for one of
        another service that needs a GPU and fits there; when the decision is then
        infeasible (the service that lost it no longer served in full), a replica of that
        service added at its cheapest place with room; then trimmed to what the loads
        need. Exchanges that stay infeasible are left out."""
        g = _RESOURCES.index("gpus")
        gpu = [int(s) for s in np.flatnonzero(self.need[:, g] > 0)]
        out = []
        for n in range(self.N):
            if self.cap[n, g] <= 0 or X[:, n] @ self.need[:, g] < self.cap[n, g] - 1e-9:
                continue
            for s in (s for s in gpu if X[s, n] > 0):
                for t in gpu:
                    if t == s or self.reach[t, n, -1] <= 0:
                        continue
                    Y = X.copy()
                    Y[s, n] -= 1
                    if not self.room(Y, t, n):
                        continue
                    Y[t, n] += 1
                    _, viol, dec, loads = self.evaluate(np.append(Y.ravel(), k))
                    if viol > 0:
                        to = self.cheapest_room(Y, s, n)
                        if to is None:
                            continue
                        Y[s, to] += 1
                        _, viol, dec, loads = self.evaluate(np.append(Y.ravel(), k))
                        if viol > 0:
                            continue
                    out.append(self.trimmed(Y, dec, loads))
        return out

    def repacked(self, X: np.ndarray, bins: Sequence[int], pull: bool = False) -> np.ndarray | None:
        """The replicas on the edge (with ``pull``, on every node) placed again, as many per
        service, on the nodes of ``bins`` (edge nodes), the others on the edge emptied.

        Services go in the order of how few of ``bins`` can serve them (those needing a GPU,
        then the larger, first among equals); each replica goes where its service already
        has most (pooling), else to a node already used, the one the services still to
        place could use least (their vCPUs spread evenly over the nodes they can use), then
        the one drawing least idle power per vCPU; a replica that fits on none of ``bins``
        goes to its cheapest place with room. None when one fits nowhere. Which services
        share the edge's scarce places (the GPU hosts, the nodes of a region) is what
        moves of one replica at a time cannot change."""
        cols = np.arange(self.N) if pull else np.array(self.edge, dtype=np.int64)
        count = X[:, cols].sum(axis=1)
        Y = X.copy()
        Y[:, cols] = 0
        inside = np.zeros(self.N, dtype=bool)
        inside[list(bins)] = True
        usable = (self.reach[..., -1] > 0) & (self.ub > 0) & inside[None, :]  # (S, N)
        flex = usable.sum(axis=1)
        g = _RESOURCES.index("gpus")
        order = [
            int(s)
            for s in sorted(
                np.flatnonzero(count > 0),
                key=lambda s: (flex[s], -self.need[s, g], -self.need[s, 0], s),
            )
        ]
        lean = self.idle / np.maximum(self.cap[:, 0], 1e-9)
        for j, s in enumerate(order):
            press = np.zeros(self.N)
            for t in order[j + 1 :]:
                if flex[t]:
                    press += usable[t] * (count[t] * self.need[t, 0] / flex[t])
            for _ in range(int(count[s])):
                fits = [int(n) for n in np.flatnonzero(usable[s]) if self.room(Y, s, int(n))]
                if fits:
                    used = Y.sum(axis=0) > 0
                    n = min(
                        fits, key=lambda n: (-Y[s, n], not used[n], press[n], lean[n], -X[s, n], n)
                    )
                else:
                    m = self.cheapest_room(Y, s, -1)
                    if m is None:
                        return None
                    n = m
                Y[s, n] += 1
        return Y

    def augmented(self, X: np.ndarray, k: int, tries: int = 12) -> np.ndarray | None:
        """``X`` with replicas added, one at a time, for the (service, origin) whose demand
        the routing drops most: where one more replica raises that origin's rate limit
        most per price, nodes on first; None when ``tries`` do not serve all demand or a
        decision is infeasible for another reason."""
        Y = X.copy()
        for added in range(tries + 1):
            _, viol, dec, _ = self.evaluate(np.append(Y.ravel(), k))
            if viol <= 0:
                return Y
            if added == tries:
                return None
            short = self.d.lam - dec.routing.sum(axis=2)  # (S, origins)
            s, i = (int(v) for v in np.unravel_index(int(np.argmax(short)), short.shape))
            if short[s, i] <= 1e-9:
                return None
            on = Y.sum(axis=0) > 0
            best: tuple[bool, float, int] | None = None
            for m in range(self.N):
                if not self.room(Y, s, m):
                    continue
                gain = self.limits[s, i, m, Y[s, m] + 1] - self.limits[s, i, m, Y[s, m]]
                if gain > 0:
                    key = (not on[m], float(self.price[s, m]) / gain, m)
                    if best is None or key < best:
                        best = key
            if best is None:
                return None
            Y[s, best[2]] += 1
        return None  # not reached: the last round returns

    def trimmed(self, X: np.ndarray, dec: PlacementDecision, loads: np.ndarray) -> np.ndarray:
        """The fewest replicas of every queue whose rate limit, for the origins routed to
        it, still carries its load."""
        T = X.copy()
        for s, n in zip(*np.nonzero(loads > 0), strict=True):
            origins = np.flatnonzero(dec.routing[s, :, n] > 0)
            lim = self.limits[s, origins, n, : X[s, n] + 1].min(axis=0)
            carries = lim >= loads[s, n] - 1e-9
            if carries.any():
                T[s, n] = int(np.argmax(carries))
        T[(loads <= 0) & (X > 0)] = 0
        return T

    def relocate(self, X: np.ndarray, s: int, n: int, m: int) -> np.ndarray | None:
        """Move a replica of s from n to m, first moving other services' replicas off m to
        their cheapest places with room; None when that does not make room."""
        Y = X.copy()
        Y[s, n] -= 1
        while not self.room(Y, s, m):
            best: tuple[float, int, int] | None = None
            for j in range(self.S):
                if j == s or Y[j, m] == 0:
                    continue
                Y[j, m] -= 1
                for alt in range(self.N):
                    if alt != m and self.reach[j, alt, -1] > 0 and self.room(Y, j, alt):
                        extra = float(self.price[j, alt] - self.price[j, m])
                        if best is None or (extra, j, alt) < best:
                            best = (extra, j, alt)
                Y[j, m] += 1
            if best is None:
                return None
            _, j, alt = best
            Y[j, m] -= 1
            Y[j, alt] += 1
        Y[s, m] += 1
        return Y

    def all_explored(self) -> bool:
        """Whether every archived decision has been explored (the pass under way is done)."""
        return all(a in self.explored for a in self.archive)

    def improve(self, members: int, extra: int) -> list[np.ndarray]:
        """Evaluate the neighbours of up to ``members`` archived decisions not yet explored,
        the most isolated first (crowding distance); return the new nondominated ones."""
        todo = [a for a in self.archive if a not in self.explored]
        if not todo or members <= 0:
            return []
        A = self.archived()
        crowd = np.zeros(len(A))
        for col in A.T:
            order = np.argsort(col, kind="stable")
            span = max(float(col[order[-1]] - col[order[0]]), 1e-12)
            crowd[order[0]] = crowd[order[-1]] = np.inf
            crowd[order[1:-1]] += (col[order[2:]] - col[order[:-2]]) / span
        rank = {a: (-crowd[i], i) for i, a in enumerate(self.archive)}
        todo.sort(key=lambda a: rank[a])
        before = set(self.archive)
        for a in todo[:members]:
            self.explored.add(a)
            for y in self.neighbours(a, extra):
                self.evaluate(y)
        return [np.append(*self.decode(a)).astype(float) for a in self.archive if a not in before]

    def seeds(self) -> list[np.ndarray]:
        """Constructive decisions that span the objectives: the previous placement, and
        the previous placement with the nodes that use the most power per vCPU switched
        off one by one, the nodes left on filled."""
        on = [int(n) for n in np.flatnonzero(self.prev.sum(axis=0) > 0)]
        cover = self.cover()
        # the exact points first: the population may take only the first few seeds
        chain = [
            *self.exact,
            self.prev,
            cover,
            self.fill(cover, [int(n) for n in np.flatnonzero(cover.sum(axis=0))]),
        ]
        if "migrations" in self.names:
            chain += self.consolidated()
        chain.append(self.fill(self.prev, on))
        X = self.prev.copy()
        for n in sorted(on, key=lambda n: (-self.w_per_cpu[n], n))[:-1]:
            X[:, n] = 0
            on.remove(n)
            chain.append(self.fill(X, on))
        return [np.append(Y.ravel(), 0) for Y in chain]

    def switched_off(self, X: np.ndarray, k: int, nodes: Sequence[int] | None = None) -> np.ndarray:
        """``X`` with its nodes (or those of ``nodes``) switched off one by one, most power
        per vCPU first, while the replicas left still carry the demand (routing and
        evaluator); ``X`` itself when it does not."""
        if self.evaluate(np.append(X.ravel(), k))[1] > 0:
            return X
        if nodes is None:
            nodes = [int(n) for n in np.flatnonzero(X.sum(axis=0) > 0)]
        for n in sorted(nodes, key=lambda n: (-self.w_per_cpu[n], n)):
            Y = X.copy()
            Y[:, n] = 0
            if self.evaluate(np.append(Y.ravel(), k))[1] <= 0:
                X = Y
        return X

    def shrunk(self, X: np.ndarray, k: int, nodes: Sequence[int] | None = None) -> np.ndarray:
        """:meth:`switched_off`, then trimmed to what the loads need."""
        X = self.switched_off(X, k, nodes)
        _, _, dec, loads = self.evaluate(np.append(X.ravel(), k))
        return self.trimmed(X, dec, loads)

    def consolidated(self) -> list[np.ndarray]:
        """The previous placement shrunk without a replica start: nodes switched off one by
        one, most power per vCPU first, while the replicas left still carry the demand,
        then trimmed to what the loads need (both returned)."""
        if self.evaluate(np.append(self.prev.ravel(), 0))[1] > 0:
            return []
        X = self.switched_off(self.prev.copy(), 0)
        return [X, self.shrunk(X, 0, [])]

    def adopt(self, decision: PlacementDecision) -> np.ndarray:
        """The repaired replica matrix ``X`` of an outside decision (a no-op repair for one
        the model accepts); the decision itself, with its own routing, is cached and
        archived for ``X`` at level 0 when it is feasible and the routing LP of ``X`` drops
        demand or does no better (the LP's rounds may not find a routing a MILP found)."""
        x = self.repair(np.append(np.minimum(decision.replicas, self.ub).ravel(), 0))
        X = x[:-1].reshape(self.S, self.N)
        F, g, _, _ = self.evaluate(x)
        ev = evaluate_placement(self.inst, decision)
        if not ev.feasible:
            return X
        own = np.array([float(ev.objectives[n]) for n in self.names])
        if g <= 0 and np.all(F * self.sign <= own * self.sign):
            return X
        key = self.key(X, 0)
        self.cache[key] = (own, 0.0, decision, decision.routing.sum(axis=1))
        self.archive = [a for a in self.archive if a != key]
        if not self.dominated(own):
            self.admit(key, own)
        return X

    def cover(self) -> np.ndarray:
        """Few, cheap replicas: per service, the replica adding rate limit at the least
        price is added until the limits (of the best origin) cover the demand."""
        X = np.zeros((self.S, self.N), dtype=np.int64)
        demand = self.d.lam.sum(axis=1)
        # the largest replicas first (GPU, then vCPU), as in first-fit decreasing packing:
        # small ones placed first leave no node with room for a large one (by demand first,
        # the medium instance's cover could not serve all its demand)
        order = np.lexsort((-demand, -self.need[:, 0], -self.need[:, 3]))
        for s in order:
            while self.reach[s, np.arange(self.N), X[s]].sum() < demand[s]:
                best, at = np.inf, -1
                for n in range(self.N):
                    if self.room(X, s, n):
                        gain = self.reach[s, n, X[s, n] + 1] - self.reach[s, n, X[s, n]]
                        if gain > 0 and self.price[s, n] / gain < best:
                            best, at = self.price[s, n] / gain, n
                if at < 0:
                    break
                X[s, at] += 1
        return X


_Seed = tuple[dict[str, Any], list[float], bool]  # decision, objective vector, proven


def _kept(F: np.ndarray, senses: tuple[str, ...]) -> np.ndarray:
    """The rows of the front: nondominated within 1e-6 of each objective's largest value
    (at least 1), so decisions whose objectives differ by the routing LP's tolerances only
    count as equal (e.g. replicas swapped between two cloud regions of the same power, 1e-7
    J/req less energy at a higher cost), sorted by the objectives in minimization form."""
    keep = nondominated(F, senses, tol=1e-6, relative=True)
    return keep[np.lexsort(_to_min(F[keep], senses).T[::-1])]


def _exact_seeds(
    instance: Instance,
    names: tuple[str, ...],
    time_limit: float,
    anchors: int,
    nodes: int | None,
) -> tuple[list[_Seed], list[_Seed], float, int]:
    """The exact extreme points, ``anchors`` epsilon-constraint points between them, the
    seconds spent on the latter and how many solves ended at the time limit.

    Per objective, the model's lexicographic optimum (that objective, then the next one held
    at it); then, at ``anchors`` evenly spaced bounds of the first objective between its
    values at the extremes, the second objective minimized within the bound. Each point is
    its decision, objective vector (the evaluator's) and whether its solves were proven
    optimal. One model serves every solve: each starts from the best decision found so far
    that meets its bounds."""
    stages = _Stages(instance, names, time_limit, 1e-4, nodes)
    extremes = []
    for i, first in enumerate(names):
        stages.all_optimal = True  # each stage not proven (or without a decision) clears it
        res = stages.lexicographic(first, names[(i + 1) % len(names)], 1e-6)
        if res is not None and res.evaluation is not None:
            point = [float(res.evaluation.objectives[n]) for n in names]
            extremes.append((res.decision, point, stages.all_optimal))
    between: list[_Seed] = []
    t = time.perf_counter()
    sign = stages.sign[names[0]]
    ends = [sign * p[1][0] for p in extremes]  # the first objective, minimization form
    if anchors and len(ends) >= 2 and max(ends) > min(ends):
        lo, hi = min(ends), max(ends)
        for j in range(1, anchors + 1):
            stages.bound(names[0], lo + (hi - lo) * j / (anchors + 1))
            try:
                res = stages.run(names[1])
            finally:
                stages.bound(names[0], None)
            if res is not None and res.evaluation is not None:
                point = [float(res.evaluation.objectives[n]) for n in names]
                between.append((res.decision, point, res.optimal))
    return extremes, between, time.perf_counter() - t if anchors else 0.0, stages.timed_out


def _pymoo_parts(r: _Router) -> dict[str, Any]:
    from pymoo.core.crossover import Crossover
    from pymoo.core.mutation import Mutation
    from pymoo.core.problem import Problem
    from pymoo.core.repair import Repair
    from pymoo.core.sampling import Sampling

    n_var = r.S * r.N + 1
    ub = np.append(r.ub.ravel(), r.levels).astype(float)

    class PlacementProblem(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=n_var, n_obj=len(r.names), n_ieq_constr=1, xl=0.0, xu=ub)
            self.evaluations = 0

        def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            rows = [r.evaluate(x) for x in X]
            self.evaluations += len(X)
            out["F"] = np.array([row[0] for row in rows]) * r.sign
            out["G"] = np.array([[row[1]] for row in rows])

    class PlacementRepair(Repair):
        def _do(self, problem: Any, X: np.ndarray, **kwargs: Any) -> np.ndarray:
            return np.array([r.repair(x) for x in X], dtype=float).reshape(X.shape)

    class PlacementSampling(Sampling):
        # the constructive seeds at every weight level in turn, then the previous
        # placement give or take a replica or two
        def _do(self, problem: Any, n_samples: int, *args: Any, **kwargs: Any) -> np.ndarray:
            rng = kwargs["random_state"]
            seeds = r.seeds()
            X = np.tile(np.append(r.prev.ravel(), 0), (n_samples, 1))
            X[:, :-1] += np.where(
                rng.random((n_samples, n_var - 1)) < 0.3,
                rng.integers(-1, 3, (n_samples, n_var - 1)),
                0,
            )
            X[:, -1] = rng.integers(0, r.levels + 1, n_samples)
            m = min(n_samples // 2, len(seeds) * (r.levels + 1))
            reps = -(-m // len(seeds))
            level = np.rint(np.linspace(0, r.levels, reps)) if reps > 1 else [r.levels // 2]
            for j in range(m):
                X[j] = seeds[j % len(seeds)]
                X[j, -1] = level[j // len(seeds)]
            return np.clip(X, 0, ub).astype(float)

    class UniformCrossover(Crossover):
        def __init__(self) -> None:
            super().__init__(n_parents=2, n_offsprings=2, prob=0.9)

        def _do(self, problem: Any, X: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
            rng = kwargs["random_state"]
            pick = rng.random(X.shape[1:]) < 0.5
            return np.stack([np.where(pick, X[0], X[1]), np.where(pick, X[1], X[0])])

    class StepMutation(Mutation):
        # one to a few replicas added, removed or moved, or the weight level stepped
        def _do(self, problem: Any, X: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
            rng = kwargs["random_state"]
            X = X.copy()
            for row in X:
                for _ in range(int(rng.geometric(0.5))):
                    j = int(rng.integers(n_var))
                    op = rng.random()
                    if op < 0.4:
                        row[j] = min(row[j] + 1, ub[j])
                    elif op < 0.8:
                        row[j] = max(row[j] - 1, 0)
                    elif row[j] > 0 and j < n_var - 1:
                        k = int(rng.integers(n_var - 1))
                        row[j] -= 1
                        row[k] = min(row[k] + 1, ub[k])
            return X

    return {
        "problem": PlacementProblem(),
        "repair": PlacementRepair(),
        "sampling": PlacementSampling(),
        "crossover": UniformCrossover(),
        "mutation": StepMutation(),
    }


def placement_nsga(
    instance: Instance,
    objectives: Sequence[str] = ("latency", "energy"),
    *,
    pop_size: int = 40,
    generations: int = 50,
    seed: int = 0,
    algorithm: Literal["nsga2", "nsga3"] = "nsga2",
    partitions: int | None = None,
    local_search: int = 4,
    levels: int = 8,
    polish: int = 0,
    extremes: bool = False,
    extremes_time_limit: float = 60.0,
    anchors: int = 0,
    extremes_nodes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ParetoFront:
    """An approximate Pareto front of the static placement model by NSGA-II or NSGA-III.

    Parameters
    ----------
    instance : Instance
    objectives : sequence of str
        Two to four of :data:`~edgebound.pareto.placement.PLACEMENT_OBJECTIVES`; latency
        and energy cannot be paired with dropped or throughput (see
        :func:`~edgebound.pareto.placement_front`).
    pop_size : int
        Population size (NSGA-III: at least the number of reference directions).
    generations : int
        Generations after the initial population.
    seed : int
        Seed of pymoo's draws and of the local search's random moves; the same seed gives
        the same front.
    algorithm : {"nsga2", "nsga3"}
        NSGA-III uses Das-Dennis reference directions; meant for three or four objectives.
    partitions : int, optional
        Das-Dennis partitions of NSGA-III (default 12, 6, 4 for two, three, four objectives).
    local_search : int
        Archived decisions whose neighbours are explored after each generation; 0 turns the
        local search off.
    levels : int
        Routing levels above 0: the resolution of the routing's trade-off between latency
        and power, or dropped and power (unused for other objectives).
    polish : int
        After the generations, up to this many more explorations of archived decisions by
        the local search alone, in passes until one adds no point (see the module
        documentation); 0 (the default) none.
    extremes : bool
        Seed the initial population with the front's exact extreme points: for each
        objective in turn, the placement model (:func:`~edgebound.models.placement.build`)
        minimized for it, then for the next objective with the first held at its optimum
        (the payoff table of :func:`~edgebound.pareto.placement_front`), solved by HiGHS
        to a relative gap of 1e-4. Their replicas are routed like any other decision (the
        MILP's routing kept where that drops demand or does worse). This makes the run a
        hybrid of NSGA and the MILP; the solves' time is in
        ``stats["seconds"]`` and alone in ``stats["extremes_seconds"]``.
    extremes_time_limit : float
        Seconds per solve of the extreme points (each lexicographic stage) and of each
        anchor; a solve that finds no decision in time gives no seed. The time limit is
        wall-clock: the same seed gives the same front when every solve finishes within it
        (``stats["extremes_proven"]`` and ``stats["anchors_proven"]``) or ends at the
        node limit ``extremes_nodes``, not necessarily otherwise.
    anchors : int
        With ``extremes``, this many more seeds from the MILP between the extreme points:
        the second objective minimized with the first bounded at evenly spaced values
        between its values at the two ends (the epsilon-constraint method of
        :func:`~edgebound.pareto.placement_front` at a coarse resolution), each solve
        limited to ``extremes_time_limit`` seconds (none when the extremes found do not
        span a range of the first objective). They give the local search the
        structure of exact decisions in the middle of the front, which replica moves from
        NSGA's own decisions do not always reach. 0 (the default) none.
    extremes_nodes : int, optional
        A work limit per solve of the extremes and anchors: HiGHS's branch-and-bound nodes
        (``mip_max_nodes``). A solve that ends at it ends at the same point on every run,
        unlike one that ends at the time limit, so with it the same seed gives the same
        front whenever no solve reaches ``extremes_time_limit``
        (``stats["exact_timed_out"]`` is 0). A solve ended by it is not proven.
    progress : callable, optional
        Called as ``progress(done, generations)`` after the initial population (``done`` 0)
        and after each generation (its local search included); during the polish, as
        ``progress(generations + explored, generations + polish)``.

    Returns
    -------
    ParetoFront
        ``method`` is the algorithm, ``exact`` False; decisions in the evaluator's plain form,
        objective vectors the evaluator's, sorted by the first column; points dominated
        within 1e-6 of each objective's largest value are dropped. ``stats`` has the
        seed, generations, ``generations_done``, ``interrupted``, population size,
        evaluations (by pymoo), distinct decisions routed (pymoo's and the local search's),
        ``local_search``, ``levels`` (0 when unused), ``polish``, ``polished``
        (explorations of the polish), ``polish_passes`` (its passes over the whole archive),
        ``polish_converged`` (the last pass found nothing new), ``extremes`` (the
        evaluator's objective vectors of the MILP's extreme decisions, before NSGA routes
        their replicas again; empty without ``extremes``), ``extremes_proven`` (whether
        both stages of each were proven optimal), ``extremes_seconds``, ``anchors``,
        ``anchors_proven`` and ``anchors_seconds`` (the same for the anchors),
        ``exact_timed_out`` (how many of those solves ended at their time limit) and
        seconds. A
        KeyboardInterrupt (Ctrl-C, or raised by ``progress``) ends the run with the front
        found so far (``interrupted`` True; the polish runs only after every generation).

    Raises
    ------
    KeyboardInterrupt
        When interrupted before any feasible decision was found.
    EdgeboundError
        On bad objectives or parameters, or when no evaluated decision is feasible.

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> front = placement_nsga(inst, ("cost", "energy"), pop_size=10, generations=3, seed=1)
    >>> front.method, front.exact, front.names
    ('nsga2', False, ('cost', 'energy'))
    """
    t0 = time.perf_counter()
    names = check_objectives(objectives, 4)
    if algorithm not in ("nsga2", "nsga3"):
        raise EdgeboundError(f"algorithm: {algorithm!r} must be 'nsga2' or 'nsga3'")
    if pop_size < 2 or generations < 0:
        raise EdgeboundError(
            f"pop_size: {pop_size!r} must be >= 2 and generations: {generations!r} >= 0"
        )
    if local_search < 0 or levels < 1:
        raise EdgeboundError(
            f"local_search: {local_search!r} must be >= 0 and levels: {levels!r} >= 1"
        )
    if polish < 0:
        raise EdgeboundError(f"polish: {polish!r} must be >= 0 (explorations)")
    if extremes and not extremes_time_limit > 0:
        raise EdgeboundError(
            f"extremes_time_limit: {extremes_time_limit!r} must be > 0 (seconds per solve)"
        )
    if extremes_nodes is not None and (
        isinstance(extremes_nodes, bool)
        or not isinstance(extremes_nodes, int)
        or extremes_nodes < 1
        or not extremes
    ):
        raise EdgeboundError(
            f"extremes_nodes: {extremes_nodes!r} must be a whole number >= 1 (nodes per solve), "
            "and is given only with extremes=True"
        )
    if (
        isinstance(anchors, bool)
        or not isinstance(anchors, int)
        or anchors < 0
        or (anchors and not extremes)
    ):
        raise EdgeboundError(
            f"anchors: {anchors!r} must be a whole number >= 0, and > 0 only with "
            "extremes=True (the anchors lie between the exact extreme points)"
        )
    from pymoo.core.population import Population

    router = _Router(instance, names, levels, seed)
    extreme_points: list[list[float]] = []
    extremes_proven: list[bool] = []
    anchor_points: list[list[float]] = []
    anchors_proven: list[bool] = []
    extremes_seconds = anchors_seconds = 0.0
    timed_out = 0
    if extremes:
        t1 = time.perf_counter()
        ends, between, anchors_seconds, timed_out = _exact_seeds(
            instance, names, extremes_time_limit, anchors, extremes_nodes
        )
        for group, points, flags in (
            (ends, extreme_points, extremes_proven),
            (between, anchor_points, anchors_proven),
        ):
            for dec, point, proven in group:
                router.exact.append(router.adopt(parse_placement_decision(instance, dec)))
                points.append(point)
                flags.append(proven)
        extremes_seconds = time.perf_counter() - t1 - anchors_seconds
    parts = _pymoo_parts(router)
    problem = parts.pop("problem")
    algo = _algorithm(algorithm, len(names), pop_size, partitions, parts)

    def local() -> None:
        found = router.improve(local_search, 8)
        if found:
            # the local search's new nondominated decisions join the population
            off = Population.new(X=np.array(found))
            algo.evaluator.eval(problem, off, algorithm=algo)
            algo.pop = algo.survival.do(
                problem,
                Population.merge(algo.pop, off),
                n_survive=algo.pop_size,
                algorithm=algo,
                random_state=algo.random_state,
            )

    done, interrupted = _run(problem, algo, generations, seed, progress, local)
    polished, passes, converged = 0, 0, False
    if polish and not interrupted:
        try:
            start: set[bytes] | None = None  # the archive when the running pass began
            while polished < polish:
                if router.all_explored():
                    if start is not None and set(router.archive) == start:
                        converged = True  # a whole pass found nothing new
                        break
                    # a pass over the whole archive: its targeted neighbours are routed
                    # already, its random moves are new draws
                    router.explored.clear()
                    start = set(router.archive)
                    passes += 1
                before = len(router.explored)
                router.improve(min(max(local_search, 1), polish - polished), 8)
                polished += len(router.explored) - before
                if progress is not None:
                    progress(generations + polished, generations + polish)
        except KeyboardInterrupt:
            interrupted = True
    if not router.archive:
        if interrupted:
            raise KeyboardInterrupt
        raise EdgeboundError(
            f"{algorithm}: no feasible decision found in {generations} generations; "
            "try more generations or a larger population"
        )
    senses = tuple(PLACEMENT_OBJECTIVES[n] for n in names)
    AF = np.array([router.cache[a][0] for a in router.archive])
    keep = _kept(AF, senses)
    return ParetoFront(
        X=[router.cache[router.archive[i]][2].to_dict() for i in keep],
        F=AF[keep],
        names=names,
        senses=senses,
        units=tuple(PLACEMENT_UNITS[n] for n in names),
        method=algorithm,
        exact=False,
        stats={
            "model": "placement",
            "instance": instance.name,
            "seed": seed,
            "generations": generations,
            "generations_done": done,
            "interrupted": interrupted,
            "pop_size": int(algo.pop_size),
            "evaluations": problem.evaluations,
            "decisions_routed": len(router.cache),
            "local_search": local_search,
            "levels": router.levels,
            "polish": polish,
            "polished": polished,
            "polish_passes": passes,
            "polish_converged": converged,
            "extremes": extreme_points,
            "extremes_proven": extremes_proven,
            "extremes_seconds": extremes_seconds,
            "anchors": anchor_points,
            "anchors_proven": anchors_proven,
            "anchors_seconds": anchors_seconds,
            "exact_timed_out": timed_out,
            "seconds": time.perf_counter() - t0,
        },
    )
