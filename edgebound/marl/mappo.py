"""A reference CTDE learner: multi-agent PPO with a centralized critic and federated actors.

Every agent of :class:`~edgebound.envs.continuum_marl.ContinuumMARLEnv` acts from its own
observation with an actor network (decentralized execution); one critic sees the global state
during training only (centralized training). The actor is a small MLP with one categorical
head per action dimension, fed the agent's observation and, when there are at most
``id_features`` agents, a one-hot agent id.

Federated (``federated=True``)
    The clients of federated learning are the edge clusters (:attr:`AgentView.clusters`; in
    ``"node"`` granularity a client holds the actor of all its node agents). Every episode is
    one round: all agents act with the global actor, then the clients asked this round
    (:class:`~edgebound.marl.federated.FedAverager`: 60-80 % participation, top-k 10 % with
    8-bit quantization and error feedback, stragglers mixed in with staleness decay, server
    momentum 0.9) run PPO epochs on their own agents' experience from the global parameters
    and send the difference. Raw experience never leaves a cluster; only the critic, which
    needs the global state, is trained centrally.
Local (``federated=False``, the paper's "non-federated MARL" ablation)
    Each cluster keeps and trains its own actor on its own experience every episode; nothing
    is exchanged between clusters. Same critic, same budget.

PPO with the continuum paper's settings (§5.3): discount 0.985, GAE lambda 0.95, clip 0.2,
entropy bonus 0.01. Training episodes run on plant seeds ``train_seed + k``, so they never
share sampled arrivals with the evaluation seeds 0, 1, ... of the report. Needs torch
(``pip install 'edgebound[forecast]'``); without it :func:`train` raises
:class:`~edgebound.forecast.TorchMissingError`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edgebound.envs.continuum_marl import (
    AgentView,
    ContinuumMARLEnv,
    MARLError,
    MultiAgentController,
)
from edgebound.marl.federated import FedAverager, FedConfig

__all__ = ["MAPPOConfig", "MARLPolicy", "TrainResult", "train"]


def _torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - exercised without torch
        from edgebound.forecast.base import TorchMissingError

        raise TorchMissingError("the multi-agent learner") from None
    return torch


@dataclass(frozen=True)
class MAPPOConfig:
    """Settings of :func:`train`.

    Attributes
    ----------
    episodes : int
        Training episodes (each one federated round).
    federated : bool
        Federated actors across clusters, or each cluster's own (the ablation).
    fed : FedConfig
        Federated settings: :class:`~edgebound.forecast.federated.FedConfig` with server
        momentum 0.9 and server step 0.2 (the paper's momentum; a step of 0.5 was less steady
        on held-out seeds), otherwise its defaults (60-80 % participation, top-k 10 %, 8 bits,
        error feedback, 20 % stragglers up to 2 rounds late with staleness decay 0.5).
        ``rounds``, ``local_steps``, ``client_lr`` and ``eval_every`` are not used: a round
        is an episode and local training is ``epochs`` PPO passes.
    hidden : int
        Width of the two hidden layers of the actor and the critic.
    actor_lr, critic_lr : float
        Adam step sizes. The paper's client rate 1e-4 needs far more episodes than the
        few minutes of CPU this reference learner is budgeted.
    gamma, gae_lambda, clip, entropy : float
        PPO settings (the paper's 0.985, 0.95, 0.2, 0.01).
    epochs : int
        PPO passes over an episode's experience.
    id_features : int
        One-hot agent ids are added to observations when there are at most this many agents.
    train_seed : int
        Plant seed of the first training episode (episode k runs on ``train_seed + k``).
    seed : int
        Seed of the networks, sampling and federated participation.
    threads : int
        torch threads during training.

    Examples
    --------
    >>> MAPPOConfig(episodes=3).episodes
    3
    >>> MAPPOConfig(episodes=0)
    Traceback (most recent call last):
    ...
    edgebound.envs.continuum_marl.MARLError: episodes: 0 must be a whole number >= 1
    """

    episodes: int = 60
    federated: bool = True
    fed: FedConfig = field(default_factory=lambda: FedConfig(momentum=0.9, server_lr=0.2))
    hidden: int = 64
    actor_lr: float = 3e-3
    critic_lr: float = 3e-3
    gamma: float = 0.985
    gae_lambda: float = 0.95
    clip: float = 0.2
    entropy: float = 0.01
    epochs: int = 4
    id_features: int = 16
    train_seed: int = 10_000
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        for name in ("episodes", "hidden", "epochs", "threads"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 1):
                raise MARLError(f"{name}: {v!r} must be a whole number >= 1")
        for name in ("actor_lr", "critic_lr", "clip"):
            v = getattr(self, name)
            if not v > 0:
                raise MARLError(f"{name}: {v!r} must be > 0")
        for name in ("gamma", "gae_lambda"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise MARLError(f"{name}: {v!r} must be in [0, 1]")
        if not self.entropy >= 0:
            raise MARLError(f"entropy: {self.entropy!r} must be >= 0")


@contextlib.contextmanager
def _torch_state(seed: int, threads: int) -> Iterator[None]:
    torch = _torch()
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _mlp(n_in: int, hidden: int, n_out: int, out_gain: float) -> Any:
    torch = _torch()
    nn = torch.nn
    net = nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.Tanh(),
        nn.Linear(hidden, hidden),
        nn.Tanh(),
        nn.Linear(hidden, n_out),
    )
    for layer in net:
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain=2**0.5)
            nn.init.zeros_(layer.bias)
    nn.init.orthogonal_(net[-1].weight, gain=out_gain)
    return net


def _flat(net: Any) -> np.ndarray:
    torch = _torch()
    return torch.nn.utils.parameters_to_vector(net.parameters()).detach().numpy().copy()


def _load(net: Any, flat: np.ndarray) -> None:
    torch = _torch()
    # a copy: vector_to_parameters makes the parameters views of the vector it is given
    vec = torch.tensor(np.asarray(flat), dtype=torch.float32)
    torch.nn.utils.vector_to_parameters(vec, net.parameters())


class MARLPolicy:
    """Trained actors: one per cluster (identical when federated); acts greedily or samples.

    Parameters
    ----------
    view : AgentView
    actors : list
        One torch module per cluster.
    id_dim : int
        Length of the one-hot agent id appended to observations (0: none).
    name : str

    Examples
    --------
    >>> env = ContinuumMARLEnv("continuum-3edge-2cloud", periods=2)
    >>> policy = train(env, MAPPOConfig(episodes=1)).policy
    >>> obs, _ = env.reset(seed=0)
    >>> actions = policy(obs)  # greedy
    >>> sorted(actions), actions["edge-a"].shape
    (['edge-a', 'edge-b', 'edge-c'], (13,))
    """

    def __init__(self, view: AgentView, actors: list[Any], id_dim: int, name: str) -> None:
        self.view = view
        self.actors = actors
        self.id_dim = id_dim
        self.name = name
        self._splits = [int(n) for n in view.nvec]

    def inputs(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        """The actors' input rows, one per agent in :attr:`AgentView.agents` order."""
        x = np.stack([np.asarray(obs[a], dtype=np.float32) for a in self.view.agents])
        if self.id_dim:
            x = np.concatenate([x, np.eye(self.id_dim, dtype=np.float32)[: len(x)]], axis=1)
        return x

    def logits(self, x: Any) -> Any:
        """Logits of every agent (rows of ``x``) from its cluster's actor."""
        torch = _torch()
        out = torch.empty((x.shape[0], int(sum(self._splits))))
        for c, actor in enumerate(self.actors):
            rows = np.flatnonzero(self.view.cluster_of == c)
            out[rows] = actor(x[rows])
        return out

    def sample(
        self, obs: Mapping[str, np.ndarray], generator: Any | None = None, greedy: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs, actions and log-probabilities of every agent (no gradient)."""
        torch = _torch()
        x = self.inputs(obs)
        with torch.no_grad():
            logits = self.logits(torch.from_numpy(x))
            acts, logp = [], torch.zeros(x.shape[0])
            for lg in torch.split(logits, self._splits, dim=1):
                p = torch.softmax(lg, dim=1)
                a = (
                    p.argmax(dim=1)
                    if greedy
                    else torch.multinomial(p, 1, generator=generator)[:, 0]
                )
                logp += torch.log(p.gather(1, a[:, None])[:, 0] + 1e-12)
                acts.append(a)
        return x, torch.stack(acts, dim=1).numpy(), logp.numpy()

    def __call__(self, obs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Greedy actions of every agent."""
        _, acts, _ = self.sample(obs, greedy=True)
        return {a: acts[k] for k, a in enumerate(self.view.agents)}

    def controller(self) -> MultiAgentController:
        """The greedy policy as a plant controller."""
        return MultiAgentController(self.view, self, self.name)


@dataclass(frozen=True, eq=False)
class TrainResult:
    """A trained policy and how training went.

    Attributes
    ----------
    policy : MARLPolicy
    returns : numpy.ndarray
        Mean undiscounted return per agent of each training episode.
    uplink_bytes, dense_bytes : numpy.ndarray
        Per round, bytes sent by the clients compressed and uncompressed (zeros when local).
    params : int
        Entries of one actor.
    wall_s : float

    Examples
    --------
    >>> res = train(ContinuumMARLEnv("continuum-3edge-2cloud", periods=2), MAPPOConfig(episodes=2))
    >>> len(res.returns), res.params, bool(res.uplink_bytes.sum() < res.dense_bytes.sum())
    (2, 11966, True)
    """

    policy: MARLPolicy
    returns: np.ndarray
    uplink_bytes: np.ndarray
    dense_bytes: np.ndarray
    params: int
    wall_s: float


def _gae(rew: np.ndarray, val: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """Advantages of one agent's episode (rew, val of shape (T,); the episode ends at T)."""
    adv = np.zeros_like(rew)
    last = 0.0
    for t in range(len(rew) - 1, -1, -1):
        nxt = val[t + 1] if t + 1 < len(rew) else 0.0
        delta = rew[t] + gamma * nxt - val[t]
        last = delta + gamma * lam * last
        adv[t] = last
    return adv


def _ppo_epochs(
    policy: MARLPolicy, c: int, opt: Any, batch: dict[str, Any], cfg: MAPPOConfig
) -> None:
    """PPO passes of cluster c's actor over its agents' experience."""
    torch = _torch()
    actor = policy.actors[c]
    x, a, old, adv = batch["x"], batch["a"], batch["logp"], batch["adv"]
    for _ in range(cfg.epochs):
        logits = actor(x)
        logp = torch.zeros(x.shape[0])
        ent = torch.zeros(x.shape[0])
        for k, lg in enumerate(torch.split(logits, policy._splits, dim=1)):
            lp = torch.log_softmax(lg, dim=1)
            logp = logp + lp.gather(1, a[:, k : k + 1])[:, 0]
            ent = ent - (lp.exp() * lp).sum(dim=1)
        ratio = torch.exp(logp - old)
        loss = -torch.min(ratio * adv, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * adv).mean()
        loss = loss - cfg.entropy * ent.mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(actor.parameters(), 0.5)
        opt.step()


@dataclass
class _Episode:
    x: np.ndarray  # (T, A, n_in) actor inputs
    acts: np.ndarray  # (T, A, heads)
    logp: np.ndarray  # (T, A)
    states: np.ndarray  # (T, state_dim)
    rewards: np.ndarray  # (T, A)

    def batch(self, rows: np.ndarray, adv: np.ndarray) -> dict[str, Any]:
        """The experience of agents ``rows`` as torch tensors."""
        torch = _torch()
        return {
            "x": torch.from_numpy(self.x[:, rows].reshape(-1, self.x.shape[2])),
            "a": torch.from_numpy(self.acts[:, rows].reshape(-1, self.acts.shape[2])),
            "logp": torch.from_numpy(self.logp[:, rows].reshape(-1)).float(),
            "adv": torch.from_numpy(adv[:, rows].reshape(-1)).float(),
            "n": float(rows.size * len(self.rewards)),
        }


def _collect(env: ContinuumMARLEnv, policy: MARLPolicy, gen: Any, seed: int) -> _Episode:
    """One episode on plant seed ``seed``, actions sampled from the policy."""
    agents = env.view.agents
    obs, _ = env.reset(seed=seed)
    xs, acts, logps, states, rews = [], [], [], [], []
    while env.agents:
        states.append(env.state())
        x, a, lp = policy.sample(obs, gen)
        obs, rew, _, _, _ = env.step({ag: a[k] for k, ag in enumerate(agents)})
        xs.append(x)
        acts.append(a)
        logps.append(lp)
        rews.append([rew[ag] for ag in agents])
    return _Episode(
        np.asarray(xs), np.asarray(acts), np.asarray(logps), np.asarray(states), np.asarray(rews)
    )


class _Critic:
    """The centralized critic, its optimizer and the running scale of its value targets."""

    def __init__(self, state_dim: int, n_val: int, cfg: MAPPOConfig) -> None:
        torch = _torch()
        self.net = _mlp(state_dim, cfg.hidden, n_val, 1.0)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.critic_lr)
        self.n_val = n_val
        self.cfg = cfg
        self.mu, self.sd = 0.0, 1.0
        self.updates = 0

    def advantages(self, ep: _Episode) -> np.ndarray:
        """GAE advantages of every agent, shape (T, A); fits the critic to the returns."""
        torch = _torch()
        cfg = self.cfg
        T, A = ep.rewards.shape
        states = torch.from_numpy(ep.states)
        with torch.no_grad():
            v = self.net(states).numpy() * self.sd + self.mu  # (T, n_val)
        v = np.broadcast_to(v, (T, A)) if self.n_val == 1 else v
        adv = np.stack(
            [_gae(ep.rewards[:, k], v[:, k], cfg.gamma, cfg.gae_lambda) for k in range(A)], 1
        )
        ret = adv + v
        # value targets normalized by running statistics of the returns
        if self.updates == 0:
            self.mu, self.sd = float(ret.mean()), float(ret.std() + 1e-6)
        else:
            self.mu = 0.9 * self.mu + 0.1 * float(ret.mean())
            self.sd = 0.9 * self.sd + 0.1 * float(ret.std() + 1e-6)
        self.updates += 1
        own = ret if self.n_val > 1 else ret.mean(axis=1, keepdims=True)
        target = torch.from_numpy((own - self.mu) / self.sd).float()
        for _ in range(cfg.epochs):
            loss = ((self.net(states) - target) ** 2).mean()
            self.opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), 0.5)
            self.opt.step()
        out: np.ndarray = (adv - adv.mean()) / (adv.std() + 1e-8)
        return out


def train(
    env: ContinuumMARLEnv,
    config: MAPPOConfig | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Train the reference learner on an environment.

    Parameters
    ----------
    env : ContinuumMARLEnv
    config : MAPPOConfig, optional
    progress : callable, optional
        Called as ``progress(done, total, mean_return)`` after every episode.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> env = ContinuumMARLEnv("continuum-3edge-2cloud", periods=3)
    >>> res = train(env, MAPPOConfig(episodes=2))
    >>> res.returns.shape, res.policy.name
    ((2,), 'mappo-fed')
    """
    torch = _torch()
    cfg = config or MAPPOConfig()
    view = env.view
    A, C = len(view.agents), len(view.clusters)
    id_dim = A if cfg.id_features >= A else 0
    tic = time.perf_counter()
    with _torch_state(cfg.seed, cfg.threads):
        gen = torch.Generator().manual_seed(cfg.seed)
        n_in = view.obs_dim + id_dim
        n_out = int(view.nvec.sum())
        actors = [_mlp(n_in, cfg.hidden, n_out, 0.01) for _ in range(C)]
        if cfg.federated:
            for a in actors[1:]:
                a.load_state_dict(actors[0].state_dict())
        policy = MARLPolicy(view, actors, id_dim, "mappo-fed" if cfg.federated else "mappo-local")
        opts = [torch.optim.Adam(a.parameters(), lr=cfg.actor_lr) for a in actors]
        critic = _Critic(view.state_dim, 1 if view.reward == "shared" else A, cfg)
        fed_cfg = replace(cfg.fed, seed=cfg.seed)
        server = FedAverager(_flat(actors[0]), C, fed_cfg) if cfg.federated else None
        rows = [np.flatnonzero(view.cluster_of == c) for c in range(C)]
        returns, uplink, dense = [], [], []
        for k in range(cfg.episodes):
            ep = _collect(env, policy, gen, cfg.train_seed + k)
            adv = critic.advantages(ep)
            if server is None:
                for c in range(C):
                    _ppo_epochs(policy, c, opts[c], ep.batch(rows[c], adv), cfg)
                uplink.append(0)
                dense.append(0)
            else:
                theta = server.theta.copy()
                for c in server.choose(k):
                    b = ep.batch(rows[c], adv)
                    _load(actors[c], theta)
                    _ppo_epochs(policy, c, opts[c], b, cfg)
                    server.submit(k, c, _flat(actors[c]) - theta, b["n"])
                new = server.aggregate(k)
                for a in actors:
                    _load(a, new)
                uplink.append(server.uplink_bytes[-1])
                dense.append(server.dense_bytes[-1])
            returns.append(float(ep.rewards.sum(axis=0).mean()))
            if progress is not None:
                progress(k + 1, cfg.episodes, returns[-1])
    return TrainResult(
        policy=policy,
        returns=np.array(returns),
        uplink_bytes=np.array(uplink),
        dense_bytes=np.array(dense),
        params=int(_flat(actors[0]).size),
        wall_s=time.perf_counter() - tic,
    )
