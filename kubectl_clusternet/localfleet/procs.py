"""Starting detached processes and stopping exactly those, never a stranger that reused a pid.

A pid alone is not an identity: once a process exits the kernel may hand its pid to anything. The
start time in /proc/<pid>/stat (clock ticks since boot) never changes for a live process, so the pair
(pid, start time) is what the fleet records and checks before sending any signal.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ProcessIdentity",
    "identify",
    "is_running",
    "log_tail",
    "spawn",
    "stop",
]

# Popen objects of processes this interpreter started, kept so they can be reaped (no zombies, no
# "still running" warnings) when the same interpreter stops them later, as the test fixture does.
_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start_time: int


def _read_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) of a process, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    fields = raw[raw.rindex(")") + 2 :].split()
    # After the name: field 3 is the state, field 22 the start time (1-based, as in proc(5)).
    return fields[0], int(fields[19])


def identify(pid: int) -> ProcessIdentity | None:
    stat = _read_stat(pid)
    if stat is None or stat[0] in ("Z", "X"):
        return None
    return ProcessIdentity(pid=pid, start_time=stat[1])


def _reap(pid: int) -> None:
    popen = _SPAWNED.get(pid)
    if popen is not None and popen.poll() is not None:
        del _SPAWNED[pid]


def is_running(identity: ProcessIdentity) -> bool:
    """True while the very process we started is alive (zombies count as gone)."""
    _reap(identity.pid)
    stat = _read_stat(identity.pid)
    if stat is None:
        return False
    state, start_time = stat
    return start_time == identity.start_time and state not in ("Z", "X")


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> ProcessIdentity:
    """Start a process in its own session, so it outlives the caller and a terminal's Ctrl-C."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    _SPAWNED[popen.pid] = popen
    stat = _read_stat(popen.pid)
    if stat is None:
        # It already exited and was reaped elsewhere; report an identity that can never match.
        return ProcessIdentity(pid=popen.pid, start_time=-1)
    return ProcessIdentity(pid=popen.pid, start_time=stat[1])


def _wait_gone(identities: Sequence[ProcessIdentity], deadline: float) -> list[ProcessIdentity]:
    remaining = [identity for identity in identities if is_running(identity)]
    while remaining and time.monotonic() < deadline:
        time.sleep(0.05)
        remaining = [identity for identity in remaining if is_running(identity)]
    return remaining


def _signal(identity: ProcessIdentity, signum: int) -> None:
    """Signal a verified process; a group leader takes its group along (a `sh -c` wrapper's children)."""
    if not is_running(identity):
        return
    try:
        group = os.getpgid(identity.pid)
        if group == identity.pid and group != os.getpgrp():
            os.killpg(group, signum)
        else:
            os.kill(identity.pid, signum)
    except ProcessLookupError:
        pass


def stop(identities: Sequence[ProcessIdentity], grace_seconds: float = 10.0) -> list[ProcessIdentity]:
    """SIGTERM, then SIGKILL after `grace_seconds`; return the processes that still would not die."""
    for identity in identities:
        _signal(identity, signal.SIGTERM)
    survivors = _wait_gone(identities, time.monotonic() + grace_seconds)
    for identity in survivors:
        _signal(identity, signal.SIGKILL)
    return _wait_gone(survivors, time.monotonic() + 5.0)


# A Go program that dies prints the reason first and then every goroutine's stack, so for a crash the
# lines worth showing are around the first of these, not at the end of the log.
_GO_CRASH = re.compile(r"^(panic: |fatal error: |F\d{4} )")


def log_tail(log_path: Path | None, lines: int = 25) -> str:
    """The lines of a log that explain a failure: the crash message of a Go program, else the end."""
    if log_path is None:
        return ""
    try:
        with open(log_path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 1024 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    all_lines = text.splitlines()
    for index, line in enumerate(all_lines):
        if _GO_CRASH.match(line):
            start = max(0, index - 3)
            return "\n".join(all_lines[start : start + lines])
    return "\n".join(all_lines[-lines:])
