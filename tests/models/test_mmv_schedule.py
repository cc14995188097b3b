"""The multi-period MMV MILP against exhaustive search and the schedule evaluator."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from test_mmv import tiny

from edgebound.errors import DecisionError, InfeasibleError, SolverError
from edgebound.evaluate import evaluate
from edgebound.evaluate.mmv_schedule import evaluate_mmv_schedule, period_instances
from edgebound.instances import Instance, load
from edgebound.models import mmv_schedule
from edgebound.solvers import Termination, solve


def _options(inst: Instance) -> list[list[tuple[str, dict[str, int]]]]:
    per_model = []
    for svc in inst.services:
        opts = []
        for v in svc.versions:
            caps = [int(min(n.cpu // v.cpu, n.ram_gb // v.ram_gb)) for n in inst.topology.nodes]
            for reps in itertools.product(*(range(c + 1) for c in caps)):
                if sum(reps):
                    opts.append((v.label, dict(zip(inst.node_names, reps, strict=True))))
        per_model.append(opts)
    return per_model


def exhaustive(inst: Instance, rates: np.ndarray) -> float:
    """Best schedule by dynamic programming over every decision of every period.

    Periods interact only through the versions run before, so the state of the recursion
    is the tuple of versions; each period's cost is the static evaluator's on the period's
    own instance, weighted by the period's share of requests.
    """
    n_t = rates.shape[1]
    share = rates.sum(axis=0) / rates.sum()
    combos = list(itertools.product(*_options(inst)))
    start = tuple(inst.running_version(k).label for k in inst.service_names)
    best: dict[tuple[str, ...], float] = {start: 0.0}
    for t in range(n_t):
        nxt: dict[tuple[str, ...], float] = {}
        for prev, acc in best.items():
            view = period_instances(
                inst, [dict(zip(inst.service_names, prev, strict=True))] * max(t, 0), rates
            )[t]
            for combo in combos:
                dec = {
                    "versions": {
                        s: lv for s, (lv, _) in zip(inst.service_names, combo, strict=True)
                    },
                    "replicas": {s: r for s, (_, r) in zip(inst.service_names, combo, strict=True)},
                }
                ev = evaluate(view, dec)
                if not ev.feasible:
                    continue
                key = tuple(lv for lv, _ in combo)
                value = acc + share[t] * ev.objectives["weighted"]
                if value < nxt.get(key, math.inf):
                    nxt[key] = value
        best = nxt
    return min(best.values(), default=math.inf)


def _small(seed: int) -> Instance | None:
    inst = tiny(seed)
    n_opts = math.prod(len(o) for o in _options(inst))
    return inst if n_opts <= 400 else None


@pytest.mark.parametrize("seed", [s for s in range(40) if _small(s) is not None][:10])
def test_matches_exhaustive_search(seed: int) -> None:
    inst = tiny(seed)
    rng = np.random.default_rng(seed)
    base = np.array([d.rate_rps for d in inst.workload.demands])
    rates = np.outer(base, rng.uniform(0.5, 1.0, 3))
    expected = exhaustive(inst, rates)
    try:
        built = mmv_schedule.build(inst, rates=rates)
    except InfeasibleError:
        assert expected == math.inf
        return
    res = solve(built, mip_gap=1e-9)
    if expected == math.inf:
        assert res.termination is Termination.INFEASIBLE
        return
    assert res.optimal and res.evaluation is not None and res.evaluation.feasible
    assert res.objective == pytest.approx(expected, rel=1e-7, abs=1e-7)
    assert res.objectives["weighted"] == pytest.approx(res.objective, rel=1e-6, abs=1e-6)


def test_schedule_is_at_least_as_good_as_repeating_the_static_optimum() -> None:
    from edgebound.models import mmv

    data = load("gentzen-star4").model_dump()
    data["policy"]["spawn_exposure"] = 0.5
    inst = load(data)
    static = solve(mmv.build(inst))
    sched = solve(mmv_schedule.build(inst, steps=2), mip_gap=1e-4)
    repeated = evaluate_mmv_schedule(inst, {"periods": [static.decision] * 2})
    assert repeated.feasible
    assert sched.bound is not None
    # the schedule's proven bound is a lower bound of every schedule, this one included
    assert sched.bound <= repeated.objectives["weighted"] + 1e-9
    # statically the spawn delay outweighs the gains; spread over two periods it does not
    assert set(static.decision["versions"].values()) == {"0.0"}
    assert set(sched.decision["periods"][0]["versions"].values()) == {"1.1"}


def test_versions_only_move_forward() -> None:
    inst = load("gentzen-star4")
    up = {
        "versions": {s: "1.1" for s in inst.service_names},
        "replicas": {s: {"E1": 1} for s in inst.service_names},
    }
    down = {"versions": {s: "1.0" for s in inst.service_names}, "replicas": up["replicas"]}
    ev = evaluate_mmv_schedule(inst, {"periods": [up, down]})
    assert {v.constraint for v in ev.violations} == {"version"}
    assert all(v.where.startswith("period 1:") for v in ev.violations)


def test_a_period_left_out_version_keeps_the_previous_one() -> None:
    inst = load("gentzen-star4")
    reps = {s: {"E1": 1} for s in inst.service_names}
    up = {"versions": {s: "1.1" for s in inst.service_names}, "replicas": reps}
    ev = evaluate_mmv_schedule(inst, {"periods": [up, {"replicas": reps}]})
    assert ev.feasible
    spawn = ev.details["periods"]
    assert spawn[0]["objectives"]["delay"] > spawn[1]["objectives"]["delay"]  # spawn once


def test_bad_schedules() -> None:
    inst = load("gentzen-star4")
    with pytest.raises(DecisionError, match="periods"):
        evaluate_mmv_schedule(inst, {"periods": []})
    with pytest.raises(DecisionError, match=r"periods\[1\]\.replicas\.model-1\.E9"):
        good: dict[str, Any] = {"replicas": {s: {"E1": 1} for s in inst.service_names}}
        evaluate_mmv_schedule(inst, {"periods": [good, {"replicas": {"model-1": {"E9": 1}}}]})
    with pytest.raises(SolverError, match="rates: shape"):
        mmv_schedule.build(inst, rates=np.ones((2, 3)))
