"""Commands on instance files and decisions: instances, show, validate, schema, generate,
evaluate."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from edgebound.cli._app import (
    EXIT_INFEASIBLE,
    EXIT_INVALID,
    InstanceArg,
    JsonOption,
    OutOption,
    _command,
    _console,
    _echo_err,
    _emit_json,
    _g,
    _one_line,
    _write,
)
from edgebound.errors import DecisionError, Problem

if TYPE_CHECKING:
    from edgebound.evaluate import Evaluation
    from edgebound.instances import Instance

# --------------------------------------------------------------------------- instances


@_command("instances")
def _instances(json_out: JsonOption = False) -> None:
    """List the bundled instances (load them by name anywhere a file is accepted)."""
    from edgebound.errors import InstanceError
    from edgebound.instances import bundled, load

    rows: list[dict[str, Any]] = []
    for name in bundled():
        try:
            inst = load(name)
        except InstanceError as exc:
            rows.append({"name": name, "ok": False, "description": str(exc).splitlines()[0]})
            continue
        rows.append(
            {
                "name": name,
                "ok": True,
                "nodes": len(inst.topology.nodes),
                "services": len(inst.services),
                "demands": len(inst.workload.demands),
                "description": _one_line(inst.description),
            }
        )
    if json_out:
        _emit_json({"instances": rows})
        return
    table = Table(title="Bundled instances")
    table.add_column("name", no_wrap=True)
    for col in ("nodes", "services", "demands"):
        table.add_column(col, justify="right")
    table.add_column("description")
    for r in rows:
        if r["ok"]:
            table.add_row(
                r["name"], str(r["nodes"]), str(r["services"]), str(r["demands"]), r["description"]
            )
        else:
            table.add_row(r["name"], "", "", "", f"[red]invalid:[/] {r['description']}")
    _console().print(table)


# --------------------------------------------------------------------------- show


def _summary(inst: Instance) -> dict[str, Any]:
    """The data ``show`` prints, in JSON-ready form."""
    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    caps = ("cpu", "ram_gb", "disk_gb", "gpus")
    for node in inst.topology.nodes:
        g = groups.setdefault(
            (node.tier, node.cluster or node.region),
            {"tier": node.tier, "group": node.cluster or node.region, "nodes": 0}
            | dict.fromkeys(caps, 0.0),
        )
        g["nodes"] += 1
        for c in caps:
            g[c] += getattr(node, c)
    totals = {c: sum(getattr(n, c) for n in inst.topology.nodes) for c in caps}
    services = []
    for svc in inst.services:
        run = inst.running_version(svc.name)
        labels = [v.label for v in sorted(svc.versions, key=lambda v: v.key)]
        services.append(
            {"name": svc.name, "versions": labels, "running": run.label}
            | {k: getattr(run, k) for k in ("cpu", "ram_gb", "gpus", "service_rate_rps")}
            | {k: getattr(svc, k) for k in ("spawn_time_ms", "latency_slo_ms", "allowed_regions")}
        )
    demands = [d.model_dump(mode="json") for d in inst.workload.demands]
    return {
        "name": inst.name,
        "description": inst.description,
        "topology": {
            "master": inst.topology.master,
            "nodes": len(inst.topology.nodes),
            "sites": len(inst.topology.sites),
            "links": len(inst.topology.links),
            "groups": list(groups.values()),
            "totals": totals,
        },
        "services": services,
        "workload": {
            "demands": demands,
            "total_rate_rps": sum(d.rate_rps for d in inst.workload.demands),
            "step_s": inst.workload.step_s,
            "horizon_steps": inst.workload.horizon_steps,
        },
        "policy": inst.policy.model_dump(mode="json"),
        "state": inst.state.model_dump(mode="json"),
    }


def _versions_text(labels: list[str]) -> str:
    if len(labels) == 1:
        return labels[0]
    return f"{labels[0]}…{labels[-1]} ({len(labels)})"


def _print_summary(s: dict[str, Any], max_rows: int = 30) -> None:
    con = _console()
    con.print(f"[bold]{s['name']}[/]")
    if s["description"]:
        con.print(s["description"], style="dim")
    topo = s["topology"]
    con.print(
        f"\n{topo['nodes']} nodes, {topo['sites']} sites, {topo['links']} links"
        + (f"; master {topo['master']}" if topo["master"] else "")
    )
    nodes = Table(title="Nodes")
    nodes.add_column("tier")
    nodes.add_column("cluster / region")
    for col in ("nodes", "vCPU", "RAM GB", "disk GB", "GPUs"):
        nodes.add_column(col, justify="right")
    keys = ("nodes", "cpu", "ram_gb", "disk_gb", "gpus")
    for g in s["topology"]["groups"]:
        nodes.add_row(g["tier"], g["group"] or "-", *(_g(g[k]) for k in keys))
    t = {"nodes": topo["nodes"], **topo["totals"]}
    nodes.add_row("[bold]total[/]", "", *(f"[bold]{_g(t[k])}[/]" for k in keys))
    con.print(nodes)

    services = Table(title="Services (resources of the running version)")
    services.add_column("service")
    services.add_column("versions", no_wrap=True)
    services.add_column("running")
    # A GPU column of zeros would only crowd out the others on an 80-column terminal.
    svc_keys = ["cpu", "ram_gb", "gpus", "service_rate_rps", "spawn_time_ms"]
    if not any(v["gpus"] for v in s["services"]):
        svc_keys.remove("gpus")
    heads = {"cpu": "vCPU", "ram_gb": "RAM GB", "gpus": "GPUs", "service_rate_rps": "req/s"}
    for k in svc_keys:
        services.add_column(heads.get(k, "spawn ms"), justify="right")
    services.add_column("SLO ms", justify="right")
    for v in s["services"]:
        slo = v["latency_slo_ms"]
        services.add_row(
            v["name"],
            _versions_text(v["versions"]),
            v["running"],
            *(_g(v[k]) for k in svc_keys),
            "-" if slo is None else _g(slo),
        )
    con.print(services)

    w = s["workload"]
    demands = Table(title=f"Demands (total {_g(w['total_rate_rps'])} req/s)")
    demands.add_column("service")
    demands.add_column("site")
    demands.add_column("req/s", justify="right")
    demands.add_column("profile")
    for d in w["demands"][:max_rows]:
        prof = d["profile"]
        shape = "constant" if prof is None else prof.get("trace") or prof["kind"]
        demands.add_row(d["service"], d["site"] or "(master)", _g(d["rate_rps"]), shape)
    con.print(demands)
    if len(w["demands"]) > max_rows:
        con.print(f"… and {len(w['demands']) - max_rows} more demands (all of them with --json)")

    p = s["policy"]
    weights = ", ".join(f"{k} {_g(v)}" for k, v in p["weights"].items()) or "none"
    policy = Table(title="Policy", show_header=False)
    policy.add_column("setting")
    policy.add_column("value")
    policy.add_row("weights", weights)
    for key in ("max_utilization", "slo_quantile", "spawn_exposure", "allow_rollback"):
        policy.add_row(key, str(p[key]))
    for key in ("migration_budget", "delay_ref_ms"):
        policy.add_row(key, "none" if p[key] is None else _g(p[key]))
    policy.add_row("state.time_s", _g(s["state"]["time_s"]))
    con.print(policy)


@_command("show")
def _show(
    instance: InstanceArg,
    json_out: JsonOption = False,
) -> None:
    """Summarize an instance: nodes by tier and cluster, services, demands, policy."""
    from edgebound.instances import load

    summary = _summary(load(instance))
    if json_out:
        _emit_json(summary)
    else:
        _print_summary(summary)


# --------------------------------------------------------------------------- validate


def _validate_one(source: str) -> dict[str, Any]:
    from edgebound.errors import InstanceError
    from edgebound.instances import check, load

    try:
        inst = load(source)
    except InstanceError as exc:
        # Structural errors stop validation before the cross-field warnings are computed.
        return {"file": source, "ok": False, "errors": exc.problems, "warnings": []}
    report = check(inst)
    return {"file": source, "ok": report.ok, "errors": report.errors, "warnings": report.warnings}


@_command("validate")
def _validate(
    files: Annotated[list[str], typer.Argument(help="Instance files (or bundled names) to check.")],
    strict: Annotated[
        bool, typer.Option("--strict", help="Count warnings as failures too.")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Check instance files and print every problem with its field path.

    Exits 0 when every file is valid, 1 when any is not (with --strict, also on warnings).
    """
    results = [_validate_one(f) for f in files]
    for r in results:
        r["ok"] = r["ok"] and not (strict and r["warnings"])
    all_ok = all(r["ok"] for r in results)
    if json_out:
        _emit_json({"ok": all_ok, "strict": strict, "files": results})
    else:
        for r in results:
            n_err, n_warn = len(r["errors"]), len(r["warnings"])
            if r["ok"]:
                status = "valid" + (f", {n_warn} warning(s)" if n_warn else "")
                typer.echo(f"ok   {r['file']}: {status}")
            else:
                typer.echo(f"FAIL {r['file']}: {n_err} error(s), {n_warn} warning(s)")
            for p in r["errors"]:
                typer.echo(f"  error   {p}")
            for p in r["warnings"]:
                typer.echo(f"  warning {p}")
    if not all_ok:
        raise typer.Exit(EXIT_INVALID)


# --------------------------------------------------------------------------- schema


@_command("schema")
def _schema(output: OutOption = None, json_out: JsonOption = False) -> None:
    """Print the JSON Schema of instance files, or write it with -o."""
    from edgebound.instances import Instance

    text = json.dumps(Instance.model_json_schema(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    _write(output, text)
    if json_out:
        _emit_json({"ok": True, "file": str(output)})
    else:
        _echo_err(f"wrote {output}")


# --------------------------------------------------------------------------- generate


class _Size(enum.StrEnum):
    small = "small"
    medium = "medium"
    large = "large"


@_command("generate")
def _generate(
    kind: Annotated[str, typer.Argument(help="Generator: mmv-random or continuum-random.")],
    size: Annotated[_Size, typer.Option("--size", help="Instance size.")] = _Size.small,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same file.")] = 0,
    output: OutOption = None,
    json_out: JsonOption = False,
) -> None:
    """Write a generated instance: YAML, or JSON when the file name ends in .json.

    Without -o the instance is printed (YAML, or JSON with --json).
    """
    from edgebound.instances import dumps
    from edgebound.instances.generators import generate

    inst = generate(kind, size=size.value, seed=seed)
    if output is None:
        typer.echo(dumps(inst, "json" if json_out else "yaml"), nl=False)
        return
    fmt = "json" if output.suffix.lower() == ".json" else "yaml"
    _write(output, dumps(inst, fmt))
    if json_out:
        _emit_json({"ok": True, "file": str(output), "name": inst.name, "format": fmt})
    else:
        _echo_err(f"wrote {output} ({inst.name})")


# --------------------------------------------------------------------------- evaluate


def _read_decision(source: str) -> Any:
    if source == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        path = Path(source)
        if not path.is_file():
            raise DecisionError([Problem("file", source, "does not exist")])
        try:
            text, name = path.read_text(encoding="utf-8"), source
        except (OSError, UnicodeDecodeError) as exc:
            raise DecisionError([Problem("file", source, f"cannot be read ({exc})")]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{name}:{exc.lineno}:{exc.colno}"
        problem = Problem(where, Problem.MISSING, f"is not valid JSON ({exc.msg})")
        raise DecisionError([problem]) from None


def _print_evaluation(ev: Evaluation, instance_name: str) -> None:
    con = _console()
    objectives = Table(title=f"{ev.family} decision on {instance_name}")
    objectives.add_column("objective")
    objectives.add_column("value", justify="right")
    objectives.add_column("unit")
    objectives.add_column("sense")
    for name, value in ev.objectives.items():
        objectives.add_row(name, f"{value:.6g}", ev.units.get(name, ""), ev.senses.get(name, ""))
    con.print(objectives)
    if ev.feasible:
        con.print("[green]feasible[/]: no constraint is violated")
        return
    violations = Table(title=f"{len(ev.violations)} violated constraint(s)")
    for col in ("constraint", "where", "amount", "message"):
        violations.add_column(col, justify="right" if col == "amount" else "left")
    for v in ev.violations:
        violations.add_row(v.constraint, v.where, f"{v.amount:.6g} {v.unit}", v.message)
    con.print(violations)
    con.print("[red]infeasible[/]")


@_command("evaluate")
def _evaluate(
    instance: InstanceArg,
    decision: Annotated[str, typer.Argument(help="Decision JSON file; - reads stdin.")],
    json_out: JsonOption = False,
) -> None:
    """Evaluate a decision on an instance: objectives and every violated constraint.

    Exits 0 when the decision is feasible, 3 when it violates constraints, 1 when the
    instance or the decision is invalid.
    """
    from edgebound.evaluate import evaluate
    from edgebound.instances import load

    inst = load(instance)
    ev = evaluate(inst, _read_decision(decision))
    if json_out:
        _emit_json({"instance": inst.name, "decision": decision} | ev.to_dict())
    else:
        _print_evaluation(ev, inst.name)
    if not ev.feasible:
        raise typer.Exit(EXIT_INFEASIBLE)
