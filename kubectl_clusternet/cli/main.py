"""Entry point of ``kubectl clusternet``: global flags, the command tree, and one place that turns every
failure into kubectl's ``error: …`` line and exit code."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

import click

from ..core.errors import ClusternetError
from .context import AppContext
from .env import Environment
from .globalflags import OPTIONS_HELP, split_global_flags, wants_child_mode

__all__ = ["main", "cli", "PROG_NAME"]

PROG_NAME = "kubectl clusternet"
EXIT_INTERRUPTED = 130

_EPILOG = (
    'Use "kubectl clusternet options" for a list of global command-line options (applies to all commands).'
)


# Command name -> module under kubectl_clusternet.cli.commands. Modules load only when their command runs, so
# `version --client`, `--help` and completion stay fast.
_LAZY_COMMANDS = {
    "apply": "apply",
    "get": "get",
    "describe": "describe",
    "delete": "delete",
    "hub": "hub",
    "join": "join",
    "proxy-url": "proxyurl",
    "local": "local",
    "api-resources": "apiresources",
    "version": "version",
    "create": "tokens",
    "completion": "completion",
    "__complete": "plugin_completion",
}


class _Group(click.Group):
    """Loads subcommands lazily and lists them in kubectl's order, not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*_LAZY_COMMANDS, *(name for name in self.commands if name not in _LAZY_COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY_COMMANDS and cmd_name not in self.commands:
            import importlib

            module = importlib.import_module(f"{__package__}.commands.{_LAZY_COMMANDS[cmd_name]}")
            self.add_command(module.COMMAND, cmd_name)
        return self.commands.get(cmd_name)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog=_EPILOG,
)
def cli() -> None:
    """kubectl clusternet manages many Kubernetes clusters from one parent cluster, compatible with Clusternet.

    Register child clusters behind NAT with bootstrap tokens, see the fleet, reach any child through the parent,
    and deploy once to many clusters with Subscriptions and per-cluster overrides.
    """


@cli.command("options")
def options_command() -> None:
    """Print the list of flags inherited by all commands."""
    click.get_current_context().find_object(AppContext).env.out(OPTIONS_HELP)  # type: ignore[union-attr]


def _usage_hint(error: click.UsageError) -> str:
    ctx = error.ctx
    path = ctx.command_path if ctx is not None else PROG_NAME
    return f"See '{path} --help' for usage."


def _kubectl_wording(error: click.UsageError) -> str:
    """click's phrasing of the common usage errors, reworded as kubectl (cobra) prints them."""
    if isinstance(error, click.NoSuchOption):
        return f"unknown flag: {error.option_name}"
    match = re.fullmatch(r"No such command '(.+)'\.", error.format_message())
    if match:
        path = error.ctx.command_path if error.ctx is not None else PROG_NAME
        return f'unknown command "{match.group(1)}" for "{path}"'
    return error.format_message()


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 error, 130 interrupted)."""
    env = env or Environment()
    args = list(sys.argv[1:] if argv is None else argv)
    verbosity = 0
    app: AppContext | None = None
    try:
        flags, rest = split_global_flags(args)
        verbosity = flags.verbosity
        # `join --child-kubeconfig` installs the agent into that child: our own command, not child mode.
        if wants_child_mode(flags) and rest[:1] not in (["__complete"], ["join"]):
            from .childmode import run_child_mode

            return run_child_mode(flags, rest, env)
        app = AppContext(env=env, flags=flags)
        result = cli.main(args=rest, prog_name=PROG_NAME, standalone_mode=False, obj=app)
        if isinstance(result, int) and result:
            return result
        return app.exit_code
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        env.err("")
        return EXIT_INTERRUPTED
    except click.UsageError as error:
        env.err(f"error: {_kubectl_wording(error)}")
        env.err(_usage_hint(error))
        return 1
    except click.ClickException as error:
        env.err(f"error: {error.format_message()}")
        return 1
    except ClusternetError as error:
        if verbosity >= 6:
            import traceback  # noqa: PLC0415 - only at -v=6 and above

            traceback.print_exc(file=env.stderr)
        env.err(error.display())
        return error.exit_code
    except BrokenPipeError:
        return 1
    except Exception as error:  # the last line of defence: never a bare traceback for a user
        if verbosity >= 6:
            import traceback  # noqa: PLC0415 - only at -v=6 and above

            traceback.print_exc(file=env.stderr)
        env.err(f"error: {error}")
        return 1
    finally:
        if app is not None:
            app.close()


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
