"""HelmReleases from Helm Descriptions, upgrade decisions, status and phase mapping, SDK options."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any

import pytest

from kubectl_clusternet.core.helm.releases import (
    DesiredRelease,
    description_phase,
    desired_release,
    helm_release_name,
    helm_releases_for,
    install_options,
    needs_upgrade,
    owner_description_key,
    release_differs,
    release_status,
    release_values,
    uninstall_options,
    upgrade_options,
)
from kubectl_clusternet.core.render.descriptions import helm_description
from kubectl_clusternet.core.render.errors import DescriptionError
from kubectl_clusternet.core.render.overrides import apply_chart_overrides

BASE = {
    "apiVersion": "apps.clusternet.io/v1alpha1",
    "kind": "Base",
    "metadata": {
        "name": "web-7xk2p",
        "namespace": "clusternet-k2mxq",
        "uid": "0b3c9f7e-1111-4222-8333-444455556666",
        "labels": {
            "clusters.clusternet.io/cluster-id": "dc91021d-2361-4f6d-a404-7c33b9e01118",
            "clusters.clusternet.io/cluster-name": "tokyo",
            "apps.clusternet.io/subs.namespace": "default",
            "apps.clusternet.io/subs.uid": "5e1f0a9b-aaaa-4bbb-8ccc-ddddeeeeffff",
            "apps.clusternet.io/subs.name": "web",
        },
    },
}
CHART = {
    "apiVersion": "apps.clusternet.io/v1alpha1",
    "kind": "HelmChart",
    "metadata": {
        "name": "mysql",
        "namespace": "default",
        "labels": {"team": "db"},
        "annotations": {"a": "b"},
    },
    "spec": {
        "repo": "https://charts.bitnami.com/bitnami",
        "chart": "mysql",
        "version": "8.6.2",
        "targetNamespace": "abc",
        "timeoutSeconds": 120,
        "atomic": True,
        "chartPullSecret": {"name": "creds", "namespace": "default"},
    },
}


def _description(*overrides: dict[str, Any]) -> dict[str, Any]:
    rendering = apply_chart_overrides(CHART, list(overrides))
    description = helm_description(BASE, [CHART], [rendering])
    description["metadata"]["uid"] = "d35c0000-0000-4000-8000-000000000001"
    return description


@pytest.mark.parametrize(
    ("description", "namespace", "chart", "expected"),
    [
        ("web-7xk2p-helm", "default", "mysql", "web-7xk2p-helm-default-mysql"),
        ("a-helm", "team-b", "redis", "a-helm-team-b-redis"),
    ],
)
def test_release_names(description: str, namespace: str, chart: str, expected: str) -> None:
    assert helm_release_name(description, namespace, chart) == expected


def test_one_helm_release_per_chart_carries_options_values_and_ownership() -> None:
    description = _description(
        {"name": "v", "type": "Helm", "value": "primary:\n  replicas: 2\n"},
        {"name": "c", "type": "Helm", "overrideChart": True, "value": '{"spec": {"version": "8.6.3"}}'},
    )
    (release,) = helm_releases_for(description)
    metadata = release["metadata"]
    assert metadata["name"] == "web-7xk2p-helm-default-mysql"
    assert metadata["namespace"] == "clusternet-k2mxq"
    assert metadata["labels"]["team"] == "db"  # the chart's own labels come along
    assert metadata["labels"]["apps.clusternet.io/config.kind"] == "Description"
    assert metadata["labels"]["apps.clusternet.io/config.name"] == "web-7xk2p-helm"
    assert metadata["labels"]["apps.clusternet.io/config.uid"] == "d35c0000-0000-4000-8000-000000000001"
    assert metadata["labels"]["clusters.clusternet.io/cluster-name"] == "tokyo"
    assert metadata["labels"]["apps.clusternet.io/subs.name"] == "web"
    assert metadata["annotations"] == {"a": "b"}
    assert metadata["finalizers"] == ["apps.clusternet.io/finalizer"]
    assert metadata["ownerReferences"][0]["kind"] == "Description"
    assert metadata["ownerReferences"][0]["controller"] is True
    spec = release["spec"]
    assert spec["version"] == "8.6.3"  # overrideChart patched the rendered chart
    assert spec["releaseName"] == "mysql" and spec["targetNamespace"] == "abc"
    assert spec["atomic"] is True and spec["timeoutSeconds"] == 120
    assert spec["chartPullSecret"] == {"name": "creds", "namespace": "default"}
    assert json.loads(base64.b64decode(spec["overrides"])) == {"primary": {"replicas": 2}}
    assert release_values(release) == {"primary": {"replicas": 2}}
    assert owner_description_key(release) == "clusternet-k2mxq/web-7xk2p-helm"


def test_unaligned_descriptions_are_refused() -> None:
    description = _description()
    description["spec"]["raw"] = []
    with pytest.raises(DescriptionError, match="1 charts, 1 chartRaw and 0 raw"):
        helm_releases_for(description)


def test_release_differs_only_on_what_the_hub_owns() -> None:
    (desired,) = helm_releases_for(_description())
    live = json.loads(json.dumps(desired))
    live["metadata"]["labels"]["extra"] = "kept"
    live["metadata"]["finalizers"].append("other")
    live["status"] = {"phase": "deployed"}
    assert not release_differs(live, desired)
    live["spec"]["version"] = "1.0.0"
    assert release_differs(live, desired)


def _deployed(chart: str = "mysql", version: str = "8.6.2", config: Any = None) -> dict[str, Any]:
    return {
        "summary": {
            "name": "mysql",
            "namespace": "abc",
            "revision": 3,
            "chart_name": chart,
            "chart_version": version,
        },
        "info": {
            "status": "deployed",
            "first_deployed": "2024-01-01T00:00:00Z",
            "last_deployed": "2024-01-02T00:00:00Z",
            "description": "Upgrade complete",
            "notes": "hi",
        },
        "config": config,
    }


WANT = DesiredRelease("mysql", "abc", "mysql", "8.6.2", {"a": 1})


@pytest.mark.parametrize(
    ("current", "desired", "resolved", "upgrade"),
    [
        (_deployed(config={"a": 1}), WANT, "8.6.2", None),
        (_deployed(config={"a": 2}), WANT, "8.6.2", "values changed"),
        (_deployed(version="8.6.1", config={"a": 1}), WANT, "8.6.2", "version 8.6.1 → 8.6.2"),
        (_deployed(chart="mariadb", config={"a": 1}), WANT, "8.6.2", "chart mariadb → mysql"),
        # empty version, repository offers what is deployed: no upgrade on every pass
        (
            _deployed(config={"a": 1}),
            DesiredRelease("mysql", "abc", "mysql", "", {"a": 1}),
            "8.6.2",
            None,
        ),
        # empty version, a newer chart was published: upgrade
        (
            _deployed(config={"a": 1}),
            DesiredRelease("mysql", "abc", "mysql", "", {"a": 1}),
            "8.7.0",
            "version 8.6.2 → 8.7.0",
        ),
        # empty version, repository unreachable: keep what runs
        (_deployed(config={"a": 1}), DesiredRelease("mysql", "abc", "mysql", "", {"a": 1}), "", None),
        (_deployed(config=None), DesiredRelease("mysql", "abc", "mysql", "8.6.2", {}), "8.6.2", None),
    ],
)
def test_needs_upgrade(
    current: dict[str, Any], desired: DesiredRelease, resolved: str, upgrade: str | None
) -> None:
    assert needs_upgrade(current, desired, resolved) == upgrade


def test_desired_release_defaults_to_the_object_name() -> None:
    release = {
        "metadata": {"name": "hr-1"},
        "spec": {"chart": "c", "targetNamespace": "t", "version": " 1.0.0 "},
    }
    assert desired_release(release) == DesiredRelease("hr-1", "t", "c", "1.0.0", {})


def test_status_is_copied_from_the_release() -> None:
    assert release_status(_deployed()) == {
        "phase": "deployed",
        "version": 3,
        "firstDeployed": "2024-01-01T00:00:00Z",
        "lastDeployed": "2024-01-02T00:00:00Z",
        "description": "Upgrade complete",
        "notes": "hi",
    }


def _hr(name: str, phase: str | None, notes: str = "") -> dict[str, Any]:
    status = {} if phase is None else {"phase": phase, "notes": notes}
    return {"metadata": {"name": name}, "status": status}


@pytest.mark.parametrize(
    ("releases", "expected"),
    [
        ([_hr("a", "deployed", "n")], ("Success", "")),
        ([_hr("a", "pending-install")], ("Installing", "")),
        ([_hr("a", "pending-upgrade")], ("Upgrading", "")),
        ([_hr("a", "pending-rollback", "rolling")], ("Unknown", "a: rolling")),
        ([_hr("a", "uninstalling")], ("Uninstalling", "")),
        ([_hr("a", "superseded", "old")], ("Superseded", "a: old")),
        ([_hr("a", "failed", "boom")], ("Failure", "a: boom")),
        ([_hr("a", None)], ("Pending", "")),
        ([], ("Pending", "")),
        (
            [_hr("a", "deployed"), _hr("b", "failed", "x"), _hr("c", "failed", "y")],
            ("Failure", "b: x; c: y"),
        ),
        ([_hr("a", "deployed"), _hr("b", "pending-install")], ("Installing", "")),
    ],
)
def test_description_phase(releases: list[dict[str, Any]], expected: tuple[str, str]) -> None:
    assert description_phase(releases) == expected


@pytest.mark.parametrize(
    ("spec", "install", "upgrade"),
    [
        (
            {},
            {"namespace": "t", "timeout_seconds": 300, "create_namespace": True, "server_side_apply": False},
            {"namespace": "t", "timeout_seconds": 300, "max_history": 5, "server_side_apply": "false"},
        ),
        (
            {
                "createNamespace": False,
                "timeoutSeconds": 30,
                "wait": True,
                "atomic": True,
                "replace": True,
                "skipCRDs": True,
                "upgradeAtomic": True,
                "force": True,
            },
            {
                "namespace": "t",
                "timeout_seconds": 30,
                "create_namespace": False,
                "server_side_apply": False,
                "rollback_on_failure": True,
                "replace": True,
                "skip_crds": True,
                "wait": "watcher",
            },
            {
                "namespace": "t",
                "timeout_seconds": 30,
                "max_history": 5,
                "server_side_apply": "false",
                "rollback_on_failure": True,
                "force_replace": True,
                "skip_crds": True,
                "wait": "watcher",
            },
        ),
        (
            {"waitForJob": True, "disableHooks": True},
            {
                "namespace": "t",
                "timeout_seconds": 300,
                "create_namespace": True,
                "server_side_apply": False,
                "wait_for_jobs": True,
                "disable_hooks": True,
                "wait": "watcher",
            },
            {
                "namespace": "t",
                "timeout_seconds": 300,
                "max_history": 5,
                "server_side_apply": "false",
                "wait_for_jobs": True,
                "disable_hooks": True,
                "wait": "watcher",
            },
        ),
    ],
)
def test_sdk_options(spec: dict[str, Any], install: dict[str, Any], upgrade: dict[str, Any]) -> None:
    assert install_options(spec, "t") == install
    assert upgrade_options(spec, "t") == upgrade
    assert uninstall_options(spec)["ignore_not_found"] is True


def test_the_sdk_is_optional() -> None:
    """Importing every core module loads no Helm SDK; without it, actions say how to get it."""
    code = (
        "import importlib, pkgutil, sys\n"
        "sys.modules['helm_python'] = None  # as if not installed\n"
        "import kubectl_clusternet.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'kubectl_clusternet.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "from kubectl_clusternet.core.helm import sdk\n"
        "print(sdk.sdk_available())\n"
        "try:\n"
        "    sdk.ChildHelm().get('x', 'y')\n"
        "except sdk.HelmUnavailable as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "False"
    assert "pip install 'kubectl-clusternet[helm]'" in lines[1]
