"""Child mode (``--cluster-id X --child-kubeconfig F``): the kubeconfig that makes kubectl talk to a child
cluster through the parent.

The generated kubeconfig keeps the parent's cluster entry and credentials, points the server at
``<parent>/apis/proxies.clusternet.io/v1alpha1/sockets/X/proxy/direct``, and impersonates user
``clusternet`` with the child's credentials as impersonation extras (``clusternet-token``, or
``clusternet-certificate`` + ``clusternet-privatekey``, base64 PEM), exactly what the upstream plugin and
the hub's proxy agree on. Unlike upstream, credentials the child kubeconfig only *references* (a token
file, certificate files, an exec plugin) are resolved here too, so ``gcloud``/``aws`` style kubeconfigs work.

Everything that touches files or runs plugins is passed in, so the rules are tested without I/O.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .kube.kubeconfig import ResolvedConfig
from .kube.rest import Connection
from .proxy import (
    CLUSTERNET_USER,
    EXTRA_CERTIFICATE,
    EXTRA_IMPERSONATE_GROUP,
    EXTRA_IMPERSONATE_UID,
    EXTRA_IMPERSONATE_USER,
    EXTRA_PRIVATE_KEY,
    EXTRA_TOKEN,
    proxy_base_url,
)

__all__ = [
    "ChildAuth",
    "CHILD_MODE_NAME",
    "child_auth_from_user",
    "child_mode_kubeconfig",
    "kubectl_command",
    "resolve_cluster_id",
    "proxied_child_connection",
]

CHILD_MODE_NAME = "clusternet-child"

# (path) -> file contents; (exec spec) -> the ExecCredential status
ReadFile = Callable[[str], bytes]
RunExec = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class ChildAuth:
    """The credentials the hub will present to the child on the caller's behalf."""

    token: str = ""
    certificate_pem: bytes = b""
    key_pem: bytes = b""

    @property
    def empty(self) -> bool:
        return not self.token and not (self.certificate_pem and self.key_pem)


def _data_or_file(user: Mapping[str, Any], key: str, read_file: ReadFile) -> bytes:
    data = user.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data))
        except ValueError as exc:
            raise ConfigError(f"--child-kubeconfig: invalid base64 in {key}-data") from exc
    path = user.get(key)
    return read_file(str(path)) if path else b""


def child_auth_from_user(user: Mapping[str, Any], *, read_file: ReadFile, run_exec: RunExec) -> ChildAuth:
    """The child kubeconfig user's credentials: inline or file token and client certificate, or what its
    exec plugin prints (which wins, as in client-go). Basic auth and auth-provider entries cannot be
    forwarded as extras and are refused with a message saying so."""
    token = str(user.get("token") or "")
    if not token and user.get("tokenFile"):
        token = read_file(str(user["tokenFile"])).decode().strip()
    certificate = _data_or_file(user, "client-certificate", read_file)
    key = _data_or_file(user, "client-key", read_file)
    if user.get("exec"):
        status = run_exec(user["exec"])
        if status.get("token"):
            token = str(status["token"])
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            certificate = str(status["clientCertificateData"]).encode()
            key = str(status["clientKeyData"]).encode()
    if bool(certificate) != bool(key):
        raise ConfigError("--child-kubeconfig: client-certificate and client-key must be given together")
    auth = ChildAuth(token=token, certificate_pem=certificate, key_pem=key)
    if auth.empty:
        if user.get("auth-provider"):
            raise ConfigError(
                "--child-kubeconfig: auth-provider credentials cannot be forwarded through the parent; "
                "use an exec plugin or a token"
            )
        if user.get("username") or user.get("password"):
            raise ConfigError(
                "--child-kubeconfig: basic authentication cannot be forwarded through the parent; "
                "use a token or a client certificate"
            )
        raise ConfigError(
            "--child-kubeconfig: the current context's user has no credentials to forward "
            "(a token, a client certificate, or an exec plugin)"
        )
    return auth


def child_mode_kubeconfig(
    parent: ResolvedConfig,
    cluster_id: str,
    auth: ChildAuth,
    *,
    impersonate_user: str | None = None,
    impersonate_uid: str | None = None,
    impersonate_groups: Sequence[str] = (),
    namespace: str | None = None,
) -> dict[str, Any]:
    """A one-context kubeconfig for kubectl: the parent's cluster and user, the proxy URL, the impersonation.

    The parent user's own ``as``/``as-groups``/``as-uid`` are replaced: a request can impersonate only one
    identity, and here it must be ``clusternet``.
    """
    server = str(parent.cluster.get("server") or "")
    if not server:
        raise ConfigError("no server found for the parent cluster")
    cluster = copy.deepcopy(parent.cluster)
    cluster["server"] = proxy_base_url(server, cluster_id)
    user = {
        k: copy.deepcopy(v)
        for k, v in parent.user.items()
        if k not in ("as", "as-groups", "as-uid", "as-user-extra")
    }
    extra: dict[str, list[str]] = {}
    if auth.token:
        extra[EXTRA_TOKEN] = [auth.token]
    if auth.certificate_pem and auth.key_pem:
        extra[EXTRA_CERTIFICATE] = [base64.b64encode(auth.certificate_pem).decode()]
        extra[EXTRA_PRIVATE_KEY] = [base64.b64encode(auth.key_pem).decode()]
    if impersonate_user:
        extra[EXTRA_IMPERSONATE_USER] = [impersonate_user]
    if impersonate_uid:
        extra[EXTRA_IMPERSONATE_UID] = [impersonate_uid]
    if impersonate_groups:
        extra[EXTRA_IMPERSONATE_GROUP] = list(impersonate_groups)
    user["as"] = CLUSTERNET_USER
    user["as-user-extra"] = extra
    context: dict[str, Any] = {"cluster": CHILD_MODE_NAME, "user": CHILD_MODE_NAME}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": CHILD_MODE_NAME, "cluster": cluster}],
        "users": [{"name": CHILD_MODE_NAME, "user": user}],
        "contexts": [{"name": CHILD_MODE_NAME, "context": context}],
        "current-context": CHILD_MODE_NAME,
    }


def kubectl_command(kubeconfig_path: str, args: Sequence[str], *, kubectl: str = "kubectl") -> list[str]:
    """The real kubectl, on the generated kubeconfig only (``KUBECONFIG`` and connection flags are moot)."""
    return [kubectl, "--kubeconfig", kubeconfig_path, *args]


def resolve_cluster_id(managed_clusters: Sequence[Mapping[str, Any]], wanted: str) -> str:
    """The cluster ID for ``--cluster``: a ManagedCluster's ID, its name, or ``namespace/name``.

    A name found in several dedicated namespaces is ambiguous and refused with the candidates listed, since
    guessing would send the user's commands to the wrong cluster.
    """

    def meta(item: Mapping[str, Any]) -> Mapping[str, Any]:
        return item.get("metadata") or {}

    def cluster_id(item: Mapping[str, Any]) -> str:
        return str((item.get("spec") or {}).get("clusterId") or "")

    for item in managed_clusters:
        if cluster_id(item) == wanted:
            return wanted
    namespace, _, name = wanted.rpartition("/")
    matches = [
        item
        for item in managed_clusters
        if meta(item).get("name") == name and (not namespace or meta(item).get("namespace") == namespace)
    ]
    if not matches:
        raise ConfigError(f'no ManagedCluster named "{wanted}" or with that cluster ID in the parent')
    if len(matches) > 1:
        where = ", ".join(sorted(f"{meta(m).get('namespace')}/{name}" for m in matches))
        raise ConfigError(
            f'ManagedCluster name "{wanted}" is ambiguous ({where}); give namespace/name or --cluster-id'
        )
    found = cluster_id(matches[0])
    if not found:
        raise ConfigError(f'ManagedCluster "{wanted}" has no spec.clusterId')
    return found


def proxied_child_connection(parent: Connection, cluster_id: str, token: str) -> Connection:
    """The parent connection turned into one that reaches child ``cluster_id`` through the proxy with a
    child bearer token: how the hub applies Descriptions in Push mode (reference section 6.4). The caller's
    own impersonation is dropped, since the request must impersonate ``clusternet``."""
    headers = {
        name: value
        for name, value in parent.headers.items()
        if not name.lower().startswith("impersonate-")
    }
    headers["Impersonate-User"] = CLUSTERNET_USER
    headers[f"Impersonate-Extra-{EXTRA_TOKEN}"] = token
    base = proxy_base_url(parent.server, cluster_id)
    return dataclasses.replace(
        parent,
        base_path=base[len(f"{parent.scheme}://{parent.host}:{parent.port}") :],
        headers=headers,
        impersonate_groups=[],
    )
