"""The multi-period MMV evaluator: a schedule of versions and replicas over T periods.

Each period is scored by :func:`edgebound.evaluate.mmv.evaluate_mmv` on the static instance
it is (:func:`period_instances`): the period's rates as demands, its start time, the
previous period's versions as the running ones (so a change pays the spawn delay and a
rollback is a ``version`` violation), and one delay reference for the whole horizon. The
schedule's objectives are the request-weighted averages of the periods' objectives, so its
``weighted`` objective is the request-weighted sum of the periods' ``weighted`` values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgebound.errors import DecisionError, Problem
from edgebound.evaluate.common import Evaluation, Violation
from edgebound.evaluate.mmv import evaluate_mmv, parse_mmv_decision
from edgebound.instances import Instance
from edgebound.instances.traces import demand_series

__all__ = ["delay_ref_ms", "evaluate_mmv_schedule", "period_instances", "service_rates"]


def service_rates(instance: Instance, steps: int | None = None) -> np.ndarray:
    """Arrival rate of each service in each period: array (services x steps), req/s.

    Demands of one service from several sites are added up.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> service_rates(load("gentzen-star4"), 3)[0]
    array([60., 60., 60.])
    """
    series = demand_series(instance, steps)
    out = np.zeros((len(instance.services), series.shape[1]))
    for row, d in zip(series, instance.workload.demands, strict=True):
        out[instance.service_names.index(d.service)] += row
    return out


def delay_ref_ms(instance: Instance, rates: np.ndarray) -> float:
    """The delay (ms) that normalizes O1 in a schedule's weighted objective.

    ``policy.delay_ref_ms`` when set, else the running versions' processing time weighted
    by each service's share of all requests over the horizon.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> delay_ref_ms(load("gentzen-star4"), np.full((5, 2), 60.0))
    10.0
    """
    if instance.policy.delay_ref_ms is not None:
        return instance.policy.delay_ref_ms
    per = rates.sum(axis=1)
    total = per.sum()
    share = per / total if total > 0 else np.full(len(per), 1.0 / len(per))
    proc = [1000.0 / instance.running_version(k).service_rate_rps for k in instance.service_names]
    return float(np.dot(share, proc))


def period_instances(
    instance: Instance, versions: Sequence[Mapping[str, str]], rates: np.ndarray
) -> list[Instance]:
    """The static instance of each period, given the versions of the periods before it.

    Views are made for periods 0 .. ``len(versions)`` (at most as many as ``rates`` has).

    Parameters
    ----------
    instance : Instance
    versions : sequence of mapping
        Version label of every service in periods 0 .. T-2; period t runs first what period
        t-1 chose, period 0 what ``instance.state`` says.
    rates : numpy.ndarray
        Services x periods, req/s.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> inst = load("gentzen-star4")
    >>> new = [{s: "1.0" for s in inst.service_names}]
    >>> views = period_instances(inst, new, np.full((5, 2), 9.0))
    >>> views[1].running_version("model-1").label, views[1].workload.demands[0].rate_rps
    ('1.0', 9.0)
    """
    data = instance.model_dump()
    policy = {**data["policy"], "delay_ref_ms": delay_ref_ms(instance, rates)}
    running = {k: instance.running_version(k).label for k in instance.service_names}
    out = []
    for t in range(min(rates.shape[1], len(versions) + 1)):
        if t > 0:
            running = {**running, **versions[t - 1]}
        demands = [
            {"service": k, "site": None, "rate_rps": float(rates[i, t])}
            for i, k in enumerate(instance.service_names)
        ]
        view = {
            **data,
            "workload": {
                "demands": demands,
                "step_s": instance.workload.step_s,
                "horizon_steps": 1,
            },
            "policy": policy,
            "state": {
                "running": running,
                "time_s": instance.state.time_s + t * instance.workload.step_s,
            },
        }
        out.append(Instance.model_validate(view))
    return out


def evaluate_mmv_schedule(
    instance: Instance, schedule: Mapping[str, Any], rates: Any = None
) -> Evaluation:
    """Evaluate a multi-period MMV schedule.

    Parameters
    ----------
    instance : Instance
    schedule : mapping
        ``{"model": "mmv_schedule", "periods": [decision_0, decision_1, ...]}``, each a
        static MMV decision (see :func:`~edgebound.evaluate.mmv.evaluate_mmv`).
    rates : array-like, optional
        Services x periods rates; default the workload's series over as many periods as
        the schedule has.

    Returns
    -------
    Evaluation
        ``details["periods"]`` holds each period's objectives; violations say their period.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> inst = load("gentzen-star4")
    >>> one = {"replicas": {s: {"E1": 1} for s in inst.service_names}}
    >>> ev = evaluate_mmv_schedule(inst, {"periods": [one, one]})
    >>> ev.feasible, round(ev.objectives["delay"], 6)
    (True, 25.0)
    """
    periods = schedule.get("periods") if isinstance(schedule, Mapping) else None
    if not isinstance(periods, Sequence) or isinstance(periods, str) or not periods:
        raise DecisionError(
            [Problem("periods", periods, "must be a non-empty list of MMV decisions")]
        )
    n_t = len(periods)
    lam = service_rates(instance, n_t) if rates is None else np.asarray(rates, dtype=float)
    if lam.shape != (len(instance.services), n_t):
        raise DecisionError(
            [Problem("periods", n_t, f"must number as many periods as rates has ({lam.shape[1]})")]
        )
    problems: list[Problem] = []
    parsed = []
    chosen: list[dict[str, str]] = []
    previous = {k: instance.running_version(k).label for k in instance.service_names}
    for t, dec in enumerate(periods):
        if not isinstance(dec, Mapping):
            problems.append(Problem(f"periods[{t}]", dec, "must be an MMV decision (a mapping)"))
            chosen.append(previous)
            continue
        # a service left out keeps what it ran in the period before
        given = dec.get("versions") or {}
        full = {**dec, "versions": {**previous, **given} if isinstance(given, Mapping) else given}
        try:
            d = parse_mmv_decision(instance, full)
        except DecisionError as exc:
            problems += [
                Problem(f"periods[{t}].{p.path}", p.value, p.message) for p in exc.problems
            ]
            chosen.append(previous)
            continue
        parsed.append(d)
        previous = dict(d.versions)
        chosen.append(previous)
    if problems:
        raise DecisionError(problems)
    views = period_instances(instance, chosen, lam)
    per = [evaluate_mmv(v, d) for v, d in zip(views, parsed, strict=True)]
    totals = lam.sum(axis=0)
    grand = totals.sum()
    wt = totals / grand if grand > 0 else np.full(n_t, 1.0 / n_t)
    objectives = {}
    for name in per[0].objectives:
        terms = [w * e.objectives[name] for w, e in zip(wt, per, strict=True) if w > 0]
        objectives[name] = float(sum(terms)) if terms else 0.0
    violations = tuple(
        Violation(
            v.constraint, f"period {t}: {v.where}", v.amount, v.unit, f"period {t}: {v.message}"
        )
        for t, e in enumerate(per)
        for v in e.violations
    )
    details = {
        "periods": [
            {"weight": float(wt[t]), "objectives": e.to_dict()["objectives"], **e.details}
            for t, e in enumerate(per)
        ]
    }
    return Evaluation(
        family="mmv",
        objectives=objectives,
        units=dict(per[0].units),
        senses=dict(per[0].senses),
        violations=violations,
        details=details,
    )
