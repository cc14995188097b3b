"""Seeded generators: determinism, sizes, validity and the feasibility certificate."""

from __future__ import annotations

import itertools
from collections import defaultdict

import numpy as np
import pytest

from edgebound.errors import InstanceError
from edgebound.evaluate import evaluate
from edgebound.instances import Instance, check, dumps, loads
from edgebound.instances.generators import SIZES, continuum_random, generate, mmv_random

CASES = [(kind, size) for kind in SIZES for size in SIZES[kind]]


@pytest.fixture(scope="module")
def instances() -> dict[tuple[str, str, int], Instance]:
    # Generated once and shared: the large sizes are the slowest part of this module.
    out = {}
    for kind, size in CASES:
        seeds = (0, 1) if size == "large" else range(6)
        for seed in seeds:
            out[kind, size, seed] = generate(kind, size, seed=seed)
    return out


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize(("kind", "size"), CASES)
def test_same_seed_same_instance(kind: str, size: str, instances: dict) -> None:
    inst = instances[kind, size, 0]
    again = generate(kind, size, seed=0)
    assert again == inst
    assert dumps(again) == dumps(inst)


@pytest.mark.parametrize(("kind", "size"), CASES)
def test_different_seeds_differ(kind: str, size: str, instances: dict) -> None:
    a, b = instances[kind, size, 0], instances[kind, size, 1]
    assert a.name != b.name
    assert a.model_copy(update={"name": "x", "description": ""}) != b.model_copy(
        update={"name": "x", "description": ""}
    )


def test_names() -> None:
    assert generate("mmv-random", "small", seed=3).name == "mmv-random-small-s3"
    assert generate("continuum-random", "medium", seed=0).name == "continuum-random-medium-s0"
    assert generate("mmv-random", seed=2, models=4).name == "mmv-random-k4-n3-v3-s2"
    assert mmv_random(2, 2, 2).name == "mmv-random-k2-n2-v2-s0"
    assert continuum_random(1, 2, 3, seed=5).name == "continuum-random-c1-n2-s3-s5"


def test_overrides_replace_size_arguments() -> None:
    inst = generate("continuum-random", "small", seed=0, services=5)
    assert len(inst.services) == 5
    assert sum(n.tier == "edge" for n in inst.topology.nodes) == 2 * 4


# --------------------------------------------------------------------------- validity, sizes


@pytest.mark.parametrize(("kind", "size"), CASES)
def test_valid_without_warnings_and_round_trips(kind: str, size: str, instances: dict) -> None:
    for (k, s, _), inst in instances.items():
        if (k, s) != (kind, size):
            continue
        report = check(inst)
        assert report.errors == []
        assert report.warnings == []
        assert loads(dumps(inst)) == inst


@pytest.mark.parametrize("size", list(SIZES["mmv-random"]))
def test_mmv_sizes(size: str, instances: dict) -> None:
    p = SIZES["mmv-random"][size]
    inst = instances["mmv-random", size, 0]
    assert len(inst.services) == p["models"]
    assert len(inst.topology.nodes) == p["nodes"]
    assert all(len(s.versions) == p["versions"] for s in inst.services)
    assert len(inst.workload.demands) == p["models"]


@pytest.mark.parametrize("size", list(SIZES["continuum-random"]))
def test_continuum_sizes(size: str, instances: dict) -> None:
    p = SIZES["continuum-random"][size]
    inst = instances["continuum-random", size, 0]
    edge = [n for n in inst.topology.nodes if n.tier == "edge"]
    clusters = {n.cluster for n in edge}
    assert len(clusters) == p["clusters"]
    assert all(sum(n.cluster == c for n in edge) == p["nodes"] for c in clusters)
    assert len(inst.services) == p["services"]
    assert 1 <= sum(n.tier == "cloud" for n in inst.topology.nodes) <= 2


def test_large_continuum_has_300_edge_nodes(instances: dict) -> None:
    inst = instances["continuum-random", "large", 0]
    assert sum(n.tier == "edge" for n in inst.topology.nodes) == 300


# --------------------------------------------------------------------------- MMV ranges


def _mmv_all(instances: dict) -> list[Instance]:
    return [inst for (kind, _, _), inst in instances.items() if kind == "mmv-random"]


def test_mmv_versions_improve_and_are_released(instances: dict) -> None:
    for inst in _mmv_all(instances):
        for svc in inst.services:
            vs = sorted(svc.versions, key=lambda v: v.key)
            assert vs[0].label == "0.0"
            assert inst.running_version(svc.name) == vs[0]
            assert inst.state.running[svc.name] == "0.0"
            for old, new in itertools.pairwise(vs):
                assert new.release_s > old.release_s
                before = (old.accuracy, old.security, old.reliability)
                after = (new.accuracy, new.security, new.reliability)
                assert all(b >= a for a, b in zip(before, after, strict=True))
                # Each release improves a score, unless the score it drew is already at 1.
                assert sum(after) > sum(before) or max(before) == 1.0
            assert max(v.release_s for v in vs) <= inst.state.time_s
            assert len(inst.candidate_versions(svc.name)) == len(vs)


def test_mmv_ranges(instances: dict) -> None:
    for inst in _mmv_all(instances):
        assert inst.topology.master == "E1"
        delays = inst.transmission_ms
        assert delays[0] == 0.0
        assert ((delays >= 0) & (delays <= 12)).all()
        assert all(link.source == "E1" for link in inst.topology.links)
        for svc in inst.services:
            v0 = inst.running_version(svc.name)
            assert v0.cpu in (1, 2, 3, 4, 5)
            assert v0.ram_gb in (1, 2, 4, 6)
            assert 0.5 <= v0.accuracy <= 0.7
            assert 0.6 <= v0.security <= 0.7
            assert 0.9 <= v0.reliability <= 0.92
            assert 80 <= v0.service_rate_rps <= 125
            assert svc.spawn_time_ms == 10.0


# --------------------------------------------------------------------------- certificates


def _certificate(inst: Instance) -> tuple[dict[str, int], dict[str, float]]:
    """Check the placement's capacity and residency directly; return replicas and demand."""
    used: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(4))
    replicas: dict[str, int] = defaultdict(int)
    for r in inst.state.placement:
        v = inst.running_version(r.service)
        node = inst.node(r.node)
        allowed = inst.service(r.service).allowed_regions
        assert allowed is None or node.region in allowed
        used[r.node] += r.count * np.array([v.cpu, v.ram_gb, v.disk_gb, v.gpus])
        replicas[r.service] += r.count
    for name, u in used.items():
        n = inst.node(name)
        assert (u <= np.array([n.cpu, n.ram_gb, n.disk_gb, n.gpus]) + 1e-9).all(), name
        if n.power_cap_w is not None:
            # Even with every allocated vCPU busy the node stays under its cap.
            assert n.idle_power_w + n.dynamic_power_w * u[0] / n.cpu <= n.power_cap_w + 1e-9
    demand: dict[str, float] = defaultdict(float)
    for d in inst.workload.demands:
        demand[d.service] += d.rate_rps
    return replicas, demand


@pytest.mark.parametrize("kind", list(SIZES))
def test_running_allocation_is_feasible(kind: str, instances: dict) -> None:
    for (k, _, _), inst in instances.items():
        if k != kind:
            continue
        replicas, demand = _certificate(inst)
        for s in inst.service_names:
            v = inst.running_version(s)
            assert replicas[s] >= 1
            load = demand[s] / (v.service_rate_rps * replicas[s])
            assert load <= inst.policy.max_utilization
            if kind == "mmv-random":
                assert 0.3 - 1e-6 <= load <= 0.8
            else:
                assert 0.5 - 1e-4 <= load <= 0.75
                gpu_nodes = [inst.node(r.node) for r in inst.state.placement if r.service == s]
                for n in gpu_nodes if v.gpus else []:
                    if n.gpu_power_cap_w is not None:
                        power = n.gpu_idle_power_w + n.gpu_dynamic_power_w * load
                        assert power <= n.gpu_power_cap_w


def test_mmv_certificate_passes_the_evaluator(instances: dict) -> None:
    for inst in _mmv_all(instances):
        reps: dict[str, dict[str, int]] = defaultdict(dict)
        for r in inst.state.placement:
            reps[r.service][r.node] = r.count
        result = evaluate(inst, {"model": "mmv", "replicas": dict(reps)})
        assert result.feasible, [v.message for v in result.violations]


def test_certificate_survives_crowded_arguments() -> None:
    # Far more services or models than nodes: the generators grow capacity instead of failing.
    for inst in (continuum_random(1, 2, 30, seed=4), mmv_random(60, 2, 2, seed=4)):
        replicas, demand = _certificate(inst)
        for s in inst.service_names:
            mu = inst.running_version(s).service_rate_rps
            assert demand[s] <= inst.policy.max_utilization * mu * replicas[s]


# --------------------------------------------------------------------------- continuum ranges


def test_continuum_ranges(instances: dict) -> None:
    for (kind, _, _), inst in instances.items():
        if kind != "continuum-random":
            continue
        nodes = inst.topology.nodes
        edge = [n for n in nodes if n.tier == "edge"]
        assert all(160 <= n.power_cap_w <= 220 for n in edge if n.power_cap_w is not None)
        assert all(120 <= n.gpu_power_cap_w <= 180 for n in edge if n.gpu_power_cap_w)
        assert all(n.cpu == 200 and n.gpus == 8 for n in nodes if n.tier == "cloud")
        for c in {n.cluster for n in edge}:
            assert 1 <= sum(n.gpus for n in edge if n.cluster == c) <= 3
        for site in inst.topology.sites:
            cluster = site.name.rsplit("-", 1)[0]
            for n in nodes:
                lat = inst.latency_ms(site.name, n.name)
                if n.cluster == cluster:
                    assert 5 <= lat <= 15
                elif n.tier == "cloud":
                    assert 20 <= lat <= 40
        assert inst.workload.step_s == 300 and inst.workload.horizon_steps == 72
        residency = [s for s in inst.services if s.allowed_regions is not None]
        assert all(s.allowed_regions == ("eu",) for s in residency)


# --------------------------------------------------------------------------- errors


def test_bad_kind() -> None:
    with pytest.raises(InstanceError) as info:
        generate("mmv", "small")
    (problem,) = info.value.problems
    assert problem.path == "kind"
    assert problem.value == "mmv"
    assert "'continuum-random', 'mmv-random'" in problem.message


def test_bad_size() -> None:
    with pytest.raises(InstanceError) as info:
        generate("continuum-random", "huge")
    (problem,) = info.value.problems
    assert problem.path == "size"
    assert problem.value == "huge"
    assert "'large', 'medium', 'small'" in problem.message


def test_bad_override() -> None:
    with pytest.raises(InstanceError) as info:
        generate("mmv-random", "small", modles=4)
    (problem,) = info.value.problems
    assert problem.path == "overrides"
    assert "did you mean 'models'" in problem.message


def test_bad_counts() -> None:
    with pytest.raises(InstanceError) as info:
        mmv_random(0, 2, 2)
    assert [p.path for p in info.value.problems] == ["models"]
    with pytest.raises(InstanceError) as info:
        continuum_random(2, 2.5, -1)  # type: ignore[arg-type]
    assert [p.path for p in info.value.problems] == ["nodes", "services"]
