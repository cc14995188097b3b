"""Exact fronts against brute-force nondominated sets, indicators and scoring."""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest

from edgebound.errors import EdgeboundError
from edgebound.evaluate import evaluate
from edgebound.pareto import Objective, ParetoFront, exact_front, nondominated, score
from edgebound.pareto.mmv import mmv_front

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from test_mmv import tiny


def _knapsack(seed: int, n: int = 6) -> tuple[pyo.ConcreteModel, list[Objective], np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.integers(1, 6, n)
    a = rng.integers(0, 10, n)
    b = rng.integers(0, 10, n)
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(n), domain=pyo.Binary)
    m.cap = pyo.Constraint(expr=sum(int(w[i]) * m.x[i] for i in range(n)) <= int(w.sum()) // 2)
    objs = [
        Objective("a", sum(int(a[i]) * m.x[i] for i in range(n)), "max"),
        Objective("b", sum(int(b[i]) * m.x[i] for i in range(n)), "max"),
    ]
    pts = []
    for bits in itertools.product([0, 1], repeat=n):
        x = np.array(bits)
        if (w * x).sum() <= w.sum() // 2:
            pts.append([(a * x).sum(), (b * x).sum()])
    return m, objs, np.array(pts, dtype=float)


@pytest.mark.parametrize("seed", range(6))
def test_biobjective_knapsack_front_equals_brute_force(seed: int) -> None:
    m, objs, pts = _knapsack(seed)
    front = exact_front(m, objs)
    expected = pts[nondominated(pts, ["max", "max"])]
    assert front.exact
    assert sorted(map(tuple, front.F.tolist())) == sorted(map(tuple, expected.tolist()))


def test_three_objectives_grid_points_are_nondominated() -> None:
    rng = np.random.default_rng(7)
    n = 6
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(n), domain=pyo.Binary)
    m.cap = pyo.Constraint(expr=sum(m.x[i] for i in range(n)) <= 3)
    c = rng.integers(0, 9, (3, n))
    objs = [
        Objective(name, sum(int(c[k, i]) * m.x[i] for i in range(n)), "max")
        for k, name in enumerate("abc")
    ]
    front = exact_front(m, objs, grid_points=6)
    pts = []
    for bits in itertools.product([0, 1], repeat=n):
        if sum(bits) <= 3:
            pts.append((c @ np.array(bits)).tolist())
    all_pts = np.array(pts, dtype=float)
    truth = all_pts[nondominated(all_pts, ["max"] * 3)]
    truth_set = set(map(tuple, truth.tolist()))
    # every point found is truly nondominated; the grid finds most of them
    assert set(map(tuple, front.F.tolist())) <= truth_set
    assert len(front) >= 0.5 * len(truth_set)


def _brute_mmv_points(inst):  # type: ignore[no-untyped-def]
    per_model = []
    for svc in inst.services:
        opts = []
        for v in svc.versions:
            caps = [int(min(n.cpu // v.cpu, n.ram_gb // v.ram_gb)) for n in inst.topology.nodes]
            for reps in itertools.product(*(range(cap + 1) for cap in caps)):
                if sum(reps):
                    opts.append((v.label, dict(zip(inst.node_names, reps, strict=True))))
        per_model.append(opts)
    pts = []
    for combo in itertools.product(*per_model):
        dec = {
            "model": "mmv",
            "versions": {s: lv for s, (lv, _) in zip(inst.service_names, combo, strict=True)},
            "replicas": {s: r for s, (_, r) in zip(inst.service_names, combo, strict=True)},
        }
        ev = evaluate(inst, dec)
        if ev.feasible:
            pts.append([ev.objectives["delay"], ev.objectives["accuracy"]])
    return np.array(pts)


@pytest.mark.parametrize("seed", [0, 3, 9, 14, 31, 50])
def test_mmv_front_equals_brute_force(seed: int) -> None:
    inst = tiny(seed)
    pts = _brute_mmv_points(inst)
    if len(pts) == 0:
        pytest.skip("infeasible instance")
    truth = pts[nondominated(pts, ["min", "max"], tol=1e-9)]
    front = mmv_front(inst, ("delay", "accuracy"))
    assert front.exact
    assert len(front) == len(truth)
    for row in truth:
        assert np.min(np.max(np.abs(front.F - row), axis=1)) < 1e-6


def test_front_json_round_trip_and_scoring(tmp_path: Path) -> None:
    m, objs, _ = _knapsack(1)
    front = exact_front(m, objs)
    path = tmp_path / "front.json"
    front.to_json(path)
    back = ParetoFront.from_json(path)
    assert np.array_equal(back.F, front.F) and back.names == front.names
    ref = [0.0, 0.0]
    best = front.F[0]
    on = score(front, best.tolist(), ref)
    assert not on.dominated and on.epsilon == pytest.approx(0.0)
    worse = score(front, (best - 1).tolist(), ref)
    assert worse.dominated and worse.epsilon == pytest.approx(1.0)
    assert 0 < worse.hv_share < 1
    assert front.hypervolume(ref) > 0
    assert front.igd_plus(front) == pytest.approx(0.0)


def test_bad_objectives() -> None:
    m, objs, _ = _knapsack(0)
    with pytest.raises(EdgeboundError, match="at least two"):
        exact_front(m, objs[:1])
    with pytest.raises(EdgeboundError, match="objectives"):
        mmv_front(tiny(0), ("delay", "speed"))
    assert math.isfinite(front_hv := exact_front(m, objs).hypervolume([0.0, 0.0])) and front_hv > 0
