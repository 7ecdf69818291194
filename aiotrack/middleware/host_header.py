"""``parse_host``: what a ``Host`` header names, for the allow-list (``hosts.py``).

A header is ``name[:port]``, where the name is a DNS name, a dotted-quad IPv4 literal or an IPv6
literal in brackets. Only a name that *is* an address literal counts as an address:
``10.0.0.1.evil.example`` is a DNS name that merely starts like one, and a DNS-rebinding attack
controls what it resolves to.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["HostHeader", "IPAddress", "parse_host"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class HostHeader:
    """A parsed ``Host``: ``name`` as sent (brackets kept for IPv6), the port if one was given,
    and the address when ``name`` is an IP literal (else ``None``)."""

    name: str
    port: int | None
    ip: IPAddress | None


def parse_host(value: str) -> HostHeader | None:
    """Parse a ``Host`` header value; ``None`` when it is empty or malformed (a bad port, an
    unclosed bracket, brackets around something that is not an IPv6 address)."""
    if not value:
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[: end + 1], value[end + 1 :]
        try:
            ip: IPAddress | None = ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return None
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else None
    else:
        name, sep, port_text_ = value.partition(":")
        if ":" in port_text_:
            return None  # a bare IPv6 address (or junk): RFC 7230 wants brackets
        port_text = port_text_ if sep else None
        try:
            ip = ipaddress.IPv4Address(name)
        except ValueError:
            ip = None
    port: int | None = None
    if port_text is not None:
        if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
            return None
        port = int(port_text)
        if port > 65535:
            return None
    if not name:
        return None
    return HostHeader(name, port, ip)
