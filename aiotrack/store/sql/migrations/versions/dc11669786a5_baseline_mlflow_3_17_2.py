"""Baseline: MLflow 3.17.2's head revision ``dc11669786a5``, where aiotrack's migrations start.

Revision ID: dc11669786a5
Revises:
Create Date: 2026-11-27

The id is MLflow 3.17.2's head revision, so ``alembic_version`` reads the same whether ``mlflow db
upgrade`` or aiotrack created the database. The revisions after it are aiotrack's ports of MLflow
3.18.0's; databases older than the baseline are brought to it by MLflow's own migrations
(``aiotrack.store.sql.mlflow_migrations``). Nothing is upgraded *to* the baseline from an empty
database: ``aiotrack.store.sql.migrate`` creates an empty database at the head with
``metadata.create_all`` and stamps it, and ``metadata`` models the head, not 3.17.2.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from aiotrack.store.sql.migrate import SchemaError
from aiotrack.store.sql.schema import metadata

revision: str = "dc11669786a5"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Refuse: an empty database is created at the head by ``aiotrack db upgrade`` instead."""
    raise SchemaError(
        "aiotrack's migrations start at MLflow 3.17.2's schema and do not build it from an empty "
        "database; create the schema with `aiotrack db upgrade URI` (or by starting the server)"
    )


def downgrade() -> None:
    """Drop the whole schema (there is nothing before the baseline)."""
    metadata.drop_all(op.get_bind())
