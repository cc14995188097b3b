"""The pareto and pareto-score commands: JSON contract, files, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import edgebound.cli._pareto  # noqa: F401  (registers the commands)
from edgebound.cli import EXIT_INFEASIBLE, EXIT_INVALID, EXIT_OK, EXIT_USAGE, app
from edgebound.pareto import ParetoFront

NSGA = ["--method", "nsga2", "--generations", "5", "--pop-size", "16", "--seed", "2"]


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(scope="module")
def front_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pareto") / "front.json"
    code, _, err = run("pareto", "gentzen-star4", *NSGA, "-o", str(path))
    assert code == EXIT_OK, err
    return path


def test_pareto_json_is_a_front_document(front_file: Path) -> None:
    code, out, _ = run("pareto", "gentzen-star4", *NSGA, "--json")
    assert code == EXIT_OK
    doc = json.loads(out)
    assert doc["instance"] == "gentzen-star4" and doc["model"] == "mmv"
    assert doc["names"] == ["delay", "accuracy"] and doc["senses"] == ["min", "max"]
    assert doc["method"] == "nsga2" and doc["exact"] is False
    assert len(doc["F"]) == len(doc["X"]) >= 1
    assert doc["X"][0]["model"] == "mmv"
    # same seed, same front; the file written by -o is the same document
    assert json.loads(front_file.read_text())["F"] == doc["F"]
    assert ParetoFront.from_json(front_file).F.tolist() == doc["F"]


def test_pareto_table_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "front.png"
    code, out, err = run("pareto", "gentzen-star4", *NSGA, "--plot", str(png))
    assert code == EXIT_OK
    assert "delay (ms, min)" in out and "points" in out
    assert png.stat().st_size > 1000 and f"wrote {png}" in err


def test_pareto_usage_and_invalid_input() -> None:
    code, out, err = run("pareto", "gentzen-star4", "--objectives", "delay,speed", "--json")
    assert code == EXIT_INVALID
    assert "speed" in err
    assert json.loads(out)["ok"] is False
    code, _, err = run("pareto", "gentzen-star4", "--objectives", "delay")
    assert code == EXIT_INVALID and "two to four" in err
    code, _, err = run("pareto", "gentzen-star4", "--objectives", "delay,speed", *NSGA)
    assert code == EXIT_INVALID and "speed" in err
    code, _, _ = run("pareto", "gentzen-star4", "--method", "simplex")
    assert code == EXIT_USAGE
    code, _, err = run("pareto", "no-such-instance")
    assert code == EXIT_INVALID


def test_score_json(front_file: Path, tmp_path: Path) -> None:
    F = ParetoFront.from_json(front_file).F
    best = F[0].tolist()
    outcomes = tmp_path / "outcomes.json"
    outcomes.write_text(
        json.dumps(
            {
                "on": best,
                "worse": {"delay": best[0] + 1.0, "accuracy": best[1] - 0.001},
            }
        )
    )
    code, out, _ = run("pareto-score", str(front_file), str(outcomes), "--json")
    assert code == EXIT_OK
    doc = json.loads(out)
    assert doc["names"] == ["delay", "accuracy"]
    on, worse = doc["scores"]["on"], doc["scores"]["worse"]
    assert on["dominated"] is False and on["epsilon"] == pytest.approx(0.0)
    assert worse["dominated"] is True and worse["epsilon"] > 0
    assert 0 < worse["hv_share"] < on["hv_share"] <= 1
    # default reference point: the front's worst values, a tenth of the range further
    assert doc["ref"][0] > F[:, 0].max() and doc["ref"][1] < F[:, 1].min()
    code, out, _ = run("pareto-score", str(front_file), str(outcomes), "--ref", "40,0.5", "--json")
    assert code == EXIT_OK and json.loads(out)["ref"] == [40.0, 0.5]


def test_score_table_and_plot(front_file: Path, tmp_path: Path) -> None:
    outcomes = tmp_path / "outcomes.json"
    outcomes.write_text(json.dumps({"agent": [20.0, 0.59]}))
    png = tmp_path / "score.png"
    code, out, _ = run("pareto-score", str(front_file), str(outcomes), "--plot", str(png))
    assert code == EXIT_OK
    assert "agent" in out and "reference point" in out
    assert png.exists()


@pytest.mark.parametrize(
    ("outcomes", "ref", "message"),
    [
        ({"a": [1.0]}, None, "must be 2 numbers"),
        ({"a": {"delay": 1.0}}, None, "missing accuracy"),
        ([1.0, 2.0], None, "JSON object"),
        ({"a": [1.0, 0.5]}, "1,2,3", "must have 2 values"),
        ({"a": [1.0, 0.5]}, "x,y", "numbers separated by commas"),
    ],
)
def test_score_bad_input(
    front_file: Path, tmp_path: Path, outcomes: object, ref: str | None, message: str
) -> None:
    path = tmp_path / "outcomes.json"
    path.write_text(json.dumps(outcomes))
    args = ["pareto-score", str(front_file), str(path)] + (["--ref", ref] if ref else [])
    code, _, err = run(*args)
    assert code == EXIT_INVALID
    assert message in err


def test_score_unreadable_files(front_file: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    code, _, err = run("pareto-score", str(missing), str(front_file))
    assert code == EXIT_INVALID and "cannot read" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run("pareto-score", str(bad), str(front_file))
    assert code == EXIT_INVALID and "not JSON" in err
    code, _, err = run("pareto-score", str(front_file), str(front_file), "--json")
    assert code == EXIT_INVALID  # a front is not an outcomes document


def test_pareto_infeasible_instance_exits_3(tmp_path: Path) -> None:
    from edgebound.instances import load

    doc = load("gentzen-star4").model_dump(mode="json")
    for dem in doc["workload"]["demands"]:
        dem["rate_rps"] = 1e6
    path = tmp_path / "heavy.json"
    path.write_text(json.dumps(doc))
    code, out, err = run("pareto", str(path), *NSGA, "--json")
    assert code == EXIT_INFEASIBLE
    assert json.loads(out)["status"] == "infeasible"
    assert "no version can serve" in err


@pytest.fixture(scope="module")
def continuum(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edgebound.instances import save
    from edgebound.instances.generators import generate

    path = tmp_path_factory.mktemp("placement") / "continuum.yaml"
    save(generate("continuum-random", "small", seed=0), path)
    return path


def test_pareto_placement_exact_json(continuum: Path, tmp_path: Path) -> None:
    png = tmp_path / "front.png"
    args = ["pareto", str(continuum), "--model", "placement", "--objectives", "power,dropped"]
    code, out, err = run(*args, "--grid-points", "4", "--plot", str(png), "--json")
    assert code == EXIT_OK, err
    doc = json.loads(out)
    assert doc["model"] == "placement" and doc["method"] == "exact" and doc["exact"] is True
    assert doc["names"] == ["power", "dropped"] and doc["units"] == ["W", "req/s"]
    assert doc["stats"]["mode"] == "grid" and len(doc["F"]) == 4
    assert doc["X"][0]["model"] == "placement"
    assert png.stat().st_size > 1000


def test_pareto_placement_nsga_table(continuum: Path) -> None:
    args = ["pareto", str(continuum), "-m", "placement", "--objectives", "cost,energy", *NSGA]
    code, out, err = run(*args)
    assert code == EXIT_OK, err
    assert "approximate nsga2 front of placement" in out and "energy (J/req, min)" in out
    code, out, _ = run(*args, "--json")
    assert json.loads(out)["method"] == "nsga2"
    code, out, err = run(*args, "--polish", "3", "--json")
    assert code == EXIT_OK, err
    stats = json.loads(out)["stats"]
    assert stats["polish"] == 3 and 0 <= stats["polished"] <= 3


def test_pareto_interrupted_in_the_polish_says_how_far(
    continuum: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    mod = sys.modules["edgebound.pareto.placement_nsga"]  # the package exports the function
    # 5 generations, then four explorations at a time: done 9 is after the first four
    monkeypatch.setattr(mod, "placement_nsga", _interrupted_at(mod.placement_nsga, 9))
    path = tmp_path / "front.json"
    args = ["pareto", str(continuum), "-m", "placement", "--objectives", "cost,energy", *NSGA]
    code, _, err = run(*args, "--polish", "50", "-o", str(path))
    assert code == 130, err
    assert "interrupted after 5 of 5 generations and 4 of 50 polish explorations" in err
    front = ParetoFront.from_json(path)
    assert front.stats["interrupted"] is True and front.stats["polished"] == 4


def test_polish_is_for_the_placement_nsga_only(continuum: Path) -> None:
    code, _, err = run("pareto", "gentzen-star4", *NSGA, "--polish", "5")
    assert code == EXIT_INVALID and "--polish: 5 applies to --model placement" in err
    code, _, err = run("pareto", str(continuum), "-m", "placement", "--polish", "5")
    assert code == EXIT_INVALID and "--method nsga2 or nsga3" in err
    code, _, _ = run("pareto", str(continuum), "-m", "placement", *NSGA, "--polish", "-1")
    assert code == EXIT_USAGE


def test_pareto_placement_nsga_with_extremes(continuum: Path) -> None:
    args = ["pareto", str(continuum), "-m", "placement", "--objectives", "cost,energy", *NSGA]
    code, out, err = run(*args, "--extremes", "--extremes-time-limit", "30", "--json")
    assert code == EXIT_OK, err
    doc = json.loads(out)
    extremes = doc["stats"]["extremes"]
    assert len(extremes) == 2 and doc["stats"]["extremes_seconds"] > 0
    # the least-cost extreme is on the front (nothing NSGA found is cheaper)
    assert min(row[0] for row in doc["F"]) == pytest.approx(extremes[0][0])
    code, _, err = run("pareto", str(continuum), "-m", "placement", "--extremes")
    assert code == EXIT_INVALID and "--extremes applies to --model placement" in err
    code, _, err = run("pareto", "gentzen-star4", *NSGA, "--extremes")
    assert code == EXIT_INVALID and "--method nsga2 or nsga3 only" in err


def test_pareto_placement_nsga_with_anchors(continuum: Path) -> None:
    args = ["pareto", str(continuum), "-m", "placement", "--objectives", "cost,energy", *NSGA]
    code, out, err = run(*args, "--extremes", "--anchors", "2", "--json")
    assert code == EXIT_OK, err
    stats = json.loads(out)["stats"]
    (lo, _), (hi, _) = stats["extremes"]
    assert len(stats["anchors"]) == 2 and all(lo < c < hi for c, _ in stats["anchors"])
    code, _, err = run(*args, "--anchors", "2")
    assert code == EXIT_INVALID and "--anchors: 2 needs --extremes" in err
    code, _, err = run(*args, "--extremes-nodes", "5")
    assert code == EXIT_INVALID and "--extremes-nodes: 5 needs --extremes" in err
    code, out, err = run(*args, "--extremes", "--extremes-nodes", "1", "--json")
    assert code == EXIT_OK, err
    assert json.loads(out)["stats"]["exact_timed_out"] == 0
    code, _, _ = run(*args, "--extremes", "--anchors", "-1")
    assert code == EXIT_USAGE


def test_pareto_placement_bad_objectives(continuum: Path) -> None:
    code, _, err = run("pareto", str(continuum), "-m", "placement", "--objectives", "delay,cost")
    assert code == EXIT_INVALID and "'delay' must be one of latency" in err
    code, _, err = run(
        "pareto", str(continuum), "-m", "placement", "--objectives", "cost,energy,power"
    )
    assert code == EXIT_INVALID and "must be two different" in err


def test_pareto_placement_infeasible_exits_3(tmp_path: Path) -> None:
    from edgebound.instances import load, save
    from edgebound.instances.generators import generate

    doc = generate("continuum-random", "small", seed=0).model_dump(mode="json")
    for dem in doc["workload"]["demands"]:
        dem["rate_rps"] = 1e7
    path = tmp_path / "heavy.yaml"
    save(load(doc), path)
    code, _, err = run("pareto", str(path), "-m", "placement", "--objectives", "cost,energy")
    assert code == EXIT_INFEASIBLE and "infeasible" in err


def _interrupted_at(real: Any, count: int) -> Any:
    """``real`` with a progress callback that interrupts when its first argument (generations
    done, or points found) reaches ``count``."""

    def run_(*args: Any, **kwargs: Any) -> ParetoFront:
        def stop(done: int, _: int) -> None:
            if done == count:
                raise KeyboardInterrupt

        return real(*args, **{**kwargs, "progress": stop})

    return run_


def test_pareto_interrupted_writes_the_front_found_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgebound.pareto.nsga as nsga

    monkeypatch.setattr(nsga, "mmv_nsga", _interrupted_at(nsga.mmv_nsga, 2))
    path = tmp_path / "front.json"
    code, _, err = run("pareto", "gentzen-star4", *NSGA, "-o", str(path))
    assert code == 130 and "interrupted after 2 of 5 generations" in err
    front = ParetoFront.from_json(path)
    assert len(front) >= 1 and front.stats["interrupted"] is True

    def nothing(*args: object, **kwargs: object) -> ParetoFront:
        raise KeyboardInterrupt

    monkeypatch.setattr(nsga, "mmv_nsga", nothing)
    code, _, err = run("pareto", "gentzen-star4", *NSGA)
    assert code == 130 and "before a feasible decision" in err

    import edgebound.pareto.mmv as mmv

    monkeypatch.setattr(mmv, "mmv_front", nothing)
    code, _, err = run("pareto", "gentzen-star4", "--method", "exact")
    assert code == 130 and "exact front was not finished" in err


def test_pareto_placement_exact_interrupted_keeps_the_points(
    continuum: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgebound.pareto.placement as placement

    monkeypatch.setattr(placement, "placement_front", _interrupted_at(placement.placement_front, 3))
    args = ["pareto", str(continuum), "--model", "placement", "--objectives", "power,dropped"]
    code, out, err = run(*args, "--grid-points", "5", "--json")
    assert code == 130 and "interrupted after 3 points" in err
    doc = json.loads(out)
    assert doc["exact"] is False and doc["stats"]["interrupted"] is True and len(doc["F"]) == 3
