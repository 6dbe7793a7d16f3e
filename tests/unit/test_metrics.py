"""The metrics registry and the text exposition format: what a Prometheus scraper reads from /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web

from agent_lite.metrics import Heartbeats
from hub_lite.metrics import (
    PROXIED_BYTES,
    PROXIED_IN_FLIGHT,
    PROXIED_REQUESTS,
    drain_proxy_app,
    heartbeat_ages,
    instrument_proxy_app,
)
from kubectl_clusternet.core.metrics import (
    Counter,
    Gauge,
    MetricError,
    Registry,
    daemon_metrics,
    escape_help,
    escape_label_value,
    format_value,
    parse,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (3, "3"),
        (-2, "-2"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e20, "1e+20"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_values_are_written_as_the_format_spells_them(value: float, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("raw", "label", "help_text"),
    [
        ("plain", "plain", "plain"),
        ('say "hi"', 'say \\"hi\\"', 'say "hi"'),
        ("C:\\path", "C:\\\\path", "C:\\\\path"),
        ("two\nlines", "two\\nlines", "two\\nlines"),
        ("ünïcode ✓", "ünïcode ✓", "ünïcode ✓"),
    ],
)
def test_escaping_of_label_values_and_help(raw: str, label: str, help_text: str) -> None:
    """Label values escape backslash, quote and newline; HELP escapes only backslash and newline."""
    assert escape_label_value(raw) == label
    assert escape_help(raw) == help_text


def test_a_registry_renders_help_type_and_sorted_samples() -> None:
    registry = Registry()
    requests = registry.counter("demo_requests_total", "Requests by code.", ("code",))
    requests.labels("500").inc()
    requests.labels("200").inc(2)
    registry.gauge("demo_up", "Whether it is up.").set(1)
    registry.gauge("demo_empty", "Labelled, nothing observed yet.", ("cluster",))
    assert registry.render() == (
        "# HELP demo_requests_total Requests by code.\n"
        "# TYPE demo_requests_total counter\n"
        'demo_requests_total{code="200"} 2\n'
        'demo_requests_total{code="500"} 1\n'
        "# HELP demo_up Whether it is up.\n"
        "# TYPE demo_up gauge\n"
        "demo_up 1\n"
        "# HELP demo_empty Labelled, nothing observed yet.\n"
        "# TYPE demo_empty gauge\n"
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda r: r.counter("requests", "no _total"), "must end in _total"),
        (lambda r: r.counter("bad-name_total", "dash"), "invalid metric name"),
        (lambda r: r.gauge("0starts_with_digit", "digit"), "invalid metric name"),
        (lambda r: r.gauge("ok", "reserved label", ("__name",)), "invalid label name"),
        (lambda r: r.gauge("ok", "bad label", ("a-b",)), "invalid label name"),
        (lambda r: r.gauge("ok", "repeated", ("a", "a")), "repeated label name"),
        (lambda r: r.counter("x_total", "x").inc(-1), "cannot go down"),
        (lambda r: r.counter("x_total", "x", ("code",)).labels(), "takes labels"),
        (lambda r: r.gauge("x", "x", ("a",)).set_function(lambda: 1.0), "use set_collector"),
        (lambda r: (r.gauge("twice", "x"), r.counter("twice", "x")), "must end in _total"),
        (lambda r: (r.gauge("twice", "x"), r.gauge("twice", "x", ("a",))), "already registered"),
    ],
)
def test_misuse_is_refused(make: Any, message: str) -> None:
    with pytest.raises(MetricError, match=message):
        make(Registry())


def test_declaring_a_family_again_returns_the_same_one() -> None:
    """Two modules (or both daemons imported by one test run) may declare a shared metric independently."""
    registry = Registry()
    first = registry.counter("shared_total", "first", ("controller",))
    again = registry.counter("shared_total", "second", ("controller",))
    assert first is again
    assert daemon_metrics(registry).reconciles is daemon_metrics(registry).reconciles


def test_gauges_go_both_ways_and_collectors_win_at_scrape_time() -> None:
    registry = Registry()
    gauge = registry.gauge("demo_inflight", "In flight.")
    gauge.inc(3)
    gauge.dec()
    assert gauge.value() == 2
    ages = registry.gauge("demo_age_seconds", "Ages.", ("cluster_id",))
    ages.set_collector(lambda: [(("b",), 2.5), (("a",), 7)])
    assert parse(registry.render())["demo_age_seconds"].samples[0].label_dict == {"cluster_id": "a"}
    ages.set_collector(lambda: 1 / 0)  # type: ignore[arg-type, return-value]
    families = parse(registry.render())
    assert families["demo_age_seconds"].samples == []  # a broken collector costs its own samples only
    assert families["demo_inflight"].value() == 2


def test_rendering_parses_back_to_the_same_values() -> None:
    """Round trip through the strict parser, with awkward label values."""
    registry = Registry()
    counter = registry.counter("demo_bytes_total", 'Bytes "sent"\nby code.', ("code", "path"))
    values = {("200", 'a"b'): 10.0, ("404", "back\\slash"): 0.5, ("503", "new\nline"): 1e20}
    for labels, value in values.items():
        counter.labels(*labels).inc(value)
    family = parse(registry.render())["demo_bytes_total"]
    assert family.kind == "counter" and family.help == 'Bytes "sent"\nby code.'
    assert {(s.label_dict["code"], s.label_dict["path"]): s.value for s in family.samples} == values
    assert family.value(code="404") == 0.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metric{a=b} 1\n", "bad labels"),
        ('metric{a="1",a="2"} 1\n', "repeated label"),
        ("metric 1\nmetric 2\n", "repeated sample"),
        ('a 1\nb 1\na{x="1"} 1\n', "not together"),
        ("metric one\n", "bad value"),
        ("# TYPE metric countr\n", "unknown type"),
        ("metric 1\n# TYPE metric gauge\n", "TYPE after samples"),
        ("2metric 1\n", "bad sample line"),
    ],
)
def test_the_parser_rejects_what_a_scraper_would(text: str, message: str) -> None:
    with pytest.raises(MetricError, match=message):
        parse(text)


def test_the_parser_reads_special_values_timestamps_and_histograms() -> None:
    text = (
        "# TYPE lat histogram\n"
        'lat_bucket{le="0.5"} 1\n'
        'lat_bucket{le="+Inf"} 2\n'
        "lat_sum 0.7\n"
        "lat_count 2\n"
        "# comment lines are ignored\n"
        "temp -Inf 1700000000000\n"
    )
    families = parse(text)
    assert [s.name for s in families["lat"].samples] == ["lat_bucket", "lat_bucket", "lat_sum", "lat_count"]
    assert families["temp"].value() == -math.inf


NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def _cluster(cluster_id: str, name: str, observed: datetime | None) -> dict[str, Any]:
    status = {"lastObservedTime": observed.strftime("%Y-%m-%dT%H:%M:%SZ")} if observed else {}
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"clusterId": cluster_id},
        "status": status,
    }


@pytest.mark.parametrize(
    ("clusters", "expected"),
    [
        ([], []),
        ([_cluster("id-1", "one", NOW - timedelta(seconds=12))], [(("id-1", "one"), 12.0)]),
        ([_cluster("id-2", "never", None)], []),  # never reported: no age to speak of
        ([_cluster("id-3", "ahead", NOW + timedelta(seconds=5))], [(("id-3", "ahead"), 0.0)]),  # clock skew
        ([_cluster("", "no-id", NOW)], []),
    ],
)
def test_hub_heartbeat_ages_from_last_observed_time(
    clusters: list[dict[str, Any]], expected: list[tuple[tuple[str, str], float]]
) -> None:
    assert heartbeat_ages(clusters, NOW) == expected


def test_agent_heartbeat_age_counts_from_the_last_successful_report() -> None:
    clock = [100.0]
    beats = Heartbeats(monotonic=lambda: clock[0])
    assert beats.ages() == []
    beats.mark("id-1", "one")
    clock[0] = 130.0
    assert beats.ages() == [(("id-1", "one"), 30.0)]
    beats.mark("id-1", "renamed")
    assert beats.ages() == [(("id-1", "renamed"), 0.0)]


def test_counter_and_gauge_children_share_their_family() -> None:
    registry = Registry()
    counter = registry.counter("c_total", "c", ("k",))
    gauge = registry.gauge("g", "g", ("k",))
    assert isinstance(counter, Counter) and isinstance(gauge, Gauge)
    counter.labels("x").inc()
    counter.labels("x").inc(2)
    gauge.labels("x").set(5)
    gauge.labels("x").dec(2)
    gauge.labels("y").inc()
    gauge.remove("y")
    assert (counter.value("x"), gauge.value("x"), gauge.value("y")) == (3, 3, 0)
    assert [s.label_dict for s in gauge.samples()] == [{"k": "x"}]


# -- the proxy's instrumentation, on a real loopback listener -----------------------------------------

PROXIED = "/apis/proxies.clusternet.io/v1alpha1/sockets/0b7a3c9e-0000-4000-8000-000000000001/proxy/direct"


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]  # noqa: SLF001


async def _get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_proxied_requests_are_counted_by_code_and_drained_on_shutdown() -> None:
    """Proxied paths are counted by status with their bytes; others are not; the drain stops listening and
    waits for a proxied request already running, before the shutdown hooks that close the tunnels run."""
    release = asyncio.Event()
    order: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/slow"):
            await release.wait()
            order.append("slow request finished")
            return web.Response(text="done")
        if request.path.endswith("/missing"):
            return web.Response(status=404, text="no such thing")
        if request.path.endswith("/cut"):
            response = web.StreamResponse(status=200)
            await response.prepare(request)
            await response.write(b"partial")
            raise ConnectionResetError("the child went away")
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        await response.write(b"x" * 1000)
        await response.write_eof()
        return response

    async def close_tunnels(_: web.Application) -> None:
        order.append("tunnels closed")

    app = web.Application()
    app.router.add_route("*", "/apis/proxies.clusternet.io/v1alpha1/sockets/{tail:.*}", handler)
    app.router.add_get("/healthz", handler)
    app.on_shutdown.append(close_tunnels)
    instrument_proxy_app(app)
    before = {code: PROXIED_REQUESTS.value(code) for code in ("200", "404")}
    bytes_before = PROXIED_BYTES.value("200")
    runner, port = await _serve(app)
    try:
        assert (await _get(port, PROXIED + "/streamed"))[0] == 200
        assert (await _get(port, PROXIED + "/missing")) == (404, b"no such thing")
        await _get(port, "/healthz")  # not proxied: not counted
        assert PROXIED_REQUESTS.value("200") == before["200"] + 1
        assert PROXIED_REQUESTS.value("404") == before["404"] + 1
        assert PROXIED_BYTES.value("200") - bytes_before > 1000  # the body plus the status line and headers
        with contextlib.suppress(ValueError, IndexError):  # the connection is cut mid-body
            await _get(port, PROXIED + "/cut")
        assert PROXIED_REQUESTS.value("200") == before["200"] + 2  # a cut relay counts as what was sent
        metrics = parse((await _get(port, "/metrics"))[1].decode())
        assert metrics["clusternet_proxied_requests_total"].value(code="404") == PROXIED_REQUESTS.value("404")

        slow = asyncio.ensure_future(_get(port, PROXIED + "/slow"))
        while PROXIED_IN_FLIGHT.value() < 1:
            await asyncio.sleep(0.01)
        draining = asyncio.ensure_future(drain_proxy_app(runner, deadline=30))
        await asyncio.sleep(0.2)
        assert not draining.done() and order == []  # waiting for the proxied request, tunnels still open
        with pytest.raises(OSError):
            await _get(port, PROXIED + "/streamed")  # no longer listening
        release.set()
        assert await slow == (200, b"done")
        await draining
        await runner.cleanup()
        assert order == ["slow request finished", "tunnels closed"]
    finally:
        release.set()
        await runner.cleanup()
