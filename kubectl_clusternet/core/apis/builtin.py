"""The built-in Kubernetes kinds the toolkit itself reads or writes, with kubectl's table columns."""

from __future__ import annotations

from .model import AGE_COLUMN, PrinterColumn, ResourceType

__all__ = [
    "NAMESPACE",
    "SERVICE_ACCOUNT",
    "SECRET",
    "CONFIG_MAP",
    "SERVICE",
    "EVENT",
    "NODE",
    "CLUSTER_ROLE",
    "CLUSTER_ROLE_BINDING",
    "ROLE",
    "ROLE_BINDING",
    "CUSTOM_RESOURCE_DEFINITION",
    "API_SERVICE",
    "DEPLOYMENT",
    "LEASE",
    "BUILTIN_TYPES",
    "find_builtin",
]


def _core(
    kind: str, plural: str, namespaced: bool, *columns: PrinterColumn, short: tuple[str, ...] = ()
) -> ResourceType:
    return ResourceType(
        group="",
        version="v1",
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=short,
        printer_columns=columns or (AGE_COLUMN,),
    )


NAMESPACE = _core(
    "Namespace",
    "namespaces",
    False,
    PrinterColumn("STATUS", "string", ".status.phase"),
    AGE_COLUMN,
    short=("ns",),
)
SERVICE_ACCOUNT = _core("ServiceAccount", "serviceaccounts", True, short=("sa",))
SECRET = _core("Secret", "secrets", True, PrinterColumn("TYPE", "string", ".type"), AGE_COLUMN)
CONFIG_MAP = _core("ConfigMap", "configmaps", True, short=("cm",))
SERVICE = _core(
    "Service",
    "services",
    True,
    PrinterColumn("TYPE", "string", ".spec.type"),
    PrinterColumn("CLUSTER-IP", "string", ".spec.clusterIP"),
    PrinterColumn("EXTERNAL-IP", "string", ".status.loadBalancer.ingress[0].ip"),
    PrinterColumn("PORT(S)", "string", ".spec.ports[0].port"),
    AGE_COLUMN,
    PrinterColumn("SELECTOR", "string", ".spec.selector", priority=1),
    short=("svc",),
)
EVENT = _core("Event", "events", True, short=("ev",))
NODE = _core("Node", "nodes", False, short=("no",))


def _typed(
    group: str, version: str, kind: str, plural: str, namespaced: bool, short: tuple[str, ...] = ()
) -> ResourceType:
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=short,
    )


_RBAC = "rbac.authorization.k8s.io"
CLUSTER_ROLE = _typed(_RBAC, "v1", "ClusterRole", "clusterroles", False)
CLUSTER_ROLE_BINDING = _typed(_RBAC, "v1", "ClusterRoleBinding", "clusterrolebindings", False)
ROLE = _typed(_RBAC, "v1", "Role", "roles", True)
ROLE_BINDING = _typed(_RBAC, "v1", "RoleBinding", "rolebindings", True)
CUSTOM_RESOURCE_DEFINITION = _typed(
    "apiextensions.k8s.io",
    "v1",
    "CustomResourceDefinition",
    "customresourcedefinitions",
    False,
    ("crd", "crds"),
)
API_SERVICE = _typed("apiregistration.k8s.io", "v1", "APIService", "apiservices", False)
DEPLOYMENT = ResourceType(
    group="apps",
    version="v1",
    kind="Deployment",
    plural="deployments",
    singular="deployment",
    namespaced=True,
    short_names=("deploy",),
    printer_columns=(
        PrinterColumn("READY", "string", ".status.readyReplicas"),
        PrinterColumn("UP-TO-DATE", "integer", ".status.updatedReplicas"),
        PrinterColumn("AVAILABLE", "integer", ".status.availableReplicas"),
        AGE_COLUMN,
        PrinterColumn("CONTAINERS", "string", ".spec.template.spec.containers[0].name", priority=1),
        PrinterColumn("IMAGES", "string", ".spec.template.spec.containers[0].image", priority=1),
    ),
)
LEASE = _typed("coordination.k8s.io", "v1", "Lease", "leases", True)

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    NAMESPACE,
    SERVICE_ACCOUNT,
    SECRET,
    CONFIG_MAP,
    SERVICE,
    EVENT,
    NODE,
    CLUSTER_ROLE,
    CLUSTER_ROLE_BINDING,
    ROLE,
    ROLE_BINDING,
    CUSTOM_RESOURCE_DEFINITION,
    API_SERVICE,
    DEPLOYMENT,
    LEASE,
)


def find_builtin(api_version: str, kind: str) -> ResourceType | None:
    for resource_type in BUILTIN_TYPES:
        if resource_type.api_version == api_version and resource_type.kind == kind:
            return resource_type
    return None
