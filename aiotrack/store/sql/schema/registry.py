"""The model registry: registered models, versions, their tags and aliases, and webhooks.

Mirrors, column for column, the schema MLflow 3.18.0's ``mlflow db upgrade`` creates
(see tests/store/test_schema.py); keep table, column, constraint and index names exactly as they are.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from aiotrack.store.sql.schema._base import Base

__all__ = [
    "SqlModelVersion",
    "SqlModelVersionTag",
    "SqlRegisteredModel",
    "SqlRegisteredModelAlias",
    "SqlRegisteredModelTag",
    "SqlWebhook",
    "SqlWebhookEvent",
]


class SqlRegisteredModel(Base):
    """A registered model, keyed by (workspace, name)."""

    __tablename__ = "registered_models"
    __table_args__ = (
        PrimaryKeyConstraint("workspace", "name", name="registered_model_pk"),
        Index("idx_registered_models_workspace", "workspace"),
    )

    name: Mapped[str] = mapped_column(String(256))
    creation_time: Mapped[int | None] = mapped_column(BigInteger())
    last_updated_time: Mapped[int | None] = mapped_column(BigInteger())
    description: Mapped[str | None] = mapped_column(String(5000))
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")


class SqlRegisteredModelTag(Base):
    """One tag of a registered model."""

    __tablename__ = "registered_model_tags"
    __table_args__ = (
        PrimaryKeyConstraint("workspace", "key", "name", name="registered_model_tag_pk"),
        ForeignKeyConstraint(
            ["workspace", "name"],
            ["registered_models.workspace", "registered_models.name"],
            name="fk_registered_model_tags_registered_models",
            onupdate="CASCADE",
        ),
        Index("idx_registered_model_tags_workspace_name", "workspace", "name"),
    )

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(String(5000))
    name: Mapped[str] = mapped_column(String(256))
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")


class SqlModelVersion(Base):
    """One version of a registered model."""

    __tablename__ = "model_versions"
    __table_args__ = (
        PrimaryKeyConstraint("workspace", "name", "version", name="model_version_pk"),
        ForeignKeyConstraint(
            ["workspace", "name"],
            ["registered_models.workspace", "registered_models.name"],
            name="fk_model_versions_registered_models",
            onupdate="CASCADE",
        ),
    )

    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer())
    creation_time: Mapped[int | None] = mapped_column(BigInteger())
    last_updated_time: Mapped[int | None] = mapped_column(BigInteger())
    description: Mapped[str | None] = mapped_column(String(5000))
    user_id: Mapped[str | None] = mapped_column(String(256))
    current_stage: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(500))
    run_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(20))
    status_message: Mapped[str | None] = mapped_column(String(500))
    run_link: Mapped[str | None] = mapped_column(String(500))
    storage_location: Mapped[str | None] = mapped_column(String(500))
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")


class SqlModelVersionTag(Base):
    """One tag of a model version."""

    __tablename__ = "model_version_tags"
    __table_args__ = (
        PrimaryKeyConstraint("workspace", "key", "name", "version", name="model_version_tag_pk"),
        ForeignKeyConstraint(
            ["workspace", "name", "version"],
            ["model_versions.workspace", "model_versions.name", "model_versions.version"],
            name="fk_model_version_tags_model_versions",
            onupdate="CASCADE",
        ),
        Index("idx_model_version_tags_workspace_name_version", "workspace", "name", "version"),
    )

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(Text())
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer())
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")


class SqlRegisteredModelAlias(Base):
    """An alias pointing at one version of a registered model."""

    __tablename__ = "registered_model_aliases"
    __table_args__ = (
        PrimaryKeyConstraint("workspace", "name", "alias", name="registered_model_alias_pk"),
        ForeignKeyConstraint(
            ["workspace", "name"],
            ["registered_models.workspace", "registered_models.name"],
            name="fk_registered_model_aliases_registered_models",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )

    alias: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer())
    name: Mapped[str] = mapped_column(String(256))
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")


class SqlWebhook(Base):
    """A registry webhook."""

    __tablename__ = "webhooks"
    __table_args__ = (
        PrimaryKeyConstraint("webhook_id", name="webhook_pk"),
        Index("idx_webhooks_name", "name"),
        Index("idx_webhooks_status", "status"),
        Index("idx_webhooks_workspace", "workspace"),
    )

    webhook_id: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(String(1000))
    url: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), server_default="ACTIVE")
    secret: Mapped[str | None] = mapped_column(String(1000))
    creation_timestamp: Mapped[int | None] = mapped_column(BigInteger())
    last_updated_timestamp: Mapped[int | None] = mapped_column(BigInteger())
    deleted_timestamp: Mapped[int | None] = mapped_column(BigInteger())
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")


class SqlWebhookEvent(Base):
    """One (entity, action) event a webhook subscribes to."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        PrimaryKeyConstraint("webhook_id", "entity", "action", name="webhook_event_pk"),
        ForeignKeyConstraint(["webhook_id"], ["webhooks.webhook_id"], ondelete="CASCADE"),
        Index("idx_webhook_events_action", "action"),
        Index("idx_webhook_events_entity", "entity"),
        Index("idx_webhook_events_entity_action", "entity", "action"),
    )

    webhook_id: Mapped[str] = mapped_column(String(256))
    entity: Mapped[str] = mapped_column(String(50))
    action: Mapped[str] = mapped_column(String(50))
