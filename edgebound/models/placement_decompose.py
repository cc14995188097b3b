"""Fix-and-optimize over edge clusters for the one-period placement MILP, with a certified gap.

Large continuum instances (hundreds of edge nodes) have tens of thousands of binaries; HiGHS
spends a minute in the root node of the whole model without improving a start. This
matheuristic improves the incumbent by solving the *whole* model repeatedly with most
binaries fixed:

1. the incumbent starts as the model's MIP start (the greedy decision, see
   :func:`edgebound.models.placement.build`);
2. for each group of nodes in turn (every edge cluster with the cloud nodes), the binaries of
   the nodes outside the group (``u``, the unary counts ``delta`` and the far-route
   indicators ``y``) are fixed at the incumbent and HiGHS solves the rest, routing included,
   for a share of the time limit, from the incumbent; a better decision becomes the
   incumbent. Then the same with every binary of the services that need a GPU free (and
   every switch ``u``): the few GPU hosts of the edge are shared by all those services, a
   choice that no node group sees whole. Rounds over the groups repeat while they improve
   and time remains;
3. the fixings are lifted and, for the rest of the time, HiGHS runs the model *without its
   far-route rows* (``slo_far`` and ``route``, every indicator ``y`` fixed at 0) from the
   incumbent. ``y`` appears in no other row and not in the objective, so every decision of
   the whole model is one of this model with the same objective: it is a relaxation, and
   its dual bound is a bound of the whole model. Without the 13,388 indicators and their
   big-M rows HiGHS gets much further with it (on the large ``continuum-random`` instance,
   43.02 after 30 s against 41.57 for the whole model). Its best decision, with its counts
   and switches fixed, is routed in the whole model (the rows restored, the indicators
   free); it replaces the incumbent when that succeeds and is better. With
   ``relaxed_bound=False`` the whole model runs instead (its decisions may replace the
   incumbent directly).

By default (``parallel=True``) steps 2 and 3 run at the same time on two cores: a copy of
the HiGHS model runs the relaxation in a thread of its own for the whole time limit (HiGHS
releases the interpreter while it runs), while this thread runs the sub-problems, and once
they stop improving, the whole model from the incumbent (its bound counts too). On the
large instance that gives the sub-problems 60 s instead of 30 and the relaxation 60 s
instead of 30: a certified gap of 3.9-5.1 % at 60 s (six runs) against 6.85 % one after
the other.

The reported bound is therefore always a bound of the full model (the best of its LP
relaxation and the final run's dual bound), never a sub-problem's; the reported objective
is the evaluator's value of the returned decision, which equals the model's objective.
The whole model is handed to HiGHS once (through Pyomo) and the sub-problems only change
column and row bounds of that HiGHS model.

:func:`price_and_branch` is the other primal method here: column generation over every
service (:mod:`edgebound.models.placement_cuts`), then its restricted master as a MILP.
It needs minutes on the large instance but finds better decisions there than
fix-and-optimize given as much time; its decision can start fix-and-optimize
(``placement.build(..., start=decision)``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import highspy
import numpy as np
from pyomo.contrib.solver.solvers.highs import Highs

from edgebound.errors import SolverError
from edgebound.models.placement_cuts import (
    _MAX_COLUMNS,
    _check_cuttable,
    _check_threads,
    _handover,
    _Outcome,
    _ServiceDW,
    _var_type,
    add_rows,
    service_columns,
)
from edgebound.solvers.base import BuiltModel
from edgebound.solvers.highs import (
    _check_mip_gap,
    _check_time_limit,
    _configure,
    _start_vector,
    _version,
)
from edgebound.solvers.result import SolveResult, Termination, relative_gap

__all__ = ["node_groups", "price_and_branch", "relaxation_run", "solve"]

_INTEGRAL = (highspy.HighsVarType.kInteger,)


def node_groups(built: BuiltModel) -> list[list[int]]:
    """Node indices of each edge cluster (in file order) together with the cloud nodes.

    The cloud takes part in every group: moving load between a cluster and the cloud is
    the move that pays (a cloud replica costs several edge replicas).

    Parameters
    ----------
    built : BuiltModel
        A one-period model from :func:`edgebound.models.placement.build`.

    Returns
    -------
    list of list of int

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> from edgebound.models import placement
    >>> groups = node_groups(placement.build(generate("continuum-random", "small", seed=0)))
    >>> [len(g) for g in groups]
    [6, 6]
    """
    by: dict[str | None, list[int]] = {}
    for k, node in enumerate(built.instance.topology.nodes):
        by.setdefault(node.cluster if node.tier != "cloud" else None, []).append(k)
    cloud = by.pop(None, [])
    return [g + cloud for g in by.values()] or [cloud]


def _binaries(built: BuiltModel, col_of: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    """Column -> (node index, service index or -1 for ``u``) of each binary of the period
    (``u``, ``delta``, ``y``)."""
    m = built.pyomo
    out: dict[int, tuple[int, int]] = {}
    for n, v in m.u.items():
        out[col_of[id(v)]] = (int(n), -1)
    for (s, n, _), v in m.delta.items():
        out[col_of[id(v)]] = (int(n), int(s))
    for (s, _, n), v in m.y.items():
        out[col_of[id(v)]] = (int(n), int(s))
    return out


def _gpu_services(built: BuiltModel) -> list[int]:
    """Indices of the services whose replicas need a GPU."""
    return [k for k, sv in enumerate(built.instance.services) if sv.versions[0].gpus > 0]


def solve(
    built: BuiltModel,
    *,
    time_limit: float = 60.0,
    mip_gap: float = 0.01,
    threads: int | None = None,
    polish_share: float = 0.5,
    groups: Sequence[Sequence[int]] | None = None,
    lp_bound: float | None = None,
    relaxed_bound: bool = True,
    parallel: bool = True,
    service_cuts: bool = False,
    verbose: bool = False,
) -> SolveResult:
    """Fix-and-optimize over node groups and the GPU services, with a certified bound.

    Parameters
    ----------
    built : BuiltModel
        A one-period model from :func:`edgebound.models.placement.build` with its MIP start
        (``start="greedy"``, the default) and without latency.
    time_limit : float
        Seconds for everything after the hand-over of the model to HiGHS.
    mip_gap : float
        Relative gap at which the final run stops (and each sub-problem's own gap).
    threads : int, optional
        HiGHS threads.
    polish_share : float
        Share of ``time_limit`` given to the sub-problems (at most; the rest goes to the
        bound's run) when the phases run one after the other (``parallel`` False, or no
        far routes); with ``parallel`` the sub-problems take the whole time limit.
    groups : sequence of sequence of int, optional
        Node indices of each group; by default :func:`node_groups`.
    lp_bound : float, optional
        A known bound of the whole model (e.g. its LP relaxation) to report if the final run
        proves less.
    relaxed_bound : bool
        Run the final phase on the model without its far-route rows (see the module
        documentation), a relaxation whose bound is valid for the whole model and which
        HiGHS gets much further with; False runs the whole model. Without far routes the
        two are the same.
    parallel : bool
        With ``relaxed_bound``: run the relaxation in a second HiGHS, in a thread of its own
        (HiGHS releases the interpreter while it runs, so the two use two cores), for the
        whole time limit, while the sub-problems take the whole time limit in this one (and,
        once they stop improving, the whole model from the incumbent); the work stops early
        when the relaxation's bound certifies the gap. False runs the phases one after the
        other on one core.
    service_cuts : bool
        Before the bound's run, up to half the time limit of column generation over the
        services with a small own MILP (:mod:`edgebound.models.placement_cuts`), whose
        Lagrangian cuts are added to the model the bound comes from (in the second thread
        with ``parallel``). Pays when that column generation converges within the time:
        on the large ``continuum-random`` instance it needs about two minutes.
    verbose : bool
        Print progress.

    Returns
    -------
    SolveResult
        ``bound`` is a bound of the whole model; ``stats`` adds ``start_objective``,
        ``polished_objective``, ``polish_s`` and ``groups_improved`` (and with
        ``service_cuts``: ``service_cuts``, the number of cuts, ``service_bound``, their
        Lagrangian bound, ``service_cuts_s`` and ``service_cuts_converged``).

    Raises
    ------
    SolverError
        Without a start, or for a model with outer-approximation cuts (latency).

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> from edgebound.models import placement
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> w = {"energy": 20.0, "cost": 1.0, "dropped": 1000.0, "migrations": 0.5}
    >>> res = solve(placement.build(inst, weights=w), time_limit=20)
    >>> res.evaluation.feasible, res.gap <= 0.01
    (True, True)
    >>> abs(res.objective - res.evaluation.objectives["weighted"]) < 1e-6
    True
    """
    if built.refine is not None:
        raise SolverError(
            "fix-and-optimize: mean latency (a latency weight, objective or constraint) is not "
            "supported; build the model with weights or an objective without latency"
        )
    if built.start is None:
        raise SolverError("fix-and-optimize needs the model's MIP start (start='greedy')")
    if not (time_limit > 0 and math.isfinite(time_limit)):
        raise SolverError(f"time_limit: {time_limit!r} must be a positive number of seconds")
    if not 0 < polish_share < 1:
        raise SolverError(f"polish_share: {polish_share!r} must be in (0, 1)")
    if service_cuts:
        _check_cuttable(built)
    t_begin = time.perf_counter()
    opt = Highs()
    opt.config.solver_options = {}
    start = _start_vector(opt, built)
    if start is None:
        raise SolverError(
            "fix-and-optimize: the model has no start (build it with start='greedy' or a "
            "decision; the greedy construction found no feasible decision if it was asked)"
        )
    start = np.nan_to_num(start, nan=0.0)
    h: highspy.Highs = opt._solver_model
    col_of: dict[int, int] = opt._pyomo_var_to_solver_var_map
    _configure(h, mip_gap, threads, verbose)
    handover_s = time.perf_counter() - t_begin
    t0 = time.perf_counter()
    lp = h.getLp()
    lower = np.asarray(lp.col_lower_, dtype=float)
    upper = np.asarray(lp.col_upper_, dtype=float)
    sense = 1.0 if h.getObjectiveSense()[1] == highspy.ObjSense.kMinimize else -1.0
    of = _binaries(built, col_of)
    bin_cols = np.array(sorted(of), dtype=np.int32)
    bin_node = np.array([of[int(c)][0] for c in bin_cols])
    bin_service = np.array([of[int(c)][1] for c in bin_cols])

    row_of = opt._pyomo_con_to_solver_con_map
    use_relaxation = relaxed_bound and len(built.pyomo.slo_far) > 0
    side: _SideRun | None = None
    if use_relaxation and parallel:
        # a copy of the model, made before any bound changes, for the second thread
        h2 = highspy.Highs()
        h2.passModel(h.getModel())
        # the relaxation is there for the bound: it does not stop at its own gap (the work
        # stops when its bound certifies this thread's incumbent, see closes())
        _configure(h2, min(mip_gap, 1e-4), threads, False)
        side = _SideRun(
            _FarRoutes(built, h2, col_of, row_of),
            service_columns(built, col_of) if service_cuts else None,
            threads,
        )

    try:
        # the start, completed by HiGHS's check: run with every binary fixed at its value
        incumbent, best = _fixed_run(h, start, bin_cols, lower, upper, time_limit)
        if incumbent is None:
            raise SolverError("fix-and-optimize: the model's start is not feasible for it")
        start_obj = best
        groups_ = [list(g) for g in (groups if groups is not None else node_groups(built))]
        # then every binary of the services that need a GPU (and every switch): the few GPU
        # hosts of the edge are shared by all of them, a choice that no node group sees whole
        gpu = _gpu_services(built)
        frees = [np.isin(bin_node, g) for g in groups_]
        if gpu:
            frees.append(np.isin(bin_service, gpu) | (bin_service < 0))
        deadline = t0 + time_limit
        polish_until = t0 + polish_share * time_limit
        if side is not None:
            # the relaxation runs on the other core for the whole time; the sub-problems too
            side.start(
                incumbent,
                max(0.5, deadline - time.perf_counter() - _REPAIR_S),
                0.5 * time_limit if service_cuts else 0.0,
            )
            polish_until = deadline - _REPAIR_S
        improved = 0
        rounds = 0
        while time.perf_counter() < polish_until and not (
            side is not None and side.closes(best, mip_gap)
        ):
            rounds += 1
            gain = False
            for k, free in enumerate(frees):
                left = polish_until - time.perf_counter()
                if left <= 0.2 or (side is not None and side.closes(best, mip_gap)):
                    break
                fix = bin_cols[~free]
                val = np.round(incumbent[fix])
                lo = lower.copy()
                hi = upper.copy()
                lo[fix] = val
                hi[fix] = val
                h.changeColsBounds(len(bin_cols), bin_cols, lo[bin_cols], hi[bin_cols])
                h.setSolution(_solution(incumbent))
                per = max(0.5, left / max(1, len(frees) - k))
                h.setOptionValue("time_limit", float(per))
                h.run()
                sol, obj = _read(h)
                if sol is not None and sense * (best - obj) > 1e-9 * max(1.0, abs(best)):
                    incumbent, best = sol, obj
                    improved += 1
                    gain = True
                if verbose:
                    print(f"round {rounds} group {k}: {obj} (best {best})")
            if not gain:
                break
        polished = best
        polish_s = time.perf_counter() - t0
        h.changeColsBounds(len(bin_cols), bin_cols, lower[bin_cols], upper[bin_cols])
        cut_out: _Outcome | None = None
        cut_s = 0.0
        cuts_in_h = False
        if service_cuts and side is None:
            t_cut = time.perf_counter()
            left = deadline - t_cut - (_REPAIR_S if use_relaxation else 0.0)
            dw = _ServiceDW(
                h.getLp(), service_columns(built, col_of), _MAX_COLUMNS, highs_threads=threads
            )
            cut_out = dw.run(incumbent, t_cut + 0.5 * max(0.0, left), 1, None)
            add_rows(h, cut_out.rows)
            cuts_in_h = True
            cut_s = time.perf_counter() - t_cut
        far = _FarRoutes(built, h, col_of, row_of) if use_relaxation else None
        bound: float | None = None
        if far is None or (
            side is not None
            and time.perf_counter() < deadline - _REPAIR_S - 1
            and not side.closes(best, mip_gap)
        ):
            if side is not None and side.cuts is not None and not cuts_in_h:
                add_rows(h, side.cuts.rows)  # the service cuts, when ready, here too
                cuts_in_h = True
            # the whole model from the incumbent: its bound is the full model's (and with the
            # relaxation in the other thread, the sub-problems having stopped improving, the
            # rest of this thread's time goes to it)
            h.setSolution(_solution(incumbent))
            h.setOptionValue(
                "time_limit",
                float(max(0.5, deadline - time.perf_counter() - (_REPAIR_S if side else 0.0))),
            )
            ran = h.run() != highspy.HighsStatus.kError
            sol, obj = _read(h)
            if sol is not None and sense * (best - obj) > 0:
                incumbent, best = sol, obj
            info = h.getInfo()
            if ran and math.isfinite(info.mip_dual_bound):
                bound = float(info.mip_dual_bound)
        if far is not None:
            if side is not None:
                side_bound, sol, obj = side.result()
                cut_out, cut_s = side.cuts, side.cuts_s
            else:
                side_bound, sol, obj = far.relaxed_run(
                    incumbent, max(0.5, deadline - time.perf_counter() - _REPAIR_S)
                )
            if side_bound is not None and (bound is None or sense * (side_bound - bound) > 0):
                bound = side_bound
            if sol is not None and sense * (best - obj) > 0:
                # the relaxation's decision with its counts and switches, routed in the whole model
                fixed = np.setdiff1d(bin_cols, far.y_cols)
                sol, obj = far.repaired(sol, fixed, max(0.5, deadline - time.perf_counter()))
                if sol is not None and sense * (best - obj) > 0:
                    incumbent, best = sol, obj
    except BaseException:
        if side is not None:
            side.cancel()
        raise
    if lp_bound is not None and (bound is None or sense * (lp_bound - bound) > 0):
        bound = lp_bound
    cut_stats: dict[str, Any] = {}
    if cut_out is not None:
        if cut_out.bound is not None and (bound is None or sense * (cut_out.bound - bound) > 0):
            bound = cut_out.bound
        cut_stats = {
            "service_cuts": len(cut_out.rows),
            "service_bound": cut_out.bound,
            "service_cuts_s": cut_s,
            "service_cuts_converged": cut_out.converged,
        }
    solve_s = time.perf_counter() - t0
    decision, evaluation, objective, notes = _refereed(built, col_of, incumbent, best)
    gap = relative_gap(objective, bound)
    status = h.getModelStatus()
    if gap is not None and gap <= mip_gap + 1e-12:
        termination = Termination.OPTIMAL
    elif (
        status == highspy.HighsModelStatus.kTimeLimit
        or time.perf_counter() >= deadline - _REPAIR_S - 1
    ):
        termination = Termination.TIME_LIMIT
    else:
        termination = Termination.ITERATION_LIMIT
    notes.append(
        f"fix-and-optimize over {len(groups_)} node groups"
        + (" and the GPU services" if gpu else "")
        + f" ({rounds} round(s), {improved} improvement(s)), then "
        + (
            "the model without its far-route rows (a relaxation) for the bound"
            + (" in a second thread" if side is not None else "")
            if far is not None
            else "the whole model for its bound"
        )
    )
    return SolveResult(
        termination=termination,
        objective=objective,
        bound=bound,
        gap=gap,
        has_solution=True,
        decision=decision,
        evaluation=evaluation,
        build_s=built.build_s,
        solve_s=solve_s,
        wall_s=built.build_s + (time.perf_counter() - t_begin),
        solver="highs",
        solver_version=_version(),
        model=built.name,
        stats={
            **built.stats,
            "method": "fix-and-optimize",
            "start_objective": start_obj,
            "polished_objective": polished,
            "polish_s": polish_s,
            "handover_s": handover_s,
            "groups_improved": improved,
            **cut_stats,
        },
        notes=tuple(notes),
    )


_REPAIR_S = 2.0  # seconds kept for routing the relaxation's decision in the whole model


def _refereed(
    built: BuiltModel, col_of: Mapping[int, int], values: np.ndarray, solver_objective: float
) -> tuple[dict[str, Any], Any, float, list[str]]:
    """A column vector loaded into the Pyomo model, decoded and refereed: the decision, its
    evaluation, the objective to report (the evaluator's) and the notes."""
    for v in built.pyomo.component_data_objects(ctype=_var_type()):
        col = col_of.get(id(v))
        if col is not None:
            v.set_value(float(values[col]), skip_validation=True)
    decision = built.decode(built.pyomo)
    evaluation = built.evaluate(decision) if built.evaluate is not None else None
    referee = evaluation.objectives.get(built.objective_name) if evaluation else None
    notes = list(built.notes)
    if referee is not None and abs(referee - solver_objective) > 1e-6 * max(1.0, abs(referee)):
        notes.append(
            f"the evaluator's {built.objective_name} ({referee:.9g}) differs from the "
            f"solver's objective ({solver_objective:.9g})"
        )
    if evaluation is not None and not evaluation.feasible:
        notes.append(f"the evaluator found {len(evaluation.violations)} violation(s)")
    objective = referee if referee is not None and math.isfinite(referee) else solver_objective
    return decision, evaluation, objective, notes


def price_and_branch(
    built: BuiltModel,
    *,
    time_limit: float = 600.0,
    mip_gap: float = 0.01,
    threads: int = 2,
    pricing_share: float = 0.8,
    verbose: bool = False,
) -> SolveResult:
    """Column generation over every service, then the best combination of its columns.

    Dantzig-Wolfe over the services (:mod:`edgebound.models.placement_cuts`) with every
    service priced generates, for each service, whole placements of it (replica counts and
    routes) that the master's prices favour. Once the column generation has converged or
    ``pricing_share`` of the time is spent, the restricted master is solved as a MILP: one
    column per service, node switches binary, the shared rows (node capacity, power caps,
    replica floors, migration budget) as in the model. Its solution is a decision of the
    whole model (each column satisfies its service's rows); the reported bound is the
    column generation's Lagrangian bound, a bound of the whole model (the restricted
    MILP's own bound is not one).

    On the large ``continuum-random`` instance the decisions found this way are better than
    fix-and-optimize's given as much time (see the placement model's documentation for the
    measured values): the columns carry the services' placements as wholes, which no node
    group sees.

    Parameters
    ----------
    built : BuiltModel
        A one-period model from :func:`edgebound.models.placement.build` without latency,
        with a MIP start (``start="greedy"``, the default, or a decision): the start gives
        the first column of every service, so the restricted MILP has a solution (the start
        is returned should HiGHS find none in time).
    time_limit : float
        Seconds for both phases.
    mip_gap : float
        Relative gap (objective against the Lagrangian bound) at which the result counts as
        optimal; the restricted MILP stops at its own gap of at most 1e-4.
    threads : int
        Pricing problems solved at the same time.
    pricing_share : float
        Share of ``time_limit`` the column generation may take, in (0, 1).
    verbose : bool
        Print each iteration.

    Returns
    -------
    SolveResult
        ``stats`` adds ``iterations``, ``columns`` (generated), ``converged``,
        ``lagrangian_bound``, ``pricing_s`` and ``master_s``.

    Raises
    ------
    SolverError
        Without a start, for a model with latency, or bad parameters.

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> from edgebound.models import placement
    >>> w = {"energy": 20.0, "cost": 1.0, "dropped": 1000.0, "migrations": 0.5}
    >>> built = placement.build(generate("continuum-random", "small", seed=0), weights=w)
    >>> res = price_and_branch(built, time_limit=30, mip_gap=1e-4)
    >>> res.evaluation.feasible and res.bound <= res.objective + 1e-9
    True
    >>> abs(res.objective - res.evaluation.objectives["weighted"]) < 1e-6
    True
    """
    _check_time_limit(time_limit)
    _check_mip_gap(mip_gap)
    _check_threads(threads)
    if not 0 < pricing_share < 1:
        raise SolverError(f"pricing_share: {pricing_share!r} must be in (0, 1)")
    _check_cuttable(built)
    t_begin = time.perf_counter()
    h, col_of, _, start = _handover(built, "price-and-branch")
    handover_s = time.perf_counter() - t_begin
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    lp = h.getLp()
    dw = _ServiceDW(lp, service_columns(built, col_of), lp.num_col_)

    def progress(it: int, master: float | None, bound: float | None) -> None:
        if verbose:
            print(f"iteration {it}: master {master}, bound {bound}")

    out = dw.run(start, t0 + pricing_share * time_limit, threads, progress)
    pricing_s = time.perf_counter() - t0
    master = out.master_model
    if master is None or not out.patterns:
        raise SolverError("price-and-branch: the column generation built no master")
    # the restricted master as a MILP: the master columns keep their types, every column of
    # a service is 0 or 1 (its convexity row makes one of them 1)
    t_master = time.perf_counter()
    integ = np.zeros(lp.num_col_, dtype=int)
    if len(lp.integrality_):
        integ = np.array([int(t) for t in lp.integrality_])
    nm = len(dw.mcols)
    ncol = master.getNumCol()
    types = [int(integ[j]) for j in dw.mcols] + [int(_INTEGRAL[0])] * (ncol - nm)
    master.changeColsIntegrality(
        ncol,
        np.arange(ncol, dtype=np.int32),
        np.array([highspy.HighsVarType(t) for t in types]),
    )
    # the restricted master's own gap certifies nothing about the whole model, and it is
    # small (one binary per column): solve it close to its optimum
    master.setOptionValue("mip_rel_gap", min(float(mip_gap), 1e-4))
    master.setOptionValue("time_limit", float(max(0.5, deadline - time.perf_counter())))
    master.setOptionValue("output_flag", bool(verbose))
    master.run()
    # no MIP start: given the start, the run reported an optimum below the Lagrangian bound
    # and a solution of another value
    values = start.copy()
    found = master.getInfo().primal_solution_status == 2
    if found:
        chosen = np.asarray(master.getSolution().col_value, dtype=float)
        values[dw.mcols] = chosen[:nm]
        for k, (s, xs) in enumerate(out.patterns):
            if chosen[nm + k] > 0.5:
                values[dw.sub[s][0]] = xs
    master_s = time.perf_counter() - t_master
    best = float(np.asarray(lp.col_cost_, dtype=float) @ values) + float(lp.offset_)
    decision, evaluation, objective, notes = _refereed(built, col_of, values, best)
    bound = out.bound
    gap = relative_gap(objective, bound)
    if gap is not None and gap <= mip_gap + 1e-12:
        termination = Termination.OPTIMAL
    elif time.perf_counter() >= deadline - 1e-3 or not out.converged:
        termination = Termination.TIME_LIMIT
    else:
        termination = Termination.ITERATION_LIMIT
    notes.append(
        f"price-and-branch: {out.iterations} column generation iteration(s) over "
        f"{len(dw.priced)} services ({'converged' if out.converged else 'not converged'}), "
        f"then the restricted master over {len(out.patterns)} columns as a MILP; the bound "
        "is the column generation's Lagrangian bound"
        + ("" if found else "; the restricted master found no solution in time: the start")
    )
    return SolveResult(
        termination=termination,
        objective=objective,
        bound=bound,
        gap=gap,
        has_solution=True,
        decision=decision,
        evaluation=evaluation,
        build_s=built.build_s,
        solve_s=time.perf_counter() - t0,
        wall_s=built.build_s + (time.perf_counter() - t_begin),
        solver="highs",
        solver_version=_version(),
        model=built.name,
        stats={
            **built.stats,
            "method": "price-and-branch",
            "iterations": out.iterations,
            "columns": len(out.patterns),
            "converged": out.converged,
            "lagrangian_bound": out.bound,
            "pricing_s": pricing_s,
            "master_s": master_s,
            "handover_s": handover_s,
        },
        notes=tuple(notes),
    )


def relaxation_run(
    built: BuiltModel,
    time_limit: float,
    mip_gap: float,
    threads: int | None = None,
    *,
    service_cuts: bool = False,
) -> _SideRun | None:
    """Start HiGHS on the one-period model without its far-route rows, in a thread of its own.

    The relaxation of :func:`solve`'s bound (see the module documentation), handed to a HiGHS
    model of its own and run for ``time_limit`` seconds from the model's start (when it
    has one) while the caller goes on.

    Parameters
    ----------
    built : BuiltModel
        A one-period model from :func:`edgebound.models.placement.build`.
    time_limit : float
        Seconds for the relaxation.
    mip_gap : float
        Relative gap at which it stops.
    threads : int, optional
        HiGHS threads.
    service_cuts : bool
        First, for up to half the time, the column generation of
        :mod:`edgebound.models.placement_cuts` (from the model's MIP start; without one it
        is skipped); its Lagrangian cuts are added to the relaxation, and its bound counts
        when it is the better one.

    Returns
    -------
    object or None
        A handle: ``result()`` waits for the run and returns ``(bound, values, objective)``,
        ``bound`` a bound of the whole model (None if none was proven); ``cancel()`` stops
        the run. None when the model has no far routes (the relaxation is the model).

    Raises
    ------
    SolverError
        For a time limit that is not a positive number of seconds.

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> from edgebound.models import placement
    >>> from edgebound.solvers import solve
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> w = {"energy": 20.0, "cost": 1.0, "dropped": 1000.0, "migrations": 0.5}
    >>> built = placement.build(inst, weights=w)
    >>> side = relaxation_run(built, 20, 1e-6)
    >>> bound = side.result()[0]
    >>> bound <= solve(built, mip_gap=1e-6).objective + 1e-6
    True
    """
    _check_time_limit(time_limit)
    m = built.pyomo
    if len(getattr(m, "slo_far", ())) == 0:
        return None
    if service_cuts:
        _check_cuttable(built)
    opt = Highs()
    opt.config.solver_options = {}
    start = _start_vector(opt, built)
    if start is None:
        opt.set_instance(m)
    h: highspy.Highs = opt._solver_model
    _configure(h, mip_gap, threads, False)
    col_of = opt._pyomo_var_to_solver_var_map
    side = _SideRun(
        _FarRoutes(built, h, col_of, opt._pyomo_con_to_solver_con_map),
        service_columns(built, col_of) if service_cuts else None,
        threads,
    )
    side.start(
        None if start is None else np.nan_to_num(start, nan=0.0),
        time_limit,
        0.5 * time_limit if service_cuts else 0.0,
    )
    return side


class _SideRun:
    """The relaxation run in a thread of its own (see ``parallel``)."""

    def __init__(
        self,
        far: _FarRoutes,
        owner: dict[int, int] | None = None,
        threads: int | None = None,
    ) -> None:
        self.far = far
        self.threads = threads  # HiGHS threads of the column generation's solves too
        far.h.HandleUserInterrupt = True  # so that cancel() can stop a run
        self.out: tuple[float | None, np.ndarray | None, float] = (None, None, math.nan)
        self.thread: threading.Thread | None = None
        self.owner = owner  # with service cuts: column -> service
        self.cuts: _Outcome | None = None
        self.cuts_s = 0.0
        self.stopped = False

    def start(self, incumbent: np.ndarray | None, seconds: float, cut_seconds: float = 0.0) -> None:
        def work() -> None:
            left = seconds
            if self.owner is not None and incumbent is not None and cut_seconds > 0:
                # service cuts first (their column generation), then the relaxation with them
                t = time.perf_counter()
                dw = _ServiceDW(
                    self.far.h.getLp(), self.owner, _MAX_COLUMNS, highs_threads=self.threads
                )
                self.cuts = dw.run(incumbent, t + cut_seconds, 1, None, lambda: self.stopped)
                add_rows(self.far.h, self.cuts.rows)
                self.cuts_s = time.perf_counter() - t
                left = seconds - self.cuts_s
            if not self.stopped:
                self.out = self.far.relaxed_run(incumbent, max(0.5, left))
                own = self.cuts.bound if self.cuts is not None else None
                if own is not None and (self.out[0] is None or own > self.out[0]):
                    self.out = (own, self.out[1], self.out[2])

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()

    def closes(self, best: float, mip_gap: float) -> bool:
        """Whether the relaxation has finished with a bound that certifies ``best``."""
        if self.thread is None or self.thread.is_alive():
            return False
        gap = relative_gap(best, self.out[0])
        return gap is not None and gap <= mip_gap

    def result(self) -> tuple[float | None, np.ndarray | None, float]:
        if self.thread is not None:
            self.thread.join()
        return self.out

    def cancel(self) -> None:
        """Stop the run and wait for its thread (a HiGHS run left going in a thread when
        the caller fails would outlive it, and abort the interpreter at exit)."""
        self.stopped = True
        self.far.h.cancelSolve()
        self.result()


class _FarRoutes:
    """The far-route rows of a one-period model in its HiGHS copy, to be dropped and
    restored: without them (and with every far-route indicator ``y`` at 0) the model is a
    relaxation of the whole model, since ``y`` appears in no other row and not in the
    objective."""

    def __init__(
        self,
        built: BuiltModel,
        h: highspy.Highs,
        col_of: Mapping[int, int],
        row_of: Mapping[Any, int],
    ) -> None:
        m = built.pyomo
        self.h = h
        keys = list(m.slo_far.keys())
        self.rows = np.array(
            [row_of[m.slo_far[k]] for k in keys] + [row_of[m.route[k]] for k in keys],
            dtype=np.int32,
        )
        self.y_cols = np.array([col_of[id(m.y[k])] for k in keys], dtype=np.int32)
        lp = h.getLp()
        self.lo = np.asarray(lp.row_lower_, dtype=float)[self.rows]
        self.hi = np.asarray(lp.row_upper_, dtype=float)[self.rows]

    def relaxed_run(
        self, incumbent: np.ndarray | None, seconds: float
    ) -> tuple[float | None, np.ndarray | None, float]:
        """Bound, decision and objective of HiGHS on the relaxation from ``incumbent``
        (a decision of the whole model, or None)."""
        h, n, k = self.h, len(self.rows), len(self.y_cols)
        h.changeRowsBounds(  # type: ignore[attr-defined]
            n, self.rows, np.full(n, -highspy.kHighsInf), np.full(n, highspy.kHighsInf)
        )
        h.changeColsBounds(k, self.y_cols, np.zeros(k), np.zeros(k))
        if incumbent is not None:
            start = incumbent.copy()
            start[self.y_cols] = 0.0
            h.setSolution(_solution(start))
        h.setOptionValue("time_limit", float(seconds))
        if h.run() == highspy.HighsStatus.kError:
            return None, None, math.nan  # e.g. a thread pool of another size: no bound
        info = h.getInfo()
        bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else None
        sol, obj = _read(h)
        return bound, sol, obj

    def repaired(
        self, sol: np.ndarray, fixed: np.ndarray, seconds: float
    ) -> tuple[np.ndarray | None, float]:
        """The far-route rows restored, the ``fixed`` binaries at their values in ``sol``
        and the indicators free: HiGHS's routing of that decision in the whole model."""
        h, n, k = self.h, len(self.rows), len(self.y_cols)
        h.changeRowsBounds(n, self.rows, self.lo, self.hi)  # type: ignore[attr-defined]
        h.changeColsBounds(k, self.y_cols, np.zeros(k), np.ones(k))
        val = np.round(sol[fixed])
        h.changeColsBounds(len(fixed), fixed, val, val)
        h.setOptionValue("time_limit", float(seconds))
        h.run()
        return _read(h)


def _solution(values: np.ndarray) -> highspy.HighsSolution:
    sol = highspy.HighsSolution()
    sol.col_value = list(map(float, values))
    sol.value_valid = True
    return sol


def _read(h: highspy.Highs) -> tuple[np.ndarray | None, float]:
    """HiGHS's solution and the objective *of those values* (not HiGHS's report of it)."""
    info = h.getInfo()
    if info.primal_solution_status != 2:  # kSolutionStatusFeasible
        return None, math.nan
    sol = np.asarray(h.getSolution().col_value, dtype=float)
    lp = h.getLp()
    return sol, float(np.dot(np.asarray(lp.col_cost_, dtype=float), sol) + lp.offset_)


def _fixed_run(
    h: highspy.Highs,
    start: np.ndarray,
    bin_cols: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    time_limit: float,
) -> tuple[np.ndarray | None, float]:
    """The start's binaries fixed, HiGHS completes and checks the rest: (values, objective)."""
    val = np.clip(np.round(start[bin_cols]), lower[bin_cols], upper[bin_cols])
    h.changeColsBounds(len(bin_cols), bin_cols, val, val)
    h.setSolution(_solution(start))
    h.setOptionValue("time_limit", float(time_limit))
    h.run()
    return _read(h)
