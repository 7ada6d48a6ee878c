"""The meter's identification message ``/XXXZ[\\W...]identification CR LF``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from obisgate.errors import FramingError
from obisgate.protocol.chars import (
    FAST_REACTION_TIME_MIN_S,
    MODE_B_BAUD,
    MODE_C_BAUD,
    REACTION_TIME_MIN_S,
)


class ProtocolMode(StrEnum):
    """IEC 62056-21 protocol modes."""

    A = "A"
    """No baud change."""
    B = "B"
    """Baud change right after the identification, no acknowledgement."""
    C = "C"
    """Baud change after the acknowledgement / option select message."""
    D = "D"
    """The meter pushes its data at 2400 Bd; nothing is sent to it."""
    E = "E"
    """Mode C handshake into HDLC (IEC 62056-46) carrying DLMS/COSEM (``ACK 2 Z 2``)."""
    HDLC = "HDLC"
    """HDLC and DLMS/COSEM from the first byte, without the IEC 62056-21 opening."""


@dataclass(frozen=True, slots=True)
class Identification:
    """A parsed identification message.

    Attributes:
        manufacturer: the three-letter FLAG ID exactly as sent (case kept).
        baud_char: the baud-rate identification character ``Z`` (``""`` if absent).
        enhanced: the enhanced-capability escapes as sent, e.g. ``"\\\\2"``.
        identification: the rest of the line, as sent.
    """

    manufacturer: str
    baud_char: str
    enhanced: str
    identification: str

    @property
    def mode(self) -> ProtocolMode:
        """The protocol mode the baud character announces (E for ``\\2`` meters)."""
        z = self.baud_char
        if z.isdigit():
            return ProtocolMode.E if "\\2" in self.enhanced else ProtocolMode.C
        if "A" <= z <= "I" and len(z) == 1:
            return ProtocolMode.B
        return ProtocolMode.A

    @property
    def proposed_baud(self) -> int | None:
        """The rate the meter proposes, or ``None`` (mode A or a reserved character)."""
        return MODE_C_BAUD.get(self.baud_char) or MODE_B_BAUD.get(self.baud_char)

    @property
    def fast_reaction(self) -> bool:
        """True when the lower-case 3rd letter allows a 20 ms reaction time."""
        return len(self.manufacturer) == 3 and self.manufacturer[2].islower()

    @property
    def reaction_time_min_s(self) -> float:
        """Minimum reaction time tr of this meter."""
        return FAST_REACTION_TIME_MIN_S if self.fast_reaction else REACTION_TIME_MIN_S

    def to_bytes(self) -> bytes:
        """Encode as the meter sends it, CR LF included."""
        text = f"/{self.manufacturer}{self.baud_char}{self.enhanced}{self.identification}"
        return text.encode("latin-1") + b"\r\n"

    @classmethod
    def parse(cls, line: str) -> Identification:
        """Parse one identification line, leniently.

        Args:
            line: the text from ``/`` up to, not including, CR LF.

        Spaces, ``@``, ``/``, ``\\W`` escapes and more than 16 characters are
        accepted (real meters send them); a control character is not: no meter
        sends one inside its identification, and a CR or NUL in the middle of the
        line is what two meters answering at once on a shared bus produce.

        Raises:
            FramingError: the line does not start with ``/``, has no manufacturer,
                or holds a control character.
        """
        if not line.startswith("/") or len(line) < 4:
            raise FramingError(f"not an identification message: {line[:40]!r}")
        control = next((c for c in line if c < " " or c == "\x7f"), None)
        if control is not None:
            raise FramingError(
                f"identification holds control character 0x{ord(control):02X} "
                f"(line noise, or several meters answering at once): {line[:40]!r}"
            )
        manufacturer = line[1:4]
        baud_char = line[4:5]
        pos = 5
        while line.startswith("\\", pos) and pos + 1 < len(line):
            pos += 2
        return cls(manufacturer, baud_char, line[5:pos], line[pos:])
