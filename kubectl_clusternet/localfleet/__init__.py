"""Real local Kubernetes control planes (etcd, kube-apiserver, kube-controller-manager) on loopback.

One parent and N children for the demo, the end-to-end tests and the benchmarks; see design.md section 5.
"""

from __future__ import annotations

from kubectl_clusternet.localfleet.binaries import Binaries, ensure_binaries, find_binaries
from kubectl_clusternet.localfleet.fleet import (
    PARENT_SERVICE_CIDR,
    SERVICE_ACCOUNT_ISSUER,
    ClusterInfo,
    FleetState,
    ProcessRecord,
    child_service_cidr,
    default_dir,
    down,
    register_process,
    status,
    up,
)

__all__ = [
    "PARENT_SERVICE_CIDR",
    "SERVICE_ACCOUNT_ISSUER",
    "Binaries",
    "ClusterInfo",
    "FleetState",
    "ProcessRecord",
    "child_service_cidr",
    "default_dir",
    "down",
    "ensure_binaries",
    "find_binaries",
    "register_process",
    "status",
    "up",
]
