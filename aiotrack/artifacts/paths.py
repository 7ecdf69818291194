"""Path safety for every artifact route (reference §9.5): a relative path confined to its root.

Two layers, both always applied:

1. `validate_relative_path` checks the *text* of a client-supplied path, as MLflow's
   ``validate_path_is_safe`` does and a little stricter: it is percent-decoded until stable, then
   refused when it could name anything outside the root (see its docstring).
2. `confine` checks the *filesystem*: the joined path, with symlinks resolved, must stay inside
   the resolved root. Object stores have no symlinks; `join_key` builds their keys from the
   validated path alone.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import unquote

from aiotrack.errors import InvalidParameter

__all__ = [
    "INVALID_PATH",
    "MAX_KEY_BYTES",
    "MAX_PATH_BYTES",
    "MAX_PATH_DEPTH",
    "MAX_SEGMENT_BYTES",
    "confine",
    "join_key",
    "validate_relative_path",
]

#: MLflow's message for every refused path.
INVALID_PATH = "Invalid path"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Decoding rounds before a path that keeps changing is refused (MLflow gives up after 10).
_MAX_DECODE_ROUNDS = 10


#: Longest artifact path and path segment, in UTF-8 bytes (Linux's PATH_MAX and NAME_MAX;
#: object stores allow 1024-byte keys, which `join_key` checks).
MAX_PATH_BYTES = 4096
MAX_SEGMENT_BYTES = 255
MAX_KEY_BYTES = 1024
#: Deepest artifact path, in segments: far beyond any model layout, and shallow enough for
#: recursive tools (``shutil.rmtree``, ``aiotrack gc``) to delete what is written.
MAX_PATH_DEPTH = 256
_TOO_LONG = (
    f"Invalid path: artifact paths are limited to {MAX_PATH_BYTES} bytes and "
    f"{MAX_PATH_DEPTH} segments, and each segment to {MAX_SEGMENT_BYTES} bytes (UTF-8)."
)


def _decode(path: str) -> str:
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(path)
        if decoded == path:
            return path
        path = decoded
    raise InvalidParameter(INVALID_PATH)


def _bad_segment(segment: str) -> bool:
    # ``..;x`` is ``..`` to servers that strip path parameters; trailing dots and spaces are
    # dropped by some filesystems, so ``.. `` and ``...`` ``..`` are refused as well.
    head = segment.split(";", 1)[0].rstrip(" .")
    return head == "" and ".." in segment


def validate_relative_path(path: str) -> str:
    """The decoded, normalised form of ``path`` if it is a safe relative artifact path.

    ``path`` is percent-decoded until it stops changing (so ``%2e%2e`` and ``%252e%252e`` are
    seen as ``..``). Refused with a 400 ``INVALID_PARAMETER_VALUE`` ``Invalid path``: ``..``
    segments (also ``..;x`` and ``.. ``), absolute POSIX or Windows paths and drive letters,
    backslashes, ``#`` and ``?``, NUL and other control characters, any ``scheme:`` URI
    (``file:``, ``s3:``, ...). The empty path is returned as is (the root).
    """
    if len(path) > MAX_PATH_BYTES * 3:  # cheap bound before decoding (%xx triples a byte)
        raise InvalidParameter(_TOO_LONG)
    decoded = _decode(path)
    encoded = decoded.encode("utf-8", "surrogatepass")
    segments = encoded.split(b"/")
    if (
        len(encoded) > MAX_PATH_BYTES
        or len(segments) > MAX_PATH_DEPTH
        or any(len(segment) > MAX_SEGMENT_BYTES for segment in segments)
    ):
        raise InvalidParameter(_TOO_LONG)
    if (
        "#" in decoded
        or "?" in decoded
        or "\\" in decoded
        or _CONTROL.search(decoded)
        or _DRIVE.match(decoded)
        or re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", decoded)
        or PurePosixPath(decoded).is_absolute()
        or PureWindowsPath(decoded).is_absolute()
        or any(_bad_segment(segment) for segment in decoded.split("/"))
    ):
        raise InvalidParameter(INVALID_PATH)
    if not decoded:
        return decoded
    normalised = posixpath.normpath(decoded)
    return "" if normalised == "." else normalised


def confine(root: Path, relative: str | None) -> Path:
    """``root / relative`` after validation, refusing anything that resolves outside ``root``.

    Symlinks anywhere on the way (including the last component) are resolved, so a link that
    leaves the root is refused. Touches the filesystem: call it off the event loop.
    """
    target = root if not relative else root / validate_relative_path(relative)
    resolved_root = root.resolve()
    resolved = target.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise InvalidParameter(INVALID_PATH)
    return resolved


def join_key(prefix: str, relative: str | None) -> str:
    """An object-store key: ``prefix`` joined with the validated ``relative`` path (no ``/`` edge)."""
    rel = validate_relative_path(relative) if relative else ""
    key = "/".join(part for part in (prefix.strip("/"), rel) if part)
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidParameter(
            f"Invalid path: the object key '{key[:80]}...' is longer than {MAX_KEY_BYTES} bytes."
        )
    return key
