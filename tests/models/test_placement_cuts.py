"""Dantzig-Wolfe over the services of the placement MILP: Lagrangian cuts and
price-and-branch.

Every bound is checked against brute force or the whole model's proven optimum; every cut
against the optima it must not cut off; every decision against the evaluator.
"""

from __future__ import annotations

import math

import pyomo.environ as pyo
import pytest
from test_placement import WEIGHTS, brute_force, tiny

from edgebound.errors import SolverError
from edgebound.instances.generators import generate
from edgebound.models import placement, placement_decompose
from edgebound.models.placement_cuts import service_cuts
from edgebound.solvers import BuiltModel, lp_relaxation, solve


def _tiny_with_start(seed: int) -> tuple[BuiltModel, float] | None:
    """A random tiny instance's model with its greedy start and its brute-force optimum
    (serving all demand); None when the model or the start does not exist."""
    inst = tiny(seed)
    want = brute_force(inst, "weighted", serve_all=True)
    try:
        built = placement.build(inst)
    except SolverError:
        return None
    if math.isinf(want) or built.start is None or built.start() is None:
        return None
    return built, want


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 5, 8])
def test_bound_and_cuts_against_brute_force(seed: int) -> None:
    case = _tiny_with_start(seed)
    if case is None:
        return
    built, want = case
    cuts = service_cuts(built, time_limit=20)
    assert cuts.converged
    assert cuts.bound is not None and cuts.bound <= want + 1e-6 * max(1.0, abs(want))
    assert cuts.add_to(built) == len(cuts.rows)
    # the cuts keep the optimum: the model with them still finds the brute-force optimum
    res = solve(built, mip_gap=1e-9)
    assert res.optimal
    assert res.objective == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_medium_bound_closes_the_lp_gap() -> None:
    # on continuum-random medium the priced services are all of them: the Dantzig-Wolfe
    # bound reaches the optimum (40.6176) from the LP bound 39.06
    inst = generate("continuum-random", "medium", seed=0)
    exact = solve(placement.build(inst, weights=WEIGHTS), mip_gap=1e-7)
    assert exact.optimal
    built = placement.build(inst, weights=WEIGHTS)
    lp = lp_relaxation(built).bound
    cuts = service_cuts(built, time_limit=120, max_columns=1000)
    assert cuts.converged and len(cuts.services) == 8
    assert cuts.bound <= exact.objective + 1e-6
    assert cuts.bound >= exact.objective - 1e-4 * abs(exact.objective)
    assert cuts.bound >= lp + 1.0
    assert cuts.master == pytest.approx(cuts.bound, rel=1e-6)
    # the cuts lift the LP relaxation to the bound (less their tolerance margins), and keep
    # the optimum of the weighted objective and of other objectives over the same decisions
    cuts.add_to(built)
    assert lp_relaxation(built).bound >= cuts.bound - 1e-3
    with_cuts = solve(built, mip_gap=1e-7)
    assert with_cuts.objective == pytest.approx(exact.objective, rel=1e-6)
    for objective in ("cost", "power"):
        plain = solve(placement.build(inst, objective, serve_all=True), mip_gap=1e-7)
        other = placement.build(inst, objective, serve_all=True)
        cuts_other = service_cuts(placement.build(inst, weights=WEIGHTS), time_limit=60)
        # cuts of the weighted model are rows over the same variables: add them by name
        m = other.pyomo
        m.service_cut = pyo.ConstraintList()
        for cols, coef, rhs in cuts_other.rows:
            expr = sum(
                float(a) * m.find_component(cuts_other.columns[j].name)
                for j, a in zip(cols, coef, strict=True)
            )
            m.service_cut.add(expr >= rhs)
        res = solve(other, mip_gap=1e-7)
        assert res.objective == pytest.approx(plain.objective, rel=1e-6, abs=1e-9), objective


def test_same_instance_same_cuts() -> None:
    inst = generate("continuum-random", "small", seed=0)
    a = service_cuts(placement.build(inst, weights=WEIGHTS), time_limit=30)
    b = service_cuts(placement.build(inst, weights=WEIGHTS), time_limit=30)
    assert a.converged and b.converged
    assert a.bound == b.bound and a.iterations == b.iterations
    assert [r[2] for r in a.rows] == [r[2] for r in b.rows]


@pytest.mark.parametrize("parallel", [True, False])
def test_fix_and_optimize_with_service_cuts(parallel: bool) -> None:
    inst = generate("continuum-random", "small", seed=0)
    exact = solve(placement.build(inst, weights=WEIGHTS), mip_gap=1e-7)
    built = placement.build(inst, weights=WEIGHTS)
    res = placement_decompose.solve(
        built, time_limit=20, mip_gap=1e-4, parallel=parallel, service_cuts=True
    )
    assert res.evaluation.feasible
    assert res.bound <= exact.objective + 1e-6
    assert res.objective >= exact.objective - 1e-6
    assert res.optimal
    assert res.stats["service_cuts"] >= 1 and res.stats["service_cuts_converged"]
    assert res.stats["service_bound"] <= exact.objective + 1e-6


def test_bad_parameters_are_refused() -> None:
    inst = generate("continuum-random", "small", seed=0)
    built = placement.build(inst, weights=WEIGHTS)
    for bad in (0, 2.5, True):
        with pytest.raises(SolverError, match=rf"max_columns: {bad!r} must be a whole number"):
            service_cuts(built, max_columns=bad)  # type: ignore[arg-type]
    with pytest.raises(SolverError, match="threads: 0 must be a whole number"):
        service_cuts(built, threads=0)
    with pytest.raises(SolverError, match="time_limit"):
        service_cuts(built, time_limit=-1)
    with pytest.raises(SolverError, match="latency"):
        service_cuts(placement.build(inst, "latency"))
    with pytest.raises(SolverError, match="start"):
        service_cuts(placement.build(inst, weights=WEIGHTS, start=None))


@pytest.mark.parametrize("size", ["small", "medium"])
def test_one_period_bound_with_service_cuts(size: str) -> None:
    from edgebound import bounds

    inst = generate("continuum-random", size, seed=0)
    exact = solve(placement.build(inst, weights=WEIGHTS), mip_gap=1e-7)
    b = bounds.placement(inst, weights=WEIGHTS, time_limit=30, service_cuts=True)
    assert b.value <= exact.objective + 1e-6
    assert b.lp is not None and b.lp <= b.value + 1e-9
    assert b.gap is not None and b.gap <= 1e-3


def test_service_cuts_are_refused_where_they_do_not_apply() -> None:
    from edgebound import bounds

    inst = generate("continuum-random", "small", seed=0)
    with pytest.raises(SolverError, match="service_cuts: only for the one-period bound"):
        bounds.placement(inst, periods=2, service_cuts=True)
    with pytest.raises(SolverError, match="objective 'throughput' is maximized"):
        bounds.placement(inst, objective="throughput", service_cuts=True)
    with pytest.raises(SolverError, match="latency"):
        bounds.placement(inst, objective="latency", service_cuts=True)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 5, 8])
def test_price_and_branch_against_brute_force(seed: int) -> None:
    case = _tiny_with_start(seed)
    if case is None:
        return
    built, want = case
    res = placement_decompose.price_and_branch(built, time_limit=20, mip_gap=1e-6)
    assert res.evaluation.feasible
    assert res.objective == pytest.approx(res.evaluation.objectives["weighted"], rel=1e-9)
    assert res.objective >= want - 1e-6 * max(1.0, abs(want))
    assert res.bound <= want + 1e-6 * max(1.0, abs(want))
    assert res.stats["converged"]


def test_price_and_branch_finds_the_medium_optimum() -> None:
    # measured: 10 iterations, 82 columns, the restricted master's best is the optimum
    inst = generate("continuum-random", "medium", seed=0)
    exact = solve(placement.build(inst, weights=WEIGHTS), mip_gap=1e-7)
    res = placement_decompose.price_and_branch(
        placement.build(inst, weights=WEIGHTS), time_limit=60, mip_gap=1e-4
    )
    assert res.evaluation.feasible and res.optimal
    assert res.bound <= exact.objective + 1e-6
    assert res.objective == pytest.approx(exact.objective, rel=1e-4)
    assert res.stats["method"] == "price-and-branch" and res.stats["columns"] > 8
    again = placement_decompose.price_and_branch(
        placement.build(inst, weights=WEIGHTS), time_limit=60, mip_gap=1e-4
    )
    assert again.objective == res.objective and again.bound == res.bound


def test_price_and_branch_refuses_bad_input() -> None:
    inst = generate("continuum-random", "small", seed=0)
    built = placement.build(inst, weights=WEIGHTS)
    pb = placement_decompose.price_and_branch
    for bad in (0.0, 1.0, -0.5):
        with pytest.raises(SolverError, match=rf"pricing_share: {bad!r} must be in \(0, 1\)"):
            pb(built, pricing_share=bad)
    with pytest.raises(SolverError, match=r"mip_gap: 1\.5"):
        pb(built, mip_gap=1.5)
    with pytest.raises(SolverError, match="threads: 0"):
        pb(built, threads=0)
    with pytest.raises(SolverError, match="price-and-branch: the model has no MIP start"):
        pb(placement.build(inst, weights=WEIGHTS, start=None))
    with pytest.raises(SolverError, match="latency"):
        pb(placement.build(inst, "latency"))
