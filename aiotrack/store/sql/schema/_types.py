"""Column types whose MySQL/MariaDB form differs from the generic one in MLflow's migrations."""

from __future__ import annotations

from sqlalchemy import Float, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

__all__ = ["BinaryString", "Double", "LongText", "MediumText"]


def Double() -> TypeEngine[float]:
    """A double-precision float: ``FLOAT`` on SQLite/PostgreSQL (both 8 bytes), ``DOUBLE`` on
    MySQL, whose plain ``FLOAT`` has 4 bytes (MLflow writes ``Float(precision=53)``)."""
    return Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")


def MediumText() -> TypeEngine[str]:
    """``TEXT``, but ``MEDIUMTEXT`` (16 MB) on MySQL, whose ``TEXT`` holds 64 KB."""
    return Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def LongText() -> TypeEngine[str]:
    """``TEXT``, but ``LONGTEXT`` (4 GB) on MySQL."""
    return Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def BinaryString(length: int) -> TypeEngine[str]:
    """``VARCHAR(length)`` compared case-sensitively: ``utf8mb4_bin`` on MySQL, whose default
    collation ignores case (SQLite and PostgreSQL compare case-sensitively already)."""
    return String(length).with_variant(
        mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb"
    )
