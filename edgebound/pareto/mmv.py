"""Pareto fronts of the MMV problem: exact (AUGMECON2 on the MILP) and scored by the referee."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgebound.errors import EdgeboundError
from edgebound.evaluate import evaluate
from edgebound.instances import Instance
from edgebound.models import mmv
from edgebound.pareto.exact import Objective, exact_front
from edgebound.pareto.front import ParetoFront

__all__ = ["MMV_OBJECTIVES", "mmv_front"]

MMV_OBJECTIVES = {
    "delay": ("O1", "min", "ms"),
    "accuracy": ("O2", "max", "1"),
    "security": ("O3", "max", "1"),
    "reliability": ("O4", "max", "1"),
}


def mmv_front(
    instance: Instance,
    objectives: Sequence[str] = ("delay", "accuracy"),
    *,
    delta: float = 1e-6,
    grid_points: int = 10,
    time_limit: float | None = None,
) -> ParetoFront:
    """The exact Pareto front of the static MMV problem over some of O1-O4.

    Each point is a decision of the static MMV model; its objective vector is recomputed by
    the independent evaluator, which must agree with the model to 1e-6.

    Parameters
    ----------
    instance : Instance
    objectives : sequence of str
        Two to four of ``delay``, ``accuracy``, ``security``, ``reliability``; the first is
        the primary objective of the epsilon-constraint method.
    delta, grid_points, time_limit
        See :func:`edgebound.pareto.exact_front`.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> front = mmv_front(load("gentzen-star4"), ("delay", "accuracy"))
    >>> front.exact, len(front) >= 2
    (True, True)
    """
    names = list(objectives)
    for name in names:
        if name not in MMV_OBJECTIVES:
            raise EdgeboundError(f"objectives: {name!r} must be one of {', '.join(MMV_OBJECTIVES)}")
    if len(set(names)) != len(names) or len(names) < 2:
        raise EdgeboundError("objectives: give two to four different MMV objectives")
    built = mmv.build(instance)
    m = built.pyomo
    objs = [
        Objective(n, getattr(m, MMV_OBJECTIVES[n][0]), MMV_OBJECTIVES[n][1], MMV_OBJECTIVES[n][2])  # type: ignore[arg-type]
        for n in names
    ]
    front = exact_front(
        m,
        objs,
        decode=built.decode,
        delta=delta,
        grid_points=grid_points,
        time_limit=time_limit,
        clone=False,
    )
    # the referee's values replace the model's; they must agree
    F = np.array([[evaluate(instance, x).objectives[n] for n in names] for x in front.X]).reshape(
        -1, len(names)
    )
    mismatch = float(np.max(np.abs(F - front.F) / np.maximum(1.0, np.abs(F)), initial=0.0))
    if mismatch > 1e-6:
        raise EdgeboundError(
            f"the evaluator disagrees with the model's objectives by {mismatch:.3g} (relative)"
        )
    stats = {**front.stats, "model": "mmv", "instance": instance.name}
    return ParetoFront(
        X=front.X,
        F=F,
        names=front.names,
        senses=front.senses,
        units=front.units,
        method="exact",
        exact=front.exact,
        stats=stats,
    )
