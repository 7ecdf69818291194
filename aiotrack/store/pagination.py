"""Page tokens: ``base64(json({"offset": N}))``, the format MLflow's stores use.

Clients treat tokens as opaque; using MLflow's own encoding means a token handed out by
``mlflow server`` keeps working after a switch to aiotrack (and back). Bad tokens are a 400.
"""

from __future__ import annotations

import base64
import binascii
import json

from aiotrack.errors import InvalidParameter

__all__ = ["MAX_OFFSET", "decode_offset", "encode_offset"]

#: The largest offset a token may carry: far beyond any table, and small enough that
#: ``offset + max_results`` never overflows a 64-bit OFFSET/LIMIT in any database.
MAX_OFFSET = 2**62


def encode_offset(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_offset(token: str | None) -> int:
    """The offset a token encodes; 0 for no token."""
    if not token:
        return 0
    try:
        raw = base64.b64decode(token)
    except (binascii.Error, ValueError):
        raise InvalidParameter("Invalid page token, could not base64-decode") from None
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise InvalidParameter(f"Invalid page token, decoded value={raw!r}") from None
    offset = parsed.get("offset") if isinstance(parsed, dict) else None
    if not offset or isinstance(offset, bool):
        raise InvalidParameter(f"Invalid page token, parsed value={parsed}")
    try:
        value = int(offset)
    except (TypeError, ValueError):
        raise InvalidParameter(f"Invalid page token, parsed value={parsed}") from None
    if not 0 <= value <= MAX_OFFSET:
        raise InvalidParameter(f"Invalid page token, parsed value={parsed}")
    return value
