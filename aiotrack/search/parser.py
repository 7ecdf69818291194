"""Parse MLflow search filters and ``order_by`` clauses into the :mod:`aiotrack.search.ast` nodes.

The accepted language is MLflow 3.17's (``mlflow.utils.search_utils``), re-implemented with a
small hand-written scanner instead of ``sqlparse``::

    filter     := { comparison | AND }            -- ANDs may be missing, doubled or dangling,
                                                     as MLflow tolerates; OR/NOT/(...) are errors
    comparison := identifier op value | identifier IS [NOT] NULL
    identifier := [prefix "."] key                -- no blanks around the dots
    key        := segment { "." segment }         -- `tags.mlflow.runName` has key mlflow.runName
    segment    := word | `backticked` | "double-quoted" | 'single-quoted' (not as the prefix)
    value      := 'string' | "string" | number | "(" string { "," string } [","] ")"
    order_by   := identifier [ASC | DESC]

What a kind of resource (runs, experiments, ...) accepts -- its prefixes, attribute names,
aliases, comparators and value types -- is data: a :class:`~aiotrack.search.grammar.Grammar`
table in :mod:`aiotrack.search.grammar`, so supporting registered models or logged models means
adding a table, not code. Every error is :class:`aiotrack.errors.InvalidParameter` with MLflow's
wording (where MLflow answers 500 or accepts nonsense, we answer a clear 400).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from aiotrack.errors import InvalidParameter
from aiotrack.search.ast import Comparison, ComparisonValue, Op, OrderBy
from aiotrack.search.grammar import (
    EXPERIMENT_GRAMMAR,
    LIST_OPS,
    LOGGED_MODEL_GRAMMAR,
    MODEL_VERSION_GRAMMAR,
    MODEL_VERSION_ORDER_GRAMMAR,
    NULL_OPS,
    REGISTERED_MODEL_GRAMMAR,
    REGISTERED_MODEL_ORDER_GRAMMAR,
    RUN_GRAMMAR,
    EntitySpec,
    FieldSpec,
    Grammar,
)
from aiotrack.search.limits import (
    MAX_FILTER_CLAUSES,
    MAX_IN_VALUES,
    check_filter_length,
    check_order_by_count,
    too_many_clauses,
    too_many_in_values,
)

__all__ = [
    "parse_experiment_filter",
    "parse_experiment_order_by",
    "parse_filter",
    "parse_logged_model_filter",
    "parse_model_version_filter",
    "parse_model_version_order_by",
    "parse_order_by",
    "parse_registered_model_filter",
    "parse_registered_model_order_by",
    "parse_run_filter",
    "parse_run_order_by",
]

_OPS: Mapping[str, Op] = {op: op for op in get_args(Op)}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# --------------------------------------------------------------------------------------------
# Scanner
# --------------------------------------------------------------------------------------------


class _Syntax(Exception):
    """Internal: the text does not scan; ``fragment`` is the offending piece of it."""

    def __init__(self, fragment: str) -> None:
        super().__init__(fragment)
        self.fragment = fragment


@dataclass(frozen=True, slots=True)
class _Ident:
    prefix: str | None  # raw, as written (backticks kept)
    key: str  # raw, as written (quotes kept)
    text: str


@dataclass(frozen=True, slots=True)
class _Lit:
    kind: Literal["string", "number", "word", "list"]
    text: str  # as written
    items: tuple[str, ...] = ()  # a list's quoted items, quotes included
    mixed: bool = False  # a list with items that are not quoted strings


_WORD = re.compile(r"\w+")
_OP_CHARS = re.compile(r"[<>=!]+")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_WORDISH = re.compile(r"[\w.]+")
_TOKEN = re.compile(r"\S+")
_LIST_ATOM = re.compile(r"[^\s,()'\"]+")
_QUOTES = "'\"`"


class _Scanner:
    """A cursor over the text; every ``read_*`` skips leading whitespace."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.list_items = 0  # values read in lists so far, bounded by MAX_IN_VALUES

    def at_end(self) -> bool:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return "" if self.at_end() else self.text[self.pos]

    def peek_word(self) -> str | None:
        m = _WORD.match(self.text, self.pos) if not self.at_end() else None
        return m.group() if m else None

    def read_word(self) -> str | None:
        word = self.peek_word()
        if word is not None:
            self.pos += len(word)
        return word

    def fragment(self) -> str:
        """The token at the cursor, for an error message; a whole group if it is ``(...)``."""
        self.at_end()
        if self.text.startswith("(", self.pos):
            depth = 0
            for i in range(self.pos, len(self.text)):
                depth += {"(": 1, ")": -1}.get(self.text[i], 0)
                if depth == 0:
                    return self.text[self.pos : i + 1]
            return self.text[self.pos :]
        m = _TOKEN.match(self.text, self.pos)
        return m.group() if m else ""

    def _quoted(self) -> str:
        """Read a quoted token at the cursor, quotes included. A doubled quote or a backslash
        escapes the next character (the escape is kept as written, as MLflow does)."""
        text, start = self.text, self.pos
        quote = text[start]
        i = start + 1
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
            elif c == quote and text.startswith(quote * 2, i):
                i += 2
            elif c == quote:
                self.pos = i + 1
                return text[start : i + 1]
            else:
                i += 1
        raise _Syntax(text[start:])

    def read_identifier(self) -> _Ident:
        """``[prefix.]key``; raises :class:`_Syntax` if none starts at the cursor."""
        start = self.pos
        segments: list[str] = []
        while True:
            c = self.text[self.pos : self.pos + 1]
            if c and c in _QUOTES and (segments or c != "'"):
                segments.append(self._quoted())
            elif (m := _WORD.match(self.text, self.pos)) is not None:
                segments.append(m.group())
                self.pos = m.end()
            else:
                self.pos = start
                raise _Syntax(self.fragment())
            if not self.text.startswith(".", self.pos):
                break
            self.pos += 1
        text = self.text[start : self.pos]
        if len(segments) == 1:
            return _Ident(None, segments[0], text)
        return _Ident(segments[0], text[len(segments[0]) + 1 :], text)

    def read_op(self) -> str | None:
        """A comparator, upper-cased with single spaces (``is  not null`` -> ``IS NOT NULL``)."""
        if self.at_end():
            return None
        if (m := _OP_CHARS.match(self.text, self.pos)) is not None:
            self.pos = m.end()
            return m.group()
        word = self.peek_word()
        if word is None or word.upper() in ("AND", "OR"):
            return None
        self.read_word()
        word = word.upper()
        if word == "IS":
            nxt = (self.read_word() or "").upper()
            if nxt == "NOT":
                nxt = "NOT " + (self.read_word() or "").upper()
            if nxt not in ("NULL", "NOT NULL"):
                raise _Syntax(f"IS {nxt}".strip())
            return f"IS {nxt}"
        if word == "NOT":
            return f"NOT {(self.read_word() or '').upper()}".strip()
        return word

    def read_value(self) -> _Lit:
        """A literal; raises :class:`_Syntax` if none starts at the cursor."""
        c = self.peek()
        if c == "(":
            return self._list()
        if c and c in _QUOTES:
            return _Lit("string", self._quoted())
        if (m := _NUMBER.match(self.text, self.pos)) is not None and not _WORDISH.match(
            self.text, m.end()
        ):
            self.pos = m.end()
            return _Lit("number", m.group())
        if (m := _WORDISH.match(self.text, self.pos)) is not None:
            self.pos = m.end()
            return _Lit("word", m.group())
        raise _Syntax(self.fragment())

    def _list(self) -> _Lit:
        """``( 'a', "b" [,] )``. Items that are not quoted strings only set ``mixed``, for the
        caller to report as a type error; bad punctuation is an error here."""
        start = self.pos
        self.pos += 1
        items: list[str] = []
        mixed = False
        expect_item = True
        while (c := self.peek()) != ")":
            if expect_item and c in ("'", '"'):
                items.append(self._quoted())
                self._count_item()
            elif expect_item and (m := _LIST_ATOM.match(self.text, self.pos)) is not None:
                self.pos = m.end()
                mixed = True
                self._count_item()
            elif not expect_item and c == ",":
                self.pos += 1
                expect_item = True
                continue
            else:
                raise InvalidParameter(
                    "While parsing a list in the query, expected a non-empty list of string "
                    "values, but got ill-formed list."
                )
            expect_item = False
        self.pos += 1
        return _Lit("list", self.text[start : self.pos], tuple(items), mixed)

    def _count_item(self) -> None:
        self.list_items += 1
        if self.list_items > MAX_IN_VALUES:
            raise too_many_in_values()


# --------------------------------------------------------------------------------------------
# Semantics
# --------------------------------------------------------------------------------------------


def _strip_quotes(text: str) -> str:
    """MLflow's key unquoting: drop one pair of '/" and then one pair of backticks."""
    for quote in ("'", '"'):
        if len(text) >= 2 and text[0] == quote and text[-1] == quote:
            text = text[1:-1]
            break
    if len(text) >= 2 and text[0] == "`" and text[-1] == "`":
        text = text[1:-1]
    return text


def _fmt_set(items: Sequence[str] | frozenset[str]) -> str:
    return "{" + ", ".join(repr(i) for i in sorted(items)) + "}"


def _resolve(
    grammar: Grammar, ident: _Ident, *, ordering: bool
) -> tuple[EntitySpec, str, FieldSpec]:
    """Map an identifier to its entity, canonical key and spec, or raise InvalidParameter."""
    if ident.prefix is None:
        entity = grammar.bare_entity
    else:
        prefix = ident.prefix
        if len(prefix) >= 2 and prefix[0] == prefix[-1] == "`":
            prefix = prefix[1:-1]
        found = grammar.prefixes.get(prefix)
        if found is None:
            valid = [spec.name for spec in grammar.entities.values()]
            raise InvalidParameter(f"Invalid entity type '{prefix}'. Valid values are {valid}")
        entity = found
    spec = grammar.entities[entity]
    if ordering and not spec.orderable:
        raise InvalidParameter(f"Invalid order_by entity: {spec.name}")
    key = _strip_quotes(ident.key)
    if spec.any_key is not None:
        return spec, key, spec.any_key
    aliases = spec.order_aliases if ordering else spec.aliases
    canonical = aliases.get(key, key)
    field_spec = spec.keys.get(canonical)
    if field_spec is None or (ordering and not field_spec.orderable):
        valid = [k for k, f in spec.keys.items() if f.orderable or not ordering]
        raise InvalidParameter(
            f"Invalid {spec.name} key '{key}' specified. "
            f"Valid keys are '{_fmt_set([*valid, *aliases])}'"
        )
    return spec, canonical, field_spec


def _string(spec: EntitySpec, lit: _Lit) -> str:
    if lit.kind == "string" and lit.text[0] in "'\"":
        return lit.text[1:-1]
    if lit.kind == "number":
        raise InvalidParameter(
            f"Expected a quoted string value for {spec.name} (e.g. 'my-value'). "
            f"Got value {lit.text}"
        )
    raise InvalidParameter(
        "Parameter value is either not quoted or unidentified quote types used for string "
        f"value {lit.text}. Use either single or double quotes."
    )


def _id(value: str) -> str:
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not _INT64_MIN <= number <= _INT64_MAX:
        raise InvalidParameter(
            f"Invalid experiment ID '{value}'. Experiment ID must be a valid integer."
        )
    return str(number)


def _value(spec: EntitySpec, key: str, fspec: FieldSpec, lit: _Lit) -> ComparisonValue:
    """Check ``lit`` against the key's value kind and convert it (ids are checked later, after
    the comparator, which is the order MLflow reports errors in)."""
    kind = fspec.kind
    if kind in ("string", "id_string"):
        if lit.kind == "list":
            if not fspec.ops & LIST_OPS:
                listed = sorted(k for k, f in spec.keys.items() if f.ops & LIST_OPS)
                if not listed:
                    raise InvalidParameter(
                        f"Expected a quoted string value for {spec.name} (e.g. 'my-value'). "
                        f"Got value {lit.text}"
                    )
                raise InvalidParameter(
                    f"Only {listed} {spec.name}s support comparison with a list of quoted "
                    "string values."
                )
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
        return _string(spec, lit)

    if lit.kind != "number":
        what = "metric" if kind == "float" else f"numeric attribute: {key}"
        raise InvalidParameter(f"Expected numeric value type for {what}. Found {lit.text}")
    is_int = not any(c in lit.text for c in ".eE")
    if kind == "float":
        return float(lit.text)
    if kind == "integer" and not is_int:
        raise InvalidParameter(f"Invalid value for numeric attribute '{key}': '{lit.text}'")
    if not is_int:
        return float(lit.text)
    number = int(lit.text)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise InvalidParameter(f"Invalid value for numeric attribute '{key}': '{lit.text}'")
    return number


def _check_op(grammar: Grammar, spec: EntitySpec, key: str, fspec: FieldSpec, op: str) -> Op:
    found = _OPS.get(op)
    if found is None or found not in fspec.ops:
        nullable = [
            f"{s.name}s"
            for s in grammar.entities.values()
            if s.any_key is not None and s.any_key.ops & NULL_OPS
        ]
        if found in NULL_OPS and nullable:
            raise InvalidParameter(
                f"IS NULL / IS NOT NULL is only supported for {' and '.join(nullable)}, "
                f"not for '{spec.name}' '{key}'"
            )
        raise InvalidParameter(f"Invalid comparator '{op}' not one of '{_fmt_set(fspec.ops)}'")
    return found


def _comparison(grammar: Grammar, scanner: _Scanner) -> Comparison:
    start = scanner.pos
    ident = scanner.read_identifier()
    op = scanner.read_op()
    if op is None:
        raise _Syntax(ident.text)
    spec, key, fspec = _resolve(grammar, ident, ordering=False)
    if op in NULL_OPS:
        return Comparison(spec.entity, key, _check_op(grammar, spec, key, fspec, op), None)
    if scanner.at_end():
        raise _Syntax(scanner.text[start:].strip())
    lit = scanner.read_value()
    value = _value(spec, key, fspec, lit)
    checked = _check_op(grammar, spec, key, fspec, op)
    if (checked in LIST_OPS) != isinstance(value, tuple):
        if checked in LIST_OPS:
            raise InvalidParameter(
                f"Expected a list of quoted string values for '{checked}', "
                f"e.g. ('a', 'b'). Got value {lit.text}"
            )
        raise InvalidParameter(
            f"Invalid comparator '{checked}' for a list of values; use 'IN' or 'NOT IN'"
        )
    if fspec.kind == "id_string":
        value = tuple(map(_id, value)) if isinstance(value, tuple) else _id(str(value))
    return Comparison(spec.entity, key, checked, value)


_CLAUSE_KEYWORDS = frozenset({"OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE"})


def parse_filter(filter_string: str | None, grammar: Grammar) -> list[Comparison]:
    """Parse ``filter_string`` with ``grammar``; ``None``, empty or blank -> ``[]``.

    Raises InvalidParameter on any syntax error, unknown prefix or key, comparator the key does
    not support, or value of the wrong type, and (before parsing further) on a filter past the
    bounds of :mod:`aiotrack.search.limits`.
    """
    if filter_string is None:
        return []
    check_filter_length(filter_string)
    scanner = _Scanner(filter_string)
    result: list[Comparison] = []
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
            elif word is not None and word.upper() in _CLAUSE_KEYWORDS:
                raise _Syntax(word)
            else:
                if len(result) >= MAX_FILTER_CLAUSES:
                    raise too_many_clauses()
                result.append(_comparison(grammar, scanner))
    except _Syntax as e:
        raise InvalidParameter(f"Invalid clause(s) in filter string: '{e.fragment}'") from None
    return result


def _order_by_entry(entry: str, grammar: Grammar) -> OrderBy:
    unparsable = InvalidParameter(f"Invalid order_by clause '{entry}'. Could not be parsed.")
    scanner = _Scanner(entry)
    try:
        if scanner.at_end():
            raise unparsable
        ident = scanner.read_identifier()
    except _Syntax:
        raise unparsable from None
    ascending = True
    if not scanner.at_end():
        direction = scanner.read_word()
        if direction is None:
            raise unparsable
        if direction.lower() not in ("asc", "desc"):
            raise InvalidParameter(f"Invalid ordering key in order_by clause '{entry}'.")
        ascending = direction.lower() == "asc"
        if not scanner.at_end():
            raise unparsable
    spec, key, _ = _resolve(grammar, ident, ordering=True)
    return OrderBy(spec.entity, key, ascending)


def parse_order_by(order_by: Sequence[str] | None, grammar: Grammar) -> list[OrderBy]:
    """Parse ``order_by`` entries (``"<identifier> [ASC|DESC]"``) with ``grammar``.

    ``None`` or empty -> ``[]``, a bare string counts as one entry; no tie-breakers are appended.
    Raises InvalidParameter on a bad entry, an unknown or unsortable key, or (if the grammar
    says so) a key named twice (MLflow answers that one with a 500), and on more than
    :data:`~aiotrack.search.limits.MAX_ORDER_BY_KEYS` entries.
    """
    if isinstance(order_by, str):
        order_by = [order_by]
    check_order_by_count(order_by or ())
    result = [_order_by_entry(entry, grammar) for entry in order_by or ()]
    if grammar.unique_order_keys and len({(o.entity, o.key) for o in result}) < len(result):
        raise InvalidParameter(f"`order_by` contains duplicate fields: {list(order_by or ())}")
    return result


def parse_run_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a ``runs/search`` filter (metrics, params, tags, attributes, datasets)."""
    return parse_filter(filter_string, RUN_GRAMMAR)


def parse_run_order_by(order_by: Sequence[str] | None) -> list[OrderBy]:
    """Parse ``runs/search`` order_by; duplicates (after aliasing ``created``) are rejected."""
    return parse_order_by(order_by, RUN_GRAMMAR)


def parse_experiment_filter(filter_string: str | None) -> list[Comparison]:
    """Parse an ``experiments/search`` filter (attributes and tags)."""
    return parse_filter(filter_string, EXPERIMENT_GRAMMAR)


def parse_experiment_order_by(order_by: Sequence[str] | None) -> list[OrderBy]:
    """Parse ``experiments/search`` order_by (attributes only; repeated keys are allowed)."""
    return parse_order_by(order_by, EXPERIMENT_GRAMMAR)


def parse_registered_model_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a ``registered-models/search`` filter (``name`` and tags)."""
    return parse_filter(filter_string, REGISTERED_MODEL_GRAMMAR)


def parse_registered_model_order_by(order_by: Sequence[str] | None) -> list[OrderBy]:
    """Parse ``registered-models/search`` order_by (``name``, ``last_updated_timestamp``)."""
    return parse_order_by(order_by, REGISTERED_MODEL_ORDER_GRAMMAR)


def parse_model_version_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a ``model-versions/search`` filter (name, run_id, source_path, version_number, tags)."""
    return parse_filter(filter_string, MODEL_VERSION_GRAMMAR)


def parse_model_version_order_by(order_by: Sequence[str] | None) -> list[OrderBy]:
    """Parse ``model-versions/search`` order_by (name, version_number and the two timestamps)."""
    return parse_order_by(order_by, MODEL_VERSION_ORDER_GRAMMAR)


def parse_logged_model_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a ``logged-models/search`` filter (attributes, metrics, params, tags)."""
    return parse_filter(filter_string, LOGGED_MODEL_GRAMMAR)
