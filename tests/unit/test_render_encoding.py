"""The sharing JSON encoder writes exactly what json.dumps writes, however the objects share structure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubectl_clusternet.core.render import encode_raw
from kubectl_clusternet.core.render.encoding import SharingJsonEncoder


def _reference(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


SHARED_TEMPLATE = {
    "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}
}

CASES: list[Any] = [
    {},
    [],
    "plain",
    'ünïcødé \u2028 "quoted" \\ tab\t',
    0,
    -17,
    2**70,
    1.5,
    1e-7,
    float("inf"),
    True,
    None,
    {"b": 1, "a": [1, "x", None, False, 2.0], "c": {"z": {}, "y": []}},
    {"spec": {"replicas": 3, "template": SHARED_TEMPLATE}, "metadata": {"name": "a"}},
    [SHARED_TEMPLATE, SHARED_TEMPLATE, {"t": SHARED_TEMPLATE}],
    {2: "b", 1: "a"},  # json's own rules for non-string keys
    {"nested": [[[{"deep": ["x"]}]]]},
]


@pytest.mark.parametrize("value", CASES, ids=[f"case-{i}" for i in range(len(CASES))])
def test_text_equals_json_dumps(value: Any) -> None:
    assert SharingJsonEncoder().encode(value) == _reference(value)


def test_a_reused_encoder_splices_shared_subtrees_correctly() -> None:
    """Many renders over one shared template, as copy-on-write overrides make them, in one encoder."""
    encoder = SharingJsonEncoder()
    renders = [
        {
            "metadata": {"name": f"app-{i}", "annotations": {"cluster": f"c{i}"}},
            "spec": {"replicas": i, "template": SHARED_TEMPLATE},
        }
        for i in range(50)
    ]
    assert [encoder.encode(r) for r in renders] == [_reference(r) for r in renders]
    assert encode_raw(renders) == encode_raw([json.loads(_reference(r)) for r in renders])
