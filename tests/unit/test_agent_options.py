"""agent-lite's flags and environment: upstream names, defaults, precedence and one-line validation errors."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from agent_lite.options import (
    AgentOptions,
    env_name,
    parse_bool,
    parse_cluster_labels,
    parse_feature_gates,
    parse_options,
    validate_parent_url,
    validate_registration_token,
)
from kubectl_clusternet.core.errors import UsageError

TOKEN = "abcdef.0123456789abcdef"


def _jwt(claims: dict[str, object]) -> str:
    def segment(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'RS256'})}.{segment(claims)}.c2lnbmF0dXJl"


def test_defaults_match_upstream_and_the_contract() -> None:
    """With no flags the options carry upstream's defaults, except the 30s report period of our contract."""
    options = parse_options([], {})
    assert options == AgentOptions()
    assert options.cluster_name_prefix == "clusternet-cluster"
    assert options.sync_mode == "Pull"
    assert options.cluster_type == "StandardCluster"
    assert options.status_update_seconds == 30.0
    assert options.status_collect_seconds == 20.0
    assert options.labels_aggregate_threshold == 0.8
    assert options.labels_aggregate_prefixes == ("node.clusternet.io/",)
    assert options.leader_elect is True
    assert options.feature_gates == {}
    assert options.gate("AppPusher") is False


@pytest.mark.parametrize(
    ("argv", "environ", "attribute", "expected"),
    [
        (["--cluster-reg-parent-url", "https://127.0.0.1:6443"], {}, "parent_url", "https://127.0.0.1:6443"),
        ([], {"PARENT_URL": "https://192.0.2.1:6443/"}, "parent_url", "https://192.0.2.1:6443"),
        (
            [],
            {"AGENT_CLUSTER_REG_PARENT_URL": "https://a:1", "PARENT_URL": "https://b:2"},
            "parent_url",
            "https://a:1",
        ),
        (
            ["--cluster-reg-parent-url=https://flag:1"],
            {"PARENT_URL": "https://env:2"},
            "parent_url",
            "https://flag:1",
        ),
        ([], {"REG_TOKEN": TOKEN}, "registration_token", TOKEN),
        ([], {"AGENT_CLUSTER_REG_TOKEN": TOKEN}, "registration_token", TOKEN),
        (["--cluster-reg-name", "edge-1"], {}, "cluster_name", "edge-1"),
        ([], {"AGENT_CLUSTER_REG_NAME": "from-env"}, "cluster_name", "from-env"),
        (["--cluster-status-update-frequency", "1m30s"], {}, "status_update_seconds", 90.0),
        (["--cluster-status-collect-frequency=2s"], {}, "status_collect_seconds", 2.0),
        ([], {"AGENT_CLUSTER_STATUS_COLLECT_FREQUENCY": "500ms"}, "status_collect_seconds", 0.5),
        (["--leader-elect=false"], {}, "leader_elect", False),
        ([], {"AGENT_LEADER_ELECT": "false"}, "leader_elect", False),
        (["--insecure-skip-parent-verify"], {}, "insecure_skip_parent_verify", True),
        (["--labels-aggregate-threshold", "0.5"], {}, "labels_aggregate_threshold", 0.5),
        (
            ["--labels-aggregate-prefix", "a.io/,b.io/", "--labels-aggregate-prefix", "c.io/"],
            {},
            "labels_aggregate_prefixes",
            ("a.io/", "b.io/", "c.io/"),
        ),
        (
            [],
            {"AGENT_LABELS_AGGREGATE_PREFIX": "x.io/,y.io/"},
            "labels_aggregate_prefixes",
            ("x.io/", "y.io/"),
        ),
        (["--cluster-labels", "env=prod,team=a"], {}, "cluster_labels", {"env": "prod", "team": "a"}),
        (["--cluster-reg-type", "EdgeCluster"], {}, "cluster_type", "EdgeCluster"),
        (["--cluster-sync-mode", "Dual"], {}, "sync_mode", "Dual"),
        (
            ["--cluster-sync-mode", "Push", "--feature-gates", "AppPusher=true"],
            {},
            "sync_mode",
            "Push",
        ),
        (
            ["--feature-gates", "SocketConnection=true,AppPusher=false"],
            {},
            "feature_gates",
            {"SocketConnection": True, "AppPusher": False},
        ),
        (["--log-format", "json"], {}, "log_format", "json"),
        (["--healthz-port", "10650"], {}, "healthz_port", 10650),
        (["--kubeconfig", "/tmp/child"], {}, "kubeconfig", "/tmp/child"),
        ([], {"AGENT_KUBECONFIG": "/tmp/env-child"}, "kubeconfig", "/tmp/env-child"),
    ],
)
def test_flags_and_environment(
    argv: list[str], environ: dict[str, str], attribute: str, expected: object
) -> None:
    """Each flag is read from argv, else AGENT_<FLAG> (or PARENT_URL/REG_TOKEN), with argv winning."""
    assert getattr(parse_options(argv, environ), attribute) == expected


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--cluster-reg-parent-url", "http://192.0.2.1"], {}, "invalid parent URL"),
        (["--cluster-reg-parent-url", "not a url"], {}, "invalid parent URL"),
        (["--cluster-reg-parent-url", "https://host:99999"], {}, "invalid parent URL"),
        ([], {"PARENT_URL": "ftp://x"}, "invalid parent URL"),
        (["--cluster-reg-token", "abcdef.short"], {}, "invalid registration token"),
        (["--cluster-reg-token", "ABCDEF.0123456789abcdef"], {}, "invalid registration token"),
        ([], {"REG_TOKEN": "one.two"}, "invalid registration token"),
        (["--cluster-reg-name", "a" * 31], {}, "at most 30"),
        (["--cluster-reg-name", "Upper"], {}, "--cluster-reg-name"),
        (["--cluster-reg-name", "-dash"], {}, "--cluster-reg-name"),
        (["--cluster-reg-name-prefix", "p" * 25], {}, "--cluster-reg-name-prefix"),
        (["--cluster-reg-namespace", "Bad_NS"], {}, "--cluster-reg-namespace"),
        (["--cluster-reg-type", "Huge"], {}, "--cluster-reg-type"),
        (["--cluster-sync-mode", "Push"], {}, "AppPusher"),
        (["--cluster-sync-mode", "Sideways"], {}, "--cluster-sync-mode"),
        (["--cluster-status-update-frequency", "30"], {}, "missing unit"),
        (["--cluster-status-collect-frequency=0s"], {}, "must be positive"),
        (["--feature-gates", "Teleport=true"], {}, "unrecognized feature gate: Teleport"),
        (["--feature-gates", "AppPusher=maybe"], {}, "AppPusher=maybe"),
        (["--feature-gates", "AppPusher"], {}, "Name=true"),
        (["--labels-aggregate-threshold", "1.5"], {}, "[0, 1]"),
        (["--labels-aggregate-threshold", "most"], {}, "[0, 1]"),
        (["--leader-elect=perhaps"], {}, "expected true or false"),
        (["--log-format", "xml"], {}, "--log-format"),
        (["--healthz-port", "70000"], {}, "--healthz-port"),
        (["--leader-elect-retry-period", "20s"], {}, "retry-period"),
        (["--no-such-flag"], {}, "unrecognized arguments"),
    ],
)
def test_invalid_configuration_is_one_usage_error(
    argv: list[str], environ: dict[str, str], message: str
) -> None:
    """Every bad value raises UsageError whose message names the problem."""
    with pytest.raises(UsageError) as caught:
        parse_options(argv, environ)
    assert message in caught.value.message


def test_token_is_never_echoed_in_errors() -> None:
    """A malformed token is rejected without printing it (it may be a real secret with a typo)."""
    secretish = "abcdef.0123456789abcdeX"
    with pytest.raises(UsageError) as caught:
        validate_registration_token(secretish)
    assert secretish not in caught.value.message


@pytest.mark.parametrize(
    ("token", "valid"),
    [
        (TOKEN, True),
        (_jwt({"sub": "system:serviceaccount:clusternet-system:cluster-bootstrap-use"}), True),
        ("abcdef0123456789abcdef", False),
        ("abcde.0123456789abcdef", False),
        ("abcdef.0123456789abcde", False),
        ("a.b", False),
        ("", False),
    ],
)
def test_registration_token_shapes(token: str, valid: bool) -> None:
    """Only [a-z0-9]{6}.[a-z0-9]{16} and three-segment JWTs are accepted."""
    if valid:
        assert validate_registration_token(token) == token
    else:
        with pytest.raises(UsageError):
            validate_registration_token(token)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://127.0.0.1:6443", "https://127.0.0.1:6443"),
        ("https://parent.example.com/", "https://parent.example.com"),
        ("https://[::1]:6443", "https://[::1]:6443"),
    ],
)
def test_parent_url_normalised(url: str, expected: str) -> None:
    """Valid https URLs lose only a trailing slash, so stored and given URLs compare equal."""
    assert validate_parent_url(url) == expected


@pytest.mark.parametrize(
    ("text", "labels", "warnings"),
    [
        ("", {}, 0),
        ("a=1", {"a": "1"}, 0),
        ("a=1,b=2", {"a": "1", "b": "2"}, 0),
        (" a = 1 , b=2 ", {"a": "1", "b": "2"}, 0),
        ("example.com/tier=gold", {"example.com/tier": "gold"}, 0),
        ("a=", {"a": ""}, 0),
        ("novalue,a=1", {"a": "1"}, 1),
        ("=x,a=1", {"a": "1"}, 1),
        ("a=not valid,b=ok", {"b": "ok"}, 1),
        ("a=1,,b=2", {"a": "1", "b": "2"}, 0),
    ],
)
def test_cluster_labels(text: str, labels: dict[str, str], warnings: int) -> None:
    """Well-formed pairs are kept; each malformed one is skipped with one warning."""
    parsed, warned = parse_cluster_labels(text)
    assert parsed == labels
    assert len(warned) == warnings


def test_malformed_labels_reach_the_options_as_warnings() -> None:
    """The daemon logs skipped label pairs once logging is configured."""
    options = parse_options(["--cluster-labels", "good=1,bad"], {})
    assert options.cluster_labels == {"good": "1"}
    assert len(options.warnings) == 1 and "bad" in options.warnings[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("SocketConnection=true", {"SocketConnection": True}),
        ("AppPusher=True,Recovery=0", {"AppPusher": True, "Recovery": False}),
        (" ClusterInit = t ", {"ClusterInit": True}),
    ],
)
def test_feature_gates(text: str, expected: dict[str, bool]) -> None:
    """Known gates parse with Go's boolean words."""
    assert parse_feature_gates(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("1", True), ("F", False), ("FALSE", False)])
def test_parse_bool_accepts_go_words(text: str, expected: bool) -> None:
    """Booleans from flags and environment follow strconv.ParseBool."""
    assert parse_bool(text, flag="x") is expected


@pytest.mark.parametrize(
    ("flag", "variable"),
    [
        ("cluster-reg-name", "AGENT_CLUSTER_REG_NAME"),
        ("labels-aggregate-threshold", "AGENT_LABELS_AGGREGATE_THRESHOLD"),
        ("kubeconfig", "AGENT_KUBECONFIG"),
    ],
)
def test_environment_variable_names(flag: str, variable: str) -> None:
    """AGENT_ plus the flag upper-cased with underscores."""
    assert env_name(flag) == variable


def test_help_lists_every_flag_and_its_environment_variable() -> None:
    """--help exits 0 and names each flag and its AGENT_ variable."""
    result = subprocess.run(
        [sys.executable, "-m", "agent_lite", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    compact = " ".join(result.stdout.split())
    for flag in (
        "--cluster-reg-parent-url",
        "--cluster-reg-token",
        "--cluster-reg-name",
        "--cluster-reg-name-prefix",
        "--cluster-reg-namespace",
        "--cluster-reg-type",
        "--cluster-labels",
        "--cluster-sync-mode",
        "--cluster-status-update-frequency",
        "--cluster-status-collect-frequency",
        "--labels-aggregate-threshold",
        "--labels-aggregate-prefix",
        "--feature-gates",
        "--kubeconfig",
        "--insecure-skip-parent-verify",
        "--leader-elect",
        "--log-format",
        "--healthz-port",
        "--tunnel-allowed-destinations",
    ):
        assert flag in compact
        assert env_name(flag[2:]) in compact
    assert "PARENT_URL" in compact and "REG_TOKEN" in compact
    assert "clusternet-agent-cluster-registration" in compact


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cluster-reg-token", "nope"], "error: invalid registration token"),
        (["--cluster-reg-name", "x" * 40], "error: invalid --cluster-reg-name"),
        (["--cluster-status-update-frequency", "soon"], "error: invalid argument"),
        (["--feature-gates", "Nope=true"], "error: unrecognized feature gate: Nope"),
    ],
)
def test_daemon_prints_one_error_line_and_exits_1(argv: list[str], message: str) -> None:
    """A configuration error is one `error: …` line on stderr, exit code 1, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "agent_lite", *argv], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(message)
