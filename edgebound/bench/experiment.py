"""Experiment files and their expansion into runs.

An experiment file (YAML) names instances, methods with their parameters and parameter grids,
and seeds::

    name: policies-vs-bounds
    seeds: 5                      # seeds 0..4; or a list, e.g. [0, 7, 11]
    instances:                    # bundled names, files (relative to this file), generators
      - gentzen-star4
      - continuum-3edge-2cloud
      - {generator: mmv-random, size: small, seed: 0}
    methods:
      - method: simulate
        instances: [gentzen-star4]  # optional: a subset of the instances above
        params: {arrivals: 20000}   # fixed parameters
        grid:                       # each list is an axis; every combination runs
          policy: [always, never, random, qlearning]
          load: [0.3, 0.6]
      - method: solve
        seeds: 1                    # optional: this method's own seeds
      - method: bound

Each combination of instance, parameters and seed is a :class:`Run`. Methods that do not use
the seed (``solve``, ``bound``) run once per instance and parameters. A run's ``key`` is a
hash of the instance's content, the method, its complete parameters (defaults filled in)
and the seed: the same run has the same key on every machine and backend, which is how a
resumed sweep recognizes finished runs.

Examples
--------
>>> exp = loads_experiment('''
... name: tiny
... seeds: 2
... instances: [gentzen-star4]
... methods:
...   - method: simulate
...     params: {arrivals: 2000}
...     grid: {policy: [always, never]}
...   - method: solve
... ''')
>>> [(r.method, r.params.get("policy"), r.seed) for r in exp.runs]
... # doctest: +NORMALIZE_WHITESPACE
[('simulate', 'always', 0), ('simulate', 'always', 1), ('simulate', 'never', 0),
 ('simulate', 'never', 1), ('solve', None, None)]
>>> len(exp.runs[0].key)
16
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgebound.errors import EdgeboundError, InstanceError, Problem
from edgebound.instances import Instance, dumps
from edgebound.instances import load as load_instance

__all__ = [
    "Experiment",
    "ExperimentError",
    "Run",
    "from_mapping",
    "load_experiment",
    "loads_experiment",
    "run_key",
]

_TOP_KEYS = ("name", "description", "seeds", "instances", "methods")
_METHOD_KEYS = ("method", "instances", "seeds", "params", "grid")
_GENERATOR_KEYS = ("generator", "size", "seed")


class ExperimentError(EdgeboundError, ValueError):
    """An experiment file is invalid; carries every problem found.

    Parameters
    ----------
    problems : list of Problem
        Each names the field path, the value and what is allowed.
    source : str, optional
        The file the experiment came from.

    Examples
    --------
    >>> print(ExperimentError([Problem("seeds", -1, "must be >= 1")], "exp.yaml"))
    1 problem in exp.yaml:
      seeds: -1 must be >= 1
    """

    def __init__(self, problems: Sequence[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in {source or 'experiment'}:"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


@dataclass(frozen=True)
class Run:
    """One run of an experiment: a method on an instance with parameters and a seed.

    Attributes
    ----------
    key : str
        16 hex digits of a SHA-256 over the instance's content, the method, the complete
        parameters and the seed (see :func:`run_key`).
    instance : str
        The instance's name.
    instance_hash : str
        SHA-256 of the instance's canonical JSON form.
    method : str
    params : dict
        Every parameter of the method, defaults filled in.
    seed : int or None
        ``None`` for methods that do not use a seed.
    """

    key: str
    instance: str
    instance_hash: str
    method: str
    params: dict[str, Any]
    seed: int | None

    def to_dict(self) -> dict[str, Any]:
        """The run's identity as it appears in result records.

        Examples
        --------
        >>> r = Run("k", "i", "h", "solve", {}, None)
        >>> r.to_dict()["method"]
        'solve'
        """
        return {
            "key": self.key,
            "instance": self.instance,
            "instance_hash": self.instance_hash,
            "method": self.method,
            "params": self.params,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Experiment:
    """A parsed, validated experiment: its runs and the instances they need.

    Attributes
    ----------
    name : str
    description : str
    runs : list of Run
        In file order: methods, then instances, then grid points, then seeds. Runs that
        coincide (same key) appear once.
    instances : dict of str to str
        Canonical JSON text of each instance by its hash; what workers load.
    source : str or None
        The file it was read from.
    """

    name: str
    description: str
    runs: list[Run]
    instances: dict[str, str] = field(repr=False)
    source: str | None = None


def run_key(instance_hash: str, method: str, params: Mapping[str, Any], seed: int | None) -> str:
    """The key of a run: 16 hex digits of SHA-256 over its canonical JSON identity.

    Examples
    --------
    >>> run_key("abc", "solve", {"b": 1, "a": 2}, None) == run_key("abc", "solve",
    ...                                                             {"a": 2, "b": 1}, None)
    True
    """
    ident = {"instance": instance_hash, "method": method, "params": params, "seed": seed}
    text = json.dumps(ident, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_experiment(path: str | Path) -> Experiment:
    """Read, validate and expand an experiment file.

    Instance files named in it are resolved relative to the experiment file.

    Raises
    ------
    ExperimentError
        With every problem found, each naming the field, the value and what is allowed.

    Examples
    --------
    >>> load_experiment("no-such-file.yaml")
    Traceback (most recent call last):
    ...
    edgebound.bench.experiment.ExperimentError: 1 problem in no-such-file.yaml:
      file: 'no-such-file.yaml' cannot be read: No such file or directory
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem("file", str(path), f"cannot be read: {exc.strerror or exc}")
        raise ExperimentError([problem], str(path)) from None
    return loads_experiment(text, source=str(path), base=p.parent, default_name=p.stem)


def loads_experiment(
    text: str,
    *,
    source: str | None = None,
    base: str | Path | None = None,
    default_name: str = "experiment",
) -> Experiment:
    """Parse, validate and expand an experiment from YAML text.

    Parameters
    ----------
    text : str
        The experiment, YAML (or JSON).
    source : str, optional
        Where it came from, for messages.
    base : str or Path, optional
        Directory that instance file names are relative to (default: the current one).
    default_name : str
        Name of an experiment that has no ``name``.

    Examples
    --------
    >>> loads_experiment("instances: [gentzen-star4]\\nmethods: [{method: solve, grid: x}]")
    Traceback (most recent call last):
    ...
    edgebound.bench.experiment.ExperimentError: 1 problem in experiment:
      methods[0].grid: 'x' must be a mapping of parameter names to lists of values
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        reason = getattr(exc, "problem", None) or str(exc)
        raise ExperimentError(
            [Problem(where, Problem.MISSING, f"is not valid YAML: {reason}")], source
        ) from None
    return from_mapping(data, source=source, base=base, default_name=default_name)


def from_mapping(
    data: Any,
    *,
    source: str | None = None,
    base: str | Path | None = None,
    default_name: str = "experiment",
) -> Experiment:
    """Validate and expand an experiment given as a mapping (parsed YAML).

    Examples
    --------
    >>> exp = from_mapping({"instances": ["gentzen-star4"], "methods": [{"method": "bound"}]})
    >>> exp.name, [r.method for r in exp.runs]
    ('experiment', ['bound'])
    """
    return _Parser(source, Path(base) if base is not None else Path()).parse(data, default_name)


# --------------------------------------------------------------------------- parsing


class _Parser:
    def __init__(self, source: str | None, base: Path) -> None:
        self.source = source
        self.base = base
        self.problems: list[Problem] = []

    def fail(self, path: str, value: Any, message: str) -> None:
        self.problems.append(Problem(path, value, message))

    def parse(self, data: Any, default_name: str) -> Experiment:
        if not isinstance(data, Mapping):
            what = "the file is empty" if data is None else "must be a mapping"
            self.fail(
                "file",
                Problem.MISSING if data is None else data,
                f"{what}; an experiment needs instances and methods at the top",
            )
            raise ExperimentError(self.problems, self.source)
        for key in data:
            if key not in _TOP_KEYS:
                self.fail(
                    str(key),
                    Problem.MISSING,
                    f"is not a field of an experiment (fields: {', '.join(_TOP_KEYS)})",
                )
        name = data.get("name", default_name)
        if not isinstance(name, str) or not name:
            self.fail("name", name, "must be a non-empty string")
        description = data.get("description", "")
        if not isinstance(description, str):
            self.fail("description", description, "must be a string")
        seeds = self.seeds("seeds", data.get("seeds", 1))
        instances = self.instances(data.get("instances"))
        raw_methods = data.get("methods")
        if not isinstance(raw_methods, list) or not raw_methods:
            self.fail(
                "methods",
                raw_methods if "methods" in data else Problem.MISSING,
                "must be a non-empty list of {method: NAME, params: ..., grid: ...}",
            )
            raw_methods = []
        runs: dict[str, Run] = {}
        for i, entry in enumerate(raw_methods):
            for run in self.method_runs(f"methods[{i}]", entry, instances, seeds):
                runs.setdefault(run.key, run)
        if self.problems:
            raise ExperimentError(self.problems, self.source)
        used = {r.instance_hash for r in runs.values()}
        texts = {h: text for h, text, _ in instances.values() if h in used}
        return Experiment(
            name=str(name),
            description=str(description),
            runs=list(runs.values()),
            instances=texts,
            source=self.source,
        )

    def seeds(self, path: str, value: Any) -> list[int]:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                self.fail(path, value, "must be >= 1 (seeds 0 .. N-1) or a list of seeds")
                return [0]
            return list(range(value))
        if (
            isinstance(value, list)
            and value
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
        ):
            return list(dict.fromkeys(value))
        self.fail(path, value, "must be a count N >= 1 or a non-empty list of integers >= 0")
        return [0]

    def instances(self, value: Any) -> dict[str, tuple[str, str, Instance]]:
        """Label (as written) -> (hash, canonical JSON, instance)."""
        out: dict[str, tuple[str, str, Instance]] = {}
        if not isinstance(value, list) or not value:
            self.fail(
                "instances",
                Problem.MISSING if value is None else value,
                "must be a non-empty list of bundled names, files or generators",
            )
            return out
        for i, entry in enumerate(value):
            path = f"instances[{i}]"
            inst = self.instance(path, entry)
            if inst is None:
                continue
            label = entry if isinstance(entry, str) else inst.name
            text = dumps(inst, "json")
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            if label in out:
                self.fail(path, entry, "is listed twice")
            out[label] = (digest, text, inst)
        return out

    def instance(self, path: str, entry: Any) -> Instance | None:
        if isinstance(entry, Mapping):
            return self.generated(path, entry)
        if not isinstance(entry, str) or not entry:
            self.fail(path, entry, "must be a bundled name, a file or {generator: KIND, ...}")
            return None
        local = self.base / entry
        try:
            return load_instance(local if local.is_file() else entry)
        except InstanceError as exc:
            reasons = "; ".join(str(p) for p in exc.problems)
            self.fail(path, entry, f"is not a valid instance: {reasons}")
            return None

    def generated(self, path: str, entry: Mapping[str, Any]) -> Instance | None:
        from edgebound.instances.generators import generate

        unknown = [k for k in entry if k not in _GENERATOR_KEYS]
        if unknown or "generator" not in entry:
            self.fail(
                path,
                dict(entry),
                f"a generated instance has the fields {', '.join(_GENERATOR_KEYS)} "
                "(generator required)",
            )
            return None
        try:
            return generate(
                str(entry["generator"]), str(entry.get("size", "small")), int(entry.get("seed", 0))
            )
        except (InstanceError, TypeError, ValueError) as exc:
            self.fail(path, dict(entry), f"cannot be generated: {exc}")
            return None

    def method_runs(
        self,
        path: str,
        entry: Any,
        instances: dict[str, tuple[str, str, Instance]],
        seeds: list[int],
    ) -> list[Run]:
        from edgebound.bench.methods import method

        if not isinstance(entry, Mapping) or "method" not in entry:
            self.fail(path, entry, "must be a mapping with a 'method' field")
            return []
        for key in entry:
            if key not in _METHOD_KEYS:
                self.fail(
                    f"{path}.{key}",
                    Problem.MISSING,
                    f"is not a field of a method entry (fields: {', '.join(_METHOD_KEYS)})",
                )
        try:
            m = method(str(entry["method"]))
        except EdgeboundError as exc:
            self.fail(f"{path}.method", entry["method"], str(exc).split(": ", 1)[-1])
            return []
        own_seeds = self.seeds(f"{path}.seeds", entry["seeds"]) if "seeds" in entry else seeds
        chosen = self.chosen_instances(path, entry.get("instances"), instances)
        params = entry.get("params") or {}
        if not isinstance(params, Mapping):
            self.fail(f"{path}.params", params, "must be a mapping of parameter names to values")
            params = {}
        grid = entry.get("grid") or {}
        if not isinstance(grid, Mapping) or not all(
            isinstance(v, list) and v for v in grid.values()
        ):
            self.fail(
                f"{path}.grid", grid, "must be a mapping of parameter names to lists of values"
            )
            grid = {}
        for name in set(params) & set(grid):
            self.fail(f"{path}.grid.{name}", grid[name], "is also in params; give it once")
        self.check_params(path, m, params, grid)
        axes = [[(name, v) for v in values] for name, values in grid.items()]
        runs: list[Run] = []
        for label in chosen:
            digest, _, inst = instances[label]
            for point in itertools.product(*axes):
                full = m.complete(dict(params) | dict(point))
                for seed in own_seeds if m.seeded(full) else [None]:
                    try:
                        key = run_key(digest, m.name, full, seed)
                    except (TypeError, ValueError):
                        self.fail(
                            f"{path}.params",
                            full,
                            "must hold plain values (numbers, strings, lists, mappings)",
                        )
                        return runs
                    runs.append(Run(key, inst.name, digest, m.name, full, seed))
        return runs

    def chosen_instances(
        self, path: str, value: Any, instances: dict[str, tuple[str, str, Instance]]
    ) -> list[str]:
        if value is None:
            return list(instances)
        if not isinstance(value, list) or not value:
            self.fail(f"{path}.instances", value, "must be a non-empty list of instance labels")
            return []
        chosen = []
        for j, label in enumerate(value):
            if label in instances:
                chosen.append(label)
            else:
                known = ", ".join(str(k) for k in instances)
                self.fail(
                    f"{path}.instances[{j}]",
                    label,
                    f"is not among the experiment's instances ({known})",
                )
        return chosen

    def check_params(
        self, path: str, m: Any, params: Mapping[str, Any], grid: Mapping[str, list[Any]]
    ) -> None:
        if m.params is None:
            return
        declared = ", ".join(m.params)
        checks = [(f"{path}.params.{n}", n, v) for n, v in params.items()]
        for n, values in grid.items():
            checks += [(f"{path}.grid.{n}[{j}]", n, v) for j, v in enumerate(values)]
        for where, name, value in checks:
            if name not in m.params:
                where = where.rsplit("[", 1)[0] if ".grid." in where else where
                problem = Problem(
                    where,
                    Problem.MISSING,
                    f"is not a parameter of {m.name} (parameters: {declared})",
                )
                if problem not in self.problems:
                    self.problems.append(problem)
                continue
            message = m.params[name].check(value)
            if message is not None:
                self.fail(where, value, message)
