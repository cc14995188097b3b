"""The PettingZoo environment over the continuum plant."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

from pettingzoo.test import parallel_api_test, parallel_seed_test
from pettingzoo.test.state_test import test_parallel_env as state_check

import edgebound
from edgebound.envs.continuum_marl import (
    AgentView,
    ContinuumMARLEnv,
    MARLError,
    MultiAgentController,
    RewardWeights,
)
from edgebound.errors import DecisionError
from edgebound.instances import load
from edgebound.instances.generators import generate
from edgebound.mpc.shield import check_action
from edgebound.sim.continuum import run

INST = load("continuum-3edge-2cloud")

# makes `import torch` fail in a subprocess, as on a machine without torch
BLOCK_TORCH = (
    "import sys\n"
    "class _NoTorch:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] == 'torch':\n"
    "            raise ImportError('no torch here')\n"
    "sys.meta_path.insert(0, _NoTorch())\n"
)


@pytest.fixture(scope="module")
def env() -> ContinuumMARLEnv:
    return ContinuumMARLEnv(INST, periods=6)


def test_passes_the_pettingzoo_api_seed_and_state_tests(env: ContinuumMARLEnv) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a PettingZoo warning is an API failure here
        parallel_api_test(env, num_cycles=20)
    parallel_seed_test(lambda: ContinuumMARLEnv(INST, periods=3), num_cycles=5)
    state_check(env)
    assert env.possible_agents == ["edge-a", "edge-b", "edge-c"]


def test_episode_truncates_after_its_periods(env: ContinuumMARLEnv) -> None:
    obs, _ = env.reset(seed=3)
    steps = 0
    while env.agents:
        acts = {a: env.action_space(a).sample() for a in env.agents}
        obs, _, term, trunc, _ = env.step(acts)
        steps += 1
        assert all(env.observation_space(a).contains(o) for a, o in obs.items())
        assert env.state_space.contains(env.state())
    assert steps == 6 and all(trunc.values()) and not any(term.values())
    with pytest.raises(MARLError, match="reset"):
        env.step({})


def test_shielded_random_actions_never_break_caps(env: ContinuumMARLEnv) -> None:
    view = env.view
    for a in env.possible_agents:
        env.action_space(a).seed(7)
    env.reset(seed=1)
    while env.agents:
        assert env.plant is not None
        held = env.plant.serving + env.plant.pending
        _, _, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
        act = env.last_action
        assert act is not None
        assert (
            check_action(view.layout, act, held, np.zeros((held.shape[0], view.own.shape[1]))) == []
        )
        info = next(iter(infos.values()))
        assert info["power_cap_violations"] == 0 and info["migration_cap_violations"] == 0


def test_same_seed_same_episode_and_seeds_differ() -> None:
    def episode(seed: int) -> list[float]:
        e = ContinuumMARLEnv(INST, periods=3)
        e.reset(seed=seed)
        out = []
        while e.agents:
            _, rew, *_ = e.step({a: np.r_[[4] * 6, [1] * 6, 0] for a in e.agents})
            out.append(rew["edge-a"])
        return out

    assert episode(5) == episode(5)
    assert episode(5) != episode(6)


def test_env_episode_equals_the_controller_run() -> None:
    fixed = np.r_[[2] * 6, [2] * 6, 1]
    e = ContinuumMARLEnv(INST, periods=3)
    e.reset(seed=2)
    while e.agents:
        e.step(dict.fromkeys(e.agents, fixed))
    ctrl = MultiAgentController(e.view, lambda obs: dict.fromkeys(obs, fixed), "fixed")
    res = run(INST, ctrl, seed=2, periods=3)
    assert e.result().summary == res.summary


def test_shared_rewards_are_equal_local_ones_differ() -> None:
    acts = {"edge-a": np.r_[[4] * 6, [0] * 6, 0], "edge-b": np.r_[[0] * 6, [4] * 6, 1]}
    acts["edge-c"] = acts["edge-b"]
    out = {}
    for kind in ("shared", "local"):
        e = ContinuumMARLEnv(INST, periods=2, reward=kind)
        e.reset(seed=0)
        _, rew, *_ = e.step(acts)
        out[kind] = rew
    assert len(set(out["shared"].values())) == 1
    assert len(set(out["local"].values())) == 3
    assert all(r < 0 for r in out["local"].values())
    weighted = ContinuumMARLEnv(INST, periods=2, reward_weights=RewardWeights(energy=0, slo=0))
    weighted.reset(seed=0)
    _, rew, *_ = weighted.step(acts)
    assert 0 > rew["edge-a"] > out["shared"]["edge-a"]


def test_node_agents_on_a_generated_instance() -> None:
    inst = generate("continuum-random", "small", seed=1)
    e = ContinuumMARLEnv(inst, granularity="node", periods=4)
    edge = [n.name for n in inst.topology.nodes if n.tier == "edge"]
    assert set(e.possible_agents) <= set(edge) and len(e.possible_agents) >= len(edge) - 1
    assert set(e.view.clusters) == {n.cluster for n in inst.topology.nodes if n.tier == "edge"}
    assert np.allclose(e.view.own.sum(axis=0)[e.view.own.sum(axis=0) > 0], 1.0)
    parallel_api_test(e, num_cycles=10)


def test_bad_options_and_actions_name_the_field() -> None:
    with pytest.raises(MARLError, match="granularity: 'rack' must be 'cluster' or 'node'"):
        AgentView(INST, granularity="rack")  # type: ignore[arg-type]
    with pytest.raises(MARLError, match="reward: 'mine'"):
        ContinuumMARLEnv(INST, reward="mine")  # type: ignore[arg-type]
    with pytest.raises(MARLError, match="periods: 0 must be a whole number from 1 to 72"):
        ContinuumMARLEnv(INST, periods=0)
    e = ContinuumMARLEnv(INST, periods=2)
    e.reset(seed=0)
    good = np.r_[[4] * 6, [1] * 6, 0]
    with pytest.raises(DecisionError, match=r"actions\.edge-b"):
        e.step({"edge-a": good, "edge-b": good[:3], "edge-c": good})
    bad = good.copy()
    bad[0] = 9
    with pytest.raises(DecisionError, match=r"actions.edge-c: .* levels must be whole numbers"):
        e.step({"edge-a": good, "edge-b": good, "edge-c": bad})


def test_the_environment_needs_no_torch() -> None:
    code = (
        BLOCK_TORCH + "from edgebound.envs.continuum_marl import ContinuumMARLEnv\n"
        "import numpy as np\n"
        "e = ContinuumMARLEnv('continuum-3edge-2cloud', periods=1); e.reset(seed=0)\n"
        "e.step({a: np.r_[[4] * 6, [1] * 6, 0] for a in e.agents}); print('ok')\n"
    )
    root = str(Path(edgebound.__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=root
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
