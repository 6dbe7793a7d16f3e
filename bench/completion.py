#!/usr/bin/env python3
"""Completion latency, measured side by side with kubectl's own completion in one run.

    python bench/completion.py [--runs 15] [--kubeconfig PARENT_KUBECONFIG] [--plugin dist/kubectl-clusternet]

Each row runs ``kubectl __complete clusternet …`` (kubectl → the kubectl_complete-clusternet shim →
kubectl-clusternet __complete) alternately with a comparable ``kubectl __complete get …``, so both see the same
machine load. The budget for one TAB press is 300 ms; it is printed next to the medians, not enforced.
Without --kubeconfig, KUBECONFIG points at a missing file, so the rows that need a parent measure the
"no parent" path (both sides give up at once). --plugin measures another kubectl-clusternet, such as the
zipapp from scripts/build_plugin.py (the form krew installs), instead of this checkout's console script.
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
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MS = 300.0


def timed(argv: list[str], env: Mapping[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=dict(env))
    return time.perf_counter() - start


def compare(label: str, ours: list[str], theirs: list[str], runs: int, env: Mapping[str, str]) -> None:
    timed(ours, env), timed(theirs, env)  # warm the page cache and both programs' caches
    our_times, their_times = [], []
    for _ in range(runs):
        our_times.append(timed(ours, env))
        their_times.append(timed(theirs, env))
    ours_ms = statistics.median(our_times) * 1000
    theirs_ms = statistics.median(their_times) * 1000
    verdict = "within" if ours_ms <= BUDGET_MS else "OVER"
    print(
        f"{label:<40} {ours_ms:8.1f} ms {theirs_ms:8.1f} ms {ours_ms / theirs_ms:7.2f}x   "
        f"{verdict} the {BUDGET_MS:.0f} ms budget"
    )


def plugin_path(directory: Path, plugin: str | None) -> str:
    """A PATH where kubectl finds the shim and the shim finds the kubectl-clusternet to measure."""
    ours = plugin and os.path.abspath(plugin)
    ours = ours or shutil.which("kubectl-clusternet", path=os.path.dirname(sys.executable))
    if ours is None or not os.access(ours, os.X_OK):
        sys.exit("error: no kubectl-clusternet to measure (pip install -e . or pass --plugin)")
    shim = ROOT / "completions" / "kubectl_complete-clusternet"
    (directory / "kubectl-clusternet").symlink_to(ours)
    (directory / "kubectl_complete-clusternet").symlink_to(shim)
    return os.pathsep.join([str(directory), os.environ.get("PATH", "")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--kubeconfig", default=None)
    parser.add_argument("--plugin", default=None, help="The kubectl-clusternet executable to measure.")
    args = parser.parse_args()
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        sys.exit("error: kubectl is not on PATH")
    # pip compiles an installed package's bytecode; an editable checkout may have none.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kubectl_clusternet")], check=True)
    with tempfile.TemporaryDirectory(prefix="bench-completion-") as scratch:
        directory = Path(scratch)
        env = dict(os.environ)
        env["PATH"] = plugin_path(directory, args.plugin)
        env["KUBECONFIG"] = args.kubeconfig or str(directory / "missing-kubeconfig")
        rows = [
            ("subcommand: clusternet ge", ["clusternet", "ge"], ["get", ""]),
            ("kind: clusternet get mc", ["clusternet", "get", "mc"], ["get", ""]),
            ("names: clusternet get mcls ''", ["clusternet", "get", "mcls", ""], ["get", "namespaces", ""]),
            ("namespaces: clusternet get -n ''", ["clusternet", "get", "-n", ""], ["get", "pods", "-n", ""]),
        ]
        if args.plugin:  # the zipapp's "#!/usr/bin/env python3": a pyenv shim there costs ~200 ms per run
            print(f"the zipapp runs on {shutil.which('python3', path=env['PATH'])}")
        print(f"{'':<40} {'ours':>11} {'kubectl':>11} {'ratio':>8}")
        for label, ours, theirs in rows:
            compare(label, [kubectl, "__complete", *ours], [kubectl, "__complete", *theirs], args.runs, env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
