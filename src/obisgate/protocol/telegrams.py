"""Push telegrams (mode D): cut a received byte stream into complete telegrams.

A meter in mode D sends a readout every few seconds without being asked (most German
household meters, DSMR P1 ports). :class:`TelegramSplitter` is the sans-IO part of
listening to one: bytes in, complete telegrams out, each to be parsed with
:func:`~obisgate.protocol.readout.parse_readout`. The gateway's push listener
(``obisgate.gateway.push``) drives it.
"""

from __future__ import annotations

import re

from obisgate.errors import ObisgateError
from obisgate.protocol.chars import MASK_7BIT
from obisgate.protocol.readout import maybe_extract_data_message

__all__ = ["TelegramSplitter"]

# An identification line starts a telegram: "/", 3 manufacturer letters, the baud character.
_IDENT_START = re.compile(rb"(?:^|(?<=\n))/[A-Za-z]{3}[0-9A-Za-z]")
_MAX_TELEGRAM = 64 * 1024


class TelegramSplitter:
    """Cuts a byte stream into complete telegrams. Does no I/O.

    Bytes before an identification line are skipped (a telegram whose start
    was cut); a telegram ends with its data message (``!`` CR LF, a DSMR CRC
    after ``!``, or ETX BCC). A telegram larger than 64 KiB is dropped.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.skipped = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; returns the telegrams they completed, oldest first."""
        self._buf += data.translate(MASK_7BIT)
        telegrams: list[bytes] = []
        while True:
            buf = self._buf
            match = _IDENT_START.search(buf)
            if match is None:
                keep = buf.rfind(b"\n") + 1  # a line may still start with "/"
                self.skipped += keep
                del buf[:keep]
                return telegrams
            if match.start():
                self.skipped += match.start()
                del buf[: match.start()]
            lf = buf.find(b"\n")
            if lf < 0:
                return telegrams
            found = self._message_end(lf + 1)
            if found is None:
                if len(buf) > _MAX_TELEGRAM:
                    self.skipped += len(buf)
                    buf.clear()
                return telegrams
            end, complete = found
            if complete:
                telegrams.append(bytes(buf[:end]))
            else:
                self.skipped += end  # cut short by the next identification
            del buf[:end]

    def _message_end(self, start: int) -> tuple[int, bool] | None:
        """Where the telegram starting at 0 ends, and whether it is complete; ``None``: wait."""
        buf = self._buf
        following = _IDENT_START.search(buf, start)
        limit = following.start() if following is not None else len(buf)
        try:
            message = maybe_extract_data_message(buf[start:limit])
        except ObisgateError:
            # Not a data message behind the identification: skip this start.
            return (limit, False) if following is not None else None
        if message is None:
            # Incomplete; a following identification means this one was cut.
            return (limit, False) if following is not None else None
        end = start + message.end
        while end < limit and buf[end] in b"\r\n":
            end += 1
        if end < limit and message.bcc is None:
            # "!" followed by a trailer on its line (a DSMR CRC such as "!6796").
            lf = buf.find(b"\n", end, limit)
            end = limit if lf < 0 else lf + 1
        return end, True
