"""What the agent reports about its cluster, computed from plain API objects (reference §4.1).

Collection does I/O (``reporter.py``); everything here is a pure function of what was read, so the rules —
node counting, capacity sums, CIDR discovery from pod command lines, the Ready condition — are tested
table by table without a cluster.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubectl_clusternet.core.registration import (
    CONDITION_READY,
    find_condition,
    format_time,
    merge_conditions,
    ready_condition,
)

from .quantity import Quantity, parse_quantity, sum_quantities

__all__ = [
    "GPU_RESOURCE",
    "CONTROLLER_MANAGER_SELECTORS",
    "APISERVER_SELECTORS",
    "KUBE_PROXY_SELECTORS",
    "CollectedStatus",
    "node_statistics",
    "resource_totals",
    "flag_value",
    "cidr_from_pods",
    "discover_cidrs",
    "managed_cluster_status",
    "merge_reported_conditions",
]

GPU_RESOURCE = "nvidia.com/gpu"
CLUSTER_CIDR_FLAG = "--cluster-cidr"
SERVICE_CIDR_FLAG = "--service-cluster-ip-range"
# Label selectors of the control-plane pods whose command lines reveal the CIDRs (kubeadm and most installers).
CONTROLLER_MANAGER_SELECTORS = (
    "component=kube-controller-manager",
    "app.kubernetes.io/component=kube-controller-manager",
)
APISERVER_SELECTORS = ("component=kube-apiserver", "app.kubernetes.io/component=kube-apiserver")
KUBE_PROXY_SELECTORS = ("k8s-app=kube-proxy",)


def node_statistics(nodes: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Count nodes by their Ready condition: True ready, False notReady, Unknown unknown, missing lost."""
    counts = {"readyNodes": 0, "notReadyNodes": 0, "unknownNodes": 0, "lostNodes": 0}
    for node in nodes:
        ready = find_condition((node.get("status") or {}).get("conditions"), "Ready")
        status = (ready or {}).get("status")
        if status == "True":
            counts["readyNodes"] += 1
        elif status == "False":
            counts["notReadyNodes"] += 1
        elif status == "Unknown":
            counts["unknownNodes"] += 1
        else:
            counts["lostNodes"] += 1
    return counts


def resource_totals(nodes: Sequence[Mapping[str, Any]], field_name: str) -> dict[str, str]:
    """Sum of ``status.<field_name>`` (capacity or allocatable) over all nodes: cpu, memory, and GPUs if any.

    A node that does not state a resource counts as zero; an unparsable value is skipped, never fatal.
    """
    wanted = ("cpu", "memory", GPU_RESOURCE)
    amounts: dict[str, list[Quantity]] = {name: [] for name in wanted}
    for node in nodes:
        resources = (node.get("status") or {}).get(field_name) or {}
        for name in wanted:
            if name in resources:
                try:
                    amounts[name].append(parse_quantity(str(resources[name])))
                except ValueError:
                    continue
    totals = {"cpu": str(sum_quantities(amounts["cpu"])), "memory": str(sum_quantities(amounts["memory"]))}
    if amounts[GPU_RESOURCE]:
        totals[GPU_RESOURCE] = str(sum_quantities(amounts[GPU_RESOURCE]))
    return totals


def flag_value(words: Sequence[str], flag: str) -> str | None:
    """The value of ``flag`` in a command line, given as ``--flag=v`` or ``--flag v``.

    A word may itself be a whole shell line (``sh -c "kube-controller-manager --cluster-cidr=..."``), so each
    word is split shell-style before searching.
    """
    tokens: list[str] = []
    for word in words:
        try:
            tokens.extend(shlex.split(word))
        except ValueError:
            tokens.extend(word.split())
    for index, token in enumerate(tokens):
        if token.startswith(flag + "="):
            value = token[len(flag) + 1 :].strip()
            if value:
                return value
        elif token == flag and index + 1 < len(tokens):
            return tokens[index + 1].strip()
    return None


def cidr_from_pods(pods: Iterable[Mapping[str, Any]], flag: str) -> str | None:
    """The first value of ``flag`` in any container's command or args of these pods."""
    for pod in pods:
        spec = pod.get("spec") or {}
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            words = [str(w) for w in (container.get("command") or [])] + [
                str(w) for w in (container.get("args") or [])
            ]
            value = flag_value(words, flag)
            if value:
                return value
    return None


def discover_cidrs(
    *,
    controller_manager_pods: Sequence[Mapping[str, Any]],
    apiserver_pods: Sequence[Mapping[str, Any]],
    kube_proxy_pods: Sequence[Mapping[str, Any]],
    environ: Mapping[str, str],
) -> tuple[str, str]:
    """(clusterCIDR, serviceCIDR) by upstream's search order, then the CLUSTER_CIDR/SERVICE_CIDR fallbacks.

    Pod CIDR: kube-controller-manager's ``--cluster-cidr``, then kube-proxy's. Service CIDR: kube-apiserver's
    ``--service-cluster-ip-range``, then kube-controller-manager's. Empty strings when nothing says.
    """
    cluster_cidr = (
        cidr_from_pods(controller_manager_pods, CLUSTER_CIDR_FLAG)
        or cidr_from_pods(kube_proxy_pods, CLUSTER_CIDR_FLAG)
        or environ.get("CLUSTER_CIDR", "")
    )
    service_cidr = (
        cidr_from_pods(apiserver_pods, SERVICE_CIDR_FLAG)
        or cidr_from_pods(controller_manager_pods, SERVICE_CIDR_FLAG)
        or environ.get("SERVICE_CIDR", "")
    )
    return cluster_cidr, service_cidr


@dataclass(frozen=True)
class CollectedStatus:
    """One collection round: what the child said about itself at ``observed_at``."""

    observed_at: datetime
    k8s_version: str
    platform: str
    apiserver_url: str
    healthz: bool
    livez: bool
    readyz: bool
    node_statistics: dict[str, int]
    capacity: dict[str, str]
    allocatable: dict[str, str]
    cluster_cidr: str = ""
    service_cidr: str = ""
    aggregated_labels: dict[str, str] = field(default_factory=dict)


def managed_cluster_status(
    collected: CollectedStatus,
    *,
    agent_version: str,
    app_pusher: bool,
    use_socket: bool,
    kube_qps: float,
    kube_burst: int,
    heartbeat_seconds: float,
) -> dict[str, Any]:
    """The complete ``ManagedCluster.status`` the agent owns for one report (conditions not yet merged)."""
    status: dict[str, Any] = {
        "lastObservedTime": format_time(collected.observed_at),
        "agentVersion": agent_version,
        "apiserverURL": collected.apiserver_url,
        "healthz": collected.healthz,
        "livez": collected.livez,
        "readyz": collected.readyz,
        "appPusher": app_pusher,
        "useSocket": use_socket,
        "kubeQPS": kube_qps,
        "kubeBurst": kube_burst,
        "capacity": dict(collected.capacity),
        "allocatable": dict(collected.allocatable),
        "nodeStatistics": dict(collected.node_statistics),
        "heartbeatFrequencySeconds": max(1, round(heartbeat_seconds)),
        "predictorEnabled": False,
        "predictorDirectAccess": False,
        "conditions": [
            ready_condition(
                healthz=collected.healthz,
                livez=collected.livez,
                readyz=collected.readyz,
                now=collected.observed_at,
            )
        ],
    }
    optional = {
        "k8sVersion": collected.k8s_version,
        "platform": collected.platform,
        "clusterCIDR": collected.cluster_cidr,
        "serviceCIDR": collected.service_cidr,
    }
    # Unknown values are left out rather than sent as "": some API servers reject empty strings in CRDs.
    for key, value in optional.items():
        if value:
            status[key] = value
        else:
            status.pop(key, None)
    return status


def merge_reported_conditions(
    existing: Sequence[Mapping[str, Any]] | None, reported: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Fold the agent's conditions into those on the object, keeping types others own (ClusterInit, …).

    Ready's lastTransitionTime moves only when its status changes: the heartbeat lives in lastObservedTime,
    so a reader can tell how long a cluster has been Ready (our deliberate difference from upstream, whose
    Ready time doubles as a heartbeat).
    """
    current_ready = find_condition(existing, CONDITION_READY)
    adjusted = []
    for condition in reported:
        condition = dict(condition)
        if (
            condition.get("type") == CONDITION_READY
            and current_ready is not None
            and current_ready.get("status") == condition.get("status")
            and current_ready.get("lastTransitionTime")
        ):
            condition["lastTransitionTime"] = current_ready["lastTransitionTime"]
        adjusted.append(condition)
    return merge_conditions(existing, adjusted)
