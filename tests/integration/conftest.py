"""Shared helpers: read a simulated meter with the real client over real transports."""

from __future__ import annotations
