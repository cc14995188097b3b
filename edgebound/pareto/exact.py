"""Exact Pareto fronts by the augmented epsilon-constraint method (AUGMECON2).

For objectives ``f_1, ..., f_p`` of any Pyomo model, the first is optimized while each other
one is held at a bound ``e_j`` through a slack: ``f_j - s_j = e_j`` for a maximized
objective, ``f_j + s_j = e_j`` for a minimized one. The bounds walk a grid from each
objective's worst value in the payoff table towards its best. As in AUGMECON2:

* the payoff table comes from lexicographic optimization, so its ranges are those of
  efficient points;
* the slack of the innermost objective tells how many grid points would give the same
  solution, and those are skipped (bypass);
* an infeasible point ends its loop, since every tighter bound is infeasible too (early
  exit).

AUGMECON2 adds ``eps * sum_j s_j / r_j`` to the primary objective so that only efficient
points come back. Here that augmentation is done exactly: a second solve holds ``f_1`` at
its optimum and maximizes the scaled slacks, so no small ``eps`` weight can trade the
primary objective for slack.

With two objectives the bound of the second moves *adaptively* to just beyond the value
just found (``f_2 + delta``), which enumerates every nondominated point of a finite problem
whose second objective values differ by more than ``delta``: the front is complete. With
more objectives the outer ones follow a grid of ``grid_points`` points; the front is then
exact at that resolution.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from edgebound.errors import EdgeboundError, SolverError
from edgebound.pareto.front import ParetoFront, nondominated

__all__ = ["Objective", "exact_front"]


@dataclass(frozen=True)
class Objective:
    """One objective of a multi-objective model.

    Parameters
    ----------
    name : str
    expr : Pyomo expression
        Built on the model given to :func:`exact_front`.
    sense : {"min", "max"}
    unit : str
    """

    name: str
    expr: Any
    sense: Literal["min", "max"]
    unit: str = ""


class _Runner:
    def __init__(self, model: pyo.ConcreteModel, time_limit: float | None, mip_gap: float):
        self.m = model
        self.time_limit = time_limit
        self.mip_gap = mip_gap
        self.solves = 0
        self.fallbacks = 0
        self.all_optimal = True

    def run(self) -> bool:
        """Solve the model as it stands; True with a solution loaded, False if infeasible."""
        kwargs: dict[str, Any] = {
            "load_solutions": False,
            "raise_exception_on_nonoptimal_result": False,
            "solver_options": {"mip_rel_gap": self.mip_gap, "output_flag": False, "random_seed": 0},
        }
        if self.time_limit is not None:
            kwargs["time_limit"] = self.time_limit
        # a fresh interface per solve: the model changes between solves in ways a persistent
        # interface does not track (cleared constraint lists)
        res = Highs().solve(self.m, **kwargs)
        self.solves += 1
        tc = res.termination_condition
        if tc in (
            TerminationCondition.provenInfeasible,
            TerminationCondition.infeasibleOrUnbounded,
        ):
            return False
        if res.solution_status not in (SolutionStatus.optimal, SolutionStatus.feasible):
            raise SolverError(f"exact front: a solve ended with {tc.name} and no solution")
        if tc is not TerminationCondition.convergenceCriteriaSatisfied:
            self.all_optimal = False
        res.solution_loader.load_vars()
        return True


def exact_front(
    model: pyo.ConcreteModel,
    objectives: Sequence[Objective],
    *,
    decode: Callable[[pyo.ConcreteModel], Any] | None = None,
    delta: float = 1e-6,
    grid_points: int = 10,
    time_limit: float | None = None,
    mip_gap: float = 1e-9,
    tol: float = 1e-7,
    clone: bool = True,
) -> ParetoFront:
    """The Pareto front of a Pyomo model's objectives by AUGMECON2.

    Parameters
    ----------
    model : pyomo.environ.ConcreteModel
        Any model; it is cloned, and its own objectives are ignored.
    objectives : sequence of Objective
        At least two; the first is the primary one.
    decode : callable, optional
        Maps the solved (cloned) model to a decision; by default the values of its integer
        variables.
    delta : float
        Adaptive step of the last objective, relative to its range: nondominated points
        closer than that in the last objective can be missed.
    grid_points : int
        Grid points of each outer objective when there are three or more.
    time_limit : float, optional
        Seconds per solve; a solve that stops early makes the front inexact.
    mip_gap : float
    tol : float
        Relative tolerance when holding an objective at a value already reached, and when
        telling points apart (a fraction of each objective's largest value) in the final filter.
    clone : bool
        Work on a copy (default). With False the method's components are added to
        ``model`` itself, so that a ``decode`` bound to its variables reads the solutions.

    Returns
    -------
    ParetoFront
        ``exact`` is True when every solve was optimal and, with three or more objectives,
        marks the result as exact at the grid's resolution only through ``stats``.

    Examples
    --------
    >>> import pyomo.environ as pyo
    >>> m = pyo.ConcreteModel()
    >>> m.x = pyo.Var(range(3), domain=pyo.Binary)
    >>> m.cap = pyo.Constraint(expr=sum(m.x[i] for i in range(3)) <= 2)
    >>> cost = 3 * m.x[0] + 2 * m.x[1] + 1 * m.x[2]
    >>> value = 5 * m.x[0] + 3 * m.x[1] + 1 * m.x[2]
    >>> f = exact_front(m, [Objective("cost", cost, "min"), Objective("value", value, "max")])
    >>> sorted(map(tuple, f.F.tolist()))
    [(0.0, 0.0), (1.0, 1.0), (2.0, 3.0), (3.0, 5.0), (4.0, 6.0), (5.0, 8.0)]
    """
    t0 = time.perf_counter()
    p = len(objectives)
    if p < 2:
        raise EdgeboundError("objectives: give at least two")
    if len({o.name for o in objectives}) != p:
        raise EdgeboundError("objectives: names must differ")
    for o in objectives:
        if o.sense not in ("min", "max"):
            raise EdgeboundError(f"objectives.{o.name}.sense: {o.sense!r} must be 'min' or 'max'")
    # Objective expressions refer to the caller's model; clone model and expressions together.
    if clone:
        holder = pyo.ConcreteModel()
        holder.inner = model
        holder.exprs = pyo.Expression(range(p), rule=lambda _h, i: objectives[i].expr)
        copy = holder.clone()
        m = copy.inner
        exprs = [copy.exprs[i] for i in range(p)]
    else:
        copy = m = model
        exprs = [o.expr for o in objectives]
    for obj in m.component_data_objects(pyo.Objective, active=True):
        obj.deactivate()
    runner = _Runner(copy, time_limit, mip_gap)
    senses = [o.sense for o in objectives]

    def best_sense(i: int) -> Any:
        return pyo.minimize if senses[i] == "min" else pyo.maximize

    # ------------------------------------------------------------------ payoff table
    copy.pay_fix = pyo.ConstraintList()
    payoff = np.zeros((p, p))
    for i in range(p):
        order = [i] + [j for j in range(p) if j != i]
        copy.pay_fix.clear()
        for j in order:
            copy.pay_obj = pyo.Objective(expr=exprs[j], sense=best_sense(j))
            if not runner.run():
                raise EdgeboundError("the model is infeasible: no front")
            v = pyo.value(exprs[j])
            slack = tol * max(1.0, abs(v))
            copy.pay_fix.add(exprs[j] <= v + slack if senses[j] == "min" else exprs[j] >= v - slack)
            copy.del_component(copy.pay_obj)
        payoff[i] = [pyo.value(e) for e in exprs]
    copy.pay_fix.clear()
    best = np.array([payoff[j, j] for j in range(p)])
    worst = np.array(
        [payoff[:, j].max() if senses[j] == "min" else payoff[:, j].min() for j in range(p)]
    )
    ranges = np.maximum(np.abs(worst - best), 1e-12)

    # ------------------------------------------------------------------ augmented model
    J = list(range(1, p))
    copy.e = pyo.Param(J, mutable=True, initialize={j: float(worst[j]) for j in J})
    copy.s = pyo.Var(J, domain=pyo.NonNegativeReals)
    copy.eps_con = pyo.Constraint(
        J,
        rule=lambda _c, j: (
            exprs[j] - _c.s[j] == _c.e[j] if senses[j] == "max" else exprs[j] + _c.s[j] == _c.e[j]
        ),
    )
    copy.stage1 = pyo.Objective(expr=exprs[0], sense=best_sense(0))
    copy.v1 = pyo.Param(mutable=True, initialize=float(best[0]))
    slack1 = 10 * tol * max(1.0, float(np.abs(payoff[:, 0]).max()))
    copy.hold = pyo.Constraint(
        expr=exprs[0] <= copy.v1 + slack1 if senses[0] == "min" else exprs[0] >= copy.v1 - slack1
    )
    copy.stage2 = pyo.Objective(
        expr=sum(copy.s[j] / float(ranges[j]) for j in J), sense=pyo.maximize
    )

    points: list[np.ndarray] = []
    decisions: list[Any] = []

    def solve_point() -> bool:
        copy.stage2.deactivate()
        copy.hold.deactivate()
        copy.stage1.activate()
        if not runner.run():
            return False
        first = np.array([pyo.value(e) for e in exprs])
        first_decision = decode(m) if decode is not None else _integers(m)
        copy.v1.set_value(float(first[0]))
        copy.stage1.deactivate()
        copy.hold.activate()
        copy.stage2.activate()
        if not runner.run():
            # The stage-1 point is feasible up to the solver's tolerances; when holding it
            # exactly is not, keep that point (efficient up to the same tolerances).
            runner.fallbacks += 1
            points.append(first)
            decisions.append(first_decision)
            return True
        points.append(np.array([pyo.value(e) for e in exprs]))
        decisions.append(decode(m) if decode is not None else _integers(m))
        return True

    inner = p - 1
    # delta times the range, but never below delta itself: with a range of 0 the front is
    # one point in this objective
    step_inner = delta * max(float(ranges[inner]), 1.0)
    outer = J[:-1]
    steps = {j: ranges[j] / max(grid_points - 1, 1) for j in outer}
    grids = [range(grid_points) for _ in outer]
    direction = {j: (1.0 if senses[j] == "max" else -1.0) for j in J}
    for combo in _product(grids):
        for j, g in zip(outer, combo, strict=True):
            copy.e[j].set_value(float(worst[j] + direction[j] * g * steps[j]))
        e_inner = float(worst[inner])
        while True:
            copy.e[inner].set_value(e_inner)
            if not solve_point():
                break  # early exit: every tighter bound is infeasible too
            achieved = points[-1][inner]
            # bypass: every bound up to the achieved value gives this same point
            slack = tol * max(1.0, abs(best[inner]))
            if direction[inner] * (best[inner] - achieved) <= slack:
                break  # the best value of the last objective is reached
            nxt = achieved + direction[inner] * step_inner
            if direction[inner] * (nxt - best[inner]) > 0:
                nxt = float(best[inner])  # one last bound at the best value, not beyond it
            if direction[inner] * (nxt - e_inner) <= 0:
                break  # no progress possible
            e_inner = nxt
    F = np.array(points).reshape(-1, p) + 0.0  # no negative zeros
    keep = nondominated(F, senses, tol=tol, relative=True)
    exact = runner.all_optimal and p == 2
    return ParetoFront(
        X=[decisions[i] for i in keep],
        F=F[keep],
        names=tuple(o.name for o in objectives),
        senses=tuple(senses),
        units=tuple(o.unit for o in objectives),
        method="exact",
        exact=exact,
        stats={
            "solves": runner.solves,
            "seconds": time.perf_counter() - t0,
            "payoff": payoff.tolist(),
            "all_solves_optimal": runner.all_optimal,
            "second_stage_fallbacks": runner.fallbacks,
            "grid_points": grid_points if p > 2 else None,
            "delta": delta,
        },
    )


def _product(grids: list[range]) -> list[tuple[int, ...]]:
    import itertools

    return list(itertools.product(*grids)) if grids else [()]


def _integers(m: pyo.ConcreteModel) -> dict[str, float]:
    return {
        v.name: round(float(v.value))
        for v in m.component_data_objects(pyo.Var)
        if v.value is not None and (v.is_integer() or v.is_binary()) and abs(v.value) > 0.5
    }
