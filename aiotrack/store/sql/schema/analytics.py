"""Daily roll-ups MLflow's trace analytics maintain.

Mirrors, column for column, the schema MLflow 3.18.0's ``mlflow db upgrade`` creates
(see tests/store/test_schema.py); keep table, column, constraint and index names exactly as they are.
"""

from __future__ import annotations

import datetime

from sqlalchemy import (
    BigInteger,
    Date,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from aiotrack.store.sql.schema._base import Base
from aiotrack.store.sql.schema._types import Double

__all__ = [
    "SqlAssessmentDailyRollup",
    "SqlSpanCostDailyRollup",
    "SqlTraceMetricDailyRollup",
    "SqlTraceRollupRebuild",
]


class SqlTraceMetricDailyRollup(Base):
    """Daily roll-up of trace metrics."""

    __tablename__ = "sql_trace_metric_daily_rollups"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="sql_trace_metric_daily_rollups_pk"),
        Index(
            "idx_trace_rollups_lookup",
            "experiment_id",
            "rollup_day",
            "metric_name",
            "grouping_set",
            "trace_status",
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(always=False)
    )
    experiment_id: Mapped[int] = mapped_column(Integer())
    rollup_day: Mapped[datetime.date] = mapped_column(Date())
    metric_name: Mapped[str] = mapped_column(String(250))
    grouping_set: Mapped[str] = mapped_column(String(50))
    trace_status: Mapped[str | None] = mapped_column(String(50))
    sample_count: Mapped[int] = mapped_column(BigInteger())
    sum_value: Mapped[float | None] = mapped_column(Double())
    min_value: Mapped[float | None] = mapped_column(Double())
    max_value: Mapped[float | None] = mapped_column(Double())
    p50_value: Mapped[float | None] = mapped_column(Double())
    p90_value: Mapped[float | None] = mapped_column(Double())
    p99_value: Mapped[float | None] = mapped_column(Double())


class SqlSpanCostDailyRollup(Base):
    """Daily roll-up of span costs per model."""

    __tablename__ = "sql_span_cost_daily_rollups"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="sql_span_cost_daily_rollups_pk"),
        Index(
            "idx_span_cost_rollups_lookup",
            "experiment_id",
            "rollup_day",
            "metric_name",
            "grouping_set",
            "model_name",
            "model_provider",
            # 500 characters of utf8mb4 exceed InnoDB's 3072-byte key: MLflow indexes prefixes.
            mysql_length={"model_name": 64, "model_provider": 64},
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(always=False)
    )
    experiment_id: Mapped[int] = mapped_column(Integer())
    rollup_day: Mapped[datetime.date] = mapped_column(Date())
    metric_name: Mapped[str] = mapped_column(String(250))
    grouping_set: Mapped[str] = mapped_column(String(50))
    model_name: Mapped[str | None] = mapped_column(String(500))
    model_provider: Mapped[str | None] = mapped_column(String(500))
    sample_count: Mapped[int] = mapped_column(BigInteger())
    sum_value: Mapped[float | None] = mapped_column(Double())
    min_value: Mapped[float | None] = mapped_column(Double())
    max_value: Mapped[float | None] = mapped_column(Double())


class SqlAssessmentDailyRollup(Base):
    """Daily roll-up of assessment values."""

    __tablename__ = "sql_assessment_daily_rollups"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="sql_assessment_daily_rollups_pk"),
        Index(
            "idx_assessment_rollups_lookup",
            "experiment_id",
            "rollup_day",
            "metric_name",
            "grouping_set",
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(always=False)
    )
    experiment_id: Mapped[int] = mapped_column(Integer())
    rollup_day: Mapped[datetime.date] = mapped_column(Date())
    metric_name: Mapped[str] = mapped_column(String(250))
    grouping_set: Mapped[str] = mapped_column(String(50))
    sample_count: Mapped[int] = mapped_column(BigInteger())
    sum_value: Mapped[float | None] = mapped_column(Double())
    min_value: Mapped[float | None] = mapped_column(Double())
    max_value: Mapped[float | None] = mapped_column(Double())


class SqlTraceRollupRebuild(Base):
    """Days whose roll-ups must be rebuilt."""

    __tablename__ = "sql_trace_rollup_rebuild_queue"
    __table_args__ = (
        PrimaryKeyConstraint(
            "experiment_id", "rollup_day", "rollup_family", name="sql_trace_rollup_rebuild_queue_pk"
        ),
    )

    experiment_id: Mapped[int] = mapped_column(Integer())
    rollup_day: Mapped[datetime.date] = mapped_column(Date())
    rollup_family: Mapped[str] = mapped_column(String(50))
