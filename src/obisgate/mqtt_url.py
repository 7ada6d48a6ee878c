"""MQTT broker URLs and TLS: one grammar for the gateway's ``[mqtt] url`` and ``obisgate sink --mqtt``.

Grammar (the scheme is matched in any case)::

    mqtt://[USER[:PASSWORD]@]HOST[:PORT][/]     port 1883 by default
    mqtts://[USER[:PASSWORD]@]HOST[:PORT][/]    TLS, port 8883 by default

``HOST`` is a name or IPv4 address (letters, digits, ``.``, ``-``, ``_``) or an IPv6
address in brackets; ``PORT`` is 1-65535; user and password are percent-encoded.
Nothing else may follow (no path, query or fragment). Whether credentials may
be given in the URL is the caller's rule: the gateway's configuration refuses
them (they belong in ``username`` and ``password_env`` / ``password_file``), the
sink's command line takes them.

The TLS files (``ca_file``, ``cert_file``, ``key_file``) follow one rule on both
sides too: :func:`tls_problems` and :func:`tls_context`. Stdlib only; it sits
at the top of the package so that the gateway's MQTT output and the sink share
it without importing each other.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

__all__ = ["MqttUrl", "check_tls_handshake", "parse_mqtt_url", "tls_context", "tls_problems"]

_URL = re.compile(
    r"(?P<scheme>mqtts?)://"
    r"(?:(?P<user>[^:@/\[\]]+)(?::(?P<password>[^@/]*))?@)?"
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+))"
    r"(?::(?P<port>[0-9]{1,5}))?/?",
    re.IGNORECASE,
)
#: The broker's port when the URL gives none: plain, TLS.
_DEFAULT_PORT = {False: 1883, True: 8883}
#: What the grammar allows, for messages (never with the value received).
ALLOWED = "mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS)"


@dataclass(frozen=True, slots=True)
class MqttUrl:
    """A parsed broker URL.

    Attributes:
        tls: ``mqtts://``.
        host: the broker's host name or address (IPv6 without brackets).
        port: the broker's port (1883 / 8883 when the URL gave none).
        username: the user of the URL, if any (percent-decoded).
        password: the password of the URL, if any (percent-decoded; never in
            ``repr``).
    """

    tls: bool
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def has_credentials(self) -> bool:
        """The URL named a user (and maybe a password)."""
        return self.username is not None

    def __str__(self) -> str:
        """``mqtt[s]://HOST:PORT``: the broker without credentials, for messages."""
        scheme = "mqtts://" if self.tls else "mqtt://"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}{host}:{self.port}"


def parse_mqtt_url(text: str) -> MqttUrl:
    """The broker URL ``text`` (surrounding blanks ignored).

    Raises:
        ValueError: not of the grammar (see the module docstring); the message
            says what is allowed and never repeats the text (it may hold a password).
    """
    match = _URL.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"allowed: {ALLOWED}")
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"allowed: {ALLOWED}; the port is 1-65535")
    host = match.group("v6")
    if host is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"allowed: {ALLOWED}; an IPv6 address goes in brackets") from None
    else:
        host = match.group("host")
    tls = match.group("scheme").lower().endswith("s")
    user, password = match.group("user"), match.group("password")
    return MqttUrl(
        tls=tls,
        host=host,
        port=int(port) if port is not None else _DEFAULT_PORT[tls],
        username=None if user is None else unquote(user),
        password=None if password is None else unquote(password),
    )


def tls_problems(
    url: MqttUrl, ca_file: Path | None, cert_file: Path | None, key_file: Path | None
) -> list[str]:
    """What is wrong with these TLS files for ``url`` (empty when nothing is)."""
    problems: list[str] = []
    if not url.tls and (ca_file or cert_file or key_file):
        problems.append("ca_file, cert_file and key_file need an mqtts:// url")
    if key_file is not None and cert_file is None:
        problems.append("key_file needs cert_file")
    return problems


def tls_context(
    ca_file: Path | None = None, cert_file: Path | None = None, key_file: Path | None = None
) -> ssl.SSLContext:
    """A client TLS context: the system's trust store, or ``ca_file``; a client
    certificate from ``cert_file`` (and ``key_file``, else the key is in it).

    Raises:
        OSError: a file cannot be read.
        ssl.SSLError: a file is not a certificate or key.
    """
    context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), None if key_file is None else str(key_file))
    return context


def check_tls_handshake(url: MqttUrl, context: ssl.SSLContext, *, timeout_s: float = 10.0) -> None:
    """Connect to the broker and shake hands once, then close both sockets (blocking).

    Run before each connection attempt of the MQTT client: paho leaves the socket
    of a failed handshake open, so a certificate problem is found here, cleanly.

    Raises:
        OSError: the broker cannot be reached, or the handshake failed
            (:class:`ssl.SSLError`, e.g. "certificate verify failed"); after
            ``timeout_s`` a :class:`TimeoutError`.
    """
    with (
        socket.create_connection((url.host, url.port), timeout=timeout_s) as raw,
        context.wrap_socket(raw, server_hostname=url.host),
    ):
        pass
