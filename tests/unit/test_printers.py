"""kubectl's output formats: AGE, tabwriter layout, tables, yaml/json/name/jsonpath/custom-columns, watch rows.

Expected outputs were checked against kubectl v1.32 (``kubectl label --local -o ...`` and ``kubectl get`` on a
kube-apiserver with an equivalent CRD); the golden files under ``golden/`` hold those byte-exact outputs.
"""

from __future__ import annotations

import copy
import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kubectl_clusternet.cli.printers import (
    ALLOWED_FORMATS,
    WatchTablePrinter,
    check_output_format,
    format_table,
    human_duration,
    no_resources_message,
    print_objects,
    table_header,
    table_rows,
    to_json,
    to_yaml,
)
from kubectl_clusternet.core.apis.model import PrinterColumn
from kubectl_clusternet.core.errors import ClusternetError, UsageError

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
PREFIX = "managedcluster.clusters.clusternet.io"

# ManagedCluster's printer columns as upstream Clusternet declares them (clusternet-reference.md 2.2).
COLUMNS = (
    PrinterColumn("CLUSTER ID", "string", ".spec.clusterId"),
    PrinterColumn("CLUSTER TYPE", "string", ".spec.clusterType", priority=100),
    PrinterColumn("SYNC MODE", "string", ".spec.syncMode"),
    PrinterColumn("KUBERNETES", "string", ".status.k8sVersion"),
    PrinterColumn("STATUS", "string", ".status.conditions[?(@.type=='Ready')].status"),
    PrinterColumn("AGE", "date", ".metadata.creationTimestamp"),
    PrinterColumn("AGENT VERSION", "string", ".status.agentVersion", priority=100),
)


def _cluster(
    name: str, namespace: str, created: str, cluster_id: str, *, ready: str | None, kubernetes: str | None
) -> dict[str, Any]:
    status: dict[str, Any] = {"agentVersion": "v0.17.1", "kubeQPS": 5.5, "healthz": True}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "reason": "ClusterReady"}]
    if kubernetes is not None:
        status["k8sVersion"] = kubernetes
    return {
        "apiVersion": "clusters.clusternet.io/v1beta1",
        "kind": "ManagedCluster",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": created,
            "labels": {"clusters.clusternet.io/cluster-id": cluster_id, "clusternet.io/created-by": "agent"},
            "managedFields": [{"manager": "clusternet-hub", "operation": "Update"}],
        },
        "spec": {"clusterId": cluster_id, "clusterType": "EdgeCluster", "syncMode": "Pull"},
        "status": status,
    }


CLUSTERS = [
    _cluster(
        "clusternet-cluster-dzqkw",
        "clusternet-dzqkw",
        "2024-05-01T11:55:00Z",
        "5f3e6a2b-0c1d-4e5f-8a9b-0c1d2e3f4a5b",
        ready="True",
        kubernetes="v1.30.2",
    ),
    _cluster(
        "clusternet-cluster-x8k2p",
        "clusternet-x8k2p",
        "2024-04-28T09:30:00Z",
        "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
        ready="False",
        kubernetes="v1.29.0",
    ),
    _cluster(
        "clusternet-cluster-q7",
        "clusternet-q7",
        "2024-05-01T11:59:30Z",
        "0a0b0c0d-1111-4222-8333-444455556666",
        ready=None,
        kubernetes=None,
    ),
]


def _print(items: list[dict[str, Any]], output: str | None, **options: Any) -> str:
    out = io.StringIO()
    defaults: dict[str, Any] = {
        "columns": COLUMNS,
        "namespaced": True,
        "all_namespaces": False,
        "name_prefix": PREFIX,
        "now": NOW,
    }
    print_objects(items, output=output, out=out, **{**defaults, **options})
    return out.getvalue()


# --------------------------------------------------------------------------------------------------------
# AGE


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-3600, "<invalid>"),
        (-2, "<invalid>"),
        (-1.999, "0s"),
        (-1, "0s"),
        (-0.5, "0s"),
        (0, "0s"),
        (0.999, "0s"),
        (59, "59s"),
        (119, "119s"),
        (119.9, "119s"),
        (120, "2m"),
        (121, "2m1s"),
        (599, "9m59s"),
        (600, "10m"),
        (601, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600 - 1, "7h59m"),
        (8 * 3600, "8h"),
        (48 * 3600 - 1, "47h"),
        (48 * 3600, "2d"),
        (49 * 3600, "2d1h"),
        (8 * 86400 - 1, "7d23h"),
        (8 * 86400, "8d"),
        (730 * 86400 - 1, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400 - 1, "7y364d"),
        (8 * 365 * 86400, "8y"),
        (100 * 365 * 86400 + 5 * 86400, "100y"),
    ],
)
def test_human_duration_boundaries(seconds: float, expected: str) -> None:
    """AGE follows apimachinery's HumanDuration on both sides of every unit boundary."""
    assert human_duration(seconds) == expected


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2024-05-01T11:55:00Z", "5m"),
        ("2024-05-01T13:55:00+02:00", "5m"),
        ("2024-05-01T11:59:59.5Z", "0s"),
        ("2024-05-01T12:00:05Z", "<invalid>"),
        ("2019-05-01T12:00:00Z", "5y2d"),
        ("", "<unknown>"),
        ("0001-01-01T00:00:00Z", "<unknown>"),
        ("2024-05-01", "<invalid>"),
        ("2024-02-30T00:00:00Z", "<invalid>"),
        ("yesterday", "<invalid>"),
    ],
)
def test_date_column_cells(timestamp: str, expected: str) -> None:
    """A ``date`` column shows the age of an RFC 3339 time, ``<unknown>`` for none and ``<invalid>`` otherwise."""
    obj = {"metadata": {"name": "x"}, "spec": {"when": timestamp}}
    column = PrinterColumn("WHEN", "date", ".spec.when")
    rows = table_rows(
        [obj], columns=[column], namespaced=False, all_namespaces=False, name_prefix="", now=NOW
    )
    assert rows == [["x", expected]]


# --------------------------------------------------------------------------------------------------------
# tabwriter


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            [["NAME", "STATUS", "AGE"], ["default", "Active", "5m"], ["kube-node-lease", "Active", "5m"]],
            "NAME              STATUS   AGE\ndefault           Active   5m\nkube-node-lease   Active   5m\n",
        ),
        ([["A", "B"], ["x", "y"]], "A     B\nx     y\n"),
        ([["ONLY"], ["a-long-value"], ["b"]], "ONLY\na-long-value\nb\n"),
        ([["A", "B", "C"], ["x", "y", ""]], "A     B     C\nx     y     \n"),
        ([["A", "B", "C"], ["x", "y"], ["p", "q", "r"]], "A     B     C\nx     y\np     q     r\n"),
        ([["A", "B"], ["\u00e9", "\u00fc"]], "A     B\n\u00e9     \u00fc\n"),
        ([["A", "B"], ["x\ty", "z"]], "A     B\nx     y     z\n"),
    ],
)
def test_format_table_matches_go_tabwriter(rows: list[list[str]], expected: str) -> None:
    """Columns are max(cell)+3 wide but at least 6, counted in characters; a row's last cell is never padded."""
    assert format_table(rows) == expected


def test_format_table_golden_namespaces() -> None:
    """The table of ``kubectl get ns`` is reproduced byte for byte."""
    rows = [
        ["NAME", "STATUS", "AGE"],
        ["default", "Active", "5m"],
        ["kube-node-lease", "Active", "5m"],
        ["kube-public", "Active", "5m"],
        ["kube-system", "Active", "5m"],
    ]
    assert format_table(rows) == (GOLDEN / "tabwriter_namespaces.txt").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------------
# golden outputs


@pytest.mark.parametrize(
    ("golden", "output", "options"),
    [
        ("table_namespaced.txt", None, {"items": CLUSTERS[:1]}),
        ("table_all_namespaces.txt", None, {"all_namespaces": True}),
        ("table_wide.txt", "wide", {"all_namespaces": True}),
        ("table_no_headers.txt", None, {"no_headers": True}),
        ("table_show_kind.txt", None, {"show_kind": True}),
        ("yaml_single.txt", "yaml", {"items": CLUSTERS[:1], "single": True}),
        ("yaml_list.txt", "yaml", {}),
        ("json_list.txt", "json", {}),
        ("name.txt", "name", {}),
        ("jsonpath_plain.txt", "jsonpath={.items[*].metadata.name}", {}),
        (
            "jsonpath_range.txt",
            'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.status.conditions[?(@.type=="Ready")].status}'
            '{"\\n"}{end}',
            {},
        ),
        ("jsonpath_as_json.txt", "jsonpath-as-json={.items[*].spec.clusterId}", {}),
        (
            "custom_columns.txt",
            "custom-columns=NAME:.metadata.name,ID:.spec.clusterId,READY:.status.conditions[?(@.type=='Ready')]"
            ".status,QPS:status.kubeQPS,LABELS:{.metadata.labels}",
            {},
        ),
        (
            "custom_columns_no_headers.txt",
            "custom-columns=NAME:.metadata.name,ID:.spec.clusterId",
            {"no_headers": True},
        ),
    ],
)
def test_output_matches_golden(golden: str, output: str | None, options: dict[str, Any]) -> None:
    """Each ``-o`` format prints exactly what kubectl prints for the same objects."""
    items = options.pop("items", CLUSTERS)
    assert _print(items, output, **options) == (GOLDEN / golden).read_text(encoding="utf-8")


def test_custom_columns_file_matches_golden(tmp_path: Path) -> None:
    """``custom-columns-file`` reads headers and paths from two whitespace-separated lines."""
    template = tmp_path / "columns.txt"
    template.write_text("NAME   CLUSTER-ID   SYNC\n.metadata.name   {.spec.clusterId}   spec.syncMode\n")
    printed = _print(CLUSTERS, f"custom-columns-file={template}")
    assert printed == (GOLDEN / "custom_columns_file.txt").read_text(encoding="utf-8")


def test_custom_columns_file_keeps_header_with_no_headers(tmp_path: Path) -> None:
    """kubectl ignores ``--no-headers`` for ``custom-columns-file`` (only the inline spec honours it)."""
    template = tmp_path / "columns.txt"
    template.write_text("NAME\n.metadata.name\n")
    assert _print(CLUSTERS[:1], f"custom-columns-file={template}", no_headers=True) == (
        "NAME\nclusternet-cluster-dzqkw\n"
    )


def test_watch_rows_follow_remembered_widths() -> None:
    """A watch prints the header once; a wider row widens its columns for the rows after it, as kubectl -w does."""
    out = io.StringIO()
    printer = WatchTablePrinter(
        columns=COLUMNS, namespaced=True, all_namespaces=False, name_prefix=PREFIX, out=out
    )
    printer.print_many(CLUSTERS[:2], now=NOW)
    wide_one = copy.deepcopy(CLUSTERS[2])
    wide_one["metadata"]["name"] = "clusternet-cluster-with-a-much-longer-name"
    printer.print(wide_one, now=NOW)
    printer.print(CLUSTERS[0], now=NOW)
    assert out.getvalue() == (GOLDEN / "watch_table.txt").read_text(encoding="utf-8")


def test_watch_prints_header_with_first_rows() -> None:
    """An empty initial list prints nothing; the header comes with the first event's row."""
    out = io.StringIO()
    printer = WatchTablePrinter(
        columns=COLUMNS[:1], namespaced=False, all_namespaces=False, name_prefix=PREFIX, out=out
    )
    printer.print_many([])
    printer.print(CLUSTERS[0], now=NOW)
    assert (
        out.getvalue()
        == "NAME                       CLUSTER ID\nclusternet-cluster-dzqkw   5f3e6a2b-0c1d-4e5f-8a9b-0c1d2e3f4a5b\n"
    )


# --------------------------------------------------------------------------------------------------------
# tables


def test_table_without_items_prints_nothing() -> None:
    """With no objects a table prints not even its header; the CLI prints no_resources_message instead."""
    assert _print([], None) == ""


def test_table_header_for_cluster_scoped_kind_has_no_namespace() -> None:
    """``-A`` adds NAMESPACE only for namespaced kinds; column names are upper-cased like kubectl does."""
    columns = [PrinterColumn("Status", "string", ".status.result")]
    assert table_header(columns, namespaced=False, all_namespaces=True) == ["NAME", "STATUS"]


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        (PrinterColumn("N", "integer", ".v"), 3, "3"),
        (PrinterColumn("N", "integer", ".v"), 2.7, "2"),
        (PrinterColumn("N", "integer", ".v"), "7", ""),
        (PrinterColumn("N", "integer", ".v"), True, ""),
        (PrinterColumn("N", "number", ".v"), 1500000, "1500000"),
        (PrinterColumn("N", "number", ".v"), 0.5, "0.5"),
        (PrinterColumn("N", "number", ".v"), 1e21, "1e+21"),
        (PrinterColumn("N", "number", ".v"), 1e-7, "1e-07"),
        (PrinterColumn("B", "boolean", ".v"), False, "false"),
        (PrinterColumn("B", "boolean", ".v"), "yes", ""),
        (PrinterColumn("S", "string", ".v"), {"b": 1, "a": "<x>"}, '{"a":"\\u003cx\\u003e","b":1}'),
        (PrinterColumn("S", "string", ".v"), ["x", "y"], '["x","y"]'),
        (PrinterColumn("S", "string", ".v"), 2.7, "2.7"),
        (PrinterColumn("S", "string", ".v"), "line1\nline2", "line1..."),
        (PrinterColumn("S", "string", ".v"), "cr\rhere", "cr..."),
        (PrinterColumn("S", "string", ".v"), "esc\x1b[31mred", "esc^[[31mred"),
        (PrinterColumn("S", "string", ".list[*]"), None, "x"),
        (PrinterColumn("S", "string", ".missing"), None, ""),
        (PrinterColumn("S", "string", ".list[5]"), None, ""),
    ],
)
def test_crd_cells_follow_the_api_server(column: PrinterColumn, value: Any, expected: str) -> None:
    """CRD cells use the first JSONPath result, and a value of the wrong type or a failing path is an empty cell."""
    obj = {"metadata": {"name": "w"}, "v": value, "list": ["x", "y"]}
    rows = table_rows(
        [obj], columns=[column], namespaced=False, all_namespaces=False, name_prefix="", now=NOW
    )
    assert rows == [["w", expected]]


@pytest.mark.parametrize(
    ("namespace", "all_namespaces", "expected"),
    [
        ("default", False, "No resources found in default namespace."),
        ("clusternet-system", True, "No resources found"),
        (None, False, "No resources found"),
    ],
)
def test_no_resources_message(namespace: str | None, all_namespaces: bool, expected: str) -> None:
    """The stderr notice names the namespace only for a namespaced kind listed in one namespace."""
    assert no_resources_message(namespace, all_namespaces) == expected


# --------------------------------------------------------------------------------------------------------
# yaml and json


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("", '""'),
        ("true", '"true"'),
        ("y", '"y"'),
        ("ON", '"ON"'),
        ("~", '"~"'),
        ("null", '"null"'),
        ("1.5", '"1.5"'),
        ("0x1F", '"0x1F"'),
        ("0o17", '"0o17"'),
        ("1_000", '"1_000"'),
        ("1e3", '"1e3"'),
        (".5", '".5"'),
        ("+1", '"+1"'),
        ("1:20", '"1:20"'),
        ("2024-01-01", '"2024-01-01"'),
        ("2024-01-01T00:00:00Z", '"2024-01-01T00:00:00Z"'),
        ("<<", "<<"),
        ("<a>&", "<a>&"),
        ("a: b", "'a: b'"),
        ("- a", "'- a'"),
        ("*x", "'*x'"),
        ("a #b", "'a #b'"),
        (" x", "' x'"),
        ("'a'", "'''a'''"),
        ("a\tb", '"a\\tb"'),
        ("a\x01b", '"a\\x01b"'),
        ("a\x1bb", '"a\\eb"'),
        ("h\u00e9llo \u2028 x", '"h\u00e9llo \\L x"'),
        ("\U0001f600", '"\\U0001F600"'),
        ("line1\nline2\n", "|\n  line1\n  line2"),
        ("line1\nline2", "|-\n  line1\n  line2"),
        ("a\n\n", "|+\n  a\n"),
    ],
)
def test_yaml_scalars_quoted_as_go_yaml_quotes_them(value: str, expected: str) -> None:
    """Strings are quoted exactly where go-yaml v2 quotes them (double quotes for look-alikes of other types)."""
    assert to_yaml({"k": value}) == f"k: {expected}\n"


def test_yaml_folds_long_lines_like_go_yaml() -> None:
    """Long strings fold at spaces past column 80; double-quoted ones only at spaces, never after an escape."""
    document = {
        "long": "aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr",
        "esc": "x" * 75 + "\x01 yyyy \x01 zzzz",
    }
    assert to_yaml(document) == (
        'esc: "' + "x" * 75 + '\\x01\n  yyyy \\x01 zzzz"\n'
        "long: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp\n"
        "  qqqq rrrr\n"
    )


def test_yaml_keys_follow_go_yaml_order() -> None:
    """Map keys sort with go-yaml's rule: non-letters first, digit runs compared as numbers."""
    keys = ["app", "z_1", "Z2", "a10", "a9", "_x", "1a", "a_b", "aB", "a-b", "a.b", "a0", "a00", "a01", "a1"]
    printed = to_yaml({key: 1 for key in keys})
    assert [line.split(":")[0] for line in printed.splitlines()] == [
        "_x", "1a", "Z2", "a-b", "a.b", "a_b", "a0", "a00", "a1", "a01", "a9", "a10", "aB", "app", "z_1",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"": "v"}, '"": v\n'),
        ({"k" * 129: 1}, "? " + "k" * 129 + "\n: 1\n"),
        ({"\u00e9" * 65: 1}, "? " + "\u00e9" * 65 + "\n: 1\n"),
        ({"r\r": 1}, '? "r\\r"\n: 1\n'),
        ({"\u2028": 1}, "? '\u2028'\n: 1\n"),
        (
            {"n": [1.0, 2.5, 1e21, 1234567.5, None, True, []], "m": {}},
            'm: {}\n"n":\n- 1\n- 2.5\n- 1e+21\n- 1.2345675e+06\n- null\n- true\n- []\n',
        ),
        ({"z": "a\n\n"}, "z: |+\n  a\n\n"),
    ],
)
def test_yaml_structure_edge_cases(document: dict[str, Any], expected: str) -> None:
    """Keys over 128 bytes or with breaks become complex keys, empty keys stay simple, numbers print as Go does."""
    assert to_yaml(document) == expected


def test_json_escapes_html_and_writes_whole_floats_as_integers() -> None:
    """JSON output is encoding/json's: 4-space indent, sorted keys, ``<>&`` escaped, ``2.0`` written as ``2``."""
    assert to_json({"b": [2.0, 0.5, 1e-7], "a": "<&>", "c": {}, "d": []}) == (
        '{\n    "a": "\\u003c\\u0026\\u003e",\n    "b": [\n        2,\n        0.5,\n        1e-7\n    ],\n'
        '    "c": {},\n    "d": []\n}\n'
    )


def test_yaml_and_json_omit_managed_fields_unless_asked() -> None:
    """yaml/json drop ``metadata.managedFields`` by default, without touching the caller's objects."""
    assert "managedFields" not in _print(CLUSTERS[:1], "json", single=True)
    assert "managedFields" in _print(CLUSTERS[:1], "yaml", single=True, show_managed_fields=True)
    assert "managedFields" in CLUSTERS[0]["metadata"]


def test_jsonpath_sees_managed_fields() -> None:
    """jsonpath evaluates the whole object, managedFields included, as kubectl does."""
    assert (
        _print(CLUSTERS[:1], "jsonpath={.metadata.managedFields[0].manager}", single=True) == "clusternet-hub"
    )


def test_empty_list_in_yaml() -> None:
    """With no objects, yaml prints an empty List."""
    assert _print([], "yaml") == 'apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: ""\n'


def test_custom_columns_without_items_prints_header() -> None:
    """custom-columns prints its header even when nothing matched, like kubectl."""
    assert _print([], "custom-columns=A:.x") == "A\n"


# --------------------------------------------------------------------------------------------------------
# -o parsing and errors


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            "xx",
            'unable to match a printer suitable for the output format "xx", allowed formats are: '
            + ",".join(ALLOWED_FORMATS),
        ),
        ("json=x", 'unable to match a printer suitable for the output format "json=x", allowed formats are: '
         + ",".join(ALLOWED_FORMATS)),
        ("jsonpath", "template format specified but no template given"),
        ("jsonpath=", "template format specified but no template given"),
        ("jsonpath={.x[", "error parsing jsonpath {.x[, unterminated array"),
        ("custom-columns=", "custom-columns format specified but no custom columns given"),
        ("custom-columns=A", "unexpected custom-columns spec: A, expected <header>:<json-path-expr>"),
        (
            "custom-columns=A:{{x}}",
            "unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or "
            "'{.name1.name2}'",
        ),
        ("custom-columns=A:.x[", "unterminated array"),
        ("jsonpath-file=/nonexistent/t.txt", "error reading --template /nonexistent/t.txt, open /nonexistent/t.txt: "
         "no such file or directory"),
        ("custom-columns-file=/nonexistent/c.txt", "error reading template /nonexistent/c.txt, open "
         "/nonexistent/c.txt: no such file or directory"),
    ],
)  # fmt: skip
def test_bad_output_formats_raise_kubectl_messages(output: str, message: str) -> None:
    """A bad ``-o`` is a UsageError worded as kubectl words it, found before anything is printed."""
    with pytest.raises(UsageError) as raised:
        check_output_format(output)
    assert raised.value.message == message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "invalid template, missing header line."),
        ("NAME\n", "invalid template, missing spec line."),
        ("NAME ID\n.metadata.name\n", "number of headers (2) and field specifications (1) don't match"),
    ],
)
def test_bad_custom_columns_file(tmp_path: Path, content: str, message: str) -> None:
    """A custom-columns file needs a header line and a spec line with as many entries."""
    template = tmp_path / "columns.txt"
    template.write_text(content)
    with pytest.raises(UsageError) as raised:
        check_output_format(f"custom-columns-file={template}")
    assert raised.value.message.startswith(message)


def test_jsonpath_file_is_read(tmp_path: Path) -> None:
    """``jsonpath-file`` takes the template from a file."""
    template = tmp_path / "t.txt"
    template.write_text("{.metadata.name}")
    assert _print(CLUSTERS[:1], f"jsonpath-file={template}", single=True) == "clusternet-cluster-dzqkw"


def test_jsonpath_execution_error_is_wrapped_like_kubectl() -> None:
    """A template that fails on the data reports kubectl's message with the template and the object."""
    with pytest.raises(ClusternetError) as raised:
        _print([{"kind": "X", "n": [1]}], "jsonpath={.n[3]}", single=True)
    assert raised.value.message == (
        'error executing jsonpath "{.n[3]}": Error executing template: array index out of bounds: index 3, '
        "length 1. Printing more information for debugging the template:\n\ttemplate was:\n\t\t{.n[3]}\n"
        '\tobject given to jsonpath engine was:\n\t\tmap[string]interface {}{"kind":"X", "n":[]interface {}{1}}\n\n'
    )
    assert not isinstance(raised.value, UsageError)


@pytest.mark.parametrize(
    "output", [None, "", "wide", "yaml", "json", "name", "jsonpath={.a}", "custom-columns=A:.a"]
)
def test_good_output_formats_pass_the_check(output: str | None) -> None:
    """Every supported format passes validation."""
    check_output_format(output)
