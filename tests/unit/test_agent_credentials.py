"""The agent's credential rules: trusting the parent's CA via cluster-info signatures, reading token expiry,
when to renew, and the retry delays between attempts."""

from __future__ import annotations

import base64
import io
import json
import logging
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import yaml

from agent_lite.backoff import Backoff, jittered
from agent_lite.parent import renewal_delay, requested_lifetime
from agent_lite.registrar import token_expired
from kubectl_clusternet.core.daemonlog import JsonFormatter, configure_logging
from kubectl_clusternet.core.tokens import (
    BootstrapToken,
    TokenError,
    detached_signature,
    parent_info_from_cluster_info,
    service_account_token,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
TOKEN = BootstrapToken("abcdef", "0123456789abcdef")
OTHER_SECRET = BootstrapToken("abcdef", "fedcba9876543210")
CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def jwt(claims: dict[str, Any]) -> str:
    def segment(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'RS256', 'kid': 'k'})}.{segment(claims)}.c2ln"


def bound_token(issued: datetime, expires: datetime | None) -> str:
    claims: dict[str, Any] = {
        "iss": "https://kubernetes.default.svc",
        "sub": "system:serviceaccount:clusternet-abcde:clusternet-xyz12",
        "iat": int(issued.timestamp()),
        "kubernetes.io": {
            "namespace": "clusternet-abcde",
            "serviceaccount": {"name": "clusternet-xyz12", "uid": "u"},
        },
    }
    if expires is not None:
        claims["exp"] = int(expires.timestamp())
    return jwt(claims)


def cluster_info(*, signer: BootstrapToken | None = TOKEN, tamper: str | None = None) -> dict[str, Any]:
    """A cluster-info ConfigMap shaped like kubeadm's (and localfleet's), optionally signed."""
    kubeconfig = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "",
                    "cluster": {
                        "certificate-authority-data": base64.b64encode(CA_PEM).decode(),
                        "server": "https://127.0.0.1:6443",
                    },
                }
            ],
        }
    )
    data = {"kubeconfig": kubeconfig}
    if signer is not None:
        data[f"jws-kubeconfig-{signer.token_id}"] = detached_signature(kubeconfig, signer)
    if tamper == "content":
        data["kubeconfig"] = kubeconfig.replace("6443", "6444")
    elif tamper == "signature":
        key = f"jws-kubeconfig-{TOKEN.token_id}"
        header, _, signature = data[key].split(".")
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        data[key] = f"{header}..{flipped}"
    elif tamper == "alg-none":
        header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"abcdef"}').rstrip(b"=").decode()
        data[f"jws-kubeconfig-{TOKEN.token_id}"] = f"{header}.."
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info"}, "data": data}


def test_cluster_info_signed_with_the_token_yields_its_ca() -> None:
    """The CA is accepted when the HS256 signature was made with the full bootstrap token as key."""
    info = parent_info_from_cluster_info(cluster_info(), TOKEN)
    assert info.verified
    assert info.ca_pem == CA_PEM
    assert info.server == "https://127.0.0.1:6443"


@pytest.mark.parametrize(
    ("config_map", "token", "message"),
    [
        (cluster_info(tamper="content"), TOKEN, "does not match"),
        (cluster_info(tamper="signature"), TOKEN, "does not match"),
        (cluster_info(tamper="alg-none"), TOKEN, "does not match"),
        (cluster_info(), OTHER_SECRET, "does not match"),
        (cluster_info(signer=None), TOKEN, "not signed"),
        (cluster_info(signer=BootstrapToken("zzzzzz", "0123456789abcdef")), TOKEN, "not signed"),
    ],
)
def test_cluster_info_without_a_valid_signature_is_refused(
    config_map: dict[str, Any], token: BootstrapToken, message: str
) -> None:
    """A tampered document or signature, another token's key, alg none, or no signature: no CA is trusted."""
    with pytest.raises(TokenError) as caught:
        parent_info_from_cluster_info(config_map, token)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("token", "expired"),
    [
        (bound_token(NOW - timedelta(hours=1), NOW + timedelta(hours=1)), False),
        (bound_token(NOW - timedelta(hours=2), NOW - timedelta(seconds=1)), True),
        (bound_token(NOW - timedelta(hours=2), NOW), True),
        (bound_token(NOW - timedelta(hours=2), None), False),
        ("abcdef.0123456789abcdef", False),
        ("not-a-jwt", False),
    ],
)
def test_token_expired_reads_the_exp_claim(token: str, expired: bool) -> None:
    """A JWT is expired when its exp lies at or before now; tokens without exp never expire."""
    assert token_expired(token, NOW) is expired


@pytest.mark.parametrize(
    ("issued_ago", "lifetime", "delay"),
    [
        (timedelta(0), timedelta(hours=24), timedelta(hours=24) * 0.8),
        (timedelta(hours=10), timedelta(hours=24), timedelta(hours=24) * 0.8 - timedelta(hours=10)),
        (timedelta(hours=20), timedelta(hours=24), timedelta(0)),
        (timedelta(0), timedelta(minutes=10), timedelta(minutes=8)),
    ],
)
def test_renewal_at_eighty_percent_of_the_lifetime(
    issued_ago: timedelta, lifetime: timedelta, delay: timedelta
) -> None:
    """The token is renewed at 80% of iat..exp; an overdue renewal happens at once."""
    issued = NOW - issued_ago
    token = service_account_token(bound_token(issued, issued + lifetime))
    assert renewal_delay(token, NOW) == pytest.approx(delay.total_seconds())


def test_a_token_without_expiry_is_never_renewed() -> None:
    """Legacy endless tokens need no renewal."""
    token = service_account_token(bound_token(NOW, None))
    assert renewal_delay(token, NOW) is None


@pytest.mark.parametrize(
    ("lifetime", "expected"),
    [(timedelta(hours=24), 86400), (timedelta(minutes=10), 600), (None, 86400)],
)
def test_renewed_token_asks_for_the_same_lifetime(lifetime: timedelta | None, expected: int) -> None:
    """The TokenRequest asks for the lifetime the hub chose for the first token."""
    token = service_account_token(bound_token(NOW, NOW + lifetime if lifetime else None))
    assert requested_lifetime(token) == expected


def test_service_account_is_read_from_the_token() -> None:
    """The renewal goes to the ServiceAccount named in the token's claims."""
    token = service_account_token(bound_token(NOW, NOW + timedelta(hours=1)))
    assert (token.namespace, token.name) == ("clusternet-abcde", "clusternet-xyz12")


def test_backoff_grows_to_its_cap_and_resets() -> None:
    """Delays double from the initial value, never exceed the jittered cap, and restart after reset()."""
    backoff = Backoff(initial=1.0, maximum=8.0, factor=2.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_jitter_stays_within_its_factor(seed: int) -> None:
    """A jittered period lies between the period and period x (1 + factor)."""
    rng = random.Random(seed)
    values = [jittered(5.0, 0.4, rng=rng) for _ in range(100)]
    assert all(5.0 <= v <= 7.0 for v in values)
    assert len(set(values)) > 1


def test_json_log_lines_carry_level_logger_message_and_extras() -> None:
    """--log-format json writes one JSON object per line with the extra fields included."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging("json", "info", stream=stream)
    try:
        logging.getLogger("agent_lite.test").warning("hello %s", "world", extra={"cluster_id": "c1"})
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
    entry = json.loads(stream.getvalue().strip())
    assert entry["level"] == "warning"
    assert entry["logger"] == "agent_lite.test"
    assert entry["msg"] == "hello world"
    assert entry["cluster_id"] == "c1"
    assert isinstance(JsonFormatter().format(logging.makeLogRecord({"msg": "x"})), str)
