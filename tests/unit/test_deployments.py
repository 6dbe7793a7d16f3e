"""The hub and agent workloads (core/deployments.py): what the daemons will actually be started with, how the
pods are locked down, and how the pieces refer to each other. Run-time checks against a real API server are in
tests/e2e/test_deploy_manifests.py."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from agent_lite.options import parse_options as parse_agent_options
from agent_lite.options import validate_parent_url, validate_registration_token
from hub_lite.options import parse_options as parse_hub_options
from kubectl_clusternet.core.deployments import (
    AGENT_HEALTHZ_PORT,
    DEFAULT_IMAGE,
    HUB_SERVING_SECRET,
    agent_deployment,
    agent_objects,
    agent_rbac_objects,
    hub_deployment,
    hub_proxy_deployment,
    hub_serving_secret,
    hub_workload_objects,
    registration_secret,
    registration_secret_template,
    registration_values,
)
from kubectl_clusternet.core.errors import UsageError
from kubectl_clusternet.core.manifests import render_deploy_files

PARENT_URL = "https://parent.example.com:6443"
TOKEN = "abcdef.0123456789abcdef"


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


def _container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in _containers(deployment) if c["name"] == name)


def _agent_environment(deployment: dict[str, Any], secret: dict[str, Any]) -> dict[str, str]:
    """The environment the kubelet would give the agent container, resolving secretKeyRefs against ``secret``."""
    data = secret.get("data") or {}
    environ = {}
    for entry in _container(deployment, "agent")["env"]:
        reference = entry["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret["metadata"]["name"]
        environ[entry["name"]] = base64.b64decode(data[reference["key"]]).decode()
    return environ


@pytest.mark.parametrize(
    ("sync_mode", "cluster_name", "gates"),
    [
        ("Pull", None, {"SocketConnection": True}),
        ("Pull", "edge-1", {"SocketConnection": True}),
        ("Push", "edge-2", {"SocketConnection": True, "AppPusher": True}),
        ("Dual", None, {"SocketConnection": True, "AppPusher": True}),
    ],
)
def test_agent_starts_with_what_the_secret_and_flags_say(
    sync_mode: str, cluster_name: str | None, gates: dict[str, bool]
) -> None:
    """agent-lite accepts the Deployment's args plus the environment taken from the registration Secret, and
    ends up with the parent URL, token, sync mode and name the user asked for, leader-elected, health on."""
    deployment = agent_deployment(sync_mode=sync_mode, cluster_name=cluster_name)
    args = _container(deployment, "agent")["args"]
    assert args[0] == "agent-lite"
    environ = _agent_environment(deployment, registration_secret(PARENT_URL, TOKEN))
    options = parse_agent_options(args[1:], environ)
    assert options.parent_url == PARENT_URL
    assert options.registration_token == TOKEN
    assert options.sync_mode == sync_mode
    assert options.cluster_name == cluster_name
    assert options.feature_gates == gates
    assert options.leader_elect is True
    assert options.kubeconfig is None  # in-cluster credentials
    assert options.log_format == "json"
    assert options.healthz_port == AGENT_HEALTHZ_PORT


@pytest.mark.parametrize(
    ("sync_mode", "cluster_name", "message"),
    [
        ("Sometimes", None, "invalid sync mode"),
        ("Pull", "Edge_1", "cluster name"),
        ("Pull", "a" * 31, "cluster name"),
    ],
)
def test_agent_deployment_refuses_what_the_agent_would_refuse(
    sync_mode: str, cluster_name: str, message: str
) -> None:
    """A bad mode or name fails when the manifest is built, not later in a crash-looping pod."""
    with pytest.raises(UsageError, match=message):
        agent_deployment(sync_mode=sync_mode, cluster_name=cluster_name)


def test_agent_env_survives_a_deleted_registration_secret() -> None:
    """The Secret's keys are optional: a registered agent keeps starting after the token Secret is removed."""
    for entry in _container(agent_deployment(), "agent")["env"]:
        assert entry["valueFrom"]["secretKeyRef"]["optional"] is True
    assert parse_agent_options(_container(agent_deployment(), "agent")["args"][1:], {}).parent_url is None


def test_hub_starts_leader_elected_with_health_reachable_by_the_kubelet() -> None:
    """hub-lite accepts the Deployment's args: JSON logs, leader election, health on 8080 on every address."""
    hub = _container(hub_deployment(), "hub")
    assert hub["args"][0] == "hub-lite"
    options = parse_hub_options(hub["args"][1:])
    assert options.log_format == "json"
    assert options.leader_elect is True
    assert options.healthz_port == 8080
    assert options.healthz_bind_address == "0.0.0.0"
    assert options.kubeconfig == ""  # in-cluster credentials
    ports = {p["name"]: p["containerPort"] for p in hub["ports"]}
    assert hub["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert hub["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "healthz"}
    assert ports["healthz"] == options.healthz_port


def test_agent_probes_ask_its_loopback_health_server() -> None:
    """agent-lite serves /healthz and /readyz on 127.0.0.1 only, so the probes run inside the container."""
    agent = _container(agent_deployment(), "agent")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        command = agent[probe]["exec"]["command"]
        assert command[:2] == ["python", "-c"]
        assert f"http://127.0.0.1:{AGENT_HEALTHZ_PORT}{path}" in command[2]
        compile(command[2], "<probe>", "exec")


@pytest.mark.parametrize(
    ("deployment", "expected_replicas", "expected_image"),
    [
        (hub_deployment(), 3, DEFAULT_IMAGE),
        (hub_deployment("registry.example.com/clusternet:1", 5), 5, "registry.example.com/clusternet:1"),
        (hub_proxy_deployment("registry.example.com/clusternet:1"), 1, "registry.example.com/clusternet:1"),
        (agent_deployment(), 3, DEFAULT_IMAGE),
        (agent_deployment("registry.example.com/clusternet:1", 1), 1, "registry.example.com/clusternet:1"),
    ],
    ids=["hub-default", "hub-custom", "proxy", "agent-default", "agent-custom"],
)
def test_pods_run_locked_down_with_the_chosen_image(
    deployment: dict[str, Any], expected_replicas: int, expected_image: str
) -> None:
    """Every container: the chosen image, not root, read-only root filesystem, no privilege escalation, no
    capabilities, requests and limits, and a writable /tmp on an emptyDir."""
    assert deployment["spec"]["replicas"] == expected_replicas
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in _containers(deployment):
        assert container["image"] == expected_image
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert set(container["resources"]) == {"requests", "limits"}
        tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
        assert "emptyDir" in volumes[tmp["name"]]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("replicas", [0, -1])
def test_replicas_must_be_positive(replicas: int) -> None:
    for build in (hub_deployment, agent_deployment):
        with pytest.raises(UsageError, match="replicas"):
            build(DEFAULT_IMAGE, replicas)


@pytest.mark.parametrize(
    "ca_bundle", [None, b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"]
)
def test_hub_service_leads_the_aggregator_to_the_proxy(ca_bundle: bytes | None) -> None:
    """APIService -> Service (name, namespace, port) -> a named container port of the hub's pods, and the
    APIService comes last so the aggregator never points at nothing; with a CA it verifies the hub."""
    service, hub, deployment, api_service = hub_workload_objects("img:1", 2, ca_bundle_pem=ca_bundle)
    assert [service["kind"], hub["kind"], deployment["kind"], api_service["kind"]] == [
        "Service",
        "Deployment",
        "Deployment",
        "APIService",
    ]
    assert hub["spec"]["replicas"] == 2
    # Tunnels live in the replica an agent dialled: one proxy, never two side by side during a rollout.
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    hub_labels = hub["spec"]["template"]["metadata"]["labels"]
    assert not service["spec"]["selector"].items() <= hub_labels.items()
    target = api_service["spec"]["service"]
    assert (target["name"], target["namespace"]) == (
        service["metadata"]["name"],
        service["metadata"]["namespace"],
    )
    port = next(p for p in service["spec"]["ports"] if p["port"] == target["port"])
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container_ports = {p["name"] for c in _containers(deployment) for p in c.get("ports", [])}
    assert port["targetPort"] in container_ports
    if ca_bundle is None:
        assert api_service["spec"]["insecureSkipTLSVerify"] is True
    else:
        assert base64.b64decode(api_service["spec"]["caBundle"]) == ca_bundle
        assert "insecureSkipTLSVerify" not in api_service["spec"]


def test_hub_proxy_reads_its_serving_certificate_from_the_secret() -> None:
    deployment = hub_proxy_deployment()
    proxy = _container(deployment, "proxy")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mount = next(m for m in proxy["volumeMounts"] if m["name"] in volumes and "secret" in volumes[m["name"]])
    assert volumes[mount["name"]]["secret"]["secretName"] == HUB_SERVING_SECRET
    assert f"{mount['mountPath']}/tls.crt" in proxy["args"]
    assert f"{mount['mountPath']}/tls.key" in proxy["args"]
    secret = hub_serving_secret(b"CERT", b"KEY", b"CA")
    assert secret["metadata"]["name"] == HUB_SERVING_SECRET
    assert {k: base64.b64decode(v) for k, v in secret["data"].items()} == {
        "tls.crt": b"CERT",
        "tls.key": b"KEY",
        "ca.crt": b"CA",
    }


@pytest.mark.parametrize(
    ("parent_url", "token"),
    [
        (PARENT_URL, TOKEN),
        ("https://192.0.2.1", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
    ],
)
def test_registration_secret_round_trips(parent_url: str, token: str) -> None:
    """Upstream's Secret name and keys, readable back exactly as written."""
    secret = registration_secret(parent_url, token)
    assert secret["metadata"] == secret["metadata"] | {
        "name": "clusternet-agent-cluster-registration",
        "namespace": "clusternet-system",
    }
    assert set(secret["data"]) == {"parentURL", "regToken"}
    assert registration_values(secret) == (parent_url, token)


def test_registration_template_cannot_be_used_unfilled() -> None:
    """The template's placeholders are obviously placeholders, and the agent refuses them."""
    template = registration_secret_template()
    values = template["stringData"]
    with pytest.raises(UsageError):
        validate_parent_url(values["parentURL"])
    with pytest.raises(UsageError):
        validate_registration_token(values["regToken"])


def _by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_agent_rbac_grants_what_the_agent_does() -> None:
    """Leases and Secrets in its namespace, nodes and pods read cluster-wide, namespaces created, and
    cluster-admin through clusternet:app:deployer (Descriptions may hold anything), all for one account."""
    objects = agent_rbac_objects()
    accounts = {a["metadata"]["name"]: a for a in _by_kind(objects, "ServiceAccount")}
    assert set(accounts) == {"clusternet-agent", "clusternet-app-deployer"}
    account = accounts["clusternet-agent"]

    def subject(name: str) -> dict[str, str]:
        return {"kind": "ServiceAccount", "name": name, "namespace": "clusternet-system"}

    bindings = {b["metadata"]["name"]: b for b in _by_kind(objects, "ClusterRoleBinding")}
    deployer = bindings.pop("clusternet:app:deployer")
    assert deployer["roleRef"]["name"] == "cluster-admin"
    assert deployer["subjects"] == [subject("clusternet-agent"), subject("clusternet-app-deployer")]
    for binding in _by_kind(objects, "RoleBinding") + list(bindings.values()):
        assert binding["subjects"] == [subject("clusternet-agent")]

    def allowed(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
        return any(
            group in r.get("apiGroups", []) and resource in r.get("resources", []) and verb in r["verbs"]
            for r in rules
        )

    (role,) = _by_kind(objects, "Role")
    assert role["metadata"]["namespace"] == "clusternet-system"
    for group, resource, verb in [
        ("coordination.k8s.io", "leases", "create"),
        ("coordination.k8s.io", "leases", "update"),
        ("", "secrets", "get"),
        ("", "secrets", "create"),
        ("", "secrets", "update"),
        ("", "serviceaccounts/token", "create"),
    ]:
        assert allowed(role["rules"], group, resource, verb), (group, resource, verb)
    (cluster_role,) = _by_kind(objects, "ClusterRole")
    for group, resource, verb in [("", "nodes", "list"), ("", "pods", "list"), ("", "namespaces", "create")]:
        assert allowed(cluster_role["rules"], group, resource, verb), (group, resource, verb)
    deployment = agent_deployment()
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_agent_objects_come_in_an_order_that_applies_cleanly() -> None:
    """Namespace first, the Deployment last (its pods read the Secret and the account), nothing twice."""
    objects = agent_objects(PARENT_URL, TOKEN, image="img:2", replicas=1, cluster_name="edge-9")
    kinds = [o["kind"] for o in objects]
    assert kinds[0] == "Namespace" and kinds[-1] == "Deployment"
    assert kinds.index("Secret") < kinds.index("Deployment")
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys))
    assert all(o["metadata"].get("namespace") in (None, "clusternet-system") for o in objects)
    assert objects[-1]["spec"]["replicas"] == 1
    assert "--cluster-reg-name=edge-9" in _container(objects[-1], "agent")["args"]


@pytest.mark.parametrize(
    ("path", "kinds"),
    [
        ("deploy/hub/clusternet_hub_deployment.yaml", ["Service", "Deployment", "Deployment"]),
        ("deploy/hub/clusternet_hub_apiservice.yaml", ["APIService"]),
        (
            "deploy/agent/clusternet_agent_rbac.yaml",
            [
                "Namespace",
                "ServiceAccount",
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "ClusterRole",
                "ClusterRoleBinding",
                "ClusterRoleBinding",
            ],
        ),
        ("deploy/agent/clusternet_agent_registration_secret.yaml", ["Secret"]),
        ("deploy/agent/clusternet_agent_deployment.yaml", ["Deployment"]),
    ],
)
def test_deploy_files_hold_the_workloads(path: str, kinds: list[str]) -> None:
    """Each generated file is plain YAML documents of the expected kinds (no aliases kubectl would choke on)."""
    text = render_deploy_files()[path]
    assert "&id" not in text and "*id" not in text
    documents = [d for d in yaml.safe_load_all(text) if d]
    assert [d["kind"] for d in documents] == kinds
