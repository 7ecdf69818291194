"""Server configuration: one frozen dataclass holding every ``mlflow server`` option.

Each field carries its command-line flags, value parser, help text and the MLflow environment
variable that feeds it in ``field(metadata=...)``; `aiotrack.cli` generates the
``aiotrack server`` options from these fields with argparse-dataclass and resolves the
environment fallback. Nothing here reads the environment: a `Config` is built once, validated
in ``__post_init__`` and passed explicitly to the server.

Options whose feature aiotrack does not implement yet are listed once, in `UNSUPPORTED`;
`unsupported_settings` reports the ones a config sets to anything but their default so that the
CLI can refuse them instead of silently ignoring them.
"""

from __future__ import annotations

import argparse
import os
import shlex
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

__all__ = [
    "DEFAULT_ARTIFACTS_DESTINATION",
    "DEFAULT_ARTIFACTS_URI",
    "DEFAULT_BACKEND_STORE_URI",
    "DEFAULT_LOCAL_ARTIFACT_ROOT",
    "LOG_LEVELS",
    "UNSUPPORTED",
    "X_FRAME_OPTIONS",
    "Config",
    "ConfigError",
    "UnsupportedSetting",
    "is_file_store_uri",
    "option_flag",
    "parse_bool",
    "parse_csv",
    "redact_uri",
    "unsupported_settings",
]

#: MLflow 3.18's default backend when ``./mlruns`` holds no file-store data (§13).
DEFAULT_BACKEND_STORE_URI = "sqlite:///mlflow.db"
#: Default artifact root of new experiments when the server proxies artifacts.
DEFAULT_ARTIFACTS_URI = "mlflow-artifacts:/"
#: Default artifact root when artifacts are not proxied and the backend is not a local path.
DEFAULT_LOCAL_ARTIFACT_ROOT = "./mlruns"
#: Where proxied artifacts are stored by default.
DEFAULT_ARTIFACTS_DESTINATION = "./mlartifacts"
#: Accepted ``--x-frame-options`` values (compared case-insensitively; NONE omits the header).
X_FRAME_OPTIONS = ("SAMEORIGIN", "DENY", "NONE")
#: Accepted ``--log-level`` values (case-insensitive).
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")

_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


class ConfigError(ValueError):
    """An invalid configuration value; the message says how to fix it.

    ``field`` names the offending `Config` field (``None`` for cross-field problems) so that the
    CLI can point at the flag or environment variable the value came from.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def parse_bool(value: str) -> bool:
    """Parse a boolean environment value the way click does (``true/false``, ``1/0``, ``yes/no``, ...)."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not a boolean; use true or false")


def parse_csv(value: str) -> tuple[str, ...]:
    """Split a comma-separated list (``--allowed-hosts``, ``--cors-allowed-origins``), dropping blanks."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _option(
    default: Any,
    help: str,
    *,
    type: Callable[[str], Any],
    args: tuple[str, ...] = (),
    env: str | None = None,
    metavar: str | None = None,
) -> Any:
    """A Config field with argparse-dataclass metadata plus the MLflow env var name (``env``).

    ``type`` parses a command-line or environment string; `parse_bool` marks an on/off flag whose
    ``args`` are ``(on_flag, [off_flag])``.
    """
    metadata: dict[str, Any] = {"help": help, "type": type, "env": env}
    if args:
        metadata["args"] = list(args)
    if metavar is not None:
        metadata["metavar"] = metavar
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Config:
    """Everything ``aiotrack server`` needs, with MLflow 3.18's defaults.

    Construct it directly in tests (``Config(backend_store_uri=...)``); the CLI builds it from
    flags and environment variables. Invalid values raise `ConfigError` at construction.
    """

    # --- storage -----------------------------------------------------------------------------
    backend_store_uri: str = _option(
        DEFAULT_BACKEND_STORE_URI,
        "URI to which to persist experiment and run data. Acceptable URIs are "
        "SQLAlchemy-compatible database connection strings (e.g. 'sqlite:///path/to/file.db') "
        "or local file paths / file: URIs (MLflow's file store, e.g. './mlruns'). By default, "
        "data is logged to a local SQLite database (sqlite:///mlflow.db); like mlflow server, "
        "an existing ./mlruns file store is served instead when present.",
        type=str,
        env="MLFLOW_BACKEND_STORE_URI",
        metavar="PATH",
    )
    read_replica_backend_store_uri: str | None = _option(
        None,
        "URI for a read-only database replica. When specified, read operations (e.g. "
        "search_runs, get_experiment) are routed to this URI while write operations use "
        "--backend-store-uri. If not specified, all operations use --backend-store-uri.",
        type=str,
        env="MLFLOW_READ_REPLICA_BACKEND_STORE_URI",
        metavar="URI",
    )
    registry_store_uri: str | None = _option(
        None,
        "URI to which to persist registered models. Acceptable URIs are SQLAlchemy-compatible "
        "database connection strings (e.g. 'sqlite:///path/to/file.db'). If not specified, "
        "`backend-store-uri` is used.",
        type=str,
        env="MLFLOW_REGISTRY_STORE_URI",
        metavar="URI",
    )
    default_artifact_root: str | None = _option(
        None,
        "Directory in which to store artifacts for any new experiments created. Note that this "
        "flag does not impact already-created experiments. By default, data will be logged to "
        "the mlflow-artifacts:/ uri proxy if the --serve-artifacts option is enabled. "
        "Otherwise, the default location will be ./mlruns.",
        type=str,
        env="MLFLOW_DEFAULT_ARTIFACT_ROOT",
        metavar="URI",
    )
    serve_artifacts: bool = _option(
        True,
        "Enables serving of artifact uploads, downloads, and list requests by routing these "
        "requests to the storage location that is specified by '--artifacts-destination' "
        "directly through a proxy. The default location that these requests are served from is "
        "a local './mlartifacts' directory which can be overridden via the "
        "'--artifacts-destination' argument. To disable artifact serving, specify "
        "`--no-serve-artifacts`.",
        type=parse_bool,
        args=("--serve-artifacts", "--no-serve-artifacts"),
        env="MLFLOW_SERVE_ARTIFACTS",
    )
    artifacts_only: bool = _option(
        False,
        "If specified, configures the server to be used only for proxied artifact serving. "
        "With this mode enabled, functionality of the tracking service (e.g. run creation, "
        "metric logging, and parameter logging) is disabled.",
        type=parse_bool,
        args=("--artifacts-only",),
        env="MLFLOW_ARTIFACTS_ONLY",
    )
    artifacts_presigned_only: bool = _option(
        False,
        "If specified, artifact transfers go directly to the storage backend through presigned "
        "URLs instead of streaming through the server.",
        type=parse_bool,
        args=("--artifacts-presigned-only",),
        env="MLFLOW_ARTIFACTS_PRESIGNED_ONLY",
    )
    artifacts_destination: str = _option(
        DEFAULT_ARTIFACTS_DESTINATION,
        "The base artifact location from which to resolve artifact upload/download/list "
        "requests (e.g. 's3://my-bucket'). Defaults to a local './mlartifacts' directory. This "
        "option only applies when the tracking server is configured to stream artifacts and "
        "the experiment's artifact root location is http or mlflow-artifacts URI.",
        type=str,
        env="MLFLOW_ARTIFACTS_DESTINATION",
        metavar="URI",
    )
    allowed_artifact_roots: tuple[str, ...] | None = _option(
        None,
        "Comma-separated local directories (paths or file: URIs) the server may also read and "
        "write artifacts under, besides --artifacts-destination and --default-artifact-root "
        "(and a ./mlruns backend store). A run, experiment or model version whose artifacts "
        "are in another local directory is refused with 403; list its directory here to "
        "serve a database whose experiments point at older artifact roots.",
        type=parse_csv,
        metavar="DIRS",
    )
    # --- network -----------------------------------------------------------------------------
    host: str = _option(
        "127.0.0.1",
        "The network interface to bind the server to. Use '127.0.0.1' for local-only access, "
        "or '0.0.0.0' to allow connections from any network. NOTE: This is NOT a security "
        "setting - it only controls network binding.",
        type=str,
        args=("-h", "--host"),
        env="MLFLOW_HOST",
        metavar="HOST",
    )
    port: int = _option(
        5000,
        "The port to listen on (0 picks a free port).",
        type=int,
        args=("-p", "--port"),
        env="MLFLOW_PORT",
        metavar="INTEGER",
    )
    workers: int = _option(
        1,
        "Number of worker processes to handle requests; they share the port (SO_REUSEPORT), each "
        "with its own event loop and connection pool. One async process already serves many "
        "concurrent requests; with a SQLite backend aiotrack always runs one (SQLite has a "
        "single writer) (mlflow server defaults to 4).",
        type=int,
        args=("-w", "--workers"),
        env="MLFLOW_WORKERS",
        metavar="INTEGER",
    )
    static_prefix: str | None = _option(
        None,
        "A prefix which will be prepended to the path of all static paths; it must start with "
        "'/' and not end with '/'.",
        type=str,
        env="MLFLOW_STATIC_PREFIX",
        metavar="TEXT",
    )
    # --- security ----------------------------------------------------------------------------
    allowed_hosts: tuple[str, ...] | None = _option(
        None,
        "Comma-separated list of allowed Host headers to prevent DNS rebinding attacks "
        "(default: localhost + private IPs). Supports wildcards such as '192.168.*' and networks "
        "such as '10.0.0.0/8' (both match IP literals only); '*' "
        "allows ALL hosts.",
        type=parse_csv,
        env="MLFLOW_SERVER_ALLOWED_HOSTS",
        metavar="TEXT",
    )
    cors_allowed_origins: tuple[str, ...] | None = _option(
        None,
        "Comma-separated list of allowed CORS origins (default: localhost origins on any port). "
        "'*' allows ALL origins (DANGEROUS - only for development!).",
        type=parse_csv,
        env="MLFLOW_SERVER_CORS_ALLOWED_ORIGINS",
        metavar="TEXT",
    )
    disable_security_middleware: bool = _option(
        False,
        "DANGEROUS: Disable all security middleware including CORS protection and host "
        "validation. Should only be used for testing.",
        type=parse_bool,
        args=("--disable-security-middleware",),
        env="MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE",
    )
    x_frame_options: str = _option(
        "SAMEORIGIN",
        "X-Frame-Options header value for clickjacking protection: 'SAMEORIGIN' (allows "
        "embedding only from same origin), 'DENY' (prevents all embedding) or 'NONE' (disables "
        "the header).",
        type=str,
        env="MLFLOW_SERVER_X_FRAME_OPTIONS",
        metavar="TEXT",
    )
    # --- alternative servers (MLflow's gunicorn/waitress/uvicorn) ----------------------------
    gunicorn_opts: str | None = _option(
        None,
        "Additional command line options forwarded to gunicorn processes.",
        type=str,
        env="MLFLOW_GUNICORN_OPTS",
        metavar="TEXT",
    )
    waitress_opts: str | None = _option(
        None,
        "Additional command line options for waitress-serve.",
        type=str,
        metavar="TEXT",
    )
    uvicorn_opts: str | None = _option(
        None,
        "Additional command line options forwarded to uvicorn processes.",
        type=str,
        env="MLFLOW_UVICORN_OPTS",
        metavar="TEXT",
    )
    dev: bool = _option(
        False,
        "If enabled, run the server with debug logging and auto-reload. Should only be used "
        "for development purposes.",
        type=parse_bool,
        args=("--dev",),
    )
    # --- advanced ----------------------------------------------------------------------------
    expose_prometheus: str | None = _option(
        None,
        "Path to the directory where metrics will be stored. Activates the prometheus exporter "
        "on the /metrics endpoint.",
        type=str,
        env="MLFLOW_EXPOSE_PROMETHEUS",
        metavar="TEXT",
    )
    app_name: str | None = _option(
        None,
        "Application name to be used for the tracking server (e.g. 'basic-auth').",
        type=str,
        metavar="NAME",
    )
    trace_archival_config: str | None = _option(
        None,
        "Path to the YAML config file for server-owned trace archival.",
        type=str,
        env="MLFLOW_TRACE_ARCHIVAL_CONFIG",
        metavar="PATH",
    )
    secrets_cache_ttl: int = _option(
        60,
        "Server-side secrets cache time-to-live in seconds. Range: 10-300 seconds.",
        type=int,
        metavar="INTEGER",
    )
    secrets_cache_max_size: int = _option(
        1000,
        "Server-side secrets cache maximum entries. Range: 1-10000 entries.",
        type=int,
        metavar="INTEGER",
    )
    workspace_store_uri: str | None = _option(
        None,
        "Workspace provider backend URI used for workspace CRUD APIs and request routing. When "
        "unspecified, defaults to the backend store URI.",
        type=str,
        env="MLFLOW_WORKSPACE_STORE_URI",
        metavar="URI",
    )
    enable_workspaces: bool = _option(
        False,
        "Enable backwards compatible workspaces mode for logical isolation of experiments, "
        "registered models, and prompts.",
        type=parse_bool,
        args=("--enable-workspaces", "--disable-workspaces"),
        env="MLFLOW_ENABLE_WORKSPACES",
    )
    # --- aiotrack-only settings ----------------------------------------------------------------
    truncate_long_values: bool = _option(
        True,
        "Truncate param and tag values longer than the MLflow limits instead of rejecting them "
        "(what mlflow server does with MLFLOW_TRUNCATE_LONG_VALUES, on by default).",
        type=parse_bool,
        args=("--truncate-long-values", "--no-truncate-long-values"),
        env="MLFLOW_TRUNCATE_LONG_VALUES",
    )
    log_level: str = _option(
        "info",
        f"Server log level: {', '.join(LOG_LEVELS)}.",
        type=str,
        env="MLFLOW_LOGGING_LEVEL",
        metavar="LEVEL",
    )
    max_request_size: int = _option(
        64 * 1024 * 1024,
        "Largest request body in bytes that the API reads (artifact uploads stream and are not "
        "limited); larger bodies are answered 413 with a JSON error.",
        type=int,
        metavar="BYTES",
    )
    shutdown_timeout: float = _option(
        10.0,
        "Seconds that in-flight requests get to finish after SIGTERM/SIGINT before they are "
        "cancelled and the server exits.",
        type=float,
        metavar="SECONDS",
    )
    timeout_keep_alive: float = _option(
        5.0,
        "Seconds a connection may stay idle, or take to send a request's headers, before the "
        "server closes it (uvicorn's --timeout-keep-alive, same default; gunicorn's keepalive "
        "with --gunicorn-opts). Slow or stalled clients cannot hold connections open.",
        type=float,
        metavar="SECONDS",
    )
    db_statement_timeout: float = _option(
        30.0,
        "Seconds a read statement (a search, a page of runs) may run in the database before it "
        "is stopped and the request answered 400 as too expensive; 0 = no limit.",
        type=float,
        metavar="SECONDS",
    )

    def __post_init__(self) -> None:
        """Normalise values (paths to str, case, blank optionals to None) and validate them."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, os.PathLike):
                # Tests like to pass tmp_path / "art"; keep the stored type a plain str.
                object.__setattr__(self, f.name, os.fspath(value))
            elif f.default is None and value in ("", ()):
                object.__setattr__(self, f.name, None)
        object.__setattr__(self, "x_frame_options", self.x_frame_options.upper())
        object.__setattr__(self, "log_level", self.log_level.lower())
        self._validate()

    def _validate(self) -> None:
        if not self.backend_store_uri:
            raise ConfigError(
                "backend_store_uri is empty; pass --backend-store-uri, e.g. "
                f"{DEFAULT_BACKEND_STORE_URI}",
                field="backend_store_uri",
            )
        if not 0 <= self.port <= 65535:
            raise ConfigError(
                f"port must be between 0 and 65535, got {self.port}; pass --port with a free TCP "
                "port such as 5000 (0 lets the OS pick one)",
                field="port",
            )
        if self.workers < 1:
            raise ConfigError(
                f"workers must be at least 1, got {self.workers}; pass --workers 1",
                field="workers",
            )
        prefix = self.static_prefix
        if prefix is not None:
            fixed = "/" + prefix.strip("/")
            if not prefix.startswith("/"):
                raise ConfigError(
                    f"--static-prefix must begin with a '/', got {prefix!r}; use {fixed!r}",
                    field="static_prefix",
                )
            if prefix.endswith("/"):
                hint = f"use {fixed!r}" if fixed != "/" else "omit it to serve at the root"
                raise ConfigError(
                    f"--static-prefix must not end with a '/', got {prefix!r}; {hint}",
                    field="static_prefix",
                )
            if "{" in prefix or "}" in prefix:
                raise ConfigError(
                    f"--static-prefix must not contain '{{' or '}}', got {prefix!r}",
                    field="static_prefix",
                )
        if self.x_frame_options not in X_FRAME_OPTIONS:
            raise ConfigError(
                f"--x-frame-options must be one of {', '.join(X_FRAME_OPTIONS)} "
                f"(case-insensitive), got {self.x_frame_options!r}",
                field="x_frame_options",
            )
        if not 10 <= self.secrets_cache_ttl <= 300:
            raise ConfigError(
                f"--secrets-cache-ttl must be between 10 and 300 seconds, "
                f"got {self.secrets_cache_ttl}",
                field="secrets_cache_ttl",
            )
        if not 1 <= self.secrets_cache_max_size <= 10000:
            raise ConfigError(
                f"--secrets-cache-max-size must be between 1 and 10000 entries, "
                f"got {self.secrets_cache_max_size}",
                field="secrets_cache_max_size",
            )
        for name, server in (("uvicorn_opts", "uvicorn"), ("waitress_opts", "waitress")):
            if getattr(self, name) is not None:
                raise ConfigError(
                    f"{option_flag(name)}: aiotrack is an aiohttp server and does not run under "
                    f"{server}; remove it. Use --workers N for more processes, or "
                    "--gunicorn-opts to run under gunicorn's aiohttp worker.",
                    field=name,
                )
        if self.max_request_size < 1024:
            raise ConfigError(
                f"--max-request-size must be at least 1024 bytes, got {self.max_request_size}",
                field="max_request_size",
            )
        for name, ok, bounds in (
            ("shutdown_timeout", 0 <= self.shutdown_timeout <= 3600, "between 0 and 3600"),
            (
                "timeout_keep_alive",
                0 < self.timeout_keep_alive <= 3600,
                "more than 0 and at most 3600",
            ),
            (
                "db_statement_timeout",
                0 <= self.db_statement_timeout <= 86400,
                "between 0 (no limit) and 86400",
            ),
        ):
            if not ok:
                raise ConfigError(
                    f"{option_flag(name)} must be {bounds} seconds, got {getattr(self, name)}",
                    field=name,
                )
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(
                f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}",
                field="log_level",
            )

    @property
    def effective_default_artifact_root(self) -> str:
        """Artifact root of new experiments, derived like ``mlflow server`` when not set.

        ``mlflow-artifacts:/`` when serving artifacts; otherwise the backend path if the backend
        is a local path (file store), else ``./mlruns``.
        """
        if self.default_artifact_root:
            return self.default_artifact_root
        if self.serve_artifacts:
            return DEFAULT_ARTIFACTS_URI
        if is_file_store_uri(self.backend_store_uri):
            return self.backend_store_uri
        return DEFAULT_LOCAL_ARTIFACT_ROOT

    @property
    def local_artifact_roots(self) -> tuple[str, ...]:
        """The local directories (absolute, not resolved) the server may hold artifacts under.

        The proxy destination and the default artifact root when they are local, ``./mlruns``,
        the backend directory when it is a file store, and ``--allowed-artifact-roots``.
        """
        # ./mlruns (under the server's directory) always: runs that `mlflow server` created
        # without artifact serving keep their artifacts there, and a drop-in must serve them.
        candidates = [
            self.effective_default_artifact_root,
            DEFAULT_LOCAL_ARTIFACT_ROOT,
            *(self.allowed_artifact_roots or ()),
        ]
        if self.serve_artifacts:
            candidates.append(self.artifacts_destination)
        if is_file_store_uri(self.backend_store_uri):
            candidates.append(self.backend_store_uri)
        roots: list[str] = []
        for uri in candidates:
            path = local_path_of_uri(uri)
            if path is not None and path not in roots:
                roots.append(path)
        return tuple(roots)

    @property
    def effective_registry_store_uri(self) -> str:
        """The model-registry store URI: ``registry_store_uri``, else the backend store URI."""
        return self.registry_store_uri or self.backend_store_uri


#: Config options aiotrack does not implement yet, as (field, how to start without it). Any
#: value other than the field's default is refused; remove a line when its feature lands.
UNSUPPORTED: tuple[tuple[str, str], ...] = (
    ("read_replica_backend_store_uri", "remove it; all reads then go to --backend-store-uri"),
    ("artifacts_presigned_only", "remove it to transfer artifacts through the server proxy"),
    ("app_name", "remove it to start the default tracking server"),
    ("trace_archival_config", "remove it to start without trace archival"),
    ("secrets_cache_ttl", "remove it: aiotrack has no AI-gateway secrets cache"),
    ("secrets_cache_max_size", "remove it: aiotrack has no AI-gateway secrets cache"),
    ("workspace_store_uri", "remove it to start without workspaces"),
    ("enable_workspaces", "remove it (or pass --disable-workspaces) to start without workspaces"),
)

_FIELDS = {f.name: f for f in fields(Config)}
_FIELD_DEFAULTS: Mapping[str, Any] = {
    f.name: f.default for f in fields(Config) if f.default is not MISSING
}


@dataclass(frozen=True)
class UnsupportedSetting:
    """A setting aiotrack cannot honour yet: the ``field``, its ``value`` and a ``hint`` to fix it."""

    field: str
    value: Any
    hint: str

    def message(self, source: str | None = None) -> str:
        """One line for the user, naming the flag and value; ``source`` is the env var if any."""
        subject = option_flag(self.field)
        if not isinstance(self.value, bool):
            shown = ",".join(self.value) if isinstance(self.value, tuple) else str(self.value)
            subject = f"{subject} {shlex.quote(redact_uri(shown))}"
        elif not self.value:  # a switch turned off, e.g. --no-truncate-long-values
            subject = f"{subject} false"
        where = f" (set by {source})" if source else ""
        return (
            f"{subject}{where} is not supported yet by aiotrack (tracking it in its own issue); "
            f"{self.hint}"
        )


def unsupported_settings(config: Config) -> list[UnsupportedSetting]:
    """The settings of ``config`` that aiotrack cannot honour yet (empty when it can run).

    Covers the `UNSUPPORTED` options set to non-default values.
    """
    found: list[UnsupportedSetting] = []
    for name, hint in UNSUPPORTED:
        value = getattr(config, name)
        if value == _FIELD_DEFAULTS[name]:
            continue
        if name == "registry_store_uri" and value == config.backend_store_uri:
            continue
        found.append(UnsupportedSetting(name, value, hint))
    return found


def option_flag(name: str) -> str:
    """The long command-line flag of a Config field, e.g. ``--port`` for ``port``."""
    args: list[str] = _FIELDS[name].metadata.get("args", [])
    return next((a for a in args if a.startswith("--")), "--" + name.replace("_", "-"))


def is_file_store_uri(uri: str) -> bool:
    """Whether ``uri`` names an MLflow file store: a plain local path or a ``file:`` URI."""
    scheme = urllib.parse.urlparse(uri).scheme
    # One-letter schemes are Windows drive letters (C:\\mlruns).
    return scheme in ("", "file") or len(scheme) == 1


def local_path_of_uri(uri: str) -> str | None:
    """The absolute local path a plain path or ``file:`` URI names; ``None`` for other URIs."""
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            return None
        path = urllib.request.url2pathname(urllib.parse.unquote(parsed.path))
    elif scheme == "" or (len(scheme) == 1 and os.name == "nt"):
        path = uri
    else:
        return None
    return os.path.abspath(path)


def redact_uri(uri: str) -> str:
    """``uri`` with any password replaced by ``***``, for logs."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))
