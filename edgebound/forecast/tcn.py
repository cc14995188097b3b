"""A temporal convolutional network (TCN) forecaster of request rates, in torch.

The network reads the last ``window`` steps of the log1p-transformed, per-site standardized
series together with calendar features (time of day and day of week as sine/cosine pairs),
through residual blocks of dilated causal convolutions (Bai, Kolter and Koltun, 2018). A
direct multi-horizon head combines the last hidden state with what is known of the forecast
steps - their calendar features, the value one day earlier and the mean of up to seven
earlier days at the same time - and outputs every lead time and every quantile at once,
trained with the pinball loss. The median is the point forecast, outer quantiles give the
interval.

Training is deterministic: a seed fixes the initialization and the batch order, torch runs
with deterministic algorithms on a fixed number of threads, and the global torch state is
restored afterwards. The same seed and thread count give bit-identical forecasts.

Needs torch (``pip install 'edgebound[forecast]'``). The module imports without it; creating
a :class:`TCNForecaster` then raises :class:`~edgebound.forecast.TorchMissingError`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from edgebound.forecast.base import (
    DAY_S,
    ForecastError,
    TorchMissingError,
    _as_series,
    _check_horizon,
    _check_quantiles,
    daily_season,
)

if TYPE_CHECKING:
    import torch

__all__ = ["TCNConfig", "TCNForecaster"]

_WEEK_S = 7 * DAY_S
_LAG_DAYS = 7
_IN_CHANNELS = 5  # value + 4 calendar features
_FUTURE_FEATURES = 6  # value one day earlier, mean over earlier days, 4 calendar features


@dataclass(frozen=True)
class TCNConfig:
    """Architecture and training settings of the TCN.

    Attributes
    ----------
    horizon : int
        Lead times the head predicts (forecasts may ask for fewer).
    window : int
        Past steps the network reads.
    quantiles : tuple of float
        Quantile levels of the head; 0.5 is added when missing (the point forecast).
    channels, levels, kernel : int
        Width, number of residual blocks (dilations 1, 2, 4, ...) and kernel size.
    hidden : int
        Width of the head's hidden layer.
    epochs, patience : int
        Maximum epochs, and epochs without validation improvement before stopping.
    batch_size : int
        Training windows per step.
    lr : float
        Adam learning rate.
    val_fraction : float
        Latest share of the training windows held out for early stopping.
    seed : int
        Seed of initialization and batch order.
    threads : int
        torch threads while training and forecasting (the result depends on it).
    t0_s : float
        Seconds after a Monday midnight of the first sample; only its consistency matters.
    """

    horizon: int = 12
    window: int = 48
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    channels: int = 16
    levels: int = 4
    kernel: int = 3
    hidden: int = 128
    epochs: int = 20
    patience: int = 4
    batch_size: int = 256
    lr: float = 2e-3
    val_fraction: float = 0.1
    seed: int = 0
    threads: int = 1
    t0_s: float = 0.0

    def __post_init__(self) -> None:
        q = tuple(sorted({*(float(x) for x in self.quantiles), 0.5}))
        _check_quantiles(q)
        object.__setattr__(self, "quantiles", q)
        for name in ("horizon", "window", "channels", "levels", "kernel", "hidden", "epochs"):
            if getattr(self, name) < 1:
                raise ForecastError(f"{name}: {getattr(self, name)} must be >= 1")
        if self.threads < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ForecastError("threads and batch_size must be >= 1 and lr > 0")
        if not 0 <= self.val_fraction < 1:
            raise ForecastError(f"val_fraction: {self.val_fraction} must be in [0, 1)")


@contextmanager
def _torch_state(seed: int, threads: int) -> Iterator[None]:
    """Seeded, deterministic, fixed-thread torch; the caller's global state comes back after."""
    torch = _torch()
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic_before)
            torch.set_num_threads(threads_before)


def _torch() -> Any:
    """The torch module, or an error that says how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise TorchMissingError() from exc
    return torch


@cache
def _net_class() -> Any:
    """The network class, defined on first use so that the module imports without torch."""
    torch = _torch()
    nn = torch.nn

    class _Block(nn.Module):  # type: ignore[name-defined]
        def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int) -> None:
            super().__init__()
            self.pad = (kernel - 1) * dilation
            self.conv1 = nn.Conv1d(c_in, c_out, kernel, dilation=dilation)
            self.conv2 = nn.Conv1d(c_out, c_out, kernel, dilation=dilation)
            self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

        def forward(self, x: Any) -> Any:
            # left padding only: position t never sees t + 1 (causal)
            h = torch.relu(self.conv1(nn.functional.pad(x, (self.pad, 0))))
            h = torch.relu(self.conv2(nn.functional.pad(h, (self.pad, 0))))
            return torch.relu(h + self.skip(x))

    class _Net(nn.Module):  # type: ignore[name-defined]
        def __init__(self, cfg: TCNConfig) -> None:
            super().__init__()
            blocks: list[Any] = []
            c = _IN_CHANNELS
            for i in range(cfg.levels):
                blocks.append(_Block(c, cfg.channels, cfg.kernel, 2**i))
                c = cfg.channels
            self.trunk = nn.Sequential(*blocks)
            self.nq, self.horizon = len(cfg.quantiles), cfg.horizon
            self.head = nn.Sequential(
                nn.Linear(cfg.channels + _FUTURE_FEATURES * cfg.horizon, cfg.hidden),
                nn.ReLU(),
                nn.Linear(cfg.hidden, self.nq * cfg.horizon),
            )

        def forward(self, x: Any, future: Any) -> Any:
            h = self.trunk(x)[:, :, -1]
            out = self.head(torch.cat([h, future.flatten(1)], dim=1))
            # predictions are offsets from the multi-day seasonal mean, a strong start for training
            base = future[:, :, 1].unsqueeze(1)
            return out.view(-1, self.nq, self.horizon) + base

    return _Net


def _new_net(cfg: TCNConfig) -> Any:
    return _net_class()(cfg)


def _pinball(pred: torch.Tensor, target: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Mean pinball loss; ``pred`` (batch, quantiles, horizon), ``target`` (batch, horizon)."""
    torch = _torch()
    err = target.unsqueeze(1) - pred
    return torch.mean(torch.maximum(q.view(1, -1, 1) * err, (q.view(1, -1, 1) - 1) * err))


@dataclass(frozen=True)
class _Site:
    """One series' scaling and calendar; builds the network's inputs at any origins."""

    step_s: float
    mu: float
    sd: float
    cfg: TCNConfig
    season: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "season", daily_season(self.step_s))

    @classmethod
    def of(cls, series: np.ndarray, step_s: float, cfg: TCNConfig) -> _Site:
        logs = np.log1p(series)
        return cls(step_s, float(logs.mean()), float(max(logs.std(), 1e-3)), cfg)

    @property
    def min_history(self) -> int:
        return max(self.cfg.window, self.season)

    def scale(self, series: np.ndarray) -> np.ndarray:
        return (np.log1p(series) - self.mu) / self.sd

    def unscale(self, z: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.maximum(np.expm1(z * self.sd + self.mu), 0.0)
        return out

    def calendar(self, idx: np.ndarray) -> np.ndarray:
        t = self.cfg.t0_s + idx * self.step_s
        day = 2 * np.pi * (t % DAY_S) / DAY_S
        week = 2 * np.pi * (t % _WEEK_S) / _WEEK_S
        return np.stack([np.sin(day), np.cos(day), np.sin(week), np.cos(week)], axis=-1)

    def inputs(self, z: np.ndarray, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window ``(n, 5, window)`` and future features ``(n, horizon, 6)`` at each origin.

        ``z`` may be longer than an origin: only ``z[:origin]`` is read for that origin.
        """
        w, h, m = self.cfg.window, self.cfg.horizon, self.season
        past = origins[:, None] + np.arange(-w, 0)[None, :]
        x = np.concatenate([z[past][..., None], self.calendar(past)], axis=-1)
        lead = np.arange(h)
        steps = origins[:, None] + lead[None, :]
        lag1 = steps - m * (lead // m + 1)[None, :]
        lags = lag1[..., None] - m * np.arange(_LAG_DAYS)[None, None, :]
        ok = lags >= 0
        vals = np.where(ok, z[np.maximum(lags, 0)], 0.0)
        mean = vals.sum(-1) / ok.sum(-1)
        fut = np.concatenate([z[lag1][..., None], mean[..., None], self.calendar(steps)], axis=-1)
        return x.transpose(0, 2, 1).astype(np.float32), fut.astype(np.float32)

    def dataset(self, series: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every training window of ``series``: inputs, future features, targets."""
        torch = _torch()
        z = self.scale(series)
        h = self.cfg.horizon
        origins = np.arange(self.min_history, len(z) - h + 1)
        if len(origins) < 2:
            raise ForecastError(
                f"series: {len(z)} samples; the TCN needs more than "
                f"{self.min_history + h} (one day or the window, plus the horizon)"
            )
        x, fut = self.inputs(z, origins)
        tgt = z[origins[:, None] + np.arange(h)[None, :]].astype(np.float32)
        return torch.from_numpy(x), torch.from_numpy(fut), torch.from_numpy(tgt)


_Data = tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]


def _split(data: _Data, val_fraction: float) -> tuple[_Data, _Data]:
    """Training and validation windows; validation windows are the latest ones."""
    n = len(data[0])
    n_train = n - round(n * val_fraction)
    if n_train < 1 or n_train == n:
        return data, data
    return (
        tuple(t[:n_train] for t in data),  # type: ignore[return-value]
        tuple(t[n_train:] for t in data),
    )


def _cat(parts: Sequence[_Data]) -> _Data:
    torch = _torch()
    return (
        torch.cat([p[0] for p in parts]),
        torch.cat([p[1] for p in parts]),
        torch.cat([p[2] for p in parts]),
    )


def _train(net: Any, train: _Data, val: _Data, cfg: TCNConfig) -> dict[str, Any]:
    """Adam on the pinball loss, early stopping on the validation windows; keeps the best."""
    torch = _torch()
    x, fut, tgt = train
    q = torch.tensor(cfg.quantiles, dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    best, best_state, stale = float("inf"), copy.deepcopy(net.state_dict()), 0
    history: list[float] = []
    for _ in range(cfg.epochs):
        net.train()
        for idx in torch.randperm(len(x), generator=gen).split(cfg.batch_size):
            opt.zero_grad()
            loss = _pinball(net(x[idx], fut[idx]), tgt[idx], q)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            val_loss = float(_pinball(net(val[0], val[1]), val[2], q))
        history.append(val_loss)
        if val_loss < best - 1e-5:
            best, best_state, stale = val_loss, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    net.load_state_dict(best_state)
    return {"epochs": len(history), "val_loss": best, "val_history": history}


class TCNForecaster:
    """Quantile TCN forecaster of one site's request rate (needs torch).

    Parameters
    ----------
    step_s : float
        Seconds per step of the series (the controller's step).
    config : TCNConfig, optional
        Architecture and training settings; keyword arguments override its fields.
    **overrides
        Fields of :class:`TCNConfig`, e.g. ``horizon=12, seed=1``.

    Attributes
    ----------
    fit_s : float
        Wall seconds of the last :meth:`fit`.
    info : dict
        Epochs run and validation losses of the last :meth:`fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from edgebound.forecast import TCNForecaster  # doctest: +SKIP
    >>> day = np.sin(np.linspace(0, 2 * np.pi, 24, endpoint=False))
    >>> y = 50 + 20 * np.tile(day, 20)
    >>> f = TCNForecaster(step_s=3600.0, horizon=6, window=24, epochs=3)  # doctest: +SKIP
    >>> f.fit(y).predict(y, 6).shape  # doctest: +SKIP
    (6,)
    """

    def __init__(self, step_s: float, config: TCNConfig | None = None, **overrides: Any) -> None:
        _torch()
        self.step_s = float(step_s)
        self.season = daily_season(self.step_s)
        self.config = replace(config or TCNConfig(), **overrides)
        self.fit_s = 0.0
        self.info: dict[str, Any] = {}
        self._net: Any = None
        self._site: _Site | None = None

    @classmethod
    def _from_net(cls, net: Any, site: _Site) -> TCNForecaster:
        """A forecaster around a network trained elsewhere (federated or pooled training)."""
        f = cls(site.step_s, site.cfg)
        f._net, f._site = net, site
        return f

    def fit(self, series: np.ndarray) -> TCNForecaster:
        """Train on ``series`` (non-negative rates at ``step_s``), from scratch."""
        y = _as_series(series, "series")
        if np.any(y < 0):
            raise ForecastError("series: request rates must be >= 0")
        cfg = self.config
        tic = time.perf_counter()
        with _torch_state(cfg.seed, cfg.threads):
            site = _Site.of(y, self.step_s, cfg)
            net = _new_net(cfg)
            self.info = _train(net, *_split(site.dataset(y), cfg.val_fraction), cfg)
        self._net, self._site = net, site
        self.fit_s = time.perf_counter() - tic
        return self

    def _fitted(self) -> tuple[Any, _Site]:
        if self._net is None or self._site is None:
            raise ForecastError("TCNForecaster: call fit() before predicting")
        return self._net, self._site

    def predict_origins(
        self,
        series: np.ndarray,
        origins: Sequence[int] | np.ndarray,
        horizon: int,
        quantiles: Sequence[float] = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Forecasts from many origins of one series at once.

        The forecast at origin ``t`` reads only ``series[:t]``. Quantile levels between the
        trained ones are interpolated; levels outside them raise.

        Returns
        -------
        point : numpy.ndarray
            ``(len(origins), horizon)``, the median.
        quantiles : numpy.ndarray
            ``(len(quantiles), len(origins), horizon)``.
        """
        torch = _torch()
        net, site = self._fitted()
        h = _check_horizon(horizon)
        if h > self.config.horizon:
            raise ForecastError(
                f"horizon: {h} exceeds the {self.config.horizon} steps the TCN was trained "
                "for; fit with a longer horizon"
            )
        trained = np.asarray(self.config.quantiles)
        q = _check_quantiles(quantiles) if len(quantiles) else np.empty(0)
        if len(q) and (q.min() < trained.min() - 1e-12 or q.max() > trained.max() + 1e-12):
            raise ForecastError(
                f"quantiles: {list(quantiles)} outside the trained levels {list(trained)}; "
                "fit with quantiles=... covering them"
            )
        y = _as_series(series, "series")
        o = np.asarray(origins, dtype=int)
        if len(o) and (o.min() < site.min_history or o.max() > len(y)):
            raise ForecastError(
                f"history: needs at least {site.min_history} samples (one day or the window)"
            )
        x, fut = site.inputs(site.scale(y), o)
        out = np.empty((len(trained), len(o), self.config.horizon), dtype=np.float32)
        with _torch_state(self.config.seed, self.config.threads), torch.no_grad():
            net.eval()
            for i in range(0, len(o), 2048):
                pred = net(torch.from_numpy(x[i : i + 2048]), torch.from_numpy(fut[i : i + 2048]))
                out[:, i : i + 2048] = pred.numpy().transpose(1, 0, 2)
        # the quantile outputs are separate and may cross; sorting restores their order
        zq = np.sort(out.astype(float), axis=0)[:, :, :h]
        point = site.unscale(zq[self.config.quantiles.index(0.5)])
        if not len(q):
            return point, np.empty((0, len(o), h))
        # interpolation on the log scale, which the quantiles were learned on
        pos = np.interp(q, trained, np.arange(len(trained)))
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, len(trained) - 1)
        w = (pos - lo)[:, None, None]
        return point, site.unscale((1 - w) * zq[lo] + w * zq[hi])

    def predict(self, history: np.ndarray, horizon: int) -> np.ndarray:
        """Point forecast (the median) of the ``horizon`` steps after ``history``."""
        y = _as_series(history, "history")
        return self.predict_origins(y, [len(y)], horizon)[0][0]

    def predict_quantiles(
        self, history: np.ndarray, horizon: int, quantiles: Sequence[float]
    ) -> np.ndarray:
        """Quantile forecasts ``(len(quantiles), horizon)`` of the steps after ``history``."""
        y = _as_series(history, "history")
        return self.predict_origins(y, [len(y)], horizon, quantiles)[1][:, 0]
