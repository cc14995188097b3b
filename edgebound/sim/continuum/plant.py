"""The time-slotted continuum plant: demand, replicas, routing, queues, power.

One run covers ``T`` control periods of ``P = workload.step_s`` seconds. At the start of each
period the controller's :class:`~edgebound.sim.continuum.PlantAction` is applied; the period
is then simulated in ``K = P / slot_s`` slots, all slots of a period at once (numpy over
slots, streams and queues). The docs page "The continuum plant" explains the choices below.

Demand
    Origin i asks for service s at the period's rate ``lam[s, i, t]`` (default: the
    instance's :func:`~edgebound.instances.traces.demand_series`; with ``interpolate=True``
    linear between period midpoints). With ``arrivals="poisson"`` each slot's count is
    Poisson; ``"fluid"`` uses the expected count (no sampling noise).

Replicas and spawn delays
    Raising a count starts replicas that serve from the first slot starting at or after
    ``spawn_time_ms``; lowering it is immediate, cancelling spawning replicas first. A
    spawning replica holds its resources, costs money and keeps its node on. Migrations are
    replicas started: ``sum max(0, target - (serving + spawning))``. The migration cap
    (:func:`~edgebound.sim.continuum.migration_caps`) is a per-service rate per minute
    measured over the period, because an action starts replicas only at period starts; a
    (service, period) starting more is one migration-cap violation. The plant records
    violations and does not enforce the cap.

Routing
    A slot's requests of (s, i) go to node n with the action's share; a share pointing at a
    node whose replicas of s are all still spawning goes, like a load balancer that skips
    endpoints that are not ready, to the (s, i)'s other targets in proportion to their
    shares, and is dropped when none is ready. ``1 - sum_n share`` is dropped (admission
    control). Counts are split by multinomial sampling.

Queues
    Each (s, n) with ``c`` serving replicas is one FCFS queue of capacity ``C = c mu`` req/s.
    Work beyond capacity piles up as a fluid backlog, ``B <- max(0, B + A - C slot_s)``,
    carried across slots and periods; a request's latency is ``net x jitter + W + T``: the
    network latency times a jitter factor uniform on ``[1, 1 + jitter]`` drawn per (origin,
    node) path every ``jitter_s`` seconds (the paper's jitter up to 2x at ``jitter=1``),
    ``W`` the time to drain the slot's mean backlog at capacity, and ``T`` the M/M/c
    sojourn at the slot's arrival rate, capped at ``saturation x C`` (a saturated queue's
    excess is the fluid part). Queue dynamics follow the expected rates; sampled counts
    weigh the latencies and make the observed demand.
    Backlog of a queue that loses all its replicas is dropped.

Metrics
    Latency quantiles are exact quantiles of the mixture over every request of the run
    (each slot and stream weighted by its count), not averages of per-period quantiles.
    A request violates its SLO if its latency exceeds the service's ``latency_slo_ms``; a
    dropped request counts as a violation too (it never met its deadline) and is also
    reported in ``dropped_pct``; ``slo_violation_served_pct`` leaves drops out. Power per
    node and slot follows the evaluator's model (idle + dynamic x utilization, busy
    replicas being served rate over ``mu``, per GPU likewise); a node-slot whose CPU-side
    or per-GPU power is above its cap is one power-cap violation (the plant does not
    throttle). With fluid arrivals, no jitter, no backlog and every replica ready, a
    period's mean latency and power equal :func:`~edgebound.evaluate.placement.evaluate_placement`'s
    on the same decision.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from edgebound.errors import DecisionError, Problem
from edgebound.evaluate.placement import _RESOURCES, _data
from edgebound.instances import Instance
from edgebound.instances.traces import demand_series
from edgebound.sim.continuum._latency import Records
from edgebound.sim.continuum._period import simulate_period
from edgebound.sim.continuum.interface import (
    Controller,
    PlantAction,
    PlantObservation,
    StepInfo,
    demand_matrix,
    migration_caps,
)
from edgebound.sim.continuum.result import PlantResult
from edgebound.sim.mmv import SimulationError

__all__ = ["ContinuumPlant", "run"]

_TOL = 1e-9


class ContinuumPlant:
    """The continuum plant: step it period by period with a controller's actions.

    Parameters
    ----------
    instance : Instance
    demand : ndarray, shape (demands, T), optional
        Rates of each ``workload.demands`` entry per period (req/s); default
        :func:`~edgebound.instances.traces.demand_series` of the instance.
    seed : int
        Seeds arrivals, routing splits, jitter and the controller's generator; the arrival
        and jitter streams do not depend on the actions, so different controllers see the
        same demand and network under the same seed.
    slot_s : float
        Slot length; must divide ``workload.step_s``.
    jitter : float
        Network latency is multiplied by a factor uniform on ``[1, 1 + jitter]``.
    jitter_s : float
        How long one draw of the jitter factor of an (origin, node) path lasts; a multiple
        of ``slot_s``.
    arrivals : {"poisson", "fluid"}
    interpolate : bool
        Rates linear between period midpoints instead of constant over a period.
    saturation : float
        Highest utilization at which the M/M/c part of a queue is evaluated.
    timeout_factor : float
        A request gives up (is dropped) when the backlog ahead of it would take longer than
        this many times its service's SLO to drain; services without an SLO never time out.
    migration_cap_per_min : float, optional
        Replica starts per service per minute (see :func:`migration_caps`).
    initial_replicas : ndarray of int, shape (S, N), optional
        Replicas serving at time 0; default ``state.placement``.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> inst = load("continuum-3edge-2cloud")
    >>> plant = ContinuumPlant(inst, seed=1)
    >>> obs = plant.reset()
    >>> obs.period, obs.demand_history.shape, int(obs.replicas.sum())
    (0, (6, 6, 0), 129)
    """

    def __init__(
        self,
        instance: Instance,
        *,
        demand: np.ndarray | None = None,
        seed: int = 0,
        slot_s: float = 5.0,
        jitter: float = 1.0,
        jitter_s: float = 60.0,
        arrivals: Literal["poisson", "fluid"] = "poisson",
        interpolate: bool = False,
        saturation: float = 0.98,
        timeout_factor: float = 10.0,
        migration_cap_per_min: float | None = None,
        initial_replicas: np.ndarray | None = None,
    ) -> None:
        self.instance = instance
        d = _data(instance)
        self._d = d
        series = demand_series(instance) if demand is None else np.asarray(demand, dtype=float)
        self.demand = demand_matrix(instance, series)
        self.period_s = float(instance.workload.step_s)
        problems = []
        k = self.period_s / slot_s if slot_s > 0 else math.nan
        if not (slot_s > 0 and abs(k - round(k)) < 1e-9 and round(k) >= 1):
            problems.append(
                Problem(
                    "slot_s", slot_s, f"must be > 0 and divide the period of {self.period_s:g} s"
                )
            )
        if not (jitter >= 0 and math.isfinite(jitter)):
            problems.append(Problem("jitter", jitter, "must be finite and >= 0"))
        b = jitter_s / slot_s if slot_s > 0 else math.nan
        if not (jitter_s > 0 and abs(b - round(b)) < 1e-9 and round(b) >= 1):
            problems.append(Problem("jitter_s", jitter_s, "must be a positive multiple of slot_s"))
        if arrivals not in ("poisson", "fluid"):
            problems.append(Problem("arrivals", arrivals, "must be 'poisson' or 'fluid'"))
        if not 0 < saturation < 1:
            problems.append(Problem("saturation", saturation, "must be in (0, 1)"))
        if not timeout_factor > 0:
            problems.append(Problem("timeout_factor", timeout_factor, "must be > 0"))
        if problems:
            raise SimulationError("; ".join(str(p) for p in problems))
        self.slot_s = float(slot_s)
        self.slots = round(k)
        self.jitter = float(jitter)
        self.jitter_s = float(jitter_s)
        self.jitter_slots = max(1, round(jitter_s / slot_s)) if slot_s > 0 else 1
        self.arrivals = arrivals
        self.interpolate = bool(interpolate)
        self.saturation = float(saturation)
        self.timeout_factor = float(timeout_factor)
        self.timeout_s = np.where(np.isnan(d.slo_ms), np.inf, timeout_factor * d.slo_ms / 1000.0)
        self.seed = int(seed)
        self.migration_cap = migration_caps(instance, migration_cap_per_min)
        S, N = len(d.services), len(d.nodes)
        if initial_replicas is None:
            init = d.x_prev.astype(np.int64)
        else:
            init = np.asarray(initial_replicas)
            if init.shape != (S, N) or (init < 0).any() or (init != np.round(init)).any():
                raise SimulationError(
                    f"initial_replicas: must be whole numbers >= 0 of shape {(S, N)}"
                )
            init = init.astype(np.int64)
        self._init = init
        self.spawn_s = np.array([s.spawn_time_ms / 1000.0 for s in instance.services])
        per_replica = np.outer(d.need["cpu"], d.cost_vcpu) + np.outer(d.need["gpus"], d.cost_gpu)
        self._cost_rate = np.nan_to_num(per_replica) / 3600.0  # USD per replica-second
        self.reset()

    # ------------------------------------------------------------------ state

    @property
    def periods(self) -> int:
        """Number of periods of the demand."""
        return int(self.demand.shape[2])

    def reset(self) -> PlantObservation:
        """Start over (same seed, same run) and return the first observation.

        Returns
        -------
        PlantObservation
        """
        ss = np.random.SeedSequence(self.seed)
        arr, split, jit, ctrl = ss.spawn(4)
        self._rng_arrivals = np.random.default_rng(arr)
        self._rng_split = np.random.default_rng(split)
        self._rng_jitter = np.random.default_rng(jit)
        self.controller_rng = np.random.default_rng(ctrl)
        S, NI, N = self.demand.shape[0], self.demand.shape[1], len(self._d.nodes)
        self.t = 0
        self.serving = self._init.copy()
        self._cohorts: list[tuple[np.ndarray, np.ndarray]] = []  # (ready time (S,), counts)
        self.backlog = np.zeros((S, N))
        self._mix = np.zeros((S, N, NI))  # origin mix of each queue's recent arrivals
        self._observed = np.zeros((S, NI, 0))
        self._last: StepInfo | None = None
        self._prev_action: PlantAction | None = None
        self.records: list[Records] = []
        return self.observe()

    @property
    def pending(self) -> np.ndarray:
        """Replicas still spawning, shape (S, N)."""
        out = np.zeros_like(self.serving)
        for _, counts in self._cohorts:
            out += counts
        return out

    def observe(self) -> PlantObservation:
        """The observation at the start of the current period.

        Returns
        -------
        PlantObservation
        """
        S, NI = self.demand.shape[:2]
        N = len(self._d.nodes)
        last = self._last
        period_s = self.period_s
        return PlantObservation(
            period=self.t,
            time_s=self.t * period_s,
            demand_history=self._observed.copy(),
            replicas=self.serving.copy(),
            pending=self.pending,
            utilization=np.zeros((S, N)) if last is None else last.utilization.copy(),
            power_w=np.zeros(N) if last is None else last.power_w.copy(),
            p95_ms=np.full(S, np.nan) if last is None else last.p95_ms.copy(),
            dropped=np.zeros((S, NI)) if last is None else last.dropped / period_s,
            prev_action=self._prev_action,
        )

    # ------------------------------------------------------------------ checks

    def check(self, action: PlantAction) -> None:
        """Raise :class:`~edgebound.errors.DecisionError` if an action cannot be applied.

        Checked: shapes; whole replica counts >= 0; shares finite, >= 0 and summing to at
        most 1 per (s, i); replicas within every node's CPU, RAM, disk and GPUs and within
        each service's allowed regions; shares only to nodes that will host a replica and
        that the origin can reach; no replica on a node that ``nodes_on`` switches off.

        Parameters
        ----------
        action : PlantAction
        """
        d = self._d
        S, NI, N = len(d.services), len(d.origins), len(d.nodes)
        problems: list[Problem] = []
        x = np.asarray(action.replicas)
        r = np.asarray(action.routing, dtype=float)
        if x.shape != (S, N):
            problems.append(Problem("action.replicas.shape", x.shape, f"must be {(S, N)}"))
        if r.shape != (S, NI, N):
            problems.append(Problem("action.routing.shape", r.shape, f"must be {(S, NI, N)}"))
        on = action.nodes_on
        if on is not None and np.shape(on) != (N,):
            problems.append(Problem("action.nodes_on.shape", np.shape(on), f"must be {(N,)}"))
        if problems:
            raise DecisionError(problems)
        xf = x.astype(float)
        bad = ~np.isfinite(xf) | (xf < 0) | (xf != np.round(xf))
        for s, n in zip(*np.nonzero(bad), strict=True):
            problems.append(
                Problem(
                    f"action.replicas.{d.services[s]}.{d.nodes[n]}",
                    float(xf[s, n]),
                    "must be a whole number >= 0",
                )
            )
        for s, i, n in zip(*np.nonzero(~np.isfinite(r) | (r < 0)), strict=True):
            problems.append(
                Problem(
                    f"action.routing.{d.services[s]}.{d.origins[i]}.{d.nodes[n]}",
                    float(r[s, i, n]),
                    "must be a finite share >= 0",
                )
            )
        if problems:
            raise DecisionError(problems)
        tot = r.sum(axis=2)
        for s, i in zip(*np.nonzero(tot > 1.0 + 1e-9), strict=True):
            problems.append(
                Problem(
                    f"action.routing.{d.services[s]}.{d.origins[i]}",
                    float(tot[s, i]),
                    "shares over nodes must sum to at most 1",
                )
            )
        for res, unit, label in _RESOURCES:
            used = (xf * d.need[res][:, None]).sum(axis=0)
            cap = d.cap[res]
            over = used - cap > _TOL * np.maximum(1.0, cap)
            for n in np.nonzero(over)[0]:
                problems.append(
                    Problem(
                        f"action.replicas.*.{d.nodes[n]}",
                        Problem.MISSING,
                        f"node {d.nodes[n]} {label}: {used[n]:g} {unit} used > capacity "
                        f"{cap[n]:g} {unit}",
                    )
                )
        for s, n in zip(*np.nonzero((x > 0) & ~d.allowed), strict=True):
            region = self.instance.topology.nodes[n].region
            allowed = ", ".join(self.instance.services[s].allowed_regions or ())
            problems.append(
                Problem(
                    f"action.replicas.{d.services[s]}.{d.nodes[n]}",
                    int(x[s, n]),
                    f"replicas on node {d.nodes[n]} in region {region}; service "
                    f"{d.services[s]} may run only in {allowed}",
                )
            )
        stray = (r > 0) & (x[:, None, :] == 0)
        for s, i, n in zip(*np.nonzero(stray), strict=True):
            problems.append(
                Problem(
                    f"action.routing.{d.services[s]}.{d.origins[i]}.{d.nodes[n]}",
                    float(r[s, i, n]),
                    f"is a share sent to node {d.nodes[n]}, which hosts no replica of "
                    f"{d.services[s]} (target 0)",
                )
            )
        cut = (r > 0) & ~np.isfinite(d.net_ms)[None, :, :]
        for s, i, n in zip(*np.nonzero(cut), strict=True):
            problems.append(
                Problem(
                    f"action.routing.{d.services[s]}.{d.origins[i]}.{d.nodes[n]}",
                    float(r[s, i, n]),
                    f"is a share sent to node {d.nodes[n]}, which {d.origins[i]} cannot reach",
                )
            )
        if on is not None:
            off_used = ~np.asarray(on, dtype=bool) & (x.sum(axis=0) > 0)
            for n in np.nonzero(off_used)[0]:
                problems.append(
                    Problem(
                        f"action.nodes_on.{d.nodes[n]}",
                        False,
                        f"switches off node {d.nodes[n]}, which hosts {int(x[:, n].sum())} "
                        "replicas",
                    )
                )
        if problems:
            raise DecisionError(problems)

    # ------------------------------------------------------------------ the period

    def step(self, action: PlantAction) -> tuple[PlantObservation, StepInfo]:
        """Apply an action at the start of the current period and simulate the period.

        Parameters
        ----------
        action : PlantAction

        Returns
        -------
        observation : PlantObservation
            At the start of the next period.
        info : StepInfo

        Raises
        ------
        DecisionError
            If the action cannot be applied (see :meth:`check`).
        SimulationError
            If the demand has no period left.
        """
        if self.t >= self.periods:
            raise SimulationError(
                f"the run has {self.periods} periods and all have been simulated; reset() it"
            )
        self.check(action)
        info = simulate_period(self, action)
        self._last = info
        self._prev_action = action
        self.t += 1
        return self.observe(), info


def run(
    instance: Instance,
    controller: Controller,
    *,
    seed: int = 0,
    periods: int | None = None,
    demand: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
    **plant_options: Any,
) -> PlantResult:
    """Run a controller on the plant for ``periods`` periods (default: all of the demand).

    Parameters
    ----------
    instance : Instance
    controller : Controller
        Reset with the instance and a generator seeded from ``seed``.
    seed : int
    periods : int, optional
    demand : ndarray, shape (demands, T), optional
    progress : callable, optional
        Called as ``progress(done, total)`` after every period.
    **plant_options
        Passed to :class:`ContinuumPlant` (``slot_s``, ``jitter``, ``arrivals``, ...).

    Returns
    -------
    PlantResult

    Examples
    --------
    >>> from edgebound.instances import load
    >>> from edgebound.sim.autoscaler import StaticController
    >>> inst = load("continuum-3edge-2cloud")
    >>> res = run(inst, StaticController(), seed=0, periods=2)
    >>> res.summary["throughput_rps"] > 0, res.series["p95_ms"].shape
    (True, (2,))
    """
    t_wall = time.perf_counter()
    plant = ContinuumPlant(instance, demand=demand, seed=seed, **plant_options)
    total = plant.periods if periods is None else int(periods)
    if not 1 <= total <= plant.periods:
        raise SimulationError(f"periods: {periods!r} must be between 1 and {plant.periods}")
    obs = plant.reset()
    controller.reset(instance, plant.controller_rng)
    infos: list[StepInfo] = []
    actions: list[PlantAction] = []
    for t in range(total):
        action = controller.act(obs)
        obs, info = plant.step(action)
        infos.append(info)
        actions.append(action)
        if progress is not None:
            progress(t + 1, total)
    return PlantResult.build(
        plant,
        controller_name=str(getattr(controller, "name", type(controller).__name__)),
        infos=infos,
        actions=actions,
        wall_s=time.perf_counter() - t_wall,
    )
