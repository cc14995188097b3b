"""Loading and saving instance files, and the registry of bundled instances.

``load`` accepts a bundled name, a path to a YAML/JSON file, or an already parsed mapping.
Every problem in a file is reported at once in one :class:`~edgebound.errors.InstanceError`;
structural problems (types, ranges, unknown fields) first, and when there are none, the
cross-field ones of :func:`edgebound.instances.validate.check`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from edgebound.errors import InstanceError, Problem
from edgebound.instances.schema import Instance

__all__ = ["bundled", "bundled_path", "dumps", "load", "loads", "save"]


# --------------------------------------------------------------------------- registry


def _bundled_dir() -> Path:
    # In a wheel the files sit inside the package; in a source checkout, beside it.
    inside = Path(str(resources.files("edgebound"))) / "_bundled_instances"
    if inside.is_dir():
        return inside
    return Path(__file__).resolve().parents[2] / "instances"


def bundled() -> list[str]:
    """Names of the bundled instances, sorted.

    Examples
    --------
    >>> "gentzen-star4" in bundled()
    True
    """
    return sorted(p.stem for p in _bundled_dir().glob("*.yaml"))


def bundled_path(name: str) -> Path:
    """Path of the bundled instance ``name``.

    Raises
    ------
    InstanceError
        If there is no bundled instance of that name; the message lists the names there are.
    """
    path = _bundled_dir() / f"{name}.yaml"
    if not path.is_file():
        names = bundled()
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InstanceError(
            [
                Problem(
                    "name",
                    name,
                    f"is neither a file nor a bundled instance ({', '.join(names)}){hint}",
                )
            ]
        )
    return path


# --------------------------------------------------------------------------- YAML


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys instead of silently keeping the last."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_text(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        raise InstanceError(
            [Problem(where, Problem.MISSING, f"is not valid YAML: {exc.problem}")], source
        ) from None
    except yaml.YAMLError as exc:
        raise InstanceError(
            [Problem("file", Problem.MISSING, f"is not valid YAML: {exc}")], source
        ) from None


# --------------------------------------------------------------------------- load / save


def load(source: str | Path | Mapping[str, Any] | Instance) -> Instance:
    """Load and validate an instance.

    Parameters
    ----------
    source : str, Path, mapping or Instance
        A bundled instance name (see :func:`bundled`), a path to a ``.yaml``/``.json``
        file, or an already parsed mapping. An :class:`Instance` is returned as is.

    Returns
    -------
    Instance
        The validated, immutable instance.

    Raises
    ------
    InstanceError
        With every problem found, each naming the field path, the value and what is allowed.

    Examples
    --------
    >>> inst = load("gentzen-star4")
    >>> len(inst.services)
    5
    >>> load({"name": "x"})
    Traceback (most recent call last):
    ...
    edgebound.errors.InstanceError: 2 problems in instance:
      topology: is required
      services: is required
    """
    if isinstance(source, Instance):
        return source
    if isinstance(source, Mapping):
        return _from_mapping(source, None)
    text_source = str(source)
    path = Path(text_source)
    if not path.is_file():
        if isinstance(source, str) and "/" not in text_source and not path.suffix:
            path = bundled_path(text_source)
        else:
            raise InstanceError([Problem("file", text_source, "does not exist")], text_source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InstanceError(
            [Problem("file", text_source, f"cannot be read ({exc})")], text_source
        ) from None
    return loads(text, source=text_source)


def loads(text: str, source: str | None = None) -> Instance:
    """Parse and validate an instance from YAML (or JSON) text.

    Examples
    --------
    >>> loads(dumps(load("gentzen-star4"))) == load("gentzen-star4")
    True
    """
    data = _parse_text(text, source or "<text>")
    if data is None:
        raise InstanceError(
            [
                Problem(
                    "file",
                    Problem.MISSING,
                    "the file is empty; an instance needs name, topology and services",
                )
            ],
            source,
        )
    if not isinstance(data, Mapping):
        raise InstanceError(
            [
                Problem(
                    "file", data, "must be a mapping with name, topology and services at the top"
                )
            ],
            source,
        )
    return _from_mapping(data, source)


def _from_mapping(data: Mapping[str, Any], source: str | None) -> Instance:
    from edgebound.instances.validate import check

    try:
        inst = Instance.model_validate(dict(data))
    except ValidationError as exc:
        raise InstanceError(_problems_from_pydantic(exc, data), source) from None
    report = check(inst)
    if report.errors:
        raise InstanceError(report.errors, source)
    return inst


def dumps(instance: Instance, fmt: str = "yaml") -> str:
    """Serialize an instance; fields equal to their defaults are left out.

    ``loads(dumps(x)) == x`` for every valid instance (the round trip is lossless).

    Parameters
    ----------
    instance : Instance
    fmt : {"yaml", "json"}

    Examples
    --------
    >>> text = dumps(load("gentzen-star4"))
    >>> text.splitlines()[0]
    'name: gentzen-star4'
    """
    data = instance.model_dump(mode="json", exclude_defaults=True)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt != "yaml":
        raise ValueError(f"fmt: {fmt!r} must be 'yaml' or 'json'")
    return yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True)


def save(instance: Instance, path: str | Path) -> Path:
    """Write an instance to ``path`` (YAML, or JSON when the suffix is ``.json``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = save(load("gentzen-star4"), pathlib.Path(tempfile.mkdtemp()) / "g.yaml")
    >>> load(p) == load("gentzen-star4")
    True
    """
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    path.write_text(dumps(instance, fmt), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- pydantic -> Problem


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "instance"


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # Discriminated unions put the tag in the location ("profile.trace.start"); drop it.
    out: list[Any] = []
    for i, part in enumerate(loc):
        if i > 0 and loc[i - 1] == "profile" and part in ("trace", "generator"):
            continue
        if isinstance(part, str) and (
            part.startswith("function-") or part in ("constrained-float",)
        ):
            continue
        out.append(part)
    return tuple(out)


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema class whose field set applies at ``loc`` (for 'unknown field' hints)."""
    from edgebound.instances import schema

    model: Any = Instance
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", {})
        field = fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        nxt = None
        for cand in _classes_in(ann):
            nxt = cand
            break
        if part == "profile":
            return None
        if nxt is None:
            return None
        model = nxt
    return model if isinstance(model, type) and issubclass(model, schema._Frozen) else None


def _classes_in(ann: Any) -> list[type[BaseModel]]:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(ann):
        out.extend(_classes_in(arg))
    return out


def _problems_from_pydantic(exc: ValidationError, data: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = _clean_loc(tuple(err["loc"]))
        kind = err["type"]
        ctx = err.get("ctx") or {}
        value = err.get("input", Problem.MISSING)
        path = _path(loc)
        if kind == "missing":
            problems.append(Problem(path, Problem.MISSING, "is required"))
            continue
        if kind == "extra_forbidden":
            model = _model_at(loc[:-1])
            allowed = sorted(model.model_fields) if model else []
            key = str(loc[-1])
            close = difflib.get_close_matches(key, allowed, n=1)
            msg = "is not a known field"
            if close:
                msg += f"; did you mean {close[0]!r}?"
            if allowed:
                msg += f" Allowed here: {', '.join(allowed)}"
            problems.append(Problem(path, Problem.MISSING, msg))
            continue
        if kind == "union_tag_invalid":
            path, value = f"{path}.kind", ctx.get("tag", value)
        problems.append(Problem(path, value, _message(kind, ctx, err["msg"], value, loc)))
    return _dedupe(problems)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    # pydantic also reports a list as too short when its items fail; keep the items' errors.
    paths = [p.path for p in problems]
    seen: set[str] = set()
    out = []
    for p in problems:
        deeper = any(
            q != p.path and (q.startswith(p.path + "[") or q.startswith(p.path + "."))
            for q in paths
        )
        if p.message.startswith("must have at least") and deeper:
            continue
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def _message(kind: str, ctx: dict[str, Any], msg: str, value: Any, loc: tuple[Any, ...]) -> str:
    field = str(loc[-1]) if loc else ""
    if kind == "greater_than_equal":
        return f"must be >= {_num(ctx['ge'])}"
    if kind == "greater_than":
        return f"must be > {_num(ctx['gt'])}"
    if kind == "less_than_equal":
        hint = ""
        if ctx.get("le") == 1 and isinstance(value, (int, float)) and 1 < value <= 100:
            hint = f" ({field} is a fraction in [0, 1]; {value} looks like a percentage)"
        return f"must be <= {_num(ctx['le'])}{hint}"
    if kind == "less_than":
        hint = ""
        if ctx.get("lt") == 1 and isinstance(value, (int, float)) and 1 < value <= 100:
            hint = f" ({field} is a fraction; {value} looks like a percentage)"
        return f"must be < {_num(ctx['lt'])}{hint}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind in ("float_type", "float_parsing", "finite_number"):
        if isinstance(value, str):
            return "must be a number (units go in the field name, not the value)"
        return "must be a finite number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind in ("string_type",):
        return "must be a string"
    if kind == "string_pattern_mismatch":
        return "must use only letters, digits and _ . : + -"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind in ("tuple_type", "list_type"):
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type", "dataclass_type"):
        return "must be a mapping"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "union_tag_invalid":
        return f"must be one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "must say its kind: 'trace' or 'generator'"
    if kind == "value_error":
        return str(ctx.get("error", msg)).removeprefix("Value error, ")
    return msg[0].lower() + msg[1:] if msg else "is invalid"
