"""What a simulated policy ran, as an ``mmv_schedule`` decision, and its clairvoyant bound.

The bound of :func:`edgebound.bounds.mmv` is on the *analytic* model (eqs 1-12 per period),
so a simulated run is compared on that model: the run is cut into periods, and each period
becomes one static decision, with

* per service, the version that served most of the period's requests, clipped to the newest
  one released by the period's start and kept from moving backwards (the analytic model's
  rules);
* per service and node, the time-average number of replicas the run had, rounded, then
  raised first-fit until the period's measured rate is stable (eq 1) and lowered where a
  node's capacity (eqs 5-7) would be exceeded.

The schedule is scored by :func:`~edgebound.evaluate.mmv_schedule.evaluate_mmv_schedule` on
the rates measured in the run, and the bound is solved on the same rates. The bound's
instance lists, per service, the stable version, the newest version at each period's start
and the versions the schedule uses. When a service's versions share resources and service
rate and never lose score (true of release processes), a newer version is never worse at
equal spawn cost, so this restriction loses nothing and the bound is the clairvoyant optimum
over every released version.

Examples
--------
>>> from edgebound.instances import load
>>> from edgebound.sim import AlwaysUpdate, simulate
>>> inst = load("gentzen-star4")
>>> res = simulate(inst, AlwaysUpdate(), arrivals=3000, seed=0, periods=2)
>>> check = bound_check(inst, res, time_limit=20)
>>> check["admits"]
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgebound.errors import EdgeboundError
from edgebound.instances import Instance
from edgebound.sim.results import SimResult

__all__ = ["bound_check", "run_schedule"]


class ScheduleError(EdgeboundError):
    """A run's periods cannot be turned into a feasible schedule."""


def _versions(result: SimResult, start_s: float) -> tuple[np.ndarray, list[set[int]]]:
    per = result.periods
    chosen = np.array(per["versions"], dtype=np.int64)
    n_svc, n_t = chosen.shape
    keep: list[set[int]] = []
    for k in range(n_svc):
        tab = result.tables[k]
        prev = result.stable[k]
        idx = {prev}
        for t in range(n_t):
            newest = tab.newest_at(start_s + t * per["period_s"])
            idx.add(newest)
            v = max(min(int(chosen[k, t]), newest), prev)
            chosen[k, t] = v
            idx.add(v)
            prev = v
        keep.append(idx)
    return chosen, keep


def _bound_instance(instance: Instance, result: SimResult, keep: list[set[int]]) -> Instance:
    data = instance.model_dump()
    for k, svc in enumerate(data["services"]):
        tab = result.tables[k]
        svc["versions"] = [tab.version(i).model_dump() for i in sorted(keep[k])]
        svc["release_process"] = None
    n_t = result.periods["rates"].shape[1]
    data["workload"] = {**data["workload"], "step_s": result.periods["period_s"]}
    data["workload"]["horizon_steps"] = n_t
    stable = {
        k: result.tables[i].label(result.stable[i]) for i, k in enumerate(instance.service_names)
    }
    data["state"] = {**data["state"], "running": stable, "time_s": result.start_s}
    return Instance.model_validate(data)


def _replicas(inst: Instance, result: SimResult, chosen: np.ndarray) -> list[dict[str, Any]]:
    per = result.periods
    rates = per["rates"]
    rho = inst.policy.max_utilization
    nodes = inst.topology.nodes
    periods = []
    for t in range(rates.shape[1]):
        counts = np.rint(per["replicas"][:, :, t]).astype(int)
        need = []
        for k in range(len(inst.services)):
            v = result.tables[k].version(int(chosen[k, t]))
            need.append((v.cpu, v.ram_gb, v.disk_gb, v.gpus, v.service_rate_rps))
        cap = np.array([[n.cpu, n.ram_gb, n.disk_gb, n.gpus] for n in nodes], dtype=float)
        b = np.array([x[:4] for x in need], dtype=float)

        def stable(k: int, c: int, t: int = t, need: list = need) -> bool:
            return bool(rates[k, t] <= rho * c * need[k][4] * (1 - 1e-9))

        # lower where a node is over capacity, taking from the service with most slack
        for n in range(len(nodes)):
            while np.any(counts[:, n] @ b > cap[n] + 1e-9):
                ks = [k for k in range(len(need)) if counts[k, n] > 0]
                k = max(ks, key=lambda k: counts[k].sum() - rates[k, t] / need[k][4])
                counts[k, n] -= 1
        for k in range(len(need)):
            while not stable(k, int(counts[k].sum())):
                used = counts.T @ b
                fit = [n for n in range(len(nodes)) if np.all(used[n] + b[k] <= cap[n] + 1e-9)]
                if not fit:
                    raise ScheduleError(
                        f"period {t}: {inst.service_names[k]} cannot get enough replicas for "
                        f"{rates[k, t]:g} req/s within the nodes' capacity"
                    )
                counts[k, fit[0]] += 1
        periods.append(
            {
                "versions": {
                    s: result.tables[k].label(int(chosen[k, t]))
                    for k, s in enumerate(inst.service_names)
                },
                "replicas": {
                    s: {inst.node_names[n]: int(c) for n, c in enumerate(counts[k]) if c}
                    for k, s in enumerate(inst.service_names)
                },
            }
        )
    return periods


def run_schedule(instance: Instance, result: SimResult) -> tuple[Instance, dict[str, Any]]:
    """The instance of the bound and the schedule decision of a simulated run.

    Returns
    -------
    (Instance, dict)
        The instance restricted to the relevant versions (see the module docstring) with
        ``workload.step_s`` the run's period, and ``{"model": "mmv_schedule", "periods":
        [...]}``; the rates are ``result.periods["rates"]``.
    """
    chosen, keep = _versions(result, result.start_s)
    inst = _bound_instance(instance, result, keep)
    return inst, {"model": "mmv_schedule", "periods": _replicas(inst, result, chosen)}


def bound_check(
    instance: Instance, result: SimResult, *, time_limit: float = 30.0
) -> dict[str, Any]:
    """Score a run's schedule on the analytic model and solve the clairvoyant bound.

    Returns
    -------
    dict
        ``achieved`` (the schedule's ``weighted`` objective, analytic), ``bound`` (no
        schedule on the same rates does better), ``admits`` (achieved is not better than
        the bound), ``gap`` (relative distance to the bound), ``simulated`` (the run's own,
        stochastic ``weighted``), ``bound_status`` and ``feasible``.
    """
    from edgebound import bounds
    from edgebound.evaluate.mmv_schedule import evaluate_mmv_schedule

    inst, schedule = run_schedule(instance, result)
    rates = result.periods["rates"]
    ev = evaluate_mmv_schedule(inst, schedule, rates)
    b = bounds.mmv(inst, rates=rates, time_limit=time_limit)
    achieved = float(ev.objectives["weighted"])
    gap = (achieved - b.value) / abs(b.value) if math.isfinite(b.value) and b.value else None
    return {
        "policy": result.policy,
        "achieved": achieved,
        "bound": b.value,
        "admits": b.admits(achieved),
        "gap": gap,
        "simulated": result.objectives["weighted"],
        "bound_status": b.status,
        "feasible": ev.feasible,
        "periods": len(schedule["periods"]),
    }
