"""The reference learner and its federated averaging."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgebound
from edgebound.marl import FedAverager, FedConfig, MAPPOConfig, MARLError

pytest.importorskip("pettingzoo")


def test_fedaverager_weights_by_samples_and_staleness() -> None:
    exact = {"topk": 1.0, "bits": None, "error_feedback": False, "momentum": 0.0}
    fed = FedAverager(
        np.zeros(3),
        2,
        FedConfig(participation=(1.0, 1.0), straggler_prob=0.0, server_lr=1.0, **exact),
    )
    assert fed.choose(0) == [0, 1]
    fed.submit(0, 0, np.array([1.0, 0.0, 0.0]), weight=1.0)
    fed.submit(0, 1, np.array([0.0, 2.0, 0.0]), weight=3.0)
    assert fed.aggregate(0).tolist() == [0.25, 1.5, 0.0]
    # a straggler's update arrives later, its weight decayed per round of delay
    late = FedAverager(
        np.zeros(1),
        2,
        FedConfig(
            participation=(1.0, 1.0),
            straggler_prob=0.99,
            max_delay=1,
            staleness_decay=0.5,
            server_lr=1.0,
            **exact,
        ),
    )
    late.choose(0)
    late.submit(0, 0, np.array([4.0]), weight=1.0)
    assert late.aggregate(0).tolist() == [0.0]
    assert late.choose(1) == [1]  # client 0 is busy until its update arrives
    assert late.aggregate(1).tolist() == [4.0]


def test_compressed_uplink_is_a_fraction_of_dense() -> None:
    fed = FedAverager(np.zeros(1000), 3, FedConfig(participation=(1.0, 1.0), straggler_prob=0.0))
    rng = np.random.default_rng(0)
    for c in fed.choose(0):
        fed.submit(0, c, rng.normal(size=1000), weight=1.0)
    theta = fed.aggregate(0)
    assert np.count_nonzero(theta) <= 3 * 100
    assert fed.uplink_bytes[0] < 0.2 * fed.dense_bytes[0]


def test_config_names_the_bad_field() -> None:
    with pytest.raises(MARLError, match="episodes: 0 must be a whole number >= 1"):
        MAPPOConfig(episodes=0)
    with pytest.raises(MARLError, match=r"gamma: 1\.5 must be in"):
        MAPPOConfig(gamma=1.5)
    with pytest.raises(MARLError, match="actor_lr"):
        MAPPOConfig(actor_lr=0.0)


def test_training_is_seeded_and_federation_shares_the_actor() -> None:
    pytest.importorskip("torch")
    from edgebound.envs.continuum_marl import ContinuumMARLEnv
    from edgebound.marl import train
    from edgebound.marl.mappo import _flat

    env = ContinuumMARLEnv("continuum-3edge-2cloud", periods=3)
    cfg = MAPPOConfig(episodes=2, seed=1)
    a, b = train(env, cfg), train(env, cfg)
    assert np.array_equal(a.returns, b.returns)
    assert np.array_equal(_flat(a.policy.actors[0]), _flat(b.policy.actors[0]))
    fed = [_flat(n) for n in a.policy.actors]
    assert all(np.array_equal(fed[0], f) for f in fed[1:])
    assert 0 < a.uplink_bytes.sum() < 0.2 * a.dense_bytes.sum()
    local = train(env, MAPPOConfig(episodes=2, seed=1, federated=False))
    loc = [_flat(n) for n in local.policy.actors]
    assert not np.array_equal(loc[0], loc[1])
    assert local.uplink_bytes.sum() == 0 and local.policy.name == "mappo-local"
    other = train(env, MAPPOConfig(episodes=2, seed=2))
    assert not np.array_equal(_flat(other.policy.actors[0]), fed[0])


def test_greedy_policy_runs_as_a_safe_controller() -> None:
    pytest.importorskip("torch")
    from edgebound.envs.continuum_marl import ContinuumMARLEnv
    from edgebound.marl import train
    from edgebound.sim.continuum import run

    env = ContinuumMARLEnv("continuum-3edge-2cloud", periods=3)
    res = train(env, MAPPOConfig(episodes=1))
    out = run(env.instance, res.policy.controller(), seed=0, periods=3)
    assert out.controller == "mappo-fed"
    assert out.summary["power_cap_violations"] == 0.0
    assert out.summary["migration_cap_violations"] == 0.0
    again = run(env.instance, res.policy.controller(), seed=0, periods=3)
    assert again.summary == out.summary


def test_without_torch_the_learner_says_how_to_install() -> None:
    code = (
        "import sys\n"
        "class _NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('no torch here')\n"
        "sys.meta_path.insert(0, _NoTorch())\n"
        "from edgebound.forecast import TorchMissingError\n"
        "from edgebound.marl import MAPPOConfig, train\n"
        "try:\n"
        "    train(None, MAPPOConfig(episodes=1))  # torch is looked for first\n"
        "except TorchMissingError as e:\n"
        "    print('missing:', e)\n"
    )
    root = str(Path(edgebound.__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=root
    )
    assert out.returncode == 0, out.stderr
    assert "missing: the multi-agent learner needs torch" in out.stdout
