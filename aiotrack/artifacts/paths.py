"""Path safety for every artifact route (reference §9.5): a relative path confined to its root."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import unquote

from aiotrack.errors import InvalidParameter

__all__ = ["confine", "validate_relative_path"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_relative_path(path: str) -> str:
    """Return ``path`` if it is a safe relative artifact path, else raise a 400 ``Invalid path``.

    Refused: ``..`` segments (also when percent-encoded once or twice), absolute POSIX or
    Windows paths, backslashes, ``#``, NUL and other control characters, ``file:`` URIs.
    """
    decoded = path
    for _ in range(3):  # undo single and double percent-encoding
        decoded = unquote(decoded)
    if (
        "#" in decoded
        or "\\" in decoded
        or _CONTROL.search(decoded)
        or decoded.lower().startswith("file:")
        or ".." in decoded.split("/")
        or PurePosixPath(decoded).is_absolute()
        or PureWindowsPath(decoded).is_absolute()
        or (len(decoded) >= 2 and decoded[1] == ":")
    ):
        raise InvalidParameter("Invalid path")
    return posixpath.normpath(path) if path else path


def confine(root: Path, relative: str | None) -> Path:
    """``root / relative`` after validation, refusing anything that resolves outside ``root``.

    Resolves symlinks, so call it off the event loop (``asyncio.to_thread``).
    """
    target = root if not relative else root / validate_relative_path(relative)
    resolved_root = root.resolve()
    resolved = target.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise InvalidParameter("Invalid path")
    return resolved
