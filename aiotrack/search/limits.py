"""Bounds on the size of a search request, checked before any costly work.

A filter, ``order_by`` list or id list past these bounds is answered 400
``INVALID_PARAMETER_VALUE`` naming the limit, instead of tying up the event loop (parsing a
2 MB filter took a minute), the database (the planner with hundreds of joins) or crashing
SQLite (which caps expression depth at 1000 and a join at 64 tables). The bounds are far above
what MLflow's clients and UI send.
"""

from __future__ import annotations

from collections.abc import Sized

from aiotrack.errors import InvalidParameter

__all__ = [
    "MAX_EXPERIMENT_IDS",
    "MAX_FILTER_CLAUSES",
    "MAX_FILTER_LENGTH",
    "MAX_IN_VALUES",
    "MAX_ORDER_BY_KEYS",
    "check_experiment_ids",
    "check_filter_length",
    "check_order_by_count",
    "too_many_clauses",
    "too_many_in_values",
]

#: Characters in one filter string.
MAX_FILTER_LENGTH = 500_000
#: ANDed comparisons in one filter.
MAX_FILTER_CLAUSES = 500
#: Values in all the ``IN (...)``/``NOT IN (...)`` lists of one filter together.
MAX_IN_VALUES = 10_000
#: Entries in one ``order_by`` list.
MAX_ORDER_BY_KEYS = 20
#: Experiment ids in one search (they are inlined as integers, so no bind-parameter limit).
MAX_EXPERIMENT_IDS = 50_000


def check_filter_length(filter_string: str) -> None:
    """Raise InvalidParameter if ``filter_string`` is longer than :data:`MAX_FILTER_LENGTH`."""
    if len(filter_string) > MAX_FILTER_LENGTH:
        raise InvalidParameter(
            f"Search filter is {len(filter_string)} characters long; the limit is "
            f"{MAX_FILTER_LENGTH}. Narrow the search with fewer, shorter clauses."
        )


def too_many_clauses() -> InvalidParameter:
    """The error for a filter with more than :data:`MAX_FILTER_CLAUSES` comparisons."""
    return InvalidParameter(
        f"Search filter has more than {MAX_FILTER_CLAUSES} clauses, the limit. "
        "Split the search into several narrower ones."
    )


def too_many_in_values() -> InvalidParameter:
    """The error for a filter whose ``IN`` lists hold more than :data:`MAX_IN_VALUES` values."""
    return InvalidParameter(
        f"Search filter's IN lists hold more than {MAX_IN_VALUES} values in all, the limit. "
        "Split the search into several narrower ones."
    )


def check_order_by_count(order_by: Sized) -> None:
    """Raise InvalidParameter if ``order_by`` has more than :data:`MAX_ORDER_BY_KEYS` entries."""
    if len(order_by) > MAX_ORDER_BY_KEYS:
        raise InvalidParameter(
            f"order_by has {len(order_by)} entries; the limit is {MAX_ORDER_BY_KEYS}."
        )


def check_experiment_ids(experiment_ids: Sized) -> None:
    """Raise InvalidParameter if more than :data:`MAX_EXPERIMENT_IDS` experiment ids are given."""
    if len(experiment_ids) > MAX_EXPERIMENT_IDS:
        raise InvalidParameter(
            f"experiment_ids has {len(experiment_ids)} entries; the limit is "
            f"{MAX_EXPERIMENT_IDS}. Search fewer experiments at a time."
        )
