"""Summaries: Student-t intervals, tables, plots; and the docs list every method parameter."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats

from edgebound.bench import flatten, methods, plot_summary, summarize, summary_tables

DOCS = Path(__file__).resolve().parents[2] / "docs"


def rec(method: str, params: dict[str, Any], seed: Any, result: Any, **kw: Any) -> dict:
    key = f"{method}{sorted(params.items())}{seed}"
    base = {"key": key, "instance": "i", "method": method, "params": params, "seed": seed}
    return base | {"status": "ok", "result": result} | kw


def test_mean_and_t_interval_match_scipy() -> None:
    values = [3.0, 1.0, 4.0, 1.0, 5.0]
    records = [rec("m", {"p": 1}, s, {"a": {"x": v}, "flag": True}) for s, v in enumerate(values)]
    (g,) = summarize(records, confidence=0.9)
    lo, hi = stats.t.interval(0.9, 4, loc=np.mean(values), scale=stats.sem(values))
    assert g.mean["a.x"] == pytest.approx(np.mean(values))
    assert g.halfwidth["a.x"] == pytest.approx((hi - lo) / 2)
    assert "flag" not in g.mean and g.seeds == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="confidence"):
        summarize(records, confidence=1.5)


def test_groups_split_by_params_and_sort_numbers_numerically() -> None:
    records = [rec("m", {"load": x}, s, {"y": x + s}) for x in (0.8, 0.25, 10) for s in (0, 1)]
    records.append(rec("m", {"load": 0.8}, 2, None, status="error",
                       error={"type": "E", "message": "boom"}))  # fmt: skip
    groups = summarize(records)
    assert [g.params["load"] for g in groups] == [0.25, 0.8, 10]
    assert [(g.n, g.failed) for g in groups] == [(2, 0), (2, 1), (2, 0)]
    assert groups[1].errors == ["E: boom"]
    single = summarize([rec("m", {}, None, {"y": 2.0})])[0]
    assert single.n == 1 and math.isnan(single.halfwidth["y"])
    assert single.to_dict()["halfwidth"] == {"y": None}


def test_tables_show_varying_params_and_declared_metrics() -> None:
    records = [rec("simulate", {"policy": p, "arrivals": 10}, s,
                   {"objectives": {"delay": 10.0 + s, "weighted": -1.0}, "events": 5})
               for p in ("always", "never") for s in (0, 1, 2)]  # fmt: skip
    records.append(rec("solve", {}, None, {"objective": -19.8, "gap": 0.0}))
    sim, solve = summary_tables(summarize(records))
    headers = [c.header for c in sim.columns]
    assert headers == ["instance", "policy", "n", "delay", "weighted"]  # no arrivals column
    assert list(sim.columns[3].cells) == ["11.0 ± 2.5", "11.0 ± 2.5"]
    assert "95 % CI" in str(sim.title) and str(solve.title) == "solve: one run each"
    assert flatten({"a": [1], "b": {"c": 1}}) == {"b.c": 1.0}


def test_plot_draws_seeded_methods_against_a_parameter(tmp_path: Path) -> None:
    records = [rec("simulate", {"load": x, "policy": p}, s, {"objectives": {"delay": x + s}})
               for x in (0.3, 0.6) for p in ("a", "b") for s in (0, 1)]  # fmt: skip
    records.append(rec("solve", {}, None, {"objective": 1.0}))
    fig = plot_summary(summarize(records), tmp_path / "p.png", metrics=["objectives.delay"],
                       x="load")  # fmt: skip
    assert (tmp_path / "p.png").stat().st_size > 0
    (ax,) = fig.axes  # the single-run solve is left out
    assert ax.get_xlabel() == "load" and len(ax.get_legend().get_texts()) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_summary(summarize(records), metrics=["nope"])


def test_docs_page_lists_every_parameter_of_the_built_in_methods() -> None:
    text = (DOCS / "bench.rst").read_text(encoding="utf-8")
    for name in ("solve", "bound", "simulate", "pareto", "plant", "mpc"):
        m = methods()[name]
        assert f"``{name}``" in text
        assert m.params is not None
        for param in m.params:
            assert f"``{param}``" in text, (name, param)
