"""The krew release: the built manifest passes krew's rules, and the installed plugin works with the real kubectl."""

from __future__ import annotations

import copy
import hashlib
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from kubectl_clusternet import __version__

from .krew_check import install_like_krew, manifest_problems
from .support import SHIM, BuiltPlugin, kubectl_path, plugin_environ


@pytest.fixture(scope="module")
def installed(built_plugin: BuiltPlugin, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install as krew does (unpack, apply ``files``) and link ``bin`` as kubectl-clusternet in a bin dir."""
    krew_root = tmp_path_factory.mktemp("krew-root")
    platform = built_plugin.manifest["spec"]["platforms"][0]
    version = built_plugin.manifest["spec"]["version"]
    binary = install_like_krew(
        built_plugin.archive,
        platform,
        krew_root / "store" / "clusternet" / version,
        krew_root / "download",
    )
    bin_dir = krew_root / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl-clusternet").symlink_to(binary)
    return bin_dir


def _run(argv: list[str], bin_dir: Path, built_plugin: BuiltPlugin) -> subprocess.CompletedProcess[str]:
    environ = plugin_environ(bin_dir, shiv_root=built_plugin.shiv_root, system_path=True)
    return subprocess.run(argv, capture_output=True, text=True, env=environ, check=False, timeout=300)


def test_manifest_passes_krews_rules(built_plugin: BuiltPlugin) -> None:
    """The rendered clusternet.yaml is what krew's validator accepts, named after its file."""
    assert manifest_problems(built_plugin.manifest, built_plugin.manifest_path.name) == []


def test_manifest_carries_the_built_version_and_digest(built_plugin: BuiltPlugin) -> None:
    """Version and sha256 come from the build: the package version, and the digest of the archive on disk."""
    spec = built_plugin.manifest["spec"]
    digest = hashlib.sha256(built_plugin.archive.read_bytes()).hexdigest()
    assert spec["version"] == f"v{__version__}"
    assert built_plugin.archive.name == f"kubectl-clusternet_{__version__}.tar.gz"
    assert built_plugin.checksum_file.read_text() == f"{digest}  {built_plugin.archive.name}\n"
    for platform in spec["platforms"]:
        assert platform["sha256"] == digest
        assert platform["uri"].endswith(f"/v{__version__}/{built_plugin.archive.name}")
        assert platform["bin"] == "kubectl-clusternet"


def test_manifest_covers_linux_and_darwin_on_amd64_and_arm64(built_plugin: BuiltPlugin) -> None:
    from .krew_check import selector_matches

    platforms = built_plugin.manifest["spec"]["platforms"]
    for os_name in ("linux", "darwin"):
        for arch in ("amd64", "arm64"):
            labels = {"os": os_name, "arch": arch}
            assert sum(selector_matches(p["selector"], labels) for p in platforms) == 1, labels
    assert not any(selector_matches(p["selector"], {"os": "windows", "arch": "amd64"}) for p in platforms)


def test_manifest_says_python_is_needed(built_plugin: BuiltPlugin) -> None:
    assert "python3" in built_plugin.manifest["spec"]["caveats"]
    assert "3.10" in built_plugin.manifest["spec"]["caveats"]


def test_archive_holds_the_executable_and_license(built_plugin: BuiltPlugin) -> None:
    with tarfile.open(built_plugin.archive) as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert set(members) == {"kubectl-clusternet", "LICENSE"}
    assert members["kubectl-clusternet"].mode & 0o111
    with tarfile.open(built_plugin.archive) as tar:
        license_file = tar.extractfile("LICENSE")
        assert license_file is not None
        assert b"Apache License" in license_file.read()


def test_kubectl_lists_the_installed_plugin_without_warnings(
    installed: Path, built_plugin: BuiltPlugin
) -> None:
    """`kubectl plugin list` finds the krew-style link and has nothing to warn about it."""
    listed = _run([kubectl_path(), "plugin", "list"], installed, built_plugin)
    assert listed.returncode == 0, listed.stderr
    assert str(installed / "kubectl-clusternet") in listed.stdout.splitlines()
    assert "kubectl-clusternet" not in listed.stderr


def test_kubectl_runs_the_installed_plugin(installed: Path, built_plugin: BuiltPlugin) -> None:
    """`kubectl clusternet version --client` runs the zipapp on the system's python3, first run included."""
    for _ in range(2):  # the first run unpacks into SHIV_ROOT, the second uses the cache
        result = _run([kubectl_path(), "clusternet", "version", "--client"], installed, built_plugin)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"Client Version: {built_plugin.manifest['spec']['version']}\n"


def test_installed_plugin_completes_through_the_shim(installed: Path, built_plugin: BuiltPlugin) -> None:
    """With the documented shim next to the krew link, kubectl completes the packaged plugin's commands."""
    shim = installed / SHIM.name
    if not shim.exists():
        shim.symlink_to(SHIM)
    result = _run([kubectl_path(), "__complete", "clusternet", "ge"], installed, built_plugin)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split("\t")[0] == "get"
    assert result.stdout.splitlines()[-1] == ":4"


def test_zipapp_refuses_old_pythons_with_an_error_line(built_plugin: BuiltPlugin, tmp_path: Path) -> None:
    """On Python < 3.10 the zipapp prints kubectl's `error: …` line instead of a traceback.

    No old interpreter is at hand, so a sitecustomize makes this one report 3.9 before the zipapp starts."""
    (tmp_path / "sitecustomize.py").write_text('import sys\nsys.version_info = (3, 9, 18, "final", 0)\n')
    environ = plugin_environ(tmp_path, shiv_root=built_plugin.shiv_root, system_path=True)
    environ["PYTHONPATH"] = str(tmp_path)
    result = subprocess.run(
        [str(built_plugin.out_dir / "kubectl-clusternet"), "version", "--client"],
        capture_output=True,
        text=True,
        env=environ,
        check=False,
        timeout=300,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "3.10" in result.stderr
    assert "Traceback" not in result.stderr


# -- the checker itself rejects what krew rejects ----------------------------------------------------------------


def _valid_manifest() -> dict[str, Any]:
    return {
        "apiVersion": "krew.googlecontainertools.github.com/v1alpha2",
        "kind": "Plugin",
        "metadata": {"name": "clusternet"},
        "spec": {
            "version": "v0.1.0",
            "shortDescription": "short",
            "description": "long",
            "platforms": [
                {
                    "selector": {"matchLabels": {"os": "linux", "arch": "amd64"}},
                    "uri": "https://example.invalid/a.tar.gz",
                    "sha256": "a" * 64,
                    "bin": "kubectl-clusternet",
                    "files": [{"from": "kubectl-clusternet", "to": "."}],
                }
            ],
        },
    }


def _broken(change: str) -> dict[str, Any]:
    manifest = copy.deepcopy(_valid_manifest())
    platform = manifest["spec"]["platforms"][0]
    if change == "uppercase sha256":
        platform["sha256"] = "A" * 64
    elif change == "version without v":
        manifest["spec"]["version"] = "0.1.0"
    elif change == "selector on another key":
        platform["selector"] = {"matchLabels": {"os": "linux", "distro": "debian"}}
    elif change == "overlapping platforms":
        manifest["spec"]["platforms"].append(copy.deepcopy(platform))
    elif change == "unsupported platform":
        platform["selector"] = {"matchLabels": {"os": "plan9", "arch": "amd64"}}
    elif change == "empty files":
        platform["files"] = []
    elif change == "files without to":
        platform["files"] = [{"from": "kubectl-clusternet"}]
    elif change == "no bin":
        del platform["bin"]
    elif change == "other name":
        manifest["metadata"]["name"] = "clusternet-py"
    return manifest


@pytest.mark.parametrize(
    "change",
    [
        "uppercase sha256",
        "version without v",
        "selector on another key",
        "overlapping platforms",
        "unsupported platform",
        "empty files",
        "files without to",
        "no bin",
        "other name",
    ],
)
def test_checker_rejects_what_krew_rejects(change: str) -> None:
    assert manifest_problems(_valid_manifest(), "clusternet.yaml") == []
    assert manifest_problems(_broken(change), "clusternet.yaml") != []
