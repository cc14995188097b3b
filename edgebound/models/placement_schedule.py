r"""The multi-period (clairvoyant) placement MILP.

T periods of the static placement model (:mod:`edgebound.models.placement`), each with its
own demand from a known series, joined by migrations: the replicas started in period t are
``mig[t, s, n] >= x[t, s, n] - x[t-1, s, n]`` (period 0 against ``state.placement``), and
each period keeps the policy's migration budget. Every period's rows (demand balance,
capacity, residency, power caps, exact per-count SLO rate limits) are those of the static
model, built from the same block, so every period's decision is exactly what the static
evaluator scores.

With the whole demand series known in advance, the optimum is the **clairvoyant bound**: no
controller that decides period by period (an MPC with forecasts, a heuristic, a learned
agent) can do better on the same demand, because each of its schedules is a feasible point
of this model. The objective is scored by
:func:`~edgebound.evaluate.placement_schedule.evaluate_placement_schedule`:

* ``weighted``: the mean over periods of each period's weighted objective (mean latency,
  energy, cost, dropped, migrations; exact as in the static model — energy and latency by
  serving all demand);
* ``energy`` (total energy over total requests, linear when all demand is served),
  ``power``, ``cost``, ``dropped``, ``throughput`` (means), ``migrations`` (total).

Replica counts per (service, node) may reach the largest count useful in *any* period:
keeping spare replicas through a dip can save starting them again.

A latency weight adds each period's mean latency, kept exact by outer approximation as in
the static model (cuts below the convex M/M/c waiting time, refined by
:func:`~edgebound.solvers.solve` until the model agrees with the evaluator); the p95
latency is not represented (see :func:`edgebound.bounds.placement` for a bound on weights
that include it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pyomo.environ as pyo

from edgebound.errors import SolverError
from edgebound.evaluate.placement import _data
from edgebound.evaluate.placement_schedule import (
    evaluate_placement_schedule,
    period_rates,
    schedule_demand,
)
from edgebound.instances import Instance
from edgebound.models._placement_core import (
    _add_latency,
    _add_migrations,
    _add_period,
    _decode_period,
    _describe,
    _structure,
)
from edgebound.models.placement import _WEIGHTED, _check_names
from edgebound.solvers.base import BuiltModel, model_size

__all__ = ["OBJECTIVES", "build"]

_LATENCY = ("latency", "p95_latency")

OBJECTIVES: dict[str, Literal["min", "max"]] = {
    "weighted": "min",
    "energy": "min",
    "power": "min",
    "cost": "min",
    "dropped": "min",
    "migrations": "min",
    "throughput": "max",
}
"""Objectives the schedule model represents exactly, with their sense."""


def build(
    instance: Instance,
    demand: Any = None,
    objective: str = "weighted",
    *,
    weights: Mapping[str, float] | None = None,
    periods: int | None = None,
    serve_all: bool | None = None,
    far_routes: bool = True,
    exact: bool = True,
    free_start: bool = False,
) -> BuiltModel:
    """Build the multi-period placement MILP on a known demand series.

    Parameters
    ----------
    instance : Instance
        ``state.placement`` is the placement before period 0.
    demand : array_like, optional
        Demands x periods, req/s (rows in ``workload.demands`` order); default the
        workload's series (:func:`~edgebound.instances.traces.demand_series`).
    objective : str
        One of :data:`OBJECTIVES`.
    weights : mapping, optional
        Overrides ``policy.weights``; latency weights must be zero or absent.
    periods : int, optional
        Number of periods of the default series.
    serve_all : bool, optional
        Forbid dropping; by default on exactly when energy is the objective or weighted.
    far_routes : bool
        As in :func:`edgebound.models.placement.build`.
    exact : bool
        ``False`` builds a *relaxation* of the weighted objective instead, for bounds: any
        weights, dropping allowed, and each term replaced by a linear function that is
        never above it on any decision: energy ``power / demand`` (not over the served
        rate), mean latency its sum over requests over demand with the M/M/c waiting time
        kept above tangent cuts (no refinement), p95 latency the smallest p95 any route could
        have times the served share (the evaluator's p95 is 0 when nothing is served).
    free_start : bool
        Leave period 0's migrations out (no rows against ``state.placement``): a relaxation
        used to bound the periods of a long series one at a time.
        The model's optimum is then a valid lower bound of the exact one, and its
        objective may be below the evaluator's on its own decision.

    Returns
    -------
    BuiltModel
        Its decisions are ``{"model": "placement_schedule", "periods": [...]}``.

    Raises
    ------
    SolverError
        Latency objectives or weights, unknown names, demand that cannot all be served.

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> from edgebound.solvers import solve
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> res = solve(build(inst, periods=3, objective="cost"))
    >>> res.optimal, len(res.decision["periods"])
    (True, 3)
    >>> abs(res.objective - res.evaluation.objectives["cost"]) < 1e-6
    True
    """
    t0 = time.perf_counter()
    try:
        dem = schedule_demand(instance, demand, periods)
    except Exception as exc:  # DecisionError -> the model's error type
        raise SolverError(str(exc)) from exc
    w = dict(instance.policy.weights if weights is None else weights)
    if weights is None:
        w = {k: v for k, v in w.items() if k in _WEIGHTED or k in ("latency", "p95_latency")}
    if not exact and objective != "weighted":
        raise SolverError(f"exact=False relaxes the weighted objective only, not {objective!r}")
    if objective == "weighted" and exact:
        _check_names(objective, w, {})
    elif exact:
        _check_names(objective, {}, {})
    else:
        for name, value in w.items():
            if name not in _WEIGHTED and name not in _LATENCY:
                allowed = ", ".join(dict.fromkeys((*_WEIGHTED, *_LATENCY)))
                raise SolverError(
                    f"weights.{name}: not a placement weight ({allowed}); is this a "
                    "continuum placement instance?"
                )
            if not (value >= 0 and np.isfinite(value)):
                raise SolverError(f"weights.{name}: {value!r} must be finite and >= 0")
    inst = instance
    if objective == "weighted" and w != dict(instance.policy.weights):
        inst = inst.model_copy(update={"policy": inst.policy.model_copy(update={"weights": w})})
    ratio_energy = objective == "energy" or (objective == "weighted" and w.get("energy", 0) > 0)
    ratio_latency = objective == "weighted" and w.get("latency", 0) > 0
    if serve_all is None:
        serve_all = (ratio_energy or ratio_latency) and exact
    if ratio_latency and not serve_all and exact:
        raise SolverError(
            "mean latency is a mean over the served requests; weighted, it is exact only when "
            "all demand is served: leave serve_all on"
        )
    if ratio_energy and not serve_all and exact:
        raise SolverError(
            "energy per request is power over the served rate; it is linear (and exact) only "
            "when all demand is served: leave serve_all on"
        )
    lam = period_rates(inst, dem)  # (T, S, I)
    n_t = lam.shape[0]
    totals = lam.sum(axis=(1, 2))
    if ratio_energy and exact and (totals <= 0).any():
        t_bad = int(np.flatnonzero(totals <= 0)[0])
        raise SolverError(f"period {t_bad}: no demand, so energy per request is undefined")
    d = _data(inst)
    st = _structure(inst, d, lam.max(axis=0), far_routes=far_routes, latency=ratio_latency)
    notes = list(st.notes)
    if serve_all:
        notes.append(
            "all demand is served (no dropping): the optimum is over decisions that drop nothing"
        )
    if not exact:
        notes.append(
            "relaxed objective (a lower bound of the evaluator's): energy and mean latency over "
            "demand, waiting times by cuts below them, p95 latency by a floor"
        )
    m = pyo.ConcreteModel(name=f"placement_schedule[{inst.name}]")
    m.period = pyo.Block(range(n_t))
    pers = []
    refines = []
    for t in range(n_t):
        blk = m.period[t]
        try:
            pers.append(_add_period(blk, st, lam[t], serve_all))
        except SolverError as exc:
            raise SolverError(f"period {t}: {exc}") from exc
        if ratio_latency:
            refines.append(_add_latency(blk, st, pers[t]))
        if t == 0 and free_start:
            blk.migrations = pyo.Expression(expr=0.0)
            continue
        prev = d.x_prev if t == 0 else m.period[t - 1].x
        _add_migrations(blk, st, prev, inst.policy.migration_budget, constant_prev=t == 0)
    inv_t = 1.0 / n_t
    exprs = {
        "power": inv_t * sum(m.period[t].power for t in range(n_t)),
        "cost": inv_t * sum(m.period[t].cost for t in range(n_t)),
        "dropped": inv_t * sum(m.period[t].dropped for t in range(n_t)),
        "throughput": inv_t * sum(m.period[t].throughput for t in range(n_t)),
        "migrations": sum(m.period[t].migrations for t in range(n_t)),
    }
    if ratio_energy:
        exprs["energy"] = sum(m.period[t].power for t in range(n_t)) / float(totals.sum())
    if objective == "weighted":

        def period_weighted(t: int) -> Any:
            b = m.period[t]
            parts = {"cost": b.cost, "dropped": b.dropped, "migrations": b.migrations}
            if w.get("energy", 0.0) > 0 and totals[t] > 0:
                parts["energy"] = b.power / float(totals[t])
            if ratio_latency and totals[t] > 0:
                parts["latency"] = b.latency_sum / float(totals[t])
            if not exact and totals[t] > 0:
                parts["p95_latency"] = p95_floor * b.throughput / float(totals[t])
            return sum(w.get(k, 0.0) * parts[k] for k in parts if w.get(k, 0.0) > 0)

        p95_floor = _p95_floor(d, st, 0.95)

        m.objective = pyo.Objective(
            expr=inv_t * sum(period_weighted(t) for t in range(n_t)), sense=pyo.minimize
        )
    else:
        if objective == "energy" and "energy" not in exprs:
            raise SolverError("objective energy needs all demand served")
        sense = pyo.minimize if OBJECTIVES[objective] == "min" else pyo.maximize
        m.objective = pyo.Objective(expr=exprs[objective], sense=sense)

    refine: Any = None
    if ratio_latency and exact:

        def refine(rel: float) -> int:
            return sum(
                f(rel * max(1.0, float(pyo.value(m.period[t].latency_sum))))
                for t, f in enumerate(refines)
            )

    def decode(_m: pyo.ConcreteModel) -> dict[str, Any]:
        return {
            "model": "placement_schedule",
            "periods": [_decode_period(m.period[t], st, pers[t]) for t in range(n_t)],
        }

    def describe(name: str) -> str:
        head, _, rest = name.partition(".")
        if head.startswith("period[") and rest:
            return f"{head.replace('[', ' ').rstrip(']')}: {_describe(inst, d, rest)}"
        return _describe(inst, d, name)

    def evaluate(decision: dict[str, Any]) -> Any:
        return evaluate_placement_schedule(inst, decision, dem)

    stats = {
        "periods": n_t,
        **model_size(m),
        "objective": objective,
        "queues": len(st.sn),
        "serve_all": serve_all,
    }
    return BuiltModel(
        name="placement_schedule",
        instance=inst,
        pyomo=m,
        decode=decode,
        objective_name=objective,
        build_s=time.perf_counter() - t0,
        describe=describe,
        notes=tuple(notes),
        stats=stats,
        evaluate=evaluate,
        refine=refine,
    )


def _p95_floor(d: Any, st: Any, quantile: float) -> float:
    """A p95 no decision can beat: the smallest over routes of network latency plus the
    quantile of one service time (an idle queue's sojourn)."""
    vals = [
        float(d.net_ms[i, n] - 1000.0 * np.log(1.0 - quantile) / d.mu[s]) for (s, i, n) in st.routes
    ]
    return min(vals) if vals else 0.0
