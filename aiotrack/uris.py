"""Artifact-location URI helpers with MLflow's composition rules (reference §9.1)."""

from __future__ import annotations

import os
import posixpath
import re
from urllib.parse import urlparse, urlunparse

__all__ = ["append_path", "resolve_if_local"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def resolve_if_local(uri: str) -> str:
    """A scheme-less (local) path becomes absolute against the server's cwd; URIs are kept."""
    if _SCHEME.match(uri):
        return uri
    # abspath, not Path.resolve(): no filesystem access on the event loop.
    return os.path.abspath(uri).replace(os.sep, "/")


def append_path(uri: str, *parts: str) -> str:
    """``uri`` with ``parts`` joined onto its path: ``mlflow-artifacts:/`` + ``1`` -> ``.../1``."""
    if not _SCHEME.match(uri):
        return posixpath.join(uri, *parts)
    parsed = urlparse(uri)
    path = posixpath.join(parsed.path or "/", *parts) if parsed.path else "/".join(parts)
    return urlunparse(parsed._replace(path=path))
