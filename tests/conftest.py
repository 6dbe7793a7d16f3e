"""One real fleet (parent + 2 children) per test session, shared by every end-to-end test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from kubectl_clusternet.localfleet import FleetState, down, ensure_binaries, find_binaries, up

_log = logging.getLogger("localfleet")

FLEET_TEARDOWN_MARK = "fleet_teardown"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{FLEET_TEARDOWN_MARK}: stops the session's fleet, so it runs after every other test"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move tests that tear the shared fleet down to the very end of the session."""
    last = [item for item in items if item.get_closest_marker(FLEET_TEARDOWN_MARK)]
    if last:
        items[:] = [item for item in items if not item.get_closest_marker(FLEET_TEARDOWN_MARK)] + last


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build missing binaries before any test starts, so the build is not counted in a test's timeout.

    The build (about ten minutes, once per machine) streams its output to the terminal.
    """
    if session.config.option.collectonly or find_binaries() is not None:
        return
    if not any(item.get_closest_marker("e2e") for item in session.items):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def show(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)

    ensure_binaries(show)


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetState]:
    """Start parent, child-1 and child-2 on free loopback ports; stop them when the session ends.

    Missing binaries are built rather than skipping the tests (see pytest_collection_finish).
    """
    directory = tmp_path_factory.mktemp("fleet")
    state, _ = up(directory, children=2, progress=_log.info)
    try:
        yield state
    finally:
        down(directory, progress=_log.info)
