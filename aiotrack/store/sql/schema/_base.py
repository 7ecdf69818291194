"""The declarative base and the single ``MetaData`` every aiotrack table lives on."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

__all__ = ["Base", "metadata"]

#: No naming convention on purpose: every constraint MLflow names is named explicitly in the
#: models, and the unnamed ones must stay unnamed so each backend picks MLflow's default name.
metadata = MetaData()


class Base(DeclarativeBase):
    """Declarative base of all aiotrack ORM models (MLflow's table layout)."""

    metadata = metadata
