"""Exact Pareto fronts of the continuum placement model by the epsilon-constraint method.

Two objectives ``f_1`` (primary) and ``f_2`` (constrained) of
:func:`edgebound.models.placement.build`. Every subproblem is solved with
:func:`edgebound.solvers.solve`, so that mean latency, represented by outer approximation,
is refined by cuts until exact (a raw Pyomo model handed to
:func:`~edgebound.pareto.exact_front` would not be).

1. **Payoff table** by lexicographic solves: ``min f_1``, then ``min f_2`` with ``f_1`` held at
   its optimum, gives the point with the best ``f_1``; the reverse order gives the point with
   the best ``f_2``. Their ``f_2`` values are the worst and best of ``f_2`` over the front.
2. **Epsilon steps.** With ``f_2 <= e``, ``e`` walks from the worst ``f_2`` towards the best;
   each subproblem is again lexicographic (``min f_1``, then ``min f_2`` with ``f_1`` held),
   so each point is efficient. A bound at or above the ``f_2`` just found would give the
   same point again and is skipped (bypass).
3. **Filter**: points dominated within ``1e-6`` of each objective's largest value are dropped.

How ``e`` moves depends on the objectives:

* **complete** when one objective is ``cost`` or ``migrations``. These depend on the
  integer replicas only, so the front is a finite set of points; that objective is made the
  constrained one and ``e`` moves to just beyond the value just found (``f_2 - delta``
  times its range). Every nondominated point whose constrained value differs from its
  neighbour's by more than that step is found.
* **grid** otherwise (latency, energy, power, dropped, throughput all depend on the
  continuous routing, and the front may contain continuous arcs): ``e`` takes the
  ``grid_points`` equally spaced values from the worst to the best ``f_2``. For every grid
  value the front holds the best ``f_1`` reachable within it: the front is exact at the
  grid's resolution.

``ParetoFront.exact`` is True only when every subproblem was proven optimal (gap at most
``mip_gap``). Objective vectors are the evaluator's
(:func:`~edgebound.evaluate.placement.evaluate_placement`), and every point is feasible
for it.

Mean latency and energy per request are exact in the model only when all demand is served,
so a front over either is a front over the decisions that drop nothing; ``dropped`` and
``throughput`` are then constant and cannot be paired with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap

from edgebound.errors import EdgeboundError, InfeasibleError, SolverError
from edgebound.evaluate.placement import PLACEMENT_UNITS
from edgebound.instances import Instance
from edgebound.models import placement
from edgebound.pareto.front import ParetoFront, nondominated
from edgebound.solvers import BuiltModel, SolveResult, Termination, solve

__all__ = ["PLACEMENT_OBJECTIVES", "check_objectives", "placement_front"]

PLACEMENT_OBJECTIVES: dict[str, Literal["min", "max"]] = {
    name: sense for name, sense in placement.OBJECTIVES.items() if name != "weighted"
}
"""Objectives a placement front can be taken over, with their sense."""

_DISCRETE = ("cost", "migrations")
_RATIOS = ("latency", "energy")
_SERVED = ("dropped", "throughput")
_INFEASIBLE = (Termination.INFEASIBLE, Termination.INFEASIBLE_OR_UNBOUNDED)


def check_objectives(objectives: Sequence[str], most: int) -> tuple[str, ...]:
    """Validate placement objective names; return them as a tuple.

    Parameters
    ----------
    objectives : sequence of str
        Names from :data:`PLACEMENT_OBJECTIVES`.
    most : int
        How many objectives the caller handles.

    Raises
    ------
    EdgeboundError
        On unknown or repeated names, too few or too many, or a ratio objective (latency,
        energy) paired with ``dropped`` or ``throughput``.

    Examples
    --------
    >>> check_objectives(["latency", "energy"], 2)
    ('latency', 'energy')
    """
    names = tuple(objectives)
    for name in names:
        if name not in PLACEMENT_OBJECTIVES:
            raise EdgeboundError(
                f"objectives: {name!r} must be one of {', '.join(PLACEMENT_OBJECTIVES)}"
            )
    if len(set(names)) != len(names) or not 2 <= len(names) <= most:
        count = "two" if most == 2 else f"two to {most}"
        raise EdgeboundError(
            f"objectives: {list(names)} must be {count} different placement objectives"
        )
    ratios = [n for n in names if n in _RATIOS]
    served = [n for n in names if n in _SERVED]
    if ratios and served:
        raise EdgeboundError(
            f"objectives: {ratios[0]} is exact only when all demand is served, which makes "
            f"{served[0]} constant; pair {served[0]} with power, cost or migrations instead"
        )
    return names


# The epsilon-bounds and the lexicographic second stage hold each subproblem at a value an
# earlier solution reached exactly. At HiGHS's default tolerance (1e-6) a solution may then
# have binaries a few 1e-7 from integral such that, with them rounded, no routing meets the
# rows: measured on the medium (cost, energy) front, where the evaluator rejected such a
# solution (2e-4 ms over an SLO) and the LP with its integers fixed was infeasible. A
# tighter integrality and row tolerance keeps the solutions roundable.
_TIGHT = {"mip_feasibility_tolerance": 1e-8}


class _Stages:
    """One built model whose objective and epsilon-bounds are switched between solves."""

    def __init__(
        self,
        instance: Instance,
        names: tuple[str, ...],
        time_limit: float | None,
        mip_gap: float,
        nodes: int | None = None,
    ) -> None:
        serve_all = any(n in _RATIOS for n in names)
        # building with latency as the objective adds the latency terms and their cuts
        first = "latency" if "latency" in names else names[0]
        self.built: BuiltModel = placement.build(instance, first, serve_all=serve_all)
        self.serve_all = serve_all
        m = self.built.pyomo
        m.objective.deactivate()
        self.sign = {n: 1.0 if PLACEMENT_OBJECTIVES[n] == "min" else -1.0 for n in names}
        self.expr = {n: self.sign[n] * getattr(m, n) for n in names}
        m.front_e = pyo.Param(list(names), mutable=True, initialize=0.0)
        m.front_bound = pyo.Constraint(
            list(names), rule=lambda _m, n: self.expr[n] <= _m.front_e[n]
        )
        m.front_bound.deactivate()
        self.m = m
        self._vars = list(m.component_data_objects(pyo.Var))
        # every solution found so far: its variable values (a MIP start for later solves)
        # and its objective values in minimization form
        self.points: list[tuple[ComponentMap, dict[str, float]]] = []
        self.time_limit = time_limit
        self.mip_gap = mip_gap
        # a work limit per solve (HiGHS's branch-and-bound nodes): unlike the time limit,
        # a solve ends at the same point on every run
        self.options = _TIGHT if nodes is None else {**_TIGHT, "mip_max_nodes": int(nodes)}
        self.solves = 0
        self.timed_out = 0  # solves that ended at the time limit
        self.cut_rounds = 0
        self.all_optimal = True
        self.unsolved: list[str] = []

    def bound(self, name: str, value: float | None) -> None:
        """Hold ``name`` at ``value`` (minimization form), or release it with None."""
        if value is None:
            self.m.front_bound[name].deactivate()
        else:
            self.m.front_e[name].set_value(float(value))
            self.m.front_bound[name].activate()

    def _start(self, name: str) -> ComponentMap | None:
        """The best earlier solution for ``min name`` within the active bounds, if any.

        A subproblem that starts from a feasible incumbent (HiGHS checks it) only has to
        prove it optimal or improve it: the lexicographic second stage starts from the
        first stage's point, an epsilon step from the best point already within its bound.
        """
        m = self.m
        held = {n: float(pyo.value(m.front_e[n])) for n in self.expr if m.front_bound[n].active}
        fits = [
            (obj[name], values)
            for values, obj in self.points
            if all(obj[n] <= e + 1e-9 * max(1.0, abs(e)) for n, e in held.items())
        ]
        return min(fits, key=lambda t: t[0])[1] if fits else None

    def run(self, name: str) -> SolveResult | None:
        """Minimize ``name`` (minimization form); None when infeasible."""
        m = self.m
        if hasattr(m, "front_objective"):
            m.del_component(m.front_objective)
        m.front_objective = pyo.Objective(expr=self.expr[name], sense=pyo.minimize)
        values = self._start(name)
        built = replace(self.built, objective_name=name)
        if values is not None:
            built = replace(built, start=lambda: values)
        res = solve(
            built,
            time_limit=self.time_limit,
            mip_gap=self.mip_gap,
            highs_options=self.options,
        )
        self.solves += 1
        self.timed_out += res.termination is Termination.TIME_LIMIT
        self.cut_rounds += int(res.stats.get("cut_rounds", 0))
        if res.termination in _INFEASIBLE:
            return None
        if not res.has_solution or res.evaluation is None:
            # no solution within the time limit: what was found so far is kept, the front
            # is not exact, and the caller stops where it needed this point
            self.all_optimal = False
            self.unsolved.append(res.termination.value)
            return None
        if not res.evaluation.feasible:
            raise EdgeboundError(
                f"placement front: the evaluator rejects a solution: {res.evaluation.violations[0]}"
            )
        if not res.optimal:
            self.all_optimal = False
        snapshot = ComponentMap((v, float(v.value)) for v in self._vars if v.value is not None)
        self.points.append(
            (snapshot, {n: self.sign[n] * float(pyo.value(getattr(m, n))) for n in self.expr})
        )
        return res

    def value(self, res: SolveResult, name: str) -> float:
        """The evaluator's value of ``name`` in minimization form."""
        assert res.evaluation is not None
        return self.sign[name] * float(res.evaluation.objectives[name])

    def lexicographic(self, first: str, second: str, tol: float) -> SolveResult | None:
        """``min first``, then ``min second`` with ``first`` held at its optimum."""
        res = self.run(first)
        if res is None:
            return None
        v = self.value(res, first)
        self.bound(first, v + tol * max(1.0, abs(v)))
        try:
            # the first stage's point holds up to the solver's tolerances; when holding it
            # exactly is not feasible, that point is kept
            return self.run(second) or res
        finally:
            self.bound(first, None)


def placement_front(
    instance: Instance,
    objectives: Sequence[str] = ("latency", "energy"),
    *,
    grid_points: int = 11,
    delta: float = 1e-6,
    time_limit: float | None = None,
    mip_gap: float = 1e-6,
    progress: Callable[[int, int], None] | None = None,
) -> ParetoFront:
    """The exact Pareto front of the static placement model over two objectives.

    Parameters
    ----------
    instance : Instance
    objectives : sequence of str
        Two of :data:`PLACEMENT_OBJECTIVES`; the first is the primary objective, unless the
        second is not ``cost`` or ``migrations`` and the first is (see the module
        documentation). Columns come in this order.
    grid_points : int
        Epsilon values of the constrained objective, worst to best, when neither objective
        is ``cost`` or ``migrations``; the front is then exact at this resolution.
    delta : float
        Step beyond the value just found, relative to the range (at least 1), when one
        objective is ``cost`` or ``migrations``.
    time_limit : float, optional
        Seconds per solve; a solve that stops early makes the front inexact. A solve of the
        epsilon sweep that finds no solution in time ends the sweep (the points found so far
        are returned, ``exact`` False, ``stats["unsolved"]`` counts such solves); one in the
        payoff table raises :class:`~edgebound.errors.SolverError`.
    mip_gap : float
        Relative gap at which a subproblem counts as solved to optimality.
    progress : callable, optional
        Called as ``progress(points, solves)`` after each point of the payoff table and of
        the epsilon sweep.

    Returns
    -------
    ParetoFront
        ``method == "exact"``; ``exact`` True when every subproblem was proven optimal.
        Decisions in the evaluator's plain form, objective vectors the evaluator's, sorted
        by the first column. ``stats`` says ``mode`` (``"complete"`` or ``"grid"``), the
        constrained objective, solves, cut rounds, seconds, the payoff table and
        ``interrupted``: a KeyboardInterrupt (Ctrl-C, or raised by ``progress``) during the
        epsilon sweep ends it with the points found so far (``exact`` False).

    Raises
    ------
    KeyboardInterrupt
        When interrupted during the payoff table (no front yet).
    EdgeboundError
        On bad objectives or parameters.
    InfeasibleError
        When the model has no solution (with latency or energy: when not all demand can be
        served).

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> front = placement_front(inst, ("power", "dropped"), grid_points=3)
    >>> front.exact, front.stats["mode"], len(front)
    (True, 'grid', 3)
    >>> bool(np.all(np.diff(front.F[:, 0]) > 0) and np.all(np.diff(front.F[:, 1]) < 0))
    True
    """
    t0 = time.perf_counter()
    names = check_objectives(objectives, 2)
    if not (isinstance(grid_points, int) and grid_points >= 2):
        raise EdgeboundError(f"grid_points: {grid_points!r} must be an integer >= 2")
    if not 0 < delta < 1:
        raise EdgeboundError(f"delta: {delta!r} must be in (0, 1)")
    if not 0 <= mip_gap < 1e-2:
        raise EdgeboundError(f"mip_gap: {mip_gap!r} must be in [0, 0.01) for an exact front")
    if names[1] in _DISCRETE:
        first, second, mode = names[0], names[1], "complete"
    elif names[0] in _DISCRETE:
        first, second, mode = names[1], names[0], "complete"
    else:
        first, second, mode = names[0], names[1], "grid"
    tol = 1e-7
    st = _Stages(instance, names, time_limit, mip_gap)
    top = st.lexicographic(first, second, tol)
    bottom = st.lexicographic(second, first, tol)
    if (top is None or bottom is None) and st.unsolved:
        raise SolverError(
            f"placement front of {instance.name}: a payoff-table solve ended "
            f"{st.unsolved[0]} without a solution; allow more time (time_limit)"
        )
    if top is None or bottom is None:
        what = "; all demand must be served" if st.serve_all else ""
        raise InfeasibleError(
            f"the placement model of {instance.name} is infeasible{what}: no front"
        )
    found = [top, bottom]
    worst, best = st.value(top, second), st.value(bottom, second)
    span = max(worst - best, 0.0)
    step = delta * max(span, 1.0) if mode == "complete" else span / (grid_points - 1)
    grid = [worst - k * step for k in range(grid_points)] if mode == "grid" else []
    close = tol * max(1.0, abs(best)) * 10
    reached = worst
    interrupted = False
    try:
        if progress is not None:
            progress(len(found), st.solves)
        while True:
            if mode == "complete":
                e = reached - step
            else:
                e = next((g for g in grid if g < reached - close), best)
            if e <= best + close:
                break  # the point with the best constrained value is the payoff table's
            st.bound(second, e)
            res = st.lexicographic(first, second, tol)
            st.bound(second, None)
            if res is None:
                break  # every tighter bound is infeasible too (or no solution in time: inexact)
            found.append(res)
            reached = min(st.value(res, second), e)
            if progress is not None:
                progress(len(found), st.solves)
    except KeyboardInterrupt:
        interrupted = True
    F = np.array(
        [[float(r.evaluation.objectives[n]) for n in names] for r in found if r.evaluation]
    )
    senses = tuple(PLACEMENT_OBJECTIVES[n] for n in names)
    keep = nondominated(F, senses, tol=1e-6, relative=True)
    keep = keep[np.lexsort((F[keep, 1] * st.sign[names[1]], F[keep, 0] * st.sign[names[0]]))]
    payoff = [
        [float(r.evaluation.objectives[n]) for n in names] for r in (top, bottom) if r.evaluation
    ]
    stats: dict[str, Any] = {
        "model": "placement",
        "instance": instance.name,
        "mode": mode,
        "primary": first,
        "constrained": second,
        "grid_points": grid_points if mode == "grid" else None,
        "delta": delta if mode == "complete" else None,
        "serve_all": st.serve_all,
        "solves": st.solves,
        "cut_rounds": st.cut_rounds,
        "all_solves_optimal": st.all_optimal,
        "unsolved": len(st.unsolved),
        "mip_gap": mip_gap,
        "payoff": payoff,
        "interrupted": interrupted,
        "seconds": time.perf_counter() - t0,
    }
    return ParetoFront(
        X=[found[i].decision for i in keep],
        F=F[keep],
        names=names,
        senses=senses,
        units=tuple(PLACEMENT_UNITS[n] for n in names),
        method="exact",
        exact=st.all_optimal and not interrupted,
        stats=stats,
    )
