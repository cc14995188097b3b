"""Bounds are valid: no policy's outcome on the same instance and loads beats them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgebound import bounds
from edgebound.evaluate.mmv_schedule import evaluate_mmv_schedule, service_rates
from edgebound.instances import Instance, load


def _first_fit(inst: Instance, versions: dict[str, str], rates: np.ndarray, t: int) -> dict:
    """Replicas for stability placed first-fit, as the versioning paper's scaler does."""
    free = {n.name: [n.cpu, n.ram_gb, n.disk_gb] for n in inst.topology.nodes}
    reps: dict[str, dict[str, int]] = {}
    rho = inst.policy.max_utilization
    for i, k in enumerate(inst.service_names):
        v = next(v for v in inst.service(k).versions if v.label == versions[k])
        need = max(1, math.ceil(rates[i, t] / (rho * v.service_rate_rps)))
        reps[k] = {}
        for _ in range(need):
            for n, cap in free.items():
                if cap[0] >= v.cpu and cap[1] >= v.ram_gb and cap[2] >= v.disk_gb:
                    cap[0] -= v.cpu
                    cap[1] -= v.ram_gb
                    cap[2] -= v.disk_gb
                    reps[k][n] = reps[k].get(n, 0) + 1
                    break
    return {"versions": versions, "replicas": reps}


def _policy_schedules(inst: Instance, rates: np.ndarray, seed: int) -> dict[str, dict]:
    rng = np.random.default_rng(seed)
    labels = {
        k: [v.label for v in sorted(inst.service(k).versions, key=lambda v: v.key)]
        for k in inst.service_names
    }
    out = {}
    n_t = rates.shape[1]
    never = {k: inst.running_version(k).label for k in inst.service_names}
    always = {k: labels[k][-1] for k in inst.service_names}
    out["never"] = {"periods": [_first_fit(inst, never, rates, t) for t in range(n_t)]}
    out["always"] = {"periods": [_first_fit(inst, always, rates, t) for t in range(n_t)]}
    for r in range(3):
        current = dict(never)
        periods = []
        for t in range(n_t):
            for k in inst.service_names:
                if rng.random() < 0.5:
                    i = labels[k].index(current[k])
                    current[k] = labels[k][int(rng.integers(i, len(labels[k])))]
            periods.append(_first_fit(inst, dict(current), rates, t))
        out[f"random-{r}"] = {"periods": periods}
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_schedule_bound_is_never_beaten(seed: int) -> None:
    inst = load("gentzen-star4")
    rng = np.random.default_rng(seed)
    rates = service_rates(inst, 3) * rng.uniform(0.6, 1.4, (5, 3))
    bound = bounds.mmv(inst, rates=rates, time_limit=30, mip_gap=1e-3)
    assert bound.status in ("optimal", "time_limit")
    outcomes = _policy_schedules(inst, rates, seed)
    assert outcomes
    for name, schedule in outcomes.items():
        ev = evaluate_mmv_schedule(inst, schedule, rates)
        assert ev.feasible, (name, ev.violations[:2])
        assert bound.admits(ev.objectives["weighted"]), (
            name,
            ev.objectives["weighted"],
            bound.value,
        )
    assert bound.incumbent is not None and bound.admits(bound.incumbent)


def test_static_bound_and_lp() -> None:
    b = bounds.mmv(load("gentzen-star4"), schedule=False)
    assert b.model == "mmv" and b.status == "optimal"
    assert b.lp is not None and b.lp <= b.value + 1e-9
    assert not b.admits(b.value - 1e-3)


def test_infeasible_instance_bound() -> None:
    data = load("gentzen-star4").model_dump()
    data["workload"]["demands"][0]["rate_rps"] = 10_000.0
    b = bounds.mmv(load(data), schedule=False)
    assert b.status == "infeasible" and b.value == math.inf
    assert not b.admits(0.0)


def test_max_objective_bound_is_an_upper_bound() -> None:
    b = bounds.mmv(load("gentzen-star4"), objective="accuracy", schedule=False)
    assert b.sense == "max"
    assert b.incumbent is not None and b.incumbent <= b.value + 1e-9
    assert not b.admits(b.value + 1e-3)
