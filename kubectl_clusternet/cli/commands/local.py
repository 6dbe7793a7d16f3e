"""``kubectl clusternet local up|status|down``: a real local fleet (parent + children) for trying things out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from ..context import AppContext

__all__ = ["COMMAND"]


def _fleet_dir(app: AppContext, directory: str | None) -> Path:
    from ...localfleet import default_dir

    return Path(directory).expanduser().resolve() if directory else default_dir()


def _describe_fleet(app: AppContext, state: object) -> None:
    parent = state.parent  # type: ignore[attr-defined]
    children = state.children  # type: ignore[attr-defined]
    app.env.out(f"parent     {parent.server}   kubeconfig: {parent.kubeconfig}")
    for child in children:
        app.env.out(f"{child.name:<10} {child.server}   kubeconfig: {child.kubeconfig}")
    processes = getattr(state, "processes", [])
    if processes:
        from ..printers import format_table

        rows = [["PROCESS", "PID", "STATE"]]
        rows += [[p.name, str(p.pid), "running" if p.running else "stopped"] for p in processes]
        app.env.out("")
        app.env.stdout.write(format_table(rows))


@click.group("local")
def local_group() -> None:
    """Run a local fleet of real control planes (etcd, kube-apiserver, kube-controller-manager) on loopback."""


@local_group.command("up")
@click.option(
    "--children", default=2, show_default=True, type=click.IntRange(1, 20), help="How many child clusters."
)
@click.option("--dir", "directory", default=None, help="State directory (kubeconfigs, logs, data).")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait until every child has registered and is Ready.",
)
@click.pass_obj
def up_command(app: AppContext, children: int, directory: str | None, wait: bool) -> None:
    """Start a parent and N child clusters on loopback, install the hub objects into the parent, and return
    with everything running in the background.

    \b
    Examples:
      kubectl clusternet local up
      kubectl clusternet local up --children 3 --dir /tmp/fleet
    """
    from ... import localfleet
    from .fleetdaemons import start_daemons
    from .hub import install_hub

    fleet_dir = _fleet_dir(app, directory)
    state, started_now = localfleet.up(fleet_dir, children=children, progress=lambda line: app.env.err(line))
    if not started_now:
        app.env.out(f"A local fleet is already running in {fleet_dir}:")
        _describe_fleet(app, state)
        return
    parent_app = AppContext(
        env=app.env, flags=replace(app.flags, kubeconfig=str(state.parent.kubeconfig), context=None)
    )
    try:
        install_hub(parent_app)
        start_daemons(state, lambda line: app.env.err(line))
        if wait:
            _wait_until_ready(parent_app, len(state.children), fleet_dir)
            _wait_for_proxy(parent_app, fleet_dir)
    finally:
        parent_app.close()
    app.env.out("")
    app.env.out(f"Local fleet running in {fleet_dir}:")
    _describe_fleet(app, localfleet.status(fleet_dir) or state)
    app.env.out("")
    parent_kubeconfig = state.parent.kubeconfig
    app.env.out(f"Try: kubectl clusternet --kubeconfig {parent_kubeconfig} get mcls -A")
    if state.children:
        child = state.children[0]
        app.env.out(
            f"     kubectl clusternet --kubeconfig {parent_kubeconfig} --cluster {child.name} "
            f"--child-kubeconfig {child.kubeconfig} get ns"
        )
    app.env.out("Stop it with: kubectl clusternet local down" + (f" --dir {fleet_dir}" if directory else ""))


def _wait_until_ready(parent_app: AppContext, expected: int, fleet_dir: Path, timeout: float = 180.0) -> None:
    """Poll the parent's ManagedClusters until ``expected`` of them report Ready, saying what is still missing."""
    import time

    from ...core.apis.clusters import MANAGED_CLUSTER
    from ...core.errors import LocalFleetError

    deadline = time.monotonic() + timeout
    last = ""
    while True:
        items = parent_app.client.get(MANAGED_CLUSTER.collection_path()).get("items") or []
        ready = [
            item["metadata"]["name"]
            for item in items
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (item.get("status") or {}).get("conditions") or []
            )
        ]
        summary = f"{len(ready)}/{expected} clusters registered and Ready"
        if summary != last:
            parent_app.env.err(summary)
            last = summary
        if len(ready) >= expected:
            return
        if time.monotonic() >= deadline:
            raise LocalFleetError(
                f"only {summary} after {int(timeout)}s; see the logs in {fleet_dir / 'logs'}"
            )
        time.sleep(1.0)


def _wait_for_proxy(parent_app: AppContext, fleet_dir: Path, timeout: float = 120.0) -> None:
    """Wait until the parent's aggregation layer reaches the hub's proxy, so child mode works at once."""
    import time

    from ...core.errors import LocalFleetError
    from ...localfleet.frontdoor import front_door_available

    deadline = time.monotonic() + timeout
    while not front_door_available(parent_app.client):
        if time.monotonic() >= deadline:
            raise LocalFleetError(
                f"the parent did not reach the hub's proxy within {int(timeout)}s; "
                f"see {fleet_dir / 'logs' / 'hub-lite-proxy.log'}"
            )
        time.sleep(0.5)
    parent_app.env.err("the hub's proxy is available through the parent")


@local_group.command("status")
@click.option("--dir", "directory", default=None, help="State directory of the fleet.")
@click.option(
    "--kubeconfig-path",
    "kubeconfig_of",
    default=None,
    metavar="CLUSTER",
    help="Print only the kubeconfig path of CLUSTER (parent, child-1, …), for scripts.",
)
@click.pass_obj
def status_command(app: AppContext, directory: str | None, kubeconfig_of: str | None) -> None:
    """Show the local fleet and whether its processes run."""
    from ... import localfleet
    from ...core.errors import LocalFleetError

    fleet_dir = _fleet_dir(app, directory)
    state = localfleet.status(fleet_dir)
    if state is None:
        raise LocalFleetError(
            f"no local fleet is running in {fleet_dir} (start one with: kubectl clusternet local up)"
        )
    if kubeconfig_of:
        clusters = {c.name: c for c in [state.parent, *state.children]}
        if kubeconfig_of not in clusters:
            raise LocalFleetError(
                f"no cluster {kubeconfig_of!r} in the local fleet (have: {', '.join(clusters)})"
            )
        app.env.out(str(clusters[kubeconfig_of].kubeconfig))
        return
    app.env.out(f"Local fleet in {fleet_dir}:")
    _describe_fleet(app, state)


@local_group.command("binaries")
@click.pass_obj
def binaries_command(app: AppContext) -> None:
    """Find the control-plane binaries, or build them once from Debian's kubernetes sources (about 9 minutes)."""
    from ...localfleet.binaries import ensure_binaries

    binaries = ensure_binaries(lambda line: app.env.err(line))
    for name, path in sorted(vars(binaries).items()):
        app.env.out(f"{name:<24} {path}")


@local_group.command("down")
@click.option("--dir", "directory", default=None, help="State directory of the fleet.")
@click.pass_obj
def down_command(app: AppContext, directory: str | None) -> None:
    """Stop every process the local fleet started (and only those) and remove its state."""
    from ... import localfleet

    fleet_dir = _fleet_dir(app, directory)
    stopped = localfleet.down(fleet_dir, progress=lambda line: app.env.err(line))
    app.env.out(f"Stopped {stopped} process{'es' if stopped != 1 else ''}; removed {fleet_dir}.")


COMMAND = local_group
