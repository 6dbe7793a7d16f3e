"""``python -m kubectl_clusternet`` and the one-file zipapp start here."""

import sys

if sys.version_info < (3, 10):  # noqa: UP036 - this guard must run on old interpreters too
    sys.stderr.write(
        "error: kubectl-clusternet needs Python 3.10 or newer (found {}.{})\n".format(*sys.version_info[:2])
    )
    sys.exit(1)

from kubectl_clusternet.cli.main import main  # noqa: E402

sys.exit(main())
