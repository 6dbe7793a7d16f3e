"""Kubeconfig loading that behaves exactly like kubectl 1.32 (client-go's clientcmd).

The official Python client merges several KUBECONFIG files with the wrong precedence (the last file's
``current-context`` wins), so the toolkit resolves the merged view itself and hands the client library a
standalone single-context kubeconfig.

kubectl's rules, reproduced here:

- ``--kubeconfig`` names exactly one file, which must exist; otherwise ``$KUBECONFIG`` is split on
  ``os.pathsep`` (empty and repeated entries dropped, missing files skipped); otherwise ``~/.kube/config``.
- The first file to set a value or a named entry wins, ``current-context`` and ``preferences`` included. A
  later file's entry with the same name is dropped whole, even its keys the first one lacks.
- Relative ``certificate-authority``, ``client-certificate``, ``client-key`` and ``tokenFile`` paths (and an
  exec ``command`` containing a path separator) are resolved against the directory of the file they come from.
- Flags override the kubeconfig field by field, with client-go's special cases (see :func:`resolve`).

Where kubectl would silently dial ``http://localhost:8080`` (no configuration at all, no context selected, a
context naming a cluster that does not exist, a cluster without ``server``), :func:`resolve` raises
:class:`ConfigError` instead: a toolkit that manages many clusters must never guess which one it talks to.
"""

from __future__ import annotations

import base64
import binascii
import copy
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, UsageError

__all__ = [
    "ConfigOverrides",
    "ResolvedConfig",
    "kubeconfig_paths",
    "load_merged",
    "resolve",
    "load_and_resolve",
    "parse_request_timeout",
    "parse_duration",
    "NO_CONFIGURATION_MESSAGE",
    "NO_CONTEXT_MESSAGE",
    "INVALID_TIMEOUT_MESSAGE",
]

NO_CONFIGURATION_MESSAGE = (
    "no configuration has been provided, try setting KUBECONFIG or passing --kubeconfig"
)
NO_CONTEXT_MESSAGE = (
    "no context is selected: the kubeconfig sets no current-context; "
    'pass --context NAME or run "kubectl config use-context NAME"'
)
INVALID_TIMEOUT_MESSAGE = (
    "Invalid timeout value. Timeout must be a single integer in seconds, "
    "or an integer followed by a corresponding time unit (e.g. 1s | 2m | 3h)"
)

# The three named lists of a kubeconfig and the key that holds each entry's body.
_NAMED_LISTS: tuple[tuple[str, str], ...] = (
    ("clusters", "cluster"),
    ("users", "user"),
    ("contexts", "context"),
    ("extensions", "extension"),
)

# Field types client-go decodes strictly (a wrong type makes kubectl refuse the whole file).
_STRING_FIELDS: dict[str, frozenset[str]] = {
    "cluster": frozenset(
        {"server", "tls-server-name", "certificate-authority", "certificate-authority-data", "proxy-url"}
    ),
    "user": frozenset(
        {
            "client-certificate",
            "client-certificate-data",
            "client-key",
            "client-key-data",
            "token",
            "tokenFile",
            "as",
            "as-uid",
            "username",
            "password",
        }
    ),
    "context": frozenset({"cluster", "user", "namespace"}),
    "extension": frozenset(),
}
_BOOL_FIELDS: dict[str, frozenset[str]] = {
    "cluster": frozenset({"insecure-skip-tls-verify", "disable-compression"}),
    "user": frozenset(),
    "context": frozenset(),
    "extension": frozenset(),
}
_BASE64_FIELDS = frozenset({"certificate-authority-data", "client-certificate-data", "client-key-data"})

# Exec plugin API versions for which client-go defaults an empty interactiveMode to IfAvailable.
_EXEC_VERSIONS_WITH_DEFAULT_INTERACTIVE_MODE = frozenset(
    {"client.authentication.k8s.io/v1alpha1", "client.authentication.k8s.io/v1beta1"}
)
_EXEC_INTERACTIVE_MODES = frozenset({"Never", "IfAvailable", "Always"})

_PLACEHOLDER_NAME = "default"


@dataclass(frozen=True)
class ConfigOverrides:
    """kubectl's global connection flags; ``None`` (or an empty string, as in kubectl) means "not given"."""

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
    request_timeout: str | None = None  # kubectl syntax: "0", "10", "1s", "2m", "1h", "1m30s"
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class ResolvedConfig:
    """One connection as kubectl would make it: the selected entries with every flag applied."""

    context_name: str
    cluster_name: str
    user_name: str
    namespace: str
    namespace_explicit: bool
    cluster: dict[str, Any] = field(default_factory=dict)
    user: dict[str, Any] = field(default_factory=dict)
    request_timeout_seconds: float | None = None

    def to_single_context_dict(self) -> dict[str, Any]:
        """A standalone kubeconfig holding only this connection, so a client library cannot pick another.

        Empty names (a connection made from ``--server`` alone) become ``"default"``, because client
        libraries reject empty names. The namespace is written into the context even when it came from
        ``-n``, so the library's idea of "the namespace" agrees with ours.
        """
        context_name = self.context_name or _PLACEHOLDER_NAME
        cluster_name = self.cluster_name or _PLACEHOLDER_NAME
        user_name = self.user_name or _PLACEHOLDER_NAME
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "current-context": context_name,
            "clusters": [{"name": cluster_name, "cluster": copy.deepcopy(self.cluster)}],
            "users": [{"name": user_name, "user": copy.deepcopy(self.user)}],
            "contexts": [
                {
                    "name": context_name,
                    "context": {"cluster": cluster_name, "user": user_name, "namespace": self.namespace},
                }
            ],
        }


# -- which files --------------------------------------------------------------------------------------


def _home_directory(environ: Mapping[str, str]) -> Path:
    """client-go reads HOME first; Windows users often only have USERPROFILE or HOMEDRIVE+HOMEPATH."""
    if environ.get("HOME"):
        return Path(environ["HOME"])
    if environ.get("USERPROFILE"):
        return Path(environ["USERPROFILE"])
    if environ.get("HOMEDRIVE") and environ.get("HOMEPATH"):
        return Path(environ["HOMEDRIVE"] + environ["HOMEPATH"])
    return Path.home()


def _os_error_text(error: OSError) -> str:
    """Go spells errno texts in lower case ("no such file or directory"); match it for identical messages."""
    text = error.strerror or str(error)
    return text[:1].lower() + text[1:]


def kubeconfig_paths(explicit: str | None, environ: Mapping[str, str]) -> list[Path]:
    """The files kubectl would read, in precedence order; missing ones are left out, as kubectl skips them.

    An explicit ``--kubeconfig`` replaces ``$KUBECONFIG`` entirely and must exist.
    """
    if explicit:
        try:
            os.stat(explicit)
        except FileNotFoundError as exc:
            raise ConfigError(f"stat {explicit}: {_os_error_text(exc)}") from exc
        except OSError:
            pass  # like kubectl, only "does not exist" is fatal here; reading it reports anything else
        return [Path(explicit)]
    env_value = environ.get("KUBECONFIG", "")
    if env_value:
        candidates: list[str] = []
        for entry in env_value.split(os.pathsep):
            if entry and entry not in candidates:
                candidates.append(entry)
    else:
        candidates = [str(_home_directory(environ) / ".kube" / "config")]
    return [Path(entry) for entry in candidates if os.path.exists(entry)]


# -- reading one file ---------------------------------------------------------------------------------


class _KubeconfigLoader(yaml.SafeLoader):
    """Go's YAML decoder keeps unquoted dates as strings; PyYAML would turn them into datetime objects."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    if not isinstance(node, yaml.ScalarNode):  # the timestamp tag only ever resolves on scalars
        raise yaml.constructor.ConstructorError(None, None, "expected a scalar timestamp", node.start_mark)
    return str(loader.construct_scalar(node))


_KubeconfigLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _check_entry_body(kind: str, body: dict[str, Any], where: str) -> list[str]:
    """Problems with one cluster/user/context body, in the spirit of client-go's strict JSON decoding."""
    problems: list[str] = []
    for key, value in body.items():
        if key in _STRING_FIELDS[kind] and not isinstance(value, str):
            problems.append(f"{where}.{key}: expected a string, got {_type_name(value)}")
        elif key in _BOOL_FIELDS[kind] and not isinstance(value, bool):
            problems.append(f"{where}.{key}: expected a boolean, got {_type_name(value)}")
        elif key in _BASE64_FIELDS and isinstance(value, str):
            try:
                base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
            except (binascii.Error, ValueError):
                problems.append(f"{where}.{key}: illegal base64 data")
    if kind == "user":
        groups = body.get("as-groups")
        if groups is not None and not (isinstance(groups, list) and all(isinstance(g, str) for g in groups)):
            problems.append(f"{where}.as-groups: expected a list of strings")
        extra = body.get("as-user-extra")
        if extra is not None and not (
            isinstance(extra, dict)
            and all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in extra.values())
        ):
            problems.append(f"{where}.as-user-extra: expected a mapping of lists of strings")
        for mapping_key in ("exec", "auth-provider"):
            if mapping_key in body and not isinstance(body[mapping_key], dict):
                problems.append(
                    f"{where}.{mapping_key}: expected a mapping, got {_type_name(body[mapping_key])}"
                )
        exec_spec = body.get("exec")
        if (
            isinstance(exec_spec, dict)
            and "command" in exec_spec
            and not isinstance(exec_spec["command"], str)
        ):
            problems.append(
                f"{where}.exec.command: expected a string, got {_type_name(exec_spec['command'])}"
            )
    return problems


def _resolve_relative(path_value: str, base_directory: str) -> str:
    """filepath.Join(base, ref) as client-go does it: absolute paths stay, relative ones are joined and cleaned."""
    if not path_value or os.path.isabs(path_value):
        return path_value
    return os.path.normpath(os.path.join(base_directory, path_value))


def _resolve_file_references(kind: str, body: dict[str, Any], base_directory: str) -> None:
    if kind == "cluster":
        keys: tuple[str, ...] = ("certificate-authority",)
    elif kind == "user":
        keys = ("client-certificate", "client-key", "tokenFile")
    else:
        return
    for key in keys:
        if isinstance(body.get(key), str):
            body[key] = _resolve_relative(body[key], base_directory)
    exec_spec = body.get("exec")
    if kind == "user" and isinstance(exec_spec, dict):
        command = exec_spec.get("command")
        # A bare command name is looked up on PATH; only a path is tied to the kubeconfig's directory.
        if isinstance(command, str) and os.sep in command:
            exec_spec["command"] = _resolve_relative(command, base_directory)


def _without_nulls(body: dict[str, Any]) -> dict[str, Any]:
    """Go decodes ``key: null`` as the zero value, i.e. as if the key were absent."""
    return {key: value for key, value in body.items() if value is not None}


def _parse_kubeconfig_file(path: Path) -> dict[str, Any] | None:
    """One file, validated and normalised: named lists become ``{name: body}``; ``None`` if it is missing."""
    shown = str(path)
    prefix = f'error loading config file "{shown}": '
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise ConfigError(f"{prefix}read {shown}: is a directory") from exc
    except OSError as exc:
        raise ConfigError(f"{prefix}open {shown}: {_os_error_text(exc)}") from exc
    try:
        document: Any = next(iter(yaml.load_all(raw, Loader=_KubeconfigLoader)), None)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{prefix}yaml: {exc}".replace("\n", " ")) from exc
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{prefix}a kubeconfig must be a mapping, got {_type_name(document)}")

    kind = document.get("kind") or "Config"
    version = document.get("apiVersion") or "v1"
    if (version, kind) != ("v1", "Config"):
        raise ConfigError(f'{prefix}no kind "{kind}" is registered for version "{version}"')

    base_directory = os.path.abspath(os.path.dirname(shown))
    parsed: dict[str, Any] = {}
    current_context = document.get("current-context")
    if current_context is not None and not isinstance(current_context, str):
        raise ConfigError(f"{prefix}current-context: expected a string, got {_type_name(current_context)}")
    parsed["current-context"] = current_context or ""
    preferences = document.get("preferences")
    if preferences is not None and not isinstance(preferences, dict):
        raise ConfigError(f"{prefix}preferences: expected a mapping, got {_type_name(preferences)}")
    parsed["preferences"] = _without_nulls(preferences or {})

    for list_key, body_key in _NAMED_LISTS:
        items = document.get(list_key)
        if items is not None and not isinstance(items, list):
            raise ConfigError(f"{prefix}{list_key}: expected a list, got {_type_name(items)}")
        named: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(items or []):
            where = f"{list_key}[{index}]"
            if not isinstance(item, dict):
                raise ConfigError(f"{prefix}{where}: expected a mapping, got {_type_name(item)}")
            name = item.get("name")
            if name is None:
                name = ""
            if not isinstance(name, str):
                raise ConfigError(f"{prefix}{where}.name: expected a string, got {_type_name(name)}")
            if name in named:
                raise ConfigError(f'{prefix}duplicate name "{name}" in {list_key}')
            body = item.get(body_key)
            if body_key == "extension":
                named[name] = {body_key: copy.deepcopy(body)}
                continue
            if body is not None and not isinstance(body, dict):
                raise ConfigError(f"{prefix}{where}.{body_key}: expected a mapping, got {_type_name(body)}")
            body = _without_nulls(copy.deepcopy(body or {}))
            problems = _check_entry_body(body_key, body, f"{where}.{body_key}")
            if problems:
                raise ConfigError(prefix + problems[0])
            _resolve_file_references(body_key, body, base_directory)
            named[name] = body
        parsed[list_key] = named
    return parsed


# -- merging ------------------------------------------------------------------------------------------


def load_merged(paths: Sequence[Path]) -> dict[str, Any]:
    """Merge kubeconfig files with kubectl's first-wins rules into one kubeconfig-shaped dict.

    A missing file is skipped (as kubectl does for ``$KUBECONFIG`` entries); an unreadable or invalid one
    raises :class:`ConfigError` naming it. Entry names may be empty: kubectl keeps such entries, and a context
    without a ``cluster`` key refers to the cluster named ``""``.
    """
    current_context = ""
    preferences: dict[str, Any] = {}
    named: dict[str, dict[str, Any]] = {list_key: {} for list_key, _ in _NAMED_LISTS}
    for path in paths:
        parsed = _parse_kubeconfig_file(path)
        if parsed is None:
            continue
        if not current_context:
            current_context = parsed["current-context"]
        for key, value in parsed["preferences"].items():
            if not preferences.get(key):
                preferences[key] = value
        for list_key, _ in _NAMED_LISTS:
            for name, body in parsed[list_key].items():
                named[list_key].setdefault(name, body)

    merged: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": preferences,
        "current-context": current_context,
    }
    for list_key, body_key in _NAMED_LISTS:
        if list_key == "extensions":
            if named[list_key]:
                merged[list_key] = [{"name": n, **b} for n, b in named[list_key].items()]
            continue
        merged[list_key] = [{"name": name, body_key: body} for name, body in named[list_key].items()]
    return merged


# -- request timeout ----------------------------------------------------------------------------------

_DURATION_UNIT_NANOSECONDS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek small letter mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_MAX_DURATION_NANOSECONDS = 2**63 - 1
_DURATION_TERM = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
_PLAIN_INTEGER = re.compile(r"[+-]?[0-9]+")


def _parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds; raises ValueError carrying Go's own error text."""
    invalid = f'time: invalid duration "{text}"'
    rest = text
    negative = False
    if rest[:1] in ("+", "-"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(invalid)
    total = 0
    while rest:
        match = _DURATION_TERM.match(rest)
        if match is None:  # cannot happen: every part of the pattern may be empty
            raise ValueError(invalid)
        whole, fraction, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not fraction:
            raise ValueError(invalid)
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        unit_nanoseconds = _DURATION_UNIT_NANOSECONDS.get(unit)
        if unit_nanoseconds is None:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        term = int(whole or "0") * unit_nanoseconds
        if fraction:
            term += int(fraction) * unit_nanoseconds // 10 ** len(fraction)
        total += term
        if total > 2**63:
            raise ValueError(invalid)
        rest = rest[match.end() :]
    if negative:
        return -total
    if total > _MAX_DURATION_NANOSECONDS:
        raise ValueError(invalid)
    return total


def parse_duration(text: str, *, flag: str) -> float:
    """A Go duration flag (``--timeout=30s`` and the like) in seconds, rejected with kubectl's flag-error words."""
    try:
        return _parse_go_duration(text) / 1_000_000_000
    except ValueError as exc:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: {exc}') from exc


def parse_request_timeout(value: str | None) -> float | None:
    """kubectl's ``--request-timeout``: seconds as a float, or ``None`` for "no timeout".

    A bare non-negative integer means seconds; anything else must be a Go duration (``1m30s``, ``500ms``).
    Zero and negative durations mean no timeout (Go's HTTP client ignores them). A bare integer too large for
    Go's duration type is rejected; kubectl would silently wrap it around.
    """
    if not value:
        return None
    if _PLAIN_INTEGER.fullmatch(value) and int(value) >= 0:
        nanoseconds = int(value) * 1_000_000_000
        if nanoseconds > _MAX_DURATION_NANOSECONDS:
            raise UsageError(INVALID_TIMEOUT_MESSAGE)
    else:
        try:
            nanoseconds = _parse_go_duration(value)
        except ValueError as exc:
            raise UsageError(INVALID_TIMEOUT_MESSAGE) from exc
    if nanoseconds <= 0:
        return None
    return nanoseconds / 1_000_000_000


# -- resolving one connection -------------------------------------------------------------------------


def _named_entries(merged: Mapping[str, Any], list_key: str, body_key: str) -> dict[str, dict[str, Any]]:
    """``{name: body}`` for one named list; the first entry with a name wins, as in the merge."""
    entries: dict[str, dict[str, Any]] = {}
    for item in merged.get(list_key) or []:
        if isinstance(item, Mapping):
            name = item.get("name") or ""
            body = item.get(body_key)
            entries.setdefault(str(name), dict(body) if isinstance(body, Mapping) else {})
    return entries


def _apply_cluster_overrides(cluster: dict[str, Any], overrides: ConfigOverrides) -> None:
    """client-go's getCluster(): field-wise replacement plus its CA / insecure / tls-server-name special cases."""
    if overrides.server:
        cluster["server"] = overrides.server
    certificate_authority = (
        os.path.abspath(overrides.certificate_authority) if overrides.certificate_authority else ""
    )
    # --insecure-skip-tls-verify clears the kubeconfig's CA (else the two would conflict); --certificate-authority
    # clears insecure and CA data. --insecure-skip-tls-verify=false is a no-op, as in client-go.
    if overrides.insecure_skip_tls_verify or certificate_authority:
        cluster.pop("certificate-authority-data", None)
        cluster.pop("certificate-authority", None)
        cluster.pop("insecure-skip-tls-verify", None)
        if overrides.insecure_skip_tls_verify:
            cluster["insecure-skip-tls-verify"] = True
        if certificate_authority:
            cluster["certificate-authority"] = certificate_authority
    # A new --server makes the kubeconfig's tls-server-name meaningless: keep only the flag's value.
    if overrides.tls_server_name or overrides.server:
        cluster.pop("tls-server-name", None)
        if overrides.tls_server_name:
            cluster["tls-server-name"] = overrides.tls_server_name


def _apply_user_overrides(user: dict[str, Any], overrides: ConfigOverrides) -> None:
    """client-go's getAuthInfo(): flags replace single fields; the entry's other credentials stay."""
    if overrides.token:
        user["token"] = overrides.token
        # client-go keeps the kubeconfig's tokenFile, and its transport then sends the file's token instead of
        # the flag's (verified with kubectl 1.32). We drop the file so that --token does what it says.
        user.pop("tokenFile", None)
    if overrides.username:
        user["username"] = overrides.username
    if overrides.password:
        user["password"] = overrides.password
    if overrides.client_certificate:
        user["client-certificate"] = os.path.abspath(overrides.client_certificate)
        user.pop("client-certificate-data", None)
    if overrides.client_key:
        user["client-key"] = os.path.abspath(overrides.client_key)
        user.pop("client-key-data", None)
    if overrides.as_user:
        user["as"] = overrides.as_user
    if overrides.as_groups:
        user["as-groups"] = list(overrides.as_groups)
    if overrides.as_uid:
        user["as-uid"] = overrides.as_uid


def _unreadable(path: str) -> str | None:
    """Go's os.Open error text for ``path``, or ``None`` if it opens (a directory opens, as in Go)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError as exc:
        return f"open {path}: {_os_error_text(exc)}"
    os.close(descriptor)
    return None


def _user_problems(name: str, user: Mapping[str, Any], check_files: bool) -> list[str]:
    """client-go's validateAuthInfo(), same checks, same order, same words."""
    problems: list[str] = []
    methods: list[str] = []
    if user.get("token"):
        methods.append("token")
    if user.get("username") or user.get("password"):
        methods.append("basicAuth")
    certificate, certificate_data = user.get("client-certificate"), user.get("client-certificate-data")
    key, key_data = user.get("client-key"), user.get("client-key-data")
    if certificate or certificate_data:
        if certificate and certificate_data:
            problems.append(
                f"client-cert-data and client-cert are both specified for {name}. client-cert-data will override."
            )
        if key and key_data:
            problems.append(
                f"client-key-data and client-key are both specified for {name}; client-key-data will override"
            )
        if not key and not key_data:
            problems.append(
                f"client-key-data or client-key must be specified for {name} to use the clientCert authentication method."
            )
        if certificate and check_files:
            reason = _unreadable(str(certificate))
            if reason:
                problems.append(f"unable to read client-cert {certificate} for {name} due to {reason}")
        if key and check_files:
            reason = _unreadable(str(key))
            if reason:
                problems.append(f"unable to read client-key {key} for {name} due to {reason}")
    exec_spec = user.get("exec")
    if isinstance(exec_spec, Mapping):
        if user.get("auth-provider") is not None:
            problems.append(f"authProvider cannot be provided in combination with an exec plugin for {name}")
        if not exec_spec.get("command"):
            problems.append(f"command must be specified for {name} to use exec authentication plugin")
        api_version = exec_spec.get("apiVersion") or ""
        if not api_version:
            problems.append(f"apiVersion must be specified for {name} to use exec authentication plugin")
        for variable in exec_spec.get("env") or []:
            if not (isinstance(variable, Mapping) and variable.get("name")):
                problems.append(
                    f"env variable name must be specified for {name} to use exec authentication plugin"
                )
        mode = exec_spec.get("interactiveMode") or ""
        if not mode and api_version in _EXEC_VERSIONS_WITH_DEFAULT_INTERACTIVE_MODE:
            mode = "IfAvailable"
        if not mode:
            problems.append(f"interactiveMode must be specified for {name} to use exec authentication plugin")
        elif mode not in _EXEC_INTERACTIVE_MODES:
            problems.append(f'invalid interactiveMode for {name}: "{mode}"')
    if len(methods) > 1:
        problems.append(
            f"more than one authentication method found for {name}; found [{' '.join(methods)}], only one is allowed"
        )
    if (user.get("as-uid") or user.get("as-groups") or user.get("as-user-extra")) and not user.get("as"):
        problems.append(f"requesting uid, groups or user-extra for {name} without impersonating a user")
    return problems


def _proxy_url_problem(proxy_url: str, cluster_name: str) -> str | None:
    prefix = f'invalid \'proxy-url\' "{proxy_url}" for cluster "{cluster_name}": '
    try:
        parsed = urllib.parse.urlsplit(proxy_url)
        _ = parsed.port  # raises ValueError for a malformed port
    except ValueError:
        return f"{prefix}could not parse: {proxy_url}"
    if parsed.scheme not in ("http", "https", "socks5"):
        return f'{prefix}unsupported scheme "{parsed.scheme}", must be http, https, or socks5'
    return None


def _cluster_problems(name: str, cluster: Mapping[str, Any], check_files: bool) -> list[str]:
    """client-go's validateClusterInfo(), same checks, same order, same words."""
    problems: list[str] = []
    if not cluster.get("server"):
        problems.append(
            f'no server found for cluster "{name}"' if name else "default cluster has no server defined"
        )
    proxy_url = cluster.get("proxy-url")
    if proxy_url:
        problem = _proxy_url_problem(str(proxy_url), name)
        if problem:
            problems.append(problem)
    authority, authority_data = (
        cluster.get("certificate-authority"),
        cluster.get("certificate-authority-data"),
    )
    if authority and authority_data:
        problems.append(
            f"certificate-authority-data and certificate-authority are both specified for {name}. "
            "certificate-authority-data will override."
        )
    if authority and check_files:
        reason = _unreadable(str(authority))
        if reason:
            problems.append(f"unable to read certificate-authority {authority} for {name} due to {reason}")
    return problems


def _combined(problems: Sequence[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return "invalid configuration:\n" + "\n".join(f"* {problem}" for problem in problems)


def _missing_cluster_message(
    merged: Mapping[str, Any],
    context_name: str,
    cluster_name: str,
    clusters: Mapping[str, Any],
) -> str | None:
    """Our words for the cases where kubectl would fall back to dialing localhost:8080."""
    if cluster_name in clusters:
        return None
    if not context_name:
        if not any(merged.get(key) for key in ("clusters", "users", "contexts")):
            return NO_CONFIGURATION_MESSAGE
        return NO_CONTEXT_MESSAGE
    if not cluster_name:
        return f'cluster was not specified for context "{context_name}"'
    return f'cluster "{cluster_name}" was not found for context "{context_name}"'


def resolve(
    merged: Mapping[str, Any], overrides: ConfigOverrides, *, check_files: bool = True
) -> ResolvedConfig:
    """Select the context, cluster and user kubectl would use and apply the flags to them.

    Errors use kubectl's words: ``context was not found for specified context: X`` (for ``--context`` and for a
    dangling current-context), ``no server found for cluster "X"`` (unknown ``--cluster``),
    ``auth info "X" does not exist`` (unknown ``--user``), and client-go's validation messages for the selected
    entries (unreadable certificate files, clashing credentials, impersonation without ``--as``...).
    Where kubectl would quietly dial localhost:8080 we raise instead (see the module docstring).

    A context naming a user that does not exist means anonymous access, as in kubectl. ``--token`` keeps the
    entry's client certificate and exec/auth-provider settings alongside it, as client-go does, but drops its
    ``tokenFile``. When the entry itself sets both ``token`` and ``tokenFile``, the file wins if it exists (as
    in client-go's transport) and only one of the two is kept, so every client library agrees.

    ``check_files=False`` skips opening the certificate and token files, for callers that only show a config.
    """
    contexts = _named_entries(merged, "contexts", "context")
    clusters = _named_entries(merged, "clusters", "cluster")
    users = _named_entries(merged, "users", "user")

    context_name = overrides.context or str(merged.get("current-context") or "")
    if context_name and context_name not in contexts:
        raise ConfigError(f"context was not found for specified context: {context_name}")
    context = contexts.get(context_name, {})

    cluster_name = overrides.cluster or str(context.get("cluster") or "")
    user_name = overrides.user or str(context.get("user") or "")
    if overrides.cluster and overrides.cluster not in clusters:
        raise ConfigError(f'no server found for cluster "{overrides.cluster}"')
    if overrides.user and overrides.user not in users:
        raise ConfigError(f'auth info "{overrides.user}" does not exist')
    if not overrides.server:
        missing = _missing_cluster_message(merged, context_name, cluster_name, clusters)
        if missing:
            raise ConfigError(missing)

    cluster = copy.deepcopy(clusters.get(cluster_name, {}))
    user = copy.deepcopy(users.get(user_name, {}))
    _apply_cluster_overrides(cluster, overrides)
    _apply_user_overrides(user, overrides)

    problems = _user_problems(user_name, user, check_files) + _cluster_problems(
        cluster_name, cluster, check_files
    )
    if problems:
        raise ConfigError(_combined(problems))
    # client-go's TLS transport refuses this pair; a plain http:// server never builds one.
    server_is_plain_http = str(cluster.get("server", "")).lower().startswith("http://")
    if (
        not server_is_plain_http
        and cluster.get("insecure-skip-tls-verify")
        and (cluster.get("certificate-authority") or cluster.get("certificate-authority-data"))
    ):
        raise ConfigError("specifying a root certificates file with the insecure flag is not allowed")

    if check_files and user.get("token") and user.get("tokenFile"):
        if os.path.isfile(str(user["tokenFile"])):
            del user["token"]
        else:
            del user["tokenFile"]
    if check_files and user.get("tokenFile") and not user.get("token"):
        reason = _unreadable(str(user["tokenFile"]))
        if reason:
            raise ConfigError(reason)

    timeout = parse_request_timeout(overrides.request_timeout)
    namespace = overrides.namespace or str(context.get("namespace") or "") or "default"
    return ResolvedConfig(
        context_name=context_name,
        cluster_name=cluster_name,
        user_name=user_name,
        namespace=namespace,
        namespace_explicit=bool(overrides.namespace),
        cluster=cluster,
        user=user,
        request_timeout_seconds=timeout,
    )


def load_and_resolve(overrides: ConfigOverrides, environ: Mapping[str, str]) -> ResolvedConfig:
    """The whole of kubectl's client setup: pick the files, merge them, apply the flags."""
    return resolve(load_merged(kubeconfig_paths(overrides.kubeconfig, environ)), overrides)
