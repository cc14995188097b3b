"""One control period of the continuum plant, vectorized over slots, streams and queues.

The semantics are documented in :mod:`edgebound.sim.continuum.plant`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edgebound.evaluate.placement import _erlang_c, _ratio, _times
from edgebound.sim.continuum._latency import Records, quantiles
from edgebound.sim.continuum.interface import PlantAction, StepInfo

if TYPE_CHECKING:
    from edgebound.sim.continuum.plant import ContinuumPlant

_TOL = 1e-9


def _rates(plant: ContinuumPlant) -> np.ndarray:
    """Arrival rate of each (slot, s, i) of the current period, shape (K, S, I)."""
    lam = plant.demand
    t, K = plant.t, plant.slots
    if not plant.interpolate:
        return np.broadcast_to(lam[None, :, :, t], (K, *lam.shape[:2]))
    T = lam.shape[2]
    pos = t - 0.5 + (np.arange(K) + 0.5) / K  # slot midpoints in units of periods from midpoint 0
    lo = np.clip(np.floor(pos).astype(int), 0, T - 1)
    hi = np.clip(lo + 1, 0, T - 1)
    frac = np.clip(pos - np.floor(pos), 0.0, 1.0)
    frac = np.where(pos < 0, 0.0, np.where(pos > T - 1, 1.0, frac))
    out: np.ndarray = (1.0 - frac)[:, None, None] * np.moveaxis(lam[:, :, lo], 2, 0) + frac[
        :, None, None
    ] * np.moveaxis(lam[:, :, hi], 2, 0)
    return out


def _apply_replicas(plant: ContinuumPlant, target: np.ndarray, t0: float) -> np.ndarray:
    """Start and remove replicas; return the starts (S, N)."""
    current = plant.serving + plant.pending
    starts = np.maximum(0, target - current)
    cut = np.maximum(0, current - target)
    # cancel spawning replicas first, newest first, then serving ones
    for k in range(len(plant._cohorts) - 1, -1, -1):
        ready, counts = plant._cohorts[k]
        take = np.minimum(counts, cut)
        plant._cohorts[k] = (ready, counts - take)
        cut = cut - take
    plant.serving = plant.serving - cut
    plant._cohorts = [(r, c) for r, c in plant._cohorts if c.any()]
    if starts.any():
        plant._cohorts.append((t0 + plant.spawn_s, starts.astype(np.int64)))
    return starts


def _split(
    rng: np.random.Generator | None,
    counts: np.ndarray,
    probs: np.ndarray,
    pair_of: np.ndarray,
    rank: np.ndarray,
) -> np.ndarray:
    """Split counts (K, P) of each pair over its streams with probabilities (K, M).

    Sequential binomials (a multinomial); with ``rng=None`` the expected split.
    """
    K, M = probs.shape
    out = np.zeros((K, M))
    left_n = counts.astype(float).copy()
    left_p = np.ones_like(left_n)
    for r in range(int(rank.max()) + 1 if M else 0):
        sel = np.flatnonzero(rank == r)
        p_pairs = pair_of[sel]
        p = probs[:, sel]
        with np.errstate(divide="ignore", invalid="ignore"):
            cond = np.clip(np.where(left_p[:, p_pairs] > 0, p / left_p[:, p_pairs], 0.0), 0, 1)
        n = left_n[:, p_pairs]
        got = n * cond if rng is None else rng.binomial(n.astype(np.int64), cond).astype(float)
        out[:, sel] = got
        left_n[:, p_pairs] = n - got
        left_p[:, p_pairs] = left_p[:, p_pairs] - p
    return out


def _rowsum(values: np.ndarray, index: np.ndarray, size: int) -> np.ndarray:
    """``out[k, j] = sum of values[k, m] over m with index[m] == j``, shape (K, size)."""
    K = values.shape[0]
    flat = (np.arange(K)[:, None] * size + index[None, :]).ravel()
    return np.bincount(flat, weights=values.ravel(), minlength=K * size).reshape(K, size)


def simulate_period(plant: ContinuumPlant, action: PlantAction) -> StepInfo:
    d = plant._d
    S, NI, N = len(d.services), len(d.origins), len(d.nodes)
    K, dt, P = plant.slots, plant.slot_s, plant.period_s
    t0 = plant.t * P
    target = np.asarray(action.replicas).astype(np.int64)
    share = np.asarray(action.routing, dtype=float)
    mu = d.mu

    # --- replicas
    starts = _apply_replicas(plant, target, t0)
    dropped = np.zeros((S, NI))
    gone = (target == 0) & (plant.backlog > 0)
    if gone.any():
        lost = np.where(gone, plant.backlog, 0.0)
        dropped += np.einsum("sn,sni->si", lost, plant._mix)
        plant.backlog = np.where(gone, 0.0, plant.backlog)
    slot_start = t0 + dt * np.arange(K)
    ready = np.broadcast_to(plant.serving, (K, S, N)).copy()
    for ready_t, counts in plant._cohorts:
        on_time = ready_t[None, :] <= slot_start[:, None] + 1e-9  # (K, S)
        ready += on_time[:, :, None] * counts[None, :, :]

    # --- queues (s, n) hosting a replica, streams (s, i, n) with a share
    qs, qn = np.nonzero(target > 0)
    Q = qs.size
    qidx = np.full((S, N), -1)
    qidx[qs, qn] = np.arange(Q)
    ms, mi, mn = np.nonzero(share > 0)
    M = ms.size
    mq = qidx[ms, mn]
    c_q = ready[:, qs, qn]  # (K, Q)
    ready_m = c_q[:, mq] > 0  # (K, M)

    # --- routing shares of every slot: not-ready targets pass their share to ready ones
    lam = _rates(plant)  # (K, S, NI)
    pair_id = np.full((S, NI), -1)
    pairs = np.unique(ms * NI + mi)
    pair_id.flat[pairs] = np.arange(pairs.size)
    pm = pair_id[ms, mi]
    share_m = share[ms, mi, mn]
    tot = np.bincount(pm, weights=share_m, minlength=pairs.size)
    eff = share_m[None, :] * ready_m  # (K, M)
    eff_sum = _rowsum(eff, pm, pairs.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = np.where(eff_sum[:, pm] > 0, eff / eff_sum[:, pm] * tot[pm][None, :], 0.0)
    rate_m = lam[:, ms, mi] * prob  # expected req/s of each stream
    rate_q = _rowsum(rate_m, mq, Q)

    # --- fluid backlog with timeouts, on the expected rates
    cap_rps = c_q * mu[qs][None, :]
    limit = cap_rps * plant.timeout_s[qs][None, :]  # backlog a newcomer waits out at most
    b = np.zeros((K + 1, Q))
    lost = np.zeros((K, Q))
    b[0] = plant.backlog[qs, qn]
    drift = rate_q - cap_rps
    if b[0].any() or (drift > 0).any():
        for k in range(K):
            nxt = np.maximum(0.0, b[k] + drift[k] * dt)
            b[k + 1] = np.minimum(nxt, limit[k])
            lost[k] = nxt - b[k + 1]
    served_q = b[:-1] + rate_q * dt - lost - b[1:]  # requests completed in each slot
    with np.errstate(divide="ignore", invalid="ignore"):
        t_zero = np.where(drift < 0, b[:-1] / np.where(drift < 0, -drift, 1.0), np.inf)
        mean_b = np.where(
            t_zero >= dt,
            np.minimum(b[:-1] + 0.5 * drift * dt, limit),
            0.5 * b[:-1] * t_zero / dt,
        )
        wait = np.where(
            cap_rps > 0, np.maximum(mean_b, 0.0) / np.where(cap_rps > 0, cap_rps, 1.0), 0.0
        )
        timed_out = np.where(rate_q > 0, lost / np.where(rate_q > 0, rate_q * dt, 1.0), 0.0)
    lam_eff = np.minimum(rate_q, plant.saturation * cap_rps)
    theta = cap_rps - lam_eff
    pw = np.zeros((K, Q))
    busy = (lam_eff > 0) & (c_q > 0)
    if busy.any():
        pw[busy] = _erlang_c(c_q[busy], lam_eff[busy] / np.broadcast_to(mu[qs], (K, Q))[busy])

    # --- requests: counts (sampled or expected) split over the streams
    if plant.arrivals == "poisson":
        n_si = plant._rng_arrivals.poisson(lam * dt).astype(float)
    else:
        n_si = lam * dt
    rank = np.zeros(M, dtype=np.int64)
    if M:
        order = np.lexsort((mn, pm))
        first = np.r_[0, np.flatnonzero(np.diff(pm[order])) + 1]
        rank[order] = np.arange(M) - np.repeat(first, np.diff(np.r_[first, M]))
    rng = plant._rng_split if plant.arrivals == "poisson" else None
    a_m = _split(rng, n_si[:, pairs // NI, pairs % NI], prob, pm, rank)  # (K, M)
    out_m = a_m * timed_out[:, mq]
    a_m = a_m - out_m
    arrivals = n_si.sum(axis=0)
    served_si = np.zeros((S, NI))
    np.add.at(served_si, (ms, mi), a_m.sum(axis=0))
    dropped += arrivals - served_si

    # --- latency records: one per (slot, stream), or per (jitter block, stream) where the
    # queue's state does not change within the block (the same distribution, merged exactly)
    B = plant.jitter_slots
    kb = np.arange(K) // B
    first = np.arange(kb[-1] + 1) * B
    if plant.jitter > 0:
        jit = 1.0 + plant.jitter * plant._rng_jitter.random((first.size, NI, N))
        net_m = d.net_ms[mi, mn][None, :] * jit[kb][:, mi, mn]
    else:
        net_m = np.broadcast_to(d.net_ms[mi, mn][None, :], (K, M))
    same = (wait == wait[first][kb]) & (theta == theta[first][kb]) & (pw == pw[first][kb])
    steady = np.minimum.reduceat(same.astype(np.int8), first, axis=0).astype(bool)[:, mq]
    w_blk = np.add.reduceat(a_m, first, axis=0)
    bb, m1 = np.nonzero(steady & (w_blk > 0))
    k2, m2 = np.nonzero(~steady[kb] & (a_m > 0))
    kk = np.concatenate([first[bb], k2])
    mm = np.concatenate([m1, m2])
    qq = mq[mm]
    rec = Records(
        group=ms[mm],
        w=np.concatenate([w_blk[bb, m1], a_m[k2, m2]]),
        shift_s=net_m[kk, mm] / 1000.0 + wait[kk, qq],
        mu=mu[ms[mm]],
        theta=theta[kk, qq],
        pw=pw[kk, qq],
    )
    plant.records.append(rec)
    slo_s = d.slo_ms[rec.group] / 1000.0
    late = np.bincount(
        rec.group, weights=rec.late(np.where(np.isnan(slo_s), np.inf, slo_s)), minlength=S
    )
    lat_sum = np.bincount(rec.group, weights=rec.w * rec.mean_s() * 1000.0, minlength=S)
    p95 = quantiles(0.95, rec, S)
    p95_all = float(quantiles(0.95, rec.merged(), 1)[0])

    # --- power, cost
    hosted_n = target.sum(axis=0) > 0
    on = hosted_n if action.nodes_on is None else np.asarray(action.nodes_on, dtype=bool)
    busy_rep = served_q / dt / mu[qs][None, :]  # (K, Q) expected busy replicas
    cpu_busy = _rowsum(busy_rep * d.need["cpu"][qs][None, :], qn, N)
    gpu_busy = _rowsum(busy_rep * d.need["gpus"][qs][None, :], qn, N)
    u = _ratio(cpu_busy, d.cap["cpu"][None, :])
    g = _ratio(gpu_busy, d.cap["gpus"][None, :])
    cpu_w = np.where(on, d.idle_w + _times(d.dyn_w, u), 0.0)
    has_gpu = on & (d.cap["gpus"] > 0)
    gpu_w = np.where(has_gpu, d.gpu_idle_w + _times(d.gpu_dyn_w, g), 0.0)
    node_w = cpu_w + np.where(has_gpu, d.cap["gpus"] * gpu_w, 0.0)
    over = _past(cpu_w, d.power_cap_w) | (has_gpu & _past(gpu_w, d.gpu_power_cap_w))
    cost = float((target * plant._cost_rate).sum() * P)

    # --- utilization, bookkeeping
    util = np.zeros((S, N))
    cap_slot = cap_rps * dt
    with np.errstate(divide="ignore", invalid="ignore"):
        share_busy = np.where(cap_slot > 0, served_q / np.where(cap_slot > 0, cap_slot, 1.0), 0.0)
    n_up = (c_q > 0).sum(axis=0)
    util[qs, qn] = np.where(n_up > 0, share_busy.sum(axis=0) / np.maximum(n_up, 1), 0.0)
    came = np.zeros((S, N, NI))
    np.add.at(came, (ms, mn, mi), rate_m.sum(axis=0))
    tot_q = came.sum(axis=2, keepdims=True)
    plant._mix = np.where(tot_q > 0, came / np.where(tot_q > 0, tot_q, 1.0), plant._mix)
    plant.backlog = np.zeros((S, N))
    plant.backlog[qs, qn] = b[K]
    t_end = t0 + P
    keep = []
    for ready_t, counts in plant._cohorts:
        done = ready_t <= t_end + 1e-9
        plant.serving = plant.serving + counts * done[:, None]
        rest = counts * ~done[:, None]
        if rest.any():
            keep.append((ready_t, rest))
    plant._cohorts = keep
    plant._observed = np.concatenate([plant._observed, (arrivals / P)[:, :, None]], axis=2)
    migrations = starts.sum(axis=1)
    return StepInfo(
        period=plant.t,
        arrivals=arrivals,
        served=served_si,
        dropped=dropped,
        late=late,
        latency_sum_ms=lat_sum,
        p95_ms=p95,
        p95_all_ms=p95_all,
        power_w=node_w.mean(axis=0),
        energy_j=float(node_w.sum() * dt),
        cost_usd=cost,
        utilization=util,
        migrations=migrations,
        migration_cap_violations=int((migrations > plant.migration_cap + 1e-9).sum()),
        power_cap_violations=int(over.sum()),
        replicas=plant.serving.copy(),
        backlog=float(plant.backlog.sum()),
        interventions=int(action.interventions),
    )


def _past(value: np.ndarray, cap: np.ndarray) -> np.ndarray:
    capped = ~np.isnan(cap)
    limit = np.where(capped, cap, 0.0)
    return capped & (value - limit > _TOL * np.maximum(1.0, np.abs(limit)))
