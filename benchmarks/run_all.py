"""Run the whole performance suite with one command and keep every script's output.

Each script prints its own ratios against a reference measured in the same run (Pyomo vs
direct highspy, MILP scaling, MPC first solve vs re-solve, simulator vs SimPy, NSGA-II vs
exact, sweep throughput local vs Ray, plant and multi-agent environment speed). This
runner calls them one after another with settings that keep the whole suite to roughly
half an hour on a 2-core machine (``--full`` uses each script's own defaults instead), and
writes each output to ``OUTDIR/<script>.txt`` as soon as that script finishes, so an
interrupted suite keeps what it finished; rerunning skips scripts whose output exists
unless ``--force``.

Run ``python benchmarks/run_all.py [--only NAME ...] [--out benchmark-results]``.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# script -> arguments of the quick suite (the defaults of each script with --full)
SUITE: dict[str, list[str]] = {
    "mmv_scaling": ["--time-limit", "30"],
    "mmv_pyomo_vs_highspy": ["--time-limit", "30"],
    "mmv_decomposition": [],
    "placement_scaling": ["--sizes", "bundled", "small", "medium", "--time-limit", "60"],
    "mpc_solve": ["--blocks", "default", "--solvers", "HIGHS-warm", "HIGHS", "CLARABEL"],
    "sim_vs_simpy": [],
    "pareto_nsga_vs_exact": [],
    "pareto_placement": [],
    "plant_speed": ["--no-large"],
    "marl_scaling": [],
    "bench_ray": [],
    "forecast_eval": ["--quick"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(SUITE), metavar="NAME")
    parser.add_argument("--out", default="benchmark-results", help="output directory")
    parser.add_argument("--full", action="store_true", help="each script's own defaults")
    parser.add_argument("--force", action="store_true", help="rerun finished scripts")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.only or list(SUITE)
    print(f"python {platform.python_version()} on {platform.platform()}, {out}/", flush=True)
    failed = []
    for name in names:
        target = out / f"{name}.txt"
        if target.exists() and not args.force:
            print(f"{name}: done before ({target})", flush=True)
            continue
        cmd = [sys.executable, str(HERE / f"{name}.py"), *([] if args.full else SUITE[name])]
        t0 = time.perf_counter()
        print(f"{name}: running {' '.join(cmd[1:])}", flush=True)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE, check=False)
        except KeyboardInterrupt:
            print(f"{name}: interrupted; finished outputs are in {out}/", flush=True)
            return 130
        wall = time.perf_counter() - t0
        text = proc.stdout + (f"\n[stderr]\n{proc.stderr}" if proc.returncode else "")
        if proc.returncode:
            failed.append(name)
            (out / f"{name}.failed.txt").write_text(text, encoding="utf-8")
            print(f"{name}: FAILED (exit {proc.returncode}) after {wall:.0f} s", flush=True)
            continue
        target.write_text(text, encoding="utf-8")
        print(f"{name}: {wall:.0f} s -> {target}", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
