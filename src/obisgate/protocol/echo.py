"""Removing the echo of our own bytes (optical heads, two-wire loops, RS-485 adapters)."""

from __future__ import annotations

__all__ = ["EchoFilter"]


class EchoFilter:
    """Strips a received copy of the last message sent, if the line echoes.

    Bytes that match the start of the expected echo are held back until the
    match is complete (then dropped) or fails (then passed on), so a reply that
    merely begins like our message is never lost.
    """

    __slots__ = ("_expected", "_held")

    def __init__(self) -> None:
        self._expected = b""
        self._held = b""

    def expect(self, sent: bytes) -> None:
        """We just sent ``sent``: a copy of it may come back first."""
        self._expected, self._held = sent, b""

    def filter(self, data: bytes) -> bytes:
        """Return ``data`` without the echo (bit 7 already cleared)."""
        if not self._expected:
            return data
        held = self._held + data
        echo = self._expected
        n = min(len(echo), len(held))
        if held[:n] != echo[:n]:
            self._expected = self._held = b""
            return held
        if n == len(echo):
            self._expected = self._held = b""
            return held[n:]
        self._held = held
        return b""
