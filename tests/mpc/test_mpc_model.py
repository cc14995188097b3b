"""The MPC's CVXPY problem: DPP, one compilation, solver parity, plan consistency."""

from __future__ import annotations

import numpy as np
import pytest

from edgebound.instances import load
from edgebound.instances.generators import continuum_random
from edgebound.mpc import MPCConfig, MPCError, MPCProblem


@pytest.fixture(scope="module")
def inst():
    return load("continuum-3edge-2cloud")


@pytest.fixture(scope="module")
def mpc(inst):
    # every period its own decision, so that each period's plan serves that period's demand
    return MPCProblem(inst, MPCConfig(horizon=4, blocks=(1, 1, 1, 1)))


def test_problem_is_dpp(mpc):
    assert mpc.problem.is_dcp(dpp=True)
    assert {p.name() for p in mpc.problem.parameters()} == {"demand", "replicas", "prev_routed"}


def test_resolve_reuses_the_compiled_problem(mpc):
    mpc.solve(mpc.mean_demand(), mpc.initial_replicas())
    prog = mpc.problem._cache.param_prog
    assert prog is not None
    plan = mpc.solve(1.1 * mpc.mean_demand(), mpc.initial_replicas())
    assert mpc.problem._cache.param_prog is prog
    assert plan.status == "optimal"


def test_plan_balances_demand_and_respects_migration_caps(mpc):
    lam = mpc.mean_demand() * np.linspace(0.8, 1.3, 4)[None, None, :]
    held = mpc.initial_replicas()
    plan = mpc.solve(lam, held)
    served = plan.routing.sum(axis=2) + plan.dropped
    np.testing.assert_allclose(served, lam, rtol=1e-5, atol=1e-4)
    # replica starts per service and period within the cap (10 per 5 minutes here)
    pools_held = np.zeros(plan.replicas.shape[:2])
    for g, members in enumerate(mpc.pools.members):
        pools_held[:, g] = held[:, members].sum(axis=1)
    prev = pools_held
    for h in range(4):
        starts = np.maximum(plan.replicas[:, :, h] - prev, 0.0).sum(axis=1)
        assert (starts <= 10.0 + 1e-4).all()
        prev = plan.replicas[:, :, h]


def test_more_demand_costs_more(mpc):
    held = mpc.initial_replicas()
    low = mpc.solve(0.8 * mpc.mean_demand(), held).objective
    high = mpc.solve(1.2 * mpc.mean_demand(), held).objective
    assert high > low


@pytest.fixture(scope="module")
def small():
    return continuum_random(2, 4, 3, seed=1)


def test_highs_agrees_with_clarabel(small):
    ref = MPCProblem(small, MPCConfig(horizon=3, solver="CLARABEL"))
    other = MPCProblem(small, MPCConfig(horizon=3, solver="HIGHS"))
    a = ref.solve(ref.mean_demand(), ref.initial_replicas())
    b = other.solve(other.mean_demand(), other.initial_replicas())
    assert b.status == "optimal"
    assert abs(a.objective - b.objective) <= 1e-5 * max(1.0, abs(a.objective))


def test_warm_highs_matches_cold_solves_step_after_step(small):
    every = (1, 1, 1)  # each period its own decision: each serves its own demand
    warm = MPCProblem(small, MPCConfig(horizon=3, solver="HIGHS", blocks=every))
    cold = MPCProblem(small, MPCConfig(horizon=3, solver="CLARABEL", blocks=every))
    assert warm._warm is not None and cold._warm is None
    rng = np.random.default_rng(3)
    held = warm.initial_replicas()
    highs = None
    for _ in range(4):
        lam = warm.mean_demand() * rng.uniform(0.7, 1.3, warm.mean_demand().shape)
        a, b = warm.solve(lam, held), cold.solve(lam, held)
        assert a.status == "optimal"
        assert abs(a.objective - b.objective) <= 1e-5 * max(1.0, abs(a.objective))
        np.testing.assert_allclose(a.routing.sum(axis=2) + a.dropped, lam, rtol=1e-6, atol=1e-6)
        assert highs is None or warm._warm.highs is highs  # one HiGHS model for every step
        highs = warm._warm.highs
        held = held + rng.integers(0, 2, held.shape)  # the state moves too


def test_warm_highs_restarts_from_the_last_basis(small):
    mpc = MPCProblem(small, MPCConfig(horizon=3, solver="HIGHS"))
    lam, held = mpc.mean_demand(), mpc.initial_replicas()
    first = mpc.solve(lam, held)
    assert mpc._warm.highs.getInfo().simplex_iteration_count > 0
    again = mpc.solve(lam, held)  # nothing changed: the last basis is optimal as it stands
    assert mpc._warm.highs.getInfo().simplex_iteration_count == 0
    assert again.objective == pytest.approx(first.objective, rel=1e-9)
    assert mpc._warm.value == pytest.approx(again.objective)
    # the variables hold the plan: the objective evaluated at them is the solver's
    assert mpc.problem.objective.value == pytest.approx(again.objective, rel=1e-9)


def test_cold_highs_is_available(small):
    mpc = MPCProblem(small, MPCConfig(horizon=3, solver="HIGHS", warm_start=False))
    assert mpc._warm is None
    assert mpc.solve(mpc.mean_demand(), mpc.initial_replicas()).status == "optimal"


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
def test_osqp_returns_a_plan_no_better_than_the_optimum(small):
    # OSQP (ADMM) stops at its iteration limit on this LP; its plan is still usable
    ref = MPCProblem(small, MPCConfig(horizon=3, solver="CLARABEL"))
    other = MPCProblem(small, MPCConfig(horizon=3, solver="OSQP"))
    a = ref.solve(ref.mean_demand(), ref.initial_replicas())
    b = other.solve(other.mean_demand(), other.initial_replicas())
    assert b.status in ("optimal", "optimal_inaccurate", "user_limit")
    assert b.objective >= a.objective * (1 - 1e-3)
    assert b.replicas.shape == a.replicas.shape


def test_move_blocking_shares_decisions_within_a_block(inst):
    mpc = MPCProblem(inst, MPCConfig(horizon=12))  # blocks 1+3+8
    assert mpc.problem.is_dcp(dpp=True)
    assert mpc.problem.variables()[0].shape[1] == 3
    lam = mpc.mean_demand() * np.linspace(0.9, 1.2, 12)[None, None, :]
    plan = mpc.solve(lam, mpc.initial_replicas())
    assert np.allclose(plan.replicas[:, :, 1], plan.replicas[:, :, 3])
    assert np.allclose(plan.replicas[:, :, 4], plan.replicas[:, :, 11])
    assert not np.allclose(plan.replicas[:, :, 0], plan.replicas[:, :, 4])
    # each block serves its mean forecast
    served = plan.routing.sum(axis=2) + plan.dropped
    np.testing.assert_allclose(served[:, :, 0], lam[:, :, 0], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(served[:, :, 4], lam[:, :, 4:].mean(axis=2), rtol=1e-5, atol=1e-4)


def test_node_pools_match_the_node_axis(inst):
    mpc = MPCProblem(inst, MPCConfig(horizon=1, pools="node"))
    assert len(mpc.pools.members) == len(mpc.layout.nodes)
    assert mpc.solve(mpc.mean_demand(), mpc.initial_replicas()).status == "optimal"


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("horizon", 0, "horizon: 0"),
        ("solver", "GUROBI", "solver: 'GUROBI'"),
        ("slo_margin", 1.0, "slo_margin: 1.0"),
        ("pools", "rack", "pools: 'rack'"),
        ("warm_start", "yes", "warm_start: 'yes' must be True or False"),
        ("queue_knots", (1.2,), "queue_knots"),
        ("weights", {"speed": 1.0}, "weights: 'speed'"),
        ("clip_factor", 0.5, "clip_factor: 0.5"),
        (
            "blocks",
            (1, 2),
            r"blocks: \(1, 2\) must be whole lengths >= 1 summing to the horizon 12",
        ),
    ],
)
def test_bad_config_names_the_field(field, value, needle):
    with pytest.raises(MPCError, match=needle):
        MPCConfig(**{field: value})


def test_bad_inputs_name_the_argument(mpc):
    with pytest.raises(MPCError, match=r"demand: shape \(6, 6, 1\) must be \(6, 6, 4\)"):
        mpc.solve(np.zeros((6, 6, 1)), mpc.initial_replicas())
    with pytest.raises(MPCError, match="replicas: values must be finite and >= 0"):
        mpc.solve(mpc.mean_demand(), -np.ones((6, 41)))


def test_default_blocks_cover_the_horizon_with_the_first_period_alone():
    from edgebound.mpc.model import default_blocks

    for H in range(1, 49):
        blocks = default_blocks(H)
        assert sum(blocks) == H and blocks[0] == 1 and all(b >= 1 for b in blocks)
        assert len(blocks) <= 3
    with pytest.raises(MPCError, match="horizon"):
        default_blocks(0)
