"""The event simulator of the versioning paper (§IV): M/M/c queues, scaling, updates.

Per service k, requests arrive as a Poisson process and wait in one FIFO queue served by the
service's replicas; service times are exponential with the rate of the version a replica
runs. Replicas are placed first-fit on the nodes (node order) within their CPU, RAM, disk
and GPU capacity. With ``scaling=True`` the monitoring-based scaler of the paper runs:

* an arrival that finds no idle replica raises the service's load, requests in the system
  per replica; above ``scale_up_load`` a new replica is created (if one fits somewhere); it
  takes the oldest waiting request, which starts after the spawn time;
* a replica that finishes a request and finds the queue empty is deleted, down to
  ``min_replicas``.

Versions are released by :func:`~edgebound.sim.releases.release_table`. A replica that is
about to take a request while a newer version exists asks the policy (``kind=UPDATE``):
update (terminate and respawn with the newest version; the request waits for the spawn) or
keep. A replica being created asks too (``kind=CREATE``): newest or stable version. The
stable version is the one the instance's state runs; versions of a replica only move forward.

A request's delay is its wait (queue and, if it waited for a spawn, the spawn time) plus its
service time plus the transmission delay of its replica's node to the master (eq 8). The
observation, reward (eq 15) and result types are in :mod:`edgebound.sim.policy` and
:mod:`edgebound.sim.results`; the docs page "The versioning simulator" explains the model.

Examples
--------
>>> from edgebound.instances import load
>>> from edgebound.sim import MMVSimulator, NeverUpdate
>>> sim = MMVSimulator(load("gentzen-star4"), load=0.5, arrivals=5000, seed=3)
>>> res = sim.run(NeverUpdate())
>>> res.arrivals, round(res.objectives["accuracy"], 3)
(5000, 0.58)
"""

from __future__ import annotations

import heapq
import math
import time
from array import array
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

import numpy as np

from edgebound.errors import EdgeboundError
from edgebound.instances import Instance
from edgebound.sim.policy import CREATE, UPDATE, Observation, Policy
from edgebound.sim.releases import ReleaseTable, release_table
from edgebound.sim.results import SimResult, build_result

__all__ = ["MMVSimulator", "SimulationError", "simulate"]

_PROGRESS_MASK = 0x3FFF


def _unused(observation: Observation | None) -> int:
    raise AssertionError("the simulator yields its decisions; it calls no policy")


class SimulationError(EdgeboundError):
    """A simulation cannot be set up as asked (bad load, replicas that fit nowhere, ...)."""


def _base_rates(instance: Instance) -> np.ndarray:
    lam = np.zeros(len(instance.services))
    for d in instance.workload.demands:
        lam[instance.service_names.index(d.service)] += d.rate_rps
    return lam


def _needs(table: ReleaseTable) -> list[tuple[float, float, float]]:
    """Each version's (cpu, ram, disk); versions in a run of equal needs share one tuple.

    Released versions keep their predecessor's resources, so a table of 10^5 versions has a
    handful of distinct needs: sharing them saves building (and garbage-collecting) a tuple
    per version.
    """
    cols = (table.cpu, table.ram_gb, table.disk_gb)
    rows = np.stack(cols, axis=1)
    starts = [0, *(np.flatnonzero((rows[1:] != rows[:-1]).any(axis=1)) + 1).tolist()]
    out: list[tuple[float, float, float]] = []
    for a, b in zip(starts, [*starts[1:], len(rows)], strict=True):
        c, r, d = (float(x[a]) for x in cols)
        out += [(c, r, d)] * (b - a)
    return out


class MMVSimulator:
    """One seeded run of the versioning simulator.

    Parameters
    ----------
    instance : Instance
        Nodes, services with their versions and release processes, workload, weights.
    load : float, optional
        The paper's server load (eq 1), :math:`\\lambda / (N \\mu)` with N the number of
        nodes and :math:`\\mu` the request-weighted service rate of the stable versions:
        the services' rates are scaled, keeping their shares, so that it holds. Default: the
        instance's own rates.
    arrivals : int
        Requests to simulate (all services together).
    seed : int
        Seed of the arrival, service and policy streams; same seed, same run.
    scaling : bool
        Run the monitoring-based scaler; without it every service keeps ``replicas``.
    replicas : int or mapping, optional
        Replicas of each service at the start (an int for all, or by service name), placed
        first-fit. Default ``min_replicas`` with scaling, else the fewest that keep each
        service's load below ``policy.max_utilization``.
    scale_up_load : float
        Requests in the system per replica above which an arrival creates a replica.
    min_replicas : int
        The scaler never deletes below this many replicas of a service.
    periods : int
        Periods the run is cut into for :meth:`SimResult.schedule` (the bound comparison).
    batches : int
        Batches of the batch-means confidence interval.
    warmup : float
        Share of the first arrivals left out of the metrics.
    """

    def __init__(
        self,
        instance: Instance,
        *,
        load: float | None = None,
        arrivals: int = 100_000,
        seed: int = 0,
        scaling: bool = True,
        replicas: int | Mapping[str, int] | None = None,
        scale_up_load: float = 1.0,
        min_replicas: int = 1,
        periods: int = 4,
        batches: int = 20,
        warmup: float = 0.0,
    ) -> None:
        if arrivals < 1:
            raise SimulationError(f"arrivals: {arrivals!r} must be >= 1")
        if load is not None and not load > 0.0:
            raise SimulationError(f"load: {load!r} must be > 0 (eq 1, e.g. 0.3 to 0.8)")
        if not 0.0 <= warmup < 1.0:
            raise SimulationError(f"warmup: {warmup!r} must be in [0, 1)")
        if min_replicas < 0 or periods < 1 or batches < 2:
            raise SimulationError("min_replicas must be >= 0, periods >= 1 and batches >= 2")
        self.instance = instance
        self.arrivals = int(arrivals)
        self.seed = int(seed)
        self.scaling = scaling
        self.scale_up_load = float(scale_up_load)
        self.min_replicas = int(min_replicas)
        self.periods = int(periods)
        self.batches = int(batches)
        self.warmup = float(warmup)
        lam = _base_rates(instance)
        if lam.sum() <= 0:
            raise SimulationError("workload.demands: the services have no demand to simulate")
        self.stable = [instance.running_version(k) for k in instance.service_names]
        if load is not None:
            share = lam / lam.sum()
            mu = float(np.dot(share, [v.service_rate_rps for v in self.stable]))
            lam = share * load * len(instance.node_names) * mu
        self.rates = lam
        self.load = float(lam.sum() / (len(instance.node_names) * self._mean_mu(lam)))
        self.start_s = float(instance.state.time_s)
        root = np.random.default_rng(self.seed)
        arr_rng, svc_rng, self.policy_rng = root.spawn(3)
        total = float(lam.sum())
        self._arr_t = self.start_s + np.cumsum(arr_rng.exponential(1.0 / total, self.arrivals))
        self._arr_k = arr_rng.choice(len(lam), size=self.arrivals, p=lam / total).astype(np.int64)
        self._svc_e = svc_rng.standard_exponential(self.arrivals)
        # departures after the last arrival see no release later than this
        horizon = float(self._arr_t[-1]) + 60.0
        self.tables: list[ReleaseTable] = [release_table(s, horizon) for s in instance.services]
        self.initial = self._initial_replicas(replicas)

    def _mean_mu(self, lam: np.ndarray) -> float:
        share = lam / lam.sum()
        return float(np.dot(share, [v.service_rate_rps for v in self.stable]))

    def _initial_replicas(self, replicas: int | Mapping[str, int] | None) -> list[int]:
        names = self.instance.service_names
        if isinstance(replicas, Mapping):
            unknown = set(replicas) - set(names)
            if unknown:
                raise SimulationError(f"replicas: {sorted(unknown)} are not services")
            out = [int(replicas.get(k, self.min_replicas)) for k in names]
        elif replicas is not None:
            out = [int(replicas)] * len(names)
        elif self.scaling:
            out = [self.min_replicas] * len(names)
        else:
            rho = self.instance.policy.max_utilization
            out = [
                max(1, math.ceil(lam / (rho * v.service_rate_rps) - 1e-12))
                for lam, v in zip(self.rates, self.stable, strict=True)
            ]
        if any(c < 0 for c in out):
            raise SimulationError(f"replicas: {out} must all be >= 0")
        return out

    # ------------------------------------------------------------------ running

    def run(self, policy: Policy, progress: Callable[[int], None] | None = None) -> SimResult:
        """Simulate with ``policy`` deciding updates and return the result.

        Parameters
        ----------
        policy : Policy
        progress : callable, optional
            Called now and then with the number of arrivals simulated so far.

        Returns
        -------
        SimResult
        """
        policy.reset(self.instance, self.policy_rng)
        # the loop calls the policy itself (no generator round trip per decision), and
        # builds no observation for a policy that declares it reads none
        observe = bool(getattr(policy, "observes", True))
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in self._events(progress, policy.act, observe):  # yields nothing given act
            pass
        self._record["wall_s"] = time.perf_counter() - t0
        self._record["cpu_s"] = time.process_time() - c0  # robust to other jobs on the machine
        return self.result(getattr(policy, "name", type(policy).__name__))

    def decisions(
        self, progress: Callable[[int], None] | None = None
    ) -> Generator[Observation, int, float]:
        """The run as a generator: it yields each decision's observation and takes the action.

        The generator's return value (``StopIteration.value``) is the reward of the last
        decision; every other reward arrives in the next observation. After the end,
        :meth:`result` gives the metrics. This is how :mod:`edgebound.envs` steps the run.

        Examples
        --------
        >>> from edgebound.instances import load
        >>> sim = MMVSimulator(load("gentzen-star4"), arrivals=200, seed=0)
        >>> gen = sim.decisions()
        >>> obs = next(gen)
        >>> obs.kind in (0, 1), len(obs.node_free), len(obs.omega)
        (True, 4, 4)
        """
        return (yield from self._events(progress, None))

    def _events(
        self,
        progress: Callable[[int], None] | None,
        act: Callable[[Any], int] | None,
        observe: bool = True,
    ) -> Generator[Observation, int, float]:
        """The event loop: yield decisions (``act=None``) or ask ``act`` directly.

        With ``observe=False`` the policy is called as ``act(None)``: no observation and no
        reward is computed. The state and draws are the same either way, so a policy that
        ignores its observation gives the same run with and without it.
        """
        inst = self.instance
        n_nodes = len(inst.node_names)
        n_svc = len(inst.services)
        n_arr = self.arrivals
        scaling = self.scaling
        thr = self.scale_up_load
        min_rep = self.min_replicas
        arr_t: list[float] = self._arr_t.tolist()
        arr_t.append(math.inf)  # sentinel: no arrival after the last one
        arr_k: list[int] = self._arr_k.tolist()
        svc_e: list[float] = self._svc_e.tolist()
        tabs = self.tables
        rel_t = [[*t.release_s.tolist(), math.inf] for t in tabs]
        v_major = [t.major.tolist() for t in tabs]
        v_acc = [t.accuracy.tolist() for t in tabs]
        v_sec = [t.security.tolist() for t in tabs]
        v_rel = [t.reliability.tolist() for t in tabs]
        v_mu = [t.service_rate_rps.tolist() for t in tabs]
        v_need = [_needs(t) for t in tabs]
        gpus = [self.stable[k].gpus for k in range(n_svc)]
        spawn = [s.spawn_time_ms / 1000.0 for s in inst.services]
        tr = [x / 1000.0 for x in inst.transmission_ms.tolist()]
        w = inst.policy.weights
        wd = float(w.get("delay", 0.0))
        wa, ws, wr = (float(w.get(x, 0.0)) for x in ("accuracy", "security", "reliability"))
        ref_ms = self.delay_ref_ms()
        wd_s = wd * 1000.0 / ref_ms  # reward weight of one second of delay
        base = [
            next(i for i in range(len(tabs[k])) if tabs[k].label(i) == v.label)
            for k, v in enumerate(self.stable)
        ]
        t0 = self.start_s
        newest = [tabs[k].newest_at(t0) for k in range(n_svc)]
        nxt = [rel_t[k][newest[k] + 1] for k in range(n_svc)]

        free = [[n.cpu, n.ram_gb, n.disk_gb, float(n.gpus)] for n in inst.topology.nodes]
        nodes = range(n_nodes)
        # first-fit order when a respawn prefers the replica's own node
        orders = [(n, *nodes) for n in nodes]
        r_k: list[int] = []
        r_n: list[int] = []
        r_v: list[int] = []
        idle: list[deque[int]] = [deque() for _ in range(n_svc)]
        nrep = [0] * n_svc
        queue: list[deque[int]] = [deque() for _ in range(n_svc)]
        q_area = [0.0] * n_svc
        q_last = [t0] * n_svc
        # replica log, flat: (time, service, node, +1 created / -1 deleted) per entry; a
        # tuple per entry would leave a million objects for the garbage collector to scan
        rlog: list[float] = []
        log = rlog.extend
        rk_append, rn_append, rv_append = r_k.append, r_n.append, r_v.append
        st = array("d", bytes(8 * n_arr))
        nd = array("b", bytes(n_arr))
        vr = array("l", bytes(array("l").itemsize * n_arr))
        spf = array("b", bytes(n_arr))
        heap: list[tuple[float, int]] = []
        push, pop = heapq.heappush, heapq.heappop
        n_dec = n_upd = n_new = n_created = n_deleted = 0
        yields = act is None
        decide: Callable[[Any], int] = act if act is not None else _unused

        def place(k: int, v: int, order: Sequence[int] = nodes) -> int:
            c, r, d = v_need[k][v]
            g = gpus[k]
            for n in order:
                f = free[n]
                if f[0] >= c and f[1] >= r and f[2] >= d and f[3] >= g:
                    f[0] -= c
                    f[1] -= r
                    f[2] -= d
                    f[3] -= g
                    return n
            return -1

        def z_bits(k: int, v: int) -> tuple[bool, ...]:
            c, r, d = v_need[k][v]
            g = gpus[k]
            return tuple([f[0] >= c and f[1] >= r and f[2] >= d and f[3] >= g for f in free])

        def omega(k: int, v: int, u: int) -> tuple[bool, bool, bool, bool]:
            return (
                v_major[k][u] != v_major[k][v],
                v_sec[k][u] > v_sec[k][v],
                v_rel[k][u] > v_rel[k][v],
                v_acc[k][u] > v_acc[k][v],
            )

        def respawn(rid: int, u: int, t: float) -> bool:
            """Replace replica ``rid`` by one of version ``u``, on its own node if it fits."""
            k, n = r_k[rid], r_n[rid]
            c, r, d = v_need[k][r_v[rid]]
            g = gpus[k]
            f = free[n]
            f[0] += c
            f[1] += r
            f[2] += d
            f[3] += g
            c, r, d = v_need[k][u]
            if f[0] >= c and f[1] >= r and f[2] >= d and f[3] >= g:
                f[0] -= c
                f[1] -= r
                f[2] -= d
                f[3] -= g
                r_v[rid] = u
                return True
            m = place(k, u)  # first-fit elsewhere (its own node was just tried)
            if m < 0:
                place(k, r_v[rid], orders[n])
                return False
            log((t, k, n, -1))
            log((t, k, m, 1))
            r_n[rid] = m
            r_v[rid] = u
            return True

        for k, count in enumerate(self.initial):
            for _ in range(count):
                n = place(k, base[k])
                if n < 0:
                    raise SimulationError(
                        f"replicas: {count} replicas of {inst.service_names[k]} do not fit on the "
                        "nodes (first-fit); ask for fewer"
                    )
                r_k.append(k)
                r_n.append(n)
                r_v.append(base[k])
                idle[k].append(len(r_k) - 1)
                nrep[k] += 1
                log((t0, k, n, 1))

        # A request starts on replica rid (node n, version v) at ts after a wait (and spawn
        # when sp): st/nd/vr/spf record it, its departure goes on the heap, and its reward
        # (eq 15) is -wd_s * (ts - arrival + service + transmission) + the version's scores.
        # The code is inlined at its three places: a call per request costs a tenth of a run.
        # tuple.__new__ skips the named tuple's argument handling, a third of its cost
        new, Obs = tuple.__new__, Observation
        reward = 0.0
        i = 0
        ta = arr_t[0]
        t = t0
        while True:
            if heap and heap[0][0] < ta:
                t, rid = pop(heap)
                k = r_k[rid]
                q = queue[k]
                if q:
                    q_area[k] += len(q) * (t - q_last[k])
                    q_last[k] = t
                    req = q.popleft()
                    if nxt[k] <= t:
                        u = newest[k]
                        while rel_t[k][u + 1] <= t:
                            u += 1
                        newest[k] = u
                        nxt[k] = rel_t[k][u + 1]
                    v = r_v[rid]
                    u = newest[k]
                    ts = t
                    if u != v:
                        n_dec += 1
                        if observe:
                            obs = new(Obs, (
                                z_bits(k, u), k, len(q), 1, omega(k, v, u), UPDATE,
                                reward, i / n_arr, t, v, u,
                            ))  # fmt: skip
                            a = (yield obs) if yields else decide(obs)
                        else:
                            a = decide(None)
                        if a and respawn(rid, u, t):
                            n_upd += 1
                            ts = t + spawn[k]
                            spf[req] = 1
                            v = u
                        n = r_n[rid]
                        s = svc_e[req] / v_mu[k][v]
                        st[req] = ts
                        nd[req] = n
                        vr[req] = v
                        push(heap, (ts + s, rid))
                        if observe:
                            reward = (
                                -wd_s * (ts - arr_t[req] + s + tr[n])
                                + wa * v_acc[k][v]
                                + ws * v_sec[k][v]
                                + wr * v_rel[k][v]
                            )
                    else:
                        st[req] = t
                        nd[req] = r_n[rid]
                        vr[req] = v
                        push(heap, (t + svc_e[req] / v_mu[k][v], rid))
                elif scaling and nrep[k] > min_rep:
                    n = r_n[rid]
                    c, r, d = v_need[k][r_v[rid]]
                    f = free[n]
                    f[0] += c
                    f[1] += r
                    f[2] += d
                    f[3] += gpus[k]
                    nrep[k] -= 1
                    n_deleted += 1
                    log((t, k, n, -1))
                else:
                    idle[k].append(rid)
                continue
            if i >= n_arr:
                break
            t = ta
            k = arr_k[i]
            req = i
            i += 1
            ta = arr_t[i]
            if progress is not None and not i & _PROGRESS_MASK:
                progress(i)
            if nxt[k] <= t:
                u = newest[k]
                while rel_t[k][u + 1] <= t:
                    u += 1
                newest[k] = u
                nxt[k] = rel_t[k][u + 1]
            idle_k = idle[k]
            if idle_k:
                rid = idle_k.popleft()
                v = r_v[rid]
                u = newest[k]
                if u != v:
                    n_dec += 1
                    ts = t
                    if observe:
                        obs = new(Obs, (
                            z_bits(k, u), k, 0, 0, omega(k, v, u), UPDATE,
                            reward, i / n_arr, t, v, u,
                        ))  # fmt: skip
                        a = (yield obs) if yields else decide(obs)
                    else:
                        a = decide(None)
                    if a and respawn(rid, u, t):
                        n_upd += 1
                        ts = t + spawn[k]
                        spf[req] = 1
                        v = u
                    n = r_n[rid]
                    s = svc_e[req] / v_mu[k][v]
                    st[req] = ts
                    nd[req] = n
                    vr[req] = v
                    push(heap, (ts + s, rid))
                    if observe:
                        reward = (
                            -wd_s * (ts - arr_t[req] + s + tr[n])
                            + wa * v_acc[k][v]
                            + ws * v_sec[k][v]
                            + wr * v_rel[k][v]
                        )
                else:
                    st[req] = t
                    nd[req] = r_n[rid]
                    vr[req] = v
                    push(heap, (t + svc_e[req] / v_mu[k][v], rid))
                continue
            q = queue[k]
            q_area[k] += len(q) * (t - q_last[k])
            q_last[k] = t
            q.append(req)
            nr = nrep[k]
            if not scaling or (nr and (nr + len(q)) <= thr * nr):
                continue
            u = newest[k]
            v = base[k]
            if u != v:
                # a decision only when the newest version fits somewhere (Z_k not all 0);
                # m is the node first-fit would give it
                c, r, d = v_need[k][u]
                g = gpus[k]
                for m in nodes:
                    f = free[m]
                    if f[0] >= c and f[1] >= r and f[2] >= d and f[3] >= g:
                        break
                else:
                    continue
                n_dec += 1
                if observe:
                    obs = new(Obs, (
                        z_bits(k, u), k, len(q), 0, omega(k, v, u), CREATE,
                        reward, i / n_arr, t, v, u,
                    ))  # fmt: skip
                    a = (yield obs) if yields else decide(obs)
                else:
                    a = decide(None)
                if a:
                    n_new += 1
                    f[0] -= c
                    f[1] -= r
                    f[2] -= d
                    f[3] -= g
                    n = m
                    v = u
                else:
                    n = place(k, v)
                    if n < 0:
                        reward = 0.0
                        continue
            else:
                n = place(k, v)
                if n < 0:
                    continue
            rk_append(k)
            rn_append(n)
            rv_append(v)
            rid = len(r_k) - 1
            nrep[k] = nr + 1
            n_created += 1
            log((t, k, n, 1))
            req = q.popleft()  # the queue's area is up to date: it grew at this same t
            ts = t + spawn[k]
            s = svc_e[req] / v_mu[k][v]
            st[req] = ts
            nd[req] = n
            vr[req] = v
            spf[req] = 1
            push(heap, (ts + s, rid))
            if observe and u != base[k]:
                reward = (
                    -wd_s * (ts - arr_t[req] + s + tr[n])
                    + wa * v_acc[k][v]
                    + ws * v_sec[k][v]
                    + wr * v_rel[k][v]
                )
        for k in range(n_svc):
            q_area[k] += len(queue[k]) * (t - q_last[k])
        self._record = {
            "start_s": st,
            "node": nd,
            "version": vr,
            "spawned": spf,
            "end_s": t,
            "queue_area": q_area,
            "replica_log": rlog,
            "counts": {
                "decisions": n_dec,
                "updates": n_upd,
                "created": n_created,
                "deleted": n_deleted,
                "create_newest": n_new,
            },
            "base": base,
            "wall_s": 0.0,
        }
        return reward

    def delay_ref_ms(self) -> float:
        """The delay (ms) that normalizes O1 in ``weighted`` and in the reward.

        ``policy.delay_ref_ms``, else the stable versions' processing time weighted by the
        simulated rates (as :func:`edgebound.evaluate.mmv_schedule.delay_ref_ms`).
        """
        from edgebound.evaluate.mmv_schedule import delay_ref_ms

        return delay_ref_ms(self.instance, self.rates.reshape(-1, 1))

    def result(self, policy_name: str = "") -> SimResult:
        """The metrics of the finished run (see :class:`~edgebound.sim.results.SimResult`)."""
        if not hasattr(self, "_record"):
            raise SimulationError("the run has not finished; call run() or exhaust decisions()")
        return build_result(self, self._record, policy_name)


def simulate(
    instance: Instance,
    policy: Policy,
    *,
    progress: Callable[[int], None] | None = None,
    **options: Any,
) -> SimResult:
    """Run the versioning simulator once: ``MMVSimulator(instance, **options).run(policy)``.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> from edgebound.sim import AlwaysUpdate
    >>> res = simulate(load("gentzen-star4"), AlwaysUpdate(), arrivals=3000, seed=0, load=0.3)
    >>> res.objectives["accuracy"] > 0.6
    True
    """
    return MMVSimulator(instance, **options).run(policy, progress)
