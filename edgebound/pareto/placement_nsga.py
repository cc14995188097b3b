"""Approximate Pareto fronts of the continuum placement model by NSGA-II and NSGA-III (pymoo).

**Encoding.** One integer per (service, node): its replicas, between 0 and the most that
fit on the empty node (0 outside the service's allowed regions), so residency always holds.

**Repair.** On every node whose CPU, RAM, disk or GPUs are exceeded, replicas are removed
one at a time from the service with the most replicas there (the lower index on ties),
until the node fits; then, while more replicas are started than ``policy.migration_budget``
allows, one is removed where the most were started. It draws nothing, so it is
deterministic. The initial population is the previous placement with a few replicas added
or removed at random.

**Routing** of each replica vector is a linear program (HiGHS through SciPy), solved the
same way for the same replicas:

* variables: the rate of every route (service, origin, node) and the dropped rate of every
  (service, origin); demand balance holds;
* a queue of ``c`` replicas takes routes only from origins whose SLO rate limit
  ``Lambda_b(c)`` (:func:`~edgebound.models.placement.rate_limits`, with ``b`` the SLO minus
  the network latency) is positive, and its load stays below the smallest limit of those
  origins: a restriction of the exact model's per-origin limits, so every stream meets
  its SLO;
* CPU-side power caps of the nodes that are on;
* objective: drop as little as possible first, then (weight 1e-3 per req/s) least power
  when power or energy is an objective, least network latency plus service time when latency
  is, both scaled to at most 1 per req/s.

**Constraints** are the evaluator's: a decision it finds infeasible (a migration budget, a
GPU power cap) has a positive violation, and so does one that drops requests when latency or
energy per request is an objective (these are exact only when all demand is served, as in
:func:`~edgebound.pareto.placement_front`), so that NSGA's constrained domination ranks it
behind every feasible one.

**Objectives** are :func:`~edgebound.evaluate.placement.evaluate_placement`'s. The front
returned is the nondominated set of every feasible decision evaluated (an external archive).
The same seed gives the same front: pymoo draws from the seed, repair and routing draw
nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy.optimize import linprog

from edgebound.errors import EdgeboundError
from edgebound.evaluate.placement import PLACEMENT_UNITS, _data, evaluate_placement
from edgebound.instances import Instance
from edgebound.models.placement import rate_limits
from edgebound.pareto.front import ParetoFront, nondominated
from edgebound.pareto.placement import PLACEMENT_OBJECTIVES, check_objectives

__all__ = ["placement_nsga"]

_RESOURCES = ("cpu", "ram_gb", "disk_gb", "gpus")
_RATIOS = ("latency", "energy")


class _Router:
    """Per-instance arrays, the routing LP and a cache of evaluated replica vectors."""

    def __init__(self, inst: Instance, names: Sequence[str]) -> None:
        d = _data(inst)
        self.inst, self.d, self.names = inst, d, tuple(names)
        S, N = len(d.services), len(d.nodes)
        self.S, self.N = S, N
        need = np.stack([d.need[r] for r in _RESOURCES], axis=1)  # (S, R)
        cap = np.stack([d.cap[r] for r in _RESOURCES], axis=1)  # (N, R)
        per = np.full((S, N), 10**6, dtype=np.int64)
        for r in range(len(_RESOURCES)):
            for s in range(S):
                if need[s, r] > 0:
                    per[s] = np.minimum(per[s], np.floor(cap[:, r] / need[s, r] + 1e-9))
        self.ub = np.where(d.allowed, per, 0).astype(np.int64)
        self.need, self.cap = need, cap
        self.prev = np.minimum(np.rint(d.x_prev).astype(np.int64), self.ub)
        budget = inst.policy.migration_budget
        self.budget = None if budget is None else int(budget)
        self.serve_all = any(n in _RATIOS for n in names)
        pol = inst.policy
        C = int(self.ub.max(initial=0))
        # limits[s, i, n, c]: largest load of c replicas of s on n for a stream from i
        self.limits = np.zeros((S, len(d.origins), N, C + 1))
        for s in range(S):
            counts = np.arange(1, C + 1)
            for i in range(len(d.origins)):
                if not d.has_demand[s, i]:
                    continue
                for n in range(N):
                    if C == 0 or self.ub[s, n] == 0:
                        continue
                    if math.isnan(d.slo_ms[s]):
                        lim = pol.max_utilization * counts * d.mu[s]
                    else:
                        lim = rate_limits(
                            counts,
                            float(d.mu[s]),
                            float(d.slo_ms[s] - d.net_ms[i, n]),
                            quantile=pol.slo_quantile,
                            max_utilization=pol.max_utilization,
                        )
                    # the model's margin: solver tolerances never break a limit
                    self.limits[s, i, n, 1:] = np.maximum(lim * (1 - 1e-7) - 1e-6, 0.0)
        self.dyn = (
            d.dyn_w[None, :] * d.need["cpu"][:, None] / (d.mu[:, None] * d.cap["cpu"][None, :])
        )
        self.cache: dict[bytes, tuple[np.ndarray, float, dict[str, Any]]] = {}
        self.sign = np.array([1.0 if PLACEMENT_OBJECTIVES[n] == "min" else -1.0 for n in names])

    def repair(self, x: np.ndarray) -> np.ndarray:
        X = np.clip(np.rint(x).reshape(self.S, self.N), 0, self.ub).astype(np.int64)
        for n in range(self.N):
            while np.any(X[:, n] @ self.need > self.cap[n] * (1 + 1e-9)):
                X[int(np.argmax(X[:, n])), n] -= 1
        if self.budget is not None:
            excess = np.maximum(X - self.prev, 0)
            while excess.sum() > self.budget:
                k = int(np.argmax(excess))
                excess.flat[k] -= 1
                X.flat[k] -= 1
        return X.ravel()

    def routing(self, X: np.ndarray) -> dict[str, Any]:
        d, S, N = self.d, self.S, self.N
        origins = range(len(d.origins))
        routes = [
            (s, i, n)
            for s in range(S)
            for i in origins
            for n in range(N)
            if d.has_demand[s, i] and X[s, n] > 0 and self.limits[s, i, n, X[s, n]] > 0
        ]
        pairs = [(s, i) for s in range(S) for i in origins if d.has_demand[s, i]]
        nr = len(routes)
        nv = nr + len(pairs)
        cost = np.zeros(nv)
        cost[nr:] = 1.0
        tie = np.zeros(nr)
        if {"power", "energy"} & set(self.names) and nr:
            dyn = np.array([self.dyn[s, n] for s, _, n in routes])
            tie += dyn / max(float(dyn.max()), 1e-12)
        if "latency" in self.names and nr:
            lat = np.array([d.net_ms[i, n] + 1000.0 / d.mu[s] for s, i, n in routes])
            tie += lat / max(float(lat.max()), 1e-12)
        cost[:nr] = 1e-3 * tie
        a_eq = np.zeros((len(pairs), nv))
        index = {p: k for k, p in enumerate(pairs)}
        for c, (s, i, _) in enumerate(routes):
            a_eq[index[s, i], c] = 1.0
        a_eq[np.arange(len(pairs)), nr + np.arange(len(pairs))] = 1.0
        b_eq = np.array([d.lam[s, i] for s, i in pairs])
        rows: list[np.ndarray] = []
        rhs: list[float] = []
        for s in range(S):
            for n in range(N):
                cols = [c for c, (s2, _, n2) in enumerate(routes) if (s2, n2) == (s, n)]
                if cols:
                    row = np.zeros(nv)
                    row[cols] = 1.0
                    rows.append(row)
                    rhs.append(min(self.limits[s, routes[c][1], n, X[s, n]] for c in cols))
        on = X.sum(axis=0) > 0
        for n in range(N):
            if on[n] and not math.isnan(d.power_cap_w[n]):
                row = np.zeros(nv)
                for c, (s, _, n2) in enumerate(routes):
                    if n2 == n:
                        row[c] = self.dyn[s, n]
                rows.append(row)
                rhs.append(float(d.power_cap_w[n] - d.idle_w[n]) - 1e-6)
        res = linprog(
            cost,
            A_ub=np.array(rows).reshape(-1, nv) if rows else None,
            b_ub=np.array(rhs) if rows else None,
            A_eq=a_eq,
            b_eq=b_eq,
            bounds=(0, None),
            method="highs",
        )
        routing: dict[str, dict[str, dict[str, float]]] = {}
        if res.status == 0:
            for c, (s, i, n) in enumerate(routes):
                if res.x[c] > 1e-9:
                    routing.setdefault(d.services[s], {}).setdefault(d.origins[i], {})[
                        d.nodes[n]
                    ] = float(res.x[c])
        replicas = {
            d.services[s]: {d.nodes[n]: int(X[s, n]) for n in range(N) if X[s, n] > 0}
            for s in range(S)
        }
        return {"model": "placement", "replicas": replicas, "routing": routing}

    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray, float, dict[str, Any]]:
        """Objectives (own senses), violation and decision of one repaired replica vector."""
        X = np.asarray(x, dtype=np.int64)
        key = X.tobytes()
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        dec = self.routing(X.reshape(self.S, self.N))
        ev = evaluate_placement(self.inst, dec)
        g = 0.0 if ev.feasible else float(len(ev.violations))
        if self.serve_all:
            g += float(ev.objectives["dropped"])
        F = np.array([float(ev.objectives[n]) for n in self.names])
        if not np.all(np.isfinite(F)):
            g += 1.0
            F = np.where(np.isfinite(F), F, 1e12 * self.sign)
        out = (F, g, dec)
        self.cache[key] = out
        return out


def _pymoo_parts(r: _Router) -> dict[str, Any]:
    from pymoo.core.crossover import Crossover
    from pymoo.core.mutation import Mutation
    from pymoo.core.problem import Problem
    from pymoo.core.repair import Repair
    from pymoo.core.sampling import Sampling

    n_var = r.S * r.N
    ub = r.ub.ravel().astype(float)

    class PlacementProblem(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=n_var, n_obj=len(r.names), n_ieq_constr=1, xl=0.0, xu=ub)
            self.evaluations = 0

        def _evaluate(self, X: np.ndarray, out: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            rows = [r.evaluate(np.rint(x)) for x in X]
            self.evaluations += len(X)
            out["F"] = np.array([f for f, _, _ in rows]) * r.sign
            out["G"] = np.array([[g] for _, g, _ in rows])

    class PlacementRepair(Repair):
        def _do(self, problem: Any, X: np.ndarray, **kwargs: Any) -> np.ndarray:
            return np.array([r.repair(x) for x in X], dtype=float).reshape(X.shape)

    class PlacementSampling(Sampling):
        # the previous placement give or take a replica or two: within the migration budget
        def _do(self, problem: Any, n_samples: int, *args: Any, **kwargs: Any) -> np.ndarray:
            rng = kwargs["random_state"]
            X = r.prev.ravel() + np.where(
                rng.random((n_samples, n_var)) < 0.3, rng.integers(-1, 3, (n_samples, n_var)), 0
            )
            return np.clip(X, 0, ub).astype(float)

    class UniformCrossover(Crossover):
        def __init__(self) -> None:
            super().__init__(n_parents=2, n_offsprings=2, prob=0.9)

        def _do(self, problem: Any, X: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
            rng = kwargs["random_state"]
            pick = rng.random(X.shape[1:]) < 0.5
            return np.stack([np.where(pick, X[0], X[1]), np.where(pick, X[1], X[0])])

    class StepMutation(Mutation):
        # one to a few replicas added, removed or moved
        def _do(self, problem: Any, X: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
            rng = kwargs["random_state"]
            X = X.copy()
            for row in X:
                for _ in range(int(rng.geometric(0.5))):
                    j = int(rng.integers(n_var))
                    op = rng.random()
                    if op < 0.4:
                        row[j] = min(row[j] + 1, ub[j])
                    elif op < 0.8:
                        row[j] = max(row[j] - 1, 0)
                    elif row[j] > 0:
                        k = int(rng.integers(n_var))
                        row[j] -= 1
                        row[k] = min(row[k] + 1, ub[k])
            return X

    return {
        "problem": PlacementProblem(),
        "repair": PlacementRepair(),
        "sampling": PlacementSampling(),
        "crossover": UniformCrossover(),
        "mutation": StepMutation(),
    }


def placement_nsga(
    instance: Instance,
    objectives: Sequence[str] = ("latency", "energy"),
    *,
    pop_size: int = 40,
    generations: int = 50,
    seed: int = 0,
    algorithm: Literal["nsga2", "nsga3"] = "nsga2",
    partitions: int | None = None,
) -> ParetoFront:
    """An approximate Pareto front of the static placement model by NSGA-II or NSGA-III.

    Parameters
    ----------
    instance : Instance
    objectives : sequence of str
        Two to four of :data:`~edgebound.pareto.placement.PLACEMENT_OBJECTIVES`; latency
        and energy cannot be paired with dropped or throughput (see
        :func:`~edgebound.pareto.placement_front`).
    pop_size : int
        Population size (NSGA-III: at least the number of reference directions).
    generations : int
        Generations after the initial population.
    seed : int
        Seed of pymoo's draws; the same seed gives the same front.
    algorithm : {"nsga2", "nsga3"}
        NSGA-III uses Das-Dennis reference directions; meant for three or four objectives.
    partitions : int, optional
        Das-Dennis partitions of NSGA-III (default 12, 6, 4 for two, three, four objectives).

    Returns
    -------
    ParetoFront
        ``method`` is the algorithm, ``exact`` False; decisions in the evaluator's plain form,
        objective vectors the evaluator's, sorted by the first column. ``stats`` has the
        seed, generations, population size, evaluations, distinct decisions routed and
        seconds.

    Raises
    ------
    EdgeboundError
        On bad objectives or parameters, or when no evaluated decision is feasible.

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> front = placement_nsga(inst, ("cost", "energy"), pop_size=10, generations=3, seed=1)
    >>> front.method, front.exact, front.names
    ('nsga2', False, ('cost', 'energy'))
    """
    t0 = time.perf_counter()
    names = check_objectives(objectives, 4)
    if algorithm not in ("nsga2", "nsga3"):
        raise EdgeboundError(f"algorithm: {algorithm!r} must be 'nsga2' or 'nsga3'")
    if pop_size < 2 or generations < 0:
        raise EdgeboundError(
            f"pop_size: {pop_size!r} must be >= 2 and generations: {generations!r} >= 0"
        )
    from pymoo.optimize import minimize

    router = _Router(instance, names)
    parts = _pymoo_parts(router)
    problem = parts.pop("problem")
    operators: dict[str, Any] = {**parts, "eliminate_duplicates": True}
    algo: Any
    if algorithm == "nsga2":
        from pymoo.algorithms.moo.nsga2 import NSGA2

        algo = NSGA2(pop_size=pop_size, **operators)
    else:
        from pymoo.algorithms.moo.nsga3 import NSGA3
        from pymoo.util.ref_dirs import get_reference_directions

        n_parts = partitions if partitions is not None else {2: 12, 3: 6, 4: 4}[len(names)]
        ref_dirs = get_reference_directions("das-dennis", len(names), n_partitions=n_parts)
        algo = NSGA3(ref_dirs=ref_dirs, pop_size=max(pop_size, len(ref_dirs)), **operators)
    minimize(problem, algo, ("n_gen", generations + 1), seed=seed, verbose=False)

    # the archive: every feasible decision evaluated, in the order first evaluated
    feasible = [(f, dec) for f, g, dec in router.cache.values() if g <= 0]
    if not feasible:
        raise EdgeboundError(
            f"{algorithm}: no feasible decision found in {generations} generations; "
            "try more generations or a larger population"
        )
    senses = tuple(PLACEMENT_OBJECTIVES[n] for n in names)
    AF = np.array([f for f, _ in feasible])
    keep = nondominated(AF, senses)
    keep = keep[np.lexsort((AF[keep] * router.sign).T[::-1])]
    return ParetoFront(
        X=[feasible[i][1] for i in keep],
        F=AF[keep],
        names=names,
        senses=senses,
        units=tuple(PLACEMENT_UNITS[n] for n in names),
        method=algorithm,
        exact=False,
        stats={
            "model": "placement",
            "instance": instance.name,
            "seed": seed,
            "generations": generations,
            "pop_size": int(algo.pop_size),
            "evaluations": problem.evaluations,
            "decisions_routed": len(router.cache),
            "seconds": time.perf_counter() - t0,
        },
    )
