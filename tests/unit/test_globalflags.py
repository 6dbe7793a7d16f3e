"""kubectl's global flags are recognised anywhere on the command line, and nothing else is touched."""

from __future__ import annotations

import pytest

from kubectl_clusternet.cli.globalflags import GlobalFlags, split_global_flags
from kubectl_clusternet.core.errors import UsageError


@pytest.mark.parametrize(
    ("argv", "flags", "rest"),
    [
        (["get", "mcls", "-n", "foo"], GlobalFlags(namespace="foo"), ["get", "mcls"]),
        (["-nfoo", "get", "mcls"], GlobalFlags(namespace="foo"), ["get", "mcls"]),
        (["get", "--namespace=foo", "mcls"], GlobalFlags(namespace="foo"), ["get", "mcls"]),
        (["--kubeconfig", "/k", "--context=p", "get"], GlobalFlags(kubeconfig="/k", context="p"), ["get"]),
        (["get", "-A", "-o", "wide"], GlobalFlags(), ["get", "-A", "-o", "wide"]),
        (["-v=6", "get"], GlobalFlags(verbosity=6), ["get"]),
        (["--v", "8", "get"], GlobalFlags(verbosity=8), ["get"]),
        (
            ["--as", "jane", "--as-group", "a", "--as-group=b"],
            GlobalFlags(as_user="jane", as_groups=("a", "b")),
            [],
        ),
        (["--insecure-skip-tls-verify", "get"], GlobalFlags(insecure_skip_tls_verify=True), ["get"]),
        (["--insecure-skip-tls-verify=false"], GlobalFlags(insecure_skip_tls_verify=False), []),
        (
            ["-s", "https://127.0.0.1:6443", "--token", "t"],
            GlobalFlags(server="https://127.0.0.1:6443", token="t"),
            [],
        ),
        (["--request-timeout", "5s", "get"], GlobalFlags(request_timeout="5s"), ["get"]),
        (["exec", "pod", "--", "sh", "-n", "x"], GlobalFlags(), ["exec", "pod", "--", "sh", "-n", "x"]),
    ],
)
def test_split(argv: list[str], flags: GlobalFlags, rest: list[str]) -> None:
    """Global flags are taken out wherever they stand; other arguments keep their order; `--` ends the search."""
    assert split_global_flags(argv) == (flags, rest)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["get", "-n"], "flag needs an argument: -n"),
        (["-v=x"], 'invalid argument "x" for "-v" flag: strconv.ParseInt: parsing "x": invalid syntax'),
        (
            ["--insecure-skip-tls-verify=maybe"],
            'invalid argument "maybe" for "--insecure-skip-tls-verify" flag',
        ),
    ],
)
def test_bad_flags(argv: list[str], message: str) -> None:
    """A global flag without its value, or with a bad one, is a usage error worded as kubectl words it."""
    with pytest.raises(UsageError) as caught:
        split_global_flags(argv)
    assert str(caught.value).startswith(message)


def test_overrides_carry_every_connection_flag() -> None:
    """The flags reach the kubeconfig resolver unchanged."""
    flags, _ = split_global_flags(
        ["--context", "c", "--cluster", "k", "--user", "u", "-n", "ns", "--as-uid", "1"]
    )
    overrides = flags.overrides()
    assert (overrides.context, overrides.cluster, overrides.user, overrides.namespace, overrides.as_uid) == (
        "c",
        "k",
        "u",
        "ns",
        "1",
    )
