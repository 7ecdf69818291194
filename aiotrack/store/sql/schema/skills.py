"""The skill registry (MLflow 3.18.0's ``e7d1f4b2a9c6``): skills, their versions, tags and aliases.

Mirrors, column for column, the schema MLflow 3.18.0's ``mlflow db upgrade`` creates
(see tests/store/test_schema.py); keep table, column, constraint and index names exactly as they are.
aiotrack does not serve the skill registry; the tables exist so the database is MLflow's.
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
)
from sqlalchemy.orm import Mapped, mapped_column

from aiotrack.store.sql.schema._base import Base
from aiotrack.store.sql.schema._types import BinaryString, MediumText

__all__ = [
    "SqlSkill",
    "SqlSkillAlias",
    "SqlSkillTag",
    "SqlSkillVersion",
    "SqlSkillVersionTag",
]


def _skill_fkey(name: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["workspace", "organization", "name"],
        ["skills.workspace", "skills.organization", "skills.name"],
        name=name,
        ondelete="CASCADE",
        onupdate="CASCADE",
    )


class SqlSkill(Base):
    """A registered skill, named within a workspace and an organization ('' for none)."""

    __tablename__ = "skills"
    __table_args__ = (PrimaryKeyConstraint("workspace", "organization", "name", name="skills_pk"),)

    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    organization: Mapped[str] = mapped_column(String(64), server_default="")
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text())
    icons: Mapped[Any | None] = mapped_column(JSON())
    search_text: Mapped[str | None] = mapped_column(Text())
    created_by: Mapped[str | None] = mapped_column(String(256))
    last_updated_by: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger())
    last_updated_at: Mapped[int] = mapped_column(BigInteger())


class SqlSkillVersion(Base):
    """One version of a skill and where its content comes from."""

    __tablename__ = "skill_versions"
    __table_args__ = (
        PrimaryKeyConstraint(
            "workspace", "organization", "name", "version", name="skill_versions_pk"
        ),
        _skill_fkey("skill_versions_skill_fkey"),
        Index(
            "ix_skill_versions_latest_lookup",
            "workspace",
            "organization",
            "name",
            "status",
            "version",
        ),
        Index("ix_skill_versions_digest", "workspace", "organization", "name", "digest"),
    )

    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    organization: Mapped[str] = mapped_column(String(64), server_default="")
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer())
    source_type: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(2048))
    ref: Mapped[str | None] = mapped_column(String(2048))
    subpath: Mapped[str | None] = mapped_column(String(2048))
    digest: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), server_default="active")
    created_by: Mapped[str | None] = mapped_column(String(256))
    last_updated_by: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger())
    last_updated_at: Mapped[int] = mapped_column(BigInteger())


class SqlSkillTag(Base):
    """One tag of a skill (keys case-sensitive on MySQL too)."""

    __tablename__ = "skill_tags"
    __table_args__ = (
        PrimaryKeyConstraint("workspace", "organization", "name", "key", name="skill_tags_pk"),
        _skill_fkey("skill_tags_skill_fkey"),
    )

    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    organization: Mapped[str] = mapped_column(String(64), server_default="")
    name: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(BinaryString(250))
    value: Mapped[str | None] = mapped_column(MediumText())


class SqlSkillVersionTag(Base):
    """One tag of a skill version (keys case-sensitive on MySQL too)."""

    __tablename__ = "skill_version_tags"
    __table_args__ = (
        PrimaryKeyConstraint(
            "workspace", "organization", "name", "version", "key", name="skill_version_tags_pk"
        ),
        ForeignKeyConstraint(
            ["workspace", "organization", "name", "version"],
            [
                "skill_versions.workspace",
                "skill_versions.organization",
                "skill_versions.name",
                "skill_versions.version",
            ],
            name="skill_version_tags_version_fkey",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
    )

    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    organization: Mapped[str] = mapped_column(String(64), server_default="")
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer())
    key: Mapped[str] = mapped_column(BinaryString(250))
    value: Mapped[str | None] = mapped_column(MediumText())


class SqlSkillAlias(Base):
    """An alias pointing at one version of a skill."""

    __tablename__ = "skill_aliases"
    __table_args__ = (
        PrimaryKeyConstraint("workspace", "organization", "name", "alias", name="skill_aliases_pk"),
        _skill_fkey("skill_aliases_skill_fkey"),
    )

    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    organization: Mapped[str] = mapped_column(String(64), server_default="")
    name: Mapped[str] = mapped_column(String(128))
    alias: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer())
