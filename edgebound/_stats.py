"""Summary statistics shared by the reports (simulator, closed loop, multi-agent, sweeps)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def mean_ci(
    values: Sequence[float] | np.ndarray, confidence: float = 0.95, *, skip_nan: bool = True
) -> tuple[float, float]:
    """Mean and Student-t confidence half-width of ``values``.

    With ``skip_nan`` the values that are nan are left out (runs where a metric is
    undefined); otherwise a nan makes both nan. An infinite value (a run whose schedule
    objective is infinite) makes the mean infinite and the half-width nan; fewer than two
    values give a nan half-width.

    Examples
    --------
    >>> m, h = mean_ci([1.0, 3.0])
    >>> m, round(h, 3)
    (2.0, 12.706)
    >>> mean_ci([1.0, float("inf")])
    (inf, nan)
    >>> mean_ci([1.0, float("nan"), 3.0])[0], mean_ci([1.0, float("nan")], skip_nan=False)
    (2.0, (nan, nan))
    """
    from scipy import stats

    arr = np.asarray(values, dtype=float)
    if skip_nan:
        arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return math.nan, math.nan
    if arr.size < 2 or not np.all(np.isfinite(arr)):
        return float(arr.mean()), math.nan
    t = float(stats.t.ppf(0.5 + confidence / 2.0, arr.size - 1))
    return float(arr.mean()), t * float(arr.std(ddof=1)) / math.sqrt(arr.size)
