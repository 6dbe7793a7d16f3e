"""``kubectl clusternet completion SHELL`` and the hidden ``__complete`` command both protocols call.

Two ways to complete, one answer (see ``cli/completion.py``):

- ``kubectl clusternet <TAB>``: kubectl >= 1.26 runs ``kubectl_complete-clusternet`` from PATH with the words
  typed after the plugin name; that two-line shim runs ``kubectl-clusternet __complete -- WORDS…``.
- ``kubectl-clusternet <TAB>``: the script printed by ``completion bash|zsh|fish`` asks
  ``kubectl-clusternet __complete`` with click's variables (``_KUBECTL_CLUSTERNET_COMPLETE``, ``COMP_WORDS``).
"""

from __future__ import annotations

import click

from ..completion import (
    COMPLETE_VAR,
    PLUGIN_COMPLETE_COMMAND,
    SHELLS,
    Lookup,
    ParentLookup,
    complete,
    kubectl_protocol_output,
    native_response,
    native_script,
)
from ..context import AppContext
from ..globalflags import GlobalFlags

__all__ = ["COMMAND", "PLUGIN_COMMAND"]

_SHIM = 'exec kubectl-clusternet __complete -- "$@"'


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_obj
def completion_command(app: AppContext, shell: str) -> None:
    """Print a shell completion script for the kubectl-clusternet command (bash, zsh or fish).

    The script completes the direct command ``kubectl-clusternet`` only; it never replaces kubectl's own
    completion.

    \b
    Load it in the current shell:
      bash:  source <(kubectl-clusternet completion bash)
      zsh:   source <(kubectl-clusternet completion zsh)
      fish:  kubectl-clusternet completion fish | source

    \b
    For "kubectl clusternet <TAB>" (kubectl 1.26 or newer), put this executable file on PATH
    as kubectl_complete-clusternet (krew cannot install it; ~/.krew/bin is a good place):
      #!/bin/sh
      exec kubectl-clusternet __complete -- "$@"
    """
    root = click.get_current_context().find_root().command
    app.env.stdout.write(native_script(root, shell))


@click.command(
    PLUGIN_COMPLETE_COMMAND,
    hidden=True,
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("words", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def plugin_complete_command(app: AppContext, words: tuple[str, ...]) -> None:
    """Print completion candidates for the words typed after ``kubectl clusternet`` (the last one is partial).

    Put ``--`` first so the words reach this command untouched: otherwise kubectl's global flags are taken
    out of the line before it runs, and ``get -n <TAB>`` could not tell that a namespace is wanted.
    """
    root = click.get_current_context().find_root().command
    environ = app.env.environ
    lookups: list[ParentLookup] = []

    def lookup_factory(flags: GlobalFlags) -> Lookup:
        lookup = ParentLookup(flags, environ)
        lookups.append(lookup)
        return lookup

    try:
        instruction = environ.get(COMPLETE_VAR)
        if instruction:
            answer = native_response(root, instruction, environ, lookup_factory)
            if answer is not None:
                app.env.stdout.write(answer)
            return
        typed = list(words) or [""]
        completions = complete(
            root, typed[:-1], typed[-1], lookup_factory=lookup_factory, base_flags=app.flags
        )
        app.env.stdout.write(kubectl_protocol_output(completions))
    finally:
        for lookup in lookups:
            lookup.close()


COMMAND = completion_command
PLUGIN_COMMAND = plugin_complete_command
