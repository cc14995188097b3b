"""Dantzig-Wolfe column generation for large static MMV instances.

The MMV models couple the services only through the node capacities (eqs 5-7). Everything
else about a service - its version, its replica count, where its replicas sit, its delay
and scores - is a *configuration* of that service alone. The master problem picks one
configuration per service (a convex combination in the LP) within the capacities:

.. math::

    \\min \\sum_{k,j} c_{kj} \\lambda_{kj} \\quad \\text{s.t.} \\quad
    \\sum_j \\lambda_{kj} = 1 \\;\\forall k, \\qquad
    \\sum_{k,j} a^{r,n}_{kj} \\lambda_{kj} \\le C^r_n \\;\\forall r, n, \\qquad
    \\lambda \\ge 0.

Pricing finds, for each service, the configuration of least reduced cost. For a fixed
version v and replica count c, the cost is a constant (processing, spawn, Erlang-C wait
W_v(c), scores) plus a term linear in the replicas per node (the mean transmission
``t_n / c`` per replica and the capacity prices), so the best placement fills the cheapest
nodes first up to what fits: an exact greedy. Enumerating every (v, c) prices exactly.

At any iteration ``master + sum_k min reduced cost_k`` is a valid lower bound (the
Lagrangian bound); at convergence it is the LP bound of the master, which is at least as
tight as the count one-hot LP of :mod:`edgebound.models.mmv` (the convex hull of each
service's configurations). The restricted master solved with integral ``lambda`` gives a
feasible decision, which the evaluator scores; the gap between the two is reported, and the
result is called optimal only when that gap is within ``mip_gap``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np

from edgebound.errors import InfeasibleError, SolverError
from edgebound.evaluate import evaluate
from edgebound.evaluate.queueing import erlang_c_table
from edgebound.instances import Instance, fits
from edgebound.models._mmv_core import (
    OBJECTIVES,
    _check_names,
    _delay_ref_ms,
    _per_node_cap,
    _rates,
)
from edgebound.solvers.result import SolveResult, Termination, relative_gap

__all__ = ["solve_decomposed"]

_RESOURCES = ("cpu", "ram_gb", "disk_gb", "gpus")


@dataclass
class _Service:
    name: str
    labels: list[str]
    mu: np.ndarray  # (V,)
    need: np.ndarray  # (V, R)
    ub: np.ndarray  # (V, N) replicas that fit per node
    cmin: np.ndarray  # (V,)
    cmax: np.ndarray  # (V,)
    const: np.ndarray  # (V, 4): share * (processing + spawn, accuracy, security, reliability)
    wait: list[np.ndarray]  # per version: share * W(c) in ms for c = 0..cmax
    share: float


def _prepare(inst: Instance, share: Mapping[str, float]) -> list[_Service]:
    lam = _rates(inst)
    rho = inst.policy.max_utilization
    exposure = inst.policy.spawn_exposure
    out = []
    problems = []
    for k in inst.service_names:
        svc = inst.service(k)
        run = inst.running_version(k).label
        rows = []
        for v in inst.candidate_versions(k):
            ub = np.array(
                [_per_node_cap(v, n) if fits(v, n, svc) else 0 for n in inst.topology.nodes]
            )
            cmin = max(1, math.ceil(lam[k] / (rho * v.service_rate_rps) - 1e-12))
            if cmin > ub.sum():
                continue
            rows.append((v, ub, cmin))
        if not rows:
            problems.append(f"{k}: no version can serve {lam[k]:g} req/s at load <= {rho:g}")
            continue
        s = share[k]
        waits = []
        for v, ub, _ in rows:
            a = lam[k] / v.service_rate_rps
            c_max = int(ub.sum())
            table = erlang_c_table(c_max, a)
            c = np.arange(c_max + 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                w = np.where(
                    c * v.service_rate_rps > lam[k],
                    table / (c * v.service_rate_rps - lam[k]),
                    np.inf,
                )
            if lam[k] == 0:
                w = np.where(c > 0, 0.0, np.inf)
            waits.append(s * 1000.0 * w)
        out.append(
            _Service(
                name=k,
                labels=[v.label for v, _, _ in rows],
                mu=np.array([v.service_rate_rps for v, _, _ in rows]),
                need=np.array([[getattr(v, r) for r in _RESOURCES] for v, _, _ in rows], float),
                ub=np.array([ub for _, ub, _ in rows]),
                cmin=np.array([cm for _, _, cm in rows]),
                cmax=np.array([int(ub.sum()) for _, ub, _ in rows]),
                const=np.array(
                    [
                        [
                            s
                            * (
                                1000.0 / v.service_rate_rps
                                + (svc.spawn_time_ms * exposure if v.label != run else 0.0)
                            ),
                            s * v.accuracy,
                            s * v.security,
                            s * v.reliability,
                        ]
                        for v, _, _ in rows
                    ]
                ),
                wait=waits,
                share=s,
            )
        )
    if problems:
        raise InfeasibleError("MMV is infeasible before solving:\n  " + "\n  ".join(problems))
    return out


@dataclass
class _Column:
    service: int
    version: int
    replicas: np.ndarray  # (N,)
    o: np.ndarray  # (4,) contributions to O1..O4


def _column(svc: _Service, i: int, v: int, reps: np.ndarray, t_ms: np.ndarray) -> _Column:
    c = int(reps.sum())
    o = svc.const[v].copy()
    o[0] += svc.share * float(np.dot(t_ms, reps)) / c + svc.wait[v][c]
    return _Column(i, v, reps.astype(np.int64), o)


def _price(
    svc: _Service, g: np.ndarray, prices: np.ndarray, t_ms: np.ndarray
) -> tuple[float, int, np.ndarray]:
    """Least reduced cost (before the convexity dual) over every (version, count)."""
    best = (math.inf, -1, np.zeros(0, dtype=np.int64))
    alpha = g[0] * svc.share
    for v in range(len(svc.labels)):
        lo, hi = int(svc.cmin[v]), int(svc.cmax[v])
        counts = np.arange(lo, hi + 1)
        beta = -(prices @ svc.need[v])  # (N,) price of one replica on each node
        cost = alpha * t_ms[None, :] / counts[:, None] + beta[None, :]  # (C, N)
        order = np.argsort(cost, axis=1, kind="stable")
        ub_sorted = svc.ub[v][order]
        cum = np.cumsum(ub_sorted, axis=1)
        take = np.clip(counts[:, None] - (cum - ub_sorted), 0, ub_sorted)
        place = np.take_along_axis(cost, order, axis=1)
        variable = (take * place).sum(axis=1)
        fixed = float(np.dot(g, svc.const[v])) + g[0] * svc.wait[v][counts]
        total = fixed + variable
        j = int(np.argmin(total))
        if total[j] < best[0]:
            reps = np.zeros(len(t_ms), dtype=np.int64)
            reps[order[j]] = take[j]
            best = (float(total[j]), v, reps)
    return best


def solve_decomposed(
    instance: Instance,
    objective: str = "weighted",
    *,
    weights: Mapping[str, float] | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 1e-4,
    max_iterations: int = 500,
) -> SolveResult:
    """Solve the static MMV problem by column generation and a restricted master MILP.

    Parameters
    ----------
    instance : Instance
    objective : {"weighted", "delay", "accuracy", "security", "reliability"}
    weights : mapping, optional
        Overrides ``policy.weights``.
    time_limit : float
        Seconds for the whole run (pricing and both solves).
    mip_gap : float
        The result is optimal when the decision is within this relative gap of the bound.
    max_iterations : int
        Cap on pricing rounds.

    Returns
    -------
    SolveResult
        ``bound`` is the Lagrangian bound; ``stats`` has the iterations and columns.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> res = solve_decomposed(load("gentzen-star4"))
    >>> res.has_solution and res.bound <= res.objective + 1e-9
    True
    """
    t0 = time.perf_counter()
    if objective not in OBJECTIVES:
        raise SolverError(f"objective: {objective!r} must be one of {', '.join(OBJECTIVES)}")
    inst = instance
    w = dict(inst.policy.weights if weights is None else weights)
    _check_names(w, {})
    lam = _rates(inst)
    total = sum(lam.values())
    share = {k: (v / total if total > 0 else 1.0 / len(lam)) for k, v in lam.items()}
    ref = _delay_ref_ms(inst, share)
    if objective == "weighted":
        g = np.array(
            [
                w.get("delay", 0.0) / ref,
                -w.get("accuracy", 0.0),
                -w.get("security", 0.0),
                -w.get("reliability", 0.0),
            ]
        )
    else:
        idx = ["delay", "accuracy", "security", "reliability"].index(objective)
        g = np.zeros(4)
        g[idx] = 1.0 if OBJECTIVES[objective] == "min" else -1.0
    sign = 1.0 if OBJECTIVES[objective] == "min" else -1.0
    services = _prepare(inst, share)
    nodes = inst.topology.nodes
    n_nodes = len(nodes)
    t_ms = np.asarray(inst.transmission_ms, dtype=float)
    caps = np.array([[getattr(n, r) for r in _RESOURCES] for n in nodes], float)  # (N, R)
    n_k = len(services)

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    inf = highspy.kHighsInf
    # rows: convexity (k), then capacity (n, r)
    for _ in range(n_k):
        h.addRow(1.0, 1.0, 0, np.array([], dtype=np.int32), np.array([], dtype=float))
    for n in range(n_nodes):
        for r in range(len(_RESOURCES)):
            h.addRow(-inf, caps[n, r], 0, np.array([], dtype=np.int32), np.array([], dtype=float))
    columns: list[_Column] = []
    big = 1e3 * (1.0 + float(np.abs(g).sum()) * 100.0)

    def add(col: _Column) -> None:
        rows = [col.service]
        vals = [1.0]
        for n in np.nonzero(col.replicas)[0]:
            for r in range(len(_RESOURCES)):
                use = col.replicas[n] * services[col.service].need[col.version, r]
                if use > 0:
                    rows.append(n_k + int(n) * len(_RESOURCES) + r)
                    vals.append(float(use))
        h.addCol(float(g @ col.o), 0.0, inf, len(rows), np.array(rows, np.int32), np.array(vals))
        columns.append(col)

    # artificial columns keep the first masters feasible; they are priced out or stay at 0
    for i in range(n_k):
        h.addCol(big, 0.0, inf, 1, np.array([i], np.int32), np.array([1.0]))
        columns.append(_Column(i, -1, np.zeros(n_nodes, np.int64), np.zeros(4)))
    zero = np.zeros((n_nodes, len(_RESOURCES)))
    for i, svc in enumerate(services):
        value, v, reps = _price(svc, g, zero, t_ms)
        add(_column(svc, i, v, reps, t_ms))

    lower = -math.inf
    iterations = 0
    master = math.inf
    while iterations < max_iterations and time.perf_counter() - t0 < 0.6 * time_limit:
        iterations += 1
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            status = h.modelStatusToString(h.getModelStatus())
            raise SolverError(f"column generation master LP ended with {status}")
        sol = h.getSolution()
        master = h.getInfo().objective_function_value
        duals = np.asarray(sol.row_dual)
        sigma = duals[:n_k]
        prices = duals[n_k:].reshape(n_nodes, len(_RESOURCES))
        added = 0
        lagrange = master
        for i, svc in enumerate(services):
            value, v, reps = _price(svc, g, prices, t_ms)
            rc = value - sigma[i]
            lagrange += min(0.0, rc)
            if rc < -1e-9 * max(1.0, abs(master)):
                add(_column(svc, i, v, reps, t_ms))
                added += 1
        lower = max(lower, lagrange)
        if added == 0:
            break
    converged = iterations < max_iterations and lower >= master - 1e-9 * max(1.0, abs(master))
    artificial_used = any(
        columns[j].version < 0 and v > 1e-9 for j, v in enumerate(h.getSolution().col_value)
    )

    cg_s = time.perf_counter() - t0
    # restricted master with integral choices (artificial columns excluded)
    n_cols = len(columns)
    for j, col in enumerate(columns):
        if col.version < 0:
            h.changeColBounds(j, 0.0, 0.0)
    h.changeColsIntegrality(
        n_cols, np.arange(n_cols, dtype=np.int32), np.full(n_cols, highspy.HighsVarType.kInteger)
    )
    remaining = max(1.0, time_limit - (time.perf_counter() - t0))
    h.setOptionValue("time_limit", remaining)
    h.setOptionValue("mip_rel_gap", mip_gap)
    h.run()
    decision: dict[str, Any] = {}
    evaluation = None
    objective_value = None
    values = np.asarray(h.getSolution().col_value)
    if h.getInfo().primal_solution_status == 2 and values.size:
        chosen: dict[int, _Column] = {}
        for j, col in enumerate(columns):
            if col.version >= 0 and values[j] > 0.5:
                chosen[col.service] = col
        if len(chosen) == n_k:
            decision = {
                "model": "mmv",
                "versions": {
                    services[i].name: services[i].labels[c.version] for i, c in chosen.items()
                },
                "replicas": {
                    services[i].name: {
                        inst.node_names[n]: int(c.replicas[n]) for n in np.nonzero(c.replicas)[0]
                    }
                    for i, c in chosen.items()
                },
            }
            evaluation = evaluate(inst, decision)
            objective_value = float(sum(g @ c.o for c in chosen.values()))
    bound = None if not math.isfinite(lower) else float(lower)
    # back to the objective's own sense (maximized scores were minimized as negatives)
    if sign < 0:
        objective_value = None if objective_value is None else -objective_value
        bound = None if bound is None else -bound
    gap = relative_gap(objective_value, bound)
    notes = [
        f"column generation: {iterations} rounds, {len(columns) - n_k} columns, "
        f"{'converged' if converged else 'stopped before convergence'}"
    ]
    if artificial_used:
        notes.append("the master LP still used an artificial column: the bound is weak")
    out_of_time = time.perf_counter() - t0 >= time_limit
    if objective_value is None:
        termination = Termination.TIME_LIMIT if out_of_time else Termination.ITERATION_LIMIT
        if not out_of_time:
            notes.append(
                "no combination of the generated columns fits the capacities; the bound stays valid"
            )
    elif gap is not None and gap <= mip_gap:
        termination = Termination.OPTIMAL
    elif time.perf_counter() - t0 >= time_limit:
        termination = Termination.TIME_LIMIT
    else:
        termination = Termination.ITERATION_LIMIT
        notes.append(
            "the restricted master's best decision is not proven within the gap; "
            "the bound stays valid"
        )
    if evaluation is not None and objective_value is not None:
        referee = evaluation.objectives.get(objective)
        if referee is not None and abs(referee - objective_value) > 1e-6 * max(1.0, abs(referee)):
            notes.append(
                f"the evaluator's {objective} ({referee:.9g}) differs ({objective_value:.9g})"
            )
    wall = time.perf_counter() - t0
    return SolveResult(
        termination=termination,
        objective=objective_value,
        bound=bound,
        gap=gap,
        has_solution=objective_value is not None,
        decision=decision,
        evaluation=evaluation,
        build_s=0.0,
        solve_s=wall,
        wall_s=wall,
        solver="highs (column generation)",
        solver_version=str(h.version()),
        model="mmv",
        stats={
            "iterations": iterations,
            "columns": len(columns) - n_k,
            "objective": objective,
            "column_generation_s": cg_s,
            "restricted_master_s": wall - cg_s,
            "method": "column generation",
        },
        notes=tuple(notes),
    )
