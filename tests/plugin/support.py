"""Helpers shared by the plugin tests: where things are, what the build produced, and PATHs to run them with."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "SHIM", "BuiltPlugin", "kubectl_path", "plugin_environ"]

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "completions" / "kubectl_complete-clusternet"


@dataclass(frozen=True)
class BuiltPlugin:
    """What scripts/build_plugin.py wrote, plus the environment to run the zipapp in."""

    out_dir: Path
    archive: Path
    checksum_file: Path
    manifest_path: Path
    manifest: dict
    shiv_root: Path


def kubectl_path() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl is not on PATH (scripts/setup.sh installs it)"
    return found


def plugin_environ(
    bin_dir: Path, *, shiv_root: Path | None = None, system_path: bool = False
) -> dict[str, str]:
    """An environment whose PATH starts with ``bin_dir``.

    With ``system_path`` the rest of PATH is only kubectl's directory and the system directories, so the
    zipapp runs on the system's python3 (not this virtualenv's) and no other kubectl-clusternet shadows ours.
    """
    environ = dict(os.environ)
    if system_path:
        rest = [os.path.dirname(kubectl_path()), "/usr/local/bin", "/usr/bin", "/bin"]
    else:
        rest = [os.environ.get("PATH", "")]
    environ["PATH"] = os.pathsep.join([str(bin_dir), *dict.fromkeys(rest)])
    environ.pop("PYTHONPATH", None)
    if shiv_root is not None:
        environ["SHIV_ROOT"] = str(shiv_root)
    return environ
