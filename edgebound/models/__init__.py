"""Pyomo model builders: pure functions from an instance to a model ready to solve.

``mmv`` and ``mmv_schedule`` (ML-model versioning, one period and clairvoyant),
``mmv_decomposition`` (column generation for large MMV instances), ``placement`` and
``placement_schedule`` (the edge-cloud continuum, one period and clairvoyant),
``placement_decompose`` (fix-and-optimize over edge clusters for large placement
instances), ``placement_cuts`` (Dantzig-Wolfe over the services: Lagrangian cuts and a
bound).
"""

from edgebound.models import (
    mmv,
    mmv_decomposition,
    mmv_schedule,
    placement,
    placement_cuts,
    placement_decompose,
    placement_schedule,
)

__all__ = [
    "mmv",
    "mmv_decomposition",
    "mmv_schedule",
    "placement",
    "placement_cuts",
    "placement_decompose",
    "placement_schedule",
]
