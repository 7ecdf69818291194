"""Request messages: typed, validated views of a JSON body or query string.

MLflow parses requests with protobuf's ``ParseDict`` and then runs a per-handler "schema" of
validators. This module reproduces what a client can observe of that: snake_case and camelCase
field names (both at once is a 400), int64 fields given as numbers or decimal strings, doubles
given as numbers, numeric strings, ``"NaN"`` or ``"±Infinity"``, enums by name or number,
``true``/``false`` query booleans, repeated query keys, unknown fields ignored; a type error
anywhere wins over a missing field; absent, ``null`` and ``""`` all count as missing.

A request class is a frozen dataclass whose fields are declared with the helpers below::

    @dataclass(frozen=True, slots=True)
    class LogParam(Message):
        run_id: str = run_id_field()
        key: str = string(required=True)
        value: str = string(default="")

``await LogParam.from_request(request)`` returns an instance or raises ``InvalidParameter``.
Optional fields default to ``None`` (absent), so handlers can tell "absent" from "zero".
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self, TypeVar, cast

import orjson
from aiohttp import web

from aiotrack.api.bodies import read_json_bytes
from aiotrack.errors import InvalidParameter
from aiotrack.validation import invalid_value, missing_value

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "Message",
    "boolean",
    "double",
    "enum",
    "int64",
    "message",
    "read_json_body",
    "repeated_message",
    "repeated_string",
    "run_id_field",
    "string",
]

_TOO_DEEP = "Request body is nested too deeply (no request nests more than a few levels)."
Kind = Literal["string", "int64", "double", "bool", "enum", "message"]
_HINT = " See the API docs for more information about request parameters."
M = TypeVar("M", bound="Message")


@dataclasses.dataclass(frozen=True, slots=True)
class _Spec:
    kind: Kind
    required: bool = False
    repeated: bool = False
    enum_values: Mapping[str, int] | None = None
    message: type[Message] | None = None
    alias: str | None = None  # run_id also answers to the legacy run_uuid


def _field(spec: _Spec, default: Any) -> Any:
    if spec.repeated:
        return dataclasses.field(default_factory=list, metadata={"spec": spec})
    return dataclasses.field(default=default, metadata={"spec": spec})


def string(*, required: bool = False, default: str | None = None) -> Any:
    """A proto ``string`` field."""
    return _field(_Spec("string", required=required), default)


def run_id_field(*, required: bool = True) -> Any:
    """``run_id``, which also accepts the legacy ``run_uuid`` spelling of the same value."""
    return _field(_Spec("string", required=required, alias="run_uuid"), None)


def int64(*, required: bool = False, default: int | None = None) -> Any:
    """A proto ``int64``/``int32`` field: a JSON integer or a decimal string."""
    return _field(_Spec("int64", required=required), default)


def double(*, required: bool = False, default: float | None = None) -> Any:
    """A proto ``double``: a number, a numeric string, ``"NaN"`` or ``"(-)Infinity"``."""
    return _field(_Spec("double", required=required), default)


def boolean(*, default: bool | None = None) -> Any:
    return _field(_Spec("bool"), default)


def enum(values: Mapping[str, int], *, required: bool = False, default: int | None = None) -> Any:
    """A proto enum, given by name or number; parsed to its number."""
    return _field(_Spec("enum", required=required, enum_values=values), default)


def repeated_string(*, required: bool = False) -> Any:
    return _field(_Spec("string", required=required, repeated=True), None)


def message(cls: type[Message], *, required: bool = False) -> Any:
    return _field(_Spec("message", required=required, message=cls), None)


def repeated_message(cls: type[Message], *, required: bool = False) -> Any:
    return _field(_Spec("message", required=required, repeated=True, message=cls), None)


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    """A message field with its JSON spellings precomputed (parsing is on the hot path)."""

    name: str
    camel: str | None
    alias: str | None
    alias_camel: str | None
    spec: _Spec

    @classmethod
    def of(cls, name: str, spec: _Spec) -> _Field:
        camel = _camel(name)
        alias_camel = _camel(spec.alias) if spec.alias else None
        return cls(name, camel if camel != name else None, spec.alias, alias_camel, spec)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _TypeError(Exception):
    """A value that protobuf could not parse into the field's type."""


_INT_RE = re.compile(r"^-?\d+$")
#: The int64 range: protobuf refuses anything outside it, and every database column is 64-bit.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _convert(spec: _Spec, value: Any) -> Any:
    kind = spec.kind
    if kind == "string":
        if not isinstance(value, str):
            raise _TypeError
        return value
    if kind == "int64":
        if isinstance(value, bool):
            raise _TypeError
        if isinstance(value, int):
            integer = value
        elif isinstance(value, float) and value.is_integer() and abs(value) < 2.0**63:
            # orjson reads integers beyond 64 bits as floats: -2**63 - 1 arrives as -2.0**63,
            # which must not pass as the in-range -2**63.
            integer = int(value)
        elif isinstance(value, str) and len(value) <= 40 and _INT_RE.match(value.strip()):
            integer = int(value)
        else:
            raise _TypeError
        if not INT64_MIN <= integer <= INT64_MAX:
            raise _TypeError  # out of range: a 400 here, not an overflow in the database
        return integer
    if kind == "double":
        # A JSON boolean is taken as 1.0/0.0, as MLflow's parser does.
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            if value in _SPECIAL_FLOATS:
                return _SPECIAL_FLOATS[value]
            try:
                number = float(value)
            except ValueError:
                raise _TypeError from None
            if math.isnan(number) or math.isinf(number):
                raise _TypeError  # only the protobuf spellings are accepted
            return number
        raise _TypeError
    if kind == "bool":
        if not isinstance(value, bool):
            raise _TypeError
        return value
    if kind == "enum":
        assert spec.enum_values is not None
        if isinstance(value, str) and value in spec.enum_values:
            return spec.enum_values[value]
        if isinstance(value, int) and not isinstance(value, bool):
            if value in spec.enum_values.values():
                return value
        raise _TypeError
    assert spec.message is not None
    if not isinstance(value, dict):
        raise _TypeError
    return spec.message.from_json(value)


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or value == []


class Message:
    """Base class of request messages; subclasses are frozen dataclasses (see module doc)."""

    __slots__ = ()
    #: The HTTP method whose query string is parsed instead of a body (GET routes).
    _fields_cache: ClassVar[dict[type, tuple[_Field, ...]]] = {}

    @classmethod
    def _fields(cls) -> tuple[_Field, ...]:
        fields = Message._fields_cache.get(cls)
        if fields is None:
            fields = tuple(
                _Field.of(f.name, cast(_Spec, f.metadata["spec"]))
                for f in dataclasses.fields(cast(Any, cls))
                if "spec" in f.metadata
            )
            Message._fields_cache[cls] = fields
        return fields

    @classmethod
    def _specs(cls) -> list[tuple[str, _Spec]]:
        return [(f.name, f.spec) for f in cls._fields()]

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, path: str = "") -> Self:
        """Parse a decoded JSON object; raise ``InvalidParameter`` as MLflow would."""
        values: dict[str, Any] = {}
        type_error: tuple[str, Any] | None = None
        missing: str | None = None
        for f in cls._fields():
            name = f.name
            value = data.get(name)
            if f.camel is not None and f.camel in data:
                if name in data:
                    raise InvalidParameter(
                        f"Request specifies both '{name}' and '{f.camel}'; provide only one of them."
                    )
                value = data[f.camel]
            if value is None and f.alias is not None:
                value = data.get(f.alias, data.get(f.alias_camel or ""))
            if value is None or value == "" or value == []:
                if f.spec.required and missing is None:
                    missing = name
                if value is None:
                    continue
            spec = f.spec
            # Fast paths for the common, well-typed case; _convert handles the rest.
            kind = spec.kind
            if not spec.repeated:
                vtype = type(value)
                if (kind == "string" and vtype is str) or (
                    kind == "int64" and vtype is int and INT64_MIN <= value <= INT64_MAX
                ):
                    values[name] = value
                    continue
                if kind == "double" and (vtype is float or vtype is int):
                    values[name] = float(value)
                    continue
            try:
                if spec.repeated:
                    if not isinstance(value, list):
                        raise _TypeError
                    if kind == "message":
                        assert spec.message is not None
                        sub = spec.message.from_json
                        values[name] = [
                            sub(item) if type(item) is dict else _convert(spec, item)
                            for item in value
                        ]
                    else:
                        values[name] = [_convert(spec, item) for item in value]
                else:
                    values[name] = _convert(spec, value)
            except _TypeError:
                if type_error is None:
                    type_error = (name, value)
        if type_error is not None:
            name, value = type_error
            hint = f" Hint: Value was of type '{type(value).__name__}'."
            raise InvalidParameter(invalid_value(path + name, value, hint) + _HINT)
        if missing is not None:
            raise InvalidParameter(missing_value(path + missing) + _HINT)
        return cls(**values)

    @classmethod
    def from_query(cls, query: Mapping[str, str], getall: Any) -> Self:
        """Parse a GET query string: repeated keys for lists, ``true``/``false`` booleans."""
        data: dict[str, Any] = {}
        for name, spec in cls._specs():
            for key in (name, spec.alias):
                if key is None or key not in query:
                    continue
                if spec.repeated:
                    data[key] = list(getall(key))
                elif spec.kind == "bool":
                    text = query[key]
                    if text.lower() not in ("true", "false"):
                        raise InvalidParameter(
                            f"Invalid boolean value: {text}, must be 'true' or 'false'."
                        )
                    data[key] = text.lower() == "true"
                elif spec.kind == "enum" and query[key].lstrip("-").isdigit():
                    data[key] = int(query[key])
                else:
                    data[key] = query[key]
        return cls.from_json(data)

    @classmethod
    async def from_request(cls, request: web.Request) -> Self:
        """Parse the query string of a GET that has one, else the JSON body."""
        if request.method == "GET" and request.query_string:
            return cls.from_query(request.query, request.query.getall)
        return cls.from_json(await read_json_body(request))


async def read_json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, with MLflow's leniencies.

    POST and PUT must say ``Content-Type: application/json``. A body that is not valid JSON is
    treated as empty (MLflow reads it with ``silent=True``), a JSON string is decoded a second
    time (older clients double-encode), and an empty body is ``{}``.
    """
    if request.method in ("POST", "PUT"):
        content_type = request.headers.get("Content-Type")
        if content_type is None:
            raise InvalidParameter("Bad Request. Content-Type header is missing.")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise InvalidParameter("Bad Request. Content-Type must be one of ['application/json'].")
    body = await read_json_bytes(request)
    if not body:
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = _loads_lenient(body)
    if isinstance(data, str):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise InvalidParameter(
                "Request body is a JSON string that is not valid JSON."
            ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidParameter(f"Request body must be a JSON object, got {type(data).__name__}.")
    return data


def _loads_lenient(body: bytes) -> Any:
    """Fallback for what orjson refuses: bare ``NaN``/``Infinity`` literals, which Python clients
    send, are accepted; other invalid JSON is ``None`` (MLflow's ``silent=True``).

    orjson also refuses (so only this path can let them through) nesting deeper than 1024 and
    ``\\ud800``-style lone surrogate escapes: Python's parser accepts the latter and would hand
    the store a string no database driver can encode, and recurses on the former. Both are a 400
    here, in the parse step, before anything reaches a store.
    """
    import json

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    except RecursionError:
        raise InvalidParameter(_TOO_DEEP) from None
    try:
        orjson.dumps(data)  # the cheapest complete check for lone surrogates and depth
    except orjson.JSONEncodeError as exc:
        if "surrogates" in str(exc):
            raise InvalidParameter(
                "Request body holds a string that is not valid Unicode (a lone surrogate "
                "escape such as \\ud800)."
            ) from None
        if "Recursion" in str(exc):
            raise InvalidParameter(_TOO_DEEP) from None
        # Anything else (an integer beyond 64 bits) is left to the field checks.
    return data
