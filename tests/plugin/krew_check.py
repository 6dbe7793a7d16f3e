"""krew's manifest rules and install steps, re-done in Python because krew itself cannot be installed here.

The rules follow krew's validator (``validate-krew-manifest``: structural validation, every platform
selector matching a supported os/arch, no os/arch selected twice, a LICENSE extracted at install) and its
installer (``files``: glob ``from`` in the unpacked archive → ``to`` in the install directory, then ``bin``
must be an executable there). Each rule returns a readable problem, so a failing test says what krew
would have said.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = [
    "API_VERSION",
    "SUPPORTED_PLATFORMS",
    "install_like_krew",
    "manifest_problems",
    "selector_matches",
]

API_VERSION = "krew.googlecontainertools.github.com/v1alpha2"
# The os/arch pairs krew's validator knows (validate-krew-manifest's list).
SUPPORTED_PLATFORMS: tuple[tuple[str, str], ...] = (
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
)
_SAFE_NAME = re.compile(r"^[\w-]+$")
_WINDOWS_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
_SHA256 = re.compile(r"^[a-f0-9]{64}$")
# Semantic versioning 2.0 with krew's mandatory leading "v".
_VERSION = re.compile(
    r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_LICENSE_NAMES = {
    "license",
    "license.txt",
    "license.md",
    "licenses",
    "licenses.txt",
    "licenses.md",
    "copying",
    "copying.txt",
}


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels + matchExpressions, all must hold) against a label set."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def _selector_problems(index: int, selector: Any) -> list[str]:
    where = f"spec.platforms[{index}].selector"
    if not isinstance(selector, dict):
        return [f"{where}: nil selector is not supported"]
    labels = selector.get("matchLabels")
    expressions = selector.get("matchExpressions")
    if not labels and not expressions:
        return [f"{where}: empty selector is not supported"]
    problems = []
    keys = list((labels or {}).keys()) + [e.get("key") for e in expressions or []]
    problems += [
        f"{where}: key {key!r} not supported (only os and arch)" for key in keys if key not in ("os", "arch")
    ]
    for expression in expressions or []:
        if expression.get("operator") not in ("In", "NotIn", "Exists", "DoesNotExist"):
            problems.append(f"{where}: unknown operator {expression.get('operator')!r}")
    return problems


def _files_problems(index: int, files: Any) -> list[str]:
    where = f"spec.platforms[{index}].files"
    if files is None:
        return []
    if not isinstance(files, list) or not files:
        return [f"{where} has to be unspecified or non-empty"]
    problems = []
    for number, operation in enumerate(files):
        if not isinstance(operation, dict) or not operation.get("from"):
            problems.append(f"{where}[{number}]: `from` field has to be set")
        elif not operation.get("to"):
            problems.append(f"{where}[{number}]: `to` field has to be set")
    return problems


def _platform_problems(index: int, platform: Any) -> list[str]:
    where = f"spec.platforms[{index}]"
    if not isinstance(platform, dict):
        return [f"{where} is not a mapping"]
    problems = []
    if not platform.get("uri"):
        problems.append(f"{where}: `uri` has to be set")
    sha256 = platform.get("sha256")
    if not sha256:
        problems.append(f"{where}: `sha256` sum has to be set")
    elif not _SHA256.match(str(sha256)):
        problems.append(f"{where}: `sha256` value {sha256} is not valid, must match {_SHA256.pattern}")
    if not platform.get("bin"):
        problems.append(f"{where}: `bin` has to be set")
    problems += _files_problems(index, platform.get("files"))
    problems += _selector_problems(index, platform.get("selector"))
    return problems


def manifest_problems(manifest: Mapping[str, Any], file_name: str) -> list[str]:
    """Everything krew's validator would reject in ``manifest`` read from ``file_name`` (empty: valid)."""
    problems: list[str] = []
    stem, extension = os.path.splitext(os.path.basename(file_name))
    if extension != ".yaml":
        problems.append(f"expected manifest extension '.yaml' but found {extension!r}")
    if manifest.get("apiVersion") != API_VERSION:
        problems.append(f"apiVersion {manifest.get('apiVersion')!r} is not {API_VERSION}")
    if manifest.get("kind") != "Plugin":
        problems.append(f"kind {manifest.get('kind')!r} is not Plugin")
    if not _SAFE_NAME.match(stem) or stem.upper() in _WINDOWS_RESERVED:
        problems.append(f"the plugin name {stem!r} is not allowed")
    name = (manifest.get("metadata") or {}).get("name")
    if name != stem:
        problems.append(f"plugin should be named {stem!r} (its file name), not {name!r}")
    spec = manifest.get("spec") or {}
    short = spec.get("shortDescription")
    if not short:
        problems.append("should have a short description")
    elif "\n" in short or "\r" in short:
        problems.append("should not have line breaks in short description")
    if not spec.get("description"):
        problems.append("should have a description")
    version = spec.get("version")
    if not version:
        problems.append("should have a version specified")
    elif not _VERSION.match(str(version)):
        problems.append(f"version {version!r} is not semantic versioning with a leading v")
    platforms = spec.get("platforms") or []
    if not platforms:
        problems.append("should have a platform specified")
    for index, platform in enumerate(platforms):
        problems += _platform_problems(index, platform)
    if problems:
        return problems
    for index, platform in enumerate(platforms):
        if not any(
            selector_matches(platform["selector"], {"os": o, "arch": a}) for o, a in SUPPORTED_PLATFORMS
        ):
            problems.append(f"spec.platforms[{index}]'s selector doesn't match any supported platform")
    for os_name, arch in SUPPORTED_PLATFORMS:
        matching = [
            i
            for i, p in enumerate(platforms)
            if selector_matches(p["selector"], {"os": os_name, "arch": arch})
        ]
        if len(matching) > 1:
            problems.append(
                f"spec.platforms {matching} have overlapping selectors that select {os_name}/{arch}"
            )
    return problems


def _inside(base: Path, relative: str) -> Path:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{relative!r} leaves the directory")
    return base.joinpath(*path.parts)


def _glob_base(pattern: str) -> str:
    """The directory part of a glob before its first wildcard: the structure below it is preserved."""
    parts = PurePosixPath(pattern).parts
    fixed: list[str] = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return "/".join(fixed)


def install_like_krew(archive: Path, platform: Mapping[str, Any], install_dir: Path, scratch: Path) -> Path:
    """Unpack ``archive``, apply ``files`` into ``install_dir`` and return the ``bin`` path krew would link.

    Raises AssertionError with krew-like wording when an operation matches nothing, a LICENSE is not
    extracted, or ``bin`` is missing or not executable.
    """
    unpacked = scratch / "unpacked"
    unpacked.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    install_dir.mkdir(parents=True)
    operations: Sequence[Mapping[str, str]] = platform.get("files") or [{"from": "*", "to": "."}]
    for operation in operations:
        matches = sorted(glob.glob(str(_inside(unpacked, operation["from"]))))
        assert matches, f"files: {operation['from']!r} matches nothing in the archive"
        base = _inside(unpacked, _glob_base(operation["from"]))
        target_dir = _inside(install_dir, operation["to"])
        for match in map(Path, matches):
            target = target_dir / match.relative_to(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            if match.is_dir():
                shutil.copytree(match, target, dirs_exist_ok=True)
            else:
                shutil.copy2(match, target)
    installed = [p.name.lower() for p in install_dir.rglob("*") if p.is_file()]
    assert _LICENSE_NAMES & set(installed), f"no LICENSE among the installed files {installed}"
    binary = _inside(install_dir, platform["bin"])
    assert binary.is_file(), f"bin {platform['bin']!r} is not among the installed files {installed}"
    assert os.access(binary, os.X_OK), f"bin {platform['bin']!r} is not executable"
    return binary
