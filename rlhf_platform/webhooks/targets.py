"""Where a webhook may connect, and connecting only there (SSRF).

A lab chooses the URL, so without care the platform would make requests into its own network
for them. Three rules:

1. **The address checked is the address used.** A URL's host is resolved once per attempt;
   every address it resolves to must be public (unless ``WEBHOOK_ALLOW_PRIVATE_TARGETS``), and
   the connection goes to one of those addresses, with the host name kept for the ``Host``
   header, TLS's SNI and the certificate check. Resolving again to connect would let a DNS
   server answer a public address to the check and 127.0.0.1 to the connection (rebinding).
2. **Private includes its disguises.** An IPv6 address that carries an IPv4 one (IPv4-mapped
   ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, SIIT ``::ffff:0:a.b.c.d``, NAT64
   ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo ``2001::/32``) is as private as the IPv4 address
   it carries; local-use NAT64 (``64:ff9b:1::/48``) is private outright.
3. **No redirects.** A 3xx answer is a failed delivery; its ``Location`` is never followed, so
   a public endpoint cannot bounce the request to a private one.

Proxies from the environment (``HTTP_PROXY``) are not used: a proxy would resolve the host
itself.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from rlhf_platform.core.exceptions import ApplicationError

__all__ = ["Target", "address_is_private", "target_parse", "target_post", "target_resolve"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_SIIT = ipaddress.IPv6Network("::ffff:0:0:0/96")
_MAX_RESPONSE_READ = 64 * 1024  # the body of the receiver's answer is not used


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for, when it is one of the wrapping forms."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # (server, client)
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE or ip in _SIIT:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def address_is_private(ip: IPAddress) -> bool:
    """True unless ``ip`` is a globally reachable unicast address, disguises included."""
    if ip.is_multicast or not ip.is_global:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return True
        return any(address_is_private(v4) for v4 in _embedded_ipv4(ip))
    return False


@dataclass(frozen=True)
class Target:
    """A URL's parts and the addresses checked for it."""

    scheme: str
    host: str
    port: int
    path: str  # with the query
    addresses: tuple[str, ...]


def target_parse(url: str) -> tuple[SplitResult, int]:
    """The URL's parts and port, when it is an http(s) URL with a host; ApplicationError on ``url``."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApplicationError("Give an http(s) URL.", code="invalid_url", field="url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:  # e.g. ":99999", which Django's URLValidator lets through
        raise ApplicationError("The URL's port is out of range.", code="invalid_url", field="url") from exc
    return parts, port


def target_resolve(url: str) -> Target:
    """Resolve the URL's host once and check every address; ApplicationError on ``url``."""
    parts, port = target_parse(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ApplicationError("The URL's host does not resolve.", code="invalid_url", field="url") from exc
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%")[0]
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ApplicationError("The URL's host does not resolve.", code="invalid_url", field="url")
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS and any(
        address_is_private(ipaddress.ip_address(address)) for address in addresses
    ):
        raise ApplicationError(
            "The URL points to a private or local address.", code="private_target", field="url"
        )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(parts.scheme, parts.hostname, port, path, tuple(addresses))


def _connect(addresses: tuple[str, ...], port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first of the checked addresses that answers."""
    last_error: OSError | None = None
    for address in addresses:
        try:
            # An IP literal: nothing is resolved again.
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            last_error = exc
    raise last_error or OSError("no address to connect to")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._target = target

    def connect(self) -> None:
        self.sock = _connect(self._target.addresses, self._target.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._target = target

    def connect(self) -> None:
        sock = _connect(self._target.addresses, self._target.port, self.timeout)
        # SNI and the certificate check use the host name, not the address.
        self.sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self._target.host)


def target_post(*, target: Target, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST ``body`` to the checked addresses of ``target``; the answer's status code.

    Redirects are not followed (the caller counts a 3xx as a failure).
    """
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(_MAX_RESPONSE_READ)
        return response.status
    finally:
        connection.close()
