"""Sweep throughput of the experiment runner: local process pool against Ray.

Runs the same experiment (the bundled instances x the simulator's update policies x seeds,
with the optimum and bounds of each instance) with ``edgebound.bench.run_experiment`` on

- ``local, 1 worker``: every run in this process, the reference;
- ``local, N workers``: the process pool (its start-up is part of the time);
- ``ray, N workers``: Ray tasks on a local Ray instance started once beforehand (the
  start-up of Ray is reported on its own line);

and prints runs per second and each backend's time as a ratio to the reference, measured in
the same run. It also checks that every backend wrote the same records (apart from
``meta``). Ray must be installed (``pip install "edgebound[cluster]"``).

    python benchmarks/bench_ray.py [--workers 2] [--seeds 10] [--arrivals 100000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import console, print_facts
from rich.table import Table

from edgebound.bench import comparable, loads_experiment, read_records, run_experiment

EXPERIMENT = """
name: bench-ray
seeds: {seeds}
instances: [gentzen-star4, continuum-3edge-2cloud]
methods:
  - method: simulate
    instances: [gentzen-star4]
    params: {{arrivals: {arrivals}}}
    grid: {{policy: [always, never, random, qlearning]}}
  - method: solve
  - method: bound
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="pool processes / Ray CPUs")
    parser.add_argument("--seeds", type=int, default=10, help="seeds of each policy")
    parser.add_argument("--arrivals", type=int, default=100_000, help="requests per simulation")
    parser.add_argument("--repeat", type=int, default=2, help="runs per backend; least time")
    args = parser.parse_args()

    import ray

    exp = loads_experiment(EXPERIMENT.format(seeds=args.seeds, arrivals=args.arrivals))
    print_facts({"ray": ray.__version__, "runs": str(len(exp.runs))})
    folder = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, logging_level="ERROR")
    ray_start = time.perf_counter() - t0
    routes = [("local", 1), ("local", args.workers), ("ray", args.workers)]
    times: dict[tuple[str, int], float] = {}
    records = {}
    try:
        for rep in range(args.repeat):
            for backend, workers in routes:
                out = folder / f"{backend}-{workers}-{rep}.jsonl"
                t0 = time.perf_counter()
                run_experiment(exp, out, backend=backend, workers=workers)
                wall = time.perf_counter() - t0
                key = (backend, workers)
                times[key] = min(times.get(key, wall), wall)
                records[key] = comparable(read_records(out))
    finally:
        ray.shutdown()

    reference = times[("local", 1)]
    table = Table(title=f"{len(exp.runs)} runs, least wall time of {args.repeat}")
    for col in ("backend", "workers", "wall s", "runs/s", "reference / this", "same records"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for key in routes:
        wall = times[key]
        same = "yes" if records[key] == records[("local", 1)] else "NO"
        table.add_row(
            key[0],
            str(key[1]),
            f"{wall:.2f}",
            f"{len(exp.runs) / wall:.2f}",
            f"{reference / wall:.2f}x",
            same,
        )
    console.print(table)
    console.print(f"Ray start-up (ray.init, not in the times above): {ray_start:.2f} s")
    local, on_ray = times[("local", args.workers)], times[("ray", args.workers)]
    console.print(f"ray / local with {args.workers} workers (time): {on_ray / local:.2f}x")


if __name__ == "__main__":
    main()
