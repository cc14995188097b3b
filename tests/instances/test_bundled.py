"""Bundled instances: every one loads cleanly and round-trips; golden values of each."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from edgebound.instances import Instance, bundled, check, dumps, load, loads
from edgebound.instances.schema import TraceProfile


@pytest.mark.parametrize("name", bundled())
def test_bundled_loads_without_errors_or_warnings(name: str) -> None:
    inst = load(name)
    report = check(inst)
    assert report.errors == []
    assert report.warnings == []
    assert inst.name == name
    assert inst.description


@pytest.mark.parametrize("name", bundled())
def test_bundled_round_trips(name: str) -> None:
    inst = load(name)
    assert loads(dumps(inst)) == inst
    assert loads(dumps(inst, "json")) == inst


def test_both_bundled_instances_exist() -> None:
    assert {"gentzen-star4", "continuum-3edge-2cloud"} <= set(bundled())


# --------------------------------------------------------------------------- gentzen-star4


@pytest.mark.golden
def test_gentzen_star4_golden() -> None:
    inst = load("gentzen-star4")
    nodes = inst.topology.nodes
    assert [n.name for n in nodes] == ["E1", "E2", "E3", "E4"]
    assert all((n.cpu, n.ram_gb, n.disk_gb) == (16, 16, 1000) for n in nodes)
    assert inst.topology.master == "E1"
    assert inst.transmission_ms.tolist() == [0.0, 2.75, 7.25, 10.25]
    running = [inst.running_version(s) for s in inst.service_names]
    assert [v.cpu for v in running] == [1, 2, 3, 4, 5]
    assert [v.ram_gb for v in running] == [1, 1, 2, 2, 6]
    assert all(v.service_rate_rps == 100 for v in running)


# --------------------------------------------------------------------------- continuum


@pytest.fixture(scope="module")
def continuum() -> Instance:
    return load("continuum-3edge-2cloud")


def _edge_nodes(inst: Instance, cluster: str) -> list[str]:
    return [n.name for n in inst.topology.nodes if n.cluster == cluster]


CLUSTERS = {"edge-a": (10, 64, 1), "edge-b": (13, 80, 2), "edge-c": (16, 96, 3)}


@pytest.mark.golden
def test_continuum_clusters_and_regions(continuum: Instance) -> None:
    nodes = continuum.topology.nodes
    for cluster, (size, vcpu, gpus) in CLUSTERS.items():
        members = [n for n in nodes if n.cluster == cluster]
        assert len(members) == size
        assert sum(n.cpu for n in members) == vcpu
        assert sum(n.gpus for n in members) == gpus
        assert all(n.tier == "edge" and n.region == "eu" for n in members)
    clouds = [n for n in nodes if n.tier == "cloud"]
    assert [(n.name, n.region) for n in clouds] == [("cloud-eu", "eu"), ("cloud-us", "us")]
    assert all(n.cpu == 200 and n.gpus == 8 and n.cluster is None for n in clouds)
    assert len(nodes) == 10 + 13 + 16 + 2


@pytest.mark.golden
def test_continuum_latencies(continuum: Instance) -> None:
    sites = continuum.topology.sites
    assert len(sites) == 6
    for site in sites:
        cluster = site.name.rsplit("-", 1)[0]
        intra = [continuum.latency_ms(site.name, n) for n in _edge_nodes(continuum, cluster)]
        assert min(intra) == 5.0
        assert max(intra) == 15.0
        to_cloud = [continuum.latency_ms(site.name, c) for c in ("cloud-eu", "cloud-us")]
        assert all(20.0 <= x <= 40.0 for x in to_cloud)
        assert to_cloud[0] < to_cloud[1]
        # Other clusters are reachable, but only through a cloud region.
        others = [n.name for n in continuum.topology.nodes if n.cluster not in (None, cluster)]
        assert min(continuum.latency_ms(site.name, n) for n in others) > 40.0
    lat = continuum.site_node_latency_ms
    assert np.isfinite(lat).all()


@pytest.mark.golden
def test_continuum_power_caps_and_prices(continuum: Instance) -> None:
    edge = [n for n in continuum.topology.nodes if n.tier == "edge"]
    assert {n.power_cap_w for n in edge} == {160.0, 190.0, 220.0}
    gpu_caps = {n.gpu_power_cap_w for n in edge if n.gpus}
    assert gpu_caps == {120.0, 150.0, 180.0}
    assert all(n.gpu_power_cap_w is None for n in edge if not n.gpus)
    for cluster in CLUSTERS:
        members = [n for n in edge if n.cluster == cluster]
        assert len({n.power_cap_w for n in members}) == 1  # budgets are set per cluster
    clouds = [n for n in continuum.topology.nodes if n.tier == "cloud"]
    assert all(n.power_cap_w is None and n.gpu_power_cap_w is None for n in clouds)
    assert continuum.node("cloud-us").cost_per_vcpu_hour == 0.04
    assert continuum.node("cloud-us").cost_per_gpu_hour == 0.9
    assert all(n.cost_per_vcpu_hour < 0.04 for n in edge)


@pytest.mark.golden
def test_continuum_services_and_workload(continuum: Instance) -> None:
    assert continuum.service_names == (
        "cam-preprocess",
        "cam-detect",
        "cam-postfilter",
        "arvr-infer",
        "feature-extract",
        "model-refresh",
    )
    assert continuum.service("cam-detect").allowed_regions == ("eu",)
    assert continuum.service("cam-preprocess").allowed_regions == ("eu",)
    assert all(s.latency_slo_ms is not None for s in continuum.services)
    wl = continuum.workload
    assert (wl.step_s, wl.horizon_steps) == (300.0, 72)
    pol = continuum.policy
    assert pol.slo_quantile == 0.95
    assert pol.migration_budget == 60
    assert set(pol.weights) == {"latency", "energy", "cost", "dropped", "migrations"}
    assert pol.weights["dropped"] >= 10 * max(w for k, w in pol.weights.items() if k != "dropped")
    # A different trace shapes the latency-critical demands of each site.
    site_trace: dict[str, set[str]] = defaultdict(set)
    for d in wl.demands:
        if d.service in ("feature-extract", "model-refresh"):
            continue
        assert isinstance(d.profile, TraceProfile)
        assert d.site is not None
        site_trace[d.site].add(d.profile.trace)
    assert all(len(t) == 1 for t in site_trace.values())
    assert len(set().union(*site_trace.values())) == 6


def _busy_share(inst: Instance) -> dict[str, float]:
    busy = {"cpu": 0.0, "gpus": 0.0, "ram_gb": 0.0}
    for d in inst.workload.demands:
        v = inst.running_version(d.service)
        for r in busy:
            busy[r] += d.rate_rps / v.service_rate_rps * getattr(v, r)
    return {r: busy[r] / sum(getattr(n, r) for n in inst.topology.nodes) for r in busy}


@pytest.mark.golden
def test_continuum_mean_load(continuum: Instance) -> None:
    share = _busy_share(continuum)
    assert share["cpu"] == pytest.approx(337.5 / 640)
    assert share["gpus"] == pytest.approx(9.75 / 22, abs=1e-4)
    assert 0.4 <= share["cpu"] <= 0.6
    assert 0.4 <= share["gpus"] <= 0.6


def test_continuum_state_placement_serves_the_mean(continuum: Instance) -> None:
    """The initial placement fits every node and keeps each service stable at the mean."""
    pol = continuum.policy
    used: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(4))
    replicas: dict[str, int] = defaultdict(int)
    for r in continuum.state.placement:
        v = continuum.running_version(r.service)
        node = continuum.node(r.node)
        allowed = continuum.service(r.service).allowed_regions
        assert allowed is None or node.region in allowed
        used[r.node] += r.count * np.array([v.cpu, v.ram_gb, v.disk_gb, v.gpus])
        replicas[r.service] += r.count
    for name, u in used.items():
        n = continuum.node(name)
        assert (u <= np.array([n.cpu, n.ram_gb, n.disk_gb, n.gpus])).all(), name
    demand: dict[str, float] = defaultdict(float)
    for d in continuum.workload.demands:
        demand[d.service] += d.rate_rps
    for s in continuum.service_names:
        mu = continuum.running_version(s).service_rate_rps
        assert demand[s] <= pol.max_utilization * mu * replicas[s], s
