"""``apps.clusternet.io/v1alpha1``: what to deploy (feeds, Subscriptions, HelmCharts), how it is overridden
(Localization, Globalization) and what the parent renders per cluster (Base, Description, HelmRelease).
Field names, defaults and columns follow upstream Clusternet exactly."""

from __future__ import annotations

from .model import AGE_COLUMN, PrinterColumn, ResourceType
from .schema import (
    Schema,
    array,
    boolean,
    byte_string,
    integer,
    label_selector,
    obj,
    preserve_unknown,
    quantity,
    string,
    string_map,
    toleration,
)

__all__ = [
    "GROUP",
    "VERSION",
    "SUBSCRIPTION",
    "BASE",
    "DESCRIPTION",
    "HELM_CHART",
    "HELM_RELEASE",
    "LOCALIZATION",
    "GLOBALIZATION",
    "MANIFEST",
    "FEED_INVENTORY",
    "OVERRIDE_TYPES",
]

GROUP = "apps.clusternet.io"
VERSION = "v1alpha1"
CATEGORIES = ("clusternet",)
OVERRIDE_TYPES = ("Helm", "JSONPatch", "MergePatch", "FieldJSONPatch", "FieldMergePatch")


def _envelope(properties: dict[str, Schema], *, required: tuple[str, ...] = ()) -> Schema:
    return obj(
        {"apiVersion": string(), "kind": string(), "metadata": obj(), **properties},
        required=required,
    )


def _feed_properties() -> dict[str, Schema]:
    return {
        "apiVersion": string("APIVersion defines the versioned schema of this representation of an object."),
        "kind": string("Kind is a string value representing the REST resource this object represents."),
        "namespace": string("Namespace of the target resource."),
        "name": string("Name of the target resource."),
    }


def _feed() -> Schema:
    return obj(_feed_properties(), required=("apiVersion", "kind", "name"))


def _helm_options() -> dict[str, Schema]:
    return {
        "repo": string("A Helm chart repository URL.", pattern=r"^(http|https|oci)?://.+$"),
        "chartPullSecret": obj(
            {"name": string(), "namespace": string()},
            description="The Secret (keys username and password) to pull the chart with.",
        ),
        "plainHTTP": boolean("Use insecure HTTP connections for OCI chart downloads."),
        "chart": string("The chart's name."),
        "version": string("The chart's version; empty means the latest."),
        "createNamespace": boolean("Create the release namespace if not present.", default=True),
        "timeoutSeconds": integer("Timeout for Helm operations.", minimum=0, default=300),
        "wait": boolean("Wait until all resources are ready before marking the release successful."),
        "waitForJob": boolean("Wait until all Jobs have completed before marking the release successful."),
        "replace": boolean("Re-use the given name, only if that name is a deleted release."),
        "atomic": boolean("Roll back the installation on failure."),
        "upgradeAtomic": boolean("Roll back the upgrade on failure."),
        "skipCRDs": boolean("Do not install CRDs."),
        "replaceCRDs": boolean("Replace CRDs on upgrade."),
        "disableHooks": boolean("Do not run hooks."),
        "force": boolean("Force resource updates through a replacement strategy on upgrade."),
    }


def _helm_columns() -> tuple[PrinterColumn, ...]:
    return (
        PrinterColumn("CHART", "string", ".spec.chart", description="The helm chart name"),
        PrinterColumn("VERSION", "string", ".spec.version", description="The helm chart version"),
        PrinterColumn("REPO", "string", ".spec.repo", description="The helm repo url"),
        PrinterColumn("STATUS", "string", ".status.phase", description="The helm chart status"),
        AGE_COLUMN,
    )


def _override_spec(*, cluster_scoped: bool) -> Schema:
    properties: dict[str, Schema] = {
        "overridePolicy": string(
            "ApplyNow re-renders at once when the override changes; ApplyLater waits for the next change.",
            enum=("ApplyNow", "ApplyLater"),
            default="ApplyLater",
        ),
        "overrides": array(
            obj(
                {
                    "name": string("Name of the override."),
                    "value": string("Value in YAML or JSON."),
                    "type": string("How the value is applied.", enum=OVERRIDE_TYPES),
                    "overrideChart": boolean("Helm type only: patch the HelmChart object itself."),
                    "fieldPath": string("JSON pointer to a string field holding a JSON or YAML document."),
                    "fieldFormat": string("Format of the document at fieldPath.", enum=("YAML", "JSON")),
                },
                required=("type", "value"),
            )
        ),
        "priority": integer(
            "Higher priority is applied later and so wins.", minimum=0, maximum=1000, default=500
        ),
        "feed": _feed(),
    }
    if cluster_scoped:
        properties["clusterAffinity"] = label_selector(
            "Clusters this Globalization applies to; empty means all."
        )
    return obj(properties, required=("feed",))


SUBSCRIPTION = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="Subscription",
    plural="subscriptions",
    singular="subscription",
    namespaced=True,
    short_names=("sub", "subs"),
    categories=CATEGORIES,
    status_subresource=True,
    schema=_envelope(
        {
            "spec": obj(
                {
                    "schedulerName": string(
                        "The scheduler that schedules this Subscription.", default="default"
                    ),
                    "schedulingBySubGroup": boolean("Schedule each subscriber group separately."),
                    "schedulingStrategy": string(
                        "Replication deploys to every matching cluster; Dividing splits replicas.",
                        enum=("Replication", "Dividing"),
                        default="Replication",
                    ),
                    "dividingScheduling": obj(
                        {
                            "type": string(enum=("Static", "Dynamic"), default="Static"),
                            "dynamicDividing": obj(
                                {
                                    "strategy": string(enum=("Spread", "Binpack"), default="Spread"),
                                    "topologySpreadConstraints": array(preserve_unknown()),
                                    "preferredClusters": array(preserve_unknown()),
                                    "minClusters": integer(),
                                    "maxClusters": integer(),
                                },
                                required=("strategy",),
                            ),
                        },
                        required=("type",),
                    ),
                    "priority": integer("Higher priority Subscriptions are scheduled first."),
                    "preemptionPolicy": string(
                        enum=("PreemptLowerPriority", "PreemptNever"), default="PreemptLowerPriority"
                    ),
                    "subscribers": array(
                        obj(
                            {
                                "clusterAffinity": label_selector("ManagedClusters this subscriber selects."),
                                "weight": integer("Static weight for Dividing.", minimum=0),
                                "subGroupStrategy": obj({"minClusters": integer(minimum=0)}),
                            },
                            required=("clusterAffinity",),
                        )
                    ),
                    "clusterTolerations": array(toleration(), "Tolerations for ManagedCluster taints."),
                    "feeds": array(_feed(), "The resources to deploy."),
                },
                required=("subscribers", "feeds"),
            ),
            "status": obj(
                {
                    "bindingClusters": array(string(), "Bound ManagedClusters as <namespace>/<name>."),
                    "replicas": {
                        "type": "object",
                        "additionalProperties": array(integer()),
                        "description": "Replicas per feed, aligned with bindingClusters.",
                    },
                    "specHash": integer(fmt="int64"),
                    "desiredReleases": integer(),
                    "completedReleases": integer(),
                    "aggregatedStatuses": array(
                        obj(
                            {
                                **_feed_properties(),
                                "feedStatusSummary": preserve_unknown(),
                                "feedStatusDetails": array(
                                    obj(
                                        {
                                            "clusterId": string(),
                                            "clusterName": string(),
                                            "available": boolean(),
                                            "replicaStatus": preserve_unknown(),
                                        }
                                    )
                                ),
                            }
                        )
                    ),
                }
            ),
        },
        required=("spec",),
    ),
)

BASE = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="Base",
    plural="bases",
    singular="base",
    namespaced=True,
    categories=CATEGORIES,
    schema=_envelope({"spec": obj({"feeds": array(_feed())}, required=("feeds",))}, required=("spec",)),
)

DESCRIPTION = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="Description",
    plural="descriptions",
    singular="description",
    namespaced=True,
    short_names=("desc",),
    categories=CATEGORIES,
    printer_columns=(
        PrinterColumn("DEPLOYER", "string", ".spec.deployer", description="The deployer for the description"),
        PrinterColumn("STATUS", "string", ".status.phase", description="The status of the description"),
        AGE_COLUMN,
    ),
    status_subresource=True,
    schema=_envelope(
        {
            "spec": obj(
                {
                    "deployer": string("Who renders the objects.", enum=("Helm", "Generic")),
                    "charts": array(
                        obj({"namespace": string(), "name": string()}, required=("namespace", "name"))
                    ),
                    "raw": array(byte_string(), "Rendered objects (Generic) or per-chart values (Helm)."),
                    "chartRaw": array(byte_string(), "Rendered HelmChart objects (Helm)."),
                },
                required=("deployer",),
            ),
            "status": obj(
                {
                    "phase": string(
                        enum=(
                            "Pending",
                            "Success",
                            "Failure",
                            "Installing",
                            "Upgrading",
                            "Uninstalling",
                            "Superseded",
                            "Unknown",
                        )
                    ),
                    "reason": string(),
                    "manifestStatuses": array(
                        obj({**_feed_properties(), "observedStatus": preserve_unknown()})
                    ),
                }
            ),
        },
        required=("spec",),
    ),
)

HELM_CHART = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="HelmChart",
    plural="helmcharts",
    singular="helmchart",
    namespaced=True,
    short_names=("chart", "charts"),
    categories=CATEGORIES,
    printer_columns=_helm_columns(),
    status_subresource=True,
    schema=_envelope(
        {
            "spec": obj(
                {**_helm_options(), "targetNamespace": string("The namespace the release is installed in.")},
                required=("repo", "chart", "targetNamespace"),
            ),
            "status": obj({"phase": string(enum=("Found", "NotFound")), "reason": string()}),
        },
        required=("spec",),
    ),
)

HELM_RELEASE = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="HelmRelease",
    plural="helmreleases",
    singular="helmrelease",
    namespaced=True,
    short_names=("hr",),
    categories=CATEGORIES,
    printer_columns=_helm_columns(),
    status_subresource=True,
    schema=_envelope(
        {
            "spec": obj(
                {
                    **_helm_options(),
                    "releaseName": string("The release name; the object name when empty."),
                    "targetNamespace": string("The namespace the release is installed in."),
                    "overrides": byte_string("Values as JSON."),
                },
                required=("repo", "chart", "targetNamespace"),
            ),
            "status": obj(
                {
                    "firstDeployed": string(),
                    "lastDeployed": string(),
                    "description": string(),
                    "phase": string(),
                    "notes": string(),
                    "version": integer(),
                }
            ),
        },
        required=("spec",),
    ),
)

LOCALIZATION = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="Localization",
    plural="localizations",
    singular="localization",
    namespaced=True,
    short_names=("loc", "local"),
    categories=CATEGORIES,
    schema=_envelope({"spec": _override_spec(cluster_scoped=False)}, required=("spec",)),
)

GLOBALIZATION = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="Globalization",
    plural="globalizations",
    singular="globalization",
    namespaced=False,
    short_names=("glob", "global"),
    categories=CATEGORIES,
    schema=_envelope({"spec": _override_spec(cluster_scoped=True)}, required=("spec",)),
)

MANIFEST = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="Manifest",
    plural="manifests",
    singular="manifest",
    namespaced=True,
    categories=CATEGORIES,
    schema=_envelope({"template": preserve_unknown("The object to distribute, as the user wrote it.")}),
)

FEED_INVENTORY = ResourceType(
    group=GROUP,
    version=VERSION,
    kind="FeedInventory",
    plural="feedinventories",
    singular="feedinventory",
    namespaced=True,
    short_names=("finv",),
    categories=CATEGORIES,
    printer_columns=(),
    schema=_envelope(
        {
            "spec": obj(
                {
                    "feeds": array(
                        obj(
                            {
                                **_feed_properties(),
                                "desiredReplicas": integer(),
                                "replicaRequirements": obj(
                                    {
                                        "nodeSelector": string_map(),
                                        "tolerations": array(toleration()),
                                        "affinity": preserve_unknown(),
                                        "resources": obj(
                                            {
                                                "limits": {
                                                    "type": "object",
                                                    "additionalProperties": quantity(),
                                                },
                                                "requests": {
                                                    "type": "object",
                                                    "additionalProperties": quantity(),
                                                },
                                            }
                                        ),
                                    }
                                ),
                                "replicaJsonPath": string(),
                            },
                            required=("apiVersion", "kind", "name"),
                        )
                    )
                },
                required=("feeds",),
            )
        },
        required=("spec",),
    ),
)
