"""The interface between model builders and the solver layer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyomo.environ as pyo

from edgebound.evaluate.common import Evaluation
from edgebound.instances import Instance

__all__ = ["BuiltModel", "model_size"]


@dataclass
class BuiltModel:
    """A Pyomo model together with what is needed to read its answer back.

    Parameters
    ----------
    name : str
        Model family, e.g. ``"mmv"``; also the evaluator family of its decisions.
    instance : Instance
        The instance it was built from.
    pyomo : pyomo.environ.ConcreteModel
        The model, with exactly one active objective.
    decode : callable
        Reads the loaded variable values of ``pyomo`` and returns the decision in plain form.
    objective_name : str
        The evaluator objective that the model's objective equals on every decision.
    build_s : float
        Seconds spent building.
    describe : callable, optional
        Maps a constraint component name to a sentence in the instance's terms, used by
        infeasibility diagnosis.
    notes : tuple of str
        What pre-solve did (e.g. versions left out because they fit nowhere).
    stats : dict
        Size information (variables, binaries, constraints, ...).
    context : callable, optional
        Given the rows of a conflict, sentences on what the demand side needs, so that a
        conflict among capacity rows also says what they fall short of.
    evaluate : callable, optional
        The referee of this model's decisions; by default
        :func:`edgebound.evaluate.evaluate` on the instance.
    refine : callable, optional
        For models that approximate a convex term from below by cuts (outer approximation):
        called after a solve with the solution loaded and a relative accuracy, it adds the
        cuts that the solution violates and returns how many; 0 means the model's objective
        is within that accuracy of the true value at the solution.
        :func:`~edgebound.solvers.solve` re-solves until it returns 0.
    start : callable, optional
        A MIP start: called without arguments, returns values of the model's variables
        (Pyomo variable data -> value) that satisfy every row, or ``None`` when it has none.
        :func:`~edgebound.solvers.solve` hands it to HiGHS (``start=True``); HiGHS checks it
        and ignores a start that is not feasible.
    """

    name: str
    instance: Instance
    pyomo: pyo.ConcreteModel
    decode: Callable[[pyo.ConcreteModel], dict[str, Any]]
    objective_name: str
    build_s: float
    describe: Callable[[str], str] | None = None
    notes: tuple[str, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)
    context: Callable[[tuple[str, ...]], list[str]] | None = None
    evaluate: Callable[[dict[str, Any]], Evaluation] | None = None
    refine: Callable[[float], int] | None = None
    start: Callable[[], Mapping[Any, float] | None] | None = None


def model_size(m: pyo.ConcreteModel) -> dict[str, int]:
    """Variables, integer (or binary) variables and active constraints of a Pyomo model.

    Examples
    --------
    >>> m = pyo.ConcreteModel()
    >>> m.x = pyo.Var(domain=pyo.Binary)
    >>> m.y = pyo.Var()
    >>> m.c = pyo.Constraint(expr=m.x + m.y <= 1)
    >>> model_size(m)
    {'variables': 2, 'integer_variables': 1, 'constraints': 1}
    """
    return {
        "variables": sum(1 for _ in m.component_data_objects(pyo.Var)),
        "integer_variables": sum(
            1 for v in m.component_data_objects(pyo.Var) if v.is_integer() or v.is_binary()
        ),
        "constraints": sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True)),
    }
