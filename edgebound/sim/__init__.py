"""Simulators: the discrete-event simulator of the versioning paper and its update policies,
and the time-slotted continuum plant with its controllers (:mod:`edgebound.sim.continuum`,
:mod:`edgebound.sim.autoscaler`)."""

from edgebound.sim.autoscaler import HeuristicAutoscaler, OracleMILPController, StaticController
from edgebound.sim.continuum import (
    ContinuumPlant,
    Controller,
    PlantAction,
    PlantObservation,
    PlantResult,
)
from edgebound.sim.continuum import run as run_plant
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
    "ContinuumPlant",
    "Controller",
    "HeuristicAutoscaler",
    "MMVSimulator",
    "NeverUpdate",
    "Observation",
    "OracleMILPController",
    "PlantAction",
    "PlantObservation",
    "PlantResult",
    "Policy",
    "QLearningAgent",
    "QLearningPolicy",
    "RandomUpdate",
    "ReleaseTable",
    "SimResult",
    "SimulationError",
    "StaticController",
    "Summary",
    "make_policy",
    "release_table",
    "run_plant",
    "simulate",
    "summarize",
    "train",
]
