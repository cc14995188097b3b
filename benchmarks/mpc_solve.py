"""Per-step cost of the MPC: first solve vs DPP re-solve vs the solver's own time.

For each instance and solver (CLARABEL, OSQP, HiGHS) the script builds one
:class:`edgebound.mpc.MPCProblem` and reports

``build s``
    Building the CVXPY problem (layout, rate-limit tables, expressions).
``first s``
    The first ``solve``: CVXPY canonicalizes the parametrized problem and caches the map
    from parameters to solver data, then the solver runs.
``re-solve s``
    The mean of ``--repeat`` further solves with new parameter values (forecast scaled by
    0.9-1.1 and the previous plan's replicas as the state), each only updating the cached
    solver data: the per-step cost in the closed loop.
``solver s``
    The solver's own time of those re-solves (``problem.solver_stats.solve_time``).
``blocks``
    Move blocking (``MPCConfig.blocks``): ``-`` for one decision per period, else the block
    lengths (:func:`edgebound.mpc.model.default_blocks`).
``vs plain``
    Re-solve time over the re-solve time of a plain DPP problem of the same shape (services
    x steps) with the same solver, measured in the same run: an LP with a variable per
    service and step, the forecast as parameter, a shared capacity and an L1 smoothing
    term. It says how much the MPC's structure (routes, queues, pools, power) costs over
    the smallest problem with that many services and steps.

Instances: the bundled ``continuum-3edge-2cloud`` (6 services, 12 steps),
``continuum-random`` with 10 services (12 steps) and with 100 services (24 steps), both
with 3 clusters of 10 edge nodes. Run ``python benchmarks/mpc_solve.py`` (a few minutes;
``--solvers CLARABEL HIGHS`` skips OSQP, which is by far the slowest here).
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
from edgebound.mpc import SOLVERS, MPCConfig, MPCProblem
from edgebound.mpc.model import default_blocks

console_width = None if sys.stdout.isatty() else 200


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
    """Mean re-solve time of a plain DPP LP with S x H decisions."""
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
    return float(np.mean(times))


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table."""
    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=SOLVERS)
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
    parser.add_argument("--repeat", type=int, default=5, help="re-solves per case (default 5)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    table = Table(title=f"MPC step time (pools: {args.pools}); busy machines inflate all rows")
    cols = (
        "instance",
        "S x H",
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
    for label, inst, H in _instances(args.instances):
        S = len(inst.services)
        every = (1,) * H
        modes = {"none": [every], "default": [default_blocks(H)]}.get(
            args.blocks, [every, default_blocks(H)]
        )
        for solver, blocks in ((sv, b) for sv in args.solvers for b in modes):
            t0 = time.perf_counter()
            mpc = MPCProblem(
                inst, MPCConfig(horizon=H, solver=solver, pools=args.pools, blocks=blocks)
            )
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
            resolve = float(np.mean(walls))
            plain = _plain(S, H, solver, args.repeat, rng)
            n_vars = sum(v.size for v in mpc.problem.variables())
            n_rows = sum(c.size for c in mpc.problem.constraints)
            row = (
                label,
                f"{S} x {H}",
                "-" if blocks == every else "+".join(map(str, blocks)),
                f"{n_vars:,}",
                f"{n_rows:,}",
                solver,
                f"{build:.3f}",
                f"{first:.3f}",
                f"{resolve:.4f}",
                "n/a" if math.isnan(np.mean(own)) else f"{np.mean(own):.4f}",
                f"{first / resolve:.1f}",
                f"{plain:.4f}",
                f"{resolve / plain:.1f}",
                plan.status,
            )
            table.add_row(*row)
            print("  ".join(row), flush=True)
    Console(width=console_width).print(table)


if __name__ == "__main__":
    main()
