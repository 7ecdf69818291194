"""SQLAlchemy models of MLflow 3.18.0's SQL schema, all on one ``MetaData`` (``metadata``).

The tables, columns, keys, constraints and indexes are those ``mlflow db upgrade`` creates at
revision ``MLFLOW_HEAD_REVISION``, so a database is interchangeable between ``mlflow server`` and
aiotrack. Models have no relationships: the store loads related rows with explicit queries.
"""

from __future__ import annotations

from aiotrack.store.sql.schema import _ddl  # noqa: F401  (registers the secrets trigger DDL)
from aiotrack.store.sql.schema._base import Base, metadata
from aiotrack.store.sql.schema.analytics import (
    SqlAssessmentDailyRollup,
    SqlSpanCostDailyRollup,
    SqlTraceMetricDailyRollup,
    SqlTraceRollupRebuild,
)
from aiotrack.store.sql.schema.evaluation import (
    SqlEvaluationDataset,
    SqlEvaluationDatasetRecord,
    SqlEvaluationDatasetTag,
    SqlLabelSchema,
    SqlOnlineScoringConfig,
    SqlReviewQueue,
    SqlReviewQueueItem,
    SqlReviewQueueLabelSchema,
    SqlReviewQueueUser,
    SqlScorer,
    SqlScorerVersion,
)
from aiotrack.store.sql.schema.gateway import (
    SqlGatewayBudgetPolicy,
    SqlGatewayEndpoint,
    SqlGatewayEndpointBinding,
    SqlGatewayEndpointModelMapping,
    SqlGatewayEndpointTag,
    SqlGatewayGuardrail,
    SqlGatewayGuardrailConfig,
    SqlGatewayModelDefinition,
    SqlGatewaySecret,
)
from aiotrack.store.sql.schema.logged_models import (
    SqlEntityAssociation,
    SqlLoggedModel,
    SqlLoggedModelMetric,
    SqlLoggedModelParam,
    SqlLoggedModelTag,
)
from aiotrack.store.sql.schema.mcp import (
    SqlMCPAccessEndpoint,
    SqlMCPServer,
    SqlMCPServerAlias,
    SqlMCPServerTag,
    SqlMCPServerVersion,
    SqlMCPServerVersionTag,
)
from aiotrack.store.sql.schema.platform import (
    SqlJob,
    SqlJobLock,
    SqlSchedulerLease,
    SqlWorkspace,
)
from aiotrack.store.sql.schema.registry import (
    SqlModelVersion,
    SqlModelVersionTag,
    SqlRegisteredModel,
    SqlRegisteredModelAlias,
    SqlRegisteredModelTag,
    SqlWebhook,
    SqlWebhookEvent,
)
from aiotrack.store.sql.schema.skills import (
    SqlSkill,
    SqlSkillAlias,
    SqlSkillTag,
    SqlSkillVersion,
    SqlSkillVersionTag,
)
from aiotrack.store.sql.schema.traces import (
    SqlAssessments,
    SqlIssue,
    SqlIssueCategory,
    SqlSpan,
    SqlSpanMetrics,
    SqlTraceInfo,
    SqlTraceMetadata,
    SqlTraceMetrics,
    SqlTraceTag,
)
from aiotrack.store.sql.schema.tracking import (
    SqlDataset,
    SqlExperiment,
    SqlExperimentTag,
    SqlInput,
    SqlInputTag,
    SqlLatestMetric,
    SqlMetric,
    SqlParam,
    SqlRun,
    SqlTag,
)

#: The alembic revision ``mlflow db upgrade`` (MLflow 3.18.0) leaves in ``alembic_version``.
MLFLOW_HEAD_REVISION = "f4a9b2c7d1e6"

__all__ = [
    "MLFLOW_HEAD_REVISION",
    "Base",
    "SqlAssessmentDailyRollup",
    "SqlAssessments",
    "SqlDataset",
    "SqlEntityAssociation",
    "SqlEvaluationDataset",
    "SqlEvaluationDatasetRecord",
    "SqlEvaluationDatasetTag",
    "SqlExperiment",
    "SqlExperimentTag",
    "SqlGatewayBudgetPolicy",
    "SqlGatewayEndpoint",
    "SqlGatewayEndpointBinding",
    "SqlGatewayEndpointModelMapping",
    "SqlGatewayEndpointTag",
    "SqlGatewayGuardrail",
    "SqlGatewayGuardrailConfig",
    "SqlGatewayModelDefinition",
    "SqlGatewaySecret",
    "SqlInput",
    "SqlInputTag",
    "SqlIssue",
    "SqlIssueCategory",
    "SqlJob",
    "SqlJobLock",
    "SqlLabelSchema",
    "SqlLatestMetric",
    "SqlLoggedModel",
    "SqlLoggedModelMetric",
    "SqlLoggedModelParam",
    "SqlLoggedModelTag",
    "SqlMCPAccessEndpoint",
    "SqlMCPServer",
    "SqlMCPServerAlias",
    "SqlMCPServerTag",
    "SqlMCPServerVersion",
    "SqlMCPServerVersionTag",
    "SqlMetric",
    "SqlModelVersion",
    "SqlModelVersionTag",
    "SqlOnlineScoringConfig",
    "SqlParam",
    "SqlRegisteredModel",
    "SqlRegisteredModelAlias",
    "SqlRegisteredModelTag",
    "SqlReviewQueue",
    "SqlReviewQueueItem",
    "SqlReviewQueueLabelSchema",
    "SqlReviewQueueUser",
    "SqlRun",
    "SqlSchedulerLease",
    "SqlScorer",
    "SqlScorerVersion",
    "SqlSkill",
    "SqlSkillAlias",
    "SqlSkillTag",
    "SqlSkillVersion",
    "SqlSkillVersionTag",
    "SqlSpan",
    "SqlSpanCostDailyRollup",
    "SqlSpanMetrics",
    "SqlTag",
    "SqlTraceInfo",
    "SqlTraceMetadata",
    "SqlTraceMetricDailyRollup",
    "SqlTraceMetrics",
    "SqlTraceRollupRebuild",
    "SqlTraceTag",
    "SqlWebhook",
    "SqlWebhookEvent",
    "SqlWorkspace",
    "metadata",
]
