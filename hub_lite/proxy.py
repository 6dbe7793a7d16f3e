"""The proxy into child clusters: one HTTP/1.1 exchange per tunnel stream, TLS end to end from the hub.

For ``.../sockets/<id>/proxy/direct/<path>`` the hub finds the cluster's ManagedCluster (by the cluster-id
label, in any namespace), opens a tunnel stream to ``status.apiserverURL``'s host and port, runs TLS over
that stream verified against the CA the agent published in Secret ``child-cluster-deployer``, and speaks
HTTP/1.1 with the caller's child credentials (from the impersonation extras). ``.../proxy/https/<host:port>``
and ``.../proxy/http/<host:port>`` do the same to any destination the agent allows.

Bodies stream both ways without being held in memory: watch responses are relayed chunk by chunk, and a
``101 Switching Protocols`` answer (exec, attach, port-forward) turns the exchange into a byte splice.
Every failure before the response starts is a Kubernetes Status; after it started, the caller's
connection is cut so a truncated body can never pass for a complete one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import os
import ssl
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kubectl_clusternet.core.apis.builtin import SECRET
from kubectl_clusternet.core.apis.clusters import MANAGED_CLUSTER
from kubectl_clusternet.core.errors import ApiError, ClusternetError
from kubectl_clusternet.core.kube.aio import AsyncRestClient
from kubectl_clusternet.core.proxy import (
    REFUSED_NOT_ALLOWED,
    ChildCredentials,
    ChunkedDecoder,
    Identity,
    ProxyError,
    ProxyTarget,
    RequestHeaderSettings,
    ResponseHead,
    child_credentials,
    encode_request_head,
    forwarded_request_headers,
    forwarded_response_headers,
    is_upgrade_request,
    join_target_path,
    parse_response_head,
    parse_server_url,
    response_body_framing,
)
from kubectl_clusternet.core.registration import CHILD_DEPLOYER_SECRET, LABEL_CLUSTER_ID
from kubectl_clusternet.core.tunnel import Destination, TunnelError
from kubectl_clusternet.core.tunnel.aio import OpenRefused, bounded, open_tunnel_connection

from .tunnel_server import TunnelRegistry

__all__ = ["ClusterRecord", "ClusterDirectory", "Forwarder", "CHILD_DEPLOYER_SECRET", "StreamCutError"]

_log = logging.getLogger(__name__)

_READ_SIZE = 64 * 1024
_HEAD_LIMIT = 256 * 1024


class StreamCutError(ConnectionResetError):
    """The child's response broke off after it had started: the caller's connection is cut."""


@dataclass(frozen=True)
class ClusterRecord:
    """What the proxy needs to know about one child cluster, from the parent's objects."""

    cluster_id: str
    namespace: str
    name: str
    apiserver_url: str
    use_socket: bool
    ca_pem: bytes


class ClusterDirectory:
    """cluster ID -> ClusterRecord, cached for a few seconds so a burst of requests lists the parent once."""

    def __init__(self, parent: AsyncRestClient, *, ttl_seconds: float = 10.0) -> None:
        self._parent = parent
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, ClusterRecord]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self, cluster_id: str) -> None:
        self._cache.pop(cluster_id, None)

    async def lookup(self, cluster_id: str) -> ClusterRecord:
        cached = self._cache.get(cluster_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        lock = self._locks.setdefault(cluster_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(cluster_id)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
            record = await self._fetch(cluster_id)
            self._cache[cluster_id] = (time.monotonic() + self._ttl, record)
            if len(self._locks) > 4096:
                self._locks = {cluster_id: lock}
            return record

    async def _fetch(self, cluster_id: str) -> ClusterRecord:
        try:
            listing = await self._parent.get(
                MANAGED_CLUSTER.collection_path(), query={"labelSelector": f"{LABEL_CLUSTER_ID}={cluster_id}"}
            )
        except ClusternetError as exc:
            raise ProxyError(
                f"cannot look up cluster {cluster_id} in the parent: {exc}",
                status=503,
                reason="ServiceUnavailable",
            ) from exc
        items = sorted(
            listing.get("items") or [],
            key=lambda item: str((item.get("metadata") or {}).get("creationTimestamp") or ""),
        )
        if not items:
            raise ProxyError(
                f'no ManagedCluster has cluster ID "{cluster_id}" (label {LABEL_CLUSTER_ID})',
                status=404,
                reason="NotFound",
            )
        metadata = items[0].get("metadata") or {}
        status = items[0].get("status") or {}
        namespace = str(metadata.get("namespace") or "")
        return ClusterRecord(
            cluster_id=cluster_id,
            namespace=namespace,
            name=str(metadata.get("name") or ""),
            apiserver_url=str(status.get("apiserverURL") or ""),
            use_socket=bool(status.get("useSocket")),
            ca_pem=await self._child_ca(namespace),
        )

    async def _child_ca(self, namespace: str) -> bytes:
        try:
            secret = await self._parent.get_or_none(SECRET.object_path(CHILD_DEPLOYER_SECRET, namespace))
        except ClusternetError as exc:
            _log.warning("cannot read Secret %s/%s: %s", namespace, CHILD_DEPLOYER_SECRET, exc)
            return b""
        encoded = ((secret or {}).get("data") or {}).get("ca.crt") or ""
        try:
            return base64.b64decode(encoded)
        except (binascii.Error, ValueError):
            _log.warning("Secret %s/%s has a ca.crt that is not base64", namespace, CHILD_DEPLOYER_SECRET)
            return b""


def _load_client_pair(context: ssl.SSLContext, certificate_pem: bytes, key_pem: bytes) -> None:
    """ssl loads key pairs from files only: write them to a private directory just for the call."""
    with tempfile.TemporaryDirectory(prefix="hub-lite-") as private_dir:
        paths = []
        for name, content in (("client.crt", certificate_pem), ("client.key", key_pem)):
            path = os.path.join(private_dir, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            paths.append(path)
        try:
            context.load_cert_chain(paths[0], paths[1])
        except ssl.SSLError as exc:
            raise ProxyError(
                f"clusternet-certificate and clusternet-privatekey are not a usable key pair: {exc.reason or exc}"
            ) from exc


class _TlsContexts:
    """Client TLS contexts by (CA, client key pair); building one costs far more than a request."""

    def __init__(self, limit: int = 128) -> None:
        self._limit = limit
        self._contexts: OrderedDict[str, ssl.SSLContext] = OrderedDict()

    def get(
        self, ca_pem: bytes, credentials: ChildCredentials, *, system_roots: bool
    ) -> tuple[str, ssl.SSLContext]:
        """The context and its cache key (a digest of everything it trusts and presents)."""
        digest = hashlib.sha256()
        for part in (
            ca_pem,
            credentials.certificate_pem,
            credentials.private_key_pem,
            b"1" if system_roots else b"0",
        ):
            digest.update(hashlib.sha256(part).digest())
        key = digest.hexdigest()
        context = self._contexts.get(key)
        if context is not None:
            self._contexts.move_to_end(key)
            return key, context
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.set_alpn_protocols(["http/1.1"])
        if ca_pem:
            try:
                context.load_verify_locations(cadata=ca_pem.decode())
            except (ssl.SSLError, ValueError) as exc:
                raise ProxyError(
                    f"the child's CA (Secret {CHILD_DEPLOYER_SECRET}, ca.crt) is not usable: {exc}",
                    status=503,
                    reason="ServiceUnavailable",
                ) from exc
        if system_roots:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if credentials.has_client_certificate:
            _load_client_pair(context, credentials.certificate_pem, credentials.private_key_pem)
        self._contexts[key] = context
        if len(self._contexts) > self._limit:
            self._contexts.popitem(last=False)
        return key, context


class _RawFeeder:
    """Stands in for aiohttp's payload parser after a 101: the caller's raw bytes go to a StreamReader."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self._reader.feed_eof()


@dataclass(eq=False)
class _ChildConnection:
    """One HTTP/1.1 connection to a child destination over one tunnel stream (TLS inside when https)."""

    key: tuple[object, ...]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    @property
    def usable(self) -> bool:
        return not self.writer.transport.is_closing() and not self.reader.at_eof()

    def abort(self) -> None:
        self.writer.transport.abort()


class _ConnectionPool:
    """Idle keep-alive connections to children, so a request usually costs no new stream and no TLS handshake.

    Connections are keyed by tunnel session, destination and TLS context (which carries any client
    certificate), never by bearer token: tokens travel per request, as in any reverse proxy, while a
    client-certificate identity is bound to its connection and so to its own key. Idle connections are
    closed after ``idle_seconds``, and every connection of a tunnel that went away is useless at once.
    """

    def __init__(self, *, max_idle_per_key: int = 32, idle_seconds: float = 15.0) -> None:
        self._max_idle = max_idle_per_key
        self._idle_seconds = idle_seconds
        self._idle: dict[tuple[object, ...], list[_ChildConnection]] = {}
        self._reaper: asyncio.Task[None] | None = None

    def idle_count(self) -> int:
        return sum(len(connections) for connections in self._idle.values())

    def take(self, key: tuple[object, ...]) -> _ChildConnection | None:
        connections = self._idle.get(key)
        while connections:
            connection = connections.pop()  # most recently used: the least likely to have been closed
            if connection.usable:
                return connection
            connection.abort()
        self._idle.pop(key, None)
        return None

    def give(self, connection: _ChildConnection) -> None:
        connections = self._idle.setdefault(connection.key, [])
        if not connection.usable or len(connections) >= self._max_idle:
            connection.abort()
            return
        connection.idle_since = time.monotonic()
        connections.append(connection)
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.ensure_future(self._reap())

    async def _reap(self) -> None:
        while self._idle:
            await asyncio.sleep(max(1.0, self._idle_seconds / 4))
            deadline = time.monotonic() - self._idle_seconds
            for key, connections in list(self._idle.items()):
                kept = [c for c in connections if c.usable and c.idle_since > deadline]
                for connection in connections:
                    if connection not in kept:
                        connection.abort()
                if kept:
                    self._idle[key] = kept
                else:
                    del self._idle[key]

    def close_all(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.abort()
        self._idle.clear()
        if self._reaper is not None:
            self._reaper.cancel()


@dataclass(frozen=True)
class _Route:
    destination: Destination
    authority: str
    request_path: str
    ssl_context: ssl.SSLContext | None
    tls_key: str = ""


class Forwarder:
    """Forwards one authenticated, authorized proxy request to a child through its agent's tunnel."""

    def __init__(
        self,
        registry: TunnelRegistry,
        directory: ClusterDirectory,
        *,
        requestheader: RequestHeaderSettings | None = None,
        open_timeout: float = 30.0,
        response_timeout: float = 120.0,
    ) -> None:
        self.registry = registry
        self.directory = directory
        self._requestheader = requestheader
        self._open_timeout = open_timeout
        self._response_timeout = response_timeout
        self._tls = _TlsContexts()
        self.pool = _ConnectionPool()

    async def forward(
        self, request: web.Request, cluster_id: str, target: ProxyTarget, identity: Identity
    ) -> web.StreamResponse:
        credentials = child_credentials(identity.extra)
        record = await self.directory.lookup(cluster_id)
        tunnel = self.registry.get(cluster_id)
        if tunnel is None:
            raise ProxyError(
                f"cannot proxy through cluster {cluster_id}, whose agent is disconnected",
                status=503,
                reason="ServiceUnavailable",
            )
        route = self._route(record, target, credentials)
        headers = list(request.headers.items())
        upgrade = is_upgrade_request(headers)
        outgoing = forwarded_request_headers(
            headers,
            host=route.authority,
            credentials=credentials,
            upgrade=upgrade,
            settings=self._requestheader,
        )
        outgoing = [(k, v) for k, v in outgoing if k.lower() != "expect"]
        query = request.raw_path.partition("?")[2]
        if request.body_exists:
            if request.content_length is not None:
                outgoing.append(("Content-Length", str(request.content_length)))
            else:
                outgoing.append(("Transfer-Encoding", "chunked"))
        head = encode_request_head(
            request.method, route.request_path + (f"?{query}" if query else ""), outgoing
        )

        key = (id(tunnel), route.destination, route.tls_key)
        connection = None if upgrade else self.pool.take(key)
        reused = connection is not None
        if connection is None:
            connection = _ChildConnection(key, *await self._open(tunnel, route, cluster_id))
        keep = False
        try:
            try:
                response_head = await self._exchange(request, connection, head)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                # A pooled connection the child closed while idle fails before any answer: try once more on a
                # fresh one, when none of the caller's body was consumed.
                if (
                    not reused
                    or request.body_exists
                    or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial)
                ):
                    raise
                connection.abort()
                connection = _ChildConnection(key, *await self._open(tunnel, route, cluster_id))
                response_head = await self._exchange(request, connection, head)
            if upgrade and response_head.status == 101:
                return await self._splice(request, response_head, connection.reader, connection.writer)
            response, keep = await self._relay(request, response_head, connection.reader)
            return response
        except asyncio.TimeoutError:
            raise ProxyError(
                f"cluster {cluster_id} did not answer within {self._response_timeout:g}s",
                status=504,
                reason="Timeout",
            ) from None
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            if isinstance(exc, StreamCutError):
                raise
            raise ProxyError(
                f"the connection to cluster {cluster_id} broke: {exc or type(exc).__name__}",
                status=502,
                reason="BadGateway",
            ) from exc
        finally:
            if keep:
                self.pool.give(connection)
            else:
                connection.abort()

    async def _exchange(
        self, request: web.Request, connection: _ChildConnection, head: bytes
    ) -> ResponseHead:
        """Send the request (streaming its body) and read the response head."""
        connection.writer.write(head)
        if request.body_exists:
            await self._send_body(request, connection.writer, chunked=request.content_length is None)
        await connection.writer.drain()
        return await bounded(self._read_head(connection.reader), self._response_timeout)

    # -- routing ---------------------------------------------------------------------------------------

    def _route(self, record: ClusterRecord, target: ProxyTarget, credentials: ChildCredentials) -> _Route:
        if target.kind == "direct":
            if not record.apiserver_url:
                raise ProxyError(
                    f"cluster {record.cluster_id} has not reported its API server URL (status.apiserverURL)",
                    status=503,
                    reason="ServiceUnavailable",
                )
            server = parse_server_url(record.apiserver_url)
            scheme, host, port, authority = server.scheme, server.host, server.port, server.authority
            path = join_target_path(server.base_path, target.path)
        else:
            scheme, host, port, path = target.kind, target.host, target.port, target.path
            default = 443 if scheme == "https" else 80
            bracketed = f"[{host}]" if ":" in host else host
            authority = bracketed if port == default else f"{bracketed}:{port}"
        context, tls_key = None, ""
        if scheme == "https":
            if not record.ca_pem and target.kind == "direct":
                raise ProxyError(
                    f"no CA to verify cluster {record.cluster_id}'s API server: Secret "
                    f"{record.namespace}/{CHILD_DEPLOYER_SECRET} has no ca.crt",
                    status=503,
                    reason="ServiceUnavailable",
                )
            tls_key, context = self._tls.get(record.ca_pem, credentials, system_roots=target.kind != "direct")
        elif credentials.has_client_certificate:
            raise ProxyError("a client certificate for the child needs an https destination")
        try:
            destination = Destination("tcp", host, port)
        except TunnelError as exc:
            raise ProxyError(str(exc)) from exc
        return _Route(destination, authority, path, context, tls_key)

    async def _open(
        self, tunnel: Any, route: _Route, cluster_id: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        where = f"{route.destination.address} in cluster {cluster_id}"
        try:
            return await bounded(
                open_tunnel_connection(
                    tunnel,
                    route.destination,
                    ssl_context=route.ssl_context,
                    server_hostname=route.destination.host if route.ssl_context else None,
                    limit=_HEAD_LIMIT,
                ),
                self._open_timeout,
            )
        except OpenRefused as exc:
            if exc.reason.startswith(REFUSED_NOT_ALLOWED):
                raise ProxyError(
                    f"the agent of cluster {cluster_id} refused {route.destination.address}: {exc.reason}",
                    status=403,
                    reason="Forbidden",
                ) from exc
            if exc.reason.startswith("tunnel closed"):
                raise ProxyError(
                    f"cannot proxy through cluster {cluster_id}, whose agent is disconnected",
                    status=503,
                    reason="ServiceUnavailable",
                ) from exc
            raise ProxyError(f"cannot reach {where}: {exc.reason}", status=502, reason="BadGateway") from exc
        except ssl.SSLCertVerificationError as exc:
            raise ProxyError(
                f"cannot verify the certificate of {where}: {exc.verify_message or exc}",
                status=502,
                reason="BadGateway",
            ) from exc
        except ssl.SSLError as exc:
            raise ProxyError(f"TLS with {where} failed: {exc}", status=502, reason="BadGateway") from exc
        except TunnelError as exc:
            raise ProxyError(
                f"cannot proxy through cluster {cluster_id}, whose agent is disconnected: {exc}",
                status=503,
                reason="ServiceUnavailable",
            ) from exc
        except asyncio.TimeoutError:
            raise ProxyError(
                f"opening {where} took longer than {self._open_timeout:g}s", status=504, reason="Timeout"
            ) from None
        except ConnectionError as exc:
            raise ProxyError(f"cannot reach {where}: {exc}", status=502, reason="BadGateway") from exc

    # -- the exchange ----------------------------------------------------------------------------------

    @staticmethod
    async def _send_body(request: web.Request, writer: asyncio.StreamWriter, *, chunked: bool) -> None:
        while True:
            data = await request.content.read(_READ_SIZE)
            if not data:
                break
            writer.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            await writer.drain()
        if chunked:
            writer.write(b"0\r\n\r\n")

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> ResponseHead:
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                raise ProxyError(
                    "the child's response headers are too large", status=502, reason="BadGateway"
                ) from None
            head = parse_response_head(raw)
            if head.status == 101 or not 100 <= head.status < 200:
                return head  # 100 Continue and other interim answers are skipped

    async def _relay(
        self, request: web.Request, head: ResponseHead, reader: asyncio.StreamReader
    ) -> tuple[web.StreamResponse, bool]:
        """Stream the response to the caller; also say whether the child connection can serve another request."""
        framing = response_body_framing(request.method, head)
        if framing.kind == "length" and framing.length <= _READ_SIZE:
            # A small body (most API answers): read it whole, so head and body leave in one write.
            body = await reader.readexactly(framing.length)
            headers = [
                (name, value)
                for name, value in forwarded_response_headers(head.headers, upgraded=False)
                if name.lower() != "content-length"
            ]
            small = web.Response(status=head.status, reason=head.reason or None, body=body, headers=headers)
            closing = any("close" in v.lower() for v in head.values("Connection"))
            return small, head.version == "HTTP/1.1" and not closing
        response = web.StreamResponse(status=head.status, reason=head.reason or None)
        for name, value in forwarded_response_headers(head.headers, upgraded=False):
            response.headers.add(name, value)
        if framing.kind == "length":
            response.content_length = framing.length
        elif framing.kind == "none":
            response.content_length = 0
        await response.prepare(request)
        clean_end = True
        try:
            if framing.kind == "length":
                remaining = framing.length
                while remaining:
                    data = await reader.read(min(_READ_SIZE, remaining))
                    if not data:
                        raise StreamCutError(f"the child closed with {remaining} bytes of the body missing")
                    remaining -= len(data)
                    await response.write(data)
            elif framing.kind == "chunked":
                clean_end = await self._relay_chunks(reader, response)
            elif framing.kind == "eof":
                while data := await reader.read(_READ_SIZE):
                    await response.write(data)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, ProxyError) as exc:
            if request.transport is not None:
                request.transport.abort()
            raise StreamCutError(f"the child's response broke off: {exc}") from exc
        await response.write_eof()
        closing = any("close" in v.lower() for v in head.values("Connection"))
        reusable = framing.kind != "eof" and head.version == "HTTP/1.1" and not closing and clean_end
        return response, reusable

    @staticmethod
    async def _relay_chunks(reader: asyncio.StreamReader, response: web.StreamResponse) -> bool:
        """Relay a chunked body, decoding whatever arrived at once; True when nothing followed its end."""
        decoder = ChunkedDecoder()
        while not decoder.done:
            raw = await reader.read(_READ_SIZE)
            if not raw:
                raise asyncio.IncompleteReadError(b"", None)
            payload = decoder.feed(raw)
            if payload:
                await response.write(payload)
        return not decoder.unused

    async def _splice(
        self, request: web.Request, head: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> web.StreamResponse:
        """After a 101, copy bytes both ways until either side is done."""
        response = web.StreamResponse(status=101, reason=head.reason or None)
        for name, value in forwarded_response_headers(head.headers, upgraded=True):
            response.headers.add(name, value)
        response.force_close()
        await response.prepare(request)
        client = asyncio.StreamReader(limit=_READ_SIZE)
        if request.transport is not None:
            client.set_transport(request.transport)
        request.protocol.set_parser(_RawFeeder(client))  # type: ignore[arg-type]

        async def upstream() -> None:
            while data := await client.read(_READ_SIZE):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        async def downstream() -> None:
            while data := await reader.read(_READ_SIZE):
                await response.write(data)

        up = asyncio.ensure_future(upstream())
        down = asyncio.ensure_future(downstream())
        try:
            await down  # the child ending the connection ends the exchange
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            up.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await up
        return response


def status_from(exc: Exception) -> tuple[int, str, str]:
    """(code, reason, message) of an error for a Status body."""
    if isinstance(exc, ProxyError):
        return exc.status, exc.reason, exc.message
    if isinstance(exc, ApiError):
        return exc.status or 500, exc.reason or "InternalError", exc.message
    return 500, "InternalError", f"internal error: {exc}"
