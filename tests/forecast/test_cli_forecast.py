"""The ``edgebound forecast`` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from edgebound.cli import EXIT_INVALID, app
from edgebound.cli import _forecast as _registers_forecast  # noqa: F401

runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_seasonal_forecast_of_a_bundled_trace_as_json() -> None:
    result = run("forecast", "nyc_taxi", "--horizon", "4", "--stride", "8", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["step_s"] == 1800.0
    assert doc["heldout_steps"] == 336
    ev = doc["evaluation"]["seasonal"]
    assert ev["horizon"] == 4 and ev["mase"] > 0 and 0 <= ev["coverage"] <= 1
    assert len(doc["forecast"]) == 4
    assert all(
        lo <= hi for lo, hi in zip(doc["interval"]["lower"], doc["interval"]["upper"], strict=True)
    )


def test_moving_average_is_compared_with_seasonal_naive(tmp_path: Path) -> None:
    out = tmp_path / "fc.png"
    result = run(
        "forecast",
        "elb_request_count_8c0756",
        "--model",
        "moving-average",
        "-H",
        "6",
        "--stride",
        "12",
        "--plot",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "moving-average" in result.stdout and "seasonal" in result.stdout
    assert out.stat().st_size > 1000


def test_csv_path_and_custom_step(tmp_path: Path) -> None:
    lines = ["timestamp,value"]
    for i in range(24 * 12):
        lines.append(f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{10 + (i % 24) + (i * 7) % 5}")
    path = tmp_path / "site.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("forecast", str(path), "--step", "7200", "--horizon", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step_s"] == 7200.0


def test_unknown_trace_and_too_long_holdout_exit_1() -> None:
    result = run("forecast", "no_such_trace")
    assert result.exit_code == EXIT_INVALID
    assert "nyc_taxi" in result.output
    result = run("forecast", "elb_request_count_8c0756", "--holdout-days", "14")
    assert result.exit_code == EXIT_INVALID
    assert "--holdout-days" in result.output


def test_tcn_forecast_runs() -> None:
    pytest.importorskip("torch")
    result = run(
        "forecast",
        "elb_request_count_8c0756",
        "--model",
        "tcn",
        "-H",
        "3",
        "--holdout-days",
        "2",
        "--stride",
        "24",
        "--epochs",
        "2",
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["fit_s"] > 0 and set(doc["evaluation"]) == {"tcn", "seasonal"}
