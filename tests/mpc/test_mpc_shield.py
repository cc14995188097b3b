"""The safety shield: whatever the plan, the action keeps caps, migration caps and the SLO guard."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgebound.instances import load
from edgebound.mpc import MPCConfig, MPCError, MPCProblem
from edgebound.mpc.shield import check_action, shield
from edgebound.sim.continuum import PlantAction

_MPC = MPCProblem(load("continuum-3edge-2cloud"), MPCConfig(horizon=1))
S, Io, N = 6, 6, 41
G = len(_MPC.pools.members)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    plan_scale=st.floats(0.0, 300.0),
    demand_scale=st.floats(0.0, 3.0),
    held_max=st.integers(0, 6),
    expected_share=st.floats(0.1, 1.0),
)
def test_shielded_action_never_breaks_caps(
    seed, plan_scale, demand_scale, held_max, expected_share
):
    rng = np.random.default_rng(seed)
    lay = _MPC.layout
    lam = lay.data.lam * demand_scale * rng.uniform(0.5, 2.0, (S, Io))
    X = rng.exponential(plan_scale / 10 + 1e-9, (S, G))
    R = rng.exponential(plan_scale + 1e-9, (S, Io, G)) * (rng.random((S, Io, G)) < 0.5)
    held = rng.integers(0, held_max + 1, (S, N)) * (rng.random((S, N)) < 0.2)
    expected = lam * expected_share
    out = shield(lay, _MPC.pools, X, R, lam, held, expected=expected)
    assert check_action(lay, out.action, held, expected) == []
    x = out.action.replicas
    assert x.dtype.kind == "i" and (x >= 0).all()
    assert (out.action.routing.sum(axis=2) <= 1.0 + 1e-9).all()


def test_power_caps_hold_with_every_replica_busy():
    lay = _MPC.layout
    d = lay.data
    lam = d.lam * 3.0  # far more than the continuum can serve
    X = np.full((S, G), 50.0)
    R = np.repeat(lam[:, :, None] / G, G, axis=2)
    held = _MPC.initial_replicas()
    x = shield(lay, _MPC.pools, X, R, lam, held).action.replicas
    busy_cpu = (x * d.need["cpu"][:, None]).sum(axis=0)  # every replica busy
    busy_gpu = (x * d.need["gpus"][:, None]).sum(axis=0)
    cpu_w = d.idle_w + d.dyn_w * busy_cpu / d.cap["cpu"]
    capped = ~np.isnan(d.power_cap_w) & (x.sum(axis=0) > 0)
    assert (cpu_w[capped] <= d.power_cap_w[capped] + 1e-9).all()
    gpus = d.cap["gpus"] > 0
    gpu_w = d.gpu_idle_w + d.gpu_dyn_w * np.where(
        gpus, busy_gpu / np.where(gpus, d.cap["gpus"], 1), 0
    )
    gcapped = gpus & ~np.isnan(d.gpu_power_cap_w) & (x.sum(axis=0) > 0)
    assert (gpu_w[gcapped] <= d.gpu_power_cap_w[gcapped] + 1e-9).all()


def test_migration_cap_limits_starts():
    lay = _MPC.layout
    held = np.zeros((S, N), dtype=np.int64)
    lam = lay.data.lam
    R = np.repeat(lam[:, :, None] / G, G, axis=2)
    out = shield(lay, _MPC.pools, np.full((S, G), 40.0), R, lam, held)
    starts = out.action.replicas.sum(axis=1)
    assert (starts <= 10).all()
    assert starts.sum() <= 60
    assert out.interventions > 0  # the plan asked for more than the cap allows


def test_feasible_plan_is_kept_whole():
    lay = _MPC.layout
    plan = _MPC.solve(_MPC.mean_demand(), _MPC.initial_replicas())
    lam = _MPC.mean_demand()[:, :, 0]
    out = shield(
        lay,
        _MPC.pools,
        plan.replicas[:, :, 0],
        plan.routing[:, :, :, 0],
        lam,
        _MPC.initial_replicas(),
    )
    assert out.admitted[lam > 0].min() > 0.99


def test_check_action_reports_a_broken_cap():
    held = _MPC.initial_replicas()
    x = held.copy()
    x[0, 0] += 40  # far beyond edge-a-01's CPU within its power cap
    msgs = check_action(_MPC.layout, PlantAction(x, np.zeros((S, Io, N))), held, np.zeros((S, Io)))
    assert any("edge-a-01 cpu" in m for m in msgs)
    assert any("starts 40 replicas > cap 10" in m for m in msgs)


def test_bad_shapes_raise():
    with pytest.raises(MPCError, match="replicas: shape"):
        shield(
            _MPC.layout,
            _MPC.pools,
            np.zeros((1, 1)),
            np.zeros((S, Io, G)),
            np.zeros((S, Io)),
            np.zeros((S, N)),
        )
    with pytest.raises(MPCError, match="held: replica counts must be whole numbers"):
        shield(
            _MPC.layout,
            _MPC.pools,
            np.zeros((S, G)),
            np.zeros((S, Io, G)),
            np.zeros((S, Io)),
            np.full((S, N), 0.5),
        )
