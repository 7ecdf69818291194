"""MLflow 3.18.0: issues get an observation time, an updater and metadata; categories get a table.

Revision ID: 8b6ad64cb8f5
Revises: e7d1f4b2a9c6

A port of MLflow 3.18.0's revision of the same id (Apache-2.0). Existing issues are backfilled as
MLflow does: ``last_seen_timestamp`` from ``created_timestamp``, and one ``issue_categories`` row
per distinct category of the JSON ``categories`` list (kept as it is for older readers), keyed by
the SHA-256 of the trimmed, lower-cased category.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import LONGTEXT

revision: str = "8b6ad64cb8f5"
down_revision: str | Sequence[str] | None = "e7d1f4b2a9c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH_ROWS = 500


def upgrade() -> None:
    """Add the ``issues`` columns and indexes, create ``issue_categories`` and backfill both."""
    with op.batch_alter_table("issues") as batch_op:
        batch_op.add_column(sa.Column("last_seen_timestamp", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("last_updated_by", sa.String(255), nullable=True))
        batch_op.add_column(
            sa.Column("metadata", sa.Text().with_variant(LONGTEXT(), "mysql"), nullable=True)
        )
        batch_op.create_index(
            "index_issues_experiment_last_seen", ["experiment_id", "last_seen_timestamp"]
        )
        batch_op.create_index(
            "index_issues_experiment_updated", ["experiment_id", "last_updated_timestamp"]
        )
    op.create_table(
        "issue_categories",
        sa.Column("issue_id", sa.String(36), nullable=False),
        sa.Column("category_hash", sa.String(64), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("issue_id", "category_hash", name="issue_categories_pk"),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.issue_id"],
            name="fk_issue_categories_issue_id",
            ondelete="CASCADE",
        ),
    )
    op.create_index("index_issue_categories_hash", "issue_categories", ["category_hash"])

    issues = sa.table(
        "issues",
        sa.column("issue_id"),
        sa.column("categories"),
        sa.column("created_timestamp"),
        sa.column("last_seen_timestamp"),
    )
    categories = sa.table(
        "issue_categories", sa.column("issue_id"), sa.column("category_hash"), sa.column("category")
    )
    conn = op.get_bind()
    conn.execute(issues.update().values(last_seen_timestamp=issues.c.created_timestamp))
    rows = conn.execute(
        sa.select(issues.c.issue_id, issues.c.categories).where(issues.c.categories.is_not(None))
    )
    while batch := rows.fetchmany(_BATCH_ROWS):
        entries = [
            {"issue_id": row.issue_id, "category_hash": digest, "category": category}
            for row in batch
            for digest, category in _distinct_categories(row.categories).items()
        ]
        if entries:
            conn.execute(categories.insert(), entries)


def _distinct_categories(stored: str) -> dict[str, str]:
    """``{sha256(trimmed lower-cased category): category}``, the last spelling winning."""
    return {
        hashlib.sha256(category.strip().lower().encode()).hexdigest(): category
        for category in json.loads(stored)
    }


def downgrade() -> None:
    """Drop ``issue_categories`` and the added ``issues`` columns and indexes."""
    op.drop_index("index_issue_categories_hash", table_name="issue_categories")
    op.drop_table("issue_categories")
    with op.batch_alter_table("issues") as batch_op:
        batch_op.drop_index("index_issues_experiment_updated")
        batch_op.drop_index("index_issues_experiment_last_seen")
        batch_op.drop_column("metadata")
        batch_op.drop_column("last_updated_by")
        batch_op.drop_column("last_seen_timestamp")
