"""Solving built models with HiGHS through Pyomo's solver interface.

The solver's own status is mapped to :class:`~edgebound.solvers.result.Termination` without
optimism: a solve is ``optimal`` only when HiGHS proved it (within ``mip_gap``), and every
returned decision is re-evaluated by the independent evaluator.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import highspy
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from edgebound.errors import SolverError
from edgebound.evaluate import evaluate
from edgebound.solvers.base import BuiltModel
from edgebound.solvers.result import SolveResult, Termination, relative_gap

__all__ = ["LPRelaxation", "lp_relaxation", "solve"]

_TERMINATION = {
    TerminationCondition.convergenceCriteriaSatisfied: Termination.OPTIMAL,
    TerminationCondition.maxTimeLimit: Termination.TIME_LIMIT,
    TerminationCondition.iterationLimit: Termination.ITERATION_LIMIT,
    TerminationCondition.interrupted: Termination.INTERRUPTED,
    TerminationCondition.provenInfeasible: Termination.INFEASIBLE,
    TerminationCondition.locallyInfeasible: Termination.INFEASIBLE,
    TerminationCondition.unbounded: Termination.UNBOUNDED,
    TerminationCondition.infeasibleOrUnbounded: Termination.INFEASIBLE_OR_UNBOUNDED,
}


def _version() -> str:
    return ".".join(str(p) for p in Highs().version())


def _options(mip_gap: float, threads: int | None, verbose: bool) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "mip_rel_gap": mip_gap,
        "output_flag": verbose,
        "random_seed": 0,
    }
    if threads is not None:
        if threads < 1:
            raise SolverError(f"threads: {threads!r} must be >= 1")
        # HiGHS sizes one thread pool per process on its first run and refuses a later run
        # that asks for another size; resetting the pool lets each solve choose.
        highspy.Highs.resetThreadScheduler(True)
        opts["threads"] = int(threads)
    return opts


def solve(
    model: BuiltModel,
    *,
    time_limit: float | None = None,
    mip_gap: float = 1e-6,
    threads: int | None = None,
    require_optimal: bool = False,
    verbose: bool = False,
    max_rounds: int = 50,
) -> SolveResult:
    """Solve a built model with HiGHS and evaluate the decision it returns.

    Parameters
    ----------
    model : BuiltModel
        From a builder such as :func:`edgebound.models.mmv.build`.
    time_limit : float, optional
        Seconds of HiGHS's own run; the solve stops there and reports its incumbent, bound
        and gap. Handing the model to HiGHS comes on top (a few seconds on the largest
        models).
    mip_gap : float
        Relative gap at which HiGHS stops and the result counts as optimal.
    threads : int, optional
        HiGHS threads (default: HiGHS's choice).
    require_optimal : bool
        Raise :class:`~edgebound.errors.SolverError` (with status, objective, bound and gap)
        unless optimality is proven.
    verbose : bool
        Print the HiGHS log.
    max_rounds : int
        For models with ``refine`` (outer approximation): at most this many re-solves after
        the first, until the model's objective is within ``mip_gap / 10`` (relative) of the
        true one at its solution. The result's objective is then the evaluator's, and it is
        optimal only if within ``mip_gap`` plus that tolerance of the proven bound.
        ``time_limit`` covers all rounds.

    Returns
    -------
    SolveResult

    Examples
    --------
    >>> from edgebound.instances import load
    >>> from edgebound.models import mmv
    >>> res = solve(mmv.build(load("gentzen-star4")))
    >>> res.termination.value, res.evaluation.feasible
    ('optimal', True)
    """
    if time_limit is not None and not (time_limit > 0 and math.isfinite(time_limit)):
        raise SolverError(f"time_limit: {time_limit!r} must be a positive number of seconds")
    if not 0 <= mip_gap < 1:
        raise SolverError(f"mip_gap: {mip_gap!r} must be in [0, 1)")
    t_start = time.perf_counter()
    rounds = 0
    oa_tol = max(mip_gap / 10.0, 1e-9)
    while True:
        remaining = None if time_limit is None else time_limit - (time.perf_counter() - t_start)
        if remaining is not None and remaining <= 0:
            remaining = 1e-3
        result = _solve_once(model, remaining, mip_gap, threads, verbose)
        if model.refine is None or not result.has_solution:
            break
        added = model.refine(oa_tol)
        if added == 0:
            break
        rounds += 1
        out_of_time = time_limit is not None and time.perf_counter() - t_start >= time_limit
        if out_of_time or rounds >= max_rounds:
            # the last solve's objective is below what its decision achieves: not optimal
            # so report what the decision achieves, by the evaluator
            why = "time limit" if out_of_time else f"{max_rounds} rounds"
            ev = result.evaluation
            achieved = ev.objectives.get(model.objective_name) if ev is not None else None
            objective = achieved if achieved is not None else result.objective
            result = replace(
                result,
                termination=Termination.TIME_LIMIT if out_of_time else Termination.ITERATION_LIMIT,
                objective=objective,
                gap=relative_gap(objective, result.bound),
                notes=(
                    *(n for n in result.notes if "differs" not in n),
                    f"outer approximation stopped at its {why}: the objective is the "
                    "evaluator's value of the decision, the bound the last model's",
                ),
            )
            break
    if model.refine is not None and result.has_solution and result.evaluation is not None:
        # the cuts are exact only to oa_tol: report what the decision achieves, and call it
        # optimal only if that is within the gap asked for (plus oa_tol) of the proven bound
        achieved = result.evaluation.objectives.get(model.objective_name)
        if achieved is not None and math.isfinite(achieved):
            gap = relative_gap(achieved, result.bound)
            termination = result.termination
            if termination is Termination.OPTIMAL and (
                gap is None or gap > mip_gap + oa_tol + 1e-12
            ):
                termination = Termination.ITERATION_LIMIT
            result = replace(
                result,
                objective=achieved,
                gap=gap,
                termination=termination,
                notes=tuple(n for n in result.notes if "differs" not in n),
            )
    if rounds:
        result = replace(
            result,
            wall_s=model.build_s + (time.perf_counter() - t_start),
            solve_s=time.perf_counter() - t_start,
            stats={**result.stats, "cut_rounds": rounds},
        )
    if require_optimal and not result.optimal:
        raise SolverError(f"not proven optimal: {result.summary()}")
    return result


def _solve_once(
    model: BuiltModel,
    time_limit: float | None,
    mip_gap: float,
    threads: int | None,
    verbose: bool,
) -> SolveResult:
    opt = Highs()
    t0 = time.perf_counter()
    kwargs: dict[str, Any] = {
        "load_solutions": False,
        "raise_exception_on_nonoptimal_result": False,
        "solver_options": _options(mip_gap, threads, verbose),
        "tee": verbose,
    }
    if time_limit is not None:
        kwargs["time_limit"] = float(time_limit)
    try:
        res = opt.solve(model.pyomo, **kwargs)
    except Exception as exc:  # HiGHS or Pyomo failing is reported, not propagated raw
        raise SolverError(f"{model.name}: HiGHS failed: {exc}") from exc
    solve_s = time.perf_counter() - t0
    termination = _TERMINATION.get(res.termination_condition, Termination.ERROR)
    has_solution = res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    if termination is Termination.OPTIMAL and not has_solution:
        termination = Termination.ERROR
    objective = (
        float(res.incumbent_objective)
        if has_solution and res.incumbent_objective is not None
        else None
    )
    bound = res.objective_bound
    bound = float(bound) if bound is not None and math.isfinite(bound) else None
    if termination is Termination.OPTIMAL and bound is None:
        bound = objective  # an LP proven optimal has no separate bound
    decision: dict[str, Any] = {}
    evaluation = None
    notes = list(model.notes)
    if has_solution:
        res.solution_loader.load_vars()
        decision = model.decode(model.pyomo)
        if model.evaluate is not None:
            evaluation = model.evaluate(decision)
        else:
            evaluation = evaluate(model.instance, decision)
        referee = evaluation.objectives.get(model.objective_name)
        if (
            objective is not None
            and referee is not None
            and math.isfinite(referee)
            and abs(referee - objective) > 1e-6 * max(1.0, abs(referee))
        ):
            notes.append(
                f"the evaluator's {model.objective_name} ({referee:.9g}) differs from the "
                f"solver's objective ({objective:.9g})"
            )
        if not evaluation.feasible:
            notes.append(f"the evaluator found {len(evaluation.violations)} violation(s)")
    result = SolveResult(
        termination=termination,
        objective=objective,
        bound=bound,
        gap=relative_gap(objective, bound),
        has_solution=has_solution,
        decision=decision,
        evaluation=evaluation,
        build_s=model.build_s,
        solve_s=solve_s,
        wall_s=model.build_s + (time.perf_counter() - t0),
        solver="highs",
        solver_version=_version(),
        model=model.name,
        stats=dict(model.stats),
        notes=tuple(notes),
    )
    return result


@dataclass(frozen=True)
class LPRelaxation:
    """The LP relaxation of a model: its optimal value (a bound) and dual prices.

    Attributes
    ----------
    termination : Termination
    bound : float or None
        Optimal value of the relaxation: a lower bound on the MILP optimum when minimizing.
    duals : dict
        Dual value of every constraint, by the constraint's Pyomo name.
    solve_s : float
    """

    termination: Termination
    bound: float | None
    duals: dict[str, float]
    solve_s: float


def lp_relaxation(model: BuiltModel, *, time_limit: float | None = None) -> LPRelaxation:
    """Solve the LP relaxation of ``model`` (integrality dropped) on a copy.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> from edgebound.models import mmv
    >>> built = mmv.build(load("gentzen-star4"))
    >>> lp = lp_relaxation(built)
    >>> lp.bound <= solve(built).objective + 1e-9
    True
    """
    relaxed = model.pyomo.clone()
    pyo.TransformationFactory("core.relax_integer_vars").apply_to(relaxed)
    opt = Highs()
    kwargs: dict[str, Any] = {
        "load_solutions": False,
        "raise_exception_on_nonoptimal_result": False,
        "solver_options": _options(0.0, None, False),
    }
    if time_limit is not None:
        kwargs["time_limit"] = float(time_limit)
    t0 = time.perf_counter()
    res = opt.solve(relaxed, **kwargs)
    solve_s = time.perf_counter() - t0
    termination = _TERMINATION.get(res.termination_condition, Termination.ERROR)
    bound = None
    duals: dict[str, float] = {}
    if termination is Termination.OPTIMAL and res.incumbent_objective is not None:
        bound = float(res.incumbent_objective)
        duals = {c.name: float(v) for c, v in res.solution_loader.get_duals().items()}
    return LPRelaxation(termination=termination, bound=bound, duals=duals, solve_s=solve_s)
