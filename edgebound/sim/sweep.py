"""The versioning paper's Fig. 2 sweep: every policy at loads 30-80 %, with CIs and bounds.

Examples
--------
>>> from edgebound.instances import load
>>> sw = sweep(load("gentzen-star4"), loads=[0.3], policies=["never"], arrivals=2000,
...            seeds=2, bound=False)
>>> row = sw["rows"][0]
>>> row["policy"], row["load"], round(row["mean"]["security"], 2)
('never', 0.3, 0.62)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edgebound.instances import Instance
from edgebound.sim.mmv import MMVSimulator
from edgebound.sim.policy import make_policy
from edgebound.sim.results import METRICS, SimResult, summarize
from edgebound.sim.schedule import bound_check

__all__ = ["POLICIES", "plot_sweep", "sweep"]

POLICIES = ("always", "never", "random", "qlearning")
LOADS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def sweep(
    instance: Instance,
    *,
    loads: Sequence[float] = LOADS,
    policies: Sequence[str] = POLICIES,
    arrivals: int = 200_000,
    seeds: int = 5,
    confidence: float = 0.98,
    bound: bool = True,
    bound_periods: int = 4,
    time_limit: float = 30.0,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Run every policy at every load over ``seeds`` seeds; optionally bound each load.

    Seed s of every policy sees the same arrivals and service draws (common random numbers),
    so the gap-to-bound rows of one load compare like with like: the bound is solved once
    per load on the rates measured in seed 0's run, and every policy's seed-0 schedule is
    scored against it (see :mod:`edgebound.sim.schedule`).

    Returns
    -------
    dict
        ``rows``: one per (load, policy) with ``mean`` and ``halfwidth`` of each objective,
        ``events_per_s`` and ``counts``; ``bounds``: one per (load, policy) from
        :func:`~edgebound.sim.schedule.bound_check` when ``bound`` is true.
    """
    rows: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    for load in loads:
        for name in policies:
            runs: list[SimResult] = []
            for seed in range(seeds):
                sim = MMVSimulator(
                    instance,
                    load=load,
                    arrivals=arrivals,
                    seed=seed,
                    periods=bound_periods,
                    **options,
                )
                runs.append(sim.run(make_policy(name)))
                if progress is not None:
                    progress(f"{name} at load {load:g}, seed {seed}")
            summ = summarize(runs, confidence)
            counts = {c: sum(r.counts[c] for r in runs) for c in runs[0].counts}
            rows.append(
                {
                    "load": load,
                    "policy": name,
                    "seeds": seeds,
                    "mean": summ.mean,
                    "halfwidth": summ.halfwidth,
                    "events_per_s": sum(r.events for r in runs) / sum(r.wall_s for r in runs),
                    "counts": counts,
                }
            )
            if bound:
                check = bound_check(instance, runs[0], time_limit=time_limit)
                checks.append({"load": load, **check})
    return {
        "instance": instance.name,
        "arrivals": arrivals,
        "seeds": seeds,
        "confidence": confidence,
        "rows": rows,
        "bounds": checks,
    }


def plot_sweep(result: dict[str, Any], path: str | Path) -> Path:
    """Draw the sweep as the paper's Fig. 2 (security, reliability, accuracy, delay vs load).

    Error bars are the confidence intervals. Needs matplotlib.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("security", "(a) average security"), ("reliability", "(b) average reliability")]
    panels += [("accuracy", "(c) average accuracy"), ("delay", "(d) average delay (ms)")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    policies = list(dict.fromkeys(r["policy"] for r in result["rows"]))
    markers = dict(zip(POLICIES, ("o", "s", "^", "D"), strict=True))
    for ax, (metric, title) in zip(axes, panels, strict=True):
        for name in policies:
            rows = [r for r in result["rows"] if r["policy"] == name]
            x = [100 * r["load"] for r in rows]
            y = [r["mean"][metric] for r in rows]
            err = [r["halfwidth"][metric] for r in rows]
            ax.errorbar(x, y, yerr=err, marker=markers.get(name, "o"), capsize=3, label=name)
        ax.set_title(title)
        ax.set_xlabel("load (%)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    """The sweep as text rows: load, policy, then mean ± half-width of each objective."""
    out = []
    for r in result["rows"]:
        cells = [f"{100 * r['load']:.0f}", r["policy"]]
        for m in METRICS:
            digits = 2 if m in ("delay", "weighted") else 4
            cells.append(f"{r['mean'][m]:.{digits}f} ± {r['halfwidth'][m]:.{digits}f}")
        out.append(cells)
    return out
