"""One set of list+watch caches shared by the application controllers (scheduler, deployer, status,
feed protection), with every change fanned out to all of them together with the object as it was before.

The controllers need the same nine kinds; one cache per kind halves the watches and the memory, and
handing each listener the previous object lets it react only to the changes that matter to it (the
scheduler ignores heartbeats, the deployer ignores status it wrote itself, ApplyLater overrides wait).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any, Final

from kubectl_clusternet.core.apis.apps import (
    BASE,
    DESCRIPTION,
    GLOBALIZATION,
    HELM_CHART,
    HELM_RELEASE,
    LOCALIZATION,
    MANIFEST,
    SUBSCRIPTION,
)
from kubectl_clusternet.core.apis.clusters import MANAGED_CLUSTER
from kubectl_clusternet.core.apis.model import ResourceType
from kubectl_clusternet.core.hub import RESERVED_NAMESPACE
from kubectl_clusternet.core.render.descriptions import LABEL_SUBS_UID

from .informer import Informer

__all__ = [
    "AppsCache",
    "Listener",
    "SUBSCRIPTIONS",
    "CLUSTERS",
    "MANIFESTS",
    "LOCALIZATIONS",
    "GLOBALIZATIONS",
    "BASES",
    "DESCRIPTIONS",
    "HELM_CHARTS",
    "HELM_RELEASES",
]

_log = logging.getLogger(__name__)

SUBSCRIPTIONS: Final = "Subscription"
CLUSTERS: Final = "ManagedCluster"
MANIFESTS: Final = "Manifest"
LOCALIZATIONS: Final = "Localization"
GLOBALIZATIONS: Final = "Globalization"
BASES: Final = "Base"
DESCRIPTIONS: Final = "Description"
HELM_CHARTS: Final = "HelmChart"
HELM_RELEASES: Final = "HelmRelease"

_WATCHED: Final[tuple[tuple[str, ResourceType, str | None], ...]] = (
    (SUBSCRIPTIONS, SUBSCRIPTION, None),
    (CLUSTERS, MANAGED_CLUSTER, None),
    (MANIFESTS, MANIFEST, RESERVED_NAMESPACE),
    (LOCALIZATIONS, LOCALIZATION, None),
    (GLOBALIZATIONS, GLOBALIZATION, None),
    (BASES, BASE, None),
    (DESCRIPTIONS, DESCRIPTION, None),
    (HELM_CHARTS, HELM_CHART, None),
    (HELM_RELEASES, HELM_RELEASE, None),
)
# Kinds indexed by the UID of the Subscription they were rendered for (label subs.uid).
_BY_SUBSCRIPTION: Final = (BASES, DESCRIPTIONS)

Listener = Callable[[str, str, "dict[str, Any] | None", "dict[str, Any] | None"], None]
"""``(kind, key, old, new)``: ``old`` is None for an addition, ``new`` None for a deletion."""


def _subscription_uid(obj: dict[str, Any] | None) -> str:
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return str(labels.get(LABEL_SUBS_UID) or "")


class AppsCache:
    """Informers for the kinds the application controllers read; ``listen`` to hear about changes."""

    def __init__(self, client: Any) -> None:
        self._informers: dict[str, Informer] = {
            kind: Informer(client, resource_type, functools.partial(self._changed, kind), namespace=namespace)
            for kind, resource_type, namespace in _WATCHED
        }
        self._previous: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind, _, _ in _WATCHED}
        self._by_subscription: dict[str, dict[str, set[str]]] = {kind: {} for kind in _BY_SUBSCRIPTION}
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _changed(self, kind: str, key: str) -> None:
        old = self._previous[kind].get(key)
        new = self._informers[kind].get(key)
        if new is None:
            self._previous[kind].pop(key, None)
        else:
            self._previous[kind][key] = new
        if kind in self._by_subscription:
            index = self._by_subscription[kind]
            old_uid, new_uid = _subscription_uid(old), _subscription_uid(new)
            if old_uid and old_uid != new_uid:
                index.get(old_uid, set()).discard(key)
                if not index.get(old_uid):
                    index.pop(old_uid, None)
            if new_uid:
                index.setdefault(new_uid, set()).add(key)
        for listener in self._listeners:
            try:
                listener(kind, key, old, new)
            except Exception:
                _log.exception("a listener failed on %s %s", kind, key)

    # reads --------------------------------------------------------------------------------------------

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return self._informers[kind].get(key)

    def items(self, kind: str) -> Iterable[dict[str, Any]]:
        return list(self._informers[kind].cache.values())

    def rendered_for(self, kind: str, subscription_uid: str) -> list[dict[str, Any]]:
        """The Bases or Descriptions labelled with a Subscription's UID."""
        keys = self._by_subscription[kind].get(subscription_uid) or set()
        found = (self._informers[kind].get(key) for key in sorted(keys))
        return [obj for obj in found if obj is not None]

    @property
    def synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self._informers.values())

    async def wait_synced(self) -> None:
        for informer in self._informers.values():
            await informer.synced.wait()

    async def run(self) -> None:
        await asyncio.gather(*(informer.run() for informer in self._informers.values()))
