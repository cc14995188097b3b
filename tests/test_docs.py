"""The documentation: the generated field reference, and a full build with warnings as errors."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from edgebound.instances import schema

DOCS = Path(__file__).resolve().parents[1] / "docs"


def docs_conf() -> ModuleType:
    spec = importlib.util.spec_from_file_location("edgebound_docs_conf", DOCS / "conf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_field_reference_lists_every_field_with_its_unit() -> None:
    text = docs_conf().field_reference()
    assert "``topology.nodes[].cpu``" in text
    assert "``workload.demands[].profile.trace``" in text
    for name in schema.__all__:
        model = getattr(schema, name)
        if not hasattr(model, "model_fields"):
            continue
        assert f".. _fields-{name.lower()}:" in text, name
        for field_name, field in model.model_fields.items():
            assert f".{field_name}``" in text or f"``{field_name}``" in text, field_name
            unit = (field.json_schema_extra or {}).get("unit")
            if unit:
                assert f"     - {unit}\n" in text, (name, field_name)


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("sphinx")
    pytest.importorskip("furo")
    pytest.importorskip("numpydoc")
    pytest.importorskip("sphinx_gallery")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    cmd += ["-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    fields = (tmp_path / "html" / "reference" / "instance-fields.html").read_text(encoding="utf-8")
    assert "topology.nodes[].cpu" in fields
    assert (tmp_path / "html" / "api" / "generated" / "edgebound.instances.html").is_file()
