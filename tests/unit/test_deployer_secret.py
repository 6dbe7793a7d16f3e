"""Secret child-cluster-deployer: its shape in the parent, and when the agent renews its token."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest

from agent_lite.deployer_secret import NO_TOKEN_RECHECK_SECONDS, DeployerToken, next_publish_delay
from kubectl_clusternet.core.registration import child_deployer_secret

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def _decoded(secret: dict[str, object]) -> dict[str, str]:
    data = secret["data"]
    assert isinstance(data, dict)
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def test_the_secret_carries_the_keys_upstream_readers_expect() -> None:
    secret = child_deployer_secret(
        namespace="clusternet-abcde",
        cluster_id="0b8a",
        cluster_name="child-1",
        child_url="https://127.0.0.1:6443",
        child_ca_pem=b"-----BEGIN CERTIFICATE-----\n",
        token="t0ken",
        service_account_name="clusternet-app-deployer",
        service_account_uid="u-1",
    )
    assert secret["metadata"]["name"] == "child-cluster-deployer"
    assert secret["metadata"]["namespace"] == "clusternet-abcde"
    assert secret["metadata"]["labels"]["clusters.clusternet.io/cluster-id"] == "0b8a"
    assert secret["metadata"]["labels"]["clusternet.io/created-by"] == "clusternet-agent"
    assert _decoded(secret) == {
        "ca.crt": "-----BEGIN CERTIFICATE-----\n",
        "token": "t0ken",
        "service-account.name": "clusternet-app-deployer",
        "service-account.uid": "u-1",
        "apiserver-advertise-url": "https://127.0.0.1:6443",
    }


def test_without_a_token_the_secret_still_carries_the_ca_and_url() -> None:
    secret = child_deployer_secret(
        namespace="ns", cluster_id="id", cluster_name="c", child_url="https://127.0.0.1:1", child_ca_pem=b"CA"
    )
    assert set(_decoded(secret)) == {"ca.crt", "apiserver-advertise-url"}


@pytest.mark.parametrize(
    ("issued_offset", "lifetime", "expected"),
    [
        (timedelta(0), timedelta(hours=24), 0.8 * 86400),  # just issued: 80% of its lifetime
        (timedelta(hours=-10), timedelta(hours=24), 0.8 * 86400 - 36000),  # issued 10 hours ago
        (timedelta(hours=-23), timedelta(hours=24), 1.0),  # overdue: renew at once
    ],
)
def test_the_token_is_renewed_at_eighty_percent_of_its_lifetime(
    issued_offset: timedelta, lifetime: timedelta, expected: float
) -> None:
    issued = NOW + issued_offset
    token = DeployerToken("t", "u", issued, issued + lifetime)
    assert next_publish_delay(token, NOW) == pytest.approx(expected)


def test_without_a_token_the_agent_looks_again_later() -> None:
    assert next_publish_delay(None, NOW) == NO_TOKEN_RECHECK_SECONDS
    assert next_publish_delay(DeployerToken("t", "u", NOW, None), NOW) == NO_TOKEN_RECHECK_SECONDS
