"""NSGA-II against the exact Pareto front of the static MMV model (delay vs accuracy).

For each instance (``gentzen-star4`` and ``mmv-random`` medium by default, seed 0) it computes
the exact front (:func:`edgebound.pareto.mmv.mmv_front`, AUGMECON2 with adaptive steps of
``--delta`` times the accuracy range) and NSGA-II fronts (:func:`edgebound.pareto.nsga.mmv_nsga`)
for each ``--nsga-seeds``, and prints:

- the number of points of each front and its run time (``time.perf_counter`` around the call,
  instance tables and pymoo's import included for NSGA-II, model build for the exact front);
- the hypervolume of each front with a *common* reference point: the worst delay and worst
  accuracy over both fronts, a tenth of the exact front's range further, so that no point of
  either front is cut off;
- ``HV nsga / HV exact``; ``HV / best known``, the NSGA-II front's hypervolume as a share of
  that of the nondominated points of both fronts together (below 1 when the exact front has
  points NSGA-II misses, whatever NSGA-II finds beyond the exact front's resolution);
- IGD+ of the NSGA-II front against the exact one and the additive
  epsilon of the NSGA-II front with respect to the exact one, both with each objective
  divided by the exact front's range (the epsilon is the smallest shift, in range units, by
  which every exact point becomes weakly dominated by some NSGA-II point: 0 when NSGA-II
  found the whole front), and the ratio of run times.

Resolution of the exact front: with ``--delta 1e-3`` (default) two nondominated points whose
accuracies differ by less than 1e-3 of the accuracy range can be missed, which keeps the
number of MILP solves small on instances with many subversions whose scores differ by 5e-4;
``--delta 1e-6`` gives the complete front at a higher cost. A ratio above 1 can therefore
mean NSGA-II found points the exact front stepped over.

Run ``python benchmarks/pareto_nsga_vs_exact.py`` (a few minutes on a 2-core machine;
``--sizes gentzen-star4`` alone takes under a minute).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import STAR4, console, instances, num, print_facts, ratio, secs
from rich.table import Table

from edgebound.pareto import ParetoFront, nondominated
from edgebound.pareto.mmv import mmv_front
from edgebound.pareto.nsga import mmv_nsga

OBJECTIVES = ("delay", "accuracy")


def common_ref(exact: ParetoFront, others: list[ParetoFront]) -> list[float]:
    """Worst value of each objective over all fronts, a tenth of the exact range further."""
    F = np.vstack([exact.F, *(f.F for f in others)])
    span = np.maximum(exact.F.max(axis=0) - exact.F.min(axis=0), 1e-9)
    return [
        float(F[:, j].max() + 0.1 * span[j])
        if sense == "min"
        else float(F[:, j].min() - 0.1 * span[j])
        for j, sense in enumerate(exact.senses)
    ]


def normalized(exact: ParetoFront, front: ParetoFront) -> tuple[float, float]:
    """IGD+ and additive epsilon of ``front`` against ``exact``, in units of exact ranges."""
    lo = exact.minimization().min(axis=0)
    span = np.maximum(exact.minimization().max(axis=0) - lo, 1e-12)
    e = (exact.minimization() - lo) / span
    a = (front.minimization() - lo) / span
    diff = a[None, :, :] - e[:, None, :]  # (exact point, front point, objective)
    eps = float(np.max(np.min(np.max(diff, axis=2), axis=1)))
    igd_plus = float(np.mean(np.min(np.linalg.norm(np.maximum(diff, 0.0), axis=2), axis=1)))
    return igd_plus, eps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=[STAR4, "medium"], metavar="SIZE")
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0],
        metavar="SEED",
        help="seeds of the mmv-random instances (default: 0)",
    )
    parser.add_argument("--nsga-seeds", nargs="+", type=int, default=[0], metavar="SEED")
    parser.add_argument("--delta", type=float, default=1e-3)
    parser.add_argument("--pop-size", type=int, default=100)
    parser.add_argument("--generations", type=int, default=200)
    args = parser.parse_args()
    print_facts(
        {
            "delta": f"{args.delta:g}",
            "NSGA-II": f"pop {args.pop_size}, {args.generations} generations",
        }
    )

    table = Table(title="NSGA-II vs the exact front (delay vs accuracy)")
    for col in (
        "instance",
        "method",
        "seed",
        "points",
        "hypervolume",
        "HV / exact",
        "HV / best known",
        "IGD+",
        "epsilon",
        "time (s)",
        "time / exact",
    ):
        table.add_column(col, justify="left" if col in ("instance", "method") else "right")
    for label, inst in instances(args.sizes, args.seeds):
        t0 = time.perf_counter()
        exact = mmv_front(inst, OBJECTIVES, delta=args.delta)
        exact_s = time.perf_counter() - t0
        runs = []
        for seed in args.nsga_seeds:
            t0 = time.perf_counter()
            front = mmv_nsga(
                inst, OBJECTIVES, pop_size=args.pop_size, generations=args.generations, seed=seed
            )
            runs.append((seed, front, time.perf_counter() - t0))
        ref = common_ref(exact, [f for _, f, _ in runs])
        hv_exact = exact.hypervolume(ref)
        table.add_row(
            label,
            "exact",
            "-",
            str(len(exact)),
            num(hv_exact),
            "1",
            "-",
            "0",
            "0",
            secs(exact_s),
            "1.00x",
        )
        for seed, front, seconds in runs:
            hv = front.hypervolume(ref)
            igd_plus, eps = normalized(exact, front)
            both = np.vstack([exact.F, front.F])
            best = ParetoFront(
                [None] * len(both),
                both[nondominated(both, exact.senses)],
                exact.names,
                exact.senses,
                exact.units,
                "best known",
                False,
            )
            table.add_row(
                label,
                "nsga2",
                str(seed),
                str(len(front)),
                num(hv),
                num(hv / hv_exact, ".5f"),
                num(hv / best.hypervolume(ref), ".5f"),
                num(igd_plus, ".3g"),
                num(eps, ".3g"),
                secs(seconds),
                ratio(seconds, exact_s),
            )
        console.print(
            f"{label}: reference point (delay, accuracy) = " + ", ".join(f"{x:.6g}" for x in ref)
        )
    console.print(table)


if __name__ == "__main__":
    main()
