"""Run the real CLI in-process with captured streams, like a user at a terminal would see it."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from kubectl_clusternet.cli.env import Environment
from kubectl_clusternet.cli.main import main


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(
    *args: str, environ: Mapping[str, str] | None = None, now: datetime | None = None, stdin: str = ""
) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdout=out,
        stderr=err,
        stdin=io.StringIO(stdin),
        environ=dict(os.environ if environ is None else environ),
    )
    if now is not None:
        env.now = lambda: now
    code = main(list(args), env)
    return CliResult(code, out.getvalue(), err.getvalue())
