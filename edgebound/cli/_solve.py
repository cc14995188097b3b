"""Commands that solve and bound models: solve, bound."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from edgebound.cli._app import (
    EXIT_INFEASIBLE,
    EXIT_NOT_OPTIMAL,
    InstanceArg,
    JsonOption,
    OutOption,
    _command,
    _console,
    _echo_err,
    _emit_json,
    _jsonable,
    _write,
)
from edgebound.errors import EdgeboundError, InfeasibleError

if TYPE_CHECKING:
    from edgebound.instances import Instance
    from edgebound.solvers import BuiltModel, SolveResult


class _Model(enum.StrEnum):
    mmv = "mmv"
    mmv_schedule = "mmv-schedule"
    placement = "placement"
    placement_schedule = "placement-schedule"


class _Method(enum.StrEnum):
    milp = "milp"
    decomposition = "decomposition"
    price_and_branch = "price-and-branch"


class _Objective(enum.StrEnum):
    weighted = "weighted"
    lexicographic = "lexicographic"
    delay = "delay"
    accuracy = "accuracy"
    security = "security"
    reliability = "reliability"
    latency = "latency"
    energy = "energy"
    cost = "cost"
    power = "power"
    dropped = "dropped"
    migrations = "migrations"
    throughput = "throughput"


_NO_STEPS = "--steps: only the mmv-schedule and placement-schedule models have periods"


class _ArgumentError(EdgeboundError):
    """An option value the command cannot use."""


def _pairs(text: str | None, option: str) -> dict[str, float]:
    """Parse ``name=value,name=value``."""
    out: dict[str, float] = {}
    if not text:
        return out
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise _ArgumentError(
                f"{option}: {part!r} must look like name=number, e.g. accuracy=0.7"
            ) from None
    return out


ModelOption = Annotated[_Model, typer.Option("--model", "-m", help="Which model to build.")]
StepsOption = Annotated[
    int | None,
    typer.Option("--steps", min=1, help="Periods of the multi-period model (default: workload)."),
]
TimeOption = Annotated[
    float | None, typer.Option("--time-limit", min=0.001, help="Seconds; the solve stops there.")
]
GapOption = Annotated[
    float, typer.Option("--gap", min=0.0, max=0.999, help="Relative MIP gap counted as optimal.")
]


def _without_latency(built: Any, method: str) -> Any:
    """The built placement model, refused when it has mean latency (latency cuts), which
    fix-and-optimize and price-and-branch do not take."""
    if built.refine is not None:
        raise _ArgumentError(
            f"--method {method}: takes no mean latency; give --weights without latency (e.g. "
            "energy=20,cost=1,dropped=1000,migrations=0.5) or another --objective"
        )
    return built


def _build(
    inst: Instance,
    model: _Model,
    objective: str,
    weights: dict[str, float] | None,
    constraints: dict[str, float],
    steps: int | None,
) -> BuiltModel:
    from edgebound.models import mmv, mmv_schedule, placement, placement_schedule

    if model is _Model.placement_schedule:
        if constraints:
            raise _ArgumentError("--constraint: the placement-schedule model takes none")
        return placement_schedule.build(inst, objective=objective, periods=steps, weights=weights)
    if model is _Model.placement:
        if steps is not None:
            raise _ArgumentError(_NO_STEPS)
        return placement.build(inst, objective, weights=weights, constraints=constraints)
    if objective not in mmv.OBJECTIVES:
        raise _ArgumentError(
            f"--objective {objective}: not an MMV objective ({', '.join(mmv.OBJECTIVES)})"
        )
    if model is _Model.mmv:
        if steps is not None:
            raise _ArgumentError(_NO_STEPS)
        return mmv.build(inst, objective, weights=weights, constraints=constraints)
    return mmv_schedule.build(
        inst, objective, steps=steps, weights=weights, constraints=constraints
    )


def _print_placement(res: SolveResult, inst: Instance) -> None:
    table = Table(title=f"placement on {inst.name}: replicas on the nodes that host any")
    reps = res.decision.get("replicas", {})
    used = [n for n in inst.node_names if any(reps.get(s, {}).get(n) for s in reps)]
    table.add_column("service")
    for n in used:
        table.add_column(n, justify="right")
    for s in inst.service_names:
        table.add_row(s, *[str(reps.get(s, {}).get(n, "")) for n in used])
    _console().print(table)


def _print_result(res: SolveResult, inst: Instance) -> None:
    con = _console()
    if res.model == "placement":
        _print_placement(res, inst)
    if res.model == "placement_schedule":
        con.print(f"{len(_periods(res))} periods; per-period decisions are in --json output")
    periods = [] if res.model.startswith("placement") else _periods(res)
    for t, dec in enumerate(periods):
        title = f"{res.model} on {inst.name}" + (f", period {t}" if len(periods) > 1 else "")
        table = Table(title=title)
        table.add_column("model")
        table.add_column("version")
        for n in inst.node_names:
            table.add_column(n, justify="right")
        table.add_column("total", justify="right")
        for k in inst.service_names:
            reps = dec.get("replicas", {}).get(k, {})
            version = dec.get("versions", {}).get(k, "")
            if version != inst.running_version(k).label and t == 0:
                version = f"{version} (updated)"
            row = [str(reps.get(n, "")) for n in inst.node_names]
            table.add_row(k, version, *row, str(sum(reps.values())))
        con.print(table)
    if res.evaluation is not None:
        ev = res.evaluation
        obj = Table(title="objectives (independent evaluator)")
        for col in ("objective", "value", "unit", "sense"):
            obj.add_column(col, justify="right" if col == "value" else "left")
        for name, value in ev.objectives.items():
            obj.add_row(name, f"{value:.6g}", ev.units.get(name, ""), ev.senses.get(name, ""))
        con.print(obj)
    colour = "green" if res.optimal else "yellow"
    con.print(f"[{colour}]{res.summary()}[/]")
    con.print(
        f"build {res.build_s:.3f} s, solve {res.solve_s:.3f} s, "
        f"{res.stats.get('variables', '?')} variables "
        f"({res.stats.get('integer_variables', '?')} integer), "
        f"{res.stats.get('constraints', '?')} constraints; "
        f"{res.solver} {res.solver_version}"
    )
    for note in res.notes:
        con.print(f"note: {escape(note)}")


def _periods(res: SolveResult) -> list[dict[str, Any]]:
    return res.decision.get("periods") or ([res.decision] if res.decision else [])


def _explain(built: BuiltModel, res: SolveResult) -> dict[str, Any]:
    """What binds: capacities used to the full, and the LP dual price of each capacity row."""
    from edgebound.solvers import lp_relaxation

    lp = lp_relaxation(built)
    if built.name == "placement":
        from edgebound.models.placement import prices as placement_prices

        prices = {f"{n} {r}": v for (n, r), v in placement_prices(built).items() if v}
    else:
        prices = {
            name: value
            for name, value in lp.duals.items()
            if "capacity[" in name and abs(value) > 1e-9
        }
    tight = []
    if res.evaluation is not None:
        details = res.evaluation.details
        per_period = details.get("periods") or [details]
        for t, d in enumerate(per_period):
            where = f"period {t}: " if "periods" in details else ""
            for node, info in (d.get("nodes") or {}).items():
                for r, used in info.get("used", {}).items():
                    cap = info.get("capacity", {}).get(r, 0)
                    if cap > 0 and used >= cap - 1e-9:
                        tight.append(f"{where}node {node} {r}: {used:g} of {cap:g} used")
    return {"tight": tight, "lp_bound": lp.bound, "prices": prices}


@_command("solve")
def _solve(
    instance: InstanceArg,
    model: ModelOption = _Model.mmv,
    objective: Annotated[
        _Objective, typer.Option("--objective", help="What to optimize.")
    ] = _Objective.weighted,
    weights: Annotated[
        str | None,
        typer.Option(help="Weights of the weighted sum, e.g. delay=1,accuracy=10."),
    ] = None,
    constraint: Annotated[
        str | None,
        typer.Option(
            "--constraint",
            "-c",
            help="epsilon-constraints, e.g. accuracy=0.7 (O2 >= 0.7), delay=25 (O1 <= 25 ms).",
        ),
    ] = None,
    order: Annotated[
        str,
        typer.Option(help="Lexicographic order, most important first."),
    ] = "delay,accuracy,security,reliability",
    steps: StepsOption = None,
    method: Annotated[
        _Method,
        typer.Option(
            "--method",
            help="milp: the Pyomo model; decomposition: column generation (large mmv) or "
            "fix-and-optimize with a certified bound (large placement); price-and-branch "
            "(placement): column generation over the services, then the best combination "
            "of their columns; 60 s unless --time-limit.",
        ),
    ] = _Method.milp,
    time_limit: TimeOption = None,
    gap: GapOption = 1e-6,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="HiGHS threads (default: HiGHS's).")
    ] = None,
    require_optimal: Annotated[
        bool, typer.Option("--require-optimal", help="Exit 4 unless optimality is proven.")
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show what binds and the capacities' dual prices.")
    ] = False,
    service_cuts: Annotated[
        bool,
        typer.Option(
            "--service-cuts",
            help="--model placement --method decomposition: Lagrangian cuts from column "
            "generation over the services for the bound (pays from minutes on).",
        ),
    ] = False,
    output: OutOption = None,
    json_out: JsonOption = False,
) -> None:
    """Solve a model of an instance to optimality (or to the time limit) with HiGHS.

    Prints the chosen version and replicas of every model on every node, the objectives as
    the independent evaluator computes them, the status, bound, gap and timings. An
    infeasible model exits 3 with the constraints that conflict, in the instance's terms.
    """
    from edgebound.instances import load
    from edgebound.solvers import Termination, diagnose, solve

    inst = load(instance)
    w = _pairs(weights, "--weights") or None
    cons = _pairs(constraint, "--constraint")
    built = None
    if service_cuts and (method is not _Method.decomposition or model is not _Model.placement):
        raise _ArgumentError(
            "--service-cuts: only with --model placement --method decomposition, not "
            f"--model {model.value} --method {method.value}"
        )
    try:
        if method is _Method.decomposition and model is _Model.placement:
            from edgebound.models import placement_decompose

            built = _without_latency(
                _build(inst, model, objective.value, w, cons, steps), "decomposition"
            )
            res = placement_decompose.solve(
                built,
                time_limit=time_limit or 60.0,
                mip_gap=gap,
                threads=threads,
                service_cuts=service_cuts,
            )
        elif method is _Method.price_and_branch:
            from edgebound.models import placement_decompose

            if model is not _Model.placement:
                raise _ArgumentError(
                    f"--method price-and-branch: only for --model placement, not {model.value}"
                )
            built = _without_latency(
                _build(inst, model, objective.value, w, cons, steps), "price-and-branch"
            )
            res = placement_decompose.price_and_branch(
                built, time_limit=time_limit or 60.0, mip_gap=gap, threads=threads or 2
            )
        elif method is _Method.decomposition:
            from edgebound.models.mmv_decomposition import solve_decomposed

            if model is not _Model.mmv or cons or explain:
                raise _ArgumentError(
                    "--method decomposition: only for --model mmv (without --constraint or "
                    f"--explain) and --model placement, not {model.value}"
                    if model is not _Model.mmv
                    else "--method decomposition: with --model mmv, no --constraint or --explain"
                )
            res = solve_decomposed(
                inst, objective.value, weights=w, time_limit=time_limit or 60.0, mip_gap=gap
            )
        elif objective is _Objective.lexicographic:
            from edgebound.models import mmv

            if model is not _Model.mmv or cons or w:
                raise _ArgumentError(
                    "--objective lexicographic: only for --model mmv, without --weights "
                    "or --constraint"
                )
            names = tuple(part.strip() for part in order.split(",") if part.strip())
            res = mmv.lexicographic(inst, names, time_limit=time_limit, mip_gap=gap)
        else:
            built = _build(inst, model, objective.value, w, cons, steps)
            res = solve(built, time_limit=time_limit, mip_gap=gap, threads=threads)
    except InfeasibleError as exc:
        _report_infeasible(str(exc), None, json_out, output)
        return
    if built is not None and res.termination is Termination.INFEASIBLE:
        conflict = diagnose(built)
        _report_infeasible("the model is infeasible", conflict, json_out, output, res)
        return
    doc = {"instance": inst.name} | res.to_dict()
    if explain and built is not None:
        doc["explain"] = _explain(built, res)
    if output is not None:
        _write(Path(output), json.dumps(_jsonable(doc), indent=2) + "\n")
    if json_out:
        _emit_json(doc)
    else:
        _print_result(res, inst)
        if explain:
            ex = doc["explain"]
            con = _console()
            con.print("binding capacities: " + escape("; ".join(ex["tight"]) or "none"))
            for name, price in sorted(ex["prices"].items()):
                con.print(f"  LP dual price of {escape(name)}: {price:.6g}")
        if output is not None:
            _echo_err(f"wrote {output}")
    if not res.has_solution and res.termination is not Termination.OPTIMAL:
        _echo_err(f"error: no decision found: {res.summary()}")
        raise typer.Exit(EXIT_NOT_OPTIMAL)
    if require_optimal and not res.optimal:
        _echo_err(f"error: not proven optimal: {res.summary()}")
        raise typer.Exit(EXIT_NOT_OPTIMAL)


def _report_infeasible(
    head: str,
    conflict: Any,
    json_out: bool,
    output: Path | None,
    res: SolveResult | None = None,
) -> None:
    doc: dict[str, Any] = {
        "status": "infeasible",
        "message": head,
        "conflict": list(conflict.explanation) if conflict is not None else [],
        "conflict_rows": list(conflict.rows) if conflict is not None else [],
    }
    if res is not None:
        doc["timings"] = {"build_s": res.build_s, "solve_s": res.solve_s, "wall_s": res.wall_s}
    if output is not None:
        _write(Path(output), json.dumps(_jsonable(doc), indent=2) + "\n")
    if json_out:
        _emit_json(doc)
    else:
        _echo_err(f"infeasible: {head}")
        if conflict is not None:
            _echo_err(str(conflict))
    raise typer.Exit(EXIT_INFEASIBLE)


@_command("bound")
def _bound(
    instance: InstanceArg,
    model: ModelOption = _Model.mmv,
    objective: Annotated[
        _Objective, typer.Option("--objective", help="What to bound.")
    ] = _Objective.weighted,
    steps: StepsOption = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0.001, help="Seconds for each solve.")
    ] = 60.0,
    gap: GapOption = 1e-4,
    service_cuts: Annotated[
        bool,
        typer.Option(
            "--service-cuts",
            help="--model placement: Lagrangian cuts from column generation over the services "
            "(up to half the time limit first).",
        ),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Certified bounds: the LP relaxation and the MILP's proven bound.

    The bound stays valid when the time limit is hit; no policy on the same instance and
    loads can do better. ``--model mmv-schedule`` and ``--model placement-schedule`` give the
    clairvoyant multi-period bounds (``--steps`` periods of the workload's series).
    """
    from edgebound import bounds
    from edgebound.instances import load

    inst = load(instance)
    if model in (_Model.mmv, _Model.placement) and steps is not None:
        raise _ArgumentError(_NO_STEPS)
    if service_cuts and model is not _Model.placement:
        raise _ArgumentError(f"--service-cuts: only with --model placement, not {model.value}")
    if model is _Model.placement:
        b = bounds.placement(
            inst,
            objective=objective.value,
            time_limit=time_limit,
            mip_gap=gap,
            service_cuts=service_cuts,
        )
    elif model is _Model.placement_schedule:
        b = bounds.placement(
            inst,
            periods=steps or inst.workload.horizon_steps,
            objective=objective.value,
            time_limit=time_limit,
            period_time_limit=min(time_limit, 2.0),
            mip_gap=gap,
        )
    else:
        b = bounds.mmv(
            inst,
            objective=objective.value,
            steps=steps,
            schedule=model is _Model.mmv_schedule,
            time_limit=time_limit,
            mip_gap=gap,
        )
    doc = {"instance": inst.name} | b.to_dict()
    if json_out:
        _emit_json(doc)
    else:
        con = _console()
        table = Table(title=f"{b.model} bounds on {inst.name} ({b.objective}, {b.sense})")
        table.add_column("quantity")
        table.add_column("value", justify="right")
        for label, value in (
            ("LP relaxation bound", b.lp),
            ("MILP proven bound", b.value),
            ("best decision found", b.incumbent),
            ("relative gap", b.gap),
        ):
            table.add_row(label, "-" if value is None else f"{value:.9g}")
        con.print(table)
        con.print(f"status {b.status}, {b.wall_s:.2f} s")
    if b.status == "infeasible":
        raise typer.Exit(EXIT_INFEASIBLE)
