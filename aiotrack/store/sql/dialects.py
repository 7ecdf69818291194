"""The few statements whose SQL differs between backends, behind one function each.

``dialect`` is the backend name (``sqlite``, ``postgresql`` or ``mysql``; MariaDB is ``mysql``).
Store code calls these helpers and never tests the dialect itself.
"""

from __future__ import annotations

import math
import random
import re
import struct
from typing import Any

import orjson
from sqlalchemy import Boolean, String, and_, bindparam, func, literal, or_
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

__all__ = [
    "CASE_SENSITIVE_OPS",
    "SQLITE_LATEST_METRICS_BY_ID",
    "SQLITE_METRIC_INSERT_JSON",
    "SQLITE_RUNS_BY_ID",
    "case_sensitive",
    "driver_rows",
    "insert_ignore",
    "key_values_json_sql",
    "latest_metric_upsert_sql",
    "metric_insert_sql",
    "placeholders",
    "rows_as_columns",
    "sqlite_parses_doubles_exactly",
    "sqlite_regexp",
    "upsert",
]


def _insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "mysql":
        return mysql.insert(table)
    raise NotImplementedError(f"no upsert support for the {dialect} dialect")


def insert_ignore(dialect: str, table: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` (duplicate rows are dropped silently).

    On MySQL: ``ON DUPLICATE KEY UPDATE <first key column> = <itself>``, a no-op on a duplicate
    key only. (``INSERT IGNORE`` would also turn foreign-key violations and too-long values
    into warnings, silently dropping or truncating data.)
    """
    if dialect == "mysql":
        first = next(iter(table.primary_key.columns)).name
        return mysql.insert(table).on_duplicate_key_update({first: table.c[first]})
    return _insert(dialect, table).on_conflict_do_nothing()


def upsert(
    dialect: str,
    table: Any,
    keys: list[str],
    update: list[str],
    where: Any = None,
) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET col = excluded.col [WHERE ...]``.

    ``where`` is a callable ``(table, excluded) -> clause`` limiting which conflicts update. On
    MySQL it is ``ON DUPLICATE KEY UPDATE`` (any unique key of the table conflicts; ``keys``
    must be its primary key) and ``where`` is not supported: MySQL applies the assignments one
    by one, so a condition on updated columns would change half-way.
    """
    if dialect == "mysql":
        if where is not None:
            raise NotImplementedError("conditional upserts are not portable to MySQL")
        stmt = mysql.insert(table)
        return stmt.on_duplicate_key_update({col: stmt.inserted[col] for col in update})
    stmt = _insert(dialect, table)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={col: excluded[col] for col in update},
        where=where(table, excluded) if where is not None else None,
    )


# --- string comparisons that are case-sensitive everywhere -------------------------------------

#: The comparators MLflow makes case-sensitive on MySQL, whose default collations ignore case.
CASE_SENSITIVE_OPS = frozenset({"=", "!=", "LIKE", "IN", "NOT IN"})

_PLAIN: dict[str, Any] = {
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "LIKE": lambda c, v: c.like(v),
    "IN": lambda c, v: c.in_(v),
    "NOT IN": lambda c, v: ~c.in_(v),
}


class _CaseSensitive(ColumnElement[bool]):
    """``column <op> value``, compiled per dialect (see :func:`case_sensitive`)."""

    __visit_name__ = "aiotrack_case_sensitive"
    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012  (SQLAlchemy's traversal protocol)
        ("operator_name", InternalTraversal.dp_string),
        ("target", InternalTraversal.dp_clauseelement),
        ("bound", InternalTraversal.dp_clauseelement),
    ]
    type = Boolean()
    _is_implicitly_boolean = True  # a predicate: no "= 1" where booleans are not native

    def __init__(self, operator_name: str, target: Any, bound: Any) -> None:
        self.operator_name = operator_name
        self.target = target
        self.bound = bound

    @property
    def _from_objects(self) -> Any:
        return self.target._from_objects


@compiles(_CaseSensitive)
def _compile_plain(element: _CaseSensitive, compiler: Any, **kw: Any) -> str:
    # SQLite (case_sensitive_like on) and PostgreSQL compare strings case-sensitively already.
    plain = _PLAIN[element.operator_name](element.target, element.bound)
    return str(compiler.process(plain, **kw))


@compiles(_CaseSensitive, "mysql")
def _compile_mysql(element: _CaseSensitive, compiler: Any, **kw: Any) -> str:
    # MLflow 3.17.2's mysql_comparison_func: the collated comparison first (it can use an
    # index), then the byte-wise one; IN / NOT IN compare bytes only.
    column, value, op = element.target, element.bound, element.operator_name
    binary = func.binary(column, type_=column.type)
    if op == "=":
        expr = and_(column == value, binary == value)
    elif op == "!=":
        expr = or_(column != value, binary != value)
    elif op == "LIKE":
        expr = and_(column.like(value), binary.like(value))
    elif op == "IN":
        expr = binary.in_(value)
    else:
        expr = ~binary.in_(value)
    return str(compiler.process(expr.self_group(), **kw))


def case_sensitive(op: str, column: Any, value: Any) -> ColumnElement[bool] | None:
    """``column <op> value`` compared case-sensitively on every backend, as MLflow does, for
    a string ``column`` and ``op`` in :data:`CASE_SENSITIVE_OPS`; None otherwise (the caller
    then compares as usual)."""
    if op not in CASE_SENSITIVE_OPS or not isinstance(getattr(column, "type", None), String):
        return None
    if op in ("IN", "NOT IN"):
        bound = bindparam(None, list(value), type_=column.type, expanding=True, unique=True)
    else:
        bound = literal(value, type_=column.type)
    return _CaseSensitive(op, column, bound)


# --- the metric hot path -----------------------------------------------------------------------

# The two statements of the metric hot path are plain driver SQL run with executemany: per row
# they skip SQLAlchemy's parameter processing, which dominated the cost of a 1000-metric batch.
_METRIC_COLUMNS = "key, value, timestamp, run_uuid, step, is_nan"
_LATEST_COLUMNS = "key, value, timestamp, step, is_nan, run_uuid"


def driver_rows(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The rows of driver SQL as the driver's own tuples.

    For the hottest reads (a page of runs' metrics and tags): SQLAlchemy's result wraps every
    row in a ``Row`` and fetches them one by one, which cost more than SQLite's own work.
    Driver errors are re-raised as SQLAlchemy's, so they are translated like any other.
    """
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()


def key_values_json_sql(dialect: str, table: str, n: int) -> str:
    """Driver SQL: ``(run_uuid, json_text)`` for each of ``n`` run ids that has rows in
    ``table`` (``params`` or ``tags``): a JSON array of ``{"key", "value"}`` objects, NULL
    values as "". SQLite and PostgreSQL only. The order is PostgreSQL's key order, and on
    SQLite storage order (see ``_sqlite_key_values_json``)."""
    if dialect == "postgresql":
        return (
            "SELECT t.run_uuid, json_agg(json_build_object('key', t.key, 'value', "
            f"coalesce(t.value, '')) ORDER BY t.key)::text FROM {table} AS t "
            f"WHERE t.run_uuid IN ({placeholders(dialect, n)}) GROUP BY t.run_uuid"
        )
    return (
        f"SELECT r.run_uuid, {_sqlite_key_values_json(table)} "
        f"FROM runs AS r WHERE r.run_uuid IN ({placeholders(dialect, n)})"
    )


def _sqlite_key_values_json(table: str) -> str:
    # One correlated subquery per run of ``r``, aggregated straight off the ``run_uuid`` index:
    # the rows come in storage order, which is what MLflow's own SQLite store answers (its
    # selectin loads have no ORDER BY). Sorting by key needs a subquery (an aggregate's ORDER
    # BY needs SQLite 3.44) that cost a third of this statement on a 1000-run page.
    return (
        "(SELECT json_group_array(json_object('key', t.key, 'value', "
        f"coalesce(t.value, ''))) FROM {table} AS t WHERE t.run_uuid = r.run_uuid)"
    )


#: SQLite, driver SQL: the runs whose ids are in the JSON array bound to ``?`` (any order),
#: each as its ``RUN_COLUMNS`` (same order), its params and tags as JSON arrays (see
#: ``key_values_json_sql``), and whether it has dataset inputs and model inputs/outputs (so
#: that a page where none has any costs no further query). One statement, one bind parameter.
SQLITE_RUNS_BY_ID = (
    "SELECT r.run_uuid, r.name, r.experiment_id, r.user_id, r.status, r.start_time, "
    "r.end_time, r.artifact_uri, r.lifecycle_stage, "
    f"{_sqlite_key_values_json('params')}, {_sqlite_key_values_json('tags')}, "
    "EXISTS (SELECT 1 FROM inputs AS i WHERE i.destination_type = 'RUN' "
    "AND i.destination_id = r.run_uuid AND i.source_type = 'DATASET'), "
    "EXISTS (SELECT 1 FROM inputs AS i WHERE i.source_type IN ('RUN_INPUT', 'RUN_OUTPUT') "
    "AND i.source_id = r.run_uuid) "
    "FROM runs AS r WHERE r.run_uuid IN (SELECT value FROM json_each(?))"
)

#: SQLite, driver SQL: the latest metrics of the runs whose ids are in the JSON array bound
#: to ``?``: run by run in the array's order, each run's in storage order, as MLflow's own
#: SQLite store answers them (like params and tags, see ``_sqlite_key_values_json``). The
#: CROSS JOIN keeps SQLite walking the array first; sorting by key cost a fifth of the query.
SQLITE_LATEST_METRICS_BY_ID = (
    "SELECT m.run_uuid, m.key, m.value, m.timestamp, m.step, m.is_nan "
    "FROM json_each(?) AS j CROSS JOIN latest_metrics AS m ON m.run_uuid = j.value"
)


def placeholders(dialect: str, n: int) -> str:
    """``n`` positional parameter markers of the driver behind ``dialect`` (for driver SQL)."""
    if dialect == "postgresql":
        return ", ".join(f"${i}" for i in range(1, n + 1))
    if dialect == "mysql":
        return ", ".join(["%s"] * n)
    return ", ".join("?" * n)


#: PostgreSQL takes the rows as six arrays in ONE statement (``unnest``), which its executor
#: handles far faster than a pipeline of one-row executions.
_PG_METRIC_ROWS = (
    "SELECT * FROM unnest($1::varchar[], $2::float8[], $3::bigint[], $4::varchar[], "
    "$5::bigint[], $6::boolean[])"
)
_PG_LATEST_ROWS = (
    "SELECT * FROM unnest($1::varchar[], $2::float8[], $3::bigint[], $4::bigint[], "
    "$5::boolean[], $6::varchar[])"
)

#: MySQL: ``key`` is a reserved word; asyncmy rewrites an executemany of ``INSERT ... VALUES
#: (%s, ...) ON DUPLICATE KEY ...`` into multi-row INSERTs.
_MYSQL_METRIC_INSERT = (
    "INSERT INTO metrics (`key`, value, timestamp, run_uuid, step, is_nan) "
    f"VALUES ({placeholders('mysql', 6)}) ON DUPLICATE KEY UPDATE is_nan = is_nan"
)
#: ON DUPLICATE KEY UPDATE applies its assignments left to right, each seeing the ones before, so
#: the "(step, timestamp, value) strictly greater" rule is spread over them: ``is_nan`` and
#: ``value`` test the whole triple while it is untouched; ``timestamp`` then only needs
#: ``(step, timestamp)`` (when those tie, writing the new timestamp changes nothing) and
#: ``step`` only its maximum.
_MYSQL_NEWER = "(VALUES(step), VALUES(timestamp), VALUES(value)) > (step, timestamp, value)"
_MYSQL_LATEST_UPSERT = (
    "INSERT INTO latest_metrics (`key`, value, timestamp, step, is_nan, run_uuid) "
    f"VALUES ({placeholders('mysql', 6)}) ON DUPLICATE KEY UPDATE "
    f"is_nan = IF({_MYSQL_NEWER}, VALUES(is_nan), is_nan), "
    f"value = IF({_MYSQL_NEWER}, VALUES(value), value), "
    "timestamp = IF((VALUES(step), VALUES(timestamp)) > (step, timestamp), "
    "VALUES(timestamp), timestamp), "
    "step = GREATEST(step, VALUES(step))"
)


def rows_as_columns(dialect: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The parameters for ``metric_insert_sql``/``latest_metric_upsert_sql``: the rows as they
    are (executemany) on SQLite and MySQL, one tuple of column lists on PostgreSQL."""
    if dialect == "postgresql":
        return [tuple(list(column) for column in zip(*rows, strict=True))]
    return rows


def metric_insert_sql(dialect: str) -> str:
    """Rows ``(key, value, timestamp, run_uuid, step, is_nan)``; exact duplicates are dropped."""
    if dialect == "mysql":
        return _MYSQL_METRIC_INSERT
    source = _PG_METRIC_ROWS if dialect == "postgresql" else f"VALUES ({placeholders(dialect, 6)})"
    return f"INSERT INTO metrics ({_METRIC_COLUMNS}) {source} ON CONFLICT DO NOTHING"


#: SQLite: the rows of ``metric_insert_sql`` as ONE JSON array of arrays bound to ``?``. A
#: single statement releases the GIL for the whole insert, where executemany takes it back for
#: every row (contending with the event loop); see ``sqlite_parses_doubles_exactly``. The WHERE
#: is SQLite's documented way to keep its parser from reading ON CONFLICT as a join constraint.
SQLITE_METRIC_INSERT_JSON = (
    f"INSERT INTO metrics ({_METRIC_COLUMNS}) SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(6))
    + " FROM json_each(?) WHERE true ON CONFLICT DO NOTHING"
)

#: Doubles whose decimal text is known to be hard to convert back (halfway cases, extremes,
#: subnormals), on top of seeded random ones.
_HARD_DOUBLES = (
    0.1, 1 / 3, 2 / 3, 1e23, 8.98846567431158e307, 1.7976931348623157e308, 2.2250738585072014e-308,
    2.2250738585072011e-308, 4.9406564584124654e-324, 5e-324, 9007199254740993.0, 0.30000000000000004,
    123456789012345680.0, 1.0000000000000002, 0.9999999999999999, 7.0e-10, 3.4028234663852886e38,
)  # fmt: skip


def sqlite_parses_doubles_exactly(conn: Connection) -> bool:
    """Whether this SQLite reads every double back from its shortest decimal text (what
    ``orjson`` writes) bit for bit: the condition for ``SQLITE_METRIC_INSERT_JSON``. SQLite's
    text-to-double conversion is its own code, exact on common builds but not promised; a
    build that fails this check keeps executemany."""
    rng = random.Random(20261127)
    values = [*_HARD_DOUBLES, *(-v for v in _HARD_DOUBLES)]
    values += [rng.random() * 10 ** rng.randint(-30, 30) for _ in range(3000)]
    values += [
        v
        for v in (struct.unpack("<d", rng.randbytes(8))[0] for _ in range(3000))
        if math.isfinite(v)
    ]
    got = [
        v
        for (v,) in driver_rows(
            conn, "SELECT value FROM json_each(?)", (orjson.dumps(values).decode(),)
        )
    ]
    # Zero's sign is not compared: SQLite stores an integral REAL as an integer either way.
    return len(got) == len(values) and all(a == b for a, b in zip(got, values, strict=True))


def latest_metric_upsert_sql(dialect: str) -> str:
    """Rows ``(key, value, timestamp, step, is_nan, run_uuid)``: a point replaces the stored
    latest one only when its ``(step, timestamp, value)`` is strictly greater."""
    if dialect == "mysql":
        return _MYSQL_LATEST_UPSERT
    source = _PG_LATEST_ROWS if dialect == "postgresql" else f"VALUES ({placeholders(dialect, 6)})"
    return (
        f"INSERT INTO latest_metrics ({_LATEST_COLUMNS}) {source} "
        "ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value, "
        "timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan "
        "WHERE (excluded.step, excluded.timestamp, excluded.value) > "
        "(latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)"
    )


def sqlite_regexp(pattern: str | None, string: str | None) -> bool:
    """SQLite's ``regexp(pattern, string)`` for ``RLIKE``, as MLflow registers it: Python's
    ``re.search``; a NULL operand or an invalid pattern does not match. Register it on every
    SQLite connection (``dbapi_conn.create_function("regexp", 2, sqlite_regexp)``)."""
    if string is None or pattern is None:
        return False
    try:
        return re.search(pattern, string) is not None
    except re.error:
        return False
