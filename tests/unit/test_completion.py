"""What TAB offers after ``kubectl clusternet`` (and ``kubectl-clusternet``): subcommands, flags, kinds, names."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubectl_clusternet.cli.completion import (
    Candidate,
    Completions,
    complete,
    kubectl_protocol_output,
)
from kubectl_clusternet.cli.globalflags import GlobalFlags
from kubectl_clusternet.cli.main import cli
from kubectl_clusternet.core.apis import ResourceType
from tests.support.cli import run_cli


class FakeParent:
    """A parent with a few objects; remembers the flags it was reached with."""

    def __init__(self, flags: GlobalFlags) -> None:
        self.flags = flags

    def names(self, resource_type: ResourceType) -> list[str]:
        if resource_type.plural == "managedclusters":
            return ["child-1", "child-2", "edge-7"]
        return []

    def namespaces(self) -> list[str]:
        return ["clusternet-abcde", "default", "kube-system"]

    def cluster_ids(self) -> list[tuple[str, str]]:
        return [("0153359c-d91f-4e51-b1ba-838843143716", "child-1"), ("693631c1-3e7c-4762", "child-2")]

    def kubeconfig_names(self, section: str) -> list[str]:
        return {"contexts": ["parent", "child"], "clusters": ["parent-cluster"], "users": ["admin"]}[section]


class Recorder:
    """A lookup factory that hands out FakeParents and keeps them, to check the flags used."""

    def __init__(self) -> None:
        self.parents: list[FakeParent] = []

    def __call__(self, flags: GlobalFlags) -> FakeParent:
        self.parents.append(FakeParent(flags))
        return self.parents[-1]


def never_asked(flags: GlobalFlags) -> FakeParent:
    raise AssertionError("static completion must not reach for the parent")


def values(words: list[str], incomplete: str, lookup_factory=never_asked) -> list[str]:
    return complete(cli, words, incomplete, lookup_factory=lookup_factory).values()


# -- subcommands and flags ---------------------------------------------------------------------------------


def test_subcommands_by_prefix() -> None:
    assert values([], "ge") == ["get"]
    assert values([], "de") == ["describe", "delete"]
    assert values(["local"], "") == ["binaries", "down", "status", "up"]


def test_the_hidden_command_is_never_offered() -> None:
    assert "__complete" not in values([], "")
    assert values([], "__") == []
    assert "completion" in values([], "")


def test_subcommands_come_with_their_short_help() -> None:
    completions = complete(cli, [], "ver", lookup_factory=never_asked)
    assert completions.candidates == (
        Candidate("version", "Print the client and server version information."),
    )
    assert completions.directive == 4


def test_command_and_global_flags() -> None:
    assert values(["get"], "--all") == ["--all-namespaces"]
    assert values(["get"], "--kubec") == ["--kubeconfig"]
    assert values(["get"], "--cluster-") == ["--cluster-id"]
    assert "--help" in values(["version"], "--")
    assert "--client" in values(["version"], "--")


def test_global_flags_anywhere_do_not_derail_the_walk() -> None:
    assert values(["--context", "parent", "get"], "mc") == ["mcls"]
    assert values(["-n", "ns", "get"], "mc") == ["mcls"]
    assert values(["--insecure-skip-tls-verify", "get"], "mc") == ["mcls"]
    assert values(["get", "--namespace=ns"], "mc") == ["mcls"]


def test_an_unknown_subcommand_offers_nothing() -> None:
    assert complete(cli, ["frobnicate"], "", lookup_factory=never_asked) == Completions()


# -- kinds ----------------------------------------------------------------------------------------------------


def test_kinds_and_short_names_after_get_describe_delete() -> None:
    for command in ("get", "describe", "delete"):
        assert values([command], "mc") == ["mcls"]
        assert values([command], "manag") == ["managedclusters"]
        assert values([command], "sub") == ["subscriptions", "sub", "subs"]


def test_kind_candidates_say_which_kind_they_are() -> None:
    completions = complete(cli, ["get"], "mcl", lookup_factory=never_asked)
    assert completions.candidates == (Candidate("mcls", "ManagedCluster"),)


def test_the_category_and_native_kinds_are_offered() -> None:
    assert "clusternet" in values(["get"], "clust")
    assert "clusterregistrationrequests" in values(["get"], "clust")
    assert values(["get"], "deploy") == ["deployments", "deploy"]


def test_bootstrap_tokens_only_where_the_command_knows_them() -> None:
    assert values(["get"], "boot") == ["bootstrap-tokens"]
    assert values(["delete"], "boot") == ["bootstrap-tokens"]
    assert values(["describe"], "boot") == []


def test_kinds_fold_case_like_kubectl() -> None:
    assert values(["get"], "MC") == ["mcls"]


def test_kind_lists_complete_the_last_kind() -> None:
    assert values(["get"], "mcls,loc") == ["mcls,localizations", "mcls,loc", "mcls,local"]
    assert values(["get"], "mcls,clustern") == ["mcls,clusternet"]
    assert values(["get"], "mcls,boot") == []  # bootstrap tokens are listed on their own


def test_no_kinds_after_other_commands() -> None:
    assert values(["version"], "") == []
    assert values(["apply"], "") == []


# -- names and other dynamic values ----------------------------------------------------------------------------


def test_names_of_the_typed_kind_come_from_the_parent() -> None:
    parents = Recorder()
    assert values(["get", "mcls"], "", parents) == ["child-1", "child-2", "edge-7"]
    assert values(["describe", "managedclusters"], "ch", parents) == ["child-1", "child-2"]
    assert values(["delete", "mcls", "child-1"], "", parents) == ["child-2", "edge-7"]


def test_names_in_type_slash_name_form() -> None:
    parents = Recorder()
    assert values(["get"], "mcls/c", parents) == ["mcls/child-1", "mcls/child-2"]
    assert values(["get", "mcls/child-1"], "mcls/", parents) == ["mcls/child-2", "mcls/edge-7"]


def test_no_names_for_categories_lists_and_native_kinds() -> None:
    assert values(["get", "clusternet"], "") == []
    assert values(["get", "mcls,subs"], "") == []
    assert values(["get", "deployments"], "") == []
    assert values(["get", "nonsense"], "") == []


def test_the_parent_is_the_one_the_typed_flags_name() -> None:
    parents = Recorder()
    words = ["--kubeconfig", "/tmp/parent.yaml", "get", "mcls", "-n", "clusternet-abcde", "--context=parent"]
    assert values(words, "", parents) == ["child-1", "child-2", "edge-7"]
    (parent,) = parents.parents
    assert parent.flags.kubeconfig == "/tmp/parent.yaml"
    assert parent.flags.namespace == "clusternet-abcde"
    assert parent.flags.context == "parent"


def test_flags_parsed_before_the_command_still_count() -> None:
    """Without the shim's ``--``, main takes the global flags out first: they arrive as base flags."""
    parents = Recorder()
    base = GlobalFlags(kubeconfig="/tmp/parent.yaml", namespace="ns")
    completions = complete(cli, ["get", "mcls"], "", lookup_factory=parents, base_flags=base)
    assert completions.values() == ["child-1", "child-2", "edge-7"]
    assert parents.parents[0].flags.kubeconfig == "/tmp/parent.yaml"
    assert parents.parents[0].flags.namespace == "ns"


def test_namespaces_after_the_namespace_flag() -> None:
    parents = Recorder()
    assert values(["get", "mcls", "-n"], "", parents) == ["clusternet-abcde", "default", "kube-system"]
    assert values(["--namespace"], "d", parents) == ["default"]
    assert values(["get"], "--namespace=k", parents) == ["--namespace=kube-system"]


def test_flag_values_are_looked_up_in_the_parent_the_typed_flags_name() -> None:
    parents = Recorder()
    values(["--kubeconfig", "/tmp/parent.yaml", "get", "-n"], "", parents)
    values(["--context=parent", "--cluster-id"], "", parents)
    assert [p.flags.kubeconfig for p in parents.parents] == ["/tmp/parent.yaml", None]
    assert [p.flags.context for p in parents.parents] == [None, "parent"]


def test_cluster_ids_with_the_cluster_name_as_description() -> None:
    completions = complete(cli, ["get", "--cluster-id"], "", lookup_factory=Recorder())
    assert completions.candidates == (
        Candidate("0153359c-d91f-4e51-b1ba-838843143716", "child-1"),
        Candidate("693631c1-3e7c-4762", "child-2"),
    )


def test_kubeconfig_entries_after_context_cluster_user() -> None:
    parents = Recorder()
    assert values(["--context"], "", parents) == ["parent", "child"]
    assert values(["--cluster"], "", parents) == ["parent-cluster"]
    assert values(["--user"], "a", parents) == ["admin"]


def test_file_flags_let_the_shell_complete_file_names() -> None:
    for words in (["apply", "-f"], ["--kubeconfig"], ["get", "--client-key"], ["local", "up", "--dir"]):
        completions = complete(cli, words, "", lookup_factory=never_asked)
        assert completions == Completions(files=True), words
        assert completions.directive == 0


def test_choices_of_command_options() -> None:
    assert values(["apply", "--dry-run"], "") == ["none", "client", "server"]
    assert values(["apply", "--dry-run="], "") == []  # an odd word: nothing breaks
    assert values(["get", "-o"], "") == ["json", "yaml", "name", "wide"]
    assert values(["get"], "--output=y") == ["--output=yaml"]


def test_choices_of_arguments() -> None:
    assert values(["completion"], "") == ["bash", "zsh", "fish"]
    assert values(["completion", "bash"], "") == []


def test_free_text_values_offer_nothing() -> None:
    assert complete(cli, ["get", "-l"], "", lookup_factory=never_asked) == Completions()
    assert complete(cli, ["--token"], "", lookup_factory=never_asked) == Completions()


# -- kubectl's plugin protocol, in-process --------------------------------------------------------------------


def test_protocol_lines_end_with_the_directive() -> None:
    completions = Completions((Candidate("get", "Display\tmany"), Candidate("gadget")))
    assert kubectl_protocol_output(completions) == "get\tDisplay many\ngadget\n:4\n"
    assert kubectl_protocol_output(Completions(files=True)) == ":0\n"


def test_complete_command_speaks_kubectls_protocol() -> None:
    result = run_cli("__complete", "--", "get", "mc")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "mcls\tManagedCluster\n:4\n", "")


def test_complete_command_with_no_words_offers_subcommands() -> None:
    result = run_cli("__complete", "--", "")
    assert result.exit_code == 0
    assert "get\tDisplay one or many Clusternet resources." in result.stdout.splitlines()


def test_complete_command_is_hidden_from_help(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli("--help")
    shown = result.stdout + capsys.readouterr().out  # click prints help itself, past the injected streams
    assert "__complete" not in shown
    assert "completion" in shown


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a hung parent)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: parent\n"
        f"clusters:\n- name: parent\n  cluster:\n    server: {server}\n"
        "contexts:\n- name: parent\n  context:\n    cluster: parent\n    user: admin\n"
        "users:\n- name: admin\n  user:\n    token: abc\n"
    )
    return path


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("reachable", ["refused", "silent", "no kubeconfig"])
def test_an_unreachable_parent_gives_no_candidates_and_no_error(
    reachable: str, silent_server: int, tmp_path: Path
) -> None:
    if reachable == "refused":
        kubeconfig = str(_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{_closed_port()}"))
    elif reachable == "silent":
        kubeconfig = str(_kubeconfig(tmp_path / "config", f"http://127.0.0.1:{silent_server}"))
    else:
        kubeconfig = str(tmp_path / "missing")
    for words in (["get", "mcls", ""], ["get", "-n", ""], ["--cluster-id", ""]):
        result = run_cli("__complete", "--", "--kubeconfig", kubeconfig, *words)
        assert (result.exit_code, result.stdout, result.stderr) == (0, ":4\n", ""), words


def test_a_hung_credential_plugin_does_not_hang_completion(tmp_path: Path) -> None:
    """A kubeconfig exec plugin that never answers: the completion gives up (socket timeouts cannot)."""
    pid_file = tmp_path / "plugin.pid"
    plugin = tmp_path / "hung-credential-plugin"
    plugin.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 3600\n")
    plugin.chmod(0o755)
    kubeconfig = _kubeconfig(tmp_path / "config", "https://127.0.0.1:6443")
    kubeconfig.write_text(
        kubeconfig.read_text().replace(
            "    token: abc\n",
            f"    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {plugin}\n",
        )
    )
    try:
        result = run_cli("__complete", "--", "--kubeconfig", str(kubeconfig), "get", "mcls", "")
        assert (result.exit_code, result.stdout, result.stderr) == (0, ":4\n", "")
    finally:
        for _ in range(100):  # the plugin we started: stop it (its pid file may lag a moment)
            if pid_file.exists() and pid_file.read_text().strip():
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
                break
            time.sleep(0.05)


# -- click's native scripts for the direct command ---------------------------------------------------------


_HIJACK = re.compile(r"^\s*(complete|compdef)\b.*\skubectl(\s|$)", re.MULTILINE)


@pytest.mark.parametrize(
    ("shell", "registration"),
    [
        ("bash", "complete -o nosort -F _kubectl_clusternet_completion kubectl-clusternet"),
        ("zsh", "compdef _kubectl_clusternet_completion kubectl-clusternet"),
        ("fish", "complete --no-files --command kubectl-clusternet"),
    ],
)
def test_completion_scripts_complete_the_direct_command_only(shell: str, registration: str) -> None:
    result = run_cli("completion", shell)
    assert result.exit_code == 0
    assert registration in result.stdout
    assert "_KUBECTL_CLUSTERNET_COMPLETE=" in result.stdout
    assert "__complete" in result.stdout
    assert not _HIJACK.search(result.stdout)


def test_completion_rejects_unknown_shells() -> None:
    result = run_cli("completion", "powershell")
    assert result.exit_code == 1
    assert "powershell" in result.stderr


def _native(shell: str, words: str, cword: str) -> str:
    environ = {
        "_KUBECTL_CLUSTERNET_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": cword,
        "PATH": "/usr/bin:/bin",
    }
    result = run_cli("__complete", environ=environ)
    assert result.exit_code == 0 and result.stderr == ""
    return result.stdout


def test_native_callbacks_answer_in_each_shells_format() -> None:
    assert _native("bash", "kubectl-clusternet get mc", "2") == "plain,mcls\n"
    assert _native("zsh", "kubectl-clusternet get mc", "2") == "plain\nmcls\nManagedCluster\n"
    assert _native("fish", "kubectl-clusternet get mc", "mc") == "plain,mcls\tManagedCluster\n"


def test_native_callbacks_hand_file_names_to_the_shell() -> None:
    assert _native("bash", "kubectl-clusternet apply -f ", "3") == "file,\n"
