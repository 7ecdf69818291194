"""The AI gateway: secrets, endpoints, model definitions, bindings, budgets and guardrails.

Mirrors, column for column, the schema MLflow 3.18.0's ``mlflow db upgrade`` creates
(see tests/store/test_schema.py); keep table, column, constraint and index names exactly as they are.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aiotrack.store.sql.schema._base import Base

__all__ = [
    "SqlGatewayBudgetPolicy",
    "SqlGatewayEndpoint",
    "SqlGatewayEndpointBinding",
    "SqlGatewayEndpointModelMapping",
    "SqlGatewayEndpointTag",
    "SqlGatewayGuardrail",
    "SqlGatewayGuardrailConfig",
    "SqlGatewayModelDefinition",
    "SqlGatewaySecret",
]


class SqlGatewaySecret(Base):
    """An encrypted gateway secret; a trigger keeps ``secret_id``/``secret_name`` immutable."""

    __tablename__ = "secrets"
    __table_args__ = (
        PrimaryKeyConstraint("secret_id", name="secrets_pk"),
        UniqueConstraint("workspace", "secret_name", name="uq_secrets_workspace_secret_name"),
        Index("idx_secrets_workspace", "workspace"),
    )

    secret_id: Mapped[str] = mapped_column(String(36))
    secret_name: Mapped[str] = mapped_column(String(255))
    encrypted_value: Mapped[bytes] = mapped_column(LargeBinary())
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary())
    kek_version: Mapped[int] = mapped_column(Integer())
    masked_value: Mapped[str] = mapped_column(String(500))
    provider: Mapped[str | None] = mapped_column(String(64))
    auth_config: Mapped[str | None] = mapped_column(Text())
    description: Mapped[str | None] = mapped_column(Text())
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger())
    last_updated_by: Mapped[str | None] = mapped_column(String(255))
    last_updated_at: Mapped[int] = mapped_column(BigInteger())
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")


class SqlGatewayEndpoint(Base):
    """A gateway endpoint."""

    __tablename__ = "endpoints"
    __table_args__ = (
        PrimaryKeyConstraint("endpoint_id", name="endpoints_pk"),
        ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_endpoints_experiment_id",
            ondelete="SET NULL",
        ),
        UniqueConstraint("workspace", "name", name="uq_endpoints_workspace_name"),
        Index("idx_endpoints_workspace", "workspace"),
    )

    endpoint_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger())
    last_updated_by: Mapped[str | None] = mapped_column(String(255))
    last_updated_at: Mapped[int] = mapped_column(BigInteger())
    routing_strategy: Mapped[str | None] = mapped_column(String(64))
    fallback_config_json: Mapped[str | None] = mapped_column(Text())
    experiment_id: Mapped[int | None] = mapped_column(Integer())
    usage_tracking: Mapped[bool] = mapped_column(Boolean(), server_default="0")
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")


class SqlGatewayModelDefinition(Base):
    """A gateway model definition (provider + model name + secret)."""

    __tablename__ = "model_definitions"
    __table_args__ = (
        PrimaryKeyConstraint("model_definition_id", name="model_definitions_pk"),
        ForeignKeyConstraint(
            ["secret_id"],
            ["secrets.secret_id"],
            name="fk_model_definitions_secret_id",
            ondelete="SET NULL",
        ),
        UniqueConstraint("workspace", "name", name="uq_model_definitions_workspace_name"),
        Index("idx_model_definitions_workspace", "workspace"),
        Index("index_model_definitions_provider", "provider"),
        Index("index_model_definitions_secret_id", "secret_id"),
    )

    model_definition_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    secret_id: Mapped[str | None] = mapped_column(String(36))
    provider: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(256))
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger())
    last_updated_by: Mapped[str | None] = mapped_column(String(255))
    last_updated_at: Mapped[int] = mapped_column(BigInteger())
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")


class SqlGatewayEndpointModelMapping(Base):
    """Links a gateway endpoint to a model definition with a weight."""

    __tablename__ = "endpoint_model_mappings"
    __table_args__ = (
        PrimaryKeyConstraint("mapping_id", name="endpoint_model_mappings_pk"),
        ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.endpoint_id"],
            name="fk_endpoint_model_mappings_endpoint_id",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["model_definition_id"],
            ["model_definitions.model_definition_id"],
            name="fk_endpoint_model_mappings_model_definition_id",
        ),
        Index("index_endpoint_model_mappings_endpoint_id", "endpoint_id"),
        Index("index_endpoint_model_mappings_model_definition_id", "model_definition_id"),
        Index(
            "unique_endpoint_model_linkage_mapping",
            "endpoint_id",
            "model_definition_id",
            "linkage_type",
            unique=True,
        ),
    )

    mapping_id: Mapped[str] = mapped_column(String(36))
    endpoint_id: Mapped[str] = mapped_column(String(36))
    model_definition_id: Mapped[str] = mapped_column(String(36))
    weight: Mapped[float] = mapped_column(Float())
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger())
    linkage_type: Mapped[str] = mapped_column(String(64), server_default="PRIMARY")
    fallback_order: Mapped[int | None] = mapped_column(Integer())


class SqlGatewayEndpointBinding(Base):
    """Binds a gateway endpoint to a resource."""

    __tablename__ = "endpoint_bindings"
    __table_args__ = (
        PrimaryKeyConstraint(
            "endpoint_id", "resource_type", "resource_id", name="endpoint_bindings_pk"
        ),
        ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.endpoint_id"],
            name="fk_endpoint_bindings_endpoint_id",
            ondelete="CASCADE",
        ),
    )

    endpoint_id: Mapped[str] = mapped_column(String(36))
    resource_type: Mapped[str] = mapped_column(String(50))
    resource_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger())
    created_by: Mapped[str | None] = mapped_column(String(255))
    last_updated_at: Mapped[int] = mapped_column(BigInteger())
    last_updated_by: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))


class SqlGatewayEndpointTag(Base):
    """One tag of a gateway endpoint."""

    __tablename__ = "endpoint_tags"
    __table_args__ = (
        PrimaryKeyConstraint("key", "endpoint_id", name="endpoint_tag_pk"),
        ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.endpoint_id"],
            name="fk_endpoint_tags_endpoint_id",
            ondelete="CASCADE",
        ),
        Index("index_endpoint_tags_endpoint_id", "endpoint_id"),
    )

    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(String(5000))
    endpoint_id: Mapped[str] = mapped_column(String(36))


class SqlGatewayBudgetPolicy(Base):
    """A gateway budget policy."""

    __tablename__ = "budget_policies"
    __table_args__ = (
        PrimaryKeyConstraint("budget_policy_id", name="budget_policies_pk"),
        Index("idx_budget_policies_target_value", "target_value"),
        Index("idx_budget_policies_workspace", "workspace"),
    )

    budget_policy_id: Mapped[str] = mapped_column(String(36))
    budget_unit: Mapped[str] = mapped_column(String(32))
    budget_amount: Mapped[float] = mapped_column(Float())
    duration_unit: Mapped[str] = mapped_column(String(32))
    duration_value: Mapped[int] = mapped_column(Integer())
    target_scope: Mapped[str] = mapped_column(String(32))
    budget_action: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger())
    last_updated_by: Mapped[str | None] = mapped_column(String(255))
    last_updated_at: Mapped[int] = mapped_column(BigInteger())
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    target_value: Mapped[str | None] = mapped_column(String(255))


class SqlGatewayGuardrail(Base):
    """A gateway guardrail backed by a scorer version."""

    __tablename__ = "guardrails"
    __table_args__ = (
        PrimaryKeyConstraint("guardrail_id", name="guardrails_pk"),
        ForeignKeyConstraint(
            ["action_endpoint_id"],
            ["endpoints.endpoint_id"],
            name="fk_guardrails_action_endpoint_id",
            ondelete="SET NULL",
        ),
        ForeignKeyConstraint(
            ["scorer_id", "scorer_version"],
            ["scorer_versions.scorer_id", "scorer_versions.scorer_version"],
            name="fk_guardrails_scorer_version",
        ),
        Index("idx_guardrails_scorer", "scorer_id", "scorer_version"),
        Index("idx_guardrails_workspace", "workspace"),
    )

    guardrail_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    scorer_id: Mapped[str] = mapped_column(String(36))
    scorer_version: Mapped[int] = mapped_column(Integer())
    stage: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    action_endpoint_id: Mapped[str | None] = mapped_column(String(36))
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger())
    last_updated_by: Mapped[str | None] = mapped_column(String(255))
    last_updated_at: Mapped[int] = mapped_column(BigInteger())
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")


class SqlGatewayGuardrailConfig(Base):
    """Attaches a guardrail to a gateway endpoint."""

    __tablename__ = "guardrail_configs"
    __table_args__ = (
        PrimaryKeyConstraint("endpoint_id", "guardrail_id", name="guardrail_configs_pk"),
        ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.endpoint_id"],
            name="fk_guardrail_configs_endpoint_id",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["guardrail_id"],
            ["guardrails.guardrail_id"],
            name="fk_guardrail_configs_guardrail_id",
            ondelete="CASCADE",
        ),
        Index("idx_guardrail_configs_endpoint_id", "endpoint_id"),
        Index("idx_guardrail_configs_guardrail_id", "guardrail_id"),
    )

    endpoint_id: Mapped[str] = mapped_column(String(36))
    guardrail_id: Mapped[str] = mapped_column(String(36))
    execution_order: Mapped[int | None] = mapped_column(Integer())
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger())
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
