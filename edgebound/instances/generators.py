"""Seeded random instances of both settings, in three sizes each.

:func:`mmv_random` draws ML-model versioning instances in the ranges of the versioning
paper's Tables II-III; :func:`continuum_random` draws edge-cloud placement instances in the
ranges of the continuum paper's setup (those of the bundled ``continuum-3edge-2cloud``).
:func:`generate` picks one of the :data:`SIZES` by name.

Every instance is feasible by construction: its ``state.placement`` is a replica allocation
of the running versions that respects every node's capacity (and, in the continuum, power
caps and data residency) and keeps each service's load ``lambda / (c mu)`` below
``policy.max_utilization``. The arrival rates are derived from that allocation, not the
other way round, so no search is needed and large sizes generate in a fraction of a second.

The same arguments always give the same instance (``==`` and identical ``dumps``).

Examples
--------
>>> sorted(SIZES["continuum-random"])
['large', 'medium', 'small']
>>> inst = generate("continuum-random", "large", seed=0)
>>> sum(n.tier == "edge" for n in inst.topology.nodes)
300
"""

from __future__ import annotations

import difflib
import math
from typing import Any

import numpy as np

from edgebound.errors import InstanceError, Problem
from edgebound.instances import traces
from edgebound.instances.io import load
from edgebound.instances.schema import Instance

__all__ = ["SIZES", "continuum_random", "generate", "mmv_random"]

SIZES: dict[str, dict[str, dict[str, int]]] = {
    "mmv-random": {
        "small": {"models": 3, "nodes": 3, "versions": 3},
        "medium": {"models": 10, "nodes": 8, "versions": 6},
        "large": {"models": 50, "nodes": 20, "versions": 20},
    },
    "continuum-random": {
        "small": {"clusters": 2, "nodes": 4, "services": 3},
        "medium": {"clusters": 3, "nodes": 10, "services": 8},
        "large": {"clusters": 10, "nodes": 30, "services": 20},
    },
}
"""Named sizes of each generator: keyword arguments of :func:`mmv_random` and
:func:`continuum_random`. ``continuum-random`` large has 300 edge nodes, the largest
deployment of the continuum paper's scalability study."""


def generate(kind: str, size: str = "small", seed: int = 0, **overrides: int) -> Instance:
    """Generate a random instance of a named kind and size.

    Parameters
    ----------
    kind : {"mmv-random", "continuum-random"}
        Which generator to use.
    size : {"small", "medium", "large"}
        Which entry of :data:`SIZES` gives the generator's arguments.
    seed : int
        Seed of the generator; the same seed gives the same instance.
    **overrides : int
        Arguments that replace those of the size (e.g. ``models=4``).

    Returns
    -------
    Instance
        Named ``<kind>-<size>-s<seed>``, or after the arguments when there are overrides.

    Raises
    ------
    InstanceError
        If ``kind``, ``size`` or an override is not known, naming the allowed values.

    Examples
    --------
    >>> inst = generate("mmv-random", "small", seed=3)
    >>> inst.name
    'mmv-random-small-s3'
    >>> generate("mmv-random", seed=3) == inst
    True
    >>> generate("mmv_random", "small")
    Traceback (most recent call last):
    ...
    edgebound.errors.InstanceError: 1 problem in instance:
      kind: 'mmv_random' must be one of 'continuum-random', 'mmv-random'; did you mean 'mmv-random'?
    """
    if kind not in SIZES:
        raise InstanceError([Problem("kind", kind, _one_of(kind, SIZES))])
    if size not in SIZES[kind]:
        raise InstanceError([Problem("size", size, _one_of(size, SIZES[kind]))])
    params = dict(SIZES[kind][size])
    bad = [
        Problem("overrides", key, _one_of(key, params)) for key in overrides if key not in params
    ]
    if bad:
        raise InstanceError(bad)
    params.update(overrides)
    name = None if overrides else f"{kind}-{size}-s{seed}"
    if kind == "mmv-random":
        return mmv_random(seed=seed, name=name, **params)
    return continuum_random(seed=seed, name=name, **params)


def _one_of(value: str, allowed: Any) -> str:
    names = sorted(allowed)
    close = difflib.get_close_matches(value, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return "must be one of " + ", ".join(repr(n) for n in names) + hint


def _check_counts(**counts: Any) -> None:
    bad = [
        Problem(key, value, "must be a whole number >= 1")
        for key, value in counts.items()
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1
    ]
    if bad:
        raise InstanceError(bad)


def _floor(x: float, decimals: int) -> float:
    # Rounding a rate down keeps the load of the constructed allocation below its bound.
    scale = 10.0**decimals
    return math.floor(x * scale) / scale


# --------------------------------------------------------------------------- MMV


def mmv_random(
    models: int, nodes: int, versions: int, seed: int = 0, *, name: str | None = None
) -> Instance:
    """A random ML-model versioning instance in the ranges of the versioning paper.

    ``models`` ML models, each with ``versions`` released versions ``x.y``, on ``nodes``
    nodes in a star around the master ``E1``.

    - Nodes: 8, 16 or 32 vCPU and GB RAM (Table II has 16 and 16), 1000 GB disk; the smallest
      nodes are enlarged until the cluster holds 2.5 times one replica of every model.
      Transmission delay to the master 0 for ``E1``, else uniform in 0-12 ms (Table II:
      0-10.25 ms).
    - Models: CPU 1-5 and RAM 1, 2, 4 or 6 GB (Table III: 1-5 and 1-6), disk 10 GB, spawn
      time 10 ms, a mean service time of about 10 ms (80-125 req/s). Initial accuracy
      0.5-0.7, security 0.6-0.7 and reliability 0.9-0.92, the low ends of Table III's ranges.
    - Versions: ``0.0`` first; each next one is a main version with probability 1/4 (+0.02
      accuracy and security, +0.005 reliability, service rate times 0.9-1.1, and with
      probability 1/4 one more vCPU) and otherwise a subversion (+0.0005 to one score).
      Scores never fall and stay <= 1. Release times grow by 30-600 s; ``state.time_s``
      is the last one, so every version is available.
    - State: every model runs its oldest version; ``state.placement`` is a replica
      allocation of those versions that fits every node (eqs 5-7).
    - Load: each model's arrival rate gives its allocation a load ``lambda / (c mu)`` drawn
      from 0.3-0.8, below the stability bound ``policy.max_utilization`` = 0.95.

    Parameters
    ----------
    models, nodes, versions : int
        Number of ML models, nodes and versions per model (each >= 1).
    seed : int
        Seed of ``numpy.random.default_rng``.
    name : str, optional
        Instance name; by default ``mmv-random-k<models>-n<nodes>-v<versions>-s<seed>``.

    Returns
    -------
    Instance

    Raises
    ------
    InstanceError
        If a count is not a whole number >= 1.

    Examples
    --------
    >>> inst = mmv_random(models=2, nodes=3, versions=4, seed=1)
    >>> len(inst.services), len(inst.topology.nodes), len(inst.services[0].versions)
    (2, 3, 4)
    >>> inst.topology.master
    'E1'
    """
    _check_counts(models=models, nodes=nodes, versions=versions)
    rng = np.random.default_rng(seed)
    name = name or f"mmv-random-k{models}-n{nodes}-v{versions}-s{seed}"

    # Models first: their sizes decide how large the nodes must be.
    cpu0 = rng.integers(1, 6, size=models)
    ram0 = rng.choice(np.array([1, 2, 4, 6]), size=models)
    mu0 = np.round(rng.uniform(80.0, 125.0, size=models), 1)
    services = []
    last_release = 0.0
    for k in range(models):
        vlist, last = _mmv_versions(rng, versions, int(cpu0[k]), int(ram0[k]), float(mu0[k]))
        last_release = max(last_release, last)
        services.append({"name": f"model-{k + 1}", "spawn_time_ms": 10.0, "versions": vlist})

    node_cpu = rng.choice(np.array([8.0, 16.0, 32.0]), size=nodes)
    node_ram = rng.choice(np.array([8.0, 16.0, 32.0]), size=nodes)
    # Enough room for one replica of every model, with slack so that packing cannot fail.
    for sizes, one_each in ((node_cpu, cpu0.sum()), (node_ram, ram0.sum())):
        while sizes.sum() < 2.5 * one_each:
            sizes[int(np.argmin(sizes))] *= 2.0
    delays = np.round(rng.uniform(0.0, 12.0, size=nodes) * 4.0) / 4.0
    node_names = [f"E{n + 1}" for n in range(nodes)]
    links = [
        {"source": "E1", "target": node_names[n], "latency_ms": float(delays[n])}
        for n in range(1, nodes)
    ]

    need = np.stack([cpu0.astype(float), ram0.astype(float), np.full(models, 10.0)], axis=1)
    fill = rng.uniform(0.5, 0.85)
    while True:
        cap = np.stack([node_cpu, node_ram, np.full(nodes, 1000.0)], axis=1)
        counts = _pack(rng, need, cap, np.ones((models, nodes), dtype=bool), fill * node_cpu.sum())
        if counts is not None:
            break
        # Fragmentation left a model without room: enlarge the smallest node and retry.
        smallest = int(np.argmin(node_cpu + node_ram))
        node_cpu[smallest] *= 2.0
        node_ram[smallest] *= 2.0

    node_list = [
        {
            "name": node_names[n],
            "cpu": float(node_cpu[n]),
            "ram_gb": float(node_ram[n]),
            "disk_gb": 1000.0,
        }
        for n in range(nodes)
    ]
    rho = rng.uniform(0.3, 0.8, size=models)
    total = counts.sum(axis=1)
    demands = [
        {"service": f"model-{k + 1}", "rate_rps": _floor(rho[k] * mu0[k] * total[k], 3)}
        for k in range(models)
    ]
    placement = [
        {"service": f"model-{k + 1}", "node": node_names[n], "count": int(counts[k, n])}
        for k in range(models)
        for n in range(nodes)
        if counts[k, n]
    ]
    description = (
        f"Random ML-model versioning instance (seed {seed}): {models} models with {versions} "
        f"versions each on a {nodes}-node star, in the ranges of the versioning paper's Tables "
        "II-III (see edgebound.instances.generators.mmv_random). Every model runs its oldest "
        "version; state.placement is a feasible allocation of those versions, and each model's "
        "arrival rate loads its allocation to 30-80 %."
    )
    data = {
        "name": name,
        "description": description,
        "topology": {"master": "E1", "nodes": node_list, "links": links},
        "services": services,
        "workload": {"demands": demands},
        "state": {
            "running": {s["name"]: "0.0" for s in services},
            "placement": placement,
            "time_s": last_release,
        },
    }
    return load(data)


def _mmv_versions(
    rng: np.random.Generator, n: int, cpu: int, ram: int, mu: float
) -> tuple[list[dict[str, Any]], float]:
    acc = round(float(rng.uniform(0.5, 0.7)), 4)
    sec = round(float(rng.uniform(0.6, 0.7)), 4)
    rel = round(float(rng.uniform(0.9, 0.92)), 4)
    major, minor, release = 0, 0, 0.0
    out = []
    for j in range(n):
        if j > 0:
            release += float(rng.integers(30, 601))
            if rng.random() < 0.25:
                major, minor = major + 1, 0
                acc, sec, rel = acc + 0.02, sec + 0.02, rel + 0.005
                mu = round(mu * float(rng.uniform(0.9, 1.1)), 1)
                if rng.random() < 0.25:
                    cpu = min(cpu + 1, 6)
            else:
                minor += 1
                which = int(rng.integers(3))
                acc += 0.0005 * (which == 0)
                sec += 0.0005 * (which == 1)
                rel += 0.0005 * (which == 2)
            acc, sec, rel = (round(min(x, 1.0), 4) for x in (acc, sec, rel))
        out.append(
            {
                "major": major,
                "minor": minor,
                "cpu": float(cpu),
                "ram_gb": float(ram),
                "disk_gb": 10.0,
                "service_rate_rps": mu,
                "accuracy": acc,
                "security": sec,
                "reliability": rel,
                "release_s": release,
            }
        )
    return out, release


def _pack(
    rng: np.random.Generator,
    need: np.ndarray,
    cap: np.ndarray,
    allowed: np.ndarray,
    target_cpu: float,
    weight: np.ndarray | None = None,
) -> np.ndarray | None:
    """Replica counts (services x nodes) that fit ``cap``: one per service, then random ones.

    ``need`` is (services x resources), ``cap`` (nodes x resources), column 0 being vCPU;
    ``allowed`` (services x nodes) says where a service may run. Replicas are added until
    ``target_cpu`` vCPUs are allocated or nothing more fits. None when some service cannot
    get its first replica.
    """
    free = cap.astype(float).copy()
    counts = np.zeros(allowed.shape, dtype=int)

    def place(s: int) -> bool:
        ok = allowed[s] & np.all(free >= need[s] - 1e-9, axis=1)
        if not ok.any():
            return False
        n = int(rng.choice(np.flatnonzero(ok)))
        free[n] -= need[s]
        counts[s, n] += 1
        return True

    # Largest first, so that the big replicas find room before the small ones fragment it.
    for s in np.argsort(-need[:, 0], kind="stable"):
        if not place(int(s)):
            return None
    p = None if weight is None else weight / weight.sum()
    misses = 0
    while cap[:, 0].sum() - free[:, 0].sum() < target_cpu and misses < 50:
        s = int(rng.choice(len(need), p=p))
        misses = 0 if place(s) else misses + 1
    return counts


# --------------------------------------------------------------------------- continuum

# Service kinds of the continuum paper's workload mix (§5.2), as in continuum-3edge-2cloud:
# vCPU, RAM GB, disk GB, GPUs, service rate req/s, spawn ms, raw-data residency.
_KINDS: dict[str, tuple[float, float, float, int, float, float, bool]] = {
    "preprocess": (1.0, 2.0, 2.0, 0, 50.0, 2000.0, True),
    "detect": (2.0, 8.0, 10.0, 1, 100.0, 15000.0, True),
    "postfilter": (0.5, 1.0, 1.0, 0, 200.0, 1000.0, False),
    "arvr": (2.0, 12.0, 10.0, 1, 100.0, 20000.0, False),
    "features": (4.0, 8.0, 50.0, 0, 1.0, 5000.0, False),
    "refresh": (4.0, 32.0, 100.0, 1, 1.0 / 60.0, 30000.0, False),
}
# Traces that are neither too spiky (the ELB counts) nor too sparse (CRM, IBM) to shape
# 5-minute loads.
_TRACES = (
    "Twitter_volume_AAPL",
    "Twitter_volume_AMZN",
    "Twitter_volume_FB",
    "Twitter_volume_GOOG",
    "Twitter_volume_KO",
    "nyc_taxi",
)
_CLOUDS = (("cloud-eu", "eu", 0.044, 0.99), ("cloud-us", "us", 0.04, 0.9))
_NODE_TYPES = {  # vCPU, RAM GB, disk GB, idle W, dynamic W
    "small": (4.0, 16.0, 256.0, 40.0, 80.0),
    "large": (8.0, 32.0, 512.0, 60.0, 120.0),
    "gpu": (8.0, 64.0, 1000.0, 70.0, 130.0),
}


def continuum_random(
    clusters: int, nodes: int, services: int, seed: int = 0, *, name: str | None = None
) -> Instance:
    """A random edge-cloud placement instance in the ranges of the continuum paper.

    ``clusters`` edge clusters of ``nodes`` edge nodes each, one or two cloud regions and
    ``services`` services, with the field ranges of the bundled ``continuum-3edge-2cloud``.

    - Edge nodes: 4-vCPU/16 GB or 8-vCPU/32 GB nodes (so 10-16 nodes hold about 64-96 vCPUs),
      and 1-3 GPU hosts per cluster (8 vCPU, 64 GB, one A10-class GPU). Power 40+80,
      60+120 and 70+130 W idle+dynamic, GPUs 20+130 W. Caps per cluster: 160-220 W per
      node, 120-180 W per GPU. 0.01 USD per vCPU-hour and 0.25 per GPU-hour.
    - Cloud: ``cloud-eu`` (region eu) and, with probability 1/2, ``cloud-us`` (region us),
      each one pool of 200 vCPU, 800 GB and 8 GPUs, priced 0.044/0.99 and 0.04/0.90 USD.
      The first cluster is in eu, the others in a random cloud region. When far more services
      than nodes leave some service without room, the cloud pools are doubled until it fits.
    - Sites: 1-2 per cluster, 5-15 ms to each node of their cluster, 20-30 ms to the cloud
      region of their own region and 30-40 ms to the other.
    - Services: the six kinds of the bundled instance (camera pre-processing, detection and
      post-filtering, AR/VR inference, feature extraction, model refresh), needs scaled by
      0.75-1.25 and service rates by 0.8-1.25. Pre-processing and detection keep raw data in
      the first cluster's region. The latency SLO is ``15 / mu + 50 ms``: the 95th
      percentile of one replica at 80 % load behind the slowest edge or cloud path (40 ms).
    - Workload: each site asks for about half of the services it may use; 80 % of the demands
      follow the trace of their site (distinct traces while there are enough; random start),
      the rest a seeded daily cycle.
    - Feasibility: ``state.placement`` holds 55-80 % of the vCPUs that the power caps allow;
      each service's mean rate loads its replicas to 50-75 %, below ``max_utilization`` 0.9
      and below the GPU caps' limit. The placement respects capacity, power caps and
      residency.
    - Policy and horizon as in the bundled instance: 72 steps of 300 s, weights latency 1,
      energy 20, cost 1, dropped 1000, migrations 0.5, and a migration budget of 10 replicas
      per service and step.

    Parameters
    ----------
    clusters, nodes, services : int
        Number of edge clusters, edge nodes per cluster and services (each >= 1).
    seed : int
        Seed of ``numpy.random.default_rng``.
    name : str, optional
        Instance name; by default ``continuum-random-c<clusters>-n<nodes>-s<services>-s<seed>``.

    Returns
    -------
    Instance

    Raises
    ------
    InstanceError
        If a count is not a whole number >= 1.

    Examples
    --------
    >>> inst = continuum_random(clusters=2, nodes=4, services=3, seed=0)
    >>> sum(n.tier == "edge" for n in inst.topology.nodes)
    8
    >>> len(inst.services)
    3
    """
    _check_counts(clusters=clusters, nodes=nodes, services=services)
    rng = np.random.default_rng(seed)
    name = name or f"continuum-random-c{clusters}-n{nodes}-s{services}-s{seed}"

    clouds = _CLOUDS[: 1 + int(rng.integers(2))]
    regions = [c[1] for c in clouds]
    width = max(2, len(str(nodes)))

    node_list: list[dict[str, Any]] = []
    cluster_of: list[int] = []
    usable_cpu: list[float] = []
    site_list: list[dict[str, Any]] = []
    site_cluster: list[int] = []
    links: list[dict[str, Any]] = []
    for c in range(clusters):
        cname = f"edge-{c + 1}"
        region = "eu" if c == 0 else regions[int(rng.integers(len(regions)))]
        gpus = min(int(rng.integers(1, 4)), nodes)
        cap_w = float(10 * rng.integers(16, 23))
        gpu_cap_w = float(10 * rng.integers(12, 19))
        kinds = ["gpu"] * gpus + [
            "large" if rng.random() < 0.5 else "small" for _ in range(nodes - gpus)
        ]
        for j, kind in enumerate(kinds):
            cpu, ram, disk, idle, dyn = _NODE_TYPES[kind]
            node: dict[str, Any] = {
                "name": f"{cname}-{j + 1:0{width}d}",
                "tier": "edge",
                "cluster": cname,
                "region": region,
                "cpu": cpu,
                "ram_gb": ram,
                "disk_gb": disk,
                "idle_power_w": idle,
                "dynamic_power_w": dyn,
                "power_cap_w": cap_w,
                "cost_per_vcpu_hour": 0.01,
            }
            if kind == "gpu":
                node.update(
                    gpus=1,
                    gpu_idle_power_w=20.0,
                    gpu_dynamic_power_w=130.0,
                    gpu_power_cap_w=gpu_cap_w,
                    cost_per_gpu_hour=0.25,
                )
            node_list.append(node)
            cluster_of.append(c)
            # vCPUs a placement may allocate without the node exceeding its power cap at
            # full load: a safe bound whatever the replicas' actual utilization.
            usable_cpu.append(min(cpu, math.floor(2 * (cap_w - idle) / dyn * cpu) / 2))
        for m in range(1 + int(rng.integers(2))):
            sname = f"{cname}-s{m + 1}"
            site_list.append({"name": sname, "region": region})
            site_cluster.append(c)
            first = len(node_list) - nodes
            for j in range(nodes):
                lat = round(float(rng.uniform(5.0, 15.0)), 1)
                links.append(
                    {"source": sname, "target": node_list[first + j]["name"], "latency_ms": lat}
                )
            for cloud, cregion, _, _ in clouds:
                lo = 20.0 if cregion == region else 30.0
                lat = round(float(rng.uniform(lo, lo + 10.0)), 1)
                links.append({"source": sname, "target": cloud, "latency_ms": lat})
    for cloud, cregion, price_cpu, price_gpu in clouds:
        node_list.append(
            {
                "name": cloud,
                "tier": "cloud",
                "region": cregion,
                "cpu": 200.0,
                "ram_gb": 800.0,
                "disk_gb": 20000.0,
                "gpus": 8,
                "idle_power_w": 400.0,
                "dynamic_power_w": 800.0,
                "gpu_idle_power_w": 20.0,
                "gpu_dynamic_power_w": 130.0,
                "cost_per_vcpu_hour": price_cpu,
                "cost_per_gpu_hour": price_gpu,
            }
        )
        cluster_of.append(-1)
        usable_cpu.append(200.0)

    # Services: every kind once (in random order) before any repeats.
    kind_names = list(_KINDS)
    order = [kind_names[i] for i in rng.permutation(len(kind_names))]
    chosen = [
        order[i] if i < len(order) else kind_names[int(rng.integers(len(order)))]
        for i in range(services)
    ]
    svc_list: list[dict[str, Any]] = []
    need = np.zeros((services, 4))
    mu = np.zeros(services)
    resident = np.zeros(services, dtype=bool)
    for i, kind in enumerate(chosen):
        cpu, ram, disk, gpus, rate, spawn, res = _KINDS[kind]
        cpu = max(0.5, round(cpu * float(rng.uniform(0.75, 1.25)) * 2) / 2)
        ram = max(1.0, float(round(ram * float(rng.uniform(0.75, 1.25)))))
        rate = float(f"{rate * float(rng.uniform(0.8, 1.25)):.4g}")
        svc: dict[str, Any] = {
            "name": f"{kind}-{i + 1}",
            "spawn_time_ms": spawn,
            "latency_slo_ms": float(round(15000.0 / rate + 50.0)),
            "versions": [
                {
                    "major": 1,
                    "minor": 0,
                    "cpu": cpu,
                    "ram_gb": ram,
                    "disk_gb": disk,
                    "gpus": gpus,
                    "service_rate_rps": rate,
                }
            ],
        }
        if res:
            svc["allowed_regions"] = ["eu"]
        svc_list.append(svc)
        need[i] = (cpu, ram, disk, gpus)
        mu[i] = rate
        resident[i] = res

    # Demands: who asks for what.
    n_sites = len(site_list)
    may = np.array(
        [
            [not resident[s] or site_list[i]["region"] == "eu" for i in range(n_sites)]
            for s in range(services)
        ]
    )
    asks = may & (rng.random((services, n_sites)) < 0.5)
    for s in range(services):
        if not asks[s].any():
            asks[s, int(rng.choice(np.flatnonzero(may[s])))] = True
    for i in range(n_sites):
        if not asks[:, i].any() and may[:, i].any():
            asks[int(rng.choice(np.flatnonzero(may[:, i]))), i] = True

    # The certificate: replicas near the sites that ask, within capacity and power caps.
    node_region = np.array([n["region"] for n in node_list])
    cap = np.array(
        [
            [usable_cpu[j], n["ram_gb"], n["disk_gb"], n.get("gpus", 0)]
            for j, n in enumerate(node_list)
        ]
    )
    asked_clusters = [{site_cluster[i] for i in np.flatnonzero(asks[s])} for s in range(services)]
    allowed = np.array(
        [
            [
                (not resident[s] or node_region[j] == "eu")
                and (cluster_of[j] == -1 or cluster_of[j] in asked_clusters[s])
                for j in range(len(node_list))
            ]
            for s in range(services)
        ]
    )
    fill = rng.uniform(0.55, 0.8)
    weight = 1.0 + need[:, 0]
    counts = _pack(rng, need, cap, allowed, fill * cap[:, 0].sum(), weight)
    while counts is None:
        # Many services on few nodes: grow the cloud pools until each service gets a replica.
        for j, node in enumerate(node_list):
            if node["tier"] == "cloud":
                for key in ("cpu", "ram_gb", "disk_gb", "gpus"):
                    node[key] *= 2
                cap[j] *= 2
        counts = _pack(rng, need, cap, allowed, fill * cap[:, 0].sum(), weight)

    # Rates from the certificate: 50-75 % load keeps a GPU under its 120 W cap (at most
    # (120 - 20) / 130 = 77 % busy) and the service under max_utilization.
    rho = rng.uniform(0.5, 0.75, size=services)
    total = rho * mu * counts.sum(axis=1)
    site_trace = [_TRACES[i % len(_TRACES)] for i in rng.permutation(max(n_sites, len(_TRACES)))]
    demands = []
    for s in range(services):
        sites = np.flatnonzero(asks[s])
        share = rng.uniform(0.5, 1.5, size=len(sites))
        share /= share.sum()
        for site, w in zip(sites.tolist(), share, strict=True):
            demand: dict[str, Any] = {
                "service": svc_list[s]["name"],
                "site": site_list[site]["name"],
                "rate_rps": _floor(total[s] * w, 6),
            }
            if rng.random() < 0.8:
                trace = site_trace[site]
                demand["profile"] = {
                    "kind": "trace",
                    "trace": trace,
                    "start": int(rng.integers(traces.length(trace))),
                }
            else:
                demand["profile"] = {
                    "kind": "generator",
                    "seed": int(rng.integers(2**31)),
                    "amplitude": round(float(rng.uniform(0.2, 0.6)), 2),
                    "noise": 0.1,
                    "burst_prob": 0.01,
                }
            demands.append(demand)

    names = [n["name"] for n in node_list]
    placement = [
        {"service": svc_list[s]["name"], "node": names[j], "count": int(counts[s, j])}
        for s in range(services)
        for j in range(len(names))
        if counts[s, j]
    ]
    description = (
        f"Random edge-cloud continuum instance (seed {seed}): {clusters} edge clusters of "
        f"{nodes} nodes, {len(clouds)} cloud region(s), {services} services, in the field ranges "
        "of continuum-3edge-2cloud (see edgebound.instances.generators.continuum_random). "
        "state.placement is a feasible allocation at the mean rates, which load it to 50-75 %."
    )
    data = {
        "name": name,
        "description": description,
        "topology": {"nodes": node_list, "sites": site_list, "links": links},
        "services": svc_list,
        "workload": {"demands": demands, "step_s": 300.0, "horizon_steps": 72},
        "policy": {
            "weights": {
                "latency": 1.0,
                "energy": 20.0,
                "cost": 1.0,
                "dropped": 1000.0,
                "migrations": 0.5,
            },
            "max_utilization": 0.9,
            "slo_quantile": 0.95,
            # The continuum paper's 2 migrations per minute per service, over a 5-minute step.
            "migration_budget": 10 * services,
        },
        "state": {"running": {s["name"]: "1.0" for s in svc_list}, "placement": placement},
    }
    return load(data)
