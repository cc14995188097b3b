"""Simulators: the discrete-event simulator of the versioning paper and its update policies,
and the time-slotted continuum plant with its controllers (:mod:`edgebound.sim.continuum`,
:mod:`edgebound.sim.autoscaler`)."""

from edgebound.sim.mmv import MMVSimulator, SimulationError, simulate
from edgebound.sim.policy import (
    CREATE,
    UPDATE,
    AlwaysUpdate,
    NeverUpdate,
    Observation,
    Policy,
    RandomUpdate,
    make_policy,
)
from edgebound.sim.qlearning import QLearningAgent, QLearningPolicy, train
from edgebound.sim.releases import ReleaseTable, release_table
from edgebound.sim.results import SimResult, Summary, summarize

__all__ = [
    "CREATE",
    "UPDATE",
    "AlwaysUpdate",
    "MMVSimulator",
    "NeverUpdate",
    "Observation",
    "Policy",
    "QLearningAgent",
    "QLearningPolicy",
    "RandomUpdate",
    "ReleaseTable",
    "SimResult",
    "SimulationError",
    "Summary",
    "make_policy",
    "release_table",
    "simulate",
    "summarize",
    "train",
]
