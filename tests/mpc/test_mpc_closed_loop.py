"""The MPC controller in closed loop, the comparison and the ``mpc`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import edgebound.cli._mpc  # noqa: F401  (registers the command)
from edgebound.cli import app
from edgebound.instances import load
from edgebound.instances.traces import demand_series
from edgebound.mpc import MPCConfig, MPCError
from edgebound.mpc.closed_loop import Comparison, RunRecord, compare, summarize
from edgebound.mpc.controller import MPCController, warmup_history
from edgebound.sim.continuum import run


@pytest.fixture(scope="module")
def inst():
    return load("continuum-3edge-2cloud")


@pytest.mark.parametrize("forecast", ["seasonal", "oracle"])
def test_closed_loop_keeps_caps(inst, forecast):
    ctrl = MPCController(forecast, MPCConfig(horizon=4))
    res = run(inst, ctrl, seed=3, periods=4)
    assert res.summary["power_cap_violations"] == 0
    assert res.summary["migration_cap_violations"] == 0
    assert res.summary["dropped_pct"] < 5.0
    assert len(ctrl.timings) == 4
    assert {t["status"] for t in ctrl.timings} == {"optimal"}


def test_same_seed_same_run(inst):
    a = run(inst, MPCController("seasonal", MPCConfig(horizon=3)), seed=1, periods=3)
    b = run(inst, MPCController("seasonal", MPCConfig(horizon=3)), seed=1, periods=3)
    for x, y in zip(a.actions, b.actions, strict=True):
        assert np.array_equal(x.replicas, y.replicas)
        assert np.allclose(x.routing, y.routing)
    assert a.summary["p95_latency_ms"] == b.summary["p95_latency_ms"]


def test_warmup_history_has_a_row_per_demand(inst):
    warm = warmup_history(inst, 288)
    series = demand_series(inst, 2)
    assert warm.shape == (18, 288)
    assert (warm >= 0).all()
    # the constant model-refresh demands stay constant
    const = [k for k, d in enumerate(inst.workload.demands) if d.profile is None]
    assert np.allclose(warm[const], series[const, :1])


def test_bad_controller_options():
    with pytest.raises(MPCError, match="forecast: 'arima' must be one of"):
        MPCController("arima")
    with pytest.raises(MPCError, match="warmup_days: 1 must be an integer >= 2"):
        MPCController("seasonal", warmup_days=1)


def test_summarize_t_interval():
    mean, half = summarize([{"a": 1.0}, {"a": 2.0}, {"a": 3.0}])
    assert mean["a"] == 2.0
    assert half["a"] == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-5)


def test_compare_keeps_finished_runs_on_interrupt(inst):
    seen = []

    def on_run(rec: RunRecord) -> None:
        seen.append(rec)
        if len(seen) == 2:
            raise KeyboardInterrupt

    cmp = compare(
        inst, seeds=[0, 1], periods=2, bound=False, config=MPCConfig(horizon=2), on_run=on_run
    )
    assert not cmp.complete
    assert [(r.controller, r.seed) for r in cmp.runs] == [("heuristic", 0), ("heuristic", 1)]
    row = cmp.table()[0]
    assert row["n"] == 2 and np.isfinite(row["mean"]["weighted"])


def test_gap_to_bound_in_table():
    runs = (RunRecord("a", 0, {"weighted": 11.0}), RunRecord("a", 1, {"weighted": 13.0}))
    cmp = Comparison("x", 1, (0, 1), runs, {"value": 10.0, "status": "optimal", "wall_s": 0.0})
    assert cmp.table()[0]["gap_pct"] == pytest.approx(20.0)


def test_cli_mpc_json(inst, tmp_path):
    out = tmp_path / "runs.jsonl"
    res = CliRunner().invoke(
        app,
        [
            "mpc",
            "continuum-3edge-2cloud",
            "--hours",
            "0.17",
            "--seeds",
            "1",
            "--horizon",
            "2",
            "--no-bound",
            "--json",
            "--output",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [r["controller"] for r in doc["table"]] == ["heuristic", "mpc-seasonal"]
    assert doc["periods"] == 2 and doc["complete"] is True
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[1])["controller"] == "mpc-seasonal"


def test_cli_mpc_rejects_bad_hours():
    res = CliRunner().invoke(app, ["mpc", "continuum-3edge-2cloud", "--hours", "7", "--no-bound"])
    assert res.exit_code == 1
    assert "--hours: 7 h is 84 periods of 300 s; allowed 1 to 72 (6 h)" in res.output
