"""Keeping what native solver code prints off a command's stdout."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import highspy


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
