"""Pyomo model builders: pure functions from an instance to a model ready to solve."""

from edgebound.models import mmv

__all__ = ["mmv"]
