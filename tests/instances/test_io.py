"""Loading, saving and the bundled registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edgebound.errors import InstanceError
from edgebound.instances import Instance, bundled, dumps, load, loads, save


def test_round_trip_yaml_and_json(tmp_path: Path) -> None:
    for name in bundled():
        inst = load(name)
        assert loads(dumps(inst)) == inst
        assert load(save(inst, tmp_path / f"{name}.json")) == inst
        assert load(save(inst, tmp_path / f"{name}.yaml")) == inst


def test_dump_leaves_out_defaults_but_keeps_values() -> None:
    inst = load("gentzen-star4")
    data = yaml.safe_load(dumps(inst))
    assert "gpus" not in data["topology"]["nodes"][0]
    assert data["topology"]["nodes"][0]["cpu"] == 16.0


def test_instance_is_immutable() -> None:
    inst = load("gentzen-star4")
    with pytest.raises(Exception, match="frozen"):
        inst.name = "x"  # type: ignore[misc]
    assert isinstance(inst.services, tuple)


def test_load_accepts_mapping_and_instance() -> None:
    inst = load("gentzen-star4")
    assert load(inst) is inst
    assert load(json.loads(dumps(inst, "json"))) == inst


def test_schema_is_json_schema_with_units() -> None:
    schema = Instance.model_json_schema()
    node = schema["$defs"]["Node"]["properties"]
    assert node["ram_gb"]["unit"] == "GB"
    assert node["idle_power_w"]["unit"] == "W"
    assert node["cpu"]["description"]


def test_derived_latencies() -> None:
    inst = load("gentzen-star4")
    assert inst.transmission_ms.tolist() == [0.0, 2.75, 7.25, 10.25]
    assert inst.latency_ms("E2", "E4") == pytest.approx(13.0)


def test_candidate_versions_respect_release_time_and_rollback() -> None:
    data = yaml.safe_load(dumps(load("gentzen-star4")))
    data["state"]["time_s"] = 250.0
    data["state"]["running"]["model-1"] = "0.1"
    inst = load(data)
    assert [v.label for v in inst.candidate_versions("model-1")] == ["0.1", "0.2"]
    data["policy"] = {"allow_rollback": True}
    inst = load(data)
    assert [v.label for v in inst.candidate_versions("model-1")] == ["0.0", "0.1", "0.2"]


def test_bad_text_is_an_instance_error() -> None:
    with pytest.raises(InstanceError, match="not valid YAML"):
        loads("a: [")
