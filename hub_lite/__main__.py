"""``hub-lite``: the hub side of Clusternet as one asyncio process (``python -m hub_lite --help``)."""

from __future__ import annotations

import asyncio
import logging
import sys

from kubectl_clusternet.core.daemonlog import configure_logging
from kubectl_clusternet.core.errors import ClusternetError

from .options import parse_options

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    options = parse_options(sys.argv[1:] if argv is None else argv)
    configure_logging(options.log_format, options.log_level)
    from .app import run_hub

    try:
        asyncio.run(run_hub(options))
    except ClusternetError as exc:
        logging.getLogger("hub_lite").error("%s", exc.message)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
