"""MLflow 3.18.0: the skill registry tables.

Revision ID: e7d1f4b2a9c6
Revises: dc11669786a5
Create Date: 2026-09-01

A port of MLflow 3.18.0's revision of the same id (Apache-2.0), without its SQL Server branches:
the DDL is written out here rather than taken from ``aiotrack.store.sql.schema``, so the step stays
what it was when the models change later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "e7d1f4b2a9c6"
down_revision: str | Sequence[str] | None = "dc11669786a5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tag_key() -> sa.types.TypeEngine[str]:
    return sa.String(length=250).with_variant(mysql.VARCHAR(250, collation="utf8mb4_bin"), "mysql")


def _tag_value() -> sa.types.TypeEngine[str]:
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")


def _owner_columns() -> list[sa.Column[str]]:
    """The ``workspace, organization, name`` prefix of every skill table's key."""
    return [
        sa.Column(
            "workspace", sa.String(length=63), nullable=False, server_default=sa.text("'default'")
        ),
        sa.Column(
            "organization", sa.String(length=64), nullable=False, server_default=sa.text("''")
        ),
        sa.Column("name", sa.String(length=128), nullable=False),
    ]


def _skill_fkey(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace", "organization", "name"],
        ["skills.workspace", "skills.organization", "skills.name"],
        ondelete="CASCADE",
        onupdate="CASCADE",
        name=name,
    )


def upgrade() -> None:
    """Create ``skills``, ``skill_versions``, ``skill_tags``, ``skill_version_tags`` and
    ``skill_aliases`` with their two lookup indexes."""
    op.create_table(
        "skills",
        *_owner_columns(),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("icons", sa.JSON(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=True),
        sa.Column("last_updated_by", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "organization", "name", name="skills_pk"),
    )
    op.create_table(
        "skill_versions",
        *_owner_columns(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source_type", sa.String(length=20), nullable=True),
        sa.Column("source", sa.String(length=2048), nullable=True),
        sa.Column("ref", sa.String(length=2048), nullable=True),
        sa.Column("subpath", sa.String(length=2048), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column(
            "status", sa.String(length=20), nullable=False, server_default=sa.text("'active'")
        ),
        sa.Column("created_by", sa.String(length=256), nullable=True),
        sa.Column("last_updated_by", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_at", sa.BigInteger(), nullable=False),
        _skill_fkey("skill_versions_skill_fkey"),
        sa.PrimaryKeyConstraint(
            "workspace", "organization", "name", "version", name="skill_versions_pk"
        ),
    )
    op.create_table(
        "skill_tags",
        *_owner_columns(),
        sa.Column("key", _tag_key(), nullable=False),
        sa.Column("value", _tag_value(), nullable=True),
        _skill_fkey("skill_tags_skill_fkey"),
        sa.PrimaryKeyConstraint("workspace", "organization", "name", "key", name="skill_tags_pk"),
    )
    op.create_table(
        "skill_version_tags",
        *_owner_columns(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key", _tag_key(), nullable=False),
        sa.Column("value", _tag_value(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace", "organization", "name", "version"],
            [
                "skill_versions.workspace",
                "skill_versions.organization",
                "skill_versions.name",
                "skill_versions.version",
            ],
            ondelete="CASCADE",
            onupdate="CASCADE",
            name="skill_version_tags_version_fkey",
        ),
        sa.PrimaryKeyConstraint(
            "workspace", "organization", "name", "version", "key", name="skill_version_tags_pk"
        ),
    )
    op.create_table(
        "skill_aliases",
        *_owner_columns(),
        sa.Column("alias", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _skill_fkey("skill_aliases_skill_fkey"),
        sa.PrimaryKeyConstraint(
            "workspace", "organization", "name", "alias", name="skill_aliases_pk"
        ),
    )
    op.create_index(
        "ix_skill_versions_latest_lookup",
        "skill_versions",
        ["workspace", "organization", "name", "status", "version"],
    )
    op.create_index(
        "ix_skill_versions_digest",
        "skill_versions",
        ["workspace", "organization", "name", "digest"],
    )


def downgrade() -> None:
    """Drop the skill tables, children first (their indexes go with them)."""
    for table in ("skill_aliases", "skill_version_tags", "skill_tags", "skill_versions", "skills"):
        op.drop_table(table)
