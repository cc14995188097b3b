"""The safety shield: from the MPC's relaxed pool plan to a safe integer plant action.

The MPC plans replicas and routed rates per *pool* of nodes (an edge cluster, a cloud
region); the shield places them on nodes, in whole replicas, so that whatever the plan:

* **capacity and power caps** -- every node hosts at most what fits in its CPU, RAM, disk and
  GPUs, where the CPU and GPU capacities are those at which the node's CPU-side and per-GPU
  power stay within their caps *with every hosted replica busy*. The plant's power is
  linear in the busy replicas, and a queue never serves faster than its replicas, so no load
  whatsoever can push a shielded node over a cap;
* **migration caps** -- each service starts at most its cap of replicas per period
  (:func:`~edgebound.sim.continuum.migration_caps`: the paper's 2 per minute per service),
  and all services together at most ``policy.migration_budget``. Starts are counted as the
  plant counts them, against the replicas serving or spawning now;
* **SLO guard** -- each (service, node) queue gets the smallest whole number of replicas
  whose exact rate limit (:func:`~edgebound.models.placement.rate_limits`, at the SLO
  shrunk by the guard margin and the farthest origin that may use the node) covers the load
  routed to it at the guard demand (the plan's, a high forecast quantile); load that no
  replica may take is routed to the next nearest node with room. Admission is set against
  the *expected* demand: a demand whose routed rate covers it is admitted whole, otherwise
  the routed share of it (admission control drops the rest).

Each decision on a node is greedy: a service's load goes first to nodes that already host
it (no migration), then to nodes that are already on, then to the nearest. Services with
the scarcest resources go first (GPU services, then the largest CPU needs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgebound.mpc._layout import _RESOURCES, MPCError, _Layout, _Pools
from edgebound.sim.continuum import PlantAction

__all__ = ["ShieldResult", "check_action", "shield"]

_TINY = 1e-9


@dataclass(frozen=True, eq=False)
class ShieldResult:
    """A shielded action and what the shield changed.

    Attributes
    ----------
    action : PlantAction
        Integer replicas, routing shares and the intervention count.
    routed : ndarray, shape (S, I, N)
        Routed rates at the guard demand, req/s.
    admitted : ndarray, shape (S, I)
        Share of each demand admitted (the sum of its shares).
    interventions : int
        Pool replica counts that differ from the rounded plan, plus demands whose admitted
        rate differs from the plan's.
    """

    action: PlantAction
    routed: np.ndarray
    admitted: np.ndarray
    interventions: int


class _State:
    """Replicas, free capacity, starts and loads while the shield places a plan."""

    def __init__(self, lay: _Layout, held: np.ndarray) -> None:
        d = lay.data
        self.lay = lay
        S, N = held.shape
        self.held = held
        self.x = np.zeros((S, N), dtype=np.int64)
        self.free = {r: lay.eff_cap[r].copy() for r in _RESOURCES}
        self.starts_left = np.floor(lay.mig_cap + 1e-9)
        self.budget_left = lay.mig_budget
        self.load = np.zeros((S, N))
        self.routed = np.zeros((S, len(d.origins), N))
        self.need = d.need
        self.pair_of = {(int(s), int(n)): p for p, (s, n) in enumerate(lay.pairs)}

    def max_count(self, s: int, n: int, p: int) -> int:
        """Most replicas of s on n within capacity, migration caps and the pair's table."""
        cur = int(self.x[s, n])
        fit = min(
            (
                math.floor(self.free[r][n] / self.need[r][s] + 1e-9)
                for r in _RESOURCES
                if self.need[r][s] > 0
            ),
            default=10**6,
        )
        free_starts = max(0, int(self.held[s, n]) - cur)  # held replicas cost no start
        starts = int(max(0.0, min(self.starts_left[s], self.budget_left)))
        return int(min(cur + fit, cur + free_starts + starts, len(self.lay.limits[p]) - 1))

    def set_count(self, s: int, n: int, c: int) -> None:
        """Raise the count of (s, n) to c, consuming capacity and starts."""
        cur = int(self.x[s, n])
        if c <= cur:
            return
        for r in _RESOURCES:
            self.free[r][n] -= (c - cur) * self.need[r][s]
        new_starts = max(0, c - max(cur, int(self.held[s, n])))
        self.starts_left[s] -= new_starts
        self.budget_left -= new_starts
        self.x[s, n] = c

    def place(self, s: int, n: int, mix: np.ndarray, amount: float) -> float:
        """Route up to ``amount`` req/s of s (origin mix ``mix``) to n; return what fit."""
        p = self.pair_of.get((s, n))
        if p is None or amount <= _TINY:
            return 0.0
        lim = self.lay.limits[p]
        c_max = self.max_count(s, n, p)
        take = min(amount, float(lim[c_max]) - self.load[s, n])
        if take <= _TINY:
            return 0.0
        c = int(np.searchsorted(lim, self.load[s, n] + take, side="left"))
        c = max(c, int(self.x[s, n]), 1)
        self.set_count(s, n, min(c, c_max))
        self.load[s, n] += take
        self.routed[s, :, n] += take * mix
        return take


def _service_order(lay: _Layout) -> list[int]:
    d = lay.data
    svcs = np.unique(lay.pairs[:, 0])
    allowed = d.allowed.sum(axis=1)
    return sorted(
        (int(s) for s in svcs),
        key=lambda s: (-d.need["gpus"][s], allowed[s], -d.need["cpu"][s], -d.need["ram_gb"][s], s),
    )


def shield(
    layout: _Layout,
    pools: _Pools,
    replicas: np.ndarray,
    routing: np.ndarray,
    guard_demand: np.ndarray,
    held: np.ndarray,
    *,
    expected: np.ndarray | None = None,
) -> ShieldResult:
    """Turn a relaxed pool plan into a safe integer action.

    Parameters
    ----------
    layout, pools
        The problem's structure (``MPCProblem.layout`` and ``MPCProblem.pools``).
    replicas : ndarray, shape (S, G)
        Planned relaxed replicas per pool for the period that starts now.
    routing : ndarray, shape (S, Io, G)
        Planned routed rates per pool, req/s.
    guard_demand : ndarray, shape (S, Io)
        The demand the action is sized for (shares are fractions of it).
    held : ndarray of int, shape (S, N)
        Replicas serving or spawning now (what migrations are counted against).
    expected : ndarray, shape (S, Io), optional
        The expected demand (at most the guard). Admission is set against it: a demand
        whose routed rate covers its expected rate is admitted whole (the shares are scaled
        up to sum to 1, the guard's headroom absorbing the difference); otherwise the share
        admitted is the routed rate over the expected rate. Default: the guard demand.

    Returns
    -------
    ShieldResult

    Raises
    ------
    MPCError
        If an input has the wrong shape or negative or non-finite values.

    Examples
    --------
    >>> import numpy as np
    >>> from edgebound.instances import load
    >>> from edgebound.mpc import MPCProblem, MPCConfig
    >>> mpc = MPCProblem(load("continuum-3edge-2cloud"), MPCConfig(horizon=2))
    >>> plan = mpc.solve(mpc.mean_demand(), mpc.initial_replicas())
    >>> lam = mpc.mean_demand()[:, :, 0]
    >>> out = shield(mpc.layout, mpc.pools, plan.replicas[:, :, 0], plan.routing[:, :, :, 0],
    ...              lam, mpc.initial_replicas())
    >>> check_action(mpc.layout, out.action, mpc.initial_replicas(), lam)
    []
    """
    d = layout.data
    S, Io, N, G = len(d.services), len(d.origins), len(d.nodes), len(pools.members)
    X = _arr("replicas", replicas, (S, G))
    R = _arr("routing", routing, (S, Io, G))
    lam = _arr("guard_demand", guard_demand, (S, Io))
    h = _arr("held", held, (S, N))
    if (h != np.round(h)).any():
        raise MPCError("held: replica counts must be whole numbers")
    # never route more than the guard demand, whatever the plan says
    tot = R.sum(axis=2)
    scale = np.where(tot > lam, lam / np.where(tot > 0, tot, 1.0), 1.0)
    R = R * scale[:, :, None]
    st = _State(layout, h.astype(np.int64))
    routable = np.zeros((S, Io, N), dtype=bool)
    routable[layout.routes[:, 0], layout.routes[:, 1], layout.routes[:, 2]] = True
    net = d.net_ms
    overflow = np.zeros((S, Io))
    order = _service_order(layout)
    for s in order:
        for g in np.argsort(-R[s].sum(axis=0), kind="stable"):
            load = float(R[s, :, g].sum())
            if load <= _TINY:
                continue
            mix = R[s, :, g] / load
            users = mix > 0
            nodes = [n for n in pools.members[g] if routable[s, users, n].all()]
            mean_net = {n: float(mix[users] @ net[users, n]) for n in nodes}
            nodes.sort(key=lambda n: (-st.held[s, n], -int(st.x[:, n].sum() > 0), mean_net[n], n))
            for n in nodes:
                load -= st.place(s, n, mix, load)
                if load <= _TINY:
                    break
            overflow[s] += max(load, 0.0) * mix
        for i in np.flatnonzero(overflow[s] > _TINY):
            mix = np.zeros(Io)
            mix[i] = 1.0
            for n in sorted(np.flatnonzero(routable[s, i]), key=lambda n: (net[i, n], n)):
                overflow[s, i] -= st.place(s, int(n), mix, overflow[s, i])
                if overflow[s, i] <= _TINY:
                    break
    # pre-warm the replicas the plan holds beyond this period's load, only on nodes that are
    # on anyway (a node switched on for idle replicas costs its idle power), keeping running
    # replicas first
    for s in order:
        for g in range(G):
            want = int(np.floor(X[s, g] + 0.5))
            members = pools.members[g]
            have = int(st.x[s, members].sum())
            on = [int(n) for n in members if st.x[:, n].sum() > 0]
            on.sort(key=lambda n: (-st.held[s, n], n))
            for keep_only in (True, False):
                for n in on:
                    if have >= want:
                        break
                    p = st.pair_of.get((int(s), int(n)))
                    if p is None:
                        continue
                    top = st.max_count(s, n, p)
                    if keep_only:
                        top = min(top, max(int(st.held[s, n]), int(st.x[s, n])))
                    add = min(top - int(st.x[s, n]), want - have)
                    if add > 0:
                        st.set_count(s, n, int(st.x[s, n]) + add)
                        have += add
    base = lam if expected is None else np.minimum(_arr("expected", expected, (S, Io)), lam)
    routed = st.routed.sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        admit = np.where(base > 0, np.minimum(1.0, routed / np.where(base > 0, base, 1.0)), 1.0)
        share = np.where(
            routed[:, :, None] > 0,
            st.routed / np.where(routed > 0, routed, 1.0)[:, :, None] * admit[:, :, None],
            0.0,
        )
    admitted = np.where(routed > 0, admit, 0.0)
    planned = R.sum(axis=2)
    pool_x = np.zeros((S, G), dtype=np.int64)
    for g, members in enumerate(pools.members):
        pool_x[:, g] = st.x[:, members].sum(axis=1)
    interventions = int((pool_x != np.floor(X + 0.5)).sum()) + int(
        (np.abs(st.routed.sum(axis=2) - planned) > 1e-6 * np.maximum(1.0, lam)).sum()
    )
    action = PlantAction(st.x.copy(), share, None, interventions)
    return ShieldResult(action, st.routed, admitted, interventions)


def _arr(name: str, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    out = np.asarray(a, dtype=float)
    if out.shape != shape:
        raise MPCError(f"{name}: shape {out.shape} must be {shape}")
    if not np.all(np.isfinite(out)) or (out < 0).any():
        raise MPCError(f"{name}: values must be finite and >= 0")
    return out


def check_action(
    layout: _Layout, action: PlantAction, held: np.ndarray, demand: np.ndarray
) -> list[str]:
    """What a plant action breaks among the shield's guarantees (empty when nothing).

    Checked: capacities within the power caps (so no load can break a power cap), replica
    starts per service against the migration cap and in total against the migration budget,
    shares (at most 1 per demand, only to reachable nodes that host the service) and, at
    ``demand``, each queue's exact SLO rate limit. The shield's SLO guard holds at its
    expected demand, and at its guard demand wherever it could route all of it.

    Parameters
    ----------
    layout
        ``MPCProblem.layout``.
    action : PlantAction
    held : ndarray of int, shape (S, N)
        Replicas serving or spawning before the action.
    demand : ndarray, shape (S, I)
        Rates at which the SLO guard is checked, req/s.

    Returns
    -------
    list of str

    Examples
    --------
    >>> import numpy as np
    >>> from edgebound.instances import load
    >>> from edgebound.mpc import MPCProblem, MPCConfig
    >>> mpc = MPCProblem(load("continuum-3edge-2cloud"), MPCConfig(horizon=1))
    >>> held = mpc.initial_replicas()
    >>> S, I, N = 6, 6, 41
    >>> lam = np.zeros((S, I))
    >>> msgs = check_action(mpc.layout, PlantAction(held + 11, np.zeros((S, I, N))), held, lam)
    >>> [m for m in msgs if "starts" in m][0]
    'service cam-preprocess starts 451 replicas > cap 10'
    """
    d = layout.data
    x = np.asarray(action.replicas)
    share = np.asarray(action.routing, dtype=float)
    h = np.asarray(held)
    out = []
    for r in _RESOURCES:
        used = (x * d.need[r][:, None]).sum(axis=0)
        cap = layout.eff_cap[r]
        for n in np.flatnonzero(used > cap + 1e-9 * np.maximum(1.0, cap)):
            out.append(f"node {d.nodes[n]} {r}: {used[n]:g} > {cap[n]:g} within its power caps")
    starts = np.maximum(0, x - h).sum(axis=1)
    for s in np.flatnonzero(starts > layout.mig_cap + 1e-9):
        out.append(
            f"service {d.services[s]} starts {int(starts[s])} replicas > cap {layout.mig_cap[s]:g}"
        )
    if starts.sum() > layout.mig_budget + 1e-9:
        out.append(f"{int(starts.sum())} replicas started > budget {layout.mig_budget:g}")
    sums = share.sum(axis=2)
    for s, i in zip(*np.nonzero(sums > 1.0 + 1e-9), strict=True):
        out.append(f"service {d.services[s]} from {d.origins[i]}: shares sum to {sums[s, i]:g}")
    routable = np.zeros(share.shape, dtype=bool)
    routable[layout.routes[:, 0], layout.routes[:, 1], layout.routes[:, 2]] = True
    for s, i, n in zip(*np.nonzero((share > 0) & (~routable | (x[:, None, :] == 0))), strict=True):
        out.append(f"service {d.services[s]} from {d.origins[i]} to {d.nodes[n]}: not a route")
    load = (share * np.asarray(demand, dtype=float)[:, :, None]).sum(axis=1)
    for p, (s, n) in enumerate(layout.pairs):
        if load[s, n] <= _TINY:
            continue
        lim = layout.limits[p]
        c = min(int(x[s, n]), len(lim) - 1)
        if load[s, n] > lim[c] * (1 + 1e-9) + 1e-9:
            out.append(
                f"service {d.services[s]} on {d.nodes[n]}: load {load[s, n]:.6g} req/s > SLO "
                f"limit {lim[c]:.6g} req/s of {int(x[s, n])} replicas"
            )
    return out
