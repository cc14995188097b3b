"""The multi-period MMV MILP: the clairvoyant bound on any update policy.

Time is cut into ``T`` periods of ``workload.step_s`` seconds starting at ``state.time_s``.
In period t, service k sees the mean arrival rate ``rates[k, t]`` (from the workload's
traces or generators, or given), may run any version released by the period's start, and
has its own replicas. Versions only move forward (unless ``policy.allow_rollback``), and a
change of version in period t charges the spawn delay to that period's requests (eq 8's
spawn term, with the policy's exposure). Each period is the static model of
:mod:`edgebound.models.mmv`; the periods are linked by the version they run.

The objectives O1-O4 are request-weighted over all periods, so the optimum is the best
that any policy deciding versions and replicas period by period can reach, knowing the whole
future: the clairvoyant bound. Its weighted objective uses one delay reference for all
periods (the policy's ``delay_ref_ms`` or the running versions' request-weighted processing
time over the horizon), so the total is the request-weighted sum of the periods' values.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyomo.environ as pyo

from edgebound.errors import SolverError
from edgebound.evaluate.mmv_schedule import delay_ref_ms, evaluate_mmv_schedule, service_rates
from edgebound.instances import Instance, Version, fits
from edgebound.models._mmv_core import (
    OBJECTIVES,
    _check_names,
    _describe,
    _objective,
    _Period,
    _stats,
)
from edgebound.solvers.base import BuiltModel

__all__ = ["build"]


def _check_rates(instance: Instance, rates: Any, steps: int | None) -> np.ndarray:
    if rates is None:
        return service_rates(instance, steps)
    arr = np.asarray(rates, dtype=float)
    if arr.ndim != 2 or arr.shape[0] != len(instance.services) or arr.shape[1] < 1:
        raise SolverError(
            f"rates: shape {arr.shape} must be (services, periods) = ({len(instance.services)}, T)"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise SolverError("rates: every rate must be finite and >= 0 req/s")
    return arr


def _available(instance: Instance, k: str, time_s: float) -> list[Version]:
    svc = instance.service(k)
    run = instance.running_version(k)
    return sorted(
        (
            v
            for v in svc.versions
            if v.release_s <= time_s
            and (instance.policy.allow_rollback or v.key >= run.key)
            and any(fits(v, n, svc) for n in instance.topology.nodes)
        ),
        key=lambda v: v.key,
    )


def build(
    instance: Instance,
    objective: str = "weighted",
    *,
    steps: int | None = None,
    rates: Any = None,
    weights: Mapping[str, float] | None = None,
    constraints: Mapping[str, float] | None = None,
    max_replicas: int | None = None,
) -> BuiltModel:
    """Build the multi-period MMV MILP (the clairvoyant bound).

    Parameters
    ----------
    instance : Instance
    objective : {"weighted", "delay", "accuracy", "security", "reliability"}
    steps : int, optional
        Number of periods; default ``workload.horizon_steps``.
    rates : array-like, optional
        Services x periods arrival rates (req/s); default from the workload.
    weights, constraints, max_replicas
        As in :func:`edgebound.models.mmv.build`, over the whole horizon.

    Returns
    -------
    BuiltModel
        Its decisions have the form ``{"model": "mmv_schedule", "periods": [d_0, ...]}``
        with one static MMV decision per period.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> from edgebound.solvers import solve
    >>> res = solve(build(load("gentzen-star4"), steps=2))
    >>> res.optimal, len(res.decision["periods"])
    (True, 2)
    """
    t0 = time.perf_counter()
    if objective not in OBJECTIVES:
        raise SolverError(f"objective: {objective!r} must be one of {', '.join(OBJECTIVES)}")
    inst = instance
    w = dict(inst.policy.weights if weights is None else weights)
    cons = dict(constraints or {})
    _check_names(w, cons)
    lam = _check_rates(inst, rates, steps)
    n_t = lam.shape[1]
    total = lam.sum()
    share = lam / total if total > 0 else np.full(lam.shape, 1.0 / lam.size)
    names = inst.service_names
    m = pyo.ConcreteModel(name=f"mmv_schedule[{inst.name}]")
    m.periods = pyo.Block(range(n_t))
    periods: list[_Period] = []
    notes: list[str] = []
    totals: dict[str, Any] = {"delay": 0.0, "accuracy": 0.0, "security": 0.0, "reliability": 0.0}
    running = {k: inst.running_version(k).label for k in names}
    for t in range(n_t):
        time_s = inst.state.time_s + t * inst.workload.step_s
        available = {k: _available(inst, k, time_s) for k in names}
        period = _Period(
            m.periods[t],
            inst,
            {k: float(lam[i, t]) for i, k in enumerate(names)},
            {k: float(share[i, t]) for i, k in enumerate(names)},
            available,
            max_replicas,
            f"period {t}: ",
        )
        if t == 0:
            flags = period.spawn_flags(running)
        else:
            flags = period.spawn_flags(periods[-1])
            if not inst.policy.allow_rollback:
                period.no_rollback(periods[-1])
        for key, value in period.terms(flags).items():
            totals[key] = totals[key] + value
        periods.append(period)
        notes += period.notes
    ref = delay_ref_ms(inst, lam)
    _objective(m, totals, objective, w, ref, cons)

    def decode(_m: pyo.ConcreteModel) -> dict[str, Any]:
        return {"model": "mmv_schedule", "periods": [p.decode() for p in periods]}

    def describe(name: str) -> str:
        head, _, rest = name.partition("].")
        if head.startswith("periods[") and rest:
            t = int(head.removeprefix("periods["))
            return f"period {t}: " + _describe(
                inst,
                rest,
                {k: float(lam[i, t]) for i, k in enumerate(names)},
                inst.policy.max_utilization,
            )
        return name

    def context(rows: tuple[str, ...]) -> list[str]:
        out = []
        for t, p in enumerate(periods):
            out += p.context(rows, f"periods[{t}].", f"period {t}: ")
        return out

    stats = _stats(m, objective, ref)
    stats.update(periods=n_t, formulation=periods[0].formulation)
    return BuiltModel(
        name="mmv_schedule",
        instance=inst,
        pyomo=m,
        decode=decode,
        objective_name=objective,
        build_s=time.perf_counter() - t0,
        describe=describe,
        context=context,
        notes=tuple(notes),
        stats=stats,
        evaluate=lambda dec: evaluate_mmv_schedule(inst, dec, lam),
    )
