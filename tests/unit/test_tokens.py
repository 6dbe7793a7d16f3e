"""Unit tests of bootstrap tokens, ServiceAccount JWT reading and the cluster-info signature (core/tokens.py)."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kubectl_clusternet.cli.commands.tokens import agent_command_line, bootstrap_token_rows
from kubectl_clusternet.core.errors import UsageError
from kubectl_clusternet.core.tokens import (
    BootstrapToken,
    ServiceAccountToken,
    TokenError,
    bootstrap_service_account_binding,
    bootstrap_token_info,
    bootstrap_token_secret,
    bootstrap_token_secret_name,
    detached_signature,
    format_duration,
    generate_bootstrap_token,
    jwt_claims,
    parent_info_from_cluster_info,
    parse_bootstrap_token,
    parse_ttl,
    renewal_time,
    service_account_token,
    token_kind,
    verify_detached_signature,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
TOKEN = BootstrapToken("abcdef", "0123456789abcdef")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _jwt(claims: dict[str, Any]) -> str:
    def segment(document: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'RS256'})}.{segment(claims)}.c2lnbmF0dXJl"


def test_generated_tokens_have_the_bootstrap_shape_and_differ() -> None:
    """IDs are 6 and secrets 16 characters of [a-z0-9], drawn afresh each time."""
    tokens = {generate_bootstrap_token().value for _ in range(50)}
    assert len(tokens) == 50
    assert all(re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", token) for token in tokens)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abcdef.0123456789abcdef", TOKEN),
        ("  abcdef.0123456789abcdef\n", TOKEN),
        ("ABCDEF.0123456789abcdef", None),
        ("abcde.0123456789abcdef", None),
        ("abcdef.0123456789abcde", None),
        ("abcdef0123456789abcdef", None),
    ],
)
def test_parse_bootstrap_token(text: str, expected: BootstrapToken | None) -> None:
    """Only the exact ``[a-z0-9]{6}.[a-z0-9]{16}`` form is a bootstrap token."""
    assert parse_bootstrap_token(text) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("abcdef.0123456789abcdef", "bootstrap"),
        ("eyJh.eyJz.c2ln", "serviceaccount"),
        ("nope", None),
        ("a.b", None),
    ],
)
def test_token_kind(text: str, kind: str | None) -> None:
    """The agent tells bootstrap tokens from JWTs by shape."""
    assert token_kind(text) == kind


@pytest.mark.parametrize(
    ("token_id", "ok"), [("abcdef", True), ("abc", False), ("ABCDEF", False), ("abcdef.x", False)]
)
def test_secret_names(token_id: str, ok: bool) -> None:
    """Secret names are bootstrap-token-<id> for valid IDs only."""
    if ok:
        assert bootstrap_token_secret_name(token_id) == f"bootstrap-token-{token_id}"
    else:
        with pytest.raises(TokenError):
            bootstrap_token_secret_name(token_id)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("1h30m", timedelta(minutes=90)),
        ("90s", timedelta(seconds=90)),
        ("0", timedelta(0)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_parse_ttl(text: str, expected: timedelta) -> None:
    """TTLs take Go durations; 0 means the token never expires."""
    assert parse_ttl(text) == expected


@pytest.mark.parametrize("text", ["", "24", "1d", "-1h", "h"])
def test_parse_ttl_rejects_garbage(text: str) -> None:
    """Units are required, days and negative TTLs are not durations Go (or kubeadm) accepts here."""
    with pytest.raises(UsageError, match="--ttl"):
        parse_ttl(text)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(hours=24), "24h0m0s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=5), "5s"),
    ],
)
def test_format_duration(duration: timedelta, text: str) -> None:
    """Durations print as Go prints them."""
    assert format_duration(duration) == text


def test_secret_matches_kubeadm_format() -> None:
    """Type, name, namespace and every data key the API server's bootstrap authenticator reads."""
    secret = bootstrap_token_secret(TOKEN, now=NOW, ttl=timedelta(hours=2), description="edge rollout")
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert secret["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert decoded == {
        "token-id": "abcdef",
        "token-secret": "0123456789abcdef",
        "expiration": "2024-05-01T14:00:00Z",
        "description": "edge rollout",
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        "auth-extra-groups": "system:bootstrappers:clusternet:register-cluster-token",
    }


@pytest.mark.parametrize("ttl", [timedelta(0), None])
def test_secret_without_ttl_never_expires(ttl: timedelta | None) -> None:
    """A zero or missing TTL writes no expiration."""
    assert "expiration" not in bootstrap_token_secret(TOKEN, now=NOW, ttl=ttl)["data"]


def test_token_info_reads_back_what_was_written() -> None:
    """Listing shows the ID, expiry, usages, description and groups, never the secret."""
    info = bootstrap_token_info(
        bootstrap_token_secret(TOKEN, now=NOW, ttl=timedelta(hours=2), description="d")
    )
    assert info is not None
    assert (info.token_id, info.expires, info.usages, info.description) == (
        "abcdef",
        NOW + timedelta(hours=2),
        ("authentication", "signing"),
        "d",
    )
    assert not info.expired(NOW) and info.expired(NOW + timedelta(hours=3))


@pytest.mark.parametrize(
    "secret",
    [
        {"type": "Opaque", "metadata": {"name": "bootstrap-token-abcdef"}, "data": {}},
        {
            "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": "bootstrap-token-abcdef"},
            "data": {"token-id": _b64("zzzzzz")},
        },
        {"type": "bootstrap.kubernetes.io/token", "metadata": {"name": "something-else"}, "data": {}},
    ],
)
def test_token_info_ignores_foreign_secrets(secret: dict[str, Any]) -> None:
    """Secrets that the API server would not treat as this token are skipped."""
    assert bootstrap_token_info(secret) is None


def test_rows_show_time_left_like_kubeadm() -> None:
    """TTL is the time left; expired tokens read <invalid>, endless ones <forever>; sorted by ID."""
    secrets = [
        bootstrap_token_secret(
            BootstrapToken("bbbbbb", "0" * 16), now=NOW, ttl=timedelta(hours=24), description="day"
        ),
        bootstrap_token_secret(BootstrapToken("aaaaaa", "0" * 16), now=NOW, ttl=None),
        bootstrap_token_secret(
            BootstrapToken("cccccc", "0" * 16), now=NOW - timedelta(hours=2), ttl=timedelta(hours=1)
        ),
    ]
    assert bootstrap_token_rows(secrets, NOW) == [
        ["TOKEN ID", "TTL", "EXPIRES", "USAGES", "DESCRIPTION"],
        ["aaaaaa", "<forever>", "<never>", "authentication,signing", "<none>"],
        ["bbbbbb", "24h", "2024-05-02T12:00:00Z", "authentication,signing", "day"],
        ["cccccc", "<invalid>", "2024-05-01T11:00:00Z", "authentication,signing", "<none>"],
    ]


def test_agent_command_line_is_copyable() -> None:
    """The printed command carries the parent URL and the token as the agent's flags."""
    line = agent_command_line("https://127.0.0.1:6443", TOKEN.value)
    assert line == (
        "agent-lite --kubeconfig=<child kubeconfig> --cluster-reg-parent-url=https://127.0.0.1:6443 "
        "--cluster-reg-token=abcdef.0123456789abcdef"
    )


def test_service_account_binding_targets_the_bootstrapping_role() -> None:
    """ServiceAccount tokens get exactly the bootstrap tokens' rights."""
    binding = bootstrap_service_account_binding()
    assert binding["metadata"]["name"] == "clusternet:system:bootstrapping:sa"
    assert binding["roleRef"]["name"] == "clusternet:system:bootstrapping"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "cluster-bootstrap-use", "namespace": "clusternet-system"}
    ]


# ----------------------------------------------------------------------------------------------- JWTs


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        (
            {
                "sub": "system:serviceaccount:clusternet-abcde:clusternet-xyz12",
                "iat": 1714564800,
                "exp": 1714651200,
                "kubernetes.io": {
                    "namespace": "clusternet-abcde",
                    "serviceaccount": {"name": "clusternet-xyz12"},
                },
            },
            ServiceAccountToken("clusternet-abcde", "clusternet-xyz12", NOW, NOW + timedelta(days=1)),
        ),
        (
            {
                "kubernetes.io/serviceaccount/namespace": "ns",
                "kubernetes.io/serviceaccount/service-account.name": "legacy",
            },
            ServiceAccountToken("ns", "legacy", None, None),
        ),
    ],
)
def test_service_account_tokens_are_read(claims: dict[str, Any], expected: ServiceAccountToken) -> None:
    """Bound (TokenRequest) and legacy token claims both name the ServiceAccount; only bound ones expire."""
    assert service_account_token(_jwt(claims)) == expected


@pytest.mark.parametrize("token", ["abc", "a.b", "a.%%%.c", _jwt({"sub": "user:alice"})])
def test_unreadable_jwts_are_errors(token: str) -> None:
    """Tokens that are not ServiceAccount JWTs raise TokenError."""
    with pytest.raises(TokenError):
        service_account_token(token)


def test_jwt_claims_need_an_object() -> None:
    """A JWT payload must be a JSON object."""
    payload = base64.urlsafe_b64encode(b"[1]").rstrip(b"=").decode()
    with pytest.raises(TokenError):
        jwt_claims(f"e30.{payload}.sig")


@pytest.mark.parametrize(
    ("issued", "expires", "renew"),
    [
        (NOW, NOW + timedelta(hours=10), NOW + timedelta(hours=8)),
        (None, NOW + timedelta(hours=10), NOW + timedelta(hours=10)),
        (NOW, None, None),
    ],
)
def test_renewal_at_eighty_percent(
    issued: datetime | None, expires: datetime | None, renew: datetime | None
) -> None:
    """Renew at 80% of the lifetime; without an issue time at expiry; never for endless tokens."""
    assert renewal_time(ServiceAccountToken("ns", "sa", issued, expires)) == renew


# ----------------------------------------------------------------------------------------------- cluster-info

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: ""
  cluster:
    certificate-authority-data: {ca}
    server: https://127.0.0.1:6443
contexts: []
users: []
""".format(ca=_b64("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))


def _cluster_info(**signatures: str) -> dict[str, Any]:
    return {"data": {"kubeconfig": KUBECONFIG, **signatures}}


def test_signature_round_trip() -> None:
    """What we sign verifies with the same token and fails with another secret or other content."""
    signature = detached_signature(KUBECONFIG, TOKEN)
    header, empty, _ = signature.split(".")
    assert empty == "" and json.loads(base64.urlsafe_b64decode(header + "==")) == {
        "alg": "HS256",
        "kid": "abcdef",
    }
    assert verify_detached_signature(KUBECONFIG, signature, TOKEN)
    assert not verify_detached_signature(KUBECONFIG, signature, BootstrapToken("abcdef", "f" * 16))
    assert not verify_detached_signature(KUBECONFIG + " ", signature, TOKEN)


@pytest.mark.parametrize("signature", ["", "a.b.c", "not-a-jws", "e30..", "eyJhbGciOiJub25lIn0..AAAA"])
def test_malformed_signatures_never_verify(signature: str) -> None:
    """Attached payloads, alg none and garbage are rejected, not crashed on."""
    assert not verify_detached_signature(KUBECONFIG, signature, TOKEN)


def test_cluster_info_with_a_valid_signature_gives_a_verified_ca() -> None:
    """The CA and server come out verified when the token's signature checks."""
    info = parent_info_from_cluster_info(
        _cluster_info(**{"jws-kubeconfig-abcdef": detached_signature(KUBECONFIG, TOKEN)}), TOKEN
    )
    assert info.verified and info.server == "https://127.0.0.1:6443" and info.ca_pem.startswith(b"-----BEGIN")


@pytest.mark.parametrize(
    ("signatures", "message"),
    [
        ({}, "not signed for token ID 'abcdef'"),
        ({"jws-kubeconfig-abcdef": "e30..AAAA"}, "does not match the token"),
    ],
)
def test_cluster_info_without_a_good_signature_is_refused(signatures: dict[str, str], message: str) -> None:
    """A missing or wrong signature is an error naming the reason."""
    with pytest.raises(TokenError, match=message):
        parent_info_from_cluster_info(_cluster_info(**signatures), TOKEN)


def test_cluster_info_without_token_is_unverified() -> None:
    """With no bootstrap token (a ServiceAccount JWT) the CA is returned but marked unverified."""
    assert not parent_info_from_cluster_info(_cluster_info(), None).verified


@pytest.mark.parametrize("data", [{}, {"kubeconfig": "clusters: []"}, {"kubeconfig": "::"}])
def test_cluster_info_without_a_cluster_is_an_error(data: dict[str, str]) -> None:
    """A cluster-info that holds no cluster cannot tell us whom to trust."""
    with pytest.raises(TokenError):
        parent_info_from_cluster_info({"data": data}, None)
