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

import math
import time
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pyomo.environ as pyo

from edgebound.errors import InfeasibleError, SolverError
from edgebound.evaluate.queueing import mmc_mean_wait
from edgebound.instances import Instance, Version, fits
from edgebound.solvers.base import BuiltModel

__all__ = ["OBJECTIVES", "build"]

OBJECTIVES: dict[str, Literal["min", "max"]] = {
    "weighted": "min",
    "delay": "min",
    "accuracy": "max",
    "security": "max",
    "reliability": "max",
}
_RESOURCES = ("cpu", "ram_gb", "disk_gb", "gpus")
# Secants of the waiting time below this (ms) are dropped: the error is below it.
_W_TOL_MS = 1e-10


def _rates(inst: Instance) -> dict[str, float]:
    lam = dict.fromkeys(inst.service_names, 0.0)
    for d in inst.workload.demands:
        lam[d.service] += d.rate_rps
    return lam


def _weights(inst: Instance, lam: Mapping[str, float]) -> dict[str, float]:
    total = sum(lam.values())
    if total <= 0:
        return {k: 1.0 / len(lam) for k in lam}
    return {k: v / total for k, v in lam.items()}


def _delay_ref_ms(inst: Instance, share: Mapping[str, float]) -> float:
    if inst.policy.delay_ref_ms is not None:
        return inst.policy.delay_ref_ms
    return sum(share[k] * 1000.0 / inst.running_version(k).service_rate_rps for k in share)


def _per_node_cap(v: Version, node: Any) -> int:
    caps = []
    for r in _RESOURCES:
        need = getattr(v, r)
        if need > 0:
            caps.append(math.floor(getattr(node, r) / need + 1e-9))
    return max(0, min(caps)) if caps else 10**6


def build(
    instance: Instance,
    objective: str = "weighted",
    *,
    weights: Mapping[str, float] | None = None,
    constraints: Mapping[str, float] | None = None,
    max_replicas: int | None = None,
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
    lam = _rates(inst)
    share = _weights(inst, lam)
    w = dict(inst.policy.weights if weights is None else weights)
    for name in w:
        if name not in OBJECTIVES or name == "weighted":
            raise SolverError(
                f"weights.{name}: not an MMV objective (delay, accuracy, security, reliability)"
            )
    cons = dict(constraints or {})
    for name in cons:
        if name not in OBJECTIVES or name == "weighted":
            raise SolverError(
                f"constraints.{name}: not an MMV objective (delay, accuracy, security, reliability)"
            )
    nodes = inst.topology.nodes
    node_names = inst.node_names
    t_ms = inst.transmission_ms
    rho = inst.policy.max_utilization
    notes: list[str] = []

    # ---------------------------------------------------------------- pre-solve (eqs 2-4)
    versions: dict[str, list[Version]] = {}
    ub: dict[tuple[str, str, str], int] = {}
    cmin: dict[tuple[str, str], int] = {}
    cmax: dict[tuple[str, str], int] = {}
    problems: list[str] = []
    for svc in inst.services:
        k = svc.name
        cands = inst.candidate_versions(k)
        left_out = [v.label for v in svc.versions if not any(fits(v, n, svc) for n in nodes)]
        if left_out:
            notes.append(
                f"{k}: versions {', '.join(left_out)} fit on no node and are left out (eqs 2-4)"
            )
        keep = []
        for v in cands:
            per_node = {n.name: (_per_node_cap(v, n) if fits(v, n, svc) else 0) for n in nodes}
            total = sum(per_node.values())
            if max_replicas is not None:
                total = min(total, max_replicas)
            need = 1 if lam[k] <= 0 else max(1, math.floor(lam[k] / (rho * v.service_rate_rps)) + 1)
            # the smallest c with lam <= rho c mu (lam < c mu strictly since rho < 1)
            while need > 1 and lam[k] <= rho * (need - 1) * v.service_rate_rps:
                need -= 1
            if need > total:
                notes.append(
                    f"{k} v{v.label}: needs {need} replicas for load <= {rho:g} at "
                    f"{lam[k]:g} req/s, only {total} fit; left out"
                )
                continue
            keep.append(v)
            cmin[k, v.label] = need
            cmax[k, v.label] = total
            for n in node_names:
                ub[k, v.label, n] = min(per_node[n], total)
        if not keep:
            problems.append(
                f"{k}: no version can serve {lam[k]:g} req/s at load <= {rho:g} "
                "in the capacity available"
            )
        versions[k] = keep
    if problems:
        raise InfeasibleError("MMV is infeasible before solving:\n  " + "\n  ".join(problems))

    m = pyo.ConcreteModel(name=f"mmv[{inst.name}]")
    K = list(inst.service_names)
    vk = {k: [v.label for v in versions[k]] for k in K}
    KV = [(k, lv) for k in K for lv in vk[k]]
    vobj = {(k, v.label): v for k in K for v in versions[k]}
    nodes_kv = {(k, lv): [n for n in node_names if ub[k, lv, n] > 0] for (k, lv) in KV}
    KVN = [(k, lv, n) for (k, lv) in KV for n in nodes_kv[k, lv]]
    m.y = pyo.Var(KV, domain=pyo.Binary)
    m.d = pyo.Var(
        KVN, domain=pyo.NonNegativeIntegers, bounds=lambda _m, k, lv, n: (0, ub[k, lv, n])
    )
    m.one_version = pyo.Constraint(K, rule=lambda _m, k: sum(_m.y[k, lv] for lv in vk[k]) == 1)
    m.link = pyo.Constraint(
        KVN, rule=lambda _m, k, lv, n: _m.d[k, lv, n] <= ub[k, lv, n] * _m.y[k, lv]
    )

    def cv(k: str, lv: str) -> Any:
        return sum(m.d[k, lv, n] for n in nodes_kv[k, lv])

    # ---------------------------------------------------------------- capacity (eqs 5-7)
    cap_rows: dict[tuple[str, str], tuple[list[tuple[float, tuple[str, str, str]]], float]] = {}
    by_node: dict[str, list[tuple[str, str, str]]] = {n: [] for n in node_names}
    for idx in KVN:
        by_node[idx[2]].append(idx)
    for node in nodes:
        for r in _RESOURCES:
            terms = [(float(getattr(vobj[i[0], i[1]], r)), i) for i in by_node[node.name]]
            terms = [(coef, i) for coef, i in terms if coef > 0]
            # rows that cannot bind under the variables' bounds are left out
            if terms and sum(coef * ub[i] for coef, i in terms) > getattr(node, r) + 1e-9:
                cap_rows[r, node.name] = (terms, float(getattr(node, r)))
    m.capacity = pyo.Constraint(
        list(cap_rows),
        rule=lambda _m, r, n: (
            sum(coef * _m.d[i] for coef, i in cap_rows[r, n][0]) <= cap_rows[r, n][1]
        ),
    )

    # ---------------------------------------------------------------- stability (eq 1)
    def stability(_m: Any, k: str) -> Any:
        if lam[k] > 0:
            return sum(rho * vobj[k, lv].service_rate_rps * cv(k, lv) for lv in vk[k]) >= lam[k]
        return sum(cv(k, lv) for lv in vk[k]) >= 1

    m.stability = pyo.Constraint(K, rule=stability)
    m.min_replicas = pyo.Constraint(
        KV, rule=lambda _m, k, lv: cv(k, lv) >= cmin[k, lv] * _m.y[k, lv]
    )

    def wait_ms(k: str, lv: str, c: int) -> float:
        return 1000.0 * mmc_mean_wait(c, lam[k], vobj[k, lv].service_rate_rps)

    queue: dict[str, Any] = {}
    trans: dict[str, Any] = {}
    uniform = bool(np.ptp(t_ms) == 0) if len(t_ms) else True
    if uniform:
        # ------------------------------------------------------------ queueing: secants
        # W(c) is convex decreasing at integers; its secants in perspective form are exact.
        m.q = pyo.Var(KV, domain=pyo.NonNegativeReals)
        secants: list[tuple[str, str, float, float]] = []
        for k, lv in KV:
            lo, hi = cmin[k, lv], cmax[k, lv]
            if hi == lo:
                secants.append((k, lv, wait_ms(k, lv, lo), 0.0))
                continue
            w_next = wait_ms(k, lv, lo)
            for j in range(lo, hi):
                w0, w_next = w_next, wait_ms(k, lv, j + 1)
                if w0 < _W_TOL_MS:
                    break
                beta = w_next - w0
                secants.append((k, lv, w0 - beta * j, beta))
        m.queue = pyo.Constraint(
            range(len(secants)),
            rule=lambda _m, i: (
                _m.q[secants[i][0], secants[i][1]]
                >= secants[i][2] * _m.y[secants[i][0], secants[i][1]]
                + secants[i][3] * cv(secants[i][0], secants[i][1])
            ),
        )
        for k in K:
            queue[k] = sum(m.q[k, lv] for lv in vk[k])
            trans[k] = float(t_ms[0]) if len(t_ms) else 0.0
        n_secants = len(secants)
    else:
        # ------------------------------------------------------------ count one-hot
        # The mean transmission over replicas is a ratio; disaggregating replicas by their
        # total count c makes it linear, and on the same one-hot the queueing delay of
        # each (service rate, count) pair is a constant: the convex hull in c.
        n_secants = 0
        groups: dict[str, dict[float, list[str]]] = {}
        for k, lv in KV:
            groups.setdefault(k, {}).setdefault(vobj[k, lv].service_rate_rps, []).append(lv)
        kgc: list[tuple[str, int, int]] = []
        counts: dict[str, set[int]] = {k: set() for k in K}
        mu_of: dict[tuple[str, int], float] = {}
        members: dict[tuple[str, int], list[str]] = {}
        for k in K:
            for g, (mu, labels) in enumerate(sorted(groups[k].items())):
                mu_of[k, g] = mu
                members[k, g] = labels
                lo = min(cmin[k, lv] for lv in labels)
                hi = max(cmax[k, lv] for lv in labels)
                for c in range(lo, hi + 1):
                    kgc.append((k, g, c))
                    counts[k].add(c)
        m.w = pyo.Var(kgc, domain=pyo.Binary)
        kgc_by_k: dict[str, list[tuple[str, int, int]]] = {k: [] for k in K}
        kgc_by_kg: dict[tuple[str, int], list[int]] = {kg: [] for kg in members}
        kgc_by_kc: dict[tuple[str, int], list[int]] = {}
        for k, g, c in kgc:
            kgc_by_k[k].append((k, g, c))
            kgc_by_kg[k, g].append(c)
            kgc_by_kc.setdefault((k, c), []).append(g)
        m.group_link = pyo.Constraint(
            list(members),
            rule=lambda _m, k, g: (
                sum(_m.y[k, lv] for lv in members[k, g])
                == sum(_m.w[k, g, c] for c in kgc_by_kg[k, g])
            ),
        )
        nodes_k = {k: [n for n in node_names if any(ub[k, lv, n] > 0 for lv in vk[k])] for k in K}
        ub_kn = {(k, n): max(ub[k, lv, n] for lv in vk[k]) for k in K for n in nodes_k[k]}
        kc = list(kgc_by_kc)
        kcn = [(k, c, n) for (k, c) in kc for n in nodes_k[k]]
        m.e = pyo.Var(kcn, domain=pyo.NonNegativeReals)

        def z(k: str, c: int) -> Any:
            return sum(m.w[k, g, c] for g in kgc_by_kc[k, c])

        m.count_split = pyo.Constraint(
            kc, rule=lambda _m, k, c: sum(_m.e[k, c, n] for n in nodes_k[k]) == c * z(k, c)
        )
        # Each node holds at most min(c, what fits there) of c replicas: tightens the LP.
        m.count_bound = pyo.Constraint(
            kcn, rule=lambda _m, k, c, n: _m.e[k, c, n] <= min(c, ub_kn[k, n]) * z(k, c)
        )
        m.count_link = pyo.Constraint(
            list(ub_kn),
            rule=lambda _m, k, n: (
                sum(_m.e[k, c, n] for c in sorted(counts[k]))
                == sum(_m.d[k, lv, n] for lv in vk[k] if ub[k, lv, n] > 0)
            ),
        )
        t_of = dict(zip(node_names, (float(x) for x in t_ms), strict=True))
        for k in K:
            trans[k] = sum(
                t_of[n] / c * m.e[k, c, n]
                for c in sorted(counts[k])
                for n in nodes_k[k]
                if t_of[n] != 0
            )
            queue[k] = sum(
                1000.0 * mmc_mean_wait(c, lam[k], mu_of[k, g]) * m.w[k, g, c]
                for (_, g, c) in kgc_by_k[k]
            )

    # ---------------------------------------------------------------- objectives (eqs 8-12)
    exposure = inst.policy.spawn_exposure
    delay: dict[str, Any] = {}
    for k in K:
        run = inst.running_version(k).label
        spawn = inst.service(k).spawn_time_ms * exposure
        delay[k] = (
            sum(1000.0 / vobj[k, lv].service_rate_rps * m.y[k, lv] for lv in vk[k])
            + trans[k]
            + sum(spawn * m.y[k, lv] for lv in vk[k] if lv != run)
            + queue[k]
        )
    m.O1 = pyo.Expression(expr=sum(share[k] * delay[k] for k in K))
    for name, attr in (("O2", "accuracy"), ("O3", "security"), ("O4", "reliability")):
        setattr(
            m,
            name,
            pyo.Expression(
                expr=sum(share[k] * getattr(vobj[k, lv], attr) * m.y[k, lv] for (k, lv) in KV)
            ),
        )
    expr = {"delay": m.O1, "accuracy": m.O2, "security": m.O3, "reliability": m.O4}
    ref = _delay_ref_ms(inst, share)
    weighted = (
        w.get("delay", 0.0) / ref * m.O1
        - w.get("accuracy", 0.0) * m.O2
        - w.get("security", 0.0) * m.O3
        - w.get("reliability", 0.0) * m.O4
    )
    if objective == "weighted":
        m.objective = pyo.Objective(expr=weighted, sense=pyo.minimize)
    else:
        sense = pyo.minimize if OBJECTIVES[objective] == "min" else pyo.maximize
        m.objective = pyo.Objective(expr=expr[objective], sense=sense)
    m.epsilon = pyo.Constraint(
        list(cons),
        rule=lambda _m, name: (
            expr[name] <= cons[name] if OBJECTIVES[name] == "min" else expr[name] >= cons[name]
        ),
    )

    def decode(mm: pyo.ConcreteModel) -> dict[str, Any]:
        chosen = {k: max(vk[k], key=lambda lv: pyo.value(mm.y[k, lv])) for k in K}
        reps: dict[str, dict[str, int]] = {}
        for k in K:
            lv = chosen[k]
            counts = {n: round(pyo.value(mm.d[k, lv, n])) for n in nodes_kv[k, lv]}
            reps[k] = {n: c for n, c in counts.items() if c > 0}
        return {"model": "mmv", "versions": chosen, "replicas": reps}

    def describe(name: str) -> str:
        return _describe(inst, name, lam, rho)

    n_int = sum(1 for v in m.component_data_objects(pyo.Var) if v.is_integer() or v.is_binary())
    stats = {
        "variables": sum(1 for _ in m.component_data_objects(pyo.Var)),
        "integer_variables": n_int,
        "constraints": sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True)),
        "versions_considered": len(KV),
        "secants": n_secants,
        "formulation": "secants" if uniform else "count one-hot",
        "objective": objective,
        "delay_ref_ms": ref,
    }
    return BuiltModel(
        name="mmv",
        instance=inst,
        pyomo=m,
        decode=decode,
        objective_name=objective,
        build_s=time.perf_counter() - t0,
        describe=describe,
        notes=tuple(notes),
        stats=stats,
    )


def _describe(inst: Instance, name: str, lam: Mapping[str, float], rho: float) -> str:
    """A constraint's meaning in the instance's terms (for infeasibility reports)."""
    head, _, idx = name.partition("[")
    idx = idx.rstrip("]")
    parts = [p.strip().strip("'") for p in idx.split(",")] if idx else []
    if head == "capacity" and len(parts) == 2:
        r, n = parts
        return f"node {n} {r}: capacity {getattr(inst.node(n), r):g}"
    if head == "stability" and parts:
        k = parts[0]
        return f"{k}: {lam[k]:g} req/s must stay at load <= {rho:g}"
    if head == "epsilon" and parts:
        return f"epsilon-constraint on {parts[0]}"
    return name
