"""``kubectl clusternet proxy-url CLUSTER``: the URL that reaches a child cluster through the parent."""

from __future__ import annotations

import click

from ..context import AppContext

__all__ = ["COMMAND"]


@click.command("proxy-url")
@click.argument("cluster")
@click.option(
    "--to",
    "destination",
    default=None,
    metavar="[http|https]://HOST:PORT",
    help="A destination the agent allows (--tunnel-allowed-destinations) instead of the child's API server.",
)
@click.pass_obj
def proxy_url_command(app: AppContext, cluster: str, destination: str | None) -> None:
    """Print the proxy URL of CLUSTER (a name, namespace/name, or cluster ID), for curl and other clients.

    Requests need the child's credentials as impersonation extras, as the parent forwards them:

    \b
    Examples:
      curl --cacert parent-ca.crt -H "Authorization: Bearer $PARENT_TOKEN" \\
        -H "Impersonate-User: clusternet" -H "Impersonate-Extra-Clusternet-Token: $CHILD_TOKEN" \\
        "$(kubectl clusternet proxy-url child-1)/api/v1/namespaces"
      kubectl clusternet proxy-url child-1 --to http://127.0.0.1:8080
    """
    from ...core.apis.clusters import MANAGED_CLUSTER
    from ...core.childmode import resolve_cluster_id
    from ...core.errors import UsageError
    from ...core.proxy import proxy_base_url

    kind, target = "direct", ""
    if destination is not None:
        scheme, separator, target = destination.partition("://")
        if not separator or scheme not in ("http", "https") or not target or "/" in target:
            raise UsageError(f'--to must look like https://HOST:PORT or http://HOST:PORT, not "{destination}"')
        kind = scheme
    listing = app.client.get(MANAGED_CLUSTER.collection_path())
    cluster_id = resolve_cluster_id(listing.get("items") or [], cluster)
    url = proxy_base_url(str(app.config.cluster.get("server") or ""), cluster_id, kind)
    app.env.out(f"{url}/{target}" if target else url)


COMMAND = proxy_url_command
