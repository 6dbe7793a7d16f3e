"""The objects that put the hub behind the parent's aggregation layer, and the discovery it serves.

kube-apiserver sends ``/apis/proxies.clusternet.io/v1alpha1/...`` to the hub once an APIService names a
Service for it. Without ``--enable-aggregator-routing`` the aggregator dials the Service's cluster IP and
port, never the Endpoints; it only checks that an Endpoints object with an address exists. So a local hub
(design.md section 5) gets a Service whose explicit ``clusterIP`` is a loopback address it listens on, and
Endpoints with a documentation address (192.0.2.x), since Endpoints may not hold loopback addresses and
nothing is ever sent there.
"""

from __future__ import annotations

import base64
from typing import Any

from .proxy import GROUP, GROUP_VERSION, VERSION

__all__ = [
    "APISERVICE_NAME",
    "HUB_SERVICE_NAME",
    "HUB_SERVICE_NAMESPACE",
    "HUB_SERVICE_PORT",
    "DOCUMENTATION_ENDPOINT_IP",
    "GROUP_PRIORITY_MINIMUM",
    "VERSION_PRIORITY",
    "apiservice",
    "hub_service",
    "hub_endpoints",
    "hub_service_dns_names",
    "hub_delegation_rbac",
    "socket_impersonation_rule",
    "api_group",
    "api_group_list",
    "api_resource_list",
]

APISERVICE_NAME = f"{VERSION}.{GROUP}"
HUB_SERVICE_NAME = "clusternet-hub"
HUB_SERVICE_NAMESPACE = "clusternet-system"
HUB_SERVICE_PORT = 443
DOCUMENTATION_ENDPOINT_IP = "192.0.2.10"  # RFC 5737 TEST-NET-1: valid in Endpoints, never dialled
GROUP_PRIORITY_MINIMUM = 1000
VERSION_PRIORITY = 100
_LABELS = {"app.kubernetes.io/part-of": "clusternet", "app.kubernetes.io/managed-by": "kubectl-clusternet"}


def apiservice(
    ca_bundle_pem: bytes | None,
    *,
    service_name: str = HUB_SERVICE_NAME,
    service_namespace: str = HUB_SERVICE_NAMESPACE,
    port: int = HUB_SERVICE_PORT,
) -> dict[str, Any]:
    """APIService ``v1alpha1.proxies.clusternet.io``; without a CA bundle, TLS to the hub is not verified
    (upstream's default, ``insecureSkipTLSVerify``)."""
    spec: dict[str, Any] = {
        "group": GROUP,
        "version": VERSION,
        "groupPriorityMinimum": GROUP_PRIORITY_MINIMUM,
        "versionPriority": VERSION_PRIORITY,
        "service": {"name": service_name, "namespace": service_namespace, "port": port},
    }
    if ca_bundle_pem:
        spec["caBundle"] = base64.b64encode(ca_bundle_pem).decode()
    else:
        spec["insecureSkipTLSVerify"] = True
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": APISERVICE_NAME, "labels": dict(_LABELS)},
        "spec": spec,
    }


def hub_service(
    cluster_ip: str | None = None,
    *,
    name: str = HUB_SERVICE_NAME,
    namespace: str = HUB_SERVICE_NAMESPACE,
    port: int = HUB_SERVICE_PORT,
    target_port: int | None = None,
) -> dict[str, Any]:
    """The hub's Service; selector-less so the Endpoints below stay ours. ``cluster_ip`` pins the address
    the aggregator dials (a loopback address for a hub running beside a local parent)."""
    spec: dict[str, Any] = {
        "type": "ClusterIP",
        "ports": [{"name": "https", "protocol": "TCP", "port": port, "targetPort": target_port or port}],
    }
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(_LABELS)},
        "spec": spec,
    }


def hub_endpoints(
    address: str = DOCUMENTATION_ENDPOINT_IP,
    *,
    name: str = HUB_SERVICE_NAME,
    namespace: str = HUB_SERVICE_NAMESPACE,
    port: int = HUB_SERVICE_PORT,
) -> dict[str, Any]:
    """Endpoints the APIService availability check wants to see; the address is never dialled."""
    return {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(_LABELS)},
        "subsets": [
            {"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
        ],
    }


def hub_service_dns_names(name: str = HUB_SERVICE_NAME, namespace: str = HUB_SERVICE_NAMESPACE) -> list[str]:
    """The names the aggregator checks the hub's serving certificate against (it uses the ``.svc`` one)."""
    return [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]


def hub_delegation_rbac(service_account: str, namespace: str = HUB_SERVICE_NAMESPACE) -> list[dict[str, Any]]:
    """What any extension API server's identity needs: TokenReview and SubjectAccessReview
    (``system:auth-delegator``) and reading ``kube-system/extension-apiserver-authentication``."""
    subject = {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
    rbac = "rbac.authorization.k8s.io"
    return [
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "clusternet-hub:system:auth-delegator", "labels": dict(_LABELS)},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "system:auth-delegator"},
            "subjects": [subject],
        },
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": {
                "name": "clusternet-hub:extension-apiserver-authentication-reader",
                "namespace": "kube-system",
                "labels": dict(_LABELS),
            },
            "roleRef": {
                "apiGroup": rbac,
                "kind": "Role",
                "name": "extension-apiserver-authentication-reader",
            },
            "subjects": [subject],
        },
    ]


def socket_impersonation_rule() -> dict[str, Any]:
    """The extras child mode's ``--clusternet-as``/``--clusternet-as-group`` need to impersonate, in the
    parent; upstream's socketsproxy role lacks them (reference section 11), so child impersonation fails there."""
    return {
        "apiGroups": ["authentication.k8s.io"],
        "resources": [
            "userextras/clusternet-impersonate-user",
            "userextras/clusternet-impersonate-uid",
            "userextras/clusternet-impersonate-group",
        ],
        "verbs": ["impersonate"],
    }


def _group_version() -> dict[str, str]:
    return {"groupVersion": GROUP_VERSION, "version": VERSION}


def api_group() -> dict[str, Any]:
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": GROUP,
        "versions": [_group_version()],
        "preferredVersion": _group_version(),
    }


def api_group_list() -> dict[str, Any]:
    group = api_group()
    del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}


def api_resource_list() -> dict[str, Any]:
    """``sockets`` (connect-only, cluster-scoped, short name ``ss``, category ``clusternet``) and
    ``sockets/proxy``, as upstream's hub registers them."""
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": GROUP_VERSION,
        "resources": [
            {
                "name": "sockets",
                "singularName": "socket",
                "namespaced": False,
                "kind": "Socket",
                "verbs": [],
                "shortNames": ["ss"],
                "categories": ["clusternet"],
            },
            {"name": "sockets/proxy", "singularName": "", "namespaced": False, "kind": "Socket", "verbs": []},
        ],
    }
