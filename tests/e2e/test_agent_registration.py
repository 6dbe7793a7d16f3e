"""agent-lite before approval, against the real parent and children: the cluster ID, the registration
request, refusing wrong or expired tokens, the cluster-info signature check, configuration from the child.

Agents run as real subprocesses on loopback. These tests need no hub; the helpers here are shared with
``test_agent_join.py``.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agent_lite.discovery import ParentTrustError, fetch_cluster_info, parent_trust
from kubectl_clusternet.core.apis.builtin import (
    CLUSTER_ROLE_BINDING,
    LEASE,
    NAMESPACE,
    SECRET,
    SERVICE_ACCOUNT,
)
from kubectl_clusternet.core.apis.clusters import CLUSTER_REGISTRATION_REQUEST
from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.kube.rest import RestClient
from kubectl_clusternet.core.registration import token_request
from kubectl_clusternet.core.tokens import (
    BootstrapToken,
    bootstrap_service_account,
    bootstrap_service_account_binding,
    bootstrap_token_secret,
    generate_bootstrap_token,
    parent_info_from_cluster_info,
)
from kubectl_clusternet.localfleet import ClusterInfo, FleetState, register_process
from tests.support.cli import run_cli
from tests.support.kube import admin_client, delete_quietly, get_or_none
from tests.support.kube import wait_for as support_wait_for

pytestmark = pytest.mark.e2e

DEADLINE = 120.0
T = TypeVar("T")


# ---------------------------------------------------------------------------------------------------------
# helpers (shared with test_agent_join.py)


def wait_for(
    check: Callable[[], T | None],
    what: str,
    *,
    deadline: float = DEADLINE,
    detail: Callable[[], str] = lambda: "",
) -> T:
    return support_wait_for(check, what, deadline=deadline, detail=detail)


def create_bootstrap_token(
    parent: RestClient, *, now: datetime | None = None, ttl: timedelta = timedelta(hours=1)
) -> BootstrapToken:
    """A kubeadm-format bootstrap token in the parent, in the Clusternet registration group."""
    token = generate_bootstrap_token()
    parent.create(
        SECRET.collection_path("kube-system"),
        bootstrap_token_secret(
            token, now=now or datetime.now(timezone.utc), ttl=ttl, description="agent e2e"
        ),
    )
    return token


def delete_bootstrap_token(parent: RestClient, token: BootstrapToken) -> None:
    delete_quietly(parent, SECRET.object_path(f"bootstrap-token-{token.token_id}", "kube-system"))


def signed_cluster_info(parent: RestClient, token: BootstrapToken) -> dict[str, Any] | None:
    """kube-public/cluster-info once the parent's bootstrapsigner has signed it for ``token``."""
    config_map = parent.get("/api/v1/namespaces/kube-public/configmaps/cluster-info")
    return config_map if f"jws-kubeconfig-{token.token_id}" in (config_map.get("data") or {}) else None


def reset_child(child: RestClient) -> None:
    """Forget any earlier agent in this child: its Lease (the cluster ID) and its stored credentials."""
    delete_quietly(child, LEASE.object_path("clusternet-agent", "clusternet-system"))
    delete_quietly(child, SECRET.object_path("parent-cluster", "clusternet-system"))
    delete_quietly(child, SECRET.object_path("clusternet-agent-cluster-registration", "clusternet-system"))


def cluster_lease(child: RestClient) -> dict[str, Any] | None:
    found = get_or_none(child, LEASE.object_path("clusternet-agent", "clusternet-system"))
    return found if found and found["metadata"].get("uid") else None


def requests_for(parent: RestClient, cluster_id: str) -> list[dict[str, Any]]:
    found = parent.get(
        CLUSTER_REGISTRATION_REQUEST.collection_path(),
        query=[("labelSelector", f"clusters.clusternet.io/cluster-id={cluster_id}")],
    )
    return list(found.get("items") or [])


class AgentProcess:
    """One agent-lite subprocess against a child, logging to a file; registered with the fleet so that
    ``down`` stops it even if a test dies."""

    def __init__(
        self, fleet: FleetState, child: ClusterInfo, log: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.log = log
        command = [
            sys.executable,
            "-m",
            "agent_lite",
            "--kubeconfig",
            str(child.kubeconfig),
            "--log-format",
            "json",
            *args,
        ]
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AGENT_") and k not in ("PARENT_URL", "REG_TOKEN")
        }
        environ.update(env or {})
        self._handle = log.open("ab")
        self.process = subprocess.Popen(command, stdout=self._handle, stderr=subprocess.STDOUT, env=environ)
        register_process(
            fleet.dir,
            f"agent-lite-{child.name}-{self.process.pid}",
            self.process.pid,
            log=log,
            cluster=child.name,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self) -> str:
        return "agent log (last lines):\n" + "\n".join(self.text().splitlines()[-30:])

    def wait_for_log(self, pattern: str, *, deadline: float = DEADLINE) -> re.Match[str]:
        """Wait until a log line matches ``pattern`` (a regular expression)."""
        compiled = re.compile(pattern)
        return wait_for(
            lambda: compiled.search(self.text()),
            f"agent log line /{pattern}/",
            deadline=deadline,
            detail=self.tail,
        )

    def stop(self) -> int:
        """SIGTERM, then wait for the graceful exit; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=30)
        self._handle.close()
        return code


@pytest.fixture(scope="module")
def parent(fleet: FleetState) -> RestClient:
    """The parent's admin client, with the Clusternet CRDs and bootstrap RBAC installed."""
    result = run_cli("--kubeconfig", str(fleet.parent.kubeconfig), "hub", "install")
    assert result.exit_code == 0, result.stderr
    return admin_client(fleet.parent)


@pytest.fixture
def agents(fleet: FleetState, tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """Start agents with ``agents(child, *flags)``; every one still running is stopped after the test."""
    started: list[AgentProcess] = []

    def start(child: ClusterInfo, *args: str, env: dict[str, str] | None = None) -> AgentProcess:
        agent = AgentProcess(fleet, child, tmp_path / f"agent-{len(started)}.log", *args, env=env)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()


@pytest.fixture
def token(parent: RestClient) -> Iterator[BootstrapToken]:
    made = create_bootstrap_token(parent)
    yield made
    delete_bootstrap_token(parent, made)


# ---------------------------------------------------------------------------------------------------------
# tests


def test_request_carries_the_cluster_id_labels_and_spec(
    fleet: FleetState, parent: RestClient, token: BootstrapToken, agents: Callable[..., AgentProcess]
) -> None:
    """The agent creates Lease clusternet-agent in the child and a CRR named clusternet-<lease UID> with the
    registration labels and the spec from its flags."""
    child_info = fleet.children[0]
    child = admin_client(child_info)
    reset_child(child)
    agent = agents(
        child_info,
        "--cluster-reg-parent-url",
        fleet.parent.server,
        "--cluster-reg-token",
        token.value,
        "--cluster-reg-name",
        "agent-e2e-one",
        "--cluster-reg-type",
        "EdgeCluster",
        "--cluster-sync-mode",
        "Dual",
        "--cluster-labels",
        "env=e2e,team=agents,broken-pair",
        "--cluster-reg-namespace",
        "agent-e2e-requested",
    )
    lease = wait_for(lambda: cluster_lease(child), "the agent Lease in the child", detail=agent.tail)
    cluster_id = lease["metadata"]["uid"]
    request = wait_for(
        lambda: get_or_none(parent, CLUSTER_REGISTRATION_REQUEST.object_path(f"clusternet-{cluster_id}")),
        "the registration request in the parent",
        detail=agent.tail,
    )
    assert request["metadata"]["labels"] == {
        "clusters.clusternet.io/registered-by": "clusternet-agent",
        "clusters.clusternet.io/cluster-id": cluster_id,
        "clusters.clusternet.io/cluster-name": "agent-e2e-one",
    }
    assert request["spec"] == {
        "clusterId": cluster_id,
        "clusterName": "agent-e2e-one",
        "clusterType": "EdgeCluster",
        "syncMode": "Dual",
        "clusterNamespace": "agent-e2e-requested",
        "clusterLabels": {"env": "e2e", "team": "agents"},
    }
    agent.wait_for_log(r"cluster label 'broken-pair'")
    agent.wait_for_log(r"signed for token ID " + token.token_id)


def test_restart_keeps_the_cluster_id_and_the_generated_name(
    fleet: FleetState, parent: RestClient, token: BootstrapToken, agents: Callable[..., AgentProcess]
) -> None:
    """A restarted agent finds the same Lease (same cluster ID), keeps its first random name, and asks only once."""
    child_info = fleet.children[0]
    child = admin_client(child_info)
    reset_child(child)
    flags = ("--cluster-reg-parent-url", fleet.parent.server, "--cluster-reg-token", token.value)
    first = agents(child_info, *flags, "--cluster-reg-name-prefix", "restart")
    cluster_id = wait_for(lambda: cluster_lease(child), "the agent Lease", detail=first.tail)["metadata"][
        "uid"
    ]
    request = wait_for(lambda: requests_for(parent, cluster_id), "the first request", detail=first.tail)[0]
    name = request["spec"]["clusterName"]
    assert re.fullmatch(r"restart-[a-z0-9]{5}", name)
    assert first.stop() == 0
    first.wait_for_log(r"agent-lite stopped")

    second = agents(child_info, *flags, "--cluster-reg-name-prefix", "restart")
    second.wait_for_log(rf"cluster ID {cluster_id}")
    second.wait_for_log(r"(waiting for the parent to approve|approved|using the stored credentials)")
    assert cluster_lease(child)["metadata"]["uid"] == cluster_id
    requests = requests_for(parent, cluster_id)
    assert len(requests) == 1
    assert requests[0]["metadata"]["uid"] == request["metadata"]["uid"]
    assert requests[0]["spec"]["clusterName"] == name


def test_legacy_cluster_id_annotation_wins(
    fleet: FleetState, parent: RestClient, token: BootstrapToken, agents: Callable[..., AgentProcess]
) -> None:
    """A Lease annotated legacy-cluster-id (clusters registered before upstream v0.15) keeps that ID."""
    child_info = fleet.children[0]
    child = admin_client(child_info)
    reset_child(child)
    legacy_id = "0a1b2c3d-0000-4000-8000-00000000abcd"
    child.create(
        LEASE.collection_path("clusternet-system"),
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": "clusternet-agent",
                "namespace": "clusternet-system",
                "annotations": {"legacy-cluster-id": legacy_id},
            },
            "spec": {},
        },
    )
    agent = agents(
        child_info, "--cluster-reg-parent-url", fleet.parent.server, "--cluster-reg-token", token.value
    )
    wait_for(
        lambda: requests_for(parent, legacy_id), "a request for the legacy cluster ID", detail=agent.tail
    )


def test_unknown_token_is_refused_with_a_clear_line_and_no_request(
    fleet: FleetState, parent: RestClient, agents: Callable[..., AgentProcess]
) -> None:
    """A token the parent does not know: refused at the cluster-info check, and with the check skipped the
    parent answers 401; either way one clear log line and no request."""
    child_info = fleet.children[0]
    child = admin_client(child_info)
    reset_child(child)
    unknown = generate_bootstrap_token()
    checked = agents(
        child_info, "--cluster-reg-parent-url", fleet.parent.server, "--cluster-reg-token", unknown.value
    )
    checked.wait_for_log(rf"refusing to trust the parent .*not signed for token ID '{unknown.token_id}'")
    cluster_id = cluster_lease(child)["metadata"]["uid"]
    checked.stop()

    insecure = agents(
        child_info,
        "--cluster-reg-parent-url",
        fleet.parent.server,
        "--cluster-reg-token",
        unknown.value,
        "--insecure-skip-parent-verify",
    )
    insecure.wait_for_log(r"not verifying the parent's TLS certificate")
    insecure.wait_for_log(r"the parent rejected the registration token \(401 Unauthorized\)")
    assert requests_for(parent, cluster_id) == []
    assert insecure.process.poll() is None, "the agent must keep retrying, not exit"


def test_wrong_secret_for_a_known_token_id_fails_the_signature_check(
    fleet: FleetState, parent: RestClient, token: BootstrapToken, agents: Callable[..., AgentProcess]
) -> None:
    """Right token ID, wrong secret: the JWS made by the parent does not verify, so no CA is trusted."""
    child_info = fleet.children[0]
    child = admin_client(child_info)
    reset_child(child)
    wait_for(lambda: signed_cluster_info(parent, token), "the bootstrapsigner to sign cluster-info")
    wrong = BootstrapToken(token.token_id, "z" * 16)
    agent = agents(
        child_info, "--cluster-reg-parent-url", fleet.parent.server, "--cluster-reg-token", wrong.value
    )
    agent.wait_for_log(r"refusing to trust the parent .*does not match the token")
    cluster_id = cluster_lease(child)["metadata"]["uid"]
    assert requests_for(parent, cluster_id) == []


def test_expired_token_is_refused(
    fleet: FleetState, parent: RestClient, agents: Callable[..., AgentProcess]
) -> None:
    """A bootstrap token past its expiration authenticates nothing: 401, logged, no request."""
    child_info = fleet.children[0]
    child = admin_client(child_info)
    reset_child(child)
    expired = create_bootstrap_token(
        parent, now=datetime.now(timezone.utc) - timedelta(hours=2), ttl=timedelta(hours=1)
    )
    try:
        agent = agents(
            child_info,
            "--cluster-reg-parent-url",
            fleet.parent.server,
            "--cluster-reg-token",
            expired.value,
            "--insecure-skip-parent-verify",
        )
        agent.wait_for_log(
            r"the parent rejected the registration token \(401 Unauthorized\): it is wrong, expired"
        )
        cluster_id = cluster_lease(child)["metadata"]["uid"]
        assert requests_for(parent, cluster_id) == []
    finally:
        delete_bootstrap_token(parent, expired)


def test_token_without_registration_rights_gets_a_403_line(
    fleet: FleetState, parent: RestClient, agents: Callable[..., AgentProcess]
) -> None:
    """A valid bootstrap token outside the Clusternet group authenticates but may not create requests."""
    child_info = fleet.children[0]
    child = admin_client(child_info)
    reset_child(child)
    outsider = generate_bootstrap_token()
    parent.create(
        SECRET.collection_path("kube-system"),
        bootstrap_token_secret(outsider, now=datetime.now(timezone.utc), ttl=timedelta(hours=1), groups=()),
    )
    try:
        wait_for(lambda: signed_cluster_info(parent, outsider), "the bootstrapsigner to sign cluster-info")
        agent = agents(
            child_info, "--cluster-reg-parent-url", fleet.parent.server, "--cluster-reg-token", outsider.value
        )
        agent.wait_for_log(r"may not create or read ClusterRegistrationRequests \(403 Forbidden")
    finally:
        delete_bootstrap_token(parent, outsider)


def test_cluster_info_check_against_the_real_signer(
    fleet: FleetState, parent: RestClient, token: BootstrapToken
) -> None:
    """The parent's own bootstrapsigner output verifies with the token and yields the parent's CA; a tampered
    signature or another secret does not."""
    wait_for(lambda: signed_cluster_info(parent, token), "the bootstrapsigner to sign cluster-info")

    trust = asyncio.run(parent_trust(fleet.parent.server, token.value, insecure_skip_verify=False))
    assert trust.ca_pem == fleet.parent.ca_file.read_bytes()
    assert not trust.insecure

    config_map = asyncio.run(fetch_cluster_info(fleet.parent.server))
    key = f"jws-kubeconfig-{token.token_id}"
    header, _, signature = config_map["data"][key].split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    tampered = dict(config_map, data=dict(config_map["data"]))
    tampered["data"][key] = f"{header}..{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"
    with pytest.raises(Exception, match="does not match"):
        parent_info_from_cluster_info(tampered, token)
    with pytest.raises(ParentTrustError, match="does not match"):
        asyncio.run(
            parent_trust(
                fleet.parent.server,
                BootstrapToken(token.token_id, "q" * 16).value,
                insecure_skip_verify=False,
            )
        )


def test_parent_url_and_token_from_the_registration_secret(
    fleet: FleetState, parent: RestClient, token: BootstrapToken, agents: Callable[..., AgentProcess]
) -> None:
    """Without flags or environment the agent reads parentURL and regToken from its Secret in the child."""
    child_info = fleet.children[0]
    child = admin_client(child_info)
    reset_child(child)
    try:
        child.create(
            NAMESPACE.collection_path(),
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "clusternet-system"}},
        )
    except ApiError as exc:
        assert exc.status == 409
    child.create(
        SECRET.collection_path("clusternet-system"),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "clusternet-agent-cluster-registration", "namespace": "clusternet-system"},
            "stringData": {"parentURL": fleet.parent.server, "regToken": token.value},
        },
    )
    agent = agents(child_info)
    agent.wait_for_log(r"parent URL .* from Secret clusternet-system/clusternet-agent-cluster-registration")
    cluster_id = wait_for(lambda: cluster_lease(child), "the agent Lease", detail=agent.tail)["metadata"][
        "uid"
    ]
    wait_for(lambda: requests_for(parent, cluster_id), "the registration request", detail=agent.tail)
    delete_quietly(child, SECRET.object_path("clusternet-agent-cluster-registration", "clusternet-system"))


def test_environment_variables_configure_the_agent(
    fleet: FleetState, parent: RestClient, token: BootstrapToken, agents: Callable[..., AgentProcess]
) -> None:
    """PARENT_URL, REG_TOKEN and AGENT_<FLAG> work like the flags (here also turning leader election off)."""
    child_info = fleet.children[0]
    child = admin_client(child_info)
    reset_child(child)
    agent = agents(
        child_info,
        env={
            "PARENT_URL": fleet.parent.server,
            "REG_TOKEN": token.value,
            "AGENT_CLUSTER_REG_NAME": "from-env",
            "AGENT_LEADER_ELECT": "false",
        },
    )
    cluster_id = wait_for(lambda: cluster_lease(child), "the agent Lease", detail=agent.tail)["metadata"][
        "uid"
    ]
    requests = wait_for(
        lambda: requests_for(parent, cluster_id), "the registration request", detail=agent.tail
    )
    assert requests[0]["spec"]["clusterName"] == "from-env"
    # Without leader election the Lease still exists (it is the cluster ID) but nobody holds it.
    assert not (cluster_lease(child) or {}).get("spec", {}).get("holderIdentity")
    assert "campaigning" not in agent.text()


def test_missing_parent_url_is_a_configuration_error(fleet: FleetState, parent: RestClient) -> None:
    """No URL anywhere (flags, environment, registration Secret): one error line, exit 1."""
    child = admin_client(fleet.children[0])
    reset_child(child)
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AGENT_") and k not in ("PARENT_URL", "REG_TOKEN")
    }
    result = subprocess.run(
        [sys.executable, "-m", "agent_lite", "--kubeconfig", str(fleet.children[0].kubeconfig)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: no parent URL")
    assert "Traceback" not in result.stderr


def test_denied_request_is_logged_with_its_message(
    fleet: FleetState, parent: RestClient, token: BootstrapToken, agents: Callable[..., AgentProcess]
) -> None:
    """A request the parent Denied is reported with its errorMessage, and the agent keeps running."""
    child_info = fleet.children[0]
    child = admin_client(child_info)
    reset_child(child)
    cluster_id = "0d0d0d0d-1111-4222-8333-444444444444"
    child.create(
        LEASE.collection_path("clusternet-system"),
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": "clusternet-agent",
                "namespace": "clusternet-system",
                "annotations": {"legacy-cluster-id": cluster_id},
            },
            "spec": {},
        },
    )
    name = f"clusternet-{cluster_id}"
    delete_quietly(parent, CLUSTER_REGISTRATION_REQUEST.object_path(name))
    created = parent.create(
        CLUSTER_REGISTRATION_REQUEST.collection_path(),
        {
            "apiVersion": "clusters.clusternet.io/v1beta1",
            "kind": "ClusterRegistrationRequest",
            "metadata": {"name": name},
            "spec": {"clusterId": cluster_id, "clusterName": "denied-one"},
        },
    )
    # Decided before any hub could look at it: a hub never revisits a request that has a result.
    parent.replace(
        CLUSTER_REGISTRATION_REQUEST.object_path(name) + "/status",
        {**created, "status": {"result": "Denied", "errorMessage": "denied by the agent e2e test"}},
    )
    try:
        agent = agents(
            child_info, "--cluster-reg-parent-url", fleet.parent.server, "--cluster-reg-token", token.value
        )
        agent.wait_for_log(
            rf"ClusterRegistrationRequest {name} was Denied by the parent: denied by the agent e2e test"
        )
        assert agent.process.poll() is None
        assert child.get(LEASE.object_path("clusternet-agent", "clusternet-system"))
        assert get_or_none(child, SECRET.object_path("parent-cluster", "clusternet-system")) is None
    finally:
        delete_quietly(parent, CLUSTER_REGISTRATION_REQUEST.object_path(name))


def test_service_account_token_registers_only_with_explicit_trust(
    fleet: FleetState, parent: RestClient, agents: Callable[..., AgentProcess]
) -> None:
    """A ServiceAccount JWT bound to the bootstrapping role can register; since no signature vouches for
    the parent's CA, the agent refuses the self-signed parent unless told to skip verification."""
    account = bootstrap_service_account()
    try:
        parent.create(SERVICE_ACCOUNT.collection_path("clusternet-system"), account)
    except ApiError as exc:
        assert exc.status == 409
    binding = bootstrap_service_account_binding()
    delete_quietly(parent, CLUSTER_ROLE_BINDING.object_path(binding["metadata"]["name"]))
    parent.create(CLUSTER_ROLE_BINDING.collection_path(), binding)
    issued = parent.create(
        SERVICE_ACCOUNT.object_path(account["metadata"]["name"], "clusternet-system") + "/token",
        token_request(600),
    )
    jwt = issued["status"]["token"]
    child_info = fleet.children[0]
    child = admin_client(child_info)
    reset_child(child)

    strict = agents(child_info, "--cluster-reg-parent-url", fleet.parent.server, "--cluster-reg-token", jwt)
    strict.wait_for_log(
        r"unreachable: .*certificate.*use a bootstrap token, or --insecure-skip-parent-verify"
    )
    cluster_id = cluster_lease(child)["metadata"]["uid"]
    assert requests_for(parent, cluster_id) == []
    strict.stop()

    trusting = agents(
        child_info,
        "--cluster-reg-parent-url",
        fleet.parent.server,
        "--cluster-reg-token",
        jwt,
        "--insecure-skip-parent-verify",
    )
    wait_for(
        lambda: requests_for(parent, cluster_id),
        "a request made with the ServiceAccount token",
        detail=trusting.tail,
    )
