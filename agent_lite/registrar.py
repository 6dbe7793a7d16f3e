"""Getting credentials for the parent: reuse the stored ones, or register with the bootstrap token.

Reference §3.3, with our differences: stored credentials are used without touching the CRR (the dedicated
token has no need for it), Denied is logged loudly and retried slowly, and every failure — wrong token,
missing rights, unreachable parent, untrusted CA — gets one clear log line and a jittered, growing retry
instead of a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kubectl_clusternet.core.apis.clusters import CLUSTER_REGISTRATION_REQUEST
from kubectl_clusternet.core.errors import ApiError, ClusternetError, ConnectionFailed
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.registration import (
    LABEL_CLUSTER_ID,
    RESULT_APPROVED,
    SYSTEM_NAMESPACE,
    ApprovedCredentials,
    RegistrationError,
    StoredCredentials,
    approved_credentials,
    cluster_name_from_request,
    crr_name,
    generate_cluster_name,
    parent_cluster_secret,
    registration_request,
    request_outcome,
    stored_credentials,
)
from kubectl_clusternet.core.tokens import TokenError, service_account_token

from .backoff import Backoff, jittered
from .child import read_parent_cluster_secret, write_secret
from .discovery import ParentTrust, ParentTrustError, parent_trust, registration_connection

__all__ = ["RegistrationSpec", "Registrar", "token_expired", "persist_credentials"]

_log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
POLL_JITTER = 0.4
SLOW_RETRY_SECONDS = 60.0
WAITING_LOG_EVERY_SECONDS = 60.0

TokenSource = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True)
class RegistrationSpec:
    """What the agent asks the parent for; the flags that shape the ClusterRegistrationRequest."""

    parent_url: str
    cluster_name: str | None = None
    name_prefix: str = "clusternet-cluster"
    cluster_type: str = "StandardCluster"
    sync_mode: str = "Pull"
    cluster_namespace: str = ""
    cluster_labels: Mapping[str, str] = field(default_factory=dict)
    insecure_skip_parent_verify: bool = False


def token_expired(token: str, now: datetime) -> bool:
    """True when a ServiceAccount JWT's ``exp`` lies in the past (tokens that say nothing never expire)."""
    try:
        expires = service_account_token(token).expires_at
    except TokenError:
        return False
    return expires is not None and expires <= now


async def persist_credentials(child: AsyncRestClient, credentials: StoredCredentials) -> None:
    """Write Secret ``parent-cluster`` in the child, retrying until the child accepts it."""
    secret = parent_cluster_secret(
        ApprovedCredentials(
            namespace=credentials.namespace,
            managed_cluster_name="",
            token=credentials.token,
            ca_pem=credentials.ca_pem,
        ),
        cluster_id=credentials.cluster_id,
        cluster_name=credentials.cluster_name,
        parent_url=credentials.parent_url,
    )
    backoff = Backoff(initial=1.0, maximum=30.0)
    while True:
        try:
            await write_secret(child, secret)
            return
        except ClusternetError as exc:
            delay = backoff.next_delay()
            _log.warning(
                "cannot store the parent credentials in Secret %s/parent-cluster of the child: %s; "
                "retrying in %.0fs",
                SYSTEM_NAMESPACE,
                exc,
                delay,
            )
            await asyncio.sleep(delay)


class Registrar:
    """Produces working parent credentials for one cluster ID, however long that takes."""

    def __init__(
        self,
        *,
        child: AsyncRestClient,
        spec: RegistrationSpec,
        cluster_id: str,
        token_source: TokenSource,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._child = child
        self._spec = spec
        self._cluster_id = cluster_id
        self._token_source = token_source
        self._clock = clock
        self._rejected_tokens: set[str] = set()
        self._stale_token_logged: str | None = None
        self._cluster_name: str | None = spec.cluster_name

    @property
    def request_name(self) -> str:
        return crr_name(self._cluster_id)

    def reject(self, token: str) -> None:
        """Remember a token the parent refused, so an approval still carrying it is not taken again."""
        self._rejected_tokens.add(token)

    async def credentials(self, *, use_stored: bool = True) -> StoredCredentials:
        """Stored credentials when they fit this parent and cluster, else a fresh registration."""
        secret = await self._read_stored_secret()
        if use_stored:
            stored = self._usable_stored(secret)
            if stored is not None:
                _log.info(
                    "using the stored credentials in Secret %s/parent-cluster (namespace %s in the parent)",
                    SYSTEM_NAMESPACE,
                    stored.namespace,
                )
                return stored
        return await self._register()

    async def _read_stored_secret(self) -> dict[str, Any] | None:
        backoff = Backoff(initial=1.0, maximum=30.0)
        while True:
            try:
                return await read_parent_cluster_secret(self._child)
            except ClusternetError as exc:
                delay = backoff.next_delay()
                _log.warning(
                    "cannot read Secret %s/parent-cluster in the child: %s; retrying in %.0fs",
                    SYSTEM_NAMESPACE,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    def _usable_stored(self, secret: Mapping[str, Any] | None) -> StoredCredentials | None:
        if secret is None:
            return None
        labels = (secret.get("metadata") or {}).get("labels") or {}
        stored_id = labels.get(LABEL_CLUSTER_ID)
        if stored_id and stored_id != self._cluster_id:
            _log.warning(
                "Secret %s/parent-cluster belongs to cluster ID %s, but this cluster's ID is now %s "
                "(was the Lease recreated?); registering again",
                SYSTEM_NAMESPACE,
                stored_id,
                self._cluster_id,
            )
            return None
        stored = stored_credentials(secret, parent_url=self._spec.parent_url)
        if stored is None:
            _log.info(
                "Secret %s/parent-cluster was issued by another parent URL (or is incomplete); registering "
                "with %s",
                SYSTEM_NAMESPACE,
                self._spec.parent_url,
            )
            return None
        if self._cluster_name is None and stored.cluster_name:
            self._cluster_name = stored.cluster_name
        if token_expired(stored.token, self._clock()):
            _log.info("the stored parent token has expired; registering again with the bootstrap token")
            return None
        return StoredCredentials(
            parent_url=self._spec.parent_url,
            namespace=stored.namespace,
            token=stored.token,
            ca_pem=stored.ca_pem,
            cluster_id=self._cluster_id,
            cluster_name=stored.cluster_name or self._cluster_name or "",
        )

    def _request_body(self) -> dict[str, Any]:
        if self._cluster_name is None:
            self._cluster_name = generate_cluster_name(self._spec.name_prefix)
        return registration_request(
            cluster_id=self._cluster_id,
            cluster_name=self._cluster_name,
            cluster_type=self._spec.cluster_type,
            sync_mode=self._spec.sync_mode,
            cluster_namespace=self._spec.cluster_namespace,
            cluster_labels=self._spec.cluster_labels,
        )

    async def _register(self) -> StoredCredentials:
        """Create the request and poll it until Approved; log every reason for waiting."""
        spec = self._spec
        backoff = Backoff(initial=POLL_SECONDS, maximum=SLOW_RETRY_SECONDS)
        trust: ParentTrust | None = None
        trust_token: str | None = None
        parent: AsyncRestClient | None = None
        created = False
        waiting_since: float | None = None
        last_waiting_log = 0.0
        path = CLUSTER_REGISTRATION_REQUEST.object_path(self.request_name)
        _log.info(
            "registering with the parent %s as ClusterRegistrationRequest %s",
            spec.parent_url,
            self.request_name,
        )
        try:
            while True:
                delay = jittered(POLL_SECONDS, POLL_JITTER)
                token = await self._token_source()
                if not token:
                    delay = backoff.next_delay()
                    _log.error(
                        "no registration token: set --cluster-reg-token (or REG_TOKEN), or key regToken of Secret "
                        "%s/clusternet-agent-cluster-registration in the child; retrying in %.0fs",
                        SYSTEM_NAMESPACE,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                try:
                    if trust is None or token != trust_token:
                        if parent is not None:
                            await parent.close()
                            parent = None
                        trust = await parent_trust(
                            spec.parent_url, token, insecure_skip_verify=spec.insecure_skip_parent_verify
                        )
                        trust_token = token
                        if trust.insecure:
                            _log.warning("not verifying the parent's TLS certificate (%s)", trust.source)
                        else:
                            _log.info("trusting the parent's CA from %s", trust.source)
                    if parent is None:
                        parent = AsyncRestClient(registration_connection(spec.parent_url, token, trust))
                    if not created:
                        try:
                            await parent.create(
                                CLUSTER_REGISTRATION_REQUEST.collection_path(), self._request_body()
                            )
                            _log.info(
                                "created ClusterRegistrationRequest %s (cluster name %s)",
                                self.request_name,
                                self._cluster_name,
                            )
                        except ApiError as exc:
                            if exc.status != 409:
                                raise
                        created = True
                    request = await parent.get_or_none(path)
                    backoff.reset()
                    if request is None:
                        _log.warning(
                            "ClusterRegistrationRequest %s disappeared; creating it again", self.request_name
                        )
                        created = False
                        continue
                    self._adopt_name(request)
                    result, message = request_outcome(request)
                    if result == RESULT_APPROVED:
                        credentials = self._approved(request)
                        if credentials is not None:
                            await persist_credentials(self._child, credentials)
                            _log.info(
                                "ClusterRegistrationRequest %s approved: ManagedCluster in namespace %s; "
                                "credentials stored in Secret %s/parent-cluster",
                                self.request_name,
                                credentials.namespace,
                                SYSTEM_NAMESPACE,
                            )
                            return credentials
                        # Unusable approval: keep polling at the normal rate for the hub to issue a new one.
                    elif result:
                        delay = jittered(SLOW_RETRY_SECONDS, 0.3)
                        _log.error(
                            "ClusterRegistrationRequest %s was %s by the parent: %s; asking again in %.0fs",
                            self.request_name,
                            result,
                            message or "(no errorMessage)",
                            delay,
                        )
                    else:
                        now = time.monotonic()
                        if waiting_since is None:
                            waiting_since = now
                        if now - last_waiting_log >= WAITING_LOG_EVERY_SECONDS:
                            last_waiting_log = now
                            _log.info(
                                "waiting for the parent to approve ClusterRegistrationRequest %s "
                                "(waiting %.0fs; is hub-lite running?)",
                                self.request_name,
                                now - waiting_since,
                            )
                except ParentTrustError as exc:
                    trust = None
                    delay = backoff.next_delay()
                    _log.error(
                        "refusing to trust the parent %s: %s; retrying in %.0fs (--insecure-skip-parent-verify "
                        "skips this check)",
                        spec.parent_url,
                        exc,
                        delay,
                    )
                except ApiError as exc:
                    delay = self._log_api_error(exc, backoff)
                    if exc.status == 401:
                        trust = None  # re-read the token (the registration Secret may have been fixed)
                except ConnectionFailed as exc:
                    delay = backoff.next_delay()
                    hint = ""
                    if "certificate" in str(exc).lower() and trust is not None and trust.ca_pem is None:
                        hint = (
                            " (a ServiceAccount token cannot check kube-public/cluster-info: use a bootstrap "
                            "token, or --insecure-skip-parent-verify)"
                        )
                    _log.warning(
                        "the parent %s is unreachable: %s%s; retrying in %.0fs",
                        spec.parent_url,
                        exc,
                        hint,
                        delay,
                    )
                await asyncio.sleep(delay)
        finally:
            if parent is not None:
                await parent.close()

    def _log_api_error(self, exc: ApiError, backoff: Backoff) -> float:
        delay = backoff.next_delay()
        if exc.status == 401:
            _log.error(
                "the parent rejected the registration token (401 Unauthorized): it is wrong, expired or was "
                "deleted; retrying in %.0fs",
                delay,
            )
        elif exc.status == 403:
            _log.error(
                "the registration token may not create or read ClusterRegistrationRequests (403 Forbidden: %s); "
                "it must be in group system:bootstrappers:clusternet:register-cluster-token or bound to "
                "ClusterRole clusternet:system:bootstrapping (kubectl clusternet hub install); retrying in %.0fs",
                exc.message,
                delay,
            )
        elif exc.status == 404:
            _log.error(
                "the parent does not serve ClusterRegistrationRequests (404: %s): are the Clusternet CRDs "
                "installed (kubectl clusternet hub install)? retrying in %.0fs",
                exc.message,
                delay,
            )
        else:
            _log.warning(
                "registration call failed (%s %s): %s; retrying in %.0fs",
                exc.status,
                exc.reason,
                exc.message,
                delay,
            )
        return delay

    def _adopt_name(self, request: Mapping[str, Any]) -> None:
        registered = cluster_name_from_request(request)
        if registered and registered != self._cluster_name:
            if self._spec.cluster_name and registered != self._spec.cluster_name:
                _log.warning(
                    "this cluster registered earlier as %s; keeping that name (--cluster-reg-name=%s is "
                    "ignored because a request's spec never changes)",
                    registered,
                    self._spec.cluster_name,
                )
            self._cluster_name = registered

    def _approved(self, request: Mapping[str, Any]) -> StoredCredentials | None:
        """Credentials from an Approved request, or None (logged) when they cannot be used."""
        try:
            approved = approved_credentials(request)
        except RegistrationError as exc:
            _log.error("ClusterRegistrationRequest %s is Approved but unusable: %s", self.request_name, exc)
            return None
        if approved is None:
            return None
        if approved.token in self._rejected_tokens or token_expired(approved.token, self._clock()):
            if approved.token != self._stale_token_logged:
                self._stale_token_logged = approved.token
                _log.error(
                    "ClusterRegistrationRequest %s is Approved but its token has expired or was rejected; waiting "
                    "for the hub to issue a new one (deleting the request makes the hub approve it afresh)",
                    self.request_name,
                )
            return None
        return StoredCredentials(
            parent_url=self._spec.parent_url,
            namespace=approved.namespace,
            token=approved.token,
            ca_pem=approved.ca_pem,
            cluster_id=self._cluster_id,
            cluster_name=self._cluster_name or "",
        )
