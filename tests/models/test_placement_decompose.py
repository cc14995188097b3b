"""The greedy MIP start and fix-and-optimize of the placement MILP.

Every decision is checked by the independent evaluator; every bound against brute force or
the whole model's optimum; every gap against objective and bound.
"""

from __future__ import annotations

import math

import numpy as np
import pyomo.environ as pyo
import pytest
from test_placement import WEIGHTS, brute_force, tiny

from edgebound.errors import DecisionError, SolverError
from edgebound.evaluate.placement import _data, placement_origins
from edgebound.instances.generators import generate
from edgebound.models import placement, placement_decompose
from edgebound.solvers import BuiltModel, solve
from edgebound.solvers.result import relative_gap


def _load_start(built: BuiltModel) -> bool:
    values = built.start() if built.start is not None else None
    if values is None:
        return False
    for var, value in values.items():
        var.set_value(value, skip_validation=True)
    return True


def _rows_hold(m: pyo.ConcreteModel, tol: float = 1e-7) -> None:
    for v in m.component_data_objects(pyo.Var):
        assert v.value is not None, v.name
        if v.lb is not None:
            assert v.value >= v.lb - tol, v.name
        if v.ub is not None:
            assert v.value <= v.ub + tol, v.name
        if v.is_binary():
            assert v.value in (0.0, 1.0), v.name
    for c in m.component_data_objects(pyo.Constraint, active=True):
        body = pyo.value(c.body)
        if c.has_lb():
            assert body >= pyo.value(c.lower) - tol * max(1.0, abs(pyo.value(c.lower))), c.name
        if c.has_ub():
            assert body <= pyo.value(c.upper) + tol * max(1.0, abs(pyo.value(c.upper))), c.name


def _check_start(built: BuiltModel) -> float:
    """The start satisfies every row; the evaluator finds it feasible and agrees."""
    m = built.pyomo
    _rows_hold(m)
    ev = built.evaluate(built.decode(m)) if built.evaluate is not None else None
    assert ev is not None and ev.feasible, ev.violations if ev else None
    model_obj = float(pyo.value(m.objective))
    assert ev.objectives[built.objective_name] == pytest.approx(model_obj, rel=1e-6, abs=1e-6)
    return model_obj


@pytest.mark.parametrize("seed", range(12))
def test_greedy_start_is_feasible_and_not_below_the_optimum(seed: int) -> None:
    inst = tiny(seed)
    want = brute_force(inst, "weighted", serve_all=True)
    try:
        built = placement.build(inst)
    except SolverError:
        return
    if not _load_start(built):
        return  # the heuristic may find nothing; it never returns an infeasible start
    assert math.isfinite(want)
    value = _check_start(built)
    assert value >= want - 1e-6 * max(1.0, abs(want))


@pytest.mark.parametrize("seed", range(6))
def test_greedy_start_without_a_migration_budget(seed: int) -> None:
    base = tiny(seed)
    inst = base.model_copy(
        update={"policy": base.policy.model_copy(update={"migration_budget": None})}
    )
    want = brute_force(inst, "weighted", serve_all=True)
    try:
        built = placement.build(inst)
    except SolverError:
        return
    if _load_start(built):
        value = _check_start(built)
        assert value >= want - 1e-6 * max(1.0, abs(want))
    res = solve(built)
    if math.isfinite(want):
        assert res.objective == pytest.approx(want, rel=1e-6, abs=1e-6)
    else:
        assert res.objective is None


@pytest.mark.parametrize("size", ["small", "medium"])
def test_greedy_start_on_generated_instances(size: str) -> None:
    inst = generate("continuum-random", size, seed=0)
    built = placement.build(inst, weights=WEIGHTS)
    assert _load_start(built)
    _check_start(built)


def test_start_option() -> None:
    inst = generate("continuum-random", "small", seed=1)
    assert placement.build(inst, weights=WEIGHTS, start=None).start is None
    with pytest.raises(SolverError, match="start"):
        placement.build(inst, weights=WEIGHTS, start="lp")  # type: ignore[arg-type]
    built = placement.build(inst, weights=WEIGHTS)
    res = solve(built, mip_gap=1e-6)
    assert res.stats.get("mip_start") is True
    plain = solve(placement.build(inst, weights=WEIGHTS, start=None), mip_gap=1e-6)
    assert "mip_start" not in plain.stats
    assert res.optimal and plain.optimal
    assert res.objective == pytest.approx(plain.objective, rel=1e-5)


def test_a_decision_as_the_start() -> None:
    inst = generate("continuum-random", "small", seed=1)
    first = placement_decompose.solve(
        placement.build(inst, weights=WEIGHTS), time_limit=5, parallel=False
    )
    built = placement.build(inst, weights=WEIGHTS, start=first.decision)
    assert _load_start(built)
    assert _check_start(built) == pytest.approx(first.objective, rel=1e-6)
    res = solve(built, mip_gap=1e-6)
    assert res.stats.get("mip_start") is True and res.optimal
    assert res.objective <= first.objective + 1e-6
    again = placement_decompose.solve(
        placement.build(inst, weights=WEIGHTS, start=first.decision), time_limit=5
    )
    assert again.stats["start_objective"] == pytest.approx(first.objective, rel=1e-6)
    assert again.objective <= first.objective + 1e-6
    svc = inst.service_names[0]
    node = inst.node_names[0]
    over = {**first.decision, "replicas": {**first.decision["replicas"], svc: {node: 99}}}
    with pytest.raises(SolverError, match=rf"start: replicas\.{svc}\.{node} = 99, but"):
        placement.build(inst, weights=WEIGHTS, start=over)
    names = (inst.service_names, placement_origins(inst), inst.node_names)
    lam = _data(inst).lam
    have = set(built.pyomo.r)
    s, i, n = next(
        (s, i, n)
        for s in range(len(names[0]))
        for i in range(len(names[1]))
        for n in range(len(names[2]))
        if lam[s, i] > 0 and (s, i, n) not in have
    )
    rate = float(lam[s, i]) / 2
    off = {**first.decision, "routing": {names[0][s]: {names[1][i]: {names[2][n]: rate}}}}
    with pytest.raises(SolverError, match="a route the model does not have"):
        placement.build(inst, weights=WEIGHTS, start=off)
    with pytest.raises(DecisionError, match="no-such-node"):
        placement.build(inst, weights=WEIGHTS, start={"replicas": {svc: {"no-such-node": 1}}})
    with pytest.raises(SolverError, match="mean latency"):
        placement.build(inst, "latency", start=first.decision)


def test_node_groups_cover_every_node() -> None:
    inst = generate("continuum-random", "medium", seed=0)
    built = placement.build(inst, weights=WEIGHTS, start=None)
    groups = placement_decompose.node_groups(built)
    cloud = [k for k, n in enumerate(inst.topology.nodes) if n.tier == "cloud"]
    assert len(groups) == 3
    covered = set().union(*map(set, groups))
    assert covered == set(range(len(inst.topology.nodes)))
    assert all(set(cloud) <= set(g) for g in groups)


def _certified(res: object, bound_at_most: float) -> None:
    assert res.has_solution  # type: ignore[attr-defined]
    ev = res.evaluation  # type: ignore[attr-defined]
    assert ev.feasible, ev.violations
    obj, bound, gap = res.objective, res.bound, res.gap  # type: ignore[attr-defined]
    assert obj == pytest.approx(ev.objectives["weighted"], rel=1e-6, abs=1e-6)
    assert not any("differs" in n for n in res.notes)  # type: ignore[attr-defined]
    assert bound is not None and bound <= bound_at_most + 1e-6 * max(1.0, abs(bound_at_most))
    assert bound <= obj + 1e-6 * max(1.0, abs(obj))
    assert gap >= (obj - bound) / max(abs(obj), 1e-10) - 1e-12


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 5, 8])
def test_fix_and_optimize_against_brute_force(seed: int) -> None:
    inst = tiny(seed)
    want = brute_force(inst, "weighted", serve_all=True)
    try:
        built = placement.build(inst)
    except SolverError:
        return
    if built.start is None or built.start() is None:
        with pytest.raises(SolverError):
            placement_decompose.solve(built, time_limit=5)
        return
    res = placement_decompose.solve(built, time_limit=10, mip_gap=1e-9)
    _certified(res, want)
    assert res.objective >= want - 1e-6 * max(1.0, abs(want))
    if res.optimal:
        assert res.objective == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_fix_and_optimize_on_small_matches_the_whole_model() -> None:
    inst = generate("continuum-random", "small", seed=0)
    built = placement.build(inst, weights=WEIGHTS)
    exact = solve(placement.build(inst, weights=WEIGHTS, start=None), mip_gap=1e-6)
    assert exact.optimal
    res = placement_decompose.solve(built, time_limit=20, mip_gap=1e-3, threads=1)
    _certified(res, exact.objective)
    assert res.objective >= exact.objective - 1e-6
    assert res.stats["method"] == "fix-and-optimize"
    assert res.stats["polished_objective"] <= res.stats["start_objective"] + 1e-9
    assert res.optimal and res.gap <= 1e-3


def test_fix_and_optimize_refuses_latency_and_bad_limits() -> None:
    inst = generate("continuum-random", "small", seed=0)
    with pytest.raises(SolverError, match="latency"):
        placement_decompose.solve(placement.build(inst, "latency"), time_limit=5)
    with pytest.raises(SolverError, match="time_limit"):
        placement_decompose.solve(placement.build(inst, weights=WEIGHTS), time_limit=-1)
    with pytest.raises(SolverError, match=r"polish_share: 1\.5 must be in \(0, 1\)"):
        placement_decompose.solve(placement.build(inst, weights=WEIGHTS), polish_share=1.5)
    with pytest.raises(SolverError, match="start"):
        placement_decompose.solve(placement.build(inst, weights=WEIGHTS, start=None))


def test_lp_bound_is_used_when_better() -> None:
    inst = generate("continuum-random", "small", seed=0)
    built = placement.build(inst, weights=WEIGHTS)
    res = placement_decompose.solve(built, time_limit=10, lp_bound=-1e9)
    assert res.bound is not None and res.bound > -1e9
    assert np.isfinite(res.gap)


@pytest.mark.parametrize("size", ["small", "medium"])
def test_far_route_relaxation_bounds_the_whole_model(size: str) -> None:
    # without its far-route rows (and with every indicator at 0) the model is a relaxation:
    # its optimum is at most the whole model's, and fix-and-optimize's bound from it is
    # certified against the whole model's optimum
    from edgebound.models.placement_decompose import _read

    inst = generate("continuum-random", size, seed=0)
    exact = solve(placement.build(inst, weights=WEIGHTS, start=None), mip_gap=1e-7)
    assert exact.optimal and exact.objective is not None
    built = placement.build(inst, weights=WEIGHTS)
    assert built.stats["far_routes"] > 0
    side = placement_decompose.relaxation_run(built, 60.0, 1e-9, threads=1)
    assert side is not None
    bound, sol, obj = side.result()
    assert sol is not None and bound is not None
    assert bound <= obj + 1e-6 and obj <= exact.objective + 1e-6
    # restored, the far-route rows make it the whole model again
    far = side.far
    h = far.h
    h.changeRowsBounds(len(far.rows), far.rows, far.lo, far.hi)  # type: ignore[attr-defined]
    h.changeColsBounds(
        len(far.y_cols), far.y_cols, np.zeros(len(far.y_cols)), np.ones(len(far.y_cols))
    )
    h.setOptionValue("time_limit", 60.0)
    h.run()
    whole, value = _read(h)
    assert whole is not None and value == pytest.approx(exact.objective, rel=1e-6)

    # the relaxation in a second thread (the default), and after the sub-problems
    for parallel in (True, False):
        res = placement_decompose.solve(
            built, time_limit=20, mip_gap=1e-4, threads=1, parallel=parallel
        )
        _certified(res, exact.objective)
        assert "relaxation" in res.notes[-1] and "GPU services" in res.notes[-1]
        assert ("second thread" in res.notes[-1]) == parallel
    plain = placement_decompose.solve(built, time_limit=20, mip_gap=1e-4, relaxed_bound=False)
    _certified(plain, exact.objective)
    assert "the whole model for its bound" in plain.notes[-1]


def test_one_period_bound_takes_the_relaxation_alongside(monkeypatch) -> None:
    from edgebound import bounds

    # valid: the relaxation run on its own is at most the whole model's optimum
    inst = generate("continuum-random", "medium", seed=0)
    exact = solve(placement.build(inst, weights=WEIGHTS, start=None), mip_gap=1e-7)
    side = placement_decompose.relaxation_run(placement.build(inst, weights=WEIGHTS), 30, 1e-7)
    assert side is not None
    relaxed = side.result()[0]
    assert relaxed is not None and relaxed <= exact.objective + 1e-6
    assert placement_decompose.relaxation_run(placement.build(tiny(0)), 5, 1e-4) is None
    b = bounds.placement(inst, weights=WEIGHTS, time_limit=30)
    assert b.value <= exact.objective + 1e-6 and b.admits(exact.objective)

    # and the better of the two bounds is the one returned
    class Side:
        def result(self) -> tuple[float, None, float]:
            return b.value + 1e-3, None, math.nan

    monkeypatch.setattr(placement_decompose, "relaxation_run", lambda *a, **k: Side())
    better = bounds.placement(inst, weights=WEIGHTS, time_limit=30)
    assert better.value == pytest.approx(b.value + 1e-3, abs=1e-9)
    assert better.gap == pytest.approx(relative_gap(better.incumbent, better.value))


def test_relaxation_run_bad_time_limit_and_a_failing_bound_stops_it(monkeypatch) -> None:
    from edgebound import bounds
    from edgebound.solvers import lp_relaxation

    inst = generate("continuum-random", "medium", seed=0)
    built = placement.build(inst, weights=WEIGHTS)
    for bad in (-1.0, 0.0, math.inf):
        with pytest.raises(SolverError, match=r"time_limit: .* must be a positive number"):
            placement_decompose.relaxation_run(built, bad, 1e-4)
        with pytest.raises(SolverError, match=r"time_limit: .* must be a positive number"):
            lp_relaxation(built, time_limit=bad)
    with pytest.raises(SolverError, match="time_limit"):
        bounds.placement(inst, weights=WEIGHTS, time_limit=-1)
    # when the whole model's solve fails, the relaxation's thread is stopped, not left going
    started = []
    real = placement_decompose.relaxation_run

    def spy(*args, **kwargs):
        side = real(*args, **kwargs)
        started.append(side)
        return side

    def fail(*args, **kwargs):
        raise RuntimeError("solver failed")

    monkeypatch.setattr(placement_decompose, "relaxation_run", spy)
    monkeypatch.setattr(bounds, "_bound", fail)
    with pytest.raises(RuntimeError, match="solver failed"):
        bounds.placement(inst, weights=WEIGHTS, time_limit=60)
    assert started and started[0].thread is not None and not started[0].thread.is_alive()
