"""The agent's authenticated link to the parent after approval: the current token, and its renewal.

The approval hands out a bound, expiring ServiceAccount token (our deliberate difference from upstream's
endless token Secrets). The agent renews it itself through the TokenRequest API on its own ServiceAccount,
using the token it still holds, at 80% of its lifetime, and rewrites Secret ``parent-cluster`` so a restart
picks up the fresh one. A 401 anywhere means the parent no longer accepts the token: the caller then falls
back to registering with the bootstrap token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from kubectl_clusternet.core.apis.builtin import SERVICE_ACCOUNT
from kubectl_clusternet.core.errors import ApiError, ClusternetError
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.kube.rest import token_connection
from kubectl_clusternet.core.registration import StoredCredentials, token_request
from kubectl_clusternet.core.tokens import (
    ServiceAccountToken,
    TokenError,
    renewal_time,
    service_account_token,
)

from .backoff import Backoff
from .registrar import persist_credentials

__all__ = ["CredentialsRejected", "ParentSession", "renewal_delay", "requested_lifetime"]

_log = logging.getLogger(__name__)


class CredentialsRejected(Exception):
    """The parent answered 401 to the agent's dedicated token (or it expired): register again."""


def requested_lifetime(token: ServiceAccountToken, default_seconds: int = 86400) -> int:
    """Ask for a renewed token that lives as long as the current one did (the hub chose that lifetime)."""
    if token.issued_at is not None and token.expires_at is not None and token.expires_at > token.issued_at:
        return int((token.expires_at - token.issued_at).total_seconds())
    return default_seconds


def renewal_delay(token: ServiceAccountToken, now: datetime) -> float | None:
    """Seconds until the token should be renewed (80% of its lifetime; 0 when overdue); None: never expires."""
    when = renewal_time(token)
    if when is None:
        return None
    return max(0.0, (when - now).total_seconds())


class ParentSession:
    """Holds the current credentials and a client built from them; swaps both when the token is renewed."""

    def __init__(
        self,
        credentials: StoredCredentials,
        *,
        child: AsyncRestClient,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._child = child
        self._clock = clock
        self.credentials = credentials
        self.client = self._client_for(credentials)
        self._retired: list[AsyncRestClient] = []

    @staticmethod
    def _client_for(credentials: StoredCredentials) -> AsyncRestClient:
        return AsyncRestClient(
            token_connection(credentials.parent_url, credentials.token, credentials.ca_pem)
        )

    @property
    def namespace(self) -> str:
        return self.credentials.namespace

    def rejected(self, exc: ApiError) -> CredentialsRejected:
        detail = f"{exc.status} {exc.reason}".strip()
        if exc.message and exc.message != exc.reason:
            detail += f": {exc.message}"
        return CredentialsRejected(f"the parent rejected the agent's token ({detail})")

    async def renew_forever(self) -> None:
        """Renew the token at 80% of each lifetime; raise CredentialsRejected when the parent refuses it."""
        while True:
            try:
                token = service_account_token(self.credentials.token)
            except TokenError as exc:
                _log.warning(
                    "the parent token cannot be renewed (%s); using it until the parent refuses it", exc
                )
                await asyncio.Event().wait()
                return
            delay = renewal_delay(token, self._clock())
            if delay is None:
                _log.info("the parent token does not expire; no renewal needed")
                await asyncio.Event().wait()
                return
            _log.info("next renewal of the parent token in %.0fs (it expires at %s)", delay, token.expires_at)
            await asyncio.sleep(delay)
            await self.renew(token)

    async def renew(self, token: ServiceAccountToken) -> None:
        """Get a fresh token for ``token``'s ServiceAccount (authenticating with the current one), switch to
        it, and store it; retries transient failures until the current token expires."""
        backoff = Backoff(initial=2.0, maximum=60.0)
        path = SERVICE_ACCOUNT.object_path(token.name, token.namespace) + "/token"
        while True:
            if token.expires_at is not None and token.expires_at <= self._clock():
                raise CredentialsRejected("the parent token expired before it could be renewed")
            try:
                issued = await self.client.create(path, token_request(requested_lifetime(token)))
                new_token = str((issued.get("status") or {}).get("token") or "")
                if not new_token:
                    raise ApiError("the TokenRequest returned no token", status=500)
                break
            except ApiError as exc:
                if exc.status == 401:
                    raise self.rejected(exc) from exc
                delay = backoff.next_delay()
                _log.warning(
                    "renewing the parent token (TokenRequest for ServiceAccount %s/%s) failed: %s %s: %s; "
                    "retrying in %.0fs",
                    token.namespace,
                    token.name,
                    exc.status,
                    exc.reason,
                    exc.message,
                    delay,
                )
            except ClusternetError as exc:
                delay = backoff.next_delay()
                _log.warning("renewing the parent token failed: %s; retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)
        renewed = dataclasses.replace(self.credentials, token=new_token)
        await self._swap(renewed)
        await persist_credentials(self._child, renewed)
        _log.info("renewed the parent token and stored it in Secret parent-cluster")

    async def _swap(self, credentials: StoredCredentials) -> None:
        """Use the new token from now on. The old client is closed one renewal later, so requests in flight
        on it can finish; clients retired a renewal ago are closed now."""
        for client in self._retired:
            await client.close()
        self._retired = [self.client]
        self.credentials = credentials
        self.client = self._client_for(credentials)

    async def close(self) -> None:
        for client in [*self._retired, self.client]:
            await client.close()
        self._retired.clear()
