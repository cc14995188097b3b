"""Release tables: every version of a service released up to a time, as arrays.

A service's table starts with the versions of the instance file (oldest first) and goes on
with its seeded :class:`~edgebound.instances.schema.ReleaseProcess`: main versions every
``major_interval_s`` after the newest main version of the file, and Poisson subversions at
``minor_rate_per_s`` from the newest version of the file on. A subversion improves one of
security, reliability and accuracy (equally likely) by ``minor_gain``; a main version adds
the ``major_gain_*`` values and restarts the subversion count. Scores stop at 1. New versions
keep the resources and service rate of the newest version of the file.

The draws come in fixed blocks from the process's own seed, so a longer table starts with
exactly the versions of a shorter one: runs of different lengths see the same future.

Examples
--------
>>> from edgebound.instances import load
>>> inst = load("gentzen-star4")
>>> tab = release_table(inst.services[0], 1300.0)
>>> tab.label(4), tab.label(tab.newest_at(1200.0))
('1.0', '2.0')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgebound.instances.schema import Service, Version

__all__ = ["ReleaseTable", "release_table"]

_BLOCK = 4096


@dataclass(frozen=True)
class ReleaseTable:
    """The versions of one service, oldest first, as parallel arrays.

    Attributes
    ----------
    release_s, accuracy, security, reliability : numpy.ndarray of float
    major, minor : numpy.ndarray of int
    cpu, ram_gb, disk_gb, service_rate_rps : numpy.ndarray of float
    """

    release_s: np.ndarray
    major: np.ndarray
    minor: np.ndarray
    accuracy: np.ndarray
    security: np.ndarray
    reliability: np.ndarray
    cpu: np.ndarray
    ram_gb: np.ndarray
    disk_gb: np.ndarray
    service_rate_rps: np.ndarray

    def __len__(self) -> int:
        return len(self.release_s)

    def label(self, i: int) -> str:
        """The label ``x.y`` of version ``i``."""
        return f"{int(self.major[i])}.{int(self.minor[i])}"

    def newest_at(self, time_s: float) -> int:
        """Index of the newest version released by ``time_s`` (0 if none is)."""
        return max(int(np.searchsorted(self.release_s, time_s, side="right")) - 1, 0)

    def version(self, i: int) -> Version:
        """Version ``i`` as a schema :class:`~edgebound.instances.schema.Version`."""
        return Version(
            major=int(self.major[i]),
            minor=int(self.minor[i]),
            cpu=float(self.cpu[i]),
            ram_gb=float(self.ram_gb[i]),
            disk_gb=float(self.disk_gb[i]),
            service_rate_rps=float(self.service_rate_rps[i]),
            accuracy=float(self.accuracy[i]),
            security=float(self.security[i]),
            reliability=float(self.reliability[i]),
            release_s=float(self.release_s[i]),
        )


def release_table(service: Service, until_s: float) -> ReleaseTable:
    """All versions of ``service`` released by ``until_s``: the file's, then the process's.

    Parameters
    ----------
    service : Service
    until_s : float
        Last time of interest; the process is drawn up to it.

    Returns
    -------
    ReleaseTable

    Examples
    --------
    >>> from edgebound.instances import load
    >>> tab = release_table(load("gentzen-star4").services[4], 800.0)
    >>> len(tab) > 6, float(tab.accuracy[4])
    (True, 0.7205)
    """
    given = sorted(service.versions, key=lambda v: v.key)
    rel = np.maximum.accumulate(np.array([v.release_s for v in given], dtype=float))
    cols: dict[str, list[float]] = {
        "accuracy": [v.accuracy for v in given],
        "security": [v.security for v in given],
        "reliability": [v.reliability for v in given],
    }
    major = [v.major for v in given]
    minor = [v.minor for v in given]
    proc = service.release_process
    times = np.empty(0)
    kinds = np.empty(0, dtype=np.int64)  # 0 main version, 1-3 subversion of one score
    if proc is not None:
        last = given[-1]
        last_major = min(v.release_s for v in given if v.major == last.major)
        majors = last_major + proc.major_interval_s * np.arange(1, proc.majors + 1)
        majors = majors[majors <= until_s]
        minors = _poisson_times(proc.seed, proc.minor_rate_per_s, float(rel[-1]), until_s)
        times = np.concatenate([majors, minors[0]])
        kinds = np.concatenate([np.zeros(len(majors), dtype=np.int64), minors[1]])
        order = np.argsort(times, kind="stable")
        times, kinds = times[order], kinds[order]
    acc = _scores(cols["accuracy"], kinds, 3, proc.major_gain_accuracy if proc else 0.0, proc)
    sec = _scores(cols["security"], kinds, 1, proc.major_gain_security if proc else 0.0, proc)
    rlb = _scores(cols["reliability"], kinds, 2, proc.major_gain_reliability if proc else 0.0, proc)
    is_major = kinds == 0
    new_major = given[-1].major + np.cumsum(is_major)
    # subversion number: count since the last main version (or the file's newest version)
    idx = np.arange(1, len(kinds) + 1)
    last_major_at = np.maximum.accumulate(np.where(is_major, idx, 0))
    new_minor = np.where(last_major_at == 0, given[-1].minor + idx, idx - last_major_at)
    n_new = len(kinds)
    top = given[-1]
    return ReleaseTable(
        release_s=np.concatenate([rel, times]),
        major=np.concatenate([np.array(major, dtype=np.int64), new_major]),
        minor=np.concatenate([np.array(minor, dtype=np.int64), new_minor]),
        accuracy=acc,
        security=sec,
        reliability=rlb,
        cpu=np.array([v.cpu for v in given] + [top.cpu] * n_new, dtype=float),
        ram_gb=np.array([v.ram_gb for v in given] + [top.ram_gb] * n_new, dtype=float),
        disk_gb=np.array([v.disk_gb for v in given] + [top.disk_gb] * n_new, dtype=float),
        service_rate_rps=np.array(
            [v.service_rate_rps for v in given] + [top.service_rate_rps] * n_new, dtype=float
        ),
    )


def _poisson_times(
    seed: int, rate: float, start_s: float, until_s: float
) -> tuple[np.ndarray, np.ndarray]:
    if rate <= 0 or until_s <= start_s:
        return np.empty(0), np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    times: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    t = start_s
    while t <= until_s:
        block = t + np.cumsum(rng.exponential(1.0 / rate, _BLOCK))
        times.append(block)
        kinds.append(rng.integers(1, 4, _BLOCK))
        t = float(block[-1])
    all_t = np.concatenate(times)
    keep = all_t <= until_s
    return all_t[keep], np.concatenate(kinds)[keep]


def _scores(
    given: list[float], kinds: np.ndarray, kind: int, major_gain: float, proc: object
) -> np.ndarray:
    minor_gain = float(getattr(proc, "minor_gain", 0.0))
    gains = np.where(kinds == 0, major_gain, np.where(kinds == kind, minor_gain, 0.0))
    future = np.minimum(given[-1] + np.cumsum(gains), 1.0)
    return np.concatenate([np.array(given, dtype=float), future])
