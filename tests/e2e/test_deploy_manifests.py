"""Running for real: the generated deploy/ files, ``hub install --image`` and ``join`` against the real parent
and child-2 (kube-apiserver 1.20 with its own admission and schema validation).

No kubelet runs in the fleet, so no pod ever starts: these tests check what is written (and what is not),
never that the daemons run. Child-2 is shared with other modules; everything these tests create there and
in the parent is removed again. Namespace clusternet-system is the exception: agents create it themselves
and other modules expect to find or create it, and deleting it would leave it Terminating for the next test.
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from kubectl_clusternet.core import deployments
from kubectl_clusternet.core.apis.builtin import (
    API_SERVICE,
    CLUSTER_ROLE,
    CLUSTER_ROLE_BINDING,
    DEPLOYMENT,
    NAMESPACE,
    SECRET,
    SERVICE,
    SERVICE_ACCOUNT,
)
from kubectl_clusternet.core.apis.clusters import CLUSTER_REGISTRATION_REQUEST
from kubectl_clusternet.core.apiservice import APISERVICE_NAME, hub_service_dns_names
from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.kube.apply import type_of
from kubectl_clusternet.core.kube.rest import RestClient, token_connection
from kubectl_clusternet.core.registration import token_request
from kubectl_clusternet.localfleet import ClusterInfo, FleetState
from tests.support.cli import CliResult, run_cli
from tests.support.kube import admin_client, delete_quietly, get_or_none

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = "clusternet-system"
TEST_IMAGE = "example.invalid/clusternet:test"


def kubectl(kubeconfig: Path | str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def path_of(obj: dict[str, Any]) -> str:
    resource_type = type_of(obj)
    namespace = obj["metadata"].get("namespace") if resource_type.namespaced else None
    return resource_type.object_path(obj["metadata"]["name"], namespace)


def snapshot(client: RestClient, objects: list[dict[str, Any]]) -> dict[str, str | None]:
    """path -> resourceVersion (None when absent): equal snapshots mean nothing was written."""
    found = {}
    for obj in objects:
        current = get_or_none(client, path_of(obj))
        found[path_of(obj)] = current["metadata"]["resourceVersion"] if current else None
    return found


def bootstrap_token_names(parent: RestClient) -> set[str]:
    listing = parent.get(
        SECRET.collection_path("kube-system"), query=[("fieldSelector", "type=bootstrap.kubernetes.io/token")]
    )
    return {item["metadata"]["name"] for item in listing.get("items") or []}


def agent_objects_in_child() -> list[dict[str, Any]]:
    """Every object ``join`` writes into a child (the token does not change which)."""
    return deployments.agent_objects("https://placeholder.invalid", "000000.0000000000000000")


def remove_agent_objects(child: RestClient) -> None:
    """Everything join wrote into the child except the namespace (see the module docstring)."""
    for obj in reversed(agent_objects_in_child()[1:]):
        delete_quietly(child, path_of(obj))


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def apply_namespaces_for_real(kubeconfig: Path, files: list[Path]) -> None:
    """A server dry run of a file cannot place objects into a namespace the same dry run only pretends to
    create, so the files' Namespace objects are applied for real first (as a user applying the files would
    have done by the time they reach the namespaced objects)."""
    namespaces = [d for path in files for d in documents(path) if d["kind"] == "Namespace"]
    assert namespaces, "the files create their namespaces"
    result = kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(namespaces))
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def parent(fleet: FleetState) -> RestClient:
    """The parent's admin client, with the hub objects installed (join needs the CRDs)."""
    result = run_cli("--kubeconfig", str(fleet.parent.kubeconfig), "hub", "install")
    assert result.exit_code == 0, result.stderr
    return admin_client(fleet.parent)


@pytest.fixture(scope="module")
def child_info(fleet: FleetState) -> ClusterInfo:
    return fleet.children[1]


@pytest.fixture()
def child(child_info: ClusterInfo) -> Iterator[RestClient]:
    """Child-2's admin client; whatever join writes there is removed before and after each test."""
    client = admin_client(child_info)
    remove_agent_objects(client)
    try:
        yield client
    finally:
        remove_agent_objects(client)
        client.close()


@pytest.fixture()
def new_tokens(parent: RestClient) -> Iterator[set[str]]:
    """Bootstrap tokens created in the parent during the test (filled in at teardown, then deleted)."""
    before = bootstrap_token_names(parent)
    created: set[str] = set()
    yield created
    created.update(bootstrap_token_names(parent) - before)
    for name in created:
        delete_quietly(parent, SECRET.object_path(name, "kube-system"))


def join(fleet: FleetState, *args: str) -> CliResult:
    return run_cli("--kubeconfig", str(fleet.parent.kubeconfig), "join", *args)


# ---------------------------------------------------------------------------------------------------------
# the generated files


def test_hub_files_pass_a_server_dry_run_in_the_parent(fleet: FleetState, parent: RestClient) -> None:
    """Every file under deploy/crds and deploy/hub goes through the parent's validation and admission
    (kubectl checks the fields against the server's schema first) without being stored."""
    files = sorted((ROOT / "deploy" / "crds").glob("*.yaml")) + sorted(
        (ROOT / "deploy" / "hub").glob("*.yaml")
    )
    apply_namespaces_for_real(fleet.parent.kubeconfig, files)
    workloads = [
        d for path in files for d in documents(path) if d["kind"] in ("Deployment", "Service", "APIService")
    ]
    assert {d["kind"] for d in workloads} == {"Deployment", "Service", "APIService"}
    before = snapshot(parent, workloads)
    args = [arg for path in files for arg in ("-f", str(path))]
    result = kubectl(fleet.parent.kubeconfig, "apply", "--dry-run=server", *args)
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/clusternet-hub created (server dry run)" in result.stdout
    assert f"apiservice.apiregistration.k8s.io/{APISERVICE_NAME} created (server dry run)" in result.stdout
    assert snapshot(parent, workloads) == before


def test_agent_files_pass_a_server_dry_run_in_a_child(fleet: FleetState, child: RestClient) -> None:
    """Every file under deploy/agent (RBAC, the registration Secret template, the Deployment) goes through
    child-2's validation and admission without being stored."""
    files = sorted((ROOT / "deploy" / "agent").glob("*.yaml"))
    assert [p.name for p in files] == [
        "clusternet_agent_deployment.yaml",
        "clusternet_agent_rbac.yaml",
        "clusternet_agent_registration_secret.yaml",
    ]
    apply_namespaces_for_real(fleet.children[1].kubeconfig, files)
    before = snapshot(child, agent_objects_in_child())
    args = [arg for path in files for arg in ("-f", str(path))]
    result = kubectl(fleet.children[1].kubeconfig, "apply", "--dry-run=server", *args)
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/clusternet-agent created (server dry run)" in result.stdout
    assert "clusterrolebinding.rbac.authorization.k8s.io/clusternet:app:deployer created" in result.stdout
    assert snapshot(child, agent_objects_in_child()) == before


def test_a_broken_manifest_would_be_caught(fleet: FleetState, tmp_path: Path) -> None:
    """The dry run above is a real check: the same Deployment with a bad field or value is refused."""
    deployment = documents(ROOT / "deploy" / "agent" / "clusternet_agent_deployment.yaml")[0]
    deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = -1
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(deployment))
    result = kubectl(fleet.children[1].kubeconfig, "apply", "--dry-run=server", "-f", str(broken))
    assert result.returncode != 0
    assert "runAsUser" in result.stderr


# ---------------------------------------------------------------------------------------------------------
# hub install --image


def hub_workload(image: str = TEST_IMAGE) -> list[dict[str, Any]]:
    secret = deployments.hub_serving_secret(b"", b"", b"")
    return [secret, *deployments.hub_workload_objects(image)]


def test_hub_install_with_an_image_server_dry_run_writes_nothing(
    fleet: FleetState, parent: RestClient
) -> None:
    """The hub's Deployment, Service, serving Secret and APIService pass the parent's validation; none is stored."""
    before = snapshot(parent, hub_workload())
    result = run_cli(
        "--kubeconfig",
        str(fleet.parent.kubeconfig),
        "hub",
        "install",
        "--image",
        TEST_IMAGE,
        "--dry-run=server",
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    for expected in [
        "deployment.apps/clusternet-hub created (server dry run)",
        "deployment.apps/clusternet-hub-proxy created (server dry run)",
        "service/clusternet-hub created (server dry run)",
        "secret/clusternet-hub-serving-cert created (server dry run)",
        f"apiservice.apiregistration.k8s.io/{APISERVICE_NAME} created (server dry run)",
    ]:
        assert expected in lines
    assert lines[-1].startswith("apiservice."), "the APIService comes after what it points at"
    assert snapshot(parent, hub_workload()) == before


@contextlib.contextmanager
def removed_afterwards(client: RestClient, objects: list[dict[str, Any]]) -> Iterator[None]:
    """Delete ``objects`` when done; ones that existed before are put back as they were."""
    existing = {path_of(o): get_or_none(client, path_of(o)) for o in objects}
    try:
        yield
    finally:
        for obj in reversed(objects):
            path = path_of(obj)
            old = existing[path]
            if old is None:
                delete_quietly(client, path)
                continue
            current = get_or_none(client, path)
            old["metadata"].pop("managedFields", None)
            if current is None:
                old["metadata"].pop("resourceVersion", None)
                client.create(path.rsplit("/", 1)[0], old)
            else:
                old["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                client.replace(path, old)


def test_hub_install_with_an_image_runs_the_hub_and_is_idempotent(
    fleet: FleetState, parent: RestClient
) -> None:
    """For real: the Deployment runs the image with the replicas asked for, the proxy's certificate is valid
    for the Service's names and is what the APIService trusts, and a second install changes nothing (the
    certificate is kept, not regenerated)."""
    kubeconfig = str(fleet.parent.kubeconfig)
    with removed_afterwards(parent, hub_workload()):
        first = run_cli(
            "--kubeconfig", kubeconfig, "hub", "install", "--image", TEST_IMAGE, "--replicas", "2"
        )
        assert first.exit_code == 0, first.stderr
        assert "deployment.apps/clusternet-hub created" in first.stdout.splitlines()

        deployment = parent.get(DEPLOYMENT.object_path("clusternet-hub", SYSTEM))
        assert deployment["spec"]["replicas"] == 2
        images = {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
        assert images == {TEST_IMAGE}
        proxy = parent.get(DEPLOYMENT.object_path("clusternet-hub-proxy", SYSTEM))
        assert proxy["spec"]["replicas"] == 1
        service = parent.get(SERVICE.object_path("clusternet-hub", SYSTEM))
        assert service["spec"]["selector"] == {"app.kubernetes.io/name": "clusternet-hub-proxy"}
        secret = parent.get(SECRET.object_path(deployments.HUB_SERVING_SECRET, SYSTEM))
        certificate = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert set(hub_service_dns_names()) <= set(names.get_values_for_type(x509.DNSName))
        api_service = parent.get(API_SERVICE.object_path(APISERVICE_NAME))
        assert api_service["spec"]["caBundle"] == secret["data"]["ca.crt"]
        assert not api_service["spec"].get("insecureSkipTLSVerify")

        again = run_cli(
            "--kubeconfig", kubeconfig, "hub", "install", "--image", TEST_IMAGE, "--replicas", "2"
        )
        assert again.exit_code == 0, again.stderr
        assert all(line.endswith(" unchanged") for line in again.stdout.splitlines()), again.stdout
        kept = parent.get(SECRET.object_path(deployments.HUB_SERVING_SECRET, SYSTEM))
        assert kept["data"] == secret["data"]


def test_hub_install_replicas_needs_an_image(fleet: FleetState) -> None:
    result = run_cli("--kubeconfig", str(fleet.parent.kubeconfig), "hub", "install", "--replicas", "2")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --replicas only applies with --image"


# ---------------------------------------------------------------------------------------------------------
# join


@pytest.mark.parametrize("mode", ["client", "server"])
def test_join_dry_run_writes_nothing(
    fleet: FleetState, parent: RestClient, child: RestClient, new_tokens: set[str], mode: str
) -> None:
    """Both dry runs print every object join would write, in both clusters, and write none of them."""
    before = snapshot(child, agent_objects_in_child())
    tokens_before = bootstrap_token_names(parent)
    result = join(fleet, "--child-kubeconfig", str(fleet.children[1].kubeconfig), f"--dry-run={mode}")
    assert result.exit_code == 0, result.stderr
    suffix = " (dry run)" if mode == "client" else " (server dry run)"
    lines = result.stdout.splitlines()
    assert lines[0].startswith("bootstrap token") and lines[0].endswith(suffix)
    assert all(line.endswith(suffix) for line in lines)
    written = [line.split(" ")[0] for line in lines[1:]]
    assert written[0] == f"namespace/{SYSTEM}"
    assert "secret/clusternet-agent-cluster-registration" in written
    assert written[-1] == "deployment.apps/clusternet-agent"
    assert snapshot(child, agent_objects_in_child()) == before
    assert bootstrap_token_names(parent) == tokens_before


def test_join_installs_the_agent_and_a_second_join_changes_nothing(
    fleet: FleetState, parent: RestClient, child: RestClient, new_tokens: set[str]
) -> None:
    """A real join writes the agent's Secret (this parent's URL, a bootstrap token that works there), RBAC and
    Deployment into the child; joining again reuses the token and reports every object unchanged."""
    child_kubeconfig = str(fleet.children[1].kubeconfig)
    args = ("--child-kubeconfig", child_kubeconfig, "--cluster-name", "e2e-joined", "--image", TEST_IMAGE)
    first = join(fleet, *args, "--replicas", "1")
    assert first.exit_code == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith('bootstrap token "') and "created in the parent" in lines[0]
    for expected in [
        "serviceaccount/clusternet-agent created",
        "clusterrolebinding.rbac.authorization.k8s.io/clusternet:app:deployer created",
        "secret/clusternet-agent-cluster-registration created",
        "deployment.apps/clusternet-agent created",
    ]:
        assert expected in lines
    assert lines[-1] == "  kubectl clusternet get mcls -A -w"

    namespace = child.get(NAMESPACE.object_path(SYSTEM))
    assert namespace["status"]["phase"] == "Active"
    secret = child.get(SECRET.object_path("clusternet-agent-cluster-registration", SYSTEM))
    parent_url = base64.b64decode(secret["data"]["parentURL"]).decode()
    token = base64.b64decode(secret["data"]["regToken"]).decode()
    assert parent_url == fleet.parent.server
    assert f'"{token.split(".")[0]}"' in lines[0]

    # The token authenticates at the parent and may read registration requests (a missing one is a 404,
    # not a 401 or 403).
    as_agent = RestClient(token_connection(parent_url, token, fleet.parent.ca_file.read_bytes()))
    try:
        with pytest.raises(ApiError) as refused:
            as_agent.get(CLUSTER_REGISTRATION_REQUEST.object_path("clusternet-no-such-cluster"))
        assert refused.value.status == 404
    finally:
        as_agent.close()

    deployment = child.get(DEPLOYMENT.object_path("clusternet-agent", SYSTEM))
    assert deployment["spec"]["replicas"] == 1
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == TEST_IMAGE
    assert "--cluster-reg-name=e2e-joined" in container["args"]
    assert "--cluster-sync-mode=Pull" in container["args"]
    assert {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]} == {
        "PARENT_URL": "parentURL",
        "REG_TOKEN": "regToken",
    }
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "clusternet-agent"
    deployer = child.get(CLUSTER_ROLE_BINDING.object_path("clusternet:app:deployer"))
    assert deployer["roleRef"]["name"] == "cluster-admin"
    assert deployer["subjects"] == [
        {"kind": "ServiceAccount", "name": "clusternet-agent", "namespace": SYSTEM},
        {"kind": "ServiceAccount", "name": "clusternet-app-deployer", "namespace": SYSTEM},
    ]
    assert child.get(CLUSTER_ROLE.object_path("clusternet:agent:admin"))
    assert child.get(SERVICE_ACCOUNT.object_path("clusternet-agent", SYSTEM))

    tokens = bootstrap_token_names(parent)
    again = join(fleet, *args, "--replicas", "1")
    assert again.exit_code == 0, again.stderr
    again_lines = again.stdout.splitlines()
    assert again_lines[0].startswith("using the bootstrap token already stored in the child")
    object_lines = again_lines[1 : again_lines.index("")]
    assert len(object_lines) == len(agent_objects_in_child())
    assert all(line.endswith(" unchanged") for line in object_lines), again.stdout
    assert bootstrap_token_names(parent) == tokens
    assert (
        child.get(SECRET.object_path("clusternet-agent-cluster-registration", SYSTEM))["data"]
        == secret["data"]
    )


def limited_kubeconfig(child_info: ClusterInfo, child: RestClient, directory: Path) -> Path:
    """A kubeconfig for child-2 whose user may read everything and create namespaces, but write nothing else."""
    name = "join-e2e-limited"
    rbac = "rbac.authorization.k8s.io"
    child.create(SERVICE_ACCOUNT.collection_path("default"), {"metadata": {"name": name}})
    child.create(
        CLUSTER_ROLE.collection_path(),
        {
            "metadata": {"name": name},
            "rules": [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]},
                {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create", "patch", "delete"]},
            ],
        },
    )
    child.create(
        CLUSTER_ROLE_BINDING.collection_path(),
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "default"}],
        },
    )
    issued = child.create(SERVICE_ACCOUNT.object_path(name, "default") + "/token", token_request(3600))
    path = directory / "limited.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "child-2",
                        "cluster": {
                            "server": child_info.server,
                            "certificate-authority-data": base64.b64encode(
                                child_info.ca_file.read_bytes()
                            ).decode(),
                        },
                    }
                ],
                "users": [{"name": name, "user": {"token": issued["status"]["token"]}}],
                "contexts": [{"name": name, "context": {"cluster": "child-2", "user": name}}],
                "current-context": name,
            }
        )
    )
    return path


def test_join_the_child_refuses_leaves_nothing_behind(
    fleet: FleetState,
    parent: RestClient,
    child: RestClient,
    child_info: ClusterInfo,
    new_tokens: set[str],
    tmp_path: Path,
) -> None:
    """With credentials that cannot write the agent's objects, join stops at the child's refusal with one
    error line: no object of the agent in the child, no token in the parent, the namespace only if it was
    there before."""
    namespace_existed = get_or_none(child, NAMESPACE.object_path(SYSTEM)) is not None
    before = snapshot(child, agent_objects_in_child()[1:])
    tokens_before = bootstrap_token_names(parent)
    try:
        kubeconfig = limited_kubeconfig(child_info, child, tmp_path)
        result = join(fleet, "--child-kubeconfig", str(kubeconfig))
    finally:
        for path in (
            CLUSTER_ROLE_BINDING.object_path("join-e2e-limited"),
            CLUSTER_ROLE.object_path("join-e2e-limited"),
            SERVICE_ACCOUNT.object_path("join-e2e-limited", "default"),
        ):
            delete_quietly(child, path)
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: the child cluster refused ") and "forbidden" in line
    assert snapshot(child, agent_objects_in_child()[1:]) == before
    assert bootstrap_token_names(parent) == tokens_before
    namespace = get_or_none(child, NAMESPACE.object_path(SYSTEM))
    if not namespace_existed:
        assert namespace is None or namespace["status"]["phase"] == "Terminating"


def unreachable_kubeconfig(child_info: ClusterInfo, directory: Path) -> Path:
    """child-2's kubeconfig, pointed at a loopback port nothing listens on."""
    config = yaml.safe_load(child_info.kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:1"
    path = directory / "unreachable.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        pytest.param(
            "missing file",
            "error: cannot use --child-kubeconfig {path}: stat {path}: no such file or directory",
            id="missing-file",
        ),
        pytest.param(
            "unreachable child",
            "error: cannot reach the child cluster at https://127.0.0.1:1: ",
            id="unreachable",
        ),
        pytest.param("parent without the CRDs", "error: the parent cluster (", id="no-crds"),
        pytest.param("no child kubeconfig", "error: join needs --child-kubeconfig FILE", id="no-flag"),
    ],
)
def test_join_errors_are_one_line_and_write_nothing(
    fleet: FleetState,
    parent: RestClient,
    child: RestClient,
    child_info: ClusterInfo,
    new_tokens: set[str],
    tmp_path: Path,
    case: str,
    message: str,
) -> None:
    """Unreadable child kubeconfig, unreachable child, a parent without Clusternet's CRDs (child-1 stands in
    for one), a missing flag: one ``error:`` line, exit 1, nothing written in either cluster."""
    parent_kubeconfig = str(fleet.parent.kubeconfig)
    child_kubeconfig = str(child_info.kubeconfig)
    if case == "missing file":
        child_kubeconfig = str(tmp_path / "no-such.kubeconfig")
        message = message.format(path=child_kubeconfig)
    elif case == "unreachable child":
        child_kubeconfig = str(unreachable_kubeconfig(child_info, tmp_path))
    elif case == "parent without the CRDs":
        parent_kubeconfig = str(fleet.children[0].kubeconfig)
    before = snapshot(child, agent_objects_in_child())
    tokens_before = bootstrap_token_names(parent)
    args = ["--kubeconfig", parent_kubeconfig, "join"]
    if case != "no child kubeconfig":
        args += ["--child-kubeconfig", child_kubeconfig]
    result = run_cli(*args)
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(message), line
    if case == "parent without the CRDs":
        assert "run 'kubectl clusternet hub install' against it first" in line
    assert snapshot(child, agent_objects_in_child()) == before
    assert bootstrap_token_names(parent) == tokens_before
