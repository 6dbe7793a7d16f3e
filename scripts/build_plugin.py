#!/usr/bin/env python3
"""Build the one-file krew plugin: a universal zipapp, its archive, the archive's sha256 and the manifest.

    python scripts/build_plugin.py [--out dist/]

Writes into the output directory:

- ``kubectl-clusternet``: a shiv zipapp (``#!/usr/bin/env python3``) holding this project and every runtime
  dependency, started through ``kubectl_clusternet.__main__`` so that Python < 3.10 prints ``error: …``.
  Built with ``--compile-pyc``: shiv's cache never gets bytecode otherwise, which triples start-up time.
- ``kubectl-clusternet_<version>.tar.gz`` with the zipapp and LICENSE, byte-for-byte reproducible.
- ``kubectl-clusternet_<version>.tar.gz.sha256`` (``sha256sum -c`` format, lowercase hex).
- ``clusternet.yaml``: ``plugin.yaml`` rendered with the version and the digest.

Why the dependencies are copied from the running environment instead of resolved by pip: the build then works
offline and ships exactly the versions the tests ran against. Only the project itself is built, as a wheel,
from a copy of the source tree (so the work tree gets no build/ or egg-info litter).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__ = ["BuildResult", "build", "main", "render_manifest"]

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "kubectl-clusternet"
PLUGIN_NAME = "clusternet"
EXECUTABLE = "kubectl-clusternet"
ENTRY_MODULE = "kubectl_clusternet.__main__"  # the version guard, then cli.main
SHEBANG = "/usr/bin/env python3"
# Files the wheel is built from; everything else in the work tree stays out of the plugin.
SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE")
SOURCE_PACKAGES = ("kubectl_clusternet", "hub_lite", "agent_lite")
# A fixed timestamp for every archive member (1980-01-01, the earliest a zip can hold), unless
# SOURCE_DATE_EPOCH says otherwise: the same sources give the same archive and the same digest.
DEFAULT_EPOCH = 315532800
# The interpreters the universal zipapp serves (pyproject's requires-python, up to the newest release).
SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class BuildError(Exception):
    """A build step failed; the message says which and why."""


@dataclass(frozen=True)
class BuildResult:
    version: str
    executable: Path
    archive: Path
    sha256: str
    checksum_file: Path
    manifest: Path


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def project_version() -> str:
    """``kubectl_clusternet.__version__`` of this source tree, the one place the version is written."""
    sys.path.insert(0, str(ROOT))
    try:
        from kubectl_clusternet import __version__ as version
    finally:
        sys.path.remove(str(ROOT))
    if not _SEMVER.match(version):
        raise BuildError(
            f"__version__ {version!r} is not semantic versioning (krew needs v<major>.<minor>.<patch>)"
        )
    return version


def _run(argv: list[str], what: str, cwd: Path | None = None) -> None:
    completed = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BuildError(
            f"{what} failed (exit {completed.returncode}):\n{completed.stdout}{completed.stderr}"
        )


# -- the project wheel ------------------------------------------------------------------------------------


def build_project_wheel(work: Path) -> Path:
    """Build this project's wheel from a copy of its sources, with the installed setuptools, offline."""
    source = work / "source"
    source.mkdir()
    for name in SOURCE_FILES:
        if not (ROOT / name).is_file():
            raise BuildError(f"{name} is missing from the source tree")
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for package in SOURCE_PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    wheels = work / "wheels"
    _run(
        [
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
            "--no-index", "--wheel-dir", str(wheels), str(source),
        ],
        "building the project wheel (pip wheel)",
    )  # fmt: skip
    found = sorted(wheels.glob("*.whl"))
    if len(found) != 1:
        raise BuildError(f"expected one wheel, found {[p.name for p in found]}")
    return found[0]


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode()
    return [
        Requirement(line.split(":", 1)[1].strip())
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]


# -- the runtime dependencies, copied from this environment -----------------------------------------------


def _applies(requirement: Requirement, extras: Iterable[str], python: str | None = None) -> bool:
    """Whether a requirement holds on this interpreter, or on Python ``python`` (``"3.10"``) otherwise alike."""
    if requirement.marker is None:
        return True
    versions = {} if python is None else {"python_version": python, "python_full_version": f"{python}.0"}
    return any(requirement.marker.evaluate({**versions, "extra": extra}) for extra in ("", *extras))


@dataclass
class Closure:
    distributions: list[importlib.metadata.Distribution]
    missing_elsewhere: list[str]  # needed on another supported Python, not installed here


def dependency_closure(requirements: Iterable[Requirement]) -> Closure:
    """Every distribution the requirements need on any supported Python, transitively, from this environment.

    The zipapp is universal, so a dependency only another Python needs (``python_version < "3.11"``) goes in
    too when it is installed here; when it is not, it is reported rather than fetched (the build stays offline).
    """
    pending: list[tuple[Requirement, tuple[str, ...]]] = [(r, ()) for r in requirements]
    chosen: dict[str, importlib.metadata.Distribution] = {}
    extras_seen: dict[str, set[str]] = {}
    missing: set[str] = set()
    while pending:
        requirement, parent_extras = pending.pop()
        needed_here = _applies(requirement, parent_extras)
        if not needed_here and not any(_applies(requirement, parent_extras, v) for v in SUPPORTED_PYTHONS):
            continue
        key = canonicalize_name(requirement.name)
        new_extras = set(requirement.extras) - extras_seen.get(key, set())
        if key in chosen and not new_extras:
            continue
        try:
            distribution = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError as exc:
            if not needed_here:
                missing.add(str(requirement))
                continue
            raise BuildError(
                f"{requirement.name} is needed ({requirement}) but not installed: pip install -e '.[build]'"
            ) from exc
        if requirement.specifier and not requirement.specifier.contains(
            distribution.version, prereleases=True
        ):
            raise BuildError(
                f"installed {requirement.name} {distribution.version} does not satisfy {requirement}"
            )
        chosen[key] = distribution
        extras_seen.setdefault(key, set()).update(requirement.extras)
        for child in distribution.requires or []:
            pending.append((Requirement(child), tuple(extras_seen[key])))
    distributions = sorted(chosen.values(), key=lambda d: canonicalize_name(d.metadata["Name"]))
    return Closure(distributions, sorted(missing))


def _installed_files(distribution: importlib.metadata.Distribution) -> Iterator[tuple[Path, PurePosixPath]]:
    """The distribution's files inside site-packages (scripts in bin/ and bytecode are left out)."""
    files = distribution.files
    if files is None:
        raise BuildError(f"{distribution.metadata['Name']} has no RECORD: cannot tell which files it owns")
    for entry in files:
        relative = PurePosixPath(str(entry))
        if relative.is_absolute() or ".." in relative.parts or "__pycache__" in relative.parts:
            continue
        if relative.suffix == ".pyc":
            continue
        yield Path(str(distribution.locate_file(entry))), relative


def stage_site_packages(wheel: Path, site_packages: Path) -> Closure:
    """Unpack the project wheel and copy its dependency closure into ``site_packages``."""
    site_packages.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site_packages)
    closure = dependency_closure(wheel_requirements(wheel))
    for distribution in closure.distributions:
        name = distribution.metadata["Name"]
        if canonicalize_name(name) == canonicalize_name(DISTRIBUTION):
            continue
        for source, relative in _installed_files(distribution):
            if not source.is_file():
                continue
            target = site_packages.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return closure


def native_modules(site_packages: Path) -> list[str]:
    """Compiled extension modules in the zipapp: each works only on this platform and Python version."""
    return sorted(
        str(path.relative_to(site_packages))
        for pattern in ("*.so", "*.pyd", "*.dylib")
        for path in site_packages.rglob(pattern)
    )


# -- zipapp, archive, digest, manifest --------------------------------------------------------------------


def build_zipapp(site_packages: Path, output: Path, epoch: int) -> None:
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    completed = subprocess.run(
        [
            sys.executable, "-m", "shiv", "--site-packages", str(site_packages), "--compile-pyc",
            "--reproducible", "--entry-point", ENTRY_MODULE, "--python", SHEBANG, "--output-file", str(output),
        ],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    if completed.returncode != 0:
        raise BuildError(f"shiv failed (exit {completed.returncode}):\n{completed.stdout}{completed.stderr}")
    output.chmod(0o755)


def _tar_member(name: str, data: bytes, mode: int, epoch: int) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info, io.BytesIO(data)


def write_archive(archive: Path, executable: Path, license_file: Path, epoch: int) -> None:
    """A .tar.gz with the executable (0755) and LICENSE (0644) at its top level, same bytes for same input."""
    with archive.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch) as zipped:
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, path, mode in ((EXECUTABLE, executable, 0o755), ("LICENSE", license_file, 0o644)):
                tar.addfile(*_tar_member(name, path.read_bytes(), mode, epoch))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def render_manifest(template: str, values: dict[str, str]) -> str:
    """Fill ``{{ name }}`` placeholders; every placeholder must be known and every value used."""
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - values.keys())
    if unknown:
        raise BuildError(f"plugin.yaml has placeholders the build does not fill: {', '.join(unknown)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def build(out_dir: Path) -> BuildResult:
    version = project_version()
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or DEFAULT_EPOCH)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-plugin-") as scratch:
        work = Path(scratch)
        _say(f"building {DISTRIBUTION} {version} wheel from the source tree")
        wheel = build_project_wheel(work)
        if f"-{version}-" not in wheel.name:
            raise BuildError(f"the wheel {wheel.name} does not carry __version__ {version}")
        site_packages = work / "site-packages"
        closure = stage_site_packages(wheel, site_packages)
        included = [f"{d.metadata['Name']} {d.version}" for d in closure.distributions]
        _say(f"dependencies copied from {sys.prefix}: {', '.join(included)}")
        if closure.missing_elsewhere:
            _say(
                "not installed here, so not in the zipapp, though another supported Python would need them: "
                + ", ".join(closure.missing_elsewhere)
            )
        natives = native_modules(site_packages)
        if natives:
            _say(
                f"{len(natives)} compiled modules are included for this platform only; the pure-Python "
                "fallbacks of pyyaml and the aiohttp family take over elsewhere, cryptography (used by "
                "`local up`) has none"
            )
        executable = out_dir / EXECUTABLE
        _say(f"building the zipapp {executable} with shiv")
        build_zipapp(site_packages, executable, epoch)
    archive = out_dir / f"{EXECUTABLE}_{version}.tar.gz"
    write_archive(archive, executable, ROOT / "LICENSE", epoch)
    digest = sha256_of(archive)
    checksum_file = archive.with_name(archive.name + ".sha256")
    checksum_file.write_text(f"{digest}  {archive.name}\n")
    manifest = out_dir / f"{PLUGIN_NAME}.yaml"
    manifest.write_text(
        render_manifest((ROOT / "plugin.yaml").read_text(), {"version": version, "sha256": digest})
    )
    return BuildResult(version, executable, archive, digest, checksum_file, manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="Output directory (default: dist/).")
    args = parser.parse_args(argv)
    try:
        result = build(args.out)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    size_mb = result.executable.stat().st_size / 1e6
    print(f"{result.executable}  ({size_mb:.1f} MB zipapp)")
    print(f"{result.archive}  sha256 {result.sha256}")
    print(f"{result.checksum_file}")
    print(f"{result.manifest}  (krew manifest, version v{result.version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
