"""What kinds a cluster serves: kind -> plural and scope, from the API server's discovery documents.

Needed for objects the toolkit has no built-in definition of (Deployments, custom resources): the Manifest
name uses the plural, and validation must know whether the kind is namespaced.
"""

from __future__ import annotations

from ..apis.model import AGE_COLUMN, ResourceType
from ..errors import ApiError, NotFoundError
from .rest import RestClient

__all__ = ["Discovery"]


class Discovery:
    """Per-client cache of group-version resource lists (one request per group-version, on first use)."""

    def __init__(self, client: RestClient) -> None:
        self._client = client
        self._by_group_version: dict[str, list[ResourceType]] = {}
        self._preferred: list[tuple[str, str]] | None = None

    def _resources(self, api_version: str) -> list[ResourceType]:
        if api_version not in self._by_group_version:
            path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
            group, _, version = api_version.rpartition("/")
            try:
                listing = self._client.get(path)
            except ApiError as exc:
                if exc.status == 404:
                    listing = {"resources": []}
                else:
                    raise
            types = []
            for resource in listing.get("resources") or []:
                if "/" in str(resource.get("name")):
                    continue  # subresources such as deployments/scale
                types.append(
                    ResourceType(
                        group=group,
                        version=version,
                        kind=str(resource.get("kind")),
                        plural=str(resource.get("name")),
                        singular=str(resource.get("singularName") or str(resource.get("kind")).lower()),
                        namespaced=bool(resource.get("namespaced")),
                        short_names=tuple(resource.get("shortNames") or ()),
                        categories=tuple(resource.get("categories") or ()),
                        printer_columns=(AGE_COLUMN,),
                    )
                )
            self._by_group_version[api_version] = types
        return self._by_group_version[api_version]

    def resource_for(self, api_version: str, kind: str) -> ResourceType:
        """The resource serving ``kind`` in ``api_version``, or a kubectl-worded NotFoundError."""
        for resource_type in self._resources(api_version):
            if resource_type.kind == kind:
                return resource_type
        raise NotFoundError(
            f'resource mapping not found for kind "{kind}" in version "{api_version}": '
            "ensure CRDs are installed first"
        )

    def preferred_versions(self) -> list[tuple[str, str]]:
        """(group, preferred version) of every group the server serves, the core group first."""
        if self._preferred is None:
            preferred = [("", "v1")]
            for group in self._client.get("/apis").get("groups") or []:
                version = (group.get("preferredVersion") or {}).get("version")
                if version:
                    preferred.append((str(group.get("name")), str(version)))
            self._preferred = preferred
        return self._preferred

    def find_by_name(self, word: str) -> ResourceType | None:
        """A served resource named ``word`` (plural, singular, kind or short name; ``plural.group`` too)."""
        lowered = word.lower()
        for group, version in self.preferred_versions():
            api_version = f"{group}/{version}" if group else version
            for resource_type in self._resources(api_version):
                if resource_type.matches(lowered):
                    return resource_type
        return None
