"""kubectl's JSONPath template dialect (client-go ``util/jsonpath``), evaluated over plain JSON-like data.

Python JSONPath libraries implement bare path expressions; kubectl users write *templates*
(``{range .items[*]}{.metadata.name}{"\\n"}{end}``) and expect Go's exact output: results separated by one
space, maps and lists as compact JSON with sorted keys, numbers as Go prints them, a missing key printing
nothing. This module reproduces the parser's accepted syntax and error messages and the evaluator's
semantics (slices that fail out of range instead of clamping, filters with Go's comparison rules), so
``-o jsonpath``, ``-o custom-columns`` and CRD printer columns behave as they do under kubectl.

It also holds the Go value formatting the printers share: ``go_json`` (encoding/json), ``go_sprint``
(``fmt.Sprint``) and ``go_float`` (``%v`` of a float64).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from kubectl_clusternet.core.errors import ClusternetError, UsageError

__all__ = [
    "JSONPathTemplate",
    "compile_template",
    "render_template",
    "evaluate_column",
    "relaxed_expression",
    "compile_column",
    "result_text",
    "go_json",
    "go_sprint",
    "go_float",
    "go_type_name",
    "go_quote",
    "go_syntax",
    "as_kubectl_number",
]


# --------------------------------------------------------------------------------------------------------
# Go value formatting
# --------------------------------------------------------------------------------------------------------


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest round-tripping decimal digits of a finite, non-zero float and its scientific exponent.

    Python's ``repr`` and Go's ``strconv`` both produce the shortest digit string that parses back to the
    same float, so the digits agree; only the layout around them differs between the two languages."""
    from decimal import Decimal  # noqa: PLC0415 - only floats in output need it

    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(str(digit) for digit in digit_tuple)
    scientific = len(digits) - 1 + int(exponent)
    return digits.rstrip("0") or "0", scientific


def _layout_fixed(digits: str, scientific: int) -> str:
    """Place shortest digits in positional notation, as Go's ``'f'`` format with precision -1 does."""
    if scientific >= 0:
        whole = digits[: scientific + 1].ljust(scientific + 1, "0")
        fraction = digits[scientific + 1 :]
    else:
        whole = "0"
        fraction = "0" * (-scientific - 1) + digits
    return f"{whole}.{fraction}" if fraction else whole


def _layout_exponent(digits: str, scientific: int, *, min_exponent_digits: int) -> str:
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    sign = "-" if scientific < 0 else "+"
    return f"{mantissa}e{sign}{str(abs(scientific)).zfill(min_exponent_digits)}"


def go_float(value: float) -> str:
    """A float64 as Go's ``fmt.Sprint`` and ``strconv.FormatFloat(v, 'g', -1, 64)`` print it.

    Shortest digits; exponent form when the exponent is below -4 or at least 6 (``1e+06``), which is
    why kubectl shows ``1.5e+06`` where Python would show ``1500000.0``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, scientific = _shortest_digits(value)
    sign = "-" if value < 0 else ""
    if scientific < -4 or scientific >= 6:
        return sign + _layout_exponent(digits, scientific, min_exponent_digits=2)
    return sign + _layout_fixed(digits, scientific)


def _go_json_float(value: float) -> str:
    """A float64 as encoding/json writes it: positional unless tiny or huge, exponent without padding."""
    if math.isnan(value) or math.isinf(value):
        raise ClusternetError(f"json: unsupported value: {go_float(value)}")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, scientific = _shortest_digits(value)
    sign = "-" if value < 0 else ""
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        return sign + _layout_exponent(digits, scientific, min_exponent_digits=1)
    return sign + _layout_fixed(digits, scientific)


_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_HTML_ESCAPE_PATTERN = re.compile("[<>&\u2028\u2029]")


def _go_json_string(text: str) -> str:
    """A string as encoding/json writes it, including its HTML-safe escapes of ``<``, ``>`` and ``&``."""
    encoded = json.dumps(text, ensure_ascii=False)
    return _HTML_ESCAPE_PATTERN.sub(lambda match: _HTML_ESCAPES[match.group(0)], encoded)


def go_json(value: Any, *, indent: str | None = None) -> str:
    """``json.Marshal`` (``indent=None``) or ``json.MarshalIndent(v, "", indent)`` of unstructured data.

    Go sorts map keys, writes whole floats without ``.0`` and escapes HTML characters, so Python's
    ``json.dumps`` cannot be used as is."""
    parts: list[str] = []
    _write_json(value, indent, 0, parts)
    return "".join(parts)


def _write_json(value: Any, indent: str | None, depth: int, parts: list[str]) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, str):
        parts.append(_go_json_string(value))
    elif isinstance(value, int):
        parts.append(str(value))
    elif isinstance(value, float):
        parts.append(_go_json_float(value))
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        parts.append("{")
        for position, key in enumerate(sorted(value, key=str)):
            if position:
                parts.append(",")
            if indent is not None:
                parts.append("\n" + indent * (depth + 1))
            parts.append(_go_json_string(str(key)))
            parts.append(": " if indent is not None else ":")
            _write_json(value[key], indent, depth + 1, parts)
        if indent is not None:
            parts.append("\n" + indent * depth)
        parts.append("}")
    elif isinstance(value, (list, tuple)):
        if not value:
            parts.append("[]")
            return
        parts.append("[")
        for position, element in enumerate(value):
            if position:
                parts.append(",")
            if indent is not None:
                parts.append("\n" + indent * (depth + 1))
            _write_json(element, indent, depth + 1, parts)
        if indent is not None:
            parts.append("\n" + indent * depth)
        parts.append("]")
    else:
        raise ClusternetError(f"json: unsupported type: {type(value).__name__}")


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def as_kubectl_number(value: Any) -> Any:
    """A whole float as the int64 it becomes once Go has written it as JSON (``2``) and kubectl has read it
    back: what the table and YAML printers see after that round trip. (Before it, as in jsonpath, a float
    stays a float64: ``[?(@==2)]`` against ``2.0`` is Go's "incompatible types for comparison".)"""
    if isinstance(value, float) and value.is_integer() and _INT64_MIN <= value <= _INT64_MAX:
        return int(value)
    return value


def go_quote(text: str) -> str:
    """Go's ``%q`` / strconv.Quote: printable characters kept, the rest escaped Go-style."""
    pieces = ['"']
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            pieces.append("\\" + char)
        elif char in _QUOTE_ESCAPES:
            pieces.append(_QUOTE_ESCAPES[char])
        elif char.isprintable():
            pieces.append(char)
        elif code < 0x80:
            pieces.append(f"\\x{code:02x}")
        elif code < 0x10000:
            pieces.append(f"\\u{code:04x}")
        else:
            pieces.append(f"\\U{code:08x}")
    pieces.append('"')
    return "".join(pieces)


_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_syntax(value: Any) -> str:
    """``%#v`` of unstructured data, as kubectl dumps the object in a jsonpath execution error."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict):
        entries = ", ".join(f"{go_quote(str(key))}:{go_syntax(value[key])}" for key in sorted(value, key=str))
        return "map[string]interface {}{" + entries + "}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}{" + ", ".join(go_syntax(element) for element in value) + "}"
    return go_sprint(value)


def go_sprint(value: Any) -> str:
    """``fmt.Sprint`` of unstructured data: ``map[k:v]`` for maps, ``[a b]`` for lists, ``<nil>`` for null."""
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{go_sprint(value[key])}" for key in sorted(value, key=str)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_sprint(element) for element in value) + "]"
    return str(value)


def go_type_name(value: Any) -> str:
    """The Go type an unstructured value decodes to, as Go's error messages name it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    return type(value).__name__


def _escape_terminal(text: str) -> str:
    """cli-runtime's EscapeTerminal: neutralise ESC and CR so data cannot drive the terminal."""
    return text.replace("\x1b", "^[").replace("\r", "\\r")


# --------------------------------------------------------------------------------------------------------
# Syntax tree
# --------------------------------------------------------------------------------------------------------


class _Text(NamedTuple):
    text: str


class _Field(NamedTuple):
    name: str


class _Wildcard(NamedTuple):
    pass


class _Recursive(NamedTuple):
    pass


class _Slice(NamedTuple):
    """``[start:end:step]``; ``None`` means the bound was not written. ``end_derived`` marks ``[i]``."""

    start: int | None
    end: int | None
    step: int | None
    end_derived: bool


class _Filter(NamedTuple):
    left: tuple[_Node, ...]
    right: tuple[_Node, ...]
    operator: str


class _Union(NamedTuple):
    branches: tuple[tuple[_Node, ...], ...]


class _Literal(NamedTuple):
    value: int | float | bool


class _Identifier(NamedTuple):
    name: str


_Node = _Text | _Field | _Wildcard | _Recursive | _Slice | _Filter | _Union | _Literal | _Identifier


class _Action(NamedTuple):
    """One ``{...}``: nodes applied left to right to the current values."""

    nodes: tuple[_Node, ...]


class _Range(NamedTuple):
    """``{range expr}body{end}``: the body runs once per value of ``expr``."""

    nodes: tuple[_Node, ...]
    body: tuple[_Part, ...]


class _StrayEnd(NamedTuple):
    """An ``{end}`` with no open range; Go reports it only when the template runs."""


_Part = _Text | _Action | _Range | _StrayEnd


class _SyntaxError(Exception):
    """A template that client-go's parser rejects; the message is client-go's."""


# --------------------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------------------

_DICT_KEY = re.compile(r"^'([^']*)'$")
_SLICE = re.compile(r"^(-?[0-9]*)(:-?[0-9]*)?(:-?[0-9]*)?$")
_FILTER = re.compile(r"^([^!<>=]+)([!<>=]+)(.+?)$")
_TERMINATORS = frozenset(" \t\r\n.,[]$@{}")


def _is_alphanumeric(char: str) -> bool:
    return char == "_" or char.isalpha() or char.isdecimal()


def _go_rune(char: str) -> str:
    """``%#U`` of a rune: ``U+0023 '#'``, the character shown only when printable."""
    code = f"U+{ord(char):04X}"
    return f"{code} '{char}'" if char.isprintable() else code


class _Parser:
    """A port of client-go's hand-written scanner: same accepted inputs, same error messages."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.width = 0

    def _next(self) -> str:
        """The next character, or ``""`` at the end of input (which ``_backup`` then leaves in place)."""
        if self.pos >= len(self.text):
            self.width = 0
            return ""
        self.width = 1
        self.pos += 1
        return self.text[self.pos - 1]

    def _backup(self) -> None:
        self.pos -= self.width

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _consume(self) -> str:
        value = self.text[self.start : self.pos]
        self.start = self.pos
        return value

    def parse(self) -> list[_Text | tuple[_Node, ...]]:
        """Top level: plain text and ``{...}`` actions, in order."""
        parts: list[_Text | tuple[_Node, ...]] = []
        while True:
            brace = self.text.find("{", self.pos)
            if brace < 0:
                if self.start < len(self.text):
                    parts.append(_Text(self.text[self.start :]))
                return parts
            if brace > self.start:
                parts.append(_Text(self.text[self.start : brace]))
            self.pos = brace + 1
            self.start = self.pos
            parts.append(tuple(self._parse_action()))

    def _parse_action(self) -> list[_Node]:
        nodes: list[_Node] = []
        while True:
            rest = self.text[self.pos :]
            if rest.startswith("}"):
                self.pos += 1
                self.start = self.pos
                return nodes
            if rest.startswith("[?("):
                self._parse_filter(nodes)
                continue
            if rest.startswith(".."):
                self._parse_recursive(nodes)
                continue
            char = self._next()
            if char in ("", "\r", "\n"):
                raise _SyntaxError("unclosed action")
            if char in (" ", "@", "$"):
                self._consume()
            elif char == "[":
                self._parse_array(nodes)
            elif char in ('"', "'"):
                self._parse_quote(nodes, char)
            elif char == ".":
                self._parse_field(nodes)
            elif char in ("+", "-") or char.isdecimal():
                self._backup()
                self._parse_number(nodes)
            elif _is_alphanumeric(char):
                self._backup()
                self._parse_identifier(nodes)
            else:
                raise _SyntaxError(f"unrecognized character in action: {_go_rune(char)}")

    def _parse_identifier(self, nodes: list[_Node]) -> None:
        while True:
            char = self._next()
            if char == "" or char in _TERMINATORS:
                self._backup()
                break
        value = self._consume()
        if value in ("true", "false"):
            nodes.append(_Literal(value == "true"))
        else:
            nodes.append(_Identifier(value))

    def _parse_recursive(self, nodes: list[_Node]) -> None:
        if nodes and isinstance(nodes[-1], _Recursive):
            raise _SyntaxError("invalid multiple recursive descent")
        self.pos += 2
        self._consume()
        nodes.append(_Recursive())
        following = self._peek()
        if following and _is_alphanumeric(following):
            self._parse_field(nodes)

    def _parse_number(self, nodes: list[_Node]) -> None:
        if self._peek() in ("+", "-"):
            self._next()
        while True:
            char = self._next()
            if char != "." and not (char and char.isdecimal()):
                self._backup()
                break
        value = self._consume()
        if value.isascii():
            try:
                number = int(value)
            except ValueError:
                pass
            else:
                if _INT64_MIN <= number <= _INT64_MAX:
                    nodes.append(_Literal(number))
                    return
            try:
                nodes.append(_Literal(float(value)))
                return
            except ValueError:
                pass
        raise _SyntaxError(f"cannot parse number {value}")

    def _parse_array(self, nodes: list[_Node]) -> None:
        while True:
            char = self._next()
            if char in ("", "\n"):
                raise _SyntaxError("unterminated array")
            if char == "]":
                break
        inner = self._consume()[1:-1]
        if inner == "*":
            inner = ":"
        pieces = inner.split(",")
        if len(pieces) > 1:
            nodes.append(_Union(tuple(_parse_sub_action(f"[{piece.strip(' ')}]") for piece in pieces)))
            return
        key = _DICT_KEY.match(inner)
        if key:
            nodes.extend(_parse_sub_action(f".{key.group(1)}"))
            return
        bounds = _SLICE.match(inner)
        if bounds is None:
            raise _SyntaxError(f"invalid array index {inner}")
        texts = [bounds.group(1) or "", (bounds.group(2) or "")[1:], (bounds.group(3) or "")[1:]]
        written = [bounds.group(1) != "", bounds.group(2) is not None, bounds.group(3) is not None]
        values: list[int | None] = []
        for index, (text, present) in enumerate(zip(texts, written, strict=True)):
            if not present or (index > 0 and text == ""):
                values.append(None)
                continue
            try:
                values.append(int(text))
            except ValueError:
                raise _SyntaxError(f"array index {text} is not a number") from None
        start, end, step = values
        end_derived = not written[1]
        if end_derived:
            end = (start or 0) + 1
        nodes.append(_Slice(start, end, step, end_derived))

    def _parse_filter(self, nodes: list[_Node]) -> None:
        self.pos += 3
        self._consume()
        quote_open = quote_closed = False
        quote = ""
        while True:
            char = self._next()
            if char in ("", "\n"):
                raise _SyntaxError("unterminated filter")
            if char in ('"', "'"):
                if not quote_open:
                    quote_open, quote = True, char
                    continue
                if self.text[self.pos - 2] != "\\" and char == quote:
                    quote_closed = True
            elif char == ")" and quote_open == quote_closed:
                break
        if self._next() != "]":
            raise _SyntaxError("unclosed array expect ]")
        expression = self._consume()[:-2]
        comparison = _FILTER.match(expression)
        if comparison is None:
            nodes.append(_Filter(_parse_sub_action(expression), (), "exists"))
        else:
            left = _parse_sub_action(comparison.group(1))
            right = _parse_sub_action(comparison.group(3))
            nodes.append(_Filter(left, right, comparison.group(2)))

    def _parse_quote(self, nodes: list[_Node], quote: str) -> None:
        while True:
            char = self._next()
            if char in ("", "\n"):
                raise _SyntaxError("unterminated quoted string")
            if char == quote and self.text[self.pos - 2] != "\\":
                break
        quoted = self._consume()
        try:
            nodes.append(_Text(_unquote(quoted)))
        except ValueError:
            raise _SyntaxError(f"unquote string {quoted} error invalid syntax") from None

    def _parse_field(self, nodes: list[_Node]) -> None:
        self._consume()
        while True:
            char = self._next()
            if char == "\\":
                self._next()
            elif char == "" or char in _TERMINATORS:
                self._backup()
                break
        value = self._consume()
        nodes.append(_Wildcard() if value == "*" else _Field(value.replace("\\", "")))


def _parse_sub_action(text: str) -> tuple[_Node, ...]:
    """client-go's parseAction: parse ``{text}`` and keep the first action's nodes."""
    parts = _Parser("{" + text + "}").parse()
    first = parts[0]
    assert not isinstance(first, _Text)  # an action: a plain tuple of nodes
    return first


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def _unquote(quoted: str) -> str:
    """Go's strconv.Unquote extended to single quotes (client-go's UnquoteExtend); ValueError if invalid."""
    if len(quoted) < 2 or quoted[0] != quoted[-1] or quoted[0] not in ('"', "'"):
        raise ValueError(quoted)
    quote, body = quoted[0], quoted[1:-1]
    if "\\" not in body and quote not in body:
        return body
    result: list[str] = []
    position = 0
    while position < len(body):
        char = body[position]
        if char == quote:
            raise ValueError(quoted)
        if char != "\\":
            result.append(char)
            position += 1
            continue
        if position + 1 >= len(body):
            raise ValueError(quoted)
        escape = body[position + 1]
        position += 2
        if escape in _SIMPLE_ESCAPES:
            result.append(_SIMPLE_ESCAPES[escape])
        elif escape in ("'", '"'):
            if escape != quote:
                raise ValueError(quoted)
            result.append(escape)
        elif escape in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[escape]
            digits = body[position : position + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError(quoted)
            code = int(digits, 16)
            if escape != "x" and (code > 0x10FFFF or 0xD800 <= code <= 0xDFFF):
                raise ValueError(quoted)
            result.append(chr(code))
            position += width
        elif escape in "01234567":
            digits = body[position - 1 : position + 2]
            if len(digits) != 3 or not all(d in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ValueError(quoted)
            result.append(chr(int(digits, 8)))
            position += 2
        else:
            raise ValueError(quoted)
    return "".join(result)


def _structure(flat: Sequence[_Text | tuple[_Node, ...]]) -> tuple[_Part, ...]:
    """Nest ``{range}``...``{end}`` into blocks; an unclosed range runs to the end of the template."""
    stack: list[tuple[tuple[_Node, ...], list[_Part]]] = []
    current: list[_Part] = []
    for part in flat:
        if isinstance(part, _Text):
            current.append(part)
            continue
        if any(isinstance(node, _Identifier) and node.name == "end" for node in part):
            if not stack:
                current.append(_StrayEnd())
                continue
            nodes, outer = stack.pop()
            outer.append(_Range(nodes, tuple(current)))
            current = outer
            continue
        if any(isinstance(node, _Identifier) and node.name == "range" for node in part):
            expression = tuple(n for n in part if not (isinstance(n, _Identifier) and n.name == "range"))
            stack.append((expression, current))
            current = []
            continue
        current.append(_Action(part))
    while stack:
        nodes, outer = stack.pop()
        outer.append(_Range(nodes, tuple(current)))
        current = outer
    return tuple(current)


# --------------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------------


class _Evaluator:
    def __init__(self, allow_missing_keys: bool) -> None:
        self.allow_missing_keys = allow_missing_keys

    def run(self, parts: Sequence[_Part], current: list[Any], groups: list[list[Any]]) -> None:
        for part in parts:
            if isinstance(part, _Text):
                groups.append([part.text])
            elif isinstance(part, _Action):
                groups.append(self.walk_all(current, part.nodes))
            elif isinstance(part, _Range):
                for value in self.walk_all(current, part.nodes):
                    self.run(part.body, [value], groups)
            else:
                raise ClusternetError("not in range, nothing to end")

    def walk_all(self, values: list[Any], nodes: Sequence[_Node]) -> list[Any]:
        for node in nodes:
            values = self.walk(values, node)
        return values

    def walk(self, values: list[Any], node: _Node) -> list[Any]:
        if isinstance(node, _Text):
            return [node.text]
        if isinstance(node, _Field):
            return self._field(values, node.name)
        if isinstance(node, _Slice):
            return self._slice(values, node)
        if isinstance(node, _Filter):
            return self._filter(values, node)
        if isinstance(node, _Literal):
            return [node.value for _ in values]
        if isinstance(node, _Wildcard):
            return [child for value in values for child in _children(value)]
        if isinstance(node, _Recursive):
            return list(_descend(values))
        if isinstance(node, _Union):
            return [result for branch in node.branches for result in self.walk_all(values, branch)]
        raise ClusternetError(f"unrecognized identifier {node.name}")

    def _field(self, values: list[Any], name: str) -> list[Any]:
        if not values:
            return []
        found = [value[name] for value in values if isinstance(value, dict) and name in value]
        if not found and not self.allow_missing_keys:
            raise ClusternetError(f"{name} is not found")
        return found

    def _slice(self, values: list[Any], node: _Slice) -> list[Any]:
        result: list[Any] = []
        for value in values:
            if value is None:
                continue
            if not isinstance(value, (list, tuple)):
                raise ClusternetError(f"{go_type_name(value)} is not array or slice")
            length = len(value)
            start = node.start if node.start is not None else 0
            if start < 0:
                start += length
            end = node.end if node.end is not None else length
            if end < 0 or (end == 0 and node.end_derived):
                end += length
            if end == start:
                return result  # client-go stops at the first empty selection
            if start >= length or start < 0:
                raise ClusternetError(f"array index out of bounds: index {start}, length {length}")
            if end > length or end < 0:
                raise ClusternetError(f"array index out of bounds: index {end - 1}, length {length}")
            if start > end:
                raise ClusternetError(f"starting index {start} is greater than ending index {end}")
            step = 1
            if node.step is not None:
                if node.step <= 0:
                    raise ClusternetError("step must be > 0")
                step = node.step
            result.extend(value[start:end:step])
        return result

    def _filter(self, values: list[Any], node: _Filter) -> list[Any]:
        result: list[Any] = []
        for value in values:
            if not isinstance(value, (list, tuple)):
                raise ClusternetError(f"{go_sprint(value)} is not array or slice and cannot be filtered")
            for element in value:
                if node.operator == "exists":
                    try:
                        if self.walk_all([element], node.left):
                            result.append(element)
                    except ClusternetError:
                        pass
                    continue
                lefts = self.walk_all([element], node.left)
                if not lefts:
                    continue
                if len(lefts) > 1:
                    raise ClusternetError("can only compare one element at a time")
                rights = self.walk_all([element], node.right)
                if not rights:
                    continue
                if len(rights) > 1:
                    raise ClusternetError("can only compare one element at a time")
                if _compare(lefts[0], rights[0], node.operator):
                    result.append(element)
        return result


def _children(value: Any) -> list[Any]:
    """What ``*`` yields: map values (by sorted key, where Go's order is random), list items, string bytes."""
    if isinstance(value, dict):
        return [value[key] for key in sorted(value, key=str)]
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        return list(value.encode())
    return []


def _descend(values: list[Any]) -> Iterator[Any]:
    """What ``..`` yields: every value that has children, itself first, depth first."""
    for value in values:
        children = _children(value)
        if children:
            yield value
            yield from _descend(children)


def _comparison_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    raise ClusternetError("invalid type for comparison")


def _compare(left: Any, right: Any, operator: str) -> bool:
    """Go text/template's eq/ne/lt/le/gt/ge: both sides must be the same basic kind."""
    if operator not in ("==", "!=", "<", "<=", ">", ">="):
        raise ClusternetError(f"unrecognized filter operator {operator}")
    left_kind, right_kind = _comparison_kind(left), _comparison_kind(right)
    if left_kind != right_kind:
        raise ClusternetError("incompatible types for comparison")
    equal = bool(left == right)
    if operator == "==":
        return equal
    if operator == "!=":
        return not equal
    if left_kind == "bool":
        raise ClusternetError("invalid type for comparison")
    less = bool(left < right)
    return {"<": less, "<=": less or equal, ">": not (less or equal), ">=": not less}[operator]


def result_text(value: Any) -> str:
    """One result as kubectl prints it: maps, lists and null as compact JSON, everything else via fmt."""
    if value is None or isinstance(value, (dict, list, tuple)):
        return go_json(value)
    return go_sprint(value)


# --------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JSONPathTemplate:
    """A parsed template; parse once, run against many objects."""

    source: str
    parts: tuple[_Part, ...]

    def find_results(self, data: Any, *, allow_missing_keys: bool = True) -> list[list[Any]]:
        """The raw result groups (one per plain text or ``{...}``), as client-go's FindResults returns them.

        Raises ClusternetError with client-go's message when the template cannot run on ``data``."""
        groups: list[list[Any]] = []
        _Evaluator(allow_missing_keys).run(self.parts, [data], groups)
        return groups

    def execute(self, data: Any, *, allow_missing_keys: bool = True, json_output: bool = False) -> str:
        """The text kubectl prints for ``-o jsonpath`` (or ``-o jsonpath-as-json`` with ``json_output``)."""
        groups = self.find_results(data, allow_missing_keys=allow_missing_keys)
        if json_output:
            return "".join(go_json(group, indent="    ") + "\n" for group in groups)
        return "".join(" ".join(result_text(value) for value in group) for group in groups)


@lru_cache(maxsize=256)
def _compile(source: str) -> JSONPathTemplate:
    return JSONPathTemplate(source, _structure(_Parser(source).parse()))


def compile_template(source: str) -> JSONPathTemplate:
    """Parse a kubectl JSONPath template, or raise UsageError worded as kubectl words it."""
    try:
        return _compile(source)
    except _SyntaxError as error:
        raise UsageError(f"error parsing jsonpath {source}, {error}") from None


def render_template(
    source: str, data: Any, *, json_output: bool = False, allow_missing_keys: bool = True
) -> str:
    """Parse and run a template in one step (``kubectl -o jsonpath=<source>`` on ``data``)."""
    return compile_template(source).execute(
        data, json_output=json_output, allow_missing_keys=allow_missing_keys
    )


_RELAXED = re.compile(r"^\{\.?([^{}]+)\}$|^\.?([^{}]+)$")


def relaxed_expression(path: str) -> str:
    """kubectl's RelaxedJSONPathExpression: ``metadata.name``, ``.metadata.name`` and ``{metadata.name}``
    all become ``{.metadata.name}``, so column paths may be written without braces."""
    if not path:
        return path
    match = _RELAXED.match(path)
    if match is None:
        raise UsageError(
            "unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or "
            "'{.name1.name2}'"
        )
    return "{." + (match.group(1) or match.group(2)) + "}"


def compile_column(path: str) -> JSONPathTemplate:
    """A column path compiled as custom-columns does: relaxed, and parse errors reported bare."""
    source = relaxed_expression(path)
    try:
        return _compile(source)
    except _SyntaxError as error:
        raise UsageError(str(error)) from None


def evaluate_column(obj: dict[str, Any], json_path: str) -> str:
    """One cell of ``-o custom-columns``: every result via ``fmt.Sprint`` joined with ``,``; ``<none>`` if
    there is none. ``json_path`` may lack braces (``.status.conditions[?(@.type=='Ready')].status``)."""
    groups = compile_column(json_path).find_results(obj)
    if not groups or not groups[0]:
        return "<none>"
    return ",".join(_escape_terminal(go_sprint(value)) for group in groups for value in group)
