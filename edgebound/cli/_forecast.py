"""The ``forecast`` command: fit a forecaster on a trace and score it on the final week."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from edgebound.cli._app import (
    JsonOption,
    OutOption,
    _command,
    _console,
    _echo_err,
    _emit_json,
    _write,
)
from edgebound.errors import EdgeboundError

if TYPE_CHECKING:
    from edgebound.forecast import Evaluation, Forecaster


class _Kind(enum.StrEnum):
    seasonal = "seasonal"
    moving_average = "moving-average"
    tcn = "tcn"


class _TraceError(EdgeboundError):
    """A trace that cannot be read, or options that do not fit it."""


def _series(trace: str, step_s: float | None) -> tuple[np.ndarray, float]:
    from edgebound.instances.traces import load_trace, names, resample

    try:
        t, v = load_trace(trace)
    except KeyError:
        raise _TraceError(
            f"trace: {trace!r} is neither a bundled trace ({', '.join(names())}) "
            "nor a CSV file with header timestamp,value"
        ) from None
    except ValueError as exc:
        raise _TraceError(f"trace: {exc}") from None
    step = float(np.median(np.diff(t))) if step_s is None else float(step_s)
    return resample(t, v, step), step


def _make(
    kind: _Kind, step_s: float, horizon: int, seed: int, window: int, epochs: int
) -> Forecaster:
    from edgebound.forecast import MovingAverage, SeasonalNaive

    if kind is _Kind.seasonal:
        return SeasonalNaive(step_s, interval_horizon=horizon)
    if kind is _Kind.moving_average:
        return MovingAverage(window, interval_horizon=horizon)
    from edgebound.forecast.tcn import TCNForecaster

    return TCNForecaster(step_s, horizon=horizon, seed=seed, epochs=epochs)


def _plot(
    path: Path,
    name: str,
    y: np.ndarray,
    start: int,
    ev: Evaluation,
    step_s: float,
    future: np.ndarray,
    band: np.ndarray | None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = np.arange(len(y)) * step_s / 3600.0
    lead = ev.horizon
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.plot(hours[start:], y[start:], color="black", lw=0.8, label="actual (held out)")
    at = start + lead - 1 + np.arange(ev.origins)
    ax.plot(
        hours[at],
        ev.forecast[:, -1],
        color="tab:blue",
        lw=0.8,
        label=f"forecast {lead} steps ahead",
    )
    if ev.lower is not None and ev.upper is not None:
        ax.fill_between(
            hours[at],
            ev.lower[:, -1],
            ev.upper[:, -1],
            color="tab:blue",
            alpha=0.2,
            lw=0,
            label="80 % interval",
        )
    ahead = hours[-1] + step_s / 3600.0 * np.arange(1, len(future) + 1)
    ax.plot(ahead, future, color="tab:red", lw=1.2, label="forecast after the trace")
    if band is not None:
        ax.fill_between(ahead, band[0], band[1], color="tab:red", alpha=0.2, lw=0)
    ax.set_xlabel("hours since the trace's first sample")
    ax.set_ylabel("rate")
    ax.set_title(f"{name}: final week, MASE {ev.mase:.3f}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise _TraceError(f"--plot: cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


@_command("forecast")
def _forecast(
    trace: Annotated[
        str, typer.Argument(help="A bundled trace name or a CSV file (timestamp,value).")
    ],
    model: Annotated[
        _Kind, typer.Option("--model", "-m", help="Which forecaster.")
    ] = _Kind.seasonal,
    horizon: Annotated[int, typer.Option("--horizon", "-H", min=1, help="Steps ahead.")] = 12,
    step: Annotated[
        float | None,
        typer.Option("--step", min=1.0, help="Seconds per step (default: the trace's own)."),
    ] = None,
    holdout_days: Annotated[
        float, typer.Option("--holdout-days", min=0.01, help="Final days held out for scoring.")
    ] = 7.0,
    stride: Annotated[int, typer.Option("--stride", min=1, help="Steps between origins.")] = 1,
    window: Annotated[
        int, typer.Option("--window", min=1, help="Steps averaged by moving-average.")
    ] = 12,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the TCN.")] = 0,
    epochs: Annotated[
        int, typer.Option("--epochs", min=1, help="Most training epochs of the TCN.")
    ] = 20,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write a PNG of the held-out forecasts.", dir_okay=False),
    ] = None,
    output: OutOption = None,
    json_out: JsonOption = False,
) -> None:
    """Fit a forecaster on a trace and score it on the final week (rolling origin).

    The forecaster is fitted on everything before the held-out final days, then forecasts
    HORIZON steps from every origin in them. Prints MASE (scaled by the in-sample
    seasonal-naive error), sMAPE and the coverage of the 80 % interval, next to seasonal
    naive on the same split, and the forecast of the steps after the trace ends. The TCN
    needs torch, installed with the package's forecast extra.
    """
    from edgebound.forecast import SeasonalNaive, daily_season, rolling_origin

    y, step_s = _series(trace, step)
    season = daily_season(step_s)
    held = round(holdout_days * 86_400.0 / step_s)
    start = len(y) - held
    if start < season + 1 or held < horizon:
        raise _TraceError(
            f"--holdout-days: {holdout_days:g} days leave {start} training and {held} held-out "
            f"steps; need more than one day ({season} steps) of training and at least "
            f"--horizon {horizon} held-out steps"
        )
    forecaster = _make(model, step_s, horizon, seed, window, epochs)
    ev = rolling_origin(forecaster, y, start, horizon, stride=stride, season=season)
    evals: dict[str, Any] = {model.value: ev}
    if model is not _Kind.seasonal:
        ref = SeasonalNaive(step_s, interval_horizon=horizon)
        evals["seasonal"] = rolling_origin(ref, y, start, horizon, stride=stride, season=season)
    future = forecaster.predict(y, horizon)
    band = None
    if hasattr(forecaster, "predict_quantiles"):
        band = forecaster.predict_quantiles(y, horizon, ev.interval)
    fit_s = getattr(forecaster, "fit_s", None)
    name = Path(trace).stem
    doc: dict[str, Any] = {
        "trace": name,
        "model": model.value,
        "step_s": step_s,
        "horizon": horizon,
        "train_steps": start,
        "heldout_steps": held,
        "fit_s": fit_s,
        "evaluation": {k: e.to_dict() for k, e in evals.items()},
        "forecast": future,
        "interval": None if band is None else {"lower": band[0], "upper": band[1]},
    }
    if plot is not None:
        _plot(plot, name, y, start, ev, step_s, future, band)
    if output is not None:
        from edgebound.cli._app import _jsonable

        _write(Path(output), json.dumps(_jsonable(doc), indent=2) + "\n")
    if json_out:
        _emit_json(doc)
        return
    con = _console()
    table = Table(
        title=f"{escape(name)}: final {held} steps held out ({step_s:g} s steps), horizon {horizon}"
    )
    for col in ("model", "MASE", "sMAPE %", "80 % coverage", "origins"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for k, e in evals.items():
        cov = "-" if e.coverage is None else f"{e.coverage:.3f}"
        table.add_row(k, f"{e.mase:.3f}", f"{e.smape:.1f}", cov, str(e.origins))
    con.print(table)
    if fit_s is not None:
        con.print(f"training took {fit_s:.1f} s")
    con.print("forecast after the trace: " + ", ".join(f"{x:.4g}" for x in future))
    if plot is not None:
        _echo_err(f"wrote {plot}")
    if output is not None:
        _echo_err(f"wrote {output}")
