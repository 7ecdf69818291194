"""DDL MLflow's migrations add outside SQLAlchemy's table model: the ``secrets`` immutability trigger.

(SQLite, PostgreSQL and MySQL/MariaDB; a MySQL trigger is dropped with its table), and on MySQL
the few leftovers of MLflow's migration history that ``CREATE TABLE`` alone would not produce.

The statements are attached to ``secrets``' ``after_create`` event so ``metadata.create_all`` (and
hence the baseline migration) creates them for the dialect at hand, exactly as MLflow's
``1bd49d398cd23`` migration writes them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import DDL, event
from sqlalchemy.sql.ddl import ExecutableDDLElement

from aiotrack.store.sql.schema.gateway import SqlGatewaySecret
from aiotrack.store.sql.schema.platform import SqlJob
from aiotrack.store.sql.schema.registry import SqlModelVersionTag, SqlRegisteredModelTag
from aiotrack.store.sql.schema.tracking import SqlMetric

__all__ = ["TRIGGER_NAME"]

TRIGGER_NAME = "prevent_secrets_aad_mutation"

_SQLITE_TRIGGER = f"""
CREATE TRIGGER {TRIGGER_NAME}
BEFORE UPDATE ON secrets
FOR EACH ROW
WHEN OLD.secret_id != NEW.secret_id OR OLD.secret_name != NEW.secret_name
BEGIN
    SELECT RAISE(ABORT, 'secret_id and secret_name are immutable (used as AAD in encryption)');
END;
"""

_POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {TRIGGER_NAME}()
RETURNS TRIGGER AS $$
BEGIN
    IF OLD.secret_id != NEW.secret_id OR OLD.secret_name != NEW.secret_name THEN
        RAISE EXCEPTION 'secret_id and secret_name are immutable (used as AAD in encryption)';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

_POSTGRESQL_TRIGGER = f"""
CREATE TRIGGER {TRIGGER_NAME}
BEFORE UPDATE ON secrets
FOR EACH ROW
EXECUTE FUNCTION {TRIGGER_NAME}();
"""


_MYSQL_TRIGGER = f"""
CREATE TRIGGER {TRIGGER_NAME}
BEFORE UPDATE ON secrets
FOR EACH ROW
BEGIN
    IF OLD.secret_id != NEW.secret_id OR OLD.secret_name != NEW.secret_name THEN
        SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'secret_id and secret_name are immutable (used as AAD in encryption)';
    END IF;
END;
"""


def _ddl(statement: str, dialect: str) -> ExecutableDDLElement:
    return DDL(statement).execute_if(dialect=dialect)  # type: ignore[no-untyped-call]


_secrets = SqlGatewaySecret.__table__
event.listen(_secrets, "after_create", _ddl(_SQLITE_TRIGGER, "sqlite"))
event.listen(_secrets, "after_create", _ddl(_POSTGRESQL_FUNCTION, "postgresql"))
event.listen(_secrets, "after_create", _ddl(_POSTGRESQL_TRIGGER, "postgresql"))
event.listen(_secrets, "after_create", _ddl(_MYSQL_TRIGGER, "mysql"))
# drop_all on PostgreSQL would otherwise leave the function behind.
event.listen(
    _secrets, "after_drop", _ddl(f"DROP FUNCTION IF EXISTS {TRIGGER_NAME}()", "postgresql")
)

# MySQL keeps traces of MLflow's migration history that a fresh CREATE TABLE would not have;
# recreate them so that an aiotrack-made MySQL database is the one `mlflow db upgrade` makes:
# - 5d2d30f0abce renamed jobs.function_name to job_name without `existing_nullable`, which on
#   MySQL (ALTER TABLE ... CHANGE) made the column nullable;
# - metrics.is_nan got its CHECK twice (the column's Boolean constraint, then 39d1c3be5f05's);
# - the tag tables keep the indexes InnoDB created for their pre-workspace foreign keys.
_MYSQL_HISTORY: list[tuple[Any, str]] = [
    (SqlJob.__table__, "ALTER TABLE jobs MODIFY job_name VARCHAR(500) NULL"),
    (SqlMetric.__table__, "ALTER TABLE metrics ADD CHECK (is_nan IN (0, 1))"),
    (SqlRegisteredModelTag.__table__, "CREATE INDEX name ON registered_model_tags (name)"),
    (SqlModelVersionTag.__table__, "CREATE INDEX name ON model_version_tags (name, version)"),
]
for _table, _statement in _MYSQL_HISTORY:
    event.listen(_table, "after_create", _ddl(_statement, "mysql"))
