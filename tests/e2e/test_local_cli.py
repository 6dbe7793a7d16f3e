"""`kubectl clusternet local up|status|down` as a user runs them: a whole fleet that registers itself."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import run_cli

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_local_up_registers_both_children_and_down_stops_everything(tmp_path: Path) -> None:
    """`local up` starts parent, children, hub, proxy and agents; both clusters turn Ready and are reachable in
    child mode through the parent; `local down` leaves nothing."""
    fleet_dir = tmp_path / "fleet"
    up = run_cli("local", "up", "--dir", str(fleet_dir), "--children", "2")
    assert up.exit_code == 0, up.stderr
    try:
        kubeconfig = str(fleet_dir / "parent.kubeconfig")
        rows: list[list[str]] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            listed = run_cli("--kubeconfig", kubeconfig, "get", "mcls", "-A", "--no-headers")
            rows = [line.split() for line in listed.stdout.splitlines()]
            if len(rows) == 2 and all(len(row) == 7 and row[5] == "True" for row in rows):
                break
            time.sleep(1)
        assert sorted(row[1] for row in rows) == ["child-1", "child-2"], rows
        assert all(row[3:6] == ["Pull", "v1.20.2", "True"] for row in rows), rows
        requests = run_cli("--kubeconfig", kubeconfig, "get", "clsrr", "--no-headers").stdout.splitlines()
        assert [line.split()[2] for line in requests] == ["Approved", "Approved"]

        # Child mode through the parent: the real kubectl on the hub's proxy, with the child's own credentials.
        child_1, child_2 = (str(fleet_dir / f"child-{n}.kubeconfig") for n in (1, 2))
        only_in_2 = "only-in-child-2"
        created = subprocess.run(
            ["kubectl", "--kubeconfig", child_2, "create", "namespace", only_in_2],
            capture_output=True,
            text=True,
        )
        assert created.returncode == 0, created.stderr

        def child_namespaces(name: str, kubeconfig_file: str) -> list[str]:
            result = run_cli(
                "--kubeconfig",
                kubeconfig,
                "--cluster",
                name,
                "--child-kubeconfig",
                kubeconfig_file,
                "get",
                "ns",
                "-o",
                "name",
            )
            assert result.exit_code == 0, result.stderr
            return result.stdout.split()

        assert "namespace/" + only_in_2 in child_namespaces("child-2", child_2)
        assert "namespace/" + only_in_2 not in child_namespaces("child-1", child_1)
        url = run_cli("--kubeconfig", kubeconfig, "proxy-url", "child-2")
        cluster_2 = next(row[2] for row in rows if row[1] == "child-2")
        assert url.stdout.strip().endswith(
            f"/apis/proxies.clusternet.io/v1alpha1/sockets/{cluster_2}/proxy/direct"
        )
        deployer = json.loads(run_cli("--kubeconfig", kubeconfig, "get", "mcls", "-A", "-o", "json").stdout)
        namespaces = [item["metadata"]["namespace"] for item in deployer["items"]]
        for namespace in namespaces:
            secret = subprocess.run(
                [
                    "kubectl",
                    "--kubeconfig",
                    kubeconfig,
                    "-n",
                    namespace,
                    "get",
                    "secret",
                    "child-cluster-deployer",
                    "-o",
                    "jsonpath={.data}",
                ],
                capture_output=True,
                text=True,
            )
            assert secret.returncode == 0, secret.stderr
            assert {"ca.crt", "token", "apiserver-advertise-url"} <= set(json.loads(secret.stdout))

        again = run_cli("local", "up", "--dir", str(fleet_dir))
        assert again.exit_code == 0 and "already running" in again.stdout
        status = run_cli("local", "status", "--dir", str(fleet_dir))
        assert "hub-lite-proxy" in status.stdout and "agent-lite-child-2" in status.stdout
    finally:
        pids = [int(p["pid"]) for p in json.loads((fleet_dir / "fleet.json").read_text())["processes"]]
        down = run_cli("local", "down", "--dir", str(fleet_dir))
    assert down.exit_code == 0, down.stderr
    assert len(pids) == 11  # etcd, 3 apiservers, 3 controller-managers, hub, proxy, 2 agents
    assert [pid for pid in pids if _alive(pid)] == []
    assert not (fleet_dir / "fleet.json").exists()
    status_after = run_cli("local", "status", "--dir", str(fleet_dir))
    assert status_after.exit_code == 1 and "no local fleet is running" in status_after.stderr
