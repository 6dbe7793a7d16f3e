"""``kubectl clusternet hub install``: put the Clusternet CRDs and the hub's namespaces and RBAC into the parent."""

from __future__ import annotations

import click

from ..context import AppContext

__all__ = ["COMMAND", "install_hub"]


def install_hub(app: AppContext, *, dry_run: str = "none") -> None:
    """Apply every hub object, printing kubectl's ``kind/name created|configured|unchanged`` lines."""
    from ...core.hub import install_objects
    from ...core.kube.apply import apply_object, type_of, wait_for_crds

    suffix = {"none": "", "client": " (dry run)", "server": " (server dry run)"}[dry_run]
    crd_names: list[str] = []
    namespaces_to_create: set[str] = set()
    for obj in install_objects():
        resource_type = type_of(obj)
        name = obj["metadata"]["name"]
        # A server dry run cannot place an object in a namespace that this same run has only pretended to
        # create; judge those objects by reading, as the client dry run does.
        in_pretend_namespace = obj["metadata"].get("namespace") in namespaces_to_create
        if dry_run == "client" or (dry_run == "server" and in_pretend_namespace):
            verdict = apply_object(app.client, obj, plan_only=True)
        else:
            verdict = apply_object(app.client, obj, dry_run=dry_run == "server")
        if resource_type.kind == "Namespace" and verdict == "created":
            namespaces_to_create.add(name)
        if resource_type.kind == "CustomResourceDefinition":
            crd_names.append(name)
        app.env.out(f"{resource_type.name_prefix}/{name} {verdict}{suffix}")
    if dry_run == "none":
        wait_for_crds(app.client, crd_names, timeout=60.0)


@click.group("hub")
def hub_group() -> None:
    """Install and inspect the hub side of Clusternet in the parent cluster."""


@hub_group.command("install")
@click.option(
    "--dry-run",
    type=click.Choice(["none", "client", "server"]),
    default="none",
    is_flag=False,
    flag_value="client",
    help='"client" only prints what would change; "server" asks the API server to validate without persisting.',
)
@click.pass_obj
def install_command(app: AppContext, dry_run: str) -> None:
    """Apply the Clusternet CRDs, namespaces and RBAC to the current parent context (idempotent).

    \b
    Examples:
      kubectl clusternet hub install
      kubectl clusternet --context parent hub install --dry-run=server
    """
    install_hub(app, dry_run=dry_run)


COMMAND = hub_group
