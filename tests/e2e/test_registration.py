"""Clusters join the fleet: hub-lite and agent-lite as real processes against the session's real control planes.

One hub and one agent per child run for the whole module (reports every 2 s, so three missed beats take 6 s);
tests restart and stop them as a user would and check the parent's objects, the CLI's view and the logs.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kubectl_clusternet.cli.commands.tokens import delete_bootstrap_token, list_bootstrap_tokens
from kubectl_clusternet.cli.context import AppContext
from kubectl_clusternet.cli.env import Environment
from kubectl_clusternet.cli.globalflags import GlobalFlags
from kubectl_clusternet.core import registration as reg
from kubectl_clusternet.core.apis.builtin import (
    EVENT,
    LEASE,
    NAMESPACE,
    ROLE_BINDING,
    SECRET,
    SERVICE_ACCOUNT,
)
from kubectl_clusternet.core.apis.clusters import CLUSTER_REGISTRATION_REQUEST as CRR
from kubectl_clusternet.core.apis.clusters import MANAGED_CLUSTER as MCLS
from kubectl_clusternet.core.errors import ApiError, NotFoundError
from kubectl_clusternet.core.kube.rest import RestClient, token_connection
from kubectl_clusternet.core.tokens import BootstrapToken, bootstrap_token_secret, generate_bootstrap_token
from kubectl_clusternet.localfleet import ClusterInfo, FleetState, register_process
from tests.support.cli import run_cli
from tests.support.kube import admin_client, delete_quietly, get_or_none
from tests.support.kube import wait_for as support_wait_for

pytestmark = pytest.mark.e2e

DEADLINE = 120.0
REPORT_EVERY = "2s"
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------------------
# helpers


def wait_for(check: Callable[[], T | None], what: str, *, detail: Callable[[], str] = lambda: "") -> T:
    return support_wait_for(check, what, deadline=DEADLINE, detail=detail)


admin = admin_client


def labelled(client: RestClient, path: str, cluster_id: str) -> list[dict[str, Any]]:
    found = client.get(path, query=[("labelSelector", f"{reg.LABEL_CLUSTER_ID}={cluster_id}")])
    return list(found.get("items") or [])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Daemon:
    """A hub-lite or agent-lite subprocess logging to a file, registered with the fleet so ``down`` stops it."""

    def __init__(
        self, fleet: FleetState, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
    ):
        self.fleet, self.name, self.argv, self.log, self.env = fleet, name, argv, log, env
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AGENT_") and k not in ("PARENT_URL", "REG_TOKEN")
        }
        environ.update(self.env or {})
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *self.argv], stdout=handle, stderr=subprocess.STDOUT, env=environ
            )
        register_process(self.fleet.dir, f"{self.name}-{self.process.pid}", self.process.pid, log=self.log)

    def stop(self) -> int:
        """SIGTERM and wait for the graceful exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            return -9

    def restart(self) -> None:
        self.stop()
        self.start()

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self) -> str:
        return f"{self.name} log (last lines):\n" + "\n".join(self.text().splitlines()[-40:])

    def wait_for_log(self, pattern: str, *, after: int = 0) -> re.Match[str]:
        """Wait for a log line matching ``pattern`` at or after character offset ``after``."""
        compiled = re.compile(pattern)
        return wait_for(
            lambda: compiled.search(self.text(), after), f"{self.name} log /{pattern}/", detail=self.tail
        )


def hub_argv(fleet: FleetState, port: int) -> list[str]:
    return [
        "hub_lite",
        f"--kubeconfig={fleet.parent.kubeconfig}",
        "--log-format=json",
        f"--healthz-port={port}",
        "--leader-elect-lease-duration=4s",
        "--leader-elect-renew-deadline=3s",
        "--leader-elect-retry-period=1s",
    ]


def agent_argv(fleet: FleetState, child: ClusterInfo, name: str, *extra: str) -> list[str]:
    return [
        "agent_lite",
        f"--kubeconfig={child.kubeconfig}",
        f"--cluster-reg-parent-url={fleet.parent.server}",
        f"--cluster-reg-name={name}",
        f"--cluster-status-update-frequency={REPORT_EVERY}",
        "--cluster-status-collect-frequency=1s",
        *extra,
    ]


def make_token(
    parent: RestClient, *, now: datetime | None = None, ttl: timedelta = timedelta(hours=1)
) -> BootstrapToken:
    token = generate_bootstrap_token()
    body = bootstrap_token_secret(
        token, now=now or datetime.now(timezone.utc), ttl=ttl, description="registration e2e"
    )
    parent.create(SECRET.collection_path("kube-system"), body)
    return token


def ready_condition(cluster: dict[str, Any] | None) -> dict[str, Any]:
    return reg.find_condition(((cluster or {}).get("status") or {}).get("conditions"), "Ready") or {}


def has_taint(cluster: dict[str, Any]) -> bool:
    return any(
        t.get("key") == reg.TAINT_UNSCHEDULABLE for t in (cluster.get("spec") or {}).get("taints") or ()
    )


@dataclass
class Joined:
    fleet: FleetState
    parent: RestClient
    token: BootstrapToken
    hub: Daemon
    hub_port: int
    agents: dict[str, Daemon]
    cluster_ids: dict[str, str]
    tmp: Path
    extra: list[Daemon] = field(default_factory=list)

    def managed_cluster(self, child: str) -> dict[str, Any] | None:
        items = labelled(self.parent, MCLS.collection_path(), self.cluster_ids[child])
        return items[0] if len(items) == 1 else None

    def snapshot(self, child: str) -> dict[str, list[str]]:
        """UIDs of everything the approval made for a child, by kind."""
        cluster_id = self.cluster_ids[child]
        namespaces = labelled(self.parent, NAMESPACE.collection_path(), cluster_id)
        namespace = namespaces[0]["metadata"]["name"] if namespaces else "-"
        return {
            kind: sorted(item["metadata"]["uid"] for item in labelled(self.parent, path, cluster_id))
            for kind, path in (
                ("requests", CRR.collection_path()),
                ("namespaces", NAMESPACE.collection_path()),
                ("clusters", MCLS.collection_path()),
                ("serviceaccounts", SERVICE_ACCOUNT.collection_path(namespace)),
            )
        }


def wait_ready(joined: Joined, child: str) -> dict[str, Any]:
    return wait_for(
        lambda: (
            (c := joined.managed_cluster(child)) is not None
            and ready_condition(c).get("status") == "True"
            and not has_taint(c)
            and c
        ),
        f"ManagedCluster of {child} Ready=True and untainted",
        detail=lambda: joined.agents[child].tail() + "\n" + joined.hub.tail(),
    )


@pytest.fixture(scope="module")
def joined(fleet: FleetState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Joined]:
    """Hub installed, one hub-lite, and one agent per child registered from scratch with a bootstrap token."""
    result = run_cli("--kubeconfig", str(fleet.parent.kubeconfig), "hub", "install")
    assert result.exit_code == 0, result.stderr
    parent = admin(fleet.parent)
    tmp = tmp_path_factory.mktemp("registration")
    for child in fleet.children:
        # Earlier tests may have registered these children; start each as a cluster never seen before.
        child_client = admin(child)
        delete_quietly(child_client, LEASE.object_path(reg.AGENT_LEASE_NAME, reg.SYSTEM_NAMESPACE))
        delete_quietly(child_client, SECRET.object_path(reg.PARENT_CLUSTER_SECRET, reg.SYSTEM_NAMESPACE))
        child_client.close()
    token = make_token(parent)
    port = free_port()
    hub = Daemon(fleet, "hub-lite", hub_argv(fleet, port), tmp / "hub.log")
    agents = {
        child.name: Daemon(
            fleet,
            f"agent-{child.name}",
            agent_argv(fleet, child, f"reg-{child.name}"),
            tmp / f"agent-{child.name}.log",
            env={"AGENT_CLUSTER_REG_TOKEN": token.value},
        )
        for child in fleet.children
    }
    joined = Joined(fleet, parent, token, hub, port, agents, {}, tmp)
    try:
        for child in fleet.children:
            child_client = admin(child)
            lease = wait_for(
                lambda c=child_client: get_or_none(
                    c, LEASE.object_path(reg.AGENT_LEASE_NAME, reg.SYSTEM_NAMESPACE)
                ),
                f"the agent Lease in {child.name}",
                detail=agents[child.name].tail,
            )
            joined.cluster_ids[child.name] = reg.cluster_id_from_lease(lease)
            child_client.close()
        yield joined
    finally:
        for daemon in [*agents.values(), hub, *joined.extra]:
            daemon.stop()
        parent.close()


# ---------------------------------------------------------------------------------------------------------
# tests


def test_children_register_and_the_cli_shows_them_ready(joined: Joined) -> None:
    """Both children are approved and report; `get mcls -A` and `get clsrr` show what a Clusternet user expects."""
    for child in joined.agents:
        wait_ready(joined, child)
    kubeconfig = str(joined.fleet.parent.kubeconfig)
    clusters = run_cli("--kubeconfig", kubeconfig, "get", "mcls", "-A")
    assert clusters.exit_code == 0, clusters.stderr
    requests = run_cli("--kubeconfig", kubeconfig, "get", "clsrr")
    assert requests.exit_code == 0, requests.stderr
    for child, cluster_id in joined.cluster_ids.items():
        row = next((line.split() for line in clusters.stdout.splitlines() if cluster_id in line), None)
        assert row is not None, clusters.stdout
        assert row[1] == f"reg-{child}" and row[2] == cluster_id
        assert row[3:6] == ["Pull", "v1.20.2", "True"], clusters.stdout
        request_row = next(line.split() for line in requests.stdout.splitlines() if cluster_id in line)
        assert request_row[:3] == [f"clusternet-{cluster_id}", cluster_id, "Approved"]


def test_approval_hands_out_a_bound_token_and_records_an_event(joined: Joined) -> None:
    """The request's status carries a TokenRequest JWT (it expires) and the parent's CA; an Event says why."""
    cluster_id = joined.cluster_ids[joined.fleet.children[0].name]
    request = joined.parent.get(CRR.object_path(reg.crr_name(cluster_id)))
    credentials = reg.approved_credentials(request)
    assert credentials is not None
    claims = json.loads(base64.urlsafe_b64decode(credentials.token.split(".")[1] + "=="))
    assert claims["exp"] > time.time() and claims["sub"].startswith(
        f"system:serviceaccount:{credentials.namespace}:"
    )
    assert credentials.ca_pem == joined.fleet.parent.ca_file.read_bytes()
    events = joined.parent.get(
        EVENT.collection_path("default"),
        query=[("fieldSelector", f"involvedObject.name={reg.crr_name(cluster_id)}")],
    )
    reasons = {(e["reason"], e["source"]["component"]) for e in events["items"]}
    assert ("ClusterRegistrationApproved", "clusternet-hub") in reasons


def test_hub_replaces_an_expired_token_in_an_approved_request(joined: Joined) -> None:
    """An agent away longer than its token lived finds a working token in its request when it comes back."""
    cluster_id = joined.cluster_ids[joined.fleet.children[1].name]
    path = CRR.object_path(reg.crr_name(cluster_id))
    request = joined.parent.get(path)
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').decode().rstrip("=")
    expired_claims = {"sub": "system:serviceaccount:x:y", "iat": 1_000_000_000, "exp": 1_000_000_600}
    body = base64.urlsafe_b64encode(json.dumps(expired_claims).encode()).decode().rstrip("=")
    request["status"]["token"] = base64.b64encode(f"{header}.{body}.sig".encode()).decode()
    joined.parent.replace(path + "/status", request)

    def fresh_token() -> str | None:
        credentials = reg.approved_credentials(joined.parent.get(path))
        if credentials is None or credentials.token.startswith(header):
            return None
        return credentials.token

    token = wait_for(fresh_token, "the hub to re-issue the request's token")
    review = joined.parent.create(
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
    )
    assert review["status"]["authenticated"] is True


def test_hub_health_endpoints_and_json_logs(joined: Joined) -> None:
    """/healthz and /readyz answer 200 on loopback, and every hub log line is one JSON object."""
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(f"http://127.0.0.1:{joined.hub_port}{path}", timeout=10) as response:
            assert response.status == 200
    lines = [line for line in joined.hub.text().splitlines() if line.strip()]
    documents = [json.loads(line) for line in lines]
    assert any(d["msg"].startswith("approved ClusterRegistrationRequest") for d in documents)
    assert all({"time", "level", "logger", "msg"} <= set(d) for d in documents)


def _allowed(client: RestClient, **attributes: str) -> bool:
    review = client.create(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        },
    )
    return bool(review["status"].get("allowed"))


def test_cluster_credentials_reach_only_their_own_namespace(joined: Joined) -> None:
    """The token stored in the child may do anything in its dedicated namespace and nothing elsewhere."""
    first, second = (child.name for child in joined.fleet.children)
    child = admin(joined.fleet.children[0])
    secret = child.get(SECRET.object_path(reg.PARENT_CLUSTER_SECRET, reg.SYSTEM_NAMESPACE))
    child.close()
    stored = reg.stored_credentials(secret, parent_url=joined.fleet.parent.server)
    assert stored is not None and stored.cluster_id == joined.cluster_ids[first]
    other_namespace = labelled(joined.parent, NAMESPACE.collection_path(), joined.cluster_ids[second])[0][
        "metadata"
    ]["name"]
    agent = RestClient(token_connection(joined.fleet.parent.server, stored.token, stored.ca_pem))
    own, own_id, other_id = stored.namespace, joined.cluster_ids[first], joined.cluster_ids[second]
    cases = [
        (
            True,
            dict(
                namespace=own,
                verb="update",
                group="clusters.clusternet.io",
                resource="managedclusters",
                subresource="status",
            ),
        ),
        (True, dict(namespace=own, verb="create", group="apps", resource="deployments")),
        (True, dict(namespace=own, verb="create", resource="serviceaccounts", subresource="token")),
        (True, dict(verb="get", group="clusters.clusternet.io", resource="clusterregistrationrequests")),
        (True, dict(verb="get", group="proxies.clusternet.io", resource="sockets", name=own_id)),
        (False, dict(verb="get", group="proxies.clusternet.io", resource="sockets", name=other_id)),
        (
            False,
            dict(
                namespace=other_namespace,
                verb="get",
                group="clusters.clusternet.io",
                resource="managedclusters",
            ),
        ),
        (False, dict(namespace="kube-system", verb="get", resource="secrets")),
        (False, dict(verb="list", resource="secrets")),
        (False, dict(verb="list", group="clusters.clusternet.io", resource="clusterregistrationrequests")),
        (False, dict(verb="create", resource="namespaces")),
    ]
    try:
        verdicts = [(expected, attributes, _allowed(agent, **attributes)) for expected, attributes in cases]
    finally:
        agent.close()
    assert [(a, got) for expected, a, got in verdicts if got != expected] == []


def test_agent_restart_keeps_its_cluster_id_and_creates_nothing_new(joined: Joined) -> None:
    """A restarted agent reports again under the same ID, with no second request, namespace or cluster."""
    child = joined.fleet.children[0].name
    before = joined.snapshot(child)
    assert all(len(uids) == 1 for uids in before.values()), before
    joined.agents[child].restart()
    restarted = datetime.now(timezone.utc).replace(microsecond=0)
    wait_for(
        lambda: (
            (c := joined.managed_cluster(child)) is not None
            and (reg.parse_time(c["status"].get("lastObservedTime")) or restarted) > restarted
        ),
        f"a report from the restarted agent of {child}",
        detail=joined.agents[child].tail,
    )
    child_client = admin(joined.fleet.children[0])
    lease = child_client.get(LEASE.object_path(reg.AGENT_LEASE_NAME, reg.SYSTEM_NAMESPACE))
    child_client.close()
    assert reg.cluster_id_from_lease(lease) == joined.cluster_ids[child]
    assert joined.snapshot(child) == before


def test_hub_restart_loses_nothing_and_finishes_half_done_approvals(joined: Joined) -> None:
    """A request made while the hub is down, whose namespace a crashed hub had already created, is approved
    into that namespace by the restarted hub; the members' objects stay exactly as they were."""
    before = {child: joined.snapshot(child) for child in joined.agents}
    assert joined.hub.stop() == 0
    cluster_id = str(uuid.uuid4())
    half_done = f"clusternet-half-{cluster_id[:5]}"
    joined.parent.create(
        NAMESPACE.collection_path(),
        {"metadata": {"name": half_done, "labels": reg.ownership_labels(cluster_id, "made-while-down")}},
    )
    joined.parent.create(
        CRR.collection_path(), reg.registration_request(cluster_id=cluster_id, cluster_name="made-while-down")
    )
    offset = len(joined.hub.text())
    joined.hub.start()
    joined.hub.wait_for_log(r"became the leader", after=offset)
    credentials = wait_for(
        lambda: reg.approved_credentials(joined.parent.get(CRR.object_path(reg.crr_name(cluster_id)))),
        "approval of the request made while the hub was down",
        detail=joined.hub.tail,
    )
    assert credentials.namespace == half_done
    assert [
        n["metadata"]["name"] for n in labelled(joined.parent, NAMESPACE.collection_path(), cluster_id)
    ] == [half_done]
    for child in joined.agents:
        wait_ready(joined, child)
        assert joined.snapshot(child) == before[child]


def _lease(joined: Joined) -> dict[str, Any]:
    return dict(joined.parent.get(LEASE.object_path(reg.HUB_LEASE_NAME, reg.SYSTEM_NAMESPACE)))


def test_standby_hub_takes_over_and_a_paused_leader_steps_down(joined: Joined) -> None:
    """A second replica only waits while the leader renews; when the leader freezes past the lease it takes
    over, and the thawed old leader notices, stops its controllers and campaigns again."""
    identity = json.loads(
        next(line for line in reversed(joined.hub.text().splitlines()) if "hub-lite starting as" in line)
    )["identity"]
    standby = Daemon(
        joined.fleet, "hub-lite-standby", hub_argv(joined.fleet, free_port()), joined.tmp / "standby.log"
    )
    joined.extra.append(standby)
    standby.wait_for_log(r"campaigning for Lease clusternet-system/clusternet-hub")
    first_renewal = reg.parse_time(_lease(joined)["spec"]["renewTime"])
    assert first_renewal is not None
    # Longer than a lease duration (4s) of renewals by the leader, all watched by the standby.
    wait_for(
        lambda: (
            (reg.parse_time((lease := _lease(joined))["spec"]["renewTime"]) or first_renewal)
            > first_renewal + timedelta(seconds=6)
            and lease["spec"]["holderIdentity"] == identity
        ),
        "the leader to keep renewing",
        detail=joined.hub.tail,
    )
    assert "became the leader" not in standby.text()

    assert joined.hub.process is not None
    joined.hub.process.send_signal(signal.SIGSTOP)
    try:
        standby.wait_for_log(r"became the leader")
        cluster_id = str(uuid.uuid4())
        joined.parent.create(
            CRR.collection_path(),
            reg.registration_request(cluster_id=cluster_id, cluster_name="after-failover"),
        )
        wait_for(
            lambda: (
                reg.request_outcome(get_or_none(joined.parent, CRR.object_path(reg.crr_name(cluster_id))))[0]
                == "Approved"
            ),
            "the standby to approve a new request",
            detail=standby.tail,
        )
    finally:
        offset = len(joined.hub.text())
        joined.hub.process.send_signal(signal.SIGCONT)
    joined.hub.wait_for_log(r"lost Lease clusternet-system/clusternet-hub; stopping its work", after=offset)
    joined.hub.wait_for_log(r"controllers stopped", after=offset)
    joined.hub.wait_for_log(r"campaigning for Lease", after=offset)
    # A graceful stop gives the Lease up, so the module's hub leads again at once.
    assert standby.stop() == 0
    joined.hub.wait_for_log(r"became the leader", after=offset)


def test_silent_cluster_turns_unknown_and_tainted_then_recovers(joined: Joined) -> None:
    """Three missed beats: Ready=Unknown (ClusterStatusUnknown), probes false, taint; a restarted agent clears it."""
    child = joined.fleet.children[1].name
    wait_ready(joined, child)
    assert joined.agents[child].stop() == 0
    silent = wait_for(
        lambda: (
            (c := joined.managed_cluster(child)) is not None
            and ready_condition(c).get("status") == "Unknown"
            and has_taint(c)
            and c
        ),
        f"{child} to turn Unknown and tainted",
        detail=joined.hub.tail,
    )
    assert ready_condition(silent)["reason"] == "ClusterStatusUnknown"
    assert ready_condition(silent)["message"] == "Clusternet agent stopped posting cluster status."
    assert (silent["status"]["healthz"], silent["status"]["livez"], silent["status"]["readyz"]) == (
        False,
        False,
        False,
    )
    taint = next(t for t in silent["spec"]["taints"] if t["key"] == reg.TAINT_UNSCHEDULABLE)
    assert taint["effect"] == "NoSchedule"
    shown = run_cli("--kubeconfig", str(joined.fleet.parent.kubeconfig), "get", "mcls", "-A")
    row = next(line.split() for line in shown.stdout.splitlines() if joined.cluster_ids[child] in line)
    assert "Unknown" in row
    joined.agents[child].start()
    wait_ready(joined, child)


def test_request_named_after_another_id_is_denied(joined: Joined) -> None:
    """A request whose name is not clusternet-<spec.clusterId> is Denied with a reason, and nothing is created."""
    named_for, claimed = str(uuid.uuid4()), str(uuid.uuid4())
    body = reg.registration_request(cluster_id=claimed, cluster_name="impostor")
    body["metadata"]["name"] = reg.crr_name(named_for)
    joined.parent.create(CRR.collection_path(), body)
    result, message = wait_for(
        lambda: (
            (outcome := reg.request_outcome(joined.parent.get(CRR.object_path(reg.crr_name(named_for)))))[0]
            and outcome
        ),
        "a decision on the mismatched request",
        detail=joined.hub.tail,
    )
    assert result == "Denied" and claimed in message
    assert labelled(joined.parent, NAMESPACE.collection_path(), claimed) == []
    assert labelled(joined.parent, MCLS.collection_path(), claimed) == []
    events = joined.parent.get(
        EVENT.collection_path("default"),
        query=[("fieldSelector", f"involvedObject.name={reg.crr_name(named_for)}")],
    )
    assert [e["reason"] for e in events["items"]] == ["ClusterRegistrationDenied"]


def _token_authenticates(joined: Joined, token: BootstrapToken) -> bool:
    client = RestClient(
        token_connection(joined.fleet.parent.server, token.value, joined.fleet.parent.ca_file.read_bytes())
    )
    try:
        client.get("/apis/clusters.clusternet.io/v1beta1")
        return True
    except ApiError as exc:
        return exc.status != 401
    finally:
        client.close()


@pytest.mark.parametrize("case", ["wrong-secret", "expired", "deleted"])
def test_refused_tokens_create_nothing(joined: Joined, case: str) -> None:
    """A wrong, expired or deleted bootstrap token gets one clear agent log line and no objects in the parent.

    The joining cluster is the parent itself (both children are already members): its agent Lease gives the ID.
    """
    parent_info = joined.fleet.parent
    delete_quietly(joined.parent, LEASE.object_path(reg.AGENT_LEASE_NAME, reg.SYSTEM_NAMESPACE))
    extra: tuple[str, ...] = ()
    if case == "wrong-secret":
        token = BootstrapToken(joined.token.token_id, "z" * 16)
        line = r"refusing to trust the parent .*does not match the token"
    elif case == "expired":
        token = make_token(
            joined.parent, now=datetime.now(timezone.utc) - timedelta(hours=2), ttl=timedelta(hours=1)
        )
        extra, line = (
            ("--insecure-skip-parent-verify",),
            r"rejected the registration token \(401 Unauthorized\)",
        )
    else:
        token = make_token(joined.parent)
        wait_for(lambda: _token_authenticates(joined, token), "the new token to work")
        joined.parent.delete(SECRET.object_path(f"bootstrap-token-{token.token_id}", "kube-system"))
        wait_for(lambda: not _token_authenticates(joined, token), "the deleted token to stop working")
        extra, line = (
            ("--insecure-skip-parent-verify",),
            r"rejected the registration token \(401 Unauthorized\)",
        )
    agent = Daemon(
        joined.fleet,
        f"agent-refused-{case}",
        agent_argv(joined.fleet, parent_info, "refused", *extra),
        joined.tmp / f"refused-{case}.log",
        env={"AGENT_CLUSTER_REG_TOKEN": token.value},
    )
    try:
        agent.wait_for_log(line)
        lease = joined.parent.get(LEASE.object_path(reg.AGENT_LEASE_NAME, reg.SYSTEM_NAMESPACE))
        cluster_id = reg.cluster_id_from_lease(lease)
        assert get_or_none(joined.parent, CRR.object_path(reg.crr_name(cluster_id))) is None
        assert labelled(joined.parent, NAMESPACE.collection_path(), cluster_id) == []
        assert agent.process is not None and agent.process.poll() is None, "the agent keeps retrying"
    finally:
        agent.stop()
        if token != joined.token and token.token_id != joined.token.token_id:
            delete_quietly(
                joined.parent, SECRET.object_path(f"bootstrap-token-{token.token_id}", "kube-system")
            )
        delete_quietly(joined.parent, LEASE.object_path(reg.AGENT_LEASE_NAME, reg.SYSTEM_NAMESPACE))


def _app(joined: Joined) -> tuple[AppContext, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, environ=dict(os.environ))
    return AppContext(env=env, flags=GlobalFlags(kubeconfig=str(joined.fleet.parent.kubeconfig))), out, err


def test_bootstrap_token_commands_create_list_and_revoke(joined: Joined) -> None:
    """`create bootstrap-token` prints a working token and the agent command; listing shows it without its
    secret; deleting it revokes it at once."""
    kubeconfig = str(joined.fleet.parent.kubeconfig)
    created = run_cli(
        "--kubeconfig", kubeconfig, "create", "bootstrap-token", "--ttl", "2h", "--description", "e2e cli"
    )
    assert created.exit_code == 0, created.stderr
    value = re.search(r"^  ([a-z0-9]{6}\.[a-z0-9]{16})$", created.stdout, re.MULTILINE)
    assert value is not None, created.stdout
    token = BootstrapToken(*value.group(1).split("."))
    assert (
        f"agent-lite --kubeconfig=<child kubeconfig> --cluster-reg-parent-url={joined.fleet.parent.server} "
        f"--cluster-reg-token={token.value}"
    ) in created.stdout
    assert _token_authenticates(joined, token)

    app, out, _ = _app(joined)
    try:
        list_bootstrap_tokens(app)
        row = next(line for line in out.getvalue().splitlines() if line.startswith(token.token_id))
        assert re.fullmatch(
            rf"{token.token_id}\s+(119m|2h)\s+\S+Z\s+authentication,signing\s+e2e cli", row
        ), row
        assert token.secret not in out.getvalue()
        delete_bootstrap_token(app, token.token_id)
        assert f'bootstrap token "{token.token_id}" deleted' in out.getvalue()
        with pytest.raises(NotFoundError):
            delete_bootstrap_token(app, token.token_id)
        out.seek(0)
        out.truncate(0)
        list_bootstrap_tokens(app)
        assert token.token_id not in out.getvalue()
    finally:
        app.close()
    wait_for(lambda: not _token_authenticates(joined, token), "the revoked token to stop working")


def test_service_account_bootstrap_token_may_only_register(joined: Joined) -> None:
    """`create bootstrap-token --service-account` issues an expiring JWT with exactly the bootstrapping rights."""
    result = run_cli(
        "--kubeconfig",
        str(joined.fleet.parent.kubeconfig),
        "create",
        "bootstrap-token",
        "--service-account",
        "--ttl",
        "1h",
        "--print-token",
    )
    assert result.exit_code == 0, result.stderr
    jwt = result.stdout.strip()
    claims = json.loads(base64.urlsafe_b64decode(jwt.split(".")[1] + "=="))
    assert claims["sub"] == "system:serviceaccount:clusternet-system:cluster-bootstrap-use"
    assert 3000 < claims["exp"] - claims["iat"] <= 3600
    client = RestClient(
        token_connection(joined.fleet.parent.server, jwt, joined.fleet.parent.ca_file.read_bytes())
    )
    crrs = dict(group="clusters.clusternet.io", resource="clusterregistrationrequests")
    try:
        assert _allowed(client, verb="create", **crrs) and _allowed(client, verb="get", **crrs)
        assert not _allowed(client, verb="list", **crrs)
        assert not _allowed(client, verb="get", resource="secrets", namespace="kube-system")
        assert not _allowed(client, verb="list", group="clusters.clusternet.io", resource="managedclusters")
    finally:
        client.close()


def test_request_for_an_existing_foreign_namespace_fails(joined: Joined) -> None:
    """Asking for kube-system as the dedicated namespace fails the request and grants nothing there."""
    cluster_id = str(uuid.uuid4())
    body = reg.registration_request(
        cluster_id=cluster_id, cluster_name="grabber", cluster_namespace="kube-system"
    )
    joined.parent.create(CRR.collection_path(), body)
    result, message = wait_for(
        lambda: (
            (outcome := reg.request_outcome(joined.parent.get(CRR.object_path(reg.crr_name(cluster_id)))))[0]
            and outcome
        ),
        "a decision on the request for kube-system",
        detail=joined.hub.tail,
    )
    assert result == "Failed" and "kube-system" in message
    assert (
        get_or_none(joined.parent, ROLE_BINDING.object_path(reg.MANAGED_CLUSTER_ROLE, "kube-system")) is None
    )
    assert labelled(joined.parent, MCLS.collection_path(), cluster_id) == []
