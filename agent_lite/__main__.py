"""``agent-lite``: the Clusternet agent for one child cluster.

Exit codes: 0 after a graceful stop (SIGTERM or SIGINT), 1 for a configuration error (printed as one
``error: ...`` line on stderr, before anything was changed anywhere).

A graceful stop takes the replica out of rotation (/readyz 503), cancels the work in progress and hands
it back (whoever leads next re-applies every Description and reports again: the work is level-triggered),
closes the tunnel with a websocket close frame and releases the Lease so a standby replica takes over at
once. If that has not finished within ``_STOP_DEADLINE`` seconds the process exits anyway.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from kubectl_clusternet import __version__
from kubectl_clusternet.core.daemonlog import configure_logging
from kubectl_clusternet.core.errors import ClusternetError

from .agent import Agent
from .options import AgentOptions, parse_options

__all__ = ["main"]

_log = logging.getLogger("agent_lite")

# Within Kubernetes' default 30s termination grace period.
_STOP_DEADLINE = 20.0


async def _serve(options: AgentOptions, deadline: float = _STOP_DEADLINE) -> None:
    stop = asyncio.Event()
    agent = Agent(options)
    loop = asyncio.get_running_loop()

    def on_signal(signal_number: signal.Signals) -> None:
        if not stop.is_set():
            _log.info("stopping: %s received", signal_number.name)
        agent.state.stopping = True
        stop.set()

    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, on_signal, signal_number)
    running = asyncio.ensure_future(agent.run(stop))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            done, _ = await asyncio.wait({running}, timeout=deadline)
            if not done:
                _log.error("stopping: still not stopped after %.0fs; exiting anyway", deadline)
                running.cancel()
                return
        running.result()  # a configuration error reaches main()
    finally:
        stopping.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse_options(sys.argv[1:] if argv is None else argv, os.environ)
    except ClusternetError as exc:
        print(exc.display(), file=sys.stderr)
        return 1
    configure_logging(options.log_format, options.log_level)
    for warning in options.warnings:
        _log.warning("%s", warning)
    _log.info("agent-lite v%s starting", __version__)
    try:
        asyncio.run(_serve(options))
    except ClusternetError as exc:
        print(exc.display(), file=sys.stderr)
        return 1
    _log.info("agent-lite stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
