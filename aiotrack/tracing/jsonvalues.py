"""JSON helpers that give exactly the text and values MLflow's ``json`` calls give, faster.

MLflow stores every span attribute as JSON text (``dump_span_attribute_value``) and decodes it
with ``json.loads`` wherever it needs a value. Where only the *kind* or the truthiness of a
decoded value matters, ``loads`` tries orjson first; orjson refuses what it cannot decode
exactly like the standard library (NaN, lone surrogates, very deep nesting), and those fall back
to ``json.loads`` so the outcome, error included, is the standard library's. Where the decoded
value itself is used, the standard library decodes (orjson turns integers beyond 64 bits into
floats).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dump_attribute", "dumps_content", "encode_string", "loads", "try_json_loads"]

# json.dumps(..., cls=TraceJSONEncoder, ensure_ascii=False): only bytes (from OTLP bytes values)
# reach ``default`` here, and TraceJSONEncoder turns them into str(obj), e.g. "b'\\x00'".
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
encode_string = json.encoder.encode_basestring  # the C encoder json.dumps uses for a str


def dumps_content(value: Any) -> str:
    """``json.dumps(value, cls=TraceJSONEncoder, ensure_ascii=False)``, byte for byte."""
    return _ENCODER.encode(value)


def dump_attribute(value: Any) -> str:
    """MLflow's ``dump_span_attribute_value``: the JSON text a span attribute is stored as."""
    if isinstance(value, str):
        return encode_string(value)
    try:
        return _ENCODER.encode(value)
    except (ValueError, TypeError):
        return encode_string(repr(value))


def loads(text: str | bytes) -> Any:
    """``json.loads(text)``, through orjson when it can decode it (see the module docstring).

    Only for callers that look at the kind or the truthiness of the value: orjson reads an
    integer beyond 64 bits as a float.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def try_json_loads(value: Any) -> Any:
    """MLflow's ``try_json_loads``: the decoded value, or ``value`` itself if it is not JSON."""
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return value
