"""Byte-level exchange traces, like a protocol analyser: time, direction, rate, bytes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import TextIO

from obisgate.errors import ConfigError
from obisgate.protocol.chars import MASK_7BIT

__all__ = ["Trace", "TraceTarget", "open_trace"]

_PRINTABLE = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))
_BYTES_PER_LINE = 16
_MASK = b"********"
_FRAME_TAIL = _MASK + b")\x03"  # then the BCC of the password frame

SecretSource = Callable[[], Iterable[bytes]]


class Trace:
    """Writes every chunk sent or received, with time since start and since the last line.

    Each line: ``+seconds (+delta) dir baud hex... |ascii|`` where ``dir`` is ``>``
    (to the meter), ``<`` (from the meter) or ``=`` (a note such as a baud
    switch). Long chunks wrap at 16 bytes.

    Secrets (passwords) are replaced by ``********`` in both directions,
    ignoring bit 7 (7E1 over 8N1). Received bytes that could be the start of a
    secret are held back until the next chunk shows whether they are, so a
    password echoed back in two reads is masked too; call :meth:`flush` at the
    end of an exchange to write what is still held.

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
        self._sources: list[SecretSource] = []
        self._held = b""
        self._held_baud = 0

    def add_secret(self, secret: bytes) -> None:
        """Mask ``secret`` wherever it appears from now on."""
        if secret and secret not in self._secrets:
            self._secrets.append(secret)

    def add_secret_source(self, source: SecretSource) -> None:
        """Mask whatever ``source()`` returns at each line (secrets known only later)."""
        self._sources.append(source)

    def sent(self, data: bytes, baud: int) -> None:
        """Record bytes written to the line."""
        self.flush()
        self._chunk(">", self._mask(data), baud)

    def received(self, data: bytes, baud: int) -> None:
        """Record bytes read from the line (a possible secret prefix is held back)."""
        data = self._mask(self._held + data)
        self._held = b""
        keep = self._possible_prefix(data)
        if keep:
            data, self._held = data[:-keep], data[-keep:]
            self._held_baud = baud
        if data:
            self._chunk("<", data, baud)

    def note(self, text: str) -> None:
        """Record an event that is not bytes (baud switch, wait, error)."""
        self.flush()
        self._line("=", "", text)

    def flush(self) -> None:
        """Write out what is held back as a possible secret prefix, masked.

        The rest of the secret never came, but the part that did may still be
        a password's beginning: it is shown as ``********`` (over-masking is
        the safe side).
        """
        if self._held:
            self._held = b""
            self._chunk("<", _MASK, self._held_baud)

    def _all_secrets(self) -> list[bytes]:
        secrets = list(self._secrets)
        for source in self._sources:
            secrets.extend(s for s in source() if s)
        return secrets

    def _mask(self, data: bytes) -> bytes:
        secrets = self._all_secrets()
        if not secrets:
            return data
        plain = data.translate(MASK_7BIT)
        hidden = bytearray(len(data))
        for secret in secrets:
            start = plain.find(secret)
            while start >= 0:
                hidden[start : start + len(secret)] = b"\x01" * len(secret)
                start = plain.find(secret, start + 1)
        if not any(hidden):
            return self._mask_bcc(data)
        out = bytearray()
        i = 0
        while i < len(data):
            if hidden[i]:
                while i < len(data) and hidden[i]:
                    i += 1
                out += _MASK
            else:
                out.append(data[i])
                i += 1
        return self._mask_bcc(bytes(out))

    @staticmethod
    def _mask_bcc(data: bytes) -> bytes:
        """Hide the BCC behind a masked password frame ``(********) ETX BCC``: it is
        the XOR of the password's characters."""
        plain = data.translate(MASK_7BIT)
        start = plain.find(_FRAME_TAIL)
        if start < 0:
            return data
        out = bytearray(data)
        while start >= 0:
            bcc = start + len(_FRAME_TAIL)
            if bcc < len(out):
                out[bcc] = 0x2A  # "*"
            start = plain.find(_FRAME_TAIL, bcc)
        return bytes(out)

    def _possible_prefix(self, data: bytes) -> int:
        plain = data.translate(MASK_7BIT)
        best = 0
        if self._secrets or self._sources:
            # A masked password frame whose BCC has not arrived yet.
            for n in range(len(_FRAME_TAIL), len(_MASK), -1):
                if plain.endswith(_FRAME_TAIL[:n]):
                    best = n
                    break
        for secret in self._all_secrets():
            for n in range(min(len(secret) - 1, len(plain)), best, -1):
                if plain.endswith(secret[:n]):
                    best = n
                    break
        return best

    def _chunk(self, direction: str, data: bytes, baud: int) -> None:
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


TraceTarget = Trace | TextIO | str | Path | None
"""Where a trace goes: a Trace, an open text stream, a file path, or nowhere."""


def open_trace(stack: ExitStack | AsyncExitStack, target: TraceTarget) -> Trace | None:
    """A :class:`Trace` for ``target``; a file opened here is closed by ``stack``.

    Raises:
        ConfigError: the trace file cannot be written.
    """
    if target is None or isinstance(target, Trace):
        return target
    if isinstance(target, str | Path):
        try:
            stream = stack.enter_context(Path(target).open("w", encoding="utf-8"))  # noqa: SIM115 - the stack closes it
        except OSError as exc:
            raise ConfigError(f"cannot write the trace file {target}: {exc.strerror}") from None
        return Trace(stream)
    return Trace(target)
