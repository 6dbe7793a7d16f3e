"""Apply OverrideConfigs (from Globalizations and Localizations) to feed objects.

Semantics follow upstream Clusternet's localizer (reference §7.4): overrides run in order, the first
failing one aborts, empty values are skipped, values may be YAML or JSON, and the server-owned fields
``/metadata/managedFields``, ``/metadata/uid`` and ``/status`` are always removed at the end.

Why copy-on-write: one render call may produce thousands of objects (clusters × feeds), and deep-copying
each feed object per cluster would dominate the cost. Every step here copies only the containers on the
path it changes, so a result shares its untouched sub-trees with the input object (and, for values taken
from an override, with the parsed override). Inputs are never mutated; **treat results as read-only**, or
deep-copy them before changing them in place.

Deliberate differences from upstream, each because upstream's documentation promises otherwise:

* the server-owned fields are stripped from rendered objects and HelmCharts, never from Helm *values*
  (upstream also deletes a top-level ``status`` key from chart values);
* ``overrideChart`` patches are applied to the HelmChart one by one, so a ``null`` in a later patch really
  deletes the field (upstream first merges the patches with each other, which loses such deletions);
* a JSON pointer that does not start with ``/`` is reported as an error instead of being treated as a
  missing path;
* the values of a HelmChart start as ``{}`` rather than as nothing, so a JSONPatch on them is applied
  (upstream skips it) and a MergePatch merges (upstream replaces);
* a Field* override with an invalid ``fieldFormat`` fails even when its field happens to be empty.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import jsonpatch
import yaml

from kubectl_clusternet.core.render.errors import OverrideError

# jsonpointer comes with jsonpatch (a declared dependency); take it from there rather than import a package
# pyproject does not list.
JsonPointer = jsonpatch.JsonPointer
JsonPointerException = jsonpatch.JsonPointerException

__all__ = [
    "OverrideError",
    "OVERRIDE_TYPES",
    "FIELD_FORMATS",
    "MAX_JSON_PATCH_OPERATIONS",
    "SERVER_OWNED_PATHS",
    "CHART_IDENTITY_FIELDS",
    "CompiledOverride",
    "ChartRendering",
    "compile_override",
    "override_signature",
    "apply_overrides",
    "apply_chart_overrides",
    "merge_patch",
    "coalesce_values",
    "strip_server_fields",
]

HELM: Final = "Helm"
JSON_PATCH: Final = "JSONPatch"
MERGE_PATCH: Final = "MergePatch"
FIELD_JSON_PATCH: Final = "FieldJSONPatch"
FIELD_MERGE_PATCH: Final = "FieldMergePatch"
OVERRIDE_TYPES: Final = (HELM, JSON_PATCH, MERGE_PATCH, FIELD_JSON_PATCH, FIELD_MERGE_PATCH)
FIELD_FORMATS: Final = ("JSON", "YAML")

#: Upstream's cap on one JSON patch, so a hostile Localization cannot make rendering arbitrarily slow.
MAX_JSON_PATCH_OPERATIONS: Final = 10000

#: Removed from every rendered object (by ``_strip``): the child cluster owns these, and copying them only
#: bloats the Description (and a stale uid or status would be rejected or ignored by the child anyway).
SERVER_OWNED_PATHS: Final = (("metadata", "managedFields"), ("metadata", "uid"), ("status",))

#: An ``overrideChart`` patch may not change which chart is installed or where.
CHART_IDENTITY_FIELDS: Final = ("chart", "targetNamespace")

_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
# Embedded JSON is written back like Go's json.MarshalIndent(v, "", "    "), as upstream does.
_EMBEDDED_JSON_INDENT: Final = 4


# --------------------------------------------------------------------------------------------------------
# Parsing override values


class _JsonCompatibleLoader(yaml.SafeLoader):
    """A SafeLoader whose results are always JSON-compatible: timestamps stay strings, as they do in
    Kubernetes' own YAML-to-JSON conversion (PyYAML would turn ``2024-01-01`` into a ``date``)."""


_JsonCompatibleLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    # Keys are turned into strings *while* the map is built: afterwards 1 and true would already have
    # collided (they are equal in Python).
    loader.flatten_mapping(node)
    return {
        _yaml_key(loader.construct_object(key, deep=True)): loader.construct_object(value, deep=True)
        for key, value in node.value
    }


_JsonCompatibleLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _yaml_key(key: Any) -> str:
    """Map keys the way Kubernetes' YAML-to-JSON conversion does: every key becomes a string."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, (int, float)):
        return json.dumps(key)
    raise ValueError(f"unsupported YAML map key {key!r}")


def _json_compatible(value: Any) -> Any:
    if isinstance(value, dict):
        return {_yaml_key(key): _json_compatible(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_compatible(item) for item in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise ValueError(f"unsupported YAML value of type {type(value).__name__}")


def _parse_document(text: str) -> Any:
    """JSON first (fast and exact), YAML otherwise; raises ValueError with a readable reason."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        pass
    try:
        loaded = yaml.load(text, Loader=_JsonCompatibleLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid JSON or YAML: {exc}") from exc
    return _json_compatible(loaded)


def _dump_yaml(value: Any) -> str:
    # No line folding: an embedded config must round-trip byte-stable apart from formatting.
    return yaml.safe_dump(
        value, default_flow_style=False, sort_keys=True, allow_unicode=True, width=2**31 - 1
    )


def _dump_embedded_json(value: Any) -> str:
    # Sorted keys and a 4-space indent: what upstream writes back (Go marshals maps with sorted keys).
    return json.dumps(value, indent=_EMBEDDED_JSON_INDENT, sort_keys=True, ensure_ascii=False)


# --------------------------------------------------------------------------------------------------------
# Copy-on-write bookkeeping


class _Owned:
    """Containers created during one render, which may therefore be changed in place.

    Ids are only compared while the objects are kept alive here, so an id can never be reused by an
    unrelated (input) container during the render.
    """

    __slots__ = ("_objects",)

    def __init__(self) -> None:
        self._objects: dict[int, Any] = {}

    def has(self, container: Any) -> bool:
        return id(container) in self._objects

    def adopt(self, container: Any) -> Any:
        self._objects[id(container)] = container
        return container

    def absorb(self, other: _Owned) -> None:
        """Take over what ``other`` owns (once its tentative changes are accepted)."""
        self._objects.update(other._objects)

    def writable(self, container: Any) -> Any:
        """``container`` itself when owned, else an owned shallow copy of it."""
        if id(container) in self._objects:
            return container
        copied = dict(container) if isinstance(container, dict) else list(container)
        self._objects[id(copied)] = copied
        return copied


def _array_index(token: str, length: int) -> int | None:
    if _ARRAY_INDEX.fullmatch(token):
        index = int(token)
        if index < length:
            return index
    return None


def _child(node: Any, token: str) -> tuple[bool, Any]:
    """``(True, value)`` when ``token`` names an existing member or element of ``node``."""
    if isinstance(node, dict):
        if token in node:
            return True, node[token]
        return False, None
    if isinstance(node, list):
        index = _array_index(token, len(node))
        if index is not None:
            return True, node[index]
    return False, None


def _own_parent(root: Any, tokens: Sequence[str], owned: _Owned) -> tuple[Any, Any]:
    """Make ``root`` and every existing container along ``tokens`` owned.

    Returns the (possibly new) root and the owned container ``tokens`` lead to, or ``None`` when the path
    does not exist or ends at a scalar: the operation that follows then meets a missing path, and the
    caller decides what that means.
    """
    if not isinstance(root, (dict, list)):
        return root, None
    root = owned.writable(root)
    node = root
    for token in tokens:
        found, child = _child(node, token)
        if not found or not isinstance(child, (dict, list)):
            return root, None
        if not owned.has(child):
            child = owned.writable(child)
            if isinstance(node, dict):
                node[token] = child
            else:
                node[int(token)] = child
        node = child
    return root, node


def _own_path(root: Any, tokens: Sequence[str], owned: _Owned) -> Any:
    return _own_parent(root, tokens, owned)[0]


def _resolve(root: Any, tokens: Sequence[str]) -> tuple[bool, Any]:
    node = root
    for token in tokens:
        found, node = _child(node, token)
        if not found:
            return False, None
    return True, node


# --------------------------------------------------------------------------------------------------------
# Merge patch (RFC 7386) and Helm coalescing


def _merge(target: Any, patch: Any, owned: _Owned) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = owned.writable(target) if isinstance(target, dict) else owned.adopt({})
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value, owned)
    return result


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, ``null`` deletes, anything else replaces.

    Neither argument is changed; the result shares unchanged sub-trees with ``target``.
    """
    return _merge(target, patch, _Owned())


def _coalesce(current: dict[str, Any], override: Mapping[str, Any], owned: _Owned) -> dict[str, Any]:
    result: dict[str, Any] = owned.writable(current)
    for key, value in override.items():
        if value is None:
            # Helm: a null in the override deletes the key it would override (and is kept otherwise).
            if key in result:
                del result[key]
            else:
                result[key] = None
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _coalesce(result[key], value, owned)
        else:
            result[key] = value
    return result


def coalesce_values(current: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm-style value coalescing: maps merge recursively, the override wins everywhere else, and a
    ``null`` in the override removes the key from ``current``. Neither argument is changed."""
    owned = _Owned()
    return _coalesce(owned.adopt(dict(current)), override, owned)


# --------------------------------------------------------------------------------------------------------
# JSON patch (RFC 6902) with upstream's "missing path leaves the object unchanged" rule


_NO_VALUE: Final = object()
#: Operations applied by our own copy-on-write code; the others go through the jsonpatch library.
_FAST_OPS: Final = ("add", "remove", "replace")


class _PatchStep(NamedTuple):
    operation: jsonpatch.PatchOperation
    op: str
    path: tuple[str, ...]
    source: tuple[str, ...] | None  # the ``from`` of move/copy
    value: Any  # ``_NO_VALUE`` when the operation has none


class _NotApplied(Exception):
    """The patch hit a missing path; the document stays as it was."""


def _compile_json_patch(payload: Any) -> tuple[_PatchStep, ...]:
    if not isinstance(payload, list):
        raise ValueError("a JSON patch must be a list of operations")
    if len(payload) > MAX_JSON_PATCH_OPERATIONS:
        raise ValueError(
            f"the allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
            f"got {len(payload)}"
        )
    try:
        patch = jsonpatch.JsonPatch(payload)
        steps = []
        for raw in patch.patch:
            op = str(raw["op"])
            operation = jsonpatch.JsonPatch.operations[op](raw)
            source: tuple[str, ...] | None = None
            if op in ("move", "copy"):
                if "from" not in raw:
                    raise ValueError(f"the {op} operation does not contain a 'from' member")
                source = tuple(JsonPointer(raw["from"]).parts)
            path = tuple(operation.pointer.parts)
            steps.append(_PatchStep(operation, op, path, source, raw.get("value", _NO_VALUE)))
    except (jsonpatch.JsonPatchException, JsonPointerException, TypeError) as exc:
        raise ValueError(f"invalid JSON patch: {exc}") from exc
    return tuple(steps)


def _hits_missing_path(doc: Any, step: _PatchStep) -> bool:
    """Whether ``step`` failed on ``doc`` because a location it needs does not exist.

    Missing means: the parent of ``path`` cannot be reached (absent member, index past the end, or a
    scalar in the way); for remove/replace/test the target itself is absent; for move/copy ``from`` cannot
    be resolved. Other failures (a failed test, an insert past the end of an array, a malformed index,
    moving a value into its own child) are errors.
    """
    if step.path:
        found, parent = _resolve(doc, step.path[:-1])
        if not found or not isinstance(parent, (dict, list)):
            return True
        if step.op in ("remove", "replace", "test") and not _child(parent, step.path[-1])[0]:
            return True
    if step.source is not None:
        return not _resolve(doc, step.source)[0]
    return False


def _json_copy(value: Any) -> Any:
    """A deep copy of JSON data (several times faster than ``copy.deepcopy`` for it)."""
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


def _where(step: _PatchStep) -> str:
    return f"{step.op} {step.operation.location!r}"


def _apply_fast(doc: Any, step: _PatchStep, owned: _Owned) -> Any:
    """add/remove/replace with copy-on-write, with the results and failures the jsonpatch library (plus
    :func:`_hits_missing_path`) gives; the unit tests compare the two on a table of cases."""
    if step.op != "remove" and step.value is _NO_VALUE:
        raise ValueError(f"{_where(step)}: the operation does not contain a 'value' member")
    if not step.path:
        if step.op == "remove":
            raise ValueError(f"{_where(step)}: can't remove the whole document")
        return _json_copy(step.value)
    doc, parent = _own_parent(doc, step.path[:-1], owned)
    if parent is None:
        raise _NotApplied
    last = step.path[-1]
    if isinstance(parent, dict):
        if step.op == "add":
            parent[last] = _json_copy(step.value)
        elif last not in parent:
            raise _NotApplied
        elif step.op == "replace":
            parent[last] = _json_copy(step.value)
        else:
            del parent[last]
        return doc
    if step.op == "add":
        if last == "-":
            parent.append(_json_copy(step.value))
        elif not _ARRAY_INDEX.fullmatch(last):
            raise ValueError(f"{_where(step)}: {last!r} is not a valid sequence index")
        elif int(last) > len(parent):
            raise ValueError(f"{_where(step)}: can't insert outside of list")
        else:
            parent.insert(int(last), _json_copy(step.value))
        return doc
    if step.op == "replace" and last == "-":
        raise ValueError(f"{_where(step)}: 'path' with '-' can't be applied to 'replace' operation")
    index = _array_index(last, len(parent))
    if index is None:
        raise _NotApplied
    if step.op == "replace":
        parent[index] = _json_copy(step.value)
    else:
        del parent[index]
    return doc


def _apply_with_library(doc: Any, step: _PatchStep, owned: _Owned) -> Any:
    if step.op != "test":
        doc = _own_path(doc, step.path[:-1], owned)
        if step.op == "move" and step.source is not None:
            doc = _own_path(doc, step.source[:-1], owned)
    try:
        return step.operation.apply(doc)
    except (jsonpatch.JsonPatchConflict, jsonpatch.JsonPatchTestFailed, JsonPointerException) as exc:
        if _hits_missing_path(doc, step):
            raise _NotApplied from exc
        raise ValueError(f"{_where(step)}: {exc}") from exc
    except (jsonpatch.JsonPatchException, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"{_where(step)}: {exc}") from exc


def _apply_step(doc: Any, step: _PatchStep, owned: _Owned, *, fast: bool = True) -> Any:
    if fast and step.op in _FAST_OPS:
        return _apply_fast(doc, step, owned)
    return _apply_with_library(doc, step, owned)


def _apply_json_patch(doc: Any, steps: Sequence[_PatchStep], owned: _Owned) -> Any:
    for step in steps:
        doc = _apply_step(doc, step, owned)
    return doc


def _json_patch_or_unchanged(doc: Any, steps: Sequence[_PatchStep], owned: _Owned) -> Any:
    """Apply a whole patch or nothing of it.

    A multi-operation patch works on copies of its own (even of containers the render already owns), so
    a later operation hitting a missing path leaves ``doc`` as it was. A single operation (other than
    move, which removes before it adds) fails before changing anything, so it can skip that.
    """
    if len(steps) == 1 and steps[0].op != "move":
        try:
            return _apply_step(doc, steps[0], owned)
        except _NotApplied:
            return doc
    tentative = _Owned()
    try:
        patched = _apply_json_patch(doc, steps, tentative)
    except _NotApplied:
        return doc
    owned.absorb(tentative)
    return patched


# --------------------------------------------------------------------------------------------------------
# Compiled overrides


@dataclass(frozen=True)
class CompiledOverride:
    """One OverrideConfig, parsed once so it can be applied to many objects.

    Compiling never raises: a broken override carries its ``problem`` and fails when it is applied,
    so the *first* failing override in order is the one reported, as upstream does.
    """

    name: str
    type: str
    skip: bool = False
    payload: Any = None
    override_chart: bool = False
    field_path: tuple[str, ...] = ()
    field_format: str = ""
    steps: tuple[_PatchStep, ...] = ()
    problem: str | None = None

    def fail(self, reason: str) -> OverrideError:
        return OverrideError(self.name, reason)


def override_signature(override: Mapping[str, Any]) -> tuple[Any, ...]:
    """Everything about an OverrideConfig that affects its result or its error message: two overrides
    with equal signatures render identically, so their compiled form and results can be shared."""
    signature = (
        override.get("name"),
        override.get("type"),
        override.get("value"),
        bool(override.get("overrideChart")),
        override.get("fieldPath"),
        override.get("fieldFormat"),
    )
    try:
        hash(signature)
    except TypeError:  # a malformed override with a list or map somewhere; rare, so the slow way
        return (json.dumps(signature, sort_keys=True, default=repr),)
    return signature


def compile_override(override: Mapping[str, Any]) -> CompiledOverride:
    """Parse an OverrideConfig dict (``name``, ``type``, ``value``, ``overrideChart``, ``fieldPath``,
    ``fieldFormat``) into a reusable :class:`CompiledOverride`."""
    name = str(override.get("name") or "")
    kind = str(override.get("type") or "")
    value = override.get("value")
    # Upstream skips empty values before it even looks at the type.
    if value is None or (isinstance(value, str) and not value.strip()):
        return CompiledOverride(name=name, type=kind, skip=True)
    if kind not in OVERRIDE_TYPES:
        return CompiledOverride(name=name, type=kind, problem=f"unsupported OverrideType {kind!r}")
    if not isinstance(value, str):
        return CompiledOverride(name=name, type=kind, problem="value must be a string holding YAML or JSON")
    try:
        payload = _parse_document(value)
    except ValueError as exc:
        return CompiledOverride(name=name, type=kind, problem=f"failed to convert value to JSON: {exc}")

    try:
        if kind == HELM:
            override_chart = bool(override.get("overrideChart"))
            if not isinstance(payload, dict):
                what = "a merge patch for the HelmChart" if override_chart else "Helm values"
                raise ValueError(f"{what} must be a JSON/YAML object")
            return CompiledOverride(name=name, type=kind, payload=payload, override_chart=override_chart)
        if kind == JSON_PATCH:
            return CompiledOverride(name=name, type=kind, steps=_compile_json_patch(payload))
        if kind == MERGE_PATCH:
            return CompiledOverride(name=name, type=kind, payload=payload)
        # FieldJSONPatch / FieldMergePatch
        field_format = str(override.get("fieldFormat") or "")
        if field_format not in FIELD_FORMATS:
            raise ValueError(f"unsupported FieldFormatType {field_format!r} (want JSON or YAML)")
        field_path = str(override.get("fieldPath") or "")
        if not field_path.startswith("/"):
            raise ValueError(f"invalid fieldPath {field_path!r}, should start with /")
        tokens = tuple(JsonPointer(field_path).parts)
        steps = _compile_json_patch(payload) if kind == FIELD_JSON_PATCH else ()
        return CompiledOverride(
            name=name, type=kind, payload=payload, field_path=tokens, field_format=field_format, steps=steps
        )
    except (ValueError, JsonPointerException) as exc:
        return CompiledOverride(name=name, type=kind, problem=str(exc))


def _compiled(overrides: Iterable[Mapping[str, Any] | CompiledOverride]) -> Iterable[CompiledOverride]:
    for override in overrides:
        yield override if isinstance(override, CompiledOverride) else compile_override(override)


# --------------------------------------------------------------------------------------------------------
# Applying


def _field_patch(doc: Any, override: CompiledOverride, owned: _Owned) -> Any:
    found, current = _resolve(doc, override.field_path)
    if not found or not isinstance(current, str):
        kind = "missing" if not found else type(current).__name__
        path = "".join("/" + token.replace("~", "~0").replace("/", "~1") for token in override.field_path)
        raise override.fail(f"field {path} must hold a string, got {kind}")
    if not current:
        return doc
    try:
        embedded = (
            json.loads(current, parse_constant=_reject_constant)
            if override.field_format == "JSON"
            else _json_compatible(yaml.load(current, Loader=_JsonCompatibleLoader))
        )
    except (ValueError, yaml.YAMLError) as exc:
        raise override.fail(f"field does not hold valid {override.field_format}: {exc}") from exc

    if override.type == FIELD_JSON_PATCH:
        try:
            patched = _apply_json_patch(embedded, override.steps, _Owned())
        except _NotApplied:
            return doc
        except ValueError as exc:
            raise override.fail(str(exc)) from exc
    else:
        patched = merge_patch(embedded, override.payload)
    text = _dump_embedded_json(patched) if override.field_format == "JSON" else _dump_yaml(patched)

    doc = _own_path(doc, override.field_path[:-1], owned)
    parent = _resolve(doc, override.field_path[:-1])[1]
    last = override.field_path[-1] if override.field_path else ""
    if isinstance(parent, dict):
        parent[last] = text
    else:
        parent[int(last)] = text
    return doc


def _apply_one(doc: Any, override: CompiledOverride, owned: _Owned) -> Any:
    """One non-chart override on a JSON document (a feed object, or a chart's values)."""
    if override.type == HELM:
        if not isinstance(doc, dict):
            raise override.fail("Helm values can only be merged into a JSON object")
        return _coalesce(doc, override.payload, owned)
    if override.type == JSON_PATCH:
        try:
            return _json_patch_or_unchanged(doc, override.steps, owned)
        except ValueError as exc:
            raise override.fail(str(exc)) from exc
    if override.type == MERGE_PATCH:
        return _merge(doc, override.payload, owned)
    return _field_patch(doc, override, owned)


def _strip(doc: dict[str, Any], owned: _Owned) -> dict[str, Any]:
    metadata = doc.get("metadata")
    strip_metadata = isinstance(metadata, dict) and ("managedFields" in metadata or "uid" in metadata)
    if "status" not in doc and not strip_metadata:
        return doc
    doc = owned.writable(doc)
    doc.pop("status", None)
    if strip_metadata:
        metadata = owned.writable(metadata)
        metadata.pop("managedFields", None)
        metadata.pop("uid", None)
        doc["metadata"] = metadata
    return doc


def strip_server_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without ``/metadata/managedFields``, ``/metadata/uid`` and ``/status`` (missing ones are
    fine). ``obj`` is not changed."""
    owned = _Owned()
    return _strip(owned.adopt(dict(obj)), owned)


def _require_object(doc: Any, override: CompiledOverride, what: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise override.fail(f"the result must stay a JSON object, but the {what} became {type(doc).__name__}")
    return doc


def _check_applicable(override: CompiledOverride) -> bool:
    """False when the override is to be skipped; raises for a broken one."""
    if override.problem is not None:
        raise override.fail(override.problem)
    return not override.skip


def apply_overrides(
    obj: Mapping[str, Any],
    overrides: Iterable[Mapping[str, Any] | CompiledOverride],
    *,
    strip: bool = True,
) -> dict[str, Any]:
    """Render one feed object (a Manifest template) for one cluster.

    ``overrides`` are OverrideConfig dicts (or compiled ones) in application order: Globalizations first,
    then Localizations, each by ascending priority (see ``selectors.collect_overrides``). A ``Helm``
    override deep-merges into the object itself. Raises :class:`OverrideError` at the first failing one.
    ``strip=False`` keeps the server-owned fields, for a result that further overrides will be applied to
    (``render_all`` caches such shared prefixes); strip once at the very end, as later overrides may still
    read those fields.
    """
    owned = _Owned()
    doc: dict[str, Any] = owned.adopt(dict(obj))
    for override in _compiled(overrides):
        if _check_applicable(override):
            doc = _require_object(_apply_one(doc, override, owned), override, "object")
    return _strip(doc, owned) if strip else doc


class ChartRendering(NamedTuple):
    """A HelmChart feed rendered for one cluster: the chart object and the Helm values for its release."""

    chart: dict[str, Any]
    values: dict[str, Any]


def _chart_patch(override: CompiledOverride) -> dict[str, Any]:
    patch: dict[str, Any] = dict(override.payload)
    if "spec" not in patch:
        return patch
    spec = patch["spec"]
    if not isinstance(spec, dict):
        # Replacing or deleting spec as a whole would change the chart name or target namespace.
        del patch["spec"]
        return patch
    patch["spec"] = {key: value for key, value in spec.items() if key not in CHART_IDENTITY_FIELDS}
    return patch


def apply_chart_overrides(
    chart: Mapping[str, Any], overrides: Iterable[Mapping[str, Any] | CompiledOverride]
) -> ChartRendering:
    """Render a HelmChart feed for one cluster.

    ``Helm`` overrides coalesce into the release values (starting empty; later overrides win); with
    ``overrideChart: true`` the value is a merge patch on the HelmChart itself, minus ``spec.chart`` and
    ``spec.targetNamespace``. The other types act on the values document, as upstream's do.
    """
    owned = _Owned()
    chart_doc: dict[str, Any] = owned.adopt(dict(chart))
    values: dict[str, Any] = owned.adopt({})
    for override in _compiled(overrides):
        if not _check_applicable(override):
            continue
        if override.type == HELM and override.override_chart:
            chart_doc = _require_object(_merge(chart_doc, _chart_patch(override), owned), override, "chart")
        else:
            values = _require_object(_apply_one(values, override, owned), override, "values")
    return ChartRendering(_strip(chart_doc, owned), values)
