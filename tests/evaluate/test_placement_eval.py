"""Tests of the placement evaluator against hand arithmetic, closed forms and sampling."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import edgebound
from edgebound.errors import DecisionError
from edgebound.evaluate.placement import (
    PlacementDecision,
    _erlang_c,
    _queue_quantiles,
    _tail,
    evaluate_placement,
    parse_placement_decision,
    placement_origins,
)
from edgebound.evaluate.queueing import (
    erlang_c,
    mmc_mean_response,
    mmc_response_quantile,
    mmc_response_tail,
)

# Two sites, two edge nodes, one GPU cloud node and one node no site can reach.
BASE: dict[str, Any] = {
    "name": "tiny-continuum",
    "topology": {
        "nodes": [
            {
                "name": "e1",
                "region": "eu",
                "cpu": 4,
                "ram_gb": 8,
                "disk_gb": 25,
                "idle_power_w": 50,
                "dynamic_power_w": 100,
                "cost_per_vcpu_hour": 0.05,
            },
            {
                "name": "e2",
                "region": "us",
                "cpu": 4,
                "ram_gb": 8,
                "disk_gb": 100,
                "idle_power_w": 40,
                "dynamic_power_w": 80,
                "cost_per_vcpu_hour": 0.05,
            },
            {
                "name": "c1",
                "tier": "cloud",
                "region": "us",
                "cpu": 64,
                "ram_gb": 256,
                "gpus": 2,
                "idle_power_w": 200,
                "dynamic_power_w": 300,
                "gpu_idle_power_w": 30,
                "gpu_dynamic_power_w": 220,
                "cost_per_vcpu_hour": 0.04,
                "cost_per_gpu_hour": 2.5,
            },
            {"name": "far", "region": "us", "cpu": 8, "ram_gb": 16},
        ],
        "sites": [{"name": "s1", "region": "eu"}, {"name": "s2", "region": "us"}],
        "links": [
            {"source": "s1", "target": "e1", "latency_ms": 2},
            {"source": "s2", "target": "e2", "latency_ms": 3},
            {"source": "e1", "target": "c1", "latency_ms": 20},
            {"source": "e2", "target": "c1", "latency_ms": 15},
            {"source": "e1", "target": "e2", "latency_ms": 10},
        ],
    },
    "services": [
        {
            "name": "web",
            "latency_slo_ms": 1000,
            "versions": [
                {"major": 1, "cpu": 1, "ram_gb": 1, "disk_gb": 10, "service_rate_rps": 10}
            ],
        },
        {
            "name": "infer",
            "allowed_regions": ["us"],
            "versions": [{"major": 1, "cpu": 2, "ram_gb": 4, "gpus": 1, "service_rate_rps": 20}],
        },
    ],
    "workload": {
        "demands": [
            {"service": "web", "site": "s1", "rate_rps": 8},
            {"service": "web", "site": "s2", "rate_rps": 10},
            {"service": "infer", "site": "s1", "rate_rps": 30},
        ]
    },
    "policy": {"weights": {"latency": 1, "cost": 10, "dropped": 100}},
    "state": {"placement": [{"service": "web", "node": "e1", "count": 1}]},
}

# web: M/M/1 on e1 (5 of s1's 8 req/s, 3 dropped) and M/M/2 on e2 (all 10 of s2's);
# infer: M/M/2 on c1 (all 30 of s1's).
HAND: dict[str, Any] = {
    "replicas": {"web": {"e1": 1, "e2": 2}, "infer": {"c1": 2}},
    "routing": {"web": {"s1": {"e1": 5}, "s2": {"e2": 10}}, "infer": {"s1": {"c1": 30}}},
}


def make(**changes: Any) -> edgebound.Instance:
    """The base instance with dotted-path changes, e.g. ``make(**{"policy.x": 1})``."""
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        target: Any = data
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[keys[-1]] = value
    return edgebound.load(data)


@pytest.fixture(scope="module")
def inst() -> edgebound.Instance:
    return make()


def only(ev: Any, constraint: str) -> Any:
    found = [v for v in ev.violations if v.constraint == constraint]
    assert len(found) == 1, ev.violations
    return found[0]


def constraints(ev: Any) -> set[str]:
    return {v.constraint for v in ev.violations}


# --------------------------------------------------------------------------- hand example


def test_hand_computed_example(inst: edgebound.Instance) -> None:
    ev = evaluate_placement(inst, HAND)
    assert ev.feasible, ev.violations
    o = ev.objectives
    # web on e1, M/M/1 with lam 5, mu 10: sojourn 1 / (10 - 5) = 0.2 s; + 2 ms from s1.
    w_e1 = 2 + 200.0
    # web on e2, M/M/2 with lam 10, mu 10: a = 1, C(2, 1) = 2 rho^2 / (1 + rho) = 1/3 with
    # rho = 1/2; wait = C / (2 mu - lam) = 1/30 s; sojourn = 1/30 + 1/10 s; + 3 ms from s2.
    w_e2 = 3 + 1000 * (1 / 30 + 1 / 10)
    # infer on c1, M/M/2 with lam 30, mu 20: rho = 3/4, C = 2 (9/16) / (7/4) = 9/14;
    # wait = (9/14) / (40 - 30) s; sojourn = wait + 1/20 s; s1 -> e1 -> c1 is 22 ms.
    i_c1 = 22 + 1000 * (9 / 14 / 10 + 1 / 20)
    assert w_e2 == pytest.approx(3 + 1000 * mmc_mean_response(2, 10, 10), rel=1e-12)
    assert i_c1 == pytest.approx(22 + 1000 * mmc_mean_response(2, 30, 20), rel=1e-12)
    # (5 * 202 + 10 * 136.333 + 30 * 136.286) / 45 req/s = 6461.90 / 45 = 143.598 ms
    assert o["latency"] == pytest.approx((5 * w_e1 + 10 * w_e2 + 30 * i_c1) / 45, rel=1e-12)
    assert o["latency"] == pytest.approx(143.5979, abs=1e-4)
    assert o["throughput"] == 45.0
    assert o["dropped"] == 3.0  # web from s1: 8 - 5, dropped left out of the decision
    # e1: 50 + 100 * (1 vCPU * 5/10 busy / 4 vCPU) = 62.5 W
    # e2: 40 + 80 * (1 vCPU * 10/10 busy / 4 vCPU) = 60 W
    # c1: CPU 200 + 300 * (2 vCPU * 30/20 busy / 64 vCPU) = 214.0625 W;
    #     per GPU 30 + 220 * (1 GPU * 1.5 busy / 2 GPUs) = 195 W, two GPUs = 390 W
    # far: off (no replica), 0 W
    power = 62.5 + 60 + 214.0625 + 2 * 195
    assert o["power"] == pytest.approx(power, rel=1e-12)
    assert o["energy"] == pytest.approx(power / 45, rel=1e-12)  # 726.5625 W / 45 = 16.146 J/req
    # web 3 replicas * 1 vCPU * 0.05; infer 2 * (2 vCPU * 0.04 + 1 GPU * 2.5): 5.31 USD/h
    assert o["cost"] == pytest.approx(3 * 0.05 + 2 * (2 * 0.04 + 2.5), rel=1e-12)
    # state has 1 web on e1: new are 2 web on e2 and 2 infer on c1
    assert o["migrations"] == 4.0
    assert o["weighted"] == pytest.approx(o["latency"] + 10 * o["cost"] + 100 * 3, rel=1e-12)
    nodes = ev.details["nodes"]
    assert nodes["c1"]["gpu_power_w"] == pytest.approx(195.0)
    assert nodes["c1"]["power_w"] == pytest.approx(604.0625)
    assert nodes["e1"]["utilization"] == pytest.approx(0.125)
    assert nodes["far"]["on"] is False and nodes["far"]["power_w"] == 0.0
    web = ev.details["services"]["web"]
    assert web["served_rps"] == 15.0 and web["dropped_rps"] == 3.0 and web["replicas"] == 3
    assert web["mean_latency_ms"] == pytest.approx((5 * w_e1 + 10 * w_e2) / 15, rel=1e-12)
    json.dumps(ev.to_dict(), allow_nan=False)


def test_p95_of_single_stream_is_net_plus_queue_quantile(inst: edgebound.Instance) -> None:
    ev = evaluate_placement(
        inst, {"replicas": {"infer": {"c1": 2}}, "routing": {"infer": {"s1": {"c1": 30}}}}
    )
    want = 22 + 1000 * mmc_response_quantile(0.95, 2, 30.0, 20.0)
    assert ev.objectives["p95_latency"] == pytest.approx(want, rel=1e-10)
    # M/M/1: the sojourn is Exp(mu - lam), its 0.95-quantile ln(20) / (mu - lam).
    ev = evaluate_placement(
        inst, {"replicas": {"web": {"e1": 1}}, "routing": {"web": {"s1": {"e1": 5}}}}
    )
    assert ev.objectives["p95_latency"] == pytest.approx(2 + 1000 * math.log(20) / 5, rel=1e-10)


def test_mixture_p95_lies_between_component_p95s(inst: edgebound.Instance) -> None:
    ev = evaluate_placement(inst, HAND)
    parts = [
        2 + 1000 * mmc_response_quantile(0.95, 1, 5.0, 10.0),
        3 + 1000 * mmc_response_quantile(0.95, 2, 10.0, 10.0),
        22 + 1000 * mmc_response_quantile(0.95, 2, 30.0, 20.0),
    ]
    p95 = ev.objectives["p95_latency"]
    assert min(parts) < p95 < max(parts)
    # The root really solves the mixture equation.
    tails = [
        5 * mmc_response_tail((p95 - 2) / 1000, 1, 5.0, 10.0),
        10 * mmc_response_tail((p95 - 3) / 1000, 2, 10.0, 10.0),
        30 * mmc_response_tail((p95 - 22) / 1000, 2, 30.0, 20.0),
    ]
    assert sum(tails) / 45 == pytest.approx(0.05, rel=1e-9)


def test_mixture_p95_matches_monte_carlo(inst: edgebound.Instance) -> None:
    ev = evaluate_placement(inst, HAND)
    rng = np.random.default_rng(12345)
    # (rate, net ms, c, lam, mu) of each stream
    streams = [(5, 2, 1, 5.0, 10.0), (10, 3, 2, 10.0, 10.0), (30, 22, 2, 30.0, 20.0)]
    rates = np.array([s[0] for s in streams], dtype=float)
    n = 400_000
    k = rng.choice(len(streams), size=n, p=rates / rates.sum())
    net = np.array([s[1] for s in streams], dtype=float)[k]
    mu = np.array([s[4] for s in streams])[k]
    pw = np.array([erlang_c(s[2], s[3] / s[4]) for s in streams])[k]
    theta = np.array([s[2] * s[4] - s[3] for s in streams])[k]
    # FCFS M/M/c sojourn: service Exp(mu), plus with probability C a wait Exp(c mu - lam).
    t = rng.exponential(1 / mu) + (rng.random(n) < pw) * rng.exponential(1 / theta)
    sample_p95 = float(np.quantile(net + 1000 * t, 0.95))
    assert ev.objectives["p95_latency"] == pytest.approx(sample_p95, rel=0.01)


def test_vectorized_queue_formulas_match_scalar_ones() -> None:
    cases = [(1, 5.0, 10.0), (2, 10.0, 10.0), (2, 30.0, 20.0), (7, 60.0, 10.0), (300, 280.0, 1.0)]
    c = np.array([k[0] for k in cases])
    a = np.array([k[1] / k[2] for k in cases])
    assert np.allclose(_erlang_c(c, a), [erlang_c(k[0], k[1] / k[2]) for k in cases], rtol=1e-12)
    assert _erlang_c(np.array([2, 0, 3]), np.array([2.0, 0.0, 0.0])).tolist() == [1.0, 1.0, 0.0]
    ts = np.linspace(0, 1.0, 41)
    # Include theta == mu and theta within 1e-9 of mu, where the textbook form cancels.
    for c_, lam, mu in [*cases, (2, 10.0, 10.0), (2, 10.0 + 1e-7, 10.0), (1, 0.0, 3.0)]:
        pw = erlang_c(c_, lam / mu) if lam > 0 else 0.0
        got = _tail(ts, np.full_like(ts, mu), np.full_like(ts, c_ * mu - lam), np.full_like(ts, pw))
        assert np.allclose(got, mmc_response_tail(ts, c_, lam, mu), rtol=1e-7, atol=1e-12)
    assert _tail(np.array([-1.0]), np.array([1.0]), np.array([2.0]), np.array([0.5]))[0] == 1.0
    big = _erlang_c(np.array([5000]), np.array([4500.0]))[0]
    assert big == pytest.approx(erlang_c(5000, 4500.0), rel=1e-10)


def test_vectorized_queue_quantiles_match_scalar_ones() -> None:
    cases = [(1, 5.0, 10.0), (2, 10.0, 10.0), (2, 30.0, 20.0), (50, 499.0, 10.0), (3, 1e-6, 4.0)]
    mu = np.array([k[2] for k in cases])
    theta = np.array([k[0] * k[2] - k[1] for k in cases])
    pw = np.array([erlang_c(k[0], k[1] / k[2]) for k in cases])
    for q in (0.5, 0.95, 0.999):
        want = [mmc_response_quantile(q, *k) for k in cases]
        assert np.allclose(_queue_quantiles(q, mu, theta, pw), want, rtol=1e-10, atol=0)


# --------------------------------------------------------------------------- violations


def test_demand_balance_with_explicit_dropped(inst: edgebound.Instance) -> None:
    dec = copy.deepcopy(HAND) | {"dropped": {"web": {"s1": 1}}}  # 5 + 1 != 8
    v = only(evaluate_placement(inst, dec), "demand_balance")
    assert v.amount == pytest.approx(2.0) and v.unit == "req/s"
    assert v.where == "service web from s1"


def test_demand_balance_when_routing_more_than_demand(inst: edgebound.Instance) -> None:
    dec = copy.deepcopy(HAND)
    dec["replicas"]["web"]["e1"] = 2
    dec["routing"]["web"]["s1"]["e1"] = 9  # demand 8
    ev = evaluate_placement(inst, dec)
    assert constraints(ev) == {"demand_balance"}
    assert only(ev, "demand_balance").amount == pytest.approx(1.0)
    assert ev.objectives["dropped"] == 0.0


def test_routing_to_an_empty_node(inst: edgebound.Instance) -> None:
    dec = copy.deepcopy(HAND)
    dec["routing"]["web"]["s1"] = {"e1": 4, "c1": 1}  # c1 hosts infer only
    ev = evaluate_placement(inst, dec)
    # No replica means no finite latency either, so the stream also misses web's SLO.
    assert constraints(ev) == {"routing", "slo"}
    assert math.isinf(only(ev, "slo").amount)
    assert only(ev, "routing").where == "service web on node c1"
    assert math.isinf(ev.objectives["latency"]) and math.isinf(ev.objectives["p95_latency"])
    json.dumps(ev.to_dict(), allow_nan=False)


def test_routing_to_a_node_that_is_off_also_reports_node_off(inst: edgebound.Instance) -> None:
    dec = copy.deepcopy(HAND)
    dec["routing"]["web"]["s1"] = {"e1": 4, "far": 1}
    ev = evaluate_placement(inst, dec)
    assert constraints(ev) == {"routing", "node_off", "connectivity", "slo"}
    v = only(ev, "node_off")
    assert (v.amount, v.unit) == (1.0, "req/s")


def test_stability_amount(inst: edgebound.Instance) -> None:
    dec = copy.deepcopy(HAND) | {"dropped": {"web": {"s1": 3, "s2": 0.2}}}
    dec["replicas"]["web"]["e2"] = 1
    dec["routing"]["web"]["s2"]["e2"] = 9.8  # limit 0.95 * 1 replica * 10 req/s = 9.5
    ev = evaluate_placement(inst, dec)
    assert constraints(ev) == {"stability", "slo"}  # p95 = 3 + 1000 ln(20) / 0.2 ms
    assert only(ev, "stability").amount == pytest.approx(0.3)
    assert math.isfinite(ev.objectives["latency"])


def test_unstable_queue_gives_inf_latency_without_nan(inst: edgebound.Instance) -> None:
    dec = copy.deepcopy(HAND)
    dec["routing"]["web"]["s1"]["e1"] = 12  # over mu = 10 (and over demand 8)
    ev = evaluate_placement(inst, dec)
    assert {"stability", "slo", "demand_balance"} <= constraints(ev)
    assert only(ev, "stability").amount == pytest.approx(12 - 9.5)
    assert math.isinf(only(ev, "slo").amount)
    o = ev.objectives
    assert math.isinf(o["latency"]) and math.isinf(o["p95_latency"])
    assert math.isinf(o["weighted"])  # latency weighs 1
    assert not any(math.isnan(v) for v in o.values())
    assert math.isfinite(o["power"]) and math.isfinite(o["energy"])
    text = json.dumps(ev.to_dict(), allow_nan=False)
    assert '"inf"' in text


def test_connectivity(inst: edgebound.Instance) -> None:
    dec = copy.deepcopy(HAND)
    dec["replicas"]["web"]["far"] = 1
    dec["routing"]["web"]["s2"] = {"e2": 8, "far": 2}
    ev = evaluate_placement(inst, dec)
    assert constraints(ev) == {"connectivity", "slo"}
    v = only(ev, "connectivity")
    assert (v.amount, v.where) == (2.0, "service web from s2 to node far")
    assert math.isinf(ev.objectives["p95_latency"])


def test_slo_amount_mm1(inst: edgebound.Instance) -> None:
    dec = copy.deepcopy(HAND)
    dec["replicas"]["web"]["e1"] = 1
    dec["routing"]["web"]["s1"]["e1"] = 8  # M/M/1 at lam 8, mu 10: Exp(2) sojourn
    ev = evaluate_placement(inst, dec)
    v = only(ev, "slo")
    assert v.unit == "ms"
    assert v.amount == pytest.approx(2 + 1000 * math.log(20) / 2 - 1000, rel=1e-10)
    assert v.where == "service web from s1 on node e1"


def test_slo_uses_the_policy_quantile() -> None:
    inst = make(**{"policy.slo_quantile": 0.5})
    dec = copy.deepcopy(HAND)
    dec["routing"]["web"]["s1"]["e1"] = 8  # median 1000 ln(2) / 2 = 347 ms
    assert "slo" not in constraints(evaluate_placement(inst, dec))


@pytest.mark.parametrize(
    ("node", "count", "constraint", "amount"),
    [
        ("e2", 5, "capacity.cpu", 1.0),  # 5 vCPU on 4
        ("e1", 3, "capacity.disk_gb", 5.0),  # 30 GB on 25
    ],
)
def test_capacity_web(
    inst: edgebound.Instance, node: str, count: int, constraint: str, amount: float
) -> None:
    dec = copy.deepcopy(HAND)
    dec["replicas"]["web"][node] = count
    ev = evaluate_placement(inst, dec)
    assert constraints(ev) == {constraint}
    assert only(ev, constraint).amount == pytest.approx(amount)


def test_capacity_ram_and_gpus(inst: edgebound.Instance) -> None:
    dec = copy.deepcopy(HAND)
    dec["replicas"]["infer"]["e2"] = 3  # 12 GB RAM on 8, 3 GPUs on 0, 6 vCPU + 2 web on 4
    dec["replicas"]["infer"]["c1"] = 3  # 3 GPUs on 2
    ev = evaluate_placement(inst, dec)
    by = {(v.constraint, v.where): v.amount for v in ev.violations}
    assert by == {
        ("capacity.cpu", "node e2"): 4.0,
        ("capacity.ram_gb", "node e2"): 6.0,  # 2 web * 1 + 3 infer * 4 = 14 on 8
        ("capacity.gpus", "node e2"): 3.0,
        ("capacity.gpus", "node c1"): 1.0,
    }


def test_residency(inst: edgebound.Instance) -> None:
    dec = copy.deepcopy(HAND)
    dec["replicas"]["infer"]["far"] = 1  # region us, but no GPU
    assert constraints(evaluate_placement(inst, dec)) == {"capacity.gpus"}
    inst2 = make(**{"services.0.allowed_regions": ["eu"]})
    ev = evaluate_placement(inst2, HAND)  # web has 2 replicas on e2 (us)
    v = only(ev, "residency")
    assert (v.amount, v.unit, v.where) == (2.0, "replica", "service web on node e2")
    assert "eu" in v.message


def test_power_cap() -> None:
    inst = make(**{"topology.nodes.0.power_cap_w": 60})
    v = only(evaluate_placement(inst, HAND), "power_cap")
    assert (v.amount, v.unit, v.where) == (pytest.approx(2.5), "W", "node e1")  # 62.5 W


def test_gpu_power_cap() -> None:
    inst = make(**{"topology.nodes.2.gpu_power_cap_w": 150})
    v = only(evaluate_placement(inst, HAND), "gpu_power_cap")
    assert (v.amount, v.where) == (pytest.approx(45.0), "node c1")  # 195 W per GPU


def test_node_off_with_replicas(inst: edgebound.Instance) -> None:
    dec = copy.deepcopy(HAND) | {"nodes_on": {"e1": False}}
    ev = evaluate_placement(inst, dec)
    v = only(ev, "node_off")
    assert (v.amount, v.unit, v.where) == (1.0, "replica", "node e1")
    assert ev.details["nodes"]["e1"]["power_w"] == 0.0
    assert ev.details["nodes"]["e2"]["on"] is True  # left out of nodes_on: hosts replicas


def test_node_on_without_replicas_draws_idle_power(inst: edgebound.Instance) -> None:
    base = evaluate_placement(inst, HAND).objectives["power"]
    ev = evaluate_placement(inst, HAND | {"nodes_on": {"far": True}})
    assert ev.feasible
    assert ev.objectives["power"] == base  # far has no idle power
    ev = evaluate_placement(
        make(**{"topology.nodes.3.idle_power_w": 7}), HAND | {"nodes_on": {"far": True}}
    )
    assert ev.objectives["power"] == pytest.approx(base + 7)


def test_migration_budget() -> None:
    inst = make(**{"policy.migration_budget": 1})
    v = only(evaluate_placement(inst, HAND), "migration_budget")
    assert (v.amount, v.unit) == (3.0, "replica")  # 4 started, budget 1


# --------------------------------------------------------------------------- edge cases


def test_dropping_everything(inst: edgebound.Instance) -> None:
    ev = evaluate_placement(inst, {})
    o = ev.objectives
    assert ev.feasible
    assert o["throughput"] == 0.0 and o["dropped"] == 48.0
    assert o["latency"] == 0.0 and o["p95_latency"] == 0.0
    assert o["power"] == 0.0 and o["energy"] == 0.0 and o["cost"] == 0.0
    ev = evaluate_placement(inst, {"routing": {}, "nodes_on": {"e1": True}})
    assert ev.objectives["power"] == 50.0 and math.isinf(ev.objectives["energy"])
    assert ev.to_dict()["objectives"]["energy"] == "inf"


def test_zero_weight_ignores_inf_objective() -> None:
    inst = make(**{"policy.weights": {"cost": 1, "latency": 0}})
    dec = copy.deepcopy(HAND)
    dec["routing"]["web"]["s1"]["e1"] = 12
    ev = evaluate_placement(inst, dec)
    assert math.isinf(ev.objectives["latency"])
    assert ev.objectives["weighted"] == pytest.approx(ev.objectives["cost"])


def test_master_origin() -> None:
    data = copy.deepcopy(BASE)
    data["topology"]["master"] = "e2"
    data["topology"]["nodes"] = data["topology"]["nodes"][:3]
    data["workload"]["demands"].append({"service": "web", "site": None, "rate_rps": 4})
    inst = edgebound.load(data)
    assert placement_origins(inst) == ("s1", "s2", "e2")
    dec = {"replicas": {"web": {"c1": 1}}, "routing": {"web": {"e2": {"c1": 4}}}}
    ev = evaluate_placement(inst, dec)
    # e2 -> c1 is 15 ms; M/M/1 at lam 4, mu 10: mean 1 / 6 s
    assert ev.objectives["latency"] == pytest.approx(15 + 1000 / 6, rel=1e-12)


def test_parsed_and_plain_forms_agree(inst: edgebound.Instance) -> None:
    dec = parse_placement_decision(inst, HAND)
    again = parse_placement_decision(inst, dec.to_dict())
    for name in ("replicas", "routing", "dropped", "nodes_on"):
        assert np.array_equal(getattr(dec, name), getattr(again, name))
    assert evaluate_placement(inst, dec).objectives == evaluate_placement(inst, HAND).objectives
    assert dec.replicas.dtype.kind == "i" and not dec.replicas.flags.writeable
    arr = PlacementDecision.from_arrays(inst, dec.replicas, dec.routing)
    assert np.array_equal(arr.dropped, dec.dropped)
    other = make(**{"name": "other", "topology.nodes": BASE["topology"]["nodes"][:3]})
    with pytest.raises(DecisionError, match="another instance"):
        evaluate_placement(other, dec)


def test_from_arrays_errors(inst: edgebound.Instance) -> None:
    x = np.zeros((2, 4))
    x[0, 0] = 1.5
    r = np.zeros((2, 2, 4))
    r[1, 1, 2] = 1.0  # infer has no demand from s2
    r[0, 0, 0] = -1.0
    with pytest.raises(DecisionError) as exc:
        PlacementDecision.from_arrays(inst, x, r)
    paths = [p.path for p in exc.value.problems]
    assert paths == ["replicas.web.e1", "routing.web.s1.e1", "routing.infer.s2"]
    with pytest.raises(DecisionError, match=r"routing.shape"):
        PlacementDecision.from_arrays(inst, np.zeros((2, 4)), np.zeros((2, 4)))


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("decision", "path", "says"),
    [
        ({"replicas": {"wbe": {"e1": 1}}}, "replicas.wbe", "did you mean 'web'"),
        ({"replicas": {"web": {"node-9": 1}}}, "replicas.web.node-9", "known: e1, e2, c1, far"),
        ({"replicas": {"web": {"e1": -1}}}, "replicas.web.e1", "whole number >= 0"),
        ({"replicas": {"web": {"e1": 1.5}}}, "replicas.web.e1", "whole number >= 0"),
        ({"replicas": {"web": {"e1": True}}}, "replicas.web.e1", "whole number >= 0"),
        ({"replicas": {"web": {"e1": "2"}}}, "replicas.web.e1", "whole number >= 0"),
        ({"replicas": ["web"]}, "replicas", "must be a mapping"),
        ({"routing": {"web": {"site-1": {"e1": 1}}}}, "routing.web.site-1", "s1, s2"),
        ({"routing": {"infer": {"s2": {"e1": 1}}}}, "routing.infer.s2", "origins with demand: s1"),
        ({"routing": {"web": {"s1": {"node-9": 1}}}}, "routing.web.s1.node-9", "known: e1"),
        ({"routing": {"web": {"s1": {"e1": -0.5}}}}, "routing.web.s1.e1", "rate >= 0"),
        ({"routing": {"web": {"s1": {"e1": math.nan}}}}, "routing.web.s1.e1", "finite"),
        ({"routing": {"web": {"s1": 3}}}, "routing.web.s1", "must be a mapping"),
        ({"dropped": {"web": {"s3": 1}}}, "dropped.web.s3", "origins with demand"),
        ({"dropped": {"web": {"s1": "x"}}}, "dropped.web.s1", "rate >= 0"),
        ({"nodes_on": {"e1": 1}}, "nodes_on.e1", "true or false"),
        ({"nodes_on": {"e9": True}}, "nodes_on.e9", "is not a node"),
        ({"replica": {}}, "replica", "did you mean 'replicas'"),
        ({"model": "mmv"}, "model", "must be 'placement'"),
    ],
)
def test_decision_errors(
    inst: edgebound.Instance, decision: dict[str, Any], path: str, says: str
) -> None:
    with pytest.raises(DecisionError) as exc:
        evaluate_placement(inst, decision)
    assert [p.path for p in exc.value.problems] == [path]
    assert says in str(exc.value)


def test_decision_errors_are_all_reported_at_once(inst: edgebound.Instance) -> None:
    bad = {
        "replicas": {"web": {"e1": -1, "zz": 1}, "nope": {}},
        "routing": {"web": {"s1": {"e1": -2}}, "infer": {"s2": {}}},
        "extra": 1,
    }
    with pytest.raises(DecisionError) as exc:
        parse_placement_decision(inst, bad)
    paths = sorted(p.path for p in exc.value.problems)
    assert paths == sorted(
        [
            "extra",
            "replicas.web.e1",
            "replicas.web.zz",
            "replicas.nope",
            "routing.web.s1.e1",
            "routing.infer.s2",
        ]
    )
    assert str(exc.value).startswith("6 problems in decision:")
    with pytest.raises(DecisionError, match="must be a mapping"):
        parse_placement_decision(inst, [1, 2])


def test_whole_float_replicas_and_numpy_scalars_are_accepted(inst: edgebound.Instance) -> None:
    dec = {
        "replicas": {"web": {"e1": 1.0, "e2": np.int64(2)}, "infer": {"c1": 2}},
        "routing": {
            "web": {"s1": {"e1": np.float64(5)}, "s2": {"e2": 10}},
            "infer": HAND["routing"]["infer"],
        },
        "nodes_on": {"e1": np.bool_(True)},
    }
    assert evaluate_placement(inst, dec).objectives == evaluate_placement(inst, HAND).objectives


# --------------------------------------------------------------------------- monotonicity


NODE_COUNT = len(BASE["topology"]["nodes"])
ROUTES = [("web", "s1"), ("web", "s2"), ("infer", "s1")]
NODES = [n["name"] for n in BASE["topology"]["nodes"]]


@st.composite
def decisions(draw: st.DrawFn) -> dict[str, Any]:
    replicas = {svc: {n: draw(st.integers(0, 3)) for n in NODES} for svc in ("web", "infer")}
    routing: dict[str, Any] = {}
    for svc, origin in ROUTES:
        routing.setdefault(svc, {})[origin] = {
            n: draw(st.sampled_from([0.0, 1.0, 4.0, 9.5, 15.0])) for n in NODES
        }
    dec: dict[str, Any] = {"replicas": replicas, "routing": routing}
    if draw(st.booleans()):
        dec["nodes_on"] = {n: draw(st.booleans()) for n in NODES}
    return dec


CAPPED: dict[str, Any] = {"topology.nodes.0.power_cap_w": 55, "topology.nodes.1.power_cap_w": 50}
CAPPED |= {"topology.nodes.2.power_cap_w": 210, "topology.nodes.2.gpu_power_cap_w": 120}
CAPPED_INST = make(**CAPPED)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dec=decisions(),
    node=st.integers(0, NODE_COUNT - 1),
    field=st.sampled_from(["cpu", "ram_gb", "disk_gb", "gpus", "power_cap_w", "gpu_power_cap_w"]),
    extra=st.sampled_from([1, 2, 8, 1000]),
)
def test_more_capacity_or_higher_caps_never_add_violations(
    dec: dict[str, Any], node: int, field: str, extra: int
) -> None:
    node_data = BASE["topology"]["nodes"][node]
    key = f"topology.nodes.{node}.{field}"
    # Giving GPUs to a GPU-less node brings in its GPU idle power and cap, which were not in
    # force before; "more capacity" means more of a resource the node already has.
    assume(field != "gpus" or node_data.get("gpus", 0) > 0)
    if field.endswith("power_cap_w"):
        old = CAPPED.get(key)
        changes = dict(CAPPED)
        if old is not None:
            changes[key] = old + extra if extra < 1000 else None  # None: the cap is lifted
    else:
        changes = CAPPED | {key: node_data.get(field, 1000.0 if field == "disk_gb" else 0) + extra}
    bigger = make(**changes)
    before = {(v.constraint, v.where) for v in evaluate_placement(CAPPED_INST, dec).violations}
    after = {(v.constraint, v.where) for v in evaluate_placement(bigger, dec).violations}
    assert after <= before


# --------------------------------------------------------------------------- naive reference


def naive(inst: edgebound.Instance, dec: dict[str, Any]) -> dict[str, float]:
    """Latency, p95, power and cost by plain loops over the scalar queueing functions."""
    x = {(s, n): c for s, by in dec.get("replicas", {}).items() for n, c in by.items()}
    streams = [
        (s, i, n, r)
        for s, by in dec.get("routing", {}).items()
        for i, by_n in by.items()
        for n, r in by_n.items()
        if r > 0
    ]
    load: dict[tuple[str, str], float] = {}
    for s, _, n, r in streams:
        load[s, n] = load.get((s, n), 0.0) + r
    served = sum(r for *_, r in streams)

    def queue(s: str, n: str) -> tuple[int, float, float]:
        return x.get((s, n), 0), load[s, n], inst.running_version(s).service_rate_rps

    lat = [
        inst.latency_ms(i, n) + 1000 * mmc_mean_response(*queue(s, n))
        if x.get((s, n), 0) * queue(s, n)[2] > load[s, n]
        else math.inf
        for s, i, n, _ in streams
    ]
    latency = sum(r * v for (*_, r), v in zip(streams, lat, strict=True)) / served
    p95 = math.inf
    if math.isfinite(latency):

        def mix(t: float) -> float:
            return (
                sum(
                    r * mmc_response_tail((t - inst.latency_ms(i, n)) / 1000, *queue(s, n))
                    for s, i, n, r in streams
                )
                / served
            )

        lo, hi = 0.0, 1e9
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if mix(mid) > 0.05 else (lo, mid)
        p95 = (lo + hi) / 2
    on = dec.get("nodes_on", {})
    power = cost = 0.0
    for node in inst.topology.nodes:
        hosted = [s for s in inst.service_names if x.get((s, node.name), 0) > 0]
        cpu_busy = gpu_busy = 0.0
        for s in inst.service_names:
            v = inst.running_version(s)
            busy = load.get((s, node.name), 0.0) / v.service_rate_rps
            cpu_busy += v.cpu * busy
            gpu_busy += v.gpus * busy
            k = x.get((s, node.name), 0)
            cost += k * (v.cpu * node.cost_per_vcpu_hour + v.gpus * node.cost_per_gpu_hour)
        if on.get(node.name, bool(hosted)):
            power += node.idle_power_w + node.dynamic_power_w * cpu_busy / node.cpu
            if node.gpus:
                per_gpu = node.gpu_idle_power_w + node.gpu_dynamic_power_w * gpu_busy / node.gpus
                power += node.gpus * per_gpu
    return {"latency": latency, "p95_latency": p95, "power": power, "cost": cost}


REACHABLE = ["e1", "e2", "c1"]


# Rates near the smallest float make r * P(...) underflow in the naive sums, not in the
# evaluator, which works with r / sum r.
RATES = st.one_of(st.just(0.0), st.floats(1e-3, 6))


@st.composite
def served_decisions(draw: st.DrawFn) -> dict[str, Any]:
    replicas = {
        "web": {n: draw(st.integers(0, 3)) for n in ("e1", "e2")},
        "infer": {"c1": draw(st.integers(0, 2))},
    }
    routing: dict[str, Any] = {"web": {}, "infer": {}}
    for origin in ("s1", "s2"):
        routing["web"][origin] = {n: draw(RATES) for n in ("e1", "e2") if replicas["web"][n] > 0}
    routing["infer"]["s1"] = {"c1": draw(st.floats(0.1, 50))} if replicas["infer"]["c1"] else {}
    if not any(r for by in routing.values() for by_n in by.values() for r in by_n.values()):
        routing["web"]["s1"] = {"e1": 1.0}
        replicas["web"]["e1"] = max(1, replicas["web"]["e1"])
    dec: dict[str, Any] = {"replicas": replicas, "routing": routing}
    if draw(st.booleans()):
        dec["nodes_on"] = {n: draw(st.booleans()) for n in REACHABLE}
    return dec


@settings(max_examples=150, deadline=None)
@given(dec=served_decisions())
def test_agrees_with_naive_loops(dec: dict[str, Any]) -> None:
    inst = CAPPED_INST
    ev = evaluate_placement(inst, dec)
    want = naive(inst, dec)
    for name, value in want.items():
        got = ev.objectives[name]
        if math.isinf(value):
            assert math.isinf(got), name
        else:
            assert got == pytest.approx(value, rel=1e-9, abs=1e-9), name
    assert not any(math.isnan(v) for v in ev.objectives.values())
    json.dumps(ev.to_dict(), allow_nan=False)
