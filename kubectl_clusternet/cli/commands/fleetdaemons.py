"""Start hub-lite and one agent-lite per child for ``local up``, so a local fleet registers itself.

The daemons run as background processes in their own sessions (they outlive the CLI), log under
``<fleet dir>/logs/`` and are recorded in the fleet's state, so ``local down`` stops them with the clusters.
Heartbeats are short (a report every 5 s) so the demo shows clusters turning Ready, and Unknown after an
agent stops, within seconds rather than upstream's minutes.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...localfleet import ClusterInfo, FleetState
    from ...localfleet.frontdoor import FrontDoor

__all__ = [
    "StartedDaemon",
    "start_daemons",
    "hub_argv",
    "hub_proxy_argv",
    "agent_argv",
    "DEMO_REPORT_FREQUENCY",
]

DEMO_REPORT_FREQUENCY = "5s"
DEMO_COLLECT_FREQUENCY = "5s"
_TOKEN_DESCRIPTION = "local fleet agents (kubectl clusternet local up)"


@dataclass(frozen=True)
class StartedDaemon:
    name: str
    pid: int
    log: Path
    healthz_port: int


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hub_argv(parent_kubeconfig: Path, healthz_port: int) -> list[str]:
    """The hub's command line (this Python, so it runs from the same installation as the CLI)."""
    return [
        sys.executable,
        "-m",
        "hub_lite",
        f"--kubeconfig={parent_kubeconfig}",
        f"--healthz-port={healthz_port}",
        # One hub per fleet: a short lease lets a restarted hub take over quickly.
        "--leader-elect-lease-duration=6s",
        "--leader-elect-renew-deadline=4s",
        "--leader-elect-retry-period=1s",
    ]


def agent_argv(child: ClusterInfo, parent_url: str, healthz_port: int) -> list[str]:
    """An agent's command line; the token goes through the environment, never the process list."""
    return [
        sys.executable,
        "-m",
        "agent_lite",
        f"--kubeconfig={child.kubeconfig}",
        f"--cluster-reg-parent-url={parent_url}",
        f"--cluster-reg-name={child.name}",
        f"--cluster-status-update-frequency={DEMO_REPORT_FREQUENCY}",
        f"--cluster-status-collect-frequency={DEMO_COLLECT_FREQUENCY}",
        f"--healthz-port={healthz_port}",
        # The tunnel, so `--cluster-id … --child-kubeconfig …` reaches the child through the parent.
        "--feature-gates=SocketConnection=true",
    ]


def hub_proxy_argv(parent_kubeconfig: Path, door: FrontDoor) -> list[str]:
    """The hub's proxy (agent tunnels and proxies.clusternet.io), behind the parent's aggregation layer."""
    return [
        sys.executable,
        "-m",
        "hub_lite.proxy_app",
        f"--kubeconfig={parent_kubeconfig}",
        f"--bind-address={door.address}",
        f"--port={door.port}",
        f"--tls-cert-file={door.cert_file}",
        f"--tls-private-key-file={door.key_file}",
    ]


def start_daemons(
    state: FleetState, progress: Callable[[str], None] = lambda line: None
) -> list[StartedDaemon]:
    """Create a bootstrap token in the parent, open the hub's front door in the parent's aggregation layer,
    then start hub-lite, its proxy, and one agent-lite per child.

    Call after ``hub install``. Returns what was started; each process is registered with the fleet.
    """
    from ...core.apiservice import APISERVICE_NAME
    from ...core.kube.kubeconfig import ConfigOverrides, load_and_resolve
    from ...core.kube.rest import RestClient, connection_from_config
    from ...localfleet import register_process
    from ...localfleet.frontdoor import open_front_door
    from ...localfleet.procs import spawn
    from .tokens import create_bootstrap_token

    now = datetime.now(timezone.utc)
    parent = state.parent
    resolved = load_and_resolve(ConfigOverrides(kubeconfig=str(parent.kubeconfig)), os.environ)
    client = RestClient(connection_from_config(resolved))
    try:
        token, _ = create_bootstrap_token(
            client, ttl=timedelta(hours=24), description=_TOKEN_DESCRIPTION, now=now
        )
        progress(f"created bootstrap token {token.token_id} for the agents (valid 24h)")
        door = open_front_door(client, state.dir / "hub-proxy")
    finally:
        client.close()
    progress(f"registered APIService {APISERVICE_NAME} for the hub's proxy at {door.url}")

    logs = state.dir / "logs"
    started: list[StartedDaemon] = []

    def launch(name: str, argv: list[str], cluster: str, port: int, extra_env: dict[str, str]) -> None:
        log = logs / f"{name}.log"
        env = {**os.environ, **extra_env}
        identity = spawn(argv, log, env=env)
        register_process(state.dir, name, identity.pid, log=log, cluster=cluster)
        started.append(StartedDaemon(name, identity.pid, log, port))
        progress(f"started {name} (pid {identity.pid}), log {log}")

    hub_port = _free_loopback_port()
    launch("hub-lite", hub_argv(parent.kubeconfig, hub_port), parent.name, hub_port, {})
    launch("hub-lite-proxy", hub_proxy_argv(parent.kubeconfig, door), parent.name, door.port, {})
    for child in state.children:
        port = _free_loopback_port()
        launch(
            f"agent-lite-{child.name}",
            agent_argv(child, parent.server, port),
            child.name,
            port,
            {"AGENT_CLUSTER_REG_TOKEN": token.value},
        )
    return started
