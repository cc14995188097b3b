"""A PettingZoo parallel environment over the continuum plant: one agent per edge pool.

Each agent is an edge cluster (``granularity="cluster"``, the continuum paper's cluster
orchestrators) or an edge node (``"node"``, its edge service agents). One step is one control
period of :class:`~edgebound.sim.continuum.ContinuumPlant` (``workload.step_s``); an episode is
one seeded run of ``periods`` periods and ends by truncation.

Origins
    Every origin (site) belongs to the edge cluster nearest to it (mean network latency to
    the cluster's nodes); its demand is split evenly over the agents of that cluster. An origin
    no edge agent can serve is handled by the cloud rule below.
Action (``MultiDiscrete``, per agent)
    For every service s: a *local share* (:data:`LOCAL_SHARES`: how much of the agent's
    demand of s its own pool serves; the rest is offloaded to the nearest cloud pool that may
    serve it), a *headroom* (:data:`HEADROOMS`: the demand the pool is sized for, as a
    multiple of the base rate of the agent's origins); then one *power mode*
    (:data:`POWER_MODES`): ``saver`` sizes the pool for its load only, so that idle replicas
    go and idle nodes switch off; ``absorber`` keeps every running replica of the pool and
    pre-warms one spare per served service, on nodes that are on anyway. The base rate is
    the larger of the last measured rate and the mean of the last six periods.
Cloud rule
    The cloud regions are not agents: each cloud pool serves what the agents offload to it
    plus the demand of origins no agent owns (sized at 1.1 times the base rate) with the
    replicas the shield's SLO guard needs, and releases at most 20 % of its idle replicas
    per period (a scale-down stabilization).
Safety shield
    The agents' pool plan goes through :func:`edgebound.mpc.shield.shield`, which places whole
    replicas on nodes within capacities *at the power caps*, the migration caps and the SLO
    guard, so every action the plant receives is safe whatever the agents choose; the number
    of entries it changed is reported in ``infos[agent]["interventions"]``.
Observation (``Box``, per agent, clipped to [-1, 10])
    Per service: the agent's base rate over its nominal demand, its change over the rate of
    the period before, the seasonal-naive forecast of the coming period (the rate one day
    earlier, from the warm-up history of :func:`~edgebound.mpc.controller.warmup_history`)
    over the base rate, the pool's replica capacity over the nominal demand, the pool's
    utilization, the share of the agent's demand dropped, the service's p95 latency over its
    SLO and whether the agent has demand of it; then the pool's power over its peak, its
    free vCPU and GPU shares within the power caps (congestion signals), the share of its
    nodes that are on, the time of day (sine, cosine) and the episode's progress.
State (``env.state()``)
    For a centralized critic: per service the total demand, capacity, p95 over SLO, drop share
    and mean utilization; per pool (cloud included) power, free vCPU and replica share; time.
Reward
    From the paper's metrics, :class:`RewardWeights`: minus ``latency`` times the mean
    latency of admitted requests in units of their SLO, ``slo`` times the share of arrivals
    that were late or dropped, and ``energy`` times the energy per admitted request over the
    instance's reference (peak power of all nodes over the mean demand). ``reward="shared"``
    gives every agent the plant-wide value; ``"local"`` gives each its own origins' requests
    and its own nodes' energy plus its share of the cloud's (lateness and latency apportioned
    by the agent's share of each service's admitted requests).

Examples
--------
>>> env = ContinuumMARLEnv("continuum-3edge-2cloud", periods=2)
>>> obs, infos = env.reset(seed=0)
>>> env.agents
['edge-a', 'edge-b', 'edge-c']
>>> obs["edge-a"].shape, env.action_space("edge-a").shape
((55,), (13,))
>>> actions = {a: env.action_space(a).sample() for a in env.agents}
>>> obs, rewards, terms, truncs, infos = env.step(actions)
>>> bool(rewards["edge-a"] < 0), truncs["edge-a"]
(True, False)
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from edgebound.errors import DecisionError, EdgeboundError, Problem
from edgebound.evaluate.placement import _data
from edgebound.instances import Instance, load
from edgebound.instances.traces import demand_series
from edgebound.sim.continuum import (
    ContinuumPlant,
    PlantAction,
    PlantObservation,
    PlantResult,
    StepInfo,
    demand_matrix,
)

__all__ = [
    "ENV_NAME",
    "HEADROOMS",
    "LOCAL_SHARES",
    "POWER_MODES",
    "AgentView",
    "ContinuumMARLEnv",
    "MARLError",
    "MultiAgentController",
    "RewardWeights",
]

ENV_NAME = "edgebound_continuum_v0"
LOCAL_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
"""Share of an agent's demand of a service that its own pool serves."""
HEADROOMS = (1.0, 1.15, 1.3, 1.5, 2.0)
"""Demand a pool is sized for, as a multiple of the last measured rate."""
POWER_MODES = ("saver", "absorber")
"""``saver``: replicas for the load only; ``absorber``: keep every running replica of the pool
and one spare per served service."""

_OBS_LOW, _OBS_HIGH = -1.0, 10.0
_WINDOW = 6  # periods averaged into the base rate
_CLOUD_KEEP = 0.8  # the cloud rule releases at most 20 % of a pool's replicas per period
_PER_SERVICE = 8
_PER_AGENT = 7


class MARLError(EdgeboundError, ValueError):
    """The multi-agent environment or learner was given an option it cannot use.

    Examples
    --------
    >>> print(MARLError(str(Problem("granularity", "rack", "must be 'cluster' or 'node'"))))
    granularity: 'rack' must be 'cluster' or 'node'
    """


def _bad(field: str, value: Any, allowed: str) -> MARLError:
    return MARLError(str(Problem(field, value, allowed)))


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the reward's terms (all >= 0).

    Attributes
    ----------
    latency : float
        Mean latency of admitted requests, in units of their service's SLO.
    slo : float
        Share of arrivals late or dropped.
    energy : float
        Energy per admitted request over the instance's reference.

    Examples
    --------
    >>> RewardWeights().slo
    20.0
    >>> RewardWeights(energy=-1)
    Traceback (most recent call last):
    ...
    edgebound.envs.continuum_marl.MARLError: reward_weights.energy: -1 must be a finite number >= 0
    """

    latency: float = 1.0
    slo: float = 20.0
    energy: float = 1.0

    def __post_init__(self) -> None:
        for name in ("latency", "slo", "energy"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise _bad(f"reward_weights.{name}", v, "must be a finite number >= 0")


# Layout and pools of an instance are costly on large instances (the SLO rate-limit tables):
# kept per (instance, granularity), with the instance alive so its id is not reused.
_CACHE: dict[tuple[int, str], tuple[Instance, Any, Any]] = {}


def _structure(instance: Instance, granularity: str) -> tuple[Any, Any]:
    from edgebound.mpc._layout import _layout, _pools

    key = (id(instance), granularity)
    if key not in _CACHE:
        if len(_CACHE) >= 8:
            _CACHE.pop(next(iter(_CACHE)))
        lay = _layout(instance)
        _CACHE[key] = (instance, lay, _pools(lay, instance, granularity))
    return _CACHE[key][1], _CACHE[key][2]


class AgentView:
    """The agents' side of the plant: observations, state, action decoding and rewards.

    Shared by :class:`ContinuumMARLEnv` and :class:`MultiAgentController`, so a policy trained
    on the environment acts identically when it runs as a plant controller.

    Parameters
    ----------
    instance : Instance
    granularity : {"cluster", "node"}
    reward : {"shared", "local"}
    reward_weights : RewardWeights, optional
    periods : int
        Periods of an episode (for the progress feature).

    Attributes
    ----------
    agents : tuple of str
        One per edge pool: the cluster's or the node's name.
    clusters : tuple of str
        The agents' clusters (the clients of federated learning).
    cluster_of : ndarray of int, shape (A,)
        Index into ``clusters`` of each agent.
    own : ndarray, shape (A, I)
        Share of each origin's demand that each agent handles.
    nvec : ndarray of int
        Levels of each action entry (the ``MultiDiscrete`` space).
    obs_dim, state_dim : int
        Lengths of an observation and of the global state.
    layout, pools
        The shield's structures of the instance (routes, SLO rate limits, pools).

    Examples
    --------
    >>> view = AgentView(load("continuum-3edge-2cloud"))
    >>> view.agents, view.obs_dim, view.nvec.tolist()[-1]
    (('edge-a', 'edge-b', 'edge-c'), 55, 2)
    """

    def __init__(
        self,
        instance: Instance,
        *,
        granularity: Literal["cluster", "node"] = "cluster",
        reward: Literal["shared", "local"] = "shared",
        reward_weights: RewardWeights | None = None,
        periods: int | None = None,
    ) -> None:
        from edgebound.forecast import daily_season
        from edgebound.mpc.controller import warmup_history

        if granularity not in ("cluster", "node"):
            raise _bad("granularity", granularity, "must be 'cluster' or 'node'")
        if reward not in ("shared", "local"):
            raise _bad("reward", reward, "must be 'shared' or 'local'")
        self.instance = instance
        self.granularity = granularity
        self.reward = reward
        self.weights = reward_weights or RewardWeights()
        d = _data(instance)
        self._d = d
        self.layout, self.pools = _structure(instance, granularity)
        nodes = instance.topology.nodes
        S, NI, N = len(d.services), len(d.origins), len(d.nodes)
        G = len(self.pools.members)
        edge = [g for g, m in enumerate(self.pools.members) if nodes[m[0]].tier == "edge"]
        self.cloud_pools = np.array(
            [
                g
                for g in range(G)
                if g not in edge and nodes[self.pools.members[g][0]].tier == "cloud"
            ],
            dtype=np.int64,
        )
        if not edge:
            raise _bad("instance", instance.name, "has no edge node that can host a service")
        self.agent_pool = np.array(edge, dtype=np.int64)
        self.agents = tuple(self.pools.names[g] for g in edge)
        A = len(edge)
        self.member = np.zeros((G, N))
        for g, m in enumerate(self.pools.members):
            self.member[g, m] = 1.0
        # origins belong to the nearest edge cluster; its agents share them evenly
        group = [nodes[self.pools.members[g][0]].cluster or self.pools.names[g] for g in edge]
        self.own = np.zeros((A, NI))
        keys = list(dict.fromkeys(group))
        mean_lat = np.full((len(keys), NI), np.inf)
        for c, key in enumerate(keys):
            idx = np.concatenate([self.pools.members[edge[a]] for a in range(A) if group[a] == key])
            lat = d.net_ms[:, idx]
            ok = np.isfinite(lat)
            mean_lat[c] = np.where(
                ok.any(axis=1),
                np.where(ok, lat, 0).sum(axis=1) / np.maximum(ok.sum(axis=1), 1),
                np.inf,
            )
        self.clusters = tuple(keys)
        self.cluster_of = np.array([keys.index(k) for k in group], dtype=np.int64)
        for i in range(NI):
            c = int(np.argmin(mean_lat[:, i]))
            if np.isfinite(mean_lat[c, i]):
                mine = [a for a in range(A) if group[a] == keys[c]]
                self.own[mine, i] = 1.0 / len(mine)
        # pool routes: which pool may serve (s, i), and the nearest cloud pool for it
        self.route = np.zeros((S, NI, G), dtype=bool)
        self.route[self.pools.routes[:, 0], self.pools.routes[:, 1], self.pools.routes[:, 2]] = True
        self.kappa = np.full((S, G), np.inf)
        self.kappa[self.pools.pairs[:, 0], self.pools.pairs[:, 1]] = self.pools.kappa
        # the nearest pool of each (s, i), and its nearest cloud pool (-1: none)
        routes, lat = self.pools.routes, self.pools.lat_ms
        self.best_route = _nearest(routes, lat, np.ones(len(routes), dtype=bool), (S, NI))
        self.cloud_of = _nearest(routes, lat, np.isin(routes[:, 2], self.cloud_pools), (S, NI))
        # normalizers
        self.nominal = self.own @ d.lam.T  # (A, S)
        gpus = d.cap["gpus"]
        peak = d.idle_w + d.dyn_w + gpus * np.where(gpus > 0, d.gpu_idle_w + d.gpu_dyn_w, 0.0)
        self.peak_w = np.nan_to_num(peak)
        self.ref_j = max(float(self.peak_w.sum()) / max(float(d.lam.sum()), 1e-9), 1e-9)
        self.slo_ref_ms = np.where(np.isnan(d.slo_ms), 1000.0 / d.mu, d.slo_ms)
        self.eff_cpu = self.member @ self.layout.eff_cap["cpu"]
        self.eff_gpu = self.member @ self.layout.eff_cap["gpus"]
        step = instance.workload.step_s
        self.season = daily_season(step)
        self.period_s = float(step)
        self._warm = demand_matrix(instance, warmup_history(instance, self.season))
        self.periods = int(periods or instance.workload.horizon_steps)
        self.nvec = np.array([len(LOCAL_SHARES)] * S + [len(HEADROOMS)] * S + [len(POWER_MODES)])
        self.obs_dim = _PER_SERVICE * S + _PER_AGENT
        self.state_dim = 5 * S + 3 * G + 3

    # ------------------------------------------------------------------ observations

    def _rates(self, obs: PlantObservation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Base rate to size for, previous rate and the seasonal forecast of the coming period.

        The base is the larger of the last measured rate and the mean of the last
        :data:`_WINDOW` periods (the warm-up history before the run), so that a sparse demand
        whose last period happened to see no request is still served.
        """
        hist = obs.demand_history
        t = hist.shape[2]
        k = _WINDOW + 1
        full = np.concatenate([self._warm[:, :, -k:], hist], axis=2)[:, :, -k:]
        recent = np.maximum(full[:, :, -1], full[:, :, -_WINDOW:].mean(axis=2))
        prev = full[:, :, -2]
        fc = self._warm[:, :, t - self.season] if t < self.season else hist[:, :, t - self.season]
        return recent, prev, fc

    def observe(self, obs: PlantObservation) -> dict[str, np.ndarray]:
        """Each agent's observation vector, float32 of length :attr:`obs_dim`."""
        d = self._d
        recent, prev, fc = self._rates(obs)
        own = self.own
        nom = self.nominal
        with np.errstate(divide="ignore", invalid="ignore"):
            r_a, p_a, f_a = own @ recent.T, own @ prev.T, own @ fc.T
            held = (obs.replicas + obs.pending).astype(float)
            pool_x = held @ self.member[self.agent_pool].T  # (S, A)
            cap_a = (pool_x * d.mu[:, None]).T
            w_util = (obs.utilization * held) @ self.member[self.agent_pool].T
            util_a = np.where(pool_x > 0, w_util / np.where(pool_x > 0, pool_x, 1), 0).T
            drop_a = own @ obs.dropped.T
            feats = [
                _ratio(r_a, nom),
                _ratio(r_a, p_a) - 1.0,
                _ratio(f_a, r_a),
                _ratio(cap_a, nom),
                util_a,
                _ratio(drop_a, r_a),
                np.broadcast_to(np.nan_to_num(obs.p95_ms / self.slo_ref_ms), r_a.shape),
                (nom > 0).astype(float),
            ]
            per_s = np.stack(feats, axis=2).reshape(len(self.agents), -1)
            used_cpu = held.T @ d.need["cpu"]
            used_gpu = held.T @ d.need["gpus"]
            m = self.member[self.agent_pool]
            ag = np.stack(
                [
                    _ratio(m @ obs.power_w, m @ self.peak_w),
                    1.0 - _ratio(m @ used_cpu, self.eff_cpu[self.agent_pool]),
                    1.0 - _ratio(m @ used_gpu, self.eff_gpu[self.agent_pool]),
                    _ratio(m @ (held.sum(axis=0) > 0), m.sum(axis=1)),
                    *self._clock(obs.period, len(self.agents)),
                ],
                axis=1,
            )
        out = np.clip(np.concatenate([per_s, ag], axis=1), _OBS_LOW, _OBS_HIGH).astype(np.float32)
        return {a: out[k] for k, a in enumerate(self.agents)}

    def _clock(self, period: int, n: int) -> list[np.ndarray]:
        phase = 2.0 * math.pi * (period % self.season) / self.season
        return [
            np.full(n, math.sin(phase)),
            np.full(n, math.cos(phase)),
            np.full(n, period / max(self.periods, 1)),
        ]

    def state(self, obs: PlantObservation) -> np.ndarray:
        """The global state for a centralized critic, float32 of length :attr:`state_dim`."""
        d = self._d
        recent, _, _ = self._rates(obs)
        held = (obs.replicas + obs.pending).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = d.lam.sum(axis=1)
            per_s = [
                _ratio(recent.sum(axis=1), lam),
                _ratio(held.sum(axis=1) * d.mu, lam),
                np.nan_to_num(obs.p95_ms / self.slo_ref_ms),
                _ratio(obs.dropped.sum(axis=1), recent.sum(axis=1)),
                _ratio((obs.utilization * held).sum(axis=1), held.sum(axis=1)),
            ]
            used_cpu = held.T @ d.need["cpu"]
            per_g = [
                _ratio(self.member @ obs.power_w, self.member @ self.peak_w),
                1.0 - _ratio(self.member @ used_cpu, self.eff_cpu),
                self.member @ held.sum(axis=0) / max(float(held.sum()), 1.0),
            ]
        vec = np.concatenate([*per_s, *per_g, *(c[:1] for c in self._clock(obs.period, 1))])
        return np.clip(vec, _OBS_LOW, _OBS_HIGH).astype(np.float32)

    # ------------------------------------------------------------------ actions

    def decode(self, actions: Mapping[str, Any], obs: PlantObservation) -> PlantAction:
        """The shielded plant action of the agents' actions.

        Raises
        ------
        DecisionError
            If an agent's action is missing, has the wrong length or a level out of range.
        """
        from edgebound.mpc.shield import shield

        d = self._d
        S, NI = d.lam.shape
        G = len(self.pools.members)
        A = len(self.agents)
        act = np.empty((A, len(self.nvec)), dtype=np.int64)
        problems = []
        for k, a in enumerate(self.agents):
            v = np.asarray(actions.get(a, ()) if isinstance(actions, Mapping) else ())
            if v.shape != self.nvec.shape:
                problems.append(
                    Problem(f"actions.{a}", v.shape, f"must have shape {self.nvec.shape}")
                )
                continue
            if not np.all((v >= 0) & (v < self.nvec) & (v == np.round(v))):
                problems.append(
                    Problem(
                        f"actions.{a}",
                        v.tolist(),
                        f"levels must be whole numbers in [0, {self.nvec.tolist()})",
                    )
                )
                continue
            act[k] = v
        if problems:
            raise DecisionError(problems)
        local = np.asarray(LOCAL_SHARES)[act[:, :S]]  # (A, S)
        head = np.asarray(HEADROOMS)[act[:, S : 2 * S]]
        absorb = act[:, -1] == 1
        recent, _, _ = self._rates(obs)
        R = np.zeros((S, NI, G))
        guard = self.own[:, None, :] * recent[None, :, :] * head[:, :, None]  # (A, S, I)
        for k, g in enumerate(self.agent_pool):
            ok = self.route[:, :, g]
            cloud = self.cloud_of
            keep = np.where(ok, local[k][:, None], 0.0)
            keep = np.where(cloud < 0, 1.0, keep)
            R[:, :, g] += keep * guard[k]
            off = (1.0 - keep) * guard[k]
            ss, ii = np.nonzero((off > 0) & (cloud >= 0))
            np.add.at(R, (ss, ii, cloud[ss, ii]), off[ss, ii])
        rest = np.maximum(0.0, 1.0 - self.own.sum(axis=0))  # origins (partly) without agents
        ss, ii = np.nonzero((rest[None, :] * recent > 0) & (self.best_route >= 0))
        np.add.at(R, (ss, ii, self.best_route[ss, ii]), 1.1 * rest[ii] * recent[ss, ii])
        held = np.asarray(obs.replicas) + np.asarray(obs.pending)
        pool_held = held @ self.member.T  # (S, G)
        X = np.zeros((S, G))
        load = R.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            spare = np.nan_to_num(np.where(load > 0, load / self.kappa + 1.0, 0.0), posinf=0.0)
        for k, g in enumerate(self.agent_pool):
            if absorb[k]:
                X[:, g] = np.maximum(pool_held[:, g], spare[:, g])
        X[:, self.cloud_pools] = _CLOUD_KEEP * pool_held[:, self.cloud_pools]
        demand = R.sum(axis=2)
        out = shield(
            self.layout, self.pools, X, R, demand, held, expected=np.minimum(recent, demand)
        )
        return out.action

    # ------------------------------------------------------------------ rewards

    def rewards(self, info: StepInfo, action: PlantAction) -> dict[str, float]:
        """Each agent's reward for a finished period (see the module documentation)."""
        w = self.weights
        slo = self.slo_ref_ms
        if self.reward == "shared":
            served = float(info.served.sum())
            arr = float(info.arrivals.sum())
            lat = float((info.latency_sum_ms / slo).sum()) / max(served, 1.0)
            viol = (float(info.late.sum()) + float(info.dropped.sum())) / max(arr, 1.0)
            energy = info.energy_j / max(served, 1.0) / self.ref_j
            r = -(w.latency * lat + w.slo * viol + w.energy * energy)
            return dict.fromkeys(self.agents, float(r))
        own = self.own
        srv_si = info.served
        srv_a = own @ srv_si.T  # (A, S)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = _ratio(srv_a, srv_si.sum(axis=1)[None, :])
        late_a = frac @ info.late
        lat_a = frac @ (info.latency_sum_ms / slo)
        arr_a = (own @ info.arrivals.T).sum(axis=1)
        drop_a = (own @ info.dropped.T).sum(axis=1)
        served_a = srv_a.sum(axis=1)
        e_node = info.power_w * self.period_s
        e_a = self.member[self.agent_pool] @ e_node
        if self.cloud_pools.size:
            cloud_n = self.member[self.cloud_pools].sum(axis=0) > 0
            share = np.asarray(action.routing)
            tot = share.sum(axis=2)
            with np.errstate(divide="ignore", invalid="ignore"):
                to_cloud = _ratio(share[:, :, cloud_n].sum(axis=2), tot)
            cloud_srv = own @ (srv_si * to_cloud).T  # (A, S)
            c_a = cloud_srv.sum(axis=1)
            e_a = e_a + float(e_node[cloud_n].sum()) * _ratio(c_a, np.full_like(c_a, c_a.sum()))
        r = -(
            w.latency * lat_a / np.maximum(served_a, 1.0)
            + w.slo * (late_a + drop_a) / np.maximum(arr_a, 1.0)
            + w.energy * e_a / np.maximum(served_a, 1.0) / self.ref_j
        )
        return {a: float(r[k]) for k, a in enumerate(self.agents)}


def _nearest(
    routes: np.ndarray, lat: np.ndarray, keep: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Pool of the lowest-latency kept route of each (s, i), -1 where none."""
    out = np.full(shape, -1, dtype=np.int64)
    sel = np.flatnonzero(keep)
    if sel.size:
        key = routes[sel, 0] * shape[1] + routes[sel, 1]
        order = sel[np.lexsort((lat[sel], key))]  # by (s, i), fastest first
        _, first = np.unique(routes[order, 0] * shape[1] + routes[order, 1], return_index=True)
        best = order[first]
        out[routes[best, 0], routes[best, 1]] = routes[best, 2]
    return out


def _ratio(num: Any, den: Any) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return out


class ContinuumMARLEnv(ParallelEnv):
    """The continuum plant as a PettingZoo parallel environment (see the module docs).

    Parameters
    ----------
    instance : Instance or str
        An instance or a bundled name / file.
    granularity : {"cluster", "node"}
        One agent per edge cluster or per edge node.
    reward : {"shared", "local"}
    reward_weights : RewardWeights, optional
    periods : int, optional
        Periods per episode (default: the whole demand).
    seed : int
        Plant seed of the first ``reset()`` without a seed.
    **plant_options
        Passed to :class:`~edgebound.sim.continuum.ContinuumPlant` (``slot_s``, ``jitter``,
        ``arrivals``, ...).

    Attributes
    ----------
    view : AgentView
    last_action : PlantAction or None
        The shielded action of the last step.

    Examples
    --------
    >>> env = ContinuumMARLEnv("continuum-3edge-2cloud", periods=1)
    >>> obs, _ = env.reset(seed=4)
    >>> _, rewards, _, truncations, infos = env.step({a: np.r_[[4] * 6, [1] * 6, 0] for a in obs})
    >>> truncations["edge-c"], env.agents, infos["edge-a"]["power_cap_violations"]
    (True, [], 0)
    >>> env.result().periods
    1
    """

    metadata = {"name": ENV_NAME, "render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        instance: Instance | str = "continuum-3edge-2cloud",
        *,
        granularity: Literal["cluster", "node"] = "cluster",
        reward: Literal["shared", "local"] = "shared",
        reward_weights: RewardWeights | None = None,
        periods: int | None = None,
        seed: int = 0,
        **plant_options: Any,
    ) -> None:
        inst = instance if isinstance(instance, Instance) else load(instance)
        self.instance = inst
        self._demand = demand_series(inst)
        T = self._demand.shape[1]
        if periods is not None and not (isinstance(periods, int) and 1 <= periods <= T):
            raise _bad("periods", periods, f"must be a whole number from 1 to {T}")
        self.periods = T if periods is None else int(periods)
        self.view = AgentView(
            inst,
            granularity=granularity,
            reward=reward,
            reward_weights=reward_weights,
            periods=self.periods,
        )
        self.possible_agents = list(self.view.agents)
        self.agents: list[str] = []
        self._seed = int(seed)
        self._options = plant_options
        self._obs_space = spaces.Box(_OBS_LOW, _OBS_HIGH, (self.view.obs_dim,), np.float32)
        self._act_space = spaces.MultiDiscrete(self.view.nvec)
        self.state_space = spaces.Box(_OBS_LOW, _OBS_HIGH, (self.view.state_dim,), np.float32)
        self.plant: ContinuumPlant | None = None
        self._obs: PlantObservation | None = None
        self.last_action: PlantAction | None = None
        self._infos: list[StepInfo] = []
        self._actions: list[PlantAction] = []
        self._wall = 0.0

    @functools.cache  # noqa: B019 (the same space object every call)
    def observation_space(self, agent: str) -> spaces.Box:
        """The observation space of ``agent`` (the same object every call)."""
        return self._obs_space

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.MultiDiscrete:
        """The action space of ``agent`` (the same object every call)."""
        return self._act_space

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start an episode on plant seed ``seed`` (default: the last one used)."""
        if seed is not None:
            self._seed = int(seed)
        self.plant = ContinuumPlant(
            self.instance, demand=self._demand, seed=self._seed, **self._options
        )
        self._obs = self.plant.reset()
        self.agents = list(self.possible_agents)
        self.last_action = None
        self._infos, self._actions, self._wall = [], [], 0.0
        return self.view.observe(self._obs), {a: {} for a in self.agents}

    def state(self) -> np.ndarray:
        """The global state (see the module documentation)."""
        if self._obs is None:
            raise MARLError("state: call reset() first")
        return self.view.state(self._obs)

    def step(
        self, actions: Mapping[str, Any]
    ) -> tuple[
        dict[str, np.ndarray],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        """Apply the agents' actions (shielded) for one control period."""
        if self.plant is None or self._obs is None or not self.agents:
            raise MARLError("step: call reset() first; the episode is over")
        t0 = time.perf_counter()
        action = self.view.decode(actions, self._obs)
        self._obs, info = self.plant.step(action)
        self._wall += time.perf_counter() - t0
        self.last_action = action
        self._infos.append(info)
        self._actions.append(action)
        rewards = self.view.rewards(info, action)
        done = self.plant.t >= self.periods
        common = {
            "interventions": int(action.interventions),
            "energy_j": float(info.energy_j),
            "arrivals": float(info.arrivals.sum()),
            "dropped": float(info.dropped.sum()),
            "late": float(info.late.sum()),
            "power_cap_violations": int(info.power_cap_violations),
            "migration_cap_violations": int(info.migration_cap_violations),
        }
        agents = self.agents
        obs = self.view.observe(self._obs)
        if done:
            self.agents = []
        return (
            obs,
            rewards,
            dict.fromkeys(agents, False),
            dict.fromkeys(agents, done),
            {a: dict(common) for a in agents},
        )

    def result(self, controller_name: str = "marl-env") -> PlantResult:
        """The episode so far as a :class:`~edgebound.sim.continuum.PlantResult`."""
        if self.plant is None or not self._infos:
            raise MARLError("result: no step has been taken")
        return PlantResult.build(
            self.plant,
            controller_name=controller_name,
            infos=self._infos,
            actions=self._actions,
            wall_s=self._wall,
        )

    def render(self) -> None:
        """Nothing to render (``render_modes`` is empty)."""

    def close(self) -> None:
        """Nothing to release."""


class MultiAgentController:
    """A multi-agent policy as a plant controller (``Controller`` protocol).

    Parameters
    ----------
    view : AgentView
    policy : callable
        ``policy(observations) -> actions``: dicts keyed by agent name.
    name : str

    Examples
    --------
    >>> from edgebound.sim.continuum import run
    >>> inst = load("continuum-3edge-2cloud")
    >>> view = AgentView(inst)
    >>> keep = lambda obs: {a: np.r_[[4] * 6, [1] * 6, 0] for a in obs}
    >>> res = run(inst, MultiAgentController(view, keep, "all-local"), periods=2)
    >>> res.summary["power_cap_violations"], res.summary["migration_cap_violations"]
    (0.0, 0.0)
    """

    def __init__(
        self,
        view: AgentView,
        policy: Callable[[dict[str, np.ndarray]], Mapping[str, Any]],
        name: str = "marl",
    ) -> None:
        self.view = view
        self.policy = policy
        self.name = name

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        """Check that the instance is the view's."""
        if instance is not self.view.instance and instance != self.view.instance:
            raise _bad("instance", instance.name, f"must be the view's {self.view.instance.name}")

    def act(self, obs: PlantObservation) -> PlantAction:
        """The shielded action of the policy's actions."""
        return self.view.decode(self.policy(self.view.observe(obs)), obs)
