"""Exact epsilon-constraint vs NSGA-II fronts of the continuum placement model.

Run: ``python benchmarks/pareto_placement.py [objectives ...]`` (default: latency,energy and
cost,energy on ``continuum-random`` small, seed 0). Prints, per pair, the exact front's size,
solves and time, and NSGA-II's hypervolume as a share of the exact front's (reference point:
the worst values over both fronts, a tenth of the range further) with its time.
"""

from __future__ import annotations

import sys

import numpy as np

from edgebound.instances.generators import generate
from edgebound.pareto.placement import placement_front
from edgebound.pareto.placement_nsga import placement_nsga


def main(pairs: list[tuple[str, ...]]) -> None:
    inst = generate("continuum-random", "small", seed=0)
    for names in pairs:
        exact = placement_front(inst, names)
        approx = placement_nsga(inst, names, pop_size=40, generations=50, seed=0)
        both = np.vstack([exact.F, approx.F])
        lo, hi = both.min(axis=0), both.max(axis=0)
        ref = hi + 0.1 * np.maximum(hi - lo, 1e-9)
        ratio = approx.hypervolume(ref) / exact.hypervolume(ref)
        print(
            f"{','.join(names)}: exact {len(exact)} points, {exact.stats['solves']} solves, "
            f"{exact.stats['seconds']:.1f} s, exact={exact.exact}, mode {exact.stats['mode']}; "
            f"nsga2 {len(approx)} points, {approx.stats['seconds']:.1f} s, "
            f"hypervolume ratio {ratio:.4f}"
        )


if __name__ == "__main__":
    args = [tuple(a.split(",")) for a in sys.argv[1:]] or [
        ("latency", "energy"),
        ("cost", "energy"),
    ]
    main(args)
