"""The per-period building block shared by the MMV models.

:class:`_Period` puts one period's MMV decisions, constraints (eqs 1 and 5-7) and delay terms
(eq 8) on a Pyomo block; :mod:`edgebound.models.mmv` (one period) and
:mod:`edgebound.models.mmv_schedule` (T periods) assemble them. The formulations are
described in :mod:`edgebound.models.mmv`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pyomo.environ as pyo

from edgebound.errors import InfeasibleError, SolverError
from edgebound.evaluate.queueing import mmc_mean_wait
from edgebound.instances import Instance, Version, fits
from edgebound.solvers.base import model_size

OBJECTIVES: dict[str, Literal["min", "max"]] = {
    "weighted": "min",
    "delay": "min",
    "accuracy": "max",
    "security": "max",
    "reliability": "max",
}
_RESOURCES = ("cpu", "ram_gb", "disk_gb", "gpus")
_UNIT = {"cpu": "vCPU", "ram_gb": "GB RAM", "disk_gb": "GB disk", "gpus": "GPUs"}
# Secants of the waiting time below this (ms) are dropped: the error is below it.
_W_TOL_MS = 1e-10


def _rates(inst: Instance) -> dict[str, float]:
    lam = dict.fromkeys(inst.service_names, 0.0)
    for d in inst.workload.demands:
        lam[d.service] += d.rate_rps
    return lam


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


def _check_names(weights: Mapping[str, float], constraints: Mapping[str, float]) -> None:
    for what, names in (("weights", weights), ("constraints", constraints)):
        for name in names:
            if name not in OBJECTIVES or name == "weighted":
                raise SolverError(
                    f"{what}.{name}: not an MMV objective (delay, accuracy, security, reliability)"
                )


class _Period:
    """One period's decisions and terms on a Pyomo block (shared by both MMV models).

    ``weight[k]`` is the share of all requests that service k's requests of this period are,
    so that the period's objective terms add up across periods. ``prev`` is the version each
    service ran before (a label) or, in a schedule, the previous period's block.
    """

    def __init__(
        self,
        b: pyo.Block,
        inst: Instance,
        lam: Mapping[str, float],
        weight: Mapping[str, float],
        available: Mapping[str, list[Version]],
        max_replicas: int | None,
        where: str,
        formulation: str = "auto",
    ) -> None:
        self.inst, self.lam, self.weight = inst, dict(lam), dict(weight)
        self.notes: list[str] = []
        self.b = b
        nodes = inst.topology.nodes
        node_names = inst.node_names
        rho = inst.policy.max_utilization
        self.rho = rho
        t_ms = inst.transmission_ms

        # ------------------------------------------------------------ pre-solve (eqs 2-4)
        versions: dict[str, list[Version]] = {}
        ub: dict[tuple[str, str, str], int] = {}
        cmin: dict[tuple[str, str], int] = {}
        cmax: dict[tuple[str, str], int] = {}
        problems: list[str] = []
        for k in inst.service_names:
            svc = inst.service(k)
            keep = []
            for v in available[k]:
                per_node = {n.name: (_per_node_cap(v, n) if fits(v, n, svc) else 0) for n in nodes}
                total = sum(per_node.values())
                if max_replicas is not None:
                    total = min(total, max_replicas)
                # the smallest c >= 1 with lam <= rho c mu (so lam < c mu, as rho < 1)
                need = max(1, math.ceil(lam[k] / (rho * v.service_rate_rps) - 1e-12))
                if need > total:
                    self.notes.append(
                        f"{where}{k} v{v.label}: needs {need} replicas for load <= {rho:g} at "
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
                    f"{where}{k}: no version can serve {lam[k]:g} req/s at load <= {rho:g} "
                    "in the capacity available"
                )
            versions[k] = keep
        if problems:
            raise InfeasibleError("MMV is infeasible before solving:\n  " + "\n  ".join(problems))
        self.cmin, self.cmax = cmin, cmax

        K = list(inst.service_names)
        vk = {k: [v.label for v in versions[k]] for k in K}
        KV = [(k, lv) for k in K for lv in vk[k]]
        vobj = {(k, v.label): v for k in K for v in versions[k]}
        nodes_kv = {(k, lv): [n for n in node_names if ub[k, lv, n] > 0] for (k, lv) in KV}
        KVN = [(k, lv, n) for (k, lv) in KV for n in nodes_kv[k, lv]]
        self.K, self.vk, self.KV, self.vobj, self.nodes_kv = K, vk, KV, vobj, nodes_kv
        b.y = pyo.Var(KV, domain=pyo.Binary)
        b.d = pyo.Var(
            KVN, domain=pyo.NonNegativeIntegers, bounds=lambda _b, k, lv, n: (0, ub[k, lv, n])
        )
        b.one_version = pyo.Constraint(K, rule=lambda _b, k: sum(_b.y[k, lv] for lv in vk[k]) == 1)
        b.link = pyo.Constraint(
            KVN, rule=lambda _b, k, lv, n: _b.d[k, lv, n] <= ub[k, lv, n] * _b.y[k, lv]
        )

        def cv(k: str, lv: str) -> Any:
            return sum(b.d[k, lv, n] for n in nodes_kv[k, lv])

        # ------------------------------------------------------------ capacity (eqs 5-7)
        cap_rows: dict[tuple[str, str], tuple[list[tuple[float, tuple[str, str, str]]], float]]
        cap_rows = {}
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
        self.cap_rows = cap_rows
        b.capacity = pyo.Constraint(
            list(cap_rows),
            rule=lambda _b, r, n: (
                sum(coef * _b.d[i] for coef, i in cap_rows[r, n][0]) <= cap_rows[r, n][1]
            ),
        )

        # ------------------------------------------------------------ stability (eq 1)
        def stability(_b: Any, k: str) -> Any:
            if lam[k] > 0:
                return sum(rho * vobj[k, lv].service_rate_rps * cv(k, lv) for lv in vk[k]) >= lam[k]
            return sum(cv(k, lv) for lv in vk[k]) >= 1

        b.stability = pyo.Constraint(K, rule=stability)
        b.min_replicas = pyo.Constraint(
            KV, rule=lambda _b, k, lv: cv(k, lv) >= cmin[k, lv] * _b.y[k, lv]
        )

        def wait_ms(k: str, mu: float, c: int) -> float:
            return 1000.0 * mmc_mean_wait(c, lam[k], mu)

        queue: dict[str, Any] = {}
        trans: dict[str, Any] = {}
        uniform = bool(np.ptp(t_ms) == 0) if len(t_ms) else True
        if formulation not in ("auto", "count", "compact"):
            raise SolverError(f"formulation: {formulation!r} must be 'auto', 'count' or 'compact'")
        if uniform:
            formulation = "secants"  # exact and smallest whenever the delays are equal
        elif formulation in ("auto", "count"):
            formulation = "count one-hot"
        self.formulation = formulation
        self.n_secants = 0
        if formulation in ("secants", "compact"):
            # -------------------------------------------------------- queueing: secants
            # W(c) is convex decreasing at integers; its secants in perspective form
            # (switched off with y) describe it exactly at integers.
            b.q = pyo.Var(KV, domain=pyo.NonNegativeReals)
            secants: list[tuple[str, str, float, float]] = []
            for k, lv in KV:
                mu = vobj[k, lv].service_rate_rps
                lo, hi = cmin[k, lv], cmax[k, lv]
                if hi == lo:
                    secants.append((k, lv, wait_ms(k, mu, lo), 0.0))
                    continue
                w_next = wait_ms(k, mu, lo)
                for j in range(lo, hi):
                    w0, w_next = w_next, wait_ms(k, mu, j + 1)
                    if w0 < _W_TOL_MS:
                        break
                    beta = w_next - w0
                    secants.append((k, lv, w0 - beta * j, beta))
            b.queue = pyo.Constraint(
                range(len(secants)),
                rule=lambda _b, i: (
                    _b.q[secants[i][0], secants[i][1]]
                    >= secants[i][2] * _b.y[secants[i][0], secants[i][1]]
                    + secants[i][3] * cv(secants[i][0], secants[i][1])
                ),
            )
            for k in K:
                queue[k] = sum(b.q[k, lv] for lv in vk[k])
                trans[k] = float(t_ms[0]) if len(t_ms) else 0.0
            self.n_secants = len(secants)
            if formulation == "compact":
                # Mean transmission T = sum_n t_n d_n / c as T c >= sum_n t_n d_n, with c in
                # binary digits and each product T * bit bounded above (exact at integers).
                t_max = float(np.max(t_ms))
                bits = {
                    k: range(max(1, int(max(cmax[k, lv] for lv in vk[k])).bit_length())) for k in K
                }
                kj = [(k, j) for k in K for j in bits[k]]
                b.tm = pyo.Var(K, domain=pyo.NonNegativeReals, bounds=(0, t_max))
                b.bit = pyo.Var(kj, domain=pyo.Binary)
                b.tb = pyo.Var(kj, domain=pyo.NonNegativeReals, bounds=(0, t_max))
                b.count_bits = pyo.Constraint(
                    K,
                    rule=lambda _b, k: (
                        sum(2**j * _b.bit[k, j] for j in bits[k]) == sum(cv(k, lv) for lv in vk[k])
                    ),
                )
                b.tb_t = pyo.Constraint(kj, rule=lambda _b, k, j: _b.tb[k, j] <= _b.tm[k])
                b.tb_bit = pyo.Constraint(
                    kj, rule=lambda _b, k, j: _b.tb[k, j] <= t_max * _b.bit[k, j]
                )
                t_of = dict(zip(node_names, (float(x) for x in t_ms), strict=True))
                b.mean_trans = pyo.Constraint(
                    K,
                    rule=lambda _b, k: (
                        sum(2**j * _b.tb[k, j] for j in bits[k])
                        >= sum(t_of[i[2]] * _b.d[i] for i in KVN if i[0] == k)
                    ),
                )
                for k in K:
                    trans[k] = b.tm[k]
        else:
            # -------------------------------------------------------- count one-hot
            # The mean transmission over replicas is a ratio; disaggregating replicas by
            # their total count c makes it linear, and on the same one-hot the queueing
            # delay of each (service rate, count) pair is a constant: the convex hull in c.
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
            b.w = pyo.Var(kgc, domain=pyo.Binary)
            kgc_by_k: dict[str, list[tuple[str, int, int]]] = {k: [] for k in K}
            kgc_by_kg: dict[tuple[str, int], list[int]] = {kg: [] for kg in members}
            kgc_by_kc: dict[tuple[str, int], list[int]] = {}
            for k, g, c in kgc:
                kgc_by_k[k].append((k, g, c))
                kgc_by_kg[k, g].append(c)
                kgc_by_kc.setdefault((k, c), []).append(g)
            b.group_link = pyo.Constraint(
                list(members),
                rule=lambda _b, k, g: (
                    sum(_b.y[k, lv] for lv in members[k, g])
                    == sum(_b.w[k, g, c] for c in kgc_by_kg[k, g])
                ),
            )
            nodes_k = {
                k: [n for n in node_names if any(ub[k, lv, n] > 0 for lv in vk[k])] for k in K
            }
            ub_kn = {(k, n): max(ub[k, lv, n] for lv in vk[k]) for k in K for n in nodes_k[k]}
            kc = list(kgc_by_kc)
            kcn = [(k, c, n) for (k, c) in kc for n in nodes_k[k]]
            b.e = pyo.Var(kcn, domain=pyo.NonNegativeReals)

            def z(k: str, c: int) -> Any:
                return sum(b.w[k, g, c] for g in kgc_by_kc[k, c])

            b.count_split = pyo.Constraint(
                kc, rule=lambda _b, k, c: sum(_b.e[k, c, n] for n in nodes_k[k]) == c * z(k, c)
            )
            # Each node holds at most min(c, what fits there) of c replicas: tightens the LP.
            b.count_bound = pyo.Constraint(
                kcn, rule=lambda _b, k, c, n: _b.e[k, c, n] <= min(c, ub_kn[k, n]) * z(k, c)
            )
            b.count_link = pyo.Constraint(
                list(ub_kn),
                rule=lambda _b, k, n: (
                    sum(_b.e[k, c, n] for c in sorted(counts[k]))
                    == sum(_b.d[k, lv, n] for lv in vk[k] if ub[k, lv, n] > 0)
                ),
            )
            t_of = dict(zip(node_names, (float(x) for x in t_ms), strict=True))
            for k in K:
                trans[k] = sum(
                    t_of[n] / c * b.e[k, c, n]
                    for c in sorted(counts[k])
                    for n in nodes_k[k]
                    if t_of[n] != 0
                )
                # waits below _W_TOL_MS count as 0: HiGHS treats such costs as noise
                queue[k] = sum(
                    wait_ms(k, mu_of[k, g], c) * b.w[k, g, c]
                    for (_, g, c) in kgc_by_k[k]
                    if wait_ms(k, mu_of[k, g], c) >= _W_TOL_MS
                )
        self.queue, self.trans = queue, trans

    def spawn_flags(self, prev: Mapping[str, str] | _Period) -> dict[str, Any]:
        """Expressions equal to 1 when service k changes version relative to ``prev``."""
        b, flags = self.b, {}
        if not isinstance(prev, _Period):
            for k in self.K:
                flags[k] = sum(b.y[k, lv] for lv in self.vk[k] if lv != prev[k])
            return flags
        # a[k] >= y[k,v] - y_prev[k,v]: 1 exactly when the version differs (a is minimized
        # through the spawn delay whenever that delay counts).
        b.changed = pyo.Var(self.K, domain=pyo.NonNegativeReals, bounds=(0, 1))
        rows = [(k, lv) for (k, lv) in self.KV]
        b.change = pyo.Constraint(
            rows,
            rule=lambda _b, k, lv: (
                _b.changed[k] >= _b.y[k, lv] - (prev.b.y[k, lv] if lv in prev.vk[k] else 0)
            ),
        )
        return {k: b.changed[k] for k in self.K}

    def no_rollback(self, prev: _Period) -> None:
        """Versions only move forward: once at v, later periods run v or newer."""
        key = {lv: self.vobj[k, lv].key for (k, lv) in self.KV}
        self.b.forward = pyo.Constraint(
            prev.KV,
            rule=lambda _b, k, lv: (
                prev.b.y[k, lv]
                <= sum(
                    _b.y[k, nv] for nv in self.vk[k] if self.vobj[k, nv].key >= prev.vobj[k, lv].key
                )
            ),
        )
        del key

    def terms(self, spawn: Mapping[str, Any]) -> dict[str, Any]:
        """This period's contributions to O1-O4 (already weighted by its share of requests)."""
        inst, b = self.inst, self.b
        exposure = inst.policy.spawn_exposure
        out: dict[str, Any] = {"delay": 0.0, "accuracy": 0.0, "security": 0.0, "reliability": 0.0}
        for k in self.K:
            wk = self.weight[k]
            if wk == 0:
                continue
            delay = (
                sum(1000.0 / self.vobj[k, lv].service_rate_rps * b.y[k, lv] for lv in self.vk[k])
                + self.trans[k]
                + inst.service(k).spawn_time_ms * exposure * spawn[k]
                + self.queue[k]
            )
            out["delay"] += wk * delay
            for attr in ("accuracy", "security", "reliability"):
                out[attr] += wk * sum(
                    getattr(self.vobj[k, lv], attr) * b.y[k, lv] for lv in self.vk[k]
                )
        return out

    def decode(self) -> dict[str, Any]:
        b = self.b
        chosen = {k: max(self.vk[k], key=lambda lv: pyo.value(b.y[k, lv])) for k in self.K}
        reps: dict[str, dict[str, int]] = {}
        for k in self.K:
            lv = chosen[k]
            counts = {n: round(pyo.value(b.d[k, lv, n])) for n in self.nodes_kv[k, lv]}
            reps[k] = {n: c for n, c in counts.items() if c > 0}
        return {"model": "mmv", "versions": chosen, "replicas": reps}

    def context(self, rows: tuple[str, ...], prefix: str = "", label: str = "") -> list[str]:
        """What stability alone demands of each resource in the conflicting rows."""
        out = []
        for r in _RESOURCES:
            nodes_r = [
                n for (rr, n) in self.cap_rows if rr == r and f"{prefix}capacity[{rr},{n}]" in rows
            ]
            if not nodes_r:
                continue
            have = sum(getattr(self.inst.node(n), r) for n in nodes_r)
            need = {
                k: min(self.cmin[k, lv] * getattr(self.vobj[k, lv], r) for lv in self.vk[k])
                for k in self.K
            }
            parts = ", ".join(f"{k} {v:g}" for k, v in need.items() if v > 0)
            out.append(
                f"{label}stable service needs at least {sum(need.values()):g} {_UNIT[r]} in all "
                f"({parts}); nodes {', '.join(nodes_r)} have {have:g}"
            )
        return out


def _objective(
    m: pyo.ConcreteModel,
    totals: Mapping[str, Any],
    objective: str,
    w: Mapping[str, float],
    ref: float,
    cons: Mapping[str, float],
) -> None:
    m.O1 = pyo.Expression(expr=totals["delay"])
    m.O2 = pyo.Expression(expr=totals["accuracy"])
    m.O3 = pyo.Expression(expr=totals["security"])
    m.O4 = pyo.Expression(expr=totals["reliability"])
    expr = {"delay": m.O1, "accuracy": m.O2, "security": m.O3, "reliability": m.O4}
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


def _stats(m: pyo.ConcreteModel, objective: str, ref: float) -> dict[str, Any]:
    return {
        **model_size(m),
        "objective": objective,
        "delay_ref_ms": ref,
    }


def _describe(inst: Instance, name: str, lam: Mapping[str, float], rho: float) -> str:
    """A constraint's meaning in the instance's terms (for infeasibility reports)."""
    head, _, idx = name.partition("[")
    idx = idx.rstrip("]")
    parts = [p.strip().strip("'") for p in idx.split(",")] if idx else []
    if head == "capacity" and len(parts) == 2:
        r, n = parts
        return f"node {n}: {getattr(inst.node(n), r):g} {_UNIT.get(r, r)}"
    if head == "stability" and parts:
        k = parts[0]
        return f"{k}: {lam[k]:g} req/s must stay at load <= {rho:g}"
    if head == "epsilon" and parts:
        return f"epsilon-constraint on {parts[0]}"
    return name
