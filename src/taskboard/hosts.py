"""Host names as the perimeters read them: the bundled server's API (backend perimeter.py) and the browser
board (web.py) answer only to names that cannot be a DNS-rebinding attacker's, by the same reading of `Host`."""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def host_name(host: str) -> str:
    """The name part of a Host header (`[::1]:8765` -> `::1`, `Example.COM.:80` -> `example.com`)."""
    host = host.strip()
    if host.startswith("["):
        name = host[1:host.find("]")] if "]" in host else host[1:]
    else:
        name, colon, port = host.rpartition(":")
        if not colon or not port.isdigit():
            name = host
    return name.rstrip(".").lower()


def ip_of(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `name` spells, or None for a name."""
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None
