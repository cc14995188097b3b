"""The solver layer: HiGHS through Pyomo, results that never overstate, LP bounds."""

from edgebound.solvers.base import BuiltModel
from edgebound.solvers.highs import LPRelaxation, lp_relaxation, solve
from edgebound.solvers.result import SolveResult, Termination, relative_gap

__all__ = [
    "BuiltModel",
    "LPRelaxation",
    "SolveResult",
    "Termination",
    "lp_relaxation",
    "relative_gap",
    "solve",
]
