"""kubectl's global flags, accepted anywhere on the command line as kubectl accepts them.

kubectl passes every argument after the plugin name through untouched, and users put ``-n foo`` or
``--context x`` after the subcommand as often as before it. So the global flags are taken out of the
argument list before click parses the rest, the way cobra's persistent flags behave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.errors import UsageError

if TYPE_CHECKING:
    from ..core.kube.kubeconfig import ConfigOverrides

__all__ = ["GLOBAL_FLAGS", "GlobalFlags", "split_global_flags", "wants_child_mode", "OPTIONS_HELP"]


@dataclass(frozen=True)
class _Flag:
    names: tuple[str, ...]
    attribute: str
    help: str
    takes_value: bool = True
    repeatable: bool = False
    clusternet: bool = False


GLOBAL_FLAGS: tuple[_Flag, ...] = (
    _Flag(("--as",), "as_user", "Username to impersonate for the operation."),
    _Flag(
        ("--as-group",), "as_groups", "Group to impersonate for the operation, repeatable.", repeatable=True
    ),
    _Flag(("--as-uid",), "as_uid", "UID to impersonate for the operation."),
    _Flag(("--cache-dir",), "cache_dir", "Default cache directory (accepted for compatibility)."),
    _Flag(
        ("--certificate-authority",),
        "certificate_authority",
        "Path to a cert file for the certificate authority.",
    ),
    _Flag(("--client-certificate",), "client_certificate", "Path to a client certificate file for TLS."),
    _Flag(("--client-key",), "client_key", "Path to a client key file for TLS."),
    _Flag(("--cluster",), "cluster", "The name of the kubeconfig cluster to use."),
    _Flag(("--context",), "context", "The name of the kubeconfig context to use."),
    _Flag(
        ("--insecure-skip-tls-verify",),
        "insecure_skip_tls_verify",
        "If true, the server's certificate will not be checked for validity.",
        takes_value=False,
    ),
    _Flag(("--kubeconfig",), "kubeconfig", "Path to the kubeconfig file to use for CLI requests."),
    _Flag(("-n", "--namespace"), "namespace", "If present, the namespace scope for this CLI request."),
    _Flag(("--password",), "password", "Password for basic authentication to the API server."),
    _Flag(
        ("--request-timeout",),
        "request_timeout",
        "The length of time to wait before giving up on a single server request (e.g. 1s, 2m). 0 means no timeout.",
    ),
    _Flag(("-s", "--server"), "server", "The address and port of the Kubernetes API server."),
    _Flag(("--tls-server-name",), "tls_server_name", "Server name to use for certificate validation."),
    _Flag(("--token",), "token", "Bearer token for authentication to the API server."),
    _Flag(("--user",), "user", "The name of the kubeconfig user to use."),
    _Flag(("--username",), "username", "Username for basic authentication to the API server."),
    _Flag(("-v", "--v"), "verbosity", "Number for the log level verbosity (6 or more shows tracebacks)."),
    _Flag(
        ("--cluster-id",), "cluster_id", "The child cluster's ID, with --child-kubeconfig.", clusternet=True
    ),
    _Flag(
        ("--child-kubeconfig",),
        "child_kubeconfig",
        "The child cluster's kubeconfig (only its credentials are used), with --cluster-id.",
        clusternet=True,
    ),
    _Flag(
        ("--clusternet-as",),
        "clusternet_as",
        "Username to impersonate inside the child cluster.",
        clusternet=True,
    ),
    _Flag(
        ("--clusternet-as-uid",),
        "clusternet_as_uid",
        "UID to impersonate inside the child cluster.",
        clusternet=True,
    ),
    _Flag(
        ("--clusternet-as-group",),
        "clusternet_as_groups",
        "Group to impersonate inside the child cluster, repeatable.",
        repeatable=True,
        clusternet=True,
    ),
)
_BY_NAME = {name: flag for flag in GLOBAL_FLAGS for name in flag.names}


@dataclass(frozen=True)
class GlobalFlags:
    kubeconfig: str | None = None
    context: str | None = None
    cluster: str | None = None
    user: str | None = None
    namespace: str | None = None
    server: str | None = None
    token: str | None = None
    as_user: str | None = None
    as_groups: tuple[str, ...] = ()
    as_uid: str | None = None
    insecure_skip_tls_verify: bool | None = None
    certificate_authority: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None
    tls_server_name: str | None = None
    request_timeout: str | None = None
    username: str | None = None
    password: str | None = None
    cache_dir: str | None = None
    verbosity: int = 0
    cluster_id: str | None = None
    child_kubeconfig: str | None = None
    clusternet_as: str | None = None
    clusternet_as_uid: str | None = None
    clusternet_as_groups: tuple[str, ...] = field(default_factory=tuple)

    def overrides(self) -> ConfigOverrides:
        """The connection flags, for the kubeconfig resolver (every ConfigOverrides field is a flag here)."""
        from dataclasses import fields

        from ..core.kube.kubeconfig import ConfigOverrides

        return ConfigOverrides(**{f.name: getattr(self, f.name) for f in fields(ConfigOverrides)})


def wants_child_mode(flags: GlobalFlags) -> bool:
    """Child mode runs kubectl against a child; kept here so plain commands never import it."""
    return bool(flags.cluster_id or flags.child_kubeconfig)


def _parse_bool(text: str, flag: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise UsageError(
        f'invalid argument "{text}" for "{flag}" flag: strconv.ParseBool: parsing "{text}": invalid syntax'
    )


def split_global_flags(argv: Sequence[str]) -> tuple[GlobalFlags, list[str]]:
    """Take kubectl's global flags out of ``argv``; return them and the remaining arguments in order.

    Everything after a bare ``--`` is left alone (it belongs to the command, as in ``exec … -- sh``).
    """
    values: dict[str, object] = {}
    rest: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            rest.append(arg)
            rest.extend(argv[index:])
            break
        name, inline = arg, None
        if arg.startswith("--") and "=" in arg:
            name, inline = arg.split("=", 1)
        elif (
            arg.startswith("-")
            and not arg.startswith("--")
            and len(arg) > 2
            and arg[:2] in ("-n", "-s", "-v")
        ):
            name, inline = arg[:2], arg[2:].removeprefix("=")
        flag = _BY_NAME.get(name)
        if flag is None:
            rest.append(arg)
            continue
        if not flag.takes_value:
            values[flag.attribute] = True if inline is None else _parse_bool(inline, name)
            continue
        if inline is None:
            if index >= len(argv):
                raise UsageError(f"flag needs an argument: {name}")
            inline = argv[index]
            index += 1
        if flag.repeatable:
            previous = values.get(flag.attribute, ())
            assert isinstance(previous, tuple)
            values[flag.attribute] = (*previous, inline)
        elif flag.attribute == "verbosity":
            try:
                values["verbosity"] = int(inline)
            except ValueError:
                raise UsageError(
                    f'invalid argument "{inline}" for "{name}" flag: strconv.ParseInt: parsing "{inline}": invalid syntax'
                ) from None
        else:
            values[flag.attribute] = inline
    return GlobalFlags(**values), rest  # type: ignore[arg-type]


def _options_help() -> str:
    lines = ["The following options can be passed to any command:", ""]
    for clusternet in (False, True):
        for flag in GLOBAL_FLAGS:
            if flag.clusternet != clusternet:
                continue
            names = ", ".join(flag.names)
            suffix = "=''" if flag.takes_value else "=false"
            prefix = "[Clusternet] " if flag.clusternet else ""
            lines.append(f"    {names}{suffix}:")
            lines.append(f"\t{prefix}{flag.help}")
            lines.append("")
    lines.append("Usage:")
    lines.append("  kubectl clusternet [flags] [options]")
    return "\n".join(lines)


OPTIONS_HELP = _options_help()
