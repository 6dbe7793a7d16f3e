"""JSON text of rendered objects that share most of their structure.

Overrides are applied copy-on-write (see ``overrides``): a cluster's Deployment is a new spine (the root,
``metadata``, ``spec``…) over subtrees that are the very objects of the feed or of another cluster's render.
Encoding each rendered object from scratch would re-serialize those shared subtrees once per cluster, which
costs more than rendering itself in a big fleet. This encoder remembers the text of every container it has
encoded, by identity, and splices it in wherever the same object appears again; only the spines are new work.

The text is byte for byte what ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
gives, so Descriptions stay comparable with ones encoded elsewhere.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["SharingJsonEncoder"]

_LEAF_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_encode_leaf = _LEAF_ENCODER.encode
_encode_key = json.encoder.encode_basestring  # C when available


_CONSTANTS: dict[Any, str] = {None: "null", True: "true", False: "false"}


def _encode_scalar(value: Any) -> str:
    """Strings and integers directly (the common leaves); anything else by json's own rules."""
    kind = type(value)
    if kind is str:
        return _encode_key(value)
    if kind is int:
        return int.__repr__(value)
    if kind is bool or value is None:
        return _CONSTANTS[value]
    return _encode_leaf(value)


class SharingJsonEncoder:
    """Encodes many objects; containers seen before (the same object, not an equal one) cost a lookup.

    The objects must not change while the encoder is in use: texts are remembered by identity. The encoder
    keeps every encoded container alive, so an identity is never reused for another object meanwhile.
    """

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Any, str]] = {}

    def encode(self, value: Any) -> str:
        kind = type(value)
        if kind is dict:
            remembered = self._texts.get(id(value))
            if remembered is not None:
                return remembered[1]
            text = self._encode_dict(value)
        elif kind is list:
            remembered = self._texts.get(id(value))
            if remembered is not None:
                return remembered[1]
            text = "[" + ",".join([self.encode(item) for item in value]) + "]"
        else:
            return _encode_scalar(value)
        self._texts[id(value)] = (value, text)
        return text

    def _encode_dict(self, node: dict[Any, Any]) -> str:
        for key in node:
            if type(key) is not str:
                return _encode_leaf(node)  # json's own rules for odd keys
        encode = self.encode
        return "{" + ",".join([_encode_key(key) + ":" + encode(node[key]) for key in sorted(node)]) + "}"
