"""The ``Policy`` protocol of the versioning simulator, its observation, and the baselines.

The simulator (:mod:`edgebound.sim.mmv`) asks its policy for an *update decision* whenever a
replica could run a newer version than it would otherwise (the versioning paper, §IV):

* ``kind == CREATE``: the scaler starts a replica; action 1 deploys the newest released
  version, action 0 the service's stable (initial) version;
* ``kind == UPDATE``: a replica is about to take a request and a newer version exists;
  action 1 terminates it and respawns it with the newest version (the request waits for the
  spawn), action 0 keeps it.

Any object with ``reset(instance, rng)`` and ``act(observation) -> int`` plugs in; the
observation carries the reward (eq 15) of the policy's previous decision, so a learning
policy needs nothing else. A policy whose decisions do not depend on the observation may set
``observes = False``: :meth:`~edgebound.sim.mmv.MMVSimulator.run` then calls ``act(None)``
and skips building the observation and the reward, which is most of a decision's cost. The
run is the same either way.

Examples
--------
>>> import numpy as np
>>> from edgebound.sim import AlwaysUpdate, simulate
>>> from edgebound.instances import load
>>> res = simulate(load("gentzen-star4"), AlwaysUpdate(), arrivals=2000, seed=1)
>>> c = res.counts
>>> c["decisions"] > 0 and c["updates"] + c["create_newest"] == c["decisions"]
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from edgebound.instances import Instance

__all__ = [
    "CREATE",
    "UPDATE",
    "AlwaysUpdate",
    "NeverUpdate",
    "Observation",
    "Policy",
    "RandomUpdate",
    "make_policy",
]

UPDATE = 0
CREATE = 1


class Observation(NamedTuple):
    """What a policy sees at an update decision.

    The first five fields are the state of eq 13 of the versioning paper; the others are
    context a policy may use or ignore.

    Attributes
    ----------
    node_free : tuple of bool
        :math:`Z_k`: per node (instance order), whether one more replica of the service's
        newest version fits in the resources left.
    service : int
        :math:`f_k`: index of the service in ``instance.services``.
    queue : int
        :math:`Q_k`: requests of the service waiting in its queue.
    event : int
        :math:`e`: 0 when an arrival triggered the decision, 1 when a departure did.
    omega : tuple of int
        :math:`\\Omega`: 1 where the newest version differs from the one the replica would
        otherwise run: (main version, security, reliability, accuracy).
    kind : int
        :data:`UPDATE` (keep or respawn a replica) or :data:`CREATE` (version of a new one).
    reward : float
        Eq 15 of the policy's previous decision (0 at the first decision of a run).
    progress : float
        Share of the run's arrivals generated so far, in [0, 1].
    time_s : float
        Simulated time.
    version, newest : int
        Indices, in the service's release table, of the version the replica would run
        without an update and of the newest released version.
    """

    node_free: tuple[bool, ...]
    service: int
    queue: int
    event: int
    omega: tuple[int, int, int, int]
    kind: int
    reward: float
    progress: float
    time_s: float
    version: int
    newest: int


@runtime_checkable
class Policy(Protocol):
    """An update-decision policy: ``reset(instance, rng)``, then ``act(observation)``.

    ``act`` returns 1 to update (or deploy the newest version in a new replica), 0 not to.
    ``reset`` is called once at the start of every run with the simulator's policy stream,
    which is the only randomness a policy should use (same seed, same run).

    Optionally, a class attribute ``observes = False`` declares that ``act`` ignores its
    argument; the simulator then passes ``None`` instead of an :class:`Observation`.
    Without the attribute a policy gets every observation.

    Examples
    --------
    >>> isinstance(NeverUpdate(), Policy)
    True
    """

    name: str

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        """Prepare for a new run on ``instance``."""
        ...

    def act(self, observation: Observation) -> int:
        """Return the decision for ``observation``: 1 update, 0 keep."""
        ...


class AlwaysUpdate:
    """Update at every opportunity, and deploy the newest version in every new replica.

    Examples
    --------
    >>> AlwaysUpdate().act(None)
    1
    """

    name = "always"
    observes = False

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        """Nothing to prepare."""

    def act(self, observation: Observation | None) -> int:
        """Always 1."""
        return 1


class NeverUpdate:
    """Keep every replica's version, and deploy the stable version in every new replica.

    Examples
    --------
    >>> NeverUpdate().act(None)
    0
    """

    name = "never"
    observes = False

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        """Nothing to prepare."""

    def act(self, observation: Observation | None) -> int:
        """Always 0."""
        return 0


class RandomUpdate:
    """Update with probability ``p`` at every opportunity.

    Parameters
    ----------
    p : float
        Probability of choosing 1.

    Examples
    --------
    >>> pol = RandomUpdate(0.5)
    >>> pol.reset(None, np.random.default_rng(0))
    >>> [pol.act(None) for _ in range(6)]
    [0, 1, 1, 1, 0, 0]
    """

    name = "random"
    observes = False

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p: {p!r} must be a probability in [0, 1]")
        self.p = p
        self._draws: list[bool] = []
        self._i = 0
        self._rng = np.random.default_rng(0)

    def reset(self, instance: Instance | None, rng: np.random.Generator) -> None:
        """Take the run's policy stream."""
        self._rng = rng
        self._draws = []
        self._i = 0

    def act(self, observation: Observation | None) -> int:
        """1 with probability ``p``."""
        # uniforms are drawn in blocks: one numpy call per decision would dominate the run;
        # a list indexes several times faster than the numpy array
        i = self._i
        if i >= len(self._draws):
            self._draws = (self._rng.random(65536) < self.p).tolist()
            i = 0
        self._i = i + 1
        return int(self._draws[i])


def make_policy(name: str) -> Policy:
    """A policy by name: ``always``, ``never``, ``random`` or ``qlearning``.

    Examples
    --------
    >>> make_policy("never").name
    'never'
    """
    from edgebound.sim.qlearning import QLearningPolicy

    table: dict[str, type] = {
        "always": AlwaysUpdate,
        "never": NeverUpdate,
        "random": RandomUpdate,
        "qlearning": QLearningPolicy,
    }
    if name not in table:
        raise ValueError(f"policy: {name!r} must be one of {', '.join(table)}")
    policy: Policy = table[name]()
    return policy
