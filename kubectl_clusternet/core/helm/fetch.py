"""Reading Helm repositories over HTTP(S): ``index.yaml`` and chart archives.

Our own small client instead of the Helm SDK's, so the hub can verify HelmCharts without the optional
``helm-python-sdk`` (≈250 MB) and both daemons share one cache-free, credential-scoped implementation:
basic auth goes only to the repository's own origin, and every request has a deadline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from .repo import (
    ChartVersion,
    RepoError,
    archive_url,
    find_chart_version,
    index_url,
    parse_index,
    same_origin,
)

__all__ = [
    "RepoCredentials",
    "credentials_from_secret",
    "fetch_index",
    "resolve_chart",
    "fetch_archive",
    "DEFAULT_TIMEOUT",
]

#: Upstream gives OCI lookups 15 s; an index is no different.
DEFAULT_TIMEOUT: Final = 15.0
#: Archives and indexes beyond this are refused rather than held in memory.
_MAX_BYTES: Final = 64 * 1024 * 1024


@dataclass(frozen=True)
class RepoCredentials:
    username: str = ""
    password: str = ""

    def __bool__(self) -> bool:
        return bool(self.username or self.password)

    def __repr__(self) -> str:  # never print the password
        return f"RepoCredentials(username={self.username!r})"


def credentials_from_secret(secret: Mapping[str, Any]) -> RepoCredentials:
    """``username`` / ``password`` keys of a chartPullSecret (``data`` base64, or ``stringData``)."""
    data = secret.get("data") or {}
    plain = secret.get("stringData") or {}

    def value(key: str) -> str:
        if plain.get(key):
            return str(plain[key])
        raw = data.get(key)
        if not raw:
            return ""
        try:
            return base64.b64decode(str(raw), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise RepoError(f"key {key} of the chartPullSecret is not base64 text") from exc

    return RepoCredentials(value("username"), value("password"))


async def _get(url: str, credentials: RepoCredentials, timeout: float) -> bytes:
    auth = aiohttp.BasicAuth(credentials.username, credentials.password) if credentials else None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, auth=auth) as response:
                if response.status != 200:
                    hint = " (check the chartPullSecret)" if response.status in (401, 403) else ""
                    raise RepoError(f"GET {url}: HTTP {response.status} {response.reason}{hint}")
                body = await response.content.read(_MAX_BYTES + 1)
                if len(body) > _MAX_BYTES:
                    raise RepoError(f"GET {url}: larger than {_MAX_BYTES // (1024 * 1024)} MiB")
                return body
    except aiohttp.ClientError as exc:
        raise RepoError(f"GET {url}: {exc}") from exc
    except TimeoutError as exc:
        raise RepoError(f"GET {url}: no answer within {timeout:.0f}s") from exc


async def fetch_index(
    repo: str, credentials: RepoCredentials = RepoCredentials(), *, timeout: float = DEFAULT_TIMEOUT
) -> dict[str, Any]:
    url = index_url(repo)
    return parse_index(await _get(url, credentials, timeout), url)


async def resolve_chart(
    repo: str,
    chart: str,
    version: str,
    credentials: RepoCredentials = RepoCredentials(),
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> ChartVersion:
    """The index entry for ``chart``/``version``; ``ChartNotFound`` or ``RepoError`` otherwise."""
    return find_chart_version(await fetch_index(repo, credentials, timeout=timeout), chart, version, repo)


async def fetch_archive(
    repo: str,
    entry: ChartVersion,
    credentials: RepoCredentials = RepoCredentials(),
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> bytes:
    """The chart's ``.tgz``, checked against the index's digest when it has one."""
    url = archive_url(repo, entry)
    data = await _get(url, credentials if same_origin(repo, url) else RepoCredentials(), timeout)
    if entry.digest:
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry.digest.removeprefix("sha256:"):
            raise RepoError(f"{url}: digest sha256:{actual} does not match the index ({entry.digest})")
    return data
