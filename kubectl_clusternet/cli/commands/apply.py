"""``kubectl clusternet apply -f``: Clusternet kinds go to the parent's CRDs; every other kind is validated by a
server-side dry run and stored as a Manifest feed. Everything is validated before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import click

from ...core.errors import ApiError, ClusternetError, UsageError
from ..context import AppContext

__all__ = ["COMMAND", "Document", "read_documents"]

_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass
class Document:
    """One object to apply, with where it came from for error messages."""

    source: str
    index: int
    obj: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.source} (document {self.index})"


def _files(paths: tuple[str, ...], recursive: bool) -> list[Path | None]:
    """Expand -f arguments the way kubectl does; ``None`` stands for standard input."""
    found: list[Path | None] = []
    for raw in paths:
        if raw == "-":
            found.append(None)
            continue
        path = Path(raw)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found.extend(
                p for p in sorted(path.glob(pattern)) if p.is_file() and p.suffix in _MANIFEST_SUFFIXES
            )
        elif path.exists():
            found.append(path)
        else:
            raise UsageError(f'the path "{raw}" does not exist')
    return found


def read_documents(paths: tuple[str, ...], *, recursive: bool, stdin: TextIO) -> list[Document]:
    """Parse every document of every file; any syntax problem fails the whole command, naming the file."""
    import yaml

    documents: list[Document] = []
    for path in _files(paths, recursive):
        source = "STDIN" if path is None else str(path)
        text = stdin.read() if path is None else path.read_text()
        try:
            loaded = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            raise UsageError(f"error parsing {source}: {exc}") from exc
        index = 0
        for item in loaded:
            if item is None:
                continue
            index += 1
            if not isinstance(item, dict):
                raise UsageError(f"error validating {source} (document {index}): not a Kubernetes object")
            # A List's items are applied one by one, as kubectl does.
            if item.get("kind") == "List" and isinstance(item.get("items"), list):
                for inner in item["items"]:
                    documents.append(Document(source, index, inner))
            else:
                documents.append(Document(source, index, item))
    if not documents:
        raise UsageError("no objects passed to apply")
    return documents


@dataclass
class _Planned:
    document: Document
    resource_type: Any
    write: dict[str, Any]  # the object written to the parent (the Clusternet object or its Manifest)
    label: str  # kind.group/name as kubectl prints it


def _check_shape(document: Document) -> None:
    obj = document.obj
    if not obj.get("apiVersion"):
        raise UsageError(f"error validating {document.where}: apiVersion not set")
    if not obj.get("kind"):
        raise UsageError(f"error validating {document.where}: kind not set")
    if not (obj.get("metadata") or {}).get("name"):
        raise UsageError(f"error validating {document.where}: metadata.name not set")


def _plan(app: AppContext, documents: list[Document], *, explicit_namespace: str | None) -> list[_Planned]:
    """Resolve every document's type and namespace and validate it against the parent (dry run)."""
    from ...core.apis import CLUSTERNET_TYPES
    from ...core.kube.apply import FIELD_MANAGER
    from ...core.kube.discovery import Discovery
    from ...core.manifests_store import manifest_for

    discovery = Discovery(app.client)
    planned: list[_Planned] = []
    for document in documents:
        _check_shape(document)
        obj = document.obj
        api_version, kind = str(obj["apiVersion"]), str(obj["kind"])
        metadata = obj.setdefault("metadata", {})
        resource_type = next(
            (t for t in CLUSTERNET_TYPES if t.api_version == api_version and t.kind == kind), None
        )
        clusternet_kind = resource_type is not None
        if resource_type is None:
            try:
                resource_type = discovery.resource_for(api_version, kind)
            except ClusternetError as exc:
                raise UsageError(f"error validating {document.where}: {exc}") from exc
        if resource_type.namespaced:
            namespace = metadata.get("namespace") or app.namespace
            if (
                explicit_namespace
                and metadata.get("namespace")
                and metadata["namespace"] != explicit_namespace
            ):
                raise UsageError(
                    f'the namespace from the provided object "{metadata["namespace"]}" does not match the '
                    f"namespace \"{explicit_namespace}\". You must pass '--namespace={metadata['namespace']}' "
                    "to perform this operation."
                )
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        name = str(metadata["name"])
        label = f"{resource_type.name_prefix}/{name}"
        # Validate with the real API server, persisting nothing.
        try:
            if clusternet_kind:
                path = resource_type.object_path(name, metadata.get("namespace"))
                app.client.apply(path, obj, field_manager=FIELD_MANAGER, force=True, dry_run=True)
                write = obj
            else:
                _dry_run_create(app, resource_type, obj)
                write = manifest_for(obj, plural=resource_type.plural, namespaced=resource_type.namespaced)
        except ApiError as exc:
            raise UsageError(f"error validating {document.where}: {exc.display()}") from exc
        planned.append(_Planned(document, resource_type, write, label))
    return planned


def _dry_run_create(app: AppContext, resource_type: Any, obj: dict[str, Any]) -> None:
    """Validate a native object with a dry-run create, as upstream does: namespaced objects in the reserved
    namespace (their own namespace need not exist in the parent); when a real object of that name exists,
    validate a copy under a free name instead. (A server-side-apply dry run would be simpler, but Kubernetes
    1.20 rejects valid objects such as Service ports without a protocol on that path.)"""
    import secrets

    from ...core.hub import RESERVED_NAMESPACE

    metadata = dict(obj.get("metadata") or {})
    namespace = RESERVED_NAMESPACE if resource_type.namespaced else None
    if namespace:
        metadata["namespace"] = namespace
    for attempt in range(3):
        body = dict(obj, metadata=metadata)
        try:
            app.client.create(resource_type.collection_path(namespace), body, query=[("dryRun", "All")])
            return
        except ApiError as exc:
            if exc.status == 404 and namespace and not attempt:
                try:
                    app.client.get(f"/api/v1/namespaces/{namespace}")
                except ApiError as missing:
                    raise UsageError(
                        f'namespace "{namespace}" not found in the parent: run "kubectl clusternet hub install" first'
                    ) from missing
            if exc.status != 409 or exc.reason != "AlreadyExists":
                raise
        suffix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(5))
        metadata = dict(metadata, name=f"{str(obj['metadata']['name'])[:240]}-{suffix}")


@click.command("apply")
@click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    required=True,
    help="A file, directory or - (stdin) with the objects to apply.",
)
@click.option("-R", "--recursive", is_flag=True, help="Process the directory used in -f recursively.")
@click.option(
    "--dry-run",
    type=click.Choice(["none", "client", "server"]),
    default="none",
    is_flag=False,
    flag_value="client",
    help="Only print what would change (client), or validate on the server too.",
)
@click.option(
    "--server-side", is_flag=True, help="Accepted for kubectl compatibility: applies are always server-side."
)
@click.option("-o", "--output", type=click.Choice(["name"]), default=None, help="Output format: name.")
@click.pass_obj
def apply_command(
    app: AppContext,
    filenames: tuple[str, ...],
    recursive: bool,
    dry_run: str,
    server_side: bool,
    output: str | None,
) -> None:
    """Apply Clusternet objects, and store every other object as a feed to distribute.

    Subscriptions, HelmCharts, Localizations and Globalizations become objects in the parent. Deployments,
    Services, Namespaces, ConfigMaps, custom resources … are checked by a server-side dry run against the parent
    and stored as Manifests in clusternet-reserved, from where Subscriptions send them to child clusters.
    All documents are validated first: one bad document fails the command and nothing is written.

    \b
    Examples:
      kubectl clusternet apply -f examples/applications/
      cat app.yaml | kubectl clusternet apply -f -
    """
    from ...core.kube.apply import apply_object

    documents = read_documents(filenames, recursive=recursive, stdin=app.env.stdin)
    planned = _plan(app, documents, explicit_namespace=app.flags.namespace)
    suffix = {"none": "", "client": " (dry run)", "server": " (server dry run)"}[dry_run]
    for item in planned:
        verdict = apply_object(app.client, item.write, plan_only=dry_run != "none")
        app.env.out(item.label if output == "name" else f"{item.label} {verdict}{suffix}")


COMMAND = apply_command
