"""The solver layer: HiGHS through Pyomo, results that never overstate, LP bounds."""

from edgebound.solvers.base import BuiltModel
from edgebound.solvers.diagnose import Conflict, diagnose
from edgebound.solvers.highs import LPRelaxation, lp_relaxation, solve
from edgebound.solvers.result import SolveResult, Termination, relative_gap

__all__ = [
    "BuiltModel",
    "Conflict",
    "LPRelaxation",
    "SolveResult",
    "Termination",
    "diagnose",
    "lp_relaxation",
    "relative_gap",
    "solve",
]
