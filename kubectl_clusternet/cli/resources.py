"""Turning what a user typed (``mcls``, ``sub/app``, ``clusternet``) into resource types and names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..core.apis import ResourceType, find_type, types_in_category
from ..core.apis.builtin import BUILTIN_TYPES
from ..core.errors import ApiError, UsageError

__all__ = ["Target", "parse_targets", "resource_kind_error", "translate_missing_type"]


@dataclass(frozen=True)
class Target:
    """One resource type and the names asked for (empty: all objects of that type).

    ``feed`` marks a native kind (Deployment, Namespace, …): its objects live as Manifests in the reserved
    namespace of the parent, not as real objects there."""

    resource_type: ResourceType
    names: tuple[str, ...]
    feed: bool = False


def resource_kind_error(word: str) -> UsageError:
    return UsageError(f'the server doesn\'t have a resource type "{word}"')


Discover = Callable[[str], "ResourceType | None"]


def _types_for(word: str, discover: Discover | None) -> tuple[tuple[ResourceType, bool], ...]:
    by_category = types_in_category(word.lower())
    if by_category:
        return tuple((t, False) for t in by_category)
    resource_type = find_type(word)
    if resource_type is not None:
        return ((resource_type, False),)
    native = next((t for t in BUILTIN_TYPES if t.matches(word)), None)
    if native is None and discover is not None:
        native = discover(word)
    if native is None:
        raise resource_kind_error(word)
    return ((native, True),)


def parse_targets(args: tuple[str, ...], *, command: str, discover: Discover | None = None) -> list[Target]:
    """kubectl's argument forms: ``TYPE[,TYPE…] [NAME…]`` or ``TYPE/NAME [TYPE/NAME…]``."""
    if not args:
        raise UsageError(
            'You must specify the type of resource to get. Use "kubectl clusternet api-resources" for a complete '
            "list of supported resources."
            if command == "get"
            else "You must provide one or more resources by argument or filename."
        )
    if any("/" in arg for arg in args):
        if not all("/" in arg for arg in args):
            raise UsageError(
                "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl clusternet get resource/<resource_name>' instead of 'kubectl clusternet get resource resource/<resource_name>'"
            )
        grouped: dict[tuple[ResourceType, bool], list[str]] = {}
        for arg in args:
            word, name = arg.split("/", 1)
            if not name:
                raise UsageError("arguments in resource/name form must have a single resource and name")
            for key in _types_for(word, discover):
                grouped.setdefault(key, []).append(name)
        return [Target(t, tuple(names), feed) for (t, feed), names in grouped.items()]
    types: list[tuple[ResourceType, bool]] = []
    for word in args[0].split(","):
        if not word:
            continue
        for key in _types_for(word, discover):
            if key not in types:
                types.append(key)
    return [Target(t, tuple(args[1:]), feed) for t, feed in types]


def translate_missing_type(error: ApiError, resource_type: ResourceType, word: str) -> Exception:
    """A 404 on a collection means the CRD is not installed: say so as kubectl does, with a hint."""
    if (
        error.status == 404
        and isinstance(error.body, dict)
        and not (error.body.get("details") or {}).get("name")
    ):
        return UsageError(
            f'the server doesn\'t have a resource type "{word}" '
            f'(the Clusternet CRDs are not installed: run "kubectl clusternet hub install")'
        )
    return error
