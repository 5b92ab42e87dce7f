"""Where webhooks may go: never, unless an operator says so, to the monitor's own network.

A subscription URL is chosen by an admin key, and the deliverer then POSTs from inside
the monitor's network and logs each answer's status and latency: pointed at loopback,
link-local (cloud metadata at 169.254.169.254), private or unspecified addresses it would
be a server-side request forgery with a report.  So every address a URL's host resolves
to — whatever its spelling: ``127.1``, ``2130706433``, ``0x7f000001``, ``[::1]``,
``[::ffff:127.0.0.1]`` — is checked when the subscription is made and again at every
delivery (DNS can change in between), through the resolver the HTTP client connects with.
Networks an operator lists (``APPROVAL_MONITOR_WEBHOOK_ALLOW_NETWORKS``) are allowed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from rules.errors import BadInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def networks(cidrs: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def refused(address: str, allow: Sequence[Network]) -> str | None:
    """Why a webhook may not go to ``address``; None when it may."""
    ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in n for n in allow):
        return None
    for what, bad in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local), ("private", ip.is_private),
                      ("unspecified", ip.is_unspecified), ("multicast", ip.is_multicast),
                      ("reserved", ip.is_reserved)):  # fmt: skip
        if bad:
            return f"{ip} is a {what} address"
    return None


def _addresses(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise BadInput(f"`url` host {host!r} does not resolve ({e}); give a host name or address that does") from None
    return sorted({str(info[4][0]) for info in infos})


def check_url(url: str, allow: Sequence[Network]) -> None:
    """Refuse a webhook URL any of whose addresses lies in the monitor's own network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"`url` {url!r}: use an http or https URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BadInput(f"`url` {url!r}: the port is not a number from 1 to 65535") from None
    for address in _addresses(parts.hostname, port):
        why = refused(address, allow)
        if why is not None:
            raise BadInput(
                f"`url` {url!r} resolves to {address}: {why}, inside the monitor's network; give a public "
                "receiver, or have the operator allow its network in APPROVAL_MONITOR_WEBHOOK_ALLOW_NETWORKS"
            )


class GuardedResolver(AbstractResolver):
    """The deliverer's resolver: a host that now resolves into the monitor's network is not connected to."""

    def __init__(self, allow: Sequence[Network]) -> None:
        self.allow = list(allow)
        self.inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        for entry in found:
            why = refused(entry["host"], self.allow)
            if why is not None:
                raise OSError(f"webhook host {host} resolves to {entry['host']}: {why}; not connected to")
        return found

    async def close(self) -> None:
        await self.inner.close()


def refused_literal(url: str, allow: Sequence[Network]) -> str | None:
    """A host written as a plain address skips the resolver: why it may not be posted to, or None."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None  # a name (or an odd spelling): the resolver decides
    return refused(host, allow)
