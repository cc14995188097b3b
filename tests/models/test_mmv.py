"""The static MMV MILP against brute force and the independent evaluator."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from edgebound.errors import InfeasibleError, SolverError
from edgebound.evaluate import evaluate
from edgebound.instances import Instance, load
from edgebound.models import mmv
from edgebound.solvers import Termination, lp_relaxation, solve


def tiny(seed: int) -> Instance:
    """A random instance small enough to enumerate every decision."""
    rng = np.random.default_rng(seed)
    n_nodes = int(rng.integers(1, 3))
    n_models = 3 if n_nodes == 1 else int(rng.integers(1, 3))
    nodes = [
        {"name": f"N{i}", "cpu": float(rng.integers(3, 7)), "ram_gb": float(rng.integers(3, 7))}
        for i in range(n_nodes)
    ]
    links = [
        {"source": "N0", "target": f"N{i}", "latency_ms": float(rng.choice([1.0, 4.5, 9.0]))}
        for i in range(1, n_nodes)
    ]
    services, demands, running = [], [], {}
    for k in range(n_models):
        n_versions = int(rng.integers(1, 4))
        acc, sec, rel = rng.uniform(0.5, 0.8, 3)
        versions = []
        for j in range(n_versions):
            acc, sec, rel = (
                acc + rng.uniform(0, 0.05),
                sec + rng.uniform(0, 0.05),
                rel + rng.uniform(0, 0.05),
            )
            versions.append(
                {
                    "major": j,
                    "cpu": float(rng.integers(1, 3)),
                    "ram_gb": float(rng.integers(1, 3)),
                    "service_rate_rps": float(rng.choice([5.0, 10.0, 20.0])),
                    "accuracy": round(min(acc, 1.0), 4),
                    "security": round(min(sec, 1.0), 4),
                    "reliability": round(min(rel, 1.0), 4),
                }
            )
        services.append(
            {
                "name": f"m{k}",
                "spawn_time_ms": float(rng.choice([0.0, 10.0, 40.0])),
                "versions": versions,
            }
        )
        demands.append({"service": f"m{k}", "rate_rps": float(rng.uniform(1.0, 14.0))})
        running[f"m{k}"] = f"{int(rng.integers(0, n_versions))}.0"
    weights = {
        "delay": float(rng.choice([0.0, 1.0, 3.0])),
        "accuracy": float(rng.choice([0.0, 10.0])),
        "security": float(rng.choice([0.0, 10.0])),
        "reliability": float(rng.choice([0.0, 10.0])),
    }
    if not any(weights.values()):
        weights["delay"] = 1.0
    return load(
        {
            "name": f"tiny-{seed}",
            "topology": {"master": "N0", "nodes": nodes, "links": links},
            "services": services,
            "workload": {"demands": demands},
            "policy": {
                "weights": weights,
                "max_utilization": float(rng.choice([0.8, 0.95])),
                "spawn_exposure": float(rng.choice([0.1, 1.0])),
                "allow_rollback": bool(rng.integers(0, 2)),
            },
            "state": {"running": running},
        }
    )


def brute_force(inst: Instance, objective: str = "weighted") -> tuple[float, dict[str, Any] | None]:
    """Best evaluator value over every decision (all versions, all replica vectors)."""
    sense = mmv.OBJECTIVES[objective]
    per_model = []
    for svc in inst.services:
        options = []
        for v in svc.versions:
            caps = [int(min(n.cpu // v.cpu, n.ram_gb // v.ram_gb)) for n in inst.topology.nodes]
            for reps in itertools.product(*(range(c + 1) for c in caps)):
                options.append((v.label, dict(zip(inst.node_names, reps, strict=True))))
        per_model.append(options)
    best, best_dec = math.inf, None
    for combo in itertools.product(*per_model):
        dec = {
            "model": "mmv",
            "versions": {s: lv for s, (lv, _) in zip(inst.service_names, combo, strict=True)},
            "replicas": {s: r for s, (_, r) in zip(inst.service_names, combo, strict=True)},
        }
        ev = evaluate(inst, dec)
        if not ev.feasible or any(sum(r.values()) == 0 for _, r in combo):
            continue
        value = ev.objectives[objective] * (1 if sense == "min" else -1)
        if value < best - 1e-12:
            best, best_dec = value, dec
    return (best if sense == "min" else -best), best_dec


SEEDS = range(80)


def _check_against_brute_force(seed: int) -> bool:
    """Compare the MILP with brute force; True when the instance is feasible."""
    inst = tiny(seed)
    expected, _ = brute_force(inst)
    try:
        built = mmv.build(inst)
    except InfeasibleError:
        assert expected == math.inf, f"seed {seed}: brute force found a decision"
        return False
    res = solve(built, mip_gap=1e-9)
    if expected == math.inf:
        assert res.termination is Termination.INFEASIBLE, f"seed {seed}: {res.summary()}"
        return False
    assert res.optimal, res.summary()
    assert res.evaluation is not None and res.evaluation.feasible
    assert res.objective == pytest.approx(expected, rel=1e-7, abs=1e-7), f"seed {seed}"
    assert res.objectives["weighted"] == pytest.approx(res.objective, rel=1e-6, abs=1e-6)
    return True


def test_matches_brute_force_on_many_instances() -> None:
    feasible = sum(_check_against_brute_force(seed) for seed in SEEDS)
    # the comparison means something only if most instances have a decision to find
    assert feasible >= 50


@pytest.mark.parametrize("objective", ["delay", "accuracy", "security", "reliability"])
def test_single_objectives_match_brute_force(objective: str) -> None:
    inst = tiny(3)
    expected, _ = brute_force(inst, objective)
    res = solve(mmv.build(inst, objective), mip_gap=1e-9)
    assert res.optimal
    assert res.objective == pytest.approx(expected, rel=1e-7, abs=1e-7)
    assert res.objectives[objective] == pytest.approx(res.objective, rel=1e-6, abs=1e-6)


def test_epsilon_constraint_is_respected() -> None:
    inst = load("gentzen-star4")
    free = solve(mmv.build(inst, "delay"))
    target = free.objectives["accuracy"] + 0.01
    res = solve(mmv.build(inst, "delay", constraints={"accuracy": target}))
    assert res.optimal
    assert res.objectives["accuracy"] >= target - 1e-9
    assert res.objectives["delay"] >= free.objectives["delay"] - 1e-9


@pytest.mark.golden
def test_gentzen_star4_golden() -> None:
    res = solve(mmv.build(load("gentzen-star4")), mip_gap=1e-9)
    assert res.optimal
    # The spawn delay (10 ms, charged to every request as eq 8 reads) outweighs the score
    # gains of every released version at the paper's weights, so no model is updated.
    assert set(res.decision["versions"].values()) == {"0.0"}
    assert res.objective == pytest.approx(-19.818598901098902, abs=1e-9)
    assert res.objectives["delay"] == pytest.approx(11.814010989010990, abs=1e-9)


def test_gentzen_updates_when_spawn_is_rarely_paid() -> None:
    data = load("gentzen-star4").model_dump()
    data["policy"]["spawn_exposure"] = 0.001
    res = solve(mmv.build(load(data)))
    assert set(res.decision["versions"].values()) == {"1.1"}


def test_lp_relaxation_is_a_bound() -> None:
    for seed in range(5):
        inst = tiny(seed)
        try:
            built = mmv.build(inst)
        except InfeasibleError:
            continue
        res = solve(built)
        if res.optimal:
            lp = lp_relaxation(built)
            assert lp.bound is not None and lp.bound <= res.objective + 1e-7


def test_infeasible_before_solving_names_the_model() -> None:
    data = load("gentzen-star4").model_dump()
    data["workload"]["demands"][4]["rate_rps"] = 5000.0
    with pytest.raises(InfeasibleError, match="model-5: no version can serve 5000 req/s"):
        mmv.build(load(data))


def test_bad_arguments() -> None:
    inst = load("gentzen-star4")
    with pytest.raises(SolverError, match="objective: 'speed'"):
        mmv.build(inst, "speed")
    with pytest.raises(SolverError, match=r"weights\.latency"):
        mmv.build(inst, weights={"latency": 1.0})
    with pytest.raises(SolverError, match="time_limit"):
        solve(mmv.build(inst), time_limit=-1)


def test_time_limited_solve_is_never_called_optimal() -> None:
    from edgebound.instances.generators import generate

    inst = generate("mmv-random", "medium", seed=1)
    res = solve(mmv.build(inst), time_limit=0.05)
    if res.termination is Termination.TIME_LIMIT:
        assert not res.optimal
        with pytest.raises(SolverError, match="time_limit"):
            solve(mmv.build(inst), time_limit=0.05, require_optimal=True)
    else:
        assert res.optimal and res.gap is not None and res.gap <= 1e-6


def test_infeasible_model_is_diagnosed_in_instance_terms() -> None:
    from edgebound.solvers import diagnose

    data = load("gentzen-star4").model_dump()
    for node in data["topology"]["nodes"]:
        node["cpu"] = 7.0
    for demand in data["workload"]["demands"]:
        demand["rate_rps"] = 120.0  # every model now needs 2 replicas: 30 vCPU > 28
    built = mmv.build(load(data))
    assert solve(built).termination is Termination.INFEASIBLE
    conflict = diagnose(built)
    assert conflict is not None
    assert set(conflict.rows) == {f"period.capacity[cpu,E{i}]" for i in range(1, 5)}
    text = str(conflict)
    assert "node E1: 7 vCPU" in text
    assert "needs at least 30 vCPU in all" in text and "have 28" in text


def test_diagnose_returns_none_for_feasible_model() -> None:
    from edgebound.solvers import diagnose

    assert diagnose(mmv.build(load("gentzen-star4"))) is None


def test_decomposition_brackets_the_optimum() -> None:
    from edgebound.models.mmv_decomposition import solve_decomposed

    checked = 0
    for seed in range(30):
        inst = tiny(seed)
        expected, _ = brute_force(inst)
        if expected == math.inf:
            continue
        res = solve_decomposed(inst, mip_gap=1e-9)
        assert res.bound is not None and res.bound <= expected + 1e-7
        if res.has_solution:
            assert res.evaluation is not None and res.evaluation.feasible
            assert res.objective is not None and res.objective >= expected - 1e-7
            assert res.objectives["weighted"] == pytest.approx(res.objective, rel=1e-6, abs=1e-6)
            if res.optimal:
                assert res.objective == pytest.approx(expected, rel=1e-6, abs=1e-6)
        checked += 1
    assert checked >= 15


def test_decomposition_bound_is_the_count_formulation_lp_bound() -> None:
    from edgebound.models.mmv_decomposition import solve_decomposed

    inst = load("gentzen-star4")
    res = solve_decomposed(inst)
    lp = lp_relaxation(mmv.build(inst))
    assert lp.bound is not None and res.bound is not None
    # both are the convex hull of each model's configurations
    assert res.bound == pytest.approx(lp.bound, rel=1e-7)


def test_lexicographic_matches_brute_force_stage_by_stage() -> None:
    inst = tiny(3)
    first, _ = brute_force(inst, "accuracy")
    res = mmv.lexicographic(inst, ("accuracy", "delay"), mip_gap=1e-9)
    assert res.optimal
    stages = res.stats["stages"]
    assert stages[0]["value"] == pytest.approx(first, abs=1e-7)
    # the second stage cannot lose what the first reached (beyond its tolerance)
    assert res.objectives["accuracy"] >= first - 1e-6
    delay_alone = solve(mmv.build(inst, "delay"), mip_gap=1e-9).objective
    assert delay_alone is not None and res.objectives["delay"] >= delay_alone - 1e-7


def test_lexicographic_rejects_bad_orders() -> None:
    with pytest.raises(SolverError, match="order"):
        mmv.lexicographic(load("gentzen-star4"), ("delay", "delay"))
    with pytest.raises(SolverError, match="order"):
        mmv.lexicographic(load("gentzen-star4"), ("weighted",))


def _gentzen_variant(**changes: Any) -> Instance:
    data = load("gentzen-star4").model_dump()
    if "time_s" in changes:
        data["state"]["time_s"] = changes["time_s"]
    if "running" in changes:
        data["state"]["running"].update(changes["running"])
    if "rate_rps" in changes:
        for d in data["workload"]["demands"]:
            d["rate_rps"] = changes["rate_rps"]
    if "spawn_exposure" in changes:
        data["policy"]["spawn_exposure"] = changes["spawn_exposure"]
    return load(data)


@pytest.mark.golden
@pytest.mark.parametrize(
    ("changes", "objective", "versions", "replicas"),
    [
        # only 0.0-0.2 released, model-1 already on 0.1: nothing newer is worth a spawn
        (
            {"time_s": 250.0, "running": {"model-1": "0.1"}},
            -19.8195989010989,
            ["0.1", "0.0", "0.0", "0.0", "0.0"],
            [2, 2, 2, 2, 2],
        ),
        # twice the load: more replicas, still no update
        ({"rate_rps": 120.0}, -19.71627515843387, ["0.0"] * 5, [4, 3, 3, 3, 3]),
        # spawn charged to 1 % of requests: every model moves to the newest version
        ({"spawn_exposure": 0.01}, -20.278598901098924, ["1.1"] * 5, [2, 2, 2, 2, 2]),
    ],
)
def test_gentzen_star4_states_golden(
    changes: dict[str, Any], objective: float, versions: list[str], replicas: list[int]
) -> None:
    inst = _gentzen_variant(**changes)
    res = solve(mmv.build(inst), mip_gap=1e-9)
    assert res.optimal
    assert res.objective == pytest.approx(objective, abs=1e-9)
    assert [res.decision["versions"][k] for k in inst.service_names] == versions
    assert [sum(res.decision["replicas"][k].values()) for k in inst.service_names] == replicas


def test_thread_counts_can_change_between_solves() -> None:
    built = mmv.build(load("gentzen-star4"))
    lp_relaxation(built)
    for threads in (1, 2, 1):
        assert solve(built, threads=threads).optimal
