#!/usr/bin/env python3
"""Registration at scale: N simulated agents against one hub-lite, side by side with plain request creates.

    python bench/registration.py [--agents 200] [--poll 1s] [--kubeconfig PARENT_KUBECONFIG]

Each simulated agent is an asyncio task speaking the real protocol over TLS: bootstrap token -> create its
ClusterRegistrationRequest -> poll it by name until Approved -> first ManagedCluster status report with the
token the hub handed out. The baseline is the same number of plain request creates with no hub running, so
the ratio shows what approval costs (namespace, ManagedCluster, ServiceAccount, four RBAC objects, a
TokenRequest, the status write and an Event per cluster). The hub's resident memory comes from /proc.

Without --kubeconfig a parent-only local fleet is started in a temporary directory and stopped afterwards.
Everything stays on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubectl_clusternet.core import registration as reg  # noqa: E402
from kubectl_clusternet.core.apis.builtin import CLUSTER_ROLE, CLUSTER_ROLE_BINDING, NAMESPACE, SECRET  # noqa: E402
from kubectl_clusternet.core.apis.clusters import CLUSTER_REGISTRATION_REQUEST as CRR  # noqa: E402
from kubectl_clusternet.core.apis.clusters import MANAGED_CLUSTER as MCLS  # noqa: E402
from kubectl_clusternet.core.errors import ApiError, ClusternetError  # noqa: E402
from kubectl_clusternet.core.kube.aio import AsyncRestClient  # noqa: E402
from kubectl_clusternet.core.kube.kubeconfig import ConfigOverrides, load_and_resolve, parse_duration  # noqa: E402
from kubectl_clusternet.core.kube.rest import connection_from_config, token_connection  # noqa: E402
from kubectl_clusternet.core.tokens import (  # noqa: E402
    bootstrap_token_secret,
    generate_bootstrap_token,
    parent_info_from_cluster_info,
)

BENCH_LABEL = "bench.clusternet.io/run"
MIB = 1024 * 1024


@dataclass
class Figures:
    created: float = 0.0
    approved: list[float] = field(default_factory=list)
    reported: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def proc_memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes: resident now, and the peak so far."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request_body(run: str, name: str) -> tuple[str, dict[str, Any]]:
    cluster_id = str(uuid.uuid4())
    body = reg.registration_request(cluster_id=cluster_id, cluster_name=name)
    body["metadata"]["labels"][BENCH_LABEL] = run
    return cluster_id, body


async def first_report(client: AsyncRestClient, namespace: str, cluster_id: str, frequency: int) -> None:
    """What an agent's first heartbeat writes: the Ready condition and the timing fields, via /status.

    Like the real agent it re-reads and retries on a conflict (the hub may have just tainted the cluster).
    """
    for attempt in range(10):
        listing = await client.get(
            MCLS.collection_path(namespace), query=[("labelSelector", f"{reg.LABEL_CLUSTER_ID}={cluster_id}")]
        )
        cluster = listing["items"][0]
        now = datetime.now(timezone.utc)
        status = dict(cluster.get("status") or {})
        status.update(
            lastObservedTime=reg.format_time(now),
            k8sVersion="v1.20.2",
            platform="linux/amd64",
            agentVersion="bench",
            healthz=True,
            livez=True,
            readyz=True,
            heartbeatFrequencySeconds=frequency,
            conditions=reg.merge_conditions(
                status.get("conditions"),
                [reg.ready_condition(healthz=True, livez=True, readyz=True, now=now)],
            ),
        )
        path = MCLS.object_path(cluster["metadata"]["name"], namespace) + "/status"
        try:
            await client.replace(path, {**cluster, "status": status})
            return
        except ApiError as exc:
            if exc.status != 409 or attempt == 9:
                raise


async def simulated_agent(
    index: int,
    run: str,
    server: str,
    ca_pem: bytes,
    bootstrap: AsyncRestClient,
    poll: float,
    started: float,
    figures: Figures,
) -> None:
    cluster_id, body = request_body(run, f"bench-{index:05d}")
    try:
        await bootstrap.create(CRR.collection_path(), body)
        while True:
            await asyncio.sleep(poll * (0.7 + 0.6 * random.random()))
            request = await bootstrap.get(CRR.object_path(reg.crr_name(cluster_id)))
            credentials = reg.approved_credentials(request)
            if credentials is not None:
                break
        figures.approved.append(time.perf_counter() - started)
        async with AsyncRestClient(token_connection(server, credentials.token, credentials.ca_pem)) as own:
            await first_report(own, credentials.namespace, cluster_id, frequency=30)
        figures.reported.append(time.perf_counter() - started)
    except (ClusternetError, reg.RegistrationError) as exc:
        figures.failures.append(f"agent {index}: {exc}")


async def baseline(count: int, run: str, bootstrap: AsyncRestClient) -> float:
    """Seconds for ``count`` plain creates at the same concurrency, no hub running."""
    started = time.perf_counter()
    await asyncio.gather(
        *(
            bootstrap.create(CRR.collection_path(), request_body(run, f"base-{i:05d}")[1])
            for i in range(count)
        )
    )
    return time.perf_counter() - started


async def delete_run(admin: AsyncRestClient, run: str) -> None:
    """Remove a run's requests (and, after a hub run, the namespaces it made) so runs do not pile up."""
    selector = f"{BENCH_LABEL}={run}"
    await admin.request("DELETE", CRR.collection_path(), query=[("labelSelector", selector)])
    while (await admin.get(CRR.collection_path(), query=[("labelSelector", selector), ("limit", "1")]))[
        "items"
    ]:
        await asyncio.sleep(0.2)


async def forget_run(admin: AsyncRestClient, run: str) -> None:
    """Delete a hub run's requests and what their approval made (namespaces, per-cluster RBAC)."""
    listing = await admin.get(CRR.collection_path(), query=[("labelSelector", f"{BENCH_LABEL}={run}")])
    cluster_ids = [item["spec"]["clusterId"] for item in listing["items"]]
    await delete_run(admin, run)

    async def forget(cluster_id: str) -> None:
        selector = [("labelSelector", f"{reg.LABEL_CLUSTER_ID}={cluster_id}")]
        for namespace in (await admin.get(NAMESPACE.collection_path(), query=selector))["items"]:
            await admin.delete(NAMESPACE.object_path(namespace["metadata"]["name"]))
        for kind in (CLUSTER_ROLE, CLUSTER_ROLE_BINDING):
            try:
                await admin.delete(kind.object_path(reg.crr_name(cluster_id)))
            except ApiError as exc:
                if exc.status != 404:
                    raise

    await asyncio.gather(*(forget(cluster_id) for cluster_id in cluster_ids))


async def measure(args: argparse.Namespace, kubeconfig: str) -> int:
    resolved = load_and_resolve(ConfigOverrides(kubeconfig=kubeconfig), os.environ)
    admin = AsyncRestClient(connection_from_config(resolved))
    server = admin.server
    token = generate_bootstrap_token()
    await admin.create(
        SECRET.collection_path("kube-system"),
        bootstrap_token_secret(token, now=datetime.now(timezone.utc), description="bench/registration.py"),
    )
    anonymous = AsyncRestClient(token_connection(server, None, None, insecure=True))
    for _ in range(120):  # the bootstrapsigner signs cluster-info within seconds
        config_map = await anonymous.get("/api/v1/namespaces/kube-public/configmaps/cluster-info")
        if f"jws-kubeconfig-{token.token_id}" in (config_map.get("data") or {}):
            break
        await asyncio.sleep(0.5)
    await anonymous.close()
    ca_pem = parent_info_from_cluster_info(config_map, token).ca_pem
    bootstrap = AsyncRestClient(token_connection(server, token.value, ca_pem))
    poll = parse_duration(args.poll, flag="--poll")

    base_run = f"base-{uuid.uuid4().hex[:8]}"
    base_seconds = await baseline(args.agents, base_run, bootstrap)
    await delete_run(admin, base_run)

    hub_log = Path(tempfile.mkstemp(prefix="hub-lite-bench-", suffix=".log")[1])
    hub_command = [
        sys.executable,
        "-m",
        "hub_lite",
        f"--kubeconfig={kubeconfig}",
        "--healthz-port=0",
        "--log-level=warning",
    ]
    with hub_log.open("wb") as log:
        hub = subprocess.Popen(hub_command, stdout=log, stderr=subprocess.STDOUT)
    figures = Figures()
    run = f"hub-{uuid.uuid4().hex[:8]}"
    try:
        # Let the hub win its Lease and sync its caches before the clock starts.
        for _ in range(100):
            lease = await admin.get_or_none(
                "/apis/coordination.k8s.io/v1/namespaces/clusternet-system/leases/clusternet-hub"
            )
            if lease and (lease.get("spec") or {}).get("holderIdentity"):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        rss_idle, _ = proc_memory(hub.pid)
        cpu_idle = proc_cpu_seconds(hub.pid)
        started = time.perf_counter()
        await asyncio.gather(
            *(
                simulated_agent(i, run, server, ca_pem, bootstrap, poll, started, figures)
                for i in range(args.agents)
            )
        )
        rss_after, rss_peak = proc_memory(hub.pid)
        cpu_used = proc_cpu_seconds(hub.pid) - cpu_idle
    finally:
        hub.send_signal(signal.SIGTERM)
        hub.wait(timeout=60)
    if not args.keep:
        await forget_run(admin, run)
    await admin.delete(SECRET.object_path(f"bootstrap-token-{token.token_id}", "kube-system"))
    await bootstrap.close()
    await admin.close()

    approve_all = max(figures.approved, default=float("nan"))
    report_all = max(figures.reported, default=float("nan"))
    print("command:   " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))
    print("hub:       " + " ".join(shlex.quote(a) for a in hub_command))
    print(
        f"agents:    {args.agents} simulated, polling every {args.poll} (jittered), one TLS client each after approval"
    )
    print()
    print(f"{'':44}{'seconds':>10}{'per second':>12}")
    print(
        f"{'baseline: plain request creates, no hub':44}{base_seconds:10.2f}{args.agents / base_seconds:12.1f}"
    )
    print(
        f"{'hub-lite: all approved (seen by agents)':44}{approve_all:10.2f}{len(figures.approved) / approve_all:12.1f}"
    )
    print(
        f"{'hub-lite: all first status reports written':44}{report_all:10.2f}{len(figures.reported) / report_all:12.1f}"
    )
    print(f"{'ratio approve-all / create-all':44}{approve_all / base_seconds:9.1f}x")
    print()
    print(
        f"hub-lite RSS: {rss_idle / MIB:.1f} MiB idle, {rss_after / MIB:.1f} MiB after {args.agents} clusters "
        f"(peak {rss_peak / MIB:.1f} MiB); CPU {cpu_used:.1f} s for the run"
    )
    if figures.failures:
        print(f"{len(figures.failures)} agent(s) failed; first: {figures.failures[0]}; hub log: {hub_log}")
        return 1
    hub_log.unlink()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200, help="How many simulated agents (default 200).")
    parser.add_argument(
        "--poll", default="1s", help="How often an agent re-reads its request (upstream: 5s)."
    )
    parser.add_argument(
        "--kubeconfig", default=None, help="Parent admin kubeconfig; default: a fresh local parent."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the registered clusters afterwards.")
    args = parser.parse_args()
    fleet_dir = None
    kubeconfig = args.kubeconfig
    if kubeconfig is None:
        from kubectl_clusternet import localfleet

        fleet_dir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
        state, _ = localfleet.up(fleet_dir, children=0)
        kubeconfig = str(state.parent.kubeconfig)
    try:
        install = subprocess.run(
            [sys.executable, "-m", "kubectl_clusternet", "--kubeconfig", kubeconfig, "hub", "install"],
            capture_output=True,
            text=True,
        )
        if install.returncode != 0:
            print(install.stderr, file=sys.stderr)
            return 1
        return asyncio.run(measure(args, kubeconfig))
    finally:
        if fleet_dir is not None:
            from kubectl_clusternet import localfleet

            localfleet.down(fleet_dir)


if __name__ == "__main__":
    sys.exit(main())
