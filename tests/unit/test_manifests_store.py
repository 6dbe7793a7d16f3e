"""Native objects are stored as Manifests named and labelled as upstream Clusternet's shadow API stores them."""

from __future__ import annotations

import pytest

from kubectl_clusternet.core.manifests_store import (
    kind_selector,
    manifest_for,
    manifest_name,
    object_from_manifest,
    trim_template,
)


@pytest.mark.parametrize(
    ("plural", "name", "namespace", "expected"),
    [
        ("deployments", "web", "foo", "deployments.foo.web"),
        ("namespaces", "foo", None, "namespaces.foo"),
        ("clusterroles", "admin", None, "clusterroles.admin"),
    ],
)
def test_manifest_names(plural: str, name: str, namespace: str | None, expected: str) -> None:
    """Namespaced objects are `<plural>.<ns>.<name>`, cluster-scoped ones `<plural>.<name>`."""
    assert manifest_name(plural, name, namespace) == expected


def test_manifest_labels_and_template() -> None:
    """The Manifest keeps the object's labels, adds the config.* labels, and stores the trimmed object."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "foo",
            "labels": {"app": "web"},
            "uid": "u",
            "resourceVersion": "7",
        },
        "spec": {"replicas": 2},
        "status": {"readyReplicas": 2},
    }
    manifest = manifest_for(deployment, plural="deployments", namespaced=True)
    assert manifest["metadata"]["name"] == "deployments.foo.web"
    assert manifest["metadata"]["namespace"] == "clusternet-reserved"
    labels = manifest["metadata"]["labels"]
    assert labels["app"] == "web"
    assert (
        labels["apps.clusternet.io/config.group"],
        labels["apps.clusternet.io/config.version"],
        labels["apps.clusternet.io/config.kind"],
        labels["apps.clusternet.io/config.name"],
        labels["apps.clusternet.io/config.namespace"],
    ) == ("apps", "v1", "Deployment", "web", "foo")
    assert manifest["template"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "foo", "labels": {"app": "web"}},
        "spec": {"replicas": 2},
    }
    assert deployment["status"] == {"readyReplicas": 2}, "the input is not modified"


@pytest.mark.parametrize(
    ("obj", "spec"),
    [
        (
            {
                "kind": "Service",
                "spec": {"clusterIP": "192.0.2.1", "clusterIPs": ["192.0.2.1"], "ports": [{"port": 80}]},
            },
            {"ports": [{"port": 80}]},
        ),
        ({"kind": "Service", "spec": {"clusterIP": "None"}}, {"clusterIP": "None"}),
        (
            {
                "kind": "Service",
                "spec": {
                    "type": "NodePort",
                    "ports": [{"port": 80, "nodePort": 30080}],
                    "healthCheckNodePort": 3,
                },
            },
            {"type": "NodePort", "ports": [{"port": 80}]},
        ),
        (
            {
                "kind": "Job",
                "spec": {
                    "selector": {"matchLabels": {"controller-uid": "x", "a": "b"}},
                    "template": {"metadata": {"labels": {"job-name": "j", "controller-uid": "x"}}},
                },
            },
            {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {}}}},
        ),
    ],
)
def test_trim_drops_what_the_parent_allocated(obj: dict, spec: dict) -> None:
    """Cluster IPs, node ports and Job controller labels of the parent never travel to children."""
    assert trim_template(dict(obj, metadata={"name": "x"}))["spec"] == spec


def test_object_from_manifest_takes_the_manifest_identity() -> None:
    """Reading back shows the template with the Manifest's uid and creation time (so AGE means something)."""
    manifest = {
        "metadata": {"uid": "m-uid", "creationTimestamp": "2026-01-01T00:00:00Z", "name": "x"},
        "template": {"kind": "Namespace", "metadata": {"name": "foo"}},
    }
    obj = object_from_manifest(manifest)
    assert obj["metadata"] == {"name": "foo", "uid": "m-uid", "creationTimestamp": "2026-01-01T00:00:00Z"}


def test_kind_selector() -> None:
    """Manifests of one kind are listed by the config.* labels, optionally per namespace and name."""
    assert kind_selector("apps", "Deployment", "foo", "web") == (
        "apps.clusternet.io/config.group=apps,apps.clusternet.io/config.kind=Deployment,"
        "apps.clusternet.io/config.namespace=foo,apps.clusternet.io/config.name=web"
    )
    assert kind_selector("", "Namespace", None) == (
        "apps.clusternet.io/config.group=,apps.clusternet.io/config.kind=Namespace"
    )
