"""Deploy once to many clusters: Subscriptions rendered by hub-lite and applied by one agent-lite per child.

Real processes against the session's real control planes: one hub and one agent per child (freshly
registered, Pull mode) for the whole module. Objects go in with the CLI as a user would; the tests then
wait for the children (and the parent's Descriptions and Subscription status) to show the result.
Subscriptions here select the two clusters by cluster ID, so ManagedClusters other modules left behind
(with no agent any more) never receive anything.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from kubectl_clusternet.core import registration as reg
from kubectl_clusternet.core.apis.apps import (
    BASE,
    DESCRIPTION,
    GLOBALIZATION,
    LOCALIZATION,
    MANIFEST,
    SUBSCRIPTION,
)
from kubectl_clusternet.core.apis.builtin import CONFIG_MAP, EVENT, LEASE, NAMESPACE, SECRET, SERVICE
from kubectl_clusternet.core.apis.clusters import MANAGED_CLUSTER
from kubectl_clusternet.core.deploy import (
    ANNOTATION_FEED_PROTECTION,
    ANNOTATION_OWNED_BY,
    FEED_PROTECTION_FINALIZER,
)
from kubectl_clusternet.core.hub import RESERVED_NAMESPACE
from kubectl_clusternet.core.kube.rest import RestClient
from kubectl_clusternet.localfleet import FleetState
from tests.e2e.test_registration import Daemon, agent_argv, free_port, hub_argv, make_token, ready_condition
from tests.support.cli import CliResult, run_cli
from tests.support.kube import admin_client, delete_quietly, get_or_none
from tests.support.kube import wait_for as support_wait_for

pytestmark = pytest.mark.e2e

DEADLINE = 180.0
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "applications"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{ns}/deployments/{name}"
SUBS_UID = "apps.clusternet.io/subs.uid"
T = TypeVar("T")


@dataclass
class Apps:
    fleet: FleetState
    parent: RestClient
    children: dict[str, RestClient]
    cluster_ids: dict[str, str]
    namespaces: dict[str, str]
    hub: Daemon
    agents: dict[str, Daemon]
    created: list[tuple[str, str]] = field(default_factory=list)

    @property
    def kubeconfig(self) -> str:
        return str(self.fleet.parent.kubeconfig)

    def cli(self, *args: str, stdin: str = "") -> CliResult:
        return run_cli("--kubeconfig", self.kubeconfig, *args, stdin=stdin)

    def apply(self, *documents: dict[str, Any]) -> CliResult:
        result = self.cli("apply", "-f", "-", stdin="\n---\n".join(json.dumps(d) for d in documents))
        assert result.exit_code == 0, result.stderr
        return result

    def tails(self) -> str:
        return "\n".join(d.tail() for d in [self.hub, *self.agents.values()])

    def wait(self, check: Callable[[], T | None], what: str) -> T:
        return support_wait_for(check, what, deadline=DEADLINE, detail=self.tails)

    def in_child(self, child: str, path: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = get_or_none(self.children[child], path)
        return found

    def in_both(self, path: str) -> bool:
        return all(self.in_child(child, path) is not None for child in self.children)

    def gone_from_both(self, path: str) -> bool:
        return all(self.in_child(child, path) is None for child in self.children)

    def replicas(self, namespace: str, name: str) -> dict[str, int | None]:
        found = {}
        for child in self.children:
            deployment = self.in_child(child, DEPLOYMENTS.format(ns=namespace, name=name))
            found[child] = None if deployment is None else deployment["spec"]["replicas"]
        return found

    def subscription(self, name: str, feeds: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
        ids = [self.cluster_ids[child] for child in sorted(self.children)]
        body = {
            "apiVersion": SUBSCRIPTION.api_version,
            "kind": "Subscription",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "subscribers": [
                    {
                        "clusterAffinity": {
                            "matchExpressions": [
                                {"key": reg.LABEL_CLUSTER_ID, "operator": "In", "values": ids}
                            ]
                        }
                    }
                ],
                "feeds": feeds,
                **spec,
            },
        }
        self.created.append(("default", name))
        return body

    def descriptions_of(self, sub_name: str) -> list[dict[str, Any]]:
        sub = get_or_none(self.parent, SUBSCRIPTION.object_path(sub_name, "default"))
        if sub is None:
            return []
        selector = f"{SUBS_UID}={sub['metadata']['uid']}"
        found = self.parent.get(DESCRIPTION.collection_path(), query=[("labelSelector", selector)])
        return list(found.get("items") or [])

    def deployed(self, sub_name: str) -> bool:
        """Both clusters' Descriptions report Success for the Subscription's current spec."""
        sub = get_or_none(self.parent, SUBSCRIPTION.object_path(sub_name, "default"))
        if sub is None:
            return False
        descriptions = self.descriptions_of(sub_name)
        namespaces = {d["metadata"]["namespace"] for d in descriptions}
        return namespaces == set(self.namespaces.values()) and all(
            (d.get("status") or {}).get("phase") == "Success" for d in descriptions
        )

    def delete_subscription(self, name: str) -> None:
        result = self.cli("delete", "sub", name, "-n", "default", "--ignore-not-found", "--timeout=170s")
        assert result.exit_code == 0, result.stderr + self.tails()


def feed(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj["metadata"]
    ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": metadata["name"]}
    if metadata.get("namespace"):
        ref["namespace"] = metadata["namespace"]
    return ref


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return loaded


def clean_leftovers(parent: RestClient) -> None:
    """Start from no Subscriptions: other modules may leave some behind (with no hub to finish them)."""
    for path in (SUBSCRIPTION.collection_path(), DESCRIPTION.collection_path(), BASE.collection_path()):
        for item in parent.get(path).get("items") or []:
            metadata = item["metadata"]
            resource = {"Subscription": SUBSCRIPTION, "Description": DESCRIPTION, "Base": BASE}[item["kind"]]
            object_path = resource.object_path(metadata["name"], metadata["namespace"])
            if metadata.get("finalizers"):
                parent.patch(object_path, {"metadata": {"finalizers": None}})
            delete_quietly(parent, object_path)


@contextlib.contextmanager
def running_apps(
    fleet: FleetState,
    tmp: Path,
    prefix: str,
    *,
    agent_flags: Mapping[str, Sequence[str]] | None = None,
    ready_when: Callable[[str, dict[str, Any]], bool] = lambda child, cluster: True,
    clean: bool = False,
) -> Iterator[Apps]:
    """Hub installed, one hub-lite and one agent per child (``agent_flags[child]`` added), each child
    registered afresh (a new cluster ID, so ManagedClusters of earlier modules do not interfere) and Ready;
    on the way out, the Subscriptions the tests created are deleted and every process is stopped. ``clean``
    first removes Subscriptions other modules left behind."""
    assert run_cli("--kubeconfig", str(fleet.parent.kubeconfig), "hub", "install").exit_code == 0
    parent = admin_client(fleet.parent)
    if clean:
        clean_leftovers(parent)
    children = {child.name: admin_client(child) for child in fleet.children}
    for client in children.values():
        delete_quietly(client, LEASE.object_path(reg.AGENT_LEASE_NAME, reg.SYSTEM_NAMESPACE))
        delete_quietly(client, SECRET.object_path(reg.PARENT_CLUSTER_SECRET, reg.SYSTEM_NAMESPACE))
    token = make_token(parent)
    hub = Daemon(fleet, "hub-lite", hub_argv(fleet, free_port()), tmp / "hub.log")
    agents = {
        child.name: Daemon(
            fleet,
            f"agent-{child.name}",
            agent_argv(fleet, child, f"{prefix}-{child.name}", *(agent_flags or {}).get(child.name, ())),
            tmp / f"agent-{child.name}.log",
            env={"AGENT_CLUSTER_REG_TOKEN": token.value},
        )
        for child in fleet.children
    }
    apps = Apps(fleet, parent, children, {}, {}, hub, agents)
    try:
        for name, client in children.items():
            lease = apps.wait(
                lambda c=client: get_or_none(
                    c, LEASE.object_path(reg.AGENT_LEASE_NAME, reg.SYSTEM_NAMESPACE)
                ),
                f"the agent Lease in {name}",
            )
            apps.cluster_ids[name] = reg.cluster_id_from_lease(lease)
        for name, cluster_id in apps.cluster_ids.items():

            def ready(selector: str = f"{reg.LABEL_CLUSTER_ID}={cluster_id}", name: str = name) -> Any:
                items = parent.get(MANAGED_CLUSTER.collection_path(), query=[("labelSelector", selector)])
                found = [
                    c
                    for c in items.get("items") or []
                    if ready_condition(c).get("status") == "True" and ready_when(name, c)
                ]
                return found[0] if found else None

            apps.namespaces[name] = apps.wait(ready, f"ManagedCluster of {name} Ready")["metadata"][
                "namespace"
            ]
        yield apps
    finally:
        try:
            for namespace, name in apps.created:
                apps.cli("delete", "sub", name, "-n", namespace, "--ignore-not-found", "--timeout=120s")
        finally:
            for daemon in [*agents.values(), hub]:
                daemon.stop()
            for client in [parent, *children.values()]:
                client.close()


@pytest.fixture(scope="module")
def apps(fleet: FleetState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    """Leftover Subscriptions removed, then a hub and one Pull agent per child, Ready."""
    with running_apps(fleet, tmp_path_factory.mktemp("apps"), "apps", clean=True) as apps:
        yield apps


@pytest.fixture(scope="module")
def tutorial(apps: Apps) -> dict[str, dict[str, Any]]:
    """The tutorial's Namespace, Service and Deployment applied, and Subscription app-demo for both clusters."""
    objects = {name: example(f"{name}.yaml") for name in ("namespace", "service", "deployment")}
    apps.apply(*objects.values())
    feeds = [feed(objects[name]) for name in ("namespace", "service", "deployment")]
    apps.apply(apps.subscription("app-demo", feeds))
    apps.wait(lambda: apps.deployed("app-demo"), "app-demo deployed to both clusters")
    return objects


# ---------------------------------------------------------------------------------------------------------
# the tutorial


def test_tutorial_objects_reach_both_children(apps: Apps, tutorial: dict[str, dict[str, Any]]) -> None:
    """Namespace foo, Deployment my-nginx and Service my-nginx-svc land in both children; desc shows Success."""
    for child in apps.children:
        assert apps.in_child(child, NAMESPACE.object_path("foo")) is not None
        deployment = apps.in_child(child, DEPLOYMENTS.format(ns="foo", name="my-nginx"))
        assert deployment is not None and deployment["spec"]["replicas"] == 2
        owner = deployment["metadata"]["annotations"][ANNOTATION_OWNED_BY]
        assert owner.startswith(apps.namespaces[child] + ".app-demo-") and owner.endswith("-generic")
        assert apps.in_child(child, SERVICE.object_path("my-nginx-svc", "foo")) is not None

    listed = apps.cli("get", "desc", "-A")
    assert listed.exit_code == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["NAMESPACE", "NAME", "DEPLOYER", "STATUS", "AGE"]
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    mine = [row for row in rows if row[0] in apps.namespaces.values() and row[1].startswith("app-demo-")]
    assert len(mine) == 2 and all(row[2:4] == ["Generic", "Success"] for row in mine), listed.stdout

    bases = apps.cli("get", "base", "-A").stdout
    assert sum(1 for line in bases.splitlines() if line.split()[1].startswith("app-demo-")) == 2, bases

    sub = apps.parent.get(SUBSCRIPTION.object_path("app-demo", "default"))
    assert sub["status"]["bindingClusters"] == sorted(f"{apps.namespaces[c]}/apps-{c}" for c in apps.children)
    assert sub["status"]["desiredReleases"] == 2
    assert "apps.clusternet.io/finalizer" in sub["metadata"]["finalizers"]
    events = apps.parent.get(
        EVENT.collection_path("default"), query=[("fieldSelector", "involvedObject.name=app-demo")]
    )
    reasons = {(e["reason"], e["source"]["component"]) for e in events["items"]}
    assert ("Scheduled", "clusternet-scheduler") in reasons and (
        "BaseCreated",
        "clusternet-controller-manager",
    ) in reasons
    namespace = apps.namespaces[next(iter(apps.children))]
    agent_events = apps.parent.get(EVENT.collection_path(namespace))
    assert any(
        e["reason"] == "SuccessfullyDeployed" and e["source"]["component"] == "clusternet-agent"
        for e in agent_events["items"]
    )


def test_status_comes_back_to_the_subscription(apps: Apps, tutorial: dict[str, dict[str, Any]]) -> None:
    """aggregatedStatuses has one entry per feed; the Deployment's counters come from both children."""

    def deployment_status() -> dict[str, Any] | None:
        sub = apps.parent.get(SUBSCRIPTION.object_path("app-demo", "default"))
        for entry in (sub.get("status") or {}).get("aggregatedStatuses") or []:
            details = entry["feedStatusDetails"]
            if entry["kind"] == "Deployment" and all(d["available"] for d in details) and len(details) == 2:
                if entry["feedStatusSummary"]["replicaStatus"]["replicas"] == 4:
                    return dict(entry)
        return None

    entry = apps.wait(deployment_status, "the Deployment's replicas aggregated from both children")
    assert {d["clusterId"] for d in entry["feedStatusDetails"]} == set(apps.cluster_ids.values())
    assert all(d["replicaStatus"]["replicas"] == 2 for d in entry["feedStatusDetails"])
    sub = apps.parent.get(SUBSCRIPTION.object_path("app-demo", "default"))
    assert [e["kind"] for e in sub["status"]["aggregatedStatuses"]] == ["Namespace", "Service", "Deployment"]


def test_localization_makes_one_child_differ_and_beats_a_globalization(
    apps: Apps, tutorial: dict[str, dict[str, Any]]
) -> None:
    """A Globalization (priority 100) sets 4 everywhere; a Localization (500) in child-1's namespace sets 3 there."""
    first, second = sorted(apps.children)
    target = feed(tutorial["deployment"])
    ids = list(apps.cluster_ids.values())
    globalization = {
        "apiVersion": GLOBALIZATION.api_version,
        "kind": "Globalization",
        "metadata": {"name": "apps-e2e-four"},
        "spec": {
            "overridePolicy": "ApplyNow",
            "priority": 100,
            "clusterAffinity": {
                "matchExpressions": [{"key": reg.LABEL_CLUSTER_ID, "operator": "In", "values": ids}]
            },
            "feed": target,
            "overrides": [{"name": "four", "type": "MergePatch", "value": "spec:\n  replicas: 4\n"}],
        },
    }
    localization = {
        "apiVersion": LOCALIZATION.api_version,
        "kind": "Localization",
        "metadata": {"name": "apps-e2e-three", "namespace": apps.namespaces[first]},
        "spec": {
            "overridePolicy": "ApplyNow",
            "priority": 500,
            "feed": target,
            "overrides": [
                {
                    "name": "three",
                    "type": "JSONPatch",
                    "value": '[{"op":"replace","path":"/spec/replicas","value":3}]',
                }
            ],
        },
    }
    try:
        apps.apply(globalization)
        apps.wait(lambda: apps.replicas("foo", "my-nginx") == {first: 4, second: 4}, "4 replicas everywhere")
        apps.apply(localization)
        apps.wait(
            lambda: apps.replicas("foo", "my-nginx") == {first: 3, second: 4}, "3 replicas in child-1 only"
        )
    finally:
        delete_quietly(apps.parent, LOCALIZATION.object_path("apps-e2e-three", apps.namespaces[first]))
        delete_quietly(apps.parent, GLOBALIZATION.object_path("apps-e2e-four"))
    # ApplyNow: deleting the overrides rolls them back at once
    apps.wait(lambda: apps.replicas("foo", "my-nginx") == {first: 2, second: 2}, "the overrides rolled back")


def test_apply_later_waits_for_the_next_change(apps: Apps, tutorial: dict[str, dict[str, Any]]) -> None:
    """An ApplyLater Localization changes nothing by itself; the next edit of the feed brings it in.

    "Nothing by itself" is checked without sleeping: an ApplyNow Localization created after it, for another
    Subscription's feed, comes later on the same watch, so once that one is deployed the hub has seen the
    ApplyLater one too and left app-demo alone.
    """
    first, second = sorted(apps.children)
    path = DEPLOYMENTS.format(ns="foo", name="my-nginx")
    later = {
        "apiVersion": LOCALIZATION.api_version,
        "kind": "Localization",
        "metadata": {"name": "apps-e2e-later", "namespace": apps.namespaces[first]},
        "spec": {
            "overridePolicy": "ApplyLater",
            "feed": feed(tutorial["deployment"]),
            "overrides": [
                {"name": "label", "type": "MergePatch", "value": '{"metadata":{"labels":{"later":"yes"}}}'}
            ],
        },
    }
    barrier_ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps-e2e-barrier"}}
    barrier_cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "barrier", "namespace": "apps-e2e-barrier"},
        "data": {"seen": "no"},
    }
    now = {
        "apiVersion": LOCALIZATION.api_version,
        "kind": "Localization",
        "metadata": {"name": "apps-e2e-barrier", "namespace": apps.namespaces[first]},
        "spec": {
            "overridePolicy": "ApplyNow",
            "feed": feed(barrier_cm),
            "overrides": [{"name": "seen", "type": "MergePatch", "value": '{"data":{"seen":"yes"}}'}],
        },
    }

    def labels(child: str) -> dict[str, str]:
        return dict(((apps.in_child(child, path) or {}).get("metadata") or {}).get("labels") or {})

    try:
        apps.apply(barrier_ns, barrier_cm)
        apps.apply(apps.subscription("apps-e2e-barrier", [feed(barrier_ns), feed(barrier_cm)]))
        apps.wait(lambda: apps.deployed("apps-e2e-barrier"), "the barrier Subscription deployed")
        apps.apply(later)
        apps.apply(now)
        barrier_path = CONFIG_MAP.object_path("barrier", "apps-e2e-barrier")
        apps.wait(
            lambda: ((apps.in_child(first, barrier_path) or {}).get("data") or {}).get("seen") == "yes",
            "the ApplyNow Localization that follows the ApplyLater one, deployed",
        )
        assert "later" not in labels(first), "an ApplyLater override was applied before any other change"
        edited = json.loads(json.dumps(tutorial["deployment"]))
        edited["metadata"]["labels"] = {"nudge": "1"}
        apps.apply(edited)
        apps.wait(
            lambda: labels(first).get("later") == "yes",
            "the ApplyLater override in child-1 after the next change",
        )
        assert "later" not in labels(second)
    finally:
        delete_quietly(apps.parent, LOCALIZATION.object_path("apps-e2e-later", apps.namespaces[first]))
        delete_quietly(apps.parent, LOCALIZATION.object_path("apps-e2e-barrier", apps.namespaces[first]))
        apps.delete_subscription("apps-e2e-barrier")
        apps.apply(tutorial["deployment"])


def test_editing_the_deployment_in_the_parent_updates_both_children(
    apps: Apps, tutorial: dict[str, dict[str, Any]]
) -> None:
    """A new image in the parent's Deployment reaches both children; nothing else about them changes."""
    edited = json.loads(json.dumps(tutorial["deployment"]))
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.25.3"
    apps.apply(edited)

    def images() -> set[str]:
        found = set()
        for child in apps.children:
            deployment = apps.in_child(child, DEPLOYMENTS.format(ns="foo", name="my-nginx")) or {}
            containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get(
                "containers"
            ) or [{}]
            found.add(str(containers[0].get("image")))
        return found

    apps.wait(lambda: images() == {"nginx:1.25.3"}, "the new image in both children")
    assert apps.replicas("foo", "my-nginx") == {child: 2 for child in apps.children}


def test_removing_a_feed_prunes_it_from_both_children(
    apps: Apps, tutorial: dict[str, dict[str, Any]]
) -> None:
    """Dropping the Service from the Subscription's feeds deletes it from both children, and only it."""
    path = SERVICE.object_path("my-nginx-svc", "foo")
    assert apps.in_both(path)
    feeds = [feed(tutorial["namespace"]), feed(tutorial["deployment"])]
    apps.apply(apps.subscription("app-demo", feeds))
    apps.wait(lambda: apps.gone_from_both(path), "the Service pruned from both children")
    assert apps.in_both(DEPLOYMENTS.format(ns="foo", name="my-nginx"))
    apps.wait(lambda: apps.deployed("app-demo"), "app-demo Success again")
    for description in apps.descriptions_of("app-demo"):
        kinds = [e["kind"] for e in description["status"]["manifestStatuses"]]
        assert kinds == ["Namespace", "Deployment"]


def test_a_feed_in_use_cannot_be_deleted(apps: Apps, tutorial: dict[str, dict[str, Any]]) -> None:
    """Deleting the Deployment while app-demo uses it leaves its Manifest (terminating) with the reason."""
    manifest_path = MANIFEST.object_path("deployments.foo.my-nginx", RESERVED_NAMESPACE)
    apps.wait(
        lambda: (
            FEED_PROTECTION_FINALIZER in (apps.parent.get(manifest_path)["metadata"].get("finalizers") or [])
        ),
        "the feed-protection finalizer",
    )
    deleted = apps.cli("delete", "deploy", "my-nginx", "-n", "foo")
    assert deleted.exit_code == 0, deleted.stderr
    assert 'deployments.apps "my-nginx" is kept until no Subscription uses it' in deleted.stderr
    manifest = apps.parent.get(manifest_path)
    assert manifest["metadata"].get("deletionTimestamp")
    assert manifest["metadata"]["annotations"][ANNOTATION_FEED_PROTECTION] == (
        "block deleting current Deployment until all Subscriptions (including default/app-demo) "
        "that refer this as a feed get deleted"
    )
    assert apps.in_both(DEPLOYMENTS.format(ns="foo", name="my-nginx")), "a terminating feed stays deployed"


def test_deleting_the_subscription_empties_both_children(
    apps: Apps, tutorial: dict[str, dict[str, Any]]
) -> None:
    """Deleting app-demo removes its Bases and Descriptions and, through the agents, its objects in each child;
    the Deployment's Manifest, whose deletion was blocked, goes with it."""
    uid = apps.parent.get(SUBSCRIPTION.object_path("app-demo", "default"))["metadata"]["uid"]
    apps.delete_subscription("app-demo")
    assert get_or_none(apps.parent, SUBSCRIPTION.object_path("app-demo", "default")) is None
    for resource in (BASE, DESCRIPTION):
        left = apps.parent.get(resource.collection_path(), query=[("labelSelector", f"{SUBS_UID}={uid}")])
        assert left["items"] == []
    apps.wait(lambda: apps.gone_from_both(DEPLOYMENTS.format(ns="foo", name="my-nginx")), "my-nginx gone")
    apps.wait(
        lambda: apps.gone_from_both(NAMESPACE.object_path("foo")), "namespace foo gone from both children"
    )
    apps.wait(
        lambda: (
            get_or_none(apps.parent, MANIFEST.object_path("deployments.foo.my-nginx", RESERVED_NAMESPACE))
            is None
        ),
        "the protected Manifest deleted once unused",
    )


# ---------------------------------------------------------------------------------------------------------
# dividing, and a hub killed mid-rollout


def test_static_dividing_splits_six_replicas_two_and_four(apps: Apps) -> None:
    """Weights 1 and 2 split a 6-replica Deployment as 2 and 4; scaling the feed to 9 re-divides it as 3 and 6."""
    first, second = sorted(apps.children)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps-e2e-divide"}}
    deployment = example("deployment.yaml")
    deployment["metadata"]["namespace"] = "apps-e2e-divide"
    deployment["spec"]["replicas"] = 6
    apps.apply(namespace, deployment)
    sub = apps.subscription("apps-e2e-divide", [feed(namespace), feed(deployment)])
    sub["spec"].update(
        schedulingStrategy="Dividing",
        dividingScheduling={"type": "Static"},
        subscribers=[
            {
                "clusterAffinity": {"matchLabels": {reg.LABEL_CLUSTER_ID: apps.cluster_ids[first]}},
                "weight": 1,
            },
            {
                "clusterAffinity": {"matchLabels": {reg.LABEL_CLUSTER_ID: apps.cluster_ids[second]}},
                "weight": 2,
            },
        ],
    )
    apps.apply(sub)
    apps.wait(
        lambda: apps.replicas("apps-e2e-divide", "my-nginx") == {first: 2, second: 4}, "2 and 4 replicas"
    )
    status = apps.parent.get(SUBSCRIPTION.object_path("apps-e2e-divide", "default"))["status"]
    order = [key.split("/")[0] for key in status["bindingClusters"]]
    expected = {apps.namespaces[first]: 2, apps.namespaces[second]: 4}
    assert status["replicas"]["apps/v1/Deployment/apps-e2e-divide/my-nginx"] == [expected[ns] for ns in order]
    deployment["spec"]["replicas"] = 9
    apps.apply(deployment)
    apps.wait(
        lambda: apps.replicas("apps-e2e-divide", "my-nginx") == {first: 3, second: 6}, "3 and 6 replicas"
    )
    apps.delete_subscription("apps-e2e-divide")
    apps.wait(
        lambda: apps.gone_from_both(NAMESPACE.object_path("apps-e2e-divide")), "the dividing namespace gone"
    )


def test_hub_killed_mid_rollout_then_restarted_deploys_every_object_once(apps: Apps) -> None:
    """kill -9 of the hub (and of one agent) while a 100-object Subscription rolls out, then restart: each child
    holds all 100 objects, each cluster exactly one Base and one Description."""
    first = sorted(apps.children)[0]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps-e2e-bulk"}}
    config_maps = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"bulk-{i:03d}", "namespace": "apps-e2e-bulk"},
            "data": {"index": str(i)},
        }
        for i in range(100)
    ]
    apps.apply(namespace, *config_maps)
    apps.apply(apps.subscription("apps-e2e-bulk", [feed(namespace), *(feed(cm) for cm in config_maps)]))

    def first_base() -> bool:
        found = apps.parent.get(
            BASE.collection_path(), query=[("labelSelector", "apps.clusternet.io/subs.name=apps-e2e-bulk")]
        )
        return bool(found["items"])

    apps.wait(first_base, "the first Base of apps-e2e-bulk")
    assert apps.hub.process is not None
    apps.hub.process.kill()  # SIGKILL: no cleanup, the Lease is still held
    apps.hub.process.wait(timeout=30)
    child_path = CONFIG_MAP.collection_path("apps-e2e-bulk")
    agent = apps.agents[first]

    def some_objects_in_first_child() -> bool:
        return bool(
            get_or_none(apps.children[first], child_path) and apps.children[first].get(child_path)["items"]
        )

    apps.hub.start()
    apps.wait(some_objects_in_first_child, "the first ConfigMaps in child-1")
    assert agent.process is not None
    agent.process.kill()
    agent.process.wait(timeout=30)
    agent.start()
    apps.wait(lambda: apps.deployed("apps-e2e-bulk"), "apps-e2e-bulk Success in both clusters")

    uid = apps.parent.get(SUBSCRIPTION.object_path("apps-e2e-bulk", "default"))["metadata"]["uid"]
    for resource in (BASE, DESCRIPTION):
        items = apps.parent.get(resource.collection_path(), query=[("labelSelector", f"{SUBS_UID}={uid}")])[
            "items"
        ]
        assert sorted(i["metadata"]["namespace"] for i in items) == sorted(apps.namespaces.values()), (
            resource.kind
        )
    for child, client in apps.children.items():
        names = sorted(i["metadata"]["name"] for i in client.get(child_path)["items"])
        mine = [n for n in names if n.startswith("bulk-")]
        assert mine == [f"bulk-{i:03d}" for i in range(100)], child
    apps.delete_subscription("apps-e2e-bulk")
    apps.wait(lambda: apps.gone_from_both(NAMESPACE.object_path("apps-e2e-bulk")), "the bulk namespace gone")


def test_an_object_bigger_than_a_watch_line_still_deploys(apps: Apps) -> None:
    """A 450 KB ConfigMap: its Description's watch events are longer than the HTTP client accepts as one
    line (512 KiB), so the hub's and the agents' caches must list again instead of losing the change; and
    the object is too big for a full last-applied annotation in the child, so a skeleton one is kept."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps-e2e-big"}}
    big = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "big", "namespace": "apps-e2e-big"},
        "data": {"blob": "x" * 450_000},
    }
    apps.apply(namespace, big)
    apps.apply(apps.subscription("apps-e2e-big", [feed(namespace), feed(big)]))
    apps.wait(lambda: apps.deployed("apps-e2e-big"), "apps-e2e-big Success in both clusters")
    big["data"]["blob"] = "y" * 450_000
    apps.apply(big)

    def updated() -> bool:
        for child in apps.children:
            found = apps.in_child(child, CONFIG_MAP.object_path("big", "apps-e2e-big")) or {}
            if (found.get("data") or {}).get("blob", "")[:1] != "y":
                return False
        return True

    apps.wait(updated, "the changed 450 KB ConfigMap in both children")
    apps.delete_subscription("apps-e2e-big")
    apps.wait(lambda: apps.gone_from_both(NAMESPACE.object_path("apps-e2e-big")), "the big namespace gone")
