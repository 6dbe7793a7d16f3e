"""Child mode's generated kubeconfig: parent connection, proxy URL, and child credentials as extras."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from kubectl_clusternet.core.childmode import (
    ChildAuth,
    child_auth_from_user,
    child_mode_kubeconfig,
    kubectl_command,
    resolve_cluster_id,
)
from kubectl_clusternet.core.errors import ConfigError
from kubectl_clusternet.core.kube.kubeconfig import ResolvedConfig

CERT = b"-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN EC PRIVATE KEY-----\nB\n-----END EC PRIVATE KEY-----\n"
FILES = {"/t": b"file-token\n", "/c": CERT, "/k": KEY}
ID = "3b0c9db7-079b-407e-9152-5ff6b4803a9c"


def read_file(path: str) -> bytes:
    return FILES[path]


def run_exec(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(spec["status"])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ({"token": "inline"}, ChildAuth(token="inline")),
        ({"tokenFile": "/t"}, ChildAuth(token="file-token")),
        (
            {"client-certificate-data": b64(CERT), "client-key-data": b64(KEY)},
            ChildAuth(certificate_pem=CERT, key_pem=KEY),
        ),
        ({"client-certificate": "/c", "client-key": "/k"}, ChildAuth(certificate_pem=CERT, key_pem=KEY)),
        ({"token": "stale", "exec": {"status": {"token": "from-plugin"}}}, ChildAuth(token="from-plugin")),
        (
            {"exec": {"status": {"clientCertificateData": CERT.decode(), "clientKeyData": KEY.decode()}}},
            ChildAuth(certificate_pem=CERT, key_pem=KEY),
        ),
    ],
)
def test_child_credentials_from_every_kind_of_user(user: dict[str, Any], expected: ChildAuth) -> None:
    """Inline or file tokens and certificates, and exec plugin output (which wins), all become ChildAuth."""
    assert child_auth_from_user(user, read_file=read_file, run_exec=run_exec) == expected


@pytest.mark.parametrize(
    ("user", "fragment"),
    [
        ({}, "no credentials to forward"),
        ({"username": "u", "password": "p"}, "basic authentication"),
        ({"auth-provider": {"name": "oidc"}}, "auth-provider"),
        ({"client-certificate-data": b64(CERT)}, "given together"),
    ],
)
def test_unforwardable_child_credentials(user: dict[str, Any], fragment: str) -> None:
    """Users with nothing the hub can present to the child are refused with a reason."""
    with pytest.raises(ConfigError, match=fragment):
        child_auth_from_user(user, read_file=read_file, run_exec=run_exec)


def parent(user: dict[str, Any]) -> ResolvedConfig:
    return ResolvedConfig(
        context_name="parent",
        cluster_name="parent",
        user_name="admin",
        namespace="default",
        namespace_explicit=False,
        cluster={"server": "https://parent:6443/", "certificate-authority-data": "Q0E="},
        user=user,
    )


def test_generated_kubeconfig_with_a_child_token() -> None:
    """Server is the parent's direct proxy URL; the parent's credentials stay; the child token is an extra."""
    config = child_mode_kubeconfig(
        parent({"token": "parent-token"}), ID, ChildAuth(token="child-token"), namespace="apps"
    )
    assert config["clusters"][0]["cluster"] == {
        "server": f"https://parent:6443/apis/proxies.clusternet.io/v1alpha1/sockets/{ID}/proxy/direct",
        "certificate-authority-data": "Q0E=",
    }
    assert config["users"][0]["user"] == {
        "token": "parent-token",
        "as": "clusternet",
        "as-user-extra": {"clusternet-token": ["child-token"]},
    }
    assert config["contexts"][0]["context"]["namespace"] == "apps"
    assert config["current-context"] == config["contexts"][0]["name"]


def test_generated_kubeconfig_with_a_child_certificate_and_child_impersonation() -> None:
    """Certificates travel base64-encoded; --clusternet-as* become clusternet-impersonate-* extras; the
    parent user's own impersonation is replaced."""
    config = child_mode_kubeconfig(
        parent(
            {
                "client-certificate-data": "eA==",
                "client-key-data": "eQ==",
                "as": "someone",
                "as-groups": ["g"],
            }
        ),
        ID,
        ChildAuth(certificate_pem=CERT, key_pem=KEY),
        impersonate_user="jane",
        impersonate_uid="42",
        impersonate_groups=("dev", "ops"),
    )
    user = config["users"][0]["user"]
    assert user == {
        "client-certificate-data": "eA==",
        "client-key-data": "eQ==",
        "as": "clusternet",
        "as-user-extra": {
            "clusternet-certificate": [b64(CERT)],
            "clusternet-privatekey": [b64(KEY)],
            "clusternet-impersonate-user": ["jane"],
            "clusternet-impersonate-uid": ["42"],
            "clusternet-impersonate-group": ["dev", "ops"],
        },
    }


def test_kubectl_command() -> None:
    """kubectl runs on the generated kubeconfig with the user's own arguments untouched."""
    assert kubectl_command("/tmp/k", ["get", "pods", "-n", "x"]) == [
        "kubectl",
        "--kubeconfig",
        "/tmp/k",
        "get",
        "pods",
        "-n",
        "x",
    ]


def _managed(namespace: str, name: str, cluster_id: str) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name}, "spec": {"clusterId": cluster_id}}


FLEET = [
    _managed("clusternet-aaaaa", "edge-1", "id-1"),
    _managed("clusternet-bbbbb", "edge-2", "id-2"),
    _managed("clusternet-ccccc", "twin", "id-3"),
    _managed("clusternet-ddddd", "twin", "id-4"),
]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ("id-2", "id-2"),  # an ID
        ("edge-1", "id-1"),  # a unique name
        ("clusternet-ddddd/twin", "id-4"),  # namespace/name settles a shared name
    ],
)
def test_cluster_flag_takes_an_id_a_name_or_namespace_and_name(wanted: str, expected: str) -> None:
    assert resolve_cluster_id(FLEET, wanted) == expected


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        ("nowhere", 'no ManagedCluster named "nowhere"'),
        ("twin", "clusternet-ccccc/twin, clusternet-ddddd/twin"),
        ("clusternet-aaaaa/edge-2", 'no ManagedCluster named "clusternet-aaaaa/edge-2"'),
    ],
)
def test_cluster_flag_refuses_unknown_and_ambiguous_names(wanted: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_cluster_id(FLEET, wanted)
