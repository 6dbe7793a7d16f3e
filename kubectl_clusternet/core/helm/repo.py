"""Finding a chart version in a Helm repository index (``index.yaml``) or among OCI tags: pure logic.

Both the hub (verifying a HelmChart, reference §2.6/§7.6) and an agent (downloading the chart to install)
resolve ``repo`` + ``chart`` + ``version`` the same way, so the hub's ``Found`` means the agent will find
the same version. Resolution follows Helm's: an exact version string wins, otherwise the newest version
allowed by the constraint (empty = newest stable release).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml

from kubectl_clusternet.core.errors import ClusternetError

from .semver import InvalidVersion, Version, parse_constraint, parse_version

__all__ = [
    "ChartNotFound",
    "RepoError",
    "ChartVersion",
    "is_oci",
    "index_url",
    "archive_url",
    "same_origin",
    "parse_index",
    "find_chart_version",
    "pick_tag",
    "oci_reference",
]


class RepoError(ClusternetError):
    """The repository could not be read (unreachable, refused, not an index)."""


class ChartNotFound(ClusternetError):
    """The repository answered, and it has no such chart or no version matching the request."""


@dataclass(frozen=True)
class ChartVersion:
    """One entry of an index: what to download and how to check it."""

    name: str
    version: str
    urls: tuple[str, ...] = ()
    digest: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def is_oci(repo: str) -> bool:
    return repo.strip().lower().startswith("oci://")


def _base(repo: str) -> str:
    return repo.strip().rstrip("/") + "/"


def index_url(repo: str) -> str:
    return urljoin(_base(repo), "index.yaml")


def archive_url(repo: str, entry: ChartVersion) -> str:
    """Where the chart archive is: index URLs may be relative to the repository (Helm's rule)."""
    if not entry.urls:
        raise RepoError(f"chart {entry.name} {entry.version} has no download URL in {index_url(repo)}")
    return urljoin(_base(repo), entry.urls[0])


def same_origin(first: str, second: str) -> bool:
    """Whether credentials for ``first`` may be sent to ``second`` (Helm sends them to the repo's host
    only, so an index pointing at another host never receives the password)."""
    a, b = urlsplit(first), urlsplit(second)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def parse_index(text: str | bytes, where: str = "index.yaml") -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RepoError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict) or not isinstance(loaded.get("entries", {}), dict):
        raise RepoError(f"{where} is not a Helm repository index (no entries map)")
    return loaded


def _entries(index: Mapping[str, Any], chart: str) -> list[ChartVersion]:
    found = []
    for raw in (index.get("entries") or {}).get(chart) or []:
        if not isinstance(raw, Mapping):
            continue
        urls = raw.get("urls") or []
        found.append(
            ChartVersion(
                name=str(raw.get("name") or chart),
                version=str(raw.get("version") or ""),
                urls=tuple(str(u) for u in urls) if isinstance(urls, list) else (),
                digest=str(raw.get("digest") or ""),
                extra=raw,
            )
        )
    return found


def _newest_first(candidates: Iterable[tuple[str, Any]]) -> list[tuple[Version, Any]]:
    parsed = []
    for text, item in candidates:
        try:
            parsed.append((parse_version(text), item))
        except InvalidVersion:
            continue  # Helm skips entries whose version is not semver
    parsed.sort(key=lambda pair: pair[0].key(), reverse=True)
    return parsed


def _describe(chart: str, version: str) -> str:
    return f"chart {chart!r}" + (f" version {version!r}" if version else "")


def find_chart_version(index: Mapping[str, Any], chart: str, version: str, repo: str = "") -> ChartVersion:
    """The index entry to install; ``ChartNotFound`` says which part is missing."""
    where = f" in repository {repo}" if repo else ""
    entries = _entries(index, chart)
    if not entries:
        raise ChartNotFound(f"no chart named {chart!r}{where}")
    version = version.strip()
    for entry in entries:
        if version and entry.version == version:
            return entry
    try:
        constraint = parse_constraint(version)
    except InvalidVersion as exc:
        raise ChartNotFound(f"{_describe(chart, version)}{where}: {exc}") from exc
    for parsed, entry in _newest_first((e.version, e) for e in entries):
        if constraint.allows(parsed):
            found: ChartVersion = entry
            return found
    available = ", ".join(e.version for e in entries[:10])
    raise ChartNotFound(f"no version of {_describe(chart, version)}{where} (available: {available})")


def oci_reference(repo: str, chart: str) -> str:
    """``oci://host/path`` + chart → ``oci://host/path/chart`` (a full reference is kept as is)."""
    base = repo.strip().rstrip("/")
    return base if base.rsplit("/", 1)[-1] == chart else f"{base}/{chart}"


def pick_tag(tags: Iterable[str], chart: str, version: str, repo: str = "") -> str:
    """The OCI tag to install: exact, else the newest allowed by the constraint. OCI tags cannot hold
    ``+`` so registries store build metadata as ``_``; Helm maps it back, and so do we."""
    where = f" in {repo}" if repo else ""
    normal = {tag.replace("_", "+"): tag for tag in tags}
    version = version.strip()
    if version and version in normal:
        return version
    if not normal:
        raise ChartNotFound(f"no chart named {chart!r}{where} (no tags)")
    try:
        constraint = parse_constraint(version)
    except InvalidVersion as exc:
        raise ChartNotFound(f"{_describe(chart, version)}{where}: {exc}") from exc
    for parsed, text in _newest_first((t, t) for t in normal):
        if constraint.allows(parsed):
            picked: str = text
            return picked
    raise ChartNotFound(f"no version of {_describe(chart, version)}{where}")
