r"""The static continuum placement MILP: replicas, routing, admission and nodes on/off.

One period of the edge-cloud continuum: choose integer replicas ``x[s,n]`` of every service
on every node, the rates ``r[s,i,n]`` routed from each origin to each node, the dropped rates
``d[s,i]`` and which nodes are on (``u[n]``), so that every limit that
:mod:`edgebound.evaluate.placement` checks holds and an objective is best. The evaluator's
semantics are the model's: on every decision the model returns, its objective equals the
evaluator's objective of the same name, and the evaluator finds no violation.

Notation: ``lam[s,i]`` demand, ``mu[s]`` service rate, ``net[i,n]`` network latency,
``rho = policy.max_utilization``, ``q = policy.slo_quantile``, ``L[s,n] = sum_i r[s,i,n]``.

Constraints
    * demand balance ``sum_n r[s,i,n] + d[s,i] = lam[s,i]``;
    * capacity ``sum_s need_r[s] x[s,n] <= cap_r[n] u[n]`` for cpu, ram, disk and GPUs;
    * residency: no ``x`` on nodes outside a service's allowed regions;
    * power caps, linear in ``u`` and ``L`` because utilization is expected busy replicas
      times their vCPU over the node's vCPU: ``idle u + dyn sum_s cpu[s] L[s,n] /
      (mu[s] cpu[n]) <= cap``, and per GPU ``gpu_idle u + gpu_dyn sum_s gpus[s] L[s,n] /
      (mu[s] gpus[n]) <= gpu_cap``;
    * migrations ``m[s,n] >= x[s,n] - x_prev[s,n]``, ``sum m <= policy.migration_budget``;
    * stability and latency SLO, below.

Stability and SLO as per-count rate limits
    For service s with SLO ``S_s`` and a stream from origin i to node n, the stream meets its
    SLO iff ``net[i,n] + Q_q(c, L) <= S_s``, where ``Q_q(c, L)`` is the q-quantile of the
    M/M/c sojourn with ``c = x[s,n]`` and ``L = L[s,n]``. ``Q_q`` increases with L, so for
    each count c and latency budget ``b = S_s - net[i,n]`` there is a largest admissible load

    .. math::  \Lambda_b(c) = \max\{L \le \rho c \mu_s : P(T_{c,L} > b) \le 1 - q\},

    found by bisection on the exact tail (Erlang C from the Poisson distribution). Without an
    SLO, ``Lambda(c) = rho c mu_s`` (stability alone). A route (s, i, n) exists only when
    ``net[i,n] - ln(1 - q) / mu_s < S_s``: even an idle queue cannot do better than one service
    time. ``Lambda_b`` is not concave in c (pooling makes larger pools relatively better), so
    the count is written in unary: binaries ``delta[s,n,1] >= delta[s,n,2] >= ...``,
    ``x = sum_c delta_c`` and

    .. math::  L_{s,n} \le \sum_c (\Lambda_{b_0}(c) - \Lambda_{b_0}(c-1))\, \delta_{s,n,c}

    with ``b_0`` the budget of the nearest origin: exact at integer points (the incremental
    formulation of a function of one integer). A farther origin i with a smaller limit gets a
    binary ``y[s,i,n]`` with ``r[s,i,n] <= lam[s,i] y[s,i,n]`` and the same row for its budget,
    relaxed by ``(1 - y) max_c (Lambda_{b_0}(c) - Lambda_{b_i}(c))``, which is the least
    relaxation that is always valid. Counts beyond the first c at which every reachable
    origin's limit covers all of the service's reachable demand are never useful (every
    objective offered is nondecreasing in x once load and power are fixed), so the unary
    stops there: the pruning is exact.

Objectives (``OBJECTIVES``) and what is exact
    * ``cost``, ``dropped``, ``migrations``, ``power`` and ``throughput`` are linear in the
      decisions and equal the evaluator's values exactly.
    * ``energy`` (J/req) is power over the served rate, a ratio. The model makes it exact by
      serving all demand (``serve_all``, on by default whenever energy is the objective or
      weighted): then the served rate is the constant ``sum lam`` and ``energy = power /
      sum lam``. The optimum is then the best decision *among those that drop nothing*; a
      decision that drops some requests to save power is not considered. As an
      epsilon-constraint, ``energy <= eps`` is written ``power <= eps * sum r``, which is
      exact with or without dropping.
    * ``latency``, the request-weighted mean of network latency plus M/M/c sojourn time, is
      represented by outer approximation (serving all demand, as energy): the waiting time
      summed over a queue's requests, ``1000 L Wq(c, L)``, is convex in L for each count,
      so tangent cuts (in perspective form over a one-hot of the count) lie below it; the
      model starts with cuts at a few loads of every count and
      :func:`~edgebound.solvers.solve` adds cuts at each solution (``BuiltModel.refine``)
      until the model's objective agrees with the evaluator's. Every round's bound is
      valid; the reported objective is the evaluator's. See the documentation page of the
      model for the details and measurements.
    * ``weighted`` is ``sum_k w_k objective_k`` over latency, energy, cost, dropped and
      migrations (latency and energy as above).
    * ``p95_latency`` (a quantile of a mixture) is **not** represented: asking for it as
      objective, weight or epsilon-constraint raises :class:`~edgebound.errors.SolverError`.
      It enters the model through the per-service SLO, which is exact.

Tolerances
    Rate limits are lowered by ``1e-7`` relative plus ``1e-5`` req/s and power caps by
    ``1e-5 W`` (ten times HiGHS's MIP feasibility tolerance) so that the
    solver's feasibility tolerance never yields a decision the evaluator rejects; the
    optimum is therefore that of limits tighter by this much. The decoded routing drops
    rates below ``1e-9`` req/s and those of far routes whose switch ``y`` is off (the
    solver may leave a trace of flow there, under a relaxed SLO row), and rescales each
    origin's routes so that demand balance holds
    to rounding.

Congestion prices
    :func:`prices` solves the LP relaxation and returns the duals of the capacity and power
    rows per node and resource: the marginal value of one more unit of the resource.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pyomo.environ as pyo

from edgebound.errors import SolverError
from edgebound.evaluate.placement import _data, evaluate_placement, parse_placement_decision
from edgebound.instances import Instance
from edgebound.models._placement_core import (
    _add_latency,
    _add_migrations,
    _add_period,
    _context,
    _decode_period,
    _describe,
    _parts,
    _structure,
    _with_rates,
    rate_limits,
)
from edgebound.models._placement_start import GreedyStart, greedy_start, start_values
from edgebound.solvers.base import BuiltModel, model_size
from edgebound.solvers.highs import lp_relaxation

__all__ = ["OBJECTIVES", "build", "prices", "rate_limits"]

OBJECTIVES: dict[str, Literal["min", "max"]] = {
    "weighted": "min",
    "latency": "min",
    "energy": "min",
    "power": "min",
    "cost": "min",
    "dropped": "min",
    "migrations": "min",
    "throughput": "max",
}
"""Objectives the model represents exactly, with their sense."""

_NOT_EXACT = ("p95_latency",)
_WEIGHTED = ("latency", "energy", "cost", "dropped", "migrations")


def _check_names(
    objective: str, weights: Mapping[str, float], constraints: Mapping[str, float]
) -> None:
    def not_exact(what: str) -> SolverError:
        return SolverError(
            f"{what}: the p95 latency of all requests is a quantile of a mixture of M/M/c "
            "sojourn distributions, which this MILP cannot represent exactly; it is enforced "
            "per service through the SLO instead. Use the mean latency ('latency') or weights "
            "over latency, energy, cost, dropped and migrations (e.g. weights={'latency': 1, "
            "'energy': 20, 'cost': 1, 'dropped': 1000, 'migrations': 0.5})"
        )

    if objective in _NOT_EXACT:
        raise not_exact(f"objective {objective!r}")
    if objective not in OBJECTIVES:
        raise SolverError(f"objective: {objective!r} must be one of {', '.join(OBJECTIVES)}")
    for name, w in weights.items():
        if name in _NOT_EXACT and w > 0:
            raise not_exact(f"weights.{name} = {w:g}")
        if name not in _NOT_EXACT and name not in _WEIGHTED:
            raise SolverError(
                f"weights.{name}: not a placement weight "
                "(latency, energy, cost, dropped, migrations)"
            )
        if not (w >= 0 and math.isfinite(w)):
            raise SolverError(f"weights.{name}: {w!r} must be finite and >= 0")
    for name in constraints:
        if name in _NOT_EXACT:
            raise not_exact(f"constraints.{name}")
        if name not in OBJECTIVES or name == "weighted":
            raise SolverError(
                f"constraints.{name}: not a placement objective "
                "(latency, energy, power, cost, dropped, migrations, throughput)"
            )


def build(
    instance: Instance,
    objective: str = "weighted",
    *,
    weights: Mapping[str, float] | None = None,
    constraints: Mapping[str, float] | None = None,
    rates: Sequence[float] | np.ndarray | None = None,
    serve_all: bool | None = None,
    far_routes: bool = True,
    start: Literal["greedy"] | Mapping[str, Any] | None = "greedy",
) -> BuiltModel:
    """Build the static placement MILP of an instance.

    Parameters
    ----------
    instance : Instance
        Its ``state.placement`` is the previous placement that migrations count against.
    objective : str
        One of :data:`OBJECTIVES`: ``"weighted"`` (the weighted sum over energy, cost,
        dropped and migrations) or one objective alone.
    weights : mapping, optional
        Overrides ``instance.policy.weights``; the returned model's ``instance`` carries
        them, so that the evaluator's ``weighted`` objective is the model's. A p95 latency
        weight must be zero or absent.
    constraints : mapping, optional
        epsilon-constraints: ``{"cost": 25.0}`` means cost <= 25 USD/h, ``{"throughput":
        900.0}`` means at least 900 req/s served, ``{"energy": 2.0}`` at most 2 J/req.
    rates : array_like, optional
        Rate of each demand (in ``workload.demands`` order), replacing the mean rates. The
        returned model's ``instance`` carries these rates, so it evaluates against them.
    serve_all : bool, optional
        Forbid dropping. By default on exactly when energy per request or mean latency is
        the objective or weighted, which makes these ratios linear (see the module
        documentation).
    far_routes : bool
        Allow routes from origins whose SLO leaves a queue less room than its nearest
        origin's does (each needs a binary). ``False`` leaves them out: a restriction, so
        the optimum is then an upper bound (when minimizing) of the exact one, reached
        faster; its decisions are still feasible and exactly evaluated.
    start : {"greedy", None}
        The MIP start that :func:`~edgebound.solvers.solve` hands to HiGHS: ``"greedy"``
        (default) keeps ``state.placement``, routes each demand to the nearest replicas
        with room and adds replicas where they cost least per request (see
        ``edgebound.models._placement_start``); it satisfies every row of the model, or
        is not given. ``None``: no start. A decision in plain form (as
        :func:`edgebound.evaluate.evaluate` takes it, e.g. an earlier result's
        ``decision``): that decision, e.g. to continue from a decision found by another
        method. Without latency only (the latency model's cut variables have no start
        values).

    Returns
    -------
    BuiltModel
        ``objective_name`` is the evaluator objective the model's objective equals.

    Raises
    ------
    SolverError
        For p95 latency objectives, weights or constraints, unknown names, or bad rates.

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> from edgebound.solvers import solve
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> res = solve(build(inst, "cost"))
    >>> res.optimal, res.evaluation.feasible
    (True, True)
    >>> abs(res.objective - res.evaluation.objectives["cost"]) < 1e-6
    True
    """
    t0 = time.perf_counter()
    inst = instance if rates is None else _with_rates(instance, rates)
    w = dict(inst.policy.weights if weights is None else weights)
    if weights is None:
        # MMV weight names in a policy mean nothing here
        w = {k: v for k, v in w.items() if k in _WEIGHTED or k in _NOT_EXACT}
    cons = dict(constraints or {})
    if objective == "weighted":
        _check_names(objective, w, cons)
        if w != dict(inst.policy.weights):
            # the evaluator's weighted objective reads the policy's weights
            inst = inst.model_copy(update={"policy": inst.policy.model_copy(update={"weights": w})})
    else:
        _check_names(objective, {}, cons)
    ratio_latency = objective == "latency" or (objective == "weighted" and w.get("latency", 0) > 0)
    uses_latency = ratio_latency or "latency" in cons
    if serve_all is None:
        serve_all = objective in ("energy", "latency") or (
            objective == "weighted" and (w.get("energy", 0) > 0 or w.get("latency", 0) > 0)
        )
    d = _data(inst)
    total = float(d.lam.sum())
    ratio_energy = objective == "energy" or (objective == "weighted" and w.get("energy", 0) > 0)
    if ratio_energy and not serve_all:
        raise SolverError(
            "energy per request is power over the served rate; it is linear (and exact) only "
            "when all demand is served: leave serve_all on"
        )
    if ratio_latency and not serve_all:
        raise SolverError(
            "mean latency is a mean over the served requests; as an objective it is exact only "
            "when all demand is served: leave serve_all on"
        )
    if ratio_latency and total <= 0:
        raise SolverError("mean latency is undefined: the workload has no demand")
    if ratio_energy and total <= 0:
        raise SolverError("energy per request is undefined: the workload has no demand")
    pol = inst.policy
    st = _structure(inst, d, d.lam, far_routes=far_routes, latency=uses_latency)
    notes = list(st.notes)
    if serve_all:
        notes.append(
            "all demand is served (no dropping): the optimum is over decisions that drop nothing"
        )
    m = pyo.ConcreteModel(name=f"placement[{inst.name}]")
    per = _add_period(m, st, d.lam, serve_all)
    _add_migrations(m, st, d.x_prev, pol.migration_budget, constant_prev=True)
    m.energy = pyo.Expression(expr=m.power / total if total > 0 else 0.0)
    refine: Any = None
    if uses_latency:
        add_cuts = _add_latency(m, st, per)
        m.latency = pyo.Expression(expr=m.latency_sum / total if total > 0 else 0.0)

        def refine(rel: float) -> int:
            # shortfalls (ms req/s) summing to rel of the latency sum: the mean latency, and
            # so the objective, is then within rel (relative) of its true value
            return add_cuts(rel * max(1.0, float(pyo.value(m.latency_sum))))

    exprs = {
        "latency": m.latency if uses_latency else 0.0,
        "energy": m.energy,
        "power": m.power,
        "cost": m.cost,
        "dropped": m.dropped,
        "migrations": m.migrations,
        "throughput": m.throughput,
    }
    if objective == "weighted":
        m.objective = pyo.Objective(
            expr=sum(w.get(k, 0.0) * exprs[k] for k in _WEIGHTED if w.get(k, 0.0) > 0),
            sense=pyo.minimize,
        )
    else:
        sense = pyo.minimize if OBJECTIVES[objective] == "min" else pyo.maximize
        m.objective = pyo.Objective(expr=exprs[objective], sense=sense)

    def epsilon(_m: Any, name: str) -> Any:
        bound = float(cons[name])
        if name == "energy":
            return m.power <= bound * m.throughput
        if name == "latency":
            return m.latency_sum <= bound * m.throughput
        if OBJECTIVES[name] == "min":
            return exprs[name] <= bound
        return exprs[name] >= bound

    m.epsilon = pyo.Constraint(list(cons), rule=epsilon)

    def decode(_m: pyo.ConcreteModel) -> dict[str, Any]:
        return _decode_period(m, st, per)

    def describe(name: str) -> str:
        return _describe(inst, d, name)

    def context(rows: tuple[str, ...]) -> list[str]:
        return _context(inst, d, rows, serve_all)

    def evaluate(decision: dict[str, Any]) -> Any:
        return evaluate_placement(inst, decision)

    start_fn: Any = None
    if start == "greedy" and not uses_latency:
        wts = {k: w.get(k, 0.0) for k in _WEIGHTED} if objective == "weighted" else {objective: 1.0}
        energy_w = wts.get("energy", 0.0) / total if total > 0 else 0.0
        energy_w += wts.get("power", 0.0)

        def start_fn() -> Any:
            g = greedy_start(
                st,
                d.lam,
                serve_all=serve_all,
                budget=pol.migration_budget,
                energy_weight=energy_w,
                cost_weight=wts.get("cost", 0.0),
                migration_weight=wts.get("migrations", 0.0),
            )
            if g is None:
                return None
            values = start_values(m, st, per, g)
            for s_, n_ in m.mig:
                values[m.mig[s_, n_]] = max(0.0, float(g.x[s_, n_] - d.x_prev[s_, n_]))
            return values

    elif isinstance(start, Mapping):
        given = _given_start(inst, st, per, start, uses_latency)

        def start_fn() -> Any:
            values = start_values(m, st, per, given)
            for s_, n_ in m.mig:
                values[m.mig[s_, n_]] = max(0.0, float(given.x[s_, n_] - d.x_prev[s_, n_]))
            return values

    elif start not in ("greedy", None):
        raise SolverError(f"start: {start!r} must be 'greedy', None or a decision")

    stats = {
        **model_size(m),
        "objective": objective,
        "routes": len(per.routes),
        "queues": len(st.sn),
        "far_routes": len(st.far),
        "serve_all": serve_all,
    }
    return BuiltModel(
        name="placement",
        instance=inst,
        pyomo=m,
        decode=decode,
        objective_name=objective,
        build_s=time.perf_counter() - t0,
        describe=describe,
        notes=tuple(notes),
        stats=stats,
        context=context,
        evaluate=evaluate,
        refine=refine,
        start=start_fn,
    )


def _given_start(
    inst: Instance, st: Any, per: Any, decision: Mapping[str, Any], uses_latency: bool
) -> GreedyStart:
    """A decision in plain form as a start of the model: checked by the evaluator's parser,
    then against what the model can represent (counts within each queue's steps, routes
    the model has)."""
    if uses_latency:
        raise SolverError(
            "start: a decision as the start is for models without mean latency (the latency "
            "cuts' variables have no start values)"
        )
    dec = parse_placement_decision(inst, decision)
    d = st.d
    for s, n in zip(*np.nonzero(dec.replicas), strict=True):
        q = st.queues.get((int(s), int(n)))
        cmax = 0 if q is None else q.cmax
        if dec.replicas[s, n] > cmax:
            raise SolverError(
                f"start: replicas.{d.services[s]}.{d.nodes[n]} = {int(dec.replicas[s, n])}, "
                f"but the model counts at most {cmax} there (more serve nothing more, or "
                "none fit or may run there)"
            )
    routes = set(per.routes)
    for s, i, n in zip(*np.nonzero(dec.routing > 0), strict=True):
        if (int(s), int(i), int(n)) not in routes:
            raise SolverError(
                f"start: routing.{d.services[s]}.{d.origins[i]}.{d.nodes[n]} = "
                f"{float(dec.routing[s, i, n]):g} req/s on a route the model does not have "
                "(the SLO, residency, capacity or far_routes=False leave it out)"
            )
    return GreedyStart(
        x=dec.replicas.astype(float), r=np.asarray(dec.routing, dtype=float), on=dec.nodes_on
    )


def prices(built: BuiltModel, *, time_limit: float | None = None) -> dict[tuple[str, str], float]:
    """Congestion prices: LP-relaxation duals of the capacity and power rows.

    The price of (node, resource) is the rate at which the LP relaxation's optimal
    objective would fall per unit more of the resource, in objective units per vCPU, GB,
    GPU or W: ``-dual`` of its row (the rows are ``<=`` in a minimization; for
    ``throughput``, a maximization, the sign is flipped so that a scarce resource has a
    positive price as well). Resources are ``cpu``, ``ram_gb``, ``disk_gb``, ``gpus``,
    ``power`` (CPU-side cap) and ``gpu_power`` (per-GPU cap); rows that cannot bind are
    absent. A capacity row reads ``need x <= cap u``, so its dual prices the capacity ``cap``
    of a node that is on.

    Parameters
    ----------
    built : BuiltModel
        From :func:`build`.
    time_limit : float, optional

    Returns
    -------
    dict
        ``{(node, resource): price}``; empty when the relaxation does not solve.

    Examples
    --------
    >>> from edgebound.instances.generators import generate
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> p = prices(build(inst, "cost"))
    >>> all(v >= -1e-9 for v in p.values())
    True
    """
    lp = lp_relaxation(built, time_limit=time_limit)
    sign = -1.0 if OBJECTIVES.get(built.objective_name, "min") == "min" else 1.0
    out: dict[tuple[str, str], float] = {}
    for row, dual in lp.duals.items():
        head, parts = _parts(row)
        if head == "capacity" and len(parts) == 2:
            out[parts[1], parts[0]] = sign * dual + 0.0
        elif head == "power_cap" and parts:
            out[parts[0], "power"] = sign * dual + 0.0
        elif head == "gpu_power_cap" and parts:
            out[parts[0], "gpu_power"] = sign * dual + 0.0
    return out
