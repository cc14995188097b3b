"""Events per second of the versioning simulator, against a SimPy model of the same system.

Both run the same model on the same pre-drawn arrivals and service draws: per ML model a FIFO
queue (a ``simpy.Store`` in the reference) served by replicas placed first-fit, the
monitoring-based scaler, spawn delays and update decisions by the same policy (always
update, which needs no random draws). The reference is written the way a SimPy user would
write it: one process per replica and one for the arrivals. The script prints events per
second of each, their ratio, and both runs' objectives, which must agree.

Usage::

    python benchmarks/sim_vs_simpy.py               # ~2 M arrivals
    python benchmarks/sim_vs_simpy.py --arrivals 200000
"""

from __future__ import annotations

import argparse
import math
import time
from array import array
from typing import Any

import simpy
from rich.console import Console
from rich.table import Table

from edgebound.instances import load
from edgebound.sim import CREATE, UPDATE, AlwaysUpdate, MMVSimulator, Observation
from edgebound.sim.results import build_result


def simpy_run(sim: MMVSimulator, policy: Any) -> tuple[dict[str, Any], float]:
    """Run ``sim``'s prepared arrivals through the SimPy model; return its record and wall s.

    The wall time counts the setup from the prepared arrays, as the package's run does; the
    record's ``cpu_s`` is the same span in CPU time.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    inst = sim.instance
    n_svc, n_nodes, n_arr = len(inst.services), len(inst.node_names), sim.arrivals
    arr_t, arr_k, svc_e = sim._arr_t.tolist(), sim._arr_k.tolist(), sim._svc_e.tolist()
    tabs = sim.tables
    rel_t = [t.release_s.tolist() for t in tabs]
    need = [(s.cpu, s.ram_gb, s.disk_gb) for s in sim.stable]
    mu = [t.service_rate_rps.tolist() for t in tabs]
    scores = [
        (t.major.tolist(), t.security.tolist(), t.reliability.tolist(), t.accuracy.tolist())
        for t in tabs
    ]
    spawn = [s.spawn_time_ms / 1000.0 for s in inst.services]
    free = [[n.cpu, n.ram_gb, n.disk_gb] for n in inst.topology.nodes]
    base = [
        next(i for i in range(len(t)) if t.label(i) == v.label)
        for t, v in zip(tabs, sim.stable, strict=True)
    ]
    st = array("d", bytes(8 * n_arr))
    nd = array("b", bytes(n_arr))
    vr = array("l", bytes(array("l").itemsize * n_arr))
    spf = array("b", bytes(n_arr))
    counts = {"decisions": 0, "updates": 0, "created": 0, "deleted": 0, "create_newest": 0}
    env = simpy.Environment(initial_time=sim.start_s)
    stores = [simpy.Store(env) for _ in range(n_svc)]
    nrep = [0] * n_svc
    idle = [0] * n_svc
    rlog: list[tuple[float, int, int, int]] = []

    def newest(k: int, t: float) -> int:
        import bisect

        return bisect.bisect_right(rel_t[k], t) - 1

    def place(k: int) -> int:
        c, r, d = need[k]
        for n in range(n_nodes):
            f = free[n]
            if f[0] >= c and f[1] >= r and f[2] >= d:
                f[0] -= c
                f[1] -= r
                f[2] -= d
                return n
        return -1

    def unplace(k: int, n: int) -> None:
        c, r, d = need[k]
        free[n][0] += c
        free[n][1] += r
        free[n][2] += d

    def obs(k: int, v: int, u: int, event: int, kind: int) -> Observation:
        c, r, d = need[k]
        z = tuple([f[0] >= c and f[1] >= r and f[2] >= d for f in free])
        ma, se, re, ac = scores[k]
        omega = (ma[u] != ma[v], se[u] > se[v], re[u] > re[v], ac[u] > ac[v])
        return Observation(z, k, len(stores[k].items), event, omega, kind, 0.0, 0.0,
                           env.now, v, u)  # fmt: skip

    def serve(k: int, n: int, v: int, req: int, sp: int) -> Any:
        if sp:
            yield env.timeout(spawn[k])
        st[req], nd[req], vr[req], spf[req] = env.now, n, v, sp
        yield env.timeout(svc_e[req] / mu[k][v])

    def replica(k: int, n: int, v: int, first: int | None) -> Any:
        if first is not None:
            yield from serve(k, n, v, first, 1)
        while True:
            if not stores[k].items and sim.scaling and nrep[k] > sim.min_replicas:
                unplace(k, n)
                nrep[k] -= 1
                counts["deleted"] += 1
                rlog.append((env.now, k, n, -1))
                return
            was_idle = not stores[k].items
            idle[k] += was_idle
            req = yield stores[k].get()
            idle[k] -= was_idle
            u = newest(k, env.now)
            sp = 0
            if u != v:
                counts["decisions"] += 1
                if policy.act(obs(k, v, u, int(not was_idle), UPDATE)):
                    counts["updates"] += 1
                    v, sp = u, 1
            yield from serve(k, n, v, req, sp)

    def arrivals() -> Any:
        for i in range(n_arr):
            yield env.timeout(arr_t[i] - env.now)
            k = arr_k[i]
            stores[k].put(i)
            if idle[k] or not sim.scaling:
                continue
            if nrep[k] and nrep[k] + len(stores[k].items) <= sim.scale_up_load * nrep[k]:
                continue
            u, v = newest(k, env.now), base[k]
            if u != v:
                counts["decisions"] += 1
                if policy.act(obs(k, v, u, 0, CREATE)):
                    counts["create_newest"] += 1
                    v = u
            n = place(k)
            if n < 0:
                continue
            nrep[k] += 1
            counts["created"] += 1
            rlog.append((env.now, k, n, 1))
            env.process(replica(k, n, v, stores[k].items.pop(0)))

    for k, c in enumerate(sim.initial):
        for _ in range(c):
            n = place(k)
            nrep[k] += 1
            rlog.append((sim.start_s, k, n, 1))
            env.process(replica(k, n, base[k], None))
    env.process(arrivals())
    env.run()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    record = {
        "start_s": st, "node": nd, "version": vr, "spawned": spf, "end_s": env.now,
        "queue_area": [0.0] * n_svc, "replica_log": rlog, "counts": counts, "base": base,
        "wall_s": wall, "cpu_s": cpu,
    }  # fmt: skip
    return record, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrivals", type=int, default=2_000_000)
    parser.add_argument("--load", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    inst = load("gentzen-star4")
    ours = MMVSimulator(inst, load=args.load, arrivals=args.arrivals, seed=args.seed)
    res = ours.run(AlwaysUpdate())
    ref = MMVSimulator(inst, load=args.load, arrivals=args.arrivals, seed=args.seed)
    rec, _wall = simpy_run(ref, AlwaysUpdate())
    ref_res = build_result(ref, rec, "always (SimPy)")
    con = Console()
    table = Table(title=f"gentzen-star4, load {args.load:g}, {args.arrivals:,} arrivals")
    cols = ("simulator", "wall s", "events/s", "cpu s", "delay ms", "accuracy", "security")
    for col in cols:
        table.add_column(col, justify="left" if col == "simulator" else "right")
    cpu = {"ours": ours._record["cpu_s"], "SimPy": rec["cpu_s"]}
    for name, r, c in (("edgebound.sim", res, cpu["ours"]), ("SimPy", ref_res, cpu["SimPy"])):
        o = r.objectives
        table.add_row(
            name, f"{r.wall_s:.2f}", f"{r.events_per_s:,.0f}", f"{c:.2f}", f"{o['delay']:.4f}",
            f"{o['accuracy']:.6f}", f"{o['security']:.6f}",
        )  # fmt: skip
    con.print(table)
    ratio = res.events_per_s / ref_res.events_per_s
    same = all(
        math.isclose(res.objectives[m], ref_res.objectives[m], rel_tol=1e-9) for m in res.objectives
    )
    con.print(f"speed-up over SimPy: {ratio:.1f}x (target >= 5x)")
    # CPU time is what each run costs when other jobs share the machine's cores
    con.print(f"speed-up in CPU time: {cpu['SimPy'] / cpu['ours']:.1f}x")
    con.print(f"same objectives as SimPy: {'yes' if same else 'no'}")


if __name__ == "__main__":
    main()
