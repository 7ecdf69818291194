"""Host-header allow-list: MLflow 3.5+'s DNS-rebinding protection (reference §12).

A browser tricked into resolving ``evil.example`` to the server's address still sends
``Host: evil.example``; answering only known host names defeats that. The default list is
MLflow's: ``localhost``, ``127.0.0.1``, ``[::1]`` and ``0.0.0.0`` with or without a port, and the
private ranges ``10.0.0.0/8``, ``172.16.0.0/12``, ``192.168.0.0/16`` and ``fc00::/7``.
``--allowed-hosts`` replaces the list (fnmatch wildcards; ``*`` allows every host; a CIDR network
such as ``10.0.0.0/8`` allows the IP literals in it).

Unlike MLflow, an address pattern (a network, or a wildcard such as ``10.*`` or ``[fd00:*``)
matches only a ``Host`` that is an IP literal (see ``host_header.parse_host``): MLflow's
``fnmatch("10.0.0.1.evil.example", "10.*")`` lets any DNS name that starts like a private
address through, which is exactly what a DNS-rebinding attacker registers. ``/health``
and ``/version`` (under ``--static-prefix`` when one is set) are exempt so that probes that
address the server by a pod IP or service name keep working.

Behind a reverse proxy the check sees the ``Host`` header the proxy forwards: forward the
client's (``proxy_set_header Host $host`` in nginx) and allow the public name.
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import logging
import re
from collections.abc import Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from aiotrack.middleware.host_header import parse_host

__all__ = [
    "INVALID_HOST_MESSAGE",
    "default_allowed_hosts",
    "host_matcher",
    "hosts_middleware",
]

log = logging.getLogger("aiotrack.security")

#: MLflow's exact 403 body (text/plain).
INVALID_HOST_MESSAGE = "Invalid Host header - possible DNS rebinding attack detected"
_LOCALHOST = ("localhost", "127.0.0.1", "[::1]", "0.0.0.0")
_EXEMPT = ("/health", "/version")


def default_allowed_hosts() -> tuple[str, ...]:
    """MLflow's default allow-list: loopback names with any port, then private IP ranges."""
    with_port = tuple(
        # fnmatch reads "[" as a character class; "[[]" is a literal bracket.
        (h.replace("[", "[[]", 1) if h.startswith("[") else h) + ":*"
        for h in _LOCALHOST
    )
    # MLflow's "10.*", "172.16.*".."172.31.*", "192.168.*", "fc00:*", "fd00:*" as networks.
    private = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
    return _LOCALHOST + with_port + private


#: A wildcard pattern that starts like an IP literal: "10.*", "192.168.1.*", "fd00:*", "[fd00:*",
#: "[[]::1]:*" (fnmatch's escaped bracket). These match IP literals only.
_ADDRESS_PATTERN = re.compile(r"^(\d+\.)+|^\d+\*|^\[|^[0-9a-fA-F]{1,4}:")


def _network(pattern: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if "/" not in pattern:
        return None
    try:
        return ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return None


def host_matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """A predicate telling whether a ``Host`` header value matches one of ``patterns``.

    Patterns with ``*`` are fnmatch patterns (case-sensitive, as in MLflow), CIDR networks match
    the IP literals they contain (with any port), the others must match exactly; an address
    pattern matches IP literals only (see the module docstring). An empty or malformed host
    never matches. Results are cached (bounded).
    """
    networks = tuple(n for n in map(_network, patterns) if n is not None)
    exact = frozenset(p for p in patterns if "*" not in p and _network(p) is None)
    wild = tuple(p for p in patterns if "*" in p and not _ADDRESS_PATTERN.match(p))
    address_wild = tuple(p for p in patterns if "*" in p and _ADDRESS_PATTERN.match(p))

    @functools.lru_cache(maxsize=1024)
    def allowed(host: str) -> bool:
        parsed = parse_host(host)
        if parsed is None:
            return False
        if host in exact or any(fnmatch.fnmatchcase(host, p) for p in wild):
            return True
        if parsed.ip is None:
            return False
        return any(fnmatch.fnmatchcase(host, p) for p in address_wild) or any(
            parsed.ip in n for n in networks
        )

    return allowed


def hosts_middleware(allowed_hosts: Sequence[str] | None, prefix: str = "") -> Middleware | None:
    """The Host-checking middleware, or ``None`` when every host is allowed (``*``).

    ``allowed_hosts`` ``None`` means MLflow's defaults; ``prefix`` is ``--static-prefix``.
    Rejections answer 403 text/plain with MLflow's message and log a warning naming the host.
    """
    patterns = tuple(allowed_hosts) if allowed_hosts else default_allowed_hosts()
    if "*" in patterns:
        return None
    allowed = host_matcher(patterns)
    exempt = frozenset(prefix + p for p in _EXEMPT)

    @web.middleware
    async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in exempt:
            host = request.headers.get("Host", "")
            if not allowed(host):
                log.warning(
                    "Rejected %s %s with Host %r (not in --allowed-hosts); if this is your "
                    "server's public name, add it to --allowed-hosts",
                    request.method,
                    request.path,
                    host,
                )
                return web.Response(status=403, text=INVALID_HOST_MESSAGE)
        return await handler(request)

    return check_host
