"""The local fleet against its real processes: kubectl access, Nodes, bootstrap tokens, TokenRequest,
isolation between clusters, and starting/stopping exactly the processes it owns."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_clusternet.core.errors import LocalFleetError
from kubectl_clusternet.localfleet import (
    ClusterInfo,
    FleetState,
    ProcessRecord,
    down,
    ensure_binaries,
    register_process,
    status,
    up,
)
from kubectl_clusternet.localfleet.fleet import STATE_FILE
from kubectl_clusternet.localfleet.procs import identify, is_running

pytestmark = pytest.mark.e2e

CLUSTERS = ["parent", "child-1", "child-2"]


def kubectl(cluster: ClusterInfo, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(cluster.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def kubectl_ok(cluster: ClusterInfo, *args: str, stdin: str | None = None) -> str:
    result = kubectl(cluster, *args, stdin=stdin)
    assert result.returncode == 0, f"kubectl {' '.join(args)} failed: {result.stderr}"
    return result.stdout


def http_get(cluster: ClusterInfo, path: str, token: str | None = None) -> tuple[int, Any]:
    """GET without a client certificate, optionally with a bearer token; returns (status, JSON body)."""
    context = ssl.create_default_context(cafile=str(cluster.ca_file))
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    request = urllib.request.Request(cluster.server + path)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as failure:
        return failure.code, None


def core_processes(state: FleetState) -> list[tuple[str, bool]]:
    """The control plane's own processes (other tests may register hubs and agents beside them)."""
    return [(p.name, p.running) for p in state.processes if p.role != "extra"]


# ---------------------------------------------------------------------------------------------------
# the running fleet


@pytest.mark.parametrize("name", CLUSTERS)
def test_kubectl_lists_namespaces_with_the_written_kubeconfig(fleet: FleetState, name: str) -> None:
    """Each cluster's kubeconfig works as is with kubectl, and its context is named after the cluster."""
    cluster = fleet.cluster(name)
    namespaces = kubectl_ok(cluster, "get", "ns", "-o", "name").split()
    assert {"namespace/default", "namespace/kube-system", "namespace/kube-public"} <= set(namespaces)
    assert kubectl_ok(cluster, "config", "current-context").strip() == name


@pytest.mark.parametrize(
    ("name", "expected_nodes"),
    [
        ("parent", []),
        ("child-1", ["child-1-node-1", "child-1-node-2"]),
        ("child-2", ["child-2-node-1", "child-2-node-2"]),
    ],
)
def test_children_have_ready_nodes_with_capacity(
    fleet: FleetState, name: str, expected_nodes: list[str]
) -> None:
    """Children carry Nodes that report Ready=True and allocatable resources; the parent has none."""
    cluster = fleet.cluster(name)
    nodes = json.loads(kubectl_ok(cluster, "get", "nodes", "-o", "json"))["items"]
    assert sorted(node["metadata"]["name"] for node in nodes) == expected_nodes
    assert cluster.nodes == expected_nodes
    for node in nodes:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert [c["status"] for c in ready] == ["True"]
        assert {"cpu", "memory", "pods"} <= set(node["status"]["allocatable"])


@pytest.mark.parametrize("name", CLUSTERS)
def test_kubernetes_service_sits_in_the_cluster_own_loopback_range(fleet: FleetState, name: str) -> None:
    """Each cluster's `kubernetes` Service gets the first address of its own 127.x service range."""
    cluster = fleet.cluster(name)
    cluster_ip = kubectl_ok(
        cluster, "get", "svc", "kubernetes", "-n", "default", "-o", "jsonpath={.spec.clusterIP}"
    )
    assert cluster_ip == cluster.kubernetes_service_ip
    assert len({c.service_cidr for c in fleet.clusters}) == len(fleet.clusters)


def test_clusters_share_etcd_but_not_their_objects(fleet: FleetState) -> None:
    """An object created in child-1 exists only there, although all clusters use one etcd."""
    kubectl_ok(fleet.cluster("child-1"), "create", "namespace", "lf-only-in-child-1")
    found = {
        cluster.name: kubectl(cluster, "get", "namespace", "lf-only-in-child-1").returncode == 0
        for cluster in fleet.clusters
    }
    assert found == {"parent": False, "child-1": True, "child-2": False}


@pytest.mark.parametrize("name", CLUSTERS)
def test_cluster_info_is_readable_without_credentials(fleet: FleetState, name: str) -> None:
    """kube-public/cluster-info names the server and CA, and anonymous callers may read it (as kubeadm)."""
    cluster = fleet.cluster(name)
    code, body = http_get(cluster, "/api/v1/namespaces/kube-public/configmaps/cluster-info")
    assert code == 200
    published = yaml.safe_load(body["data"]["kubeconfig"])["clusters"][0]["cluster"]
    assert published["server"] == cluster.server
    assert base64.b64decode(published["certificate-authority-data"]) == cluster.ca_file.read_bytes()


@pytest.mark.parametrize("name", CLUSTERS)
def test_aggregation_layer_trusts_the_front_proxy_ca(fleet: FleetState, name: str) -> None:
    """The API server publishes the front-proxy CA and allowed name that an aggregated server must check."""
    cluster = fleet.cluster(name)
    data = json.loads(
        kubectl_ok(
            cluster, "get", "cm", "-n", "kube-system", "extension-apiserver-authentication", "-o", "json"
        )
    )["data"]
    assert data["requestheader-client-ca-file"].strip() == cluster.front_proxy_ca_file.read_text().strip()
    assert json.loads(data["requestheader-allowed-names"]) == ["front-proxy-client"]
    assert json.loads(data["requestheader-username-headers"]) == ["X-Remote-User"]


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.localfleet.example.com"},
    "spec": {
        "group": "localfleet.example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                        },
                    }
                },
            }
        ],
    },
}


def test_custom_resources_round_trip_without_crashing_the_api_server(fleet: FleetState) -> None:
    """A CRD and a labelled custom object work (Kubernetes 1.20 built with new Go once crashed on this)."""
    parent = fleet.cluster("parent")
    kubectl_ok(parent, "apply", "-f", "-", stdin=json.dumps(WIDGET_CRD))
    kubectl_ok(
        parent, "wait", "--for=condition=Established", "crd/widgets.localfleet.example.com", "--timeout=60s"
    )
    widget = {
        "apiVersion": "localfleet.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1", "namespace": "default", "labels": {"a": "1", "b": "2"}},
        "spec": {"sizes": {"small": 1, "large": 3}, "tags": ["x", "y"]},
    }
    kubectl_ok(parent, "create", "-f", "-", stdin=json.dumps(widget))
    stored = json.loads(kubectl_ok(parent, "get", "widgets", "w1", "-n", "default", "-o", "json"))
    assert stored["spec"] == widget["spec"]
    assert stored["metadata"]["labels"] == {"a": "1", "b": "2"}
    state = status(fleet.dir)
    assert state is not None and state.healthy, state and state.problems


BOOTSTRAP_SECRET = "0123456789abcdef"


@pytest.fixture(scope="module")
def bootstrap_tokens(fleet: FleetState) -> ClusterInfo:
    """Two bootstrap tokens in child-1; only `lf0001` may list ConfigMaps in `default`."""
    cluster = fleet.cluster("child-1")
    secrets = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
            "type": "bootstrap.kubernetes.io/token",
            "stringData": {
                "token-id": token_id,
                "token-secret": BOOTSTRAP_SECRET,
                "usage-bootstrap-authentication": "true",
            },
        }
        for token_id in ("lf0001", "lf0002")
    ]
    kubectl_ok(
        cluster, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": secrets})
    )
    kubectl_ok(
        cluster, "create", "role", "lf-cm-reader", "-n", "default", "--verb=list", "--resource=configmaps"
    )
    kubectl_ok(
        cluster, "create", "rolebinding", "lf-cm-reader", "-n", "default", "--role=lf-cm-reader",
        "--user=system:bootstrap:lf0001",
    )  # fmt: skip
    return cluster


@pytest.mark.parametrize(
    ("token", "expected_status"),
    [
        (f"lf0001.{BOOTSTRAP_SECRET}", 200),  # system:bootstrap:lf0001, granted by the RoleBinding
        (f"lf0002.{BOOTSTRAP_SECRET}", 403),  # authenticated as another user, not granted
        ("lf0001.ffffffffffffffff", 401),  # wrong secret
        (f"zzzzzz.{BOOTSTRAP_SECRET}", 401),  # no such token
    ],
)
def test_bootstrap_tokens_authenticate_as_their_own_user(
    bootstrap_tokens: ClusterInfo, token: str, expected_status: int
) -> None:
    """A bootstrap token Secret logs in as system:bootstrap:<id>; a bad or unknown token gets 401."""
    code, _ = http_get(bootstrap_tokens, "/api/v1/namespaces/default/configmaps", token=token)
    assert code == expected_status


@pytest.mark.parametrize("name", ["parent", "child-2"])
def test_token_request_issues_tokens_the_api_server_accepts(fleet: FleetState, name: str) -> None:
    """`kubectl create token` (TokenRequest) yields a token that TokenReview resolves to the ServiceAccount."""
    cluster = fleet.cluster(name)
    token = kubectl_ok(cluster, "create", "token", "default", "-n", "default", "--duration=10m").strip()
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    result = json.loads(kubectl_ok(cluster, "create", "-f", "-", "-o", "json", stdin=json.dumps(review)))[
        "status"
    ]
    assert result["authenticated"] is True
    assert result["user"]["username"] == "system:serviceaccount:default:default"


def test_up_on_a_running_fleet_returns_it_without_starting_anything(fleet: FleetState) -> None:
    """A second `up` on the same directory reports the running fleet and started_now=False."""
    state, started_now = up(fleet.dir, children=2)
    assert started_now is False
    assert [c.server for c in state.clusters] == [c.server for c in fleet.clusters]
    # Other tests register hubs and agents with the shared fleet; the control plane itself must be untouched.
    assert [(p.pid, p.start_time) for p in state.processes if p.role != "extra"] == [
        (p.pid, p.start_time) for p in fleet.processes if p.role != "extra"
    ]


def test_status_sees_every_control_plane_process_running(fleet: FleetState) -> None:
    """status() finds one etcd plus an API server and a controller manager per cluster, all alive."""
    state = status(fleet.dir)
    assert state is not None and state.healthy, state and state.problems
    assert sorted(name for name, running in core_processes(state) if running) == sorted(
        ["etcd"]
        + [f"{role}-{name}" for name in CLUSTERS for role in ("kube-apiserver", "kube-controller-manager")]
    )


@pytest.mark.fleet_teardown
def test_down_stops_every_recorded_process_including_registered_ones(fleet: FleetState) -> None:
    """down() stops the control planes and a process registered later, and leaves no state behind."""
    extra = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        register_process(fleet.dir, "stand-in-hub", extra.pid)
        state = status(fleet.dir)
        assert state is not None
        recorded = [p for p in state.processes if p.running]
        stopped = down(fleet.dir)
        assert extra.wait(timeout=30) == -signal.SIGTERM
    finally:
        extra.kill()
    assert stopped == len(recorded)
    assert {"etcd", "kube-apiserver-parent", "kube-controller-manager-child-2", "stand-in-hub"} <= {
        p.name for p in recorded
    }
    assert [p.name for p in recorded if is_running(p.identity)] == []
    assert not (fleet.dir / STATE_FILE).exists()
    assert status(fleet.dir) is None


# ---------------------------------------------------------------------------------------------------
# ownership and failure handling, without the shared fleet


def _write_fleet_file(directory: Path, processes: list[ProcessRecord]) -> None:
    parent = ClusterInfo(
        name="parent",
        server="https://127.0.0.1:1",
        kubeconfig=directory / "parent.kubeconfig",
        service_cidr="127.77.0.0/24",
        ca_file=directory / "ca.crt",
        port=1,
        kubernetes_service_ip="127.77.0.1",
        front_proxy_ca_file=directory / "front-proxy-ca.crt",
        admin_cert_file=directory / "admin.crt",
        admin_key_file=directory / "admin.key",
        service_account_public_key_file=directory / "sa.pub",
        pki_dir=directory,
    )
    doc = {
        "version": 1,
        "complete": True,
        "etcd_url": "http://127.0.0.1:2",
        "clusters": [parent.to_dict()],
        "processes": [p.to_dict() for p in processes],
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / STATE_FILE).write_text(json.dumps(doc))


@pytest.fixture
def sleeper() -> Any:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process
    process.kill()
    process.wait()


def test_down_spares_a_process_that_reused_a_recorded_pid(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    """A recorded pid whose start time differs belongs to someone else now, so down() leaves it alone."""
    identity = identify(sleeper.pid)
    assert identity is not None
    stranger = ProcessRecord("etcd", sleeper.pid, identity.start_time + 1, role="etcd")
    _write_fleet_file(tmp_path, [stranger])
    assert down(tmp_path) == 0
    assert sleeper.poll() is None


def test_up_refuses_a_partly_running_fleet_and_names_what_died(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    """With etcd alive but an API server gone, status() lists the dead one and up() asks for down first."""
    identity = identify(sleeper.pid)
    assert identity is not None
    alive = ProcessRecord("etcd", sleeper.pid, identity.start_time, role="etcd")
    dead = ProcessRecord("kube-apiserver-parent", 999_999_999, 1, role="kube-apiserver")
    _write_fleet_file(tmp_path, [alive, dead])
    state = status(tmp_path)
    assert state is not None and not state.healthy
    assert any("kube-apiserver-parent" in problem for problem in state.problems)
    with pytest.raises(LocalFleetError, match="only partly running"):
        up(tmp_path, children=0)
    assert down(tmp_path) == 1
    assert sleeper.wait(timeout=30) == -signal.SIGTERM


def test_down_stops_the_children_of_a_registered_wrapper(tmp_path: Path) -> None:
    """A registered process that leads its own group (a `sh -c` wrapper) is stopped with what it started."""
    wrapper = subprocess.Popen(
        ["sh", "-c", "sleep 600 & echo $!; wait"], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert wrapper.stdout is not None
        grandchild = identify(int(wrapper.stdout.readline()))
        assert grandchild is not None
        _write_fleet_file(tmp_path, [])
        register_process(tmp_path, "wrapped-agent", wrapper.pid)
        assert down(tmp_path) == 1
        assert wrapper.wait(timeout=30) != 0
        assert not is_running(grandchild)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(wrapper.pid, signal.SIGKILL)  # the group outlives its leader while the sleep lives
        wrapper.wait()


def test_register_process_needs_a_fleet(tmp_path: Path) -> None:
    """Registering a process where no fleet runs fails with a message, and status() reports nothing."""
    assert status(tmp_path) is None
    with pytest.raises(LocalFleetError, match="no fleet"):
        register_process(tmp_path, "hub", os.getpid())


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            if text in cmdline and identify(int(entry.name)) is not None:
                pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize(
    ("failure_output", "quoted"),
    [
        ('echo "Error: refusing to start for this test" >&2', "Error: refusing to start for this test"),
        # A Go crash: the reason comes first, then a long goroutine dump that must not hide it.
        (
            'echo "I0101 starting"; echo "fatal error: fault"; '
            'i=0; while [ $i -lt 300 ]; do echo "goroutine $i [select]:"; i=$((i+1)); done',
            "fatal error: fault",
        ),
    ],
)
def test_failed_start_stops_what_it_started_and_shows_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure_output: str, quoted: str
) -> None:
    """When an API server dies at startup, up() stops etcd again and the error quotes why it died."""
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "etcd").symlink_to(ensure_binaries().etcd)
    for name in ("kube-apiserver", "kube-controller-manager"):
        script = assets / name
        script.write_text(
            "#!/bin/sh\n"
            'if [ "$1" = "--version" ]; then echo "Kubernetes v1.20.2"; exit 0; fi\n'
            f"{failure_output}\n"
            "exit 3\n"
        )
        script.chmod(0o755)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets))
    fleet_dir = tmp_path / "fleet"
    with pytest.raises(LocalFleetError, match=quoted) as failure:
        up(fleet_dir, children=1)
    assert "kube-apiserver-" in str(failure.value)
    assert _processes_mentioning(str(fleet_dir)) == []
    assert not (fleet_dir / STATE_FILE).exists()
    assert (fleet_dir / "logs" / "kube-apiserver-parent.log").exists()


# ---------------------------------------------------------------------------------------------------
# finding and building binaries


def _hide_installed_binaries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PATH holds only etcd and the tools the fake build needs; the cache points at an empty directory."""
    tools = tmp_path / "path"
    tools.mkdir()
    for tool in ("bash", "mkdir", "ln"):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)
    (tools / "etcd").symlink_to(ensure_binaries().etcd)
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.setenv("PATH", str(tools))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.parametrize("cached_recipe", [None, "1.20.2+an-older-recipe"])
def test_missing_or_stale_binaries_are_built_with_the_output_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached_recipe: str | None
) -> None:
    """With no cached binaries, or ones of an older recipe, ensure_binaries() builds and relays each line."""
    real = ensure_binaries()
    _hide_installed_binaries(monkeypatch, tmp_path)
    cache_dir = tmp_path / "cache" / "kubectl-clusternet" / "k8s-1.20.2"
    if cached_recipe is not None:
        (cache_dir / "bin").mkdir(parents=True)
        (cache_dir / "bin" / "kube-apiserver").symlink_to(real.kube_apiserver)
        (cache_dir / "bin" / "kube-controller-manager").symlink_to(real.kube_controller_manager)
        (cache_dir / "bin" / ".recipe").write_text(cached_recipe + "\n")
    fake_build = tmp_path / "build.sh"
    fake_build.write_text(
        "recipe=1.20.2+test\n"
        'echo "[build] pretending to compile into $1"\n'
        'mkdir -p "$1/bin"\n'
        f'ln -sf {real.kube_apiserver} "$1/bin/kube-apiserver"\n'
        f'ln -sf {real.kube_controller_manager} "$1/bin/kube-controller-manager"\n'
        'echo "$recipe" > "$1/bin/.recipe"\n'
        'echo "[build] done"\n'
    )
    monkeypatch.setattr("kubectl_clusternet.localfleet.binaries.build_script", lambda: fake_build)
    monkeypatch.setattr("kubectl_clusternet.localfleet.binaries._can_build", lambda: True)
    lines: list[str] = []
    built = ensure_binaries(lines.append)
    assert built.kube_apiserver == cache_dir / "bin" / "kube-apiserver"
    assert f"[build] pretending to compile into {cache_dir}" in lines
    assert lines[-1] == "[build] done"


@pytest.mark.parametrize(
    ("can_build", "script", "message"),
    [
        (False, "recipe=1.20.2+test\nexit 0\n", "set KUBEBUILDER_ASSETS"),
        (True, 'recipe=1.20.2+test\necho "[make] compiler exploded"; exit 2\n', "compiler exploded"),
    ],
)
def test_unavailable_binaries_fail_with_advice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, can_build: bool, script: str, message: str
) -> None:
    """When binaries cannot be built, or the build fails, the error says why and how to supply them."""
    _hide_installed_binaries(monkeypatch, tmp_path)
    fake_build = tmp_path / "build.sh"
    fake_build.write_text(script)
    monkeypatch.setattr("kubectl_clusternet.localfleet.binaries.build_script", lambda: fake_build)
    monkeypatch.setattr("kubectl_clusternet.localfleet.binaries._can_build", lambda: can_build)
    with pytest.raises(LocalFleetError, match=message) as failure:
        ensure_binaries()
    assert "KUBEBUILDER_ASSETS" in str(failure.value)
