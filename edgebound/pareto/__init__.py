"""Ground-truth Pareto fronts: exact (epsilon-constraint) and NSGA-II, indicators, scoring."""

from edgebound.pareto.exact import Objective, exact_front
from edgebound.pareto.front import ParetoFront, Score, additive_epsilon, nondominated, score
from edgebound.pareto.mmv import mmv_front
from edgebound.pareto.nsga import mmv_nsga
from edgebound.pareto.placement import PLACEMENT_OBJECTIVES, placement_front
from edgebound.pareto.placement_nsga import placement_nsga

__all__ = [
    "PLACEMENT_OBJECTIVES",
    "Objective",
    "ParetoFront",
    "Score",
    "additive_epsilon",
    "exact_front",
    "mmv_front",
    "mmv_nsga",
    "nondominated",
    "placement_front",
    "placement_nsga",
    "score",
]
