"""The static ML-model versioning (MMV) MILP: eqs 1-12 of the versioning paper.

For every ML model k choose the version it runs after the update decision and its integer
replicas per node, so that capacities hold (eqs 5-7), every model is stable (eq 1 below
``policy.max_utilization``), and the request-weighted objectives O1-O4 (eqs 9-11) are best
by the chosen criterion (eq 12).

Formulation (all exact at integer points, no big-M):

* ``y[k,v]`` binary picks the version; ``d[k,v,n]`` integer replicas of that version on n,
  ``d <= u[k,v,n] * y[k,v]``; ``cv[k,v] = sum_n d[k,v,n]``.
* Queueing (eq 8's last term): the Erlang-C mean wait W(c) is convex and decreasing in
  integer c, so its secants through consecutive integers describe it exactly at integers.
  In perspective form ``q[k,v] >= alpha_j y[k,v] + beta_j cv[k,v]`` each version's lines
  switch off with its ``y``.
* Transmission (eq 8's second term) is the mean of ``t_n`` over the replicas, a ratio.
  It is linearized exactly by disaggregating replicas by their total count c:
  ``z[k,c]`` binary, ``e[k,c,n] >= 0`` with ``sum_n e[k,c,n] = c z[k,c]`` and
  ``sum_c e[k,c,n] = sum_v d[k,v,n]``; the term is ``sum_{c,n} t_n / c * e[k,c,n]``.
  When all nodes are equally far from the master the term is a constant and none of this
  is built.
* Spawn (eq 8's third term): ``spawn_time_ms * spawn_exposure`` times the updated flag
  ``sum_{v != running} y[k,v]``.

The weighted objective (eq 12 as a weighted sum) is
``w_delay O1 / ref - w_accuracy O2 - w_security O3 - w_reliability O4`` with ``ref`` the
policy's ``delay_ref_ms`` or the request-weighted processing time of the running versions;
accuracy, security and reliability are fractions already. It equals the evaluator's
``weighted`` objective on every decision.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pyomo.environ as pyo

from edgebound.errors import SolverError
from edgebound.instances import Instance, fits
from edgebound.models._mmv_core import (
    OBJECTIVES,
    _check_names,
    _delay_ref_ms,
    _describe,
    _objective,
    _Period,
    _rates,
    _stats,
)
from edgebound.solvers.base import BuiltModel
from edgebound.solvers.result import SolveResult

__all__ = ["OBJECTIVES", "build", "lexicographic"]


def build(
    instance: Instance,
    objective: str = "weighted",
    *,
    weights: Mapping[str, float] | None = None,
    constraints: Mapping[str, float] | None = None,
    max_replicas: int | None = None,
    formulation: str = "auto",
) -> BuiltModel:
    """Build the static MMV MILP of an instance.

    Parameters
    ----------
    instance : Instance
        Its ``state`` gives the running versions and the current time (which versions are
        released); the workload's mean rates are the loads.
    objective : {"weighted", "delay", "accuracy", "security", "reliability"}
        What to optimize: the weighted sum of eq 12, or one of O1-O4 alone.
    weights : mapping, optional
        Overrides ``instance.policy.weights`` for the weighted sum.
    constraints : mapping, optional
        epsilon-constraints on the other objectives: ``{"accuracy": 0.7}`` means
        O2 >= 0.7; ``{"delay": 25.0}`` means O1 <= 25 ms.
    max_replicas : int, optional
        Cap on each model's total replicas; by default the most that fit in the cluster
        (exact). A smaller cap makes the model smaller but its optimum only an upper bound
        (when minimizing) of the true one.
    formulation : {"auto", "count", "compact"}
        How the replica-count-dependent terms are modelled (see the docs' model page).
        With equal transmission delays every choice gives the secant epigraph. Otherwise
        "auto"/"count" use the count one-hot (tight LP, larger) and "compact" the secants
        with binary digits of the count (smaller, weaker LP). All are exact.

    Returns
    -------
    BuiltModel

    Raises
    ------
    InfeasibleError
        When some model cannot be made stable with any version, before any solve.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> from edgebound.solvers import solve
    >>> res = solve(build(load("gentzen-star4")))
    >>> res.optimal, sorted(set(res.decision["versions"].values()))
    (True, ['0.0'])
    """
    t0 = time.perf_counter()
    if objective not in OBJECTIVES:
        raise SolverError(f"objective: {objective!r} must be one of {', '.join(OBJECTIVES)}")
    inst = instance
    w = dict(inst.policy.weights if weights is None else weights)
    cons = dict(constraints or {})
    _check_names(w, cons)
    lam = _rates(inst)
    total = sum(lam.values())
    share = {k: (v / total if total > 0 else 1.0 / len(lam)) for k, v in lam.items()}
    notes = []
    for svc in inst.services:
        left_out = [
            v.label for v in svc.versions if not any(fits(v, n, svc) for n in inst.topology.nodes)
        ]
        if left_out:
            notes.append(
                f"{svc.name}: versions {', '.join(left_out)} fit on no node and are left out "
                "(eqs 2-4)"
            )
    m = pyo.ConcreteModel(name=f"mmv[{inst.name}]")
    m.period = pyo.Block()
    available = {k: list(inst.candidate_versions(k)) for k in inst.service_names}
    period = _Period(m.period, inst, lam, share, available, max_replicas, "", formulation)
    running = {k: inst.running_version(k).label for k in inst.service_names}
    totals = period.terms(period.spawn_flags(running))
    ref = _delay_ref_ms(inst, share)
    _objective(m, totals, objective, w, ref, cons)

    def decode(_m: pyo.ConcreteModel) -> dict[str, Any]:
        return period.decode()

    def describe(name: str) -> str:
        return _describe(inst, name.removeprefix("period."), lam, inst.policy.max_utilization)

    def context(rows: tuple[str, ...]) -> list[str]:
        return period.context(rows, "period.")

    stats = _stats(m, objective, ref)
    stats.update(
        versions_considered=len(period.KV),
        formulation=period.formulation,
        secants=period.n_secants,
    )
    return BuiltModel(
        name="mmv",
        instance=inst,
        pyomo=m,
        decode=decode,
        objective_name=objective,
        build_s=time.perf_counter() - t0,
        describe=describe,
        context=context,
        notes=tuple(notes + period.notes),
        stats=stats,
    )


def lexicographic(
    instance: Instance,
    order: tuple[str, ...] = ("delay", "accuracy", "security", "reliability"),
    *,
    tolerance: float = 1e-6,
    time_limit: float | None = None,
    mip_gap: float = 1e-6,
) -> SolveResult:
    """Optimize O1-O4 lexicographically: each in turn, holding the earlier ones at their best.

    Stage i optimizes ``order[i]`` subject to every earlier objective being within
    ``tolerance`` (relative) of the value its own stage reached.

    Parameters
    ----------
    instance : Instance
    order : tuple of str
        Objectives from most to least important (names of O1-O4).
    tolerance : float
        Relative slack given to earlier objectives, so that rounding cannot make a later
        stage infeasible.
    time_limit : float, optional
        Seconds per stage.
    mip_gap : float

    Returns
    -------
    SolveResult
        The last stage's result; ``stats["stages"]`` lists every stage's objective and
        status. It is ``optimal`` only when every stage was.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> res = lexicographic(load("gentzen-star4"), ("accuracy", "delay"))
    >>> [s["objective"] for s in res.stats["stages"]]
    ['accuracy', 'delay']
    """
    from dataclasses import replace

    from edgebound.solvers import Termination, solve

    seen = set()
    for name in order:
        if name not in OBJECTIVES or name == "weighted" or name in seen:
            raise SolverError(
                f"order: {name!r} must be one of delay, accuracy, security, reliability, "
                "each at most once"
            )
        seen.add(name)
    if not order:
        raise SolverError("order: give at least one objective")
    fixed: dict[str, float] = {}
    stages = []
    result = None
    all_optimal = True
    for name in order:
        result = solve(
            build(instance, name, constraints=fixed), time_limit=time_limit, mip_gap=mip_gap
        )
        stages.append(
            {"objective": name, "status": result.termination.value, "value": result.objective}
        )
        if not result.has_solution or result.objective is None:
            break
        all_optimal = all_optimal and result.optimal
        slack = tolerance * max(1.0, abs(result.objective))
        sense = OBJECTIVES[name]
        fixed[name] = result.objective + slack if sense == "min" else result.objective - slack
    assert result is not None
    stats = {**result.stats, "stages": stages, "objective": "lexicographic"}
    termination = result.termination
    if termination is Termination.OPTIMAL and not all_optimal:
        termination = Termination.TIME_LIMIT
    return replace(result, stats=stats, termination=termination)
