"""Steps per second of the multi-agent environment at 30, 120 and 300 agents.

One agent per edge node (``granularity="node"``) on generated ``continuum-random``
instances with 30 (medium: 3 clusters x 10 nodes), 120 (4 clusters x 30) and 300 (large:
10 x 30) edge nodes, the deployments of the continuum paper's scalability table (Table 4),
and one agent per cluster on the bundled instance for reference.

For each it times ``env.step`` with seeded random actions over ``--steps`` periods, split
into its parts (observations, the action decoding with the safety shield, the rewards, and
the plant with the rest), and the reference measured in the same run: the plant stepped
directly with the same shielded actions on the same seed, which is what any controller pays
at least. The ratio env / plant and the difference per step are the environment's overhead.
The one-time setup (SLO rate-limit tables of the layout) is reported separately.

Usage::

    python benchmarks/marl_scaling.py
    python benchmarks/marl_scaling.py --steps 12 --sizes 30 120
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from edgebound.envs.continuum_marl import ContinuumMARLEnv
from edgebound.instances import Instance, load
from edgebound.instances.generators import generate
from edgebound.sim.continuum import ContinuumPlant

SIZES: dict[str, tuple[str, dict[str, Any]]] = {
    "bundled": ("cluster", {}),
    "30": ("node", {"size": "medium"}),
    "120": ("node", {"size": "large", "clusters": 4}),
    "300": ("node", {"size": "large"}),
}


def instance(label: str, seed: int) -> Instance:
    if label == "bundled":
        return load("continuum-3edge-2cloud")
    opts = dict(SIZES[label][1])
    return generate("continuum-random", opts.pop("size"), seed, **opts)


def measure(label: str, steps: int, seed: int) -> dict[str, float]:
    inst = instance(label, seed)
    t0 = time.perf_counter()
    env = ContinuumMARLEnv(inst, granularity=SIZES[label][0], periods=steps)  # type: ignore[arg-type]
    setup_s = time.perf_counter() - t0
    view = env.view
    parts = {"observe": 0.0, "decode": 0.0, "reward": 0.0}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any) -> Any:
            t = time.perf_counter()
            out = fn(*a)
            parts[name] += time.perf_counter() - t
            return out

        return wrapper

    # count the view's parts of env.step (instance attributes shadow the methods)
    view.decode = timed("decode", view.decode)  # type: ignore[method-assign]
    view.observe = timed("observe", view.observe)  # type: ignore[method-assign]
    view.rewards = timed("reward", view.rewards)  # type: ignore[method-assign]
    env.reset(seed=seed)
    for k, a in enumerate(env.agents):
        env.action_space(a).seed(seed + k)
    for k in parts:  # the reset's observation is not a step's
        parts[k] = 0.0
    actions = []
    t_env = time.perf_counter()
    while env.agents:
        env.step({a: env.action_space(a).sample() for a in env.agents})
        actions.append(env.last_action)
    env_s = time.perf_counter() - t_env
    # the reference: the plant alone, replaying the same shielded actions on the same seed
    ref = ContinuumPlant(inst, seed=seed)
    ref.reset()
    t = time.perf_counter()
    for action in actions:
        assert action is not None
        ref.step(action)
    ref_s = time.perf_counter() - t
    return {
        "agents": len(view.agents),
        "nodes": len(inst.node_names),
        "services": len(inst.services),
        "setup_s": setup_s,
        "env_sps": steps / env_s,
        "plant_sps": steps / ref_s,
        "ratio": env_s / ref_s,
        **{f"{k}_ms": 1000.0 * v / steps for k, v in parts.items()},
        "plant_ms": 1000.0 * (env_s - sum(parts.values())) / steps,
        "env_only_ms": 1000.0 * (env_s - ref_s) / steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--steps", type=int, default=24, help="periods per size (default 24)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console(width=200)
    table = Table(title=f"multi-agent env, {args.steps} steps, random actions, seed {args.seed}")
    for col in (
        "instance",
        "agents",
        "nodes x services",
        "setup (s)",
        "env steps/s",
        "plant steps/s",
        "env / plant",
        "observe (ms)",
        "decode+shield (ms)",
        "plant+rest (ms)",
        "reward (ms)",
        "env - plant (ms)",
    ):
        table.add_column(col, justify="right")
    for label in args.sizes:
        r = measure(label, args.steps, args.seed)
        table.add_row(
            label,
            f"{r['agents']:.0f}",
            f"{r['nodes']:.0f} x {r['services']:.0f}",
            f"{r['setup_s']:.1f}",
            f"{r['env_sps']:.2f}",
            f"{r['plant_sps']:.2f}",
            f"{r['ratio']:.1f}",
            f"{r['observe_ms']:.1f}",
            f"{r['decode_ms']:.1f}",
            f"{r['plant_ms']:.1f}",
            f"{r['reward_ms']:.1f}",
            f"{r['env_only_ms']:.1f}",
        )
        console.print(f"{label}: done", style="dim")
    console.print(table)
    console.print(
        "env / plant: wall time of env.step over that of the plant stepped directly with the "
        "same actions (same run, same machine); setup: layout and SLO rate-limit tables, once "
        "per instance."
    )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
