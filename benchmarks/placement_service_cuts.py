"""Bounds of the placement MILP with and without service cuts, measured in the same run.

For ``continuum-random`` instances (weights: energy 20, cost 1, dropped 1000, migrations
0.5, so all demand is served) it prints the LP bound, then the column generation of
:func:`edgebound.models.placement_cuts.service_cuts` (services priced, iterations, seconds,
whether it converged, its Lagrangian bound), then the reference and the measurement: HiGHS
on the model without its far-route rows (the relaxation of
:mod:`edgebound.models.placement_decompose`) for ``--relax-seconds``, once as it is and once
with the service cuts added. Both bounds are bounds of the whole model; "gain" is the
difference. With ``--incumbent`` (a known objective of the instance) it prints the gap that
each bound certifies.

Run ``python benchmarks/placement_service_cuts.py --sizes medium large`` (large: about five
minutes).
"""

from __future__ import annotations

import argparse
import time

import highspy
from _common import console, print_facts
from pyomo.contrib.solver.solvers.highs import Highs
from rich.table import Table

from edgebound.instances.generators import generate
from edgebound.models import placement
from edgebound.models.placement_cuts import add_rows, service_cuts
from edgebound.models.placement_decompose import _FarRoutes
from edgebound.solvers import lp_relaxation

WEIGHTS = {"energy": 20.0, "cost": 1.0, "dropped": 1000.0, "migrations": 0.5}


def _relaxation_bound(built: placement.BuiltModel, seconds: float, cuts: list) -> float | None:
    """HiGHS's bound on the model without its far-route rows after ``seconds``, one thread."""
    opt = Highs()
    opt.config.solver_options = {}
    opt.set_instance(built.pyomo)
    h: highspy.Highs = opt._solver_model
    h.setOptionValue("output_flag", False)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_rel_gap", 1e-4)
    add_rows(h, cuts)
    far = _FarRoutes(built, h, opt._pyomo_var_to_solver_var_map, opt._pyomo_con_to_solver_con_map)
    bound, _, _ = far.relaxed_run(None, seconds)
    return bound


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", nargs="+", choices=("small", "medium", "large"), default=["medium"]
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cut-seconds", type=float, default=300.0, help="time limit of the column generation"
    )
    parser.add_argument("--relax-seconds", type=float, default=60.0)
    parser.add_argument(
        "--incumbent",
        type=float,
        default=None,
        help="a known objective, for the gap each bound certifies",
    )
    args = parser.parse_args()
    print_facts()
    table = Table(title="placement bounds with service cuts (every bound is the whole model's)")
    for col in (
        "instance",
        "LP bound",
        "priced",
        "iterations",
        "cuts s",
        "converged",
        "Lagrangian bound",
        "relaxation",
        "relaxation + cuts",
        "gain",
        "gaps",
    ):
        table.add_column(col, justify="right")
    for size in args.sizes:
        inst = generate("continuum-random", size, seed=args.seed)
        built = placement.build(inst, weights=WEIGHTS)
        lp = lp_relaxation(built).bound
        t0 = time.perf_counter()
        cuts = service_cuts(
            built,
            time_limit=args.cut_seconds,
            progress=lambda it, master, bound, size=size: console.print(
                f"  {size}: iteration {it}, master {master:.4f}, bound {bound}"
            ),
        )
        cut_s = time.perf_counter() - t0
        plain = _relaxation_bound(placement.build(inst, weights=WEIGHTS), args.relax_seconds, [])
        with_cuts = _relaxation_bound(built, args.relax_seconds, cuts.rows)
        gaps = "-"
        if args.incumbent is not None:
            gaps = " / ".join(
                "-" if b is None else f"{(args.incumbent - b) / args.incumbent:.2%}"
                for b in (plain, with_cuts)
            )
        table.add_row(
            f"{size} (seed {args.seed})",
            f"{lp:.4f}",
            str(len(cuts.services)),
            str(cuts.iterations),
            f"{cut_s:.1f}",
            str(cuts.converged),
            "-" if cuts.bound is None else f"{cuts.bound:.4f}",
            "-" if plain is None else f"{plain:.4f}",
            "-" if with_cuts is None else f"{with_cuts:.4f}",
            "-" if plain is None or with_cuts is None else f"{with_cuts - plain:+.4f}",
            gaps,
        )
    console.print(table)


if __name__ == "__main__":
    main()
