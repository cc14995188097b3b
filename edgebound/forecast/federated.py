"""Federated training of one TCN across sites, and the centralized and local-only baselines.

Each site holds one request-rate series and never shares it. Every round the server sends
the global model to a random 60-80 % of the idle sites; each runs a few Adam steps on its own
windows and sends back its model update, compressed: the largest 10 % of the entries by
magnitude (top-k) quantized to 8 bits, with the dropped and rounded-off remainder kept at the
site and added to its next update (error feedback). The server averages the updates weighted
by the sites' numbers of windows and moves the model by the average (FedAvg); optionally it
adds them to a momentum buffer first (FedAvg with server momentum). Every few rounds each
site reports the global model's loss on its own latest windows and the best model is kept,
as early stopping does in centralized training; optionally the server also keeps an
exponential or a uniform running average of its recent global models (no extra bytes), the
sites report its loss too, and the average is returned when it validates better. Some sites
are stragglers: their update arrives one or more rounds late, computed on an older model,
and is mixed in with its weight multiplied by ``staleness_decay`` per round of delay.
Options against client drift and noise: a FedProx proximal term in the local loss
(``prox``) and a cosine decay of the sites' learning rate over the rounds (``lr_final``);
neither sends more bytes.

Each site scales its series by its own log-mean and log-spread; the scale stays at the site,
so the shared network sees every site on the same footing.

Personalization (``FedConfig.personal``): the named layers, e.g. the forecasting head, are
kept at each site and trained there only; the sites send and receive the rest. Each site
forecasts with the shared layers and its own copy of the personal ones.

Bytes are counted as sent on the uplink: per update a 4-byte scale, one byte per kept value,
and the kept positions as a bitmap or as variable-length gaps, whichever is smaller. The
uncompressed reference is plain FedAvg of the whole model: every entry as a 4-byte float,
personal layers included. The broadcast of the global model is reported separately.

Needs torch (``pip install 'edgebound[forecast]'``); without it, training raises
:class:`~edgebound.forecast.TorchMissingError`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgebound.forecast.base import ForecastError
from edgebound.forecast.tcn import (
    TCNConfig,
    TCNForecaster,
    _cat,
    _Data,
    _new_net,
    _pinball,
    _Site,
    _split,
    _torch,
    _torch_state,
    _train,
)

__all__ = [
    "FedConfig",
    "FedResult",
    "compress",
    "train_centralized",
    "train_federated",
    "train_local",
]


@dataclass(frozen=True)
class FedConfig:
    """Settings of federated training.

    Attributes
    ----------
    rounds : int
        Communication rounds.
    participation : tuple of float
        Range of the share of sites asked each round (drawn uniformly per round).
    local_steps : int
        Adam steps of a site per round.
    client_lr : float
        Adam learning rate at the sites in the first round, the same as centralized
        training's (``TCNConfig.lr``); it decays to ``lr_final`` times itself. The continuum
        paper's 3e-4 converges too slowly in 120 rounds on the bundled traces (see the docs).
    server_lr, momentum : float
        Server step size and momentum: the model moves by ``server_lr`` times the momentum
        buffer, which adds the averaged update to ``momentum`` times itself. The defaults
        (1, 0) are plain FedAvg; with compressed updates, server momentum 0.9 at step 0.2
        converged more slowly on the bundled traces (see the docs), and at step 1 it made
        the global loss oscillate.
    topk : float
        Share of update entries sent; 1 sends all.
    bits : int or None
        Bits per sent value (uniform symmetric quantization); None sends 32-bit floats.
    error_feedback : bool
        Keep what compression dropped and add it to the next update.
    straggler_prob : float
        Chance that an asked site's update arrives late.
    max_delay : int
        Largest delay of a late update, in rounds (drawn uniformly from 1..max_delay).
    staleness_decay : float
        Weight factor per round of delay when a late update is mixed in.
    eval_every : int
        Every so many rounds (and after the last) each site reports the loss of the global
        model, and of the server's averages (``ema``, ``swa_rounds``), on its latest windows
        (``TCNConfig.val_fraction``, kept out of local training); the model with the lowest
        window-weighted loss is returned, as early stopping does in centralized training.
        0 returns the last global model.
    ema : float
        Decay of an exponential moving average of the global models kept by the server
        (updated after every round); each evaluation then scores the average as well, and the
        better of the two can be returned. 0 keeps no average. The default 0.9 (with
        ``lr_final`` 0.1) reached the lowest validation loss of the options screened (see
        the docs).
    swa_rounds : int
        Also keep the uniform average of the global models of the last ``swa_rounds`` rounds
        (from round ``rounds - swa_rounds`` on; stochastic weight averaging on the server),
        scored at each evaluation from then on like the moving average. 0 keeps none.
    lr_final : float
        The sites' learning rate at the last round as a share of ``client_lr``; it decays
        along a half cosine. 1 keeps it constant (the previous default).
    prox : float
        FedProx weight mu: each local step adds ``mu / 2`` times the squared distance of
        the shared entries from the global model they started from to the site's loss.
        0 is plain FedAvg.
    personal : tuple of str
        Names of layers kept at the sites (prefixes of the network's parameter names:
        ``"head"`` is the whole head, ``"head.2"`` its output layer, ``"trunk.3"`` the last
        residual block). Empty shares everything.
    seed : int
        Seed of participation, delays and local batch order.
    """

    rounds: int = 120
    participation: tuple[float, float] = (0.6, 0.8)
    local_steps: int = 20
    client_lr: float = 2e-3
    server_lr: float = 1.0
    momentum: float = 0.0
    topk: float = 0.1
    bits: int | None = 8
    error_feedback: bool = True
    straggler_prob: float = 0.2
    max_delay: int = 2
    staleness_decay: float = 0.5
    eval_every: int = 10
    ema: float = 0.9
    swa_rounds: int = 0
    lr_final: float = 0.1
    prox: float = 0.0
    personal: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        lo, hi = self.participation
        if not 0 < lo <= hi <= 1:
            raise ForecastError(f"participation: {self.participation} must be 0 < lo <= hi <= 1")
        if not 0 < self.topk <= 1:
            raise ForecastError(f"topk: {self.topk} must be in (0, 1]")
        if self.bits is not None and not 2 <= self.bits <= 16:
            raise ForecastError(f"bits: {self.bits} must be in 2..16, or None")
        if not 0 <= self.straggler_prob < 1 or self.max_delay < 1:
            raise ForecastError("straggler_prob must be in [0, 1) and max_delay >= 1")
        if not 0 <= self.ema < 1:
            raise ForecastError(f"ema: {self.ema} must be in [0, 1)")
        if not 0 <= self.swa_rounds <= self.rounds:
            raise ForecastError(f"swa_rounds: {self.swa_rounds} must be in 0..rounds")
        if not 0 < self.lr_final <= 1:
            raise ForecastError(f"lr_final: {self.lr_final} must be in (0, 1]")
        if self.prox < 0 or self.eval_every < 0:
            raise ForecastError("prox and eval_every must be >= 0")


@dataclass(frozen=True)
class FedResult:
    """Outcome of federated training.

    Attributes
    ----------
    forecasters : list of TCNForecaster
        One per site: the global network with that site's own scaling.
    uplink_bytes : numpy.ndarray
        Bytes the sites sent in each round (updates counted when sent).
    dense_bytes : numpy.ndarray
        What the same updates weigh uncompressed (4 bytes per entry).
    downlink_bytes : numpy.ndarray
        Bytes of the global model broadcast to the asked sites in each round.
    params : int
        Entries of the model.
    participants : numpy.ndarray
        Sites asked in each round.
    wall_s : float
        Wall seconds of the training.
    """

    forecasters: list[TCNForecaster]
    uplink_bytes: np.ndarray
    dense_bytes: np.ndarray
    downlink_bytes: np.ndarray
    params: int
    participants: np.ndarray
    wall_s: float
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def bytes_ratio(self) -> float:
        """Uplink bytes over those of the same updates uncompressed."""
        return float(self.uplink_bytes.sum() / max(self.dense_bytes.sum(), 1))


def _varint_bytes(gaps: np.ndarray) -> int:
    """Bytes of unsigned LEB128 varints of ``gaps`` (7 payload bits per byte)."""
    bits = np.floor(np.log2(np.maximum(gaps, 1))).astype(int) + 1
    return int(np.sum((bits + 6) // 7))


def compress(update: np.ndarray, topk: float = 0.1, bits: int | None = 8) -> tuple[np.ndarray, int]:
    """Top-k sparsify and quantize an update; return what the server decodes, and its bytes.

    Parameters
    ----------
    update : numpy.ndarray
        Flat float update.
    topk : float
        Share of entries kept (largest magnitudes).
    bits : int or None
        Bits per kept value (symmetric uniform quantization with one float scale); None
        keeps 32-bit floats.

    Returns
    -------
    decoded : numpy.ndarray
        The update as the server sees it (zeros where dropped).
    nbytes : int
        Encoded size: scale, values, and positions (bitmap or varint gaps, the smaller).

    Examples
    --------
    >>> u = np.array([0.1, -2.0, 0.0, 1.0, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0])
    >>> dec, nbytes = compress(u, topk=0.2, bits=8)
    >>> [round(float(x), 2) for x in dec], nbytes
    ([0.0, -2.0, 0.0, 1.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 8)
    """
    u = np.asarray(update, dtype=np.float32).ravel()
    n = len(u)
    k = n if topk >= 1 else max(1, int(np.ceil(topk * n)))
    if k >= n:
        idx = np.arange(n)
    else:
        idx = np.sort(np.argpartition(-np.abs(u), k - 1, kind="introselect")[:k])
    vals = u[idx]
    if bits is None:
        sent, value_bytes = vals, 4 * k
    else:
        levels = 2 ** (bits - 1) - 1
        scale = float(np.max(np.abs(vals))) / levels if k else 0.0
        sent = (np.round(vals / scale) * scale).astype(np.float32) if scale > 0 else vals * 0
        value_bytes = 4 + int(np.ceil(k * bits / 8))
    decoded = np.zeros_like(u)
    decoded[idx] = sent
    if k >= n:
        return decoded, value_bytes
    positions = min(int(np.ceil(n / 8)), _varint_bytes(np.diff(idx, prepend=-1)))
    return decoded, value_bytes + positions


def _flat(net: Any) -> np.ndarray:
    torch = _torch()
    return torch.nn.utils.parameters_to_vector(net.parameters()).detach().numpy().copy()


def _load(net: Any, flat: np.ndarray) -> None:
    torch = _torch()
    torch.nn.utils.vector_to_parameters(torch.from_numpy(flat.astype(np.float32)), net.parameters())


def _sites(sites: Sequence[tuple[np.ndarray, float]], cfg: TCNConfig) -> list[tuple[_Site, _Data]]:
    if not sites:
        raise ForecastError("sites: give at least one (series, step_s) pair")
    out = []
    for i, (series, step_s) in enumerate(sites):
        y = np.asarray(series, dtype=float)
        if y.ndim != 1 or np.any(y < 0) or not np.all(np.isfinite(y)):
            raise ForecastError(f"sites[{i}]: series must be 1-D, finite and >= 0")
        site = _Site.of(y, float(step_s), cfg)
        out.append((site, site.dataset(y)))
    return out


def _shared_mask(net: Any, personal: Sequence[str]) -> np.ndarray:
    """True for the entries of the flat parameter vector that the sites share."""
    names = [name for name, _ in net.named_parameters()]
    for prefix in personal:
        if not any(n == prefix or n.startswith(prefix + ".") for n in names):
            layers = sorted({n.rsplit(".", 1)[0] for n in names})
            raise ForecastError(f"personal: {prefix!r} names no layer; choose from {layers}")
    mask = np.concatenate(
        [
            np.full(p.numel(), not any(n == x or n.startswith(x + ".") for x in personal))
            for n, p in net.named_parameters()
        ]
    )
    if not mask.any():
        raise ForecastError(f"personal: {list(personal)} keeps every layer local; share some")
    return mask


@dataclass
class _Client:
    site: _Site
    data: _Data
    val: _Data
    net: Any
    opt: Any
    gen: Any
    residual: np.ndarray
    own: np.ndarray  # the site's personal entries (empty without personalization)
    best_own: np.ndarray
    busy_until: int = -1


def _local_update(
    c: _Client,
    start: np.ndarray,
    steps: int,
    batch: int,
    q: Any,
    lr: float,
    prox: float = 0.0,
    mask: np.ndarray | None = None,
) -> float:
    """Adam steps from the global model; returns the global model's loss on the first batch.

    With ``prox`` > 0 each step adds the FedProx term ``prox / 2 * |w - start|^2`` over the
    entries where ``mask`` is true (the shared ones).
    """
    torch = _torch()
    _load(c.net, start)
    for group in c.opt.param_groups:
        group["lr"] = lr
    anchors: list[tuple[Any, Any, Any]] = []
    if prox > 0:
        shared = np.ones(len(start), bool) if mask is None else mask
        i = 0
        for p in c.net.parameters():
            n = p.numel()
            m = torch.from_numpy(shared[i : i + n].reshape(p.shape).astype(np.float32))
            anchors.append((p, p.detach().clone(), m))
            i += n
    c.net.train()
    x, fut, tgt = c.data
    first = float("nan")
    for step in range(steps):
        idx = torch.randint(len(x), (batch,), generator=c.gen)
        c.opt.zero_grad()
        loss = _pinball(c.net(x[idx], fut[idx]), tgt[idx], q)
        if step == 0:
            first = float(loss.detach())
        if anchors:
            loss = loss + prox / 2 * sum(((p - a) ** 2 * m).sum() for p, a, m in anchors)
        loss.backward()
        c.opt.step()
    return first


def _client_lr(fc: FedConfig, r: int) -> float:
    """The sites' learning rate in round ``r``: half-cosine from ``client_lr`` to its share."""
    if fc.lr_final >= 1 or fc.rounds <= 1:
        return fc.client_lr
    t = r / (fc.rounds - 1)
    return fc.client_lr * (fc.lr_final + (1 - fc.lr_final) * 0.5 * (1 + np.cos(np.pi * t)))


def _full(theta: np.ndarray, mask: np.ndarray, own: np.ndarray) -> np.ndarray:
    """A site's model: the shared entries of ``theta`` and the site's personal entries."""
    out = theta.copy()
    out[~mask] = own
    return out


def _validate(
    net: Any, theta: np.ndarray, mask: np.ndarray, clients: Sequence[_Client], q: Any
) -> float:
    """Window-weighted mean of the sites' losses of their models on their validation windows."""
    torch = _torch()
    net.eval()
    total = weight = 0.0
    with torch.no_grad():
        for c in clients:
            _load(net, _full(theta, mask, c.own))
            x, fut, tgt = c.val
            total += float(_pinball(net(x, fut), tgt, q)) * len(x)
            weight += len(x)
    return total / weight


def train_federated(
    sites: Sequence[tuple[np.ndarray, float]],
    config: TCNConfig | None = None,
    fed: FedConfig | None = None,
) -> FedResult:
    """Train one TCN across sites by compressed FedAvg.

    Parameters
    ----------
    sites : sequence of (series, step_s)
        Each site's training series (non-negative rates) and its step in seconds.
    config : TCNConfig, optional
        Network and seed (its ``lr``, ``epochs`` and ``patience`` are not used here).
    fed : FedConfig, optional
        Federated settings; ``FedConfig(topk=1, bits=None, error_feedback=False)`` sends
        uncompressed updates, ``FedConfig(ema=0, lr_final=1)`` is the previous default
        (constant learning rate, no averaging), ``FedConfig(personal=("head",))`` keeps the
        head at the sites.

    Returns
    -------
    FedResult
        Its ``info`` holds the validation losses (``val_history``: round, model, loss), the
        best loss and the model (``"global"``, ``"ema"`` or ``"swa"``) and round that
        reached it.

    Examples
    --------
    >>> import numpy as np
    >>> y = 50 + 20 * np.tile(np.sin(np.linspace(0, 6.28, 24, endpoint=False)), 8)
    >>> res = train_federated([(y, 3600.0), (2 * y, 3600.0)],  # doctest: +SKIP
    ...                       TCNConfig(horizon=4, window=24), FedConfig(rounds=2))
    >>> res.bytes_ratio < 0.1  # doctest: +SKIP
    True
    """
    torch = _torch()
    cfg, fc = config or TCNConfig(), fed or FedConfig()
    tic = time.perf_counter()
    rng = np.random.default_rng(fc.seed)
    q = torch.tensor(cfg.quantiles, dtype=torch.float32)
    with _torch_state(cfg.seed, cfg.threads):
        prepared = _sites(sites, cfg)
        server = _new_net(cfg)
        mask = _shared_mask(server, fc.personal)
        theta = _flat(server)
        clients = []
        for i, (site, windows) in enumerate(prepared):
            net = _new_net(cfg)
            data, val = _split(windows, cfg.val_fraction)
            clients.append(
                _Client(
                    site,
                    data,
                    val,
                    net,
                    torch.optim.Adam(net.parameters(), lr=fc.client_lr),
                    torch.Generator().manual_seed(cfg.seed * 7919 + i),
                    np.zeros(int(mask.sum()), dtype=np.float32),
                    theta[~mask].copy(),
                    theta[~mask].copy(),
                )
            )
        momentum = np.zeros(int(mask.sum()), dtype=np.float32)
        pending: dict[int, list[tuple[int, float, np.ndarray]]] = {}
        uplink, dense, down, asked = [], [], [], []
        round_loss: list[float] = []
        val_history: list[tuple[int, str, float]] = []
        best = (float("inf"), theta, "global", -1)
        ema = theta.copy() if fc.ema > 0 else None
        swa: np.ndarray | None = None
        swa_n = 0
        for r in range(fc.rounds):
            idle = [i for i, c in enumerate(clients) if c.busy_until < r]
            share = rng.uniform(*fc.participation)
            n_ask = min(len(idle), max(1, round(share * len(clients))))
            chosen = sorted(rng.choice(idle, size=n_ask, replace=False)) if idle else []
            sent = dense_sent = 0
            losses = []
            lr = _client_lr(fc, r)
            for i in chosen:
                c = clients[i]
                losses.append(
                    _local_update(
                        c,
                        _full(theta, mask, c.own),
                        fc.local_steps,
                        cfg.batch_size,
                        q,
                        lr,
                        fc.prox,
                        mask,
                    )
                )
                trained = _flat(c.net)
                c.own = trained[~mask]
                delta = trained[mask] - theta[mask]
                if fc.error_feedback:
                    delta = delta + c.residual
                decoded, nbytes = compress(delta, fc.topk, fc.bits)
                if fc.error_feedback:
                    c.residual = delta - decoded
                sent += nbytes
                dense_sent += 4 * len(theta)
                delay = (
                    int(rng.integers(1, fc.max_delay + 1))
                    if rng.random() < (fc.straggler_prob)
                    else 0
                )
                c.busy_until = r + delay
                pending.setdefault(r + delay, []).append((delay, float(len(c.data[0])), decoded))
            arrived = pending.pop(r, [])
            if arrived:
                weights = np.array([n * fc.staleness_decay**d for d, n, _ in arrived])
                agg = (
                    sum(w * u for w, (_, _, u) in zip(weights, arrived, strict=True))
                    / weights.sum()
                )
                momentum = fc.momentum * momentum + agg
                theta = theta.copy()
                theta[mask] = theta[mask] + fc.server_lr * momentum
                theta = theta.astype(np.float32)
            # server-side averages of the global models (the server has them; nothing is sent)
            if ema is not None:
                ema = (fc.ema * ema + (1 - fc.ema) * theta).astype(np.float32)
            if fc.swa_rounds and r >= fc.rounds - fc.swa_rounds:
                swa_n += 1
                swa = theta.copy() if swa is None else swa + (theta - swa) / swa_n
            round_loss.append(float(np.mean(losses)) if losses else float("nan"))
            if fc.eval_every and ((r + 1) % fc.eval_every == 0 or r + 1 == fc.rounds):
                candidates = {"global": theta, "ema": ema, "swa": swa}
                for name, cand in candidates.items():
                    if cand is None:
                        continue
                    loss = _validate(server, cand, mask, clients, q)
                    val_history.append((r + 1, name, loss))
                    # each site reports one float per scored model, with or without compression
                    sent += 4 * len(clients)
                    dense_sent += 4 * len(clients)
                    if loss < best[0]:
                        best = (loss, cand.copy(), name, r + 1)
                        # each site keeps its own copy of its personal layers; nothing is sent
                        for c in clients:
                            c.best_own = c.own.copy()
            uplink.append(sent)
            dense.append(dense_sent)
            down.append(4 * int(mask.sum()) * len(chosen))
            asked.append(len(chosen))
        final = best[1] if fc.eval_every else theta
        if mask.all():
            _load(server, final)
            nets = [server] * len(clients)
        else:
            nets = [c.net for c in clients]
            for c in clients:
                _load(c.net, _full(final, mask, c.best_own if fc.eval_every else c.own))
    forecasters = [
        TCNForecaster._from_net(net, site) for net, (site, _) in zip(nets, prepared, strict=True)
    ]
    return FedResult(
        forecasters=forecasters,
        uplink_bytes=np.array(uplink),
        dense_bytes=np.array(dense),
        downlink_bytes=np.array(down),
        params=len(theta),
        participants=np.array(asked),
        wall_s=time.perf_counter() - tic,
        info={
            "round_loss": round_loss,
            "best_val_loss": best[0],
            "best_model": best[2],
            "best_round": best[3],
            "val_history": val_history,
            "shared": int(mask.sum()),
        },
    )


def train_centralized(
    sites: Sequence[tuple[np.ndarray, float]], config: TCNConfig | None = None
) -> list[TCNForecaster]:
    """Train one TCN on all sites' windows pooled (the data leave the sites).

    Early stopping watches the latest windows of every site. Returns one forecaster per
    site: the shared network with the site's own scaling.

    Examples
    --------
    >>> import numpy as np
    >>> y = 50 + 20 * np.tile(np.sin(np.linspace(0, 6.28, 24, endpoint=False)), 8)
    >>> fs = train_centralized([(y, 3600.0), (2 * y, 3600.0)],  # doctest: +SKIP
    ...                        TCNConfig(horizon=4, window=24, epochs=2))
    >>> len(fs)  # doctest: +SKIP
    2
    """
    cfg = config or TCNConfig()
    with _torch_state(cfg.seed, cfg.threads):
        prepared = _sites(sites, cfg)
        splits = [_split(data, cfg.val_fraction) for _, data in prepared]
        net = _new_net(cfg)
        _train(net, _cat([s[0] for s in splits]), _cat([s[1] for s in splits]), cfg)
    return [TCNForecaster._from_net(net, site) for site, _ in prepared]


def train_local(
    sites: Sequence[tuple[np.ndarray, float]], config: TCNConfig | None = None
) -> list[TCNForecaster]:
    """Train one TCN per site on its own data only (nothing is sent).

    Examples
    --------
    >>> import numpy as np
    >>> y = 50 + 20 * np.tile(np.sin(np.linspace(0, 6.28, 24, endpoint=False)), 8)
    >>> fs = train_local([(y, 3600.0)], TCNConfig(horizon=4, window=24, epochs=2))  # doctest: +SKIP
    >>> len(fs)  # doctest: +SKIP
    1
    """
    cfg = config or TCNConfig()
    return [TCNForecaster(step_s, cfg).fit(series) for series, step_s in sites]
