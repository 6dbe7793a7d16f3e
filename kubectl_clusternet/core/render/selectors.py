"""Label selectors over ManagedCluster labels, and the ordering of Globalization/Localization overrides.

Both decide *which* overrides a cluster gets and in what order, which is the part of rendering users
reason about ("my Localization should win"), so the rules live together: Globalizations before
Localizations, each by ascending ``spec.priority`` (default 500) then by age, terminating ones ignored.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final

from kubectl_clusternet.core.render.errors import SelectorError
from kubectl_clusternet.core.render.feeds import FeedRef, feed_ref

__all__ = [
    "SelectorError",
    "DEFAULT_OVERRIDE_PRIORITY",
    "SELECTOR_OPERATORS",
    "LabelMatcher",
    "validate_selector",
    "selector_matches",
    "override_order_key",
    "sort_override_sources",
    "collect_overrides",
    "is_terminating",
]

DEFAULT_OVERRIDE_PRIORITY: Final = 500
SELECTOR_OPERATORS: Final = ("In", "NotIn", "Exists", "DoesNotExist")

# Objects without a creationTimestamp (not yet persisted) sort before any persisted one.
_NO_TIMESTAMP: Final = datetime.min.replace(tzinfo=timezone.utc)


def _expressions(selector: Mapping[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """The selector's requirements as ``(key, operator, values)``, validated like Kubernetes does."""
    requirements: list[tuple[str, str, tuple[str, ...]]] = []
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError("matchLabels must be a map of strings")
    for key, value in match_labels.items():
        requirements.append((str(key), "In", (str(value),)))
    match_expressions = selector.get("matchExpressions") or []
    if not isinstance(match_expressions, Sequence) or isinstance(match_expressions, str):
        raise SelectorError("matchExpressions must be a list")
    for expression in match_expressions:
        if not isinstance(expression, Mapping):
            raise SelectorError("every matchExpressions entry must be an object")
        key = str(expression.get("key") or "")
        operator = str(expression.get("operator") or "")
        raw_values = expression.get("values") or []
        if not isinstance(raw_values, Sequence) or isinstance(raw_values, str):
            raise SelectorError(f"values of the {key!r} requirement must be a list")
        values = tuple(str(value) for value in raw_values)
        if operator not in SELECTOR_OPERATORS:
            raise SelectorError(f"{operator!r} is not a valid label selector operator")
        if operator in ("In", "NotIn") and not values:
            raise SelectorError(f"for 'In', 'NotIn' operators, values set can't be empty (key {key!r})")
        if operator in ("Exists", "DoesNotExist") and values:
            raise SelectorError(
                f"values set must be empty for exists and does not exist operators (key {key!r})"
            )
        requirements.append((key, operator, values))
    return requirements


def validate_selector(selector: Mapping[str, Any] | None) -> None:
    """Raise :class:`SelectorError` when ``selector`` is malformed; checking up front lets a controller
    report a bad affinity once instead of once per cluster."""
    LabelMatcher(selector)


class LabelMatcher:
    """A validated selector, ready to test many label sets (one per cluster) without re-parsing it."""

    __slots__ = ("_requirements",)

    def __init__(self, selector: Mapping[str, Any] | None) -> None:
        self._requirements = _expressions(selector) if selector else []

    def __call__(self, labels: Mapping[str, str]) -> bool:
        for key, operator, values in self._requirements:
            present = key in labels
            if operator == "In":
                if not present or labels[key] not in values:
                    return False
            elif operator == "NotIn":
                if present and labels[key] in values:
                    return False
            elif operator == "Exists":
                if not present:
                    return False
            elif present:  # DoesNotExist
                return False
        return True


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy a Kubernetes LabelSelector (``matchLabels`` and ``matchExpressions``
    with In/NotIn/Exists/DoesNotExist). An empty or missing selector selects everything."""
    return LabelMatcher(selector)(labels)


def is_terminating(obj: Mapping[str, Any]) -> bool:
    """True once ``metadata.deletionTimestamp`` is set: such objects must no longer take effect."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def _timestamp(value: Any) -> datetime:
    if not value:
        return _NO_TIMESTAMP
    return _parse_timestamp(str(value))


@functools.lru_cache(maxsize=4096)
def _parse_timestamp(text: str) -> datetime:
    # Objects created together share timestamps, so a small cache saves most parses in big lists.
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return _NO_TIMESTAMP
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def override_order_key(source: Mapping[str, Any]) -> tuple[int, datetime, str, str]:
    """Sort key of a Globalization or Localization: priority, then creation time (oldest first).

    Namespace and name only break remaining ties, so the order never depends on how a list was returned.
    Upstream compares the seconds-of-minute of the timestamps only; the whole timestamp is what its
    documentation describes, so that is what we compare.
    """
    metadata = source.get("metadata") or {}
    spec = source.get("spec") or {}
    priority = spec.get("priority")
    return (
        DEFAULT_OVERRIDE_PRIORITY if priority is None else int(priority),
        _timestamp(metadata.get("creationTimestamp")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name") or ""),
    )


def sort_override_sources(sources: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Live (non-terminating) Globalizations or Localizations in application order."""
    return sorted((source for source in sources if not is_terminating(source)), key=override_order_key)


def _targets(source: Mapping[str, Any], feed: FeedRef | None) -> bool:
    if feed is None:
        return True
    return feed_ref((source.get("spec") or {}).get("feed") or {}) == feed


def collect_overrides(
    globalizations: Iterable[Mapping[str, Any]],
    localizations: Iterable[Mapping[str, Any]],
    cluster_labels: Mapping[str, str],
    *,
    feed: Mapping[str, Any] | FeedRef | None = None,
) -> list[dict[str, Any]]:
    """The OverrideConfigs one cluster gets, in the order they must be applied.

    Globalizations whose ``spec.clusterAffinity`` matches ``cluster_labels`` (no affinity = every cluster)
    come first, then the Localizations (the caller passes those of the cluster's namespace); each group
    sorted by :func:`override_order_key`, terminating objects skipped. With ``feed`` given, only objects
    whose ``spec.feed`` names it count (upstream finds them through a ``<feed UID>: <Kind>`` label).
    """
    wanted = feed if feed is None or isinstance(feed, FeedRef) else feed_ref(feed)
    overrides: list[dict[str, Any]] = []
    for glob in sort_override_sources(globalizations):
        if not _targets(glob, wanted):
            continue
        if LabelMatcher((glob.get("spec") or {}).get("clusterAffinity"))(cluster_labels):
            overrides.extend((glob.get("spec") or {}).get("overrides") or [])
    for loc in sort_override_sources(localizations):
        if _targets(loc, wanted):
            overrides.extend((loc.get("spec") or {}).get("overrides") or [])
    return overrides
