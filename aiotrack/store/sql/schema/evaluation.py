"""GenAI evaluation: evaluation datasets, scorers, online scoring, label schemas and review queues.

Mirrors, column for column, the schema MLflow 3.18.0's ``mlflow db upgrade`` creates
(see tests/store/test_schema.py); keep table, column, constraint and index names exactly as they are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from aiotrack.store.sql.schema._base import Base
from aiotrack.store.sql.schema._types import Double

__all__ = [
    "SqlEvaluationDataset",
    "SqlEvaluationDatasetRecord",
    "SqlEvaluationDatasetTag",
    "SqlLabelSchema",
    "SqlOnlineScoringConfig",
    "SqlReviewQueue",
    "SqlReviewQueueItem",
    "SqlReviewQueueLabelSchema",
    "SqlReviewQueueUser",
    "SqlScorer",
    "SqlScorerVersion",
]


class SqlEvaluationDataset(Base):
    """A GenAI evaluation dataset."""

    __tablename__ = "evaluation_datasets"
    __table_args__ = (
        PrimaryKeyConstraint("dataset_id", name="evaluation_datasets_pk"),
        Index("idx_evaluation_datasets_workspace", "workspace"),
        Index("index_evaluation_datasets_created_time", "created_time"),
        Index("index_evaluation_datasets_name", "name"),
    )

    dataset_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    schema: Mapped[str | None] = mapped_column(Text())
    profile: Mapped[str | None] = mapped_column(Text())
    digest: Mapped[str | None] = mapped_column(String(64))
    created_time: Mapped[int | None] = mapped_column(BigInteger())
    last_update_time: Mapped[int | None] = mapped_column(BigInteger())
    created_by: Mapped[str | None] = mapped_column(String(255))
    last_updated_by: Mapped[str | None] = mapped_column(String(255))
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")


class SqlEvaluationDatasetTag(Base):
    """One tag of an evaluation dataset."""

    __tablename__ = "evaluation_dataset_tags"
    __table_args__ = (
        PrimaryKeyConstraint("dataset_id", "key", name="evaluation_dataset_tags_pk"),
        ForeignKeyConstraint(
            ["dataset_id"],
            ["evaluation_datasets.dataset_id"],
            name="fk_evaluation_dataset_tags_dataset_id",
            ondelete="CASCADE",
        ),
        Index("index_evaluation_dataset_tags_dataset_id", "dataset_id"),
    )

    dataset_id: Mapped[str] = mapped_column(String(36))
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str | None] = mapped_column(String(5000))


class SqlEvaluationDatasetRecord(Base):
    """One record of an evaluation dataset; unique per (dataset_id, input_hash)."""

    __tablename__ = "evaluation_dataset_records"
    __table_args__ = (
        PrimaryKeyConstraint("dataset_record_id", name="evaluation_dataset_records_pk"),
        ForeignKeyConstraint(
            ["dataset_id"],
            ["evaluation_datasets.dataset_id"],
            name="fk_evaluation_dataset_records_dataset_id",
            ondelete="CASCADE",
        ),
        UniqueConstraint("dataset_id", "input_hash", name="unique_dataset_input"),
        Index("index_evaluation_dataset_records_dataset_id", "dataset_id"),
    )

    dataset_record_id: Mapped[str] = mapped_column(String(36))
    dataset_id: Mapped[str] = mapped_column(String(36))
    inputs: Mapped[Any] = mapped_column(JSON())
    expectations: Mapped[Any | None] = mapped_column(JSON())
    tags: Mapped[Any | None] = mapped_column(JSON())
    source: Mapped[Any | None] = mapped_column(JSON())
    source_id: Mapped[str | None] = mapped_column(String(36))
    source_type: Mapped[str | None] = mapped_column(String(255))
    created_time: Mapped[int | None] = mapped_column(BigInteger())
    last_update_time: Mapped[int | None] = mapped_column(BigInteger())
    created_by: Mapped[str | None] = mapped_column(String(255))
    last_updated_by: Mapped[str | None] = mapped_column(String(255))
    input_hash: Mapped[str] = mapped_column(String(64))
    outputs: Mapped[Any | None] = mapped_column(JSON())


class SqlScorer(Base):
    """A scorer registered on an experiment."""

    __tablename__ = "scorers"
    __table_args__ = (
        PrimaryKeyConstraint("scorer_id", name="scorer_pk"),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_scorers_experiment_id",
            ondelete="CASCADE",
        ),
        Index(
            "index_scorers_experiment_id_scorer_name", "experiment_id", "scorer_name", unique=True
        ),
    )

    experiment_id: Mapped[int] = mapped_column(Integer())
    scorer_name: Mapped[str] = mapped_column(String(256))
    scorer_id: Mapped[str] = mapped_column(String(36))


class SqlScorerVersion(Base):
    """One serialized version of a scorer."""

    __tablename__ = "scorer_versions"
    __table_args__ = (
        PrimaryKeyConstraint("scorer_id", "scorer_version", name="scorer_version_pk"),
        ForeignKeyConstraint(
            ["scorer_id"],
            ["scorers.scorer_id"],
            name="fk_scorer_versions_scorer_id",
            ondelete="CASCADE",
        ),
        Index("index_scorer_versions_scorer_id", "scorer_id"),
    )

    scorer_id: Mapped[str] = mapped_column(String(36))
    scorer_version: Mapped[int] = mapped_column(Integer())
    serialized_scorer: Mapped[str] = mapped_column(Text())
    creation_time: Mapped[int | None] = mapped_column(BigInteger())


class SqlOnlineScoringConfig(Base):
    """Online scoring settings of a scorer."""

    __tablename__ = "online_scoring_configs"
    __table_args__ = (
        PrimaryKeyConstraint("online_scoring_config_id", name="online_scoring_config_pk"),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_online_scoring_configs_experiment_id",
        ),
        ForeignKeyConstraint(
            ["scorer_id"],
            ["scorers.scorer_id"],
            name="fk_online_scoring_configs_scorer_id",
            ondelete="CASCADE",
        ),
    )

    online_scoring_config_id: Mapped[str] = mapped_column(String(36))
    scorer_id: Mapped[str] = mapped_column(String(36))
    sample_rate: Mapped[float] = mapped_column(Double())
    experiment_id: Mapped[int] = mapped_column(Integer())
    filter_string: Mapped[str | None] = mapped_column(Text())


class SqlLabelSchema(Base):
    """A labeling schema of an experiment."""

    __tablename__ = "label_schemas"
    __table_args__ = (
        PrimaryKeyConstraint("schema_id", name="label_schemas_pk"),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_label_schemas_experiment_id",
            ondelete="CASCADE",
        ),
        UniqueConstraint("experiment_id", "name", name="uq_label_schemas_exp_name"),
        Index("index_label_schemas_experiment_id", "experiment_id"),
    )

    schema_id: Mapped[str] = mapped_column(String(36))
    experiment_id: Mapped[int] = mapped_column(Integer())
    name: Mapped[str] = mapped_column(String(250))
    type: Mapped[str] = mapped_column(String(16))
    instruction: Mapped[str | None] = mapped_column(Text())
    enable_comment: Mapped[bool] = mapped_column(Boolean(), server_default="0")
    input_type: Mapped[str] = mapped_column(String(32))
    input_config: Mapped[str] = mapped_column(Text())
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_time: Mapped[int] = mapped_column(BigInteger())
    last_update_time: Mapped[int] = mapped_column(BigInteger())
    is_default: Mapped[bool] = mapped_column(Boolean(), server_default=false())


class SqlReviewQueue(Base):
    """A review (labeling) queue of an experiment."""

    __tablename__ = "review_queues"
    __table_args__ = (
        PrimaryKeyConstraint("queue_id", name="review_queues_pk"),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_review_queues_experiment_id",
            ondelete="CASCADE",
        ),
        UniqueConstraint("experiment_id", "name_key", name="uq_review_queues_experiment_name_key"),
        Index("index_review_queues_experiment_id", "experiment_id"),
    )

    queue_id: Mapped[str] = mapped_column(String(36))
    experiment_id: Mapped[int] = mapped_column(Integer())
    name: Mapped[str] = mapped_column(String(250))
    queue_type: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(String(255))
    creation_time_ms: Mapped[int] = mapped_column(BigInteger())
    last_update_time_ms: Mapped[int] = mapped_column(BigInteger())
    name_key: Mapped[str] = mapped_column(String(250))


class SqlReviewQueueUser(Base):
    """A user assigned to a review queue."""

    __tablename__ = "review_queue_users"
    __table_args__ = (
        PrimaryKeyConstraint("queue_id", "user_id", name="review_queue_users_pk"),
        ForeignKeyConstraint(
            ["queue_id"],
            ["review_queues.queue_id"],
            name="fk_review_queue_users_queue_id",
            ondelete="CASCADE",
        ),
        Index("index_review_queue_users_user_id", "user_id"),
    )

    queue_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[str] = mapped_column(String(250))


class SqlReviewQueueItem(Base):
    """One item (trace or session) in a review queue."""

    __tablename__ = "review_queue_items"
    __table_args__ = (
        PrimaryKeyConstraint("queue_id", "item_id", name="review_queue_items_pk"),
        ForeignKeyConstraint(
            ["queue_id"],
            ["review_queues.queue_id"],
            name="fk_review_queue_items_queue_id",
            ondelete="CASCADE",
        ),
        Index("index_review_queue_items_item_id", "item_id"),
        Index("index_review_queue_items_queue_id_status", "queue_id", "status"),
    )

    queue_id: Mapped[str] = mapped_column(String(36))
    item_type: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(16))
    completed_by: Mapped[str | None] = mapped_column(String(250))
    completed_time_ms: Mapped[int | None] = mapped_column(BigInteger())
    creation_time_ms: Mapped[int] = mapped_column(BigInteger())
    last_update_time_ms: Mapped[int] = mapped_column(BigInteger())


class SqlReviewQueueLabelSchema(Base):
    """A label schema used by a review queue."""

    __tablename__ = "review_queue_label_schemas"
    __table_args__ = (
        PrimaryKeyConstraint("queue_id", "schema_id", name="review_queue_label_schemas_pk"),
        ForeignKeyConstraint(
            ["queue_id"],
            ["review_queues.queue_id"],
            name="fk_review_queue_label_schemas_queue_id",
            ondelete="CASCADE",
        ),
        Index("index_review_queue_label_schemas_schema_id", "schema_id"),
    )

    queue_id: Mapped[str] = mapped_column(String(36))
    schema_id: Mapped[str] = mapped_column(String(36))
