"""Meter side of programming mode (work in progress; interface is stable).

The simulator calls :class:`MeterProgrammingSession` after accepting an option
select with ``Y = 1``: it sends :meth:`MeterProgrammingSession.opening`, then
passes every received chunk to :meth:`MeterProgrammingSession.feed` and sends
each returned reply after the meter's reaction time. When
:attr:`MeterProgrammingSession.ended` becomes true, or after
:attr:`MeterProgrammingSession.idle_timeout_s` of silence, the simulator returns
to its idle state (300 Bd, waiting for a request).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MeterProgrammingSession", "ProgrammingProfile"]


@dataclass
class ProgrammingProfile:
    """What a simulated meter offers in programming mode (full docs follow)."""

    password: str = "00000000"
    scheme: str = "p1"
    operand: str = "12345678"
    registers: dict[str, str] = field(default_factory=dict)
    writable: frozenset[str] = frozenset()
    load_profile: list[str] = field(default_factory=list)
    partial_block_size: int = 0
    idle_timeout_s: float = 60.0
    nak_first_command: bool = False
    corrupt_first_answer: bool = False
    unknown_register_error: str = "ER04"


class MeterProgrammingSession:
    """One programming-mode session of a simulated meter (placeholder)."""

    def __init__(self, profile: ProgrammingProfile) -> None:
        self.profile = profile
        self.ended = False
        self.idle_timeout_s = profile.idle_timeout_s

    def opening(self) -> bytes:
        """The ``SOH P0 STX (operand) ETX BCC`` message."""
        body = b"P0\x02(" + self.profile.operand.encode("ascii") + b")\x03"
        bcc = 0
        for b in body:
            bcc ^= b
        return b"\x01" + body + bytes((bcc & 0x7F,))

    def feed(self, data: bytes) -> list[bytes]:
        """Take received bytes; return the replies to send."""
        return []
