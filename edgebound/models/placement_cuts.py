"""Service cuts: a Dantzig-Wolfe bound over the services of the one-period placement MILP.

The LP relaxation of the placement model is weak where a service's demand must be covered
by a few whole replicas of very different worth: on the large ``continuum-random``
instance, the services that need a GPU (one GPU per edge host, an M/M/1 queue there,
pooled M/M/c queues in the cloud, a cloud GPU four times the price of an edge one) are
where most of the gap between the LP bound (40.87) and the optimum lies. Each service's own
rows (demand balance, the unary counts, the SLO rate limits, far routes, replica floor,
migrations) form a small MILP; what ties the services together is few rows (node capacity,
power caps, node switches, the migration budget).

:func:`service_cuts` prices the services whose own MILP is small (at most ``max_columns``
columns) by column generation: the restricted master is the LP relaxation of the whole
model with those services' variables replaced by convex combinations of their integer
placements found so far; the pricing problem of a service is its own MILP with costs
reduced by the master's duals of the shared rows. For any duals :math:`\\pi` and service
:math:`s` with variables :math:`x_s`, own feasible set :math:`X_s` and pricing optimum (or
proven bound) :math:`z_s(\\pi)`,

.. math:: (c_s - A_s^\\top \\pi)\\, x_s \\ge z_s(\\pi) \\quad \\text{for every } x_s \\in X_s,

a valid inequality of the whole model (a Lagrangian cut). At the duals of the best
Lagrangian bound found, these cuts lift the LP relaxation of the model to that bound (the
Dantzig-Wolfe bound once the column generation has converged); with them HiGHS's own cuts
start from there. Every cut is valid whether or not the column generation converged; each
right-hand side is the pricing MILP's proven bound less a tolerance margin.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp
from pyomo.contrib.solver.solvers.highs import Highs

from edgebound.errors import SolverError
from edgebound.evaluate.placement import _data
from edgebound.solvers._native import highs_lp
from edgebound.solvers.base import BuiltModel
from edgebound.solvers.highs import _check_time_limit, _start_vector

__all__ = ["ServiceCuts", "service_cuts"]

_INF = highspy.kHighsInf
_MAX_COLUMNS = 600  # services with at most this many own variables are priced
_PRICE_S = 10.0  # seconds per pricing MILP at most (its proven bound counts when it stops)
_BOUNDED = (
    highspy.HighsModelStatus.kOptimal,
    highspy.HighsModelStatus.kTimeLimit,
    highspy.HighsModelStatus.kInterrupt,
)


@dataclass
class ServiceCuts:
    """Lagrangian cuts of the placement model, from :func:`service_cuts`.

    Attributes
    ----------
    rows : list of (ndarray, ndarray, float)
        Each cut as (column indices, coefficients, lower bound) in the column order of the
        model's HiGHS hand-over (the order of ``columns``).
    columns : list
        The Pyomo variable of each HiGHS column.
    bound : float or None
        The best Lagrangian bound found: a bound of the whole model.
    master : float or None
        The restricted master's LP value at the end (equal to ``bound`` on convergence).
    services : tuple of str
        The services priced.
    iterations : int
    converged : bool
        No priced service had a column of negative reduced cost at the last duals, every
        pricing problem solved to optimality (or the master's value met the bound within
        1e-5).
    seconds : float
    history : list of (float, float, float)
        Per iteration: seconds since the start, master value, Lagrangian bound at its duals
        (``-inf`` when a pricing problem proved no bound).

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> from edgebound.models import placement
    >>> from edgebound.solvers import lp_relaxation
    >>> w = {"energy": 20.0, "cost": 1.0, "dropped": 1000.0, "migrations": 0.5}
    >>> built = placement.build(generate("continuum-random", "small", seed=0), weights=w)
    >>> before = lp_relaxation(built).bound
    >>> cuts = service_cuts(built, time_limit=30)
    >>> cuts.add_to(built) == len(cuts.rows)
    True
    >>> lp_relaxation(built).bound > before
    True
    """

    rows: list[tuple[np.ndarray, np.ndarray, float]]
    columns: list[Any]
    bound: float | None
    master: float | None
    services: tuple[str, ...]
    iterations: int
    converged: bool
    seconds: float
    history: list[tuple[float, float, float]] = field(default_factory=list)

    def add_to(self, built: BuiltModel) -> int:
        """Add the cuts to ``built.pyomo`` as the constraint list ``service_cut``.

        Returns the number of cuts added. The model's decisions are unchanged (every cut
        holds for each of them); its LP relaxation is tighter.
        """
        import pyomo.environ as pyo

        m = built.pyomo
        if not hasattr(m, "service_cut"):
            m.service_cut = pyo.ConstraintList()
        for cols, coef, rhs in self.rows:
            m.service_cut.add(
                sum(float(a) * self.columns[j] for j, a in zip(cols, coef, strict=True)) >= rhs
            )
        return len(self.rows)


def service_cuts(
    built: BuiltModel,
    *,
    time_limit: float = 120.0,
    max_columns: int = _MAX_COLUMNS,
    threads: int = 2,
    progress: Callable[[int, float | None, float | None], None] | None = None,
) -> ServiceCuts:
    """Dantzig-Wolfe over the services with a small own MILP; Lagrangian cuts at the best duals.

    Parameters
    ----------
    built : BuiltModel
        A one-period model from :func:`edgebound.models.placement.build` without latency,
        with its MIP start (``start="greedy"``, the default): the start gives the first
        column of each priced service.
    time_limit : float
        Seconds for the column generation (the cuts are those of the best duals found when
        it ends, converged or not).
    max_columns : int
        Services whose own variables number at most this many are priced; the others stay
        in the master as they are.
    threads : int
        Pricing problems solved at the same time (HiGHS releases the interpreter).
    progress : callable, optional
        Called as ``progress(iteration, master, bound)`` after each iteration.

    Returns
    -------
    ServiceCuts

    Raises
    ------
    SolverError
        For a model with latency cuts or without a start, or bad parameters.

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> from edgebound.models import placement
    >>> from edgebound.solvers import solve
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> w = {"energy": 20.0, "cost": 1.0, "dropped": 1000.0, "migrations": 0.5}
    >>> built = placement.build(inst, weights=w)
    >>> cuts = service_cuts(built, time_limit=30)
    >>> cuts.bound <= solve(built, mip_gap=1e-6).objective + 1e-6
    True
    """
    _check_time_limit(time_limit)
    if isinstance(max_columns, bool) or not isinstance(max_columns, int) or max_columns < 1:
        raise SolverError(f"max_columns: {max_columns!r} must be a whole number >= 1")
    _check_threads(threads)
    _check_cuttable(built)
    t0 = time.perf_counter()
    h, col_of, columns, start = _handover(built, "service cuts")
    deadline = t0 + time_limit
    dw = _ServiceDW(h.getLp(), service_columns(built, col_of), max_columns)
    out = dw.run(start, deadline, threads, progress)
    return ServiceCuts(
        rows=out.rows,
        columns=columns,
        bound=out.bound,
        master=out.master,
        services=tuple(_data(built.instance).services[s] for s in dw.priced),
        iterations=out.iterations,
        converged=out.converged,
        seconds=time.perf_counter() - t0,
        history=out.history,
    )


def _handover(
    built: BuiltModel, what: str
) -> tuple[highspy.Highs, dict[int, int], list[Any], np.ndarray]:
    """The model handed to HiGHS: the HiGHS model, Pyomo variable id -> column, the Pyomo
    variable of each column, and the MIP start as a column vector."""
    opt = Highs()
    opt.config.solver_options = {}
    start = _start_vector(opt, built)
    if start is None:
        raise SolverError(f"{what}: the model has no MIP start (build it with start='greedy')")
    h: highspy.Highs = opt._solver_model
    col_of: dict[int, int] = opt._pyomo_var_to_solver_var_map
    columns: list[Any] = [None] * h.getNumCol()
    for v in built.pyomo.component_data_objects(ctype=_var_type()):
        j = col_of.get(id(v))
        if j is not None:
            columns[j] = v
    return h, col_of, columns, np.nan_to_num(start, nan=0.0)


def _check_threads(threads: int) -> None:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SolverError(f"threads: {threads!r} must be a whole number >= 1")


def _check_cuttable(built: BuiltModel) -> None:
    """Service cuts are derived for a minimization without latency cuts."""
    import pyomo.environ as pyo

    if built.refine is not None:
        raise SolverError(
            "service cuts: mean latency (a latency weight, objective or constraint) is not "
            "supported; build the model with weights or an objective without latency"
        )
    objs = list(built.pyomo.component_data_objects(pyo.Objective, active=True))
    if len(objs) != 1 or objs[0].sense != pyo.minimize:
        raise SolverError(
            f"service cuts: objective {built.objective_name!r} is maximized; "
            "they are derived for a minimization"
        )


def _var_type() -> Any:
    import pyomo.environ as pyo

    return pyo.Var


def service_columns(built: BuiltModel, col_of: dict[int, int]) -> dict[int, int]:
    """HiGHS column -> service index, for the variables that belong to one service
    (counts ``delta``, routes ``r``, far-route indicators ``y``, migrations ``mig``,
    dropped rates ``d``); node switches ``u`` belong to none."""
    m = built.pyomo
    out: dict[int, int] = {}
    for name in ("delta", "r", "y", "mig", "d"):
        comp = getattr(m, name, None)
        if comp is None:
            continue
        for k, v in comp.items():
            j = col_of.get(id(v))
            if j is not None:
                out[j] = int(k[0])
    return out


@dataclass
class _Outcome:
    rows: list[tuple[np.ndarray, np.ndarray, float]]
    bound: float | None
    master: float | None
    iterations: int
    converged: bool
    history: list[tuple[float, float, float]]
    master_model: highspy.Highs | None = None
    patterns: list[tuple[int, np.ndarray]] = field(default_factory=list)


class _ServiceDW:
    """The column generation of :func:`service_cuts` on a HiGHS LP (any column order)."""

    def __init__(
        self,
        lp: highspy.HighsLp,
        owner: dict[int, int],
        max_columns: int,
        highs_threads: int | None = None,
    ) -> None:
        # every HiGHS run of a process shares one thread pool: the column generation's runs
        # ask for the threads of the runs beside them
        self.highs_threads = highs_threads
        nc, nr = lp.num_col_, lp.num_row_
        am = lp.a_matrix_
        parts = (np.asarray(am.value_), np.asarray(am.index_), np.asarray(am.start_))
        if am.format_ == highspy.MatrixFormat.kColwise:
            a = sp.csc_matrix(parts, shape=(nr, nc))
        else:
            a = sp.csr_matrix(parts, shape=(nr, nc))
        ar = a.tocsr()
        self.offset = float(lp.offset_)
        self.c = np.asarray(lp.col_cost_, dtype=float)
        self.cl = np.asarray(lp.col_lower_, dtype=float)
        self.cu = np.asarray(lp.col_upper_, dtype=float)
        self.rl = np.asarray(lp.row_lower_, dtype=float)
        self.ru = np.asarray(lp.row_upper_, dtype=float)
        integ = np.zeros(nc, dtype=int)
        if len(lp.integrality_):
            integ = np.array([int(t) for t in lp.integrality_])
        grp = np.full(nc, -1)
        for j, s in owner.items():
            grp[j] = s
        # a row belongs to a service when all its columns do
        row_grp = np.full(nr, -1)
        for i in range(nr):
            g = np.unique(grp[ar.indices[ar.indptr[i] : ar.indptr[i + 1]]])
            if g.size == 1 and g[0] >= 0:
                row_grp[i] = g[0]
        sizes = {int(s): int(np.sum(grp == s)) for s in np.unique(grp[grp >= 0])}
        self.priced = [
            s for s, k in sorted(sizes.items()) if k <= max_columns and np.any(integ[grp == s] != 0)
        ]
        self.mrows = np.flatnonzero(~np.isin(row_grp, self.priced))
        self.mcols = np.flatnonzero(~np.isin(grp, self.priced))
        am_ = ar[self.mrows].tocsc()
        self.amc = am_[:, self.mcols].tocsc()
        self.sub: dict[int, tuple[np.ndarray, highspy.Highs, sp.csc_matrix]] = {}
        for s in self.priced:
            cols = np.flatnonzero(grp == s)
            rows = np.flatnonzero(row_grp == s)
            block = ar[rows][:, cols].tocsc()
            sub = highs_lp(
                self.c[cols], self.cl[cols], self.cu[cols], self.rl[rows], self.ru[rows], block
            )
            sub.integrality_ = [highspy.HighsVarType(int(integ[j])) for j in cols]
            hs = highspy.Highs()
            hs.setOptionValue("output_flag", False)
            hs.setOptionValue("random_seed", 0)
            hs.setOptionValue("mip_rel_gap", 1e-5)
            hs.setOptionValue("mip_abs_gap", 1e-5)
            if highs_threads is not None:
                hs.setOptionValue("threads", int(highs_threads))
            hs.passModel(sub)
            self.sub[s] = (cols, hs, am_[:, cols].tocsc())

    def run(
        self,
        start: np.ndarray,
        deadline: float,
        threads: int,
        progress: Callable[[int, float | None, float | None], None] | None,
        stop: Callable[[], bool] | None = None,
    ) -> _Outcome:
        nm, k = len(self.mrows), len(self.priced)
        slot = {s: i for i, s in enumerate(self.priced)}
        master = highspy.Highs()
        master.setOptionValue("output_flag", False)
        master.setOptionValue("random_seed", 0)
        # columns are added to a feasible basis: primal simplex re-solves from it
        master.setOptionValue("simplex_strategy", 4)
        if self.highs_threads is not None:
            master.setOptionValue("threads", int(self.highs_threads))
        none = np.array([], dtype=np.int32)
        master.addRows(nm, self.rl[self.mrows], self.ru[self.mrows], 0, none, none, np.array([]))
        master.addRows(k, np.ones(k), np.ones(k), 0, none, none, np.array([]))
        amc = self.amc
        master.addCols(
            len(self.mcols),
            self.c[self.mcols],
            self.cl[self.mcols],
            self.cu[self.mcols],
            amc.nnz,
            amc.indptr[:-1].astype(np.int32),
            amc.indices.astype(np.int32),
            amc.data,
        )

        def add_column(s: int, xs: np.ndarray) -> None:
            cols, _, a_s = self.sub[s]
            a = a_s @ xs
            nz = np.flatnonzero(np.abs(a) > 1e-12)
            idx = np.concatenate([nz, [nm + slot[s]]]).astype(np.int32)
            val = np.concatenate([a[nz], [1.0]])
            master.addCol(float(self.c[cols] @ xs), 0.0, _INF, len(idx), idx, val)
            patterns.append((s, xs))

        # the block and values of each master column after the first len(self.mcols)
        patterns: list[tuple[int, np.ndarray]] = []

        for s in self.priced:
            add_column(s, start[self.sub[s][0]])

        best: float | None = None
        best_rows: list[tuple[np.ndarray, np.ndarray, float]] = []
        history: list[tuple[float, float, float]] = []
        it = 0
        converged = False
        mval: float | None = None
        t_start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            try:
                while True:
                    left = deadline - time.perf_counter()
                    if left <= 0 or (stop is not None and stop()):
                        break
                    master.setOptionValue("time_limit", float(left))
                    master.run()
                    if master.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                        break
                    mval = float(master.getInfo().objective_function_value) + self.offset
                    dual = np.asarray(master.getSolution().row_dual, dtype=float)
                    y, mu = dual[:nm], dual[nm:]

                    def price(s: int, y: np.ndarray = y) -> _Priced:
                        cols, hs, a_s = self.sub[s]
                        red = self.c[cols] - a_s.T @ y
                        hs.changeColsCost(len(cols), np.arange(len(cols), dtype=np.int32), red)
                        left = min(_PRICE_S, deadline - time.perf_counter())
                        hs.setOptionValue("time_limit", float(max(0.1, left)))
                        # every improving solution of the search is a column too: fewer
                        # iterations (on large, 11 instead of 15)
                        found_on_the_way: list[np.ndarray] = []
                        hs.setCallback(_keep_improving, found_on_the_way)
                        hs.startCallback(_IMPROVING)
                        try:
                            ran = hs.run() != highspy.HighsStatus.kError
                        finally:
                            hs.stopCallback(_IMPROVING)
                        status = hs.getModelStatus()
                        info = hs.getInfo()
                        # a proven bound only from a run that ended well or at its time limit
                        proven = ran and status in _BOUNDED
                        zb = float(info.mip_dual_bound) if proven else -math.inf
                        found = ran and info.primal_solution_status == 2  # a feasible solution
                        zo = float(info.objective_function_value) if found else math.inf
                        xs = np.asarray(hs.getSolution().col_value, dtype=float)
                        optimal = ran and status == highspy.HighsModelStatus.kOptimal
                        return _Priced(red, zb, xs, zo, optimal, found_on_the_way)

                    priced = list(pool.map(price, self.priced))
                    it += 1
                    rows: list[tuple[np.ndarray, np.ndarray, float]] = []
                    # the Lagrangian bound at the master's duals: its LP value with each priced
                    # service's convexity dual replaced by that service's proven pricing bound
                    lag: float | None = mval
                    added = 0
                    for s, pr in zip(self.priced, priced, strict=True):
                        cols = self.sub[s][0]
                        red, zb, zo = pr.red, pr.bound, pr.objective
                        if not math.isfinite(zb) or lag is None:
                            lag = None
                        else:
                            lag += zb - float(mu[slot[s]])
                            rows.append(
                                (cols.astype(np.int32), red, zb - self._margin(red, cols, zb))
                            )
                        tol = 1e-7 * max(1.0, abs(zo)) if math.isfinite(zo) else 0.0
                        if math.isfinite(zo) and zo - mu[slot[s]] < -tol:
                            add_column(s, pr.values)
                            added += 1
                            for xp in pr.on_the_way:
                                if (
                                    xp.size == cols.size
                                    and float(red @ xp) - mu[slot[s]] < -tol
                                    and np.max(np.abs(xp - pr.values)) > 1e-6
                                ):
                                    add_column(s, xp)
                    if lag is not None and (best is None or lag > best):
                        best, best_rows = lag, rows
                    elapsed = time.perf_counter() - t_start
                    history.append((elapsed, mval, -math.inf if lag is None else lag))
                    if progress is not None:
                        progress(it, mval, best)
                    if added == 0:
                        # no new column: converged when every pricing problem was solved
                        # (one that stopped at its time limit may hide one)
                        converged = all(pr.optimal for pr in priced)
                        break
                    if best is not None and mval - best <= 1e-5 * max(1.0, abs(best)):
                        converged = True
                        break
            except KeyboardInterrupt:
                pass  # interrupted: the cuts of the best duals so far are kept

        return _Outcome(best_rows, best, mval, it, converged, history, master, patterns)

    def _margin(self, red: np.ndarray, cols: np.ndarray, zb: float) -> float:
        """What the solvers' tolerances may take off a pricing bound: 1e-6 of it, plus
        1e-7 of the largest value each term may reach."""
        hi = np.maximum(np.abs(self.cl[cols]), np.abs(self.cu[cols]))
        hi = np.where(np.isfinite(hi), np.maximum(hi, 1.0), 1.0)
        return 1e-6 * max(1.0, abs(zb)) + 1e-7 * float(np.sum(np.abs(red) * hi))


@dataclass
class _Priced:
    """One pricing run: reduced costs, proven bound, best solution and its value, whether
    it was solved to optimality, and the improving solutions found on the way."""

    red: np.ndarray
    bound: float
    values: np.ndarray
    objective: float
    optimal: bool
    on_the_way: list[np.ndarray]


_IMPROVING = highspy.cb.HighsCallbackType.kCallbackMipImprovingSolution


def _keep_improving(kind: Any, _message: str, out: Any, _in: Any, found: Any) -> None:
    """HiGHS callback: keep each improving solution of a pricing run (original columns)."""
    if kind == _IMPROVING and out.mip_solution is not None:
        found.append(np.array(out.mip_solution, dtype=float))


def add_rows(h: highspy.Highs, rows: Sequence[tuple[np.ndarray, np.ndarray, float]]) -> None:
    """Add cuts (from :class:`ServiceCuts` ``rows`` or the column generation) to a HiGHS
    model with the same column order."""
    for cols, coef, rhs in rows:
        h.addRow(float(rhs), _INF, len(cols), np.asarray(cols, dtype=np.int32), np.asarray(coef))
