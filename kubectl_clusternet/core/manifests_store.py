"""Native objects to distribute, stored as ``Manifest`` objects in the reserved namespace.

Upstream Clusternet keeps such "feeds" behind an aggregated shadow API; we store the same Manifests
(same names, same ``apps.clusternet.io/config.*`` labels) directly, so a hub that resolves feeds by those
labels finds them either way. Everything here is pure: names, labels, trimming and the reverse mapping.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from .apis.apps import MANIFEST
from .hub import RESERVED_NAMESPACE

__all__ = [
    "LABEL_CONFIG_GROUP",
    "LABEL_CONFIG_VERSION",
    "LABEL_CONFIG_KIND",
    "LABEL_CONFIG_NAME",
    "LABEL_CONFIG_NAMESPACE",
    "LABEL_CREATED_BY",
    "manifest_name",
    "manifest_labels",
    "manifest_for",
    "object_from_manifest",
    "trim_template",
    "kind_selector",
    "split_api_version",
]

LABEL_CONFIG_GROUP: Final = "apps.clusternet.io/config.group"
LABEL_CONFIG_VERSION: Final = "apps.clusternet.io/config.version"
LABEL_CONFIG_KIND: Final = "apps.clusternet.io/config.kind"
LABEL_CONFIG_NAME: Final = "apps.clusternet.io/config.name"
LABEL_CONFIG_NAMESPACE: Final = "apps.clusternet.io/config.namespace"
LABEL_CREATED_BY: Final = "clusternet.io/created-by"
CREATED_BY_VALUE: Final = "kubectl-clusternet"

# Server-owned metadata that has no place in a template (it would be stale or rejected in a child).
_SERVER_METADATA = ("creationTimestamp", "managedFields", "resourceVersion", "selfLink", "uid", "generation")


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> (``apps``, ``v1``); ``v1`` -> (``""``, ``v1``)."""
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def manifest_name(plural: str, name: str, namespace: str | None) -> str:
    """``<plural>.<namespace>.<name>`` for namespaced objects, ``<plural>.<name>`` otherwise (upstream's names)."""
    return f"{plural}.{namespace}.{name}" if namespace else f"{plural}.{name}"


def manifest_labels(obj: Mapping[str, Any], namespaced: bool) -> dict[str, str]:
    """The object's own labels plus the config.* labels feeds are resolved by."""
    metadata = obj.get("metadata") or {}
    group, version = split_api_version(str(obj.get("apiVersion") or ""))
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    labels.update(
        {
            LABEL_CONFIG_GROUP: group,
            LABEL_CONFIG_VERSION: version,
            LABEL_CONFIG_KIND: str(obj.get("kind") or ""),
            LABEL_CONFIG_NAME: str(metadata.get("name") or ""),
            LABEL_CONFIG_NAMESPACE: str(metadata.get("namespace") or "") if namespaced else "",
            LABEL_CREATED_BY: CREATED_BY_VALUE,
        }
    )
    return labels


def trim_template(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object as it should travel to children: no status, no server-owned metadata, and no fields the
    parent allocated for itself (a Service's cluster IPs and node ports, a Job's controller-uid)."""
    template = copy.deepcopy(dict(obj))
    template.pop("status", None)
    metadata = template.setdefault("metadata", {})
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
    annotations = metadata.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if not annotations:
        metadata.pop("annotations", None)
    kind = template.get("kind")
    spec = template.get("spec")
    if kind == "Service" and isinstance(spec, dict):
        if spec.get("clusterIP") != "None":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)
            spec.pop("healthCheckNodePort", None)
    if kind == "Job" and isinstance(spec, dict):
        for labels in (
            (spec.get("selector") or {}).get("matchLabels") or {},
            ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {},
        ):
            labels.pop("controller-uid", None)
            labels.pop("job-name", None)
    return template


def manifest_for(obj: Mapping[str, Any], *, plural: str, namespaced: bool) -> dict[str, Any]:
    """The Manifest that stores ``obj`` (already validated) in the reserved namespace."""
    metadata = obj.get("metadata") or {}
    namespace = str(metadata.get("namespace") or "") if namespaced else None
    return {
        "apiVersion": MANIFEST.api_version,
        "kind": MANIFEST.kind,
        "metadata": {
            "name": manifest_name(plural, str(metadata.get("name") or ""), namespace),
            "namespace": RESERVED_NAMESPACE,
            "labels": manifest_labels(obj, namespaced),
        },
        "template": trim_template(obj),
    }


def object_from_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The distributed object as a user thinks of it: the template, with the Manifest's identity and age."""
    template = copy.deepcopy(dict(manifest.get("template") or {}))
    metadata = template.setdefault("metadata", {})
    source = manifest.get("metadata") or {}
    for key in ("uid", "creationTimestamp", "resourceVersion", "generation", "deletionTimestamp"):
        if key in source:
            metadata[key] = source[key]
    return template


def kind_selector(group: str, kind: str, namespace: str | None, name: str | None = None) -> str:
    """The label selector that lists the Manifests of one kind (in one namespace, optionally one name)."""
    parts = [f"{LABEL_CONFIG_GROUP}={group}", f"{LABEL_CONFIG_KIND}={kind}"]
    if namespace is not None:
        parts.append(f"{LABEL_CONFIG_NAMESPACE}={namespace}")
    if name is not None:
        parts.append(f"{LABEL_CONFIG_NAME}={name}")
    return ",".join(parts)
