"""One Push and one Pull cluster: the hub applies child-1's Descriptions itself, through the parent's proxy and
its agent's tunnel, while child-2's agent applies its own.

Real processes against the session's real control planes: hub-lite, the hub's proxy behind the parent's
aggregation layer (as ``local up`` sets it up), child-1's agent with ``--cluster-sync-mode=Push`` and the
SocketConnection and AppPusher gates (it applies nothing; the hub uses the deployer token it published), and
child-2's agent in Pull mode. One Subscription covers both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from kubectl_clusternet.core import apiservice
from kubectl_clusternet.core.apis.apps import HELM_RELEASE
from kubectl_clusternet.core.apis.builtin import API_SERVICE, CONFIG_MAP, EVENT, NAMESPACE
from kubectl_clusternet.localfleet import FleetState
from kubectl_clusternet.localfleet.frontdoor import front_door_available, open_front_door
from tests.e2e.test_apps import Apps, feed, running_apps
from tests.e2e.test_helm import TARGET, HelmRepo, chart_feed, helm_chart, repo  # noqa: F401 - repo: a fixture
from tests.e2e.test_registration import Daemon
from tests.support.cli import run_cli
from tests.support.kube import admin_client, delete_quietly

pytestmark = pytest.mark.e2e

MODES = {"child-1": "Push", "child-2": "Pull"}
MODE_FLAGS = {
    "Push": ("--cluster-sync-mode=Push", "--feature-gates=SocketConnection=true,AppPusher=true"),
    "Pull": ("--cluster-sync-mode=Pull", "--feature-gates=SocketConnection=true"),
}
APPLIER = {"Push": "clusternet-hub", "Pull": "clusternet-agent"}


@pytest.fixture(scope="module")
def push(fleet: FleetState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    """Hub, proxy, a Push agent in child-1 and a Pull agent in child-2, both Ready, the proxy reachable."""
    tmp = tmp_path_factory.mktemp("push")
    with contextlib.ExitStack() as cleanup:
        assert run_cli("--kubeconfig", str(fleet.parent.kubeconfig), "hub", "install").exit_code == 0
        parent = cleanup.enter_context(contextlib.closing(admin_client(fleet.parent)))
        door = open_front_door(parent, tmp / "front-door")
        # Leave the parent as other modules expect it: no APIService, no hub Service on this module's port.
        for path in (
            f"/api/v1/namespaces/{apiservice.HUB_SERVICE_NAMESPACE}/services/{apiservice.HUB_SERVICE_NAME}",
            f"/api/v1/namespaces/{apiservice.HUB_SERVICE_NAMESPACE}/endpoints/{apiservice.HUB_SERVICE_NAME}",
            API_SERVICE.object_path(apiservice.APISERVICE_NAME),
        ):
            cleanup.callback(delete_quietly, parent, path)
        proxy = Daemon(
            fleet,
            "hub-proxy",
            [
                "hub_lite.proxy_app",
                f"--kubeconfig={fleet.parent.kubeconfig}",
                f"--bind-address={door.address}",
                f"--port={door.port}",
                f"--tls-cert-file={door.cert_file}",
                f"--tls-private-key-file={door.key_file}",
            ],
            tmp / "proxy.log",
        )
        cleanup.callback(proxy.stop)
        apps = cleanup.enter_context(
            running_apps(
                fleet,
                tmp,
                "push",
                clean=True,
                agent_flags={child: MODE_FLAGS[mode] for child, mode in MODES.items()},
                ready_when=lambda child, cluster: (
                    bool((cluster.get("status") or {}).get("appPusher")) == (MODES[child] == "Push")
                ),
            )
        )
        apps.wait(lambda: front_door_available(parent), "the hub's proxy available through the parent")
        yield apps


def configmap(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def test_push_and_pull_clusters_get_the_same_objects_from_different_appliers(push: Apps) -> None:
    """A Subscription for a Push and a Pull cluster: its objects reach both children, both Descriptions
    report Success, with events from clusternet-hub for the Push cluster and from its agent for the Pull one;
    edits and deletion reach both the same way."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pushed"}}
    settings = configmap("settings", "pushed", {"mode": "push"})
    push.apply(namespace, settings)
    push.apply(push.subscription("pushed-app", [feed(namespace), feed(settings)]))
    push.wait(lambda: push.deployed("pushed-app"), "pushed-app deployed to both clusters")
    for child in push.children:
        found = push.in_child(child, CONFIG_MAP.object_path("settings", "pushed"))
        assert found is not None and found["data"] == {"mode": "push"}
    mode_of_namespace = {push.namespaces[child]: mode for child, mode in MODES.items()}
    for description in push.descriptions_of("pushed-app"):
        metadata = description["metadata"]
        events = push.parent.get(
            EVENT.collection_path(metadata["namespace"]),
            query=[("fieldSelector", f"involvedObject.name={metadata['name']}")],
        )
        sources = {(e.get("source") or {}).get("component") for e in events.get("items") or []}
        assert sources == {APPLIER[mode_of_namespace[metadata["namespace"]]]}, sources
    assert "the hub applies Descriptions" in push.agents["child-1"].text()

    # An edit reaches the children the same way.
    push.apply(configmap("settings", "pushed", {"mode": "push", "edited": "yes"}))
    push.wait(
        lambda: all(
            ((push.in_child(c, CONFIG_MAP.object_path("settings", "pushed")) or {}).get("data") or {}).get(
                "edited"
            )
            == "yes"
            for c in push.children
        ),
        "the edited ConfigMap in both children",
    )

    push.delete_subscription("pushed-app")
    push.wait(
        lambda: (
            push.gone_from_both(CONFIG_MAP.object_path("settings", "pushed"))
            and push.gone_from_both(NAMESPACE.object_path("pushed"))
        ),
        "the pushed objects removed from both children",
    )


def test_helm_releases_are_installed_by_the_hub_for_push_and_by_the_agent_for_pull(
    push: Apps,
    repo: HelmRepo,  # noqa: F811
) -> None:
    """A HelmChart for both clusters: the hub installs child-1's release through the tunnel, child-2's agent
    its own; both HelmReleases say deployed, and deleting the Subscription uninstalls both."""
    name = "push-hello"
    push.apply(helm_chart(name, repo.url, "0.1.0"))
    push.apply(push.subscription("push-helm", [chart_feed(name)]))
    config_path = CONFIG_MAP.object_path(f"{name}-config", TARGET)

    def deployed() -> bool:
        for namespace in push.namespaces.values():
            items = push.parent.get(HELM_RELEASE.collection_path(namespace)).get("items") or []
            if not any(((hr.get("status") or {}).get("phase")) == "deployed" for hr in items):
                return False
        return push.in_both(config_path)

    push.wait(deployed, "the release deployed in both children")

    def installed_by(log: str, namespace: str) -> bool:
        return any(
            f"HelmRelease {namespace}/push-helm-" in line and "deployed (revision 1)" in line
            for line in log.splitlines()
        )

    assert installed_by(push.hub.text(), push.namespaces["child-1"])
    assert not installed_by(push.hub.text(), push.namespaces["child-2"])
    assert installed_by(push.agents["child-2"].text(), push.namespaces["child-2"])
    assert "deploying the HelmReleases" not in push.agents["child-1"].text()
    push.delete_subscription("push-helm")
    push.wait(lambda: push.gone_from_both(config_path), "the release uninstalled from both children")
