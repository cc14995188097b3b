"""The methods an experiment can run, and how to register one.

A method is a function ``f(instance, params, seed) -> dict`` whose result is plain JSON data
(numbers, strings, lists, mappings): the record of one run. It is registered under a name
with :func:`register`, which also declares its parameters (checked when an experiment file
is read, before anything runs), whether it uses the seed, and which result fields the summary
tables show by default.

Records are compared across backends, so a method returns no timings and nothing else that
depends on the machine: the runner keeps the wall time in the record's ``meta`` field.

Built-in methods
----------------
``solve``
    The MILP of :mod:`edgebound.models` solved by HiGHS (:func:`edgebound.solvers.solve`):
    status, objective, proven bound, gap, the evaluator's objectives and the decision.
``bound``
    Certified bounds of :mod:`edgebound.bounds`: LP relaxation and MILP bound.
``simulate``
    One seeded run of the versioning simulator (:class:`edgebound.sim.MMVSimulator`) with an
    update policy, optionally scored against its clairvoyant bound
    (:func:`edgebound.sim.schedule.bound_check`).
``pareto``
    A Pareto front of the MMV problem: NSGA-II/III (:func:`edgebound.pareto.mmv_nsga`) or the
    exact front (:func:`edgebound.pareto.mmv_front`).

Examples
--------
>>> from edgebound.instances import load
>>> m = method("simulate")
>>> m.seeded({"policy": "never"}), sorted(m.params)[:3]
(True, ['arrivals', 'bound', 'load'])
>>> rec = m.func(load("gentzen-star4"), m.complete({"policy": "never", "arrivals": 2000}), 0)
>>> rec["policy"], rec["arrivals"], round(rec["objectives"]["accuracy"], 2)
('never', 2000, 0.58)
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from edgebound.errors import EdgeboundError
from edgebound.instances import Instance

__all__ = ["Method", "Param", "method", "methods", "register"]

MethodFunc = Callable[[Instance, dict[str, Any], "int | None"], Mapping[str, Any]]
F = TypeVar("F", bound=MethodFunc)


@dataclass(frozen=True)
class Param:
    """One parameter of a method: its default, the types it accepts and its allowed values.

    Parameters
    ----------
    default : Any
        Used when the experiment does not set the parameter; ``None`` also makes ``None`` an
        allowed value.
    types : tuple of type
        Accepted types (an ``int`` is accepted where ``float`` is; a ``bool`` is never taken
        for a number).
    choices : tuple, optional
        The allowed values (for strings), or the allowed items (for lists).
    low : float, optional
        Smallest allowed value of a number (inclusive).
    doc : str
        What the parameter means, with its unit.

    Examples
    --------
    >>> p = Param(0.5, (float,), low=0.0, doc="server load")
    >>> p.check(0.7) is None, p.check(-1), p.check("x")
    (True, 'must be >= 0', 'must be a number')
    """

    default: Any
    types: tuple[type, ...]
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    doc: str = ""

    def check(self, value: Any) -> str | None:
        """What is wrong with ``value`` (phrased to follow it), or ``None`` when it is allowed.

        Examples
        --------
        >>> Param("a", (str,), choices=("a", "b")).check("c")
        "must be one of 'a', 'b'"
        """
        if value is None:
            return None if self.default is None else f"must not be null ({self._type_text()})"
        if not self._type_ok(value):
            return f"must be {self._type_text()}"
        if self.choices is not None:
            items = value if isinstance(value, list) else [value]
            bad = [v for v in items if v not in self.choices]
            if bad:
                allowed = ", ".join(repr(c) for c in self.choices)
                if isinstance(value, list):
                    return f"has {bad[0]!r}; items must be among {allowed}"
                return f"must be one of {allowed}"
        if self.low is not None and isinstance(value, (int, float)) and value < self.low:
            return f"must be >= {self.low:g}"
        return None

    def _type_ok(self, value: Any) -> bool:
        if isinstance(value, bool):
            return bool in self.types
        if isinstance(value, int) and float in self.types:
            return True
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return isinstance(value, self.types)

    def _type_text(self) -> str:
        names = {
            bool: "true or false",
            int: "an integer",
            float: "a number",
            str: "a string",
            list: "a list",
            dict: "a mapping",
        }
        return " or ".join(names.get(t, t.__name__) for t in self.types)


@dataclass(frozen=True)
class Method:
    """A registered method: a function of ``(instance, params, seed)`` and its declaration.

    Attributes
    ----------
    name : str
        The name experiment files use.
    func : callable
        ``func(instance, params, seed) -> dict``; ``params`` has every declared parameter
        (defaults filled in); ``seed`` is ``None`` for an unseeded run.
    params : mapping of str to Param, or None
        The declared parameters; ``None`` accepts any parameters and passes them unchecked.
    seeded : callable
        ``seeded(params) -> bool``: whether runs with these parameters use the seed. An
        unseeded run is run once, whatever the experiment's seeds.
    metrics : tuple of str
        Result fields (dotted paths, e.g. ``objectives.delay``) the summary tables show.
    doc : str
        First line of the function's docstring.
    """

    name: str
    func: MethodFunc
    params: Mapping[str, Param] | None
    seeded: Callable[[Mapping[str, Any]], bool]
    metrics: tuple[str, ...] = ()
    doc: str = ""

    def complete(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with the defaults of the parameters it leaves out, in declared order.

        Examples
        --------
        >>> method("bound").complete({"objective": "delay"})["objective"]
        'delay'
        """
        if self.params is None:
            return dict(params)
        return {name: params.get(name, p.default) for name, p in self.params.items()}


_REGISTRY: dict[str, Method] = {}


def register(
    name: str,
    *,
    params: Mapping[str, Param] | None = None,
    seeded: bool | Callable[[Mapping[str, Any]], bool] = True,
    metrics: Sequence[str] = (),
) -> Callable[[F], F]:
    """Register a function as a method of experiment files (a decorator).

    Parameters
    ----------
    name : str
        The name experiment files use; registering a name again replaces the method.
    params : mapping of str to Param, optional
        The parameters it takes; without it any parameters are passed unchecked.
    seeded : bool or callable
        Whether its runs use the seed (or a function of the parameters saying so).
    metrics : sequence of str
        Result fields the summary tables show by default.

    Notes
    -----
    Worker processes import the method's module to find it. A method registered in a module
    that the workers import too (a package of yours) can be named in experiment files as
    ``package.module:function``; one registered in a script runs only with ``workers=1``.

    Examples
    --------
    >>> @register("count-nodes", seeded=False, metrics=("nodes",))
    ... def count_nodes(instance, params, seed):
    ...     return {"nodes": len(instance.node_names)}
    >>> from edgebound.instances import load
    >>> method("count-nodes").func(load("gentzen-star4"), {}, None)
    {'nodes': 4}
    """

    def decorate(func: F) -> F:
        is_seeded = seeded if callable(seeded) else (lambda _p, s=bool(seeded): s)
        doc = (func.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = Method(name, func, params, is_seeded, tuple(metrics), doc)
        return func

    return decorate


def methods() -> dict[str, Method]:
    """The registered methods by name.

    Examples
    --------
    >>> {"solve", "bound", "simulate", "pareto"} <= set(methods())
    True
    """
    return dict(_REGISTRY)


def method(name: str) -> Method:
    """The method called ``name``, or the function at ``package.module:function``.

    Raises
    ------
    EdgeboundError
        If there is no such method; the message lists the registered ones.

    Examples
    --------
    >>> method("solve").seeded({})
    False
    >>> method("edgebound.bench.methods:run_solve").name
    'edgebound.bench.methods:run_solve'
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            target = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise EdgeboundError(f"method {name!r}: cannot import it ({exc})") from None
        if isinstance(target, Method):
            return target
        if callable(target):
            for known in _REGISTRY.values():
                if known.func is target:
                    return Method(name, target, known.params, known.seeded, known.metrics)
            return Method(name, target, None, lambda _p: True)
    known_names = ", ".join(sorted(_REGISTRY))
    raise EdgeboundError(
        f"method {name!r}: not registered (registered: {known_names}; or give a function "
        "as package.module:function)"
    )


# --------------------------------------------------------------------------- built-in methods

_MMV_OBJECTIVES = ("weighted", "delay", "accuracy", "security", "reliability")
_PLACEMENT_OBJECTIVES = (
    "weighted",
    "latency",
    "energy",
    "power",
    "cost",
    "dropped",
    "migrations",
    "throughput",
)
_MODELS = ("auto", "mmv", "mmv-schedule", "placement")
_POLICIES = ("always", "never", "random", "qlearning")
_PARETO_OBJECTIVES = ("delay", "accuracy", "security", "reliability")


def _model(instance: Instance, model: str) -> str:
    """``auto``: the placement model for instances with sites, else the MMV model."""
    if model != "auto":
        return model
    return "placement" if instance.topology.sites else "mmv"


def _objective(model: str, objective: str | None) -> str:
    if objective is not None:
        return objective
    return "energy" if model == "placement" else "weighted"


def _num(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


_SOLVE_PARAMS = {
    "model": Param("auto", (str,), _MODELS, doc="auto: placement with sites, else mmv"),
    "objective": Param(
        None,
        (str,),
        tuple(dict.fromkeys(_MMV_OBJECTIVES + _PLACEMENT_OBJECTIVES)),
        doc="default: weighted (MMV), energy (placement)",
    ),
    "weights": Param(None, (dict,), doc="weights of the weighted sum"),
    "constraints": Param(None, (dict,), doc="epsilon-constraints, e.g. {accuracy: 0.7}"),
    "steps": Param(None, (int,), low=1, doc="periods of mmv-schedule"),
    "time_limit": Param(60.0, (float,), low=0.001, doc="seconds per solve"),
    "mip_gap": Param(1e-6, (float,), low=0.0, doc="relative MIP gap counted as optimal"),
    "method": Param(
        "milp",
        (str,),
        ("milp", "decomposition", "price-and-branch"),
        doc="decomposition: column generation (mmv) or fix-and-optimize (placement); "
        "price-and-branch: column generation over the services (placement)",
    ),
}


@register("solve", params=_SOLVE_PARAMS, seeded=False, metrics=("objective", "gap"))
def run_solve(instance: Instance, params: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """Solve a MILP of the instance with HiGHS; the evaluator's objectives and the decision.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> rec = run_solve(load("gentzen-star4"), method("solve").complete({}), None)
    >>> rec["model"], rec["status"], round(rec["objective"], 4)
    ('mmv', 'optimal', -19.8186)
    """
    from edgebound.models import mmv, mmv_schedule, placement
    from edgebound.solvers import solve

    model = _model(instance, params["model"])
    objective = _objective(model, params["objective"])
    common = {"weights": params["weights"], "constraints": params["constraints"] or {}}
    limits = {"time_limit": params["time_limit"], "mip_gap": params["mip_gap"]}
    decomposed = params["method"] == "decomposition"
    if decomposed and (model == "mmv-schedule" or (model == "mmv" and common["constraints"])):
        raise EdgeboundError(
            f"method: decomposition is for model mmv without constraints or for placement, "
            f"not model {model!r}" + (" with constraints" if model == "mmv" else "")
        )
    priced = params["method"] == "price-and-branch"
    if priced and model != "placement":
        raise EdgeboundError(f"method: price-and-branch is for model placement, not {model!r}")
    if decomposed and model == "mmv":
        from edgebound.models.mmv_decomposition import solve_decomposed

        res = solve_decomposed(instance, objective, weights=params["weights"], **limits)
    else:
        if model == "placement":
            built = placement.build(instance, objective, **common)
        elif model == "mmv":
            built = mmv.build(instance, objective, **common)
        else:
            built = mmv_schedule.build(instance, objective, steps=params["steps"], **common)
        if decomposed:
            from edgebound.models import placement_decompose

            res = placement_decompose.solve(built, **limits)
        elif priced:
            from edgebound.models import placement_decompose

            res = placement_decompose.price_and_branch(built, **limits)
        else:
            res = solve(built, **limits)
    doc = res.to_dict()
    keep = ("status", "optimal", "objective", "bound", "gap", "objectives", "feasible")
    out = {"model": model, "objective_name": objective} | {k: doc[k] for k in keep}
    # records carry no timings (fix-and-optimize reports the seconds of its phases)
    stats = {k: v for k, v in doc["stats"].items() if not k.endswith("_s")}
    return out | {"decision": doc["decision"], "stats": stats, "notes": doc["notes"]}


_BOUND_PARAMS = {
    "model": Param("auto", (str,), _MODELS, doc="auto: placement with sites, else mmv"),
    "objective": Param(
        None,
        (str,),
        tuple(dict.fromkeys(_MMV_OBJECTIVES + _PLACEMENT_OBJECTIVES)),
        doc="default: weighted (MMV), energy (placement)",
    ),
    "steps": Param(None, (int,), low=1, doc="periods of mmv-schedule"),
    "time_limit": Param(60.0, (float,), low=0.001, doc="seconds per solve"),
    "mip_gap": Param(1e-4, (float,), low=0.0, doc="relative MIP gap"),
}


@register("bound", params=_BOUND_PARAMS, seeded=False, metrics=("bound", "incumbent", "gap"))
def run_bound(instance: Instance, params: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """Certified bounds (LP relaxation and MILP bound) of a model of the instance.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> rec = run_bound(load("gentzen-star4"), method("bound").complete({}), None)
    >>> rec["model"], rec["sense"], rec["status"]
    ('mmv', 'min', 'optimal')
    """
    from edgebound import bounds

    model = _model(instance, params["model"])
    objective = _objective(model, params["objective"])
    common = {"time_limit": params["time_limit"], "mip_gap": params["mip_gap"]}
    if model == "placement":
        b = bounds.placement(instance, objective=objective, **common)
    else:
        b = bounds.mmv(
            instance,
            objective=objective,
            steps=params["steps"],
            schedule=model == "mmv-schedule",
            **common,
        )
    doc = b.to_dict()
    doc.pop("wall_s")
    doc.pop("decision")
    return doc


_SIM_PARAMS = {
    "policy": Param("always", (str,), _POLICIES, doc="update policy"),
    "load": Param(None, (float,), low=1e-9, doc="the paper's server load (eq 1); default: file"),
    "arrivals": Param(20_000, (int,), low=1, doc="requests per run"),
    "scaling": Param(True, (bool,), doc="run the monitoring-based scaler"),
    "min_replicas": Param(1, (int,), low=0, doc="the scaler's floor"),
    "scale_up_load": Param(1.0, (float,), low=0.0, doc="requests per replica to scale up"),
    "warmup": Param(0.0, (float,), low=0.0, doc="share of first arrivals left out"),
    "periods": Param(4, (int,), low=1, doc="periods of the run's schedule (for bound)"),
    "bound": Param(False, (bool,), doc="score the run against its clairvoyant bound"),
    "time_limit": Param(30.0, (float,), low=0.001, doc="seconds for the bound's solve"),
}
_SIM_METRICS = tuple(f"objectives.{m}" for m in (*_MMV_OBJECTIVES[1:], "weighted"))


@register("simulate", params=_SIM_PARAMS, seeded=True, metrics=(*_SIM_METRICS, "bound.gap"))
def run_simulate(instance: Instance, params: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """One seeded run of the versioning simulator with an update policy.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> p = method("simulate").complete({"policy": "never", "arrivals": 2000})
    >>> rec = run_simulate(load("gentzen-star4"), p, 3)
    >>> rec["seed"], rec["counts"]["updates"]
    (3, 0)
    """
    from edgebound.sim import MMVSimulator, make_policy
    from edgebound.sim.schedule import bound_check

    sim = MMVSimulator(
        instance,
        load=params["load"],
        arrivals=params["arrivals"],
        seed=seed or 0,
        scaling=params["scaling"],
        min_replicas=params["min_replicas"],
        scale_up_load=params["scale_up_load"],
        warmup=params["warmup"],
        periods=params["periods"],
    )
    res = sim.run(make_policy(params["policy"]))
    doc = res.to_dict()
    doc.pop("wall_s")
    if params["bound"]:
        check = bound_check(instance, res, time_limit=params["time_limit"])
        doc["bound"] = {k: _num(v) for k, v in check.items()}
    return doc


_PARETO_PARAMS = {
    "objectives": Param(
        ["delay", "accuracy"], (list,), _PARETO_OBJECTIVES, doc="two to four MMV objectives"
    ),
    "algorithm": Param("nsga2", (str,), ("nsga2", "nsga3", "exact"), doc="front method"),
    "pop_size": Param(40, (int,), low=2, doc="population (NSGA)"),
    "generations": Param(40, (int,), low=0, doc="generations (NSGA)"),
    "grid_points": Param(10, (int,), low=2, doc="epsilon grid points (exact)"),
    "delta": Param(1e-6, (float,), low=0.0, doc="epsilon step (exact)"),
    "time_limit": Param(None, (float,), low=0.001, doc="seconds per solve (exact)"),
    "ref": Param(None, (list,), doc="hypervolume reference point, in the objectives' senses"),
}


@register(
    "pareto",
    params=_PARETO_PARAMS,
    seeded=lambda p: p.get("algorithm", "nsga2") != "exact",
    metrics=("points", "hypervolume"),
)
def run_pareto(instance: Instance, params: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """A Pareto front of the MMV problem (NSGA-II/III or exact); its points and hypervolume.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> p = method("pareto").complete({"pop_size": 10, "generations": 5, "ref": [40, 0.5]})
    >>> rec = run_pareto(load("gentzen-star4"), p, 1)
    >>> rec["names"], rec["points"] == len(rec["F"]), rec["hypervolume"] > 0
    (['delay', 'accuracy'], True, True)
    """
    from edgebound.pareto import mmv_front, mmv_nsga

    names = list(params["objectives"])
    if params["algorithm"] == "exact":
        front = mmv_front(
            instance,
            names,
            delta=params["delta"],
            grid_points=params["grid_points"],
            time_limit=params["time_limit"],
        )
    else:
        front = mmv_nsga(
            instance,
            names,
            pop_size=params["pop_size"],
            generations=params["generations"],
            seed=seed or 0,
            algorithm=params["algorithm"],
        )
    ref = params["ref"]
    if ref is not None and len(ref) != len(names):
        raise EdgeboundError(f"ref: {ref!r} must have one value per objective ({len(names)})")
    return {
        "names": names,
        "senses": list(front.senses),
        "units": list(front.units),
        "method": front.method,
        "exact": front.exact,
        "points": len(front),
        "F": front.F.tolist(),
        "hypervolume": None if ref is None else front.hypervolume(ref),
    }


_CONTROLLERS = ("heuristic", "mpc-seasonal", "mpc-oracle", "mpc-tcn")
_PLANT_METRICS = ("p95_latency_ms", "slo_violation_pct", "throughput_rps", "energy_j_per_req")
_PLANT_PARAMS = {
    "controller": Param("heuristic", (str,), _CONTROLLERS, doc="heuristic autoscaler or MPC"),
    "periods": Param(None, (int,), low=1, doc="control periods; default: the workload's"),
    "horizon": Param(None, (int,), low=1, doc="MPC horizon in periods; default: MPCConfig's"),
}


@register("plant", params=_PLANT_PARAMS, seeded=True, metrics=(*_PLANT_METRICS, "weighted"))
def run_plant(instance: Instance, params: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """A closed-loop run of a controller on the continuum plant; the paper's metrics.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> p = method("plant").complete({"periods": 2})
    >>> rec = run_plant(load("continuum-3edge-2cloud"), p, 0)
    >>> rec["controller"], rec["periods"], rec["p95_latency_ms"] > 0
    ('heuristic', 2, True)
    """
    from edgebound.evaluate.placement_schedule import evaluate_placement_schedule
    from edgebound.instances.traces import demand_series
    from edgebound.sim.autoscaler import HeuristicAutoscaler
    from edgebound.sim.continuum import Controller, run

    demand = demand_series(instance)
    name = params["controller"]
    controller: Controller
    if name == "heuristic":
        controller = HeuristicAutoscaler()
    else:
        from edgebound.mpc.controller import MPCController
        from edgebound.mpc.model import MPCConfig

        config = MPCConfig() if params["horizon"] is None else MPCConfig(horizon=params["horizon"])
        controller = MPCController(name.removeprefix("mpc-"), config, demand=demand)
    res = run(instance, controller, seed=seed or 0, periods=params["periods"], demand=demand)
    ev = evaluate_placement_schedule(instance, res.decisions(), demand[:, : res.periods])
    summary = {k: _num(float(v)) for k, v in res.summary.items()}
    return (
        {"controller": name, "periods": res.periods}
        | summary
        | {"weighted": _num(float(ev.objectives["weighted"]))}
    )


_MPC_PARAMS = {
    "forecast": Param("seasonal", (str,), ("seasonal", "oracle", "tcn"), doc="load forecast"),
    "periods": _PLANT_PARAMS["periods"],
    "horizon": _PLANT_PARAMS["horizon"],
}


@register("mpc", params=_MPC_PARAMS, seeded=True, metrics=(*_PLANT_METRICS, "weighted"))
def run_mpc(instance: Instance, params: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """The MPC in closed loop on the continuum plant: ``plant`` with ``controller: mpc-*``.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> p = method("mpc").complete({"periods": 1, "horizon": 2})
    >>> rec = run_mpc(load("continuum-3edge-2cloud"), p, 0)
    >>> rec["controller"], rec["periods"]
    ('mpc-seasonal', 1)
    """
    plant = {"controller": f"mpc-{params['forecast']}"} | {
        k: params[k] for k in ("periods", "horizon")
    }
    return run_plant(instance, plant, seed)
