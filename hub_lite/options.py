"""hub-lite's command line: upstream's flag names where they exist, Go durations for every period."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from kubectl_clusternet import __version__
from kubectl_clusternet.core.errors import UsageError
from kubectl_clusternet.core.kube.kubeconfig import parse_duration
from kubectl_clusternet.core.registration import (
    DEFAULT_TOKEN_EXPIRATION_SECONDS,
    HUB_LEASE_NAME,
    MIN_TOKEN_EXPIRATION_SECONDS,
    SYSTEM_NAMESPACE,
)

__all__ = ["HubOptions", "build_parser", "parse_options"]


@dataclass(frozen=True)
class HubOptions:
    kubeconfig: str
    context: str
    leader_elect: bool
    lease_duration: float
    renew_deadline: float
    retry_period: float
    lease_name: str
    lease_namespace: str
    log_format: str
    log_level: str
    healthz_bind_address: str
    healthz_port: int
    cluster_token_ttl: float


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "t", "yes"):
        return True
    if lowered in ("false", "0", "f", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


def _duration(flag: str) -> Callable[[str], float]:
    """An argparse type for a Go-duration flag, yielding seconds."""

    def parse(text: str) -> float:
        try:
            return parse_duration(text, flag=flag)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub-lite",
        description=(
            "The Clusternet hub side: approves cluster registrations (dedicated namespace, ManagedCluster, "
            "ServiceAccount, RBAC, a bound token) and marks clusters whose agents stop reporting Unknown "
            "and unschedulable. Runs beside the parent cluster; only the Lease holder runs controllers."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hub-lite v{__version__}")
    parser.add_argument(
        "--kubeconfig",
        default="",
        help="Kubeconfig of the parent cluster; empty means in-cluster credentials.",
    )
    parser.add_argument(
        "--context", default="", help="Kubeconfig context to use; empty means the current one."
    )
    parser.add_argument(
        "--leader-elect",
        type=_bool,
        nargs="?",
        const=True,
        default=True,
        metavar="BOOL",
        help="Take a Lease before running controllers, so several replicas can run safely.",
    )
    parser.add_argument(
        "--leader-elect-lease-duration",
        type=_duration("--leader-elect-lease-duration"),
        default="15s",
        metavar="DURATION",
        help="How long standbys wait after the last renewal before taking over.",
    )
    parser.add_argument(
        "--leader-elect-renew-deadline",
        type=_duration("--leader-elect-renew-deadline"),
        default="10s",
        metavar="DURATION",
        help="How long the leader keeps trying to renew before it stops leading.",
    )
    parser.add_argument(
        "--leader-elect-retry-period",
        type=_duration("--leader-elect-retry-period"),
        default="2s",
        metavar="DURATION",
        help="How often to try to acquire or renew the Lease.",
    )
    parser.add_argument("--leader-elect-resource-name", default=HUB_LEASE_NAME, help="Name of the Lease.")
    parser.add_argument(
        "--leader-elect-resource-namespace", default=SYSTEM_NAMESPACE, help="Namespace of the Lease."
    )
    parser.add_argument("--log-format", choices=("text", "json"), default="text", help="Log line format.")
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="Lowest level logged.",
    )
    parser.add_argument(
        "--healthz-bind-address", default="127.0.0.1", help="Address serving /healthz and /readyz."
    )
    parser.add_argument(
        "--healthz-port",
        type=int,
        default=10660,
        help="Port serving /healthz and /readyz; 0 turns the server off.",
    )
    parser.add_argument(
        "--cluster-token-ttl",
        type=_duration("--cluster-token-ttl"),
        default=f"{DEFAULT_TOKEN_EXPIRATION_SECONDS // 3600}h",
        metavar="DURATION",
        help="Lifetime of the token handed to an approved agent (it renews the token itself); at least 10m.",
    )
    return parser


def parse_options(argv: list[str] | None = None) -> HubOptions:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (
        not args.leader_elect_lease_duration
        > args.leader_elect_renew_deadline
        > args.leader_elect_retry_period
        > 0
    ):
        parser.error(
            "need --leader-elect-lease-duration > --leader-elect-renew-deadline > --leader-elect-retry-period > 0"
        )
    if args.cluster_token_ttl < MIN_TOKEN_EXPIRATION_SECONDS:
        parser.error("--cluster-token-ttl must be at least 10m (the TokenRequest API's minimum)")
    if not 0 <= args.healthz_port <= 65535:
        parser.error("--healthz-port must be between 0 and 65535")
    return HubOptions(
        kubeconfig=args.kubeconfig,
        context=args.context,
        leader_elect=args.leader_elect,
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
        lease_name=args.leader_elect_resource_name,
        lease_namespace=args.leader_elect_resource_namespace,
        log_format=args.log_format,
        log_level=args.log_level,
        healthz_bind_address=args.healthz_bind_address,
        healthz_port=args.healthz_port,
        cluster_token_ttl=args.cluster_token_ttl,
    )
