"""Who is calling the hub's HTTPS port, and may they: delegated authentication and authorization.

The hub is reached two ways and trusts each for exactly what it can prove:
- through the parent's aggregation layer: the aggregator presents a client certificate signed by the
  requestheader CA (with an allowed CN) and names the user in ``X-Remote-*`` headers. Those headers are
  believed only on such a connection; anywhere else they are ignored, so forging them gets a 401.
- straight to the hub: a bearer token checked with a TokenReview against the parent, or a client
  certificate signed by the parent's client CA.
Every decision after that is the parent's RBAC, asked with a SubjectAccessReview, as kube-apiserver would.
``Impersonate-*`` headers are honoured on both paths after the same checks kube-apiserver makes, which is
how a kubeconfig pointing straight at the hub can carry child credentials in impersonation extras.

TokenReview and SubjectAccessReview answers are cached for a few seconds, like the delegating
authenticator/authorizer of an extension API server, so a burst of requests costs one round trip each.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from kubectl_clusternet.core.errors import ClusternetError
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.proxy import (
    EXTRA_CERTIFICATE,
    EXTRA_PRIVATE_KEY,
    EXTRA_TOKEN,
    GROUP,
    Identity,
    Impersonation,
    ProxyError,
    RequestHeaderSettings,
    identity_from_request_headers,
    impersonation_from_headers,
    requestheader_settings,
)

__all__ = [
    "AuthError",
    "Authenticator",
    "Authorizer",
    "ResourceCheck",
    "load_requestheader_settings",
    "EXTENSION_AUTH_CONFIG_MAP",
]

_log = logging.getLogger(__name__)

EXTENSION_AUTH_CONFIG_MAP = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
_AUTHENTICATED = "system:authenticated"
_CACHE_SECONDS = 10.0
_CACHE_LIMIT = 4096
# Child credentials travel as extras; they are secrets for the child, not attributes the parent's
# authorizer needs, so they are never copied into a SubjectAccessReview (or its audit log).
_SECRET_EXTRAS = frozenset({EXTRA_TOKEN, EXTRA_CERTIFICATE, EXTRA_PRIVATE_KEY})


class AuthError(ProxyError):
    """401 (who are you?) or 403 (not allowed); becomes a Kubernetes Status."""


def _unauthorized(message: str = "Unauthorized") -> AuthError:
    return AuthError(message, status=401, reason="Unauthorized")


async def load_requestheader_settings(parent: AsyncRestClient) -> RequestHeaderSettings:
    """Read kube-system/extension-apiserver-authentication (needs the extension-apiserver-authentication-reader Role)."""
    config_map = await parent.get(EXTENSION_AUTH_CONFIG_MAP)
    return requestheader_settings(config_map)


def _certificates(pem: bytes) -> list[x509.Certificate]:
    if not pem.strip():
        return []
    return list(x509.load_pem_x509_certificates(pem))


def _issued_by(cert: x509.Certificate, authorities: list[x509.Certificate]) -> bool:
    for authority in authorities:
        try:
            cert.verify_directly_issued_by(authority)
            return True
        except (ValueError, TypeError, InvalidSignature):
            continue
    return False


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


class _TtlCache:
    """A small expiring map; bounded so a stream of distinct tokens cannot grow it without end.

    Expired entries are dropped as new ones arrive, not only when looked up again: after a thousand agents
    reconnect, their answers would otherwise stay in memory until the limit is reached. Every entry lives
    equally long and is (re)inserted at the end, so the oldest entries are always at the front.
    """

    def __init__(
        self, seconds: float, *, limit: int = _CACHE_LIMIT, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._seconds = seconds
        self._limit = limit
        self._clock = clock
        self._entries: OrderedDict[Any, tuple[float, Any]] = OrderedDict()  # O(1) at both ends

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Any) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: Any, value: Any) -> None:
        now = self._clock()
        self._entries.pop(key, None)
        while self._entries:
            expires, _ = next(iter(self._entries.values()))
            if expires >= now and len(self._entries) < self._limit:
                break
            self._entries.popitem(last=False)
        self._entries[key] = (now + self._seconds, value)


def _frozen_extra(extra: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    return {str(k): tuple(str(v) for v in (values or ())) for k, values in extra.items()}


@dataclass(frozen=True)
class ResourceCheck:
    """The resource attributes of one SubjectAccessReview."""

    verb: str
    resource: str
    group: str = GROUP
    subresource: str = ""
    name: str = ""
    namespace: str = ""

    def describe(self) -> str:
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        group = f'in API group "{self.group}"' if self.group else 'in API group ""'
        return f'cannot {self.verb} resource "{resource}" {group}'


class Authorizer:
    """Asks the parent (SubjectAccessReview) whether an identity may do something; answers cached briefly."""

    def __init__(self, parent: AsyncRestClient, *, cache_seconds: float = _CACHE_SECONDS) -> None:
        self._parent = parent
        self._cache = _TtlCache(cache_seconds)

    async def allowed(self, identity: Identity, check: ResourceCheck) -> tuple[bool, str]:
        extra = {k: v for k, v in identity.extra.items() if k not in _SECRET_EXTRAS}
        key = (identity.name, identity.uid, identity.groups, tuple(sorted(extra.items())), check)
        cached = self._cache.get(key)
        if cached is not None:
            return bool(cached[0]), str(cached[1])
        attributes: dict[str, str] = {"verb": check.verb, "group": check.group, "resource": check.resource}
        for field_name, value in (
            ("subresource", check.subresource),
            ("name", check.name),
            ("namespace", check.namespace),
        ):
            if value:
                attributes[field_name] = value
        spec: dict[str, Any] = {
            "user": identity.name,
            "groups": list(identity.groups),
            "resourceAttributes": attributes,
        }
        if identity.uid:
            spec["uid"] = identity.uid
        if extra:
            spec["extra"] = {k: list(v) for k, v in extra.items()}
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        try:
            review = await self._parent.create("/apis/authorization.k8s.io/v1/subjectaccessreviews", body)
        except ClusternetError as exc:
            raise ProxyError(
                f"cannot check authorization with the parent: {exc}", status=503, reason="ServiceUnavailable"
            ) from exc
        status = review.get("status") or {}
        result = (bool(status.get("allowed")) and not status.get("denied"), str(status.get("reason") or ""))
        self._cache.put(key, result)
        return result

    async def require(self, identity: Identity, check: ResourceCheck) -> None:
        allowed, reason = await self.allowed(identity, check)
        if not allowed:
            what = (
                f'{check.resource}.{check.group} "{check.name}"'
                if check.name
                else f"{check.resource}.{check.group}"
            )
            message = f'{what} is forbidden: User "{identity.name}" {check.describe()}'
            message += (
                " at the cluster scope" if not check.namespace else f' in the namespace "{check.namespace}"'
            )
            if reason:
                message += f": {reason}"
            raise AuthError(message, status=403, reason="Forbidden")


class Authenticator:
    """Turns a request into an Identity, or raises AuthError 401."""

    def __init__(
        self,
        parent: AsyncRestClient,
        authorizer: Authorizer,
        requestheader: RequestHeaderSettings | None,
        *,
        cache_seconds: float = _CACHE_SECONDS,
    ) -> None:
        self._parent = parent
        self._authorizer = authorizer
        self._requestheader = requestheader
        self._front_proxy_cas = _certificates(requestheader.client_ca_pem) if requestheader else []
        self._user_cas = _certificates(requestheader.user_client_ca_pem) if requestheader else []
        self._tokens = _TtlCache(cache_seconds)

    @property
    def client_ca_pem(self) -> bytes:
        """Every CA whose client certificates the TLS listener should accept (front proxy and users)."""
        if self._requestheader is None:
            return b""
        return self._requestheader.client_ca_pem + b"\n" + self._requestheader.user_client_ca_pem

    async def authenticate(self, request: web.Request) -> Identity:
        """The caller, with impersonation applied when it asked for it and is allowed to."""
        identity = await self._authenticate(request)
        headers = list(request.headers.items())
        impersonation = impersonation_from_headers(headers)
        if impersonation is None:
            return identity
        return await self._impersonate(identity, impersonation)

    async def _authenticate(self, request: web.Request) -> Identity:
        certificate = self._peer_certificate(request)
        if certificate is not None:
            if self._requestheader is not None and _issued_by(certificate, self._front_proxy_cas):
                name = _common_name(certificate)
                if self._requestheader.allowed_names and name not in self._requestheader.allowed_names:
                    raise _unauthorized(f"client certificate {name!r} is not an allowed front proxy")
                identity = identity_from_request_headers(list(request.headers.items()), self._requestheader)
                if identity is None:
                    raise _unauthorized("the front proxy named no user")
                return identity
            if _issued_by(certificate, self._user_cas):
                organisations = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
                groups = tuple(str(o.value) for o in organisations) + (_AUTHENTICATED,)
                return Identity(name=_common_name(certificate), groups=groups)
            raise _unauthorized("client certificate signed by an unknown authority")
        authorization = request.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return await self._token_review(token.strip())
        raise _unauthorized()

    @staticmethod
    def _peer_certificate(request: web.Request) -> x509.Certificate | None:
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        if not isinstance(ssl_object, ssl.SSLObject):
            return None
        der = ssl_object.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der) if der else None

    async def _token_review(self, token: str) -> Identity:
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._tokens.get(key)
        if isinstance(cached, Identity):
            return cached
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        try:
            review = await self._parent.create("/apis/authentication.k8s.io/v1/tokenreviews", body)
        except ClusternetError as exc:
            raise ProxyError(
                f"cannot check the token with the parent: {exc}", status=503, reason="ServiceUnavailable"
            ) from exc
        status = review.get("status") or {}
        user = status.get("user") or {}
        if not status.get("authenticated") or not user.get("username"):
            raise _unauthorized()
        identity = Identity(
            name=str(user["username"]),
            uid=str(user.get("uid") or ""),
            groups=tuple(str(g) for g in user.get("groups") or ()),
            extra=_frozen_extra(user.get("extra") or {}),
        )
        self._tokens.put(key, identity)
        return identity

    async def _impersonate(self, requester: Identity, wanted: Impersonation) -> Identity:
        """kube-apiserver's impersonation rules: every user, group, UID and extra value must be allowed."""
        checks = [ResourceCheck("impersonate", "users", group="", name=wanted.user)]
        checks += [ResourceCheck("impersonate", "groups", group="", name=g) for g in wanted.groups]
        if wanted.uid:
            checks.append(
                ResourceCheck("impersonate", "uids", group="authentication.k8s.io", name=wanted.uid)
            )
        for key, values in wanted.extra.items():
            if key in _SECRET_EXTRAS:
                # Checked without a name, so a credential never travels to the parent inside a review;
                # that needs a rule without resourceNames, which is what the socketsproxy role grants.
                checks.append(
                    ResourceCheck("impersonate", "userextras", group="authentication.k8s.io", subresource=key)
                )
                continue
            checks += [
                ResourceCheck(
                    "impersonate", "userextras", group="authentication.k8s.io", subresource=key, name=v
                )
                for v in values
            ]
        for check in checks:
            await self._authorizer.require(requester, check)
        groups = list(wanted.groups)
        if wanted.user != "system:anonymous" and _AUTHENTICATED not in groups:
            groups.append(_AUTHENTICATED)
        return Identity(name=wanted.user, uid=wanted.uid, groups=tuple(groups), extra=dict(wanted.extra))
