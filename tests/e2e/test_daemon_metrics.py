"""Operating the daemons: /metrics of a running hub, proxy and agent, and graceful stops on SIGTERM.

Everything runs for real against the session fleet: this module's own hub-lite, the hub's proxy application
(``python -m hub_lite.proxy_app``) on a loopback port with its own serving certificate, an agent-lite for
child-1, and a tunnel client connected straight to the proxy with the token the agent was issued. Only
daemons started here are ever signalled. Lease durations are ten minutes, so a standby that takes over
within the tests' deadlines can only have done so because the stopping replica released the Lease.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kubectl_clusternet.core import registration as reg
from kubectl_clusternet.core.apis.builtin import LEASE, SECRET, SERVICE_ACCOUNT
from kubectl_clusternet.core.apis.clusters import MANAGED_CLUSTER as MCLS
from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.kube.rest import RestClient
from kubectl_clusternet.core.metrics import ParsedFamily, parse
from kubectl_clusternet.core.tokens import bootstrap_token_secret, generate_bootstrap_token
from kubectl_clusternet.localfleet import ClusterInfo, FleetState, register_process
from kubectl_clusternet.localfleet.pki import CertKeyPair, issue_cert, new_ca
from tests.support.cli import run_cli
from tests.support.kube import admin_client, delete_quietly, get_or_none
from tests.support.kube import wait_for as support_wait_for

pytestmark = pytest.mark.e2e

DEADLINE = 120.0
SOCKETS = "/apis/proxies.clusternet.io/v1alpha1/sockets"
# Long enough that only a released Lease explains a takeover within DEADLINE.
LEASE_FLAGS = (
    "--leader-elect-lease-duration=600s",
    "--leader-elect-renew-deadline=10s",
    "--leader-elect-retry-period=1s",
)
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], what: str, *, detail: Callable[[], str] = lambda: "") -> T:
    return support_wait_for(check, what, deadline=DEADLINE, detail=detail)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Daemon:
    """A daemon subprocess of this module, logging to a file, registered so the fleet's ``down`` stops it."""

    def __init__(
        self, fleet: FleetState, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
    ):
        self.name, self.log = name, log
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AGENT_") and k not in ("PARENT_URL", "REG_TOKEN")
        }
        environ.update(env or {})
        with log.open("ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *argv], stdout=handle, stderr=subprocess.STDOUT, env=environ
            )
        register_process(fleet.dir, f"{name}-{self.process.pid}", self.process.pid, log=log)

    def terminate(self) -> int:
        """SIGTERM, then the exit code (killed and -9 if it does not stop within the deadline)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            return -9

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self) -> str:
        return f"{self.name} log (last lines):\n" + "\n".join(self.text().splitlines()[-40:])

    def wait_for_log(self, needle: str) -> None:
        wait_for(lambda: needle in self.text(), f"{self.name} to log {needle!r}", detail=self.tail)


def scrape(url: str, *, context: ssl.SSLContext | None = None) -> dict[str, ParsedFamily]:
    """GET /metrics and parse it strictly (a malformed exposition fails the test)."""
    with urllib.request.urlopen(url, timeout=30, context=context) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(response.read().decode())


def try_scrape(url: str, *, context: ssl.SSLContext | None = None) -> dict[str, ParsedFamily] | None:
    try:
        return scrape(url, context=context)
    except OSError:
        return None


def value(families: dict[str, ParsedFamily] | None, name: str, **labels: str) -> float | None:
    family = (families or {}).get(name)
    return family.value(**labels) if family is not None else None


def agent_argv(fleet: FleetState, child: ClusterInfo, port: int) -> list[str]:
    return [
        "agent_lite",
        f"--kubeconfig={child.kubeconfig}",
        f"--cluster-reg-parent-url={fleet.parent.server}",
        f"--cluster-reg-name=metrics-{child.name}",
        "--cluster-status-update-frequency=2s",
        "--cluster-status-collect-frequency=1s",
        "--log-format=json",
        f"--healthz-port={port}",
        *LEASE_FLAGS,
    ]


def hub_argv(fleet: FleetState, port: int) -> list[str]:
    return [
        "hub_lite",
        f"--kubeconfig={fleet.parent.kubeconfig}",
        "--log-format=json",
        f"--healthz-port={port}",
        *LEASE_FLAGS,
    ]


def issue_token(client: RestClient, namespace: str, name: str, cluster_admin: bool) -> str:
    """A ServiceAccount (cluster-admin when asked) and a fresh token for it."""
    try:
        client.create(SERVICE_ACCOUNT.collection_path(namespace), {"metadata": {"name": name}})
    except ApiError as exc:
        if exc.status != 409:
            raise
    if cluster_admin:
        try:
            client.create(
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                {
                    "metadata": {"name": f"{namespace}-{name}"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "cluster-admin",
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
                },
            )
        except ApiError as exc:
            if exc.status != 409:
                raise
    issued = client.create(SERVICE_ACCOUNT.object_path(name, namespace) + "/token", reg.token_request(3600))
    return str(issued["status"]["token"])


@dataclass
class Fleet:
    fleet: FleetState
    parent: RestClient
    tmp: Path
    hub: Daemon
    hub_port: int
    agent: Daemon
    agent_port: int
    proxy: Daemon
    proxy_port: int
    hub_ca: CertKeyPair
    tunnel: Daemon
    cluster_id: str
    parent_user_token: str
    child_token: str
    extra: list[Daemon] = field(default_factory=list)

    @property
    def child(self) -> ClusterInfo:
        return self.fleet.children[0]

    def hub_metrics(self) -> dict[str, ParsedFamily] | None:
        return try_scrape(f"http://127.0.0.1:{self.hub_port}/metrics")

    def agent_metrics(self) -> dict[str, ParsedFamily] | None:
        return try_scrape(f"http://127.0.0.1:{self.agent_port}/metrics")

    @property
    def proxy_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.hub_ca.cert_pem.decode())

    def proxy_metrics(self) -> dict[str, ParsedFamily] | None:
        return try_scrape(f"https://127.0.0.1:{self.proxy_port}/metrics", context=self.proxy_context)

    def proxied(self, path: str, cluster_id: str | None = None) -> http.client.HTTPSConnection:
        """Start a proxied GET straight to the hub's port (a parent token, the child's in the extras)."""
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.proxy_port, context=self.proxy_context, timeout=DEADLINE
        )
        connection.request(
            "GET",
            f"{SOCKETS}/{cluster_id or self.cluster_id}/proxy/direct{path}",
            headers={
                "Authorization": f"Bearer {self.parent_user_token}",
                "Impersonate-User": "clusternet",
                "Impersonate-Extra-Clusternet-Token": self.child_token,
            },
        )
        return connection

    def tails(self) -> str:
        return "\n".join(d.tail() for d in (self.hub, self.agent, self.proxy, self.tunnel))


def _publish_child_ca(parent: RestClient, namespace: str, child: ClusterInfo, cluster_id: str) -> None:
    """What the agent publishes for the proxy (the child's CA), unless it already has."""
    if get_or_none(parent, SECRET.object_path(reg.CHILD_DEPLOYER_SECRET, namespace)) is not None:
        return
    data = {"ca.crt": child.ca_file.read_bytes(), "apiserver-advertise-url": child.server.encode()}
    try:
        parent.create(
            SECRET.collection_path(namespace),
            {
                "metadata": {
                    "name": reg.CHILD_DEPLOYER_SECRET,
                    "labels": {reg.LABEL_CLUSTER_ID: cluster_id},
                },
                "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
            },
        )
    except ApiError as exc:
        if exc.status != 409:
            raise


@pytest.fixture(scope="module")
def fleet_with_daemons(fleet: FleetState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    result = run_cli("--kubeconfig", str(fleet.parent.kubeconfig), "hub", "install")
    assert result.exit_code == 0, result.stderr
    tmp = tmp_path_factory.mktemp("daemon-metrics")
    parent = admin_client(fleet.parent)
    child = fleet.children[0]
    child_client = admin_client(child)
    # Start child-1 as a cluster never seen before (earlier modules may have registered it).
    delete_quietly(child_client, LEASE.object_path(reg.AGENT_LEASE_NAME, reg.SYSTEM_NAMESPACE))
    delete_quietly(child_client, SECRET.object_path(reg.PARENT_CLUSTER_SECRET, reg.SYSTEM_NAMESPACE))
    token = generate_bootstrap_token()
    parent.create(
        SECRET.collection_path("kube-system"),
        bootstrap_token_secret(
            token, now=datetime.now(timezone.utc), ttl=timedelta(hours=1), description="metrics e2e"
        ),
    )
    daemons: list[Daemon] = []
    try:
        hub_port, agent_port, proxy_port = free_port(), free_port(), free_port()
        hub = Daemon(fleet, "hub-lite", hub_argv(fleet, hub_port), tmp / "hub.log")
        daemons.append(hub)
        agent = Daemon(
            fleet,
            "agent-lite",
            agent_argv(fleet, child, agent_port),
            tmp / "agent.log",
            env={"AGENT_CLUSTER_REG_TOKEN": token.value},
        )
        daemons.append(agent)
        hub_ca = new_ca("metrics-e2e-hub-ca")
        serving = issue_cert(
            hub_ca, "clusternet-hub", ip_addresses=[ipaddress.ip_address("127.0.0.1")], server=True
        )
        (tmp / "hub.crt").write_bytes(serving.cert_pem)
        (tmp / "hub.key").write_bytes(serving.key_pem)
        proxy = Daemon(
            fleet,
            "hub-proxy",
            [
                "hub_lite.proxy_app",
                f"--kubeconfig={fleet.parent.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--port={proxy_port}",
                f"--tls-cert-file={tmp / 'hub.crt'}",
                f"--tls-private-key-file={tmp / 'hub.key'}",
            ],
            tmp / "proxy.log",
        )
        daemons.append(proxy)

        lease = wait_for(
            lambda: get_or_none(child_client, LEASE.object_path(reg.AGENT_LEASE_NAME, reg.SYSTEM_NAMESPACE)),
            "the agent Lease in child-1",
            detail=agent.tail,
        )
        cluster_id = reg.cluster_id_from_lease(lease)
        stored = wait_for(
            lambda: reg.stored_credentials(
                get_or_none(
                    child_client, SECRET.object_path(reg.PARENT_CLUSTER_SECRET, reg.SYSTEM_NAMESPACE)
                ),
                parent_url=fleet.parent.server,
            ),
            "the agent's parent credentials",
            detail=lambda: agent.tail() + "\n" + hub.tail(),
        )
        _publish_child_ca(parent, stored.namespace, child, cluster_id)
        token_file = tmp / "agent-token"
        token_file.write_text(stored.token)
        (tmp / "hub-ca.crt").write_bytes(hub_ca.cert_pem)
        tunnel = Daemon(
            fleet,
            "agent-tunnel",
            [
                "agent_lite.tunnel_client",
                f"--server=https://127.0.0.1:{proxy_port}",
                f"--cluster-id={cluster_id}",
                f"--token-file={token_file}",
                f"--ca-file={tmp / 'hub-ca.crt'}",
                f"--child-server={child.server}",
            ],
            tmp / "tunnel.log",
        )
        daemons.append(tunnel)
        setup = Fleet(
            fleet=fleet,
            parent=parent,
            tmp=tmp,
            hub=hub,
            hub_port=hub_port,
            agent=agent,
            agent_port=agent_port,
            proxy=proxy,
            proxy_port=proxy_port,
            hub_ca=hub_ca,
            tunnel=tunnel,
            cluster_id=cluster_id,
            parent_user_token=issue_token(parent, "default", "metrics-e2e-user", cluster_admin=False),
            child_token=issue_token(child_client, "default", "metrics-e2e-admin", cluster_admin=True),
            extra=daemons,
        )
        yield setup
    finally:
        for daemon in reversed(daemons):
            daemon.terminate()
        delete_quietly(parent, SECRET.object_path(f"bootstrap-token-{token.token_id}", "kube-system"))
        child_client.close()
        parent.close()


def _ready_cluster(setup: Fleet) -> dict[str, Any] | None:
    found = setup.parent.get(
        MCLS.collection_path(), query=[("labelSelector", f"{reg.LABEL_CLUSTER_ID}={setup.cluster_id}")]
    )
    items = found.get("items") or []
    if len(items) != 1:
        return None
    ready = reg.find_condition((items[0].get("status") or {}).get("conditions"), "Ready") or {}
    return items[0] if ready.get("status") == "True" else None


# ---------------------------------------------------------------------------------------------------------
# metrics


def test_hub_metrics_show_heartbeat_ages_reconciles_and_leadership(fleet_with_daemons: Fleet) -> None:
    """The leading hub exports each reporting cluster's heartbeat age (fresh while the agent reports every
    2s), counts its controllers' reconciliations and says it leads; the exposition parses strictly."""
    setup = fleet_with_daemons
    wait_for(lambda: _ready_cluster(setup), "child-1 Ready in the parent", detail=setup.tails)

    def fresh_on_hub() -> dict[str, ParsedFamily] | None:
        metrics = setup.hub_metrics()
        age = value(metrics, "clusternet_cluster_heartbeat_age_seconds", cluster_id=setup.cluster_id)
        return metrics if age is not None and 0 <= age < 30 else None

    families = wait_for(
        fresh_on_hub,
        "a fresh heartbeat age for child-1 on the hub",
        detail=lambda: setup.hub.tail() + "\n" + str(setup.hub_metrics()),
    )
    age_family = families["clusternet_cluster_heartbeat_age_seconds"]
    assert age_family.kind == "gauge"
    assert {"cluster_id": setup.cluster_id, "cluster_name": f"metrics-{setup.child.name}"}.items() <= next(
        s.label_dict for s in age_family.samples if s.label_dict["cluster_id"] == setup.cluster_id
    ).items()
    assert families["clusternet_reconcile_total"].kind == "counter"
    for controller in ("approver", "lifecycle"):
        total = value(families, "clusternet_reconcile_total", controller=controller)
        assert total is not None and total >= 1, controller
        errors = value(families, "clusternet_reconcile_errors_total", controller=controller) or 0
        assert 0 <= errors <= total
    assert value(families, "clusternet_leader_election_is_leader") == 1
    assert value(families, "clusternet_build_info", daemon="hub-lite") == 1


def test_agent_metrics_show_its_own_heartbeat_and_reports(fleet_with_daemons: Fleet) -> None:
    """The agent's heartbeat age restarts at every successful report; its reports count as reconciliations."""
    setup = fleet_with_daemons

    def fresh_on_agent() -> dict[str, ParsedFamily] | None:
        metrics = setup.agent_metrics()
        age = value(metrics, "clusternet_cluster_heartbeat_age_seconds", cluster_id=setup.cluster_id)
        reports = value(metrics, "clusternet_reconcile_total", controller="status-reporter") or 0
        return metrics if age is not None and 0 <= age < 30 and reports >= 2 else None

    families = wait_for(
        fresh_on_agent,
        "the agent's heartbeat age and report count",
        detail=lambda: setup.agent.tail() + "\n" + str(setup.agent_metrics()),
    )
    reports = value(families, "clusternet_reconcile_total", controller="status-reporter")
    failures = value(families, "clusternet_reconcile_errors_total", controller="status-reporter") or 0
    assert reports is not None and 0 <= failures < reports
    assert value(families, "clusternet_leader_election_is_leader") == 1
    assert value(families, "clusternet_build_info", daemon="agent-lite") == 1
    # Reports keep landing: a later scrape shows more of them.
    wait_for(
        lambda: (
            (value(setup.agent_metrics(), "clusternet_reconcile_total", controller="status-reporter") or 0)
            > reports
        ),
        "another report",
        detail=setup.agent.tail,
    )


def test_proxy_metrics_count_tunnels_and_proxied_requests_by_code(fleet_with_daemons: Fleet) -> None:
    """One tunnel connected; a proxied GET that succeeds and one for an unknown cluster are counted under
    200 and 404, with the bytes the callers received."""
    setup = fleet_with_daemons
    wait_for(
        lambda: value(setup.proxy_metrics(), "clusternet_tunnels_connected") == 1,
        "the tunnel to show on the proxy's /metrics",
        detail=lambda: setup.proxy.tail() + "\n" + setup.tunnel.tail(),
    )

    def get_version() -> bytes | None:
        connection = setup.proxied("/version")
        try:
            response = connection.getresponse()
            body = response.read()
            return body if response.status == 200 else None
        finally:
            connection.close()

    body = wait_for(get_version, "a proxied GET /version to succeed", detail=setup.tails)
    assert "gitVersion" in json.loads(body)
    connection = setup.proxied("/version", cluster_id="00000000-0000-0000-0000-000000000000")
    try:
        assert connection.getresponse().status == 404
    finally:
        connection.close()
    families = setup.proxy_metrics()
    assert families is not None
    assert families["clusternet_proxied_requests_total"].kind == "counter"
    assert (value(families, "clusternet_proxied_requests_total", code="200") or 0) >= 1
    assert (value(families, "clusternet_proxied_requests_total", code="404") or 0) >= 1
    assert (value(families, "clusternet_proxied_response_bytes_total", code="200") or 0) > len(body)
    assert value(families, "clusternet_proxied_requests_in_flight") == 0


# ---------------------------------------------------------------------------------------------------------
# graceful shutdown


def _no_traceback(daemon: Daemon) -> None:
    assert "Traceback" not in daemon.text(), daemon.tail()


def test_sigterm_lets_a_proxied_watch_finish_then_closes_the_tunnel(fleet_with_daemons: Fleet) -> None:
    """SIGTERM while a watch runs through the proxy: the watch ends normally (the API server's own timeout),
    the tunnel is closed with a close frame the agent side reports, and the proxy exits 0."""
    setup = fleet_with_daemons
    outcome: dict[str, Any] = {}

    def watch() -> None:
        connection = setup.proxied("/api/v1/namespaces?watch=1&timeoutSeconds=5")
        try:
            response = connection.getresponse()
            outcome["status"] = response.status
            outcome["body"] = response.read()  # raises IncompleteRead if the stream is cut
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = repr(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    wait_for(
        lambda: value(setup.proxy_metrics(), "clusternet_proxied_requests_in_flight") == 1,
        "the watch to be in flight",
        detail=setup.proxy.tail,
    )
    assert setup.proxy.terminate() == 0, setup.proxy.tail()
    thread.join(timeout=DEADLINE)
    assert outcome.get("status") == 200 and "error" not in outcome, outcome
    assert b'"type":"ADDED"' in outcome["body"]
    _no_traceback(setup.proxy)
    setup.proxy.wait_for_log("waiting up to")
    setup.tunnel.wait_for_log("tunnel to")  # the agent side saw the close and now retries
    wait_for(
        lambda: "closed" in setup.tunnel.text() and "retrying" in setup.tunnel.text(),
        "the tunnel client to see its tunnel closed",
        detail=setup.tunnel.tail,
    )


def _lease_holder(client: RestClient, path: str) -> str:
    return reg_lease_holder(get_or_none(client, path))


def reg_lease_holder(lease: dict[str, Any] | None) -> str:
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def _identity(daemon: Daemon) -> str:
    for line in daemon.text().splitlines():
        if "became the leader" in line:
            message = json.loads(line)["msg"]
            return str(message.split("leader election: ", 1)[1].split(" became the leader", 1)[0])
    return ""


def test_sigterm_hub_releases_the_lease_to_a_standby(fleet_with_daemons: Fleet) -> None:
    """A stopped hub exits 0 without a traceback and releases its ten-minute Lease: the standby leads at once."""
    setup = fleet_with_daemons
    path = LEASE.object_path(reg.HUB_LEASE_NAME, reg.SYSTEM_NAMESPACE)
    leader = wait_for(lambda: _identity(setup.hub), "the hub to lead", detail=setup.hub.tail)
    standby_port = free_port()
    standby = Daemon(
        setup.fleet, "hub-lite-standby", hub_argv(setup.fleet, standby_port), setup.tmp / "hub2.log"
    )
    setup.extra.append(standby)
    standby.wait_for_log("campaigning for Lease")
    assert _lease_holder(setup.parent, path) == leader
    assert "became the leader" not in standby.text()

    assert setup.hub.terminate() == 0, setup.hub.tail()
    _no_traceback(setup.hub)
    assert "released Lease" in setup.hub.text()
    standby.wait_for_log("became the leader")
    assert _lease_holder(setup.parent, path) == _identity(standby)
    wait_for(
        lambda: (
            value(
                try_scrape(f"http://127.0.0.1:{standby_port}/metrics"), "clusternet_leader_election_is_leader"
            )
            == 1
        ),
        "the standby's metrics to say it leads",
        detail=standby.tail,
    )


def test_sigterm_agent_releases_the_lease_to_a_standby(fleet_with_daemons: Fleet) -> None:
    """A stopped agent exits 0 without a traceback and releases its Lease; a second replica reports at once."""
    setup = fleet_with_daemons
    child = admin_client(setup.child)
    try:
        path = LEASE.object_path(reg.AGENT_LEASE_NAME, reg.SYSTEM_NAMESPACE)
        leader = wait_for(lambda: _identity(setup.agent), "the agent to lead", detail=setup.agent.tail)
        standby_port = free_port()
        standby = Daemon(
            setup.fleet,
            "agent-lite-standby",
            agent_argv(setup.fleet, setup.child, standby_port),
            setup.tmp / "agent2.log",
        )
        setup.extra.append(standby)
        standby.wait_for_log("campaigning for Lease")
        assert _lease_holder(child, path) == leader

        assert setup.agent.terminate() == 0, setup.agent.tail()
        _no_traceback(setup.agent)
        assert "released Lease" in setup.agent.text()
        standby.wait_for_log("became the leader")
        assert _lease_holder(child, path) == _identity(standby)
        wait_for(
            lambda: (
                value(
                    try_scrape(f"http://127.0.0.1:{standby_port}/metrics"),
                    "clusternet_cluster_heartbeat_age_seconds",
                    cluster_id=setup.cluster_id,
                )
                is not None
            ),
            "the standby agent to report under the same cluster ID",
            detail=standby.tail,
        )
    finally:
        child.close()
