"""`apply -f` against a real parent: Clusternet kinds as objects, native kinds as Manifests, all-or-nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kubectl_clusternet.localfleet import FleetState
from tests.support.cli import run_cli

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "applications"


@pytest.fixture(scope="module")
def parent(fleet: FleetState) -> str:
    kubeconfig = str(fleet.parent.kubeconfig)
    assert run_cli("--kubeconfig", kubeconfig, "hub", "install").exit_code == 0
    return kubeconfig


def manifests(parent: str) -> list[str]:
    result = subprocess.run(
        ["kubectl", "--kubeconfig", parent, "get", "manifests", "-n", "clusternet-reserved", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(result.stdout.split())


def test_apply_examples_then_unchanged_then_configured(parent: str, tmp_path: Path) -> None:
    """The tutorial's objects apply as kubectl reports; a second apply is unchanged; an edit is configured."""
    first = run_cli("--kubeconfig", parent, "apply", "-f", str(EXAMPLES))
    assert first.exit_code == 0, first.stderr
    assert first.stdout.splitlines() == [
        "deployment.apps/my-nginx created",
        "namespace/foo created",
        "service/my-nginx-svc created",
        "subscription.apps.clusternet.io/app-demo created",
    ]
    assert manifests(parent) == [
        "manifest.apps.clusternet.io/deployments.foo.my-nginx",
        "manifest.apps.clusternet.io/namespaces.foo",
        "manifest.apps.clusternet.io/services.foo.my-nginx-svc",
    ]
    again = run_cli("--kubeconfig", parent, "apply", "-f", str(EXAMPLES))
    assert all(line.endswith(" unchanged") for line in again.stdout.splitlines()), again.stdout
    edited = (EXAMPLES / "deployment.yaml").read_text().replace("replicas: 2", "replicas: 5")
    (tmp_path / "deployment.yaml").write_text(edited)
    changed = run_cli("--kubeconfig", parent, "apply", "-f", str(tmp_path / "deployment.yaml"))
    assert changed.stdout == "deployment.apps/my-nginx configured\n"
    shown = json.loads(
        run_cli("--kubeconfig", parent, "get", "deploy", "my-nginx", "-n", "foo", "-o", "json").stdout
    )
    assert shown["spec"]["replicas"] == 5
    listed = run_cli("--kubeconfig", parent, "get", "deploy", "-n", "foo")
    assert listed.stdout.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert listed.stdout.splitlines()[1].startswith("my-nginx ")
    # the target namespace exists only as a feed: the parent itself has no namespace "foo"
    real = subprocess.run(
        ["kubectl", "--kubeconfig", parent, "get", "ns", "foo"], capture_output=True, text=True
    )
    assert real.returncode != 0


def test_bad_document_writes_nothing(parent: str, tmp_path: Path) -> None:
    """One invalid document among five fails the whole apply, names the document, and writes nothing."""
    before = manifests(parent)
    documents = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i}", "namespace": "bar"},
            "data": {"k": "v"},
        }
        for i in range(4)
    ]
    documents.insert(
        2,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "broken", "namespace": "bar"},
            "spec": {"replicas": "many"},
        },
    )
    path = tmp_path / "five.yaml"
    path.write_text("\n---\n".join(json.dumps(d) for d in documents))
    result = run_cli("--kubeconfig", parent, "apply", "-f", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: error validating {path} (document 3): ")
    assert manifests(parent) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: ConfigMap\nmetadata: {name: x}\n", "apiVersion not set"),
        ("apiVersion: v1\nmetadata: {name: x}\n", "kind not set"),
        (
            "apiVersion: v1\nkind: Widget\nmetadata: {name: x}\n",
            'resource mapping not found for kind "Widget"',
        ),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n", "error parsing"),
    ],
)
def test_malformed_input_is_a_clear_error(parent: str, tmp_path: Path, text: str, message: str) -> None:
    """YAML errors, missing kind or apiVersion, and unknown kinds are `error:` lines, never tracebacks."""
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = run_cli("--kubeconfig", parent, "apply", "-f", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr


def test_delete_a_feed(parent: str) -> None:
    """Deleting a native kind removes its Manifest, with kubectl's wording."""
    applied = run_cli(
        "--kubeconfig",
        parent,
        "apply",
        "-f",
        "-",
        stdin=json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gone", "namespace": "baz"}}
        ),
    )
    assert applied.stdout == "configmap/gone created\n"
    deleted = run_cli("--kubeconfig", parent, "delete", "cm", "gone", "-n", "baz")
    assert (deleted.exit_code, deleted.stdout) == (0, 'configmap "gone" deleted\n')
    assert "manifest.apps.clusternet.io/configmaps.baz.gone" not in manifests(parent)
