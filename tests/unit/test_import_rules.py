"""The layering rules of design.md: the shared library stays free of the CLI and the daemons, and the two daemons
never depend on each other."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    return imports_of(path.read_text(), _module_name(path), is_package=path.name == "__init__.py")


def imports_of(source: str, module: str, *, is_package: bool) -> set[str]:
    """Absolute names of every module a source imports, relative imports resolved."""
    tree = ast.parse(source)
    package = module.split(".")
    if not is_package:
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        (
            "kubectl_clusternet/core",
            (
                "click",
                "rich",
                "kubectl_clusternet.cli",
                "kubectl_clusternet.localfleet",
                "hub_lite",
                "agent_lite",
            ),
        ),
        ("hub_lite", ("agent_lite", "kubectl_clusternet.cli", "click")),
        ("agent_lite", ("hub_lite", "kubectl_clusternet.cli", "click")),
    ],
)
def test_layering(package: str, forbidden: tuple[str, ...]) -> None:
    """No module of a layer imports what the design forbids it."""
    assert _violations(package, forbidden) == []


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    [
        (
            "from ...cli import main\n",
            "kubectl_clusternet.core.kube.rest",
            False,
            "kubectl_clusternet.cli.main",
        ),
        ("from ..cli import main\n", "kubectl_clusternet.core", True, "kubectl_clusternet.cli.main"),
        ("from . import model\n", "kubectl_clusternet.core.apis", True, "kubectl_clusternet.core.apis.model"),
        ("import rich.console\n", "kubectl_clusternet.core.x", False, "rich.console"),
    ],
)
def test_checker_resolves_relative_imports(source: str, module: str, is_package: bool, expected: str) -> None:
    """Relative imports are resolved to absolute names, so a forbidden ``from ...cli import x`` cannot slip through."""
    assert expected in imports_of(source, module, is_package=is_package)


def test_core_import_loads_no_cli_libraries() -> None:
    """Importing the whole shared library at run time pulls in neither click nor rich nor the kubernetes client."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import kubectl_clusternet.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'kubectl_clusternet.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in ('click', 'rich', 'kubernetes', 'kubectl_clusternet.cli') if n in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == ""
