"""``kubectl clusternet describe``: kubectl's generic describer for custom resources, plus the object's Events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from ...core.apis import ResourceType
from ...core.apis.builtin import EVENT
from ...core.errors import ApiError
from ..context import AppContext
from ..resources import parse_targets

__all__ = ["COMMAND", "describe_object", "field_title"]

_SKIPPED_METADATA = {"name", "namespace", "labels", "annotations", "managedFields"}


def _char_class(char: str) -> int:
    if char.islower():
        return 1
    if char.isupper():
        return 2
    if char.isdigit():
        return 3
    return 4


def field_title(key: str) -> str:
    """``clusterId`` → ``Cluster Id``, ``k8sVersion`` → ``K 8 S Version``: kubectl's generic describer splits
    camel case at every change of character class (an upper-case run gives its last letter to a following
    lower-case word) and capitalises each word."""
    runs: list[str] = []
    for char in key:
        if runs and _char_class(runs[-1][-1]) == _char_class(char):
            runs[-1] += char
        else:
            runs.append(char)
    words: list[str] = []
    for run in runs:
        if words and run[0].islower() and words[-1].isupper() and len(words[-1]) > 1:
            run = words[-1][-1] + run
            words[-1] = words[-1][:-1]
        elif words and run[0].islower() and words[-1].isupper():
            words[-1] += run
            continue
        words.append(run)
    return " ".join(w[:1].upper() + w[1:] for w in words if w and w.strip("_-"))


def _format_map(values: dict[str, Any] | None, indent: str) -> list[str]:
    if not values:
        return ["<none>"]
    lines = []
    for index, (key, value) in enumerate(sorted(values.items())):
        lines.append(f"{key}={value}" if index == 0 else f"{indent}{key}={value}")
    return lines


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    return str(value)


def _walk(value: Any, depth: int, lines: list[str]) -> None:
    """Nested fields indented two spaces a level; list elements printed in turn at the list's depth."""
    indent = "  " * depth
    if isinstance(value, dict):
        for key, inner in value.items():
            title = field_title(key)
            if isinstance(inner, (dict, list)) and inner:
                lines.append(f"{indent}{title}:")
                _walk(inner, depth + 1, lines)
            else:
                lines.append(
                    f"{indent}{title}:  {_scalar(inner) if not isinstance(inner, (dict, list)) else ''}".rstrip()
                )
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                _walk(item, depth, lines)
            else:
                lines.append(f"{indent}{_scalar(item)}")


def _age(now: datetime, timestamp: str | None) -> str:
    from ..printers import human_duration

    if not timestamp:
        return "<unknown>"
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return human_duration((now - moment).total_seconds())


def _events_section(events: list[dict[str, Any]], now: datetime) -> list[str]:
    from ..printers import format_table

    if not events:
        return ["Events:  <none>"]
    rows = [["Type", "Reason", "Age", "From", "Message"], ["----", "------", "----", "----", "-------"]]
    events.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    for event in events:
        count = int(event.get("count") or 1)
        last = event.get("lastTimestamp") or event.get("eventTime")
        age = _age(now, last)
        if count > 1:
            age = f"{age} (x{count} over {_age(now, event.get('firstTimestamp') or last)})"
        source = (event.get("source") or {}).get("component") or event.get("reportingComponent") or ""
        rows.append(
            [
                str(event.get("type") or ""),
                str(event.get("reason") or ""),
                age,
                source,
                " ".join(str(event.get("message") or "").split()),
            ]
        )
    table = format_table(rows).rstrip("\n").split("\n")
    return ["Events:"] + ["  " + line for line in table]


def describe_object(obj: dict[str, Any], events: list[dict[str, Any]], now: datetime) -> str:
    metadata = obj.get("metadata") or {}
    lines = [f"Name:         {metadata.get('name', '')}"]
    if "namespace" in metadata:
        lines.append(f"Namespace:    {metadata['namespace']}")
    labels = _format_map(metadata.get("labels"), " " * 14)
    lines.append(f"Labels:       {labels[0]}")
    lines.extend(labels[1:])
    annotations = _format_map(metadata.get("annotations"), " " * 14)
    lines.append(f"Annotations:  {annotations[0]}")
    lines.extend(annotations[1:])
    lines.append(f"API Version:  {obj.get('apiVersion', '')}")
    lines.append(f"Kind:         {obj.get('kind', '')}")
    rest_metadata = {k: v for k, v in metadata.items() if k not in _SKIPPED_METADATA}
    if rest_metadata:
        lines.append("Metadata:")
        _walk(rest_metadata, 1, lines)
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if isinstance(value, (dict, list)):
            lines.append(f"{field_title(key)}:")
            _walk(value, 1, lines)
        else:
            lines.append(f"{field_title(key)}:  {_scalar(value)}")
    lines.extend(_events_section(events, now))
    return "\n".join(lines)


def _events_for(app: AppContext, obj: dict[str, Any], resource_type: ResourceType) -> list[dict[str, Any]]:
    metadata = obj.get("metadata") or {}
    selector = f"involvedObject.name={metadata.get('name')},involvedObject.kind={resource_type.kind}"
    if metadata.get("uid"):
        selector += f",involvedObject.uid={metadata['uid']}"
    namespace = metadata.get("namespace") or "default"
    try:
        listing = app.client.get(EVENT.collection_path(namespace), query=[("fieldSelector", selector)])
    except ApiError:
        return []  # events are a courtesy: an object without readable events still describes
    return list(listing.get("items") or [])


@click.command("describe")
@click.argument("args", nargs=-1)
@click.option("-A", "--all-namespaces", is_flag=True, help="Describe matching objects across all namespaces.")
@click.option("-l", "--selector", default=None, help="Selector (label query) to filter on.")
@click.pass_obj
def describe_command(
    app: AppContext, args: tuple[str, ...], all_namespaces: bool, selector: str | None
) -> None:
    """Show details of a Clusternet resource, with its Events.

    \b
    Examples:
      kubectl clusternet describe mcls -n clusternet-xxxxx my-cluster
      kubectl clusternet describe desc -A
    """
    from .get import fetch

    targets = parse_targets(args, command="describe", discover=app.discover)
    query = [("labelSelector", selector)] if selector else []
    first = True
    found_any = False
    for target in targets:
        resource_type = target.resource_type
        namespace = (
            None if (all_namespaces and not target.names) or not resource_type.namespaced else app.namespace
        )
        items, _ = fetch(app, target, namespace=namespace, query=query)
        for obj in items:
            if not first:
                app.env.out()
                app.env.out()
            first = False
            found_any = True
            app.env.out(describe_object(obj, _events_for(app, obj, resource_type), app.env.now()))
    if not found_any and not any(t.names for t in targets):
        from ..printers import no_resources_message

        namespaced = any(t.resource_type.namespaced for t in targets)
        app.env.err(
            no_resources_message(app.namespace if namespaced and not all_namespaces else None, all_namespaces)
        )


COMMAND = describe_command
