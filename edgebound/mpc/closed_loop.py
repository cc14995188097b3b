"""Closed-loop comparison: the heuristic, the MPC per forecast, and the clairvoyant bound.

Every controller runs on the continuum plant under the same seeds (the same sampled
arrivals and network jitter), over the same true demand. Each run is summarized by the
continuum paper's metrics (p95 latency, SLO violations, throughput, energy per request) and by
the evaluator's weighted schedule objective of its actions, which the clairvoyant bound of
:func:`edgebound.bounds.placement` (multi-period ``placement_schedule`` on the same demand)
bounds from below; the gap to it is reported per controller.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgebound._stats import mean_ci
from edgebound.instances import Instance
from edgebound.instances.traces import demand_series
from edgebound.mpc._layout import MPCError
from edgebound.mpc.controller import FORECASTS, MPCController
from edgebound.mpc.model import MPCConfig
from edgebound.sim.continuum import Controller, PlantResult, run

__all__ = ["METRICS", "Comparison", "RunRecord", "compare", "mean_ci", "summarize"]

METRICS: dict[str, str] = {
    "p95_latency_ms": "ms",
    "slo_violation_pct": "%",
    "throughput_rps": "req/s",
    "energy_j_per_req": "J/req",
    "power_cap_violations": "node-slots",
    "migration_cap_violations": "service-periods",
    "weighted": "1",
    "step_ms": "ms",
}
"""Metrics of the comparison table and their units (``weighted``: the evaluator's schedule
objective of the run's actions on the true rates; ``step_ms``: mean controller time per step)."""


@dataclass(frozen=True)
class RunRecord:
    """One finished run: a controller on one seed.

    Attributes
    ----------
    controller : str
    seed : int
    metrics : dict
        The values of :data:`METRICS` (``weighted`` is nan when not evaluated).
    result : PlantResult or None
        The full run (kept for plots; None once serialized).
    """

    controller: str
    seed: int
    metrics: dict[str, float]
    result: PlantResult | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (no time series)."""
        return {"controller": self.controller, "seed": self.seed, "metrics": dict(self.metrics)}


@dataclass(frozen=True)
class Comparison:
    """Runs of several controllers over seeds, with the bound.

    Attributes
    ----------
    instance : str
    periods : int
    seeds : tuple of int
    runs : tuple of RunRecord
        Finished runs, in the order they finished.
    bound : dict or None
        ``value`` (the clairvoyant lower bound on ``weighted``), ``status``, ``wall_s``.
    complete : bool
        False when the comparison was interrupted.
    """

    instance: str
    periods: int
    seeds: tuple[int, ...]
    runs: tuple[RunRecord, ...]
    bound: dict[str, Any] | None
    complete: bool = True

    def table(self, confidence: float = 0.95) -> list[dict[str, Any]]:
        """One row per controller: mean and CI half-width of each metric over seeds.

        Examples
        --------
        >>> runs = (RunRecord("a", 0, {"p95_latency_ms": 1.0}),
        ...         RunRecord("a", 1, {"p95_latency_ms": 3.0}))
        >>> Comparison("x", 1, (0, 1), runs, None).table()[0]["mean"]["p95_latency_ms"]
        2.0
        """
        names = list(dict.fromkeys(r.controller for r in self.runs))
        rows = []
        for name in names:
            recs = [r for r in self.runs if r.controller == name]
            mean, half = summarize([r.metrics for r in recs], confidence)
            row: dict[str, Any] = {"controller": name, "n": len(recs), "mean": mean, "ci": half}
            if self.bound is not None and math.isfinite(self.bound.get("value", math.nan)):
                b = float(self.bound["value"])
                w = mean.get("weighted", math.nan)
                row["gap_pct"] = 100.0 * (w - b) / max(abs(b), 1e-12)
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "instance": self.instance,
            "periods": self.periods,
            "seeds": list(self.seeds),
            "complete": self.complete,
            "bound": self.bound,
            "table": self.table(),
            "runs": [r.to_dict() for r in self.runs],
        }

    def plot(self, path: str | Path | None = None, seed: int | None = None) -> Any:
        """Time series of one seed (the first by default): every controller overlaid.

        Panels: p95 latency, SLO violations, power and replicas per period.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        seed = self.seeds[0] if seed is None else seed
        recs = [r for r in self.runs if r.seed == seed and r.result is not None]
        fig, axes = plt.subplots(4, 1, figsize=(8, 9), sharex=True)
        panels = (
            ("p95_ms", "p95 latency (ms)", 1.0),
            ("slo_violation_pct", "SLO violations (%)", 1.0),
            ("power_w", "power (kW)", 1e-3),
            ("replicas", "replicas", 1.0),
        )
        for rec in recs:
            res = rec.result
            assert res is not None
            hours = np.arange(res.periods) * res.period_s / 3600.0
            for ax, (key, _label, scale) in zip(axes, panels, strict=True):
                ax.plot(hours, res.series[key] * scale, label=rec.controller)
        for ax, (_key, label, _scale) in zip(axes, panels, strict=True):
            ax.set_ylabel(label)
        axes[0].set_yscale("log")
        axes[0].legend(loc="upper left", fontsize="small")
        axes[-1].set_xlabel("hours")
        fig.suptitle(f"{self.instance}, seed {seed}")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def summarize(
    values: Sequence[dict[str, float]], confidence: float = 0.95
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and Student-t confidence half-width of each metric over runs.

    Examples
    --------
    >>> mean, half = summarize([{"a": 1.0}, {"a": 3.0}])
    >>> mean["a"], round(half["a"], 3)
    (2.0, 12.706)
    """
    keys = list(dict.fromkeys(k for v in values for k in v))
    mean, half = {}, {}
    for k in keys:
        mean[k], half[k] = mean_ci([v.get(k, math.nan) for v in values], confidence)
    return mean, half


class _Timed:
    """A controller that records how long each of its actions took."""

    def __init__(self, inner: Controller) -> None:
        self.inner = inner
        self.name = str(getattr(inner, "name", type(inner).__name__))
        self.act_s: list[float] = []

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        self.inner.reset(instance, rng)

    def act(self, obs: Any) -> Any:
        t0 = time.perf_counter()
        out = self.inner.act(obs)
        self.act_s.append(time.perf_counter() - t0)
        return out


def _weighted(instance: Instance, demand: np.ndarray, res: PlantResult) -> float:
    from edgebound.evaluate.placement_schedule import evaluate_placement_schedule

    ev = evaluate_placement_schedule(instance, res.decisions(), demand[:, : res.periods])
    return float(ev.objectives["weighted"])


def _controllers(
    forecasts: Sequence[str], config: MPCConfig | None, heuristic: bool, demand: np.ndarray
) -> list[Callable[[], Controller]]:
    from edgebound.sim.autoscaler import HeuristicAutoscaler

    out: list[Callable[[], Controller]] = []
    if heuristic:
        out.append(HeuristicAutoscaler)
    for f in forecasts:
        if f not in FORECASTS:
            raise MPCError(f"forecast: {f!r} must be one of {', '.join(FORECASTS)}")

        def make(f: str = f) -> Controller:
            return MPCController(f, config, demand=demand)

        out.append(make)
    return out


def compare(
    instance: Instance,
    *,
    forecasts: Sequence[str] = ("seasonal",),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    periods: int | None = None,
    config: MPCConfig | None = None,
    heuristic: bool = True,
    bound: bool = True,
    bound_time_limit: float = 2.0,
    keep_results: bool = True,
    on_run: Callable[[RunRecord], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Comparison:
    """Run the heuristic and the MPC (per forecast) over seeds; solve the bound.

    A KeyboardInterrupt stops the comparison and returns what finished
    (``complete=False``); ``on_run`` sees every run as it finishes, so a caller can save
    them incrementally.

    Parameters
    ----------
    instance : Instance
    forecasts : sequence of {"seasonal", "oracle", "tcn"}
    seeds : sequence of int
    periods : int, optional
        Control periods per run (default: the workload's ``horizon_steps``).
    config : MPCConfig, optional
    heuristic : bool
        Include :class:`~edgebound.sim.autoscaler.HeuristicAutoscaler`.
    bound : bool
        Solve the clairvoyant bound (:func:`edgebound.bounds.placement`) on the demand.
    bound_time_limit : float
        Seconds per period of the bound's decoupled solve.
    keep_results : bool
        Keep each run's :class:`PlantResult` (for plots).
    on_run : callable, optional
    progress : callable, optional
        Called as ``progress(description, done, total)`` after every period.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> from edgebound.instances import load
    >>> cmp = compare(load("continuum-3edge-2cloud"), seeds=[0], periods=2, bound=False,
    ...               config=MPCConfig(horizon=3))
    >>> [row["controller"] for row in cmp.table()]
    ['heuristic', 'mpc-seasonal']
    """
    T = instance.workload.horizon_steps if periods is None else int(periods)
    if not 1 <= T <= instance.workload.horizon_steps:
        raise MPCError(
            f"periods: {periods!r} must be between 1 and {instance.workload.horizon_steps}"
        )
    if not seeds:
        raise MPCError("seeds: give at least one seed")
    demand = demand_series(instance)
    makers = _controllers(forecasts, config, heuristic, demand)
    runs: list[RunRecord] = []
    bound_doc: dict[str, Any] | None = None
    complete = True
    try:
        if bound:
            from edgebound import bounds

            total_b = T

            def tick_b(done: int, total: int) -> None:
                if progress is not None:
                    progress("clairvoyant bound", done, total_b)

            b = bounds.placement(
                instance,
                demand=demand[:, :T],
                objective="weighted",
                period_time_limit=bound_time_limit,
                progress=tick_b,
            )
            bound_doc = {"value": float(b.value), "status": b.status, "wall_s": b.wall_s}
        for make in makers:
            for seed in seeds:
                ctrl = make()
                name = str(getattr(ctrl, "name", type(ctrl).__name__))

                def tick(done: int, total: int, name: str = name, seed: int = seed) -> None:
                    if progress is not None:
                        progress(f"{name} seed {seed}", done, total)

                timed = _Timed(ctrl)
                res = run(instance, timed, seed=int(seed), periods=T, progress=tick)
                metrics = {k: float(res.summary[k]) for k in METRICS if k in res.summary}
                metrics["weighted"] = _weighted(instance, demand, res)
                metrics["step_ms"] = 1000.0 * float(np.mean(timed.act_s)) if timed.act_s else 0.0
                rec = RunRecord(name, int(seed), metrics, res if keep_results else None)
                runs.append(rec)
                if on_run is not None:
                    on_run(rec)
    except KeyboardInterrupt:
        complete = False
    return Comparison(
        instance.name, T, tuple(int(s) for s in seeds), tuple(runs), bound_doc, complete
    )
