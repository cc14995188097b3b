"""The time-slotted continuum plant, its controller interface and its results.

See :mod:`edgebound.sim.continuum.plant` for the semantics.
"""

from edgebound.sim.continuum.interface import (
    Controller,
    PlantAction,
    PlantObservation,
    StepInfo,
    demand_matrix,
    migration_caps,
)
from edgebound.sim.continuum.plant import ContinuumPlant, run
from edgebound.sim.continuum.result import SUMMARY_UNITS, PlantResult

__all__ = [
    "SUMMARY_UNITS",
    "ContinuumPlant",
    "Controller",
    "PlantAction",
    "PlantObservation",
    "PlantResult",
    "StepInfo",
    "demand_matrix",
    "migration_caps",
    "run",
]
