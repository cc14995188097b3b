"""Pareto fronts, their indicators, and where an agent's outcome sits against a front.

A :class:`ParetoFront` holds decisions and their objective vectors with each column named,
with its sense (``min``/``max``) and unit. Indicators use pymoo's hypervolume and IGD+ on
the minimization form (``max`` columns negated); the additive epsilon indicator is computed
here. Fronts and scores save to JSON and load back.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgebound.errors import EdgeboundError

__all__ = ["ParetoFront", "Score", "additive_epsilon", "nondominated", "score"]


def _to_min(F: np.ndarray, senses: Sequence[str]) -> np.ndarray:
    sign = np.array([1.0 if s == "min" else -1.0 for s in senses])
    return np.asarray(F, dtype=float) * sign


def nondominated(
    F: np.ndarray, senses: Sequence[str], tol: float = 1e-9, *, relative: bool = False
) -> np.ndarray:
    """Indices of the rows of ``F`` no other row dominates (first of equal rows kept).

    Values within ``tol`` of each other count as equal. With ``relative``, ``tol`` is a
    fraction of each objective's largest absolute value (at least 1), so that objectives
    on different scales (USD/h and J/req, say) are each compared at their own resolution.

    Examples
    --------
    >>> nondominated(np.array([[1.0, 3.0], [2.0, 2.0], [2.0, 4.0]]), ["min", "min"]).tolist()
    [0, 1]
    >>> F = np.array([[100.0, 1.0], [101.0, 0.99999]])
    >>> nondominated(F, ["min", "min"], tol=1e-6, relative=True).tolist()
    [0, 1]
    >>> nondominated(F, ["min", "min"], tol=1e-6 * 101).tolist()  # one scale for both
    [0]
    """
    g = _to_min(F, senses)
    if relative and g.size:
        g = g / np.maximum(1.0, np.abs(g).max(axis=0))
    keep: list[int] = []
    for i in range(len(g)):
        worse_or_equal = np.all(g <= g[i] + tol, axis=1)
        strictly = np.any(g < g[i] - tol, axis=1)
        dominated = np.any(worse_or_equal & strictly)
        duplicate = any(np.all(np.abs(g[j] - g[i]) <= tol) for j in keep)
        if not dominated and not duplicate:
            keep.append(i)
    return np.array(keep, dtype=int)


def additive_epsilon(points: np.ndarray, front: np.ndarray, senses: Sequence[str]) -> float:
    """How much the points must improve, in every objective at once, to reach the front.

    ``max_{a in points} min_{b in front} max_i (a_i - b_i)`` in minimization form (the
    additive epsilon indicator of the points with respect to the front): 0 for points on
    the front, positive for dominated ones, negative for points beyond it.

    Examples
    --------
    >>> additive_epsilon(np.array([[3.0, 3.0]]), np.array([[1.0, 3.0], [3.0, 1.0]]), ["min", "min"])
    2.0
    """
    a = _to_min(np.atleast_2d(points), senses)
    b = _to_min(np.atleast_2d(front), senses)
    diff = a[:, None, :] - b[None, :, :]  # (a, b, i)
    return float(np.max(np.min(np.max(diff, axis=2), axis=1)))


@dataclass(frozen=True)
class ParetoFront:
    """A set of nondominated decisions and their objective vectors.

    Attributes
    ----------
    X : list
        Decisions, in the plain form of their model.
    F : numpy.ndarray
        Objective values, one row per decision, one column per objective.
    names, senses, units : tuple of str
        Per column; senses are ``"min"`` or ``"max"``.
    method : str
        ``"exact"`` (epsilon-constraint) or ``"nsga2"``/``"nsga3"``.
    exact : bool
        True when every point is proven nondominated and none is missing (at the method's
        resolution).
    stats : dict
        Solves, time, and what the method reports.
    """

    X: list[Any]
    F: np.ndarray
    names: tuple[str, ...]
    senses: tuple[Literal["min", "max"], ...]
    units: tuple[str, ...]
    method: str
    exact: bool
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.F)

    def minimization(self) -> np.ndarray:
        """``F`` with ``max`` columns negated."""
        return _to_min(self.F, self.senses)

    def hypervolume(self, ref: Sequence[float]) -> float:
        """Hypervolume dominated by the front up to ``ref`` (given in the objectives' senses).

        Examples
        --------
        >>> f = ParetoFront([None, None], np.array([[1.0, 3.0], [3.0, 1.0]]), ("a", "b"),
        ...                 ("min", "min"), ("", ""), "exact", True)
        >>> f.hypervolume([4.0, 4.0])
        5.0
        """
        from pymoo.indicators.hv import HV

        if len(self.F) == 0:
            return 0.0
        r = _to_min(np.asarray(ref, dtype=float)[None, :], self.senses)[0]
        return float(HV(ref_point=r)(self.minimization()))

    def igd_plus(self, other: ParetoFront) -> float:
        """IGD+ of ``other`` measured against this front as the reference set."""
        from pymoo.indicators.igd_plus import IGDPlus

        self._check_compatible(other)
        return float(IGDPlus(self.minimization())(other.minimization()))

    def _check_compatible(self, other: ParetoFront) -> None:
        if other.names != self.names or other.senses != self.senses:
            raise EdgeboundError(
                f"fronts differ in objectives: {list(self.names)} vs {list(other.names)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "names": list(self.names),
            "senses": list(self.senses),
            "units": list(self.units),
            "method": self.method,
            "exact": self.exact,
            "F": self.F.tolist(),
            "X": self.X,
            "stats": self.stats,
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialize (and write to ``path`` when given); :meth:`from_json` reads it back."""
        text = json.dumps(self.to_dict(), indent=2, default=_default)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> ParetoFront:
        """Read a front written by :meth:`to_json` (a path or the JSON text).

        Examples
        --------
        >>> f = ParetoFront([{"a": 1}], np.array([[1.0, 2.0]]), ("x", "y"), ("min", "max"),
        ...                 ("ms", "1"), "exact", True)
        >>> ParetoFront.from_json(f.to_json()).F.tolist()
        [[1.0, 2.0]]
        """
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(text).read_text(encoding="utf-8")
        try:
            d = json.loads(text)
            return cls(
                X=list(d["X"]),
                F=np.asarray(d["F"], dtype=float).reshape(-1, len(d["names"])),
                names=tuple(d["names"]),
                senses=tuple(d["senses"]),
                units=tuple(d.get("units") or [""] * len(d["names"])),
                method=str(d["method"]),
                exact=bool(d["exact"]),
                stats=dict(d.get("stats") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgeboundError(f"not a Pareto front document: {exc}") from None

    def plot(self, path: str | Path | None = None, agents: dict[str, Any] | None = None) -> Any:
        """Plot a 2-D or 3-D front with agents' outcome points; returns the figure.

        Parameters
        ----------
        path : str or Path, optional
            Save the figure there (PNG, SVG, PDF by suffix).
        agents : dict, optional
            Name -> objective vector(s) (same columns as the front), drawn as markers.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        p = len(self.names)
        if p not in (2, 3):
            raise EdgeboundError(f"plot: {p} objectives; only 2-D and 3-D fronts are drawn")
        labels = [
            f"{n} ({u}, {s})" if u else f"{n} ({s})"
            for n, u, s in zip(self.names, self.units, self.senses, strict=True)
        ]
        order = np.argsort(self.F[:, 0])
        F = self.F[order]
        fig = plt.figure(figsize=(6, 4.5))
        if p == 2:
            ax = fig.add_subplot(111)
            ax.step(F[:, 0], F[:, 1], where="post", color="0.6", lw=1)
            ax.plot(F[:, 0], F[:, 1], "o", color="C0", label=f"front ({self.method})")
            for i, (name, pts) in enumerate((agents or {}).items()):
                pts = np.atleast_2d(np.asarray(pts, dtype=float))
                ax.plot(pts[:, 0], pts[:, 1], "s", color=f"C{i + 1}", label=name)
            ax.set_xlabel(labels[0])
            ax.set_ylabel(labels[1])
        else:
            ax = fig.add_subplot(111, projection="3d")
            ax.scatter(F[:, 0], F[:, 1], F[:, 2], color="C0", label=f"front ({self.method})")
            for i, (name, pts) in enumerate((agents or {}).items()):
                pts = np.atleast_2d(np.asarray(pts, dtype=float))
                ax.scatter(
                    pts[:, 0], pts[:, 1], pts[:, 2], marker="s", color=f"C{i + 1}", label=name
                )
            ax.set_xlabel(labels[0])
            ax.set_ylabel(labels[1])
            ax.set_zlabel(labels[2])
        ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def _default(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return str(x)


@dataclass(frozen=True)
class Score:
    """Where an outcome vector sits against a front.

    Attributes
    ----------
    dominated : bool
        Some front point is at least as good in every objective and better in one.
    epsilon : float
        Additive epsilon of the outcome against the front: by how much (in objective units)
        it must improve in every objective to reach the front; 0 on the front, negative
        beyond it.
    hv_share : float
        Hypervolume the outcome dominates alone, as a share of the front's hypervolume
        (same reference point).
    beats_front : bool
        The outcome dominates some front point: for an exact front this refutes the front
        (or the outcome was measured on a different model).
    """

    dominated: bool
    epsilon: float
    hv_share: float
    beats_front: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "dominated": self.dominated,
            "epsilon": self.epsilon,
            "hv_share": self.hv_share,
            "beats_front": self.beats_front,
        }


def score(front: ParetoFront, outcome: Sequence[float], ref: Sequence[float]) -> Score:
    """Score one agent's objective vector against a front.

    Parameters
    ----------
    front : ParetoFront
    outcome : sequence of float
        The agent's objectives, same columns and senses as the front.
    ref : sequence of float
        Hypervolume reference point, in the objectives' senses (worse than every point).

    Examples
    --------
    >>> f = ParetoFront([None, None], np.array([[1.0, 3.0], [3.0, 1.0]]), ("a", "b"),
    ...                 ("min", "min"), ("", ""), "exact", True)
    >>> s = score(f, [3.0, 3.0], [4.0, 4.0])
    >>> s.dominated, s.epsilon, round(s.hv_share, 3)
    (True, 2.0, 0.2)
    """
    o = np.asarray(outcome, dtype=float)
    if o.shape != (len(front.names),):
        raise EdgeboundError(
            f"outcome: {o.tolist()} must have one value per objective {list(front.names)}"
        )
    g = front.minimization()
    a = _to_min(o[None, :], front.senses)[0]
    dominated = bool(np.any(np.all(g <= a + 1e-12, axis=1) & np.any(g < a - 1e-12, axis=1)))
    beats = bool(np.any(np.all(a <= g + 1e-12, axis=1) & np.any(a < g - 1e-12, axis=1)))
    eps = additive_epsilon(o[None, :], front.F, front.senses) if len(front) else math.inf
    total = front.hypervolume(ref)
    mine = ParetoFront([None], o[None, :], front.names, front.senses, front.units, "agent", False)
    share = mine.hypervolume(ref) / total if total > 0 else math.nan
    return Score(dominated=dominated, epsilon=eps, hv_share=share, beats_front=beats)
