"""The MPC controller of the continuum plant: forecast, solve, shield.

At the start of every period the controller forecasts each demand's rate over the horizon
from what it has observed (the plant's measured rates, after a warm-up history of the day(s)
before the run), sets the parameters of its :class:`~edgebound.mpc.MPCProblem` (built once
per run), re-solves it and hands the plan's first period to the
:func:`~edgebound.mpc.shield.shield`, whose integer action it returns.

Forecast sources: ``"oracle"`` (the true rates of the run: an ablation, not a controller one
could deploy), ``"seasonal"`` (seasonal naive, one day back) and ``"tcn"`` (the quantile TCN of
:mod:`edgebound.forecast.tcn`, needs torch, trained on the warm-up history).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgebound.forecast import Forecaster, Oracle, SeasonalNaive, daily_season
from edgebound.instances import Instance, TraceProfile
from edgebound.instances.traces import load_trace, resample, shape
from edgebound.mpc._layout import MPCError
from edgebound.mpc.model import MPCConfig, MPCProblem
from edgebound.mpc.shield import shield
from edgebound.sim.continuum import PlantAction, PlantObservation, demand_matrix

__all__ = ["FORECASTS", "MPCController", "warmup_history"]

_TCN_CACHE: dict[tuple[float, str, bytes], Forecaster] = {}

FORECASTS = ("oracle", "seasonal", "tcn")
"""Forecast sources of :class:`MPCController`."""


def warmup_history(instance: Instance, steps: int) -> np.ndarray:
    """Rates of each demand over the ``steps`` periods before the run: array (demands, steps).

    A trace-shaped demand reads its trace before its ``start`` (wrapping around the trace's
    beginning); a generated demand repeats its first ``steps`` periods (its cycle is
    daily); a constant demand is constant. This is the history a deployed controller would
    have logged before the run starts.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> warmup_history(load("continuum-3edge-2cloud"), 288).shape
    (18, 288)
    """
    step = instance.workload.step_s
    rows = []
    for dem in instance.workload.demands:
        prof = dem.profile
        if prof is None:
            rows.append(np.full(steps, dem.rate_rps))
        elif isinstance(prof, TraceProfile):
            t, v = load_trace(prof.trace)
            series = resample(t, v, step)
            start = min(prof.start * len(series) // len(v), len(series) - 1)
            idx = (start - steps + np.arange(steps)) % len(series)
            rows.append(dem.rate_rps * series[idx] / float(series.mean()))
        else:
            rows.append(dem.rate_rps * shape(prof, step, steps))
    return np.vstack(rows).reshape(len(rows), steps)


class MPCController:
    """Receding-horizon MPC with a safety shield (satisfies the plant's ``Controller``).

    Parameters
    ----------
    forecast : {"seasonal", "oracle", "tcn"}
        Where the demand forecasts come from.
    config : MPCConfig, optional
    demand : ndarray, shape (demands, T), optional
        The run's true rates, for ``forecast="oracle"`` (default: the instance's demand
        series, which is what the plant runs on by default).
    warmup_days : int
        Days of history before the run that the forecasters are fitted on.
    tcn_options : dict, optional
        Fields of :class:`~edgebound.forecast.tcn.TCNConfig` for ``forecast="tcn"``.

    Attributes
    ----------
    name : str
        ``"mpc-<forecast>"``.
    timings : list of dict
        Per step: ``forecast_s``, ``solve_s`` (CVXPY wall time), ``solver_s`` (the solver's
        own), ``shield_s`` and ``status``.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> from edgebound.sim.continuum import run
    >>> ctrl = MPCController("seasonal", MPCConfig(horizon=3))
    >>> res = run(load("continuum-3edge-2cloud"), ctrl, periods=2)
    >>> res.controller, res.summary["power_cap_violations"], res.summary["migration_cap_violations"]
    ('mpc-seasonal', 0.0, 0.0)
    """

    def __init__(
        self,
        forecast: str = "seasonal",
        config: MPCConfig | None = None,
        *,
        demand: np.ndarray | None = None,
        warmup_days: int = 7,
        tcn_options: dict[str, Any] | None = None,
    ) -> None:
        if forecast not in FORECASTS:
            raise MPCError(f"forecast: {forecast!r} must be one of {', '.join(FORECASTS)}")
        if int(warmup_days) != warmup_days or warmup_days < 2:
            raise MPCError(f"warmup_days: {warmup_days!r} must be an integer >= 2")
        self.forecast = forecast
        self.config = config or MPCConfig()
        self.name = f"mpc-{forecast}"
        self.warmup_days = int(warmup_days)
        self.tcn_options = dict(tcn_options or {})
        self._true = None if demand is None else np.asarray(demand, dtype=float)
        self._problem: MPCProblem | None = None
        self._cache_key: tuple[int, int] | None = None
        self.timings: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ protocol

    def reset(self, instance: Instance, rng: np.random.Generator) -> None:
        """Build the problem (once per instance) and fit the forecasters on the warm-up."""
        key = (id(instance), self.config.horizon)
        if self._problem is None or self._cache_key != key:
            self._problem = MPCProblem(instance, self.config)
            self._cache_key = key
        self.instance = instance
        step = instance.workload.step_s
        self._warm = warmup_history(instance, self.warmup_days * daily_season(step))
        self._forecasters = self._make_forecasters(instance)
        self.timings = []

    def _make_forecasters(self, instance: Instance) -> list[Forecaster]:
        step = instance.workload.step_s
        H = self.config.horizon
        if self.forecast == "oracle":
            true = self._true
            if true is None:
                from edgebound.instances.traces import demand_series

                true = demand_series(instance)
            # the oracle knows the horizon's rates, even beyond the run's last period
            tail = np.repeat(true[:, -1:], H, axis=1)
            full = np.hstack([self._warm, true, tail])
            return [Oracle(row) for row in full]
        if self.forecast == "seasonal":
            return [SeasonalNaive(step_s=step, interval_horizon=H).fit(row) for row in self._warm]
        from edgebound.forecast.tcn import TCNForecaster

        opts = {"horizon": H, **self.tcn_options}
        out: list[Forecaster] = []
        for row in self._warm:
            if float(row.std()) <= 1e-12 * max(1.0, float(row.mean())):
                # a constant demand has nothing to learn
                out.append(SeasonalNaive(step_s=step, interval_horizon=H).fit(row))
                continue
            # demands that share a trace shape share a model (the TCN scales each series),
            # and every controller of a comparison reuses the models fitted on the warm-up
            key = (step, repr(sorted(opts.items())), row.tobytes())
            if key not in _TCN_CACHE:
                _TCN_CACHE[key] = TCNForecaster(step_s=step, **opts).fit(row)
            out.append(_TCN_CACHE[key])
        return out

    def _forecast(self, obs: PlantObservation) -> tuple[np.ndarray, np.ndarray]:
        """Planning demand and point forecast of the next period, per demand row.

        Returns ``(plan, point)``: ``plan`` (demands, H) is what the problem sizes for (a high
        quantile, or the point forecast plus headroom); ``point`` (demands,) the expected rate
        of the period that starts now, against which the shield sets admission.
        """
        inst = self.instance
        cfg = self.config
        H = cfg.horizon
        hist = _rows(inst, obs.demand_history)
        full = np.hstack([self._warm, hist])
        out = np.empty((len(full), H))
        point = np.empty(len(full))
        for k, (f, y) in enumerate(zip(self._forecasters, full, strict=True)):
            p = np.maximum(f.predict(y, H), 0.0)
            point[k] = p[0]
            if isinstance(f, Oracle):  # exact rates: the headroom is for arrival noise only
                out[k] = p * (1.0 + cfg.headroom)
                continue
            try:
                out[k] = f.predict_quantiles(y, H, [cfg.headroom_quantile])[0]  # type: ignore[attr-defined]
            except (AttributeError, ValueError):  # no intervals: point plus headroom
                out[k] = p * (1.0 + cfg.headroom)
        out = np.maximum(out, 0.0)
        if self.forecast != "oracle" and cfg.clip_factor is not None:
            # A forecast far above anything seen lately (seasonal naive replaying yesterday's
            # spike) would size the plan for demand that does not come; the last period is a
            # strong predictor of the next at a 5-minute cadence.
            recent = full[:, -3:].max(axis=1)
            out = np.minimum(out, (cfg.clip_factor * recent)[:, None])
            point = np.minimum(point, cfg.clip_factor * recent)
            out[:, 0] = np.maximum(out[:, 0], full[:, -1] * (1.0 + cfg.headroom))
            # admission is a share of the demand: set it against the lower of the forecast
            # and the last measured rate, so that an overshooting forecast does not turn
            # away requests the capacity could serve
            point = np.minimum(point, full[:, -1])
        return out, np.minimum(point, out[:, 0])

    def act(self, obs: PlantObservation) -> PlantAction:
        """Forecast, re-solve the MPC problem and shield its first period."""
        mpc = self._problem
        if mpc is None:
            raise MPCError("act: call reset(instance, rng) first")
        t0 = time.perf_counter()
        rows, point = self._forecast(obs)
        demand = demand_matrix(self.instance, rows)  # (S, I, H)
        expected = demand_matrix(self.instance, point[:, None])[:, :, 0]
        t1 = time.perf_counter()
        held = np.asarray(obs.replicas) + np.asarray(obs.pending)
        prev = None
        if obs.prev_action is not None:
            prev = np.asarray(obs.prev_action.routing) * demand[:, :, :1]
        plan = mpc.solve(demand, held, prev)
        t2 = time.perf_counter()
        out = shield(
            mpc.layout,
            mpc.pools,
            plan.replicas[:, :, 0],
            plan.routing[:, :, :, 0],
            demand[:, :, 0],
            held,
            expected=expected,
        )
        t3 = time.perf_counter()
        self.timings.append(
            {
                "forecast_s": t1 - t0,
                "solve_s": plan.wall_s,
                "solver_s": plan.solver_s,
                "shield_s": t3 - t2,
                "status": plan.status,
            }
        )
        return out.action


def _rows(inst: Instance, hist: np.ndarray) -> np.ndarray:
    """The plant's (S, I, t) observed history as one row per demand: (demands, t)."""
    from edgebound.evaluate.placement import _data

    d = _data(inst)
    s_idx = {s: k for k, s in enumerate(d.services)}
    o_idx = {o: k for k, o in enumerate(d.origins)}
    master = inst.topology.master
    h = np.asarray(hist, dtype=float)
    out = np.zeros((len(inst.workload.demands), h.shape[2]))
    for row, dem in enumerate(inst.workload.demands):
        origin = dem.site if dem.site is not None else master
        if dem.service in s_idx and origin in o_idx:
            out[row] = h[s_idx[dem.service], o_idx[origin]]
    return out
