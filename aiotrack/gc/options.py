"""What ``aiotrack gc`` was asked to do: its options resolved against the environment (stdlib only).

The rules are ``mlflow gc``'s (MLflow 3.17.2), with the differences aiotrack needs to work
without a running server:

* backend store: ``--backend-store-uri``, else ``MLFLOW_TRACKING_URI`` when it names a database
  or a file store (``mlflow gc`` opens its store from the tracking URI), else the default rule
  of ``aiotrack server`` (``./mlruns`` when it holds experiments, else ``sqlite:///mlflow.db``);
* proxied run artifacts (``mlflow-artifacts:`` URIs): resolved under ``--artifacts-destination``
  (or ``MLFLOW_ARTIFACTS_DESTINATION``) when one is given; else deleted through the tracking
  server when ``--tracking-uri``/``MLFLOW_TRACKING_URI`` is ``http(s)://`` (MLflow's only way);
  else resolved under ``./mlartifacts``, the server's default destination. MLflow refuses to run
  without a tracking URI; aiotrack does not need one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlparse

__all__ = [
    "DEFAULT_ARTIFACTS_DESTINATION",
    "GcOptions",
    "UsageError",
    "is_http_uri",
    "parse_id_list",
    "parse_older_than",
    "resolve",
]

#: The proxy destination ``aiotrack server`` (and ``mlflow server``) uses when none is given.
DEFAULT_ARTIFACTS_DESTINATION = "./mlartifacts"
#: ``mlflow gc``'s ``--older-than`` grammar: ``#d#h#m#s``, each part optional, floats allowed.
_OLDER_THAN = re.compile(
    r"^((?P<days>[\.\d]+?)d)?((?P<hours>[\.\d]+?)h)?((?P<minutes>[\.\d]+?)m)"
    r"?((?P<seconds>[\.\d]+?)s)?$"
)
_HTTP_SCHEMES = ("http", "https")
_REMOTE_SERVICES = frozenset({"databricks", "databricks-uc", "uc"})


class UsageError(Exception):
    """Bad command-line input: reported with the usage line, exit status 2."""


@dataclass(frozen=True, slots=True)
class GcOptions:
    """The resolved ``aiotrack gc`` request.

    ``older_than`` is the text the user gave (``None``: no age limit) and ``older_than_ms``
    its length in milliseconds. The id lists are ``None`` when not given. ``tracking_server`` is
    the ``http(s)`` server that deletes proxied artifacts, ``None`` when they are deleted
    directly under ``artifacts_destination``. ``backend_source`` says where the backend URI
    came from: ``--backend-store-uri``, ``MLFLOW_TRACKING_URI`` or ``default``.
    """

    backend_store_uri: str
    backend_source: str
    artifacts_destination: str
    tracking_server: str | None
    older_than: str | None
    older_than_ms: int
    run_ids: tuple[str, ...] | None
    experiment_ids: tuple[str, ...] | None
    logged_model_ids: tuple[str, ...] | None
    jobs: bool
    job_ids: tuple[str, ...] | None


def parse_older_than(text: str | None) -> int:
    """``--older-than`` in milliseconds (``1d2h3m4s``, ``1.5h``...); 0 when empty or absent."""
    if text is None:
        return 0
    parts = _OLDER_THAN.match(text)
    if parts is None:
        raise UsageError(
            f"--older-than: could not parse any time information from '{text}'. Examples of "
            "valid strings: '8h', '2d8h5m20s', '2m4s'"
        )
    try:
        params = {name: float(value) for name, value in parts.groupdict().items() if value}
        return int(timedelta(**params).total_seconds() * 1000)
    except (ValueError, OverflowError) as exc:
        raise UsageError(f"--older-than: invalid time '{text}': {exc}") from None


def parse_id_list(text: str | None) -> tuple[str, ...] | None:
    """A comma-separated id option: ``None`` when absent or empty (as ``mlflow gc``), else the
    ids in order, stripped, without blanks or repeats."""
    if not text:
        return None
    ids = (part.strip() for part in text.split(","))
    return tuple(dict.fromkeys(i for i in ids if i))


def _env(environ: Mapping[str, str], name: str) -> str | None:
    # Like click's envvar: an empty variable counts as unset.
    return environ.get(name) or None


def is_http_uri(uri: str) -> bool:
    """Whether ``uri`` is an ``http(s)://`` URI (a tracking server, not a store)."""
    return urlparse(uri).scheme.lower() in _HTTP_SCHEMES


def resolve(
    values: Mapping[str, object], environ: Mapping[str, str], default_backend: str
) -> GcOptions:
    """Build `GcOptions` from the parsed option ``values`` (argparse dests) and ``environ``.

    ``default_backend`` is the backend used when neither the flag nor the environment names
    one. Raises `UsageError` for bad input and for the workspace options aiotrack lacks.
    """
    workspace = values.get("workspace")
    workspace_source = "--workspace"
    if not workspace and _env(environ, "MLFLOW_WORKSPACE"):
        workspace, workspace_source = environ["MLFLOW_WORKSPACE"], "MLFLOW_WORKSPACE"
    if values.get("all_workspaces") or workspace:
        flag = "--all-workspaces" if values.get("all_workspaces") else workspace_source
        raise UsageError(
            f"{flag}: aiotrack does not support workspaces (like `aiotrack server`); "
            "remove it to collect the whole store"
        )

    tracking_flag = values.get("tracking_uri")
    tracking_env = _env(environ, "MLFLOW_TRACKING_URI")
    tracking_uri = str(tracking_flag) if tracking_flag else tracking_env

    backend = values.get("backend_store_uri")
    backend_source = "--backend-store-uri"
    if not backend and tracking_env:
        if is_http_uri(tracking_env) or _is_remote_service(tracking_env):
            raise UsageError(
                f"MLFLOW_TRACKING_URI names a tracking service ({_without_userinfo(tracking_env)})"
                ", not a backend store: gc works on the store itself; pass --backend-store-uri"
            )
        backend, backend_source = tracking_env, "MLFLOW_TRACKING_URI"
    if not backend:
        backend, backend_source = default_backend, "default"

    destination = values.get("artifacts_destination") or _env(
        environ, "MLFLOW_ARTIFACTS_DESTINATION"
    )
    server = None
    if not destination:
        if tracking_uri and is_http_uri(tracking_uri):
            server = tracking_uri
        destination = DEFAULT_ARTIFACTS_DESTINATION

    older_than = values.get("older_than")
    older_text = str(older_than) if older_than is not None else None
    return GcOptions(
        backend_store_uri=str(backend),
        backend_source=backend_source,
        artifacts_destination=str(destination),
        tracking_server=server,
        # ``mlflow gc --older-than ''`` parses as zero and then counts as "no age limit".
        older_than=older_text or None,
        older_than_ms=parse_older_than(older_text),
        run_ids=parse_id_list(_str_or_none(values.get("run_ids"))),
        experiment_ids=parse_id_list(_str_or_none(values.get("experiment_ids"))),
        logged_model_ids=parse_id_list(_str_or_none(values.get("logged_model_ids"))),
        jobs=bool(values.get("jobs")),
        job_ids=parse_id_list(_str_or_none(values.get("job_ids"))),
    )


def _is_remote_service(uri: str) -> bool:
    """Databricks / Unity Catalog tracking URIs: services, not stores gc could open."""
    scheme = urlparse(uri).scheme.lower()
    return uri in _REMOTE_SERVICES or scheme in _REMOTE_SERVICES


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _without_userinfo(uri: str) -> str:
    parsed = urlparse(uri)
    host = parsed.netloc.rpartition("@")[2]
    return parsed._replace(netloc=host, query="", fragment="").geturl()
