"""One entry point that evaluates a decision of either family."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgebound.errors import DecisionError, Problem
from edgebound.evaluate.common import Evaluation
from edgebound.instances import Instance

__all__ = ["evaluate"]


def evaluate(instance: Instance, decision: Mapping[str, Any]) -> Evaluation:
    """Evaluate a decision in plain (JSON) form, dispatching on its family.

    The family is ``decision["model"]`` (``"mmv"``, ``"mmv_schedule"``, ``"placement"`` or
    ``"placement_schedule"``) when given; otherwise a decision with ``periods`` is a
    placement schedule when its first period has ``routing`` and an MMV schedule otherwise,
    one with ``versions`` is MMV and one with ``routing`` is placement.

    Parameters
    ----------
    instance : Instance
    decision : mapping
        See :func:`edgebound.evaluate.mmv.evaluate_mmv` and
        :func:`edgebound.evaluate.placement.evaluate_placement` for the two forms.

    Returns
    -------
    Evaluation

    Raises
    ------
    DecisionError
        If the family cannot be told or the decision does not match the instance.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> inst = load("gentzen-star4")
    >>> dec = {"model": "mmv", "replicas": {s: {"E1": 1} for s in inst.service_names}}
    >>> evaluate(inst, dec).feasible
    True
    """
    if not isinstance(decision, Mapping):
        raise DecisionError([Problem("decision", decision, "must be a mapping (a JSON object)")])
    family = decision.get("model")
    if family is None:
        if "periods" in decision:
            first = (decision.get("periods") or [None])[0]
            is_placement = isinstance(first, Mapping) and (
                "routing" in first or first.get("model") == "placement"
            )
            family = "placement_schedule" if is_placement else "mmv_schedule"
        elif "versions" in decision:
            family = "mmv"
        elif "routing" in decision:
            family = "placement"
        else:
            raise DecisionError(
                [
                    Problem(
                        "model",
                        Problem.MISSING,
                        "is needed: say 'mmv', 'mmv_schedule' or 'placement'",
                    )
                ]
            )
    if family == "mmv":
        from edgebound.evaluate.mmv import evaluate_mmv

        return evaluate_mmv(instance, decision)
    if family == "mmv_schedule":
        from edgebound.evaluate.mmv_schedule import evaluate_mmv_schedule

        return evaluate_mmv_schedule(instance, decision)
    if family == "placement":
        from edgebound.evaluate.placement import evaluate_placement

        return evaluate_placement(instance, decision)
    if family == "placement_schedule":
        from edgebound.evaluate.placement_schedule import evaluate_placement_schedule

        return evaluate_placement_schedule(instance, decision)
    raise DecisionError(
        [
            Problem(
                "model",
                family,
                "must be 'mmv', 'mmv_schedule', 'placement' or 'placement_schedule'",
            )
        ]
    )
