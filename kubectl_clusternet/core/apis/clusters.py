"""``clusters.clusternet.io/v1beta1``: how clusters ask to join (ClusterRegistrationRequest) and what the parent
knows of them (ManagedCluster). Field names, defaults and columns follow upstream Clusternet exactly."""

from __future__ import annotations

from .model import AGE_COLUMN, PrinterColumn, ResourceType
from .schema import (
    array,
    boolean,
    byte_string,
    condition,
    date_time,
    integer,
    number,
    obj,
    quantity,
    string,
    string_map,
    taint,
)

__all__ = [
    "GROUP",
    "VERSION",
    "CLUSTER_REGISTRATION_REQUEST",
    "MANAGED_CLUSTER",
    "SYNC_MODES",
    "CLUSTER_TYPES",
]

GROUP = "clusters.clusternet.io"
VERSION = "v1beta1"
CATEGORIES = ("clusternet",)

SYNC_MODES = ("Push", "Pull", "Dual")
CLUSTER_TYPES = ("StandardCluster", "EdgeCluster")
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

_resource_list = {
    "type": "object",
    "additionalProperties": quantity(),
    "description": "Quantities by resource name.",
}


CLUSTER_REGISTRATION_REQUEST = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="ClusterRegistrationRequest",
    plural="clusterregistrationrequests",
    singular="clusterregistrationrequest",
    namespaced=False,
    short_names=("clsrr",),
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("CLUSTER ID", "string", ".spec.clusterId", description="The unique id for the cluster"),
        PrinterColumn("STATUS", "string", ".status.result", description="The status of the request"),
        AGE_COLUMN,
    ),
    status_subresource=True,
    schema=obj(
        {
            "apiVersion": string(),
            "kind": string(),
            "metadata": obj(),
            "spec": obj(
                {
                    "clusterId": string("ClusterID, a Random (Version 4) UUID.", pattern=UUID_PATTERN),
                    "clusterType": string("ClusterType denotes the type of the cluster."),
                    "clusterName": string(
                        "ClusterName is the cluster name.",
                        max_length=30,
                        pattern=r"[a-z0-9]([-a-z0-9]*[a-z0-9])?",
                    ),
                    "clusterNamespace": string(
                        "ClusterNamespace is the dedicated namespace of the cluster.",
                        max_length=63,
                        pattern=r"[a-z0-9]([-a-z0-9]*[a-z0-9])?",
                    ),
                    "clusterLabels": string_map("ClusterLabels is the labels of the child cluster."),
                    "syncMode": string(
                        "SyncMode decides how to sync resources from parent cluster to child cluster.",
                        enum=SYNC_MODES,
                        default="Pull",
                    ),
                },
                required=("clusterId",),
            ),
            "status": obj(
                {
                    "dedicatedNamespace": string(
                        "DedicatedNamespace is the dedicated namespace of the cluster."
                    ),
                    "token": byte_string("Token is the ServiceAccount token used by the agent."),
                    "caCertificate": byte_string("CACertificate is the public certificate of the parent."),
                    "result": string(
                        "Result indicates whether this request has been approved.",
                        enum=("Approved", "Denied", "Failed"),
                    ),
                    "errorMessage": string("ErrorMessage tells the reason why the request is not approved."),
                    "managedClusterName": string(
                        "ManagedClusterName is the name of the ManagedCluster object."
                    ),
                }
            ),
        },
        required=("spec",),
    ),
)


MANAGED_CLUSTER = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="ManagedCluster",
    plural="managedclusters",
    singular="managedcluster",
    namespaced=True,
    short_names=("mcls",),
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("CLUSTER ID", "string", ".spec.clusterId", description="The unique id for the cluster"),
        PrinterColumn(
            "CLUSTER TYPE", "string", ".spec.clusterType", priority=100, description="The type of the cluster"
        ),
        PrinterColumn("SYNC MODE", "string", ".spec.syncMode", description="The cluster sync mode"),
        PrinterColumn("KUBERNETES", "string", ".status.k8sVersion", description="The Kubernetes version"),
        PrinterColumn(
            "STATUS",
            "string",
            ".status.conditions[?(@.type=='Ready')].status",
            description="The cluster readiness",
        ),
        AGE_COLUMN,
        PrinterColumn(
            "AGENT VERSION",
            "string",
            ".status.agentVersion",
            priority=100,
            description="The version of the agent",
        ),
    ),
    status_subresource=True,
    schema=obj(
        {
            "apiVersion": string(),
            "kind": string(),
            "metadata": obj(),
            "spec": obj(
                {
                    "clusterId": string("ClusterID, a Random (Version 4) UUID.", pattern=UUID_PATTERN),
                    "clusterType": string("ClusterType denotes the type of the cluster."),
                    "syncMode": string(
                        "SyncMode decides how to sync resources from parent cluster to child cluster.",
                        enum=SYNC_MODES,
                        default="Pull",
                    ),
                    "clusterInitBaseName": string(
                        "ClusterInitBaseName is the name of the Base for initializing the cluster.",
                        max_length=512,
                    ),
                    "taints": array(taint(), "Taints attached to the cluster."),
                },
                required=("clusterId", "syncMode"),
            ),
            "status": obj(
                {
                    "lastObservedTime": date_time("The last time the agent observed the cluster."),
                    "k8sVersion": string("The Kubernetes version of the cluster."),
                    "agentVersion": string("The version of the agent."),
                    "platform": string("The platform of the cluster, such as linux/amd64."),
                    "apiserverURL": string("The API server URL as seen by the agent."),
                    "healthz": boolean(),
                    "livez": boolean(),
                    "readyz": boolean(),
                    "appPusher": boolean("Whether the agent lets the parent push applications."),
                    "useSocket": boolean("Whether the agent keeps a websocket tunnel to the hub."),
                    "kubeQPS": number("QPS the agent's client to the child uses."),
                    "kubeBurst": integer(fmt="int32"),
                    "allocatable": _resource_list,
                    "capacity": _resource_list,
                    "clusterCIDR": string("The pod CIDR of the cluster."),
                    "serviceCIDR": string("The Service CIDR of the cluster."),
                    "nodeStatistics": obj(
                        {
                            "readyNodes": integer(),
                            "notReadyNodes": integer(),
                            "unknownNodes": integer(),
                            "lostNodes": integer(),
                        }
                    ),
                    "podStatistics": obj({"runningPods": integer(), "totalPods": integer()}),
                    "resourceUsage": obj({"cpuUsage": quantity(), "memoryUsage": quantity()}),
                    "conditions": array(condition(), "Conditions of the cluster, such as Ready."),
                    "heartbeatFrequencySeconds": integer(fmt="int64"),
                    "predictorEnabled": boolean(),
                    "predictorAddress": string(),
                    "predictorDirectAccess": boolean(),
                }
            ),
        },
        required=("spec",),
    ),
)
