"""Multi-agent learning on the continuum plant, scored against the bounds.

The environment is :class:`edgebound.envs.continuum_marl.ContinuumMARLEnv`; this package holds
the reference learner (:func:`~edgebound.marl.mappo.train`: multi-agent PPO with a centralized
critic and federated actors), its federated averaging
(:class:`~edgebound.marl.federated.FedAverager`) and the comparison report
(:func:`~edgebound.marl.report.compare`). See the "Multi-agent learning" page of the
documentation.

Examples
--------
>>> from edgebound.marl import MAPPOConfig
>>> MAPPOConfig().gamma
0.985
"""

from edgebound.envs.continuum_marl import MARLError
from edgebound.marl.federated import FedAverager, FedConfig
from edgebound.marl.mappo import MAPPOConfig, MARLPolicy, TrainResult, train

__all__ = [
    "FedAverager",
    "FedConfig",
    "MAPPOConfig",
    "MARLError",
    "MARLPolicy",
    "TrainResult",
    "train",
]
