"""``kubectl clusternet delete``: delete Clusternet objects by name, selector or --all, waiting as kubectl does."""

from __future__ import annotations

import time
from typing import Any

import click

from ...core.errors import ApiError, UsageError
from ..context import AppContext
from ..resources import parse_targets, translate_missing_type

__all__ = ["COMMAND"]

_POLL_SECONDS = 0.2


def _wait_gone(app: AppContext, path: str, uid: str, timeout: float | None) -> bool:
    """Poll until the object (that very uid) is gone; finalizers can keep it a while."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            current = app.client.get(path)
        except ApiError as error:
            if error.status == 404:
                return True
            raise
        if uid and (current.get("metadata") or {}).get("uid") != uid:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)


def _parse_timeout(text: str) -> float | None:
    from ...core.kube.kubeconfig import parse_duration

    seconds = parse_duration(text, flag="--timeout")
    return seconds or None


def _object_path(resource_type: Any, name: str, namespace: str | None, *, feed: bool) -> str:
    """Where the object lives in the parent: itself, or (a native kind to distribute) its Manifest."""
    if not feed:
        return str(resource_type.object_path(name, namespace))
    from ...core.apis.apps import MANIFEST
    from ...core.hub import RESERVED_NAMESPACE
    from ...core.manifests_store import manifest_name

    return MANIFEST.object_path(manifest_name(resource_type.plural, name, namespace), RESERVED_NAMESPACE)


@click.command("delete")
@click.argument("args", nargs=-1)
@click.option("-A", "--all-namespaces", is_flag=True, help="With --all or -l, delete across all namespaces.")
@click.option("-l", "--selector", default=None, help="Selector (label query) to filter on.")
@click.option("--all", "delete_all", is_flag=True, help="Delete all resources of the given type(s).")
@click.option("--ignore-not-found", is_flag=True, help='Treat "resource not found" as a successful delete.')
@click.option(
    "--wait/--no-wait", default=True, help="Wait for resources to be gone before returning (finalizers)."
)
@click.option("--timeout", default="0s", help="How long to wait for the deletion; 0 waits forever.")
@click.option(
    "--dry-run",
    type=click.Choice(["none", "client", "server"]),
    default="none",
    help="Only print what would be deleted (client), or ask the server to dry-run the deletion.",
)
@click.option("-o", "--output", type=click.Choice(["name"]), default=None, help="Output format: name.")
@click.pass_obj
def delete_command(
    app: AppContext,
    args: tuple[str, ...],
    all_namespaces: bool,
    selector: str | None,
    delete_all: bool,
    ignore_not_found: bool,
    wait: bool,
    timeout: str,
    dry_run: str,
    output: str | None,
) -> None:
    """Delete Clusternet resources by name, by label selector, or all of a type.

    \b
    Examples:
      kubectl clusternet delete sub app -n default
      kubectl clusternet delete loc -n clusternet-xxxxx -l team=web
    """
    from .get import fetch

    if args and args[0] in ("bootstrap-token", "bootstrap-tokens", "bootstraptoken", "bootstraptokens"):
        from .tokens import delete_bootstrap_token

        if len(args) < 2:
            raise UsageError("you must name the bootstrap token(s) to delete")
        for token_id in args[1:]:
            delete_bootstrap_token(app, token_id)
        return
    targets = parse_targets(args, command="delete", discover=app.discover)
    named = any(t.names for t in targets)
    if named and (delete_all or selector):
        raise UsageError("name cannot be provided when a selector or --all is specified")
    if not named and not (delete_all or selector):
        raise UsageError("resource(s) were provided, but no name was specified")
    wait_seconds = _parse_timeout(timeout)
    suffix = {"none": "", "client": " (dry run)", "server": " (server dry run)"}[dry_run]
    query: list[tuple[str, str]] = [("dryRun", "All")] if dry_run == "server" else []
    for target in targets:
        resource_type = target.resource_type
        namespace = None if (all_namespaces and not named) or not resource_type.namespaced else app.namespace
        if named:
            objects: list[dict[str, Any]] = [
                {"metadata": {"name": name, "namespace": namespace}} for name in target.names
            ]
        else:
            objects, _ = fetch(
                app, target, namespace=namespace, query=[("labelSelector", selector)] if selector else []
            )
        pending: list[tuple[str, str, str]] = []
        for obj in objects:
            metadata = obj.get("metadata") or {}
            name = str(metadata.get("name"))
            obj_namespace = metadata.get("namespace") if resource_type.namespaced else None
            path = _object_path(resource_type, name, obj_namespace, feed=target.feed)
            label = (
                f"{resource_type.name_prefix}/{name}"
                if output == "name"
                else f'{resource_type.name_prefix} "{name}"'
            )
            try:
                if dry_run == "client":
                    app.client.get(path)
                    deleted: dict[str, Any] = {}
                else:
                    deleted = (
                        app.client.delete(path, query=query, body={"propagationPolicy": "Background"}) or {}
                    )
            except ApiError as error:
                translated = translate_missing_type(error, resource_type, resource_type.plural)
                if translated is not error:
                    raise translated from error
                if error.status == 404:
                    if not ignore_not_found:
                        app.env.err(
                            f'Error from server (NotFound): {resource_type.group_resource} "{name}" not found'
                        )
                        app.fail_later()
                    continue
                raise
            app.env.out(f"{label} deleted{suffix}")
            if target.feed:
                from ...core.deploy import protection_reason

                blocked_by = protection_reason(deleted)
                if blocked_by:
                    # A feed still used by a Subscription stays until the Subscription lets go of it.
                    app.env.err(
                        f'{resource_type.group_resource} "{name}" is kept until no Subscription uses it: {blocked_by}'
                    )
                    continue
            uid = str((deleted.get("metadata") or {}).get("uid") or "")
            pending.append((path, uid, name))
        if wait and dry_run == "none":
            for path, uid, name in pending:
                if not _wait_gone(app, path, uid, wait_seconds):
                    app.env.err(
                        f"error: timed out waiting for the condition on {resource_type.group_resource}/{name}"
                    )
                    app.fail_later()
        if not objects and not named:
            from ..printers import no_resources_message

            app.env.err(
                no_resources_message(
                    namespace if resource_type.namespaced and not all_namespaces else None, all_namespaces
                )
            )


COMMAND = delete_command
