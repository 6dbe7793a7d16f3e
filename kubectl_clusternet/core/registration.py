"""How a child cluster joins the fleet, as pure functions both daemons share.

The agent builds the ClusterRegistrationRequest and stores what the approval hands back; the hub decides
whether to approve, which objects to create for the cluster, and when a silent cluster turns Unknown. Keeping
every object body and every decision here (no I/O, the clock passed in) means the agent and the hub cannot
disagree about a label key or a condition reason, and the rules are unit-tested table by table.

Upstream behaviour: clusternet-reference.md sections 2.1, 2.2, 3 and 4. Deliberate differences: the agent's
token comes from the TokenRequest API (bound and expiring, renewed by the agent) instead of a legacy token
Secret, and the per-cluster ClusterRole grants no cluster-wide read of Secrets.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .apis.clusters import CLUSTER_TYPES, GROUP, SYNC_MODES, VERSION
from .hub import SYSTEM_NAMESPACE

__all__ = [
    # names and keys
    "SYSTEM_NAMESPACE",
    "AGENT_NAME",
    "HUB_NAME",
    "AGENT_LEASE_NAME",
    "HUB_LEASE_NAME",
    "PARENT_CLUSTER_SECRET",
    "CRR_NAME_PREFIX",
    "DEDICATED_NAME_PREFIX",
    "MANAGED_CLUSTER_ROLE",
    "LABEL_CLUSTER_ID",
    "LABEL_CLUSTER_NAME",
    "LABEL_REGISTERED_BY",
    "LABEL_CREATED_BY",
    "LABEL_BOOTSTRAPPING",
    "BOOTSTRAPPING_CREDENTIALS",
    "BOOTSTRAPPING_RBAC",
    "ANNOTATION_AUTOUPDATE",
    "ANNOTATION_LEGACY_CLUSTER_ID",
    "NODE_LABEL_PREFIX",
    "DEFAULT_NAME_PREFIX",
    "DEFAULT_CLUSTER_TYPE",
    "DEFAULT_SYNC_MODE",
    "DEFAULT_TOKEN_EXPIRATION_SECONDS",
    "MIN_TOKEN_EXPIRATION_SECONDS",
    "SECRET_KEY_CA",
    "SECRET_KEY_TOKEN",
    "SECRET_KEY_NAMESPACE",
    "SECRET_KEY_PARENT_URL",
    "SECRET_KEY_SA_NAME",
    "SECRET_KEY_SA_UID",
    "CHILD_DEPLOYER_SECRET",
    "CHILD_DEPLOYER_SERVICE_ACCOUNT",
    "RESULT_APPROVED",
    "RESULT_DENIED",
    "RESULT_FAILED",
    "CONDITION_READY",
    "REASON_READY",
    "REASON_NOT_READY",
    "REASON_NEVER_UPDATED",
    "REASON_STATUS_UNKNOWN",
    "MESSAGE_READY",
    "MESSAGE_NOT_READY",
    "MESSAGE_NEVER_UPDATED",
    "MESSAGE_STATUS_UNKNOWN",
    "TAINT_UNSCHEDULABLE",
    "DEFAULT_HEARTBEAT_SECONDS",
    "MISSED_HEARTBEATS",
    # agent side
    "RegistrationError",
    "crr_name",
    "cluster_id_from_lease",
    "generate_cluster_name",
    "validate_cluster_name",
    "validate_name_prefix",
    "validate_cluster_namespace",
    "validate_sync_mode",
    "validate_cluster_type",
    "parse_cluster_labels",
    "registration_request",
    "cluster_name_from_request",
    "ApprovedCredentials",
    "approved_credentials",
    "request_outcome",
    "parent_cluster_secret",
    "child_deployer_secret",
    "StoredCredentials",
    "stored_credentials",
    # conditions and labels
    "format_time",
    "parse_time",
    "ready_condition",
    "merge_conditions",
    "find_condition",
    "aggregate_node_labels",
    "replace_prefixed_labels",
    # hub side
    "ownership_labels",
    "label_selector",
    "denial_message",
    "dedicated_namespace",
    "managed_cluster",
    "service_account",
    "cluster_role",
    "cluster_role_binding",
    "managed_cluster_role",
    "managed_cluster_role_binding",
    "token_request",
    "approved_status",
    "denied_status",
    "failed_status",
    "pick_owned",
    "LifecycleDecision",
    "lifecycle_decision",
    "desired_taints",
]

# ---------------------------------------------------------------------------------------------------------
# names and keys (reference §2.14)

AGENT_NAME = "clusternet-agent"
HUB_NAME = "clusternet-hub"
AGENT_LEASE_NAME = "clusternet-agent"
HUB_LEASE_NAME = "clusternet-hub"
PARENT_CLUSTER_SECRET = "parent-cluster"
CRR_NAME_PREFIX = "clusternet-"
DEDICATED_NAME_PREFIX = "clusternet-"
MANAGED_CLUSTER_ROLE = "clusternet-managedcluster-role"

LABEL_CLUSTER_ID = "clusters.clusternet.io/cluster-id"
LABEL_CLUSTER_NAME = "clusters.clusternet.io/cluster-name"
LABEL_REGISTERED_BY = "clusters.clusternet.io/registered-by"
LABEL_CREATED_BY = "clusternet.io/created-by"
LABEL_BOOTSTRAPPING = "clusters.clusternet.io/bootstrapping"
BOOTSTRAPPING_CREDENTIALS = "credentials-auto"
BOOTSTRAPPING_RBAC = "rbac-defaults"
ANNOTATION_AUTOUPDATE = "clusternet.io/autoupdate"
ANNOTATION_LEGACY_CLUSTER_ID = "legacy-cluster-id"
NODE_LABEL_PREFIX = "node.clusternet.io/"

DEFAULT_NAME_PREFIX = "clusternet-cluster"
DEFAULT_CLUSTER_TYPE = "StandardCluster"
DEFAULT_SYNC_MODE = "Pull"
DEFAULT_TOKEN_EXPIRATION_SECONDS = 86400
# The TokenRequest API refuses anything shorter than ten minutes.
MIN_TOKEN_EXPIRATION_SECONDS = 600

SECRET_KEY_CA = "ca.crt"
SECRET_KEY_TOKEN = "token"
SECRET_KEY_NAMESPACE = "namespace"
SECRET_KEY_PARENT_URL = "apiserver-advertise-url"

RESULT_APPROVED = "Approved"
RESULT_DENIED = "Denied"
RESULT_FAILED = "Failed"

CONDITION_READY = "Ready"
REASON_READY = "ManagedClusterReady"
REASON_NOT_READY = "ManagedClusterNotReady"
REASON_NEVER_UPDATED = "ClusterStatusNeverUpdated"
REASON_STATUS_UNKNOWN = "ClusterStatusUnknown"
MESSAGE_READY = "managed cluster is ready."
MESSAGE_NOT_READY = "managed cluster is not ready."
MESSAGE_NEVER_UPDATED = "Clusternet agent never posted cluster status."
MESSAGE_STATUS_UNKNOWN = "Clusternet agent stopped posting cluster status."

TAINT_UNSCHEDULABLE = "clusters.clusternet.io/unschedulable"
# Upstream's default report period is 3 minutes, so a cluster that never said how often it reports gets
# 3 x 3 minutes of grace.
DEFAULT_HEARTBEAT_SECONDS = 180
MISSED_HEARTBEATS = 3

_API_VERSION = f"{GROUP}/{VERSION}"
_RBAC_API = "rbac.authorization.k8s.io/v1"
_NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_LABEL_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# The CRD allows 30 characters for spec.clusterName; upstream's agent accepts 60 and then fails to create the
# request (reference §11), so we check what the CRD enforces.
MAX_CLUSTER_NAME = 30
MAX_NAME_PREFIX = MAX_CLUSTER_NAME - 6


class RegistrationError(ValueError):
    """A flag or an object does not satisfy the registration contract; the message says which and why."""


# ---------------------------------------------------------------------------------------------------------
# time


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object) -> datetime | None:
    """A metav1.Time (or MicroTime) string as an aware datetime; None for anything unparsable."""
    if not isinstance(text, str) or not text:
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Python before 3.11 rejects fractions that are not 3 or 6 digits; normalise to 6.
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", value)
    if match:
        fraction = (match.group(2) or "")[:7].ljust(7, "0") if match.group(2) else ""
        value = match.group(1) + fraction + match.group(3)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


# ---------------------------------------------------------------------------------------------------------
# agent side


def crr_name(cluster_id: str) -> str:
    """Every request is named after the cluster, so one cluster can only ever ask once."""
    return f"{CRR_NAME_PREFIX}{cluster_id}"


def cluster_id_from_lease(lease: Mapping[str, Any]) -> str:
    """The cluster's ID: the agent Lease's ``legacy-cluster-id`` annotation if set, else the Lease's UID."""
    metadata = lease.get("metadata") or {}
    legacy = (metadata.get("annotations") or {}).get(ANNOTATION_LEGACY_CLUSTER_ID)
    if legacy:
        return str(legacy)
    uid = metadata.get("uid")
    if not uid:
        raise RegistrationError("the agent Lease has no UID yet; it must be read back from the API server")
    return str(uid)


def generate_cluster_name(prefix: str = DEFAULT_NAME_PREFIX, *, token: str | None = None) -> str:
    """``<prefix>-<5 random lowercase alphanumerics>``, as upstream names clusters nobody named."""
    suffix = token if token is not None else "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
    return f"{prefix}-{suffix}"


def validate_cluster_name(name: str) -> str:
    """The name as given, or RegistrationError when the CRD would reject it."""
    if len(name) > MAX_CLUSTER_NAME:
        raise RegistrationError(
            f"cluster name {name!r} is {len(name)} characters long; at most {MAX_CLUSTER_NAME} are allowed"
        )
    if not _DNS_LABEL.match(name):
        raise RegistrationError(
            f"cluster name {name!r} must consist of lower case alphanumeric characters or '-', and must start "
            "and end with an alphanumeric character"
        )
    return name


def validate_name_prefix(prefix: str) -> str:
    """A prefix leaves room for ``-xxxxx`` inside the CRD's 30 characters."""
    if len(prefix) > MAX_NAME_PREFIX:
        raise RegistrationError(
            f"cluster name prefix {prefix!r} is too long; at most {MAX_NAME_PREFIX} characters are allowed"
        )
    if not _DNS_LABEL.match(prefix):
        raise RegistrationError(
            f"cluster name prefix {prefix!r} must consist of lower case alphanumeric characters or '-'"
        )
    return prefix


def validate_cluster_namespace(namespace: str) -> str:
    if namespace and (len(namespace) > 63 or not _DNS_LABEL.match(namespace)):
        raise RegistrationError(
            f"cluster namespace {namespace!r} is not a valid DNS label (at most 63 characters)"
        )
    return namespace


def validate_sync_mode(mode: str, *, app_pusher: bool) -> str:
    """Push needs the AppPusher gate: without it the parent would never be allowed to deploy."""
    if mode not in SYNC_MODES:
        raise RegistrationError(f"invalid sync mode {mode!r}; expected one of {', '.join(SYNC_MODES)}")
    if mode == "Push" and not app_pusher:
        raise RegistrationError("sync mode Push needs the feature gate AppPusher=true")
    return mode


def validate_cluster_type(cluster_type: str) -> str:
    if cluster_type not in CLUSTER_TYPES:
        raise RegistrationError(
            f"invalid cluster type {cluster_type!r}; expected one of {', '.join(CLUSTER_TYPES)}"
        )
    return cluster_type


def _valid_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return False
    return not prefix or (len(prefix) <= 253 and bool(_LABEL_PREFIX.match(prefix)))


def parse_cluster_labels(text: str) -> tuple[dict[str, str], list[str]]:
    """``k1=v1,k2=v2`` as a dict plus one warning per malformed pair (upstream skips those, so do we)."""
    labels: dict[str, str] = {}
    warnings: list[str] = []
    for pair in text.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _valid_label_key(key) or len(value) > 63 or not _LABEL_NAME.match(value):
            warnings.append(f"ignoring malformed cluster label {pair!r}")
            continue
        labels[key] = value
    return labels, warnings


def registration_request(
    *,
    cluster_id: str,
    cluster_name: str,
    cluster_type: str = DEFAULT_CLUSTER_TYPE,
    sync_mode: str = DEFAULT_SYNC_MODE,
    cluster_namespace: str = "",
    cluster_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ClusterRegistrationRequest an agent creates for its cluster."""
    spec: dict[str, Any] = {
        "clusterId": cluster_id,
        "clusterType": cluster_type,
        "clusterName": cluster_name,
        "syncMode": sync_mode,
    }
    if cluster_namespace:
        spec["clusterNamespace"] = cluster_namespace
    if cluster_labels:
        spec["clusterLabels"] = dict(cluster_labels)
    return {
        "apiVersion": _API_VERSION,
        "kind": "ClusterRegistrationRequest",
        "metadata": {
            "name": crr_name(cluster_id),
            "labels": {
                LABEL_REGISTERED_BY: AGENT_NAME,
                LABEL_CLUSTER_ID: cluster_id,
                LABEL_CLUSTER_NAME: cluster_name,
            },
        },
        "spec": spec,
    }


def cluster_name_from_request(request: Mapping[str, Any] | None) -> str | None:
    """The name an earlier run registered with, so a restarted agent keeps its first random name."""
    if not request:
        return None
    labels = (request.get("metadata") or {}).get("labels") or {}
    name = labels.get(LABEL_CLUSTER_NAME)
    return str(name) if name else None


@dataclass(frozen=True)
class ApprovedCredentials:
    """What an approval hands the agent: where its cluster lives in the parent and how to authenticate."""

    namespace: str
    managed_cluster_name: str
    token: str
    ca_pem: bytes


def _decode_bytes_field(value: object, field_name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise RegistrationError(f"the approved request has no status.{field_name}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RegistrationError(f"status.{field_name} of the approved request is not base64") from exc


def request_outcome(request: Mapping[str, Any] | None) -> tuple[str, str]:
    """``(result, errorMessage)`` of a request; ``("", "")`` while the hub has not decided."""
    status = (request or {}).get("status") or {}
    return str(status.get("result") or ""), str(status.get("errorMessage") or "")


def approved_credentials(request: Mapping[str, Any]) -> ApprovedCredentials | None:
    """The credentials in an Approved request's status; None while it is not Approved."""
    status = request.get("status") or {}
    if status.get("result") != RESULT_APPROVED:
        return None
    namespace = status.get("dedicatedNamespace")
    if not namespace:
        raise RegistrationError("the approved request has no status.dedicatedNamespace")
    token = _decode_bytes_field(status.get("token"), "token").decode().strip()
    ca_pem = _decode_bytes_field(status.get("caCertificate"), "caCertificate")
    return ApprovedCredentials(
        namespace=str(namespace),
        managed_cluster_name=str(status.get("managedClusterName") or ""),
        token=token,
        ca_pem=ca_pem,
    )


def parent_cluster_secret(
    credentials: ApprovedCredentials,
    *,
    cluster_id: str,
    cluster_name: str,
    parent_url: str,
    namespace: str = SYSTEM_NAMESPACE,
) -> dict[str, Any]:
    """Secret ``parent-cluster`` in the child: the agent's credentials for the parent, kept across restarts."""

    def encoded(value: bytes | str) -> str:
        return base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": PARENT_CLUSTER_SECRET,
            "namespace": namespace,
            "labels": {
                LABEL_BOOTSTRAPPING: BOOTSTRAPPING_CREDENTIALS,
                LABEL_CLUSTER_ID: cluster_id,
                LABEL_CLUSTER_NAME: cluster_name,
            },
        },
        "data": {
            SECRET_KEY_CA: encoded(credentials.ca_pem),
            SECRET_KEY_TOKEN: encoded(credentials.token),
            SECRET_KEY_NAMESPACE: encoded(credentials.namespace),
            SECRET_KEY_PARENT_URL: encoded(parent_url),
        },
    }


CHILD_DEPLOYER_SECRET = "child-cluster-deployer"
CHILD_DEPLOYER_SERVICE_ACCOUNT = "clusternet-app-deployer"
SECRET_KEY_SA_NAME = "service-account.name"
SECRET_KEY_SA_UID = "service-account.uid"


def child_deployer_secret(
    *,
    namespace: str,
    cluster_id: str,
    cluster_name: str,
    child_url: str,
    child_ca_pem: bytes,
    token: str = "",
    service_account_name: str = "",
    service_account_uid: str = "",
) -> dict[str, Any]:
    """Secret ``child-cluster-deployer`` in the cluster's dedicated namespace of the parent.

    The hub needs the child's CA to verify the child through the tunnel (no ``InsecureSkipVerify``), and
    the deployer's token to apply Descriptions in Push mode. Keys with no value are left out rather than
    published empty, so a reader can tell "not given" from "given as nothing".
    """

    def encoded(value: bytes | str) -> str:
        return base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()

    values: dict[str, bytes | str] = {
        SECRET_KEY_CA: child_ca_pem,
        SECRET_KEY_TOKEN: token,
        SECRET_KEY_SA_NAME: service_account_name,
        SECRET_KEY_SA_UID: service_account_uid,
        SECRET_KEY_PARENT_URL: child_url,
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": CHILD_DEPLOYER_SECRET,
            "namespace": namespace,
            "labels": {
                LABEL_CREATED_BY: AGENT_NAME,
                LABEL_BOOTSTRAPPING: BOOTSTRAPPING_CREDENTIALS,
                LABEL_CLUSTER_ID: cluster_id,
                LABEL_CLUSTER_NAME: cluster_name,
            },
            "annotations": {ANNOTATION_AUTOUPDATE: "true"},
        },
        "data": {key: encoded(value) for key, value in values.items() if value},
    }


@dataclass(frozen=True)
class StoredCredentials:
    """The contents of Secret ``parent-cluster``."""

    parent_url: str
    namespace: str
    token: str
    ca_pem: bytes
    cluster_id: str
    cluster_name: str


def stored_credentials(secret: Mapping[str, Any] | None, *, parent_url: str) -> StoredCredentials | None:
    """The Secret's credentials when they were issued by the parent at ``parent_url``; else None.

    A different URL means the agent now points at another parent, so it must register there afresh.
    """
    if not secret:
        return None
    data = secret.get("data") or {}

    def text(key: str) -> str:
        try:
            return base64.b64decode(str(data.get(key) or "")).decode().strip()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return ""

    stored_url = text(SECRET_KEY_PARENT_URL)
    token = text(SECRET_KEY_TOKEN)
    try:
        ca_pem = base64.b64decode(str(data.get(SECRET_KEY_CA) or ""))
    except (binascii.Error, ValueError):
        ca_pem = b""
    if not token or not ca_pem or _normal_url(stored_url) != _normal_url(parent_url):
        return None
    labels = (secret.get("metadata") or {}).get("labels") or {}
    return StoredCredentials(
        parent_url=stored_url,
        namespace=text(SECRET_KEY_NAMESPACE),
        token=token,
        ca_pem=ca_pem,
        cluster_id=str(labels.get(LABEL_CLUSTER_ID) or ""),
        cluster_name=str(labels.get(LABEL_CLUSTER_NAME) or ""),
    )


def _normal_url(url: str) -> str:
    return url.strip().rstrip("/")


# ---------------------------------------------------------------------------------------------------------
# conditions and labels (reference §4.1, §4.2)


def ready_condition(*, healthz: bool, livez: bool, readyz: bool, now: datetime) -> dict[str, Any]:
    """The agent's Ready condition: healthy when (livez and readyz) or healthz, as upstream decides."""
    ready = (livez and readyz) or healthz
    return {
        "type": CONDITION_READY,
        "status": "True" if ready else "False",
        "reason": REASON_READY if ready else REASON_NOT_READY,
        "message": MESSAGE_READY if ready else MESSAGE_NOT_READY,
        "lastTransitionTime": format_time(now),
    }


def find_condition(
    conditions: Iterable[Mapping[str, Any]] | None, condition_type: str
) -> dict[str, Any] | None:
    for condition in conditions or ():
        if condition.get("type") == condition_type:
            return dict(condition)
    return None


def merge_conditions(
    existing: Sequence[Mapping[str, Any]] | None, updates: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Fold ``updates`` into ``existing`` by type, keeping conditions the writer does not own (§4.2).

    A new type is appended; a changed status moves lastTransitionTime; a changed reason or message alone keeps
    it; an unchanged Ready condition takes the new time anyway, so Ready's time doubles as a heartbeat.
    """
    merged = [dict(condition) for condition in existing or ()]
    for update in updates:
        for index, current in enumerate(merged):
            if current.get("type") != update.get("type"):
                continue
            if current.get("status") != update.get("status"):
                merged[index] = dict(update)
            elif current.get("reason") != update.get("reason") or current.get("message") != update.get(
                "message"
            ):
                changed = dict(update)
                if current.get("lastTransitionTime"):
                    changed["lastTransitionTime"] = current["lastTransitionTime"]
                merged[index] = changed
            elif update.get("type") == CONDITION_READY:
                merged[index] = dict(update)
            break
        else:
            merged.append(dict(update))
    return merged


def _is_control_plane(node: Mapping[str, Any]) -> bool:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return "node-role.kubernetes.io/control-plane" in labels or "node-role.kubernetes.io/master" in labels


def aggregate_node_labels(
    nodes: Sequence[Mapping[str, Any]],
    *,
    prefixes: Sequence[str] = (NODE_LABEL_PREFIX,),
    threshold: float = 0.8,
) -> dict[str, str]:
    """Node labels shared by at least ``threshold`` of the worker nodes, for the ManagedCluster's labels.

    For each key with an allowed prefix the most frequent value wins (ties go to the smaller value, so the
    result does not depend on node order); control-plane nodes do not count.
    """
    workers = [node for node in nodes if not _is_control_plane(node)]
    if not workers:
        return {}
    counts: dict[str, dict[str, int]] = {}
    for node in workers:
        for key, value in ((node.get("metadata") or {}).get("labels") or {}).items():
            if any(key.startswith(prefix) for prefix in prefixes):
                per_value = counts.setdefault(key, {})
                per_value[str(value)] = per_value.get(str(value), 0) + 1
    aggregated: dict[str, str] = {}
    for key, per_value in sorted(counts.items()):
        value, count = min(per_value.items(), key=lambda item: (-item[1], item[0]))
        if count / len(workers) >= threshold:
            aggregated[key] = value
    return aggregated


def replace_prefixed_labels(
    current: Mapping[str, str] | None,
    aggregated: Mapping[str, str],
    *,
    prefixes: Sequence[str] = (NODE_LABEL_PREFIX,),
) -> dict[str, str | None]:
    """The merge patch for ``metadata.labels`` that swaps all prefixed labels for ``aggregated`` (empty: no change).

    Removed keys map to None, which a JSON merge patch reads as "delete".
    """
    patch: dict[str, str | None] = {}
    for key in current or {}:
        if any(key.startswith(prefix) for prefix in prefixes) and key not in aggregated:
            patch[key] = None
    for key, value in aggregated.items():
        if (current or {}).get(key) != value:
            patch[key] = value
    return patch


# ---------------------------------------------------------------------------------------------------------
# hub side: approval objects (reference §3.4)


def ownership_labels(cluster_id: str, cluster_name: str) -> dict[str, str]:
    """The labels by which the hub finds a cluster's namespace, ManagedCluster and ServiceAccount again."""
    return {LABEL_CREATED_BY: AGENT_NAME, LABEL_CLUSTER_ID: cluster_id, LABEL_CLUSTER_NAME: cluster_name}


def label_selector(cluster_id: str) -> str:
    """The selector matching what was created for one cluster (name excluded: it is only informative)."""
    return f"{LABEL_CREATED_BY}={AGENT_NAME},{LABEL_CLUSTER_ID}={cluster_id}"


def _spec(request: Mapping[str, Any]) -> dict[str, Any]:
    return dict(request.get("spec") or {})


def denial_message(request: Mapping[str, Any]) -> str | None:
    """Why a request must be denied, or None when it may be approved."""
    spec = _spec(request)
    cluster_id = str(spec.get("clusterId") or "")
    name = str((request.get("metadata") or {}).get("name") or "")
    if not cluster_id or not _UUID.match(cluster_id):
        return f"spec.clusterId {cluster_id!r} is not a UUID"
    if name != crr_name(cluster_id):
        return (
            f"ClusterRegistrationRequest {name!r} should be named {crr_name(cluster_id)!r} to match its "
            f"spec.clusterId {cluster_id}"
        )
    return None


def _request_identity(request: Mapping[str, Any]) -> tuple[str, str]:
    spec = _spec(request)
    cluster_id = str(spec.get("clusterId") or "")
    cluster_name = str(spec.get("clusterName") or "")
    return cluster_id, cluster_name


def dedicated_namespace(request: Mapping[str, Any]) -> dict[str, Any]:
    """The Namespace that will hold the cluster's ManagedCluster, credentials and applications."""
    cluster_id, cluster_name = _request_identity(request)
    metadata: dict[str, Any] = {"labels": ownership_labels(cluster_id, cluster_name)}
    requested = str(_spec(request).get("clusterNamespace") or "")
    if requested:
        metadata["name"] = requested
    else:
        metadata["generateName"] = DEDICATED_NAME_PREFIX
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def managed_cluster(request: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The ManagedCluster the parent keeps for the cluster, named after it, labelled with its clusterLabels."""
    spec = _spec(request)
    cluster_id, cluster_name = _request_identity(request)
    labels = {str(k): str(v) for k, v in (spec.get("clusterLabels") or {}).items()}
    labels.update(ownership_labels(cluster_id, cluster_name))
    metadata: dict[str, Any] = {"namespace": namespace, "labels": labels}
    if cluster_name:
        metadata["name"] = cluster_name
    else:
        metadata["generateName"] = DEDICATED_NAME_PREFIX
    return {
        "apiVersion": _API_VERSION,
        "kind": "ManagedCluster",
        "metadata": metadata,
        "spec": {
            "clusterId": cluster_id,
            "clusterType": str(spec.get("clusterType") or DEFAULT_CLUSTER_TYPE),
            "syncMode": str(spec.get("syncMode") or DEFAULT_SYNC_MODE),
        },
    }


def service_account(request: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The identity the agent uses against the parent once approved."""
    cluster_id, cluster_name = _request_identity(request)
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "generateName": DEDICATED_NAME_PREFIX,
            "namespace": namespace,
            "labels": ownership_labels(cluster_id, cluster_name),
        },
    }


def _rbac_metadata(name: str, cluster_id: str, namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {
            LABEL_BOOTSTRAPPING: BOOTSTRAPPING_RBAC,
            LABEL_CREATED_BY: HUB_NAME,
            LABEL_CLUSTER_ID: cluster_id,
        },
        "annotations": {ANNOTATION_AUTOUPDATE: "true"},
    }
    if namespace:
        metadata["namespace"] = namespace
    return metadata


def cluster_role(cluster_id: str) -> dict[str, Any]:
    """Cluster-wide rights of one agent: re-read and re-create its own request, and open its own tunnel.

    Upstream also grants ``get`` on every Secret of the parent; an agent never needs that, so we do not.
    """
    return {
        "apiVersion": _RBAC_API,
        "kind": "ClusterRole",
        "metadata": _rbac_metadata(crr_name(cluster_id), cluster_id),
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": ["clusterregistrationrequests"],
                "verbs": ["create", "get"],
            },
            {
                "apiGroups": ["proxies.clusternet.io"],
                "resources": ["sockets"],
                "resourceNames": [cluster_id],
                "verbs": ["*"],
            },
        ],
    }


def _service_account_subject(name: str, namespace: str) -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def cluster_role_binding(cluster_id: str, sa_name: str, sa_namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": _RBAC_API,
        "kind": "ClusterRoleBinding",
        "metadata": _rbac_metadata(crr_name(cluster_id), cluster_id),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": crr_name(cluster_id),
        },
        "subjects": [_service_account_subject(sa_name, sa_namespace)],
    }


def managed_cluster_role(cluster_id: str, namespace: str) -> dict[str, Any]:
    """Everything inside the dedicated namespace (status reports, Descriptions, its own token renewals)."""
    return {
        "apiVersion": _RBAC_API,
        "kind": "Role",
        "metadata": _rbac_metadata(MANAGED_CLUSTER_ROLE, cluster_id, namespace),
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }


def managed_cluster_role_binding(cluster_id: str, namespace: str, sa_name: str) -> dict[str, Any]:
    return {
        "apiVersion": _RBAC_API,
        "kind": "RoleBinding",
        "metadata": _rbac_metadata(MANAGED_CLUSTER_ROLE, cluster_id, namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": MANAGED_CLUSTER_ROLE},
        "subjects": [_service_account_subject(sa_name, namespace)],
    }


def token_request(expiration_seconds: int = DEFAULT_TOKEN_EXPIRATION_SECONDS) -> dict[str, Any]:
    """The TokenRequest body for a bound, expiring ServiceAccount token (no audience: the API server's own)."""
    return {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": max(int(expiration_seconds), MIN_TOKEN_EXPIRATION_SECONDS)},
    }


def approved_status(
    *, namespace: str, managed_cluster_name: str, token: str, ca_pem: bytes
) -> dict[str, Any]:
    """The request's status on approval; byte fields are base64, as Go serialises ``[]byte``.

    errorMessage is left out rather than empty, as Go's ``omitempty`` does: a v1.20 API server rejects an
    empty string there ("must be of type string: null").
    """
    return {
        "result": RESULT_APPROVED,
        "dedicatedNamespace": namespace,
        "managedClusterName": managed_cluster_name,
        "token": base64.b64encode(token.encode()).decode(),
        "caCertificate": base64.b64encode(ca_pem).decode(),
    }


def denied_status(message: str) -> dict[str, Any]:
    """A denial blanks every credential field and says why."""
    return {"result": RESULT_DENIED, "errorMessage": message}


def failed_status(message: str) -> dict[str, Any]:
    return {"result": RESULT_FAILED, "errorMessage": message}


def pick_owned(items: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Of several objects found by label (a crashed hub may have made two), the oldest, so every replica and
    every retry picks the same one."""
    if not items:
        return None

    def key(item: Mapping[str, Any]) -> tuple[str, str]:
        metadata = item.get("metadata") or {}
        return str(metadata.get("creationTimestamp") or ""), str(metadata.get("name") or "")

    oldest = min(items, key=key)
    return dict(oldest)


# ---------------------------------------------------------------------------------------------------------
# hub side: lifecycle (reference §4.3)


@dataclass(frozen=True)
class LifecycleDecision:
    """What the lifecycle controller should write for one ManagedCluster, and when to look again.

    ``status`` is the complete new status (None: leave it), ``taints`` the complete new ``spec.taints``
    (None: leave them), ``requeue_after`` seconds until the grace deadline (None: only on the next change).
    """

    status: dict[str, Any] | None
    taints: list[dict[str, Any]] | None
    requeue_after: float | None


def _grace(status: Mapping[str, Any]) -> timedelta:
    frequency = status.get("heartbeatFrequencySeconds")
    seconds = (
        int(frequency) if isinstance(frequency, (int, float)) and frequency > 0 else DEFAULT_HEARTBEAT_SECONDS
    )
    return timedelta(seconds=seconds * MISSED_HEARTBEATS)


def desired_taints(
    taints: Sequence[Mapping[str, Any]] | None, ready: Mapping[str, Any] | None, now: datetime
) -> list[dict[str, Any]]:
    """``spec.taints`` with the unschedulable taint present exactly while Ready is not True.

    Its value is the Ready reason, so ``kubectl describe`` tells why; other taints are left untouched.
    """
    others = [dict(t) for t in taints or () if t.get("key") != TAINT_UNSCHEDULABLE]
    if ready is not None and ready.get("status") == "True":
        return others
    reason = str((ready or {}).get("reason") or REASON_NEVER_UPDATED)
    current = next((dict(t) for t in taints or () if t.get("key") == TAINT_UNSCHEDULABLE), None)
    if current is not None and current.get("value") == reason and current.get("effect") == "NoSchedule":
        return [*others, current]
    return [
        *others,
        {"key": TAINT_UNSCHEDULABLE, "value": reason, "effect": "NoSchedule", "timeAdded": format_time(now)},
    ]


def lifecycle_decision(cluster: Mapping[str, Any], now: datetime) -> LifecycleDecision:
    """Mark a ManagedCluster Unknown when its agent missed three beats, and keep its taint in step with Ready."""
    metadata = cluster.get("metadata") or {}
    status = dict(cluster.get("status") or {})
    observed = parse_time(status.get("lastObservedTime"))
    probe = observed or parse_time(metadata.get("creationTimestamp")) or now
    deadline = probe + _grace(status)
    conditions = status.get("conditions") or []
    ready = find_condition(conditions, CONDITION_READY)

    new_status: dict[str, Any] | None = None
    requeue_after: float | None = None
    if now > deadline:
        reason, message = (
            (REASON_STATUS_UNKNOWN, MESSAGE_STATUS_UNKNOWN)
            if observed
            else (REASON_NEVER_UPDATED, MESSAGE_NEVER_UPDATED)
        )
        unknown = {
            "type": CONDITION_READY,
            "status": "Unknown",
            "reason": reason,
            "message": message,
            "lastTransitionTime": format_time(now),
        }
        already = (
            ready is not None
            and ready.get("status") == "Unknown"
            and ready.get("reason") == reason
            and not any(status.get(probe_name) for probe_name in ("healthz", "livez", "readyz"))
        )
        if not already:
            if ready is not None and ready.get("status") == "Unknown" and ready.get("lastTransitionTime"):
                unknown["lastTransitionTime"] = ready["lastTransitionTime"]
            new_status = dict(status)
            new_status["conditions"] = merge_conditions(conditions, [unknown])
            new_status.update(healthz=False, livez=False, readyz=False)
            ready = unknown
    else:
        requeue_after = (deadline - now).total_seconds()

    spec = cluster.get("spec") or {}
    current_taints = [dict(t) for t in spec.get("taints") or ()]
    wanted = desired_taints(current_taints, ready, now)
    taints = None if wanted == current_taints else wanted
    return LifecycleDecision(status=new_status, taints=taints, requeue_after=requeue_after)
