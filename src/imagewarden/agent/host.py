"""Host facts: name and IP addresses (Linux), without network traffic."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from pathlib import Path

__all__ = ["host_ips", "host_name"]

_SIOCGIFADDR = 0x8915
_MAX_IPS = 64


def host_name() -> str:
    return socket.gethostname()


def host_ips(proc_if_inet6: Path = Path("/proc/net/if_inet6")) -> tuple[str, ...]:
    """Global and private unicast addresses of the host's interfaces (no loopback, no link-local).

    IPv4: one address per interface (``SIOCGIFADDR``); IPv6: ``/proc/net/if_inet6``.
    """
    found: list[str] = []
    with contextlib.suppress(OSError):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _, name in socket.if_nameindex():
                with contextlib.suppress(OSError):
                    req = struct.pack("256s", name.encode()[:15])
                    res = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, req)
                    found.append(socket.inet_ntoa(res[20:24]))
    with contextlib.suppress(OSError):
        for line in proc_if_inet6.read_text().splitlines():
            hexaddr = line.split()[0] if line.split() else ""
            if len(hexaddr) == 32:
                found.append(str(ipaddress.IPv6Address(bytes.fromhex(hexaddr))))
    keep = []
    for text in found:
        ip = ipaddress.ip_address(text)
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            continue
        if text not in keep:
            keep.append(text)
    return tuple(keep[:_MAX_IPS])
