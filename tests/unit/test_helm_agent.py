"""The agent's Helm deployer without the Helm SDK: a clear failure on the HelmRelease, no crash."""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_clusternet.core.helm import sdk
from kubectl_clusternet.core.helm.deployer import HelmReleaseDeployer


class FakeParent:
    """Records writes the deployer makes to the parent."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    async def patch(self, path: str, body: Any) -> Any:
        self.patches.append((path, body))
        return {"metadata": {"resourceVersion": "2"}, "status": body.get("status")}

    async def create(self, path: str, body: Any) -> Any:
        self.events.append(body)
        return body


RELEASE = {
    "apiVersion": "apps.clusternet.io/v1alpha1",
    "kind": "HelmRelease",
    "metadata": {
        "name": "web-abcde-helm-default-hello",
        "namespace": "clusternet-x",
        "resourceVersion": "1",
        "finalizers": ["apps.clusternet.io/finalizer"],
    },
    "spec": {"repo": "http://127.0.0.1:1/", "chart": "hello", "version": "0.1.0", "targetNamespace": "t"},
}


def _missing_sdk() -> Any:
    raise sdk.HelmUnavailable(sdk.SDK_MISSING)


@pytest.fixture
def no_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdk, "_sdk", _missing_sdk)


async def test_without_the_sdk_a_release_fails_with_the_reason_and_an_event(no_sdk: None) -> None:
    parent = FakeParent()
    deployer = HelmReleaseDeployer(lambda: parent, "clusternet-x", component="clusternet-agent")  # type: ignore[arg-type, return-value]
    deployer.watch.cache[RELEASE["metadata"]["name"]] = RELEASE
    await deployer.reconcile(RELEASE["metadata"]["name"])  # no exception: nothing to retry until installed
    path, body = parent.patches[-1]
    assert path.endswith("/helmreleases/web-abcde-helm-default-hello/status")
    assert body["status"]["phase"] == "failed"
    assert "pip install 'kubectl-clusternet[helm]'" in body["status"]["notes"]
    (event,) = parent.events
    assert event["reason"] == "HelmReleaseFailure" and event["type"] == "Warning"
    assert event["involvedObject"]["kind"] == "HelmRelease"
    assert RELEASE["metadata"]["resourceVersion"] == "1", "the watch cache was modified"

    await deployer.reconcile(
        RELEASE["metadata"]["name"]
    )  # the resync: the same failure is not announced again
    assert len(parent.events) == 1


async def test_without_the_sdk_a_deleted_release_lets_go(no_sdk: None) -> None:
    """Nothing can have been installed by an agent without the SDK, so deletion is not blocked."""
    parent = FakeParent()
    deployer = HelmReleaseDeployer(lambda: parent, "clusternet-x", component="clusternet-agent")  # type: ignore[arg-type, return-value]
    terminating = {
        **RELEASE,
        "metadata": {**RELEASE["metadata"], "deletionTimestamp": "2024-01-01T00:00:00Z"},
    }
    deployer.watch.cache[RELEASE["metadata"]["name"]] = terminating
    await deployer.reconcile(RELEASE["metadata"]["name"])
    path, body = parent.patches[-1]
    assert path.endswith("/helmreleases/web-abcde-helm-default-hello")
    assert body["metadata"]["finalizers"] is None
    assert body["metadata"]["resourceVersion"] == "2"  # the status write before it moved the version on
