"""Running experiments: same records for any worker count, resume, failures, methods."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from edgebound.bench import (
    BenchError,
    StoreError,
    comparable,
    execute,
    flatten,
    loads_experiment,
    method,
    read_records,
    register,
    run_experiment,
)
from edgebound.errors import EdgeboundError
from edgebound.instances import load

SMALL_SWEEP = """
seeds: 3
instances: [gentzen-star4]
methods:
  - method: simulate
    params: {arrivals: 2000}
    grid: {policy: [always, never]}
  - method: solve
  - method: bound
"""


def test_worker_count_does_not_change_the_records(tmp_path: Path) -> None:
    exp = loads_experiment(SMALL_SWEEP)
    serial = run_experiment(exp, tmp_path / "serial.jsonl", workers=1)
    pooled = run_experiment(exp, tmp_path / "pooled.jsonl", workers=2)
    assert (serial.completed, serial.failed, pooled.completed, pooled.workers) == (8, 0, 8, 2)
    one = read_records(tmp_path / "serial.jsonl")
    two = read_records(tmp_path / "pooled.jsonl")
    assert comparable(one) == comparable(two)
    assert {r["meta"]["backend"] for r in two} == {"local"}
    assert {r["meta"]["pid"] for r in one} != {r["meta"]["pid"] for r in two}
    by_policy = {
        r["params"]["policy"]: r["result"]["counts"]["updates"]
        for r in one
        if r["method"] == "simulate" and r["seed"] == 0
    }
    assert by_policy["never"] == 0 < by_policy["always"]
    (solved,) = [r["result"] for r in one if r["method"] == "solve"]
    assert solved["status"] == "optimal"


def test_resume_runs_only_what_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    base = "instances: [gentzen-star4]\nseeds: 3\nmethods: [{method: simulate, %s}]"
    first = loads_experiment(base % "params: {arrivals: 1000, policy: never}")
    run_experiment(first, out, workers=1)
    before = out.read_text()
    full = loads_experiment(base % "params: {arrivals: 1000}, grid: {policy: [never, always]}")
    with pytest.raises(StoreError, match="already holds 3 results; resume it"):
        run_experiment(full, out, workers=1)
    calls: list[tuple[int, int, Any]] = []
    report = run_experiment(full, out, workers=1, resume=True, progress=lambda *a: calls.append(a))
    assert (report.total, report.skipped, report.completed) == (6, 3, 3)
    text = out.read_text()
    assert text.startswith(before)  # finished records are neither rewritten nor redone
    keys = [r["key"] for r in read_records(out)]
    assert sorted(keys) == sorted(r.key for r in full.runs)
    assert [c[:2] for c in calls] == [(3, 6), (4, 6), (5, 6), (6, 6)]
    assert calls[0][2] is None and calls[1][2]["params"]["policy"] == "always"
    again = run_experiment(full, out, workers=2, resume=True)
    assert (again.skipped, again.completed) == (6, 0)
    assert out.read_text() == text


def test_a_failing_run_is_recorded_and_not_retried(tmp_path: Path) -> None:
    exp = loads_experiment(
        "instances: [continuum-3edge-2cloud]\n"
        "methods: [{method: solve, params: {objective: delay}}]"  # an MMV objective
    )
    out = tmp_path / "r.jsonl"
    report = run_experiment(exp, out, workers=1)
    assert (report.completed, report.failed) == (1, 1)
    (record,) = read_records(out)
    assert record["status"] == "error" and record["result"] is None
    assert record["error"]["type"] == "SolverError"
    assert "delay" in record["error"]["message"]
    assert "traceback" not in record["meta"]  # an expected error, not a bug
    assert run_experiment(exp, out, workers=1, resume=True).completed == 0


@register("test-broken", seeded=False)
def _broken(instance: Any, params: dict[str, Any], seed: int | None) -> Any:
    if params.get("kind") == "list":
        return [1, 2]
    raise ZeroDivisionError("a bug")


def test_a_bug_or_a_bad_return_value_is_recorded_with_its_type() -> None:
    text = load("gentzen-star4").model_dump_json()
    run = {"key": "k", "instance": "i", "instance_hash": "test-h", "method": "test-broken",
           "seed": None}  # fmt: skip
    bug = execute(run | {"params": {}}, text)
    assert bug["error"] == {"type": "ZeroDivisionError", "message": "a bug"}
    assert "ZeroDivisionError" in bug["meta"]["traceback"]
    bad = execute(run | {"params": {"kind": "list"}}, text)
    assert bad["error"]["type"] == "BenchError"
    assert "returned list; a method returns a dict" in bad["error"]["message"]


def test_backend_options_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exp = loads_experiment("instances: [gentzen-star4]\nmethods: [{method: bound}]")
    out = tmp_path / "r.jsonl"
    with pytest.raises(BenchError, match="backend: 'spark' must be one of local, ray"):
        run_experiment(exp, out, backend="spark")
    with pytest.raises(BenchError, match="workers: 0 must be >= 1"):
        run_experiment(exp, out, workers=0)
    with pytest.raises(BenchError, match="ray_address: only for backend 'ray'"):
        run_experiment(exp, out, ray_address="auto")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(BenchError, match=r"pip install 'edgebound\[cluster\]'"):
        run_experiment(exp, out, backend="ray")


# --------------------------------------------------------------------------- built-in methods


def _run(name: str, params: dict[str, Any], seed: int | None = 0, inst: str = "gentzen-star4"):
    m = method(name)
    return m.func(load(inst), m.complete(params), seed)


def _no_timings(result: dict[str, Any]) -> None:
    names = list(flatten(result))
    assert not [n for n in names if "wall" in n or "seconds" in n or n.endswith("time_s")]


def test_simulate_is_seeded() -> None:
    params = {"policy": "random", "arrivals": 3000}
    one = _run("simulate", params, seed=1)
    assert one == _run("simulate", params, seed=1)
    assert one != _run("simulate", params, seed=2)
    assert "bound" not in one
    _no_timings(one)


def test_simulate_against_its_clairvoyant_bound() -> None:
    rec = _run("simulate", {"arrivals": 3000, "periods": 1, "bound": True}, seed=1)
    assert rec["bound"]["admits"] is True and rec["bound"]["periods"] == 1
    assert rec["bound"]["achieved"] >= rec["bound"]["bound"]
    _no_timings(rec)


def test_solve_and_bound_agree_and_carry_no_timings() -> None:
    solved = _run("solve", {}, None)
    bound = _run("bound", {"model": "mmv"}, None)
    assert solved["status"] == "optimal"
    assert bound["bound"] <= solved["objective"] + 1e-6
    assert solved["objectives"]["weighted"] == pytest.approx(solved["objective"], abs=1e-6)
    _no_timings(solved)
    _no_timings(bound)
    placement = _run("bound", {}, None, inst="continuum-3edge-2cloud")
    assert placement["model"] == "placement" and placement["objective"] == "energy"


def test_pareto_front_and_hypervolume() -> None:
    params = {"pop_size": 12, "generations": 4, "ref": [40.0, 0.5]}
    front = _run("pareto", params, seed=3)
    assert front == _run("pareto", params, seed=3)
    assert front["method"] == "nsga2" and front["points"] == len(front["F"]) >= 1
    assert front["hypervolume"] > 0
    _no_timings(front)
    with pytest.raises(EdgeboundError, match=r"ref: .* must have one value per objective"):
        _run("pareto", {"pop_size": 12, "generations": 1, "ref": [1.0]})


def test_plant_closed_loop_is_seeded() -> None:
    inst = "continuum-3edge-2cloud"
    heuristic = _run("plant", {"periods": 2}, seed=0, inst=inst)
    assert heuristic == _run("plant", {"periods": 2}, seed=0, inst=inst)
    assert heuristic != _run("plant", {"periods": 2}, seed=1, inst=inst)
    assert heuristic["controller"] == "heuristic" and heuristic["periods"] == 2
    assert heuristic["throughput_rps"] > 0 and heuristic["weighted"] > 0
    _no_timings(heuristic)


def test_mpc_closed_loop_is_seeded() -> None:
    pytest.importorskip("edgebound.mpc")
    inst = "continuum-3edge-2cloud"
    params = {"periods": 1, "horizon": 2}
    mpc = _run("mpc", params, seed=0, inst=inst)
    assert mpc == _run("mpc", params, seed=0, inst=inst)
    assert mpc["controller"] == "mpc-seasonal"
    _no_timings(mpc)


def test_solve_by_decomposition() -> None:
    weights = {"energy": 20.0, "cost": 1.0, "dropped": 1000.0, "migrations": 0.5}
    params = {"method": "decomposition", "objective": "weighted", "weights": weights}
    rec = _run(
        "solve", params | {"time_limit": 20.0, "mip_gap": 0.01}, None, "continuum-3edge-2cloud"
    )
    assert rec["feasible"] is True and rec["bound"] <= rec["objective"] + 1e-9
    assert rec["objectives"]["weighted"] == pytest.approx(rec["objective"], rel=1e-6)
    assert any("fix-and-optimize" in note for note in rec["notes"])
    _no_timings(rec)
    assert not [k for k in rec["stats"] if k.endswith("_s")]
    rec = _run("solve", {"method": "decomposition", "mip_gap": 0.01}, None)
    assert rec["model"] == "mmv" and rec["bound"] <= rec["objective"] + 1e-9
    with pytest.raises(EdgeboundError, match="mmv-schedule"):
        _run("solve", {"method": "decomposition", "model": "mmv-schedule"}, None)


def test_solve_by_price_and_branch() -> None:
    weights = {"energy": 20.0, "cost": 1.0, "dropped": 1000.0, "migrations": 0.5}
    params = {"method": "price-and-branch", "objective": "weighted", "weights": weights}
    rec = _run(
        "solve", params | {"time_limit": 20.0, "mip_gap": 0.01}, None, "continuum-3edge-2cloud"
    )
    assert rec["feasible"] is True and rec["bound"] <= rec["objective"] + 1e-9
    assert rec["objectives"]["weighted"] == pytest.approx(rec["objective"], rel=1e-6)
    assert rec["stats"]["method"] == "price-and-branch"
    assert not [k for k in rec["stats"] if k.endswith("_s")]
    with pytest.raises(EdgeboundError, match="price-and-branch is for model placement, not 'mmv'"):
        _run("solve", {"method": "price-and-branch"}, None)
