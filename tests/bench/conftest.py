"""Shared experiments of the bench tests: small, fast and seeded."""

from __future__ import annotations

from pathlib import Path

import pytest

# The bundled instances x their policies x 5 seeds, with the optimum and bounds of each
# instance: the sweep of examples/experiments/policies.yaml, with short runs (and the
# continuum plant's heuristic autoscaler only).
BUNDLED_SWEEP = """
name: bundled-sweep
seeds: 5
instances: [gentzen-star4, continuum-3edge-2cloud]
methods:
  - method: simulate
    instances: [gentzen-star4]
    params: {arrivals: 2000}
    grid: {policy: [always, never, random, qlearning]}
  - method: plant
    instances: [continuum-3edge-2cloud]
    params: {periods: 3, controller: heuristic}
  - method: solve
  - method: bound
"""

# Only simulations, long enough (about 0.05 s each) that a kill lands in the middle.
KILL_SWEEP = """
name: kill-sweep
seeds: 5
instances: [gentzen-star4]
methods:
  - method: simulate
    params: {arrivals: 10000}
    grid: {policy: [always, never, random, qlearning]}
"""


@pytest.fixture
def bundled_sweep(tmp_path: Path) -> Path:
    path = tmp_path / "bundled.yaml"
    path.write_text(BUNDLED_SWEEP)
    return path


@pytest.fixture
def kill_sweep(tmp_path: Path) -> Path:
    path = tmp_path / "kill.yaml"
    path.write_text(KILL_SWEEP)
    return path
