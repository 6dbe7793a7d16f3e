"""Shell completion: one candidate engine behind kubectl's plugin protocol and click's native shell scripts.

Why one engine: ``kubectl clusternet get mc<TAB>`` (kubectl >= 1.26 runs ``kubectl_complete-clusternet``, which
calls our hidden ``__complete`` command) and ``kubectl-clusternet get mc<TAB>`` (click's bash/zsh/fish scripts,
routed to the same hidden command) must offer the same things. Both land in :func:`complete`.

Why the engine walks the words itself instead of letting click resolve them: kubectl's global flags
(``--kubeconfig``, ``-n``, ``--cluster-id``, …) are taken out of the command line before click parses it
(see ``globalflags``), so click alone would reject them or lose track of which word is being completed.

Dynamic candidates (object names, namespaces, cluster IDs) are asked of the parent with a one-second timeout:
an unreachable parent gives no candidates, never an error or a hang. Everything heavy (kubeconfig parsing, the
REST client) is imported only when such a candidate is wanted, so static completion stays fast.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import click
from click.shell_completion import (
    BashComplete,
    CompletionItem,
    FishComplete,
    ShellComplete,
    ZshComplete,
    split_arg_string,
)

from ..core.errors import UsageError
from .globalflags import GLOBAL_FLAGS as GLOBAL_FLAG_TABLE
from .globalflags import GlobalFlags, split_global_flags

if TYPE_CHECKING:
    from ..core.apis import ResourceType
    from .context import AppContext

__all__ = [
    "COMPLETE_VAR",
    "DIRECT_COMMAND",
    "LOOKUP_DEADLINE_SECONDS",
    "LOOKUP_TIMEOUT",
    "PLUGIN_COMPLETE_COMMAND",
    "SHELLS",
    "Candidate",
    "Completions",
    "Lookup",
    "NoLookup",
    "ParentLookup",
    "complete",
    "kubectl_protocol_output",
    "native_response",
    "native_script",
]

DIRECT_COMMAND = "kubectl-clusternet"
"""The executable the native scripts complete. Never ``kubectl``: a script for ``kubectl clusternet`` would
replace kubectl's own completion."""

COMPLETE_VAR = "_KUBECTL_CLUSTERNET_COMPLETE"
"""click's variable for the direct command, spelled out: click would derive one with a space from the
``kubectl clusternet`` program name."""

PLUGIN_COMPLETE_COMMAND = "__complete"
"""The hidden command both protocols call (kubectl's own completion command has the same name)."""

LOOKUP_TIMEOUT = "1s"
"""Request timeout for dynamic candidates: long enough for a parent on a LAN, short enough for a TAB press."""
LOOKUP_DEADLINE_SECONDS = 2.0
"""Bound on one whole lookup (kubeconfig, exec plugin, DNS, connect, read): past it, no candidates."""

SHELLS = ("bash", "zsh", "fish")

DIRECTIVE_DEFAULT = 0  # cobra's ShellCompDirectiveDefault: the shell may fall back to file names
DIRECTIVE_NO_FILE_COMP = 4  # cobra's ShellCompDirectiveNoFileComp

# Commands whose positional arguments are TYPE[,TYPE…] [NAME…] or TYPE/NAME, as in kubectl.
_RESOURCE_COMMANDS = frozenset({"get", "describe", "delete"})
# Bootstrap tokens are listed and deleted like a resource type by these commands (see get/delete).
_BOOTSTRAP_TOKEN_COMMANDS = frozenset({"get", "delete"})
_CATEGORY = "clusternet"
# Output formats worth offering after `get -o` (the option is free text because of jsonpath=… forms).
_GET_OUTPUT_FORMATS = ("json", "yaml", "name", "wide")
_PATH_LIKE_WORDS = ("file", "dir", "kubeconfig", "certificate", "key")
_METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"


@dataclass(frozen=True)
class Candidate:
    """One completion: the word to insert and an optional one-line description."""

    value: str
    description: str = ""


@dataclass(frozen=True)
class Completions:
    """What to offer; ``files`` lets the shell fall back to file names (flags like ``-f`` or ``--kubeconfig``)."""

    candidates: tuple[Candidate, ...] = ()
    files: bool = False

    @property
    def directive(self) -> int:
        return DIRECTIVE_DEFAULT if self.files else DIRECTIVE_NO_FILE_COMP

    def values(self) -> list[str]:
        return [candidate.value for candidate in self.candidates]


class Lookup(Protocol):
    """Where dynamic candidates come from; every method returns an empty list when it cannot answer."""

    def names(self, resource_type: ResourceType) -> list[str]: ...

    def namespaces(self) -> list[str]: ...

    def cluster_ids(self) -> list[tuple[str, str]]: ...

    def kubeconfig_names(self, section: str) -> list[str]: ...


class NoLookup:
    """A lookup that knows nothing: for callers that want static candidates only."""

    def names(self, resource_type: ResourceType) -> list[str]:
        return []

    def namespaces(self) -> list[str]:
        return []

    def cluster_ids(self) -> list[tuple[str, str]]:
        return []

    def kubeconfig_names(self, section: str) -> list[str]:
        return []


LookupFactory = Callable[[GlobalFlags], Lookup]
T = TypeVar("T")


def _within_deadline(work: Callable[[], T], seconds: float) -> T | None:
    """``work()``'s result, or None when it fails or is still busy after ``seconds``.

    Socket timeouts bound each read and connect, but not a slow DNS lookup or a hung kubeconfig exec
    plugin; the work runs in a daemon thread that is simply left behind (the process ends right after)."""
    results: list[T] = []

    def run() -> None:
        try:
            results.append(work())
        except Exception:  # noqa: BLE001 - no candidates, never an error (see ParentLookup)
            pass

    thread = threading.Thread(target=run, name="completion-lookup", daemon=True)
    thread.start()
    thread.join(seconds)
    return results[0] if results else None


class ParentLookup:
    """Asks the parent the typed flags point at, with a short timeout, and swallows every failure.

    A completion must never print an error or hang a shell, so any problem (no kubeconfig, refused
    connection, timeout, forbidden, CRDs not installed) simply means "no candidates"."""

    def __init__(self, flags: GlobalFlags, environ: Mapping[str, str]) -> None:
        self._flags = flags
        self._environ = environ
        self._app: AppContext | None = None

    def _context(self) -> AppContext:
        if self._app is None:
            import io

            from .context import AppContext
            from .env import Environment

            quiet = Environment(
                stdout=io.StringIO(), stderr=io.StringIO(), stdin=io.StringIO(), environ=self._environ
            )
            flags = dataclasses.replace(self._flags, request_timeout=LOOKUP_TIMEOUT)
            self._app = AppContext(env=quiet, flags=flags)
        return self._app

    def _items(self, path_for: Callable[[AppContext], str], *, metadata_only: bool) -> list[dict[str, Any]]:
        """The items of one list request (kubeconfig resolution included), within the deadline."""

        def fetch() -> Any:
            app = self._context()
            accept = _METADATA_LIST_ACCEPT if metadata_only else "application/json"
            return app.client.get(path_for(app), accept=accept)

        listing = _within_deadline(fetch, LOOKUP_DEADLINE_SECONDS)
        items = listing.get("items") if isinstance(listing, dict) else None
        return [item for item in items or [] if isinstance(item, dict)]

    @staticmethod
    def _name(item: Mapping[str, Any]) -> str:
        return str((item.get("metadata") or {}).get("name") or "")

    def names(self, resource_type: ResourceType) -> list[str]:
        def collection(app: AppContext) -> str:
            return resource_type.collection_path(app.namespace if resource_type.namespaced else None)

        items = self._items(collection, metadata_only=True)
        return sorted({name for name in map(self._name, items) if name})

    def namespaces(self) -> list[str]:
        items = self._items(lambda app: "/api/v1/namespaces", metadata_only=True)
        return sorted({name for name in map(self._name, items) if name})

    def cluster_ids(self) -> list[tuple[str, str]]:
        from ..core.apis.clusters import MANAGED_CLUSTER

        found: dict[str, str] = {}
        for item in self._items(lambda app: MANAGED_CLUSTER.collection_path(None), metadata_only=False):
            cluster_id = str((item.get("spec") or {}).get("clusterId") or "")
            if cluster_id:
                found.setdefault(cluster_id, self._name(item))
        return sorted(found.items(), key=lambda pair: (pair[1], pair[0]))

    def kubeconfig_names(self, section: str) -> list[str]:
        try:
            from ..core.kube.kubeconfig import kubeconfig_paths, load_merged

            merged = load_merged(kubeconfig_paths(self._flags.kubeconfig, self._environ))
        except Exception:  # noqa: BLE001 - an unreadable kubeconfig: no candidates
            return []
        return sorted({str(entry.get("name")) for entry in merged.get(section) or [] if entry.get("name")})

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


# -- the walk over the typed words ----------------------------------------------------------------------


@dataclass(frozen=True)
class _GlobalFlag:
    """A kubectl global flag as the completion needs it (a view of ``globalflags``' table)."""

    names: tuple[str, ...]
    attribute: str
    help: str
    takes_value: bool


_GLOBAL_FLAGS: tuple[_GlobalFlag, ...] = tuple(
    _GlobalFlag(flag.names, flag.attribute, flag.help, flag.takes_value) for flag in GLOBAL_FLAG_TABLE
)
_GLOBAL_BY_NAME = {name: flag for flag in _GLOBAL_FLAGS for name in flag.names}


@dataclass
class _Position:
    """Where the cursor is: the deepest command reached and what was typed for it."""

    context: click.Context
    path: list[str]
    positionals: list[str] = dataclasses.field(default_factory=list)
    flag_words: list[str] = dataclasses.field(default_factory=list)  # global flags with their values
    pending: _GlobalFlag | click.Option | None = None  # the flag whose value comes next
    pending_word: str = ""
    stopped: bool = False  # an unknown subcommand: nothing sensible to offer


def _new_context(command: click.Command, name: str, parent: click.Context | None) -> click.Context:
    return click.Context(
        command, info_name=name, parent=parent, resilient_parsing=True, **command.context_settings
    )


def _takes_value(option: click.Option) -> bool:
    return not option.is_flag and not option.count


def _command_options(context: click.Context) -> dict[str, click.Option]:
    options: dict[str, click.Option] = {}
    for param in context.command.get_params(context):
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                options[name] = param
    return options


def _split_flag_word(word: str, short_names: Container[str] = ()) -> tuple[str, str | None]:
    """``--name=value`` and ``-nvalue`` forms, as kubectl (pflag) accepts them."""
    if word.startswith("--") and "=" in word:
        name, value = word.split("=", 1)
        return name, value
    if not word.startswith("--") and len(word) > 2 and word[:2] in short_names:
        return word[:2], word[2:].removeprefix("=")
    return word, None


def _walk(root: click.Command, words: Sequence[str]) -> _Position:
    position = _Position(context=_new_context(root, "kubectl clusternet", None), path=[])
    options = _command_options(position.context)
    only_positionals = False
    for word in words:
        if position.pending is not None:
            if isinstance(position.pending, _GlobalFlag):
                position.flag_words += [position.pending_word, word]
            position.pending = None
            continue
        if not only_positionals and word == "--":
            only_positionals = True
            continue
        if not only_positionals and word.startswith("-") and len(word) > 1:
            name, inline = _split_flag_word(word, _GLOBAL_BY_NAME.keys() | options.keys())
            global_flag = _GLOBAL_BY_NAME.get(name)
            if global_flag is not None and global_flag.takes_value and inline is None:
                position.pending, position.pending_word = global_flag, word
            elif global_flag is not None:
                position.flag_words.append(word)
            elif (option := options.get(name)) is not None and _takes_value(option) and inline is None:
                position.pending, position.pending_word = option, word
            continue
        command = position.context.command
        if isinstance(command, click.Group) and not position.positionals:
            sub = command.get_command(position.context, word)
            if sub is None or sub.hidden:
                position.stopped = True
                return position
            position.context = _new_context(sub, word, position.context)
            position.path.append(word)
            options = _command_options(position.context)
            continue
        position.positionals.append(word)
    return position


def _typed_flags(base: GlobalFlags, flag_words: Sequence[str]) -> GlobalFlags:
    """The global flags in effect: those typed on the line win over those the caller already parsed."""
    try:
        typed, _ = split_global_flags(flag_words)
    except UsageError:  # a malformed value (``-v x``): complete with what we have
        return base
    defaults = GlobalFlags()
    changes = {
        field.name: getattr(typed, field.name)
        for field in dataclasses.fields(GlobalFlags)
        if getattr(typed, field.name) != getattr(defaults, field.name)
    }
    return dataclasses.replace(base, **changes)


# -- candidates -----------------------------------------------------------------------------------------


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split("\n", 1)[0].split())


def _matching(
    candidates: Iterable[Candidate], incomplete: str, *, fold_case: bool = False
) -> list[Candidate]:
    prefix = incomplete.lower() if fold_case else incomplete
    seen: set[str] = set()
    chosen: list[Candidate] = []
    for candidate in candidates:
        value = candidate.value.lower() if fold_case else candidate.value
        if value.startswith(prefix) and candidate.value not in seen:
            seen.add(candidate.value)
            chosen.append(candidate)
    return chosen


def _flag_candidates(context: click.Context) -> list[Candidate]:
    found: list[Candidate] = []
    for param in context.command.get_params(context):
        if isinstance(param, click.Option) and not param.hidden:
            for name in (*param.opts, *param.secondary_opts):
                found.append(Candidate(name, _one_line(param.help)))
    for flag in _GLOBAL_FLAGS:
        for name in flag.names:
            found.append(Candidate(name, _one_line(flag.help)))
    return found


def _subcommand_candidates(context: click.Context, incomplete: str) -> list[Candidate]:
    """Matching subcommands; only those are loaded (each lazy command module costs import time)."""
    group = context.command
    assert isinstance(group, click.Group)
    found: list[Candidate] = []
    for name in group.list_commands(context):
        if not name.startswith(incomplete):
            continue
        command = group.get_command(context, name)
        if command is not None and not command.hidden:
            found.append(Candidate(name, _one_line(command.get_short_help_str(limit=80))))
    return found


def _kind_candidates(command_name: str) -> list[Candidate]:
    from ..core.apis import CLUSTERNET_TYPES
    from ..core.apis.builtin import BUILTIN_TYPES

    found: list[Candidate] = []
    for resource_type in CLUSTERNET_TYPES:
        for word in (resource_type.plural, *resource_type.short_names):
            found.append(Candidate(word, resource_type.kind))
    found.append(Candidate(_CATEGORY, "every Clusternet kind"))
    for resource_type in BUILTIN_TYPES:
        for word in (resource_type.plural, *resource_type.short_names):
            found.append(Candidate(word, f"{resource_type.kind} (stored as a feed)"))
    if command_name in _BOOTSTRAP_TOKEN_COMMANDS:
        found.append(Candidate("bootstrap-tokens", "bootstrap tokens in kube-system"))
    return found


def _clusternet_type(word: str) -> ResourceType | None:
    """The one Clusternet kind ``word`` names; categories, lists and native kinds have no names to offer."""
    from ..core.apis import find_type, types_in_category

    if "," in word or types_in_category(word.lower()):
        return None
    return find_type(word)


def _resource_completions(
    command_name: str, positionals: Sequence[str], incomplete: str, lookup: Callable[[], Lookup]
) -> Completions:
    """kubectl's forms: ``TYPE[,TYPE…] [NAME…]`` and ``TYPE/NAME […]``."""
    pair_form = bool(positionals) and "/" in positionals[0]
    if not positionals or pair_form:
        if "/" in incomplete:
            word, _, partial = incomplete.partition("/")
            resource_type = _clusternet_type(word)
            if resource_type is None:
                return Completions()
            names = [Candidate(f"{word}/{name}") for name in lookup().names(resource_type)]
            typed = set(positionals)
            return Completions(
                tuple(c for c in _matching(names, f"{word}/{partial}") if c.value not in typed)
            )
        head, comma, partial = incomplete.rpartition(",")
        prefix = head + comma
        kinds = [Candidate(prefix + c.value, c.description) for c in _kind_candidates(command_name)]
        if comma:  # bootstrap tokens are a special listing, not a kind that can join a list
            kinds = [c for c in kinds if not c.value.endswith(",bootstrap-tokens")]
        return Completions(tuple(_matching(kinds, prefix + partial, fold_case=True)))
    resource_type = _clusternet_type(positionals[0])
    if resource_type is None:
        return Completions()
    already = set(positionals[1:])
    names = [Candidate(name) for name in lookup().names(resource_type) if name not in already]
    return Completions(tuple(_matching(names, incomplete)))


def _is_path_like(option: click.Option) -> bool:
    if isinstance(option.type, (click.Path, click.File)):
        return True
    return any(word in name for name in option.opts for word in _PATH_LIKE_WORDS)


def _global_value_completions(
    flag: _GlobalFlag, incomplete: str, lookup: Callable[[], Lookup]
) -> Completions:
    attribute = flag.attribute
    if attribute == "namespace":
        return Completions(tuple(_matching(map(Candidate, lookup().namespaces()), incomplete)))
    if attribute == "cluster_id":
        ids = [Candidate(cluster_id, name) for cluster_id, name in lookup().cluster_ids()]
        return Completions(tuple(_matching(ids, incomplete)))
    if attribute in ("context", "cluster", "user"):
        section = {"context": "contexts", "cluster": "clusters", "user": "users"}[attribute]
        return Completions(tuple(_matching(map(Candidate, lookup().kubeconfig_names(section)), incomplete)))
    if any(word in attribute for word in _PATH_LIKE_WORDS) or attribute == "cache_dir":
        return Completions(files=True)
    return Completions()


def _option_value_completions(
    option: click.Option, context: click.Context, path: Sequence[str], incomplete: str
) -> Completions:
    if _is_path_like(option):
        return Completions(files=True)
    if path == ["get"] and "--output" in option.opts and not isinstance(option.type, click.Choice):
        return Completions(tuple(_matching(map(Candidate, _GET_OUTPUT_FORMATS), incomplete)))
    return _from_click(option, context, incomplete)


def _from_click(param: click.Parameter, context: click.Context, incomplete: str) -> Completions:
    """What click itself knows about a parameter's values (choices, paths, custom completions)."""
    items = param.shell_complete(context, incomplete)
    if any(item.type in ("file", "dir") for item in items):
        return Completions(files=True)
    return Completions(tuple(Candidate(str(item.value), _one_line(item.help)) for item in items))


def _argument_completions(position: _Position, incomplete: str) -> Completions:
    """The value of the positional argument the cursor is on (``completion <TAB>`` offers the shells)."""
    index = len(position.positionals)
    for param in position.context.command.get_params(position.context):
        if not isinstance(param, click.Argument):
            continue
        if param.nargs < 0 or index < param.nargs:
            return _from_click(param, position.context, incomplete)
        index -= param.nargs
    return Completions()


def _value_completions(
    pending: _GlobalFlag | click.Option, position: _Position, incomplete: str, lookup: Callable[[], Lookup]
) -> Completions:
    if isinstance(pending, _GlobalFlag):
        return _global_value_completions(pending, incomplete, lookup)
    return _option_value_completions(pending, position.context, position.path, incomplete)


def complete(
    root: click.Command,
    words: Sequence[str],
    incomplete: str,
    *,
    lookup_factory: LookupFactory = lambda flags: NoLookup(),
    base_flags: GlobalFlags | None = None,
) -> Completions:
    """Candidates for ``incomplete`` after the complete ``words`` typed after ``kubectl clusternet``.

    ``lookup_factory`` is called (at most once, and only when a dynamic candidate is wanted) with the global
    flags in effect, so ``--kubeconfig``/``--context``/``-n`` typed on the line choose the parent asked.
    """
    position = _walk(root, words)
    if position.stopped:
        return Completions()
    cached: list[Lookup] = []

    def lookup() -> Lookup:
        if not cached:
            cached.append(lookup_factory(_typed_flags(base_flags or GlobalFlags(), position.flag_words)))
        return cached[0]

    if position.pending is not None:
        return _value_completions(position.pending, position, incomplete, lookup)
    if incomplete.startswith("-"):
        name, inline = _split_flag_word(incomplete)
        if inline is not None:
            options = _command_options(position.context)
            pending: _GlobalFlag | click.Option | None = _GLOBAL_BY_NAME.get(name) or options.get(name)
            if pending is None or (isinstance(pending, click.Option) and not _takes_value(pending)):
                return Completions()
            values = _value_completions(pending, position, inline, lookup)
            prefixed = tuple(Candidate(f"{name}={c.value}", c.description) for c in values.candidates)
            return Completions(prefixed, files=values.files)
        return Completions(tuple(_matching(_flag_candidates(position.context), incomplete)))
    command = position.context.command
    if isinstance(command, click.Group) and not position.positionals:
        return Completions(tuple(_subcommand_candidates(position.context, incomplete)))
    if len(position.path) == 1 and position.path[0] in _RESOURCE_COMMANDS:
        return _resource_completions(position.path[0], position.positionals, incomplete, lookup)
    return _argument_completions(position, incomplete)


# -- the two protocols ------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return " ".join(text.split())


def kubectl_protocol_output(completions: Completions) -> str:
    """kubectl's plugin completion format: ``value[\\tdescription]`` per line, then ``:<directive>``."""
    lines = [
        f"{c.value}\t{_clean(c.description)}" if c.description else c.value for c in completions.candidates
    ]
    lines.append(f":{completions.directive}")
    return "\n".join(lines) + "\n"


class _RoutedShellComplete(ShellComplete):
    """click's native protocol, answered by :func:`complete` through the hidden ``__complete`` command.

    The scripts are click's own, for the command ``kubectl-clusternet``, with one change: the callback runs
    ``kubectl-clusternet __complete`` instead of the bare command. The bare command would reach click with
    the program name ``kubectl clusternet``, whose completion variable never matches."""

    # The exact text of click's script that starts the callback, and what it becomes.
    invocation: ClassVar[tuple[str, str]]

    def __init__(
        self, root: click.Command, environ: Mapping[str, str], lookup_factory: LookupFactory
    ) -> None:
        super().__init__(root, {}, DIRECT_COMMAND, COMPLETE_VAR)
        self.environ = environ
        self.lookup_factory = lookup_factory

    def source(self) -> str:
        script = super().source()
        original, routed = self.invocation
        original, routed = original % self.source_vars(), routed % self.source_vars()
        if script.count(original) != 1:
            raise click.ClickException(
                f"this version of click writes an unexpected {self.name} script; cannot route its callback"
            )
        return script.replace(original, routed)

    def _words_and_cursor(self) -> tuple[list[str], int]:
        words = split_arg_string(self.environ.get("COMP_WORDS", ""))
        try:
            cursor = int(self.environ.get("COMP_CWORD", ""))
        except ValueError:
            cursor = len(words)
        return words, cursor

    def get_completion_args(self) -> tuple[list[str], str]:
        words, cursor = self._words_and_cursor()
        incomplete = words[cursor] if cursor < len(words) else ""
        return words[1:cursor], incomplete

    def get_completions(self, args: list[str], incomplete: str) -> list[CompletionItem[str]]:
        completions = complete(self.cli, args, incomplete, lookup_factory=self.lookup_factory)
        items = [CompletionItem(c.value, help=c.description or None) for c in completions.candidates]
        if completions.files and not items:
            items.append(CompletionItem(incomplete, type="file"))
        return items


class _Bash(_RoutedShellComplete, BashComplete):
    invocation = (
        "%(complete_var)s=bash_complete $1)",
        f"%(complete_var)s=bash_complete $1 {PLUGIN_COMPLETE_COMMAND})",
    )


class _Zsh(_RoutedShellComplete, ZshComplete):
    invocation = (
        "%(complete_var)s=zsh_complete %(prog_name)s)",
        f"%(complete_var)s=zsh_complete %(prog_name)s {PLUGIN_COMPLETE_COMMAND})",
    )


class _Fish(_RoutedShellComplete, FishComplete):
    invocation = (
        "COMP_CWORD=(commandline -t) %(prog_name)s)",
        f"COMP_CWORD=(commandline -t) %(prog_name)s {PLUGIN_COMPLETE_COMMAND})",
    )

    def get_completion_args(self) -> tuple[list[str], str]:
        # fish sends the whole line so far in COMP_WORDS and the partial word alone in COMP_CWORD.
        words = split_arg_string(self.environ.get("COMP_WORDS", ""))
        partial = self.environ.get("COMP_CWORD", "")
        incomplete = split_arg_string(partial)[0] if partial.strip() else ""
        args = words[1:]
        if incomplete and args and args[-1] == incomplete:
            args.pop()
        return args, incomplete


_SHELL_CLASSES: dict[str, type[_RoutedShellComplete]] = {"bash": _Bash, "zsh": _Zsh, "fish": _Fish}


def _shell_complete(
    root: click.Command, shell: str, environ: Mapping[str, str], lookup_factory: LookupFactory
) -> _RoutedShellComplete:
    return _SHELL_CLASSES[shell](root, environ, lookup_factory)


def native_script(root: click.Command, shell: str) -> str:
    """click's completion script for ``kubectl-clusternet`` in ``shell`` (bash, zsh or fish)."""
    return _shell_complete(root, shell, {}, lambda flags: NoLookup()).source()


def native_response(
    root: click.Command, instruction: str, environ: Mapping[str, str], lookup_factory: LookupFactory
) -> str | None:
    """The answer to a native script's callback (``bash_complete`` …), or None for an unknown instruction."""
    shell, _, action = instruction.partition("_")
    if shell not in _SHELL_CLASSES or action not in ("complete", "source"):
        return None
    completer = _shell_complete(root, shell, environ, lookup_factory)
    return completer.source() if action == "source" else completer.complete() + "\n"
