"""Price-and-branch against fix-and-optimize on the placement MILP, measured in the same run.

For ``continuum-random`` instances (weights: energy 20, cost 1, dropped 1000, migrations
0.5, so all demand is served) it runs, with the same time limit on two cores, the
reference: fix-and-optimize with the relaxation's bound in the second thread
(:func:`edgebound.models.placement_decompose.solve`), and the measurement: column
generation over every service, then the restricted master as a MILP
(:func:`edgebound.models.placement_decompose.price_and_branch`). It prints each one's
objective (the evaluator's value of its decision), bound (a bound of the whole model) and
certified gap, and the objective ratio of the measurement to the reference. With
``--polish SECONDS`` a third row: fix-and-optimize with service cuts
(``service_cuts=True``) for that long from price-and-branch's decision (the model built
with ``start=decision``).

Run ``python benchmarks/placement_price_and_branch.py --sizes medium large --time-limit 500
--polish 600`` (large: about 30 minutes).
"""

from __future__ import annotations

import argparse
import time

from _common import console, print_facts
from rich.table import Table

from edgebound.instances.generators import generate
from edgebound.models import placement, placement_decompose

WEIGHTS = {"energy": 20.0, "cost": 1.0, "dropped": 1000.0, "migrations": 0.5}


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", nargs="+", choices=("small", "medium", "large"), default=["medium"]
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument(
        "--pricing-share", type=float, default=0.8, help="share of the time for pricing"
    )
    parser.add_argument(
        "--polish",
        type=float,
        default=None,
        help="seconds of fix-and-optimize with service cuts from price-and-branch's decision",
    )
    args = parser.parse_args()
    print_facts()
    table = Table(title="placement: price-and-branch against fix-and-optimize (same time limit)")
    for col in (
        "instance",
        "method",
        "objective",
        "bound",
        "gap",
        "wall s",
        "details",
        "objective ratio",
    ):
        table.add_column(col, justify="right")
    for size in args.sizes:
        inst = generate("continuum-random", size, seed=args.seed)
        t0 = time.perf_counter()
        ref = placement_decompose.solve(
            placement.build(inst, weights=WEIGHTS), time_limit=args.time_limit, threads=1
        )
        ref_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = placement_decompose.price_and_branch(
            placement.build(inst, weights=WEIGHTS),
            time_limit=args.time_limit,
            pricing_share=args.pricing_share,
            verbose=False,
        )
        res_s = time.perf_counter() - t0
        name = f"{size} (seed {args.seed})"
        table.add_row(
            name,
            "fix-and-optimize",
            _fmt(ref.objective),
            _fmt(ref.bound),
            _fmt(ref.gap, ".2%"),
            f"{ref_s:.1f}",
            f"{ref.stats['groups_improved']} improvements",
            "1 (reference)",
        )
        st = res.stats
        table.add_row(
            name,
            "price-and-branch",
            _fmt(res.objective),
            _fmt(res.bound),
            _fmt(res.gap, ".2%"),
            f"{res_s:.1f}",
            f"{st['iterations']} iterations, {st['columns']} columns, "
            f"{'converged' if st['converged'] else 'not converged'}, "
            f"master {st['master_s']:.1f} s",
            "-"
            if res.objective is None or not ref.objective
            else f"{res.objective / ref.objective:.4f}",
        )
        if args.polish is not None:
            t0 = time.perf_counter()
            pol = placement_decompose.solve(
                placement.build(inst, weights=WEIGHTS, start=res.decision),
                time_limit=args.polish,
                threads=1,
                service_cuts=True,
            )
            pol_s = time.perf_counter() - t0
            table.add_row(
                name,
                "price-and-branch, then fix-and-optimize with service cuts",
                _fmt(pol.objective),
                _fmt(pol.bound),
                _fmt(pol.gap, ".2%"),
                f"{res_s + pol_s:.1f}",
                f"from {_fmt(res.objective)}, {pol.stats['groups_improved']} improvements, "
                f"service bound {_fmt(pol.stats.get('service_bound'))}",
                "-"
                if pol.objective is None or not ref.objective
                else f"{pol.objective / ref.objective:.4f}",
            )
    console.print(table)


if __name__ == "__main__":
    main()
