"""``agent-lite``: the Clusternet agent for one child cluster.

Exit codes: 0 after a graceful stop (SIGTERM or SIGINT), 1 for a configuration error (printed as one
``error: ...`` line on stderr, before anything was changed anywhere).
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


async def _serve(options: AgentOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    await Agent(options).run(stop)


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
