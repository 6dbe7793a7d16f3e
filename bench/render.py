#!/usr/bin/env python3
"""Rendering Subscriptions for a big fleet, side by side with a copy-and-serialize floor; then apply → Success
latency in two real child clusters.

    python bench/render.py [--clusters 1000] [--feeds 20] [--rounds 3] [--apply-runs 5] [--fleet-dir DIR]
                           [--skip-apply]

Part 1 (pure, in-process): what the hub computes for one Subscription bound to ``--clusters`` clusters
with ``--feeds`` Deployment feeds and three override layers per feed — a Globalization for every cluster, a
Globalization per region (5 regions) and a Localization per cluster (its replica count and an annotation
naming the cluster, so every one of the objects is distinct and nothing can be shared) — down to the
base64 ``spec.raw`` of every cluster's Description (``render_all`` + ``raw_for_all``). Beside it, in the same
run and on the same objects, the *floor*: deep-copy every feed object once per cluster and serialize it the
same way, which any implementation producing per-cluster Descriptions must at least do, and a lower floor
that only serializes (the bytes every Description must hold, with no rendering at all). Also the naive path
(per cluster: collect the overrides, apply them, encode), which is what the batch renderer avoids. Each is
timed ``--rounds`` times and the best is reported, with the ratios.

Part 2 (real): a local fleet (parent + 2 children, hub-lite, one agent-lite per child; ``--fleet-dir`` reuses
a running one, else one is started in a temporary directory and stopped afterwards). ``--apply-runs`` times:
apply a fresh namespace, Service and Deployment plus a Subscription for both clusters with the CLI, and
measure until both Descriptions report ``Success``; then delete it. Prints p50 and max. Loopback only.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubectl_clusternet.core.apis.apps import DESCRIPTION, SUBSCRIPTION  # noqa: E402
from kubectl_clusternet.core.kube.kubeconfig import ConfigOverrides, load_and_resolve  # noqa: E402
from kubectl_clusternet.core.kube.rest import RestClient, connection_from_config  # noqa: E402
from kubectl_clusternet.core.render import (  # noqa: E402
    apply_overrides,
    collect_overrides,
    encode_raw,
    raw_for_all,
    render_all,
)

CLI = [str(Path(sys.executable).parent / "kubectl-clusternet")]  # the venv's console script
REGIONS = ("eu-west", "eu-north", "us-east", "us-west", "ap-south")


# -------------------------------------------------------------------------------------------------------------
# part 1: rendering


def feed_objects(count: int) -> list[dict[str, Any]]:
    """Deployments of a realistic size (two containers, probes, resources, env)."""
    objects = []
    for i in range(count):
        name = f"svc-{i:02d}"
        container = {
            "name": name,
            "image": f"registry.example/{name}:1.0.{i}",
            "ports": [{"containerPort": 8080, "name": "http"}],
            "env": [{"name": f"VAR_{j}", "value": f"value-{j}"} for j in range(8)],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
        }
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": name,
                    "namespace": "shop",
                    "labels": {"app": name, "tier": "backend"},
                    "uid": f"00000000-0000-4000-8000-{i:012d}",
                },
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {
                            "containers": [container, {**container, "name": "sidecar", "image": "envoy:1"}]
                        },
                    },
                },
            }
        )
    return objects


def fleet_clusters(count: int) -> list[dict[str, Any]]:
    return [
        {
            "metadata": {
                "name": f"cluster-{i:04d}",
                "namespace": f"clusternet-{i:05d}",
                "labels": {
                    "region": REGIONS[i % len(REGIONS)],
                    "clusters.clusternet.io/cluster-id": f"id-{i}",
                },
            },
            "spec": {"clusterId": f"id-{i}"},
        }
        for i in range(count)
    ]


def overrides(feeds: list[dict[str, Any]], clusters: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """Three layers per feed: fleet-wide and per-region Globalizations, a per-cluster Localization."""
    stamp = "2024-01-01T00:00:00Z"
    globalizations: list[dict[str, Any]] = []
    localizations: list[dict[str, Any]] = []
    for obj in feeds:
        ref = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": "shop",
            "name": obj["metadata"]["name"],
        }
        globalizations.append(
            {
                "metadata": {"name": f"all-{ref['name']}", "creationTimestamp": stamp},
                "spec": {
                    "priority": 100,
                    "feed": ref,
                    "overrides": [
                        {
                            "name": "labels",
                            "type": "MergePatch",
                            "value": '{"metadata":{"labels":{"fleet":"prod"}}}',
                        }
                    ],
                },
            }
        )
        for region in REGIONS:
            globalizations.append(
                {
                    "metadata": {"name": f"{region}-{ref['name']}", "creationTimestamp": stamp},
                    "spec": {
                        "priority": 200,
                        "feed": ref,
                        "clusterAffinity": {"matchLabels": {"region": region}},
                        "overrides": [
                            {
                                "name": "registry",
                                "type": "JSONPatch",
                                "value": json.dumps(
                                    [
                                        {
                                            "op": "replace",
                                            "path": "/spec/template/spec/containers/0/image",
                                            "value": f"{region}.registry.example/{ref['name']}:1.0",
                                        }
                                    ]
                                ),
                            }
                        ],
                    },
                }
            )
        for index, cluster in enumerate(clusters):
            localizations.append(
                {
                    "metadata": {
                        "name": f"replicas-{ref['name']}",
                        "namespace": cluster["metadata"]["namespace"],
                        "creationTimestamp": stamp,
                    },
                    "spec": {
                        "priority": 500,
                        "feed": ref,
                        "overrides": [
                            {
                                "name": "replicas",
                                "type": "JSONPatch",
                                "value": json.dumps(
                                    [{"op": "replace", "path": "/spec/replicas", "value": 1 + index % 7}]
                                ),
                            },
                            {
                                # Makes every cluster's object unique, so nothing can be shared: the worst case.
                                "name": "owner",
                                "type": "MergePatch",
                                "value": json.dumps(
                                    {
                                        "metadata": {
                                            "annotations": {
                                                "example.com/cluster": cluster["metadata"]["name"]
                                            }
                                        }
                                    }
                                ),
                            },
                        ],
                    },
                }
            )
    return globalizations, localizations


def best_of(rounds: int, run: Callable[[], int]) -> tuple[float, int]:
    times = []
    size = 0
    for _ in range(rounds):
        start = time.perf_counter()
        size = run()
        times.append(time.perf_counter() - start)
    return min(times), size


def bench_render(clusters_count: int, feeds_count: int, rounds: int) -> None:
    feeds = feed_objects(feeds_count)
    clusters = fleet_clusters(clusters_count)
    globalizations, localizations = overrides(feeds, clusters)
    locs_by_namespace: dict[str, list[dict[str, Any]]] = {}
    for loc in localizations:
        locs_by_namespace.setdefault(loc["metadata"]["namespace"], []).append(loc)

    def floor() -> int:
        total = 0
        for _cluster in clusters:
            raw = encode_raw(copy.deepcopy(obj) for obj in feeds)
            total += sum(len(entry) for entry in raw)
        return total

    def serialize_only() -> int:
        total = 0
        for _cluster in clusters:
            total += sum(len(entry) for entry in encode_raw(feeds))
        return total

    def batch() -> int:
        results = render_all(feeds, clusters, globalizations, localizations)
        assert all(r.error is None for r in results)
        return sum(len(entry) for raw in raw_for_all(results) for entry in raw)

    def naive() -> int:
        total = 0
        for cluster in clusters:
            labels = cluster["metadata"]["labels"]
            own = locs_by_namespace.get(cluster["metadata"]["namespace"], [])
            rendered = [
                apply_overrides(obj, collect_overrides(globalizations, own, labels, feed=_ref(obj)))
                for obj in feeds
            ]
            total += sum(len(entry) for entry in encode_raw(rendered))
        return total

    objects = clusters_count * feeds_count
    print(
        f"rendering {clusters_count} clusters x {feeds_count} feeds x 3 override layers "
        f"({objects} objects, {len(globalizations)} Globalizations, {len(localizations)} Localizations); "
        f"best of {rounds}"
    )
    floor_time, floor_bytes = best_of(rounds, floor)
    serialize_time, serialize_bytes = best_of(rounds, serialize_only)
    batch_time, batch_bytes = best_of(rounds, batch)
    naive_time, naive_bytes = best_of(max(1, rounds - 2), naive)
    rows = [
        ("floor: deep copy + serialize each object", floor_time, floor_bytes),
        ("floor: serialize each object, no copy", serialize_time, serialize_bytes),
        ("render_all + raw_for_all (the hub)", batch_time, batch_bytes),
        ("naive per-cluster render + encode", naive_time, naive_bytes),
    ]
    for label, seconds, size in rows:
        print(f"  {label:<42} {seconds:8.3f} s  {size / 1e6:7.1f} MB of raw")
    print(f"  ratio hub / copy+serialize floor:  {batch_time / floor_time:5.2f}x")
    print(f"  ratio hub / serialize-only floor:  {batch_time / serialize_time:5.2f}x")
    print(f"  ratio naive / hub:                 {naive_time / batch_time:5.2f}x")
    print(f"  hub per object:     {batch_time / objects * 1e6:6.1f} us")


def _ref(obj: dict[str, Any]) -> dict[str, str]:
    metadata = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "namespace": metadata["namespace"],
        "name": metadata["name"],
    }


# -------------------------------------------------------------------------------------------------------------
# part 2: apply -> Success in real children


def cli(kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [*CLI, "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"kubectl clusternet {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def get_json(kubeconfig: str, *args: str) -> Any:
    return json.loads(cli(kubeconfig, "get", *args, "-o", "json"))


def bench_apply(fleet_dir: Path, runs: int) -> None:
    kubeconfig = str(fleet_dir / "parent.kubeconfig")
    clusters = get_json(kubeconfig, "mcls", "-A")["items"]
    ids = [c["spec"]["clusterId"] for c in clusters if c["metadata"]["name"] in ("child-1", "child-2")]
    if len(ids) != 2:
        raise SystemExit(f"expected ManagedClusters child-1 and child-2 in {fleet_dir}, found {len(ids)}")
    resolved = load_and_resolve(ConfigOverrides(kubeconfig=kubeconfig), os.environ)
    parent = RestClient(connection_from_config(resolved))
    latencies: list[float] = []
    after_write: list[float] = []
    for run in range(runs):
        ns = f"bench-{os.getpid()}-{run}"
        objects = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": ns},
                "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}},
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": ns},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
                    },
                },
            },
        ]
        sub = {
            "apiVersion": "apps.clusternet.io/v1alpha1",
            "kind": "Subscription",
            "metadata": {"name": ns, "namespace": "default"},
            "spec": {
                "subscribers": [
                    {
                        "clusterAffinity": {
                            "matchExpressions": [
                                {"key": "clusters.clusternet.io/cluster-id", "operator": "In", "values": ids}
                            ]
                        }
                    }
                ],
                "feeds": [
                    {
                        "apiVersion": o["apiVersion"],
                        "kind": o["kind"],
                        "name": o["metadata"]["name"],
                        **({"namespace": ns} if o["kind"] != "Namespace" else {}),
                    }
                    for o in objects
                ],
            },
        }
        cli(kubeconfig, "apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objects))
        start = time.perf_counter()
        cli(kubeconfig, "apply", "-f", "-", stdin=json.dumps(sub))
        applied = time.perf_counter()
        uid = parent.get(SUBSCRIPTION.object_path(ns, "default"))["metadata"]["uid"]
        deadline = start + 120
        while True:
            found = parent.get(
                DESCRIPTION.collection_path(), query=[("labelSelector", f"apps.clusternet.io/subs.uid={uid}")]
            )
            phases = [(d.get("status") or {}).get("phase") for d in found.get("items") or []]
            if len(phases) == 2 and all(p == "Success" for p in phases):
                break
            if time.perf_counter() > deadline:
                raise SystemExit(f"run {run}: no Success after 120 s (phases {phases})")
            time.sleep(0.02)
        done = time.perf_counter()
        latencies.append(done - start)
        after_write.append(done - applied)
        print(
            f"  run {run + 1}: apply -> Success in both children {latencies[-1]:.2f} s "
            f"({after_write[-1]:.2f} s after the apply command returned)"
        )
        cli(kubeconfig, "delete", "sub", ns, "-n", "default", "--timeout=120s")
        for kind in ("deploy", "svc"):
            cli(kubeconfig, "delete", kind, "web", "-n", ns, "--ignore-not-found")
        cli(kubeconfig, "delete", "ns", ns, "--ignore-not-found")
    parent.close()
    print(
        f"apply -> Success in both children over {runs} runs: p50 {statistics.median(latencies):.2f} s, "
        f"max {max(latencies):.2f} s; after the apply command returned: p50 {statistics.median(after_write):.2f} s "
        "(the apply is a fresh CLI process; Descriptions polled every 20 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--apply-runs", type=int, default=5)
    parser.add_argument(
        "--fleet-dir", type=Path, default=None, help="a running local fleet (kubectl clusternet local up)"
    )
    parser.add_argument("--skip-apply", action="store_true", help="only the rendering part")
    options = parser.parse_args()

    bench_render(options.clusters, options.feeds, options.rounds)
    if options.skip_apply:
        return
    print()
    if options.fleet_dir is not None:
        bench_apply(options.fleet_dir, options.apply_runs)
        return
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        fleet_dir = Path(tmp) / "fleet"
        print(f"starting a local fleet in {fleet_dir} (parent + 2 children, hub-lite, 2 agents)")
        subprocess.run(
            [*CLI, "local", "up", "--dir", str(fleet_dir), "--children", "2"], check=True, capture_output=True
        )
        try:
            bench_apply(fleet_dir, options.apply_runs)
        finally:
            subprocess.run([*CLI, "local", "down", "--dir", str(fleet_dir)], check=False, capture_output=True)


if __name__ == "__main__":
    main()
