"""Per-step cost of the MPC: first solve vs DPP re-solve vs the solver's own time.

For each instance and solver the script builds one :class:`edgebound.mpc.MPCProblem` and
reports, in two settings:

**Perturbed re-solves** (the first table):

``build s``
    Building the CVXPY problem (layout, rate-limit tables, expressions).
``first s``
    The first ``solve``: CVXPY canonicalizes the parametrized problem and caches the map
    from parameters to solver data, then the solver runs.
``re-solve s``
    The median of ``--repeat`` further solves with new parameter values (every forecast
    entry scaled by its own factor in 0.9-1.1), each only updating the cached solver data:
    the per-step cost of the controller.
``solver s``
    The solver's own time of those re-solves (``problem.solver_stats.solve_time``).
``vs plain``
    Re-solve time over the re-solve time of a plain DPP problem of the same shape (services
    x steps) with the same solver, measured in the same run: an LP with a variable per
    service and step, the forecast as parameter, a shared capacity and an L1 smoothing
    term. It says how much the MPC's structure (routes, queues, pools, power) costs over
    the smallest problem with that many services and steps.

**Closed loop** (the second table, ``--periods`` > 0): the MPC controller with seasonal
forecasts runs in the continuum plant for ``--periods`` control periods, and its own
per-step solve times are summarized: the first step, then the median, 95th percentile and
largest of the others. Here every step moves the forecast one period on, the state to the
replicas the plant now holds and the previous routing to the last action, so this is the
per-step cost the controller actually pays.

Solvers: ``HIGHS-warm`` (the default of :class:`~edgebound.mpc.MPCConfig`: one HiGHS model
kept across steps and re-solved by a dual-simplex hot start from the last basis),
``HIGHS`` (solved from scratch through CVXPY), ``CLARABEL`` and ``OSQP``.

Instances: the bundled ``continuum-3edge-2cloud`` (6 services, 12 steps),
``continuum-random`` with 10 services (12 steps) and with 100 services (24 steps), both
with 3 clusters of 10 edge nodes. Run ``python benchmarks/mpc_solve.py`` (a few minutes;
``--solvers HIGHS-warm CLARABEL`` skips the slow ones, ``--blocks default`` the unblocked
problems).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import cvxpy as cp
import numpy as np
from rich.table import Table

from edgebound.instances import Instance, load
from edgebound.instances.generators import continuum_random
from edgebound.mpc import SOLVERS, MPCConfig, MPCController, MPCProblem
from edgebound.mpc.model import default_blocks
from edgebound.sim.continuum import run

console_width = None if sys.stdout.isatty() else 200

VARIANTS = ("HIGHS-warm", *SOLVERS)


def _config(variant: str, H: int, pools: str, blocks: tuple[int, ...]) -> MPCConfig:
    solver, _, warm = variant.partition("-")
    return MPCConfig(
        horizon=H, solver=solver, warm_start=warm == "warm", pools=pools, blocks=blocks
    )


def _instances(which: list[str]) -> list[tuple[str, Instance, int]]:
    out = []
    if "bundled" in which:
        out.append(("continuum-3edge-2cloud", load("continuum-3edge-2cloud"), 12))
    if "10x12" in which:
        out.append(("random 10 svc", continuum_random(3, 10, 10, seed=0), 12))
    if "100x24" in which:
        out.append(("random 100 svc", continuum_random(3, 10, 100, seed=0), 24))
    return out


def _plain(S: int, H: int, solver: str, repeat: int, rng: np.random.Generator) -> float:
    """Median re-solve time of a plain DPP LP with S x H decisions."""
    d = cp.Parameter((S, H), nonneg=True)
    x = cp.Variable((S, H), nonneg=True)
    cost = rng.uniform(1.0, 2.0, S)
    obj = cost @ cp.sum(x, axis=1) + cp.sum(cp.abs(x[:, 1:] - x[:, :-1]))
    prob = cp.Problem(cp.Minimize(obj), [x >= d, cp.sum(x, axis=0) <= 2.0 * S])
    base = rng.uniform(0.5, 1.5, (S, H))
    d.value = base
    prob.solve(solver=solver)
    times = []
    for _ in range(repeat):
        d.value = base * rng.uniform(0.9, 1.1, (S, H))
        t0 = time.perf_counter()
        prob.solve(solver=solver)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _blocks_label(blocks: tuple[int, ...]) -> str:
    return "-" if set(blocks) == {1} else "+".join(map(str, blocks))


def _perturbed(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    table = Table(
        title=f"MPC step time, perturbed re-solves (pools: {args.pools}, median of "
        f"{args.repeat}); busy machines inflate all rows"
    )
    cols = (
        "instance",
        "S x H",
        "blocks",
        "vars",
        "rows",
        "solver",
        "build s",
        "first s",
        "re-solve s",
        "solver s",
        "first/re-solve",
        "plain re-solve s",
        "vs plain",
        "status",
    )
    for c in cols:
        table.add_column(c, justify="left" if c in ("instance", "solver", "status") else "right")
    plain: dict[tuple[int, int, str], float] = {}
    for label, inst, H in _instances(args.instances):
        S = len(inst.services)
        every = (1,) * H
        modes = {"none": [every], "default": [default_blocks(H)]}.get(
            args.blocks, [every, default_blocks(H)]
        )
        for variant, blocks in ((v, b) for v in args.solvers for b in modes):
            t0 = time.perf_counter()
            mpc = MPCProblem(inst, _config(variant, H, args.pools, blocks))
            build = time.perf_counter() - t0
            demand = mpc.mean_demand()
            reps = mpc.initial_replicas()
            t0 = time.perf_counter()
            plan = mpc.solve(demand, reps)
            first = time.perf_counter() - t0
            walls, own = [], []
            for _ in range(args.repeat):
                scale = rng.uniform(0.9, 1.1, demand.shape)
                t0 = time.perf_counter()
                plan = mpc.solve(demand * scale, reps)
                walls.append(time.perf_counter() - t0)
                own.append(plan.solver_s)
            resolve = float(np.median(walls))
            solver = mpc.config.solver
            if (S, H, solver) not in plain:
                plain[S, H, solver] = _plain(S, H, solver, args.repeat, rng)
            ref = plain[S, H, solver]
            row = (
                label,
                f"{S} x {H}",
                _blocks_label(blocks),
                f"{sum(v.size for v in mpc.problem.variables()):,}",
                f"{sum(c.size for c in mpc.problem.constraints):,}",
                variant,
                f"{build:.3f}",
                f"{first:.3f}",
                f"{resolve:.4f}",
                "n/a" if math.isnan(np.median(own)) else f"{np.median(own):.4f}",
                f"{first / resolve:.1f}",
                f"{ref:.4f}",
                f"{resolve / ref:.1f}",
                plan.status,
            )
            table.add_row(*row)
            print("  ".join(row), flush=True)
    return table


def _closed_loop(args: argparse.Namespace) -> Table:
    table = Table(
        title=f"MPC step time in closed loop (seasonal forecasts, {args.periods} periods, "
        f"pools: {args.pools}, default blocks)"
    )
    cols = ("instance", "S x H", "solver", "first s", "median s", "p95 s", "max s", "solver s")
    for c in cols:
        table.add_column(c, justify="left" if c in ("instance", "solver") else "right")
    for label, inst, H in _instances(args.instances):
        S = len(inst.services)
        for variant in args.solvers:
            ctrl = MPCController("seasonal", _config(variant, H, args.pools, default_blocks(H)))
            run(inst, ctrl, periods=args.periods, seed=0)
            wall = np.array([t["solve_s"] for t in ctrl.timings])
            own = np.array([t["solver_s"] for t in ctrl.timings])
            rest = wall[1:]
            row = (
                label,
                f"{S} x {H}",
                variant,
                f"{wall[0]:.3f}",
                f"{np.median(rest):.4f}",
                f"{np.percentile(rest, 95):.4f}",
                f"{rest.max():.4f}",
                "n/a" if np.isnan(own[1:]).all() else f"{np.nanmedian(own[1:]):.4f}",
            )
            table.add_row(*row)
            print("  ".join(row), flush=True)
    return table


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its tables."""
    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--solvers", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        "--instances",
        nargs="+",
        default=["bundled", "10x12", "100x24"],
        choices=["bundled", "10x12", "100x24"],
    )
    parser.add_argument("--pools", default="cluster", choices=["cluster", "node"])
    parser.add_argument(
        "--blocks",
        default="both",
        choices=["none", "default", "both"],
        help="move blocking: none, default_blocks(H), or both (default)",
    )
    parser.add_argument("--repeat", type=int, default=10, help="re-solves per case (default 10)")
    parser.add_argument(
        "--periods",
        type=int,
        default=36,
        help="closed-loop control periods per case (default 36; 0 skips the closed loop)",
    )
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    console = Console(width=console_width)
    console.print(_perturbed(args, rng))
    if args.periods > 0:
        console.print(_closed_loop(args))


if __name__ == "__main__":
    main()
