"""Server-side infrastructure tables: background jobs, scheduler leases and workspaces.

Mirrors, column for column, the schema MLflow 3.18.0's ``mlflow db upgrade`` creates
(see tests/store/test_schema.py); keep table, column, constraint and index names exactly as they are.
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
from aiotrack.store.sql.schema._types import Double

__all__ = ["SqlJob", "SqlJobLock", "SqlSchedulerLease", "SqlWorkspace"]


class SqlJob(Base):
    """A background job of the MLflow server."""

    __tablename__ = "jobs"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="jobs_pk"),
        Index(
            "index_jobs_name_status_creation_time",
            "job_name",
            "workspace",
            "status",
            "creation_time",
        ),
        Index("index_jobs_status_lease_expires_at", "status", "lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(36))
    creation_time: Mapped[int] = mapped_column(BigInteger())
    job_name: Mapped[str] = mapped_column(String(500))
    params: Mapped[str] = mapped_column(Text())
    timeout: Mapped[float | None] = mapped_column(Double())
    status: Mapped[int] = mapped_column(Integer())
    result: Mapped[str | None] = mapped_column(Text())
    retry_count: Mapped[int] = mapped_column(Integer())
    last_update_time: Mapped[int] = mapped_column(BigInteger())
    workspace: Mapped[str] = mapped_column(String(63), server_default="default")
    status_details: Mapped[Any | None] = mapped_column(JSON())
    creator: Mapped[str | None] = mapped_column(String(255))
    executor_backend: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[int | None] = mapped_column(BigInteger())
    status_message: Mapped[str | None] = mapped_column(Text())
    progress: Mapped[Any | None] = mapped_column(JSON())
    progress_updated_at: Mapped[int | None] = mapped_column(BigInteger())
    token_hash: Mapped[str | None] = mapped_column(String(64))
    scoped_permissions: Mapped[Any | None] = mapped_column(JSON())
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger())


class SqlJobLock(Base):
    """A lock held by a running job."""

    __tablename__ = "job_locks"
    __table_args__ = (
        PrimaryKeyConstraint("lock_key", name="job_locks_pk"),
        ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_locks_job_id", ondelete="CASCADE"
        ),
        Index("index_job_locks_job_id", "job_id"),
    )

    lock_key: Mapped[str] = mapped_column(String(255))
    job_id: Mapped[str] = mapped_column(String(36))
    acquired_at: Mapped[int] = mapped_column(BigInteger())


class SqlSchedulerLease(Base):
    """A lease held by a scheduler instance."""

    __tablename__ = "scheduler_leases"
    __table_args__ = (PrimaryKeyConstraint("lease_key", name="scheduler_leases_pk"),)

    lease_key: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[int] = mapped_column(BigInteger())
    ttl_seconds: Mapped[int] = mapped_column(Integer())


class SqlWorkspace(Base):
    """A workspace; MLflow's migrations insert the ``default`` one."""

    __tablename__ = "workspaces"
    __table_args__ = (PrimaryKeyConstraint("name", name="workspaces_pk"),)

    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str | None] = mapped_column(Text())
    default_artifact_root: Mapped[str | None] = mapped_column(Text())
    trace_archival_location: Mapped[str | None] = mapped_column(Text())
    trace_archival_retention: Mapped[str | None] = mapped_column(String(32))
