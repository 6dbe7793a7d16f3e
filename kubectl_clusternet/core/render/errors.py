"""Errors raised while rendering Subscriptions into per-cluster Descriptions.

They all derive from :class:`RenderError`, itself a :class:`ClusternetError`, so a controller can record
one event per failure and the CLI can still print any of them as ``error: …``.
"""

from __future__ import annotations

from kubectl_clusternet.core.errors import ClusternetError

__all__ = ["RenderError", "OverrideError", "SelectorError", "SchedulingError", "DescriptionError"]


class RenderError(ClusternetError):
    """Base of every rendering failure: the inputs (user objects) cannot be turned into a result."""


class OverrideError(RenderError):
    """An OverrideConfig could not be applied; rendering of that Description stops here.

    ``override_name`` and ``reason`` are kept apart so a controller can put the name in an event field
    and ``target`` tells which feed object the override was applied to (empty when unknown).
    """

    def __init__(self, override_name: str, reason: str, *, target: str = "") -> None:
        where = f" to {target}" if target else ""
        super().__init__(f'failed to apply OverrideConfig "{override_name}"{where}: {reason}')
        self.override_name = override_name
        self.reason = reason
        self.target = target

    def with_target(self, target: str) -> OverrideError:
        """The same failure, now naming the feed object it happened on."""
        return OverrideError(self.override_name, self.reason, target=target)


class SelectorError(RenderError):
    """A LabelSelector is malformed (unknown operator, wrong number of values, wrong shape)."""


class SchedulingError(RenderError):
    """A Subscription cannot be scheduled because its spec is inconsistent (not merely unschedulable)."""


class DescriptionError(RenderError):
    """A Description's wire data (base64 JSON entries) cannot be decoded."""
