"""Baseline: the full schema of MLflow 3.17.2 (MLflow's head revision ``dc11669786a5``).

Revision ID: dc11669786a5
Revises:
Create Date: 2026-11-27

The id is MLflow 3.17.2's head revision, so ``alembic_version`` reads the same whether ``mlflow db
upgrade`` or aiotrack created the database. This revision only builds a schema from nothing (it is
how ``alembic upgrade head`` works on an empty database); ``aiotrack.store.sql.migrate`` instead
creates empty databases with ``metadata.create_all`` + stamp. MLflow's older revisions are not
ported yet: when they are, this file becomes the real ``75868b020152 -> dc11669786a5`` step and
empty databases keep using create_all + stamp.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from aiotrack.store.sql.migrate import create_schema
from aiotrack.store.sql.schema import metadata

revision: str = "dc11669786a5"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create every table, index, constraint and trigger, plus MLflow's ``default`` workspace."""
    create_schema(op.get_bind())


def downgrade() -> None:
    """Drop the whole schema (there is nothing before the baseline)."""
    metadata.drop_all(op.get_bind())
