"""A parent and N child Kubernetes control planes as plain processes on loopback.

Everything a fleet is lives under one directory: `fleet.json` records every process it started (pid
plus start time, so `down` never signals a stranger), ports, paths and the clusters' service ranges;
`pki/`, `logs/`, `etcd/` and one admin kubeconfig per cluster sit beside it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import fcntl
import json
import os
import platform
import shutil
import socket
import time
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubectl_clusternet.core.errors import LocalFleetError
from kubectl_clusternet.localfleet.api import AdminApi, HttpFailure, loopback_opener
from kubectl_clusternet.localfleet.binaries import Binaries, ensure_binaries
from kubectl_clusternet.localfleet.pki import (
    ClusterPkiFiles,
    build_cluster_pki,
    first_service_ip,
    write_cluster_pki,
)
from kubectl_clusternet.localfleet.procs import ProcessIdentity, identify, is_running, log_tail, spawn, stop

__all__ = [
    "ClusterInfo",
    "FleetState",
    "ProcessRecord",
    "PARENT_SERVICE_CIDR",
    "SERVICE_ACCOUNT_ISSUER",
    "child_service_cidr",
    "default_dir",
    "down",
    "register_process",
    "status",
    "up",
]

Progress = Callable[[str], None]

STATE_FILE = "fleet.json"
_LOCK_FILE = ".fleet.lock"
_STATE_VERSION = 1
# What `down` and a fresh `up` delete; the lock file stays so a waiting caller keeps a valid lock.
_STATE_ENTRIES = (STATE_FILE, "pki", "etcd", "logs", "run")

# Service ranges inside 127.0.0.0/8: the aggregator dials a Service's cluster IP, so the hub's Service
# address must be one this host can listen on (design.md section 5).
PARENT_SERVICE_CIDR = "127.77.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc"
NODES_PER_CHILD = 2
_MAX_CHILDREN = 254

_ROLE_ETCD = "etcd"
_ROLE_APISERVER = "kube-apiserver"
_ROLE_CONTROLLER_MANAGER = "kube-controller-manager"
_ROLE_EXTRA = "extra"
_CORE_ROLES = (_ROLE_ETCD, _ROLE_APISERVER, _ROLE_CONTROLLER_MANAGER)

_ETCD_READY_SECONDS = 60.0
_APISERVER_READY_SECONDS = 180.0
_CONTROLLER_MANAGER_READY_SECONDS = 120.0
_PORT_ATTEMPTS = 3


def child_service_cidr(index: int) -> str:
    """child-i gets 127.78.<i>.0/24, distinct from the parent's and every other child's."""
    return f"127.78.{index}.0/24"


def default_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kubectl-clusternet" / "fleet"


@dataclass
class ClusterInfo:
    """How to reach one cluster of the fleet and what it was configured with."""

    name: str
    server: str
    kubeconfig: Path
    service_cidr: str
    ca_file: Path
    port: int
    kubernetes_service_ip: str
    front_proxy_ca_file: Path
    admin_cert_file: Path
    admin_key_file: Path
    service_account_public_key_file: Path
    pki_dir: Path
    nodes: list[str] = field(default_factory=list)

    @property
    def is_parent(self) -> bool:
        return self.name == "parent"

    def admin_api(self, timeout: float = 10.0) -> AdminApi:
        return AdminApi(self.server, self.ca_file, self.admin_cert_file, self.admin_key_file, timeout)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "service_cidr": self.service_cidr,
            "ca_file": str(self.ca_file),
            "port": self.port,
            "kubernetes_service_ip": self.kubernetes_service_ip,
            "front_proxy_ca_file": str(self.front_proxy_ca_file),
            "admin_cert_file": str(self.admin_cert_file),
            "admin_key_file": str(self.admin_key_file),
            "service_account_public_key_file": str(self.service_account_public_key_file),
            "pki_dir": str(self.pki_dir),
            "nodes": list(self.nodes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterInfo:
        return cls(
            name=data["name"],
            server=data["server"],
            kubeconfig=Path(data["kubeconfig"]),
            service_cidr=data["service_cidr"],
            ca_file=Path(data["ca_file"]),
            port=int(data["port"]),
            kubernetes_service_ip=data["kubernetes_service_ip"],
            front_proxy_ca_file=Path(data["front_proxy_ca_file"]),
            admin_cert_file=Path(data["admin_cert_file"]),
            admin_key_file=Path(data["admin_key_file"]),
            service_account_public_key_file=Path(data["service_account_public_key_file"]),
            pki_dir=Path(data["pki_dir"]),
            nodes=list(data.get("nodes", [])),
        )


@dataclass
class ProcessRecord:
    """One process the fleet started or was told about; `running` is as of the last read."""

    name: str
    pid: int
    start_time: int
    role: str
    cluster: str | None = None
    log: Path | None = None
    ports: dict[str, int] = field(default_factory=dict)
    running: bool = True

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.start_time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "start_time": self.start_time,
            "role": self.role,
            "cluster": self.cluster,
            "log": None if self.log is None else str(self.log),
            "ports": dict(self.ports),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessRecord:
        record = cls(
            name=data["name"],
            pid=int(data["pid"]),
            start_time=int(data["start_time"]),
            role=data.get("role", _ROLE_EXTRA),
            cluster=data.get("cluster"),
            log=None if data.get("log") is None else Path(data["log"]),
            ports={key: int(value) for key, value in data.get("ports", {}).items()},
        )
        record.running = is_running(record.identity)
        return record


@dataclass
class FleetState:
    """A fleet as recorded in DIR/fleet.json, with each process checked against /proc."""

    dir: Path
    etcd_url: str
    parent: ClusterInfo
    children: list[ClusterInfo]
    processes: list[ProcessRecord] = field(default_factory=list)
    complete: bool = True
    problems: list[str] = field(default_factory=list)

    @property
    def clusters(self) -> list[ClusterInfo]:
        return [self.parent, *self.children]

    @property
    def healthy(self) -> bool:
        """Every control plane process runs; dead extra processes (hub, agents) do not count."""
        return not self.problems

    @property
    def state_file(self) -> Path:
        return self.dir / STATE_FILE

    def cluster(self, name: str) -> ClusterInfo:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        raise LocalFleetError(f"the fleet in {self.dir} has no cluster named {name!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dir": str(self.dir),
            "etcd_url": self.etcd_url,
            "complete": self.complete,
            "healthy": self.healthy,
            "problems": list(self.problems),
            "clusters": [cluster.to_dict() for cluster in self.clusters],
            "processes": [dict(record.to_dict(), running=record.running) for record in self.processes],
        }


# ----------------------------------------------------------------------------------------------------
# state file and lock


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialize up/down/register_process on one directory, across processes."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / _LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_doc(directory: Path) -> dict[str, Any] | None:
    path = directory / STATE_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise LocalFleetError(f"{path} is not valid JSON ({exc}); remove {directory} by hand") from exc
    if not isinstance(doc, dict) or doc.get("version") != _STATE_VERSION:
        raise LocalFleetError(f"{path} was written by an incompatible version; remove {directory} by hand")
    return doc


def _write_doc(directory: Path, doc: dict[str, Any]) -> None:
    # Write-then-rename: a concurrent status() sees the old or the new file, never half of one.
    temporary = directory / f".{STATE_FILE}.tmp"
    temporary.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(temporary, directory / STATE_FILE)


def _remove_state(directory: Path, *, keep_logs: bool = False) -> None:
    for entry in _STATE_ENTRIES:
        if keep_logs and entry == "logs":
            continue
        path = directory / entry
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    for kubeconfig in directory.glob("*.kubeconfig"):
        kubeconfig.unlink(missing_ok=True)


def _state_from_doc(directory: Path, doc: dict[str, Any]) -> FleetState:
    clusters = [ClusterInfo.from_dict(item) for item in doc.get("clusters", [])]
    if not clusters or clusters[0].name != "parent":
        raise LocalFleetError(
            f"{directory / STATE_FILE} records no parent cluster; remove {directory} by hand"
        )
    processes = [ProcessRecord.from_dict(item) for item in doc.get("processes", [])]
    complete = bool(doc.get("complete", False))
    problems: list[str] = []
    if not complete:
        problems.append("the fleet never finished starting (interrupted, or another `up` is still running)")
    for record in processes:
        if record.role in _CORE_ROLES and not record.running:
            where = f"; see {record.log}" if record.log else ""
            problems.append(f"{record.name} (pid {record.pid}) is not running{where}")
    return FleetState(
        dir=directory,
        etcd_url=doc.get("etcd_url", ""),
        parent=clusters[0],
        children=clusters[1:],
        processes=processes,
        complete=complete,
        problems=problems,
    )


def status(dir: Path) -> FleetState | None:
    """The fleet in `dir`; None when nothing recorded there is running any more.

    A fleet with some control plane processes dead is returned with `healthy` False and one line per
    problem in `problems`, so a caller can tell the user exactly what broke.
    """
    directory = dir.expanduser().resolve()
    doc = _read_doc(directory)
    if doc is None:
        return None
    state = _state_from_doc(directory, doc)
    if not any(record.running for record in state.processes):
        return None
    return state


def register_process(
    dir: Path,
    name: str,
    pid: int,
    *,
    log: Path | None = None,
    cluster: str | None = None,
) -> ProcessRecord:
    """Record a process started by other code (the hub, agents) so that `down` stops it too.

    An older dead entry of the same name is replaced; a live one is kept, so `down` still stops it.
    """
    directory = dir.expanduser().resolve()
    with _locked(directory):
        doc = _read_doc(directory)
        if doc is None:
            raise LocalFleetError(f"there is no fleet in {directory}; start one with `up` first")
        identity = identify(pid)
        if identity is None:
            raise LocalFleetError(f"process {pid} ({name}) is not running, so it cannot be registered")
        kept = []
        for item in doc["processes"]:
            same = item["name"] == name
            if same and not is_running(ProcessIdentity(int(item["pid"]), int(item["start_time"]))):
                continue
            if int(item["pid"]) == pid and int(item["start_time"]) == identity.start_time:
                continue
            kept.append(item)
        record = ProcessRecord(
            name=name,
            pid=pid,
            start_time=identity.start_time,
            role=_ROLE_EXTRA,
            cluster=cluster,
            log=log,
        )
        kept.append(record.to_dict())
        doc["processes"] = kept
        _write_doc(directory, doc)
        return record


# ----------------------------------------------------------------------------------------------------
# stopping


def _stop_recorded(records: list[ProcessRecord], progress: Progress) -> int:
    """Stop processes tier by tier (users of the API first, etcd last) so shutdowns stay quiet."""
    tiers = [
        [r for r in records if r.role in (_ROLE_EXTRA, _ROLE_CONTROLLER_MANAGER)],
        [r for r in records if r.role == _ROLE_APISERVER],
        [r for r in records if r.role == _ROLE_ETCD],
    ]
    stopped = 0
    stubborn: list[ProcessRecord] = []
    for tier in tiers:
        running = [record for record in tier if is_running(record.identity)]
        if not running:
            continue
        progress("stopping " + ", ".join(record.name for record in running))
        survivors = stop([record.identity for record in running])
        stopped += len(running) - len(survivors)
        stubborn.extend(record for record in running if record.identity in survivors)
    if stubborn:
        names = ", ".join(f"{record.name} (pid {record.pid})" for record in stubborn)
        raise LocalFleetError(f"could not stop {names} even with SIGKILL; the fleet's state was kept")
    return stopped


def down(dir: Path, progress: Progress = lambda line: None) -> int:
    """Stop every process the fleet in `dir` started or registered, then delete its state.

    Returns how many processes were running and got stopped.
    """
    directory = dir.expanduser().resolve()
    if not directory.exists():
        return 0
    with _locked(directory):
        doc = _read_doc(directory)
        stopped = 0
        if doc is not None:
            records = [ProcessRecord.from_dict(item) for item in doc.get("processes", [])]
            stopped = _stop_recorded(records, progress)
        _remove_state(directory)
        progress(f"stopped {stopped} process(es); removed the fleet's state in {directory}")
        return stopped


# ----------------------------------------------------------------------------------------------------
# starting


@dataclass
class _Launch:
    """One process to start, restartable with fresh ports if a port turned out to be taken."""

    name: str
    role: str
    cluster: str | None
    port_names: tuple[str, ...]
    argv: Callable[[dict[str, int]], list[str]]
    ready: Callable[[dict[str, int]], bool]
    env: dict[str, str] | None = None
    ports: dict[str, int] = field(default_factory=dict)
    identity: ProcessIdentity | None = None
    attempts: int = 0


def _go_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def _port_in_use(log_text: str) -> bool:
    return "address already in use" in log_text


def _kubeconfig(
    cluster_name: str, user: str, server: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes
) -> str:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)},
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)},
                }
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
            "current-context": cluster_name,
            "preferences": {},
        },
        sort_keys=False,
    )


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Starter:
    """Brings one fleet up, recording every process in fleet.json the moment it exists."""

    def __init__(self, directory: Path, binaries: Binaries, progress: Progress) -> None:
        self.directory = directory
        self.binaries = binaries
        self.progress = progress
        self.doc: dict[str, Any] = {
            "version": _STATE_VERSION,
            "complete": False,
            "started_by_pid": os.getpid(),
            "etcd_url": "",
            "clusters": [],
            "processes": [],
        }
        self.used_ports: set[int] = set()
        self.clusters: dict[str, ClusterInfo] = {}
        self.legacy_flags = binaries.kube_minor_version() < (1, 24)

    # -- bookkeeping ---------------------------------------------------------------------------------

    def _save(self) -> None:
        self.doc["clusters"] = [cluster.to_dict() for cluster in self.clusters.values()]
        _write_doc(self.directory, self.doc)

    def _free_port(self) -> int:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind(("127.0.0.1", 0))
                port = int(probe.getsockname()[1])
            if port not in self.used_ports:
                self.used_ports.add(port)
                return port

    def _log_path(self, name: str) -> Path:
        return self.directory / "logs" / f"{name}.log"

    def _spawn(self, launch: _Launch) -> None:
        launch.ports = {port_name: self._free_port() for port_name in launch.port_names}
        launch.attempts += 1
        log = self._log_path(launch.name)
        try:
            launch.identity = spawn(launch.argv(launch.ports), log, env=launch.env, cwd=self.directory)
        except OSError as exc:
            raise LocalFleetError(f"cannot start {launch.name}: {exc}") from exc
        record = ProcessRecord(
            name=launch.name,
            pid=launch.identity.pid,
            start_time=launch.identity.start_time,
            role=launch.role,
            cluster=launch.cluster,
            log=log,
            ports=dict(launch.ports),
        )
        processes = [item for item in self.doc["processes"] if item["name"] != launch.name]
        processes.append(record.to_dict())
        self.doc["processes"] = processes
        self._save()

    def _start_and_wait(self, launches: list[_Launch], deadline_seconds: float) -> None:
        """Start several processes at once and wait until each answers, restarting on a port clash."""
        for launch in launches:
            self.progress(f"starting {launch.name}")
            self._spawn(launch)
        pending = list(launches)
        deadline = time.monotonic() + deadline_seconds
        while pending:
            for launch in list(pending):
                assert launch.identity is not None
                if is_running(launch.identity):
                    if launch.ready(launch.ports):
                        pending.remove(launch)
                        self.progress(f"{launch.name} is ready")
                    continue
                log = self._log_path(launch.name)
                tail = log_tail(log)
                if _port_in_use(tail):
                    if launch.attempts < _PORT_ATTEMPTS:
                        self.progress(f"{launch.name}: a port was taken meanwhile; retrying with other ports")
                        self._spawn(launch)
                        continue
                    ports = ", ".join(str(port) for port in launch.ports.values())
                    raise LocalFleetError(
                        f"{launch.name} could not bind its ports on 127.0.0.1 ({ports}): address already in use. "
                        f"Last lines of {log}:\n{tail}"
                    )
                raise LocalFleetError(f"{launch.name} exited while starting. Last lines of {log}:\n{tail}")
            if pending and time.monotonic() > deadline:
                launch = pending[0]
                log = self._log_path(launch.name)
                raise LocalFleetError(
                    f"{launch.name} did not become ready within {deadline_seconds:.0f} s. "
                    f"Last lines of {log}:\n{log_tail(log)}"
                )
            if pending:
                time.sleep(0.3)

    # -- the fleet -----------------------------------------------------------------------------------

    def run(self, children: int) -> FleetState:
        directory = self.directory
        for sub in ("logs", "pki", "run"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        plan = [("parent", PARENT_SERVICE_CIDR)] + [
            (f"child-{index}", child_service_cidr(index)) for index in range(1, children + 1)
        ]
        self.progress(f"generating certificates for {len(plan)} clusters")
        pki_files: dict[str, ClusterPkiFiles] = {}
        clusters = self.clusters
        for name, cidr in plan:
            files = write_cluster_pki(build_cluster_pki(name, cidr), directory / "pki" / name)
            pki_files[name] = files
            clusters[name] = ClusterInfo(
                name=name,
                server="",
                kubeconfig=directory / f"{name}.kubeconfig",
                service_cidr=cidr,
                ca_file=files.ca_cert,
                port=0,
                kubernetes_service_ip=str(first_service_ip(cidr)),
                front_proxy_ca_file=files.front_proxy_ca_cert,
                admin_cert_file=files.admin_cert,
                admin_key_file=files.admin_key,
                service_account_public_key_file=files.service_account_public_key,
                pki_dir=files.directory,
            )
        self._save()

        self._start_etcd()
        self._start_apiservers(clusters, pki_files)
        for cluster in clusters.values():
            self._write_kubeconfigs(cluster, pki_files[cluster.name])
            self._seed(cluster)
        self._start_controller_managers(clusters, pki_files)

        self.doc["complete"] = True
        self._save()
        return _state_from_doc(directory, self.doc)

    def _start_etcd(self) -> None:
        data_dir = self.directory / "etcd"

        def argv(ports: dict[str, int]) -> list[str]:
            client = f"http://127.0.0.1:{ports['client']}"
            peer = f"http://127.0.0.1:{ports['peer']}"
            return [
                str(self.binaries.etcd),
                "--name=localfleet",
                f"--data-dir={data_dir}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=localfleet={peer}",
                "--initial-cluster-state=new",
            ]

        opener = loopback_opener()

        def ready(ports: dict[str, int]) -> bool:
            try:
                with opener.open(f"http://127.0.0.1:{ports['client']}/health", timeout=3) as response:
                    return bool(json.loads(response.read()).get("health") == "true")
            except (OSError, ValueError, urllib.error.URLError):
                return False

        env = None
        if _go_arch() != "amd64":
            # etcd 3.4 refuses to start on architectures other than amd64 unless told this.
            env = dict(os.environ, ETCD_UNSUPPORTED_ARCH=_go_arch())
        launch = _Launch("etcd", _ROLE_ETCD, None, ("client", "peer"), argv, ready, env=env)
        self._start_and_wait([launch], _ETCD_READY_SECONDS)
        self.doc["etcd_url"] = f"http://127.0.0.1:{launch.ports['client']}"
        self._save()

    def _start_apiservers(
        self, clusters: dict[str, ClusterInfo], pki_files: dict[str, ClusterPkiFiles]
    ) -> None:
        etcd_url = self.doc["etcd_url"]
        launches = []
        for cluster in clusters.values():
            launches.append(self._apiserver_launch(cluster, pki_files[cluster.name], etcd_url))
        self._start_and_wait(launches, _APISERVER_READY_SECONDS)

    def _apiserver_launch(self, cluster: ClusterInfo, files: ClusterPkiFiles, etcd_url: str) -> _Launch:
        cert_dir = self.directory / "run" / f"kube-apiserver-{cluster.name}"

        def argv(ports: dict[str, int]) -> list[str]:
            port = ports["secure"]
            # Record the address as soon as it is chosen, so the state file always names it.
            cluster.port = port
            cluster.server = f"https://127.0.0.1:{port}"
            args = [
                str(self.binaries.kube_apiserver),
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--advertise-address=127.0.0.1",
                # Endpoints may not hold loopback addresses; nothing in the fleet needs them anyway.
                "--endpoint-reconciler-type=none",
                f"--etcd-servers={etcd_url}",
                f"--etcd-prefix=/{cluster.name}",
                f"--service-cluster-ip-range={cluster.service_cidr}",
                f"--cert-dir={cert_dir}",
                f"--tls-cert-file={files.apiserver_cert}",
                f"--tls-private-key-file={files.apiserver_key}",
                f"--client-ca-file={files.ca_cert}",
                "--authorization-mode=Node,RBAC",
                "--anonymous-auth=true",
                "--enable-bootstrap-token-auth=true",
                "--allow-privileged=true",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={files.service_account_public_key}",
                f"--service-account-signing-key-file={files.service_account_private_key}",
                f"--requestheader-client-ca-file={files.front_proxy_ca_cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={files.front_proxy_client_cert}",
                f"--proxy-client-key-file={files.front_proxy_client_key}",
                "--profiling=false",
            ]
            if self.legacy_flags:
                args.append("--insecure-port=0")
            return args

        def ready(ports: dict[str, int]) -> bool:
            api = AdminApi(
                f"https://127.0.0.1:{ports['secure']}", files.ca_cert, files.admin_cert, files.admin_key, 3.0
            )
            try:
                api.request("GET", "/readyz")
                # Seeding writes into kube-public, which the API server creates just after it starts.
                return api.exists("/api/v1/namespaces/kube-public")
            except (HttpFailure, OSError, urllib.error.URLError):
                return False

        return _Launch(
            f"kube-apiserver-{cluster.name}", _ROLE_APISERVER, cluster.name, ("secure",), argv, ready
        )

    def _write_kubeconfigs(self, cluster: ClusterInfo, files: ClusterPkiFiles) -> None:
        ca_pem = files.ca_cert.read_bytes()
        _write_private(
            cluster.kubeconfig,
            _kubeconfig(
                cluster.name,
                f"{cluster.name}-admin",
                cluster.server,
                ca_pem,
                files.admin_cert.read_bytes(),
                files.admin_key.read_bytes(),
            ),
        )
        _write_private(
            files.directory / "controller-manager.kubeconfig",
            _kubeconfig(
                cluster.name,
                "kube-controller-manager",
                cluster.server,
                ca_pem,
                files.controller_manager_cert.read_bytes(),
                files.controller_manager_key.read_bytes(),
            ),
        )

    def _seed(self, cluster: ClusterInfo) -> None:
        """Create what kubeadm would: the public cluster-info, and for children some Nodes."""
        api = cluster.admin_api()
        self.progress(
            f"{cluster.name}: creating kube-public/cluster-info" + ("" if cluster.is_parent else " and Nodes")
        )
        try:
            _seed_cluster_info(api, cluster)
            if not cluster.is_parent:
                cluster.nodes = _seed_nodes(api, cluster)
        except (HttpFailure, OSError, urllib.error.URLError) as exc:
            raise LocalFleetError(f"could not create the initial objects in {cluster.name}: {exc}") from exc
        self._save()

    def _start_controller_managers(
        self, clusters: dict[str, ClusterInfo], pki_files: dict[str, ClusterPkiFiles]
    ) -> None:
        launches = [self._controller_manager_launch(c, pki_files[c.name]) for c in clusters.values()]
        self._start_and_wait(launches, _CONTROLLER_MANAGER_READY_SECONDS)

    def _controller_manager_launch(self, cluster: ClusterInfo, files: ClusterPkiFiles) -> _Launch:
        kubeconfig = files.directory / "controller-manager.kubeconfig"
        cert_dir = self.directory / "run" / f"kube-controller-manager-{cluster.name}"

        def argv(ports: dict[str, int]) -> list[str]:
            args = [
                str(self.binaries.kube_controller_manager),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports['secure']}",
                f"--cert-dir={cert_dir}",
                "--leader-elect=false",
                # No kubelets exist: the node lifecycle controller would mark every Node NotReady.
                "--controllers=*,bootstrapsigner,tokencleaner,-nodelifecycle",
                f"--service-account-private-key-file={files.service_account_private_key}",
                f"--root-ca-file={files.ca_cert}",
                "--use-service-account-credentials=true",
                f"--cluster-name={cluster.name}",
                f"--cluster-signing-cert-file={files.ca_cert}",
                f"--cluster-signing-key-file={files.ca_key}",
                f"--service-cluster-ip-range={cluster.service_cidr}",
                "--profiling=false",
            ]
            if self.legacy_flags:
                args.append("--port=0")
            return args

        api = cluster.admin_api(timeout=3.0)

        def ready(ports: dict[str, int]) -> bool:
            # The `default` ServiceAccount appears once the controllers really work against the API.
            try:
                return api.exists("/api/v1/namespaces/default/serviceaccounts/default")
            except (HttpFailure, OSError, urllib.error.URLError):
                return False

        return _Launch(
            f"kube-controller-manager-{cluster.name}",
            _ROLE_CONTROLLER_MANAGER,
            cluster.name,
            ("secure",),
            argv,
            ready,
        )


def _seed_cluster_info(api: AdminApi, cluster: ClusterInfo) -> None:
    """Publish CA and address the way kubeadm does, readable without credentials, for joining agents."""
    ca_data = base64.b64encode(cluster.ca_file.read_bytes()).decode()
    public_kubeconfig = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "", "cluster": {"certificate-authority-data": ca_data, "server": cluster.server}}
            ],
            "contexts": [],
            "current-context": "",
            "preferences": {},
            "users": [],
        },
        sort_keys=False,
    )
    api.create(
        "/api/v1/namespaces/kube-public/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cluster-info", "namespace": "kube-public"},
            "data": {"kubeconfig": public_kubeconfig},
        },
    )
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-public"
    name = "kubeadm:bootstrap-signer-clusterinfo"
    api.create(
        f"{rbac}/roles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": "kube-public"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": ["cluster-info"],
                    "verbs": ["get"],
                }
            ],
        },
    )
    api.create(
        f"{rbac}/rolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": "kube-public"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}
            ],
        },
    )


def _seed_nodes(api: AdminApi, cluster: ClusterInfo) -> list[str]:
    """Nodes without kubelets: enough for node counts, capacity and readiness to be reported."""
    arch = _go_arch()
    names = []
    now = _now_rfc3339()
    for index in range(1, NODES_PER_CHILD + 1):
        name = f"{cluster.name}-node-{index}"
        api.create(
            "/api/v1/nodes",
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": arch,
                        "beta.kubernetes.io/os": "linux",
                        "beta.kubernetes.io/arch": arch,
                        "node-role.kubernetes.io/worker": "",
                        "topology.kubernetes.io/zone": f"{cluster.name}-zone-{index}",
                    },
                },
            },
        )
        conditions = [
            {
                "type": condition,
                "status": "False",
                "reason": reason,
                "message": "localfleet node without a kubelet",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
            for condition, reason in (
                ("MemoryPressure", "KubeletHasSufficientMemory"),
                ("DiskPressure", "KubeletHasNoDiskPressure"),
                ("PIDPressure", "KubeletHasSufficientPID"),
            )
        ]
        conditions.append(
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "localfleet node without a kubelet",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
        )
        api.merge_patch(
            f"/api/v1/nodes/{name}/status",
            {
                "status": {
                    "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                    "allocatable": {
                        "cpu": "3800m",
                        "memory": "7680Mi",
                        "pods": "110",
                        "ephemeral-storage": "95Gi",
                    },
                    "conditions": conditions,
                    "addresses": [{"type": "Hostname", "address": name}],
                    "nodeInfo": {
                        "machineID": f"localfleet-{name}",
                        "systemUUID": f"localfleet-{name}",
                        "bootID": f"localfleet-{name}",
                        "kernelVersion": platform.release(),
                        "osImage": "localfleet",
                        "containerRuntimeVersion": "localfleet://0",
                        "kubeletVersion": "v1.20.2",
                        "kubeProxyVersion": "v1.20.2",
                        "operatingSystem": "linux",
                        "architecture": arch,
                    },
                }
            },
        )
        names.append(name)
    return names


def up(
    dir: Path,
    children: int = 2,
    progress: Progress = lambda line: None,
) -> tuple[FleetState, bool]:
    """Start a parent and `children` child control planes in `dir`; reuse a fleet already running there.

    Returns (state, started_now). A start that fails half-way stops whatever it had started.
    """
    if not 0 <= children <= _MAX_CHILDREN:
        raise LocalFleetError(
            f"the number of child clusters must be between 0 and {_MAX_CHILDREN}, not {children}"
        )
    directory = dir.expanduser().resolve()
    with _locked(directory):
        existing = status(directory)
        if existing is not None:
            if not existing.healthy:
                raise LocalFleetError(
                    f"a fleet in {directory} is only partly running:\n  - "
                    + "\n  - ".join(existing.problems)
                    + "\nstop it with `down` first, then start it again"
                )
            if len(existing.children) != children:
                progress(
                    f"a fleet with {len(existing.children)} child cluster(s) already runs in {directory}; "
                    "reusing it"
                )
            return existing, False
        _remove_state(directory)  # leftovers of a fleet whose processes are all gone
        binaries = ensure_binaries(progress)
        starter = _Starter(directory, binaries, progress)
        try:
            state = starter.run(children)
        except BaseException as failure:
            records = [ProcessRecord.from_dict(item) for item in starter.doc["processes"]]
            if any(record.running for record in records):
                progress("start failed; stopping the processes it started")
            try:
                _stop_recorded(records, progress)
            except LocalFleetError as stuck:
                raise LocalFleetError(f"{failure}\n(and while cleaning up: {stuck})") from failure
            _remove_state(directory, keep_logs=True)
            raise
        progress(f"fleet is up in {directory}: parent and {children} child cluster(s)")
        return state, True
