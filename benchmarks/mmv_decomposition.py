"""Column generation against the Pyomo models of the static MMV problem.

For each instance: the compact Pyomo MILP (the only Pyomo formulation that returns a decision
at the large size within a minute) and Dantzig-Wolfe column generation with a restricted
master MILP (``edgebound.models.mmv_decomposition``), both with the same time limit and
gap target. Prints objective, bound, final gap and wall time of each, and the ratio of wall
times. Run: ``python benchmarks/mmv_decomposition.py --sizes medium large``.
"""

from __future__ import annotations

import argparse
import time

from _common import add_common_args, instances, num, pct, print_facts, reset_highs_threads
from rich.console import Console
from rich.table import Table

from edgebound.models import mmv
from edgebound.models.mmv_decomposition import solve_decomposed
from edgebound.solvers import solve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, time_limit=60.0)
    parser.add_argument("--gap", type=float, default=0.01, help="relative gap target")
    args = parser.parse_args()
    print_facts()
    table = Table(title=f"static MMV, weighted objective, gap target {args.gap:g}")
    for col in ("instance", "method", "objective", "bound", "gap", "wall s", "status"):
        table.add_column(col)
    table.add_column("wall / decomposition", justify="right")
    for label, inst in instances(args.sizes, args.seeds):
        reset_highs_threads()
        t0 = time.perf_counter()
        dec = solve_decomposed(inst, time_limit=args.time_limit, mip_gap=args.gap)
        t_dec = time.perf_counter() - t0
        reset_highs_threads()
        t0 = time.perf_counter()
        milp = solve(
            mmv.build(inst, formulation="compact"),
            time_limit=args.time_limit,
            mip_gap=args.gap,
            threads=args.threads,
        )
        t_milp = time.perf_counter() - t0
        for method, res, wall in (
            ("column generation", dec, t_dec),
            ("Pyomo MILP (compact)", milp, t_milp),
        ):
            table.add_row(
                label,
                method,
                num(res.objective),
                num(res.bound),
                pct(res.gap),
                f"{wall:.2f}",
                res.termination.value,
                f"{wall / t_dec:.2f}x",
            )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
