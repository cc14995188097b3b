"""The ``mpc`` command: the MPC in closed loop against the heuristic and the bound."""

from __future__ import annotations

import enum
import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgebound.cli._app import (
    HoursOption,
    InstanceArg,
    JsonOption,
    OutOption,
    SeedsOption,
    _ci_cell,
    _command,
    _console,
    _echo_err,
    _emit_json,
    _jsonable,
    _periods,
)


class _Forecast(enum.StrEnum):
    seasonal = "seasonal"
    tcn = "tcn"
    oracle = "oracle"


class _Solver(enum.StrEnum):
    clarabel = "CLARABEL"
    highs = "HIGHS"
    osqp = "OSQP"


_COLUMNS = (
    ("p95_latency_ms", "p95 (ms)", 1),
    ("slo_violation_pct", "SLO viol. (%)", 2),
    ("throughput_rps", "throughput (req/s)", 0),
    ("energy_j_per_req", "energy (J/req)", 3),
    ("power_cap_violations", "power-cap viol.", 0),
    ("migration_cap_violations", "migr.-cap viol.", 0),
    ("weighted", "weighted", 2),
)


@_command("mpc")
def _mpc(
    instance: InstanceArg,
    forecast: Annotated[
        list[_Forecast] | None,
        typer.Option("--forecast", "-f", help="Forecast source; repeat for several."),
    ] = None,
    hours: HoursOption = None,
    seeds: SeedsOption = 5,
    horizon: Annotated[int, typer.Option("--horizon", min=1, help="MPC horizon, periods.")] = 12,
    solver: Annotated[_Solver, typer.Option("--solver", help="Solver of the MPC.")] = (
        _Solver.highs
    ),
    warm_start: Annotated[
        bool,
        typer.Option(
            "--warm-start/--cold-start",
            help="With HiGHS, re-solve each step from the last step's basis.",
        ),
    ] = True,
    confidence: Annotated[
        float, typer.Option("--confidence", min=0.5, max=0.999, help="Level of the t-intervals.")
    ] = 0.95,
    bound: Annotated[
        bool, typer.Option("--bound/--no-bound", help="Solve the clairvoyant bound.")
    ] = True,
    heuristic: Annotated[
        bool, typer.Option("--heuristic/--no-heuristic", help="Run the heuristic autoscaler.")
    ] = True,
    plots: Annotated[
        Path | None,
        typer.Option("--plots", help="Write the time-series plot (PNG) here.", dir_okay=False),
    ] = None,
    output: OutOption = None,
    json_out: JsonOption = False,
) -> None:
    """Run the MPC in closed loop on the continuum plant, like the paper's Table 2.

    Rows: the heuristic autoscaler, the MPC with each forecast, and the clairvoyant bound
    of the placement schedule on the same demand; mean ± CI over the seeds. ``--output``
    saves every finished run as it finishes (JSON lines), so an interrupted comparison
    keeps what it did.
    """
    from edgebound.instances import load as load_instance
    from edgebound.mpc import MPCConfig, MPCError
    from edgebound.mpc.closed_loop import RunRecord, compare

    inst = load_instance(instance)
    step_h = inst.workload.step_s / 3600.0
    periods = None if hours is None else _periods(inst, hours, MPCError)
    names = [f.value for f in (forecast or [_Forecast.seasonal])]
    config = MPCConfig(horizon=horizon, solver=solver.value, warm_start=warm_start)
    sink = None
    if output is not None:
        try:
            sink = Path(output).open("w", encoding="utf-8")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise MPCError(f"--output: cannot write {output}: {exc.strerror or exc}") from None

    def on_run(rec: RunRecord) -> None:
        if sink is not None:
            sink.write(json.dumps(_jsonable(rec.to_dict())) + "\n")
            sink.flush()

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=_console(),
        transient=True,
        disable=json_out,
    )
    tasks: dict[str, Any] = {}

    def tick(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = progress.add_task(what, total=total)
        progress.update(tasks[what], completed=done)

    try:
        with progress:
            cmp = compare(
                inst,
                forecasts=names,
                seeds=range(seeds),
                periods=periods,
                config=config,
                heuristic=heuristic,
                bound=bound,
                keep_results=plots is not None,
                on_run=on_run,
                progress=tick,
            )
    finally:
        if sink is not None:
            sink.close()
    if plots is not None and cmp.runs:
        import matplotlib

        matplotlib.use("Agg")
        cmp.plot(plots)
    rows = cmp.table(confidence)
    doc = cmp.to_dict() | {"confidence": confidence, "table": rows}
    if json_out:
        _emit_json(doc)
        return
    # the table is wide: do not wrap it at 80 columns when stdout is a file or a pipe
    con = _console() if sys.stdout.isatty() else Console(highlight=False, width=200)
    hours_run = cmp.periods * step_h
    table = Table(
        title=f"{inst.name}: {hours_run:g} h x {len(cmp.seeds)} seeds, mean ± "
        f"{100 * confidence:g} % CI" + ("" if cmp.complete else " (INTERRUPTED, partial)")
    )
    table.add_column("controller")
    for _key, label, _d in _COLUMNS:
        table.add_column(label, justify="right")
    table.add_column("gap to bound", justify="right")
    table.add_column("step (ms)", justify="right")
    for row in rows:
        gap = row.get("gap_pct")
        table.add_row(
            row["controller"],
            *(
                _ci_cell(row["mean"].get(k, math.nan), row["ci"].get(k, math.nan), dg)
                for k, _l, dg in _COLUMNS
            ),
            "n/a" if gap is None or math.isnan(gap) else f"{gap:.1f} %",
            f"{row['mean'].get('step_ms', math.nan):.1f}",
        )
    if cmp.bound is not None:
        cells = ["-"] * (len(_COLUMNS) - 1) + [f"{cmp.bound['value']:,.2f}", "0 %", "-"]
        table.add_row(f"bound ({cmp.bound['status']})", *cells)
    con.print(table)
    if plots is not None:
        _echo_err(f"wrote {plots}")
    if output is not None:
        _echo_err(f"wrote {output}")
    if not cmp.complete:
        raise typer.Exit(130)
