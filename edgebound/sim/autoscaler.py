"""Baseline controllers of the continuum plant: the heuristic autoscaler, static, MILP oracle.

:class:`HeuristicAutoscaler` is the paper's "Heuristic (HPA/VPA + binpack)" row: a
Kubernetes-style controller that reacts to what it measured and never forecasts.

* **Demand groups.** Each (service, origin) with demand is scaled on its own, like one
  deployment per site; its replicas sit on the nodes nearest to the origin.
* **HPA.** ``desired = ceil(current * utilization / target)`` from the measured mean busy
  share of the group's replicas, left alone while ``|utilization / target - 1| <=
  tolerance`` (Kubernetes defaults: tolerance 0.1; the target is a parameter, 0.8 by
  default: on the bundled instance no other target of a sweep from 0.5 to 0.9 is better on
  p95 latency, SLO violations and energy per request at once, and it is stable across
  seeds; see the docs page for the sweep).
* **VPA-like right-sizing.** Replica sizes are fixed by the service version, so
  right-sizing sizes the *group*: ``ceil(q-quantile of the demand measured over the last
  window * (1 + margin) / (mu * target))`` replicas (defaults: 90th percentile of the last
  6 periods, 10 % margin).
* **Both, stabilized.** The group asks for the larger of the two, at least
  ``min_replicas``; scaling down uses the highest request of the stabilization window
  (Kubernetes' 5-minute scale-down stabilization), scaling up is immediate.
* **First period.** With nothing measured yet, groups are sized for the nominal rates of
  the instance file (the operator's initial requests) and each running replica goes to the
  nearest group that wants one.
* **Bin packing.** Replicas a group keeps are its own running ones on its most preferred
  nodes (no rescheduling of running pods); new ones go first-fit, one at a time round robin
  over the groups, most constrained services (fewest allowed nodes) first, then decreasing
  replica size (GPU services first), onto the group's preferred nodes: allowed by
  residency, reachable, within CPU, RAM, disk and GPUs left, and within the node's
  CPU-side and per-GPU power caps at the target utilization. Latency-critical services
  prefer nodes whose network latency leaves room for the SLO, nearest first; batch
  services (SLO of at least ``batch_slo_ms``, or none) prefer the cloud, nearest first.
* **Priority and preemption.** A service allowed on fewer nodes (data residency)
  outranks one allowed on more: when a group finds no room, a replica of a lower-priority
  service on one of its preferred nodes is moved to another of that service's preferred
  nodes, if one has room (Kubernetes pod priority and preemption).
* **Routing.** Each origin sends its requests to its group's replicas in proportion to
  their capacity; it never drops on purpose (a group with no replica placed drops).

It knows the instance (nodes, services, SLOs, caps) as a cluster operator would, but
neither the demand to come nor the queueing model. It does not enforce the migration cap,
which Kubernetes does not know either; the plant reports the violations.

:class:`StaticController` holds ``state.placement`` and routes the instance's mean demand
over it; :class:`OracleMILPController` solves the static placement MILP of
:mod:`edgebound.models.placement` on each period's true rates (a clairvoyant, myopic
reference for tests).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

import numpy as np

from edgebound.errors import DecisionError, Problem
from edgebound.evaluate.placement import _data
from edgebound.instances import Instance
from edgebound.instances.traces import demand_series
from edgebound.sim.continuum.interface import PlantAction, PlantObservation, demand_matrix

__all__ = ["HeuristicAutoscaler", "OracleMILPController", "StaticController"]

_RES = ("cpu", "ram_gb", "disk_gb", "gpus")


def _preferences(instance: Instance, batch_slo_ms: float) -> dict[tuple[int, int], np.ndarray]:
    """Preferred nodes of each (service, origin) with demand, best first."""
    d = _data(instance)
    tiers = np.array([n.tier == "cloud" for n in instance.topology.nodes])
    out = {}
    for s, i in zip(*np.nonzero(d.has_demand), strict=True):
        net = d.net_ms[i]
        ok = d.allowed[s] & np.isfinite(net)
        slo = d.slo_ms[s]
        batch = math.isnan(slo) or slo >= batch_slo_ms
        # one service time at the 95th percentile must fit in the SLO after the network
        room = np.isnan(slo) | (net + 1000.0 * math.log(20.0) / d.mu[s] < slo)
        nodes = np.flatnonzero(ok)
        first = ~tiers[nodes] if batch else ~room[nodes]
        order = np.lexsort((nodes, net[nodes], first))
        out[int(s), int(i)] = nodes[order]
    return out


class _Packer:
    """Free resources and estimated power of every node while replicas are placed."""

    def __init__(self, instance: Instance, replicas: np.ndarray, busy: float) -> None:
        d = _data(instance)
        self.d = d
        self.busy = busy
        self.free = {r: d.cap[r] - (replicas * d.need[r][:, None]).sum(axis=0) for r in _RES}
        self.cpu_busy = busy * (replicas * d.need["cpu"][:, None]).sum(axis=0)
        self.gpu_busy = busy * (replicas * d.need["gpus"][:, None]).sum(axis=0)

    def fits(self, s: int, n: int) -> bool:
        d = self.d
        for r in _RES:
            if d.need[r][s] > self.free[r][n] + 1e-9:
                return False
        cpu_n, gpus_n = d.cap["cpu"][n], d.cap["gpus"][n]
        cap = d.power_cap_w[n]
        if not math.isnan(cap) and cpu_n > 0:
            u = (self.cpu_busy[n] + self.busy * d.need["cpu"][s]) / cpu_n
            if d.idle_w[n] + d.dyn_w[n] * u > cap + 1e-9:
                return False
        gcap = d.gpu_power_cap_w[n]
        if not math.isnan(gcap) and gpus_n > 0:
            g = (self.gpu_busy[n] + self.busy * d.need["gpus"][s]) / gpus_n
            if d.gpu_idle_w[n] + d.gpu_dyn_w[n] * g > gcap + 1e-9:
                return False
        return True

    def take(self, s: int, n: int, sign: float = 1.0) -> None:
        d = self.d
        for r in _RES:
            self.free[r][n] -= sign * d.need[r][s]
        self.cpu_busy[n] += sign * self.busy * d.need["cpu"][s]
        self.gpu_busy[n] += sign * self.busy * d.need["gpus"][s]

    def release(self, s: int, n: int) -> None:
        self.take(s, n, -1.0)


def _shares(assign: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Each origin's share per node, in proportion to the capacity assigned to it."""
    cap = assign * mu[:, None, None]
    tot = cap.sum(axis=2, keepdims=True)
    out: np.ndarray = np.where(tot > 0, cap / np.where(tot > 0, tot, 1.0), 0.0)
    return out


def _check_param(name: str, value: float, ok: bool, allowed: str) -> None:
    if not ok:
        raise DecisionError([Problem(name, value, allowed)])


class HeuristicAutoscaler:
    """HPA-style threshold autoscaling with VPA-like right-sizing and bin packing.

    See the module documentation for what it does.

    Parameters
    ----------
    target_utilization : float
        HPA target busy share of a replica, in (0, 1].
    tolerance : float
        HPA tolerance band around the target.
    stabilization_s : float
        Scale-down stabilization window.
    vpa_quantile : float
        Quantile of the recent demand the group is sized for.
    vpa_window : int
        Periods of demand history the quantile looks at.
    vpa_margin : float
        Relative margin on that quantile.
    min_replicas : int
        Fewest replicas of a group with demand.
    batch_slo_ms : float
        Services with an SLO at least this long (or none) are batch and prefer the cloud.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> from edgebound.sim.continuum import run
    >>> res = run(load("continuum-3edge-2cloud"), HeuristicAutoscaler(), periods=2)
    >>> res.controller, res.summary["dropped_pct"] < 1.0
    ('heuristic', True)
    """

    name = "heuristic"

    def __init__(
        self,
        *,
        target_utilization: float = 0.8,
        tolerance: float = 0.1,
        stabilization_s: float = 300.0,
        vpa_quantile: float = 0.9,
        vpa_window: int = 6,
        vpa_margin: float = 0.1,
        min_replicas: int = 1,
        batch_slo_ms: float = 10_000.0,
    ) -> None:
        _check_param(
            "target_utilization",
            target_utilization,
            0 < target_utilization <= 1,
            "must be in (0, 1]",
        )
        _check_param("tolerance", tolerance, 0 <= tolerance < 1, "must be in [0, 1)")
        _check_param("stabilization_s", stabilization_s, stabilization_s >= 0, "must be >= 0")
        _check_param("vpa_quantile", vpa_quantile, 0 <= vpa_quantile <= 1, "must be in [0, 1]")
        _check_param("vpa_window", vpa_window, vpa_window >= 1, "must be >= 1 period")
        _check_param("vpa_margin", vpa_margin, vpa_margin >= 0, "must be >= 0")
        _check_param("min_replicas", min_replicas, min_replicas >= 0, "must be >= 0")
        self.target_utilization = float(target_utilization)
        self.tolerance = float(tolerance)
        self.stabilization_s = float(stabilization_s)
        self.vpa_quantile = float(vpa_quantile)
        self.vpa_window = int(vpa_window)
        self.vpa_margin = float(vpa_margin)
        self.min_replicas = int(min_replicas)
        self.batch_slo_ms = float(batch_slo_ms)

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        """Prepare for a run on ``instance`` (the heuristic uses no randomness)."""
        d = _data(instance)
        self.instance = instance
        self._d = d
        self._prefs = _preferences(instance, self.batch_slo_ms)
        # most constrained services first (fewest allowed nodes), then first-fit decreasing:
        # GPU services, then larger CPU and RAM needs
        keys = list(self._prefs)
        allowed = d.allowed.sum(axis=1)

        def key(g: tuple[int, int]) -> tuple[float, ...]:
            s = g[0]
            return (allowed[s], -d.need["gpus"][s], -d.need["cpu"][s], -d.need["ram_gb"][s])

        self._groups = sorted(keys, key=key)
        steps = max(1, math.ceil(self.stabilization_s / instance.workload.step_s - 1e-9))
        self._recent: deque[np.ndarray] = deque(maxlen=steps + 1)
        self._assign = np.zeros((len(d.services), len(d.origins), len(d.nodes)), dtype=np.int64)

    def _size(self, level: np.ndarray) -> np.ndarray:
        """Replicas that serve ``level`` req/s per group at the target utilization."""
        d = self._d
        want = np.ceil(level / (d.mu[:, None] * self.target_utilization) - 1e-9)
        return np.where(d.has_demand, np.maximum(want, self.min_replicas), 0).astype(np.int64)

    def _recommend(self, obs: PlantObservation) -> np.ndarray:
        """Replicas each group asks for this period, shape (S, I)."""
        hist = obs.demand_history
        window = hist[:, :, -self.vpa_window :]
        vpa = self._size(np.quantile(window, self.vpa_quantile, axis=2) * (1.0 + self.vpa_margin))
        current = self._assign.sum(axis=2)
        weight = self._assign * (obs.replicas[:, None, :] > 0)
        wsum = weight.sum(axis=2)
        util = np.where(
            wsum > 0,
            (weight * obs.utilization[:, None, :]).sum(axis=2) / np.maximum(wsum, 1),
            0.0,
        )
        ratio = util / self.target_utilization
        hpa = np.where(
            np.abs(ratio - 1.0) > self.tolerance, np.ceil(current * ratio - 1e-9), current
        ).astype(np.int64)
        return np.where(self._d.has_demand, np.maximum(vpa, hpa), 0)

    def act(self, obs: PlantObservation) -> PlantAction:
        """Scale, pack and route for the period that starts now."""
        d = self._d
        held = obs.replicas + obs.pending
        if obs.demand_history.shape[2] == 0:
            # Nothing measured yet: size for the nominal rates of the instance file (the
            # operator's initial requests) and hand the running replicas to the groups.
            want = self._size(d.lam * (1.0 + self.vpa_margin))
            prev = np.zeros_like(self._assign)
            pool = held.copy()
            # a running replica goes to the nearest group that still wants one
            triples = [(s, i, int(n)) for (s, i), prefs in self._prefs.items() for n in prefs]
            triples.sort(key=lambda g: (d.net_ms[g[1], g[2]], g))
            for s, i, n in triples:
                k = min(pool[s, n], want[s, i] - prev[s, i].sum())
                if k > 0:
                    prev[s, i, n] += k
                    pool[s, n] -= k
        else:
            self._recent.append(self._recommend(obs))
            # scale down only to the highest recommendation of the stabilization window
            want = np.max(np.stack(list(self._recent)), axis=0)
            prev = self._assign
        # each group keeps its own running replicas on its most preferred nodes
        assign = np.zeros_like(prev)
        for s, i in self._groups:
            left = want[s, i]
            for n in self._prefs[s, i]:
                k = min(prev[s, i, n], left)
                assign[s, i, n] = k
                left -= k
        assign = np.minimum(assign, held[:, None, :])
        packer = _Packer(self.instance, assign.sum(axis=1), self.target_utilization)
        need = want - assign.sum(axis=2)
        # new replicas: first a replica for every group that has none, then round robin
        # over the groups (largest replicas first), each to its first preferred node with
        # room; a node without room for a service stays without room for this period
        ptr = dict.fromkeys(self._groups, 0)
        for rounds in range(2):
            active = [g for g in self._groups if need[g] > 0 and (rounds or assign[g].sum() == 0)]
            while active:
                still = []
                for s, i in active:
                    prefs = self._prefs[s, i]
                    k = ptr[s, i]
                    while k < prefs.size and not packer.fits(s, int(prefs[k])):
                        k += 1
                    ptr[s, i] = k
                    if k == prefs.size:
                        continue
                    packer.take(s, int(prefs[k]))
                    assign[s, i, prefs[k]] += 1
                    need[s, i] -= 1
                    if need[s, i] > 0 and (rounds or assign[s, i].sum() < self.min_replicas):
                        still.append((s, i))
                active = still
        for g in self._groups:
            while need[g] > 0 and self._preempt(g, assign, packer):
                need[g] -= 1
        self._assign = assign
        return PlantAction(assign.sum(axis=1), _shares(assign, d.mu))

    def _preempt(self, g: tuple[int, int], assign: np.ndarray, packer: _Packer) -> bool:
        """Place one replica of group ``g`` by moving a lower-priority replica elsewhere.

        Pod priority and preemption: a service allowed on fewer nodes outranks one allowed
        on more. On the group's preferred nodes, best first, a replica of a lower-priority
        service is evicted when that makes room and it can start again on another of its
        own group's preferred nodes.
        """
        d = self._d
        s, i = g
        allowed = d.allowed.sum(axis=1)
        for n in (int(m) for m in self._prefs[g]):
            if any(d.need[r][s] > d.cap[r][n] for r in _RES):
                continue
            for s2, i2 in zip(*np.nonzero(assign[:, :, n]), strict=True):
                if allowed[s2] <= allowed[s]:
                    continue
                packer.release(s2, n)
                if packer.fits(s, n):
                    packer.take(s, n)
                    for m in (int(k) for k in self._prefs[s2, i2]):
                        if m != n and packer.fits(s2, m):
                            packer.take(s2, m)
                            assign[s, i, n] += 1
                            assign[s2, i2, n] -= 1
                            assign[s2, i2, m] += 1
                            return True
                    packer.release(s, n)
                packer.take(s2, n)
        return False


class StaticController:
    """Holds ``state.placement`` and routes the instance's mean demand over it.

    Each (service, origin), largest demand first, fills the replicas on its preferred
    nodes (nearest first, see :class:`HeuristicAutoscaler`) up to ``policy.max_utilization``
    of their capacity; demand left over is spread over all its reachable replicas in
    proportion to their capacity. The action is the same in every period.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> from edgebound.sim.continuum import run
    >>> res = run(load("continuum-3edge-2cloud"), StaticController(), periods=1)
    >>> int(res.actions[0].replicas.sum())
    129
    """

    name = "static"

    def __init__(self, *, batch_slo_ms: float = 10_000.0) -> None:
        self.batch_slo_ms = float(batch_slo_ms)

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        """Compute the fixed action of ``instance``."""
        d = _data(instance)
        x = d.x_prev.astype(np.int64)
        prefs = _preferences(instance, self.batch_slo_ms)
        room = x * d.mu[:, None] * instance.policy.max_utilization
        routed = np.zeros((len(d.services), len(d.origins), len(d.nodes)))
        order = sorted(prefs, key=lambda si: -d.lam[si])
        for s, i in order:
            left = d.lam[s, i]
            for n in prefs[s, i]:
                take = min(left, room[s, n])
                if take > 0:
                    routed[s, i, n] += take
                    room[s, n] -= take
                    left -= take
            if left > 1e-12:
                nodes = prefs[s, i][x[s, prefs[s, i]] > 0]
                if nodes.size:
                    cap = x[s, nodes] * d.mu[s]
                    routed[s, i, nodes] += left * cap / cap.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(
                d.lam[:, :, None] > 0, routed / np.where(d.lam > 0, d.lam, 1.0)[:, :, None], 0.0
            )
        # shares add up to the demand; rounding must not push a sum past 1
        self._action = PlantAction(x, share / np.maximum(1.0, share.sum(axis=2, keepdims=True)))

    def act(self, obs: PlantObservation) -> PlantAction:
        """The fixed action."""
        return self._action


class OracleMILPController:
    """Solves the static placement MILP on each period's true rates (clairvoyant, myopic).

    Each period, :func:`edgebound.models.placement.build` is solved with the period's rates
    and the replicas running now as the previous placement, so the migration budget
    counts against them; the decision is applied with :meth:`PlantAction.from_decision`.
    A test utility: it needs HiGHS and takes a solve per period.

    Parameters
    ----------
    demand : ndarray, shape (demands, T), optional
        The rates it is told (default: the instance's demand series); pass the plant's.
    weights : mapping, optional
        Weights over energy, cost, dropped and migrations (default: the instance's, with
        latency weights left out).
    time_limit : float
        Seconds per solve.

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> from edgebound.sim.continuum import run
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> res = run(inst, OracleMILPController(), periods=1)
    >>> res.summary["power_cap_violations"]
    0.0
    """

    name = "milp-oracle"

    def __init__(
        self,
        *,
        demand: np.ndarray | None = None,
        weights: Mapping[str, float] | None = None,
        time_limit: float = 30.0,
    ) -> None:
        self.demand = demand
        self.weights = None if weights is None else dict(weights)
        self.time_limit = float(time_limit)

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        """Remember the instance and the rates of every period."""
        self.instance = instance
        series = demand_series(instance) if self.demand is None else np.asarray(self.demand)
        self._series = np.asarray(series, dtype=float)
        demand_matrix(instance, self._series)  # checks the shape
        if self.weights is None:
            keep = ("energy", "cost", "dropped", "migrations")
            self._weights = {k: v for k, v in instance.policy.weights.items() if k in keep}
        else:
            self._weights = self.weights

    def act(self, obs: PlantObservation) -> PlantAction:
        """Solve the period's MILP and apply its decision."""
        from edgebound.models.placement import build
        from edgebound.solvers import solve

        inst = self.instance
        held = obs.replicas + obs.pending
        placement = [
            {"service": inst.service_names[s], "node": inst.node_names[n], "count": int(held[s, n])}
            for s, n in zip(*np.nonzero(held), strict=True)
        ]
        data = inst.model_dump()
        data["state"]["placement"] = placement
        now = Instance.model_validate(data)
        res = solve(
            build(now, "weighted", weights=self._weights, rates=self._series[:, obs.period]),
            time_limit=self.time_limit,
        )
        if not res.has_solution:
            return PlantAction(held, np.zeros((*_data(inst).lam.shape, len(inst.node_names))))
        return PlantAction.from_decision(inst, res.decision)
