"""The MCP server registry.

Mirrors, column for column, the schema MLflow 3.18.0's ``mlflow db upgrade`` creates
(see tests/store/test_schema.py); keep table, column, constraint and index names exactly as they are.
Version strings are case-sensitive on MySQL too (3.18's ``f4a9b2c7d1e6``): ``BinaryString``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from aiotrack.store.sql.schema._base import Base
from aiotrack.store.sql.schema._types import BinaryString

__all__ = [
    "SqlMCPAccessEndpoint",
    "SqlMCPServer",
    "SqlMCPServerAlias",
    "SqlMCPServerTag",
    "SqlMCPServerVersion",
    "SqlMCPServerVersionTag",
]


class SqlMCPServer(Base):
    """A registered MCP server."""

    __tablename__ = "mcp_servers"
    __table_args__ = (PrimaryKeyConstraint("workspace", "name", name="mcp_servers_pk"),)

    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    name: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text())
    icons: Mapped[Any | None] = mapped_column(JSON())
    created_by: Mapped[str | None] = mapped_column(String(256))
    last_updated_by: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger())
    last_updated_at: Mapped[int] = mapped_column(BigInteger())


class SqlMCPServerVersion(Base):
    """One version of an MCP server."""

    __tablename__ = "mcp_server_versions"
    __table_args__ = (
        PrimaryKeyConstraint("workspace", "name", "version", name="mcp_server_versions_pk"),
        ForeignKeyConstraint(
            ["workspace", "name"],
            ["mcp_servers.workspace", "mcp_servers.name"],
            name="mcp_server_versions_server_fkey",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        Index(
            "idx_mcp_server_versions_latest",
            "workspace",
            "name",
            "status",
            text("version_major DESC"),
            text("version_minor DESC"),
            text("version_patch DESC"),
        ),
    )

    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[str] = mapped_column(BinaryString(128))
    version_major: Mapped[int] = mapped_column(Integer())
    version_minor: Mapped[int] = mapped_column(Integer())
    version_patch: Mapped[int] = mapped_column(Integer())
    version_prerelease_sort_key: Mapped[str] = mapped_column(String(512))
    server_json: Mapped[Any] = mapped_column(JSON())
    status: Mapped[str] = mapped_column(String(20), server_default="draft")
    tools: Mapped[Any | None] = mapped_column(JSON())
    source: Mapped[str | None] = mapped_column(String(512))
    connect_options: Mapped[Any | None] = mapped_column(JSON())
    created_by: Mapped[str | None] = mapped_column(String(256))
    last_updated_by: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger())
    last_updated_at: Mapped[int] = mapped_column(BigInteger())


class SqlMCPServerTag(Base):
    """One tag of an MCP server."""

    __tablename__ = "mcp_server_tags"
    __table_args__ = (
        PrimaryKeyConstraint("workspace", "name", "key", name="mcp_server_tags_pk"),
        ForeignKeyConstraint(
            ["workspace", "name"],
            ["mcp_servers.workspace", "mcp_servers.name"],
            name="mcp_server_tags_server_fkey",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )

    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    name: Mapped[str] = mapped_column(String(256))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(String(5000))


class SqlMCPServerVersionTag(Base):
    """One tag of an MCP server version."""

    __tablename__ = "mcp_server_version_tags"
    __table_args__ = (
        PrimaryKeyConstraint(
            "workspace", "name", "version", "key", name="mcp_server_version_tags_pk"
        ),
        ForeignKeyConstraint(
            ["workspace", "name", "version"],
            [
                "mcp_server_versions.workspace",
                "mcp_server_versions.name",
                "mcp_server_versions.version",
            ],
            name="mcp_server_version_tags_version_fkey",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )

    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[str] = mapped_column(BinaryString(128))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str | None] = mapped_column(String(5000))


class SqlMCPServerAlias(Base):
    """An alias pointing at one MCP server version."""

    __tablename__ = "mcp_server_aliases"
    __table_args__ = (
        PrimaryKeyConstraint("workspace", "name", "alias", name="mcp_server_aliases_pk"),
        ForeignKeyConstraint(
            ["workspace", "name"],
            ["mcp_servers.workspace", "mcp_servers.name"],
            name="mcp_server_aliases_server_fkey",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )

    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    name: Mapped[str] = mapped_column(String(256))
    alias: Mapped[str] = mapped_column(String(256))
    version: Mapped[str] = mapped_column(BinaryString(128))


class SqlMCPAccessEndpoint(Base):
    """An access endpoint of an MCP server."""

    __tablename__ = "mcp_access_endpoints"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="mcp_access_endpoints_pk"),
        ForeignKeyConstraint(
            ["workspace", "server_name"],
            ["mcp_servers.workspace", "mcp_servers.name"],
            name="mcp_access_endpoints_server_fkey",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        Index("ix_mcp_access_endpoints_alias", "workspace", "server_name", "server_alias"),
        Index("ix_mcp_access_endpoints_server_name", "workspace", "server_name"),
        Index("ix_mcp_access_endpoints_version", "workspace", "server_name", "server_version"),
    )

    id: Mapped[str] = mapped_column(String(36))
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    server_name: Mapped[str] = mapped_column(String(256))
    server_version: Mapped[str | None] = mapped_column(BinaryString(128))
    server_alias: Mapped[str | None] = mapped_column(String(256))
    url: Mapped[str] = mapped_column(String(2048))
    transport_type: Mapped[str] = mapped_column(String(32), server_default="streamable-http")
    created_by: Mapped[str | None] = mapped_column(String(256))
    last_updated_by: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger())
    last_updated_at: Mapped[int] = mapped_column(BigInteger())
