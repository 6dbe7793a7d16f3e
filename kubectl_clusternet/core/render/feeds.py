"""Feeds and object identities: the keys every rendering step uses to line objects up.

A *feed* is the ``{apiVersion, kind, namespace, name}`` reference a Subscription, Base, Localization or
Globalization carries; a *feed object* is the object it resolves to (a Manifest template or a HelmChart).
Keeping the key formats in one module means the scheduler's ``status.replicas`` keys, the override
matching and the pruning keys cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = [
    "FeedRef",
    "ObjectKey",
    "feed_ref",
    "feed_ref_of_object",
    "feed_key",
    "object_key",
    "group_of",
    "describe_object",
]


class FeedRef(NamedTuple):
    """A feed reference in a hashable, comparable form; ``namespace`` is ``""`` for cluster-scoped feeds."""

    api_version: str
    kind: str
    namespace: str
    name: str


class ObjectKey(NamedTuple):
    """How a child-cluster object is identified for pruning: the version is left out on purpose, so an
    object whose apiVersion changed between two renders is updated, not deleted."""

    group: str
    kind: str
    namespace: str
    name: str


def feed_ref(feed: Mapping[str, Any]) -> FeedRef:
    """The reference as written in a ``spec.feeds[]`` entry or a Localization's ``spec.feed``."""
    return FeedRef(
        str(feed.get("apiVersion") or ""),
        str(feed.get("kind") or ""),
        str(feed.get("namespace") or ""),
        str(feed.get("name") or ""),
    )


def feed_ref_of_object(obj: Mapping[str, Any]) -> FeedRef:
    """The reference that names ``obj`` itself (so overrides written for a feed find its object)."""
    metadata = obj.get("metadata") or {}
    return FeedRef(
        str(obj.get("apiVersion") or ""),
        str(obj.get("kind") or ""),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name") or ""),
    )


def feed_key(feed: Mapping[str, Any] | FeedRef) -> str:
    """The key of ``Subscription.status.replicas``: ``<apiVersion>/<Kind>/<namespace>/<name>``, or
    ``<apiVersion>/<Kind>/<name>`` for a cluster-scoped feed (upstream's format, so status written by either
    implementation reads the same)."""
    ref = feed if isinstance(feed, FeedRef) else feed_ref(feed)
    if ref.namespace:
        return f"{ref.api_version}/{ref.kind}/{ref.namespace}/{ref.name}"
    return f"{ref.api_version}/{ref.kind}/{ref.name}"


def group_of(api_version: str) -> str:
    """The API group of an apiVersion: ``apps/v1`` → ``apps``, ``v1`` → ``""`` (the core group)."""
    group, slash, _version = api_version.rpartition("/")
    return group if slash else ""


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    """The pruning key of a rendered object."""
    metadata = obj.get("metadata") or {}
    return ObjectKey(
        group_of(str(obj.get("apiVersion") or "")),
        str(obj.get("kind") or ""),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name") or ""),
    )


def describe_object(obj: Mapping[str, Any]) -> str:
    """A short human name for messages: ``apps/v1 Deployment web/nginx`` or ``v1 Namespace web``."""
    ref = feed_ref_of_object(obj)
    where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
    return f"{ref.api_version} {ref.kind} {where}".strip()
