"""The multi-period placement model and the clairvoyant bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_placement import WEIGHTS, replica_table, tiny

from edgebound import bounds
from edgebound.errors import DecisionError, SolverError
from edgebound.evaluate.placement_schedule import (
    evaluate_placement_schedule,
    period_instance,
    schedule_demand,
)
from edgebound.instances import Instance, load
from edgebound.instances.generators import generate
from edgebound.models import placement, placement_schedule
from edgebound.solvers import Termination, solve


def period_table(inst: Instance) -> dict[tuple[int, ...], float]:
    """Best weighted value of every replica vector of one period, migrations left out."""
    return replica_table(inst, "weighted", serve_all=True, migrations=False)


def brute_schedule(inst: Instance, demand: np.ndarray) -> float:
    """Two-period optimum: every pair of replica vectors, migrations between them counted."""
    t1 = period_table(period_instance(inst, demand[:, 0]))
    t2 = period_table(period_instance(inst, demand[:, 1]))
    shape = (len(inst.services), len(inst.topology.nodes))
    prev = np.zeros(shape)
    for rep in inst.state.placement:
        prev[inst.service_names.index(rep.service), inst.node_names.index(rep.node)] += rep.count
    wm = inst.policy.weights.get("migrations", 0.0)
    budget = inst.policy.migration_budget
    best = math.inf
    for x1, v1 in t1.items():
        a = np.array(x1).reshape(shape)
        m1 = np.maximum(0, a - prev).sum()
        if m1 > budget:
            continue
        for x2, v2 in t2.items():
            m2 = np.maximum(0, np.array(x2).reshape(shape) - a).sum()
            if m2 > budget:
                continue
            best = min(best, (v1 + wm * m1 + v2 + wm * m2) / 2)
    return best


@pytest.mark.parametrize("seed", range(8))
def test_two_periods_match_brute_force(seed: int) -> None:
    inst = tiny(seed)
    base = np.array([d.rate_rps for d in inst.workload.demands])
    demand = np.stack([base, 1.5 * base], axis=1)
    want = brute_schedule(inst, demand)
    try:
        built = placement_schedule.build(inst, demand)
    except SolverError:
        assert math.isinf(want)
        return
    res = solve(built, mip_gap=1e-9)
    if math.isinf(want):
        assert res.termination is Termination.INFEASIBLE
        return
    assert res.optimal
    assert res.evaluation.feasible, res.evaluation.violations
    assert abs(res.evaluation.objectives["weighted"] - res.objective) <= 1e-6 * max(
        1.0, res.objective
    )
    assert res.objective == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_one_period_is_the_static_model() -> None:
    inst = generate("continuum-random", "small", seed=1)
    rates = np.array([d.rate_rps for d in inst.workload.demands])
    static = solve(placement.build(inst, weights=WEIGHTS), mip_gap=1e-9)
    sched = solve(placement_schedule.build(inst, rates[:, None], weights=WEIGHTS), mip_gap=1e-9)
    assert static.optimal and sched.optimal
    assert sched.objective == pytest.approx(static.objective, rel=1e-6)


def test_every_objective_agrees_with_the_evaluator() -> None:
    inst = generate("continuum-random", "small", seed=0)
    for objective in ("cost", "migrations", "throughput", "power"):
        res = solve(placement_schedule.build(inst, periods=3, objective=objective))
        assert res.optimal, objective
        ev = res.evaluation
        assert ev.feasible
        assert ev.objectives[objective] == pytest.approx(res.objective, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize(
    "periods", [2, pytest.param(4, marks=pytest.mark.slow)], ids=["2-periods", "4-periods"]
)
def test_clairvoyant_bound_is_below_every_schedule(periods: int) -> None:
    inst = generate("continuum-random", "small", seed=2)
    demand = schedule_demand(inst, periods=periods)
    b = bounds.placement(inst, demand, time_limit=5, mip_gap=1e-3)  # valid at any limit
    assert b.model == "placement_schedule" and math.isfinite(b.value)
    # schedules from other methods: the exact model (latency weights dropped), each period
    # solved myopically, and the decoupled bound's own incumbent
    others = []
    no_lat = {k: v for k, v in inst.policy.weights.items() if "latency" not in k}
    exact = solve(placement_schedule.build(inst, demand, weights=no_lat), time_limit=5)
    if exact.has_solution:
        others.append(exact.decision)
    decoupled = bounds.placement(inst, demand, method="decoupled", period_time_limit=2)
    if decoupled.decision:
        others.append(decoupled.decision)
    prev = None
    myopic = []
    for t in range(demand.shape[1]):
        view = period_instance(inst, demand[:, t], prev)
        # without energy the model may drop, so every period has a feasible decision
        myopic_w = {k: v for k, v in no_lat.items() if k != "energy"}
        res = solve(placement.build(view, weights=myopic_w), time_limit=5)
        if not res.has_solution:
            break
        myopic.append(res.decision)
        prev = res.evaluation and _replicas(view, res.decision)
    if len(myopic) == demand.shape[1]:
        others.append({"periods": myopic})
    checked = 0
    for dec in others:
        ev = evaluate_placement_schedule(inst, dec, demand)
        if not ev.feasible:  # e.g. the decoupled periods together break a migration budget
            continue
        checked += 1
        assert b.admits(ev.objectives["weighted"]), (b.value, ev.objectives["weighted"])
        assert decoupled.admits(ev.objectives["weighted"])
    assert checked >= 1


def _replicas(inst: Instance, decision: dict) -> np.ndarray:  # type: ignore[type-arg]
    from edgebound.evaluate.placement import parse_placement_decision

    return np.asarray(parse_placement_decision(inst, decision).replicas)


@pytest.mark.slow
def test_bound_with_latency_weights_one_period() -> None:
    inst = load("continuum-3edge-2cloud")
    assert inst.policy.weights.get("latency", 0) > 0
    b = bounds.placement(inst, time_limit=30)
    assert b.model == "placement" and math.isfinite(b.value)
    assert b.incumbent is not None and b.admits(b.incumbent)


def test_bad_demand_is_reported() -> None:
    inst = generate("continuum-random", "small", seed=0)
    with pytest.raises(SolverError, match=r"demand\.shape"):
        placement_schedule.build(inst, np.ones((2, 3)))
    with pytest.raises(DecisionError, match="finite"):
        schedule_demand(inst, -np.ones((len(inst.workload.demands), 2)))
    with pytest.raises(SolverError, match="weighted"):
        bounds.placement(inst, periods=2, objective="cost")
    # a versioning weight, e.g. from a versioning instance's policy: named, with the allowed
    with pytest.raises(SolverError, match=r"weights\.delay: not a placement weight \(latency"):
        placement_schedule.build(inst, periods=2, weights={"delay": 1.0}, exact=False)


def test_evaluator_counts_migrations_between_periods() -> None:
    inst = load("continuum-3edge-2cloud")
    hold: dict[str, dict[str, int]] = {}
    for p in inst.state.placement:
        hold.setdefault(p.service, {})[p.node] = p.count
    more = {k: dict(v) for k, v in hold.items()}
    more["feature-extract"]["cloud-eu"] += 2
    ev = evaluate_placement_schedule(
        inst, [{"replicas": hold}, {"replicas": more}, {"replicas": hold}, {"replicas": more}]
    )
    assert [p["migrations"] for p in ev.details["periods"]] == [0.0, 2.0, 0.0, 2.0]
    assert ev.objectives["migrations"] == 4.0
