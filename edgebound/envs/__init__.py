"""Environments over the simulators: Gymnasium (registered on import) and PettingZoo.

``edgebound/MMVUpdate-v0`` is the versioning simulator's single-agent update decision;
:class:`ContinuumMARLEnv` is the multi-agent (PettingZoo parallel) environment over the
continuum plant.

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

from edgebound.envs.continuum_marl import (
    ENV_NAME,
    AgentView,
    ContinuumMARLEnv,
    MARLError,
    MultiAgentController,
    RewardWeights,
)
from edgebound.envs.mmv_update import ENV_ID, MMVUpdateEnv

__all__ = [
    "ENV_ID",
    "ENV_NAME",
    "AgentView",
    "ContinuumMARLEnv",
    "MARLError",
    "MMVUpdateEnv",
    "MultiAgentController",
    "RewardWeights",
]

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="edgebound.envs.mmv_update:MMVUpdateEnv")
