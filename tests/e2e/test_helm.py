"""Helm charts to many clusters: a HelmChart and a Subscription become a real Helm release in each child.

Real processes against the session's real control planes: one hub and one agent per child (freshly
registered, Pull mode) for this module, with the Helm SDK installed (the ``[helm]`` extra). The tests
serve a Helm repository on 127.0.0.1 (an ``index.yaml`` written by hand and chart archives built here
with tarfile) and then look, as a user would, at ``kubectl clusternet get chart`` / ``get hr`` and at the
objects in the children. Tests run in file order and share one release: install, upgrade, per-cluster
values, a missing chart, uninstall.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_clusternet.core.apis.apps import (
    DESCRIPTION,
    HELM_CHART,
    HELM_RELEASE,
    LOCALIZATION,
    SUBSCRIPTION,
)
from kubectl_clusternet.core.apis.builtin import CONFIG_MAP, EVENT, NAMESPACE, SECRET
from kubectl_clusternet.localfleet import FleetState
from tests.e2e.test_apps import Apps, running_apps
from tests.support.kube import delete_quietly, get_or_none

pytestmark = pytest.mark.e2e

CHART = "helm-e2e-hello"  # the HelmChart's name, hence the release name in each child
SUB = "helm-e2e"
TARGET = "helm-e2e-ns"  # where the release goes in each child
CONFIG = CONFIG_MAP.object_path(f"{CHART}-config", TARGET)


def chart_archive(version: str) -> bytes:
    """A small chart: one ConfigMap whose data shows the values and the chart version, and NOTES."""
    files = {
        "Chart.yaml": f"apiVersion: v2\nname: hello\nversion: {version}\nappVersion: '1.0'\n",
        "values.yaml": "greeting: hello\ncolor: blue\n",
        "templates/configmap.yaml": (
            "apiVersion: v1\n"
            "kind: ConfigMap\n"
            "metadata:\n"
            "  name: {{ .Release.Name }}-config\n"
            "  labels:\n"
            "    app.kubernetes.io/instance: {{ .Release.Name }}\n"
            "    helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}\n"
            "data:\n"
            "  greeting: {{ .Values.greeting | quote }}\n"
            "  color: {{ .Values.color | quote }}\n"
            "  chartVersion: {{ .Chart.Version | quote }}\n"
        ),
        "templates/NOTES.txt": "hello {{ .Chart.Version }} is installed as {{ .Release.Name }}.\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"hello/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class HelmRepo:
    """A chart repository served from a directory on 127.0.0.1."""

    directory: Path
    url: str

    def publish(self, *versions: str) -> None:
        """Write the archives and an index.yaml listing exactly ``versions`` (newest last, as Helm would not
        sort them for us)."""
        entries = []
        for version in versions:
            data = chart_archive(version)
            (self.directory / "charts" / f"hello-{version}.tgz").write_bytes(data)
            entries.append(
                {
                    "apiVersion": "v2",
                    "name": "hello",
                    "version": version,
                    "appVersion": "1.0",
                    "urls": [f"charts/hello-{version}.tgz"],
                    "digest": hashlib.sha256(data).hexdigest(),
                    "created": "2024-01-01T00:00:00Z",
                }
            )
        index = {"apiVersion": "v1", "entries": {"hello": entries}, "generated": "2024-01-01T00:00:00Z"}
        (self.directory / "index.yaml").write_text(yaml.safe_dump(index))


USER, PASSWORD = "helm-e2e", "not-a-real-password"


class _RepoHandler(SimpleHTTPRequestHandler):
    """Files of the repository directory; everything under /private/ needs basic auth."""

    def do_GET(self) -> None:
        wanted = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.path.startswith("/private/") and self.headers.get("Authorization") != wanted:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelmRepo]:
    directory = tmp_path_factory.mktemp("helm-repo")
    (directory / "charts").mkdir()
    (directory / "private" / "charts").mkdir(parents=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_RepoHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    helm_repo = HelmRepo(directory, f"http://127.0.0.1:{server.server_address[1]}/")
    helm_repo.publish("0.1.0")
    try:
        yield helm_repo
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def apps(fleet: FleetState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    """One hub-lite and one agent per child, registered afresh and Ready; removes what it created."""
    with running_apps(fleet, tmp_path_factory.mktemp("helm"), "helm") as apps:
        try:
            yield apps
        finally:
            parent = apps.parent
            for namespace, name in apps.created:
                apps.cli("delete", "sub", name, "-n", namespace, "--ignore-not-found", "--timeout=120s")
            apps.created.clear()
            for namespace in apps.namespaces.values():
                delete_quietly(parent, LOCALIZATION.object_path("helm-e2e-red", namespace))
            for name in (CHART, "helm-e2e-missing-version", "helm-e2e-missing-chart", "helm-e2e-private"):
                delete_quietly(parent, HELM_CHART.object_path(name, "default"))
            for namespace in ["default", *apps.namespaces.values()]:
                delete_quietly(parent, SECRET.object_path("helm-e2e-creds", namespace))
            for client in apps.children.values():
                delete_quietly(client, NAMESPACE.object_path(TARGET))


def helm_chart(name: str, repo: str, version: str, chart: str = "hello") -> dict[str, Any]:
    return {
        "apiVersion": HELM_CHART.api_version,
        "kind": "HelmChart",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"repo": repo, "chart": chart, "version": version, "targetNamespace": TARGET},
    }


def chart_feed(name: str) -> dict[str, Any]:
    return {"apiVersion": HELM_CHART.api_version, "kind": "HelmChart", "namespace": "default", "name": name}


def releases(apps: Apps) -> dict[str, dict[str, Any] | None]:
    """Per child, the HelmRelease of our chart in its namespace in the parent (None when there is none)."""
    found: dict[str, dict[str, Any] | None] = {}
    for child, namespace in apps.namespaces.items():
        items = apps.parent.get(HELM_RELEASE.collection_path(namespace)).get("items") or []
        mine = [hr for hr in items if (hr.get("spec") or {}).get("releaseName") == CHART]
        found[child] = mine[0] if mine else None
    return found


def revisions(apps: Apps) -> dict[str, int | None]:
    """Per child, the revision of a *deployed* release (None while it is anything else)."""
    result: dict[str, int | None] = {}
    for child, release in releases(apps).items():
        status = (release or {}).get("status") or {}
        result[child] = int(status["version"]) if status.get("phase") == "deployed" else None
    return result


def config_data(apps: Apps, child: str) -> dict[str, str] | None:
    found = apps.in_child(child, CONFIG)
    return None if found is None else dict(found.get("data") or {})


def chart_status(apps: Apps, name: str) -> dict[str, Any]:
    found = get_or_none(apps.parent, HELM_CHART.object_path(name, "default"))
    return dict((found or {}).get("status") or {})


@pytest.fixture(scope="module")
def installed(apps: Apps, repo: HelmRepo) -> None:
    """HelmChart helm-e2e-hello (version 0.1.0) and Subscription helm-e2e for both clusters, deployed."""
    apps.apply(helm_chart(CHART, repo.url, "0.1.0"))
    apps.apply(apps.subscription(SUB, [chart_feed(CHART)]))
    apps.wait(
        lambda: revisions(apps) == {child: 1 for child in apps.children}, "the release deployed in both"
    )


def test_chart_is_found_and_released_in_both_children(apps: Apps, repo: HelmRepo, installed: None) -> None:
    """`get chart` says Found; `get hr` says deployed in each cluster's namespace; the chart's ConfigMap is in
    each child's target namespace, labelled and annotated by Helm for the release."""
    listed = apps.cli("get", "chart", "-n", "default")
    assert listed.exit_code == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "CHART", "VERSION", "REPO", "STATUS", "AGE"]
    row = next(line.split() for line in lines[1:] if line.split()[0] == CHART)
    assert row[1:5] == ["hello", "0.1.0", repo.url, "Found"]

    for child, namespace in apps.namespaces.items():
        listed = apps.cli("get", "hr", "-n", namespace)
        assert listed.exit_code == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split() == ["NAME", "CHART", "VERSION", "REPO", "STATUS", "AGE"]
        (row,) = [line.split() for line in lines[1:] if line.split()[0].endswith(f"-helm-default-{CHART}")]
        assert row[1:5] == ["hello", "0.1.0", repo.url, "deployed"], listed.stdout

        config = apps.in_child(child, CONFIG)
        assert config is not None, f"no ConfigMap of the release in {child}"
        assert config["data"] == {"greeting": "hello", "color": "blue", "chartVersion": "0.1.0"}
        labels, annotations = config["metadata"]["labels"], config["metadata"]["annotations"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/instance"] == CHART
        assert annotations["meta.helm.sh/release-name"] == CHART
        assert annotations["meta.helm.sh/release-namespace"] == TARGET

    for release in releases(apps).values():
        assert release is not None
        status = release["status"]
        assert status["notes"] == f"hello 0.1.0 is installed as {CHART}.\n"
        assert status["firstDeployed"] and status["lastDeployed"]
        assert release["spec"]["targetNamespace"] == TARGET
        assert release["metadata"]["labels"]["apps.clusternet.io/config.kind"] == "Description"

    listed = apps.cli("get", "desc", "-A")
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    mine = [row for row in rows if row[0] in apps.namespaces.values() and row[1].startswith(f"{SUB}-")]
    assert len(mine) == 2 and all(
        row[1].endswith("-helm") and row[2:4] == ["Helm", "Success"] for row in mine
    ), listed.stdout


def test_bumping_the_chart_version_upgrades_both_to_revision_2(
    apps: Apps, repo: HelmRepo, installed: None
) -> None:
    repo.publish("0.1.0", "0.2.0")
    apps.apply(helm_chart(CHART, repo.url, "0.2.0"))
    apps.wait(lambda: revisions(apps) == {child: 2 for child in apps.children}, "revision 2 deployed in both")
    for child in apps.children:
        assert (config_data(apps, child) or {}).get("chartVersion") == "0.2.0"
    listed = apps.cli("get", "hr", "-n", next(iter(apps.namespaces.values())))
    assert any(line.split()[1:3] == ["hello", "0.2.0"] for line in listed.stdout.splitlines()[1:]), (
        listed.stdout
    )


def test_a_localization_changes_a_value_in_one_child_only(
    apps: Apps, repo: HelmRepo, installed: None
) -> None:
    """A Helm-type override in child-1's namespace sets color=red there; child-2 keeps the chart default."""
    first, second = sorted(apps.children)
    before = revisions(apps)
    localization = {
        "apiVersion": LOCALIZATION.api_version,
        "kind": "Localization",
        "metadata": {"name": "helm-e2e-red", "namespace": apps.namespaces[first]},
        "spec": {
            "overridePolicy": "ApplyNow",
            "priority": 500,
            "feed": chart_feed(CHART),
            "overrides": [{"name": "red", "type": "Helm", "value": "color: red\n"}],
        },
    }
    apps.apply(localization)
    apps.wait(lambda: (config_data(apps, first) or {}).get("color") == "red", f"color red in {first}")
    apps.wait(lambda: revisions(apps)[first] == (before[first] or 0) + 1, f"the upgraded release in {first}")
    assert (config_data(apps, second) or {}).get("color") == "blue"
    assert revisions(apps)[second] == before[second], "the other child was upgraded too"
    first_release = releases(apps)[first] or {}
    assert json.loads(base64.b64decode(first_release["spec"]["overrides"])) == {"color": "red"}


def test_a_missing_chart_or_version_is_not_found_and_deploys_nothing(apps: Apps, repo: HelmRepo) -> None:
    apps.apply(
        helm_chart("helm-e2e-missing-version", repo.url, "9.9.9"),
        helm_chart("helm-e2e-missing-chart", repo.url, "", chart="nope"),
    )
    version = apps.wait(
        lambda: chart_status(apps, "helm-e2e-missing-version") or None, "helm-e2e-missing-version verified"
    )
    assert version["phase"] == "NotFound"
    assert "9.9.9" in version["reason"] and "0.2.0" in version["reason"], version
    chart = apps.wait(
        lambda: chart_status(apps, "helm-e2e-missing-chart") or None, "helm-e2e-missing-chart verified"
    )
    assert chart["phase"] == "NotFound" and "no chart named 'nope'" in chart["reason"], chart

    listed = apps.cli("get", "charts", "-n", "default").stdout
    row = next(
        line.split() for line in listed.splitlines()[1:] if line.split()[0] == "helm-e2e-missing-chart"
    )
    assert row[-2] == "NotFound", listed

    apps.apply(apps.subscription("helm-e2e-missing", [chart_feed("helm-e2e-missing-version")]))

    def refused() -> bool:
        events = apps.parent.get(
            EVENT.collection_path("default"),
            query=[("fieldSelector", "involvedObject.name=helm-e2e-missing")],
        )
        return any(e["reason"] == "HelmChartNotFound" for e in events.get("items") or [])

    apps.wait(refused, "the HelmChartNotFound event on Subscription helm-e2e-missing")
    # The Subscription is scheduled (both clusters bound), yet nothing was rendered for it.
    sub = apps.parent.get(SUBSCRIPTION.object_path("helm-e2e-missing", "default"))
    assert len(sub["status"]["bindingClusters"]) == 2
    assert apps.descriptions_of("helm-e2e-missing") == []
    for namespace in apps.namespaces.values():
        items = apps.parent.get(HELM_RELEASE.collection_path(namespace)).get("items") or []
        assert not [hr for hr in items if "helm-e2e-missing" in hr["metadata"]["name"]]
    apps.delete_subscription("helm-e2e-missing")


def test_a_private_repository_is_read_with_the_chart_pull_secret(apps: Apps, repo: HelmRepo) -> None:
    """The hub verifies with the chartPullSecret; agents, which may read Secrets only in their cluster's
    namespace, use the copy there; without credentials the repository refuses and the chart is NotFound."""
    private = HelmRepo(repo.directory / "private", repo.url + "private/")
    private.publish("1.0.0")
    for namespace in ["default", *apps.namespaces.values()]:
        apps.parent.create(
            SECRET.collection_path(namespace),
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "helm-e2e-creds", "namespace": namespace},
                "stringData": {"username": USER, "password": PASSWORD},
            },
        )
    locked = helm_chart("helm-e2e-private", private.url, "1.0.0")
    apps.apply(locked)
    refused = apps.wait(lambda: chart_status(apps, "helm-e2e-private") or None, "the private chart verified")
    assert refused["phase"] == "NotFound" and "401" in refused["reason"], refused

    locked["spec"]["chartPullSecret"] = {"name": "helm-e2e-creds", "namespace": "default"}
    apps.apply(locked)
    apps.wait(
        lambda: chart_status(apps, "helm-e2e-private").get("phase") == "Found", "the private chart Found"
    )
    apps.apply(apps.subscription("helm-e2e-private", [chart_feed("helm-e2e-private")]))
    path = CONFIG_MAP.object_path("helm-e2e-private-config", TARGET)
    apps.wait(lambda: apps.in_both(path), "the private chart's ConfigMap in both children")
    assert all((apps.in_child(c, path) or {})["data"]["chartVersion"] == "1.0.0" for c in apps.children)
    apps.delete_subscription("helm-e2e-private")
    assert apps.gone_from_both(path)


def test_deleting_the_subscription_uninstalls_both_releases(apps: Apps, installed: None) -> None:
    apps.delete_subscription(SUB)
    assert all(release is None for release in releases(apps).values())
    for child, client in apps.children.items():
        assert apps.in_child(child, CONFIG) is None, f"the release's ConfigMap is still in {child}"
        history = client.get(
            SECRET.collection_path(TARGET), query=[("labelSelector", f"owner=helm,name={CHART}")]
        )
        assert history.get("items") == [], f"Helm still records the release in {child}"
    left = [
        d["metadata"]["name"]
        for namespace in apps.namespaces.values()
        for d in apps.parent.get(DESCRIPTION.collection_path(namespace)).get("items") or []
        if d["metadata"]["name"].startswith(f"{SUB}-")
    ]
    assert left == [], f"Descriptions left behind: {left}"
