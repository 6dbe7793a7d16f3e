"""The asynchronous twin of ``rest.RestClient`` for the daemons, on aiohttp.

The daemons need watches, status patches and server-side apply against the parent and the children, with
credentials that are often just a URL, a token and a CA. Building on the same ``Connection`` as the CLI keeps
one notion of "how to reach a cluster" (TLS, tokens, impersonation) for both.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from ..errors import ApiError, ConfigError, ConnectionFailed
from .rest import (
    JSON_CONTENT,
    Connection,
    QueryParams,
    checked_watch_event,
    error_from_response,
    token_connection,
)

__all__ = ["AsyncRestClient", "in_cluster_connection", "SERVICE_ACCOUNT_DIR"]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def in_cluster_connection(account_dir: Path = SERVICE_ACCOUNT_DIR) -> Connection:
    """The Pod's own ServiceAccount credentials, as client-go's in-cluster config reads them."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("not running in a cluster (KUBERNETES_SERVICE_HOST is unset); pass --kubeconfig")
    try:
        token = (account_dir / "token").read_text().strip()
        ca_pem = (account_dir / "ca.crt").read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the ServiceAccount credentials in {account_dir}: {exc}") from exc
    server_host = f"[{host}]" if ":" in host else host
    return token_connection(f"https://{server_host}:{port}", token, ca_pem)


_MAX_WATCH_EVENT_BYTES = 64 * 1024 * 1024


class AsyncRestClient:
    """JSON requests and watches against one API server; failures raise ApiError or ConnectionFailed."""

    def __init__(self, connection: Connection, *, timeout: float | None = 30.0) -> None:
        self.connection = connection
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def server(self) -> str:
        return self.connection.server

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_context: Any = self.connection.ssl_context if self.connection.scheme == "https" else False
            connector = aiohttp.TCPConnector(ssl=ssl_context, limit=64)
            self._session = aiohttp.ClientSession(
                connector=connector, headers=dict(self.connection.headers), auto_decompress=True
            )
        return self._session

    def _headers(self, extra: Mapping[str, str]) -> list[tuple[str, str]]:
        headers = list(extra.items())
        headers.extend(("Impersonate-Group", g) for g in self.connection.impersonate_groups)
        return headers

    def url(self, path: str) -> str:
        return f"{self.connection.scheme}://{self.connection.host}:{self.connection.port}{self.connection.base_path}{path}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: QueryParams | None = None,
        body: Any = None,
        content_type: str = JSON_CONTENT,
        timeout: float | None = None,
    ) -> Any:
        payload = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Accept": JSON_CONTENT}
        if payload is not None:
            headers["Content-Type"] = content_type
        params = list(query.items()) if isinstance(query, Mapping) else list(query or [])
        client_timeout = aiohttp.ClientTimeout(total=timeout if timeout is not None else self._timeout)
        try:
            async with self._client_session().request(
                method,
                self.url(path),
                params=params,
                data=payload,
                headers=self._headers(headers),
                timeout=client_timeout,
            ) as response:
                raw = await response.read()
                status = response.status
        except aiohttp.ClientConnectorError as exc:
            raise ConnectionFailed(
                f"Unable to connect to the server {self.connection.host}:{self.connection.port}: {exc.os_error}"
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ConnectionFailed(
                f"request to {self.connection.host}:{self.connection.port} failed: {exc!r}"
            ) from exc
        if status >= 400:
            raise error_from_response(status, raw)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ApiError(
                f"the server returned a body that is not JSON: {raw[:200]!r}", status=status
            ) from exc

    async def request_raw(self, method: str, path: str, *, timeout: float | None = None) -> tuple[int, bytes]:
        """The status and body of one request, uninterpreted: health endpoints (``/healthz``, ``/readyz``)
        answer plain text, and a probe wants the status code, not an exception. Only an unreachable server
        raises (ConnectionFailed)."""
        client_timeout = aiohttp.ClientTimeout(total=timeout if timeout is not None else self._timeout)
        try:
            async with self._client_session().request(
                method, self.url(path), headers=self._headers({}), timeout=client_timeout
            ) as response:
                return response.status, await response.read()
        except aiohttp.ClientConnectorError as exc:
            raise ConnectionFailed(
                f"Unable to connect to the server {self.connection.host}:{self.connection.port}: {exc.os_error}"
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ConnectionFailed(
                f"request to {self.connection.host}:{self.connection.port} failed: {exc!r}"
            ) from exc

    async def get(self, path: str, *, query: QueryParams | None = None) -> Any:
        return await self.request("GET", path, query=query)

    async def get_or_none(self, path: str) -> Any:
        """The object, or None when it does not exist."""
        try:
            return await self.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def create(self, path: str, body: Any, *, query: QueryParams | None = None) -> Any:
        return await self.request("POST", path, body=body, query=query)

    async def replace(self, path: str, body: Any) -> Any:
        return await self.request("PUT", path, body=body)

    async def patch(self, path: str, body: Any, *, patch_type: str = "application/merge-patch+json") -> Any:
        return await self.request("PATCH", path, body=body, content_type=patch_type)

    async def apply(self, path: str, body: Any, *, field_manager: str, force: bool = True) -> Any:
        query = [("fieldManager", field_manager)] + ([("force", "true")] if force else [])
        return await self.request(
            "PATCH", path, body=body, content_type="application/apply-patch+yaml", query=query
        )

    async def delete(self, path: str, *, body: Any = None) -> Any:
        return await self.request("DELETE", path, body=body)

    async def watch(
        self, path: str, *, query: QueryParams | None = None, timeout_seconds: int = 300
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield watch events until the server closes the stream (callers re-list and re-watch)."""
        params = list(query.items()) if isinstance(query, Mapping) else list(query or [])
        params += [
            ("watch", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
            ("allowWatchBookmarks", "true"),
        ]
        client_timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + 30)
        try:
            async with self._client_session().get(
                self.url(path),
                params=params,
                headers=self._headers({"Accept": JSON_CONTENT}),
                timeout=client_timeout,
            ) as response:
                if response.status >= 400:
                    raise error_from_response(response.status, await response.read())
                # Split lines ourselves: aiohttp's readline refuses lines over its buffer limit, and one
                # watch event carries a whole object (up to etcd's 1.5 MiB, more as JSON).
                pending = bytearray()
                async for chunk in response.content.iter_any():
                    pending += chunk
                    if b"\n" not in chunk:
                        if len(pending) > _MAX_WATCH_EVENT_BYTES:
                            raise ConnectionFailed(
                                f"watch of {path}: an event larger than {_MAX_WATCH_EVENT_BYTES} bytes"
                            )
                        continue
                    *lines, rest = pending.split(b"\n")
                    pending = bytearray(rest)
                    for line in lines:
                        if line.strip():
                            yield checked_watch_event(json.loads(line))
                if pending.strip():
                    yield checked_watch_event(json.loads(pending))
        except aiohttp.ClientConnectorError as exc:
            raise ConnectionFailed(
                f"Unable to connect to the server {self.connection.host}:{self.connection.port}: {exc.os_error}"
            ) from exc
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, TimeoutError) as exc:
            raise ConnectionFailed(f"watch of {path} ended: {exc!r}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AsyncRestClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
