"""Proxy URLs: parsing the socket paths the hub serves, and building the URLs agents and kubeconfigs use."""

from __future__ import annotations

import pytest

from kubectl_clusternet.core.proxy import (
    ProxyError,
    ProxyTarget,
    ServerAddress,
    SocketPath,
    join_target_path,
    parse_host_port,
    parse_server_url,
    parse_socket_path,
    proxy_base_url,
    socket_url,
)

S = "/apis/proxies.clusternet.io/v1alpha1/sockets"
ID = "0de85599-4bf4-4f68-8eef-f3a9e4b6e8e5"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"{S}/{ID}", SocketPath(ID, None)),
        (f"{S}/{ID}/", SocketPath(ID, None)),
        (f"{S}/{ID}//", SocketPath(ID, None)),
        (f"{S}/{ID}/proxy/direct", SocketPath(ID, ProxyTarget("direct", "/"))),
        (f"{S}/{ID}/proxy/direct/", SocketPath(ID, ProxyTarget("direct", "/"))),
        (
            f"{S}/{ID}/proxy/direct/api/v1/namespaces",
            SocketPath(ID, ProxyTarget("direct", "/api/v1/namespaces")),
        ),
        (
            f"{S}/{ID}/proxy/direct/api/v1/namespaces/a%2Fb/",
            SocketPath(ID, ProxyTarget("direct", "/api/v1/namespaces/a%2Fb/")),
        ),
        (
            f"{S}/{ID}/proxy/https/kubernetes.default:6443/healthz",
            SocketPath(ID, ProxyTarget("https", "/healthz", "kubernetes.default", 6443)),
        ),
        (f"{S}/{ID}/proxy/https/example.com", SocketPath(ID, ProxyTarget("https", "/", "example.com", 443))),
        (
            f"{S}/{ID}/proxy/http/localhost:8080/replicas/predict",
            SocketPath(ID, ProxyTarget("http", "/replicas/predict", "localhost", 8080)),
        ),
        (f"{S}/{ID}/proxy/http/[fd00::1]:80/x", SocketPath(ID, ProxyTarget("http", "/x", "fd00::1", 80))),
        (f"{S}/{ID}/proxy/http/Example.COM/", SocketPath(ID, ProxyTarget("http", "/", "example.com", 80))),
    ],
)
def test_socket_paths_parse(path: str, expected: SocketPath) -> None:
    """Every upstream URL form maps to its cluster ID, proxy kind, destination and raw remaining path."""
    assert parse_socket_path(path) == expected


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        (f"{S}/", 400, "no cluster ID"),
        (f"{S}//proxy/direct", 400, "no cluster ID"),
        (f"{S}/bad%20id", 400, "invalid cluster ID"),
        (f"{S}/{'a' * 64}", 400, "invalid cluster ID"),
        (f"{S}/{ID}/status", 404, "unknown subresource"),
        (f"{S}/{ID}/proxy/ftp/host/x", 400, "unknown proxy type"),
        (f"{S}/{ID}/proxy/https//x", 400, "empty host"),
        (f"{S}/{ID}/proxy/https/host:99999/x", 400, "invalid port"),
        (f"{S}/{ID}/proxy/http/fd00::1/x", 400, "IPv6"),
        ("/apis/other/v1/sockets/x", 404, "is not under"),
    ],
)
def test_bad_socket_paths_are_refused(path: str, status: int, fragment: str) -> None:
    """Malformed paths raise ProxyError with the HTTP status the caller will see."""
    with pytest.raises(ProxyError) as refused:
        parse_socket_path(path)
    assert refused.value.status == status
    assert fragment in refused.value.message


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("host", 443, ("host", 443)),
        ("host:8443", 443, ("host", 8443)),
        ("192.0.2.1:80", 443, ("192.0.2.1", 80)),
        ("[::1]", 80, ("::1", 80)),
        ("[::1]:6443", 80, ("::1", 6443)),
    ],
)
def test_host_port_forms(text: str, default: int, expected: tuple[str, int]) -> None:
    """Hosts with and without ports, IPv6 in brackets, fall back to the scheme's default port."""
    assert parse_host_port(text, default) == expected


@pytest.mark.parametrize(
    ("url", "expected", "authority"),
    [
        ("https://127.0.0.1:6443", ServerAddress("https", "127.0.0.1", 6443, ""), "127.0.0.1:6443"),
        ("https://api.example.com", ServerAddress("https", "api.example.com", 443, ""), "api.example.com"),
        (
            "https://api.example.com/k8s/",
            ServerAddress("https", "api.example.com", 443, "/k8s"),
            "api.example.com",
        ),
        ("http://192.0.2.1:8080", ServerAddress("http", "192.0.2.1", 8080, ""), "192.0.2.1:8080"),
        ("https://[::1]:6443", ServerAddress("https", "::1", 6443, ""), "[::1]:6443"),
        ("192.0.2.1:6443", ServerAddress("https", "192.0.2.1", 6443, ""), "192.0.2.1:6443"),
    ],
)
def test_apiserver_urls_parse(url: str, expected: ServerAddress, authority: str) -> None:
    """status.apiserverURL becomes scheme, host, port and path prefix; Host omits the default port."""
    parsed = parse_server_url(url)
    assert parsed == expected
    assert parsed.authority == authority


@pytest.mark.parametrize("url", ["ftp://host", "https://", "https://host:notaport"])
def test_unusable_apiserver_urls_are_503(url: str) -> None:
    """A ManagedCluster reporting an unusable URL makes the proxy unavailable, not the request bad."""
    with pytest.raises(ProxyError) as refused:
        parse_server_url(url)
    assert refused.value.status == 503


@pytest.mark.parametrize(
    ("base", "path", "expected"),
    [
        ("", "/api/v1", "/api/v1"),
        ("/k8s", "/api/v1", "/k8s/api/v1"),
        ("/k8s/", "/api/v1/", "/k8s/api/v1/"),
        ("", "/", "/"),
    ],
)
def test_target_paths_keep_trailing_slashes(base: str, path: str, expected: str) -> None:
    """The API server's path prefix is prepended and a trailing slash survives (service proxies need it)."""
    assert join_target_path(base, path) == expected


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("https://parent:6443", f"wss://parent:6443{S}/{ID}"),
        ("https://parent:6443/", f"wss://parent:6443{S}/{ID}"),
        ("http://parent", f"ws://parent{S}/{ID}"),
        ("https://lb.example.com/prefix/", f"wss://lb.example.com/prefix{S}/{ID}"),
    ],
)
def test_agent_socket_urls(server: str, expected: str) -> None:
    """http becomes ws, https wss, and a path prefix of the parent URL is kept, as upstream does."""
    assert socket_url(server, ID) == expected


def test_kubeconfig_proxy_url() -> None:
    """Child mode's server is the parent URL (trailing slash trimmed) plus the direct proxy path."""
    assert proxy_base_url("https://parent:6443/", ID) == f"https://parent:6443{S}/{ID}/proxy/direct"
