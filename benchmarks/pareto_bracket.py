"""Bracket the hypervolume of a complete placement front from a front at a resolution.

Run: ``python benchmarks/pareto_bracket.py EXACT.json [NSGA.json ...] --budget 1500``
(``EXACT.json``: a front of ``continuum-random`` medium seed 0 written by
``benchmarks/pareto_placement.py --cache DIR --delta D``; ``--size``/``--seed`` for another
instance). A front computed with ``delta`` finds the least value of the free objective
``f`` (e.g. energy) only at bounds of the stepped objective ``c`` (e.g. cost) a step apart,
and the complete front, which counts for an objective with finitely many values, may be
better between the steps. This script solves ``min f s.t. c <= b`` for more bounds ``b``
(``--time-limit`` seconds each, one HiGHS thread): just below every point of the front,
at every step's bound, then in the middle of the widest uncertain range in turn until
``--budget`` seconds have passed. Every feasible decision found, and every point of the
NSGA-II fronts given (feasible for the evaluator), bounds ``f`` from above; every dual
bound bounds it from below for all ``c <= b``. It prints the hypervolume of the front, of
the best points known (a lower bound of the complete front's) and the certified upper
bound, and each NSGA-II front's ratio against both ends, with the reference point of
``pareto_placement.py`` (the exact front's worst values, a tenth of its range further).
Before those, ``--hull-budget`` seconds go to the front's *supported* points (the
noninferior set estimation method): for each edge of the lower convex hull of the points
known, of slope ``-w``, it solves ``min f + w c``; a better point splits the edge, and every
dual bound ``L`` gives the line ``f >= L - w c``, which holds at every ``c`` for every
decision costing at most ``c``. Where the front is convex these lines close the bracket
with few solves; the bound solves then go where it is not.
The bound solves run ``--workers`` at a time, one process each (the weighted ones one at a
time: each depends on the last). ``--within LO HI`` bisects only ranges of the stepped
objective inside ``[LO, HI]``: where solves are quick (on the medium cost pair, a few
seconds each above 21 USD/h against 120 s and unproven below) a budget closes far more.
Solves are kept in ``--progress FILE`` (default: next to ``EXACT.json``) and not repeated on
a later run; an interrupted run keeps every finished solve, and ``--budget 0`` only prints
the bracket and the scores.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np

from edgebound.instances import Instance
from edgebound.instances.generators import generate
from edgebound.models import placement
from edgebound.models.placement import _WEIGHTED
from edgebound.pareto import ParetoFront
from edgebound.solvers import Termination, solve

# how a solve may end to be kept: what it proved holds
_KEPT = (Termination.OPTIMAL, Termination.TIME_LIMIT, Termination.INFEASIBLE)


def solved(inst: Instance, free: str, stepped: str, key: dict, limit: float) -> dict | None:
    """One solve (``key``: ``{"bound": b}`` for min ``free`` s.t. ``stepped <= b``, or
    ``{"slope": w}`` for min ``free + w stepped``) as it is kept: the dual bound, whether
    it was proven, the point found and the seconds; None when the solve ended otherwise
    (interrupted: Ctrl-C stops HiGHS first; or failed), which is not kept."""
    if "slope" in key:
        model = placement.build(inst, "weighted", weights={free: 1.0, stepped: key["slope"]})
    else:
        model = placement.build(inst, free, constraints={stepped: key["bound"]})
    t = time.perf_counter()
    res = solve(model, time_limit=limit, threads=1)
    if res.termination not in _KEPT:
        print(f"a solve ended {res.termination.value}: not kept")
        return None
    ev = res.evaluation.objectives if res.evaluation is not None else None
    return {
        **key,
        "lb": res.bound,
        "optimal": res.optimal,
        "point": None if ev is None else [float(ev[stepped]), float(ev[free])],
        "seconds": time.perf_counter() - t,
    }


def envelopes(
    points: list[tuple[float, float]], cuts: list[tuple[float, float]], xs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower bounds of the least ``f`` at each ``c`` of ``xs``: the best point
    with ``c_j <= c``, and the largest dual bound of a solve with bound ``b >= c``."""
    upper = np.full(xs.size, np.inf)
    for c, f in points:
        upper[xs >= c - 1e-9] = np.minimum(upper[xs >= c - 1e-9], f)
    lower = np.full(xs.size, -np.inf)
    for b, lb in cuts:
        lower[xs <= b + 1e-9] = np.maximum(lower[xs <= b + 1e-9], lb)
    return upper, np.minimum(lower, upper)


def lines_at(lines: list[tuple[float, float]], xs: np.ndarray) -> np.ndarray:
    """The best bound of the lines ``f >= L - w c`` at each ``c`` of ``xs``."""
    out = np.full(xs.size, -np.inf)
    for w, bound in lines:
        out = np.maximum(out, bound - w * xs)
    return out


def lower_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The nondominated points on the lower-left convex hull of ``points``, by ``c``: from
    the least ``c`` (least ``f`` among those) to the least ``f`` (least ``c`` among
    those); the slopes between them are negative and increasing."""
    P = sorted(set(points))
    hull: list[tuple[float, float]] = []
    for p in P:
        if hull and p[1] >= hull[-1][1]:
            continue  # dominated by (or equal to) a point of less c
        while len(hull) >= 2:
            (c1, f1), (c2, f2) = hull[-2], hull[-1]
            # drop the middle point unless it lies strictly below the chord
            if (f2 - f1) * (p[0] - c1) >= (p[1] - f1) * (c2 - c1):
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


def snapped(c: float, f: float) -> tuple[float, float]:
    """A point with its float noise rounded off, up (``c`` to 1e-6, ``f`` to 1e-9), so that
    the same decision found twice is one point, and one hull vertex, not two: rounded up,
    a point found stays one that some decision reaches or beats."""
    return math.ceil(float(c) * 1e6 - 1e-3) / 1e6, math.ceil(float(f) * 1e9 - 1e-3) / 1e9


def area(values: np.ndarray, xs: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of a nonincreasing step function sampled at the midpoints of ``xs``."""
    height = np.clip(ref[1] - values[:-1], 0.0, None)
    return float(np.sum(height * np.diff(xs)))


def breakpoints(
    points: list[tuple[float, float]], cuts: list[tuple[float, float]], lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cost values where the envelopes may change, and a sample inside each interval."""
    xs = {lo, hi}
    xs.update(c for c, _ in points if lo < c < hi)
    xs.update(b + 1e-7 for b, _ in cuts if lo < b < hi)
    grid = np.array(sorted(xs))
    mids = np.append((grid[1:] + grid[:-1]) / 2, hi)
    return grid, mids


def bracketed(
    points: list[tuple[float, float]],
    cuts: list[tuple[float, float]],
    lines: list[tuple[float, float]],
    lo: float,
    hi: float,
    samples: int = 4000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid, its samples, and the upper and lower envelopes there. With lines the grid gets
    ``samples`` more even points and each interval the lines' bound at its right end (their
    least over the interval: each line decreases with ``c``)."""
    grid, mids = breakpoints(points, cuts, lo, hi)
    if lines:
        grid = np.unique(np.concatenate([grid, np.linspace(lo, hi, samples + 1)]))
        mids = np.append((grid[1:] + grid[:-1]) / 2, hi)
    upper, lower = envelopes(points, cuts, mids)
    if lines:
        right = np.append(grid[1:], hi)
        lower = np.minimum(np.maximum(lower, lines_at(lines, right)), upper)
    return grid, mids, upper, lower


def widest_range(
    grid: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    ref_f: float,
    pending: set[float],
    within: tuple[float, float] | None = None,
) -> float | None:
    """The middle of the widest uncertain range (area between the envelopes, below the
    reference point's ``f``) that no bound in ``pending`` is in and that lies inside
    ``within`` when given; None when no such range is uncertain."""
    width = (np.minimum(upper, ref_f) - np.minimum(lower, ref_f))[:-1] * np.diff(grid)
    if within is not None:
        inside = (grid[:-1] >= within[0]) & (grid[1:] <= within[1])
        width = np.where(inside, width, 0.0)
    for at in np.argsort(-width, kind="stable"):
        if width[at] <= 1e-12:
            return None
        if not any(grid[at] <= b <= grid[at + 1] for b in pending):
            return float((grid[at] + grid[at + 1]) / 2)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("exact", type=Path, help="front at a resolution (JSON)")
    parser.add_argument("nsga", type=Path, nargs="*", help="NSGA-II fronts to score (JSON)")
    parser.add_argument("--size", default="medium", choices=["small", "medium"])
    parser.add_argument("--seed", type=int, default=0, help="instance seed")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds of solves")
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per solve")
    parser.add_argument(
        "--hull-budget", type=float, default=0.0, help="seconds of supported-point solves"
    )
    parser.add_argument("--progress", type=Path, default=None, help="solves kept (JSON)")
    parser.add_argument(
        "--workers", type=int, default=1, help="bound solves at a time (one process each)"
    )
    parser.add_argument(
        "--within",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        default=None,
        help="bisect only ranges of the stepped objective inside [LO, HI]",
    )
    args = parser.parse_args()
    if args.within is not None and not args.within[0] < args.within[1]:
        parser.error(f"--within: {args.within[0]} {args.within[1]}: LO must be below HI")
    if args.workers < 1:
        parser.error(f"--workers: {args.workers} must be >= 1")
    if not args.time_limit > 0:
        parser.error(f"--time-limit: {args.time_limit} must be a positive number of seconds")
    for name in ("budget", "hull_budget"):
        if not getattr(args, name) >= 0:
            flag = "--" + name.replace("_", "-")
            parser.error(f"{flag}: {getattr(args, name)} must be >= 0 seconds")

    def read(path: Path) -> ParetoFront:
        try:
            return ParetoFront.from_json(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"{path}: not a readable front ({exc})") from None

    front = read(args.exact)
    if front.stats.get("model") != "placement" or "constrained" not in front.stats:
        raise SystemExit(f"{args.exact}: not an exact placement front (pareto_placement.py)")
    free, stepped = str(front.stats["primary"]), str(front.stats["constrained"])
    col = {name: k for k, name in enumerate(front.names)}
    if any(front.senses[col[n]] != "min" for n in (free, stepped)):
        raise SystemExit("both objectives must be minimized")
    E = front.F[:, [col[stepped], col[free]]]
    ref = E.max(axis=0) + 0.1 * (E.max(axis=0) - E.min(axis=0))
    lo, hi = float(E[:, 0].min()), float(ref[0])
    step = float(front.stats.get("delta") or 0.0) * max(float(np.ptp(E[:, 0])), 1.0)
    inst = generate("continuum-random", args.size, seed=args.seed)
    if front.stats.get("instance") != inst.name:
        raise SystemExit(
            f"{args.exact} is a front of {front.stats.get('instance')}, not of {inst.name}: "
            "give its --size and --seed"
        )
    progress = args.progress or args.exact.with_suffix(".bracket.json")
    try:
        done: list[dict] = json.loads(progress.read_text()) if progress.exists() else []
    except (OSError, ValueError) as exc:
        raise SystemExit(f"--progress {progress}: not a readable list of solves ({exc})") from None

    def pairs(p: ParetoFront) -> list[tuple[float, float]]:
        k = {name: j for j, name in enumerate(p.names)}
        return [snapped(r[k[stepped]], r[k[free]]) for r in p.F]

    points = [snapped(c, f) for c, f in E]
    nsga = {p: pairs(read(p)) for p in args.nsga}
    for mine in nsga.values():
        points += mine
    # the least f of all, at any c (the front's payoff table)
    cuts = [(np.inf, float(E[:, 1].min()) * (1 - 1e-9))]

    lines: list[tuple[float, float]] = []

    def record(r: dict) -> None:
        if r["lb"] is not None:
            if "slope" in r:
                lines.append((r["slope"], r["lb"]))
            else:
                cuts.append((r["bound"], r["lb"]))
        if r["point"] is not None:
            points.append(snapped(*r["point"]))

    for r in done:
        record(r)

    def keep(r: dict | None) -> None:
        """Keep a finished solve; stop the run at one that did not finish."""
        if r is None:
            raise KeyboardInterrupt  # a later run solves it again
        done.append(r)
        progress.write_text(json.dumps(done))
        record(r)
        if "slope" in r:
            asked_ = f"min {free} + {r['slope']:.6g} {stepped}"
        else:
            asked_ = f"{free} at {stepped} <= {r['bound']:.4f}"
        print(f"{len(done):4d}  {asked_}: {r['point']}, bound {r['lb']}")

    def support(w: float) -> None:
        """Solve min f + w c; record its line and its point."""
        keep(solved(inst, free, stepped, {"slope": w}, args.time_limit))

    def bounded(ask: Callable[[], float | None], start: float) -> None:
        """Solve min f s.t. c <= b for each b that ``ask()`` gives, ``--workers`` at a
        time, until it has none while none runs (None: none for now) or ``--budget``
        seconds from ``start`` are spent."""
        with ProcessPoolExecutor(args.workers) as pool:
            running: dict[Future, float] = {}
            while True:
                # asked again after every solve: the next widest range depends on it
                while len(running) < args.workers and time.perf_counter() - start < args.budget:
                    b = ask()
                    if b is None:
                        break
                    job = pool.submit(solved, inst, free, stepped, {"bound": b}, args.time_limit)
                    running[job] = b
                    pending.add(b)
                if not running:
                    return
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for job in finished:
                    pending.discard(running.pop(job))
                    keep(job.result())

    def hull_phase() -> None:
        """Noninferior set estimation: every hull edge's slope solved once; an edge whose
        solve finds nothing below it is on the hull of the front (when proven)."""
        if {free, stepped} - set(_WEIGHTED):
            print(f"no supported points: {free} and {stepped} are not both weighted objectives")
            return
        if stepped in ("energy", "latency") and free not in ("energy", "latency"):
            print(f"no supported points: a weighted sum with {stepped} serves all demand")
            return
        tried = [r["slope"] for r in done if "slope" in r]
        start = time.perf_counter()
        while time.perf_counter() - start < args.hull_budget:
            # (slope, box) of every hull edge not yet solved
            todo = [
                ((a[1] - b[1]) / (b[0] - a[0]), (b[0] - a[0]) * (a[1] - b[1]))
                for a, b in itertools.pairwise(lower_hull(points))
            ]
            # a slope within 0.1 % of one solved is solved: near-equal points found by
            # solves that stopped at their time limit would otherwise ask it again and again
            todo = [(w, box) for w, box in todo if all(abs(w - t) > 1e-3 * t for t in tried)]
            if not todo:
                print("supported points: every hull edge solved")
                return
            # the edge spanning the largest box first
            w = max(todo, key=lambda e: e[1])[0]
            tried.append(w)
            support(w)

    asked = {round(r["bound"], 9) for r in done if "slope" not in r}
    pending: set[float] = set()  # bounds being solved
    # below every point of the front, and at every step's bound
    first = sorted({c - 1e-4 for c, _ in E if c > lo} | {c - step for c, _ in E if c - step > lo})
    first = [b for b in first if round(b, 9) not in asked]
    if args.within is not None:
        first = [b for b in first if args.within[0] <= b <= args.within[1]]

    def widest() -> float | None:
        grid, _, upper, lower = bracketed(points, cuts, lines, lo, hi)
        return widest_range(grid, upper, lower, float(ref[1]), pending, args.within)

    try:
        hull_phase()
        start = time.perf_counter()
        bounded(lambda: first.pop(0) if first else None, start)
        bounded(widest, start)
    except KeyboardInterrupt:
        print("interrupted: the solves so far are kept")

    grid, mids, upper, lower = bracketed(points, cuts, lines, lo, hi)
    own, _ = envelopes([(float(c), float(f)) for c, f in E], [], mids)
    hv_own, hv_lo, hv_hi = area(own, grid, ref), area(upper, grid, ref), area(lower, grid, ref)
    print(
        f"{len(done)} solves; hypervolume of the front {hv_own:.5f}, "
        f"of the complete front between {hv_lo:.5f} (best points known) and {hv_hi:.5f}"
    )
    for path, mine in nsga.items():
        hv = area(envelopes(mine, [], mids)[0], grid, ref)
        print(
            f"{path.name}: {hv / hv_own:.4f} of the front, "
            f"{hv / hv_hi:.4f}-{hv / hv_lo:.4f} of the complete front"
        )


if __name__ == "__main__":
    main()
