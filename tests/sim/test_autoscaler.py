"""The baseline controllers: heuristic autoscaler, static placement, MILP oracle."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import edgebound
from edgebound.errors import DecisionError
from edgebound.evaluate.placement import _data, evaluate_placement
from edgebound.instances import Instance, load
from edgebound.instances.generators import generate
from edgebound.sim.autoscaler import HeuristicAutoscaler, OracleMILPController, StaticController
from edgebound.sim.continuum import ContinuumPlant, PlantObservation, run


def two_tier() -> Instance:
    """One site, two edge nodes (2 and 10 ms away) and a cloud node (30 ms); 60 s periods."""
    node = {"cpu": 4, "ram_gb": 16, "idle_power_w": 40, "dynamic_power_w": 80}
    return edgebound.load(
        {
            "name": "two-tier",
            "topology": {
                "nodes": [
                    {"name": "e1", **node},
                    {"name": "e2", **node},
                    {"name": "cloud", "tier": "cloud", "cpu": 64, "ram_gb": 256},
                ],
                "sites": [{"name": "s1"}],
                "links": [
                    {"source": "s1", "target": "e1", "latency_ms": 2},
                    {"source": "s1", "target": "e2", "latency_ms": 10},
                    {"source": "s1", "target": "cloud", "latency_ms": 30},
                ],
            },
            "services": [
                {
                    "name": "web",
                    "latency_slo_ms": 200,
                    "spawn_time_ms": 1000,
                    "versions": [{"major": 1, "cpu": 1, "ram_gb": 1, "service_rate_rps": 10}],
                },
                {
                    "name": "batch",
                    "latency_slo_ms": 60000,
                    "versions": [{"major": 1, "cpu": 1, "ram_gb": 1, "service_rate_rps": 1}],
                },
            ],
            "workload": {
                "demands": [
                    {"service": "web", "site": "s1", "rate_rps": 12},
                    {"service": "batch", "site": "s1", "rate_rps": 1},
                ],
                "step_s": 60,
                "horizon_steps": 6,
            },
            "state": {"placement": [{"service": "web", "node": "e1", "count": 2}]},
        }
    )


def observe(inst: Instance, history: np.ndarray, util: np.ndarray, replicas: np.ndarray) -> Any:
    d = _data(inst)
    return PlantObservation(
        period=history.shape[2],
        time_s=60.0 * history.shape[2],
        demand_history=history,
        replicas=replicas,
        pending=np.zeros_like(replicas),
        utilization=util,
        power_w=np.zeros(len(d.nodes)),
        p95_ms=np.full(len(d.services), np.nan),
        dropped=np.zeros(d.lam.shape),
    )


def test_first_period_sizes_for_nominal_rates_nearest_first_and_batch_in_cloud() -> None:
    inst = two_tier()
    ctrl = HeuristicAutoscaler(target_utilization=0.6)
    ctrl.reset(inst, np.random.default_rng(0))
    x0 = np.array([[2, 0, 0], [0, 0, 0]])
    a = ctrl.act(observe(inst, np.zeros((2, 1, 0)), np.zeros((2, 3)), x0))
    # web: 12 x 1.1 / (10 x 0.6) -> 3 replicas: the 2 running on e1 plus one more, nearest
    # first (e1 has 4 vCPU); batch: 1 x 1.1 / 0.6 -> 2 replicas, in the cloud
    assert a.replicas.tolist() == [[3, 0, 0], [0, 0, 2]]
    assert a.routing[0, 0].tolist() == [1.0, 0.0, 0.0]
    assert a.routing[1, 0].tolist() == [0.0, 0.0, 1.0]


def test_hpa_scales_up_on_utilization_and_down_after_stabilization() -> None:
    inst = two_tier()
    ctrl = HeuristicAutoscaler(
        target_utilization=0.6, vpa_quantile=0.0, vpa_window=1, stabilization_s=120
    )
    ctrl.reset(inst, np.random.default_rng(0))
    x = np.array([[2, 0, 0], [0, 0, 0]])
    a = ctrl.act(observe(inst, np.zeros((2, 1, 0)), np.zeros((2, 3)), x))
    x = np.array(a.replicas)
    hist = np.full((2, 1, 1), 1.0)
    hot = np.zeros((2, 3))
    hot[0, 0] = 0.9  # 3 replicas at 90 %: ceil(3 x 0.9 / 0.6) = 5 (e1 holds 4, one on e2)
    hot[1, 2] = 0.3
    a = ctrl.act(observe(inst, hist, hot, x))
    assert a.replicas[0].tolist() == [4, 1, 0]
    assert a.routing[0, 0].tolist() == pytest.approx([0.8, 0.2, 0.0])
    x = np.array(a.replicas)
    # within the tolerance band nothing moves
    calm = hot.copy()
    calm[0, :2] = 0.63
    calm[1, 2] = 0.6
    assert ctrl.act(observe(inst, hist, calm, x)).replicas[0].sum() == 5
    # a quiet period: the recommendation drops, but the 2-period window holds the last high one
    idle = np.zeros((2, 3))
    idle[0, :2] = 0.12
    idle[1, 2] = 0.6
    assert ctrl.act(observe(inst, hist, idle, x)).replicas[0].sum() == 5
    assert ctrl.act(observe(inst, hist, idle, x)).replicas[0].sum() == 5
    down = ctrl.act(observe(inst, hist, idle, x))
    assert down.replicas[0].tolist() == [1, 0, 0]  # the farthest go first


def test_vpa_sizes_from_a_high_quantile_of_recent_demand() -> None:
    inst = two_tier()
    ctrl = HeuristicAutoscaler(
        target_utilization=0.6, vpa_quantile=1.0, vpa_window=3, vpa_margin=0.0
    )
    ctrl.reset(inst, np.random.default_rng(0))
    x = np.array([[2, 0, 0], [0, 0, 2]])
    ctrl.act(observe(inst, np.zeros((2, 1, 0)), np.zeros((2, 3)), x))
    hist = np.zeros((2, 1, 4))
    hist[0, 0] = [40.0, 30.0, 12.0, 6.0]  # max of the last 3 periods: 30 req/s -> 5 replicas
    hist[1, 0] = 0.6
    util = np.zeros((2, 3))
    util[0, 0] = 0.3
    util[1, 2] = 0.3
    a = ctrl.act(observe(inst, hist, util, np.array([[3, 0, 0], [0, 0, 2]])))
    assert a.replicas[0].sum() == 5
    assert a.replicas[1].sum() == 1


def test_packing_respects_capacity_residency_and_power_caps() -> None:
    inst = two_tier()
    data = inst.model_dump()
    data["topology"]["nodes"][0]["power_cap_w"] = 80.0  # e1: 40 + 80 x 0.6 x k / 4 <= 80
    data["services"][0]["allowed_regions"] = ["eu"]
    for n in data["topology"]["nodes"][:2]:
        n["region"] = "eu"
    inst = Instance.model_validate(data)
    ctrl = HeuristicAutoscaler(target_utilization=0.6)
    ctrl.reset(inst, np.random.default_rng(0))
    hist = np.zeros((2, 1, 1))
    hist[0, 0] = 60.0  # 60 x 1.1 / 6 -> 11 replicas of web; the edge holds 3 + 4
    a = ctrl.act(observe(inst, np.zeros((2, 1, 0)), np.zeros((2, 3)), np.zeros((2, 3), int)))
    a = ctrl.act(observe(inst, hist, np.zeros((2, 3)), np.array(a.replicas)))
    assert a.replicas[0].tolist() == [3, 4, 0]  # not in the cloud (residency), e1 power-capped
    plant = ContinuumPlant(inst)
    plant.check(a)  # a valid action


def test_heuristic_runs_the_bundled_instance_reasonably() -> None:
    inst = load("continuum-3edge-2cloud")
    res = run(inst, HeuristicAutoscaler(), seed=0, periods=12)
    s = res.summary
    assert s["dropped_pct"] < 1.0
    assert s["slo_violation_pct"] < 10.0
    assert s["migrations"] > 0  # it does scale
    static = run(inst, StaticController(), seed=0, periods=12)
    assert s["slo_violation_pct"] < static.summary["slo_violation_pct"]


def test_bad_parameters() -> None:
    with pytest.raises(DecisionError, match="target_utilization"):
        HeuristicAutoscaler(target_utilization=0.0)
    with pytest.raises(DecisionError, match="vpa_window"):
        HeuristicAutoscaler(vpa_window=0)


def test_static_controller_holds_the_initial_placement() -> None:
    inst = load("continuum-3edge-2cloud")
    res = run(inst, StaticController(), seed=0, periods=3)
    x0 = _data(inst).x_prev
    for a in res.actions:
        np.testing.assert_array_equal(a.replicas, x0)
    assert res.summary["migrations"] == 0.0
    assert np.all(np.asarray(res.actions[0].routing).sum(axis=2) <= 1 + 1e-12)


def test_milp_oracle_agrees_with_the_evaluator_on_the_plant() -> None:
    pytest.importorskip("highspy")
    inst = generate("continuum-random", "small", seed=0)
    const = np.array([[d.rate_rps] * 2 for d in inst.workload.demands])
    oracle = OracleMILPController(demand=const)
    first = run(inst, oracle, demand=const, periods=1, arrivals="fluid", jitter=0.0)
    dec = first.decisions()[0]
    # start from the oracle's replicas, all ready: the plant is then at steady state
    res = run(
        inst,
        OracleMILPController(demand=const),
        demand=const,
        arrivals="fluid",
        jitter=0.0,
        initial_replicas=np.array(dec.replicas),
    )
    ev = evaluate_placement(inst, res.decisions()[1])
    assert ev.feasible, [v.message for v in ev.violations]
    assert res.series["power_w"][1] == pytest.approx(ev.objectives["power"], rel=1e-9)
    assert res.series["mean_latency_ms"][1] == pytest.approx(ev.objectives["latency"], rel=1e-9)
    assert res.summary["power_cap_violations"] == 0.0
