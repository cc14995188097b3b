"""The solve and bound commands: JSON contract, exit codes, diagnosis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from edgebound.cli import EXIT_INFEASIBLE, EXIT_INVALID, app
from edgebound.cli._app import EXIT_NOT_OPTIMAL
from edgebound.instances import dumps, load

runner = CliRunner()


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def test_solve_json_contract() -> None:
    result = run("solve", "gentzen-star4", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    for key in ("status", "objective", "bound", "gap", "objectives", "decision", "timings"):
        assert key in doc
    assert doc["status"] == "optimal"
    assert set(doc["objectives"]) >= {"delay", "accuracy", "security", "reliability"}
    assert doc["objectives"]["weighted"] == doc["objective"]
    assert set(doc["decision"]["replicas"]) == set(load("gentzen-star4").service_names)


def test_solve_writes_result_file(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    result = run(
        "solve", "gentzen-star4", "--objective", "accuracy", "-c", "delay=30", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["objectives"]["delay"] <= 30 + 1e-9
    assert "E1" in result.stdout  # the table of replicas per node


def test_solve_infeasible_exits_3_with_conflict(tmp_path: Path) -> None:
    data = yaml.safe_load(dumps(load("gentzen-star4")))
    for node in data["topology"]["nodes"]:
        node["cpu"] = 7.0
    for demand in data["workload"]["demands"]:
        demand["rate_rps"] = 120.0
    path = tmp_path / "tight.yaml"
    path.write_text(yaml.safe_dump(data))
    result = run("solve", str(path))
    assert result.exit_code == EXIT_INFEASIBLE
    assert "node E1: 7 vCPU" in result.stderr
    doc = json.loads(run("solve", str(path), "--json").stdout)
    assert doc["status"] == "infeasible" and doc["conflict_rows"]


def test_solve_bad_option_values_exit_1() -> None:
    result = run("solve", "gentzen-star4", "--weights", "delay:1")
    assert result.exit_code == EXIT_INVALID
    assert "--weights" in result.stderr
    result = run("solve", "gentzen-star4", "--weights", "latency=1")
    assert result.exit_code == EXIT_INVALID
    assert "weights.latency" in result.stderr


def test_require_optimal_exits_4_when_time_runs_out(tmp_path: Path) -> None:
    result = run(
        "generate", "mmv-random", "--size", "large", "--seed", "0", "-o", str(tmp_path / "l.yaml")
    )
    assert result.exit_code == 0
    result = run("solve", str(tmp_path / "l.yaml"), "--time-limit", "0.5", "--require-optimal")
    assert result.exit_code == EXIT_NOT_OPTIMAL


def test_schedule_and_decomposition_and_lexicographic() -> None:
    doc = json.loads(
        run(
            "solve",
            "gentzen-star4",
            "--model",
            "mmv-schedule",
            "--steps",
            "2",
            "--gap",
            "1e-3",
            "--json",
        ).stdout
    )
    assert len(doc["decision"]["periods"]) == 2
    doc = json.loads(
        run("solve", "gentzen-star4", "--method", "decomposition", "--gap", "0.01", "--json").stdout
    )
    assert doc["bound"] <= doc["objective"] + 1e-9
    doc = json.loads(
        run(
            "solve",
            "gentzen-star4",
            "--objective",
            "lexicographic",
            "--order",
            "accuracy,delay",
            "--json",
        ).stdout
    )
    assert [s["objective"] for s in doc["stats"]["stages"]] == ["accuracy", "delay"]


def test_bound_json() -> None:
    result = run("bound", "gentzen-star4", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["lp_bound"] <= doc["bound"] + 1e-9 <= doc["incumbent"] + 2e-9
    assert doc["sense"] == "min"


def test_placement_solve_and_bound() -> None:
    doc = json.loads(
        run(
            "solve",
            "continuum-3edge-2cloud",
            "--model",
            "placement",
            "--objective",
            "energy",
            "--json",
        ).stdout
    )
    assert doc["status"] == "optimal"
    assert doc["objectives"]["energy"] == pytest.approx(doc["objective"], rel=1e-6)
    assert doc["feasible"] is True
    result = run("solve", "continuum-3edge-2cloud", "--model", "placement", "--objective", "delay")
    assert result.exit_code == EXIT_INVALID
    assert "delay" in result.stderr
    result = run(
        "solve", "continuum-3edge-2cloud", "--model", "placement", "--weights", "p95_latency=1"
    )
    assert result.exit_code == EXIT_INVALID  # p95 is not representable
    assert "p95" in result.stderr
    doc = json.loads(
        run(
            "bound",
            "continuum-3edge-2cloud",
            "--model",
            "placement",
            "--objective",
            "cost",
            "--time-limit",
            "30",
            "--json",
        ).stdout
    )
    assert doc["lp_bound"] <= doc["bound"] + 1e-9


def test_placement_schedule_bound_and_solve() -> None:
    result = run(
        "bound",
        "continuum-3edge-2cloud",
        "--model",
        "placement-schedule",
        "--steps",
        "2",
        "--time-limit",
        "3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"] == "placement_schedule" and doc["objective"] == "weighted"
    assert doc["status"] in ("optimal", "time_limit")
    if doc["incumbent"] is not None:  # non-finite numbers are strings in the JSON ("inf")
        assert float(doc["bound"]) <= float(doc["incumbent"]) + 1e-9
        assert float(doc["gap"]) >= 0
    result = run("bound", "continuum-3edge-2cloud", "--model", "placement", "--steps", "2")
    assert result.exit_code == EXIT_INVALID
    assert "--steps" in result.stderr


# the placement methods' runs: the bundled continuum instance, weights without latency
_PLACEMENT = ("solve", "continuum-3edge-2cloud", "--model", "placement", "--method")
_NO_LATENCY = ("--weights", "energy=20,cost=1,dropped=1000,migrations=0.5", "--gap", "0.01")


def test_placement_fix_and_optimize_from_the_command_line() -> None:
    limits = (*_NO_LATENCY, "--time-limit", "20", "--json")
    doc = json.loads(run(*_PLACEMENT, "decomposition", *limits).stdout)
    assert doc["feasible"] is True
    assert doc["objectives"]["weighted"] == pytest.approx(doc["objective"], rel=1e-6)
    assert doc["bound"] <= doc["objective"] + 1e-9
    assert any("fix-and-optimize" in note for note in doc["notes"])
    cut = json.loads(run(*_PLACEMENT, "decomposition", "--service-cuts", *limits).stdout)
    assert cut["stats"]["service_cuts"] > 0
    assert cut["bound"] <= doc["objective"] + 1e-6 and doc["bound"] <= cut["objective"] + 1e-6
    result = run("solve", "gentzen-star4", "--model", "mmv-schedule", "--method", "decomposition")
    assert result.exit_code == EXIT_INVALID
    assert "mmv-schedule" in result.stderr
    result = run("solve", "continuum-3edge-2cloud", "--model", "placement", "--service-cuts")
    assert result.exit_code == EXIT_INVALID
    assert "--method milp" in result.stderr


@pytest.mark.parametrize("method", ["decomposition", "price-and-branch"])
def test_placement_methods_refuse_mean_latency(method: str) -> None:
    # the instance's own weights include mean latency, which neither method takes
    result = run(*_PLACEMENT, method)
    assert result.exit_code == EXIT_INVALID
    assert "--weights" in result.stderr and "latency" in result.stderr


def test_placement_price_and_branch_from_the_command_line() -> None:
    limits = (*_NO_LATENCY, "--time-limit", "30", "--json")
    doc = json.loads(run(*_PLACEMENT, "price-and-branch", *limits).stdout)
    milp = json.loads(run(*_PLACEMENT, "milp", *limits).stdout)
    assert doc["feasible"] is True and doc["stats"]["method"] == "price-and-branch"
    assert doc["objectives"]["weighted"] == pytest.approx(doc["objective"], rel=1e-6)
    # each bound is at most every decision's objective
    assert doc["bound"] <= milp["objective"] + 1e-6 and milp["bound"] <= doc["objective"] + 1e-6
    result = run("solve", "gentzen-star4", "--method", "price-and-branch")
    assert result.exit_code == EXIT_INVALID
    assert "only for --model placement, not mmv" in result.stderr
    result = run(*_PLACEMENT, "price-and-branch", "--objective", "throughput")
    assert result.exit_code != 0 and "maximized" in result.stderr


def test_placement_bound_with_service_cuts() -> None:
    result = run(
        "bound",
        "continuum-3edge-2cloud",
        "--model",
        "placement",
        "--objective",
        "cost",
        "--time-limit",
        "20",
        "--service-cuts",
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["lp_bound"] <= doc["bound"] + 1e-9 <= float(doc["incumbent"]) + 2e-9
    result = run("bound", "gentzen-star4", "--service-cuts")
    assert result.exit_code == EXIT_INVALID
    assert "--service-cuts: only with --model placement" in result.stderr
