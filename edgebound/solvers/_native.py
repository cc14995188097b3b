"""Keeping what native solver code prints off a command's stdout."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import highspy
import numpy as np
from scipy import sparse


@contextlib.contextmanager
def stdout_to_stderr(active: bool = True) -> Iterator[None]:
    """Send what native code prints to stdout to stderr (HiGHS prints a banner, whatever its
    options), so that a command's stdout keeps only its own output (e.g. one JSON document).

    Examples
    --------
    >>> with stdout_to_stderr():
    ...     pass
    """
    if not active:
        yield
        return
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 (embedded interpreters)
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def quiet_highs() -> highspy.Highs:
    """A ``highspy.Highs`` that prints nothing (its banner goes to stderr).

    Examples
    --------
    >>> quiet_highs().getOptionValue("output_flag")[1]
    False
    """
    with stdout_to_stderr():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def highs_lp(
    cost: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    A: sparse.csc_matrix,
) -> highspy.HighsLp:
    """A ``highspy.HighsLp`` (minimization) from arrays and a column-wise (CSC) matrix.

    Examples
    --------
    >>> A = sparse.csc_matrix(np.array([[1.0, 1.0]]))
    >>> h = quiet_highs()
    >>> _ = h.passModel(highs_lp(np.array([1.0, 2.0]), np.zeros(2), np.full(2, np.inf),
    ...                          np.array([1.0]), np.array([np.inf]), A))
    >>> _ = h.run()
    >>> [float(v) for v in h.getSolution().col_value]
    [1.0, 0.0]
    """
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = A.shape[1], A.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lower, upper
    lp.row_lower_, lp.row_upper_ = row_lo, row_hi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    return lp
