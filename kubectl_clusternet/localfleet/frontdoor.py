"""The hub's front door in a local fleet: the parent's aggregation layer sends proxies.clusternet.io to a
hub proxy listening on a loopback address of the parent's service range.

kube-apiserver dials an APIService's Service by cluster IP (see ``core.apiservice``), so the Service gets
the fixed loopback cluster IP ``HUB_PROXY_ADDRESS`` and a free port, and the proxy listens right there. The
serving certificate comes from a CA of the fleet's own and is trusted through the APIService's caBundle.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import apiservice
from ..core.apis.builtin import API_SERVICE
from ..core.errors import ApiError, LocalFleetError
from ..core.kube.rest import RestClient
from .pki import issue_cert, new_ca

__all__ = ["HUB_PROXY_ADDRESS", "FrontDoor", "open_front_door", "front_door_available"]

HUB_PROXY_ADDRESS = "127.77.0.10"  # in fleet.PARENT_SERVICE_CIDR


@dataclass(frozen=True)
class FrontDoor:
    address: str
    port: int
    cert_file: Path
    key_file: Path
    ca_file: Path

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.port}"


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError as exc:
            raise LocalFleetError(f"cannot listen on {address} for the hub's proxy: {exc.strerror}") from exc
        return int(probe.getsockname()[1])


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(data)


def _put(client: RestClient, collection: str, obj: dict[str, Any]) -> None:
    """Create, or replace what is there (keeping the fields the server owns)."""
    name = obj["metadata"]["name"]
    try:
        client.create(collection, obj)
        return
    except ApiError as exc:
        if exc.status != 409:
            raise
    current = client.get(f"{collection}/{name}")
    replacement = dict(
        obj, metadata=dict(obj["metadata"], resourceVersion=current["metadata"]["resourceVersion"])
    )
    if obj["kind"] == "Service":
        if current["spec"].get("clusterIP") != obj["spec"].get("clusterIP"):
            client.delete(f"{collection}/{name}")  # a cluster IP cannot change in place
            client.create(collection, obj)
            return
    client.replace(f"{collection}/{name}", replacement)


def open_front_door(client: RestClient, directory: Path, address: str = HUB_PROXY_ADDRESS) -> FrontDoor:
    """Issue the serving certificate and register Service, Endpoints and APIService for a proxy that will
    listen on ``address`` at the returned port."""
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port(address)
    ca = new_ca("clusternet-hub-proxy-ca")
    serving = issue_cert(
        ca,
        apiservice.HUB_SERVICE_NAME,
        dns_names=apiservice.hub_service_dns_names(),
        ip_addresses=[ipaddress.ip_address(address)],
        server=True,
    )
    door = FrontDoor(
        address,
        port,
        directory / "hub-proxy.crt",
        directory / "hub-proxy.key",
        directory / "hub-proxy-ca.crt",
    )
    _write_private(door.key_file, serving.key_pem)
    door.cert_file.write_bytes(serving.cert_pem)
    door.ca_file.write_bytes(ca.cert_pem)
    namespace_path = f"/api/v1/namespaces/{apiservice.HUB_SERVICE_NAMESPACE}"
    _put(client, f"{namespace_path}/services", apiservice.hub_service(address, port=port))
    _put(client, f"{namespace_path}/endpoints", apiservice.hub_endpoints(port=port))
    _put(client, API_SERVICE.collection_path(), apiservice.apiservice(ca.cert_pem, port=port))
    return door


def front_door_available(client: RestClient) -> bool:
    """Whether the aggregator reached the hub's proxy (APIService condition Available)."""
    try:
        found = client.get(API_SERVICE.object_path(apiservice.APISERVICE_NAME))
    except ApiError:
        return False
    conditions = (found.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)
