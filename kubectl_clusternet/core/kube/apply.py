"""Apply with kubectl's verdicts (created / configured / unchanged) on top of server-side apply.

The verdict comes from comparing what we want with what is there before writing: server-side apply alone
cannot tell "configured" from "unchanged", and writing an unchanged object would only churn resourceVersions.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

from ..apis import CLUSTERNET_TYPES
from ..apis.builtin import BUILTIN_TYPES, CUSTOM_RESOURCE_DEFINITION
from ..apis.model import ResourceType
from ..errors import ApiError, ClusternetError, NotFoundError
from .rest import RestClient

__all__ = ["FIELD_MANAGER", "ApplyVerdict", "type_of", "apply_object", "is_subset", "wait_for_crds"]

FIELD_MANAGER = "kubectl-clusternet"
ApplyVerdict = Literal["created", "configured", "unchanged"]


def type_of(obj: Mapping[str, Any]) -> ResourceType:
    """The known ResourceType of an object by apiVersion and kind."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    for resource_type in (*CLUSTERNET_TYPES, *BUILTIN_TYPES):
        if resource_type.api_version == api_version and resource_type.kind == kind:
            return resource_type
    raise NotFoundError(f'no matches for kind "{kind}" in version "{api_version}"')


def is_subset(wanted: Any, actual: Any) -> bool:
    """True when every field of ``wanted`` is present with the same value in ``actual`` (lists compared whole)."""
    if isinstance(wanted, Mapping):
        if not isinstance(actual, Mapping):
            return False
        return all(key in actual and is_subset(value, actual[key]) for key, value in wanted.items())
    if isinstance(wanted, list):
        if not isinstance(actual, list) or len(wanted) != len(actual):
            return False
        return all(is_subset(w, a) for w, a in zip(wanted, actual, strict=True))
    return bool(wanted == actual)


def apply_object(
    client: RestClient, obj: Mapping[str, Any], *, dry_run: bool = False, plan_only: bool = False
) -> ApplyVerdict:
    """Create ``obj`` if absent, server-side apply it if it differs, else leave it alone.

    ``dry_run`` asks the server to validate without persisting; ``plan_only`` only reads (kubectl's
    client-side dry run)."""
    resource_type = type_of(obj)
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name") or "")
    namespace = metadata.get("namespace") if resource_type.namespaced else None
    path = resource_type.object_path(name, namespace)
    try:
        existing = client.get(path)
    except ApiError as exc:
        if exc.status != 404:
            raise
        existing = None
    if existing is not None and is_subset(obj, existing):
        return "unchanged"
    if not plan_only:
        client.apply(path, dict(obj), field_manager=FIELD_MANAGER, force=True, dry_run=dry_run)
    return "created" if existing is None else "configured"


def wait_for_crds(client: RestClient, names: list[str], *, timeout: float) -> None:
    """Block until every named CRD is Established, so objects of those kinds can be created right after."""
    deadline = time.monotonic() + timeout
    for name in names:
        path = CUSTOM_RESOURCE_DEFINITION.object_path(name)
        while True:
            crd = client.get(path)
            conditions = (crd.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                break
            if time.monotonic() >= deadline:
                raise ClusternetError(
                    f"timed out waiting for CustomResourceDefinition {name} to be established"
                )
            time.sleep(0.1)
