"""Open a transport from a URL: a serial device path, ``tcp://`` or ``rfc2217://``."""

from __future__ import annotations

import functools
from urllib.parse import SplitResult, urlsplit

from obisgate.errors import ConfigError
from obisgate.transport.base import LineSettings, Transport

__all__ = ["URL_FORMS", "check_url", "open_transport", "split_host_port"]

URL_FORMS = "a serial device path (/dev/ttyUSB0, COM3), tcp://HOST:PORT or rfc2217://HOST:PORT"


def split_host_port(url: str) -> tuple[str, int]:
    """Return ``(host, port)`` of a ``scheme://host:port`` URL.

    Raises:
        ConfigError: host or port missing or invalid.
    """
    parts = _split(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ConfigError(f"{url!r}: expected {parts.scheme}://HOST:PORT")
    return parts.hostname, port


def _split(url: str) -> SplitResult:
    """``urlsplit`` with a malformed URL as a :class:`ConfigError` naming it."""
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"malformed URL {url!r} ({exc}): expected {URL_FORMS}") from None


def check_url(url: str) -> None:
    """Check the form of ``url`` without opening anything.

    Raises:
        ConfigError: an empty or malformed URL, an unknown scheme, or a
            network URL without host and port; the message names the URL.
    """
    if not url.strip():
        raise ConfigError(f"empty URL: expected {URL_FORMS}")
    if "://" not in url:
        return
    scheme = _split(url).scheme.lower()
    if scheme not in ("tcp", "socket", "rfc2217"):
        raise ConfigError(f"unknown URL scheme {scheme!r} in {url!r}: expected {URL_FORMS}")
    split_host_port(url)


@functools.lru_cache(maxsize=4096)
def _checked(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a checked URL (``""``, ``""``, 0 for a device path);
    remembered, since a gateway opens the same URLs at every poll.

    Raises:
        ConfigError: as :func:`check_url` (an error is not remembered).
    """
    check_url(url)
    if "://" not in url:
        return "", "", 0
    host, port = split_host_port(url)
    return _split(url).scheme.lower(), host, port


async def open_transport(
    url: str, settings: LineSettings | None = None, *, connect_timeout_s: float = 10.0
) -> Transport:
    """Open the port or connection that ``url`` names.

    Args:
        url: a serial device path, ``tcp://host:port`` (``socket://`` accepted) or
            ``rfc2217://host:port``.
        settings: line settings (serial and rfc2217; raw TCP only uses the rate
            as its nominal value and ``software_parity``).
        connect_timeout_s: how long opening may take.

    Raises:
        ConfigError: the URL is empty or malformed, has an unknown scheme or
            lacks host/port.
        ConnectError: the port or connection cannot be opened.
    """
    settings = settings or LineSettings()
    scheme, host, port = _checked(url)
    if scheme in ("tcp", "socket"):
        from obisgate.transport.tcp import TcpTransport  # noqa: PLC0415

        return await TcpTransport.connect(host, port, url, settings, connect_timeout_s)
    if scheme in ("rfc2217", ""):
        from obisgate.transport.serial import SerialTransport  # noqa: PLC0415

        return await SerialTransport.open(url, settings, connect_timeout_s)
    raise ConfigError(f"unknown URL scheme {scheme!r} in {url!r}: expected {URL_FORMS}")
