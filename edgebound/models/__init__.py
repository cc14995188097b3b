"""Pyomo model builders: pure functions from an instance to a model ready to solve."""

from edgebound.models import mmv, mmv_decomposition, mmv_schedule

__all__ = ["mmv", "mmv_decomposition", "mmv_schedule"]
