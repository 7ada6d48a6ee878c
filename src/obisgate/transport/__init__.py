"""Transports: asynchronous byte pipes to meters (serial, raw TCP, RFC 2217), and one in memory
for tests (:class:`ScriptedTransport`)."""

from __future__ import annotations

from obisgate.transport.base import LineSettings, Transport
from obisgate.transport.scripted import ScriptedTransport
from obisgate.transport.url import URL_FORMS, open_transport, split_host_port

__all__ = [
    "URL_FORMS",
    "LineSettings",
    "ScriptedTransport",
    "Transport",
    "open_transport",
    "split_host_port",
]
