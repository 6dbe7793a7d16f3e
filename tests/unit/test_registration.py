"""Unit tests of the registration contract shared by agent_lite and hub_lite (core/registration.py), of the
leader election rules, and of hub-lite's queue, events and flags."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from hub_lite.events import event_body
from hub_lite.informer import WorkQueue
from hub_lite.options import build_parser, parse_options
from kubectl_clusternet.core import registration as reg
from kubectl_clusternet.core.leaderelection import (
    LeaderElectionConfig,
    acquired_spec,
    may_acquire,
    released_spec,
)

CLUSTER_ID = "5f0c9a4e-8b1d-4c2a-9e3f-0a1b2c3d4e5f"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def _request(**spec: Any) -> dict[str, Any]:
    body = reg.registration_request(cluster_id=CLUSTER_ID, cluster_name="edge-1")
    body["spec"].update(spec)
    return body


# --------------------------------------------------------------------------------------------------- agent side


def test_request_is_named_and_labelled_after_the_cluster() -> None:
    """The request carries the upstream name and the three registration labels."""
    body = reg.registration_request(
        cluster_id=CLUSTER_ID,
        cluster_name="edge-1",
        sync_mode="Dual",
        cluster_namespace="team-a",
        cluster_labels={"env": "prod"},
    )
    assert body["metadata"]["name"] == f"clusternet-{CLUSTER_ID}"
    assert body["metadata"]["labels"] == {
        "clusters.clusternet.io/registered-by": "clusternet-agent",
        "clusters.clusternet.io/cluster-id": CLUSTER_ID,
        "clusters.clusternet.io/cluster-name": "edge-1",
    }
    assert body["spec"] == {
        "clusterId": CLUSTER_ID,
        "clusterType": "StandardCluster",
        "clusterName": "edge-1",
        "syncMode": "Dual",
        "clusterNamespace": "team-a",
        "clusterLabels": {"env": "prod"},
    }


def test_request_leaves_out_empty_optional_fields() -> None:
    """No namespace or labels requested means none in the spec."""
    spec = reg.registration_request(cluster_id=CLUSTER_ID, cluster_name="a")["spec"]
    assert "clusterNamespace" not in spec and "clusterLabels" not in spec


@pytest.mark.parametrize(
    ("annotations", "uid", "expected"),
    [
        ({}, "uid-1", "uid-1"),
        ({"legacy-cluster-id": "old-id"}, "uid-1", "old-id"),
        ({"legacy-cluster-id": ""}, "uid-2", "uid-2"),
    ],
)
def test_cluster_id_comes_from_the_lease(annotations: dict[str, str], uid: str, expected: str) -> None:
    """The legacy annotation wins over the Lease UID."""
    lease = {"metadata": {"uid": uid, "annotations": annotations}}
    assert reg.cluster_id_from_lease(lease) == expected


def test_cluster_id_needs_a_uid() -> None:
    """A Lease body that was never stored has no UID to use."""
    with pytest.raises(reg.RegistrationError):
        reg.cluster_id_from_lease({"metadata": {}})


def test_generated_names_have_five_random_characters() -> None:
    """``<prefix>-xxxxx`` with lowercase alphanumerics, valid as a cluster name."""
    name = reg.generate_cluster_name("clusternet-cluster")
    prefix, _, suffix = name.rpartition("-")
    assert prefix == "clusternet-cluster"
    assert re.fullmatch(r"[a-z0-9]{5}", suffix)
    assert reg.validate_cluster_name(name) == name
    assert reg.generate_cluster_name("p", token="abcde") == "p-abcde"


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("edge-1", True),
        ("a" * 30, True),
        ("a" * 31, False),
        ("Edge", False),
        ("-edge", False),
        ("edge-", False),
        ("edge_1", False),
    ],
)
def test_cluster_name_validation_follows_the_crd(name: str, valid: bool) -> None:
    """Names must fit the CRD's 30-character DNS-label rule."""
    if valid:
        assert reg.validate_cluster_name(name) == name
    else:
        with pytest.raises(reg.RegistrationError):
            reg.validate_cluster_name(name)


@pytest.mark.parametrize(
    ("mode", "app_pusher", "ok"),
    [
        ("Pull", False, True),
        ("Dual", False, True),
        ("Push", True, True),
        ("Push", False, False),
        ("push", True, False),
    ],
)
def test_sync_mode_validation(mode: str, app_pusher: bool, ok: bool) -> None:
    """Push needs AppPusher; modes are case-sensitive as in the CRD enum."""
    if ok:
        assert reg.validate_sync_mode(mode, app_pusher=app_pusher) == mode
    else:
        with pytest.raises(reg.RegistrationError):
            reg.validate_sync_mode(mode, app_pusher=app_pusher)


@pytest.mark.parametrize(
    ("text", "labels", "warnings"),
    [
        ("", {}, 0),
        ("env=prod,zone=eu-1", {"env": "prod", "zone": "eu-1"}, 0),
        ("env=prod,,broken", {"env": "prod"}, 1),
        ("example.com/tier=gold, a=", {"example.com/tier": "gold", "a": ""}, 0),
        ("bad key=x,k=v v", {}, 2),
    ],
)
def test_cluster_labels_skip_malformed_pairs(text: str, labels: dict[str, str], warnings: int) -> None:
    """Malformed pairs are dropped with one warning each."""
    parsed, found = reg.parse_cluster_labels(text)
    assert parsed == labels and len(found) == warnings


@pytest.mark.parametrize(
    ("request_body", "expected"),
    [
        (None, None),
        ({"metadata": {}}, None),
        ({"metadata": {"labels": {"clusters.clusternet.io/cluster-name": "first"}}}, "first"),
    ],
)
def test_name_from_existing_request(request_body: dict[str, Any] | None, expected: str | None) -> None:
    """A restarted agent adopts the name its first run registered with."""
    assert reg.cluster_name_from_request(request_body) == expected


def _approved(**overrides: Any) -> dict[str, Any]:
    status = reg.approved_status(
        namespace="clusternet-abcde", managed_cluster_name="edge-1", token="jwt", ca_pem=b"PEM"
    )
    status.update(overrides)
    return {"status": status}


def test_approved_credentials_decode_the_byte_fields() -> None:
    """Token and CA travel base64-encoded, as Go's []byte fields do."""
    credentials = reg.approved_credentials(_approved())
    assert credentials == reg.ApprovedCredentials("clusternet-abcde", "edge-1", "jwt", b"PEM")


@pytest.mark.parametrize(
    "status",
    [{}, {"result": "Denied", "errorMessage": "no"}, {"result": "Failed"}],
)
def test_no_credentials_until_approved(status: dict[str, Any]) -> None:
    """Only an Approved result yields credentials."""
    assert reg.approved_credentials({"status": status}) is None


@pytest.mark.parametrize("overrides", [{"token": "%%%"}, {"caCertificate": ""}, {"dedicatedNamespace": ""}])
def test_broken_approvals_are_reported(overrides: dict[str, Any]) -> None:
    """An Approved status with missing or undecodable fields is an error, not empty credentials."""
    with pytest.raises(reg.RegistrationError):
        reg.approved_credentials(_approved(**overrides))


def test_request_outcome() -> None:
    """The result and message are read from the status, empty while undecided."""
    assert reg.request_outcome(None) == ("", "")
    assert reg.request_outcome({"status": {"result": "Denied", "errorMessage": "why"}}) == ("Denied", "why")


def test_parent_secret_round_trips_when_the_url_matches() -> None:
    """The stored credentials are used again only for the same parent URL."""
    credentials = reg.ApprovedCredentials("clusternet-abcde", "edge-1", "jwt", b"PEM")
    secret = reg.parent_cluster_secret(
        credentials, cluster_id=CLUSTER_ID, cluster_name="edge-1", parent_url="https://127.0.0.1:6443"
    )
    assert secret["metadata"]["labels"] == {
        "clusters.clusternet.io/bootstrapping": "credentials-auto",
        "clusters.clusternet.io/cluster-id": CLUSTER_ID,
        "clusters.clusternet.io/cluster-name": "edge-1",
    }
    assert set(secret["data"]) == {"ca.crt", "token", "namespace", "apiserver-advertise-url"}
    stored = reg.stored_credentials(secret, parent_url="https://127.0.0.1:6443/")
    assert stored == reg.StoredCredentials(
        parent_url="https://127.0.0.1:6443",
        namespace="clusternet-abcde",
        token="jwt",
        ca_pem=b"PEM",
        cluster_id=CLUSTER_ID,
        cluster_name="edge-1",
    )
    assert reg.stored_credentials(secret, parent_url="https://127.0.0.2:6443") is None
    assert reg.stored_credentials(None, parent_url="https://127.0.0.1:6443") is None


# --------------------------------------------------------------------------------------------------- conditions


@pytest.mark.parametrize(
    ("healthz", "livez", "readyz", "status", "reason"),
    [
        (True, False, False, "True", "ManagedClusterReady"),
        (False, True, True, "True", "ManagedClusterReady"),
        (False, True, False, "False", "ManagedClusterNotReady"),
        (False, False, True, "False", "ManagedClusterNotReady"),
        (False, False, False, "False", "ManagedClusterNotReady"),
    ],
)
def test_ready_condition(healthz: bool, livez: bool, readyz: bool, status: str, reason: str) -> None:
    """Ready is (livez and readyz) or healthz, with upstream's reasons and messages."""
    condition = reg.ready_condition(healthz=healthz, livez=livez, readyz=readyz, now=NOW)
    assert (condition["status"], condition["reason"]) == (status, reason)
    assert condition["message"] == (
        "managed cluster is ready." if status == "True" else "managed cluster is not ready."
    )
    assert condition["lastTransitionTime"] == "2024-05-01T12:00:00Z"


def _cond(kind: str, status: str, reason: str = "R", message: str = "m", time: str = "t0") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": time}


@pytest.mark.parametrize(
    ("existing", "update", "expected"),
    [
        ([], _cond("Ready", "True", time="t1"), [_cond("Ready", "True", time="t1")]),
        (
            [_cond("ClusterInit", "True")],
            _cond("Ready", "True", time="t1"),
            [_cond("ClusterInit", "True"), _cond("Ready", "True", time="t1")],
        ),
        ([_cond("Ready", "True")], _cond("Ready", "False", time="t1"), [_cond("Ready", "False", time="t1")]),
        (
            [_cond("Ready", "False", reason="A")],
            _cond("Ready", "False", reason="B", time="t1"),
            [_cond("Ready", "False", reason="B", time="t0")],
        ),
        ([_cond("Ready", "True")], _cond("Ready", "True", time="t1"), [_cond("Ready", "True", time="t1")]),
        ([_cond("Other", "True")], _cond("Other", "True", time="t1"), [_cond("Other", "True", time="t0")]),
    ],
)
def test_merge_conditions(
    existing: list[dict[str, str]], update: dict[str, str], expected: list[dict[str, str]]
) -> None:
    """Reference §4.2: foreign types kept, transition time moves on status change, Ready's time is a heartbeat."""
    assert reg.merge_conditions(existing, [update]) == expected


def _node(labels: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"labels": labels}}


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        ([], {}),
        ([_node({"node.clusternet.io/gpu": "a100"})] * 4 + [_node({})], {"node.clusternet.io/gpu": "a100"}),
        ([_node({"node.clusternet.io/gpu": "a100"})] * 3 + [_node({})] * 2, {}),
        ([_node({"other.io/x": "1"})] * 3, {}),
        (
            [_node({"node.clusternet.io/z": "b"}), _node({"node.clusternet.io/z": "a"})],
            {},
        ),
        (
            [_node({"node-role.kubernetes.io/master": "", "node.clusternet.io/x": "no"})]
            + [_node({"node.clusternet.io/x": "yes"})] * 2,
            {"node.clusternet.io/x": "yes"},
        ),
    ],
)
def test_aggregate_node_labels(nodes: list[dict[str, Any]], expected: dict[str, str]) -> None:
    """A prefixed label reaches the cluster when at least 80% of worker nodes share its value."""
    assert reg.aggregate_node_labels(nodes) == expected


def test_replace_prefixed_labels() -> None:
    """Stale prefixed labels are deleted, new ones set, others untouched."""
    current = {"node.clusternet.io/old": "x", "node.clusternet.io/keep": "1", "env": "prod"}
    patch = reg.replace_prefixed_labels(
        current, {"node.clusternet.io/keep": "1", "node.clusternet.io/new": "y"}
    )
    assert patch == {"node.clusternet.io/old": None, "node.clusternet.io/new": "y"}


# --------------------------------------------------------------------------------------------------- approval


@pytest.mark.parametrize(
    ("name", "cluster_id", "denied"),
    [
        (f"clusternet-{CLUSTER_ID}", CLUSTER_ID, False),
        ("clusternet-something-else", CLUSTER_ID, True),
        (f"clusternet-{CLUSTER_ID.upper()}", CLUSTER_ID, True),
        ("clusternet-not-a-uuid", "not-a-uuid", True),
    ],
)
def test_denial(name: str, cluster_id: str, denied: bool) -> None:
    """Only a request named ``clusternet-<clusterId>`` with a UUID clusterId may be approved."""
    request = {"metadata": {"name": name}, "spec": {"clusterId": cluster_id}}
    assert (reg.denial_message(request) is not None) == denied


def test_dedicated_namespace_requested_or_generated() -> None:
    """The requested namespace is used by name; otherwise the API server picks ``clusternet-xxxxx``."""
    generated = reg.dedicated_namespace(_request())
    assert generated["metadata"]["generateName"] == "clusternet-" and "name" not in generated["metadata"]
    assert generated["metadata"]["labels"] == {
        "clusternet.io/created-by": "clusternet-agent",
        "clusters.clusternet.io/cluster-id": CLUSTER_ID,
        "clusters.clusternet.io/cluster-name": "edge-1",
    }
    named = reg.dedicated_namespace(_request(clusterNamespace="team-a"))
    assert named["metadata"]["name"] == "team-a"


def test_managed_cluster_carries_cluster_labels_under_ownership_labels() -> None:
    """clusterLabels are copied, but can never override the ownership labels."""
    body = reg.managed_cluster(
        _request(
            clusterLabels={"env": "prod", "clusters.clusternet.io/cluster-id": "forged"}, syncMode="Dual"
        ),
        "clusternet-abcde",
    )
    assert body["metadata"]["name"] == "edge-1" and body["metadata"]["namespace"] == "clusternet-abcde"
    assert body["metadata"]["labels"]["env"] == "prod"
    assert body["metadata"]["labels"]["clusters.clusternet.io/cluster-id"] == CLUSTER_ID
    assert body["spec"] == {"clusterId": CLUSTER_ID, "clusterType": "StandardCluster", "syncMode": "Dual"}


def test_cluster_role_grants_only_requests_and_the_own_socket() -> None:
    """No cluster-wide Secret access (deliberate difference), sockets restricted to this cluster's ID."""
    rules = reg.cluster_role(CLUSTER_ID)["rules"]
    assert all("secrets" not in rule["resources"] for rule in rules)
    socket_rule = next(rule for rule in rules if rule["resources"] == ["sockets"])
    assert socket_rule["resourceNames"] == [CLUSTER_ID]
    binding = reg.cluster_role_binding(CLUSTER_ID, "clusternet-xyz", "clusternet-abcde")
    assert binding["roleRef"]["name"] == binding["metadata"]["name"] == f"clusternet-{CLUSTER_ID}"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "clusternet-xyz", "namespace": "clusternet-abcde"}
    ]


def test_namespace_role_allows_everything_there() -> None:
    """The agent may do anything inside its own namespace, including renewing its token."""
    role = reg.managed_cluster_role(CLUSTER_ID, "clusternet-abcde")
    assert role["metadata"]["name"] == "clusternet-managedcluster-role"
    assert role["rules"] == [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]


@pytest.mark.parametrize(("asked", "sent"), [(86400, 86400), (60, 600)])
def test_token_request_respects_the_api_minimum(asked: int, sent: int) -> None:
    """TokenRequest refuses lifetimes under ten minutes, so shorter asks are raised to it."""
    assert reg.token_request(asked)["spec"]["expirationSeconds"] == sent


def test_approved_status_encodes_bytes() -> None:
    """token and caCertificate are base64, errorMessage is left out (omitempty)."""
    status = reg.approved_status(namespace="ns", managed_cluster_name="mc", token="tok", ca_pem=b"ca")
    assert status["token"] == base64.b64encode(b"tok").decode()
    assert status["caCertificate"] == base64.b64encode(b"ca").decode()
    assert status["result"] == "Approved" and "errorMessage" not in status


def test_pick_owned_prefers_the_oldest() -> None:
    """Among duplicates the oldest object wins, whatever the list order."""
    items = [
        {"metadata": {"name": "b", "creationTimestamp": "2024-01-02T00:00:00Z"}},
        {"metadata": {"name": "a", "creationTimestamp": "2024-01-01T00:00:00Z"}},
    ]
    assert reg.pick_owned(items)["metadata"]["name"] == "a"  # type: ignore[index]
    assert reg.pick_owned([]) is None


# --------------------------------------------------------------------------------------------------- lifecycle


def _cluster(
    *,
    observed: datetime | None,
    frequency: int | None = 30,
    ready: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    created: datetime = NOW - timedelta(hours=1),
) -> dict[str, Any]:
    status: dict[str, Any] = {"healthz": True, "livez": True, "readyz": True}
    if observed is not None:
        status["lastObservedTime"] = reg.format_time(observed)
    if frequency is not None:
        status["heartbeatFrequencySeconds"] = frequency
    if ready is not None:
        status["conditions"] = [ready]
    return {
        "metadata": {"name": "c", "namespace": "ns", "creationTimestamp": reg.format_time(created)},
        "spec": {"clusterId": CLUSTER_ID, "syncMode": "Pull", **({"taints": taints} if taints else {})},
        "status": status,
    }


_READY = {
    "type": "Ready",
    "status": "True",
    "reason": "ManagedClusterReady",
    "message": "m",
    "lastTransitionTime": "x",
}
_UNSCHEDULABLE = {
    "key": reg.TAINT_UNSCHEDULABLE,
    "value": "ClusterStatusUnknown",
    "effect": "NoSchedule",
    "timeAdded": "x",
}


def test_fresh_report_is_left_alone_and_checked_at_the_deadline() -> None:
    """Within 3 beats nothing is written and the next look is at the deadline."""
    decision = reg.lifecycle_decision(_cluster(observed=NOW - timedelta(seconds=30), ready=_READY), NOW)
    assert decision.status is None and decision.taints is None
    assert decision.requeue_after == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("observed", "frequency", "reason"),
    [
        (NOW - timedelta(seconds=91), 30, "ClusterStatusUnknown"),
        (NOW - timedelta(minutes=10), None, "ClusterStatusUnknown"),
        (None, None, "ClusterStatusNeverUpdated"),
    ],
)
def test_silent_cluster_turns_unknown_and_tainted(
    observed: datetime | None, frequency: int | None, reason: str
) -> None:
    """Past 3 x heartbeat (9 min by default) Ready is Unknown, probes are false, and the taint appears."""
    decision = reg.lifecycle_decision(_cluster(observed=observed, frequency=frequency, ready=_READY), NOW)
    assert decision.status is not None
    ready = reg.find_condition(decision.status["conditions"], "Ready")
    assert ready is not None and (ready["status"], ready["reason"]) == ("Unknown", reason)
    assert (decision.status["healthz"], decision.status["livez"], decision.status["readyz"]) == (
        False,
        False,
        False,
    )
    assert decision.taints == [
        {
            "key": reg.TAINT_UNSCHEDULABLE,
            "value": reason,
            "effect": "NoSchedule",
            "timeAdded": "2024-05-01T12:00:00Z",
        }
    ]
    assert decision.requeue_after is None


def test_default_grace_is_nine_minutes() -> None:
    """Without heartbeatFrequencySeconds a report 8 minutes old is still fine."""
    decision = reg.lifecycle_decision(
        _cluster(observed=NOW - timedelta(minutes=8), frequency=None, ready=_READY), NOW
    )
    assert decision.status is None and decision.requeue_after == pytest.approx(60.0)


def test_unknown_cluster_is_not_rewritten() -> None:
    """Once Unknown, probes false and tainted, a silent cluster needs no more writes."""
    cluster = _cluster(observed=NOW - timedelta(minutes=5), taints=[_UNSCHEDULABLE])
    first = reg.lifecycle_decision(cluster, NOW)
    assert first.status is not None
    cluster["status"] = first.status
    again = reg.lifecycle_decision(cluster, NOW + timedelta(minutes=1))
    assert again.status is None and again.taints is None


def test_recovered_cluster_loses_its_taint() -> None:
    """A fresh Ready=True report removes the unschedulable taint and keeps other taints."""
    other = {"key": "example.com/maintenance", "effect": "NoSchedule"}
    cluster = _cluster(observed=NOW, ready=_READY, taints=[other, _UNSCHEDULABLE])
    decision = reg.lifecycle_decision(cluster, NOW)
    assert decision.status is None and decision.taints == [other]


def test_not_ready_report_is_tainted_without_status_change() -> None:
    """An agent reporting Ready=False keeps its status, but the cluster becomes unschedulable."""
    not_ready = {**_READY, "status": "False", "reason": "ManagedClusterNotReady"}
    decision = reg.lifecycle_decision(_cluster(observed=NOW, ready=not_ready), NOW)
    assert decision.status is None
    assert decision.taints is not None and decision.taints[0]["value"] == "ManagedClusterNotReady"


def test_never_reported_cluster_within_grace_is_tainted() -> None:
    """A new cluster without any Ready condition is unschedulable until its first report."""
    decision = reg.lifecycle_decision(_cluster(observed=None, frequency=None, created=NOW), NOW)
    assert decision.status is None
    assert decision.taints is not None and decision.taints[0]["value"] == "ClusterStatusNeverUpdated"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", NOW),
        ("2024-05-01T12:00:00.123456Z", NOW + timedelta(microseconds=123456)),
        ("2024-05-01T12:00:00.5Z", NOW + timedelta(milliseconds=500)),
        ("2024-05-01T14:00:00+02:00", NOW),
        ("garbage", None),
        (None, None),
    ],
)
def test_parse_time(text: str | None, expected: datetime | None) -> None:
    """metav1.Time and MicroTime strings parse to aware datetimes."""
    assert reg.parse_time(text) == expected


# --------------------------------------------------------------------------------------------------- leader election


@pytest.mark.parametrize(
    ("holder", "unchanged_for", "recorded", "expected"),
    [
        ("", 0.0, None, True),
        ("me", 0.0, 15, True),
        ("other", 5.0, 15, False),
        ("other", 16.0, 15, True),
        ("other", 16.0, 30, False),
        ("other", 16.0, None, True),
    ],
)
def test_may_acquire(holder: str, unchanged_for: float, recorded: int | None, expected: bool) -> None:
    """A Lease is free, ours, or stale for longer than the holder's recorded duration."""
    spec: dict[str, Any] = {"holderIdentity": holder}
    if recorded is not None:
        spec["leaseDurationSeconds"] = recorded
    assert may_acquire({"spec": spec}, "me", unchanged_for=unchanged_for, lease_duration=15.0) == expected


def test_acquiring_counts_transitions() -> None:
    """Taking the Lease from someone else counts a transition; renewing our own keeps acquireTime."""
    taken = acquired_spec(
        {"spec": {"holderIdentity": "other", "leaseTransitions": 2}}, "me", now=NOW, lease_duration=15
    )
    assert taken["holderIdentity"] == "me" and taken["leaseTransitions"] == 3
    assert taken["acquireTime"] == taken["renewTime"] == "2024-05-01T12:00:00.000000Z"
    again = acquired_spec({"spec": taken}, "me", now=NOW + timedelta(seconds=2), lease_duration=15)
    assert again["acquireTime"] == taken["acquireTime"] and again["leaseTransitions"] == 3
    fresh = acquired_spec(None, "me", now=NOW, lease_duration=15)
    assert fresh["leaseTransitions"] == 0


def test_release_frees_the_lease() -> None:
    """A released Lease has no holder, so a standby may take it at once."""
    released = released_spec({"spec": {"holderIdentity": "me", "acquireTime": "x"}}, now=NOW)
    assert released["holderIdentity"] == "" and may_acquire(
        {"spec": released}, "b", unchanged_for=0, lease_duration=15
    )


@pytest.mark.parametrize(
    ("lease", "renew", "retry"), [(10.0, 10.0, 2.0), (15.0, 10.0, 10.0), (15.0, 10.0, 0.0)]
)
def test_election_timing_must_nest(lease: float, renew: float, retry: float) -> None:
    """lease duration > renew deadline > retry period > 0, as client-go insists."""
    with pytest.raises(ValueError):
        LeaderElectionConfig(
            namespace="n",
            name="l",
            identity="i",
            lease_duration=lease,
            renew_deadline=renew,
            retry_period=retry,
        )


# --------------------------------------------------------------------------------------------------- hub plumbing


async def test_work_queue_folds_repeated_adds() -> None:
    """A key added many times before a worker takes it is handed out once."""
    queue = WorkQueue()
    for _ in range(3):
        queue.add("a")
    queue.add("b")
    assert [await queue.get(), await queue.get()] == ["a", "b"]
    assert len(queue) == 0


async def test_work_queue_never_hands_out_a_key_twice_at_once() -> None:
    """A key added while being processed comes back only after done()."""
    queue = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    assert len(queue) == 0
    queue.done(key)
    assert await asyncio.wait_for(queue.get(), 1) == "a"


async def test_work_queue_add_after_keeps_the_earliest_timer() -> None:
    """Of two delayed adds for one key the earlier wins, so a deadline is never postponed."""
    queue = WorkQueue()
    queue.add_after("a", 0.05)
    queue.add_after("a", 30)
    assert await asyncio.wait_for(queue.get(), 5) == "a"
    queue.close()


def test_event_body_for_cluster_scoped_objects_goes_to_default() -> None:
    """Events about cluster-scoped requests live in ``default``, where kubectl describe looks."""
    request = reg.registration_request(cluster_id=CLUSTER_ID, cluster_name="edge-1")
    request["metadata"]["uid"] = "u-1"
    body = event_body(request, event_type="Normal", reason="R", message="m", now=NOW, instance="hub-1")
    assert body["metadata"] == {"generateName": f"clusternet-{CLUSTER_ID}.", "namespace": "default"}
    assert body["involvedObject"]["uid"] == "u-1" and "namespace" not in body["involvedObject"]
    assert body["source"]["component"] == "clusternet-hub" and body["reportingInstance"] == "hub-1"


def test_hub_help_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """``hub-lite --help`` documents the leader election, logging, health and token flags."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    for flag in (
        "--kubeconfig",
        "--leader-elect ",
        "--leader-elect-lease-duration",
        "--leader-elect-renew-deadline",
        "--leader-elect-retry-period",
        "--log-format",
        "--log-level",
        "--healthz-port",
        "--cluster-token-ttl",
    ):
        assert flag in text


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        ([], "lease_duration", 15.0),
        (["--leader-elect-lease-duration=1m"], "lease_duration", 60.0),
        (["--leader-elect=false"], "leader_elect", False),
        (["--leader-elect"], "leader_elect", True),
        (["--cluster-token-ttl=2h"], "cluster_token_ttl", 7200.0),
    ],
)
def test_hub_options(argv: list[str], field: str, value: object) -> None:
    """Durations take Go syntax and booleans kube-style ``--flag=false``."""
    assert getattr(parse_options(argv), field) == value


@pytest.mark.parametrize(
    "argv",
    [["--cluster-token-ttl=5m"], ["--leader-elect-renew-deadline=20s"], ["--leader-elect-lease-duration=x"]],
)
def test_hub_options_refuse_impossible_values(argv: list[str]) -> None:
    """A token shorter than TokenRequest allows or inverted election timings stop the hub at start."""
    with pytest.raises(SystemExit):
        parse_options(argv)
