"""Forecast accuracy on the held-out final week of the bundled traces, and federated training.

1. Per trace, at its own step (5 min; nyc_taxi 30 min): seasonal naive (daily), moving
   average (last hour's worth of 12 steps) and the TCN, fitted on everything before the final
   week and scored by rolling origin over that week (every step an origin, 12 steps ahead):
   MASE (scaled by the in-sample daily seasonal-naive error), sMAPE and the coverage of the
   80 % interval, with the TCN's training time.
2. Every trace as one site: local-only TCNs, one centralized TCN on the pooled windows,
   uncompressed FedAvg, the same with top-k 10 % + 8-bit quantization + error feedback
   (stragglers mixed in with staleness decay), and that with the head kept at the sites
   (personalization). Mean MASE over the sites' final weeks relative to centralized, the
   median and worst per-site gap, uplink bytes per round relative to uncompressed FedAvg,
   and each federated run's best validation loss with the model (global or server average)
   and round that reached it; ``--jobs 2`` trains two of them at a time. For screening,
   ``--traces`` picks sites, ``--rounds`` the rounds, ``--rows`` the standard rows (the
   centralized reference always runs), ``--set ema=0.9,lr_final=0.1`` changes the default's
   FedConfig fields and ``--variant "LABEL:prox=0.1"`` adds rows.
3. The TCN's training time on one trace with 1 and 2 torch threads, and whether the same
   seed gives bit-identical forecasts.

Run ``python benchmarks/forecast_eval.py`` (the federated part alone took about 30 minutes with
``--jobs 2`` on 2 busy cores; ``--parts`` picks tables, ``--quick`` runs three traces and skips
the federated part). Needs torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from importlib.metadata import version
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from edgebound.forecast import (
    Evaluation,
    Forecaster,
    MovingAverage,
    SeasonalNaive,
    TCNForecaster,
    daily_season,
    rolling_origin,
)
from edgebound.forecast.federated import (
    FedConfig,
    train_centralized,
    train_federated,
    train_local,
)
from edgebound.forecast.tcn import TCNConfig
from edgebound.instances.traces import load_trace, names, resample

HORIZON = 12
console = Console(width=200)


def trace(name: str) -> tuple[np.ndarray, float, int]:
    """Series at the trace's own step, the step, and the first held-out index."""
    t, v = load_trace(name)
    step = float(np.median(np.diff(t)))
    y = resample(t, v, step)
    return y, step, len(y) - round(7 * 86_400 / step)


def evaluate(f: Forecaster, y: np.ndarray, step: float, start: int, fit: bool) -> Evaluation:
    return rolling_origin(f, y, start, HORIZON, season=daily_season(step), fit=fit)


def held_out_table(traces: Sequence[str], cfg: TCNConfig) -> None:
    table = Table(title=f"held-out final week, {HORIZON} steps ahead, every step an origin")
    for col in ("trace", "model", "MASE", "sMAPE %", "80 % cover", "train s"):
        table.add_column(col, justify="left" if col in ("trace", "model") else "right")
    wins = 0
    for name in traces:
        y, step, start = trace(name)
        rows: dict[str, Forecaster] = {
            "seasonal naive": SeasonalNaive(step, interval_horizon=HORIZON),
            "moving average": MovingAverage(12, interval_horizon=HORIZON),
            "TCN": TCNForecaster(step, cfg),
        }
        scores = {}
        for label, f in rows.items():
            ev = evaluate(f, y, step, start, fit=True)
            scores[label] = ev.mase
            fit_s = getattr(f, "fit_s", None)
            table.add_row(
                name,
                label,
                f"{ev.mase:.3f}",
                f"{ev.smape:.1f}",
                "-" if ev.coverage is None else f"{ev.coverage:.3f}",
                "-" if fit_s is None else f"{fit_s:.1f}",
            )
        wins += scores["TCN"] < scores["seasonal naive"]
        table.add_section()
    console.print(table)
    console.print(f"TCN below seasonal naive on {wins} of {len(traces)} traces")


def _train_and_score(
    kind: str, data: Sequence[tuple[np.ndarray, float, int]], cfg: TCNConfig, fc: FedConfig
) -> tuple[np.ndarray, float | None, float | None, float, str, float]:
    """MASE per site, mean uplink and downlink bytes per round, wall seconds, for a federated
    run its best validation loss with the model and round that reached it, and the uplink of
    the same updates uncompressed (mean bytes per round)."""
    sites = [(y[:start], step) for y, step, start in data]
    tic = time.perf_counter()
    up: float | None = None
    down: float | None = None
    forecasters: list[TCNForecaster]
    chosen, dense = "-", 0.0
    if kind == "local":
        forecasters, up = train_local(sites, cfg), 0.0
    elif kind == "centralized":
        forecasters = train_centralized(sites, cfg)
    else:
        res = train_federated(sites, cfg, fc)
        forecasters = res.forecasters
        up, down = float(res.uplink_bytes.mean()), float(res.downlink_bytes.mean())
        dense, info = float(res.dense_bytes.mean()), res.info
        chosen = f"{info['best_val_loss']:.4f} ({info['best_model']} @ {info['best_round']})"
    wall = time.perf_counter() - tic
    mase = np.array(
        [
            evaluate(f, y, step, start, fit=False).mase
            for f, (y, step, start) in zip(forecasters, data, strict=True)
        ]
    )
    return mase, up, down, wall, chosen, dense


ROWS = ("local", "centralized", "uncompressed", "compressed", "head")


def _parse_settings(text: str) -> dict[str, Any]:
    """``"ema=0.9,lr_final=0.1"`` as FedConfig fields with values of the fields' types."""
    fields = {f.name: f for f in dataclasses.fields(FedConfig)}
    out: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"unknown FedConfig field {key!r}; choose from {sorted(fields)}")
        default = getattr(FedConfig(), key)
        if isinstance(default, tuple):
            out[key] = tuple(type(default[0])(v) if default else v for v in value.split("/"))
        elif isinstance(default, bool):
            out[key] = value.lower() in ("1", "true", "yes")
        elif default is None or isinstance(default, int):
            out[key] = None if value == "None" else int(value)
        else:
            out[key] = type(default)(value)
    return out


def federated_table(
    traces: Sequence[str],
    cfg: TCNConfig,
    fed: FedConfig,
    jobs: int,
    rows: Sequence[str] = ROWS,
    variants: Sequence[str] = (),
) -> None:
    """Train every row (and each ``LABEL:field=value,...`` variant of the default) and print.

    The centralized row is always trained: every gap is relative to it. The byte share is
    relative to uncompressed FedAvg; when that row is skipped, to the first federated row's
    updates uncompressed.
    """
    data = [trace(n) for n in traces]
    uncompressed = replace(fed, topk=1.0, bits=None, error_feedback=False)
    every = {
        "local": ("local only", "local", fed),
        "centralized": ("centralized", "centralized", fed),
        "uncompressed": ("FedAvg uncompressed", "federated", uncompressed),
        "compressed": ("FedAvg top-10% 8-bit EF", "federated", fed),
        "head": ("same, head kept local", "federated", replace(fed, personal=("head",))),
    }
    runs = {label: (kind, fc) for key, (label, kind, fc) in every.items() if key in rows}
    runs.setdefault("centralized", ("centralized", fed))
    for v in variants:
        label, _, settings = v.partition(":")
        runs[label] = ("federated", replace(fed, **_parse_settings(settings)))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {
            label: pool.submit(_train_and_score, kind, data, cfg, fc)
            for label, (kind, fc) in runs.items()
        }
        results = {label: f.result() for label, f in futures.items()}
    central = results["centralized"][0]
    if "FedAvg uncompressed" in results:
        dense_up = results["FedAvg uncompressed"][1] or 1.0
    else:  # the default's own updates uncompressed
        dense_up = results[next(k for k, (kind, _) in runs.items() if kind == "federated")][5]
        console.print("FedAvg uncompressed not run: 'vs FedAvg' from the first federated row")
    table = Table(
        title=f"{len(traces)} sites, final week of each held out; {fed.rounds} rounds, "
        f"{fed.local_steps} local steps, participation {fed.participation}, "
        f"stragglers {fed.straggler_prob:.0%}"
    )
    cols = ("training", "mean MASE", "vs centralized", "median site gap", "worst site gap")
    for col in (*cols, "uplink B/round", "vs FedAvg", "s", "val loss (model @ round)"):
        table.add_column(col, justify="left" if col == "training" else "right")
    for label, (m, up, _down, wall, chosen, _dense) in results.items():
        gap = m / central - 1
        worst = int(np.argmax(gap))
        table.add_row(
            label,
            f"{m.mean():.3f}",
            f"{m.mean() / central.mean() - 1:+.1%}",
            f"{np.median(gap):+.1%}",
            f"{gap[worst]:+.1%} ({traces[worst]})",
            "-" if up is None else f"{up:,.0f}",
            "-" if up is None else f"{up / dense_up:.1%}",
            f"{wall:.0f}",
            chosen,
        )
    console.print(table)
    per_site = Table(title="MASE per site (gap to centralized)")
    per_site.add_column("site")
    for label in results:
        per_site.add_column(label, justify="right")
    for i, name in enumerate(traces):
        cells = [
            f"{results[k][0][i]:.3f} ({results[k][0][i] / central[i] - 1:+.1%})" for k in results
        ]
        per_site.add_row(name, *cells)
    console.print(per_site)
    for label in ("FedAvg uncompressed", "same, head kept local"):
        if label in results:
            console.print(f"downlink of {label}: {results[label][2]:,.0f} B/round")


def timing(name: str, cfg: TCNConfig) -> None:
    y, step, start = trace(name)
    table = Table(title=f"TCN training on {name} ({start} steps before the final week)")
    for col in ("threads", "train s", "epochs", "same seed, identical forecasts"):
        table.add_column(col, justify="right")
    for threads in (1, 2):
        a = TCNForecaster(step, cfg, threads=threads).fit(y[:start])
        b = TCNForecaster(step, cfg, threads=threads).fit(y[:start])
        origins = np.arange(start, len(y) - HORIZON + 1)
        same = np.array_equal(
            a.predict_origins(y, origins, HORIZON)[0], b.predict_origins(y, origins, HORIZON)[0]
        )
        table.add_row(str(threads), f"{a.fit_s:.1f}", str(a.info["epochs"]), str(same))
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traces", nargs="+", default=names(), metavar="NAME")
    parser.add_argument("--quick", action="store_true", help="three traces, no federated part")
    parser.add_argument("--rounds", type=int, default=FedConfig().rounds)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--jobs", type=int, default=1, help="trainings of the federated part run in parallel"
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("heldout", "timing", "federated"),
        default=["heldout", "timing", "federated"],
        help="which tables to measure (default: all)",
    )
    parser.add_argument(
        "--rows",
        nargs="+",
        choices=ROWS,
        default=list(ROWS),
        help="federated table: which of the standard rows to train (centralized always is)",
    )
    parser.add_argument(
        "--set",
        default="",
        metavar="FIELD=VALUE,...",
        help="federated table: FedConfig fields of the default, e.g. ema=0.9,eval_every=5",
    )
    parser.add_argument(
        "--variant",
        nargs="*",
        default=[],
        metavar="LABEL:FIELD=VALUE,...",
        help="federated table: extra rows, the default with these FedConfig fields changed",
    )
    args = parser.parse_args()
    traces = (
        ["nyc_taxi", "Twitter_volume_AAPL", "elb_request_count_8c0756"]
        if args.quick
        else (args.traces)
    )
    load1 = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "-"
    console.print(f"cpus {os.cpu_count()}, load average at start {load1}, torch {version('torch')}")
    cfg = TCNConfig(horizon=HORIZON, seed=args.seed)
    if "heldout" in args.parts:
        held_out_table(traces, cfg)
    if "timing" in args.parts:
        timing("Twitter_volume_AAPL", cfg)
    if "federated" in args.parts and not args.quick:
        fed = FedConfig(rounds=args.rounds, seed=args.seed, **_parse_settings(args.set))
        federated_table(traces, cfg, fed, args.jobs, args.rows, args.variant)


if __name__ == "__main__":
    main()
