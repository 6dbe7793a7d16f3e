"""Overrides: every OverrideConfig type, upstream's edge cases, and that inputs are never changed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kubectl_clusternet.core.errors import ClusternetError
from kubectl_clusternet.core.render.overrides import (
    MAX_JSON_PATCH_OPERATIONS,
    OverrideError,
    _apply_step,
    _compile_json_patch,
    _NotApplied,
    _Owned,
    apply_chart_overrides,
    apply_overrides,
    coalesce_values,
    compile_override,
    merge_patch,
    strip_server_fields,
)


def render(obj: dict[str, Any], overrides: list[dict[str, Any]]) -> dict[str, Any]:
    """apply_overrides, checking on the way that neither argument was changed."""
    before = copy.deepcopy((obj, overrides))
    result = apply_overrides(obj, overrides)
    assert (obj, overrides) == before
    return result


def override(kind: str, value: Any, name: str = "o", **extra: Any) -> dict[str, Any]:
    text = value if isinstance(value, str) else json.dumps(value)
    return {"name": name, "type": kind, "value": text, **extra}


def job() -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "backup",
            "namespace": "ops",
            "labels": {"team": "storage", "stage": "beta"},
            "uid": "6f1c2a8e-0000-4000-8000-000000000001",
            "managedFields": [{"manager": "kubectl", "operation": "Update"}],
        },
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "dump", "image": "registry.example/dump:2.0"}],
                    "restartPolicy": "Never",
                }
            }
        },
        "status": {"succeeded": 1},
    }


# --------------------------------------------------------------------------------------------------------
# JSONPatch and MergePatch on a generic object (upstream "JSONPatch and MergePatch" case, own data)


def test_json_and_merge_patches_apply_in_order_and_server_fields_are_stripped() -> None:
    """A mixed sequence of merge and JSON patches applies in order and the result has no uid, managedFields or status."""
    overrides = [
        override("MergePatch", "   ", name="blank merge"),
        override("MergePatch", {"metadata": {"namespace": "ops-eu"}}, name="namespace as JSON"),
        override("JSONPatch", "  \n ", name="blank json patch"),
        override("MergePatch", "metadata:\n  namespace: ops-us\n", name="namespace as YAML"),
        override(
            "JSONPatch",
            [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "dump:2.1"}],
            name="image 1",
        ),
        override("MergePatch", {"metadata": {"labels": {"tier": "batch", "zone": "a"}}}, name="add labels"),
        override("MergePatch", {"metadata": {"labels": {"zone": None}}}, name="drop label as JSON"),
        override("MergePatch", "metadata:\n  labels:\n    stage: null\n", name="drop label as YAML"),
        override(
            "JSONPatch",
            [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "dump:2.2"}],
            name="image 2",
        ),
        override(
            "JSONPatch",
            [
                {
                    "op": "add",
                    "path": "/spec/template/spec/containers/1",
                    "value": {"name": "log", "image": "fb"},
                }
            ],
            name="sidecar",
        ),
    ]
    assert render(job(), overrides) == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "backup", "namespace": "ops-us", "labels": {"team": "storage", "tier": "batch"}},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "dump", "image": "dump:2.2"}, {"name": "log", "image": "fb"}],
                    "restartPolicy": "Never",
                }
            }
        },
    }


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"kind": "A"}, {"kind": "A"}),
        ({"kind": "A", "status": {}}, {"kind": "A"}),
        ({"metadata": {"uid": "u", "name": "n"}}, {"metadata": {"name": "n"}}),
        ({"metadata": {"managedFields": [], "uid": "u"}, "status": 1}, {"metadata": {}}),
        ({"metadata": None, "status": "x"}, {"metadata": None}),
    ],
)
def test_strip_server_fields_ignores_missing_paths(obj: dict[str, Any], expected: dict[str, Any]) -> None:
    """Only managedFields, uid and status are removed, and missing ones are no error."""
    before = copy.deepcopy(obj)
    assert strip_server_fields(obj) == expected
    assert obj == before


# --------------------------------------------------------------------------------------------------------
# JSONPatch: missing paths leave the object unchanged, other failures are errors


CONFIG = {"kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}, "list": [1, 2]}


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "remove", "path": "/data/missing"}],
        [{"op": "replace", "path": "/data/missing", "value": "x"}],
        [{"op": "add", "path": "/nothing/here", "value": "x"}],
        [{"op": "add", "path": "/data/a/deeper", "value": "x"}],
        [{"op": "remove", "path": "/list/7"}],
        [{"op": "replace", "path": "/list/2", "value": 3}],
        [{"op": "replace", "path": "/list/x/y", "value": 3}],
        [{"op": "move", "from": "/data/missing", "path": "/data/b"}],
        [{"op": "copy", "from": "/nothing/a", "path": "/data/b"}],
        [{"op": "test", "path": "/nothing/a", "value": 1}],
        [{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/missing"}],
        [{"op": "remove", "path": "/list/0"}, {"op": "replace", "path": "/list/1", "value": 0}],
    ],
)
def test_json_patch_on_a_missing_path_leaves_the_object_unchanged(operations: list[dict[str, Any]]) -> None:
    """A JSON patch that hits a missing path is dropped as a whole, earlier operations of it included."""
    assert render(CONFIG, [override("JSONPatch", operations)]) == CONFIG


@pytest.mark.parametrize(
    ("operations", "reason"),
    [
        ([{"op": "test", "path": "/data/a", "value": "2"}], "not equal"),
        ([{"op": "add", "path": "/list/5", "value": 0}], "outside of list"),
        ([{"op": "add", "path": "/list/first", "value": 0}], "not a valid sequence index"),
        ([{"op": "replace", "path": "/list/-", "value": 0}], "'-'"),
        ([{"op": "remove", "path": ""}], "whole document"),
        ([{"op": "move", "from": "/data", "path": "/data/inner"}], "own children"),
        ([{"op": "add", "path": "/data/b"}], "'value'"),
        ([{"op": "frobnicate", "path": "/data"}], "frobnicate"),
        ({"op": "add", "path": "/data/b", "value": 1}, "list of operations"),
        ([{"op": "add", "path": "data/b", "value": 1}], "invalid JSON patch"),
        ([{"op": "add", "path": "/x", "value": 1}] * (MAX_JSON_PATCH_OPERATIONS + 1), "maximum operations"),
    ],
)
def test_json_patch_failures_other_than_missing_paths_are_errors(operations: Any, reason: str) -> None:
    """Failed tests, bad indexes, malformed or oversized patches abort rendering with an OverrideError."""
    with pytest.raises(OverrideError, match=reason):
        render(CONFIG, [override("JSONPatch", operations, name="bad patch")])


def test_json_patch_at_the_operation_limit_is_accepted() -> None:
    """A patch with exactly the maximum number of operations is applied."""
    operations = [
        {"op": "replace", "path": "/data/a", "value": str(n)} for n in range(MAX_JSON_PATCH_OPERATIONS)
    ]
    assert render(CONFIG, [override("JSONPatch", operations)])["data"] == {
        "a": str(MAX_JSON_PATCH_OPERATIONS - 1)
    }


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        ([{"op": "add", "path": "/data/b", "value": "2"}], {"a": "1", "b": "2"}),
        ([{"op": "copy", "from": "/data/a", "path": "/data/c"}], {"a": "1", "c": "1"}),
        ([{"op": "move", "from": "/data/a", "path": "/data/z"}], {"z": "1"}),
        ([{"op": "test", "path": "/data/a", "value": "1"}, {"op": "remove", "path": "/data/a"}], {}),
        ([{"op": "add", "path": "/data", "value": {"k": "v"}}], {"k": "v"}),
    ],
)
def test_json_patch_operations_change_the_object(operations: list[dict[str, Any]], expected: Any) -> None:
    """Each RFC 6902 operation takes effect on the rendered object."""
    assert render(CONFIG, [override("JSONPatch", operations)])["data"] == expected


DOC = {"m": {"k": "v", "n": {"x": 1}}, "l": [0, 1, 2], "s": "text"}


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "add", "path": "/m/new", "value": {"deep": [1]}},
        {"op": "add", "path": "/m/k", "value": "over"},
        {"op": "add", "path": "/l/-", "value": 9},
        {"op": "add", "path": "/l/0", "value": 9},
        {"op": "add", "path": "/l/3", "value": 9},
        {"op": "add", "path": "/l/4", "value": 9},
        {"op": "add", "path": "/l/01", "value": 9},
        {"op": "add", "path": "/l/x", "value": 9},
        {"op": "add", "path": "/s/x", "value": 9},
        {"op": "add", "path": "/none/x", "value": 9},
        {"op": "add", "path": "", "value": {"whole": True}},
        {"op": "add", "path": "/m/n/x/y", "value": 1},
        {"op": "add", "path": "/m/n"},
        {"op": "replace", "path": "/m/k", "value": 2},
        {"op": "replace", "path": "/m/gone", "value": 2},
        {"op": "replace", "path": "/l/2", "value": 2},
        {"op": "replace", "path": "/l/3", "value": 2},
        {"op": "replace", "path": "/l/-", "value": 2},
        {"op": "replace", "path": "/l/x", "value": 2},
        {"op": "replace", "path": "", "value": [1]},
        {"op": "remove", "path": "/m/k"},
        {"op": "remove", "path": "/m/gone"},
        {"op": "remove", "path": "/l/1"},
        {"op": "remove", "path": "/l/3"},
        {"op": "remove", "path": "/l/-"},
        {"op": "remove", "path": "/l/x"},
        {"op": "remove", "path": "/s/x"},
        {"op": "remove", "path": ""},
    ],
)
def test_fast_json_patch_path_matches_the_jsonpatch_library(operation: dict[str, Any]) -> None:
    """Our own add/remove/replace code gives the same result, missing path or error as the jsonpatch library."""

    def outcome(fast: bool) -> Any:
        doc = copy.deepcopy(DOC)
        (step,) = _compile_json_patch([operation])
        try:
            return ("ok", _apply_step(doc, step, _Owned(), fast=fast))
        except _NotApplied:
            return ("missing",)
        except ValueError:
            return ("error",)

    assert outcome(fast=True) == outcome(fast=False)


def test_values_added_by_a_json_patch_are_not_shared_between_renders() -> None:
    """Changing one rendered object never changes the compiled override or another render."""
    add_map = compile_override(
        override("JSONPatch", [{"op": "add", "path": "/data/extra", "value": {"k": "v"}}])
    )
    first = apply_overrides(CONFIG, [add_map])
    first["data"]["extra"]["k"] = "changed"
    assert apply_overrides(CONFIG, [add_map])["data"]["extra"] == {"k": "v"}


# --------------------------------------------------------------------------------------------------------
# MergePatch and Helm coalescing


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": 1, "b": 2}, {"b": None}, {"a": 1}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": None, "z": 3}}, {"a": {"x": 1, "z": 3}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": "s"}, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}),
        ({"a": 1}, {"missing": None}, {"a": 1}),
        ({"a": 1}, ["replaced"], ["replaced"]),
        ({}, {}, {}),
    ],
)
def test_merge_patch_follows_rfc_7386(target: Any, patch: Any, expected: Any) -> None:
    """Objects merge recursively, null deletes and any non-object replaces the target."""
    before = copy.deepcopy((target, patch))
    assert merge_patch(target, patch) == expected
    assert (target, patch) == before


@pytest.mark.parametrize(
    ("current", "override_values", "expected"),
    [
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": {"x": 1}}, {"a": {"y": 2}}, {"a": {"x": 1, "y": 2}}),
        ({"a": {"x": 1}}, {"a": "flat"}, {"a": "flat"}),
        ({"a": "flat"}, {"a": {"x": 1}}, {"a": {"x": 1}}),
        ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
        ({"b": 2}, {"a": None}, {"a": None, "b": 2}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"x": None}}, {"a": {"y": 2}}),
        ({"list": [1, 2]}, {"list": [3]}, {"list": [3]}),
    ],
)
def test_coalesce_values_lets_the_override_win_and_merges_maps(
    current: dict[str, Any], override_values: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Helm coalescing: maps merge, the override wins elsewhere, a null removes an existing key."""
    before = copy.deepcopy((current, override_values))
    assert coalesce_values(current, override_values) == expected
    assert (current, override_values) == before


def test_helm_override_on_a_generic_object_deep_merges_into_it() -> None:
    """A Helm override on a raw object merges its values into the object itself."""
    result = render(CONFIG, [override("Helm", "data:\n  b: '2'\nextra: true\n")])
    assert result["data"] == {"a": "1", "b": "2"}
    assert result["extra"] is True


# --------------------------------------------------------------------------------------------------------
# HelmChart feeds (upstream "Helm", "Helm with Empty Original" and default chart overrides cases)


def chart() -> dict[str, Any]:
    return {
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "HelmChart",
        "metadata": {"name": "redis", "namespace": "apps", "labels": {"origin": "catalog"}, "uid": "u-1"},
        "spec": {
            "repo": "https://charts.example.org",
            "chart": "redis",
            "version": "17.3.2",
            "targetNamespace": "cache",
        },
        "status": {"phase": "Found"},
    }


GUESTBOOK_VALUES = "replicas: 2\nimage:\n  tag: '7.2'\n  pullPolicy: IfNotPresent\nauth: {enabled: false}\n"

HELM_OVERRIDES = [
    override("Helm", "", name="empty"),
    override("Helm", {"image": {"repository": "redis"}, "replicas": 1}, name="json values"),
    override("Helm", "\t  ", name="whitespace"),
    override("Helm", GUESTBOOK_VALUES, name="yaml values"),
    override("Helm", "  ", name="empty chart patch", overrideChart=True),
    override(
        "Helm", {"metadata": {"labels": {"env": "qa"}, "annotations": {"owner": "sre"}}}, overrideChart=True
    ),
    override(
        "Helm",
        {"spec": {"repo": "oci://mirror.example/charts", "targetNamespace": "elsewhere"}},
        overrideChart=True,
    ),
    override("Helm", {"spec": {"version": "18.0.0", "chart": "valkey"}}, overrideChart=True),
]


def test_helm_overrides_fill_values_and_patch_the_chart_but_not_its_identity() -> None:
    """Values coalesce (later wins); chart patches apply, except to spec.chart and spec.targetNamespace."""
    original = chart()
    before = copy.deepcopy(original)
    rendered = apply_chart_overrides(original, HELM_OVERRIDES)
    assert original == before
    assert rendered.values == {
        "image": {"repository": "redis", "tag": "7.2", "pullPolicy": "IfNotPresent"},
        "replicas": 2,
        "auth": {"enabled": False},
    }
    assert rendered.chart == {
        "apiVersion": "apps.clusternet.io/v1alpha1",
        "kind": "HelmChart",
        "metadata": {
            "name": "redis",
            "namespace": "apps",
            "labels": {"origin": "catalog", "env": "qa"},
            "annotations": {"owner": "sre"},
        },
        "spec": {
            "repo": "oci://mirror.example/charts",
            "chart": "redis",
            "version": "18.0.0",
            "targetNamespace": "cache",
        },
    }


@pytest.mark.parametrize(
    ("overrides", "expected_values"),
    [
        ([], {}),
        ([override("Helm", " ")], {}),
        ([override("Helm", {"a": 1}), override("Helm", {"a": None})], {}),
        (
            [
                override("MergePatch", {"a": {"b": 1}}),
                override("JSONPatch", [{"op": "add", "path": "/a/c", "value": 2}]),
            ],
            {"a": {"b": 1, "c": 2}},
        ),
    ],
)
def test_chart_values_start_empty(overrides: list[dict[str, Any]], expected_values: dict[str, Any]) -> None:
    """Release values start as an empty document that non-chart overrides act on."""
    assert apply_chart_overrides(chart(), overrides).values == expected_values


@pytest.mark.parametrize(
    "patch",
    [{"spec": None}, {"spec": "gone"}, {"spec": {"chart": None, "targetNamespace": None}}],
)
def test_chart_patches_cannot_remove_the_chart_identity(patch: dict[str, Any]) -> None:
    """Deleting or replacing spec, or nulling chart and targetNamespace, leaves them in place."""
    rendered = apply_chart_overrides(chart(), [override("Helm", patch, overrideChart=True)])
    assert (rendered.chart["spec"]["chart"], rendered.chart["spec"]["targetNamespace"]) == ("redis", "cache")


def test_later_chart_patch_can_delete_a_field_an_earlier_one_set() -> None:
    """overrideChart patches apply one by one, so a null deletes what an earlier patch added."""
    rendered = apply_chart_overrides(
        chart(),
        [
            override("Helm", {"metadata": {"labels": {"tmp": "1"}}}, overrideChart=True),
            override("Helm", {"metadata": {"labels": {"tmp": None, "origin": None}}}, overrideChart=True),
        ],
    )
    assert rendered.chart["metadata"]["labels"] == {}


# --------------------------------------------------------------------------------------------------------
# FieldJSONPatch / FieldMergePatch (upstream FieldPatch cases, own data)


def settings(**data: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": data}


@pytest.mark.parametrize(
    ("field", "field_override", "expected"),
    [
        (
            '{"workers": 2, "log": {"level": "info"}}',
            override(
                "FieldJSONPatch", [{"op": "add", "path": "/log/format", "value": "json"}], fieldFormat="JSON"
            ),
            '{\n    "log": {\n        "format": "json",\n        "level": "info"\n    },\n    "workers": 2\n}',
        ),
        (
            '{"workers": 2}',
            override("FieldMergePatch", {"workers": 4, "queue": ["a"]}, fieldFormat="JSON"),
            '{\n    "queue": [\n        "a"\n    ],\n    "workers": 4\n}',
        ),
        (
            "workers: 2\nlog:\n  level: info\nsince: 2024-05-01\n",
            override("FieldMergePatch", "log:\n  level: debug\nworkers: null\n", fieldFormat="YAML"),
            "log:\n  level: debug\nsince: '2024-05-01'\n",
        ),
        (
            "workers: 2\n",
            override(
                "FieldJSONPatch", [{"op": "replace", "path": "/workers", "value": 8}], fieldFormat="YAML"
            ),
            "workers: 8\n",
        ),
        (
            '{"workers": 2}',
            override(
                "FieldJSONPatch", [{"op": "replace", "path": "/missing", "value": 8}], fieldFormat="JSON"
            ),
            '{"workers": 2}',
        ),
        ("", override("FieldMergePatch", {"workers": 4}, fieldFormat="JSON"), ""),
    ],
)
def test_field_patches_rewrite_embedded_documents(
    field: str, field_override: dict[str, Any], expected: str
) -> None:
    """The embedded document is patched and written back (JSON with a 4-space indent, or YAML); empty fields stay."""
    field_override["fieldPath"] = "/data/app.conf"
    assert render(settings(**{"app.conf": field}), [field_override])["data"]["app.conf"] == expected


def test_field_path_may_index_into_arrays() -> None:
    """A fieldPath can step through array elements to reach the string field."""
    pod = {"spec": {"containers": [{"args": ["--x"]}, {"args": ['{"a": 1}']}]}}
    rendered = render(
        pod,
        [override("FieldMergePatch", {"b": 2}, fieldPath="/spec/containers/1/args/0", fieldFormat="JSON")],
    )
    assert json.loads(rendered["spec"]["containers"][1]["args"][0]) == {"a": 1, "b": 2}
    assert rendered["spec"]["containers"][0] == {"args": ["--x"]}


@pytest.mark.parametrize(
    ("obj", "extra", "reason"),
    [
        (settings(), {"fieldPath": "/data/absent", "fieldFormat": "JSON"}, "must hold a string, got missing"),
        ({"data": {"n": 3}}, {"fieldPath": "/data/n", "fieldFormat": "JSON"}, "got int"),
        ({"data": {"n": ["a"]}}, {"fieldPath": "/data/n/0/x", "fieldFormat": "JSON"}, "got missing"),
        (settings(conf="{broken"), {"fieldPath": "/data/conf", "fieldFormat": "JSON"}, "valid JSON"),
        (settings(conf="a: [1,"), {"fieldPath": "/data/conf", "fieldFormat": "YAML"}, "valid YAML"),
        (settings(conf="{}"), {"fieldPath": "/data/conf", "fieldFormat": ""}, "FieldFormatType"),
        (settings(conf="{}"), {"fieldPath": "/data/conf", "fieldFormat": "TOML"}, "FieldFormatType"),
        (settings(conf="{}"), {"fieldPath": "data/conf", "fieldFormat": "JSON"}, "should start with /"),
    ],
)
def test_field_patch_errors(obj: dict[str, Any], extra: dict[str, Any], reason: str) -> None:
    """Missing or non-string fields, unparsable embedded documents and bad field settings are errors."""
    with pytest.raises(OverrideError, match=reason):
        render(obj, [override("FieldMergePatch", {"k": 1}, **extra)])


# --------------------------------------------------------------------------------------------------------
# Values, types and error reporting


@pytest.mark.parametrize(
    ("value", "expected_data"),
    [
        ('{"data": {"when": "2024-01-01"}}', {"a": "1", "when": "2024-01-01"}),
        ("data:\n  when: 2024-01-01\n", {"a": "1", "when": "2024-01-01"}),
        ("data:\n  1: one\n  true: yes\n", {"a": "1", "1": "one", "true": True}),
    ],
)
def test_yaml_values_become_json_like_kubernetes_converts_them(
    value: str, expected_data: dict[str, Any]
) -> None:
    """Dates stay strings and non-string map keys become strings, as in Kubernetes' YAML-to-JSON conversion."""
    assert render(CONFIG, [override("MergePatch", value)])["data"] == expected_data


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (override("Strategic", {"a": 1}, name="bad type"), "unsupported OverrideType 'Strategic'"),
        ({"name": "no type", "value": "{}"}, "unsupported OverrideType ''"),
        (override("MergePatch", "a: [1,", name="bad yaml"), "failed to convert value to JSON"),
        (override("MergePatch", [1, 2], name="to list"), "must stay a JSON object"),
        (override("MergePatch", "null", name="to null"), "must stay a JSON object"),
        (override("Helm", "[1]", name="list values"), "must be a JSON/YAML object"),
        ({"name": "not text", "type": "MergePatch", "value": {"a": 1}}, "must be a string"),
    ],
)
def test_invalid_overrides_raise_override_error_naming_them(bad: dict[str, Any], reason: str) -> None:
    """Unknown types and unusable values fail with an OverrideError that names the override."""
    with pytest.raises(OverrideError, match=reason) as caught:
        render(CONFIG, [bad])
    assert caught.value.override_name == bad["name"]
    assert isinstance(caught.value, ClusternetError)


def test_empty_value_is_skipped_even_with_an_unknown_type() -> None:
    """As upstream, an empty value is skipped before its type is looked at."""
    assert render(CONFIG, [{"name": "x", "type": "Nope", "value": " "}]) == CONFIG


def test_first_failing_override_aborts_and_later_ones_are_not_reached() -> None:
    """Rendering stops at the first failing override, which is the one reported."""
    overrides = [
        override("MergePatch", {"data": {"b": "2"}}, name="fine"),
        override("Unknown", "x", name="first failure"),
        override("JSONPatch", "not a patch", name="second failure"),
    ]
    with pytest.raises(OverrideError, match='"first failure"'):
        render(CONFIG, overrides)


def test_compiled_overrides_can_be_reused_for_many_objects() -> None:
    """A compiled override applied to two different objects renders each of them correctly."""
    compiled = [compile_override(override("MergePatch", {"metadata": {"labels": {"env": "prod"}}}))]
    first = apply_overrides({"metadata": {"name": "a"}}, compiled)
    second = apply_overrides({"metadata": {"name": "b", "labels": {"x": "y"}}}, compiled)
    assert first == {"metadata": {"name": "a", "labels": {"env": "prod"}}}
    assert second == {"metadata": {"name": "b", "labels": {"x": "y", "env": "prod"}}}


def test_unstripped_rendering_keeps_server_fields_for_later_overrides() -> None:
    """With strip=False the server-owned fields survive, so later overrides can still read them."""
    partial = apply_overrides(job(), [], strip=False)
    assert partial["status"] == {"succeeded": 1}
    copied = apply_overrides(
        partial,
        [override("JSONPatch", [{"op": "copy", "from": "/metadata/uid", "path": "/metadata/labels/uid"}])],
    )
    assert copied["metadata"]["labels"]["uid"] == job()["metadata"]["uid"]
    assert "uid" not in copied["metadata"]
