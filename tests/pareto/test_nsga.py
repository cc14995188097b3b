"""NSGA-II/III fronts of the MMV problem: determinism, feasibility, repair, quality."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgebound.errors import EdgeboundError, InfeasibleError
from edgebound.evaluate import evaluate
from edgebound.instances import Instance, load
from edgebound.instances.generators import generate
from edgebound.pareto import ParetoFront, nondominated
from edgebound.pareto.mmv import mmv_front
from edgebound.pareto.nsga import _evaluate, _repair_row, _tables, mmv_nsga

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from test_exact import _brute_mmv_points
from test_mmv import tiny


@pytest.fixture(scope="module")
def star4() -> Instance:
    return load("gentzen-star4")


def test_same_seed_same_front(star4: Instance) -> None:
    a = mmv_nsga(star4, pop_size=20, generations=8, seed=3)
    b = mmv_nsga(star4, pop_size=20, generations=8, seed=3)
    assert np.array_equal(a.F, b.F)
    assert a.X == b.X
    assert a.stats["evaluations"] == b.stats["evaluations"]


def test_every_point_is_feasible_and_scored_by_the_evaluator(star4: Instance) -> None:
    front = mmv_nsga(star4, ("delay", "accuracy", "security"), pop_size=24, generations=6, seed=1)
    assert front.method == "nsga2" and not front.exact
    assert front.senses == ("min", "max", "max") and front.units == ("ms", "1", "1")
    assert len(nondominated(front.F, front.senses)) == len(front)
    for x, row in zip(front.X, front.F, strict=True):
        ev = evaluate(star4, x)
        assert ev.feasible, ev.violations
        assert row.tolist() == [ev.objectives[n] for n in front.names]


def test_nsga3_runs_on_three_objectives(star4: Instance) -> None:
    front = mmv_nsga(
        star4,
        ("delay", "accuracy", "reliability"),
        algorithm="nsga3",
        pop_size=10,
        generations=5,
        seed=0,
    )
    assert front.method == "nsga3" and len(front) >= 1
    assert front.stats["pop_size"] >= 28  # at least the 28 Das-Dennis directions (6 parts)
    assert all(evaluate(star4, x).feasible for x in front.X)


@pytest.mark.parametrize("seed", range(5))
def test_repair_restores_capacity_and_stability(seed: int) -> None:
    inst = generate("mmv-random", "small", seed=seed)
    t = _tables(inst)
    rng = np.random.default_rng(seed)
    hi = np.concatenate([t.nv - 1, t.ub.max(axis=1).ravel()])
    # wild vectors: out of bounds, packed nodes, services without replicas
    X = rng.integers(-2, hi + 3, size=(40, len(hi))).astype(float)
    X[::4, t.n_services :] = 0
    fixed = np.array([_repair_row(t, x) for x in X])
    _, G = _evaluate(t, fixed, ["delay"])
    assert np.all(G == 0)
    for x in fixed:
        dec = {
            "versions": {s: t.labels[k][int(x[k])] for k, s in enumerate(t.services)},
            "replicas": {
                s: {n: int(x[t.n_services + k * t.n_nodes + i]) for i, n in enumerate(t.nodes)}
                for k, s in enumerate(t.services)
            },
        }
        assert evaluate(inst, dec).feasible
    # a repaired decision is a fixed point: repairing it again changes nothing
    again = np.array([_repair_row(t, x) for x in fixed])
    assert np.array_equal(again, fixed)


def test_repair_never_raises_the_delay_of_a_feasible_decision(star4: Instance) -> None:
    t = _tables(star4)
    rng = np.random.default_rng(0)
    X = np.zeros((30, t.n_services + t.n_services * t.n_nodes))
    X[:, : t.n_services] = rng.integers(0, t.nv, size=(30, t.n_services))
    # one replica of every service on the farthest node: feasible, far from the best
    X[:, t.n_services + t.n_nodes - 1 :: t.n_nodes] = 1
    before, g0 = _evaluate(t, X, ["delay"])
    assert np.all(g0 == 0)
    after, _ = _evaluate(t, np.array([_repair_row(t, x) for x in X]), ["delay"])
    assert np.all(after <= before + 1e-12)
    assert np.all(after < before)


@pytest.mark.parametrize("seed", [0, 3, 9, 14])
def test_reaches_the_brute_force_front_on_tiny_instances(seed: int) -> None:
    inst = tiny(seed)
    pts = _brute_mmv_points(inst)
    if len(pts) == 0:
        pytest.skip("infeasible instance")
    truth = pts[nondominated(pts, ["min", "max"])]
    front = mmv_nsga(inst, pop_size=20, generations=15, seed=0)
    ref = [truth[:, 0].max() + 1.0, truth[:, 1].min() - 0.1]
    exact = ParetoFront(
        [None] * len(truth), truth, front.names, front.senses, front.units, "exact", True
    )
    assert front.hypervolume(ref) >= 0.99 * exact.hypervolume(ref)


def test_errors(star4: Instance) -> None:
    with pytest.raises(EdgeboundError, match="objectives"):
        mmv_nsga(star4, ("delay", "speed"))
    with pytest.raises(EdgeboundError, match="two to four"):
        mmv_nsga(star4, ("delay",))
    with pytest.raises(EdgeboundError, match="algorithm"):
        mmv_nsga(star4, algorithm="moead")  # type: ignore[arg-type]
    doc = star4.model_dump()
    for dem in doc["workload"]["demands"]:
        dem["rate_rps"] = 1e6
    with pytest.raises(InfeasibleError, match="no version can serve"):
        mmv_nsga(Instance.model_validate(doc))


def _hv_ratio(inst: Instance, exact_kwargs: dict[str, Any], nsga_kwargs: dict[str, Any]) -> float:
    exact = mmv_front(inst, ("delay", "accuracy"), **exact_kwargs)
    front = mmv_nsga(inst, ("delay", "accuracy"), **nsga_kwargs)
    lo, hi = exact.F.min(axis=0), exact.F.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-9)
    ref = [hi[0] + pad[0], lo[1] - pad[1]]
    return front.hypervolume(ref) / exact.hypervolume(ref)


@pytest.mark.slow
def test_hypervolume_on_gentzen_star4(star4: Instance) -> None:
    assert _hv_ratio(star4, {"delta": 1e-3}, {"pop_size": 40, "generations": 30}) >= 0.99


@pytest.mark.slow
def test_hypervolume_on_a_medium_instance() -> None:
    inst = generate("mmv-random", "medium", seed=0)
    ratio = _hv_ratio(inst, {"delta": 1e-3}, {"pop_size": 100, "generations": 200})
    assert ratio >= 0.99


def test_mmv_nsga_progress_and_interrupt() -> None:
    from edgebound.instances import load
    from edgebound.pareto.nsga import mmv_nsga

    inst = load("gentzen-star4")
    seen: list[tuple[int, int]] = []
    mmv_nsga(inst, pop_size=12, generations=3, seed=1, progress=lambda *a: seen.append(a))
    assert seen == [(g, 3) for g in range(4)]

    def stop(done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    cut = mmv_nsga(inst, pop_size=12, generations=3, seed=1, progress=stop)
    one = mmv_nsga(inst, pop_size=12, generations=1, seed=1)
    assert cut.stats["interrupted"] is True and cut.stats["generations_done"] == 1
    assert cut.F.tolist() == one.F.tolist()
