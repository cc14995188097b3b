"""The outcome of one run of the continuum plant: Table-1 metrics, time series, actions."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgebound.evaluate.placement import PlacementDecision
from edgebound.instances import Instance
from edgebound.sim.continuum._latency import Records, quantiles
from edgebound.sim.continuum.interface import PlantAction

if TYPE_CHECKING:
    from edgebound.sim.continuum.interface import StepInfo
    from edgebound.sim.continuum.plant import ContinuumPlant

__all__ = ["SUMMARY_UNITS", "PlantResult"]

SUMMARY_UNITS: dict[str, str] = {
    "p95_latency_ms": "ms",
    "p99_latency_ms": "ms",
    "mean_latency_ms": "ms",
    "slo_violation_pct": "%",
    "slo_violation_served_pct": "%",
    "throughput_rps": "req/s",
    "energy_j_per_req": "J/req",
    "power_w": "W",
    "migrations": "replica",
    "power_cap_violations": "node-slot",
    "migration_cap_violations": "service-period",
    "shield_interventions": "1",
    "dropped_pct": "%",
    "cost_usd": "USD",
}
"""Unit of each entry of :attr:`PlantResult.summary`."""


def _js(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    f = float(v)
    if math.isfinite(f):
        return f
    return "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")


def _jsa(a: np.ndarray) -> Any:
    arr = np.asarray(a)
    if arr.ndim == 0:
        return _js(arr.item())
    return [_jsa(x) for x in arr]


@dataclass(frozen=True, eq=False)
class PlantResult:
    """One run of a controller on the continuum plant.

    Attributes
    ----------
    instance : Instance
    controller : str
    seed : int
    periods : int
    period_s, slot_s : float
    wall_s : float
        Wall-clock time of the run (controller included).
    summary : dict of str to float
        Over the whole run (units in :data:`SUMMARY_UNITS`): ``p95_latency_ms``,
        ``p99_latency_ms`` and ``mean_latency_ms`` of admitted requests (exact mixture
        quantiles over all of them); ``slo_violation_pct`` (late admitted requests plus
        dropped ones, over arrivals); ``slo_violation_served_pct`` (late over admitted);
        ``throughput_rps`` (admitted per second); ``energy_j_per_req`` (energy over
        admitted requests); ``power_w`` (mean total); ``migrations`` (replicas started);
        ``power_cap_violations`` (node-slots); ``migration_cap_violations``
        (service-periods); ``shield_interventions``; ``dropped_pct``; ``cost_usd``.
    series : dict of str to ndarray
        Per period: ``demand_rps``, ``served_rps``, ``dropped_rps``, ``p95_ms``,
        ``mean_latency_ms``, ``slo_violation_pct``, ``power_w``, ``energy_j``,
        ``replicas``, ``migrations``, ``power_cap_violations``, ``cost_usd`` (shape (T,));
        ``p95_by_service_ms`` and ``migrations_by_service`` (S, T); ``rates`` (S, I, T),
        the true rates the period was built around.
    actions : tuple of PlantAction
        The action of each period.
    services : tuple of str
    per_service : dict of str to dict
        Per service over the run: ``p95_latency_ms``, ``slo_violation_pct``,
        ``dropped_pct`` and ``throughput_rps`` (as in ``summary``).
    """

    instance: Instance
    controller: str
    seed: int
    periods: int
    period_s: float
    slot_s: float
    wall_s: float
    summary: dict[str, float]
    series: dict[str, np.ndarray]
    actions: tuple[PlantAction, ...]
    services: tuple[str, ...] = field(default=())
    per_service: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        plant: ContinuumPlant,
        *,
        controller_name: str,
        infos: list[StepInfo],
        actions: list[PlantAction],
        wall_s: float,
    ) -> PlantResult:
        """Assemble the result of a finished run (used by :func:`run`)."""
        d = plant._d
        T = len(infos)
        S = len(d.services)
        arrivals = np.array([i.arrivals.sum() for i in infos])
        served = np.array([i.served.sum() for i in infos])
        dropped = np.array([i.dropped.sum() for i in infos])
        late = np.array([i.late.sum() for i in infos])
        energy = np.array([i.energy_j for i in infos])
        lat_sum = np.array([i.latency_sum_ms.sum() for i in infos])
        P = plant.period_s
        rec = Records.concat(plant.records[:T])
        flat = rec.merged()
        # the run's quantile lies between the smallest and largest of the periods' ones
        p95_t = np.array([i.p95_all_ms for i in infos])
        p95_t = p95_t[np.isfinite(p95_t)]
        p95_run = p99_run = math.nan
        if rec.w.size:
            near = (np.array([p95_t.min()]), np.array([p95_t.max() * (1 + 1e-9)]))
            p95_run = float(quantiles(0.95, flat, 1, near)[0])
            p99_run = float(quantiles(0.99, flat, 1, (near[0] * 0 + p95_run, near[1] * 1e9))[0])
        tot_arr, tot_served, tot_drop = arrivals.sum(), served.sum(), dropped.sum()

        def pct(num: float, den: float) -> float:
            return 100.0 * num / den if den > 0 else 0.0

        duration = T * P
        summary = {
            "p95_latency_ms": p95_run,
            "p99_latency_ms": p99_run,
            "mean_latency_ms": float(lat_sum.sum() / tot_served) if tot_served > 0 else math.nan,
            "slo_violation_pct": pct(late.sum() + tot_drop, tot_arr),
            "slo_violation_served_pct": pct(late.sum(), tot_served),
            "throughput_rps": float(tot_served / duration),
            "energy_j_per_req": float(energy.sum() / tot_served) if tot_served > 0 else math.inf,
            "power_w": float(energy.sum() / duration),
            "migrations": float(sum(int(i.migrations.sum()) for i in infos)),
            "power_cap_violations": float(sum(i.power_cap_violations for i in infos)),
            "migration_cap_violations": float(sum(i.migration_cap_violations for i in infos)),
            "shield_interventions": float(sum(i.interventions for i in infos)),
            "dropped_pct": pct(tot_drop, tot_arr),
            "cost_usd": float(sum(i.cost_usd for i in infos)),
        }
        summary = {k: float(v) for k, v in summary.items()}
        arr_s = np.array([i.arrivals.sum(axis=1) for i in infos]).sum(axis=0)
        srv_s = np.array([i.served.sum(axis=1) for i in infos]).sum(axis=0)
        drp_s = np.array([i.dropped.sum(axis=1) for i in infos]).sum(axis=0)
        late_s = np.array([i.late for i in infos]).sum(axis=0)
        p95_st = np.array([i.p95_ms for i in infos])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a service that served nothing
            near_s = (np.nanmin(p95_st, axis=0), np.nanmax(p95_st, axis=0) * (1 + 1e-9))
        p95_s = quantiles(0.95, rec, S, near_s)
        per_service = {
            name: {
                "p95_latency_ms": float(p95_s[k]),
                "slo_violation_pct": pct(late_s[k] + drp_s[k], arr_s[k]),
                "dropped_pct": pct(drp_s[k], arr_s[k]),
                "throughput_rps": float(srv_s[k] / duration),
            }
            for k, name in enumerate(d.services)
        }
        with np.errstate(divide="ignore", invalid="ignore"):
            series = {
                "demand_rps": arrivals / P,
                "served_rps": served / P,
                "dropped_rps": dropped / P,
                "p95_ms": np.array([i.p95_all_ms for i in infos]),
                "mean_latency_ms": np.where(
                    served > 0, lat_sum / np.maximum(served, 1e-300), np.nan
                ),
                "slo_violation_pct": np.where(
                    arrivals > 0, 100.0 * (late + dropped) / np.maximum(arrivals, 1e-300), 0.0
                ),
                "power_w": energy / P,
                "energy_j": energy,
                "replicas": np.array([float(a.replicas.sum()) for a in actions]),
                "migrations": np.array([float(i.migrations.sum()) for i in infos]),
                "power_cap_violations": np.array([float(i.power_cap_violations) for i in infos]),
                "cost_usd": np.array([i.cost_usd for i in infos]),
                "p95_by_service_ms": np.array([i.p95_ms for i in infos]).T.reshape(S, T),
                "migrations_by_service": np.array(
                    [i.migrations for i in infos], dtype=float
                ).T.reshape(S, T),
                "rates": plant.demand[:, :, :T].copy(),
            }
        for v in series.values():
            v.setflags(write=False)
        return cls(
            instance=plant.instance,
            controller=controller_name,
            seed=plant.seed,
            periods=T,
            period_s=P,
            slot_s=plant.slot_s,
            wall_s=wall_s,
            summary=summary,
            series=series,
            actions=tuple(actions),
            services=tuple(d.services),
            per_service=per_service,
        )

    def decisions(self) -> list[PlacementDecision]:
        """Each period's action as a placement decision on the period's true mean rates.

        Routing is the action's shares times the rates the period was built around (the
        demand of the run, not the sampled arrivals); the rest is dropped. Score them with
        the evaluator (on an instance carrying the period's rates) or compare them with the
        clairvoyant bound.

        Returns
        -------
        list of PlacementDecision

        Examples
        --------
        >>> from edgebound.instances import load
        >>> from edgebound.sim.autoscaler import StaticController
        >>> from edgebound.sim.continuum import run
        >>> res = run(load("continuum-3edge-2cloud"), StaticController(), periods=2)
        >>> decs = res.decisions()
        >>> len(decs), decs[0].replicas.shape
        (2, (6, 41))
        """
        out = []
        rates = self.series["rates"]
        for t, a in enumerate(self.actions):
            lam = rates[:, :, t]
            r = np.asarray(a.routing) * lam[:, :, None]
            drop = np.maximum(0.0, lam - r.sum(axis=2))
            out.append(
                PlacementDecision.from_arrays(
                    self.instance,
                    replicas=a.replicas,
                    routing=r,
                    dropped=drop,
                    nodes_on=a.nodes_on,
                )
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form: summary, series and the actions (sparse).

        Returns
        -------
        dict

        Examples
        --------
        >>> import json
        >>> from edgebound.instances import load
        >>> from edgebound.sim.autoscaler import StaticController
        >>> from edgebound.sim.continuum import run
        >>> res = run(load("continuum-3edge-2cloud"), StaticController(), periods=1)
        >>> d = json.loads(json.dumps(res.to_dict()))
        >>> sorted(d)[:4], d["controller"]
        (['actions', 'controller', 'instance', 'per_service'], 'static')
        """
        actions = []
        for a in self.actions:
            x = np.asarray(a.replicas)
            r = np.asarray(a.routing)
            actions.append(
                {
                    "replicas": [
                        [int(s), int(n), int(x[s, n])] for s, n in zip(*np.nonzero(x), strict=True)
                    ],
                    "routing": [
                        [int(s), int(i), int(n), float(r[s, i, n])]
                        for s, i, n in zip(*np.nonzero(r), strict=True)
                    ],
                    "nodes_on": None if a.nodes_on is None else _jsa(a.nodes_on),
                    "interventions": int(a.interventions),
                }
            )
        return {
            "instance": self.instance.name,
            "controller": self.controller,
            "seed": self.seed,
            "periods": self.periods,
            "period_s": self.period_s,
            "slot_s": self.slot_s,
            "wall_s": self.wall_s,
            "services": list(self.services),
            "summary": {k: _js(v) for k, v in self.summary.items()},
            "per_service": {
                s: {k: _js(v) for k, v in m.items()} for s, m in self.per_service.items()
            },
            "units": dict(SUMMARY_UNITS),
            "series": {k: _jsa(v) for k, v in self.series.items()},
            "actions": actions,
        }

    def plot(self, path: str | Path | None = None) -> Any:
        """Time series of the run: demand and throughput, p95, power, replicas.

        Parameters
        ----------
        path : str or Path, optional
            Where to save the figure (format from the suffix); the figure is returned
            either way.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from edgebound.instances import load
        >>> from edgebound.sim.autoscaler import StaticController
        >>> from edgebound.sim.continuum import run
        >>> fig = run(load("continuum-3edge-2cloud"), StaticController(), periods=3).plot()
        >>> len(fig.axes)
        4
        """
        import matplotlib.pyplot as plt

        hours = np.arange(self.periods) * self.period_s / 3600.0
        s = self.series
        fig, axes = plt.subplots(4, 1, figsize=(8, 9), sharex=True)
        axes[0].plot(hours, s["demand_rps"], label="arrivals")
        axes[0].plot(hours, s["served_rps"], label="admitted")
        axes[0].plot(hours, s["dropped_rps"], label="dropped")
        axes[0].set_ylabel("req/s")
        axes[0].legend(loc="upper left", fontsize="small")
        axes[1].plot(hours, s["p95_ms"], label="p95 latency")
        axes[1].set_ylabel("ms")
        axes[1].set_yscale("log")
        axes[1].legend(loc="upper left", fontsize="small")
        axes[2].plot(hours, s["power_w"] / 1000.0)
        axes[2].set_ylabel("power (kW)")
        axes[3].plot(hours, s["replicas"], label="replicas")
        axes[3].bar(
            hours, s["migrations"], width=0.8 * self.period_s / 3600.0, alpha=0.4, label="started"
        )
        axes[3].set_ylabel("replicas")
        axes[3].set_xlabel("hours")
        axes[3].legend(loc="upper left", fontsize="small")
        fig.suptitle(f"{self.controller} on {self.instance.name}, seed {self.seed}")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig
