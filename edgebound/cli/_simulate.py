"""Commands that run the versioning simulator: simulate, simulate-sweep."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from edgebound.cli._app import (
    InstanceArg,
    JsonOption,
    OutOption,
    SeedsOption,
    _command,
    _console,
    _echo_err,
    _emit_json,
    _jsonable,
    _progress,
    _write,
)
from edgebound.errors import EdgeboundError


class _Policy(enum.StrEnum):
    always = "always"
    never = "never"
    random = "random"
    qlearning = "qlearning"


class _ArgumentError(EdgeboundError):
    """An option value the command cannot use."""


PolicyOption = Annotated[
    list[_Policy] | None,
    typer.Option("--policy", "-p", help="Update policy; repeat for several (default: all four)."),
]
ArrivalsOption = Annotated[
    int, typer.Option("--arrivals", "-n", min=1, help="Requests per run (all models together).")
]
ConfidenceOption = Annotated[
    float,
    typer.Option("--confidence", min=0.5, max=0.999, help="Level of the t-intervals."),
]
NoScalingOption = Annotated[
    bool, typer.Option("--no-scaling", help="Fixed replicas: no monitoring-based scaler.")
]


def _check_load(load: float | None) -> None:
    if load is not None and not 0.0 < load < 1.0:
        raise _ArgumentError(f"--load: {load:g} must be in (0, 1), e.g. 0.3 to 0.8")


@_command("simulate")
def _simulate(
    instance: InstanceArg,
    policy: PolicyOption = None,
    load: Annotated[
        float | None,
        typer.Option(
            "--load", help="The paper's server load (eq 1), 0.3..0.8; default: the file's rates."
        ),
    ] = None,
    arrivals: ArrivalsOption = 200_000,
    seeds: SeedsOption = 5,
    confidence: ConfidenceOption = 0.98,
    no_scaling: NoScalingOption = False,
    json_out: JsonOption = False,
) -> None:
    """Simulate update policies on an instance (the versioning paper's event simulator).

    Prints each policy's request-weighted delay, accuracy, security, reliability and
    weighted objective with confidence intervals over the seeds, and the simulator's speed.
    """
    from edgebound.instances import load as load_instance
    from edgebound.sim import MMVSimulator, make_policy, summarize

    _check_load(load)
    inst = load_instance(instance)
    names = [p.value for p in (policy or list(_Policy))]
    summaries = []
    with _progress(json_out) as bar:
        for name in names:
            task = bar.add_task(f"{name}", total=arrivals * seeds)
            runs = []
            for seed in range(seeds):
                sim = MMVSimulator(
                    inst, load=load, arrivals=arrivals, seed=seed, scaling=not no_scaling
                )
                done = seed * arrivals

                def tick(i: int, done: int = done, task: Any = task) -> None:
                    bar.update(task, completed=done + i)

                runs.append(sim.run(make_policy(name), tick))
                bar.update(task, completed=(seed + 1) * arrivals)
            summaries.append(summarize(runs, confidence))
    doc = {
        "instance": inst.name,
        "arrivals": arrivals,
        "seeds": seeds,
        "confidence": confidence,
        "load": summaries[0].results[0].load,
        "policies": [s.to_dict() for s in summaries],
    }
    if json_out:
        _emit_json(doc)
        return
    con = _console()
    table = Table(
        title=f"{inst.name}: load {doc['load']:.3g}, {arrivals} arrivals x {seeds} seeds, "
        f"{100 * confidence:g} % CI"
    )
    for col in ("policy", "delay (ms)", "accuracy", "security", "reliability", "weighted"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    table.add_column("events/s", justify="right")
    for s in summaries:
        cells = [
            f"{s.mean[m]:.{2 if m in ('delay', 'weighted') else 4}f} ± "
            f"{s.halfwidth[m]:.{2 if m in ('delay', 'weighted') else 4}f}"
            for m in ("delay", "accuracy", "security", "reliability", "weighted")
        ]
        speed = sum(r.events for r in s.results) / sum(r.wall_s for r in s.results)
        table.add_row(s.policy, *cells, f"{speed:,.0f}")
    con.print(table)


@_command("simulate-sweep")
def _simulate_sweep(
    instance: InstanceArg = "gentzen-star4",
    loads: Annotated[
        str, typer.Option("--loads", help="Comma-separated loads (eq 1).")
    ] = "0.3,0.4,0.5,0.6,0.7,0.8",
    policy: PolicyOption = None,
    arrivals: ArrivalsOption = 200_000,
    seeds: SeedsOption = 5,
    confidence: ConfidenceOption = 0.98,
    bound: Annotated[
        bool, typer.Option("--bound/--no-bound", help="Solve the clairvoyant bound per load.")
    ] = True,
    figure: Annotated[
        Path | None,
        typer.Option("--figure", help="Write the Fig. 2 plot (PNG) here.", dir_okay=False),
    ] = None,
    output: OutOption = None,
    json_out: JsonOption = False,
) -> None:
    """Regenerate the versioning paper's Fig. 2: every policy at loads 30-80 %.

    Prints the table of objectives with confidence intervals, and the gap of each policy's
    schedule to the clairvoyant bound (``mmv_schedule``) on the same arrivals.
    """
    from edgebound.instances import load as load_instance
    from edgebound.sim.sweep import plot_sweep, sweep, table_rows

    try:
        values = [float(x) for x in loads.split(",") if x.strip()]
    except ValueError:
        raise _ArgumentError(f"--loads: {loads!r} must be numbers separated by commas") from None
    for x in values:
        _check_load(x)
    inst = load_instance(instance)
    names = [p.value for p in (policy or list(_Policy))]
    with _progress(json_out) as bar:
        task = bar.add_task("sweep", total=len(values) * len(names) * seeds)
        result = sweep(
            inst,
            loads=values,
            policies=names,
            arrivals=arrivals,
            seeds=seeds,
            confidence=confidence,
            bound=bound,
            progress=lambda what: bar.update(task, advance=1, description=what),
        )
    if figure is not None:
        plot_sweep(result, figure)
    if output is not None:
        _write(Path(output), json.dumps(_jsonable(result), indent=2) + "\n")
    if json_out:
        _emit_json(result)
        return
    con = _console()
    table = Table(title=f"{inst.name}: {arrivals} arrivals x {seeds} seeds, {confidence:.0%} CI")
    for col in ("load %", "policy", "delay (ms)", "accuracy", "security", "reliability"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    table.add_column("weighted", justify="right")
    for row in table_rows(result):
        table.add_row(*row)
    con.print(table)
    if result["bounds"]:
        gaps = Table(title="gap to the clairvoyant bound (analytic weighted objective, min)")
        for col in ("load %", "policy", "schedule", "bound", "gap", "admitted", "simulated"):
            gaps.add_column(col, justify="left" if col == "policy" else "right")
        for c in result["bounds"]:
            gap = "n/a" if c["gap"] is None else f"{100 * c['gap']:.2f} %"
            gaps.add_row(
                f"{100 * c['load']:.0f}",
                c["policy"],
                f"{c['achieved']:.4f}",
                f"{c['bound']:.4f}",
                gap,
                "yes" if c["admits"] else "NO",
                f"{c['simulated']:.4f}",
            )
        con.print(gaps)
    if figure is not None:
        _echo_err(f"wrote {figure}")
    if output is not None:
        _echo_err(f"wrote {output}")
