"""TAB completion as users get it: the real kubectl calling our shim, and bash running our script."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_clusternet.core.apis.clusters import MANAGED_CLUSTER
from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.kube.rest import RestClient
from kubectl_clusternet.localfleet import FleetState
from tests.support.cli import run_cli
from tests.support.kube import admin_client, delete_quietly, wait_for

from .support import kubectl_path, plugin_environ


def kubectl_complete(bin_dir: Path, *words: str) -> list[str]:
    """``kubectl __complete clusternet WORDS…`` with our shim and command first on PATH; its output lines."""
    result = subprocess.run(
        [kubectl_path(), "__complete", "clusternet", *words],
        capture_output=True,
        text=True,
        env=plugin_environ(bin_dir),
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def offered(lines: list[str]) -> list[str]:
    return [line.split("\t")[0] for line in lines[:-1]]


def test_kubectl_completes_subcommands(checkout_plugin_bin: Path) -> None:
    lines = kubectl_complete(checkout_plugin_bin, "ge")
    assert offered(lines) == ["get"]
    assert lines[-1] == ":4"


def test_kubectl_completes_kinds_and_short_names(checkout_plugin_bin: Path) -> None:
    assert offered(kubectl_complete(checkout_plugin_bin, "get", "mc")) == ["mcls"]
    assert offered(kubectl_complete(checkout_plugin_bin, "get", "managed")) == ["managedclusters"]
    assert "clusternet" in offered(kubectl_complete(checkout_plugin_bin, "describe", "c"))


def test_kubectl_completes_global_flags(checkout_plugin_bin: Path) -> None:
    assert offered(kubectl_complete(checkout_plugin_bin, "get", "--kubecon")) == ["--kubeconfig"]
    assert offered(kubectl_complete(checkout_plugin_bin, "--cluster-i")) == ["--cluster-id"]


def test_kubectl_completion_without_a_parent_is_quiet(checkout_plugin_bin: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-kubeconfig")
    assert kubectl_complete(checkout_plugin_bin, "--kubeconfig", missing, "get", "mcls", "") == [":4"]


def test_bash_completes_the_direct_command(checkout_plugin_bin: Path) -> None:
    """The script from `completion bash`, sourced into a real bash, completes `kubectl-clusternet get mc`."""
    bash = shutil.which("bash")
    assert bash, "bash is needed to run the completion script"
    script = (
        "source <(kubectl-clusternet completion bash)\n"
        "COMP_WORDS=(kubectl-clusternet get mc); COMP_CWORD=2\n"
        "_kubectl_clusternet_completion kubectl-clusternet\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
        "complete -p kubectl-clusternet; complete -p kubectl || true\n"
    )
    result = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", script],
        capture_output=True,
        text=True,
        env=plugin_environ(checkout_plugin_bin),
        check=False,
        timeout=60,
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "mcls", result.stderr
    assert lines[1] == "complete -o nosort -F _kubectl_clusternet_completion kubectl-clusternet"
    assert len(lines) == 2  # nothing registered for kubectl itself


# -- names from a real parent -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    namespace: str
    clusters: dict[str, str]  # name -> cluster ID
    kubeconfig: Path  # the parent's admin kubeconfig
    kubeconfig_in_namespace: Path  # the same, with the context's namespace set to ``namespace``


@pytest.fixture
def seeded_parent(fleet: FleetState, tmp_path: Path) -> Iterator[Seeded]:
    """ManagedClusters in a namespace of their own in the fleet's parent (removed afterwards)."""
    kubeconfig = fleet.parent.kubeconfig
    installed = run_cli("--kubeconfig", str(kubeconfig), "hub", "install")
    assert installed.exit_code == 0, installed.stderr
    client = admin_client(fleet.parent)
    namespace = f"completion-{uuid.uuid4().hex[:8]}"
    clusters = {f"edge-{n}": str(uuid.uuid4()) for n in ("north", "south")}
    client.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    try:
        for name, cluster_id in clusters.items():
            body = {
                "apiVersion": MANAGED_CLUSTER.api_version,
                "kind": MANAGED_CLUSTER.kind,
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"clusterId": cluster_id, "syncMode": "Pull"},
            }
            wait_for(
                lambda body=body: _created(client, namespace, body),
                f"ManagedCluster {name} created (the CRD may still be settling)",
            )
        config = yaml.safe_load(kubeconfig.read_text())
        for context in config["contexts"]:
            context["context"]["namespace"] = namespace
        in_namespace = tmp_path / "parent-in-namespace.kubeconfig"
        in_namespace.write_text(yaml.safe_dump(config))
        yield Seeded(namespace, clusters, kubeconfig, in_namespace)
    finally:
        delete_quietly(client, f"/api/v1/namespaces/{namespace}")


def _created(client: RestClient, namespace: str, body: dict[str, Any]) -> bool:
    try:
        client.create(MANAGED_CLUSTER.collection_path(namespace), body)
    except ApiError as error:
        if error.status == 409:
            return True
        if error.status in (404, 503):  # CRD not served yet
            return False
        raise
    return True


@pytest.mark.e2e
def test_kubectl_completes_names_from_the_parent(checkout_plugin_bin: Path, seeded_parent: Seeded) -> None:
    """`get mcls <TAB>` offers the ManagedClusters in the namespace the kubeconfig or -n names."""
    expected = sorted(seeded_parent.clusters)
    by_context = kubectl_complete(
        checkout_plugin_bin, "--kubeconfig", str(seeded_parent.kubeconfig_in_namespace), "get", "mcls", ""
    )
    assert by_context == [*expected, ":4"]
    by_flag = kubectl_complete(
        checkout_plugin_bin,
        "--kubeconfig",
        str(seeded_parent.kubeconfig),
        "get",
        "mcls",
        "-n",
        seeded_parent.namespace,
        "edge-n",
    )
    assert by_flag == ["edge-north", ":4"]


@pytest.mark.e2e
def test_kubectl_completes_namespaces_and_cluster_ids(
    checkout_plugin_bin: Path, seeded_parent: Seeded
) -> None:
    kubeconfig = str(seeded_parent.kubeconfig)
    namespaces = offered(
        kubectl_complete(checkout_plugin_bin, "--kubeconfig", kubeconfig, "get", "-n", "completion-")
    )
    assert seeded_parent.namespace in namespaces
    ids = kubectl_complete(checkout_plugin_bin, "--kubeconfig", kubeconfig, "--cluster-id", "")
    for name, cluster_id in seeded_parent.clusters.items():
        assert f"{cluster_id}\t{name}" in ids
    assert ids[-1] == ":4"
