"""What Pyomo costs: the static MMV MILP solved through Pyomo and directly with highspy.

The same model (default "auto" formulation, weighted objective) is solved four ways:

``pyomo``
    :func:`edgebound.models.mmv.build` then :func:`edgebound.solvers.solve`, as a user
    does. ``solve s`` is ``SolveResult.solve_s``: Pyomo's translation to HiGHS, the HiGHS
    run and reading the status back (not the decision's evaluation).
``pyomo (split)``
    The same built model through Pyomo's HiGHS interface with its timer, to split
    ``solve s`` into the translation to HiGHS (``set_instance``), the HiGHS run
    (``optimize``) and loading the solution.
``lp file``
    The Pyomo model written once to an LP file with Pyomo's writer (``build s`` is the
    writing); highspy reads it (``read s``) and solves it (``solve s``).
``highspy``
    :func:`build_direct`, a re-implementation of the model with numpy arrays passed to
    ``highspy.Highs.passModel`` (no Pyomo at all); ``build s`` includes the same pre-solve
    arithmetic (replica bounds, Erlang-C waits) as the Pyomo builder.

All HiGHS runs use the same options (``mip_rel_gap`` 1e-6, ``random_seed`` 0, the
``--threads``). Each time is the least over ``--repeat`` runs. The script checks that
every route reaches the Pyomo route's optimal objective to 1e-6 (relative) and that the
evaluator agrees with the highspy route's decision; a difference is printed as MISMATCH.
The ratio column is the Pyomo route's total time divided by the route's total.

Run ``python benchmarks/mmv_pyomo_vs_highspy.py`` (about a minute); ``--sizes large`` adds
the 50-model instance, which does not solve within the default time limit.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import highspy
import numpy as np
from _common import (
    add_common_args,
    console,
    instances,
    num,
    print_facts,
    ratio,
    reset_highs_threads,
    secs,
)
from pyomo.common.timing import HierarchicalTimer
from pyomo.contrib.solver.solvers.highs import Highs as PyomoHighs
from rich.table import Table

from edgebound.evaluate import evaluate
from edgebound.evaluate.queueing import mmc_mean_wait
from edgebound.instances import Instance, fits
from edgebound.models import mmv
from edgebound.solvers import solve

MIP_GAP = 1e-6
_RESOURCES = ("cpu", "ram_gb", "disk_gb", "gpus")
_W_TOL_MS = 1e-10


# --------------------------------------------------------------------------- direct model


@dataclass
class DirectModel:
    """A highspy model of the static MMV MILP and what is needed to read its decision."""

    lp: highspy.HighsLp
    y: dict[tuple[str, str], int]
    d: dict[tuple[str, str, str], int]
    formulation: str
    num_col: int
    num_row: int
    num_int: int
    highs: highspy.Highs | None = None

    def to_highs(self) -> highspy.Highs:
        """Hand the model to a new HiGHS object (``passModel``)."""
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.passModel(self.lp)
        return self.highs


@dataclass
class _Lp:
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)
    start: list[int] = field(default_factory=lambda: [0])
    index: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    offset: float = 0.0

    def col(self, lb: float, ub: float, integer: bool = False) -> int:
        self.lower.append(lb)
        self.upper.append(ub)
        self.cost.append(0.0)
        self.integer.append(integer)
        return len(self.lower) - 1

    def row(self, lb: float, ub: float, terms: list[tuple[int, float]]) -> None:
        merged: dict[int, float] = {}
        for j, a in terms:
            merged[j] = merged.get(j, 0.0) + a
        for j, a in merged.items():
            if a != 0.0:
                self.index.append(j)
                self.value.append(a)
        self.start.append(len(self.index))
        self.row_lower.append(lb)
        self.row_upper.append(ub)

    def to_lp(self) -> highspy.HighsLp:
        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_ = len(self.lower)
        lp.num_row_ = len(self.row_lower)
        lp.col_cost_ = np.asarray(self.cost)
        lp.col_lower_ = np.asarray(self.lower)
        lp.col_upper_ = np.where(np.isinf(self.upper), inf, self.upper)
        lp.row_lower_ = np.where(np.isinf(self.row_lower), -inf, self.row_lower)
        lp.row_upper_ = np.where(np.isinf(self.row_upper), inf, self.row_upper)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.num_col_ = lp.num_col_
        lp.a_matrix_.num_row_ = lp.num_row_
        lp.a_matrix_.start_ = np.asarray(self.start, dtype=np.int32)
        lp.a_matrix_.index_ = np.asarray(self.index, dtype=np.int32)
        lp.a_matrix_.value_ = np.asarray(self.value)
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
            for i in self.integer
        ]
        lp.offset_ = self.offset
        lp.sense_ = highspy.ObjSense.kMinimize
        return lp


def _per_node_cap(v: Any, node: Any) -> int:
    caps = [
        math.floor(getattr(node, r) / getattr(v, r) + 1e-9) for r in _RESOURCES if getattr(v, r) > 0
    ]
    return max(0, min(caps)) if caps else 10**6


def build_direct(inst: Instance) -> DirectModel:
    """The static MMV MILP of :func:`edgebound.models.mmv.build` (defaults: weighted
    objective, "auto" formulation, no epsilon-constraints, no replica cap) in highspy.

    Mirrors the Pyomo builder row by row: version choice and replicas, capacities,
    stability, minimum replicas, then either the queueing secants (all nodes equally far
    from the master) or the count one-hot (transmission delays differ).
    """
    nodes = inst.topology.nodes
    node_names = list(inst.node_names)
    rho = inst.policy.max_utilization
    t_ms = [float(x) for x in inst.transmission_ms]
    t_of = dict(zip(node_names, t_ms, strict=True))
    K = list(inst.service_names)
    lam = dict.fromkeys(K, 0.0)
    for dem in inst.workload.demands:
        lam[dem.service] += dem.rate_rps
    total = sum(lam.values())
    share = {k: (lam[k] / total if total > 0 else 1.0 / len(K)) for k in K}
    w = inst.policy.weights
    ref = inst.policy.delay_ref_ms
    if ref is None:
        ref = sum(share[k] * 1000.0 / inst.running_version(k).service_rate_rps for k in K)
    c_delay = w.get("delay", 0.0) / ref
    exposure = inst.policy.spawn_exposure

    # pre-solve (eqs 2-4): which versions can be stable, replica bounds
    ub: dict[tuple[str, str, str], int] = {}
    cmin: dict[tuple[str, str], int] = {}
    cmax: dict[tuple[str, str], int] = {}
    vk: dict[str, list[str]] = {}
    vobj: dict[tuple[str, str], Any] = {}
    for k in K:
        svc = inst.service(k)
        vk[k] = []
        for v in inst.candidate_versions(k):
            per_node = {n.name: (_per_node_cap(v, n) if fits(v, n, svc) else 0) for n in nodes}
            tot = sum(per_node.values())
            need = max(1, math.ceil(lam[k] / (rho * v.service_rate_rps) - 1e-12))
            if need > tot:
                continue
            vk[k].append(v.label)
            vobj[k, v.label] = v
            cmin[k, v.label], cmax[k, v.label] = need, tot
            for n in node_names:
                ub[k, v.label, n] = min(per_node[n], tot)
        if not vk[k]:
            raise ValueError(f"{k}: no version can be stable")
    KV = [(k, lv) for k in K for lv in vk[k]]
    nodes_kv = {(k, lv): [n for n in node_names if ub[k, lv, n] > 0] for (k, lv) in KV}

    lp = _Lp()
    y = {kv: lp.col(0.0, 1.0, True) for kv in KV}
    d = {
        (k, lv, n): lp.col(0.0, float(ub[k, lv, n]), True)
        for (k, lv) in KV
        for n in nodes_kv[k, lv]
    }
    for k in K:
        lp.row(1.0, 1.0, [(y[k, lv], 1.0) for lv in vk[k]])
    for (k, lv, n), j in d.items():
        lp.row(-math.inf, 0.0, [(j, 1.0), (y[k, lv], -float(ub[k, lv, n]))])
    by_node: dict[str, list[tuple[str, str, str]]] = {n: [] for n in node_names}
    for idx in d:
        by_node[idx[2]].append(idx)
    for node in nodes:
        for r in _RESOURCES:
            terms = [(float(getattr(vobj[i[0], i[1]], r)), i) for i in by_node[node.name]]
            terms = [(a, i) for a, i in terms if a > 0]
            if terms and sum(a * ub[i] for a, i in terms) > getattr(node, r) + 1e-9:
                lp.row(-math.inf, float(getattr(node, r)), [(d[i], a) for a, i in terms])
    for k in K:
        if lam[k] > 0:
            terms = [
                (d[k, lv, n], rho * vobj[k, lv].service_rate_rps)
                for lv in vk[k]
                for n in nodes_kv[k, lv]
            ]
            lp.row(lam[k], math.inf, terms)
        else:
            lp.row(1.0, math.inf, [(d[k, lv, n], 1.0) for lv in vk[k] for n in nodes_kv[k, lv]])
    for k, lv in KV:
        terms = [(d[k, lv, n], 1.0) for n in nodes_kv[k, lv]]
        lp.row(0.0, math.inf, [*terms, (y[k, lv], -float(cmin[k, lv]))])

    def wait_ms(k: str, mu: float, c: int) -> float:
        return 1000.0 * mmc_mean_wait(c, lam[k], mu)

    # objective: delay / ref - accuracy - security - reliability, request-weighted
    for k in K:
        wk = share[k]
        if wk == 0:
            continue
        running = inst.running_version(k).label
        spawn = inst.service(k).spawn_time_ms * exposure
        for lv in vk[k]:
            v = vobj[k, lv]
            lp.cost[y[k, lv]] += (
                c_delay * wk * (1000.0 / v.service_rate_rps + (spawn if lv != running else 0.0))
            )
            lp.cost[y[k, lv]] -= wk * (
                w.get("accuracy", 0.0) * v.accuracy
                + w.get("security", 0.0) * v.security
                + w.get("reliability", 0.0) * v.reliability
            )

    uniform = (max(t_ms) - min(t_ms) == 0) if t_ms else True
    if uniform:
        # queueing secants in perspective form: q >= alpha y + beta cv
        for k, lv in KV:
            q = lp.col(0.0, math.inf)
            lp.cost[q] += c_delay * share[k]
            mu = vobj[k, lv].service_rate_rps
            lo, hi = cmin[k, lv], cmax[k, lv]
            cv = [(d[k, lv, n], 1.0) for n in nodes_kv[k, lv]]
            lines: list[tuple[float, float]] = []
            if hi == lo:
                lines.append((wait_ms(k, mu, lo), 0.0))
            else:
                w_next = wait_ms(k, mu, lo)
                for j in range(lo, hi):
                    w0, w_next = w_next, wait_ms(k, mu, j + 1)
                    if w0 < _W_TOL_MS:
                        break
                    beta = w_next - w0
                    lines.append((w0 - beta * j, beta))
            for alpha, beta in lines:
                # q - alpha y - beta cv >= 0
                lp.row(0.0, math.inf, [(q, 1.0), (y[k, lv], -alpha)] + [(j, -beta) for j, _ in cv])
            lp.offset += c_delay * share[k] * (t_ms[0] if t_ms else 0.0)
        formulation = "secants"
    else:
        # count one-hot: w[k,g,c] for service-rate group g and total count c; e[k,c,n]
        # disaggregates the replicas by count so that the mean transmission is linear
        for k in K:
            groups: dict[float, list[str]] = {}
            for lv in vk[k]:
                groups.setdefault(vobj[k, lv].service_rate_rps, []).append(lv)
            wcol: dict[tuple[int, int], int] = {}
            by_c: dict[int, list[int]] = {}
            for g, (mu, labels) in enumerate(sorted(groups.items())):
                lo = min(cmin[k, lv] for lv in labels)
                hi = max(cmax[k, lv] for lv in labels)
                for c in range(lo, hi + 1):
                    j = lp.col(0.0, 1.0, True)
                    wcol[g, c] = j
                    by_c.setdefault(c, []).append(j)
                    lp.cost[j] += c_delay * share[k] * wait_ms(k, mu, c)
                lp.row(
                    0.0,
                    0.0,
                    [(y[k, lv], 1.0) for lv in labels]
                    + [(wcol[g, c], -1.0) for c in range(lo, hi + 1)],
                )
            nodes_k = [n for n in node_names if any(ub[k, lv, n] > 0 for lv in vk[k])]
            ub_kn = {n: max(ub[k, lv, n] for lv in vk[k]) for n in nodes_k}
            e = {(c, n): lp.col(0.0, math.inf) for c in by_c for n in nodes_k}
            for (c, n), j in e.items():
                if t_of[n] != 0:
                    lp.cost[j] += c_delay * share[k] * t_of[n] / c
            for c, zs in by_c.items():
                lp.row(
                    0.0,
                    0.0,
                    [(e[c, n], 1.0) for n in nodes_k] + [(j, -float(c)) for j in zs],
                )
            for c, zs in by_c.items():
                for n in nodes_k:
                    cap = float(min(c, ub_kn[n]))
                    lp.row(-math.inf, 0.0, [(e[c, n], 1.0)] + [(j, -cap) for j in zs])
            for n in nodes_k:
                lp.row(
                    0.0,
                    0.0,
                    [(e[c, n], 1.0) for c in by_c]
                    + [(d[k, lv, n], -1.0) for lv in vk[k] if ub[k, lv, n] > 0],
                )
        formulation = "count one-hot"
    return DirectModel(
        lp=lp.to_lp(),
        y=y,
        d=d,
        formulation=formulation,
        num_col=len(lp.lower),
        num_row=len(lp.row_lower),
        num_int=sum(lp.integer),
    )


def decode_direct(model: DirectModel) -> dict[str, Any]:
    assert model.highs is not None
    x = list(model.highs.getSolution().col_value)
    chosen: dict[str, str] = {}
    for (k, lv), j in model.y.items():
        if k not in chosen or x[j] > x[model.y[k, chosen[k]]]:
            chosen[k] = lv
    reps: dict[str, dict[str, int]] = {k: {} for k in chosen}
    for (k, lv, n), j in model.d.items():
        if lv == chosen[k] and round(x[j]) > 0:
            reps[k][n] = round(x[j])
    return {"model": "mmv", "versions": chosen, "replicas": reps}


# --------------------------------------------------------------------------- timing


def _set_options(h: highspy.Highs, args: argparse.Namespace) -> None:
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", MIP_GAP)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("threads", args.threads)
    h.setOptionValue("time_limit", float(args.time_limit))


def _objective(h: highspy.Highs) -> float | None:
    feasible = int(highspy.SolutionStatus.kSolutionStatusFeasible)
    if h.getInfo().primal_solution_status == feasible:
        return float(h.getInfo().objective_function_value)
    return None


def _status(h: highspy.Highs) -> str:
    return h.modelStatusToString(h.getModelStatus()).lower()


@dataclass
class Route:
    """One way of building and solving; ``solve_s`` is all the time after building."""

    name: str
    build_s: float
    to_highs_s: float | None
    highs_s: float | None
    solve_s: float
    objective: float | None
    status: str
    nodes: int | None = None
    note: str = ""

    @property
    def total_s(self) -> float:
        return self.build_s + self.solve_s


def route_pyomo(inst: Instance, args: argparse.Namespace) -> Route:
    t0 = time.perf_counter()
    built = mmv.build(inst)
    build_s = time.perf_counter() - t0
    reset_highs_threads()
    res = solve(built, time_limit=args.time_limit, mip_gap=MIP_GAP, threads=args.threads)
    return Route("pyomo", build_s, None, None, res.solve_s, res.objective, res.termination.value)


def route_pyomo_split(inst: Instance, args: argparse.Namespace) -> Route:
    t0 = time.perf_counter()
    built = mmv.build(inst)
    build_s = time.perf_counter() - t0
    timer = HierarchicalTimer()
    opt = PyomoHighs()
    reset_highs_threads()
    t0 = time.perf_counter()
    res = opt.solve(
        built.pyomo,
        timer=timer,
        load_solutions=False,
        raise_exception_on_nonoptimal_result=False,
        time_limit=float(args.time_limit),
        solver_options={
            "mip_rel_gap": MIP_GAP,
            "output_flag": False,
            "random_seed": 0,
            "threads": args.threads,
        },
    )
    solve_s = time.perf_counter() - t0
    obj = res.incumbent_objective
    h = opt._solver_model  # the highspy object Pyomo built: its run time and node count
    return Route(
        "pyomo, split",
        build_s,
        timer.get_total_time("set_instance"),
        float(h.getRunTime()),
        solve_s,
        None if obj is None else float(obj),
        _status(h),
        int(h.getInfo().mip_node_count),
    )


def route_file(inst: Instance, args: argparse.Namespace, tmp: Path) -> Route:
    t0 = time.perf_counter()
    built = mmv.build(inst)
    build_s = time.perf_counter() - t0
    path = tmp / "mmv.lp"
    reset_highs_threads()
    t0 = time.perf_counter()
    built.pyomo.write(str(path))
    t1 = time.perf_counter()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(path))
    t2 = time.perf_counter()
    _set_options(h, args)
    h.run()
    t3 = time.perf_counter()
    return Route(
        "lp file",
        build_s,
        t2 - t0,
        float(h.getRunTime()),
        t3 - t0,
        _objective(h),
        _status(h),
        int(h.getInfo().mip_node_count),
        note=f"write {secs(t1 - t0)} s, read {secs(t2 - t1)} s",
    )


def route_direct(inst: Instance, args: argparse.Namespace) -> tuple[Route, DirectModel]:
    t0 = time.perf_counter()
    model = build_direct(inst)
    build_s = time.perf_counter() - t0
    reset_highs_threads()
    t0 = time.perf_counter()
    h = model.to_highs()
    t1 = time.perf_counter()
    _set_options(h, args)
    h.run()
    t2 = time.perf_counter()
    route = Route(
        "highspy",
        build_s,
        t1 - t0,
        float(h.getRunTime()),
        t2 - t0,
        _objective(h),
        _status(h),
        int(h.getInfo().mip_node_count),
        note=f"{model.num_col} cols, {model.num_row} rows, {model.num_int} integer",
    )
    return route, model


def _least(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def fastest(runs: list[Route]) -> Route:
    """Each time as its least over the runs (the answers are the same in every run)."""
    first = runs[0]
    return replace(
        first,
        build_s=min(r.build_s for r in runs),
        to_highs_s=_least([r.to_highs_s for r in runs]),
        highs_s=_least([r.highs_s for r in runs]),
        solve_s=min(r.solve_s for r in runs),
    )


def compare(inst: Instance, args: argparse.Namespace, tmp: Path) -> list[Route]:
    """Every route ``--repeat`` times, each time the least over the runs."""
    runners: list[Callable[[], Route]] = [
        lambda: route_pyomo(inst, args),
        lambda: route_pyomo_split(inst, args),
        lambda: route_file(inst, args, tmp),
    ]
    routes = [fastest([run() for _ in range(args.repeat)]) for run in runners]
    direct_runs = [route_direct(inst, args) for _ in range(args.repeat)]
    direct = fastest([r for r, _ in direct_runs])
    model = direct_runs[0][1]
    routes.append(direct)

    ref = routes[0].objective
    for r in routes[1:]:
        if ref is None or r.objective is None:
            continue
        if abs(r.objective - ref) > 1e-6 * max(1.0, abs(ref)):
            r.note = f"MISMATCH objective {r.objective:.10g} vs {ref:.10g}; " + r.note
    if direct.objective is not None:
        ev = evaluate(inst, decode_direct(model)).objectives.get("weighted")
        if ev is None or abs(ev - direct.objective) > 1e-6 * max(1.0, abs(direct.objective)):
            direct.note = f"MISMATCH evaluator {ev} vs {direct.objective:.10g}; " + direct.note
    return routes


def routes_table(results: list[tuple[str, list[Route]]]) -> Table:
    tab = Table(
        title="Static MMV (auto formulation, weighted objective): four routes to HiGHS",
        title_justify="left",
    )
    cols = (
        "instance",
        "route",
        "build s",
        "to HiGHS s",
        "HiGHS run s",
        "solve s",
        "total s",
        "pyomo / this",
        "objective",
        "B&B nodes",
        "status",
        "notes",
    )
    for col in cols:
        left = col in ("instance", "route", "status", "notes")
        tab.add_column(col, justify="left" if left else "right")
    for label, routes in results:
        ref = routes[0]
        for i, r in enumerate(routes):
            tab.add_row(
                label if i == 0 else "",
                r.name,
                secs(r.build_s),
                secs(r.to_highs_s),
                secs(r.highs_s),
                secs(r.solve_s),
                secs(r.total_s),
                ratio(ref.total_s, r.total_s),
                num(r.objective, ".10g"),
                "-" if r.nodes is None else str(r.nodes),
                r.status,
                r.note,
                end_section=i == len(routes) - 1,
            )
    return tab


def overhead_table(results: list[tuple[str, list[Route]]]) -> Table:
    """Time outside HiGHS's run: building plus handing the model over, Pyomo vs highspy."""
    tab = Table(
        title="Time outside the HiGHS run (build + hand-over + the rest of the solve call)",
        title_justify="left",
    )
    for col in (
        "instance",
        "pyomo build s",
        "pyomo to HiGHS s",
        "pyomo outside s",
        "highspy build s",
        "highspy to HiGHS s",
        "highspy outside s",
        "pyomo / highspy",
        "outside share of pyomo total",
    ):
        tab.add_column(col, justify="left" if col == "instance" else "right")
    for label, routes in results:
        split = next(r for r in routes if r.name == "pyomo, split")
        direct = next(r for r in routes if r.name == "highspy")
        if split.highs_s is None or direct.highs_s is None:
            continue
        p_out = split.total_s - split.highs_s
        h_out = direct.total_s - direct.highs_s
        tab.add_row(
            label,
            secs(split.build_s),
            secs(split.to_highs_s),
            secs(p_out),
            secs(direct.build_s),
            secs(direct.to_highs_s),
            secs(h_out),
            ratio(p_out, h_out),
            f"{100 * p_out / split.total_s:.1f}%",
        )
    return tab


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser, time_limit=60.0)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="N",
        help="runs of every route; each time is the least over the runs (default: 3)",
    )
    args = parser.parse_args(argv)
    print_facts(
        {
            "HiGHS threads": str(args.threads),
            "time limit s": f"{args.time_limit:g}",
            "repeat": str(args.repeat),
        }
    )
    t_start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for label, inst in instances(args.sizes, args.seeds):
            console.print(f"[dim]{label} ...[/dim]")
            results.append((label, compare(inst, args, Path(tmpdir))))
    console.print(routes_table(results))
    console.print(
        "build s: building the model (pyomo, lp file: edgebound.models.mmv.build; highspy: "
        "build_direct). to HiGHS s: Pyomo's translation (set_instance); writing and reading "
        "the LP file; passModel. solve s: everything after building (pyomo: "
        "SolveResult.solve_s). total = build + solve. Ratios use the totals."
    )
    console.print(overhead_table(results))
    console.print(f"total wall time {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
