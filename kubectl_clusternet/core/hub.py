"""The objects ``kubectl clusternet hub install`` puts into a parent cluster, built in code so the CLI, the
generated ``deploy/`` files and the tests all share one definition."""

from __future__ import annotations

from typing import Any

from .apis import CLUSTERNET_TYPES
from .apis.crds import custom_resource_definition
from .apiservice import socket_impersonation_rule

__all__ = [
    "SYSTEM_NAMESPACE",
    "RESERVED_NAMESPACE",
    "BOOTSTRAP_GROUP",
    "BOOTSTRAPPING_ROLE",
    "SOCKETS_PROXY_ROLE",
    "HUB_SERVICE_ACCOUNT",
    "HUB_PROXY_SERVICE_ACCOUNT",
    "hub_objects",
    "install_objects",
]

SYSTEM_NAMESPACE = "clusternet-system"
RESERVED_NAMESPACE = "clusternet-reserved"
BOOTSTRAP_GROUP = "system:bootstrappers:clusternet:register-cluster-token"
BOOTSTRAPPING_ROLE = "clusternet:system:bootstrapping"
SOCKETS_PROXY_ROLE = "clusternet:system:socketsproxy"
HUB_SERVICE_ACCOUNT = "clusternet-hub"
HUB_PROXY_SERVICE_ACCOUNT = "clusternet-hub-proxy"
_LABELS = {"app.kubernetes.io/part-of": "clusternet", "app.kubernetes.io/managed-by": "kubectl-clusternet"}
_RBAC = "rbac.authorization.k8s.io/v1"


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(_LABELS)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(name)}


def _service_account(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, SYSTEM_NAMESPACE)}


def _cluster_role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": _RBAC, "kind": "ClusterRole", "metadata": _meta(name), "rules": rules}


def _cluster_role_binding(name: str, role: str, subjects: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": _RBAC,
        "kind": "ClusterRoleBinding",
        "metadata": _meta(name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def _group(name: str) -> dict[str, Any]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}


def _service_account_subject(name: str) -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": name, "namespace": SYSTEM_NAMESPACE}


def hub_objects() -> list[dict[str, Any]]:
    """Namespaces, the registration and proxy RBAC, and the hub's identities, in apply order."""
    return [
        _namespace(SYSTEM_NAMESPACE),
        _namespace(RESERVED_NAMESPACE),
        # Bootstrap tokens may only create and read registration requests, and poll them by name.
        _cluster_role(
            BOOTSTRAPPING_ROLE,
            [
                {
                    "apiGroups": ["clusters.clusternet.io"],
                    "resources": ["clusterregistrationrequests"],
                    "verbs": ["create", "get"],
                }
            ],
        ),
        _cluster_role_binding(BOOTSTRAPPING_ROLE, BOOTSTRAPPING_ROLE, [_group(BOOTSTRAP_GROUP)]),
        # Anyone may ask the hub to proxy; the child cluster's own RBAC decides with the forwarded credentials.
        _cluster_role(
            SOCKETS_PROXY_ROLE,
            [
                {"apiGroups": ["proxies.clusternet.io"], "resources": ["sockets/proxy"], "verbs": ["*"]},
                {
                    "apiGroups": [""],
                    "resources": ["users"],
                    "verbs": ["impersonate"],
                    "resourceNames": ["clusternet"],
                },
                {
                    "apiGroups": ["authentication.k8s.io"],
                    "resources": [
                        "userextras/clusternet-token",
                        "userextras/clusternet-certificate",
                        "userextras/clusternet-privatekey",
                    ],
                    "verbs": ["impersonate"],
                },
                socket_impersonation_rule(),
            ],
        ),
        _cluster_role_binding(
            SOCKETS_PROXY_ROLE,
            SOCKETS_PROXY_ROLE,
            [
                _group("system:authenticated"),
                _group("system:unauthenticated"),
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"},
                _service_account_subject(HUB_PROXY_SERVICE_ACCOUNT),
            ],
        ),
        _service_account(HUB_SERVICE_ACCOUNT),
        _service_account(HUB_PROXY_SERVICE_ACCOUNT),
        _cluster_role_binding(
            "clusternet:hub", "cluster-admin", [_service_account_subject(HUB_SERVICE_ACCOUNT)]
        ),
    ]


def install_objects() -> list[dict[str, Any]]:
    """Everything ``hub install`` applies: the CRDs first, then the hub objects."""
    return [custom_resource_definition(t) for t in CLUSTERNET_TYPES] + hub_objects()
