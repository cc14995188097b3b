"""Result types shared by the evaluators."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Evaluation", "Violation"]


@dataclass(frozen=True)
class Violation:
    """One violated constraint and by how much.

    Parameters
    ----------
    constraint : str
        Constraint family, e.g. ``"capacity.cpu"``, ``"stability"``, ``"power_cap"``.
    where : str
        What it applies to, in the instance's terms, e.g. ``"node E3"``.
    amount : float
        How far the decision is past the limit, in ``unit`` (always > 0).
    unit : str
        Unit of ``amount``.
    message : str
        A sentence a person can act on.

    Examples
    --------
    >>> v = Violation("capacity.ram_gb", "node E3", 2.0, "GB", "node E3 RAM: 18 GB used > 16 GB")
    >>> v.to_dict()["amount"]
    2.0
    """

    constraint: str
    where: str
    amount: float
    unit: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "constraint": self.constraint,
            "where": self.where,
            "amount": _json_float(self.amount),
            "unit": self.unit,
            "message": self.message,
        }


@dataclass(frozen=True)
class Evaluation:
    """What a decision achieves on an instance, computed without any solver.

    Attributes
    ----------
    family : {"mmv", "placement"}
    objectives : dict
        Named objective values (``weighted`` is the scalarized objective, minimized).
    units : dict
        Unit of each objective.
    senses : dict
        ``"min"`` or ``"max"`` for each objective.
    violations : tuple of Violation
        Every violated constraint; empty when the decision is feasible.
    details : dict
        Per-service / per-node breakdown (JSON-ready).
    """

    family: Literal["mmv", "placement"]
    objectives: dict[str, float]
    units: dict[str, str]
    senses: dict[str, str]
    violations: tuple[Violation, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """True when no constraint is violated."""
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (infinite values become the strings ``"inf"``/``"-inf"``)."""
        return {
            "family": self.family,
            "feasible": self.feasible,
            "objectives": {k: _json_float(v) for k, v in self.objectives.items()},
            "units": dict(self.units),
            "senses": dict(self.senses),
            "violations": [v.to_dict() for v in self.violations],
            "details": self.details,
        }


def _json_float(x: float) -> float | str:
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x
