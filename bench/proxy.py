#!/usr/bin/env python3
"""The proxy's cost, measured side by side with the child API server itself in one run.

    python bench/proxy.py [--fleet-dir DIR] [--requests 400] [--seconds 8] [--lists 5]

Through a real child kube-apiserver, each figure is taken for three paths in alternation, so all see the
same machine load: DIRECT to the child, via the HUB's own port (token + impersonation extras), and via the
PARENT (the aggregation layer, as the tutorial's curl and kubectl in child mode go):
- GET latency p50/p99 and the ratio to direct;
- a 5,000-ConfigMap LIST: throughput (MB/s) and the ratio to direct;
- 32 concurrent keep-alive clients: requests per second and the ratio to direct;
- a stalled stream (a large LIST nobody reads) on the same tunnel: its neighbours' p99 with and without it.

Without --fleet-dir a local fleet is started in a temporary directory and stopped afterwards. The hub's
proxy application and the agent's tunnel client run as subprocesses, set up exactly as the end-to-end tests
do. The client is Python's http.client in every case, so its own cost is common to all paths.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import shlex
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubectl_clusternet.core.apis.builtin import CONFIG_MAP, NAMESPACE  # noqa: E402
from kubectl_clusternet.localfleet import down, status, up  # noqa: E402
from tests.e2e.test_tunnel_proxy import (  # noqa: E402
    SOCKETS,
    ProxyEnv,
    admin_client,
    child_headers,
    client_context,
    hub_headers,
    set_up_proxy_env,
)


@dataclass
class Route:
    """One way to reach the child: where to connect, the path prefix, and the headers to send."""

    name: str
    host: str
    port: int
    context: ssl.SSLContext
    prefix: str
    headers: dict[str, str]

    def connect(self, timeout: float = 120.0) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=timeout)


def paths_for(env: ProxyEnv) -> list[Route]:
    cluster = env.clusters[1]
    child = cluster.child
    proxied = f"{SOCKETS}/{cluster.cluster_id}/proxy/direct"
    return [
        Route(
            "direct",
            "127.0.0.1",
            child.port,
            client_context(child.ca_file.read_bytes()),
            "",
            {"Authorization": f"Bearer {env.child_token_2}"},
        ),
        Route(
            "via hub",
            env.hub_address,
            env.hub_port,
            env.hub_context,
            proxied,
            hub_headers(env.parent_user_token, env.child_token_2),
        ),
        Route(
            "via parent",
            "127.0.0.1",
            env.parent.port,
            env.parent_context,
            proxied,
            child_headers(env.child_token_2),
        ),
    ]


def get(connection: http.client.HTTPSConnection, path: Route, target: str) -> int:
    connection.request("GET", path.prefix + target, headers=path.headers)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path.name} {target}: HTTP {response.status} {body[:200]!r}")
    return len(body)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency(paths: list[Route], requests: int) -> dict[str, list[float]]:
    connections = {p.name: p.connect() for p in paths}
    samples: dict[str, list[float]] = {p.name: [] for p in paths}
    for p in paths:  # warm up: TLS sessions, caches, the hub's review caches
        for _ in range(20):
            get(connections[p.name], p, "/api/v1/namespaces/default")
    for _ in range(requests):
        for p in paths:
            start = time.perf_counter()
            get(connections[p.name], p, "/api/v1/namespaces/default")
            samples[p.name].append(time.perf_counter() - start)
    for connection in connections.values():
        connection.close()
    return samples


def list_throughput(paths: list[Route], namespace: str, rounds: int) -> dict[str, tuple[float, int]]:
    """Median seconds per 5,000-item LIST and its size in bytes, per path."""
    times: dict[str, list[float]] = {p.name: [] for p in paths}
    size = {}
    for _ in range(rounds):
        for p in paths:
            connection = p.connect()
            start = time.perf_counter()
            size[p.name] = get(connection, p, f"/api/v1/namespaces/{namespace}/configmaps")
            times[p.name].append(time.perf_counter() - start)
            connection.close()
    return {name: (statistics.median(t), size[name]) for name, t in times.items()}


def concurrent_rate(path: Route, clients: int, seconds: float) -> float:
    """Requests per second from ``clients`` keep-alive connections hammering one small GET."""
    stop = time.perf_counter() + seconds
    counts = [0] * clients
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            connection = path.connect()
            while time.perf_counter() < stop:
                get(connection, path, "/api/v1/namespaces/default")
                counts[index] += 1
            connection.close()
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{path.name}: {errors[0]!r}")
    return sum(counts) / (time.perf_counter() - begin)


@contextlib.contextmanager
def stalled_list(path: Route, namespace: str) -> Iterator[None]:
    """A 5,000-item LIST whose response nobody reads: its stream fills its window and stalls."""
    raw = socket.create_connection((path.host, path.port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    tls = path.context.wrap_socket(raw, server_hostname=path.host)
    request = f"GET {path.prefix}/api/v1/namespaces/{namespace}/configmaps HTTP/1.1\r\nHost: {path.host}\r\n"
    request += "".join(f"{k}: {v}\r\n" for k, v in path.headers.items()) + "\r\n"
    tls.sendall(request.encode())
    tls.recv(1024)  # the response has started; from here on nobody reads
    try:
        yield
    finally:
        tls.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet-dir", default=None, help="an existing fleet (2 children) to use")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--lists", type=int, default=5)
    args = parser.parse_args()
    print("$ " + shlex.join([Path(sys.executable).name, *sys.argv]))
    own_fleet = None
    if args.fleet_dir:
        fleet = status(Path(args.fleet_dir))
        assert fleet is not None, f"no fleet in {args.fleet_dir}"
    else:
        own_fleet = Path(tempfile.mkdtemp(prefix="bench-proxy-fleet-"))
        fleet, _ = up(own_fleet, children=2)
    work = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    try:
        with contextlib.ExitStack() as cleanup:
            env = set_up_proxy_env(fleet, work, cleanup)
            paths = paths_for(env)
            child = admin_client(env.clusters[1].child)
            namespace = f"bench-{uuid.uuid4().hex[:6]}"
            child.create(
                NAMESPACE.collection_path(),
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            )
            for index in range(5000):
                child.create(
                    CONFIG_MAP.collection_path(namespace),
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": f"cm-{index:05d}"},
                        "data": {"payload": "x" * 300},
                    },
                )
            report(env, paths, namespace, args)
    finally:
        if own_fleet is not None:
            down(own_fleet)
    return 0


def report(env: ProxyEnv, paths: list[Route], namespace: str, args: argparse.Namespace) -> None:
    print(f"\nGET /api/v1/namespaces/default, {args.requests} requests per path, interleaved, keep-alive")
    samples = latency(paths, args.requests)
    base50, base99 = percentile(samples["direct"], 0.5), percentile(samples["direct"], 0.99)
    print(f"  {'path':<11} {'p50 ms':>8} {'p99 ms':>8} {'p50 ratio':>10} {'p99 ratio':>10}")
    for p in paths:
        p50, p99 = percentile(samples[p.name], 0.5), percentile(samples[p.name], 0.99)
        print(f"  {p.name:<11} {p50 * 1e3:8.2f} {p99 * 1e3:8.2f} {p50 / base50:9.2f}x {p99 / base99:9.2f}x")

    print(f"\nLIST of 5,000 ConfigMaps, median of {args.lists} per path")
    lists = list_throughput(paths, namespace, args.lists)
    base_rate = lists["direct"][1] / lists["direct"][0]
    print(f"  {'path':<11} {'seconds':>8} {'MB':>6} {'MB/s':>8} {'ratio':>7}")
    for p in paths:
        seconds, size = lists[p.name]
        rate = size / seconds
        print(f"  {p.name:<11} {seconds:8.3f} {size / 1e6:6.2f} {rate / 1e6:8.1f} {rate / base_rate:6.2f}x")

    print(f"\n32 concurrent keep-alive clients, {args.seconds:g}s per path")
    rates = {p.name: concurrent_rate(p, 32, args.seconds) for p in paths}
    print(f"  {'path':<11} {'req/s':>8} {'ratio':>7}")
    for p in paths:
        print(f"  {p.name:<11} {rates[p.name]:8.0f} {rates[p.name] / rates['direct']:6.2f}x")

    print(f"\nNeighbours of a stalled stream (a 5,000-item LIST nobody reads), {args.requests} GETs each")
    for p in paths[1:]:
        calm = latency([p], args.requests)[p.name]
        with stalled_list(p, namespace):
            time.sleep(1.0)  # let the stalled stream fill every buffer on its way
            stalled = latency([p], args.requests)[p.name]
        c99, s99 = percentile(calm, 0.99), percentile(stalled, 0.99)
        print(
            f"  {p.name:<11} p99 calm {c99 * 1e3:7.2f} ms, with a stalled neighbour {s99 * 1e3:7.2f} ms ({s99 / c99:.2f}x)"
        )
    counts = env.hub_counts()
    print(f"\nhub after the run: {json.dumps(counts)} (stream count settles to 0 once idle)")


if __name__ == "__main__":
    sys.exit(main())
