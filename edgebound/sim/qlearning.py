"""The versioning paper's Q-learning update agent (§IV, Algorithm 1).

A tabular agent over the state of eq 13, (Z_k, f_k, Q_k, e, Ω), with the queue length
clipped at ``queue_cap``; actions 0 (keep / stable version) and 1 (update / newest version);
reward eq 15 with the instance's weights (1, 10, 10, 10 in the paper) and the delay
normalized as in the ``weighted`` objective. Q-values follow
:math:`Q(s,a) \\leftarrow Q(s,a) + \\alpha (r + \\gamma \\max_{a'} Q(s',a') - Q(s,a))` with
α = 0.01 and γ = 0.99; exploration is ε-greedy with ε falling linearly from 1 to 0.001,
reached after half of the run (the paper's "by half of the events"). Ties go to a random
action.

:class:`QLearningAgent` is written against the Gymnasium environment
``edgebound/MMVUpdate-v0`` (:func:`train` is its loop, and the example of plugging in your own
agent); :class:`QLearningPolicy` wraps it in the simulator's
:class:`~edgebound.sim.policy.Policy` protocol, learning during the run as the paper does.

Examples
--------
>>> from edgebound.instances import load
>>> from edgebound.sim import simulate
>>> res = simulate(load("gentzen-star4"), QLearningPolicy(), arrivals=3000, seed=0)
>>> 0 < res.counts["updates"] < res.counts["decisions"]
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgebound.sim.policy import Observation

if TYPE_CHECKING:
    import gymnasium as gym

    from edgebound.instances import Instance

__all__ = ["QLearningAgent", "QLearningPolicy", "state_key", "train"]


def state_key(observation: Observation | Sequence[int] | np.ndarray, queue_cap: int) -> tuple:
    """The Q-table key of an observation: eq 13's state with the queue clipped.

    Accepts a simulator :class:`~edgebound.sim.policy.Observation` or the environment's
    flat observation (which is already clipped).

    Examples
    --------
    >>> state_key(np.array([1, 0, 2, 5, 1, 0, 1, 0, 0]), 10)
    (1, 0, 2, 5, 1, 0, 1, 0, 0)
    """
    if isinstance(observation, Observation):
        o = observation
        return (*o.node_free, o.service, min(o.queue, queue_cap), o.event, *o.omega)
    return tuple(int(x) for x in observation)


class QLearningAgent:
    """Tabular ε-greedy Q-learning with the paper's settings.

    Parameters
    ----------
    alpha, gamma : float
        Learning rate and discount factor (paper: 0.01, 0.99).
    epsilon_start, epsilon_min : float
        Exploration probability at the start and its floor (paper: 1, 0.001).
    explore_fraction : float
        Share of the run after which ε reaches its floor (paper: half).
    queue_cap : int
        Queue lengths above this share one state.
    seed : int, optional
        Seed of the exploration draws when no generator is given to :meth:`reset`.

    Examples
    --------
    >>> agent = QLearningAgent(seed=0)
    >>> agent.epsilon(0.0), agent.epsilon(0.25), round(agent.epsilon(0.9), 6)
    (1.0, 0.5005, 0.001)
    >>> s = (1, 1, 0, 0, 0, 0, 1, 1, 0)
    >>> agent.update(s, 1, 2.0, s)
    >>> agent.greedy(s)
    1
    """

    def __init__(
        self,
        *,
        alpha: float = 0.01,
        gamma: float = 0.99,
        epsilon_start: float = 1.0,
        epsilon_min: float = 0.001,
        explore_fraction: float = 0.5,
        queue_cap: int = 10,
        seed: int | None = None,
    ) -> None:
        if not 0 < alpha <= 1 or not 0 <= gamma <= 1:
            raise ValueError("alpha must be in (0, 1] and gamma in [0, 1]")
        if not 0 <= epsilon_min <= epsilon_start <= 1 or not 0 < explore_fraction <= 1:
            raise ValueError("need 0 <= epsilon_min <= epsilon_start <= 1, 0 < explore_fraction")
        self.alpha = alpha
        self.gamma = gamma
        self.epsilon_start = epsilon_start
        self.epsilon_min = epsilon_min
        self.explore_fraction = explore_fraction
        self.queue_cap = queue_cap
        self.q: dict[tuple, list[float]] = {}
        self._rng = np.random.default_rng(seed)
        self._u: list[float] = []

    def reset_table(self) -> None:
        """Forget everything learned."""
        self.q = {}

    def seed(self, rng: np.random.Generator) -> None:
        """Use ``rng`` for the exploration draws."""
        self._rng = rng
        self._u = []

    def epsilon(self, progress: float) -> float:
        """ε after ``progress`` (0 to 1) of the run: linear to the floor at ``explore_fraction``."""
        frac = min(progress / self.explore_fraction, 1.0)
        return self.epsilon_start + (self.epsilon_min - self.epsilon_start) * frac

    def _uniform(self) -> float:
        # one numpy call per 4096 draws: a call per decision would dominate long runs
        if not self._u:
            self._u = self._rng.random(4096).tolist()
        return self._u.pop()

    def greedy(self, key: tuple) -> int:
        """The action of highest Q-value in state ``key`` (ties: random)."""
        q = self.q.get(key)
        if q is None or q[0] == q[1]:
            return int(self._uniform() < 0.5)
        return int(q[1] > q[0])

    def select(self, key: tuple, progress: float) -> int:
        """ε-greedy action in state ``key``."""
        if self._uniform() < self.epsilon(progress):
            return int(self._uniform() < 0.5)
        return self.greedy(key)

    def update(self, key: tuple, action: int, reward: float, next_key: tuple | None) -> None:
        """One Q-learning step; ``next_key=None`` marks the end of an episode."""
        q = self.q.get(key)
        if q is None:
            q = self.q[key] = [0.0, 0.0]
        target = reward
        if next_key is not None:
            nq = self.q.get(next_key)
            if nq is not None:
                target += self.gamma * max(nq)
        q[action] += self.alpha * (target - q[action])


class QLearningPolicy(QLearningAgent):
    """The Q-learning agent as a simulator :class:`~edgebound.sim.policy.Policy`.

    It learns during the run: each observation carries the reward of the previous decision.
    ``reset`` clears the table unless ``keep_table=True`` (to evaluate a trained agent).

    Examples
    --------
    >>> pol = QLearningPolicy()
    >>> pol.name
    'qlearning'
    """

    name = "qlearning"

    def __init__(self, *, keep_table: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keep_table = keep_table
        self._prev: tuple | None = None
        self._prev_a = 0

    def reset(self, instance: Instance | None, rng: np.random.Generator) -> None:
        """Start a run: take the policy stream, and clear the table unless kept."""
        if not self.keep_table:
            self.reset_table()
        self.seed(rng)
        self._prev = None

    def act(self, observation: Observation) -> int:
        """Learn from the previous decision's reward, then choose ε-greedily."""
        o = observation
        key = (*o.node_free, o.service, min(o.queue, self.queue_cap), o.event, *o.omega)
        if self._prev is not None:
            self.update(self._prev, self._prev_a, o.reward, key)
        a = self.select(key, o.progress)
        self._prev = key
        self._prev_a = a
        return a


def train(env: gym.Env, agent: QLearningAgent, *, episodes: int = 1, seed: int = 0) -> list[float]:
    """Train ``agent`` on a Gymnasium environment; return each episode's mean reward.

    ε follows the progress over all episodes (``info["progress"]`` within one), so
    ``explore_fraction`` means the same as in a single simulator run.

    Examples
    --------
    >>> import gymnasium as gym
    >>> import edgebound.envs  # registers edgebound/MMVUpdate-v0
    >>> env = gym.make("edgebound/MMVUpdate-v0", arrivals=2000)
    >>> means = train(env, QLearningAgent(seed=0), episodes=2, seed=1)
    >>> len(means)
    2
    """
    out = []
    for ep in range(episodes):
        obs, info = env.reset(seed=seed + ep)
        key = state_key(obs, agent.queue_cap)
        total, steps, done = 0.0, 0, False
        while not done:
            progress = (ep + float(info.get("progress", 0.0))) / episodes
            a = agent.select(key, progress)
            obs, reward, terminated, truncated, info = env.step(a)
            done = terminated or truncated
            nxt = None if terminated else state_key(obs, agent.queue_cap)
            agent.update(key, a, float(reward), nxt)
            if nxt is not None:
                key = nxt
            total += float(reward)
            steps += 1
        out.append(total / max(steps, 1))
    return out
