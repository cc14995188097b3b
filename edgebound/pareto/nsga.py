"""Approximate Pareto fronts of the static MMV problem by NSGA-II and NSGA-III (pymoo).

**Encoding.** One integer vector per decision: for every service k the index of its version
among ``Instance.candidate_versions(k)`` that can serve the load at all (those the MILP keeps,
see :mod:`edgebound.models.mmv`), then its replicas on every node, service by service. The
bounds of a replica count are the most replicas of any candidate version that fit on the empty
node (residency included), so no decision places a service outside its allowed regions.

**Repair.** Offspring and the initial population pass through a deterministic repair:

1. replica counts are clipped to what fits on each empty node for the chosen version;
2. on every node whose capacity (eqs 5-7) is exceeded, replicas are dropped one at a time,
   first from the service with the most replicas beyond what its stability needs;
3. every service below its stability need ``lambda <= rho_max c mu`` (eq 1) gets replicas
   first-fit in node order, as the versioning paper's placement does; when no node has room,
   a replica beyond another service's need is removed from the first node where that makes
   room; if a service still falls short, every service's need is placed afresh, first-fit
   decreasing by size;
4. a descent on the delay (moves, additions, removals and swaps of replicas, versions kept)
   ends at a local optimum; it can only improve the front, since the other objectives
   depend on the versions alone.

A decision the repair cannot make feasible keeps a positive constraint violation, so that
NSGA's constrained domination ranks it behind every feasible one.

**Evaluation.** Objectives are computed on whole populations with per-instance tables (the
Erlang-C waits of every version at every replica count) and equal the evaluator's; the final
front is re-scored by :func:`~edgebound.evaluate.mmv.evaluate_mmv`, which must agree to 1e-6
and find every point feasible. The front returned is the nondominated set of every feasible
decision evaluated during the run (an external archive), not only of the last population.

The same seed gives the same front: pymoo draws from the seed, and the repair draws nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from edgebound.errors import EdgeboundError, InfeasibleError
from edgebound.evaluate.mmv import evaluate_mmv
from edgebound.evaluate.queueing import mmc_mean_wait
from edgebound.instances import Instance, Version, fits
from edgebound.pareto.front import ParetoFront, nondominated

__all__ = ["mmv_nsga"]

_RESOURCES = ("cpu", "ram_gb", "disk_gb", "gpus")
_OBJECTIVES: dict[str, tuple[Literal["min", "max"], str]] = {
    "delay": ("min", "ms"),
    "accuracy": ("max", "1"),
    "security": ("max", "1"),
    "reliability": ("max", "1"),
}
# stands in for an infinite delay in pymoo's sorting; such decisions are infeasible anyway
_BIG = 1e12
_TOL = 1e-9


def _per_node_cap(v: Version, node: Any) -> int:
    caps = [
        math.floor(getattr(node, r) / getattr(v, r) + 1e-9) for r in _RESOURCES if getattr(v, r) > 0
    ]
    return max(0, min(caps)) if caps else 10**6


@dataclass
class _Tables:
    """Per-instance arrays, versions padded to the most any service has."""

    services: tuple[str, ...]
    nodes: tuple[str, ...]
    labels: list[list[str]]
    nv: np.ndarray  # (K,) usable versions per service
    ub: np.ndarray  # (K, V, N) replicas of each version that fit on each empty node
    b: np.ndarray  # (K, V, R) resources of one replica
    cap: np.ndarray  # (N, R)
    cmin: np.ndarray  # (K, V) replicas stability needs
    inv_mu_ms: np.ndarray  # (K, V) processing time
    scores: dict[str, np.ndarray]  # (K, V) accuracy, security, reliability
    spawn_ms: np.ndarray  # (K, V) spawn exposure if the version is an update, else 0
    wait_ms: np.ndarray  # (K, V, C + 1) Erlang-C mean wait at c replicas (inf when unstable)
    t_ms: np.ndarray  # (N,)
    share: np.ndarray  # (K,)

    @property
    def n_services(self) -> int:
        return len(self.services)

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)


def _tables(inst: Instance) -> _Tables:
    rho = inst.policy.max_utilization
    nodes = inst.topology.nodes
    lam = dict.fromkeys(inst.service_names, 0.0)
    for dem in inst.workload.demands:
        if dem.service in lam:
            lam[dem.service] += dem.rate_rps
    usable: list[list[tuple[Version, list[int], int]]] = []
    problems = []
    for svc in inst.services:
        keep = []
        for v in inst.candidate_versions(svc.name):
            per_node = [_per_node_cap(v, n) if fits(v, n, svc) else 0 for n in nodes]
            need = max(1, math.ceil(lam[svc.name] / (rho * v.service_rate_rps) - 1e-12))
            if need <= sum(per_node):
                keep.append((v, per_node, need))
        if not keep:
            problems.append(
                f"{svc.name}: no version can serve {lam[svc.name]:g} req/s at load <= {rho:g} "
                "in the capacity available"
            )
        usable.append(keep)
    if problems:
        raise InfeasibleError("MMV is infeasible:\n  " + "\n  ".join(problems))
    K, N, V = len(usable), len(nodes), max(len(u) for u in usable)
    C = max(sum(pn) for u in usable for _, pn, _ in u)
    ub = np.zeros((K, V, N), dtype=np.int64)
    b = np.zeros((K, V, len(_RESOURCES)))
    cmin = np.ones((K, V), dtype=np.int64)
    inv_mu = np.zeros((K, V))
    scores = {s: np.zeros((K, V)) for s in ("accuracy", "security", "reliability")}
    spawn = np.zeros((K, V))
    wait = np.full((K, V, C + 1), math.inf)
    policy = inst.policy
    for k, (svc, keep) in enumerate(zip(inst.services, usable, strict=True)):
        running = inst.running_version(svc.name).label
        for j, (v, per_node, need) in enumerate(keep):
            ub[k, j] = per_node
            b[k, j] = [float(getattr(v, r)) for r in _RESOURCES]
            cmin[k, j] = need
            mu = v.service_rate_rps
            inv_mu[k, j] = 1000.0 / mu
            for s in scores:
                scores[s][k, j] = getattr(v, s)
            if v.label != running:
                spawn[k, j] = svc.spawn_time_ms * policy.spawn_exposure
            for c in range(1, C + 1):
                wait[k, j, c] = 1000.0 * mmc_mean_wait(c, lam[svc.name], mu)
    lam_arr = np.array([lam[s] for s in inst.service_names])
    total = lam_arr.sum()
    share = lam_arr / total if total > 0 else np.full(K, 1.0 / K)
    return _Tables(
        services=inst.service_names,
        nodes=inst.node_names,
        labels=[[v.label for v, _, _ in keep] for keep in usable],
        nv=np.array([len(u) for u in usable], dtype=np.int64),
        ub=ub,
        b=b,
        cap=np.array([[float(getattr(n, r)) for r in _RESOURCES] for n in nodes]).reshape(
            N, len(_RESOURCES)
        ),
        cmin=cmin,
        inv_mu_ms=inv_mu,
        scores=scores,
        spawn_ms=spawn,
        wait_ms=wait,
        t_ms=np.asarray(inst.transmission_ms, dtype=float),
        share=share,
    )


# --------------------------------------------------------------------------- repair


class _Row:
    """One decision being repaired: versions, replicas and node use as plain lists."""

    def __init__(self, t: _Tables, x: np.ndarray) -> None:
        K, N = t.n_services, t.n_nodes
        self.t, self.K, self.N, self.R = t, K, N, len(_RESOURCES)
        self.v = [min(max(int(np.rint(x[k])), 0), int(t.nv[k]) - 1) for k in range(K)]
        d = np.rint(x[K:]).astype(np.int64).reshape(K, N)
        self.d: list[list[int]] = np.clip(d, 0, t.ub[np.arange(K), self.v]).tolist()
        self.b: list[list[float]] = [t.b[k, self.v[k]].tolist() for k in range(K)]
        self.need = [int(t.cmin[k, self.v[k]]) for k in range(K)]
        self.ub: list[list[int]] = [t.ub[k, self.v[k]].tolist() for k in range(K)]
        self.cap: list[list[float]] = t.cap.tolist()
        self.lim = [[x + _TOL * max(1.0, x) for x in row] for row in self.cap]
        self.nz = [[r for r in range(self.R) if self.b[k][r] != 0] for k in range(K)]
        self.c = [sum(row) for row in self.d]
        self.used = [
            [sum(self.d[k][n] * self.b[k][r] for k in range(K)) for r in range(self.R)]
            for n in range(N)
        ]

    def over(self, n: int) -> int:
        """A resource over capacity on node n, or -1."""
        for r in range(self.R):
            if self.used[n][r] > self.lim[n][r]:
                return r
        return -1

    def move(self, k: int, n: int, step: int) -> None:
        self.d[k][n] += step
        self.c[k] += step
        used, bk = self.used[n], self.b[k]
        for r in self.nz[k]:
            used[r] += step * bk[r]

    def fits(self, k: int, n: int) -> bool:
        """Whether one more replica of k fits on node n."""
        if self.d[k][n] >= self.ub[k][n]:
            return False
        used, lim, bk = self.used[n], self.lim[n], self.b[k]
        # a plain loop rather than all(): this is the innermost call of the repair
        for r in self.nz[k]:  # noqa: SIM110
            if used[r] + bk[r] > lim[r]:
                return False
        return True

    def swap_fits(self, k: int, j: int, n: int, m: int) -> bool:
        """Whether a replica of k on n and one of j on m can trade places."""
        self.move(k, n, -1)
        self.move(j, m, -1)
        ok = self.fits(k, m) and self.fits(j, n)
        self.move(k, n, 1)
        self.move(j, m, 1)
        return ok

    def encode(self) -> np.ndarray:
        return np.concatenate([self.v, np.asarray(self.d, dtype=np.int64).ravel()])


def _repair_row(t: _Tables, x: np.ndarray) -> np.ndarray:
    """Make one encoded decision capacity-feasible and stable where possible, then descend."""
    row = _Row(t, x)
    K, N = row.K, row.N
    # capacity: drop replicas where there are more than stability needs, the largest first
    for n in range(N):
        r = row.over(n)
        while r >= 0:
            k = max(
                (k for k in range(K) if row.d[k][n] > 0),
                key=lambda k: (row.c[k] - row.need[k], row.b[k][r], -k),
            )
            row.move(k, n, -1)
            r = row.over(n)
    # stability: add replicas first-fit in node order
    for k in range(K):
        while row.c[k] < row.need[k]:
            n = next((n for n in range(N) if row.fits(k, n)), -1)
            if n < 0:
                n = _make_room(row, k)
                if n < 0:
                    break
            row.move(k, n, 1)
    if any(c < need for c, need in zip(row.c, row.need, strict=True)):
        row = _rebuild(t, row)
    if all(c >= need for c, need in zip(row.c, row.need, strict=True)):
        _descend(row)
    return row.encode().astype(x.dtype)


def _rebuild(t: _Tables, row: _Row) -> _Row:
    """Place every service's stability need afresh, first-fit decreasing by size.

    The fallback when the placement the repair started from is too fragmented; the versions
    stay, and when even this fails the old row is kept with its shortfall.
    """
    fresh = _Row(t, np.concatenate([row.v, np.zeros(row.K * row.N)]))
    rel = np.max(t.b[np.arange(row.K), row.v] / np.maximum(t.cap.max(axis=0), 1e-12), axis=1)
    for k in sorted(range(row.K), key=lambda k: (-rel[k] * row.need[k], k)):
        while fresh.c[k] < fresh.need[k]:
            n = next((n for n in range(row.N) if fresh.fits(k, n)), -1)
            if n < 0:
                return row
            fresh.move(k, n, 1)
    return fresh


def _make_room(row: _Row, k: int) -> int:
    """Free a node for one more replica of ``k`` by removing others' surplus replicas."""
    for n in range(row.N):
        if row.d[k][n] >= row.ub[k][n]:
            continue
        removed: list[int] = []
        for j in range(row.K):
            while j != k and row.d[j][n] > 0 and row.c[j] > row.need[j] and not row.fits(k, n):
                row.move(j, n, -1)
                removed.append(j)
        if row.fits(k, n):
            return n
        for j in removed:  # no room even so: put them back
            row.move(j, n, 1)
    return -1


def _descend(row: _Row) -> None:
    """Lower the delay by moving, adding, removing and swapping replicas; versions stay.

    Accuracy, security and reliability depend on the versions only, so for the versions
    chosen every step that lowers the delay gives a decision that dominates the one before:
    the descent can only improve the front. Each step takes the best of: per service,
    removing its farthest replica, adding one on the nearest node with room, moving the
    farthest to that node; and swapping the farthest replica of one service with a replica
    of another on a nearer node, tried only when no single-service move helps.
    """
    t, K, N = row.t, row.K, row.N
    d, c = row.d, row.c
    tm = t.t_ms.tolist()
    w = t.share.tolist()
    wait = [t.wait_ms[k, row.v[k]].tolist() for k in range(K)]
    C = len(wait[0]) - 1
    S = [sum(d[k][n] * tm[n] for n in range(N)) for k in range(K)]
    near = sorted(range(N), key=lambda n: (tm[n], n))

    def term(k: int, ck: int, sk: float) -> float:
        return sk / ck + wait[k][min(ck, C)] if ck > 0 else math.inf

    def single(k: int) -> tuple[float, int, int]:
        """The best move of service k alone: (weighted gain, from node, to node)."""
        far = next((n for n in reversed(near) if d[k][n] > 0), -1)
        free = next((m for m in near if row.fits(k, m)), -1)
        now = term(k, c[k], S[k])
        best_value, src, dst = now, -1, -1
        if far >= 0 and c[k] - 1 >= row.need[k]:
            value = term(k, c[k] - 1, S[k] - tm[far])
            if value < best_value:
                best_value, src, dst = value, far, -1
        if free >= 0:
            value = term(k, c[k] + 1, S[k] + tm[free])
            if value < best_value:
                best_value, src, dst = value, -1, free
            if far >= 0 and tm[free] < tm[far]:
                value = term(k, c[k], S[k] - tm[far] + tm[free])
                if value < best_value:
                    best_value, src, dst = value, far, free
        return w[k] * (now - best_value), src, dst

    def swap(k: int) -> bool:
        """Trade k's farthest replica for another service's on a nearer node, if that helps."""
        far = next((n for n in reversed(near) if d[k][n] > 0), -1)
        if far < 0:
            return False
        for m in near:
            if tm[m] >= tm[far]:
                return False
            for j in range(K):
                if j == k or d[j][m] == 0:
                    continue
                gain = (tm[far] - tm[m]) * (w[k] / c[k] - w[j] / c[j])
                if gain > 1e-12 and row.swap_fits(k, j, far, m):
                    row.move(k, far, -1)
                    row.move(j, m, -1)
                    row.move(k, m, 1)
                    row.move(j, far, 1)
                    S[k] += tm[m] - tm[far]
                    S[j] += tm[far] - tm[m]
                    return True
        return False

    active = [k for k in range(K) if w[k] > 0]
    # every step lowers the delay, so this ends; the bound only guards against rounding
    for _ in range(8 * K * N):
        moves = [single(k) for k in active]
        i = max(range(len(active)), key=lambda i: moves[i][0])
        (gain, src, dst), k = moves[i], active[i]
        if gain > 1e-12:
            if src >= 0:
                row.move(k, src, -1)
                S[k] -= tm[src]
            if dst >= 0:
                row.move(k, dst, 1)
                S[k] += tm[dst]
        elif not any(swap(k) for k in active):
            return


# --------------------------------------------------------------------------- evaluation


def _evaluate(t: _Tables, X: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Objectives (in their own senses) and constraint violation of a population."""
    K, N = t.n_services, t.n_nodes
    P = len(X)
    V = np.rint(X[:, :K]).astype(np.int64)
    D = np.rint(X[:, K:]).astype(np.int64).reshape(P, K, N)
    kk = np.broadcast_to(np.arange(K), (P, K))
    c = D.sum(axis=2)
    cmin = t.cmin[kk, V]
    C = t.wait_ms.shape[2] - 1
    wait = t.wait_ms[kk, V, np.minimum(c, C)]
    trans = (D * t.t_ms).sum(axis=2) / np.maximum(c, 1)
    delay_k = t.inv_mu_ms[kk, V] + trans + t.spawn_ms[kk, V] + wait
    w = t.share
    active = w > 0
    cols = []
    for name in names:
        if name == "delay":
            with np.errstate(invalid="ignore"):
                o = (delay_k[:, active] * w[active]).sum(axis=1)
            cols.append(np.where(np.isfinite(o), o, _BIG))
        else:
            cols.append((t.scores[name][kk, V][:, active] * w[active]).sum(axis=1))
    F = np.column_stack(cols)
    used = np.einsum("pkn,pkr->pnr", D, t.b[kk, V])
    overflow = np.maximum(used - t.cap, 0.0) / np.maximum(t.cap, 1.0)
    beyond = np.maximum(D - t.ub[kk, V], 0)
    G = np.maximum(cmin - c, 0).sum(axis=1) + overflow.sum(axis=(1, 2)) + beyond.sum(axis=(1, 2))
    return F, G


def _decision(t: _Tables, x: np.ndarray) -> dict[str, Any]:
    K, N = t.n_services, t.n_nodes
    d = np.rint(x[K:]).astype(np.int64).reshape(K, N)
    return {
        "model": "mmv",
        "versions": {s: t.labels[k][int(np.rint(x[k]))] for k, s in enumerate(t.services)},
        "replicas": {
            s: {t.nodes[n]: int(d[k, n]) for n in range(N) if d[k, n] > 0}
            for k, s in enumerate(t.services)
        },
    }


# --------------------------------------------------------------------------- pymoo glue


def _pymoo_parts(t: _Tables, names: Sequence[str], sign: np.ndarray) -> dict[str, Any]:
    """The problem and the operators, built on the instance's tables."""
    from pymoo.core.crossover import Crossover
    from pymoo.core.mutation import Mutation
    from pymoo.core.problem import Problem
    from pymoo.core.repair import Repair
    from pymoo.core.sampling import Sampling
    from pymoo.util.nds.non_dominated_sorting import find_non_dominated

    K, N = t.n_services, t.n_nodes
    n_var = K + K * N
    xl = np.zeros(n_var)
    xu = np.concatenate([t.nv - 1, t.ub.max(axis=1).ravel()]).astype(float)

    class MMVProblem(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=n_var, n_obj=len(names), n_ieq_constr=1, xl=xl, xu=xu)
            self.archive_X = np.empty((0, n_var))
            self.archive_F = np.empty((0, len(names)))
            self.evaluations = 0

        def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            F, G = _evaluate(t, X, names)
            self.evaluations += len(X)
            out["F"] = F * sign
            out["G"] = G[:, None]
            ok = G <= 0
            if ok.any():
                AX = np.vstack([self.archive_X, np.rint(X[ok])])
                AF = np.vstack([self.archive_F, F[ok]])
                keep = np.asarray(find_non_dominated(AF * sign), dtype=int)
                # one decision per objective vector, the first found: decisions that differ
                # only where no objective looks would otherwise pile up
                _, first = np.unique(AF[keep], axis=0, return_index=True)
                keep = keep[np.sort(first)]
                self.archive_X, self.archive_F = AX[keep], AF[keep]

    class MMVRepair(Repair):
        def _do(self, problem: Any, X: np.ndarray, **kwargs: Any) -> np.ndarray:
            return np.array([_repair_row(t, x) for x in X], dtype=float).reshape(X.shape)

    class MMVSampling(Sampling):
        # Few replicas, then the repair's first-fit: uniform counts up to the node bounds
        # would start from packed nodes, far from the low-delay decisions.
        def _do(self, problem: Any, n_samples: int, *args: Any, **kwargs: Any) -> np.ndarray:
            rng = kwargs["random_state"]
            X = np.zeros((n_samples, n_var))
            X[:, :K] = np.floor(rng.random((n_samples, K)) * t.nv)
            D = X[:, K:].reshape(n_samples, K, N)
            for k in range(K):
                where = rng.integers(0, N, n_samples)
                D[np.arange(n_samples), k, where] = rng.integers(0, 3, n_samples)
            X[:, K:] = D.reshape(n_samples, K * N)
            return X

    class ServiceCrossover(Crossover):
        # a service's version and replicas stay together: they only make sense jointly
        def __init__(self) -> None:
            super().__init__(n_parents=2, n_offsprings=2, prob=0.9)

        def _do(self, problem: Any, X: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
            rng = kwargs["random_state"]
            _, n_matings, _ = X.shape
            pick = rng.random((n_matings, K)) < 0.5
            mask = np.concatenate([pick, np.repeat(pick, N, axis=1)], axis=1)
            a, b = X[0], X[1]
            return np.stack([np.where(mask, a, b), np.where(mask, b, a)])

    class MoveMutation(Mutation):
        # one to a few moves of a replica or a version: small steps the repair keeps feasible
        def _do(self, problem: Any, X: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
            rng = kwargs["random_state"]
            X = X.copy()
            for row in X:
                for _ in range(int(rng.geometric(0.5))):
                    k = int(rng.integers(K))
                    D = row[K + k * N : K + (k + 1) * N]
                    op = rng.random()
                    if op < 0.25:
                        row[k] = float(rng.integers(t.nv[k]))
                    elif op < 0.5:
                        D[int(rng.integers(N))] += 1
                    else:
                        held = np.flatnonzero(D > 0)
                        if len(held) == 0:
                            continue
                        src = int(held[rng.integers(len(held))])
                        D[src] -= 1
                        if op < 0.75:
                            D[int(rng.integers(N))] += 1
            return X

    return {
        "problem": MMVProblem(),
        "repair": MMVRepair(),
        "sampling": MMVSampling(),
        "crossover": ServiceCrossover(),
        "mutation": MoveMutation(),
    }


def mmv_nsga(
    instance: Instance,
    objectives: Sequence[str] = ("delay", "accuracy"),
    *,
    pop_size: int = 100,
    generations: int = 200,
    seed: int = 0,
    algorithm: Literal["nsga2", "nsga3"] = "nsga2",
    partitions: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ParetoFront:
    """An approximate Pareto front of the static MMV problem by NSGA-II or NSGA-III.

    Parameters
    ----------
    instance : Instance
    objectives : sequence of str
        Two to four of ``delay``, ``accuracy``, ``security``, ``reliability``.
    pop_size : int
        Population size (NSGA-III: at least the number of reference directions).
    generations : int
        Generations after the initial population.
    seed : int
        Seed of pymoo's random draws; the same seed gives the same front.
    algorithm : {"nsga2", "nsga3"}
        NSGA-III uses Das-Dennis reference directions; meant for three or four objectives.
    partitions : int, optional
        Das-Dennis partitions of NSGA-III (default: 12 for two objectives, 6 for three, 4 for
        four).
    progress : callable, optional
        Called as ``progress(done, generations)`` after the initial population (``done`` 0)
        and after each generation.

    Returns
    -------
    ParetoFront
        ``method`` is the algorithm, ``exact`` False; decisions in the evaluator's plain form;
        objectives in their own senses, as the evaluator computes them. ``stats`` has the
        seed, generations, ``generations_done``, ``interrupted``, population size,
        evaluations and seconds. A KeyboardInterrupt (Ctrl-C, or raised by ``progress``)
        ends the run with the front found so far (``interrupted`` True).

    Raises
    ------
    KeyboardInterrupt
        When interrupted before any feasible decision was found.
    InfeasibleError
        If some service has no version that can serve its load in the capacity available.
    EdgeboundError
        On unknown objectives or a front point the evaluator does not confirm.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> front = mmv_nsga(load("gentzen-star4"), pop_size=20, generations=10, seed=1)
    >>> front.method, front.exact, front.names
    ('nsga2', False, ('delay', 'accuracy'))
    >>> bool(np.all(np.diff(front.F[:, 0]) > 0))  # sorted by delay, nondominated
    True
    """
    t0 = time.perf_counter()
    names = list(objectives)
    for name in names:
        if name not in _OBJECTIVES:
            raise EdgeboundError(f"objectives: {name!r} must be one of {', '.join(_OBJECTIVES)}")
    if len(set(names)) != len(names) or not 2 <= len(names) <= 4:
        raise EdgeboundError("objectives: give two to four different MMV objectives")
    if algorithm not in ("nsga2", "nsga3"):
        raise EdgeboundError(f"algorithm: {algorithm!r} must be 'nsga2' or 'nsga3'")
    if pop_size < 2 or generations < 0:
        raise EdgeboundError("pop_size must be >= 2 and generations >= 0")
    senses = tuple(_OBJECTIVES[n][0] for n in names)
    units = tuple(_OBJECTIVES[n][1] for n in names)
    sign = np.array([1.0 if s == "min" else -1.0 for s in senses])

    t = _tables(instance)
    parts = _pymoo_parts(t, names, sign)
    problem = parts.pop("problem")
    algo = _algorithm(algorithm, len(names), pop_size, partitions, parts)
    done, interrupted = _run(problem, algo, generations, seed, progress)

    AX, AF = problem.archive_X, problem.archive_F
    if len(AF) == 0:
        if interrupted:
            raise KeyboardInterrupt
        raise EdgeboundError(
            f"{algorithm}: no feasible decision found in {generations} generations; "
            "try more generations or a larger population"
        )
    keep = nondominated(AF, senses)
    order = keep[np.lexsort(AF[keep].T[::-1])]
    X = [_decision(t, x) for x in AX[order]]
    F = np.empty((len(X), len(names)))
    for i, dec in enumerate(X):
        ev = evaluate_mmv(instance, dec)
        if not ev.feasible:
            raise EdgeboundError(f"{algorithm}: a front point is infeasible: {ev.violations[0]}")
        F[i] = [ev.objectives[n] for n in names]
    mismatch = float(np.max(np.abs(F - AF[order]) / np.maximum(1.0, np.abs(F)), initial=0.0))
    if mismatch > 1e-6:
        raise EdgeboundError(
            f"the evaluator disagrees with {algorithm}'s objectives by {mismatch:.3g} (relative)"
        )
    return ParetoFront(
        X=X,
        F=F,
        names=tuple(names),
        senses=senses,
        units=units,
        method=algorithm,
        exact=False,
        stats={
            "model": "mmv",
            "instance": instance.name,
            "seed": seed,
            "generations": generations,
            "generations_done": done,
            "interrupted": interrupted,
            "pop_size": int(algo.pop_size),
            "evaluations": problem.evaluations,
            "seconds": time.perf_counter() - t0,
        },
    )


def _run(
    problem: Any,
    algo: Any,
    generations: int,
    seed: int,
    progress: Callable[[int, int], None] | None,
    after: Callable[[], None] | None = None,
) -> tuple[int, bool]:
    """Run ``algo`` for the initial population and ``generations`` more, calling ``after``
    then ``progress(done, generations)`` after each; a KeyboardInterrupt (also one raised by
    ``progress``) stops the run. Returns the last generation done (-1: none) and whether
    the run was interrupted."""
    algo.setup(problem, termination=("n_gen", generations + 1), seed=seed, verbose=False)
    done = -1
    try:
        while algo.has_next():
            algo.next()
            if after is not None:
                after()
            done += 1
            if progress is not None:
                progress(done, generations)
    except KeyboardInterrupt:
        return done, True
    return done, False


def _algorithm(
    algorithm: str, n_obj: int, pop_size: int, partitions: int | None, operators: dict[str, Any]
) -> Any:
    """pymoo's NSGA-II, or NSGA-III on Das-Dennis directions (default partitions 12, 6, 4 for
    two, three, four objectives), with the given operators and duplicates eliminated."""
    if algorithm == "nsga2":
        from pymoo.algorithms.moo.nsga2 import NSGA2

        return NSGA2(pop_size=pop_size, eliminate_duplicates=True, **operators)
    from pymoo.algorithms.moo.nsga3 import NSGA3
    from pymoo.util.ref_dirs import get_reference_directions

    n_parts = partitions if partitions is not None else {2: 12, 3: 6, 4: 4}[n_obj]
    ref_dirs = get_reference_directions("das-dennis", n_obj, n_partitions=n_parts)
    return NSGA3(
        ref_dirs=ref_dirs,
        pop_size=max(pop_size, len(ref_dirs)),
        eliminate_duplicates=True,
        **operators,
    )
