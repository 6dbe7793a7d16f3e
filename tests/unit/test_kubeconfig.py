"""kubeconfig loading: kubectl's file selection, first-wins merge, flag overrides and error messages.

Where kubectl can answer offline (``kubectl config …`` and configuration errors raised before any dialing),
the real kubectl 1.32 binary is the oracle: the same files and flags must give the same answer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubectl_clusternet.core.errors import ConfigError, UsageError
from kubectl_clusternet.core.kube.kubeconfig import (
    INVALID_TIMEOUT_MESSAGE,
    NO_CONFIGURATION_MESSAGE,
    NO_CONTEXT_MESSAGE,
    ConfigOverrides,
    ResolvedConfig,
    kubeconfig_paths,
    load_and_resolve,
    load_merged,
    parse_duration,
    parse_request_timeout,
    resolve,
)

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
UNREACHABLE_SERVER = "https://127.0.0.1:1"  # refused at once, should any kubectl call get as far as dialing


# -- helpers ------------------------------------------------------------------------------------------


def write_kubeconfig(path: Path, document: Mapping[str, Any] | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(dict(document)))
    return path


def kubeconfig(
    *,
    current: str | None = None,
    clusters: Mapping[str, Mapping[str, Any]] | None = None,
    users: Mapping[str, Mapping[str, Any]] | None = None,
    contexts: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    document: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    if current is not None:
        document["current-context"] = current
    for key, body_key, entries in (
        ("clusters", "cluster", clusters),
        ("users", "user", users),
        ("contexts", "context", contexts),
    ):
        if entries is not None:
            document[key] = [{"name": name, body_key: dict(body)} for name, body in entries.items()]
    return document


def run_kubectl(args: list[str], kubeconfig_env: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """kubectl with nothing from this machine's environment but PATH: no real kubeconfig, no in-cluster config."""
    home = cwd / "kubectl-home"
    home.mkdir(exist_ok=True)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "KUBECONFIG": kubeconfig_env,
    }
    return subprocess.run(
        [KUBECTL, *args], env=environment, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def kubectl_flags(overrides: ConfigOverrides) -> list[str]:
    """The kubectl command line that means the same as ``overrides``."""
    flags: list[str] = []
    for option, value in (
        ("--kubeconfig", overrides.kubeconfig),
        ("--context", overrides.context),
        ("--cluster", overrides.cluster),
        ("--user", overrides.user),
        ("--namespace", overrides.namespace),
        ("--server", overrides.server),
        ("--token", overrides.token),
        ("--as", overrides.as_user),
        ("--as-uid", overrides.as_uid),
        ("--certificate-authority", overrides.certificate_authority),
        ("--client-certificate", overrides.client_certificate),
        ("--client-key", overrides.client_key),
        ("--tls-server-name", overrides.tls_server_name),
        ("--request-timeout", overrides.request_timeout),
        ("--username", overrides.username),
        ("--password", overrides.password),
    ):
        if value is not None:
            flags.append(f"{option}={value}")
    flags += [f"--as-group={group}" for group in overrides.as_groups]
    if overrides.insecure_skip_tls_verify is not None:
        flags.append(f"--insecure-skip-tls-verify={str(overrides.insecure_skip_tls_verify).lower()}")
    return flags


def config_error(merged: Mapping[str, Any], overrides: ConfigOverrides, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        resolve(merged, overrides, **kwargs)
    return caught.value.message


# -- which files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "kubeconfig_entries", "existing", "expected"),
    [
        pytest.param("a", ["b"], ["a", "b"], ["a"], id="explicit-replaces-KUBECONFIG"),
        pytest.param(None, ["a", "b"], ["a", "b"], ["a", "b"], id="KUBECONFIG-in-order"),
        pytest.param(None, ["b", "a"], ["a", "b"], ["b", "a"], id="KUBECONFIG-order-kept"),
        pytest.param(None, ["a", "missing", "b"], ["a", "b"], ["a", "b"], id="missing-file-skipped"),
        pytest.param(None, ["", "a", "", "b", ""], ["a", "b"], ["a", "b"], id="empty-entries-skipped"),
        pytest.param(None, ["a", "b", "a"], ["a", "b"], ["a", "b"], id="repeated-entry-loaded-once"),
        pytest.param(None, ["missing"], [], [], id="only-missing-files"),
        pytest.param(
            None, [], ["home/.kube/config"], ["home/.kube/config"], id="empty-KUBECONFIG-means-home"
        ),
        pytest.param(None, None, ["home/.kube/config"], ["home/.kube/config"], id="no-KUBECONFIG-means-home"),
        pytest.param(None, None, [], [], id="no-home-config"),
        pytest.param("", ["a"], ["a"], ["a"], id="empty-explicit-is-not-given"),
    ],
)
def test_kubeconfig_paths_follow_kubectl_precedence(
    tmp_path: Path,
    explicit: str | None,
    kubeconfig_entries: list[str] | None,
    existing: list[str],
    expected: list[str],
) -> None:
    """--kubeconfig wins, else KUBECONFIG's existing files in order without repeats, else ~/.kube/config."""
    for name in existing:
        write_kubeconfig(tmp_path / name, "")
    environ = {"HOME": str(tmp_path / "home")}
    if kubeconfig_entries is not None:
        environ["KUBECONFIG"] = os.pathsep.join(
            str(tmp_path / name) if name else "" for name in kubeconfig_entries
        )
    explicit_path = str(tmp_path / explicit) if explicit else explicit
    assert kubeconfig_paths(explicit_path, environ) == [tmp_path / name for name in expected]


def test_kubeconfig_paths_use_windows_separator_when_os_pathsep_is_semicolon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KUBECONFIG is split on os.pathsep, so a ';'-separated list works where ';' is the separator."""
    first = write_kubeconfig(tmp_path / "first", "")
    second = write_kubeconfig(tmp_path / "second", "")
    monkeypatch.setattr(os, "pathsep", ";")
    assert kubeconfig_paths(None, {"KUBECONFIG": f"{first};{second}"}) == [first, second]


def test_missing_explicit_kubeconfig_fails_with_kubectls_message(tmp_path: Path) -> None:
    """A --kubeconfig that does not exist is an error worded exactly as kubectl words it."""
    missing = str(tmp_path / "nope")
    with pytest.raises(ConfigError) as caught:
        kubeconfig_paths(missing, {})
    assert caught.value.message == f"stat {missing}: no such file or directory"
    result = run_kubectl(["--kubeconfig", missing, "get", "namespaces"], "", tmp_path)
    assert result.stderr.strip() == f"error: {caught.value.message}"


# -- merging ------------------------------------------------------------------------------------------

PARENT = kubeconfig(
    current="parent",
    clusters={
        "parent": {"server": "https://parent.example:6443", "certificate-authority": "/etc/parent/ca.crt"},
        "shared": {"server": "https://shared-from-parent:6443", "insecure-skip-tls-verify": True},
    },
    users={
        "admin": {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"},
        "shared-user": {"token": "parent-token"},
    },
    contexts={
        "parent": {"cluster": "parent", "user": "admin", "namespace": "clusternet-system"},
        "shared": {"cluster": "shared", "user": "shared-user"},
    },
)
CHILD = kubeconfig(
    current="child",
    clusters={
        "child": {"server": "https://child.example:6443", "tls-server-name": "child.internal"},
        "shared": {"server": "https://shared-from-child:6443", "tls-server-name": "only-in-child"},
    },
    users={"child-admin": {"token": "child-token"}, "shared-user": {"token": "child-token", "as": "someone"}},
    contexts={
        "child": {"cluster": "child", "user": "child-admin"},
        "shared": {"cluster": "child", "user": "child-admin", "namespace": "from-child"},
    },
)
NO_CURRENT = kubeconfig(
    clusters={"lonely": {"server": "https://lonely:6443"}},
    contexts={"lonely": {"cluster": "lonely", "user": "nobody"}},
)
ORACLE_FILES = {"parent": PARENT, "child": CHILD, "nocurrent": NO_CURRENT}


@pytest.mark.parametrize(
    ("order", "context"),
    [
        pytest.param(["parent", "child"], None, id="both-set-current-context-first-wins"),
        pytest.param(["child", "parent"], None, id="reversed-order"),
        pytest.param(["nocurrent", "child"], None, id="first-without-current-context"),
        pytest.param(["parent", "missing", "child"], None, id="missing-file-in-the-middle"),
        pytest.param(["", "child", "", "parent"], None, id="empty-entries"),
        pytest.param(["parent", "child"], "shared", id="duplicate-context-and-cluster-first-wins"),
        pytest.param(["child", "parent"], "shared", id="duplicate-names-reversed"),
        pytest.param(["parent", "child"], "child", id="context-only-in-second-file"),
    ],
)
def test_merge_matches_kubectl(tmp_path: Path, order: list[str], context: str | None) -> None:
    """Our current-context, cluster, user and namespace equal kubectl's for the same KUBECONFIG and --context."""
    for name, document in ORACLE_FILES.items():
        write_kubeconfig(tmp_path / name, document)
    kubeconfig_env = os.pathsep.join(str(tmp_path / name) if name else "" for name in order)
    environ = {"KUBECONFIG": kubeconfig_env, "HOME": str(tmp_path)}
    resolved = resolve(
        load_merged(kubeconfig_paths(None, environ)), ConfigOverrides(context=context), check_files=False
    )

    context_flags = [f"--context={context}"] if context else []
    current = run_kubectl(["config", "current-context"], kubeconfig_env, tmp_path)
    minified = run_kubectl(
        ["config", "view", "--minify", "--raw", "-o", "json", *context_flags], kubeconfig_env, tmp_path
    )
    assert current.returncode == 0, current.stderr
    assert minified.returncode == 0, minified.stderr
    view = json.loads(minified.stdout)
    kubectl_context = view["contexts"][0]["context"]
    assert resolved.context_name == (context or current.stdout.strip())
    assert resolved.cluster_name == kubectl_context["cluster"]
    assert resolved.user_name == kubectl_context.get("user", "")
    assert resolved.namespace == (kubectl_context.get("namespace") or "default")
    assert resolved.cluster == view["clusters"][0]["cluster"]
    assert resolved.user == ((view["users"] or [{}])[0].get("user") or {})


@pytest.mark.parametrize(
    ("documents", "expected_current_context"),
    [
        pytest.param(
            [kubeconfig(current="first"), kubeconfig(current="second")], "first", id="first-file-wins"
        ),
        pytest.param([kubeconfig(), kubeconfig(current="second")], "second", id="first-sets-none"),
        pytest.param([kubeconfig(current=""), kubeconfig(current="second")], "second", id="first-sets-empty"),
        pytest.param([kubeconfig(), kubeconfig()], "", id="nobody-sets-it"),
    ],
)
def test_current_context_first_file_to_set_it_wins(
    tmp_path: Path, documents: list[dict[str, Any]], expected_current_context: str
) -> None:
    """current-context comes from the first file that sets one (the official Python client takes the last)."""
    paths = [
        write_kubeconfig(tmp_path / f"config-{index}", document) for index, document in enumerate(documents)
    ]
    assert load_merged(paths)["current-context"] == expected_current_context


def test_duplicate_cluster_keeps_the_first_entry_whole(tmp_path: Path) -> None:
    """A later file's cluster with the same name is dropped entirely, even keys the first entry lacks."""
    first = write_kubeconfig(tmp_path / "first", kubeconfig(clusters={"x": {"server": "https://first"}}))
    second = write_kubeconfig(
        tmp_path / "second",
        kubeconfig(
            clusters={"x": {"server": "https://second", "tls-server-name": "n"}, "y": {"server": "https://y"}}
        ),
    )
    merged = load_merged([first, second])
    assert merged["clusters"] == [
        {"name": "x", "cluster": {"server": "https://first"}},
        {"name": "y", "cluster": {"server": "https://y"}},
    ]


def test_preferences_merge_first_wins(tmp_path: Path) -> None:
    """preferences follow the same first-file-wins rule as every other value."""
    first = write_kubeconfig(tmp_path / "first", "preferences: {colors: true}\n")
    second = write_kubeconfig(tmp_path / "second", "preferences: {colors: false, other: 1}\n")
    assert load_merged([first, second])["preferences"] == {"colors": True, "other": 1}


@pytest.mark.parametrize(
    ("text", "expected_clusters"),
    [
        pytest.param("", [], id="empty-file"),
        pytest.param("# only a comment\n", [], id="comment-only"),
        pytest.param("clusters: null\nusers: ~\n", [], id="null-lists"),
        pytest.param("apiVersion: v1\n", [], id="no-kind"),
        pytest.param("kind: Config\n", [], id="no-api-version"),
        pytest.param("clusters:\n- name: a\n", [{"name": "a", "cluster": {}}], id="entry-without-body"),
        pytest.param(
            "clusters:\n- name: a\n  cluster: {server: null, unknown-field: 1}\n",
            [{"name": "a", "cluster": {"unknown-field": 1}}],
            id="null-means-absent",
        ),
        pytest.param(
            "clusters:\n- cluster: {server: https://nameless}\n",
            [{"name": "", "cluster": {"server": "https://nameless"}}],
            id="empty-name-kept-as-kubectl-does",
        ),
        pytest.param(
            "clusters:\n- name: d\n  cluster: {server: 2024-01-02}\n",
            [{"name": "d", "cluster": {"server": "2024-01-02"}}],
            id="date-like-value-stays-text",
        ),
        pytest.param(
            '{"clusters": [{"name": "j", "cluster": {"server": "https://json"}}]}',
            [{"name": "j", "cluster": {"server": "https://json"}}],
            id="json-file",
        ),
    ],
)
def test_lenient_inputs_load_like_kubectl(tmp_path: Path, text: str, expected_clusters: list[Any]) -> None:
    """Empty files, nulls, missing apiVersion/kind and unknown fields are accepted, as kubectl accepts them."""
    path = write_kubeconfig(tmp_path / "config", text)
    assert load_merged([path])["clusters"] == expected_clusters


def test_missing_file_is_skipped(tmp_path: Path) -> None:
    """A path that does not exist contributes nothing instead of failing."""
    present = write_kubeconfig(tmp_path / "present", kubeconfig(current="here"))
    assert load_merged([tmp_path / "absent", present])["current-context"] == "here"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        pytest.param("clusters: [ {\n", "yaml:", id="broken-yaml"),
        pytest.param("\tclusters: []\n", "yaml:", id="tab-indent"),
        pytest.param("- a\n- b\n", "must be a mapping, got list", id="list-document"),
        pytest.param("hello\n", "must be a mapping, got string", id="scalar-document"),
        pytest.param("kind: Pod\n", 'no kind "Pod" is registered for version "v1"', id="wrong-kind"),
        pytest.param(
            "apiVersion: v2\nkind: Config\n",
            'no kind "Config" is registered for version "v2"',
            id="wrong-api",
        ),
        pytest.param(
            "clusters: {a: b}\n", "clusters: expected a list, got mapping", id="clusters-not-a-list"
        ),
        pytest.param(
            "current-context: 12\n", "current-context: expected a string, got number", id="context-number"
        ),
        pytest.param("clusters:\n- name: 5\n", "clusters[0].name: expected a string", id="name-number"),
        pytest.param(
            "users:\n- just-text\n", "users[0]: expected a mapping, got string", id="entry-not-mapping"
        ),
        pytest.param(
            "clusters:\n- name: a\n  cluster: {insecure-skip-tls-verify: 'true'}\n",
            "clusters[0].cluster.insecure-skip-tls-verify: expected a boolean, got string",
            id="bool-as-string",
        ),
        pytest.param(
            "contexts:\n- name: c\n  context: {namespace: no}\n",
            "contexts[0].context.namespace: expected a string, got boolean",
            id="yaml11-boolean-namespace",
        ),
        pytest.param(
            "users:\n- name: u\n  user: {client-key-data: '@@@'}\n",
            "users[0].user.client-key-data: illegal base64 data",
            id="bad-base64",
        ),
        pytest.param(
            "users:\n- name: u\n  user: {as-groups: a}\n",
            "users[0].user.as-groups: expected a list of strings",
            id="groups",
        ),
        pytest.param(
            "clusters:\n- name: x\n  cluster: {server: a}\n- name: x\n  cluster: {server: b}\n",
            'duplicate name "x" in clusters',
            id="duplicate-in-one-file",
        ),
        pytest.param(
            "clusters:\n- cluster: {server: a}\n- cluster: {server: b}\n",
            'duplicate name "" in clusters',
            id="two-nameless-entries",
        ),
    ],
)
def test_invalid_file_is_an_error_naming_the_file(tmp_path: Path, text: str, detail: str) -> None:
    """A file kubectl refuses to load raises ConfigError that names the file and says what is wrong."""
    path = write_kubeconfig(tmp_path / "config", text)
    with pytest.raises(ConfigError) as caught:
        load_merged([path])
    assert caught.value.message.startswith(f'error loading config file "{path}": ')
    assert detail in caught.value.message
    kubectl = run_kubectl(["config", "view"], str(path), tmp_path)
    assert kubectl.returncode == 1
    assert f'error loading config file "{path}"' in kubectl.stderr


def test_directory_as_kubeconfig_fails_like_kubectl(tmp_path: Path) -> None:
    """A directory in place of a file gives kubectl's 'is a directory' error."""
    directory = tmp_path / "dir"
    directory.mkdir()
    with pytest.raises(ConfigError) as caught:
        load_merged([directory])
    kubectl = run_kubectl(["config", "view"], str(directory), tmp_path)
    assert kubectl.stderr.strip() == f"error: {caught.value.message}"


@pytest.mark.parametrize(
    ("section", "body", "expected"),
    [
        pytest.param(
            "cluster",
            {"certificate-authority": "pki/ca.crt"},
            {"certificate-authority": "{dir}/pki/ca.crt"},
            id="ca",
        ),
        pytest.param(
            "user", {"client-certificate": "a.crt"}, {"client-certificate": "{dir}/a.crt"}, id="client-cert"
        ),
        pytest.param(
            "user", {"client-key": "./keys/a.key"}, {"client-key": "{dir}/keys/a.key"}, id="client-key"
        ),
        pytest.param(
            "user", {"tokenFile": "../tok"}, {"tokenFile": "{parent}/tok"}, id="token-file-backstep"
        ),
        pytest.param(
            "user", {"client-key": "/abs/a.key"}, {"client-key": "/abs/a.key"}, id="absolute-unchanged"
        ),
        pytest.param(
            "user",
            {"exec": {"command": "bin/plugin", "apiVersion": "v"}},
            {"exec": {"command": "{dir}/bin/plugin", "apiVersion": "v"}},
            id="exec-command-path",
        ),
        pytest.param(
            "user",
            {"exec": {"command": "aws", "apiVersion": "v"}},
            {"exec": {"command": "aws", "apiVersion": "v"}},
            id="exec-command-on-PATH",
        ),
        pytest.param(
            "user", {"username": "rel/not-a-path"}, {"username": "rel/not-a-path"}, id="other-keys-untouched"
        ),
    ],
)
def test_relative_paths_resolve_against_the_files_directory(
    tmp_path: Path, section: str, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    """File references inside a kubeconfig are relative to that file's directory, not to the working directory."""
    directory = tmp_path / "configs"
    path = write_kubeconfig(directory / "config", {f"{section}s": [{"name": "entry", section: body}]})
    text = json.dumps(expected).replace("{dir}", str(directory)).replace("{parent}", str(tmp_path))
    assert load_merged([path])[f"{section}s"] == [{"name": "entry", section: json.loads(text)}]


def test_relative_path_resolution_matches_kubectls_error(tmp_path: Path) -> None:
    """The absolute path we compute for a relative, missing CA file is the one kubectl reports."""
    directory = tmp_path / "configs"
    path = write_kubeconfig(
        directory / "config",
        kubeconfig(
            current="c",
            clusters={"k": {"server": UNREACHABLE_SERVER, "certificate-authority": "missing/ca.crt"}},
            users={"u": {"token": "t"}},
            contexts={"c": {"cluster": "k", "user": "u"}},
        ),
    )
    message = config_error(load_merged([path]), ConfigOverrides())
    assert message == (
        f"unable to read certificate-authority {directory}/missing/ca.crt for k due to "
        f"open {directory}/missing/ca.crt: no such file or directory"
    )
    kubectl = run_kubectl(["get", "namespaces", "--request-timeout=2s"], str(path), tmp_path)
    assert message in kubectl.stderr


# -- resolving: selection, namespace, overrides ----------------------------------------------------------

BASE = kubeconfig(
    current="main",
    clusters={
        "main-cluster": {
            "server": "https://main:6443",
            "certificate-authority-data": "Y2E=",
            "tls-server-name": "main.internal",
        },
        "other-cluster": {"server": "https://other:6443", "insecure-skip-tls-verify": True},
    },
    users={
        "cert-user": {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"},
        "token-user": {"token": "file-token"},
    },
    contexts={
        "main": {"cluster": "main-cluster", "user": "cert-user", "namespace": "team-a"},
        "other": {"cluster": "other-cluster", "user": "token-user"},
        "ghost-user": {"cluster": "other-cluster", "user": "does-not-exist"},
    },
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(ConfigOverrides(), ("main", "main-cluster", "cert-user"), id="current-context"),
        pytest.param(
            ConfigOverrides(context="other"), ("other", "other-cluster", "token-user"), id="context-flag"
        ),
        pytest.param(
            ConfigOverrides(context=""), ("main", "main-cluster", "cert-user"), id="empty-flag-not-given"
        ),
        pytest.param(
            ConfigOverrides(cluster="other-cluster"),
            ("main", "other-cluster", "cert-user"),
            id="cluster-flag",
        ),
        pytest.param(
            ConfigOverrides(user="token-user"), ("main", "main-cluster", "token-user"), id="user-flag"
        ),
        pytest.param(
            ConfigOverrides(context="ghost-user"),
            ("ghost-user", "other-cluster", "does-not-exist"),
            id="unknown-user",
        ),
    ],
)
def test_selection_of_context_cluster_and_user(
    overrides: ConfigOverrides, expected: tuple[str, str, str]
) -> None:
    """--context picks the context, --cluster and --user replace the names the context gives."""
    resolved = resolve(BASE, overrides, check_files=False)
    assert (resolved.context_name, resolved.cluster_name, resolved.user_name) == expected


def test_context_naming_a_missing_user_connects_anonymously() -> None:
    """A context whose user entry does not exist gets no credentials at all, as kubectl does."""
    assert resolve(BASE, ConfigOverrides(context="ghost-user"), check_files=False).user == {}


@pytest.mark.parametrize(
    ("overrides", "expected_namespace", "expected_explicit"),
    [
        pytest.param(ConfigOverrides(namespace="flag-ns"), "flag-ns", True, id="flag-wins"),
        pytest.param(ConfigOverrides(), "team-a", False, id="context-namespace"),
        pytest.param(ConfigOverrides(context="other"), "default", False, id="default"),
        pytest.param(ConfigOverrides(context="other", namespace="x"), "x", True, id="flag-over-default"),
        pytest.param(ConfigOverrides(namespace=""), "team-a", False, id="empty-flag-not-given"),
        pytest.param(
            ConfigOverrides(server="https://s", context="other"), "default", False, id="server-only"
        ),
    ],
)
def test_namespace_precedence(
    overrides: ConfigOverrides, expected_namespace: str, expected_explicit: bool
) -> None:
    """The namespace comes from -n, else the selected context, else 'default'."""
    resolved = resolve(BASE, overrides, check_files=False)
    assert (resolved.namespace, resolved.namespace_explicit) == (expected_namespace, expected_explicit)


@pytest.mark.parametrize(
    ("overrides", "expected_cluster"),
    [
        pytest.param(
            ConfigOverrides(server="https://new:1"),
            {"server": "https://new:1", "certificate-authority-data": "Y2E="},
            id="server-drops-tls-server-name",
        ),
        pytest.param(
            ConfigOverrides(server="https://new:1", tls_server_name="new.internal"),
            {
                "server": "https://new:1",
                "certificate-authority-data": "Y2E=",
                "tls-server-name": "new.internal",
            },
            id="server-with-tls-server-name",
        ),
        pytest.param(
            ConfigOverrides(tls_server_name="n2"),
            {"server": "https://main:6443", "certificate-authority-data": "Y2E=", "tls-server-name": "n2"},
            id="tls-server-name",
        ),
        pytest.param(
            ConfigOverrides(insecure_skip_tls_verify=True),
            {
                "server": "https://main:6443",
                "tls-server-name": "main.internal",
                "insecure-skip-tls-verify": True,
            },
            id="insecure-drops-ca",
        ),
        pytest.param(
            ConfigOverrides(insecure_skip_tls_verify=False),
            {
                "server": "https://main:6443",
                "certificate-authority-data": "Y2E=",
                "tls-server-name": "main.internal",
            },
            id="insecure-false-is-a-no-op",
        ),
        pytest.param(
            ConfigOverrides(certificate_authority="/pki/ca.crt"),
            {
                "server": "https://main:6443",
                "certificate-authority": "/pki/ca.crt",
                "tls-server-name": "main.internal",
            },
            id="ca-file-replaces-ca-data",
        ),
        pytest.param(
            ConfigOverrides(context="other", certificate_authority="/pki/ca.crt"),
            {"server": "https://other:6443", "certificate-authority": "/pki/ca.crt"},
            id="ca-file-clears-insecure",
        ),
        pytest.param(
            ConfigOverrides(context="other", insecure_skip_tls_verify=False),
            {"server": "https://other:6443", "insecure-skip-tls-verify": True},
            id="insecure-false-cannot-undo-kubeconfig",
        ),
    ],
)
def test_cluster_overrides(overrides: ConfigOverrides, expected_cluster: dict[str, Any]) -> None:
    """Connection flags replace cluster fields with client-go's special cases for CA, insecure and SNI."""
    assert resolve(BASE, overrides, check_files=False).cluster == expected_cluster


@pytest.mark.parametrize(
    ("overrides", "expected_user"),
    [
        pytest.param(
            ConfigOverrides(token="flag-token"),
            {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5", "token": "flag-token"},
            id="token-keeps-client-certificate",
        ),
        pytest.param(
            ConfigOverrides(client_certificate="/pki/me.crt", client_key="/pki/me.key"),
            {"client-certificate": "/pki/me.crt", "client-key": "/pki/me.key"},
            id="cert-and-key-files-replace-data",
        ),
        pytest.param(
            ConfigOverrides(client_key="/pki/me.key"),
            {"client-certificate-data": "Y2VydA==", "client-key": "/pki/me.key"},
            id="key-file-only",
        ),
        pytest.param(
            ConfigOverrides(as_user="alice", as_groups=("devs", "ops"), as_uid="42"),
            {
                "client-certificate-data": "Y2VydA==",
                "client-key-data": "a2V5",
                "as": "alice",
                "as-groups": ["devs", "ops"],
                "as-uid": "42",
            },
            id="impersonation",
        ),
        pytest.param(
            ConfigOverrides(user="token-user", token="flag-token"),
            {"token": "flag-token"},
            id="token-replaces-token",
        ),
        pytest.param(
            ConfigOverrides(context="ghost-user", username="u", password="p"),
            {"username": "u", "password": "p"},
            id="basic-auth",
        ),
    ],
)
def test_user_overrides(overrides: ConfigOverrides, expected_user: dict[str, Any]) -> None:
    """Credential flags replace single user fields and leave the entry's other credentials in place."""
    assert resolve(BASE, overrides, check_files=False).user == expected_user


def test_relative_override_paths_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """File flags are relative to the working directory, so they are pinned to it at resolve time."""
    monkeypatch.chdir(tmp_path)
    resolved = resolve(
        BASE,
        ConfigOverrides(certificate_authority="ca.crt", client_certificate="me.crt", client_key="k/me.key"),
        check_files=False,
    )
    assert resolved.cluster["certificate-authority"] == str(tmp_path / "ca.crt")
    assert (resolved.user["client-certificate"], resolved.user["client-key"]) == (
        str(tmp_path / "me.crt"),
        str(tmp_path / "k" / "me.key"),
    )


def test_token_flag_drops_the_entrys_token_file(tmp_path: Path) -> None:
    """--token wins over the entry's tokenFile (kubectl would keep sending the file's token)."""
    token_file = tmp_path / "token"
    token_file.write_text("from-file")
    merged = kubeconfig(
        current="c",
        clusters={"k": {"server": "https://k"}},
        users={"u": {"tokenFile": str(token_file)}},
        contexts={"c": {"cluster": "k", "user": "u"}},
    )
    assert resolve(merged, ConfigOverrides(token="flag")).user == {"token": "flag"}


@pytest.mark.parametrize(
    ("file_exists", "expected_user_keys"),
    [
        pytest.param(True, ["tokenFile"], id="readable-file-wins"),
        pytest.param(False, ["token"], id="missing-file-falls-back-to-token"),
    ],
)
def test_token_and_token_file_in_one_entry_follow_client_go(
    tmp_path: Path, file_exists: bool, expected_user_keys: list[str]
) -> None:
    """With both token and tokenFile set, the file's token is used when it can be read, else the inline one."""
    token_file = tmp_path / "token"
    if file_exists:
        token_file.write_text("from-file")
    merged = kubeconfig(
        current="c",
        clusters={"k": {"server": "https://k"}},
        users={"u": {"token": "inline", "tokenFile": str(token_file)}},
        contexts={"c": {"cluster": "k", "user": "u"}},
    )
    assert sorted(resolve(merged, ConfigOverrides()).user) == expected_user_keys


def test_check_files_false_touches_no_file() -> None:
    """Without file checks, unreadable certificate paths and both token forms are kept as written."""
    merged = kubeconfig(
        current="c",
        clusters={"k": {"server": "https://k", "certificate-authority": "/nope/ca"}},
        users={
            "u": {
                "token": "t",
                "tokenFile": "/nope/tok",
                "client-certificate": "/nope/c",
                "client-key": "/nope/k",
            }
        },
        contexts={"c": {"cluster": "k", "user": "u"}},
    )
    resolved = resolve(merged, ConfigOverrides(), check_files=False)
    assert resolved.user["tokenFile"] == "/nope/tok"
    assert resolved.user["token"] == "t"


# -- resolving: errors ------------------------------------------------------------------------------------

ORACLE_BASE = kubeconfig(
    current="c",
    clusters={
        "k": {"server": UNREACHABLE_SERVER},
        "both-ca": {
            "server": UNREACHABLE_SERVER,
            "certificate-authority": "{ca}",
            "certificate-authority-data": "Zm9v",
        },
        "insecure-ca": {
            "server": UNREACHABLE_SERVER,
            "insecure-skip-tls-verify": True,
            "certificate-authority": "{ca}",
        },
        "ftp-proxy": {"server": UNREACHABLE_SERVER, "proxy-url": "ftp://proxy"},
    },
    users={
        "u": {"token": "t"},
        "basic": {"username": "a", "password": "b"},
        "cert-only": {"client-certificate": "{ca}"},
        "missing-cert": {"client-certificate": "{dir}/missing.crt", "client-key": "{dir}/missing.key"},
        "exec-v1": {"exec": {"command": "plugin", "apiVersion": "client.authentication.k8s.io/v1"}},
    },
    contexts={
        "c": {"cluster": "k", "user": "u"},
        "dangling": {"cluster": "k", "user": "u"},
    },
)


@pytest.mark.parametrize(
    ("overrides", "expected_message"),
    [
        pytest.param(
            ConfigOverrides(context="nope"),
            "context was not found for specified context: nope",
            id="unknown-context",
        ),
        pytest.param(
            ConfigOverrides(cluster="nope"), 'no server found for cluster "nope"', id="unknown-cluster"
        ),
        pytest.param(
            ConfigOverrides(cluster="nope", server="https://127.0.0.1:1"),
            'no server found for cluster "nope"',
            id="unknown-cluster-even-with-server",
        ),
        pytest.param(ConfigOverrides(user="nope"), 'auth info "nope" does not exist', id="unknown-user"),
        pytest.param(
            ConfigOverrides(cluster="nope", user="nope"),
            'no server found for cluster "nope"',
            id="cluster-before-user",
        ),
        pytest.param(
            ConfigOverrides(as_groups=("g",)),
            "requesting uid, groups or user-extra for u without impersonating a user",
            id="group-without-as",
        ),
        pytest.param(
            ConfigOverrides(as_uid="7"),
            "requesting uid, groups or user-extra for u without impersonating a user",
            id="uid-without-as",
        ),
        pytest.param(
            ConfigOverrides(user="basic", token="x"),
            "more than one authentication method found for basic; found [token basicAuth], only one is allowed",
            id="token-and-basic-auth",
        ),
        pytest.param(
            ConfigOverrides(user="cert-only"),
            "client-key-data or client-key must be specified for cert-only to use the clientCert authentication method.",
            id="certificate-without-key",
        ),
        pytest.param(
            ConfigOverrides(client_certificate="{ca}"),
            "client-key-data or client-key must be specified for u to use the clientCert authentication method.",
            id="certificate-flag-without-key",
        ),
        pytest.param(
            ConfigOverrides(cluster="both-ca"),
            "certificate-authority-data and certificate-authority are both specified for both-ca. "
            "certificate-authority-data will override.",
            id="ca-file-and-data",
        ),
        pytest.param(
            ConfigOverrides(cluster="insecure-ca"),
            "specifying a root certificates file with the insecure flag is not allowed",
            id="insecure-with-ca",
        ),
        pytest.param(
            ConfigOverrides(insecure_skip_tls_verify=True, certificate_authority="{ca}"),
            "specifying a root certificates file with the insecure flag is not allowed",
            id="insecure-and-ca-flags",
        ),
        pytest.param(
            ConfigOverrides(cluster="ftp-proxy"),
            'invalid \'proxy-url\' "ftp://proxy" for cluster "ftp-proxy": '
            'unsupported scheme "ftp", must be http, https, or socks5',
            id="proxy-scheme",
        ),
        pytest.param(
            ConfigOverrides(user="missing-cert"),
            "invalid configuration:\n"
            "* unable to read client-cert {dir}/missing.crt for missing-cert due to "
            "open {dir}/missing.crt: no such file or directory\n"
            "* unable to read client-key {dir}/missing.key for missing-cert due to "
            "open {dir}/missing.key: no such file or directory",
            id="unreadable-certificate-files",
        ),
        pytest.param(
            ConfigOverrides(user="exec-v1"),
            "interactiveMode must be specified for exec-v1 to use exec authentication plugin",
            id="exec-v1-needs-interactive-mode",
        ),
        pytest.param(ConfigOverrides(request_timeout="abc"), INVALID_TIMEOUT_MESSAGE, id="bad-timeout"),
    ],
)
def test_errors_match_kubectl(tmp_path: Path, overrides: ConfigOverrides, expected_message: str) -> None:
    """Each unusable configuration fails with kubectl's own message, checked against kubectl itself."""
    ca = write_kubeconfig(tmp_path / "ca.crt", "not really a certificate")
    path = write_kubeconfig(
        tmp_path / "config",
        json.dumps(ORACLE_BASE).replace("{ca}", str(ca)).replace("{dir}", str(tmp_path)),
    )
    fill = {"{ca}": str(ca), "{dir}": str(tmp_path)}
    for placeholder, value in fill.items():
        expected_message = expected_message.replace(placeholder, value)
    fields: dict[str, Any] = {
        name: (value.replace("{ca}", str(ca)) if isinstance(value, str) else value)
        for name, value in vars(overrides).items()
    }
    concrete = ConfigOverrides(**fields)
    with pytest.raises((ConfigError, UsageError)) as caught:
        resolve(load_merged([path]), concrete)
    assert str(caught.value) == expected_message

    kubectl = run_kubectl(["get", "namespaces", *kubectl_flags(concrete)], str(path), tmp_path)
    assert kubectl.returncode == 1
    kubectl_lines = [line.removeprefix("* ") for line in kubectl.stderr.splitlines()]
    for line in expected_message.removeprefix("invalid configuration:\n").splitlines():
        assert line.removeprefix("* ") in "\n".join(kubectl_lines)


@pytest.mark.parametrize(
    ("merged", "overrides", "expected_message"),
    [
        pytest.param(kubeconfig(), ConfigOverrides(), NO_CONFIGURATION_MESSAGE, id="nothing-at-all"),
        pytest.param(
            kubeconfig(contexts={"c": {"cluster": "k"}}, clusters={"k": {"server": "https://k"}}),
            ConfigOverrides(),
            NO_CONTEXT_MESSAGE,
            id="no-current-context",
        ),
        pytest.param(
            kubeconfig(current="c", contexts={"c": {"user": "u"}}),
            ConfigOverrides(),
            'cluster was not specified for context "c"',
            id="context-without-cluster",
        ),
        pytest.param(
            kubeconfig(current="c", contexts={"c": {"cluster": "gone"}}),
            ConfigOverrides(),
            'cluster "gone" was not found for context "c"',
            id="context-with-missing-cluster",
        ),
        pytest.param(
            kubeconfig(
                current="c",
                contexts={"c": {"cluster": "k"}},
                clusters={"k": {"certificate-authority-data": "Zm9v"}},
            ),
            ConfigOverrides(),
            'no server found for cluster "k"',
            id="cluster-without-server",
        ),
        pytest.param(
            kubeconfig(current="dangling", contexts={"c": {"cluster": "k"}}),
            ConfigOverrides(),
            "context was not found for specified context: dangling",
            id="dangling-current-context",
        ),
    ],
)
def test_no_localhost_fallback(
    merged: dict[str, Any], overrides: ConfigOverrides, expected_message: str
) -> None:
    """Where kubectl would silently dial localhost:8080 we refuse with a message that says what is missing."""
    assert config_error(merged, overrides) == expected_message


@pytest.mark.parametrize(
    "merged",
    [
        pytest.param(kubeconfig(), id="nothing-at-all"),
        pytest.param(kubeconfig(contexts={"c": {"cluster": "k"}}), id="no-current-context"),
        pytest.param(kubeconfig(current="c", contexts={"c": {"cluster": "gone"}}), id="missing-cluster"),
        pytest.param(
            kubeconfig(current="c", contexts={"c": {}}, clusters={"k": {}}), id="cluster-without-server"
        ),
    ],
)
def test_server_flag_alone_is_enough(merged: dict[str, Any]) -> None:
    """--server makes a usable connection even from an empty or incomplete kubeconfig."""
    resolved = resolve(merged, ConfigOverrides(server="https://s:6443"))
    assert resolved.cluster == {"server": "https://s:6443"}


def test_insecure_with_ca_is_allowed_for_plain_http() -> None:
    """An http:// server never builds a TLS transport, so insecure plus a CA is not refused."""
    merged = kubeconfig(
        current="c",
        clusters={
            "k": {
                "server": "http://k",
                "insecure-skip-tls-verify": True,
                "certificate-authority-data": "Zm9v",
            }
        },
        contexts={"c": {"cluster": "k"}},
    )
    assert resolve(merged, ConfigOverrides()).cluster["server"] == "http://k"


def test_unreadable_token_file_is_an_error(tmp_path: Path) -> None:
    """A tokenFile that cannot be read fails with Go's open error, as client-go's does."""
    missing = tmp_path / "token"
    merged = kubeconfig(
        current="c",
        clusters={"k": {"server": "https://k"}},
        users={"u": {"tokenFile": str(missing)}},
        contexts={"c": {"cluster": "k", "user": "u"}},
    )
    assert config_error(merged, ConfigOverrides()) == f"open {missing}: no such file or directory"


@pytest.mark.parametrize(
    ("exec_spec", "expected_problem"),
    [
        pytest.param(
            {"apiVersion": "client.authentication.k8s.io/v1beta1"}, "command must be specified", id="command"
        ),
        pytest.param({"command": "p"}, "apiVersion must be specified", id="api-version"),
        pytest.param(
            {"command": "p", "apiVersion": "client.authentication.k8s.io/v1", "interactiveMode": "Sometimes"},
            'invalid interactiveMode for u: "Sometimes"',
            id="interactive-mode",
        ),
        pytest.param(
            {"command": "p", "apiVersion": "client.authentication.k8s.io/v1beta1", "env": [{"value": "x"}]},
            "env variable name must be specified",
            id="env-name",
        ),
    ],
)
def test_exec_plugin_validation(exec_spec: dict[str, Any], expected_problem: str) -> None:
    """An exec credential plugin entry is validated as client-go validates it."""
    merged = kubeconfig(
        current="c",
        clusters={"k": {"server": "https://k"}},
        users={"u": {"exec": exec_spec}},
        contexts={"c": {"cluster": "k", "user": "u"}},
    )
    assert expected_problem in config_error(merged, ConfigOverrides())


def test_valid_exec_plugin_with_defaulted_interactive_mode_is_accepted() -> None:
    """v1beta1 plugins may leave interactiveMode out: client-go defaults it to IfAvailable."""
    merged = kubeconfig(
        current="c",
        clusters={"k": {"server": "https://k"}},
        users={"u": {"exec": {"command": "p", "apiVersion": "client.authentication.k8s.io/v1beta1"}}},
        contexts={"c": {"cluster": "k", "user": "u"}},
    )
    assert resolve(merged, ConfigOverrides()).user["exec"]["command"] == "p"


# -- request timeout --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected_seconds"),
    [
        pytest.param(None, None, id="not-given"),
        pytest.param("", None, id="empty"),
        pytest.param("0", None, id="zero"),
        pytest.param("0s", None, id="zero-duration"),
        pytest.param("-0", None, id="minus-zero"),
        pytest.param("-1s", None, id="negative-duration"),
        pytest.param("10", 10.0, id="bare-seconds"),
        pytest.param("+5", 5.0, id="plus-sign"),
        pytest.param("007", 7.0, id="leading-zeros"),
        pytest.param("1s", 1.0, id="seconds"),
        pytest.param("2m", 120.0, id="minutes"),
        pytest.param("1h", 3600.0, id="hours"),
        pytest.param("1m30s", 90.0, id="compound"),
        pytest.param("500ms", 0.5, id="milliseconds"),
        pytest.param(".5s", 0.5, id="leading-dot"),
        pytest.param("1.s", 1.0, id="trailing-dot"),
        pytest.param("5m0.5s", 300.5, id="fraction-in-compound"),
        pytest.param("1500us", 0.0015, id="microseconds"),
        pytest.param("1500\u00b5s", 0.0015, id="micro-sign"),
        pytest.param("2562047h", 2562047 * 3600.0, id="largest-hours"),
    ],
)
def test_request_timeout_accepts_kubectl_syntax(value: str | None, expected_seconds: float | None) -> None:
    """--request-timeout takes bare seconds or a Go duration; zero or negative means no timeout."""
    assert parse_request_timeout(value) == expected_seconds


@pytest.mark.parametrize(
    "value",
    ["abc", "-1", "1.5", "1d", "1_0", " 5", "1e3s", "1 s", ".s", "s", "2562048h", "99999999999999999999"],
)
def test_request_timeout_rejects_what_kubectl_rejects(tmp_path: Path, value: str) -> None:
    """An invalid --request-timeout is a usage error with kubectl's wording, and kubectl rejects it too."""
    with pytest.raises(UsageError) as caught:
        parse_request_timeout(value)
    assert caught.value.message == INVALID_TIMEOUT_MESSAGE
    path = write_kubeconfig(
        tmp_path / "config",
        kubeconfig(
            current="c", clusters={"k": {"server": UNREACHABLE_SERVER}}, contexts={"c": {"cluster": "k"}}
        ),
    )
    kubectl = run_kubectl(["get", "namespaces", f"--request-timeout={value}"], str(path), tmp_path)
    assert kubectl.stderr.strip() == f"error: {INVALID_TIMEOUT_MESSAGE}"


@pytest.mark.parametrize(
    ("value", "expected_seconds"),
    [
        pytest.param("0", 0.0, id="zero"),
        pytest.param("30s", 30.0, id="seconds"),
        pytest.param("1h2m3.5s", 3723.5, id="compound"),
        pytest.param("-1s", -1.0, id="negative"),
        pytest.param("250ms", 0.25, id="milliseconds"),
    ],
)
def test_duration_flags_parse_go_durations(value: str, expected_seconds: float) -> None:
    """Duration flags such as delete's --timeout take Go durations and return seconds."""
    assert parse_duration(value, flag="--timeout") == expected_seconds


@pytest.mark.parametrize(
    ("value", "go_error"),
    [
        pytest.param("abc", 'time: invalid duration "abc"', id="letters"),
        pytest.param("", 'time: invalid duration ""', id="empty"),
        pytest.param(".", 'time: invalid duration "."', id="dot"),
        pytest.param("1", 'time: missing unit in duration "1"', id="bare-number"),
        pytest.param("1.5", 'time: missing unit in duration "1.5"', id="bare-fraction"),
        pytest.param("1d", 'time: unknown unit "d" in duration "1d"', id="days"),
        pytest.param("9999999999h", 'time: invalid duration "9999999999h"', id="overflow"),
    ],
)
def test_duration_flags_reject_like_kubectl(tmp_path: Path, value: str, go_error: str) -> None:
    """An invalid duration flag is a usage error worded as kubectl's flag parser words it."""
    with pytest.raises(UsageError) as caught:
        parse_duration(value, flag="--timeout")
    assert caught.value.message == f'invalid argument "{value}" for "--timeout" flag: {go_error}'
    kubectl = run_kubectl(["delete", "pod", "x", f"--timeout={value}"], "", tmp_path)
    assert kubectl.stderr.splitlines()[0] == f"Error: {caught.value.message}"


def test_resolve_carries_the_timeout() -> None:
    """The parsed --request-timeout ends up on the resolved connection."""
    assert (
        resolve(BASE, ConfigOverrides(request_timeout="1m30s"), check_files=False).request_timeout_seconds
        == 90.0
    )


# -- handing the result to client libraries -------------------------------------------------------------


def test_single_context_dict_round_trips_through_kubectl(tmp_path: Path) -> None:
    """The standalone kubeconfig is one kubectl reads back unchanged, with the flags already applied."""
    resolved = resolve(
        BASE,
        ConfigOverrides(namespace="ns-from-flag", server="https://flag:1", as_user="bob"),
        check_files=False,
    )
    single = resolved.to_single_context_dict()
    path = write_kubeconfig(tmp_path / "single", single)
    view = run_kubectl(["config", "view", "--raw", "-o", "json"], str(path), tmp_path)
    assert json.loads(view.stdout) == single
    assert single["contexts"][0]["context"]["namespace"] == "ns-from-flag"
    assert single["clusters"][0]["cluster"]["server"] == "https://flag:1"


def test_single_context_dict_names_empty_entries() -> None:
    """A connection built from --server alone still gets non-empty names that client libraries accept."""
    single = resolve(kubeconfig(), ConfigOverrides(server="https://s")).to_single_context_dict()
    assert single["current-context"] == "default"
    assert single["contexts"][0]["context"] == {
        "cluster": "default",
        "user": "default",
        "namespace": "default",
    }


def test_single_context_dict_loads_in_the_official_client() -> None:
    """The official Python client loads the standalone kubeconfig and talks to the server we chose."""
    from kubernetes import client
    from kubernetes.config import kube_config

    resolved = resolve(BASE, ConfigOverrides(context="other", token="flag-token"), check_files=False)
    configuration = client.Configuration()
    kube_config.KubeConfigLoader(config_dict=resolved.to_single_context_dict()).load_and_set(configuration)
    assert configuration.host == "https://other:6443"
    assert configuration.api_key["BearerToken"] == "Bearer flag-token"
    assert configuration.verify_ssl is False


def test_load_and_resolve_reads_the_environment(tmp_path: Path) -> None:
    """load_and_resolve picks the files from KUBECONFIG and applies the overrides in one call."""
    first = write_kubeconfig(tmp_path / "first", PARENT)
    second = write_kubeconfig(tmp_path / "second", CHILD)
    environ = {"KUBECONFIG": os.pathsep.join([str(first), str(second)]), "HOME": str(tmp_path)}
    resolved = load_and_resolve(ConfigOverrides(context="child"), environ)
    assert isinstance(resolved, ResolvedConfig)
    assert (resolved.cluster_name, resolved.cluster["server"]) == ("child", "https://child.example:6443")


def test_explicit_kubeconfig_ignores_the_environment(tmp_path: Path) -> None:
    """With --kubeconfig only that file is read, whatever KUBECONFIG says."""
    first = write_kubeconfig(tmp_path / "first", PARENT)
    second = write_kubeconfig(tmp_path / "second", CHILD)
    resolved = load_and_resolve(
        ConfigOverrides(kubeconfig=str(second)), {"KUBECONFIG": str(first), "HOME": str(tmp_path)}
    )
    assert resolved.context_name == "child"
