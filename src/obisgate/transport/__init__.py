"""Transports: asynchronous byte pipes to meters (serial, raw TCP, RFC 2217)."""

from __future__ import annotations

from obisgate.transport.base import LineSettings, Transport
from obisgate.transport.url import URL_FORMS, open_transport, split_host_port

__all__ = [
    "URL_FORMS",
    "LineSettings",
    "Transport",
    "open_transport",
    "split_host_port",
]
