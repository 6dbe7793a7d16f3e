"""Child mode: ``kubectl clusternet --cluster-id ID --child-kubeconfig FILE <any kubectl command>``.

The real kubectl runs the command, so every verb (get -w, apply, logs -f, exec -it, port-forward) behaves
exactly as kubectl's, on a generated kubeconfig that points at the hub's proxy through the parent and
carries the child's credentials as impersonation extras (see ``core.childmode``). The kubeconfig holds
credentials: it is written private, and removed when kubectl exits.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import ConfigError, UsageError
from .env import Environment
from .globalflags import GlobalFlags

if TYPE_CHECKING:
    from ..core.kube.kubeconfig import ResolvedConfig

__all__ = ["run_child_mode", "parent_flags", "child_cluster_id"]

# Parent-side impersonation cannot be combined with child mode: the request already impersonates the
# ``clusternet`` user the hub expects.
_PARENT_IMPERSONATION = (("as_user", "--as"), ("as_groups", "--as-group"), ("as_uid", "--as-uid"))


def _check_flags(flags: GlobalFlags) -> None:
    """Both flags or neither: upstream silently talks to the parent with only one, which hides mistakes."""
    if flags.child_kubeconfig and not (flags.cluster_id or flags.cluster):
        raise UsageError("--child-kubeconfig needs --cluster-id (or --cluster with the child's name)")
    if flags.cluster_id and not flags.child_kubeconfig:
        raise UsageError(
            "--cluster-id needs --child-kubeconfig: the child's credentials travel with every request "
            "(the hub never uses its own)"
        )
    for attribute, flag in _PARENT_IMPERSONATION:
        if getattr(flags, attribute):
            raise UsageError(
                f"{flag} cannot be used with --child-kubeconfig; use --clusternet-{flag.removeprefix('--')} "
                "to impersonate inside the child"
            )


def parent_flags(flags: GlobalFlags) -> GlobalFlags:
    """The flags that choose the parent connection. Without ``--cluster-id``, ``--cluster`` names the
    child, so it must not also select a kubeconfig cluster for the parent."""
    return flags if flags.cluster_id else replace(flags, cluster=None)


def child_cluster_id(flags: GlobalFlags, parent: ResolvedConfig) -> str:
    """``--cluster-id`` as given, or ``--cluster`` looked up among the parent's ManagedClusters."""
    if flags.cluster_id:
        return flags.cluster_id
    from ..core.apis.clusters import MANAGED_CLUSTER
    from ..core.childmode import resolve_cluster_id
    from ..core.kube.rest import RestClient, connection_from_config

    assert flags.cluster is not None
    client = RestClient(connection_from_config(parent))
    try:
        listing = client.get(MANAGED_CLUSTER.collection_path())
    finally:
        client.close()
    return resolve_cluster_id(listing.get("items") or [], flags.cluster)


def _kubectl_flags(flags: GlobalFlags) -> list[str]:
    """Global flags that concern kubectl itself rather than the connection, passed on unchanged."""
    passed: list[str] = []
    if flags.verbosity:
        passed.append(f"-v={flags.verbosity}")
    if flags.request_timeout:
        passed.append(f"--request-timeout={flags.request_timeout}")
    if flags.cache_dir:
        passed.append(f"--cache-dir={flags.cache_dir}")
    return passed


def _write_private(document: dict[str, object]) -> Path:
    import yaml

    handle, name = tempfile.mkstemp(prefix="kubectl-clusternet-child-", suffix=".kubeconfig")
    with os.fdopen(handle, "w") as stream:  # mkstemp creates it 0600
        yaml.safe_dump(document, stream, sort_keys=False)
    return Path(name)


def _has_fd(stream: object) -> bool:
    try:
        stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return True


_FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _exit_code(returncode: int) -> int:
    """kubectl's exit code; killed by a signal, the shell's 128 + signal number."""
    return 128 - returncode if returncode < 0 else returncode


def _run(command: Sequence[str], env: Environment) -> int:
    """Run kubectl on the user's terminal. Signals sent to us go on to kubectl (which decides how to stop),
    so ``kill`` or a closing terminal never leaves a kubectl behind. With in-memory streams (tests,
    embedding), its output is collected and written there instead."""
    child_env = {k: v for k, v in env.environ.items() if k != "KUBECONFIG"}
    if not (_has_fd(env.stdout) and _has_fd(env.stderr)):
        stdin_text = env.stdin.read() if env.stdin is not None else ""
        completed = subprocess.run(
            list(command), env=child_env, input=stdin_text.encode(), capture_output=True, check=False
        )
        env.stdout.write(completed.stdout.decode(errors="replace"))
        env.stderr.write(completed.stderr.decode(errors="replace"))
        return _exit_code(completed.returncode)
    env.stdout.flush()
    stdin = env.stdin if _has_fd(env.stdin) else subprocess.DEVNULL
    kubectl = subprocess.Popen(
        list(command), env=child_env, stdin=stdin, stdout=env.stdout, stderr=env.stderr
    )

    def forward(signum: int, _frame: object) -> None:
        kubectl.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED_SIGNALS}
    try:
        return _exit_code(kubectl.wait())
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_child_mode(flags: GlobalFlags, args: Sequence[str], env: Environment) -> int:
    """Resolve the child's credentials and the cluster, then hand ``args`` to kubectl; its exit code."""
    from ..core.childmode import child_auth_from_user, child_mode_kubeconfig, kubectl_command
    from ..core.kube.kubeconfig import ConfigOverrides, load_and_resolve
    from ..core.kube.rest import run_exec_plugin

    _check_flags(flags)
    assert flags.child_kubeconfig is not None
    child_file = os.path.abspath(flags.child_kubeconfig)
    if not os.path.exists(child_file):
        raise ConfigError(f"--child-kubeconfig: {flags.child_kubeconfig}: no such file")
    child = load_and_resolve(ConfigOverrides(kubeconfig=child_file), env.environ)
    child_server = str(child.cluster.get("server") or "")
    auth = child_auth_from_user(
        child.user,
        read_file=lambda path: Path(path).read_bytes(),
        run_exec=lambda spec: run_exec_plugin(spec, child_server),
    )
    kubectl = env.environ.get("KUBECTL") or shutil.which("kubectl", path=env.environ.get("PATH"))
    if not kubectl:
        raise ConfigError("child mode runs kubectl, and kubectl was not found on PATH")
    parent = load_and_resolve(parent_flags(flags).overrides(), env.environ)
    cluster_id = child_cluster_id(flags, parent)
    document = child_mode_kubeconfig(
        parent,
        cluster_id,
        auth,
        impersonate_user=flags.clusternet_as,
        impersonate_uid=flags.clusternet_as_uid,
        impersonate_groups=flags.clusternet_as_groups,
        namespace=flags.namespace,
    )
    path = _write_private(document)
    try:
        return _run(kubectl_command(str(path), [*_kubectl_flags(flags), *args], kubectl=kubectl), env)
    finally:
        path.unlink(missing_ok=True)
