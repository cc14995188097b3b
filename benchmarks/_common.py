"""Shared helpers of the benchmark scripts: instances, HiGHS threads, machine facts, formatting.

Not part of the package; imported by the scripts in this directory as ``_common``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Iterable, Iterator
from importlib.metadata import version

import highspy
from rich.console import Console

from edgebound.instances import Instance, load
from edgebound.instances.generators import generate

STAR4 = "gentzen-star4"
SIZES = (STAR4, "small", "medium", "large")
DEFAULT_SIZES = (STAR4, "small", "medium")

# wide tables stay readable when the output goes to a file or a pipe
console = Console() if sys.stdout.isatty() else Console(width=220)


def add_common_args(parser: argparse.ArgumentParser, *, time_limit: float) -> None:
    """``--sizes``, ``--seeds``, ``--time-limit`` and ``--threads``."""
    parser.add_argument(
        "--sizes",
        nargs="+",
        choices=SIZES,
        default=list(DEFAULT_SIZES),
        metavar="SIZE",
        help=f"instances: {', '.join(SIZES)} (default: {' '.join(DEFAULT_SIZES)}); "
        "small/medium/large are mmv-random instances, one per seed",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0],
        metavar="SEED",
        help="seeds of the mmv-random instances (default: 0)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=time_limit,
        metavar="S",
        help=f"time limit of every solve in seconds (default: {time_limit:g})",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="HiGHS threads for every MILP solve (default: 1)",
    )


def instances(sizes: Iterable[str], seeds: Iterable[int]) -> Iterator[tuple[str, Instance]]:
    """``(label, instance)`` for each size, one instance per seed for the random sizes."""
    seeds = list(seeds)
    for size in sizes:
        if size == STAR4:
            yield STAR4, load(STAR4)
        else:
            for seed in seeds:
                yield f"{size} s{seed}", generate("mmv-random", size, seed)


def reset_highs_threads() -> None:
    """Let the next HiGHS run start its thread pool with its own ``threads`` option.

    HiGHS keeps one thread scheduler per process, sized by the first run. A later run that
    asks for another number of threads fails (status "not set", reported as an error)
    instead of solving, e.g. a MILP solve with ``threads=1`` after an LP relaxation solved
    with HiGHS's default. Resetting before every run keeps the thread setting of each run.
    """
    highspy.Highs.resetThreadScheduler(True)


def machine_facts() -> dict[str, str]:
    load1 = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "-"
    return {
        "cpus (os.cpu_count)": str(os.cpu_count()),
        "load average (1 min) at start": load1,
        "platform": platform.platform(terse=True),
        "python": sys.version.split()[0],
        "highspy": version("highspy"),
        "pyomo": version("pyomo"),
    }


def print_facts(extra: dict[str, str] | None = None) -> None:
    facts = machine_facts() | (extra or {})
    console.print(", ".join(f"{k}: {v}" for k, v in facts.items()))


def num(x: float | None, fmt: str = ".6g") -> str:
    return "-" if x is None else format(x, fmt)


def secs(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.3g}%"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "-"
    return f"{a / b:.2f}x"


def rel_gap(objective: float | None, bound: float | None) -> float | None:
    """``|objective - bound| / |objective|`` (None when either is missing)."""
    if objective is None or bound is None:
        return None
    return abs(objective - bound) / max(abs(objective), 1e-10)
