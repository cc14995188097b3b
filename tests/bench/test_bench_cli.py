"""The bench commands, and a sweep killed midway then resumed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import edgebound.cli._bench  # noqa: F401  (registers the commands)
from edgebound.bench import load_experiment, read_records
from edgebound.cli import EXIT_INVALID, app

runner = CliRunner()

SMALL = """
name: small
seeds: 2
instances: [gentzen-star4]
methods:
  - method: simulate
    params: {arrivals: 1500}
    grid: {policy: [always, never]}
"""


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def test_bench_json_summary_and_default_output(small: Path) -> None:
    result = run("bench", str(small), "--workers", "1", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    out = small.with_name("small.results.jsonl")
    assert doc["results"] == str(out) and out.is_file()
    assert (doc["total"], doc["completed"], doc["skipped"], doc["failed"]) == (4, 4, 0, 0)
    groups = {g["params"]["policy"]: g for g in doc["summary"]}
    assert groups["never"]["n"] == 2 and groups["never"]["seeds"] == [0, 1]
    assert groups["always"]["halfwidth"]["objectives.delay"] > 0
    # a second run without --resume would mix sweeps: refused, naming the fix
    again = run("bench", str(small), "--workers", "1")
    assert again.exit_code == EXIT_INVALID
    assert "already holds 4 results; resume it (--resume)" in again.stderr
    resumed = run("bench", str(small), "--resume", "--json")
    assert json.loads(resumed.stdout)["skipped"] == 4


def test_bench_tables_plot_and_summarize(small: Path, tmp_path: Path) -> None:
    out, png = tmp_path / "r.jsonl", tmp_path / "s.png"
    result = run("bench", str(small), "-w", "1", "-o", str(out), "--plot", str(png))
    assert result.exit_code == 0, result.output
    assert "simulate: mean ± 95 % CI" in result.stdout and "never" in result.stdout
    assert png.stat().st_size > 0
    summ = run("bench-summarize", str(out), "-m", "objectives.accuracy", "--json")
    groups = json.loads(summ.stdout)["groups"]
    assert [g["params"]["policy"] for g in groups] == ["always", "never"]
    table = run("bench-summarize", str(out), "-m", "objectives.accuracy", "--confidence", "0.9")
    assert "accuracy" in table.stdout and "90 % CI" in table.stdout
    assert "delay" not in table.stdout
    missing = run("bench-summarize", str(tmp_path / "none.jsonl"))
    assert missing.exit_code == EXIT_INVALID and "no such result file" in missing.stderr


def test_bench_dry_run_counts_what_is_left(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    first = load_experiment(small).runs[0]
    out.write_text(json.dumps(first.to_dict() | {"status": "ok", "result": {}}) + "\n")
    doc = json.loads(run("bench", str(small), "-o", str(out), "--dry-run", "--json").stdout)
    assert doc["runs"] == [
        {"method": "simulate", "instance": "gentzen-star4", "runs": 4, "finished": 1}
    ]


def test_bad_experiment_exits_1_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SMALL.replace("policy: [always, never]", "policy: [always, nver]"))
    result = run("bench", str(path))
    assert result.exit_code == EXIT_INVALID
    assert "methods[0].grid.policy[1]: 'nver' must be one of 'always'" in result.stderr
    result = run("bench", str(tmp_path / "missing.yaml"), "--json")
    assert result.exit_code == EXIT_INVALID
    assert json.loads(result.stdout)["error"]["type"] == "ExperimentError"


def test_failed_runs_exit_1_and_are_summarized(tmp_path: Path) -> None:
    path = tmp_path / "fails.yaml"
    path.write_text(
        "instances: [continuum-3edge-2cloud]\n"
        "methods: [{method: solve, params: {objective: delay}}]\n"  # an MMV objective
    )
    result = run("bench", str(path), "-w", "1")
    assert result.exit_code == EXIT_INVALID
    assert "1 of 1 runs failed" in result.stderr
    assert "SolverError: objective: 'delay'" in " ".join(result.stdout.split())


# --------------------------------------------------------------------------- kill and resume

_MAIN = (
    "import sys, edgebound.cli._bench\n"
    "from edgebound.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _start_and_stop(experiment: Path, out: Path, sig: int) -> tuple[int, str, bytes]:
    """Start a 2-worker sweep, stop it with ``sig`` once 3 runs are stored."""
    cmd = [sys.executable, "-c", _MAIN, "bench", str(experiment), "-o", str(out), "-w", "2"]
    # a shell that starts these tests in the background (``... &`` without job control)
    # ignores SIGINT, and the sweep would inherit that: give it the default disposition, so
    # that Python turns the signal into KeyboardInterrupt as it does in a terminal
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while _lines(out) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err, out.read_bytes()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_sweep_resumes_without_redoing_runs(
    kill_sweep: Path, tmp_path: Path, sig: int
) -> None:
    out = tmp_path / "results.jsonl"
    total = len(load_experiment(kill_sweep).runs)
    code, err, before = _start_and_stop(kill_sweep, out, sig)
    saved = before.count(b"\n")
    assert 3 <= saved < total, "the sweep must be stopped midway"
    if sig == signal.SIGINT:
        assert code == 130
        assert f"interrupted: {saved} of {total} runs are in" in err and "--resume" in err
    else:
        assert code == -signal.SIGKILL
        # a kill can cut the line being written: make sure one is cut
        with out.open("ab") as f:
            f.write(b'{"key": "0000000000000000", "status": "o')
    finished = [r["key"] for r in read_records(out)]
    assert len(finished) == saved
    result = run("bench", str(kill_sweep), "-o", str(out), "--resume", "-w", "1", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["skipped"], doc["completed"]) == (saved, total - saved)
    after = out.read_bytes()
    assert after.startswith(before[: before.rindex(b"\n") + 1])  # finished records untouched
    keys = [r["key"] for r in read_records(out)]
    assert len(keys) == len(set(keys)) == total  # nothing redone, nothing lost
    assert keys[:saved] == finished
