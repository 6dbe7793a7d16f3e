"""The agent's configuration: upstream clusternet-agent's flag names, each also readable from the environment.

Flags win over environment variables, which win over the defaults. Every flag ``--some-flag`` can be given as
``AGENT_SOME_FLAG``; the parent URL and the registration token also as ``PARENT_URL`` and ``REG_TOKEN``, the
names upstream's Helm chart uses. The parent URL and token may also come later from the registration Secret in
the child (see ``registration_source``), so they are optional here and validated once known.

Everything in this module is pure: it turns argv and an environment into an ``AgentOptions`` or raises
``UsageError`` with the one line the daemon prints before exiting 1.
"""

from __future__ import annotations

import argparse
import ipaddress
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubectl_clusternet import __version__
from kubectl_clusternet.core.errors import UsageError
from kubectl_clusternet.core.kube.kubeconfig import parse_duration
from kubectl_clusternet.core.registration import (
    DEFAULT_NAME_PREFIX,
    NODE_LABEL_PREFIX,
    RegistrationError,
    validate_cluster_namespace,
    validate_cluster_type,
    validate_name_prefix,
    validate_sync_mode,
)
from kubectl_clusternet.core.registration import parse_cluster_labels as _parse_label_pairs
from kubectl_clusternet.core.registration import validate_cluster_name as _validate_name
from kubectl_clusternet.core.tokens import token_kind

__all__ = [
    "AgentOptions",
    "FEATURE_GATES",
    "build_parser",
    "parse_options",
    "parse_cluster_labels",
    "parse_feature_gates",
    "parse_bool",
    "env_name",
    "validate_parent_url",
    "validate_cluster_name",
    "validate_registration_token",
]

# Every gate upstream Clusternet knows (reference §1.6); only SocketConnection and AppPusher change what this
# agent reports, the others are accepted so an upstream Deployment's --feature-gates works unchanged.
FEATURE_GATES: tuple[str, ...] = (
    "SocketConnection",
    "AppPusher",
    "Deployer",
    "ShadowAPI",
    "FeedInUseProtection",
    "Recovery",
    "FeedInventory",
    "Predictor",
    "MultiClusterService",
    "FailOver",
    "FeasibleClustersToleration",
    "ClusterInit",
)
_TRUE_WORDS = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE_WORDS = frozenset({"0", "f", "F", "false", "FALSE", "False"})
_LOG_FORMATS = ("text", "json")
_LOG_LEVELS = ("debug", "info", "warning", "error")

# Upstream's chart and Deployment pass these two through short environment variable names.
_ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "cluster-reg-parent-url": ("PARENT_URL",),
    "cluster-reg-token": ("REG_TOKEN",),
}


@dataclass(frozen=True)
class AgentOptions:
    """The agent's whole configuration after parsing and validation."""

    parent_url: str | None = None
    registration_token: str | None = None
    cluster_name: str | None = None
    cluster_name_prefix: str = DEFAULT_NAME_PREFIX
    cluster_namespace: str | None = None
    cluster_type: str = "StandardCluster"
    cluster_labels: dict[str, str] = field(default_factory=dict)
    sync_mode: str = "Pull"
    status_update_seconds: float = 30.0
    status_collect_seconds: float = 20.0
    labels_aggregate_threshold: float = 0.8
    labels_aggregate_prefixes: tuple[str, ...] = (NODE_LABEL_PREFIX,)
    feature_gates: dict[str, bool] = field(default_factory=dict)
    kubeconfig: str | None = None
    insecure_skip_parent_verify: bool = False
    leader_elect: bool = True
    lease_duration_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    retry_period_seconds: float = 2.0
    kube_api_qps: float = 50.0
    kube_api_burst: int = 100
    log_format: str = "text"
    log_level: str = "info"
    healthz_port: int = 0
    healthz_bind_address: str = "127.0.0.1"
    tunnel_allowed_destinations: str = ""
    warnings: tuple[str, ...] = ()  # logged once logging is set up (malformed --cluster-labels pairs)

    def gate(self, name: str) -> bool:
        """Whether a feature gate is on (all default to off, as upstream)."""
        return self.feature_gates.get(name, False)


@dataclass(frozen=True)
class _Flag:
    """One command-line flag and how its text becomes a value."""

    name: str
    help: str
    default: Any = None
    kind: str = "str"  # str | bool | list
    metavar: str | None = None


_FLAGS: tuple[_Flag, ...] = (
    _Flag("cluster-reg-parent-url", "URL of the parent cluster's kube-apiserver (https).", metavar="URL"),
    _Flag(
        "cluster-reg-token",
        "Bootstrap token <id>.<secret> or ServiceAccount JWT used only to register.",
        metavar="TOKEN",
    ),
    _Flag("cluster-reg-name", "Cluster name (DNS-1123 label, at most 30 characters).", metavar="NAME"),
    _Flag(
        "cluster-reg-name-prefix",
        "Prefix of the generated name <prefix>-xxxxx when --cluster-reg-name is empty.",
        DEFAULT_NAME_PREFIX,
        metavar="PREFIX",
    ),
    _Flag(
        "cluster-reg-namespace", "Dedicated namespace to ask the parent for (optional).", metavar="NAMESPACE"
    ),
    _Flag("cluster-reg-type", "StandardCluster or EdgeCluster.", "StandardCluster", metavar="TYPE"),
    _Flag("cluster-labels", "Labels for the ManagedCluster, k1=v1,k2=v2.", "", metavar="LABELS"),
    _Flag("cluster-sync-mode", "Push, Pull or Dual (Push needs gate AppPusher).", "Pull", metavar="MODE"),
    _Flag(
        "cluster-status-update-frequency",
        "How often the status is written to the parent (Go duration).",
        "30s",
        metavar="DURATION",
    ),
    _Flag(
        "cluster-status-collect-frequency",
        "How often the status is collected in the child (Go duration).",
        "20s",
        metavar="DURATION",
    ),
    _Flag(
        "labels-aggregate-threshold",
        "Share of worker nodes (0..1) that must carry a label for it to reach the ManagedCluster.",
        "0.8",
        metavar="RATIO",
    ),
    _Flag(
        "labels-aggregate-prefix",
        "Node label prefixes to aggregate; repeatable or comma-separated.",
        [NODE_LABEL_PREFIX],
        kind="list",
        metavar="PREFIX",
    ),
    _Flag(
        "feature-gates",
        "Gates, e.g. SocketConnection=true,AppPusher=true (all default false). Known: "
        + ", ".join(FEATURE_GATES)
        + ".",
        "",
        metavar="GATES",
    ),
    _Flag(
        "kubeconfig",
        "Kubeconfig of the child cluster; in-cluster credentials when empty.",
        "",
        metavar="FILE",
    ),
    _Flag(
        "insecure-skip-parent-verify",
        "Trust the parent without checking its CA (never needed with a bootstrap token).",
        False,
        kind="bool",
    ),
    _Flag(
        "leader-elect", "Take the Lease clusternet-system/clusternet-agent before acting.", True, kind="bool"
    ),
    _Flag(
        "leader-elect-lease-duration",
        "How long a leader's Lease lasts without renewal.",
        "15s",
        metavar="DURATION",
    ),
    _Flag(
        "leader-elect-renew-deadline", "How long a leader keeps trying to renew.", "10s", metavar="DURATION"
    ),
    _Flag("leader-elect-retry-period", "How often the Lease is tried and renewed.", "2s", metavar="DURATION"),
    _Flag("kube-api-qps", "QPS reported for parent-side clients of this cluster.", "50", metavar="QPS"),
    _Flag(
        "kube-api-burst", "Burst reported for parent-side clients of this cluster.", "100", metavar="BURST"
    ),
    _Flag("log-format", "text or json.", "text", metavar="FORMAT"),
    _Flag("log-level", "debug, info, warning or error.", "info", metavar="LEVEL"),
    _Flag("healthz-port", "Serve /healthz, /readyz and /metrics on PORT (0: off).", "0", metavar="PORT"),
    _Flag(
        "healthz-bind-address",
        "Address of the health and metrics server (0.0.0.0 lets Prometheus scrape the pod IP).",
        "127.0.0.1",
        metavar="ADDRESS",
    ),
    _Flag(
        "tunnel-allowed-destinations",
        "With SocketConnection=true: host:port list the hub may reach through the tunnel besides the child's "
        "API server.",
        "",
        metavar="HOSTPORTS",
    ),
)

_EPILOG = """\
Every flag can also be set by an environment variable AGENT_<FLAG>, the flag name upper-cased with dashes
as underscores (--cluster-reg-name -> AGENT_CLUSTER_REG_NAME; booleans take true/false). The parent URL and
token are also read from PARENT_URL and REG_TOKEN, and, when neither flag nor environment gives them, from the
keys parentURL and regToken of Secret clusternet-system/clusternet-agent-cluster-registration in the child.
A command-line flag wins over the environment.
"""


def env_name(flag: str) -> str:
    """The generic environment variable for a flag: ``--cluster-reg-name`` -> ``AGENT_CLUSTER_REG_NAME``."""
    return "AGENT_" + flag.upper().replace("-", "_")


def _attribute(flag: str) -> str:
    return flag.replace("-", "_")


class _AgentArgumentParser(argparse.ArgumentParser):
    """argparse prints usage and exits 2 on bad flags; the daemon wants one ``error:`` line and exit 1."""

    def error(self, message: str) -> Any:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The daemon's argparse parser; defaults are None so the environment can fill what argv leaves out.

    ``--help`` and ``--version`` print and exit 0; every other problem raises UsageError.
    """
    parser = _AgentArgumentParser(
        prog="agent-lite",
        description="Register this (child) cluster with a Clusternet parent and report its status.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag in _FLAGS:
        default_text = flag.default if not isinstance(flag.default, list) else ",".join(flag.default)
        env_text = ", ".join((env_name(flag.name), *_ENV_ALIASES.get(flag.name, ())))
        help_text = f"{flag.help} [env {env_text}]"
        if default_text not in (None, ""):
            help_text += f" (default {str(default_text).lower() if flag.kind == 'bool' else default_text})"
        if flag.kind == "bool":
            parser.add_argument(
                f"--{flag.name}",
                dest=_attribute(flag.name),
                nargs="?",
                const="true",
                default=None,
                metavar="BOOL",
                help=help_text,
            )
        elif flag.kind == "list":
            parser.add_argument(
                f"--{flag.name}",
                dest=_attribute(flag.name),
                action="append",
                default=None,
                metavar=flag.metavar,
                help=help_text,
            )
        else:
            parser.add_argument(
                f"--{flag.name}",
                dest=_attribute(flag.name),
                default=None,
                metavar=flag.metavar,
                help=help_text,
            )
    parser.add_argument("--version", action="version", version=f"agent-lite v{__version__}")
    return parser


def parse_bool(text: str, *, flag: str) -> bool:
    """Go's strconv.ParseBool, which upstream's flags and feature gates use."""
    if text in _TRUE_WORDS:
        return True
    if text in _FALSE_WORDS:
        return False
    raise UsageError(f'invalid argument "{text}" for "--{flag}" flag: expected true or false')


def parse_feature_gates(text: str) -> dict[str, bool]:
    """``A=true,B=false`` into a dict; unknown gate names are an error, as in Kubernetes components."""
    gates: dict[str, bool] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep:
            raise UsageError(f"invalid --feature-gates entry {item!r}: expected Name=true or Name=false")
        if name not in FEATURE_GATES:
            raise UsageError(f"unrecognized feature gate: {name} (known gates: {', '.join(FEATURE_GATES)})")
        if value in _TRUE_WORDS:
            gates[name] = True
        elif value in _FALSE_WORDS:
            gates[name] = False
        else:
            raise UsageError(f"invalid value of {name}={value} in --feature-gates: expected true or false")
    return gates


def parse_cluster_labels(text: str) -> tuple[dict[str, str], list[str]]:
    """``k1=v1,k2=v2`` into a dict plus one warning per malformed pair (skipped, as upstream does)."""
    labels, warnings = _parse_label_pairs(text)
    return labels, [f"--cluster-labels: {warning}" for warning in warnings]


def validate_parent_url(url: str) -> str:
    """The parent URL must be an absolute https URL with a host; the token travels as a bearer header."""
    parsed = urllib.parse.urlsplit(url.strip())
    try:
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UsageError(f"invalid parent URL {url!r}: {exc}") from exc
    if parsed.scheme != "https" or not parsed.hostname or parsed.query or parsed.fragment:
        raise UsageError(f"invalid parent URL {url!r}: want https://host[:port]")
    return url.strip().rstrip("/")


def validate_cluster_name(name: str) -> str:
    """A DNS-1123 label of at most 30 characters (the CRD's limit, not upstream's 60)."""
    try:
        return _validate_name(name)
    except RegistrationError as exc:
        raise UsageError(f"invalid --cluster-reg-name: {exc}") from exc


def validate_registration_token(token: str) -> str:
    """A bootstrap token or a 3-segment JWT, nothing else; the message never echoes the token."""
    value = token.strip()
    if token_kind(value) is None:
        raise UsageError(
            "invalid registration token: want a bootstrap token [a-z0-9]{6}.[a-z0-9]{16} or a "
            "ServiceAccount JWT (three dot-separated base64url segments)"
        )
    return value


def _registration_check(check: Callable[[], object], flag: str) -> None:
    try:
        check()
    except RegistrationError as exc:
        raise UsageError(f"invalid --{flag}: {exc}") from exc


def _seconds(text: str, flag: str) -> float:
    seconds = parse_duration(text, flag=f"--{flag}")
    if seconds <= 0:
        raise UsageError(f'invalid argument "{text}" for "--{flag}" flag: must be positive')
    return seconds


def _raw_values(namespace: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
    """Each flag's text: from argv, else its environment variables, else the default."""
    values: dict[str, Any] = {}
    for flag in _FLAGS:
        given = getattr(namespace, _attribute(flag.name))
        if given is None:
            for variable in (env_name(flag.name), *_ENV_ALIASES.get(flag.name, ())):
                if environ.get(variable):
                    given = environ[variable]
                    if flag.kind == "list":
                        given = [given]
                    break
        if given is None:
            given = flag.default
        values[flag.name] = given
    return values


def parse_options(argv: Sequence[str], environ: Mapping[str, str]) -> AgentOptions:
    """argv plus environment into validated options; raises UsageError naming the first problem."""
    namespace = build_parser().parse_args(list(argv))
    raw = _raw_values(namespace, environ)

    gates = parse_feature_gates(str(raw["feature-gates"]))
    sync_mode = str(raw["cluster-sync-mode"])
    _registration_check(
        lambda: validate_sync_mode(sync_mode, app_pusher=gates.get("AppPusher", False)), "cluster-sync-mode"
    )
    cluster_type = str(raw["cluster-reg-type"])
    _registration_check(lambda: validate_cluster_type(cluster_type), "cluster-reg-type")
    parent_url = raw["cluster-reg-parent-url"] or None
    if parent_url is not None:
        parent_url = validate_parent_url(str(parent_url))
    token = raw["cluster-reg-token"] or None
    if token is not None:
        token = validate_registration_token(str(token))
    name = raw["cluster-reg-name"] or None
    if name is not None:
        validate_cluster_name(str(name))
    prefix = str(raw["cluster-reg-name-prefix"])
    _registration_check(lambda: validate_name_prefix(prefix), "cluster-reg-name-prefix")
    namespace_name = raw["cluster-reg-namespace"] or None
    if namespace_name is not None:
        _registration_check(lambda: validate_cluster_namespace(str(namespace_name)), "cluster-reg-namespace")

    try:
        threshold = float(raw["labels-aggregate-threshold"])
    except ValueError:
        threshold = -1.0
    if not 0.0 <= threshold <= 1.0:
        raise UsageError(
            f"invalid --labels-aggregate-threshold {raw['labels-aggregate-threshold']!r}: want a number in [0, 1]"
        )
    prefixes = tuple(
        part.strip()
        for item in raw["labels-aggregate-prefix"]
        for part in str(item).split(",")
        if part.strip()
    )

    log_format = str(raw["log-format"])
    if log_format not in _LOG_FORMATS:
        raise UsageError(f"invalid --log-format {log_format!r}: want text or json")
    log_level = str(raw["log-level"]).lower()
    if log_level not in _LOG_LEVELS:
        raise UsageError(f"invalid --log-level {log_level!r}: want one of {', '.join(_LOG_LEVELS)}")
    try:
        port = int(raw["healthz-port"])
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise UsageError(f"invalid --healthz-port {raw['healthz-port']!r}: want 0..65535")
    bind_address = str(raw["healthz-bind-address"])
    try:
        ipaddress.ip_address(bind_address)
    except ValueError:
        raise UsageError(f"invalid --healthz-bind-address {bind_address!r}: want an IP address") from None
    try:
        qps = float(raw["kube-api-qps"])
        burst = int(raw["kube-api-burst"])
    except ValueError as exc:
        raise UsageError(f"invalid --kube-api-qps or --kube-api-burst: {exc}") from exc

    lease = _seconds(str(raw["leader-elect-lease-duration"]), "leader-elect-lease-duration")
    renew = _seconds(str(raw["leader-elect-renew-deadline"]), "leader-elect-renew-deadline")
    retry = _seconds(str(raw["leader-elect-retry-period"]), "leader-elect-retry-period")
    if not retry < renew < lease:
        raise UsageError(
            "leader election wants --leader-elect-retry-period < --leader-elect-renew-deadline < "
            "--leader-elect-lease-duration"
        )

    def as_bool(flag: str) -> bool:
        value = raw[flag]
        return value if isinstance(value, bool) else parse_bool(str(value), flag=flag)

    tunnel_destinations = str(raw["tunnel-allowed-destinations"])
    if tunnel_destinations:
        from .tunnel_client import parse_allowed_destinations  # noqa: PLC0415 - the tunnel is optional

        parse_allowed_destinations(tunnel_destinations)  # raises UsageError naming the bad entry
    labels, warnings = parse_cluster_labels(str(raw["cluster-labels"]))
    return AgentOptions(
        parent_url=parent_url,
        registration_token=token,
        cluster_name=name,
        cluster_name_prefix=prefix,
        cluster_namespace=namespace_name,
        cluster_type=cluster_type,
        cluster_labels=labels,
        sync_mode=sync_mode,
        status_update_seconds=_seconds(
            str(raw["cluster-status-update-frequency"]), "cluster-status-update-frequency"
        ),
        status_collect_seconds=_seconds(
            str(raw["cluster-status-collect-frequency"]), "cluster-status-collect-frequency"
        ),
        labels_aggregate_threshold=threshold,
        labels_aggregate_prefixes=prefixes,
        feature_gates=gates,
        kubeconfig=str(raw["kubeconfig"]) or None,
        insecure_skip_parent_verify=as_bool("insecure-skip-parent-verify"),
        leader_elect=as_bool("leader-elect"),
        lease_duration_seconds=lease,
        renew_deadline_seconds=renew,
        retry_period_seconds=retry,
        kube_api_qps=qps,
        kube_api_burst=burst,
        log_format=log_format,
        log_level=log_level,
        healthz_port=port,
        healthz_bind_address=bind_address,
        tunnel_allowed_destinations=tunnel_destinations,
        warnings=tuple(warnings),
    )
