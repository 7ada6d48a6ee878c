"""``listen = "HOST:PORT"`` of the servers that obisgate runs (HTTP, Modbus TCP, IEC 104,
OPC UA): the one parser of that field, and whether a host is loopback."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import BeforeValidator

from obisgate.gateway.config_cells import as_text

__all__ = [
    "Listen",
    "host_port",
    "is_loopback",
    "listen_address",
    "split_listen",
    "unauthenticated_warning",
]

# ASCII only: "\d" would also take digits of other scripts.
_LISTEN = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9][A-Za-z0-9.-]{0,252})):(?P<port>[0-9]{1,5})"
)
_ALLOWED = (
    "allowed: HOST:PORT, port 0-65535 (0: any free port), e.g. 127.0.0.1:8080, "
    "[::1]:8080 or 0.0.0.0:8080"
)


def split_listen(text: str) -> tuple[str, int]:
    """``"127.0.0.1:502"`` -> ``("127.0.0.1", 502)``; ``"[::1]:502"`` -> ``("::1", 502)``.

    Raises:
        ValueError: not ``HOST:PORT`` (an IPv6 address in brackets) with a port
            0-65535; the message says what is allowed.
    """
    match = _LISTEN.fullmatch(text.strip())
    if match is None or int(match.group("port")) > 65535:
        raise ValueError(_ALLOWED)
    v6 = match.group("v6")
    if v6 is not None:
        try:
            ipaddress.IPv6Address(v6)
        except ValueError:
            raise ValueError(_ALLOWED) from None
    return v6 or match.group("host"), int(match.group("port"))


def host_port(host: str, port: int) -> str:
    """``HOST:PORT`` as it is written, an IPv6 address in brackets (``[::1]:502``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen_address(value: object) -> str:
    """A validated ``HOST:PORT`` (IPv6 in brackets), normalized.

    Raises:
        ValueError: not allowed; the message says what is.
    """
    host, port = split_listen(as_text(value))
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"[{host}]:{port}" if is_v6 else f"{host}:{port}"


#: A ``HOST:PORT`` field.
Listen = Annotated[str, BeforeValidator(listen_address)]


def unauthenticated_warning(section: str, listen: str, risk: str) -> str | None:
    """The one-line warning for a server of ``[section]`` without authentication
    listening on a non-loopback address (``risk``: what a client on the network
    can do), else ``None``."""
    if is_loopback(split_listen(listen)[0]):
        return None
    return (
        f"[{section}] listen = {listen!r} is reachable from other machines and {risk}; "
        "keep it on a trusted network"
    )
