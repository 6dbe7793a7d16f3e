"""Identities and credentials carried in headers: what the hub trusts, extracts, strips and adds."""

from __future__ import annotations

import base64
import json

import pytest

from kubectl_clusternet.core.proxy import (
    ChildCredentials,
    Identity,
    Impersonation,
    ProxyError,
    RequestHeaderSettings,
    child_credentials,
    extras_from_headers,
    forwarded_request_headers,
    forwarded_response_headers,
    identity_from_request_headers,
    impersonation_from_headers,
    is_upgrade_request,
    requestheader_settings,
)

PEM_CERT = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PEM_KEY = b"-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n"
SETTINGS = RequestHeaderSettings(client_ca_pem=b"ca")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("headers", "prefixes", "expected"),
    [
        ([("X-Remote-Extra-Clusternet-Token", "t")], ["X-Remote-Extra-"], {"clusternet-token": ("t",)}),
        ([("x-remote-extra-clusternet-token", "t")], ["X-Remote-Extra-"], {"clusternet-token": ("t",)}),
        ([("X-REMOTE-EXTRA-CLUSTERNET-TOKEN", "t")], ["x-remote-extra-"], {"clusternet-token": ("t",)}),
        (
            [
                ("X-Remote-Extra-Clusternet-Impersonate-Group", "a"),
                ("X-Remote-Extra-Clusternet-Impersonate-Group", "b"),
            ],
            ["X-Remote-Extra-"],
            {"clusternet-impersonate-group": ("a", "b")},
        ),
        ([("X-Remote-Extra-Example.com%2fTeam", "x")], ["X-Remote-Extra-"], {"example.com/team": ("x",)}),
        ([("X-Remote-Extra-", "empty key")], ["X-Remote-Extra-"], {}),
        ([("X-Other-A", "1"), ("X-Remote-User", "u")], ["X-Remote-Extra-"], {}),
        (
            [("X-Mine-A", "1"), ("X-Remote-Extra-B", "2")],
            ["X-Remote-Extra-", "X-Mine-"],
            {"a": ("1",), "b": ("2",)},
        ),
    ],
)
def test_extras_are_read_case_insensitively_and_unescaped(
    headers: list[tuple[str, str]], prefixes: list[str], expected: dict[str, tuple[str, ...]]
) -> None:
    """Prefixes match in any case; keys are lower-cased, then %-unescaped; repeated headers accumulate."""
    assert extras_from_headers(headers, prefixes) == expected


def test_front_proxy_identity() -> None:
    """User, groups and extras come from the configured requestheader names."""
    headers = [
        ("X-Remote-User", "clusternet"),
        ("X-Remote-Group", "system:authenticated"),
        ("X-Remote-Group", "team"),
        ("X-Remote-Extra-Clusternet-Token", "child-token"),
    ]
    assert identity_from_request_headers(headers, SETTINGS) == Identity(
        name="clusternet",
        groups=("system:authenticated", "team"),
        extra={"clusternet-token": ("child-token",)},
    )
    assert identity_from_request_headers([("X-Remote-Group", "g")], SETTINGS) is None


def test_requestheader_settings_from_the_config_map() -> None:
    """extension-apiserver-authentication's JSON lists and CAs become RequestHeaderSettings."""
    config_map = {
        "data": {
            "client-ca-file": "client-ca",
            "requestheader-client-ca-file": "front-ca",
            "requestheader-allowed-names": json.dumps(["front-proxy-client"]),
            "requestheader-username-headers": json.dumps(["X-Remote-User"]),
            "requestheader-group-headers": json.dumps(["X-Remote-Group"]),
            "requestheader-extra-headers-prefix": json.dumps(["X-Remote-Extra-"]),
        }
    }
    settings = requestheader_settings(config_map)
    assert settings.client_ca_pem == b"front-ca"
    assert settings.user_client_ca_pem == b"client-ca"
    assert settings.allowed_names == ("front-proxy-client",)
    with pytest.raises(ProxyError, match="requestheader-client-ca-file"):
        requestheader_settings({"data": {"client-ca-file": "x"}})
    with pytest.raises(ProxyError, match="JSON list"):
        requestheader_settings(
            {"data": {"requestheader-client-ca-file": "x", "requestheader-allowed-names": "a,b"}}
        )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], None),
        (
            [("Impersonate-User", "clusternet"), ("Impersonate-Extra-Clusternet-Token", "t")],
            Impersonation("clusternet", extra={"clusternet-token": ("t",)}),
        ),
        (
            [
                ("impersonate-user", "u"),
                ("Impersonate-Group", "a"),
                ("Impersonate-Group", "b"),
                ("Impersonate-Uid", "1"),
            ],
            Impersonation("u", uid="1", groups=("a", "b")),
        ),
    ],
)
def test_impersonation_headers(headers: list[tuple[str, str]], expected: Impersonation | None) -> None:
    """Impersonate-* headers parse like kube-apiserver's; no user means no impersonation."""
    assert impersonation_from_headers(headers) == expected


def test_impersonating_groups_without_a_user_is_an_error() -> None:
    """Groups or extras without Impersonate-User are refused, as kube-apiserver does."""
    with pytest.raises(ProxyError, match="without impersonating a user"):
        impersonation_from_headers([("Impersonate-Group", "g")])


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"clusternet-token": ("t",)}, ChildCredentials(token="t")),
        (
            {"clusternet-certificate": (b64(PEM_CERT),), "clusternet-privatekey": (b64(PEM_KEY),)},
            ChildCredentials(certificate_pem=PEM_CERT, private_key_pem=PEM_KEY),
        ),
        (
            {
                "clusternet-token": ("t",),
                "clusternet-impersonate-user": ("jane",),
                "clusternet-impersonate-uid": ("42",),
                "clusternet-impersonate-group": ("dev", "ops"),
            },
            ChildCredentials(
                token="t", impersonate_user="jane", impersonate_uid="42", impersonate_groups=("dev", "ops")
            ),
        ),
    ],
)
def test_child_credentials_from_extras(extra: dict[str, tuple[str, ...]], expected: ChildCredentials) -> None:
    """clusternet-token, or certificate + private key (base64 PEM), plus child impersonation extras."""
    assert child_credentials(extra) == expected


@pytest.mark.parametrize(
    ("extra", "status", "fragment"),
    [
        ({}, 401, "no credentials for the child cluster"),
        ({"other": ("x",)}, 401, "no credentials"),
        ({"clusternet-certificate": (b64(PEM_CERT),)}, 400, "must be given together"),
        (
            {"clusternet-certificate": ("%%%",), "clusternet-privatekey": (b64(PEM_KEY),)},
            400,
            "not valid base64",
        ),
        ({"clusternet-certificate": (b64(b"plain"),), "clusternet-privatekey": (b64(PEM_KEY),)}, 400, "PEM"),
    ],
)
def test_bad_or_missing_child_credentials(
    extra: dict[str, tuple[str, ...]], status: int, fragment: str
) -> None:
    """Nothing to authenticate with is 401; malformed credentials are 400; the hub never falls back."""
    with pytest.raises(ProxyError) as refused:
        child_credentials(extra)
    assert (refused.value.status, fragment in refused.value.message) == (status, True)


INCOMING = [
    ("Host", "parent:6443"),
    ("Authorization", "Bearer parent-token"),
    ("Impersonate-User", "clusternet"),
    ("Impersonate-Extra-Clusternet-Token", "child"),
    ("X-Remote-User", "forged"),
    ("X-Remote-Group", "system:masters"),
    ("X-Remote-Extra-Clusternet-Token", "child"),
    ("X-Custom-User", "from-settings"),
    ("Connection", "keep-alive, X-Hop"),
    ("X-Hop", "dropped because Connection names it"),
    ("Keep-Alive", "timeout=5"),
    ("Transfer-Encoding", "chunked"),
    ("Content-Length", "12"),
    ("Accept", "application/json"),
    ("User-Agent", "kubectl/v1.32"),
]


def test_forwarded_headers_strip_identity_and_hop_by_hop() -> None:
    """Nothing that identified the caller to the parent reaches the child; child credentials are added."""
    settings = RequestHeaderSettings(client_ca_pem=b"ca", username_headers=("X-Custom-User",))
    forwarded = forwarded_request_headers(
        INCOMING,
        host="127.0.0.1:6443",
        credentials=ChildCredentials(token="child", impersonate_user="jane", impersonate_groups=("dev",)),
        upgrade=None,
        settings=settings,
    )
    assert forwarded == [
        ("Host", "127.0.0.1:6443"),
        ("Accept", "application/json"),
        ("User-Agent", "kubectl/v1.32"),
        ("Authorization", "Bearer child"),
        ("Impersonate-User", "jane"),
        ("Impersonate-Group", "dev"),
    ]


def test_forwarded_upgrade_keeps_connection_upgrade() -> None:
    """An upgrade request (exec, port-forward) keeps Connection: Upgrade and its Upgrade value."""
    headers = [
        ("Connection", "Upgrade"),
        ("Upgrade", "SPDY/3.1"),
        ("X-Stream-Protocol-Version", "v4.channel.k8s.io"),
    ]
    upgrade = is_upgrade_request(headers)
    assert upgrade == "SPDY/3.1"
    forwarded = forwarded_request_headers(
        headers, host="h", credentials=ChildCredentials(token="t"), upgrade=upgrade
    )
    assert forwarded[-2:] == [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1")]
    assert ("X-Stream-Protocol-Version", "v4.channel.k8s.io") in forwarded


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("Connection", "keep-alive, Upgrade"), ("Upgrade", "websocket")], "websocket"),
        ([("Upgrade", "websocket")], None),
        ([("Connection", "upgrade")], None),
        ([("Connection", "close")], None),
    ],
)
def test_upgrade_detection(headers: list[tuple[str, str]], expected: str | None) -> None:
    """Only Connection: Upgrade together with an Upgrade value is an upgrade request."""
    assert is_upgrade_request(headers) == expected


def test_response_headers() -> None:
    """Responses lose hop-by-hop headers and framing; a 101 keeps Connection and Upgrade."""
    headers = [
        ("Content-Type", "application/json"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "3"),
        ("Connection", "Upgrade"),
        ("Upgrade", "SPDY/3.1"),
        ("Audit-Id", "abc"),
    ]
    assert forwarded_response_headers(headers, upgraded=False) == [
        ("Content-Type", "application/json"),
        ("Audit-Id", "abc"),
    ]
    assert forwarded_response_headers(headers, upgraded=True) == [
        ("Content-Type", "application/json"),
        ("Connection", "Upgrade"),
        ("Upgrade", "SPDY/3.1"),
        ("Audit-Id", "abc"),
    ]
