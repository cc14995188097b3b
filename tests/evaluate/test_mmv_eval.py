"""The MMV evaluator: hand-computed values, violations, decision errors, properties."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edgebound
from edgebound.errors import DecisionError
from edgebound.evaluate.common import Evaluation
from edgebound.evaluate.mmv import MMVDecision, evaluate_mmv, parse_mmv_decision
from edgebound.instances import Instance

INST = edgebound.load("gentzen-star4")
SERVICES = INST.service_names
NODES = INST.node_names
LABELS = ("0.0", "0.1", "0.2", "0.3", "1.0", "1.1")
RESOURCES = ("cpu", "ram_gb", "disk_gb", "gpus")


def one_on_e1() -> dict[str, Any]:
    return {"replicas": {s: {"E1": 1} for s in SERVICES}}


def with_policy(inst: Instance, **update: Any) -> Instance:
    return inst.model_copy(update={"policy": inst.policy.model_copy(update=update)})


def with_state(inst: Instance, **update: Any) -> Instance:
    return inst.model_copy(update={"state": inst.state.model_copy(update=update)})


def with_rates(inst: Instance, rates: dict[str, float]) -> Instance:
    demands = tuple(
        d.model_copy(update={"rate_rps": rates[d.service]}) for d in inst.workload.demands
    )
    workload = inst.workload.model_copy(update={"demands": demands})
    return inst.model_copy(update={"workload": workload})


def with_capacities(inst: Instance, caps: dict[str, dict[str, float]]) -> Instance:
    nodes = tuple(n.model_copy(update=caps.get(n.name, {})) for n in inst.topology.nodes)
    topology = inst.topology.model_copy(update={"nodes": nodes})
    return inst.model_copy(update={"topology": topology})


def kinds(ev: Evaluation) -> list[tuple[str, str]]:
    return [(v.constraint, v.where) for v in ev.violations]


# --------------------------------------------------------------------------- hand-computed


def test_hand_computed_example() -> None:
    decision = {
        "model": "mmv",
        "versions": {"model-1": "1.1"},
        "replicas": {
            "model-1": {"E1": 1},
            "model-2": {"E1": 1, "E2": 1},
            "model-3": {"E3": 1},
            "model-4": {"E1": 1},
            "model-5": {"E2": 1},
        },
    }
    ev = evaluate_mmv(INST, decision)
    assert ev.family == "mmv"
    assert ev.feasible, ev.violations
    svc = ev.details["services"]

    # Every service: lambda = 60 req/s, mu = 100 req/s, so processing = 1000/100 = 10 ms.
    # One replica: M/M/1, Wq = rho/(mu - lam) = 0.6/40 s = 15 ms.
    # Two replicas: a = 0.6, C(2, a) = a^2/(2 + a) = 0.36/2.6, Wq = C/(2*100 - 60) s
    #   = 1000 * 0.36 / (2.6 * 140) ms = 360/364 ms.
    wq2 = 360 / 364
    # Transmission to the master E1: E1 0, E2 2.75, E3 7.25, E4 10.25 ms.
    expected = {
        # v1.1 differs from the running 0.0: + spawn 10 ms x exposure 1
        "model-1": (10.0, 0.0, 10.0, 15.0),
        # replicas on E1 and E2: (0 + 2.75) / 2 = 1.375 ms
        "model-2": (10.0, 1.375, 0.0, wq2),
        "model-3": (10.0, 7.25, 0.0, 15.0),
        "model-4": (10.0, 0.0, 0.0, 15.0),
        "model-5": (10.0, 2.75, 0.0, 15.0),
    }
    for name, (proc, trans, spawn, queue) in expected.items():
        d = svc[name]
        assert d["processing_ms"] == pytest.approx(proc, abs=1e-12)
        assert d["transmission_ms"] == pytest.approx(trans, abs=1e-12)
        assert d["spawn_ms"] == pytest.approx(spawn, abs=1e-12)
        assert d["queueing_ms"] == pytest.approx(queue, rel=1e-12)
        assert d["delay_ms"] == pytest.approx(proc + trans + spawn + queue, rel=1e-12)
        assert d["arrival_rps"] == 60.0
    assert svc["model-1"]["updated"] is True
    assert svc["model-1"]["version"] == "1.1"
    assert [svc[s]["updated"] for s in SERVICES[1:]] == [False] * 4
    assert svc["model-2"]["utilization"] == pytest.approx(60 / 200)
    assert svc["model-2"]["replicas"] == {"E1": 1, "E2": 1}
    assert svc["model-2"]["total_replicas"] == 2

    # Equal rates, so O1..O4 are plain means over the five services.
    # O1 = (35 + (11.375 + 360/364) + 32.25 + 25 + 27.75) / 5
    o1 = (35 + 11.375 + wq2 + 32.25 + 25 + 27.75) / 5
    o2 = (0.5205 + 0.5 + 0.5 + 0.7 + 0.7) / 5  # = 0.5841
    o3 = (0.621 + 0.6 + 0.6 + 0.7 + 0.6) / 5  # = 0.6242
    o4 = (0.9055 + 4 * 0.9) / 5  # = 0.9011
    obj = ev.objectives
    assert obj["delay"] == pytest.approx(o1, rel=1e-12)
    assert obj["delay"] == pytest.approx(26.4728021978, rel=1e-10)
    assert obj["accuracy"] == pytest.approx(0.5841, rel=1e-12)
    assert obj["security"] == pytest.approx(o3, rel=1e-12)
    assert obj["reliability"] == pytest.approx(o4, rel=1e-12)
    assert obj["accuracy"] == pytest.approx(o2, rel=1e-12)
    # Weights 1, 10, 10, 10; reference delay = processing time of the running versions, 10 ms.
    assert ev.details["delay_ref_ms"] == pytest.approx(10.0)
    assert obj["weighted"] == pytest.approx(o1 / 10 - 10 * (o2 + o3 + o4), rel=1e-12)
    assert obj["weighted"] == pytest.approx(-18.4467197802, rel=1e-10)

    # Node usage: E1 hosts model-1 (1 vCPU, 1 GB), model-2 (2, 1), model-4 (4, 2); 10 GB disk each.
    nodes = ev.details["nodes"]
    assert nodes["E1"]["used"] == {"cpu": 7.0, "ram_gb": 4.0, "disk_gb": 30.0, "gpus": 0}
    assert nodes["E2"]["used"] == {"cpu": 7.0, "ram_gb": 7.0, "disk_gb": 20.0, "gpus": 0}
    assert nodes["E4"]["used"]["cpu"] == 0.0
    assert nodes["E3"]["capacity"] == {"cpu": 16.0, "ram_gb": 16.0, "disk_gb": 1000.0, "gpus": 0}
    assert ev.units["delay"] == "ms"
    assert ev.senses == {
        "delay": "min",
        "accuracy": "max",
        "security": "max",
        "reliability": "max",
        "weighted": "min",
    }


def test_running_versions_one_replica_each_on_e1() -> None:
    ev = evaluate_mmv(INST, one_on_e1())
    assert ev.feasible
    for name in SERVICES:
        d = ev.details["services"][name]
        assert d["version"] == "0.0"
        assert d["updated"] is False
        assert d["spawn_ms"] == 0.0
        # 10 ms processing + 0 transmission + 15 ms M/M/1 wait
        assert d["delay_ms"] == pytest.approx(25.0)
    assert ev.objectives["delay"] == pytest.approx(25.0)
    # E1 holds all five: 1+2+3+4+5 = 15 vCPU <= 16, 1+1+2+2+6 = 12 GB <= 16
    assert ev.details["nodes"]["E1"]["used"]["cpu"] == 15.0
    assert ev.details["nodes"]["E1"]["used"]["ram_gb"] == 12.0


def test_transmission_spreads_requests_evenly_over_replicas() -> None:
    ev = evaluate_mmv(INST, {"replicas": {"model-2": {"E1": 1, "E4": 3}}})
    assert ev.details["services"]["model-2"]["transmission_ms"] == pytest.approx(3 * 10.25 / 4)


def test_json_ready_even_with_infinite_delays() -> None:
    ev = evaluate_mmv(INST, {"replicas": {"model-1": {"E1": 1}}})
    assert not ev.feasible
    assert ev.objectives["delay"] == math.inf
    assert ev.objectives["weighted"] == math.inf
    d = ev.details["services"]["model-2"]
    assert d["queueing_ms"] == "inf"
    assert d["delay_ms"] == "inf"
    assert d["utilization"] == "inf"
    assert d["transmission_ms"] == 0.0
    text = json.dumps(ev.to_dict(), allow_nan=False)
    assert '"inf"' in text


# --------------------------------------------------------------------------- violations


def test_capacity_violation_amount_and_message() -> None:
    ev = evaluate_mmv(INST, {"versions": {"model-5": "1.0"}, "replicas": {"model-5": {"E3": 3}}})
    cap = [v for v in ev.violations if v.constraint.startswith("capacity")]
    # 3 x 6 GB = 18 GB > 16 GB; 3 x 5 vCPU = 15 <= 16; 3 x 10 GB disk <= 1000
    assert len(cap) == 1
    v = cap[0]
    assert (v.constraint, v.where, v.unit) == ("capacity.ram_gb", "node E3", "GB")
    assert v.amount == pytest.approx(2.0)
    assert "node E3 RAM: model-5 v1.0 6 GB × 3 replicas = 18 GB > 16 GB" in v.message


def test_capacity_violations_on_two_resources_list_every_service() -> None:
    decision = {"replicas": {"model-5": {"E3": 3}, "model-1": {"E3": 2}}}
    ev = evaluate_mmv(INST, decision)
    cap = {v.constraint: v for v in ev.violations if v.where == "node E3"}
    # cpu: 3*5 + 2*1 = 17 > 16; ram: 3*6 + 2*1 = 20 > 16
    assert cap["capacity.cpu"].amount == pytest.approx(1.0)
    assert cap["capacity.ram_gb"].amount == pytest.approx(4.0)
    # terms in the instance's service order
    assert "model-1 v0.0 1 vCPU × 2 replicas + model-5 v0.0 5 vCPU × 3 replicas = 17 vCPU" in (
        cap["capacity.cpu"].message
    )
    assert "capacity.disk_gb" not in cap


def test_gpu_capacity() -> None:
    data = INST.model_dump(mode="json")
    data["services"][0]["versions"][0]["gpus"] = 1
    data["topology"]["nodes"][1]["gpus"] = 1
    inst = edgebound.load(data)
    ev = evaluate_mmv(inst, {"replicas": {"model-1": {"E2": 2}}})
    gpu = [v for v in ev.violations if v.constraint == "capacity.gpus"]
    assert [(v.where, v.amount, v.unit) for v in gpu] == [("node E2", 1.0, "GPU")]
    assert ev.details["nodes"]["E2"]["used"]["gpus"] == 2


def test_absurd_replica_counts_are_evaluated() -> None:
    ev = evaluate_mmv(INST, {"replicas": {"model-1": {"E1": 10**12}}})
    cpu = next(v for v in ev.violations if v.constraint == "capacity.cpu")
    assert cpu.amount == pytest.approx(1e12 - 16)
    assert ev.details["services"]["model-1"]["queueing_ms"] == 0.0


def test_stability_violation_amounts() -> None:
    ev = evaluate_mmv(INST, {"replicas": {s: {"E1": 1} for s in SERVICES[1:]}})
    stab = [v for v in ev.violations if v.constraint == "stability"]
    # model-1 has no replica: 60 - 0.95 * 0 * 100 = 60 req/s
    assert [(v.where, v.amount, v.unit) for v in stab] == [("service model-1", 60.0, "req/s")]

    busy = with_rates(INST, {s: 200.0 for s in SERVICES})
    ev = evaluate_mmv(busy, {"replicas": {s: {"E1": 1, "E2": 1} for s in SERVICES}})
    stab = [v for v in ev.violations if v.constraint == "stability"]
    # 200 - 0.95 * 2 * 100 = 10 req/s (and the queue itself is unstable: 200 = 2 * 100)
    assert len(stab) == 5
    assert all(v.amount == pytest.approx(10.0) for v in stab)


def test_stability_holds_at_the_limit_and_queue_may_still_be_stable() -> None:
    inst = with_rates(INST, {s: 95.0 for s in SERVICES})
    ev = evaluate_mmv(inst, {"replicas": {s: {"E1": 1} for s in SERVICES}})
    assert not [v for v in ev.violations if v.constraint == "stability"]
    # Past max_utilization but below 1: a violation, yet the delay stays finite.
    inst = with_rates(INST, {s: 97.0 for s in SERVICES})
    ev = evaluate_mmv(inst, {"replicas": {s: {"E1": 1} for s in SERVICES}})
    stab = [v for v in ev.violations if v.constraint == "stability"]
    assert len(stab) == 5
    assert stab[0].amount == pytest.approx(2.0)
    # M/M/1 wait 0.97 / 3 s
    assert ev.details["services"]["model-1"]["queueing_ms"] == pytest.approx(1000 * 0.97 / 3)


def test_unreleased_version() -> None:
    inst = with_state(INST, time_s=650.0)
    ev = evaluate_mmv(inst, {**one_on_e1(), "versions": {"model-2": "1.1", "model-3": "1.0"}})
    assert kinds(ev) == [("version", "service model-2")]
    v = ev.violations[0]
    # released at 700 s, now is 650 s
    assert (v.amount, v.unit) == (50.0, "s")
    assert "released at 700 s" in v.message


def test_rollback_needs_permission() -> None:
    running = {s: "0.3" for s in SERVICES}
    inst = with_state(INST, running=running)
    decision = {**one_on_e1(), "versions": {"model-4": "0.1"}}
    ev = evaluate_mmv(inst, decision)
    assert kinds(ev) == [("version", "service model-4")]
    assert "allow_rollback" in ev.violations[0].message
    ev = evaluate_mmv(with_policy(inst, allow_rollback=True), decision)
    assert ev.feasible
    # moving back is a change too: it pays the spawn time
    assert ev.details["services"]["model-4"]["updated"] is True
    assert ev.details["services"]["model-4"]["spawn_ms"] == 10.0


def test_version_that_fits_nowhere() -> None:
    inst = with_capacities(INST, {n: {"ram_gb": 4.0} for n in NODES})
    ev = evaluate_mmv(inst, {"replicas": {s: {"E1": 1} for s in SERVICES[:4]}})
    version = [v for v in ev.violations if v.constraint == "version"]
    # model-5 needs 6 GB per replica: even its running version fits nowhere
    assert [v.where for v in version] == ["service model-5"]
    assert "fits on no node" in version[0].message


def test_residency() -> None:
    data = INST.model_dump(mode="json")
    for node, region in zip(data["topology"]["nodes"], ["eu", "eu", "us", "us"], strict=True):
        node["region"] = region
    data["services"][0]["allowed_regions"] = ["eu"]
    inst = edgebound.load(data)
    ev = evaluate_mmv(inst, {"replicas": {"model-1": {"E2": 1, "E3": 2}}})
    res = [v for v in ev.violations if v.constraint == "residency"]
    assert [(v.where, v.amount, v.unit) for v in res] == [
        ("service model-1 on node E3", 2.0, "replica")
    ]


# --------------------------------------------------------------------------- objectives


@pytest.mark.parametrize("exposure", [1.0, 0.25, 0.0])
@pytest.mark.parametrize("service", SERVICES)
def test_update_adds_exactly_the_exposed_spawn_time(service: str, exposure: float) -> None:
    inst = with_policy(INST, spawn_exposure=exposure)
    base = evaluate_mmv(inst, one_on_e1())
    moved = evaluate_mmv(inst, {**one_on_e1(), "versions": {service: "1.0"}})
    for name in SERVICES:
        before = base.details["services"][name]["delay_ms"]
        after = moved.details["services"][name]["delay_ms"]
        added = 10.0 * exposure if name == service else 0.0
        assert after - before == pytest.approx(added, abs=1e-12)
    assert moved.details["services"][service]["updated"] is True


def test_objectives_are_request_weighted() -> None:
    rates = {"model-1": 240.0, **{s: 60.0 for s in SERVICES[1:]}}
    inst = with_rates(INST, rates)
    decision = {
        "versions": {"model-1": "1.1"},
        "replicas": {"model-1": {"E1": 3, "E4": 1}, **{s: {"E2": 1} for s in SERVICES[1:]}},
    }
    ev = evaluate_mmv(inst, decision)
    assert ev.feasible
    # weights: 240/480 = 0.5 for model-1, 60/480 = 0.125 for each other service
    w = {"model-1": 0.5, **{s: 0.125 for s in SERVICES[1:]}}
    d = {s: ev.details["services"][s]["delay_ms"] for s in SERVICES}
    assert ev.objectives["delay"] == pytest.approx(sum(w[s] * d[s] for s in SERVICES), rel=1e-12)
    acc = {"model-1": 0.5205, "model-2": 0.5, "model-3": 0.5, "model-4": 0.7, "model-5": 0.7}
    assert ev.objectives["accuracy"] == pytest.approx(sum(w[s] * acc[s] for s in SERVICES))
    assert ev.objectives["accuracy"] != pytest.approx(sum(acc.values()) / 5)
    assert ev.objectives["delay"] != pytest.approx(sum(d.values()) / 5)


def test_zero_demand_weighs_services_equally() -> None:
    inst = with_rates(INST, {s: 0.0 for s in SERVICES})
    ev = evaluate_mmv(inst, {**one_on_e1(), "versions": {"model-1": "1.1"}})
    assert ev.feasible
    # no queueing: 10 ms processing everywhere, plus model-1's 10 ms spawn
    assert ev.objectives["delay"] == pytest.approx((20 + 4 * 10) / 5)
    assert ev.objectives["accuracy"] == pytest.approx((0.5205 + 0.5 + 0.5 + 0.7 + 0.7) / 5)


def test_service_without_demand_or_replicas_is_feasible_and_weightless() -> None:
    inst = with_rates(INST, {"model-1": 0.0, **{s: 60.0 for s in SERVICES[1:]}})
    ev = evaluate_mmv(inst, {"replicas": {s: {"E1": 1} for s in SERVICES[1:]}})
    assert ev.feasible
    assert ev.details["services"]["model-1"]["delay_ms"] == "inf"
    assert ev.objectives["delay"] == pytest.approx(25.0)
    assert ev.objectives["accuracy"] == pytest.approx((0.5 + 0.5 + 0.7 + 0.7) / 4)


def test_weighted_objective_normalization_and_missing_weights() -> None:
    decision = {**one_on_e1(), "versions": {"model-2": "1.0"}}
    ev = evaluate_mmv(with_policy(INST, delay_ref_ms=20.0, weights={"delay": 2.0}), decision)
    assert ev.details["delay_ref_ms"] == 20.0
    assert ev.objectives["weighted"] == pytest.approx(2.0 * ev.objectives["delay"] / 20.0)
    ev = evaluate_mmv(with_policy(INST, weights={"security": 3.0}), decision)
    assert ev.objectives["weighted"] == pytest.approx(-3.0 * ev.objectives["security"])
    # a delay of weight 0 does not make the sum infinite
    ev = evaluate_mmv(with_policy(INST, weights={"accuracy": 1.0}), {"versions": {}})
    assert ev.objectives["delay"] == math.inf
    assert ev.objectives["weighted"] == pytest.approx(-ev.objectives["accuracy"])


def test_default_reference_delay_is_weighted_running_processing_time() -> None:
    data = INST.model_dump(mode="json")
    data["services"][0]["versions"][0]["service_rate_rps"] = 50.0  # model-1 v0.0: 20 ms
    data["workload"]["demands"][0]["rate_rps"] = 240.0
    inst = edgebound.load(data)
    ev = evaluate_mmv(inst, {"replicas": {s: {"E1": 6} for s in SERVICES}})
    # 0.5 * 1000/50 + 4 * 0.125 * 1000/100 = 10 + 5
    assert ev.details["delay_ref_ms"] == pytest.approx(15.0)
    # choosing 1.0 (100 req/s) does not move the reference
    ev2 = evaluate_mmv(inst, {"versions": {"model-1": "1.0"}, "replicas": {"model-1": {"E1": 3}}})
    assert ev2.details["delay_ref_ms"] == pytest.approx(15.0)
    assert ev2.details["services"]["model-1"]["processing_ms"] == pytest.approx(10.0)


# --------------------------------------------------------------------------- decision errors


@pytest.mark.parametrize(
    ("decision", "path", "words"),
    [
        ({"versions": {"model-9": "1.0"}}, "versions.model-9", "known: model-1"),
        ({"versions": {"model-2": "9.9"}}, "versions.model-2", "known: 0.0, 0.1"),
        ({"versions": {"model-2": 1.0}}, "versions.model-2", "version label"),
        ({"versions": ["model-1"]}, "versions", "mapping"),
        ({"replicas": {"model-9": {"E1": 1}}}, "replicas.model-9", "known: model-1"),
        ({"replicas": {"model-1": {"E9": 1}}}, "replicas.model-1.E9", "known: E1, E2, E3, E4"),
        ({"replicas": {"model-1": {"E1": -1}}}, "replicas.model-1.E1", ">= 0"),
        ({"replicas": {"model-1": {"E1": 1.5}}}, "replicas.model-1.E1", "whole number"),
        ({"replicas": {"model-1": {"E1": True}}}, "replicas.model-1.E1", "whole number"),
        ({"replicas": {"model-1": {"E1": "2"}}}, "replicas.model-1.E1", "whole number"),
        ({"replicas": {"model-1": {"E1": math.nan}}}, "replicas.model-1.E1", "whole number"),
        ({"replicas": {"model-1": [1, 0]}}, "replicas.model-1", "mapping"),
        ({"replicas": 3}, "replicas", "mapping"),
        ({"replica": {}}, "replica", "did you mean 'replicas'"),
        ({"model": "placement"}, "model", "'mmv'"),
        (["mmv"], "decision", "mapping"),
    ],
)
def test_malformed_decisions(decision: Any, path: str, words: str) -> None:
    with pytest.raises(DecisionError) as info:
        evaluate_mmv(INST, decision)
    problems = info.value.problems
    assert [p.path for p in problems] == [path]
    assert words in problems[0].message
    assert path in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    decision = {
        "versions": {"model-2": "9.9", "model-7": "1.0"},
        "replicas": {"model-1": {"E9": 1, "E1": -2, "E2": 1}, "model-3": {"E1": 0.5}},
        "extra": 1,
    }
    with pytest.raises(DecisionError) as info:
        parse_mmv_decision(INST, decision)
    assert sorted(p.path for p in info.value.problems) == [
        "extra",
        "replicas.model-1.E1",
        "replicas.model-1.E9",
        "replicas.model-3.E1",
        "versions.model-2",
        "versions.model-7",
    ]
    assert str(info.value).startswith("6 problems in decision:")


def test_parse_completes_and_round_trips() -> None:
    decision = {
        "versions": {"model-3": "1.1"},
        "replicas": {"model-2": {"E3": np.int64(2), "E1": 1.0, "E2": 0}},
    }
    parsed = parse_mmv_decision(INST, decision)
    assert isinstance(parsed, MMVDecision)
    assert list(parsed.versions) == list(SERVICES)
    assert parsed.versions == {s: ("1.1" if s == "model-3" else "0.0") for s in SERVICES}
    assert parsed.replicas["model-2"] == {"E1": 1, "E3": 2}
    assert all(type(n) is int for n in parsed.replicas["model-2"].values())
    assert parsed.replicas["model-1"] == {}
    plain = parsed.to_dict()
    assert json.loads(json.dumps(plain)) == plain
    assert parse_mmv_decision(INST, plain) == parsed
    assert evaluate_mmv(INST, parsed).objectives == evaluate_mmv(INST, decision).objectives


# --------------------------------------------------------------------------- properties

decisions = st.fixed_dictionaries(
    {
        "versions": st.dictionaries(st.sampled_from(SERVICES), st.sampled_from(LABELS)),
        "replicas": st.dictionaries(
            st.sampled_from(SERVICES),
            st.dictionaries(st.sampled_from(NODES), st.integers(0, 4)),
        ),
    }
)
base_caps = st.fixed_dictionaries(
    {
        n: st.fixed_dictionaries({r: st.sampled_from([0.0, 2.0, 6.0, 16.0]) for r in RESOURCES})
        for n in NODES
    }
)
extra_caps = st.fixed_dictionaries(
    {
        n: st.fixed_dictionaries(
            {r: st.sampled_from([0.0, 0.5, 1.0, 4.0, 30.0]) for r in RESOURCES}
        )
        for n in NODES
    }
)


def _caps(caps: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    return {n: {**c, "gpus": int(c["gpus"])} for n, c in caps.items()}


@given(decision=decisions, base=base_caps, extra=extra_caps)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_more_capacity_never_adds_violations(
    decision: dict[str, Any], base: dict[str, dict[str, float]], extra: dict[str, dict[str, float]]
) -> None:
    small = with_capacities(INST, _caps(base))
    large_caps = {n: {r: base[n][r] + extra[n][r] for r in RESOURCES} for n in NODES}
    large = with_capacities(INST, _caps(large_caps))
    ev_small = evaluate_mmv(small, decision)
    ev_large = evaluate_mmv(large, decision)
    # A service can have several version violations, so compare those as a multiset; the
    # others are unique per (constraint, where) and must not grow.
    assert not Counter(kinds(ev_large)) - Counter(kinds(ev_small))
    small_amounts = {(v.constraint, v.where): v.amount for v in ev_small.violations}
    for v in ev_large.violations:
        if v.constraint != "version":
            assert v.amount <= small_amounts[(v.constraint, v.where)] + 1e-9
    # capacities do not enter the objectives
    assert ev_large.objectives == ev_small.objectives


@given(decision=decisions)
@settings(max_examples=200, deadline=None)
def test_evaluation_is_consistent(decision: dict[str, Any]) -> None:
    ev = evaluate_mmv(INST, decision)
    json.dumps(ev.to_dict(), allow_nan=False)
    for v in ev.violations:
        assert v.amount > 0
    svc = ev.details["services"]
    finite = [s for s in SERVICES if svc[s]["delay_ms"] != "inf"]
    for s in finite:
        d = svc[s]
        parts = d["processing_ms"] + d["transmission_ms"] + d["spawn_ms"] + d["queueing_ms"]
        assert d["delay_ms"] == pytest.approx(parts, rel=1e-12)
    if len(finite) == len(SERVICES):
        mean = sum(svc[s]["delay_ms"] for s in SERVICES) / len(SERVICES)
        assert ev.objectives["delay"] == pytest.approx(mean, rel=1e-12)
    else:
        assert ev.objectives["delay"] == math.inf
    # max_utilization < 1, so every service meeting the stability rule has a finite delay
    if all(v.constraint != "stability" for v in ev.violations):
        assert len(finite) == len(SERVICES)
    # parsing the completed form gives the same evaluation
    again = evaluate_mmv(INST, parse_mmv_decision(INST, decision).to_dict())
    assert again.objectives == ev.objectives
    assert kinds(again) == kinds(ev)
