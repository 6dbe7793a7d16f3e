"""kubectl's output formats, byte for byte: tables, ``-o wide/yaml/json/name/jsonpath/custom-columns``.

Users pipe ``kubectl`` output into scripts and diff it against what they know, so every format copies the
Go code paths kubectl uses: the table is cli-runtime's printTable laid out by tabwriter (minwidth 6,
tabwidth 4, padding 3, RememberWidths); CRD cells are computed the way the API server's CRD table
convertor computes them; YAML is sigs.k8s.io/yaml (go-yaml v2: its key order, its quoting choices, lines
folded at 80 columns); JSON is encoding/json with 4-space indent. Everything here is pure: the only I/O is
writing to the stream the caller passes, and reading a template file when the format names one.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO

import yaml

from kubectl_clusternet.cli.jsonpath import (
    JSONPathTemplate,
    as_kubectl_number,
    compile_column,
    compile_template,
    evaluate_column,
    go_float,
    go_json,
    go_quote,
    go_syntax,
    relaxed_expression,
    result_text,
)
from kubectl_clusternet.core.apis.model import PrinterColumn
from kubectl_clusternet.core.errors import ClusternetError, UsageError

__all__ = [
    "ALLOWED_FORMATS",
    "human_duration",
    "format_table",
    "table_header",
    "table_rows",
    "print_objects",
    "check_output_format",
    "to_yaml",
    "to_json",
    "WatchTablePrinter",
    "no_resources_message",
]

ALLOWED_FORMATS = (
    "custom-columns",
    "custom-columns-file",
    "json",
    "jsonpath",
    "jsonpath-as-json",
    "jsonpath-file",
    "name",
    "wide",
    "yaml",
)

# --------------------------------------------------------------------------------------------------------
# AGE
# --------------------------------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``: about two significant figures, as the AGE column shows.

    Like Go, the seconds are truncated toward zero first, so up to 1.999 s in the future still reads
    ``0s`` (clock skew between client and server) and only -2 s or less is ``<invalid>``."""
    whole_seconds = math.trunc(seconds)
    if whole_seconds < -1:
        return "<invalid>"
    if whole_seconds < 0:
        return "0s"
    if whole_seconds < 120:
        return f"{whole_seconds}s"
    minutes = whole_seconds // 60
    if minutes < 10:
        second = whole_seconds % 60
        return f"{minutes}m" if second == 0 else f"{minutes}m{second}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole_seconds // 3600
    if hours < 8:
        minute = minutes % 60
        return f"{hours}h" if minute == 0 else f"{hours}h{minute}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        hour = hours % 24
        return f"{hours // 24}d" if hour == 0 else f"{hours // 24}d{hour}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        day = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if day == 0 else f"{hours // 24 // 365}y{day}d"
    return f"{hours // 24 // 365}y"


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$",
    re.ASCII,
)
_GO_ZERO_TIME = -62135596800  # 0001-01-01T00:00:00Z in Unix seconds, Go's time.Time{}


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, for any year (Go allows year 0)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _rfc3339_seconds(text: str) -> float | None:
    """Go's ``time.Parse(time.RFC3339, text)`` as Unix seconds; None where Go returns an error."""
    match = _RFC3339.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    month_days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if (
        not 1 <= month <= 12
        or not 1 <= day <= month_days[month - 1]
        or hour > 23
        or minute > 59
        or second > 59
    ):
        return None
    offset = 0
    if match.group(8):
        offset_hours, offset_minutes = int(match.group(9)), int(match.group(10))
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset = (offset_hours * 3600 + offset_minutes * 60) * (-1 if match.group(8) == "-" else 1)
    fraction = float("0." + match.group(7)) if match.group(7) else 0.0
    days = _days_from_civil(year, month, day)
    return days * 86400 + hour * 3600 + minute * 60 + second - offset + fraction


def _age(timestamp: str, now: datetime) -> str:
    """The API server's cell for a ``date`` column (ConvertToHumanReadableDateType)."""
    if timestamp in ("", "null"):
        return "<unknown>"
    seconds = _rfc3339_seconds(timestamp)
    if seconds is None:
        return "<invalid>"
    if seconds == _GO_ZERO_TIME:
        return "<unknown>"
    return human_duration(now.timestamp() - seconds)


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------------------------------------
# tabwriter
# --------------------------------------------------------------------------------------------------------


@dataclass
class _TabWriter:
    """Go's text/tabwriter as cli-runtime configures it, including liggitt/tabwriter's RememberWidths.

    A column's width is its widest cell plus the padding, at least ``min_width``; a line's last cell
    (the text after its last tab) belongs to no column and is never padded. With ``remember_widths`` the
    widths only grow across flushes, which keeps ``kubectl get -w`` rows aligned with the header."""

    min_width: int = 6
    padding: int = 3
    remember_widths: bool = True
    _lines: list[list[str]] = field(default_factory=lambda: [[]], init=False, repr=False)
    _pending: list[str] = field(default_factory=list, init=False, repr=False)
    _widths: list[int] = field(default_factory=list, init=False, repr=False)
    _max_widths: list[int] = field(default_factory=list, init=False, repr=False)

    def write(self, text: str) -> str:
        """Buffer ``text``; returns what Go would already emit (a one-cell line forces a flush)."""
        emitted: list[str] = []
        start = 0
        for index, char in enumerate(text):
            if char not in "\t\v\n\f":
                continue
            self._pending.append(text[start:index])
            start = index + 1
            cells_in_line = self._terminate_cell()
            if char in "\n\f":
                self._lines.append([])
                if char == "\f" or cells_in_line == 1:
                    emitted.append(self.flush())
        self._pending.append(text[start:])
        return "".join(emitted)

    def flush(self) -> str:
        """Lay out and return everything buffered."""
        if "".join(self._pending):
            self._terminate_cell()
        output: list[str] = []
        self._format(output, 0, len(self._lines))
        self._lines = [[]]
        self._pending = []
        self._widths = []
        return "".join(output)

    def _terminate_cell(self) -> int:
        line = self._lines[-1]
        line.append("".join(self._pending))
        self._pending = []
        return len(line)

    def _write_lines(self, output: list[str], first: int, stop: int) -> None:
        for index in range(first, stop):
            for column, cell in enumerate(self._lines[index]):
                output.append(cell)
                if column < len(self._widths):
                    output.append(" " * (self._widths[column] - len(cell)))
            if index + 1 < len(self._lines):  # the last line is the unterminated one after the final newline
                output.append("\n")

    def _format(self, output: list[str], first: int, stop: int) -> None:
        column = len(self._widths)
        line_index = first
        while line_index < stop:
            if column >= len(self._lines[line_index]) - 1:
                line_index += 1
                continue
            # a block of consecutive lines that all have a cell in this column
            self._write_lines(output, first, line_index)
            first = line_index
            width = self.min_width
            while line_index < stop and column < len(self._lines[line_index]) - 1:
                width = max(width, len(self._lines[line_index][column]) + self.padding)
                line_index += 1
            if self.remember_widths:
                if len(self._max_widths) < len(self._widths):
                    self._max_widths.extend(self._widths[len(self._max_widths) :])
                if len(self._max_widths) == len(self._widths):
                    self._max_widths.append(width)
                else:
                    width = max(width, self._max_widths[column])
                    self._max_widths[column] = width
            self._widths.append(width)
            self._format(output, first, line_index)
            self._widths.pop()
            first = line_index
            line_index += 1  # Go's loop post-statement; that line has no cell here anyway
        self._write_lines(output, first, stop)


def _tab_text(rows: Sequence[Sequence[str]]) -> str:
    return "".join("\t".join(row) + "\n" for row in rows)


def format_table(rows: list[list[str]]) -> str:
    """Rows laid out exactly as kubectl's tabwriter lays them out (each row ends with a newline).

    Cells are written as kubectl writes them, joined by tabs, so a tab inside a cell splits it as it
    would in Go."""
    writer = _TabWriter()
    return writer.write(_tab_text(rows)) + writer.flush()


# --------------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------------


def _server_cell(obj: dict[str, Any], column: PrinterColumn, now: datetime) -> Any:
    """One CRD column cell as the API server's table convertor computes it; None is an empty cell.

    Only the first JSONPath result counts; a value of the wrong JSON type, or a path that fails, gives
    an empty cell rather than an error."""
    template = _column_template(column.json_path)
    if template is None:
        return None
    try:
        groups = template.find_results(obj)
    except ClusternetError:
        return None
    if not groups or not groups[0]:
        return None
    value = groups[0][0]
    if column.type == "string":
        return result_text(value)
    if value is None:
        return None
    if column.type == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return int(value)  # Go's int64(float64) truncates
    if column.type == "number":
        return None if isinstance(value, bool) or not isinstance(value, (int, float)) else value
    if column.type == "boolean":
        return value if isinstance(value, bool) else None
    if column.type == "date":
        return _age(value, now) if isinstance(value, str) else None
    return None


@functools.lru_cache(maxsize=256)
def _column_template(json_path: str) -> JSONPathTemplate | None:
    try:
        return compile_template("{" + json_path + "}")
    except UsageError:
        return None


def _cell_text(value: Any) -> str:
    """What kubectl's printTable writes for a cell it received from the server."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        value = as_kubectl_number(value)
        return str(value) if isinstance(value, int) and abs(value) < 10**21 else go_float(float(value))
    if isinstance(value, int):
        return str(value)
    text = str(value)
    cut = min((text.find(char) for char in "\f\n\r" if char in text), default=-1)
    if cut >= 0:
        text = text[:cut] + "..."
    return text.replace("\x1b", "^[").replace("\r", "\\r")


def _visible_columns(columns: Sequence[PrinterColumn], wide: bool) -> list[PrinterColumn]:
    return [column for column in columns if wide or column.priority == 0]


def table_header(
    columns: Sequence[PrinterColumn], *, wide: bool = False, namespaced: bool, all_namespaces: bool
) -> list[str]:
    """The header row: ``NAMESPACE`` (with ``-A`` on a namespaced kind), ``NAME``, then the columns."""
    header = ["NAMESPACE"] if namespaced and all_namespaces else []
    header.append("NAME")
    header.extend(column.name.upper() for column in _visible_columns(columns, wide))
    return header


def table_rows(
    items: Sequence[dict[str, Any]],
    *,
    columns: Sequence[PrinterColumn],
    wide: bool = False,
    namespaced: bool,
    all_namespaces: bool,
    name_prefix: str,
    show_kind: bool = False,
    now: datetime | None = None,
) -> list[list[str]]:
    """The data rows of a ``kubectl get`` table, one per object, cells already as kubectl writes them."""
    moment = _utc(now)
    visible = _visible_columns(columns, wide)
    rows: list[list[str]] = []
    for obj in items:
        metadata = obj.get("metadata") or {}
        name = str(metadata.get("name", ""))
        row = [_cell_text(str(metadata.get("namespace", "")))] if namespaced and all_namespaces else []
        row.append(_cell_text(f"{name_prefix}/{name}" if show_kind else name))
        row.extend(_cell_text(_server_cell(obj, column, moment)) for column in visible)
        rows.append(row)
    return rows


@dataclass
class WatchTablePrinter:
    """``kubectl get -w`` as a table: the header once, then rows as events arrive.

    One tabwriter with RememberWidths serves the whole watch, as in kubectl, so a row is padded to the
    widest cell seen so far in its column; a row wider than anything before widens that column from then
    on (rows already printed are not re-aligned, exactly like kubectl)."""

    columns: Sequence[PrinterColumn]
    namespaced: bool
    all_namespaces: bool
    name_prefix: str
    out: TextIO
    wide: bool = False
    no_headers: bool = False
    show_kind: bool = False
    _writer: _TabWriter = field(default_factory=_TabWriter, init=False, repr=False)
    _printed_header: bool = field(default=False, init=False, repr=False)

    def print(self, obj: dict[str, Any], *, now: datetime | None = None) -> None:
        """Print one event's object as a row (after the header, the first time)."""
        self.print_many([obj], now=now)

    def print_many(self, items: Sequence[dict[str, Any]], *, now: datetime | None = None) -> None:
        """Print several rows in one flush, as kubectl prints the initial list of a watch."""
        if not items:
            return
        rows = table_rows(
            items,
            columns=self.columns,
            wide=self.wide,
            namespaced=self.namespaced,
            all_namespaces=self.all_namespaces,
            name_prefix=self.name_prefix,
            show_kind=self.show_kind,
            now=now,
        )
        if not self._printed_header and not self.no_headers:
            header = table_header(
                self.columns, wide=self.wide, namespaced=self.namespaced, all_namespaces=self.all_namespaces
            )
            rows.insert(0, header)
        self._printed_header = True
        self.out.write(self._writer.write(_tab_text(rows)) + self._writer.flush())


def no_resources_message(namespace: str | None, all_namespaces: bool) -> str:
    """What kubectl writes to stderr when ``get`` finds nothing (``namespace=None`` for cluster-scoped kinds)."""
    if namespace is None or all_namespaces:
        return "No resources found"
    return f"No resources found in {namespace} namespace."


# --------------------------------------------------------------------------------------------------------
# YAML (sigs.k8s.io/yaml over go-yaml v2) and JSON
# --------------------------------------------------------------------------------------------------------

_YAML_TAG = "tag:yaml.org,2002:"
_YAML_WORDS = {
    **dict.fromkeys(["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"], "bool"),
    **dict.fromkeys(["n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE"], "bool"),
    **dict.fromkeys(["", "~", "null", "Null", "NULL"], "null"),
    **dict.fromkeys([".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF"], "float"),
    **dict.fromkeys(["+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF"], "float"),
    "<<": "merge",
}
_GO_INT = re.compile(r"^[+-]?(?:0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$")
_GO_UINT = re.compile(r"^(?:0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$")
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_BASE60_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_YAML_TIMESTAMPS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$", re.ASCII),
    re.compile(
        r"^(\d{4})-(\d{1,2})-(\d{1,2})[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$",
        re.ASCII,
    ),
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?$", re.ASCII),
)


def _go_int_value(text: str, pattern: re.Pattern[str]) -> int | None:
    if not pattern.match(text):
        return None
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if len(body) > 1 and body[0] == "0" and body[1] in "bBoOxX":
        magnitude = int(body[2:], {"b": 2, "o": 8, "x": 16}[body[1].lower()])
    elif len(body) > 1 and body[0] == "0":
        magnitude = int(body, 8)
    else:
        magnitude = int(body)
    return sign * magnitude


def _is_yaml_timestamp(text: str) -> bool:
    for pattern in _YAML_TIMESTAMPS:
        match = pattern.match(text)
        if match is None:
            continue
        year, month, day, hour, minute, second = ([int(group) for group in match.groups()] + [0, 0, 0])[:6]
        try:
            datetime(year or 2000, month, day, hour, minute, second)
        except ValueError:
            continue
        return True
    return False


_DOT_FLOAT = re.compile(r"^\.[0-9](?:_?[0-9])*(?:[eE][+-]?[0-9](?:_?[0-9])*)?$")


def _go_yaml_resolve(text: str) -> str:
    """The tag go-yaml v2 gives a plain scalar; kubectl quotes a string whenever this is not ``str``."""
    if text == "":
        return "null"
    first = text[0]
    if first in "+-":
        hint = "sign"
    elif first in "0123456789":
        hint = "digit"
    elif first in "yYnNtTfFoO~":
        hint = "word"
    elif first == ".":
        hint = "dot"
    else:
        return "str"  # go-yaml looks nothing else up, not even "<<"
    if text in _YAML_WORDS:
        return _YAML_WORDS[text]
    if hint == "word":
        return "str"
    if hint == "dot":
        return "float" if _DOT_FLOAT.match(text) else "str"
    if _is_yaml_timestamp(text):
        return "timestamp"
    plain = text.replace("_", "")
    signed = _go_int_value(plain, _GO_INT)
    if signed is not None and -(2**63) <= signed < 2**63:
        return "int"
    unsigned = _go_int_value(plain, _GO_UINT)
    if unsigned is not None and unsigned < 2**64:
        return "int"
    if _YAML_FLOAT.match(plain) and not math.isinf(float(plain)):
        return "float"
    for prefix in ("0b", "-0b"):
        if plain.startswith(prefix) and re.fullmatch("[01]+", plain[len(prefix) :]):
            return "int"
    return "str"


def _string_style(text: str) -> str | None:
    """go-yaml v2's choice for a string: literal block if multi-line, double quotes if a plain scalar would
    read back as something else, otherwise plain (the emitter falls back to quotes where plain is illegal)."""
    if "\n" in text:
        return "|"
    if _go_yaml_resolve(text) != "str" or _BASE60_FLOAT.match(text):
        return '"'
    return None


def _yaml_key_less(left: str, right: str) -> bool:
    """go-yaml v2's map key order: letters after other characters, runs of digits compared as numbers."""
    for index in range(min(len(left), len(right))):
        a, b = left[index], right[index]
        if a == b:
            continue
        a_letter, b_letter = a.isalpha(), b.isalpha()
        if a_letter and b_letter:
            return a < b
        if a_letter or b_letter:
            return b_letter
        a_number = b_number = 0
        if a == "0" or b == "0":
            for back in range(index - 1, -1, -1):
                if not left[back].isdecimal():
                    break
                if left[back] != "0":
                    a_number = b_number = 1
                    break
        a_end = index
        while a_end < len(left) and left[a_end].isdecimal():
            a_number = a_number * 10 + ord(left[a_end]) - ord("0")
            a_end += 1
        b_end = index
        while b_end < len(right) and right[b_end].isdecimal():
            b_number = b_number * 10 + ord(right[b_end]) - ord("0")
            b_end += 1
        if a_number != b_number:
            return a_number < b_number
        if a_end != b_end:
            return a_end < b_end
        return a < b
    return len(left) < len(right)


def _yaml_key_order(left: tuple[Any, Any], right: tuple[Any, Any]) -> int:
    a, b = str(left[0]), str(right[0])
    return -1 if _yaml_key_less(a, b) else (1 if _yaml_key_less(b, a) else 0)


_YAML_BREAKS = "\r\n\x85\u2028\u2029"
_YAML_SHORT_ESCAPES = {
    "\x00": "0",
    "\x07": "a",
    "\x08": "b",
    "\t": "t",
    "\n": "n",
    "\x0b": "v",
    "\x0c": "f",
    "\r": "r",
    "\x1b": "e",
    '"': '"',
    "\\": "\\",
    "\x85": "N",
    "\xa0": "_",
    "\u2028": "L",
    "\u2029": "P",
}


def _go_yaml_printable(char: str) -> bool:
    """go-yaml's is_printable: no astral characters, unlike PyYAML with ``allow_unicode``."""
    code = ord(char)
    return (
        code == 0x0A
        or 0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
    )


def _go_yaml_escape(char: str) -> str | None:
    """The escape go-yaml writes for ``char`` inside double quotes, or None if it is written as is."""
    if _go_yaml_printable(char) and char not in _YAML_BREAKS and char not in '"\\':
        return None
    if char in _YAML_SHORT_ESCAPES:
        return "\\" + _YAML_SHORT_ESCAPES[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


class _GoYamlDumper(yaml.SafeDumper):
    """PyYAML's emitter is a port of libyaml, as go-yaml's is, so only the places where the two ports
    drifted apart are overridden: what a plain scalar means (the resolver), which style a string asks for
    (the representer), which characters count as breaks or unprintable, the simple-key limit (128 bytes,
    empty keys allowed) and where a long double-quoted string is folded (only at spaces)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                return _YAML_TAG + _go_yaml_resolve(value)
            return _YAML_TAG + "str"
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]

    def analyze_scalar(self, scalar: str) -> Any:
        analysis = super().analyze_scalar(scalar)
        if any(char in "\r\x85" for char in scalar):
            analysis.multiline = True
            analysis.allow_flow_plain = analysis.allow_block_plain = False
        if any(not _go_yaml_printable(char) and char not in _YAML_BREAKS for char in scalar) or (
            "\x85" in scalar
        ):
            analysis.allow_flow_plain = analysis.allow_block_plain = False
            analysis.allow_single_quoted = analysis.allow_block = False
        return analysis

    def check_simple_key(self) -> bool:
        event = self.event
        if isinstance(event, yaml.ScalarEvent):
            if self.analysis is None:
                self.analysis = self.analyze_scalar(event.value)
            return not self.analysis.multiline and len(event.value.encode()) <= 128
        return bool(super().check_simple_key())

    def _put(self, data: str) -> None:
        self.column += len(data)
        encoded: Any = data.encode(self.encoding) if self.encoding else data
        self.stream.write(encoded)

    def expect_document_start(self, first: bool = False) -> None:
        if isinstance(self.event, yaml.StreamEndEvent):
            self.open_ended = False  # go-yaml ends the stream without "..." after a "|+" block
        super().expect_document_start(first)

    def write_single_quoted(self, text: str, split: bool = True) -> None:
        self.write_indicator("'", True)
        after_space = after_break = False
        for index, char in enumerate(text):
            if char == " ":
                if (
                    split
                    and not after_space
                    and self.column > self.best_width
                    and 0 < index < len(text) - 1
                    and text[index + 1] != " "
                ):
                    self.write_indent()
                else:
                    self._put(" ")
                after_space = True
            elif char in _YAML_BREAKS:
                if not after_break and char == "\n":
                    self.write_line_break()
                self.write_line_break(None if char == "\n" else char)
                after_break = True
            else:
                if after_break:
                    self.write_indent()
                self._put("''" if char == "'" else char)
                self.indention = False
                after_space = after_break = False
        self.write_indicator("'", False)

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        self.write_indicator('"', True)
        after_space = False
        for index, char in enumerate(text):
            escape = _go_yaml_escape(char)
            if escape is not None:
                self._put(escape)
                after_space = False
            elif char == " ":
                if split and not after_space and self.column > self.best_width and 0 < index < len(text) - 1:
                    self.write_indent()
                    if text[index + 1] == " ":
                        self._put("\\")
                else:
                    self._put(" ")
                after_space = True
            else:
                self._put(char)
                after_space = False
        self.write_indicator('"', False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    return dumper.represent_scalar(_YAML_TAG + "str", data, style=_string_style(data))


def _represent_float(dumper: yaml.SafeDumper, data: float) -> yaml.Node:
    number = as_kubectl_number(data)
    if isinstance(number, int) and abs(number) < 10**21:
        return dumper.represent_scalar(_YAML_TAG + "int", str(number))
    text = {"NaN": ".nan", "+Inf": ".inf", "-Inf": "-.inf"}.get(go_float(data), go_float(data))
    return dumper.represent_scalar(_YAML_TAG + "float", text)


def _represent_dict(dumper: yaml.SafeDumper, data: dict[Any, Any]) -> yaml.Node:
    pairs = sorted(data.items(), key=functools.cmp_to_key(_yaml_key_order))
    return dumper.represent_mapping(_YAML_TAG + "map", pairs)


_GoYamlDumper.add_representer(str, _represent_str)
_GoYamlDumper.add_representer(float, _represent_float)
_GoYamlDumper.add_representer(dict, _represent_dict)
_GoYamlDumper.add_representer(tuple, yaml.SafeDumper.represent_list)


def to_yaml(obj: Any) -> str:
    """An object as ``kubectl -o yaml`` prints it."""
    return yaml.dump(
        obj,
        Dumper=_GoYamlDumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=80,
        indent=2,
    )


def to_json(obj: Any) -> str:
    """An object as ``kubectl -o json`` prints it (4-space indent, sorted keys, trailing newline)."""
    return go_json(obj, indent="    ") + "\n"


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy without ``metadata.managedFields`` (the input is left alone)."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or "managedFields" not in metadata:
        return obj
    return {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}


def _as_list(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The List kubectl wraps several objects in for yaml, json and jsonpath output."""
    return {"apiVersion": "v1", "items": list(items), "kind": "List", "metadata": {"resourceVersion": ""}}


# --------------------------------------------------------------------------------------------------------
# -o parsing
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CustomColumn:
    header: str
    path: str


@dataclass(frozen=True)
class _Printer:
    kind: str  # table, wide, yaml, json, name, jsonpath, custom-columns
    template: JSONPathTemplate | None = None
    json_output: bool = False
    columns: tuple[_CustomColumn, ...] = ()
    headers_forced: bool = False  # custom-columns-file prints its header even with --no-headers


def _read_file(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _os_error_text(path: str, error: OSError) -> str:
    """The wording of Go's *PathError, which kubectl shows for an unreadable template file."""
    reason = (error.strerror or str(error)).lower()
    return f"open {path}: {reason}"


def _custom_columns_from_spec(spec: str) -> tuple[_CustomColumn, ...]:
    columns = []
    for part in spec.split(","):
        header, separator, path = part.partition(":")
        if not separator:
            raise UsageError(f"unexpected custom-columns spec: {part}, expected <header>:<json-path-expr>")
        columns.append(_CustomColumn(header, relaxed_expression(path)))
    return tuple(columns)


def _custom_columns_from_file(path: str) -> tuple[_CustomColumn, ...]:
    try:
        text = _read_file(path)
    except OSError as error:
        raise UsageError(f"error reading template {path}, {_os_error_text(path, error)}") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # bufio.Scanner yields no empty token after a final newline
    expected = (
        "Expected format is one line of space separated headers, one line of space separated column specs."
    )
    if not lines:
        raise UsageError(f"invalid template, missing header line. {expected}")
    if len(lines) < 2:
        raise UsageError(f"invalid template, missing spec line. {expected}")
    headers = lines[0].rstrip("\r").split()
    specs = lines[1].rstrip("\r").split()
    if len(headers) != len(specs):
        raise UsageError(
            f"number of headers ({len(headers)}) and field specifications ({len(specs)}) don't match"
        )
    return tuple(_CustomColumn(h, relaxed_expression(s)) for h, s in zip(headers, specs, strict=True))


def _unknown_format(output: str) -> UsageError:
    return UsageError(
        f"unable to match a printer suitable for the output format {go_quote(output)}, "
        f"allowed formats are: {','.join(ALLOWED_FORMATS)}"
    )


def _build_printer(output: str | None) -> _Printer:
    if not output:
        return _Printer("table")
    if output in ("wide", "yaml", "json", "name"):
        return _Printer(output)
    name, separator, argument = output.partition("=")
    if name in ("jsonpath", "jsonpath-as-json", "jsonpath-file"):
        if not argument:
            raise UsageError("template format specified but no template given")
        source = argument
        if name == "jsonpath-file":
            try:
                source = _read_file(argument)
            except OSError as error:
                raise UsageError(
                    f"error reading --template {argument}, {_os_error_text(argument, error)}"
                ) from None
        return _Printer("jsonpath", compile_template(source), json_output=name == "jsonpath-as-json")
    if name in ("custom-columns", "custom-columns-file"):
        if not argument:
            raise UsageError("custom-columns format specified but no custom columns given")
        if name == "custom-columns-file":
            return _Printer(
                "custom-columns", columns=_custom_columns_from_file(argument), headers_forced=True
            )
        return _Printer("custom-columns", columns=_custom_columns_from_spec(argument))
    raise _unknown_format(output)


def check_output_format(output: str | None) -> None:
    """Validate ``-o`` before any request, as kubectl does: unknown formats, empty templates, template
    syntax and unreadable template files all raise UsageError here."""
    printer = _build_printer(output)
    for column in printer.columns:
        compile_column(column.path)


# --------------------------------------------------------------------------------------------------------
# print_objects
# --------------------------------------------------------------------------------------------------------


def _run_jsonpath(printer: _Printer, data: Any, allow_missing_keys: bool) -> str:
    assert printer.template is not None
    try:
        return printer.template.execute(
            data, allow_missing_keys=allow_missing_keys, json_output=printer.json_output
        )
    except ClusternetError as error:
        source = printer.template.source
        raise ClusternetError(
            f"error executing jsonpath {go_quote(source)}: Error executing template: {error}. "
            "Printing more information for debugging the template:\n"
            f"\ttemplate was:\n\t\t{source}\n"
            f"\tobject given to jsonpath engine was:\n\t\t{go_syntax(data)}\n\n"
        ) from None


def print_objects(
    items: list[dict[str, Any]],
    *,
    output: str | None,
    columns: Sequence[PrinterColumn],
    namespaced: bool,
    all_namespaces: bool,
    name_prefix: str,
    no_headers: bool = False,
    show_kind: bool = False,
    single: bool = False,
    allow_missing_template_keys: bool = True,
    show_managed_fields: bool = False,
    now: datetime | None = None,
    out: TextIO,
) -> None:
    """Print ``items`` as ``kubectl get -o <output>`` would.

    ``single`` is kubectl's "single item implied" (``get kind name``): with exactly one item, yaml, json
    and jsonpath see the bare object; otherwise they see a ``List``. ``name_prefix`` is ``kind.group`` in
    lower case (``managedcluster.clusters.clusternet.io``) for ``-o name`` and ``--show-kind``. As in kubectl,
    yaml and json drop ``metadata.managedFields`` unless ``show_managed_fields``; jsonpath and custom-columns
    see them. Tables with no items print nothing: the caller prints :func:`no_resources_message` to stderr.
    Raises UsageError for a bad ``output`` and ClusternetError when a jsonpath template fails on the data."""
    printer = _build_printer(output)
    if printer.kind in ("table", "wide"):
        if not items:
            return
        wide = printer.kind == "wide"
        rows = table_rows(
            items,
            columns=columns,
            wide=wide,
            namespaced=namespaced,
            all_namespaces=all_namespaces,
            name_prefix=name_prefix,
            show_kind=show_kind,
            now=now,
        )
        if not no_headers:
            rows.insert(
                0, table_header(columns, wide=wide, namespaced=namespaced, all_namespaces=all_namespaces)
            )
        out.write(format_table(rows))
        return
    if printer.kind == "name":
        out.write(
            "".join(f"{name_prefix}/{(item.get('metadata') or {}).get('name', '')}\n" for item in items)
        )
        return
    if printer.kind == "custom-columns":
        rows = [] if no_headers and not printer.headers_forced else [[c.header for c in printer.columns]]
        rows.extend([evaluate_column(item, column.path) for column in printer.columns] for item in items)
        out.write(format_table(rows))
        return
    if printer.kind in ("yaml", "json") and not show_managed_fields:
        items = [_without_managed_fields(item) for item in items]
    data: Any = items[0] if single and len(items) == 1 else _as_list(items)
    if printer.kind == "yaml":
        out.write(to_yaml(data))
    elif printer.kind == "json":
        out.write(to_json(data))
    else:
        out.write(_run_jsonpath(printer, data, allow_missing_template_keys))
