"""The CLI against a real parent control plane: hub install, get, describe, delete, version, errors."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from kubectl_clusternet.localfleet import FleetState
from tests.support.cli import run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def parent(fleet: FleetState) -> str:
    """The parent's kubeconfig path, with the hub objects installed."""
    kubeconfig = str(fleet.parent.kubeconfig)
    result = run_cli("--kubeconfig", kubeconfig, "hub", "install")
    assert result.exit_code == 0, result.stderr
    return kubeconfig


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", kubeconfig, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hub_install_creates_then_leaves_unchanged(parent: str) -> None:
    """A second install changes nothing and says so for every object, as kubectl apply does."""
    again = run_cli("--kubeconfig", parent, "hub", "install")
    assert again.exit_code == 0, again.stderr
    lines = again.stdout.splitlines()
    assert (
        "customresourcedefinition.apiextensions.k8s.io/managedclusters.clusters.clusternet.io unchanged"
        in lines
    )
    assert "namespace/clusternet-system unchanged" in lines
    assert "clusterrole.rbac.authorization.k8s.io/clusternet:system:bootstrapping unchanged" in lines
    assert all(line.endswith(" unchanged") for line in lines)


def test_hub_install_reconfigures_a_drifted_object(parent: str) -> None:
    """An object changed by hand is put back and reported as configured."""
    patched = kubectl(
        parent,
        "patch",
        "clusterrole",
        "clusternet:system:bootstrapping",
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/rules/0/verbs","value":["get"]}]',
    )
    assert patched.returncode == 0, patched.stderr
    result = run_cli("--kubeconfig", parent, "hub", "install")
    assert "clusterrole.rbac.authorization.k8s.io/clusternet:system:bootstrapping configured" in result.stdout
    role = json.loads(
        kubectl(parent, "get", "clusterrole", "clusternet:system:bootstrapping", "-o", "json").stdout
    )
    assert role["rules"][0]["verbs"] == ["create", "get"]


def test_hub_install_server_dry_run_writes_nothing(fleet: FleetState, parent: str) -> None:
    """--dry-run=server validates against the real API server and persists nothing."""
    child = str(fleet.children[1].kubeconfig)
    crd = "managedclusters.clusters.clusternet.io"
    assert kubectl(child, "get", "crd", crd).returncode != 0, "children never get the hub's CRDs"
    result = run_cli("--kubeconfig", child, "hub", "install", "--dry-run=server")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"customresourcedefinition.apiextensions.k8s.io/{crd} created (server dry run)" in lines
    assert all(line.endswith("(server dry run)") for line in lines)
    assert kubectl(child, "get", "crd", crd).returncode != 0


def test_real_kubectl_sees_the_crds(parent: str) -> None:
    """The real kubectl lists the CRDs and resolves their short names and category."""
    crds = kubectl(parent, "get", "crd", "-o", "name")
    names = set(crds.stdout.split())
    assert "customresourcedefinition.apiextensions.k8s.io/managedclusters.clusters.clusternet.io" in names
    assert len([n for n in names if "clusternet.io" in n]) == 11
    empty = kubectl(parent, "get", "mcls", "-A", "-l", "clusternet.io/no-such-label=1")
    assert empty.returncode == 0 and "No resources found" in empty.stderr


def test_get_nothing_found(parent: str) -> None:
    """When nothing matches, kubectl's 'No resources found' goes to stderr and the exit code is 0."""
    result = run_cli("--kubeconfig", parent, "get", "mcls", "-A", "-l", "clusternet.io/no-such-label=1")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "No resources found\n")
    namespaced = run_cli("--kubeconfig", parent, "get", "subs", "-n", "empty-namespace")
    assert namespaced.stderr == "No resources found in empty-namespace namespace.\n"


MANAGED_CLUSTER = {
    "apiVersion": "clusters.clusternet.io/v1beta1",
    "kind": "ManagedCluster",
    "metadata": {"name": "edge-1", "namespace": "clusternet-abcde", "labels": {"env": "test"}},
    "spec": {
        "clusterId": "8f6a1a7e-0b7c-4a52-9d3e-3c1f2f3b9a10",
        "clusterType": "EdgeCluster",
        "syncMode": "Pull",
    },
}


@pytest.fixture(scope="module")
def managed_cluster(parent: str) -> dict:
    """One ManagedCluster with a Ready condition, created with the real kubectl."""
    assert kubectl(parent, "create", "namespace", "clusternet-abcde").returncode == 0
    created = kubectl(parent, "create", "-f", "-", stdin=json.dumps(MANAGED_CLUSTER))
    assert created.returncode == 0, created.stderr
    status = {
        "status": {
            "k8sVersion": "v1.20.2",
            "agentVersion": "v0.1.0",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "ManagedClusterReady",
                    "message": "managed cluster is ready.",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
        }
    }
    patched = run_cli("--kubeconfig", parent, "get", "mcls", "-n", "clusternet-abcde", "edge-1", "-o", "json")
    assert patched.exit_code == 0
    raw = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            parent,
            "patch",
            "mcls",
            "edge-1",
            "-n",
            "clusternet-abcde",
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(status),
        ],
        capture_output=True,
        text=True,
    )
    assert raw.returncode == 0, raw.stderr
    return MANAGED_CLUSTER


def test_get_table_matches_crd_columns(parent: str, managed_cluster: dict) -> None:
    """The table has the CRD's columns, NAMESPACE first with -A, the Ready status, and AGE last."""
    result = run_cli("--kubeconfig", parent, "get", "mcls", "-A", "-l", "env=test")
    assert result.exit_code == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == [
        "NAMESPACE",
        "NAME",
        "CLUSTER",
        "ID",
        "SYNC",
        "MODE",
        "KUBERNETES",
        "STATUS",
        "AGE",
    ]
    cells = row.split()
    assert cells[:6] == [
        "clusternet-abcde",
        "edge-1",
        managed_cluster["spec"]["clusterId"],
        "Pull",
        "v1.20.2",
        "True",
    ]
    wide = run_cli("--kubeconfig", parent, "get", "mcls", "-A", "-l", "env=test", "-o", "wide")
    assert "EdgeCluster" in wide.stdout and "AGENT VERSION" in wide.stdout


def test_get_same_as_real_kubectl(parent: str, managed_cluster: dict) -> None:
    """Our table has the same header and cells as kubectl's server-side table for the same CRD."""
    ours = run_cli("--kubeconfig", parent, "get", "mcls", "-A").stdout.splitlines()
    theirs = kubectl(parent, "get", "mcls", "-A").stdout.splitlines()
    # AGE, the last cell, may tick between the two calls; everything before it must match to the character.
    assert [line.rsplit(" ", 1)[0] for line in ours] == [line.rsplit(" ", 1)[0] for line in theirs]


def test_get_output_formats(parent: str, managed_cluster: dict) -> None:
    """-o name, yaml, json, jsonpath and custom-columns print what kubectl would."""
    base = ["--kubeconfig", parent, "get", "mcls", "-n", "clusternet-abcde"]
    assert run_cli(*base, "-o", "name").stdout == "managedcluster.clusters.clusternet.io/edge-1\n"
    as_yaml = yaml.safe_load(run_cli(*base, "edge-1", "-o", "yaml").stdout)
    assert as_yaml["kind"] == "ManagedCluster" and as_yaml["spec"]["syncMode"] == "Pull"
    as_list = json.loads(run_cli(*base, "-o", "json").stdout)
    assert as_list["kind"] == "List" and as_list["items"][0]["metadata"]["name"] == "edge-1"
    assert (
        run_cli(*base, "-o", "jsonpath={.items[*].spec.clusterId}").stdout
        == managed_cluster["spec"]["clusterId"]
    )
    columns = run_cli(
        *base, "-o", "custom-columns=NAME:.metadata.name,TYPE:.spec.clusterType", "--no-headers"
    )
    assert columns.stdout.split() == ["edge-1", "EdgeCluster"]
    by_label = run_cli(*base, "-l", "env=prod")
    assert by_label.stdout == "" and "No resources found" in by_label.stderr


def test_get_category_and_short_names(parent: str, managed_cluster: dict) -> None:
    """`get clusternet` lists every Clusternet kind in the namespace with kind-qualified names."""
    result = run_cli("--kubeconfig", parent, "get", "clusternet", "-n", "clusternet-abcde")
    assert result.exit_code == 0, result.stderr
    assert "managedcluster.clusters.clusternet.io/edge-1" in result.stdout


def test_get_missing_object_is_kubectl_not_found(parent: str) -> None:
    """A missing name prints kubectl's NotFound line on stderr and exits 1."""
    result = run_cli("--kubeconfig", parent, "get", "sub", "nope", "-n", "default")
    assert result.exit_code == 1
    assert (
        result.stderr == 'Error from server (NotFound): subscriptions.apps.clusternet.io "nope" not found\n'
    )


def test_describe_shows_fields_and_events(parent: str, managed_cluster: dict) -> None:
    """describe prints the object's fields in kubectl's generic layout and its Events."""
    shown = kubectl(parent, "get", "mcls", "edge-1", "-n", "clusternet-abcde", "-o", "json")
    uid = json.loads(shown.stdout)["metadata"]["uid"]
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "edge-1.test", "namespace": "clusternet-abcde"},
        "involvedObject": {
            "kind": "ManagedCluster",
            "name": "edge-1",
            "namespace": "clusternet-abcde",
            "apiVersion": "clusters.clusternet.io/v1beta1",
            "uid": uid,
        },
        "reason": "Synced",
        "message": "cluster synced",
        "type": "Normal",
        "source": {"component": "hub-lite"},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:00:00Z",
        "count": 1,
    }
    assert kubectl(parent, "create", "-f", "-", stdin=json.dumps(event)).returncode == 0
    result = run_cli("--kubeconfig", parent, "describe", "mcls", "edge-1", "-n", "clusternet-abcde")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "Name:         edge-1" in text and "Kind:         ManagedCluster" in text
    assert "Cluster Id:  8f6a1a7e-0b7c-4a52-9d3e-3c1f2f3b9a10" in text
    assert "Labels:       env=test" in text
    assert "Events:" in text and "Synced" in text and "cluster synced" in text


def test_delete_by_name_waits_until_gone(parent: str) -> None:
    """delete prints kubectl's line and returns once the object is gone."""
    glob = {
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "Globalization",
        "metadata": {"name": "g1"},
        "spec": {"feed": {"apiVersion": "v1", "kind": "Namespace", "name": "foo"}},
    }
    assert kubectl(parent, "create", "-f", "-", stdin=json.dumps(glob)).returncode == 0
    result = run_cli("--kubeconfig", parent, "delete", "glob", "g1")
    assert (result.exit_code, result.stdout) == (0, 'globalization.apps.clusternet.io "g1" deleted\n')
    assert kubectl(parent, "get", "glob", "g1").returncode != 0
    missing = run_cli("--kubeconfig", parent, "delete", "glob", "g1")
    assert missing.exit_code == 1 and "NotFound" in missing.stderr
    assert run_cli("--kubeconfig", parent, "delete", "glob", "g1", "--ignore-not-found").exit_code == 0


def test_version_reports_the_server(parent: str) -> None:
    """version shows our client version and the parent's Kubernetes version."""
    result = run_cli("--kubeconfig", parent, "version")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1] == "Server Version: v1.20.2"
    as_json = json.loads(run_cli("--kubeconfig", parent, "version", "-o", "json").stdout)
    assert as_json["serverVersion"]["gitVersion"] == "v1.20.2"


def test_unreachable_server_is_a_clear_error(parent: str) -> None:
    """A server that refuses connections gives kubectl's message and exit 1, no traceback."""
    result = run_cli("--kubeconfig", parent, "-s", "https://127.0.0.1:1", "get", "mcls", "-A")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?"
    )


def test_unknown_type_and_bad_flag(parent: str) -> None:
    """Unknown resource types and flags are kubectl-style usage errors with exit 1."""
    unknown = run_cli("--kubeconfig", parent, "get", "widgets")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith('error: the server doesn\'t have a resource type "widgets"')
    bad = run_cli("--kubeconfig", parent, "get", "mcls", "--bogus")
    assert bad.exit_code == 1
    assert bad.stderr.splitlines() == [
        "error: unknown flag: --bogus",
        "See 'kubectl clusternet get --help' for usage.",
    ]


def test_plugin_through_real_kubectl(parent: str, tmp_path: Path) -> None:
    """`kubectl clusternet get mcls -A` works through kubectl's plugin mechanism."""
    script = shutil.which("kubectl-clusternet", path=os.path.dirname(sys.executable))
    assert script, "kubectl-clusternet is installed next to the interpreter"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl-clusternet").symlink_to(script)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    result = subprocess.run(
        ["kubectl", "clusternet", "--kubeconfig", parent, "get", "mcls", "-A"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "edge-1" in result.stdout


def test_watch_streams_new_objects(parent: str) -> None:
    """`get -w` prints the header once, then a row for an object created while it watches."""
    script = shutil.which("kubectl-clusternet", path=os.path.dirname(sys.executable))
    assert script
    watcher = subprocess.Popen(
        [script, "--kubeconfig", parent, "get", "subs", "-n", "default", "-w"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout or ()], daemon=True).start()
    subscription = {
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "Subscription",
        "metadata": {"name": "watched", "namespace": "default"},
        "spec": {
            "subscribers": [{"clusterAffinity": {}}],
            "feeds": [{"apiVersion": "v1", "kind": "Namespace", "name": "foo"}],
        },
    }
    try:
        # Whether the object lands before the first list or after it, the watch must show it (it resumes
        # from the list's resourceVersion), so no waiting for the watch to start is needed.
        assert kubectl(parent, "create", "-f", "-", stdin=json.dumps(subscription)).returncode == 0
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(line.startswith("watched ") for line in seen):
            try:
                seen.append(lines.get(timeout=1.0))
            except queue.Empty:
                continue
        assert seen and seen[0].split() == ["NAME", "AGE"], seen
        assert any(line.startswith("watched ") for line in seen), seen
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
        kubectl(parent, "delete", "subs", "watched", "-n", "default")
