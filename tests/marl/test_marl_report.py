"""The comparison report and the ``edgebound marl`` command."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("pettingzoo")
pytest.importorskip("torch")

from typer.testing import CliRunner

import edgebound.cli._marl  # noqa: F401  (registers the command)
from edgebound.cli import app
from edgebound.instances import load
from edgebound.marl import MAPPOConfig, MARLError
from edgebound.marl.report import MARLReport, compare, mean_ci

INST = load("continuum-3edge-2cloud")


def test_report_rows_metrics_and_pareto() -> None:
    rep = compare(
        INST,
        seeds=[0, 1],
        periods=2,
        mpc=False,
        bound={"value": 1.0, "status": "given"},
        config=MAPPOConfig(episodes=1),
    )
    rows = {r["controller"]: r for r in rep.table()}
    assert list(rows) == ["heuristic", "mappo-fed", "mappo-local"]
    for row in rows.values():
        assert row["n"] == 2
        assert row["mean"]["throughput_rps"] > 0
        assert row["mean"]["weighted"] >= 1.0
        assert row["gap_pct"] >= 0.0
        assert 0.0 <= row["mean"]["unstable_periods"] <= 2.0
    assert rows["mappo-fed"]["mean"]["power_cap_violations"] == 0.0
    assert rows["heuristic"]["mean"]["train_s"] == 0.0 < rows["mappo-fed"]["mean"]["train_s"]
    par = rep.pareto()
    assert par["front"] and set(par["controllers"]) == set(rows)
    assert any(not c["dominated"] for c in par["controllers"].values())
    assert rep.bound_violations == []
    doc = json.loads(json.dumps(rep.to_dict(), default=str))
    assert doc["training"]["mappo-fed"]["uplink_bytes"] > 0


def test_a_run_below_the_bound_is_flagged() -> None:
    rep = compare(
        INST, seeds=[0], periods=1, mpc=False, learners=(), bound={"value": 1e9, "status": "x"}
    )
    assert len(rep.bound_violations) == 1 and "heuristic seed 0" in rep.bound_violations[0]


@pytest.mark.slow
def test_no_controller_beats_the_clairvoyant_bound() -> None:
    rep = compare(INST, seeds=[0], periods=3, config=MAPPOConfig(episodes=2))
    assert rep.bound is not None and math.isfinite(rep.bound["value"])
    assert rep.bound_violations == []
    assert {r["controller"] for r in rep.runs} >= {"heuristic", "mappo-fed", "mappo-local"}


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(MARLError, match="periods: 99 must be a whole number from 1 to 72"):
        compare(INST, periods=99)
    with pytest.raises(MARLError, match="learners: 'central'"):
        compare(INST, periods=1, learners=("central",))
    with pytest.raises(MARLError, match="seeds"):
        compare(INST, periods=1, seeds=[])


def test_mean_ci_keeps_infinite_runs_visible() -> None:
    assert mean_ci([]) == (
        pytest.approx(math.nan, nan_ok=True),
        pytest.approx(math.nan, nan_ok=True),
    )
    assert mean_ci([2.0, math.inf])[0] == math.inf
    rep = MARLReport("x", 1, (0,), 1, [{"controller": "a", "seed": 0, "weighted": math.inf}], None)
    assert rep.table()[0]["mean"]["weighted"] == math.inf


def test_cli_marl_json_and_table(tmp_path) -> None:
    runner = CliRunner()
    cache = tmp_path / "bound.json"
    cache.write_text(
        json.dumps({"instance": INST.name, "periods": 1, "value": 0.5, "status": "given"})
    )
    args = ["marl", INST.name, "--seeds", "1", "--episodes", "1", "--hours", "0.0833", "--no-mpc"]
    res = runner.invoke(app, [*args, "--bound-cache", str(cache), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["bound"]["value"] == 0.5
    assert [r["controller"] for r in doc["table"]] == ["heuristic", "mappo-fed", "mappo-local"]
    res = runner.invoke(app, [*args, "--no-bound", "--plot-dir", str(tmp_path / "plots")])
    assert res.exit_code == 0, res.output
    assert "mappo-local" in res.stdout and (tmp_path / "plots" / "pareto.png").is_file()


def test_cli_marl_bad_input_exits_1_with_the_field() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["marl", INST.name, "--hours", "100"])
    assert res.exit_code == 1
    assert "--hours: 100 h is 1200 periods" in res.output
