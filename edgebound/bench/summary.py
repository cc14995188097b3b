"""Summaries of result files: means with Student-t confidence intervals, tables and plots.

Runs that differ only in their seed form a group. For each numeric field of the results
(nested fields as dotted paths, e.g. ``objectives.delay``) a group has the mean over its
successful runs and the half-width of the two-sided confidence interval
:math:`t_{n-1,(1+c)/2}\\, s / \\sqrt{n}`, with :math:`s` the sample standard deviation
(no interval for a single run).

Examples
--------
>>> records = [
...     {"key": str(s), "instance": "i", "method": "m", "params": {"p": 1}, "seed": s,
...      "status": "ok", "result": {"x": float(s)}}
...     for s in range(4)
... ]
>>> g = summarize(records)[0]
>>> g.n, g.mean["x"], round(g.halfwidth["x"], 4)
(4, 1.5, 2.0543)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from edgebound._stats import mean_ci
from edgebound.bench.store import latest

__all__ = ["Group", "flatten", "plot_summary", "summarize", "summary_tables"]


@dataclass(frozen=True)
class Group:
    """The runs of one method on one instance with the same parameters, over seeds.

    Attributes
    ----------
    method, instance : str
    params : dict
    n : int
        Successful runs (``status: ok``).
    failed : int
        Runs recorded with ``status: error``.
    seeds : list
        Seeds of the successful runs.
    mean, halfwidth : dict of str to float
        Per numeric result field; the half-width is ``nan`` when ``n < 2``.
    confidence : float
    errors : list of str
        Distinct error messages of the failed runs.
    """

    method: str
    instance: str
    params: dict[str, Any]
    n: int
    failed: int
    seeds: list[Any]
    mean: dict[str, float]
    halfwidth: dict[str, float]
    confidence: float
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``nan`` half-widths become ``None``).

        Examples
        --------
        >>> Group("m", "i", {}, 1, 0, [0], {"x": 1.0}, {"x": float("nan")}, 0.95).to_dict()[
        ...     "halfwidth"]
        {'x': None}
        """

        def clean(d: Mapping[str, float]) -> dict[str, float | None]:
            return {k: (v if math.isfinite(v) else None) for k, v in d.items()}

        return {
            "method": self.method,
            "instance": self.instance,
            "params": self.params,
            "n": self.n,
            "failed": self.failed,
            "seeds": self.seeds,
            "confidence": self.confidence,
            "mean": clean(self.mean),
            "halfwidth": clean(self.halfwidth),
            "errors": self.errors,
        }


def flatten(result: Any, prefix: str = "") -> dict[str, float]:
    """The numeric fields of a result as dotted paths (lists and booleans are left out).

    Examples
    --------
    >>> flatten({"a": 1, "b": {"c": 2.5, "d": "x", "e": True}, "f": [1, 2]})
    {'a': 1.0, 'b.c': 2.5}
    """
    out: dict[str, float] = {}
    if isinstance(result, Mapping):
        for k, v in result.items():
            out |= flatten(v, f"{prefix}{k}.")
    elif isinstance(result, (int, float)) and not isinstance(result, bool):
        out[prefix[:-1]] = float(result)
    return out


def _sortable(params: Mapping[str, Any]) -> tuple[tuple[str, int, Any], ...]:
    out: list[tuple[str, int, Any]] = []
    for k, v in params.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((k, 0, float(v)))
        else:
            out.append((k, 1, json.dumps(v, sort_keys=True)))
    return tuple(out)


def summarize(records: Iterable[Mapping[str, Any]], *, confidence: float = 0.95) -> list[Group]:
    """Group records over seeds and give each numeric result field's mean and CI.

    Parameters
    ----------
    records : iterable of mapping
        Records of a result file (:func:`~edgebound.bench.store.read_records`); for a key
        that appears more than once the last record counts.
    confidence : float
        Level of the two-sided Student-t intervals.

    Returns
    -------
    list of Group
        Sorted by method, instance and parameters (numbers in numeric order).

    Examples
    --------
    >>> rec = {"key": "a", "instance": "i", "method": "m", "params": {}, "seed": None,
    ...        "status": "error", "result": None, "error": {"type": "E", "message": "bad"}}
    >>> g = summarize([rec])[0]
    >>> g.n, g.failed, g.errors
    (0, 1, ['E: bad'])
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: {confidence!r} must be in (0, 1)")
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in latest(records):
        ident = [r["method"], r["instance"], r["params"]]
        groups.setdefault(json.dumps(ident, sort_keys=True), []).append(r)
    out = []
    for members in groups.values():
        ok = sorted(
            (r for r in members if r["status"] == "ok"), key=lambda r: json.dumps(r["seed"])
        )
        failed = [r for r in members if r["status"] != "ok"]
        values: dict[str, list[float]] = {}
        for r in ok:
            for name, v in flatten(r["result"]).items():
                values.setdefault(name, []).append(v)
        mean, half = {}, {}
        for name, vs in values.items():
            mean[name], half[name] = mean_ci(vs, confidence, skip_nan=False)
        errors = sorted({f"{r['error']['type']}: {r['error']['message']}" for r in failed})
        first = members[0]
        out.append(
            Group(
                method=str(first["method"]),
                instance=str(first["instance"]),
                params=dict(first["params"]),
                n=len(ok),
                failed=len(failed),
                seeds=[r["seed"] for r in ok],
                mean=mean,
                halfwidth=half,
                confidence=confidence,
                errors=errors,
            )
        )
    return sorted(out, key=lambda g: (g.method, g.instance, _sortable(g.params)))


def _metrics(method: str, groups: Sequence[Group], limit: int = 6) -> list[str]:
    from edgebound.bench.methods import methods

    present = list(dict.fromkeys(name for g in groups for name in g.mean))
    known = methods().get(method)
    preferred = [m for m in (known.metrics if known else ()) if m in present]
    return preferred or present[:limit]


def _varying(groups: Sequence[Group]) -> list[str]:
    names = list(dict.fromkeys(k for g in groups for k in g.params))
    dumps = [{k: json.dumps(g.params.get(k), sort_keys=True) for k in names} for g in groups]
    return [k for k in names if len({d[k] for d in dumps}) > 1]


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:.4g}" if abs(x) < 1e5 else f"{x:.3e}"


def _fmt_ci(mean: float, half: float) -> str:
    """``mean ± half`` with the half-width to two significant digits, the mean to match."""
    if not math.isfinite(half) or not math.isfinite(mean):
        return _fmt(mean)
    if half == 0:
        return f"{_fmt(mean)} ± 0"
    decimals = 1 - math.floor(math.log10(half))
    if not 0 <= decimals <= 8 or abs(mean) >= 1e5:
        return f"{_fmt(mean)} ± {half:.2g}"
    return f"{mean:.{decimals}f} ± {half:.{decimals}f}"


def _headers(metrics: Sequence[str]) -> list[str]:
    """The last part of each dotted path, where that is unambiguous."""
    last = [m.rsplit(".", 1)[-1] for m in metrics]
    return [short if last.count(short) == 1 else m for m, short in zip(metrics, last, strict=True)]


def _param_text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def summary_tables(groups: Sequence[Group], *, metrics: Sequence[str] | None = None) -> list[Table]:
    """One rich table per method: a row per instance and parameters, mean ± CI per metric.

    Parameters
    ----------
    groups : sequence of Group
        From :func:`summarize`.
    metrics : sequence of str, optional
        Result fields to show; default: the method's declared metrics, else its first six
        numeric fields.

    Examples
    --------
    >>> recs = [{"key": f"{p}{s}", "instance": "i", "method": "m", "params": {"p": p},
    ...          "seed": s, "status": "ok", "result": {"x": p + s}}
    ...         for p in (1, 2) for s in range(3)]
    >>> table = summary_tables(summarize(recs))[0]
    >>> [c.header for c in table.columns]
    ['instance', 'p', 'n', 'x']
    >>> list(table.columns[3].cells)
    ['2.0 ± 2.5', '3.0 ± 2.5']
    """
    tables = []
    by_method: dict[str, list[Group]] = {}
    for g in groups:
        by_method.setdefault(g.method, []).append(g)
    for name, members in by_method.items():
        shown = [
            m for m in (metrics or _metrics(name, members)) if any(m in g.mean for g in members)
        ]
        varying = _varying(members)
        level = f"{100 * members[0].confidence:g} %"
        if any(g.n > 1 for g in members):
            table = Table(title=f"{name}: mean ± {level} CI half-width over seeds")
        else:
            table = Table(title=f"{name}: one run each")
        table.add_column("instance")
        for p in varying:
            table.add_column(p)
        table.add_column("n", justify="right")
        for header in _headers(shown):
            table.add_column(header, justify="right")
        if any(g.failed for g in members):
            table.add_column("failed", justify="right")
        for g in members:
            cells = [g.instance, *(_param_text(g.params.get(p)) for p in varying), str(g.n)]
            for m in shown:
                cells.append(_fmt_ci(g.mean.get(m, math.nan), g.halfwidth.get(m, math.nan)))
            if any(x.failed for x in members):
                cells.append(str(g.failed))
            table.add_row(*cells)
        tables.append(table)
    return tables


def plot_summary(
    groups: Sequence[Group],
    path: str | Path | None = None,
    *,
    metrics: Sequence[str] | None = None,
    x: str | None = None,
) -> Any:
    """Plot the groups' means with their confidence intervals as error bars.

    One panel per method and metric (default: its first two metrics). When some methods
    have runs over several seeds, only those are drawn. With ``x`` (a parameter name) the
    groups of a method that have it are drawn against it, one line per instance and value of
    the other varying parameters; otherwise each group is a point on a categorical axis.

    Parameters
    ----------
    groups : sequence of Group
    path : str or Path, optional
        Save the figure there (PNG, SVG, PDF by suffix).
    metrics : sequence of str, optional
        Result fields to plot (default: up to two per method, as in the tables).
    x : str, optional
        Parameter on the horizontal axis, e.g. ``load``.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If no group has the metrics asked for.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> recs = [{"key": f"{p}{s}", "instance": "i", "method": "m", "params": {"load": p},
    ...          "seed": s, "status": "ok", "result": {"x": p * s}}
    ...         for p in (0.3, 0.6) for s in range(3)]
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "s.png"
    >>> fig = plot_summary(summarize(recs), out, x="load")
    >>> fig.axes[0].get_title(), out.stat().st_size > 0
    ('m: x', True)
    """
    import matplotlib.pyplot as plt

    by_method: dict[str, list[Group]] = {}
    for g in groups:
        by_method.setdefault(g.method, []).append(g)
    if any(g.n > 1 for g in groups):
        # Without seeds to average over there is no interval to show: leave such methods out.
        by_method = {k: v for k, v in by_method.items() if any(g.n > 1 for g in v)}
    panels = []
    for name, members in by_method.items():
        chosen = list(metrics) if metrics else _metrics(name, members)[:2]
        panels += [(name, members, m) for m in chosen if any(m in g.mean for g in members)]
    if not panels:
        raise ValueError("nothing to plot: no group has the metrics asked for")
    fig, axes = plt.subplots(len(panels), 1, figsize=(7.5, 2.8 * len(panels)), squeeze=False)
    for ax, (name, members, metric) in zip(axes[:, 0], panels, strict=True):
        varying = [p for p in _varying(members) if p != x]
        if x is not None and all(isinstance(g.params.get(x), (int, float)) for g in members):
            series: dict[str, list[Group]] = {}
            for g in members:
                label = ", ".join(
                    [
                        g.instance,
                        *(f"{p}={_param_text(g.params[p])}" for p in varying if p in g.params),
                    ]
                )
                series.setdefault(label, []).append(g)
            for label, gs in series.items():
                gs = sorted(gs, key=lambda g: float(g.params[x]))
                ax.errorbar(
                    [float(g.params[x]) for g in gs],
                    [g.mean.get(metric, math.nan) for g in gs],
                    yerr=[_zero_nan(g.halfwidth.get(metric, math.nan)) for g in gs],
                    marker="o",
                    capsize=3,
                    label=label,
                )
            ax.set_xlabel(x)
            ax.legend(fontsize="small")
        else:
            labels = [
                "\n".join([g.instance, *(f"{p}={_param_text(g.params.get(p))}" for p in varying)])
                for g in members
            ]
            pos = np.arange(len(members))
            ax.errorbar(
                pos,
                [g.mean.get(metric, math.nan) for g in members],
                yerr=[_zero_nan(g.halfwidth.get(metric, math.nan)) for g in members],
                fmt="o",
                capsize=3,
            )
            ax.set_xticks(pos, labels, fontsize="small")
        ax.set_title(f"{name}: {metric}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(Path(path), dpi=110)
    return fig


def _zero_nan(x: float) -> float:
    return x if math.isfinite(x) else 0.0
