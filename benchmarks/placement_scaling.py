"""Size, LP gap and time to a 1 % gap of the placement MILP as continuum instances grow.

For ``continuum-3edge-2cloud`` and ``continuum-random`` small / medium / large (300 edge
nodes) it prints the one-period model's size, build time, LP relaxation bound, the MILP's
objective and bound after solving to a 1 % relative gap (or the time limit), the time to
that gap (or the gap at the time limit), the LP-relaxation gap and the method. The weights
are the instance's without latency. "LP w/o floors" is the same relaxation without the
model's replica-floor rounding rows (the reference for what they add).

Methods: ``milp+start`` is :func:`edgebound.solvers.solve` with the model's greedy MIP start
(the default); when it does not reach the gap within the time limit, ``fix-and-optimize``
(:func:`edgebound.models.placement_decompose.solve`: cluster and GPU-service sub-problems in
one thread, the model without its far-route rows, a relaxation, for the bound in a second)
is run as well, and with ``--service-cuts`` once more with the Lagrangian cuts of
:mod:`edgebound.models.placement_cuts` added to the relaxation. Every bound printed is a
bound of the whole model; every objective is the evaluator's value of the returned decision.

Then the reference in the same run: the same model written once to an MPS file and solved
by highspy directly with the same options. The ratio "Pyomo / direct" is the Pyomo path's
wall time (hand-over, solve, read-back) over highspy's own read + run.

Run ``python benchmarks/placement_scaling.py`` (a few minutes; ``--sizes large`` adds the
300-node instance, bounded by ``--time-limit``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import highspy
from _common import console, print_facts
from rich.table import Table

from edgebound.instances import Instance, load
from edgebound.instances.generators import generate
from edgebound.models import placement, placement_decompose
from edgebound.solvers import SolveResult, lp_relaxation, solve

SIZES = ("bundled", "small", "medium", "large")


def _instance(size: str, seed: int) -> Instance:
    if size == "bundled":
        return load("continuum-3edge-2cloud")
    return generate("continuum-random", size, seed=seed)


def _direct(built: placement.BuiltModel, gap: float, time_limit: float) -> tuple[float, float]:
    """Seconds of highspy reading and solving the model's MPS file, and its objective."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "model.mps")
        built.pyomo.write(path, io_options={"symbolic_solver_labels": False})
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", gap)
        h.setOptionValue("time_limit", time_limit)
        h.setOptionValue("threads", 1)
        t0 = time.perf_counter()
        h.readModel(path)
        h.run()
        return time.perf_counter() - t0, float(h.getInfo().objective_function_value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=SIZES, default=list(SIZES[:3]))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument(
        "--service-cuts",
        action="store_true",
        help="also run fix-and-optimize with service cuts (placement_cuts) for its bound",
    )
    args = parser.parse_args()
    print_facts()
    title = f"placement MILP to a {args.gap:.0%} gap (time limit {args.time_limit:g} s)"
    table = Table(title=title)
    for col in (
        "instance",
        "nodes",
        "variables",
        "binaries",
        "build s",
        "method",
        "LP w/o floors",
        "LP bound",
        "objective",
        "bound",
        "gap",
        "LP gap",
        "to gap s",
        "status",
        "Pyomo s",
        "direct s",
        "Pyomo / direct",
    ):
        table.add_column(col, justify="right")

    def f(x: float | None, fmt: str = ".6g") -> str:
        return "-" if x is None else format(x, fmt)

    for size in args.sizes:
        inst = _instance(size, args.seed)
        w = {k: v for k, v in inst.policy.weights.items() if "latency" not in k}
        built = placement.build(inst, weights=w)
        floors = getattr(built.pyomo, "replica_floor", None)
        lp_plain = None
        if floors is not None:  # the reference: the same relaxation without the rounding rows
            floors.deactivate()
            lp_plain = lp_relaxation(built, time_limit=args.time_limit).bound
            floors.activate()
        lp = lp_relaxation(built, time_limit=args.time_limit)
        runs: list[tuple[str, SolveResult, float]] = []
        t0 = time.perf_counter()
        res = solve(built, time_limit=args.time_limit, mip_gap=args.gap, threads=1)
        runs.append(("milp+start", res, time.perf_counter() - t0))
        if not res.optimal:
            t0 = time.perf_counter()
            res_fo = placement_decompose.solve(
                built, time_limit=args.time_limit, mip_gap=args.gap, threads=1, lp_bound=lp.bound
            )
            runs.append(("fix-and-optimize", res_fo, time.perf_counter() - t0))
            if args.service_cuts:
                t0 = time.perf_counter()
                res_sc = placement_decompose.solve(
                    placement.build(inst, weights=w),
                    time_limit=args.time_limit,
                    mip_gap=args.gap,
                    threads=1,
                    lp_bound=lp.bound,
                    service_cuts=True,
                )
                runs.append(("f-and-o + service cuts", res_sc, time.perf_counter() - t0))
                st = res_sc.stats
                console.print(
                    f"{size}: service cuts {st.get('service_cuts')}, their bound "
                    f"{f(st.get('service_bound'))} after {f(st.get('service_cuts_s'), '.1f')} s "
                    f"(converged: {st.get('service_cuts_converged')})"
                )
        direct_s, _ = _direct(built, args.gap, args.time_limit)
        for k, (method, r, pyomo_s) in enumerate(runs):
            lp_gap = (
                abs(r.objective - lp.bound) / max(abs(r.objective), 1e-10)
                if r.objective is not None and lp.bound is not None
                else None
            )
            table.add_row(
                size if k == 0 else "",
                str(len(inst.topology.nodes)),
                str(built.stats["variables"]),
                str(built.stats["integer_variables"]),
                f(built.build_s, ".2f"),
                method,
                f(lp_plain) if k == 0 else "",
                f(lp.bound),
                f(r.objective),
                f(r.bound),
                f(r.gap, ".2%"),
                f(lp_gap, ".2%"),
                f(r.solve_s, ".1f") if r.optimal else "-",
                r.termination.value,
                f(pyomo_s, ".2f"),
                f(direct_s, ".2f") if k == 0 else "",
                f(pyomo_s / direct_s if direct_s > 0 else None, ".2f") if k == 0 else "",
            )
    console.print(table)


if __name__ == "__main__":
    main()
