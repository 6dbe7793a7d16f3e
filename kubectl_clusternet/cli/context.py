"""What every command shares: the environment, the global flags, and a lazily opened API connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from .env import Environment
from .globalflags import GlobalFlags

if TYPE_CHECKING:
    from ..core.apis.model import ResourceType
    from ..core.kube.discovery import Discovery
    from ..core.kube.kubeconfig import ResolvedConfig
    from ..core.kube.rest import RestClient

__all__ = ["AppContext"]


@dataclass
class AppContext:
    env: Environment
    flags: GlobalFlags
    exit_code: int = 0
    _clients: list[RestClient] = field(default_factory=list)

    @cached_property
    def config(self) -> ResolvedConfig:
        from ..core.kube.kubeconfig import kubeconfig_paths, load_merged, resolve

        paths = kubeconfig_paths(self.flags.kubeconfig, self.env.environ)
        return resolve(load_merged(paths), self.flags.overrides())

    @cached_property
    def client(self) -> RestClient:
        from ..core.kube.rest import RestClient, connection_from_config

        client = RestClient(connection_from_config(self.config))
        self._clients.append(client)
        return client

    @cached_property
    def discovery(self) -> Discovery:
        from ..core.kube.discovery import Discovery

        return Discovery(self.client)

    def discover(self, word: str) -> ResourceType | None:
        """A kind the parent serves that the toolkit has no definition of (a CRD's kind, say)."""
        return self.discovery.find_by_name(word)

    @property
    def namespace(self) -> str:
        return self.config.namespace

    def fail_later(self) -> None:
        """Record a per-object failure: keep going, but exit non-zero at the end, as kubectl does."""
        self.exit_code = 1

    def close(self) -> None:
        for client in self._clients:
            client.close()
