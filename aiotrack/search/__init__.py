"""MLflow search filters and ``order_by`` clauses, parsed into a small AST shared by every store.

``parse_run_filter("metrics.acc > 0.9 AND tags.team = 'ml'")`` returns
``[Comparison("metric", "acc", ">", 0.9), Comparison("tag", "team", "=", "ml")]``; the SQL
search compiler turns those into queries. Every error raises
:class:`aiotrack.errors.InvalidParameter` with MLflow's message.
"""

from __future__ import annotations

from aiotrack.search.ast import Comparison, ComparisonValue, Entity, Op, OrderBy
from aiotrack.search.grammar import (
    EXPERIMENT_GRAMMAR,
    RUN_GRAMMAR,
    EntitySpec,
    FieldSpec,
    Grammar,
    ValueKind,
)
from aiotrack.search.parser import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_filter,
    parse_order_by,
    parse_run_filter,
    parse_run_order_by,
)

__all__ = [
    "EXPERIMENT_GRAMMAR",
    "RUN_GRAMMAR",
    "Comparison",
    "ComparisonValue",
    "Entity",
    "EntitySpec",
    "FieldSpec",
    "Grammar",
    "Op",
    "OrderBy",
    "ValueKind",
    "parse_experiment_filter",
    "parse_experiment_order_by",
    "parse_filter",
    "parse_order_by",
    "parse_run_filter",
    "parse_run_order_by",
]
