"""Infeasibility diagnosis: the smallest set of constraints that cannot hold together.

A deletion filter over the model's *diagnosable* constraint rows (capacities, stability,
minimum replicas, epsilon-constraints, ...): drop one row; if the rest is still infeasible
the row was not needed for the conflict and stays dropped, otherwise it is restored. What
remains is irreducible: every remaining row is needed for infeasibility. Structural rows
(one version per model, linking rows) are never dropped, so the answer speaks only of limits
the user can change, in the instance's own terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from edgebound.solvers.base import BuiltModel

__all__ = ["Conflict", "diagnose"]

#: Constraint components whose rows a user can act on, in the order they are tried.
DIAGNOSABLE = ("epsilon", "min_replicas", "stability", "capacity", "power_cap", "gpu_power_cap")


@dataclass(frozen=True)
class Conflict:
    """An irreducible set of conflicting constraint rows.

    Attributes
    ----------
    rows : tuple of str
        Pyomo names of the rows, e.g. ``capacity[ram_gb,E3]``.
    explanation : tuple of str
        One sentence per row, in the instance's terms.
    solves : int
        Feasibility problems solved to find it.
    """

    rows: tuple[str, ...]
    explanation: tuple[str, ...]
    solves: int

    def __str__(self) -> str:
        lines = ["These limits cannot all hold:"]
        lines += [f"  - {e}" for e in self.explanation]
        return "\n".join(lines)


def _infeasible(model: pyo.ConcreteModel, time_limit: float) -> bool:
    res = Highs().solve(
        model,
        load_solutions=False,
        raise_exception_on_nonoptimal_result=False,
        time_limit=time_limit,
        solver_options={"output_flag": False, "mip_rel_gap": 1.0},
    )
    return res.termination_condition in (
        TerminationCondition.provenInfeasible,
        TerminationCondition.infeasibleOrUnbounded,
    )


def diagnose(built: BuiltModel, *, time_limit: float = 10.0) -> Conflict | None:
    """Find an irreducible set of conflicting rows of an infeasible model.

    Parameters
    ----------
    built : BuiltModel
        A model that HiGHS reported infeasible.
    time_limit : float
        Seconds per feasibility solve; a solve that does not finish counts as feasible,
        so the answer can only be larger than irreducible, never wrong.

    Returns
    -------
    Conflict or None
        None when the model is feasible after all.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> from edgebound.models import mmv
    >>> data = load("gentzen-star4").model_dump()
    >>> for n in data["topology"]["nodes"]:
    ...     n["cpu"] = 7.0
    >>> for d in data["workload"]["demands"]:
    ...     d["rate_rps"] = 120.0
    >>> print(diagnose(mmv.build(load(data))))  # doctest: +ELLIPSIS
    These limits cannot all hold:
      - node E1: 7 vCPU
    ...
      - stable service needs at least 30 vCPU in all (...); nodes E1, E2, E3, E4 have 28
    """
    m = built.pyomo.clone()
    for obj in m.component_data_objects(pyo.Objective, active=True):
        obj.deactivate()
    m._feasibility = pyo.Objective(expr=0.0)
    solves = 1
    if not _infeasible(m, time_limit):
        return None
    rows = []
    for name in DIAGNOSABLE:
        # rows of that name at the top or inside any block (one block per period)
        for comp in m.component_objects(pyo.Constraint, active=True, descend_into=True):
            if comp.local_name == name:
                rows += [c for c in comp.values() if c.active]
    kept = []
    for row in rows:
        row.deactivate()
        solves += 1
        if _infeasible(m, time_limit):
            continue
        row.activate()
        kept.append(row)
    names = tuple(r.name for r in kept)
    describe = built.describe or (lambda s: s)
    lines = [describe(n) for n in names]
    if built.context is not None:
        lines += built.context(names)
    return Conflict(rows=names, explanation=tuple(lines), solves=solves)
