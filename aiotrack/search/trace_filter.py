"""Parse MLflow trace search filters and ``order_by`` entries into a small AST.

The language is MLflow 3.18's ``SearchTraceUtils`` (``mlflow.utils.search_utils``) together with
the checks its SQL store makes while compiling (``_get_filter_clauses_for_search_traces``,
``_get_orderby_clauses_for_search_traces``), so every filter MLflow rejects is rejected here
with the same 400 ``INVALID_PARAMETER_VALUE`` message, and in the same order: all syntax and
value errors of the filter first, then each clause's comparator checks in filter order.

Identifiers are ``[prefix.]key``; the prefixes are ``tag``/``tags``, ``attribute``/
``attributes``/``trace``/none, ``request_metadata``/``metadata``, ``span``, ``feedback``,
``expectation`` and ``issue``. After parsing, MLflow's search-key mapping applies to every
prefix but ``span``, on the lower-cased key: ``name`` -> tag ``mlflow.traceName``, ``prompt`` ->
tag ``mlflow.linkedPrompts``, ``run_id`` -> metadata ``mlflow.sourceRun``, ``text`` -> span
``content``, ``timestamp``/``execution_time``/``end_time`` -> their ``_ms`` attributes (so
``tags.name`` is the trace name too, as in MLflow). Where MLflow answers 500 (a tuple compared
with ``=``, a non-numeric string compared with a timestamp), this module answers a clear 400.
The scanner is the run-filter parser's (:mod:`aiotrack.search.parser`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from aiotrack.errors import InvalidParameter
from aiotrack.search._sqlparse_words import SQL_KEYWORDS
from aiotrack.search.limits import (
    MAX_FILTER_CLAUSES,
    check_filter_length,
    check_order_by_count,
    too_many_clauses,
)
from aiotrack.search.parser import _Ident, _Lit, _Scanner, _strip_quotes, _Syntax

__all__ = [
    "ANALYTICS_METADATA_KEYS",
    "LINKED_PROMPTS_TAG",
    "SOURCE_RUN_METADATA",
    "TRACE_NAME_TAG",
    "TRACE_SESSION_METADATA",
    "TraceClause",
    "TraceEntity",
    "TraceOrder",
    "TraceValue",
    "parse_trace_filter",
    "parse_trace_order_by",
]

#: What a clause is about, named as MLflow names it (``request_metadata`` is trace metadata).
TraceEntity = Literal[
    "attribute", "tag", "request_metadata", "span", "feedback", "expectation", "issue"
]
#: A clause's right-hand side: ``None`` for ``IS [NOT] NULL``, a tuple for ``IN``/``NOT IN``, a
#: number for numeric attributes and numeric assessment comparisons, else the raw string.
TraceValue = str | int | float | tuple[str, ...] | None

TRACE_NAME_TAG = "mlflow.traceName"
LINKED_PROMPTS_TAG = "mlflow.linkedPrompts"
SOURCE_RUN_METADATA = "mlflow.sourceRun"
TRACE_SESSION_METADATA = "mlflow.trace.session"
#: Metadata MLflow stores as columns of ``trace_info`` (token usage and cost), by key.
ANALYTICS_METADATA_KEYS = frozenset({"mlflow.trace.tokenUsage", "mlflow.trace.cost"})


@dataclass(frozen=True, slots=True)
class TraceClause:
    """One validated ``<entity>.<key> <op> <value>`` clause, after MLflow's key mapping.

    ``op`` is upper case (``RLIKE`` included); ``key`` of a ``span`` clause is ``name``,
    ``type``, ``status``, ``content`` or ``attributes.<name>`` (the name as written, backticks
    kept, as MLflow keeps them until it compiles the clause).
    """

    entity: TraceEntity
    key: str
    op: str
    value: TraceValue


@dataclass(frozen=True, slots=True)
class TraceOrder:
    """One ``order_by`` entry: an attribute, tag or metadata key; ascending unless ``DESC``."""

    entity: Literal["attribute", "tag", "request_metadata"]
    key: str
    ascending: bool


# --- MLflow's vocabulary (SearchTraceUtils) ----------------------------------------------------

_VALID_IDENTIFIERS = frozenset({
    "tag", "request_metadata", "attribute", "span", "feedback", "expectation", "issue",
    "tags", "attributes", "trace", "metadata",
})  # fmt: skip
_ALTERNATE_IDENTIFIERS = {
    "tags": "tag",
    "attributes": "attribute",
    "trace": "attribute",
    "metadata": "request_metadata",
}
_SEARCH_ATTRIBUTE_KEYS = frozenset({
    "request_id", "timestamp", "timestamp_ms", "execution_time", "execution_time_ms",
    "end_time", "end_time_ms", "status", "client_request_id", "name", "run_id", "prompt", "text",
})  # fmt: skip
_ORDER_BY_ATTRIBUTE_KEYS = frozenset({
    "experiment_id", "timestamp", "timestamp_ms", "execution_time", "execution_time_ms",
    "end_time", "end_time_ms", "status", "request_id", "name", "run_id",
})  # fmt: skip
_NUMERIC_ATTRIBUTES = frozenset({
    "timestamp_ms", "timestamp", "execution_time_ms", "execution_time", "end_time_ms", "end_time",
})  # fmt: skip
_IN_ATTRIBUTES = frozenset({"name", "status", "request_id", "run_id", "client_request_id"})

_NUMERIC_OPS = frozenset({">", ">=", "!=", "=", "<", "<="})
_TAG_OPS = frozenset({"!=", "=", "LIKE", "ILIKE", "RLIKE", "IS NULL", "IS NOT NULL"})
_STRING_ATTRIBUTE_OPS = frozenset({"!=", "=", "IN", "NOT IN", "LIKE", "ILIKE", "RLIKE"})
_SPAN_OPS = _STRING_ATTRIBUTE_OPS
_METADATA_OPS = _TAG_OPS
_NUMERIC_ASSESSMENT_OPS = frozenset({">", ">=", "<", "<="})
_ASSESSMENT_OPS = _NUMERIC_ASSESSMENT_OPS | _TAG_OPS
_SPAN_COLUMNS = frozenset({"name", "type", "status"})
_SPAN_CONTENT_OPS = frozenset({"LIKE", "ILIKE"})
_ANALYTICS_OPS = frozenset({"=", "!=", "IS NULL", "IS NOT NULL"})

_KEY_TO_TAG = {"name": TRACE_NAME_TAG, "prompt": LINKED_PROMPTS_TAG}
_KEY_TO_METADATA = {"run_id": SOURCE_RUN_METADATA}
_KEY_TO_ATTRIBUTE = {
    "timestamp": "timestamp_ms",
    "execution_time": "execution_time_ms",
    "end_time": "end_time_ms",
}

_NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})
_LIST_OPS = frozenset({"IN", "NOT IN"})
#: sqlparse reads these bare words as SQL names, not identifiers; MLflow accepts only
#: ``timestamp <op> <integer>`` of them (and ``timestamp [ASC|DESC]`` in order_by).
_BUILTIN_WORDS = frozenset({"timestamp", "text"})
_QUOTE_CHARS = re.compile(r"[`'\"]")
_DOTTED_PREFIX = re.compile(r"\w+\.(?:\w+\.)*(?=[\s<>=!]|$)")


def _fmt(items: Iterable[str]) -> str:
    """A set as MLflow prints it, sorted so the message is stable across processes."""
    return "{" + ", ".join(repr(i) for i in sorted(items)) + "}"


def _bad_comparator(
    op: str, valid: frozenset[str], *, closing_quote: bool = True
) -> InvalidParameter:
    # Some of MLflow's messages lack the closing quote; they are reproduced as they are.
    end = "'" if closing_quote else ""
    return InvalidParameter(f"Invalid comparator '{op}' not one of '{_fmt(valid)}{end}")


# --- identifiers ------------------------------------------------------------------------------


def _entity(prefix: str | None) -> TraceEntity:
    if prefix is None:
        return "attribute"
    if len(prefix) >= 2 and prefix[0] == prefix[-1] == "`":
        prefix = prefix[1:-1]
    if prefix not in _VALID_IDENTIFIERS:
        raise InvalidParameter(
            f"Invalid entity type '{prefix}'. Valid values are {_fmt(_VALID_IDENTIFIERS)}"
        )
    return _ALTERNATE_IDENTIFIERS.get(prefix, prefix)  # type: ignore[return-value]


def _identifier(ident: _Ident, valid_attributes: frozenset[str]) -> tuple[TraceEntity, str]:
    """MLflow's ``_get_identifier``: the entity and the unquoted key, before key mapping. Like
    MLflow, it splits the text as written at its first dot, backticks or not."""
    prefix, dot, key = ident.text.partition(".")
    if not dot:
        prefix, key = "", prefix
    entity = _entity(prefix if dot else None)
    key = _strip_quotes(key)
    if entity == "attribute" and key not in valid_attributes:
        raise InvalidParameter(
            f"Invalid attribute key '{key}' specified. Valid keys are '{_fmt(valid_attributes)}'"
        )
    return entity, key


def _mapped(entity: TraceEntity, key: str) -> tuple[TraceEntity, str]:
    """MLflow's ``_replace_key_to_tag_or_metadata`` (every prefix but ``span``)."""
    if entity == "span":
        return entity, key
    lower = key.lower()
    if lower in _KEY_TO_TAG:
        return "tag", _KEY_TO_TAG[lower]
    if lower in _KEY_TO_METADATA:
        return "request_metadata", _KEY_TO_METADATA[lower]
    if lower == "text":
        return "span", "content"
    return entity, _KEY_TO_ATTRIBUTE.get(lower, key)


def _check_span(key: str, op: str) -> None:
    """MLflow's ``is_span`` checks. While parsing, MLflow checks the comparator as written, so
    a lower-case ``like`` is refused there; the store checks it again upper-cased."""
    if key.startswith("attributes."):
        if not key[len("attributes.") :]:
            raise InvalidParameter("Span attribute name cannot be empty after 'attributes.'")
        valid = _SPAN_OPS
    elif key in _SPAN_COLUMNS:
        valid = _SPAN_OPS
    elif key == "content":
        valid = _SPAN_CONTENT_OPS
    else:
        raise InvalidParameter(
            f"Invalid span attribute '{key}'. Supported attributes: "
            f"{', '.join(sorted(_SPAN_COLUMNS))}, attributes.<attribute_name>."
        )
    if op not in valid:
        raise InvalidParameter(f"span.{key} comparator '{op}' not one of '{_fmt(valid)}'")


# --- values -----------------------------------------------------------------------------------


def _quoted(lit: _Lit) -> str:
    if lit.kind == "string" and lit.text[0] in "'\"":
        return lit.text[1:-1]
    raise InvalidParameter(
        "Parameter value is either not quoted or unidentified quote types used for string "
        f"value {lit.text}. Use either single or double quotes."
    )


def _is_stringish(lit: _Lit) -> bool:
    # sqlparse reads quoted strings, and bare or backticked words (identifiers), as strings.
    return lit.kind in ("string", "word")


def _list(lit: _Lit) -> tuple[str, ...]:
    if lit.mixed:
        raise InvalidParameter(
            "While parsing a list in the query, expected string value, punctuation, "
            f"or whitespace, but got different type in list: {lit.text}"
        )
    if not lit.items:
        raise InvalidParameter(
            "While parsing a list in the query, expected a non-empty list of string "
            "values, but got empty list"
        )
    return tuple(item[1:-1] for item in lit.items)


def _number(lit: _Lit) -> int | float:
    text = lit.text
    return float(text) if any(c in text for c in ".eE") else int(text)


def _value(entity: TraceEntity, key: str, op: str, lit: _Lit) -> TraceValue:
    """MLflow's ``_validate_assessment_comparison_value`` and ``_get_value`` (``key`` as
    written, before key mapping)."""
    if entity in ("feedback", "expectation"):
        numeric = op in _NUMERIC_ASSESSMENT_OPS
        if (lit.kind == "number") != numeric or lit.kind == "list":
            raise InvalidParameter(
                f"Expected a numeric value for {entity} when using comparator '{op}'. "
                f"Got value {lit.text}"
                if numeric
                else f"Expected a quoted string value for {entity} (e.g. 'my-value'). "
                f"Got value {lit.text}"
            )
        return _number(lit) if numeric else _quoted(lit)
    if _is_stringish(lit):
        return _quoted(lit)
    if entity in ("tag", "span") and lit.kind == "list":
        return _list(lit)
    if entity == "attribute":
        if lit.kind == "list":
            if key not in _IN_ATTRIBUTES:
                raise InvalidParameter(
                    f"Only attributes in {_fmt(_IN_ATTRIBUTES)} supports comparison with a "
                    "list of quoted string values."
                )
            return _list(lit)
        if key not in _NUMERIC_ATTRIBUTES:
            raise InvalidParameter(
                f"Only the '{_fmt(_NUMERIC_ATTRIBUTES)}' attributes support comparison with "
                "numeric values."
            )
        return _number(lit)
    raise InvalidParameter(
        f"Expected a quoted string value for {entity} (e.g. 'my-value'). Got value {lit.text}"
    )


# --- filter -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parsed:
    entity: TraceEntity
    key: str
    op: str  # as written for single-word comparators (MLflow reports some unnormalised)
    value: TraceValue


@dataclass(frozen=True, slots=True)
class _Scanned:
    """One clause as scanned: either its parts, or the tokens MLflow would list as invalid."""

    ident: _Ident | None = None
    op: str = ""  # canonical: upper case, single spaces
    written: str = ""  # as written, for single-word comparators
    lit: _Lit | None = None
    timestamp: int | None = None  # ``timestamp <op> <integer>``, already understood
    invalid: tuple[str, ...] = ()


def _clause_tokens(scanner: _Scanner, first: str) -> list[str]:
    """``first`` and the rest of the clause, split into tokens as sqlparse splits them (for
    MLflow's "Invalid clause(s)" message)."""
    tokens = [first]
    op_start = scanner.pos
    op = scanner.read_op()
    if op is None:
        return tokens
    written = scanner.text[op_start : scanner.pos].split()
    if op == "IS NOT NULL":
        tokens += [written[0], " ".join(written[1:])]
    else:
        tokens += written
    if op not in _NULL_OPS and not scanner.at_end():
        value_start = scanner.pos
        try:
            scanner.read_value()
        except _Syntax as e:
            tokens.append(e.fragment)
            return tokens
        tokens.append(scanner.text[value_start : scanner.pos])
    return tokens


def _read_identifier(scanner: _Scanner) -> _Ident:
    """The scanner's identifier, or one ending in a dot (``feedback.``, ``span.attributes.``),
    which sqlparse reads as an identifier with an empty last part."""
    scanner.at_end()
    m = _DOTTED_PREFIX.match(scanner.text, scanner.pos)
    if m is None:
        return scanner.read_identifier()
    scanner.pos = m.end()
    text = m.group()
    prefix, _, key = text.partition(".")
    return _Ident(prefix, key, text)


def _is_sql_word(key: str) -> bool:
    lower = key.lower()
    return lower in _BUILTIN_WORDS or lower in SQL_KEYWORDS


def _scan_clause(scanner: _Scanner) -> _Scanned:
    """Read one clause. Raises :class:`_Syntax` where the text does not scan at all; clauses
    that scan but that sqlparse does not group into a comparison come back ``invalid``."""
    ident = _read_identifier(scanner)
    if ident.prefix is None and _is_sql_word(ident.key):
        # sqlparse reads these as SQL names: only ``timestamp <op> <integer>`` is understood.
        after_ident = scanner.pos
        op = scanner.read_op()
        if ident.key == "timestamp" and op in _NUMERIC_OPS and not scanner.at_end():
            try:
                lit = scanner.read_value()
            except _Syntax:
                lit = None
            if lit is not None and lit.kind == "number" and not any(c in lit.text for c in ".eE"):
                return _Scanned(op=op or "", written=op or "", timestamp=int(lit.text))
        scanner.pos = after_ident
        tokens = _clause_tokens(scanner, ident.key)
        if ident.key == "timestamp" and len(tokens) >= 3:
            tokens.insert(3, ident.key)  # MLflow's token joiner lists it again after 3 tokens
        return _Scanned(invalid=tuple(tokens))
    op_start = scanner.pos
    op = scanner.read_op()
    if op is None:
        raise _Syntax(ident.text)
    written = scanner.text[op_start : scanner.pos].strip()
    if op in _NULL_OPS:
        return _Scanned(ident, op, op)
    if scanner.at_end():
        # sqlparse groups no comparison without a right side: its two tokens stay apart.
        return _Scanned(invalid=(ident.text, written))
    value_start = scanner.pos
    lit = scanner.read_value()
    if op in _LIST_OPS and lit.kind != "list":
        # sqlparse joins IN only with a parenthesised list; MLflow lists the loose tokens.
        words = written.split()
        return _Scanned(invalid=(ident.text, *words, scanner.text[value_start : scanner.pos]))
    # MLflow keeps a one-word comparator as written; its joined NOT IN is upper case.
    return _Scanned(ident, op, op if " " in op else written, lit)


def _parsed(c: _Scanned) -> _Parsed:
    """MLflow's ``_get_comparison`` for a clause that scanned: identifier, value, key mapping
    and (for spans) the comparator, in that order."""
    if c.timestamp is not None:
        return _Parsed("attribute", "timestamp_ms", c.op, c.timestamp)
    assert c.ident is not None
    entity, key = _identifier(c.ident, _SEARCH_ATTRIBUTE_KEYS)
    if c.lit is None:  # IS [NOT] NULL
        entity, key = _mapped(entity, key)
        return _Parsed(entity, key, c.op, None)
    value = _value(entity, key, c.written, c.lit)
    if entity == "span":  # before mapping: ``text`` becomes a span key only afterwards
        _check_span(key, c.written)
    entity, key = _mapped(entity, key)
    return _Parsed(entity, key, c.written, value)


def _validated(p: _Parsed) -> TraceClause:
    """The checks MLflow's SQL store makes on a parsed clause while compiling it."""
    op = p.op.upper()
    entity, key, value = p.entity, p.key, p.value
    if entity == "issue":
        if key != "id":
            raise InvalidParameter(f"Invalid issue attribute '{key}'. Supported attributes: id")
        if op != "=":
            raise InvalidParameter(f"issue.{key} comparator '{op}' not one of '{{'='}}'")
    elif entity == "attribute":
        if key in _NUMERIC_ATTRIBUTES:
            if op not in _NUMERIC_OPS:
                # MLflow names the string comparators here, without the closing quote.
                raise _bad_comparator(op, _STRING_ATTRIBUTE_OPS, closing_quote=False)
            value = _numeric_attribute_value(key, value)
        elif op not in _STRING_ATTRIBUTE_OPS:
            raise _bad_comparator(op, _STRING_ATTRIBUTE_OPS)
    elif entity == "tag":
        if op not in _TAG_OPS:
            raise _bad_comparator(op, _TAG_OPS, closing_quote=False)
        if key == LINKED_PROMPTS_TAG:
            if op != "=":
                raise InvalidParameter(
                    f"Invalid comparator '{op}' for prompts filter. "
                    "Only '=' is supported with format: prompt = \"name/version\""
                )
            if str(value).count("/") != 1:
                raise InvalidParameter(
                    f"Invalid prompts filter value '{value}'. "
                    'Expected format: prompt = "name/version"'
                )
    elif entity == "request_metadata":
        if op not in _METADATA_OPS:
            raise _bad_comparator(op, _METADATA_OPS)
        if key in ANALYTICS_METADATA_KEYS and op not in _ANALYTICS_OPS:
            raise InvalidParameter(
                f"Comparator '{op}' is not supported for reserved metadata '{key}'. "
                "Only '=', '!=', 'IS NULL', and 'IS NOT NULL' are supported."
            )
    elif entity == "span":
        _check_span(key, op)
    else:  # feedback, expectation
        if not key:
            raise InvalidParameter("Assessment field name cannot be empty")
        if op not in _ASSESSMENT_OPS:
            raise InvalidParameter(
                f"assessment.{key} comparator '{op}' not one of '{_fmt(_ASSESSMENT_OPS)}'"
            )
    return TraceClause(entity, key, op, value)


def _numeric_attribute_value(key: str, value: TraceValue) -> TraceValue:
    # MLflow binds a quoted number as it is and lets the database convert it; a string that is
    # no number is a 500 there (or compares as text on SQLite).
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                raise InvalidParameter(
                    f"Invalid value for numeric attribute '{key}': '{value}'"
                ) from None
    return value


def parse_trace_filter(filter_string: str | None) -> list[TraceClause]:
    """Parse and validate a trace search filter; ``None`` or blank -> ``[]``.

    Raises InvalidParameter with MLflow's message on any error, and (before parsing further) on
    a filter past the bounds of :mod:`aiotrack.search.limits`.
    """
    if not filter_string:
        return []
    check_filter_length(filter_string)
    scanner = _Scanner(filter_string)
    scanned: list[_Scanned] = []
    try:
        while not scanner.at_end():
            if scanner.peek() == ";":
                if filter_string[scanner.pos + 1 :].strip():
                    raise InvalidParameter(
                        f"Search filter contained multiple expression {filter_string!r}. "
                        "Provide AND-ed expression list."
                    )
                raise _Syntax(";")
            word = scanner.peek_word()
            if word is not None and word.upper() == "AND":
                scanner.read_word()
            elif word is not None and word.upper() in ("OR", "NOT", "IN", "IS", "NULL", "LIKE"):
                raise _Syntax(word)
            else:
                if len(scanned) >= MAX_FILTER_CLAUSES:
                    raise too_many_clauses()
                scanned.append(_scan_clause(scanner))
    except _Syntax as e:
        raise InvalidParameter(f"Invalid clause(s) in filter string: '{e.fragment}'") from None
    invalid = [token for c in scanned for token in c.invalid]
    if invalid:  # MLflow checks the whole statement's grouping before any clause
        raise InvalidParameter(
            "Invalid clause(s) in filter string: " + ", ".join(f"'{t}'" for t in invalid)
        )
    clauses = [_validated(p) for p in [_parsed(c) for c in scanned]]
    for c in clauses:
        if isinstance(c.value, tuple) and c.op not in _LIST_OPS:
            # MLflow compares the column with a tuple and fails in the database (a 500), once
            # every clause has passed its checks.
            raise InvalidParameter(
                f"Invalid comparator '{c.op}' for a list of values; use 'IN' or 'NOT IN'"
            )
    return clauses


# --- order_by ---------------------------------------------------------------------------------


def _order_entry(entry: str) -> TraceOrder:
    unparsable = InvalidParameter(f"Invalid order_by clause '{entry}'. Could not be parsed.")
    scanner = _Scanner(entry)
    try:
        if scanner.at_end():
            raise unparsable
        ident = scanner.read_identifier()
    except _Syntax:
        raise unparsable from None
    # sqlparse reads a bare SQL word as no identifier; of them only ``timestamp [ASC|DESC]``
    # is understood.
    builtin = ident.prefix is None and _is_sql_word(ident.key)
    if builtin and ident.key != "timestamp":
        raise unparsable
    ascending = True
    if not scanner.at_end():
        direction = scanner.read_word()
        if direction is None:
            raise unparsable
        if direction.lower() not in ("asc", "desc"):
            if builtin:
                raise unparsable
            raise InvalidParameter(f"Invalid ordering key in order_by clause '{entry}'.")
        ascending = direction.lower() == "asc"
        if not scanner.at_end():
            raise unparsable
    # With a direction, MLflow splits the entry with shlex (backticks read as double quotes),
    # which drops the quotes before it splits the identifier at its first dot.
    unquoted = (
        ident.text if scanner.text.strip() == ident.text else _QUOTE_CHARS.sub("", ident.text)
    )
    entity, key = _mapped(*_identifier(_Ident(None, unquoted, unquoted), _ORDER_BY_ATTRIBUTE_KEYS))
    if entity == "request_metadata" and key in ANALYTICS_METADATA_KEYS:
        raise InvalidParameter(
            f"Ordering by reserved metadata '{key}' is not supported because it is "
            "represented by multiple columns."
        )
    if entity not in ("attribute", "tag", "request_metadata"):
        raise InvalidParameter(f"Invalid identifier type '{entity}'")
    return TraceOrder(entity, key, ascending)


def parse_trace_order_by(order_by: Sequence[str] | None) -> list[TraceOrder]:
    """Parse trace ``order_by`` entries (``"<identifier> [ASC|DESC]"``), MLflow's way.

    Entries are checked one after the other, each fully (syntax, key, sortability, then
    repetition: ``order_by`` may not name a key twice) before the next. No tie-breakers are
    appended. Raises InvalidParameter with MLflow's message.
    """
    entries = list(order_by or ())
    check_order_by_count(entries)
    result: list[TraceOrder] = []
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        order = _order_entry(entry)
        if (order.entity, order.key) in seen:
            raise InvalidParameter(f"`order_by` contains duplicate fields: {entries}")
        seen.add((order.entity, order.key))
        result.append(order)
    return result
