"""What a controller of the continuum plant sees and does.

Axis orders everywhere: ``s`` services (``instance.service_names``), ``i`` origins
(:func:`~edgebound.evaluate.placement.placement_origins`), ``n`` nodes
(``instance.node_names``), ``t`` control periods (``workload.step_s`` each).

A controller satisfies :class:`Controller`: ``reset(instance, rng)`` once per run, then
``act(observation) -> PlantAction`` at the start of every control period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from edgebound.errors import DecisionError, Problem
from edgebound.evaluate.placement import PlacementDecision, _data, parse_placement_decision
from edgebound.instances import Instance

__all__ = [
    "Controller",
    "PlantAction",
    "PlantObservation",
    "StepInfo",
    "demand_matrix",
    "migration_caps",
]


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class PlantAction:
    """What a controller asks for at the start of a control period.

    Attributes
    ----------
    replicas : ndarray of int, shape (S, N)
        Target replica count of each service on each node. Increases start replicas that
        serve only after the service's ``spawn_time_ms``; decreases are immediate.
    routing : ndarray of float, shape (S, I, N)
        Share of origin i's requests for service s sent to node n; ``sum_n <= 1``, the rest
        is dropped (admission control).
    nodes_on : ndarray of bool, shape (N,), optional
        Which nodes are on; by default a node is on iff it hosts a replica (serving or
        spawning).
    interventions : int
        How many entries of the action a safety shield changed (reported, not used).

    Examples
    --------
    >>> import numpy as np
    >>> a = PlantAction(np.array([[2]]), np.array([[[0.5]]]))
    >>> a.replicas.tolist(), a.routing.tolist(), a.nodes_on, a.interventions
    ([[2]], [[[0.5]]], None, 0)
    """

    replicas: np.ndarray
    routing: np.ndarray
    nodes_on: np.ndarray | None = None
    interventions: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "replicas", _frozen(np.asarray(self.replicas)))
        object.__setattr__(self, "routing", _frozen(np.asarray(self.routing, dtype=float)))
        if self.nodes_on is not None:
            object.__setattr__(self, "nodes_on", _frozen(np.asarray(self.nodes_on, dtype=bool)))

    @classmethod
    def from_decision(
        cls,
        instance: Instance,
        decision: PlacementDecision | Mapping[str, Any],
        *,
        interventions: int = 0,
    ) -> PlantAction:
        """The action that applies a placement decision: its rates become shares.

        The share of (s, i, n) is the routed rate over the decision's demand of (s, i),
        ``sum_n routing + dropped``; pairs with no demand get no share.

        Parameters
        ----------
        instance : Instance
        decision : PlacementDecision or mapping
            A parsed decision, or its plain form (for example a MILP's decoded decision).
        interventions : int

        Returns
        -------
        PlantAction

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
        >>> a = PlantAction.from_decision(
        ...     inst, {"replicas": {"web": {"n1": 1}}, "routing": {"web": {"s1": {"n1": 4}}}})
        >>> a.routing.tolist()  # 4 of the 5 req/s
        [[[0.8]]]
        """
        dec = (
            decision
            if isinstance(decision, PlacementDecision)
            else parse_placement_decision(instance, decision)
        )
        demand = dec.routing.sum(axis=2) + dec.dropped
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = np.where(
                demand[:, :, None] > 0,
                dec.routing / np.where(demand > 0, demand, 1.0)[:, :, None],
                0.0,
            )
        return cls(
            dec.replicas.astype(np.int64),
            shares,
            np.array(dec.nodes_on, dtype=bool),
            interventions,
        )


@dataclass(frozen=True, eq=False)
class PlantObservation:
    """What a controller sees at the start of control period ``period``.

    Everything about the past is measured by the plant (sampled arrivals, simulated queues),
    never the true rates.

    Attributes
    ----------
    period : int
        t, 0-based.
    time_s : float
        Simulated time at the start of the period.
    demand_history : ndarray, shape (S, I, t)
        Observed mean arrival rate of each past period, req/s.
    replicas : ndarray of int, shape (S, N)
        Replicas serving now.
    pending : ndarray of int, shape (S, N)
        Replicas still spawning.
    utilization : ndarray, shape (S, N)
        Last period's mean busy share of each queue (served rate over ``c mu``; 0 where no
        replica served).
    power_w : ndarray, shape (N,)
        Last period's mean power draw of each node.
    p95_ms : ndarray, shape (S,)
        Last period's 95th-percentile end-to-end latency of each service (nan if it served
        nothing).
    dropped : ndarray, shape (S, I)
        Last period's dropped rate, req/s.
    prev_action : PlantAction or None
        The action of the previous period.
    """

    period: int
    time_s: float
    demand_history: np.ndarray
    replicas: np.ndarray
    pending: np.ndarray
    utilization: np.ndarray
    power_w: np.ndarray
    p95_ms: np.ndarray
    dropped: np.ndarray
    prev_action: PlantAction | None = field(default=None)


@dataclass(frozen=True, eq=False)
class StepInfo:
    """What happened in one control period.

    Attributes
    ----------
    period : int
    arrivals, served, dropped : ndarray, shape (S, I)
        Requests that arrived, were admitted to a queue, and were dropped (admission
        control, no ready replica, backlog lost with its replicas).
    late : ndarray, shape (S,)
        Expected number of admitted requests over their service's SLO.
    latency_sum_ms : ndarray, shape (S,)
        Sum of the admitted requests' expected latencies (mean latency = this / served).
    p95_ms : ndarray, shape (S,)
        95th-percentile latency of each service's admitted requests (nan if none).
    p95_all_ms : float
        Over all services' admitted requests.
    power_w : ndarray, shape (N,)
        Mean power of each node.
    energy_j : float
    cost_usd : float
    utilization : ndarray, shape (S, N)
        Mean busy share of each queue over the slots it had a serving replica.
    migrations : ndarray of int, shape (S,)
        Replicas started.
    migration_cap_violations : int
        Services that started more than their cap.
    power_cap_violations : int
        Node-slots above a power cap.
    replicas : ndarray of int, shape (S, N)
        Replicas serving at the end of the period.
    backlog : float
        Requests in fluid backlog at the end of the period.
    interventions : int
        The action's shield interventions.
    """

    period: int
    arrivals: np.ndarray
    served: np.ndarray
    dropped: np.ndarray
    late: np.ndarray
    latency_sum_ms: np.ndarray
    p95_ms: np.ndarray
    p95_all_ms: float
    power_w: np.ndarray
    energy_j: float
    cost_usd: float
    utilization: np.ndarray
    migrations: np.ndarray
    migration_cap_violations: int
    power_cap_violations: int
    replicas: np.ndarray
    backlog: float
    interventions: int


@runtime_checkable
class Controller(Protocol):
    """A controller of the continuum plant.

    ``reset`` is called once per run with the instance and a seeded generator (the only
    randomness a controller may use); ``act`` at the start of every control period.
    """

    name: str

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        """Prepare for a new run."""

    def act(self, obs: PlantObservation) -> PlantAction:
        """The action for the period that starts now."""
        ...


def demand_matrix(instance: Instance, series: np.ndarray) -> np.ndarray:
    """Map a (demands x T) series onto the plant's axes: array (S, I, T), req/s.

    Parameters
    ----------
    instance : Instance
    series : ndarray, shape (demands, T)
        One row per ``workload.demands`` entry, as
        :func:`~edgebound.instances.traces.demand_series` returns.

    Returns
    -------
    ndarray, shape (S, I, T)

    Raises
    ------
    DecisionError
        If the series does not have one row per demand or holds negative or non-finite
        rates.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> from edgebound.instances.traces import demand_series
    >>> inst = load("continuum-3edge-2cloud")
    >>> demand_matrix(inst, demand_series(inst)).shape
    (6, 6, 72)
    """
    data = _data(instance)
    arr = np.asarray(series, dtype=float)
    n_dem = len(instance.workload.demands)
    if arr.ndim != 2 or arr.shape[0] != n_dem:
        raise DecisionError(
            [Problem("demand.shape", arr.shape, f"must be ({n_dem}, T): one row per demand")]
        )
    if not np.all(np.isfinite(arr)) or (arr < 0).any():
        raise DecisionError(
            [Problem("demand", "negative or non-finite", "rates must be finite and >= 0 req/s")]
        )
    s_idx = {s: k for k, s in enumerate(data.services)}
    o_idx = {o: k for k, o in enumerate(data.origins)}
    master = instance.topology.master
    out = np.zeros((len(data.services), len(data.origins), arr.shape[1]))
    for row, dem in enumerate(instance.workload.demands):
        origin = dem.site if dem.site is not None else master
        if dem.service in s_idx and origin in o_idx:
            out[s_idx[dem.service], o_idx[origin]] += arr[row]
    return out


def migration_caps(instance: Instance, per_minute: float | None = None) -> np.ndarray:
    """Most replicas each service may start in one control period, shape (S,).

    The cap is a rate, ``per_minute`` replica starts per service per minute; since an action
    starts replicas only at the start of a period, it is measured over the period:
    ``per_minute * step_s / 60``. By default ``per_minute`` spreads
    ``policy.migration_budget`` (replicas per period, all services) evenly over the services
    and the period's minutes; with no budget there is no cap (``inf``).

    Parameters
    ----------
    instance : Instance
    per_minute : float, optional

    Returns
    -------
    ndarray, shape (S,)

    Examples
    --------
    The bundled instance: a budget of 60 per 5-minute period over 6 services is 2 starts per
    service per minute, 10 per period.

    >>> from edgebound.instances import load
    >>> migration_caps(load("continuum-3edge-2cloud")).tolist()
    [10.0, 10.0, 10.0, 10.0, 10.0, 10.0]
    """
    n_s = len(instance.services)
    minutes = instance.workload.step_s / 60.0
    if per_minute is None:
        budget = instance.policy.migration_budget
        if budget is None:
            return np.full(n_s, np.inf)
        per_minute = budget / n_s / minutes
    if not per_minute >= 0:
        raise DecisionError(
            [Problem("migration_cap_per_min", per_minute, "must be >= 0 replicas per minute")]
        )
    return np.full(n_s, float(per_minute) * minutes)
