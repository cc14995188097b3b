"""Solving built models with HiGHS through Pyomo's solver interface.

The solver's own status is mapped to :class:`~edgebound.solvers.result.Termination` without
optimism: a solve is ``optimal`` only when HiGHS proved it (within ``mip_gap``), and every
returned decision is re-evaluated by the independent evaluator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap
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


def _check_time_limit(time_limit: float | None) -> None:
    if time_limit is not None and not (time_limit > 0 and math.isfinite(time_limit)):
        raise SolverError(f"time_limit: {time_limit!r} must be a positive number of seconds")


def _check_mip_gap(mip_gap: float) -> None:
    if not 0 <= mip_gap < 1:
        raise SolverError(f"mip_gap: {mip_gap!r} must be in [0, 1)")


def _configure(h: highspy.Highs, mip_gap: float, threads: int | None, verbose: bool) -> None:
    """Give a highspy model the options of :func:`solve` (see :func:`_options`)."""
    for key, value in _options(mip_gap, threads, verbose).items():
        h.setOptionValue(key, value)
    h.setOptionValue("log_to_console", verbose)


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
    start: bool = True,
    highs_options: Mapping[str, Any] | None = None,
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
    start : bool
        Hand the model's MIP start (``model.start``, e.g. the greedy decision of the
        placement model) to HiGHS before its first solve, so that it has an incumbent from
        the start. HiGHS checks the start; one that is not feasible is ignored. Without a
        ``model.start`` this does nothing.
    highs_options : mapping, optional
        Further HiGHS options (e.g. ``{"mip_heuristic_effort": 0.3}``), set after the
        ones above.

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
    _check_time_limit(time_limit)
    _check_mip_gap(mip_gap)
    t_start = time.perf_counter()
    rounds = 0
    oa_tol = max(mip_gap / 10.0, 1e-9)
    while True:
        remaining = None if time_limit is None else time_limit - (time.perf_counter() - t_start)
        if remaining is not None and remaining <= 0:
            remaining = 1e-3
        result = _solve_once(
            model,
            remaining,
            mip_gap,
            threads,
            verbose,
            start=start and rounds == 0,
            highs_options=highs_options,
        )
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
    *,
    start: bool = False,
    highs_options: Mapping[str, Any] | None = None,
) -> SolveResult:
    opt = Highs()
    t0 = time.perf_counter()
    kwargs: dict[str, Any] = {
        "load_solutions": False,
        "raise_exception_on_nonoptimal_result": False,
        "solver_options": {**_options(mip_gap, threads, verbose), **dict(highs_options or {})},
        "tee": verbose,
    }
    if time_limit is not None:
        kwargs["time_limit"] = float(time_limit)
    started = False
    try:
        if start and model.start is not None:
            started = _set_start(opt, model)
            if started:
                # the model is loaded already and unchanged: skip Pyomo's change detection
                kwargs["auto_updates"] = dict.fromkeys(_AUTO_UPDATES, False)
        res = opt.solve(model.pyomo, **kwargs)
    except Exception as exc:  # HiGHS or Pyomo failing is reported, not propagated raw
        raise SolverError(f"{model.name}: HiGHS failed: {exc}") from exc
    solve_s = time.perf_counter() - t0
    termination = _TERMINATION.get(res.termination_condition, Termination.ERROR)
    stats = dict(model.stats)
    if started:
        stats["mip_start"] = True
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
        if started and objective is not None and not _loaded_objective_is(model, objective):
            # HiGHS (1.16) may report a better objective while its returned values are
            # still the start's; the solve is repeated without the start then
            return _solve_once(
                model, time_limit, mip_gap, threads, verbose, highs_options=highs_options
            )
        decision = model.decode(model.pyomo)
        evaluation = _referee(model, decision)
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
        if not evaluation.feasible and objective is not None:
            polished = _polish(model, threads, objective)
            if polished is not None:
                objective, decision, evaluation = polished
                notes.append(
                    "the solver's values met the rows only to its tolerances: the integers "
                    "were fixed and the continuous part solved again"
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
        stats=stats,
        notes=tuple(notes),
    )
    return result


def _referee(model: BuiltModel, decision: dict[str, Any]) -> Any:
    """The evaluator's verdict on a decoded decision: the model's own evaluator if it has one."""
    if model.evaluate is not None:
        return model.evaluate(decision)
    return evaluate(model.instance, decision)


def _polish(
    model: BuiltModel, threads: int | None, objective: float
) -> tuple[float, dict[str, Any], Any] | None:
    """The loaded solution with its integers fixed and its continuous part solved again.

    A MIP solution may meet its rows only to HiGHS's tolerances: a binary at 1e-7 counts as
    0 but still lends its row coefficient (a unary replica step its rate limit), so a
    decoded decision can exceed a limit by more than the model's safety margins. With every
    integer variable fixed at its rounded value, the LP that is left meets the rows to its
    own (tighter) tolerance. The polished solution is returned, and loaded, only if the
    evaluator finds it feasible and its objective is no worse than ``objective`` by more
    than 1e-6 (relative; it may be better, the MIP having stopped within its gap);
    otherwise the loaded values are restored and None is returned.
    """
    m = model.pyomo
    variables = list(m.component_data_objects(pyo.Var, active=True))
    saved = ComponentMap((v, v.value) for v in variables)
    ints = [v for v in variables if v.is_integer() and not v.fixed and v.value is not None]
    if not ints:
        return None
    for v in ints:
        v.fix(round(v.value))
    try:
        res = Highs().solve(
            m,
            load_solutions=False,
            raise_exception_on_nonoptimal_result=False,
            solver_options=_options(1e-9, threads, False),
        )
        if res.solution_status is not SolutionStatus.optimal or res.incumbent_objective is None:
            return None
        value = float(res.incumbent_objective)
        sense = 1.0
        for obj in m.component_data_objects(pyo.Objective, active=True):
            sense = 1.0 if obj.sense == pyo.minimize else -1.0
        if sense * (value - objective) > 1e-6 * max(1.0, abs(objective)):
            return None  # worse than the MIP's: keep the MIP's values
        res.solution_loader.load_vars()
        decision = model.decode(m)
        evaluation = _referee(model, decision)
        if not evaluation.feasible:
            return None
        saved = None  # keep the polished values
        return value, decision, evaluation
    except Exception:  # polishing is best effort: the caller keeps its own result
        return None
    finally:
        for v in ints:
            v.unfix()
        if saved is not None:
            for v, old in saved.items():
                v.set_value(old, skip_validation=True)


def _loaded_objective_is(model: BuiltModel, objective: float) -> bool:
    """Whether the active objective at the loaded values is ``objective`` (to 1e-6)."""
    for obj in model.pyomo.component_data_objects(pyo.Objective, active=True):
        value = float(pyo.value(obj))
        return abs(value - objective) <= 1e-6 * max(1.0, abs(objective))
    return True


_AUTO_UPDATES = (
    "check_for_new_or_removed_constraints",
    "check_for_new_or_removed_vars",
    "check_for_new_or_removed_params",
    "check_for_new_objective",
    "update_constraints",
    "update_vars",
    "update_parameters",
    "update_named_expressions",
    "update_objective",
)


def _start_vector(opt: Highs, model: BuiltModel) -> np.ndarray | None:
    """Load ``model`` into ``opt``; the model's start by HiGHS column (NaN where unset).

    Pyomo's HiGHS interface has no MIP start, so this reaches into its persistent state: the
    highspy object (``_solver_model``) and the map from Pyomo variables to HiGHS columns.
    Should either be missing (another Pyomo version), there is no start (None).
    """
    values = model.start() if model.start is not None else None
    if not values:
        return None
    opt.set_instance(model.pyomo)
    highs = getattr(opt, "_solver_model", None)
    col_of = getattr(opt, "_pyomo_var_to_solver_var_map", None)
    if highs is None or col_of is None:
        return None
    cols = np.full(highs.getNumCol(), np.nan)
    for var, value in values.items():
        k = col_of.get(id(var))
        if k is not None:
            cols[k] = float(value)
    return cols if np.isfinite(cols).any() else None


def _set_start(opt: Highs, model: BuiltModel) -> bool:
    """Load ``model`` into ``opt`` and give HiGHS the model's start; whether it was given."""
    cols = _start_vector(opt, model)
    if cols is None:
        return False
    known = np.flatnonzero(np.isfinite(cols))
    status = opt._solver_model.setSolution(
        int(known.size), known.astype(np.int32), cols[known].astype(np.float64)
    )
    return bool(status != highspy.HighsStatus.kError)


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
    _check_time_limit(time_limit)
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
