"""The instance schema: one file feeds every model, simulator and environment.

Each class is a frozen pydantic model, so an :class:`Instance` is immutable once loaded and
its JSON Schema (``edgebound schema``) is generated from these definitions. Every field has a
type, a unit (in its name and in the schema's ``unit`` key) and a description; the docs'
field table is generated from the same source.

Cross-field rules (names that must exist, duplicates, versions that fit on no node) live in
:mod:`edgebound.instances.validate` so that all of them are reported at once.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal

import networkx as nx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "SCHEMA_VERSION",
    "Demand",
    "GeneratorProfile",
    "Instance",
    "Link",
    "Node",
    "Policy",
    "ReleaseProcess",
    "Replicas",
    "Service",
    "Site",
    "State",
    "Topology",
    "TraceProfile",
    "Version",
    "Workload",
    "fits",
]

SCHEMA_VERSION = 1

NonNeg = Annotated[float, Field(ge=0)]
Prob = Annotated[float, Field(ge=0, le=1)]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:+\-]+$")]


def _f(description: str, unit: str | None = None, **kwargs: Any) -> Any:
    """A field with a description and, when the value has one, a unit."""
    extra: dict[str, Any] | None = {"unit": unit} if unit else None
    return Field(description=description, json_schema_extra=extra, **kwargs)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


# --------------------------------------------------------------------------- topology


class Node(_Frozen):
    """A machine that can host replicas: an edge node or a cloud region's pool."""

    name: Name = _f("Unique node name.")
    tier: Literal["edge", "cloud"] = _f("Edge node or cloud pool.", default="edge")
    cluster: Name | None = _f("Edge cluster the node belongs to (edge nodes).", default=None)
    region: Name | None = _f("Region, used by data-residency rules.", default=None)
    cpu: NonNeg = _f("CPU capacity.", "vCPU")
    ram_gb: NonNeg = _f("Memory capacity.", "GB")
    disk_gb: NonNeg = _f("Disk capacity.", "GB", default=1000.0)
    gpus: Annotated[int, Field(ge=0)] = _f("Number of GPUs.", "GPU", default=0)
    idle_power_w: NonNeg = _f(
        "Power drawn when the node is on and idle (CPU part).", "W", default=0.0
    )
    dynamic_power_w: NonNeg = _f(
        "Extra power at 100 % CPU utilization; power is linear in utilization.", "W", default=0.0
    )
    gpu_idle_power_w: NonNeg = _f("Idle power of one GPU while the node is on.", "W", default=0.0)
    gpu_dynamic_power_w: NonNeg = _f(
        "Extra power of one GPU at 100 % utilization.", "W", default=0.0
    )
    power_cap_w: NonNeg | None = _f(
        "Cap on the node's CPU-side power (idle + dynamic); null means no cap.", "W", default=None
    )
    gpu_power_cap_w: NonNeg | None = _f(
        "Cap on the power of each GPU of the node; null means no cap.", "W", default=None
    )
    cost_per_vcpu_hour: NonNeg = _f(
        "Price of one allocated vCPU for one hour.", "USD/h", default=0.0
    )
    cost_per_gpu_hour: NonNeg = _f("Price of one allocated GPU for one hour.", "USD/h", default=0.0)


class Site(_Frozen):
    """A place where requests originate (users, cameras, an access point)."""

    name: Name = _f("Unique site name (distinct from node names).")
    region: Name | None = _f("Region of the site.", default=None)


class Link(_Frozen):
    """An undirected network link between two nodes or sites."""

    source: Name = _f("A node or site name.")
    target: Name = _f("A node or site name.")
    latency_ms: NonNeg = _f(
        "Delay a request pays to cross the link (responses are not counted again).", "ms"
    )
    bandwidth_mbps: NonNeg | None = _f(
        "Link bandwidth; null means unconstrained.", "Mbit/s", default=None
    )


class Topology(_Frozen):
    """Nodes, sites and the links between them; latencies are shortest paths."""

    nodes: tuple[Node, ...] = _f("Machines that host replicas.", min_length=1)
    sites: tuple[Site, ...] = _f("Origins of requests (continuum setting).", default=())
    links: tuple[Link, ...] = _f(
        "Undirected links; the graph must connect what is used.", default=()
    )
    master: Name | None = _f(
        "Node that receives all requests in the versioning setting; a node's transmission "
        "delay is its shortest-path latency to the master.",
        default=None,
    )


# --------------------------------------------------------------------------- services


class Version(_Frozen):
    """One released version ``major.minor`` of a service / ML model."""

    major: Annotated[int, Field(ge=0)] = _f("Main version number x.")
    minor: Annotated[int, Field(ge=0)] = _f("Subversion number y.", default=0)
    cpu: NonNeg = _f("CPU need of one replica.", "vCPU")
    ram_gb: NonNeg = _f("Memory need of one replica.", "GB")
    disk_gb: NonNeg = _f("Disk need of one replica.", "GB", default=0.0)
    gpus: Annotated[int, Field(ge=0)] = _f("GPUs needed by one replica.", "GPU", default=0)
    service_rate_rps: Annotated[float, Field(gt=0)] = _f(
        "Mean service rate of one replica (exponential service).", "req/s"
    )
    accuracy: Prob = _f("Model accuracy of this version.", "1", default=1.0)
    security: Prob = _f("Security score of this version.", "1", default=1.0)
    reliability: Prob = _f("Reliability score of this version.", "1", default=1.0)
    release_s: NonNeg = _f("Time at which the version is released.", "s", default=0.0)

    @property
    def label(self) -> str:
        """The version as ``"x.y"``."""
        return f"{self.major}.{self.minor}"

    @property
    def key(self) -> tuple[int, int]:
        """Sort key: newer versions compare greater."""
        return (self.major, self.minor)


class ReleaseProcess(_Frozen):
    """A seeded random process of future releases (the versioning paper's §IV setup).

    Main versions arrive every ``major_interval_s``; between them subversions arrive as a
    Poisson process, each improving one of accuracy, security or reliability (equally likely).
    """

    majors: Annotated[int, Field(ge=0)] = _f("Number of main-version releases to come.", default=10)
    major_interval_s: Annotated[float, Field(gt=0)] = _f("Time between main releases.", "s")
    minor_rate_per_s: NonNeg = _f("Rate of subversion releases.", "1/s", default=0.0)
    major_gain_accuracy: NonNeg = _f("Accuracy added by a main release.", "1", default=0.02)
    major_gain_security: NonNeg = _f("Security added by a main release.", "1", default=0.02)
    major_gain_reliability: NonNeg = _f("Reliability added by a main release.", "1", default=0.005)
    minor_gain: NonNeg = _f("Score added to one attribute by a subversion.", "1", default=0.0005)
    seed: int = _f("Seed of the process.", default=0)


class Service(_Frozen):
    """A service / ML model: its released versions and what requests expect of it."""

    name: Name = _f("Unique service name.")
    versions: tuple[Version, ...] = _f("Released versions, any order.", min_length=1)
    spawn_time_ms: NonNeg = _f("Time to start a new replica.", "ms", default=0.0)
    latency_slo_ms: Annotated[float, Field(gt=0)] | None = _f(
        "Latency objective at the policy's quantile; null means none.", "ms", default=None
    )
    allowed_regions: tuple[Name, ...] | None = _f(
        "Regions where replicas may run (data residency); null means anywhere.", default=None
    )
    release_process: ReleaseProcess | None = _f("Future releases, if any.", default=None)


# --------------------------------------------------------------------------- workload


class TraceProfile(_Frozen):
    """Shape of the load taken from a bundled (or user) trace, scaled to the demand's mean."""

    kind: Literal["trace"] = _f("Profile kind: 'trace'.")
    trace: str = _f("Bundled trace name (see `edgebound.instances.traces`) or a CSV path.")
    start: Annotated[int, Field(ge=0)] = _f(
        "First sample of the trace to use.", "sample", default=0
    )


class GeneratorProfile(_Frozen):
    """A seeded synthetic shape: diurnal sine plus lognormal noise and rare bursts."""

    kind: Literal["generator"] = _f("Profile kind: 'generator'.")
    seed: int = _f("Seed of the generator.", default=0)
    period_s: Annotated[float, Field(gt=0)] = _f("Period of the daily cycle.", "s", default=86400.0)
    amplitude: Prob = _f("Relative amplitude of the cycle.", "1", default=0.5)
    noise: NonNeg = _f("Std. dev. of the multiplicative lognormal noise.", "1", default=0.1)
    burst_prob: Prob = _f("Probability that a step carries a burst.", "1", default=0.0)
    burst_factor: Annotated[float, Field(ge=1)] = _f(
        "Load multiplier of a burst.", "1", default=2.0
    )


Profile = Annotated[TraceProfile | GeneratorProfile, Field(discriminator="kind")]


class Demand(_Frozen):
    """Requests for one service from one site (or to the master in the versioning setting)."""

    service: Name = _f("Service the requests are for.")
    site: Name | None = _f(
        "Origin site; null means the master node (versioning setting).", default=None
    )
    rate_rps: NonNeg = _f("Mean arrival rate (Poisson).", "req/s")
    profile: Profile | None = _f("Time-varying shape, scaled to mean `rate_rps`.", default=None)


class Workload(_Frozen):
    """All demands and the time step of time-varying ones."""

    demands: tuple[Demand, ...] = _f("One entry per (service, site).", default=())
    step_s: Annotated[float, Field(gt=0)] = _f(
        "Length of one period of a demand series.", "s", default=300.0
    )
    horizon_steps: Annotated[int, Field(ge=1)] = _f(
        "Number of periods of a demand series.", default=12
    )


# --------------------------------------------------------------------------- policy, state


class Policy(_Frozen):
    """Objectives' weights and operating rules shared by models, simulators and envs."""

    weights: dict[str, Annotated[float, Field(ge=0)]] = _f(
        "Weights of the weighted-sum objective by name; unnamed objectives weigh 0. MMV names: "
        "delay, accuracy, security, reliability (the versioning paper uses 1, 10, 10, 10). "
        "Placement names: latency, p95_latency, energy, cost, dropped, migrations.",
        default_factory=lambda: {
            "delay": 1.0,
            "accuracy": 10.0,
            "security": 10.0,
            "reliability": 10.0,
        },
    )
    max_utilization: Annotated[float, Field(gt=0, lt=1)] = _f(
        "Upper limit of the load λ/(cμ) of each service (eq 1 of the versioning paper).",
        "1",
        default=0.95,
    )
    slo_quantile: Annotated[float, Field(gt=0, lt=1)] = _f(
        "Quantile at which latency SLOs are measured.", "1", default=0.95
    )
    spawn_exposure: Prob = _f(
        "Share of a period's requests that pay a service's spawn time when it is updated "
        "(eq 8's spawn term); 1 charges every request as eq 8 is written.",
        "1",
        default=1.0,
    )
    allow_rollback: bool = _f("Whether a service may move to an older version.", default=False)
    migration_budget: Annotated[int, Field(ge=0)] | None = _f(
        "Most replicas started relative to the previous placement; null means no limit.",
        "replica",
        default=None,
    )
    delay_ref_ms: Annotated[float, Field(gt=0)] | None = _f(
        "Delay that normalizes O1 in the weighted sum; null means the request-weighted "
        "processing time of the running versions.",
        "ms",
        default=None,
    )


class Replicas(_Frozen):
    """Replicas of one service on one node."""

    service: Name = _f("Service name.")
    node: Name = _f("Node name.")
    count: Annotated[int, Field(ge=0)] = _f("Number of replicas.", "replica")


class State(_Frozen):
    """What is running now: versions in use and the current placement."""

    running: dict[str, str] = _f(
        "Version label (``x.y``) each service runs now; a service left out runs its oldest "
        "version.",
        default_factory=dict,
    )
    placement: tuple[Replicas, ...] = _f("Current replicas (for migration counts).", default=())
    time_s: NonNeg = _f(
        "Current time; versions released later are not yet available.", "s", default=0.0
    )


# --------------------------------------------------------------------------- instance


class Instance(_Frozen):
    """A complete problem instance.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> inst = load("gentzen-star4")
    >>> [n.name for n in inst.topology.nodes]
    ['E1', 'E2', 'E3', 'E4']
    """

    schema_version: Literal[1] = _f("Version of the instance schema.", default=SCHEMA_VERSION)
    name: Name = _f("Instance name.")
    description: str = _f(
        "Free text: origin, choices made where the sources leave numbers open.", default=""
    )
    topology: Topology = _f("Nodes, sites, links.")
    services: tuple[Service, ...] = _f("Services / ML models.", min_length=1)
    workload: Workload = _f("Demands.", default_factory=Workload)
    policy: Policy = _f("Weights and operating rules.", default_factory=Policy)
    state: State = _f("Current state.", default_factory=State)

    @model_validator(mode="before")
    @classmethod
    def _not_none(cls, data: Any) -> Any:
        if data is None:
            raise ValueError("the file is empty; an instance needs name, topology and services")
        return data

    # ------------------------------------------------------------------ derived data
    # Computed once per instance; the instance itself never changes.

    @cached_property
    def node_names(self) -> tuple[str, ...]:
        """Node names in file order."""
        return tuple(n.name for n in self.topology.nodes)

    @cached_property
    def service_names(self) -> tuple[str, ...]:
        """Service names in file order."""
        return tuple(s.name for s in self.services)

    @cached_property
    def site_names(self) -> tuple[str, ...]:
        """Site names in file order."""
        return tuple(s.name for s in self.topology.sites)

    def node(self, name: str) -> Node:
        """The node called ``name`` (``KeyError`` if there is none)."""
        return self.topology.nodes[self._node_index[name]]

    def service(self, name: str) -> Service:
        """The service called ``name`` (``KeyError`` if there is none)."""
        return self.services[self._service_index[name]]

    @cached_property
    def _node_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.node_names)}

    @cached_property
    def _service_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.service_names)}

    @cached_property
    def graph(self) -> nx.Graph:
        """The network as an undirected graph; edge attribute ``latency_ms``.

        Parallel links keep the fastest one.
        """
        g = nx.Graph()
        for n in self.topology.nodes:
            g.add_node(n.name, kind="node")
        for s in self.topology.sites:
            g.add_node(s.name, kind="site")
        for link in self.topology.links:
            old = g.get_edge_data(link.source, link.target)
            if old is None or old["latency_ms"] > link.latency_ms:
                g.add_edge(link.source, link.target, latency_ms=link.latency_ms)
        return g

    @cached_property
    def _distances(self) -> dict[str, dict[str, float]]:
        return dict(nx.all_pairs_dijkstra_path_length(self.graph, weight="latency_ms"))

    def latency_ms(self, a: str, b: str) -> float:
        """Shortest-path latency between two nodes or sites; ``inf`` when not connected.

        Examples
        --------
        >>> from edgebound.instances import load
        >>> load("gentzen-star4").latency_ms("E1", "E3")
        7.25
        """
        if a == b:
            return 0.0
        return float(self._distances.get(a, {}).get(b, np.inf))

    @cached_property
    def transmission_ms(self) -> np.ndarray:
        """Latency from the master to each node (versioning setting), in node order.

        Without a master every entry is 0.
        """
        master = self.topology.master
        if master is None:
            return np.zeros(len(self.node_names))
        return np.array([self.latency_ms(master, n) for n in self.node_names])

    @cached_property
    def site_node_latency_ms(self) -> np.ndarray:
        """Matrix (sites x nodes) of shortest-path latencies; ``inf`` when not connected."""
        return np.array(
            [[self.latency_ms(s, n) for n in self.node_names] for s in self.site_names],
            dtype=float,
        ).reshape(len(self.site_names), len(self.node_names))

    def running_version(self, service: str) -> Version:
        """The version ``service`` runs now (``state.running``, else its oldest version)."""
        svc = self.service(service)
        label = self.state.running.get(service)
        if label is None:
            return min(svc.versions, key=lambda v: v.key)
        for v in svc.versions:
            if v.label == label:
                return v
        raise KeyError(f"state.running.{service}: {label!r} is not a version of {service}")

    def candidate_versions(self, service: str) -> tuple[Version, ...]:
        """Versions ``service`` may run after the update decision, oldest first.

        Released by ``state.time_s``, not older than the running one unless
        ``policy.allow_rollback``, and fitting on at least one node (eqs 2-4).
        """
        svc = self.service(service)
        run = self.running_version(service)
        out = [
            v
            for v in svc.versions
            if v.release_s <= self.state.time_s
            and (self.policy.allow_rollback or v.key >= run.key)
            and any(fits(v, n, svc) for n in self.topology.nodes)
        ]
        return tuple(sorted(out, key=lambda v: v.key))


def fits(version: Version, node: Node, service: Service | None = None) -> bool:
    """Whether one replica of ``version`` fits on an empty ``node`` (eqs 2-4), residency included.

    Examples
    --------
    >>> v = Version(major=0, cpu=2, ram_gb=1, service_rate_rps=10)
    >>> fits(v, Node(name="a", cpu=1, ram_gb=8))
    False
    """
    allowed = service.allowed_regions if service is not None else None
    if allowed is not None and node.region not in allowed:
        return False
    return (
        version.cpu <= node.cpu
        and version.ram_gb <= node.ram_gb
        and version.disk_gb <= node.disk_gb
        and version.gpus <= node.gpus
    )
