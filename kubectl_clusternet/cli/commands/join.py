"""``kubectl clusternet join``: import a child cluster by its kubeconfig, the way the TKEStack and KubeSphere
tutorials do it by hand: a bootstrap token from the parent, then the agent's namespace, registration Secret,
RBAC and Deployment in the child.

Nothing is left half-applied in the child: every check that can fail (the child kubeconfig, both clusters'
reachability, the parent's CRDs, a server-side dry run of every object) runs before the first write, and if a
write still fails, the objects this run created are deleted again.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import click

from ..context import AppContext
from .hub import DRY_RUN_SUFFIX

if TYPE_CHECKING:
    from ...core.kube.rest import RestClient

__all__ = ["COMMAND", "JoinRequest", "join_cluster"]

# A reused token must outlive the agent's first start by a comfortable margin (image pull, scheduling).
_MIN_REUSED_TOKEN_LIFETIME = timedelta(hours=1)
# Only ever written to a dry run's Secret, never stored: the real token is created after validation.
_PLACEHOLDER_TOKEN = "000000.0000000000000000"


@dataclass(frozen=True)
class JoinRequest:
    """The command line of ``join``, validated."""

    child_kubeconfig: str
    child_context: str | None = None
    token: str | None = None
    cluster_name: str | None = None
    sync_mode: str = "Pull"
    image: str | None = None
    replicas: int = 3
    parent_url: str | None = None
    ttl: timedelta = timedelta(hours=24)
    dry_run: str = "none"


@dataclass
class _Undo:
    """What this run created, newest last, so a failure can take it back."""

    steps: list[tuple[str, Callable[[], object]]] = field(default_factory=list)

    def add(self, what: str, action: Callable[[], object]) -> None:
        self.steps.append((what, action))

    def run(self) -> list[str]:
        """Undo everything, newest first; returns what could not be undone."""
        from ...core.errors import ClusternetError

        left: list[str] = []
        for what, action in reversed(self.steps):
            try:
                action()
            except ClusternetError:
                left.append(what)
        self.steps.clear()
        return left


def _child_client(app: AppContext, request: JoinRequest) -> RestClient:
    """A client for the child from ``--child-kubeconfig``/``--child-context`` (kubectl's rules for one file)."""
    from ...core.errors import ConfigError
    from ...core.kube.kubeconfig import ConfigOverrides, load_and_resolve
    from ...core.kube.rest import RestClient, connection_from_config

    overrides = ConfigOverrides(
        kubeconfig=request.child_kubeconfig,
        context=request.child_context or None,
        request_timeout=app.flags.request_timeout,
    )
    try:
        connection = connection_from_config(load_and_resolve(overrides, app.env.environ))
    except ConfigError as error:
        raise ConfigError(
            f"cannot use --child-kubeconfig {request.child_kubeconfig}: {error.message}"
        ) from error
    if connection.timeout is None:
        connection.timeout = 30.0  # a child that never answers must not hang the command
    return RestClient(connection)


def _parent_url(app: AppContext, request: JoinRequest) -> str:
    """The URL the child's agent dials: ``--parent-url`` or the parent context's server. Agents send their
    token to it, so it must be https."""
    import urllib.parse

    from ...core.errors import UsageError

    url = (request.parent_url or str(app.config.cluster.get("server") or "")).strip().rstrip("/")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https" or not parsed.hostname:
        where = "--parent-url" if request.parent_url else "the parent context's server"
        raise UsageError(f"{where} {url!r} is not an https URL; agents only register over https")
    return url


def _check_parent_has_crds(app: AppContext) -> None:
    """The hub's CRDs must be in the parent, or the agent's registration requests have nowhere to go."""
    from ...core.apis.clusters import CLUSTER_REGISTRATION_REQUEST, MANAGED_CLUSTER
    from ...core.errors import ApiError, ClusternetError

    group_version = CLUSTER_REGISTRATION_REQUEST.api_version
    try:
        listing = app.client.get(f"/apis/{group_version}")
    except ApiError as error:
        if error.status != 404:
            raise
        listing = {}
    served = {str(r.get("name")) for r in listing.get("resources") or []}
    missing = [t.plural for t in (CLUSTER_REGISTRATION_REQUEST, MANAGED_CLUSTER) if t.plural not in served]
    if missing:
        raise ClusternetError(
            f"the parent cluster ({app.client.connection.server}) does not serve {group_version} "
            f"{', '.join(missing)}: run 'kubectl clusternet hub install' against it first"
        )


def _check_child_reachable(child: RestClient) -> None:
    from ...core.errors import ApiError, ClusternetError

    try:
        child.get("/version")
    except ApiError as error:
        raise ClusternetError(
            f"the child cluster at {child.connection.server} refused the request: {error.message}"
        ) from error
    except ClusternetError as error:
        raise ClusternetError(
            f"cannot reach the child cluster at {child.connection.server}: {error.message}"
        ) from error


def _get_or_none(client: RestClient, path: str) -> dict[str, Any] | None:
    from ...core.errors import ApiError

    try:
        return dict(client.get(path))
    except ApiError as error:
        if error.status == 404:
            return None
        raise


def _usable_bootstrap_token(parent: RestClient, token: str, now: datetime) -> bool:
    """Whether the parent still holds this bootstrap token, for the clusternet bootstrap group, long enough."""
    from ...core.apis.builtin import SECRET
    from ...core.hub import BOOTSTRAP_GROUP
    from ...core.tokens import (
        BOOTSTRAP_TOKEN_NAMESPACE,
        bootstrap_token_info,
        bootstrap_token_secret_name,
        parse_bootstrap_token,
    )

    parsed = parse_bootstrap_token(token)
    if parsed is None:
        return False
    stored = _get_or_none(
        parent, SECRET.object_path(bootstrap_token_secret_name(parsed.token_id), BOOTSTRAP_TOKEN_NAMESPACE)
    )
    info = bootstrap_token_info(stored) if stored else None
    if stored is None or info is None:
        return False
    secret_part = (stored.get("data") or {}).get("token-secret") or ""
    same_token = base64.b64decode(secret_part).decode(errors="replace") == parsed.secret
    return (
        same_token
        and "authentication" in info.usages
        and BOOTSTRAP_GROUP in info.groups
        and not info.expired(now + _MIN_REUSED_TOKEN_LIFETIME)
    )


def _stored_token(app: AppContext, child: RestClient, parent_url: str, now: datetime) -> str | None:
    """The token in the child's registration Secret, if it is for this parent and still works there: reusing
    it keeps a repeated join from changing anything."""
    from ...core.apis.builtin import SECRET
    from ...core.deployments import REGISTRATION_SECRET, registration_values
    from ...core.hub import SYSTEM_NAMESPACE

    secret = _get_or_none(child, SECRET.object_path(REGISTRATION_SECRET, SYSTEM_NAMESPACE))
    if secret is None:
        return None
    stored_url, token = registration_values(secret)
    if stored_url.rstrip("/") != parent_url or not token:
        return None
    return token if _usable_bootstrap_token(app.client, token, now) else None


def _path_of(obj: dict[str, Any]) -> str:
    from ...core.kube.apply import type_of

    resource_type = type_of(obj)
    metadata = obj["metadata"]
    return resource_type.object_path(
        metadata["name"], metadata.get("namespace") if resource_type.namespaced else None
    )


def _line(obj: dict[str, Any], verdict: str, suffix: str) -> str:
    from ...core.kube.apply import type_of

    return f"{type_of(obj).name_prefix}/{obj['metadata']['name']} {verdict}{suffix}"


def _create_token(
    app: AppContext, request: JoinRequest, description: str, now: datetime, undo: _Undo
) -> tuple[str, str]:
    """A new bootstrap token in the parent (a server dry run only pretends); returns (token, what to print)."""
    from ...core.apis.builtin import SECRET
    from ...core.errors import ApiError, ClusternetError
    from ...core.tokens import (
        BOOTSTRAP_TOKEN_NAMESPACE,
        bootstrap_token_secret,
        bootstrap_token_secret_name,
        format_duration,
        generate_bootstrap_token,
    )
    from .tokens import create_bootstrap_token

    suffix = DRY_RUN_SUFFIX[request.dry_run]
    if request.dry_run == "client":
        return _PLACEHOLDER_TOKEN, f"bootstrap token created in the parent{suffix}"
    try:
        if request.dry_run == "server":
            token = generate_bootstrap_token()
            body = bootstrap_token_secret(token, now=now, ttl=request.ttl, description=description)
            collection = SECRET.collection_path(BOOTSTRAP_TOKEN_NAMESPACE)
            app.client.create(collection, body, query=[("dryRun", "All")])
            return _PLACEHOLDER_TOKEN, f'bootstrap token "{token.token_id}" created in the parent{suffix}'
        token, created = create_bootstrap_token(app.client, ttl=request.ttl, description=description, now=now)
    except ApiError as error:
        raise ClusternetError(
            f"the parent cluster refused to create a bootstrap token: {error.message}"
        ) from error
    path = SECRET.object_path(bootstrap_token_secret_name(token.token_id), BOOTSTRAP_TOKEN_NAMESPACE)
    undo.add(f"bootstrap token {token.token_id} in the parent", lambda: app.client.delete(path))
    expiry = (
        f"it expires {created.expires.strftime('%Y-%m-%dT%H:%M:%SZ')} (in {format_duration(request.ttl)})"
        if created.expires
        else "it never expires"
    )
    return created.token, f'bootstrap token "{token.token_id}" created in the parent; {expiry}'


def _in_child(obj: dict[str, Any], write: Callable[[], str]) -> str:
    """Run one write against the child, naming the object and the cluster when the child refuses it."""
    from ...core.errors import ApiError, ClusternetError

    try:
        return write()
    except ApiError as error:
        raise ClusternetError(
            f"the child cluster refused {_line(obj, '', '').strip()}: {error.message}"
        ) from error


def _validate_in_child(
    child: RestClient, planned: list[dict[str, Any]], namespace_exists: bool, dry_run: str, undo: _Undo
) -> list[str]:
    """Server dry run of every object; returns the verdicts a real apply would print.

    Namespaced objects cannot be dry-run into a namespace that does not exist. A real join creates the
    namespace first (undone on failure); a server dry run, which must write nothing, judges those objects by
    reading instead, as ``hub install --dry-run=server`` does.
    """
    from ...core.hub import SYSTEM_NAMESPACE
    from ...core.kube.apply import apply_object

    namespace, *rest = planned
    verdicts: list[str] = []
    if namespace_exists or dry_run == "server":
        verdicts.append(_in_child(namespace, partial(apply_object, child, namespace, dry_run=True)))
    else:
        _in_child(namespace, partial(apply_object, child, namespace))
        undo.add(f"namespace {SYSTEM_NAMESPACE}", lambda: child.delete(_path_of(namespace)))
        verdicts.append("created")
    plan_only = dry_run == "server" and not namespace_exists
    for obj in rest:
        verdicts.append(
            _in_child(obj, partial(apply_object, child, obj, dry_run=not plan_only, plan_only=plan_only))
        )
    return verdicts


def _deleter(client: RestClient, path: str) -> Callable[[], object]:
    return lambda: client.delete(path)


def _apply_in_child(
    child: RestClient,
    objects: list[dict[str, Any]],
    namespace_exists: bool,
    namespace_verdict: str,
    undo: _Undo,
) -> list[str]:
    """Apply for real, remembering every object that is new so a failure can delete it again."""
    from ...core.kube.apply import apply_object

    namespace, *rest = objects
    verdicts = [
        _in_child(namespace, partial(apply_object, child, namespace))
        if namespace_exists
        else namespace_verdict
    ]
    for obj in rest:
        verdict = _in_child(obj, partial(apply_object, child, obj))
        if verdict == "created":
            undo.add(_line(obj, "", "").strip(), _deleter(child, _path_of(obj)))
        verdicts.append(verdict)
    return verdicts


def join_cluster(app: AppContext, request: JoinRequest) -> None:
    """Install the agent into the child and print kubectl's lines for every object, then what to watch."""
    from ...core.deployments import DEFAULT_IMAGE, agent_arguments
    from ...core.errors import UsageError
    from ...core.tokens import token_kind

    # 1. Everything that needs no cluster.
    agent_arguments(request.sync_mode, request.cluster_name)  # UsageError for what the agent would reject
    if request.token is not None and token_kind(request.token) is None:
        raise UsageError(
            "--cluster-reg-token must be a bootstrap token [a-z0-9]{6}.[a-z0-9]{16} or a ServiceAccount "
            "token (JWT)"
        )
    image = request.image or DEFAULT_IMAGE
    child = _child_client(app, request)
    try:
        _join_with(app, request, child, image)
    finally:
        child.close()


def _join_with(app: AppContext, request: JoinRequest, child: RestClient, image: str) -> None:
    """Checks, validation, token, apply: see the module docstring for the order and why."""
    from ...core.apis.builtin import NAMESPACE
    from ...core.deployments import agent_objects
    from ...core.errors import ClusternetError
    from ...core.hub import SYSTEM_NAMESPACE
    from ...core.kube.apply import apply_object

    parent_url = _parent_url(app, request)

    # 2. Both clusters, read only.
    _check_parent_has_crds(app)
    _check_child_reachable(child)
    now = app.env.now()
    token = request.token.strip() if request.token else _stored_token(app, child, parent_url, now)
    token_note = None
    if request.token:
        token_note = "using the token given with --cluster-reg-token"
    elif token:
        token_note = "using the bootstrap token already stored in the child (still valid in the parent)"

    def objects(with_token: str) -> list[dict[str, Any]]:
        return agent_objects(
            parent_url,
            with_token,
            image=image,
            replicas=request.replicas,
            sync_mode=request.sync_mode,
            cluster_name=request.cluster_name,
        )

    suffix = DRY_RUN_SUFFIX[request.dry_run]
    description = f"kubectl clusternet join {request.cluster_name or child.connection.server}"
    namespace_exists = _get_or_none(child, NAMESPACE.object_path(SYSTEM_NAMESPACE)) is not None
    undo = _Undo()
    try:
        planned = objects(token or _PLACEHOLDER_TOKEN)
        verdicts: list[str]
        if request.dry_run == "client":
            verdicts = [apply_object(child, obj, plan_only=True) for obj in planned]
        else:
            # 3. Every object through the child's API server without persisting: schema, admission and RBAC
            #    (binding cluster-admin needs the caller to hold it).
            verdicts = _validate_in_child(child, planned, namespace_exists, request.dry_run, undo)
        # 4. The token, now that the child accepts everything.
        if token is None:
            token, token_note = _create_token(app, request, description, now, undo)
        if request.dry_run == "none":
            # 5. For real, in order.
            planned = objects(token)
            verdicts = _apply_in_child(child, planned, namespace_exists, verdicts[0], undo)
    except (ClusternetError, KeyboardInterrupt):
        left = undo.run()
        if left:
            app.env.err(f"warning: could not remove what this join created: {', '.join(left)}")
        raise

    if token_note:
        app.env.out(token_note)
    for obj, verdict in zip(planned, verdicts, strict=True):
        app.env.out(_line(obj, verdict, suffix))
    if request.dry_run == "none":
        app.env.out()
        app.env.out(f"The agent ({image}) registers with {parent_url} once its pods run. Watch it join:")
        app.env.out()
        app.env.out("  kubectl clusternet get clsrr")
        app.env.out("  kubectl clusternet get mcls -A -w")


@click.command("join")
@click.option(
    "--child-kubeconfig",
    "child_kubeconfig_option",
    default=None,
    metavar="FILE",
    help="Kubeconfig of the child cluster to join, required (admin rights: it binds the agent to "
    "cluster-admin).",
)
@click.option(
    "--child-context", default=None, metavar="CONTEXT", help="Context in --child-kubeconfig to use."
)
@click.option(
    "--cluster-reg-token",
    "token",
    default=None,
    metavar="TOKEN",
    help="Registration token to store in the child (the agent's flag of the same name); by default a "
    "bootstrap token is created in the parent, or the still-valid one already in the child is reused.",
)
@click.option(
    "--cluster-name",
    default=None,
    metavar="NAME",
    help="Name of the ManagedCluster (at most 30 characters); by default clusternet-cluster-<random>.",
)
@click.option(
    "--sync-mode",
    type=click.Choice(["Pull", "Push", "Dual"]),
    default="Pull",
    show_default=True,
    help="Who applies Descriptions in the child: the agent (Pull), the hub (Push), or both (Dual).",
)
@click.option(
    "--image",
    default=None,
    metavar="IMAGE",
    help="Image of agent-lite (built from the project's Dockerfile).  [default: kubectl-clusternet:<version>]",
)
@click.option("--replicas", type=click.IntRange(min=1), default=3, show_default=True, help="Agent replicas.")
@click.option(
    "--parent-url",
    default=None,
    metavar="URL",
    help="Parent URL the child's agent dials; defaults to the parent context's server.",
)
@click.option(
    "--ttl",
    default="24h",
    show_default=True,
    help="Lifetime of a newly created bootstrap token (the agent needs it only until it registers).",
)
@click.option(
    "--dry-run",
    type=click.Choice(["none", "client", "server"]),
    default="none",
    is_flag=False,
    flag_value="client",
    help='"client" only prints what would change; "server" asks both API servers to validate without persisting.',
)
@click.pass_obj
def join_command(
    app: AppContext,
    child_kubeconfig_option: str | None,
    child_context: str | None,
    token: str | None,
    cluster_name: str | None,
    sync_mode: str,
    image: str | None,
    replicas: int,
    parent_url: str | None,
    ttl: str,
    dry_run: str,
) -> None:
    """Join a child cluster to the current parent by its kubeconfig: install agent-lite into it.

    Uses the current parent context (the global flags) to create a bootstrap token, then applies to the
    child the namespace clusternet-system, Secret clusternet-agent-cluster-registration (parentURL,
    regToken), the agent's ServiceAccount and RBAC, and Deployment clusternet-agent. Idempotent: a second
    run reports "unchanged". Nothing is written when a check fails. (The registration token is given with
    --cluster-reg-token: --token is kubectl's global flag, the parent's bearer token.)

    \b
    Examples:
      kubectl clusternet join --child-kubeconfig child.kubeconfig --cluster-name edge-1
      kubectl clusternet --context parent join --child-kubeconfig ~/.kube/config --child-context edge-2
      kubectl clusternet join --child-kubeconfig child.kubeconfig --dry-run=server
    """
    from ...core.errors import UsageError
    from ...core.tokens import parse_ttl

    # --child-kubeconfig is also a global flag (with --cluster-id), so the global parser usually takes it.
    child_kubeconfig = child_kubeconfig_option or app.flags.child_kubeconfig
    if not child_kubeconfig:
        raise UsageError("join needs --child-kubeconfig FILE: the kubeconfig of the cluster to join")
    if app.flags.cluster_id:
        raise UsageError("join talks to the child directly: --cluster-id does not apply")
    if image is not None and not image.strip():
        raise UsageError("--image must name an image")
    join_cluster(
        app,
        JoinRequest(
            child_kubeconfig=child_kubeconfig,
            child_context=child_context,
            token=token,
            cluster_name=cluster_name,
            sync_mode=sync_mode,
            image=image,
            replicas=replicas,
            parent_url=parent_url,
            ttl=parse_ttl(ttl),
            dry_run=dry_run,
        ),
    )


COMMAND = join_command
