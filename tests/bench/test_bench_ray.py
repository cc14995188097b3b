"""The Ray backend on a local Ray instance: the same records as the local backend."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from edgebound.bench import comparable, load_experiment, read_records, run_experiment

ray: Any = pytest.importorskip(
    "ray", reason="the Ray backend needs Ray (pip install 'edgebound[cluster]')"
)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_and_local_give_identical_result_files(
    local_ray: None, bundled_sweep: Path, tmp_path: Path
) -> None:
    exp = load_experiment(bundled_sweep)
    local = run_experiment(exp, tmp_path / "local.jsonl", backend="local", workers=1)
    remote = run_experiment(exp, tmp_path / "ray.jsonl", backend="ray", workers=2)
    assert (local.completed, remote.completed, remote.failed) == (29, 29, 0)
    on_ray = read_records(tmp_path / "ray.jsonl")
    assert {r["meta"]["backend"] for r in on_ray} == {"ray"}
    assert comparable(read_records(tmp_path / "local.jsonl")) == comparable(on_ray)
    # the Ray instance was already running: the sweep used it and left it running
    assert ray.is_initialized()


def test_ray_resumes_a_local_result_file(
    local_ray: None, bundled_sweep: Path, tmp_path: Path
) -> None:
    exp = load_experiment(bundled_sweep)
    out = tmp_path / "r.jsonl"
    run_experiment(replace(exp, runs=exp.runs[::2]), out, workers=1)
    before = out.read_text()
    report = run_experiment(exp, out, backend="ray", resume=True)
    assert (report.skipped, report.completed) == (15, 14)
    assert out.read_text().startswith(before)
    keys = [r["key"] for r in read_records(out)]
    assert sorted(keys) == sorted(r.key for r in exp.runs)
