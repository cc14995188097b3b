"""The Gymnasium environment over the versioning simulator."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import edgebound.envs
from edgebound.sim import QLearningAgent, train


def test_registered_and_passes_the_env_checker() -> None:
    assert edgebound.envs.ENV_ID in gym.registry
    env = gym.make("edgebound/MMVUpdate-v0", arrivals=400)
    check_env(env.unwrapped)


def test_episode_reward_is_minus_the_weighted_objective() -> None:
    env = edgebound.envs.MMVUpdateEnv(arrivals=3000)
    obs, info = env.reset(seed=4)
    rewards, done = [], False
    while not done:
        obs, r, done, _, info = env.step(1)
        assert env.observation_space.contains(obs)
        rewards.append(r)
    res = info["result"]
    assert res.counts["decisions"] == len(rewards)
    assert np.mean(rewards) == pytest.approx(-res.objectives["weighted"], rel=0.1)


def test_same_seed_same_episode() -> None:
    a = edgebound.envs.MMVUpdateEnv(arrivals=500)
    b = edgebound.envs.MMVUpdateEnv(arrivals=500)
    oa, _ = a.reset(seed=9)
    ob, _ = b.reset(seed=9)
    assert np.array_equal(oa, ob)
    for act in [0, 1, 1, 0, 1]:
        ra, rb = a.step(act), b.step(act)
        assert np.array_equal(ra[0], rb[0]) and ra[1] == rb[1]


def test_qlearning_agent_trains_on_the_env() -> None:
    env = gym.make("edgebound/MMVUpdate-v0", arrivals=3000)
    agent = QLearningAgent(seed=0)
    means = train(env, agent, episodes=2, seed=0)
    assert len(means) == 2 and all(np.isfinite(means))
    assert len(agent.q) > 1
