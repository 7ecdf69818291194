"""Response headers that keep user artifacts inert on the server's origin."""

from __future__ import annotations

import mimetypes
import posixpath
import unicodedata
from urllib.parse import quote

__all__ = ["content_disposition", "content_type"]

# MLflow serves these as text/plain (mime_type_utils.get_text_extensions).
_TEXT_EXTENSIONS = frozenset(
    "txt log err cfg conf cnf cf ini properties prop hocon toml yaml yml xml json js py py3 csv "
    "tsv md rst ipynb MLmodel MLproject".split()
)
# Types a browser would execute or render actively on our origin: never sent as themselves.
_ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/xsl",
        "application/pdf",
        "application/x-shockwave-flash",
    }
)


def content_type(name: str) -> str:
    """The ``Content-Type`` for an artifact named ``name``: MLflow's guess, made inert.

    Text-like extensions are ``text/plain`` as in MLflow; HTML, SVG, XML, JavaScript and
    other actively rendered types become ``text/plain`` too (they are attachments anyway).
    """
    base = posixpath.basename(name)
    ext = posixpath.splitext(base)[1].lstrip(".") or base
    if ext in _TEXT_EXTENSIONS:
        return "text/plain"
    guessed, _ = mimetypes.guess_type(base, strict=False)
    if not guessed:
        return "application/octet-stream"
    if guessed in _ACTIVE_TYPES or guessed.endswith(("+xml", "/javascript")):
        return "text/plain"
    return guessed


def content_disposition(name: str) -> str:
    """``attachment`` with a safe file name (RFC 6266; RFC 5987 ``filename*`` for non-ASCII)."""
    name = posixpath.basename(name) or "download"
    if name.isascii() and name.isprintable():
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'attachment; filename="{escaped}"'
    fallback = (
        unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii") or "download"
    )
    fallback = "".join(c for c in fallback if c.isprintable() and c not in '"\\') or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
