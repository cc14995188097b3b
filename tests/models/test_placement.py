"""The static placement MILP against brute force and the independent evaluator."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
from scipy.optimize import linprog

from edgebound import bounds
from edgebound.errors import SolverError
from edgebound.evaluate.placement import _data
from edgebound.evaluate.queueing import mmc_response_quantile
from edgebound.instances import Instance, load
from edgebound.instances.generators import generate
from edgebound.models import placement
from edgebound.models._placement_core import _structure, replica_floors
from edgebound.solvers import Termination, diagnose, lp_relaxation, solve

WEIGHTS = {"energy": 20.0, "cost": 1.0, "dropped": 1000.0, "migrations": 0.5}


def tiny(seed: int) -> Instance:
    """A random instance small enough to enumerate every replica vector."""
    rng = np.random.default_rng(seed)
    n_svc = int(rng.integers(1, 3))
    n_nodes = 2 if n_svc == 2 else 3
    n_sites = int(rng.integers(1, 3))
    nodes = []
    for k in range(n_nodes):
        node: dict[str, Any] = {
            "name": f"N{k}",
            "cpu": float(rng.choice([2.0, 3.0])),
            "ram_gb": 8.0,
            "region": "eu" if k < 2 else "us",
            "idle_power_w": float(rng.choice([10.0, 30.0])),
            "dynamic_power_w": float(rng.choice([20.0, 60.0])),
            "cost_per_vcpu_hour": float(rng.choice([0.01, 0.05])),
        }
        if rng.random() < 0.5:
            node["power_cap_w"] = node["idle_power_w"] + float(rng.choice([15.0, 40.0]))
        nodes.append(node)
    sites = [{"name": f"S{j}"} for j in range(n_sites)]
    links = [
        {"source": f"S{j}", "target": f"N{k}", "latency_ms": float(rng.choice([2.0, 10.0, 30.0]))}
        for j in range(n_sites)
        for k in range(n_nodes)
    ]
    services, demands, placement_prev = [], [], []
    for s in range(n_svc):
        mu = float(rng.choice([5.0, 10.0, 20.0]))
        svc: dict[str, Any] = {
            "name": f"w{s}",
            "versions": [
                {
                    "major": 1,
                    "cpu": float(rng.choice([1.0, 2.0])),
                    "ram_gb": 1.0,
                    "service_rate_rps": mu,
                }
            ],
        }
        if rng.random() < 0.7:
            svc["latency_slo_ms"] = float(rng.choice([700.0, 1000.0]))
        if rng.random() < 0.3:
            svc["allowed_regions"] = ["eu"]
        services.append(svc)
        for j in range(n_sites):
            if j == 0 or rng.random() < 0.6:
                demands.append(
                    {"service": f"w{s}", "site": f"S{j}", "rate_rps": float(rng.uniform(1, 12))}
                )
        if rng.random() < 0.5:
            placement_prev.append({"service": f"w{s}", "node": "N0", "count": 1})
    return load(
        {
            "name": f"tiny-{seed}",
            "topology": {"nodes": nodes, "sites": sites, "links": links},
            "services": services,
            "workload": {"demands": demands},
            "policy": {
                "weights": dict(WEIGHTS),
                "max_utilization": 0.9,
                "migration_budget": int(rng.choice([1, 3])),
            },
            "state": {"placement": placement_prev},
        }
    )


def _limit(c: int, mu: float, budget_ms: float, rho: float) -> float:
    """Largest admissible load by plain bisection on the scalar quantile (independent)."""
    if c == 0:
        return 0.0
    if math.log(20.0) / mu * 1000.0 >= budget_ms:
        return 0.0
    hi = rho * c * mu
    if 1000.0 * mmc_response_quantile(0.95, c, hi, mu) <= budget_ms:
        return hi
    lo = 0.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if 1000.0 * mmc_response_quantile(0.95, c, mid, mu) <= budget_ms:
            lo = mid
        else:
            hi = mid
    return lo


def brute_force(inst: Instance, objective: str, serve_all: bool) -> float:
    """Optimum by enumerating replicas and each queue's farthest served origin, then an LP."""
    return min(replica_table(inst, objective, serve_all).values(), default=math.inf)


def replica_table(
    inst: Instance, objective: str, serve_all: bool, *, migrations: bool = True
) -> dict[tuple[int, ...], float]:
    """Best value of every feasible replica vector (an LP per choice of served origins).

    With ``migrations`` the migration budget against ``state.placement`` applies and
    migrations count in the objective; without, both are left out (one period of a
    schedule, whose migrations are counted between periods).
    """
    services = inst.service_names
    nodes = inst.topology.nodes
    sites = inst.site_names
    S, N, n_orig = len(services), len(nodes), len(sites)
    lam = np.zeros((S, n_orig))
    for dem in inst.workload.demands:
        lam[services.index(dem.service), sites.index(dem.site)] = dem.rate_rps
    ver = [inst.running_version(s) for s in services]
    mu = np.array([v.service_rate_rps for v in ver])
    cpu = np.array([v.cpu for v in ver])
    rho = inst.policy.max_utilization
    net = inst.site_node_latency_ms
    prev = np.zeros((S, N))
    for rep in inst.state.placement:
        prev[services.index(rep.service), inst.node_names.index(rep.node)] += rep.count
    allowed = np.array(
        [
            [svc.allowed_regions is None or n.region in svc.allowed_regions for n in nodes]
            for svc in inst.services
        ]
    )
    per_node = [
        [int(n.cpu // cpu[s]) if allowed[s, k] else 0 for k, n in enumerate(nodes)]
        for s in range(S)
    ]
    pairs = [(s, k) for s in range(S) for k in range(N)]
    streams = [
        (s, i, k) for s in range(S) for i in range(n_orig) for k in range(N) if lam[s, i] > 0
    ]
    total = lam.sum()
    out: dict[tuple[int, ...], float] = {}
    for xs in itertools.product(*(range(per_node[s][k] + 1) for s, k in pairs)):
        x = np.array(xs).reshape(S, N)
        if ((x * cpu[:, None]).sum(axis=0) > [n.cpu for n in nodes]).any():
            continue
        started = 0
        if migrations:
            started = int(np.maximum(0, x - prev).sum())
            budget = inst.policy.migration_budget
            if budget is not None and started > budget:
                continue
        on = x.sum(axis=0) > 0
        idle = np.array([n.idle_power_w if on[k] else 0.0 for k, n in enumerate(nodes)])
        if any(n.power_cap_w is not None and idle[k] > n.power_cap_w for k, n in enumerate(nodes)):
            continue
        cost = sum(
            x[s, k] * cpu[s] * nodes[k].cost_per_vcpu_hour for s in range(S) for k in range(N)
        )
        # for each queue: which origins may route there (all whose limit covers the load)
        choices = []
        for s, k in pairs:
            slo = inst.services[s].latency_slo_ms
            origins = [i for i in range(n_orig) if lam[s, i] > 0 and x[s, k] > 0]
            if slo is None:
                choices.append([(tuple(origins), rho * x[s, k] * mu[s])])
                continue
            opts = []
            for b in sorted({slo - net[i, k] for i in origins}, reverse=True):
                ok = tuple(i for i in origins if slo - net[i, k] >= b)
                opts.append((ok, _limit(int(x[s, k]), mu[s], b, rho)))
            choices.append(opts or [((), 0.0)])
        best = math.inf
        for combo in itertools.product(*choices):
            best = min(
                best,
                _lp(
                    inst,
                    combo,
                    pairs,
                    streams,
                    lam,
                    mu,
                    cpu,
                    on,
                    idle,
                    x,
                    total,
                    cost,
                    started,
                    objective,
                    serve_all,
                ),
            )
        if math.isfinite(best):
            out[xs] = best
    return out


def _lp(
    inst,
    combo,
    pairs,
    streams,
    lam,
    mu,
    cpu,
    on,
    idle,
    x,
    total,
    cost,
    migrations,
    objective,
    serve_all,
):  # type: ignore[no-untyped-def]
    nodes = inst.topology.nodes
    S, n_orig = lam.shape
    # variables: one rate per stream, then one drop per (s, i) with demand
    drops = [(s, i) for s in range(S) for i in range(n_orig) if lam[s, i] > 0]
    nv = len(streams) + len(drops)
    bounds = []
    for s, i, k in streams:
        okay, _ = combo[pairs.index((s, k))]
        bounds.append((0.0, lam[s, i] if i in okay else 0.0))
    bounds += [(0.0, 0.0 if serve_all else lam[s, i]) for s, i in drops]
    a_eq = np.zeros((len(drops), nv))
    b_eq = np.zeros(len(drops))
    for row, (s, i) in enumerate(drops):
        for col, (s2, i2, _) in enumerate(streams):
            if (s2, i2) == (s, i):
                a_eq[row, col] = 1.0
        a_eq[row, len(streams) + row] = 1.0
        b_eq[row] = lam[s, i]
    a_ub, b_ub = [], []
    for (s, k), (_, lim) in zip(pairs, combo, strict=True):
        a_ub.append(
            [1.0 if (s2, k2) == (s, k) else 0.0 for s2, _, k2 in streams] + [0.0] * len(drops)
        )
        b_ub.append(lim)
    power = np.zeros(nv)
    for col, (s, _, k) in enumerate(streams):
        power[col] = nodes[k].dynamic_power_w * cpu[s] / mu[s] / nodes[k].cpu
    for k, n in enumerate(nodes):
        if n.power_cap_w is not None and on[k]:
            a_ub.append(
                [power[col] if streams[col][2] == k else 0.0 for col in range(len(streams))]
                + [0.0] * len(drops)
            )
            b_ub.append(n.power_cap_w - idle[k])
    power_const = idle.sum()
    dropc = np.zeros(nv)
    dropc[len(streams) :] = 1.0
    w = inst.policy.weights
    if objective == "weighted":
        c = w.get("energy", 0) * power / total + w.get("dropped", 0) * dropc
        const = w.get("energy", 0) * power_const / total + w.get("cost", 0) * cost
        const += w.get("migrations", 0) * migrations
    elif objective == "power":
        c, const = power, power_const
    else:
        raise ValueError(objective)
    res = linprog(
        c, A_ub=np.array(a_ub), b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs"
    )
    return res.fun + const if res.status == 0 else math.inf


def _check(res: Any, inst: Instance | None = None) -> None:
    """The evaluator agrees with the model's objective and finds the decision feasible."""
    assert res.has_solution
    ev = res.evaluation
    assert ev.feasible, ev.violations
    name = res.stats["objective"]
    assert abs(ev.objectives[name] - res.objective) <= 1e-6 * max(1.0, abs(res.objective))
    assert not any("differs" in n for n in res.notes)


@pytest.mark.parametrize("seed", range(12))
def test_brute_force_weighted(seed: int) -> None:
    inst = tiny(seed)
    want = brute_force(inst, "weighted", serve_all=True)
    try:
        built = placement.build(inst)
    except SolverError as exc:  # some demand has no node within reach at all
        assert math.isinf(want), exc
        return
    res = solve(built, mip_gap=1e-9)
    if math.isinf(want):
        assert res.termination is Termination.INFEASIBLE
        return
    assert res.optimal
    _check(res)
    assert res.objective == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_power_with_dropping_agrees_with_evaluator() -> None:
    solved = 0
    for seed in range(12, 20):
        inst = tiny(seed)
        quarter = 0.25 * sum(d.rate_rps for d in inst.workload.demands)
        built = placement.build(inst, "power", constraints={"throughput": quarter})
        res = solve(built, mip_gap=1e-9)
        if res.termination is Termination.INFEASIBLE:
            continue  # SLOs and caps may leave less than a quarter servable
        assert res.optimal
        _check(res)
        assert res.evaluation.objectives["throughput"] >= quarter - 1e-5  # solver tolerance
        solved += 1
    assert solved >= 4


def test_power_matches_brute_force_without_dropping() -> None:
    for seed in range(20, 26):
        inst = tiny(seed)
        want = brute_force(inst, "power", serve_all=True)
        try:
            built = placement.build(inst, "power", serve_all=True)
        except SolverError:
            assert math.isinf(want)
            continue
        res = solve(built, mip_gap=1e-9)
        if math.isinf(want):
            assert res.termination is Termination.INFEASIBLE
            continue
        _check(res)
        assert res.objective == pytest.approx(want, rel=1e-5, abs=1e-6)


def test_rate_limits_meet_the_quantile() -> None:
    mu, rho = 20.0, 0.9
    for c in (1, 2, 5, 40):
        for budget in (200.0, 400.0, 2000.0):
            lim = placement.rate_limits([c], mu, budget, max_utilization=rho)[0]
            q = 1000.0 * mmc_response_quantile(0.95, c, lim, mu)
            assert q <= budget * (1 + 1e-9)
            if lim < rho * c * mu * (1 - 1e-9):
                assert q == pytest.approx(budget, rel=1e-8)
                assert 1000.0 * mmc_response_quantile(0.95, c, lim * (1 + 1e-6), mu) > budget
    # an idle queue already misses a budget below one service time's quantile
    assert placement.rate_limits([3], mu, 1000.0 * math.log(20) / mu * 0.99)[0] == 0.0


def test_exact_objectives_agree_with_evaluator() -> None:
    inst = generate("continuum-random", "small", seed=1)
    for obj in ("cost", "dropped", "migrations", "power", "throughput", "energy", "weighted"):
        cons = {"throughput": 0.5 * sum(d.rate_rps for d in inst.workload.demands)}
        if obj in ("throughput", "energy", "weighted"):
            cons = {}
        res = solve(placement.build(inst, obj, weights=WEIGHTS, constraints=cons), mip_gap=1e-6)
        assert res.termination is Termination.OPTIMAL, obj
        _check(res)


def test_energy_epsilon_constraint_is_exact() -> None:
    inst = generate("continuum-random", "small", seed=0)
    free = solve(placement.build(inst, "energy"), mip_gap=1e-9)
    eps = free.objective * 1.2
    res = solve(placement.build(inst, "cost", constraints={"energy": eps, "dropped": 0.0}))
    _check(res)
    assert res.evaluation.objectives["energy"] <= eps * (1 + 1e-9)


def test_p95_latency_is_refused() -> None:
    inst = load("continuum-3edge-2cloud")
    with pytest.raises(SolverError, match="p95"):
        placement.build(inst, "p95_latency")
    with pytest.raises(SolverError, match="p95"):
        placement.build(inst, weights={"p95_latency": 1.0, "energy": 1.0})
    with pytest.raises(SolverError, match="p95"):
        placement.build(inst, "cost", constraints={"p95_latency": 50.0})
    with pytest.raises(SolverError, match="objective"):
        placement.build(inst, "speed")


def two_nodes(net: tuple[float, float], demand: float) -> Instance:
    """One site, two one-vCPU nodes, one service of rate 10 req/s without an SLO."""
    return load(
        {
            "name": "two-nodes",
            "topology": {
                "nodes": [{"name": f"n{k}", "cpu": 1, "ram_gb": 4} for k in range(2)],
                "sites": [{"name": "s"}],
                "links": [
                    {"source": "s", "target": f"n{k}", "latency_ms": net[k]} for k in range(2)
                ],
            },
            "services": [
                {"name": "w", "versions": [{"major": 1, "cpu": 1, "ram_gb": 1,
                                            "service_rate_rps": 10}]}
            ],
            "workload": {"demands": [{"service": "w", "site": "s", "rate_rps": demand}]},
            "policy": {"max_utilization": 0.95},
        }
    )  # fmt: skip


@pytest.mark.parametrize("net", [(2.0, 2.0), (2.0, 10.0), (1.0, 40.0)])
def test_mean_latency_matches_the_analytic_optimum(net: tuple[float, float]) -> None:
    """Two M/M/1 queues share 12 req/s: minimize sum_k L_k (net_k + 1000 / (10 - L_k))."""
    from scipy.optimize import brentq

    inst = two_nodes(net, 12.0)
    res = solve(placement.build(inst, "latency"), mip_gap=1e-9)
    assert res.optimal, res.summary()
    _check(res)

    def marginal(l1: float) -> float:  # d/dL1 of the total with L2 = 12 - L1
        l2 = 12.0 - l1
        return (net[0] + 1e4 / (10 - l1) ** 2) - (net[1] + 1e4 / (10 - l2) ** 2)

    l1 = brentq(marginal, 2.5, 9.5)
    want = (
        sum(load_ * (d + 1000.0 / (10.0 - load_)) for load_, d in ((l1, net[0]), (12 - l1, net[1])))
        / 12.0
    )
    assert res.objective == pytest.approx(want, rel=1e-6)


def test_latency_optimum_uses_replicas_beyond_the_demand_s_need() -> None:
    """One replica covers 4 req/s; the mean latency still falls with each further one."""
    from edgebound.evaluate.placement import evaluate_placement

    inst = load(
        {
            "name": "one-node",
            "topology": {
                "nodes": [{"name": "n", "cpu": 4, "ram_gb": 8}],
                "sites": [{"name": "s"}],
                "links": [{"source": "s", "target": "n", "latency_ms": 2}],
            },
            "services": [
                {"name": "w", "latency_slo_ms": 800, "versions": [
                    {"major": 1, "cpu": 1, "ram_gb": 1, "service_rate_rps": 10}]}
            ],
            "workload": {"demands": [{"service": "w", "site": "s", "rate_rps": 4}]},
        }
    )  # fmt: skip
    by_count = {
        c: evaluate_placement(
            inst, {"replicas": {"w": {"n": c}}, "routing": {"w": {"s": {"n": 4.0}}}}
        ).objectives["latency"]
        for c in range(1, 5)
    }
    assert by_count[4] < by_count[3] < by_count[2] < by_count[1]
    res = solve(placement.build(inst, "latency"), mip_gap=1e-9)
    assert res.optimal
    _check(res)
    assert res.decision["replicas"]["w"]["n"] == 4
    assert res.objective == pytest.approx(by_count[4], rel=1e-6)
    # the clairvoyant bound on the same demand stays below it
    bound = bounds.placement(inst, np.full((1, 1), 4.0), weights={"latency": 1.0})
    assert bound.value <= by_count[4] * (1 + 1e-6)


def test_latency_objective_and_weights_are_exact_and_bounded() -> None:
    inst = generate("continuum-random", "small", seed=0)
    lat = solve(placement.build(inst, "latency"), mip_gap=1e-4)
    assert lat.optimal and lat.evaluation.feasible
    assert lat.objective == pytest.approx(lat.evaluation.objectives["latency"], rel=1e-9)
    assert lat.bound <= lat.objective
    # every other decision that serves all demand has a mean latency above the bound
    for objective in ("energy", "cost"):
        other = solve(placement.build(inst, objective, serve_all=True), mip_gap=1e-4)
        assert other.has_solution
        assert other.evaluation.objectives["latency"] >= lat.bound * (1 - 1e-9)
    weighted = solve(placement.build(inst), mip_gap=1e-3)  # weights include latency
    assert weighted.optimal
    _check(weighted)
    assert weighted.stats.get("cut_rounds", 0) >= 1


def test_latency_epsilon_constraint_holds() -> None:
    inst = generate("continuum-random", "small", seed=0)
    lat = solve(placement.build(inst, "latency"), mip_gap=1e-4)
    eps = lat.objective * 1.05
    res = solve(placement.build(inst, "cost", constraints={"latency": eps}), mip_gap=1e-6)
    assert res.optimal
    _check(res)
    assert res.evaluation.objectives["latency"] <= eps * (1 + 1e-7)


def test_rates_override() -> None:
    inst = generate("continuum-random", "small", seed=0)
    rates = [0.5 * d.rate_rps for d in inst.workload.demands]
    built = placement.build(inst, "energy", rates=rates)
    assert [d.rate_rps for d in built.instance.workload.demands] == rates
    res = solve(built)
    _check(res)
    assert res.evaluation.objectives["throughput"] == pytest.approx(sum(rates))
    with pytest.raises(SolverError, match="rates"):
        placement.build(inst, rates=[1.0])


def test_prices_are_keyed_by_node_and_resource() -> None:
    inst = generate("continuum-random", "small", seed=0)
    p = placement.prices(placement.build(inst, weights=WEIGHTS))
    assert p
    names = set(inst.node_names)
    for (node, resource), value in p.items():
        assert node in names
        assert resource in {"cpu", "ram_gb", "disk_gb", "gpus", "power", "gpu_power"}
        assert value >= -1e-9


def _continuum_low_caps() -> Instance:
    data = load("continuum-3edge-2cloud").model_dump()
    for node in data["topology"]["nodes"]:
        if node["region"] == "eu":
            # every eu node may barely idle: too little for the camera pipeline's residency
            node["power_cap_w"] = node["idle_power_w"] + 5.0
    data["policy"]["weights"] = dict(WEIGHTS)
    return Instance.model_validate(data)


@pytest.mark.slow
def test_infeasible_power_caps_are_explained() -> None:
    built = placement.build(_continuum_low_caps(), "energy")
    res = solve(built)
    assert res.termination in (Termination.INFEASIBLE, Termination.INFEASIBLE_OR_UNBOUNDED)
    conflict = diagnose(built)
    assert conflict is not None
    text = str(conflict)
    assert "power cap" in text
    assert any(r.startswith("power_cap[") for r in conflict.rows)
    assert "cloud-eu" in text
    assert "may run only in region(s) eu" in text


@pytest.mark.golden
def test_golden_continuum() -> None:
    inst = load("continuum-3edge-2cloud")
    res = solve(placement.build(inst, "energy"), mip_gap=1e-9, threads=2)
    assert res.optimal
    _check(res)
    assert res.objective == pytest.approx(GOLDEN_ENERGY, rel=1e-6)
    res = solve(placement.build(inst, "power", serve_all=True), mip_gap=1e-9, threads=2)
    assert res.optimal
    _check(res)
    assert res.objective == pytest.approx(GOLDEN_POWER, rel=1e-6)
    assert res.objective / res.evaluation.objectives["throughput"] == pytest.approx(
        GOLDEN_ENERGY, rel=1e-6
    )


GOLDEN_ENERGY = 1.6075172972376701
GOLDEN_POWER = 3737.497810043799


@pytest.mark.slow
@pytest.mark.golden
def test_golden_continuum_weighted() -> None:
    inst = load("continuum-3edge-2cloud")
    res = solve(placement.build(inst, weights=WEIGHTS), mip_gap=1e-9, threads=2)
    assert res.optimal
    _check(res)
    assert res.objective == pytest.approx(63.52347339555203, rel=1e-6)


def test_decoding_drops_a_trace_of_flow_on_a_far_route_switched_off() -> None:
    # A far route whose switch y is off has its SLO row relaxed; a solver may still leave
    # a trace of flow on it (within its tolerances), which must not become a stream whose
    # SLO the evaluator then checks.
    inst = tiny(4)
    built = placement.build(inst, "dropped")
    assert solve(built).optimal
    m = built.pyomo
    off = [k for k in m.y if round(pyo.value(m.y[k])) == 0]
    assert off
    s, i, n = off[0]
    d = _data(inst)
    for c in range(1, 3):  # give the queue replicas, so that only y can drop the route
        if (s, n, c) in m.delta:
            m.delta[s, n, c].set_value(1.0)
    m.r[s, i, n].set_value(1e-7)
    dec = built.decode(m)
    routed = dec["routing"].get(d.services[s], {}).get(d.origins[i], {})
    assert d.nodes[n] not in routed
    dropped = dec["dropped"].get(d.services[s], {}).get(d.origins[i], 0.0)
    assert sum(routed.values()) + dropped == pytest.approx(float(d.lam[s, i]), rel=1e-9)


def test_replica_floors_hold_at_every_feasible_replica_vector() -> None:
    # The rounding rows must never cut off a decision that serves all demand: check them
    # against every replica vector the enumeration finds feasible.
    checked = binding = 0
    for seed in range(12):
        inst = tiny(seed)
        d = _data(inst)
        st = _structure(inst, d, d.lam, far_routes=True)
        floors = replica_floors(st, d.lam)
        table = replica_table(inst, "weighted", serve_all=True)
        S, N = d.lam.shape[0], len(d.nodes)
        for xs in table:
            x = np.array(xs).reshape(S, N)
            for s, (coef, need) in floors.items():
                lhs = sum(a * x[s, n] for n, a in coef.items())
                assert lhs >= need - 1e-9, (seed, xs, s)
                binding += abs(lhs - need) < 1e-9
            checked += 1
    assert checked >= 40 and binding >= 5, (checked, binding)


def test_replica_floors_lift_the_lp_bound() -> None:
    inst = generate("continuum-random", "medium", seed=0)
    w = {"energy": 20.0, "cost": 1.0, "dropped": 1000.0, "migrations": 0.5}
    built = placement.build(inst, weights=w)
    with_rows = lp_relaxation(built).bound
    built.pyomo.replica_floor.deactivate()
    without = lp_relaxation(built).bound
    # measured: 36.96 without the rows, 39.06 with them; the optimum is 40.62
    assert without == pytest.approx(36.96, abs=0.01)
    assert with_rows == pytest.approx(39.06, abs=0.01)


def test_polish_repairs_routing_that_breaks_a_rate_limit() -> None:
    # A MIP solution may meet its rows only to the solver's tolerances; with the integers
    # fixed, solving the continuous part again gives a decision the evaluator accepts.
    # Here the routing is broken on purpose: all of a demand's flow moved to one queue.
    from edgebound.solvers.highs import _polish

    inst = generate("continuum-random", "small", seed=0)
    built = placement.build(inst, "cost", serve_all=True)
    res = solve(built)
    assert res.optimal and res.evaluation.feasible
    m = built.pyomo
    moved = False
    for s, i in sorted({(s, i) for (s, i, _) in m.r}):
        flows = [(n, pyo.value(m.r[s, i, n])) for (s2, i2, n) in m.r if (s2, i2) == (s, i)]
        used = [(n, f) for n, f in flows if f > 1e-6]
        if len(used) >= 2:
            m.r[s, i, used[0][0]].set_value(sum(f for _, f in used))
            for n, _ in used[1:]:
                m.r[s, i, n].set_value(0.0)
            moved = True
            break
    assert moved
    assert not built.evaluate(built.decode(m)).feasible
    polished = _polish(built, None, res.objective)
    assert polished is not None
    objective, decision, evaluation = polished
    assert decision["model"] == "placement"
    assert evaluation.feasible
    assert objective == pytest.approx(res.objective, rel=1e-9)
    assert evaluation.objectives["cost"] == pytest.approx(res.objective, rel=1e-9)
