"""Small builders for structural OpenAPI v3 schemas, so the API definitions read like the Go types they mirror."""

from __future__ import annotations

from typing import Any

__all__ = [
    "Schema",
    "obj",
    "string",
    "integer",
    "number",
    "boolean",
    "array",
    "string_map",
    "byte_string",
    "preserve_unknown",
    "quantity",
    "date_time",
    "label_selector",
    "taint",
    "toleration",
    "condition",
]

Schema = dict[str, Any]


def obj(
    properties: dict[str, Schema] | None = None,
    *,
    required: tuple[str, ...] = (),
    description: str = "",
    preserve_unknown_fields: bool = False,
) -> Schema:
    schema: Schema = {"type": "object"}
    if description:
        schema["description"] = description
    if properties:
        schema["properties"] = properties
    if required:
        schema["required"] = list(required)
    if preserve_unknown_fields:
        schema["x-kubernetes-preserve-unknown-fields"] = True
    return schema


def _with(schema: Schema, **extra: Any) -> Schema:
    for key, value in extra.items():
        if value is not None:
            schema[key] = value
    return schema


def string(
    description: str = "",
    *,
    enum: tuple[str, ...] | None = None,
    default: str | None = None,
    pattern: str | None = None,
    max_length: int | None = None,
) -> Schema:
    schema: Schema = {"type": "string"}
    if description:
        schema["description"] = description
    return _with(
        schema,
        enum=list(enum) if enum else None,
        default=default,
        pattern=pattern,
        maxLength=max_length,
    )


def integer(
    description: str = "",
    *,
    fmt: str = "int32",
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
) -> Schema:
    schema: Schema = {"type": "integer", "format": fmt}
    if description:
        schema["description"] = description
    return _with(schema, minimum=minimum, maximum=maximum, default=default)


def number(description: str = "") -> Schema:
    schema: Schema = {"type": "number"}
    if description:
        schema["description"] = description
    return schema


def boolean(description: str = "", *, default: bool | None = None) -> Schema:
    schema: Schema = {"type": "boolean"}
    if description:
        schema["description"] = description
    return _with(schema, default=default)


def array(items: Schema, description: str = "") -> Schema:
    schema: Schema = {"type": "array", "items": items}
    if description:
        schema["description"] = description
    return schema


def string_map(description: str = "") -> Schema:
    schema: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
    if description:
        schema["description"] = description
    return schema


def byte_string(description: str = "") -> Schema:
    """A Go ``[]byte`` field: base64 on the wire."""
    schema: Schema = {"type": "string", "format": "byte"}
    if description:
        schema["description"] = description
    return schema


def preserve_unknown(description: str = "") -> Schema:
    """An embedded object whose shape the API does not constrain (a raw template, a child's status)."""
    schema: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if description:
        schema["description"] = description
    return schema


def quantity() -> Schema:
    """resource.Quantity: an integer or a string such as ``500m``."""
    return {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$",
        "x-kubernetes-int-or-string": True,
    }


def date_time(description: str = "") -> Schema:
    schema: Schema = {"type": "string", "format": "date-time"}
    if description:
        schema["description"] = description
    return schema


def label_selector(description: str = "") -> Schema:
    return obj(
        {
            "matchExpressions": array(
                obj(
                    {
                        "key": string(),
                        "operator": string(),
                        "values": array(string()),
                    },
                    required=("key", "operator"),
                )
            ),
            "matchLabels": string_map(),
        },
        description=description,
    )


def taint() -> Schema:
    return obj(
        {
            "effect": string("NoSchedule, PreferNoSchedule or NoExecute."),
            "key": string(),
            "timeAdded": date_time(),
            "value": string(),
        },
        required=("effect", "key"),
    )


def toleration() -> Schema:
    return obj(
        {
            "effect": string(),
            "key": string(),
            "operator": string(),
            "tolerationSeconds": integer(fmt="int64"),
            "value": string(),
        }
    )


def condition() -> Schema:
    """metav1.Condition."""
    return obj(
        {
            "lastTransitionTime": date_time(),
            "message": string(max_length=32768),
            "observedGeneration": integer(fmt="int64", minimum=0),
            "reason": string(max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
            "status": string(enum=("True", "False", "Unknown")),
            "type": string(max_length=316),
        },
        required=("lastTransitionTime", "message", "reason", "status", "type"),
    )
