"""Certified bounds as library calls.

A bound here is only called a bound when it is valid: it is the best objective bound HiGHS
proved for the model (valid even when the solve stopped on its time limit) or the LP
relaxation's optimum, whichever is tighter. No policy run on the same instance and loads can
do better than it.

Examples
--------
>>> from edgebound import bounds
>>> from edgebound.instances import load
>>> b = bounds.mmv(load("gentzen-star4"), steps=2)
>>> b.status, b.sense
('optimal', 'min')
>>> b.admits(b.incumbent)
True
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from edgebound.errors import InfeasibleError
from edgebound.instances import Instance
from edgebound.solvers import BuiltModel, Termination, lp_relaxation, solve

__all__ = ["Bound", "mmv", "placement"]


@dataclass(frozen=True)
class Bound:
    """A certified bound on a model's optimum.

    Attributes
    ----------
    model : str
        ``"mmv"`` (one period) or ``"mmv_schedule"`` (the clairvoyant multi-period model).
    objective : str
        The objective bounded, e.g. ``"weighted"``.
    sense : {"min", "max"}
        ``"min"``: nothing achieves less than ``value``; ``"max"``: nothing achieves more.
    value : float
        The bound; ``inf`` (min) or ``-inf`` (max) when the model is infeasible.
    incumbent : float or None
        Best objective of a decision found (the bound is tight when they agree).
    lp : float or None
        The LP relaxation's bound.
    gap : float or None
        Relative gap between ``incumbent`` and ``value``.
    status : str
        The MILP solve's termination (``optimal``, ``time_limit``, ``infeasible``, ...).
    decision : dict
        The incumbent decision in plain form (empty without one).
    wall_s : float
    """

    model: str
    objective: str
    sense: Literal["min", "max"]
    value: float
    incumbent: float | None
    lp: float | None
    gap: float | None
    status: str
    decision: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    def admits(self, achieved: float, tol: float = 1e-7) -> bool:
        """Whether an achieved objective value is consistent with the bound.

        A value better than the bound (beyond ``tol``, relative) would refute it.
        """
        if not math.isfinite(self.value):
            return False
        slack = tol * max(1.0, abs(self.value))
        if self.sense == "min":
            return achieved >= self.value - slack
        return achieved <= self.value + slack

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""

        def num(x: float | None) -> float | str | None:
            if x is None or math.isfinite(x):
                return x
            return "inf" if x > 0 else "-inf"

        return {
            "model": self.model,
            "objective": self.objective,
            "sense": self.sense,
            "bound": num(self.value),
            "incumbent": num(self.incumbent),
            "lp_bound": num(self.lp),
            "gap": num(self.gap),
            "status": self.status,
            "decision": self.decision,
            "wall_s": self.wall_s,
        }


def _bound(
    built: BuiltModel, sense: Literal["min", "max"], time_limit: float, mip_gap: float
) -> Bound:
    t0 = time.perf_counter()
    lp = lp_relaxation(built, time_limit=time_limit)
    res = solve(built, time_limit=time_limit, mip_gap=mip_gap)
    infinite = math.inf if sense == "min" else -math.inf
    if res.termination is Termination.INFEASIBLE or lp.termination is Termination.INFEASIBLE:
        value = infinite
    else:
        candidates = [b for b in (lp.bound, res.bound) if b is not None]
        if not candidates:
            value = -infinite  # nothing proven: the trivial bound
        else:
            value = max(candidates) if sense == "min" else min(candidates)
    gap = None
    if res.objective is not None and math.isfinite(value):
        gap = abs(res.objective - value) / max(abs(res.objective), 1e-10)
    return Bound(
        model=built.name,
        objective=built.objective_name,
        sense=sense,
        value=value,
        incumbent=res.objective,
        lp=lp.bound,
        gap=gap,
        status=res.termination.value,
        decision=res.decision,
        wall_s=time.perf_counter() - t0,
    )


def mmv(
    instance: Instance,
    *,
    objective: str = "weighted",
    steps: int | None = None,
    rates: Any = None,
    schedule: bool = True,
    time_limit: float = 60.0,
    mip_gap: float = 1e-4,
) -> Bound:
    """The clairvoyant bound of the versioning problem on an instance.

    With ``schedule=True`` (default) the multi-period model over ``steps`` periods of the
    workload (or the given ``rates``): no update policy (always, never, random, Q-learning
    or your own) scoring its decisions on the same periods and loads can beat it. With
    ``schedule=False`` the one-period model of the instance's state.

    Parameters
    ----------
    instance : Instance
    objective : str
        ``"weighted"`` (min) or one of ``"delay"`` (min), ``"accuracy"``, ``"security"``,
        ``"reliability"`` (max).
    steps, rates
        See :func:`edgebound.models.mmv_schedule.build`.
    schedule : bool
    time_limit : float
        Seconds for each of the LP and MILP solves; the bound stays valid when it is hit.
    mip_gap : float

    Returns
    -------
    Bound
    """
    from edgebound.models import mmv as static_model
    from edgebound.models import mmv_schedule

    sense: Literal["min", "max"] = (
        "min" if static_model.OBJECTIVES.get(objective) == "min" else "max"
    )
    try:
        if schedule:
            built = mmv_schedule.build(instance, objective, steps=steps, rates=rates)
        else:
            built = static_model.build(instance, objective)
    except InfeasibleError:
        return Bound(
            model="mmv_schedule" if schedule else "mmv",
            objective=objective,
            sense=sense,
            value=math.inf if sense == "min" else -math.inf,
            incumbent=None,
            lp=None,
            gap=None,
            status=Termination.INFEASIBLE.value,
        )
    return _bound(built, sense, time_limit, mip_gap)


def placement(
    instance: Instance,
    *,
    objective: str = "weighted",
    weights: Any = None,
    rates: Any = None,
    time_limit: float = 60.0,
    mip_gap: float = 1e-4,
) -> Bound:
    """A certified bound on one period of the continuum placement problem.

    Only the objectives the placement model represents exactly can be bounded (energy,
    cost, power, dropped, migrations, throughput, or their weighted sum); see
    :mod:`edgebound.models.placement`. With energy in the objective the bound is over the
    decisions that serve all demand.

    Parameters
    ----------
    instance : Instance
    objective : str
    weights : mapping, optional
        Overrides ``policy.weights`` (latency weights must be zero or absent).
    rates : array-like, optional
        Rate of each demand, replacing the mean rates.
    time_limit, mip_gap
        As in :func:`mmv`.

    Returns
    -------
    Bound
    """
    from edgebound.models import placement as model

    sense: Literal["min", "max"] = "max" if model.OBJECTIVES.get(objective) == "max" else "min"
    try:
        built = model.build(instance, objective, weights=weights, rates=rates)
    except InfeasibleError:
        return Bound(
            model="placement",
            objective=objective,
            sense=sense,
            value=math.inf if sense == "min" else -math.inf,
            incumbent=None,
            lp=None,
            gap=None,
            status=Termination.INFEASIBLE.value,
        )
    return _bound(built, sense, time_limit, mip_gap)
