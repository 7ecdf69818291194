"""Search on the file store: the parsed filter AST evaluated in Python, with MLflow's semantics.

MLflow's ``FileStore`` loads every run (or experiment) and filters and sorts them in Python
(``SearchUtils.filter``/``sort``, ``SearchExperimentsUtils.filter``/``sort``); this module does
the same over :mod:`aiotrack.search`'s AST, so the file store answers exactly as it does:

- a comparison with a missing metric/param/tag/attribute is false (``!=`` too); ``IS NULL``
  is true only for a missing key;
- a run's metric value is its latest value (max of step, timestamp, value); NaN compares false
  except with ``!=``;
- ``LIKE``/``ILIKE``: ``%`` and ``_`` wildcards, anchored unless the pattern starts/ends with
  ``%`` (MLflow's translation to a regex);
- runs are first ordered by ``start_time DESC, run_id``, then each ``order_by`` is applied as
  a stable sort from the last to the first; missing values and NaN sort last both ways;
- experiments default to ``creation_time DESC, experiment_id ASC`` and always end with
  ``experiment_id DESC`` as tie-breaker; ``None`` sorts last both ways. Ids compare as strings.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiotrack.search import Comparison, OrderBy
from aiotrack.store.entities import DatasetInput, Experiment, Run

__all__ = [
    "RunView",
    "compare",
    "filter_experiments",
    "filter_runs",
    "sort_experiments",
    "sort_runs",
]

DATASET_CONTEXT_TAG = "mlflow.data.context"


@dataclass(slots=True)
class RunView:
    """A run with its latest metrics, params and tags as dicts, for matching and sorting."""

    run: Run
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, run: Run) -> RunView:
        return cls(
            run,
            {m.key: m.value for m in run.data.metrics},
            {p.key: p.value for p in run.data.params},
            {t.key: t.value for t in run.data.tags},
        )

    def attribute(self, key: str) -> Any:
        return getattr(self.run.info, key, None)


@functools.lru_cache(maxsize=256)
def _like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = re.escape(pattern).replace("%", ".*").replace("_", ".")
    if not pattern.startswith("%"):
        regex = "^" + regex
    if not pattern.endswith("%"):
        regex += "$"
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


def _like(lhs: Any, rhs: Any) -> bool:
    return _like_regex(rhs, False).match(lhs) is not None


def _ilike(lhs: Any, rhs: Any) -> bool:
    return _like_regex(rhs, True).match(lhs) is not None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "LIKE": _like,
    "ILIKE": _ilike,
    "IN": lambda lhs, rhs: lhs in rhs,
    "NOT IN": lambda lhs, rhs: lhs not in rhs,
}


def compare(op: str, lhs: Any, rhs: Any) -> bool:
    """``lhs <op> rhs`` as MLflow's in-Python search evaluates it (False on a type clash)."""
    try:
        return bool(_COMPARE[op](lhs, rhs))
    except TypeError:  # e.g. a number compared with a string in a hand-edited meta.yaml
        return False


def _dataset_matches(inputs: Sequence[DatasetInput], c: Comparison) -> bool:
    if c.key == "context":
        return any(
            compare(c.op, tag.value, c.value)
            for d in inputs
            for tag in d.tags
            if tag.key == DATASET_CONTEXT_TAG
        )
    return any(compare(c.op, getattr(d.dataset, c.key), c.value) for d in inputs)


def _run_matches(view: RunView, c: Comparison) -> bool:
    value: Any = c.value
    if c.entity == "metric":
        lhs: Any = view.metrics.get(c.key)
        value = float(value)
    elif c.entity == "param":
        lhs = view.params.get(c.key)
    elif c.entity == "tag":
        lhs = view.tags.get(c.key)
    elif c.entity == "attribute":
        lhs = view.attribute(c.key)
    else:  # dataset
        return _dataset_matches(view.run.inputs.dataset_inputs, c)
    if c.op == "IS NULL":
        return lhs is None
    if c.op == "IS NOT NULL":
        return lhs is not None
    if lhs is None:
        return False
    return compare(c.op, lhs, value)


def filter_runs(views: Iterable[RunView], filters: Sequence[Comparison]) -> list[RunView]:
    """The runs matching every comparison (a filter is an AND of comparisons)."""
    if not filters:
        return list(views)
    return [v for v in views if all(_run_matches(v, c) for c in filters)]


def _sort_key(o: OrderBy, view: RunView) -> tuple[bool, Any]:
    if o.entity == "metric":
        value: Any = view.metrics.get(o.key)
    elif o.entity == "param":
        value = view.params.get(o.key)
    elif o.entity == "tag":
        value = view.tags.get(o.key)
    else:
        value = view.attribute(o.key)
    is_none = value is None
    is_nan = isinstance(value, float) and math.isnan(value)
    fill = math.inf if o.ascending else -math.inf
    if is_none:
        value = fill
    elif is_nan:
        value = -fill
    missing = is_none or is_nan
    return (missing, value) if o.ascending else (not missing, value)


def sort_runs(views: Sequence[RunView], order_by: Sequence[OrderBy]) -> list[RunView]:
    """MLflow's run order: ``start_time DESC, run_id`` then each ``order_by``, stably."""
    out = sorted(views, key=lambda v: (-(v.run.info.start_time or 0), v.run.info.run_id))
    for o in reversed(order_by):
        out = sorted(out, key=functools.partial(_sort_key, o), reverse=not o.ascending)
    return out


# ---------------------------------------------------------------------------------- experiments


def _experiment_matches(e: Experiment, c: Comparison) -> bool:
    if c.entity == "tag":
        tags = {t.key: t.value for t in e.tags}
        if c.op == "IS NULL":
            return c.key not in tags
        if c.op == "IS NOT NULL":
            return c.key in tags
        if c.key not in tags:
            return False
        return compare(c.op, tags[c.key], c.value)
    lhs = getattr(e, c.key, None)
    value: Any = c.value
    if c.key in ("creation_time", "last_update_time"):
        if lhs is None:
            return False
        value = float(value)
    return compare(c.op, lhs, value)


def filter_experiments(
    experiments: Iterable[Experiment], filters: Sequence[Comparison]
) -> list[Experiment]:
    if not filters:
        return list(experiments)
    return [e for e in experiments if all(_experiment_matches(e, c) for c in filters)]


class _Sorter:
    """One key of MLflow's experiment sort: ``None`` last whatever the direction."""

    __slots__ = ("ascending", "obj")

    def __init__(self, obj: Any, ascending: bool) -> None:
        self.obj = obj
        self.ascending = ascending

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Sorter) and other.obj == self.obj

    def __lt__(self, other: _Sorter) -> bool:
        if self.obj is None:
            return False
        if other.obj is None:
            return True
        if self.ascending:
            return bool(self.obj < other.obj)
        return bool(other.obj < self.obj)

    __hash__ = None  # type: ignore[assignment]


def sort_experiments(
    experiments: Sequence[Experiment], order_by: Sequence[OrderBy]
) -> list[Experiment]:
    keys = [(o.key, o.ascending) for o in order_by] or [
        ("creation_time", False),
        ("experiment_id", True),
    ]
    if not any(k == "experiment_id" for k, _ in keys):
        keys.append(("experiment_id", False))
    return sorted(
        experiments,
        key=lambda e: tuple(_Sorter(getattr(e, k, None), asc) for k, asc in keys),
    )
