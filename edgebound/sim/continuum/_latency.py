"""Latency records of the plant and exact quantiles of their mixtures, batched by group.

A record is one (slot, stream) with ``w`` requests whose latency is ``shift + T``: ``shift``
deterministic (network delay and fluid backlog wait, seconds) and ``T`` the sojourn of a
stable M/M/c queue (``mu``, ``theta = c mu - lambda``, Erlang C ``pw``). The machinery is the
evaluator's (:mod:`edgebound.evaluate.placement`), so the plant and the referee agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgebound.evaluate.placement import _solve, _tail, _tail_density, _upper


@dataclass
class Records:
    """Latency records of many (slot, stream) pairs, as flat arrays of equal length."""

    group: np.ndarray  # int, service index
    w: np.ndarray  # requests
    shift_s: np.ndarray
    mu: np.ndarray
    theta: np.ndarray
    pw: np.ndarray

    @classmethod
    def empty(cls) -> Records:
        z = np.zeros(0)
        return cls(np.zeros(0, dtype=np.int64), z, z, z, z, z)

    @classmethod
    def concat(cls, parts: list[Records]) -> Records:
        if not parts:
            return cls.empty()
        return cls(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("group", "w", "shift_s", "mu", "theta", "pw")
            )
        )

    def merged(self) -> Records:
        """The same records as one group."""
        return Records(
            np.zeros_like(self.group), self.w, self.shift_s, self.mu, self.theta, self.pw
        )

    def mean_s(self) -> np.ndarray:
        """Mean latency of each record, seconds."""
        return self.shift_s + self.pw / self.theta + 1.0 / self.mu

    def late(self, budget_s: np.ndarray) -> np.ndarray:
        """Expected number of each record's requests whose latency exceeds ``budget_s``."""
        ok = np.isfinite(budget_s)
        out = np.zeros(self.w.shape)
        if ok.any():
            t = np.where(ok, budget_s - self.shift_s, 0.0)
            tail = _tail(t, self.mu, self.theta, self.pw)
            out = np.where(ok, self.w * tail, 0.0)
        return out


def quantiles(
    q: float,
    rec: Records,
    groups: int,
    bracket_ms: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The ``q``-quantile (ms) of each group's mixture, weighted by requests; nan if empty.

    Solved exactly (to rounding) as the evaluator solves one mixture: Newton steps with the
    exact density inside a bracket, all groups at once. ``bracket_ms`` may narrow the
    default bracket (a lower end that is not below the quantile is ignored).
    """
    out = np.full(groups, np.nan)
    if rec.w.size == 0:
        return out
    tot = np.bincount(rec.group, weights=rec.w, minlength=groups)
    has = tot > 0
    if not has.any():
        return out
    norm = np.where(has, tot, 1.0)
    lo = np.full(groups, np.inf)
    np.minimum.at(lo, rec.group, rec.shift_s)
    hi = np.full(groups, -np.inf)
    np.maximum.at(hi, rec.group, rec.shift_s + _upper(1.0 - q, rec.mu, rec.theta))
    lo = np.where(has, lo, 0.0)
    hi = np.where(has, hi, 1.0)
    if bracket_ms is not None:
        b_lo = np.maximum(np.asarray(bracket_ms[0], dtype=float) / 1000.0, lo)
        b_hi = np.minimum(np.asarray(bracket_ms[1], dtype=float) / 1000.0, hi)
        ok = np.isfinite(b_lo) & np.isfinite(b_hi) & (b_lo < b_hi) & has
        if ok.any():
            tail, _ = _tail_density(b_lo[rec.group] - rec.shift_s, rec.mu, rec.theta, rec.pw)
            above = np.bincount(rec.group, weights=rec.w * tail, minlength=groups) / norm
            ok &= above > 1.0 - q
            lo = np.where(ok, b_lo, lo)
            hi = np.where(ok, b_hi, hi)

    def tail_density(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tail, dens = _tail_density(t[rec.group] - rec.shift_s, rec.mu, rec.theta, rec.pw)
        tw = np.bincount(rec.group, weights=rec.w * tail, minlength=groups) / norm
        dw = np.bincount(rec.group, weights=rec.w * dens, minlength=groups) / norm
        # empty groups: a tail of 0 is below any target, so their bracket never moves
        return tw, dw

    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        t = _solve(tail_density, lo, hi, 1.0 - q)
    return np.where(has, 1000.0 * t, np.nan)
