"""MLflow 3.18.0: MCP server versions compare case-sensitively on MySQL (``utf8mb4_bin``).

Revision ID: f4a9b2c7d1e6
Revises: 8b6ad64cb8f5
Create Date: 2026-09-16

A port of MLflow 3.18.0's revision of the same id (Apache-2.0), without its SQL Server branch.
SQLite and PostgreSQL already compare case-sensitively: nothing changes there. On MySQL the
version columns are re-collated, which means dropping and recreating the keys and the index that
cover them; the upgrade first refuses (changing nothing) when a reference to a version matches it
only case-insensitively, since it would dangle afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection

from aiotrack.store.sql.migrate import SchemaError

revision: str = "f4a9b2c7d1e6"
down_revision: str | Sequence[str] | None = "8b6ad64cb8f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLLATION = "utf8mb4_bin"

#: (table, version column, nullable)
_VERSION_COLUMNS = (
    ("mcp_server_versions", "version", False),
    ("mcp_server_version_tags", "version", False),
    ("mcp_server_aliases", "version", False),
    ("mcp_access_endpoints", "server_version", True),
)

#: (table, server name column, version column) of every reference to a server version
_REFERENCES = (
    ("mcp_server_version_tags", "name", "version"),
    ("mcp_server_aliases", "name", "version"),
    ("mcp_access_endpoints", "server_name", "server_version"),
)


def _check_version_references(connection: Connection) -> None:
    versions = sa.table(
        "mcp_server_versions", sa.column("workspace"), sa.column("name"), sa.column("version")
    )
    for table_name, name_column, version_column in _REFERENCES:
        references = sa.table(
            table_name, sa.column("workspace"), sa.column(name_column), sa.column(version_column)
        )
        reference_version = references.c[version_column]
        # Join with the current (case-insensitive) collation, compare with the new one.
        row = connection.execute(
            sa.select(
                references.c.workspace,
                references.c[name_column],
                reference_version,
                versions.c.version,
            )
            .select_from(
                references.join(
                    versions,
                    sa.and_(
                        references.c.workspace == versions.c.workspace,
                        references.c[name_column] == versions.c.name,
                        reference_version == versions.c.version,
                    ),
                )
            )
            .where(reference_version.collate(_COLLATION) != versions.c.version.collate(_COLLATION))
            .limit(1)
        ).first()
        if row is not None:
            workspace, name, reference, version = row
            raise SchemaError(
                "Cannot make MCP server versions case-sensitive: "
                f"{table_name}.{version_column} contains {reference!r} for server {name!r} "
                f"in workspace {workspace!r}, but the stored version is {version!r}. "
                "No schema or data changes have been made by this migration. "
                "Back up the database and correct MCP version references in "
                "mcp_server_version_tags, mcp_server_aliases, and mcp_access_endpoints "
                "to match the exact stored version text before retrying the upgrade."
            )


def _change_version_type(new_type: sa.types.TypeEngine[str]) -> None:
    op.drop_constraint(
        "mcp_server_version_tags_version_fkey", "mcp_server_version_tags", type_="foreignkey"
    )
    op.drop_index("ix_mcp_access_endpoints_version", table_name="mcp_access_endpoints")
    op.drop_constraint("mcp_server_version_tags_pk", "mcp_server_version_tags", type_="primary")
    op.drop_constraint("mcp_server_versions_pk", "mcp_server_versions", type_="primary")
    for table_name, column_name, nullable in _VERSION_COLUMNS:
        op.alter_column(
            table_name,
            column_name,
            existing_type=sa.String(128),
            type_=new_type,
            existing_nullable=nullable,
        )
    op.create_primary_key(
        "mcp_server_versions_pk", "mcp_server_versions", ["workspace", "name", "version"]
    )
    op.create_primary_key(
        "mcp_server_version_tags_pk",
        "mcp_server_version_tags",
        ["workspace", "name", "version", "key"],
    )
    op.create_foreign_key(
        "mcp_server_version_tags_version_fkey",
        "mcp_server_version_tags",
        "mcp_server_versions",
        ["workspace", "name", "version"],
        ["workspace", "name", "version"],
        ondelete="CASCADE",
        onupdate="CASCADE",
    )
    op.create_index(
        "ix_mcp_access_endpoints_version",
        "mcp_access_endpoints",
        ["workspace", "server_name", "server_version"],
    )


def upgrade() -> None:
    """Re-collate the MCP version columns on MySQL; a no-op elsewhere."""
    connection = op.get_bind()
    if connection.dialect.name == "mysql":
        _check_version_references(connection)
        _change_version_type(mysql.VARCHAR(128, collation=_COLLATION))


def downgrade() -> None:
    """Give the MCP version columns their default collation back on MySQL."""
    if op.get_bind().dialect.name == "mysql":
        _change_version_type(sa.String(128))
