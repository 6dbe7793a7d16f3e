"""The CRDs match upstream Clusternet's names, scopes and columns, and deploy/ matches the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubectl_clusternet.core.apis import CLUSTERNET_TYPES, find_type
from kubectl_clusternet.core.apis.crds import custom_resource_definition
from kubectl_clusternet.core.manifests import render_deploy_files

ROOT = Path(__file__).resolve().parents[2]

# kind: (group, scope, plural, short names, printer column names) as clusternet-reference.md section 2 lists them.
UPSTREAM = {
    "ClusterRegistrationRequest": (
        "clusters.clusternet.io",
        "Cluster",
        "clusterregistrationrequests",
        ["clsrr"],
        ["CLUSTER ID", "STATUS", "AGE"],
    ),
    "ManagedCluster": (
        "clusters.clusternet.io",
        "Namespaced",
        "managedclusters",
        ["mcls"],
        ["CLUSTER ID", "CLUSTER TYPE", "SYNC MODE", "KUBERNETES", "STATUS", "AGE", "AGENT VERSION"],
    ),
    "Subscription": ("apps.clusternet.io", "Namespaced", "subscriptions", ["sub", "subs"], ["AGE"]),
    "Base": ("apps.clusternet.io", "Namespaced", "bases", None, ["AGE"]),
    "Description": (
        "apps.clusternet.io",
        "Namespaced",
        "descriptions",
        ["desc"],
        ["DEPLOYER", "STATUS", "AGE"],
    ),
    "HelmChart": (
        "apps.clusternet.io",
        "Namespaced",
        "helmcharts",
        ["chart", "charts"],
        ["CHART", "VERSION", "REPO", "STATUS", "AGE"],
    ),
    "HelmRelease": (
        "apps.clusternet.io",
        "Namespaced",
        "helmreleases",
        ["hr"],
        ["CHART", "VERSION", "REPO", "STATUS", "AGE"],
    ),
    "Localization": ("apps.clusternet.io", "Namespaced", "localizations", ["loc", "local"], ["AGE"]),
    "Globalization": ("apps.clusternet.io", "Cluster", "globalizations", ["glob", "global"], ["AGE"]),
    "Manifest": ("apps.clusternet.io", "Namespaced", "manifests", None, ["AGE"]),
    "FeedInventory": ("apps.clusternet.io", "Namespaced", "feedinventories", ["finv"], None),
}


@pytest.mark.parametrize("kind", sorted(UPSTREAM))
def test_crd_names_scope_and_columns(kind: str) -> None:
    """Each CRD carries upstream's group, scope, plural, short names, category and printer columns."""
    (resource_type,) = [t for t in CLUSTERNET_TYPES if t.kind == kind]
    crd = custom_resource_definition(resource_type)
    group, scope, plural, short_names, columns = UPSTREAM[kind]
    spec = crd["spec"]
    assert (spec["group"], spec["scope"], spec["names"]["plural"]) == (group, scope, plural)
    assert spec["names"].get("shortNames") == short_names
    assert spec["names"]["categories"] == ["clusternet"]
    version = spec["versions"][0]
    assert [c["name"] for c in version.get("additionalPrinterColumns", [])] == (columns or [])
    assert version["schema"]["openAPIV3Schema"]["type"] == "object"


@pytest.mark.parametrize(
    ("kind", "path", "default"),
    [
        ("ClusterRegistrationRequest", ("spec", "syncMode"), "Pull"),
        ("ManagedCluster", ("spec", "syncMode"), "Pull"),
        ("Subscription", ("spec", "schedulerName"), "default"),
        ("Subscription", ("spec", "schedulingStrategy"), "Replication"),
        ("Subscription", ("spec", "dividingScheduling", "type"), "Static"),
        ("Localization", ("spec", "priority"), 500),
        ("Globalization", ("spec", "overridePolicy"), "ApplyLater"),
        ("HelmChart", ("spec", "createNamespace"), True),
        ("HelmChart", ("spec", "timeoutSeconds"), 300),
    ],
)
def test_defaults(kind: str, path: tuple[str, ...], default: object) -> None:
    """Defaults are declared in the schema, so the API server fills them in as upstream's CRDs do."""
    (resource_type,) = [t for t in CLUSTERNET_TYPES if t.kind == kind]
    node = resource_type.schema
    for key in path:
        node = node["properties"][key]
    assert node["default"] == default


@pytest.mark.parametrize(("kind", "status"), [(t.kind, t.status_subresource) for t in CLUSTERNET_TYPES])
def test_status_subresource(kind: str, status: bool) -> None:
    """Kinds with a status in upstream declare the status subresource; the others do not."""
    (resource_type,) = [t for t in CLUSTERNET_TYPES if t.kind == kind]
    version = custom_resource_definition(resource_type)["spec"]["versions"][0]
    assert ("subresources" in version) == status
    assert status == ("status" in resource_type.schema["properties"])


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("mcls", "ManagedCluster"),
        ("managedclusters.clusters.clusternet.io", "ManagedCluster"),
        ("clsrr", "ClusterRegistrationRequest"),
        ("subs", "Subscription"),
        ("Subscription", "Subscription"),
        ("desc", "Description"),
        ("hr", "HelmRelease"),
        ("charts", "HelmChart"),
        ("global", "Globalization"),
        ("loc", "Localization"),
        ("finv", "FeedInventory"),
        ("base", "Base"),
        ("manifest", "Manifest"),
        ("nope", None),
    ],
)
def test_find_type_accepts_kubectl_names(word: str, kind: str | None) -> None:
    """Kinds are found by kind, plural, singular, short name and group-qualified name, as kubectl resolves them."""
    found = find_type(word)
    assert (found.kind if found else None) == kind


def test_generated_files_match_code() -> None:
    """The committed deploy/ files are exactly what the code renders (regenerate with scripts/generate_manifests.py)."""
    for relative, text in render_deploy_files().items():
        assert (ROOT / relative).read_text() == text, relative
    result = subprocess.run(
        [sys.executable, "scripts/generate_manifests.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_generated_crds_parse_and_have_no_aliases() -> None:
    """Every generated CRD is plain YAML (no anchors) that names itself <plural>.<group>."""
    for relative, text in render_deploy_files().items():
        if not relative.startswith("deploy/crds/"):
            continue
        assert "&id" not in text and "*id" not in text
        crd = yaml.safe_load(text)
        assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.{crd['spec']['group']}"
