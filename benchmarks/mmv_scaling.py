"""Size and solve time of the MMV MILPs as instances grow, per formulation.

For each instance (``gentzen-star4`` and ``mmv-random`` small / medium / large) and each
formulation of :func:`edgebound.models.mmv.build` ("auto", which uses the count one-hot
when transmission delays differ, and "compact") it prints the model size, build time, LP
relaxation bound and time, the MILP's objective, bound, gap, solve time and status, and the
LP-relaxation gap ``|MILP objective - LP bound| / |MILP objective|``. Solve times are also
given as a ratio to the "auto" formulation of the same instance in the same run.

Then the multi-period model (:func:`edgebound.models.mmv_schedule.build`) on
``gentzen-star4`` for a few horizons, with ratios to the shortest horizon.

Run ``python benchmarks/mmv_scaling.py`` (about a minute); ``--sizes large`` adds the
50-model instance (several minutes, bounded by ``--time-limit`` per solve).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from _common import (
    STAR4,
    add_common_args,
    console,
    instances,
    num,
    pct,
    print_facts,
    ratio,
    rel_gap,
    reset_highs_threads,
    secs,
)
from rich.table import Table

from edgebound.errors import EdgeboundError
from edgebound.instances import Instance, load
from edgebound.models import mmv, mmv_schedule
from edgebound.solvers import lp_relaxation, solve
from edgebound.solvers.base import BuiltModel

FORMULATIONS = ("auto", "compact")


@dataclass
class Row:
    label: str
    formulation: str
    stats: dict[str, Any]
    build_s: float
    lp_bound: float | None
    lp_s: float
    objective: float | None
    bound: float | None
    gap: float | None
    solve_s: float
    status: str

    @property
    def lp_gap(self) -> float | None:
        return rel_gap(self.objective, self.lp_bound)


def measure(label: str, formulation: str, built: BuiltModel, args: argparse.Namespace) -> Row:
    # the LP relaxation runs with HiGHS's default threads (edgebound's lp_relaxation sets none)
    reset_highs_threads()
    lp = lp_relaxation(built, time_limit=args.time_limit)
    reset_highs_threads()
    res = solve(built, time_limit=args.time_limit, threads=args.threads)
    return Row(
        label=label,
        formulation=formulation,
        stats=built.stats,
        build_s=built.build_s,
        lp_bound=lp.bound,
        lp_s=lp.solve_s,
        objective=res.objective,
        bound=res.bound,
        gap=res.gap,
        solve_s=res.solve_s,
        status=res.termination.value,
    )


def static_rows(args: argparse.Namespace) -> list[Row]:
    rows = []
    for label, inst in instances(args.sizes, args.seeds):
        for formulation in FORMULATIONS:
            console.print(f"[dim]{label} / {formulation} ...[/dim]")
            try:
                t0 = time.perf_counter()
                built = mmv.build(inst, formulation=formulation)
                build_wall = time.perf_counter() - t0
            except EdgeboundError as exc:
                console.print(f"[red]{label} / {formulation}: {exc}[/red]")
                continue
            row = measure(label, formulation, built, args)
            row.build_s = build_wall
            rows.append(row)
    return rows


def schedule_rows(inst: Instance, steps: list[int], args: argparse.Namespace) -> list[Row]:
    rows = []
    for t in steps:
        console.print(f"[dim]{inst.name} / T={t} ...[/dim]")
        t0 = time.perf_counter()
        built = mmv_schedule.build(inst, steps=t)
        build_wall = time.perf_counter() - t0
        row = measure(f"{inst.name} T={t}", str(built.stats.get("formulation", "-")), built, args)
        row.build_s = build_wall
        rows.append(row)
    return rows


def table(title: str, rows: list[Row], reference: dict[str, Row], ref_name: str) -> Table:
    tab = Table(title=title, title_justify="left")
    for col in (
        "instance",
        "formulation",
        "vars",
        "int vars",
        "rows",
        "build s",
        "LP bound",
        "LP s",
        "MILP obj",
        "MILP bound",
        "gap",
        "LP gap",
        "solve s",
        f"solve / {ref_name}",
        "status",
    ):
        tab.add_column(
            col, justify="left" if col in ("instance", "formulation", "status") else "right"
        )
    for r in rows:
        ref = reference.get(r.label)
        tab.add_row(
            r.label,
            str(r.stats.get("formulation", r.formulation)),
            str(r.stats["variables"]),
            str(r.stats["integer_variables"]),
            str(r.stats["constraints"]),
            secs(r.build_s),
            num(r.lp_bound),
            secs(r.lp_s),
            num(r.objective),
            num(r.bound),
            pct(r.gap),
            pct(r.lp_gap),
            secs(r.solve_s),
            ratio(r.solve_s, ref.solve_s if ref is not None else None),
            r.status,
        )
    return tab


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser, time_limit=60.0)
    parser.add_argument(
        "--steps",
        nargs="*",
        type=int,
        default=[2, 4],
        metavar="T",
        help="horizons of the multi-period model on gentzen-star4 (default: 2 4; none to skip)",
    )
    args = parser.parse_args(argv)
    print_facts({"HiGHS threads (MILP)": str(args.threads), "time limit s": f"{args.time_limit:g}"})

    t0 = time.perf_counter()
    rows = static_rows(args)
    auto = {r.label: r for r in rows if r.formulation == "auto"}
    console.print(
        table(
            "Static MMV (weighted objective): size, LP relaxation and MILP per formulation",
            rows,
            auto,
            "auto",
        )
    )
    if args.steps:
        srows = schedule_rows(load(STAR4), args.steps, args)
        first = srows[0]
        console.print(
            table(
                f"Multi-period MMV on {STAR4} (weighted objective, default formulation)",
                srows,
                {r.label: first for r in srows},
                f"T={args.steps[0]}",
            )
        )
    console.print(f"total wall time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
