"""Reaching child clusters through the parent: the agents' tunnels and the hub's proxy, end to end.

Everything is real: the parent and two child kube-apiservers of the session fleet, the hub's proxy
application and two agent tunnel clients as subprocesses on loopback, the parent's aggregation layer in
front of the hub (APIService, Service with a loopback cluster IP, Endpoints with a documentation address).
What a registered cluster has in the parent (ServiceAccount, per-cluster ClusterRole, token,
ManagedCluster with its status, Secret child-cluster-deployer) is created here directly, so these tests
do not depend on the registration daemons.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve

from kubectl_clusternet.core import apiservice
from kubectl_clusternet.core.apis.builtin import CONFIG_MAP, NAMESPACE, SECRET, SERVICE_ACCOUNT
from kubectl_clusternet.core.apis.clusters import MANAGED_CLUSTER
from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.kube.kubeconfig import ConfigOverrides, load_and_resolve
from kubectl_clusternet.core.kube.rest import RestClient, connection_from_config
from kubectl_clusternet.core.registration import (
    LABEL_CLUSTER_ID,
    cluster_role,
    cluster_role_binding,
    token_request,
)
from kubectl_clusternet.localfleet import ClusterInfo, FleetState, register_process
from kubectl_clusternet.localfleet.pki import CertKeyPair, issue_cert, new_ca
from tests.support.cli import run_cli

pytestmark = pytest.mark.e2e

DEADLINE = 120.0
T = TypeVar("T")
SOCKETS = "/apis/proxies.clusternet.io/v1alpha1/sockets"


# ---------------------------------------------------------------------------------------------------------
# helpers


def wait_for(
    check: Callable[[], T | None], what: str, *, deadline: float = DEADLINE, detail: Callable[[], str] = str
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline:.0f}s waiting for {what}\n{detail()}")
        time.sleep(0.25)


def admin_client(cluster: ClusterInfo) -> RestClient:
    resolved = load_and_resolve(ConfigOverrides(kubeconfig=str(cluster.kubeconfig)), os.environ)
    return RestClient(connection_from_config(resolved))


def create_or_replace(client: RestClient, path: str, body: dict[str, Any]) -> Any:
    try:
        return client.create(path, body)
    except ApiError as exc:
        if exc.status != 409:
            raise
    name = body["metadata"]["name"]
    current = client.get(f"{path}/{name}")
    body = dict(body, metadata=dict(body["metadata"], resourceVersion=current["metadata"]["resourceVersion"]))
    if body["kind"] == "Service":
        body["spec"] = dict(body["spec"], clusterIP=current["spec"]["clusterIP"])
    return client.replace(f"{path}/{name}", body)


def issue_token(client: RestClient, namespace: str, name: str) -> str:
    issued = client.create(SERVICE_ACCOUNT.object_path(name, namespace) + "/token", token_request(3600))
    return str(issued["status"]["token"])


def service_account_with_token(
    client: RestClient, namespace: str, name: str, cluster_role_name: str | None
) -> str:
    """A ServiceAccount (bound cluster-wide to ``cluster_role_name`` when given) and a fresh token for it."""
    create_or_replace(
        client,
        SERVICE_ACCOUNT.collection_path(namespace),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
    )
    if cluster_role_name:
        create_or_replace(
            client,
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"{namespace}-{name}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": cluster_role_name,
                },
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            },
        )
    return issue_token(client, namespace, name)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def https_request(
    host: str,
    port: int,
    path: str,
    *,
    context: ssl.SSLContext,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 60.0,
) -> Reply:
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def client_context(
    ca_pem: bytes, *, cert: CertKeyPair | None = None, tmp: Path | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    if cert is not None:
        assert tmp is not None
        cert_file, key_file = tmp / f"{uuid.uuid4().hex}.crt", tmp / f"{uuid.uuid4().hex}.key"
        cert_file.write_bytes(cert.cert_pem)
        key_file.write_bytes(cert.key_pem)
        context.load_cert_chain(str(cert_file), str(key_file))
    return context


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# ---------------------------------------------------------------------------------------------------------
# the pieces a registered cluster has, and the processes


@dataclass
class RegisteredCluster:
    child: ClusterInfo
    cluster_id: str
    namespace: str
    agent_token: str
    agent_token_file: Path


def register_cluster(
    parent: RestClient, child: ClusterInfo, child_admin: RestClient, work: Path
) -> RegisteredCluster:
    """Create in the parent what approval and the agent would: identity, RBAC, ManagedCluster, deployer Secret."""
    cluster_id = str(uuid.uuid4())
    namespace = f"clusternet-e2e-{cluster_id[:8]}"
    labels = {LABEL_CLUSTER_ID: cluster_id}
    parent.create(
        NAMESPACE.collection_path(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}},
    )
    agent_sa = "clusternet-agent"
    service_account_with_token(parent, namespace, agent_sa, None)
    parent.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", cluster_role(cluster_id))
    parent.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        cluster_role_binding(cluster_id, agent_sa, namespace),
    )
    agent_token = issue_token(parent, namespace, agent_sa)
    managed = parent.create(
        MANAGED_CLUSTER.collection_path(namespace),
        {
            "apiVersion": "clusters.clusternet.io/v1beta1",
            "kind": "ManagedCluster",
            "metadata": {"name": child.name, "namespace": namespace, "labels": labels},
            "spec": {"clusterId": cluster_id, "clusterType": "StandardCluster", "syncMode": "Pull"},
        },
    )
    managed["status"] = {"apiserverURL": child.server, "useSocket": True}
    parent.replace(MANAGED_CLUSTER.object_path(child.name, namespace) + "/status", managed)
    deployer_token = service_account_with_token(
        child_admin, "default", "clusternet-app-deployer", "cluster-admin"
    )
    parent.create(
        SECRET.collection_path(namespace),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "child-cluster-deployer", "namespace": namespace, "labels": labels},
            "data": {
                "ca.crt": base64.b64encode(child.ca_file.read_bytes()).decode(),
                "token": base64.b64encode(deployer_token.encode()).decode(),
                "apiserver-advertise-url": base64.b64encode(child.server.encode()).decode(),
            },
        },
    )
    token_file = work / f"agent-token-{child.name}"
    token_file.write_text(agent_token)
    return RegisteredCluster(child, cluster_id, namespace, agent_token, token_file)


class ManagedProcess:
    """A subprocess logging to a file, registered with the fleet so ``down`` stops it if a test dies."""

    def __init__(self, fleet: FleetState, name: str, log: Path, command: list[str]) -> None:
        self.fleet, self.name, self.log, self.command = fleet, name, log, command
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(self.command, stdout=handle, stderr=subprocess.STDOUT)
        handle.close()
        register_process(self.fleet.dir, f"{self.name}-{self.process.pid}", self.process.pid, log=self.log)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        return f"{self.name} log (last lines):\n" + "\n".join(self.text().splitlines()[-40:])

    def kill(self) -> None:
        """SIGKILL: no goodbye to anyone, as a crash would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def free_hub_address(parent: RestClient) -> tuple[str, int]:
    """A loopback cluster IP in the parent's service range that nothing else (another fleet's hub) uses."""
    network = ipaddress.ip_network("127.77.0.0/24")
    for offset in range(200, 250):
        address = str(network.network_address + offset)
        probe = socket.socket()
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((address, 443))
        except OSError:
            continue
        finally:
            probe.close()
        try:
            existing = parent.get(
                f"/api/v1/namespaces/{apiservice.HUB_SERVICE_NAMESPACE}/services/{apiservice.HUB_SERVICE_NAME}"
            )
            if existing["spec"].get("clusterIP") == address:
                return address, 443
            parent.delete(
                f"/api/v1/namespaces/{apiservice.HUB_SERVICE_NAMESPACE}/services/{apiservice.HUB_SERVICE_NAME}"
            )
        except ApiError as exc:
            if exc.status != 404:
                raise
        try:
            parent.create(
                f"/api/v1/namespaces/{apiservice.HUB_SERVICE_NAMESPACE}/services",
                apiservice.hub_service(address),
            )
        except ApiError as exc:
            if "already allocated" in exc.message:
                continue
            raise
        return address, 443
    pytest.fail("no free loopback address for the hub in 127.77.0.200-249")


@dataclass
class ProxyEnv:
    fleet: FleetState
    work: Path
    parent: ClusterInfo
    parent_api: RestClient
    hub: ManagedProcess
    hub_address: str
    hub_port: int
    hub_ca: CertKeyPair
    clusters: list[RegisteredCluster]
    agents: list[ManagedProcess]
    child_token: str  # cluster-admin in child-1
    child_token_2: str  # cluster-admin in child-2
    nobody_token: str  # no RBAC at all in child-1
    parent_user_token: str  # an ordinary parent ServiceAccount, for the hub's own port
    echo_port: int

    @property
    def parent_context(self) -> ssl.SSLContext:
        return client_context(self.parent.ca_file.read_bytes())

    @property
    def hub_context(self) -> ssl.SSLContext:
        return client_context(self.hub_ca.cert_pem)

    def via_parent(self, path: str, **kwargs: Any) -> Reply:
        return https_request("127.0.0.1", self.parent.port, path, context=self.parent_context, **kwargs)

    def via_hub(self, path: str, **kwargs: Any) -> Reply:
        return https_request(self.hub_address, self.hub_port, path, context=self.hub_context, **kwargs)

    def hub_counts(self) -> dict[str, int]:
        text = self.via_hub("/readyz?verbose", timeout=30).body.decode()
        return {k: int(v) for k, v in re.findall(r"^(\w+) (\d+)$", text, re.MULTILINE)}


def child_headers(token: str) -> dict[str, str]:
    """What the tutorial's curl sends to the parent."""
    return {
        "Impersonate-User": "clusternet",
        "Impersonate-Extra-Clusternet-Token": token,
        "Authorization": "Basic system:anonymous",
    }


def hub_headers(parent_token: str, child_token: str) -> dict[str, str]:
    """Straight to the hub: the caller's own parent token, child credentials in impersonation extras."""
    return {
        "Authorization": f"Bearer {parent_token}",
        "Impersonate-User": "clusternet",
        "Impersonate-Extra-Clusternet-Token": child_token,
    }


def start_hub(
    fleet: FleetState, work: Path, address: str, port: int, cert_files: tuple[Path, Path], kubeconfig: Path
) -> ManagedProcess:
    return ManagedProcess(
        fleet,
        "hub-proxy",
        work / "hub-proxy.log",
        [
            sys.executable,
            "-m",
            "hub_lite.proxy_app",
            "--kubeconfig",
            str(kubeconfig),
            "--bind-address",
            address,
            "--port",
            str(port),
            "--tls-cert-file",
            str(cert_files[0]),
            "--tls-private-key-file",
            str(cert_files[1]),
        ],
    )


def start_agent(fleet: FleetState, work: Path, cluster: RegisteredCluster, echo_port: int) -> ManagedProcess:
    return ManagedProcess(
        fleet,
        f"agent-tunnel-{cluster.child.name}",
        work / f"agent-tunnel-{cluster.child.name}.log",
        [
            sys.executable,
            "-m",
            "agent_lite.tunnel_client",
            "--server",
            fleet.parent.server,
            "--cluster-id",
            cluster.cluster_id,
            "--token-file",
            str(cluster.agent_token_file),
            "--ca-file",
            str(fleet.parent.ca_file),
            "--child-server",
            cluster.child.server,
            "--tunnel-allowed-destinations",
            f"127.0.0.1:{echo_port}",
        ],
    )


def wait_until_proxying(env: ProxyEnv, cluster: RegisteredCluster, token: str) -> Reply:
    def attempt() -> Reply | None:
        try:
            reply = env.via_parent(
                f"{SOCKETS}/{cluster.cluster_id}/proxy/direct/version",
                headers=child_headers(token),
                timeout=30,
            )
        except OSError:
            return None
        return reply if reply.status == 200 else None

    return wait_for(attempt, f"proxying into {cluster.child.name}", detail=lambda: env.hub.tail())


@pytest.fixture(scope="module")
def env(fleet: FleetState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyEnv]:
    with contextlib.ExitStack() as cleanup:
        yield set_up_proxy_env(fleet, tmp_path_factory.mktemp("tunnel-proxy"), cleanup)


def set_up_proxy_env(fleet: FleetState, work: Path, cleanup: contextlib.ExitStack) -> ProxyEnv:
    """Hub install, the hub's identity and front door, two registered clusters with agents; every process
    and object is handed to ``cleanup`` as soon as it exists, so a failure half-way leaks nothing."""
    parent = fleet.parent
    parent_api = admin_client(parent)
    result = run_cli("--kubeconfig", str(parent.kubeconfig), "hub", "install")
    assert result.exit_code == 0, result.stderr

    # The hub's identity: its ServiceAccount, with the delegation RBAC every extension API server needs.
    for obj in apiservice.hub_delegation_rbac("clusternet-hub"):
        kind_path = (
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
            if obj["kind"] == "ClusterRoleBinding"
            else "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings"
        )
        create_or_replace(parent_api, kind_path, obj)
    hub_token = issue_token(parent_api, "clusternet-system", "clusternet-hub")
    hub_kubeconfig = work / "hub.kubeconfig"
    hub_kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "parent",
                        "cluster": {
                            "server": parent.server,
                            "certificate-authority-data": base64.b64encode(
                                parent.ca_file.read_bytes()
                            ).decode(),
                        },
                    }
                ],
                "users": [{"name": "hub", "user": {"token": hub_token}}],
                "contexts": [{"name": "hub", "context": {"cluster": "parent", "user": "hub"}}],
                "current-context": "hub",
            }
        )
    )

    # Where the aggregator finds the hub, and the certificate it checks.
    address, port = free_hub_address(parent_api)
    hub_ca = new_ca("clusternet-hub-ca")
    serving = issue_cert(
        hub_ca,
        "clusternet-hub",
        dns_names=apiservice.hub_service_dns_names(),
        ip_addresses=[ipaddress.ip_address(address)],
        server=True,
    )
    cert_file, key_file = work / "hub.crt", work / "hub.key"
    cert_file.write_bytes(serving.cert_pem)
    key_file.write_bytes(serving.key_pem)
    create_or_replace(
        parent_api,
        f"/api/v1/namespaces/{apiservice.HUB_SERVICE_NAMESPACE}/endpoints",
        apiservice.hub_endpoints(),
    )
    create_or_replace(
        parent_api, "/apis/apiregistration.k8s.io/v1/apiservices", apiservice.apiservice(hub_ca.cert_pem)
    )

    def delete_apiservice() -> None:
        with contextlib.suppress(ApiError):
            parent_api.delete(f"/apis/apiregistration.k8s.io/v1/apiservices/{apiservice.APISERVICE_NAME}")

    cleanup.callback(delete_apiservice)

    # An upgrade-capable destination inside the "child network" (allowed explicitly).
    def echo_back(connection: Any) -> None:
        for message in connection:
            connection.send(message)

    echo = ws_serve(echo_back, "127.0.0.1", 0)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    cleanup.callback(echo.shutdown)
    echo_port = echo.socket.getsockname()[1]

    hub = start_hub(fleet, work, address, port, (cert_file, key_file), hub_kubeconfig)
    cleanup.callback(hub.stop)
    clusters, child_tokens = [], []
    for child in fleet.children:
        child_admin = admin_client(child)
        clusters.append(register_cluster(parent_api, child, child_admin, work))
        child_tokens.append(
            service_account_with_token(child_admin, "default", "proxy-e2e-admin", "cluster-admin")
        )
    nobody_token = service_account_with_token(
        admin_client(fleet.children[0]), "default", "proxy-e2e-nobody", None
    )
    parent_user_token = service_account_with_token(parent_api, "default", "proxy-e2e-user", None)
    agents = []
    for cluster in clusters:
        agents.append(start_agent(fleet, work, cluster, echo_port))
        cleanup.callback(agents[-1].stop)
    environment = ProxyEnv(
        fleet=fleet,
        work=work,
        parent=parent,
        parent_api=parent_api,
        hub=hub,
        hub_address=address,
        hub_port=port,
        hub_ca=hub_ca,
        clusters=clusters,
        agents=agents,
        child_token=child_tokens[0],
        child_token_2=child_tokens[1],
        nobody_token=nobody_token,
        parent_user_token=parent_user_token,
        echo_port=echo_port,
    )

    def available() -> bool:
        found = parent_api.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{apiservice.APISERVICE_NAME}")
        conditions = (found.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)

    wait_for(available, "APIService v1alpha1.proxies.clusternet.io to become Available", detail=hub.tail)
    for cluster, token in zip(clusters, child_tokens, strict=True):
        wait_until_proxying(environment, cluster, token)
    return environment


# ---------------------------------------------------------------------------------------------------------
# tests


def test_tutorial_curl_through_the_parent_lists_the_childs_namespaces(env: ProxyEnv) -> None:
    """The upstream tutorial's curl line, unchanged, returns the child's NamespaceList through the parent."""
    cluster = env.clusters[0]
    only_here = f"only-in-{cluster.child.name}-{uuid.uuid4().hex[:6]}"
    admin_client(cluster.child).create(
        NAMESPACE.collection_path(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": only_here}},
    )
    url = f"{env.parent.server}{SOCKETS}/{cluster.cluster_id}/proxy/direct/api/v1/namespaces"
    completed = subprocess.run(
        [
            "curl",
            "-sS",
            "-k",
            "-H",
            "Impersonate-User: clusternet",
            "-H",
            f"Impersonate-Extra-Clusternet-Token: {env.child_token}",
            "-H",
            "Authorization: Basic system:anonymous",
            url,
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    listing = json.loads(completed.stdout)
    assert listing["kind"] == "NamespaceList"
    names = {item["metadata"]["name"] for item in listing["items"]}
    assert only_here in names
    other = env.via_parent(
        f"{SOCKETS}/{env.clusters[1].cluster_id}/proxy/direct/api/v1/namespaces",
        headers=child_headers(env.child_token_2),
    )
    assert other.status == 200
    assert only_here not in {item["metadata"]["name"] for item in other.json()["items"]}


def test_the_hubs_own_port_with_a_bearer_token_and_impersonation_extras(env: ProxyEnv) -> None:
    """Straight to the hub, a parent token plus impersonation extras reaches the child like the parent path."""
    cluster = env.clusters[0]
    reply = env.via_hub(
        f"{SOCKETS}/{cluster.cluster_id}/proxy/direct/api/v1/namespaces/default",
        headers=hub_headers(env.parent_user_token, env.child_token),
    )
    assert reply.status == 200, reply.body
    assert reply.json()["metadata"]["name"] == "default"


def test_a_watch_streams_an_update_made_in_the_child(env: ProxyEnv) -> None:
    """A watch through the parent delivers the event of a ConfigMap created directly in the child."""
    cluster = env.clusters[0]
    namespace = f"watch-{uuid.uuid4().hex[:6]}"
    child = admin_client(cluster.child)
    child.create(
        NAMESPACE.collection_path(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    connection = http.client.HTTPSConnection(
        "127.0.0.1", env.parent.port, context=env.parent_context, timeout=DEADLINE
    )
    try:
        connection.request(
            "GET",
            f"{SOCKETS}/{cluster.cluster_id}/proxy/direct/api/v1/namespaces/{namespace}/configmaps?watch=1",
            headers=child_headers(env.child_token),
        )
        response = connection.getresponse()
        assert response.status == 200
        child.create(
            CONFIG_MAP.collection_path(namespace),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "seen-through-the-tunnel"},
                "data": {"k": "v"},
            },
        )
        # The controller-manager adds kube-root-ca.crt to every new namespace; skip past it.
        while (event := json.loads(response.readline()))["object"]["metadata"][
            "name"
        ] != "seen-through-the-tunnel":
            pass
        assert event["type"] == "ADDED"
        assert event["object"]["data"] == {"k": "v"}
    finally:
        connection.close()


def test_a_five_thousand_configmap_list_arrives_intact(env: ProxyEnv) -> None:
    """A 5,000-item LIST through the parent equals the same LIST made directly against the child."""
    cluster = env.clusters[1]
    namespace = f"big-list-{uuid.uuid4().hex[:6]}"
    child = admin_client(cluster.child)
    child.create(
        NAMESPACE.collection_path(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    payload = "x" * 300
    for index in range(5000):
        child.create(
            CONFIG_MAP.collection_path(namespace),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cm-{index:05d}"},
                "data": {"payload": payload},
            },
        )
    direct = child.get(CONFIG_MAP.collection_path(namespace))
    reply = env.via_parent(
        f"{SOCKETS}/{cluster.cluster_id}/proxy/direct/api/v1/namespaces/{namespace}/configmaps",
        headers=child_headers(env.child_token_2),
        timeout=DEADLINE,
    )
    assert reply.status == 200
    proxied = reply.json()
    assert proxied["items"] == direct["items"]
    ours = [
        item for item in proxied["items"] if item["metadata"]["name"].startswith("cm-")
    ]  # not kube-root-ca.crt
    assert [item["metadata"]["name"] for item in ours] == [f"cm-{i:05d}" for i in range(5000)]
    assert all(item["data"] == {"payload": payload} for item in ours)
    child_file = child_kubeconfig_with_exec_plugin(env, cluster, env.child_token_2)
    listed = subprocess.run(
        child_mode(env, cluster, child_file, "-n", namespace, "get", "cm", "-o", "name"),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env=plugin_environ(env),
    )
    assert listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.split()) == sorted(
        f"configmap/{item['metadata']['name']}" for item in direct["items"]
    )


@pytest.mark.parametrize(
    ("headers_for", "status", "reason", "fragment"),
    [
        (
            lambda env: {"Authorization": "Basic system:anonymous", "Impersonate-User": "clusternet"},
            401,
            "Unauthorized",
            "no credentials for the child cluster",
        ),
        (
            lambda env: child_headers(env.nobody_token),
            403,
            "Forbidden",
            "system:serviceaccount:default:proxy-e2e-nobody",
        ),
        (lambda env: child_headers("not-a-token"), 401, "Unauthorized", ""),
    ],
    ids=["no-child-credentials", "child-token-without-rbac", "child-token-invalid"],
)
def test_refusals_through_the_parent_are_status_objects(
    env: ProxyEnv, headers_for: Callable[[ProxyEnv], dict[str, str]], status: int, reason: str, fragment: str
) -> None:
    """Missing or insufficient child credentials come back as a Kubernetes Status with the right code."""
    reply = env.via_parent(
        f"{SOCKETS}/{env.clusters[0].cluster_id}/proxy/direct/api/v1/namespaces", headers=headers_for(env)
    )
    assert reply.status == status, reply.body
    body = reply.json()
    assert (body["kind"], body["code"], body["reason"]) == ("Status", status, reason)
    assert fragment in body["message"]


def test_forged_remote_user_headers_straight_to_the_hub_are_refused(env: ProxyEnv) -> None:
    """X-Remote-* headers without the front proxy's client certificate prove nothing: 401."""
    forged = {
        "X-Remote-User": "system:admin",
        "X-Remote-Group": "system:masters",
        "X-Remote-Extra-Clusternet-Token": env.child_token,
    }
    reply = env.via_hub(
        f"{SOCKETS}/{env.clusters[0].cluster_id}/proxy/direct/api/v1/namespaces", headers=forged
    )
    assert reply.status == 401
    assert reply.json()["reason"] == "Unauthorized"


def test_one_clusters_token_cannot_open_another_clusters_tunnel(env: ProxyEnv) -> None:
    """Cluster A's agent token is refused (403) for cluster B's socket, through the parent and at the hub."""
    a, b = env.clusters
    parent_url = f"wss://127.0.0.1:{env.parent.port}{SOCKETS}/{b.cluster_id}"
    hub_url = f"wss://{env.hub_address}:{env.hub_port}{SOCKETS}/{b.cluster_id}"
    for url, context in ((parent_url, env.parent_context), (hub_url, env.hub_context)):
        with pytest.raises(Exception) as refused:
            ws_connect(
                url,
                ssl=context,
                additional_headers={"Authorization": f"Bearer {a.agent_token}"},
                open_timeout=DEADLINE,
            )
        assert getattr(getattr(refused.value, "response", None), "status_code", None) == 403, repr(
            refused.value
        )
    # ...while its own socket is allowed at the hub (the hub's own SubjectAccessReview agrees).
    assert env.hub.process is not None and env.hub.process.poll() is None


def test_destinations_the_agent_does_not_allow_are_refused(env: ProxyEnv) -> None:
    """``proxy/http/<host:port>`` to a port outside the agent's allow-list is a 403 Status, not a dial."""
    reply = env.via_parent(
        f"{SOCKETS}/{env.clusters[0].cluster_id}/proxy/http/127.0.0.1:1/",
        headers=child_headers(env.child_token),
    )
    assert reply.status == 403
    assert "not an allowed destination" in reply.json()["message"]


def test_an_upgraded_connection_is_spliced_both_ways(env: ProxyEnv) -> None:
    """A websocket upgrade to an allowed destination, through the parent, echoes messages back."""
    cluster = env.clusters[0]
    url = f"wss://127.0.0.1:{env.parent.port}{SOCKETS}/{cluster.cluster_id}/proxy/http/127.0.0.1:{env.echo_port}/echo"
    with ws_connect(
        url, ssl=env.parent_context, additional_headers=child_headers(env.child_token), open_timeout=DEADLINE
    ) as ws:
        for message in ("hello", "x" * 200_000, b"\x00\x01binary"):
            ws.send(message)
            assert ws.recv(timeout=DEADLINE) == message


def test_a_thousand_sequential_requests_leave_nothing_behind(env: ProxyEnv) -> None:
    """After 1,000 proxied requests the hub holds no stream and no extra task, and neither process leaks fds."""
    cluster = env.clusters[0]
    path = f"{SOCKETS}/{cluster.cluster_id}/proxy/direct/api/v1/namespaces/default"
    headers = hub_headers(env.parent_user_token, env.child_token)
    agent = env.agents[0]
    env.via_hub(path, headers=headers)
    before = env.hub_counts()
    hub_fds, agent_fds = fd_count(env.hub.pid), fd_count(agent.pid)
    connection = http.client.HTTPSConnection(
        env.hub_address, env.hub_port, context=env.hub_context, timeout=60
    )
    try:
        for _ in range(1000):
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200, body
    finally:
        connection.close()

    def settled() -> bool:
        counts = env.hub_counts()
        return (
            counts["streams"] == 0
            and counts["tasks"] <= before["tasks"]
            and fd_count(env.hub.pid) <= hub_fds
            and fd_count(agent.pid) <= agent_fds
        )

    wait_for(
        settled,
        "the hub and the agent to release every stream, task and fd",
        detail=lambda: (
            f"before {before} hub fds {hub_fds} agent fds {agent_fds}; now {env.hub_counts()} "
            f"hub fds {fd_count(env.hub.pid)} agent fds {fd_count(agent.pid)}"
        ),
    )


def test_a_disconnected_agent_gets_a_prompt_503(env: ProxyEnv) -> None:
    """With the agent gone, a request fails at once with a 503 Status naming the cause, then recovers."""
    cluster, agent = env.clusters[1], env.agents[1]
    agent.kill()
    wait_for(
        lambda: env.hub_counts()["tunnels"] == 1, "the hub to notice the agent left", detail=env.hub.tail
    )
    reply = env.via_parent(
        f"{SOCKETS}/{cluster.cluster_id}/proxy/direct/api/v1/namespaces",
        headers=child_headers(env.child_token_2),
        timeout=30,
    )
    assert reply.status == 503
    body = reply.json()
    assert body["reason"] == "ServiceUnavailable"
    assert "agent is disconnected" in body["message"]
    agent.start()
    wait_until_proxying(env, cluster, env.child_token_2)


def test_agents_reconnect_after_the_hub_is_killed_and_restarted(env: ProxyEnv) -> None:
    """After the hub stops (SIGTERM: a clean exit) or crashes (SIGKILL) and comes back, every agent
    reconnects on its own and proxying works again.

    The reconnect delays the agent scheduled are read back from its log: none may exceed five seconds.
    """
    assert env.hub.process is not None
    env.hub.process.send_signal(signal.SIGTERM)
    assert env.hub.process.wait(timeout=DEADLINE) == 0, env.hub.tail()
    env.hub.start()
    for cluster, token in zip(env.clusters, (env.child_token, env.child_token_2), strict=True):
        wait_until_proxying(env, cluster, token)
    env.hub.kill()
    env.hub.start()
    for cluster, token in zip(env.clusters, (env.child_token, env.child_token_2), strict=True):
        wait_until_proxying(env, cluster, token)
    for agent in env.agents:
        delays = [float(d) for d in re.findall(r"retrying in ([0-9.]+)s", agent.text())]
        assert delays, agent.tail()
        assert max(delays) <= 5.0, agent.tail()


def child_kubeconfig_with_exec_plugin(env: ProxyEnv, cluster: RegisteredCluster, token: str) -> Path:
    """A child kubeconfig whose user gets its token from an exec plugin, as cloud kubeconfigs do."""
    plugin = env.work / f"child-credential-plugin-{uuid.uuid4().hex[:6]}"
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": token},
    }
    plugin.write_text(f"#!/bin/sh\necho '{json.dumps(credential)}'\n")
    plugin.chmod(0o755)
    path = env.work / f"child-{uuid.uuid4().hex[:6]}.kubeconfig"
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin)}}
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "child", "cluster": {"server": cluster.child.server}}],
                "users": [{"name": "child", "user": user}],
                "contexts": [{"name": "child", "context": {"cluster": "child", "user": "child"}}],
                "current-context": "child",
            }
        )
    )
    return path


def plugin_environ(env: ProxyEnv) -> dict[str, str]:
    """PATH with `kubectl-clusternet` on it, so `kubectl clusternet …` runs this checkout as kubectl would."""
    bin_dir = env.work / "plugin-bin"
    if not bin_dir.exists():
        bin_dir.mkdir()
        (bin_dir / "kubectl-clusternet").symlink_to(Path(sys.executable).parent / "kubectl-clusternet")
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def child_mode(env: ProxyEnv, cluster: RegisteredCluster, child_kubeconfig: Path, *args: str) -> list[str]:
    return [
        "kubectl",
        "clusternet",
        "--kubeconfig",
        str(env.parent.kubeconfig),
        "--cluster-id",
        cluster.cluster_id,
        "--child-kubeconfig",
        str(child_kubeconfig),
        *args,
    ]


def test_kubectl_clusternet_in_child_mode_reaches_a_child_through_the_parent(env: ProxyEnv) -> None:
    """`kubectl clusternet --cluster-id … --child-kubeconfig … get ns` lists the child's namespaces (the child
    token comes from an exec plugin); --clusternet-as makes the child see the impersonated user."""
    cluster = env.clusters[0]
    only_here = f"kubectl-sees-{uuid.uuid4().hex[:6]}"
    admin_client(cluster.child).create(
        NAMESPACE.collection_path(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": only_here}},
    )
    child_files = [
        child_kubeconfig_with_exec_plugin(env, cluster, env.child_token),
        child_kubeconfig_with_exec_plugin(env, env.clusters[1], env.child_token_2),
    ]

    def run(*args: str, index: int = 0) -> subprocess.CompletedProcess[str]:
        command = child_mode(env, env.clusters[index], child_files[index], *args)
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=plugin_environ(env))

    listed = run("get", "namespaces", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    assert f"namespace/{only_here}" in listed.stdout.split()
    other = run("get", "namespaces", "-o", "name", index=1)
    assert other.returncode == 0, other.stderr
    assert "namespace/kube-system" in other.stdout.split()
    assert f"namespace/{only_here}" not in other.stdout.split()
    impersonated = run("--clusternet-as", "jane", "--clusternet-as-group", "devs", "get", "namespaces")
    assert impersonated.returncode != 0
    assert 'User "jane" cannot list resource "namespaces"' in impersonated.stderr


def test_kubectl_clusternet_watch_in_child_mode_streams_a_change_made_in_the_child(env: ProxyEnv) -> None:
    """`get cm -w` in child mode prints a ConfigMap the moment it is created in the child."""
    cluster = env.clusters[0]
    namespace = f"cli-watch-{uuid.uuid4().hex[:6]}"
    child = admin_client(cluster.child)
    child.create(
        NAMESPACE.collection_path(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
    )
    child_file = child_kubeconfig_with_exec_plugin(env, cluster, env.child_token)
    command = child_mode(env, cluster, child_file, "-n", namespace, "get", "cm", "-w", "-o", "name")
    watcher = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=plugin_environ(env)
    )
    try:
        assert watcher.stdout is not None
        # kube-root-ca.crt shows up first (the controller-manager adds it): the watch is running.
        assert watcher.stdout.readline().strip() == "configmap/kube-root-ca.crt"
        child.create(
            CONFIG_MAP.collection_path(namespace),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "seen-by-kubectl"},
                "data": {"k": "v"},
            },
        )
        assert watcher.stdout.readline().strip() == "configmap/seen-by-kubectl"
    finally:
        watcher.terminate()
        watcher.communicate(timeout=30)
