"""The MPC's convex problem: a linear program over a horizon, built once, re-solved by DPP.

The math is on the "MPC" page of the documentation; in short, over H control periods the
problem chooses relaxed replicas ``x[p, h]`` of every queue p = (s, n), routed rates
``r[k, h]`` along every route k = (s, i, n), dropped rates ``d[j, h]`` of every demand
j = (s, i), the share ``o[n, h]`` of each node that is on, replica starts ``m[p, h]``, SLO
slack ``e[p, h]`` and a queueing-delay epigraph ``w[p, h]``, minimizing the instance's
weighted objective (latency proxy, energy, cost, drops, migrations) plus penalties on SLO
slack and on rerouting against the previous action. The forecast, the current replicas and
the previous action's routed rates are :class:`cvxpy.Parameter` s, so the problem is built
once per controller and every control step only sets their values and re-solves
(``problem.is_dcp(dpp=True)`` holds).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from edgebound.instances import Instance
from edgebound.models._placement_core import _erlang_c
from edgebound.mpc._layout import MPCError, _layout, _pools
from edgebound.solvers._native import highs_lp, quiet_highs
from edgebound.solvers._native import stdout_to_stderr as _stdout_to_stderr

__all__ = ["DEFAULT_SOLVER", "SOLVERS", "MPCConfig", "MPCPlan", "MPCProblem", "default_blocks"]

SOLVERS = ("CLARABEL", "HIGHS", "OSQP")
"""Solvers the MPC problem is tested with (it is a linear program)."""

DEFAULT_SOLVER = "HIGHS"
"""The default solver, chosen from ``benchmarks/mpc_solve.py`` (see the MPC docs page): HiGHS
with a dual-simplex hot start from the previous step's basis (``MPCConfig.warm_start``)."""

_DEFAULT_WEIGHTS = {
    "latency": 1.0,
    "energy": 20.0,
    "cost": 1.0,
    "dropped": 1000.0,
    "migrations": 0.5,
}


def default_blocks(horizon: int) -> tuple[int, ...]:
    """Move-blocking pattern: the period applied now, the next three, then the rest.

    Only the first period's decision is applied; the blocks after it let the plan see the
    next quarter hour and the rest of the horizon (their forecast averaged) with three
    decisions instead of one per period. Measured against finer patterns in
    ``benchmarks/mpc_solve.py`` and on the closed loop (see the MPC documentation page).

    Examples
    --------
    >>> default_blocks(12), default_blocks(24), default_blocks(4), default_blocks(1)
    ((1, 3, 8), (1, 3, 20), (1, 3), (1,))
    """
    _check_horizon(horizon)
    out = [1, min(3, horizon - 1), horizon - 4]
    return tuple(b for b in out if b > 0)


def _check_horizon(horizon: int) -> None:
    if int(horizon) != horizon or horizon < 1:
        raise MPCError(f"horizon: {horizon!r} must be an integer >= 1")


@dataclass(frozen=True)
class MPCConfig:
    """Options of the MPC problem and its shield.

    Attributes
    ----------
    horizon : int
        Control periods H planned at each step (12 five-minute periods: one hour).
    solver : str
        One of :data:`SOLVERS`.
    slo_margin : float
        SLO guard margin: routes and replica counts are sized for ``(1 - slo_margin) * SLO``
        (the continuum paper's guard margins are 10-15 %).
    slo_penalty : float
        Weight of one req/s of SLO slack (load above the linear SLO limit), in units of the
        weighted objective; below ``dropped`` so that a short step overloads its guard
        before it drops requests.
    churn_penalty : float
        Weight of one req/s routed differently from the previous action.
    queue_knots : tuple of float
        Utilizations at which the queueing-delay proxy is tangent to the Erlang-C waiting
        count.
    weights : dict, optional
        Weights of latency, energy, cost, dropped and migrations; by default the instance's
        ``policy.weights``, with 1, 20, 1, 1000 and 0.5 for those it does not name.
    migration_cap_per_min : float, optional
        Replica starts per service per minute (the paper caps migrations at 2 per minute per
        service); by default :func:`~edgebound.sim.continuum.migration_caps` of the instance.
    pools : {"cluster", "node"}
        What the problem plans over: every edge cluster as one pool (the default; the
        shield places replicas on the cluster's nodes) or every node on its own.
    blocks : tuple of int, optional
        Move blocking: lengths of consecutive groups of periods that share one decision
        (summing to ``horizon``); the forecast is averaged over each block and the migration
        caps scale with its length. By default :func:`default_blocks` (``(1, 3, 8)`` for
        12 periods); ``(1,) * horizon`` gives every period its own decision.
    headroom_quantile : float
        The controller plans for this quantile of the forecast when the forecaster gives
        quantiles, and for the point forecast times ``1 + headroom`` otherwise.
    headroom : float
        Relative headroom on point forecasts.
    clip_factor : float, optional
        Forecasts are capped at this multiple of the highest rate of the last three periods,
        and the next period's at least the last one's plus ``headroom`` (not for the
        oracle); ``None`` turns this off.
    warm_start : bool
        With HiGHS: keep one HiGHS model for the controller's life and start every re-solve
        from the previous step's optimal basis (a dual-simplex hot start; only the
        right-hand sides change from step to step). ``False`` solves every step from
        scratch through CVXPY. Other solvers ignore it.

    Examples
    --------
    >>> MPCConfig(horizon=6).horizon
    6
    >>> MPCConfig(horizon=0)
    Traceback (most recent call last):
    ...
    edgebound.mpc.MPCError: horizon: 0 must be an integer >= 1
    """

    horizon: int = 12
    solver: str = DEFAULT_SOLVER
    slo_margin: float = 0.1
    slo_penalty: float = 100.0
    churn_penalty: float = 0.01
    queue_knots: tuple[float, ...] = (0.3, 0.5, 0.65, 0.75, 0.85, 0.9)
    weights: dict[str, float] | None = None
    migration_cap_per_min: float | None = None
    pools: str = "cluster"
    blocks: tuple[int, ...] | None = None
    headroom_quantile: float = 0.8
    headroom: float = 0.1
    clip_factor: float | None = 1.5
    warm_start: bool = True

    def __post_init__(self) -> None:
        _check_horizon(self.horizon)
        if self.solver.upper() not in SOLVERS:
            raise MPCError(f"solver: {self.solver!r} must be one of {', '.join(SOLVERS)}")
        if not 0.0 <= self.slo_margin < 1.0:
            raise MPCError(f"slo_margin: {self.slo_margin!r} must be in [0, 1)")
        for name in ("slo_penalty", "churn_penalty"):
            if not getattr(self, name) >= 0:
                raise MPCError(f"{name}: {getattr(self, name)!r} must be >= 0")
        if not self.queue_knots or any(not 0 < k < 1 for k in self.queue_knots):
            raise MPCError(f"queue_knots: {self.queue_knots!r} must be utilizations in (0, 1)")
        if self.blocks is not None and (
            any(int(b) != b or b < 1 for b in self.blocks) or sum(self.blocks) != self.horizon
        ):
            raise MPCError(
                f"blocks: {self.blocks!r} must be whole lengths >= 1 summing to the horizon "
                f"{self.horizon}"
            )
        if not isinstance(self.warm_start, bool):
            raise MPCError(f"warm_start: {self.warm_start!r} must be True or False")
        if self.pools not in ("cluster", "node"):
            raise MPCError(f"pools: {self.pools!r} must be 'cluster' or 'node'")
        if not 0.5 <= self.headroom_quantile < 1.0:
            raise MPCError(f"headroom_quantile: {self.headroom_quantile!r} must be in [0.5, 1)")
        if self.clip_factor is not None and not self.clip_factor >= 1.0:
            raise MPCError(f"clip_factor: {self.clip_factor!r} must be >= 1 or None")
        if not self.headroom >= 0:
            raise MPCError(f"headroom: {self.headroom!r} must be >= 0")
        if self.weights is not None:
            bad = [k for k, v in self.weights.items() if k not in _DEFAULT_WEIGHTS or v < 0]
            if bad:
                raise MPCError(
                    f"weights: {bad[0]!r} is not allowed; weights are >= 0 and named "
                    f"{', '.join(_DEFAULT_WEIGHTS)}"
                )


@dataclass(frozen=True, eq=False)
class MPCPlan:
    """The relaxed plan of one MPC step, over pools of nodes (axis g).

    Attributes
    ----------
    pools : tuple of str
        Pool names (an edge cluster's name, or a node's).
    replicas : ndarray, shape (S, G, H)
        Relaxed replicas per pool and period.
    routing : ndarray, shape (S, I, G, H)
        Routed rates, req/s.
    dropped : ndarray, shape (S, I, H)
        Dropped rates, req/s.
    pools_on : ndarray, shape (G, H)
        Share of each pool's capacity that is on (relaxed on/off).
    status : str
        CVXPY's status (``optimal``, ``optimal_inaccurate``, ...).
    objective : float
    wall_s : float
        Time of ``problem.solve`` including CVXPY's parameter update.
    solver_s : float
        The solver's own time, as it reports it (nan when it does not).
    """

    pools: tuple[str, ...]
    replicas: np.ndarray
    routing: np.ndarray
    dropped: np.ndarray
    pools_on: np.ndarray
    status: str
    objective: float
    wall_s: float
    solver_s: float


def _queue_tangents(count: np.ndarray, knots: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Tangents ``w >= alpha a + beta x`` of the perspective of Erlang-C waiting per replica.

    ``phi(rho) = Nq(c, c rho) / c`` (mean waiting requests per replica of an M/M/c queue at
    utilization rho, with c the pair's reference count) is convex in rho, so ``x phi(a / x)``
    is jointly convex in the offered load ``a`` (Erlangs) and the replicas ``x``, and each
    tangent of phi gives a linear lower bound of it.
    """
    c = count.astype(float)[:, None]
    rho = np.asarray(knots, dtype=float)[None, :]
    eps = 1e-5

    def phi(u: np.ndarray) -> np.ndarray:
        a = c * u
        return _erlang_c(np.broadcast_to(c, a.shape), a) * u / (1.0 - u)

    f = phi(rho)
    df = (phi(rho + eps) - phi(rho - eps)) / (2 * eps)
    return df, f - rho * df


class MPCProblem:
    """The MPC's parametrized linear program for one instance.

    Parameters
    ----------
    instance : Instance
    config : MPCConfig, optional

    Attributes
    ----------
    problem : cvxpy.Problem
        Built once; :meth:`solve` sets the parameters and re-solves.
    demand, replicas, prev_routed : cvxpy.Parameter
        Forecast per demand and period ``(D, H)``, current replicas per queue ``(P,)`` and
        the previous action's routed rates per route ``(K,)``.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> mpc = MPCProblem(load("continuum-3edge-2cloud"), MPCConfig(horizon=3))
    >>> mpc.problem.is_dcp(dpp=True)
    True
    >>> plan = mpc.solve(mpc.mean_demand(), mpc.initial_replicas())
    >>> plan.status, plan.replicas.shape  # 3 edge clusters and 2 cloud regions
    ('optimal', (6, 5, 3))
    """

    def __init__(self, instance: Instance, config: MPCConfig | None = None) -> None:
        self.instance = instance
        self.config = cfg = config or MPCConfig()
        t0 = time.perf_counter()
        self.layout = lay = _layout(
            instance,
            slo_margin=cfg.slo_margin,
            migration_cap_per_min=cfg.migration_cap_per_min,
        )
        self.pools = _pools(lay, instance, cfg.pools)
        self._build()
        self._warm = (
            _WarmHighs(self.problem) if cfg.warm_start and cfg.solver.upper() == "HIGHS" else None
        )
        self.build_s = time.perf_counter() - t0

    # ------------------------------------------------------------------ construction

    def _weights(self) -> dict[str, float]:
        given = self.config.weights
        if given is None:
            pol = self.instance.policy.weights
            return {k: float(pol.get(k, v)) for k, v in _DEFAULT_WEIGHTS.items()}
        return {k: float(given.get(k, 0.0)) for k in _DEFAULT_WEIGHTS}

    def _build(self) -> None:
        lay, pool, cfg = self.layout, self.pools, self.config
        d = lay.data
        H = cfg.horizon
        lens = np.array(cfg.blocks or default_blocks(H), dtype=float)
        nb = len(lens)
        self._block_of = np.repeat(np.arange(nb), lens.astype(int))  # period -> block
        avg = np.zeros((H, nb))
        avg[np.arange(H), self._block_of] = 1.0 / lens[self._block_of]
        D, K, P, G = len(lay.demands), len(pool.routes), len(pool.pairs), len(pool.members)
        ps, pg = pool.pairs[:, 0], pool.pairs[:, 1]
        mu_p = d.mu[ps]
        w = self._weights()
        norm = 1.0 / lay.mean_demand_rps

        def inc(rows: np.ndarray, n_rows: int, vals: np.ndarray | None = None) -> sp.csr_matrix:
            v = np.ones(len(rows)) if vals is None else vals
            return sp.csr_matrix((v, (rows, np.arange(len(rows)))), shape=(n_rows, len(rows)))

        A = inc(pool.route_demand, D)  # demand balance
        B = inc(pool.route_pair, P)  # load of each queue
        svc_ids, svc_of_pair = np.unique(ps, return_inverse=True)
        Smat = inc(svc_of_pair, len(svc_ids))

        self.demand = cp.Parameter((D, H), nonneg=True, name="demand")
        self.replicas = cp.Parameter(P, nonneg=True, name="replicas")
        self.prev_routed = cp.Parameter(K, nonneg=True, name="prev_routed")

        x = cp.Variable((P, nb), nonneg=True, name="x")
        r = cp.Variable((K, nb), nonneg=True, name="r")
        dr = cp.Variable((D, nb), nonneg=True, name="d")
        e = cp.Variable((P, nb), nonneg=True, name="e")
        o = cp.Variable((G, nb), nonneg=True, name="o")
        m = cp.Variable((P, nb), nonneg=True, name="m")
        wq = cp.Variable((P, nb), nonneg=True, name="w")
        z = cp.Variable(K, nonneg=True, name="z")
        self._vars = (x, r, dr, o)

        L = B @ r  # (P, H) load, req/s
        cons = [
            A @ r + dr == (self.demand if nb == H else self.demand @ avg),
            cp.multiply(pool.kappa[:, None], x) + e >= L,
            cp.multiply((lay.rho * mu_p)[:, None], x) >= L,
            o <= 1.0,
            m[:, :1] >= x[:, :1] - cp.reshape(self.replicas, (P, 1), order="F"),
            z >= r[:, 0] - self.prev_routed,
            z >= self.prev_routed - r[:, 0],
        ]
        if nb > 1:
            cons.append(m[:, 1:] >= x[:, 1:] - x[:, :-1])
        caps = lay.mig_cap[svc_ids]
        fin = np.isfinite(caps)
        if fin.any():
            cons.append(Smat[fin] @ m <= np.outer(caps[fin], lens))
        if math.isfinite(lay.mig_budget):
            cons.append(cp.sum(m, axis=0) <= lay.mig_budget * lens)
        # capacities within the power caps (every replica busy), scaled by the on-share
        for res in ("cpu", "ram_gb", "disk_gb", "gpus"):
            need = d.need[res][ps]
            sel = need > 0
            if sel.any():
                C = inc(pg[sel], G, need[sel])
                cons.append(C @ x[sel] <= cp.multiply(pool.cap[res][:, None], o))
        alpha, beta = _queue_tangents(pool.c_ref, cfg.queue_knots)
        a = cp.multiply((1.0 / mu_p)[:, None], L)  # offered load, Erlangs
        for j in range(alpha.shape[1]):
            cons.append(
                wq >= cp.multiply(alpha[:, j : j + 1], a) + cp.multiply(beta[:, j : j + 1], x)
            )
        # power: idle while on, dynamic per busy vCPU and per busy GPU
        busy_w = pool.w_per_cpu[pg] * d.need["cpu"][ps] / mu_p
        busy_w = busy_w + pool.w_per_gpu[pg] * d.need["gpus"][ps] / mu_p
        power = pool.idle_w @ o + busy_w @ L  # (H,)
        latency = pool.lat_ms @ r + 1000.0 * cp.sum(wq, axis=0)  # request-weighted ms, (H,)
        per_period = (
            w["latency"] * norm * latency
            + w["energy"] * norm * power
            + w["cost"] * (pool.unit_cost @ x)
            + w["dropped"] * cp.sum(dr, axis=0)
            + cfg.slo_penalty * cp.sum(e, axis=0)
        )
        objective = lens @ per_period + w["migrations"] * cp.sum(m) + cfg.churn_penalty * cp.sum(z)
        self.problem = cp.Problem(cp.Minimize(objective), cons)

    # ------------------------------------------------------------------ inputs

    def mean_demand(self) -> np.ndarray:
        """The instance's mean rates held over the horizon: array ``(S, I, H)``.

        Examples
        --------
        >>> from edgebound.instances import load
        >>> MPCProblem(load("continuum-3edge-2cloud"), MPCConfig(horizon=2)).mean_demand().shape
        (6, 6, 2)
        """
        lam = self.layout.data.lam
        return np.repeat(lam[:, :, None], self.config.horizon, axis=2)

    def initial_replicas(self) -> np.ndarray:
        """The instance's ``state.placement`` as an ``(S, N)`` integer array.

        Examples
        --------
        >>> from edgebound.instances import load
        >>> mpc = MPCProblem(load("continuum-3edge-2cloud"), MPCConfig(horizon=2))
        >>> int(mpc.initial_replicas().sum())
        129
        """
        return self.layout.data.x_prev.astype(np.int64)

    # ------------------------------------------------------------------ solving

    def solve(
        self,
        demand: np.ndarray,
        replicas: np.ndarray,
        prev_routed: np.ndarray | None = None,
    ) -> MPCPlan:
        """Set the parameters and solve; the problem is not rebuilt.

        Parameters
        ----------
        demand : ndarray, shape (S, Io, H)
            Forecast rates, req/s.
        replicas : ndarray, shape (S, N)
            Replicas now (serving and spawning).
        prev_routed : ndarray, shape (S, Io, N), optional
            The previous action's routed rates at this step's forecast; zero when omitted.

        Returns
        -------
        MPCPlan

        Raises
        ------
        MPCError
            If an input has the wrong shape or holds negative or non-finite values.
        """
        lay = self.layout
        d = lay.data
        S, Io, N = len(d.services), len(d.origins), len(d.nodes)
        H = self.config.horizon
        dem = _checked("demand", demand, (S, Io, H))
        reps = _checked("replicas", replicas, (S, N))
        prev = (
            np.zeros((S, Io, N))
            if prev_routed is None
            else _checked("prev_routed", prev_routed, (S, Io, N))
        )
        pool = self.pools
        G = len(pool.members)
        pool_of = np.full(N, -1, dtype=np.int64)
        for g, mem in enumerate(pool.members):
            pool_of[mem] = g
        ds, di = lay.demands[:, 0], lay.demands[:, 1]
        ks, ki, kg = pool.routes.T
        member = np.zeros((N, G + 1))  # node -> pool (column G: nodes in no pool)
        member[np.arange(N), pool_of] = 1.0
        prev_g = prev @ member
        reps_g = reps @ member
        self.demand.value = dem[ds, di, :]
        self.replicas.value = reps_g[pool.pairs[:, 0], pool.pairs[:, 1]]
        self.prev_routed.value = prev_g[ks, ki, kg]
        t0 = time.perf_counter()
        solver = self.config.solver.upper()
        try:
            if self._warm is not None:
                with _stdout_to_stderr(self._warm.highs is None):  # HiGHS's banner
                    self._warm.solve()
            else:
                with _stdout_to_stderr(solver == "HIGHS"):
                    self.problem.solve(solver=solver, **_SOLVER_OPTIONS.get(solver, {}))
        except cp.error.SolverError as exc:
            raise MPCError(f"solver {solver} failed on the MPC step: {exc}") from None
        wall = time.perf_counter() - t0
        warm = self._warm
        status = str(self.problem.status) if warm is None else warm.status
        xv, rv, dv, ov = (v.value for v in self._vars)
        if xv is None or rv is None or dv is None or ov is None:
            raise MPCError(f"solver {solver} returned status {status} and no plan")
        rep = np.zeros((S, G, H))
        bo = self._block_of
        rep[pool.pairs[:, 0], pool.pairs[:, 1], :] = np.maximum(xv, 0.0)[:, bo]
        rout = np.zeros((S, Io, G, H))
        rout[ks, ki, kg, :] = np.maximum(rv, 0.0)[:, bo]
        drop = np.zeros((S, Io, H))
        drop[ds, di, :] = np.maximum(dv, 0.0)[:, bo]
        if warm is not None:
            solver_s, value = warm.run_s, float(warm.value)
        else:
            stats = self.problem.solver_stats
            solver_s = stats.solve_time if stats is not None and stats.solve_time else math.nan
            value = float(self.problem.value)
        return MPCPlan(
            pools=pool.names,
            replicas=rep,
            routing=rout,
            dropped=drop,
            pools_on=np.clip(ov, 0.0, 1.0)[:, bo],
            status=status,
            objective=value,
            wall_s=wall,
            solver_s=float(solver_s),
        )


class _WarmHighs:
    """One HiGHS LP kept across the steps of a CVXPY problem, re-solved from its last basis.

    Every step, CVXPY's cached DPP map turns the parameter values into the solver's data
    (``Problem.get_problem_data``: a sparse product, no re-canonicalization); when the
    constraint matrix is the one HiGHS holds, only the row bounds, costs and column bounds
    are handed over and HiGHS starts from the previous optimal basis. The result is unpacked
    by CVXPY's inverse chain into the variables' values; the status, objective value and
    HiGHS's run time are the attributes ``status``, ``value`` and ``run_s``. A hot
    start that does not end optimal is repeated from scratch.
    """

    def __init__(self, problem: cp.Problem) -> None:
        self.problem = problem
        self.highs: Any = None
        self.matrix: sp.csc_matrix | None = None
        self.data: tuple[np.ndarray, ...] = ()
        self.status = "unsolved"
        self.value = math.nan
        self.run_s = math.nan

    def solve(self) -> None:
        import highspy

        data, chain, inverse = self.problem.get_problem_data(cp.HIGHS)
        A = data[cp.settings.A].tocsc()
        b = np.asarray(data[cp.settings.B], dtype=float)
        c = np.asarray(data[cp.settings.C], dtype=float)
        n_eq = int(data[cp.settings.DIMS].zero)
        inf = highspy.kHighsInf
        lower = np.concatenate([b[:n_eq], np.full(len(b) - n_eq, -inf)])
        lb, ub = data[cp.settings.LOWER_BOUNDS], data[cp.settings.UPPER_BOUNDS]
        col_lo = np.full(A.shape[1], -inf) if lb is None else np.asarray(lb, dtype=float)
        col_hi = np.full(A.shape[1], inf) if ub is None else np.asarray(ub, dtype=float)
        h = self.highs
        if h is None or not _same_matrix(self.matrix, A):
            h = quiet_highs()
            h.passModel(highs_lp(c, col_lo, col_hi, lower, b, A))
            self.highs, self.matrix = h, A
        else:
            old_lower, old_upper, old_c, old_lo, old_hi = self.data
            rows = np.flatnonzero((lower != old_lower) | (b != old_upper)).astype(np.int32)
            if len(rows):
                h.changeRowsBounds(len(rows), rows, lower[rows], b[rows])
            cols = np.flatnonzero(c != old_c).astype(np.int32)
            if len(cols):
                h.changeColsCost(len(cols), cols, c[cols])
            cols = np.flatnonzero((col_lo != old_lo) | (col_hi != old_hi)).astype(np.int32)
            if len(cols):
                h.changeColsBounds(len(cols), cols, col_lo[cols], col_hi[cols])
        self.data = (lower, b, c, col_lo, col_hi)
        t0 = time.perf_counter()
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            h.clearSolver()
            h.run()
        run_s = time.perf_counter() - t0
        results = {
            "solution": h.getSolution(),
            "basis": h.getBasis(),
            "info": h.getInfo(),
            "model_status": h.getModelStatus().name,
            "run_time": run_s,
        }
        if results["model_status"] == "kInfeasible":
            results["dual_ray"] = h.getDualRay()
        # CVXPY's inverse chain maps HiGHS's solution back to the problem's variables;
        # only primal values are saved (``Problem.unpack_results`` would also save every
        # dual and re-evaluate the objective's expression tree: a fifth of the overhead)
        solution = chain.invert(results, inverse)
        present = solution.status in cp.settings.SOLUTION_PRESENT
        for v in self.problem.variables():  # no solution: no stale plan either
            v.save_value(solution.primal_vars[v.id] if present else None)
        self.status, self.value, self.run_s = str(solution.status), solution.opt_val, run_s


def _same_matrix(old: sp.csc_matrix | None, new: sp.csc_matrix) -> bool:
    return (
        old is not None
        and old.shape == new.shape
        and np.array_equal(old.indptr, new.indptr)
        and np.array_equal(old.indices, new.indices)
        and np.array_equal(old.data, new.data)
    )


_SOLVER_OPTIONS: dict[str, dict[str, Any]] = {
    "OSQP": {"eps_abs": 1e-4, "eps_rel": 1e-4, "max_iter": 20000},
    # CVXPY's own HiGHS warm start hands over the last primal solution (no basis); on the
    # 100-service problem that start failed mid-run, so the cold path is cold
    "HIGHS": {"warm_start": False},
}


def _checked(name: str, arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.asarray(arr, dtype=float)
    if out.shape != shape:
        raise MPCError(f"{name}: shape {out.shape} must be {shape}")
    if not np.all(np.isfinite(out)) or (out < 0).any():
        raise MPCError(f"{name}: values must be finite and >= 0")
    return out
