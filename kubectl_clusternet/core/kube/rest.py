"""A small synchronous REST client for the Kubernetes API, built on the standard library.

Why not the official client here: importing ``kubernetes`` costs a few hundred milliseconds, which would make
every ``kubectl clusternet get`` several times slower than ``kubectl get``. The CLI needs raw JSON, tables,
watches and server-side apply — all plain HTTP — so this module speaks HTTP itself and borrows the official
client only for the rare legacy ``auth-provider`` kubeconfig entries.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ApiError, ConfigError, ConnectionFailed
from .kubeconfig import ResolvedConfig
from .wire import HttpConnection, HttpResponse, ServerClosed

__all__ = [
    "Connection",
    "RestClient",
    "connection_from_config",
    "token_connection",
    "error_from_response",
    "checked_watch_event",
    "run_exec_plugin",
    "QueryParams",
]

QueryParams = Mapping[str, str] | Sequence[tuple[str, str]]
JSON_CONTENT = "application/json"


@dataclass
class Connection:
    """Everything needed to reach one API server: where, how to trust it, and who we are."""

    scheme: str
    host: str
    port: int
    base_path: str
    ssl_context: ssl.SSLContext | None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    tls_server_name: str | None = None
    impersonate_groups: list[str] = field(default_factory=list)
    # The CA the server is verified with (empty: the system trust store or no verification). Agents publish
    # it to the parent so the hub can verify the child too.
    ca_pem: bytes = b""

    @property
    def server(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.base_path}"


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ConfigError(f"unable to read {path}: {exc.strerror or exc}") from exc


def _data_or_file(entry: Mapping[str, Any], key: str) -> bytes | None:
    """kubeconfig's ``<key>-data`` (base64) wins over ``<key>`` (a file path), as in client-go."""
    data = entry.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(data)
        except ValueError as exc:
            raise ConfigError(f"invalid base64 in {key}-data") from exc
    path = entry.get(key)
    if path:
        return _read_file(str(path))
    return None


def _load_client_pair(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """ssl can only load a key pair from files. On Linux they are anonymous memory files (never on disk, and
    no tempfile import on the CLI's start-up path); elsewhere a private temporary directory."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None:
        descriptors = []
        try:
            for name, content in (("client.crt", cert_pem), ("client.key", key_pem)):
                descriptor = memfd_create(name)
                descriptors.append(descriptor)
                os.write(descriptor, content)
            _load_cert_chain(context, *(f"/proc/self/fd/{d}" for d in descriptors))
        finally:
            for descriptor in descriptors:
                os.close(descriptor)
        return
    import tempfile  # noqa: PLC0415 - only where memfd_create is missing

    with tempfile.TemporaryDirectory(prefix="kubectl-clusternet-") as private_dir:
        cert_path = os.path.join(private_dir, "client.crt")
        key_path = os.path.join(private_dir, "client.key")
        for path, content in ((cert_path, cert_pem), (key_path, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
        _load_cert_chain(context, cert_path, key_path)


def _load_cert_chain(context: ssl.SSLContext, cert_path: str, key_path: str) -> None:
    try:
        context.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as exc:
        raise ConfigError(f"invalid client certificate or key: {exc.reason or exc}") from exc


def run_exec_plugin(spec: Mapping[str, Any], server: str) -> dict[str, Any]:
    """Run a client-go credential plugin and return its ``status`` (token or client certificate)."""
    command = spec.get("command")
    if not command:
        raise ConfigError("exec plugin: command is required")
    env = dict(os.environ)
    for item in spec.get("env") or []:
        env[str(item.get("name"))] = str(item.get("value", ""))
    api_version = spec.get("apiVersion", "client.authentication.k8s.io/v1beta1")
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {
            "apiVersion": api_version,
            "kind": "ExecCredential",
            "spec": {"interactive": False, "cluster": {"server": server}},
        }
    )
    import subprocess  # noqa: PLC0415 - exec plugins are rare; keep it off the start-up path

    try:
        completed = subprocess.run(
            [str(command), *[str(a) for a in spec.get("args") or []]],
            env=env,
            capture_output=True,
            check=False,
            timeout=120,
        )
    except FileNotFoundError as exc:
        hint = spec.get("installHint")
        message = f"exec: executable {command} not found"
        raise ConfigError(message + (f"\n\n{hint}" if hint else "")) from exc
    except subprocess.TimeoutExpired as exc:
        raise ConfigError(f"exec plugin {command} timed out") from exc
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip()
        raise ConfigError(f"exec plugin {command} failed with exit code {completed.returncode}: {detail}")
    try:
        credential = json.loads(completed.stdout)
    except ValueError as exc:
        raise ConfigError(f"exec plugin {command} did not print an ExecCredential") from exc
    status = credential.get("status") if isinstance(credential, dict) else None
    if not isinstance(status, dict):
        raise ConfigError(f"exec plugin {command} returned no status")
    return status


def _auth_provider_token(resolved: ResolvedConfig) -> str:
    """Legacy ``auth-provider`` entries (oidc, gcp) are rare: let the official client handle them, lazily."""
    try:
        from kubernetes import client as k8s_client  # noqa: PLC0415 - slow import, only for this path
        from kubernetes.config import kube_config
    except ImportError as exc:  # pragma: no cover - kubernetes is a dependency
        raise ConfigError("auth-provider kubeconfig entries need the kubernetes package") from exc
    configuration = k8s_client.Configuration()
    try:
        loader = kube_config.KubeConfigLoader(
            config_dict=resolved.to_single_context_dict(), active_context=resolved.context_name
        )
        loader.load_and_set(configuration)
    except Exception as exc:  # the loader raises many kinds; all mean "cannot authenticate"
        raise ConfigError(f"auth-provider: {exc}") from exc
    token = configuration.api_key.get("authorization", "")
    return str(token).removeprefix("Bearer ").strip()


def connection_from_config(resolved: ResolvedConfig) -> Connection:
    """Turn a resolved kubeconfig (after kubectl's flag overrides) into a ready Connection."""
    cluster = resolved.cluster
    user = resolved.user
    server = str(cluster.get("server") or "")
    if not server:
        raise ConfigError("no server found for cluster " + repr(resolved.cluster_name))
    parsed = urllib.parse.urlsplit(server if "://" in server else f"https://{server}")
    scheme = parsed.scheme or "https"
    if scheme not in ("http", "https"):
        raise ConfigError(f"unsupported server scheme in {server!r}")
    host = parsed.hostname or ""
    port = parsed.port or (443 if scheme == "https" else 80)
    headers: dict[str, str] = {}
    context: ssl.SSLContext | None = None
    ca_pem: bytes | None = None
    exec_status: dict[str, Any] = {}
    if user.get("exec"):
        exec_status = run_exec_plugin(user["exec"], server)

    if scheme == "https":
        # Build the context for what the kubeconfig says: loading the system trust store costs tens of
        # milliseconds, so do it only when no certificate authority is given.
        ca_pem = (
            None
            if cluster.get("insecure-skip-tls-verify")
            else _data_or_file(cluster, "certificate-authority")
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if cluster.get("insecure-skip-tls-verify"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif ca_pem:
            try:
                context.load_verify_locations(cadata=ca_pem.decode())
            except (ssl.SSLError, ValueError) as exc:
                raise ConfigError(
                    f"invalid certificate authority for cluster {resolved.cluster_name!r}"
                ) from exc
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        cert_pem = _data_or_file(user, "client-certificate")
        key_pem = _data_or_file(user, "client-key")
        if exec_status.get("clientCertificateData") and exec_status.get("clientKeyData"):
            cert_pem = str(exec_status["clientCertificateData"]).encode()
            key_pem = str(exec_status["clientKeyData"]).encode()
        if cert_pem and key_pem:
            _load_client_pair(context, cert_pem, key_pem)
        elif cert_pem or key_pem:
            raise ConfigError("client-certificate and client-key must be given together")

    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _read_file(str(user["tokenFile"])).decode().strip()
    if not token and exec_status.get("token"):
        token = exec_status["token"]
    if not token and user.get("auth-provider"):
        token = _auth_provider_token(resolved)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif user.get("username") is not None and user.get("password") is not None:
        basic = base64.b64encode(f"{user['username']}:{user['password']}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"

    if user.get("as"):
        headers["Impersonate-User"] = str(user["as"])
    if user.get("as-uid"):
        headers["Impersonate-Uid"] = str(user["as-uid"])
    for key, values in (user.get("as-user-extra") or {}).items():
        for value in values:
            headers.setdefault(f"Impersonate-Extra-{key}", str(value))
    connection = Connection(
        scheme=scheme,
        host=host,
        port=port,
        base_path=parsed.path.rstrip("/"),
        ssl_context=context,
        headers=headers,
        timeout=resolved.request_timeout_seconds,
        tls_server_name=cluster.get("tls-server-name") or None,
        ca_pem=ca_pem or b"",
    )
    connection.headers.update({"Accept": JSON_CONTENT, "User-Agent": "kubectl-clusternet"})
    connection.impersonate_groups = [str(g) for g in user.get("as-groups") or []]
    return connection


def error_from_response(status: int, raw: bytes) -> ApiError:
    """An ApiError carrying the server's Status message and reason, as kubectl reports them."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        reason = str(body.get("reason") or "")
        message = str(body.get("message") or "")
        return ApiError(
            message or f"the server responded with status {status}", status=status, reason=reason, body=body
        )
    text = raw.decode(errors="replace").strip()
    reason = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 503: "ServiceUnavailable"}.get(
        status, ""
    )
    return ApiError(
        text or f"the server responded with status {status}", status=status, reason=reason, body=text
    )


def checked_watch_event(event: dict[str, Any]) -> dict[str, Any]:
    """A watch event, or the ApiError an ``ERROR`` event carries (410 Gone means: list again)."""
    if event.get("type") == "ERROR":
        obj = event.get("object") or {}
        raise ApiError(
            str(obj.get("message") or "watch failed"),
            status=int(obj.get("code") or 0),
            reason=str(obj.get("reason") or ""),
            body=obj,
        )
    return event


def token_connection(
    server: str, token: str | None, ca_pem: bytes | None, *, insecure: bool = False
) -> Connection:
    """A Connection from a server URL, a bearer token and a CA: how agents and the hub reach a cluster."""
    user: dict[str, Any] = {"token": token} if token else {}
    cluster: dict[str, Any] = {"server": server}
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    elif ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    resolved = ResolvedConfig(
        context_name="",
        cluster_name="",
        user_name="",
        namespace="default",
        namespace_explicit=False,
        cluster=cluster,
        user=user,
    )
    return connection_from_config(resolved)


class RestClient:
    """One keep-alive connection to one API server; methods return decoded JSON or raise ApiError."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._conn: HttpConnection | None = None
        self._lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------------------
    def _new_http_connection(self, timeout: float | None) -> HttpConnection:
        c = self.connection
        # tls-server-name: dial the host, but send SNI and check the certificate for that name (client-go).
        return HttpConnection(
            c.host,
            c.port,
            ssl_context=c.ssl_context if c.scheme == "https" else None,
            server_hostname=c.tls_server_name or c.host,
            timeout=timeout,
        )

    def _url(self, path: str, query: QueryParams | None) -> str:
        url = self.connection.base_path + path
        if query:
            items = list(query.items()) if isinstance(query, Mapping) else list(query)
            url += "?" + urllib.parse.urlencode(items)
        return url

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: QueryParams | None,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,
        fresh: bool,
    ) -> tuple[HttpConnection, HttpResponse]:
        all_headers = dict(self.connection.headers)
        all_headers.update(headers)
        header_list = list(all_headers.items())
        header_list.extend(("Impersonate-Group", group) for group in self.connection.impersonate_groups)
        url = self._url(path, query)
        for attempt in (0, 1):
            conn = self._new_http_connection(timeout) if fresh else self._reuse(timeout)
            try:
                return conn, conn.request(method, url, header_list, body)
            except ServerClosed:
                # A keep-alive connection the server already closed: retry once on a new one.
                conn.close()
                self._conn = None
                if attempt or fresh:
                    raise self._connection_failed(None) from None
            except ssl.SSLCertVerificationError as exc:
                conn.close()
                self._conn = None
                raise ConnectionFailed(
                    f"Unable to connect to the server: tls: failed to verify certificate: {exc.verify_message}"
                ) from exc
            except TimeoutError as exc:
                conn.close()
                self._conn = None
                raise ConnectionFailed(
                    "Unable to connect to the server: context deadline exceeded (Client.Timeout exceeded)"
                ) from exc
            except OSError as exc:
                conn.close()
                self._conn = None
                raise self._connection_failed(exc) from exc
        raise AssertionError("unreachable")

    def _connection_failed(self, exc: OSError | None) -> ConnectionFailed:
        c = self.connection
        if exc is None or isinstance(exc, ConnectionRefusedError):
            return ConnectionFailed(
                f"The connection to the server {c.host}:{c.port} was refused - did you specify the right host or port?"
            )
        return ConnectionFailed(f"Unable to connect to the server: {exc.strerror or exc}")

    def _reuse(self, timeout: float | None) -> HttpConnection:
        if self._conn is None:
            self._conn = self._new_http_connection(timeout)
        return self._conn

    @staticmethod
    def _error_from(status: int, raw: bytes) -> ApiError:
        return error_from_response(status, raw)

    # -- verbs ----------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: QueryParams | None = None,
        body: Any = None,
        content_type: str = JSON_CONTENT,
        accept: str = JSON_CONTENT,
        raw: bool = False,
    ) -> Any:
        """Send one request; return the decoded JSON body (or bytes with ``raw=True``)."""
        payload = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Accept": accept}
        if payload is not None:
            headers["Content-Type"] = content_type
        with self._lock:
            conn, response = self._send(
                method,
                path,
                query=query,
                body=payload,
                headers=headers,
                timeout=self.connection.timeout,
                fresh=False,
            )
            data = response.read()
            if response.will_close:
                conn.close()
                self._conn = None
        if response.status >= 400:
            raise self._error_from(response.status, data)
        if raw:
            return data
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ApiError(
                f"the server returned a body that is not JSON: {data[:200]!r}", status=response.status
            ) from exc

    def get(self, path: str, *, query: QueryParams | None = None, accept: str = JSON_CONTENT) -> Any:
        return self.request("GET", path, query=query, accept=accept)

    def create(self, path: str, body: Any, *, query: QueryParams | None = None) -> Any:
        return self.request("POST", path, body=body, query=query)

    def replace(self, path: str, body: Any, *, query: QueryParams | None = None) -> Any:
        return self.request("PUT", path, body=body, query=query)

    def patch(
        self,
        path: str,
        body: Any,
        *,
        patch_type: str = "application/merge-patch+json",
        query: QueryParams | None = None,
    ) -> Any:
        return self.request("PATCH", path, body=body, content_type=patch_type, query=query)

    def apply(
        self, path: str, body: Any, *, field_manager: str, force: bool = False, dry_run: bool = False
    ) -> Any:
        """Server-side apply: a PATCH with the apply content type (JSON is valid YAML)."""
        query = [("fieldManager", field_manager)]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        return self.request(
            "PATCH", path, body=body, content_type="application/apply-patch+yaml", query=query
        )

    def delete(self, path: str, *, query: QueryParams | None = None, body: Any = None) -> Any:
        return self.request("DELETE", path, query=query, body=body)

    def watch(self, path: str, *, query: QueryParams | None = None) -> Iterator[dict[str, Any]]:
        """Yield watch events (``{"type": ..., "object": ...}``) until the server ends the stream."""
        params = list(query.items()) if isinstance(query, Mapping) else list(query or [])
        params.append(("watch", "true"))
        conn, response = self._send(
            "GET", path, query=params, body=None, headers={"Accept": JSON_CONTENT}, timeout=None, fresh=True
        )
        try:
            if response.status >= 400:
                raise self._error_from(response.status, response.read())
            while True:
                line = response.readline()
                if not line:
                    return
                line = line.strip()
                if line:
                    yield checked_watch_event(json.loads(line))
        finally:
            conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
