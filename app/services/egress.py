"""Where webhook deliveries may connect (OWASP API7, server-side request forgery).

A county client chooses its receiver's URL, so a URL naming the delivery worker's own host, a
cloud metadata service or another internal address would make the worker fetch it. Before each
attempt the receiver's host name is resolved, every address it resolves to is checked against
the refused networks, and the request is sent to the checked address itself (with the original
``Host`` header and TLS server name), so a name that resolves differently a moment later
(DNS rebinding) cannot slip past the check.

By default loopback, link-local (which holds most cloud metadata services), unspecified,
multicast and broadcast addresses and Alibaba Cloud's metadata address are refused. Private
ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed, because an agency's receivers usually
sit on its internal network; an agency whose receivers are public adds them to
``CERTSVC_WEBHOOK_REFUSED_NETWORKS``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from app.settings import DEFAULT_REFUSED_NETWORKS

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefused(Exception):
    """The receiver's address is in a refused network, or its name does not resolve."""


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    refused: tuple[IPNetwork, ...]

    @classmethod
    def refusing(cls, networks: Iterable[str]) -> EgressPolicy:
        """Raises ValueError naming the first network that is not valid CIDR notation."""
        return cls(tuple(ipaddress.ip_network(network, strict=False) for network in networks))

    def allows(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        return not any(address in network for network in self.refused)

    async def pin(self, request: httpx.Request) -> httpx.Request:
        """The same request, addressed to a checked IP address of its host."""
        host = request.url.host
        address = await self._resolve(host, request.url.port or _default_port(request.url))
        if address == host:
            return request
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=address),
            headers=request.headers,  # keeps the Host header of the original URL
            content=request.content,
            extensions={**request.extensions, "sni_hostname": host},
        )
        return pinned

    async def _resolve(self, host: str, port: int) -> str:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            if not self.allows(literal):
                raise EgressRefused(f"the receiver's address {literal} is in a refused network")
            return host
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise EgressRefused("the receiver's host name does not resolve") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise EgressRefused("the receiver's host name does not resolve")
        # Every address must pass: a name resolving to one public and one internal address
        # would otherwise reach the internal one on some attempts.
        refused = [address for address in addresses if not self.allows(address)]
        if refused:
            raise EgressRefused(f"the receiver resolves to {refused[0]}, in a refused network")
        return str(addresses[0])


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


ALLOW_ALL = EgressPolicy(())
DEFAULT_POLICY = EgressPolicy.refusing(DEFAULT_REFUSED_NETWORKS)
