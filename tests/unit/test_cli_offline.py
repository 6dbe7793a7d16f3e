"""CLI behaviour that needs no cluster: help, version, usage errors, exit codes, describe layout."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from kubectl_clusternet.cli.commands.describe import describe_object, field_title
from kubectl_clusternet.core.kube.apply import is_subset
from kubectl_clusternet.core.kube.rest import error_from_response
from tests.support.cli import run_cli


def test_version_client_json() -> None:
    """`version --client -o json` prints our version and needs no cluster or kubeconfig."""
    result = run_cli("version", "--client", "-o", "json", environ={"HOME": "/nonexistent"})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["clientVersion"]["gitVersion"].startswith("v")


def test_version_client_plain() -> None:
    """`version --client` prints one kubectl-style line."""
    result = run_cli("version", "--client", environ={"HOME": "/nonexistent"})
    assert result.stdout.startswith("Client Version: v") and result.exit_code == 0


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["get"], "error: You must specify the type of resource to get."),
        (["get", "mcls", "--bogus"], "error: unknown flag: --bogus"),
        (["frobnicate"], 'error: unknown command "frobnicate" for "kubectl clusternet"'),
        (["-n"], "error: flag needs an argument: -n"),
    ],
)
def test_usage_errors(args: list[str], stderr: str) -> None:
    """Usage errors print kubectl's `error: …` line on stderr and exit 1, never a traceback."""
    result = run_cli(*args, environ={"HOME": "/nonexistent"})
    assert result.exit_code == 1
    assert result.stderr.startswith(stderr)
    assert "Traceback" not in result.stderr


def test_missing_kubeconfig_is_an_error() -> None:
    """A --kubeconfig that does not exist is reported as kubectl reports it."""
    result = run_cli("--kubeconfig", "/nonexistent/config", "get", "mcls", environ={"HOME": "/nonexistent"})
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: stat /nonexistent/config: no such file or directory"


def test_usage_errors_name_the_command_help() -> None:
    """A usage error points at the help of the command that failed, as kubectl does."""
    result = run_cli("get", "mcls", "--bogus", environ={"HOME": "/nonexistent"})
    assert result.stderr.splitlines()[-1] == "See 'kubectl clusternet get --help' for usage."


def test_options_lists_global_flags() -> None:
    """`options` lists kubectl's global flags, including --kubeconfig and -n."""
    result = run_cli("options")
    assert "--kubeconfig" in result.stdout and "-n, --namespace" in result.stdout


@pytest.mark.parametrize(
    ("key", "title"),
    [
        ("clusterId", "Cluster Id"),
        ("k8sVersion", "K 8 S Version"),
        ("HTMLParser", "HTML Parser"),
        ("nodeIP", "Node IP"),
        ("apiserverURL", "Apiserver URL"),
        ("syncMode", "Sync Mode"),
        ("lastObservedTime", "Last Observed Time"),
        ("status", "Status"),
    ],
)
def test_field_titles(key: str, title: str) -> None:
    """Field names are split into title-cased words the way kubectl's generic describer prints them."""
    assert field_title(key) == title


def test_describe_layout() -> None:
    """describe prints the header block, nested fields indented, and `Events:  <none>` without events."""
    obj = {
        "apiVersion": "clusters.clusternet.io/v1beta1",
        "kind": "ManagedCluster",
        "metadata": {
            "name": "c1",
            "namespace": "ns",
            "labels": {"b": "2", "a": "1"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"clusterId": "x", "syncMode": "Pull"},
        "status": {"nodeStatistics": {"readyNodes": 2}},
    }
    text = describe_object(obj, [], datetime(2026, 1, 2, tzinfo=timezone.utc))
    lines = text.splitlines()
    assert lines[:4] == ["Name:         c1", "Namespace:    ns", "Labels:       a=1", "              b=2"]
    assert "Spec:" in lines and "  Cluster Id:  x" in lines
    assert "  Node Statistics:" in lines and "    Ready Nodes:  2" in lines
    assert lines[-1] == "Events:  <none>"


@pytest.mark.parametrize(
    ("wanted", "actual", "expected"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2], "c": 3}}, True),
        ({"a": [1]}, {"a": [1, 2]}, False),
        ({"a": 1}, {"a": 2}, False),
        ({"a": 1}, {}, False),
        ({"rules": [{"verbs": ["get"]}]}, {"rules": [{"verbs": ["get"], "apiGroups": [""]}]}, True),
    ],
)
def test_is_subset(wanted: object, actual: object, expected: bool) -> None:
    """An object is unchanged when every field we set is already there with the same value."""
    assert is_subset(wanted, actual) is expected


@pytest.mark.parametrize(
    ("status", "body", "display"),
    [
        (
            404,
            b'{"kind":"Status","reason":"NotFound","message":"x \\"y\\" not found"}',
            'Error from server (NotFound): x "y" not found',
        ),
        (403, b'{"kind":"Status","reason":"Forbidden","message":"no"}', "Error from server (Forbidden): no"),
        (503, b"service unavailable", "Error from server (ServiceUnavailable): service unavailable"),
    ],
)
def test_api_errors_read_like_kubectl(status: int, body: bytes, display: str) -> None:
    """Failures from the server print as kubectl prints them: `Error from server (Reason): message`."""
    assert error_from_response(status, body).display() == display


def test_api_resources_lists_every_clusternet_kind() -> None:
    """api-resources names each Clusternet kind with its short names, offline."""
    result = run_cli("api-resources", "--no-headers", environ={"HOME": "/nonexistent"})
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()}
    assert len(rows) == 11
    assert rows["managedclusters"] == [
        "managedclusters",
        "mcls",
        "clusters.clusternet.io/v1beta1",
        "true",
        "ManagedCluster",
    ]


CHILD_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://192.0.2.20:6443"}}]
users: [{name: u, user: {username: admin, password: secret}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["--cluster-id", "abc", "get", "ns"], "error: --cluster-id needs --child-kubeconfig"),
        (["--child-kubeconfig", "{child}", "get", "ns"], "error: --child-kubeconfig needs --cluster-id"),
        (
            ["--cluster-id", "abc", "--child-kubeconfig", "{child}", "--as", "bob", "get", "ns"],
            "error: --as cannot be used with --child-kubeconfig; use --clusternet-as",
        ),
        (
            ["--cluster-id", "abc", "--child-kubeconfig", "{missing}", "get", "ns"],
            "error: --child-kubeconfig: {missing}: no such file",
        ),
        (
            ["--cluster-id", "abc", "--child-kubeconfig", "{child}", "get", "ns"],
            "error: --child-kubeconfig: basic authentication cannot be forwarded through the parent",
        ),
    ],
    ids=[
        "id-without-kubeconfig",
        "kubeconfig-without-id",
        "parent-impersonation",
        "missing-file",
        "basic-auth",
    ],
)
def test_child_mode_refuses_what_would_go_to_the_wrong_place(
    args: list[str], stderr: str, tmp_path: Path
) -> None:
    """Child mode needs both flags and forwardable credentials; anything else is an `error:` before any
    request (upstream silently talks to the parent instead)."""
    child = tmp_path / "child.kubeconfig"
    child.write_text(CHILD_KUBECONFIG)
    names = {"child": str(child), "missing": str(tmp_path / "missing")}
    result = run_cli(*(a.format(**names) for a in args), environ={"HOME": "/nonexistent", "PATH": "/usr/bin"})
    assert result.exit_code == 1
    assert result.stderr.startswith(stderr.format(**names)), result.stderr
