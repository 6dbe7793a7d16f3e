"""``kubectl clusternet api-resources``: the Clusternet kinds, with the names `get`, `describe` and `delete` accept."""

from __future__ import annotations

import click

from ..context import AppContext

__all__ = ["COMMAND"]


@click.command("api-resources")
@click.option(
    "-o", "--output", type=click.Choice(["wide", "name"]), default=None, help="Output format: wide or name."
)
@click.option("--no-headers", is_flag=True, help="Don't print headers.")
@click.pass_obj
def api_resources_command(app: AppContext, output: str | None, no_headers: bool) -> None:
    """Print the Clusternet resource types (native kinds such as deployments work too, as feeds)."""
    from ...core.apis import CLUSTERNET_TYPES
    from ..printers import format_table

    if output == "name":
        for resource_type in CLUSTERNET_TYPES:
            app.env.out(resource_type.group_resource)
        return
    rows = [] if no_headers else [["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]]
    if output == "wide" and rows:
        rows[0].append("CATEGORIES")
    for t in CLUSTERNET_TYPES:
        row = [t.plural, ",".join(t.short_names), t.api_version, "true" if t.namespaced else "false", t.kind]
        if output == "wide":
            row.append(",".join(t.categories))
        rows.append(row)
    app.env.stdout.write(format_table(rows))


COMMAND = api_resources_command
