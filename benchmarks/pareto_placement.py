"""Exact epsilon-constraint vs NSGA-II fronts of the continuum placement model.

Run: ``python benchmarks/pareto_placement.py [objectives ...] [--size small medium]``
(default: latency,energy and cost,energy on ``continuum-random`` small, seed 0). Prints, per
size and pair, the exact front's size, solves and time, and NSGA-II's size and time (wall
clock, and CPU time of the process; the machine may be shared) with NSGA-II's hypervolume as
a share of the exact front's. The reference point is common to both and depends on the exact
front alone: its worst value of each objective, a tenth of its range further (NSGA-II's
points beyond it add nothing). ``--cache DIR`` keeps the exact fronts as JSON and reads them back
on later runs (the times printed are then those measured when the front was computed).
The exact front of medium takes hours; ``--time-limit`` bounds each solve, and a pair whose
exact front cannot be computed within it is reported with NSGA-II's front alone.
``--polish N`` lets NSGA-II's local search go on for up to ``N`` explorations after the
generations (``placement_nsga(..., polish=N)``); ``--save DIR`` writes each NSGA-II front
as JSON (``pareto_bracket.py`` scores such files against the complete front).
``--stop-after S`` ends each NSGA-II run after ``S`` seconds of wall-clock time, as an
interrupt does (the front found by then is kept; generations or polish cut short are in its
stats). ``--extremes`` seeds NSGA-II with the exact extreme points (``placement_nsga(...,
extremes=True)``, two lexicographic MILP solves; their time is in NSGA-II's);
``--anchors K`` adds K MILP seeds between them (``anchors=K``), ``--extremes-nodes N``
limits each of those solves to N branch-and-bound nodes (``extremes_nodes=N``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgebound.errors import EdgeboundError
from edgebound.instances.generators import generate
from edgebound.pareto import ParetoFront
from edgebound.pareto.placement import placement_front
from edgebound.pareto.placement_nsga import placement_nsga


def exact_front(
    size: str,
    names: tuple[str, ...],
    cache: Path | None,
    time_limit: float | None,
    delta: float | None = None,
) -> ParetoFront:
    """The exact front of ``continuum-random`` ``size`` seed 0, from the cache when there."""
    tag = "" if delta is None else f"_delta{delta:g}"
    path = None if cache is None else cache / f"exact_{size}_{'_'.join(names)}{tag}.json"
    if path is not None and path.exists():
        return ParetoFront.from_json(path)
    inst = generate("continuum-random", size, seed=0)
    cpu = time.process_time()
    kwargs = {} if delta is None else {"delta": delta}
    front = placement_front(inst, names, time_limit=time_limit, **kwargs)
    front.stats["cpu_seconds"] = time.process_time() - cpu
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        front.to_json(path)
    return front


def stopper(seconds: float | None) -> Callable[[int, int], None] | None:
    """A progress callback that interrupts the run once ``seconds`` have passed."""
    if seconds is None:
        return None
    end = time.perf_counter() + seconds

    def check(done: int, total: int) -> None:
        if time.perf_counter() > end:
            raise KeyboardInterrupt

    return check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="*", default=["latency,energy", "cost,energy"])
    parser.add_argument("--size", nargs="+", default=["small"], choices=["small", "medium"])
    parser.add_argument("--seed", type=int, default=0, help="NSGA-II seed")
    parser.add_argument("--pop-size", type=int, default=40)
    parser.add_argument("--generations", type=int, default=50)
    parser.add_argument(
        "--polish", type=int, default=0, help="NSGA-II: explorations after the generations"
    )
    parser.add_argument(
        "--extremes", action="store_true", help="NSGA-II: seeded with the exact extreme points"
    )
    parser.add_argument(
        "--anchors",
        type=int,
        default=0,
        help="NSGA-II with --extremes: this many MILP seeds between the extremes",
    )
    parser.add_argument(
        "--extremes-nodes",
        type=int,
        default=None,
        help="NSGA-II with --extremes: HiGHS nodes per MILP seed's solve (repeatable runs)",
    )
    parser.add_argument(
        "--stop-after", type=float, default=None, help="NSGA-II: wall-clock seconds at most"
    )
    parser.add_argument("--save", type=Path, default=None, help="directory of NSGA-II fronts")
    parser.add_argument("--cache", type=Path, default=None, help="directory of exact fronts")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per solve")
    parser.add_argument(
        "--delta",
        type=float,
        default=None,
        help="step of the cost or migrations bound, relative to its range (default 1e-6: "
        "every distinct value); a larger step finds the front at that resolution",
    )
    args = parser.parse_args()
    if args.polish < 0:
        parser.error(f"--polish: {args.polish} must be >= 0")
    if args.anchors < 0 or (args.anchors and not args.extremes):
        parser.error(f"--anchors: {args.anchors} must be >= 0 and needs --extremes")
    if args.extremes_nodes is not None and (args.extremes_nodes < 1 or not args.extremes):
        parser.error(f"--extremes-nodes: {args.extremes_nodes} must be >= 1 and needs --extremes")
    if args.stop_after is not None and not args.stop_after > 0:
        parser.error(f"--stop-after: {args.stop_after} must be > 0 (seconds)")
    for size in args.size:
        inst = generate("continuum-random", size, seed=0)
        for pair in args.pairs:
            names = tuple(pair.split(","))
            try:
                exact = exact_front(size, names, args.cache, args.time_limit, args.delta)
            except EdgeboundError as exc:  # e.g. a solve that hit --time-limit without a point
                exact = None
                why = str(exc).splitlines()[0]
            cpu = time.process_time()
            approx = placement_nsga(
                inst,
                names,
                pop_size=args.pop_size,
                generations=args.generations,
                seed=args.seed,
                polish=args.polish,
                extremes=args.extremes,
                anchors=args.anchors,
                extremes_nodes=args.extremes_nodes,
                progress=stopper(args.stop_after),
            )
            c_nsga = time.process_time() - cpu
            approx.stats["cpu_seconds"] = c_nsga
            if args.save is not None:
                args.save.mkdir(parents=True, exist_ok=True)
                tag = f"_p{args.polish}" if args.polish else ""
                tag += "_x" if args.extremes else ""
                tag += f"_a{args.anchors}" if args.anchors else ""
                approx.to_json(
                    args.save / f"nsga2_{size}_{'_'.join(names)}_s{args.seed}"
                    f"_g{args.generations}{tag}.json"
                )
            if args.extremes:
                print(
                    f"{size} {pair}: extremes {approx.stats['extremes']} in "
                    f"{approx.stats['extremes_seconds']:.1f} s; anchors "
                    f"{approx.stats['anchors']} in {approx.stats['anchors_seconds']:.1f} s",
                    flush=True,
                )
            if args.polish:
                print(
                    f"{size} {pair}: polish {approx.stats['polished']} explorations, "
                    f"{approx.stats['polish_passes']} passes, "
                    f"converged {approx.stats['polish_converged']}, generations done "
                    f"{approx.stats['generations_done']}, "
                    f"interrupted {approx.stats['interrupted']}",
                    flush=True,
                )
            if exact is None:
                print(
                    f"{size} {pair}: no exact front ({why}); nsga2 {len(approx)} points, "
                    f"{approx.stats['seconds']:.1f} s (CPU {time.process_time() - cpu:.1f} s)",
                    flush=True,
                )
                continue
            c_exact = exact.stats.get("cpu_seconds", float("nan"))
            lo, hi = exact.F.min(axis=0), exact.F.max(axis=0)
            ref = np.where(
                np.array(exact.senses) == "min",
                hi + 0.1 * np.maximum(hi - lo, 1e-9),
                lo - 0.1 * np.maximum(hi - lo, 1e-9),
            )
            ratio = approx.hypervolume(ref) / exact.hypervolume(ref)
            t_exact, t_nsga = exact.stats["seconds"], approx.stats["seconds"]
            print(
                f"{size} {pair}: exact {len(exact)} points, {exact.stats['solves']} solves, "
                f"{t_exact:.1f} s (CPU {c_exact:.1f} s), exact={exact.exact}, "
                f"mode {exact.stats['mode']}; nsga2 {len(approx)} points, "
                f"{approx.stats['decisions_routed']} routed, {t_nsga:.1f} s (CPU {c_nsga:.1f} s, "
                f"{t_nsga / t_exact:.2f}x the exact time); hypervolume ratio {ratio:.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
