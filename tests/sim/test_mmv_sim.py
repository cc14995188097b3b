"""The versioning simulator: determinism, policies, queueing theory, the bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgebound.evaluate.queueing import mmc_mean_wait
from edgebound.instances import Instance, load
from edgebound.sim import (
    AlwaysUpdate,
    MMVSimulator,
    NeverUpdate,
    Observation,
    Policy,
    QLearningPolicy,
    RandomUpdate,
    SimulationError,
    make_policy,
    release_table,
    simulate,
    summarize,
)
from edgebound.sim.schedule import bound_check, run_schedule

STAR4 = load("gentzen-star4")
POLICIES = ("always", "never", "random", "qlearning")


def mmc_instance(rate_rps: float, mu: float = 1.0) -> Instance:
    return Instance.model_validate(
        {
            "name": "mmc",
            "topology": {"nodes": [{"name": "n", "cpu": 1000, "ram_gb": 1000}]},
            "services": [
                {
                    "name": "s",
                    "versions": [{"major": 0, "cpu": 1, "ram_gb": 1, "service_rate_rps": mu}],
                }
            ],
            "workload": {"demands": [{"service": "s", "rate_rps": rate_rps}]},
        }
    )


@pytest.mark.parametrize("name", POLICIES)
def test_same_seed_same_result(name: str) -> None:
    a = simulate(STAR4, make_policy(name), arrivals=3000, seed=7, load=0.5)
    b = simulate(STAR4, make_policy(name), arrivals=3000, seed=7, load=0.5)
    assert a.objectives == b.objectives
    assert a.counts == b.counts
    c = simulate(STAR4, make_policy(name), arrivals=3000, seed=8, load=0.5)
    assert c.objectives != a.objectives


@pytest.mark.parametrize("name", POLICIES)
def test_every_policy_satisfies_the_protocol(name: str) -> None:
    assert isinstance(make_policy(name), Policy)


def test_unknown_policy_is_named() -> None:
    with pytest.raises(ValueError, match="must be one of always"):
        make_policy("sometimes")


def test_policies_order_as_in_the_paper() -> None:
    res = {n: simulate(STAR4, make_policy(n), arrivals=20_000, seed=0, load=0.3) for n in POLICIES}
    for m in ("security", "reliability", "accuracy"):
        assert res["always"].objectives[m] == max(r.objectives[m] for r in res.values())
        assert res["never"].objectives[m] == min(r.objectives[m] for r in res.values())
    assert res["never"].objectives["delay"] == min(r.objectives["delay"] for r in res.values())
    assert (
        res["always"].counts["updates"]
        == res["always"].counts["decisions"] - (res["always"].counts["create_newest"])
    )
    assert res["never"].counts["updates"] == 0


def test_never_update_keeps_the_stable_scores() -> None:
    res = simulate(STAR4, NeverUpdate(), arrivals=5000, seed=1)
    stable = [STAR4.running_version(k) for k in STAR4.service_names]
    for k, v in zip(STAR4.service_names, stable, strict=True):
        assert res.services[k]["accuracy"] == pytest.approx(v.accuracy)
        assert res.services[k]["security"] == pytest.approx(v.security)


def test_delay_is_the_sum_of_its_parts() -> None:
    res = simulate(STAR4, AlwaysUpdate(), arrivals=5000, seed=2, load=0.6)
    assert sum(res.delay_parts_ms.values()) == pytest.approx(res.objectives["delay"])
    assert res.delay_parts_ms["spawn"] > 0
    assert res.delay_parts_ms["processing"] == pytest.approx(10.0, rel=0.05)


def test_load_sets_the_rates_of_eq_1() -> None:
    sim = MMVSimulator(STAR4, load=0.3, arrivals=10)
    assert sim.rates.sum() == pytest.approx(0.3 * 4 * 100.0)
    assert sim.load == pytest.approx(0.3)
    with pytest.raises(SimulationError, match="load"):
        MMVSimulator(STAR4, load=-1.0)


def test_release_table_is_monotone_and_prefix_stable() -> None:
    svc = STAR4.services[2]
    short, long = release_table(svc, 1500.0), release_table(svc, 3000.0)
    n = len(short)
    assert np.array_equal(long.release_s[:n], short.release_s)
    assert np.all(np.diff(long.release_s) >= 0)
    for name in ("accuracy", "security", "reliability"):
        col = getattr(long, name)
        assert np.all(np.diff(col) >= 0) and col.max() <= 1.0
    assert long.label(long.newest_at(1800.0)).startswith("3.")


def test_erlang_c_and_littles_law_short_run() -> None:
    lam, c = 2.0, 4
    res = simulate(
        mmc_instance(lam), NeverUpdate(), arrivals=200_000, seed=0, scaling=False, replicas=c
    )
    s = res.services["s"]
    assert s["mean_wait_s"] == pytest.approx(mmc_mean_wait(c, lam, 1.0), rel=0.08)
    assert s["mean_queue"] == pytest.approx(s["arrival_rps"] * s["mean_wait_s"], rel=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rho", "c", "arrivals", "seeds"),
    [(0.3, 2, 400_000, 8), (0.5, 2, 400_000, 8), (0.7, 2, 500_000, 8), (0.9, 2, 2_000_000, 8)],
)
def test_erlang_c_long_runs(rho: float, c: int, arrivals: int, seeds: int) -> None:
    lam = rho * c
    inst = mmc_instance(lam)
    waits, little = [], []
    for seed in range(seeds):
        res = simulate(
            inst, NeverUpdate(), arrivals=arrivals, seed=seed, scaling=False, replicas=c,
            warmup=0.01,
        )  # fmt: skip
        s = res.services["s"]
        waits.append(s["mean_wait_s"])
        little.append(s["mean_queue"] / (s["arrival_rps"] * s["mean_wait_s"]))
    assert np.mean(waits) == pytest.approx(mmc_mean_wait(c, lam, 1.0), rel=0.02)
    assert np.mean(little) == pytest.approx(1.0, rel=0.01)


def test_summary_uses_seeds_or_batches() -> None:
    runs = [simulate(STAR4, RandomUpdate(), arrivals=2000, seed=s) for s in range(3)]
    summ = summarize(runs)
    assert summ.method == "seeds" and summ.n == 3
    assert summ.mean["delay"] == pytest.approx(np.mean([r.objectives["delay"] for r in runs]))
    assert all(math.isfinite(h) for h in summ.halfwidth.values())


@pytest.mark.parametrize("name", POLICIES)
def test_run_and_the_decision_generator_give_the_same_run(name: str) -> None:
    # run() calls the policy itself and builds no observation for a policy with
    # observes = False; driving decisions() builds every observation
    a = simulate(STAR4, make_policy(name), arrivals=3000, seed=4, load=0.6)
    sim = MMVSimulator(STAR4, arrivals=3000, seed=4, load=0.6)
    pol = make_policy(name)
    pol.reset(sim.instance, sim.policy_rng)
    gen = sim.decisions()
    seen = 0
    try:
        obs = next(gen)
        while True:
            assert isinstance(obs, Observation) and obs.version != obs.newest
            seen += 1
            obs = gen.send(pol.act(obs))
    except StopIteration:
        pass
    b = sim.result(pol.name)
    assert seen == b.counts["decisions"] > 0
    assert a.objectives == b.objectives
    assert a.counts == b.counts
    assert np.array_equal(a.periods["replicas"], b.periods["replicas"])
    for m, v in a.batch_means.items():
        assert np.array_equal(v, b.batch_means[m])


def test_qlearning_learns_during_the_run() -> None:
    pol = QLearningPolicy()
    simulate(STAR4, pol, arrivals=5000, seed=0)
    assert len(pol.q) > 1
    assert any(q[0] != 0.0 or q[1] != 0.0 for q in pol.q.values())


@pytest.mark.parametrize("name", POLICIES)
def test_every_policy_is_within_the_clairvoyant_bound(name: str) -> None:
    res = simulate(STAR4, make_policy(name), arrivals=2000, seed=0, load=0.5, periods=2)
    check = bound_check(STAR4, res, time_limit=20)
    assert check["feasible"]
    assert check["admits"], check
    assert check["gap"] >= -1e-9


def test_schedule_follows_the_analytic_rules() -> None:
    res = simulate(STAR4, RandomUpdate(), arrivals=4000, seed=3, periods=3)
    inst, schedule = run_schedule(STAR4, res)
    periods = schedule["periods"]
    assert len(periods) == 3
    for k in inst.service_names:
        keys = [tuple(map(int, p["versions"][k].split("."))) for p in periods]
        assert keys == sorted(keys)
