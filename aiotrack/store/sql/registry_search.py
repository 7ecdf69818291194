"""Compile parsed registry filters and order_bys into SQLAlchemy clauses (reference §8.4).

As in MLflow's SQL store: tag comparisons match only entities that have the tag; prompts
(``mlflow.prompt.is_prompt = 'true'``) are excluded unless the filter asks for them, in which
case only prompts match; registered models end their ordering with ``name ASC``, model versions
with ``name ASC, version DESC``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import exists
from sqlalchemy.sql.elements import ColumnElement

from aiotrack.search.ast import Comparison, OrderBy
from aiotrack.store.sql.schema.registry import (
    SqlModelVersion,
    SqlModelVersionTag,
    SqlRegisteredModel,
    SqlRegisteredModelTag,
)
from aiotrack.store.sql.search import compare

__all__ = [
    "IS_PROMPT_TAG",
    "model_version_clauses",
    "model_version_order",
    "registered_model_clauses",
    "registered_model_order",
]

IS_PROMPT_TAG = "mlflow.prompt.is_prompt"


def _is_querying_prompts(filters: Sequence[Comparison]) -> bool:
    for f in filters:
        if f.entity == "tag" and f.key == IS_PROMPT_TAG and isinstance(f.value, str):
            return (f.op == "=" and f.value.lower() == "true") or (
                f.op == "!=" and f.value.lower() == "false"
            )
    return False


def _tag_clauses(
    filters: Sequence[Comparison], tag_exists: Callable[..., ColumnElement[bool]]
) -> list[ColumnElement[bool]]:
    """One EXISTS per tag key (all of that key's ``(op, value)`` comparisons on the same tag
    row), plus the prompt rule."""
    by_key: dict[str, list[tuple[str, Any]]] = {}
    for f in filters:
        if f.entity == "tag":
            by_key.setdefault(f.key, []).append((f.op, f.value))
    prompts = _is_querying_prompts(filters)
    if not prompts:
        by_key.pop(IS_PROMPT_TAG, None)
    clauses = [tag_exists(key, conds) for key, conds in by_key.items()]
    if not prompts:
        clauses.append(~tag_exists(IS_PROMPT_TAG, [("=", "true")]))
    return clauses


def registered_model_clauses(filters: Sequence[Comparison]) -> list[ColumnElement[bool]]:
    """WHERE clauses over ``registered_models`` for a parsed filter."""
    rm, tag = SqlRegisteredModel, SqlRegisteredModelTag

    def tag_exists(key: str, conds: list[Any]) -> ColumnElement[bool]:
        return exists().where(
            tag.workspace == rm.workspace,
            tag.name == rm.name,
            compare("=", tag.key, key),
            *[_bind(c, tag.value) for c in conds],
        )

    clauses = [compare(f.op, rm.name, f.value) for f in filters if f.entity == "attribute"]
    return clauses + _tag_clauses(filters, tag_exists)


_MV_COLUMNS: dict[str, Any] = {
    "name": SqlModelVersion.name,
    "run_id": SqlModelVersion.run_id,
    "source_path": SqlModelVersion.source,
    "version_number": SqlModelVersion.version,
}


def model_version_clauses(filters: Sequence[Comparison]) -> list[ColumnElement[bool]]:
    """WHERE clauses over ``model_versions`` for a parsed filter."""
    mv, tag = SqlModelVersion, SqlModelVersionTag

    def tag_exists(key: str, conds: list[Any]) -> ColumnElement[bool]:
        return exists().where(
            tag.workspace == mv.workspace,
            tag.name == mv.name,
            tag.version == mv.version,
            compare("=", tag.key, key),
            *[_bind(c, tag.value) for c in conds],
        )

    clauses = [
        compare(f.op, _MV_COLUMNS[f.key], f.value) for f in filters if f.entity == "attribute"
    ]
    return clauses + _tag_clauses(filters, tag_exists)


def _bind(template: tuple[str, Any], column: Any) -> ColumnElement[bool]:
    op, value = template
    return compare(op, column, value)


def registered_model_order(orders: Sequence[OrderBy]) -> list[Any]:
    columns: dict[str, Any] = {
        "name": SqlRegisteredModel.name,
        "last_updated_timestamp": SqlRegisteredModel.last_updated_time,
    }
    terms: list[Any] = [
        columns[o.key].asc() if o.ascending else columns[o.key].desc() for o in orders
    ]
    if not any(o.key == "name" for o in orders):
        terms.append(SqlRegisteredModel.name.asc())
    return terms


def model_version_order(orders: Sequence[OrderBy]) -> list[Any]:
    columns: dict[str, Any] = {
        "name": SqlModelVersion.name,
        "version_number": SqlModelVersion.version,
        "creation_timestamp": SqlModelVersion.creation_time,
        "last_updated_timestamp": SqlModelVersion.last_updated_time,
    }
    terms: list[Any] = [
        columns[o.key].asc() if o.ascending else columns[o.key].desc() for o in orders
    ]
    keys = {o.key for o in orders}
    if "name" not in keys:
        terms.append(SqlModelVersion.name.asc())
    if "version_number" not in keys:
        terms.append(SqlModelVersion.version.desc())
    return terms
