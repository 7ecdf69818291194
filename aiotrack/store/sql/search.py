"""Compile parsed search filters and ``order_by`` lists (``aiotrack.search``) into SQLAlchemy.

Semantics follow MLflow's SQL store (reference §8): a metric/param/tag comparison matches only
runs that have the key; metric comparisons use the latest value, where a NaN fails every
comparison but ``!=``; ``attributes.run_name`` compares the ``mlflow.runName`` tag; sorting puts
missing values last (for metrics: real values, then NaN, then missing) and ends with
``start_time DESC, run_uuid ASC``. String ``=``, ``!=``, ``LIKE``, ``IN`` and ``NOT IN`` (and the
key match of params, tags and metrics) are case-sensitive on every backend, MySQL's
case-insensitive collations included (``dialects.case_sensitive``), as in MLflow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    and_,
    any_,
    bindparam,
    case,
    exists,
    false,
    func,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from aiotrack.errors import InvalidParameter
from aiotrack.search.ast import Comparison, OrderBy
from aiotrack.store.sql.dialects import case_sensitive
from aiotrack.store.sql.schema.tracking import (
    SqlDataset,
    SqlExperiment,
    SqlExperimentTag,
    SqlInput,
    SqlInputTag,
    SqlLatestMetric,
    SqlParam,
    SqlRun,
    SqlTag,
)
from aiotrack.validation import parse_experiment_id

__all__ = [
    "compare",
    "experiment_filter_clauses",
    "experiment_order_clauses",
    "ids_in",
    "run_filter_clauses",
    "run_order_clauses",
]

RUN_NAME_TAG = "mlflow.runName"
DATASET_CONTEXT_TAG = "mlflow.data.context"

_RUN_ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "run_id": SqlRun.run_uuid,
    "run_name": SqlRun.name,
    "status": SqlRun.status,
    "user_id": SqlRun.user_id,
    "artifact_uri": SqlRun.artifact_uri,
    "start_time": SqlRun.start_time,
    "end_time": SqlRun.end_time,
}

_EXPERIMENT_ATTRIBUTE_COLUMNS: dict[str, Any] = {
    "name": SqlExperiment.name,
    "experiment_id": SqlExperiment.experiment_id,
    "creation_time": SqlExperiment.creation_time,
    "last_update_time": SqlExperiment.last_update_time,
}


_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    "LIKE": lambda c, v: c.like(v),
    "ILIKE": lambda c, v: c.ilike(v),
    "IN": lambda c, v: c.in_(list(v)),
    "NOT IN": lambda c, v: ~c.in_(list(v)),
}


def compare(op: str, column: Any, value: Any) -> ColumnElement[bool]:
    """``column <op> value`` for a parsed comparator (shared by every search compiler).

    String equality, ``LIKE`` and ``IN`` are case-sensitive on every backend (MLflow's rule).
    """
    clause = case_sensitive(op, column, value)
    if clause is not None:
        return clause
    try:
        return _OPS[op](column, value)
    except KeyError:
        raise InvalidParameter(f"Invalid comparator '{op}'") from None


def _keyed_exists(table: Any, owner: Any, key: str, *conds: ColumnElement[bool]) -> Any:
    return exists().where(table.run_uuid == owner, compare("=", table.key, key), *conds)


def ids_in(column: Any, ids: Sequence[int], dialect: str = "") -> ColumnElement[bool]:
    """``column IN (ids)`` for validated integer ids.

    Long lists are never bound one parameter each: PostgreSQL refuses more than 32,767 bind
    parameters in a statement (40,000 experiment ids answered 503). On PostgreSQL they are one
    array parameter (``= ANY($1)``: nothing to render or compile per id, which kept the event
    loop busy); elsewhere they are inlined as integer literals. Short lists stay bound so the
    statement text, and its prepared plan, can be reused.
    """
    clause: ColumnElement[bool]
    if len(ids) <= _BOUND_IDS:
        clause = column.in_(list(ids))
    elif dialect == "postgresql":
        values = [int(i) for i in ids]
        clause = column == any_(bindparam("ids", values, type_=ARRAY(BigInteger)))
    else:
        values = [int(i) for i in ids]
        clause = column.in_(bindparam("ids", values, expanding=True, literal_execute=True))
    return clause


#: Above this many ids, ``ids_in`` inlines them.
_BOUND_IDS = 1000

#: The tables whose clauses ``run_filter_clauses`` groups, by entity.
_KEYED_TABLES: dict[str, Any] = {"param": SqlParam, "tag": SqlTag, "metric": SqlLatestMetric}


def _value_condition(f: Comparison, table: Any) -> ColumnElement[bool]:
    """The comparison of ``f`` on a row of ``table`` that has its key."""
    if f.entity != "metric":
        return compare(f.op, table.value, f.value)
    cond = compare(f.op, SqlLatestMetric.value, float(f.value))  # type: ignore[arg-type]
    # NaN is stored as 0 with is_nan set: it fails every comparison except "!=".
    if f.op == "!=":
        return or_(cond, SqlLatestMetric.is_nan == true())
    return and_(cond, SqlLatestMetric.is_nan == false())


def _grouped_clause(grouped: dict[str, dict[str, list[Comparison]]]) -> ColumnElement[bool]:
    """One semi-join for every value comparison on params, tags and latest metrics.

    ``run_uuid IN (SELECT run_uuid FROM (SELECT run_uuid FROM params WHERE (key=k1 AND c1) OR
    (key=k2 AND c2 AND c2') UNION ALL SELECT run_uuid FROM latest_metrics WHERE ...) GROUP BY
    run_uuid HAVING count(*) = <number of keys>)``: a run has at most one row per key in each
    table, so it matches every clause exactly when each of its keys' rows satisfies all the
    comparisons on that key (a missing key fails). With one EXISTS per clause PostgreSQL planned
    a join per clause (200 clauses: over 20 s, 1,500: minutes). The subquery is a materialized
    CTE on PostgreSQL, see below.
    """
    keys = [
        (entity, key, clauses)
        for entity, by_key in grouped.items()
        for key, clauses in by_key.items()
    ]
    if len(keys) == 1:  # the common case keeps its plain EXISTS
        ((entity, key, clauses),) = keys
        table = _KEYED_TABLES[entity]
        conds = [_value_condition(f, table) for f in clauses]
        single: ColumnElement[bool] = _keyed_exists(table, SqlRun.run_uuid, key, *conds)
        return single
    parts = []
    for entity, by_key in grouped.items():
        table = _KEYED_TABLES[entity]
        terms = [
            and_(compare("=", table.key, key), *(_value_condition(f, table) for f in clauses))
            for key, clauses in by_key.items()
        ]
        parts.append(select(table.run_uuid.label("run_uuid")).where(or_(*terms)))
    rows = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("matched")
    # Computed once: PostgreSQL, misjudging the HAVING as matching one run (or the runs of a
    # fresh experiment as one row), otherwise re-runs the aggregate for every run it checks.
    matching = (
        select(rows.c.run_uuid)
        .group_by(rows.c.run_uuid)
        .having(func.count() == len(keys))
        .cte("matched_runs")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return SqlRun.run_uuid.in_(select(matching.c.run_uuid))


def run_filter_clauses(filters: Sequence[Comparison]) -> list[ColumnElement[bool]]:
    """WHERE clauses (to AND together) over ``runs`` for a parsed run filter.

    Value comparisons on params, tags and metrics are grouped into one subquery
    (``_grouped_clause``); the rest are one clause each.
    """
    clauses: list[ColumnElement[bool]] = []
    grouped: dict[str, dict[str, list[Comparison]]] = {}
    for f in filters:
        if f.entity == "attribute":
            if f.key == "run_name":
                clauses.append(
                    _keyed_exists(
                        SqlTag, SqlRun.run_uuid, RUN_NAME_TAG, compare(f.op, SqlTag.value, f.value)
                    )
                )
            else:
                column = _RUN_ATTRIBUTE_COLUMNS.get(f.key)
                if column is None:
                    raise InvalidParameter(f"Invalid attribute key '{f.key}' specified.")
                clauses.append(compare(f.op, column, f.value))
        elif f.entity in _KEYED_TABLES:
            table = _KEYED_TABLES[f.entity]
            if f.op == "IS NULL":
                clauses.append(~_keyed_exists(table, SqlRun.run_uuid, f.key))
            elif f.op == "IS NOT NULL":
                clauses.append(_keyed_exists(table, SqlRun.run_uuid, f.key))
            else:
                grouped.setdefault(f.entity, {}).setdefault(f.key, []).append(f)
        elif f.entity == "dataset":
            clauses.append(_dataset_clause(f))
        else:  # pragma: no cover - the parser only produces the entities above
            raise InvalidParameter(f"Invalid search expression type '{f.entity}'")
    if grouped:
        clauses.append(_grouped_clause(grouped))
    return clauses


def _dataset_clause(f: Comparison) -> ColumnElement[bool]:
    linked = and_(
        SqlInput.source_type == "DATASET",
        SqlInput.source_id == SqlDataset.dataset_uuid,
        SqlInput.destination_type == "RUN",
        SqlInput.destination_id == SqlRun.run_uuid,
    )
    if f.key == "context":
        return exists().where(
            linked,
            SqlInputTag.input_uuid == SqlInput.input_uuid,
            SqlInputTag.name == DATASET_CONTEXT_TAG,
            compare(f.op, SqlInputTag.value, f.value),
        )
    column = {"name": SqlDataset.name, "digest": SqlDataset.digest}.get(f.key)
    if column is None:
        raise InvalidParameter(f"Invalid dataset key '{f.key}' specified.")
    return exists().where(linked, compare(f.op, column, f.value))


def run_order_clauses(stmt: Any, order_by: Sequence[OrderBy]) -> tuple[Any, list[Any]]:
    """Add the outer joins sorting needs to ``stmt``; return it with the ORDER BY terms."""
    terms: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for i, o in enumerate(order_by):
        if (o.entity, o.key) in seen:
            raise InvalidParameter(
                f"`order_by` contains duplicate fields: {[f'{x.entity}.{x.key}' for x in order_by]}"
            )
        seen.add((o.entity, o.key))
        if o.entity == "attribute":
            column = _RUN_ATTRIBUTE_COLUMNS.get(o.key)
            if column is None:
                raise InvalidParameter(f"Invalid attribute key '{o.key}' specified.")
            terms.append(case((column.is_(None), 1), else_=0))
            value = column
        elif o.entity in ("metric", "param", "tag"):
            table: Any = {"metric": SqlLatestMetric, "param": SqlParam, "tag": SqlTag}[o.entity]
            sub = (
                select(
                    table.run_uuid, table.value, *([table.is_nan] if o.entity == "metric" else [])
                )
                .where(table.key == o.key)
                .subquery(f"order_{i}")
            )
            stmt = stmt.outerjoin(sub, sub.c.run_uuid == SqlRun.run_uuid)
            value = sub.c.value
            if o.entity == "metric":
                terms.append(case((sub.c.is_nan == true(), 1), (value.is_(None), 2), else_=0))
            else:
                terms.append(case((value.is_(None), 1), else_=0))
        else:
            raise InvalidParameter(f"Invalid identifier type '{o.entity}'")
        terms.append(value if o.ascending else value.desc())
    if ("attribute", "start_time") not in seen:
        terms.append(SqlRun.start_time.desc())
    terms.append(SqlRun.run_uuid)
    return stmt, terms


def experiment_filter_clauses(filters: Sequence[Comparison]) -> list[ColumnElement[bool]]:
    """WHERE clauses over ``experiments`` for a parsed experiment filter."""
    clauses: list[ColumnElement[bool]] = []
    for f in filters:
        if f.entity == "attribute":
            column = _EXPERIMENT_ATTRIBUTE_COLUMNS.get(f.key)
            if column is None:
                raise InvalidParameter(f"Invalid attribute key '{f.key}' specified.")
            value: Any = f.value
            if f.key == "experiment_id":
                if f.op not in ("=", "!=", "IN", "NOT IN"):
                    raise InvalidParameter(f"Invalid comparator for experiment_id: {f.op}")
                value = (
                    tuple(parse_experiment_id(v) for v in value)
                    if isinstance(value, tuple)
                    else parse_experiment_id(value)
                )
            clauses.append(compare(f.op, column, value))
        elif f.entity == "tag":
            owner = SqlExperimentTag.experiment_id == SqlExperiment.experiment_id
            key = compare("=", SqlExperimentTag.key, f.key)
            if f.op == "IS NULL":
                clauses.append(~exists().where(owner, key))
            elif f.op == "IS NOT NULL":
                clauses.append(exists().where(owner, key))
            else:
                cond = compare(f.op, SqlExperimentTag.value, f.value)
                clauses.append(exists().where(owner, key, cond))
        else:
            raise InvalidParameter(f"Invalid token type: {f.entity}")
    return clauses


def experiment_order_clauses(order_by: Sequence[OrderBy]) -> list[Any]:
    """ORDER BY terms; default ``creation_time DESC``; ``experiment_id`` always breaks ties."""
    if not order_by:
        order_by = [OrderBy("attribute", "creation_time", False)]
    terms: list[Any] = []
    seen: set[str] = set()
    for o in order_by:
        column = _EXPERIMENT_ATTRIBUTE_COLUMNS.get(o.key)
        if o.entity != "attribute" or column is None:
            raise InvalidParameter(f"Invalid order_by entity: {o.entity}.{o.key}")
        seen.add(o.key)
        terms.append(column if o.ascending else column.desc())
    if "experiment_id" not in seen:
        terms.append(SqlExperiment.experiment_id)
    return terms
