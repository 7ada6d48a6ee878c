"""Byte-level exchange traces, like a protocol analyser: time, direction, rate, bytes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Trace"]

_PRINTABLE = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))
_BYTES_PER_LINE = 16
_MASK = b"********"


class Trace:
    """Writes every chunk sent or received, with time since start and since the last line.

    Each line: ``+seconds  (+delta)  dir  baud  hex...  |ascii|`` where ``dir`` is
    ``>`` (to the meter), ``<`` (from the meter) or ``=`` (a note such as a baud
    switch). Long chunks wrap at 16 bytes. Registered secrets are replaced by
    ``********`` in both directions; what is sent is traced from the sender's
    masked copy, so passwords never reach the file.

    Args:
        stream: an open text stream; the caller closes it.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._start = clock()
        self._last = self._start
        self._secrets: list[bytes] = []

    def add_secret(self, secret: bytes) -> None:
        """Mask ``secret`` wherever it appears in later lines."""
        if secret and secret not in self._secrets:
            self._secrets.append(secret)

    def sent(self, data: bytes, baud: int) -> None:
        """Record bytes written to the line (pass the masked copy of secrets)."""
        self._chunk(">", data, baud)

    def received(self, data: bytes, baud: int) -> None:
        """Record bytes read from the line."""
        self._chunk("<", data, baud)

    def note(self, text: str) -> None:
        """Record an event that is not bytes (baud switch, wait, error)."""
        self._line("=", "", text)

    def _chunk(self, direction: str, data: bytes, baud: int) -> None:
        for secret in self._secrets:
            data = data.replace(secret, _MASK)
        first = True
        for i in range(0, max(len(data), 1), _BYTES_PER_LINE):
            part = data[i : i + _BYTES_PER_LINE]
            text = f"{part.hex(' ').upper():<47}  |{part.translate(_PRINTABLE).decode()}|"
            self._line(direction if first else " ", str(baud) if first else "", text)
            first = False

    def _line(self, direction: str, baud: str, text: str) -> None:
        now = self._clock()
        self._stream.write(
            f"+{now - self._start:11.6f} (+{now - self._last:9.6f}) {direction} {baud:>5}  {text}\n"
        )
        self._last = now
        self._stream.flush()
