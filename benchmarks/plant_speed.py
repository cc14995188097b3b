"""Speed of the continuum plant: runs per second, against a plain-loop reference.

The plant simulates a control period with numpy over slots, streams and queues at once. The
reference is the same period model written the plain way, one Python loop over slots and
queues with the scalar M/M/c formulas of :mod:`edgebound.evaluate.queueing` and one
mixture-quantile solve per service and period. Both replay the same actions (those of a run of
the heuristic autoscaler) with expected arrivals and no jitter, so their mean latency, p95
and power per period must agree; the script checks that and prints the time of each and
their ratio.

It then times full runs (6 simulated hours, Poisson arrivals, jitter): the heuristic and the
static controller on the bundled instance for 5 seeds, and the heuristic on
``continuum-random`` large (300 edge nodes).

Usage::

    python benchmarks/plant_speed.py
    python benchmarks/plant_speed.py --seeds 0 1 --no-large
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from edgebound.evaluate.placement import _data, _mixture_quantile
from edgebound.evaluate.queueing import erlang_c
from edgebound.instances import Instance, load
from edgebound.instances.generators import generate
from edgebound.sim.autoscaler import HeuristicAutoscaler, StaticController
from edgebound.sim.continuum import ContinuumPlant, PlantAction, run

console = Console(width=160)


def reference(
    inst: Instance, actions: list[PlantAction], slot_s: float
) -> list[tuple[float, float, list[float]]]:
    """Per period: mean latency (ms), mean power (W), p95 per service (ms); plain loops.

    Same model as the plant with ``arrivals="fluid"`` and ``jitter=0``.
    """
    d = _data(inst)
    rates = ContinuumPlant(inst).demand
    S, NI, N = len(d.services), len(d.origins), len(d.nodes)
    P = inst.workload.step_s
    K = round(P / slot_s)
    spawn = [s.spawn_time_ms / 1000.0 for s in inst.services]
    timeout = [10.0 * x / 1000.0 if not math.isnan(x) else math.inf for x in d.slo_ms]
    serving = {(s, n): int(d.x_prev[s, n]) for s in range(S) for n in range(N)}
    cohorts: list[tuple[int, int, float, int]] = []  # s, n, ready time, count
    backlog = {(s, n): 0.0 for s in range(S) for n in range(N)}
    out = []
    for t, a in enumerate(actions):
        t0 = t * P
        x = np.asarray(a.replicas)
        share = np.asarray(a.routing)
        for s in range(S):
            for n in range(N):
                pend = sum(c for (cs, cn, _, c) in cohorts if (cs, cn) == (s, n))
                cur = serving[s, n] + pend
                if x[s, n] > cur:
                    cohorts.append((s, n, t0 + spawn[s], int(x[s, n] - cur)))
                elif x[s, n] < cur:
                    cut = cur - x[s, n]
                    for k in range(len(cohorts) - 1, -1, -1):
                        cs, cn, rt, c = cohorts[k]
                        if (cs, cn) == (s, n) and cut > 0:
                            take = min(c, cut)
                            cohorts[k] = (cs, cn, rt, c - take)
                            cut -= take
                    serving[s, n] -= cut
                if x[s, n] == 0:
                    backlog[s, n] = 0.0
        cohorts = [c for c in cohorts if c[3] > 0]
        lat_w = lat_sum = energy = 0.0
        comps: list[list[tuple[float, float, float, float, float]]] = [[] for _ in range(S)]
        for k in range(K):
            start = t0 + k * slot_s
            ready = {
                (s, n): serving[s, n]
                + sum(c for (cs, cn, rt, c) in cohorts if (cs, cn) == (s, n) and rt <= start + 1e-9)
                for s in range(S)
                for n in range(N)
                if x[s, n] > 0
            }
            load_q: dict[tuple[int, int], float] = {}
            stream: list[tuple[int, int, int, float]] = []
            for s in range(S):
                for i in range(NI):
                    tot = sum(share[s, i, n] for n in range(N))
                    live = sum(share[s, i, n] for n in range(N) if ready.get((s, n), 0) > 0)
                    for n in range(N):
                        if share[s, i, n] > 0 and ready[s, n] > 0 and live > 0:
                            r = rates[s, i, t] * share[s, i, n] / live * tot
                            stream.append((s, i, n, r))
                            load_q[s, n] = load_q.get((s, n), 0.0) + r
            cpu_busy = [0.0] * N
            gpu_busy = [0.0] * N
            state: dict[tuple[int, int], tuple[float, float, float, float]] = {}
            for (s, n), c in ready.items():
                lam = load_q.get((s, n), 0.0)
                cap = c * d.mu[s]
                b0 = backlog[s, n]
                nxt = max(0.0, b0 + (lam - cap) * slot_s)
                b1 = min(nxt, cap * timeout[s])
                drift = lam - cap
                t_zero = b0 / -drift if drift < 0 else math.inf
                mean_b = min(b0 + 0.5 * drift * slot_s, cap * timeout[s])
                if t_zero < slot_s:
                    mean_b = 0.5 * b0 * t_zero / slot_s
                wait = max(mean_b, 0.0) / cap if cap > 0 else 0.0
                lam_eff = min(lam, 0.98 * cap)
                pw = erlang_c(c, lam_eff / d.mu[s]) if lam_eff > 0 and c > 0 else 0.0
                gone = (nxt - b1) / (lam * slot_s) if lam > 0 else 0.0  # timed out
                state[s, n] = (wait, cap - lam_eff, pw, gone)
                done = b0 + lam * slot_s - (nxt - b1) - b1
                backlog[s, n] = b1
                cpu_busy[n] += done / slot_s / d.mu[s] * d.need["cpu"][s]
                gpu_busy[n] += done / slot_s / d.mu[s] * d.need["gpus"][s]
            for s, i, n, r in stream:
                wait, theta, pw, gone = state[s, n]
                r *= 1.0 - gone
                shift = d.net_ms[i, n] / 1000.0 + wait
                lat_w += r
                lat_sum += r * (shift + pw / theta + 1.0 / d.mu[s]) * 1000.0
                comps[s].append((r, shift, d.mu[s], theta, pw))
            for n in range(N):
                on = x[:, n].sum() > 0
                if not on:
                    continue
                u = cpu_busy[n] / d.cap["cpu"][n] if d.cap["cpu"][n] > 0 else 0.0
                w = d.idle_w[n] + d.dyn_w[n] * u
                if d.cap["gpus"][n] > 0:
                    g = gpu_busy[n] / d.cap["gpus"][n]
                    w += d.cap["gpus"][n] * (d.gpu_idle_w[n] + d.gpu_dyn_w[n] * g)
                energy += w * slot_s
        p95 = []
        for s in range(S):
            if not comps[s]:
                p95.append(math.nan)
                continue
            c_arr = np.array(comps[s])
            w = c_arr[:, 0] / c_arr[:, 0].sum()
            p95.append(
                _mixture_quantile(0.95, w, c_arr[:, 1], c_arr[:, 2], c_arr[:, 3], c_arr[:, 4])
            )
        end = t0 + P
        for s, n, rt, c in cohorts:
            if rt <= end + 1e-9:
                serving[s, n] += c
        cohorts = [c for c in cohorts if c[2] > end + 1e-9]
        out.append((lat_sum / lat_w if lat_w else math.nan, energy / P, p95))
    return out


class Replay:
    """Plays recorded actions."""

    name = "replay"

    def __init__(self, actions: list[PlantAction]) -> None:
        self.actions = actions

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        self.t = 0

    def act(self, obs: object) -> PlantAction:
        self.t += 1
        return self.actions[self.t - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--periods", type=int, default=12, help="periods of the reference check")
    parser.add_argument("--no-large", action="store_true", help="skip continuum-random large")
    args = parser.parse_args()
    inst = load("continuum-3edge-2cloud")

    # --- plain loops vs the plant, same actions, deterministic model
    actions = list(run(inst, HeuristicAutoscaler(), periods=args.periods).actions)
    t0 = time.perf_counter()
    vec = run(inst, Replay(actions), periods=args.periods, arrivals="fluid", jitter=0.0)
    t_vec = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = reference(inst, actions, vec.slot_s)
    t_ref = time.perf_counter() - t0
    lat = np.array([r[0] for r in ref])
    pw = np.array([r[1] for r in ref])
    p95 = np.array([r[2] for r in ref]).T
    agree = (
        np.allclose(lat, vec.series["mean_latency_ms"], rtol=1e-9)
        and np.allclose(pw, vec.series["power_w"], rtol=1e-9)
        and np.allclose(p95, vec.series["p95_by_service_ms"], rtol=1e-8, equal_nan=True)
    )
    table = Table(title=f"{args.periods} periods of continuum-3edge-2cloud, same actions")
    for col in ("implementation", "wall s", "periods/s", "ratio"):
        table.add_column(col, justify="right")
    table.add_row("plain loops", f"{t_ref:.2f}", f"{args.periods / t_ref:.1f}", "1.00x")
    table.add_row(
        "plant (numpy)", f"{t_vec:.2f}", f"{args.periods / t_vec:.1f}", f"{t_ref / t_vec:.1f}x"
    )
    console.print(table)
    console.print(f"mean latency, power and p95 per service agree to 1e-8: {agree}")

    # --- full runs
    runs = Table(title="6 simulated hours (72 periods of 300 s, slots of 5 s), Poisson arrivals")
    for col in ("instance", "controller", "seeds", "s per run", "total s", "p95 ms", "J/req"):
        runs.add_column(col, justify="right")
    cases: list[tuple[str, Instance, object, list[int]]] = [
        ("continuum-3edge-2cloud", inst, HeuristicAutoscaler(), args.seeds),
        ("continuum-3edge-2cloud", inst, StaticController(), args.seeds),
    ]
    if not args.no_large:
        large = generate("continuum-random", "large", seed=0)
        cases.append(("continuum-random large", large, HeuristicAutoscaler(), args.seeds[:1]))
    for label, instance, ctrl, seeds in cases:
        t0 = time.perf_counter()
        res = [run(instance, ctrl, seed=s) for s in seeds]  # type: ignore[arg-type]
        total = time.perf_counter() - t0
        runs.add_row(
            label,
            res[0].controller,
            str(len(seeds)),
            f"{total / len(seeds):.2f}",
            f"{total:.1f}",
            f"{np.mean([r.summary['p95_latency_ms'] for r in res]):.1f}",
            f"{np.mean([r.summary['energy_j_per_req'] for r in res]):.3f}",
        )
    console.print(runs)


if __name__ == "__main__":
    main()
