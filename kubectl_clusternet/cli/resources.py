"""Turning what a user typed (``mcls``, ``sub/app``, ``clusternet``) into resource types and names."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.apis import ResourceType, find_type, types_in_category
from ..core.errors import ApiError, UsageError

__all__ = ["Target", "parse_targets", "resource_kind_error", "translate_missing_type"]


@dataclass(frozen=True)
class Target:
    """One resource type and the names asked for (empty: all objects of that type)."""

    resource_type: ResourceType
    names: tuple[str, ...]


def resource_kind_error(word: str) -> UsageError:
    return UsageError(f'the server doesn\'t have a resource type "{word}"')


def _types_for(word: str) -> tuple[ResourceType, ...]:
    by_category = types_in_category(word.lower())
    if by_category:
        return by_category
    resource_type = find_type(word)
    if resource_type is None:
        raise resource_kind_error(word)
    return (resource_type,)


def parse_targets(args: tuple[str, ...], *, command: str) -> list[Target]:
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
        grouped: dict[ResourceType, list[str]] = {}
        for arg in args:
            word, name = arg.split("/", 1)
            if not name:
                raise UsageError("arguments in resource/name form must have a single resource and name")
            for resource_type in _types_for(word):
                grouped.setdefault(resource_type, []).append(name)
        return [Target(t, tuple(names)) for t, names in grouped.items()]
    types: list[ResourceType] = []
    for word in args[0].split(","):
        if not word:
            continue
        for resource_type in _types_for(word):
            if resource_type not in types:
                types.append(resource_type)
    return [Target(t, tuple(args[1:])) for t in types]


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
