"""Entity dataclasses that stores return and the API layer serialises.

They mirror MLflow's protobuf messages (reference §4.6). Times are milliseconds since the epoch;
``None`` means "not set" and is omitted on the wire.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar, cast, dataclass_transform, overload

import orjson

__all__ = [
    "RUN_STATUSES",
    "Dataset",
    "DatasetInput",
    "DatasetSummary",
    "Experiment",
    "InputTag",
    "JsonTags",
    "LifecycleStage",
    "Metric",
    "MetricRows",
    "MetricWithRunId",
    "ModelInput",
    "ModelOutput",
    "Page",
    "Param",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOutputs",
    "Tag",
    "ViewType",
]

T = TypeVar("T")
C = TypeVar("C", bound=type[Any])


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def entity(cls: C) -> C:
    """An entity class: a slotted dataclass, immutable as far as type checkers are concerned.

    Not ``frozen=True`` at run time: a frozen dataclass sets each field through
    ``object.__setattr__`` (a RunInfo cost ~2 us to build, its plain slotted twin ~0.35 us),
    and a search page builds five such objects per run, thousands per answer. Code that
    assigns to a field fails the type check instead.
    """
    return cast(C, dataclass(slots=True)(cls))


#: Run statuses by their protobuf number.
RUN_STATUSES: dict[int, str] = {
    1: "RUNNING",
    2: "SCHEDULED",
    3: "FINISHED",
    4: "FAILED",
    5: "KILLED",
}


class LifecycleStage(enum.StrEnum):
    """Soft-delete state of experiments and runs."""

    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(enum.IntEnum):
    """Which lifecycle stages a search returns (protobuf numbers)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    def stages(self) -> tuple[LifecycleStage, ...]:
        """The lifecycle stages this view selects."""
        if self is ViewType.ACTIVE_ONLY:
            return (LifecycleStage.ACTIVE,)
        if self is ViewType.DELETED_ONLY:
            return (LifecycleStage.DELETED,)
        return (LifecycleStage.ACTIVE, LifecycleStage.DELETED)


class Tag(NamedTuple):
    """A key/value tag of an experiment or run (also used for params).

    A NamedTuple rather than a dataclass: search answers build tens of thousands of these, and
    tuple construction is several times cheaper.
    """

    key: str
    value: str


Param = Tag


class _Lazy(Sequence[T]):
    """A sequence of entities kept in the database's own form until someone reads an item:
    subclasses build the list once in ``_items_()`` (the codec reads the raw form instead)."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: list[T] | None = None

    def _build(self) -> list[T]:
        raise NotImplementedError

    def _items_(self) -> list[T]:
        if self._items is None:
            self._items = self._build()
        return self._items

    def __len__(self) -> int:
        return len(self._items_())

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self._items_()[index]

    def __iter__(self) -> Iterator[T]:
        return iter(self._items_())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class JsonTags(_Lazy[Tag]):
    """Tags (or params) of one run as the database serialised them: the JSON text of an array
    of ``{"key": ..., "value": ...}`` objects, which is already their wire form.

    The SQL store reads a page of runs' tags and params this way on SQLite and PostgreSQL (the
    database aggregates them into JSON) so that thousands of them cost neither Python tuples
    nor dicts: the codec embeds ``json`` in the answer as it is. Iterating or indexing parses
    it once, on first use.
    """

    __slots__ = ("json",)

    def __init__(self, json: str) -> None:
        super().__init__()
        self.json = json

    def _build(self) -> list[Tag]:
        return [Tag(d["key"], d["value"]) for d in orjson.loads(self.json)]

    def __bool__(self) -> bool:
        return self.json != "[]"


@entity
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str | None
    lifecycle_stage: str
    creation_time: int | None
    last_update_time: int | None
    tags: list[Tag] = field(default_factory=list)
    workspace: str | None = None


class Metric(NamedTuple):
    """One metric point. ``value`` may be NaN; the SQL store clamps infinities.

    A NamedTuple for the same reason as :class:`Tag` (history and search build many)."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    dataset_name: str | None = None
    dataset_digest: str | None = None
    model_id: str | None = None
    run_id: str | None = None


class MetricRows(_Lazy[Metric]):
    """A run's latest metrics as the SQL store read them: the driver's rows
    ``(run_uuid, key, value, timestamp, step, is_nan)``, value 0 where ``is_nan``.

    A search page of 1000 runs holds thousands of latest metrics; the codec serialises ``rows``
    straight to their wire form rather than through a :class:`Metric` and a call each.
    Iterating or indexing builds the ``Metric`` entities once, on first use.
    """

    __slots__ = ("rows",)

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self.rows = rows

    def _build(self) -> list[Metric]:
        nan = float("nan")
        return [
            Metric(key, nan if is_nan else value, timestamp or 0, step)
            for _, key, value, timestamp, step, is_nan in self.rows
        ]

    def __bool__(self) -> bool:
        return bool(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


@entity
class MetricWithRunId:
    key: str
    value: float
    timestamp: int
    step: int
    run_id: str


@entity
class RunInfo:
    run_id: str
    run_name: str | None
    experiment_id: str
    user_id: str | None
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str | None
    lifecycle_stage: str


@entity
class RunData:
    metrics: Sequence[Metric] = field(default_factory=list)
    params: Sequence[Param] = field(default_factory=list)
    tags: Sequence[Tag] = field(default_factory=list)


@entity
class Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@entity
class InputTag:
    key: str
    value: str


@entity
class DatasetInput:
    dataset: Dataset
    tags: list[InputTag] = field(default_factory=list)


@entity
class ModelInput:
    model_id: str


@entity
class ModelOutput:
    model_id: str
    step: int


@entity
class RunInputs:
    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[ModelInput] = field(default_factory=list)


@entity
class RunOutputs:
    model_outputs: list[ModelOutput] = field(default_factory=list)


@entity
class Run:
    """A run. ``outputs`` is ``None`` where MLflow leaves the message unset (runs/create)."""

    info: RunInfo
    data: RunData
    inputs: RunInputs
    outputs: RunOutputs | None = None


@entity
class DatasetSummary:
    experiment_id: str
    name: str
    digest: str
    context: str | None


@entity
class Page(Generic[T]):
    """One page of a search; ``next_page_token`` is ``None`` on the last page."""

    items: list[T]
    next_page_token: str | None = None
