"""Traces: trace info, tags, request metadata, metrics, spans, assessments, issues and their
categories.

Mirrors, column for column, the schema MLflow 3.18.0's ``mlflow db upgrade`` creates
(see tests/store/test_schema.py); keep table, column, constraint and index names exactly as they are.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from aiotrack.store.sql.schema._base import Base
from aiotrack.store.sql.schema._types import Double, LongText

__all__ = [
    "SqlAssessments",
    "SqlIssue",
    "SqlIssueCategory",
    "SqlSpan",
    "SqlSpanMetrics",
    "SqlTraceInfo",
    "SqlTraceMetadata",
    "SqlTraceMetrics",
    "SqlTraceTag",
]


class SqlTraceInfo(Base):
    """The info row of a trace; ``request_id`` is the trace id."""

    __tablename__ = "trace_info"
    __table_args__ = (
        PrimaryKeyConstraint("request_id", name="trace_info_pk"),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_trace_info_experiment_id",
            ondelete="CASCADE",
        ),
        Index("index_trace_info_experiment_id_session_id", "experiment_id", "session_id"),
        Index("index_trace_info_experiment_id_timestamp_ms", "experiment_id", "timestamp_ms"),
        Index("index_trace_info_timestamp_ms_request_id", "timestamp_ms", "request_id"),
    )

    request_id: Mapped[str] = mapped_column(String(50))
    experiment_id: Mapped[int] = mapped_column(Integer())
    timestamp_ms: Mapped[int] = mapped_column(BigInteger())
    execution_time_ms: Mapped[int | None] = mapped_column(BigInteger())
    status: Mapped[str] = mapped_column(String(50))
    client_request_id: Mapped[str | None] = mapped_column(String(50))
    request_preview: Mapped[str | None] = mapped_column(String(1000))
    response_preview: Mapped[str | None] = mapped_column(String(1000))
    db_payload_generation: Mapped[int] = mapped_column(Integer(), server_default="0")
    trace_name: Mapped[str | None] = mapped_column(String(4096))
    session_id: Mapped[str | None] = mapped_column(String(250))
    input_tokens: Mapped[int | None] = mapped_column(BigInteger())
    output_tokens: Mapped[int | None] = mapped_column(BigInteger())
    total_tokens: Mapped[int | None] = mapped_column(BigInteger())
    cache_read_input_tokens: Mapped[int | None] = mapped_column(BigInteger())
    cache_creation_input_tokens: Mapped[int | None] = mapped_column(BigInteger())
    cache_creation_input_tokens_above_1hr: Mapped[int | None] = mapped_column(BigInteger())
    input_cost: Mapped[float | None] = mapped_column(Double())
    output_cost: Mapped[float | None] = mapped_column(Double())
    total_cost: Mapped[float | None] = mapped_column(Double())


class SqlTraceTag(Base):
    """One tag of a trace."""

    __tablename__ = "trace_tags"
    __table_args__ = (
        PrimaryKeyConstraint("key", "request_id", name="trace_tag_pk"),
        ForeignKeyConstraint(
            ["request_id"],
            ["trace_info.request_id"],
            name="fk_trace_tags_request_id",
            ondelete="CASCADE",
        ),
        Index("index_trace_tags_request_id", "request_id"),
    )

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(String(8000))
    request_id: Mapped[str] = mapped_column(String(50))


class SqlTraceMetadata(Base):
    """One request-metadata entry of a trace."""

    __tablename__ = "trace_request_metadata"
    __table_args__ = (
        PrimaryKeyConstraint("key", "request_id", name="trace_request_metadata_pk"),
        ForeignKeyConstraint(
            ["request_id"],
            ["trace_info.request_id"],
            name="fk_trace_request_metadata_request_id",
            ondelete="CASCADE",
        ),
        Index("index_trace_request_metadata_request_id", "request_id"),
    )

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(String(8000))
    request_id: Mapped[str] = mapped_column(String(50))


class SqlTraceMetrics(Base):
    """One numeric metric of a trace (e.g. token counts)."""

    __tablename__ = "trace_metrics"
    __table_args__ = (
        PrimaryKeyConstraint("request_id", "key", name="trace_metrics_pk"),
        ForeignKeyConstraint(
            ["request_id"],
            ["trace_info.request_id"],
            name="fk_trace_metrics_request_id",
            ondelete="CASCADE",
        ),
        Index("index_trace_metrics_request_id", "request_id"),
    )

    request_id: Mapped[str] = mapped_column(String(50))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float | None] = mapped_column(Double())


class SqlSpan(Base):
    """One span of a trace; ``duration_ns`` is a stored generated column."""

    __tablename__ = "spans"
    __table_args__ = (
        PrimaryKeyConstraint("trace_id", "span_id", name="spans_pk"),
        ForeignKeyConstraint(
            ["experiment_id"], ["experiments.experiment_id"], name="fk_spans_experiment_id"
        ),
        ForeignKeyConstraint(
            ["trace_id"], ["trace_info.request_id"], name="fk_spans_trace_id", ondelete="CASCADE"
        ),
        Index(
            "idx_spans_cost_exp_time_cover",
            "experiment_id",
            "start_time_unix_nano",
            postgresql_include=[
                "input_cost",
                "output_cost",
                "total_cost",
                "model_name",
                "model_provider",
            ],
            postgresql_where=text(
                "(input_cost IS NOT NULL) OR (output_cost IS NOT NULL) OR (total_cost IS NOT NULL)"
            ),
        ),
        Index(
            "idx_spans_cost_trace_time_cover",
            "trace_id",
            "start_time_unix_nano",
            postgresql_include=[
                "input_cost",
                "output_cost",
                "total_cost",
                "model_name",
                "model_provider",
            ],
            postgresql_where=text(
                "(input_cost IS NOT NULL) OR (output_cost IS NOT NULL) OR (total_cost IS NOT NULL)"
            ),
        ),
        Index("index_spans_experiment_id_duration", "experiment_id", "duration_ns"),
        Index("index_spans_experiment_id_start_time", "experiment_id", "start_time_unix_nano"),
        Index("index_spans_experiment_id_status_type", "experiment_id", "status", "type"),
        Index("index_spans_experiment_id_type_status", "experiment_id", "type", "status"),
    )

    trace_id: Mapped[str] = mapped_column(String(50))
    experiment_id: Mapped[int] = mapped_column(Integer())
    span_id: Mapped[str] = mapped_column(String(50))
    parent_span_id: Mapped[str | None] = mapped_column(String(50))
    name: Mapped[str | None] = mapped_column(Text())
    type: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(50))
    start_time_unix_nano: Mapped[int] = mapped_column(BigInteger())
    end_time_unix_nano: Mapped[int | None] = mapped_column(BigInteger())
    duration_ns: Mapped[int | None] = mapped_column(
        BigInteger(), Computed("end_time_unix_nano - start_time_unix_nano", persisted=True)
    )
    content: Mapped[str] = mapped_column(LongText())
    input_cost: Mapped[float | None] = mapped_column(Double())
    output_cost: Mapped[float | None] = mapped_column(Double())
    total_cost: Mapped[float | None] = mapped_column(Double())
    model_name: Mapped[str | None] = mapped_column(String(500))
    model_provider: Mapped[str | None] = mapped_column(String(500))


class SqlSpanMetrics(Base):
    """One numeric metric of a span."""

    __tablename__ = "span_metrics"
    __table_args__ = (
        PrimaryKeyConstraint("trace_id", "span_id", "key", name="span_metrics_pk"),
        ForeignKeyConstraint(
            ["trace_id", "span_id"],
            ["spans.trace_id", "spans.span_id"],
            name="fk_span_metrics_span",
            ondelete="CASCADE",
        ),
        Index("index_span_metrics_trace_id_span_id", "trace_id", "span_id"),
    )

    trace_id: Mapped[str] = mapped_column(String(50))
    span_id: Mapped[str] = mapped_column(String(50))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float | None] = mapped_column(Double())


class SqlAssessments(Base):
    """An assessment (feedback or expectation) attached to a trace."""

    __tablename__ = "assessments"
    __table_args__ = (
        PrimaryKeyConstraint("assessment_id", name="assessments_pk"),
        ForeignKeyConstraint(
            ["trace_id"],
            ["trace_info.request_id"],
            name="fk_assessments_trace_id",
            ondelete="CASCADE",
        ),
        Index("idx_assessments_exp_name_valid", "experiment_id", "name", "valid"),
        Index("idx_assessments_exp_trace_ts", "experiment_id", "trace_timestamp_ms"),
        Index("idx_assessments_exp_trace_ts_name", "experiment_id", "trace_timestamp_ms", "name"),
        Index("index_assessments_assessment_type", "assessment_type"),
        Index("index_assessments_last_updated_timestamp", "last_updated_timestamp"),
        Index("index_assessments_run_id_created_timestamp", "run_id", "created_timestamp"),
        Index("index_assessments_trace_id_created_timestamp", "trace_id", "created_timestamp"),
    )

    assessment_id: Mapped[str] = mapped_column(String(50))
    trace_id: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(250))
    assessment_type: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(Text())
    error: Mapped[str | None] = mapped_column(Text())
    created_timestamp: Mapped[int] = mapped_column(BigInteger())
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger())
    source_type: Mapped[str] = mapped_column(String(50))
    source_id: Mapped[str | None] = mapped_column(String(250))
    run_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(50))
    rationale: Mapped[str | None] = mapped_column(Text())
    overrides: Mapped[str | None] = mapped_column(String(50))
    valid: Mapped[bool] = mapped_column(Boolean())
    assessment_metadata: Mapped[str | None] = mapped_column(Text())
    experiment_id: Mapped[int | None] = mapped_column(Integer())
    trace_timestamp_ms: Mapped[int | None] = mapped_column(BigInteger())
    aggregate_value: Mapped[float | None] = mapped_column(Double())
    is_numeric_value: Mapped[bool] = mapped_column(Boolean(), server_default=false())


class SqlIssue(Base):
    """An issue found in an experiment's traces."""

    __tablename__ = "issues"
    __table_args__ = (
        PrimaryKeyConstraint("issue_id", name="issues_pk"),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_issues_experiment_id",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["source_run_id"],
            ["runs.run_uuid"],
            name="fk_issues_source_run_id",
            ondelete="SET NULL",
        ),
        Index("index_issues_experiment_id", "experiment_id"),
        Index("index_issues_source_run_id", "source_run_id"),
        Index("index_issues_status", "status"),
        Index("index_issues_experiment_last_seen", "experiment_id", "last_seen_timestamp"),
        Index("index_issues_experiment_updated", "experiment_id", "last_updated_timestamp"),
    )

    issue_id: Mapped[str] = mapped_column(String(36))
    experiment_id: Mapped[int] = mapped_column(Integer())
    name: Mapped[str] = mapped_column(String(250))
    description: Mapped[str] = mapped_column(Text())
    status: Mapped[str] = mapped_column(String(50))
    severity: Mapped[str | None] = mapped_column(String(50))
    root_causes: Mapped[str | None] = mapped_column(Text())
    source_run_id: Mapped[str | None] = mapped_column(String(32))
    categories: Mapped[str | None] = mapped_column(Text())
    created_timestamp: Mapped[int] = mapped_column(BigInteger())
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger())
    created_by: Mapped[str | None] = mapped_column(String(255))
    # Added by MLflow 3.18.0 (8b6ad64cb8f5), hence after the older columns.
    last_seen_timestamp: Mapped[int | None] = mapped_column(BigInteger())
    last_updated_by: Mapped[str | None] = mapped_column(String(255))
    # ``metadata`` is the declarative base's MetaData: the attribute takes another name.
    issue_metadata: Mapped[str | None] = mapped_column("metadata", LongText())


class SqlIssueCategory(Base):
    """One category of an issue, keyed by the SHA-256 of its trimmed, lower-cased text."""

    __tablename__ = "issue_categories"
    __table_args__ = (
        PrimaryKeyConstraint("issue_id", "category_hash", name="issue_categories_pk"),
        ForeignKeyConstraint(
            ["issue_id"],
            ["issues.issue_id"],
            name="fk_issue_categories_issue_id",
            ondelete="CASCADE",
        ),
        Index("index_issue_categories_hash", "category_hash"),
    )

    issue_id: Mapped[str] = mapped_column(String(36))
    category_hash: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(Text())
