"""The Clusternet APIs as data: every kind, its names, printer columns and schema."""

from __future__ import annotations

from . import apps, clusters
from .model import AGE_COLUMN, PrinterColumn, ResourceType

__all__ = [
    "AGE_COLUMN",
    "CLUSTERNET_TYPES",
    "PrinterColumn",
    "ResourceType",
    "find_type",
    "types_in_category",
]

CLUSTERNET_TYPES: tuple[ResourceType, ...] = (
    clusters.CLUSTER_REGISTRATION_REQUEST,
    clusters.MANAGED_CLUSTER,
    apps.SUBSCRIPTION,
    apps.BASE,
    apps.DESCRIPTION,
    apps.HELM_CHART,
    apps.HELM_RELEASE,
    apps.LOCALIZATION,
    apps.GLOBALIZATION,
    apps.MANIFEST,
    apps.FEED_INVENTORY,
)


def find_type(word: str) -> ResourceType | None:
    """The Clusternet kind ``word`` names (kind, plural, singular or short name, optionally group-qualified)."""
    for resource_type in CLUSTERNET_TYPES:
        if resource_type.matches(word):
            return resource_type
    return None


def types_in_category(category: str) -> tuple[ResourceType, ...]:
    return tuple(t for t in CLUSTERNET_TYPES if category in t.categories)
