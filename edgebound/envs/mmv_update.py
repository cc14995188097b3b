"""``edgebound/MMVUpdate-v0``: the versioning simulator as a Gymnasium environment.

One step is one update decision of :class:`~edgebound.sim.mmv.MMVSimulator` (see
:mod:`edgebound.sim.policy` for when decisions happen). An episode is one seeded run of
``arrivals`` requests; it terminates when the last request has been served.

Observation
    ``MultiDiscrete``, the state of eq 13 of the versioning paper, flattened:
    ``Z_1 .. Z_N`` (1 when one more replica of the newest version fits on node n), the
    service index ``f_k``, the queue length ``Q_k`` clipped at ``queue_cap``, the event
    ``e`` (0 arrival, 1 departure), and ``Ω`` (main version, security, reliability,
    accuracy differ).
Action
    ``Discrete(2)``: 1 update the replica (or deploy the newest version in a new one), 0 not.
Reward
    Eq 15 for the request the decision concerns: :math:`-w_1 \\psi + w_2 \\vartheta + w_3
    \\eta + w_4 \\upsilon` with the instance's weights and the delay :math:`\\psi` in units
    of the ``weighted`` objective's reference delay, so the mean reward per request is minus
    the ``weighted`` objective.
Info
    ``progress`` (share of arrivals generated), ``time_s``, ``kind`` (0 update, 1 create),
    ``service`` name; at the end also ``result`` (the run's :class:`SimResult`).

Examples
--------
>>> env = MMVUpdateEnv(arrivals=300)
>>> obs, info = env.reset(seed=1)
>>> obs.shape, int(env.action_space.n)
((11,), 2)
>>> obs, reward, terminated, truncated, info = env.step(1)
>>> bool(reward < 0 or reward > 0), truncated
(True, False)
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from edgebound.instances import Instance, load
from edgebound.sim.mmv import MMVSimulator
from edgebound.sim.policy import Observation

__all__ = ["ENV_ID", "MMVUpdateEnv"]

ENV_ID = "edgebound/MMVUpdate-v0"


class MMVUpdateEnv(gym.Env[np.ndarray, np.int64]):
    """The update decisions of the versioning simulator, one per step.

    Parameters
    ----------
    instance : Instance or str
        An instance or a bundled name / file (default ``gentzen-star4``).
    arrivals : int
        Requests per episode.
    queue_cap : int
        Queue lengths are clipped here in the observation.
    **options
        Passed to :class:`~edgebound.sim.mmv.MMVSimulator` (``load``, ``scaling``,
        ``scale_up_load``, ``min_replicas``, ...).
    """

    metadata = {"render_modes": []}  # noqa: RUF012  (gymnasium declares it per instance)

    def __init__(
        self,
        instance: Instance | str = "gentzen-star4",
        *,
        arrivals: int = 20_000,
        queue_cap: int = 10,
        **options: Any,
    ) -> None:
        self.instance = instance if isinstance(instance, Instance) else load(instance)
        self.arrivals = arrivals
        self.queue_cap = queue_cap
        self.options = options
        n_nodes = len(self.instance.node_names)
        n_svc = len(self.instance.services)
        nvec = [2] * n_nodes + [n_svc, queue_cap + 1, 2] + [2] * 4
        self.observation_space = spaces.MultiDiscrete(np.array(nvec, dtype=np.int64))
        self.action_space = spaces.Discrete(2)
        self._gen: Generator[Observation, int, float] | None = None
        self._sim: MMVSimulator | None = None
        self._obs = np.zeros(len(nvec), dtype=np.int64)
        self._last: Observation | None = None

    def _encode(self, o: Observation) -> np.ndarray:
        vec = [*o.node_free, o.service, min(o.queue, self.queue_cap), o.event, *o.omega]
        return np.array(vec, dtype=np.int64)

    def _info(self, o: Observation | None) -> dict[str, Any]:
        if o is None:
            return {"progress": 1.0}
        return {
            "progress": o.progress,
            "time_s": o.time_s,
            "kind": o.kind,
            "service": self.instance.service_names[o.service],
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new run; its seed is drawn from the environment's generator."""
        super().reset(seed=seed)
        run_seed = int(self.np_random.integers(2**31 - 1))
        self._sim = MMVSimulator(
            self.instance, arrivals=self.arrivals, seed=run_seed, **self.options
        )
        self._gen = self._sim.decisions()
        try:
            self._last = next(self._gen)
            self._obs = self._encode(self._last)
        except StopIteration:
            self._gen, self._last = None, None
            self._obs = np.zeros_like(self._obs)
        return self._obs.copy(), self._info(self._last)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply the decision and run the simulator to the next one."""
        if self._sim is None:
            raise RuntimeError("call reset() before step()")
        if self._gen is None:
            info = {**self._info(None), "result": self._sim.result("env")}
            return self._obs.copy(), 0.0, True, False, info
        try:
            self._last = self._gen.send(int(action))
        except StopIteration as stop:
            self._gen = None
            info = {**self._info(None), "result": self._sim.result("env")}
            return self._obs.copy(), float(stop.value), True, False, info
        self._obs = self._encode(self._last)
        return self._obs.copy(), float(self._last.reward), False, False, self._info(self._last)
