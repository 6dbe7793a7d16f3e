"""The only module that touches ``helm-python-sdk`` (the optional ``[helm]`` extra: Helm v4's Go SDK
behind ctypes, about 250 MB installed), imported on first use so nothing else ever needs it.

Every call here blocks (the SDK runs Go code) and is meant for ``asyncio.to_thread``. Errors come out as
``HelmUnavailable`` (no SDK: the caller turns it into a status reason and an Event) or
``HelmActionError`` (the SDK's own message), both ``ClusternetError``.

The SDK's public ``install``/``upgrade`` wrappers do not expose every option Helm has (``skip_crds``,
``replace``, ``force_replace``, ``wait_for_jobs``, ``server_side_apply``, ``max_history``); the C ABI
takes them as JSON and rejects unknown keys, so we call it with the options ``core.helm.releases``
builds. That ties us to the 0.2 series of the SDK (pinned in pyproject.toml).
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from kubectl_clusternet.core.errors import ClusternetError

__all__ = [
    "SDK_MISSING",
    "HelmUnavailable",
    "HelmActionError",
    "sdk_available",
    "ChildHelm",
    "oci_tags",
    "oci_archive",
]

SDK_MISSING: Final = (
    "helm-python-sdk is not installed where this runs; install the optional extra "
    "(pip install 'kubectl-clusternet[helm]') to deploy Helm charts"
)
_STORAGE_DRIVER: Final = "secret"
_NO_HANDLE: Final = 0


class HelmUnavailable(ClusternetError):
    """The Helm SDK is not installed (or its library does not load on this platform)."""


class HelmActionError(ClusternetError):
    """A Helm action failed; the message is Helm's."""


_loaded: Any = None


def _sdk() -> Any:
    global _loaded
    if _loaded is None:
        try:
            _loaded = importlib.import_module("helm_python")
        except ImportError as exc:
            raise HelmUnavailable(SDK_MISSING) from exc
        except Exception as exc:  # the native library failed to load (wrong platform, missing libc)
            raise HelmUnavailable(f"helm-python-sdk is installed but does not load: {exc}") from exc
    return _loaded


def sdk_available() -> bool:
    try:
        _sdk()
    except HelmUnavailable:
        return False
    return True


def _native() -> Any:
    return importlib.import_module("helm_python._native")


def _failure(exc: Exception) -> HelmActionError:
    return HelmActionError(str(exc).strip() or type(exc).__name__)


class ChildHelm:
    """Helm releases in one cluster, reached with a kubeconfig file (``None``: the SDK's own lookup,
    which is the in-cluster ServiceAccount inside a Pod). Release records are Secrets in the release's
    namespace, as with the ``helm`` CLI."""

    def __init__(self, kubeconfig: str | None = None, *, context: str | None = None) -> None:
        self._kubeconfig = kubeconfig
        self._context = context

    def _config(self, namespace: str) -> Any:
        helm = _sdk()
        return helm.Config(
            kubeconfig_path=self._kubeconfig,
            kube_context=self._context,
            namespace=namespace,
            storage_driver=_STORAGE_DRIVER,
        )

    def get(self, name: str, namespace: str) -> dict[str, Any] | None:
        """``helm get all``: ``{"summary", "info", "config", …}``, or ``None`` when there is no release."""
        helm = _sdk()
        try:
            with self._config(namespace) as config:
                found = config.get_all(name)
        except helm.HelmNotFoundError:
            return None
        except helm.HelmError as exc:
            raise _failure(exc) from exc
        return dict(found)

    def _write(
        self,
        action: str,
        archive: bytes,
        name: str,
        namespace: str,
        values: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> dict[str, Any]:
        helm = _sdk()
        native = _native()
        try:
            with self._config(namespace) as config, helm.Chart.load_archive(archive) as chart:
                payload = native.call_string(
                    action,
                    config._raw(),
                    native.HANDLE(_NO_HANDLE),
                    chart._raw(),
                    None,
                    name,
                    json.dumps(dict(values)),
                    json.dumps(dict(options)),
                )
        except helm.HelmError as exc:
            raise _failure(exc) from exc
        result = json.loads(payload)
        return dict(result) if isinstance(result, dict) else {}

    def install(
        self, archive: bytes, name: str, namespace: str, values: Mapping[str, Any], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Install the chart archive as release ``name`` (options from ``releases.install_options``)."""
        return self._write("helm_install", archive, name, namespace, values, options)

    def upgrade(
        self, archive: bytes, name: str, namespace: str, values: Mapping[str, Any], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Upgrade release ``name`` to the archive with exactly ``values`` (not reusing old ones)."""
        return self._write("helm_upgrade", archive, name, namespace, values, options)

    def uninstall(self, name: str, namespace: str, options: Mapping[str, Any]) -> None:
        """Uninstall, history included; a release that is not there is fine."""
        helm = _sdk()
        native = _native()
        try:
            with self._config(namespace) as config:
                native.call_string("helm_uninstall", config._raw(), name, json.dumps(dict(options)))
        except helm.HelmError as exc:
            raise _failure(exc) from exc


def _registry_client(helm: Any, ref: str, plain_http: bool, username: str, password: str, home: str) -> Any:
    client = helm.RegistryClient(plain_http=plain_http, credentials_file=os.path.join(home, "registry.json"))
    if username or password:
        host = urlsplit(ref.replace("oci://", "https://", 1)).netloc
        client.login(host, username, password, plain_http=plain_http)
    return client


def oci_tags(ref: str, *, plain_http: bool = False, username: str = "", password: str = "") -> list[str]:
    """The semver tags of ``oci://host/path/chart``; login state lives in a private temporary file."""
    helm = _sdk()
    try:
        with tempfile.TemporaryDirectory(prefix="clusternet-helm-") as home:
            with _registry_client(helm, ref, plain_http, username, password, home) as client:
                return [str(tag) for tag in client.tags(ref)]
    except helm.HelmError as exc:
        raise _failure(exc) from exc


def oci_archive(
    ref: str, version: str, *, plain_http: bool = False, username: str = "", password: str = ""
) -> bytes:
    """Pull ``ref`` at ``version`` and return the chart archive's bytes."""
    helm = _sdk()
    try:
        with tempfile.TemporaryDirectory(prefix="clusternet-helm-") as home:
            with _registry_client(helm, ref, plain_http, username, password, home) as client:
                helm.pull(ref, client=client, version=version, destination=home, plain_http=plain_http)
            archives = sorted(Path(home).glob("*.tgz"))
            if not archives:
                raise HelmActionError(f"pulling {ref}:{version} produced no chart archive")
            return archives[0].read_bytes()
    except helm.HelmError as exc:
        raise _failure(exc) from exc
