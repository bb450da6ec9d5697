"""Requests to URLs other people choose (webhook endpoints), kept from reaching inside.

Server-side request forgery: whoever sets an endpoint's URL chooses where the service sends
requests from inside the network (a database's HTTP port, a cloud's metadata service at
169.254.169.254). So a URL is checked when the endpoint is created and again before every
delivery, after its name is resolved (a name can be made to resolve anywhere, and to resolve
somewhere else later):

- production: https only; every address the name resolves to must be a public one (no loopback,
  private, link-local, shared, multicast, reserved or cloud metadata address, nor one of these
  inside an IPv6 address that embeds an IPv4 one), unless the host is named in
  DUNNING_WEBHOOK_ALLOWED_HOSTS;
- development: http too, and loopback addresses, so that a receiver on the same machine works.

The request then goes to the address that was checked (`PinnedTransport`), never to a second
resolution of the name, which could answer differently (DNS rebinding); TLS still verifies the
certificate against the name. No redirects are followed and no proxy from the environment is
used: either would take the request somewhere nobody checked.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx

from dunning.config import Settings

MAX_URL = 2000
# Cloud metadata services. Most sit on link-local or private addresses, refused anyway; Azure's
# platform endpoint is a public address, and is named so that no setting can make it an endpoint.
METADATA = frozenset({"169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16"})
NAT64 = ipaddress.ip_network("64:ff9b::/96")
VETTED = "dunning.vetted_address"  # request extension: the address PinnedTransport connects to

Resolver = Callable[[str, int], list[str]]  # (host, port) -> addresses; socket.gaierror when none


def system_resolver(host: str, port: int) -> list[str]:
    return list(dict.fromkeys(info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))


class Refused(Exception):
    """The URL may not be called; the message says why, for the person who set it."""


@dataclass(frozen=True)
class Target:
    url: httpx.URL
    address: str  # the vetted address to connect to

    def request_extensions(self) -> dict[str, Any]:
        return {VETTED: self.address}


def check_url(raw: str, settings: Settings) -> httpx.URL:
    """The URL's own rules, before any name is resolved."""
    if len(raw) > MAX_URL:
        raise Refused(f"a URL has at most {MAX_URL} characters")
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError, ValueError) as e:
        raise Refused(f"not a URL: {e}") from None
    schemes = ("https",) if settings.environment == "production" else ("https", "http")
    if url.scheme not in schemes:
        raise Refused(
            "the URL must start with https://"
            if schemes == ("https",)
            else "the URL must start with https:// or http://"
        )
    if not url.host:
        raise Refused("the URL names no host")
    if url.userinfo:
        raise Refused("the URL must not carry a user name or password")
    if url.fragment:
        raise Refused("the URL must not have a #fragment")
    return url


def vet(raw: str, settings: Settings, resolve: Resolver) -> Target:
    """Where a request to `raw` may go, or Refused. Every address the name resolves to is checked,
    not only the first: a name with one public and one private address is refused."""
    url = check_url(raw, settings)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = resolve(url.host, port)
    except (OSError, UnicodeError) as e:
        raise Refused(f"{url.host} does not resolve: {e}") from None
    if not addresses:
        raise Refused(f"{url.host} does not resolve")
    if url.host.rstrip(".") not in settings.webhook_allowed_hosts:
        for address in addresses:
            why = forbidden(address, loopback_ok=settings.environment != "production")
            if why is not None:
                raise Refused(f"{url.host} resolves to {address}, {why}")
    return Target(url, addresses[0])


def forbidden(address: str, *, loopback_ok: bool) -> str | None:
    """Why a request may not go to this address, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone ("fe80::1%eth0")
    if str(ip) in METADATA:
        return "a cloud metadata address"
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return forbidden(str(embedded), loopback_ok=loopback_ok)
    if ip.is_loopback:
        return None if loopback_ok else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified or ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo's client, NAT64), if any."""
    if ip.version == 4:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """The certificate store, read once per process (reading it costs more than a delivery)."""
    return httpx.create_ssl_context()


class PinnedTransport(httpx.AsyncBaseTransport):
    """Sends each request to the address vetted for it (the request extension VETTED), never
    resolving its host again; a request without one is refused. The URL keeps its name for the
    Host header and TLS (server name and certificate check). Connections are pooled per name and
    address, so that a connection opened (and verified) for one name never carries another's
    requests."""

    def __init__(self, **options: Any):
        self._options = {"retries": 0, **options}
        self._pools: dict[tuple, httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        address = request.extensions.get(VETTED)
        if address is None:
            raise httpx.ConnectError("refused: no vetted address for this request", request=request)
        host = request.url.host
        key = (request.url.scheme, host, request.url.port, address)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = httpx.AsyncHTTPTransport(**{"verify": _tls(), **self._options})
        request.url = request.url.copy_with(host=address)
        request.extensions = {**request.extensions, "sni_hostname": host}
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()
