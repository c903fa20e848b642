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

The host's own interface addresses are refused too (``CERTSVC_WEBHOOK_REFUSE_OWN_ADDRESSES``),
whatever network they are in: a private address of the worker's host is not a receiver, it is
the worker's own services (the API, a database, an admin port). They are read once, when the
API or the worker starts, from the kernel's tables (Linux: /proc/net/fib_trie and
/proc/net/if_inet6). A receiver URL may not carry a user name or password (sent as Basic
credentials, and kept in every read of the webhook): the API refuses them, and the worker sends
nothing to a row stored before that rule.

The API checks a new webhook's receiver once, at creation (a name that does not resolve yet is
accepted); the worker checks again before every attempt, which is the check that counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.settings import DEFAULT_REFUSED_NETWORKS, Settings

logger = logging.getLogger("certsvc.egress")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# How long the API waits for a new receiver's name to resolve before accepting it unchecked
# (the worker checks before every attempt anyway).
CREATION_RESOLVE_SECONDS = 2.0
_PROC_NET = Path("/proc/net")


class EgressRefused(Exception):
    """The receiver's address is in a refused network, or its name does not resolve."""


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    refused: tuple[IPNetwork, ...]
    own: frozenset[IPAddress] = field(default=frozenset())

    @classmethod
    def refusing(cls, networks: Iterable[str], own: Iterable[IPAddress] = ()) -> EgressPolicy:
        """Raises ValueError naming the first network that is not valid CIDR notation."""
        return cls(
            tuple(ipaddress.ip_network(network, strict=False) for network in networks),
            frozenset(own),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        own = local_addresses() if settings.webhook_refuse_own_addresses else frozenset()
        return cls.refusing(settings.webhook_refused_networks, own)

    def allows(self, address: IPAddress) -> bool:
        return self._refusal(address) is None

    def _refusal(self, address: IPAddress) -> str | None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            address = ipaddress.IPv6Address(address.compressed.split("%")[0])
        if any(address in network for network in self.refused):
            return "in a refused network"
        if address in self.own:
            return "one of this host's own addresses"
        return None

    async def check_receiver(self, url: str) -> None:
        """At a webhook's creation: raise EgressRefused when the receiver's host is, or resolves
        to, a refused address. The message names no address (the caller may be probing what a
        name resolves to inside the agency). A name that does not resolve is accepted."""
        host = httpx.URL(url).host
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                async with asyncio.timeout(CREATION_RESOLVE_SECONDS):
                    infos = await asyncio.get_running_loop().getaddrinfo(
                        host, None, type=socket.SOCK_STREAM
                    )
            except (OSError, TimeoutError):
                return
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        refusals = {self._refusal(address) for address in addresses} - {None}
        if refusals:
            raise EgressRefused(
                f"the receiver's host is or resolves to an address webhooks may not reach "
                f"({sorted(str(reason) for reason in refusals)[0]})"
            )

    async def pin(self, request: httpx.Request) -> httpx.Request:
        """The same request, addressed to a checked IP address of its host."""
        if request.url.userinfo:
            # Stored before receivers were refused credentials: send them nowhere.
            raise EgressRefused("the receiver URL carries credentials; nothing was sent")
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
            reason = self._refusal(literal)
            if reason is not None:
                raise EgressRefused(f"the receiver's address {literal} is {reason}")
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
        for address in addresses:
            reason = self._refusal(address)
            if reason is not None:
                raise EgressRefused(f"the receiver resolves to {address}, {reason}")
        return str(addresses[0])


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def local_addresses(proc_net: Path = _PROC_NET) -> frozenset[IPAddress]:
    """This host's own interface addresses, every one (secondary addresses too), from the
    kernel's local routes (IPv4) and address table (IPv6). Empty, with a warning, where those
    files do not exist (not Linux): then only the refused networks protect the host."""
    found: set[IPAddress] = set()
    try:
        fib = (proc_net / "fib_trie").read_text()
    except OSError:
        logger.warning("this host's own addresses are unknown; only refused networks apply")
        return frozenset()
    last: str | None = None
    for line in fib.splitlines():
        text = line.strip()
        if text.startswith(("|--", "+--")):
            last = text[3:].strip().split("/")[0]
        elif text.startswith("/32 host LOCAL") and last is not None:
            with contextlib.suppress(ValueError):
                found.add(ipaddress.ip_address(last))
    with contextlib.suppress(OSError):  # absent when IPv6 is disabled
        for line in (proc_net / "if_inet6").read_text().splitlines():
            with contextlib.suppress(ValueError, IndexError):
                found.add(ipaddress.IPv6Address(int(line.split()[0], 16)))
    return frozenset(found)


ALLOW_ALL = EgressPolicy(())
DEFAULT_POLICY = EgressPolicy.refusing(DEFAULT_REFUSED_NETWORKS)
