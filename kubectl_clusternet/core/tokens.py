"""Bootstrap tokens and ServiceAccount tokens: making them, reading them, and trusting a parent with them.

A bootstrap token ``<id>.<secret>`` is how a new child proves it may register (reference §3.1); it lives in
the parent as Secret ``kube-system/bootstrap-token-<id>`` exactly as kubeadm writes it, so the API server's
bootstrap authenticator, the bootstrapsigner and the tokencleaner all treat it as their own. The same token
also lets an agent check the parent's CA before it trusts it: ``kube-public/cluster-info`` carries an HS256
JWS signature keyed by the token's secret (kubeadm's discovery), which only someone holding the token can forge.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import yaml

from .errors import UsageError
from .hub import BOOTSTRAP_GROUP, BOOTSTRAPPING_ROLE, SYSTEM_NAMESPACE
from .kube.kubeconfig import parse_duration

__all__ = [
    "TokenError",
    "BOOTSTRAP_TOKEN_SECRET_TYPE",
    "BOOTSTRAP_TOKEN_NAMESPACE",
    "BOOTSTRAP_TOKEN_SECRET_PREFIX",
    "DEFAULT_USAGES",
    "DEFAULT_TTL",
    "BOOTSTRAP_SERVICE_ACCOUNT",
    "BOOTSTRAP_SA_BINDING",
    "CLUSTER_INFO_NAMESPACE",
    "CLUSTER_INFO_NAME",
    "BootstrapToken",
    "generate_bootstrap_token",
    "parse_bootstrap_token",
    "bootstrap_token_secret_name",
    "validate_token_id",
    "parse_ttl",
    "format_duration",
    "bootstrap_token_secret",
    "BootstrapTokenInfo",
    "bootstrap_token_info",
    "token_kind",
    "jwt_claims",
    "ServiceAccountToken",
    "service_account_token",
    "renewal_time",
    "detached_signature",
    "verify_detached_signature",
    "ParentInfo",
    "parent_info_from_cluster_info",
    "bootstrap_service_account",
    "bootstrap_service_account_binding",
]

BOOTSTRAP_TOKEN_SECRET_TYPE = "bootstrap.kubernetes.io/token"
BOOTSTRAP_TOKEN_NAMESPACE = "kube-system"
BOOTSTRAP_TOKEN_SECRET_PREFIX = "bootstrap-token-"
DEFAULT_USAGES = ("authentication", "signing")
DEFAULT_TTL = timedelta(hours=24)
BOOTSTRAP_SERVICE_ACCOUNT = "cluster-bootstrap-use"
BOOTSTRAP_SA_BINDING = "clusternet:system:bootstrapping:sa"
CLUSTER_INFO_NAMESPACE = "kube-public"
CLUSTER_INFO_NAME = "cluster-info"
_JWS_KEY_PREFIX = "jws-kubeconfig-"

_TOKEN_ID = re.compile(r"^[a-z0-9]{6}$")
_TOKEN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


class TokenError(ValueError):
    """A token, a TTL or a signature is malformed or does not check out; the message says which."""


# ---------------------------------------------------------------------------------------------------------
# bootstrap tokens


@dataclass(frozen=True)
class BootstrapToken:
    """A bootstrap token: the public ``token_id`` names its Secret, the ``secret`` part proves possession."""

    token_id: str
    secret: str

    @property
    def value(self) -> str:
        return f"{self.token_id}.{self.secret}"

    def __str__(self) -> str:
        return self.value


def generate_bootstrap_token() -> BootstrapToken:
    """A fresh token from the operating system's CSPRNG (about 83 bits in the secret part)."""
    return BootstrapToken(
        token_id="".join(secrets.choice(_ALPHABET) for _ in range(6)),
        secret="".join(secrets.choice(_ALPHABET) for _ in range(16)),
    )


def parse_bootstrap_token(text: str) -> BootstrapToken | None:
    """The token in ``text`` if it has the ``[a-z0-9]{6}.[a-z0-9]{16}`` shape, else None."""
    match = _TOKEN.match(text.strip())
    return BootstrapToken(match.group(1), match.group(2)) if match else None


def validate_token_id(token_id: str) -> str:
    if not _TOKEN_ID.match(token_id):
        raise TokenError(f"{token_id!r} is not a bootstrap token ID (6 characters of [a-z0-9])")
    return token_id


def bootstrap_token_secret_name(token_id: str) -> str:
    return BOOTSTRAP_TOKEN_SECRET_PREFIX + validate_token_id(token_id)


def parse_ttl(text: str, *, flag: str = "--ttl") -> timedelta:
    """A Go duration (``24h``, ``1h30m``, ``0`` = never expires) as a timedelta; UsageError names the flag."""
    seconds = parse_duration(text.strip(), flag=flag)
    if seconds < 0:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: the duration must not be negative')
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """A timedelta the way Go prints durations (``24h0m0s``, ``1m30s``, ``0s``), for help texts and logs."""
    seconds = int(duration.total_seconds())
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def bootstrap_token_secret(
    token: BootstrapToken,
    *,
    now: datetime,
    ttl: timedelta | None = DEFAULT_TTL,
    description: str = "",
    usages: Sequence[str] = DEFAULT_USAGES,
    groups: Sequence[str] = (BOOTSTRAP_GROUP,),
) -> dict[str, Any]:
    """The kubeadm-format Secret for ``token``; a zero or None TTL means it never expires."""
    data = {
        "token-id": _b64(token.token_id),
        "token-secret": _b64(token.secret),
    }
    if ttl is not None and ttl > timedelta(0):
        data["expiration"] = _b64(_format_time(now + ttl))
    if description:
        data["description"] = _b64(description)
    for usage in usages:
        data[f"usage-bootstrap-{usage}"] = _b64("true")
    if groups:
        data["auth-extra-groups"] = _b64(",".join(groups))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": BOOTSTRAP_TOKEN_SECRET_TYPE,
        "metadata": {
            "name": bootstrap_token_secret_name(token.token_id),
            "namespace": BOOTSTRAP_TOKEN_NAMESPACE,
        },
        "data": data,
    }


@dataclass(frozen=True)
class BootstrapTokenInfo:
    """What ``get bootstrap-tokens`` shows of a token Secret (never the secret part)."""

    token_id: str
    expires: datetime | None
    usages: tuple[str, ...]
    description: str
    groups: tuple[str, ...]

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and self.expires <= now


def _decoded(data: Mapping[str, Any], key: str) -> str:
    raw = data.get(key)
    if not raw:
        return ""
    try:
        return base64.b64decode(str(raw)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return ""


def _parse_rfc3339(text: str) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def bootstrap_token_info(secret: Mapping[str, Any]) -> BootstrapTokenInfo | None:
    """The token a Secret describes, or None when it is not a well-formed bootstrap token Secret."""
    if secret.get("type") != BOOTSTRAP_TOKEN_SECRET_TYPE:
        return None
    data = secret.get("data") or {}
    name = str((secret.get("metadata") or {}).get("name") or "")
    token_id = _decoded(data, "token-id") or name.removeprefix(BOOTSTRAP_TOKEN_SECRET_PREFIX)
    if not _TOKEN_ID.match(token_id) or name != BOOTSTRAP_TOKEN_SECRET_PREFIX + token_id:
        return None
    usages = tuple(
        sorted(
            key.removeprefix("usage-bootstrap-")
            for key in data
            if key.startswith("usage-bootstrap-") and _decoded(data, key) == "true"
        )
    )
    groups = tuple(g for g in _decoded(data, "auth-extra-groups").split(",") if g)
    return BootstrapTokenInfo(
        token_id=token_id,
        expires=_parse_rfc3339(_decoded(data, "expiration")),
        usages=usages,
        description=_decoded(data, "description"),
        groups=groups,
    )


# ---------------------------------------------------------------------------------------------------------
# ServiceAccount tokens (JWTs)


def token_kind(text: str) -> str | None:
    """``"bootstrap"`` or ``"serviceaccount"`` for the two token shapes the agent accepts, else None."""
    value = text.strip()
    if _TOKEN.match(value):
        return "bootstrap"
    if _JWT.match(value):
        return "serviceaccount"
    return None


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified: the API server verifies; we only read when it expires and whose it is."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise TokenError("not a JWT: expected three dot-separated segments")
    try:
        claims = json.loads(_b64url_decode(parts[1]))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("not a JWT: the payload is not base64url JSON") from exc
    if not isinstance(claims, dict):
        raise TokenError("not a JWT: the payload is not a JSON object")
    return claims


@dataclass(frozen=True)
class ServiceAccountToken:
    """Whose ServiceAccount token this is and when it was issued and expires (None: a legacy, endless token)."""

    namespace: str
    name: str
    issued_at: datetime | None
    expires_at: datetime | None


def _claim_time(claims: Mapping[str, Any], key: str) -> datetime | None:
    value = claims.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return None


def service_account_token(token: str) -> ServiceAccountToken:
    """Read a bound (TokenRequest) or legacy ServiceAccount JWT's subject and lifetime."""
    claims = jwt_claims(token)
    namespace = name = ""
    subject = str(claims.get("sub") or "")
    if subject.startswith("system:serviceaccount:"):
        parts = subject.split(":")
        if len(parts) == 4:
            namespace, name = parts[2], parts[3]
    bound = claims.get("kubernetes.io")
    if isinstance(bound, dict):
        namespace = namespace or str(bound.get("namespace") or "")
        account = bound.get("serviceaccount")
        if isinstance(account, dict):
            name = name or str(account.get("name") or "")
    namespace = namespace or str(claims.get("kubernetes.io/serviceaccount/namespace") or "")
    name = name or str(claims.get("kubernetes.io/serviceaccount/service-account.name") or "")
    if not namespace or not name:
        raise TokenError("the JWT does not name a ServiceAccount")
    return ServiceAccountToken(
        namespace=namespace,
        name=name,
        issued_at=_claim_time(claims, "iat"),
        expires_at=_claim_time(claims, "exp"),
    )


def renewal_time(token: ServiceAccountToken, *, fraction: float = 0.8) -> datetime | None:
    """When to renew: ``fraction`` of the way from issue to expiry (kubelet's rule); None if it never expires."""
    if token.expires_at is None:
        return None
    if token.issued_at is None or token.issued_at >= token.expires_at:
        return token.expires_at
    return token.issued_at + (token.expires_at - token.issued_at) * fraction


# ---------------------------------------------------------------------------------------------------------
# cluster-info discovery (kubeadm's JWS check)


def detached_signature(content: str, token: BootstrapToken) -> str:
    """``header..signature``: the HS256 JWS over ``content`` keyed by the token's secret, payload left out.

    This is what the bootstrapsigner writes into cluster-info as ``jws-kubeconfig-<token-id>``.
    """
    header = _b64url_encode(
        json.dumps({"alg": "HS256", "kid": token.token_id}, separators=(",", ":")).encode()
    )
    signing_input = f"{header}.{_b64url_encode(content.encode())}".encode()
    signature = hmac.new(token.secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}..{_b64url_encode(signature)}"


def verify_detached_signature(content: str, detached: str, token: BootstrapToken) -> bool:
    """True when ``detached`` is a valid HS256 signature of ``content`` made with ``token``."""
    parts = detached.strip().split(".")
    if len(parts) != 3 or parts[1]:
        return False
    header_segment, _, signature_segment = parts
    try:
        header = json.loads(_b64url_decode(header_segment))
        signature = _b64url_decode(signature_segment)
    except (binascii.Error, ValueError):
        return False
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return False
    if header.get("kid") not in (None, token.token_id):
        return False
    signing_input = f"{header_segment}.{_b64url_encode(content.encode())}".encode()
    expected = hmac.new(token.secret.encode(), signing_input, hashlib.sha256).digest()
    return hmac.compare_digest(expected, signature)


@dataclass(frozen=True)
class ParentInfo:
    """The parent's API server URL and CA as published in ``kube-public/cluster-info``."""

    server: str
    ca_pem: bytes
    verified: bool


def parent_info_from_cluster_info(config_map: Mapping[str, Any], token: BootstrapToken | None) -> ParentInfo:
    """The CA and server of ``cluster-info``, checked against the token's JWS signature when a token is given.

    Without a token (an agent holding a ServiceAccount JWT) the result is unverified and the caller decides
    whether that is acceptable; with one, a missing or wrong signature raises TokenError.
    """
    data = config_map.get("data") or {}
    content = data.get("kubeconfig")
    if not isinstance(content, str) or not content:
        raise TokenError("kube-public/cluster-info has no kubeconfig")
    verified = False
    if token is not None:
        detached = data.get(_JWS_KEY_PREFIX + token.token_id)
        if not isinstance(detached, str) or not detached:
            raise TokenError(
                f"kube-public/cluster-info is not signed for token ID {token.token_id!r}: the token does not "
                "exist, has expired, lacks usage-bootstrap-signing, or the bootstrapsigner is not running"
            )
        if not verify_detached_signature(content, detached, token):
            raise TokenError(
                f"the signature of kube-public/cluster-info for token ID {token.token_id!r} does not match the "
                "token: either the token is wrong or someone is in the middle"
            )
        verified = True
    try:
        document = yaml.safe_load(content)
        cluster = document["clusters"][0]["cluster"]
    except (yaml.YAMLError, KeyError, IndexError, TypeError) as exc:
        raise TokenError("kube-public/cluster-info does not hold a kubeconfig with a cluster") from exc
    server = str(cluster.get("server") or "")
    ca_data = cluster.get("certificate-authority-data")
    if not server or not ca_data:
        raise TokenError("kube-public/cluster-info names no server or no certificate-authority-data")
    try:
        ca_pem = base64.b64decode(str(ca_data))
    except (binascii.Error, ValueError) as exc:
        raise TokenError(
            "kube-public/cluster-info has a certificate-authority-data that is not base64"
        ) from exc
    return ParentInfo(server=server, ca_pem=ca_pem, verified=verified)


# ---------------------------------------------------------------------------------------------------------
# ServiceAccount-based bootstrap credentials


def bootstrap_service_account(
    name: str = BOOTSTRAP_SERVICE_ACCOUNT, namespace: str = SYSTEM_NAMESPACE
) -> dict[str, Any]:
    """The ServiceAccount whose tokens may register clusters, for users who prefer it to bootstrap tokens."""
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}


def bootstrap_service_account_binding(
    name: str = BOOTSTRAP_SERVICE_ACCOUNT, namespace: str = SYSTEM_NAMESPACE
) -> dict[str, Any]:
    """Binds that ServiceAccount to the bootstrapping role (get/create registration requests, nothing else)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": BOOTSTRAP_SA_BINDING},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": BOOTSTRAPPING_ROLE,
        },
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }
