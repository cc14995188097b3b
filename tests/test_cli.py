"""The command line: every command, its --json output and its exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from edgebound import __version__
from edgebound.cli import EXIT_INFEASIBLE, EXIT_INTERNAL, EXIT_INVALID, EXIT_USAGE, app, main
from edgebound.instances import bundled, load
from edgebound.instances.io import bundled_path

runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env)


def no_traceback(result: Any) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def gentzen_data() -> dict[str, Any]:
    return yaml.safe_load(bundled_path("gentzen-star4").read_text(encoding="utf-8"))


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def broken_instance(tmp_path: Path) -> Path:
    data = gentzen_data()
    data["topology"]["nodes"][1]["cpu"] = -4
    data["services"][2]["versions"][0]["ram_gb"] = "2 GB"
    return write_yaml(tmp_path / "broken.yaml", data)


# --------------------------------------------------------------------------- global options


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"edgebound {__version__}"


def test_no_command_shows_help_with_every_command() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for name in ("instances", "show", "validate", "schema", "generate", "evaluate"):
        assert name in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = run("solve-everything")
    assert result.exit_code == EXIT_USAGE
    no_traceback(result)


def test_missing_argument_is_a_usage_error() -> None:
    assert run("evaluate", "gentzen-star4").exit_code == EXIT_USAGE


# --------------------------------------------------------------------------- instances, show


def test_instances_lists_every_bundled_instance() -> None:
    result = run("instances")
    assert result.exit_code == 0
    for name in bundled():
        assert name in result.stdout


def test_instances_json() -> None:
    result = run("instances", "--json")
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.stdout)["instances"]}
    assert set(rows) == set(bundled())
    g = rows["gentzen-star4"]
    assert (g["ok"], g["nodes"], g["services"], g["demands"]) == (True, 4, 5, 5)


def test_show_by_name_and_by_file() -> None:
    by_name = run("show", "gentzen-star4")
    by_file = run("show", str(bundled_path("gentzen-star4")))
    assert by_name.exit_code == by_file.exit_code == 0
    assert by_name.stdout == by_file.stdout
    for text in ("Nodes", "Services", "Demands", "Policy", "model-5", "64"):
        assert text in by_name.stdout


def test_show_json_totals_match_instance() -> None:
    result = run("show", "gentzen-star4", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    inst = load("gentzen-star4")
    assert doc["topology"]["totals"]["cpu"] == sum(n.cpu for n in inst.topology.nodes)
    assert [s["name"] for s in doc["services"]] == list(inst.service_names)
    assert doc["services"][0]["versions"][0] == "0.0"
    assert doc["workload"]["total_rate_rps"] == pytest.approx(300.0)
    assert doc["policy"]["weights"]["accuracy"] == 10.0


def test_show_unknown_name_exits_1_with_hint() -> None:
    result = run("show", "gentzen-star5")
    assert result.exit_code == EXIT_INVALID
    assert "gentzen-star4" in result.stderr
    assert result.stdout == ""
    no_traceback(result)


def test_show_json_error_is_one_json_document(broken_instance: Path) -> None:
    result = run("show", str(broken_instance), "--json")
    assert result.exit_code == EXIT_INVALID
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert doc["error"]["type"] == "InstanceError"
    paths = {p["path"] for p in doc["error"]["problems"]}
    assert "topology.nodes[1].cpu" in paths


# --------------------------------------------------------------------------- validate


def test_validate_all_bundled_instances() -> None:
    files = [str(bundled_path(n)) for n in bundled()]
    result = run("validate", "--strict", *files)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("ok ") == len(files)


def test_validate_broken_file_names_every_field(broken_instance: Path) -> None:
    result = run("validate", str(broken_instance))
    assert result.exit_code == EXIT_INVALID
    assert "topology.nodes[1].cpu" in result.stdout
    assert "services[2].versions[0].ram_gb" in result.stdout
    no_traceback(result)


def test_validate_json(broken_instance: Path) -> None:
    result = run("validate", "gentzen-star4", str(broken_instance), "--json")
    assert result.exit_code == EXIT_INVALID
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    good, bad = doc["files"]
    assert good == {"file": "gentzen-star4", "ok": True, "errors": [], "warnings": []}
    assert bad["ok"] is False
    assert {"path": "topology.nodes[1].cpu", "value": -4, "message": "must be >= 0"} in bad[
        "errors"
    ]


def test_validate_missing_and_unparsable_files(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: x\ntopology: [unclosed\n", encoding="utf-8")
    result = run("validate", str(tmp_path / "missing.yaml"), str(bad_yaml))
    assert result.exit_code == EXIT_INVALID
    assert "does not exist" in result.stdout
    assert "not valid YAML" in result.stdout
    no_traceback(result)


def test_validate_strict_fails_on_warnings(tmp_path: Path) -> None:
    data = gentzen_data()
    data["topology"]["links"].append(dict(data["topology"]["links"][0]))
    path = write_yaml(tmp_path / "dup-link.yaml", data)
    lenient = run("validate", str(path))
    assert lenient.exit_code == 0
    assert "topology.links[3]" in lenient.stdout
    strict = run("validate", "--strict", str(path), "--json")
    assert strict.exit_code == EXIT_INVALID
    doc = json.loads(strict.stdout)
    assert doc["strict"] is True
    assert doc["files"][0]["errors"] == []
    assert doc["files"][0]["warnings"][0]["path"] == "topology.links[3]"


# --------------------------------------------------------------------------- schema


def test_schema_stdout_is_the_json_schema() -> None:
    result = run("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Instance"
    assert schema["$defs"]["Node"]["properties"]["cpu"]["unit"] == "vCPU"


def test_schema_to_file(tmp_path: Path) -> None:
    out = tmp_path / "instance.schema.json"
    result = run("schema", "-o", str(out), "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"ok": True, "file": str(out)}
    assert "Version" in json.loads(out.read_text(encoding="utf-8"))["$defs"]


def test_schema_unwritable_output_exits_1(tmp_path: Path) -> None:
    result = run("schema", "-o", str(tmp_path / "no-such-dir" / "s.json"))
    assert result.exit_code == EXIT_INVALID
    assert "cannot write" in result.stderr
    no_traceback(result)


# --------------------------------------------------------------------------- generate


@pytest.fixture
def generators() -> Any:
    return pytest.importorskip("edgebound.instances.generators")


@pytest.mark.parametrize("kind", ["mmv-random", "continuum-random"])
def test_generate_prints_a_valid_instance(generators: Any, kind: str) -> None:
    result = run("generate", kind, "--seed", "3")
    assert result.exit_code == 0, result.output
    inst = load(yaml.safe_load(result.stdout))
    assert inst == generators.generate(kind, size="small", seed=3)


def test_generate_to_file_by_suffix(generators: Any, tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    result = run("generate", "mmv-random", "--size", "small", "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["format"] == "json"
    json.loads(out.read_text(encoding="utf-8"))
    assert run("validate", str(out)).exit_code == 0


def test_generate_bad_kind_exits_1(generators: Any) -> None:
    result = run("generate", "no-such-kind")
    assert result.exit_code == EXIT_INVALID
    assert result.stderr.startswith("error:")
    no_traceback(result)


def test_generate_bad_size_is_a_usage_error() -> None:
    assert run("generate", "mmv-random", "--size", "huge").exit_code == EXIT_USAGE


# --------------------------------------------------------------------------- evaluate

MODELS = [f"model-{i}" for i in range(1, 6)]


@pytest.fixture
def evaluators() -> Any:
    return pytest.importorskip("edgebound.evaluate.mmv")


@pytest.fixture
def feasible_decision(tmp_path: Path) -> Path:
    return write_json(
        tmp_path / "ok.json", {"model": "mmv", "replicas": {m: {"E1": 1} for m in MODELS}}
    )


@pytest.fixture
def infeasible_decision(tmp_path: Path) -> Path:
    replicas = {m: {"E1": 1} for m in MODELS} | {"model-5": {"E1": 20}}
    return write_json(tmp_path / "too-many.json", {"model": "mmv", "replicas": replicas})


def test_evaluate_feasible(evaluators: Any, feasible_decision: Path) -> None:
    result = run("evaluate", "gentzen-star4", str(feasible_decision))
    assert result.exit_code == 0, result.output
    assert "delay" in result.stdout
    assert "feasible" in result.stdout


def test_evaluate_infeasible_exits_3_and_reports(
    evaluators: Any, infeasible_decision: Path
) -> None:
    result = run("evaluate", "gentzen-star4", str(infeasible_decision))
    assert result.exit_code == EXIT_INFEASIBLE
    assert "capacity.cpu" in result.stdout
    assert "delay" in result.stdout
    doc = json.loads(run("evaluate", "gentzen-star4", str(infeasible_decision), "--json").stdout)
    assert doc["feasible"] is False
    assert {v["constraint"] for v in doc["violations"]} >= {"capacity.cpu", "capacity.ram_gb"}


def test_evaluate_json_matches_library(evaluators: Any, feasible_decision: Path) -> None:
    from edgebound.evaluate import evaluate

    result = run("evaluate", "gentzen-star4", str(feasible_decision), "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    decision = json.loads(feasible_decision.read_text(encoding="utf-8"))
    expected = evaluate(load("gentzen-star4"), decision)
    assert doc["objectives"] == pytest.approx(expected.objectives)
    assert doc["instance"] == "gentzen-star4"


def test_evaluate_reads_stdin(evaluators: Any, feasible_decision: Path) -> None:
    text = feasible_decision.read_text(encoding="utf-8")
    result = runner.invoke(app, ["evaluate", "gentzen-star4", "-"], input=text)
    assert result.exit_code == 0, result.output


def test_evaluate_decision_not_matching_instance_exits_1(evaluators: Any, tmp_path: Path) -> None:
    path = write_json(tmp_path / "d.json", {"model": "mmv", "replicas": {"model-9": {"E1": 1}}})
    result = run("evaluate", "gentzen-star4", str(path))
    assert result.exit_code == EXIT_INVALID
    assert "model-9" in result.stderr
    no_traceback(result)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        ('{"model": "mmv",', "is not valid JSON"),
        ('{"replicas": {}}', "model"),
    ],
)
def test_evaluate_bad_decision_file_exits_1(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "decision.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = run("evaluate", "gentzen-star4", str(path))
    assert result.exit_code == EXIT_INVALID
    assert expected in result.stderr
    no_traceback(result)


def test_evaluate_broken_instance_exits_1(broken_instance: Path, tmp_path: Path) -> None:
    decision = write_json(tmp_path / "d.json", {"model": "mmv", "replicas": {}})
    result = run("evaluate", str(broken_instance), str(decision))
    assert result.exit_code == EXIT_INVALID
    assert "topology.nodes[1].cpu" in result.stderr
    no_traceback(result)


# --------------------------------------------------------------------------- internal errors


def _explode(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom")


def test_internal_error_exits_70_without_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edgebound.instances.load", _explode)
    monkeypatch.delenv("EDGEBOUND_DEBUG", raising=False)
    result = run("show", "gentzen-star4")
    assert result.exit_code == EXIT_INTERNAL
    assert "internal error: RuntimeError: boom" in result.stderr
    no_traceback(result)


def test_internal_error_raises_in_debug_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("edgebound.instances.load", _explode)
    result = run("show", "gentzen-star4", env={"EDGEBOUND_DEBUG": "1"})
    assert isinstance(result.exception, RuntimeError)


# --------------------------------------------------------------------------- entry point


def test_main_returns_exit_codes(broken_instance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "gentzen-star4"]) == 0
    assert main(["validate", str(broken_instance)]) == EXIT_INVALID
    assert main(["no-such-command"]) == EXIT_USAGE
    assert "topology.nodes[1].cpu" in capsys.readouterr().out


def test_console_script_end_to_end(broken_instance: Path) -> None:
    entry = "import sys; from edgebound.cli import main; sys.exit(main())"
    ok = subprocess.run(
        [sys.executable, "-c", entry, "validate", "gentzen-star4", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    bad = subprocess.run(
        [sys.executable, "-c", entry, "show", str(broken_instance)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == EXIT_INVALID
    assert bad.stdout == ""
    assert "topology.nodes[1].cpu" in bad.stderr
    assert "Traceback" not in bad.stderr
