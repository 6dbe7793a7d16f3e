"""``kubectl clusternet get``: list or fetch Clusternet objects with kubectl's output formats."""

from __future__ import annotations

from typing import Any

import click

from ...core.apis import AGE_COLUMN, ResourceType
from ...core.errors import ApiError
from ..context import AppContext
from ..resources import Target, parse_targets, translate_missing_type

__all__ = ["COMMAND", "fetch"]

# Bootstrap tokens are Secrets of a special type, listed like `kubeadm token list`, not a resource type.
_BOOTSTRAP_TOKEN_WORDS = ("bootstrap-token", "bootstrap-tokens", "bootstraptoken", "bootstraptokens")

# Formats that print one document for everything asked, rather than one table per resource type.
_WHOLE_LIST_FORMATS = ("json", "yaml", "jsonpath", "jsonpath-as-json", "jsonpath-file")


def _columns(resource_type: ResourceType) -> tuple[Any, ...]:
    return resource_type.printer_columns or (AGE_COLUMN,)


def _query(selector: str | None, field_selector: str | None) -> list[tuple[str, str]]:
    query: list[tuple[str, str]] = []
    if selector:
        query.append(("labelSelector", selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    return query


def fetch(
    app: AppContext, target: Target, *, namespace: str | None, query: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], str]:
    """Objects of one target; NotFound for a named object is reported and skipped, as kubectl does.

    Returns the items and the list's resourceVersion (for a following watch)."""
    resource_type = target.resource_type
    if target.feed:
        return _fetch_feeds(app, target, namespace=namespace, query=query), ""
    word = resource_type.plural
    items: list[dict[str, Any]] = []
    if target.names:
        for name in target.names:
            try:
                items.append(app.client.get(resource_type.object_path(name, namespace)))
            except ApiError as error:
                translated = translate_missing_type(error, resource_type, word)
                if translated is not error:
                    raise translated from error
                if error.status != 404:
                    raise
                app.env.err(
                    f'Error from server (NotFound): {resource_type.group_resource} "{name}" not found'
                )
                app.fail_later()
        return items, ""
    try:
        listing = app.client.get(resource_type.collection_path(namespace), query=query)
    except ApiError as error:
        raise translate_missing_type(error, resource_type, word) from error
    kind = resource_type.kind
    api_version = resource_type.api_version
    for item in listing.get("items") or []:
        # Lists omit apiVersion/kind on items; yaml and json output must show them, as kubectl does.
        item.setdefault("apiVersion", api_version)
        item.setdefault("kind", kind)
        items.append(item)
    return items, str((listing.get("metadata") or {}).get("resourceVersion") or "")


def _fetch_feeds(
    app: AppContext, target: Target, *, namespace: str | None, query: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Native objects to distribute live as Manifests in the reserved namespace: list those, show the objects."""
    from ...core.apis.apps import MANIFEST
    from ...core.hub import RESERVED_NAMESPACE
    from ...core.manifests_store import kind_selector, object_from_manifest

    resource_type = target.resource_type
    # Cluster-scoped kinds carry an empty namespace label; None (-A) lists every namespace.
    label_namespace = namespace if resource_type.namespaced else ""
    user_selectors = [value for key, value in query if key == "labelSelector"]
    path = MANIFEST.collection_path(RESERVED_NAMESPACE)

    def listing(name: str | None) -> list[dict[str, Any]]:
        selector = ",".join(
            [kind_selector(resource_type.group, resource_type.kind, label_namespace, name), *user_selectors]
        )
        try:
            found = app.client.get(path, query=[("labelSelector", selector)])
        except ApiError as error:
            raise translate_missing_type(error, MANIFEST, "manifests") from error
        return [object_from_manifest(m) for m in found.get("items") or []]

    if not target.names:
        return listing(None)
    items: list[dict[str, Any]] = []
    for name in target.names:
        found = listing(name)
        if not found:
            app.env.err(f'Error from server (NotFound): {resource_type.group_resource} "{name}" not found')
            app.fail_later()
        items.extend(found)
    return items


def _watch(
    app: AppContext,
    target: Target,
    *,
    namespace: str | None,
    query: list[tuple[str, str]],
    initial: list[dict[str, Any]],
    resource_version: str,
    output: str | None,
    all_namespaces: bool,
    no_headers: bool,
) -> None:
    """kubectl's ``-w``: print the initial list, then one row (or document) per event until interrupted."""
    from ..printers import WatchTablePrinter, print_objects

    resource_type = target.resource_type
    params = list(query)
    if target.names:
        params.append(("fieldSelector", f"metadata.name={target.names[0]}"))
    if resource_version:
        params.append(("resourceVersion", resource_version))
    table = None
    if output in (None, "wide"):
        table = WatchTablePrinter(
            columns=_columns(resource_type),
            namespaced=resource_type.namespaced,
            all_namespaces=all_namespaces,
            name_prefix=resource_type.name_prefix,
            out=app.env.stdout,
            wide=output == "wide",
            no_headers=no_headers,
        )

    def show(objects: list[dict[str, Any]]) -> None:
        if table is not None:
            table.print_many(objects, now=app.env.now())
        else:
            for obj in objects:
                if output == "yaml":
                    app.env.out("---")  # kubectl separates the documents of a watch
                print_objects(
                    [obj],
                    output=output,
                    columns=_columns(resource_type),
                    namespaced=resource_type.namespaced,
                    all_namespaces=all_namespaces,
                    name_prefix=resource_type.name_prefix,
                    no_headers=True,
                    now=app.env.now(),
                    out=app.env.stdout,
                    single=True,
                )
        app.env.stdout.flush()

    show(initial)
    for event in app.client.watch(resource_type.collection_path(namespace), query=params):
        if event.get("type") == "BOOKMARK":
            continue
        obj = event.get("object") or {}
        obj.setdefault("apiVersion", resource_type.api_version)
        obj.setdefault("kind", resource_type.kind)
        show([obj])


@click.command("get")
@click.argument("args", nargs=-1)
@click.option(
    "-A", "--all-namespaces", is_flag=True, help="List the requested object(s) across all namespaces."
)
@click.option(
    "-o",
    "--output",
    default=None,
    metavar="FORMAT",
    help="Output format: json, yaml, name, wide, jsonpath=…, jsonpath-as-json=…, custom-columns=…, custom-columns-file=….",
)
@click.option(
    "-l",
    "--selector",
    default=None,
    help="Selector (label query) to filter on, e.g. -l key1=value1,key2=value2.",
)
@click.option(
    "--field-selector", default=None, help="Selector (field query) to filter on, e.g. metadata.name=x."
)
@click.option("--no-headers", is_flag=True, help="Don't print headers (table and custom-columns output).")
@click.option("--show-kind", is_flag=True, help="List the resource type for the requested object(s).")
@click.option(
    "-w", "--watch", is_flag=True, help="After listing/getting the requested object, watch for changes."
)
@click.option(
    "--watch-only", is_flag=True, help="Watch for changes to the requested object(s), without listing first."
)
@click.pass_obj
def get_command(
    app: AppContext,
    args: tuple[str, ...],
    all_namespaces: bool,
    output: str | None,
    selector: str | None,
    field_selector: str | None,
    no_headers: bool,
    show_kind: bool,
    watch: bool,
    watch_only: bool,
) -> None:
    """Display one or many Clusternet resources.

    \b
    Examples:
      # List all clusters of the fleet
      kubectl clusternet get mcls -A
      # List every Clusternet object in a namespace
      kubectl clusternet get clusternet -n clusternet-xxxxx
      # Show one Subscription as YAML
      kubectl clusternet get sub app -o yaml
    """
    from ..printers import check_output_format, no_resources_message, print_objects

    if output is not None and not output.strip():
        output = None
    check_output_format(output)
    if args and args[0] in _BOOTSTRAP_TOKEN_WORDS:
        from .tokens import list_bootstrap_tokens

        list_bootstrap_tokens(app)
        return
    targets = parse_targets(args, command="get", discover=app.discover)
    query = _query(selector, field_selector)
    if watch or watch_only:
        if len(targets) > 1:
            raise click.UsageError("you may only specify a single resource type")
        (target,) = targets
        resource_type = target.resource_type
        namespace = None if (all_namespaces or not resource_type.namespaced) else app.namespace
        initial, resource_version = (
            ([], "") if watch_only else fetch(app, target, namespace=namespace, query=query)
        )
        _watch(
            app,
            target,
            namespace=namespace,
            query=query,
            initial=initial,
            resource_version=resource_version,
            output=output,
            all_namespaces=all_namespaces and resource_type.namespaced,
            no_headers=no_headers,
        )
        return

    several_types = len(targets) > 1
    whole_list = output is not None and output.split("=", 1)[0] in _WHOLE_LIST_FORMATS
    single = len(targets) == 1 and len(targets[0].names) == 1
    collected: list[dict[str, Any]] = []
    printed_any = False
    for target in targets:
        resource_type = target.resource_type
        namespace = (
            None if (all_namespaces and not target.names) or not resource_type.namespaced else app.namespace
        )
        items, _ = fetch(app, target, namespace=namespace, query=query)
        if whole_list:
            collected.extend(items)
            continue
        if not items:
            continue
        if printed_any and output in (None, "wide"):
            app.env.out()
        print_objects(
            items,
            output=output,
            columns=_columns(resource_type),
            namespaced=resource_type.namespaced,
            all_namespaces=all_namespaces and resource_type.namespaced and not target.names,
            name_prefix=resource_type.name_prefix,
            no_headers=no_headers,
            show_kind=show_kind or several_types,
            now=app.env.now(),
            out=app.env.stdout,
            single=single,
        )
        printed_any = True
    if whole_list and (collected or not any(t.names for t in targets)):
        first = targets[0].resource_type
        print_objects(
            collected,
            output=output,
            columns=_columns(first),
            namespaced=first.namespaced,
            all_namespaces=all_namespaces,
            name_prefix=first.name_prefix,
            no_headers=no_headers,
            now=app.env.now(),
            out=app.env.stdout,
            single=single and len(collected) == 1,
        )
        printed_any = bool(collected)
    if output not in (None, "wide") and output.split("=", 1)[0] in ("custom-columns", "custom-columns-file"):
        if not printed_any and not no_headers:
            # kubectl prints the bare header of an empty custom-columns table, and no "No resources" line.
            print_objects(
                [],
                output=output,
                columns=(),
                namespaced=False,
                all_namespaces=False,
                name_prefix="",
                out=app.env.stdout,
            )
        return
    if not printed_any and output in (None, "wide") and not any(t.names for t in targets):
        namespaced = any(t.resource_type.namespaced for t in targets)
        app.env.err(
            no_resources_message(app.namespace if namespaced and not all_namespaces else None, all_namespaces)
        )


COMMAND = get_command
