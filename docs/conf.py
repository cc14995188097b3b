"""Sphinx configuration of the edgebound documentation.

The field reference (``reference/instance-fields.rst``) is generated here from the pydantic
schema on every build, so the docs cannot drift from the code. Intersphinx links to other
projects' docs need their inventories from the network; set ``EDGEBOUND_DOCS_INTERSPHINX=1``
to enable them, otherwise the build works offline.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import edgebound  # noqa: E402

project = "edgebound"
author = "the edgebound authors"
copyright = "the edgebound authors, MIT license"
release = edgebound.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
html_theme = "furo"
html_title = f"edgebound {release}"

autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# The example gallery: every ``examples/plot_*.py`` runs during the build (a failing example
# fails it) and becomes a page of ``auto_examples/`` with its output and figures. The
# generated directory is not kept under version control.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "write_computation_times": False,
    "show_memory": False,
    "abort_on_example_error": True,
}

intersphinx_mapping: dict[str, tuple[str, None]] = {}
if os.environ.get("EDGEBOUND_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "networkx": ("https://networkx.org/documentation/stable", None),
        "pyomo": ("https://pyomo.readthedocs.io/en/stable", None),
        "cvxpy": ("https://www.cvxpy.org", None),
    }


# --------------------------------------------------------------------------- field reference

_SCALARS = {float: "number", int: "integer", str: "string", bool: "boolean"}


def _bound(meta: Any) -> list[str]:
    out = []
    for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
        value = getattr(meta, attr, None)
        if value is not None:
            out.append(f"{sign} {value:g}")
    if getattr(meta, "pattern", None):
        out.append("name")
    for inner in getattr(meta, "metadata", ()):
        out += _bound(inner)
    return out


def _type_text(ann: Any, metadata: Any = ()) -> str:
    origin, args = get_origin(ann), get_args(ann)
    if origin is Annotated:
        return _type_text(args[0], args[1:])
    if origin in (Union, types.UnionType):
        parts = [_type_text(a) for a in args if a is not type(None)]
        text = " or ".join(parts)
        return text + " or null" if type(None) in args else text
    if origin is Literal:
        return " or ".join(f'``"{a}"``' if isinstance(a, str) else f"``{a}``" for a in args)
    if origin is tuple:
        return f"list of {_type_text(args[0])}"
    if origin is dict:
        return f"mapping of {_type_text(args[0])} to {_type_text(args[1])}"
    if isinstance(ann, type) and hasattr(ann, "model_fields"):
        return f":ref:`{ann.__name__} <fields-{ann.__name__.lower()}>`"
    bounds = [b for m in metadata for b in _bound(m)]
    if "name" in bounds:
        return "name"
    base = _SCALARS.get(ann, getattr(ann, "__name__", str(ann)))
    return " ".join([base, *bounds])


def _models_in(ann: Any) -> list[type]:
    if isinstance(ann, type) and hasattr(ann, "model_fields"):
        return [ann]
    return [m for a in get_args(ann) for m in _models_in(a)]


def _default_text(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if hasattr(type(value), "model_fields"):
        return "its fields' defaults"
    if isinstance(value, str):
        return f'``"{value}"``'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple) and not value:
        return "[]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v:g}" for k, v in value.items()) or "{}"
    return str(value)


def _walk(model: type, prefix: str, out: dict[type, tuple[str, list[tuple[str, Any]]]]) -> None:
    if model in out:
        return
    rows: list[tuple[str, Any]] = []
    out[model] = (prefix, rows)
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        path = f"{prefix}.{name}" if prefix else name
        rows.append((path, field))
        is_list = get_origin(field.annotation) is tuple or any(
            get_origin(a) is tuple for a in get_args(field.annotation)
        )
        for sub in _models_in(field.annotation):
            _walk(sub, path + ("[]" if is_list else ""), out)


def _cell(text: str) -> str:
    return (" " + " ".join(text.split())).rstrip()


def field_reference() -> str:
    """The reST text of the instance field reference."""
    from edgebound.instances import Instance

    models: dict[type, tuple[str, list[tuple[str, Any]]]] = {}
    _walk(Instance, "", models)
    lines = [
        ".. This file is generated by docs/conf.py from edgebound.instances.schema; do not edit.",
        "",
        "Instance field reference",
        "========================",
        "",
        "Every field of an instance file, one table per schema class. A path such as",
        "``topology.nodes[].cpu`` means the ``cpu`` field of every entry of the list",
        "``topology.nodes``. A *name* is a string of letters, digits and ``_ . : + -``",
        "(at most 128 characters). The unit column is also in the JSON Schema, under the",
        "key ``unit`` (see ``edgebound schema``).",
        "",
    ]
    for model, (prefix, rows) in models.items():
        title = f"{model.__name__}" + (f" — ``{prefix}``" if prefix else "")
        summary = (model.__doc__ or "").strip().split("\n\n")[0]
        lines += [
            f".. _fields-{model.__name__.lower()}:",
            "",
            title,
            "-" * len(title),
            "",
            _cell(summary).strip(),
            "",
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 28 18 8 10 36",
            "",
            "   * - field",
            "     - type",
            "     - unit",
            "     - default",
            "     - description",
        ]
        for path, field in rows:
            unit = (field.json_schema_extra or {}).get("unit", "")
            lines += [
                f"   * - ``{path}``",
                f"     -{_cell(_type_text(field.annotation, field.metadata))}",
                f"     -{_cell(unit)}",
                f"     -{_cell(_default_text(field))}",
                f"     -{_cell(field.description or '')}",
            ]
        lines.append("")
    return "\n".join(lines)


def _write_field_reference(app: Any) -> None:
    target = HERE / "reference" / "instance-fields.rst"
    text = field_reference()
    # Rewriting an unchanged file would make Sphinx rebuild the page every time.
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.parent.mkdir(exist_ok=True)
        target.write_text(text, encoding="utf-8")


def setup(app: Any) -> None:
    app.connect("builder-inited", _write_field_reference)
