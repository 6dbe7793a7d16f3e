"""The workloads that run Clusternet for real: hub-lite in the parent, agent-lite in every child.

Each body is a pure function of the few things a user chooses (image, replicas, parent URL, token, sync mode,
cluster name), so ``hub install --image``, ``join`` and the generated ``deploy/hub`` and ``deploy/agent`` files
are one definition and cannot drift apart.

Both daemons ship in one image (see the Dockerfile): the container's ``args`` pick the program. Pods run as an
unprivileged user on a read-only root filesystem; Python only needs a writable ``/tmp`` (client certificates are
written there for the TLS library), which an in-memory ``emptyDir`` provides.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from kubectl_clusternet import __version__

from .errors import UsageError
from .hub import HUB_SERVICE_ACCOUNT, SYSTEM_NAMESPACE
from .registration import RegistrationError, validate_cluster_name, validate_sync_mode

__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_HUB_REPLICAS",
    "DEFAULT_AGENT_REPLICAS",
    "HUB_DEPLOYMENT_NAME",
    "HUB_HEALTHZ_PORT",
    "HUB_PROXY_PORT",
    "HUB_SERVING_SECRET",
    "AGENT_DEPLOYMENT_NAME",
    "AGENT_SERVICE_ACCOUNT",
    "AGENT_ROLE",
    "AGENT_DEPLOYER_BINDING",
    "AGENT_HEALTHZ_PORT",
    "REGISTRATION_SECRET",
    "REGISTRATION_KEY_PARENT_URL",
    "REGISTRATION_KEY_TOKEN",
    "RUN_AS_USER",
    "hub_deployment",
    "hub_proxy_deployment",
    "HUB_PROXY_DEPLOYMENT_NAME",
    "hub_service",
    "hub_apiservice",
    "hub_serving_secret",
    "hub_workload_objects",
    "agent_namespace",
    "agent_rbac_objects",
    "agent_deployment",
    "agent_arguments",
    "registration_secret",
    "registration_secret_template",
    "agent_objects",
    "registration_values",
]

# A local image name, built with `docker build -t kubectl-clusternet:<version> .` and pushed wherever the
# clusters pull from. Unqualified names resolve to Docker Hub's curated "library" namespace, which no stranger
# can publish into, so an unchanged manifest never pulls someone else's image.
DEFAULT_IMAGE = f"kubectl-clusternet:{__version__}"
DEFAULT_HUB_REPLICAS = 3
DEFAULT_AGENT_REPLICAS = 3
RUN_AS_USER = 65532  # the image's "clusternet" user; any non-root UID works

HUB_DEPLOYMENT_NAME = "clusternet-hub"
HUB_PROXY_DEPLOYMENT_NAME = "clusternet-hub-proxy"
HUB_HEALTHZ_PORT = 8080
HUB_PROXY_PORT = 8443  # unprivileged; the Service maps 443 (what the APIService names) onto it
HUB_SERVING_SECRET = "clusternet-hub-serving-cert"
_SERVING_DIR = "/var/run/clusternet/serving"

AGENT_DEPLOYMENT_NAME = "clusternet-agent"
AGENT_SERVICE_ACCOUNT = "clusternet-agent"
AGENT_ROLE = "clusternet:agent:admin"
AGENT_DEPLOYER_BINDING = "clusternet:app:deployer"
DEPLOYER_SERVICE_ACCOUNT = "clusternet-app-deployer"  # its tokens go to the parent (Push mode)
AGENT_HEALTHZ_PORT = 10650  # upstream clusternet-agent's secure port
REGISTRATION_SECRET = "clusternet-agent-cluster-registration"
REGISTRATION_KEY_PARENT_URL = "parentURL"
REGISTRATION_KEY_TOKEN = "regToken"

_PART_OF = {"app.kubernetes.io/part-of": "clusternet", "app.kubernetes.io/managed-by": "kubectl-clusternet"}
_RBAC_GROUP = "rbac.authorization.k8s.io"
_RBAC = f"{_RBAC_GROUP}/v1"


def _labels(app: str | None = None, component: str | None = None) -> dict[str, str]:
    labels = dict(_PART_OF)
    if app:
        labels["app.kubernetes.io/name"] = app
    if component:
        labels["app.kubernetes.io/component"] = component
    return labels


def _meta(
    name: str, namespace: str | None = None, *, app: str | None = None, component: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = _labels(app, component)
    return meta


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- pod building blocks --------------------------------------------------------------------------------


def _pod_security_context() -> dict[str, Any]:
    """Non-root, and files mounted from Secrets readable by the pod's group only."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _resources(cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {
        "requests": {"cpu": cpu_request, "memory": memory_request},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


_TMP_VOLUME = {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}
_TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}


def _spread_by_node(selector: Mapping[str, str]) -> dict[str, Any]:
    """Prefer one replica per node, so losing a node never takes every replica with it."""
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": dict(selector)},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }


def _deployment(
    name: str,
    namespace: str,
    *,
    component: str,
    replicas: int,
    service_account: str,
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
) -> dict[str, Any]:
    if replicas < 1:
        raise UsageError(f"replicas must be at least 1, not {replicas}")
    selector = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, namespace, app=name, component=component),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(selector)},
            "template": {
                "metadata": {"labels": _labels(name, component)},
                "spec": {
                    "serviceAccountName": service_account,
                    "securityContext": _pod_security_context(),
                    "affinity": _spread_by_node(selector),
                    "containers": containers,
                    "volumes": volumes,
                },
            },
        },
    }


# -- the hub, in the parent -----------------------------------------------------------------------------


def hub_deployment(image: str = DEFAULT_IMAGE, replicas: int = DEFAULT_HUB_REPLICAS) -> dict[str, Any]:
    """hub-lite: controllers behind a Lease (one replica works, the others stand by), health on 8080."""
    hub = {
        "name": "hub",
        "image": image,
        "args": [
            "hub-lite",
            "--log-format",
            "json",
            "--healthz-bind-address",
            "0.0.0.0",  # the kubelet probes the pod IP, not loopback
            "--healthz-port",
            str(HUB_HEALTHZ_PORT),
            "--leader-elect=true",
        ],
        "ports": [{"name": "healthz", "containerPort": HUB_HEALTHZ_PORT, "protocol": "TCP"}],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "healthz"},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "healthz"},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": _resources("100m", "128Mi", "1", "512Mi"),
        "securityContext": _container_security_context(),
        "volumeMounts": [dict(_TMP_MOUNT)],
    }
    return _deployment(
        HUB_DEPLOYMENT_NAME,
        SYSTEM_NAMESPACE,
        component="hub",
        replicas=replicas,
        service_account=HUB_SERVICE_ACCOUNT,
        containers=[hub],
        volumes=[dict(_TMP_VOLUME)],
    )


def hub_proxy_deployment(image: str = DEFAULT_IMAGE) -> dict[str, Any]:
    """The proxy (agents' tunnels and ``proxies.clusternet.io`` on 8443): exactly one replica, replaced by
    Recreate. A tunnel lives in the replica the agent dialled, and replicas do not forward requests to each
    other, so a second replica would answer 503 for every cluster whose tunnel it does not hold. Agents
    reconnect within seconds of a restart."""
    proxy = {
        "name": "proxy",
        "image": image,
        "args": [
            "python",
            "-m",
            "hub_lite.proxy_app",
            "--bind-address",
            "0.0.0.0",
            "--port",
            str(HUB_PROXY_PORT),
            "--tls-cert-file",
            f"{_SERVING_DIR}/tls.crt",
            "--tls-private-key-file",
            f"{_SERVING_DIR}/tls.key",
        ],
        "ports": [{"name": "https", "containerPort": HUB_PROXY_PORT, "protocol": "TCP"}],
        "livenessProbe": {"tcpSocket": {"port": "https"}, "initialDelaySeconds": 10, "periodSeconds": 10},
        "readinessProbe": {"tcpSocket": {"port": "https"}, "periodSeconds": 5},
        "resources": _resources("100m", "128Mi", "2", "1Gi"),
        "securityContext": _container_security_context(),
        "volumeMounts": [
            dict(_TMP_MOUNT),
            {"name": "serving-cert", "mountPath": _SERVING_DIR, "readOnly": True},
        ],
    }
    serving_cert = {
        "name": "serving-cert",
        "secret": {"secretName": HUB_SERVING_SECRET, "defaultMode": 0o440},
    }
    deployment = _deployment(
        HUB_PROXY_DEPLOYMENT_NAME,
        SYSTEM_NAMESPACE,
        component="proxy",
        replicas=1,
        service_account=HUB_SERVICE_ACCOUNT,
        containers=[proxy],
        volumes=[dict(_TMP_VOLUME), serving_cert],
    )
    deployment["spec"]["strategy"] = {"type": "Recreate"}
    return deployment


def hub_service() -> dict[str, Any]:
    """Service ``clusternet-system/clusternet-hub``, port 443, in front of the hub's proxy: the name and
    port the APIService ``v1alpha1.proxies.clusternet.io`` sends the aggregator to."""
    from .apiservice import HUB_SERVICE_NAME, HUB_SERVICE_NAMESPACE, HUB_SERVICE_PORT

    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(HUB_SERVICE_NAME, HUB_SERVICE_NAMESPACE, app=HUB_DEPLOYMENT_NAME, component="hub"),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": HUB_PROXY_DEPLOYMENT_NAME},
            "ports": [{"name": "https", "protocol": "TCP", "port": HUB_SERVICE_PORT, "targetPort": "https"}],
        },
    }


def hub_apiservice(ca_bundle_pem: bytes | None = None) -> dict[str, Any]:
    """APIService ``v1alpha1.proxies.clusternet.io``; with the serving Secret's CA the aggregator verifies
    the hub, without one it does not (upstream's ``insecureSkipTLSVerify``)."""
    from .apiservice import apiservice

    return apiservice(ca_bundle_pem)


def hub_serving_secret(cert_pem: bytes, key_pem: bytes, ca_pem: bytes) -> dict[str, Any]:
    """The proxy's serving certificate (names: the hub Service's DNS names) and the CA that signed it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(HUB_SERVING_SECRET, SYSTEM_NAMESPACE, app=HUB_DEPLOYMENT_NAME, component="hub"),
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(cert_pem).decode(),
            "tls.key": base64.b64encode(key_pem).decode(),
            "ca.crt": base64.b64encode(ca_pem).decode(),
        },
    }


def hub_workload_objects(
    image: str = DEFAULT_IMAGE, replicas: int = DEFAULT_HUB_REPLICAS, *, ca_bundle_pem: bytes | None = None
) -> list[dict[str, Any]]:
    """Service, the hub's and the proxy's Deployments, then the APIService, in apply order: the aggregator starts sending requests as
    soon as the APIService exists, so it comes last. The serving Secret is separate (it holds a key)."""
    return [
        hub_service(),
        hub_deployment(image, replicas),
        hub_proxy_deployment(image),
        hub_apiservice(ca_bundle_pem),
    ]


# -- the agent, in each child ---------------------------------------------------------------------------


def agent_namespace() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(SYSTEM_NAMESPACE)}


def _agent_subject() -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": AGENT_SERVICE_ACCOUNT, "namespace": SYSTEM_NAMESPACE}


def _role_ref(kind: str, name: str) -> dict[str, Any]:
    return {"apiGroup": _RBAC_GROUP, "kind": kind, "name": name}


def agent_rbac_objects() -> list[dict[str, Any]]:
    """The agent's identity in the child and what it may do there.

    ``clusternet:agent:admin`` is what the agent itself needs: its Lease (the cluster ID), Secrets
    ``parent-cluster`` and the registration Secret, Events, tokens of ``clusternet-app-deployer`` (published to
    the parent in Secret ``child-cluster-deployer``), all in clusternet-system; reading nodes and pods
    for the status report; the API server's health endpoints. ``clusternet:app:deployer`` binds the same
    account and ``clusternet-app-deployer`` to cluster-admin, as upstream binds its deployer: a Description
    may hold any kind in any
    namespace (the agent applies them in Pull and Dual mode). A cluster that must not grant this can delete
    that one binding; registration and status keep working, deploying does not.
    """
    labels = {"app": AGENT_DEPLOYMENT_NAME, "component": "agent"}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(AGENT_SERVICE_ACCOUNT, SYSTEM_NAMESPACE, **labels),
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(DEPLOYER_SERVICE_ACCOUNT, SYSTEM_NAMESPACE, **labels),
        },
        {
            "apiVersion": _RBAC,
            "kind": "Role",
            "metadata": _meta(AGENT_ROLE, SYSTEM_NAMESPACE, **labels),
            "rules": [
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                },
                {
                    "apiGroups": [""],
                    "resources": ["secrets", "configmaps"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                },
                {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
                {
                    "apiGroups": [""],
                    "resources": ["serviceaccounts"],
                    "resourceNames": [DEPLOYER_SERVICE_ACCOUNT],
                    "verbs": ["get"],
                },
                {
                    "apiGroups": [""],
                    "resources": ["serviceaccounts/token"],
                    "resourceNames": [DEPLOYER_SERVICE_ACCOUNT],
                    "verbs": ["create"],
                },
            ],
        },
        {
            "apiVersion": _RBAC,
            "kind": "RoleBinding",
            "metadata": _meta(AGENT_ROLE, SYSTEM_NAMESPACE, **labels),
            "roleRef": _role_ref("Role", AGENT_ROLE),
            "subjects": [_agent_subject()],
        },
        {
            "apiVersion": _RBAC,
            "kind": "ClusterRole",
            "metadata": _meta(AGENT_ROLE, **labels),
            "rules": [
                {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "create"]},
                {"apiGroups": ["metrics.k8s.io"], "resources": ["nodes", "pods"], "verbs": ["get", "list"]},
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["get", "list", "watch"],
                },
                {"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version"], "verbs": ["get"]},
            ],
        },
        {
            "apiVersion": _RBAC,
            "kind": "ClusterRoleBinding",
            "metadata": _meta(AGENT_ROLE, **labels),
            "roleRef": _role_ref("ClusterRole", AGENT_ROLE),
            "subjects": [_agent_subject()],
        },
        {
            "apiVersion": _RBAC,
            "kind": "ClusterRoleBinding",
            "metadata": _meta(AGENT_DEPLOYER_BINDING, **labels),
            "roleRef": _role_ref("ClusterRole", "cluster-admin"),
            "subjects": [
                _agent_subject(),
                {"kind": "ServiceAccount", "name": DEPLOYER_SERVICE_ACCOUNT, "namespace": SYSTEM_NAMESPACE},
            ],
        },
    ]


def registration_secret(parent_url: str, token: str) -> dict[str, Any]:
    """Secret ``clusternet-system/clusternet-agent-cluster-registration``: upstream's keys, read by the
    agent's Deployment (env ``PARENT_URL``, ``REG_TOKEN``) and by the agent itself as a fallback."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(
            REGISTRATION_SECRET, SYSTEM_NAMESPACE, app=AGENT_DEPLOYMENT_NAME, component="agent"
        ),
        "type": "Opaque",
        "data": {REGISTRATION_KEY_PARENT_URL: _b64(parent_url), REGISTRATION_KEY_TOKEN: _b64(token)},
    }


def registration_secret_template() -> dict[str, Any]:
    """The registration Secret with placeholders to fill in by hand (``stringData``, so no base64 needed).
    The placeholders are not valid values: an agent started with them stops with a clear error."""
    secret = registration_secret("", "")
    del secret["data"]
    secret["stringData"] = {
        REGISTRATION_KEY_PARENT_URL: "https://<parent-apiserver-host>:<port>",
        REGISTRATION_KEY_TOKEN: "<token from: kubectl clusternet create bootstrap-token>",
    }
    return secret


def registration_values(secret: Mapping[str, Any]) -> tuple[str, str]:
    """(parentURL, regToken) of a registration Secret read from a cluster; empty strings where missing."""
    data = secret.get("data") or {}
    values = []
    for key in (REGISTRATION_KEY_PARENT_URL, REGISTRATION_KEY_TOKEN):
        try:
            values.append(base64.b64decode(str(data.get(key) or "")).decode().strip())
        except (ValueError, UnicodeDecodeError):
            values.append("")
    return values[0], values[1]


def agent_arguments(sync_mode: str = "Pull", cluster_name: str | None = None) -> list[str]:
    """agent-lite's command line in the Deployment; the parent URL and token come from the environment.

    The tunnel (SocketConnection) is always on, as in upstream's Deployment; AppPusher goes with the modes
    where the parent deploys (Push, Dual). Raises UsageError for a mode or name the agent would reject.
    """
    app_pusher = sync_mode in ("Push", "Dual")
    try:
        validate_sync_mode(sync_mode, app_pusher=app_pusher)
        if cluster_name:
            validate_cluster_name(cluster_name)
    except RegistrationError as exc:
        raise UsageError(str(exc)) from exc
    gates = "SocketConnection=true" + (",AppPusher=true" if app_pusher else "")
    args = [
        "agent-lite",
        f"--cluster-sync-mode={sync_mode}",
        f"--feature-gates={gates}",
        "--leader-elect=true",
        "--log-format=json",
        f"--healthz-port={AGENT_HEALTHZ_PORT}",
        "--healthz-bind-address=0.0.0.0",  # /metrics for Prometheus on the pod IP
    ]
    if cluster_name:
        args.append(f"--cluster-reg-name={cluster_name}")
    return args


def _loopback_probe(path: str) -> list[str]:
    """Ask agent-lite's health server from inside the container: it listens on loopback unless told to
    bind elsewhere (the Deployment binds every address for /metrics), and the probe works either way."""
    url = f"http://127.0.0.1:{AGENT_HEALTHZ_PORT}{path}"
    return ["python", "-c", f"import urllib.request as r; r.urlopen({url!r}, timeout=3)"]


def _secret_env(variable: str, key: str) -> dict[str, Any]:
    # Optional: once registered the agent runs on the credentials the parent issued, so deleting the
    # registration Secret (and its token) must not stop pods from starting.
    return {
        "name": variable,
        "valueFrom": {"secretKeyRef": {"name": REGISTRATION_SECRET, "key": key, "optional": True}},
    }


def agent_deployment(
    image: str = DEFAULT_IMAGE,
    replicas: int = DEFAULT_AGENT_REPLICAS,
    *,
    sync_mode: str = "Pull",
    cluster_name: str | None = None,
    extra_args: Sequence[str] = (),
) -> dict[str, Any]:
    """agent-lite, leader-elected (the Lease's UID is the cluster ID), credentials in-cluster."""
    container = {
        "name": "agent",
        "image": image,
        "args": [*agent_arguments(sync_mode, cluster_name), *extra_args],
        "ports": [{"name": "metrics", "containerPort": AGENT_HEALTHZ_PORT, "protocol": "TCP"}],
        "env": [
            _secret_env("PARENT_URL", REGISTRATION_KEY_PARENT_URL),
            _secret_env("REG_TOKEN", REGISTRATION_KEY_TOKEN),
        ],
        "livenessProbe": {
            "exec": {"command": _loopback_probe("/healthz")},
            "initialDelaySeconds": 10,
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "exec": {"command": _loopback_probe("/readyz")},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": _resources("50m", "96Mi", "500m", "384Mi"),
        "securityContext": _container_security_context(),
        "volumeMounts": [dict(_TMP_MOUNT)],
    }
    return _deployment(
        AGENT_DEPLOYMENT_NAME,
        SYSTEM_NAMESPACE,
        component="agent",
        replicas=replicas,
        service_account=AGENT_SERVICE_ACCOUNT,
        containers=[container],
        volumes=[dict(_TMP_VOLUME)],
    )


def agent_objects(
    parent_url: str,
    token: str,
    *,
    image: str = DEFAULT_IMAGE,
    replicas: int = DEFAULT_AGENT_REPLICAS,
    sync_mode: str = "Pull",
    cluster_name: str | None = None,
) -> list[dict[str, Any]]:
    """Everything ``join`` puts into a child, in apply order: namespace, identity and RBAC, the registration
    Secret, and the Deployment last so its pods start with everything they read already in place."""
    return [
        agent_namespace(),
        *agent_rbac_objects(),
        registration_secret(parent_url, token),
        agent_deployment(image, replicas, sync_mode=sync_mode, cluster_name=cluster_name),
    ]
