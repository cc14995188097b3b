"""The learners against the heuristic, the MPC and the clairvoyant bound, in one table.

For every seed k the heuristic autoscaler, the MPC (seasonal forecasts, when
:mod:`edgebound.mpc` works) and the two learners run on plant seed k (the same sampled
arrivals and jitter); each learner is first trained with seed k on its own training seeds
(:class:`~edgebound.marl.mappo.MAPPOConfig`), then acts greedily. Each run is summarized by the
continuum paper's metrics and by the evaluator's schedule objective ``weighted`` of its
actions on the true demand, which the clairvoyant bound (:func:`edgebound.bounds.placement`,
computed once per report) bounds from below. Every run is checked against the bound; a run
better than it would refute the bound and is listed in ``bound_violations``.

The Pareto view places every controller's mean (p95 latency, J/req) against the nondominated
set of the controllers' means (an empirical front: no exact latency-energy front of the plant
exists to compare with).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgebound._stats import mean_ci
from edgebound.envs.continuum_marl import ContinuumMARLEnv, MARLError
from edgebound.instances import Instance
from edgebound.instances.traces import demand_series
from edgebound.marl.mappo import MAPPOConfig, train
from edgebound.sim.continuum import Controller, PlantResult, run

__all__ = ["COLUMNS", "MARLReport", "compare"]

COLUMNS: dict[str, str] = {
    "p95_latency_ms": "ms",
    "slo_violation_pct": "%",
    "throughput_rps": "req/s",
    "energy_j_per_req": "J/req",
    "power_cap_violations": "node-slots",
    "migration_cap_violations": "service-periods",
    "weighted": "1",
    "unstable_periods": "periods",
    "train_s": "s",
}
"""Metrics of each run and their units (``weighted``: the evaluator's schedule objective of
the run's actions, infinite when some period is; ``unstable_periods``: periods whose action,
at the period's true mean rates, loads some queue at or beyond its capacity, so that the
evaluator's latency and ``weighted`` are infinite; ``train_s``: training wall time, 0 for
controllers that do not learn)."""


@dataclass(frozen=True)
class MARLReport:
    """Runs of every controller over seeds, the bound and the Pareto view.

    Attributes
    ----------
    instance : str
    periods : int
    seeds : tuple of int
    episodes : int
        Training episodes of each learner.
    runs : list of dict
        ``controller``, ``seed`` and the :data:`COLUMNS` metrics of every finished run.
    bound : dict or None
        ``value``, ``status``, ``wall_s`` of the clairvoyant bound.
    bound_violations : list of str
        Runs whose ``weighted`` beats the bound (empty unless the bound is wrong).
    notes : list of str
        Controllers left out and why.
    training : dict
        Per learner: mean returns per episode (averaged over seeds) and uplink bytes.
    complete : bool
        False when interrupted.
    """

    instance: str
    periods: int
    seeds: tuple[int, ...]
    episodes: int
    runs: list[dict[str, Any]]
    bound: dict[str, Any] | None
    bound_violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    complete: bool = True

    def table(self, confidence: float = 0.95) -> list[dict[str, Any]]:
        """One row per controller: mean and CI half-width of every metric, gap to the bound.

        Examples
        --------
        >>> rep = MARLReport("x", 1, (0, 1), 1, [{"controller": "a", "seed": 0, "weighted": 2.0},
        ...                  {"controller": "a", "seed": 1, "weighted": 4.0}], {"value": 2.0})
        >>> row = rep.table()[0]
        >>> row["mean"]["weighted"], row["gap_pct"]
        (3.0, 50.0)
        """
        names = list(dict.fromkeys(r["controller"] for r in self.runs))
        rows = []
        for name in names:
            recs = [r for r in self.runs if r["controller"] == name]
            mean, half = {}, {}
            for k in COLUMNS:
                mean[k], half[k] = mean_ci([r.get(k, math.nan) for r in recs], confidence)
            row: dict[str, Any] = {"controller": name, "n": len(recs), "mean": mean, "ci": half}
            b = None if self.bound is None else self.bound.get("value")
            if b is not None and math.isfinite(b) and not math.isnan(mean["weighted"]):
                row["gap_pct"] = 100.0 * (mean["weighted"] - b) / max(abs(b), 1e-12)
            rows.append(row)
        return rows

    def pareto(self) -> dict[str, Any]:
        """Each controller's mean (p95 latency, J/req) against the front of all the means.

        Returns ``front`` (the nondominated controllers' mean points, by p95) and per
        controller ``point``, ``dominated`` and ``epsilon`` (the additive epsilon: by how much,
        in ms and J/req at once, its mean must improve to reach the front; 0 on it).

        Examples
        --------
        >>> runs = [{"controller": "a", "seed": 0, "p95_latency_ms": 1.0, "energy_j_per_req": 3.0},
        ...         {"controller": "b", "seed": 0, "p95_latency_ms": 2.0, "energy_j_per_req": 4.0}]
        >>> p = MARLReport("x", 1, (0,), 1, runs, None).pareto()
        >>> p["controllers"]["b"]["dominated"], p["controllers"]["b"]["epsilon"]
        (True, 1.0)
        """
        from edgebound.pareto.front import additive_epsilon, nondominated

        senses = ("min", "min")
        means = {
            row["controller"]: [row["mean"]["p95_latency_ms"], row["mean"]["energy_j_per_req"]]
            for row in self.table()
        }
        means = {k: v for k, v in means.items() if all(math.isfinite(x) for x in v)}
        pts = np.array(list(means.values())).reshape(-1, 2)
        keep = nondominated(pts, senses) if len(pts) else np.zeros(0, dtype=int)
        front = pts[keep]
        out: dict[str, Any] = {"front": front[np.argsort(front[:, 0])].tolist(), "controllers": {}}
        for k, (name, p) in enumerate(means.items()):
            a = pts[k]
            dom = bool(np.any(np.all(pts <= a, axis=1) & np.any(pts < a, axis=1)))
            out["controllers"][name] = {
                "point": p,
                "dominated": dom,
                "epsilon": additive_epsilon(a[None, :], front, senses),
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "instance": self.instance,
            "periods": self.periods,
            "seeds": list(self.seeds),
            "episodes": self.episodes,
            "complete": self.complete,
            "bound": self.bound,
            "bound_violations": list(self.bound_violations),
            "notes": list(self.notes),
            "table": self.table(),
            "pareto": self.pareto(),
            "training": self.training,
            "runs": self.runs,
        }

    def plot(self, directory: str | Path) -> list[Path]:
        """Write ``pareto.png`` (every run, the means as squares, the front of the means) and
        ``training.png`` (mean return per training episode of each learner)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(6, 4.5))
        front = np.array(self.pareto()["front"])
        if len(front):
            ax.step(
                front[:, 0],
                front[:, 1],
                where="post",
                color="0.6",
                lw=1,
                label="front of the means",
            )
        for k, name in enumerate(dict.fromkeys(r["controller"] for r in self.runs)):
            p = np.array(
                [
                    [r["p95_latency_ms"], r["energy_j_per_req"]]
                    for r in self.runs
                    if r["controller"] == name
                ]
            )
            ax.plot(p[:, 0], p[:, 1], "o", color=f"C{k}", alpha=0.4, label=f"{name} (seeds)")
            ax.plot(p[:, 0].mean(), p[:, 1].mean(), "s", color=f"C{k}", ms=9, mec="k")
        ax.set_xlabel("p95 latency (ms)")
        ax.set_ylabel("energy (J/req)")
        ax.legend(fontsize="small")
        fig.tight_layout()
        paths = [out / "pareto.png"]
        fig.savefig(paths[0], dpi=120)
        plt.close(fig)
        if self.training:
            fig, ax = plt.subplots(figsize=(6, 4))
            for name, doc in self.training.items():
                ax.plot(np.arange(1, len(doc["returns"]) + 1), doc["returns"], label=name)
            ax.set_xlabel("training episode")
            ax.set_ylabel("mean return per agent")
            ax.legend(fontsize="small")
            fig.tight_layout()
            paths.append(out / "training.png")
            fig.savefig(paths[1], dpi=120)
            plt.close(fig)
        return paths


def _metrics(instance: Instance, demand: np.ndarray, res: PlantResult) -> dict[str, float]:
    from edgebound.evaluate.placement_schedule import evaluate_placement_schedule

    out = {k: float(res.summary[k]) for k in COLUMNS if k in res.summary}
    ev = evaluate_placement_schedule(instance, res.decisions(), demand[:, : res.periods])
    out["weighted"] = float(ev.objectives["weighted"])
    per = [float(p["weighted"]) for p in ev.details["periods"]]
    out["unstable_periods"] = float(sum(not math.isfinite(w) for w in per))
    return out


def _mpc() -> tuple[Callable[[], Controller] | None, str | None]:
    try:
        from edgebound.mpc import MPCController

        MPCController("seasonal")
    except Exception as exc:  # the MPC is optional here: report why it is left out
        return None, f"MPC left out: {type(exc).__name__}: {exc}"

    def make() -> Controller:
        return MPCController("seasonal")

    return make, None


def compare(
    instance: Instance,
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    periods: int | None = None,
    config: MAPPOConfig | None = None,
    env_options: dict[str, Any] | None = None,
    heuristic: bool = True,
    mpc: bool = True,
    learners: Sequence[str] = ("federated", "local"),
    bound: bool | dict[str, Any] = True,
    bound_time_limit: float = 2.0,
    progress: Callable[[str], None] | None = None,
) -> MARLReport:
    """Run every controller over seeds and score them against the clairvoyant bound.

    A KeyboardInterrupt stops the comparison and returns what finished (``complete=False``).

    Parameters
    ----------
    instance : Instance
    seeds : sequence of int
    periods : int, optional
        Control periods per run (default: the whole workload).
    config : MAPPOConfig, optional
        The learners' settings (``seed`` and ``federated`` are set per run).
    env_options : dict, optional
        Options of :class:`~edgebound.envs.continuum_marl.ContinuumMARLEnv` (granularity,
        reward, reward weights).
    heuristic, mpc : bool
    learners : sequence of {"federated", "local"}
    bound : bool or dict
        Compute the bound; or a bound already computed (``value``, ``status``, ``wall_s``) for
        the same instance and periods.
    bound_time_limit : float
        Seconds per period of the bound's decoupled solve.
    progress : callable, optional
        Called with a line of text as the comparison moves on.

    Returns
    -------
    MARLReport

    Examples
    --------
    >>> from edgebound.instances import load
    >>> rep = compare(load("continuum-3edge-2cloud"), seeds=[0], periods=2, mpc=False,
    ...               bound=False, config=MAPPOConfig(episodes=1))
    >>> [row["controller"] for row in rep.table()]
    ['heuristic', 'mappo-fed', 'mappo-local']
    """
    from edgebound.sim.autoscaler import HeuristicAutoscaler

    say = progress or (lambda _line: None)
    T_all = instance.workload.horizon_steps
    T = T_all if periods is None else periods
    if not (isinstance(T, int) and 1 <= T <= T_all):
        raise MARLError(f"periods: {periods!r} must be a whole number from 1 to {T_all}")
    if not seeds:
        raise MARLError("seeds: give at least one seed")
    bad = [x for x in learners if x not in ("federated", "local")]
    if bad:
        raise MARLError(f"learners: {bad[0]!r} must be 'federated' or 'local'")
    cfg = config or MAPPOConfig()
    demand = demand_series(instance)
    notes: list[str] = []
    runs: list[dict[str, Any]] = []
    training: dict[str, Any] = {}
    bound_doc: dict[str, Any] | None = None
    complete = True
    makers: list[tuple[str, Callable[[], Controller]]] = []
    if heuristic:
        makers.append(("heuristic", HeuristicAutoscaler))
    if mpc:
        make, note = _mpc()
        if make is None:
            notes.append(str(note))
        else:
            makers.append(("mpc-seasonal", make))
    try:
        if isinstance(bound, dict):
            bound_doc = dict(bound)
        elif bound:
            from edgebound import bounds

            say("clairvoyant bound ...")
            b = bounds.placement(
                instance,
                demand=demand[:, :T],
                objective="weighted",
                method="decoupled",
                period_time_limit=bound_time_limit,
            )
            bound_doc = {"value": float(b.value), "status": b.status, "wall_s": b.wall_s}
        env = ContinuumMARLEnv(instance, periods=T, **(env_options or {}))
        for seed in seeds:
            for name, make in makers:
                res = run(instance, make(), seed=int(seed), periods=T)
                runs.append(
                    {
                        "controller": name,
                        "seed": int(seed),
                        **_metrics(instance, demand, res),
                        "train_s": 0.0,
                    }
                )
                say(f"{name} seed {seed}: p95 {res.summary['p95_latency_ms']:.1f} ms")
            for kind in learners:
                c = replace(cfg, seed=int(seed), federated=kind == "federated")
                tr = train(env, c)
                res = run(instance, tr.policy.controller(), seed=int(seed), periods=T)
                name = tr.policy.name
                runs.append(
                    {
                        "controller": name,
                        "seed": int(seed),
                        **_metrics(instance, demand, res),
                        "train_s": tr.wall_s,
                    }
                )
                doc = training.setdefault(
                    name, {"returns": [], "uplink_bytes": 0, "dense_bytes": 0, "params": tr.params}
                )
                doc["returns"].append(tr.returns.tolist())
                doc["uplink_bytes"] += int(tr.uplink_bytes.sum())
                doc["dense_bytes"] += int(tr.dense_bytes.sum())
                p95 = res.summary["p95_latency_ms"]
                say(f"{name} seed {seed}: trained in {tr.wall_s:.0f} s, p95 {p95:.1f} ms")
    except KeyboardInterrupt:
        complete = False
    for doc in training.values():
        doc["returns"] = np.mean(np.array(doc["returns"]), axis=0).tolist()
    violations = []
    if bound_doc is not None and math.isfinite(bound_doc.get("value", math.nan)):
        lower = float(bound_doc["value"])
        for r in runs:
            if r["weighted"] < lower - 1e-7 * max(1.0, abs(lower)):
                violations.append(
                    f"{r['controller']} seed {r['seed']}: {r['weighted']:.6g} < bound {lower:.6g}"
                )
    return MARLReport(
        instance=instance.name,
        periods=T,
        seeds=tuple(int(s) for s in seeds),
        episodes=cfg.episodes,
        runs=runs,
        bound=bound_doc,
        bound_violations=violations,
        notes=notes,
        training=training,
        complete=complete,
    )
