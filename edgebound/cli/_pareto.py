"""Commands on Pareto fronts: pareto (compute a front), pareto-score (place outcomes on it)."""

from __future__ import annotations

import enum
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from edgebound.cli._app import (
    EXIT_INFEASIBLE,
    EXIT_INTERRUPTED,
    InstanceArg,
    JsonOption,
    OutOption,
    _command,
    _console,
    _echo_err,
    _emit_json,
    _InputError,
    _jsonable,
    _progress,
    _write,
)
from edgebound.errors import EdgeboundError, InfeasibleError

if TYPE_CHECKING:
    from edgebound.pareto import ParetoFront


class _Model(enum.StrEnum):
    mmv = "mmv"
    placement = "placement"


class _Method(enum.StrEnum):
    exact = "exact"
    nsga2 = "nsga2"
    nsga3 = "nsga3"


class _ArgumentError(EdgeboundError):
    """An option value the command cannot use."""


PlotOption = Annotated[
    Path | None,
    typer.Option("--plot", help="Draw the front (2 or 3 objectives) to this PNG/SVG/PDF file."),
]


def _names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if len(names) < 2:
        raise _ArgumentError(
            f"--objectives: {text!r} must name two to four objectives, e.g. delay,accuracy"
        )
    return names


def _front_table(front: ParetoFront, title: str) -> Table:
    table = Table(title=title)
    table.add_column("#", justify="right")
    for name, unit, sense in zip(front.names, front.units, front.senses, strict=True):
        table.add_column(f"{name} ({unit}, {sense})", justify="right")
    for i, row in enumerate(front.F.tolist()):
        table.add_row(str(i), *(f"{x:.6g}" for x in row))
    return table


def _plot(front: ParetoFront, path: Path, agents: dict[str, Any] | None = None) -> None:
    import matplotlib.pyplot as plt

    try:
        fig = front.plot(path, agents=agents)
    except OSError as exc:
        raise _InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    plt.close(fig)


@_command("pareto")
def _pareto(
    instance: InstanceArg,
    model: Annotated[_Model, typer.Option("--model", "-m", help="Which model.")] = _Model.mmv,
    objectives: Annotated[
        str | None,
        typer.Option(
            "--objectives",
            help="mmv: two to four of delay, accuracy, security, reliability (default "
            "delay,accuracy); placement: two (exact) or up to four (nsga) of latency, energy, "
            "power, cost, dropped, migrations, throughput (default latency,energy). The first "
            "is the primary objective of the exact method.",
        ),
    ] = None,
    method: Annotated[
        _Method,
        typer.Option(
            "--method",
            help="exact: epsilon-constraint on the MILP (AUGMECON2 for mmv); nsga2/nsga3: pymoo.",
        ),
    ] = _Method.exact,
    delta: Annotated[
        float,
        typer.Option(
            "--delta",
            min=1e-12,
            help="exact: step of the last objective, times its range when that exceeds 1; "
            "points closer than the step in it can be missed.",
        ),
    ] = 1e-6,
    grid_points: Annotated[
        int,
        typer.Option(
            "--grid-points",
            min=2,
            help="exact: grid of each outer objective (mmv, 3+ objectives); placement: epsilon "
            "values when neither objective is cost or migrations.",
        ),
    ] = 10,
    time_limit: Annotated[
        float | None,
        typer.Option("--time-limit", min=0.001, help="exact: seconds per solve."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="nsga: seed; same seed, same front.")] = 0,
    generations: Annotated[
        int | None,
        typer.Option("--generations", min=0, help="nsga: generations (mmv 200, placement 50)."),
    ] = None,
    pop_size: Annotated[
        int | None,
        typer.Option("--pop-size", min=2, help="nsga: population (mmv 100, placement 40)."),
    ] = None,
    polish: Annotated[
        int,
        typer.Option(
            "--polish",
            min=0,
            help="nsga, placement: after the generations, up to this many more explorations "
            "by the local search alone, in passes over the archive until one adds no point.",
        ),
    ] = 0,
    extremes: Annotated[
        bool,
        typer.Option(
            "--extremes",
            help="nsga, placement: seed the population with the exact extreme points "
            "(one lexicographic MILP solve per objective, HiGHS).",
        ),
    ] = False,
    extremes_time_limit: Annotated[
        float,
        typer.Option(
            "--extremes-time-limit", min=0.001, help="nsga, placement: seconds per such solve."
        ),
    ] = 60.0,
    anchors: Annotated[
        int,
        typer.Option(
            "--anchors",
            min=0,
            help="nsga, placement, with --extremes: this many more MILP seeds between the "
            "extremes (the second objective minimized, the first bounded at evenly spaced "
            "values).",
        ),
    ] = 0,
    extremes_nodes: Annotated[
        int | None,
        typer.Option(
            "--extremes-nodes",
            min=1,
            help="nsga, placement: branch-and-bound nodes per such solve at most (a work "
            "limit: unlike the time limit, the same seed then gives the same front).",
        ),
    ] = None,
    plot: PlotOption = None,
    output: OutOption = None,
    json_out: JsonOption = False,
) -> None:
    """Compute the Pareto front of a model over some of its objectives.

    ``--method exact`` gives every nondominated point (two objectives; a grid's resolution
    with more); ``nsga2``/``nsga3`` an approximation in a fixed budget. Every point is
    re-scored by the independent evaluator. ``-o`` writes the front as JSON, which
    ``edgebound pareto-score`` reads. An instance where some service cannot be served at
    all exits 3.
    """
    from edgebound.instances import load

    placement = model is _Model.placement
    if objectives is None:
        objectives = "latency,energy" if placement else "delay,accuracy"
    names = _names(objectives)
    if polish and not (placement and method is not _Method.exact):
        raise _InputError(
            f"--polish: {polish} applies to --model placement with --method nsga2 or nsga3 only"
        )
    if extremes and not (placement and method is not _Method.exact):
        raise _InputError(
            "--extremes applies to --model placement with --method nsga2 or nsga3 only"
        )
    if extremes_nodes is not None and not extremes:
        raise _InputError(f"--extremes-nodes: {extremes_nodes} needs --extremes")
    if anchors and not extremes:
        raise _InputError(f"--anchors: {anchors} needs --extremes (they lie between the extremes)")
    inst = load(instance)
    front: ParetoFront
    algorithm: Any = method.value
    bar = _progress(json_out or (method is _Method.exact and not placement))
    first = "exact: payoff table" if method is _Method.exact else f"{method.value} generations"
    if extremes:
        first = f"exact extreme points{' and anchors' if anchors else ''}, then {first}"
    if polish:
        first += ", then polish"
    task = bar.add_task(first, total=None)

    def tick(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    def found(points: int, solves: int) -> None:
        bar.update(task, description=f"exact: {points} points, {solves} solves")

    try:
        with bar:
            if method is _Method.exact and placement:
                from edgebound.pareto.placement import placement_front

                front = placement_front(
                    inst,
                    names,
                    grid_points=grid_points,
                    delta=delta,
                    time_limit=time_limit,
                    progress=found,
                )
            elif method is _Method.exact:
                from edgebound.pareto.mmv import mmv_front

                front = mmv_front(
                    inst, names, delta=delta, grid_points=grid_points, time_limit=time_limit
                )
            else:
                from edgebound.pareto.nsga import mmv_nsga
                from edgebound.pareto.placement_nsga import placement_nsga

                # each model's own defaults (mmv 100 x 200, placement 40 x 50) unless given
                sizes = {
                    k: v
                    for k, v in (("pop_size", pop_size), ("generations", generations))
                    if v is not None
                }
                if placement:
                    front = placement_nsga(
                        inst,
                        names,
                        seed=seed,
                        algorithm=algorithm,
                        polish=polish,
                        extremes=extremes,
                        extremes_time_limit=extremes_time_limit,
                        anchors=anchors,
                        extremes_nodes=extremes_nodes,
                        progress=tick,
                        **sizes,
                    )
                else:
                    front = mmv_nsga(
                        inst, names, seed=seed, algorithm=algorithm, progress=tick, **sizes
                    )
    except InfeasibleError as exc:
        if json_out:
            _emit_json({"instance": inst.name, "status": "infeasible", "message": str(exc)})
        _echo_err(f"infeasible: {exc}")
        raise typer.Exit(EXIT_INFEASIBLE) from None
    except KeyboardInterrupt:
        if method is _Method.exact:
            _echo_err("interrupted: the exact front was not finished; nothing written")
        else:
            _echo_err("interrupted before a feasible decision was found; nothing written")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    doc = {"instance": inst.name, "model": model.value} | front.to_dict()
    if output is not None:
        _write(Path(output), json.dumps(_jsonable(doc), indent=2) + "\n")
    if plot is not None:
        _plot(front, plot)
    if json_out:
        _emit_json(doc)
        _interrupted(front)
        return
    con = _console()
    kind = "exact" if front.exact else "approximate"
    con.print(_front_table(front, f"{kind} {method.value} front of {model.value} on {inst.name}"))
    stats = front.stats
    extra = (
        f"{stats.get('solves', '?')} solves"
        if method is _Method.exact
        else f"{stats.get('evaluations', '?')} evaluations, seed {seed}"
    )
    con.print(f"{len(front)} points, {extra}, {stats.get('seconds', math.nan):.2f} s")
    for path in (output, plot):
        if path is not None:
            _echo_err(f"wrote {path}")
    _interrupted(front)


def _interrupted(front: ParetoFront) -> None:
    """Exit 130 after the output when the run was interrupted (its front is what was found)."""
    stats = front.stats
    if stats.get("interrupted"):
        done = (
            f"{stats['generations_done']} of {stats['generations']} generations"
            if "generations_done" in stats
            else f"{len(front)} points ({stats.get('solves', '?')} solves)"
        )
        if stats.get("polished"):
            done += f" and {stats['polished']} of {stats['polish']} polish explorations"
        _echo_err(f"interrupted after {done}: the front is what was found by then")
        raise typer.Exit(EXIT_INTERRUPTED)


def _read_json(path: Path, what: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise _InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _InputError(f"{what} {path} is not JSON: {exc}") from None


def _outcomes(doc: Any, front: ParetoFront) -> dict[str, list[float]]:
    """Agent name -> objective vector, from a list in the front's order or a name mapping."""
    if not isinstance(doc, dict) or not doc:
        raise _ArgumentError(
            "outcomes: must be a JSON object mapping each agent to its objective vector"
        )
    out: dict[str, list[float]] = {}
    for agent, value in doc.items():
        if isinstance(value, dict):
            missing = [n for n in front.names if n not in value]
            if missing:
                raise _ArgumentError(f"outcomes.{agent}: missing {', '.join(missing)}")
            value = [value[n] for n in front.names]
        if (
            not isinstance(value, list)
            or len(value) != len(front.names)
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)
        ):
            raise _ArgumentError(
                f"outcomes.{agent}: {value!r} must be {len(front.names)} numbers "
                f"({', '.join(front.names)}) or a mapping from those names to numbers"
            )
        out[str(agent)] = [float(x) for x in value]
    return out


def default_ref(front: ParetoFront) -> list[float]:
    """The front's worst value of every objective, 10 % of its range further.

    With a range of 0 the padding is 10 % of the value's size (at least 0.1).

    Examples
    --------
    >>> import numpy as np
    >>> from edgebound.pareto import ParetoFront
    >>> f = ParetoFront([None, None], np.array([[1.0, 0.5], [3.0, 0.7]]), ("d", "a"),
    ...                 ("min", "max"), ("ms", "1"), "exact", True)
    >>> [round(x, 6) for x in default_ref(f)]
    [3.2, 0.48]
    """
    ref = []
    for j, sense in enumerate(front.senses):
        col = front.F[:, j]
        lo, hi = float(col.min()), float(col.max())
        pad = 0.1 * (hi - lo) if hi > lo else max(0.1 * abs(hi), 0.1)
        ref.append(hi + pad if sense == "min" else lo - pad)
    return ref


@_command("pareto-score")
def _pareto_score(
    front_file: Annotated[Path, typer.Argument(help="A front written by `pareto -o`.")],
    outcomes_file: Annotated[
        Path,
        typer.Argument(
            help="JSON object: agent name -> objective vector (the front's order) or "
            "{objective: value}."
        ),
    ],
    ref: Annotated[
        str | None,
        typer.Option(
            "--ref",
            help="Hypervolume reference point, e.g. 30,0.5 (default: the front's worst "
            "values, a tenth of the range further).",
        ),
    ] = None,
    plot: PlotOption = None,
    json_out: JsonOption = False,
) -> None:
    """Score agents' objective vectors against a front.

    Per agent: whether a front point dominates it, the additive epsilon (how much it must
    improve in every objective at once to reach the front; 0 on it, negative beyond it),
    the share of the front's hypervolume it dominates alone, and whether it beats a front
    point (which refutes an exact front, or shows the outcome comes from another model).
    """
    from edgebound.pareto import ParetoFront, score

    front = ParetoFront.from_json(json.dumps(_read_json(front_file, "front")))
    if len(front) == 0:
        raise _ArgumentError(f"front {front_file}: has no points")
    agents = _outcomes(_read_json(outcomes_file, "outcomes"), front)
    if ref is None:
        point = default_ref(front)
    else:
        try:
            point = [float(x) for x in ref.split(",")]
        except ValueError:
            raise _ArgumentError(f"--ref: {ref!r} must be numbers separated by commas") from None
        if len(point) != len(front.names):
            raise _ArgumentError(
                f"--ref: {ref!r} must have {len(front.names)} values ({', '.join(front.names)})"
            )
    scores = {name: score(front, vec, point) for name, vec in agents.items()}
    if plot is not None:
        _plot(front, plot, agents)
    doc = {
        "front": str(front_file),
        "names": list(front.names),
        "senses": list(front.senses),
        "ref": point,
        "front_hypervolume": front.hypervolume(point),
        "scores": {name: {"outcome": agents[name]} | s.to_dict() for name, s in scores.items()},
    }
    if json_out:
        _emit_json(doc)
        return
    table = Table(title=f"outcomes against the {front.method} front ({len(front)} points)")
    for col in ("agent", "dominated", "epsilon", "hv share", "beats front"):
        table.add_column(col, justify="left" if col == "agent" else "right")
    for name, s in scores.items():
        table.add_row(
            name,
            "yes" if s.dominated else "no",
            f"{s.epsilon:.6g}",
            f"{s.hv_share:.2%}" if math.isfinite(s.hv_share) else "-",
            "yes" if s.beats_front else "no",
        )
    con = _console()
    con.print(table)
    con.print("reference point " + ", ".join(f"{x:.6g}" for x in point))
    if plot is not None:
        _echo_err(f"wrote {plot}")
