"""Commands that run experiments: bench, bench-summarize."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgebound.cli._app import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    JsonOption,
    _command,
    _console,
    _echo_err,
    _emit_json,
    _progress,
)


class _Backend(enum.StrEnum):
    local = "local"
    ray = "ray"


ConfidenceOption = Annotated[
    float,
    typer.Option("--confidence", min=0.5, max=0.999, help="Level of the t-intervals."),
]
PlotOption = Annotated[
    Path | None,
    typer.Option(
        "--plot", help="Write a plot of the means and CIs (PNG, SVG, PDF).", dir_okay=False
    ),
]


def _wide_console() -> Console:
    # Summary tables have a column per metric; a pipe's default 80 columns would wrap them.
    con = _console()
    if not con.is_terminal:
        con.width = max(con.width, 160)
    return con


def _plot(groups: list[Any], path: Path, metrics: list[str] | None, x: str | None) -> None:
    import matplotlib.pyplot as plt

    from edgebound.bench import StoreError, plot_summary

    try:
        fig = plot_summary(groups, path, metrics=metrics, x=x)
    except ValueError as exc:
        raise StoreError(f"--plot: {exc}") from None
    except OSError as exc:
        raise StoreError(f"--plot: cannot write {path}: {exc.strerror or exc}") from None
    plt.close(fig)


def _default_output(experiment: Path) -> Path:
    return experiment.with_name(experiment.stem + ".results.jsonl")


def _print_summary(groups: list[Any]) -> None:
    from edgebound.bench import summary_tables

    con = _wide_console()
    for table in summary_tables(groups):
        con.print(table)
    for g in groups:
        for message in g.errors:
            con.print(
                f"[yellow]{escape(g.method)} on {escape(g.instance)} failed:[/] {escape(message)}"
            )


@_command("bench")
def _bench(
    experiment: Annotated[Path, typer.Argument(help="The experiment file (YAML).", dir_okay=False)],
    backend: Annotated[
        _Backend, typer.Option("--backend", help="local: process pool; ray: Ray tasks.")
    ] = _Backend.local,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="Processes, or CPUs of the local Ray instance (default: all CPUs).",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the result file; finished runs are kept.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help="Result file (JSON lines; default: EXPERIMENT.results.jsonl).",
        ),
    ] = None,
    summary: Annotated[
        bool, typer.Option("--summary/--no-summary", help="Print the summary tables at the end.")
    ] = True,
    plot: PlotOption = None,
    confidence: ConfidenceOption = 0.95,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="Address of a running Ray cluster (--backend ray)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count the runs and those left to do; run nothing.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Run an experiment: instances x methods x parameter grids x seeds.

    Each finished run is appended to the result file at once; after an interruption (Ctrl-C,
    a kill, a lost machine) the same command with --resume runs only what is missing. The
    same experiment gives the same records with either backend and any number of workers,
    apart from their meta field (timings, host). Exits 1 when some run failed (its error is
    recorded) and 130 when interrupted.
    """
    from edgebound.bench import load_experiment, read_records, run_experiment, summarize

    exp = load_experiment(experiment)
    out = output or _default_output(experiment)
    if dry_run:
        _dry_run(exp, out, json_out)
        return
    with _progress(json_out) as bar:
        task = bar.add_task(exp.name, total=len(exp.runs))

        def progress(done: int, total: int, record: dict[str, Any] | None) -> None:
            what = exp.name if record is None else f"{record['method']} on {record['instance']}"
            bar.update(task, completed=done, description=escape(what))

        try:
            report = run_experiment(
                exp,
                out,
                backend=backend.value,
                workers=workers,
                resume=resume,
                progress=progress,
                ray_address=ray_address,
            )
        except KeyboardInterrupt:
            bar.stop()
            keys = {r.key for r in exp.runs}
            saved = len({r["key"] for r in read_records(out)} & keys)
            _echo_err(
                f"interrupted: {saved} of {len(keys)} runs are in {out}; "
                "run the same command with --resume to finish"
            )
            raise typer.Exit(EXIT_INTERRUPTED) from None
    keys = {r.key for r in exp.runs}
    records = [r for r in read_records(out) if r["key"] in keys]
    groups = summarize(records, confidence=confidence)
    if plot is not None:
        _plot(groups, plot, None, None)
    failed = sum(r["status"] != "ok" for r in records)
    if json_out:
        _emit_json(
            {
                "experiment": exp.name,
                "results": str(out),
                "total": report.total,
                "skipped": report.skipped,
                "completed": report.completed,
                "failed": failed,
                "backend": report.backend,
                "workers": report.workers,
                "wall_s": report.wall_s,
                "summary": [g.to_dict() for g in groups] if summary else [],
            }
        )
    else:
        if summary:
            _print_summary(groups)
        _echo_err(
            f"{exp.name}: {report.completed} runs done, {report.skipped} already in {out}, "
            f"{report.total} in all; {report.backend} backend, {report.workers} workers, "
            f"{report.wall_s:.1f} s"
        )
        if plot is not None:
            _echo_err(f"wrote {plot}")
    if failed:
        _echo_err(f"error: {failed} of {len(records)} runs failed; their errors are recorded")
        raise typer.Exit(EXIT_INVALID)


def _dry_run(exp: Any, out: Path, json_out: bool) -> None:
    from edgebound.bench import read_records

    finished = {r["key"] for r in read_records(out)}
    counts: dict[tuple[str, str], list[int]] = {}
    for run in exp.runs:
        c = counts.setdefault((run.method, run.instance), [0, 0])
        c[0] += 1
        c[1] += run.key in finished
    rows: list[dict[str, Any]] = [
        {"method": m, "instance": i, "runs": n, "finished": f} for (m, i), (n, f) in counts.items()
    ]
    if json_out:
        _emit_json({"experiment": exp.name, "results": str(out), "runs": rows})
        return
    table = Table(title=f"{exp.name}: {len(exp.runs)} runs, results in {out}")
    for col in ("method", "instance", "runs", "finished"):
        table.add_column(col, justify="right" if col in ("runs", "finished") else "left")
    for r in rows:
        table.add_row(r["method"], r["instance"], str(r["runs"]), str(r["finished"]))
    _console().print(table)


@_command("bench-summarize")
def _bench_summarize(
    results: Annotated[
        Path, typer.Argument(help="A result file of edgebound bench.", dir_okay=False)
    ],
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help="Result field to show, e.g. objectives.delay; repeat for several.",
        ),
    ] = None,
    plot: PlotOption = None,
    x: Annotated[
        str | None, typer.Option("--x", help="Parameter on the plot's horizontal axis.")
    ] = None,
    confidence: ConfidenceOption = 0.95,
    json_out: JsonOption = False,
) -> None:
    """Summarize a result file: mean and Student-t CI over seeds per method, instance and
    parameters; optionally plot them."""
    from edgebound.bench import StoreError, read_records, summarize, summary_tables

    if not results.is_file():
        raise StoreError(f"{results}: no such result file")
    groups = summarize(read_records(results), confidence=confidence)
    if plot is not None:
        _plot(groups, plot, metric, x)
    if json_out:
        _emit_json({"results": str(results), "groups": [g.to_dict() for g in groups]})
        return
    con = _wide_console()
    for table in summary_tables(groups, metrics=metric):
        con.print(table)
    if plot is not None:
        _echo_err(f"wrote {plot}")
