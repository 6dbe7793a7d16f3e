"""Fixtures for the tests that drive the real kubectl: the built plugin (once per session) and PATHs for it.

The shared ``fleet`` (a real parent and two children) comes from tests/conftest.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .support import ROOT, SHIM, BuiltPlugin


@pytest.fixture(scope="session")
def built_plugin(tmp_path_factory: pytest.TempPathFactory) -> BuiltPlugin:
    """Build the krew plugin once per session (tens of seconds: wheel, dependency copy, shiv)."""
    out_dir = tmp_path_factory.mktemp("dist")
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_plugin.py"), "--out", str(out_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, f"build failed:\n{completed.stdout}\n{completed.stderr}"
    manifest_path = out_dir / "clusternet.yaml"
    archives = sorted(out_dir.glob("kubectl-clusternet_*.tar.gz"))
    assert len(archives) == 1, f"expected one archive in {sorted(p.name for p in out_dir.iterdir())}"
    return BuiltPlugin(
        out_dir=out_dir,
        archive=archives[0],
        checksum_file=archives[0].with_name(archives[0].name + ".sha256"),
        manifest_path=manifest_path,
        manifest=yaml.safe_load(manifest_path.read_text()),
        shiv_root=tmp_path_factory.mktemp("shiv-root"),
    )


@pytest.fixture
def checkout_plugin_bin(tmp_path: Path) -> Iterator[Path]:
    """A directory with this checkout's kubectl-clusternet and the completion shim, for a temporary PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "kubectl-clusternet"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kubectl_clusternet "$@"\n')
    launcher.chmod(0o755)
    (bin_dir / SHIM.name).symlink_to(SHIM)
    yield bin_dir
