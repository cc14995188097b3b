r"""The MMV evaluator: what a versioning decision achieves, computed without any solver.

This is the referee of the MMV (ML model versioning) models: every model's reported
objective must equal :func:`evaluate_mmv` on the decision it returns (to 1e-6). Equation
numbers are those of the versioning paper (see the docs page "The MMV model").

**Decision.** A decision in plain (JSON) form::

    {"model": "mmv",                               # optional
     "versions": {"model-1": "1.0"},               # a service left out keeps its running one
     "replicas": {"model-1": {"E1": 1, "E3": 2}}}  # whole numbers >= 0; nodes left out have 0

Counts may be ints, numpy integers or floats with a whole value (``2.0``); ``True``,
``1.5``, ``"2"`` and negative numbers are errors. For service k: :math:`v_k` is its chosen
version, :math:`\delta_{k,n}` its replicas on node n, :math:`c_k = \sum_n \delta_{k,n}`,
:math:`\lambda_k` the sum of the ``rate_rps`` of its demands, :math:`\mu_k` the
``service_rate_rps`` of :math:`v_k`, and :math:`a_k = 1` when :math:`v_k` differs from the
running version (``Instance.running_version``), else 0; a rollback is a change too.

**Constraints.** Each violation is reported with how far past its limit the decision is.

``version`` (eqs 2-4 and the update rules)
    :math:`v_k` must be released by ``state.time_s`` (amount in s), not older than the running
    version unless ``policy.allow_rollback`` (amount 1), and fit on at least one node,
    residency included (amount 1): exactly ``Instance.candidate_versions``.
``capacity.cpu``, ``capacity.ram_gb``, ``capacity.disk_gb``, ``capacity.gpus`` (eqs 5-7)
    :math:`\sum_k b^r_{k,v_k} \delta_{k,n} \le \mathrm{capacity}^r_n` per node; amount =
    used - capacity.
``stability`` (eq 1)
    :math:`\lambda_k \le \rho_{\max} c_k \mu_k` with :math:`\rho_{\max}` =
    ``policy.max_utilization``; amount = :math:`\lambda_k - \rho_{\max} c_k \mu_k` in req/s
    (finite even when :math:`c_k = 0`).
``residency``
    No replica on a node outside the service's ``allowed_regions`` (a rule of the instance
    schema, not of the paper); amount = replicas on that node.

A limit counts as violated only when it is exceeded by more than 1e-9 times
``max(1, capacity)`` (capacities) or ``max(1, lambda_k)`` (stability), so that rounding in
sums of floats does not flag a decision that meets it.

**Delay** (eq 8) of a request of service k, in ms:

.. math::

    d_k = \frac{1000}{\mu_k}
        + \frac{\sum_n \delta_{k,n} t_n}{c_k}
        + a_k \, s_k \, e
        + 1000 \, W_q(c_k, \lambda_k, \mu_k)

with :math:`t_n` = ``Instance.transmission_ms`` (requests are spread evenly over the
replicas), :math:`s_k` = ``spawn_time_ms``, :math:`e` = ``policy.spawn_exposure`` and
:math:`W_q` the Erlang-C mean wait of an M/M/c queue in s
(:func:`~edgebound.evaluate.queueing.mmc_mean_wait`), infinite when the queue is unstable
or :math:`c_k = 0` (the transmission term is then taken as 0).

**Objectives** (eqs 9-12) are request-weighted averages with weights
:math:`w_k = \lambda_k / \sum_j \lambda_j` (equal weights when no service has demand);
services of weight 0 do not enter them:

* ``delay`` = :math:`O_1 = \sum_k w_k d_k` (ms, min),
* ``accuracy``, ``security``, ``reliability`` = :math:`O_2, O_3, O_4`, the weighted scores of
  the chosen versions (unit 1, max),
* ``weighted`` = :math:`\omega_d O_1 / d_{\mathrm{ref}} - \omega_a O_2 - \omega_s O_3 -
  \omega_r O_4` (min), the scalarization of eq 12, with :math:`\omega` from
  ``policy.weights`` (a missing name weighs 0) and :math:`d_{\mathrm{ref}}` =
  ``policy.delay_ref_ms`` or, when that is null, the weighted processing time
  :math:`\sum_k w_k \cdot 1000/\mu_{k,\mathrm{running}}` of the running versions. A term of
  weight 0 is 0 even when its objective is infinite.

Examples
--------
>>> from edgebound.instances import load
>>> inst = load("gentzen-star4")
>>> ev = evaluate_mmv(inst, {"replicas": {s: {"E1": 1} for s in inst.service_names}})
>>> ev.feasible, round(ev.objectives["delay"], 6)
(True, 25.0)
"""

from __future__ import annotations

import difflib
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from edgebound.errors import DecisionError, InstanceError, Problem
from edgebound.evaluate.common import Evaluation, Violation
from edgebound.evaluate.queueing import mmc_mean_wait
from edgebound.instances.schema import Instance, Version, fits

__all__ = ["MMVDecision", "evaluate_mmv", "parse_mmv_decision"]

_RESOURCES = ("cpu", "ram_gb", "disk_gb", "gpus")
_RESOURCE_NAME = {
    "cpu": ("CPU", "vCPU"),
    "ram_gb": ("RAM", "GB"),
    "disk_gb": ("disk", "GB"),
    "gpus": ("GPUs", "GPU"),
}
_KEYS = ("model", "versions", "replicas")
_TOL = 1e-9

_OBJECTIVES = ("delay", "accuracy", "security", "reliability", "weighted")
_UNITS = {"delay": "ms", "accuracy": "1", "security": "1", "reliability": "1", "weighted": "1"}
_SENSES = {
    "delay": "min",
    "accuracy": "max",
    "security": "max",
    "reliability": "max",
    "weighted": "min",
}


@dataclass(frozen=True)
class MMVDecision:
    """A checked MMV decision, complete and in the instance's order.

    Parameters
    ----------
    versions : dict of str to str
        Version label (``"x.y"``) of every service, in service order.
    replicas : dict of str to dict of str to int
        For every service (in service order), its replicas per node; nodes with none are
        left out.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> inst = load("gentzen-star4")
    >>> d = parse_mmv_decision(inst, {"versions": {"model-1": "1.0"},
    ...                               "replicas": {"model-1": {"E2": 2, "E1": 0}}})
    >>> d.versions["model-1"], d.versions["model-2"], d.replicas["model-1"]
    ('1.0', '0.0', {'E2': 2})
    """

    versions: dict[str, str]
    replicas: dict[str, dict[str, int]]

    def to_dict(self) -> dict[str, Any]:
        """Return the plain JSON form, accepted back by :func:`parse_mmv_decision`.

        Examples
        --------
        >>> MMVDecision({"a": "1.0"}, {"a": {"n1": 2}}).to_dict()
        {'model': 'mmv', 'versions': {'a': '1.0'}, 'replicas': {'a': {'n1': 2}}}
        """
        return {
            "model": "mmv",
            "versions": dict(self.versions),
            "replicas": {k: dict(v) for k, v in self.replicas.items()},
        }


# --------------------------------------------------------------------------- instance tables


class _Tables:
    """What the evaluator needs from one instance, computed once per instance."""

    def __init__(self, inst: Instance) -> None:
        self.services = inst.service_names
        self.nodes = inst.node_names
        self.sidx = {s: k for k, s in enumerate(self.services)}
        self.nidx = {n: i for i, n in enumerate(self.nodes)}
        self.versions: list[dict[str, Version]] = []
        self.running: list[str] = []
        self.res: list[dict[str, tuple[float, ...]]] = []
        self.version_violations: list[dict[str, tuple[Violation, ...]]] = []
        self.forbidden: list[dict[int, str]] = []
        policy = inst.policy
        for svc in inst.services:
            by_label = {v.label: v for v in sorted(svc.versions, key=lambda v: v.key)}
            try:
                run = inst.running_version(svc.name)
            except KeyError as exc:
                label = inst.state.running.get(svc.name)
                raise InstanceError(
                    [
                        Problem(
                            f"state.running.{svc.name}", label, _unknown(label, by_label, "version")
                        )
                    ]
                ) from exc
            self.versions.append(by_label)
            self.running.append(run.label)
            self.res.append(
                {
                    lab: tuple(float(getattr(v, r)) for r in _RESOURCES)
                    for lab, v in by_label.items()
                }
            )
            candidates = {v.label for v in inst.candidate_versions(svc.name)}
            self.version_violations.append(
                {
                    lab: () if lab in candidates else _version_violations(inst, svc.name, v, run)
                    for lab, v in by_label.items()
                }
            )
            forbidden: dict[int, str] = {}
            if svc.allowed_regions is not None:
                for i, node in enumerate(inst.topology.nodes):
                    if node.region not in svc.allowed_regions:
                        forbidden[i] = str(node.region)
            self.forbidden.append(forbidden)
        lam = [0.0] * len(self.services)
        for dem in inst.workload.demands:
            if dem.service in self.sidx:
                lam[self.sidx[dem.service]] += dem.rate_rps
        self.lam = lam
        total = sum(lam)
        k_count = len(lam)
        self.share = [x / total for x in lam] if total > 0 else [1.0 / k_count] * k_count
        self.t_ms_list = [float(x) for x in inst.transmission_ms]
        self.cap = np.array(
            [[float(getattr(n, r)) for r in _RESOURCES] for n in inst.topology.nodes], dtype=float
        ).reshape(len(self.nodes), len(_RESOURCES))
        self.cap_dicts = [_resource_dict(row) for row in self.cap.tolist()]
        self.spawn_ms = [svc.spawn_time_ms * policy.spawn_exposure for svc in inst.services]
        self.max_util = policy.max_utilization
        w = policy.weights
        self.weights = tuple(float(w.get(name, 0.0)) for name in _OBJECTIVES[:4])
        if policy.delay_ref_ms is not None:
            self.ref_ms = float(policy.delay_ref_ms)
        else:
            self.ref_ms = sum(
                s * 1000.0 / self.versions[k][self.running[k]].service_rate_rps
                for k, s in enumerate(self.share)
            )


def _version_violations(
    inst: Instance, service: str, v: Version, run: Version
) -> tuple[Violation, ...]:
    where = f"service {service}"
    out = []
    if v.release_s > inst.state.time_s:
        out.append(
            Violation(
                "version",
                where,
                v.release_s - inst.state.time_s,
                "s",
                f"{service} v{v.label} is released at {v.release_s:g} s, after the current "
                f"time {inst.state.time_s:g} s; choose a released version",
            )
        )
    if v.key < run.key and not inst.policy.allow_rollback:
        out.append(
            Violation(
                "version",
                where,
                1.0,
                "1",
                f"{service} v{v.label} is older than the running v{run.label} and "
                "policy.allow_rollback is false",
            )
        )
    svc = inst.service(service)
    if not any(fits(v, n, svc) for n in inst.topology.nodes):
        needs = ", ".join(
            f"{getattr(v, r):g} {_RESOURCE_NAME[r][1]}"
            + (f" {_RESOURCE_NAME[r][0]}" if r in ("ram_gb", "disk_gb") else "")
            for r in _RESOURCES
        )
        regions = (
            f" in regions {', '.join(svc.allowed_regions)}"
            if svc.allowed_regions is not None
            else ""
        )
        out.append(
            Violation(
                "version",
                where,
                1.0,
                "1",
                f"{service} v{v.label} fits on no node{regions} (eqs 2-4): one replica needs "
                f"{needs}",
            )
        )
    return tuple(out)


_CACHE: OrderedDict[int, tuple[Instance, _Tables]] = OrderedDict()
_CACHE_SIZE = 16
_LOCK = threading.Lock()


def _tables(inst: Instance) -> _Tables:
    # Instances are unhashable (they hold dicts), so the cache is keyed by id; the entry keeps
    # the instance alive, so its id cannot be reused by another object while cached.
    key = id(inst)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is inst:
            _CACHE.move_to_end(key)
            return hit[1]
    tables = _Tables(inst)
    with _LOCK:
        _CACHE[key] = (inst, tables)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return tables


# --------------------------------------------------------------------------- parsing


def _unknown(value: Any, known: Iterable[str], what: str) -> str:
    known = list(known)
    close = difflib.get_close_matches(value, known, n=1) if isinstance(value, str) else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(known[:10]) + (f", ... ({len(known)} in all)" if len(known) > 10 else "")
    return f"is not a {what} (known: {shown}){hint}"


def _count(value: Any) -> int | None:
    """The replica count ``value`` stands for, or None if it is not a whole number >= 0."""
    if type(value) is int:
        return value if value >= 0 else None
    if isinstance(value, bool):
        return None
    whole = isinstance(value, Integral) or (
        isinstance(value, Real) and math.isfinite(float(value)) and float(value).is_integer()
    )
    if not whole:
        return None
    n = int(value)
    return n if n >= 0 else None


def _parse(t: _Tables, decision: Any) -> tuple[list[str], list[dict[int, int]]]:
    if isinstance(decision, MMVDecision):
        decision = decision.to_dict()
    if not isinstance(decision, Mapping):
        raise DecisionError(
            [Problem("decision", decision, "must be a mapping with keys model, versions, replicas")]
        )
    problems: list[Problem] = []
    for key in decision:
        if key not in _KEYS:
            problems.append(Problem(str(key), decision[key], _unknown(key, _KEYS, "decision key")))
    if "model" in decision and decision["model"] != "mmv":
        problems.append(Problem("model", decision["model"], "must be 'mmv' for an MMV decision"))

    labels = list(t.running)
    versions = decision.get("versions", {})
    if not isinstance(versions, Mapping):
        problems.append(
            Problem("versions", versions, "must be a mapping from service name to version label")
        )
        versions = {}
    for name, label in versions.items():
        path = f"versions.{name}"
        k = t.sidx.get(name)
        if k is None:
            problems.append(Problem(path, name, _unknown(name, t.services, "service")))
        elif not isinstance(label, str):
            known = ", ".join(t.versions[k])
            problems.append(
                Problem(path, label, f"must be a version label string 'x.y' (known: {known})")
            )
        elif label not in t.versions[k]:
            problems.append(
                Problem(path, label, _unknown(label, t.versions[k], f"version of {name}"))
            )
        else:
            labels[k] = label

    counts: list[dict[int, int]] = [{} for _ in t.services]
    replicas = decision.get("replicas", {})
    if not isinstance(replicas, Mapping):
        problems.append(
            Problem("replicas", replicas, "must be a mapping from service name to {node: count}")
        )
        replicas = {}
    for name, per_node in replicas.items():
        path = f"replicas.{name}"
        k = t.sidx.get(name)
        if k is None:
            problems.append(Problem(path, name, _unknown(name, t.services, "service")))
            continue
        if not isinstance(per_node, Mapping):
            problems.append(Problem(path, per_node, "must be a mapping from node name to count"))
            continue
        for node, value in per_node.items():
            npath = f"{path}.{node}"
            i = t.nidx.get(node)
            if i is None:
                problems.append(Problem(npath, node, _unknown(node, t.nodes, "node")))
                continue
            n = _count(value)
            if n is None:
                problems.append(Problem(npath, value, "must be a whole number of replicas >= 0"))
            elif n:
                counts[k][i] = n
    if problems:
        raise DecisionError(problems)
    return labels, counts


def parse_mmv_decision(
    instance: Instance, decision: Mapping[str, Any] | MMVDecision
) -> MMVDecision:
    """Check an MMV decision against its instance and complete it.

    Parameters
    ----------
    instance : Instance
    decision : mapping
        The plain form ``{"model": "mmv", "versions": {...}, "replicas": {...}}`` described
        in :mod:`edgebound.evaluate.mmv`; an :class:`MMVDecision` is accepted too.

    Returns
    -------
    MMVDecision
        Every service with its version (the running one when left out) and its nonzero
        replica counts, in the instance's service and node order.

    Raises
    ------
    DecisionError
        Listing every problem: unknown keys, service, node or version names, counts that are
        not whole numbers >= 0 (``True``, ``1.5``, ``-1``, ``"2"``), values of the wrong type.
        Whether a known version may be chosen is not checked here; :func:`evaluate_mmv`
        reports it as a ``version`` violation.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> inst = load("gentzen-star4")
    >>> parse_mmv_decision(inst, {"replicas": {"model-1": {"E9": 1, "E1": -1}}})
    Traceback (most recent call last):
    ...
    edgebound.errors.DecisionError: 2 problems in decision:
      replicas.model-1.E9: 'E9' is not a node (known: E1, E2, E3, E4)
      replicas.model-1.E1: -1 must be a whole number of replicas >= 0
    """
    t = _tables(instance)
    labels, counts = _parse(t, decision)
    return MMVDecision(
        versions={s: labels[k] for k, s in enumerate(t.services)},
        replicas={
            s: {t.nodes[i]: counts[k][i] for i in sorted(counts[k])}
            for k, s in enumerate(t.services)
        },
    )


# --------------------------------------------------------------------------- evaluation


def _json(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else ("-inf" if x < 0 else "nan"))


def _exceeds(amount: float, limit: float) -> bool:
    return amount > _TOL * max(1.0, abs(limit))


def _capacity_message(
    t: _Tables, labels: list[str], counts: list[dict[int, int]], i: int, r: int, used: float
) -> str:
    res = _RESOURCES[r]
    name, unit = _RESOURCE_NAME[res]
    parts = []
    for k, per_node in enumerate(counts):
        n = per_node.get(i, 0)
        need = t.res[k][labels[k]][r]
        if n and need:
            plural = "replica" if n == 1 else "replicas"
            parts.append(f"{t.services[k]} v{labels[k]} {need:g} {unit} × {n} {plural}")
    terms = " + ".join(parts)
    return (
        f"node {t.nodes[i]} {name}: {terms} = {used:g} {unit} > {t.cap[i, r]:g} {unit}; "
        "move or remove replicas"
    )


def evaluate_mmv(instance: Instance, decision: Mapping[str, Any] | MMVDecision) -> Evaluation:
    """Evaluate an MMV decision: objectives (eqs 8-12) and every violated constraint.

    The semantics are those of :mod:`edgebound.evaluate.mmv`.

    Parameters
    ----------
    instance : Instance
    decision : mapping or MMVDecision
        ``{"model": "mmv", "versions": {service: label}, "replicas": {service: {node: n}}}``;
        a service left out of ``versions`` keeps its running version, nodes left out of
        ``replicas`` have none.

    Returns
    -------
    Evaluation
        Family ``"mmv"``; objectives ``delay`` (ms), ``accuracy``, ``security``,
        ``reliability`` and ``weighted``; violations with constraint names ``version``,
        ``capacity.<resource>``, ``stability`` and ``residency``; ``details`` with
        ``services`` (per-service delay terms, load and replicas), ``nodes`` (``used`` and
        ``capacity`` per resource) and ``delay_ref_ms``, where infinite values are ``"inf"``.

    Raises
    ------
    DecisionError
        If the decision does not match the instance (see :func:`parse_mmv_decision`).

    Examples
    --------
    >>> from edgebound.instances import load
    >>> inst = load("gentzen-star4")
    >>> ev = evaluate_mmv(inst, {"versions": {"model-5": "1.0"},
    ...                          "replicas": {"model-5": {"E3": 3}}})
    >>> [v.constraint for v in ev.violations][:2]
    ['capacity.ram_gb', 'stability']
    >>> print(ev.violations[0].message)
    node E3 RAM: model-5 v1.0 6 GB × 3 replicas = 18 GB > 16 GB; move or remove replicas
    >>> ev.details["services"]["model-5"]["spawn_ms"]
    10.0
    """
    t = _tables(instance)
    labels, counts = _parse(t, decision)
    k_count, n_count = len(t.services), len(t.nodes)
    t_ms = t.t_ms_list

    delta = np.zeros((k_count, n_count))
    for k, per_node in enumerate(counts):
        for i, n in per_node.items():
            delta[k, i] = n
    b = np.array([t.res[k][labels[k]] for k in range(k_count)], dtype=float)
    used = delta.T @ b

    violations: list[Violation] = []
    for k in range(k_count):
        violations.extend(t.version_violations[k][labels[k]])
    over = used - t.cap
    for i, r in zip(*np.nonzero(over > 0), strict=True):
        i, r = int(i), int(r)
        if _exceeds(float(over[i, r]), float(t.cap[i, r])):
            res = _RESOURCES[r]
            violations.append(
                Violation(
                    f"capacity.{res}",
                    f"node {t.nodes[i]}",
                    float(over[i, r]),
                    _RESOURCE_NAME[res][1],
                    _capacity_message(t, labels, counts, i, r, float(used[i, r])),
                )
            )

    services: dict[str, Any] = {}
    delays: list[float] = []
    for k, name in enumerate(t.services):
        per_node = counts[k]
        v = t.versions[k][labels[k]]
        mu = v.service_rate_rps
        lam = t.lam[k]
        ck = sum(per_node.values())
        limit = t.max_util * ck * mu
        if _exceeds(lam - limit, lam):
            plural = "replica" if ck == 1 else "replicas"
            violations.append(
                Violation(
                    "stability",
                    f"service {name}",
                    lam - limit,
                    "req/s",
                    f"service {name}: arrival rate {lam:g} req/s > {t.max_util:g} × {ck} "
                    f"{plural} × {mu:g} req/s = {limit:g} req/s; add replicas",
                )
            )
        updated = labels[k] != t.running[k]
        processing = 1000.0 / mu
        if ck:
            transmission = sum(n * t_ms[i] for i, n in per_node.items()) / ck
            queueing = 1000.0 * mmc_mean_wait(ck, lam, mu)
            utilization = lam / (ck * mu)
        else:
            transmission, queueing = 0.0, math.inf
            utilization = math.inf if lam > 0 else 0.0
        spawn = t.spawn_ms[k] if updated else 0.0
        delay = processing + transmission + spawn + queueing
        delays.append(delay)
        services[name] = {
            "version": labels[k],
            "updated": updated,
            "replicas": {t.nodes[i]: per_node[i] for i in sorted(per_node)},
            "total_replicas": ck,
            "arrival_rps": lam,
            "utilization": _json(utilization),
            "processing_ms": processing,
            "transmission_ms": transmission,
            "spawn_ms": spawn,
            "queueing_ms": _json(queueing),
            "delay_ms": _json(delay),
        }
    for k, forbidden in enumerate(t.forbidden):
        for i in sorted(set(forbidden) & set(counts[k])):
            n = counts[k][i]
            violations.append(
                Violation(
                    "residency",
                    f"service {t.services[k]} on node {t.nodes[i]}",
                    float(n),
                    "replica",
                    f"{t.services[k]} has {n} replica{'s' if n != 1 else ''} on node "
                    f"{t.nodes[i]} in region {forbidden[i]}, outside its allowed regions",
                )
            )

    o1 = o2 = o3 = o4 = 0.0
    for k, share in enumerate(t.share):
        if share > 0:
            v = t.versions[k][labels[k]]
            o1 += share * delays[k]
            o2 += share * v.accuracy
            o3 += share * v.security
            o4 += share * v.reliability
    wd, wa, ws, wr = t.weights
    weighted = (wd * o1 / t.ref_ms if wd else 0.0) - wa * o2 - ws * o3 - wr * o4

    nodes = {
        name: {"used": _resource_dict(row), "capacity": dict(cap)}
        for name, row, cap in zip(t.nodes, used.tolist(), t.cap_dicts, strict=True)
    }
    return Evaluation(
        family="mmv",
        objectives={
            "delay": o1,
            "accuracy": o2,
            "security": o3,
            "reliability": o4,
            "weighted": weighted,
        },
        units=dict(_UNITS),
        senses=dict(_SENSES),
        violations=tuple(violations),
        details={"services": services, "nodes": nodes, "delay_ref_ms": t.ref_ms},
    )


def _resource_dict(row: list[float]) -> dict[str, float | int]:
    cpu, ram, disk, gpus = row
    return {"cpu": cpu, "ram_gb": ram, "disk_gb": disk, "gpus": round(gpus)}
