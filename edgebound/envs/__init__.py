"""Gymnasium environments over the simulators; importing this module registers them.

Examples
--------
>>> import gymnasium as gym
>>> import edgebound.envs
>>> env = gym.make("edgebound/MMVUpdate-v0", arrivals=500)
>>> obs, info = env.reset(seed=0)
>>> env.observation_space.contains(obs)
True
"""

import gymnasium

from edgebound.envs.mmv_update import ENV_ID, MMVUpdateEnv

__all__ = ["ENV_ID", "MMVUpdateEnv"]

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="edgebound.envs.mmv_update:MMVUpdateEnv")
