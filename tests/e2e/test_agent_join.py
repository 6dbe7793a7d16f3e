"""A child joins the fleet for real: hub-lite approves, agent-lite stores its credentials and reports status,
restarts without its bootstrap token, recovers from revoked credentials, and hands over between replicas.

One agent joins once per module (child-2, the last child); the tests then look at it from every side.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_lite.parent import ParentSession
from agent_lite.quantity import parse_quantity, sum_quantities
from kubectl_clusternet import __version__
from kubectl_clusternet.core.apis.builtin import NODE, SECRET, SERVICE_ACCOUNT
from kubectl_clusternet.core.apis.clusters import CLUSTER_REGISTRATION_REQUEST, MANAGED_CLUSTER
from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.kube.rest import RestClient, token_connection
from kubectl_clusternet.core.registration import StoredCredentials, stored_credentials
from kubectl_clusternet.core.tokens import BootstrapToken, service_account_token
from kubectl_clusternet.localfleet import ClusterInfo, FleetState, register_process
from tests.e2e.test_agent_registration import (
    AgentProcess,
    admin_client,
    cluster_lease,
    create_bootstrap_token,
    delete_bootstrap_token,
    delete_quietly,
    get_or_none,
    requests_for,
    reset_child,
    wait_for,
)
from tests.support.cli import run_cli

pytestmark = pytest.mark.e2e

# Beats every 5s: the hub marks a cluster Unknown after three missed beats, so 15s of slack on busy machines.
FAST = ("--cluster-status-update-frequency", "5s", "--cluster-status-collect-frequency", "2s")
ELECTION = (
    "--leader-elect-lease-duration",
    "6s",
    "--leader-elect-renew-deadline",
    "4s",
    "--leader-elect-retry-period",
    "1s",
)


@dataclasses.dataclass
class Joined:
    """The cluster that joined in this module and how to reach everything about it."""

    fleet: FleetState
    child_info: ClusterInfo
    parent: RestClient
    child: RestClient
    token: BootstrapToken
    cluster_id: str
    namespace: str
    cluster_name: str
    agent: AgentProcess
    logs: Path

    def managed_cluster(self) -> dict[str, Any]:
        return dict(self.parent.get(MANAGED_CLUSTER.object_path(self.cluster_name, self.namespace)))

    def stored(self) -> StoredCredentials:
        secret = self.child.get(SECRET.object_path("parent-cluster", "clusternet-system"))
        found = stored_credentials(secret, parent_url=self.fleet.parent.server)
        assert found is not None
        return found

    def start_agent(self, *args: str, name: str) -> AgentProcess:
        return AgentProcess(self.fleet, self.child_info, self.logs / f"{name}.log", *args)


def ready_status(cluster: dict[str, Any]) -> str:
    for condition in (cluster.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return str(condition.get("status"))
    return ""


def heartbeat_after(joined: Joined, moment: str) -> Callable[[], dict[str, Any] | None]:
    """A check that returns the ManagedCluster once it carries a lastObservedTime later than ``moment``."""

    def check() -> dict[str, Any] | None:
        cluster = joined.managed_cluster()
        observed = str((cluster.get("status") or {}).get("lastObservedTime") or "")
        return cluster if observed > moment else None

    return check


@dataclasses.dataclass
class Hub:
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        state = "running" if self.process.poll() is None else f"exited with {self.process.returncode}"
        lines = self.log.read_text(errors="replace").splitlines()[-15:]
        return f"hub-lite ({state}), last lines:\n" + "\n".join(lines)


@pytest.fixture(scope="module")
def hub(fleet: FleetState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """hub-lite against the parent (installed first), as a real process."""
    result = run_cli("--kubeconfig", str(fleet.parent.kubeconfig), "hub", "install")
    assert result.exit_code == 0, result.stderr
    log = tmp_path_factory.mktemp("hub") / "hub-lite.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hub_lite",
                "--kubeconfig",
                str(fleet.parent.kubeconfig),
                "--healthz-port",
                "0",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    register_process(fleet.dir, f"hub-lite-agent-e2e-{process.pid}", process.pid, log=log)
    yield Hub(process, log)
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def joined(fleet: FleetState, hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Joined]:
    """The last child registered and Ready, with its agent still running."""
    child_info = fleet.children[-1]
    parent = admin_client(fleet.parent)
    child = admin_client(child_info)
    reset_child(child)
    token = create_bootstrap_token(parent)
    logs = tmp_path_factory.mktemp("agents")
    agent = AgentProcess(
        fleet,
        child_info,
        logs / "agent.log",
        "--cluster-reg-parent-url",
        fleet.parent.server,
        "--cluster-reg-token",
        token.value,
        "--cluster-reg-name",
        "joined-e2e",
        "--cluster-labels",
        "env=e2e",
        *FAST,
        *ELECTION,
    )
    state = Joined(fleet, child_info, parent, child, token, "", "", "joined-e2e", agent, logs)
    try:
        state.cluster_id = wait_for(lambda: cluster_lease(child), "the agent Lease", detail=agent.tail)[
            "metadata"
        ]["uid"]
        request = wait_for(
            lambda: (
                (
                    r := get_or_none(
                        parent, CLUSTER_REGISTRATION_REQUEST.object_path(f"clusternet-{state.cluster_id}")
                    )
                )
                and (r.get("status") or {}).get("result") == "Approved"
                and r
            ),
            "the hub to approve the request",
            detail=lambda: agent.tail() + "\n" + hub.tail(),
        )
        state.namespace = request["status"]["dedicatedNamespace"]
        state.cluster_name = request["status"]["managedClusterName"]
        wait_for(lambda: ready_status(state.managed_cluster()) == "True", "Ready=True", detail=agent.tail)
        yield state
    finally:
        state.agent.stop()
        delete_bootstrap_token(parent, state.token)


def test_approval_stores_credentials_in_the_child(joined: Joined) -> None:
    """Secret clusternet-system/parent-cluster holds the approved token, the parent's CA, the dedicated
    namespace and the parent URL, with the credentials-auto and cluster labels."""
    secret = joined.child.get(SECRET.object_path("parent-cluster", "clusternet-system"))
    assert secret["metadata"]["labels"] == {
        "clusters.clusternet.io/bootstrapping": "credentials-auto",
        "clusters.clusternet.io/cluster-id": joined.cluster_id,
        "clusters.clusternet.io/cluster-name": "joined-e2e",
    }
    data = {key: base64.b64decode(value) for key, value in secret["data"].items()}
    assert set(data) == {"ca.crt", "token", "namespace", "apiserver-advertise-url"}
    assert data["apiserver-advertise-url"].decode() == joined.fleet.parent.server
    assert data["namespace"].decode() == joined.namespace
    assert data["ca.crt"] == joined.fleet.parent.ca_file.read_bytes()
    claims = service_account_token(data["token"].decode())
    assert claims.namespace == joined.namespace
    assert claims.expires_at is not None


def test_managed_cluster_status_is_filled(joined: Joined) -> None:
    """The ManagedCluster carries the child's version, node counts, summed capacity and Ready True."""
    nodes = joined.child.get(NODE.collection_path())["items"]
    cluster = joined.managed_cluster()
    status = cluster["status"]
    assert status["k8sVersion"] == "v1.20.2"
    assert status["platform"].startswith("linux/")
    assert status["agentVersion"] == f"v{__version__}"
    assert status["apiserverURL"] == joined.child_info.server
    assert (status["healthz"], status["livez"], status["readyz"]) == (True, True, True)
    assert status["nodeStatistics"] == {
        "readyNodes": len(nodes),
        "notReadyNodes": 0,
        "unknownNodes": 0,
        "lostNodes": 0,
    }
    assert len(nodes) == 2
    for field_name in ("capacity", "allocatable"):
        for resource in ("cpu", "memory"):
            expected = sum_quantities(parse_quantity(n["status"][field_name][resource]) for n in nodes).value
            assert parse_quantity(status[field_name][resource]).value == expected, (field_name, resource)
    assert "nvidia.com/gpu" not in status["capacity"]
    assert status["heartbeatFrequencySeconds"] == 5
    assert status["appPusher"] is False and status["useSocket"] is False
    assert (status["kubeQPS"], status["kubeBurst"]) == (50, 100)
    [ready] = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "True",
        "ManagedClusterReady",
        "managed cluster is ready.",
    )
    assert cluster["metadata"]["labels"]["env"] == "e2e"
    assert cluster["metadata"]["labels"]["clusters.clusternet.io/cluster-id"] == joined.cluster_id


def test_heartbeats_move_last_observed_time_but_not_ready_transition(joined: Joined) -> None:
    """Each beat rewrites lastObservedTime; Ready's lastTransitionTime stays while Ready stays True."""
    before = joined.managed_cluster()["status"]
    [ready_before] = [c for c in before["conditions"] if c["type"] == "Ready"]
    after = wait_for(
        heartbeat_after(joined, before["lastObservedTime"]), "a later heartbeat", detail=joined.agent.tail
    )
    [ready_after] = [c for c in after["status"]["conditions"] if c["type"] == "Ready"]
    assert ready_after["status"] == "True"
    assert ready_after["lastTransitionTime"] == ready_before["lastTransitionTime"]


def test_stored_credentials_reach_only_their_namespace(joined: Joined) -> None:
    """The dedicated token may read and write in its namespace and nothing elsewhere in the parent."""
    stored = joined.stored()
    as_agent = RestClient(token_connection(joined.fleet.parent.server, stored.token, stored.ca_pem))
    configmaps = f"/api/v1/namespaces/{joined.namespace}/configmaps"
    as_agent.create(
        configmaps, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "agent-e2e-probe"}}
    )
    as_agent.delete(f"{configmaps}/agent-e2e-probe")
    assert (
        as_agent.get(MANAGED_CLUSTER.object_path(joined.cluster_name, joined.namespace))["spec"]["clusterId"]
        == joined.cluster_id
    )
    forbidden = [
        ("GET", "/api/v1/namespaces/default/configmaps"),
        ("GET", "/api/v1/namespaces/kube-system/secrets"),
        ("GET", MANAGED_CLUSTER.collection_path()),
        ("GET", "/api/v1/namespaces"),
        ("POST", "/api/v1/namespaces/default/configmaps"),
    ]
    for method, path in forbidden:
        body = (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nope"}}
            if method == "POST"
            else None
        )
        with pytest.raises(ApiError) as caught:
            as_agent.request(method, path, body=body)
        assert caught.value.status == 403, (method, path)


def test_node_labels_are_aggregated_onto_the_managed_cluster(joined: Joined) -> None:
    """A node.clusternet.io/ label on every worker reaches the ManagedCluster; below the threshold it leaves."""
    nodes = [n["metadata"]["name"] for n in joined.child.get(NODE.collection_path())["items"]]
    key = "node.clusternet.io/e2e-zone"
    try:
        for name in nodes:
            joined.child.patch(NODE.object_path(name), {"metadata": {"labels": {key: "blue"}}})
        wait_for(
            lambda: joined.managed_cluster()["metadata"]["labels"].get(key) == "blue",
            "the aggregated label on the ManagedCluster",
            detail=joined.agent.tail,
        )
        joined.child.patch(NODE.object_path(nodes[0]), {"metadata": {"labels": {key: None}}})
        wait_for(
            lambda: key not in joined.managed_cluster()["metadata"]["labels"],
            "the label to leave when only half the nodes carry it",
            detail=joined.agent.tail,
        )
    finally:
        for name in nodes:
            joined.child.patch(NODE.object_path(name), {"metadata": {"labels": {key: None}}})


def test_cidrs_are_discovered_from_control_plane_pods(joined: Joined) -> None:
    """--cluster-cidr and --service-cluster-ip-range are read from a kube-controller-manager pod's command."""
    pods = "/api/v1/namespaces/kube-system/pods"
    name = "kube-controller-manager-agent-e2e"
    joined.child.create(
        pods,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"component": "kube-controller-manager"}},
            "spec": {
                "containers": [
                    {
                        "name": "kube-controller-manager",
                        "image": "registry.invalid/kube-controller-manager:v1.20.2",
                        "command": [
                            "kube-controller-manager",
                            "--cluster-cidr=10.244.0.0/16",
                            "--service-cluster-ip-range=10.96.0.0/12",
                        ],
                    }
                ]
            },
        },
    )
    try:
        status = wait_for(
            lambda: (s := joined.managed_cluster()["status"]).get("clusterCIDR") == "10.244.0.0/16" and s,
            "the discovered CIDRs in the status",
            detail=joined.agent.tail,
        )
        assert status["serviceCIDR"] == "10.96.0.0/12"
    finally:
        delete_quietly(joined.child, f"{pods}/{name}")


def test_token_renewal_through_the_token_request_api(joined: Joined) -> None:
    """Renewing asks the parent for a new token of the agent's own ServiceAccount with the current token,
    and rewrites Secret parent-cluster; the new token works."""
    before = joined.stored()

    async def renew() -> StoredCredentials:
        child = AsyncRestClient(admin_client(joined.child_info).connection)
        session = ParentSession(before, child=child)
        try:
            await session.renew(service_account_token(before.token))
            return session.credentials
        finally:
            await session.close()
            await child.close()

    renewed = asyncio.run(renew())
    assert renewed.token != before.token
    assert service_account_token(renewed.token).name == service_account_token(before.token).name
    assert joined.stored().token == renewed.token
    as_agent = RestClient(token_connection(joined.fleet.parent.server, renewed.token, renewed.ca_pem))
    assert as_agent.get(MANAGED_CLUSTER.object_path(joined.cluster_name, joined.namespace))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_get(port: int, path: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as failure:
        return failure.code, failure.read().decode()
    except OSError:
        return 0, ""


def test_standby_replica_takes_over_when_the_leader_stops(joined: Joined) -> None:
    """A second replica waits on the Lease (ready as standby); when the leader stops it takes over with the
    stored credentials and keeps the heartbeat going."""
    port = free_port()
    standby = joined.start_agent(
        "--cluster-reg-parent-url",
        joined.fleet.parent.server,
        "--cluster-reg-token",
        joined.token.value,
        "--healthz-port",
        str(port),
        *FAST,
        *ELECTION,
        name="standby",
    )
    try:
        standby.wait_for_log(r"campaigning for Lease")
        wait_for(
            lambda: http_get(port, "/readyz") == (200, "standby\n"),
            "the standby to report ready",
            detail=standby.tail,
        )
        assert http_get(port, "/healthz")[0] == 200
        beat = joined.managed_cluster()["status"]["lastObservedTime"]
        assert joined.agent.stop() == 0
        standby.wait_for_log(r"became the leader")
        standby.wait_for_log(r"using the stored credentials")
        wait_for(heartbeat_after(joined, beat), "a heartbeat from the new leader", detail=standby.tail)
        wait_for(lambda: http_get(port, "/readyz") == (200, "reporting\n"), "the new leader to report ready")
        assert "registering with the parent" not in standby.text()
    finally:
        joined.agent = standby  # the fixture stops whoever leads now


def test_restart_without_bootstrap_token_then_recover_from_revoked_credentials(joined: Joined) -> None:
    """With the bootstrap token gone, a restarted agent runs on its stored credentials alone and keeps one
    request; when the parent revokes those credentials (ServiceAccount deleted) the agent registers again as
    soon as a bootstrap token is available, and reports once the hub has approved afresh."""
    request_path = CLUSTER_REGISTRATION_REQUEST.object_path(f"clusternet-{joined.cluster_id}")
    first_request = joined.parent.get(request_path)
    assert joined.agent.stop() == 0
    delete_bootstrap_token(joined.parent, joined.token)

    restarted = joined.start_agent(
        "--cluster-reg-parent-url", joined.fleet.parent.server, *FAST, *ELECTION, name="restarted"
    )
    joined.agent = restarted
    restarted.wait_for_log(r"relying on the stored credentials")
    restarted.wait_for_log(r"using the stored credentials")
    beat = joined.managed_cluster()["status"]["lastObservedTime"]
    wait_for(heartbeat_after(joined, beat), "a heartbeat after the restart", detail=restarted.tail)
    assert cluster_lease(joined.child)["metadata"]["uid"] == joined.cluster_id
    requests = requests_for(joined.parent, joined.cluster_id)
    assert [r["metadata"]["uid"] for r in requests] == [first_request["metadata"]["uid"]]

    # Revoke: deleting the ServiceAccount invalidates every token it was issued.
    account = service_account_token(joined.stored().token)
    joined.parent.delete(SERVICE_ACCOUNT.object_path(account.name, account.namespace))
    restarted.wait_for_log(r"the parent rejected the agent's token \(401")
    restarted.wait_for_log(r"no registration token")

    fresh = create_bootstrap_token(joined.parent)
    joined.token = fresh
    joined.child.create(
        SECRET.collection_path("clusternet-system"),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "clusternet-agent-cluster-registration", "namespace": "clusternet-system"},
            "stringData": {"regToken": fresh.value},
        },
    )
    try:
        restarted.wait_for_log(r"Approved but its token has expired or was rejected")
        # The hub approves each request once; deleting it makes the agent ask again and the hub approve afresh.
        joined.parent.delete(request_path)
        restarted.wait_for_log(r"disappeared; creating it again")
        wait_for(
            lambda: (
                joined.stored().token != ""
                and service_account_token(joined.stored().token).name != account.name
            ),
            "credentials for a new ServiceAccount",
            detail=restarted.tail,
        )
        beat = joined.managed_cluster()["status"]["lastObservedTime"]
        cluster = wait_for(
            heartbeat_after(joined, beat), "heartbeats with the new credentials", detail=restarted.tail
        )
        assert ready_status(cluster) == "True"
        assert cluster["metadata"]["namespace"] == joined.namespace
        assert len(requests_for(joined.parent, joined.cluster_id)) == 1
    finally:
        delete_quietly(
            joined.child, SECRET.object_path("clusternet-agent-cluster-registration", "clusternet-system")
        )
