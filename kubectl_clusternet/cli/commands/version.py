"""``kubectl clusternet version``: the client's version, and the parent's when it can be reached."""

from __future__ import annotations

import json
import platform
import sys

import click

from ... import __version__
from ..context import AppContext

__all__ = ["COMMAND", "client_version_info"]


def client_version_info() -> dict[str, str]:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return {
        "gitVersion": f"v{__version__}",
        "pythonVersion": platform.python_version(),
        "platform": f"{sys.platform}/{arch}",
    }


@click.command("version")
@click.option(
    "--client", "client_only", is_flag=True, help="If true, shows client version only (no server required)."
)
@click.option(
    "-o", "--output", type=click.Choice(["yaml", "json"]), default=None, help="One of 'yaml' or 'json'."
)
@click.pass_obj
def version_command(app: AppContext, client_only: bool, output: str | None) -> None:
    """Print the client and server version information."""
    document: dict[str, object] = {"clientVersion": client_version_info()}
    server_error = None
    if not client_only:
        from ...core.errors import ClusternetError

        try:
            document["serverVersion"] = app.client.get("/version")
        except ClusternetError as error:
            server_error = error
    if output == "json":
        app.env.out(json.dumps(document, indent=2))
    elif output == "yaml":
        import yaml

        app.env.out(yaml.safe_dump(document, sort_keys=False).rstrip("\n"))
    else:
        app.env.out(f"Client Version: {document['clientVersion']['gitVersion']}")  # type: ignore[index]
        server = document.get("serverVersion")
        if isinstance(server, dict):
            app.env.out(f"Server Version: {server.get('gitVersion', '')}")
    if server_error is not None:
        raise server_error


COMMAND = version_command
