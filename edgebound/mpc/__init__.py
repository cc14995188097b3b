"""Receding-horizon MPC of the continuum plant: a CVXPY problem, its shield, the closed loop.

See the "MPC controller" page of the documentation for the problem, the shield and the
measured results. The shield itself is :func:`edgebound.mpc.shield.shield`.

Examples
--------
>>> from edgebound.mpc import MPCConfig, MPCController
>>> MPCController("oracle", MPCConfig(horizon=6)).name
'mpc-oracle'
"""

from edgebound.mpc._layout import MPCError
from edgebound.mpc.closed_loop import METRICS, Comparison, RunRecord, compare, summarize
from edgebound.mpc.controller import FORECASTS, MPCController, warmup_history
from edgebound.mpc.model import DEFAULT_SOLVER, SOLVERS, MPCConfig, MPCPlan, MPCProblem
from edgebound.mpc.shield import ShieldResult, check_action

__all__ = [
    "DEFAULT_SOLVER",
    "FORECASTS",
    "METRICS",
    "SOLVERS",
    "Comparison",
    "MPCConfig",
    "MPCController",
    "MPCError",
    "MPCPlan",
    "MPCProblem",
    "RunRecord",
    "ShieldResult",
    "check_action",
    "compare",
    "summarize",
    "warmup_history",
]
