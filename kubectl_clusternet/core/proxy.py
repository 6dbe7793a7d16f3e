"""The proxy API's pure parts: URLs, identities carried in headers, child credentials, HTTP/1.1 framing.

The hub forwards requests for ``/apis/proxies.clusternet.io/v1alpha1/sockets/<id>/proxy/...`` to a child
cluster through the agent's tunnel, speaking HTTP/1.1 itself over a tunnel stream. Everything here decides
*what* is sent (which URL, which headers, which credentials) and how a response is framed, without any I/O,
so the security-relevant rules (which headers are trusted, which are stripped) are tested as plain tables.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ClusternetError

__all__ = [
    "GROUP",
    "VERSION",
    "GROUP_VERSION",
    "SOCKETS_PATH",
    "CLUSTERNET_USER",
    "EXTRA_TOKEN",
    "EXTRA_CERTIFICATE",
    "EXTRA_PRIVATE_KEY",
    "EXTRA_IMPERSONATE_USER",
    "EXTRA_IMPERSONATE_UID",
    "EXTRA_IMPERSONATE_GROUP",
    "REFUSED_NOT_ALLOWED",
    "ProxyError",
    "ProxyKind",
    "SocketPath",
    "ProxyTarget",
    "ServerAddress",
    "Identity",
    "Impersonation",
    "RequestHeaderSettings",
    "ChildCredentials",
    "ResponseHead",
    "BodyFraming",
    "parse_socket_path",
    "parse_server_url",
    "parse_host_port",
    "join_target_path",
    "socket_url",
    "proxy_base_url",
    "extras_from_headers",
    "identity_from_request_headers",
    "requestheader_settings",
    "impersonation_from_headers",
    "child_credentials",
    "forwarded_request_headers",
    "forwarded_response_headers",
    "is_upgrade_request",
    "encode_request_head",
    "parse_response_head",
    "response_body_framing",
    "parse_chunk_size",
    "ChunkedDecoder",
    "authorization_verb",
    "status_body",
]

GROUP = "proxies.clusternet.io"
VERSION = "v1alpha1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
SOCKETS_PATH = f"/apis/{GROUP}/{VERSION}/sockets"
CLUSTERNET_USER = "clusternet"

EXTRA_TOKEN = "clusternet-token"
EXTRA_CERTIFICATE = "clusternet-certificate"
EXTRA_PRIVATE_KEY = "clusternet-privatekey"
EXTRA_IMPERSONATE_USER = "clusternet-impersonate-user"
EXTRA_IMPERSONATE_UID = "clusternet-impersonate-uid"
EXTRA_IMPERSONATE_GROUP = "clusternet-impersonate-group"

# The agent prefixes OPEN_FAIL reasons with this when its allow-list refuses a destination, so the hub can
# answer 403 (a policy decision) rather than 502 (a network failure).
REFUSED_NOT_ALLOWED = "destination not allowed"

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Cluster IDs are looked up as a label value, so they must be one (63 characters at most).
_CLUSTER_ID_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")
_TOKEN_CHARS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class ProxyError(ClusternetError):
    """A request the proxy cannot serve; ``status`` and ``reason`` become the Kubernetes Status sent back."""

    def __init__(self, message: str, *, status: int = 400, reason: str = "BadRequest") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


ProxyKind = Literal["direct", "https", "http"]


@dataclass(frozen=True)
class ProxyTarget:
    """Where a proxied request goes: ``direct`` (the child API server) or an explicit ``host:port``."""

    kind: ProxyKind
    path: str  # raw (still %-encoded), always starting with "/"
    host: str = ""
    port: int = 0


@dataclass(frozen=True)
class SocketPath:
    """A parsed ``/sockets/<id>[/proxy/...]`` path; ``target`` is None for the agent's websocket endpoint."""

    cluster_id: str
    target: ProxyTarget | None


@dataclass(frozen=True)
class ServerAddress:
    """A parsed ``scheme://host:port/base`` URL (ManagedCluster.status.apiserverURL)."""

    scheme: Literal["https", "http"]
    host: str
    port: int
    base_path: str

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port``; raises ProxyError for anything else."""
    if not text:
        raise ProxyError("empty host in proxy path")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ProxyError(f"invalid host {text!r}: unterminated IPv6 literal")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ProxyError(f"invalid host {text!r}")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        raise ProxyError(f"invalid host {text!r}: write IPv6 addresses in brackets")
    else:
        host, port_text = text, ""
    if not host:
        raise ProxyError(f"invalid host {text!r}")
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ProxyError(f"invalid port in {text!r}")
        return host.lower(), int(port_text)
    return host.lower(), default_port


def parse_socket_path(raw_path: str) -> SocketPath:
    """Split a raw (%-encoded, query-less) request path under SOCKETS_PATH.

    Trailing slashes after the cluster ID are ignored, as upstream trims them; an empty ID is refused.
    """
    prefix = SOCKETS_PATH + "/"
    if not raw_path.startswith(prefix):
        raise ProxyError(f"{raw_path!r} is not under {SOCKETS_PATH}", status=404, reason="NotFound")
    rest = raw_path[len(prefix) :]
    cluster_id, _, after = rest.partition("/")
    cluster_id = urllib.parse.unquote(cluster_id)
    if not cluster_id:
        raise ProxyError("no cluster ID in the socket path")
    if not _CLUSTER_ID_PATTERN.fullmatch(cluster_id):
        raise ProxyError(f"invalid cluster ID {cluster_id!r}")
    if not after.strip("/"):
        return SocketPath(cluster_id, None)
    subresource, _, proxied = after.partition("/")
    if subresource != "proxy":
        raise ProxyError(
            f"unknown subresource {subresource!r} of socket {cluster_id}; only 'proxy' exists",
            status=404,
            reason="NotFound",
        )
    kind, _, remainder = proxied.partition("/")
    if kind == "direct":
        return SocketPath(cluster_id, ProxyTarget("direct", "/" + remainder))
    if kind in ("https", "http"):
        host_text, _, remainder = remainder.partition("/")
        scheme: ProxyKind = "https" if kind == "https" else "http"
        host, port = parse_host_port(urllib.parse.unquote(host_text), 443 if scheme == "https" else 80)
        return SocketPath(cluster_id, ProxyTarget(scheme, "/" + remainder, host, port))
    raise ProxyError(
        f"unknown proxy type {kind!r}: use .../proxy/direct/<path>, .../proxy/https/<host:port>/<path> "
        "or .../proxy/http/<host:port>/<path>"
    )


def parse_server_url(url: str) -> ServerAddress:
    """Parse ManagedCluster.status.apiserverURL; a scheme-less URL means https, as in client-go."""
    parsed = urllib.parse.urlsplit(url if "://" in url else f"https://{url}")
    if parsed.scheme not in ("https", "http"):
        raise ProxyError(f"unsupported API server URL {url!r}", status=503, reason="ServiceUnavailable")
    try:
        port = parsed.port
    except ValueError:
        raise ProxyError(
            f"invalid port in API server URL {url!r}", status=503, reason="ServiceUnavailable"
        ) from None
    if not parsed.hostname:
        raise ProxyError(f"no host in API server URL {url!r}", status=503, reason="ServiceUnavailable")
    scheme: Literal["https", "http"] = "https" if parsed.scheme == "https" else "http"
    return ServerAddress(
        scheme,
        parsed.hostname.lower(),
        port or (443 if scheme == "https" else 80),
        parsed.path.rstrip("/"),
    )


def join_target_path(base_path: str, path: str) -> str:
    """The API server URL's path prefix followed by the proxied path, without cleaning it.

    Upstream uses Go's path.Join, which also drops a trailing slash; some endpoints (service proxies)
    depend on it, so it is kept here.
    """
    return base_path.rstrip("/") + (path if path.startswith("/") else "/" + path)


def proxy_base_url(parent_server: str, cluster_id: str, kind: str = "direct") -> str:
    """``<parent>/apis/proxies.clusternet.io/v1alpha1/sockets/<id>/proxy/<kind>``, for kubeconfigs."""
    return f"{parent_server.rstrip('/')}{SOCKETS_PATH}/{urllib.parse.quote(cluster_id, safe='')}/proxy/{kind}"


def socket_url(server: str, cluster_id: str) -> str:
    """The agent's websocket URL: http becomes ws, https wss; a path prefix of ``server`` is kept."""
    parsed = urllib.parse.urlsplit(server if "://" in server else f"https://{server}")
    scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}.get(parsed.scheme)
    if scheme is None:
        raise ProxyError(f"unsupported server URL {server!r}")
    path = f"{parsed.path.rstrip('/')}{SOCKETS_PATH}/{urllib.parse.quote(cluster_id, safe='')}"
    return urllib.parse.urlunsplit((scheme, parsed.netloc, path, "", ""))


# ---------------------------------------------------------------------------------------------------------
# identities carried in headers


@dataclass(frozen=True)
class Identity:
    """An authenticated user, as TokenReview, a client certificate or the front proxy's headers tell it."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Impersonation:
    """What ``Impersonate-*`` headers ask for; extras keyed lower-case, %-unescaped."""

    user: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestHeaderSettings:
    """How the front proxy (the aggregator) passes identities: kube-system/extension-apiserver-authentication."""

    client_ca_pem: bytes
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    extra_prefixes: tuple[str, ...] = ("X-Remote-Extra-",)
    # The parent's client CA (``client-ca-file``), for callers with client certificates straight to the hub.
    user_client_ca_pem: bytes = b""


def _json_list(text: object, key: str) -> tuple[str, ...]:
    if text in (None, ""):
        return ()
    try:
        value = json.loads(str(text))
    except ValueError:
        raise ProxyError(f"extension-apiserver-authentication: {key} is not a JSON list") from None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProxyError(f"extension-apiserver-authentication: {key} is not a list of strings")
    return tuple(value)


def requestheader_settings(config_map: Mapping[str, Any]) -> RequestHeaderSettings:
    """Read the ConfigMap kube-apiserver publishes for extension API servers.

    Without ``requestheader-client-ca-file`` the parent has no front proxy configured, and no
    ``X-Remote-*`` header can ever be trusted: that is an error, not an empty trust list.
    """
    data = config_map.get("data") or {}
    ca_pem = str(data.get("requestheader-client-ca-file") or "").encode()
    if not ca_pem.strip():
        raise ProxyError(
            "kube-system/extension-apiserver-authentication has no requestheader-client-ca-file: "
            "start kube-apiserver with --requestheader-client-ca-file"
        )
    return RequestHeaderSettings(
        client_ca_pem=ca_pem,
        allowed_names=_json_list(data.get("requestheader-allowed-names"), "requestheader-allowed-names"),
        username_headers=_json_list(
            data.get("requestheader-username-headers"), "requestheader-username-headers"
        )
        or ("X-Remote-User",),
        group_headers=_json_list(data.get("requestheader-group-headers"), "requestheader-group-headers")
        or ("X-Remote-Group",),
        extra_prefixes=_json_list(
            data.get("requestheader-extra-headers-prefix"), "requestheader-extra-headers-prefix"
        )
        or ("X-Remote-Extra-",),
        user_client_ca_pem=str(data.get("client-ca-file") or "").encode(),
    )


def extras_from_headers(
    headers: Iterable[tuple[str, str]], prefixes: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Extras from every header starting with one of ``prefixes`` (case-insensitive).

    Keys are lower-cased, then %-unescaped, as kube-apiserver does, so ``%2F`` in a header name becomes a
    ``/`` in the key; values keep their order across repeated headers.
    """
    lowered = [p.lower() for p in prefixes]
    found: dict[str, list[str]] = {}
    for name, value in headers:
        name_lower = name.lower()
        for prefix in lowered:
            if name_lower.startswith(prefix) and len(name_lower) > len(prefix):
                key = urllib.parse.unquote(name_lower[len(prefix) :])
                found.setdefault(key, []).append(value)
                break
    return {key: tuple(values) for key, values in found.items()}


def _all_values(headers: Iterable[tuple[str, str]], names: Sequence[str]) -> list[str]:
    wanted = {n.lower() for n in names}
    return [value for name, value in headers if name.lower() in wanted]


def identity_from_request_headers(
    headers: Sequence[tuple[str, str]], settings: RequestHeaderSettings
) -> Identity | None:
    """The user the front proxy vouches for; None when no username header is set.

    Only call this after checking the caller's client certificate against ``settings``: the headers
    themselves prove nothing.
    """
    users = [v for v in _all_values(headers, settings.username_headers) if v]
    if not users:
        return None
    groups = tuple(v for v in _all_values(headers, settings.group_headers) if v)
    return Identity(name=users[0], groups=groups, extra=extras_from_headers(headers, settings.extra_prefixes))


def impersonation_from_headers(headers: Sequence[tuple[str, str]]) -> Impersonation | None:
    """``Impersonate-User``/``-Uid``/``-Group``/``-Extra-*``; groups or extras without a user are an error."""
    users = _all_values(headers, ("Impersonate-User",))
    groups = tuple(_all_values(headers, ("Impersonate-Group",)))
    uids = _all_values(headers, ("Impersonate-Uid",))
    extra = extras_from_headers(headers, ("Impersonate-Extra-",))
    if not users:
        if groups or extra or uids:
            raise ProxyError(
                "requested impersonation of groups, a UID or extras without impersonating a user"
            )
        return None
    return Impersonation(user=users[0], uid=uids[0] if uids else "", groups=groups, extra=extra)


@dataclass(frozen=True)
class ChildCredentials:
    """What the hub presents to the child: a bearer token and/or a client certificate, and impersonation."""

    token: str = ""
    certificate_pem: bytes = b""
    private_key_pem: bytes = b""
    impersonate_user: str = ""
    impersonate_uid: str = ""
    impersonate_groups: tuple[str, ...] = ()

    @property
    def has_client_certificate(self) -> bool:
        return bool(self.certificate_pem and self.private_key_pem)


def _decode_pem(values: tuple[str, ...], key: str) -> bytes:
    try:
        decoded = base64.b64decode(values[0], validate=True)
    except (binascii.Error, ValueError):
        raise ProxyError(f"extra {key} is not valid base64") from None
    if b"-----BEGIN " not in decoded:
        raise ProxyError(f"extra {key} does not hold a PEM block")
    return decoded


def child_credentials(extra: Mapping[str, tuple[str, ...]]) -> ChildCredentials:
    """Turn the caller's extras into credentials for the child, as upstream's hub does.

    Raises ProxyError 401 when there is nothing to authenticate with: the hub never falls back to an
    identity of its own, so a request without child credentials must fail here, not as anonymous.
    """
    token = (extra.get(EXTRA_TOKEN) or ("",))[0]
    certificate = extra.get(EXTRA_CERTIFICATE)
    private_key = extra.get(EXTRA_PRIVATE_KEY)
    if bool(certificate) != bool(private_key):
        raise ProxyError(f"extras {EXTRA_CERTIFICATE} and {EXTRA_PRIVATE_KEY} must be given together")
    certificate_pem = _decode_pem(certificate, EXTRA_CERTIFICATE) if certificate else b""
    private_key_pem = _decode_pem(private_key, EXTRA_PRIVATE_KEY) if private_key else b""
    if not token and not certificate_pem:
        raise ProxyError(
            "no credentials for the child cluster: impersonate user 'clusternet' with extra "
            f"'{EXTRA_TOKEN}', or '{EXTRA_CERTIFICATE}' and '{EXTRA_PRIVATE_KEY}' (base64 PEM)",
            status=401,
            reason="Unauthorized",
        )
    return ChildCredentials(
        token=token,
        certificate_pem=certificate_pem,
        private_key_pem=private_key_pem,
        impersonate_user=(extra.get(EXTRA_IMPERSONATE_USER) or ("",))[0],
        impersonate_uid=(extra.get(EXTRA_IMPERSONATE_UID) or ("",))[0],
        impersonate_groups=tuple(extra.get(EXTRA_IMPERSONATE_GROUP) or ()),
    )


# ---------------------------------------------------------------------------------------------------------
# HTTP/1.1 over a tunnel stream


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def is_upgrade_request(headers: Sequence[tuple[str, str]]) -> str | None:
    """The ``Upgrade`` value when the request asks to switch protocols (exec, attach, port-forward...)."""
    if "upgrade" not in _connection_tokens(headers):
        return None
    upgrades = _all_values(headers, ("Upgrade",))
    return upgrades[0] if upgrades and upgrades[0].strip() else None


def _is_identity_header(name_lower: str, settings: RequestHeaderSettings | None) -> bool:
    if name_lower.startswith(("x-remote-", "impersonate-")) or name_lower == "authorization":
        return True
    if settings is not None:
        names = {n.lower() for n in (*settings.username_headers, *settings.group_headers)}
        if name_lower in names or name_lower.startswith(tuple(p.lower() for p in settings.extra_prefixes)):
            return True
    return False


def forwarded_request_headers(
    headers: Sequence[tuple[str, str]],
    *,
    host: str,
    credentials: ChildCredentials,
    upgrade: str | None,
    settings: RequestHeaderSettings | None = None,
) -> list[tuple[str, str]]:
    """The headers sent to the child.

    Strips everything that identifies the caller to the parent (``Authorization``, ``Impersonate-*``,
    ``X-Remote-*`` and the configured requestheader names), hop-by-hop headers, ``Host`` and the body
    framing (the hub frames the body itself), then adds the child credentials and impersonation.
    """
    dropped = _HOP_BY_HOP | _connection_tokens(headers) | {"host", "content-length"}
    forwarded: list[tuple[str, str]] = [("Host", host)]
    for name, value in headers:
        lower = name.lower()
        if lower in dropped or _is_identity_header(lower, settings):
            continue
        forwarded.append((name, value))
    if credentials.token:
        forwarded.append(("Authorization", f"Bearer {credentials.token}"))
    if credentials.impersonate_user:
        forwarded.append(("Impersonate-User", credentials.impersonate_user))
    if credentials.impersonate_uid:
        forwarded.append(("Impersonate-Uid", credentials.impersonate_uid))
    forwarded.extend(("Impersonate-Group", group) for group in credentials.impersonate_groups)
    if upgrade:
        forwarded.extend([("Connection", "Upgrade"), ("Upgrade", upgrade)])
    return forwarded


def forwarded_response_headers(
    headers: Sequence[tuple[str, str]], *, upgraded: bool
) -> list[tuple[str, str]]:
    """The child's response headers minus hop-by-hop ones and the framing; a 101 keeps Upgrade/Connection."""
    dropped = (_HOP_BY_HOP | _connection_tokens(headers) | {"content-length"}) - (
        {"upgrade", "connection"} if upgraded else set()
    )
    return [(name, value) for name, value in headers if name.lower() not in dropped]


def _safe_header(name: str, value: str) -> None:
    if not _TOKEN_CHARS.fullmatch(name):
        raise ProxyError(f"invalid header name {name!r}")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ProxyError(f"invalid value for header {name}")


def encode_request_head(method: str, target: str, headers: Sequence[tuple[str, str]]) -> bytes:
    """Request line and headers; refuses CR/LF in any of them so nothing can smuggle a second request."""
    if not _TOKEN_CHARS.fullmatch(method):
        raise ProxyError(f"invalid method {method!r}")
    if not target.startswith("/") or any(c in target for c in " \r\n\x00"):
        raise ProxyError(f"invalid request target {target!r}")
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        _safe_header(name, value)
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True)
class ResponseHead:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    version: str = "HTTP/1.1"

    def values(self, name: str) -> list[str]:
        return _all_values(self.headers, (name,))


def parse_response_head(raw: bytes) -> ResponseHead:
    """Parse a status line and headers ending in CRLF CRLF; obsolete line folding is refused."""
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise ProxyError("undecodable response head") from None
    lines = text.split("\r\n")
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise ProxyError("empty response from the child", status=502, reason="BadGateway")
    match = re.fullmatch(r"(HTTP/1\.[01]) ([0-9]{3})(?: (.*))?", lines[0])
    if match is None:
        raise ProxyError(f"malformed status line {lines[0][:80]!r}", status=502, reason="BadGateway")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") or ":" not in line:
            raise ProxyError(f"malformed response header {line[:80]!r}", status=502, reason="BadGateway")
        name, _, value = line.partition(":")
        if not _TOKEN_CHARS.fullmatch(name):
            raise ProxyError(f"malformed response header name {name[:80]!r}", status=502, reason="BadGateway")
        headers.append((name, value.strip(" \t")))
    return ResponseHead(int(match.group(2)), match.group(3) or "", tuple(headers), match.group(1))


@dataclass(frozen=True)
class BodyFraming:
    """How a response body ends: no body, a length, chunked encoding, or the connection closing."""

    kind: Literal["none", "length", "chunked", "eof"]
    length: int = 0


def response_body_framing(method: str, head: ResponseHead) -> BodyFraming:
    """RFC 9112 section 6.3, in order: HEAD/1xx/204/304 have no body; chunked wins over a length."""
    if method == "HEAD" or head.status < 200 or head.status in (204, 304):
        return BodyFraming("none")
    codings = [c.strip().lower() for v in head.values("Transfer-Encoding") for c in v.split(",") if c.strip()]
    if codings:
        if codings[-1] != "chunked":
            return BodyFraming("eof")
        return BodyFraming("chunked")
    lengths = {v.strip() for v in head.values("Content-Length")}
    if lengths:
        if len(lengths) != 1 or not next(iter(lengths)).isdigit():
            raise ProxyError(
                "conflicting or invalid Content-Length from the child", status=502, reason="BadGateway"
            )
        length = int(next(iter(lengths)))
        return BodyFraming("length", length) if length else BodyFraming("none")
    return BodyFraming("eof")


def parse_chunk_size(line: bytes) -> int:
    """The size in a chunk-size line (extensions ignored); raises ProxyError when it is not hex."""
    size_text = line.split(b";", 1)[0].strip()
    if not size_text or len(size_text) > 16 or not re.fullmatch(rb"[0-9A-Fa-f]+", size_text):
        raise ProxyError(
            f"malformed chunk size {line[:40]!r} from the child", status=502, reason="BadGateway"
        )
    return int(size_text, 16)


class ChunkedDecoder:
    """Sans-I/O decoder of a chunked body: feed raw bytes as they arrive, get the payload back.

    Decoding whatever arrived in one go, rather than one chunk at a time, lets the hub pass a LIST the
    child wrote in thousands of small chunks on to the caller in a few large writes.
    """

    _MAX_LINE = 4096

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._state = "size"  # size, data, data-end, trailer, done
        self._remaining = 0

    @property
    def done(self) -> bool:
        """The last chunk and the trailers were read; the body is complete."""
        return self._state == "done"

    @property
    def unused(self) -> bytes:
        """Bytes fed after the end of the body (which a well-behaved server never sends)."""
        return bytes(self._buffer) if self.done else b""

    def feed(self, data: bytes) -> bytes:
        """Consume ``data``; return the payload bytes it completed (possibly empty). Raises ProxyError 502."""
        self._buffer += data
        payload = bytearray()
        while not self.done:
            if self._state == "data":
                take = min(self._remaining, len(self._buffer))
                if not take:
                    break
                payload += self._buffer[:take]
                del self._buffer[:take]
                self._remaining -= take
                if not self._remaining:
                    self._state = "data-end"
                continue
            if self._state == "data-end":
                if len(self._buffer) < 2:
                    break
                if self._buffer[:2] != b"\r\n":
                    raise ProxyError("malformed chunk ending from the child", status=502, reason="BadGateway")
                del self._buffer[:2]
                self._state = "size"
                continue
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > self._MAX_LINE:
                    raise ProxyError(
                        "chunk header line too long from the child", status=502, reason="BadGateway"
                    )
                break
            line = bytes(self._buffer[: end + 2])
            del self._buffer[: end + 2]
            if self._state == "size":
                size = parse_chunk_size(line)
                self._state, self._remaining = ("trailer", 0) if size == 0 else ("data", size)
            elif line == b"\r\n":  # the blank line after the (ignored) trailers
                self._state = "done"
        return bytes(payload)


_VERBS = {
    "GET": "get",
    "HEAD": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


def authorization_verb(method: str) -> str:
    """The verb kube-apiserver checks for a connect-style request with this method."""
    return _VERBS.get(method.upper(), method.lower())


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_body(code: int, message: str, reason: str = "") -> dict[str, Any]:
    """A ``v1 Status`` failure, the body kubectl knows how to print for any error."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _REASONS.get(code, ""),
        "code": code,
    }
