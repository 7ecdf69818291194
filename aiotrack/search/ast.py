"""The small AST that MLflow search filters and ``order_by`` clauses parse into.

The nodes are plain frozen dataclasses with no behaviour: ``search.parser`` builds and validates
them, and the store's search compiler turns them into SQL. A filter is a list of
:class:`Comparison` nodes that are all ANDed together (MLflow filters have no ``OR``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Comparison", "ComparisonValue", "Entity", "Op", "OrderBy"]

#: What a key belongs to: ``metrics.x`` -> ``"metric"``, a bare ``status`` -> ``"attribute"``.
Entity = Literal["metric", "param", "tag", "attribute", "dataset"]

#: Comparators, in their canonical spelling (upper case, single spaces).
Op = Literal[
    "=", "!=", ">", ">=", "<", "<=",
    "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL",
]  # fmt: skip

#: The right-hand side of a comparison, see :class:`Comparison`.
ComparisonValue = str | float | int | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """One ``<entity>.<key> <op> <value>`` clause.

    ``key`` is unquoted; attribute aliases are canonicalised (``created`` -> ``start_time``,
    ``Run Name`` -> ``run_name``). ``value`` is ``None`` for ``IS [NOT] NULL``, a non-empty tuple
    of strings for ``IN``/``NOT IN``, a float for metrics (may be ``±inf`` when the literal
    overflows, never NaN), an int (or a float when written as one, e.g. ``1.5``/``1e3``) for
    numeric run attributes, an int for numeric experiment attributes, and a string otherwise.
    String values are the raw text between the quotes: MLflow does not unescape them.
    """

    entity: Entity
    key: str
    op: Op
    value: ComparisonValue


@dataclass(frozen=True, slots=True)
class OrderBy:
    """One ``order_by`` entry: sort by ``entity``/``key``, ascending unless ``DESC`` was given."""

    entity: Entity
    key: str
    ascending: bool
