"""``kubectl clusternet hub install``: put the Clusternet CRDs and the hub's namespaces and RBAC into the parent,
and with ``--image`` the hub itself (Deployment, Service, serving certificate, APIService)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import click

from ..context import AppContext

if TYPE_CHECKING:
    from ...core.kube.rest import RestClient

__all__ = ["COMMAND", "install_hub", "DRY_RUN_SUFFIX"]

DRY_RUN_SUFFIX = {"none": "", "client": " (dry run)", "server": " (server dry run)"}


def _new_serving_secret() -> dict[str, Any]:
    """A self-signed CA and a serving certificate for the hub Service's DNS names (what the aggregator dials)."""
    from ...core.apiservice import hub_service_dns_names
    from ...core.deployments import hub_serving_secret
    from ...localfleet.pki import issue_cert, new_ca

    ca = new_ca("clusternet-hub-ca")
    serving = issue_cert(ca, "clusternet-hub", dns_names=hub_service_dns_names(), server=True)
    return hub_serving_secret(serving.cert_pem, serving.key_pem, ca.cert_pem)


def _existing_serving_secret(client: RestClient) -> dict[str, Any] | None:
    from ...core.apis.builtin import SECRET
    from ...core.deployments import HUB_SERVING_SECRET
    from ...core.errors import ApiError
    from ...core.hub import SYSTEM_NAMESPACE

    try:
        return dict(client.get(SECRET.object_path(HUB_SERVING_SECRET, SYSTEM_NAMESPACE)))
    except ApiError as error:
        if error.status == 404:
            return None
        raise


def _ca_of(secret: dict[str, Any]) -> bytes | None:
    encoded = (secret.get("data") or {}).get("ca.crt")
    return base64.b64decode(encoded) if encoded else None


def _apply_api_service(client: RestClient, obj: dict[str, Any], *, dry_run: bool, plan_only: bool) -> str:
    """Create or replace an APIService, with apply's verdicts.

    kube-apiserver 1.20 panics on a server-side apply of an APIService ("FieldManager must be installed to
    run apply") and drops the connection, so this one kind is written with POST/PUT instead.
    """
    from ...core.apis.builtin import API_SERVICE
    from ...core.errors import ApiError
    from ...core.kube.apply import is_subset

    path = API_SERVICE.object_path(obj["metadata"]["name"])
    try:
        existing: dict[str, Any] | None = dict(client.get(path))
    except ApiError as error:
        if error.status != 404:
            raise
        existing = None
    if existing is not None and is_subset(obj, existing):
        return "unchanged"
    if not plan_only:
        query = [("dryRun", "All")] if dry_run else None
        if existing is None:
            client.create(API_SERVICE.collection_path(), obj, query=query)
        else:
            metadata = dict(existing["metadata"])
            metadata["labels"] = {**(metadata.get("labels") or {}), **obj["metadata"].get("labels", {})}
            client.replace(path, {**existing, "metadata": metadata, "spec": obj["spec"]}, query=query)
    return "created" if existing is None else "configured"


def install_hub(
    app: AppContext, *, dry_run: str = "none", image: str | None = None, replicas: int = 3
) -> None:
    """Apply every hub object, printing kubectl's ``kind/name created|configured|unchanged`` lines.

    With an image, the hub's workload follows the RBAC. Its serving certificate is generated once and then
    kept: replacing it would make the APIService's caBundle and the running replicas disagree.
    """
    from ...core.deployments import hub_workload_objects
    from ...core.hub import install_objects
    from ...core.kube.apply import apply_object, type_of, wait_for_crds

    suffix = DRY_RUN_SUFFIX[dry_run]
    objects = install_objects()
    serving_secret: dict[str, Any] | None = None
    kept_secret = False
    if image is not None:
        existing = _existing_serving_secret(app.client)
        kept_secret = existing is not None
        serving_secret = existing if existing is not None else _new_serving_secret()
        objects += [
            serving_secret,
            *hub_workload_objects(image, replicas, ca_bundle_pem=_ca_of(serving_secret)),
        ]

    crd_names: list[str] = []
    namespaces_to_create: set[str] = set()
    for obj in objects:
        resource_type = type_of(obj)
        name = obj["metadata"]["name"]
        if obj is serving_secret and kept_secret:
            verdict = "unchanged"
        else:
            # A server dry run cannot place an object in a namespace that this same run has only pretended
            # to create; judge those objects by reading, as the client dry run does.
            in_pretend_namespace = obj["metadata"].get("namespace") in namespaces_to_create
            plan_only = dry_run == "client" or (dry_run == "server" and in_pretend_namespace)
            if resource_type.kind == "APIService":
                verdict = _apply_api_service(
                    app.client, obj, dry_run=dry_run == "server", plan_only=plan_only
                )
            elif plan_only:
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
@click.option(
    "--image",
    default=None,
    metavar="IMAGE",
    help="Also run the hub in the parent from this image (built from the project's Dockerfile): "
    "Deployment, Service, serving certificate and the proxies.clusternet.io APIService.",
)
@click.option(
    "--replicas",
    type=click.IntRange(min=1),
    default=None,
    help="With --image: how many hub replicas, 3 unless given (one leads the controllers, all serve the proxy).",
)
@click.pass_obj
def install_command(app: AppContext, dry_run: str, image: str | None, replicas: int | None) -> None:
    """Apply the Clusternet CRDs, namespaces and RBAC to the current parent context (idempotent).

    With --image, also deploy hub-lite into the parent (namespace clusternet-system).

    \b
    Examples:
      kubectl clusternet hub install
      kubectl clusternet --context parent hub install --dry-run=server
      kubectl clusternet hub install --image registry.example.com/kubectl-clusternet:0.1.0 --replicas 3
    """
    from ...core.errors import UsageError

    if image is not None and not image.strip():
        raise UsageError("--image must name an image")
    if replicas is not None and image is None:
        raise UsageError("--replicas only applies with --image")
    install_hub(app, dry_run=dry_run, image=image, replicas=3 if replicas is None else replicas)


COMMAND = hub_group
