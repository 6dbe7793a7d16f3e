#!/usr/bin/env python3
"""CLI start-up cost, measured side by side with kubectl in one run.

    python bench/cli_start.py [--runs 21] [--kubeconfig PARENT_KUBECONFIG]

Without --kubeconfig a local fleet is started in a temporary directory (and stopped afterwards). Each pair of
commands runs alternately, so both see the same machine load; the ratio of the medians is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def compare(label: str, ours: list[str], theirs: list[str], runs: int) -> float:
    timed(ours), timed(theirs)  # warm caches (page cache, kubectl's discovery cache)
    our_times, their_times = [], []
    for _ in range(runs):
        our_times.append(timed(ours))
        their_times.append(timed(theirs))
    ours_median, theirs_median = statistics.median(our_times), statistics.median(their_times)
    ratio = ours_median / theirs_median
    print(f"{label:<34} {ours_median * 1000:8.1f} ms {theirs_median * 1000:8.1f} ms {ratio:7.2f}x")
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--kubeconfig", default=None)
    args = parser.parse_args()
    ours = shutil.which("kubectl-clusternet", path=os.path.dirname(sys.executable)) or "kubectl-clusternet"
    # pip compiles an installed package's bytecode; an editable checkout (or PYTHONDONTWRITEBYTECODE) may have
    # none, which would measure the compiler instead of the program.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kubectl_clusternet")], check=True)
    fleet_dir = None
    kubeconfig = args.kubeconfig
    if kubeconfig is None:
        from kubectl_clusternet import localfleet

        fleet_dir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
        state, _ = localfleet.up(fleet_dir, children=1)
        kubeconfig = str(state.parent.kubeconfig)
        subprocess.run(
            [ours, "--kubeconfig", kubeconfig, "hub", "install"], check=True, stdout=subprocess.DEVNULL
        )
    try:
        print(f"{'command (median of ' + str(args.runs) + ')':<34} {'ours':>11} {'kubectl':>11} {'ratio':>8}")
        compare(
            "get mcls -A",
            [ours, "--kubeconfig", kubeconfig, "get", "mcls", "-A"],
            ["kubectl", "--kubeconfig", kubeconfig, "get", "mcls", "-A"],
            args.runs,
        )
        compare(
            "version --client", [ours, "version", "--client"], ["kubectl", "version", "--client"], args.runs
        )
    finally:
        if fleet_dir is not None:
            from kubectl_clusternet import localfleet

            localfleet.down(fleet_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
