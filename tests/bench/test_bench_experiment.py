"""Experiment files: expansion into runs, run keys, and one clear problem per bad field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgebound.bench import ExperimentError, from_mapping, load_experiment, loads_experiment
from edgebound.instances import dumps, load


def problems(text: str) -> list[str]:
    with pytest.raises(ExperimentError) as info:
        loads_experiment(text)
    return [str(p) for p in info.value.problems]


def test_expansion_order_grid_and_seeds(bundled_sweep: Path) -> None:
    exp = load_experiment(bundled_sweep)
    assert exp.name == "bundled-sweep"
    sims = [r for r in exp.runs if r.method == "simulate"]
    assert [(r.params["policy"], r.seed) for r in sims[:6]] == [
        ("always", 0), ("always", 1), ("always", 2), ("always", 3), ("always", 4),
        ("never", 0),
    ]  # fmt: skip
    assert len(sims) == 4 * 5
    assert {r.instance for r in sims} == {"gentzen-star4"}
    # solve and bound use no seed: one run per instance
    plant = [(r.instance, r.seed) for r in exp.runs if r.method == "plant"]
    assert plant == [("continuum-3edge-2cloud", s) for s in range(5)]
    others = [(r.method, r.instance, r.seed) for r in exp.runs if r.seed is None]
    assert others == [
        ("solve", "gentzen-star4", None),
        ("solve", "continuum-3edge-2cloud", None),
        ("bound", "gentzen-star4", None),
        ("bound", "continuum-3edge-2cloud", None),
    ]
    assert len({r.key for r in exp.runs}) == len(exp.runs) == 29
    assert set(exp.instances) == {r.instance_hash for r in exp.runs}


def test_keys_are_stable_and_defaults_are_filled_in() -> None:
    base = "instances: [gentzen-star4]\nmethods: [{method: simulate, params: {%s}}]"
    implicit = loads_experiment(base % "").runs[0]
    explicit = loads_experiment(base % "arrivals: 20000, policy: always").runs[0]
    assert implicit.params["arrivals"] == 20_000
    assert implicit.key == explicit.key
    other = loads_experiment(base % "arrivals: 20001").runs[0]
    assert other.key != implicit.key
    # the key follows the instance's content, not how it was named
    text = dumps(load("gentzen-star4"))
    copy = from_mapping(
        {"instances": ["copy.yaml"], "methods": [{"method": "simulate"}]},
        base=_write(text),
    ).runs[0]
    assert copy.key == implicit.key


def _write(text: str) -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    (folder / "copy.yaml").write_text(text)
    return folder


def test_instance_files_resolve_relative_to_the_experiment(tmp_path: Path) -> None:
    (tmp_path / "inst").mkdir()
    data = dumps(load("gentzen-star4")).replace("name: gentzen-star4", "name: my-star")
    (tmp_path / "inst" / "mine.yaml").write_text(data)
    exp_path = tmp_path / "exp.yaml"
    exp_path.write_text("instances: [inst/mine.yaml]\nmethods: [{method: bound}]\n")
    exp = load_experiment(exp_path)
    assert [r.instance for r in exp.runs] == ["my-star"]


def test_generated_instances_and_method_seeds() -> None:
    exp = loads_experiment(
        "seeds: 3\n"
        "instances: [{generator: mmv-random, size: small, seed: 2}]\n"
        "methods: [{method: pareto, seeds: [7], params: {generations: 2}}]"
    )
    assert [(r.instance, r.seed) for r in exp.runs] == [("mmv-random-small-s2", 7)]


def test_exact_pareto_is_unseeded() -> None:
    exp = loads_experiment(
        "seeds: 3\ninstances: [gentzen-star4]\n"
        "methods: [{method: pareto, grid: {algorithm: [nsga2, exact]}}]"
    )
    assert [(r.params["algorithm"], r.seed) for r in exp.runs] == [
        ("nsga2", 0), ("nsga2", 1), ("nsga2", 2), ("exact", None),
    ]  # fmt: skip


def test_every_problem_is_reported_with_its_field() -> None:
    found = problems(
        "seeds: 0\n"
        "colour: blue\n"
        "instances: [gentzen-star4, no-such-instance]\n"
        "methods:\n"
        "  - method: simulate\n"
        "    params: {arrivals: -5, speed: 2}\n"
        "    grid: {policy: [always, sometimes]}\n"
        "  - method: nosuch\n"
        "  - method: solve\n"
        "    instances: [elsewhere]\n"
    )
    text = "\n".join(found)
    assert "colour: is not a field of an experiment" in text
    assert "seeds: 0 must be >= 1" in text
    assert "instances[1]: 'no-such-instance' is not a valid instance" in text
    assert "methods[0].params.arrivals: -5 must be >= 1" in text
    assert "methods[0].params.speed: is not a parameter of simulate" in text
    assert "methods[0].grid.policy[1]: 'sometimes' must be one of 'always'" in text
    assert "methods[1].method: 'nosuch'" in text and "registered:" in text
    assert "methods[2].instances[0]: 'elsewhere' is not among the experiment's instances" in text
    assert len(found) == 8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "file: the file is empty"),
        ("[1, 2]", "file: [1, 2] must be a mapping"),
        ("instances: [gentzen-star4]\nmethods: [{method: solve, grid: x}]", "methods[0].grid"),
        ("instances: [gentzen-star4]\nmethods: []", "methods: [] must be a non-empty list"),
        ("methods: [{method: solve}]", "instances: must be a non-empty list"),
        (
            "instances: [gentzen-star4]\nmethods: [{method: solve, params: {steps: 0}}]",
            "methods[0].params.steps: 0 must be >= 1",
        ),
        (
            "instances: [gentzen-star4]\nmethods: [{method: solve, params: {time_limit: x}}]",
            "methods[0].params.time_limit: 'x' must be a number",
        ),
        (
            "instances: [gentzen-star4]\nmethods: [{method: simulate, params: {scaling: 1}}]",
            "methods[0].params.scaling: 1 must be true or false",
        ),
        (
            "instances: [gentzen-star4]\nmethods: [{method: simulate, params: {policy: null}}]",
            "methods[0].params.policy: None must not be null",
        ),
        (
            "instances: [gentzen-star4]\nmethods: [{method: pareto, params: {objectives: [x]}}]",
            "methods[0].params.objectives: ['x'] has 'x'; items must be among 'delay'",
        ),
        (
            "instances: [gentzen-star4]\nmethods: [{method: solve, params: {mip_gap: 1}, "
            "grid: {mip_gap: [0.1]}}]",
            "methods[0].grid.mip_gap: [0.1] is also in params",
        ),
        (
            "instances: [gentzen-star4]\nseeds: [1, x]\nmethods: [{method: solve}]",
            "seeds: [1, 'x'] must be a count N >= 1 or a non-empty list",
        ),
        (
            "instances: [{generator: mmv-random, size: huge}]\nmethods: [{method: solve}]",
            "instances[0]: {'generator': 'mmv-random', 'size': 'huge'} cannot be generated",
        ),
        (
            "instances: [gentzen-star4]\nmethods: [{method: solve, where: x}]",
            "methods[0].where: is not a field of a method entry",
        ),
        ("instances: [gentzen-star4\nmethods: x", "is not valid YAML"),
        (
            "instances: [gentzen-star4]\nmethods: [{method: 'no.such.module:f'}]",
            "methods[0].method: 'no.such.module:f' cannot import it",
        ),
    ],
)
def test_bad_files_name_the_field(text: str, expected: str) -> None:
    assert any(expected in p for p in problems(text)), problems(text)


def test_unreadable_file_is_an_experiment_error(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match=r"file: .* cannot be read"):
        load_experiment(tmp_path / "missing.yaml")


def test_method_by_import_path() -> None:
    exp = loads_experiment(
        "instances: [gentzen-star4]\nmethods: [{method: 'edgebound.bench.methods:run_bound'}]"
    )
    run = exp.runs[0]
    assert run.method == "edgebound.bench.methods:run_bound"
    assert run.seed is None  # the registered function keeps its declaration
    assert run.params["mip_gap"] == 1e-4
