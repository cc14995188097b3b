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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from edgebound.errors import DecisionError, InfeasibleError, SolverError
from edgebound.instances import Instance
from edgebound.solvers import BuiltModel, Termination, lp_relaxation, solve
from edgebound.solvers.result import relative_gap

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
    gap = relative_gap(res.objective, value) if math.isfinite(value) else None
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
    demand: Any = None,
    *,
    objective: str = "weighted",
    weights: Any = None,
    rates: Any = None,
    periods: int | None = None,
    method: Literal["auto", "milp", "decoupled"] = "auto",
    time_limit: float = 60.0,
    period_time_limit: float = 2.0,
    mip_gap: float = 1e-4,
    progress: Callable[[int, int], None] | None = None,
    service_cuts: bool = False,
) -> Bound:
    """A certified bound on the continuum placement problem: one period, or clairvoyant.

    **One period** (no ``demand``, no ``periods``): the static model
    (:mod:`edgebound.models.placement`) on the mean rates or ``rates``. Objectives the model
    represents exactly are bounded exactly (with energy or mean latency in the objective,
    over the decisions that serve all demand); weights that include the p95 latency are
    bounded by the relaxation described below. Alongside the model, in a thread of its own,
    HiGHS runs the model without its far-route rows (a relaxation that it gets much further
    with on large instances, see :mod:`edgebound.models.placement_decompose`); the better of
    the two bounds is returned.

    **Clairvoyant** (``demand``, demands x periods, or ``periods`` of the workload's
    series): a lower bound on the schedule objective ``weighted`` of
    :func:`~edgebound.evaluate.placement_schedule.evaluate_placement_schedule` (the mean
    over periods of each period's weighted objective) that holds for *every* schedule on
    that demand, whatever controller produced it. It is computed on the relaxation of
    :func:`edgebound.models.placement_schedule.build` with ``exact=False`` (any weights;
    dropping allowed; energy and mean latency over demand, waiting times by tangent cuts
    below them; p95 latency by a floor), so it never exceeds what a decision achieves:

    * ``method="milp"`` solves the multi-period model whole (migrations between periods
      included); its proven bound is valid even at the time limit;
    * ``method="decoupled"`` drops the coupling of periods: each period t >= 1 is solved
      alone without migrations (period 0 keeps its migrations against
      ``state.placement``), with ``period_time_limit`` seconds each, and the bound is the
      mean of the periods' proven bounds (each the better of the LP relaxation and the
      MILP's bound). Valid because migrations and the migration budget only add cost and
      rows; it scales linearly in the number of periods;
    * ``"auto"``: ``milp`` up to 3 periods, else ``decoupled``.

    The incumbent is the evaluator's objective of the schedule found (for ``decoupled``,
    the periods' decisions put together, counting the migrations between them), or None
    when that schedule breaks a limit (e.g. a migration budget).

    Parameters
    ----------
    instance : Instance
    demand : array_like, optional
        Demands x periods, req/s.
    objective : str
        ``"weighted"`` for the clairvoyant bound; one period accepts every objective of
        :data:`edgebound.models.placement.OBJECTIVES`.
    weights : mapping, optional
        Overrides ``policy.weights``.
    rates : array-like, optional
        One period: the rate of each demand, replacing the mean rates.
    periods : int, optional
        Clairvoyant over the first ``periods`` of the workload's series.
    method : {"auto", "milp", "decoupled"}
    time_limit : float
        Seconds for a whole-model solve.
    period_time_limit : float
        Seconds per period for ``decoupled``.
    mip_gap : float
    progress : callable, optional
        Called as ``progress(done, total)`` after each period of ``decoupled``.
    service_cuts : bool
        One period: the relaxation alongside first spends up to half the time on the column
        generation of :mod:`edgebound.models.placement_cuts` and runs with its Lagrangian
        cuts (minimized objectives without latency only; on the large ``continuum-random``
        instance the column generation, with one pricing thread here, needs about 100 s
        before its cuts are strong, and it gets half the time limit).

    Returns
    -------
    Bound

    Examples
    --------
    >>> from edgebound import bounds
    >>> from edgebound.instances.generators import generate
    >>> inst = generate("continuum-random", "small", seed=0)
    >>> b = bounds.placement(inst, periods=2)
    >>> b.model, b.status
    ('placement_schedule', 'optimal')
    >>> b.admits(b.incumbent)
    True
    """
    from edgebound.models import placement as model

    if demand is None and periods is None:
        sense: Literal["min", "max"] = "max" if model.OBJECTIVES.get(objective) == "max" else "min"
        w = dict(instance.policy.weights if weights is None else weights)
        p95_weighted = objective == "weighted" and w.get("p95_latency", 0.0) > 0
        if service_cuts and p95_weighted:
            raise SolverError("service_cuts: not with p95 latency in the weights")
        if not p95_weighted:
            from edgebound.models import placement_decompose

            try:
                built = model.build(instance, objective, weights=weights, rates=rates)
            except InfeasibleError:
                return _infeasible("placement", objective, sense)
            # the model without its far-route rows, a relaxation HiGHS gets further with on
            # large instances, runs alongside in a thread of its own: the better bound counts
            side = placement_decompose.relaxation_run(
                built, time_limit, mip_gap, service_cuts=service_cuts
            )
            relaxed: float | None = None
            if side is None and service_cuts:
                # no far routes: the cuts go into the model itself
                from edgebound.models.placement_cuts import service_cuts as cut

                cuts = cut(built, time_limit=0.5 * time_limit)
                cuts.add_to(built)
                relaxed = cuts.bound
            try:
                b = _bound(built, sense, time_limit, mip_gap)
            except BaseException:
                if side is not None:
                    side.cancel()
                raise
            if side is not None:
                relaxed = side.result()[0]
            if relaxed is None or not math.isfinite(b.value):
                return b
            if (relaxed > b.value) if sense == "min" else (relaxed < b.value):
                gap = relative_gap(b.incumbent, relaxed)
                return replace(b, value=relaxed, gap=gap)
            return b
        from edgebound.evaluate.placement_schedule import schedule_demand

        one = schedule_demand(instance, _mean_rates(instance, rates)[:, None])
        return _schedule_bound(
            instance, one, w, "milp", time_limit, period_time_limit, mip_gap, progress, "placement"
        )
    if objective != "weighted":
        raise SolverError(
            f"objective: {objective!r}; the clairvoyant placement bound is on 'weighted'"
        )
    if service_cuts:
        raise SolverError("service_cuts: only for the one-period bound (no demand, no periods)")
    from edgebound.evaluate.placement_schedule import schedule_demand

    try:
        dem = schedule_demand(instance, demand, periods)
    except DecisionError as exc:
        raise SolverError(str(exc)) from exc
    if method not in ("auto", "milp", "decoupled"):
        raise SolverError(f"method: {method!r} must be 'auto', 'milp' or 'decoupled'")
    if method == "auto":
        method = "milp" if dem.shape[1] <= 3 else "decoupled"
    w = dict(instance.policy.weights if weights is None else weights)
    return _schedule_bound(
        instance,
        dem,
        w,
        method,
        time_limit,
        period_time_limit,
        mip_gap,
        progress,
        "placement_schedule",
    )


def _infeasible(name: str, objective: str, sense: Literal["min", "max"]) -> Bound:
    return Bound(
        model=name,
        objective=objective,
        sense=sense,
        value=math.inf if sense == "min" else -math.inf,
        incumbent=None,
        lp=None,
        gap=None,
        status=Termination.INFEASIBLE.value,
    )


def _mean_rates(instance: Instance, rates: Any) -> np.ndarray:
    if rates is None:
        return np.array([d.rate_rps for d in instance.workload.demands], dtype=float)
    return np.asarray(rates, dtype=float)


def _schedule_bound(
    instance: Instance,
    dem: np.ndarray,
    weights: dict[str, float],
    method: str,
    time_limit: float,
    period_time_limit: float,
    mip_gap: float,
    progress: Callable[[int, int], None] | None,
    name: str,
) -> Bound:
    from edgebound.evaluate.placement_schedule import evaluate_placement_schedule
    from edgebound.models import placement_schedule as sched

    t0 = time.perf_counter()
    n_t = dem.shape[1]
    if method == "milp":
        built = sched.build(instance, dem, weights=weights, exact=False)
        b = _bound(built, "min", time_limit, mip_gap)
        decision = b.decision
        value, lp, status = b.value, b.lp, b.status
    else:
        no_mig = {k: v for k, v in weights.items() if k != "migrations"}
        values: list[float] = []
        lps: list[float] = []
        periods_dec: list[dict[str, Any]] = []
        statuses: set[str] = set()
        for t in range(n_t):
            built = sched.build(
                instance,
                dem[:, t : t + 1],
                weights=weights if t == 0 else no_mig,
                exact=False,
                free_start=t > 0,
            )
            bt = _bound(built, "min", period_time_limit, mip_gap)
            values.append(bt.value)
            lps.append(bt.lp if bt.lp is not None else -math.inf)
            statuses.add(bt.status)
            if bt.decision:
                periods_dec.append(bt.decision["periods"][0])
            if progress is not None:
                progress(t + 1, n_t)
        value = float(np.mean(values))
        lp = float(np.mean(lps))
        status = (
            "infeasible"
            if "infeasible" in statuses
            else ("optimal" if statuses == {"optimal"} else "time_limit")
        )
        decision = (
            {"model": "placement_schedule", "periods": periods_dec}
            if len(periods_dec) == n_t
            else {}
        )
    incumbent = None
    if decision and math.isfinite(value):
        ev = evaluate_placement_schedule(
            instance.model_copy(
                update={"policy": instance.policy.model_copy(update={"weights": weights})}
            ),
            decision,
            dem,
        )
        if ev.feasible:
            incumbent = ev.objectives["weighted"]
    gap = relative_gap(incumbent, value) if math.isfinite(value) else None
    return Bound(
        model=name,
        objective="weighted",
        sense="min",
        value=value,
        incumbent=incumbent,
        lp=lp,
        gap=gap,
        status=status,
        decision=decision if name == "placement_schedule" else decision.get("periods", [{}])[0],
        wall_s=time.perf_counter() - t0,
    )
