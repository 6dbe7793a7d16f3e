"""kubectl's JSONPath template dialect: syntax, evaluation, output formatting and error messages.

Expected strings were checked against kubectl v1.32 (``kubectl label --local -f obj.json -o jsonpath=...``) and
against client-go's own jsonpath tests.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubectl_clusternet.cli.jsonpath import (
    compile_template,
    evaluate_column,
    go_float,
    go_json,
    go_sprint,
    relaxed_expression,
    render_template,
)
from kubectl_clusternet.core.errors import ClusternetError, UsageError

NODES: dict[str, Any] = {
    "kind": "List",
    "items": [
        {
            "kind": "None",
            "metadata": {"name": "127.0.0.1", "labels": {"kubernetes.io/hostname": "127.0.0.1"}},
            "status": {
                "capacity": {"cpu": "4"},
                "ready": True,
                "addresses": [{"type": "LegacyHostIP", "address": "127.0.0.1"}],
            },
        },
        {
            "kind": "None",
            "metadata": {"name": "127.0.0.2", "labels": {"kubernetes.io/hostname": "127.0.0.2"}},
            "status": {
                "capacity": {"cpu": "8"},
                "ready": False,
                "addresses": [
                    {"type": "LegacyHostIP", "address": "127.0.0.2"},
                    {"type": "another", "address": "127.0.0.3"},
                ],
            },
        },
    ],
    "users": [
        {"name": "myself", "user": {}},
        {"name": "e2e", "user": {"username": "admin", "password": "secret"}},
    ],
}

SPEC: dict[str, Any] = {
    "kind": "ConfigMap",
    "data": {"html": "<b>&"},
    "spec": {
        "ints": [1, 2, 3, 4, 5],
        "floats": [1.5, 2.0, 1e21, 1e-7, 123456789.0, 0.0001, 0.00001],
        "big": 1500000.5,
        "bools": [True, False],
        "nul": None,
        "conds": [
            {"type": "Ready", "status": "True", "n": 3},
            {"type": "X", "status": "False", "n": 5},
            {"type": "Y"},
        ],
        "nested": {"a": {"name": "x"}, "b": [{"name": "y"}, {"name": "z"}]},
        "emptylist": [],
        "emptymap": {},
        "s": "h\u00e9llo",
    },
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{range .items[*]}{.metadata.name}, {end}{.kind}", "127.0.0.1, 127.0.0.2, List"),
        ('{range .items[*]}{.metadata.name}{"\\t"}{end}', "127.0.0.1\t127.0.0.2\t"),
        ("{.items[*].status.addresses[*].address}", "127.0.0.1 127.0.0.2 127.0.0.3"),
        (
            "{range .items[*]}{range .status.addresses[*]}{.address}, {end}{end}",
            "127.0.0.1, 127.0.0.2, 127.0.0.3, ",
        ),
        ("{.items[*].metadata.name}", "127.0.0.1 127.0.0.2"),
        ("{.items[*]['metadata.name', 'status.capacity']}", '127.0.0.1 127.0.0.2 {"cpu":"4"} {"cpu":"8"}'),
        (
            "{range .items[*]}[{.metadata.name}, {.status.capacity}] {end}",
            '[127.0.0.1, {"cpu":"4"}] [127.0.0.2, {"cpu":"8"}] ',
        ),
        ('{.users[?(@.name=="e2e")].user.password}', "secret"),
        ("{.items[0].metadata.labels.kubernetes\\.io/hostname}", "127.0.0.1"),
        ('{.items[?(@.metadata.labels.kubernetes\\.io/hostname=="127.0.0.1")].kind}', "None"),
        ("{.items[?(@..ready==true)].metadata.name}", "127.0.0.1"),
        ("{.users[*].name}", "myself e2e"),
        ("{@.kind} {$.kind}", "List List"),
        ("{['kind']}", "List"),
        ("plain text {.kind} more", "plain text List more"),
        ('{"{"}', "{"),
        ("no braces at all", "no braces at all"),
    ],
)
def test_templates_from_client_go(template: str, expected: str) -> None:
    """Ranges, quoted text, unions, filters and escaped dots print as client-go prints them."""
    assert render_template(template, NODES) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.spec.ints[1:3]}", "2 3"),
        ("{.spec.ints[-2:]}", "4 5"),
        ("{.spec.ints[::2]}", "1 3 5"),
        ("{.spec.ints[-1]}", "5"),
        ("{.spec.ints[0,2]}", "1 3"),
        ("{.spec.ints[]}", "1"),
        ("{.spec.ints[2:2]}", ""),
        ("{.spec.emptylist[*]}", ""),
        ("{.spec.ints[*]}", "1 2 3 4 5"),
        ("{.spec.ints}", "[1,2,3,4,5]"),
    ],
)
def test_slices(template: str, expected: str) -> None:
    """Indexes, negative indexes, slices with steps and unions select like client-go's ArrayNode."""
    assert render_template(template, SPEC) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{.spec.conds[?(@.type=="Ready")].status}', "True"),
        ("{.spec.conds[?(@.type=='X')].n}", "5"),
        ("{.spec.conds[?(@.n>3)].type}", "X"),
        ("{.spec.conds[?(@.n<=3)].type}", "Ready"),
        ("{.spec.conds[?(@.n!=3)].type}", "X"),
        ("{.spec.conds[?(@.n>=3)].type}", "Ready X"),
        ("{.spec.conds[?(@.n<5)].type}", "Ready"),
        ('{.spec.conds[?(@.type>"Q")].type}', "Ready X Y"),
        ("{.spec.conds[?(@.status)].type}", "Ready X"),
        ("{.spec.bools[?(@==true)]}", "true"),
        ("{.spec.conds[?(@.type==@.type)].type}", "Ready X Y"),
        ("{.spec.floats[?(@==1.5)]}", "1.5"),
        ("{.spec.floats[?(@==2.0)]}", "2"),
    ],
)
def test_filters(template: str, expected: str) -> None:
    """Filters compare with ==, !=, <, <=, >, >= (single or double quotes) or test that a field exists."""
    assert render_template(template, SPEC) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.spec.nested..name}", "x y z"),
        ("{..html}", "<b>&"),
        ("{.spec.nested.*.name}", "x"),
        ("{.spec.nested.b[*].name}", "y z"),
    ],
)
def test_recursive_descent_and_wildcards(template: str, expected: str) -> None:
    """``..`` finds a field at any depth; ``*`` takes every member of a map or list."""
    assert render_template(template, SPEC) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.spec.missing}", ""),
        ("{.spec.missing.deeper}", ""),
        ("before-{.hello}after", "before-after"),
        ("{.spec.nul.x}", ""),
        ("{range .spec.emptylist[*]}x{end}after", "after"),
        ("{range .spec.missing[*]}{.a}{end}done", "done"),
    ],
)
def test_missing_keys_print_nothing(template: str, expected: str) -> None:
    """With kubectl's default --allow-missing-template-keys a missing key prints nothing."""
    assert render_template(template, SPEC) == expected


def test_missing_keys_fail_when_not_allowed() -> None:
    """With missing keys disallowed the first absent field is an error naming it."""
    with pytest.raises(ClusternetError) as raised:
        render_template("{.spec.missing}", SPEC, allow_missing_keys=False)
    assert raised.value.message == "missing is not found"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.spec.floats}", "[1.5,2,1e+21,1e-7,123456789,0.0001,0.00001]"),
        ("{.spec.floats[*]}", "1.5 2 1e+21 1e-07 1.23456789e+08 0.0001 1e-05"),
        ("{.spec.big}", "1.5000005e+06"),
        ("{.spec.nul}", "null"),
        ("{.spec.bools}", "[true,false]"),
        ("{.spec.bools[0]}", "true"),
        ("{.spec.emptymap}", "{}"),
        ("{.data}", '{"html":"\\u003cb\\u003e\\u0026"}'),
        ("{.data.html}", "<b>&"),
        ("{.spec.s}", "h\u00e9llo"),
        ("{5}", "5"),
    ],
)
def test_values_print_as_go_prints_them(template: str, expected: str) -> None:
    """Maps and lists print as compact Go JSON, floats as Go's %v, strings raw, null as ``null``."""
    assert render_template(template, SPEC) == expected


def test_json_output_wraps_each_result_group() -> None:
    """jsonpath-as-json prints each action's results as an indented JSON array."""
    assert render_template('{.spec.ints[0:2]}{"\\n"}', SPEC, json_output=True) == (
        '[\n    1,\n    2\n]\n[\n    "\\n"\n]\n'
    )


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{.x[", "unterminated array"),
        ("{.x", "unclosed action"),
        ("{#}", "unrecognized character in action: U+0023 '#'"),
        ("{.a[abc]}", "invalid array index abc"),
        ("{.a[-]}", "array index - is not a number"),
        ('{"abc}', "unterminated quoted string"),
        ("{.a[?(@.x==1}", "unterminated filter"),
        ("{.a[?(@.x==1)x}", "unclosed array expect ]"),
        ("{..........x}", "invalid multiple recursive descent"),
        ('{"\\q"}', 'unquote string "\\q" error invalid syntax'),
        ("{1.2.3}", "cannot parse number 1.2.3"),
    ],
)
def test_syntax_errors_use_client_go_messages(template: str, reason: str) -> None:
    """A template client-go cannot parse is a UsageError worded as kubectl words it."""
    with pytest.raises(UsageError) as raised:
        compile_template(template)
    assert raised.value.message == f"error parsing jsonpath {template}, {reason}"


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{.spec.ints[7]}", "array index out of bounds: index 7, length 5"),
        ("{.spec.ints[0:9]}", "array index out of bounds: index 8, length 5"),
        ("{.spec.ints[-9]}", "array index out of bounds: index -4, length 5"),
        ("{.spec.emptylist[0]}", "array index out of bounds: index 0, length 0"),
        ("{.spec.ints[3:1]}", "starting index 3 is greater than ending index 1"),
        ("{.spec.ints[::0]}", "step must be > 0"),
        ("{.spec.s[0]}", "string is not array or slice"),
        ("{.spec.nested[0]}", "map[string]interface {} is not array or slice"),
        ("{.spec.nested[?(@.x)]}", "map[a:map[name:x] b:[map[name:y] map[name:z]]] is not array or slice and cannot be "
         "filtered"),
        ("{end}", "not in range, nothing to end"),
        ("{hello}", "unrecognized identifier hello"),
        ('{.spec.conds[?(@.n=="3")].type}', "incompatible types for comparison"),
        ("{.spec.conds[?(@.n==3.5)].type}", "incompatible types for comparison"),
        ("{.spec.conds[?(@.n==3.0)].type}", "incompatible types for comparison"),
        ("{.spec.floats[?(@==2)]}", "incompatible types for comparison"),
        ("{.spec.floats[?(@>1)]}", "incompatible types for comparison"),
        ("{.spec.bools[?(@<true)]}", "invalid type for comparison"),
        ("{.spec.conds[?(@.n=<3)].type}", "unrecognized filter operator =<"),
    ],
)  # fmt: skip
def test_execution_errors_use_client_go_messages(template: str, reason: str) -> None:
    """A template that fails on the data raises ClusternetError with client-go's reason (not a usage error)."""
    with pytest.raises(ClusternetError) as raised:
        render_template(template, SPEC)
    assert raised.value.message == reason
    assert not isinstance(raised.value, UsageError)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".status.conditions[?(@.type=='Ready')].status", "True"),
        ('{.status.conditions[?(@.type=="Ready")].status}', "True"),
        ("status.conditions[*].type", "Ready,Synced"),
        ("{status.conditions[1].type}", "Synced"),
        (".status.missing", "<none>"),
        ("", "<none>"),
        (".metadata.labels", "map[a:1 b:x]"),
        (".status.conditions[0]", "map[status:True type:Ready]"),
        (".spec.values", "[1 2.5 <nil> true]"),
        (".spec.values[*]", "1,2.5,<nil>,true"),
        (".spec.escape", "^[[1m\\r"),
    ],
)
def test_evaluate_column(path: str, expected: str) -> None:
    """custom-columns cells: braces optional, values via fmt.Sprint joined by commas, ``<none>`` when absent."""
    obj = {
        "metadata": {"labels": {"b": "x", "a": "1"}},
        "spec": {"values": [1, 2.5, None, True], "escape": "\x1b[1m\r"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]
        },
    }
    assert evaluate_column(obj, path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metadata.name", "{.metadata.name}"),
        (".metadata.name", "{.metadata.name}"),
        ("{metadata.name}", "{.metadata.name}"),
        ("{.metadata.name}", "{.metadata.name}"),
        ("", ""),
    ],
)
def test_relaxed_expression(path: str, expected: str) -> None:
    """Column paths are normalised to ``{.path}`` as kubectl's RelaxedJSONPathExpression does."""
    assert relaxed_expression(path) == expected


def test_relaxed_expression_rejects_nested_braces() -> None:
    """A path with inner braces is rejected with kubectl's message."""
    with pytest.raises(UsageError):
        relaxed_expression("{{.a}}")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0"),
        (2.0, "2"),
        (2.5, "2.5"),
        (123456.0, "123456"),
        (1500000.0, "1.5e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-1e21, "-1e+21"),
        (float("inf"), "+Inf"),
    ],
)
def test_go_float(value: float, expected: str) -> None:
    """Floats print like Go's %v: shortest digits, exponent from 1e+06 up and below 1e-04."""
    assert go_float(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 2.0, "a": [1e-7, 1e21, 0.1]}, '{"a":[1e-7,1e+21,0.1],"b":2}'),
        ("<&>\u2028", '"\\u003c\\u0026\\u003e\\u2028"'),
        ("tab\tnl\n\x01", '"tab\\tnl\\n\\u0001"'),
        (None, "null"),
        ([], "[]"),
    ],
)
def test_go_json(value: Any, expected: str) -> None:
    """encoding/json's compact form: sorted keys, Go float layout, HTML-safe escapes."""
    assert go_json(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": [1, None], "a": {"x": True}}, "map[a:map[x:true] b:[1 <nil>]]"),
        (1e21, "1e+21"),
        ("text", "text"),
    ],
)
def test_go_sprint(value: Any, expected: str) -> None:
    """fmt.Sprint of unstructured data, as custom-columns prints it."""
    assert go_sprint(value) == expected
