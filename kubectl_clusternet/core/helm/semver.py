"""Semantic versions and version constraints as Helm reads them in a chart repository index.

A HelmChart's ``version`` may be exact (``1.2.3``), empty (the newest stable release) or a constraint
(``~1.2``, ``>=1.0 <2.0``, ``^2 || 3.x``). Helm resolves it with the Masterminds semver rules; users
copy versions from ``helm search`` output, so we match those rules here rather than invent our own:
loose versions (``v1.2``), pre-releases matched only by constraints that mention one, ``-`` ranges,
``,``/space for AND and ``||`` for OR.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["Version", "parse_version", "Constraint", "parse_constraint", "InvalidVersion"]


class InvalidVersion(ValueError):
    """Not a semantic version, or not a constraint over them."""


_VERSION: Final = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)(?:\.(?P<minor>0|[1-9]\d*))?(?:\.(?P<patch>0|[1-9]\d*))?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<meta>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


def _pre_key(pre: str) -> tuple[tuple[int, int, str], ...]:
    # Numeric identifiers sort before alphanumeric ones, numerically; others compare as text.
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split("."))


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: str = ""

    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        """Sort key: a release sorts after all of its pre-releases."""
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, _pre_key(self.prerelease))

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()

    def __le__(self, other: Version) -> bool:
        return self.key() <= other.key()

    def __gt__(self, other: Version) -> bool:
        return self.key() > other.key()

    def __ge__(self, other: Version) -> bool:
        return self.key() >= other.key()

    def same(self, other: Version) -> bool:
        """Equal ignoring build metadata (``==`` on the dataclass already does that)."""
        return self.key() == other.key()


def parse_version(text: str) -> Version:
    match = _VERSION.match(text.strip())
    if match is None:
        raise InvalidVersion(f"{text!r} is not a semantic version")
    return Version(
        int(match["major"]), int(match["minor"] or 0), int(match["patch"] or 0), match["pre"] or ""
    )


_WILDCARDS: Final = ("x", "X", "*")
_TERM: Final = re.compile(r"^(?P<op>!=|>=|=>|<=|=<|~>|[=<>~^])?\s*(?P<version>\S+)$")


@dataclass(frozen=True)
class _Partial:
    """A version as written in a constraint: missing or wildcard parts are ``None``."""

    major: int | None
    minor: int | None
    patch: int | None
    prerelease: str

    @property
    def floor(self) -> Version:
        return Version(self.major or 0, self.minor or 0, self.patch or 0, self.prerelease)


def _partial(text: str) -> _Partial:
    core, _, _meta = text.partition("+")
    core, dash, pre = core.partition("-")
    if core[:1] in ("v", "V"):
        core = core[1:]
    parts = core.split(".")
    if not 1 <= len(parts) <= 3 or (dash and not pre):
        raise InvalidVersion(f"{text!r} is not a version in a constraint")
    numbers: list[int | None] = []
    for part in parts:
        if part in _WILDCARDS:
            numbers.append(None)
        elif part.isdigit():
            numbers.append(int(part))
        else:
            raise InvalidVersion(f"{text!r} is not a version in a constraint")
    while len(numbers) < 3:
        numbers.append(None)
    # Anything after a wildcard is a wildcard too (1.x.3 means 1.x).
    for index in range(1, 3):
        if numbers[index - 1] is None:
            numbers[index] = None
    return _Partial(numbers[0], numbers[1], numbers[2], pre)


Check = Callable[[Version], bool]


def _upper(partial: _Partial) -> Version:
    """The first version past a wildcard range (1.x -> 2.0.0-0 exclusive bound as 2.0.0)."""
    if partial.major is None:
        return Version(1 << 62, 0, 0)
    if partial.minor is None:
        return Version(partial.major + 1, 0, 0)
    return Version(partial.major, partial.minor + 1, 0)


def _below(bound: Version) -> Check:
    # An exclusive upper bound also excludes the bound's own pre-releases (2.0.0-rc1 is not in 1.x).
    return lambda v: Version(v.major, v.minor, v.patch) < bound


def _term(op: str, partial: _Partial) -> Check:
    wildcard = partial.patch is None
    floor = partial.floor
    if op in ("", "="):
        if not wildcard:
            return lambda v: v.same(floor)
        upper = _upper(partial)
        return lambda v: v >= floor and _below(upper)(v)
    if op == "!=":
        if not wildcard:
            return lambda v: not v.same(floor)
        upper = _upper(partial)
        return lambda v: not (v >= floor and _below(upper)(v))
    if op == ">":
        if not wildcard:
            return lambda v: v > floor
        upper = _upper(partial)
        return lambda v: v >= upper
    if op in (">=", "=>"):
        return lambda v: v >= floor
    if op == "<":
        return lambda v: v < floor
    if op in ("<=", "=<"):
        if not wildcard:
            return lambda v: v <= floor
        upper = _upper(partial)
        return _below(upper)
    if op in ("~", "~>"):
        # ~1.2.3 and ~1.2: >=1.2.3 <1.3.0; ~1: >=1.0.0 <2.0.0
        if partial.minor is None:
            upper = Version((partial.major or 0) + 1, 0, 0)
        else:
            upper = Version(partial.major or 0, partial.minor + 1, 0)
        return lambda v: v >= floor and _below(upper)(v)
    if op == "^":
        # ^1.2.3: <2.0.0; ^0.2.3: <0.3.0; ^0.0.3: <0.0.4; ^0.0: <0.1.0
        major, minor, patch = partial.major or 0, partial.minor, partial.patch
        if major > 0 or minor is None:
            upper = Version(major + 1, 0, 0)
        elif minor > 0 or patch is None:
            upper = Version(0, minor + 1, 0)
        else:
            upper = Version(0, 0, patch + 1)
        return lambda v: v >= floor and _below(upper)(v)
    raise InvalidVersion(f"unknown operator {op!r}")


@dataclass(frozen=True)
class Constraint:
    """An OR of AND-groups of checks; ``allows`` applies the pre-release rule per group."""

    text: str
    groups: tuple[tuple[tuple[Check, ...], bool], ...]
    """Each group: its checks, and whether any of its terms names a pre-release."""

    def allows(self, version: Version) -> bool:
        for checks, mentions_prerelease in self.groups:
            if version.prerelease and not mentions_prerelease:
                continue
            if all(check(version) for check in checks):
                return True
        return False


_HYPHEN: Final = re.compile(r"^\s*(\S+)\s+-\s+(\S+)\s*$")


def parse_constraint(text: str) -> Constraint:
    """Parse a constraint; empty or ``*`` allows every stable version."""
    groups: list[tuple[tuple[Check, ...], bool]] = []
    for alternative in (text or "*").split("||"):
        alternative = alternative.strip() or "*"
        checks: list[Check] = []
        prerelease = False
        hyphen = _HYPHEN.match(alternative)
        if hyphen:
            low, high = _partial(hyphen[1]), _partial(hyphen[2])
            checks += [_term(">=", low), _term("<=", high)]
            prerelease = bool(low.prerelease or high.prerelease)
        else:
            # "> 1.0" and ">1.0, <2" both work: glue a lone operator to the version after it.
            tokens = re.sub(r"(!=|>=|=>|<=|=<|~>|[=<>~^])\s+", r"\1", alternative.replace(",", " ")).split()
            for token in tokens:
                match = _TERM.match(token)
                if match is None:
                    raise InvalidVersion(f"{text!r} is not a version constraint")
                partial = _partial(match["version"])
                prerelease = prerelease or bool(partial.prerelease)
                checks.append(_term(match["op"] or "", partial))
        groups.append((tuple(checks), prerelease))
    return Constraint(text, tuple(groups))
