"""Broken instance files each get the intended field-named error; nothing gives a traceback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edgebound
from edgebound.errors import InstanceError
from edgebound.instances import check, dumps, load, loads

BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def _expected(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [ln.removeprefix("# expect:").strip() for ln in lines if ln.startswith("# expect:")]


def test_there_are_broken_files() -> None:
    assert len(BROKEN) >= 25


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_file_gets_field_named_error(path: Path) -> None:
    expected = _expected(path)
    assert expected, f"{path.name} has no '# expect:' line"
    with pytest.raises(InstanceError) as info:
        load(path)
    text = str(info.value)
    for want in expected:
        assert want in text, f"{path.name}: wanted {want!r} in\n{text}"
    assert str(path) in text  # the message names the file


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(InstanceError) as info:
        load(Path(__file__).parent / "broken" / "many_problems.yaml")
    assert len(info.value.problems) == 4


def test_cross_field_problems_reported_together() -> None:
    data = yaml.safe_load(dumps(load("gentzen-star4")))
    data["topology"]["master"] = "E9"
    data["workload"]["demands"][0]["service"] = "model-9"
    data["state"]["running"]["model-2"] = "7.7"
    with pytest.raises(InstanceError) as info:
        load(data)
    paths = {p.path for p in info.value.problems}
    assert {"topology.master", "workload.demands[0].service", "state.running.model-2"} <= paths


def test_version_fitting_nowhere_is_a_warning_and_left_out() -> None:
    data = yaml.safe_load(dumps(load("gentzen-star4")))
    data["services"][4]["versions"][-1]["ram_gb"] = 32
    inst = load(data)
    report = check(inst)
    assert report.ok
    (warning,) = report.warnings
    assert warning.path == "services[4].versions[5]"
    assert "needs 32 GB RAM, largest node has 16" in warning.message
    assert "1.1" not in [v.label for v in inst.candidate_versions("model-5")]


def test_unit_plausibility_warnings() -> None:
    data = yaml.safe_load(dumps(load("gentzen-star4")))
    data["topology"]["nodes"][0]["ram_gb"] = 16384 * 1024
    data["services"][0]["spawn_time_ms"] = 0.005
    report = check(load(data))
    paths = {w.path for w in report.warnings}
    assert "topology.nodes[0].ram_gb" in paths
    assert "services[0].spawn_time_ms" in paths


def test_missing_file_and_unknown_name() -> None:
    with pytest.raises(InstanceError, match="does not exist"):
        load("no/such/file.yaml")
    with pytest.raises(InstanceError, match="did you mean 'gentzen-star4'"):
        load("gentzen-star5")


def test_bundled_instances_are_clean() -> None:
    for name in edgebound.instances.bundled():
        inst = load(name)
        report = check(inst)
        assert report.ok and not report.warnings, (name, report)


# ----------------------------------------------------------------------------- fuzzing

_BASE = yaml.safe_load(dumps(load("gentzen-star4")))

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


_ALL_PATHS = _paths(_BASE)[1:]


@st.composite
def _mutated(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(_BASE)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_ALL_PATHS))
        parent: Any = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            action = draw(st.sampled_from(["set", "delete", "extra"]))
            if action == "set":
                parent[path[-1]] = draw(_values)
            elif action == "delete":
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=6))] = draw(_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_random_mutations_never_traceback(data: dict[str, Any]) -> None:
    try:
        inst = load(data)
    except InstanceError as exc:
        assert exc.problems
        for p in exc.problems:
            assert p.path and p.message
        return
    assert loads(dumps(inst)) == inst


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_tracebacks(text: str) -> None:
    try:
        loads(text)
    except InstanceError as exc:
        assert exc.problems
