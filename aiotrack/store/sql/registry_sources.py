"""Model version sources: the checks and resolution MLflow 3.18 applies in ``create_model_version``.

A source must be reachable only through the run (``run_id``) or logged model (``model_id``) that
produced it: a local path must lie inside that run's / model's local artifact directory,
``runs:/<id>/...`` must name the given run, an ``mlflow-artifacts`` source must lie under the
run's / model's artifact root, and no source may smuggle in ``..`` segments or NUL bytes (also
percent-encoded). ``models:/<name>/<version>`` sources are resolved to the version they name,
``models:/<model_id>`` to the logged model's artifact location. Violations are 400
``Invalid model version source: ...`` with MLflow's wording.

Not ported: ``MLFLOW_CREATE_MODEL_VERSION_SOURCE_VALIDATION_REGEX`` and the host-addressed
scheme policy (``MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES``).
"""

from __future__ import annotations

import os
import posixpath
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from aiotrack.errors import InvalidParameter, ResourceNotFound

__all__ = [
    "PROMPT_SOURCE_PLACEHOLDERS",
    "ParsedModelUri",
    "is_local_uri",
    "parse_model_uri",
    "validate_source",
]

#: The only sources a prompt version may have (MLflow's ``_PROMPT_SOURCE_PLACEHOLDERS``: the
#: client's ``dummy-source`` and the store's ``prompt-template``).
PROMPT_SOURCE_PLACEHOLDERS = frozenset({"dummy-source", "prompt-template"})

_RELATIVE_MESSAGE = (
    "Invalid model version source: '{}'. If supplying a source as an http, https, local file "
    "path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without "
    "relative path references present. Please provide an absolute path."
)
_LOCAL_MESSAGE = (
    "Invalid model version source: '{}'. To use a local path as a model version source, the "
    "{id} request parameter has to be specified and the local path has to be contained within "
    "the artifact directory of the run specified by the {id}."
)


@dataclass(frozen=True, slots=True)
class ParsedModelUri:
    """``models:/<model_id>`` | ``models:/<name>/<version|stage|latest>`` | ``models:/<name>@<alias>``."""

    model_id: str | None = None
    name: str | None = None
    version: str | None = None
    stage: str | None = None
    alias: str | None = None


def parse_model_uri(uri: str) -> ParsedModelUri:
    """Parse a ``models:/`` URI as MLflow's ``_parse_model_uri``; ValueError when malformed."""
    parsed = urllib.parse.urlparse(uri, allow_fragments=False)
    path = parsed.path
    if parsed.scheme != "models" or not path.startswith("/") or len(path) <= 1:
        raise ValueError(uri)
    parts = path.lstrip("/").split("/")
    if len(parts) > 2 or not parts[0].strip():
        raise ValueError(uri)
    if len(parts) == 2:
        name, suffix = parts
        if not suffix.strip():
            raise ValueError(uri)
        if suffix.isdigit():
            return ParsedModelUri(name=name, version=suffix)
        if suffix.lower() == "latest":
            return ParsedModelUri(name=name)
        return ParsedModelUri(name=name, stage=suffix)
    if "@" in path:
        name, _, alias = parts[0].rpartition("@")
        if not alias.strip():
            raise ValueError(uri)
        return ParsedModelUri(name=name, alias=alias)
    return ParsedModelUri(model_id=parts[0])


def is_local_uri(uri: str) -> bool:
    """A plain path or a ``file:`` URI on this host (MLflow's ``is_local_uri`` on POSIX)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "":
        return True
    if parsed.scheme != "file":
        return False
    host = parsed.hostname
    if host and not (host == "." or host.startswith(("localhost", "127.0.0.1"))):
        raise InvalidParameter(f"{uri} is not a valid remote uri.")
    return True


def _local_path(uri: str) -> PurePosixPath:
    """The absolute, normalised local path of a path or ``file:`` URI (no filesystem access)."""
    path = urllib.parse.unquote(urllib.parse.urlparse(uri).path) if uri.startswith("file:") else uri
    return PurePosixPath(os.path.normpath(os.path.abspath(path)))


def _invalid(source: str, id_name: str) -> InvalidParameter:
    return InvalidParameter(
        f"Invalid model version source: '{source}'. The {id_name} request parameter must "
        "identify the resource that contains the source."
    )


def _check_no_relative_parts(source: str) -> None:
    original = source
    while (unquoted := urllib.parse.unquote_plus(source)) != source:
        source = unquoted
    source_path = re.sub(r"/+", "/", urllib.parse.urlparse(source).path.rstrip("/"))
    if "\x00" in source_path or any(p == ".." for p in source.split("/")):
        raise InvalidParameter(_RELATIVE_MESSAGE.format(original))
    # MLflow compares the path with Path(path).resolve(): a relative or empty path, or one
    # with "." segments, does not survive that (the filesystem is not consulted here).
    if not source_path.startswith("/") or posixpath.normpath(source_path) != source_path:
        raise InvalidParameter(_RELATIVE_MESSAGE.format(original))


def _uri_parts(uri: str) -> tuple[str, str, tuple[str, ...]]:
    parsed = urllib.parse.urlsplit(uri)
    parts = []
    for part in parsed.path.split("/"):
        if part:
            while (unquoted := urllib.parse.unquote(part)) != part:
                part = unquoted
            parts.append(part)
    return parsed.scheme.lower(), parsed.netloc.lower(), tuple(parts)


def _within_root(source: str, root: str) -> bool:
    s_scheme, s_host, s_parts = _uri_parts(source)
    r_scheme, r_host, r_parts = _uri_parts(root)
    return (
        s_scheme == r_scheme
        and s_host == r_host
        and bool(r_parts)
        and s_parts[: len(r_parts)] == r_parts
    )


def _is_mlflow_artifact_source(source: str) -> bool:
    scheme, _, parts = _uri_parts(source)
    if scheme == "mlflow-artifacts":
        return True
    route = ("api", "2.0", "mlflow-artifacts", "artifacts")
    return scheme in ("http", "https") and any(
        parts[i : i + len(route)] == route for i in range(len(parts) - len(route) + 1)
    )


def _local_within(source: str, root: str) -> bool:
    if not is_local_uri(root):
        return False
    src, base = _local_path(source), _local_path(root)
    return base == src or base in src.parents


RootLookup = Callable[[str], Awaitable[str]]


async def _root(lookup: RootLookup, ident: str, source: str, id_name: str) -> str:
    try:
        return await lookup(ident)
    except ResourceNotFound:
        raise _invalid(source, id_name) from None


async def validate_source(
    source: str,
    *,
    run_id: str | None,
    model_id: str | None,
    run_root: RootLookup,
    model_root: RootLookup,
) -> None:
    """Raise ``InvalidParameter`` unless ``source`` is a legitimate source for the given ids.

    ``run_root``/``model_root`` return the artifact URI of a run / logged model and raise
    ``ResourceNotFound`` for unknown ids. With a ``model_id`` the model's rules apply, else the
    run's (``_validate_source_model`` / ``_validate_source_run`` in MLflow's handlers).
    """
    id_name = "model_id" if model_id else "run_id"
    ident = model_id or run_id
    lookup = model_root if model_id else run_root
    if is_local_uri(source):
        if ident and _local_within(source, await _root(lookup, ident, source, id_name)):
            return
        shown = str(_local_path(source))
        raise InvalidParameter(_LOCAL_MESSAGE.format(shown, id=id_name))
    _check_no_relative_parts(source)
    parsed = urllib.parse.urlparse(source)
    if model_id:
        if parsed.scheme == "models":
            if parsed.netloc:
                raise _invalid(source, "model_id")
            try:
                source_model_id = parse_model_uri(source).model_id
            except ValueError:
                raise _invalid(source, "model_id") from None
            if source_model_id is not None:
                if source_model_id == model_id:
                    return
                raise _invalid(source, "model_id")
        if parsed.scheme == "runs":
            raise _invalid(source, "model_id")
    else:
        if parsed.scheme == "runs":
            source_run = parsed.path.lstrip("/").split("/", 1)[0] if not parsed.netloc else None
            if run_id and source_run == run_id:
                return
            raise _invalid(source, "run_id")
        if parsed.scheme == "models":
            if parsed.netloc:
                raise _invalid(source, "model_id")
            try:
                if parse_model_uri(source).model_id is not None:
                    raise _invalid(source, "model_id")
            except ValueError:
                raise _invalid(source, "model_id") from None
    if _is_mlflow_artifact_source(source):
        if ident and _within_root(source, await _root(lookup, ident, source, id_name)):
            return
        raise _invalid(source, id_name)
