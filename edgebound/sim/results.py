"""Results of simulator runs, and confidence intervals over seeds or batches.

A :class:`SimResult` holds the request-weighted objectives O1-O4 of eqs 9-11 (and the
``weighted`` scalarization of the evaluator), the delay's parts, per-service queue
statistics (for Erlang C and Little's law checks), batch means, and what the policy ran in
each period (for :mod:`edgebound.sim.schedule`). :func:`summarize` turns the results of
several seeds into means with Student-t confidence intervals (98 % as in the paper); from a
single run it uses batch means.

Examples
--------
>>> from edgebound.instances import load
>>> from edgebound.sim import NeverUpdate, simulate
>>> runs = [simulate(load("gentzen-star4"), NeverUpdate(), arrivals=2000, seed=s)
...         for s in range(3)]
>>> summ = summarize(runs)
>>> summ.n, summ.method, bool(summ.halfwidth["reliability"] < 1e-9)
(3, 'seeds', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgebound._stats import mean_ci

if TYPE_CHECKING:
    from edgebound.sim.mmv import MMVSimulator
    from edgebound.sim.releases import ReleaseTable

__all__ = ["METRICS", "SimResult", "Summary", "build_result", "summarize"]

METRICS = ("delay", "accuracy", "security", "reliability", "weighted")


@dataclass(frozen=True)
class SimResult:
    """The outcome of one simulator run.

    Attributes
    ----------
    policy : str
    seed, arrivals : int
    load : float
        The paper's load (eq 1) of the simulated rates.
    rates_rps : dict of str to float
        Simulated mean arrival rate of each service.
    start_s, duration_s : float
        Simulated start time and length of the run (to the last departure).
    events : int
        Arrivals and departures processed.
    wall_s : float
        Wall-clock time of the run.
    objectives : dict of str to float
        ``delay`` O1 (ms), ``accuracy`` O2, ``security`` O3, ``reliability`` O4 over the
        measured requests, and ``weighted`` (the evaluator's scalarization, min).
    delay_parts_ms : dict of str to float
        Mean ``wait`` (queue), ``spawn``, ``processing`` and ``transmission`` delay.
    services : dict of str to dict
        Per service: ``requests``, ``arrival_rps`` (measured), ``mean_wait_s`` (queue wait of
        requests that did not wait for a spawn), ``mean_queue`` (time-average queue length)
        and its objectives.
    batch_means : dict of str to numpy.ndarray
        Each objective's mean in consecutive batches of requests (arrival order).
    counts : dict of str to int
        ``decisions``, ``updates``, ``created``, ``deleted``, ``create_newest``.
    periods : dict
        ``period_s``, ``rates`` (services x periods, req/s), ``versions`` (index of the
        version that served most of the period's requests), ``replicas`` (time-average
        replicas, services x nodes x periods).
    """

    policy: str
    seed: int
    arrivals: int
    load: float
    rates_rps: dict[str, float]
    start_s: float
    duration_s: float
    events: int
    wall_s: float
    objectives: dict[str, float]
    delay_parts_ms: dict[str, float]
    services: dict[str, dict[str, float]]
    batch_means: dict[str, np.ndarray]
    counts: dict[str, int]
    periods: dict[str, Any]
    tables: list[ReleaseTable] = field(repr=False, default_factory=list)
    stable: list[int] = field(repr=False, default_factory=list)

    @property
    def events_per_s(self) -> float:
        """Events processed per wall-clock second."""
        return self.events / self.wall_s if self.wall_s > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the per-period record)."""
        return {
            "policy": self.policy,
            "seed": self.seed,
            "arrivals": self.arrivals,
            "load": self.load,
            "rates_rps": self.rates_rps,
            "duration_s": self.duration_s,
            "events": self.events,
            "wall_s": self.wall_s,
            "objectives": self.objectives,
            "delay_parts_ms": self.delay_parts_ms,
            "counts": self.counts,
            "services": self.services,
        }


def build_result(sim: MMVSimulator, rec: dict[str, Any], policy: str) -> SimResult:
    """Assemble a :class:`SimResult` from a finished simulator's record."""
    inst = sim.instance
    n_arr = sim.arrivals
    k_of = sim._arr_k
    arr_t = sim._arr_t
    tabs = sim.tables
    start = np.frombuffer(rec["start_s"], dtype=np.float64)
    node = np.frombuffer(rec["node"], dtype=np.int8).astype(np.int64)
    ver = np.frombuffer(rec["version"], dtype=np.dtype(f"i{rec['version'].itemsize}"))
    spawned = np.frombuffer(rec["spawned"], dtype=np.int8).astype(bool)
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in tabs])])
    gid = offsets[k_of] + ver
    cat = {
        name: np.concatenate([getattr(t, name) for t in tabs])
        for name in ("accuracy", "security", "reliability", "service_rate_rps")
    }
    spawn_s = np.array([s.spawn_time_ms / 1000.0 for s in inst.services])
    tr_s = inst.transmission_ms / 1000.0
    service = sim._svc_e / cat["service_rate_rps"][gid]
    wait = start - arr_t
    spawn_part = np.where(spawned, spawn_s[k_of], 0.0)
    delay_ms = 1000.0 * (wait + service + tr_s[node])
    per_req = {
        "delay": delay_ms,
        "accuracy": cat["accuracy"][gid],
        "security": cat["security"][gid],
        "reliability": cat["reliability"][gid],
    }
    w = inst.policy.weights
    ref = sim.delay_ref_ms()
    per_req["weighted"] = (
        float(w.get("delay", 0.0)) * delay_ms / ref
        - float(w.get("accuracy", 0.0)) * per_req["accuracy"]
        - float(w.get("security", 0.0)) * per_req["security"]
        - float(w.get("reliability", 0.0)) * per_req["reliability"]
    )
    first = int(sim.warmup * n_arr)
    sl = slice(first, n_arr)
    objectives = {m: float(per_req[m][sl].mean()) for m in METRICS}
    parts = {
        "wait": float(1000.0 * (wait - spawn_part)[sl].mean()),
        "spawn": float(1000.0 * spawn_part[sl].mean()),
        "processing": float(1000.0 * service[sl].mean()),
        "transmission": float(1000.0 * tr_s[node][sl].mean()),
    }
    batches = np.array_split(np.arange(first, n_arr), sim.batches)
    batch_means = {m: np.array([per_req[m][b].mean() for b in batches]) for m in METRICS}
    horizon = float(arr_t[-1] - sim.start_s)
    measured_s = float(arr_t[-1] - (arr_t[first - 1] if first else sim.start_s))
    services: dict[str, dict[str, float]] = {}
    for k, name in enumerate(inst.service_names):
        mine = k_of[sl] == k
        plain = mine & ~spawned[sl]
        services[name] = {
            "requests": int(mine.sum()),
            "arrival_rps": float(mine.sum() / measured_s),
            "mean_wait_s": float(wait[sl][plain].mean()) if plain.any() else 0.0,
            "mean_queue": float(rec["queue_area"][k] / (rec["end_s"] - sim.start_s)),
            **{m: float(per_req[m][sl][mine].mean()) if mine.any() else 0.0 for m in METRICS},
        }
    return SimResult(
        policy=policy,
        seed=sim.seed,
        arrivals=n_arr,
        load=sim.load,
        rates_rps={k: float(x) for k, x in zip(inst.service_names, sim.rates, strict=True)},
        start_s=sim.start_s,
        duration_s=float(rec["end_s"] - sim.start_s),
        events=2 * n_arr,
        wall_s=float(rec["wall_s"]),
        objectives=objectives,
        delay_parts_ms=parts,
        services=services,
        batch_means=batch_means,
        counts=dict(rec["counts"]),
        periods=_periods(sim, rec, ver, horizon),
        tables=list(tabs),
        stable=list(rec["base"]),
    )


def _periods(sim: MMVSimulator, rec: dict[str, Any], ver: np.ndarray, horizon: float) -> dict:
    n_t = sim.periods
    n_svc = len(sim.instance.services)
    n_nodes = len(sim.instance.node_names)
    period_s = horizon / n_t
    edges = sim.start_s + period_s * np.arange(n_t + 1)
    which = np.minimum(((sim._arr_t - sim.start_s) / period_s).astype(np.int64), n_t - 1)
    rates = np.zeros((n_svc, n_t))
    versions = np.zeros((n_svc, n_t), dtype=np.int64)
    for k in range(n_svc):
        mine = sim._arr_k == k
        rates[k] = np.bincount(which[mine], minlength=n_t) / period_s
        v_k, w_k = ver[mine], which[mine]
        for t in range(n_t):
            used = v_k[w_k == t]
            if len(used):
                versions[k, t] = int(np.argmax(np.bincount(used)))
            else:
                versions[k, t] = versions[k, t - 1] if t else rec["base"][k]
    replicas = np.zeros((n_svc, n_nodes, n_t))
    # (time, service, node, +1 / -1) per entry: as tuples, or flat
    log = np.asarray(rec["replica_log"], dtype=float).reshape(-1, 4)
    if len(log):
        lt = log[:, 0]
        lk = log[:, 1].astype(np.int64)
        ln = log[:, 2].astype(np.int64)
        ld = log[:, 3]
        for k in range(n_svc):
            for n in range(n_nodes):
                sel = (lk == k) & (ln == n)
                if not sel.any():
                    continue
                t_ev = lt[sel]
                level = np.cumsum(ld[sel])
                t_next = np.append(t_ev[1:], np.inf)
                for t in range(n_t):
                    a, b = edges[t], edges[t + 1]
                    overlap = np.clip(np.minimum(t_next, b) - np.maximum(t_ev, a), 0.0, None)
                    replicas[k, n, t] = float(np.dot(level, overlap) / period_s)
    return {"period_s": period_s, "rates": rates, "versions": versions, "replicas": replicas}


@dataclass(frozen=True)
class Summary:
    """Means and confidence intervals of one policy's runs.

    Attributes
    ----------
    policy : str
    n : int
        Number of seeds (or of batches when ``method == "batches"``).
    method : {"seeds", "batches"}
    confidence : float
    mean, halfwidth : dict of str to float
        Per objective; the interval is ``mean ± halfwidth`` (Student t).
    results : tuple of SimResult
    """

    policy: str
    n: int
    method: str
    confidence: float
    mean: dict[str, float]
    halfwidth: dict[str, float]
    results: tuple[SimResult, ...] = field(repr=False, default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "policy": self.policy,
            "n": self.n,
            "method": self.method,
            "confidence": self.confidence,
            "mean": self.mean,
            "halfwidth": self.halfwidth,
            "runs": [r.to_dict() for r in self.results],
        }


def summarize(results: list[SimResult], confidence: float = 0.98) -> Summary:
    """Mean and Student-t confidence interval of each objective over runs.

    Several runs (seeds) give an interval over their means; a single run gives one over its
    batch means.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> from edgebound.sim import AlwaysUpdate, simulate
    >>> one = simulate(load("gentzen-star4"), AlwaysUpdate(), arrivals=4000, seed=0)
    >>> s = summarize([one])
    >>> s.method, s.n, bool(s.halfwidth["delay"] > 0)
    ('batches', 20, True)
    """
    if not results:
        raise ValueError("results: need at least one run")
    if len(results) == 1:
        r = results[0]
        per = {m: r.batch_means[m] for m in METRICS}
        method, n = "batches", len(r.batch_means["delay"])
    else:
        per = {m: np.array([r.objectives[m] for r in results]) for m in METRICS}
        method, n = "seeds", len(results)
    mean, half = {}, {}
    for m in METRICS:
        mean[m], half[m] = mean_ci(per[m], confidence, skip_nan=False)
    if method == "batches":
        mean = dict(results[0].objectives)
    return Summary(
        policy=results[0].policy,
        n=n,
        method=method,
        confidence=confidence,
        mean=mean,
        halfwidth=half,
        results=tuple(results),
    )
