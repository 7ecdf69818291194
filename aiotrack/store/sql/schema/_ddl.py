"""DDL MLflow's migrations add outside SQLAlchemy's table model: the ``secrets`` immutability trigger.

The statements are attached to ``secrets``' ``after_create`` event so ``metadata.create_all`` (and
hence the baseline migration) creates them for the dialect at hand, exactly as MLflow's
``1bd49d398cd23`` migration writes them.
"""

from __future__ import annotations

from sqlalchemy import DDL, event
from sqlalchemy.sql.ddl import ExecutableDDLElement

from aiotrack.store.sql.schema.gateway import SqlGatewaySecret

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


def _ddl(statement: str, dialect: str) -> ExecutableDDLElement:
    return DDL(statement).execute_if(dialect=dialect)  # type: ignore[no-untyped-call]


_secrets = SqlGatewaySecret.__table__
event.listen(_secrets, "after_create", _ddl(_SQLITE_TRIGGER, "sqlite"))
event.listen(_secrets, "after_create", _ddl(_POSTGRESQL_FUNCTION, "postgresql"))
event.listen(_secrets, "after_create", _ddl(_POSTGRESQL_TRIGGER, "postgresql"))
# drop_all on PostgreSQL would otherwise leave the function behind.
event.listen(
    _secrets, "after_drop", _ddl(f"DROP FUNCTION IF EXISTS {TRIGGER_NAME}()", "postgresql")
)
