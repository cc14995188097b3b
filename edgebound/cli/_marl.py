"""The ``marl`` command: the reference multi-agent learners against the baselines and the bound."""

from __future__ import annotations

import enum
import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from edgebound.cli._app import (
    HoursOption,
    InstanceArg,
    JsonOption,
    SeedsOption,
    _ci_cell,
    _command,
    _console,
    _echo_err,
    _emit_json,
    _periods,
)


class _Granularity(enum.StrEnum):
    cluster = "cluster"
    node = "node"


class _Reward(enum.StrEnum):
    shared = "shared"
    local = "local"


_COLUMNS = (
    ("p95_latency_ms", "p95 (ms)", 1),
    ("slo_violation_pct", "SLO viol. (%)", 2),
    ("throughput_rps", "throughput (req/s)", 0),
    ("energy_j_per_req", "energy (J/req)", 3),
    ("power_cap_violations", "power-cap viol.", 0),
    ("weighted", "weighted", 2),
    ("unstable_periods", "inf periods", 1),
)


def _load_bound(path: Path, instance: str, periods: int) -> dict[str, Any] | None:
    from edgebound.marl import MARLError

    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MARLError(f"--bound-cache: cannot read {path}: {exc}") from None
    if doc.get("instance") != instance or doc.get("periods") != periods:
        raise MARLError(
            f"--bound-cache: {path} holds the bound of {doc.get('instance')!r} over "
            f"{doc.get('periods')} periods, not {instance!r} over {periods}; delete it or "
            "give another file"
        )
    return {k: doc[k] for k in ("value", "status", "wall_s") if k in doc}


@_command("marl")
def _marl(
    instance: InstanceArg,
    seeds: SeedsOption = 5,
    episodes: Annotated[
        int, typer.Option("--episodes", min=1, help="Training episodes of each learner.")
    ] = 60,
    hours: HoursOption = None,
    granularity: Annotated[
        _Granularity, typer.Option("--granularity", help="One agent per edge cluster or node.")
    ] = _Granularity.cluster,
    reward: Annotated[
        _Reward, typer.Option("--reward", help="Plant-wide reward or each agent's own.")
    ] = _Reward.shared,
    mpc: Annotated[bool, typer.Option("--mpc/--no-mpc", help="Run the MPC.")] = True,
    bound: Annotated[
        bool, typer.Option("--bound/--no-bound", help="Solve the clairvoyant bound.")
    ] = True,
    bound_cache: Annotated[
        Path | None,
        typer.Option(
            "--bound-cache",
            help="Read the bound from this JSON file, or write it there once solved.",
            dir_okay=False,
        ),
    ] = None,
    plot_dir: Annotated[
        Path | None,
        typer.Option("--plot-dir", help="Write pareto.png and training.png here.", file_okay=False),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Train the reference learners and compare them with the baselines and the bound.

    Rows: the heuristic autoscaler, the MPC (seasonal forecasts), the federated learner, the
    non-federated ablation and the clairvoyant bound; mean ± 95 % CI over the seeds, the gap
    of the schedule objective to the bound, and where each sits against the Pareto front of
    (p95 latency, J/req) of all runs.
    """
    from edgebound.instances import load as load_instance
    from edgebound.marl import MAPPOConfig, MARLError
    from edgebound.marl.report import compare

    inst = load_instance(instance)
    step_h = inst.workload.step_s / 3600.0
    periods = _periods(inst, hours, MARLError)
    cached = None
    if bound and bound_cache is not None:
        cached = _load_bound(bound_cache, inst.name, periods)
    say = (lambda line: None) if json_out else (lambda line: _echo_err(line))
    rep = compare(
        inst,
        seeds=range(seeds),
        periods=periods,
        config=MAPPOConfig(episodes=episodes),
        env_options={"granularity": granularity.value, "reward": reward.value},
        mpc=mpc,
        bound=cached if cached is not None else bound,
        progress=say,
    )
    if bound and bound_cache is not None and cached is None and rep.bound is not None:
        doc = {"instance": inst.name, "periods": periods, **rep.bound}
        bound_cache.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    paths = rep.plot(plot_dir) if plot_dir is not None and rep.runs else []
    if json_out:
        _emit_json(rep.to_dict())
    else:
        _print(rep, step_h)
    for p in paths:
        _echo_err(f"wrote {p}")
    if not rep.complete:
        raise typer.Exit(130)


def _print(rep: Any, step_h: float) -> None:
    con = _console() if sys.stdout.isatty() else Console(highlight=False, width=220)
    table = Table(
        title=f"{rep.instance}: {rep.periods * step_h:g} h x {len(rep.seeds)} seeds, "
        f"{rep.episodes} training episodes, mean ± 95 % CI"
        + ("" if rep.complete else " (INTERRUPTED, partial)")
    )
    table.add_column("controller")
    for _key, label, _d in _COLUMNS:
        table.add_column(label, justify="right")
    table.add_column("gap to bound", justify="right")
    table.add_column("Pareto (p95, J/req)", justify="right")
    pareto = rep.pareto()["controllers"]
    for row in rep.table():
        gap = row.get("gap_pct")
        par = pareto.get(row["controller"])
        where = (
            "n/a"
            if par is None
            else ("on front" if not par["dominated"] else f"dominated, eps {par['epsilon']:.3g}")
        )
        table.add_row(
            row["controller"],
            *(_ci_cell(row["mean"][k], row["ci"][k], dg) for k, _l, dg in _COLUMNS),
            "n/a" if gap is None else ("inf" if math.isinf(gap) else f"{gap:.1f} %"),
            where,
        )
    if rep.bound is not None:
        value = f"{rep.bound['value']:,.2f}"
        cells = [value if k == "weighted" else "-" for k, _l, _d in _COLUMNS] + ["0 %", "-"]
        table.add_row(f"clairvoyant bound ({rep.bound['status']})", *cells)
    con.print(table)
    for note in rep.notes:
        _echo_err(note)
    if rep.bound_violations:
        _echo_err("RUNS BELOW THE BOUND (the bound is wrong): " + "; ".join(rep.bound_violations))
