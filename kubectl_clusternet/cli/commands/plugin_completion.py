"""The hidden ``__complete`` command, in a module of its own because the lazy loader in ``cli/main.py`` takes
exactly one ``COMMAND`` from each module; it lives beside ``completion`` in ``completion.py``."""

from __future__ import annotations

from .completion import PLUGIN_COMMAND

__all__ = ["COMMAND"]

COMMAND = PLUGIN_COMMAND
