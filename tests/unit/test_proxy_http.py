"""HTTP/1.1 over a tunnel stream: request heads, response heads, body framing, Status bodies; and the
APIService and discovery documents the aggregation layer needs."""

from __future__ import annotations

import base64

import pytest

from kubectl_clusternet.core import apiservice
from kubectl_clusternet.core.proxy import (
    BodyFraming,
    ChunkedDecoder,
    ProxyError,
    ResponseHead,
    authorization_verb,
    encode_request_head,
    parse_chunk_size,
    parse_response_head,
    response_body_framing,
    status_body,
)


def test_request_head_encoding() -> None:
    """Request line, headers in order, and a blank line."""
    head = encode_request_head("GET", "/api/v1/namespaces?watch=1", [("Host", "h:1"), ("Accept", "*/*")])
    assert head == b"GET /api/v1/namespaces?watch=1 HTTP/1.1\r\nHost: h:1\r\nAccept: */*\r\n\r\n"


@pytest.mark.parametrize(
    ("method", "target", "headers"),
    [
        ("GET", "/a b", []),
        ("GET", "/a\r\nX: y", []),
        ("GET", "relative", []),
        ("G T", "/", []),
        ("GET", "/", [("X", "a\r\nInjected: 1")]),
        ("GET", "/", [("Bad Name", "v")]),
    ],
)
def test_request_head_refuses_smuggling(method: str, target: str, headers: list[tuple[str, str]]) -> None:
    """CR, LF, spaces or bad tokens anywhere in the head are refused rather than sent."""
    with pytest.raises(ProxyError):
        encode_request_head(method, target, headers)


def test_response_head_parsing() -> None:
    """Status, reason and headers (order and repeats kept, values trimmed)."""
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nWarning:  a \r\nWarning: b\r\n\r\n"
    assert parse_response_head(raw) == ResponseHead(
        200, "OK", (("Content-Type", "application/json"), ("Warning", "a"), ("Warning", "b"))
    )
    assert parse_response_head(b"HTTP/1.1 101\r\n\r\n").reason == ""


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
    ],
)
def test_malformed_response_heads_are_502(raw: bytes) -> None:
    """A child that answers garbage is a bad gateway."""
    with pytest.raises(ProxyError) as refused:
        parse_response_head(raw)
    assert refused.value.status == 502


@pytest.mark.parametrize(
    ("method", "status", "headers", "expected"),
    [
        ("HEAD", 200, [("Content-Length", "10")], BodyFraming("none")),
        ("GET", 204, [], BodyFraming("none")),
        ("GET", 304, [("Content-Length", "10")], BodyFraming("none")),
        ("GET", 200, [("Content-Length", "10")], BodyFraming("length", 10)),
        ("GET", 200, [("Content-Length", "0")], BodyFraming("none")),
        ("GET", 200, [("Transfer-Encoding", "chunked")], BodyFraming("chunked")),
        (
            "GET",
            200,
            [("Transfer-Encoding", "gzip, chunked"), ("Content-Length", "5")],
            BodyFraming("chunked"),
        ),
        ("GET", 200, [("Transfer-Encoding", "gzip")], BodyFraming("eof")),
        ("GET", 200, [], BodyFraming("eof")),
        ("GET", 200, [("Content-Length", "7"), ("Content-Length", "7")], BodyFraming("length", 7)),
    ],
)
def test_body_framing(
    method: str, status: int, headers: list[tuple[str, str]], expected: BodyFraming
) -> None:
    """RFC 9112 section 6.3: no-body statuses and HEAD first, then chunked, then length, then EOF."""
    assert response_body_framing(method, ResponseHead(status, "", tuple(headers))) == expected


@pytest.mark.parametrize("lengths", [["7", "8"], ["-1"], ["abc"]])
def test_conflicting_lengths_are_502(lengths: list[str]) -> None:
    """Conflicting or invalid Content-Length values are refused (response splitting)."""
    head = ResponseHead(200, "", tuple(("Content-Length", v) for v in lengths))
    with pytest.raises(ProxyError):
        response_body_framing("GET", head)


@pytest.mark.parametrize(
    ("line", "size"), [(b"0\r\n", 0), (b"1a\r\n", 26), (b"FF;ext=1\r\n", 255), (b"10 \r\n", 16)]
)
def test_chunk_sizes(line: bytes, size: int) -> None:
    """Hex sizes, extensions ignored."""
    assert parse_chunk_size(line) == size


@pytest.mark.parametrize("line", [b"\r\n", b"zz\r\n", b"-1\r\n", b"1" * 17 + b"\r\n"])
def test_bad_chunk_sizes(line: bytes) -> None:
    """Anything that is not a short hex number is refused."""
    with pytest.raises(ProxyError):
        parse_chunk_size(line)


@pytest.mark.parametrize(
    ("method", "verb"),
    [
        ("GET", "get"),
        ("HEAD", "get"),
        ("POST", "create"),
        ("PUT", "update"),
        ("PATCH", "patch"),
        ("DELETE", "delete"),
        ("OPTIONS", "options"),
    ],
)
def test_authorization_verbs(method: str, verb: str) -> None:
    """Methods map to the verbs kube-apiserver checks for connect-style requests."""
    assert authorization_verb(method) == verb


def test_status_body() -> None:
    """Errors are v1 Status objects with code, reason and message."""
    assert status_body(503, "agent is disconnected") == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "agent is disconnected",
        "reason": "ServiceUnavailable",
        "code": 503,
    }


def test_apiservice_with_and_without_a_ca_bundle() -> None:
    """v1alpha1.proxies.clusternet.io points at clusternet-system/clusternet-hub:443, verified when a CA is given."""
    verified = apiservice.apiservice(b"PEM")
    assert verified["metadata"]["name"] == "v1alpha1.proxies.clusternet.io"
    assert verified["spec"] == {
        "group": "proxies.clusternet.io",
        "version": "v1alpha1",
        "groupPriorityMinimum": 1000,
        "versionPriority": 100,
        "service": {"name": "clusternet-hub", "namespace": "clusternet-system", "port": 443},
        "caBundle": base64.b64encode(b"PEM").decode(),
    }
    assert apiservice.apiservice(None)["spec"]["insecureSkipTLSVerify"] is True


def test_service_and_endpoints_for_a_loopback_hub() -> None:
    """The Service pins the cluster IP the aggregator dials; Endpoints hold a documentation address."""
    service = apiservice.hub_service("127.77.0.10")
    assert service["spec"]["clusterIP"] == "127.77.0.10"
    assert service["spec"]["ports"][0]["port"] == 443
    assert "selector" not in service["spec"]
    endpoints = apiservice.hub_endpoints()
    assert endpoints["subsets"][0]["addresses"] == [{"ip": "192.0.2.10"}]
    assert (endpoints["metadata"]["name"], endpoints["metadata"]["namespace"]) == (
        "clusternet-hub",
        "clusternet-system",
    )


def test_discovery_documents() -> None:
    """Discovery lists the group, its preferred version, and the sockets and sockets/proxy resources."""
    assert (
        apiservice.api_group_list()["groups"][0]["preferredVersion"]["groupVersion"]
        == "proxies.clusternet.io/v1alpha1"
    )
    resources = apiservice.api_resource_list()
    assert resources["groupVersion"] == "proxies.clusternet.io/v1alpha1"
    assert [r["name"] for r in resources["resources"]] == ["sockets", "sockets/proxy"]
    assert resources["resources"][0]["shortNames"] == ["ss"]
    assert resources["resources"][0]["categories"] == ["clusternet"]


CHUNKED = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n"


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64, len(CHUNKED)])
def test_chunked_decoding_in_any_slicing(piece: int) -> None:
    """However the bytes arrive, the payload comes out whole and the end is recognised after the trailers."""
    decoder = ChunkedDecoder()
    payload = b""
    for start in range(0, len(CHUNKED), piece):
        assert not decoder.done
        payload += decoder.feed(CHUNKED[start : start + piece])
    assert payload == b"Wikipedia in\r\n\r\nchunks."
    assert decoder.done
    assert decoder.unused == b""


def test_chunked_decoding_keeps_what_follows_the_body() -> None:
    """Bytes after the last chunk are reported, so the connection is not reused."""
    decoder = ChunkedDecoder()
    assert decoder.feed(b"0\r\n\r\nHTTP/1.1 200 OK") == b""
    assert decoder.done
    assert decoder.unused == b"HTTP/1.1 200 OK"


@pytest.mark.parametrize("raw", [b"zz\r\n", b"3\r\nabcXY", b"1" * 5000])
def test_malformed_chunked_bodies(raw: bytes) -> None:
    """Bad sizes, missing chunk ends and endless size lines are a bad gateway."""
    with pytest.raises(ProxyError) as refused:
        ChunkedDecoder().feed(raw)
    assert refused.value.status == 502
