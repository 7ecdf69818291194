"""Map the database URIs users give ``mlflow server`` onto SQLAlchemy's async drivers.

aiotrack accepts the same ``--backend-store-uri`` values as MLflow and rewrites the driver part::

    sqlite:///rel.db, sqlite:////abs.db, sqlite://        -> sqlite+aiosqlite:...
    postgresql://, postgres://, postgresql+psycopg2://,
    postgresql+psycopg://, postgresql+pg8000://            -> postgresql+asyncpg://...
    mysql://, mysql+pymysql://, mysql+mysqldb://,
    mysql+mysqlconnector://, mysql+aiomysql://,
    mariadb://, mariadb+pymysql://, ...                   -> mysql+asyncmy://...
    sqlite+aiosqlite://..., postgresql+asyncpg://...,
    mysql+asyncmy://...                                    -> unchanged
    mssql...                                               -> ConfigError (not supported)

User, password, host, port, database and query parameters are kept; libpq-only query parameters
are translated for asyncpg (``sslmode`` -> ``ssl``), MySQL ones asyncmy cannot take are rejected,
each with a clear message. Errors are ``ConfigError`` (a ``ValueError``): these are start-up/CLI
errors, not HTTP errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = [
    "ConfigError",
    "is_database_uri",
    "is_mysql",
    "is_postgresql",
    "is_sqlite",
    "redact",
    "to_async_url",
]


class ConfigError(ValueError):
    """A configuration value (here: a backend store URI) aiotrack cannot use."""


@dataclass(frozen=True, slots=True)
class _Backend:
    """How one URI scheme (``backend`` or ``backend+driver``) is handled."""

    async_driver: str | None  # full async drivername, None when unsupported
    unsupported: str = ""  # the message when async_driver is None


_SQLITE = _Backend("sqlite+aiosqlite")
_POSTGRES = _Backend("postgresql+asyncpg")
#: MariaDB speaks the MySQL protocol: one driver for both (``mariadb://`` would make SQLAlchemy
#: insist that the server is MariaDB; ``mysql+asyncmy`` detects it).
_MYSQL = _Backend("mysql+asyncmy")
_MSSQL = _Backend(None, "Microsoft SQL Server backend stores are not supported by aiotrack")

#: Scheme -> handling. Add a row here to support another scheme (e.g. MySQL via aiomysql).
_BACKENDS: dict[str, _Backend] = {
    "sqlite": _SQLITE,
    "sqlite+pysqlite": _SQLITE,
    "sqlite+aiosqlite": _SQLITE,
    "postgresql": _POSTGRES,
    "postgres": _POSTGRES,
    "postgresql+psycopg2": _POSTGRES,
    "postgresql+psycopg": _POSTGRES,
    "postgresql+psycopg2cffi": _POSTGRES,
    "postgresql+pg8000": _POSTGRES,
    "postgresql+asyncpg": _POSTGRES,
    "mysql": _MYSQL,
    "mysql+pymysql": _MYSQL,
    "mysql+mysqldb": _MYSQL,
    "mysql+mysqlconnector": _MYSQL,
    "mysql+aiomysql": _MYSQL,
    "mysql+asyncmy": _MYSQL,
    "mariadb": _MYSQL,
    "mariadb+pymysql": _MYSQL,
    "mariadb+mariadbconnector": _MYSQL,
    "mariadb+mysqldb": _MYSQL,
    "mariadb+asyncmy": _MYSQL,
    "mariadb+aiomysql": _MYSQL,
    "mssql": _MSSQL,
    "mssql+pyodbc": _MSSQL,
    "mssql+pymssql": _MSSQL,
}

#: libpq query parameters renamed for asyncpg (values are compatible: disable, allow, prefer,
#: require, verify-ca, verify-full).
_PG_RENAMED = {"sslmode": "ssl"}
#: Query parameters asyncpg's ``connect()`` takes as they are.
_PG_PASSTHROUGH = frozenset(
    {
        "ssl",
        "host",
        "port",
        "passfile",
        "direct_tls",
        "target_session_attrs",
        "krbsrvname",
        "gsslib",
        "prepared_statement_cache_size",
        "prepared_statement_name_func",
    }
)


#: MySQL URI query parameters the SQLAlchemy asyncmy dialect takes (``ssl_*`` are gathered into
#: its ``ssl`` argument). MLflow's ``MLFLOW_MYSQL_SSL_*`` variables are not read: use these.
_MYSQL_QUERY = frozenset(
    {
        "charset",
        "connect_timeout",
        "read_timeout",
        "write_timeout",
        "init_command",
        "unix_socket",
        "local_infile",
        "ssl_ca",
        "ssl_cert",
        "ssl_key",
        "ssl_capath",
        "ssl_cipher",
        "ssl_check_hostname",
    }
)


def _parse(uri: str) -> URL:
    if "://" not in uri:
        raise ConfigError(
            f"{uri!r} is not a database URI; expected e.g. sqlite:///mlflow.db or "
            "postgresql://user:password@host:5432/db"
        )
    try:
        return make_url(uri)
    except ArgumentError as exc:
        raise ConfigError(f"Invalid database URI {redact(uri)!r}: {exc}") from None


def _backend(url: URL) -> _Backend:
    backend = _BACKENDS.get(url.drivername)
    if backend is None:
        raise ConfigError(
            f"Unsupported database URI scheme {url.drivername!r}; aiotrack supports "
            "sqlite:///, postgresql:// and mysql:// URIs"
        )
    return backend


def _postgres_query(url: URL) -> dict[str, str | tuple[str, ...]]:
    query: dict[str, str | tuple[str, ...]] = {}
    rejected = []
    for key, value in url.query.items():
        if key in _PG_RENAMED:
            query[_PG_RENAMED[key]] = value
        elif key in _PG_PASSTHROUGH:
            query[key] = value
        else:
            rejected.append(key)
    if rejected:
        raise ConfigError(
            f"Query parameter(s) {', '.join(sorted(rejected))} of the PostgreSQL URI are not "
            "supported by aiotrack's asyncpg driver; supported: "
            f"{', '.join(sorted(_PG_PASSTHROUGH | _PG_RENAMED.keys()))}"
        )
    return query


def _mysql_query(url: URL) -> dict[str, str | tuple[str, ...]]:
    rejected = sorted(key for key in url.query if key not in _MYSQL_QUERY)
    if rejected:
        raise ConfigError(
            f"Query parameter(s) {', '.join(rejected)} of the MySQL URI are not supported by "
            f"aiotrack's asyncmy driver; supported: {', '.join(sorted(_MYSQL_QUERY))}"
        )
    return dict(url.query)


def to_async_url(uri: str) -> str:
    """Return ``uri`` rewritten for SQLAlchemy's async drivers (aiosqlite, asyncpg, asyncmy).

    Raises ``ConfigError`` for non-database URIs, unsupported backends (MSSQL) and query
    parameters the async driver cannot take.
    """
    url = _parse(uri)
    backend = _backend(url)
    if backend.async_driver is None:
        raise ConfigError(f"{backend.unsupported}: {redact(uri)}")
    if backend is _SQLITE:
        # Rewrite only the scheme so relative/absolute/memory paths stay byte-for-byte the same.
        return "sqlite+aiosqlite" + uri[uri.index("://") :]
    query = _mysql_query(url) if backend is _MYSQL else _postgres_query(url)
    new = url.set(drivername=backend.async_driver, query=query)
    return new.render_as_string(hide_password=False)


def is_database_uri(uri: str) -> bool:
    """True when ``uri`` is a SQL database URI aiotrack recognises (even one it cannot use, like
    MSSQL: ``to_async_url`` then explains), False for paths and other schemes."""
    try:
        _backend(_parse(uri))
    except ConfigError:
        return False
    return True


def is_sqlite(url: str | URL) -> bool:
    """True for ``sqlite``/``sqlite+<driver>`` URLs."""
    return make_url(url).get_backend_name() == "sqlite"


def is_postgresql(url: str | URL) -> bool:
    """True for ``postgresql``/``postgres`` URLs with any driver."""
    return make_url(url).get_backend_name() in ("postgresql", "postgres")


def is_mysql(url: str | URL) -> bool:
    """True for ``mysql``/``mariadb`` URLs with any driver."""
    return make_url(url).get_backend_name() in ("mysql", "mariadb")


def redact(uri: str | URL) -> str:
    """``uri`` with its password replaced by ``***``, for logs and error messages."""
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except ArgumentError:
        return str(uri)
