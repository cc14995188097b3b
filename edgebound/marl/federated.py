"""Federated averaging of flat parameter vectors: partial participation, compression, staleness.

The server side of the learner's federated rounds, in numpy (no torch). It reuses the
forecasting module's machinery: :class:`~edgebound.forecast.federated.FedConfig` for the
settings and :func:`~edgebound.forecast.federated.compress` (top-k sparsification and 8-bit
quantization) for the uplink. Each round:

1. :meth:`FedAverager.choose` asks a random 60-80 % (``participation``) of the idle clients;
2. each asked client computes an update (its locally trained parameters minus the global
   ones it started from) and :meth:`FedAverager.submit` compresses it, keeping what
   compression dropped for the client's next update (error feedback); with probability
   ``straggler_prob`` the update arrives 1 to ``max_delay`` rounds late and the client stays
   busy until then;
3. :meth:`FedAverager.aggregate` averages the updates that arrive this round, each weighted by
   the client's sample count times ``staleness_decay`` per round of delay, adds the average to
   a momentum buffer (``momentum``, 0.9) and moves the global parameters by ``server_lr``
   times the buffer (FedAvg with server momentum).

Bytes are counted as the forecasting module counts them: the compressed size of every update
sent, and 4 bytes per entry for the same update uncompressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgebound.forecast.federated import FedConfig, compress

__all__ = ["FedAverager", "FedConfig"]


@dataclass
class _Pending:
    delay: int
    weight: float
    update: np.ndarray


@dataclass
class FedAverager:
    """Server state of federated averaging over ``clients`` clients.

    Parameters
    ----------
    theta : numpy.ndarray
        Initial global parameters (flat).
    clients : int
    config : FedConfig
        ``participation``, ``topk``, ``bits``, ``error_feedback``, ``straggler_prob``,
        ``max_delay``, ``staleness_decay``, ``momentum``, ``server_lr`` and ``seed`` are used.

    Attributes
    ----------
    uplink_bytes, dense_bytes : list of int
        Per round: bytes sent compressed, and what the same updates weigh uncompressed.
    asked : list of int
        Clients asked per round.

    Examples
    --------
    >>> fed = FedAverager(np.zeros(4), 2, FedConfig(participation=(1.0, 1.0), topk=1.0,
    ...                   bits=None, straggler_prob=0.0, momentum=0.0, server_lr=1.0))
    >>> chosen = fed.choose(0)
    >>> chosen
    [0, 1]
    >>> fed.submit(0, 0, np.array([1.0, 0, 0, 0]), weight=1.0)
    >>> fed.submit(0, 1, np.array([0, 3.0, 0, 0]), weight=3.0)
    >>> fed.aggregate(0).tolist()
    [0.25, 2.25, 0.0, 0.0]
    """

    theta: np.ndarray
    clients: int
    config: FedConfig = field(default_factory=FedConfig)
    uplink_bytes: list[int] = field(default_factory=list)
    dense_bytes: list[int] = field(default_factory=list)
    asked: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.theta = np.asarray(self.theta, dtype=np.float32).copy()
        self._rng = np.random.default_rng(self.config.seed)
        self._momentum = np.zeros_like(self.theta)
        self._residual = [np.zeros_like(self.theta) for _ in range(self.clients)]
        self._busy_until = [-1] * self.clients
        self._pending: dict[int, list[_Pending]] = {}
        self._sent = 0
        self._dense = 0

    def choose(self, r: int) -> list[int]:
        """Clients asked in round ``r``: a random share of the idle ones (at least one)."""
        idle = [c for c in range(self.clients) if self._busy_until[c] < r]
        share = self._rng.uniform(*self.config.participation)
        n = min(len(idle), max(1, round(share * self.clients)))
        chosen = (
            sorted(int(c) for c in self._rng.choice(idle, size=n, replace=False)) if idle else []
        )
        self.asked.append(len(chosen))
        return chosen

    def submit(self, r: int, client: int, update: np.ndarray, weight: float) -> None:
        """Compress and send one client's update computed in round ``r``."""
        cfg = self.config
        delta = np.asarray(update, dtype=np.float32)
        if cfg.error_feedback:
            delta = delta + self._residual[client]
        decoded, nbytes = compress(delta, cfg.topk, cfg.bits)
        if cfg.error_feedback:
            self._residual[client] = delta - decoded
        self._sent += nbytes
        self._dense += 4 * delta.size
        late = self._rng.random() < cfg.straggler_prob
        delay = int(self._rng.integers(1, cfg.max_delay + 1)) if late else 0
        self._busy_until[client] = r + delay
        self._pending.setdefault(r + delay, []).append(_Pending(delay, float(weight), decoded))

    def aggregate(self, r: int) -> np.ndarray:
        """Mix in the updates that arrive in round ``r``; return the new global parameters."""
        cfg = self.config
        arrived = self._pending.pop(r, [])
        if arrived:
            w = np.array([p.weight * cfg.staleness_decay**p.delay for p in arrived])
            if w.sum() > 0:
                avg = sum(wi * p.update for wi, p in zip(w, arrived, strict=True)) / w.sum()
                self._momentum = cfg.momentum * self._momentum + avg
                self.theta = (self.theta + cfg.server_lr * self._momentum).astype(np.float32)
        self.uplink_bytes.append(self._sent)
        self.dense_bytes.append(self._dense)
        self._sent = self._dense = 0
        return self.theta.copy()
