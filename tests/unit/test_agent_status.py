"""The status the agent reports, computed from plain node and pod objects (reference §4.1, §4.2)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from agent_lite.status import (
    CollectedStatus,
    cidr_from_pods,
    discover_cidrs,
    flag_value,
    managed_cluster_status,
    merge_reported_conditions,
    node_statistics,
    resource_totals,
)
from kubectl_clusternet.core.registration import aggregate_node_labels, replace_prefixed_labels

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
LATER = datetime(2024, 5, 1, 12, 5, 0, tzinfo=timezone.utc)


def node(
    ready: str | None = "True",
    *,
    capacity: dict[str, str] | None = None,
    allocatable: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    return {
        "metadata": {"name": "n", "labels": labels or {}},
        "status": {"conditions": conditions, "capacity": capacity or {}, "allocatable": allocatable or {}},
    }


def pod(*, command: list[str] | None = None, args: list[str] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "x"}
    if command is not None:
        container["command"] = command
    if args is not None:
        container["args"] = args
    return {"metadata": {"name": "p"}, "spec": {"containers": [container]}}


@pytest.mark.parametrize(
    ("readiness", "expected"),
    [
        ([], {"readyNodes": 0, "notReadyNodes": 0, "unknownNodes": 0, "lostNodes": 0}),
        (["True", "True"], {"readyNodes": 2, "notReadyNodes": 0, "unknownNodes": 0, "lostNodes": 0}),
        (
            ["True", "False", "Unknown", None],
            {"readyNodes": 1, "notReadyNodes": 1, "unknownNodes": 1, "lostNodes": 1},
        ),
        ([None, None], {"readyNodes": 0, "notReadyNodes": 0, "unknownNodes": 0, "lostNodes": 2}),
    ],
)
def test_node_statistics(readiness: list[str | None], expected: dict[str, int]) -> None:
    """Nodes are counted by their Ready condition; a node without one is lost."""
    assert node_statistics([node(r) for r in readiness]) == expected


@pytest.mark.parametrize(
    ("capacities", "expected"),
    [
        ([], {"cpu": "0", "memory": "0"}),
        (
            [{"cpu": "4", "memory": "8Gi", "pods": "110"}, {"cpu": "4", "memory": "8Gi", "pods": "110"}],
            {"cpu": "8", "memory": "16Gi"},
        ),
        (
            [{"cpu": "3800m", "memory": "7680Mi"}, {"cpu": "3800m", "memory": "7680Mi"}],
            {"cpu": "7600m", "memory": "15Gi"},
        ),
        (
            [{"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}, {"cpu": "8", "memory": "32Gi"}],
            {"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "2"},
        ),
        ([{"cpu": "2"}, {"memory": "1Gi"}], {"cpu": "2", "memory": "1Gi"}),
        ([{"cpu": "garbage", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}], {"cpu": "1", "memory": "2Gi"}),
    ],
)
def test_resource_totals(capacities: list[dict[str, str]], expected: dict[str, str]) -> None:
    """cpu and memory are summed over all nodes; the GPU count appears only when some node has GPUs."""
    nodes = [node(capacity=c) for c in capacities]
    assert resource_totals(nodes, "capacity") == expected


def test_allocatable_is_summed_separately() -> None:
    """Allocatable comes from status.allocatable, not capacity."""
    nodes = [node(capacity={"cpu": "4"}, allocatable={"cpu": "3500m"}) for _ in range(2)]
    assert resource_totals(nodes, "allocatable")["cpu"] == "7"


@pytest.mark.parametrize(
    ("words", "flag", "expected"),
    [
        (["kube-controller-manager", "--cluster-cidr=10.244.0.0/16"], "--cluster-cidr", "10.244.0.0/16"),
        (["kube-controller-manager", "--cluster-cidr", "10.1.0.0/16"], "--cluster-cidr", "10.1.0.0/16"),
        (
            ["sh", "-c", "exec kube-proxy --v=2 --cluster-cidr=192.168.0.0/16 --x"],
            "--cluster-cidr",
            "192.168.0.0/16",
        ),
        (["sh", "-c", "run --cluster-cidr='10.2.0.0/16'"], "--cluster-cidr", "10.2.0.0/16"),
        (["--cluster-cidr-extra=1"], "--cluster-cidr", None),
        (["--cluster-cidr="], "--cluster-cidr", None),
        (["sh", "-c", "unbalanced 'quote --cluster-cidr=10.3.0.0/16"], "--cluster-cidr", "10.3.0.0/16"),
        ([], "--cluster-cidr", None),
    ],
)
def test_flag_value(words: list[str], flag: str, expected: str | None) -> None:
    """Flags are found as --f=v or --f v, also inside shell lines."""
    assert flag_value(words, flag) == expected


def test_cidr_from_pods_reads_command_and_args() -> None:
    """Both a container's command and its args are searched, first pod first."""
    pods = [
        pod(command=["kube-apiserver"], args=["--etcd-servers=x"]),
        pod(command=["kube-apiserver"], args=["--service-cluster-ip-range=10.96.0.0/12"]),
        pod(args=["--service-cluster-ip-range=10.0.0.0/24"]),
    ]
    assert cidr_from_pods(pods, "--service-cluster-ip-range") == "10.96.0.0/12"


@pytest.mark.parametrize(
    ("controller_managers", "apiservers", "proxies", "environ", "expected"),
    [
        ([], [], [], {}, ("", "")),
        (
            [],
            [],
            [],
            {"CLUSTER_CIDR": "10.9.0.0/16", "SERVICE_CIDR": "10.8.0.0/16"},
            ("10.9.0.0/16", "10.8.0.0/16"),
        ),
        (
            [pod(command=["kcm", "--cluster-cidr=10.244.0.0/16", "--service-cluster-ip-range=10.96.0.0/12"])],
            [],
            [],
            {"CLUSTER_CIDR": "ignored", "SERVICE_CIDR": "ignored"},
            ("10.244.0.0/16", "10.96.0.0/12"),
        ),
        (
            [pod(command=["kcm", "--service-cluster-ip-range=10.1.0.0/16"])],
            [pod(command=["kas", "--service-cluster-ip-range=10.2.0.0/16"])],
            [pod(command=["sh", "-c", "kube-proxy --cluster-cidr=10.3.0.0/16"])],
            {},
            ("10.3.0.0/16", "10.2.0.0/16"),
        ),
    ],
)
def test_discover_cidrs(
    controller_managers: list[dict[str, Any]],
    apiservers: list[dict[str, Any]],
    proxies: list[dict[str, Any]],
    environ: dict[str, str],
    expected: tuple[str, str],
) -> None:
    """Pod CIDR: controller-manager, then kube-proxy, then CLUSTER_CIDR; service CIDR: apiserver, then
    controller-manager, then SERVICE_CIDR."""
    found = discover_cidrs(
        controller_manager_pods=controller_managers,
        apiserver_pods=apiservers,
        kube_proxy_pods=proxies,
        environ=environ,
    )
    assert found == expected


def collected(
    *, healthz: bool = True, livez: bool = True, readyz: bool = True, at: datetime = NOW
) -> CollectedStatus:
    return CollectedStatus(
        observed_at=at,
        k8s_version="v1.20.2",
        platform="linux/amd64",
        apiserver_url="https://127.0.0.1:6443",
        healthz=healthz,
        livez=livez,
        readyz=readyz,
        node_statistics={"readyNodes": 2, "notReadyNodes": 0, "unknownNodes": 0, "lostNodes": 0},
        capacity={"cpu": "8", "memory": "16Gi"},
        allocatable={"cpu": "7600m", "memory": "15Gi"},
        cluster_cidr="10.244.0.0/16",
    )


def build(status: CollectedStatus, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "agent_version": "v0.1.0",
        "app_pusher": False,
        "use_socket": False,
        "kube_qps": 50.0,
        "kube_burst": 100,
        "heartbeat_seconds": 30.0,
    }
    settings.update(overrides)
    return managed_cluster_status(status, **settings)


def test_status_carries_every_reported_field() -> None:
    """The report has every §4.1 field the agent owns, with upstream's names."""
    status = build(collected(), app_pusher=True, use_socket=True)
    assert status["k8sVersion"] == "v1.20.2"
    assert status["platform"] == "linux/amd64"
    assert status["agentVersion"] == "v0.1.0"
    assert status["apiserverURL"] == "https://127.0.0.1:6443"
    assert (status["healthz"], status["livez"], status["readyz"]) == (True, True, True)
    assert status["appPusher"] is True and status["useSocket"] is True
    assert status["kubeQPS"] == 50.0 and status["kubeBurst"] == 100
    assert status["heartbeatFrequencySeconds"] == 30
    assert status["lastObservedTime"] == "2024-05-01T12:00:00Z"
    assert status["capacity"] == {"cpu": "8", "memory": "16Gi"}
    assert status["allocatable"] == {"cpu": "7600m", "memory": "15Gi"}
    assert status["nodeStatistics"]["readyNodes"] == 2
    assert status["clusterCIDR"] == "10.244.0.0/16"
    assert "serviceCIDR" not in status


@pytest.mark.parametrize(
    ("healthz", "livez", "readyz", "ready", "reason"),
    [
        (True, True, True, "True", "ManagedClusterReady"),
        (True, False, False, "True", "ManagedClusterReady"),
        (False, True, True, "True", "ManagedClusterReady"),
        (False, True, False, "False", "ManagedClusterNotReady"),
        (False, False, True, "False", "ManagedClusterNotReady"),
        (False, False, False, "False", "ManagedClusterNotReady"),
    ],
)
def test_ready_condition(healthz: bool, livez: bool, readyz: bool, ready: str, reason: str) -> None:
    """Ready is True exactly when (livez and readyz) or healthz, with upstream's reasons and messages."""
    [condition] = build(collected(healthz=healthz, livez=livez, readyz=readyz))["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == ("Ready", ready, reason)
    assert condition["message"] == (
        "managed cluster is ready." if ready == "True" else "managed cluster is not ready."
    )


def ready(status: str, when: str, reason: str = "ManagedClusterReady") -> dict[str, str]:
    return {"type": "Ready", "status": status, "reason": reason, "message": "m", "lastTransitionTime": when}


@pytest.mark.parametrize(
    ("existing", "reported", "expected"),
    [
        # nothing yet: the report is taken as is
        ([], [ready("True", "T2")], [ready("True", "T2")]),
        # unchanged status: Ready keeps its transition time (our difference from upstream's heartbeat copy)
        ([ready("True", "T1")], [ready("True", "T2")], [ready("True", "T1")]),
        # status changed: the transition time moves
        (
            [ready("True", "T1")],
            [ready("False", "T2", "ManagedClusterNotReady")],
            [ready("False", "T2", "ManagedClusterNotReady")],
        ),
        # the hub marked it Unknown; a fresh True report is a transition
        ([ready("Unknown", "T1", "ClusterStatusUnknown")], [ready("True", "T2")], [ready("True", "T2")]),
        # conditions the agent does not own are kept
        (
            [
                {
                    "type": "ClusterInit",
                    "status": "True",
                    "reason": "ClusterInitDisabled",
                    "lastTransitionTime": "T0",
                },
                ready("True", "T1"),
            ],
            [ready("True", "T2")],
            [
                {
                    "type": "ClusterInit",
                    "status": "True",
                    "reason": "ClusterInitDisabled",
                    "lastTransitionTime": "T0",
                },
                ready("True", "T1"),
            ],
        ),
    ],
)
def test_merge_reported_conditions(
    existing: list[dict[str, str]], reported: list[dict[str, str]], expected: list[dict[str, str]]
) -> None:
    """Reported conditions are merged by type; Ready's time changes only when its status does."""
    assert merge_reported_conditions(existing, reported) == expected


def labelled(labels: dict[str, str], *, control_plane: bool = False) -> dict[str, Any]:
    all_labels = dict(labels)
    if control_plane:
        all_labels["node-role.kubernetes.io/control-plane"] = ""
    return node(labels=all_labels)


@pytest.mark.parametrize(
    ("nodes", "threshold", "expected"),
    [
        ([], 0.8, {}),
        ([labelled({"node.clusternet.io/zone": "a"})] * 5, 0.8, {"node.clusternet.io/zone": "a"}),
        (
            [labelled({"node.clusternet.io/zone": "a"})] * 4 + [labelled({"node.clusternet.io/zone": "b"})],
            0.8,
            {"node.clusternet.io/zone": "a"},
        ),
        (
            [labelled({"node.clusternet.io/zone": "a"})] * 3 + [labelled({})] * 2,
            0.8,
            {},
        ),
        (
            [labelled({"node.clusternet.io/zone": "a"})] * 3 + [labelled({})] * 2,
            0.6,
            {"node.clusternet.io/zone": "a"},
        ),
        # control-plane nodes neither count nor contribute
        (
            [labelled({"node.clusternet.io/gpu": "yes"})] * 2 + [labelled({}, control_plane=True)] * 3,
            0.8,
            {"node.clusternet.io/gpu": "yes"},
        ),
        # labels without the prefix are ignored
        ([labelled({"topology.kubernetes.io/zone": "a"})] * 3, 0.8, {}),
    ],
)
def test_label_aggregation(nodes: list[dict[str, Any]], threshold: float, expected: dict[str, str]) -> None:
    """A prefixed label reaches the ManagedCluster when its most frequent value is on >= threshold of workers."""
    assert aggregate_node_labels(nodes, prefixes=("node.clusternet.io/",), threshold=threshold) == expected


@pytest.mark.parametrize(
    ("current", "aggregated", "patch"),
    [
        ({}, {}, {}),
        ({"app": "x"}, {"node.clusternet.io/zone": "a"}, {"node.clusternet.io/zone": "a"}),
        ({"node.clusternet.io/zone": "a"}, {"node.clusternet.io/zone": "a"}, {}),
        ({"node.clusternet.io/zone": "a", "app": "x"}, {}, {"node.clusternet.io/zone": None}),
        (
            {"node.clusternet.io/zone": "a"},
            {"node.clusternet.io/zone": "b"},
            {"node.clusternet.io/zone": "b"},
        ),
    ],
)
def test_label_patch_replaces_prefixed_labels_wholesale(
    current: dict[str, str], aggregated: dict[str, str], patch: dict[str, str | None]
) -> None:
    """The merge patch adds, changes and removes prefixed labels, leaving other labels alone."""
    assert replace_prefixed_labels(current, aggregated) == patch


def test_unknown_values_are_left_out_not_sent_empty() -> None:
    """When /version or the CIDRs are unknown, those keys are omitted instead of written as empty strings."""
    unknown = CollectedStatus(
        observed_at=NOW,
        k8s_version="",
        platform="",
        apiserver_url="https://127.0.0.1:6443",
        healthz=False,
        livez=False,
        readyz=False,
        node_statistics={"readyNodes": 0, "notReadyNodes": 0, "unknownNodes": 0, "lostNodes": 0},
        capacity={"cpu": "0", "memory": "0"},
        allocatable={"cpu": "0", "memory": "0"},
    )
    status = build(unknown)
    assert not {"k8sVersion", "platform", "clusterCIDR", "serviceCIDR"} & set(status)
    assert "" not in status.values()
