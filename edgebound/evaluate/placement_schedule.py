"""Evaluator of multi-period placement schedules: one placement decision per period.

Period t is the static placement problem (:mod:`edgebound.evaluate.placement`) with the
period's demand and, as the previous placement that migrations count against, the replicas
of period t-1 (period 0: ``instance.state.placement``). Periods have equal length
(``workload.step_s``). The schedule's objectives aggregate the periods':

================  ==========================================================================
``weighted``      mean over periods of each period's weighted objective
``latency``       request-weighted mean over periods (ms)
``p95_latency``   the largest period p95 (ms)
``energy``        total energy over total requests served (J/req)
``power``         mean power (W)
``throughput``    mean served rate (req/s)
``cost``          mean cost rate (USD/h)
``dropped``       mean dropped rate (req/s)
``migrations``    replicas started over the whole horizon
================  ==========================================================================

Demand is an array with one row per entry of ``workload.demands`` and one column per
period, as :func:`edgebound.instances.traces.demand_series` returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgebound.errors import DecisionError, Problem
from edgebound.evaluate.common import Evaluation, Violation
from edgebound.evaluate.placement import (
    PLACEMENT_SENSES,
    PLACEMENT_UNITS,
    PlacementDecision,
    _data,
    evaluate_placement,
    parse_placement_decision,
)
from edgebound.instances.schema import Instance

__all__ = [
    "SCHEDULE_UNITS",
    "evaluate_placement_schedule",
    "period_instance",
    "period_rates",
    "schedule_demand",
]

SCHEDULE_UNITS: dict[str, str] = {**PLACEMENT_UNITS, "weighted": "1 (per period)"}
"""Unit of each schedule objective."""


def schedule_demand(
    instance: Instance, demand: Any = None, periods: int | None = None
) -> np.ndarray:
    """The demand series of a schedule, checked: array (demands x periods), req/s.

    Parameters
    ----------
    instance : Instance
    demand : array_like, optional
        Default: the workload's series (:func:`~edgebound.instances.traces.demand_series`)
        over ``periods`` (default ``workload.horizon_steps``).
    periods : int, optional

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    DecisionError
        A wrong shape, or a negative or non-finite rate.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> schedule_demand(load("continuum-3edge-2cloud"), periods=3).shape
    (18, 3)
    """
    from edgebound.instances.traces import demand_series

    if demand is None:
        return demand_series(instance, periods)
    n_dem = len(instance.workload.demands)
    try:
        arr = np.asarray(demand, dtype=float)
    except (TypeError, ValueError):
        raise DecisionError(
            [Problem("demand", "...", "must be an array of rates (demands x periods)")]
        ) from None
    if arr.ndim == 1 and n_dem == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] != n_dem or arr.shape[1] < 1:
        raise DecisionError(
            [
                Problem(
                    "demand.shape",
                    arr.shape,
                    f"must be ({n_dem}, periods): one row per workload demand",
                )
            ]
        )
    if periods is not None and arr.shape[1] != periods:
        raise DecisionError(
            [Problem("demand.shape", arr.shape, f"must have {periods} periods (columns)")]
        )
    if not np.all(np.isfinite(arr)) or (arr < 0).any():
        raise DecisionError([Problem("demand", "...", "every rate must be finite and >= 0 req/s")])
    return arr


def period_rates(instance: Instance, demand: np.ndarray) -> np.ndarray:
    """Demand of every period on the placement axes: array (periods, S, I).

    Examples
    --------
    >>> import numpy as np
    >>> from edgebound.instances import load
    >>> inst = load("continuum-3edge-2cloud")
    >>> lam = period_rates(inst, schedule_demand(inst, periods=2))
    >>> lam.shape
    (2, 6, 6)
    """
    d = _data(instance)
    s_idx = {s: k for k, s in enumerate(d.services)}
    o_idx = {o: k for k, o in enumerate(d.origins)}
    master = instance.topology.master
    out = np.zeros((demand.shape[1], len(d.services), len(d.origins)))
    for k, dem in enumerate(instance.workload.demands):
        origin = dem.site if dem.site is not None else master
        if dem.service in s_idx and origin in o_idx:
            out[:, s_idx[dem.service], o_idx[origin]] = demand[k]
    return out


def period_instance(
    instance: Instance, rates: np.ndarray, replicas: np.ndarray | None = None
) -> Instance:
    """The static instance of one period: constant demand ``rates`` (one per demand) and,
    when given, ``replicas`` (S, N) as the previous placement.

    Examples
    --------
    >>> import numpy as np
    >>> from edgebound.instances import load
    >>> inst = load("continuum-3edge-2cloud")
    >>> view = period_instance(inst, np.ones(len(inst.workload.demands)))
    >>> view.workload.demands[0].rate_rps, view.workload.demands[0].profile is None
    (1.0, True)
    """
    data = instance.model_dump()
    data["workload"]["demands"] = [
        {**dem, "rate_rps": float(v), "profile": None}
        for dem, v in zip(data["workload"]["demands"], rates, strict=True)
    ]
    data["workload"]["horizon_steps"] = 1
    if replicas is not None:
        names = _data(instance)
        data["state"]["placement"] = [
            {"service": names.services[s], "node": names.nodes[n], "count": int(replicas[s, n])}
            for s, n in zip(*np.nonzero(replicas), strict=True)
        ]
    return Instance.model_validate(data)


def evaluate_placement_schedule(
    instance: Instance,
    schedule: Mapping[str, Any] | Sequence[Any],
    demand: Any = None,
) -> Evaluation:
    """Evaluate a multi-period placement schedule.

    Parameters
    ----------
    instance : Instance
    schedule : mapping or sequence
        ``{"model": "placement_schedule", "periods": [decision_0, ...]}`` or the list of
        per-period decisions, each a placement decision in plain form or a
        :class:`~edgebound.evaluate.placement.PlacementDecision`.
    demand : array_like, optional
        Demands x periods, req/s; default the workload's series over as many periods as the
        schedule has.

    Returns
    -------
    Evaluation
        Objectives as in the module table; ``details["periods"]`` holds each period's
        objectives; violations name their period.

    Raises
    ------
    DecisionError
        A malformed schedule or decision, or a demand of the wrong shape.

    Examples
    --------
    Holding the initial placement of the bundled continuum for two periods starts nothing:

    >>> from edgebound.instances import load
    >>> inst = load("continuum-3edge-2cloud")
    >>> hold = {"replicas": {p.service: {} for p in inst.state.placement}}
    >>> for p in inst.state.placement:
    ...     hold["replicas"][p.service][p.node] = p.count
    >>> ev = evaluate_placement_schedule(inst, [hold, hold])
    >>> ev.objectives["migrations"]
    0.0
    """
    periods = schedule.get("periods") if isinstance(schedule, Mapping) else schedule
    if not isinstance(periods, Sequence) or isinstance(periods, str) or not periods:
        raise DecisionError(
            [Problem("periods", periods, "must be a non-empty list of placement decisions")]
        )
    n_t = len(periods)
    dem = schedule_demand(instance, demand, n_t)
    problems: list[Problem] = []
    per: list[Evaluation] = []
    prev: np.ndarray | None = None
    for t, dec in enumerate(periods):
        view = period_instance(instance, dem[:, t], prev)
        try:
            parsed = (
                dec if isinstance(dec, PlacementDecision) else parse_placement_decision(view, dec)
            )
            ev = evaluate_placement(view, parsed)
        except DecisionError as exc:
            problems += [
                Problem(f"periods[{t}].{p.path}", p.value, p.message) for p in exc.problems
            ]
            continue
        per.append(ev)
        prev = np.asarray(parsed.replicas)
    if problems:
        raise DecisionError(problems)
    return _aggregate(per)


def _aggregate(per: Sequence[Evaluation]) -> Evaluation:
    obj = {k: np.array([e.objectives[k] for e in per], dtype=float) for k in per[0].objectives}
    served = obj["throughput"]
    total = served.sum()
    objectives = {
        "weighted": float(obj["weighted"].mean()),
        "latency": float((obj["latency"] * served).sum() / total) if total > 0 else float("nan"),
        "p95_latency": float(np.nanmax(obj["p95_latency"]))
        if np.isfinite(obj["p95_latency"]).any()
        else float("nan"),
        "energy": float(obj["power"].sum() / total) if total > 0 else float("nan"),
        "power": float(obj["power"].mean()),
        "throughput": float(served.mean()),
        "cost": float(obj["cost"].mean()),
        "dropped": float(obj["dropped"].mean()),
        "migrations": float(obj["migrations"].sum()),
    }
    violations = tuple(
        Violation(
            v.constraint, f"period {t}: {v.where}", v.amount, v.unit, f"period {t}: {v.message}"
        )
        for t, e in enumerate(per)
        for v in e.violations
    )
    details = {"periods": [e.to_dict()["objectives"] for e in per]}
    return Evaluation(
        family="placement",
        objectives=objectives,
        units=dict(SCHEDULE_UNITS),
        senses=dict(PLACEMENT_SENSES),
        violations=violations,
        details=details,
    )
