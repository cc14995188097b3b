"""The referee of the continuum placement model: what a placement decision achieves.

A decision places integer replicas ``x[s, n]`` of each service s on nodes n, routes
``r[s, i, n]`` req/s of the demand of service s from origin i to node n, drops ``d[s, i]``
req/s and switches nodes on or off. Everything below is computed in closed form from the
instance; no solver is involved, so every model, MPC and simulator can be checked against it.
The plain (JSON) form of a decision and its defaults are described in
:func:`parse_placement_decision`; :class:`PlacementDecision` holds the arrays.

Origins
    An origin is a demand's site, or the master node (``topology.master``) for demands whose
    ``site`` is null. Axis ``i`` of the arrays runs over :func:`placement_origins`: the sites in
    file order, then the master when some demand comes from it. The demand ``lam[s, i]`` is the
    ``rate_rps`` of the demand for (s, i), and the network latency ``net[i, n]`` is
    ``instance.latency_ms(i, n)`` (``inf`` when not connected).

Service model
    Service s runs its current version (``instance.running_version``), whose cpu, ram_gb,
    disk_gb, gpus and service rate ``mu[s]`` apply to every replica. The load at (s, n) is
    ``L[s, n] = sum_i r[s, i, n]``; the ``x[s, n]`` replicas there form one FCFS M/M/x queue.
    A queue with ``L >= x mu`` (including ``x = 0`` with load) is unstable and its sojourn
    time is infinite; a served request's latency is ``net[i, n]`` plus its sojourn time.

Power
    A node that is on draws ``idle_power_w + dynamic_power_w * u`` on its CPU side, with
    ``u = sum_s cpu[s] * L[s, n] / mu[s] / cpu_n`` (the expected busy replicas times their
    vCPU, over the node's vCPU). Each of its GPUs draws ``gpu_idle_power_w +
    gpu_dynamic_power_w * g`` with ``g = sum_s gpus[s] * L[s, n] / mu[s] / gpus_n``. A node's
    power is its CPU side plus ``gpus_n`` times the per-GPU power; an off node draws 0. A node
    is on when ``nodes_on`` says so and, when it says nothing about the node, iff it hosts a
    replica.

Objectives
    ``latency`` (ms, min)
        Request-weighted mean over served requests of ``net + mean sojourn``; 0 when nothing
        is served.
    ``p95_latency`` (ms, min)
        The 0.95-quantile of the latency of all served requests: the root of
        ``sum_k w_k P(net_k + T_k > t) = 0.05`` over the streams k = (s, i, n) with
        ``r > 0``, weights ``w_k = r_k / sum r``, each ``T_k`` the exact hypoexponential
        sojourn of its M/M/x queue; solved on a bracket by Newton steps with the exact
        density, falling back to bisection, to rounding error (no approximation).
    ``energy`` (J/req, min)
        Total power over the served rate; ``inf`` if power > 0 and nothing is served, 0 if
        both are 0.
    ``power`` (W, min)
        Total power of all nodes.
    ``throughput`` (req/s, max)
        The served rate ``sum r``.
    ``cost`` (USD/h, min)
        ``sum x * (cpu * cost_per_vcpu_hour + gpus * cost_per_gpu_hour)``.
    ``dropped`` (req/s, min)
        ``sum d``.
    ``migrations`` (replica, min)
        ``sum max(0, x - x_prev)`` with ``x_prev`` from ``state.placement``.
    ``weighted`` (min)
        ``sum policy.weights[k] * objective[k]`` over latency, p95_latency, energy, cost,
        dropped, migrations; a missing or zero weight contributes 0 even when its objective is
        ``inf``; a positively weighted ``inf`` makes the sum ``inf``.

    A served request with infinite latency (unstable queue, no replica, unreachable node)
    makes ``latency`` and ``p95_latency`` infinite, whatever its share of the traffic.

Violations
    Each names the constraint, where it applies in the instance's terms, and an amount > 0:

    - ``demand_balance`` (req/s): ``|sum_n r + d - lam| > tol * max(1, lam)`` for (s, i);
      with ``dropped`` left out of the decision this means routing more than the demand.
    - ``routing`` (req/s): load at (s, n) with no replica there.
    - ``stability`` (req/s): ``L - max_utilization * x * mu`` when positive and ``x > 0``
      (with ``x = 0`` the load is a ``routing`` violation instead, not reported twice).
    - ``connectivity`` (req/s): rate routed from an origin to a node it has no path to.
    - ``slo`` (ms): for a service with ``latency_slo_ms``, each stream with ``r > 0`` whose
      ``net + policy.slo_quantile-quantile of the M/M/x sojourn`` exceeds the SLO; the
      amount is ``inf`` for a stream with no finite latency.
    - ``capacity.cpu``, ``capacity.ram_gb``, ``capacity.disk_gb``, ``capacity.gpus`` (vCPU,
      GB, GB, GPU): per node, ``sum_s x * need`` above the node's capacity.
    - ``residency`` (replica): replicas on a node whose region is not in the service's
      ``allowed_regions``.
    - ``power_cap`` (W): a node's CPU-side power above ``power_cap_w``.
    - ``gpu_power_cap`` (W): the power of each GPU of a node above ``gpu_power_cap_w``.
    - ``node_off`` (replica, or req/s when the node has load but no replica): a node that is
      off but hosts replicas or receives load.
    - ``migration_budget`` (replica): migrations above ``policy.migration_budget``.

    Every limit is compared with a tolerance ``tol * max(1, |limit|)`` (``tol`` defaults to
    1e-9), so a decision sitting on a limit up to rounding is feasible. Objectives are
    reported for infeasible decisions too, with the formulas above.

Details
    ``details["nodes"][node]``: on, used and capacity of each resource, CPU and GPU
    utilization ``u`` and ``g``, CPU-side power, power of each GPU and total power.
    ``details["services"][service]``: demand, served and dropped rates, replicas and mean
    latency. ``details["queues"][service][node]``: replicas, load, utilization ``L / (x mu)``
    and mean sojourn of each (s, n) with replicas or load. All values are JSON-ready.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgebound.errors import DecisionError, Problem
from edgebound.evaluate.common import Evaluation, Violation
from edgebound.instances.schema import Instance

__all__ = [
    "PLACEMENT_SENSES",
    "PLACEMENT_UNITS",
    "PlacementDecision",
    "evaluate_placement",
    "parse_placement_decision",
    "placement_origins",
]

PLACEMENT_UNITS: dict[str, str] = {
    "latency": "ms",
    "p95_latency": "ms",
    "energy": "J/req",
    "power": "W",
    "throughput": "req/s",
    "cost": "USD/h",
    "dropped": "req/s",
    "migrations": "replica",
    "weighted": "1",
}
"""Unit of each placement objective."""

PLACEMENT_SENSES: dict[str, str] = {k: "min" for k in PLACEMENT_UNITS} | {"throughput": "max"}
"""``"min"`` or ``"max"`` for each placement objective."""

_WEIGHTED = ("latency", "p95_latency", "energy", "cost", "dropped", "migrations")
_TOP_KEYS = ("model", "replicas", "routing", "dropped", "nodes_on")
_P95 = 0.95


# --------------------------------------------------------------------------- instance data


@dataclass(frozen=True, eq=False)
class _Data:
    """Arrays derived from an instance once, reused by every evaluation of it."""

    services: tuple[str, ...]
    origins: tuple[str, ...]
    nodes: tuple[str, ...]
    lam: np.ndarray  # (S, I) demand, req/s
    has_demand: np.ndarray  # (S, I) bool
    net_ms: np.ndarray  # (I, N)
    need: dict[str, np.ndarray]  # resource -> (S,)
    cap: dict[str, np.ndarray]  # resource -> (N,)
    mu: np.ndarray  # (S,)
    slo_ms: np.ndarray  # (S,), nan when none
    allowed: np.ndarray  # (S, N) bool, residency
    idle_w: np.ndarray
    dyn_w: np.ndarray
    gpu_idle_w: np.ndarray
    gpu_dyn_w: np.ndarray
    power_cap_w: np.ndarray  # nan when none
    gpu_power_cap_w: np.ndarray  # nan when none
    cost_vcpu: np.ndarray
    cost_gpu: np.ndarray
    x_prev: np.ndarray  # (S, N)


# (field, unit, label in messages)
_RESOURCES: tuple[tuple[str, str, str], ...] = (
    ("cpu", "vCPU", "CPU"),
    ("ram_gb", "GB", "RAM"),
    ("disk_gb", "GB", "disk"),
    ("gpus", "GPU", "GPUs"),
)

# Keyed by id() with the instance kept alive alongside, so an id is never reused while cached;
# instances are not hashable (they hold dicts) and cannot carry extra attributes.
_CACHE: OrderedDict[int, tuple[Instance, _Data]] = OrderedDict()
_CACHE_SIZE = 16


def placement_origins(instance: Instance) -> tuple[str, ...]:
    """Origins of requests, in the order of axis ``i`` of the placement arrays.

    The sites in file order, then ``topology.master`` when some demand has ``site: null``.

    Parameters
    ----------
    instance : Instance

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> import edgebound
    >>> inst = edgebound.load({
    ...     "name": "tiny",
    ...     "topology": {"nodes": [{"name": "n1", "cpu": 4, "ram_gb": 8}],
    ...                  "sites": [{"name": "s1"}],
    ...                  "links": [{"source": "s1", "target": "n1", "latency_ms": 2}]},
    ...     "services": [{"name": "web", "versions": [
    ...         {"major": 1, "cpu": 1, "ram_gb": 1, "service_rate_rps": 10}]}],
    ...     "workload": {"demands": [{"service": "web", "site": "s1", "rate_rps": 5}]}})
    >>> placement_origins(inst)
    ('s1',)
    """
    origins = list(instance.site_names)
    master = instance.topology.master
    if master is not None and any(d.site is None for d in instance.workload.demands):
        origins.append(master)
    return tuple(origins)


def _data(instance: Instance) -> _Data:
    hit = _CACHE.get(id(instance))
    if hit is not None and hit[0] is instance:
        _CACHE.move_to_end(id(instance))
        return hit[1]
    data = _build_data(instance)
    _CACHE[id(instance)] = (instance, data)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return data


def _build_data(inst: Instance) -> _Data:
    services = inst.service_names
    nodes = inst.node_names
    origins = placement_origins(inst)
    master = inst.topology.master
    s_idx = {s: k for k, s in enumerate(services)}
    o_idx = {o: k for k, o in enumerate(origins)}
    lam = np.zeros((len(services), len(origins)))
    has = np.zeros((len(services), len(origins)), dtype=bool)
    for dem in inst.workload.demands:
        origin = dem.site if dem.site is not None else master
        if dem.service in s_idx and origin in o_idx:
            lam[s_idx[dem.service], o_idx[origin]] = dem.rate_rps
            has[s_idx[dem.service], o_idx[origin]] = True
    net = np.array([[inst.latency_ms(o, n) for n in nodes] for o in origins], dtype=float)
    net = net.reshape(len(origins), len(nodes))
    versions = [inst.running_version(s) for s in services]
    node_objs = inst.topology.nodes

    def per_node(attr: str) -> np.ndarray:
        vals = [getattr(n, attr) for n in node_objs]
        return np.array([np.nan if v is None else v for v in vals], dtype=float)

    need = {r: np.array([getattr(v, r) for v in versions], dtype=float) for r, _, _ in _RESOURCES}
    cap = {r: per_node(r) for r, _, _ in _RESOURCES}
    allowed = np.ones((len(services), len(nodes)), dtype=bool)
    for k, svc in enumerate(inst.services):
        if svc.allowed_regions is not None:
            allowed[k] = [n.region in svc.allowed_regions for n in node_objs]
    slo = np.array(
        [np.nan if s.latency_slo_ms is None else s.latency_slo_ms for s in inst.services]
    )
    n_idx = {n: k for k, n in enumerate(nodes)}
    x_prev = np.zeros((len(services), len(nodes)))
    for rep in inst.state.placement:
        if rep.service in s_idx and rep.node in n_idx:
            x_prev[s_idx[rep.service], n_idx[rep.node]] += rep.count
    return _Data(
        services=services,
        origins=origins,
        nodes=nodes,
        lam=lam,
        has_demand=has,
        net_ms=net,
        need=need,
        cap=cap,
        mu=np.array([v.service_rate_rps for v in versions], dtype=float),
        slo_ms=slo,
        allowed=allowed,
        idle_w=per_node("idle_power_w"),
        dyn_w=per_node("dynamic_power_w"),
        gpu_idle_w=per_node("gpu_idle_power_w"),
        gpu_dyn_w=per_node("gpu_dynamic_power_w"),
        power_cap_w=per_node("power_cap_w"),
        gpu_power_cap_w=per_node("gpu_power_cap_w"),
        cost_vcpu=per_node("cost_per_vcpu_hour"),
        cost_gpu=per_node("cost_per_gpu_hour"),
        x_prev=x_prev,
    )


# --------------------------------------------------------------------------- the decision


@dataclass(frozen=True, eq=False)
class PlacementDecision:
    """A placement decision as arrays, checked against its instance.

    Build one with :func:`parse_placement_decision` (from the plain form) or
    :meth:`from_arrays`; the arrays are read-only.

    Attributes
    ----------
    services, origins, nodes : tuple of str
        Names along the axes s, i (see :func:`placement_origins`) and n.
    replicas : ndarray of int, shape (S, N)
        Replicas of service s on node n.
    routing : ndarray of float, shape (S, I, N)
        Rate of service s's requests from origin i sent to node n, req/s.
    dropped : ndarray of float, shape (S, I)
        Rate of service s's requests from origin i that are dropped, req/s.
    nodes_on : ndarray of bool, shape (N,)
        Whether each node is on.

    Examples
    --------
    >>> import edgebound
    >>> inst = edgebound.load({
    ...     "name": "tiny",
    ...     "topology": {"nodes": [{"name": "n1", "cpu": 4, "ram_gb": 8}],
    ...                  "sites": [{"name": "s1"}],
    ...                  "links": [{"source": "s1", "target": "n1", "latency_ms": 2}]},
    ...     "services": [{"name": "web", "versions": [
    ...         {"major": 1, "cpu": 1, "ram_gb": 1, "service_rate_rps": 10}]}],
    ...     "workload": {"demands": [{"service": "web", "site": "s1", "rate_rps": 5}]}})
    >>> dec = PlacementDecision.from_arrays(inst, replicas=[[1]], routing=[[[4.0]]])
    >>> dec.dropped.tolist()  # the rest of the demand
    [[1.0]]
    >>> dec.to_dict()["routing"]
    {'web': {'s1': {'n1': 4.0}}}
    """

    services: tuple[str, ...]
    origins: tuple[str, ...]
    nodes: tuple[str, ...]
    replicas: np.ndarray
    routing: np.ndarray
    dropped: np.ndarray
    nodes_on: np.ndarray

    @classmethod
    def from_arrays(
        cls,
        instance: Instance,
        replicas: Any,
        routing: Any,
        dropped: Any | None = None,
        nodes_on: Any | None = None,
    ) -> PlacementDecision:
        """Build a decision from arrays in the axis order of :class:`PlacementDecision`.

        Parameters
        ----------
        instance : Instance
        replicas : array_like of int, shape (S, N)
        routing : array_like of float, shape (S, I, N)
        dropped : array_like of float, shape (S, I), optional
            Defaults to ``max(0, demand - routed)``.
        nodes_on : array_like of bool, shape (N,), optional
            Defaults to on iff the node hosts a replica.

        Returns
        -------
        PlacementDecision

        Raises
        ------
        DecisionError
            Wrong shapes, negative or non-finite values, non-integer replicas, or traffic
            from an origin without demand for the service.

        Examples
        --------
        >>> import edgebound
        >>> inst = edgebound.load({
        ...     "name": "tiny",
        ...     "topology": {"nodes": [{"name": "n1", "cpu": 4, "ram_gb": 8}],
        ...                  "sites": [{"name": "s1"}],
        ...                  "links": [{"source": "s1", "target": "n1", "latency_ms": 2}]},
        ...     "services": [{"name": "web", "versions": [
        ...         {"major": 1, "cpu": 1, "ram_gb": 1, "service_rate_rps": 10}]}],
        ...     "workload": {"demands": [{"service": "web", "site": "s1", "rate_rps": 5}]}})
        >>> PlacementDecision.from_arrays(inst, [[2]], [[[5.0]]]).nodes_on.tolist()
        [True]
        """
        data = _data(instance)
        ns, no, nn = len(data.services), len(data.origins), len(data.nodes)
        problems: list[Problem] = []

        def arr(name: str, value: Any, shape: tuple[int, ...], dtype: Any) -> np.ndarray | None:
            try:
                a = np.asarray(value, dtype=dtype)
            except (TypeError, ValueError):
                problems.append(Problem(name, value, f"must be an array of {np.dtype(dtype)}"))
                return None
            if a.shape != shape:
                problems.append(Problem(f"{name}.shape", a.shape, f"must be {shape}"))
                return None
            return a

        x_raw = arr("replicas", replicas, (ns, nn), float)
        r = arr("routing", routing, (ns, no, nn), float)
        d = None if dropped is None else arr("dropped", dropped, (ns, no), float)
        on = None if nodes_on is None else arr("nodes_on", nodes_on, (nn,), bool)
        x = None
        if x_raw is not None:
            bad = ~np.isfinite(x_raw) | (x_raw < 0) | (x_raw != np.round(x_raw))
            for s, n in zip(*np.nonzero(bad), strict=True):
                problems.append(
                    Problem(
                        f"replicas.{data.services[s]}.{data.nodes[n]}",
                        float(x_raw[s, n]),
                        "must be a whole number >= 0",
                    )
                )
            x = np.where(bad, 0, x_raw).astype(np.int64)
        if r is not None:
            for s, i, n in zip(*np.nonzero(~np.isfinite(r) | (r < 0)), strict=True):
                path = f"routing.{data.services[s]}.{data.origins[i]}.{data.nodes[n]}"
                problems.append(Problem(path, float(r[s, i, n]), "must be a finite rate >= 0"))
            stray = (r != 0).any(axis=2) & ~data.has_demand
            for s, i in zip(*np.nonzero(stray), strict=True):
                path = f"routing.{data.services[s]}.{data.origins[i]}"
                problems.append(
                    Problem(path, Problem.MISSING, _no_demand_msg(data, s, data.origins[i]))
                )
        if d is not None:
            for s, i in zip(*np.nonzero(~np.isfinite(d) | (d < 0)), strict=True):
                path = f"dropped.{data.services[s]}.{data.origins[i]}"
                problems.append(Problem(path, float(d[s, i]), "must be a finite rate >= 0"))
            for s, i in zip(*np.nonzero((d != 0) & ~data.has_demand), strict=True):
                path = f"dropped.{data.services[s]}.{data.origins[i]}"
                problems.append(
                    Problem(path, Problem.MISSING, _no_demand_msg(data, s, data.origins[i]))
                )
        if problems:
            raise DecisionError(problems)
        assert x is not None and r is not None
        return cls._make(data, x, r, d, on)

    @classmethod
    def _make(
        cls,
        data: _Data,
        x: np.ndarray,
        r: np.ndarray,
        d: np.ndarray | None,
        on: np.ndarray | None,
    ) -> PlacementDecision:
        if d is None:
            d = np.maximum(0.0, data.lam - r.sum(axis=2))
        if on is None:
            on = x.sum(axis=0) > 0
        arrays = [np.array(a) for a in (x, r, d, on)]
        for a in arrays:
            a.setflags(write=False)
        return cls(data.services, data.origins, data.nodes, *arrays)

    def to_dict(self) -> dict[str, Any]:
        """The plain (JSON) form; zero replicas, routes and drops are left out.

        ``dropped`` and ``nodes_on`` are always written out, so the form parses back to the
        same decision.

        Returns
        -------
        dict

        Examples
        --------
        >>> import edgebound
        >>> inst = edgebound.load({
        ...     "name": "tiny",
        ...     "topology": {"nodes": [{"name": "n1", "cpu": 4, "ram_gb": 8}],
        ...                  "sites": [{"name": "s1"}],
        ...                  "links": [{"source": "s1", "target": "n1", "latency_ms": 2}]},
        ...     "services": [{"name": "web", "versions": [
        ...         {"major": 1, "cpu": 1, "ram_gb": 1, "service_rate_rps": 10}]}],
        ...     "workload": {"demands": [{"service": "web", "site": "s1", "rate_rps": 5}]}})
        >>> dec = parse_placement_decision(inst, {"replicas": {"web": {"n1": 1}}})
        >>> d = dec.to_dict()
        >>> d["replicas"], d["routing"], d["dropped"], d["nodes_on"]
        ({'web': {'n1': 1}}, {}, {'web': {'s1': 5.0}}, {'n1': True})
        """
        replicas: dict[str, dict[str, int]] = {}
        for s, n in zip(*np.nonzero(self.replicas), strict=True):
            replicas.setdefault(self.services[s], {})[self.nodes[n]] = int(self.replicas[s, n])
        routing: dict[str, dict[str, dict[str, float]]] = {}
        for s, i, n in zip(*np.nonzero(self.routing), strict=True):
            routing.setdefault(self.services[s], {}).setdefault(self.origins[i], {})[
                self.nodes[n]
            ] = float(self.routing[s, i, n])
        dropped: dict[str, dict[str, float]] = {}
        for s, i in zip(*np.nonzero(self.dropped), strict=True):
            dropped.setdefault(self.services[s], {})[self.origins[i]] = float(self.dropped[s, i])
        return {
            "model": "placement",
            "replicas": replicas,
            "routing": routing,
            "dropped": dropped,
            "nodes_on": {n: bool(v) for n, v in zip(self.nodes, self.nodes_on, strict=True)},
        }


def _unknown(value: Any, known: Iterable[str], what: str) -> str:
    known = list(known)
    close = difflib.get_close_matches(value, known, n=1) if isinstance(value, str) else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
    return f"is not a {what} (known: {shown or 'none'}){hint}"


def _no_demand_msg(data: _Data, s: int, origin: Any) -> str:
    allowed = [o for o, h in zip(data.origins, data.has_demand[s], strict=True) if h]
    shown = ", ".join(allowed) or "none"
    return (
        f"is not an origin with demand for service {data.services[s]} "
        f"(origins with demand: {shown})"
    )


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def parse_placement_decision(instance: Instance, decision: Any) -> PlacementDecision:
    """Check a decision in plain (JSON) form and turn it into arrays.

    The form is::

        {"model": "placement",                               # optional
         "replicas": {"svc": {"node": 2}},                   # whole numbers >= 0; omitted = 0
         "routing": {"svc": {"origin": {"node": 1.5}}},      # req/s >= 0; omitted = 0
         "dropped": {"svc": {"origin": 0.5}},                # optional, see below
         "nodes_on": {"node": true}}                         # optional, see below

    When ``dropped`` is left out, each (service, origin) drops ``max(0, demand - routed)``;
    when it is given, the pairs it leaves out drop 0. A node left out of ``nodes_on`` (or all
    nodes, when it is absent) is on iff it hosts a replica. Replicas may be given as floats
    with a whole value (``2.0``).

    Parameters
    ----------
    instance : Instance
    decision : mapping
        The decision in plain form.

    Returns
    -------
    PlacementDecision

    Raises
    ------
    DecisionError
        Listing every problem at once, each with its path (e.g.
        ``routing.web.site-1.node-9``) and what is allowed.

    Examples
    --------
    >>> import edgebound
    >>> inst = edgebound.load({
    ...     "name": "tiny",
    ...     "topology": {"nodes": [{"name": "n1", "cpu": 4, "ram_gb": 8}],
    ...                  "sites": [{"name": "s1"}],
    ...                  "links": [{"source": "s1", "target": "n1", "latency_ms": 2}]},
    ...     "services": [{"name": "web", "versions": [
    ...         {"major": 1, "cpu": 1, "ram_gb": 1, "service_rate_rps": 10}]}],
    ...     "workload": {"demands": [{"service": "web", "site": "s1", "rate_rps": 5}]}})
    >>> dec = parse_placement_decision(
    ...     inst, {"replicas": {"web": {"n1": 1}}, "routing": {"web": {"s1": {"n1": 5}}}})
    >>> dec.replicas.tolist(), dec.routing.tolist(), dec.dropped.tolist()
    ([[1]], [[[5.0]]], [[0.0]])
    >>> parse_placement_decision(inst, {"replicas": {"web": {"n2": 1}}})
    Traceback (most recent call last):
    ...
    edgebound.errors.DecisionError: 1 problem in decision:
      replicas.web.n2: is not a node (known: n1)
    """
    data = _data(instance)
    problems: list[Problem] = []
    if not isinstance(decision, Mapping):
        raise DecisionError([Problem("decision", decision, "must be a mapping (a JSON object)")])
    for key in decision:
        if key not in _TOP_KEYS:
            problems.append(Problem(str(key), Problem.MISSING, _unknown(key, _TOP_KEYS, "key")))
    model = decision.get("model", "placement")
    if model != "placement":
        problems.append(Problem("model", model, "must be 'placement' (or left out)"))

    s_idx = {s: k for k, s in enumerate(data.services)}
    o_idx = {o: k for k, o in enumerate(data.origins)}
    n_idx = {n: k for k, n in enumerate(data.nodes)}
    ns, no, nn = len(s_idx), len(o_idx), len(n_idx)
    x = np.zeros((ns, nn), dtype=np.int64)
    r = np.zeros((ns, no, nn))
    d: np.ndarray | None = None
    on_given = np.zeros(nn, dtype=bool)
    on_value = np.zeros(nn, dtype=bool)

    def mapping(path: str, value: Any, shape: str) -> Mapping[Any, Any]:
        if isinstance(value, Mapping):
            return value
        problems.append(Problem(path, value, f"must be a mapping {shape}"))
        return {}

    def service_items(key: str, shape: str) -> Iterable[tuple[str, int, Any]]:
        for svc, inner in mapping(key, decision.get(key, {}), shape).items():
            if svc not in s_idx:
                problems.append(
                    Problem(
                        f"{key}.{svc}", Problem.MISSING, _unknown(svc, data.services, "service")
                    )
                )
                continue
            yield f"{key}.{svc}", s_idx[svc], inner

    def origin_items(path: str, s: int, value: Any, shape: str) -> Iterable[tuple[str, int, Any]]:
        for origin, inner in mapping(path, value, shape).items():
            i = o_idx.get(origin)
            if i is None or not data.has_demand[s, i]:
                problems.append(
                    Problem(f"{path}.{origin}", Problem.MISSING, _no_demand_msg(data, s, origin))
                )
                continue
            yield f"{path}.{origin}", i, inner

    def node_items(path: str, value: Any, shape: str) -> Iterable[tuple[str, int, Any]]:
        for node, inner in mapping(path, value, shape).items():
            if node not in n_idx:
                problems.append(
                    Problem(f"{path}.{node}", Problem.MISSING, _unknown(node, data.nodes, "node"))
                )
                continue
            yield f"{path}.{node}", n_idx[node], inner

    def rate(path: str, value: Any) -> float | None:
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            problems.append(Problem(path, value, "must be a finite rate >= 0 (req/s)"))
            return None
        return float(value)

    for path, s, inner in service_items("replicas", "service -> {node: count}"):
        for npath, n, count in node_items(path, inner, "node -> count"):
            ok = _is_number(count) and math.isfinite(count) and count >= 0
            if not ok or int(count) != count:
                problems.append(Problem(npath, count, "must be a whole number >= 0"))
            else:
                x[s, n] = int(count)

    for path, s, inner in service_items("routing", "service -> {origin: {node: rate}}"):
        for opath, i, by_node in origin_items(path, s, inner, "origin -> {node: rate}"):
            for npath, n, value in node_items(opath, by_node, "node -> rate"):
                v = rate(npath, value)
                if v is not None:
                    r[s, i, n] = v

    if "dropped" in decision:
        d = np.zeros((ns, no))
        for path, s, inner in service_items("dropped", "service -> {origin: rate}"):
            for opath, i, value in origin_items(path, s, inner, "origin -> rate"):
                v = rate(opath, value)
                if v is not None:
                    d[s, i] = v

    if "nodes_on" in decision:
        for npath, n, value in node_items("nodes_on", decision["nodes_on"], "node -> bool"):
            if isinstance(value, (bool, np.bool_)):
                on_given[n] = True
                on_value[n] = bool(value)
            else:
                problems.append(Problem(npath, value, "must be true or false"))

    if problems:
        raise DecisionError(problems)
    on = np.where(on_given, on_value, x.sum(axis=0) > 0)
    return PlacementDecision._make(data, x, r, d, on)


# --------------------------------------------------------------------------- queueing, vectorized


def _erlang_c(c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Erlang C per queue; 1 where unstable (``a >= c``), 0 where ``a == 0 < c``.

    The Erlang B recursion runs once for all queues, each stopping at its own ``c``.
    """
    c = np.asarray(c, dtype=np.int64)
    a = np.asarray(a, dtype=float)
    b = np.ones(a.shape)
    cmax = int(c.max()) if c.size else 0
    for k in range(1, cmax + 1):
        b = np.where(k <= c, a * b / (k + a * b), b)
        # An underflowed b stays 0: stop once every queue still recurring has reached it.
        if k % 64 == 0 and not (b[c > k] > 0).any():
            break
    stable = a < c
    with np.errstate(divide="ignore", invalid="ignore"):
        out = b / (1.0 - (a / np.where(c > 0, c, 1)) * (1.0 - b))
    return np.where(stable, np.where(a == 0, 0.0, out), 1.0)


def _g(y: np.ndarray) -> np.ndarray:
    """``(1 - exp(-y)) / y`` for ``y >= 0``, 1 at 0, without cancellation."""
    pos = y > 0
    return np.where(pos, -np.expm1(-y) / np.where(pos, y, 1.0), 1.0)


def _tail_density(
    t: np.ndarray, mu: np.ndarray, theta: np.ndarray, pw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``P(T > t)`` and the density of T for stable M/M/c sojourn times, elementwise.

    With probability ``1 - pw`` T is Exp(mu); otherwise Exp(mu) + Exp(theta), whose tail
    ``(mu e^{-theta t} - theta e^{-mu t}) / (mu - theta)`` and density
    ``mu theta (e^{-mu t} - e^{-theta t}) / (theta - mu)`` are rewritten with
    ``h = t e^{-m t} g(|mu - theta| t)``, ``m = min(mu, theta)``, as ``e^{-mu t} + mu h`` and
    ``mu theta h``: the same values, with no cancellation when theta is close to mu.
    Times are in the unit of ``1 / mu`` (seconds for rates in req/s).
    """
    tp = np.maximum(t, 0.0)
    serv = np.exp(-mu * tp)
    h = tp * np.exp(-np.minimum(mu, theta) * tp) * _g(np.abs(mu - theta) * tp)
    tail = serv + pw * mu * h
    dens = (1.0 - pw) * mu * serv + pw * mu * theta * h
    before = t < 0
    return np.where(before, 1.0, np.minimum(tail, 1.0)), np.where(before, 0.0, dens)


def _tail(t: np.ndarray, mu: np.ndarray, theta: np.ndarray, pw: np.ndarray) -> np.ndarray:
    """``P(T > t)`` of stable M/M/c sojourn times, elementwise (see :func:`_tail_density`)."""
    return _tail_density(t, mu, theta, pw)[0]


def _solve(
    tail_density: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    lo: np.ndarray,
    hi: np.ndarray,
    target: float,
) -> np.ndarray:
    """Solve ``tail(t) = target`` elementwise for a decreasing tail with a bracketing root.

    Needs ``tail(lo) > target``; ``hi`` is moved up until ``tail(hi) <= target``. Newton steps
    use the exact density and fall back to bisection whenever they leave the bracket, so
    the iteration cannot diverge; it stops when the last step or the bracket is below
    1e-14 relative, i.e. at the root to rounding.
    """
    lo = np.array(lo, dtype=float)
    hi = np.array(hi, dtype=float)
    for _ in range(2000):
        above = tail_density(hi)[0] > target
        if not above.any():
            break
        width = hi - lo
        lo = np.where(above, hi, lo)
        hi = np.where(above, hi + 2.0 * np.maximum(width, 1e-12), hi)
    t = 0.5 * (lo + hi)
    for _ in range(300):
        tail, dens = tail_density(t)
        above = tail > target
        lo = np.where(above, t, lo)
        hi = np.where(above, hi, t)
        safe = dens > 0
        newton = t + (tail - target) / np.where(safe, dens, 1.0)
        inside = safe & (newton >= lo) & (newton <= hi)
        new = np.where(inside, newton, 0.5 * (lo + hi))
        scale = np.maximum(np.abs(new), 1e-300)
        done = (np.abs(new - t) <= 1e-14 * scale) | (hi - lo <= 1e-14 * scale)
        t = new
        if done.all():
            break
    return t


# --------------------------------------------------------------------------- evaluation


def evaluate_placement(
    instance: Instance, decision: Mapping[str, Any] | PlacementDecision, *, tol: float = 1e-9
) -> Evaluation:
    """Evaluate a placement decision: objectives, violated constraints and a breakdown.

    The semantics are those of the module documentation (:mod:`edgebound.evaluate.placement`).

    Parameters
    ----------
    instance : Instance
    decision : mapping or PlacementDecision
        The plain form (see :func:`parse_placement_decision`) or an already parsed decision;
        passing the parsed form skips the checks of the plain one, which helps in loops.
    tol : float, optional
        Relative tolerance of every limit: a value counts as past a limit only if it exceeds
        it by more than ``tol * max(1, |limit|)``.

    Returns
    -------
    Evaluation
        ``family == "placement"``; objectives latency, p95_latency, energy, power,
        throughput, cost, dropped, migrations and weighted; ``details`` holds ``nodes``,
        ``services`` and ``queues`` breakdowns.

    Raises
    ------
    DecisionError
        If the decision does not match the instance.

    Examples
    --------
    One replica serving 5 of 10 req/s, 2 ms away: an M/M/1 queue with mean sojourn
    ``1 / (10 - 5) s = 200 ms``.

    >>> import edgebound
    >>> inst = edgebound.load({
    ...     "name": "tiny",
    ...     "topology": {"nodes": [{"name": "n1", "cpu": 4, "ram_gb": 8,
    ...                             "idle_power_w": 50, "dynamic_power_w": 100}],
    ...                  "sites": [{"name": "s1"}],
    ...                  "links": [{"source": "s1", "target": "n1", "latency_ms": 2}]},
    ...     "services": [{"name": "web", "versions": [
    ...         {"major": 1, "cpu": 1, "ram_gb": 1, "service_rate_rps": 10}]}],
    ...     "workload": {"demands": [{"service": "web", "site": "s1", "rate_rps": 5}]}})
    >>> ev = evaluate_placement(
    ...     inst, {"replicas": {"web": {"n1": 1}}, "routing": {"web": {"s1": {"n1": 5}}}})
    >>> round(ev.objectives["latency"], 9), ev.feasible
    (202.0, True)
    >>> ev.objectives["power"]  # 50 W + 100 W * (1 vCPU * 0.5 busy / 4 vCPU)
    62.5
    """
    data = _data(instance)
    if isinstance(decision, PlacementDecision):
        if (decision.services, decision.origins, decision.nodes) != (
            data.services,
            data.origins,
            data.nodes,
        ):
            raise DecisionError(
                [
                    Problem(
                        "decision",
                        Problem.MISSING,
                        "was built for another instance (its services, origins or nodes differ)",
                    )
                ]
            )
        dec = decision
    else:
        dec = parse_placement_decision(instance, decision)
    return _evaluate(instance, data, dec, tol)


def _fmt(v: float) -> str:
    return f"{v:.6g}"


@dataclass(frozen=True)
class _Measured:
    """The objectives of a decision and the per-queue and per-node arrays behind them."""

    objectives: dict[str, float]
    load: np.ndarray  # (S, N) req/s
    active: np.ndarray  # (S, N) bool
    stable: np.ndarray  # (S, N) bool
    theta: np.ndarray  # (S, N) x mu - load
    pw: np.ndarray  # (S, N) probability of waiting
    soj_ms: np.ndarray  # (S, N) mean sojourn, ms
    u: np.ndarray  # (N,) CPU utilization
    g: np.ndarray  # (N,) GPU utilization
    cpu_w: np.ndarray  # (N,)
    gpu_w: np.ndarray  # (N,) per GPU
    has_gpu: np.ndarray  # (N,) bool
    node_w: np.ndarray  # (N,)


def _measure(inst: Instance, data: _Data, dec: PlacementDecision, *, p95: bool = True) -> _Measured:
    """Every objective of a decision, without checking it; :func:`_evaluate` adds the
    checks. ``p95=False`` skips the costliest objective: ``p95_latency`` is then nan, and
    so is ``weighted`` when it weighs ``p95_latency``."""
    pol = inst.policy
    x = dec.replicas.astype(float)
    r = dec.routing
    d = dec.dropped
    on = dec.nodes_on
    mu = data.mu

    # --- queues
    load = r.sum(axis=1)  # (S, N)
    active = load > 0
    stable = load < x * mu[:, None]
    a = load / mu[:, None]
    pw = np.zeros_like(load)
    sel = active & stable
    if sel.any():
        pw[sel] = _erlang_c(dec.replicas[sel], a[sel])
    theta = x * mu[:, None] - load
    with np.errstate(divide="ignore", invalid="ignore"):
        wait = np.where(sel, pw / np.where(sel, theta, 1.0), 0.0)
    soj_ms = np.where(stable | ~active, 1000.0 * (wait + 1.0 / mu[:, None]), np.inf)

    # --- served streams and latency
    streams = np.nonzero(r > 0)
    rk = r[streams]
    served = float(rk.sum())
    s_k, i_k, n_k = streams
    lat_k = data.net_ms[i_k, n_k] + soj_ms[s_k, n_k]
    if served == 0:
        latency = 0.0
        p95_ms = 0.0
    elif not np.all(np.isfinite(lat_k)):
        latency = p95_ms = math.inf
    else:
        latency = float(rk @ lat_k) / served
        p95_ms = math.nan
        if p95:
            p95_ms = _mixture_quantile(
                _P95,
                rk / served,
                data.net_ms[i_k, n_k] / 1000.0,
                mu[s_k],
                theta[s_k, n_k],
                pw[s_k, n_k],
            )

    # --- power
    busy = a  # expected busy replicas of each queue
    cpu_cap, gpu_cap = data.cap["cpu"], data.cap["gpus"]
    cpu_busy = (busy * data.need["cpu"][:, None]).sum(axis=0)
    gpu_busy = (busy * data.need["gpus"][:, None]).sum(axis=0)
    u = _ratio(cpu_busy, cpu_cap)
    g = _ratio(gpu_busy, gpu_cap)
    cpu_w = np.where(on, data.idle_w + _times(data.dyn_w, u), 0.0)
    has_gpu = on & (gpu_cap > 0)
    gpu_w = np.where(has_gpu, data.gpu_idle_w + _times(data.gpu_dyn_w, g), 0.0)
    node_w = cpu_w + np.where(has_gpu, gpu_cap * gpu_w, 0.0)
    power = float(node_w.sum())
    # Energy per request of a powered system that serves nothing is unbounded.
    energy = power / served if served > 0 else (math.inf if power > 0 else 0.0)

    # --- cost, migrations, dropped
    per_replica = np.outer(data.need["cpu"], data.cost_vcpu) + np.outer(
        data.need["gpus"], data.cost_gpu
    )
    cost = float((x * per_replica).sum())
    migrations = float(np.maximum(0.0, x - data.x_prev).sum())
    dropped = float(d.sum())

    objectives = {
        "latency": latency,
        "p95_latency": p95_ms,
        "energy": energy,
        "power": power,
        "throughput": served,
        "cost": cost,
        "dropped": dropped,
        "migrations": migrations,
    }
    weighted = 0.0
    for name in _WEIGHTED:
        w = pol.weights.get(name, 0.0)
        if w > 0:
            weighted += w * objectives[name]
    objectives["weighted"] = weighted
    return _Measured(
        objectives, load, active, stable, theta, pw, soj_ms, u, g, cpu_w, gpu_w, has_gpu, node_w
    )


def _evaluate(inst: Instance, data: _Data, dec: PlacementDecision, tol: float) -> Evaluation:
    pol = inst.policy
    x = dec.replicas.astype(float)
    r = dec.routing
    d = dec.dropped
    on = dec.nodes_on
    mu = data.mu
    svc, org, nod = data.services, data.origins, data.nodes
    viol: list[Violation] = []

    def past(value: np.ndarray, limit: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return value - limit > tol * np.maximum(1.0, np.abs(limit))

    m = _measure(inst, data, dec)
    objectives = m.objectives
    load, active, stable, theta, pw = m.load, m.active, m.stable, m.theta, m.pw
    soj_ms, u, g, cpu_w, gpu_w, has_gpu, node_w = (
        m.soj_ms,
        m.u,
        m.g,
        m.cpu_w,
        m.gpu_w,
        m.has_gpu,
        m.node_w,
    )
    migrations = objectives["migrations"]

    # --- violations
    routed = r.sum(axis=2)
    gap = routed + d - data.lam
    for s, i in zip(*np.nonzero(np.abs(gap) > tol * np.maximum(1.0, data.lam)), strict=True):
        viol.append(
            Violation(
                "demand_balance",
                f"service {svc[s]} from {org[i]}",
                float(abs(gap[s, i])),
                "req/s",
                f"service {svc[s]} from {org[i]}: routed {_fmt(routed[s, i])} + dropped "
                f"{_fmt(d[s, i])} req/s != demand {_fmt(data.lam[s, i])} req/s",
            )
        )
    for s, n in zip(*np.nonzero(active & (dec.replicas == 0)), strict=True):
        viol.append(
            Violation(
                "routing",
                f"service {svc[s]} on node {nod[n]}",
                float(load[s, n]),
                "req/s",
                f"{_fmt(load[s, n])} req/s of service {svc[s]} sent to node {nod[n]}, "
                "which hosts no replica of it",
            )
        )
    limit = pol.max_utilization * x * mu[:, None]
    for s, n in zip(*np.nonzero((dec.replicas > 0) & past(load, limit)), strict=True):
        viol.append(
            Violation(
                "stability",
                f"service {svc[s]} on node {nod[n]}",
                float(load[s, n] - limit[s, n]),
                "req/s",
                f"service {svc[s]} on node {nod[n]}: load {_fmt(load[s, n])} req/s > "
                f"{pol.max_utilization:g} x {dec.replicas[s, n]} replicas x {_fmt(mu[s])} req/s"
                f" = {_fmt(limit[s, n])} req/s",
            )
        )
    unreachable = (r > 0) & ~np.isfinite(data.net_ms)[None, :, :]
    for s, i, n in zip(*np.nonzero(unreachable), strict=True):
        viol.append(
            Violation(
                "connectivity",
                f"service {svc[s]} from {org[i]} to node {nod[n]}",
                float(r[s, i, n]),
                "req/s",
                f"{_fmt(r[s, i, n])} req/s of service {svc[s]} routed from {org[i]} to node "
                f"{nod[n]}, but there is no path between them",
            )
        )
    viol += _slo_violations(inst, data, dec, load, theta, pw, stable, tol)
    for res, unit, label in _RESOURCES:
        used = (x * data.need[res][:, None]).sum(axis=0)
        cap = data.cap[res]
        for n in np.nonzero(past(used, cap))[0]:
            viol.append(
                Violation(
                    f"capacity.{res}",
                    f"node {nod[n]}",
                    float(used[n] - cap[n]),
                    unit,
                    f"node {nod[n]} {label}: {_fmt(used[n])} {unit} used > {_fmt(cap[n])} {unit}",
                )
            )
    for s, n in zip(*np.nonzero((dec.replicas > 0) & ~data.allowed), strict=True):
        region = inst.topology.nodes[n].region
        allowed = ", ".join(inst.services[s].allowed_regions or ())
        viol.append(
            Violation(
                "residency",
                f"service {svc[s]} on node {nod[n]}",
                float(dec.replicas[s, n]),
                "replica",
                f"{dec.replicas[s, n]} replicas of service {svc[s]} on node {nod[n]} in region "
                f"{region}; allowed regions: {allowed}",
            )
        )
    capped = ~np.isnan(data.power_cap_w)
    for n in np.nonzero(capped & past(cpu_w, np.where(capped, data.power_cap_w, 0.0)))[0]:
        viol.append(
            Violation(
                "power_cap",
                f"node {nod[n]}",
                float(cpu_w[n] - data.power_cap_w[n]),
                "W",
                f"node {nod[n]} CPU-side power {_fmt(cpu_w[n])} W > cap "
                f"{_fmt(data.power_cap_w[n])} W",
            )
        )
    gcapped = has_gpu & ~np.isnan(data.gpu_power_cap_w)
    for n in np.nonzero(gcapped & past(gpu_w, np.where(gcapped, data.gpu_power_cap_w, 0.0)))[0]:
        viol.append(
            Violation(
                "gpu_power_cap",
                f"node {nod[n]}",
                float(gpu_w[n] - data.gpu_power_cap_w[n]),
                "W",
                f"node {nod[n]} power per GPU {_fmt(gpu_w[n])} W > cap "
                f"{_fmt(data.gpu_power_cap_w[n])} W",
            )
        )
    reps_n = dec.replicas.sum(axis=0)
    load_n = load.sum(axis=0)
    for n in np.nonzero(~on & ((reps_n > 0) | (load_n > 0)))[0]:
        if reps_n[n] > 0:
            amount, unit = float(reps_n[n]), "replica"
            what = f"{reps_n[n]} replicas"
        else:
            amount, unit = float(load_n[n]), "req/s"
            what = f"{_fmt(load_n[n])} req/s"
        viol.append(
            Violation(
                "node_off", f"node {nod[n]}", amount, unit, f"node {nod[n]} is off but has {what}"
            )
        )
    budget = pol.migration_budget
    if budget is not None and migrations - budget > tol * max(1.0, budget):
        viol.append(
            Violation(
                "migration_budget",
                "placement",
                migrations - budget,
                "replica",
                f"{migrations:g} replicas started relative to state.placement > budget {budget}",
            )
        )

    details = _details(data, dec, load, soj_ms, on, u, g, cpu_w, gpu_w, node_w)
    return Evaluation(
        family="placement",
        objectives=objectives,
        units=dict(PLACEMENT_UNITS),
        senses=dict(PLACEMENT_SENSES),
        violations=tuple(viol),
        details=details,
    )


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, with 0/0 = 0 and x/0 = inf (a load on a node without that resource)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, 0.0))


def _times(w: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``w * u`` with ``0 * inf = 0``: no dynamic power, no power from an impossible load."""
    with np.errstate(invalid="ignore"):
        return np.where(w > 0, w * u, 0.0)


def _mixture_quantile(
    q: float,
    w: np.ndarray,
    net_s: np.ndarray,
    mu: np.ndarray,
    theta: np.ndarray,
    pw: np.ndarray,
) -> float:
    """The q-quantile (ms) of ``net_k + T_k`` with component weights ``w`` (all stable)."""

    def tail_density(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tail, dens = _tail_density(t - net_s, mu, theta, pw)
        return np.asarray(w @ tail), np.asarray(w @ dens)

    # Below every network latency all of the mass is still to come; above _upper every
    # component is past the quantile, hence so is the mixture.
    lo = np.array(net_s.min())
    hi = np.array((net_s + _upper(1.0 - q, mu, theta)).max())
    return 1000.0 * float(_solve(tail_density, lo, hi, 1.0 - q))


def _queue_quantiles(q: float, mu: np.ndarray, theta: np.ndarray, pw: np.ndarray) -> np.ndarray:
    """The q-quantile (s) of the sojourn of each of a batch of stable M/M/c queues."""

    def tail_density(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _tail_density(t, mu, theta, pw)

    return _solve(tail_density, np.zeros_like(mu), _upper(1.0 - q, mu, theta), 1.0 - q)


def _upper(target: float, mu: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """A time by which each sojourn tail is at most ``target``.

    T is stochastically below Exp(m) + Exp(m), ``m = min(mu, theta)``, whose tail
    ``(1 + m t) e^{-m t}`` is below ``2 e^{-m t / 2}``; that is ``target`` at
    ``2 ln(2 / target) / m``.
    """
    return 2.0 * math.log(2.0 / target) / np.minimum(mu, theta)


def _slo_violations(
    inst: Instance,
    data: _Data,
    dec: PlacementDecision,
    load: np.ndarray,
    theta: np.ndarray,
    pw: np.ndarray,
    stable: np.ndarray,
    tol: float,
) -> list[Violation]:
    q = inst.policy.slo_quantile
    has_slo = ~np.isnan(data.slo_ms)
    if not has_slo.any():
        return []
    quant_ms = np.full(load.shape, np.inf)
    sel = has_slo[:, None] & (load > 0) & stable
    if sel.any():
        s_q = np.nonzero(sel)[0]
        quant_ms[sel] = 1000.0 * _queue_quantiles(q, data.mu[s_q], theta[sel], pw[sel])
    out = []
    streams = (dec.routing > 0) & has_slo[:, None, None]
    for s, i, n in zip(*np.nonzero(streams), strict=True):
        net = data.net_ms[i, n]
        total = net + quant_ms[s, n]
        slo = data.slo_ms[s]
        if total - slo > tol * max(1.0, slo):
            out.append(
                Violation(
                    "slo",
                    f"service {data.services[s]} from {data.origins[i]} on node {data.nodes[n]}",
                    float(total - slo),
                    "ms",
                    f"service {data.services[s]} from {data.origins[i]} on node "
                    f"{data.nodes[n]}: {q:g}-quantile latency {_fmt(total)} ms (network "
                    f"{_fmt(net)} + queue {_fmt(quant_ms[s, n])}) > SLO {_fmt(slo)} ms",
                )
            )
    return out


def _js(v: Any) -> Any:
    """A JSON-safe Python scalar: numpy types unwrapped, non-finite floats as strings."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    f = float(v)
    if math.isfinite(f):
        return f
    return "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")


def _details(
    data: _Data,
    dec: PlacementDecision,
    load: np.ndarray,
    soj_ms: np.ndarray,
    on: np.ndarray,
    u: np.ndarray,
    g: np.ndarray,
    cpu_w: np.ndarray,
    gpu_w: np.ndarray,
    node_w: np.ndarray,
) -> dict[str, Any]:
    x = dec.replicas
    nodes: dict[str, Any] = {}
    used = {res: (x * data.need[res][:, None]).sum(axis=0) for res, _, _ in _RESOURCES}
    for n, name in enumerate(data.nodes):
        entry: dict[str, Any] = {"on": _js(on[n])}
        for res, _, _ in _RESOURCES:
            entry[f"{res}_used"] = _js(used[res][n])
            entry[f"{res}_capacity"] = _js(data.cap[res][n])
        entry["utilization"] = _js(u[n])
        entry["gpu_utilization"] = _js(g[n])
        entry["cpu_power_w"] = _js(cpu_w[n])
        entry["gpu_power_w"] = _js(gpu_w[n])
        entry["power_w"] = _js(node_w[n])
        nodes[name] = entry
    services: dict[str, Any] = {}
    queues: dict[str, Any] = {}
    for s, name in enumerate(data.services):
        rs = dec.routing[s]
        served = float(rs.sum())
        pos = rs > 0
        lat = data.net_ms + soj_ms[s][None, :]
        if served == 0:
            mean = 0.0
        elif not np.all(np.isfinite(lat[pos])):
            mean = math.inf
        else:
            mean = float((rs[pos] * lat[pos]).sum()) / served
        services[name] = {
            "demand_rps": _js(data.lam[s].sum()),
            "served_rps": _js(served),
            "dropped_rps": _js(dec.dropped[s].sum()),
            "replicas": _js(x[s].sum()),
            "mean_latency_ms": _js(mean),
        }
        qs = {}
        for m in np.nonzero((x[s] > 0) | (load[s] > 0))[0]:
            rate_cap = float(x[s, m] * data.mu[s])
            qs[data.nodes[m]] = {
                "replicas": _js(x[s, m]),
                "load_rps": _js(load[s, m]),
                "utilization": _js(load[s, m] / rate_cap if rate_cap > 0 else math.inf),
                "mean_sojourn_ms": _js(soj_ms[s, m]),
            }
        if qs:
            queues[name] = qs
    return {"nodes": nodes, "services": services, "queues": queues}
