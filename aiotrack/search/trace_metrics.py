"""Parse the ``filters`` of ``QueryTraceMetrics``: one ``<view>.<entity>[.<key>] = '<value>'``
clause per string, as MLflow 3.18's ``SearchTraceMetricsUtils`` accepts them::

    trace.status = 'OK'                      trace.tag.<key> = 'v'
    trace.metadata.mlflow.trace.session = 's' span.name = 'llm'   span.type = 'LLM'
    span.status = 'ERROR'                    assessment.name = 'x'  assessment.type = 'feedback'

The key is everything after the second dot (``trace.metadata.a.b`` has key ``a.b``) and may be
quoted or backticked; the value must be a quoted string, kept as written between the quotes (no
unescaping, as in MLflow). Only ``=`` is supported. Every refusal is
:class:`aiotrack.errors.InvalidParameter` with MLflow's wording; where MLflow's tokenizer
(sqlparse) splits malformed text differently, the message lists this scanner's tokens instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiotrack.errors import InvalidParameter

__all__ = ["VIEW_ENTITIES", "MetricsFilter", "parse_metrics_filter"]

#: Each view's filterable entities, and whether the entity takes a key (``trace.tag.<key>``).
VIEW_ENTITIES: dict[str, dict[str, bool]] = {
    "trace": {"status": False, "tag": True, "metadata": True},
    "span": {"name": False, "status": False, "type": False},
    "assessment": {"name": False, "type": False},
}


@dataclass(frozen=True, slots=True)
class MetricsFilter:
    """One parsed clause: ``view`` is ``trace``/``span``/``assessment``; ``key`` is None for
    entities that take none."""

    view: str
    entity: str
    key: str | None
    value: str


_SEGMENT = r"""(?:\w+|`[^`]*`|"(?:[^"\\]|\\.|"")*"|'(?:[^'\\]|\\.|'')*')"""
_TOKEN = re.compile(
    rf"""
      (?P<number>-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
    | (?P<ident>{_SEGMENT}(?:\.{_SEGMENT})+|\w+|`[^`]*`)
    | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
    | (?P<op>[<>=!]+)
    | (?P<group>\()
    | (?P<other>\S)
    """,
    re.VERBOSE,
)
#: Word comparators sqlparse groups into a comparison (refused: only ``=`` is supported).
_WORD_OPS = frozenset({"LIKE", "ILIKE"})
_KEYWORDS = frozenset({"AND", "OR", "NOT"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number | ident | string | op | group | other
    text: str


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return tokens
        match = _TOKEN.match(text, pos)
        assert match is not None  # ``other`` matches any non-blank character
        kind = match.lastgroup or "other"
        end = match.end()
        if kind == "group":  # a parenthesised group is one (invalid) clause, as in sqlparse
            depth = 0
            for end in range(pos, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            end += 1
        tokens.append(_Token(kind, text[pos:end]))
        pos = end


def _is_op(token: _Token) -> bool:
    return token.kind == "op" or (token.kind == "ident" and token.text.upper() in _WORD_OPS)


def _is_operand(token: _Token) -> bool:
    return token.kind in ("number", "ident", "string") and token.text.upper() not in _KEYWORDS


def _split(tokens: list[_Token]) -> tuple[list[tuple[_Token, _Token, _Token]], list[str]]:
    """The ``identifier op value`` triples of ``tokens``, and every token outside them."""
    comparisons: list[tuple[_Token, _Token, _Token]] = []
    leftovers: list[str] = []
    i = 0
    while i < len(tokens):
        window = tokens[i : i + 3]
        if (
            len(window) == 3
            and window[0].kind == "ident"
            and _is_operand(window[0])
            and _is_op(window[1])
            and _is_operand(window[2])
        ):
            comparisons.append((window[0], window[1], window[2]))
            i += 3
        else:
            leftovers.append(tokens[i].text)
            i += 1
    return comparisons, leftovers


def _unquote(text: str) -> str | None:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return None


def _trim_backticks(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "`" else text


def _comparison(identifier: str, op: str, value: _Token) -> MetricsFilter:
    parts = identifier.split(".", 2)
    if len(parts) < 2:
        raise InvalidParameter(
            f"Invalid identifier {identifier!r}. Columns should be specified as "
            "'trace.<key>', 'span.<key>', 'assessment.<key>'."
        )
    view, entity = _trim_backticks(parts[0]), parts[1]
    key = parts[2] if len(parts) == 3 else None
    if view not in VIEW_ENTITIES:
        raise InvalidParameter(
            f"Invalid view type '{view}'. Valid values are dict_keys({list(VIEW_ENTITIES)})"
        )
    entities = VIEW_ENTITIES[view]
    if entity not in entities:
        raise InvalidParameter(
            f"Invalid entity '{entity}' specified for view type '{view}'. "
            f"Valid entities are {list(entities)}"
        )
    if entities[entity] and key is None:
        raise InvalidParameter(
            f"Filtering by {entity} requires a key, e.g. '{view}.{entity}.<key> = <value>'"
        )
    if not entities[entity] and key is not None:
        raise InvalidParameter(
            f"Filtering by {entity} does not require a key, use '{view}.{entity}' instead"
        )
    if key is not None:
        unquoted = _unquote(key)
        key = _trim_backticks(key if unquoted is None else unquoted)
    if op != "=":
        raise InvalidParameter(f"Invalid comparator: '{op}', only '=' operator is supported")
    if value.kind == "number":
        raise InvalidParameter(
            f"Expected a quoted string value for {entity} value (e.g. 'my-value'). "
            f"Got value {value.text}"
        )
    unquoted = _unquote(value.text)
    if unquoted is None:  # a bare word or a backticked name (an identifier to sqlparse)
        raise InvalidParameter(
            "Parameter value is either not quoted or unidentified quote types used for string "
            f"value {value.text}. Use either single or double quotes."
        )
    return MetricsFilter(view, entity, key, unquoted)


def parse_metrics_filter(filter_string: str) -> MetricsFilter:
    """The one clause of ``filter_string``; ``InvalidParameter`` for anything else."""
    if filter_string and filter_string.isspace():
        raise InvalidParameter(f"Invalid filter '{filter_string}'. Could not be parsed.")
    comparisons, leftovers = _split(_tokens(filter_string))
    if leftovers:
        raise InvalidParameter(f"Invalid clause(s) in filter string: {', '.join(leftovers)}")
    parsed = [_comparison(i.text, o.text, v) for i, o, v in comparisons]
    if len(parsed) != 1:
        raise InvalidParameter(f"Invalid filter: '{filter_string}'. Expected one filter clause.")
    return parsed[0]
