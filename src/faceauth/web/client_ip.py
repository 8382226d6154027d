"""The client address of a request: the peer, or, behind a trusted proxy, the address that proxy
reports in ``X-Forwarded-For``.

Only proxies listed in ``Settings.trusted_proxies`` are believed (default: none), since anyone can
send the header. Walking the header from the right (the hop nearest to us), trusted proxies are
skipped and the first address that is not one is the client."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from fastapi import Request

from faceauth.config import Settings
from faceauth.domain import ConfigurationError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    """``("10.0.0.1", "192.168.0.0/16")`` -> networks; raises ConfigurationError for a typo."""
    networks = []
    for proxy in proxies:
        try:
            networks.append(ipaddress.ip_network(proxy.strip(), strict=False))
        except ValueError as error:
            raise ConfigurationError(f"FACEAUTH_TRUSTED_PROXIES: {proxy!r} is not an address") from error
    return tuple(networks)


def is_trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def resolve_client(peer: str | None, forwarded_for: str | None, networks: tuple[Network, ...]) -> str | None:
    """The client address, given the peer address and the ``X-Forwarded-For`` header."""
    if peer is None or not networks or not is_trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return client  # garbage: stop at the last address a trusted hop vouched for
        client = hop
        if not is_trusted(hop, networks):
            return hop
    return client


def client_ip(request: Request) -> str | None:
    settings: Settings = request.app.state.settings
    peer = request.client.host if request.client else None
    networks = trusted_networks(settings.trusted_proxies)
    return resolve_client(peer, request.headers.get("x-forwarded-for"), networks)
