"""Experiments, runs and everything logged to a run (the tables the tracking store uses most).

Mirrors, column for column, the schema MLflow 3.18.0's ``mlflow db upgrade`` creates
(see tests/store/test_schema.py); keep table, column, constraint and index names exactly as they are.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aiotrack.store.sql.schema._base import Base
from aiotrack.store.sql.schema._types import Double, MediumText

__all__ = [
    "SqlDataset",
    "SqlExperiment",
    "SqlExperimentTag",
    "SqlInput",
    "SqlInputTag",
    "SqlLatestMetric",
    "SqlMetric",
    "SqlParam",
    "SqlRun",
    "SqlTag",
]


class SqlExperiment(Base):
    """An experiment; ``experiment_id`` is autoincremented, ``(workspace, name)`` is unique."""

    __tablename__ = "experiments"
    __table_args__ = (
        PrimaryKeyConstraint("experiment_id", name="experiment_pk"),
        UniqueConstraint("workspace", "name", name="uq_experiments_workspace_name"),
        CheckConstraint(
            "lifecycle_stage IN ('active', 'deleted')", name="experiments_lifecycle_stage"
        ),
        Index("idx_experiments_workspace", "workspace"),
        Index("idx_experiments_workspace_creation_time", "workspace", "creation_time"),
    )

    experiment_id: Mapped[int] = mapped_column(Integer())
    name: Mapped[str] = mapped_column(String(256))
    artifact_location: Mapped[str | None] = mapped_column(String(256))
    lifecycle_stage: Mapped[str | None] = mapped_column(String(32))
    creation_time: Mapped[int | None] = mapped_column(BigInteger())
    last_update_time: Mapped[int | None] = mapped_column(BigInteger())
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")


class SqlExperimentTag(Base):
    """One tag (key, value) of an experiment."""

    __tablename__ = "experiment_tags"
    __table_args__ = (
        PrimaryKeyConstraint("key", "experiment_id", name="experiment_tag_pk"),
        ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"]),
    )

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(MediumText())
    experiment_id: Mapped[int] = mapped_column(Integer())


class SqlRun(Base):
    """A run; ``start_time``/``end_time``/``deleted_time`` are epoch milliseconds."""

    __tablename__ = "runs"
    __table_args__ = (
        PrimaryKeyConstraint("run_uuid", name="run_pk"),
        ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"]),
        CheckConstraint("status IN ('SCHEDULED', 'FAILED', 'FINISHED', 'RUNNING', 'KILLED')"),
        CheckConstraint("lifecycle_stage IN ('active', 'deleted')", name="runs_lifecycle_stage"),
        CheckConstraint(
            "source_type IN ('NOTEBOOK', 'JOB', 'LOCAL', 'UNKNOWN', 'PROJECT')", name="source_type"
        ),
    )

    run_uuid: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(250))
    source_type: Mapped[str | None] = mapped_column(String(20))
    source_name: Mapped[str | None] = mapped_column(String(500))
    entry_point_name: Mapped[str | None] = mapped_column(String(50))
    user_id: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str | None] = mapped_column(String(9))
    start_time: Mapped[int | None] = mapped_column(BigInteger())
    end_time: Mapped[int | None] = mapped_column(BigInteger())
    source_version: Mapped[str | None] = mapped_column(String(50))
    lifecycle_stage: Mapped[str | None] = mapped_column(String(20))
    artifact_uri: Mapped[str | None] = mapped_column(String(200))
    experiment_id: Mapped[int | None] = mapped_column(Integer())
    deleted_time: Mapped[int | None] = mapped_column(BigInteger())


class SqlTag(Base):
    """One tag of a run; ``value`` holds up to 8000 characters."""

    __tablename__ = "tags"
    __table_args__ = (
        PrimaryKeyConstraint("key", "run_uuid", name="tag_pk"),
        ForeignKeyConstraint(["run_uuid"], ["runs.run_uuid"]),
        Index("index_tags_run_uuid", "run_uuid"),
    )

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(String(8000))
    run_uuid: Mapped[str] = mapped_column(String(32))


class SqlParam(Base):
    """One param of a run; ``value`` holds up to 8000 characters."""

    __tablename__ = "params"
    __table_args__ = (
        PrimaryKeyConstraint("key", "run_uuid", name="param_pk"),
        ForeignKeyConstraint(["run_uuid"], ["runs.run_uuid"]),
        Index("index_params_run_uuid", "run_uuid"),
    )

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str] = mapped_column(String(8000))
    run_uuid: Mapped[str] = mapped_column(String(32))


class SqlMetric(Base):
    """One metric point; ``timestamp`` in ms, ``is_nan`` set when ``value`` stores a NaN as 0."""

    __tablename__ = "metrics"
    __table_args__ = (
        PrimaryKeyConstraint(
            "key", "timestamp", "step", "run_uuid", "value", "is_nan", name="metric_pk"
        ),
        ForeignKeyConstraint(["run_uuid"], ["runs.run_uuid"]),
        Index("index_metrics_run_uuid", "run_uuid"),
        Index("index_metrics_run_uuid_key_step", "run_uuid", "key", "step"),
    )

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float] = mapped_column(Double())
    timestamp: Mapped[int] = mapped_column(BigInteger())
    run_uuid: Mapped[str] = mapped_column(String(32))
    step: Mapped[int] = mapped_column(BigInteger(), server_default="0")
    is_nan: Mapped[bool] = mapped_column(Boolean(create_constraint=True), server_default="0")


class SqlLatestMetric(Base):
    """Latest point per (run, key): highest step, then timestamp, then value."""

    __tablename__ = "latest_metrics"
    __table_args__ = (
        PrimaryKeyConstraint("key", "run_uuid", name="latest_metric_pk"),
        ForeignKeyConstraint(["run_uuid"], ["runs.run_uuid"]),
        Index("index_latest_metrics_run_uuid", "run_uuid"),
    )

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float] = mapped_column(Double())
    timestamp: Mapped[int | None] = mapped_column(BigInteger())
    step: Mapped[int] = mapped_column(BigInteger())
    is_nan: Mapped[bool] = mapped_column(Boolean(create_constraint=True))
    run_uuid: Mapped[str] = mapped_column(String(32))


class SqlDataset(Base):
    """A dataset logged to an experiment, keyed by (experiment_id, name, digest)."""

    __tablename__ = "datasets"
    __table_args__ = (
        PrimaryKeyConstraint("experiment_id", "name", "digest", name="dataset_pk"),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_datasets_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        Index("index_datasets_dataset_uuid", "dataset_uuid"),
        Index(
            "index_datasets_experiment_id_dataset_source_type",
            "experiment_id",
            "dataset_source_type",
        ),
    )

    dataset_uuid: Mapped[str] = mapped_column(String(36))
    experiment_id: Mapped[int] = mapped_column(Integer())
    name: Mapped[str] = mapped_column(String(500))
    digest: Mapped[str] = mapped_column(String(36))
    dataset_source_type: Mapped[str] = mapped_column(String(36))
    dataset_source: Mapped[str] = mapped_column(Text())
    dataset_schema: Mapped[str | None] = mapped_column(MediumText())
    dataset_profile: Mapped[str | None] = mapped_column(MediumText())


class SqlInput(Base):
    """An edge from a source (e.g. DATASET) to a destination (e.g. RUN); ``step`` for model inputs."""

    __tablename__ = "inputs"
    __table_args__ = (
        PrimaryKeyConstraint(
            "source_type", "source_id", "destination_type", "destination_id", name="inputs_pk"
        ),
        Index(
            "index_inputs_destination_type_destination_id_source_type",
            "destination_type",
            "destination_id",
            "source_type",
        ),
        Index("index_inputs_input_uuid", "input_uuid"),
    )

    input_uuid: Mapped[str] = mapped_column(String(36))
    source_type: Mapped[str] = mapped_column(String(36))
    source_id: Mapped[str] = mapped_column(String(36))
    destination_type: Mapped[str] = mapped_column(String(36))
    destination_id: Mapped[str] = mapped_column(String(36))
    step: Mapped[int] = mapped_column(BigInteger(), server_default="0")


class SqlInputTag(Base):
    """One tag of an input edge (e.g. ``mlflow.data.context``)."""

    __tablename__ = "input_tags"
    __table_args__ = (PrimaryKeyConstraint("input_uuid", "name", name="input_tags_pk"),)

    input_uuid: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(500))
