"""``kubectl clusternet create bootstrap-token`` and the token helpers behind ``get bootstrap-tokens`` and
``delete bootstrap-token``: the credentials a new child cluster registers with.

Bootstrap tokens are stored exactly as kubeadm stores them (Secret ``kube-system/bootstrap-token-<id>``), so
the API server authenticates them, the bootstrapsigner signs ``cluster-info`` with them (which lets an agent
verify the parent's CA), and the tokencleaner deletes them when they expire.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from ..context import AppContext

if TYPE_CHECKING:
    from ...core.kube.rest import RestClient
    from ...core.tokens import BootstrapToken

__all__ = [
    "COMMAND",
    "CreatedToken",
    "agent_command_line",
    "create_bootstrap_token",
    "create_service_account_token",
    "delete_bootstrap_token",
    "list_bootstrap_tokens",
    "bootstrap_token_rows",
]


@dataclass(frozen=True)
class CreatedToken:
    """A new registration credential and when it stops working (None: never)."""

    token: str
    expires: datetime | None
    kind: str  # "bootstrap" or "serviceaccount"


def create_bootstrap_token(
    client: RestClient, *, ttl: timedelta, description: str, now: datetime
) -> tuple[BootstrapToken, CreatedToken]:
    """Store a fresh bootstrap token in the parent; a new ID is drawn if the first one is taken."""
    from ...core.apis.builtin import SECRET
    from ...core.errors import ApiError
    from ...core.tokens import BOOTSTRAP_TOKEN_NAMESPACE, bootstrap_token_secret, generate_bootstrap_token

    for _ in range(5):
        token = generate_bootstrap_token()
        body = bootstrap_token_secret(token, now=now, ttl=ttl, description=description)
        try:
            client.create(SECRET.collection_path(BOOTSTRAP_TOKEN_NAMESPACE), body)
        except ApiError as error:
            if error.status == 409:
                continue
            raise
        expires = now + ttl if ttl > timedelta(0) else None
        return token, CreatedToken(token.value, expires, "bootstrap")
    raise ApiError(
        "could not find a free bootstrap token ID after 5 attempts", status=409, reason="AlreadyExists"
    )


def create_service_account_token(
    client: RestClient, *, name: str, ttl: timedelta, now: datetime
) -> CreatedToken:
    """Make sure ServiceAccount ``clusternet-system/<name>`` may register clusters, then issue it a token."""
    from ...core.apis.builtin import CLUSTER_ROLE_BINDING, SERVICE_ACCOUNT
    from ...core.errors import ApiError, UsageError
    from ...core.hub import SYSTEM_NAMESPACE
    from ...core.registration import MIN_TOKEN_EXPIRATION_SECONDS, parse_time, token_request
    from ...core.tokens import (
        BOOTSTRAP_SA_BINDING,
        bootstrap_service_account,
        bootstrap_service_account_binding,
    )

    seconds = int(ttl.total_seconds())
    if seconds <= 0:
        raise UsageError("ServiceAccount tokens always expire: give --ttl a duration of at least 10m")
    if seconds < MIN_TOKEN_EXPIRATION_SECONDS:
        raise UsageError(
            "--ttl must be at least 10m for ServiceAccount tokens (the TokenRequest API's minimum)"
        )
    try:
        client.create(SERVICE_ACCOUNT.collection_path(SYSTEM_NAMESPACE), bootstrap_service_account(name))
    except ApiError as error:
        if error.status != 409:
            raise
    binding = bootstrap_service_account_binding(name)
    try:
        client.create(CLUSTER_ROLE_BINDING.collection_path(), binding)
    except ApiError as error:
        if error.status != 409:
            raise
        # The binding exists (maybe for another ServiceAccount): add this one as a subject if it is missing.
        current = client.get(CLUSTER_ROLE_BINDING.object_path(BOOTSTRAP_SA_BINDING))
        subjects = list(current.get("subjects") or [])
        wanted = binding["subjects"][0]
        if not any(
            s.get("kind") == "ServiceAccount"
            and s.get("name") == name
            and s.get("namespace") == SYSTEM_NAMESPACE
            for s in subjects
        ):
            current["subjects"] = [*subjects, wanted]
            client.replace(CLUSTER_ROLE_BINDING.object_path(BOOTSTRAP_SA_BINDING), current)
    issued = client.create(
        SERVICE_ACCOUNT.object_path(name, SYSTEM_NAMESPACE) + "/token", token_request(seconds)
    )
    status = issued.get("status") or {}
    return CreatedToken(
        str(status.get("token") or ""), parse_time(status.get("expirationTimestamp")), "serviceaccount"
    )


def agent_command_line(parent_url: str, token: str, child_kubeconfig: str = "<child kubeconfig>") -> str:
    """The exact command that starts an agent registering a child with this token."""
    words = [
        "agent-lite",
        f"--kubeconfig={child_kubeconfig}",
        f"--cluster-reg-parent-url={parent_url}",
        f"--cluster-reg-token={token}",
    ]
    return " ".join(w if w.endswith("<child kubeconfig>") else shlex.quote(w) for w in words)


def bootstrap_token_rows(secrets: list[dict[str, Any]], now: datetime) -> list[list[str]]:
    """``get bootstrap-tokens`` as table rows (header first), in kubeadm's style; never the secret part."""
    from ...core.tokens import bootstrap_token_info
    from ..printers import human_duration

    rows = [["TOKEN ID", "TTL", "EXPIRES", "USAGES", "DESCRIPTION"]]
    infos = [info for info in (bootstrap_token_info(secret) for secret in secrets) if info is not None]
    for info in sorted(infos, key=lambda i: i.token_id):
        if info.expires is None:
            ttl, expires = "<forever>", "<never>"
        else:
            left = (info.expires - now).total_seconds()
            ttl = "<invalid>" if left <= 0 else human_duration(left)
            expires = info.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(
            [info.token_id, ttl, expires, ",".join(info.usages) or "<none>", info.description or "<none>"]
        )
    return rows


def list_bootstrap_tokens(app: AppContext) -> None:
    """Print the parent's bootstrap tokens: ID, time left, expiry, usages, description."""
    from ...core.apis.builtin import SECRET
    from ...core.tokens import BOOTSTRAP_TOKEN_NAMESPACE, BOOTSTRAP_TOKEN_SECRET_TYPE
    from ..printers import format_table

    listing = app.client.get(
        SECRET.collection_path(BOOTSTRAP_TOKEN_NAMESPACE),
        query=[("fieldSelector", f"type={BOOTSTRAP_TOKEN_SECRET_TYPE}")],
    )
    rows = bootstrap_token_rows(list(listing.get("items") or []), app.env.now())
    if len(rows) == 1:
        app.env.err(f"No bootstrap tokens found in {BOOTSTRAP_TOKEN_NAMESPACE} namespace.")
        return
    app.env.stdout.write(format_table(rows))


def delete_bootstrap_token(app: AppContext, token_id: str) -> None:
    """Revoke a bootstrap token by ID (or by the whole ``<id>.<secret>``, as kubeadm accepts)."""
    from ...core.apis.builtin import SECRET
    from ...core.errors import ApiError, NotFoundError, UsageError
    from ...core.tokens import BOOTSTRAP_TOKEN_NAMESPACE, TokenError, bootstrap_token_secret_name

    token_id = token_id.strip().split(".", 1)[0]
    try:
        name = bootstrap_token_secret_name(token_id)
    except TokenError as error:
        raise UsageError(str(error)) from error
    try:
        app.client.delete(SECRET.object_path(name, BOOTSTRAP_TOKEN_NAMESPACE))
    except ApiError as error:
        if error.status == 404:
            raise NotFoundError(f'bootstrap token "{token_id}" not found') from error
        raise
    app.env.out(f'bootstrap token "{token_id}" deleted')


@click.group("create")
def create_group() -> None:
    """Create registration credentials in the parent cluster."""


@create_group.command("bootstrap-token")
@click.option(
    "--ttl", default="24h", show_default=True, help="How long the token works; 0 means it never expires."
)
@click.option("--description", default="", help="A note shown by `get bootstrap-tokens`.")
@click.option(
    "--service-account",
    "service_account",
    is_flag=True,
    help="Issue a ServiceAccount token (TokenRequest API) bound to the bootstrapping role instead.",
)
@click.option(
    "--service-account-name",
    default="cluster-bootstrap-use",
    show_default=True,
    help="With --service-account: the ServiceAccount in clusternet-system.",
)
@click.option(
    "--parent-url",
    default=None,
    help="Parent URL the children reach; defaults to the current context's server.",
)
@click.option("--print-token", is_flag=True, help="Print only the token, for scripts.")
@click.pass_obj
def create_bootstrap_token_command(
    app: AppContext,
    ttl: str,
    description: str,
    service_account: bool,
    service_account_name: str,
    parent_url: str | None,
    print_token: bool,
) -> None:
    """Create a token that lets a child cluster's agent register with this parent.

    The token may only create and read ClusterRegistrationRequests. By default it is a bootstrap token
    (Secret kube-system/bootstrap-token-<id>, kubeadm format); with --service-account it is a bound token
    of ServiceAccount clusternet-system/cluster-bootstrap-use.

    \b
    Examples:
      kubectl clusternet create bootstrap-token
      kubectl clusternet create bootstrap-token --ttl 2h --description "edge rollout"
      kubectl clusternet create bootstrap-token --service-account --ttl 1h
    """
    from ...core.tokens import format_duration, parse_ttl

    duration = parse_ttl(ttl)
    now = app.env.now()
    if service_account:
        created = create_service_account_token(app.client, name=service_account_name, ttl=duration, now=now)
        what = f"token of ServiceAccount clusternet-system/{service_account_name}"
    else:
        _, created = create_bootstrap_token(app.client, ttl=duration, description=description, now=now)
        what = "bootstrap token"
    if print_token:
        app.env.out(created.token)
        return
    url = parent_url or str(app.config.cluster.get("server") or "")
    expiry = (
        f"expires {created.expires.strftime('%Y-%m-%dT%H:%M:%SZ')} (in {format_duration(duration)})"
        if created.expires
        else "never expires"
    )
    app.env.out(f"{what} created; it {expiry}:")
    app.env.out()
    app.env.out(f"  {created.token}")
    app.env.out()
    app.env.out(
        "Anyone holding it can register a cluster with this parent; keep it secret. To join a child cluster,"
    )
    app.env.out("run the agent against it:")
    app.env.out()
    app.env.out(f"  {agent_command_line(url, created.token)}")


COMMAND = create_group
