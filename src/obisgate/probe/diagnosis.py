"""What went wrong in one try, in words a technician acts on (pure, no I/O).

:func:`diagnose` looks at the bytes of one exchange (what was sent, what came
back, in order) and at the error the reader raised, and returns a
:class:`Diagnosis`: a :class:`Finding`, its words, and what was seen on the way
(the identification, an echo of our bytes, the parity bit in bit 7).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace

from obisgate.errors import ChecksumError, FramingError, ObisgateError
from obisgate.protocol.chars import MASK_7BIT
from obisgate.protocol.identification import Identification

__all__ = ["Diagnosis", "Finding", "diagnose", "looks_garbled"]

#: Bytes a readable answer is made of (after bit 7 is masked).
_READABLE = frozenset(range(0x20, 0x7F)) | {0x0D, 0x0A, 0x02, 0x03, 0x06}


class Finding(enum.Enum):
    """What a try showed."""

    OK = "read"
    NO_ANSWER = "no answer"
    ECHO = "echo only"
    PARITY = "parity"
    GARBAGE = "no identification"
    NO_DATA = "no data"
    GARBLED = "garbled after the switch"
    MODE_A = "mode A"
    CHECKSUM = "checksum"
    NOT_CLEAN = "not clean"
    OTHER = "failed"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The outcome of one try.

    Attributes:
        finding: what happened.
        words: what happened, for the table of tries.
        identification: the meter's identification, if one came.
        echo: our own bytes came back (a half-duplex head or loop).
        bit7: the meter's bytes carried their parity bit in bit 7 (a link
            carrying 8 bits).
        answered: the meter sent something of its own (not only our echo).
    """

    finding: Finding
    words: str
    identification: Identification | None = None
    echo: bool = False
    bit7: bool = False
    answered: bool = False


def looks_garbled(data: bytes) -> bool:
    """Whether bytes look like an answer received at the wrong rate (mostly not text)."""
    if not data:
        return False
    masked = data.translate(MASK_7BIT)
    readable = sum(1 for b in masked if b in _READABLE)
    return readable < 0.75 * len(masked) or masked.count(0) > 0.2 * len(masked)


def _readable_prefix(data: bytes) -> int:
    """How many bytes at the start of ``data`` are readable (masked already)."""
    for i, b in enumerate(data):
        if b not in _READABLE:
            return i
    return len(data)


def _readable_start(data: bytes) -> bytes:
    """The readable start of ``data``."""
    return data[: _readable_prefix(data)]


def _strip_echo(received: bytes, sent: Sequence[bytes]) -> tuple[bytes, bool]:
    """``received`` (bit 7 masked) without the copies of what we sent; whether there were."""
    own, echo = received, False
    for chunk in sent:
        text = chunk.translate(MASK_7BIT).lstrip(b"\x00")
        if len(text) >= 3 and text in own:
            own = own.replace(text, b"", 1)
            echo = True
    return own, echo


def _identification(data: bytes) -> tuple[Identification | None, int, int]:
    """The identification line in ``data`` (bit 7 masked): it, its start and its end."""
    start = 0
    while (slash := data.find(b"/", start)) >= 0:
        end = data.find(b"\n", slash)
        if end < 0:
            break
        line = data[slash:end].rstrip(b"\r").decode("latin-1")
        start = end + 1
        if line.startswith("/?") or len(line) < 4 or line.endswith("!"):
            continue
        try:
            return Identification.parse(line), slash, end + 1
        except FramingError:
            continue
    return None, -1, -1


def diagnose(
    events: Sequence[tuple[str, bytes]],
    error: ObisgateError | None,
    *,
    software_parity: bool = False,
    can_switch: bool = True,
) -> Diagnosis:
    """Name what happened in one exchange.

    Args:
        events: ``(">", bytes)`` sent and ``("<", bytes)`` received, in order.
        error: what the reader raised (``None``: a readout came).
        software_parity: we sent the parity bit ourselves in this try.
        can_switch: the transport changes the rate itself (a serial port, RFC
            2217); ``False`` for a raw TCP converter.
    """
    sent = [data for direction, data in events if direction == ">"]
    raw = b"".join(data for direction, data in events if direction == "<")
    masked = raw.translate(MASK_7BIT)
    own, echo = _strip_echo(masked, sent)
    ident, start, end = _identification(own)
    # The parity bit shows in bit 7 of the text the meter sent (its identification).
    if ident is not None:
        ident_raw = raw[raw.translate(MASK_7BIT).find(own[start:end]) :][: end - start]
        bit7 = any(b & 0x80 for b in ident_raw)
    else:
        bit7 = any(b & 0x80 and (b & 0x7F) in _READABLE for b in raw) and not looks_garbled(raw)
    seen = Diagnosis(Finding.OK, "read", ident, echo, bit7, bool(own.strip(b"\x00")))
    finding, words = _finding(seen, raw, own[end:] if end >= 0 else b"", error, software_parity)
    if finding is Finding.GARBLED and not can_switch:
        words = "answer garbled after the switch (the converter keeps its own rate: no switch)"
    return replace(seen, finding=finding, words=words)


def _finding(
    seen: Diagnosis,
    raw: bytes,
    after: bytes,
    error: ObisgateError | None,
    software_parity: bool,
) -> tuple[Finding, str]:
    """The finding and its words, from what the exchange showed."""
    if error is None:
        return Finding.OK, "read"
    if isinstance(error, ChecksumError):
        return Finding.CHECKSUM, "checksum wrong"
    if not raw:
        return Finding.NO_ANSWER, "no answer at all (check the head's position and the port)"
    if not seen.answered:
        return Finding.ECHO, "our own request came back (echo), no answer behind it"
    if seen.bit7 and not software_parity:
        return Finding.PARITY, "bytes with every 8th bit wrong (parity: the link is 8N1)"
    if seen.identification is None:
        return Finding.GARBAGE, "bytes but no identification (wrong rate or framing, or noise)"
    if not after.strip(b" \r\n"):  # NULs are framing errors: garbled, not nothing
        words = "identified itself, then sent no data (it did not take our acknowledgement)"
        return Finding.NO_DATA, words
    readable = _readable_prefix(after)
    if looks_garbled(after[readable:]) and (b"\x02" in _readable_start(after) or readable >= 8):
        # the data began at the old rate, right after the identification
        return Finding.MODE_A, "answered as mode A"
    if looks_garbled(after):
        words = (
            "answer garbled after the switch (the meter needs a longer delay before changing rate)"
        )
        return Finding.GARBLED, words
    return Finding.OTHER, str(error)
