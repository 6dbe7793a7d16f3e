"""Finding (or building once) the control plane binaries the local fleet runs.

The lookup follows the envtest convention first (`$KUBEBUILDER_ASSETS`), so a developer who already
has those assets never waits for a build; the build from Debian's sources is the last resort.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubectl_clusternet.core.errors import LocalFleetError

__all__ = [
    "KUBERNETES_VERSION",
    "Binaries",
    "build_recipe",
    "build_script",
    "cache_bin_dir",
    "ensure_binaries",
    "find_binaries",
]

KUBERNETES_VERSION = "1.20.2"
_KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager")
_DEBIAN_ETCD = Path("/usr/bin/etcd")


@dataclass(frozen=True)
class Binaries:
    """Paths of the three programs a local control plane consists of."""

    kube_apiserver: Path
    kube_controller_manager: Path
    etcd: Path
    _versions: dict[str, tuple[int, int]] = field(default_factory=dict, init=False, compare=False, repr=False)

    def kube_minor_version(self) -> tuple[int, int]:
        """(major, minor) of kube-apiserver; flags such as --insecure-port vanished in 1.24."""
        cached = self._versions.get("kube")
        if cached is not None:
            return cached
        try:
            output = subprocess.run(
                [str(self.kube_apiserver), "--version"], capture_output=True, text=True, timeout=60
            ).stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LocalFleetError(f"cannot run {self.kube_apiserver} --version: {exc}") from exc
        match = re.search(r"v(\d+)\.(\d+)", output)
        if not match:
            raise LocalFleetError(f"cannot tell the version of {self.kube_apiserver}: {output.strip()!r}")
        version = (int(match.group(1)), int(match.group(2)))
        self._versions["kube"] = version
        return version


def cache_bin_dir() -> Path:
    """Where build_k8s.sh puts what it builds, shared by every fleet of this user."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubectl-clusternet" / f"k8s-{KUBERNETES_VERSION}" / "bin"


def build_script() -> Path:
    return Path(__file__).with_name("build_k8s.sh")


def build_recipe() -> str:
    """The recipe build_k8s.sh builds to; cached binaries of any other recipe are stale.

    Read from the script itself so the two can never disagree.
    """
    match = re.search(r"^recipe=(\S+)$", build_script().read_text(), re.MULTILINE)
    if match is None:
        raise LocalFleetError(f"{build_script()} names no recipe; the installation is damaged")
    return match.group(1)


def _cached(name: str) -> Path:
    """A binary in the cache, or a path that does not exist when the cache holds an older recipe."""
    bin_dir = cache_bin_dir()
    try:
        recipe = (bin_dir / ".recipe").read_text().strip()
    except OSError:
        recipe = ""
    return bin_dir / name if recipe == build_recipe() else bin_dir / ".stale" / name


def _executable(path: Path) -> Path | None:
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _find(name: str, fallback: Path) -> Path | None:
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        found = _executable(Path(assets) / name)
        if found:
            return found
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    return _executable(fallback)


def find_binaries() -> Binaries | None:
    """Look up all three binaries; None when any is missing."""
    apiserver = _find("kube-apiserver", _cached("kube-apiserver"))
    controller_manager = _find("kube-controller-manager", _cached("kube-controller-manager"))
    etcd = _find("etcd", _DEBIAN_ETCD)
    if apiserver is None or controller_manager is None or etcd is None:
        return None
    return Binaries(kube_apiserver=apiserver, kube_controller_manager=controller_manager, etcd=etcd)


def _can_build() -> bool:
    debian_like = shutil.which("apt-get") is not None and Path("/etc/debian_version").exists()
    privileged = os.geteuid() == 0 or shutil.which("sudo") is not None
    return debian_like and privileged


def _missing_message() -> str:
    return (
        "kube-apiserver, kube-controller-manager and etcd were not found "
        f"(looked in $KUBEBUILDER_ASSETS, PATH and {cache_bin_dir()}), and they cannot be built here "
        "(building needs a Debian-like host with apt-get, as root or with sudo). "
        "Put the three binaries in one directory and set KUBEBUILDER_ASSETS to it, "
        "for example with `setup-envtest use -p path` from controller-runtime."
    )


def ensure_binaries(progress: Callable[[str], None] = lambda line: None) -> Binaries:
    """Return the binaries, building the Kubernetes ones first when they are missing.

    The build takes about ten minutes, so its output is streamed to `progress` line by line.
    """
    found = find_binaries()
    if found is not None:
        return found
    if not _can_build():
        raise LocalFleetError(_missing_message())
    cache_dir = cache_bin_dir().parent
    progress(f"building Kubernetes {KUBERNETES_VERSION} control plane binaries into {cache_dir}")
    last_lines: deque[str] = deque(maxlen=30)
    try:
        process = subprocess.Popen(
            ["bash", str(build_script()), str(cache_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise LocalFleetError(f"cannot run {build_script()}: {exc}") from exc
    assert process.stdout is not None
    with process:
        for line in process.stdout:
            line = line.rstrip("\n")
            last_lines.append(line)
            progress(line)
    if process.returncode != 0:
        tail = "\n".join(last_lines)
        raise LocalFleetError(
            f"building the Kubernetes binaries failed (exit code {process.returncode}); last output:\n{tail}\n"
            "Alternatively set KUBEBUILDER_ASSETS to a directory holding kube-apiserver, "
            "kube-controller-manager and etcd."
        )
    found = find_binaries()
    if found is None:
        raise LocalFleetError(
            f"the build finished but the binaries are still missing from {cache_bin_dir()}; "
            "etcd is expected on PATH or at /usr/bin/etcd"
        )
    return found
