"""Logged models (MLflow 3), their params/metrics/tags, and the generic entity association table.

Mirrors, column for column, the schema MLflow 3.18.0's ``mlflow db upgrade`` creates
(see tests/store/test_schema.py); keep table, column, constraint and index names exactly as they are.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from aiotrack.store.sql.schema._base import Base
from aiotrack.store.sql.schema._types import Double

__all__ = [
    "SqlEntityAssociation",
    "SqlLoggedModel",
    "SqlLoggedModelMetric",
    "SqlLoggedModelParam",
    "SqlLoggedModelTag",
]


class SqlLoggedModel(Base):
    """A logged model (MLflow 3); ``status`` is the LoggedModelStatus enum value."""

    __tablename__ = "logged_models"
    __table_args__ = (
        PrimaryKeyConstraint("model_id", name="logged_models_pk"),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_logged_models_experiment_id",
            ondelete="CASCADE",
        ),
        CheckConstraint(
            "lifecycle_stage IN ('active', 'deleted')", name="logged_models_lifecycle_stage_check"
        ),
    )

    model_id: Mapped[str] = mapped_column(String(36))
    experiment_id: Mapped[int] = mapped_column(Integer())
    name: Mapped[str] = mapped_column(String(500))
    artifact_location: Mapped[str] = mapped_column(String(1000))
    creation_timestamp_ms: Mapped[int] = mapped_column(BigInteger())
    last_updated_timestamp_ms: Mapped[int] = mapped_column(BigInteger())
    status: Mapped[int] = mapped_column(Integer())
    lifecycle_stage: Mapped[str | None] = mapped_column(String(32))
    model_type: Mapped[str | None] = mapped_column(String(500))
    source_run_id: Mapped[str | None] = mapped_column(String(32))
    status_message: Mapped[str | None] = mapped_column(String(1000))


class SqlLoggedModelParam(Base):
    """One param of a logged model."""

    __tablename__ = "logged_model_params"
    __table_args__ = (
        PrimaryKeyConstraint("model_id", "param_key", name="logged_model_params_pk"),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_logged_model_params_experiment_id",
        ),
        ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            name="fk_logged_model_params_model_id",
            ondelete="CASCADE",
        ),
    )

    model_id: Mapped[str] = mapped_column(String(36))
    experiment_id: Mapped[int] = mapped_column(Integer())
    param_key: Mapped[str] = mapped_column(String(255))
    param_value: Mapped[str] = mapped_column(Text())


class SqlLoggedModelTag(Base):
    """One tag of a logged model."""

    __tablename__ = "logged_model_tags"
    __table_args__ = (
        PrimaryKeyConstraint("model_id", "tag_key", name="logged_model_tags_pk"),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_logged_model_tags_experiment_id",
        ),
        ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            name="fk_logged_model_tags_model_id",
            ondelete="CASCADE",
        ),
    )

    model_id: Mapped[str] = mapped_column(String(36))
    experiment_id: Mapped[int] = mapped_column(Integer())
    tag_key: Mapped[str] = mapped_column(String(255))
    tag_value: Mapped[str] = mapped_column(Text())


class SqlLoggedModelMetric(Base):
    """One metric point of a logged model, as logged by a run."""

    __tablename__ = "logged_model_metrics"
    __table_args__ = (
        PrimaryKeyConstraint(
            "model_id",
            "metric_name",
            "metric_timestamp_ms",
            "metric_step",
            "run_id",
            name="logged_model_metrics_pk",
        ),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_logged_model_metrics_experiment_id",
        ),
        ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            name="fk_logged_model_metrics_model_id",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["run_id"], ["runs.run_uuid"], name="fk_logged_model_metrics_run_id", ondelete="CASCADE"
        ),
        Index("index_logged_model_metrics_model_id", "model_id"),
    )

    model_id: Mapped[str] = mapped_column(String(36))
    metric_name: Mapped[str] = mapped_column(String(500))
    metric_timestamp_ms: Mapped[int] = mapped_column(BigInteger())
    metric_step: Mapped[int] = mapped_column(BigInteger())
    metric_value: Mapped[float | None] = mapped_column(Double())
    experiment_id: Mapped[int] = mapped_column(Integer())
    run_id: Mapped[str] = mapped_column(String(32))
    dataset_uuid: Mapped[str | None] = mapped_column(String(36))
    dataset_name: Mapped[str | None] = mapped_column(String(500))
    dataset_digest: Mapped[str | None] = mapped_column(String(36))


class SqlEntityAssociation(Base):
    """A generic association between two entities (e.g. a trace and a run)."""

    __tablename__ = "entity_associations"
    __table_args__ = (
        PrimaryKeyConstraint(
            "source_type",
            "source_id",
            "destination_type",
            "destination_id",
            name="entity_associations_pk",
        ),
        Index("index_entity_associations_association_id", "association_id"),
        Index(
            "index_entity_associations_reverse_lookup",
            "destination_type",
            "destination_id",
            "source_type",
            "source_id",
        ),
    )

    association_id: Mapped[str] = mapped_column(String(36))
    source_type: Mapped[str] = mapped_column(String(36))
    source_id: Mapped[str] = mapped_column(String(36))
    destination_type: Mapped[str] = mapped_column(String(36))
    destination_id: Mapped[str] = mapped_column(String(36))
    created_time: Mapped[int | None] = mapped_column(BigInteger())
