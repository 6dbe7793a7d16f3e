"""Resource types as data: what a CRD declares, kept in one place so CRDs, printers and the CLI agree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PrinterColumn", "ResourceType", "AGE_COLUMN"]


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry; ``priority`` > 0 means shown with ``-o wide`` only."""

    name: str
    type: str
    json_path: str
    priority: int = 0
    description: str = ""

    def to_crd(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            column["description"] = self.description
        if self.priority:
            column["priority"] = self.priority
        return column


AGE_COLUMN = PrinterColumn("AGE", "date", ".metadata.creationTimestamp")


@dataclass(frozen=True)
class ResourceType:
    """A kind the toolkit knows: its REST coordinates, names, printer columns and (for CRDs) its schema."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = (AGE_COLUMN,)
    schema: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    status_subresource: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``plural.group`` as kubectl prints it in ``-o name`` and mutation messages (``deployment.apps``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def name_prefix(self) -> str:
        """``kind.group`` in lower case, the prefix kubectl uses for ``-o name`` (``deployment.apps/web``)."""
        lower = self.kind.lower()
        return f"{lower}.{self.group}" if self.group else lower

    def collection_path(self, namespace: str | None = None) -> str:
        """The REST path of the collection; ``namespace=None`` on a namespaced type means all namespaces."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection_path(namespace)}/{name}"

    def matches(self, word: str) -> bool:
        """True when ``word`` names this type as kubectl would accept it (kind, plural, singular, short name,
        optionally qualified with the group, as in ``subscriptions.apps.clusternet.io``)."""
        lowered = word.lower()
        names = {self.plural, self.singular, self.kind.lower(), *self.short_names}
        if lowered in names:
            return True
        if self.group:
            return any(lowered == f"{n}.{self.group}" for n in names) or any(
                lowered == f"{n}.{self.version}.{self.group}" for n in names
            )
        return False
