"""What a solve returns: status, objective, bound, gap, timings and the decision.

A result is only ``optimal`` when the solver proved optimality within its gap tolerance. A
solve that stopped on a time limit keeps its incumbent, bound and gap and says
``time_limit``; :func:`edgebound.solvers.solve` with ``require_optimal=True`` raises then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from edgebound.evaluate.common import Evaluation

__all__ = ["SolveResult", "Termination"]


class Termination(StrEnum):
    """How a solve ended; the values are the strings printed and written to JSON.

    Examples
    --------
    >>> Termination.TIME_LIMIT.value
    'time_limit'
    """

    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    ITERATION_LIMIT = "iteration_limit"
    INTERRUPTED = "interrupted"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    ERROR = "error"


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """``|objective - bound| / max(|objective|, 1e-10)``; None when either is missing.

    Examples
    --------
    >>> relative_gap(10.0, 9.0)
    0.1
    >>> relative_gap(None, 1.0) is None
    True
    """
    if objective is None or bound is None:
        return None
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.inf
    return abs(objective - bound) / max(abs(objective), 1e-10)


@dataclass(frozen=True)
class SolveResult:
    """The outcome of solving one model.

    Attributes
    ----------
    termination : Termination
        How the solve ended. Only ``OPTIMAL`` means proven optimal (within ``mip_gap``).
    objective : float or None
        Objective of the returned decision as the model computes it (None without one).
    bound : float or None
        Best proven bound on the optimum (a lower bound when minimizing).
    gap : float or None
        Relative gap between ``objective`` and ``bound``.
    has_solution : bool
        Whether a feasible decision was found (possibly not optimal).
    decision : dict
        The decision in plain form, ready for :func:`edgebound.evaluate.evaluate`.
    evaluation : Evaluation or None
        The independent evaluator's verdict on ``decision``: its objectives are the ones
        reported to users.
    build_s, solve_s, wall_s : float
        Seconds spent building the model, inside the solver, and in total.
    solver, solver_version : str
        E.g. ``"highs"``, ``"1.16.0"``.
    model : str
        Model name, e.g. ``"mmv"``.
    stats : dict
        Model size and anything else worth printing (variables, constraints, ...).
    """

    termination: Termination
    objective: float | None
    bound: float | None
    gap: float | None
    has_solution: bool
    decision: dict[str, Any]
    evaluation: Evaluation | None
    build_s: float
    solve_s: float
    wall_s: float
    solver: str
    solver_version: str
    model: str
    stats: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def optimal(self) -> bool:
        """True only when optimality was proven."""
        return self.termination is Termination.OPTIMAL

    @property
    def objectives(self) -> dict[str, float]:
        """The evaluator's named objectives of the decision (empty without a decision)."""
        return dict(self.evaluation.objectives) if self.evaluation is not None else {}

    def summary(self) -> str:
        """One line: status, objective, bound, gap and time.

        Examples
        --------
        >>> from edgebound.instances import load
        >>> from edgebound.models import mmv
        >>> from edgebound.solvers import solve
        >>> print(solve(mmv.build(load("gentzen-star4"))).summary())  # doctest: +ELLIPSIS
        mmv: optimal, objective ..., bound ..., gap ...
        """

        def num(x: float | None) -> str:
            return "-" if x is None else f"{x:.6g}"

        gap = "-" if self.gap is None else f"{100 * self.gap:.3g}%"
        return (
            f"{self.model}: {self.termination.value}, objective {num(self.objective)}, "
            f"bound {num(self.bound)}, gap {gap}, {self.wall_s:.2f} s"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with ``status``, ``objective``, ``bound``, ``gap``, ``objectives``,
        ``decision`` and ``timings`` (the CLI's ``--json`` contract)."""
        ev = self.evaluation.to_dict() if self.evaluation is not None else None
        return {
            "model": self.model,
            "status": self.termination.value,
            "optimal": self.optimal,
            "objective": _num(self.objective),
            "bound": _num(self.bound),
            "gap": _num(self.gap),
            "objectives": ev["objectives"] if ev else {},
            "feasible": ev["feasible"] if ev else None,
            "violations": ev["violations"] if ev else [],
            "decision": self.decision,
            "details": ev["details"] if ev else {},
            "timings": {"build_s": self.build_s, "solve_s": self.solve_s, "wall_s": self.wall_s},
            "solver": {"name": self.solver, "version": self.solver_version},
            "stats": self.stats,
            "notes": list(self.notes),
        }


def _num(x: float | None) -> float | str | None:
    if x is None:
        return None
    if not math.isfinite(x):
        return "inf" if x > 0 else "-inf" if x < 0 else "nan"
    return x
