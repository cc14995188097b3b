"""The continuum plant: interface, determinism, agreement with the evaluator, semantics."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

import edgebound
from edgebound.errors import DecisionError
from edgebound.evaluate.placement import (
    PlacementDecision,
    _mixture_quantile,
    evaluate_placement,
)
from edgebound.instances import Instance, load
from edgebound.sim.autoscaler import HeuristicAutoscaler, StaticController
from edgebound.sim.continuum import (
    ContinuumPlant,
    Controller,
    PlantAction,
    PlantObservation,
    demand_matrix,
    migration_caps,
    run,
)
from edgebound.sim.continuum._latency import Records, quantiles
from edgebound.sim.mmv import SimulationError


@pytest.fixture(scope="module")
def bundled() -> Instance:
    return load("continuum-3edge-2cloud")


def tiny(**policy: Any) -> Instance:
    """One service, one site, a near node n1 and a far node n2; 60 s periods."""
    return edgebound.load(
        {
            "name": "tiny",
            "topology": {
                "nodes": [
                    {
                        "name": "n1",
                        "cpu": 4,
                        "ram_gb": 8,
                        "idle_power_w": 50,
                        "dynamic_power_w": 100,
                        "power_cap_w": policy.pop("cap", None),
                    },
                    {
                        "name": "n2",
                        "cpu": 4,
                        "ram_gb": 8,
                        "region": "far",
                        "idle_power_w": 40,
                        "dynamic_power_w": 80,
                    },
                ],
                "sites": [{"name": "s1"}],
                "links": [
                    {"source": "s1", "target": "n1", "latency_ms": 2},
                    {"source": "s1", "target": "n2", "latency_ms": 10},
                ],
            },
            "services": [
                {
                    "name": "web",
                    "spawn_time_ms": 20000,
                    "latency_slo_ms": 500,
                    "versions": [{"major": 1, "cpu": 1, "ram_gb": 1, "service_rate_rps": 10}],
                }
            ],
            "workload": {
                "demands": [{"service": "web", "site": "s1", "rate_rps": 6}],
                "step_s": 60,
                "horizon_steps": 4,
            },
            "policy": {"max_utilization": 0.9, "migration_budget": 2, **policy},
            "state": {"placement": [{"service": "web", "node": "n1", "count": 1}]},
        }
    )


def act(x: list[list[int]], r: list[list[list[float]]]) -> PlantAction:
    return PlantAction(np.array(x), np.array(r, dtype=float))


class Fixed:
    """A controller that plays a given list of actions."""

    name = "fixed"

    def __init__(self, actions: list[PlantAction]) -> None:
        self.actions = actions

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        self.t = 0

    def act(self, obs: PlantObservation) -> PlantAction:
        a = self.actions[min(self.t, len(self.actions) - 1)]
        self.t += 1
        return a


# --------------------------------------------------------------------------- interface


def test_observation_shapes_and_protocol(bundled: Instance) -> None:
    plant = ContinuumPlant(bundled, seed=0)
    obs = plant.reset()
    assert obs.replicas.shape == obs.pending.shape == obs.utilization.shape == (6, 41)
    assert obs.demand_history.shape == (6, 6, 0)
    assert obs.power_w.shape == (41,) and obs.p95_ms.shape == (6,) and np.isnan(obs.p95_ms).all()
    ctrl = StaticController()
    assert isinstance(ctrl, Controller)
    ctrl.reset(bundled, plant.controller_rng)
    obs, info = plant.step(ctrl.act(obs))
    assert obs.period == 1 and obs.time_s == 300.0 and obs.demand_history.shape == (6, 6, 1)
    assert obs.prev_action is not None
    # the observed rates are sampled: close to, not equal to, the true rates
    true = plant.demand[:, :, 0]
    seen = obs.demand_history[:, :, 0]
    assert not np.array_equal(seen, true)
    big = true > 10
    assert np.allclose(seen[big], true[big], rtol=0.05)
    assert info.arrivals.sum() == pytest.approx(info.served.sum() + info.dropped.sum())


def test_demand_matrix_and_caps(bundled: Instance) -> None:
    series = np.arange(18 * 2, dtype=float).reshape(18, 2)
    m = demand_matrix(bundled, series)
    assert m.shape == (6, 6, 2) and m.sum() == series.sum()
    with pytest.raises(DecisionError, match="one row per demand"):
        demand_matrix(bundled, series[:3])
    assert migration_caps(bundled, 1.0).tolist() == [5.0] * 6
    assert migration_caps(tiny(migration_budget=None)).tolist() == [math.inf]


def test_from_decision_turns_rates_into_shares() -> None:
    inst = tiny()
    dec = PlacementDecision.from_arrays(inst, [[1, 1]], [[[3.0, 1.5]]])
    a = PlantAction.from_decision(inst, dec, interventions=2)
    assert a.routing.tolist() == [[[0.5, 0.25]]]  # of 6 req/s, 1.5 dropped
    assert a.replicas.tolist() == [[1, 1]] and a.interventions == 2
    assert a.nodes_on is not None and a.nodes_on.tolist() == [True, True]
    with pytest.raises(ValueError):
        a.replicas[0, 0] = 3  # read-only


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_run_and_common_random_numbers(bundled: Instance) -> None:
    a = run(bundled, HeuristicAutoscaler(), seed=3, periods=4)
    b = run(bundled, HeuristicAutoscaler(), seed=3, periods=4)
    c = run(bundled, HeuristicAutoscaler(), seed=4, periods=4)
    assert a.summary == b.summary
    for k in a.series:
        np.testing.assert_array_equal(a.series[k], b.series[k])
    assert a.summary != c.summary
    # another controller under the same seed sees the same arrivals
    s = run(bundled, StaticController(), seed=3, periods=4)
    np.testing.assert_array_equal(s.series["demand_rps"], a.series["demand_rps"])


def test_merged_latency_records_are_exact(bundled: Instance) -> None:
    # without jitter, records merged over 60 s blocks describe the same requests as per-slot
    # records (jitter_s = slot_s merges nothing)
    a = run(bundled, HeuristicAutoscaler(), seed=2, periods=6, jitter=0.0, jitter_s=5.0)
    b = run(bundled, HeuristicAutoscaler(), seed=2, periods=6, jitter=0.0, jitter_s=60.0)
    for k, v in a.summary.items():
        assert b.summary[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k


# --------------------------------------------------------------------------- the referee


def test_plant_equals_evaluator_at_steady_state(bundled: Instance) -> None:
    const = np.array([[d.rate_rps] * 2 for d in bundled.workload.demands])
    res = run(bundled, StaticController(), demand=const, arrivals="fluid", jitter=0.0)
    ev = evaluate_placement(bundled, res.decisions()[0])
    for t in range(2):
        assert res.series["mean_latency_ms"][t] == pytest.approx(ev.objectives["latency"], 1e-9)
        assert res.series["power_w"][t] == pytest.approx(ev.objectives["power"], 1e-9)
        assert res.series["p95_ms"][t] == pytest.approx(ev.objectives["p95_latency"], 1e-9)
    assert res.summary["throughput_rps"] == pytest.approx(ev.objectives["throughput"], 1e-9)
    assert res.summary["energy_j_per_req"] == pytest.approx(ev.objectives["energy"], 1e-9)
    assert res.summary["p95_latency_ms"] == pytest.approx(ev.objectives["p95_latency"], 1e-9)


def test_poisson_arrivals_agree_with_evaluator_within_sampling_error(bundled: Instance) -> None:
    const = np.array([[d.rate_rps] * 3 for d in bundled.workload.demands])
    res = run(bundled, StaticController(), demand=const, jitter=0.0, seed=5)
    ev = evaluate_placement(bundled, res.decisions()[0])
    # about 700 000 requests per period: relative errors of a few in a thousand
    assert res.series["served_rps"] == pytest.approx(ev.objectives["throughput"], rel=0.005)
    assert res.series["mean_latency_ms"] == pytest.approx(ev.objectives["latency"], rel=0.01)
    assert res.series["power_w"] == pytest.approx(ev.objectives["power"], rel=1e-9)


# --------------------------------------------------------------------------- semantics


def test_spawn_delay_serves_only_when_ready_and_decreases_are_immediate() -> None:
    inst = tiny()  # spawn 20 s, slots of 5 s
    move = act([[0, 1]], [[[0.0, 1.0]]])  # from n1 to n2
    plant = ContinuumPlant(inst, arrivals="fluid", jitter=0.0)
    plant.reset()
    obs, info = plant.step(move)
    # n1's replica went at once; n2's served after 20 s: 20 s x 6 req/s dropped
    assert info.dropped.sum() == pytest.approx(20 * 6.0)
    assert info.served.sum() == pytest.approx(40 * 6.0)
    assert info.migrations.tolist() == [1]
    assert obs.replicas.tolist() == [[0, 1]] and obs.pending.tolist() == [[0, 0]]
    _, info = plant.step(move)
    assert info.dropped.sum() == 0.0 and info.migrations.tolist() == [0]


def test_not_ready_share_goes_to_ready_targets() -> None:
    inst = tiny()
    both = act([[1, 1]], [[[0.5, 0.5]]])
    plant = ContinuumPlant(inst, arrivals="fluid", jitter=0.0)
    plant.reset()
    _, info = plant.step(both)
    assert info.dropped.sum() == 0.0
    # n1 took everything for the 20 s that n2 was spawning, then half
    assert info.utilization[0, 0] == pytest.approx((4 * 0.6 + 8 * 0.3) / 12)
    assert info.utilization[0, 1] == pytest.approx(0.3)


def test_backlog_carries_over_and_times_out() -> None:
    inst = tiny()
    over = edgebound.instances.traces.demand_series(inst) * 2.5  # 15 req/s on 10 req/s
    plant = ContinuumPlant(inst, demand=over, arrivals="fluid", jitter=0.0)
    plant.reset()
    keep = act([[1, 0]], [[[1.0, 0.0]]])
    _, info = plant.step(keep)
    # backlog grows by 5 req/s up to 10 x SLO = 5 s of work (50 requests); the rest times out
    assert info.backlog == pytest.approx(50.0)
    assert info.dropped.sum() == pytest.approx(60 * 5.0 - 50.0)
    assert info.p95_ms[0] > 4000.0
    plant2 = ContinuumPlant(inst, arrivals="fluid", jitter=0.0)  # nominal 6 req/s
    plant2.reset()
    plant2.backlog[0, 0] = 40.0
    _, info2 = plant2.step(keep)
    assert info2.backlog == 0.0 and info2.dropped.sum() == 0.0  # drained at 4 req/s in 10 s
    assert info2.latency_sum_ms[0] / info2.served.sum() > 110.0


def test_power_cap_violations_are_recorded_not_enforced() -> None:
    inst = tiny(cap=60.0)  # n1: 50 W idle + 100 W x 0.6 vCPU / 4 vCPU = 65 W
    plant = ContinuumPlant(inst, arrivals="fluid", jitter=0.0)
    plant.reset()
    _, info = plant.step(act([[1, 0]], [[[1.0, 0.0]]]))
    assert info.power_cap_violations == plant.slots
    assert info.power_w[0] == pytest.approx(65.0)
    assert info.served.sum() == pytest.approx(360.0)


def test_migration_cap_is_per_service_per_period() -> None:
    inst = tiny(migration_budget=1)  # 1 start per period
    res = run(inst, Fixed([act([[3, 0]], [[[1.0, 0.0]]])]), periods=2, jitter=0.0)
    assert res.summary["migrations"] == 2.0
    assert res.summary["migration_cap_violations"] == 1.0
    res = run(inst, Fixed([act([[2, 0]], [[[1.0, 0.0]]])]), periods=2, jitter=0.0)
    assert res.summary["migration_cap_violations"] == 0.0


def test_dropped_requests_count_as_slo_violations() -> None:
    inst = tiny()
    res = run(inst, Fixed([act([[1, 0]], [[[0.5, 0.0]]])]), arrivals="fluid", jitter=0.0)
    assert res.summary["dropped_pct"] == pytest.approx(50.0)
    served_late = res.summary["slo_violation_served_pct"]
    assert res.summary["slo_violation_pct"] == pytest.approx(50.0 + served_late / 2)


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (act([[5, 0]], [[[1.0, 0.0]]]), "node n1 CPU: 5 vCPU used > capacity 4"),
        (act([[1, 0]], [[[0.6, 0.6]]]), "hosts no replica of web"),
        (act([[1, 1]], [[[0.7, 0.7]]]), "sum to at most 1"),
        (act([[-1, 0]], [[[0.0, 0.0]]]), "whole number >= 0"),
        (act([[1]], [[[1.0]]]), "must be"),
    ],
)
def test_bad_actions_raise_clear_errors(action: PlantAction, match: str) -> None:
    plant = ContinuumPlant(tiny())
    with pytest.raises(DecisionError, match=match):
        plant.step(action)


def test_residency_and_nodes_off_are_checked() -> None:
    inst = tiny()
    data = inst.model_dump()
    data["services"][0]["allowed_regions"] = ["near"]
    data["topology"]["nodes"][0]["region"] = "near"
    plant = ContinuumPlant(Instance.model_validate(data))
    with pytest.raises(DecisionError, match="may run only in near"):
        plant.step(act([[0, 1]], [[[0.0, 1.0]]]))
    a = PlantAction(np.array([[1, 0]]), np.array([[[1.0, 0.0]]]), np.array([False, False]))
    with pytest.raises(DecisionError, match="switches off node n1"):
        ContinuumPlant(inst).step(a)


def test_bad_options_and_running_past_the_end() -> None:
    with pytest.raises(SimulationError, match="slot_s"):
        ContinuumPlant(tiny(), slot_s=7.0)
    with pytest.raises(SimulationError, match="periods"):
        run(tiny(), StaticController(), periods=9)
    plant = ContinuumPlant(tiny())
    plant.reset()
    for _ in range(4):
        plant.step(act([[1, 0]], [[[1.0, 0.0]]]))
    with pytest.raises(SimulationError, match="reset"):
        plant.step(act([[1, 0]], [[[1.0, 0.0]]]))


def test_interpolation_moves_rates_within_a_period() -> None:
    inst = tiny()
    series = np.array([[2.0, 10.0, 10.0, 10.0]])
    flat = run(inst, Fixed([act([[1, 0]], [[[1.0, 0.0]]])]), demand=series, arrivals="fluid")
    ramp = run(
        inst,
        Fixed([act([[1, 0]], [[[1.0, 0.0]]])]),
        demand=series,
        arrivals="fluid",
        interpolate=True,
    )
    assert flat.series["demand_rps"][0] == pytest.approx(2.0)
    # the first half of period 0 holds 2 req/s, the second half climbs to 6 req/s
    assert ramp.series["demand_rps"][0] == pytest.approx(3.0, rel=0.02)


# --------------------------------------------------------------------------- latency


def test_batched_quantiles_are_exact_mixture_quantiles() -> None:
    rng = np.random.default_rng(0)
    n = 200
    c = rng.integers(1, 6, n)
    mu = rng.uniform(5, 50, n)
    lam = rng.uniform(0.1, 0.9, n) * c * mu
    from edgebound.evaluate.placement import _erlang_c

    pw = _erlang_c(c, lam / mu)
    rec = Records(
        rng.integers(0, 3, n),
        rng.uniform(1, 100, n),
        rng.uniform(0, 0.05, n),
        mu,
        c * mu - lam,
        pw,
    )
    got = quantiles(0.95, rec, 4)
    for g in range(3):
        k = rec.group == g
        w = rec.w[k] / rec.w[k].sum()
        want = _mixture_quantile(0.95, w, rec.shift_s[k], mu[k], rec.theta[k], pw[k])
        assert got[g] == pytest.approx(want, rel=1e-10)
    assert math.isnan(got[3])
    # the run's quantile is the mixture's, not the average of the groups' quantiles
    whole = quantiles(0.95, rec.merged(), 1)[0]
    assert whole == pytest.approx(
        _mixture_quantile(0.95, rec.w / rec.w.sum(), rec.shift_s, mu, rec.theta, pw), rel=1e-10
    )
    assert whole != pytest.approx(float(np.average(got[:3])), rel=1e-3)


# --------------------------------------------------------------------------- results


def test_result_json_plot_and_decisions(bundled: Instance, tmp_path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    res = run(bundled, HeuristicAutoscaler(), seed=1, periods=3)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["summary"]["p95_latency_ms"] == pytest.approx(res.summary["p95_latency_ms"])
    assert len(d["actions"]) == 3 and len(d["series"]["p95_ms"]) == 3
    res.plot(tmp_path / "run.png")
    assert (tmp_path / "run.png").stat().st_size > 0
    decs = res.decisions()
    rates = res.series["rates"]
    for t, dec in enumerate(decs):
        total = dec.routing.sum(axis=2) + dec.dropped
        np.testing.assert_allclose(total, rates[:, :, t], atol=1e-9)
        np.testing.assert_array_equal(dec.replicas, res.actions[t].replicas)
    assert res.summary["energy_j_per_req"] > 0 and res.summary["cost_usd"] > 0


@pytest.mark.slow
def test_large_generated_instance_runs() -> None:
    from edgebound.instances.generators import generate

    inst = generate("continuum-random", "large", seed=0)
    res = run(inst, HeuristicAutoscaler(), seed=0, periods=6)
    s = res.summary
    assert len(inst.node_names) > 300
    assert all(math.isfinite(v) for v in s.values())
    assert s["throughput_rps"] > 0 and s["dropped_pct"] < 20.0
