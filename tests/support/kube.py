"""Small helpers for end-to-end tests that talk to the real control planes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from kubectl_clusternet.core.errors import ApiError
from kubectl_clusternet.core.kube.kubeconfig import ConfigOverrides, load_and_resolve
from kubectl_clusternet.core.kube.rest import RestClient, connection_from_config
from kubectl_clusternet.localfleet import ClusterInfo

T = TypeVar("T")


def admin_client(cluster: ClusterInfo) -> RestClient:
    """A client with the cluster's admin credentials, from the kubeconfig the fleet wrote."""
    resolved = load_and_resolve(ConfigOverrides(kubeconfig=str(cluster.kubeconfig)), os.environ)
    return RestClient(connection_from_config(resolved))


def get_or_none(client: RestClient, path: str) -> Any:
    try:
        return client.get(path)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def delete_quietly(client: RestClient, path: str) -> None:
    try:
        client.delete(path)
    except ApiError as exc:
        if exc.status != 404:
            raise


def wait_for(
    check: Callable[[], T | None],
    what: str,
    *,
    deadline: float = 60.0,
    detail: Callable[[], str] = lambda: "",
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` and ``detail()`` at the deadline."""
    end = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline:.0f}s waiting for {what}\n{detail()}")
        time.sleep(0.5)
