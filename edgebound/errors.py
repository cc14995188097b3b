"""The exception hierarchy of edgebound.

Every error the package raises on purpose derives from :class:`EdgeboundError`, so a caller
can catch them all at once. Messages name the field or constraint, the offending value and
what is allowed.

Examples
--------
>>> from edgebound.errors import InstanceError, Problem
>>> err = InstanceError([Problem("nodes[0].cpu", -1, "must be >= 0")])
>>> print(err)
1 problem in instance:
  nodes[0].cpu: -1 must be >= 0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "DecisionError",
    "EdgeboundError",
    "InfeasibleError",
    "InstanceError",
    "Problem",
    "SolverError",
]


class EdgeboundError(Exception):
    """Base class of every error raised by edgebound on purpose."""


_MISSING = object()


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file.

    Parameters
    ----------
    path : str
        Where the problem is, as a field path such as ``services[2].versions[0].ram_gb``.
    value : Any
        The offending value; ``Problem.MISSING`` when the field is absent.
    message : str
        What is allowed, phrased to follow the value (``"must be >= 0"``).

    Examples
    --------
    >>> str(Problem("nodes[1].name", "E1", "duplicates nodes[0].name"))
    "nodes[1].name: 'E1' duplicates nodes[0].name"
    """

    path: str
    value: Any
    message: str

    MISSING = _MISSING

    def __str__(self) -> str:
        if self.value is _MISSING:
            return f"{self.path}: {self.message}"
        return f"{self.path}: {_show(self.value)} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form: ``path``, ``value`` (or null) and ``message``.

        Examples
        --------
        >>> Problem("a", 1, "must be >= 2").to_dict()
        {'path': 'a', 'value': 1, 'message': 'must be >= 2'}
        """
        value = None if self.value is _MISSING else self.value
        if not isinstance(value, (str, int, float, bool, type(None))):
            value = repr(value)
        return {"path": self.path, "value": value, "message": self.message}


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class InstanceError(EdgeboundError, ValueError):
    """An instance file (or in-memory instance) is invalid.

    Carries every problem found, not only the first one.

    Parameters
    ----------
    problems : list of Problem
        All problems found.
    source : str, optional
        The file or name the instance came from.
    """

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self._message())

    def _message(self) -> str:
        n = len(self.problems)
        where = f" in {self.source}" if self.source else " in instance"
        head = f"{n} problem{'s' if n != 1 else ''}{where}:"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


class DecisionError(EdgeboundError, ValueError):
    """A decision handed to an evaluator does not match its instance.

    Parameters
    ----------
    problems : list of Problem
        All problems found in the decision.
    """

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in decision:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


class SolverError(EdgeboundError, RuntimeError):
    """A solver failed, or did not reach the status that was required of it."""


class InfeasibleError(EdgeboundError, RuntimeError):
    """A model has no feasible solution; the message names the conflicting constraints."""
