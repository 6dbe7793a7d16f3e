#!/usr/bin/env python3
"""Many agents on one hub: the hub's memory per tunnel, and how fast every agent is back after a hub restart.

    python bench/tunnels.py [--fleet-dir DIR] [--agents 1000] [--identities per-cluster|shared] [--restarts 3]
                            [--ramp 50] [--settle 3] [--py-spy DIR]

N simulated agents are N real ``agent_lite.tunnel_client.TunnelClient`` objects with distinct cluster IDs,
all in one separate process (asyncio, one websocket each, TLS verified against the hub's CA), straight to
the hub's own port on 127.0.0.1. Each authenticates its tunnel for real: the hub runs a TokenReview and a
SubjectAccessReview for ``get sockets/<cluster-id>`` against the parent. With ``--identities per-cluster``
(the default) every agent has its own ServiceAccount and token, bound to its own ClusterRole that names only
its cluster ID, exactly what approval gives a registered cluster; ``shared`` uses one ServiceAccount whose
ClusterRole allows ``sockets`` for every name (one token, still one access review per cluster ID).

Figures, all from one run and one hub process where they are compared:
- the hub's resident memory (VmRSS, /proc) with 0 tunnels, then with N connected (joining --ramp at a time,
  as a fleet grows): KiB per tunnel; and the same after the restarts below, where all N came back at once;
- the hub killed (SIGKILL) and started again on the same address and port: seconds from the new hub
  answering /readyz until every agent is connected again, beside the same for a single agent.

"Connected" is when the agent's websocket handshake completed (the hub registers the tunnel as it answers
it); the hub's ``/readyz?verbose`` count confirms every number. Both processes stamp times with
CLOCK_MONOTONIC, which is one clock for the whole machine. Without --fleet-dir a parent-only local fleet is
started in a temporary directory and stopped afterwards. Everything stays on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ipaddress
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubectl_clusternet.core import apiservice  # noqa: E402
from kubectl_clusternet.core import registration as reg  # noqa: E402
from kubectl_clusternet.core.apis.builtin import NAMESPACE, SERVICE_ACCOUNT  # noqa: E402
from kubectl_clusternet.core.errors import ApiError  # noqa: E402
from kubectl_clusternet.core.kube.aio import AsyncRestClient  # noqa: E402
from kubectl_clusternet.core.kube.kubeconfig import ConfigOverrides, load_and_resolve  # noqa: E402
from kubectl_clusternet.core.kube.rest import connection_from_config  # noqa: E402
from kubectl_clusternet.localfleet import FleetState, down, register_process, status, up  # noqa: E402
from kubectl_clusternet.localfleet.pki import CertKeyPair, issue_cert, new_ca  # noqa: E402

BENCH_LABEL = "bench.clusternet.io/run"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
MIB = 1024 * 1024
KIB = 1024
TARGET_KIB = 24.0
TARGET_SECONDS = 2.0


# ---------------------------------------------------------------------------------------------------------
# the simulated agents (run with --worker in their own process)


class StampedEvent(asyncio.Event):
    """TunnelClient's ``connected`` event, remembering when it was last set: the moment a session began."""

    def __init__(self) -> None:
        super().__init__()
        self.stamp = 0.0
        self.count = 0

    def set(self) -> None:
        self.stamp = time.monotonic()
        self.count += 1
        super().set()


class RetryCounter(logging.Handler):
    """Counts the clients' "retrying in" warnings: one per lost session and one per failed attempt."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def run_worker(spec_file: Path) -> None:
    """Serve commands from stdin, one JSON reply per line on stdout: ``start A B`` / ``stop A B`` (agents
    A..B-1), ``status`` (counts: cheap enough to poll), ``detail`` (every connect time, own memory), ``quit``."""
    from agent_lite.tunnel_client import TunnelClient, TunnelClientSettings

    spec = json.loads(spec_file.read_text())
    ca_pem = spec["ca_pem"].encode()
    agents: list[tuple[str, str]] = [(a[0], a[1]) for a in spec["agents"]]
    clients: dict[int, TunnelClient] = {}
    events: dict[int, StampedEvent] = {}
    tasks: dict[int, asyncio.Task[None]] = {}
    retries = RetryCounter()
    client_log = logging.getLogger("agent_lite")
    client_log.setLevel(logging.WARNING)  # counted here, not written: a thousand clients retrying is noise
    client_log.propagate = False
    client_log.addHandler(retries)

    def start(index: int) -> None:
        cluster_id, token = agents[index]
        settings = TunnelClientSettings(
            server=spec["server"], cluster_id=cluster_id, ca_pem=ca_pem, child_address=("127.0.0.1", 9)
        )
        client = TunnelClient(settings, lambda: token)
        event = StampedEvent()
        client.connected = event
        clients[index], events[index] = client, event
        tasks[index] = asyncio.ensure_future(client.run())

    async def stop(index: int) -> None:
        task = tasks.pop(index, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        clients.pop(index, None)
        events.pop(index, None)

    def report(detail: bool) -> dict[str, Any]:
        connected = [e.stamp for e in events.values() if e.is_set()]
        reply: dict[str, Any] = {
            "running": len(clients),
            "connected": len(connected),
            "sessions": sum(e.count for e in events.values()),
            "last_connect": max(connected, default=0.0),
            "retries": retries.count,
        }
        if detail:
            reply.update(stamps=sorted(connected), rss=proc_memory(os.getpid())[0])
        return reply

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] == "quit":
            break
        if line[0] == "start":
            for index in range(int(line[1]), int(line[2])):
                start(index)
        elif line[0] == "stop":
            await asyncio.gather(*(stop(i) for i in range(int(line[1]), int(line[2]))))
        sys.stdout.write(json.dumps(report(line[0] == "detail")) + "\n")
        sys.stdout.flush()
    await asyncio.gather(*(stop(i) for i in list(tasks)))


@dataclass
class Worker:
    """The coordinator's handle on the agents' process."""

    process: subprocess.Popen[str]

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the agents' process exited ({self.process.poll()}) on {command!r}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.process.stdin is not None
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


# ---------------------------------------------------------------------------------------------------------
# measuring


def proc_memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes: resident now, and the peak so far."""
    values = {}
    with open(f"/proc/{pid}/status") as proc_status:
        for line in proc_status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Hub:
    """The hub's proxy application as a subprocess, restartable on the same address and port."""

    fleet: FleetState
    command: list[str]
    log: Path
    host: str
    port: int
    context: ssl.SSLContext
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(self.command, stdout=handle, stderr=subprocess.STDOUT)
        register_process(
            self.fleet.dir, f"bench-hub-proxy-{self.process.pid}", self.process.pid, log=self.log
        )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def readyz(self, timeout: float = 5.0) -> str | None:
        """The verbose readiness text, or None while the hub does not answer."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as raw:
                with self.context.wrap_socket(raw, server_hostname=self.host) as tls:
                    tls.sendall(
                        f"GET /readyz?verbose HTTP/1.1\r\nHost: {self.host}\r\nConnection: close\r\n\r\n".encode()
                    )
                    chunks = []
                    while chunk := tls.recv(65536):
                        chunks.append(chunk)
        except OSError:
            return None
        text = b"".join(chunks).decode(errors="replace")
        return text if text.startswith("HTTP/1.1 200") else None

    def counts(self) -> dict[str, int]:
        text = self.readyz() or ""
        return {k: int(v) for k, v in re.findall(r"^(\w+) (\d+)$", text, re.MULTILINE)}

    def wait_ready(self, deadline: float = 60.0) -> float:
        """Poll /readyz every 10 ms; the CLOCK_MONOTONIC time of the first 200."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.process.returncode}; see {self.log}")
            if self.readyz(timeout=1.0) is not None:
                return time.monotonic()
            time.sleep(0.01)
        raise RuntimeError(f"the hub did not become ready within {deadline:.0f}s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no goodbye to any agent, as a crash or an evicted Pod would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)


def wait_for(check: Any, what: str, deadline: float = 300.0, every: float = 0.02) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise RuntimeError(f"timed out after {deadline:.0f}s waiting for {what}")


@dataclass
class Restart:
    """One SIGKILL and restart: when the new hub answered, and when the last agent was back."""

    agents: int
    down_seconds: float  # SIGKILL until the new hub answered /readyz
    reconnect_seconds: float  # the new hub answering until the last agent connected
    retries: int  # waits the clients scheduled: one per lost session, one per failed attempt
    hub_cpu: float  # the new hub's CPU seconds until every agent was back
    agents_cpu: float  # the agents' process CPU seconds, SIGKILL until every agent was back
    parent_cpu: float  # the parent kube-apiserver's CPU seconds, the same span
    quantiles: tuple[float, float]  # when half and 90% of the agents were back (after /readyz)


def profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` until interrupted (SIGINT makes it write ``output``)."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--nonblocking",
            "--format",
            "speedscope",
            "-o",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def restart(hub: Hub, worker: Worker, agents: int, parent_pid: int, profile: Path | None = None) -> Restart:
    before = worker.ask("status")
    agents_cpu, parent_cpu = proc_cpu_seconds(worker.process.pid), proc_cpu_seconds(parent_pid)
    killed = time.monotonic()
    hub.kill()
    hub.start()
    spies = []
    if profile is not None:
        tag = f"{agents}-{int(killed)}"
        spies = [
            profiler(hub.pid, profile / f"hub-{tag}.json"),
            profiler(worker.process.pid, profile / f"agents-{tag}.json"),
        ]
    ready = hub.wait_ready()

    def all_back() -> dict[str, Any] | None:
        now = worker.ask("status")
        fresh = now["sessions"] - before["sessions"]
        return now if now["connected"] == agents and fresh >= agents else None

    wait_for(all_back, f"{agents} agent(s) to reconnect", every=0.05)
    after = worker.ask("detail")
    cpu = proc_cpu_seconds(hub.pid)
    for spy in spies:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    agents_cpu = proc_cpu_seconds(worker.process.pid) - agents_cpu
    parent_cpu = proc_cpu_seconds(parent_pid) - parent_cpu
    stamps = after["stamps"]
    counted = wait_for(lambda: hub.counts().get("tunnels") == agents, "the hub to count every tunnel")
    assert counted
    return Restart(
        agents=agents,
        down_seconds=ready - killed,
        reconnect_seconds=after["last_connect"] - ready,
        retries=after["retries"] - before["retries"],
        hub_cpu=cpu,
        agents_cpu=agents_cpu,
        parent_cpu=parent_cpu,
        quantiles=(stamps[len(stamps) // 2] - ready, stamps[(len(stamps) * 9) // 10] - ready),
    )


# ---------------------------------------------------------------------------------------------------------
# setting up the parent


@dataclass
class Identities:
    """(cluster ID, token) per agent, and what was created for them (deleted afterwards)."""

    agents: list[tuple[str, str]]
    kind: str
    seconds: float
    namespace: str
    run: str
    cluster_scoped: list[str] = field(default_factory=list)


async def create_identities(kubeconfig: Path, count: int, kind: str) -> Identities:
    """What the agents authenticate with; per-cluster identities are made with 32 requests in flight."""
    resolved = load_and_resolve(ConfigOverrides(kubeconfig=str(kubeconfig)), os.environ)
    run = uuid.uuid4().hex[:8]
    namespace = f"bench-tunnels-{run}"
    labels = {BENCH_LABEL: run}
    started = time.perf_counter()
    async with AsyncRestClient(connection_from_config(resolved)) as admin:
        await admin.create(
            NAMESPACE.collection_path(),
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}},
        )
        cluster_ids = [str(uuid.uuid4()) for _ in range(count)]
        limit = asyncio.Semaphore(32)

        async def service_account_token(name: str) -> str:
            await admin.create(
                SERVICE_ACCOUNT.collection_path(namespace),
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": namespace},
                },
            )
            issued = await admin.create(
                SERVICE_ACCOUNT.object_path(name, namespace) + "/token", reg.token_request(6 * 3600)
            )
            return str(issued["status"]["token"])

        if kind == "shared":
            role = f"bench-tunnels-{run}"
            await admin.create(
                f"{RBAC}/clusterroles",
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "metadata": {"name": role, "labels": labels},
                    "rules": [
                        {"apiGroups": ["proxies.clusternet.io"], "resources": ["sockets"], "verbs": ["get"]}
                    ],
                },
            )
            await admin.create(
                f"{RBAC}/clusterrolebindings",
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": role, "labels": labels},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                    "subjects": [{"kind": "ServiceAccount", "name": "agent", "namespace": namespace}],
                },
            )
            token = await service_account_token("agent")
            agents = [(cluster_id, token) for cluster_id in cluster_ids]
            return Identities(agents, kind, time.perf_counter() - started, namespace, run, [role])

        async def one(index: int, cluster_id: str) -> tuple[str, str]:
            async with limit:
                name = f"agent-{index:05d}"
                role, binding = (
                    reg.cluster_role(cluster_id),
                    reg.cluster_role_binding(cluster_id, name, namespace),
                )
                for obj in (role, binding):
                    obj["metadata"].setdefault("labels", {})[BENCH_LABEL] = run
                await admin.create(f"{RBAC}/clusterroles", role)
                await admin.create(f"{RBAC}/clusterrolebindings", binding)
                return cluster_id, await service_account_token(name)

        agents = list(await asyncio.gather(*(one(i, c) for i, c in enumerate(cluster_ids))))
        return Identities(
            agents,
            kind,
            time.perf_counter() - started,
            namespace,
            run,
            [reg.crr_name(c) for c in cluster_ids],
        )


async def delete_identities(kubeconfig: Path, identities: Identities) -> None:
    resolved = load_and_resolve(ConfigOverrides(kubeconfig=str(kubeconfig)), os.environ)
    selector = [("labelSelector", f"{BENCH_LABEL}={identities.run}")]
    async with AsyncRestClient(connection_from_config(resolved)) as admin:
        for kind in ("clusterrolebindings", "clusterroles"):
            await admin.request("DELETE", f"{RBAC}/{kind}", query=selector)
        with contextlib.suppress(ApiError):
            await admin.delete(NAMESPACE.object_path(identities.namespace))


def hub_identity(fleet: FleetState, work: Path) -> Path:
    """`hub install`, the hub's ServiceAccount with the delegation RBAC, and a kubeconfig with its token."""
    parent = fleet.parent
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubectl_clusternet",
            "--kubeconfig",
            str(parent.kubeconfig),
            "hub",
            "install",
        ],
        capture_output=True,
        text=True,
    )
    if install.returncode != 0:
        raise RuntimeError(f"hub install failed: {install.stderr}")

    async def token() -> str:
        resolved = load_and_resolve(ConfigOverrides(kubeconfig=str(parent.kubeconfig)), os.environ)
        async with AsyncRestClient(connection_from_config(resolved)) as admin:
            for obj in apiservice.hub_delegation_rbac("clusternet-hub"):
                path = (
                    f"{RBAC}/clusterrolebindings"
                    if obj["kind"] == "ClusterRoleBinding"
                    else f"{RBAC}/namespaces/kube-system/rolebindings"
                )
                try:
                    await admin.create(path, obj)
                except ApiError as exc:
                    if exc.status != 409:
                        raise
            issued = await admin.create(
                SERVICE_ACCOUNT.object_path("clusternet-hub", "clusternet-system") + "/token",
                reg.token_request(6 * 3600),
            )
            return str(issued["status"]["token"])

    kubeconfig = work / "hub.kubeconfig"
    ca = base64.b64encode(parent.ca_file.read_bytes()).decode()
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "parent", "cluster": {"server": parent.server, "certificate-authority-data": ca}}
                ],
                "users": [{"name": "hub", "user": {"token": asyncio.run(token())}}],
                "contexts": [{"name": "hub", "context": {"cluster": "parent", "user": "hub"}}],
                "current-context": "hub",
            }
        )
    )
    return kubeconfig


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def hub_for(fleet: FleetState, work: Path, kubeconfig: Path) -> tuple[Hub, CertKeyPair]:
    host = "127.0.0.1"
    ca = new_ca("bench-hub-ca")
    serving = issue_cert(ca, "clusternet-hub", ip_addresses=[ipaddress.ip_address(host)], server=True)
    cert_file, key_file = work / "hub.crt", work / "hub.key"
    cert_file.write_bytes(serving.cert_pem)
    key_file.write_bytes(serving.key_pem)
    port = free_port(host)
    command = [
        sys.executable,
        "-m",
        "hub_lite.proxy_app",
        "--kubeconfig",
        str(kubeconfig),
        "--bind-address",
        host,
        "--port",
        str(port),
        "--tls-cert-file",
        str(cert_file),
        "--tls-private-key-file",
        str(key_file),
    ]
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    return Hub(fleet, command, work / "hub-proxy.log", host, port, context), ca


def start_worker(fleet: FleetState, work: Path, hub: Hub, ca: CertKeyPair, identities: Identities) -> Worker:
    spec = work / "agents.json"
    spec.write_text(
        json.dumps(
            {
                "server": f"https://{hub.host}:{hub.port}",
                "ca_pem": ca.cert_pem.decode(),
                "agents": [list(agent) for agent in identities.agents],
            }
        )
    )
    spec.chmod(0o600)
    with (work / "agents.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    register_process(fleet.dir, f"bench-agents-{process.pid}", process.pid, log=work / "agents.log")
    return Worker(process)


# ---------------------------------------------------------------------------------------------------------
# the run


@dataclass
class Figures:
    identities: Identities
    single: list[Restart] = field(default_factory=list)
    many: list[Restart] = field(default_factory=list)
    memory_pid: int = 0
    rss_zero: int = 0
    rss_many: int = 0
    hwm_many: int = 0
    rss_after_restart: int = 0
    first_connect_seconds: float = 0.0
    agents_rss: int = 0


def parent_apiserver_pid(fleet: FleetState) -> int:
    for record in fleet.processes:
        if record.role == "kube-apiserver" and record.cluster == fleet.parent.name:
            return record.pid
    raise RuntimeError("the fleet records no parent kube-apiserver")


def measure(hub: Hub, worker: Worker, args: argparse.Namespace, figures: Figures) -> None:
    n = args.agents
    parent_pid = parent_apiserver_pid(hub.fleet)
    hub.start()
    hub.wait_ready()
    # One agent first: it warms every code path of the hub (TLS, reviews, the websocket, the pump).
    worker.ask("start 0 1")
    wait_for(lambda: worker.ask("status")["connected"] == 1, "the first agent to connect")
    for _ in range(args.restarts):
        figures.single.append(restart(hub, worker, 1, parent_pid))
    worker.ask("stop 0 1")
    wait_for(lambda: hub.counts().get("tunnels") == 0, "the hub to drop the first agent's tunnel")
    time.sleep(args.settle)
    figures.memory_pid = hub.pid
    figures.rss_zero = proc_memory(hub.pid)[0]

    # Agents join in steps of --ramp, as a fleet grows; the restarts below show the all-at-once case.
    started = time.monotonic()
    for first in range(0, n, args.ramp):
        last = min(n, first + args.ramp)
        worker.ask(f"start {first} {last}")
        wait_for(
            lambda last=last: worker.ask("status")["connected"] == last,
            f"{last} agents to connect",
            every=0.05,
        )
    figures.first_connect_seconds = worker.ask("status")["last_connect"] - started
    wait_for(lambda: hub.counts().get("tunnels") == n, "the hub to count every tunnel")
    time.sleep(args.settle)
    figures.rss_many, figures.hwm_many = proc_memory(hub.pid)
    for _ in range(args.restarts):
        figures.many.append(restart(hub, worker, n, parent_pid, args.py_spy))
    time.sleep(args.settle)
    figures.rss_after_restart = proc_memory(hub.pid)[0]
    figures.agents_rss = worker.ask("detail")["rss"]


def report(hub: Hub, worker: Worker, args: argparse.Namespace, figures: Figures) -> None:
    n = args.agents
    ids = figures.identities
    if ids.kind == "per-cluster":
        how = "a ServiceAccount and token each, bound to its own ClusterRole for sockets/<cluster-id>"
    else:
        how = "one ServiceAccount and token, its ClusterRole allowing sockets of every name"
    print(f"identities: {ids.kind}: {how} (made in {ids.seconds:.1f} s)")
    print("hub:        " + shlex.join([Path(hub.command[0]).name, *hub.command[1:]]))
    print(
        f"agents:     {n} TunnelClients with distinct cluster IDs in one process (pid {worker.process.pid}), "
        f"straight to https://{hub.host}:{hub.port}"
    )

    per_tunnel = (figures.rss_many - figures.rss_zero) / n / KIB
    verdict = "met" if per_tunnel <= TARGET_KIB else "missed"
    print(f"\nHub memory (VmRSS of pid {figures.memory_pid}, settled {args.settle:g} s)")
    print(f"  {'0 tunnels':<22} {figures.rss_zero / MIB:8.1f} MiB")
    print(
        f"  {f'{n} tunnels':<22} {figures.rss_many / MIB:8.1f} MiB   (peak {figures.hwm_many / MIB:.1f} MiB; "
        f"joined {args.ramp} at a time in {figures.first_connect_seconds:.1f} s)"
    )
    print(f"  {'per tunnel':<22} {per_tunnel:8.1f} KiB   target <= {TARGET_KIB:g} KiB: {verdict}")
    print(
        f"  after {args.restarts} restart(s), the new hub with {n} tunnels: {figures.rss_after_restart / MIB:.1f} MiB "
        f"({(figures.rss_after_restart - figures.rss_zero) / n / KIB:.1f} KiB per tunnel over the first hub's idle); "
        f"the agents' process: {figures.agents_rss / MIB:.0f} MiB"
    )

    print("\nHub killed (SIGKILL) and started again on the same port; the clock starts when /readyz answers")
    print(
        f"  {'agents':>6} {'hub away s':>11} {'half back s':>12} {'90% back s':>11} {'all back s':>11} "
        f"{'from kill s':>12} {'retries':>8} {'CPU s: hub':>11} {'agents':>7} {'parent':>7}"
    )
    for r in figures.single + figures.many:
        print(
            f"  {r.agents:>6} {r.down_seconds:11.2f} {r.quantiles[0]:12.2f} {r.quantiles[1]:11.2f} "
            f"{r.reconnect_seconds:11.2f} {r.down_seconds + r.reconnect_seconds:12.2f} {r.retries:>8} "
            f"{r.hub_cpu:11.2f} {r.agents_cpu:7.2f} {r.parent_cpu:7.2f}"
        )
    print(
        "  (retries: waits the clients scheduled, one per lost session and one per failed attempt; CPU: the new "
        "hub from its start, the agents' process and the parent kube-apiserver from the kill, until all were back)"
    )
    single = statistics.median(r.reconnect_seconds for r in figures.single)
    single_kill = statistics.median(r.down_seconds + r.reconnect_seconds for r in figures.single)
    worst = max(r.reconnect_seconds for r in figures.many)
    typical = statistics.median(r.reconnect_seconds for r in figures.many)
    typical_kill = statistics.median(r.down_seconds + r.reconnect_seconds for r in figures.many)
    verdict = "met" if worst <= TARGET_SECONDS else "missed"
    print(
        f"  {n} agents: all back {typical:.2f} s after /readyz (median of {args.restarts}; worst {worst:.2f} s), "
        f"a single agent {single:.2f} s; from the kill {typical_kill:.2f} s vs {single_kill:.2f} s "
        f"({typical_kill / single_kill:.1f}x); target <= {TARGET_SECONDS:g} s: {verdict}"
    )
    print(f"\nhub after the run: {json.dumps(hub.counts())}; load average {os.getloadavg()[0]:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet-dir", default=None, help="an existing fleet to use (its parent only)")
    parser.add_argument("--agents", type=int, default=1000, help="simulated agents (default 1000)")
    parser.add_argument("--identities", choices=("per-cluster", "shared"), default="per-cluster")
    parser.add_argument("--restarts", type=int, default=3, help="hub restarts per figure (default 3)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait before reading memory")
    parser.add_argument("--ramp", type=int, default=50, help="agents joining at a time at first (default 50)")
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        help="profile the hub and the agents during each N-agent restart into DIR",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname).1s %(name)s: %(message)s")
        asyncio.run(run_worker(Path(args.worker)))
        return 0
    print("$ " + shlex.join([Path(sys.executable).name, *sys.argv]))
    own_fleet = None
    if args.fleet_dir:
        found = status(Path(args.fleet_dir))
        assert found is not None, f"no fleet in {args.fleet_dir}"
        fleet = found
    else:
        own_fleet = Path(tempfile.mkdtemp(prefix="bench-tunnels-fleet-"))
        fleet, _ = up(own_fleet, children=0)
    work = Path(tempfile.mkdtemp(prefix="bench-tunnels-"))
    try:
        with contextlib.ExitStack() as cleanup:
            kubeconfig = hub_identity(fleet, work)
            identities = asyncio.run(create_identities(fleet.parent.kubeconfig, args.agents, args.identities))
            if own_fleet is None:
                cleanup.callback(lambda: asyncio.run(delete_identities(fleet.parent.kubeconfig, identities)))
            hub, ca = hub_for(fleet, work, kubeconfig)
            cleanup.callback(hub.stop)
            worker = start_worker(fleet, work, hub, ca, identities)
            cleanup.callback(worker.stop)
            figures = Figures(identities)
            measure(hub, worker, args, figures)
            report(hub, worker, args, figures)
            print(f"logs: {work}")
    finally:
        if own_fleet is not None:
            down(own_fleet)
            shutil.rmtree(own_fleet, ignore_errors=True)  # only the lock file is left once down() returns
    return 0


if __name__ == "__main__":
    sys.exit(main())
