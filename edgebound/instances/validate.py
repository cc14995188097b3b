"""Cross-field checks of an instance: names, references, fit (eqs 2-4), likely unit mistakes.

:func:`check` returns every problem at once, split into errors (the instance cannot be used)
and warnings (it can, but something looks wrong, e.g. a version that fits on no node and will
be left out of every model, or a value whose size suggests the wrong unit).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from edgebound.errors import Problem
from edgebound.instances.schema import Instance, fits

__all__ = ["MMV_OBJECTIVES", "PLACEMENT_OBJECTIVES", "Report", "check"]

MMV_OBJECTIVES = ("delay", "accuracy", "security", "reliability")
PLACEMENT_OBJECTIVES = ("latency", "p95_latency", "energy", "cost", "dropped", "migrations")


@dataclass(frozen=True)
class Report:
    """The outcome of :func:`check`.

    Attributes
    ----------
    errors : list of Problem
        Problems that make the instance unusable.
    warnings : list of Problem
        Problems worth reading that do not stop any model.
    """

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there are no errors."""
        return not self.errors


def _duplicates(names: Iterable[str], path: str) -> list[Problem]:
    out = []
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in first:
            out.append(Problem(f"{path}[{i}].name", name, f"duplicates {path}[{first[name]}].name"))
        else:
            first[name] = i
    return out


def _unknown(value: str, known: Iterable[str], what: str) -> str:
    known = list(known)
    close = difflib.get_close_matches(value, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
    return f"is not a {what} (known: {shown}){hint}"


def check(inst: Instance) -> Report:
    """Run every cross-field check on a structurally valid instance.

    Parameters
    ----------
    inst : Instance

    Returns
    -------
    Report
        Errors and warnings, each naming the field path, the value and what is allowed.

    Examples
    --------
    >>> from edgebound.instances import load
    >>> check(load("gentzen-star4")).ok
    True
    """
    errors: list[Problem] = []
    warnings: list[Problem] = []
    topo = inst.topology
    node_names = [n.name for n in topo.nodes]
    site_names = [s.name for s in topo.sites]
    service_names = [s.name for s in inst.services]
    nodes_set, sites_set, services_set = set(node_names), set(site_names), set(service_names)

    errors += _duplicates(node_names, "topology.nodes")
    errors += _duplicates(site_names, "topology.sites")
    errors += _duplicates(service_names, "services")
    for i, s in enumerate(topo.sites):
        if s.name in nodes_set:
            errors.append(
                Problem(
                    f"topology.sites[{i}].name",
                    s.name,
                    "is also a node name; sites and nodes need distinct names",
                )
            )

    # Links.
    endpoints = nodes_set | sites_set
    seen_links: dict[frozenset[str], int] = {}
    for i, link in enumerate(topo.links):
        for end in ("source", "target"):
            name = getattr(link, end)
            if name not in endpoints:
                errors.append(
                    Problem(
                        f"topology.links[{i}].{end}",
                        name,
                        _unknown(name, node_names + site_names, "node or site"),
                    )
                )
        if link.source == link.target:
            errors.append(
                Problem(
                    f"topology.links[{i}].target",
                    link.target,
                    "must differ from source (no self-loops)",
                )
            )
        pair = frozenset((link.source, link.target))
        if pair in seen_links and link.source != link.target:
            warnings.append(
                Problem(
                    f"topology.links[{i}]",
                    f"{link.source}-{link.target}",
                    f"repeats topology.links[{seen_links[pair]}]; the faster one is used",
                )
            )
        seen_links.setdefault(pair, i)
        if link.latency_ms > 10_000:
            warnings.append(
                Problem(
                    f"topology.links[{i}].latency_ms",
                    link.latency_ms,
                    "is over 10 s; latency_ms is in milliseconds (was it given in µs?)",
                )
            )

    # Master and connectivity.
    if topo.master is not None and topo.master not in nodes_set:
        errors.append(
            Problem("topology.master", topo.master, _unknown(topo.master, node_names, "node"))
        )
    link_problems = any(p.path.startswith("topology.links") for p in errors)
    if topo.master in nodes_set and not link_problems:
        for i, name in enumerate(node_names):
            if inst.latency_ms(topo.master, name) == float("inf"):
                errors.append(
                    Problem(
                        f"topology.nodes[{i}].name",
                        name,
                        f"is not connected to the master {topo.master!r}; add a link",
                    )
                )

    # Nodes: plausibility of units.
    for i, n in enumerate(topo.nodes):
        if n.ram_gb > 65_536:
            warnings.append(
                Problem(
                    f"topology.nodes[{i}].ram_gb",
                    n.ram_gb,
                    "is over 64 TB; ram_gb is in GB (was it given in MB?)",
                )
            )
        if n.cpu > 100_000:
            warnings.append(
                Problem(
                    f"topology.nodes[{i}].cpu",
                    n.cpu,
                    "is over 100000 vCPU; cpu counts vCPUs (was it given in millicores?)",
                )
            )
        for attr in ("idle_power_w", "dynamic_power_w", "gpu_idle_power_w", "gpu_dynamic_power_w"):
            if getattr(n, attr) > 100_000:
                warnings.append(
                    Problem(
                        f"topology.nodes[{i}].{attr}",
                        getattr(n, attr),
                        "is over 100 kW; power is in W (was it given in mW?)",
                    )
                )
        if n.gpus == 0 and n.gpu_power_cap_w is not None:
            warnings.append(
                Problem(
                    f"topology.nodes[{i}].gpu_power_cap_w",
                    n.gpu_power_cap_w,
                    "is set on a node without GPUs",
                )
            )
        if n.power_cap_w is not None and n.power_cap_w < n.idle_power_w:
            warnings.append(
                Problem(
                    f"topology.nodes[{i}].power_cap_w",
                    n.power_cap_w,
                    f"is below the idle power {n.idle_power_w} W: the node can never be on",
                )
            )
        if n.gpu_power_cap_w is not None and n.gpus and n.gpu_power_cap_w < n.gpu_idle_power_w:
            warnings.append(
                Problem(
                    f"topology.nodes[{i}].gpu_power_cap_w",
                    n.gpu_power_cap_w,
                    f"is below the GPU idle power {n.gpu_idle_power_w} W: the node can never be on",
                )
            )

    # Services and versions.
    regions = {n.region for n in topo.nodes if n.region is not None}
    for k, svc in enumerate(inst.services):
        base = f"services[{k}]"
        first_seen: dict[tuple[int, int], int] = {}
        for j, v in enumerate(svc.versions):
            if v.key in first_seen:
                errors.append(
                    Problem(
                        f"{base}.versions[{j}]",
                        v.label,
                        f"duplicates {base}.versions[{first_seen[v.key]}] of {svc.name}",
                    )
                )
            first_seen.setdefault(v.key, j)
        if svc.allowed_regions is not None:
            for r, region in enumerate(svc.allowed_regions):
                if region not in regions:
                    errors.append(
                        Problem(
                            f"{base}.allowed_regions[{r}]",
                            region,
                            _unknown(region, sorted(regions), "region of any node"),
                        )
                    )
        fitting = 0
        for j, v in enumerate(svc.versions):
            vpath = f"{base}.versions[{j}]"
            if any(fits(v, n, svc) for n in topo.nodes):
                fitting += 1
            else:
                warnings.append(
                    Problem(
                        vpath,
                        v.label,
                        f"fits on no node ({_why_not(inst, k, j)}); it is left out (eqs 2-4)",
                    )
                )
            if v.ram_gb > 4096:
                warnings.append(
                    Problem(
                        f"{vpath}.ram_gb",
                        v.ram_gb,
                        "is over 4 TB per replica; ram_gb is in GB (was it given in MB?)",
                    )
                )
            if v.service_rate_rps < 1e-3:
                warnings.append(
                    Problem(
                        f"{vpath}.service_rate_rps",
                        v.service_rate_rps,
                        "is under 0.001 req/s; it is a rate, not a service time",
                    )
                )
        if fitting == 0 and not any(p.path.startswith(f"{base}.allowed_regions") for p in errors):
            errors.append(
                Problem(
                    f"{base}.versions",
                    svc.name,
                    "has no version that fits on any node (eqs 2-4): "
                    "enlarge a node or shrink a version",
                )
            )
        if 0 < svc.spawn_time_ms < 0.01:
            warnings.append(
                Problem(
                    f"{base}.spawn_time_ms",
                    svc.spawn_time_ms,
                    "is under 10 µs; spawn_time_ms is in milliseconds (was it given in s?)",
                )
            )

    # Workload.
    pairs: dict[tuple[str, str | None], int] = {}
    for d, dem in enumerate(inst.workload.demands):
        dpath = f"workload.demands[{d}]"
        if dem.service not in services_set:
            errors.append(
                Problem(
                    f"{dpath}.service", dem.service, _unknown(dem.service, service_names, "service")
                )
            )
        if dem.site is None:
            if topo.master is None:
                errors.append(
                    Problem(
                        f"{dpath}.site",
                        None,
                        "is needed: without topology.master requests must come from a site",
                    )
                )
        elif dem.site not in sites_set:
            errors.append(
                Problem(f"{dpath}.site", dem.site, _unknown(dem.site, site_names, "site"))
            )
        elif not link_problems and all(
            inst.latency_ms(dem.site, n) == float("inf") for n in node_names
        ):
            errors.append(Problem(f"{dpath}.site", dem.site, "is connected to no node; add a link"))
        key = (dem.service, dem.site)
        if key in pairs:
            errors.append(
                Problem(
                    dpath,
                    f"{dem.service}@{dem.site or 'master'}",
                    f"repeats workload.demands[{pairs[key]}]; give one demand per service and site",
                )
            )
        pairs.setdefault(key, d)
        if dem.profile is not None and dem.profile.kind == "trace":
            errors += _check_trace(
                dem.profile.trace,
                dem.profile.start,
                inst.workload.horizon_steps,
                f"{dpath}.profile",
            )

    # Policy.
    known_obj = MMV_OBJECTIVES + PLACEMENT_OBJECTIVES
    for name in inst.policy.weights:
        if name not in known_obj:
            errors.append(
                Problem(
                    f"policy.weights.{name}",
                    inst.policy.weights[name],
                    _unknown(name, known_obj, "known objective"),
                )
            )

    # State.
    for name, label in inst.state.running.items():
        spath = f"state.running.{name}"
        if name not in services_set:
            errors.append(
                Problem(
                    spath, label, f"names no service ({_unknown(name, service_names, 'service')})"
                )
            )
            continue
        svc = inst.service(name)
        versions = {v.label: v for v in svc.versions}
        if label not in versions:
            errors.append(
                Problem(spath, label, _unknown(label, list(versions), f"version of {name}"))
            )
        elif versions[label].release_s > inst.state.time_s:
            errors.append(
                Problem(
                    spath,
                    label,
                    f"is released at {versions[label].release_s} s, "
                    f"after state.time_s = {inst.state.time_s} s",
                )
            )
    for r, rep in enumerate(inst.state.placement):
        if rep.service not in services_set:
            errors.append(
                Problem(
                    f"state.placement[{r}].service",
                    rep.service,
                    _unknown(rep.service, service_names, "service"),
                )
            )
        if rep.node not in nodes_set:
            errors.append(
                Problem(
                    f"state.placement[{r}].node", rep.node, _unknown(rep.node, node_names, "node")
                )
            )
    return Report(errors=errors, warnings=warnings)


def _why_not(inst: Instance, k: int, j: int) -> str:
    svc = inst.services[k]
    v = svc.versions[j]
    nodes = inst.topology.nodes
    if svc.allowed_regions is not None:
        nodes = tuple(n for n in nodes if n.region in svc.allowed_regions)
        if not nodes:
            return "no node in its allowed regions"
    parts = []
    for attr, unit in (
        ("cpu", "vCPU"),
        ("ram_gb", "GB RAM"),
        ("disk_gb", "GB disk"),
        ("gpus", "GPU"),
    ):
        need = getattr(v, attr)
        most = max(getattr(n, attr) for n in nodes)
        if need > most:
            parts.append(f"needs {need:g} {unit}, largest node has {most:g}")
    return "; ".join(parts) or "no single node has all it needs"


def _check_trace(name: str, start: int, horizon: int, path: str) -> list[Problem]:
    from edgebound.instances import traces

    try:
        n = traces.length(name)
    except KeyError:
        return [
            Problem(
                f"{path}.trace",
                name,
                _unknown(name, traces.names(), "bundled trace or readable CSV file"),
            )
        ]
    except ValueError as exc:
        return [Problem(f"{path}.trace", name, str(exc))]
    if start >= n:
        return [Problem(f"{path}.start", start, f"must be < {n}, the length of trace {name!r}")]
    return []
