"""A deliberately tiny HTTPS client for seeding fresh control planes.

The `kubernetes` package is reserved for `core/kube`; starting a fleet only needs a handful of
create/patch calls, so plain urllib with a client-certificate TLS context is enough.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["AdminApi", "HttpFailure", "loopback_opener"]


class HttpFailure(Exception):
    """The API server answered with a non-2xx status (internal; callers turn it into LocalFleetError)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def loopback_opener(context: ssl.SSLContext | None = None) -> urllib.request.OpenerDirector:
    """An opener that ignores *_proxy variables: fleet traffic must never leave loopback."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


@dataclass
class AdminApi:
    """JSON requests to one kube-apiserver as `kubernetes-admin`."""

    server: str
    ca_file: Path
    cert_file: Path
    key_file: Path
    timeout: float = 10.0

    def __post_init__(self) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        self._opener = loopback_opener(context)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """Send one request; return (status, decoded body), raising HttpFailure on non-2xx."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raise HttpFailure(exc.code, exc.read().decode("utf-8", "replace")) from None
        if not raw:
            return status, None
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def create(self, path: str, body: dict[str, Any]) -> None:
        """POST an object, treating AlreadyExists as success so seeding can be repeated."""
        try:
            self.request("POST", path, body)
        except HttpFailure as failure:
            if failure.status != 409:
                raise

    def merge_patch(self, path: str, patch: dict[str, Any]) -> None:
        self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    def exists(self, path: str) -> bool:
        try:
            self.request("GET", path)
        except HttpFailure as failure:
            if failure.status == 404:
                return False
            raise
        return True
